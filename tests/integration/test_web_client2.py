"""The browser client's further checks (issue 13), in a real headless Chromium
against custodyd recording nine custody-camsim cameras at 10 frames a second
(not 25), with [https] token_lifetime = 60s (the smallest custodyd accepts):

- the 3x3 live grid: nine tiles in three columns, each playing;
- a bookmark edited in the browser (PATCH) keeps its new title when the list
  is loaded again, one deleted is gone from the list and the server; an
  evidence lock is listed and shown on the timeline;
- playback at 2x and at 1/2x: the recorded time on screen advances at about
  that rate; the wheel over the timeline zooms around the pointer;
- Still downloads the JPEG of the frame on screen, at the video's size;
- a frame step moves by one frame of the camera's real rate (100 ms, read
  from the media's timestamps): the server's stills of the times before and
  after the step are consecutive frames;
- the audit screen pages through the server's log (limit, before) with the
  type and user filters applied by the server, "Show more" on demand;
- custodyd killed (SIGKILL) and started again on the same port and store:
  the live tiles reconnect by themselves and play again;
- the session outlives several token lifetimes: the page renewed its token,
  every call after a renewal carries the new one, and the first token is
  refused by the server.

Helpers (the browser, its trust in the site CA, waits) come from
test_web_client.py; importing it also restarts this test under Debian's
/usr/bin/python3 when Selenium is missing from the python3 that started it."""

import os
import re
import shutil
import tempfile
import time

import test_web_client as wc
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.common.by import By

import api_util
import cutest
import daemon_util
from cutest import Store

wait = wc.wait
ADMIN_PW = wc.ADMIN_PW
CAMERAS = 9
FPS = 10
SIZE = (320, 240)
TOKEN_S = 60                     # the smallest [https] token_lifetime custodyd accepts

# Runs in the page before login: records, for each bearer token the client
# sends, when it was first and last used and the answers it got. The token
# itself stays in the page's memory (docs/web-client.md); the test only
# watches what goes over the wire, as a proxy would.
JS_WATCH_TOKENS = """
const real = window.fetch.bind(window);
window.__tokens = [];
window.fetch = (input, init = {}) => {
  const a = (init.headers || {}).Authorization || "";
  let rec = null;
  if (a.startsWith("Bearer ")) {
    const tok = a.slice(7);
    rec = window.__tokens.find((r) => r.tok === tok);
    if (!rec) {
      rec = {tok, first: Date.now(), last: 0, ok: 0, refused: 0};
      window.__tokens.push(rec);
    }
    rec.last = Date.now();
  }
  return real(input, init).then((r) => {
    if (rec) { if (r.status === 401) rec.refused++; else if (r.ok) rec.ok++; }
    return r;
  });
};
"""


def jpeg_info(data):
    """(width, height, COM texts) of a baseline or progressive JPEG."""
    if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
        raise AssertionError("not a JPEG (no SOI/EOI)")
    o, size, coms = 2, None, []
    while o + 4 <= len(data):
        if data[o] != 0xFF:
            raise AssertionError(f"JPEG: no marker at {o}")
        m = data[o + 1]
        if m == 0xDA:                               # start of scan: headers end
            break
        ln = int.from_bytes(data[o + 2:o + 4], "big")
        seg = data[o + 4:o + 2 + ln]
        if m in (0xC0, 0xC1, 0xC2):
            size = (int.from_bytes(seg[3:5], "big"), int.from_bytes(seg[1:3], "big"))
        elif m == 0xFE:
            coms.append(seg.decode("latin1"))
        o += 2 + ln
    if size is None:
        raise AssertionError("JPEG without a frame header")
    return size[0], size[1], coms


def still_time_us(coms):
    for c in coms:
        m = re.search(r"custody camera=\S+ time=(\S+)", c)
        if m:
            return cutest.parse_iso(m.group(1))
    raise AssertionError(f"no custody comment in {coms}")


class WebClientMore(cutest.unittest.TestCase):
    """One server, one simulator, one browser; the tests run in name order
    and the session of the first lasts to the last."""

    @classmethod
    def setUpClass(cls):
        for prog, pkg in ((wc.CHROMIUM, "chromium"), (wc.CHROMEDRIVER, "chromium-driver"),
                          (shutil.which("certutil"), "libnss3-tools")):
            if prog is None:
                raise AssertionError(f"{pkg} is not installed (scripts/bootstrap installs it)")
        cls.tmp = tempfile.mkdtemp(prefix="custody-web2-")
        cls.shots = wc.SHOTS
        os.makedirs(cls.shots, exist_ok=True)
        cls.downloads = os.path.join(cls.tmp, "downloads")
        os.makedirs(cls.downloads)
        cls.drivers = []
        cls.sim = daemon_util.Camsim(cls.tmp, cameras=CAMERAS, size=f"{SIZE[0]}x{SIZE[1]}",
                                     bitrate=150, extra=("--fps", str(FPS)))
        try:
            cls.s = Store(cls.tmp, "st", encryption="light", segment_seconds=2)
            api_util.add_role(cls.s, "admins", [("admin", "*")])
            api_util.add_user(cls.s, cls.tmp, "chief", ADMIN_PW, roles=["admins"])
            cams = {f"cam{i}": {"url": cls.sim.url(i)} for i in range(1, CAMERAS + 1)}
            cls.api = api_util.Api(cls.tmp, cls.s, cameras=cams,
                                   https_opts={"token_lifetime": f"{TOKEN_S}s"})
            cls.api.start()
            for i in range(1, CAMERAS + 1):
                cls.api.daemon.wait_event("camera.online", f"cam{i}", timeout=60)
            cls.url = f"https://127.0.0.1:{cls.api.port}/"
            cls.b = wc.browser(cls.tmp, "more", wc.nss_home(cls.tmp, cls.api.ca),
                               downloads=cls.downloads)
            cls.drivers.append(cls.b)
        except BaseException:
            cls.tearDownClass()
            raise

    # quits the browsers of cls.drivers, stops custodyd and camsim, removes cls.tmp
    tearDownClass = wc.WebClient.__dict__["tearDownClass"]

    # the first class's helpers: the same page, the same ways to drive it
    js = wc.WebClient.js
    shot = wc.WebClient.shot
    tiles = wc.WebClient.tiles
    goto = wc.WebClient.goto
    seek = wc.WebClient.seek

    def token(self):
        return self.api.login("chief", ADMIN_PW)

    def big_ms(self):
        return int(self.js("return Number(document.querySelector('.big-time').dataset.ms)"))

    def pause(self):
        if self.js("return document.querySelector('#play').dataset.playing") == "true":
            self.b.find_element(By.ID, "play").click()
        wait(self.b, lambda d: self.js("return document.querySelector('#play').dataset.playing")
             != "true", 5, "paused")

    def first_recorded_ms(self, cam="cam1"):
        _, j = self.api.json("GET", f"/api/v1/cameras/{cam}/ranges", token=self.token(),
                             expect=200)
        return cutest.parse_iso(j["ranges"][0]["from"]) // 1000

    def timeline_point(self, row, t):
        """Offsets from the canvas's centre of time t on a camera row."""
        c = self.b.find_element(By.CSS_SELECTOR, ".timeline-canvas")
        start, end, label = (int(c.get_attribute(k)) for k in ("data-start", "data-end",
                                                               "data-label"))
        w, hgt = c.size["width"], c.size["height"]
        x = label + (t - start) / (end - start) * (w - label)
        return c, int(x - w / 2), int(26 + row * 30 + 15 - hgt / 2)

    # ---- the tests, in order

    def test_1_login_and_the_3x3_grid(self):
        b = self.b
        b.get(self.url)
        wait(b, lambda d: d.find_elements(By.NAME, "user"), what="the login form")
        self.js(JS_WATCH_TOKENS)
        wc.WebClient.login(b, "chief", ADMIN_PW)
        wait(b, lambda d: d.find_elements(By.ID, "logout"), what="the shell")
        self.__class__.logged_in = time.monotonic()
        self.goto("live")
        b.find_element(By.CSS_SELECTOR, "button[data-layout='9']").click()
        wait(b, lambda d: len(self.tiles()) == 9, what="nine tiles")
        cols = self.js("return getComputedStyle(document.querySelector('.grid'))"
                       ".gridTemplateColumns.split(' ').length")
        self.assertEqual(cols, 3)
        self.assertEqual(sorted(self.tiles()), sorted(f"cam{i}" for i in range(1, 10)))
        wait(b, lambda d: all(t["t"] > 0.5 for t in self.tiles().values()), 60,
             "every tile of the 3x3 grid to play")
        first = self.tiles()
        time.sleep(3)
        later = self.tiles()
        for cam in first:
            with self.subTest(camera=cam):
                self.assertGreater(later[cam]["t"] - first[cam]["t"], 1.5, (first, later))
        self.assertEqual(self.js("return document.querySelector(\"button[data-layout='9']\")"
                                 ".getAttribute('aria-pressed')"), "true")
        self.shot("20-live-3x3")

    def test_2_bookmark_edit_delete_and_lock(self):
        b = self.b
        tok = self.token()
        now = int(time.time() * 1000)
        at, lock_from, lock_to = now - 15000, now - 25000, now - 10000
        _, bm = self.api.json("POST", "/api/v1/cameras/cam1/bookmarks", token=tok, expect=201,
                              body={"at": cutest.iso(at * 1000), "title": "Van parked",
                                    "description": "white van"})
        _, gone = self.api.json("POST", "/api/v1/cameras/cam2/bookmarks", token=tok,
                                expect=201, body={"at": cutest.iso((at + 2000) * 1000),
                                                  "title": "False alarm"})
        _, lk = self.api.json("POST", "/api/v1/evidence-locks", token=tok, expect=201,
                              body={"headline": "Case 99", "cameras": ["cam1", "cam2"],
                                    "from": cutest.iso(lock_from * 1000),
                                    "to": cutest.iso(lock_to * 1000)})
        self.goto("playback")
        item = f"#bookmarks li[data-id='{bm['id']}']"
        wait(b, lambda d: "Van parked" in d.find_element(By.CSS_SELECTOR, item).text, 20,
             "the bookmark in the list")
        b.find_element(By.CSS_SELECTOR, item).find_element(
            By.XPATH, ".//button[text()='Edit']").click()
        title = wait(b, lambda d: d.find_element(By.ID, "bm-title"), 5, "the edit dialog")
        self.assertEqual(title.get_attribute("value"), "Van parked")
        title.clear()
        title.send_keys("Van parked, plate read")
        desc = b.find_element(By.ID, "bm-desc")
        desc.clear()
        desc.send_keys("white van, K-AB 123")
        self.shot("21-bookmark-edit")
        b.find_element(By.CSS_SELECTOR, "dialog form button[type=submit]").click()
        wait(b, lambda d: "plate read" in d.find_element(By.CSS_SELECTOR, item).text, 10,
             "the new title in the list")
        _, j = self.api.json("GET", f"/api/v1/bookmarks/{bm['id']}", token=tok, expect=200)
        self.assertEqual((j["title"], j["description"]),
                         ("Van parked, plate read", "white van, K-AB 123"))
        self.assertEqual(j["at"], bm["at"])
        # the list loaded again from the server (another screen and back)
        self.goto("live")
        self.goto("playback")
        wait(b, lambda d: "Van parked, plate read" in
             d.find_element(By.CSS_SELECTOR, item).text, 20, "the edited bookmark after a reload")
        self.assertIn("white van, K-AB 123", b.find_element(By.CSS_SELECTOR, item).text)
        # delete the other one (the page asks first)
        other = f"#bookmarks li[data-id='{gone['id']}']"
        b.find_element(By.CSS_SELECTOR, other).find_element(
            By.XPATH, ".//button[text()='Delete']").click()
        alert = wait(b, lambda d: d.switch_to.alert, 5, "the confirmation")
        self.assertIn("False alarm", alert.text)
        alert.accept()
        wait(b, lambda d: not d.find_elements(By.CSS_SELECTOR, other), 10,
             "the deleted bookmark gone from the list")
        self.api.json("GET", f"/api/v1/bookmarks/{gone['id']}", token=tok, expect=404)
        self.assertTrue(b.find_elements(By.CSS_SELECTOR, item))
        # the lock: listed with its cameras, and on the timeline under the pointer
        li = b.find_element(By.CSS_SELECTOR, f"#locks li[data-id='{lk['id']}']").text
        self.assertIn("Case 99", li)
        self.assertIn("cam1, cam2", li)
        c, x, y = self.timeline_point(0, (lock_from + lock_to) / 2)
        self.js("arguments[0].scrollIntoView({block: 'center'})", c)
        c, x, y = self.timeline_point(0, (lock_from + lock_to) / 2)
        ActionChains(b).move_to_element_with_offset(c, x, y).perform()
        tip = wait(b, lambda d: d.find_element(By.CSS_SELECTOR, ".tip:not(.hidden)"), 5,
                   "the tooltip")
        self.assertIn("Evidence lock “Case 99”", tip.text)
        self.shot("22-playback-lock-and-edited-bookmark")

    JS_SAMPLE = ("return [performance.now(), Number(document.querySelector('.big-time')"
                 ".dataset.ms), [...document.querySelectorAll('.playback-grid .tile')]"
                 ".map((t) => t.dataset.frameMs + (t.querySelector('video').paused ? ' paused'"
                 " : ''))]")

    def rate_of(self, speed, seconds=6):
        """Plays at speed; the recorded time on screen over the wall time (and
        the samples, for the message when it is wrong)."""
        b = self.b
        b.find_element(By.CSS_SELECTOR, f"#speed option[value='{speed}']").click()
        b.find_element(By.ID, "play").click()
        time.sleep(1.5)                        # the windows at that speed come in
        samples = []
        for _ in range(int(seconds * 2) + 1):
            samples.append(self.js(self.JS_SAMPLE))
            time.sleep(0.5)
        self.pause()
        (p0, m0, _), (p1, m1, _) = samples[0], samples[-1]
        return (m1 - m0) / (p1 - p0), samples

    def test_3_playback_speeds(self):
        # 40 s back from now, on the recorded side of the first window's end
        # (a window asked for up to the present ends where the recording did)
        first = self.first_recorded_ms()
        wait(self.b, lambda d: time.time() * 1000 - first > 45000, 60, "45 s of recording")
        start = time.time() * 1000 - 40000
        if not self.b.find_elements(By.ID, "play"):
            self.goto("playback")
        wait(self.b, lambda d: d.find_elements(By.ID, "play"), 10, "the playback screen")
        self.pause()
        self.seek(start)
        for speed, want in (("2", 2), ("0.5", 0.5), ("1", 1)):
            got, samples = self.rate_of(speed)
            with self.subTest(speed=speed):
                self.assertLess(abs(got - want), want * 0.2, (got, samples))
        # every video follows the clock at the speed chosen last
        rates = self.js("return [...document.querySelectorAll('.playback-grid video')]"
                        ".map((v) => v.playbackRate)")
        self.assertEqual(set(rates), {1}, rates)

    def test_4_wheel_zoom(self):
        b = self.b
        c = b.find_element(By.CSS_SELECTOR, ".timeline-canvas")
        self.js("arguments[0].scrollIntoView({block: 'center'})", c)

        def view():
            return [int(c.get_attribute(k)) for k in ("data-start", "data-end")]
        s0, e0 = view()
        at = s0 + (e0 - s0) * 0.6              # the pointer over 60 % of the view
        _, x, y = self.timeline_point(0, at)
        ActionChains(b).scroll_from_origin(ScrollOrigin.from_element(c, x, y), 0, -120).perform()
        wait(b, lambda d: view() != [s0, e0], 5, "the view to zoom in")
        s1, e1 = view()
        self.assertLess(e1 - s1, (e0 - s0) * 0.9, (s0, e0, s1, e1))
        # around the pointer: the time under it stays where it was
        self.assertLess(abs((s1 + (at - s0) / (e0 - s0) * (e1 - s1)) - at), (e0 - s0) * 0.02)
        ActionChains(b).scroll_from_origin(ScrollOrigin.from_element(c, x, y), 0, 120).perform()
        ActionChains(b).scroll_from_origin(ScrollOrigin.from_element(c, x, y), 0, 120).perform()
        wait(b, lambda d: view()[1] - view()[0] > e1 - s1, 5, "the view to zoom out")
        s2, e2 = view()
        self.assertGreater(e2 - s2, e0 - s0, (s0, e0, s2, e2))

    def test_5_still_is_the_frame_on_screen(self):
        b = self.b
        self.pause()
        shown = self.seek(self.first_recorded_ms() + 6500)
        for f in os.listdir(self.downloads):
            os.unlink(os.path.join(self.downloads, f))
        b.find_element(By.XPATH, "//button[text()='Still']").click()
        path = wait(b, lambda d: [os.path.join(self.downloads, f)
                                  for f in os.listdir(self.downloads) if f.endswith(".jpg")],
                    20, "the still's download")[0]
        time.sleep(0.3)
        self.assertTrue(os.path.basename(path).startswith("cam1-"), path)
        with open(path, "rb") as f:
            data = f.read()
        w, hgt, coms = jpeg_info(data)
        self.assertEqual((w, hgt), SIZE)
        self.assertEqual(self.js("const v = document.querySelector('.playback-grid "
                                 ".tile[data-camera=cam1] video'); return [v.videoWidth, "
                                 "v.videoHeight]"), list(SIZE))
        # the picture of the frame on screen: the last frame at or before it
        pic = still_time_us(coms) / 1000
        self.assertLessEqual(pic, shown + 1)
        self.assertLess(shown - pic, 1000 / FPS + 1, (shown, pic))

    def test_6_frame_step_uses_the_cameras_rate(self):
        b = self.b
        self.pause()
        self.seek(self.first_recorded_ms() + 8250)
        wait(b, lambda d: self.js("return document.querySelector('.playback-grid "
                                  ".tile[data-camera=cam1]').dataset.frameInterval"), 10,
             "the frame interval from the media")
        interval = float(self.js("return document.querySelector('.playback-grid "
                                 ".tile[data-camera=cam1]').dataset.frameInterval"))
        self.assertAlmostEqual(interval, 1000 / FPS, delta=0.5)
        body = b.find_element(By.TAG_NAME, "body")
        tok = self.token()

        def picture(t_ms):
            st, _, data = self.api.request(
                "GET", f"/api/v1/cameras/cam1/still/{cutest.iso(int(t_ms) * 1000)}", token=tok)
            self.assertEqual(st, 200)
            return still_time_us(jpeg_info(data)[2])        # µs, an integer
        for key, sign in ((".", 1), (".", 1), (",", -1)):
            before = self.big_ms()
            body.send_keys(key)
            wait(b, lambda d: self.big_ms() != before, 10, "the step")
            time.sleep(0.3)
            after = self.big_ms()
            with self.subTest(key=key, before=before, after=after):
                # one frame of this camera, not 40 ms
                self.assertLess(abs((after - before) - sign * 1000 / FPS), 2.5)
                # and the pictures there are one frame apart
                # (µs of the camera's clock: within a millisecond of one interval)
                apart = picture(after) - picture(before)
                self.assertLess(abs(apart - sign * 1_000_000 // FPS), 1000, apart)

    def test_7_audit_screen_pages_through_the_server(self):
        b = self.b
        tok = self.token()
        # more entries than a page: bookmarks far back (out of every view)
        conn = self.api.conn()
        for i in range(210):
            st, _, body = self.api.request(
                "POST", "/api/v1/cameras/cam9/bookmarks", token=tok, conn=conn,
                body={"at": cutest.iso(1_577_836_800_000_000 + i * 1_000_000),
                      "title": f"page test {i}"})
            self.assertEqual(st, 201, body)
        conn.close()
        self.goto("audit")
        rows = "#audit-table tbody tr"

        def indexes():
            return self.js(f"return [...document.querySelectorAll('{rows}')]"
                           ".map((r) => Number(r.dataset.index))")
        wait(b, lambda d: len(indexes()) == 200, 20, "the first page")
        first = indexes()
        self.assertEqual(first, sorted(first, reverse=True))
        newest = self.api.json("GET", "/api/v1/audit?limit=1", token=tok,
                               expect=200)[1]["entries"][0]["index"]
        self.assertLessEqual(newest - first[0], 3, (newest, first[0]))  # reads since
        more = b.find_element(By.ID, "audit-more")
        self.assertTrue(more.is_displayed())
        self.assertIn("more on request", b.find_element(By.ID, "audit-count").text)
        more.click()
        wait(b, lambda d: len(indexes()) > 200, 20, "the second page")
        both = indexes()
        self.assertEqual(both[:200], first)
        self.assertEqual(both, sorted(set(both), reverse=True))        # no repeats, in order
        self.assertEqual(both[200], first[-1] - 1)                     # nothing skipped
        # filters go to the server: every bookmark.create of chief, in two pages
        want = [e["index"] for e in self.api.json(
            "GET", "/api/v1/audit?limit=1000&type=bookmark.create&actor=chief", token=tok,
            expect=200)[1]["entries"]]
        self.assertGreater(len(want), 200)
        b.find_element(By.ID, "audit-type").send_keys("bookmark.create")
        b.find_element(By.ID, "audit-actor").send_keys("chief")
        b.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
        wait(b, lambda d: indexes() == want[:200], 20, "the filtered first page")
        self.shot("25-audit-filtered-page")
        b.find_element(By.ID, "audit-more").click()
        wait(b, lambda d: indexes() == want, 20, "the filtered second page")
        self.assertFalse(b.find_element(By.ID, "audit-more").is_displayed())
        # the screen read pages, never the whole log
        reads = self.api.json("GET", "/api/v1/audit?limit=1000&type=audit.read&actor=chief",
                              token=tok, expect=200)[1]["entries"]
        self.assertTrue(reads)
        self.assertTrue(all(e["detail"].get("limit") for e in reads), reads)

    def test_8_live_reconnects_after_the_server_was_killed(self):
        b = self.b
        self.goto("live")
        b.find_element(By.CSS_SELECTOR, "button[data-layout='4']").click()
        wait(b, lambda d: len(self.tiles()) == 4, what="four tiles")
        wait(b, lambda d: all(t["phase"] == "playing" and t["t"] > 0.5
                              for t in self.tiles().values()), 40, "the tiles to play")
        d = self.api.daemon
        online = d.count("camera.online")
        d.kill()                                 # SIGKILL: no goodbye on the sockets
        wait(b, lambda d_: all(t["phase"] in ("closed", "connecting", "error")
                               for t in self.tiles().values()), 20,
             "every tile to see its socket closed")
        self.shot("23-live-server-gone")
        time.sleep(2)
        d.start()                                # same port, same store
        d.wait_event("https.listening", after=1, timeout=60)
        for i in range(1, 5):
            d.wait_event("camera.online", f"cam{i}", after=1, timeout=60)
        self.assertGreater(d.count("camera.online"), online)
        wait(b, lambda d_: all(t["phase"] == "playing" for t in self.tiles().values()), 60,
             "every tile to reconnect")
        first = self.tiles()
        wait(b, lambda d_: all(t["t"] > first[c]["t"] + 1.5 for c, t in self.tiles().items()),
             30, "every tile to play again")
        self.assertFalse(b.find_elements(By.NAME, "user"))   # still logged in
        self.shot("24-live-reconnected")

    def test_9_session_outlives_the_token_lifetime(self):
        b = self.b
        # past two renewals at least (every 40 s of a 60 s token)
        left = self.logged_in + 2 * TOKEN_S * 2 / 3 + 10 - time.monotonic()
        if left > 0:
            time.sleep(left)
        # the page asks the server something now
        self.goto("audit")
        wait(b, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")) > 0,
             20, "the audit log")
        self.assertFalse(b.find_elements(By.NAME, "user"))
        toks = self.js("return window.__tokens")
        self.assertGreaterEqual(len(toks), 3, [(t["first"], t["last"]) for t in toks])
        for older, newer in zip(toks, toks[1:]):
            # once renewed, the old token is no longer sent
            self.assertLessEqual(older["last"], newer["first"] + 1000)
        self.assertEqual([t["refused"] for t in toks], [0] * len(toks))
        self.assertGreater(toks[-1]["ok"], 0)
        # the server: the first and an intermediate token are refused, the last is good
        for t in toks[:-1]:
            self.api.json("GET", "/api/v1/me", token=t["tok"], expect=401)
        self.api.json("GET", "/api/v1/me", token=toks[-1]["tok"], expect=200)
        self.assertGreater(time.monotonic() - self.logged_in, TOKEN_S + 5)


if __name__ == "__main__":
    cutest.main()
