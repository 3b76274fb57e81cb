"""Events and notifications (issue 14): rules, the durable outbox, webhooks,
and events in the API.

A webhook receiver over HTTPS (Python's ssl, a certificate for 127.0.0.1
from a test CA made with openssl) checks both signatures of every delivery:
"v1," HMAC-SHA256 with the shared secret, "v1a," Ed25519 with the key GET
/api/v1/server publishes (python3-cryptography), and counts deliveries by
webhook-id. custodyd runs for real, with the camera simulator; stalls take a
camera offline.

Ed25519 comes from Debian's python3-cryptography (scripts/packages), installed
for Debian's python3: under another python3 (a pyenv shim first in PATH) the
test starts itself again under /usr/bin/python3."""

import os
import sys

if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
    os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])

import base64
import http.client
import json
import socket
import sqlite3
import threading
import time

import api_util
import cutest
import daemon_util as du
from cutest import Store
from notify_util import Receiver, admin_token, wait_for

SECRET = base64.b64encode(b"webhook-test-secret-0123456789ab").decode()


class Notify(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.procs = []
        self.pki = du.PKI(self.tmp)
        self.secret_file = du.secret_file(os.path.join(self.tmp, "ops.secret"),
                                          "whsec_" + SECRET)
        self.rx = Receiver(self.pki, SECRET)

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        self.rx.stop()
        super().tearDown()

    def sim(self, **kw):
        s = du.Camsim(self.tmp, **kw)
        self.procs.append(s)
        return s

    def sections(self, rules, give_up="1h", ca=None):
        url = f"https://127.0.0.1:{self.rx.port}"
        text = (f"\n[notify]\nsite = test site\ngive_up = {give_up}\n"
                f"\n[webhook ops]\nurl = {url}/signed\nca = {ca or self.pki.ca}\n"
                f"secret_file = {self.secret_file}\ntimeout = 3s\n"
                f"\n[webhook limited]\nurl = {url}/limited\nca = {self.pki.ca}\n")
        for name, opts in rules.items():
            text += f"\n[rule {name}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
        return text

    def api(self, store, cameras, rules, give_up="1h", name="custodyd", ca=None):
        a = api_util.Api(self.tmp, store, cameras=cameras, name=name)
        with open(a.daemon.conf, "a") as f:
            f.write(self.sections(rules, give_up, ca))
        self.procs.append(a)
        return a

    def start(self, a):
        a.start()
        admin = self.admin_token(a)
        self.rx.learn_key(a, admin)
        return admin

    def admin_token(self, a):
        return admin_token(a, self.tmp)

    def outbox(self, store):
        db = sqlite3.connect(os.path.join(store.dir, "events.db"))
        try:
            return db.execute("SELECT id, target, state, type FROM outbox").fetchall()
        finally:
            db.close()

    # 1. offline raises and clears; de-duplication; a rate per rule and target
    def test_1_offline_raise_clear_rate(self):
        sim = self.sim(cameras=1)
        store = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        a = self.api(store, {"cam1": {"url": sim.url(1)}}, {
            "offline": {"events": "camera.offline", "cameras": "cam1", "severity": "major",
                        "actions": "webhook:ops"},
            "few": {"events": "camera.*", "cameras": "*", "actions": "webhook:limited",
                    "rate": "1/min"},
        })
        self.start(a)
        d = a.daemon
        d.wait_event("camera.online", "cam1")
        time.sleep(1.5)
        # the first camera.online is a clear without a raise: nobody is told
        self.assertEqual(self.rx.delivered("/signed"), {})
        for cycle in range(2):
            sim.cmd("stall cam1")
            d.wait_event("camera.offline", "cam1", after=cycle, timeout=15)
            sim.cmd("resume cam1")
            d.wait_event("camera.online", "cam1", after=cycle + 1, timeout=20)
        got = wait_for(lambda: len(self.rx.delivered("/signed")) >= 4 and
                       self.rx.delivered("/signed"), 20, "4 deliveries")
        time.sleep(2)
        got = self.rx.delivered("/signed")
        seq = sorted(got.values(), key=lambda b: b["time"])
        self.assertEqual([(b["type"], b["phase"]) for b in seq],
                         [("camera.offline", "raise"), ("camera.online", "clear")] * 2, seq)
        for b in seq:
            self.assertEqual(b["camera"], "cam1")
            self.assertEqual(b["site"], "test site")
            self.assertTrue(b["id"].startswith("evt_") and len(b["id"]) == 36, b)
        self.assertEqual(self.rx.bad, [], "signatures")
        # the rate: 1 a minute to "limited", of the same 4 events
        self.assertEqual(len(self.rx.delivered("/limited")), 1, self.rx.attempts)
        self.assertIn("over its rate", d.read_log())
        # every attempt was a distinct notice, each delivered once
        ids = [x[1] for x in self.rx.attempts]
        self.assertEqual(len(ids), len(set(ids)), ids)

    # 2. 503 with Retry-After: 2, then 200: delivered 2 s or more later
    def test_2_retry_after(self):
        sim = self.sim(cameras=1)
        store = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        a = self.api(store, {"cam1": {"url": sim.url(1)}}, {
            "offline": {"events": "camera.offline", "actions": "webhook:ops"}})
        self.rx.mode = "retry-after"
        self.start(a)
        a.daemon.wait_event("camera.online", "cam1")
        sim.cmd("stall cam1")
        a.daemon.wait_event("camera.offline", "cam1", timeout=15)
        got = wait_for(lambda: self.rx.delivered("/signed"), 20, "the delivery")
        (wid,) = got.keys()
        tries = [x for x in self.rx.attempts if x[1] == wid]
        self.assertEqual([x[3] for x in tries], [503, 200])
        self.assertGreaterEqual(tries[1][2] - tries[0][2], 2.0, "Retry-After not honoured")
        self.assertLess(tries[1][2] - tries[0][2], 6.0)
        self.assertEqual(self.rx.bad, [])

    # 3. SIGKILL with notices undelivered: after the restart every one arrives
    def test_3_sigkill_loses_nothing(self):
        sim = self.sim(cameras=2)
        store = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        cams = {"cam1": {"url": sim.url(1)}, "cam2": {"url": sim.url(2)}}
        rules = {"all": {"events": "camera.offline", "actions": "webhook:ops"}}
        a = self.api(store, cams, rules)
        self.rx.mode = "fail"
        self.start(a)
        d = a.daemon
        for c in ("cam1", "cam2"):
            d.wait_event("camera.online", c)
        for c in ("cam1", "cam2"):
            sim.cmd(f"stall {c}")
        for c in ("cam1", "cam2"):
            d.wait_event("camera.offline", c, timeout=15)
        for c in ("cam1", "cam2"):
            sim.cmd(f"resume {c}")
        for c in ("cam1", "cam2"):
            d.wait_event("camera.online", c, after=1, timeout=20)
        wait_for(lambda: len({x[1] for x in self.rx.attempts}) >= 4, 20, "4 notices tried")
        d.kill()    # SIGKILL
        rows = self.outbox(store)
        expected = {r[0] for r in rows}
        self.assertEqual(len(expected), 4, rows)
        self.assertTrue(all(r[2] == 0 for r in rows), f"pending before the restart: {rows}")
        self.assertEqual({x[1] for x in self.rx.attempts}, expected)
        self.assertEqual(self.rx.delivered(), {})
        self.rx.mode = "ok"
        a2 = api_util.Api.__new__(api_util.Api)
        a2.__dict__.update(a.__dict__)
        a2.daemon.p = None
        a2.start()
        got = wait_for(lambda: expected <= set(self.rx.delivered()) and self.rx.delivered(),
                       30, "every notice after the restart")
        time.sleep(2)
        got = self.rx.delivered()
        # the restart's camera.online are clears of conditions already cleared: none more
        self.assertEqual(set(got), expected, "lost or extra notices")
        self.assertEqual(self.rx.bad, [])
        self.assertTrue(all(r[2] == 1 for r in self.outbox(store)))

    # 4. GET /events: filters, paging, rights; the live stream; ack in the audit log
    def test_4_events_api(self):
        sim = self.sim(cameras=2)
        store = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        a = self.api(store, {"cam1": {"url": sim.url(1)}, "cam2": {"url": sim.url(2)}}, {})
        admin = self.start(a)
        api_util.add_role(store, "ops1", [("live", "cam1")])
        api_util.add_user(store, self.tmp, "op1", "op1-password-1234", ["ops1"])
        api_util.add_role(store, "view2", [("playback", "cam2")])
        api_util.add_user(store, self.tmp, "v2", "v2-password-12345", ["view2"])
        op1 = a.login("op1", "op1-password-1234")
        v2 = a.login("v2", "v2-password-12345")
        d = a.daemon
        for c in ("cam1", "cam2"):
            d.wait_event("camera.online", c)

        # the live stream, as op1: sees cam1's offline, never cam2's
        lines, ready = [], threading.Event()

        def read_stream():
            conn = http.client.HTTPSConnection("127.0.0.1", a.port, context=a.ctx, timeout=40)
            conn.request("GET", "/api/v1/events/stream", headers={"Authorization": "Bearer " + op1})
            r = conn.getresponse()
            lines.append(("status", r.status, r.getheader("Content-Type")))
            ready.set()
            try:
                while True:
                    line = r.fp.readline()
                    if not line:
                        break
                    lines.append(line.decode().rstrip("\n"))
                    if any(l.startswith("data:") and '"camera.offline"' in l for l in lines
                           if isinstance(l, str)):
                        break
            except (socket.timeout, OSError):
                pass
            conn.close()

        t = threading.Thread(target=read_stream, daemon=True)
        t.start()
        ready.wait(10)
        sim.cmd("stall cam2")
        d.wait_event("camera.offline", "cam2", timeout=15)
        time.sleep(0.5)
        sim.cmd("stall cam1")
        d.wait_event("camera.offline", "cam1", timeout=15)
        t.join(20)
        self.assertEqual(lines[0][:2], ("status", 200))
        self.assertTrue(lines[0][2].startswith("text/event-stream"))
        data = [json.loads(l[5:]) for l in lines[1:] if isinstance(l, str) and l.startswith("data:")]
        self.assertTrue(any(e["type"] == "camera.offline" and e["camera"] == "cam1" for e in data),
                        lines)
        self.assertFalse(any(e.get("camera") == "cam2" for e in data), data)

        # filters
        st, j = a.json("GET", "/api/v1/events?type=camera.&camera=cam1", token=admin, expect=200)
        self.assertTrue(j["events"])
        self.assertTrue(all(e["camera"] == "cam1" and e["type"].startswith("camera.")
                            for e in j["events"]), j)
        st, j = a.json("GET", "/api/v1/events?severity=major", token=admin, expect=200)
        self.assertEqual({e["type"] for e in j["events"]}, {"camera.offline"}, j)
        st, j = a.json("GET", "/api/v1/events?phase=raise", token=admin, expect=200)
        self.assertEqual({e["phase"] for e in j["events"]}, {"raise"})
        st, j = a.json("GET", "/api/v1/events?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z",
                       token=admin, expect=200)
        self.assertEqual(j["events"], [])
        for bad in ("limit=0", "limit=1001", "severity=loud", "phase=up", "cursor=x",
                    "from=yesterday"):
            st, _ = a.json("GET", "/api/v1/events?" + bad, token=admin)
            self.assertEqual(st, 400, bad)
        # paging: limit 2, follow next, the same events as one page, newest first
        st, whole = a.json("GET", "/api/v1/events?limit=1000", token=admin, expect=200)
        paged, cursor = [], None
        while True:
            q = "limit=2" + (f"&cursor={cursor}" if cursor else "")
            st, j = a.json("GET", "/api/v1/events?" + q, token=admin, expect=200)
            paged += j["events"]
            self.assertLessEqual(len(j["events"]), 2)
            cursor = j["next"]
            if cursor is None:
                break
        self.assertEqual([e["id"] for e in paged], [e["id"] for e in whole["events"]])
        self.assertGreaterEqual(len(paged), 5)
        self.assertTrue(any(e["camera"] is None for e in paged), "site events for the admin")

        # rights: op1 sees cam1's only; v2 cam2's only; neither the site's
        for tok, cam in ((op1, "cam1"), (v2, "cam2")):
            st, j = a.json("GET", "/api/v1/events?limit=1000", token=tok, expect=200)
            self.assertTrue(j["events"])
            self.assertEqual({e["camera"] for e in j["events"]}, {cam}, j)
            st, j = a.json("GET", "/api/v1/events?camera=" + ("cam2" if cam == "cam1" else "cam1"),
                           token=tok, expect=200)
            self.assertEqual(j["events"], [])

        # ack: op1 (live on cam1) acks cam1's offline; v2 may not (403), nor see cam1's (404)
        st, j = a.json("GET", "/api/v1/events?camera=cam1&type=camera.offline", token=op1,
                       expect=200)
        ev = j["events"][0]
        self.assertIsNone(ev["acked_by"])
        st, _ = a.json("POST", f"/api/v1/events/{ev['id']}/ack", token=v2, body={"comment": "x"})
        self.assertEqual(st, 404)
        st, j2 = a.json("GET", "/api/v1/events?camera=cam2&type=camera.offline", token=v2,
                        expect=200)
        st, _ = a.json("POST", f"/api/v1/events/{j2['events'][0]['id']}/ack", token=v2,
                       body={"comment": "seen"})
        self.assertEqual(st, 403)
        st, _ = a.json("POST", f"/api/v1/events/{ev['id']}/ack", token=op1, body={})
        self.assertEqual(st, 400)
        st, j = a.json("POST", f"/api/v1/events/{ev['id']}/ack", token=op1,
                       body={"comment": "lens checked, camera rebooted"}, expect=200)
        self.assertEqual(j["acked_by"], "op1")
        self.assertTrue(j["acked_at"])
        st, _ = a.json("POST", f"/api/v1/events/{ev['id']}/ack", token=op1,
                       body={"comment": "again"})
        self.assertEqual(st, 409)
        st, j = a.json("GET", "/api/v1/events?camera=cam1&type=camera.offline", token=admin,
                       expect=200)
        self.assertEqual(j["events"][0]["acked_by"], "op1")
        self.assertEqual(j["events"][0]["ack_comment"], "lens checked, camera rebooted")
        st, h, body = a.request("GET", "/api/v1/audit", token=admin)
        self.assertEqual(st, 200)
        self.assertIn(b'"event.ack"', body)
        self.assertIn(b"lens checked, camera rebooted", body)

    # 5. given up: after give_up (503s) or at once (410): notify.failed, without a loop
    def test_5_give_up(self):
        sim = self.sim(cameras=1)
        store = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        a = self.api(store, {"cam1": {"url": sim.url(1)}}, {
            "everything": {"events": "*", "actions": "webhook:ops"}}, give_up="4s")
        self.rx.mode = "fail"
        self.start(a)
        d = a.daemon
        d.wait_event("camera.online", "cam1")
        sim.cmd("stall cam1")
        d.wait_event("camera.offline", "cam1", timeout=15)
        offline = wait_for(lambda: [r for r in self.outbox(store)
                                    if r[3] == "camera.offline" and r[2] == 2], 30,
                           "the offline notice given up")
        tries = [x[2] for x in self.rx.attempts if x[1] == offline[0][0]]
        # retried with back-off, and no attempt after give_up (4 s from the event)
        self.assertGreaterEqual(len(tries), 2, tries)
        self.assertLessEqual(tries[-1] - tries[0], 4.5, tries)
        ev, _ = wait_for(lambda: [(e, 0) for e in d.events_list() if e["event"] ==
                                  "notify.failed" and offline[0][0] in e["detail"]], 10,
                         "its notify.failed")[0]
        self.assertIn("HTTP 503", ev["detail"])
        # 410: refused for good at the first attempt
        self.rx.mode = "gone"
        sim.cmd("resume cam1")
        d.wait_event("camera.online", "cam1", after=1, timeout=20)
        ev, _ = wait_for(lambda: [(e, 0) for e in d.events_list() if e["event"] ==
                                  "notify.failed" and "HTTP 410" in e["detail"]], 15,
                         "notify.failed for the 410")[0]
        time.sleep(6)
        # every notify.failed is about a notice to ops, and none was sent to ops: no loop
        failed = d.count("notify.failed")
        self.assertEqual(failed, len([r for r in self.outbox(store) if r[2] == 2]),
                         self.outbox(store))
        self.assertFalse(any(x[4]["type"] == "notify.failed" for x in self.rx.attempts))
        time.sleep(3)
        self.assertEqual(d.count("notify.failed"), failed, "notify.failed keeps coming")

    # 9. a raise while raised is not notified again, across a SIGKILL and restart
    def test_9_raise_while_raised(self):
        sim = self.sim(cameras=1)
        store = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        a = self.api(store, {"cam1": {"url": sim.url(1)}}, {
            "offline": {"events": "camera.offline", "actions": "webhook:ops"}})
        self.start(a)
        d = a.daemon
        d.wait_event("camera.online", "cam1")
        sim.cmd("stall cam1")
        d.wait_event("camera.offline", "cam1", timeout=15)
        wait_for(lambda: self.rx.delivered("/signed"), 15, "the raise")
        # delivered AND marked so in the outbox: a kill between the two would
        # rightly send it again (at least once), which is not what this test
        # is about
        wait_for(lambda: [r for r in self.outbox(store) if r[2] == 1], 15,
                 "the raise marked delivered")
        d.kill()    # SIGKILL while the camera is offline
        a.daemon.p = None
        a.start()
        # the camera is still stalled: raised again after the restart
        d.wait_event("camera.offline", "cam1", after=1, timeout=20)
        time.sleep(2)
        self.assertEqual(len(self.rx.attempts), 1, self.rx.attempts)
        sim.cmd("resume cam1")
        d.wait_event("camera.online", "cam1", after=1, timeout=20)
        wait_for(lambda: len(self.rx.delivered("/signed")) == 2, 15, "the clear")
        time.sleep(1)
        got = sorted(self.rx.delivered("/signed").values(), key=lambda b: b["time"])
        self.assertEqual([(b["type"], b["phase"]) for b in got],
                         [("camera.offline", "raise"), ("camera.online", "clear")])
        self.assertEqual(self.rx.bad, [])

    # 8. cameras = group:NAME follows the camera group in auth.db
    def test_8_camera_group(self):
        sim = self.sim(cameras=2)
        store = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        api_util.cli(store, "group", "add", "--name", "entrance", "--camera", "cam2")
        a = self.api(store, {"cam1": {"url": sim.url(1)}, "cam2": {"url": sim.url(2)}}, {
            "entrance": {"events": "camera.offline", "cameras": "group:entrance",
                         "actions": "webhook:ops"}})
        self.start(a)
        d = a.daemon
        for c in ("cam1", "cam2"):
            d.wait_event("camera.online", c)
        for c in ("cam1", "cam2"):
            sim.cmd(f"stall {c}")
        for c in ("cam1", "cam2"):
            d.wait_event("camera.offline", c, timeout=15)
        got = wait_for(lambda: self.rx.delivered("/signed"), 15, "a delivery")
        time.sleep(2)
        got = self.rx.delivered("/signed")
        self.assertEqual([(b["camera"], b["type"]) for b in got.values()],
                         [("cam2", "camera.offline")], got)

    # 7. the receiver's certificate is checked: another CA's is refused, nothing is sent
    def test_7_certificate_verified(self):
        store = Store(self.tmp, "st", encryption="none")
        a = self.api(store, {}, {"all": {"events": "*", "actions": "webhook:ops"}},
                     ca=self.pki.rogue_ca)
        self.start(a)
        rows = wait_for(lambda: [r for r in self.outbox(store) if r[3] == "https.listening"],
                        10, "the notice in the outbox")
        db = sqlite3.connect(os.path.join(store.dir, "events.db"))
        try:
            err = wait_for(lambda: db.execute("SELECT error FROM outbox WHERE id = ?",
                                              (rows[0][0],)).fetchone()[0], 15, "an attempt")
        finally:
            db.close()
        self.assertRegex(err, r"(?i)certificate|SSL", err)
        self.assertEqual(self.rx.attempts, [], "a request reached the receiver")
        self.assertTrue(all(r[2] == 0 for r in self.outbox(store)), "still pending")

    # 6. the configuration: refusals name the line and the reason; secrets checked
    def test_6_configuration(self):
        import subprocess
        store = Store(self.tmp, "st", encryption="none")
        base = f"[store]\npath = {store.dir}\npassword_file = {store.pw}\n"
        url = f"https://127.0.0.1:{self.rx.port}/signed"

        def check(text):
            conf = os.path.join(self.tmp, "c.conf")
            with open(conf, "w") as f:
                f.write(base + text)
            return subprocess.run([du.CUSTODYD, "--config", conf, "--check"],
                                  capture_output=True, text=True, timeout=60)

        ok = check(f"[webhook ops]\nurl = {url}\nsecret_file = {self.secret_file}\n"
                   "[rule r]\nevents = camera.*, tamper.covered\ncameras = *\n"
                   "actions = webhook:ops\nrate = 5/h\n")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        cases = [
            ("[webhook w]\nurl = http://127.0.0.1/x\n", 5, "must be https://"),
            ("[webhook w]\nurl = https://u:p@127.0.0.1/x\n", 5, "no credentials"),
            ("[webhook w]\nurl = https://127.0.0.1/\nsign = none\n", 4, "signs nothing"),
            (f"[webhook w]\nurl = {url}\n[rule r]\nevents = *\nactions = webhook:nope\n", 6,
             "no [webhook nope] section"),
            (f"[webhook w]\nurl = {url}\n[rule r]\nevents = *\nactions = pager:w\n", 8,
             "expected KIND:NAME"),
            (f"[webhook w]\nurl = {url}\n[rule r]\nevents = tamper*\nactions = webhook:w\n", 7,
             "not an event type"),
            (f"[webhook w]\nurl = {url}\n[rule r]\nevents = *\nrate = 10/fortnight\n", 8,
             "expected N/s"),
            (f"[webhook w]\nurl = {url}\n[rule r]\nevents = *\nseverity = loud\n", 8,
             "info, warning, major or critical"),
            ("[rule R]\nevents = *\n", 4, "a-z 0-9"),
            ("[notify]\ngive_up = 10\n", 5, "needs a unit"),
            ("[notify]\nsite = a\n[notify]\n", 6, "given twice"),
        ]
        for text, line, why in cases:
            p = check(text)
            self.assertEqual(p.returncode, 2, text)
            self.assertIn(f"line {line}:", p.stderr, text)
            self.assertIn(why, p.stderr, text)
        # a secret file readable by others, or not whsec_: refused, the secret never shown
        loose = os.path.join(self.tmp, "loose.secret")
        with open(loose, "w") as f:
            f.write("whsec_" + SECRET + "\n")
        os.chmod(loose, 0o644)
        bad = du.secret_file(os.path.join(self.tmp, "bad.secret"), "not-a-whsec-value-123")
        for path, why in ((loose, "chmod"), (bad, "whsec_")):
            p = check(f"[webhook w]\nurl = {url}\nsecret_file = {path}\n")
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(why, p.stderr)
            self.assertNotIn(SECRET, p.stderr)
            self.assertNotIn("not-a-whsec-value-123", p.stderr)


if __name__ == "__main__":
    cutest.main()
