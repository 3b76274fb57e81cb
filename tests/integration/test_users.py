"""Users, roles and camera groups through the CLI, on the store's files
(the operator-on-the-box path): the whole life of a user, --json listings,
auth.db's form on disk, and bad input refused with exit 2 and a clear message
that names what is wrong, leaving auth.db as it was."""

import hashlib
import json
import os
import sqlite3
import stat
import subprocess

import api_util
import cutest
from cutest import Store, run

GOOD_PW = "Correct-Horse-42"


class Users(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.s = Store(self.tmp, "st", encryption="none")
        self.pwfile = self.secret("user.pw", GOOD_PW)

    def secret(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.chmod(path, mode)
        return path

    def admin(self, args):
        """A change also takes the store password: it goes into the audit log."""
        return ["--store-password-file", self.s.pw] if args[1] != "list" else []

    def ok(self, *args):
        return run(*args[:2], "--store", self.s.dir, *self.admin(args), *args[2:], check=0)

    def bad(self, *args, words=()):
        p = run(*args[:2], "--store", self.s.dir, *self.admin(args), *args[2:])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith("custody "), p.stderr)
        for w in words:
            self.assertIn(w, p.stderr)
        return p

    def users(self):
        return json.loads(self.ok("user", "list", "--json").stdout)["users"]

    def auth_db(self):
        return os.path.join(self.s.dir, "auth.db")

    def db_digest(self):
        """What auth.db holds (rows, not bytes: SQLite may rewrite pages)."""
        c = sqlite3.connect(self.auth_db())
        try:
            rows = []
            # sqlite_sequence only counts ids handed out (never reused)
            for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                  "AND name != 'sqlite_sequence' ORDER BY name"):
                rows.append((t, c.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()))
            return hashlib.sha256(repr(rows).encode()).hexdigest()
        finally:
            c.close()

    def test_user_lifecycle(self):
        self.ok("role", "add", "--name", "viewers")
        self.ok("role", "add", "--name", "operators")
        p = self.ok("user", "add", "--name", "alice", "--role", "viewers", "--role", "operators",
                    "--password-file", self.pwfile)
        self.assertRegex(p.stdout, r"^user\.add: user alice \(id 1\), roles=viewers,operators\n$")
        self.ok("user", "add", "--name", "bob@example.org", "--password-file", self.pwfile)

        users = self.users()
        self.assertEqual([u["name"] for u in users], ["alice", "bob@example.org"])
        alice = users[0]
        self.assertEqual(alice["id"], 1)
        self.assertEqual(alice["roles"], ["operators", "viewers"])
        self.assertFalse(alice["disabled"])
        self.assertIsNone(alice["locked_until"])
        self.assertRegex(alice["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertEqual(alice["password_hash"],
                         {"algorithm": "argon2id", "m_kib": 47104, "t": 1, "p": 1})

        # on disk: mode 0600, a versioned schema, PHC strings, no password
        self.assertEqual(stat.S_IMODE(os.stat(self.auth_db()).st_mode), 0o600)
        c = sqlite3.connect(self.auth_db())
        try:
            meta = dict(c.execute("SELECT key, value FROM meta"))
            self.assertEqual(meta["format"], "custody-auth")
            self.assertEqual(meta["version"], "2")   # 2: export profiles (docs/auth.md)
            hashes = [h for (h,) in c.execute("SELECT hash FROM users ORDER BY id")]
            self.assertEqual(c.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        finally:
            c.close()
        for h in hashes:
            self.assertRegex(h, r"^\$argon2id\$v=19\$m=47104,t=1,p=1\$[A-Za-z0-9+/]{22}\$"
                                r"[A-Za-z0-9+/]{43}$")
        self.assertNotEqual(hashes[0], hashes[1])  # same password, different salts
        with open(self.auth_db(), "rb") as f:
            self.assertNotIn(GOOD_PW.encode(), f.read())

        # text listing
        p = self.ok("user", "list")
        self.assertRegex(p.stdout, r"(?m)^alice\s+1\s+enabled\s+\S+Z\s+operators,viewers$")

        # change the password, disable, enable, log out everywhere, delete
        before = alice["password_changed"]
        new_pw = self.secret("new.pw", "a new passphrase, quite long")
        p = self.ok("user", "passwd", "--name", "alice", "--password-file", new_pw)
        self.assertIn("user.passwd: user alice (id 1), tokens revoked", p.stdout)
        self.assertGreaterEqual(self.users()[0]["password_changed"], before)
        p = self.ok("user", "disable", "--name", "alice")
        self.assertIn("user.disable: user alice (id 1)", p.stdout)
        self.assertTrue(self.users()[0]["disabled"])
        self.assertRegex(self.ok("user", "list").stdout, r"(?m)^alice\s+1\s+disabled")
        self.ok("user", "enable", "--name", "alice")
        self.assertFalse(self.users()[0]["disabled"])
        self.ok("user", "logout", "--name", "alice")
        p = self.ok("user", "unlock", "--name", "alice")
        self.assertIn("was not locked", p.stdout)
        self.ok("user", "delete", "--name", "alice")
        self.assertEqual([u["name"] for u in self.users()], ["bob@example.org"])
        # a new alice is a new user: ids are never reused
        self.ok("user", "add", "--name", "alice", "--password-file", self.pwfile)
        self.assertEqual({u["name"]: u["id"] for u in self.users()}["alice"], 3)

    def test_roles_and_groups(self):
        self.ok("role", "add", "--name", "lobby-watch")
        self.ok("role", "add", "--name", "admins")
        p = self.ok("group", "add", "--name", "lobby", "--camera", "cam2", "--camera", "cam3")
        self.assertEqual(p.stdout.splitlines(), [
            "group.add: group lobby",
            "group.camera_add: group lobby camera cam2",
            "group.camera_add: group lobby camera cam3"])
        # adding to an existing group, a camera already in it is a note
        p = self.ok("group", "add", "--name", "lobby", "--camera", "cam3", "--camera", "cam4")
        self.assertIn("camera cam3 is already in group lobby", p.stdout)
        self.ok("group", "remove", "--name", "lobby", "--camera", "cam4")
        p = self.ok("role", "grant", "--name", "lobby-watch", "--function", "live", "--group",
                    "lobby")
        self.assertEqual(p.stdout, "role.grant: role lobby-watch live on group:lobby\n")
        self.ok("role", "grant", "--name", "lobby-watch", "--function", "playback", "--camera",
                "cam1")
        self.ok("role", "grant", "--name", "admins", "--function", "admin", "--all")
        self.ok("user", "add", "--name", "carol", "--password-file", self.pwfile)
        p = self.ok("role", "assign", "--role", "lobby-watch", "--user", "carol")
        self.assertEqual(p.stdout, "role.assign: role lobby-watch user carol\n")

        roles = json.loads(self.ok("role", "list", "--json").stdout)["roles"]
        self.assertEqual(roles, [
            {"name": "admins", "grants": [{"function": "admin", "scope": "*"}], "users": []},
            {"name": "lobby-watch",
             "grants": [{"function": "playback", "scope": "cam1"},
                        {"function": "live", "scope": "group:lobby"}],
             "users": ["carol"]},
        ])
        groups = json.loads(self.ok("group", "list", "--json").stdout)["groups"]
        self.assertEqual(groups, [{"name": "lobby", "cameras": ["cam2", "cam3"]}])
        text = self.ok("role", "list").stdout
        self.assertIn("lobby-watch\n  grant playback       on cam1\n", text)
        self.assertIn("  user  carol\n", text)
        self.assertEqual(self.ok("group", "list").stdout, "lobby: cam2 cam3\n")

        # revoke, unassign, delete the group (and the grant on it), delete a role
        self.ok("role", "revoke", "--name", "lobby-watch", "--function", "playback", "--camera",
                "cam1")
        self.ok("role", "unassign", "--role", "lobby-watch", "--user", "carol")
        p = self.ok("group", "delete", "--name", "lobby")
        self.assertIn("grants removed=1", p.stdout)
        self.ok("role", "delete", "--name", "admins")
        roles = json.loads(self.ok("role", "list", "--json").stdout)["roles"]
        self.assertEqual(roles, [{"name": "lobby-watch", "grants": [], "users": []}])
        self.assertEqual(self.users()[0]["roles"], [])

    def test_empty_store(self):
        # listing does not create auth.db
        self.assertEqual(self.ok("user", "list").stdout, "no users\n")
        self.assertEqual(json.loads(self.ok("user", "list", "--json").stdout), {"users": []})
        self.assertEqual(json.loads(self.ok("role", "list", "--json").stdout), {"roles": []})
        self.assertEqual(json.loads(self.ok("group", "list", "--json").stdout), {"groups": []})
        self.assertFalse(os.path.exists(self.auth_db()))

    def test_changes_are_audited(self):
        """Every change is an audit entry under a signed head (source cli,
        actor operator, the event and the Unix uid); it needs the store
        password, and without it nothing changes. The store's keys and
        catalogue are not touched: only auth.db and audit.db."""
        def digest():
            out = {}
            for f in ("keyring.json", "site-ca.pem", "server.pem", "catalog.db"):
                with open(os.path.join(self.s.dir, f), "rb") as fh:
                    out[f] = hashlib.sha256(fh.read()).hexdigest()
            return out
        before = digest()
        self.ok("role", "add", "--name", "viewers")
        self.ok("role", "grant", "--name", "viewers", "--function", "playback", "--camera",
                "cam1")
        self.ok("group", "add", "--name", "lobby", "--camera", "cam2", "--camera", "cam3")
        self.ok("user", "add", "--name", "dave", "--role", "viewers", "--password-file",
                self.pwfile)
        self.ok("user", "disable", "--name", "dave")
        self.ok("profile", "add", "--name", "court", "--set", "prevent_reexport=on")
        self.ok("profile", "assign", "--role", "viewers", "--name", "court")
        self.assertEqual(digest(), before)
        self.assertEqual(sorted(f for f in os.listdir(self.s.dir) if not f.endswith(("-wal", "-shm"))),
                         ["audit.db", "auth.db", "cameras", "catalog.db", "keyring.json",
                          "server.pem", "site-ca.pem", "tls"])
        p = run("audit", "export", "--store", self.s.dir, "--format", "json", check=0)
        ents = json.loads(p.stdout)["entries"]
        self.assertEqual([(e["type"], e["actor"], e["source"]) for e in ents],
                         [(t, "operator", "cli") for t in (
                             "role.add", "role.grant", "group.add", "group.camera_add",
                             "group.camera_add", "user.add", "user.disable", "profile.add",
                             "profile.assign")])
        uid = os.getuid()
        d = [e["detail"] for e in ents]
        self.assertTrue(all(x["uid"] == uid for x in d), d)
        self.assertEqual(d[1], {"role": "viewers", "function": "playback", "scope": "cam1",
                                "uid": uid})
        self.assertEqual([x.get("camera") for x in d[3:5]], ["cam2", "cam3"])
        self.assertEqual(d[5], {"user": "dave", "detail": "roles=viewers", "uid": uid})
        self.assertEqual(d[6], {"user": "dave", "detail": "tokens revoked", "uid": uid})
        self.assertEqual(d[7]["profile"], "court")
        self.assertIn("prevent_reexport=on", d[7]["detail"])
        self.assertEqual(d[8], {"profile": "court", "role": "viewers", "uid": uid})
        v = run("audit", "verify", "--store", self.s.dir, "--json", check=0)
        rep = json.loads(v.stdout)
        self.assertEqual((v.returncode, rep["unsigned_entries"]), (0, 0), v.stdout)
        # no store password (no terminal to ask on), or a wrong one: refused, nothing changes
        db = self.db_digest()
        p = run("user", "add", "--store", self.s.dir, "--name", "eve", "--password-file",
                self.pwfile)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("--store-password-file", p.stderr)
        wrong = self.secret("wrong.pw", "not-the-store-password")
        p = run("role", "add", "--store", self.s.dir, "--name", "x", "--store-password-file",
                wrong)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("password", p.stderr)
        self.assertEqual(self.db_digest(), db)
        n = len(json.loads(run("audit", "export", "--store", self.s.dir, "--format", "json",
                               check=0).stdout)["entries"])
        self.assertEqual(n, len(ents))
        # listing needs no password and is not logged
        self.assertEqual(run("user", "list", "--store", self.s.dir).returncode, 0)
        p = run("user", "list", "--store", self.s.dir, "--store-password-file", self.s.pw)
        self.assertEqual(p.returncode, 2)

    def test_bad_input(self):
        self.ok("role", "add", "--name", "viewers")
        self.ok("user", "add", "--name", "alice", "--password-file", self.pwfile)
        digest = self.db_digest()

        short = self.secret("short.pw", "Abc1234")
        self.bad("user", "add", "--name", "bob", "--password-file", short,
                 words=["cannot add the user", "at least 8 characters"])
        common = self.secret("common.pw", "Password123")
        self.bad("user", "add", "--name", "bob", "--password-file", common,
                 words=["most common passwords"])
        same = self.secret("same.pw", "bob.builder")
        self.bad("user", "add", "--name", "bob.builder", "--password-file", same,
                 words=["user name"])
        toolong = self.secret("long.pw", "x" * 100 + "y" * 29)
        self.bad("user", "add", "--name", "bob", "--password-file", toolong,
                 words=["--password-file", "long.pw"])
        self.bad("user", "add", "--name", "bob", "--role", "nope", "--password-file",
                 self.pwfile, words=['no role named "nope"'])
        self.bad("user", "add", "--name", "alice", "--password-file", self.pwfile,
                 words=['user "alice" already exists'])
        self.bad("user", "add", "--name", "Alice", "--password-file", self.pwfile,
                 words=["--name", "lower-case"])
        self.bad("user", "add", "--name", "", "--password-file", self.pwfile,
                 words=["1 to 64 characters"])
        loose = self.secret("loose.pw", GOOD_PW, mode=0o644)
        self.bad("user", "add", "--name", "bob", "--password-file", loose,
                 words=["chmod 600"])
        self.bad("user", "add", "--name", "bob", "--password-file",
                 os.path.join(self.tmp, "missing.pw"), words=["missing.pw"])
        self.bad("user", "passwd", "--name", "nobody", "--password-file", self.pwfile,
                 words=['no user named "nobody"'])
        self.bad("user", "disable", "--name", "nobody", words=['no user named "nobody"'])
        self.bad("user", "delete", "--name", "nobody", words=['no user named "nobody"'])
        # no --password-file and no terminal (a new session has none): refused, not hung
        p = subprocess.run([cutest.CUSTODY, "user", "add", "--store", self.s.dir, "--name",
                            "bob"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           start_new_session=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no terminal to ask on", p.stderr)
        self.bad("user", "disable", words=["--name USER is required"])
        self.bad("user", "list", "--name", "alice", words=["list takes only"])
        self.bad("user", "disable", "--name", "alice", "--role", "viewers",
                 words=["--role is for add only"])
        self.bad("user", "delete", "--name", "alice", "--password-file", self.pwfile,
                 words=["--password-file is for add and passwd only"])
        self.bad("user", "add", "--name", "bob", "--password-file", self.pwfile, "--json",
                 words=["--json is for list only"])
        self.bad("user", "frobnicate", words=['unknown subcommand "frobnicate"'])
        self.bad("user", "add", "--name", "bob", "--bogus", words=['"--bogus"'])

        self.bad("role", "add", "--name", "viewers", words=['role "viewers" already exists'])
        self.bad("role", "add", "--name", "bad name", words=["role name"])
        self.bad("role", "grant", "--name", "viewers", "--function", "fly", "--all",
                 words=['unknown function "fly"', "evidence_lock"])
        self.bad("role", "grant", "--name", "viewers", "--function", "admin", "--camera",
                 "cam1", words=["admin is site-wide"])
        self.bad("role", "grant", "--name", "viewers", "--function", "live", "--group", "nope",
                 words=['no camera group named "nope"'])
        self.bad("role", "grant", "--name", "viewers", "--function", "live", "--camera",
                 "cam1", "--all", words=["exactly one of"])
        self.bad("role", "grant", "--name", "viewers", "--function", "live",
                 words=["exactly one of"])
        self.bad("role", "grant", "--name", "viewers", "--function", "live", "--camera",
                 "../etc", words=["camera name"])
        self.bad("role", "grant", "--name", "nope", "--function", "live", "--all",
                 words=['no role named "nope"'])
        self.bad("role", "revoke", "--name", "viewers", "--function", "live", "--all",
                 words=["has no grant of live on *"])
        self.bad("role", "assign", "--role", "viewers", "--user", "nobody",
                 words=['no user named "nobody"'])
        self.bad("role", "assign", "--name", "viewers", words=["--name does not apply"])
        self.bad("role", "unassign", "--role", "viewers", "--user", "alice",
                 words=['does not have role "viewers"'])
        self.bad("group", "remove", "--name", "nope", "--camera", "cam1",
                 words=['no camera group named "nope"'])
        self.bad("group", "add", "--name", "lobby", "--camera", "bad/camera",
                 words=["--camera", "camera name"])
        self.ok("group", "add", "--name", "lobby")
        self.bad("group", "add", "--name", "lobby", words=["already exists"])
        self.bad("group", "remove", "--name", "lobby", "--camera", "cam9",
                 words=['camera "cam9" is not in group "lobby"'])
        self.ok("group", "delete", "--name", "lobby")
        self.assertEqual(self.db_digest(), digest)

        # not a store at all
        p = run("user", "list", "--store", os.path.join(self.tmp, "nowhere"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("nowhere", p.stderr)
        p = run("user", "list")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--store DIR is required", p.stderr)

    def test_help(self):
        for cmd in ("user", "role", "group"):
            p = run(cmd, "--help", check=0)
            self.assertIn(f"usage: custody {cmd}", p.stdout)
            p = run(cmd)
            self.assertEqual(p.returncode, 2)
            self.assertIn(f"usage: custody {cmd}", p.stderr)
        p = run("--help", check=0)
        for cmd in ("user", "role", "group"):
            self.assertRegex(p.stdout, rf"(?m)^  {cmd}\s")

    def test_unicode_password(self):
        # eight characters of Japanese are eight characters, not 24 bytes
        pw = self.secret("jp.pw", "日本語の密码字列")
        self.ok("user", "add", "--name", "kenji", "--password-file", pw)
        pw7 = self.secret("jp7.pw", "日本語の密码字")
        self.bad("user", "passwd", "--name", "kenji", "--password-file", pw7,
                 words=["at least 8 characters long (7 given)"])
        latin1 = os.path.join(self.tmp, "latin1.pw")
        with open(latin1, "wb") as f:
            f.write("mot de passe très long".encode("latin-1") + b"\n")
        os.chmod(latin1, 0o600)
        self.bad("user", "passwd", "--name", "kenji", "--password-file", latin1,
                 words=["not valid UTF-8"])


class GroupsApi(cutest.TempDirTest):
    """Camera groups through custodyd's HTTPS API (/api/v1/groups): the same
    changes as `custody group`, the same audit entries, and a grant on
    group:NAME that follows the group's cameras."""

    PW = "Groups-Api-Pass-7"

    def setUp(self):
        super().setUp()
        self.s = Store(self.tmp, "st", encryption="none")
        clip = cutest.make_clip(os.path.join(self.tmp, "clip.mp4"), seconds=2)
        for cam in ("lobby", "door"):
            self.s.import_clip(cam, clip, start="2026-01-01T00:00:00Z")
        api_util.add_role(self.s, "admins", [("admin", "*")])
        api_util.add_user(self.s, self.tmp, "chief", self.PW, roles=["admins"])
        api_util.add_role(self.s, "floor-watch", [])
        api_util.add_user(self.s, self.tmp, "eve", self.PW, roles=["floor-watch"])
        self.api = api_util.Api(self.tmp, self.s).start()
        self.tok = self.api.login("chief", self.PW)
        self.eve = self.api.login("eve", self.PW)

    def tearDown(self):
        if hasattr(self, "api"):
            self.api.stop()
        super().tearDown()

    def call(self, method, path, body=None, expect=None, token=None):
        return self.api.json(method, "/api/v1/" + path, token=token or self.tok, body=body,
                             expect=expect)[1]

    def refused(self, method, path, body, status, words, token=None):
        st, j = self.api.json(method, "/api/v1/" + path, token=token or self.tok, body=body)
        self.assertEqual(st, status, j)
        self.assertIn(words, j["error"]["message"] if "error" in j else j["message"])

    def eve_cameras(self):
        return [c["name"] for c in self.call("GET", "cameras", token=self.eve)["cameras"]]

    def test_groups(self):
        self.assertEqual(self.call("GET", "groups", expect=200), {"groups": []})
        made = self.call("POST", "groups", {"name": "ground-floor", "cameras": ["lobby"]},
                         expect=201)
        self.assertEqual(made, {"name": "ground-floor", "cameras": ["lobby"]})
        self.call("POST", "groups", {"name": "empty"}, expect=201)
        self.call("POST", "groups/ground-floor/cameras", {"camera": "door"}, expect=204)
        self.assertEqual(self.call("GET", "groups", expect=200)["groups"], [
            {"name": "empty", "cameras": []},
            {"name": "ground-floor", "cameras": ["door", "lobby"]}])

        # refusals, each naming what was wrong, nothing changed by them
        self.refused("POST", "groups", {"name": "bad/name"}, 400, "group")
        self.refused("POST", "groups", {"name": "x" * 65}, 400, "\"name\"")
        self.refused("POST", "groups", {"name": "g2", "colour": 1}, 400, "unknown field")
        self.refused("POST", "groups", {"name": "g2", "cameras": ["attic"]}, 404,
                     'no camera "attic"')
        self.refused("POST", "groups", {"name": "g2", "cameras": ["door", "door"]}, 400,
                     "named twice")
        self.refused("POST", "groups", {"name": "g2", "cameras": "door"}, 400, "\"cameras\"")
        self.refused("POST", "groups", {"name": "empty"}, 409, "already exists")
        self.refused("POST", "groups/ground-floor/cameras", {"camera": "door"}, 409,
                     "already in group")
        self.refused("POST", "groups/ground-floor/cameras", {"camera": "attic"}, 404,
                     'no camera "attic"')
        self.refused("POST", "groups/ground-floor/cameras", {"camera": "../x"}, 400, "camera")
        self.refused("POST", "groups/nope/cameras", {"camera": "door"}, 404,
                     'no camera group named "nope"')
        self.refused("DELETE", "groups/ground-floor/cameras/attic", None, 404,
                     'camera "attic" is not in group "ground-floor"')
        self.refused("DELETE", "groups/nope", None, 404, 'no camera group named "nope"')
        self.refused("GET", "groups", None, 403, "admin", token=self.eve)
        self.refused("POST", "groups", {"name": "mine"}, 403, "admin", token=self.eve)
        self.refused("DELETE", "groups/empty", None, 403, "admin", token=self.eve)
        self.assertEqual(len(self.call("GET", "groups")["groups"]), 2)

        # a grant on the group follows its cameras
        self.assertEqual(self.eve_cameras(), [])
        self.call("POST", "roles/floor-watch/grants",
                  {"function": "playback", "scope": "group:ground-floor"}, expect=204)
        self.assertEqual(sorted(self.eve_cameras()), ["door", "lobby"])
        self.call("DELETE", "groups/ground-floor/cameras/door", expect=204)
        self.assertEqual(self.eve_cameras(), ["lobby"])
        st, _ = self.api.json("GET", "/api/v1/cameras/door/ranges", token=self.eve)
        self.assertEqual(st, 404)
        self.call("GET", "cameras/lobby/ranges", token=self.eve, expect=200)

        # deleting the group takes the grant on it with it
        self.call("DELETE", "groups/ground-floor", expect=204)
        self.assertEqual(self.eve_cameras(), [])
        role = [r for r in self.call("GET", "roles")["roles"] if r["name"] == "floor-watch"]
        self.assertEqual(role[0]["grants"], [])
        self.assertEqual(self.call("GET", "groups")["groups"], [{"name": "empty", "cameras": []}])

        # every change is in the audit log as the CLI writes it
        self.api.term()
        del self.api
        p = run("audit", "export", "--store", self.s.dir, "--format", "json", check=0)
        ents = [e for e in json.loads(p.stdout)["entries"] if e["type"].startswith("group.")]
        self.assertEqual([e["type"] for e in ents], [
            "group.add", "group.camera_add", "group.add", "group.camera_add",
            "group.camera_remove", "group.delete"])
        self.assertEqual(ents[-1]["detail"], {"group": "ground-floor",
                                               "detail": "grants removed=1"})
        self.assertEqual(ents[1]["actor"], "chief")


if __name__ == "__main__":
    cutest.main()
