"""Authorization of custodyd's HTTPS API: every endpoint of daemon/api.c's
routes[] (and the live WebSocket upgrade) called by every kind of caller,
each answer checked against the table in authz_table.py, which is written
from the rules (docs/auth.md, docs/api.md "Who may do what"), not recorded
from the server.

The callers ("principals", columns of the table):

  - users of this store holding roles with and without each function on
    each camera (admin, view-a, bkmk-a, lock-a, auditor, exp-b, nobody);
  - no token at all (anon) and a token that is not one (junk);
  - forged: a real admin token with one character of its Ed25519 signature
    changed; claims: viewer-a's real token whose payload was edited to name
    the admin (its signature no longer matches);
  - foreign: a real token of a user "admin", issued by custodyd on another
    store. The other server's certificate chains to another site CA and is
    not in this store's issuers, so the token is signed correctly by a key
    this server does not trust;
  - revoked: a real token of an admin user after POST auth/logout;
  - disabled: a real token of an admin user who was then disabled with the
    CLI (custody user disable) while the server ran;
  - expired: a real token of an admin user, issued by this server, used
    after its expiry. Tokens last 10 minutes plus 30 s of allowed skew, and
    nothing can issue one with another lifetime from outside the library
    (the CLI has no token command; only cu_auth_token_issue takes a
    lifetime, and only cu_auth_set_clock moves the clock, both C calls with
    no hook in custodyd). Python cannot sign one either: the key is in the
    store's keyring. So the test restarts the same custodyd on the same
    store with its clock 15 minutes ahead (libfaketime, the Debian package
    "faketime", through LD_PRELOAD) and presents the token it issued
    before. The server then refuses it because it is expired (the refusal's
    message is checked to say so), which is exactly the case. Without
    libfaketime the expired column is skipped, and says so.

Each principal's 401 is checked once to be refused for the right reason
(the message names it), so that e.g. the "expired" column cannot pass
because the token was refused for something else.

Beyond the table: a user without any grant on a camera must not be able to
tell it from a camera that does not exist (listings leave it out, and every
path naming it, directly or through a bookmark or lock on it, answers the
same code and message as for cam-z, which does not exist); listings show
exactly what the grants allow; signed URLs work only for their own path and
method, only while the user is enabled, and only with the permission the
user has when the URL is used.

The test starts custodyd itself (two stores, one server each) and stops
every process by its PID.
"""

import base64
import glob
import json
import os
import re
import sqlite3
import socket
import sys
import time
import unittest

import authz_table
import cutest
from api_util import Api, add_role, add_user, cli
from cutest import Store

CAM_A, CAM_B, CAM_Z = "cam-a", "cam-b", "cam-z"
START = {CAM_A: "2026-01-01T00:00:00Z", CAM_B: "2026-01-01T01:00:00Z"}
# a playback range and a still moment inside each clip (cam-z: cam-a's times)
RANGE = {CAM_A: "2026-01-01T00:00:01Z/2026-01-01T00:00:05Z",
         CAM_B: "2026-01-01T01:00:01Z/2026-01-01T01:00:05Z"}
AT = {CAM_A: "2026-01-01T00:00:02Z", CAM_B: "2026-01-01T01:00:02Z"}
RANGE[CAM_Z], AT[CAM_Z] = RANGE[CAM_A], AT[CAM_A]
MISSING_ID = 999999

ROLES = {
    "admins": [("admin", "*")],
    "viewers-a": [("live", CAM_A), ("playback", CAM_A)],
    "bookmarkers-a": [("bookmark", CAM_A)],
    "lockers-a": [("evidence_lock", CAM_A)],
    "auditors": [("audit_read", "*")],
    "exporters-b": [("export", CAM_B)],
}
# principal -> (user name, roles)
ACCOUNTS = {
    "admin": ("admin", ["admins"]),
    "view-a": ("viewer-a", ["viewers-a"]),
    "bkmk-a": ("bookmarker-a", ["bookmarkers-a"]),
    "lock-a": ("locker-a", ["lockers-a"]),
    "auditor": ("auditor", ["auditors"]),
    "exp-b": ("exporter-b", ["exporters-b"]),
    "nobody": ("nobody", []),
    "expired": ("old-admin", ["admins"]),
    "revoked": ("gone-admin", ["admins"]),
    "disabled": ("off-admin", ["admins"]),
}
# more users: a scratch target of the user endpoints, and two viewers whose
# signed URLs outlive their rights
EXTRA_USERS = {"target": [], "viewer-2": ["viewers-a"], "viewer-3": ["viewers-a"]}

# why each bad credential must be refused (GET me's 401 message names one of these)
REFUSAL = {
    "anon": "needs an access token",
    "junk": ("malformed token", "expected two parts"),
    "forged": "bad signature",
    "claims": "bad signature",
    "foreign": "unknown issuer",
    "expired": "token expired",
    "revoked": "token revoked",
    "disabled": "is disabled",
}

# which route of daemon/api.c each table row calls ("WS": the live upgrade)
ROUTE_OF = {
    "login": ("POST", "auth/login"), "renew": ("POST", "auth/renew"),
    "logout": ("POST", "auth/logout"), "me": ("GET", "me"), "server": ("GET", "server"),
    "cameras": ("GET", "cameras"),
    "cam-a": ("GET", "cameras/*"), "cam-b": ("GET", "cameras/*"), "cam-z": ("GET", "cameras/*"),
    "ranges-a": ("GET", "cameras/*/ranges"), "ranges-b": ("GET", "cameras/*/ranges"),
    "ranges-z": ("GET", "cameras/*/ranges"),
    "verify-a": ("GET", "cameras/*/verify"), "verify-b": ("GET", "cameras/*/verify"),
    "verify-z": ("GET", "cameras/*/verify"),
    "bookmarks-a": ("GET", "cameras/*/bookmarks"), "bookmarks-b": ("GET", "cameras/*/bookmarks"),
    "bookmarks-z": ("GET", "cameras/*/bookmarks"),
    "bookmark-new-a": ("POST", "cameras/*/bookmarks"),
    "bookmark-new-b": ("POST", "cameras/*/bookmarks"),
    "bookmark-new-z": ("POST", "cameras/*/bookmarks"),
    "playback-a": ("GET", "cameras/*/playback/*/*"),
    "playback-b": ("GET", "cameras/*/playback/*/*"),
    "playback-z": ("GET", "cameras/*/playback/*/*"),
    "signed-playback-a": ("GET", "cameras/*/playback/*/*"),
    "still-a": ("GET", "cameras/*/still/*"), "still-b": ("GET", "cameras/*/still/*"),
    "still-z": ("GET", "cameras/*/still/*"), "signed-still-a": ("GET", "cameras/*/still/*"),
    "bookmark-a": ("GET", "bookmarks/*"), "bookmark-b": ("GET", "bookmarks/*"),
    "bookmark-none": ("GET", "bookmarks/*"),
    "bookmark-del-a": ("DELETE", "bookmarks/*"), "bookmark-del-b": ("DELETE", "bookmarks/*"),
    "bookmark-del-none": ("DELETE", "bookmarks/*"),
    "bmk-patch-a": ("PATCH", "bookmarks/*"), "bmk-patch-b": ("PATCH", "bookmarks/*"),
    "bmk-patch-none": ("PATCH", "bookmarks/*"),
    "locks": ("GET", "evidence-locks"),
    "lock-new-a": ("POST", "evidence-locks"), "lock-new-b": ("POST", "evidence-locks"),
    "lock-new-ab": ("POST", "evidence-locks"), "lock-new-z": ("POST", "evidence-locks"),
    "lock-a": ("GET", "evidence-locks/*"), "lock-b": ("GET", "evidence-locks/*"),
    "lock-ab": ("GET", "evidence-locks/*"), "lock-none": ("GET", "evidence-locks/*"),
    "lock-patch-a": ("PATCH", "evidence-locks/*"), "lock-patch-a+b": ("PATCH", "evidence-locks/*"),
    "lock-patch-b": ("PATCH", "evidence-locks/*"),
    "lock-patch-none": ("PATCH", "evidence-locks/*"),
    "lock-del-a": ("DELETE", "evidence-locks/*"), "lock-del-b": ("DELETE", "evidence-locks/*"),
    "url-playback-a": ("POST", "media-urls"), "url-still-b": ("POST", "media-urls"),
    "url-live-a": ("POST", "media-urls"), "url-live-z": ("POST", "media-urls"),
    "url-not-media": ("POST", "media-urls"),
    "live-a": ("WS", "cameras/*/live"), "live-b": ("WS", "cameras/*/live"),
    "live-z": ("WS", "cameras/*/live"),
    "users": ("GET", "users"), "user-new": ("POST", "users"),
    "user-delete": ("DELETE", "users/*"),
    "pw-other": ("POST", "users/*/*"), "user-disable": ("POST", "users/*/*"),
    "user-enable": ("POST", "users/*/*"), "user-unlock": ("POST", "users/*/*"),
    "user-revoke": ("POST", "users/*/*"), "pw-self": ("POST", "users/*/*"),
    "pw-self-bare": ("POST", "users/*/*"),
    "roles": ("GET", "roles"), "role-new": ("POST", "roles"), "role-delete": ("DELETE", "roles/*"),
    "grant-add": ("POST", "roles/*/*"), "grant-remove": ("DELETE", "roles/*/*"),
    "role-assign": ("POST", "roles/*/*"), "role-unassign": ("DELETE", "roles/*/*/*"),
    "groups": ("GET", "groups"), "group-new": ("POST", "groups"),
    "group-delete": ("DELETE", "groups/*"), "group-cam-add": ("POST", "groups/*/*"),
    "group-cam-remove": ("DELETE", "groups/*/*/*"),
    "audit": ("GET", "audit"), "audit-csv": ("GET", "audit"),
    "audit-verify": ("GET", "audit/verify"),
    "export-new-a": ("POST", "exports"), "export-new-b": ("POST", "exports"),
    "export-new-z": ("POST", "exports"), "exports": ("GET", "exports"),
    "export-b": ("GET", "exports/*"), "export-none": ("GET", "exports/*"),
    "export-file-b": ("GET", "exports/*/file"), "export-del-b": ("DELETE", "exports/*"),
    "export-profiles": ("GET", "export-profiles"),
    "events": ("GET", "events"), "events-stream": ("GET", "events/stream"),
    "event-ack-a": ("POST", "events/*/ack"), "event-ack-b": ("POST", "events/*/ack"),
    "event-ack-site": ("POST", "events/*/ack"), "event-ack-none": ("POST", "events/*/ack"),
}

ERROR_CODE = {401: ("unauthenticated", "bad_credentials"), 403: ("forbidden",),
              404: ("not_found",)}


def api_routes():
    """(method, pattern) of every entry of routes[] in daemon/api.c."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "daemon", "api.c")
    with open(src) as f:
        text = f.read()
    table = text[text.index("routes[] = {"):]
    table = table[:table.index("};")]
    return set(re.findall(r'\{CD_(GET|POST|PUT|PATCH|DELETE), "([^"]+)"', table))


def faketime_lib():
    for pattern in ("/usr/lib/*/faketime/libfaketimeMT.so.1",
                    "/usr/lib/faketime/libfaketimeMT.so.1",
                    "/usr/lib64/faketime/libfaketimeMT.so.1"):
        hits = glob.glob(pattern)
        if hits:
            return hits[0]
    return None


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_of(user, n=0):
    return f"Pw-{user}-{n}-long-enough"


def error_of(body):
    try:
        e = json.loads(body)["error"]
        return e.get("code"), e.get("message", "")
    except (ValueError, KeyError, TypeError):
        return None, body[:120].decode("utf-8", "replace")


class Call:
    """One request: HTTP, or the live WebSocket upgrade (method "WS")."""

    def __init__(self, method, path, token=None, body=None, fixture=None, after=None):
        self.method, self.path, self.token, self.body = method, path, token, body
        self.fixture = fixture        # consumed when the call succeeds
        self.after = after            # called with the status


class World:
    """The stores, the server and every principal's credentials."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.api = None
        self.tokens = {}
        self.passwords = {}
        self.ids = {}
        self.fixtures = {}
        self.serial = 0

    # ---- requests ----

    def request(self, call):
        """(status, body bytes); status None when a WebSocket upgrade got no answer."""
        if call.method == "WS":
            return ws_upgrade(self.api, call.path, call.token)
        if call.method == "SSE":   # a stream that does not end: the status, then close
            conn = self.api.conn()
            try:
                conn.request("GET", call.path, headers={"Authorization": "Bearer " + call.token}
                             if call.token is not None else {})
                r = conn.getresponse()
                return r.status, (b"" if r.status == 200 else r.read())
            finally:
                conn.close()
        st, _, body = self.api.request(call.method, call.path, token=call.token, body=call.body)
        return st, body

    def admin_json(self, method, path, body=None, expect=None):
        st, j = self.api.json(method, "/api/v1/" + path, token=self.tokens["admin"], body=body,
                              expect=expect)
        return j

    def unique(self, prefix):
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def login(self, user, password):
        return self.api.login(user, password)

    def relogin(self, principal):
        user = ACCOUNTS[principal][0]
        self.tokens[principal] = self.login(user, self.passwords[user])

    # ---- fixtures: made by the admin through the API, lazily ----

    def fx(self, kind):
        if kind not in self.fixtures:
            self.fixtures[kind] = self.make(kind)
        return self.fixtures[kind]

    def consume(self, kind):
        self.fixtures.pop(kind, None)

    def bookmark(self, cam):
        return self.admin_json("POST", f"cameras/{cam}/bookmarks",
                               {"at": AT[cam], "title": self.unique("fixture")}, expect=201)["id"]

    def lock(self, cams):
        return self.admin_json("POST", "evidence-locks", {
            "headline": self.unique("fixture"), "cameras": cams,
            "from": START[cams[0]], "to": AT[cams[0]]}, expect=201)["id"]

    def event(self, camera):
        """A fresh event of camera ("" none), written into STORE/events.db as
        custodyd writes it (docs/formats/events-db.md)."""
        eid = "evt_" + os.urandom(16).hex()
        db = sqlite3.connect(os.path.join(self.api.store.dir, "events.db"), timeout=10)
        try:
            db.execute("INSERT INTO events(id, t_us, type, camera, source, phase, severity, "
                       "detail) VALUES(?, ?, 'test.fixture', ?, 'custodyd', 'raise', 2, "
                       "'authz fixture')", (eid, int(time.time() * 1e6), camera))
            db.commit()
        finally:
            db.close()
        return eid

    def role(self, grants=(), users=()):
        name = self.unique("scratch-role")
        self.admin_json("POST", "roles", {"name": name}, expect=201)
        for fn, scope in grants:
            self.admin_json("POST", f"roles/{name}/grants", {"function": fn, "scope": scope},
                            expect=204)
        for u in users:
            self.admin_json("POST", f"roles/{name}/users", {"user": u}, expect=204)
        return name

    def export_body(self, cam):
        """An export the built-in profile allows (users here have no other)."""
        return {"format": "evidence", "cameras": [{"camera": cam, "from": START[CAM_A if
                cam == CAM_Z else cam], "to": AT[CAM_A if cam == CAM_Z else cam]}],
                "comments": "authz table", "password": "authz-export-password"}

    def wait_exports(self, token):
        """Waits until none of the caller's exports runs: at most two may."""
        for _ in range(600):
            st, j = self.api.json("GET", "/api/v1/exports", token=token, expect=200)
            if all(x["status"] != "running" for x in j["exports"]):
                return j["exports"]
            time.sleep(0.1)
        raise AssertionError("exports still running after 60 s")

    def export_of(self, p, cam):
        tok = self.tokens[p]
        st, j = self.api.json("POST", "/api/v1/exports", token=tok, body=self.export_body(cam),
                              expect=202)
        done = {x["id"]: x for x in self.wait_exports(tok)}
        assert done[j["id"]]["status"] == "done", done[j["id"]]
        return j["id"]

    def make(self, kind):
        if kind in ("export-b", "export-del-b"):
            return self.export_of("exp-b", CAM_B)
        if kind.startswith("bm-"):       # bm-a, bm-b, bm-del-a, bm-del-b
            return self.bookmark(CAM_A if kind.endswith("a") else CAM_B)
        if kind in ("lock-a", "lock-patch-ab", "lock-del-a"):
            return self.lock([CAM_A])
        if kind in ("lock-b", "lock-del-b"):
            return self.lock([CAM_B])
        if kind == "lock-ab":
            return self.lock([CAM_A, CAM_B])
        if kind.startswith("ev-"):       # ev-a, ev-b, ev-site: a stored event to acknowledge
            return self.event({"ev-a": CAM_A, "ev-b": CAM_B, "ev-site": ""}[kind])
        if kind == "user-del":
            name = self.unique("scratch-user")
            self.admin_json("POST", "users", {"name": name, "password": password_of(name)},
                            expect=201)
            return name
        if kind in ("role-del", "role-grant-add", "role-assign"):
            return self.role()
        if kind == "role-grant-remove":
            return self.role(grants=[("playback", CAM_A)])
        if kind == "role-unassign":
            return self.role(users=["target"])
        if kind in ("group-del", "group-cam-add", "group-cam-remove"):
            name = self.unique("scratch-group")
            cams = [CAM_A] if kind == "group-cam-remove" else []
            self.admin_json("POST", "groups", {"name": name, "cameras": cams}, expect=201)
            return name
        raise KeyError(kind)

    # ---- the calls of each row, for a principal ----

    def user_of(self, p):
        """The account a principal logs in as or names as itself."""
        return ACCOUNTS[p][0] if p in ACCOUNTS else "nobody"

    def media_url(self, p, path):
        """The principal's own signed URL for path, or None."""
        tok = self.tokens.get(p)
        if p not in authz_table.USERS or tok is None:
            return None
        st, _, body = self.api.request("POST", "/api/v1/media-urls", token=tok,
                                       body={"path": path})
        return json.loads(body)["url"] if st == 200 else None

    def call(self, row, p):
        tok = self.tokens.get(p)
        cam = {"a": CAM_A, "b": CAM_B, "z": CAM_Z}.get(row.rsplit("-", 1)[-1])
        v1 = "/api/v1/"

        def c(method, path, body=None, **kw):
            return Call(method, v1 + path, token=kw.pop("token", tok), body=body, **kw)

        if row == "login":
            user = self.user_of(p)
            return c("POST", "auth/login", {"user": user, "password": self.passwords[user]},
                     token=None)
        if row in ("renew", "logout"):
            fresh = tok
            if p in authz_table.USERS:
                user = ACCOUNTS[p][0]
                fresh = self.login(user, self.passwords[user])
            return c("POST", "auth/" + row, token=fresh)
        if row in ("me", "server", "cameras", "users", "roles"):
            return c("GET", row)
        if row in ("cam-a", "cam-b", "cam-z"):
            return c("GET", f"cameras/{cam}")
        if row.startswith("ranges-"):
            return c("GET", f"cameras/{cam}/ranges")
        if row.startswith("verify-"):
            frm, to = RANGE[cam].split("/")
            return c("GET", f"cameras/{cam}/verify?from={frm}&to={to}")
        if row.startswith("bookmarks-"):
            return c("GET", f"cameras/{cam}/bookmarks")
        if row.startswith("bookmark-new-"):
            return c("POST", f"cameras/{cam}/bookmarks", {"at": AT[cam], "title": f"by {p}"})
        if row.startswith("playback-"):
            return c("GET", f"cameras/{cam}/playback/{RANGE[cam]}")
        if row.startswith("still-"):
            return c("GET", f"cameras/{cam}/still/{AT[cam]}")
        if row.startswith("signed-"):
            kind = "playback/" + RANGE[cam] if "playback" in row else "still/" + AT[cam]
            url = self.media_url(p, f"{v1}cameras/{cam}/{kind}")
            if url is None:
                raise AssertionError("could not get a signed URL")
            return Call("GET", url, token=None)
        if row in ("bookmark-a", "bookmark-b"):
            return c("GET", f"bookmarks/{self.fx('bm-' + row[-1])}")
        if row == "bookmark-none":
            return c("GET", f"bookmarks/{MISSING_ID}")
        if row in ("bookmark-del-a", "bookmark-del-b"):
            kind = "bm-del-" + row[-1]
            return c("DELETE", f"bookmarks/{self.fx(kind)}", fixture=kind)
        if row == "bookmark-del-none":
            return c("DELETE", f"bookmarks/{MISSING_ID}")
        if row in ("bmk-patch-a", "bmk-patch-b"):
            return c("PATCH", f"bookmarks/{self.fx('bm-' + row[-1])}", {"title": f"by {p}"})
        if row == "bmk-patch-none":
            return c("PATCH", f"bookmarks/{MISSING_ID}", {"title": "none"})
        if row == "locks":
            return c("GET", "evidence-locks")
        if row.startswith("lock-new-"):
            cams = {"a": [CAM_A], "b": [CAM_B], "ab": [CAM_A, CAM_B], "z": [CAM_Z]}[row[9:]]
            return c("POST", "evidence-locks", {"headline": f"by {p}", "cameras": cams,
                                                "from": START[CAM_A], "to": AT[CAM_A]})
        if row in ("lock-a", "lock-b", "lock-ab"):
            return c("GET", f"evidence-locks/{self.fx(row)}")
        if row == "lock-none":
            return c("GET", f"evidence-locks/{MISSING_ID}")
        if row in ("lock-patch-a", "lock-patch-b"):
            return c("PATCH", f"evidence-locks/{self.fx('lock-' + row[-1])}",
                     {"headline": f"changed by {p}"})
        if row == "lock-patch-a+b":
            return c("PATCH", f"evidence-locks/{self.fx('lock-patch-ab')}",
                     {"cameras": [CAM_A, CAM_B]}, fixture="lock-patch-ab")
        if row == "lock-patch-none":
            return c("PATCH", f"evidence-locks/{MISSING_ID}", {"headline": "x"})
        if row in ("lock-del-a", "lock-del-b"):
            kind = "lock-del-" + row[-1]
            return c("DELETE", f"evidence-locks/{self.fx(kind)}", fixture=kind)
        if row.startswith("url-"):
            path = {"url-playback-a": f"{v1}cameras/{CAM_A}/playback/{RANGE[CAM_A]}",
                    "url-still-b": f"{v1}cameras/{CAM_B}/still/{AT[CAM_B]}",
                    "url-live-a": f"{v1}cameras/{CAM_A}/live",
                    "url-live-z": f"{v1}cameras/{CAM_Z}/live",
                    "url-not-media": f"{v1}me"}[row]
            return c("POST", "media-urls", {"path": path})
        if row.startswith("live-"):
            path = f"{v1}cameras/{cam}/live"
            url = self.media_url(p, path)
            # without a URL of its own, the caller tries its token in the header
            return Call("WS", url, token=None) if url else Call("WS", path, token=tok)
        if row == "user-new":
            name = self.unique("new-user")
            return c("POST", "users", {"name": name, "password": password_of(name)})
        if row == "user-delete":
            return c("DELETE", f"users/{self.fx('user-del')}", fixture="user-del")
        if row == "pw-other":
            self.serial += 1
            new = password_of("target", self.serial)

            def after(status, new=new):
                if status == 204:
                    self.passwords["target"] = new
            return c("POST", "users/target/password", {"password": new}, after=after)
        if row in ("user-disable", "user-enable", "user-unlock", "user-revoke"):
            return c("POST", f"users/target/{row[5:]}")
        if row == "role-new":
            return c("POST", "roles", {"name": self.unique("new-role")})
        if row == "role-delete":
            return c("DELETE", f"roles/{self.fx('role-del')}", fixture="role-del")
        if row in ("grant-add", "grant-remove"):
            kind = "role-" + row
            return c("POST" if row == "grant-add" else "DELETE",
                     f"roles/{self.fx(kind)}/grants", {"function": "playback", "scope": CAM_A},
                     fixture=kind)
        if row == "role-assign":
            return c("POST", f"roles/{self.fx('role-assign')}/users", {"user": "target"},
                     fixture="role-assign")
        if row == "role-unassign":
            return c("DELETE", f"roles/{self.fx('role-unassign')}/users/target",
                     fixture="role-unassign")
        if row == "groups":
            return c("GET", "groups")
        if row == "group-new":
            return c("POST", "groups", {"name": self.unique("new-group"), "cameras": [CAM_A]})
        if row == "group-delete":
            return c("DELETE", f"groups/{self.fx('group-del')}", fixture="group-del")
        if row == "group-cam-add":
            return c("POST", f"groups/{self.fx('group-cam-add')}/cameras", {"camera": CAM_A},
                     fixture="group-cam-add")
        if row == "group-cam-remove":
            return c("DELETE", f"groups/{self.fx('group-cam-remove')}/cameras/{CAM_A}",
                     fixture="group-cam-remove")
        if row == "events":
            return c("GET", "events")
        if row == "events-stream":
            # at most 4 streams run at once: after each, wait until the server
            # has seen the client leave (its next heartbeat fails) and logged
            # the end, so that the next principal's stream finds a free slot
            ended = self.api.daemon.read_log().count("event stream of ")

            def after(status, ended=ended):
                if status != 200:
                    return
                deadline = time.monotonic() + 30
                while self.api.daemon.read_log().count("event stream of ") == ended:
                    if time.monotonic() > deadline:
                        raise AssertionError("the event stream did not end within 30 s")
                    time.sleep(0.1)
            return Call("SSE", v1 + "events/stream", token=tok, after=after)
        if row.startswith("event-ack-"):
            body = {"comment": f"seen by {p}"}
            if row == "event-ack-none":
                return c("POST", "events/evt_" + "0" * 32 + "/ack", body)
            kind = "ev-" + row[10:]
            return c("POST", f"events/{self.fx(kind)}/ack", body, fixture=kind)
        if row == "audit":
            return c("GET", "audit")
        if row == "audit-csv":
            return c("GET", "audit?format=csv")
        if row == "audit-verify":
            return c("GET", "audit/verify")
        if row.startswith("export-new-"):
            def after(status, tok=tok):
                if status == 202:
                    self.wait_exports(tok)
            return c("POST", "exports", self.export_body(cam), after=after)
        if row in ("exports", "export-profiles"):
            return c("GET", row)
        if row == "export-b":
            return c("GET", f"exports/{self.fx('export-b')}")
        if row == "export-file-b":
            return c("GET", f"exports/{self.fx('export-b')}/file")
        if row == "export-none":
            return c("GET", "exports/" + "0" * 32)
        if row == "export-del-b":
            return c("DELETE", f"exports/{self.fx('export-del-b')}", fixture="export-del-b")
        if row in ("pw-self", "pw-self-bare"):
            user = self.user_of(p)
            new = password_of(user, len(self.passwords) + self.serial + 1)
            self.serial += 1
            body = {"password": new}
            if row == "pw-self":
                body["current_password"] = self.passwords[user]

            def after(status, user=user, new=new, p=p):
                if status == 204:   # every token of the user is revoked: log in again
                    self.passwords[user] = new
                    if p in authz_table.USERS:
                        self.relogin(p)
            return c("POST", f"users/{user}/password", body, after=after)
        raise KeyError(row)


def ws_upgrade(api, path, token=None):
    """Sends a WebSocket upgrade for path (custody-live.v1); returns
    (status or None when the server closed without answering, head bytes)."""
    raw = socket.create_connection(("127.0.0.1", api.port), timeout=15)
    conn = api.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: custody-live.v1\r\n")
        if token is not None:
            head += f"Authorization: Bearer {token}\r\n"
        conn.sendall((head + "\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = conn.recv(4096)
            except (OSError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
    finally:
        conn.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)   # lws answers a refused upgrade as 1.0
    if m and m.group(1) == b"101":
        assert re.search(rb"(?i)\r\nsec-websocket-protocol: *custody-live\.v1\r\n", data), data
    return (int(m.group(1)) if m else None), data


class ApiAuthz(cutest.TempDirTest):
    w = None

    # ---- the world, made once ----

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        # one temporary directory (and one set of servers) for the whole class:
        # TempDirTest's own setUp/tearDown, run once on the class
        cutest.TempDirTest.setUp(cls)
        cls.addClassCleanup(cutest.TempDirTest.tearDown, cls)
        w = cls.w = World(cls.tmp)
        clip = cutest.make_clip(os.path.join(cls.tmp, "clip.mp4"), seconds=8)

        # another store and its server: the issuer of the "foreign" token
        other = Store(cls.tmp, "other", encryption="none")
        other.import_clip(CAM_A, clip, start=START[CAM_A])   # URLs are signed for cameras it has
        add_role(other, "admins", [("admin", "*")])
        add_user(other, cls.tmp, "admin", password_of("foreign-admin"), ["admins"])
        cls.foreign_api = Api(cls.tmp, other, name="foreign").start()
        cls.addClassCleanup(cls.foreign_api.stop)

        s = cls.store = Store(cls.tmp, "st", encryption="none")
        for cam in (CAM_A, CAM_B):
            s.import_clip(cam, clip, start=START[cam])
        for role, grants in ROLES.items():
            add_role(s, role, grants)
        for user, roles in [*ACCOUNTS.values(), *EXTRA_USERS.items()]:
            w.passwords[user] = password_of(user)
            add_user(s, cls.tmp, user, w.passwords[user], roles)
        users = json.loads(cli(s, "user", "list", "--json").stdout)["users"]
        w.ids = {u["name"]: u["id"] for u in users}

        fa = cls.foreign_api
        foreign_token = fa.login("admin", password_of("foreign-admin"))
        st, j = fa.json("POST", "/api/v1/media-urls", token=foreign_token,
                        body={"path": f"/api/v1/cameras/{CAM_A}/playback/{RANGE[CAM_A]}"},
                        expect=200)
        cls.foreign_url = j["url"]
        fa.stop()

        cls.start_main()
        for p, (user, _) in ACCOUNTS.items():
            w.tokens[p] = w.login(user, w.passwords[user])
        w.tokens["anon"] = None
        w.tokens["junk"] = "not-a-token"
        w.tokens["foreign"] = foreign_token
        # forged: one character of the admin's signature changed
        tok = w.tokens["admin"]
        i = len(tok) - 20
        w.tokens["forged"] = tok[:i] + ("A" if tok[i] != "A" else "B") + tok[i + 1:]
        # claims: viewer-a's payload made to name the admin, signature kept
        part1, sig = w.tokens["view-a"].split(".")
        claims = unb64url(part1).decode()
        claims = claims.replace(f'"sub":{w.ids["viewer-a"]},"name":"viewer-a"',
                                f'"sub":{w.ids["admin"]},"name":"admin"')
        assert '"name":"admin"' in claims, claims
        w.tokens["claims"] = b64url(claims.encode()) + "." + sig
        # revoked: logged out; disabled: the user disabled on the box
        st, _, _ = cls.main.request("POST", "/api/v1/auth/logout", token=w.tokens["revoked"])
        assert st == 204, f"logout: {st}"
        cli(s, "user", "disable", "--name", ACCOUNTS["disabled"][0])
        # URLs signed now, for the expired test
        w.old_url = w.media_url("admin", f"/api/v1/cameras/{CAM_A}/playback/{RANGE[CAM_A]}")
        w.old_live_url = w.media_url("admin", f"/api/v1/cameras/{CAM_A}/live")
        st, _, _ = cls.main.request("POST", "/api/v1/auth/logout", token=w.tokens["revoked"])
        assert st == 401, "the revoked token still works"
        cls.setup_s = time.monotonic() - t0

    @classmethod
    def start_main(cls, env=None):
        """(Re)starts custodyd on the main store, with extra environment."""
        saved = {k: os.environ.get(k) for k in (env or {})}
        os.environ.update(env or {})
        try:
            api = Api(cls.tmp, cls.store, name=f"custodyd-{cls.w.unique('run')}").start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        cls.addClassCleanup(api.stop)
        cls.main = cls.w.api = api
        return api

    def setUp(self):
        pass   # the temporary directory is the class's

    def tearDown(self):
        pass

    # ---- the table ----

    def run_table(self, principals):
        """Runs every row for principals; returns (cells run, mismatches)."""
        w = self.w
        ran, bad = 0, []
        for row, method, path, needs, expect in authz_table.ROWS:
            for p in principals:
                want = expect[p]
                if want is None:
                    continue
                ran += 1
                where = f"{row} ({method} {path}, needs {needs}) as {p}"
                try:
                    call = w.call(row, p)
                    st, body = w.request(call)
                except AssertionError as e:
                    bad.append(f"{where}: expected {'/'.join(map(str, sorted(want)))}, {e}")
                    continue
                if call.after:
                    call.after(st)
                if st is not None and 200 <= st < 300 and call.fixture:
                    w.consume(call.fixture)
                code, msg = (None, "") if call.method == "WS" or st is None else error_of(body)
                if st not in want:
                    got = "no answer (connection closed)" if st is None else str(st)
                    bad.append(f"{where}: expected {'/'.join(map(str, sorted(want)))}, got {got}"
                               + (f" {code}: {msg}" if code else ""))
                elif call.method != "WS" and st in ERROR_CODE and code not in ERROR_CODE[st]:
                    bad.append(f"{where}: {st} with error code {code!r}, expected "
                               f"{' or '.join(ERROR_CODE[st])}: {msg}")
        return ran, bad

    def test_1_every_route_is_in_the_table(self):
        rows = {r[0] for r in authz_table.ROWS}
        self.assertEqual(rows, set(ROUTE_OF), "authz_table rows vs the test's ROUTE_OF")
        covered = {v for v in ROUTE_OF.values() if v[0] != "WS"}
        self.assertEqual(api_routes() - covered, set(), "routes of daemon/api.c with no row")
        self.assertEqual(covered - api_routes(), set(), "rows for routes api.c does not have")

    def test_2_refusal_reasons(self):
        """Each bad credential is refused, and for the reason it stands for."""
        for p, why in REFUSAL.items():
            if p == "expired":
                continue   # test_9_expired
            st, h, body = self.main.request("GET", "/api/v1/me", token=self.w.tokens[p])
            code, msg = error_of(body)
            self.assertEqual((st, code), (401, "unauthenticated"), f"{p}: {body!r}")
            self.assertTrue(any(x in msg for x in as_tuple(why)), f"{p}: {msg}")
            self.assertTrue(h.get("www-authenticate", "").startswith("Bearer"), p)

    def test_3_table(self):
        principals = [p for p in authz_table.PRINCIPALS if p != "expired"]
        t0 = time.monotonic()
        ran, bad = self.run_table(principals)
        print(f"\n  setup {self.setup_s:.1f} s; {ran} cells in {time.monotonic() - t0:.1f} s, "
              f"{len(bad)} not as the table says", file=sys.stderr)
        self.assertEqual(bad, [], "\n" + "\n".join(bad))

    # ---- a camera without a grant is a camera that does not exist ----

    def probes(self, cam, bookmark, lock, other):
        """Requests naming cam (and a bookmark and a lock on it); other is a
        camera the caller may see, to pair it with in a lock."""
        v1 = "/api/v1/"
        lock_body = {"headline": "probe", "cameras": [cam], "from": START[CAM_A],
                     "to": AT[CAM_A]}
        return [
            ("GET", f"cameras/{cam}", None),
            ("GET", f"cameras/{cam}/ranges", None),
            ("GET", f"cameras/{cam}/bookmarks", None),
            ("POST", f"cameras/{cam}/bookmarks", {"at": AT[CAM_A], "title": "probe"}),
            ("GET", f"cameras/{cam}/playback/{RANGE[CAM_A]}", None),
            ("GET", f"cameras/{cam}/still/{AT[CAM_A]}", None),
            ("POST", "media-urls", {"path": f"{v1}cameras/{cam}/playback/{RANGE[CAM_A]}"}),
            ("POST", "media-urls", {"path": f"{v1}cameras/{cam}/still/{AT[CAM_A]}"}),
            ("POST", "media-urls", {"path": f"{v1}cameras/{cam}/live"}),
            ("POST", "evidence-locks", lock_body),
            ("POST", "evidence-locks", {**lock_body, "cameras": [other, cam]}),
            ("GET", f"bookmarks/{bookmark}", None),
            ("DELETE", f"bookmarks/{bookmark}", None),
            ("GET", f"evidence-locks/{lock}", None),
            ("PATCH", f"evidence-locks/{lock}", {"headline": "probe"}),
            ("DELETE", f"evidence-locks/{lock}", None),
        ]

    def test_4_hidden_cameras(self):
        w = self.w
        hidden = {CAM_B: ["view-a", "bkmk-a", "lock-a", "nobody"], CAM_A: ["exp-b", "nobody"]}
        bad, compared = [], 0
        for cam, principals in hidden.items():
            bm = w.bookmark(cam)
            lk = w.lock([cam])
            for p in principals:
                tok = w.tokens[p]
                st, j = self.main.json("GET", "/api/v1/cameras", token=tok, expect=200)
                if cam in [c["name"] for c in j["cameras"]]:
                    bad.append(f"{p}: GET cameras lists {cam}")
                st, j = self.main.json("GET", "/api/v1/evidence-locks", token=tok, expect=200)
                if lk in [x["id"] for x in j["evidence_locks"]]:
                    bad.append(f"{p}: GET evidence-locks lists lock {lk} on {cam}")
                other = CAM_A if cam == CAM_B else CAM_B
                real = self.probes(cam, bm, lk, other)
                ghost = self.probes(CAM_Z, MISSING_ID, MISSING_ID, other)
                for (m, path, body), (_, gpath, gbody) in zip(real, ghost):
                    compared += 1
                    st, h, b = self.main.request(m, "/api/v1/" + path, token=tok, body=body)
                    gst, gh, gb = self.main.request(m, "/api/v1/" + gpath, token=tok, body=gbody)
                    if m == "HEAD":
                        got, ghost_got = (st,), (gst,)
                    else:
                        def norm(x):
                            code, msg = error_of(x)
                            msg = msg.replace(cam, "CAM").replace(CAM_Z, "CAM")
                            return code, re.sub(rf"\b({bm}|{lk}|{MISSING_ID})\b", "ID", msg)
                        got, ghost_got = (st, *norm(b)), (gst, *norm(gb))
                    # alone, a hidden camera is 404; beside another, as its ghost is
                    alone = not (body and len(body.get("cameras", [])) > 1)
                    if got != ghost_got or (alone and st != 404):
                        bad.append(f"{p}: {m} {path}: {got} but for what does not exist "
                                   f"({gpath}): {ghost_got}")
                for c in (cam, CAM_Z):
                    st, _ = ws_upgrade(self.main, f"/api/v1/cameras/{c}/live", tok)
                    if st == 101:
                        bad.append(f"{p}: live view of {c} accepted")
        self.assertEqual(compared, 6 * 16)
        self.assertEqual(bad, [], "\n" + "\n".join(bad))

    # ---- listings show what the grants allow ----

    def test_5_listings(self):
        w = self.w
        every = ["live", "playback", "export", "bookmark", "evidence_lock", "audit_read", "admin"]
        want = {
            "admin": ({CAM_A: every, CAM_B: every}, every),
            "view-a": ({CAM_A: ["live", "playback"]}, []),
            "bkmk-a": ({CAM_A: ["bookmark"]}, []),
            "lock-a": ({CAM_A: ["evidence_lock"]}, []),
            "auditor": ({CAM_A: ["audit_read"], CAM_B: ["audit_read"]}, ["audit_read"]),
            "exp-b": ({CAM_B: ["export"]}, []),
            "nobody": ({}, []),
        }
        la, lb, lab = w.fx("lock-a"), w.fx("lock-b"), w.fx("lock-ab")
        locks_seen = {"admin": {la, lb, lab}, "view-a": {la}, "bkmk-a": {la}, "lock-a": {la},
                      "auditor": {la, lb, lab}, "exp-b": {lb}, "nobody": set()}
        for p, (cams, site) in want.items():
            tok = w.tokens[p]
            _, j = self.main.json("GET", "/api/v1/cameras", token=tok, expect=200)
            self.assertEqual({c["name"]: c["functions"] for c in j["cameras"]}, cams, p)
            for c in j["cameras"]:
                self.assertEqual(c["first"], START[c["name"]], p)
            _, j = self.main.json("GET", "/api/v1/me", token=tok, expect=200)
            self.assertEqual(j, {"user": ACCOUNTS[p][0], "site_functions": site}, p)
            _, j = self.main.json("GET", "/api/v1/evidence-locks", token=tok, expect=200)
            seen = {x["id"] for x in j["evidence_locks"]} & {la, lb, lab}
            self.assertEqual(seen, locks_seen[p], p)

    # ---- what is served to those allowed ----

    def test_6_media_served(self):
        tok = self.w.tokens["view-a"]
        st, h, body = self.main.request(
            "GET", f"/api/v1/cameras/{CAM_A}/playback/{RANGE[CAM_A]}", token=tok)
        self.assertEqual((st, h["content-type"], h.get("transfer-encoding")),
                         (200, "video/mp4", "chunked"))
        self.assertEqual(body[4:8], b"ftyp")
        self.assertIn(b"moov", body[:4096])
        self.assertIn(b"moof", body)
        st, h, body = self.main.request("GET", f"/api/v1/cameras/{CAM_A}/still/{AT[CAM_A]}",
                                        token=tok)
        self.assertEqual((st, h["content-type"]), (200, "image/jpeg"))
        self.assertEqual(body[:2], b"\xff\xd8")
        self.assertIn(b"Exif\0\0", body[:64])
        self.assertIn(f"custody camera {CAM_A}".encode(), body[:512])
        for name, value in [("strict-transport-security", "max-age=63072000"),
                            ("x-content-type-options", "nosniff"), ("cache-control", "no-store"),
                            ("x-frame-options", "DENY")]:
            self.assertEqual(h.get(name), value, name)

    # ---- signed URLs: one path, one method, the user's rights when used ----

    def test_7_signed_urls(self):
        w, api = self.w, self.main
        v1 = f"/api/v1/cameras/{CAM_A}/"
        url = w.media_url("view-a", v1 + f"playback/{RANGE[CAM_A]}")
        self.assertIsNotNone(url)
        path, query = url.split("?")
        st, _, _ = api.request("GET", url)
        self.assertEqual(st, 200)

        def refused(method, target, why=None, status=401):
            st, _, body = api.request(method, target)
            code, msg = error_of(body) if method != "HEAD" else (None, "")
            self.assertEqual(st, status, f"{method} {target}: {body[:200]!r}")
            if why:
                self.assertIn(why, msg, target)

        # another path, another camera, another endpoint, another method
        refused("GET", v1 + f"still/{AT[CAM_A]}?" + query, "bad signature")
        refused("GET", f"/api/v1/cameras/{CAM_B}/playback/{RANGE[CAM_A]}?" + query,
                "bad signature")
        refused("GET", "/api/v1/me?" + query, "needs an access token")
        refused("GET", "/api/v1/cameras?" + query, "needs an access token")
        refused("HEAD", url, status=405)   # the API serves no HEAD at all
        # altered expiry, altered user, altered signature, extra parameter
        exp = int(re.search(r"exp=(\d+)", query).group(1))
        refused("GET", path + "?" + query.replace(f"exp={exp}", f"exp={exp - 1}"),
                "bad signature")
        refused("GET", path + "?" + re.sub(r"sub=\d+", f"sub={w.ids['admin']}", query),
                "bad signature")
        sig_at = query.index("sig=") + 10
        flipped = query[:sig_at] + ("A" if query[sig_at] != "A" else "B") + query[sig_at + 1:]
        refused("GET", path + "?" + flipped, "bad signature")
        refused("GET", url + "&x=1", "signed URL")
        # another server's URL: signed by a key this server does not trust
        refused("GET", self.foreign_url, "unknown issuer")
        # a disabled user's URL stops at once
        tok2 = w.login("viewer-2", w.passwords["viewer-2"])
        st, j = api.json("POST", "/api/v1/media-urls", token=tok2,
                         body={"path": v1 + f"still/{AT[CAM_A]}"}, expect=200)
        self.assertEqual(api.request("GET", j["url"])[0], 200)
        cli(self.store, "user", "disable", "--name", "viewer-2")
        refused("GET", j["url"], "disabled")
        # the permission is the one the user has when the URL is used
        tok3 = w.login("viewer-3", w.passwords["viewer-3"])
        st, j = api.json("POST", "/api/v1/media-urls", token=tok3,
                         body={"path": v1 + f"still/{AT[CAM_A]}"}, expect=200)
        st, j2 = api.json("POST", "/api/v1/media-urls", token=tok3,
                          body={"path": v1 + "live"}, expect=200)
        cli(self.store, "role", "unassign", "--role", "viewers-a", "--user", "viewer-3")
        refused("GET", j["url"], status=404)
        self.assertNotEqual(ws_upgrade(api, j2["url"])[0], 101, "live after the role went")
        # the live view takes a signed URL only: the admin's token in the header is not one
        self.assertNotEqual(ws_upgrade(api, v1 + "live", w.tokens["admin"])[0], 101)
        # and a signed URL for the live view is not one for a still, and back
        url = w.media_url("admin", v1 + "live")
        self.assertEqual(ws_upgrade(api, url)[0], 101)
        self.assertNotEqual(ws_upgrade(api, v1 + "live?" + url.split("?")[1].replace(
            "exp=", "exp=1"))[0], 101)
        still = w.media_url("admin", v1 + f"still/{AT[CAM_A]}")
        self.assertNotEqual(ws_upgrade(api, v1 + "live?" + still.split("?")[1])[0], 101)

    # ---- one's own password needs the current one ----

    def test_8_own_password(self):
        w, api = self.w, self.main
        tok = w.login("target", w.passwords["target"])
        new = password_of("target", 99)
        st, _, body = api.request("POST", "/api/v1/users/target/password", token=tok,
                                  body={"password": new, "current_password": "not-the-password"})
        self.assertEqual((st, error_of(body)[0]), (403, "forbidden"), body)
        st, _, body = api.request("POST", "/api/v1/users/target/password", token=tok,
                                  body={"password": new,
                                        "current_password": w.passwords["target"]})
        self.assertEqual(st, 204, body)
        w.passwords["target"] = new
        # the change revoked the token it was made with
        self.assertEqual(api.request("GET", "/api/v1/me", token=tok)[0], 401)

    # ---- the expired column, on a server whose clock is 15 minutes on ----

    def test_9_expired(self):
        lib = faketime_lib()
        if lib is None:
            self.skipTest("libfaketime (Debian package faketime) is not installed: the "
                          "'expired' column of the table is not checked")
        w = self.w
        self.main.stop()
        # under ASan the sanitizer must not insist on being first in the preload list
        asan = os.environ.get("ASAN_OPTIONS", "")
        api = self.start_main({"LD_PRELOAD": lib, "FAKETIME": "+15m",
                               "FAKETIME_DONT_FAKE_MONOTONIC": "1", "DONT_FAKE_MONOTONIC": "1",
                               "ASAN_OPTIONS": (asan + ":" if asan else "") +
                               "verify_asan_link_order=0"})
        _, j = api.json("GET", "/api/v1/server", token=w.login("admin", w.passwords["admin"]),
                        expect=200)
        # the server's clock really is ahead (by 15 min, less the time since setUpClass)
        from datetime import datetime, timezone
        ahead = datetime.fromisoformat(j["time"].replace("Z", "+00:00")) - datetime.now(
            timezone.utc)
        self.assertGreater(ahead.total_seconds(), 14 * 60, j["time"])
        w.relogin("admin")
        st, _, body = api.request("GET", "/api/v1/me", token=w.tokens["expired"])
        self.assertEqual((st, error_of(body)[0]), (401, "unauthenticated"), body)
        self.assertIn(REFUSAL["expired"], error_of(body)[1])   # and not for another reason
        # a signed URL from before: expired too
        st, _, body = api.request("GET", w.old_url)
        self.assertEqual(st, 401, body)
        self.assertIn("signed URL expired", error_of(body)[1])
        self.assertNotEqual(ws_upgrade(api, w.old_live_url)[0], 101)
        ran, bad = self.run_table(["expired"])
        self.assertEqual(bad, [], "\n" + "\n".join(bad))


if __name__ == "__main__":
    cutest.main()
