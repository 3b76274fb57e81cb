"""The browser client (web/, issue 13) in Debian's Firefox ESR, headless,
driven over Marionette (tests/integration/marionette.py: Debian 12 has no
geckodriver) against custodyd recording custody-camsim, the same site as the
Chromium test (web_util.Site): log in, the 2x2 live grid plays (H.264 through
MSE: every video's currentTime advances), one camera large, a seek shows the
picture of that moment (the decoded frame compared with the server's still
of that time and with stills a second either side), a bookmark made from a
selection dragged on the timeline, the export dialog shows the profile's
locked settings locked and its package, downloaded by Firefox, is verified
intact by custody verify, logout and the idle timeout empty the page (the idle
window, left alone from the start, says why and the server logged the
logout), and no Content-Security-Policy violation was reported, neither to
a securitypolicyviolation listener in each page nor in the browser's console
(which also holds what happened before the listener was added); then a
violation made on purpose shows that both would have seen one. Screenshots
go to $CU_SCREENSHOTS (default BUILD/meson-logs/screenshots/), named
firefox-*.png.

Firefox trusts the site TLS CA through the NSS database of its fresh profile
(cert9.db, certutil -t C,,), as an operator's Firefox does after importing
STORE/tls/ca.pem; the session asks for acceptInsecureCerts false: no
certificate check is switched off, and a profile without the CA is refused
the server ("insecure certificate")."""

import base64
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

import api_util
import cutest
import marionette
import web_util
from cutest import run
from marionette import MarionetteError, down, move, up
from web_util import (IDLE_S, JS_COMPARE, JS_FRAME_SHOWN, JS_TILES, OPERATOR_PW, OTHER_MIN,
                      PACKAGE_PW, SAME_MAX, SHOTS, VIEWER_PW)

NUDGE_S = 15
# what a page may report while an element is being replaced under the test
TRANSIENT = ("no such element", "stale element reference")

# Added to each page after it loads: every securitypolicyviolation event.
JS_CSP_LISTEN = """window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""

# In the chrome context: the CSP reports in the browser's console, from every
# window since Firefox started.
JS_CSP_CONSOLE = """return Services.console.getMessageArray().filter((m) => m instanceof Ci.nsIScriptError
  && (m.category.startsWith('CSP') || m.errorMessage.startsWith('Content-Security-Policy')))
  .map((m) => m.errorMessage);"""


class FakeMarionette:
    """A Marionette server on 127.0.0.1 that sends its handshake `hello`,
    then after each command it reads, the next of `answers` (raw bytes), and
    then stays silent until closed."""

    HELLO = b'50:{"applicationType":"gecko","marionetteProtocol":3}'

    def __init__(self, *answers, hello=HELLO):
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.done = threading.Event()

        def serve():
            c, _ = self.srv.accept()
            with c:
                c.sendall(hello)
                for a in answers:
                    if not c.recv(65536):
                        return
                    c.sendall(a)
                self.done.wait(30)
        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def connect(self):
        return marionette.Connection(socket.create_connection(self.srv.getsockname(), timeout=5),
                                     timeout=5)

    def close(self):
        self.done.set()
        self.thread.join(10)
        self.srv.close()


def answer(mid, error=None, result=None):
    body = json.dumps([1, mid, error, result]).encode()
    return str(len(body)).encode() + b":" + body


class MarionetteWire(cutest.unittest.TestCase):
    """The client's side of the wire against a fake server: answers matched
    by id, errors raised, and what is malformed, too big or too slow refused
    with an error that says so (after which the connection is closed)."""

    def talk(self, *answers, hello=FakeMarionette.HELLO):
        f = FakeMarionette(*answers, hello=hello)
        self.addCleanup(f.close)
        return f.connect()

    def test_answers_and_errors(self):
        c = self.talk(answer(7, result={"stale": True}) + answer(1, result={"value": 42}),
                      answer(2, error={"error": "no such element", "message": "#x"}))
        self.assertEqual(c.command("WebDriver:GetTitle"), {"value": 42})
        with self.assertRaises(MarionetteError) as e:
            c.command("WebDriver:FindElement")
        self.assertEqual(e.exception.error, "no such element")

    def test_refused(self):
        cases = [(b"35000000:", "over the limit"),          # 35 MB announced: not read
                 (b"12345678901:", "malformed Marionette length prefix"),
                 (b"x1:", "malformed Marionette length prefix"),
                 (b":{}", "empty Marionette length prefix"),
                 (b"5:{nope", "not JSON"),
                 (b"6:[1, 1,", "not JSON"),
                 (b'12:{"value": 1}', "not a Marionette response"),
                 (answer(1, error="boom"), "malformed error")]
        for raw, words in cases:
            with self.subTest(raw=raw):
                c = self.talk(raw)
                with self.assertRaises(marionette.ProtocolError) as e:
                    c.command("WebDriver:GetTitle")
                self.assertIn(words, str(e.exception))
                with self.assertRaises(marionette.ProtocolError) as e:
                    c.command("WebDriver:GetTitle")
                self.assertIn("closed after an earlier error", str(e.exception))

    def test_bad_handshake(self):
        with self.assertRaises(marionette.ProtocolError) as e:
            self.talk(hello=b'30:{"applicationType":"chromium"}')
        self.assertIn("unexpected Marionette handshake", str(e.exception))

    def test_silence_times_out(self):
        c = self.talk(b"40:[1, 1, null")        # a message that never ends
        t = time.monotonic()
        with self.assertRaises(TimeoutError):
            c.command("WebDriver:GetTitle", timeout=1)
        self.assertLess(time.monotonic() - t, 3)
        with self.assertRaises(marionette.ProtocolError):
            c.command("WebDriver:GetTitle")


class WebFirefox(cutest.unittest.TestCase):
    """One recording server, one simulator and one Firefox with two windows
    for the whole class: the main one, and one logged in at the start and
    never touched again (for the idle timeout). The tests run in name order
    and build on each other."""

    @classmethod
    def setUpClass(cls):
        for prog, pkg in ((marionette.FIREFOX, "firefox-esr"),
                          (shutil.which("certutil"), "libnss3-tools")):
            if prog is None:
                raise AssertionError(f"{pkg} is not installed (scripts/bootstrap installs it)")
        cls.tmp = tempfile.mkdtemp(prefix="custody-firefox-")
        os.makedirs(SHOTS, exist_ok=True)
        cls.ff = None
        try:
            cls.site = web_util.Site(cls.tmp)
            cls.api, cls.url = cls.site.api, cls.site.url
            profile = os.path.join(cls.tmp, "profile")
            web_util.nss_trust(profile, cls.api.ca)
            cls.downloads = os.path.join(cls.tmp, "downloads")
            os.makedirs(cls.downloads)
            cls.ff = marionette.Firefox(profile, log=os.path.join(
                web_util.BUILD, "meson-logs", "web_firefox-firefox.log"), extra_prefs={
                    # downloads go to this folder without asking
                    "browser.download.folderList": 2,
                    "browser.download.dir": cls.downloads,
                    "browser.download.useDownloadDir": True,
                    "browser.download.always_ask_before_handling_new_types": False,
                    "browser.download.alwaysOpenPanel": False})
            cls.main = cls.ff.window()
            # the idle window: logged in now, left alone, checked at the end
            cls.idle = cls.ff.new_window()
            cls.open_site()
            cls.login("victor", VIEWER_PW)
            cls.poll(lambda: cls.ff.find_all("#logout"), what="the idle window's login")
            cls.idle_since = time.monotonic()
            cls.ff.switch_to(cls.main)
            cls.last_nudge = time.monotonic()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "ff", None):
            cls.ff.quit()
        if hasattr(cls, "site"):
            cls.site.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers

    @classmethod
    def open_site(cls):
        cls.ff.get(cls.url)
        cls.ff.execute(JS_CSP_LISTEN)

    @classmethod
    def poll(cls, cond, timeout=20, what="condition", present=False):
        """cond() until it is true, every 0.2 s, at most `timeout` s. With
        `present`, the operator at the main window moves the mouse every
        NUDGE_S s (real input, as a person's hand), so that the 60 s idle
        timeout meant for the idle window cannot log them out while a slow
        machine keeps the test waiting."""
        deadline = time.monotonic() + timeout
        while True:
            if present and time.monotonic() - cls.last_nudge > NUDGE_S:
                body = cls.ff.find("body")
                cls.ff.pointer(move(body, -20, -20), move(body, -10, -10))
                cls.last_nudge = time.monotonic()
            try:
                r = cond()
                if r:
                    return r
            except MarionetteError as e:
                if e.error not in TRANSIENT:
                    raise
            if time.monotonic() > deadline:
                name = "firefox-FAILED-" + "".join(c if c.isalnum() else "-"
                                                   for c in what)[:60] + ".png"
                cls.ff.screenshot(os.path.join(SHOTS, name))
                raise AssertionError(f"timed out after {timeout}s waiting for {what} "
                                     f"(screenshot {name})")
            time.sleep(0.2)

    def wait(self, cond, timeout=20, what="condition"):
        return self.poll(cond, timeout, what, present=True)

    @classmethod
    def login(cls, user, password):
        ff = cls.ff
        cls.poll(lambda: ff.find_all("input[name=user]"), what="the login form")
        u = ff.find("input[name=user]")
        u.clear()
        u.send_keys(user)
        ff.find("input[name=password]").send_keys(password)
        ff.find("form.login button[type=submit]").click()

    def shot(self, name):
        self.ff.screenshot(os.path.join(SHOTS, "firefox-" + name + ".png"))

    def js(self, script, *args):
        return self.ff.execute(script, *args)

    def tiles(self):
        return {t["camera"]: t for t in self.js(JS_TILES)}

    def goto(self, screen):
        self.js(f"location.hash = '#{screen}'")
        self.wait(lambda: self.ff.find_all(f"nav a[data-screen={screen}][aria-current=page]"),
                  what=f"the {screen} screen")

    def big_time(self):
        return int(self.js("return Number(document.querySelector('.big-time').dataset.ms)"))

    def seek(self, t_ms):
        f = self.ff.find("#goto")
        f.clear()
        f.send_keys(cutest.iso(int(t_ms) * 1000))
        self.ff.find("form.goto button").click()
        return self.wait(lambda: self.js(JS_FRAME_SHOWN, "cam1"), 30,
                         "the frame at the time sought")

    def still(self, camera, t_ms, tok):
        """The server's JPEG still of `camera` at `t_ms`, in base64."""
        st, h, jpeg = self.api.request("GET", f"/api/v1/cameras/{camera}/still/"
                                              f"{cutest.iso(int(t_ms) * 1000)}",
                                       token=tok)
        self.assertEqual((st, h.get("content-type")), (200, "image/jpeg"), jpeg[:200])
        return base64.b64encode(jpeg).decode()

    def csp_reports(self):
        """The violations the page's listener saw, and those in the console."""
        return self.js("return window.__csp"), self.ff.chrome(JS_CSP_CONSOLE)

    # ---- the tests, in order

    def test_0_a_profile_without_the_site_ca_refuses_the_server(self):
        # the trust comes from the CA in the profile's NSS database, nothing else
        ff = marionette.Firefox(os.path.join(self.tmp, "untrusting-profile"), size=(800, 600))
        try:
            with self.assertRaises(MarionetteError) as e:
                ff.get(self.url)
            self.assertEqual(e.exception.error, "insecure certificate")
        finally:
            ff.quit()

    def test_1_login(self):
        ff = self.ff
        self.open_site()
        self.login("olga", "not the password")
        self.wait(lambda: "Wrong user name or password" in ff.find("#login-error").text,
                  what="the refusal")
        self.shot("01-login-refused")
        self.login("olga", OPERATOR_PW)
        self.wait(lambda: ff.find_all("#logout"), what="the shell")
        # nothing of the session in the browser's storage
        self.assertEqual(self.js("return [localStorage.length, sessionStorage.length, "
                                 "document.cookie]"), [0, 0, ""])
        self.assertEqual([a.text for a in ff.find_all("nav a")], ["Live", "Playback", "Exports"])
        # the page came over TLS that Firefox verified against the site CA
        self.assertTrue(self.js("return window.isSecureContext && location.protocol === 'https:'"))

    def test_2_live_grid_plays(self):
        ff = self.ff
        self.goto("live")
        ff.find("button[data-layout='4']").click()
        self.wait(lambda: len(self.tiles()) == 4, what="four tiles")
        # the codec of the cameras' streams, as the client asks MSE for it
        self.assertTrue(self.js("return MediaSource.isTypeSupported("
                                "'video/mp4; codecs=\"avc1.42E01E\"')"))
        self.wait(lambda: all(t["t"] > 0.5 for t in self.tiles().values()), 30,
                  "every tile to play")
        first = self.tiles()
        time.sleep(3)
        later = self.tiles()
        for cam in web_util.CAMERAS:
            with self.subTest(camera=cam):
                self.assertGreater(later[cam]["t"] - first[cam]["t"], 1.5, (first, later))
                self.assertEqual(later[cam]["state"], "recording", later[cam])
        sizes = self.js("return [...document.querySelectorAll('.grid video')]"
                        ".map((v) => [v.videoWidth, v.videoHeight])")
        self.assertEqual(sizes, [[320, 240]] * 4)
        self.assertRegex(ff.find(".tile[data-camera=cam1] .latency").text, r"behind")
        self.shot("02-live-2x2")
        ff.find(".tile[data-camera=cam3]").click()
        self.wait(lambda: list(self.tiles()) == ["cam3"], what="cam3 large")
        t0 = self.tiles()["cam3"]["t"]
        self.wait(lambda: self.tiles()["cam3"]["t"] > t0 + 1, 10, "cam3 large to play")
        self.shot("03-live-one-camera")
        ff.find_xpath("//button[contains(., 'Back to grid')]").click()
        self.wait(lambda: len(self.tiles()) == 4, what="the grid again")

    def test_3_seek_shows_the_frame_of_that_time(self):
        # 15 s recorded on every camera, so that 8 s ago and a second either
        # side have stills
        tok = self.site.admin_token()
        self.wait(lambda: self.site.recorded_for(tok, 15), 60, "15 s of recording")
        self.__class__.now = time.time()
        self.goto("playback")
        self.wait(lambda: self.ff.find_all("#goto"), what="the playback screen")
        if self.js("return document.querySelector('#play').dataset.playing") == "true":
            self.ff.find("#play").click()
        target = (self.now - 8) * 1000
        shown = self.seek(target)
        self.assertLess(abs(shown - target), 50, (shown, target))
        time.sleep(0.5)
        times = [shown, shown - 1000, shown + 1000]
        stills = [self.still("cam1", t, tok) for t in times]
        r = self.ff.execute_async(JS_COMPARE, "cam1", times, stills)
        self.assertTrue(r["ok"], r)
        print(f"{self.ff.capabilities['browserName']} {self.ff.capabilities['browserVersion']}: "
              f"pixels differing from the stills at the time shown, 1 s before, 1 s after: "
              f"{r['diffs']}", file=sys.stderr)
        same, before, after = r["diffs"]
        self.assertEqual(r["size"], [320, 240], r)
        self.assertLessEqual(same, SAME_MAX, r)
        self.assertGreaterEqual(before, OTHER_MIN, r)
        self.assertGreaterEqual(after, OTHER_MIN, r)
        self.assertEqual(self.big_time(), shown)
        # one frame forward and back with the keys
        body = self.ff.find("body")
        body.send_keys(".")
        self.wait(lambda: self.big_time() >= shown + 39, 10, "a frame forward")
        body.send_keys(",")
        self.wait(lambda: abs(self.big_time() - shown) <= 2, 10, "a frame back")
        self.shot("04-playback-seek")

    def test_4_bookmark_from_a_selection(self):
        ff = self.ff
        t0 = (self.now - 12) * 1000
        self.seek(t0 + 2000)
        ff.find_xpath("//button[text()='Minute']").click()
        time.sleep(0.5)
        c = ff.find(".timeline-canvas")
        self.js("arguments[0].scrollIntoView({block: 'center'})", c)
        g = self.js("const c = arguments[0], r = c.getBoundingClientRect();"
                    "return {start: Number(c.dataset.start), end: Number(c.dataset.end),"
                    "label: Number(c.dataset.label), w: r.width, h: r.height}", c)
        xs = [g["label"] + (t - g["start"]) / (g["end"] - g["start"]) * (g["w"] - g["label"])
              - g["w"] / 2 for t in (t0, t0 + 6000)]
        y = 26 + 15 - g["h"] / 2        # the first row: cam1
        mid = (xs[0] + xs[1]) / 2
        ff.pointer(move(c, xs[0], y), down(), move(c, mid, y, 50), move(c, xs[1], y, 50), up())
        self.wait(lambda: ff.find(".sel-info").text.startswith("Selected"), 5, "a selection")
        ff.find_xpath("//button[text()='Bookmark…']").click()
        self.wait(lambda: ff.find_all("#bm-title"), 5, "the bookmark dialog")
        ff.find("#bm-title").send_keys("Firefox: door forced")
        ff.find("#bm-desc").send_keys("seen in Firefox")
        self.shot("05-bookmark-dialog")
        ff.find("dialog form button[type=submit]").click()
        self.wait(lambda: "Firefox: door forced" in ff.find("#bookmarks").text, 10,
                  "the bookmark in the list")
        _, j = self.api.json("GET", "/api/v1/cameras/cam1/bookmarks",
                             token=self.site.admin_token(), expect=200)
        bm = [x for x in j["bookmarks"] if x["title"] == "Firefox: door forced"]
        self.assertEqual(len(bm), 1, j)
        self.assertEqual(bm[0]["created_by"], "olga")
        self.assertEqual(bm[0]["description"], "seen in Firefox")
        span = cutest.parse_iso(bm[0]["end"]) - cutest.parse_iso(bm[0]["at"])
        self.assertAlmostEqual(span / 1e6, 6, delta=1.5)
        self.shot("06-playback-bookmark")

    def test_5_export_dialog_download_verify(self):
        ff = self.ff
        ff.find("#export-open").click()
        self.wait(lambda: ff.find_all("#exp-case"), 10, "the export dialog")
        # the default profile's locked settings are shown locked
        enc = ff.find("#exp-encryption")
        self.assertFalse(enc.enabled())
        self.assertTrue(enc.selected())
        self.assertIn("locked", ff.find_xpath("//label[@for='exp-encryption']").text)
        player = ff.find("#exp-include_player")
        self.assertTrue(player.enabled())                  # not locked: off, for a bare package
        if player.selected():
            player.click()
        for box in ff.find_all("dialog fieldset input[type=checkbox]"):
            if box.attribute("value") in ("cam2", "cam3", "cam4") and box.selected():
                box.click()
        ff.find("#exp-case").send_keys("K-2026-FF")
        ff.find("#exp-comments").send_keys("exported from Firefox")
        ff.find("#exp-pw1").send_keys(PACKAGE_PW)
        ff.find("#exp-pw2").send_keys(PACKAGE_PW)
        self.shot("07-export-dialog")
        ff.find("#exp-submit").click()
        self.wait(lambda: ff.find_all("#exp-download"), 90, "the export to finish")
        ff.find("#exp-download").click()

        def downloaded():
            # Firefox writes NAME.part and renames it when it is complete
            names = os.listdir(self.downloads)
            done = [n for n in names if n.endswith(".cuep") and n + ".part" not in names
                    and os.path.getsize(os.path.join(self.downloads, n)) > 0]
            return not any(n.endswith(".part") for n in names) and done
        pkg = os.path.join(self.downloads, self.wait(downloaded, 30, "the downloaded package")[0])
        pw = api_util.secret(self.tmp, "pkg.pw", PACKAGE_PW)
        p = run("verify", pkg, "--password-file", pw, "--json")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rep = json.loads(p.stdout)
        self.assertEqual(rep["result"], "intact", rep)
        text = json.dumps(rep)
        for words in ("K-2026-FF", "exported from Firefox", "olga"):
            self.assertIn(words, text)
        ff.find("dialog header button").click()
        self.wait(lambda: not ff.find_all("dialog[open]"), 5, "the dialog closed")

    def test_6_logout_idle_and_no_csp_violation(self):
        ff = self.ff
        ff.find("#logout").click()
        self.wait(lambda: ff.find_all("input[name=user]"), what="the login form")
        self.assertEqual(self.js("return [document.querySelectorAll('video').length, "
                                 "document.querySelectorAll('.tile').length]"), [0, 0])
        # the idle window: untouched since it logged in
        ff.switch_to(self.idle)
        left = self.idle_since + IDLE_S + 3 - time.monotonic()
        if left > 0:
            time.sleep(left)
        self.poll(lambda: ff.find_all("input[name=user]"), 10, "the idle logout")
        self.assertIn("no activity", ff.find("#login-error").text)
        self.assertEqual(self.js("return [document.querySelectorAll('video').length, "
                                 "document.querySelectorAll('.tile').length]"), [0, 0])
        self.shot("08-idle-logged-out")
        page_idle, console = self.csp_reports()
        ff.switch_to(self.main)
        page_main, _ = self.csp_reports()
        self.assertEqual((page_main, page_idle, console), ([], [], []))
        # the server revoked both sessions: olga's logout and victor's idle one
        self.api.term()
        p = run("audit", "export", "--store", self.site.s.dir, "--format", "json", check=0)
        ents = json.loads(p.stdout)["entries"]
        outs = [e["actor"] for e in ents if e["type"] == "auth.logout"]
        self.assertEqual(sorted(outs), ["olga", "victor"], outs)
        # the checks can see a violation: an inline style attribute, which
        # the client never sets, is refused and reported to both
        self.js("document.body.setAttribute('style', 'outline: 1px solid red')")
        self.poll(lambda: all(self.csp_reports()), 5, "the violation made on purpose")
        page, console = self.csp_reports()
        self.assertIn("style-src-attr", page[0])
        self.assertIn("style-src-attr", console[0])


if __name__ == "__main__":
    cutest.main()
