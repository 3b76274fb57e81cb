"""Who may call what: the expected answer of every endpoint of custodyd's API
(daemon/api.c, routes[]) for every kind of caller. test_api_authz.py makes
each call and compares.

The table is written from the rules, not recorded from the server:

  - docs/auth.md: functions granted on scopes; admin implies everything;
    `*` covers every camera (so audit_read on `*` is a grant on each camera:
    the auditor sees every camera but may not play any); tokens in the
    Authorization header only; signed URLs only for media.
  - the 404/403 rule (docs/api.md, "Who may do what"): no grant at all on a
    camera -> 404, exactly as for a camera that does not exist; some grant
    but not the function needed -> 403. A camera that does not exist (cam-z)
    is 404 for everyone, admin included: a 403 would say it exists.
  - what each endpoint needs (column "needs", from docs/api.md):
      token        any valid access token
      any@C        some function on camera C
      F@C          function F on camera C (admin implies it)
      F|G@C        F or G on C
      F@C+D        F on every one of the cameras C and D
      admin, audit_read   on `*`
      self         the caller's own account
      public       nothing
  - a refused credential is 401 everywhere but the public login.

Fixtures (made by the test): cam-a and cam-b hold an 8 s clip each (cam-a
from 2026-01-01T00:00:00Z, cam-b from 2026-01-01T01:00:00Z); cam-z does not
exist. Bookmarks and evidence locks on cam-a, on cam-b and on both; id
999999 exists for nothing.

Columns (principals):

  anon     no Authorization header at all
  junk     "Authorization: Bearer not-a-token"
  forged   an admin's token with one character of its signature changed
  claims   viewer-a's token whose payload was edited to name the admin
           (the signature no longer matches)
  foreign  a token of a user "admin" issued by another store's custodyd,
           whose certificate this server does not trust
  expired  a token of an admin user after its expiry (see the test's
           docstring: the server's clock is moved forward with libfaketime)
  revoked  a token of an admin user after POST auth/logout
  disabled a token of an admin user who was then disabled
  admin    admin on *
  view-a   live + playback on cam-a
  bkmk-a   bookmark on cam-a
  lock-a   evidence_lock on cam-a
  auditor  audit_read on *
  exp-b    export on cam-b
  nobody   a user with no roles

Cells:

  200 ...  the HTTP status expected (101: the WebSocket upgrade is accepted;
           a refused upgrade is answered 403, daemon/http.h)
  a/b      either status: the request breaks two rules at once (e.g. a lock
           naming a camera the caller cannot see and one it may not lock)
           and the rules do not say which wins
  -        not applicable: the caller has no signed URL to use (it could not
           get one, as the media-urls rows show), or has no account to log
           in with

Rows that are not obvious:

  login          each user logs in with its own password; anon logs in as
                 nobody; expired/revoked/disabled as their own user (only
                 disabling stops a login)
  renew, logout  users use a fresh token (from a new login), so that their
                 main token lives on
  signed-*       GET with the caller's own signed URL (from POST media-urls)
                 and no Authorization header
  live-*         the WebSocket upgrade with the caller's own signed URL; a
                 caller that cannot get one sends its Authorization header
                 instead (which the live view does not take). live-z: even
                 the admin must be refused a camera that does not exist
  pw-self        POST users/<own name>/password with current_password; anon
                 names nobody
  pw-self-bare   the same without current_password (nobody may: a stolen session must not change the password)
  user-*, role-*, grant-*  act on a scratch user "target" / scratch roles
  group-*        act on scratch camera groups (group-cam-remove: one holding cam-a)
  events-stream  the Server-Sent Events stream: only the status is read,
                 then the connection is closed, and the test waits for the
                 server to log the stream's end (at most 4 run at once)
  event-ack-*    acknowledge a fresh event (a row the test writes into
                 STORE/events.db, docs/formats/events-db.md) of cam-a, cam-b
                 or of no camera; one is consumed by each acknowledgement
  export-new-*   an evidence export of 1 s as the built-in profile wants it
                 (password, comments); export-b, export-file-b, export-del-b
                 act on an export exp-b made of cam-b (owner: exp-b; others
                 than the owner and admins get 404, as for no export at all)
"""

import re

PRINCIPALS = ["anon", "junk", "forged", "claims", "foreign", "expired", "revoked", "disabled",
              "admin", "view-a", "bkmk-a", "lock-a", "auditor", "exp-b", "nobody"]

# Bad credentials: everything but login is 401 for them.
CREDENTIALS = PRINCIPALS[:8]
USERS = PRINCIPALS[8:]

TABLE = """
# row             method path                                       needs                     |    anon    junk  forged  claims foreign expired revoked disabled |   admin  view-a  bkmk-a  lock-a auditor   exp-b  nobody
login             POST   auth/login                                 public                    |     200       -       -       -       -     200     200      401 |     200     200     200     200     200     200     200
renew             POST   auth/renew                                 token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
logout            POST   auth/logout                                token                     |     401     401     401     401     401     401     401      401 |     204     204     204     204     204     204     204
me                GET    me                                         token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
server            GET    server                                     token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
cameras           GET    cameras                                    token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
cam-a             GET    cameras/cam-a                              any@cam-a                 |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     404     404
cam-b             GET    cameras/cam-b                              any@cam-b                 |     401     401     401     401     401     401     401      401 |     200     404     404     404     200     200     404
cam-z             GET    cameras/cam-z                              (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
ranges-a          GET    cameras/cam-a/ranges                       playback@cam-a            |     401     401     401     401     401     401     401      401 |     200     200     403     403     403     404     404
ranges-b          GET    cameras/cam-b/ranges                       playback@cam-b            |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
ranges-z          GET    cameras/cam-z/ranges                       (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
verify-a          GET    cameras/cam-a/verify?FROM&TO               playback@cam-a            |     401     401     401     401     401     401     401      401 |     200     200     403     403     403     404     404
verify-b          GET    cameras/cam-b/verify?FROM&TO               playback@cam-b            |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
verify-z          GET    cameras/cam-z/verify?FROM&TO               (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
bookmarks-a       GET    cameras/cam-a/bookmarks                    playback|bookmark@cam-a   |     401     401     401     401     401     401     401      401 |     200     200     200     403     403     404     404
bookmarks-b       GET    cameras/cam-b/bookmarks                    playback|bookmark@cam-b   |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
bookmarks-z       GET    cameras/cam-z/bookmarks                    (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
bookmark-new-a    POST   cameras/cam-a/bookmarks                    bookmark@cam-a            |     401     401     401     401     401     401     401      401 |     201     403     201     403     403     404     404
bookmark-new-b    POST   cameras/cam-b/bookmarks                    bookmark@cam-b            |     401     401     401     401     401     401     401      401 |     201     404     404     404     403     403     404
bookmark-new-z    POST   cameras/cam-z/bookmarks                    (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
playback-a        GET    cameras/cam-a/playback/FROM/TO             playback@cam-a            |     401     401     401     401     401     401     401      401 |     200     200     403     403     403     404     404
playback-b        GET    cameras/cam-b/playback/FROM/TO             playback@cam-b            |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
playback-z        GET    cameras/cam-z/playback/FROM/TO             (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
still-a           GET    cameras/cam-a/still/AT                     playback@cam-a            |     401     401     401     401     401     401     401      401 |     200     200     403     403     403     404     404
still-b           GET    cameras/cam-b/still/AT                     playback@cam-b            |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
still-z           GET    cameras/cam-z/still/AT                     (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
bookmark-a        GET    bookmarks/ID(cam-a)                        playback|bookmark@cam-a   |     401     401     401     401     401     401     401      401 |     200     200     200     403     403     404     404
bookmark-b        GET    bookmarks/ID(cam-b)                        playback|bookmark@cam-b   |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
bookmark-none     GET    bookmarks/999999                           (no such bookmark)        |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
bmk-patch-a       PATCH  bookmarks/ID(cam-a)                        bookmark@cam-a            |     401     401     401     401     401     401     401      401 |     200     403     200     403     403     404     404
bmk-patch-b       PATCH  bookmarks/ID(cam-b)                        bookmark@cam-b            |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
bmk-patch-none    PATCH  bookmarks/999999                           (no such bookmark)        |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
bookmark-del-a    DELETE bookmarks/ID(cam-a)                        bookmark@cam-a            |     401     401     401     401     401     401     401      401 |     204     403     204     403     403     404     404
bookmark-del-b    DELETE bookmarks/ID(cam-b)                        bookmark@cam-b            |     401     401     401     401     401     401     401      401 |     204     404     404     404     403     403     404
bookmark-del-none DELETE bookmarks/999999                           (no such bookmark)        |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
locks             GET    evidence-locks                             token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
lock-new-a        POST   evidence-locks [cam-a]                     evidence_lock@cam-a       |     401     401     401     401     401     401     401      401 |     201     403     403     201     403     404     404
lock-new-b        POST   evidence-locks [cam-b]                     evidence_lock@cam-b       |     401     401     401     401     401     401     401      401 |     201     404     404     404     403     403     404
lock-new-ab       POST   evidence-locks [cam-a,cam-b]               evidence_lock@cam-a+cam-b |     401     401     401     401     401     401     401      401 |     201 403/404 403/404     404     403 403/404     404
lock-new-z        POST   evidence-locks [cam-z]                     (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
lock-a            GET    evidence-locks/ID(cam-a)                   any@cam-a                 |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     404     404
lock-b            GET    evidence-locks/ID(cam-b)                   any@cam-b                 |     401     401     401     401     401     401     401      401 |     200     404     404     404     200     200     404
lock-ab           GET    evidence-locks/ID(cam-a,cam-b)             any@cam-a+cam-b           |     401     401     401     401     401     401     401      401 |     200     404     404     404     200     404     404
lock-none         GET    evidence-locks/999999                      (no such lock)            |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
lock-patch-a      PATCH  evidence-locks/ID(cam-a) {headline}        evidence_lock@cam-a       |     401     401     401     401     401     401     401      401 |     200     403     403     200     403     404     404
lock-patch-a+b    PATCH  evidence-locks/ID(cam-a) {cameras:[a,b]}   evidence_lock@cam-a+cam-b |     401     401     401     401     401     401     401      401 |     200 403/404 403/404     404     403     404     404
lock-patch-b      PATCH  evidence-locks/ID(cam-b) {headline}        evidence_lock@cam-b       |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
lock-patch-none   PATCH  evidence-locks/999999 {headline}           (no such lock)            |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
lock-del-a        DELETE evidence-locks/ID(cam-a)                   evidence_lock@cam-a       |     401     401     401     401     401     401     401      401 |     204     403     403     204     403     404     404
lock-del-b        DELETE evidence-locks/ID(cam-b)                   evidence_lock@cam-b       |     401     401     401     401     401     401     401      401 |     204     404     404     404     403     403     404
url-playback-a    POST   media-urls cam-a/playback                  playback@cam-a            |     401     401     401     401     401     401     401      401 |     200     200     403     403     403     404     404
url-still-b       POST   media-urls cam-b/still                     playback@cam-b            |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
url-live-a        POST   media-urls cam-a/live                      live@cam-a                |     401     401     401     401     401     401     401      401 |     200     200     403     403     403     404     404
url-live-z        POST   media-urls cam-z/live                      (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
url-not-media     POST   media-urls /api/v1/me                      token (400: not media)    |     401     401     401     401     401     401     401      401 |     400     400     400     400     400     400     400
signed-playback-a GET    cameras/cam-a/playback/FROM/TO?SIGNED-URL  playback@cam-a            |       -       -       -       -       -       -       -        - |     200     200       -       -       -       -       -
signed-still-a    GET    cameras/cam-a/still/AT?SIGNED-URL          playback@cam-a            |       -       -       -       -       -       -       -        - |     200     200       -       -       -       -       -
live-a            WS     cameras/cam-a/live?SIGNED-URL              live@cam-a                |     403     403     403     403     403     403     403      403 |     101     101     403     403     403     403     403
live-b            WS     cameras/cam-b/live?SIGNED-URL              live@cam-b                |     403     403     403     403     403     403     403      403 |     101     403     403     403     403     403     403
live-z            WS     cameras/cam-z/live?SIGNED-URL              (no such camera)          |     403     403     403     403     403     403     403      403 |     403     403     403     403     403     403     403
users             GET    users                                      admin                     |     401     401     401     401     401     401     401      401 |     200     403     403     403     403     403     403
user-new          POST   users                                      admin                     |     401     401     401     401     401     401     401      401 |     201     403     403     403     403     403     403
user-delete       DELETE users/NEW                                  admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
pw-other          POST   users/target/password                      admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
user-disable      POST   users/target/disable                       admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
user-enable       POST   users/target/enable                        admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
user-unlock       POST   users/target/unlock                        admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
user-revoke       POST   users/target/revoke                        admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
roles             GET    roles                                      admin                     |     401     401     401     401     401     401     401      401 |     200     403     403     403     403     403     403
role-new          POST   roles                                      admin                     |     401     401     401     401     401     401     401      401 |     201     403     403     403     403     403     403
role-delete       DELETE roles/NEW                                  admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
grant-add         POST   roles/NEW/grants                           admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
grant-remove      DELETE roles/NEW/grants                           admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
role-assign       POST   roles/NEW/users {target}                   admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
role-unassign     DELETE roles/NEW/users/target                     admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
groups            GET    groups                                     admin                     |     401     401     401     401     401     401     401      401 |     200     403     403     403     403     403     403
group-new         POST   groups {cameras: [cam-a]}                  admin                     |     401     401     401     401     401     401     401      401 |     201     403     403     403     403     403     403
group-delete      DELETE groups/NEW                                 admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
group-cam-add     POST   groups/NEW/cameras {cam-a}                 admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
group-cam-remove  DELETE groups/NEW/cameras/cam-a                   admin                     |     401     401     401     401     401     401     401      401 |     204     403     403     403     403     403     403
events            GET    events                                     token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
events-stream     GET    events/stream                              token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
event-ack-a       POST   events/ID(event cam-a)/ack {comment}       live@cam-a (any: else 404) |     401     401     401     401     401     401     401      401 |     200     200     403     403     403     404     404
event-ack-b       POST   events/ID(event cam-b)/ack {comment}       live@cam-b (any: else 404) |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     403     404
event-ack-site    POST   events/ID(event of no camera)/ack {comment}  admin (else 403 for audit_read, 404) |     401     401     401     401     401     401     401      401 |     200     404     404     404     403     404     404
event-ack-none    POST   events/evt_0...0/ack {comment}             (no such event)           |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
audit             GET    audit                                      audit_read                |     401     401     401     401     401     401     401      401 |     200     403     403     403     200     403     403
audit-csv         GET    audit?format=csv                           audit_read                |     401     401     401     401     401     401     401      401 |     200     403     403     403     200     403     403
audit-verify      GET    audit/verify                               audit_read                |     401     401     401     401     401     401     401      401 |     200     403     403     403     200     403     403
pw-self           POST   users/SELF/password {current_password}     self                      |     401     401     401     401     401     401     401      401 |     204     204     204     204     204     204     204
pw-self-bare      POST   users/SELF/password (no current_password)  nobody                    |     401     401     401     401     401     401     401      401 |     403     403     403     403     403     403     403
export-new-a      POST   exports [cam-a]                            export@cam-a              |     401     401     401     401     401     401     401      401 |     202     403     403     403     403     404     404
export-new-b      POST   exports [cam-b]                            export@cam-b              |     401     401     401     401     401     401     401      401 |     202     404     404     404     403     202     404
export-new-z      POST   exports [cam-z]                            (no such camera)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
exports           GET    exports                                    token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
export-b          GET    exports/ID(exp-b)                          owner|admin               |     401     401     401     401     401     401     401      401 |     200     404     404     404     404     200     404
export-file-b     GET    exports/ID(exp-b)/file                     owner|admin               |     401     401     401     401     401     401     401      401 |     200     404     404     404     404     200     404
export-none       GET    exports/NO-SUCH-ID                         (no such export)          |     401     401     401     401     401     401     401      401 |     404     404     404     404     404     404     404
export-del-b      DELETE exports/ID(exp-b)                          owner|admin               |     401     401     401     401     401     401     401      401 |     204     404     404     404     404     204     404
export-profiles   GET    export-profiles                            token                     |     401     401     401     401     401     401     401      401 |     200     200     200     200     200     200     200
"""


def parse(text=TABLE):
    """[(row, method, path, needs, {principal: frozenset of statuses or None})],
    None for "-" (not run)."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        left, sep, right = line.partition(" | ")
        right = right.replace("|", " ")
        row, method, rest = (left.strip().split(None, 2) + ["", ""])[:3]
        words = re.split(r"\s{2,}", rest.strip())
        if not sep or len(words) != 2:
            raise ValueError(f"authz_table: cannot read the line {line!r}")
        path, needs = words
        cells = right.split()
        if len(cells) != len(PRINCIPALS):
            raise ValueError(f"authz_table: row {row} has {len(cells)} cells, expected "
                             f"{len(PRINCIPALS)}")
        exp = {}
        for p, c in zip(PRINCIPALS, cells):
            exp[p] = None if c == "-" else frozenset(int(x) for x in c.split("/"))
        rows.append((row, method, path, needs, exp))
    names = [r[0] for r in rows]
    if len(set(names)) != len(names):
        raise ValueError("authz_table: a row name is used twice")
    return rows


ROWS = parse()

if __name__ == "__main__":
    n = sum(len(r[4]) for r in ROWS)
    run = sum(1 for r in ROWS for v in r[4].values() if v is not None)
    print(f"{len(ROWS)} rows x {len(PRINCIPALS)} principals = {n} cells, {run} run")
