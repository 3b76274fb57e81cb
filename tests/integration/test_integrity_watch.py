"""Issue 14, the integrity watch and signed event records.

- custodyd verifies each segment once it is closed (verify_after_seal) and
  the whole store on a schedule (verify_interval): a byte flipped on disk
  while it records raises integrity.failed (source verifier, critical) with
  the camera and the start of the first failed segment, once, with an audit
  entry; restoring the byte clears it at the next whole-store pass.
- Event records: tamper.* / onvif.* raise and clear written into a camera's
  recording (cu-testwriter --events, through cu_writer_note) are listed as
  periods by custody verify --json and in an exported package's report;
  changing one on disk is tampering that names the record."""

import json
import os
import struct
import subprocess
import time

import cutest
import daemon_util as du
from cutest import RECORD, FRAME, Store, iso

TESTWRITER = os.environ.get("CU_TESTWRITER", "build/tests/integration/cu-testwriter")
T0 = 1_767_225_600_000_000          # 2026-01-01T00:00:00Z


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def sealed_frame_offset(path, sealed_bytes):
    """A byte inside a frame body that lies in the sealed part of a segment."""
    data = read(path)[:sealed_bytes]
    for e in cutest.entries(data):
        if e.type == FRAME and e.end <= sealed_bytes and e.stored > 100:
            return e.off + cutest.ENTRY_HEADER + e.stored // 2
    raise AssertionError(f"no sealed frame in {path}")


def record_offset(path, needle):
    """The offset of needle inside the body of a record entry of the segment."""
    data = read(path)
    for e in cutest.entries(data):
        body = data[e.off + cutest.ENTRY_HEADER:e.end]
        if e.type == RECORD and needle in body:
            return e.off + cutest.ENTRY_HEADER + body.index(needle), e.seq
    return None, None


class Watch(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        super().tearDown()

    def record(self, store, daemon_opts):
        sim = du.Camsim(self.tmp)
        self.procs.append(sim)
        d = du.Daemon(self.tmp, store, {"cam1": {"url": sim.url(1)}},
                      daemon_opts=daemon_opts)
        self.procs.append(d)
        d.start()
        d.wait_event("camera.online", "cam1", timeout=30)
        return d

    def wait_closed(self, store, n, timeout=40):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = [r for r in store.segments("cam1") if r[1] == 1 and r[4] > 0]
            if len(rows) >= n:
                return rows
            time.sleep(0.2)
        raise AssertionError(f"fewer than {n} closed segments: {store.segments('cam1')}")

    def audit_entries(self, store):
        p = cutest.run("audit", "export", "--store", store.dir, "--format", "json", check=0)
        return json.loads(p.stdout)["entries"]

    def integrity_events(self, d):
        return [e for e in d.events_list() if e["event"] == "integrity.failed"]

    # 1. after seal: a frame changed in the open segment is found when it closes
    def test_after_seal_finds_a_flipped_frame(self):
        store = Store(self.tmp, "st", encryption="strong", segment_seconds=2)
        d = self.record(store, {"verify_after_seal": "yes", "verify_interval": "off"})
        deadline = time.monotonic() + 30
        while True:  # the open segment, once a second of it is sealed
            rows = store.segments("cam1")
            seq, status, start, _, frames, nbytes = rows[-1]
            if status == 0 and frames >= 10 and len(rows) >= 2:
                break
            self.assertLess(time.monotonic(), deadline, rows)
            time.sleep(0.1)
        path = store.segment_path("cam1", seq)
        flip(path, sealed_frame_offset(path, nbytes))
        t_flip = time.monotonic()
        ev, t_ev = d.wait_event("integrity.failed", "cam1", timeout=45)
        # bounded: the segment closes within two segment lengths, the watch
        # looks every 5 s, and a segment verifies in well under a second
        self.assertLess(t_ev - t_flip, 45)
        self.assertEqual((ev["source"], ev["severity"], ev["phase"]),
                         ("verifier", "critical", "raise"))
        first = store.segment_start("cam1", seq)
        self.assertEqual(ev["failed_segment_start"], iso(first))
        self.assertIn(f"first failed segment {seq}", ev["detail"])
        # later segments keep being checked; the failure is not said again
        self.wait_closed(store, seq + 2)
        time.sleep(6)
        self.assertEqual(len(self.integrity_events(d)), 1, self.integrity_events(d))
        self.assertEqual(d.term(), 0)
        code, rep = store.verify()
        self.assertEqual(code, 1)
        self.assertEqual(rep["first_failure"]["time"], iso(first))
        self.assertEqual(rep["first_failure"]["segment"], seq)
        audits = [e for e in self.audit_entries(store) if e["type"] == "integrity.failed"]
        self.assertEqual(len(audits), 1, audits)
        detail = audits[0]["detail"]
        self.assertEqual(detail["camera"], "cam1")
        self.assertEqual(detail["segment"], seq)
        self.assertEqual(detail["failed_segment_start"], iso(first))

    # 2. the schedule: a closed segment changed later is found by the whole-
    # store pass, raised once however many passes see it, cleared once intact
    def test_scheduled_pass_raises_once_and_clears(self):
        store = Store(self.tmp, "st", encryption="light", segment_seconds=2)
        d = self.record(store, {"verify_after_seal": "no", "verify_interval": "10s"})
        rows = self.wait_closed(store, 2)
        seq, _, start, _, _, nbytes = rows[0]
        path = store.segment_path("cam1", seq)
        off = sealed_frame_offset(path, nbytes)
        flip(path, off)
        ev, _ = d.wait_event("integrity.failed", "cam1", timeout=45)
        self.assertEqual(ev["phase"], "raise")
        self.assertEqual(ev["failed_segment_start"], iso(start))
        passes = d.read_log().count("the whole store verified")
        deadline = time.monotonic() + 40
        while d.read_log().count("the whole store verified") < passes + 1:
            self.assertLess(time.monotonic(), deadline, "no second whole-store pass")
            time.sleep(0.5)
        self.assertEqual(len(self.integrity_events(d)), 1, "raised again by a later pass")
        flip(path, off)  # restored (from a backup, say)
        cleared, _ = d.wait_event("integrity.failed", "cam1", after=1, timeout=45)
        self.assertEqual((cleared["phase"], cleared["source"]), ("clear", "verifier"))
        self.assertEqual(d.term(), 0)
        code, _ = store.verify()
        self.assertEqual(code, 0)
        types = [e["type"] for e in self.audit_entries(store)]
        self.assertEqual(types.count("integrity.failed"), 1)
        self.assertEqual(types.count("integrity.restored"), 1)

    def test_configuration_is_checked(self):
        store = Store(self.tmp, "st", encryption="none")
        for bad, why in (("verify_interval = 5s", "out of range"),
                         ("verify_interval = 0s", "out of range"),
                         ("verify_interval = 31d", "out of range"),
                         ("verify_after_seal = maybe", "verify_after_seal")):
            d = du.Daemon(self.tmp, store, {}, name="bad")
            text = read(d.conf).decode().replace("[daemon]\n", "[daemon]\n" + bad + "\n")
            with open(d.conf, "w") as f:
                f.write(text)
            p = subprocess.run([du.CUSTODYD, "--config", d.conf, "--check"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(why, p.stderr)
            self.assertIn("line ", p.stderr)


class EventRecords(cutest.TempDirTest):
    def make(self, encryption="strong"):
        store = Store(self.tmp, "st", encryption=encryption, segment_seconds=1)
        p = subprocess.run([TESTWRITER, store.dir, store.pw, "cam1", "--events", str(T0)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "events 3")
        return store

    EXPECTED = [
        {"camera": "cam1", "type": "tamper.covered", "source": "analysis", "severity": "major",
         "from": iso(T0 + 480_000), "to": iso(T0 + 1_480_000),
         "detail": "lens covered: 97% of the picture dark"},
        {"camera": "cam1", "type": "onvif.motion", "source": "onvif", "severity": "warning",
         "from": iso(T0 + 1_800_000), "to": None, "detail": "the camera reports motion"},
    ]

    def test_verify_lists_periods(self):
        store = self.make()
        code, rep = store.verify()
        self.assertEqual(code, 0, rep)
        self.assertEqual(rep["events"], self.EXPECTED)
        self.assertEqual(rep["cameras"][0]["events"], self.EXPECTED)
        self.assertEqual(rep["cameras"][0]["gaps"], [])  # events are not gaps
        # a window holding only the clear: the raise lies before it
        code, rep = store.verify("--from", iso(T0 + 1_200_000), "--to", iso(T0 + 1_600_000))
        self.assertEqual(code, 0)
        covered = [e for e in rep["events"] if e["type"] == "tamper.covered"]
        self.assertTrue(covered, rep["events"])
        p = cutest.run("verify", "--store", store.dir, "--password-file", store.pw)
        self.assertEqual(p.returncode, 0)
        self.assertIn("event tamper.covered (analysis, major) 2026-01-01T00:00:00.480000Z to "
                      "2026-01-01T00:00:01.480000Z: lens covered", p.stdout)

    def tamper_record(self, store, needle, change):
        for seq, *_ in store.segments("cam1"):
            path = store.segment_path("cam1", seq)
            off, entry = record_offset(path, needle)
            if off is not None:
                change(path, off)
                return seq, entry
        raise AssertionError(f"no record holding {needle!r}")

    def test_changed_text_is_tampering_naming_the_record(self):
        store = self.make()

        def rename(path, off):
            with open(path, "r+b") as f:
                f.seek(off + len(b"tamper."))
                f.write(b"cuvered")  # same length: only the chain can tell
        seq, entry = self.tamper_record(store, b"tamper.covered\nclear", rename)
        code, rep = store.verify()
        self.assertEqual(code, 1)
        fail = rep["first_failure"]
        self.assertEqual(fail["segment"], seq)
        self.assertIn(f"event record {entry} tamper.cuvered clear", fail["reason"])
        self.assertEqual(fail["time"], iso(store.segment_start("cam1", seq)))

    def test_flipped_byte_is_tampering_naming_the_record(self):
        store = self.make()
        seq, entry = self.tamper_record(store, b"tamper.covered\nraise",
                                        lambda p, off: flip(p, off + len(b"tamper.covered\n")))
        code, rep = store.verify()
        self.assertEqual(code, 1)
        self.assertEqual(rep["first_failure"]["segment"], seq)
        self.assertIn(f"record {entry}", rep["first_failure"]["reason"])
        self.assertIn("malformed", rep["first_failure"]["reason"])

    def test_detail_byte_changed(self):
        store = self.make()
        seq, entry = self.tamper_record(store, b"picture restored",
                                        lambda p, off: flip(p, off + 3))
        code, rep = store.verify()
        self.assertEqual(code, 1)
        self.assertIn(f"event record {entry} tamper.covered clear",
                      rep["first_failure"]["reason"])

    def export(self, store, out):
        p = cutest.run("export", "--store", store.dir, "--password-file", store.pw,
                       "--camera", "cam1", "--from", iso(T0), "--to", iso(T0 + 2_000_000),
                       "--out", out, "--case", "EV-1", "--comments", "events test",
                       "--no-encryption")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_package_report_shows_events(self):
        store = self.make()
        pkg = os.path.join(self.tmp, "ev.cpkg")
        self.export(store, pkg)
        p = cutest.run("verify", pkg, "--json")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rep = json.loads(p.stdout)
        self.assertEqual(rep["result"], "intact")
        self.assertEqual(rep["cameras"][0]["events"], self.EXPECTED)
        self.assertEqual(rep["cameras"][0]["gaps"], [])
        p = cutest.run("verify", pkg)
        self.assertIn("event onvif.motion (onvif, warning) 2026-01-01T00:00:01.800000Z to "
                      "(still raised)", p.stdout)
        # the manifest lists them, signed; a record changed in the package is found
        data = bytearray(read(pkg))
        at = data.index(b"tamper.covered\nclear\nanalysis")
        data[at + 7] ^= 0x02  # "covered" -> "aovered", still a valid name
        bad = os.path.join(self.tmp, "bad.cpkg")
        with open(bad, "wb") as f:
            f.write(data)
        p = cutest.run("verify", bad, "--json")
        self.assertEqual(p.returncode, 1, p.stdout)
        rep = json.loads(p.stdout)
        self.assertEqual(rep["result"], "tampered")
        self.assertIn("event record", rep["first_failure"]["reason"])

    def test_api_verify_lists_events(self):
        """GET cameras/{c}/verify reports the periods, signed, and no gap."""
        import api_util
        store = self.make()
        api_util.add_role(store, "viewer", [("playback", "*")])
        api_util.add_user(store, self.tmp, "vic", "viewer-password-1", roles=["viewer"])
        api = api_util.Api(self.tmp, store)
        try:
            api.start()
            tok = api.login("vic", "viewer-password-1")
            _, j = api.json("GET", f"/api/v1/cameras/cam1/verify?from={iso(T0)}"
                            f"&to={iso(T0 + 2_000_000)}", token=tok, expect=200)
        finally:
            api.stop()
        self.assertTrue(j["intact"], j)
        self.assertEqual(j["gaps"], [])
        self.assertEqual(j["events"], [dict(e, signed=True) for e in self.EXPECTED])

    def test_light_mode_and_later_writer(self):
        # a store with event records takes more recording after them
        store = self.make("light")
        p = subprocess.run([TESTWRITER, store.dir, store.pw, "cam1", "--events",
                            str(T0 + 10_000_000)], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        code, rep = store.verify()
        self.assertEqual(code, 0, rep)
        self.assertEqual(len(rep["events"]), 4)
        self.assertEqual([e["to"] is None for e in rep["events"]], [False, True, False, True])


if __name__ == "__main__":
    cutest.main()
