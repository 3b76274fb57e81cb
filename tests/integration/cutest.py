"""Shared helpers for custody's integration tests: they run the real binaries
on real store directories and read the on-disk format independently of the C
code (docs/formats/media-database.md), so that tests can tamper precisely."""

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import unittest

CUSTODY = os.environ.get("CUSTODY", "build/cli/custody")
DATA = os.environ.get("CU_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
PASSWORD = "integration-test-password"

SEG_HEADER = 160
ENTRY_HEADER = 40
FRAME, SEAL, RECORD = 1, 2, 3


def run(*args, check=None, input=None, timeout=300):
    """Runs custody with args; returns CompletedProcess (text)."""
    p = subprocess.run([CUSTODY, *args], capture_output=True, text=True, input=input,
                       timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError(f"custody {' '.join(args)} exited {p.returncode}, expected {check}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def iso(us):
    """custody's ISO 8601 form of µs since the epoch."""
    secs, frac = divmod(us, 1_000_000)
    t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:06d}Z" if frac else base + "Z"


def parse_iso(text):
    """µs since the epoch of custody's ISO 8601 form (UTC, 'Z')."""
    base, _, frac = text.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1_000_000 + (int(frac.ljust(6, "0")) if frac else 0)


def make_clip(path, seconds=8, size="320x240", audio=False):
    args = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
            f"testsrc2=size={size}:rate=25"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac",
                 "-shortest"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-bf",
             "0", "-pix_fmt", "yuv420p", path]
    subprocess.run(args, check=True, timeout=120)
    return path


class Store:
    """A store directory made by custody init, with its password file."""

    def __init__(self, root, name="store", encryption="strong", segment_seconds=2):
        self.root = root
        self.dir = os.path.join(root, name)
        self.pw = os.path.join(root, name + ".pw")
        with open(self.pw, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(self.pw, 0o600)
        run("init", "--store", self.dir, "--encryption", encryption, "--segment-seconds",
            str(segment_seconds), "--password-file", self.pw, check=0)

    def copy(self, name):
        other = Store.__new__(Store)
        other.root = self.root
        other.dir = os.path.join(self.root, name)
        other.pw = self.pw
        shutil.copytree(self.dir, other.dir)
        return other

    def import_clip(self, camera, clip, start="2026-01-01T00:00:00Z"):
        return run("import", "--store", self.dir, "--camera", camera, "--start", start,
                   "--password-file", self.pw, clip, check=0)

    def verify(self, *extra):
        p = run("verify", "--store", self.dir, "--password-file", self.pw, "--json", *extra)
        if p.returncode not in (0, 1):
            raise AssertionError(f"verify failed to run ({p.returncode}): {p.stderr}")
        rep = json.loads(p.stdout)
        assert (p.returncode == 1) == (rep["result"] == "tampered"), "exit code vs result"
        return p.returncode, rep

    @contextlib.contextmanager
    def db(self):
        """A connection that commits and closes (so no -wal file lingers)."""
        c = sqlite3.connect(os.path.join(self.dir, "catalog.db"))
        try:
            with c:
                yield c
        finally:
            c.close()

    def camera_id(self, name):
        with self.db() as c:
            return c.execute("SELECT uuid FROM cameras WHERE name = ?", (name,)).fetchone()[0]

    def segments(self, name):
        """[(seq, status, start_us, end_us, frames, bytes)] of a camera."""
        cam = self.camera_id(name)
        with self.db() as c:
            return c.execute("SELECT seq, status, start_us, end_us, frames, bytes FROM segments "
                             "WHERE camera = (SELECT id FROM cameras WHERE uuid = ?) "
                             "ORDER BY seq", (cam,)).fetchall()

    def segment_path(self, name, seq):
        return os.path.join(self.dir, "cameras", self.camera_id(name), f"{seq:016d}.seg")

    def segment_start(self, name, seq):
        for row in self.segments(name):
            if row[0] == seq:
                return row[2]
        raise KeyError(seq)


class Entry:
    def __init__(self, data, off):
        h = data[off:off + ENTRY_HEADER]
        assert h[:4] == b"CUEN", f"no entry at {off}"
        self.off = off
        self.type = h[4]
        self.flags = h[7]
        self.seq, self.ts = struct.unpack_from("<Qq", h, 8)
        self.dur, self.plain, self.stored = struct.unpack_from("<III", h, 24)
        self.end = off + ENTRY_HEADER + self.stored

    @property
    def key(self):
        return bool(self.flags & 1)


def entries(data):
    """Parses a segment file's entries (no checks beyond the framing)."""
    assert data[:8] == b"CUSTSEG1"
    out, off = [], SEG_HEADER
    while off + ENTRY_HEADER <= len(data):
        e = Entry(data, off)
        out.append(e)
        off = e.end
    return out


def set_seq(data, e, seq):
    """Returns data with entry e renumbered."""
    b = bytearray(data)
    struct.pack_into("<Q", b, e.off + 8, seq)
    return bytes(b)


def chain_init(header):
    return hashlib.sha256(b"custody/v1/segment\0" + header[48:136]).digest()


def chain_step(chain, entry_header, plain):
    return hashlib.sha256(chain + entry_header[:32] + plain).digest()


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="custody-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    """Runs the module's tests. A skipped test fails the run: a check that did
    not happen is not a pass (what it needed is missing, and it says what)."""
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout)
    prog = unittest.main(testRunner=runner, exit=False)
    r = prog.result
    for test, why in r.skipped:
        print(f"SKIPPED counts as FAILED: {test.id()}: {why}")
    ok = r.wasSuccessful() and r.testsRun > 0 and not r.skipped and not r.expectedFailures
    sys.exit(0 if ok else 1)
