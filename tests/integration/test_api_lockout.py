"""Brute force against POST /api/v1/auth/login, and secrets kept out of every
log (issue: HTTPS API). Five failures lock an account name, existing or not,
alike (429 with Retry-After, even for the right password); twenty failures
throttle a source address whatever the names; other users and addresses are
not affected; an admin unlocks through the API; the audit log, custodyd's log
and its event log record it. Then a run with logins, failures, a lockout,
renew, logout, forged tokens and a signed media URL: no password, token,
token signature or URL signature appears in custodyd's log, the event log,
the audit export or any file of the store.

Each test speaks from its own loopback address (127.0.0.x): the server keys
its source throttle on the peer address, so tests do not count against each
other."""

import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

import api_util
import cutest
from cutest import Store

ACCOUNT_FAILURES = 5       # CU_LOCK_ACCOUNT_FAILURES
SOURCE_FAILURES = 20       # CU_THROTTLE_SOURCE_FAILURES
LOCK_SECONDS = 15 * 60     # CU_LOCK_DURATION_US

PASSWORDS = {
    "admin": "Obsidian#Harbor-2846-root",
    "alice": "Quartz-Lantern!7391-alice",
    "bob": "Cobalt~Meadow-5120-bob",
    "carol": "Juniper^Anvil-6604-carol",
    "dave": "Maroon=Glacier-3377-dave",
    "erin": "Saffron+Beacon-1189-erin",
    "frank": "Walnut%Prism-4452-frank",
    "gina": "Velvet&Comet-9023-gina",
}


class Client:
    """HTTPS from one loopback source address."""

    def __init__(self, api, source):
        self.api = api
        self.source = source

    def request(self, method, path, token=None, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.api.port, context=self.api.ctx,
                                           timeout=60, source_address=(self.source, 0))
        try:
            st, h, b = self.api.request(method, path, token=token, body=body, headers=headers,
                                        conn=conn)
        finally:
            conn.close()
        j = None
        if b and h.get("content-type", "").startswith("application/json"):
            j = json.loads(b)
        return st, h, j, b

    def login(self, user, password):
        return self.request("POST", "/api/v1/auth/login",
                            body={"user": user, "password": password})


def audit_export(store, fmt):
    p = subprocess.run([cutest.CUSTODY, "audit", "export", "--store", store.dir, "--format",
                        fmt], capture_output=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError(f"audit export --format {fmt}: {p.returncode}: {p.stderr!r}")
    return p.stdout


def audit_entries(store):
    return json.loads(audit_export(store, "json"))["entries"]


class Lockout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="custody-lockout-")
        cls.store = Store(cls.root, "st", encryption="none")
        api_util.add_role(cls.store, "admins", [("admin", "*")])
        api_util.add_role(cls.store, "viewers", [("playback", "*")])
        for name, pw in PASSWORDS.items():
            api_util.add_user(cls.store, cls.root, name, pw,
                              roles=("admins",) if name == "admin" else ("viewers",))
        cls.api = api_util.Api(cls.root, cls.store)
        try:
            cls.api.start()
        except BaseException:
            cls.api.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def client(self, n):
        return Client(self.api, f"127.0.0.{n}")

    def fail_until_locked(self, c, user, code="locked"):
        """Wrong passwords until 429; returns [(status, code, body)] of each."""
        seen = []
        for i in range(ACCOUNT_FAILURES + 1):
            st, h, j, b = c.login(user, f"Wrong-{user}-{i}!x")
            seen.append((st, j["error"]["code"] if j else None, b, h))
            if st == 429:
                break
        statuses = [s[0] for s in seen]
        # the first four are plain failures; the fifth locks (answered 401 or
        # already 429), the sixth at the latest is refused
        self.assertEqual(statuses[:ACCOUNT_FAILURES - 1], [401] * (ACCOUNT_FAILURES - 1),
                         statuses)
        self.assertEqual(statuses[-1], 429, statuses)
        self.assertIn(len(statuses), (ACCOUNT_FAILURES, ACCOUNT_FAILURES + 1), statuses)
        for st, cd, b, h in seen[:-1]:
            self.assertEqual(cd, "bad_credentials", b)
        self.assertEqual(seen[-1][1], code, seen[-1][2])
        self.retry_after(seen[-1][3])
        return seen

    def retry_after(self, h):
        self.assertIn("retry-after", h)
        self.assertRegex(h["retry-after"], r"^\d+$")
        secs = int(h["retry-after"])
        self.assertGreaterEqual(secs, 1)
        self.assertLessEqual(secs, LOCK_SECONDS + 2)
        return secs

    @staticmethod
    def shape(seen):
        """What a client sees, with the seconds left out."""
        return [(st, cd, re.sub(rb"\d+", b"N", b),
                 sorted(k for k in h if k not in ("date",)), "retry-after" in h)
                for st, cd, b, h in seen]

    def test_account_lockout(self):
        c = self.client(11)
        seen = self.fail_until_locked(c, "alice")
        # locked: the right password is refused too, from anywhere
        st, h, j, b = c.login("alice", PASSWORDS["alice"])
        self.assertEqual(st, 429, b)
        self.assertEqual(j["error"]["code"], "locked")
        self.retry_after(h)
        self.assertNotIn("token", j)
        st, h, j, b = self.client(21).login("alice", PASSWORDS["alice"])
        self.assertEqual(st, 429, b)
        # another user from the same address logs in
        st, h, j, b = c.login("bob", PASSWORDS["bob"])
        self.assertEqual(st, 200, b)
        self.assertTrue(j["token"])
        self.assertEqual(j["user"], "bob")

        # a name that does not exist behaves the same, step by step
        ghost = self.fail_until_locked(self.client(12), "nobody.here")
        self.assertEqual(self.shape(ghost), self.shape(seen))
        st, h, j, b = self.client(12).login("nobody.here", PASSWORDS["alice"])
        st2, h2, j2, b2 = self.client(22).login("alice", PASSWORDS["alice"])
        self.assertEqual((st, j["error"]["code"]), (st2, j2["error"]["code"]))
        self.assertEqual(re.sub(rb"\d+", b"N", b), re.sub(rb"\d+", b"N", b2))

    def test_source_throttle(self):
        c = self.client(13)
        # spread over ten names (two of them real users), none reaching the
        # account limit
        names = ["erin", "carol"] + [f"probe{i}" for i in range(8)]
        statuses = []
        for i in range(SOURCE_FAILURES):
            name = names[i % len(names)]
            st, h, j, b = c.login(name, f"Not-The-Password-{i}!")
            statuses.append(st)
            if st == 429:
                break
        self.assertEqual(statuses[:SOURCE_FAILURES - 1], [401] * (SOURCE_FAILURES - 1),
                         statuses)
        # the 20th failure throttles (answered 401 or already 429); the next
        # attempt from this address is refused even with the right password
        st, h, j, b = c.login("carol", PASSWORDS["carol"])
        self.assertEqual(st, 429, b)
        self.assertEqual(j["error"]["code"], "throttled", b)
        self.retry_after(h)
        self.assertNotIn("token", j)
        st, h, j, b = c.login("admin", PASSWORDS["admin"])
        self.assertEqual(st, 429, b)
        # the accounts themselves are not locked: from elsewhere they log in
        for user in ("carol", "erin"):
            st, h, j, b = self.client(23).login(user, PASSWORDS[user])
            self.assertEqual(st, 200, f"{user}: {b!r}")

    def test_unlock_by_admin(self):
        c = self.client(14)
        self.fail_until_locked(c, "dave")
        st, h, j, b = c.login("dave", PASSWORDS["dave"])
        self.assertEqual(st, 429, b)
        adm = self.client(24)
        st, h, j, b = adm.login("admin", PASSWORDS["admin"])
        self.assertEqual(st, 200, b)
        tok = j["token"]
        st, h, j, b = adm.request("GET", "/api/v1/users", token=tok)
        self.assertEqual(st, 200, b)
        dave = [u for u in j["users"] if u["name"] == "dave"][0]
        self.assertIsNotNone(dave["locked_until"], dave)
        # a user who is not an admin may not unlock
        st, h, j, b = adm.login("bob", PASSWORDS["bob"])
        self.assertEqual(st, 200, b)
        st, h, j, b = adm.request("POST", "/api/v1/users/dave/unlock", token=j["token"])
        self.assertEqual(st, 403, b)
        st, h, j, b = c.login("dave", PASSWORDS["dave"])
        self.assertEqual(st, 429, b)
        # the admin does
        st, h, j, b = adm.request("POST", "/api/v1/users/dave/unlock", token=tok)
        self.assertEqual(st, 204, b)
        st, h, j, b = adm.request("GET", "/api/v1/users", token=tok)
        dave = [u for u in j["users"] if u["name"] == "dave"][0]
        self.assertIsNone(dave["locked_until"], dave)
        st, h, j, b = c.login("dave", PASSWORDS["dave"])
        self.assertEqual(st, 200, b)
        self.assertEqual(j["user"], "dave")
        # and the count started afresh: one failure does not lock again
        st, h, j, b = c.login("dave", "Wrong-again-1!")
        self.assertEqual(st, 401, b)
        st, h, j, b = c.login("dave", PASSWORDS["dave"])
        self.assertEqual(st, 200, b)
        unlocks = [e for e in audit_entries(self.store) if e["type"] == "user.unlock"]
        self.assertTrue(any(e["actor"] == "admin" and e["detail"].get("user") == "dave"
                            for e in unlocks), unlocks)

    def test_audit_and_log(self):
        acct, src = self.client(15), self.client(16)
        seen = self.fail_until_locked(acct, "frank")
        n_failed = [s[0] for s in seen].count(401)  # failures answered as such
        acct.login("frank", PASSWORDS["frank"])  # refused: locked
        n_spray = 0
        for i in range(SOURCE_FAILURES):
            st, h, j, b = src.login(f"spray{i % 7}", f"Spray-Guess-{i}!")
            if st == 429:
                break
            n_spray += 1
        st, h, j, b = src.login("gina", PASSWORDS["gina"])
        self.assertEqual(st, 429, b)

        entries = audit_entries(self.store)
        failed = [e for e in entries if e["type"] == "auth.login_failed"
                  and e["source"] == acct.source]
        self.assertEqual(len(failed), n_failed, failed)
        self.assertGreaterEqual(n_failed, ACCOUNT_FAILURES - 1)
        for e in failed:
            self.assertEqual(e["detail"]["user"], "frank")
        locks = [e for e in entries if e["type"] == "auth.lockout"]
        self.assertTrue(any(e["detail"].get("kind") == "account" and
                            e["detail"].get("user") == "frank" and e["source"] == acct.source
                            for e in locks), locks)
        self.assertTrue(any(e["detail"].get("kind") == "source" and
                            e["detail"].get("source") == src.source for e in locks), locks)
        refused = [e for e in entries if e["type"] == "auth.login_refused"]
        self.assertTrue(any(e["source"] == acct.source and e["detail"].get("user") == "frank"
                            and "lock" in e["detail"].get("reason", "") for e in refused),
                        refused)
        self.assertTrue(any(e["source"] == src.source and e["detail"].get("user") == "gina"
                            and "throttl" in e["detail"].get("reason", "") for e in refused),
                        refused)
        spray = [e for e in entries if e["type"] == "auth.login_failed"
                 and e["source"] == src.source]
        self.assertEqual(len(spray), n_spray)
        self.assertGreaterEqual(n_spray, SOURCE_FAILURES - 1)
        # the log
        log = self.api.daemon.read_log()
        self.assertRegex(log, r"lockout.*account.*frank")
        self.assertRegex(log, r"lockout.*source.*127\.0\.0\.16")
        self.assertRegex(log, r"refused.*gina.*127\.0\.0\.16.*throttl")

    def test_lockout_in_event_log(self):
        # the operator's event log (what monitoring reads) says an account
        # was locked, naming it
        self.fail_until_locked(self.client(17), "gina")
        events = self.api.daemon.events_list()
        hits = [e for e in events
                if ("lock" in e["event"] or "lock" in e.get("detail", "")) and
                "gina" in json.dumps(e)]
        self.assertTrue(hits, "no lockout in the event log: " + json.dumps(events, indent=1))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def forms(secret):
    """The ways a secret could be written down: raw, JSON-escaped, URL-encoded."""
    out = {secret, json.dumps(secret)[1:-1], urllib.parse.quote(secret, safe=""),
           urllib.parse.quote_plus(secret)}
    return {f.encode("utf-8") for f in out if len(f) >= 8}


class Secrecy(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.api = None

    def tearDown(self):
        if self.api is not None:
            self.api.stop()
        super().tearDown()

    def test_no_secret_anywhere(self):
        store = Store(self.tmp, "st", encryption="none")
        # media URLs are signed only for cameras that exist: record 2 s on cam1
        store.import_clip("cam1", cutest.make_clip(os.path.join(self.tmp, "c.mp4"), seconds=2),
                          start="2026-01-01T00:00:00Z")
        api_util.add_role(store, "admins", [("admin", "*")])
        api_util.add_role(store, "viewers", [("playback", "cam1"), ("live", "cam1")])
        pw = {"admin": "Obsidian#Harbor-2846-root", "alice": "Quartz-Lantern!7391-alice"}
        api_util.add_user(store, self.tmp, "admin", pw["admin"], roles=("admins",))
        api_util.add_user(store, self.tmp, "alice", pw["alice"], roles=("viewers",))
        passwords = set(pw.values())
        tokens = set()
        url_sigs = set()
        self.api = api = api_util.Api(self.tmp, store).start()
        c = Client(api, "127.0.0.1")

        def login(user, password, expect):
            passwords.add(password)
            st, h, j, b = c.login(user, password)
            self.assertIn(st, expect if isinstance(expect, tuple) else (expect,), b)
            if st == 200:
                tokens.add(j["token"])
                return j["token"]
            self.assertNotIn(b"token\"", b)
            return None

        t1 = login("alice", pw["alice"], 200)
        ta = login("admin", pw["admin"], 200)
        login("alice", "Wr0ng!Saffron-Guess-01", 401)
        login("alice", "Ünïcødé-Wrong-Pässwörd-44", 401)
        # a password typed into the user field
        login("Typed Into User Field-Secret 9!", "Wr0ng!Saffron-Guess-02", 401)
        # a lockout of a name that does not exist
        for i in range(ACCOUNT_FAILURES):
            login("mallory", f"Mallory#Brute!Force-{i:02d}-zz", 401 if i < 4 else (401, 429))
        login("mallory", "Mallory#Brute!Force-99-zz", 429)

        st, h, j, b = c.request("GET", "/api/v1/me", token=t1)
        self.assertEqual(st, 200, b)
        # renew: a new token, the old one refused from now on
        st, h, j, b = c.request("POST", "/api/v1/auth/renew", token=t1)
        self.assertEqual(st, 200, b)
        t2 = j["token"]
        tokens.add(t2)
        self.assertNotEqual(t1, t2)
        st, h, j, b = c.request("GET", "/api/v1/me", token=t1)
        self.assertEqual(st, 401, b)

        # forged tokens: signature flipped, payload changed under the old
        # signature, a foreign signature, garbage
        payload, sig = t2.split(".")
        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        claims = json.loads(unb64url(payload))
        claims["name"] = "admin"
        claims["sub"] = 1
        forged = [payload + "." + flipped,
                  b64url(json.dumps(claims, separators=(",", ":")).encode()) + "." + sig,
                  payload + "." + b64url(os.urandom(64)),
                  "Zm9yZ2VkLXRva2VuLWdhcmJhZ2UtOTk4ODc3." + b64url(os.urandom(64))]
        for f in forged:
            tokens.add(f)
            st, h, j, b = c.request("GET", "/api/v1/me", token=f)
            self.assertEqual(st, 401, b)
        # a token where it does not belong: in the query string
        st, h, j, b = c.request("GET", "/api/v1/me?access_token=" + t2)
        self.assertEqual(st, 401, b)

        # a signed media URL, used, and used with its signature altered
        path = "/api/v1/cameras/cam1/playback/1767225600000000/1767225660000000"
        st, h, j, b = c.request("POST", "/api/v1/media-urls", token=t2, body={"path": path})
        self.assertEqual(st, 200, b)
        url = j["url"]
        self.assertTrue(url.startswith(path + "?"), url)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        url_sig = q["sig"][0]
        url_sigs.add(url_sig)
        st, h, j, b = c.request("GET", url)
        self.assertEqual(st, 200, b)
        bad_sig = url_sig[:5] + ("A" if url_sig[5] != "A" else "B") + url_sig[6:]
        url_sigs.add(bad_sig)
        st, h, j, b = c.request("GET", url.replace(url_sig, bad_sig))
        self.assertEqual(st, 401, b)
        # another user's signed URL for a path of this user
        st, h, j, b = c.request("POST", "/api/v1/media-urls", token=ta,
                                body={"path": path.replace("playback/1767225600000000",
                                                           "playback/1767225600000001")})
        self.assertEqual(st, 200, b)
        url_sigs.add(urllib.parse.parse_qs(urllib.parse.urlsplit(j["url"]).query)["sig"][0])

        # logout; the token is refused afterwards
        st, h, j, b = c.request("POST", "/api/v1/auth/logout", token=t2)
        self.assertEqual(st, 204, b)
        st, h, j, b = c.request("GET", "/api/v1/me", token=t2)
        self.assertEqual(st, 401, b)

        # passwords over the API: a user added by the admin, alice's own change
        st, h, j, b = c.request("POST", "/api/v1/users", token=ta,
                                body={"name": "zed", "password": "Tangerine@Fjord-7788-zed",
                                      "roles": ["viewers"]})
        self.assertEqual(st, 201, b)
        passwords.add("Tangerine@Fjord-7788-zed")
        login("zed", "Tangerine@Fjord-7788-zed", 200)
        t3 = login("alice", pw["alice"], 200)
        new_pw = "Indigo$Quarry-5566-alice2"
        passwords.add(new_pw)
        st, h, j, b = c.request("POST", "/api/v1/users/alice/password", token=t3,
                                body={"password": new_pw, "current_password": pw["alice"]})
        self.assertEqual(st, 204, b)
        login("alice", new_pw, 200)
        # the change revoked the tokens alice had
        st, h, j, b = c.request("GET", "/api/v1/me", token=t3)
        self.assertEqual(st, 401, b)

        st, h, j, b = c.request("POST", "/api/v1/auth/logout", token=ta)
        self.assertEqual(st, 204, b)

        self.assertEqual(api.term(), 0)
        self.api = None

        # --- where secrets could have gone ---
        places = {
            "custodyd log": open(api.daemon.log, "rb").read(),
            "event log": open(api.daemon.events, "rb").read(),
            "audit export json": audit_export(store, "json"),
            "audit export csv": audit_export(store, "csv"),
        }
        store_files = {}
        for dirpath, dirs, files in os.walk(store.dir):
            for name in files:
                p = os.path.join(dirpath, name)
                with open(p, "rb") as f:
                    store_files[os.path.relpath(p, store.dir)] = f.read()
        self.assertIn("audit.db", store_files)

        # the run did reach the logs: they are worth searching
        types = {e["type"] for e in json.loads(places["audit export json"])["entries"]}
        for t in ("auth.login", "auth.login_failed", "auth.lockout", "auth.login_refused",
                  "auth.token_refused", "auth.logout", "user.add", "user.passwd"):
            self.assertIn(t, types)

        secrets = {}
        for s in passwords:
            for f in forms(s):
                secrets[f] = "password " + s
        for t in tokens:
            secrets[t.encode()] = "token " + t[:12] + "..."
            secrets[t.split(".")[1].encode()] = "token signature of " + t[:12] + "..."
        for s in url_sigs:
            secrets[s.encode()] = "signed-URL signature " + s[:12] + "..."
        self.assertGreaterEqual(len(tokens), 9)

        leaks = []
        for where, data in places.items():
            for sec, what in secrets.items():
                if sec in data:
                    leaks.append(f"{what} in the {where}")
            if b"sig=" in data:
                leaks.append(f"a signed-URL query in the {where}")
        for rel, data in store_files.items():
            for sec, what in secrets.items():
                if rel.startswith("auth.db") and what.startswith("password"):
                    continue  # checked below, with its own message
                if sec in data:
                    leaks.append(f"{what} in the store file {rel}")
        # auth.db (and its WAL) hold hashes, never a password
        for rel, data in store_files.items():
            if rel.startswith("auth.db"):
                for s in passwords:
                    if s.encode() in data:
                        leaks.append(f"password {s} in plain in {rel}")
        self.assertEqual(leaks, [])


if __name__ == "__main__":
    cutest.main()
