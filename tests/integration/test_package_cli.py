"""Evidence packages from the command line (issue 5): custody export (from a
store, and through the API), custody verify PACKAGE (both layers, wrong
password, damage, tampering), prevent-re-export (refused by import and
export), and custody player: its page and MP4s served only on 127.0.0.1 and
only under the secret prefix, the MP4 playing in ffprobe with the right frame
count, and the page played by a real headless Chromium."""

import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import api_util
import cutest
from cutest import CUSTODY, Store, iso

T0 = 1_767_225_600_000_000          # 2026-01-01T00:00:00Z
PKG_PW = "package-password-42"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def us(s):
    return T0 + int(s * 1_000_000)


def secret(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def run(*args, timeout=300, env=None):
    """custody without a controlling terminal (it can never ask on one)."""
    return subprocess.run([CUSTODY, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, start_new_session=True, env=env)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))


def ffprobe_frames(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=nb_read_frames,codec_name", "-of", "json",
                        path], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("ffprobe refused the file: " + p.stderr)
    s = json.loads(p.stdout)["streams"][0]
    return s["codec_name"], int(s["nb_read_frames"])


class Player:
    """custody player on a package, stopped by its PID."""

    def __init__(self, pkg, pwfile=None, tmpdir=None, extra=()):
        env = dict(os.environ)
        if tmpdir is not None:
            env["TMPDIR"] = tmpdir
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        args = [CUSTODY, "player", pkg, "--no-open", *extra]
        if pwfile is not None:
            args += ["--password-file", pwfile]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                  bufsize=0)
        self.out = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            m = re.search(r"http://127\.0\.0\.1:(\d+)/([0-9a-f]{32})/", self.out)
            if m:
                self.url, self.port, self.prefix = m.group(0), int(m.group(1)), m.group(2)
                return
            r, _, _ = select.select([self.p.stdout], [], [], 1)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                self.out += chunk.decode("utf-8", "replace")
                if chunk:
                    continue
            if self.p.poll() is not None:
                raise AssertionError(f"player exited {self.p.returncode}: {self.out}"
                                     f"{self.p.stderr.read().decode('utf-8', 'replace')}")
        self.stop()
        raise AssertionError("the player printed no address: " + self.out)

    def get(self, path="", headers=None, host=None):
        """(status, headers, body) of GET /<prefix>/<path> (or path as given when it
        starts with '/')."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        target = path if path.startswith("/") else f"/{self.prefix}/{path}"
        try:
            c.putrequest("GET", target, skip_host=True)
            c.putheader("Host", host or f"127.0.0.1:{self.port}")
            for k, v in (headers or {}).items():
                c.putheader(k, v)
            c.endheaders()
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        err = self.p.stderr.read().decode("utf-8", "replace")
        self.p.stderr.close()
        return self.p.returncode, err


class PackageCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="custody-pkg-")
        cls.clip = cutest.make_clip(os.path.join(cls.root, "clip.mp4"), seconds=8)
        cls.s = Store(cls.root, "st", encryption="strong", segment_seconds=2)
        cls.s.import_clip("cam1", cls.clip, iso(T0))
        cls.s.import_clip("cam2", cls.clip, iso(T0))
        cls.ppw = secret(cls.root, "pkg.pw", PKG_PW)
        cls.wrong = secret(cls.root, "wrong.pw", "not-the-password")
        # an encrypted package of both cameras, and a signed-only one with the flag
        cls.pkg = os.path.join(cls.root, "both.cuep")
        cls.export_out = cls.export(cls.pkg, "--camera", "cam1", "--from", iso(T0), "--to",
                                    iso(us(8)), "--camera", "cam2", "--from", iso(us(1)),
                                    "--to", iso(us(5)), "--package-password-file", cls.ppw,
                                    "--user", "alice", check=0).stdout
        cls.plain = os.path.join(cls.root, "plain.cuep")
        cls.export(cls.plain, "--camera", "cam1", "--from", iso(T0), "--to", iso(us(8)),
                   "--no-encryption", check=0)
        cls.locked = os.path.join(cls.root, "locked.cuep")
        cls.export(cls.locked, "--camera", "cam1", "--from", iso(T0), "--to", iso(us(8)),
                   "--no-encryption", "--prevent-reexport", check=0)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def export(cls, out, *args, store=None, check=None, case="CASE-2026-17",
               comments="requested by the court\nsecond line"):
        p = run("export", "--store", (store or cls.s).dir, "--password-file", (store or cls.s).pw,
                "--out", out, "--case", case, "--comments", comments, *args)
        if check is not None and p.returncode != check:
            raise AssertionError(f"export exited {p.returncode}: {p.stdout}{p.stderr}")
        return p

    def tmp(self, name):
        PackageCli.n += 1
        return os.path.join(self.root, f"t{PackageCli.n}-{name}")

    def copy(self, src):
        dst = self.tmp(os.path.basename(src))
        shutil.copyfile(src, dst)
        return dst

    def verify(self, pkg, *args):
        p = run("verify", pkg, "--json", *args)
        self.assertIn(p.returncode, (0, 1, 2), p.stderr)
        return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr

    # ---- export ----

    def test_export_prints_path_size_and_manifest_hash(self):
        out = self.export_out
        self.assertIn(self.pkg, out)
        size = os.path.getsize(self.pkg)
        self.assertRegex(out, rf"size\s+{size} bytes")
        self.assertRegex(out, r"manifest\s+SHA-256 [0-9a-f]{64}")
        self.assertFalse(os.path.exists(self.pkg + ".tmp"))
        # the package is private to its owner
        self.assertEqual(os.stat(self.pkg).st_mode & 0o077, 0)

    def test_export_is_in_the_audit_log(self):
        p = run("audit", "export", "--store", self.s.dir, "--format", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        entries = json.loads(p.stdout)["entries"]
        ex = [e for e in entries if e["type"] == "export" and e["actor"] == "alice"]
        self.assertEqual(len(ex), 1, entries)
        d = ex[0]["detail"]
        self.assertEqual(ex[0]["source"], "cli")
        self.assertEqual(d["format"], "evidence")
        self.assertEqual(d["profile"], "operator")  # no --profile, alice is no user of auth.db
        self.assertIs(d["encryption"], True)
        self.assertIs(d["signature"], True)
        self.assertIs(d["prevent_reexport"], False)
        self.assertEqual(d["case"], "CASE-2026-17")
        self.assertEqual(d["comments"], "requested by the court\nsecond line")
        self.assertEqual(d["cameras"], [{"camera": "cam1", "from": iso(T0), "to": iso(us(8))},
                                        {"camera": "cam2", "from": iso(us(1)),
                                         "to": iso(us(5))}])
        end = [e for e in entries if e["type"] == "export.end" and e["detail"]["id"] == d["id"]]
        # the shape custodyd writes too (test_api_export): the package file's size and SHA-256
        with open(self.pkg, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(end[0]["detail"], {"id": d["id"], "status": "done", "format": "evidence",
                                            "bytes": os.path.getsize(self.pkg),
                                            "sha256": digest})
        self.assertEqual(end[0]["source"], "cli")
        # the package names that entry, under a head whose signature verifies
        code, rep, _ = self.verify(self.pkg, "--password-file", self.ppw)
        self.assertEqual(rep["audit"]["index"], ex[0]["index"])
        self.assertTrue(rep["audit"]["head_signature_valid"])
        self.assertGreater(rep["audit"]["head_size"], ex[0]["index"])
        p = run("audit", "verify", "--store", self.s.dir)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_export_of_a_tampered_range_names_camera_and_time(self):
        s = self.s.copy(f"tampered{PackageCli.n}")
        PackageCli.n += 1
        segs = s.segments("cam1")
        seq, start = segs[2][0], segs[2][2]
        path = s.segment_path("cam1", seq)
        flip(path, os.path.getsize(path) // 2)
        out = self.tmp("t.cuep")
        p = self.export(out, "--camera", "cam1", "--from", iso(T0), "--to", iso(us(8)),
                        "--no-encryption", store=s)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cam1", p.stderr)
        self.assertIn(iso(start), p.stderr)
        self.assertIn("TAMPERED", p.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(out + ".tmp"))
        # the attempt is in the audit log, and how it ended
        a = json.loads(run("audit", "export", "--store", s.dir, "--format", "json").stdout)
        ends = [e["detail"] for e in a["entries"] if e["type"] == "export.end"]
        self.assertEqual(ends[-1]["status"], "failed")
        self.assertEqual(set(ends[-1]), {"id", "status", "format", "error"})

    def test_bad_input_names_the_argument(self):
        out = self.tmp("bad.cuep")
        base = ["--camera", "cam1", "--from", iso(T0), "--to", iso(us(8))]
        cases = [
            (base + ["--no-encryption", "--case", ""], "--case"),
            (["--camera", "cam1", "--from", iso(us(8)), "--to", iso(T0), "--no-encryption"],
             "--to"),
            (["--camera", "cam1", "--from", iso(T0), "--to", "2026-01-02T00:00:01Z",
              "--no-encryption"], "24 h"),
            (["--from", iso(T0), "--camera", "cam1", "--to", iso(us(8)), "--no-encryption"],
             "--from"),
            (["--camera", "cam1", "--from", "yesterday", "--to", iso(us(8)),
              "--no-encryption"], "--from"),
            (["--camera", "nosuch", "--from", iso(T0), "--to", iso(us(8)), "--no-encryption"],
             "nosuch"),
            (["--camera", "cam1", "--from", "2025-01-01T00:00:00Z", "--to",
              "2025-01-01T01:00:00Z", "--no-encryption"], "nothing recorded"),
            (["--camera", "bad name", "--from", iso(T0), "--to", iso(us(8)),
              "--no-encryption"], "--camera"),
            (base + ["--camera", "cam1", "--from", iso(T0), "--to", iso(us(8)),
                     "--no-encryption"], "twice"),
            (["--camera", "cam1", "--from", iso(T0), "--no-encryption"], "--to"),
            (base + ["--no-encryption", "--package-password-file", self.ppw], "not both"),
            (base + ["--package-password-file", secret(self.root, "short.pw", "short")],
             "at least 8"),
            (base + ["--no-encryption", "--ca-file", self.ppw], "--ca-file"),
        ]
        for args, word in cases:
            with self.subTest(args=args):
                p = self.export(out, *args)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(word, p.stderr)
                self.assertFalse(os.path.exists(out))
        # --case and --comments are required, comments may not hold control characters
        for args, word in [(["--comments", "x"], "--case"), (["--case", "C"], "--comments"),
                           (["--case", "C", "--comments", "bell\x07"], "--comments")]:
            p = run("export", "--store", self.s.dir, "--password-file", self.s.pw, "--out", out,
                    "--no-encryption", *base, *args)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(word, p.stderr)
        # an existing --out is never replaced
        p = self.export(self.pkg, *base, "--no-encryption")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--out", p.stderr)
        # a store password file others may read is refused
        loose = secret(self.root, "loose.pw", cutest.PASSWORD)
        os.chmod(loose, 0o644)
        p = run("export", "--store", self.s.dir, "--password-file", loose, "--out", out,
                "--case", "C", "--comments", "x", "--no-encryption", *base)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--password-file", p.stderr)
        # no package password file and no terminal: refused, nothing written
        p = self.export(out, *base)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--package-password-file", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_comments_from_a_file(self):
        cf = os.path.join(self.root, "comments.txt")
        with open(cf, "w") as f:
            f.write("line one\n\tline two\n")
        out = self.tmp("cf.cuep")
        p = run("export", "--store", self.s.dir, "--password-file", self.s.pw, "--out", out,
                "--case", "C-9", "--comments-file", cf, "--no-encryption", "--camera", "cam2",
                "--from", iso(us(2)), "--to", iso(us(3)))
        self.assertEqual(p.returncode, 0, p.stderr)
        code, rep, _ = self.verify(out)
        self.assertEqual(code, 0)
        self.assertEqual(rep["comments"], "line one\n\tline two")
        self.assertEqual(rep["case"], "C-9")

    # ---- verify ----

    def test_verify_intact_json(self):
        code, rep, err = self.verify(self.pkg, "--password-file", self.ppw)
        self.assertEqual(code, 0, err)
        self.assertEqual(rep["result"], "intact")
        self.assertTrue(rep["encrypted"])
        self.assertFalse(rep["prevent_reexport"])
        self.assertEqual(rep["case"], "CASE-2026-17")
        self.assertEqual(rep["comments"], "requested by the court\nsecond line")
        self.assertEqual(rep["exporter"], "alice")
        self.assertEqual(rep["profile"], "operator")
        self.assertTrue(rep["export_signature"]["valid"])
        self.assertTrue(rep["chain_valid"])
        self.assertIsNone(rep["damaged_offset"])
        self.assertNotIn("first_failure", rep)
        info = json.loads(run("info", "--store", self.s.dir, "--json").stdout)
        self.assertEqual(rep["site_ca"]["fingerprint"], info["signer"]["ca_fingerprint"])
        self.assertEqual(rep["export_signature"]["fingerprint"], info["signer"]["fingerprint"])
        self.assertEqual(rep["recorder"]["fingerprint"], info["signer"]["fingerprint"])
        cams = {c["name"]: c for c in rep["cameras"]}
        self.assertEqual([c["name"] for c in rep["cameras"]], ["cam1", "cam2"])
        self.assertEqual(cams["cam1"]["result"], "intact")
        self.assertEqual(cams["cam1"]["frames"], 200)
        self.assertEqual(cams["cam1"]["from"], iso(T0))
        self.assertEqual(cams["cam2"]["to"], iso(us(5)))
        self.assertGreater(cams["cam2"]["seals"], 0)
        # pinned to the store's site CA: intact; to another: tampered
        code, rep, _ = self.verify(self.pkg, "--password-file", self.ppw, "--ca-fingerprint",
                                   info["signer"]["ca_fingerprint"])
        self.assertEqual(code, 0)
        self.assertTrue(rep["ca_pinned"])
        code, rep, _ = self.verify(self.pkg, "--password-file", self.ppw, "--ca-fingerprint",
                                   "11" * 32)
        self.assertEqual(code, 1)
        self.assertTrue(rep["ca_mismatch"])
        # the text report says the same
        p = run("verify", self.pkg, "--password-file", self.ppw)
        self.assertEqual(p.returncode, 0)
        self.assertIn("intact", p.stdout.splitlines()[0])
        self.assertIn("export signature valid", p.stdout)
        self.assertIn("camera cam2: intact", p.stdout)
        # --package is the same as the argument; a store is still checked as before
        p = run("verify", "--package", self.plain, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        code, srep = self.s.verify()
        self.assertEqual(code, 0)
        self.assertIn("signer", srep)

    def test_wrong_password_is_reported_as_such(self):
        code, rep, err = self.verify(self.pkg, "--password-file", self.wrong)
        self.assertEqual(code, 2)
        self.assertIn("wrong password", err)
        self.assertEqual(rep["result"], "wrong_password")
        # no password and no terminal: could not check
        p = run("verify", self.pkg)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--password-file", p.stderr)

    def test_a_flipped_byte_in_the_middle_is_found(self):
        enc = self.copy(self.pkg)
        flip(enc, os.path.getsize(enc) // 2)
        code, rep, err = self.verify(enc, "--password-file", self.ppw)
        self.assertEqual(code, 1, err)
        self.assertEqual(rep["result"], "damaged")
        self.assertIsInstance(rep["damaged_offset"], int)
        self.assertGreaterEqual(rep["damaged_offset"], 128)
        self.assertLessEqual(rep["damaged_offset"], os.path.getsize(enc) // 2)
        p = run("verify", enc, "--password-file", self.ppw)
        self.assertEqual(p.returncode, 1)
        self.assertIn("DAMAGED", p.stdout)
        # unencrypted: no tag to fail; the signatures name the camera and time
        plain = self.copy(self.plain)
        flip(plain, os.path.getsize(plain) // 2)
        code, rep, err = self.verify(plain)
        self.assertEqual(code, 1, err)
        self.assertIn(rep["result"], ("tampered", "damaged"))
        if rep["result"] == "tampered":
            self.assertEqual(rep["first_failure"]["camera"], "cam1")
            self.assertTrue(rep["first_failure"]["time"].startswith("2026-01-01T00:00:0"))
        # not a package at all: could not check
        p = run("verify", self.clip)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a custody evidence package", p.stderr)

    # ---- prevent re-export ----

    def test_prevent_reexport_is_refused_by_every_command(self):
        code, rep, _ = self.verify(self.locked)
        self.assertEqual(code, 0)
        self.assertTrue(rep["prevent_reexport"])
        p = run("import", "--store", self.s.dir, "--camera", "cam9", "--password-file",
                self.s.pw, self.locked)
        self.assertEqual(p.returncode, 2)
        self.assertIn("evidence package", p.stderr)
        self.assertIn("forbids re-export", p.stderr)
        # a package without the flag cannot be imported either
        p = run("import", "--store", self.s.dir, "--camera", "cam9", "--password-file",
                self.s.pw, self.plain)
        self.assertEqual(p.returncode, 2)
        self.assertIn("evidence package", p.stderr)
        out = self.tmp("re.cuep")
        for args in (["--store", self.locked], ["--store", self.s.dir, self.locked]):
            p = run("export", *args, "--password-file", self.s.pw, "--out", out, "--case", "C",
                    "--comments", "x", "--no-encryption", "--camera", "cam1", "--from",
                    iso(T0), "--to", iso(us(8)))
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("evidence package", p.stderr)
            self.assertFalse(os.path.exists(out))
        # the store has no camera cam9: nothing was imported
        self.assertNotIn("cam9", run("info", "--store", self.s.dir).stdout)

    def test_removing_the_flag_is_detected(self):
        """The flag cleared in the header, with the header hash made again."""
        laundered = self.copy(self.locked)
        with open(laundered, "r+b") as f:
            head = bytearray(f.read(128))
            self.assertEqual(head[:8], b"CUSTPKG\0")
            self.assertTrue(head[10] & 2)
            head[10] &= ~2 & 0xff
            head[96:128] = hashlib.sha256(bytes(head[:96])).digest()
            f.seek(0)
            f.write(head)
        code, rep, _ = self.verify(laundered)
        self.assertEqual(code, 1)
        self.assertEqual(rep["result"], "tampered")
        # and the player offers no download of it
        d = tempfile.mkdtemp(dir=self.root)
        pl = Player(laundered, tmpdir=d)
        try:
            page = pl.get("")[2].decode()
            self.assertIn('class="verdict bad"', page)
            self.assertNotIn("download/", page)
            self.assertIn('controlslist="nodownload', page)
            self.assertEqual(pl.get("download/0.mp4")[0], 404)
        finally:
            rc, _ = pl.stop()
        self.assertEqual(rc, 1)

    # ---- player ----

    def test_player_serves_only_under_the_prefix_on_loopback(self):
        d = tempfile.mkdtemp(dir=self.root)
        pl = Player(self.pkg, self.ppw, tmpdir=d)
        try:
            self.assertIn("intact", pl.out)
            st, h, body = pl.get("")
            self.assertEqual(st, 200)
            page = body.decode()
            self.assertEqual(h["content-type"], "text/html; charset=utf-8")
            self.assertIn("default-src 'none'", h["content-security-policy"])
            self.assertIn("script-src 'self'", h["content-security-policy"])
            self.assertEqual(h["x-content-type-options"], "nosniff")
            self.assertEqual(h["cache-control"], "no-store")
            self.assertIn('data-result="intact"', page)
            self.assertIn("CASE-2026-17", page)
            self.assertIn("requested by the court", page)
            self.assertIn('id="exporter">alice<', page)
            self.assertIn("Export signature", page)
            self.assertIn('id="audit">entry', page)
            self.assertEqual(page.count("<video"), 2)
            # the MP4: inline, seekable, and every frame of the camera
            st, h, mp4 = pl.get("video/0.mp4")
            self.assertEqual(st, 200)
            self.assertEqual(h["content-type"], "video/mp4")
            self.assertEqual(h["content-disposition"], "inline")
            self.assertEqual(h["accept-ranges"], "bytes")
            f = os.path.join(self.root, "served.mp4")
            with open(f, "wb") as fh:
                fh.write(mp4)
            self.assertEqual(ffprobe_frames(f), ("h264", 200))
            st, h, part = pl.get("video/0.mp4", headers={"Range": "bytes=100-199"})
            self.assertEqual(st, 206)
            self.assertEqual(part, mp4[100:200])
            self.assertEqual(h["content-range"], f"bytes 100-199/{len(mp4)}")
            st, _, part = pl.get("video/0.mp4", headers={"Range": "bytes=-10"})
            self.assertEqual((st, part), (206, mp4[-10:]))
            st, _, _ = pl.get("video/0.mp4", headers={"Range": f"bytes={len(mp4)}-"})
            self.assertEqual(st, 416)
            st, _, mp4b = pl.get("video/1.mp4")
            with open(f, "wb") as fh:
                fh.write(mp4b)
            # cam2 [1 s, 5 s]: the whole segments overlapping it, 0 s .. 6 s
            _, rep, _ = self.verify(self.pkg, "--password-file", self.ppw)
            self.assertEqual(rep["cameras"][1]["frames"], 150)
            self.assertEqual(ffprobe_frames(f), ("h264", 150))
            # without the prefix, a wrong prefix, a wrong Host, another method: refused
            self.assertEqual(pl.get("/video/0.mp4")[0], 404)
            self.assertEqual(pl.get("/")[0], 404)
            self.assertEqual(pl.get(f"/{'0' * 32}/video/0.mp4")[0], 404)
            self.assertEqual(pl.get(f"/{pl.prefix[:-1]}/")[0], 404)
            self.assertEqual(pl.get("video/0.mp4", host="evil.example")[0], 403)
            c = http.client.HTTPConnection("127.0.0.1", pl.port, timeout=10)
            c.request("POST", f"/{pl.prefix}/", body=b"")
            self.assertEqual(c.getresponse().status, 405)
            c.close()
            # an oversized request is refused, not read forever
            st, _, _ = pl.get("", headers={"X-Big": "a" * 9000})
            self.assertEqual(st, 431)
            # listening on 127.0.0.1 only
            self.assertEqual(self.listen_addrs(pl.port), ["127.0.0.1"])
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.2", pl.port), timeout=2).close()
            # the decrypted footage lives in a private directory
            dirs = os.listdir(d)
            self.assertEqual(len(dirs), 1)
            priv = os.path.join(d, dirs[0])
            self.assertEqual(os.stat(priv).st_mode & 0o777, 0o700)
            for name in os.listdir(priv):
                self.assertEqual(os.stat(os.path.join(priv, name)).st_mode & 0o077, 0)
            # the download link works when re-export is not prevented
            self.assertIn('href="download/0.mp4"', page)
            st, h, dl = pl.get("download/0.mp4")
            self.assertEqual(st, 200)
            self.assertTrue(h["content-disposition"].startswith("attachment"))
            self.assertEqual(dl, mp4)
        finally:
            rc, err = pl.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual(os.listdir(d), [], "the player left decrypted footage behind")

    def listen_addrs(self, port):
        addrs = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            if not os.path.exists(table):
                continue
            with open(table) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    local, state = cols[1], cols[3]
                    ip, p = local.split(":")
                    if state == "0A" and int(p, 16) == port:
                        if len(ip) == 8:
                            b = bytes.fromhex(ip)[::-1]
                            addrs.append(".".join(str(x) for x in b))
                        else:
                            addrs.append(ip)
        return addrs

    def test_player_prevent_reexport_hides_downloads(self):
        d = tempfile.mkdtemp(dir=self.root)
        pl = Player(self.locked, tmpdir=d)
        try:
            st, _, body = pl.get("")
            page = body.decode()
            self.assertIn('id="reexport"', page)
            self.assertIn("prevent-re-export flag is set", page)
            self.assertIn('controlslist="nodownload', page)
            self.assertIn("disablepictureinpicture", page)
            self.assertNotIn("download/", page)
            self.assertEqual(pl.get("download/0.mp4")[0], 404)
            st, h, mp4 = pl.get("video/0.mp4")
            self.assertEqual(st, 200)
            self.assertEqual(h["content-disposition"], "inline")
            self.assertEqual(pl.get("/video/0.mp4")[0], 404)
        finally:
            rc, _ = pl.stop(signal.SIGINT)
        self.assertEqual(rc, 0)
        self.assertEqual(os.listdir(d), [])

    def test_player_shows_only_what_was_verified_before_the_failure(self):
        bad = self.copy(self.plain)
        flip(bad, os.path.getsize(bad) // 2)
        code, rep, _ = self.verify(bad)
        self.assertEqual(code, 1)
        d = tempfile.mkdtemp(dir=self.root)
        pl = Player(bad, tmpdir=d)
        try:
            st, _, body = pl.get("")
            page = body.decode()
            self.assertIn('class="verdict bad"', page)
            self.assertRegex(page, r'data-result="(tampered|damaged)"')
            cam = rep["cameras"][0] if rep["cameras"] else None
            if cam is not None and cam["result"] == "tampered":
                when = cam["failure"]["time"]
                self.assertIn(when, page)
                st, _, mp4 = pl.get("video/0.mp4")
                if st == 200:
                    f = os.path.join(self.root, "cut.mp4")
                    with open(f, "wb") as fh:
                        fh.write(mp4)
                    _, frames = ffprobe_frames(f)
                    # 25 fps from T0: only frames before the failed segment
                    self.assertEqual(frames, (cutest.parse_iso(when) - T0) * 25 // 1_000_000)
        finally:
            rc, _ = pl.stop()
        self.assertEqual(rc, 1)
        self.assertEqual(os.listdir(d), [])

    def test_player_wrong_password(self):
        p = run("player", self.pkg, "--no-open", "--password-file", self.wrong, timeout=120)
        self.assertEqual(p.returncode, 2)
        self.assertIn("wrong password", p.stderr)

    def test_player_in_a_real_browser(self):
        self.assertIsNotNone(CHROMIUM, "chromium is not installed (scripts/bootstrap "
                                       "installs it)")
        pl = Player(self.locked)
        profile = tempfile.mkdtemp(dir=self.root)
        try:
            p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                                "--disable-background-networking", "--disable-component-update",
                                "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                                "--virtual-time-budget=15000", "--dump-dom", pl.url],
                               capture_output=True, text=True, timeout=180,
                               stdin=subprocess.DEVNULL)
            dom = p.stdout
            self.assertIn('data-result="intact"', dom, p.stderr[-2000:])
            self.assertIn("Verified: intact", dom)
            m = re.search(r'id="state-0"[^>]*data-ready-state="(\d)"', dom)
            self.assertIsNotNone(m, "the video never loaded: " + dom[-3000:])
            self.assertGreaterEqual(int(m.group(1)), 2)
            dur = re.search(r'id="state-0"[^>]*data-duration="([0-9.]+)"', dom)
            self.assertAlmostEqual(float(dur.group(1)), 8.0, delta=0.1)
        finally:
            pl.stop()

    # ---- through the API ----

    # ---- --include-player: the folder for a USB stick ----

    def test_include_player_folder(self):
        d = self.tmp("usb")
        p = self.export(d, "--camera", "cam1", "--from", iso(T0), "--to", iso(us(2)),
                        "--no-encryption", "--include-player", check=0)
        pkg = os.path.join(d, "evidence.cuep")
        self.assertIn(pkg, p.stdout)
        self.assertFalse(os.path.exists(d + ".tmp"))
        self.assertEqual(sorted(os.listdir(d)),
                         ["README.txt", "custody", "evidence.cuep", "verify-package.sh"])
        self.assertEqual(os.stat(d).st_mode & 0o7777, 0o755)
        self.assertEqual(os.stat(os.path.join(d, "custody")).st_mode & 0o7777, 0o755)
        # the package as without --include-player: private to its owner
        self.assertEqual(os.stat(pkg).st_mode & 0o077, 0)
        with open(CUSTODY, "rb") as f, open(os.path.join(d, "custody"), "rb") as g:
            self.assertEqual(f.read(), g.read())
        recipe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                              "recipes", "verify-package.sh")
        with open(recipe, "rb") as f, open(os.path.join(d, "verify-package.sh"), "rb") as g:
            self.assertEqual(f.read(), g.read())
        # the COPIED program verifies the package
        v = subprocess.run([os.path.join(d, "custody"), "verify", pkg, "--json"],
                           capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL, start_new_session=True)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertEqual(json.loads(v.stdout)["result"], "intact")
        # and so does the recipe, without custody's code
        r = subprocess.run(["sh", os.path.join(d, "verify-package.sh"), pkg],
                           capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)
        self.assertIn("RESULT: intact", r.stdout)
        # README.txt: how to verify and play, and the SHA-256 of the other files
        with open(os.path.join(d, "README.txt"), encoding="utf-8") as f:
            readme = f.read()
        self.assertIn("./custody verify evidence.cuep", readme)
        self.assertIn("./custody player evidence.cuep", readme)
        self.assertIn("sh verify-package.sh evidence.cuep [PASSWORD_FILE]", readme)
        self.assertIn("Debian 12", readme)
        hashes = dict((name, h) for h, name in
                      re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.MULTILINE))
        self.assertEqual(sorted(hashes), ["custody", "evidence.cuep", "verify-package.sh"])
        for name, h in hashes.items():
            with open(os.path.join(d, name), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), h, name)
        # an existing folder is never written into
        again = self.export(d, "--camera", "cam1", "--from", iso(T0), "--to", iso(us(2)),
                            "--no-encryption", "--include-player")
        self.assertEqual(again.returncode, 2, again.stderr)
        self.assertIn("exists", again.stderr)
        self.assertEqual(len(os.listdir(d)), 4)

    def test_export_through_the_server(self):
        d = tempfile.mkdtemp(dir=self.root)
        s = Store(d, "srv", encryption="strong", segment_seconds=2)
        s.import_clip("cam1", self.clip, iso(T0))
        api_util.add_role(s, "exporters", [("export", "cam1"), ("playback", "cam1")])
        user_pw = "Exporter-Pass-77"
        api_util.add_user(s, d, "bob", user_pw, roles=["exporters"])
        upw = secret(d, "bob.pw", user_pw)
        api = api_util.Api(d, s).start()
        try:
            out = os.path.join(d, "server.cuep")
            base = ["export", "--server", f"https://127.0.0.1:{api.port}", "--ca-file", api.ca,
                    "--user", "bob", "--password-file", upw, "--camera", "cam1", "--from",
                    iso(us(1)), "--to", iso(us(6)), "--case", "SRV-1", "--comments",
                    "through the API", "--package-password-file", self.ppw,
                    "--prevent-reexport"]
            p = run(*base, "--out", out)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertNotIn(user_pw, p.stdout + p.stderr)
            self.assertNotIn(PKG_PW, p.stdout + p.stderr)
            with open(out, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            self.assertIn(digest, p.stdout)
            code, rep, err = self.verify(out, "--password-file", self.ppw)
            self.assertEqual(code, 0, err)
            self.assertEqual(rep["exporter"], "bob")
            self.assertEqual(rep["case"], "SRV-1")
            self.assertTrue(rep["prevent_reexport"])
            self.assertTrue(rep["encrypted"])
            self.assertEqual(rep["cameras"][0]["from"], iso(us(1)))
            # --include-player through the server: its folder, unpacked into --out
            folder = os.path.join(d, "usb")
            p = run(*base, "--out", folder, "--include-player")
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("downloaded as a tar", p.stdout)
            self.assertEqual(sorted(os.listdir(d + "/usb")),
                             ["README.txt", "custody", "evidence.cuep", "verify-package.sh"])
            self.assertFalse(os.path.exists(folder + ".tmp"))
            self.assertFalse(os.path.exists(folder + ".download"))
            self.assertEqual(os.stat(folder).st_mode & 0o7777, 0o755)
            self.assertEqual(os.stat(os.path.join(folder, "custody")).st_mode & 0o7777, 0o755)
            with open(CUSTODY, "rb") as f, open(os.path.join(folder, "custody"), "rb") as g:
                self.assertEqual(f.read(), g.read())   # the server's [https] player
            v = subprocess.run([os.path.join(folder, "custody"), "verify",
                                os.path.join(folder, "evidence.cuep"), "--password-file",
                                self.ppw, "--json"], capture_output=True, text=True,
                               timeout=300, stdin=subprocess.DEVNULL, start_new_session=True)
            self.assertEqual(v.returncode, 0, v.stderr)
            self.assertEqual(json.loads(v.stdout)["exporter"], "bob")
            # an existing folder is never written into
            p = run(*base, "--out", folder, "--include-player")
            self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
            self.assertIn("exists", p.stderr)
            # nor is a file where the tar would be downloaded: refused before anything
            # is asked of the server, and left as it was
            other = os.path.join(d, "usb2")
            with open(other + ".download", "w") as f:
                f.write("mine")
            p = run(*base, "--out", other, "--include-player")
            self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
            self.assertIn("usb2.download exists", p.stderr)
            with open(other + ".download") as f:
                self.assertEqual(f.read(), "mine")
            self.assertFalse(os.path.exists(other))
            # a profile that locks the player on refuses an export without it,
            # naming the setting; one that locks it off refuses --include-player
            for value, flag in (("on", []), ("off", ["--include-player"])):
                api_util.cli(s, "profile", "add", "--name", "p-" + value, "--set",
                             "include_player=" + value, "--lock", "include_player")
                api_util.cli(s, "profile", "assign", "--role", "exporters", "--name",
                             "p-" + value)
                out2 = os.path.join(d, "locked-" + value)
                p = run(*base, "--profile", "p-" + value, "--out", out2, *flag)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn("include_player", p.stderr)
                self.assertFalse(os.path.exists(out2))
            # another CA is not trusted
            other = Store(d, "other", encryption="none")
            p = run(*base, "--ca-file", os.path.join(other.dir, "tls", "ca.pem"), "--out",
                    os.path.join(d, "x.cuep"))
            self.assertEqual(p.returncode, 2)
            self.assertIn("--ca-file", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "x.cuep")))
            # a wrong login password
            bad = secret(d, "bad.pw", "Not-Bobs-Pass-1")
            p = run(*base[:7], "--password-file", bad, *base[9:], "--out",
                    os.path.join(d, "y.cuep"))
            self.assertEqual(p.returncode, 2)
            self.assertIn("bad_credentials", p.stderr)
            # a tampered range: exit 1 with the camera and the time
            segs = s.segments("cam1")
            flip(s.segment_path("cam1", segs[2][0]),
                 os.path.getsize(s.segment_path("cam1", segs[2][0])) // 2)
            p = run(*base, "--out", os.path.join(d, "z.cuep"))
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("cam1", p.stderr)
            self.assertIn(iso(segs[2][2]), p.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "z.cuep")))
        finally:
            api.stop()


if __name__ == "__main__":
    cutest.main()
