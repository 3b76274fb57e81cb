"""The test-vector stores (tests/data/store-vector) checked two ways: by
custody verify, and by an independent reading of docs/formats/media-database.md
in Python with the openssl command for the Ed25519 signatures and the
certificate chain. The two must agree: this is what a third party's verifier
is checked against."""

import hashlib
import os
import re
import shutil
import sqlite3
import struct
import subprocess

import cutest
from cutest import ENTRY_HEADER, FRAME, RECORD, SEAL, SEG_HEADER

VECTORS = os.path.join(cutest.DATA, "store-vector")
PASSWORD = "custody-test-vector-password"


def openssl(*args, **kw):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, **kw)


class IndependentVerifier:
    """Reads a store with encryption "none" from its documentation alone."""

    def __init__(self, store, work):
        self.store, self.work = store, work
        server = os.path.join(store, "server.pem")
        ca = os.path.join(store, "site-ca.pem")
        openssl("verify", "-x509_strict", "-CAfile", ca, server)
        der = openssl("x509", "-in", server, "-outform", "DER").stdout
        self.key_id = hashlib.sha256(der).digest()
        self.pub = os.path.join(work, "pub.pem")
        with open(self.pub, "wb") as f:
            f.write(openssl("x509", "-in", server, "-pubkey", "-noout").stdout)
        with open(os.path.join(store, "keyring.json")) as f:
            import json
            kr = json.load(f)
        self.store_id = bytes.fromhex(kr["store_id"])
        assert kr["encryption"] == "none"
        self.nverified = 0
        self.events = []

    def ed25519_ok(self, msg, sig):
        m, s = os.path.join(self.work, "m"), os.path.join(self.work, "s")
        with open(m, "wb") as f:
            f.write(msg)
        with open(s, "wb") as f:
            f.write(sig)
        p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", self.pub,
                            "-rawin", "-in", m, "-sigfile", s], capture_output=True)
        self.nverified += 1
        return p.returncode == 0

    EVENT_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9._/-]{0,63}")
    EVENT_SOURCE = re.compile(r"[a-z][a-z0-9_-]{0,31}")

    def record(self, body):
        """Checks a record body by the page's table; keeps event records."""
        kind, rlen = struct.unpack_from("<HH", body, 0)
        assert 1 <= kind <= 6 and len(body) == 72 + rlen and body[4:8] == bytes(4)
        rfrom, rto, aux1, aux2 = struct.unpack_from("<qqQQ", body, 8)
        text = body[72:].decode("utf-8")
        if kind != 6:
            return
        # "Event records": one moment, aux and hash zero, five lines
        assert rfrom >= 0 and rto == rfrom and aux1 == aux2 == 0 and body[40:72] == bytes(32)
        typ, phase, source, severity, detail = text.split("\n")
        assert self.EVENT_TYPE.fullmatch(typ) and self.EVENT_SOURCE.fullmatch(source)
        assert phase in ("once", "raise", "clear")
        assert severity in ("info", "warning", "major", "critical")
        assert len(detail.encode()) <= 384 and all(ord(c) >= 0x20 and ord(c) != 0x7f
                                                   for c in detail)
        self.events.append((rfrom, typ, phase, source, severity, detail))

    def periods(self, camera):
        """The events as custody verify pairs them: a raise with the next clear
        of the same type and source."""
        out = []
        for at, typ, phase, source, severity, detail in self.events:
            if phase == "clear":
                open_ = [p for p in out if p["to"] is None and p["from"] is not None and
                         (p["type"], p["source"]) == (typ, source)]
                if open_:
                    open_[-1]["to"] = cutest.iso(at)
                    continue
            out.append({"camera": camera, "type": typ, "source": source, "severity": severity,
                        "from": None if phase == "clear" else cutest.iso(at),
                        "to": None if phase == "raise" else cutest.iso(at),
                        "detail": detail})
        return out

    def camera(self, uuid):
        """Returns (frames, seals, segments, records) after checking everything."""
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        try:
            rows = db.execute("SELECT seq, status, bytes, end_chain FROM segments WHERE camera = "
                              "(SELECT id FROM cameras WHERE uuid = ?) ORDER BY seq",
                              (uuid,)).fetchall()
        finally:
            db.close()
        chain_end, last_seal, next_entry = bytes(32), bytes(32), 1
        frames = seals = records = 0
        for seq, status, nbytes, end_chain in rows:
            assert status == 1, "the vector's segments are all closed"
            path = os.path.join(self.store, "cameras", uuid, f"{seq:016d}.seg")
            with open(path, "rb") as f:
                data = f.read()
            assert len(data) == nbytes
            h = data[:SEG_HEADER]
            assert h[:8] == b"CUSTSEG1" and struct.unpack_from("<HH", h, 8) == (1, 160)
            assert h[12] == 0 and h[13] == 1 and h[14] == 1  # none, SHA-256, Ed25519
            assert h[48:64] == self.store_id and h[64:80] == bytes.fromhex(uuid)
            assert struct.unpack_from("<Q", h, 80)[0] == seq
            assert struct.unpack_from("<Q", h, 96)[0] == next_entry
            assert h[104:136] == chain_end, "segment does not link to the one before"
            chain = hashlib.sha256(b"custody/v1/segment\0" + h[48:136]).digest()
            covered, off = next_entry, SEG_HEADER
            while off < len(data):
                eh = data[off:off + ENTRY_HEADER]
                assert eh[:4] == b"CUEN"
                typ = eh[4]
                eseq, = struct.unpack_from("<Q", eh, 8)
                plain, stored = struct.unpack_from("<II", eh, 28)
                assert eseq == next_entry and plain == stored
                body = data[off + ENTRY_HEADER:off + ENTRY_HEADER + stored]
                if typ == SEAL:
                    assert body[0] == 1
                    first, = struct.unpack_from("<Q", body, 8)
                    assert first == covered
                    assert body[16:48] == chain, "chain does not match the seal"
                    assert body[48:80] == last_seal, "seal does not link"
                    assert body[80:112] == self.key_id
                    msg = (b"custody/v1/seal\0" + self.store_id + bytes.fromhex(uuid) +
                           struct.pack("<Q", seq) + eh[:32] + body[:112])
                    assert self.ed25519_ok(msg, body[112:176]), "bad seal signature"
                    last_seal = hashlib.sha256(body).digest()
                    covered = eseq + 1
                    seals += 1
                elif typ == FRAME:
                    frames += 1
                elif typ == RECORD:
                    records += 1
                    self.record(body)
                chain = hashlib.sha256(chain + eh[:32] + body).digest()
                next_entry += 1
                off += ENTRY_HEADER + stored
            assert data[-ENTRY_HEADER - 176:][4] == SEAL, "a closed segment ends with a seal"
            assert bytes.fromhex(end_chain) == chain
            chain_end = chain
        return frames, seals, len(rows), records


class Vector(cutest.TempDirTest):
    def copy(self, mode):
        d = os.path.join(self.tmp, mode)
        shutil.copytree(os.path.join(VECTORS, mode), d)
        pw = os.path.join(self.tmp, "pw")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pw, 0o600)
        return d, pw

    def custody_report(self, d, pw):
        p = cutest.run("verify", "--store", d, "--password-file", pw, "--json")
        import json
        rep = json.loads(p.stdout)
        self.assertEqual(p.returncode, 0 if rep["result"] == "intact" else 1)
        return rep

    def test_independent_reading_agrees(self):
        d, pw = self.copy("none")
        rep = self.custody_report(d, pw)
        self.assertEqual(rep["result"], "intact")
        iv = IndependentVerifier(d, self.tmp)
        for c in rep["cameras"]:
            frames, seals, segments, records = iv.camera(c["id"])
            self.assertEqual((frames, seals, segments, records),
                             (c["frames"], c["seals"], c["segments"], c["records"]), c["name"])
        self.assertGreater(iv.nverified, 8)
        fp = openssl("x509", "-in", os.path.join(d, "server.pem"), "-noout", "-fingerprint",
                     "-sha256").stdout.decode().strip().split("=")[1].lower()
        self.assertEqual(rep["signer"]["fingerprint"], fp)

    def test_independent_reading_detects_a_change(self):
        d, pw = self.copy("none")
        iv = IndependentVerifier(d, self.tmp)
        rep = self.custody_report(d, pw)
        uuid = [c["id"] for c in rep["cameras"] if c["name"] == "cam1"][0]
        path = os.path.join(d, "cameras", uuid, f"{2:016d}.seg")
        with open(path, "r+b") as f:
            f.seek(SEG_HEADER + 200 * 3)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 1]))
        with self.assertRaises(AssertionError):
            iv.camera(uuid)
        self.assertEqual(self.custody_report(d, pw)["result"], "tampered")

    def test_event_records_vector(self):
        """store-vector/events: event records (kind 6) read from the page alone."""
        d, pw = self.copy("events")
        rep = self.custody_report(d, pw)
        self.assertEqual(rep["result"], "intact")
        iv = IndependentVerifier(d, self.tmp)
        (c,) = rep["cameras"]
        counts = iv.camera(c["id"])
        self.assertEqual(counts, (c["frames"], c["seals"], c["segments"], c["records"]))
        self.assertEqual(len(iv.events), 3)
        self.assertEqual(iv.periods("cam1"), rep["events"])
        self.assertEqual(rep["events"][0]["type"], "tamper.covered")
        self.assertEqual(rep["events"][0]["from"], "2026-01-01T00:00:00.480000Z")
        self.assertEqual(rep["events"][0]["to"], "2026-01-01T00:00:01.480000Z")
        self.assertIsNone(rep["events"][1]["to"])
        # the text changed in place: both readings fail
        for name in sorted(os.listdir(os.path.join(d, "cameras", c["id"]))):
            path = os.path.join(d, "cameras", c["id"], name)
            with open(path, "rb") as f:
                data = f.read()
            at = data.find(b"onvif.motion\nraise")
            if at >= 0:
                with open(path, "r+b") as f:
                    f.seek(at)
                    f.write(b"onvif.motioN")
                break
        else:
            self.fail("no onvif.motion record in the vector")
        with self.assertRaises(AssertionError):
            IndependentVerifier(d, self.tmp).camera(c["id"])
        rep = self.custody_report(d, pw)
        self.assertEqual(rep["result"], "tampered")
        self.assertIn("onvif.motioN raise", rep["first_failure"]["reason"])

    def test_strong_vector(self):
        d, pw = self.copy("strong")
        rep = self.custody_report(d, pw)
        self.assertEqual(rep["result"], "intact")
        cams = {c["name"]: c for c in rep["cameras"]}
        self.assertEqual(cams["cam1"]["frames"], 100)
        self.assertEqual(cams["cam1"]["segments"], 4)
        self.assertEqual(cams["cam1"]["from"], "2026-01-01T00:00:00Z")
        self.assertEqual(cams["cam1"]["to"], "2026-01-01T00:01:02Z")
        self.assertEqual(cams["cam2"]["frames"], 50)
        self.assertEqual(cams["cam2"]["from"], "2026-01-01T00:00:00.500000Z")
        wrong = os.path.join(self.tmp, "wrong")
        with open(wrong, "w") as f:
            f.write("not the vector password\n")
        os.chmod(wrong, 0o600)
        p = cutest.run("verify", "--store", d, "--password-file", wrong)
        self.assertEqual(p.returncode, 2)
        self.assertIn("wrong password", p.stderr)


if __name__ == "__main__":
    cutest.main()
