/* auth.db: opening and creating it, name rules, and the administration of
 * users, roles, grants and camera groups. docs/auth.md describes the model. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_int.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	/* AUTOINCREMENT: a deleted user's id is never given to another, so a
	 * token naming it can never become someone else's. */
	"CREATE TABLE users("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  hash TEXT NOT NULL,"
	"  disabled INTEGER NOT NULL DEFAULT 0 CHECK(disabled IN (0, 1)),"
	"  created_us INTEGER NOT NULL,"
	"  password_changed_us INTEGER NOT NULL,"
	"  tokens_valid_after_us INTEGER NOT NULL);"
	"CREATE TABLE roles("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created_us INTEGER NOT NULL);"
	"CREATE TABLE role_grants("
	"  role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,"
	"  function TEXT NOT NULL CHECK(function IN ('live', 'playback', 'export', 'bookmark',"
	"    'evidence_lock', 'audit_read', 'admin')),"
	"  scope TEXT NOT NULL,"
	"  PRIMARY KEY(role_id, function, scope)) WITHOUT ROWID;"
	"CREATE TABLE cam_groups("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created_us INTEGER NOT NULL);"
	"CREATE TABLE camera_groups("
	"  group_id INTEGER NOT NULL REFERENCES cam_groups(id) ON DELETE CASCADE,"
	"  camera TEXT NOT NULL,"
	"  PRIMARY KEY(group_id, camera)) WITHOUT ROWID;"
	"CREATE INDEX camera_groups_by_camera ON camera_groups(camera);"
	"CREATE TABLE user_roles("
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,"
	"  PRIMARY KEY(user_id, role_id)) WITHOUT ROWID;"
	"CREATE TABLE revoked_tokens("
	"  jti TEXT PRIMARY KEY CHECK(length(jti) = 32),"
	"  expires_us INTEGER NOT NULL) WITHOUT ROWID;"
	/* kind 0: an account name (existing or not); kind 1: a source address */
	"CREATE TABLE failures("
	"  kind INTEGER NOT NULL CHECK(kind IN (0, 1)),"
	"  subject TEXT NOT NULL,"
	"  at_us INTEGER NOT NULL);"
	"CREATE INDEX failures_by_subject ON failures(kind, subject, at_us);"
	"CREATE TABLE lockouts("
	"  kind INTEGER NOT NULL CHECK(kind IN (0, 1)),"
	"  subject TEXT NOT NULL,"
	"  until_us INTEGER NOT NULL,"
	"  PRIMARY KEY(kind, subject)) WITHOUT ROWID;"
	"CREATE TABLE issuers("
	"  fingerprint TEXT PRIMARY KEY CHECK(length(fingerprint) = 64),"
	"  pem TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  added_us INTEGER NOT NULL) WITHOUT ROWID;";

static const char *const fn_names[CU_FN_COUNT] = {
	"live", "playback", "export", "bookmark", "evidence_lock", "audit_read", "admin",
};

const char *
cu_auth_function_name(int fn)
{
	return fn >= 0 && fn < CU_FN_COUNT ? fn_names[fn] : "?";
}

int
cu_auth_function_parse(const char *s, int *ret)
{
	for (int i = 0; i < CU_FN_COUNT; i++) {
		if (s != NULL && strcmp(s, fn_names[i]) == 0) {
			*ret = i;
			return 0;
		}
	}
	return cu_fail(CU_ERR_INVAL, "unknown function \"%s\": expected live, playback, export, "
	               "bookmark, evidence_lock, audit_read or admin", s ? s : "");
}

int
cu_auth_user_name_check(const char *name)
{
	size_t n = name ? strnlen(name, CU_USER_NAME_MAX + 1) : 0;
	if (n == 0 || n > CU_USER_NAME_MAX)
		return cu_fail(CU_ERR_INVAL, "user name must be 1 to %d characters", CU_USER_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.' && c != '@')))
			return cu_fail(CU_ERR_INVAL, "user name \"%.*s\": use lower-case letters, "
			               "digits, '.', '-', '_' and '@', starting with a letter or digit",
			               (int)n, name);
	}
	return 0;
}

/* Roles and groups: the camera name rule. */
int
cu_auth_plain_name_check(const char *what, const char *name)
{
	size_t n = name ? strnlen(name, CU_ROLE_NAME_MAX + 1) : 0;
	if (n == 0 || n > CU_ROLE_NAME_MAX)
		return cu_fail(CU_ERR_INVAL, "%s name must be 1 to %d characters", what,
		               CU_ROLE_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return cu_fail(CU_ERR_INVAL, "%s name \"%.*s\": use letters, digits, '.', '-' "
			               "and '_', starting with a letter or digit", what, (int)n, name);
	}
	return 0;
}

int
cu_auth_role_name_check(const char *name)
{
	return cu_auth_plain_name_check("role", name);
}

int
cu_auth_scope_check(const char *scope)
{
	if (scope == NULL)
		return cu_fail(CU_ERR_INVAL, "no scope");
	if (strcmp(scope, "*") == 0)
		return 0;
	if (strncmp(scope, "group:", 6) == 0)
		return cu_auth_plain_name_check("group", scope + 6);
	return cu_camera_name_check(scope);
}

/* ---- the database ---- */

int64_t
cu_auth_now(const cu_auth *a)
{
	return a->clock != NULL ? a->clock(a->clock_ctx) : cu_time_now_us();
}

void
cu_auth_set_clock(cu_auth *a, int64_t (*now_us)(void *ctx), void *ctx)
{
	a->clock = now_us;
	a->clock_ctx = ctx;
}

int
cu_auth_set_token_lifetime(cu_auth *a, int64_t lifetime_us)
{
	if (a == NULL || lifetime_us < 0 || (lifetime_us > 0 && lifetime_us < 1000000) ||
	    lifetime_us > CU_TOKEN_LIFETIME_MAX)
		return cu_fail(CU_ERR_INVAL, "token lifetime must be 1 s to %lld s",
		               (long long)(CU_TOKEN_LIFETIME_MAX / 1000000));
	a->token_lifetime_us = lifetime_us;
	return 0;
}

int64_t
cu_auth_revocation_point(int64_t now_us)
{
	return (now_us / 1000000 + 1) * 1000000;
}

/* Binds arguments described by types ('t' const char *, 'i' int64_t); a
 * count that does not match the query's is a bug caught here, not a wrong row. */
static int
bind_va(sqlite3_stmt *st, const char *types, va_list ap)
{
	if ((size_t)sqlite3_bind_parameter_count(st) != strlen(types))
		return cu_fail(CU_ERR_INVAL, "auth.db: %zu values for %d parameters", strlen(types),
		               sqlite3_bind_parameter_count(st));
	for (int i = 0; types[i] != '\0'; i++) {
		if (types[i] == 't')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	}
	return 0;
}

/* Runs sql with the arguments ap (bind_va) through the statement cache:
 * with ret NULL a change, returning the number of rows changed, CU_ERR_EXIST
 * on a uniqueness violation or another negative cu_err; with ret a query,
 * the first column of its first row in *ret (CU_ERR_NOTFOUND if no row; *ret
 * is written only on success). */
static int
run_va(cu_auth *a, int64_t *ret, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st;
	int r = cu_db_stmt(a->db, sql, &st);
	if (r < 0)
		return r;
	if ((r = bind_va(st, types, ap)) < 0) {
		cu_db_done(st);
		return r;
	}
	int rc = sqlite3_step(st);
	if (ret == NULL) {
		if (rc == SQLITE_DONE)
			r = sqlite3_changes(a->db->sql);
		else if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			r = CU_ERR_EXIST;
		else
			r = cu_db_fail(a->db, "update");
	} else if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? CU_ERR_NOTFOUND : cu_db_fail(a->db, "query");
	}
	cu_db_done(st);
	return r;
}

/* Runs one change; returns the number of rows changed, CU_ERR_EXIST on a
 * uniqueness violation, or another negative cu_err. */
int
cu_auth_exec(cu_auth *a, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	int r = run_va(a, NULL, sql, types, ap);
	va_end(ap);
	return r;
}

/* The first column of the first row as an integer; CU_ERR_NOTFOUND if no row. */
int
cu_auth_query_int(cu_auth *a, int64_t *ret, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	int r = run_va(a, ret, sql, types, ap);
	va_end(ap);
	return r;
}

/* Brings a database of an older version up to this one, inside the
 * caller's transaction. Anything that is not a custody auth database of a
 * known older version is left alone for cu_auth_open to refuse. Every step
 * uses CREATE ... IF NOT EXISTS, so that a half-made state cannot stop it. */
static int
upgrade_schema(cu_auth *a)
{
	char format[64], version[64];
	if (cu_db_meta_get(a->db, "format", format, sizeof(format)) < 0 ||
	    cu_db_meta_get(a->db, "version", version, sizeof(version)) < 0 ||
	    strcmp(format, "custody-auth") != 0) {
		cu_error_clear();
		return 0;
	}
	if (strcmp(version, "1") != 0)
		return 0;
	/* version 2: export profiles */
	int r = cu_db_exec(a->db, cu_auth_schema_profiles, "upgrading the schema to version 2");
	if (r < 0)
		return r;
	r = cu_auth_exec(a, "UPDATE meta SET value = ? WHERE key = 'version'", "t",
	                     CU_AUTH_DB_VERSION);
	return r < 0 ? r : 0;
}

/* Creates the schema unless another process did first, or upgrades an
 * older one (BEGIN IMMEDIATE serialises processes doing either). */
static int
create_schema(cu_auth *a)
{
	int64_t n;
	int r = cu_db_begin(a->db, true);
	if (r < 0)
		return r;
	r = cu_auth_query_int(a, &n, "SELECT count(*) FROM sqlite_master WHERE name = 'meta'", "");
	if (r == 0 && n == 0) {
		char idhex[2 * CU_ID_LEN + 1], created[32];
		cu_hex(cu_store_ident(a->store).id, CU_ID_LEN, idhex);
		int k = snprintf(created, sizeof(created), "%lld", (long long)cu_auth_now(a));
		if (k < 0 || (size_t)k >= sizeof(created))
			r = cu_fail(CU_ERR_LIMIT, "auth.db: creation time too long");
		const char *const kv[][2] = {
			{"format", "custody-auth"}, {"version", CU_AUTH_DB_VERSION}, {"store_id", idhex},
			{"created_us", created},
		};
		if (r == 0 && (r = cu_db_exec(a->db, schema, "creating the schema")) == 0 &&
		    (r = cu_db_exec(a->db, cu_auth_schema_profiles, "creating the schema")) == 0)
			r = cu_db_meta_put(a->db, kv, sizeof(kv) / sizeof(kv[0]));
	} else if (r == 0) {
		r = upgrade_schema(a);
	}
	if (r < 0) {
		cu_db_rollback(a->db);
		return r;
	}
	return cu_db_commit(a->db);
}

int
cu_auth_open(cu_store *store, unsigned flags, cu_auth **ret)
{
	char path[PATH_MAX], v[64];
	bool readonly = flags & CU_AUTH_READONLY;
	int r = cu_path(path, sizeof(path), "%s/%s", cu_store_ident(store).dir, CU_AUTH_FILE);
	if (r < 0)
		return r;
	if (readonly && access(path, F_OK) < 0)
		return cu_fail(CU_ERR_NOTFOUND, "%s: no users or roles yet", path);
	if (!readonly) {
		/* Created here, not by SQLite, so that it is 0600 whatever the umask:
		 * it holds password hashes. Its -wal and -shm files inherit the mode. */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return cu_fail_errno(errno, "%s", path);
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return cu_fail(CU_ERR_INVAL, "%s: not a regular file", path);
		}
		close(fd);
	}
	cu_auth *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	a->store = store;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->hash_lock, NULL);
	pthread_cond_init(&a->hash_cond, NULL);
	/* synchronous=FULL: a revocation, lockout or new password must survive
	 * a power cut; these writes are rare. */
	unsigned dbflags = CU_DB_FULLMUTEX | CU_DB_FOREIGN_KEYS |
	                   (readonly ? CU_DB_QUERY_ONLY : CU_DB_WAL | CU_DB_SYNC_FULL);
	if ((r = cu_db_open(path, "auth.db", dbflags, &a->db)) < 0)
		goto fail;
	if (!readonly && (r = create_schema(a)) < 0)
		goto bad;
	if ((r = cu_db_meta_get(a->db, "format", v, sizeof(v))) < 0)
		goto bad;
	if (strcmp(v, "custody-auth") != 0) {
		r = cu_fail(CU_ERR_FORMAT, "%s: not a custody auth database", path);
		goto fail;
	}
	if ((r = cu_db_meta_get(a->db, "version", v, sizeof(v))) < 0)
		goto bad;
	/* A read-only handle cannot upgrade: it reads version 1 as it is (no
	 * export profiles yet). A writable one has just upgraded it. */
	if (strcmp(v, CU_AUTH_DB_VERSION) == 0) {
		a->has_profiles = true;
	} else if (!(readonly && strcmp(v, "1") == 0)) {
		r = cu_fail(CU_ERR_UNSUPPORTED, "%s: schema version %s (this custody reads 1 and %s)",
		            path, v, CU_AUTH_DB_VERSION);
		goto fail;
	}
	uint8_t id[CU_ID_LEN];
	if ((r = cu_db_meta_get(a->db, "store_id", v, sizeof(v))) < 0)
		goto bad;
	if (cu_unhex(v, id, CU_ID_LEN) < 0 || memcmp(id, cu_store_ident(store).id, CU_ID_LEN) != 0) {
		r = cu_fail(CU_ERR_FORMAT, "%s: belongs to another store (store_id %s)", path, v);
		goto fail;
	}
	if ((r = cu_pw_dummy(a->dummy_phc)) < 0)
		goto fail;
	/* without the store password: no signing handle, and nothing signed */
	if ((r = cu_store_signer(store, &a->sign)) < 0 && r != CU_ERR_PASSWORD)
		goto fail;
	r = 0;
	*ret = a;
	return 0;
bad:
	r = cu_fail_prefix(r, "%s", path);
fail:
	cu_auth_close(a);
	return r;
}

void
cu_auth_close(cu_auth *a)
{
	if (a == NULL)
		return;
	cu_db_close(a->db);
	cu_sign_key_free(a->sign);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->hash_lock);
	pthread_cond_destroy(&a->hash_cond);
	cu_wipe(a, sizeof(*a));
	free(a);
}

/* ---- users ---- */

void
cu_auth_ev_init(struct cu_auth_event *ev, const char *action, int64_t now)
{
	if (ev == NULL)
		return;
	memset(ev, 0, sizeof(*ev));
	ev->action = action;
	ev->at_us = now;
}

void
cu_auth_ev_set(char *field, size_t len, const char *value)
{
	/* the fields are as long as the names they hold, each checked before; a
	 * longer one would show cut in the event, which is a record for people */
	if (value != NULL)
		cu_fmt_cut(field, len, "%s", value);
}

void
cu_user_row_wipe(struct cu_user_row *u)
{
	cu_wipe(u, sizeof(*u));
}

int
cu_auth_user_get(cu_auth *a, const char *name, int64_t id, struct cu_user_row *ret)
{
	sqlite3_stmt *st;
	int r = cu_db_stmt(a->db, name != NULL
	                   ? "SELECT id, name, hash, disabled, created_us, password_changed_us, "
	                     "tokens_valid_after_us FROM users WHERE name = ?"
	                   : "SELECT id, name, hash, disabled, created_us, password_changed_us, "
	                     "tokens_valid_after_us FROM users WHERE id = ?", &st);
	if (r < 0)
		return r;
	if (name != NULL)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 1);
		const char *h = (const char *)sqlite3_column_text(st, 2);
		if (n == NULL || h == NULL || strlen(n) > CU_USER_NAME_MAX ||
		    strlen(h) >= CU_AUTH_PHC_MAX) {
			r = cu_fail(CU_ERR_DAMAGED, "auth.db: user row %lld is malformed",
			            (long long)sqlite3_column_int64(st, 0));
		} else {
			ret->id = sqlite3_column_int64(st, 0);
			memcpy(ret->name, n, strlen(n) + 1);
			memcpy(ret->phc, h, strlen(h) + 1);
			ret->disabled = sqlite3_column_int(st, 3) != 0;
			ret->created_us = sqlite3_column_int64(st, 4);
			ret->password_changed_us = sqlite3_column_int64(st, 5);
			ret->tokens_valid_after_us = sqlite3_column_int64(st, 6);
			r = 0;
		}
	} else if (rc == SQLITE_DONE) {
		r = name != NULL ? cu_fail(CU_ERR_NOTFOUND, "no user named \"%s\"", name)
		                 : cu_fail(CU_ERR_NOTFOUND, "no user with id %lld", (long long)id);
	} else {
		r = cu_db_fail(a->db, "reading a user");
	}
	cu_db_done(st);
	return r;
}

int
cu_auth_role_id(cu_auth *a, const char *role, int64_t *ret)
{
	int r = cu_auth_query_int(a, ret, "SELECT id FROM roles WHERE name = ?", "t", role);
	return r == CU_ERR_NOTFOUND ? cu_fail(r, "no role named \"%s\"", role) : r;
}

static int
group_id(cu_auth *a, const char *group, int64_t *ret)
{
	int r = cu_auth_query_int(a, ret, "SELECT id FROM cam_groups WHERE name = ?", "t", group);
	return r == CU_ERR_NOTFOUND ? cu_fail(r, "no camera group named \"%s\"", group) : r;
}

static int
user_id(cu_auth *a, const char *user, int64_t *ret)
{
	int r = cu_auth_query_int(a, ret, "SELECT id FROM users WHERE name = ?", "t", user);
	return r == CU_ERR_NOTFOUND ? cu_fail(r, "no user named \"%s\"", user) : r;
}

/* Begins a change to the user, role or group name (already checked):
 * takes a->lock, reads the clock into *ret_now and begins a write
 * transaction in which find (user_id, cu_auth_role_id, group_id) gives its
 * id (*ret_id; CU_ERR_NOTFOUND when there is none). On success the lock is
 * held and the transaction open: end with cu_auth_finish. On failure both
 * are already ended (rolled back, unlocked). */
static int
change_begin(cu_auth *a, int (*find)(cu_auth *, const char *, int64_t *), const char *name,
             int64_t *ret_now, int64_t *ret_id)
{
	pthread_mutex_lock(&a->lock);
	*ret_now = cu_auth_now(a);
	int r = cu_db_begin(a->db, true);
	if (r < 0 || (r = find(a, name, ret_id)) < 0)
		return cu_auth_finish(a, r);
	return 0;
}

/* Starts ev (may be NULL) as the event action on the user name of id. */
static void
user_event(struct cu_auth_event *ev, const char *action, int64_t now, int64_t id,
           const char *name)
{
	cu_auth_ev_init(ev, action, now);
	if (ev != NULL) {
		ev->user_id = id;
		EV_SET(ev, user, name);
	}
}

/* Ends a transaction begun under a->lock: commit when r >= 0. */
int
cu_auth_finish(cu_auth *a, int r)
{
	if (r >= 0)
		r = cu_db_commit(a->db);
	else
		cu_db_rollback(a->db);
	pthread_mutex_unlock(&a->lock);
	return r < 0 ? r : 0;
}

int
cu_auth_user_add(cu_auth *a, const char *name, const char *pw, size_t pw_len,
                 const char *const *roles, size_t nroles, struct cu_auth_event *ev)
{
	char phc[CU_AUTH_PHC_MAX];
	int r;
	if ((r = cu_auth_user_name_check(name)) < 0 ||
	    (r = cu_auth_password_policy(name, pw, pw_len)) < 0)
		return r;
	if (nroles > CU_ROLES_MAX)
		return cu_fail(CU_ERR_LIMIT, "more than %d roles", CU_ROLES_MAX);
	for (size_t i = 0; i < nroles; i++)
		if ((r = cu_auth_role_name_check(roles[i])) < 0)
			return r;
	if ((r = cu_pw_hash(a, pw, pw_len, phc)) < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a), n, id, rid;
	if ((r = cu_db_begin(a->db, true)) < 0)
		goto out;
	if ((r = cu_auth_query_int(a, &n, "SELECT count(*) FROM users", "")) < 0)
		goto out;
	if (n >= CU_USERS_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "already %d users", CU_USERS_MAX);
		goto out;
	}
	r = cu_auth_exec(a, "INSERT INTO users(name, hash, disabled, created_us, password_changed_us, "
	         "tokens_valid_after_us) VALUES(?, ?, 0, ?, ?, ?)", "ttiii", name, phc, now, now,
	         now / 1000000 * 1000000);
	if (r == CU_ERR_EXIST) {
		r = cu_fail(CU_ERR_EXIST, "user \"%s\" already exists", name);
		goto out;
	}
	if (r < 0)
		goto out;
	id = sqlite3_last_insert_rowid(a->db->sql);
	cu_auth_ev_init(ev, "user.add", now);
	char detail[256] = "roles=";
	size_t used = strlen(detail);
	for (size_t i = 0; i < nroles; i++) {
		if ((r = cu_auth_role_id(a, roles[i], &rid)) < 0)
			goto out;
		if ((r = cu_auth_exec(a, "INSERT OR IGNORE INTO user_roles(user_id, role_id) VALUES(?, ?)",
		              "ii", id, rid)) < 0)
			goto out;
		int k = snprintf(detail + used, sizeof(detail) - used, "%s%s", i ? "," : "", roles[i]);
		if (k > 0 && (size_t)k < sizeof(detail) - used)
			used += (size_t)k;
	}
	if (ev != NULL) {
		ev->user_id = id;
		EV_SET(ev, user, name);
		EV_SET(ev, detail, nroles > 0 ? detail : "");
	}
	r = 0;
out:
	cu_wipe(phc, sizeof(phc));
	return cu_auth_finish(a, r);
}

int
cu_auth_user_passwd(cu_auth *a, const char *name, const char *pw, size_t pw_len,
                    struct cu_auth_event *ev)
{
	char phc[CU_AUTH_PHC_MAX];
	int r;
	if ((r = cu_auth_user_name_check(name)) < 0 ||
	    (r = cu_auth_password_policy(name, pw, pw_len)) < 0)
		return r;
	if ((r = cu_pw_hash(a, pw, pw_len, phc)) < 0)
		return r;
	int64_t now, id;
	if ((r = change_begin(a, user_id, name, &now, &id)) < 0) {
		cu_wipe(phc, sizeof(phc));
		return r;
	}
	r = cu_auth_exec(a, "UPDATE users SET hash = ?, password_changed_us = ?, tokens_valid_after_us = "
	         "max(tokens_valid_after_us + 1000000, ?) WHERE id = ?", "tiii", phc, now,
	         cu_auth_revocation_point(now), id);
	if (r >= 0) {
		user_event(ev, "user.passwd", now, id, name);
		EV_SET(ev, detail, "tokens revoked");
	}
	cu_wipe(phc, sizeof(phc));
	return cu_auth_finish(a, r);
}

int
cu_auth_user_set_disabled(cu_auth *a, const char *name, bool disabled,
                          struct cu_auth_event *ev)
{
	struct cu_user_row u;
	int r = cu_auth_user_name_check(name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	if ((r = cu_db_begin(a->db, true)) < 0 || (r = cu_auth_user_get(a, name, 0, &u)) < 0)
		goto out;
	if (disabled)
		r = cu_auth_exec(a, "UPDATE users SET disabled = 1, tokens_valid_after_us = "
		         "max(tokens_valid_after_us + 1000000, ?) WHERE id = ?", "ii",
		         cu_auth_revocation_point(now), u.id);
	else
		r = cu_auth_exec(a, "UPDATE users SET disabled = 0 WHERE id = ?", "i", u.id);
	if (r >= 0) {
		user_event(ev, disabled ? "user.disable" : "user.enable", now, u.id, name);
		EV_SET(ev, detail, u.disabled == disabled ? (disabled ? "already disabled"
		                                                      : "already enabled")
		                   : (disabled ? "tokens revoked" : ""));
	}
out:
	cu_user_row_wipe(&u);
	return cu_auth_finish(a, r);
}

int
cu_auth_user_delete(cu_auth *a, const char *name, struct cu_auth_event *ev)
{
	int64_t id, now;
	int r = cu_auth_user_name_check(name);
	if (r < 0 || (r = change_begin(a, user_id, name, &now, &id)) < 0)
		return r;
	if ((r = cu_auth_exec(a, "DELETE FROM users WHERE id = ?", "i", id)) >= 0)
		user_event(ev, "user.delete", now, id, name);
	return cu_auth_finish(a, r);
}

int
cu_auth_user_revoke_tokens(cu_auth *a, const char *name, struct cu_auth_event *ev)
{
	int64_t id, now;
	int r = cu_auth_user_name_check(name);
	if (r < 0 || (r = change_begin(a, user_id, name, &now, &id)) < 0)
		return r;
	r = cu_auth_exec(a, "UPDATE users SET tokens_valid_after_us = "
	         "max(tokens_valid_after_us + 1000000, ?) WHERE id = ?", "ii",
	         cu_auth_revocation_point(now), id);
	if (r >= 0)
		user_event(ev, "user.revoke_tokens", now, id, name);
	return cu_auth_finish(a, r);
}

int
cu_auth_user_unlock(cu_auth *a, const char *name, struct cu_auth_event *ev)
{
	int64_t id, now;
	int r = cu_auth_user_name_check(name);
	if (r < 0 || (r = change_begin(a, user_id, name, &now, &id)) < 0)
		return r;
	int locks;
	if ((r = locks = cu_auth_exec(a, "DELETE FROM lockouts WHERE kind = 0 AND subject = ?", "t",
	                      name)) < 0 ||
	    (r = cu_auth_exec(a, "DELETE FROM failures WHERE kind = 0 AND subject = ?", "t", name)) < 0)
		goto out;
	user_event(ev, "user.unlock", now, id, name);
	EV_SET(ev, detail, locks > 0 ? "lockout lifted" : "was not locked");
out:
	return cu_auth_finish(a, r);
}

/* Appends a name to a malloc'd array of fixed-size names. */
#define NAMES_PUSH(arr, n, cap, value, limit)                                              \
	do {                                                                                   \
		if ((n) == (limit)) {                                                              \
			r = cu_fail(CU_ERR_LIMIT, "auth.db: more than %d entries", (int)(limit));      \
			goto out;                                                                      \
		}                                                                                  \
		if ((n) == (cap)) {                                                                \
			size_t nc_ = (cap) ? (cap) * 2 : 8;                                            \
			void *nv_ = realloc((arr), nc_ * sizeof(*(arr)));                              \
			if (nv_ == NULL) {                                                             \
				r = cu_fail(CU_ERR_NOMEM, "out of memory");                                \
				goto out;                                                                  \
			}                                                                              \
			(arr) = nv_;                                                                   \
			(cap) = nc_;                                                                   \
		}                                                                                  \
		int k_ = snprintf((arr)[(n)], sizeof((arr)[(n)]), "%s", (value));                 \
		if (k_ < 0 || (size_t)k_ >= sizeof((arr)[(n)])) {                                  \
			r = cu_fail(CU_ERR_LIMIT, "auth.db: a name longer than %zu bytes",             \
			            sizeof((arr)[(n)]) - 1);                                           \
			goto out;                                                                      \
		}                                                                                  \
		(n)++;                                                                             \
	} while (0)

/* Every value of column 0 of a query with one integer parameter. */
int
cu_auth_names_of(cu_auth *a, const char *sql, int64_t param, char (**ret)[CU_ROLE_NAME_MAX + 1],
         size_t *ret_n, size_t limit)
{
	char (*v)[CU_ROLE_NAME_MAX + 1] = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int r = cu_db_stmt(a->db, sql, &st), rc;
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, param);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		if (s == NULL || strlen(s) > CU_ROLE_NAME_MAX) {
			r = cu_fail(CU_ERR_FORMAT, "auth.db: malformed name");
			goto out;
		}
		NAMES_PUSH(v, n, cap, s, limit);
	}
	if (rc != SQLITE_DONE) {
		r = cu_db_fail(a->db, "query");
		goto out;
	}
	*ret = v;
	*ret_n = n;
	v = NULL;
	r = 0;
out:
	free(v);
	cu_db_done(st);
	return r;
}

/* Names of roles, users and cameras share one size; the casts below rely on it. */
_Static_assert(CU_ROLE_NAME_MAX == CU_USER_NAME_MAX && CU_ROLE_NAME_MAX == CU_CAMERA_NAME_MAX &&
               CU_ROLE_NAME_MAX == CU_GROUP_NAME_MAX, "name sizes differ");

int
cu_auth_user_list(cu_auth *a, struct cu_auth_user **ret, size_t *ret_n)
{
	struct cu_auth_user *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int r, rc;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	if ((r = cu_db_stmt(a->db, "SELECT u.id, u.name, u.hash, u.disabled, u.created_us, "
	                    "u.password_changed_us, u.tokens_valid_after_us, "
	                    "(SELECT until_us FROM lockouts l WHERE l.kind = 0 AND "
	                    "l.subject = u.name AND l.until_us > ?) FROM users u ORDER BY "
	                    "u.name", &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == CU_USERS_MAX) {
			r = cu_fail(CU_ERR_LIMIT, "auth.db: more than %d users", CU_USERS_MAX);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct cu_auth_user *nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				r = cu_fail(CU_ERR_NOMEM, "out of memory");
				goto out;
			}
			v = nv;
		}
		struct cu_auth_user *u = &v[n];
		memset(u, 0, sizeof(*u));
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (name == NULL || strlen(name) > CU_USER_NAME_MAX) {
			r = cu_fail(CU_ERR_FORMAT, "auth.db: malformed user row");
			goto out;
		}
		n++;
		u->id = sqlite3_column_int64(st, 0);
		memcpy(u->name, name, strlen(name) + 1);
		struct cu_argon2_params p;
		uint8_t salt[64], hash[64];
		size_t sl, hl;
		if (cu_pw_parse((const char *)sqlite3_column_text(st, 2), &p, salt, &sl, hash,
		                &hl) == 0) {
			u->argon2_m_kib = p.m_cost_kib;
			u->argon2_t = p.t_cost;
			u->argon2_p = p.parallelism;
		}
		cu_wipe(hash, sizeof(hash));
		cu_error_clear();
		u->disabled = sqlite3_column_int(st, 3) != 0;
		u->created_us = sqlite3_column_int64(st, 4);
		u->password_changed_us = sqlite3_column_int64(st, 5);
		u->tokens_valid_after_us = sqlite3_column_int64(st, 6);
		u->locked_until_us = sqlite3_column_int64(st, 7);
		if ((r = cu_auth_names_of(a, "SELECT r.name FROM user_roles ur JOIN roles r ON "
		                  "r.id = ur.role_id WHERE ur.user_id = ? ORDER BY r.name", u->id,
		                  &u->roles, &u->nroles, CU_ROLES_MAX)) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(a->db, "listing users");
out:
	cu_db_done(st);
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		cu_auth_users_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void
cu_auth_users_free(struct cu_auth_user *u, size_t n)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(u[i].roles);
	free(u);
}

/* ---- roles ---- */

int
cu_auth_role_add(cu_auth *a, const char *role, struct cu_auth_event *ev)
{
	int64_t n;
	int r = cu_auth_role_name_check(role);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	if ((r = cu_db_begin(a->db, true)) < 0 ||
	    (r = cu_auth_query_int(a, &n, "SELECT count(*) FROM roles", "")) < 0)
		goto out;
	if (n >= CU_ROLES_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "already %d roles", CU_ROLES_MAX);
		goto out;
	}
	r = cu_auth_exec(a, "INSERT INTO roles(name, created_us) VALUES(?, ?)", "ti", role, now);
	if (r == CU_ERR_EXIST)
		r = cu_fail(r, "role \"%s\" already exists", role);
	if (r >= 0) {
		cu_auth_ev_init(ev, "role.add", now);
		EV_SET(ev, role, role);
	}
out:
	return cu_auth_finish(a, r);
}

int
cu_auth_role_delete(cu_auth *a, const char *role, struct cu_auth_event *ev)
{
	int64_t id;
	int r = cu_auth_role_name_check(role);
	if (r < 0)
		return r;
	int64_t now;
	if ((r = change_begin(a, cu_auth_role_id, role, &now, &id)) < 0)
		return r;
	if ((r = cu_auth_exec(a, "DELETE FROM roles WHERE id = ?", "i", id)) >= 0) {
		cu_auth_ev_init(ev, "role.delete", now);
		EV_SET(ev, role, role);
	}
	return cu_auth_finish(a, r);
}

/* Shared checks of grant and revoke. */
static int
grant_args(int fn, const char *scope)
{
	int r;
	if (fn < 0 || fn >= CU_FN_COUNT)
		return cu_fail(CU_ERR_INVAL, "unknown function %d", fn);
	if ((r = cu_auth_scope_check(scope)) < 0)
		return r;
	if (fn == CU_FN_ADMIN && strcmp(scope, "*") != 0)
		return cu_fail(CU_ERR_INVAL, "admin is site-wide: grant it on every camera (\"*\")");
	return 0;
}

int
cu_auth_role_grant(cu_auth *a, const char *role, int fn, const char *scope,
                   struct cu_auth_event *ev)
{
	int64_t id, gid, n, now;
	int r;
	if ((r = cu_auth_role_name_check(role)) < 0 || (r = grant_args(fn, scope)) < 0)
		return r;
	if ((r = change_begin(a, cu_auth_role_id, role, &now, &id)) < 0)
		return r;
	/* a group must exist when granted on, so that a typo is caught now */
	if (strncmp(scope, "group:", 6) == 0 && (r = group_id(a, scope + 6, &gid)) < 0)
		goto out;
	if ((r = cu_auth_query_int(a, &n, "SELECT count(*) FROM role_grants WHERE role_id = ?", "i",
	                   id)) < 0)
		goto out;
	if (n >= CU_GRANTS_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "role \"%s\" already has %d grants", role, CU_GRANTS_MAX);
		goto out;
	}
	r = cu_auth_exec(a, "INSERT INTO role_grants(role_id, function, scope) VALUES(?, ?, ?)", "itt", id,
	         cu_auth_function_name(fn), scope);
	if (r == CU_ERR_EXIST)
		r = cu_fail(r, "role \"%s\" already has %s on %s", role, cu_auth_function_name(fn),
		            scope);
	if (r >= 0) {
		cu_auth_ev_init(ev, "role.grant", now);
		EV_SET(ev, role, role);
		EV_SET(ev, function, cu_auth_function_name(fn));
		EV_SET(ev, scope, scope);
	}
out:
	return cu_auth_finish(a, r);
}

int
cu_auth_role_revoke(cu_auth *a, const char *role, int fn, const char *scope,
                    struct cu_auth_event *ev)
{
	int64_t id, now;
	int r;
	if ((r = cu_auth_role_name_check(role)) < 0 || (r = grant_args(fn, scope)) < 0)
		return r;
	if ((r = change_begin(a, cu_auth_role_id, role, &now, &id)) < 0)
		return r;
	r = cu_auth_exec(a, "DELETE FROM role_grants WHERE role_id = ? AND function = ? AND scope = ?",
	         "itt", id, cu_auth_function_name(fn), scope);
	if (r == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "role \"%s\" has no grant of %s on %s", role,
		            cu_auth_function_name(fn), scope);
	if (r >= 0) {
		cu_auth_ev_init(ev, "role.revoke", now);
		EV_SET(ev, role, role);
		EV_SET(ev, function, cu_auth_function_name(fn));
		EV_SET(ev, scope, scope);
	}
	return cu_auth_finish(a, r);
}

static int
assign(cu_auth *a, const char *role, const char *user, bool on, struct cu_auth_event *ev)
{
	int64_t rid, uid;
	int r;
	if ((r = cu_auth_role_name_check(role)) < 0 || (r = cu_auth_user_name_check(user)) < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	if ((r = cu_db_begin(a->db, true)) < 0 || (r = cu_auth_role_id(a, role, &rid)) < 0 ||
	    (r = user_id(a, user, &uid)) < 0)
		goto out;
	if (on)
		r = cu_auth_exec(a, "INSERT INTO user_roles(user_id, role_id) VALUES(?, ?)", "ii", uid, rid);
	else
		r = cu_auth_exec(a, "DELETE FROM user_roles WHERE user_id = ? AND role_id = ?", "ii", uid,
		         rid);
	if (r == CU_ERR_EXIST)
		r = cu_fail(r, "user \"%s\" already has role \"%s\"", user, role);
	else if (r == 0 && !on)
		r = cu_fail(CU_ERR_NOTFOUND, "user \"%s\" does not have role \"%s\"", user, role);
	if (r >= 0) {
		user_event(ev, on ? "role.assign" : "role.unassign", now, uid, user);
		EV_SET(ev, role, role);
	}
out:
	return cu_auth_finish(a, r);
}

int
cu_auth_role_assign(cu_auth *a, const char *role, const char *user, struct cu_auth_event *ev)
{
	return assign(a, role, user, true, ev);
}

int
cu_auth_role_unassign(cu_auth *a, const char *role, const char *user,
                      struct cu_auth_event *ev)
{
	return assign(a, role, user, false, ev);
}

int
cu_auth_role_list(cu_auth *a, struct cu_auth_role **ret, size_t *ret_n)
{
	struct cu_auth_role *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL, *gs = NULL;
	int r, rc;
	pthread_mutex_lock(&a->lock);
	if ((r = cu_db_stmt(a->db, "SELECT id, name FROM roles ORDER BY name", &st)) < 0 ||
	    (r = cu_db_stmt(a->db, "SELECT function, scope FROM role_grants WHERE role_id = ? "
	                    "ORDER BY scope, function", &gs)) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == CU_ROLES_MAX) {
			r = cu_fail(CU_ERR_LIMIT, "auth.db: more than %d roles", CU_ROLES_MAX);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct cu_auth_role *nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				r = cu_fail(CU_ERR_NOMEM, "out of memory");
				goto out;
			}
			v = nv;
		}
		struct cu_auth_role *ro = &v[n];
		memset(ro, 0, sizeof(*ro));
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (name == NULL || strlen(name) > CU_ROLE_NAME_MAX) {
			r = cu_fail(CU_ERR_FORMAT, "auth.db: malformed role row");
			goto out;
		}
		n++;
		ro->id = sqlite3_column_int64(st, 0);
		memcpy(ro->name, name, strlen(name) + 1);
		size_t gcap = 0;
		sqlite3_reset(gs);
		sqlite3_bind_int64(gs, 1, ro->id);
		while ((rc = sqlite3_step(gs)) == SQLITE_ROW) {
			const char *f = (const char *)sqlite3_column_text(gs, 0);
			const char *sc = (const char *)sqlite3_column_text(gs, 1);
			int fn;
			if (sc == NULL || strlen(sc) > CU_SCOPE_MAX || cu_auth_function_parse(f, &fn) < 0) {
				r = cu_fail(CU_ERR_FORMAT, "auth.db: malformed grant of role %s", ro->name);
				goto out;
			}
			if (ro->ngrants == CU_GRANTS_MAX) {
				r = cu_fail(CU_ERR_LIMIT, "auth.db: role %s has too many grants", ro->name);
				goto out;
			}
			if (ro->ngrants == gcap) {
				gcap = gcap ? gcap * 2 : 8;
				struct cu_auth_grant *ng = realloc(ro->grants, gcap * sizeof(*ng));
				if (ng == NULL) {
					r = cu_fail(CU_ERR_NOMEM, "out of memory");
					goto out;
				}
				ro->grants = ng;
			}
			ro->grants[ro->ngrants].function = fn;
			memcpy(ro->grants[ro->ngrants].scope, sc, strlen(sc) + 1);
			ro->ngrants++;
		}
		if (rc != SQLITE_DONE) {
			r = cu_db_fail(a->db, "listing grants");
			goto out;
		}
		if ((r = cu_auth_names_of(a, "SELECT u.name FROM user_roles ur JOIN users u ON "
		                  "u.id = ur.user_id WHERE ur.role_id = ? ORDER BY u.name", ro->id,
		                  &ro->users, &ro->nusers, CU_USERS_MAX)) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(a->db, "listing roles");
out:
	cu_db_done(st);
	cu_db_done(gs);
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		cu_auth_roles_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void
cu_auth_roles_free(struct cu_auth_role *ro, size_t n)
{
	if (ro == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(ro[i].grants);
		free(ro[i].users);
	}
	free(ro);
}

/* ---- camera groups ---- */

int
cu_auth_group_add(cu_auth *a, const char *group, struct cu_auth_event *ev)
{
	int64_t n;
	int r = cu_auth_plain_name_check("group", group);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	if ((r = cu_db_begin(a->db, true)) < 0 ||
	    (r = cu_auth_query_int(a, &n, "SELECT count(*) FROM cam_groups", "")) < 0)
		goto out;
	if (n >= CU_GROUPS_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "already %d camera groups", CU_GROUPS_MAX);
		goto out;
	}
	r = cu_auth_exec(a, "INSERT INTO cam_groups(name, created_us) VALUES(?, ?)", "ti", group, now);
	if (r == CU_ERR_EXIST)
		r = cu_fail(r, "camera group \"%s\" already exists", group);
	if (r >= 0) {
		cu_auth_ev_init(ev, "group.add", now);
		EV_SET(ev, group, group);
	}
out:
	return cu_auth_finish(a, r);
}

int
cu_auth_group_delete(cu_auth *a, const char *group, struct cu_auth_event *ev)
{
	int64_t id;
	char scope[CU_SCOPE_MAX + 1];
	int r = cu_auth_plain_name_check("group", group);
	if (r < 0)
		return r;
	int k = snprintf(scope, sizeof(scope), "group:%s", group);
	if (k < 0 || (size_t)k >= sizeof(scope))
		return cu_fail(CU_ERR_LIMIT, "group %s: scope longer than %d bytes", group,
		               CU_SCOPE_MAX);
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	int grants;
	if ((r = cu_db_begin(a->db, true)) < 0 || (r = group_id(a, group, &id)) < 0)
		goto out;
	/* grants on a group that is gone would come back with a new group of the name */
	if ((r = grants = cu_auth_exec(a, "DELETE FROM role_grants WHERE scope = ?", "t", scope)) < 0 ||
	    (r = cu_auth_exec(a, "DELETE FROM cam_groups WHERE id = ?", "i", id)) < 0)
		goto out;
	cu_auth_ev_init(ev, "group.delete", now);
	if (ev != NULL) {
		EV_SET(ev, group, group);
		cu_fmt_cut(ev->detail, sizeof(ev->detail), "grants removed=%d", grants);
	}
out:
	return cu_auth_finish(a, r);
}

static int
group_camera(cu_auth *a, const char *group, const char *camera, bool on,
             struct cu_auth_event *ev)
{
	int64_t id, n;
	int r;
	if ((r = cu_auth_plain_name_check("group", group)) < 0 || (r = cu_camera_name_check(camera)) < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	if ((r = cu_db_begin(a->db, true)) < 0 || (r = group_id(a, group, &id)) < 0)
		goto out;
	if (on) {
		if ((r = cu_auth_query_int(a, &n, "SELECT count(*) FROM camera_groups WHERE group_id = ?",
		                   "i", id)) < 0)
			goto out;
		if (n >= CU_CAMERAS_MAX) {
			r = cu_fail(CU_ERR_LIMIT, "camera group \"%s\" already has %d cameras", group,
			            CU_CAMERAS_MAX);
			goto out;
		}
		r = cu_auth_exec(a, "INSERT INTO camera_groups(group_id, camera) VALUES(?, ?)", "it", id,
		         camera);
		if (r == CU_ERR_EXIST)
			r = cu_fail(r, "camera \"%s\" is already in group \"%s\"", camera, group);
	} else {
		r = cu_auth_exec(a, "DELETE FROM camera_groups WHERE group_id = ? AND camera = ?", "it", id,
		         camera);
		if (r == 0)
			r = cu_fail(CU_ERR_NOTFOUND, "camera \"%s\" is not in group \"%s\"", camera,
			            group);
	}
	if (r >= 0) {
		cu_auth_ev_init(ev, on ? "group.camera_add" : "group.camera_remove", now);
		EV_SET(ev, group, group);
		EV_SET(ev, camera, camera);
	}
out:
	return cu_auth_finish(a, r);
}

int
cu_auth_group_camera_add(cu_auth *a, const char *group, const char *camera,
                         struct cu_auth_event *ev)
{
	return group_camera(a, group, camera, true, ev);
}

int
cu_auth_group_camera_remove(cu_auth *a, const char *group, const char *camera,
                            struct cu_auth_event *ev)
{
	return group_camera(a, group, camera, false, ev);
}

int
cu_auth_group_list(cu_auth *a, struct cu_auth_group **ret, size_t *ret_n)
{
	struct cu_auth_group *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int r, rc;
	pthread_mutex_lock(&a->lock);
	if ((r = cu_db_stmt(a->db, "SELECT id, name FROM cam_groups ORDER BY name", &st)) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == CU_GROUPS_MAX) {
			r = cu_fail(CU_ERR_LIMIT, "auth.db: more than %d groups", CU_GROUPS_MAX);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct cu_auth_group *nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				r = cu_fail(CU_ERR_NOMEM, "out of memory");
				goto out;
			}
			v = nv;
		}
		struct cu_auth_group *g = &v[n];
		memset(g, 0, sizeof(*g));
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (name == NULL || strlen(name) > CU_GROUP_NAME_MAX) {
			r = cu_fail(CU_ERR_FORMAT, "auth.db: malformed group row");
			goto out;
		}
		n++;
		memcpy(g->name, name, strlen(name) + 1);
		if ((r = cu_auth_names_of(a, "SELECT camera FROM camera_groups WHERE group_id = ? ORDER BY "
		                  "camera", sqlite3_column_int64(st, 0), &g->cameras, &g->ncameras,
		                  CU_CAMERAS_MAX)) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(a->db, "listing groups");
out:
	cu_db_done(st);
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		cu_auth_groups_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void
cu_auth_groups_free(struct cu_auth_group *g, size_t n)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(g[i].cameras);
	free(g);
}

struct json_t *
cu_auth_event_json(const struct cu_auth_event *ev)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{"user", offsetof(struct cu_auth_event, user)},
		{"role", offsetof(struct cu_auth_event, role)},
		{"group", offsetof(struct cu_auth_event, group)},
		{"function", offsetof(struct cu_auth_event, function)},
		{"scope", offsetof(struct cu_auth_event, scope)},
		{"camera", offsetof(struct cu_auth_event, camera)},
		{"detail", offsetof(struct cu_auth_event, detail)},
		{"profile", offsetof(struct cu_auth_event, profile)},
	};
	json_t *o = json_object();
	for (size_t i = 0; o != NULL && i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = (const char *)ev + fields[i].off;
		if (v[0] != '\0' && json_object_set_new(o, fields[i].name, json_string(v)) < 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}
