"""The HTTPS certificate and the site TLS CA (docs/formats/tls.md): made by
custody init, kept or issued again by custody tls, checked with the openssl
command; bad names and wrong passwords refused with the store unchanged."""

import hashlib
import os
import shutil
import stat
import subprocess

import cutest
from cutest import Store, run


def snapshot(d):
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def fields(out):
    """The `custody tls` report as {label: value}: labels fill 13 columns,
    continuation lines are indented and appended to the value above."""
    d, last = {}, None
    for line in out.splitlines():
        if line.startswith(" "):
            d[last] += "\n" + line.strip()
        else:
            last = line[:13].strip()
            d[last] = line[13:].strip()
    return d


class Tls(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.s = Store(self.tmp, "st", encryption="none")
        self.tls = os.path.join(self.s.dir, "tls")
        self.ca = os.path.join(self.tls, "ca.pem")
        self.cert = os.path.join(self.tls, "server.pem")

    def custody_tls(self, *names, check=0):
        args = ["tls", "--store", self.s.dir, "--password-file", self.s.pw]
        for n in names:
            args += ["--name", n]
        return run(*args, check=check)

    def test_made_at_init(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.tls).st_mode), 0o700)
        self.assertEqual(sorted(os.listdir(self.tls)),
                         ["ca-key.bin", "ca.pem", "server-key.bin", "server.pem"])
        for f in os.listdir(self.tls):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.tls, f)).st_mode), 0o600)
        for f in ("ca-key.bin", "server-key.bin"):
            with open(os.path.join(self.tls, f), "rb") as fh:
                data = fh.read()
            self.assertEqual(data[:8], b"CUTLSK01")
            self.assertNotIn(b"PRIVATE KEY", data)
        p = openssl("verify", "-x509_strict", "-purpose", "sslserver", "-verify_hostname",
                    "localhost", "-CAfile", self.ca, self.cert)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        text = openssl("x509", "-noout", "-text", "-in", self.cert).stdout
        for want in ("DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
                     "TLS Web Server Authentication", "ecdsa-with-SHA256"):
            self.assertIn(want, text)
        ca_text = openssl("x509", "-noout", "-text", "-in", self.ca).stdout
        self.assertIn("CA:TRUE, pathlen:0", ca_text)
        self.assertIn("custody site TLS CA", ca_text)

    def test_report_reuse_and_reissue(self):
        before = snapshot(self.s.dir)
        p = self.custody_tls()
        f = fields(p.stdout)
        self.assertIn("(unchanged)", f["certificate"])
        self.assertEqual(snapshot(self.s.dir), before)
        fp = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", self.ca).stdout
        self.assertIn("SHA-256 " + fp.strip().split("=", 1)[1].lower(), f["TLS CA"])
        self.assertIn(self.ca, f["TLS CA"])
        self.assertTrue(f["names"].startswith("localhost, 127.0.0.1, ::1"), f["names"])
        self.assertRegex(f["expires"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        p = self.custody_tls("Cam.Example.org", "10.1.2.3", "2001:db8::7")
        f = fields(p.stdout)
        self.assertIn("(issued now)", f["certificate"])
        self.assertEqual(f["names"], "cam.example.org, 10.1.2.3, 2001:db8::7")
        p = openssl("verify", "-x509_strict", "-purpose", "sslserver", "-verify_hostname",
                    "cam.example.org", "-verify_ip", "10.1.2.3", "-CAfile", self.ca, self.cert)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotEqual(openssl("verify", "-verify_hostname", "localhost", "-CAfile",
                                    self.ca, self.cert).returncode, 0)
        # the same names again, in another order: nothing issued
        after = snapshot(self.s.dir)
        p = self.custody_tls("2001:DB8::7", "cam.example.org", "10.1.2.3")
        self.assertIn("(unchanged)", fields(p.stdout)["certificate"])
        self.assertEqual(snapshot(self.s.dir), after)
        # the CA stayed the same throughout
        self.assertEqual(before["tls/ca.pem"], after["tls/ca.pem"])

    def test_refusals_change_nothing(self):
        before = snapshot(self.s.dir)
        for bad, word in (("exa_mple.com", "exa_mple.com"), ("*.example.org", "wildcard"),
                          ("1.2.3.256", "1.2.3.256"), ("fe80::1%eth0", "IPv6")):
            p = self.custody_tls(bad, check=2)
            self.assertIn(word, p.stderr)
            self.assertEqual(p.stdout, "")
        p = self.custody_tls(*[f"h{i}.example" for i in range(17)], check=2)
        self.assertIn("--name", p.stderr)
        wrong = os.path.join(self.tmp, "wrong.pw")
        with open(wrong, "w") as fh:
            fh.write("not-the-password-at-all\n")
        os.chmod(wrong, 0o600)
        p = run("tls", "--store", self.s.dir, "--password-file", wrong, check=2)
        self.assertIn("wrong password", p.stderr)
        # a damaged key file is named, and left for the operator to see
        key = os.path.join(self.tls, "server-key.bin")
        with open(key, "r+b") as fh:
            fh.seek(40)
            b = fh.read(1)
            fh.seek(40)
            fh.write(bytes([b[0] ^ 1]))
        damaged = snapshot(self.s.dir)
        p = self.custody_tls(check=2)
        self.assertIn("server-key.bin", p.stderr)
        self.assertEqual(snapshot(self.s.dir), damaged)
        self.assertEqual({k: v for k, v in damaged.items() if k != "tls/server-key.bin"},
                         {k: v for k, v in before.items() if k != "tls/server-key.bin"})

    def test_store_made_before_tls(self):
        src = os.path.join(cutest.DATA, "store-vector", "none")
        self.assertFalse(os.path.exists(os.path.join(src, "tls")))
        d = os.path.join(self.tmp, "vector")
        shutil.copytree(src, d)
        pw = os.path.join(self.tmp, "vector.pw")
        with open(pw, "w") as fh:
            fh.write("custody-test-vector-password\n")
        os.chmod(pw, 0o600)
        p = run("tls", "--store", d, "--password-file", pw, check=0)
        self.assertIn("(issued now)", fields(p.stdout)["certificate"])
        p = openssl("verify", "-CAfile", os.path.join(d, "tls", "ca.pem"),
                    os.path.join(d, "tls", "server.pem"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        run("verify", "--store", d, "--password-file", pw, check=0)
        self.assertFalse(os.path.exists(os.path.join(src, "tls")))


if __name__ == "__main__":
    cutest.main()
