"""The hand-check recipe of docs/formats/evidence-package.md, run as the
script docs/recipes/verify-package.sh (sh, openssl, argon2, tar and standard
Unix tools only), agrees with custody verify PACKAGE.

Packages come from custody export (a store made with custody init and a short
clip imported) and from tests/data/package-vector/. Tampered copies are made
here from the format page alone: a byte of a frame changed (in the clear, and
in the ciphertext of an encrypted package), the manifest's comments edited
with the tar stream and the header remade around it as an attacker can (only
the export signature stops that), a seal's signature replaced by another
valid signature of the same key, a wrong password, a segment removed from
the tar (with the header remade, and raw).

Each case checks the verdicts of both, and where both name a failed camera,
the same camera and the same start time of its first failed segment."""

import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time

import cutest
from cutest import ENTRY_HEADER, FRAME, SEAL, SEG_HEADER, Store

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPE = os.path.join(HERE, "..", "..", "docs", "recipes", "verify-package.sh")
VECTORS = os.path.join(cutest.DATA, "package-vector")
TESTWRITER = os.environ.get("CU_TESTWRITER", "build/tests/integration/cu-testwriter")
VECTOR_PASSWORD = "custody-test-vector-package"
PKG_PASSWORD = "recipe-test-package-password"

HEADER = 128
CHUNK = 1 << 20
TAG = 16
BLOCK = 512
FAILED = re.compile(r"^RESULT: tampered: camera (\S+): first failed segment starts at (\S+) "
                    r"\((\d+) µs\)", re.M)


# ---- the package, read and written from the format page alone ----

def header_fields(data):
    """(flags, plaintext length) of a package, after checking its hash."""
    h = data[:HEADER]
    assert h[:8] == b"CUSTPKG\0" and hashlib.sha256(h[:96]).digest() == h[96:128]
    flags, = struct.unpack_from("<H", h, 10)
    length, = struct.unpack_from("<Q", h, 80)
    return flags, length


def remake_header(data, new_length):
    """The header of an unencrypted package with another plaintext length,
    re-hashed: what an attacker who rewrites the tar stream does."""
    h = bytearray(data[:HEADER])
    struct.pack_into("<Q", h, 80, new_length)
    h[96:128] = hashlib.sha256(bytes(h[:96])).digest()
    return bytes(h)


def tar_entries(plain):
    """[(name, header offset, data offset, size)] of the ustar stream."""
    out, off = [], 0
    while off + BLOCK <= len(plain):
        hdr = plain[off:off + BLOCK]
        if hdr == bytes(BLOCK):
            break
        name = hdr[:100].rstrip(b"\0").decode()
        size = int(hdr[124:135], 8)
        out.append((name, off, off + BLOCK, size))
        off += BLOCK + (size + BLOCK - 1) // BLOCK * BLOCK
    return out


def ustar(files, mtime):
    """The canonical tar stream of the format page: [(name, bytes)]."""
    out = bytearray()
    for name, content in files:
        h = bytearray(BLOCK)
        h[0:len(name)] = name.encode()
        h[100:108] = b"0000644\0"
        h[108:116] = b"0000000\0"
        h[116:124] = b"0000000\0"
        h[124:136] = b"%011o\0" % len(content)
        h[136:148] = b"%011o\0" % mtime
        h[148:156] = b" " * 8
        h[156:157] = b"0"
        h[257:265] = b"ustar\x0000"
        h[148:156] = b"%06o\0 " % sum(h)
        out += h + content + bytes(-len(content) % BLOCK)
    return bytes(out + bytes(2 * BLOCK))


def segment_entries(seg):
    """cutest.Entry list of a segment copy (mode none)."""
    return cutest.entries(seg)


class PackageRecipe(cutest.TempDirTest):
    @classmethod
    def setUpClass(cls):
        if shutil.which("argon2") is None:
            raise AssertionError("the argon2 command is missing: run scripts/bootstrap")
        cls.root = tempfile.mkdtemp(prefix="custody-recipe-")
        store = Store(cls.root, encryption="strong", segment_seconds=2)
        clip = cutest.make_clip(os.path.join(cls.root, "clip.mp4"), seconds=4)
        store.import_clip("cam1", clip)
        cls.pkgpw = os.path.join(cls.root, "package.pw")
        with open(cls.pkgpw, "w") as f:
            f.write(PKG_PASSWORD + "\n")
        os.chmod(cls.pkgpw, 0o600)
        cls.plain = os.path.join(cls.root, "plain.cpkg")
        cls.encrypted = os.path.join(cls.root, "encrypted.cpkg")
        common = ["export", "--store", store.dir, "--password-file", store.pw, "--camera", "cam1",
                  "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T00:00:10Z", "--case",
                  "RECIPE-1", "--comments", "exported for the recipe test", "--user", "alice"]
        cutest.run(*common, "--out", cls.plain, "--no-encryption", check=0)
        cutest.run(*common, "--out", cls.encrypted, "--package-password-file", cls.pkgpw,
                   "--prevent-reexport", check=0)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    # ---- running both verifiers ----

    def recipe(self, pkg, pw=None):
        args = ["sh", RECIPE, pkg] + ([pw] if pw else [])
        p = subprocess.run(args, capture_output=True, text=True, timeout=300)
        results = [l for l in p.stdout.splitlines() if l.startswith("RESULT: ")]
        self.assertEqual(len(results), 1, f"one verdict line\n{p.stdout}\n{p.stderr}")
        self.assertEqual(p.stdout.rstrip().splitlines()[-1], results[0], "the verdict is last")
        want_rc = {"intact": 0, "tampered": 1}.get(results[0].split()[1].rstrip(":"), 2)
        self.assertEqual(p.returncode, want_rc, p.stdout)
        return p.returncode, results[0][len("RESULT: "):], p.stdout

    def custody(self, pkg, pw=None):
        args = ["verify", pkg, "--json"] + (["--password-file", pw] if pw else [])
        p = cutest.run(*args)
        self.assertIn(p.returncode, (0, 1, 2), p.stderr)
        rep = json.loads(p.stdout)
        return p.returncode, rep

    def both(self, pkg, pw=None):
        return self.recipe(pkg, pw), self.custody(pkg, pw)

    def assert_intact(self, pkg, pw=None):
        (rrc, verdict, out), (crc, rep) = self.both(pkg, pw)
        self.assertEqual((rrc, verdict), (0, "intact"), out)
        self.assertEqual((crc, rep["result"]), (0, "intact"), rep.get("reason"))
        # the counts agree too: frames and seals per camera, from the recipe's lines
        for cam in rep["cameras"]:
            lines = re.findall(r"ok    segment \d+ \(.*?\): (\d+) frames, \d+ records, (\d+) seal",
                               out.split(f"camera {cam['name']} (id {cam['id']})")[1]
                               .split("\n    camera ")[0])
            self.assertEqual(len(lines), cam["segments"], out)
            self.assertEqual(sum(int(f) for f, _ in lines), cam["frames"])
            self.assertEqual(sum(int(s) for _, s in lines), cam["seals"])
        return out, rep

    def assert_same_failure(self, verdict, rep, camera):
        """Both name camera as failed, at the same segment start time."""
        m = FAILED.match("RESULT: " + verdict)
        self.assertIsNotNone(m, verdict)
        self.assertEqual(m.group(1), camera)
        self.assertEqual(m.group(2), cutest.iso(int(m.group(3))))
        cams = {c["name"]: c for c in rep["cameras"]}
        self.assertEqual(cams[camera]["result"], "tampered")
        self.assertEqual(cams[camera]["failure"]["time"], m.group(2), (verdict, rep))
        self.assertEqual(rep["first_failure"]["camera"], camera)
        return m.group(2)

    # ---- helpers to make tampered copies ----

    def copy(self, src, name):
        dst = os.path.join(self.tmp, name)
        shutil.copyfile(src, dst)
        return dst

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def write(self, path, data):
        with open(path, "wb") as f:
            f.write(data)

    def manifest(self, plain):
        name, _, off, size = tar_entries(plain)[0]
        self.assertEqual(name, "manifest.json")
        return json.loads(plain[off:off + size])

    def segment(self, plain, camera, seq):
        """(data offset in the plaintext, bytes, manifest entry) of a segment copy."""
        m = self.manifest(plain)
        cam = [c for c in m["cameras"] if c["name"] == camera][0]
        ms = [s for s in cam["segments"] if s["seq"] == seq][0]
        for name, _, off, size in tar_entries(plain):
            if name == ms["file"]:
                return off, plain[off:off + size], ms
        raise KeyError(ms["file"])

    # ---- the cases ----

    def test_vectors_intact(self):
        pw = os.path.join(self.tmp, "vector.pw")
        with open(pw, "w") as f:
            f.write(VECTOR_PASSWORD + "\n")
        os.chmod(pw, 0o600)
        self.assert_intact(os.path.join(VECTORS, "plain.cpkg"))
        out, rep = self.assert_intact(os.path.join(VECTORS, "encrypted.cpkg"), pw)
        self.assertIn("entry 0 of the audit log", out)
        self.assertTrue(rep["audit"]["head_signature_valid"])

    def test_exports_intact(self):
        out, rep = self.assert_intact(self.plain)
        self.assertIn("the tar stream is byte for byte the canonical one", out)
        out, rep = self.assert_intact(self.encrypted, self.pkgpw)
        self.assertIn("NOT checked", out)  # it says the GCM tags are not checked
        self.assertTrue(rep["encrypted"] and rep["prevent_reexport"])

    def test_canonical_tar_as_documented(self):
        """The format page's tar description rebuilds custody's stream exactly
        (so the manifest-edit case below is what an attacker can do)."""
        data = self.read(self.plain)
        _, length = header_fields(data)
        plain = data[HEADER:]
        self.assertEqual(len(plain), length)
        m = self.manifest(plain)
        files = [(n, plain[o:o + s]) for n, _, o, s in tar_entries(plain)]
        mtime = cutest.parse_iso(m["exported"]) // 1_000_000
        self.assertEqual(ustar(files, mtime), plain)
        # a tar header with another time (checksum right): not the canonical
        # stream, though every file is intact
        stream = ustar(files[:2], mtime) [:-2 * BLOCK] + ustar(files[2:], mtime + 1)
        pkg = os.path.join(self.tmp, "mtime.cpkg")
        self.write(pkg, data[:HEADER] + stream)
        (rrc, verdict, out), (crc, rep) = self.both(pkg)
        self.assertEqual(rrc, 1, out)
        self.assertIn(f"in the tar header of {files[2][0]}", verdict)
        self.assertEqual((crc, rep["result"]), (1, "tampered"))

    def test_frame_byte_changed(self):
        data = self.read(self.plain)
        plain = data[HEADER:]
        off, seg, ms = self.segment(plain, "cam1", 2)
        frame = [e for e in segment_entries(seg) if e.type == FRAME][10]
        at = off + frame.off + ENTRY_HEADER + frame.plain // 2
        bad = bytearray(data)
        bad[HEADER + at] ^= 0x10
        pkg = self.copy(self.plain, "frame.cpkg")
        self.write(pkg, bytes(bad))
        (rrc, verdict, out), (crc, rep) = self.both(pkg)
        self.assertEqual(rrc, 1, out)
        self.assertEqual((crc, rep["result"]), (1, "tampered"))
        when = self.assert_same_failure(verdict, rep, "cam1")
        self.assertEqual(when, ms["from"])
        self.assertIn("does not match the sealed chain value", verdict)

        # the same byte in the ciphertext of the encrypted package: custody
        # finds the GCM tag broken (damaged); the recipe, which cannot check
        # tags, finds the chain broken at the same segment (tampered)
        data = self.read(self.encrypted)
        _, length = header_fields(data)
        self.assertLessEqual(length, CHUNK, "one chunk: plaintext offset = ciphertext offset")
        bad = bytearray(data)
        bad[HEADER + at] ^= 0x10
        pkg = self.copy(self.encrypted, "frame-encrypted.cpkg")
        self.write(pkg, bytes(bad))
        (rrc, verdict, out), (crc, rep) = self.both(pkg, self.pkgpw)
        self.assertEqual(rrc, 1, out)
        m = FAILED.match("RESULT: " + verdict)
        self.assertIsNotNone(m, verdict)
        self.assertEqual((m.group(1), m.group(2)), ("cam1", ms["from"]))
        self.assertEqual(crc, 1)
        self.assertIn(rep["result"], ("damaged", "tampered"))

    def test_manifest_edited_and_container_remade(self):
        data = self.read(self.plain)
        plain = data[HEADER:]
        m = self.manifest(plain)
        files = [(n, plain[o:o + s]) for n, _, o, s in tar_entries(plain)]
        old = files[0][1]
        new = old.replace(b'"comments":"exported for the recipe test"',
                          b'"comments":"exported for the recipe test, and for nothing else"')
        self.assertNotEqual(old, new)
        files[0] = ("manifest.json", new)
        stream = ustar(files, cutest.parse_iso(m["exported"]) // 1_000_000)
        pkg = os.path.join(self.tmp, "edited.cpkg")
        self.write(pkg, remake_header(data, len(stream)) + stream)
        (rrc, verdict, out), (crc, rep) = self.both(pkg)
        self.assertEqual(rrc, 1, out)
        self.assertIn("export signature does not verify", verdict)
        self.assertIn("the tar stream is byte for byte the canonical one", out,
                      "the container itself is well formed: only the signature stops this")
        self.assertEqual((crc, rep["result"]), (1, "tampered"))
        self.assertFalse(rep["export_signature"]["valid"])
        self.assertIn("export signature", rep["reason"])

    def test_seal_signature_replaced(self):
        data = self.read(self.plain)
        plain = data[HEADER:]
        off, seg, ms = self.segment(plain, "cam1", 1)
        seals = [e for e in segment_entries(seg) if e.type == SEAL]
        self.assertGreaterEqual(len(seals), 2)
        # the second seal's signature, valid and by the same key, put into the first
        sig = lambda e: off + e.off + ENTRY_HEADER + 112
        bad = bytearray(data)
        bad[HEADER + sig(seals[0]):HEADER + sig(seals[0]) + 64] = \
            plain[sig(seals[1]):sig(seals[1]) + 64]
        pkg = os.path.join(self.tmp, "seal.cpkg")
        self.write(pkg, bytes(bad))
        (rrc, verdict, out), (crc, rep) = self.both(pkg)
        self.assertEqual(rrc, 1, out)
        self.assertIn(f"the signature of seal {seals[0].seq} (written {cutest.iso(seals[0].ts)}) "
                      "does not verify", verdict)
        self.assertEqual((crc, rep["result"]), (1, "tampered"))
        self.assertEqual(self.assert_same_failure(verdict, rep, "cam1"), ms["from"])

    def test_wrong_password(self):
        wrong = os.path.join(self.tmp, "wrong.pw")
        with open(wrong, "w") as f:
            f.write("not-the-package-password\n")
        os.chmod(wrong, 0o600)
        (rrc, verdict, out), (crc, rep) = self.both(self.encrypted, wrong)
        self.assertEqual((rrc, verdict), (2, "wrong password"), out)
        self.assertEqual((crc, rep["result"]), (2, "wrong_password"))

    def test_file_removed(self):
        data = self.read(self.plain)
        plain = data[HEADER:]
        m = self.manifest(plain)
        last = m["cameras"][0]["segments"][-1]["file"]
        files = [(n, plain[o:o + s]) for n, _, o, s in tar_entries(plain) if n != last]
        stream = ustar(files, cutest.parse_iso(m["exported"]) // 1_000_000)
        # the attacker's way: the header remade around the shorter stream
        pkg = os.path.join(self.tmp, "removed.cpkg")
        self.write(pkg, remake_header(data, len(stream)) + stream)
        (rrc, verdict, out), (crc, rep) = self.both(pkg)
        self.assertEqual(rrc, 1, out)
        self.assertIn(f"{last} is missing from the package", verdict)
        self.assertEqual((crc, rep["result"]), (1, "tampered"))
        # the plain way: the entry cut out, the header left as it was
        name, hoff, doff, size = [e for e in tar_entries(plain) if e[0] == last][0]
        cut = plain[:hoff] + plain[doff + size + (-size % BLOCK):]
        pkg = os.path.join(self.tmp, "cut.cpkg")
        self.write(pkg, data[:HEADER] + cut)
        (rrc, verdict, out), (crc, rep) = self.both(pkg)
        self.assertEqual(rrc, 1, out)
        self.assertIn("truncated", verdict)
        self.assertEqual(crc, 1)
        self.assertIn(rep["result"], ("damaged", "tampered"))

    def test_event_records_vector(self):
        """package-vector/events.cpkg: event records (record kind 6) in the
        segment copies and as gaps of kind event in the manifest; both verifiers
        accept them, and an event record changed in the copy fails both."""
        pkg = os.path.join(VECTORS, "events.cpkg")
        out, rep = self.assert_intact(pkg)
        self.assertIn("its 3 gap record(s) are the signed ones", out)
        self.assertIn("event ", out)
        cam = rep["cameras"][0]
        self.assertEqual([(e["type"], e["from"], e["to"]) for e in cam["events"]],
                         [("tamper.covered", "2026-01-01T00:00:00.480000Z",
                           "2026-01-01T00:00:01.480000Z"),
                          ("onvif.motion", "2026-01-01T00:00:01.800000Z", None)])
        data = bytearray(self.read(pkg))
        at = data.index(b"onvif.motion\nraise\nonvif")
        data[at + len("onvif.motion\nraise\n")] ^= 0x20  # source "Onvif": breaks its rule
        bad = self.copy(pkg, "bad-event.cpkg")
        self.write(bad, bytes(data))
        (rrc, verdict, out), (crc, rep) = self.both(bad)
        self.assertEqual(rrc, 1, out)
        self.assertEqual(crc, 1, rep)
        self.assert_same_failure(verdict, rep, "cam1")

    def test_restart_record_listed(self):
        """A signed restart record (a writer killed, then restarted) is listed
        among the manifest's gaps; both find the list equal to the records."""
        store = Store(self.tmp, encryption="light", segment_seconds=2)
        t0 = cutest.iso(int(time.time()) * 1_000_000 - 1_000_000)
        for sig in (signal.SIGKILL, signal.SIGTERM):
            w = subprocess.Popen([TESTWRITER, store.dir, store.pw, "cam1"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            line = w.stdout.readline()
            if line.strip() != "ready":
                w.kill()
                _, err = w.communicate(timeout=30)
                raise AssertionError(f"cu-testwriter did not start: {line!r} {err}")
            time.sleep(1.5)
            w.send_signal(sig)
            w.communicate(timeout=30)
        t1 = cutest.iso(int(time.time()) * 1_000_000 + 5_000_000)
        pkg = os.path.join(self.tmp, "restart.cpkg")
        cutest.run("export", "--store", store.dir, "--password-file", store.pw, "--camera",
                   "cam1", "--from", t0, "--to", t1, "--case", "R-2", "--comments", "restart",
                   "--out", pkg, "--no-encryption", check=0)
        out, rep = self.assert_intact(pkg)
        gaps = rep["cameras"][0]["gaps"]
        self.assertEqual([g["kind"] for g in gaps], ["restart"], rep)
        self.assertIn(f"restart {gaps[0]['from']} to {gaps[0]['to']}: ", out)
        self.assertIn("its 1 gap record(s) are the signed ones", out)


if __name__ == "__main__":
    cutest.main()
