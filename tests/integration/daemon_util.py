"""Helpers for the recording-server tests: certificates made with the openssl
command, the camera simulator, custodyd with a generated configuration, the
event log. Every process started here is stopped by its PID."""

import json
import os
import signal
import socket
import subprocess
import time

import cutest

CAMSIM = os.environ.get("CU_CAMSIM", "build/tools/camsim/custody-camsim")
CUSTODYD = os.environ.get("CU_CUSTODYD", "build/daemon/custodyd")
SIM_USER = "operator"
SIM_PASSWORD = "sim-digest-secret-42"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class PKI:
    """A camera CA and a leaf for 127.0.0.1, plus a rogue CA and its leaf."""

    def __init__(self, d):
        self.d = d
        self.ca, self.ca_key = self.make_ca("cameras")
        self.cert, self.key = self.make_leaf("cam", self.ca, self.ca_key)
        self.rogue_ca, rogue_key = self.make_ca("rogue")
        self.rogue_cert, self.rogue_key = self.make_leaf("rogue-cam", self.rogue_ca, rogue_key)

    def make_ca(self, name):
        key, crt = os.path.join(self.d, name + "-ca.key"), os.path.join(self.d, name + "-ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj",
                f"/CN={name} camera CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return crt, key

    def make_leaf(self, name, ca, ca_key):
        key, csr = os.path.join(self.d, name + ".key"), os.path.join(self.d, name + ".csr")
        crt, ext = os.path.join(self.d, name + ".pem"), os.path.join(self.d, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-out", crt, "-days", "2", "-extfile", ext)
        return crt, key

    def fingerprint(self, crt):
        out = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint",
                              "-sha256"], check=True, capture_output=True, text=True).stdout
        return "sha256:" + out.strip().split("=")[1]


def secret_file(path, *lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


class Camsim:
    def __init__(self, d, name="sim", cameras=1, tls=None, auth=False, codec="h264",
                 size="320x240", bitrate=800, extra=()):
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.control = os.path.join(d, name + ".sock")
        args = [CAMSIM, "--port", str(self.port), "--cameras", str(cameras), "--codec", codec,
                "--size", size, "--bitrate", str(bitrate), "--gop", "25", "--control",
                self.control, *extra]
        if tls:
            args += ["--tls-port", str(self.tls_port), "--cert", tls[0], "--key", tls[1]]
        if auth:
            args += ["--user", SIM_USER, "--password-file",
                     secret_file(os.path.join(d, name + ".simpw"), SIM_PASSWORD)]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if "listening" not in line:
            self.stop()
            raise AssertionError("camsim did not start: " + line + self.p.stderr.read())

    def url(self, cam, tls=False):
        if tls:
            return f"rtsps://127.0.0.1:{self.tls_port}/cam{cam}"
        return f"rtsp://127.0.0.1:{self.port}/cam{cam}"

    def cmd(self, line):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.control)
            s.sendall((line + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        out = data.decode().strip()
        if out.startswith("error"):
            raise AssertionError(f"camsim {line}: {out}")
        return out

    def frames(self, cam):
        out = self.cmd(f"frames cam{cam}")
        return int(out.split()[-1])

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Daemon:
    """custodyd with a configuration written from parameters."""

    def __init__(self, d, store, cameras, daemon_opts=None, store_opts=None, name="custodyd"):
        self.d = d
        self.store = store
        self.events = os.path.join(d, name + ".events")
        self.conf = os.path.join(d, name + ".conf")
        self.log = os.path.join(d, name + ".log")
        lines = ["[store]", f"path = {store.dir}", f"password_file = {store.pw}"]
        for k, v in (store_opts or {}).items():
            lines.append(f"{k} = {v}")
        lines += ["", "[daemon]", f"events = {self.events}"]
        for k, v in {"offline_after": "2s", "reconnect_min": "200ms", "reconnect_max": "2s",
                     **(daemon_opts or {})}.items():
            lines.append(f"{k} = {v}")
        for name_, opts in cameras.items():
            lines += ["", f"[camera {name_}]"] + [f"{k} = {v}" for k, v in opts.items()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.p = None

    def start(self):
        self.logf = open(self.log, "a")
        self.p = subprocess.Popen([CUSTODYD, "--config", self.conf], stdout=self.logf,
                                  stderr=self.logf)
        return self

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def term(self, timeout=30):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=timeout)
        self.logf.close()
        return rc

    def kill(self):
        self.p.kill()
        self.p.wait()
        self.logf.close()

    def stop(self):
        if self.p is not None and self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if self.p is not None and not self.logf.closed:
            self.logf.close()

    def read_log(self):
        with open(self.log) as f:
            return f.read()

    def events_list(self):
        if not os.path.exists(self.events):
            return []
        with open(self.events) as f:
            return [json.loads(l) for l in f if l.strip()]

    def wait_event(self, event, camera=None, after=0, timeout=30):
        """Waits for the n-th (after = how many to skip) matching event."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [e for e in self.events_list()
                    if e["event"] == event and (camera is None or e.get("camera") == camera)]
            if len(hits) > after:
                return hits[after], time.monotonic()
            if self.p is not None and self.p.poll() is not None:
                raise AssertionError(f"custodyd exited ({self.p.returncode}) waiting for {event}:"
                                     f"\n{self.read_log()}")
            time.sleep(0.05)
        raise AssertionError(f"no {event} for {camera} within {timeout}s; events: "
                             f"{self.events_list()}\nlog:\n{self.read_log()}")

    def count(self, event, camera=None):
        return len([e for e in self.events_list()
                    if e["event"] == event and (camera is None or e.get("camera") == camera)])
