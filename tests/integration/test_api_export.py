"""Server-side exports through the HTTPS API, under export profiles.

Users, roles and profiles are made with the CLI (custody user/role/profile);
custodyd serves POST /api/v1/exports and the export runs in the background.

  - profile enforcement: a format the profile does not allow (403 "profile",
    setting "formats"), a locked setting asked otherwise (403: encryption,
    prevent_reexport, include_player), missing comments where required (400
    "comments_required"), a missing or short password (400
    "password_required" / "password_min_length"), a profile that is not the
    caller's (403), several profiles and none named (400); the export
    function on every camera with the 404/403 rule;
  - an evidence package polled to done and downloaded: the package magic,
    size and SHA-256 as the status says, custody verify PACKAGE when the CLI
    has it;
  - an MP4 that ffprobe reads with the right duration and frame count;
  - stills as a tar of valid JPEGs named <camera>-<ISO time>.jpg, one a
    second of a range or at the times given;
  - a tampered source: the export fails, naming the camera and the start of
    the first failed segment;
  - the audit entries export, export.end, export.download (and
    export.delete) with all their fields; files in STORE/exports (0700 dir,
    0600 files) gone after DELETE; at most two exports at once;
  - one rule for text people type: a carriage return, a C1 control, a NUL
    and a bidi override get the same refusal as export comments through
    the API and through custody export --store, and as an evidence lock's
    headline and a bookmark's title and description through the API.
"""

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import time

import api_util
import cutest
from cutest import Store, run

T0 = 1_767_225_600_000_000          # 2026-01-01T00:00:00Z in µs
PW = "Export-Test-Pass-7"           # every user's login password
PKG_PW = "a long export passphrase"  # 24 characters


def us(s):
    return T0 + int(s * 1_000_000)


def t(s):
    return cutest.iso(us(s))


# role -> (grants, profile or None); user -> roles
ROLES = {
    "admins": ([("admin", "*")], None),
    "investigators": ([("export", "cam1"), ("export", "cam2")], None),   # the built-in default
    "analysts": ([("export", "cam1"), ("export", "cam2")], "open"),
    "clerks": ([("export", "cam1")], "mp4only"),
    "detectives": ([("export", "cam1"), ("playback", "cam1")], "strict"),
    "viewers": ([("playback", "cam1")], None),
}
USERS = {
    "chief": ["admins"],
    "ivan": ["investigators"],
    "ana": ["analysts"],
    "multi": ["analysts", "clerks"],
    "dee": ["detectives"],
    "vic": ["viewers"],
}
PROFILES = {
    # everything allowed, nothing locked, nothing required
    "open": ["--formats", "evidence,mp4,stills", "--set", "password_required=off",
             "--set", "encryption=off", "--set", "comments_required=off", "--unlock", "all"],
    "mp4only": ["--formats", "mp4", "--set", "comments_required=off"],
    "strict": ["--formats", "evidence,stills", "--set", "prevent_reexport=on",
               "--set", "include_player=off", "--set", "password_min_length=16",
               "--lock", "all"],
}


def make_world(tmp, clip, encryption="strong"):
    s = Store(tmp, "st", encryption=encryption, segment_seconds=2)
    for cam in ("cam1", "cam2"):
        s.import_clip(cam, clip, start=cutest.iso(T0))
    for name, args in PROFILES.items():
        api_util.cli(s, "profile", "add", "--name", name, *args)
    for role, (grants, profile) in ROLES.items():
        api_util.add_role(s, role, grants)
        if profile:
            api_util.cli(s, "profile", "assign", "--role", role, "--name", profile)
    for user, roles in USERS.items():
        api_util.add_user(s, tmp, user, PW, roles=roles)
    return s


def body(cams, fmt="evidence", **kw):
    """An export request: cams is [(camera, from s, to s)]."""
    b = {"format": fmt, "cameras": [{"camera": c, "from": t(a), "to": t(z)} for c, a, z in cams]}
    b.update(kw)
    return b


EVIDENCE_OK = {"case": "K-2026-17", "comments": "fight at the entrance", "password": PKG_PW}


class Exports(cutest.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cutest.TempDirTest.setUp(cls)
        cls.addClassCleanup(cutest.TempDirTest.tearDown, cls)
        clip = cutest.make_clip(os.path.join(cls.tmp, "clip.mp4"), seconds=10)
        cls.s = make_world(cls.tmp, clip)
        cls.api = api_util.Api(cls.tmp, cls.s).start()
        cls.addClassCleanup(cls.api.stop)
        cls.tok = {u: cls.api.login(u, PW) for u in USERS}

    def setUp(self):
        pass   # the class's directory and server

    def tearDown(self):
        pass

    # ---- helpers ----

    def post(self, user, b):
        st, h, raw = self.api.request("POST", "/api/v1/exports", token=self.tok[user], body=b)
        return st, json.loads(raw) if raw else None

    def refused(self, user, b, status, code, setting=None, words=None):
        st, j = self.post(user, b)
        self.assertEqual(st, status, j)
        e = j["error"]
        self.assertEqual(e["code"], code, e)
        if setting is not None:
            self.assertEqual(e["setting"], setting, e)
        if words is not None:
            self.assertIn(words, e["message"])
        return e

    def start(self, user, b):
        st, j = self.post(user, b)
        self.assertEqual(st, 202, j)
        self.assertEqual(j["status"], "running")
        self.assertEqual(len(j["id"]), 32)
        return j["id"]

    def wait(self, user, ident, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            st, j = self.api.json("GET", f"/api/v1/exports/{ident}", token=self.tok[user],
                                  expect=200)
            self.assertTrue(0 <= j["progress"] <= 1, j)
            if j["status"] != "running":
                return j
            if time.monotonic() > deadline:
                raise AssertionError(f"export {ident} still running: {j}")
            time.sleep(0.1)

    def download(self, user, ident):
        st, h, data = self.api.request("GET", f"/api/v1/exports/{ident}/file",
                                       token=self.tok[user])
        self.assertEqual(st, 200, data[:300])
        return h, data

    def audit(self):
        p = run("audit", "export", "--store", self.s.dir, "--format", "json", check=0)
        return json.loads(p.stdout)["entries"]

    def save(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # ---- profile enforcement ----

    def test_default_profile_is_enforced(self):
        """ivan's roles have no profile: the built-in default (evidence only,
        encryption on, a password of 12+ characters, comments, all locked)."""
        cam = [("cam1", 1, 3)]
        self.refused("ivan", body(cam, "mp4", comments="x"), 403, "profile", "formats",
                     "does not allow mp4")
        self.refused("ivan", body(cam, "stills", comments="x"), 403, "profile", "formats")
        e = self.refused("ivan", body(cam, **{**EVIDENCE_OK, "encrypt": False}), 403, "profile",
                         "encryption", "locks encryption on")
        self.assertEqual(e["profile"], "default")
        self.refused("ivan", body(cam, **{**EVIDENCE_OK, "comments": None}), 400, "profile",
                     "comments_required")
        self.refused("ivan", body(cam, **{**EVIDENCE_OK, "comments": " \n\t "}), 400,
                     "profile", "comments_required")
        self.refused("ivan", body(cam, **{**EVIDENCE_OK, "password": None}), 400, "profile",
                     "password_required")
        e = self.refused("ivan", body(cam, **{**EVIDENCE_OK, "password": "eleven-char"}), 400,
                         "profile", "password_min_length", "at least 12 characters")
        self.assertIn("(11 given)", e["message"])
        # characters, not bytes: 11 characters of 2 bytes each are too few
        self.refused("ivan", body(cam, **{**EVIDENCE_OK, "password": "é" * 11}), 400,
                     "profile", "password_min_length")
        # a profile that is not one's own is refused
        self.refused("ivan", body(cam, **{**EVIDENCE_OK, "profile": "open"}), 403, "profile",
                     "profile", "not one of your export profiles")
        # unlocked settings of the default may be changed by the request
        ident = self.start("ivan", body(cam, **{**EVIDENCE_OK, "password": "é" * 12,
                                               "prevent_reexport": True,
                                               "include_player": False, "profile": "default"}))
        j = self.wait("ivan", ident)
        self.assertEqual(j["status"], "done", j)
        self.assertEqual((j["profile"], j["encrypted"], j["prevent_reexport"],
                          j["include_player"]), ("default", True, True, False))

    def test_strict_profile_locks(self):
        cam = [("cam1", 1, 3)]
        ok = {"comments": "why", "password": "sixteen-chars-ok"}
        self.refused("dee", body(cam, **ok, prevent_reexport=False), 403, "profile",
                     "prevent_reexport")
        self.refused("dee", body(cam, **ok, include_player=True), 403, "profile",
                     "include_player")
        self.refused("dee", body(cam, **{**ok, "password": "fifteen-chars-x"}), 400, "profile",
                     "password_min_length", "at least 16")
        self.refused("dee", body(cam, "mp4", comments="why"), 403, "profile", "formats")
        # the password and encryption settings are for evidence packages only
        self.refused("dee", body(cam, "stills", comments="why", password="sixteen-chars-ok"),
                     400, "invalid", words="evidence exports only")
        # what the request leaves out, the locked profile fills in
        ident = self.start("dee", body(cam, **ok))
        j = self.wait("dee", ident)
        self.assertEqual(j["status"], "done", j)
        self.assertEqual((j["profile"], j["encrypted"], j["prevent_reexport"],
                          j["include_player"]), ("strict", True, True, False))

    def test_open_profile_and_choosing_one(self):
        cam = [("cam1", 1, 3)]
        # ana's profile locks nothing: an unencrypted package without comments
        ident = self.start("ana", body(cam, encrypt=False))
        j = self.wait("ana", ident)
        self.assertEqual((j["status"], j["encrypted"]), ("done", False), j)
        self.refused("ana", body(cam, encrypt=False, password=PKG_PW), 400, "invalid",
                     words="only an encrypted package")
        self.refused("ana", body(cam, encrypt=True), 400, "invalid", words="needs a password")
        self.refused("ana", body(cam, encrypt=True, password="seven-7"), 400, "profile",
                     "password_min_length", "at least 8")
        # multi holds two profiles: one must be named
        e = self.refused("multi", body(cam, "mp4"), 400, "profile", "profile",
                         "several export profiles")
        self.assertIn("mp4only", e["message"])
        self.assertIn("open", e["message"])
        # a profile says how, not what: multi may export cam2 through analysts,
        # and so with either profile
        self.refused("multi", body(cam, "stills", profile="mp4only"), 403, "profile",
                     "formats")
        ident = self.start("multi", body(cam, "mp4", profile="mp4only"))
        self.assertEqual(self.wait("multi", ident)["profile"], "mp4only")
        # the caller's profiles, as a client shows them
        st, j = self.api.json("GET", "/api/v1/export-profiles", token=self.tok["multi"],
                              expect=200)
        names = [p["name"] for p in j["profiles"]]
        self.assertEqual(names, ["mp4only", "open"])
        mp4only = j["profiles"][0]
        self.assertEqual(mp4only["formats"], ["mp4"])
        self.assertEqual(mp4only["roles"], ["clerks"])
        self.assertEqual(mp4only["settings"]["encryption"], {"value": True, "locked": True})
        self.assertEqual(mp4only["settings"]["password_min_length"],
                         {"value": 12, "locked": True})
        st, j = self.api.json("GET", "/api/v1/export-profiles", token=self.tok["ivan"],
                              expect=200)
        self.assertEqual([(p["name"], p["builtin"]) for p in j["profiles"]], [("default", True)])

    def test_cameras_need_the_export_function(self):
        ok = {"comments": "x", "password": PKG_PW}
        # vic may play cam1 but not export it (403); cam2 he may not know (404),
        # exactly as a camera that does not exist
        e = self.refused("vic", body([("cam1", 1, 3)], **ok), 403, "forbidden")
        e2 = self.refused("vic", body([("cam2", 1, 3)], **ok), 404, "not_found")
        e3 = self.refused("vic", body([("nocam", 1, 3)], **ok), 404, "not_found")
        self.assertEqual(e2["message"].replace("cam2", "X"), e3["message"].replace("nocam", "X"))
        self.assertIn("export", e["message"])
        # every camera is checked: one refused camera refuses the export
        self.refused("dee", body([("cam1", 1, 3), ("cam2", 1, 3)], comments="x",
                                 password="sixteen-chars-ok"), 404, "not_found")
        # malformed requests
        for b, words in [
            (body([("cam1", 3, 1)], **ok), "end after"),
            (body([("cam1", 0, 90000)], **ok), "at most 86400 s"),
            (body([("cam1", 1, 2), ("cam1", 2, 3)], **ok), "named twice"),
            (body([], **ok), "list of 1 to 64"),
            ({**body([("cam1", 1, 2)], **ok), "format": "avi"}, "evidence, mp4 or stills"),
            ({**body([("cam1", 1, 2)], **ok), "colour": "red"}, "unknown field"),
            (body([("cam1", 1, 2)], **{**ok, "case": "a\x01b"}),
             '"case": byte 1: a control character (U+0001)'),
            (body([("cam1", 1, 2), ("cam2", 1, 2)], "mp4"), "one camera"),
        ]:
            with self.subTest(words=words):
                self.refused("ana", b, 400, "invalid", words=words)

    # ---- one rule for text people type (docs/api.md "Text fields") ----

    # (text, the refusal's detail after the member or option's name)
    BAD_TEXT = [
        ("line one\r\nline two", "byte 8: a carriage return (U+000D)"),
        ("next line\u0085here", "byte 9: a C1 control character (U+0085)"),
        ("invoice\u202etxt.exe", "byte 7: a bidirectional control character (U+202E)"),
        ("nul\u0000byte", "byte 3: a NUL character (U+0000)"),
    ]

    def test_text_rule_is_one_in_every_channel(self):
        out = os.path.join(self.tmp, "text.cuep")
        cli_base = ["export", "--store", self.s.dir, "--password-file", self.s.pw, "--out", out,
                    "--camera", "cam1", "--from", t(1), "--to", t(3), "--case", "K-1",
                    "--no-encryption"]
        n_before = self.export_entries()
        for i, (text, says) in enumerate(self.BAD_TEXT):
            with self.subTest(text=text):
                # export comments through the API (a JSON string carries a NUL too)
                e = self.refused("ivan", body([("cam1", 1, 3)], case="K-1", password=PKG_PW,
                                              comments=text), 400, "invalid")
                self.assertTrue(e["message"].startswith(f'"comments": {says}'), e)
                # ... and through custody export: as an argument (argv cannot
                # carry a NUL) and as --comments-file
                if "\0" not in text:
                    p = run(*cli_base, "--comments", text)
                    self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                    self.assertIn(f"custody export: --comments: {says}", p.stderr)
                cf = os.path.join(self.tmp, f"comments{i}.txt")
                with open(cf, "wb") as f:
                    f.write(text.encode() + b"\n")
                p = run(*cli_base, "--comments-file", cf)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(f"custody export: --comments-file: {says}", p.stderr)
                self.assertFalse(os.path.exists(out))
                # an evidence lock's headline, a bookmark's title and description
                lock = {"headline": text, "cameras": ["cam1"], "from": t(1), "to": t(3)}
                st, j = self.api.json("POST", "/api/v1/evidence-locks", token=self.tok["chief"],
                                      body=lock)
                self.assertEqual((st, j["error"]["code"]), (400, "invalid"), j)
                self.assertTrue(j["error"]["message"].startswith(f'"headline": {says}'), j)
                for field, other in (("title", {}), ("description", {"title": "ok"})):
                    st, j = self.api.json("POST", "/api/v1/cameras/cam1/bookmarks",
                                          token=self.tok["chief"],
                                          body={"at": t(2), field: text, **other})
                    self.assertEqual((st, j["error"]["code"]), (400, "invalid"), j)
                    self.assertTrue(j["error"]["message"].startswith(f'"{field}": {says}'), j)
        # nothing refused was logged as an export, locked or bookmarked
        self.assertEqual(self.export_entries(), n_before)
        st, j = self.api.json("GET", "/api/v1/evidence-locks", token=self.tok["chief"],
                              expect=200)
        self.assertEqual(j["evidence_locks"], [])
        # what people write in their languages passes, line feeds and tabs
        # where text may hold lines
        good = "Zo\u00eb's caf\u00e9 \u76e3\u8996 \u0627\u0644\u0643\u0627\u0645\u064a\u0631\u0627 \U0001f4f7"
        st, j = self.api.json("POST", "/api/v1/cameras/cam1/bookmarks", token=self.tok["chief"],
                              body={"at": t(2), "title": good,
                                    "description": "first\n\tsecond"}, expect=201)
        self.assertEqual((j["title"], j["description"]), (good, "first\n\tsecond"))
        self.api.json("DELETE", f"/api/v1/bookmarks/{j['id']}", token=self.tok["chief"],
                      expect=204)
        st, j = self.api.json("POST", "/api/v1/cameras/cam1/bookmarks", token=self.tok["chief"],
                              body={"at": t(2), "title": "one\nline"})
        self.assertEqual(st, 400, j)
        self.assertTrue(j["error"]["message"].startswith('"title": byte 3: a line break'), j)

    def test_local_export_applies_the_same_profiles(self):
        """custody export --store applies the export profile --profile names or
        --user's (cu_auth_profile_decide, as custodyd), and names the profile it
        applied in the audit entry and the package; with neither, "operator"."""
        short = api_util.secret(self.tmp, "short.pw", "twelve chars")   # 12 characters
        long_pw = api_util.secret(self.tmp, "long.pw", PKG_PW)

        def local(name, *args):
            out = os.path.join(self.tmp, name)
            return out, run("export", "--store", self.s.dir, "--password-file", self.s.pw,
                            "--out", out, "--camera", "cam1", "--from", t(1), "--to", t(3),
                            "--case", "K-9", "--comments", "why", *args)

        refusals = [
            (("--user", "ivan", "--no-encryption"), "locks encryption on", "encryption"),
            (("--user", "dee", "--package-password-file", short), "at least 16 characters",
             "password_min_length"),
            (("--profile", "strict", "--no-encryption"), "locks encryption on", "encryption"),
            (("--user", "multi", "--no-encryption"), "several export profiles", "profile"),
            (("--user", "ana", "--profile", "strict", "--no-encryption"),
             "not one of your export profiles", "profile"),
            (("--profile", "nosuch", "--no-encryption"), 'no export profile "nosuch"', None),
        ]
        for i, (args, words, setting) in enumerate(refusals):
            with self.subTest(args=args):
                out, p = local(f"refused{i}.cuep", *args)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(words, p.stderr)
                if setting:
                    self.assertIn(f"(setting {setting})", p.stderr)
                self.assertFalse(os.path.exists(out))
        applied = [
            (("--user", "ana", "--no-encryption"), "open", False),
            (("--user", "multi", "--profile", "open", "--no-encryption"), "open", False),
            (("--user", "dee", "--package-password-file", long_pw), "strict", True),
            (("--no-encryption",), "operator", False),
            (("--user", "nobody-in-auth-db", "--no-encryption"), "operator", False),
        ]
        for i, (args, profile, reexport_locked) in enumerate(applied):
            with self.subTest(args=args):
                out, p = local(f"applied{i}.cuep", *args)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                ents = json.loads(run("audit", "export", "--store", self.s.dir, "--format",
                                      "json", check=0).stdout)["entries"]
                mine = [e for e in ents if e["type"] == "export" and
                        e["detail"].get("file") == out]
                self.assertEqual(len(mine), 1)
                self.assertEqual(mine[0]["detail"]["profile"], profile)
                # strict sets prevent_reexport on, locked: the package carries it
                self.assertEqual(mine[0]["detail"]["prevent_reexport"], reexport_locked)
                pwargs = ["--password-file", long_pw] if "--package-password-file" in args else []
                v = run("verify", out, "--json", *pwargs, check=0)
                self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
                self.assertIn(f'"profile": "{profile}"', v.stdout.replace('":"', '": "'))

    def export_entries(self):
        p = run("audit", "export", "--store", self.s.dir, "--format", "json", check=0)
        return sum(1 for e in json.loads(p.stdout)["entries"]
                   if e["type"] in ("export", "evidence_lock.create", "bookmark.create"))

    # ---- the formats ----

    def test_evidence_export_download_and_audit(self):
        ident = self.start("ivan", body([("cam1", 2, 6), ("cam2", 1, 4)], **EVIDENCE_OK,
                                        include_player=False))
        # the owner and admins see it; nobody else, as if it did not exist
        for u in ("ana", "vic", "dee"):
            st, _, raw = self.api.request("GET", f"/api/v1/exports/{ident}", token=self.tok[u])
            self.assertEqual(st, 404, (u, raw))
            st, _, raw = self.api.request("GET", f"/api/v1/exports/{ident}/file",
                                          token=self.tok[u])
            self.assertEqual(st, 404, (u, raw))
        j = self.wait("ivan", ident)
        self.assertEqual(j["status"], "done", j)
        self.assertEqual(j["progress"], 1)
        self.assertEqual(j["format"], "evidence")
        self.assertEqual(j["user"], "ivan")
        created, expires = cutest.parse_iso(j["created"]), cutest.parse_iso(j["expires"])
        self.assertEqual(expires - created, 24 * 3600 * 1_000_000)
        self.assertEqual(j["cameras"], [{"camera": "cam1", "from": t(2), "to": t(6)},
                                        {"camera": "cam2", "from": t(1), "to": t(4)}])
        st, j2 = self.api.json("GET", f"/api/v1/exports/{ident}", token=self.tok["chief"],
                               expect=200)
        self.assertEqual(j2["id"], ident)
        st, lst = self.api.json("GET", "/api/v1/exports", token=self.tok["ivan"], expect=200)
        self.assertIn(ident, [x["id"] for x in lst["exports"]])
        st, lst = self.api.json("GET", "/api/v1/exports", token=self.tok["ana"], expect=200)
        self.assertNotIn(ident, [x["id"] for x in lst["exports"]])

        # the file on disk: STORE/exports 0700, the package 0600
        d = os.path.join(self.s.dir, "exports")
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        path = os.path.join(d, ident + ".cuep")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

        h, data = self.download("ivan", ident)
        self.assertEqual(h["content-type"], "application/octet-stream")
        self.assertEqual(h["content-disposition"], f'attachment; filename="custody-{ident}.cuep"')
        self.assertTrue(data.startswith(b"CUSTPKG\0"), data[:16])
        self.assertEqual(len(data), j["bytes"])
        self.assertEqual(hashlib.sha256(data).hexdigest(), j["sha256"])
        pkg = self.save("export.cuep", data)
        self.verify_package(pkg)

        # the audit log: the request (before the package), its end, the download
        ents = self.audit()
        ex = [e for e in ents if e["type"] == "export" and e["detail"]["id"] == ident]
        self.assertEqual(len(ex), 1)
        ex = ex[0]
        self.assertEqual(ex["actor"], "ivan")
        self.assertEqual(ex["source"], "127.0.0.1")
        self.assertEqual(ex["detail"], {
            "id": ident, "format": "evidence", "case": "K-2026-17",
            "comments": "fight at the entrance", "profile": "default", "encryption": True,
            "signature": True, "prevent_reexport": False, "include_player": False,
            "cameras": [{"camera": "cam1", "from": t(2), "to": t(6)},
                        {"camera": "cam2", "from": t(1), "to": t(4)}]})
        self.assertNotIn(PKG_PW, json.dumps(ents))
        end = [e for e in ents if e["type"] == "export.end" and e["detail"]["id"] == ident]
        self.assertEqual(len(end), 1)
        self.assertEqual(end[0]["detail"], {"id": ident, "status": "done", "format": "evidence",
                                            "bytes": len(data), "sha256": j["sha256"]})
        self.assertGreater(end[0]["index"], ex["index"])
        dl = [e for e in ents if e["type"] == "export.download" and e["detail"]["id"] == ident]
        self.assertEqual(len(dl), 1)
        self.assertEqual(dl[0]["actor"], "ivan")
        self.assertEqual(dl[0]["detail"], {"id": ident, "format": "evidence", "player": False,
                                           "bytes": len(data), "sha256": j["sha256"],
                                           "complete": True})
        # the password never reaches the server's log either
        self.assertNotIn(PKG_PW, self.api.daemon.read_log())

        # DELETE: gone for everyone, file included; audited
        st, _, _ = self.api.request("DELETE", f"/api/v1/exports/{ident}", token=self.tok["ana"])
        self.assertEqual(st, 404)
        st, _, _ = self.api.request("DELETE", f"/api/v1/exports/{ident}", token=self.tok["ivan"])
        self.assertEqual(st, 204)
        self.assertFalse(os.path.exists(path))
        st, _, _ = self.api.request("GET", f"/api/v1/exports/{ident}", token=self.tok["ivan"])
        self.assertEqual(st, 404)
        dels = [e for e in self.audit() if e["type"] == "export.delete"]
        self.assertEqual(dels[-1]["detail"], {"id": ident, "user": "ivan", "was_running": False})

    def test_evidence_export_with_the_player(self):
        """The default profile's include_player (on, unlocked) when the request
        does not say: the download is a tar of the folder for a USB stick,
        whose own copy of custody verifies the package."""
        ident = self.start("ivan", body([("cam1", 1, 5)], **EVIDENCE_OK))
        j = self.wait("ivan", ident)
        self.assertEqual(j["status"], "done", j)
        self.assertTrue(j["include_player"])
        d = os.path.join(self.s.dir, "exports")
        mine = sorted(n for n in os.listdir(d) if n.startswith(ident))
        self.assertEqual(mine, [ident + ".tar"])   # the package is inside it
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, ident + ".tar")).st_mode), 0o600)
        h, data = self.download("ivan", ident)
        self.assertEqual(h["content-type"], "application/x-tar")
        self.assertEqual(h["content-disposition"], f'attachment; filename="custody-{ident}.tar"')
        self.assertEqual(hashlib.sha256(data).hexdigest(), j["sha256"])
        self.assertEqual(len(data), j["bytes"])
        top = f"custody-{ident}"
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            members = tf.getmembers()
            self.assertEqual([(m.name, m.mode, m.isfile()) for m in members],
                             [(top + "/evidence.cuep", 0o644, True),
                              (top + "/custody", 0o755, True),
                              (top + "/verify-package.sh", 0o644, True),
                              (top + "/README.txt", 0o644, True)])
            files = {m.name.split("/", 1)[1]: tf.extractfile(m).read() for m in members}
        with open(cutest.CUSTODY, "rb") as f:
            self.assertEqual(files["custody"], f.read())
        recipe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                              "recipes", "verify-package.sh")
        with open(recipe, "rb") as f:
            self.assertEqual(files["verify-package.sh"], f.read())
        readme = files["README.txt"].decode()
        for name in ("evidence.cuep", "custody", "verify-package.sh"):
            self.assertIn(f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n", readme)
        # unpacked with GNU tar, the folder's own program verifies its package
        out = os.path.join(self.tmp, "usb-" + ident[:8])
        os.mkdir(out)
        subprocess.run(["tar", "-xf", "-", "-C", out], input=data, check=True)
        folder = os.path.join(out, top)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(folder, "custody")).st_mode), 0o755)
        pw = api_util.secret(self.tmp, "pkg-player.pw", PKG_PW)
        p = subprocess.run(["./custody", "verify", "evidence.cuep", "--password-file", pw,
                            "--json"], cwd=folder, capture_output=True, text=True,
                           timeout=300, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        rep = json.loads(p.stdout)
        self.assertEqual((rep["result"], rep["exporter"], rep["case"]),
                         ("intact", "ivan", "K-2026-17"))
        dl = [e for e in self.audit() if e["type"] == "export.download" and
              e["detail"]["id"] == ident]
        self.assertEqual(dl[0]["detail"]["player"], True)
        self.assertEqual(dl[0]["detail"]["sha256"], j["sha256"])
        st, _, _ = self.api.request("DELETE", f"/api/v1/exports/{ident}", token=self.tok["ivan"])
        self.assertEqual(st, 204)
        self.assertEqual([n for n in os.listdir(d) if n.startswith(ident)], [])

    def verify_package(self, pkg):
        """custody verify PACKAGE: intact."""
        pw = api_util.secret(self.tmp, "pkg.pw", PKG_PW)
        p = run("verify", pkg, "--password-file", pw)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_mp4_export(self):
        ident = self.start("ana", body([("cam1", 2, 7)], "mp4", case="K-1"))
        j = self.wait("ana", ident)
        self.assertEqual(j["status"], "done", j)
        self.assertNotIn("encrypted", j)
        h, data = self.download("ana", ident)
        self.assertEqual(h["content-type"], "video/mp4")
        self.assertEqual(hashlib.sha256(data).hexdigest(), j["sha256"])
        self.assertEqual(data[4:8], b"ftyp")
        info = api_util.ffprobe(self.save("export.mp4", data))
        self.assertIn("mp4", info["format"]["format_name"])
        v = [s for s in info["streams"] if s["codec_name"] == "h264"][0]
        # 25 fps, a key frame every second: frames at 2.00 s .. 7.00 s inclusive
        self.assertEqual(int(v["nb_read_frames"]), 5 * 25 + 1)
        self.assertAlmostEqual(float(info["format"]["duration"]), 5.04, delta=0.05)
        self.assertNotIn(b"moof", data)       # a plain MP4, not fragmented
        p = subprocess.run(["ffmpeg", "-v", "error", "-i", self.save("e2.mp4", data), "-f",
                            "null", "-"], capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        ex = [e for e in self.audit() if e["type"] == "export" and e["detail"]["id"] == ident][0]
        self.assertEqual((ex["detail"]["format"], ex["detail"]["signature"],
                          ex["detail"]["encryption"], ex["detail"]["profile"]),
                         ("mp4", False, False, "open"))

    def test_stills_export(self):
        # one a second of [1 s, 4 s) on cam1, and two chosen moments of cam2
        ident = self.start("ana", body([("cam1", 1, 4)], "stills"))
        j = self.wait("ana", ident)
        self.assertEqual(j["status"], "done", j)
        h, data = self.download("ana", ident)
        self.assertEqual(h["content-type"], "application/x-tar")
        names = self.check_stills(data)
        self.assertEqual(names, [f"cam1-{t(s)}.jpg" for s in (1, 2, 3)])

        b = {"format": "stills", "cameras": [{"camera": "cam2",
                                              "at": [t(5.5), t(2.04), us(5.5)]}]}
        ident = self.start("ana", b)
        j = self.wait("ana", ident)
        self.assertEqual(j["status"], "done", j)
        self.assertEqual(j["cameras"], [{"camera": "cam2", "at": [t(2.04), t(5.5)]}])
        names = self.check_stills(self.download("ana", ident)[1])
        self.assertEqual(names, [f"cam2-{t(2.04)}.jpg", f"cam2-{t(5.5)}.jpg"])
        # a moment with no picture is left out; none at all fails the export
        ident = self.start("ana", {"format": "stills",
                                   "cameras": [{"camera": "cam1", "at": [t(100)]}]})
        j = self.wait("ana", ident)
        self.assertEqual(j["status"], "failed", j)
        self.assertIn("no picture", j["error"])
        st, _, raw = self.api.request("GET", f"/api/v1/exports/{ident}/file",
                                      token=self.tok["ana"])
        self.assertEqual((st, json.loads(raw)["error"]["code"]), (409, "failed"))
        # limits: a mix of forms, too many stills
        self.refused("ana", {"format": "stills", "cameras": [
            {"camera": "cam1", "at": [t(1)]}, {"camera": "cam2", "from": t(1), "to": t(2)}]},
            400, "invalid", words="not a mix")
        self.refused("ana", body([("cam1", 0, 3601)], "stills"), 413, "too_large")

    def check_stills(self, data):
        names = []
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            for m in tf.getmembers():
                self.assertTrue(m.isreg(), m.name)
                jpeg = tf.extractfile(m).read()
                self.assertTrue(jpeg.startswith(b"\xff\xd8") and jpeg.endswith(b"\xff\xd9"))
                self.assertIn(b"Exif\0\0", jpeg[:64])
                info = api_util.ffprobe(self.save("still.jpg", jpeg))
                self.assertEqual(info["streams"][0]["codec_name"], "mjpeg")
                names.append(m.name)
        return names

    def test_at_most_two_at_once(self):
        """A third export while two run is 503 busy. Exports of a short clip
        may end before the third request: then nothing was running at once
        and the check cannot bite, which is said rather than failed."""
        b = body([("cam1", 0, 9), ("cam2", 0, 9)], **EVIDENCE_OK)
        ids, busy = [], None
        for _ in range(3):
            st, j = self.post("ivan", b)
            if st == 503:
                busy = j
                break
            self.assertEqual(st, 202, j)
            ids.append(j["id"])
        if busy is not None:
            self.assertEqual(len(ids), 2)
            self.assertEqual(busy["error"]["code"], "busy")
            self.assertIn("2 exports are running", busy["error"]["message"])
        else:
            states = [self.wait("ivan", i)["status"] for i in ids]
            self.assertEqual(states, ["done"] * 3)
            print("\n  (the exports ended too fast to overlap)", end=" ")
        for i in ids:
            self.assertEqual(self.wait("ivan", i)["status"], "done")
            self.api.request("DELETE", f"/api/v1/exports/{i}", token=self.tok["ivan"])

    def test_download_needs_the_export_function_still(self):
        ident = self.start("dee", body([("cam1", 1, 2)], comments="x",
                                       password="sixteen-chars-ok"))
        self.assertEqual(self.wait("dee", ident)["status"], "done")
        st, _, raw = self.api.request("GET", f"/api/v1/exports/{ident}/file",
                                      token=self.tok["chief"])
        self.assertEqual(st, 200)   # an admin may
        api_util.cli(self.s, "role", "revoke", "--name", "detectives", "--function", "export",
                     "--camera", "cam1")
        try:
            st, _, raw = self.api.request("GET", f"/api/v1/exports/{ident}/file",
                                          token=self.tok["dee"])
            self.assertEqual(st, 403, raw)
        finally:
            api_util.cli(self.s, "role", "grant", "--name", "detectives", "--function",
                         "export", "--camera", "cam1")
        self.download("dee", ident)


class TamperedExport(cutest.TempDirTest):
    def test_tampered_source_fails_naming_camera_and_time(self):
        clip = cutest.make_clip(os.path.join(self.tmp, "clip.mp4"), seconds=10)
        s = make_world(self.tmp, clip)
        segs = s.segments("cam1")
        seq = [r[0] for r in segs if r[2] <= us(6.5) <= r[3]][0]
        start = [r[2] for r in segs if r[0] == seq][0]
        path = s.segment_path("cam1", seq)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x40]))
        api = api_util.Api(self.tmp, s).start()
        try:
            tok = {u: api.login(u, PW) for u in ("ivan", "ana")}
            cases = [("ivan", body([("cam2", 0, 9), ("cam1", 0, 9)], **EVIDENCE_OK)),
                     ("ana", body([("cam1", 0, 9)], "mp4")),
                     ("ana", body([("cam1", 5, 8)], "stills"))]
            for user, b in cases:
                with self.subTest(format=b["format"]):
                    st, _, raw = api.request("POST", "/api/v1/exports", token=tok[user], body=b)
                    self.assertEqual(st, 202, raw)
                    ident = json.loads(raw)["id"]
                    deadline = time.monotonic() + 120
                    while True:
                        st, j = api.json("GET", f"/api/v1/exports/{ident}", token=tok[user],
                                         expect=200)
                        if j["status"] != "running" or time.monotonic() > deadline:
                            break
                        time.sleep(0.1)
                    self.assertEqual(j["status"], "failed", j)
                    self.assertIn("cam1", j["error"])
                    self.assertIn(cutest.iso(start), j["error"])
                    self.assertEqual(j["tampered"]["camera"], "cam1")
                    self.assertEqual(j["tampered"]["failed_segment_start"], cutest.iso(start))
                    self.assertTrue(j["tampered"]["reason"])
                    self.assertNotIn("sha256", j)
                    st, _, raw = api.request("GET", f"/api/v1/exports/{ident}/file",
                                             token=tok[user])
                    self.assertEqual(st, 409)
                    self.assertIn(cutest.iso(start), json.loads(raw)["error"]["message"])
                    # nothing is left behind in STORE/exports
                    left = [n for n in os.listdir(os.path.join(s.dir, "exports"))
                            if n.startswith(ident)]
                    self.assertEqual(left, [])
        finally:
            api.term()
        p = run("audit", "export", "--store", s.dir, "--format", "json", check=0)
        ends = [e for e in json.loads(p.stdout)["entries"] if e["type"] == "export.end"]
        self.assertEqual([e["detail"]["status"] for e in ends], ["failed"] * 3)
        for e in ends:
            self.assertIn(cutest.iso(start), e["detail"]["error"])
        p = run("audit", "verify", "--store", s.dir, check=None)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class Player(cutest.TempDirTest):
    def test_no_program_to_bundle(self):
        """Without a custody program to put in the folder, a folder export is
        refused with a message that says what to configure, and the package
        alone still works; a configured program that is wrong stops custodyd
        at start, naming it."""
        clip = cutest.make_clip(os.path.join(self.tmp, "clip.mp4"), seconds=4)
        s = make_world(self.tmp, clip)
        # in the build tree there is no custody beside custodyd
        api = api_util.Api(self.tmp, s, https_opts={"player": None}).start()
        try:
            self.assertIn("exports with the player are off", api.daemon.read_log())
            tok = api.login("ivan", PW)
            st, _, raw = api.request("POST", "/api/v1/exports", token=tok,
                                     body=body([("cam1", 0, 2)], **EVIDENCE_OK))
            self.assertEqual(st, 503, raw)
            e = json.loads(raw)["error"]
            self.assertEqual(e["code"], "player_unavailable")
            self.assertIn("[https] player", e["message"])
            st, _, raw = api.request("POST", "/api/v1/exports", token=tok,
                                     body=body([("cam1", 0, 2)], **EVIDENCE_OK,
                                               include_player=False))
            self.assertEqual(st, 202, raw)
        finally:
            api.stop()
        for bad, words in ((os.path.join(self.tmp, "nowhere"), "No such file"),
                           (os.path.join(self.tmp, "clip.mp4"), "not an executable"),
                           (self.tmp, "not an executable")):
            api = api_util.Api(self.tmp, s, https_opts={"player": bad}, name="custodyd-bad")
            api.daemon.start()
            try:
                rc = api.daemon.p.wait(timeout=60)
            finally:
                api.daemon.stop()
            self.assertNotEqual(rc, 0)
            log = api.daemon.read_log()
            self.assertIn("https: player", log)
            self.assertIn(words, log)


class Shutdown(cutest.TempDirTest):
    def test_sigterm_while_exporting(self):
        """custodyd stops cleanly with exports running: they are cancelled
        (or finish first), every export ends in the audit log before the
        last tree head, and STORE/exports is left empty."""
        clip = cutest.make_clip(os.path.join(self.tmp, "clip.mp4"), seconds=10)
        s = make_world(self.tmp, clip)
        api = api_util.Api(self.tmp, s).start()
        try:
            tok = {u: api.login(u, PW) for u in ("ivan", "ana")}
            ids = []
            for user, b in [("ana", body([("cam1", 0, 9), ("cam2", 0, 9)], "stills")),
                            ("ivan", body([("cam1", 0, 9), ("cam2", 0, 9)], **EVIDENCE_OK))]:
                st, _, raw = api.request("POST", "/api/v1/exports", token=tok[user], body=b)
                self.assertEqual(st, 202, raw)
                ids.append(json.loads(raw)["id"])
        finally:
            rc = api.daemon.term(timeout=120)
        self.assertEqual(rc, 0, api.daemon.read_log()[-2000:])
        self.assertEqual(os.listdir(os.path.join(s.dir, "exports")), [])
        ents = json.loads(run("audit", "export", "--store", s.dir, "--format", "json",
                              check=0).stdout)["entries"]
        ends = {e["detail"]["id"]: e["detail"] for e in ents if e["type"] == "export.end"}
        self.assertEqual(set(ends), set(ids))
        for d in ends.values():
            self.assertIn(d["status"], ("done", "failed"), d)
            if d["status"] == "failed":
                self.assertEqual(d["error"], "cancelled")
        stop = [e["index"] for e in ents if e["type"] == "daemon.stop"][-1]
        self.assertTrue(all(e["index"] < stop for e in ents if e["type"] == "export.end"))
        p = run("audit", "verify", "--store", s.dir, "--json")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(json.loads(p.stdout)["unsigned_entries"], 0)


if __name__ == "__main__":
    cutest.main()
