"""custody-camsim (tools/camsim), the simulated cameras that the other tests,
the demo and the benchmarks rely on, checked from the outside with the real
ffprobe and ffmpeg: plain RTSP in H.264 and H.265, RTSPS, Digest
authentication, every fault of the control socket, the replay of a file, a
clean exit on SIGTERM, and the checks of the command line.

Every process is started with its PID kept and stopped in a finally block
(or a class cleanup that runs one)."""

import contextlib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import cutest

CAMSIM = os.environ.get("CU_CAMSIM", "build/tools/camsim/custody-camsim")
MEDIA = os.path.join(cutest.DATA, "media")
READY = re.compile(r"camsim: listening rtsp://127\.0\.0\.1:(\d+)/cam1\.\.cam(\d+)"
                   r"(?: rtsps://127\.0\.0\.1:(\d+)/cam1\.\.cam\2)?$")
PASSWORD = "camsim-test-password"


def stop(proc, timeout=10):
    """Stops a process we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def wait_for(cond, timeout, step=0.1):
    """Polls cond() until it is true or timeout seconds passed; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def probe(url, timeout=20):
    """ffprobe of a live RTSP URL over TCP: (returncode, {key: value} of the first stream, stderr)."""
    p = subprocess.run(["ffprobe", "-rtsp_transport", "tcp", "-v", "error", "-show_streams", url],
                       capture_output=True, text=True, timeout=timeout)
    info = {}
    for line in p.stdout.splitlines():
        if line == "[/STREAM]":
            break
        k, sep, v = line.partition("=")
        if sep:
            info[k] = v
    return p.returncode, info, p.stderr


def established(port):
    """How many TCP connections to 127.0.0.1:port are ESTABLISHED (Linux /proc/net/tcp)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1].upper().endswith(":%04X" % port) and fields[3] == "01":
                n += 1
    return n


@contextlib.contextmanager
def player(url, log):
    """ffmpeg playing url into the null muxer, as a recorder would; stopped by PID at the end."""
    with open(log, "wb") as err:
        p = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
                              "-i", url, "-f", "null", "-"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield p
    finally:
        stop(p)


def element_table():
    """custody-camsim --list-elements: {element: Debian package}."""
    p = subprocess.run([CAMSIM, "--list-elements"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(f"--list-elements exited {p.returncode}: {p.stderr}")
    return dict(line.split(" ", 1) for line in p.stdout.splitlines())


def without_plugin(tmp, plugin):
    """An environment whose GStreamer sees every system plugin but one, as on a
    machine where that plugin's Debian package is not installed."""
    pdir = subprocess.run(["pkg-config", "--variable=pluginsdir", "gstreamer-1.0"],
                          capture_output=True, text=True, check=True).stdout.strip()
    d = os.path.join(tmp, "plugins-without-" + plugin)
    os.mkdir(d)
    hidden = 0
    for name in os.listdir(pdir):
        if name == plugin:
            hidden += 1
        elif name.endswith(".so"):
            os.symlink(os.path.join(pdir, name), os.path.join(d, name))
    if hidden != 1:
        raise AssertionError(f"{plugin} is not in {pdir}: nothing to hide")
    env = dict(os.environ, GST_PLUGIN_SYSTEM_PATH_1_0=d,
               GST_REGISTRY_1_0=os.path.join(tmp, "registry-without-" + plugin + ".bin"))
    env.pop("GST_PLUGIN_PATH", None)
    env.pop("GST_PLUGIN_PATH_1_0", None)
    return env


class Camsim:
    """One custody-camsim process on free ports, with a control socket and a PID file."""

    def __init__(self, tmp, name, *args):
        self.ctl_path = os.path.join(tmp, name + ".sock")
        self.pid_path = os.path.join(tmp, name + ".pid")
        self.err_path = os.path.join(tmp, name + ".err")
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([CAMSIM, "--port", "0", "--control", self.ctl_path,
                                          "--pid-file", self.pid_path, *args],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=err)
        try:
            line = self._ready_line(20)
            m = READY.match(line)
            if not m:
                raise AssertionError(f"camsim ready line {line!r}; stderr: {self.stderr()}")
            self.port = int(m.group(1))
            self.cameras = int(m.group(2))
            self.tls_port = int(m.group(3)) if m.group(3) else None
        except BaseException:
            stop(self.proc)
            raise

    def _ready_line(self, timeout):
        buf = b""
        end = time.monotonic() + timeout
        while b"\n" not in buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError(f"camsim not ready in {timeout} s; stderr: {self.stderr()}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"camsim exited ({self.proc.wait()}): {self.stderr()}")
            buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def url(self, cam=1, tls=False, cred=""):
        scheme, port = ("rtsps", self.tls_port) if tls else ("rtsp", self.port)
        return f"{scheme}://{cred}127.0.0.1:{port}/cam{cam}"

    def ctl(self, *commands):
        """Sends commands on one control connection; returns the answers."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.ctl_path)
            f = s.makefile("rwb")
            out = []
            for c in commands:
                f.write(c.encode() + b"\n")
                f.flush()
                out.append(f.readline().decode().rstrip("\n"))
            return out

    def ok(self, command):
        answer = self.ctl(command)[0]
        if answer != "ok":
            raise AssertionError(f"{command!r} -> {answer!r}")

    def frames(self, cam=1):
        """The frames camera cam has sent: the answer is a bare decimal number."""
        answer = self.ctl(f"frames cam{cam}")[0]
        if not re.fullmatch(r"\d+", answer):
            raise AssertionError(f"frames cam{cam} -> {answer!r}")
        return int(answer)

    def close(self):
        rc = stop(self.proc)
        self.proc.stdout.close()
        return rc


def make_cert(tmp):
    """A self-signed EC P-256 certificate for 127.0.0.1 (CN and subjectAltName)."""
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class Shared(cutest.TempDirTest):
    """One instance with RTSP and RTSPS, two H.264 cameras, shared by these tests."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="camsim-test-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        cert, key = make_cert(cls.dir)
        cls.cs = Camsim(cls.dir, "shared", "--tls-port", "0", "--cert", cert, "--key", key,
                        "--cameras", "2", "--size", "320x240", "--gop", "10")
        cls.addClassCleanup(cls.cs.close)

    def test_plain_h264(self):
        for cam in (1, 2):
            rc, info, err = probe(self.cs.url(cam))
            self.assertEqual(rc, 0, err)
            self.assertEqual((info.get("codec_name"), info.get("width"), info.get("height")),
                             ("h264", "320", "240"))

    def test_rtsps(self):
        rc, info, err = probe(self.cs.url(1, tls=True))
        self.assertEqual(rc, 0, err)
        self.assertEqual((info.get("codec_name"), info.get("width")), ("h264", "320"))
        # The TLS port speaks nothing but TLS.
        rc, _, _ = probe(f"rtsp://127.0.0.1:{self.cs.tls_port}/cam1", timeout=20)
        self.assertNotEqual(rc, 0)

    def test_stall_resume_disconnect(self):
        cs = self.cs
        with player(cs.url(1), os.path.join(self.tmp, "ffmpeg.log")) as ff:
            start = cs.frames(1)
            self.assertTrue(wait_for(lambda: cs.frames(1) >= start + 10, 10),
                            "frames do not grow while a client plays")
            cs.ok("stall cam1")
            time.sleep(1.0)
            stalled = cs.frames(1)
            time.sleep(1.0)
            self.assertEqual(cs.frames(1), stalled, "frames still grow after stall")
            self.assertIsNone(ff.poll(), "the client left during the stall")
            self.assertGreaterEqual(established(cs.port), 1, "TCP session not kept during stall")
            cs.ok("resume cam1")
            self.assertTrue(wait_for(lambda: cs.frames(1) >= stalled + 10, 5),
                            "frames do not grow after resume")
            cs.ok("disconnect cam1")
            try:
                ff.wait(10)
            except subprocess.TimeoutExpired:
                self.fail("ffmpeg still connected 10 s after disconnect")

    def test_refuse(self):
        cs = self.cs
        try:
            cs.ok("refuse on")
            with socket.socket() as s:
                s.settimeout(5)
                with self.assertRaises(ConnectionRefusedError):
                    s.connect(("127.0.0.1", cs.port))
            rc, _, err = probe(cs.url(2))
            self.assertNotEqual(rc, 0)
            self.assertIn("refused", err.lower())
        finally:
            cs.ok("refuse off")
        rc, info, err = probe(cs.url(2))
        self.assertEqual(rc, 0, err)
        self.assertEqual(info.get("codec_name"), "h264")

    def test_control_answers(self):
        cs = self.cs
        self.assertEqual(cs.ctl("black cam2 on", "black CAM2 off"), ["ok", "ok"])
        self.assertRegex(cs.ctl("FRAMES cam2")[0], r"^\d+$")
        self.assertEqual(cs.cameras, 2)
        for bad in ("bogus", "frames cam3", "frames cam0", "frames", "stall cam1 now",
                    "black cam1", "black cam1 maybe", "refuse", "x" * 300):
            self.assertTrue(cs.ctl(bad)[0].startswith("error: "), bad)


class Instances(cutest.TempDirTest):
    """Instances of their own: H.265, Digest, file replay, SIGTERM, bad arguments."""

    @contextlib.contextmanager
    def camsim(self, name, *args):
        cs = Camsim(self.tmp, name, *args)
        try:
            yield cs
        finally:
            cs.close()

    def test_h265_and_sigterm(self):
        cs = Camsim(self.tmp, "h265", "--codec", "h265", "--size", "320x240", "--gop", "10")
        try:
            rc, info, err = probe(cs.url(1))
            self.assertEqual(rc, 0, err)
            self.assertEqual((info.get("codec_name"), info.get("width"), info.get("height")),
                             ("hevc", "320", "240"))
            with open(cs.pid_path) as f:
                self.assertEqual(int(f.read()), cs.proc.pid)
            os.kill(cs.proc.pid, signal.SIGTERM)
            self.assertEqual(cs.proc.wait(10), 0, cs.stderr())
            self.assertFalse(os.path.exists(cs.pid_path))
            self.assertFalse(os.path.exists(cs.ctl_path))
        finally:
            cs.close()

    def test_digest(self):
        pw = os.path.join(self.tmp, "cam.pw")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pw, 0o600)
        with self.camsim("auth", "--user", "alice", "--password-file", pw) as cs:
            # The challenge offers Digest and nothing else.
            with socket.create_connection(("127.0.0.1", cs.port), timeout=10) as s:
                s.sendall(f"DESCRIBE {cs.url(1)} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            head = head.decode(errors="replace")
            self.assertTrue(head.startswith("RTSP/1.0 401"), head)
            self.assertIn("WWW-Authenticate: Digest", head)
            self.assertNotIn("Basic", head)
            rc, _, err = probe(cs.url(1))
            self.assertNotEqual(rc, 0)
            self.assertIn("401", err)
            rc, _, err = probe(cs.url(1, cred="alice:wrong-password@"))
            self.assertNotEqual(rc, 0)
            rc, info, err = probe(cs.url(1, cred=f"alice:{PASSWORD}@"))
            self.assertEqual(rc, 0, err)
            self.assertEqual(info.get("codec_name"), "h264")
            self.assertNotIn(PASSWORD, cs.stderr())

    def test_file_replay(self):
        clip = os.path.join(MEDIA, "h264.mp4")  # 50 frames, 2 s, 320x240
        with self.camsim("file", "--file", clip) as cs:
            rc, info, err = probe(cs.url(1))
            self.assertEqual(rc, 0, err)
            self.assertEqual((info.get("codec_name"), info.get("width"), info.get("height")),
                             ("h264", "320", "240"))
            with player(cs.url(1), os.path.join(self.tmp, "ffmpeg.log")) as ff:
                base = cs.frames(1)
                t0 = time.monotonic()
                # Past the 50 frames of the file: it loops.
                self.assertTrue(wait_for(lambda: cs.frames(1) >= base + 60, 10),
                                f"only {cs.frames(1) - base} frames in 10 s")
                elapsed = time.monotonic() - t0
                self.assertIsNone(ff.poll(), "the client stopped at the end of the file")
            # In real time: 60 frames at 25 fps take 2.4 s, not a burst.
            self.assertGreater(elapsed, 1.6)
            self.assertTrue(cs.ctl("black cam1 on")[0].startswith("error: "))
            self.assertEqual(cs.ctl("quit"), ["ok"])
            self.assertEqual(cs.proc.wait(10), 0, cs.stderr())

    def test_elements_in_table(self):
        """Every element a streaming camera runs (gst-rtsp-server's included,
        over TCP and over UDP) is in the table that the start check, the
        missing-package message and the dependency check rely on."""
        table = element_table()
        for name in ("clockoverlay", "x264enc", "videotestsrc", "rtpbin"):
            self.assertIn(name, table)
        self.assertEqual(table["clockoverlay"], "gstreamer1.0-x")
        with self.camsim("elements", "--size", "320x240") as cs:
            self.assertEqual(cs.ctl("elements"), ["error: no camera is streaming"])
            seen = set()
            with player(cs.url(1), os.path.join(self.tmp, "tcp.log")):
                self.assertTrue(wait_for(lambda: cs.frames(1) > 10, 15))
                seen |= set(cs.ctl("elements")[0].split())
            udp = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport",
                                    "udp", "-i", cs.url(1), "-f", "null", "-"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            try:
                base = cs.frames(1)
                self.assertTrue(wait_for(lambda: cs.frames(1) > base + 10, 15))
                udp_seen = set(cs.ctl("elements")[0].split())
            finally:
                stop(udp)
            self.assertIn("udpsrc", udp_seen)
            seen |= udp_seen
        for name in ("clockoverlay", "x264enc", "rtph264pay", "rtpbin", "valve"):
            self.assertIn(name, seen)
        self.assertEqual(sorted(seen - set(table)), [],
                         "elements a camera runs that camsim's table does not name")

    def test_missing_plugin_is_named(self):
        """Without the Pango plugin (gstreamer1.0-x), camsim stops at start
        naming the element and the package; a --file replay, which needs no
        clock overlay, still starts."""
        env = without_plugin(self.tmp, "libgstpango.so")
        p = subprocess.run([CAMSIM, "--port", "0"], capture_output=True, text=True, timeout=60,
                           env=env)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertIn("'clockoverlay' is missing", p.stderr)
        self.assertIn("gstreamer1.0-x", p.stderr)
        clip = os.path.join(MEDIA, "h264.mp4")
        proc = subprocess.Popen([CAMSIM, "--port", "0", "--file", clip], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            m = READY.match(line.rstrip("\n"))
            self.assertIsNotNone(m, f"camsim --file without Pango: {line!r}")
            rc, info, err = probe(f"rtsp://127.0.0.1:{m.group(1)}/cam1")
            self.assertEqual(rc, 0, err)
            self.assertEqual(info.get("codec_name"), "h264")
        finally:
            stop(proc)
            proc.stdout.close()
            proc.stderr.close()

    def test_bad_arguments(self):
        text = os.path.join(MEDIA, "text.txt")
        loose = os.path.join(self.tmp, "loose.pw")
        with open(loose, "w") as f:
            f.write("secret-in-a-loose-file\n")
        os.chmod(loose, 0o644)
        cases = [
            ([], "--port"),
            (["--port", "70000"], "--port"),
            (["--port", "-1"], "--port"),
            (["--port", "0", "--cameras", "0"], "--cameras"),
            (["--port", "0", "--cameras", "65"], "--cameras"),
            (["--port", "0", "--size", "640"], "--size"),
            (["--port", "0", "--size", "641x360"], "--size"),
            (["--port", "0", "--size", "99999x10"], "--size"),
            (["--port", "0", "--fps", "0"], "--fps"),
            (["--port", "0", "--codec", "vp8"], "--codec"),
            (["--port", "0", "--tls-port", "0"], "--tls-port"),
            (["--port", "0", "--cert", text, "--key", text], "--cert"),
            (["--port", "0", "--file", os.path.join(self.tmp, "missing.mp4")], "--file"),
            (["--port", "0", "--file", text], "--file"),
            (["--port", "0", "--user", "alice"], "--password-file"),
            (["--port", "0", "--user", "alice", "--password-file", loose], "--password-file"),
            (["--port", "0", "--user", "al:ice", "--password-file", loose], "--user"),
            (["--port", "0", "extra"], "extra"),
        ]
        for args, word in cases:
            p = subprocess.run([CAMSIM, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, f"{args}: {p.stderr}")
            self.assertEqual(p.stdout, "", args)
            self.assertIn(word, p.stderr, args)
            self.assertNotIn("secret-in-a-loose-file", p.stderr)


if __name__ == "__main__":
    cutest.main()
