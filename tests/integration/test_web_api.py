"""What the browser client needs of the API (issue 13): the administrator's
idle timeout ([web] idle_timeout) in GET /server, with bad values refused by
name; the token lifetime ([https] token_lifetime) used by login and renewal,
bounds refused by name; the audit log a page at a time (GET
audit?limit=&before=) with the server's filters; each camera's ingest state for the live tiles (recording, offline with
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


class AdminStore(cutest.TempDirTest):
    """A store with one administrator, chief; base() the start of a
    configuration with the API on."""

    def setUp(self):
        super().setUp()
        self.s = Store(self.tmp, "st", encryption="none", segment_seconds=2)
        api_util.add_role(self.s, "admins", [("admin", "*")])
        api_util.add_user(self.s, self.tmp, "chief", ADMIN_PW, roles=["admins"])

    def base(self):
        return (f"[store]\npath = {self.s.dir}\npassword_file = {self.s.pw}\n"
                "[https]\nport = 0\n")


class IdleTimeout(AdminStore):

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


class TokenLifetime(AdminStore):
    """[https] token_lifetime: login and renewal issue tokens of that
    lifetime; values outside 60 s..1 h are refused by name."""

    def test_login_and_renew_use_it(self):
        api = api_util.Api(self.tmp, self.s, https_opts={"token_lifetime": "90s"}).start()
        try:
            _, j = api.json("POST", "/api/v1/auth/login",
                            body={"user": "chief", "password": ADMIN_PW}, expect=200)
            self.assertIn(j["expires_in"], (89, 90), j)
            left = cutest.parse_iso(j["expires"]) - int(time.time() * 1_000_000)
            self.assertLess(abs(left / 1e6 - 90), 3, j)
            _, r = api.json("POST", "/api/v1/auth/renew", token=j["token"], expect=200)
            self.assertIn(r["expires_in"], (89, 90), r)
            # the renewed token works, the old one no longer does
            api.json("GET", "/api/v1/me", token=r["token"], expect=200)
            api.json("GET", "/api/v1/me", token=j["token"], expect=401)
        finally:
            api.stop()

    def test_bounds_and_refusals(self):
        base = self.base()
        for v in ("60s", "1m", "10m", "1h", "3600s"):
            p = check_config(self.tmp, base + f"token_lifetime = {v}\n")
            self.assertEqual(p.returncode, 0, (v, p.stderr))
        bad = {"59s": "out of range: from 60s to 1h", "3601s": "out of range",
               "0s": "out of range", "600": "needs a unit",
               "60500ms": "whole number of seconds", "long": "not a duration"}
        for v, why in bad.items():
            p = check_config(self.tmp, base + f"token_lifetime = {v}\n")
            self.assertNotEqual(p.returncode, 0, v)
            self.assertIn("line 6", p.stderr, v)
            self.assertIn("token_lifetime", p.stderr, v)
            self.assertIn(why, p.stderr, v)


class AuditPages(AdminStore):
    """GET audit?limit=&before=: the log a page at a time, newest first, with
    the type, actor, words and time filters applied by the server; the pages
    put together are the whole log; bad parameters refused by name."""

    def setUp(self):
        super().setUp()
        api_util.add_user(self.s, self.tmp, "other", ADMIN_PW, roles=["admins"])
        api_util.add_role(self.s, "viewers", [("live", "*"), ("playback", "*")])
        api_util.add_user(self.s, self.tmp, "victor", ADMIN_PW, roles=["viewers"])
        self.api = api_util.Api(self.tmp, self.s).start()

    def tearDown(self):
        self.api.stop()
        super().tearDown()

    def page(self, tok, query, expect=200):
        st, j = self.api.json("GET", "/api/v1/audit?" + query, token=tok)
        self.assertEqual(st, expect, (query, j))
        return j

    def test_pages_make_the_whole_log(self):
        for _ in range(4):
            self.api.login("other", ADMIN_PW)
        tok = self.api.login("chief", ADMIN_PW)
        _, full = self.api.json("GET", "/api/v1/audit", token=tok, expect=200)
        entries = full["entries"]
        n = len(entries)
        self.assertGreater(n, 7)
        got, before, pages = [], n, 0
        while True:
            j = self.page(tok, f"limit=3&before={before}")
            pages += 1
            self.assertLessEqual(len(j["entries"]), 3)
            got += j["entries"]
            if not j["more"]:
                self.assertIsNone(j["next_before"])
                break
            self.assertEqual(j["next_before"], j["entries"][-1]["index"])
            before = j["next_before"]
        self.assertEqual(got, list(reversed(entries)))
        self.assertEqual(pages, (n + 2) // 3)
        # without before: from the newest, which includes the page reads since
        j = self.page(tok, "limit=2")
        self.assertEqual(j["entries"][0]["type"], "audit.read")
        self.assertGreaterEqual(j["entries"][0]["index"], n)
        self.assertEqual(j["entries"][0]["detail"], {"format": "json", "complete": True,
                                                     "limit": 3})
        # filters, on the server
        logins = [e for e in entries if e["type"] == "auth.login"]
        j = self.page(tok, f"limit=1000&before={n}&type=auth.login")
        self.assertEqual(j["entries"], list(reversed(logins)))
        j = self.page(tok, f"limit=2&before={n}&type=auth.login&actor=other")
        self.assertEqual([e["actor"] for e in j["entries"]], ["other", "other"])
        self.assertTrue(j["more"])
        j = self.page(tok, f"limit=1000&before={n}&q=CHIEF")     # case-blind, in the detail
        self.assertEqual(j["entries"], [e for e in reversed(entries)
                                        if "chief" in json.dumps(e["detail"]).lower()])
        self.assertTrue(j["entries"])
        mid = entries[n // 2]
        j = self.page(tok, f"limit=1000&before={n}&from={mid['time']}&to={mid['time']}")
        self.assertIn(mid, j["entries"])
        self.assertTrue(all(e["time"] == mid["time"] for e in j["entries"]))
        j = self.page(tok, f"limit=5&before={n}&type=no.such.type")
        self.assertEqual((j["entries"], j["more"], j["next_before"]), ([], False, None))
        j = self.page(tok, "limit=5&before=0")
        self.assertEqual(j["entries"], [])

    def test_refusals(self):
        tok = self.api.login("chief", ADMIN_PW)
        # audit_read on * as for the whole log, before the parameters are looked at
        self.assertEqual(self.page(self.api.login("victor", ADMIN_PW), "limit=5",
                                   expect=403)["error"]["code"], "forbidden")
        for q, why in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
                       ("limit=-1", "limit"), ("limit=5&before=-1", "before"),
                       ("limit=5&before=x", "before"), ("limit=5&type=", "type"),
                       ("limit=5&actor=a%01b", "actor"), ("limit=5&q=" + "x" * 129, "q"),
                       ("limit=5&from=yesterday", "from"),
                       ("limit=5&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "before"),
                       ("format=csv&limit=5", "JSON only"), ("type=auth.login", "needs limit"),
                       ("before=3", "needs limit")):
            j = self.page(tok, q, expect=400)
            self.assertEqual(j["error"]["code"], "invalid", q)
            self.assertIn(why, j["error"]["message"], q)


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
        # the outage is a gap in ranges, with the signed record's reason
        time.sleep(2.5)
        _, j = self.api.json("GET", "/api/v1/cameras/cam1/ranges", token=self.tok, expect=200)
        self.assertGreaterEqual(len(j["gaps"]), 1, j)
        g = j["gaps"][-1]
        self.assertTrue(g["signed"], j)
        self.assertEqual(g["kind"], "gap")
        self.assertTrue(g["reason"].startswith("camera offline: no frames for "), g)
        # an archive imported in two pieces: a gap nothing signed explains
        self.s.import_clip("archive", self.clip, start=cutest.iso(us(60)))
        _, j = self.api.json("GET", "/api/v1/cameras/archive/ranges", token=self.tok, expect=200)
        self.assertEqual(len(j["gaps"]), 1, j)
        self.assertEqual((j["gaps"][0]["reason"], j["gaps"][0]["signed"]), (None, False))


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


class VerifyAndBookmarks(Media):
    def audit(self):
        self.api.term()
        p = run("audit", "export", "--store", self.s.dir, "--format", "json", check=0)
        return json.loads(p.stdout)["entries"]

    def test_verify_intact_then_tampered(self):
        self.start()
        _, srv = self.api.json("GET", "/api/v1/server", token=self.tok, expect=200)
        q = f"from={cutest.iso(T0)}&to={cutest.iso(us(6))}"
        _, j = self.api.json("GET", f"/api/v1/cameras/cam1/verify?{q}", token=self.tok, expect=200)
        self.assertEqual((j["camera"], j["intact"]), ("cam1", True), j)
        self.assertEqual(j["segments"], len(self.s.segments("cam1")))
        self.assertEqual(j["signer_sha256"], srv["signer_sha256"])
        self.assertEqual(j["site_ca_sha256"], srv["site_ca_sha256"])
        self.assertNotIn("failed_segment_start", j)
        self.assertEqual((j["from"], j["to"]), (cutest.iso(T0), cutest.iso(us(6))))
        # refusals: no range, a reversed one, one over 24 h
        for bad in ("", f"from={cutest.iso(T0)}", f"from={us(5)}&to={us(1)}",
                    f"from={us(0)}&to={us(86401)}", "from=yesterday&to=now"):
            st, e = self.api.json("GET", f"/api/v1/cameras/cam1/verify?{bad}", token=self.tok)
            self.assertEqual(st, 400, bad)
            self.assertEqual(e["error"]["code"], "invalid")
        # tamper one frame of segment 2
        path = self.s.segment_path("cam1", 2)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        e = [x for x in cutest.entries(bytes(data)) if x.type == cutest.FRAME][3]
        data[e.end - 5] ^= 0x01
        with open(path, "wb") as f:
            f.write(data)
        _, j = self.api.json("GET", f"/api/v1/cameras/cam1/verify?{q}", token=self.tok, expect=200)
        self.assertFalse(j["intact"], j)
        self.assertEqual(j["failed_segment_start"], cutest.iso(self.s.segment_start("cam1", 2)))
        self.assertTrue(j["reason"])
        ents = [x for x in self.audit() if x["type"] == "verify.tampered"]
        self.assertEqual(len(ents), 1)
        self.assertEqual(ents[0]["detail"]["failed_segment_start"], j["failed_segment_start"])

    def test_bookmark_patch(self):
        self.start()
        _, b = self.api.json("POST", "/api/v1/cameras/cam1/bookmarks", token=self.tok,
                             body={"at": cutest.iso(us(1)), "end": cutest.iso(us(3)),
                                   "title": "door", "description": "first"}, expect=201)
        path = f"/api/v1/bookmarks/{b['id']}"
        _, j = self.api.json("PATCH", path, token=self.tok, expect=200,
                             body={"title": "door forced", "end": None,
                                   "description": "line 1\nline 2"})
        self.assertEqual((j["title"], j["end"], j["description"], j["at"]),
                         ("door forced", None, "line 1\nline 2", cutest.iso(us(1))))
        self.assertEqual((j["created_by"], j["created"]), (b["created_by"], b["created"]))
        _, j = self.api.json("GET", path, token=self.tok, expect=200)
        self.assertEqual(j["title"], "door forced")
        for body, what in (({"title": "a\u202eb"}, '"title": byte 1: a bidirectional'),
                           ({"description": "x\r\ny"}, '"description": byte 1: a carriage'),
                           ({"title": ""}, '"title"'), ({"camera": "cam2"}, 'unknown field'),
                           ({"end": cutest.iso(us(0))}, "end"),
                           ({"title": "t" * 201}, '"title"')):
            st, e = self.api.json("PATCH", path, token=self.tok, body=body)
            self.assertEqual(st, 400, body)
            self.assertIn(what, e["error"]["message"], body)
        # a user with live only on the camera may not change it
        tok = self.api.login("eve", ADMIN_PW)
        st, _ = self.api.json("PATCH", path, token=tok, body={"title": "x"})
        self.assertEqual(st, 403)
        st, _ = self.api.json("PATCH", "/api/v1/bookmarks/99999", token=self.tok,
                              body={"title": "x"})
        self.assertEqual(st, 404)
        ents = [x for x in self.audit() if x["type"] == "bookmark.update"]
        self.assertEqual(len(ents), 1)
        d = ents[0]["detail"]
        self.assertEqual((d["before"]["title"], d["after"]["title"], d["after"]["end"],
                          d["description_changed"]), ("door", "door forced", None, True))


if __name__ == "__main__":
    cutest.main()
