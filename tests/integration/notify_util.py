"""What the notification tests share (test_notify.py, test_notify_channels.py,
test_notify_e2e.py): real receivers started here on 127.0.0.1 and stopped by
their PID — an HTTPS webhook receiver that checks both signatures, Debian's
snmptrapd with a configuration of its own in the test's directory, Debian's
aiosmtpd (smtp_server.py) — and the small helpers around them."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import api_util

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("CU_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
DOCS = os.path.join(ROOT, "docs")
MIBDIRS = f"+:{DOCS}:{os.path.join(DOCS, 'mibs-base')}"


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_secret(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def stop(proc):
    """Stops a process this test started, by its PID."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def snmp_env(tmp):
    """net-snmp tools with a configuration of the test's own: no default MIB
    list, persistent state in the temporary directory."""
    env = dict(os.environ)
    env.pop("MIBS", None)
    env.pop("MIBDIRS", None)
    env["SNMPCONFPATH"] = tmp
    env["SNMP_PERSISTENT_DIR"] = os.path.join(tmp, "persist")
    with open(os.path.join(tmp, "snmp.conf"), "w") as f:
        f.write("mibs :\n")
    return env


class Trapd:
    """Debian's snmptrapd on udp:127.0.0.1:port, decoding with CUSTODY-MIB,
    logging to its own file. Accepts community `community` (v2c) and, with
    user, the USM user with SHA + AES (informs; keyed to its own engine ID)."""

    def __init__(self, d, name, port=None, community=None, user=None, auth=None, priv=None):
        self.dir = os.path.join(d, name)
        os.makedirs(self.dir)
        self.env = snmp_env(self.dir)
        self.port = port or free_port(socket.SOCK_DGRAM)
        conf = os.path.join(self.dir, "snmptrapd.conf")
        with open(conf, "w") as f:
            if community:
                f.write(f"authCommunity log {community}\n")
            if user:
                f.write(f"createUser {user} SHA {auth} AES {priv}\nauthUser log {user}\n")
        self.log = os.path.join(self.dir, "trapd.log")
        self.p = subprocess.Popen(
            ["snmptrapd", "-f", "-Lf", self.log, "-C", "-c", conf, "-M", MIBDIRS,
             "-m", "CUSTODY-MIB", f"udp:127.0.0.1:{self.port}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.log) and "NET-SNMP version" in self.text(), 15,
                 "snmptrapd to start")

    def text(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def traps(self):
        """Every custody notification received: {"notification": name,
        object name: value} per line of the log."""
        out = []
        for line in self.text().splitlines():
            m = re.search(r"OID: CUSTODY-MIB::(custodyEvent\w+)", line)
            if not m:
                continue
            got = {"notification": m.group(1)}
            for v in re.finditer(r"CUSTODY-MIB::(\w+)(?:\.0)? = (?:(\w+): )?([^\t]*)", line):
                got[v.group(1)] = v.group(3).strip().strip('"')
            out.append(got)
        return out

    def stop(self):
        stop(self.p)


class SmtpServer:
    """smtp_server.py (Debian's aiosmtpd) in mode starttls, smtps or plain;
    every message accepted is a file N.eml in its directory."""

    def __init__(self, d, mode, cert=None, key=None, user=None, password=None, port=None):
        self.port = port or free_port()
        self.out = os.path.join(d, f"mail-{mode}-{self.port}")
        os.makedirs(self.out)
        args = ["/usr/bin/python3", os.path.join(HERE, "smtp_server.py"), mode, str(self.port),
                self.out]
        if mode != "plain":
            args += [cert, key, user, password]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            stop(self.p)
            raise AssertionError(f"smtp_server.py did not start: {line!r}")

    def commands(self):
        path = os.path.join(self.out, "commands.txt")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()

    def messages(self):
        """The messages received so far, parsed, in order of arrival."""
        import email
        import email.policy
        names = sorted((f for f in os.listdir(self.out) if f.endswith(".eml")),
                       key=lambda f: int(f.split(".")[0]))
        out = []
        for name in names:
            with open(os.path.join(self.out, name), "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def stop(self):
        stop(self.p)


class Receiver:
    """An HTTPS webhook receiver. mode: "ok" (200), "fail" (503), "gone"
    (410) or "retry-after" (503 with Retry-After: 2 on the first attempt of
    each id, then 200). Records every attempt as (path, id, monotonic time,
    status, body); checks the signatures before answering: "v1," HMAC-SHA256
    with the secret on /signed, "v1a," Ed25519 with the key GET
    /api/v1/server publishes (python3-cryptography) always."""

    def __init__(self, pki, secret, port=None):
        self.secret = base64.b64decode(secret)
        self.public = None                     # Ed25519PublicKey, set by the test
        self.have_public = threading.Event()
        self.mode = "ok"
        self.attempts = []
        self.bad = []
        self.lock = threading.Lock()
        self.port = port or free_port()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                wid = self.headers.get("webhook-id", "")
                ts = self.headers.get("webhook-timestamp", "")
                sigs = self.headers.get("webhook-signature", "").split(" ")
                msg = f"{wid}.{ts}.".encode() + body
                problems = rec.check(self.path, msg, sigs, ts)
                status, extra = 200, {}
                with rec.lock:
                    seen = [a for a in rec.attempts if a[1] == wid]
                    if rec.mode == "fail":
                        status = 503
                    elif rec.mode == "gone":
                        status = 410
                    elif rec.mode == "retry-after" and not seen:
                        status, extra = 503, {"Retry-After": "2"}
                    if problems:
                        rec.bad.append((wid, problems))
                        status = 400
                    rec.attempts.append((self.path, wid, time.monotonic(), status,
                                         json.loads(body)))
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.cert, pki.key)
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def check(self, path, msg, sigs, ts):
        from cryptography.exceptions import InvalidSignature
        problems = []
        if not ts.isdigit() or abs(int(ts) - time.time()) > 300:
            problems.append(f"timestamp {ts!r}")
        v1 = [s[3:] for s in sigs if s.startswith("v1,")]
        v1a = [s[4:] for s in sigs if s.startswith("v1a,")]
        if path == "/signed":
            want = base64.b64encode(hmac.new(self.secret, msg, hashlib.sha256).digest()).decode()
            if not v1 or not hmac.compare_digest(v1[0], want):
                problems.append("v1 HMAC does not verify")
        if not v1a:
            problems.append("no v1a signature")
        else:
            try:
                self.have_public.wait(30)
                self.public.verify(base64.b64decode(v1a[0]), msg)
            except (InvalidSignature, ValueError, AttributeError):
                problems.append("v1a Ed25519 does not verify")
        return problems

    def learn_key(self, a, token):
        """The Ed25519 key custodyd a signs v1a with, from GET /api/v1/server."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        st, j = a.json("GET", "/api/v1/server", token=token, expect=200)
        self.public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(j["webhook_public_key"]))
        self.have_public.set()

    def delivered(self, path=None):
        """{id: body} of attempts answered 2xx."""
        with self.lock:
            return {a[1]: a[4] for a in self.attempts
                    if a[3] == 200 and (path is None or a[0] == path)}

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def admin_token(a, tmp):
    """A token of an admin ("root") of custodyd a, made once per store."""
    if not getattr(a.store, "notify_admin_made", False):
        api_util.add_role(a.store, "admins", [("admin", "*")])
        api_util.add_user(a.store, tmp, "root", "root-password-1234", ["admins"])
        a.store.notify_admin_made = True
    return a.login("root", "root-password-1234")
