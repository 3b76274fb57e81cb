"""Tamper suite (issue: "what must be shown" 1): each way of altering a store is
detected by custody verify with the right camera and the start time of the
first failed segment; an untouched store verifies intact."""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import cutest
from cutest import FRAME, RECORD, SEAL, Store, entries, iso

MODES = ("none", "light", "strong")


class Tamper(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="custody-tamper-")
        cls.clip = cutest.make_clip(os.path.join(cls.root, "clip.mp4"), seconds=8)
        cls.base = {}
        for mode in MODES:
            s = Store(cls.root, "base-" + mode, encryption=mode, segment_seconds=2)
            s.import_clip("cam1", cls.clip, "2026-01-01T00:00:00Z")
            s.import_clip("cam2", cls.clip, "2026-01-01T00:00:00Z")
            cls.base[mode] = s
        other = Store(cls.root, "other-strong", encryption="strong", segment_seconds=2)
        other.import_clip("cam1", cls.clip, "2026-01-01T00:00:00Z")
        cls.other = other
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def fresh(self, mode="strong"):
        Tamper.n += 1
        return self.base[mode].copy(f"case{Tamper.n}")

    def expect_tampered(self, s, camera, seq, words, time_us=None):
        """verify must say tampered, name camera and segment seq's start time."""
        code, rep = s.verify()
        self.assertEqual(code, 1, rep)
        ff = rep["first_failure"]
        self.assertEqual(ff["camera"], camera, ff)
        want = time_us if time_us is not None else self.base_start(camera, seq)
        self.assertEqual(ff["time"], iso(want), ff)
        self.assertTrue(any(w in ff["reason"] for w in words), ff["reason"])
        cams = {c["name"]: c for c in rep["cameras"]}
        self.assertEqual(cams[camera]["result"], "tampered")
        return ff

    def base_start(self, camera, seq):
        return self.base["strong"].segment_start(camera, seq)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def write(self, path, data):
        with open(path, "wb") as f:
            f.write(data)

    def middle_frame(self, data, key=False, min_plain=0):
        fr = [e for e in entries(data) if e.type == FRAME and e.key == key and e.plain > min_plain]
        self.assertGreater(len(fr), 2)
        return fr[len(fr) // 2]

    # --- untouched ---

    def test_untouched_intact_every_mode(self):
        for mode in MODES:
            code, rep = self.base[mode].verify()
            self.assertEqual(code, 0, rep)
            self.assertEqual(rep["result"], "intact")
            self.assertNotIn("first_failure", rep)
            cams = {c["name"]: c for c in rep["cameras"]}
            self.assertEqual(set(cams), {"cam1", "cam2"})
            self.assertEqual(cams["cam1"]["frames"], 200)
            self.assertGreaterEqual(cams["cam1"]["segments"], 4)
            self.assertGreaterEqual(cams["cam1"]["seals"], 8)
            self.assertEqual(cams["cam1"]["from"], "2026-01-01T00:00:00Z")
            self.assertEqual(cams["cam1"]["to"], "2026-01-01T00:00:08Z")
            self.assertEqual(len(rep["signer"]["fingerprint"]), 95)

    def test_segment_times_as_designed(self):
        # 2 s segments cut at key frames (1 s GOPs): segment k starts at 2(k-1) s
        rows = self.base["strong"].segments("cam1")
        starts = [r[2] for r in rows if r[4] > 0]
        t0 = starts[0]
        self.assertEqual([s - t0 for s in starts[:4]], [0, 2_000_000, 4_000_000, 6_000_000])

    # --- payload bit flips ---

    def test_bitflip_payload_every_mode(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                s = self.fresh(mode)
                path = s.segment_path("cam1", 2)
                data = bytearray(self.read(path))
                e = self.middle_frame(data)
                data[e.off + cutest.ENTRY_HEADER + 100] ^= 0x10
                self.write(path, data)
                self.expect_tampered(s, "cam1", 2, ["altered"])

    def test_bitflip_light_beyond_encrypted_part(self):
        # light mode encrypts the first 1000 bytes; a flip after them breaks the chain
        s = self.fresh("light")
        path = s.segment_path("cam1", 3)
        data = bytearray(self.read(path))
        big = [e for e in entries(bytes(data)) if e.type == FRAME and e.plain > 1100]
        self.assertTrue(big)
        e = big[len(big) // 2]
        data[e.end - 10] ^= 0x01
        self.write(path, data)
        ff = self.expect_tampered(s, "cam1", 3, ["hash chain"])
        self.assertIn("altered", ff["reason"])

    def test_bitflip_camera_two_only(self):
        s = self.fresh("strong")
        path = s.segment_path("cam2", 4)
        data = bytearray(self.read(path))
        e = self.middle_frame(data)
        data[e.off + cutest.ENTRY_HEADER + 5] ^= 0x80
        self.write(path, data)
        code, rep = s.verify()
        self.expect_tampered(s, "cam2", 4, ["altered"])
        cams = {c["name"]: c for c in rep["cameras"]}
        self.assertEqual(cams["cam1"]["result"], "intact")

    # --- frames deleted, inserted, swapped ---

    def test_frame_deleted(self):
        s = self.fresh("strong")
        path = s.segment_path("cam1", 2)
        data = self.read(path)
        e = self.middle_frame(data)
        self.write(path, data[:e.off] + data[e.end:])
        self.expect_tampered(s, "cam1", 2, ["removed, inserted or reordered"])

    def test_frame_deleted_and_renumbered(self):
        # the attacker renumbers the entries after the hole: the chain catches it
        s = self.fresh("none")
        path = s.segment_path("cam1", 3)
        data = self.read(path)
        e = self.middle_frame(data)
        out = data[:e.off] + data[e.end:]
        for later in entries(out):
            if later.off >= e.off:
                out = cutest.set_seq(out, later, later.seq - 1)
        self.write(path, out)
        self.expect_tampered(s, "cam1", 3, ["hash chain", "covers from entry", "signature does not verify"])

    def test_frame_inserted(self):
        s = self.fresh("strong")
        path = s.segment_path("cam1", 2)
        data = self.read(path)
        e = self.middle_frame(data)
        self.write(path, data[:e.end] + data[e.off:e.end] + data[e.end:])
        self.expect_tampered(s, "cam1", 2, ["removed, inserted or reordered"])

    def test_frame_inserted_and_renumbered(self):
        s = self.fresh("none")
        path = s.segment_path("cam1", 2)
        data = self.read(path)
        e = self.middle_frame(data)
        out = data[:e.end] + data[e.off:e.end] + data[e.end:]
        for later in entries(out):
            if later.off >= e.end:
                out = cutest.set_seq(out, later, later.seq + 1)
        self.write(path, out)
        self.expect_tampered(s, "cam1", 2, ["hash chain", "covers from entry", "signature does not verify"])

    def test_frames_swapped(self):
        s = self.fresh("strong")
        path = s.segment_path("cam1", 3)
        data = self.read(path)
        fr = [e for e in entries(data) if e.type == FRAME]
        a, b = fr[5], fr[6]
        self.assertEqual(a.end, b.off)
        self.write(path, data[:a.off] + data[b.off:b.end] + data[a.off:a.end] + data[b.end:])
        self.expect_tampered(s, "cam1", 3, ["removed, inserted or reordered"])

    def test_frames_swapped_numbers_kept(self):
        # swap two frames but keep the entry numbers in order
        s = self.fresh("none")
        path = s.segment_path("cam1", 3)
        data = self.read(path)
        fr = [e for e in entries(data) if e.type == FRAME]
        a, b = fr[5], fr[6]
        out = data[:a.off] + data[b.off:b.end] + data[a.off:a.end] + data[b.end:]
        ents = entries(out)
        idx = [i for i, x in enumerate(ents) if x.off == a.off][0]
        out = cutest.set_seq(out, ents[idx], a.seq)
        out = cutest.set_seq(out, entries(out)[idx + 1], b.seq)
        self.write(path, out)
        self.expect_tampered(s, "cam1", 3, ["hash chain"])

    # --- segments ---

    def test_segment_deleted_from_middle(self):
        s = self.fresh("strong")
        os.unlink(s.segment_path("cam1", 2))
        self.expect_tampered(s, "cam1", 2, ["missing"])

    def test_segment_deleted_with_catalogue_row(self):
        s = self.fresh("strong")
        os.unlink(s.segment_path("cam1", 2))
        with s.db() as c:
            c.execute("DELETE FROM segments WHERE seq = 2 AND camera = "
                      "(SELECT id FROM cameras WHERE name = 'cam1')")
        self.expect_tampered(s, "cam1", 3, ["does not follow on"])

    def test_segment_truncated(self):
        s = self.fresh("strong")
        path = s.segment_path("cam1", 2)
        size = os.path.getsize(path)
        os.truncate(path, size // 2)
        self.expect_tampered(s, "cam1", 2, ["cut short", "ends inside", "truncated"])

    def test_segment_truncated_at_a_seal(self):
        # cut exactly after a valid seal: every byte left verifies, the catalogue does not
        s = self.fresh("strong")
        path = s.segment_path("cam1", 2)
        data = self.read(path)
        seals = [e for e in entries(data) if e.type == SEAL]
        self.assertGreater(len(seals), 2)
        os.truncate(path, seals[1].end)
        self.expect_tampered(s, "cam1", 2, ["truncated or extended"])

    def test_segment_from_other_camera(self):
        s = self.fresh("strong")
        shutil.copyfile(s.segment_path("cam2", 2), s.segment_path("cam1", 2))
        self.expect_tampered(s, "cam1", 2, ["another camera"])

    def test_segment_from_other_store(self):
        s = self.fresh("strong")
        shutil.copyfile(self.other.segment_path("cam1", 2), s.segment_path("cam1", 2))
        self.expect_tampered(s, "cam1", 2, ["another store"])

    def test_segment_planted(self):
        s = self.fresh("strong")
        rows = s.segments("cam1")
        shutil.copyfile(s.segment_path("cam1", 2),
                        s.segment_path("cam1", rows[-1][0] + 5))
        code, rep = s.verify()
        self.assertEqual(code, 1)
        self.assertIn("not in the catalogue", rep["first_failure"]["reason"])
        self.assertEqual(rep["first_failure"]["camera"], "cam1")

    def test_segments_reordered(self):
        s = self.fresh("strong")
        a, b = s.segment_path("cam1", 2), s.segment_path("cam1", 3)
        tmp = a + ".x"
        os.rename(a, tmp)
        os.rename(b, a)
        os.rename(tmp, b)
        self.expect_tampered(s, "cam1", 2, ["another camera or segment number"])

    # --- retention around an evidence lock (a store with holes) ---

    def holey(self):
        """A copy of the strong store after a retention run that an evidence
        lock over 2.5-4.5 s kept from cam1's segments 2 and 3: segments 1 and
        4 are deleted, and the retention run's own segment 5 follows a hole."""
        s = self.fresh("strong")
        t0 = self.base_start("cam1", 1)
        p = subprocess.run([os.environ["CU_TESTWRITER"], s.dir, s.pw, "cam1", "--lock-retention",
                            str(t0 + 2_500_000), str(t0 + 4_500_000)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ["deleted", "2", "locked", "2"])
        self.assertEqual([r[0] for r in s.segments("cam1") if r[1] != 2], [2, 3, 5])
        return s

    def remove_segment(self, s, camera, seq):
        os.unlink(s.segment_path(camera, seq))
        with s.db() as c:
            c.execute("DELETE FROM segments WHERE seq = ? AND camera = "
                      "(SELECT id FROM cameras WHERE name = ?)", (seq, camera))

    def created(self, s, camera, seq):
        """A segment's creation time (header bytes 88-95): the time verify names
        for a segment without frames."""
        return struct.unpack_from("<q", self.read(s.segment_path(camera, seq)), 88)[0]

    def test_retention_hole_intact(self):
        s = self.holey()
        code, rep = s.verify()
        self.assertEqual(code, 0, rep)
        cams = {c["name"]: c for c in rep["cameras"]}
        self.assertEqual(cams["cam1"]["frames"], 100)  # segments 2 and 3: 2-6 s
        self.assertEqual(cams["cam1"]["from"], iso(self.base_start("cam1", 2)))
        self.assertEqual(len([g for g in cams["cam1"]["gaps"] if g["kind"] == "retention"]), 2)
        self.assertEqual(cams["cam2"]["frames"], 200)

    def test_retention_hole_kept_segment_removed(self):
        s = self.holey()
        self.remove_segment(s, "cam1", 3)  # the hole before 5 now starts at 3
        self.expect_tampered(s, "cam1", 5, ["does not follow on"],
                             time_us=self.created(s, "cam1", 5))

    def test_retention_hole_first_kept_removed(self):
        s = self.holey()
        self.remove_segment(s, "cam1", 2)
        self.expect_tampered(s, "cam1", 3, ["without a signed retention record"])

    def test_retention_hole_all_kept_removed(self):
        # 2 and 3 gone: what is left looks like one deleted prefix before 5, but
        # the records name 2 as kept
        s = self.holey()
        self.remove_segment(s, "cam1", 2)
        self.remove_segment(s, "cam1", 3)
        self.expect_tampered(s, "cam1", 5, ["without a signed retention record"],
                             time_us=self.created(s, "cam1", 5))

    # --- catalogue ---

    def test_catalogue_time_edited(self):
        s = self.fresh("strong")
        with s.db() as c:
            c.execute("UPDATE segments SET start_us = start_us + 1000000 WHERE seq = 3 AND "
                      "camera = (SELECT id FROM cameras WHERE name = 'cam1')")
        self.expect_tampered(s, "cam1", 3, ["catalogue row"])

    def test_catalogue_frames_edited(self):
        s = self.fresh("none")
        with s.db() as c:
            c.execute("UPDATE segments SET frames = frames - 1 WHERE seq = 2 AND "
                      "camera = (SELECT id FROM cameras WHERE name = 'cam2')")
        self.expect_tampered(s, "cam2", 2, ["catalogue row"])

    def test_catalogue_camera_renamed(self):
        s = self.fresh("strong")
        with s.db() as c:
            c.execute("UPDATE cameras SET name = 'vault' WHERE name = 'cam1'")
        self.expect_tampered(s, "vault", 1, ["signed start record says \"cam1\""],
                            time_us=self.base_start("cam1", 1))

    def test_catalogue_cameras_swapped(self):
        s = self.fresh("strong")
        with s.db() as c:
            c.execute("UPDATE cameras SET name = 'tmp' WHERE name = 'cam1'")
            c.execute("UPDATE cameras SET name = 'cam1' WHERE name = 'cam2'")
            c.execute("UPDATE cameras SET name = 'cam2' WHERE name = 'tmp'")
        code, rep = s.verify()
        self.assertEqual(code, 1)
        bad = {c["name"] for c in rep["cameras"] if c["result"] == "tampered"}
        self.assertEqual(bad, {"cam1", "cam2"})

    # --- timestamps ---

    def test_timestamp_edited_every_mode(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                s = self.fresh(mode)
                path = s.segment_path("cam1", 2)
                data = bytearray(self.read(path))
                e = self.middle_frame(data)
                struct.pack_into("<q", data, e.off + 16, e.ts + 500_000)
                self.write(path, data)
                self.expect_tampered(s, "cam1", 2, ["altered"])

    # --- seals ---

    def resign(self, s, camera, seq, new_key_id=False):
        """Alters a frame, recomputes the chain and re-signs the next seal with a
        new Ed25519 key made by openssl (encryption none, so no GCM to forge)."""
        path = s.segment_path(camera, seq)
        data = bytearray(self.read(path))
        e = self.middle_frame(data)
        data[e.off + cutest.ENTRY_HEADER + 50] ^= 0xFF
        chain = cutest.chain_init(bytes(data[:cutest.SEG_HEADER]))
        seal = None
        for x in entries(bytes(data)):
            h = bytes(data[x.off:x.off + cutest.ENTRY_HEADER])
            body = bytes(data[x.off + cutest.ENTRY_HEADER:x.end])
            if x.type == SEAL and x.off > e.off:
                seal = x
                break
            chain = cutest.chain_step(chain, h, body)
        self.assertIsNotNone(seal)
        b = seal.off + cutest.ENTRY_HEADER
        data[b + 16:b + 48] = chain
        key = os.path.join(self.tmp, "evil.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
        if new_key_id:
            cert = os.path.join(self.tmp, "evil.crt")
            subprocess.run(["openssl", "req", "-new", "-x509", "-key", key, "-subj", "/CN=evil",
                            "-days", "1", "-out", cert], check=True, capture_output=True)
            der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                                 check=True, capture_output=True).stdout
            data[b + 80:b + 112] = hashlib.sha256(der).digest()
        hdr = bytes(data[:cutest.SEG_HEADER])
        msg = (b"custody/v1/seal\0" + hdr[48:64] + hdr[64:80] + struct.pack("<Q", seq) +
               bytes(data[seal.off:seal.off + 32]) + bytes(data[b:b + 112]))
        mpath, spath = os.path.join(self.tmp, "msg"), os.path.join(self.tmp, "sig")
        self.write(mpath, msg)
        subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", mpath,
                        "-out", spath], check=True)
        sig = self.read(spath)
        self.assertEqual(len(sig), 64)
        data[b + 112:b + 176] = sig
        self.write(path, data)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="custody-tamper-case-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_seal_resigned_with_other_key(self):
        s = self.fresh("none")
        self.resign(s, "cam1", 3)
        self.expect_tampered(s, "cam1", 3, ["signature does not verify"])

    def test_seal_resigned_with_other_key_and_key_id(self):
        s = self.fresh("none")
        self.resign(s, "cam2", 2, new_key_id=True)
        self.expect_tampered(s, "cam2", 2, ["not this store's recording server certificate"])

    def test_record_edited(self):
        # the signed START record names the camera; editing it breaks the chain
        s = self.fresh("none")
        path = s.segment_path("cam1", 1)
        data = bytearray(self.read(path))
        rec = [e for e in entries(bytes(data)) if e.type == RECORD][0]
        reason = rec.off + cutest.ENTRY_HEADER + 72
        self.assertEqual(bytes(data[reason:reason + 4]), b"cam1")
        data[reason:reason + 4] = b"camX"
        self.write(path, data)
        self.expect_tampered(s, "cam1", 1, ["hash chain"])

    def test_ca_fingerprint_pin(self):
        s = self.base["none"]
        own = cutest.run("info", "--store", s.dir, "--json", check=0)
        own_fp = json.loads(own.stdout)["signer"]["ca_fingerprint"]
        other = json.loads(cutest.run("info", "--store", self.other.dir, "--json",
                                      check=0).stdout)["signer"]["ca_fingerprint"]
        code, rep = s.verify("--ca-fingerprint", own_fp)
        self.assertEqual(code, 0, rep)
        self.assertTrue(rep["ca_pinned"])
        code, rep = s.verify("--ca-fingerprint", own_fp.replace(":", "").upper())
        self.assertEqual(code, 0, rep)
        # a store re-signed under another CA: everything verifies, but not under the pin
        code, rep = s.verify("--ca-fingerprint", other)
        self.assertEqual(code, 1, rep)
        self.assertIsNone(rep["first_failure"]["camera"])
        self.assertIn("site CA other than", rep["first_failure"]["reason"])
        p = cutest.run("verify", "--store", s.dir, "--ca-fingerprint", "abc")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--ca-fingerprint", p.stderr)

    def test_certificate_swapped(self):
        # the store's certificates replaced by another store's: no seal verifies
        s = self.fresh("strong")
        for f in ("server.pem", "site-ca.pem"):
            shutil.copyfile(os.path.join(self.other.dir, f), os.path.join(s.dir, f))
        code, rep = s.verify()
        self.assertEqual(code, 1)
        self.assertIn("signing key", rep["first_failure"]["reason"])


if __name__ == "__main__":
    cutest.main()
