"""Notifications end to end (issue 14): custodyd recording a simulated camera,
with one rule sending a camera fault to every kind of target at once, each a
real receiver started here on 127.0.0.1 and stopped by its PID:

- Debian's snmptrapd twice: one accepts a v2c trap (community), the other a
  v3 inform (USM SHA + AES, keyed to its own engine ID); both decode with the
  shipped MIB (docs/CUSTODY-MIB.txt and docs/mibs-base);
- Debian's aiosmtpd (smtp_server.py) over STARTTLS with AUTH, its
  certificate from a test CA made with openssl;
- an HTTPS webhook receiver that checks the HMAC and Ed25519 signatures
  (notify_util.Receiver, shared with test_notify.py).

Every receiver must get the raise and the clear with the camera, the event,
the severity, the time and the text; the e-mail carries the still when the
event has one. The fault is TRIGGER below: a covered lens (camsim --tamper,
"cover", seen by custodyd's tamper analysis, whose raise carries a still);
the camera going offline (camsim stall) is the other fault the table
holds.

A flipped frame in the recording reaches the webhook as integrity.failed
with the camera and the time of the first failed segment.

Another test needs no camera: a v3 inform to a port where no manager
listens, and a mail to a port where no server listens, stay pending in the
outbox and are tried again, then delivered when snmptrapd and aiosmtpd
start on those ports.

Ed25519 and aiosmtpd come from Debian's python3-cryptography and
python3-aiosmtpd: under another python3 (a pyenv shim first in PATH) the
test starts itself again under /usr/bin/python3."""

import os
import sys

if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
    os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])

import base64
import socket
import sqlite3
import time

import api_util
import cutest
import test_integrity_watch as tiw
import daemon_util as du
from cutest import Store, parse_iso
from notify_util import (Receiver, SmtpServer, Trapd, admin_token, free_port, wait_for,
                         write_secret)

# The fault that raises and clears.
TRIGGERS = {
    "camera.offline": {
        "sim": (), "daemon": {}, "settle_s": 0, "raise": "stall cam1", "clear": "resume cam1",
        "clear_type": "camera.online", "source": "custodyd", "still": False},
    "tamper.covered": {
        "sim": ("--tamper", "--fps", "10", "--gop", "10"),
        "daemon": {"tamper": "yes", "tamper_learn": "5s", "tamper_interval": "1s",
                   "tamper_persistence": "3s"},
        "settle_s": 8, "raise": "cover cam1", "clear": "clear cam1",
        "clear_type": "tamper.covered", "source": "analysis", "still": True},
}
TRIGGER = "tamper.covered"
T = TRIGGERS[TRIGGER]

SECRET = base64.b64encode(b"e2e-webhook-secret-0123456789abc").decode()
COMMUNITY = "e2e-community"
USER = "custody"
AUTH_PASS = "e2e-auth-passphrase"
PRIV_PASS = "e2e-priv-passphrase"
MAIL_USER = "mailer"
MAIL_PASS = "e2e-mail-password"
SITE = "e2e site"
SEVERITY_NUM = {"info": 1, "warning": 2, "major": 3, "critical": 4}


def date_and_time(us):
    """snmptrapd's display of a CUSTODY-MIB DateAndTime (UTC, tenths)."""
    t = time.gmtime(us // 1_000_000)
    return (f"{t.tm_year}-{t.tm_mon}-{t.tm_mday},{t.tm_hour}:{t.tm_min}:{t.tm_sec}."
            f"{us % 1_000_000 // 100_000},+0:0")


class NotifyE2E(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.procs = []
        self.pki = du.PKI(self.tmp)
        self.secret_file = write_secret(os.path.join(self.tmp, "ops.secret"), "whsec_" + SECRET)
        self.community = write_secret(os.path.join(self.tmp, "community"), COMMUNITY)
        self.auth = write_secret(os.path.join(self.tmp, "auth"), AUTH_PASS)
        self.priv = write_secret(os.path.join(self.tmp, "priv"), PRIV_PASS)
        self.mailpw = write_secret(os.path.join(self.tmp, "mailpw"), MAIL_PASS)
        self.rx = Receiver(self.pki, SECRET)

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        self.rx.stop()
        super().tearDown()

    def keep(self, p):
        self.procs.append(p)
        return p

    def sections(self, trap2c_port, trap3_port, smtp_port, events, timeout="2s", retries="1"):
        return (f"\n[notify]\nsite = {SITE}\ngive_up = 1h\n"
                f"\n[webhook ops]\nurl = https://127.0.0.1:{self.rx.port}/signed\n"
                f"ca = {self.pki.ca}\nsecret_file = {self.secret_file}\ntimeout = 3s\n"
                f"\n[snmp noc]\nhost = 127.0.0.1\nport = {trap2c_port}\nversion = 2c\n"
                f"community_file = {self.community}\n"
                f"\n[snmp nms]\nhost = 127.0.0.1\nport = {trap3_port}\nversion = 3\n"
                f"user = {USER}\nauth_passphrase_file = {self.auth}\n"
                f"priv_passphrase_file = {self.priv}\ntimeout = {timeout}\nretries = {retries}\n"
                f"\n[email security]\nurl = smtp://127.0.0.1:{smtp_port}\nca = {self.pki.ca}\n"
                f"user = {MAIL_USER}\npassword_file = {self.mailpw}\n"
                f"from = custody@example.org\nto = security@example.org, ops@example.org\n"
                f"\n[rule fault]\nevents = {events}\ncameras = *\n"
                f"actions = webhook:ops, snmp:noc, snmp:nms, email:security\n")

    def outbox(self, store):
        db = sqlite3.connect(os.path.join(store.dir, "events.db"))
        try:
            return db.execute("SELECT id, target, state, attempts, error, type FROM outbox"
                              " ORDER BY created_us").fetchall()
        finally:
            db.close()

    # ---- what each receiver must show of an event ----

    def check_webhook(self, ev):
        bodies = [b for b in self.rx.delivered("/signed").values()
                  if b["type"] == ev["event"] and b["phase"] == ev["phase"]]
        self.assertEqual(len(bodies), 1, self.rx.attempts)
        b = bodies[0]
        self.assertEqual((b["camera"], b["severity"], b["source"], b["detail"], b["site"]),
                         ("cam1", ev["severity"], ev["source"], ev["detail"], SITE))
        self.assertEqual(parse_iso(b["time"]), parse_iso(ev["time"]))

    def check_trap(self, trapd, ev):
        name = {"raise": "custodyEventRaised", "clear": "custodyEventCleared"}[ev["phase"]]
        got = [t for t in trapd.traps() if t["notification"] == name and
               t.get("custodyEventType") == ev["event"]]
        self.assertEqual(len(got), 1, trapd.text())
        t = got[0]
        self.assertEqual(t["custodyEventCamera"], "cam1")
        self.assertEqual(t["custodyEventSeverity"],
                         f"{ev['severity']}({SEVERITY_NUM[ev['severity']]})")
        self.assertEqual(t["custodyEventTime"], date_and_time(parse_iso(ev["time"])))
        self.assertEqual(t["custodyEventDetail"], ev["detail"][:255])
        self.assertEqual(t["custodyEventSource"], ev["source"])
        self.assertEqual(t["custodyEventSite"], SITE)
        self.assertTrue(t["custodyEventId"].startswith("evt_"), t)

    def check_mail(self, smtp, ev, still):
        subject = f"[custody] {ev['severity']} {ev['event']} on cam1 ({ev['phase']})"
        msgs = [m for m in smtp.messages() if m["Subject"] == subject]
        self.assertEqual(len(msgs), 1, [m["Subject"] for m in smtp.messages()])
        m = msgs[0]
        for rcpt in ("security@example.org", "ops@example.org"):
            self.assertIn(rcpt, str(m["To"]))
        parts = list(m.iter_parts())
        text = parts[0].get_content()
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(parse_iso(ev["time"]) // 1_000_000))
        for line in (f"Event:     {ev['event']} ({ev['phase']})", f"Severity:  {ev['severity']}",
                     "Camera:    cam1", f"Time:      {when} (UTC)", f"Detail:    {ev['detail']}",
                     f"Source:    {ev['source']}", f"Site:      {SITE}"):
            self.assertIn(line, text)
        jpegs = [p for p in parts if p.get_content_type() == "image/jpeg"]
        if still:
            self.assertEqual(len(jpegs), 1, "the event's still is not attached")
            self.assertEqual(jpegs[0].get_content()[:3], b"\xff\xd8\xff")
        else:
            self.assertEqual(jpegs, [], "a still attached to an event that has none")

    def test_1_fault_to_every_target(self):
        trap2c = self.keep(Trapd(self.tmp, "trap2c", community=COMMUNITY))
        trap3 = self.keep(Trapd(self.tmp, "trap3", user=USER, auth=AUTH_PASS, priv=PRIV_PASS))
        smtp = self.keep(SmtpServer(self.tmp, "starttls", self.pki.cert, self.pki.key, MAIL_USER,
                                    MAIL_PASS))
        sim = self.keep(du.Camsim(self.tmp, cameras=1, extra=T["sim"]))
        store = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        a = api_util.Api(self.tmp, store, cameras={"cam1": {"url": sim.url(1)}},
                         daemon_opts=T["daemon"])
        with open(a.daemon.conf, "a") as f:
            f.write(self.sections(trap2c.port, trap3.port, smtp.port, TRIGGER))
        self.keep(a)
        a.start()
        self.rx.learn_key(a, admin_token(a, self.tmp))
        d = a.daemon
        d.wait_event("camera.online", "cam1")
        time.sleep(T["settle_s"])
        sim.cmd(T["raise"])
        raised, _ = d.wait_event(TRIGGER, "cam1", timeout=30)
        self.assertEqual(raised["phase"], "raise")
        self.assertEqual(raised["source"], T["source"])
        sim.cmd(T["clear"])

        def the_clear():
            return next((e for e in d.events_list()
                         if e["event"] == T["clear_type"] and e.get("camera") == "cam1" and
                         e["phase"] == "clear" and parse_iso(e["time"]) > parse_iso(raised["time"])),
                        None)
        cleared = wait_for(the_clear, 40, "the clear")
        # every notice delivered: 2 events x 4 targets
        rows = wait_for(lambda: (lambda r: len(r) == 8 and all(x[2] == 1 for x in r) and r)(
            self.outbox(store)), 60, f"8 delivered notices (outbox: {self.outbox(store)})")
        self.assertEqual(sorted(r[1] for r in rows),
                         sorted(["webhook:ops", "snmp:noc", "snmp:nms", "email:security"] * 2))
        for ev in (raised, cleared):
            with self.subTest(phase=ev["phase"]):
                self.check_webhook(ev)
                self.check_trap(trap2c, ev)
                self.check_trap(trap3, ev)
                self.check_mail(smtp, ev, T["still"] and ev["phase"] == "raise")
        self.assertEqual(self.rx.bad, [], "webhook signatures")
        # the mail went only inside TLS, after AUTH
        cmds = smtp.commands()
        self.assertIn("AUTH PLAIN ok=True tls=True", cmds)
        self.assertEqual([c for c in cmds if "tls=False" in c], ["EHLO tls=False"] * 2, cmds)
        # the secrets are nowhere in custodyd's log
        log = d.read_log()
        for secret in (COMMUNITY, AUTH_PASS, PRIV_PASS, MAIL_PASS, SECRET):
            self.assertNotIn(secret, log)

    def test_2_unacknowledged_stays_and_is_retried(self):
        trap_port = free_port(socket.SOCK_DGRAM)
        smtp_port = free_port()
        store = Store(self.tmp, "st", encryption="none")
        a = api_util.Api(self.tmp, store, cameras={})
        with open(a.daemon.conf, "a") as f:
            # no v2c manager either: a trap is OK once sent, whoever listens
            f.write(self.sections(free_port(socket.SOCK_DGRAM), trap_port, smtp_port,
                                  "https.listening", timeout="300ms", retries="0"))
        self.keep(a)
        a.start()

        def tries(target):
            return next((r for r in self.outbox(store) if r[1] == target), None)

        # no manager: the inform is not acknowledged; no server: no mail; both
        # stay pending and are tried again with back-off (1 s, 2 s, ...)
        for target in ("snmp:nms", "email:security"):
            row = wait_for(lambda: (lambda r: r and r[3] >= 2 and r)(tries(target)), 30,
                           f"two attempts to {target}")
            self.assertEqual(row[2], 0, f"{target} must stay pending: {row}")
        self.assertIn("not acknowledged", tries("snmp:nms")[4])
        self.assertNotEqual(tries("email:security")[4], "")
        self.assertEqual(tries("snmp:noc")[2], 1, "a v2c trap is delivered once sent")
        # the receivers come: the next attempt delivers, the notice is done
        trapd = self.keep(Trapd(self.tmp, "late", port=trap_port, user=USER, auth=AUTH_PASS,
                                priv=PRIV_PASS))
        smtp = self.keep(SmtpServer(self.tmp, "starttls", self.pki.cert, self.pki.key, MAIL_USER,
                                    MAIL_PASS, port=smtp_port))
        for target in ("snmp:nms", "email:security"):
            wait_for(lambda: tries(target)[2] == 1, 60, f"{target} delivered")
        got = [t for t in trapd.traps() if t.get("custodyEventType") == "https.listening"]
        self.assertEqual(len(got), 1, trapd.text())
        self.assertEqual(got[0]["notification"], "custodyEventOnce")
        self.assertEqual(got[0]["custodyEventCamera"], "")
        msgs = smtp.messages()
        self.assertEqual([m["Subject"] for m in msgs], ["[custody] info https.listening (once)"])
        self.assertGreaterEqual(tries("snmp:nms")[3], 3)

    def test_4_tampered_recording_is_notified(self):
        # a frame flipped on disk while custodyd records: the integrity watch
        # raises integrity.failed with the camera and the time of the first
        # failed segment, and the rule sends it on (test_integrity_watch
        # covers the watch itself)
        sim = self.keep(du.Camsim(self.tmp, cameras=1))
        store = Store(self.tmp, "st", encryption="strong", segment_seconds=2)
        a = api_util.Api(self.tmp, store, cameras={"cam1": {"url": sim.url(1)}},
                         daemon_opts={"verify_after_seal": "yes", "verify_interval": "off"})
        with open(a.daemon.conf, "a") as f:
            f.write(f"\n[notify]\nsite = {SITE}\n"
                    f"\n[webhook ops]\nurl = https://127.0.0.1:{self.rx.port}/signed\n"
                    f"ca = {self.pki.ca}\nsecret_file = {self.secret_file}\ntimeout = 3s\n"
                    f"\n[rule evidence]\nevents = integrity.*\ncameras = *\n"
                    f"actions = webhook:ops\n")
        self.keep(a)
        a.start()
        self.rx.learn_key(a, admin_token(a, self.tmp))
        d = a.daemon
        d.wait_event("camera.online", "cam1")

        def open_segment():
            rows = store.segments("cam1")
            seq, status, _, _, frames, nbytes = rows[-1]
            return status == 0 and frames >= 10 and len(rows) >= 2 and (seq, nbytes)
        seq, nbytes = wait_for(open_segment, 30, "an open segment with sealed frames")
        path = store.segment_path("cam1", seq)
        tiw.flip(path, tiw.sealed_frame_offset(path, nbytes))
        ev, _ = d.wait_event("integrity.failed", "cam1", timeout=45)
        first = cutest.iso(store.segment_start("cam1", seq))
        self.assertEqual(ev["failed_segment_start"], first)
        bodies = wait_for(lambda: [b for b in self.rx.delivered("/signed").values()
                                   if b["type"] == "integrity.failed"], 30,
                          "integrity.failed at the webhook")
        self.assertEqual(len(bodies), 1, bodies)
        b = bodies[0]
        self.assertEqual((b["camera"], b["severity"], b["source"], b["phase"], b["site"]),
                         ("cam1", "critical", "verifier", "raise", SITE))
        self.assertIn(first, b["detail"])
        self.assertEqual(self.rx.bad, [], "webhook signatures")

    def test_3_configuration(self):
        """custodyd --check: a bad [snmp]/[email] key is refused naming its
        line and why; secret files are read and checked, never shown."""
        import subprocess
        store = Store(self.tmp, "st", encryption="none")
        base = f"[store]\npath = {store.dir}\npassword_file = {store.pw}\n"

        def check(text):
            conf = os.path.join(self.tmp, "c.conf")
            with open(conf, "w") as f:
                f.write(base + text)
            return subprocess.run([du.CUSTODYD, "--config", conf, "--check"],
                                  capture_output=True, text=True, timeout=60)

        ok = check(self.sections(1162, 1163, 1025, "camera.*"))
        self.assertEqual(ok.returncode, 0, ok.stderr)
        v2 = f"[snmp t]\nhost = 127.0.0.1\ncommunity_file = {self.community}\n"
        v3 = (f"[snmp t]\nhost = 127.0.0.1\nversion = 3\nuser = u\n"
              f"auth_passphrase_file = {self.auth}\npriv_passphrase_file = {self.priv}\n")
        mail = "[email m]\nurl = smtps://127.0.0.1\nfrom = a@example.org\nto = b@example.org\n"
        cases = [
            (v2 + "version = 1\n", 7, "2c (trap) or 3 (inform)"),
            (v2 + "port = 0\n", 7, "port: a number 1..65535"),
            (v2 + "user = u\n", 4, "user is for version 3, not 2c"),
            (v2 + "retries = 1\n", 4, "a v2c trap is never answered"),
            (v3 + "retries = 6\n", 10, "retries: 0 to 5"),
            (v3.replace("user = u\n", ""), 4, "version 3 needs user"),
            (v3 + f"community_file = {self.community}\n", 4, "community_file is for version 2c"),
            (v2.replace("127.0.0.1", "bad_host!"), 4, "host: byte 3"),
            (v3 + "timeout = 90s\n", 10, "timeout: from 100ms to 60s"),
            (mail.replace("smtps://", "http://"), 5, "url: smtp://HOST[:PORT]"),
            (mail.replace("smtps://", "smtps://u:p@"), 5, "line 5: url: "),
            (mail.replace("to = b@example.org", "to = b@example.org, <c@example.org>"), 7,
             "not allowed in the local part"),
            (mail.replace("to = b@example.org",
                          "to = " + ", ".join(f"r{i}@example.org" for i in range(17))), 7,
             "more than 16 items"),
            (mail + "user = custody\n", 4, "user and password_file go together"),
            (mail.replace("from = a@example.org\n", ""), 4, "needs url, from and to"),
            (mail + "[rule r]\nevents = *\nactions = email:nope\n", 8,
             "no [email nope] section"),
            (mail + "[rule r]\nevents = *\nactions = pager:m\n", 10,
             "KIND one of: webhook, snmp, email"),
        ]
        for text, line, why in cases:
            with self.subTest(text=text):
                p = check(text)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(f"line {line}:", p.stderr)
                self.assertIn(why, p.stderr)
        # the secrets, read at --check: too short, readable by others; never shown
        short = write_secret(os.path.join(self.tmp, "short"), "short-1")
        loose = os.path.join(self.tmp, "loose")
        with open(loose, "w") as f:
            f.write(PRIV_PASS + "x\n")
        os.chmod(loose, 0o644)
        for path, why in ((short, "auth passphrase: 8 to 256 bytes"), (loose, "chmod")):
            p = check(v3.replace(self.auth, path).replace(self.priv, path) if path == loose
                      else v3.replace(self.auth, path))
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("[snmp t] (line 4)", p.stderr)
            self.assertIn(why, p.stderr)
            self.assertNotIn("short-1", p.stderr)
            self.assertNotIn(PRIV_PASS, p.stderr)
            self.assertNotIn(AUTH_PASS, p.stderr)


if __name__ == "__main__":
    cutest.main()
