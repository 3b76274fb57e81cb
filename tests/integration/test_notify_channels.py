"""The SNMP and e-mail notification channels (lib/notify), driven through
`custody notify-test` against real receivers started here, on 127.0.0.1:

- snmptranslate (Debian's snmp) loads docs/CUSTODY-MIB.txt without a word on
  stderr, and its tree has every custody node;
- snmptrapd (Debian's snmptrapd), with its own configuration in a temporary
  directory, receives a v2c trap and a v3 inform (SHA + AES-128) and decodes
  them with the MIB: object names and values; a wrong v3 passphrase leaves
  the inform unacknowledged, which custody reports as retry; net-snmp in
  custody reads no configuration and writes no persistent state;
- aiosmtpd (Debian's python3-aiosmtpd) with a test CA made by openssl
  receives the mail over STARTTLS after AUTH, with the JPEG attached byte for
  byte; over smtps:// too; a server without STARTTLS is refused and sees no
  MAIL or AUTH; a server whose certificate the CA does not sign gets nothing.

aiosmtpd is installed for Debian's python3; under another python3 (a pyenv
shim first in PATH) the test starts itself again under /usr/bin/python3."""

import os
import sys

try:
    import aiosmtpd  # noqa: F401
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    raise

import email
import email.policy
import re
import socket
import subprocess
import time

import cutest
from cutest import run
from notify_util import SmtpServer, free_port, snmp_env, stop, wait_for, write_secret

from notify_util import MIBDIRS

NOTIFYSEND = os.environ.get("CU_NOTIFYSEND", "build/tests/integration/cu-notifysend")
AUTH_PASS = "auth-passphrase-1"
PRIV_PASS = "priv-passphrase-1"
MAIL_USER = "mailer"
MAIL_PASS = "mail-password-1"
OBJECTS = ("custodyEventCamera", "custodyEventType", "custodyEventSeverity", "custodyEventTime",
           "custodyEventDetail", "custodyEventId", "custodyEventSource", "custodyEventSite")


class Mib(cutest.TempDirTest):
    def test_snmptranslate_loads_the_mib_cleanly(self):
        env = snmp_env(self.tmp)
        # snmptranslate's own state directory (it says "Created directory" else)
        os.makedirs(os.path.join(env["SNMP_PERSISTENT_DIR"], "cert_indexes"))
        p = subprocess.run(["snmptranslate", "-M", MIBDIRS, "-m", "CUSTODY-MIB", "-Tp"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "", "snmptranslate reported errors or warnings")
        for name in OBJECTS + ("custodyEventRaised", "custodyEventCleared", "custodyEventOnce",
                               "custodyCompliance"):
            self.assertIn(name, p.stdout)
        p = subprocess.run(["snmptranslate", "-M", MIBDIRS, "-m", "CUSTODY-MIB", "-On",
                            "CUSTODY-MIB::custodyEventRaised", "CUSTODY-MIB::custodyEventSeverity"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.stderr, "")
        self.assertEqual(p.stdout.split(), [".1.3.6.1.4.1.32473.2631.0.1",
                                            ".1.3.6.1.4.1.32473.2631.1.4"])


class Snmp(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.env = snmp_env(self.tmp)
        self.port = free_port(socket.SOCK_DGRAM)
        conf = os.path.join(self.tmp, "snmptrapd.conf")
        with open(conf, "w") as f:
            f.write("authCommunity log public\n"
                    f"createUser custody SHA {AUTH_PASS} AES {PRIV_PASS}\n"
                    "authUser log custody\n")
        self.log = os.path.join(self.tmp, "trapd.log")
        self.trapd = subprocess.Popen(
            ["snmptrapd", "-f", "-Lf", self.log, "-C", "-c", conf, "-M", MIBDIRS,
             "-m", "CUSTODY-MIB", f"udp:127.0.0.1:{self.port}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.log) and "NET-SNMP version" in self.text(), 15,
                 "snmptrapd to start")
        self.community = write_secret(os.path.join(self.tmp, "community"), "public")
        self.auth = write_secret(os.path.join(self.tmp, "auth"), AUTH_PASS)
        self.priv = write_secret(os.path.join(self.tmp, "priv"), PRIV_PASS)
        # custody's net-snmp must read none of this and write nothing
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.cenv = dict(os.environ, HOME=self.home, SNMPCONFPATH=self.tmp,
                         SNMP_PERSISTENT_DIR=os.path.join(self.tmp, "custody-persist"))

    def tearDown(self):
        stop(self.trapd)
        super().tearDown()

    def text(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def custody(self, *args):
        return subprocess.run([cutest.CUSTODY, "notify-test", "--snmp", "127.0.0.1", "--port",
                               str(self.port), *args], capture_output=True, text=True,
                              env=self.cenv, timeout=120)

    def received(self, event_id):
        """The varbinds of the notification carrying event_id: {name: value}."""
        line = wait_for(lambda: next((ln for ln in self.text().splitlines()
                                      if event_id in ln), None), 15, f"the trap of {event_id}")
        found = {}
        for m in re.finditer(r"CUSTODY-MIB::(\w+)(?:\.0)? = (?:(\w+): )?([^\t]*)", line):
            found[m.group(1)] = m.group(3).strip()
        return found

    def assert_untouched(self):
        self.assertEqual(os.listdir(self.home), [], "net-snmp wrote into $HOME")
        self.assertFalse(os.path.exists(self.cenv["SNMP_PERSISTENT_DIR"]),
                         "net-snmp made its persistent directory")

    def test_v2c_trap(self):
        eid = "evt_" + "1" * 32
        p = self.custody("--community-file", self.community, "--id", eid, "--camera", "cam1",
                         "--type", "tamper.covered", "--severity", "major", "--phase", "raise",
                         "--detail", "lens covered on the gate camera", "--site", "Depot")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("v2c trap", p.stdout)
        got = self.received(eid)
        self.assertIn("OID: CUSTODY-MIB::custodyEventRaised", self.text())
        self.assertEqual(got["custodyEventCamera"], "cam1")
        self.assertEqual(got["custodyEventType"], "tamper.covered")
        self.assertEqual(got["custodyEventSeverity"], "major(3)")
        self.assertEqual(got["custodyEventDetail"], "lens covered on the gate camera")
        self.assertEqual(got["custodyEventId"], eid)
        self.assertEqual(got["custodyEventSite"], "Depot")
        self.assertRegex(got["custodyEventTime"], r"^\d{4}-\d{1,2}-\d{1,2},\d{1,2}:\d{1,2}:"
                                                  r"\d{1,2}\.\d,\+0:0$")
        self.assert_untouched()

    def test_v3_inform_acknowledged(self):
        eid = "evt_" + "2" * 32
        p = self.custody("--snmp-version", "3", "--user", "custody", "--auth-file", self.auth,
                         "--priv-file", self.priv, "--id", eid, "--camera", "cam2", "--type",
                         "camera.offline", "--severity", "critical", "--phase", "clear",
                         "--detail", "frames again")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("v3 inform", p.stdout)
        self.assertTrue(p.stdout.rstrip().endswith(": ok"), p.stdout)
        got = self.received(eid)
        self.assertIn("OID: CUSTODY-MIB::custodyEventCleared", self.text())
        self.assertEqual(got["custodyEventCamera"], "cam2")
        self.assertEqual(got["custodyEventType"], "camera.offline")
        self.assertEqual(got["custodyEventSeverity"], "critical(4)")
        self.assertEqual(got["custodyEventDetail"], "frames again")
        self.assert_untouched()

    def test_v3_wrong_passphrase_is_retry(self):
        wrong = write_secret(os.path.join(self.tmp, "wrong"), "not-the-passphrase")
        eid = "evt_" + "3" * 32
        p = self.custody("--snmp-version", "3", "--user", "custody", "--auth-file", wrong,
                         "--priv-file", self.priv, "--id", eid, "--timeout-ms", "500",
                         "--retries", "1")
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertIn(": retry: ", p.stderr)
        self.assertIn("not acknowledged", p.stderr)
        self.assertNotIn("not-the-passphrase", p.stderr + p.stdout)
        time.sleep(0.5)
        self.assertNotIn(eid, self.text())
        self.assertIn("Authentication failed for custody", self.text())

    def test_one_process_many_informs(self):
        """As the outbox sends: a changed passphrase takes effect at the next
        send of the same process (net-snmp's global user table is cleared),
        and sends from several threads at once all arrive."""
        p = subprocess.run([NOTIFYSEND, "127.0.0.1", str(self.port), "custody",
                            AUTH_PASS, PRIV_PASS, "wrong-passphrase", PRIV_PASS,
                            AUTH_PASS, PRIV_PASS], capture_output=True, text=True,
                           env=self.cenv, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual([ln.split()[:2] for ln in lines],
                         [["0", "ok"], ["1", "retry"], ["2", "ok"]], p.stdout)
        self.received("evt_seq00")
        self.received("evt_seq02")
        self.assertNotIn("evt_seq01", self.text())
        p = subprocess.run([NOTIFYSEND, "127.0.0.1", str(self.port), "custody",
                            AUTH_PASS, PRIV_PASS, "--threads", "6"], capture_output=True,
                           text=True, env=self.cenv, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(ln.split()[1] for ln in p.stdout.splitlines()), ["ok"] * 6,
                         p.stdout)
        for i in range(6):
            self.assertEqual(self.received(f"evt_thread{i:02d}")["custodyEventCamera"], "cam9")
        self.assert_untouched()

    def test_no_manager_is_retry(self):
        quiet = free_port(socket.SOCK_DGRAM)
        p = subprocess.run([cutest.CUSTODY, "notify-test", "--snmp", "127.0.0.1", "--port",
                            str(quiet), "--snmp-version", "3", "--user", "custody",
                            "--auth-file", self.auth, "--priv-file", self.priv,
                            "--timeout-ms", "300", "--retries", "0"],
                           capture_output=True, text=True, env=self.cenv, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn(": retry: ", p.stderr)

    def test_bad_input_refused(self):
        short = write_secret(os.path.join(self.tmp, "short"), "short")
        cases = [
            (("--snmp-version", "3", "--user", "custody", "--auth-file", short, "--priv-file",
              self.priv), "refused: auth passphrase: 8 to 256 bytes"),
            (("--community-file", self.community, "--camera", "bad camera"), "refused: camera"),
            (("--community-file", self.community, "--detail", "two\nlines"), "refused: detail"),
            (("--community-file", self.community, "--severity", "urgent"), "refused: severity"),
            (("--community-file", self.community, "--snmp-version", "1"), "--snmp-version: 2c or 3"),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                p = self.custody(*args)
                self.assertEqual(p.returncode, 2, p.stdout)
                self.assertIn(words, p.stderr)
        os.chmod(self.community, 0o644)
        p = self.custody("--community-file", self.community)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--community-file", p.stderr)


class Mail(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.ca, self.cert, self.key = self.make_ca("ca")
        self.still = os.path.join(self.tmp, "still.jpg")
        self.jpeg = b"\xff\xd8\xff\xe0" + os.urandom(3000) + b"\xff\xd9"
        with open(self.still, "wb") as f:
            f.write(self.jpeg)
        self.pw = write_secret(os.path.join(self.tmp, "mailpw"), MAIL_PASS)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            stop(s)
        super().tearDown()

    def openssl(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    def make_ca(self, name):
        """A CA and a server certificate for 127.0.0.1 it signs."""
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        ca, cakey = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
        cert, key, csr = (os.path.join(d, f) for f in ("srv.pem", "srv.key", "srv.csr"))
        ext = os.path.join(d, "ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", cakey, "-out", ca, "-days", "2", "-subj",
                     f"/CN=custody test {name}")
        self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
        self.openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
                     "-out", cert, "-days", "2", "-extfile", ext)
        return ca, cert, key

    def server(self, mode, cert=None, key=None):
        srv = SmtpServer(self.tmp, mode, cert or self.cert, key or self.key, MAIL_USER, MAIL_PASS)
        self.servers.append(srv.p)
        return srv.port, srv.out

    def send(self, url, *extra, ca=None, user=True):
        args = [cutest.CUSTODY, "notify-test", "--email", url, "--ca-file", ca or self.ca,
                "--from", "custody@example.org", "--to", "ops@example.org",
                "--to", "security@example.org"]
        if user:
            args += ["--user", MAIL_USER, "--password-file", self.pw]
        return subprocess.run(args + list(extra), capture_output=True, text=True, timeout=120)

    def commands(self, out):
        path = os.path.join(out, "commands.txt")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()

    def message(self, out):
        path = wait_for(lambda: next((os.path.join(out, f) for f in os.listdir(out)
                                      if f.endswith(".eml")), None), 15, "the mail")
        with open(path, "rb") as f:
            return email.message_from_bytes(f.read(), policy=email.policy.default)

    def check_event_mail(self, msg, eid):
        self.assertEqual(msg["Subject"], "[custody] major tamper.covered on cam1 (raise)")
        self.assertEqual(msg["Message-ID"], f"<custody.{eid}@example.org>")
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        parts = list(msg.iter_parts())
        self.assertEqual(len(parts), 2)
        text = parts[0].get_content()
        self.assertEqual(parts[0].get_content_type(), "text/plain")
        for line in ("Event:     tamper.covered (raise)", "Severity:  major", "Camera:    cam1",
                     "Detail:    Objektiv verdeckt \u2014 Tor 3", f"Event id:  {eid}"):
            self.assertIn(line, text)
        self.assertRegex(text, r"Time:      \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC\)")
        self.assertEqual(parts[1].get_content_type(), "image/jpeg")
        self.assertEqual(parts[1].get_filename(), f"custody-{eid}.jpg")
        self.assertEqual(parts[1].get_content(), self.jpeg)

    def event_args(self, eid):
        return ("--id", eid, "--camera", "cam1", "--type", "tamper.covered", "--severity",
                "major", "--phase", "raise", "--detail", "Objektiv verdeckt \u2014 Tor 3",
                "--still", self.still)

    def test_starttls_with_auth_and_still(self):
        port, out = self.server("starttls")
        eid = "evt_" + "a" * 32
        p = self.send(f"smtp://127.0.0.1:{port}", *self.event_args(eid))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(": ok", p.stdout)
        self.check_event_mail(self.message(out), eid)
        cmds = self.commands(out)
        self.assertIn("AUTH PLAIN ok=True tls=True", cmds)
        self.assertIn("MAIL custody@example.org tls=True", cmds)
        self.assertEqual([c for c in cmds if "tls=False" in c], ["EHLO tls=False"])

    def test_smtps(self):
        port, out = self.server("smtps")
        eid = "evt_" + "b" * 32
        p = self.send(f"smtps://127.0.0.1:{port}", *self.event_args(eid))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.check_event_mail(self.message(out), eid)

    def test_no_starttls_is_refused_and_nothing_in_clear(self):
        port, out = self.server("plain")
        p = self.send(f"smtp://127.0.0.1:{port}", *self.event_args("evt_" + "c" * 32))
        self.assertEqual(p.returncode, 2)
        self.assertIn(": refused: ", p.stderr)
        self.assertIn("STARTTLS", p.stderr)
        cmds = self.commands(out)
        self.assertFalse([c for c in cmds if not c.startswith("EHLO")], cmds)
        self.assertFalse([f for f in os.listdir(out) if f.endswith(".eml")])

    def test_untrusted_certificate_is_retry(self):
        other_ca, _, _ = self.make_ca("other")
        port, out = self.server("starttls")
        p = self.send(f"smtp://127.0.0.1:{port}", *self.event_args("evt_" + "d" * 32),
                      ca=other_ca)
        self.assertEqual(p.returncode, 2)
        self.assertIn(": retry: ", p.stderr)
        self.assertFalse([c for c in self.commands(out) if c.startswith(("AUTH", "MAIL"))])

    def test_wrong_password_is_refused(self):
        port, out = self.server("starttls")
        bad = write_secret(os.path.join(self.tmp, "badpw"), "not-the-password")
        args = [cutest.CUSTODY, "notify-test", "--email", f"smtp://127.0.0.1:{port}",
                "--ca-file", self.ca, "--from", "custody@example.org", "--to",
                "ops@example.org", "--user", MAIL_USER, "--password-file", bad]
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 2)
        self.assertIn(": refused: the server answered 535", p.stderr)
        self.assertNotIn("not-the-password", p.stderr)

    def test_header_injection_refused(self):
        port, out = self.server("starttls")
        cases = [
            (("--camera", "cam1\r\nBcc: x@evil.example"), "camera"),
            (("--type", "a\nBcc: x@evil.example"), "event type"),
            (("--detail", "line\r\nBcc: x@evil.example"), "detail"),
            (("--to", "a@b.example\r\nBcc: x@evil.example"), "recipient 3"),
            (("--from", "<a@b.example>"), "from"),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                extra = list(args)
                if args[0] == "--from":
                    p = subprocess.run([cutest.CUSTODY, "notify-test", "--email",
                                        f"smtp://127.0.0.1:{port}", "--ca-file", self.ca,
                                        "--from", args[1], "--to", "ops@example.org"],
                                       capture_output=True, text=True, timeout=60)
                else:
                    p = self.send(f"smtp://127.0.0.1:{port}", *extra)
                self.assertEqual(p.returncode, 2, p.stdout)
                self.assertIn(": refused: " + words, p.stderr)
        self.assertEqual(self.commands(out), [], "a refused notice must not even connect")

    def test_bad_urls_refused(self):
        for url in ("http://127.0.0.1:25", "smtp://user:pw@127.0.0.1", "smtp://127.0.0.1/x?y",
                    "smtp://127.0.0.1:99999", "smtp://"):
            with self.subTest(url=url):
                p = self.send(url, user=False)
                self.assertEqual(p.returncode, 2)
                self.assertIn(": refused: url", p.stderr)


if __name__ == "__main__":
    cutest.main()
