"""What the browser client's tests share, whatever the browser: the site
(custody-camsim's four cameras recorded by custodyd, with an admin, an
operator and a viewer, and the shortest idle timeout), the browser's trust
in the site TLS CA through an NSS database, where the screenshots go, and
the scripts that read the page (the live tiles; a decoded frame compared
with the server's stills)."""

import os
import subprocess
import time

import api_util
import cutest
import daemon_util
from cutest import Store

ADMIN_PW = "Web-Client-Admin-1"
OPERATOR_PW = "Web-Client-Operator-1"
VIEWER_PW = "Web-Client-Viewer-1"
PACKAGE_PW = "a long package passphrase"
IDLE_S = 60                      # the smallest idle timeout custodyd accepts
CAMERAS = ("cam1", "cam2", "cam3", "cam4")
BUILD = os.environ.get("CU_BUILD_ROOT", "build")
SHOTS = os.environ.get("CU_SCREENSHOTS", os.path.join(BUILD, "meson-logs", "screenshots"))


def nss_trust(db, ca, name="custody site TLS CA"):
    """Makes the folder `db` an NSS database (created if it has none) that
    trusts the PEM CA `ca` for TLS servers (certutil -t C,,), as an
    operator's browser does after importing STORE/tls/ca.pem: no certificate
    check is switched off."""
    os.makedirs(db, exist_ok=True)
    if not os.path.exists(os.path.join(db, "cert9.db")):
        subprocess.run(["certutil", "-d", "sql:" + db, "-N", "--empty-password"], check=True,
                       capture_output=True)
    subprocess.run(["certutil", "-d", "sql:" + db, "-A", "-n", name, "-t", "C,,", "-i", ca],
                   check=True, capture_output=True)


class Site:
    """custody-camsim (four cameras) recorded by custodyd over HTTPS, with the
    users chief (admin), olga (operator: live, playback, bookmark, evidence
    lock, export) and victor (viewer: live, playback), and
    [web] idle_timeout = IDLE_S. stop() ends both processes."""

    def __init__(self, d):
        self.sim = daemon_util.Camsim(d, cameras=4, size="320x240", bitrate=300)
        self.api = None
        try:
            self.s = s = Store(d, "st", encryption="light", segment_seconds=2)
            api_util.add_role(s, "admins", [("admin", "*")])
            api_util.add_user(s, d, "chief", ADMIN_PW, roles=["admins"])
            api_util.add_role(s, "operators", [(f, "*") for f in
                                               ("live", "playback", "bookmark", "evidence_lock",
                                                "export")])
            api_util.add_user(s, d, "olga", OPERATOR_PW, roles=["operators"])
            api_util.add_role(s, "viewers", [("live", "*"), ("playback", "*")])
            api_util.add_user(s, d, "victor", VIEWER_PW, roles=["viewers"])
            cams = {c: {"url": self.sim.url(i)} for i, c in enumerate(CAMERAS, 1)}
            self.api = api_util.Api(d, s, cameras=cams, https_opts={})
            with open(self.api.daemon.conf, "a") as f:
                f.write(f"\n[web]\nidle_timeout = {IDLE_S}s\n")
            self.api.start()
            for c in CAMERAS:
                self.api.daemon.wait_event("camera.online", c)
            self.url = f"https://127.0.0.1:{self.api.port}/"
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.api:
            self.api.stop()
        self.sim.stop()

    def admin_token(self):
        return self.api.login("chief", ADMIN_PW)

    def recorded_for(self, tok, seconds):
        """Has every camera recorded the last `seconds` without a gap, up to
        at most 3 s ago?"""
        now_us = int(time.time() * 1_000_000)
        for cam in CAMERAS:
            st, j = self.api.json("GET", f"/api/v1/cameras/{cam}/ranges", token=tok)
            if st != 200 or not j["ranges"]:
                return False
            last = j["ranges"][-1]
            if (cutest.parse_iso(last["from"]) > now_us - seconds * 1_000_000 or
                    cutest.parse_iso(last["to"]) < now_us - 3_000_000):
                time.sleep(0.5)
                return False
        return True


JS_TILES = """return [...document.querySelectorAll('.grid .tile[data-camera]')].map(t => ({
  camera: t.dataset.camera, state: t.dataset.state, phase: t.dataset.phase,
  frame: t.dataset.frameMs || null,
  t: t.querySelector('video').currentTime, overlay: t.querySelector('.overlay').textContent,
  badge: (t.querySelector('.badge') || {}).textContent || ''}));"""

# The frame on screen of a camera on the playback screen, once it is the one
# sought: the recorded time it shows (ms), or null while the video is seeking.
JS_FRAME_SHOWN = """const t = document.querySelector(`.playback-grid .tile[data-camera="${arguments[0]}"]`);
const v = t && t.querySelector('video');
return v && t.dataset.frameMs && !v.seeking && v.readyState >= 2 ? Number(t.dataset.frameMs)
                                                                  : null;"""

# An asynchronous script (its last argument returns the answer): compares the
# picture on screen of a camera's <video> with the server's stills at the
# given times, over the top of the picture where the simulator burns in the
# camera and the time. Answers, for each still, how many pixels differ
# clearly from the picture on screen. The stills are fetched in the page with
# the session's token through the client's own api module when `stills` is
# null (Chromium: the script runs in the page's own global), or given as
# base64 JPEGs the test fetched itself (Firefox: Marionette runs scripts in a
# sandbox whose import() gets a fresh api module, without the session).
JS_COMPARE = """
const [camera, times, stills, done] = arguments;
(async () => {
  const v = document.querySelector(`.playback-grid .tile[data-camera="${camera}"] video`);
  const w = v.videoWidth, hh = v.videoHeight;
  const region = [0, 0, Math.round(w * 0.75), Math.round(hh * 0.25)];
  const pixels = (src) => {
    const c = document.createElement('canvas');
    c.width = w; c.height = hh;
    const g = c.getContext('2d');
    g.drawImage(src, 0, 0, w, hh);
    return g.getImageData(...region).data;
  };
  const still = async (i) => {
    if (stills) return new Blob([Uint8Array.from(atob(stills[i]), (ch) => ch.charCodeAt(0))],
                                {type: 'image/jpeg'});
    const api = await import('/js/api.js');
    const at = new Date(times[i]).toISOString();
    return (await api.raw('GET', `/cameras/${camera}/still/${at}`)).blob();
  };
  const shown = pixels(v);
  const out = [];
  for (let i = 0; i < times.length; i++) {
    const p = pixels(await createImageBitmap(await still(i)));
    // pixels whose luminance differs by more than JPEG and decoder rounding
    // do: a changed digit of the burned-in clock makes dozens
    let changed = 0;
    const y = (d, k) => d[k] * 0.299 + d[k + 1] * 0.587 + d[k + 2] * 0.114;
    for (let k = 0; k < p.length; k += 4) if (Math.abs(y(p, k) - y(shown, k)) > 48) changed++;
    out.push(changed);
  }
  done({ok: true, diffs: out, size: [w, hh]});
})().catch((e) => done({ok: false, error: String(e)}));
"""

# How the stills compare with the frame on screen (JS_COMPARE's diffs for the
# time shown, a second before and a second after): the still of that moment
# matches, the others show another clock.
SAME_MAX = 3
OTHER_MIN = 8
