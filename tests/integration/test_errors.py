"""Bad input (issue: "what must be shown" 3): wrong password, missing store,
corrupt catalogue, a file that is not media, bad arguments: each a clear
message naming what is wrong, exit 2, and the store left exactly as it was."""

import hashlib
import os
import signal
import subprocess
import time

import cutest
from cutest import Store, run

TESTWRITER = os.environ.get("CU_TESTWRITER", "build/tests/integration/cu-testwriter")


def snapshot(d):
    """{relative path: sha256} of every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = hashlib.sha256(fh.read()).hexdigest()
    return out


class Errors(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.clip = os.path.join(cutest.DATA, "media", "h264.mp4")
        self.s = Store(self.tmp, "st", encryption="strong", segment_seconds=2)
        self.s.import_clip("cam1", self.clip)
        self.before = snapshot(self.s.dir)

    def assert_unchanged(self):
        self.assertEqual(snapshot(self.s.dir), self.before)

    def assert_error(self, p, *words):
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")
        for w in words:
            self.assertIn(w, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()) >= 1, True)

    def bad_pw(self):
        path = os.path.join(self.tmp, "wrong.pw")
        with open(path, "w") as f:
            f.write("not-the-password-at-all\n")
        os.chmod(path, 0o600)
        return path

    def test_wrong_password(self):
        pw = self.bad_pw()
        for args in (["verify", "--store", self.s.dir, "--password-file", pw],
                     ["import", "--store", self.s.dir, "--camera", "cam1", "--password-file", pw,
                      self.clip]):
            p = run(*args)
            self.assert_error(p, "wrong password")
            self.assertIn("keyring.json", p.stderr)
        self.assert_unchanged()

    def test_missing_store(self):
        missing = os.path.join(self.tmp, "nope")
        for cmd in (["verify"], ["info"], ["import", "--camera", "c", "--password-file",
                                           self.s.pw]):
            args = cmd[:1] + ["--store", missing] + cmd[1:]
            if cmd[0] == "import":
                args.append(self.clip)
            p = run(*args)
            self.assert_error(p, missing)
        self.assertFalse(os.path.exists(missing))

    def test_not_a_store(self):
        d = os.path.join(self.tmp, "plain")
        os.mkdir(d)
        p = run("info", "--store", d)
        self.assert_error(p, "not a custody store")

    def test_corrupt_catalogue(self):
        db = os.path.join(self.s.dir, "catalog.db")
        with open(db, "r+b") as f:
            f.seek(0)
            f.write(b"this is not a database" * 10)
        self.before = snapshot(self.s.dir)
        for args in (["verify", "--store", self.s.dir, "--password-file", self.s.pw],
                     ["info", "--store", self.s.dir],
                     ["import", "--store", self.s.dir, "--camera", "cam1", "--password-file",
                      self.s.pw, self.clip]):
            p = run(*args)
            self.assert_error(p, "catalog")
        self.assert_unchanged()

    def test_corrupt_keyring(self):
        with open(os.path.join(self.s.dir, "keyring.json"), "w") as f:
            f.write("{ not json")
        self.before = snapshot(self.s.dir)
        p = run("verify", "--store", self.s.dir, "--password-file", self.s.pw)
        self.assert_error(p, "keyring.json", "line 1")
        self.assert_unchanged()

    def test_not_media(self):
        for name in ("not-media.bin", "text.txt"):
            path = os.path.join(cutest.DATA, "media", name)
            p = run("import", "--store", self.s.dir, "--camera", "cam2", "--password-file",
                    self.s.pw, path)
            self.assert_error(p, name)
        p = run("import", "--store", self.s.dir, "--camera", "cam2", "--password-file",
                self.s.pw, os.path.join(self.tmp, "absent.mp4"))
        self.assert_error(p, "absent.mp4")
        self.assert_unchanged()
        info = run("info", "--store", self.s.dir, "--json", check=0)
        self.assertNotIn("cam2", info.stdout)

    def test_verify_and_info_change_nothing(self):
        run("verify", "--store", self.s.dir, "--password-file", self.s.pw, check=0)
        run("info", "--store", self.s.dir, check=0)
        run("info", "--store", self.s.dir, "--json", check=0)
        self.assert_unchanged()

    def test_password_file_permissions(self):
        os.chmod(self.s.pw, 0o644)
        p = run("verify", "--store", self.s.dir, "--password-file", self.s.pw)
        self.assert_error(p, "readable or writable by others", "chmod 600")
        os.chmod(self.s.pw, 0o600)

    def test_no_password_and_no_terminal(self):
        p = subprocess.run([cutest.CUSTODY, "verify", "--store", self.s.dir],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           start_new_session=True)
        self.assert_error(p, "no --password-file given and no terminal")

    def test_bad_arguments(self):
        cases = [
            (["verify"], "--store DIR is required"),
            (["verify", "--store", self.s.dir, "--bogus"], "--bogus"),
            (["verify", "--store", self.s.dir, "--from", "yesterday"], "--from"),
            (["verify", "--store", self.s.dir, "--from", "2026-01-01T00:00:00"], "time zone"),
            (["verify", "--store", self.s.dir, "--from", "2026-02-30T00:00:00Z"], "no such date"),
            (["verify", "--store", self.s.dir, "--from", "2026-01-02T00:00:00Z", "--to",
              "2026-01-01T00:00:00Z"], "--to is before --from"),
            (["verify", "--store", self.s.dir, "--camera", "../etc"], "--camera"),
            (["init", "--store", os.path.join(self.tmp, "x"), "--encryption", "rot13"],
             "--encryption \"rot13\""),
            (["init", "--store", os.path.join(self.tmp, "x"), "--segment-seconds", "0"],
             "--segment-seconds"),
            (["import", "--store", self.s.dir, "--camera", "c"], "give one media FILE"),
            (["import", "--store", self.s.dir, "--camera", "c d", self.clip], "camera name"),
            (["nonsense"], "unknown command"),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                self.assert_error(run(*args), words)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x")))
        self.assert_unchanged()

    def test_init_refuses(self):
        p = run("init", "--store", self.s.dir, "--password-file", self.s.pw)
        self.assert_error(p, "not empty")
        short = os.path.join(self.tmp, "short.pw")
        with open(short, "w") as f:
            f.write("short\n")
        os.chmod(short, 0o600)
        d = os.path.join(self.tmp, "new")
        p = run("init", "--store", d, "--password-file", short)
        self.assert_error(p, "12 to 1024 bytes")
        self.assertFalse(os.path.exists(d))
        self.assert_unchanged()

    def test_password_change(self):
        new = os.path.join(self.tmp, "new.pw")
        with open(new, "w") as f:
            f.write("a-completely-new-store-password\n")
        os.chmod(new, 0o600)
        p = run("passwd", "--store", self.s.dir, "--password-file", self.bad_pw(),
                "--new-password-file", new)
        self.assert_error(p, "wrong password")
        self.assert_unchanged()
        run("passwd", "--store", self.s.dir, "--password-file", self.s.pw,
            "--new-password-file", new, check=0)
        after = snapshot(self.s.dir)
        changed = {k for k in after if after[k] != self.before.get(k)}
        self.assertEqual(changed, {"keyring.json"})      # no media re-encrypted
        p = run("verify", "--store", self.s.dir, "--password-file", self.s.pw)
        self.assert_error(p, "wrong password")
        p = run("verify", "--store", self.s.dir, "--password-file", new, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('"result": "intact"', p.stdout)

    def test_unknown_camera(self):
        p = run("verify", "--store", self.s.dir, "--password-file", self.s.pw, "--camera",
                "ghost")
        self.assert_error(p, "no camera named \"ghost\"")

    def test_second_writer_refused(self):
        w = subprocess.Popen([TESTWRITER, self.s.dir, self.s.pw, "cam1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(w.stdout.readline().strip(), "ready")
            p = run("import", "--store", self.s.dir, "--camera", "cam1", "--password-file",
                    self.s.pw, self.clip)
            self.assert_error(p, "being recorded by another process")
            info = run("info", "--store", self.s.dir, check=0)
            self.assertIn("[recording]", info.stdout)
        finally:
            w.send_signal(signal.SIGTERM)
            w.communicate(timeout=30)
        self.assertEqual(w.returncode, 0)
        code, rep = self.s.verify()
        self.assertEqual(code, 0, rep)


if __name__ == "__main__":
    cutest.main()
