"""The browser client (web/, issue 13) driven in a real headless Chromium by
Selenium against custodyd recording custody-camsim: log in, the 2x2 live grid
plays, a stalled camera's tile says offline and comes back, the timeline shows
that gap with its reason, a seek shows the picture of that moment (the decoded
frame compared with the server's still of that time, and with stills a second
either side), a bookmark and an evidence lock made on the timeline, an export
with comments and a password downloaded and verified intact by custody verify,
a viewer without export has no export control and a forged export from their
session is refused, the idle timeout logs out and empties the page, and no
Content-Security-Policy violation is reported. Screenshots of each screen go
to $CU_SCREENSHOTS (default: BUILD/meson-logs/screenshots/).

The browser trusts the store's site TLS CA through a temporary NSS database
in a temporary HOME (certutil), as an operator's browser would after
installing STORE/tls/ca.pem: no certificate check is switched off.

Selenium is Debian's python3-selenium, installed for Debian's python3; when
the test runs under another python3 (a pyenv shim first in PATH), it starts
itself again under /usr/bin/python3."""

import os
import sys

try:
    import selenium  # noqa: F401
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    raise

import glob
import json
import shutil
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common import utils as selenium_utils
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import api_util
import cutest
import web_util
from cutest import run
from web_util import (ADMIN_PW, IDLE_S, JS_COMPARE, JS_FRAME_SHOWN, JS_TILES, OPERATOR_PW,
                      OTHER_MIN, PACKAGE_PW, SAME_MAX, SHOTS, VIEWER_PW)

CHROMIUM = shutil.which("chromium")          # /usr/bin/chromium
CHROMEDRIVER = shutil.which("chromedriver")  # /usr/bin/chromedriver


def nss_home(d, ca):
    """A HOME whose NSS database (~/.pki/nssdb, where Chromium looks) trusts
    the site TLS CA for TLS servers."""
    home = os.path.join(d, "home")
    web_util.nss_trust(os.path.join(home, ".pki", "nssdb"), ca)
    return home


class LoopbackService(Service):
    """chromedriver reached at 127.0.0.1, not "localhost": a fresh Debian root
    made by debootstrap has no /etc/hosts, so the name may not resolve there
    (Selenium 4.8 hard-codes "localhost" for its connection and its check)."""

    @property
    def service_url(self):
        return f"http://127.0.0.1:{self.port}"

    def is_connectable(self):
        return selenium_utils.is_connectable(self.port, host="127.0.0.1")


def browser(d, name, home, downloads=None, size="1400,1250"):
    profile = tempfile.mkdtemp(prefix=f"chromium-{name}-", dir=d)
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--autoplay-policy=no-user-gesture-required",
              f"--window-size={size}", f"--user-data-dir={profile}"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads:
        o.add_experimental_option("prefs", {"download.default_directory": downloads,
                                            "download.prompt_for_download": False})
    env = dict(os.environ, HOME=home)
    drv = webdriver.Chrome(service=LoopbackService(CHROMEDRIVER, env=env), options=o)
    if downloads:
        drv.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": downloads})
    return drv


# The drivers of an operator sitting at the console: during a long wait the
# test moves their pointer now and then (real input, as a person's hand), so
# that the server-wide 60 s idle timeout, meant for the idle browser, cannot
# log them out while a slow machine (ASan, CI) keeps the test waiting.
PRESENT = []
NUDGE_S = 15


def wait(drv, cond, timeout=20, what="condition"):
    last = [time.monotonic()]

    def present(d):
        if any(d is p for p in PRESENT) and time.monotonic() - last[0] > NUDGE_S:
            ActionChains(d).move_to_element_with_offset(
                d.find_element(By.TAG_NAME, "body"), 0, 0).perform()
            last[0] = time.monotonic()
        return cond(d)
    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.2,
                             ignored_exceptions=(NoSuchElementException,
                                                 StaleElementReferenceException)).until(present)
    except TimeoutException:
        name = "FAILED-" + "".join(c if c.isalnum() else "-" for c in what)[:60] + ".png"
        drv.save_screenshot(os.path.join(SHOTS, name))
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (screenshot "
                             f"{name})") from None


class WebClient(cutest.unittest.TestCase):
    """One recording server, one simulator and two browsers for the whole
    class: the tests run in name order and build on each other (the gap made
    by the stall test is the one the timeline test looks for)."""

    @classmethod
    def setUpClass(cls):
        for prog, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver"),
                          (shutil.which("certutil"), "libnss3-tools")):
            if prog is None:
                raise AssertionError(f"{pkg} is not installed (scripts/bootstrap installs it)")
        cls.tmp = tempfile.mkdtemp(prefix="custody-web-")
        cls.shots = SHOTS
        os.makedirs(cls.shots, exist_ok=True)
        cls.downloads = os.path.join(cls.tmp, "downloads")
        os.makedirs(cls.downloads)
        cls.drivers = []
        try:
            cls.site = web_util.Site(cls.tmp)
            cls.s, cls.api, cls.sim, cls.url = (cls.site.s, cls.site.api, cls.site.sim,
                                                cls.site.url)
            cls.home = nss_home(cls.tmp, cls.api.ca)
            cls.b = browser(cls.tmp, "main", cls.home, downloads=cls.downloads)
            PRESENT.append(cls.b)
            cls.drivers.append(cls.b)
            # the idle browser: logged in now, left alone, checked at the end
            cls.idle = browser(cls.tmp, "idle", cls.home, size="1000,700")
            cls.drivers.append(cls.idle)
            cls.idle.get(cls.url)
            cls.login(cls.idle, "victor", VIEWER_PW)
            wait(cls.idle, lambda d: d.find_elements(By.ID, "logout"), what="the idle login")
            cls.idle_since = time.monotonic()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for drv in getattr(cls, "drivers", []):
            try:
                drv.quit()
            except Exception:
                pass
        if hasattr(cls, "site"):
            cls.site.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers

    @staticmethod
    def login(drv, user, password):
        wait(drv, lambda d: d.find_elements(By.NAME, "user"), what="the login form")
        u = drv.find_element(By.NAME, "user")
        u.clear()
        u.send_keys(user)
        drv.find_element(By.NAME, "password").send_keys(password)
        drv.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()

    def shot(self, name, drv=None):
        (drv or self.b).save_screenshot(os.path.join(self.shots, name + ".png"))

    def js(self, script, *args):
        return self.b.execute_script(script, *args)

    def tiles(self):
        return {t["camera"]: t for t in self.js(JS_TILES)}

    def admin_token(self):
        return self.site.admin_token()

    def csp_violations(self, drv):
        return [l["message"] for l in drv.get_log("browser")
                if "Content Security Policy" in l["message"] or "Refused to" in l["message"]]

    def goto(self, screen):
        self.js(f"location.hash = '#{screen}'")
        wait(self.b, lambda d: d.find_elements(By.CSS_SELECTOR, f"nav a[data-screen={screen}]"
                                                              f"[aria-current=page]"),
             what=f"the {screen} screen")

    # ---- the tests, in order

    def test_1_login(self):
        b = self.b
        b.get(self.url)
        self.login(b, "olga", "not the password")
        wait(b, lambda d: "Wrong user name or password" in
             d.find_element(By.ID, "login-error").text, what="the refusal")
        self.shot("01-login-refused")
        # nothing of the session in the browser's storage, ever
        self.assertEqual(self.js("return [localStorage.length, sessionStorage.length, "
                                 "document.cookie]"), [0, 0, ""])
        self.login(b, "olga", OPERATOR_PW)
        wait(b, lambda d: d.find_elements(By.ID, "logout"), what="the shell")
        self.assertEqual(self.js("return [localStorage.length, sessionStorage.length, "
                                 "document.cookie]"), [0, 0, ""])
        nav = [a.text for a in b.find_elements(By.CSS_SELECTOR, "nav a")]
        self.assertEqual(nav, ["Live", "Playback", "Exports"])   # no audit, no admin

    def test_2_live_grid_plays(self):
        self.goto("live")
        b = self.b
        b.find_element(By.CSS_SELECTOR, "button[data-layout='4']").click()
        wait(b, lambda d: len(self.tiles()) == 4, what="four tiles")
        wait(b, lambda d: all(t["t"] > 0.5 for t in self.tiles().values()), 30,
             "every tile to play")
        first = self.tiles()
        time.sleep(3)
        later = self.tiles()
        for cam in ("cam1", "cam2", "cam3", "cam4"):
            with self.subTest(camera=cam):
                self.assertGreater(later[cam]["t"] - first[cam]["t"], 1.5, (first, later))
                self.assertEqual(later[cam]["state"], "recording", later[cam])
        lat = b.find_element(By.CSS_SELECTOR, ".tile[data-camera=cam1] .latency").text
        self.assertRegex(lat, r"behind")
        self.shot("02-live-2x2")
        # one camera large, and back
        b.find_element(By.CSS_SELECTOR, ".tile[data-camera=cam3]").click()
        wait(b, lambda d: list(self.tiles()) == ["cam3"], what="cam3 large")
        self.shot("03-live-one-camera")
        b.find_element(By.XPATH, "//button[contains(., 'Back to grid')]").click()
        wait(b, lambda d: len(self.tiles()) == 4, what="the grid again")

    def test_3_stalled_camera_goes_offline_and_back(self):
        b = self.b
        # tests 5 and 6 look at 6.5 s and 12 s before the stall (and a second
        # either side): recorded, without a gap, on every camera, however
        # slowly the cameras connected on this machine
        tok = self.admin_token()
        wait(b, lambda d: self.site.recorded_for(tok, 15), 60, "15 s of recording on every camera")
        self.__class__.stall_from = time.time()
        self.sim.cmd("stall cam2")
        try:
            wait(b, lambda d: self.tiles()["cam2"]["state"] == "offline", 20, "cam2 offline")
            t = self.tiles()["cam2"]
            self.assertIn("Offline", t["badge"])
            self.assertIn("Offline since", t["overlay"])
            self.assertEqual(self.tiles()["cam1"]["state"], "recording")
            self.shot("04-live-camera-offline")
            time.sleep(2)
        finally:
            self.sim.cmd("resume cam2")
        self.__class__.stall_to = time.time()
        wait(b, lambda d: self.tiles()["cam2"]["state"] == "recording", 30, "cam2 back")
        t0 = self.tiles()["cam2"]["t"]
        wait(b, lambda d: self.tiles()["cam2"]["t"] > t0 + 1.0, 30, "cam2's video to play again")

    def test_4_timeline_shows_the_gap_with_its_reason(self):
        self.goto("playback")
        b = self.b
        wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "#tl-events li[data-kind=gap]"
                                                           "[data-camera=cam2]"), 30,
             "cam2's gap on the timeline")
        li = b.find_element(By.CSS_SELECTOR, "#tl-events li[data-kind=gap][data-camera=cam2]")
        g_from, g_to = int(li.get_attribute("data-from")), int(li.get_attribute("data-to"))
        # the gap is the stall (the recorder notices it after offline_after)
        self.assertLess(abs(g_from / 1000 - self.stall_from), 4, (g_from, self.stall_from))
        self.assertGreater(g_to - g_from, 2000)
        st, j = self.api.json("GET", "/api/v1/cameras/cam2/ranges", token=self.admin_token(),
                              expect=200)
        reason = j["gaps"][0].get("reason")
        self.assertTrue(reason, j)     # the server gives the gap's reason ...
        self.assertIn(reason, li.get_attribute("textContent"))  # ... and the timeline shows it
        # the tooltip over the gap on the canvas says the same
        c = b.find_element(By.CSS_SELECTOR, ".timeline-canvas")
        self.js("arguments[0].scrollIntoView({block: 'center'})", c)
        start, end, label = (int(c.get_attribute(k)) for k in ("data-start", "data-end",
                                                               "data-label"))
        w = c.size["width"]
        mid = (g_from + g_to) / 2
        x = label + (mid - start) / (end - start) * (w - label)
        row = self.js("return [...document.querySelectorAll('.playback-grid .tile')]"
                      ".map(t => t.dataset.camera)").index("cam2")
        y = 26 + row * 30 + 15
        ActionChains(b).move_to_element_with_offset(c, int(x - w / 2), int(y - c.size["height"] / 2)).perform()
        tip = wait(b, lambda d: d.find_element(By.CSS_SELECTOR, ".tip:not(.hidden)"), 5, "tooltip")
        self.assertIn("Gap", tip.text)
        self.assertIn(reason, tip.text)
        self.shot("05-playback-gap-tooltip")

    def seek(self, t_ms):
        b = self.b
        f = b.find_element(By.ID, "goto")
        f.clear()
        f.send_keys(cutest.iso(int(t_ms) * 1000))
        b.find_element(By.CSS_SELECTOR, "form.goto button").click()
        wait(b, lambda d: self.js(JS_FRAME_SHOWN, "cam1") is not None, 30,
             "the frame at the time sought")
        return int(self.js("return Number(document.querySelector('.playback-grid "
                           ".tile[data-camera=cam1]').dataset.frameMs)"))

    def test_5_seek_shows_the_frame_of_that_time(self):
        b = self.b
        if self.js("return document.querySelector('#play').dataset.playing") == "true":
            b.find_element(By.ID, "play").click()
        target = (self.stall_from - 6.5) * 1000
        shown = self.seek(target)
        self.assertLess(abs(shown - target), 50, (shown, target))
        time.sleep(0.5)
        r = self.b.execute_async_script(JS_COMPARE, "cam1", [shown, shown - 1000, shown + 1000],
                                        None)
        self.assertTrue(r["ok"], r)
        same, before, after = r["diffs"]
        # the picture is the server's still of that moment, not of a second
        # before or after (the burned-in clock differs there)
        self.assertLessEqual(same, SAME_MAX, r)
        self.assertGreaterEqual(before, OTHER_MIN, r)
        self.assertGreaterEqual(after, OTHER_MIN, r)
        big = self.js("return document.querySelector('.big-time').dataset.ms")
        self.assertEqual(int(big), shown)
        # one frame forward and back with the keys
        body = b.find_element(By.TAG_NAME, "body")
        body.send_keys(".")
        wait(b, lambda d: int(self.js("return Number(document.querySelector('.big-time')"
                                      ".dataset.ms)")) >= shown + 39, 10, "a frame forward")
        body.send_keys(",")
        wait(b, lambda d: abs(int(self.js("return Number(document.querySelector('.big-time')"
                                          ".dataset.ms)")) - shown) <= 2, 10, "a frame back")
        self.shot("06-playback-paused-at-a-time")
        # and it plays: the clock and every video advance together
        body.send_keys(" ")
        time.sleep(3)
        body.send_keys(" ")
        frames = self.js("return [...document.querySelectorAll('.playback-grid .tile')]"
                         ".map(t => Number(t.dataset.frameMs || 0))")
        self.assertGreater(min(frames), shown + 2000, frames)
        self.assertLess(max(frames) - min(frames), 400, frames)

    def test_5b_tampered_recording_is_refused_and_shown(self):
        b = self.b
        # flip a byte in the middle of an early, sealed segment of cam4
        seq, _, start, end, _, _ = self.s.segments("cam4")[2]
        path = self.s.segment_path("cam4", seq)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x40]))
        # what the client fetched before (verified then) stays buffered: open
        # the playback screen afresh so that the window is asked for again
        self.goto("live")
        self.goto("playback")
        wait(b, lambda d: d.find_elements(By.ID, "goto"), what="the playback screen")
        self.seek((start + end) / 2000)
        wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, ".playback-grid .tile[data-camera=cam4]"
                                                           "[data-tampered=true]"), 20,
             "cam4's tile to say the server refused it")
        # the tile is marked first; its note is written when the refusal's
        # body has been read
        overlay = ".tile[data-camera=cam4] .overlay"
        wait(b, lambda d: "Verification FAILED" in d.find_element(By.CSS_SELECTOR, overlay).text,
             20, "cam4's note to say why")
        note = b.find_element(By.CSS_SELECTOR, overlay).text
        self.assertIn("Verification FAILED", note)
        self.assertIn(cutest.iso(start)[:19].replace("T", " "), note)
        alert = b.find_element(By.CSS_SELECTOR, ".verify-refused .alert[data-camera=cam4]").text
        self.assertIn("First failed segment", alert)
        # the other cameras play on, and the verifier over the view agrees
        self.assertFalse(b.find_elements(By.CSS_SELECTOR, ".tile[data-camera=cam1][data-tampered]"))
        b.find_element(By.ID, "verify-run").click()
        wait(b, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#verify-results li[data-result]"))
             == 4, 60, "the verification of the four cameras")
        res = {li.get_attribute("data-camera"): li.get_attribute("data-result")
               for li in b.find_elements(By.CSS_SELECTOR, "#verify-results li[data-result]")}
        self.assertEqual(res, {"cam1": "intact", "cam2": "intact", "cam3": "intact",
                               "cam4": "tampered"})
        srv = self.api.json("GET", "/api/v1/server", token=self.admin_token(), expect=200)[1]
        panel = b.find_element(By.CSS_SELECTOR, ".panel.verify").text
        self.assertIn(srv["signer_sha256"], panel)
        self.assertIn(srv["site_ca_sha256"], panel)
        # cam2's gap is listed with its reason under cam2's verdict
        cam2 = b.find_element(By.CSS_SELECTOR, "#verify-results li[data-camera=cam2]").text
        self.assertIn("Gap", cam2)
        self.shot("07-playback-tampered-and-verification")

    def drag(self, camera_row, t_from, t_to):
        b = self.b
        c = b.find_element(By.CSS_SELECTOR, ".timeline-canvas")
        self.js("arguments[0].scrollIntoView({block: 'center'})", c)
        start, end, label = (int(c.get_attribute(k)) for k in ("data-start", "data-end",
                                                               "data-label"))
        w, hgt = c.size["width"], c.size["height"]
        xs = [label + (t - start) / (end - start) * (w - label) - w / 2 for t in (t_from, t_to)]
        y = 26 + camera_row * 30 + 15 - hgt / 2
        ActionChains(b).move_to_element_with_offset(c, int(xs[0]), int(y)).click_and_hold() \
            .move_by_offset(int((xs[1] - xs[0]) / 2), 0).move_by_offset(int((xs[1] - xs[0]) / 2), 0) \
            .release().perform()

    def test_6_bookmark_and_evidence_lock(self):
        b = self.b
        tok = self.admin_token()
        # a span of cam1 before the stall, selected on the timeline
        t0 = (self.stall_from - 12) * 1000
        self.seek(t0 + 2000)
        b.find_element(By.XPATH, "//button[text()='Minute']").click()
        time.sleep(0.5)
        self.drag(0, t0, t0 + 6000)
        wait(b, lambda d: d.find_element(By.CSS_SELECTOR, ".sel-info").text.startswith("Selected"),
             5, "a selection")
        b.find_element(By.XPATH, "//button[text()='Bookmark…']").click()
        b.find_element(By.ID, "bm-title").send_keys("Door forced")
        b.find_element(By.ID, "bm-desc").send_keys("two people\nat the side door")
        self.shot("08-bookmark-dialog")
        b.find_element(By.CSS_SELECTOR, "dialog form button[type=submit]").click()
        wait(b, lambda d: "Door forced" in d.find_element(By.ID, "bookmarks").text, 10,
             "the bookmark in the list")
        st, j = self.api.json("GET", "/api/v1/cameras/cam1/bookmarks", token=tok, expect=200)
        bm = [x for x in j["bookmarks"] if x["title"] == "Door forced"]
        self.assertEqual(len(bm), 1, j)
        self.assertEqual(bm[0]["created_by"], "olga")
        self.assertEqual(bm[0]["description"], "two people\nat the side door")
        self.assertIsNotNone(bm[0]["end"])
        span = cutest.parse_iso(bm[0]["end"]) - cutest.parse_iso(bm[0]["at"])
        self.assertAlmostEqual(span / 1e6, 6, delta=1.5)
        # the lock over the same selection
        b.find_element(By.XPATH, "//button[text()='Evidence lock…']").click()
        b.find_element(By.ID, "lock-headline").send_keys("Incident 4711")
        b.find_element(By.ID, "lock-desc").send_keys("kept for the police")
        b.find_element(By.CSS_SELECTOR, "dialog form button[type=submit]").click()
        wait(b, lambda d: "Incident 4711" in d.find_element(By.ID, "locks").text, 10,
             "the lock in the list")
        st, j = self.api.json("GET", "/api/v1/evidence-locks", token=tok, expect=200)
        lk = [x for x in j["evidence_locks"] if x["headline"] == "Incident 4711"]
        self.assertEqual(len(lk), 1, j)
        self.assertEqual(sorted(lk[0]["cameras"]), ["cam1", "cam2", "cam3", "cam4"])
        self.assertEqual(lk[0]["created_by"], "olga")
        # jump to the bookmark with 'p' from after it
        self.seek(t0 + 9000)
        b.find_element(By.TAG_NAME, "body").send_keys("p")
        at = cutest.parse_iso(bm[0]["at"]) // 1000
        wait(b, lambda d: abs(int(self.js("return Number(document.querySelector('.big-time')"
                                          ".dataset.ms)")) - at) < 100, 15, "the bookmark's time")
        self.shot("09-playback-bookmark-and-lock")
        self.__class__.selection = (t0, t0 + 6000)

    def test_7_export_download_verify(self):
        b = self.b
        b.find_element(By.ID, "export-open").click()
        wait(b, lambda d: d.find_elements(By.ID, "exp-case"), 10, "the export dialog")
        # the default profile's locked settings are shown locked
        enc = b.find_element(By.ID, "exp-encryption")
        self.assertFalse(enc.is_enabled())
        self.assertTrue(enc.is_selected())
        self.assertIn("locked", b.find_element(By.XPATH, "//label[@for='exp-encryption']").text)
        # the player folder is an unlocked setting: off, for a bare package
        player = b.find_element(By.ID, "exp-include_player")
        self.assertTrue(player.is_enabled())
        if player.is_selected():
            player.click()
        for box in b.find_elements(By.CSS_SELECTOR, "dialog fieldset input[type=checkbox]"):
            if box.get_attribute("value") in ("cam3", "cam4") and box.is_selected():
                box.click()
        b.find_element(By.ID, "exp-case").send_keys("K-2026-17")
        b.find_element(By.ID, "exp-comments").send_keys("requested by PC 4711")
        b.find_element(By.ID, "exp-pw1").send_keys(PACKAGE_PW)
        b.find_element(By.ID, "exp-pw2").send_keys(PACKAGE_PW)
        self.shot("10-export-dialog")
        b.find_element(By.ID, "exp-submit").click()
        wait(b, lambda d: d.find_elements(By.ID, "exp-download"), 90, "the export to finish")
        self.shot("11-export-done")
        b.find_element(By.ID, "exp-download").click()
        pkg = wait(b, lambda d: [p for p in glob.glob(os.path.join(self.downloads, "*.cuep"))
                                 if os.path.getsize(p) > 0], 30, "the downloaded package")[0]
        time.sleep(0.5)
        pw = api_util.secret(self.tmp, "pkg.pw", PACKAGE_PW)
        p = run("verify", pkg, "--password-file", pw, "--json")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rep = json.loads(p.stdout)
        self.assertEqual(rep["result"], "intact", rep)
        text = json.dumps(rep)
        self.assertIn("K-2026-17", text)
        self.assertIn("requested by PC 4711", text)
        self.assertIn("olga", text)
        b.find_element(By.CSS_SELECTOR, "dialog header button").click()
        self.goto("exports")
        wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "#exports tr[data-status=done]"), 10,
             "the export in the list")
        self.shot("12-exports-list")

    def test_8_viewer_has_no_export_and_a_forged_one_is_refused(self):
        b = self.b
        self.js("document.querySelectorAll('dialog[open]').forEach((d) => d.close())")
        b.find_element(By.ID, "logout").click()
        wait(b, lambda d: d.find_elements(By.NAME, "user"), what="the login form")
        self.assertEqual(self.js("return document.querySelectorAll('video').length"), 0)
        self.login(b, "victor", VIEWER_PW)
        wait(b, lambda d: d.find_elements(By.ID, "logout"), what="the shell")
        self.assertEqual([a.text for a in b.find_elements(By.CSS_SELECTOR, "nav a")],
                         ["Live", "Playback"])
        self.goto("playback")
        wait(b, lambda d: d.find_elements(By.ID, "play"), what="the playback screen")
        self.assertEqual(b.find_elements(By.ID, "export-open"), [])
        self.assertEqual(b.find_elements(By.XPATH, "//button[contains(., 'Bookmark')]"), [])
        self.assertEqual(b.find_elements(By.XPATH, "//button[contains(., 'Evidence lock')]"), [])
        now = time.time() * 1000
        t0, t1 = getattr(self, "selection", (now - 20000, now - 10000))
        body = {"format": "evidence", "cameras": [{"camera": "cam1", "from": cutest.iso(int(t0) * 1000),
                                                   "to": cutest.iso(int(t1) * 1000)}],
                "case": "forged", "comments": "forged from the console", "password": PACKAGE_PW}
        r = b.execute_async_script("""
const [body, done] = arguments;
import('/js/api.js').then((api) => api.raw('POST', '/exports', {body}))
  .then((r) => done({status: r.status}), (e) => done({status: e.status, code: e.code}));""", body)
        self.assertIn(r["status"], (403, 404), r)
        r = b.execute_async_script("""
const [done] = arguments;
import('/js/api.js').then((api) => api.raw('GET', '/users'))
  .then((r) => done({status: r.status}), (e) => done({status: e.status}));""")
        self.assertEqual(r["status"], 403, r)
        self.shot("13-viewer-playback-no-export")
        b.find_element(By.ID, "logout").click()
        wait(b, lambda d: d.find_elements(By.NAME, "user"), what="the login form")

    def test_9_admin_screens_and_idle_logout(self):
        b = self.b
        self.login(b, "chief", ADMIN_PW)
        wait(b, lambda d: d.find_elements(By.ID, "logout"), what="the shell")
        self.goto("audit")
        wait(b, lambda d: d.find_element(By.ID, "audit-verify").get_attribute("data-tampered")
             == "false", 20, "the audit log's verification")
        wait(b, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")) > 10, 20,
             "audit entries")
        self.assertIn("bookmark.create", b.find_element(By.ID, "audit-table").text)
        self.shot("14-audit-log")
        self.goto("admin")
        wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-user=olga]"), 10, "users")
        self.shot("15-administration")
        # a camera group made in the browser, one camera taken out again: the
        # API has it so, and the grant form offers it as a scope
        b.find_element(By.ID, "new-group-name").send_keys("entrance")
        for box in b.find_elements(By.CSS_SELECTOR, "#new-group input[type=checkbox]"):
            if box.get_attribute("value") in ("cam1", "cam2"):
                box.click()
        b.find_element(By.CSS_SELECTOR, "#new-group button[type=submit]").click()
        chip = "article[data-group=entrance] .chip[data-camera=cam2] button"
        wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, chip), 10, "the new group")
        b.find_element(By.CSS_SELECTOR, chip).click()
        wait(b, lambda d: not d.find_elements(By.CSS_SELECTOR, chip), 10, "cam2 taken out")
        tok = self.api.login("chief", ADMIN_PW)
        _, j = self.api.json("GET", "/api/v1/groups", token=tok, expect=200)
        self.assertEqual(j["groups"], [{"name": "entrance", "cameras": ["cam1"]}])
        self.assertIn("group:entrance", self.js(
            "return [...document.querySelectorAll('#admin-scopes option')].map((o) => o.value)"))
        b.find_element(By.TAG_NAME, "body").send_keys("?")
        wait(b, lambda d: d.find_elements(By.ID, "help"), 5, "the help overlay")
        self.shot("16-keyboard-help")
        for drv in (self.b, self.idle):
            self.assertEqual(self.csp_violations(drv), [])
        # the idle browser: untouched since it logged in
        left = self.idle_since + IDLE_S + 3 - time.monotonic()
        if left > 0:
            time.sleep(left)
        i = self.idle
        wait(i, lambda d: d.find_elements(By.NAME, "user"), 10, "the idle logout")
        self.assertIn("no activity", i.find_element(By.ID, "login-error").text)
        self.assertEqual(i.execute_script("return [document.querySelectorAll('video').length, "
                                          "document.querySelectorAll('.tile').length]"), [0, 0])
        self.shot("17-idle-logged-out", i)
        # and the token was revoked on the server
        self.api.term()
        p = run("audit", "export", "--store", self.s.dir, "--format", "json", check=0)
        ents = json.loads(p.stdout)["entries"]
        # two logouts of victor: the one clicked in test 8 and the idle one
        self.assertEqual(len([e for e in ents if e["type"] == "auth.logout"
                              and e["actor"] == "victor"]), 2)


if __name__ == "__main__":
    cutest.main()
