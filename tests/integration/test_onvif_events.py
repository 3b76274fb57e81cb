"""Camera-reported events over ONVIF (issue 14, docs/onvif-events.md):
custodyd subscribes to custody-camsim's ONVIF event service (a PullPoint
subscription with a WS-Security UsernameToken), the simulator is told to
report tampering, a dark image, a scene change and a digital input, and the
onvif.* conditions must be raised and cleared in the event log within
seconds. Also: a state already true when subscribing, a wrong password (a
clear event, no crash, recording goes on), renewal before the short
termination time, re-subscription after the camera lost the subscription, and
Unsubscribe at shutdown. Real processes on 127.0.0.1 only."""

import base64
import hashlib
import http.server
import os
import re
import signal
import ssl
import subprocess
import threading
import time

import cutest
import daemon_util as du
from cutest import Store


def wait_for(what, pred, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def subs(sim):
    """camsim's subscription report as a dict of counters."""
    words = sim.cmd("onvif subscriptions").split()
    return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}


class OnvifEvents(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        super().tearDown()

    def sim(self, onvif_port=None, **kw):
        self.onvif_port = onvif_port or du.free_port()
        s = du.Camsim(self.tmp, auth=True, extra=("--onvif-port", str(self.onvif_port)), **kw)
        self.procs.append(s)
        return s

    def onvif_url(self):
        return f"http://127.0.0.1:{self.onvif_port}/onvif/event_service"

    def daemon(self, sim, password=du.SIM_PASSWORD, termination="4s", name="custodyd",
               **onvif_opts):
        store = Store(self.tmp, "st-" + name, encryption="none")
        rtsp = du.secret_file(os.path.join(self.tmp, "rtsp.cred"), du.SIM_USER, du.SIM_PASSWORD)
        onvif = du.secret_file(os.path.join(self.tmp, "onvif.cred"), du.SIM_USER, password)
        opts = {"onvif": self.onvif_url(), **onvif_opts}
        d = du.Daemon(self.tmp, store, {"lobby": {
            "url": sim.url(1), "credentials_file": rtsp, "onvif_credentials": onvif,
            "onvif_termination": termination, **opts}}, name=name)
        self.procs.append(d)
        return d.start()

    def alarm(self, d, event, phase, after=0, timeout=10):
        hits = wait_for(f"{event} {phase} #{after + 1}", lambda: [
            e for e in d.events_list()
            if e["event"] == event and e.get("phase") == phase] [after:], timeout)
        e = hits[0]
        self.assertEqual(e["camera"], "lobby")
        self.assertEqual(e["source"], "onvif")
        return e

    def test_events_raise_and_clear(self):
        sim = self.sim()
        d = self.daemon(sim)
        wait_for("the subscription", lambda: subs(sim)["active"] == 1)
        d.wait_event("camera.online", "lobby", timeout=30)

        sim.cmd("onvif tamper on")
        e = self.alarm(d, "onvif.tamper", "raise")
        self.assertEqual(e["severity"], "major")
        self.assertIn("VideoSourceConfigurationToken=vsc1", e["detail"])
        self.assertIn("RuleEngine/TamperDetector/Tamper", e["detail"])
        sim.cmd("onvif tamper off")
        e = self.alarm(d, "onvif.tamper", "clear")

        sim.cmd("onvif too_dark on")
        e = self.alarm(d, "onvif.too_dark", "raise")
        self.assertEqual(e["severity"], "warning")
        sim.cmd("onvif too_dark off")
        self.alarm(d, "onvif.too_dark", "clear")

        sim.cmd("onvif scene_change on")
        self.alarm(d, "onvif.scene_change", "raise")

        sim.cmd("onvif input 2 on")
        e = self.alarm(d, "onvif.input", "raise")
        self.assertIn("InputToken=2", e["detail"])
        sim.cmd("onvif input 2 off")
        e = self.alarm(d, "onvif.input", "clear")
        self.assertIn("InputToken=2", e["detail"])
        # a second input is its own condition
        sim.cmd("onvif input 3 on")
        e = self.alarm(d, "onvif.input", "raise", after=1)
        self.assertIn("InputToken=3", e["detail"])

        # a repeated "on" is no second raise; states false at subscription raised nothing
        sim.cmd("onvif scene_change on")
        time.sleep(1.5)
        self.assertEqual(d.count("onvif.scene_change"), 1)
        for quiet in ("onvif.too_bright", "onvif.too_blurry", "onvif.signal_loss",
                      "onvif.unavailable"):
            self.assertEqual(d.count(quiet), 0, quiet)

        # the 4 s subscription is renewed (every ~2 s), never left to expire
        wait_for("two renewals", lambda: subs(sim)["renewed"] >= 2, timeout=12)
        s = subs(sim)
        self.assertEqual((s["active"], s["created"], s["expired"]), (1, 1, 0), s)

        self.assertEqual(d.term(), 0)
        s = subs(sim)
        self.assertEqual((s["active"], s["unsubscribed"]), (0, 1), s)
        self.assertIn("ONVIF events: unsubscribed", d.read_log())
        self.assertNotIn(du.SIM_PASSWORD, d.read_log())

    def test_state_true_when_subscribing(self):
        sim = self.sim()
        sim.cmd("onvif signal_loss on")
        d = self.daemon(sim)
        e = self.alarm(d, "onvif.signal_loss", "raise", timeout=20)
        self.assertIn("state when subscribing", e["detail"])
        sim.cmd("onvif signal_loss off")
        self.alarm(d, "onvif.signal_loss", "clear")
        self.assertEqual(d.count("onvif.signal_loss"), 2)

    def test_reload_resubscribes(self):
        """A reload that changes the camera's ONVIF settings stops its thread
        (which unsubscribes) and starts a new one that subscribes."""
        sim = self.sim()
        d = self.daemon(sim)
        wait_for("the subscription", lambda: subs(sim)["active"] == 1)
        with open(d.conf) as f:
            text = f.read()
        self.assertIn("onvif_termination = 4s", text)
        with open(d.conf, "w") as f:
            f.write(text.replace("onvif_termination = 4s", "onvif_termination = 6s"))
        d.p.send_signal(signal.SIGHUP)
        wait_for("unsubscribe and a new subscription", lambda: (
            lambda s: s["unsubscribed"] == 1 and s["created"] == 2 and s["active"] == 1)(subs(sim)))
        sim.cmd("onvif too_blurry on")
        self.alarm(d, "onvif.too_blurry", "raise")
        self.assertEqual(d.term(), 0)
        self.assertEqual(subs(sim)["unsubscribed"], 2)

    def test_wrong_password(self):
        sim = self.sim()
        d = self.daemon(sim, password="not-the-camera-password")
        e, _ = d.wait_event("onvif.unavailable", "lobby", timeout=20)
        self.assertEqual(e["phase"], "raise")
        self.assertIn("authentication refused", e["detail"])
        self.assertIn("NotAuthorized", e["detail"])
        # recording does not depend on events
        d.wait_event("camera.online", "lobby", timeout=30)
        wait_for("a retry with back-off", lambda: subs(sim)["refused"] >= 2, timeout=20)
        self.assertTrue(d.alive())
        self.assertEqual(subs(sim)["active"], 0)
        self.assertEqual(d.count("onvif.unavailable"), 1)
        log = d.read_log()
        self.assertIn("ONVIF events: authentication refused", log)
        self.assertNotIn("not-the-camera-password", log)
        self.assertEqual(d.term(), 0)

    def test_resubscribe_after_the_camera_restarts(self):
        sim = self.sim()
        d = self.daemon(sim)
        wait_for("the subscription", lambda: subs(sim)["active"] == 1)
        sim.cmd("onvif tamper on")
        self.alarm(d, "onvif.tamper", "raise")
        # the camera restarts on the same port and forgets its subscriptions
        sim.stop()
        sim2 = self.sim(onvif_port=self.onvif_port)
        e, _ = d.wait_event("onvif.unavailable", "lobby", timeout=20)
        self.assertEqual(e["phase"], "raise")
        wait_for("a new subscription", lambda: subs(sim2)["active"] == 1, timeout=30)
        e, _ = d.wait_event("onvif.unavailable", "lobby", after=1, timeout=10)
        self.assertEqual(e["phase"], "clear")
        # the new camera's tamper state is false: Initialized clears the condition
        self.alarm(d, "onvif.tamper", "clear")
        sim2.cmd("onvif tamper on")
        self.alarm(d, "onvif.tamper", "raise", after=1)

    def test_https_certificate_verified(self):
        """An https event service: a certificate from another CA is refused
        before a byte of SOAP is sent; with the right CA the request arrives,
        and its UsernameToken digest checks out by Python's own SHA-1."""
        pki = du.PKI(self.tmp)
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                seen.append((self.headers.get("Content-Type"), body))
                answer = ("<?xml version='1.0'?><e:Envelope xmlns:e='http://www.w3.org/2003/05/"
                          "soap-envelope'><e:Body><e:Fault><e:Code><e:Value>e:Receiver</e:Value>"
                          "<e:Subcode><e:Value>TestServerSaysNo</e:Value></e:Subcode></e:Code>"
                          "</e:Fault></e:Body></e:Envelope>").encode()
                self.send_response(500)
                self.send_header("Content-Type", "application/soap+xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.cert, pki.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        port = srv.server_address[1]
        sim = self.sim()
        url = f"https://127.0.0.1:{port}/onvif/event_service"

        d = self.daemon(sim, name="rogue", onvif=url, onvif_ca=pki.rogue_ca)
        e, _ = d.wait_event("onvif.unavailable", "lobby", timeout=20)
        self.assertIn("certificate", e["detail"].lower())
        self.assertEqual(seen, [])
        self.assertEqual(d.term(), 0)

        d = self.daemon(sim, name="trusted", onvif=url, onvif_ca=pki.ca)
        e, _ = d.wait_event("onvif.unavailable", "lobby", timeout=20)
        self.assertIn("TestServerSaysNo", e["detail"])
        wait_for("a second attempt after the back-off", lambda: len(seen) >= 2)
        self.assertEqual(d.term(), 0)
        ctype, body = seen[0]
        self.assertIn("application/soap+xml", ctype)
        self.assertIn("CreatePullPointSubscription", ctype)
        self.assertIn("tns1:RuleEngine/TamperDetector/Tamper", body)
        field = lambda name: re.search(rf"<wsse:{name}[^>]*>([^<]*)</wsse:{name}>", body).group(1)
        created = re.search(r"<wsu:Created>([^<]*)</wsu:Created>", body).group(1)
        want = base64.b64encode(hashlib.sha1(base64.b64decode(field("Nonce")) + created.encode()
                                             + du.SIM_PASSWORD.encode()).digest()).decode()
        self.assertEqual(field("Password"), want)
        self.assertEqual(field("Username"), du.SIM_USER)
        self.assertNotIn(du.SIM_PASSWORD, body)
        # every request has its own nonce
        self.assertNotEqual(re.search(r"Nonce[^>]*>([^<]*)<", seen[1][1]).group(1),
                            field("Nonce"))

    def test_hostile_service(self):
        """A service that answers too much, a DTD, too deep a document, and a
        subscription address on another host: each refused with what was
        wrong, custodyd goes on, and requests stay on the configured origin."""
        state = {"mode": "huge", "paths": []}
        env = ("<?xml version='1.0'?><e:Envelope xmlns:e='http://www.w3.org/2003/05/soap-envelope'"
               " xmlns:tev='http://www.onvif.org/ver10/events/wsdl'"
               " xmlns:n='http://docs.oasis-open.org/wsn/b-2'"
               " xmlns:a='http://www.w3.org/2005/08/addressing'><e:Body>{}</e:Body></e:Envelope>")
        answers = {
            "huge": env.format("<x>" + "y" * (300 * 1024) + "</x>"),
            "doctype": "<!DOCTYPE e [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" + env.format("&x;"),
            "deep": env.format("<d>" * 40 + "</d>" * 40),
            "elsewhere": env.format(
                "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
                "<a:Address>http://10.255.255.1:9/onvif/sub/7?k=1</a:Address>"
                "</tev:SubscriptionReference><n:CurrentTime>2026-01-01T00:00:00Z</n:CurrentTime>"
                "<n:TerminationTime>2026-01-01T00:01:00Z</n:TerminationTime>"
                "</tev:CreatePullPointSubscriptionResponse>"),
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                state["paths"].append(self.path)
                mode = state["mode"]
                if mode == "elsewhere" and self.path.startswith("/onvif/sub/"):
                    answer = env.format("<e:Fault><e:Code><e:Value>e:Receiver</e:Value></e:Code>"
                                        "<e:Reason><e:Text>pulled here</e:Text></e:Reason>"
                                        "</e:Fault>")
                else:
                    answer = answers[mode]
                data = answer.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/soap+xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        sim = self.sim()
        d = self.daemon(sim, onvif=f"http://127.0.0.1:{srv.server_address[1]}/onvif/event_service")
        for mode, said in (("huge", "larger than 262144 bytes"),
                           ("doctype", "DOCTYPE (DTDs and entities are refused)"),
                           ("deep", "nested deeper than 32"),
                           ("elsewhere", "pulled here")):
            with self.subTest(mode=mode):
                state["mode"] = mode
                wait_for(said, lambda: said in d.read_log(), timeout=20)
        self.assertIn("/onvif/sub/7?k=1", state["paths"])
        self.assertTrue(d.alive())
        self.assertEqual(d.term(), 0)
        # raised once while refused, cleared by each subscription made, raised by its fault
        phases = [e["phase"] for e in d.events_list() if e["event"] == "onvif.unavailable"]
        self.assertEqual(phases[:3], ["raise", "clear", "raise"])
        self.assertTrue(all(a != b for a, b in zip(phases, phases[1:])), phases)

    def test_config_errors(self):
        store = Store(self.tmp, "st", encryption="none")
        head = f"[store]\npath = {store.dir}\npassword_file = {store.pw}\n[camera c]\nurl = rtsp://h/\n"
        cases = [
            ("onvif = ftp://h/onvif\n", "line 6: onvif"),
            ("onvif = http://u:p@h/onvif\n", "never in a URL"),
            ("onvif_credentials = x\n", "need onvif = URL"),
            ("onvif = http://h/onvif\nonvif_ca = ca.pem\n", "not https://"),
            ("onvif = http://h/onvif\nonvif_termination = 1s\n", "between 2s and 1h"),
        ]
        conf = os.path.join(self.tmp, "bad.conf")
        for text, want in cases:
            with self.subTest(want=want):
                with open(conf, "w") as f:
                    f.write(head + text)
                p = subprocess.run([du.CUSTODYD, "--config", conf, "--check"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(want, p.stderr)
        with open(conf, "w") as f:
            f.write(head + "onvif = https://h:8443/onvif/event_service\nonvif_ca = ca.pem\n"
                    "onvif_termination = 30s\n")
        p = subprocess.run([du.CUSTODYD, "--config", conf, "--check"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    cutest.main()
