"""A small client of Firefox's Marionette protocol (standard library only),
for driving Debian's firefox-esr in the browser tests: Debian 12 has no
geckodriver, and Marionette is what geckodriver itself speaks to Firefox.

The wire (Mozilla's "Protocol" page of the Marionette documentation): over
TCP, each message is its length in bytes as ASCII decimal, a colon, then that
many bytes of JSON. On connecting, the server sends one message, an object
with "applicationType" "gecko" and "marionetteProtocol" 3. A command is
[0, id, "Name", {params}]; its response is [1, id, error, result], where
error is null or {"error", "message", "stacktrace"}. The commands are the
WebDriver ones under the "WebDriver:" prefix, with the WebDriver parameters
and results; elements are {ELEMENT_KEY: uuid} objects both ways.

Bounded: every read has a deadline, a message over MAX_MESSAGE bytes or one
that is not the JSON expected is refused with an error naming what was
wrong, and Firefox is stopped by its PID."""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time

FIREFOX = shutil.which("firefox-esr")   # Debian's firefox-esr: /usr/bin/firefox-esr
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"   # the WebDriver element reference
MAX_MESSAGE = 32 * 1024 * 1024     # a 1400x1250 PNG screenshot in base64 is a few MB
MAX_LENGTH_DIGITS = 10
START_TIMEOUT = 60                 # Firefox up and listening
COMMAND_TIMEOUT = 60               # a page load or a script's own timeout is shorter

# A fresh profile's prefs for an unattended, headless, offline run: no
# first-run or what's-new pages, no updates, no telemetry or other calls
# home, no session restore; video may start without a user gesture (the
# client's videos are muted, and Firefox lets muted video autoplay anyway).
PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.newtabpage.enabled": False,
    "browser.aboutwelcome.enabled": False,
    "startup.homepage_welcome_url": "about:blank",
    "startup.homepage_welcome_url.additional": "",
    "browser.sessionstore.resume_from_crash": False,
    "browser.tabs.warnOnClose": False,
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "browser.ping-centre.telemetry": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "security.OCSP.enabled": 0,          # the site CA publishes no OCSP responder
    "services.settings.server": "",
    "browser.search.update": False,
    "media.autoplay.default": 0,         # allowed
    "media.autoplay.blocking_policy": 0,
    "dom.disable_beforeunload": True,
    "remote.prefs.recommended": True,
    "messaging-system.rsexperimentloader.enabled": False,
    "nimbus.rsexperimentloader.enabled": False,
}


class MarionetteError(Exception):
    """A command refused by Firefox: the WebDriver error code and message."""

    def __init__(self, command, error, message):
        super().__init__(f"{command}: {error}: {message}")
        self.error = error


class ProtocolError(Exception):
    """What came over the socket is not a Marionette message we expect."""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pref_value(v):
    return json.dumps(v)      # true/false, numbers and quoted strings as prefs.js has them


class Connection:
    """One Marionette connection over the connected socket `sock`: reads the
    server's handshake, then sends commands and reads their answers. After
    a timeout or a malformed message the stream cannot be trusted to be at a
    message boundary, so the connection is closed and every later command
    fails with ProtocolError."""

    def __init__(self, sock, timeout=START_TIMEOUT):
        self.sock = sock
        self.next_id = 0
        hello = self.read(timeout)
        if not (isinstance(hello, dict) and hello.get("applicationType") == "gecko"
                and hello.get("marionetteProtocol") == 3):
            self.close()
            raise ProtocolError(f"unexpected Marionette handshake: {hello!r:.200}")

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _recv(self, n, deadline):
        out = bytearray()
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete Marionette message before the deadline")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(min(n - len(out), 1 << 20))
            except socket.timeout:
                raise TimeoutError("no complete Marionette message before the deadline") from None
            if not chunk:
                raise ProtocolError("Marionette closed the connection")
            out += chunk
        return bytes(out)

    def _read(self, deadline):
        digits = b""
        while True:
            c = self._recv(1, deadline)
            if c == b":":
                break
            if not c.isdigit() or len(digits) >= MAX_LENGTH_DIGITS:
                raise ProtocolError(f"malformed Marionette length prefix: {digits + c!r}")
            digits += c
        if not digits:
            raise ProtocolError("empty Marionette length prefix")
        n = int(digits)
        if n > MAX_MESSAGE:
            raise ProtocolError(f"Marionette message of {n} bytes is over the limit of "
                                f"{MAX_MESSAGE}")
        body = self._recv(n, deadline)
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError) as e:
            raise ProtocolError(f"Marionette message is not JSON: {e}") from None

    def read(self, timeout):
        """The next message, decoded, within `timeout` s."""
        if not self.sock:
            raise ProtocolError("the Marionette connection was closed after an earlier error")
        try:
            return self._read(time.monotonic() + timeout)
        except (ProtocolError, TimeoutError, OSError):
            self.close()
            raise

    def command(self, name, params=None, timeout=COMMAND_TIMEOUT):
        """Sends one command and waits (at most `timeout` s) for its answer:
        the result, or MarionetteError with the WebDriver error."""
        if not self.sock:
            raise ProtocolError("the Marionette connection was closed after an earlier error")
        self.next_id += 1
        mid = self.next_id
        data = json.dumps([0, mid, name, params or {}]).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        deadline = time.monotonic() + timeout
        while True:
            msg = self.read(deadline - time.monotonic())
            if not (isinstance(msg, list) and len(msg) == 4 and msg[0] == 1
                    and isinstance(msg[1], int)):
                self.close()
                raise ProtocolError(f"{name}: not a Marionette response: {msg!r:.200}")
            if msg[1] != mid:
                continue            # the answer to an earlier command given up on
            err, result = msg[2], msg[3]
            if err is not None:
                if not (isinstance(err, dict) and isinstance(err.get("error"), str)):
                    self.close()
                    raise ProtocolError(f"{name}: malformed error {err!r:.200}")
                raise MarionetteError(name, err["error"], err.get("message"))
            return result


class Element:
    """A WebDriver element reference in a Firefox session."""

    def __init__(self, session, uuid):
        self.s, self.id = session, uuid

    def _cmd(self, command, **params):
        return self.s.command(command, {"id": self.id, **params})

    def click(self):
        self._cmd("WebDriver:ElementClick")

    def clear(self):
        self._cmd("WebDriver:ElementClear")

    def send_keys(self, text):
        self._cmd("WebDriver:ElementSendKeys", text=text)

    @property
    def text(self):
        return self._cmd("WebDriver:GetElementText")["value"]

    def attribute(self, name):
        return self._cmd("WebDriver:GetElementAttribute", name=name)["value"]

    def enabled(self):
        return self._cmd("WebDriver:IsElementEnabled")["value"]

    def selected(self):
        return self._cmd("WebDriver:IsElementSelected")["value"]

    def displayed(self):
        return self.s.execute("const e = arguments[0]; const r = e.getBoundingClientRect();"
                              "return r.width > 0 && r.height > 0", self)


class Firefox:
    """firefox-esr --headless --marionette with the profile folder `profile`
    (new, or holding only what the caller put there, such as an NSS database
    cert9.db that trusts the site's CA), one WebDriver session, a window of
    `size`."""

    def __init__(self, profile, size=(1400, 1250), log=None, extra_prefs=None):
        self.proc = self.wire = None
        self.profile = profile
        self.port = _free_port()
        self.log_path = log or os.path.join(profile, "firefox.log")
        os.makedirs(profile, exist_ok=True)
        prefs = dict(PREFS, **(extra_prefs or {}))
        prefs["marionette.port"] = self.port
        with open(os.path.join(profile, "user.js"), "w", encoding="utf-8") as f:
            for k, v in prefs.items():
                f.write(f'user_pref("{k}", {_pref_value(v)});\n')
        env = dict(os.environ, MOZ_CRASHREPORTER_DISABLE="1", MOZ_HEADLESS="1",
                   HOME=profile)   # nothing read from or written to the user's home
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(
                [FIREFOX, "--headless", "--marionette", "--remote-allow-system-access",
                 "--no-remote", "--profile", profile, "about:blank"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        try:
            self.wire = Connection(self._connect())
            caps = self.command("WebDriver:NewSession",
                                {"capabilities": {"alwaysMatch": {
                                    "acceptInsecureCerts": False,
                                    "pageLoadStrategy": "normal",
                                    "unhandledPromptBehavior": "dismiss"}}})
            self.capabilities = caps["capabilities"]
            self.command("WebDriver:SetTimeouts", {"script": 30000, "pageLoad": 30000,
                                                   "implicit": 0})
            self.command("WebDriver:SetWindowRect", {"width": size[0], "height": size[1]})
        except BaseException:
            self.quit()
            raise

    def _connect(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise ProtocolError(f"firefox-esr exited with {self.proc.returncode} before "
                                    f"Marionette listened (see {self.log_path})")
            try:
                return socket.create_connection(("127.0.0.1", self.port), timeout=2)
            except OSError:
                if time.monotonic() > deadline:
                    raise ProtocolError(f"Marionette did not listen on 127.0.0.1:{self.port} "
                                        f"within {START_TIMEOUT}s (see {self.log_path})")
                time.sleep(0.2)

    def command(self, name, params=None, timeout=COMMAND_TIMEOUT):
        """Sends one command (Connection.command); element references in the
        result become Element objects."""
        return self._unwrap(self.wire.command(name, params, timeout))

    # WebDriver values: element references become Element objects and back

    def _wrap(self, v):
        if isinstance(v, Element):
            return {ELEMENT_KEY: v.id}
        if isinstance(v, (list, tuple)):
            return [self._wrap(x) for x in v]
        if isinstance(v, dict):
            return {k: self._wrap(x) for k, x in v.items()}
        return v

    def _unwrap(self, v):
        if isinstance(v, dict):
            if len(v) == 1 and ELEMENT_KEY in v:
                return Element(self, v[ELEMENT_KEY])
            return {k: self._unwrap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self._unwrap(x) for x in v]
        return v

    # ---- WebDriver

    def get(self, url):
        self.command("WebDriver:Navigate", {"url": url})

    def find(self, css):
        return self.command("WebDriver:FindElement", {"using": "css selector",
                                                      "value": css})["value"]

    def find_all(self, css):
        return self.command("WebDriver:FindElements", {"using": "css selector",
                                                       "value": css})

    def find_xpath(self, xpath):
        return self.command("WebDriver:FindElement", {"using": "xpath", "value": xpath})["value"]

    def execute(self, script, *args):
        return self.command("WebDriver:ExecuteScript",
                            {"script": script, "args": self._wrap(list(args))})["value"]

    def execute_async(self, script, *args):
        """The script's last argument is the function that returns its value."""
        return self.command("WebDriver:ExecuteAsyncScript",
                            {"script": script, "args": self._wrap(list(args))})["value"]

    def chrome(self, script, *args):
        """Runs `script` in the browser's chrome (privileged) context."""
        self.command("Marionette:SetContext", {"value": "chrome"})
        try:
            return self.execute(script, *args)
        finally:
            self.command("Marionette:SetContext", {"value": "content"})

    def pointer(self, *actions):
        """Performs the mouse `actions` (made by move, down, up) as real input
        events, then releases whatever is still pressed."""
        self.command("WebDriver:PerformActions", {"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": self._wrap(list(actions))}]})
        self.command("WebDriver:ReleaseActions")

    def screenshot(self, path):
        png = base64.b64decode(self.command("WebDriver:TakeScreenshot",
                                            {"full": False, "hash": False})["value"])
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ProtocolError("TakeScreenshot did not answer a PNG")
        with open(path, "wb") as f:
            f.write(png)

    def new_window(self):
        """Opens a new top-level window and makes it current; its handle."""
        h = self.command("WebDriver:NewWindow", {"type": "window"})["handle"]
        self.switch_to(h)
        return h

    def switch_to(self, handle):
        self.command("WebDriver:SwitchToWindow", {"handle": handle, "focus": True})

    def window(self):
        return self.command("WebDriver:GetWindowHandle")["value"]

    def quit(self):
        """Ends the session by asking Firefox to quit (Marionette:Quit, which
        needs the session; its child processes then end cleanly rather than as
        crashes), and stops it by its PID if it has not exited within 15 s
        (SIGTERM, then SIGKILL)."""
        if self.wire:
            try:
                self.command("Marionette:Quit", {"flags": ["eForceQuit"]}, timeout=15)
            except Exception:
                pass        # it is stopped by its PID below
            self.wire.close()
            self.wire = None
        if self.proc:
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)   # its own session: its children too
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)


def move(element, x=0, y=0, duration=0):
    """A pointer move to (x, y) from the centre of the visible part of `element`."""
    return {"type": "pointerMove", "origin": element, "x": int(x), "y": int(y),
            "duration": int(duration)}


def down():
    return {"type": "pointerDown", "button": 0}


def up():
    return {"type": "pointerUp", "button": 0}
