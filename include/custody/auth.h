/* custody — users, roles, access tokens and signed media URLs.
 *
 * The model (docs/auth.md): local users with Argon2id password hashes; roles
 * that grant functions (live, playback, export, bookmark, evidence_lock,
 * audit_read, admin) on a scope: one camera, a camera group ("group:NAME") or
 * every camera ("*"); users hold roles. admin is site-wide and implies every
 * function on every camera. A user with no grant on a camera must not learn
 * that it exists: the API filters every listing with cu_auth_cameras and
 * answers "not found" where cu_auth_check denies.
 *
 * Everything lives in STORE/auth.db (SQLite, WAL, synchronous=FULL). Access
 * tokens are self-contained and signed with the recording server's Ed25519
 * key, so that another server trusting the same site CA verifies them without
 * asking the issuer; revocation (logout, disable, password change) is read
 * from auth.db on every verification.
 *
 * Threads: one cu_auth may be shared by many threads; calls are serialised
 * on the database, and password hashing (Argon2id, 46 MiB each) runs outside
 * that lock, at most CU_AUTH_HASH_CONCURRENCY at a time.
 *
 * Every function that changes users, roles, groups, issuers or export
 * profiles fills an
 * optional struct cu_auth_event (NULL is fine) with what changed, for the
 * caller's audit log. Library code never logs. */
#ifndef CUSTODY_AUTH_H
#define CUSTODY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/store.h"

#define CU_AUTH_FILE "auth.db"

/* ---- names and limits ---- */
#define CU_USER_NAME_MAX 64          /* bytes; [a-z0-9._@-], first a letter or digit */
#define CU_ROLE_NAME_MAX 64          /* bytes; [A-Za-z0-9._-], first a letter or digit */
#define CU_GROUP_NAME_MAX 64         /* same rule as roles */
#define CU_SCOPE_MAX (6 + 64)        /* "*", a camera name, or "group:" NAME */
#define CU_USERS_MAX 10000           /* users in one auth.db */
#define CU_ROLES_MAX 1000
#define CU_GRANTS_MAX 4096           /* grants one user holds through all roles */
#define CU_GROUPS_MAX 1000

/* ---- password policy (user passwords; the store password is store.h's) ---- */
#define CU_USER_PASSWORD_MIN 8       /* Unicode characters (code points) */
#define CU_USER_PASSWORD_MAX 128     /* bytes of UTF-8 */
/* Argon2id for new hashes: OWASP's m = 46 MiB, t = 1, p = 1. Stored hashes
 * carry their own parameters (PHC string), so these can be raised later; a
 * hash below them is replaced at the user's next successful login. */
#define CU_AUTH_ARGON2_T 1
#define CU_AUTH_ARGON2_M (46 * 1024) /* KiB */
#define CU_AUTH_ARGON2_P 1
#define CU_AUTH_SALT_LEN 16
#define CU_AUTH_HASH_LEN 32
#define CU_AUTH_PHC_MAX 256          /* longest encoded hash stored or read */
#define CU_AUTH_HASH_CONCURRENCY 4   /* Argon2id runs at once: bounds memory */

/* ---- tokens ---- */
#define CU_TOKEN_MAX 2048            /* bytes of a token; longer ones are refused */
#define CU_TOKEN_LIFETIME_DEFAULT (600 * INT64_C(1000000))  /* 10 minutes */
#define CU_TOKEN_LIFETIME_MAX (3600 * INT64_C(1000000))     /* issued or accepted */
#define CU_TOKEN_SKEW_US (30 * INT64_C(1000000))            /* clock skew allowed */

/* ---- signed media URLs ---- */
#define CU_URL_LIFETIME_MAX (60 * INT64_C(1000000))
#define CU_URL_SKEW_US (5 * INT64_C(1000000))
#define CU_URL_PATH_MAX 1024
#define CU_URL_QUERY_MAX 256         /* "exp=..&sub=..&iss=..&sig=.." and NUL fit */

/* ---- brute force ---- */
#define CU_LOCK_ACCOUNT_FAILURES 5   /* failures of one account name ... */
#define CU_THROTTLE_SOURCE_FAILURES 20 /* ... or one source address ... */
#define CU_LOCK_WINDOW_US (15 * 60 * INT64_C(1000000))   /* ... within this window */
#define CU_LOCK_DURATION_US (15 * 60 * INT64_C(1000000)) /* lock it for this long */
#define CU_SOURCE_MAX 64             /* bytes of a source address key */

enum cu_auth_function {
	CU_FN_ANY = -1,           /* for cu_auth_cameras: any function at all */
	CU_FN_LIVE = 0,
	CU_FN_PLAYBACK,
	CU_FN_EXPORT,
	CU_FN_BOOKMARK,
	CU_FN_EVIDENCE_LOCK,
	CU_FN_AUDIT_READ,
	CU_FN_ADMIN,              /* site-wide; implies every function on every camera */
	CU_FN_COUNT
};

typedef struct cu_auth cu_auth;

/* What a change did, for the caller's audit entry. Fields that do not apply
 * are "" or 0. */
/* (struct cu_auth_event below) Its fields as a JSON object for the audit
 * log's detail: user, role, group, function, scope, camera, detail, profile,
 * each only when set. NULL when out of memory. A jansson json_t. */
struct json_t;
struct cu_auth_event;
struct json_t *cu_auth_event_json(const struct cu_auth_event *ev);

struct cu_auth_event {
	const char *action;                  /* static: "user.add", "role.grant", ... */
	int64_t at_us;                       /* when, by the auth clock */
	int64_t user_id;
	char user[CU_USER_NAME_MAX + 1];
	char role[CU_ROLE_NAME_MAX + 1];
	char group[CU_GROUP_NAME_MAX + 1];
	char function[16];
	char scope[CU_SCOPE_MAX + 1];
	char camera[CU_CAMERA_NAME_MAX + 1];
	char detail[256];                    /* e.g. "roles=operators,viewers" */
	char profile[64 + 1];                /* export profile (CU_PROFILE_NAME_MAX) */
};

/* "live" ... "admin"; "?" for anything else. */
const char *cu_auth_function_name(int fn);
/* The reverse; CU_ERR_INVAL with a detail listing the valid names. */
int cu_auth_function_parse(const char *s, int *ret);

/* Name rules; 0 or CU_ERR_INVAL with a detail. */
int cu_auth_user_name_check(const char *name);
int cu_auth_role_name_check(const char *name);
/* "*", "group:NAME" or a camera name. */
int cu_auth_scope_check(const char *scope);

/* Checks a new password for user: CU_USER_PASSWORD_MIN characters to
 * CU_USER_PASSWORD_MAX bytes, valid UTF-8 without control characters, not
 * the user name, not one of the most common passwords. 0 or CU_ERR_INVAL. */
int cu_auth_password_policy(const char *user, const char *pw, size_t len);

/* ---- opening ---- */

enum {
	CU_AUTH_READONLY = 1,     /* query only; a missing auth.db is CU_ERR_NOTFOUND */
};

/* Opens STORE/auth.db, creating it (mode 0600) when missing unless
 * CU_AUTH_READONLY. The store is borrowed and must outlive the handle. When
 * the store was opened with its password, the handle can issue tokens and
 * sign URLs; otherwise those calls fail with CU_ERR_PASSWORD. A database of
 * another schema version is CU_ERR_UNSUPPORTED. */
int cu_auth_open(cu_store *store, unsigned flags, cu_auth **ret);
void cu_auth_close(cu_auth *a); /* NULL is fine */

/* Replaces the clock (µs since the epoch, UTC) used by every call: for tests,
 * instead of sleeping. NULL restores the real clock. */
void cu_auth_set_clock(cu_auth *a, int64_t (*now_us)(void *ctx), void *ctx);

/* Sets the lifetime of the tokens issued without one (login, and renewal or
 * issue with lifetime_us 0): 1 s to CU_TOKEN_LIFETIME_MAX, or 0 for
 * CU_TOKEN_LIFETIME_DEFAULT. Call before the handle is shared between
 * threads. Another value is CU_ERR_INVAL and changes nothing. */
int cu_auth_set_token_lifetime(cu_auth *a, int64_t lifetime_us);

/* ---- users ---- */

/* Adds a user with a password (checked by cu_auth_password_policy) and the
 * given roles (which must exist: CU_ERR_NOTFOUND, nothing added). A taken
 * name is CU_ERR_EXIST. */
int cu_auth_user_add(cu_auth *a, const char *name, const char *pw, size_t pw_len,
                     const char *const *roles, size_t nroles, struct cu_auth_event *ev);

/* Sets a new password; every token issued to the user so far stops working. */
int cu_auth_user_passwd(cu_auth *a, const char *name, const char *pw, size_t pw_len,
                        struct cu_auth_event *ev);

/* Disables (revoking every token) or enables a user. Idempotent. */
int cu_auth_user_set_disabled(cu_auth *a, const char *name, bool disabled,
                              struct cu_auth_event *ev);

/* Deletes a user and their role assignments; their tokens stop working
 * (user ids are never reused). */
int cu_auth_user_delete(cu_auth *a, const char *name, struct cu_auth_event *ev);

/* Revokes every token issued to the user so far ("log out everywhere"). */
int cu_auth_user_revoke_tokens(cu_auth *a, const char *name, struct cu_auth_event *ev);

/* Lifts an account lockout early and forgets the account's failures. */
int cu_auth_user_unlock(cu_auth *a, const char *name, struct cu_auth_event *ev);

struct cu_auth_user {
	int64_t id;
	char name[CU_USER_NAME_MAX + 1];
	bool disabled;
	int64_t created_us, password_changed_us;
	int64_t tokens_valid_after_us;       /* tokens issued before this are revoked */
	int64_t locked_until_us;             /* 0 when not locked */
	uint32_t argon2_m_kib, argon2_t, argon2_p; /* parameters of the stored hash */
	size_t nroles;
	char (*roles)[CU_ROLE_NAME_MAX + 1]; /* by name */
};

/* Every user by name. Free with cu_auth_users_free. */
int cu_auth_user_list(cu_auth *a, struct cu_auth_user **ret, size_t *ret_n);
void cu_auth_users_free(struct cu_auth_user *u, size_t n);

/* ---- roles, grants, groups ---- */

int cu_auth_role_add(cu_auth *a, const char *role, struct cu_auth_event *ev);
/* Deletes a role with its grants and assignments. */
int cu_auth_role_delete(cu_auth *a, const char *role, struct cu_auth_event *ev);

/* Grants fn on scope ("*", "group:NAME" of an existing group, or a camera
 * name; cameras need not be recording yet). admin only on "*"
 * (CU_ERR_INVAL). An existing grant is CU_ERR_EXIST. */
int cu_auth_role_grant(cu_auth *a, const char *role, int fn, const char *scope,
                       struct cu_auth_event *ev);
/* Removes a grant; CU_ERR_NOTFOUND if the role has no such grant. */
int cu_auth_role_revoke(cu_auth *a, const char *role, int fn, const char *scope,
                        struct cu_auth_event *ev);

/* Gives a user a role / takes it away. */
int cu_auth_role_assign(cu_auth *a, const char *role, const char *user,
                        struct cu_auth_event *ev);
int cu_auth_role_unassign(cu_auth *a, const char *role, const char *user,
                          struct cu_auth_event *ev);

struct cu_auth_grant {
	int function;
	char scope[CU_SCOPE_MAX + 1];
};

struct cu_auth_role {
	int64_t id;
	char name[CU_ROLE_NAME_MAX + 1];
	size_t ngrants;
	struct cu_auth_grant *grants;
	size_t nusers;
	char (*users)[CU_USER_NAME_MAX + 1];
};

/* Every role by name with its grants and users. Free with cu_auth_roles_free. */
int cu_auth_role_list(cu_auth *a, struct cu_auth_role **ret, size_t *ret_n);
void cu_auth_roles_free(struct cu_auth_role *r, size_t n);

/* Creates a camera group (CU_ERR_EXIST if it exists). */
int cu_auth_group_add(cu_auth *a, const char *group, struct cu_auth_event *ev);
/* Deletes a group and every grant on it (event detail counts them). */
int cu_auth_group_delete(cu_auth *a, const char *group, struct cu_auth_event *ev);
/* Adds / removes a camera (by name) to / from a group. */
int cu_auth_group_camera_add(cu_auth *a, const char *group, const char *camera,
                             struct cu_auth_event *ev);
int cu_auth_group_camera_remove(cu_auth *a, const char *group, const char *camera,
                                struct cu_auth_event *ev);

struct cu_auth_group {
	char name[CU_GROUP_NAME_MAX + 1];
	size_t ncameras;
	char (*cameras)[CU_CAMERA_NAME_MAX + 1];
};
int cu_auth_group_list(cu_auth *a, struct cu_auth_group **ret, size_t *ret_n);
void cu_auth_groups_free(struct cu_auth_group *g, size_t n);

/* ---- permissions ---- */

/* May user perform fn on camera? camera NULL asks for the function
 * site-wide (e.g. audit_read of everything, admin): only a "*" grant gives
 * that. Returns 0 when allowed, CU_ERR_AUTH when not (unknown or disabled
 * users included), another negative cu_err when the check could not run.
 * Anything but 0 means no. */
int cu_auth_check(cu_auth *a, const char *user, int fn, const char *camera);

/* Filters a camera list: ret_visible[i] is set when user may perform fn
 * (CU_FN_ANY: any function) on cameras[i]. Returns how many are visible, or a
 * negative cu_err (ret_visible untouched). An unknown or disabled user sees
 * none. */
int cu_auth_cameras(cu_auth *a, const char *user, int fn, const char *const *cameras, size_t n,
                    bool *ret_visible);

/* The functions user may perform on camera (NULL: site-wide), as a bit mask
 * of 1u << fn. */
int cu_auth_functions(cu_auth *a, const char *user, const char *camera, unsigned *ret_mask);

/* ---- login and brute force ---- */

enum cu_login_result {
	CU_LOGIN_OK = 0,
	CU_LOGIN_BAD_CREDENTIALS,   /* unknown user or wrong password: 401 */
	CU_LOGIN_LOCKED_ACCOUNT,    /* too many failures for this name: 429 */
	CU_LOGIN_THROTTLED_SOURCE,  /* too many failures from this address: 429 */
	CU_LOGIN_DISABLED,          /* right password, disabled user: 401/403 */
};

struct cu_login {
	int result;                          /* enum cu_login_result */
	int64_t user_id;                     /* 0 unless the user exists and the password was right */
	bool account_locked_now;             /* this failure locked the account */
	bool source_throttled_now;           /* this failure throttled the source */
	int64_t retry_after_us;              /* LOCKED/THROTTLED: when to try again */
	char token[CU_TOKEN_MAX + 1];        /* OK: the access token (a secret: wipe it) */
	int64_t expires_us;                  /* OK: the token's expiry */
};

/* Checks a user's password and, when right, issues an access token of the
 * handle's lifetime (cu_auth_set_token_lifetime; default 10 minutes). source is the client's address as the server keys it
 * (e.g. an IPv6 /64 prefix), at most CU_SOURCE_MAX bytes; NULL skips the
 * per-source throttle. Failures are counted per account name (existing or
 * not, so that lockouts reveal nothing) and per source; a success clears the
 * account's failures. An unknown name costs the same Argon2id work as a known
 * one. Returns 0 with *ret filled whatever the result, or a negative cu_err
 * when the check could not run (CU_ERR_PASSWORD: no signing key). */
int cu_auth_login(cu_auth *a, const char *user, const char *pw, size_t pw_len,
                  const char *source, struct cu_login *ret);

/* ---- access tokens ----
 * base64url(payload) "." base64url(Ed25519 signature), no padding, where
 * payload is {"v":1,"typ":"access","sub":ID,"name":"NAME","iat":S,"exp":S,
 * "jti":"<32 hex>","iss":"<64 hex>"} exactly (no spaces, this key order) and
 * the signature covers "custody/v1/token\0" followed by the first part's
 * ASCII. iss is the SHA-256 of the issuing server's certificate (DER). */

struct cu_token_claims {
	int64_t user_id;                     /* sub */
	char user[CU_USER_NAME_MAX + 1];     /* name */
	int64_t issued_us, expires_us;       /* iat, exp (whole seconds, in µs) */
	char jti[33];                        /* 128-bit id, lower-case hex */
	uint8_t issuer[CU_SHA256_LEN];       /* iss */
};

/* Issues a token for an enabled user, valid lifetime_us (0: the default; at
 * most CU_TOKEN_LIFETIME_MAX). buf must hold CU_TOKEN_MAX + 1 bytes. */
int cu_auth_token_issue(cu_auth *a, const char *user, int64_t lifetime_us, char *buf,
                        size_t len, struct cu_token_claims *ret);

/* Verifies a token (len bytes, at most CU_TOKEN_MAX): format, issuer (the
 * local server or an issuer in auth.db chaining to the site CA), signature,
 * expiry (with CU_TOKEN_SKEW_US), not revoked, user exists and is enabled,
 * issued after the user's last revocation. Returns 0 with the claims,
 * CU_ERR_FORMAT when malformed, CU_ERR_AUTH otherwise (detail says why). */
int cu_auth_token_verify(cu_auth *a, const char *token, size_t len, struct cu_token_claims *ret);

/* Verifies token, issues a new one (new jti, same user) and revokes the old. */
int cu_auth_token_renew(cu_auth *a, const char *token, size_t len, int64_t lifetime_us,
                        char *buf, size_t buflen, struct cu_token_claims *ret);

/* Logout: verifies token and revokes it (its jti, until it expires). */
int cu_auth_token_revoke(cu_auth *a, const char *token, size_t len, struct cu_auth_event *ev);

/* Trusts another recording server's certificate (PEM) as a token issuer. It
 * must chain to this store's site CA (CU_ERR_AUTH otherwise). */
int cu_auth_issuer_add(cu_auth *a, const char *pem, size_t len, struct cu_auth_event *ev);
int cu_auth_issuer_remove(cu_auth *a, const uint8_t fingerprint[static CU_SHA256_LEN],
                          struct cu_auth_event *ev);

/* ---- signed media URLs ----
 * The only way a credential travels in a URL: a query string
 * "exp=S&sub=ID&iss=<64 hex>&sig=<base64url>" whose Ed25519 signature (by the
 * server's key) covers "custody/v1/url\0" METHOD "\0" PATH "\0" S "\0" ID
 * "\0" ISS: bound to one method and exact path, expiring within a minute. */

/* Signs method and path (exact, no query; '/'-rooted printable ASCII, at
 * most CU_URL_PATH_MAX) for user, valid lifetime_us (1 µs..60 s). buf must
 * hold CU_URL_QUERY_MAX bytes. */
int cu_auth_sign_url(cu_auth *a, const char *user, const char *method, const char *path,
                     int64_t lifetime_us, char *buf, size_t len);

struct cu_url_claims {
	int64_t user_id;
	char user[CU_USER_NAME_MAX + 1];
	int64_t expires_us;
};

/* Checks a request's method, path and whole query string against a
 * signature made by cu_auth_sign_url (here or by a trusted issuer), and that
 * the user still exists and is enabled. The caller still checks the user's
 * permission on what the path names. 0, CU_ERR_FORMAT or CU_ERR_AUTH. */
int cu_auth_check_url(cu_auth *a, const char *method, const char *path, const char *query,
                      struct cu_url_claims *ret);

/* ---- export profiles ----
 * What a user may export and how (docs/auth.md, "Export profiles"). A
 * profile allows some of the formats (evidence package, MP4, JPEG stills)
 * and carries the settings of evidence packages, each a value with a locked
 * flag: a locked setting is enforced by the server whatever the client asks
 * (a request asking otherwise is refused, one that does not ask gets it); an
 * unlocked one is only the default, which the client may change. A role has
 * at most one profile; a user's profiles are those of their roles, or, when
 * none of their roles has one, the built-in profile "default" (evidence
 * only, encrypted, a password of at least 12 characters, comments required,
 * all locked). Profiles say how to export, not what: the export function on
 * each camera is checked apart (cu_auth_check). */

#define CU_PROFILE_NAME_MAX 64               /* the role name rule */
#define CU_PROFILES_MAX 1000
#define CU_PROFILE_DEFAULT "default"         /* the built-in; reserved (any case) */
#define CU_PROFILE_PASSWORD_MIN 8            /* characters: lowest password_min_length */
#define CU_PROFILE_PASSWORD_MIN_MAX 128      /* highest password_min_length */

_Static_assert(CU_PROFILE_NAME_MAX == 64, "cu_auth_event.profile is sized for 64");

/* Export formats, as bits of cu_export_profile.formats. */
enum cu_export_format {
	CU_EXPORT_EVIDENCE = 1u << 0,            /* an evidence package (package.h) */
	CU_EXPORT_MP4 = 1u << 1,                 /* a plain MP4 file (mux.h) */
	CU_EXPORT_STILLS = 1u << 2,              /* JPEG stills (mux.h) */
};
#define CU_EXPORT_FORMATS_ALL 7u

/* The settings of a profile. Booleans are 0 or 1. */
enum cu_profile_setting {
	CU_PS_PASSWORD_REQUIRED = 0,             /* a package needs a password (so encryption) */
	CU_PS_PASSWORD_MIN_LENGTH,               /* characters, CU_PROFILE_PASSWORD_MIN..MIN_MAX */
	CU_PS_ENCRYPTION,                        /* AES-256-GCM under the password */
	CU_PS_SIGNATURE,                         /* always 1 and locked: packages are always
	                                          * signed (docs/auth.md says why) */
	CU_PS_PREVENT_REEXPORT,                  /* the package forbids re-export */
	CU_PS_COMMENTS_REQUIRED,                 /* an export must give comments (every format) */
	CU_PS_INCLUDE_PLAYER,                    /* bundle a player with the package */
	CU_PS_COUNT
};

struct cu_profile_value {
	int value;
	bool locked;
};

struct cu_export_profile {
	char name[CU_PROFILE_NAME_MAX + 1];
	bool builtin;                            /* the built-in "default", not in auth.db */
	unsigned formats;                        /* CU_EXPORT_* bits: at least one */
	struct cu_profile_value set[CU_PS_COUNT];
	int64_t created_us, updated_us;          /* 0 for the built-in */
	size_t nroles;                           /* roles holding it (see each call) */
	char (*roles)[CU_ROLE_NAME_MAX + 1];
};

/* "evidence", "mp4", "stills" for one bit; "?" otherwise. */
const char *cu_auth_export_format_name(unsigned format);
/* The reverse; CU_ERR_INVAL with a detail listing the valid names. */
int cu_auth_export_format_parse(const char *s, unsigned *ret);
/* "password_required", "password_min_length", "encryption", "signature",
 * "prevent_reexport", "comments_required", "include_player"; "?" otherwise. */
const char *cu_auth_profile_setting_name(int setting);
/* The reverse; CU_ERR_INVAL with a detail listing the valid names. */
int cu_auth_profile_setting_parse(const char *s, int *ret);

/* The built-in profile "default" (roles empty). */
void cu_auth_profile_default(struct cu_export_profile *ret);

/* Checks a profile before it is stored: the name (the role rule, not
 * "default" in any case), at least one known format, booleans 0 or 1,
 * password_min_length in range, signature on, and no password required
 * without encryption (the password only protects an encrypted package).
 * 0 or CU_ERR_INVAL naming the setting. */
int cu_auth_profile_check(const struct cu_export_profile *p);

/* Writes p's formats and settings as one line, e.g. "formats=evidence,mp4
 * password_required=on(locked) password_min_length=12(locked) ...", for
 * events and people. Returns 0 or CU_ERR_LIMIT (len too small). */
int cu_auth_profile_describe(const struct cu_export_profile *p, char *buf, size_t len);

/* Adds p (checked by cu_auth_profile_check; roles, builtin and times are
 * ignored). A taken name is CU_ERR_EXIST; more than CU_PROFILES_MAX is
 * CU_ERR_LIMIT. Event "profile.add", detail cu_auth_profile_describe. */
int cu_auth_profile_add(cu_auth *a, const struct cu_export_profile *p, struct cu_auth_event *ev);

/* Replaces the formats and settings of the profile named p->name (checked
 * as for add); the roles holding it keep it. CU_ERR_NOTFOUND when there is
 * none (the built-in cannot be changed). Event "profile.update". */
int cu_auth_profile_update(cu_auth *a, const struct cu_export_profile *p,
                           struct cu_auth_event *ev);

/* Deletes a profile; the roles holding it lose it (their users fall back to
 * their other roles' profiles, or to the built-in). Event "profile.delete",
 * detail "roles unassigned=N". */
int cu_auth_profile_delete(cu_auth *a, const char *name, struct cu_auth_event *ev);

/* Gives role the profile (replacing the one it had: detail "replaced=OLD")
 * or, profile NULL, takes its profile away (CU_ERR_NOTFOUND when it has
 * none). Events "profile.assign" / "profile.unassign" with role and profile. */
int cu_auth_profile_assign(cu_auth *a, const char *role, const char *profile,
                           struct cu_auth_event *ev);

/* One profile by name, with the roles holding it (malloc'd: release them
 * with cu_auth_profile_clear). "default" (any case) is the built-in, held by
 * no role. CU_ERR_NOTFOUND when there is none; *ret is written only on
 * success. */
int cu_auth_profile_get(cu_auth *a, const char *name, struct cu_export_profile *ret);
/* Frees what get filled in (the roles); p itself is the caller's. */
void cu_auth_profile_clear(struct cu_export_profile *p);

/* Every profile of auth.db by name, each with the roles holding it (the
 * built-in is not listed). Free with cu_auth_profiles_free. */
int cu_auth_profile_list(cu_auth *a, struct cu_export_profile **ret, size_t *ret_n);
void cu_auth_profiles_free(struct cu_export_profile *p, size_t n);

/* What an export asks of its profile: the profile named (or not), the
 * format, and the settings the request sets explicitly. */
struct cu_export_ask {
	const char *profile;                     /* NULL: not named */
	unsigned format;                         /* one CU_EXPORT_* bit */
	const char *comments;                    /* NULL: none */
	const char *password;                    /* the package password (UTF-8), NULL: none */
	int encrypt, prevent_reexport, include_player; /* 0 or 1 asked, -1 not asked */
};

/* What the profile makes of it. */
struct cu_export_decision {
	char profile[CU_PROFILE_NAME_MAX + 1];   /* the profile applied ("" before one is picked) */
	bool encrypt, prevent_reexport, include_player;
	const char *setting;                     /* refused: the setting at fault ("profile",
	                                          * "formats", a cu_auth_profile_setting_name),
	                                          * NULL when the request itself is malformed */
	bool forbidden;                          /* refused by the profile (a locked setting, a
	                                          * profile not one's own) rather than malformed */
};

/* The one place export-profile rules live (custodyd's exports and custody
 * export --store both apply them). Picks the profile among ps (the
 * candidates: a user's profiles) — the one q names, or the only one — and
 * checks the request against it: the format allowed, comments when
 * required and locked, locked settings not asked otherwise, a password
 * only for an encrypted package and long enough. Returns 0 with the
 * settings in ret; CU_ERR_AUTH (forbidden) or CU_ERR_INVAL (malformed, or
 * something the profile needs is missing), with ret->setting naming the
 * setting at fault and the detail saying what to do. ret is written on
 * every return. */
int cu_auth_profile_decide(const struct cu_export_profile *ps, size_t n,
                           const struct cu_export_ask *q, struct cu_export_decision *ret);

/* A user's effective profiles, by name: those of their roles, each with the
 * user's roles that give it; or, when none of them has one, the built-in
 * alone. CU_ERR_NOTFOUND for an unknown user. A disabled user's are listed
 * too (tokens already stop them). Free with cu_auth_profiles_free. */
int cu_auth_profiles_for_user(cu_auth *a, const char *user, struct cu_export_profile **ret,
                              size_t *ret_n);

#endif
