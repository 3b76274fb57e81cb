/* Export profiles in auth.db: what a user may export and how (formats,
 * password, encryption, re-export, comments, player), each setting locked
 * (the server enforces it) or not (a default the client may change). Roles
 * hold at most one profile; a user's profiles are their roles', or the
 * built-in "default" when they have none. docs/auth.md, "Export profiles". */
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_int.h"
#include "custody/error.h"
#include "custody/text.h"

/* Schema version 2. signature has no column: it is always on (docs/auth.md).
 * IF NOT EXISTS: the same text creates a new database and upgrades a
 * version 1 one. */
const char cu_auth_schema_profiles[] =
	"CREATE TABLE IF NOT EXISTS export_profiles("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  formats INTEGER NOT NULL CHECK(formats BETWEEN 1 AND 7),"
	"  password_required INTEGER NOT NULL CHECK(password_required IN (0, 1)),"
	"  password_required_locked INTEGER NOT NULL CHECK(password_required_locked IN (0, 1)),"
	"  password_min_length INTEGER NOT NULL CHECK(password_min_length BETWEEN 8 AND 128),"
	"  password_min_length_locked INTEGER NOT NULL CHECK(password_min_length_locked IN (0, 1)),"
	"  encryption INTEGER NOT NULL CHECK(encryption IN (0, 1)),"
	"  encryption_locked INTEGER NOT NULL CHECK(encryption_locked IN (0, 1)),"
	"  prevent_reexport INTEGER NOT NULL CHECK(prevent_reexport IN (0, 1)),"
	"  prevent_reexport_locked INTEGER NOT NULL CHECK(prevent_reexport_locked IN (0, 1)),"
	"  comments_required INTEGER NOT NULL CHECK(comments_required IN (0, 1)),"
	"  comments_required_locked INTEGER NOT NULL CHECK(comments_required_locked IN (0, 1)),"
	"  include_player INTEGER NOT NULL CHECK(include_player IN (0, 1)),"
	"  include_player_locked INTEGER NOT NULL CHECK(include_player_locked IN (0, 1)),"
	"  created_us INTEGER NOT NULL,"
	"  updated_us INTEGER NOT NULL,"
	"  CHECK(password_required = 0 OR encryption = 1));"
	/* role_id is the key: a role has at most one profile */
	"CREATE TABLE IF NOT EXISTS role_profiles("
	"  role_id INTEGER PRIMARY KEY REFERENCES roles(id) ON DELETE CASCADE,"
	"  profile_id INTEGER NOT NULL REFERENCES export_profiles(id) ON DELETE CASCADE);"
	"CREATE INDEX IF NOT EXISTS role_profiles_by_profile ON role_profiles(profile_id);";

/* The columns of a profile row, in the order read_row expects. */
#define PROFILE_COLUMNS                                                                   \
	"p.id, p.name, p.formats, p.password_required, p.password_required_locked, "          \
	"p.password_min_length, p.password_min_length_locked, p.encryption, "                 \
	"p.encryption_locked, p.prevent_reexport, p.prevent_reexport_locked, "                \
	"p.comments_required, p.comments_required_locked, p.include_player, "                 \
	"p.include_player_locked, p.created_us, p.updated_us"
#define PROFILE_NCOLUMNS 17

/* The settings stored in columns (signature is not), in column order. */
static const int stored[] = {
	CU_PS_PASSWORD_REQUIRED, CU_PS_PASSWORD_MIN_LENGTH, CU_PS_ENCRYPTION,
	CU_PS_PREVENT_REEXPORT, CU_PS_COMMENTS_REQUIRED, CU_PS_INCLUDE_PLAYER,
};
#define NSTORED (sizeof(stored) / sizeof(stored[0]))

static const char *const format_names[] = {"evidence", "mp4", "stills"};

static const char *const setting_names[CU_PS_COUNT] = {
	"password_required", "password_min_length", "encryption", "signature",
	"prevent_reexport", "comments_required", "include_player",
};

const char *
cu_auth_export_format_name(unsigned format)
{
	for (unsigned i = 0; i < 3; i++)
		if (format == 1u << i)
			return format_names[i];
	return "?";
}

int
cu_auth_export_format_parse(const char *s, unsigned *ret)
{
	for (unsigned i = 0; i < 3; i++) {
		if (s != NULL && strcmp(s, format_names[i]) == 0) {
			*ret = 1u << i;
			return 0;
		}
	}
	return cu_fail(CU_ERR_INVAL, "unknown export format \"%.64s\": expected evidence, mp4 or "
	               "stills", s ? s : "");
}

const char *
cu_auth_profile_setting_name(int setting)
{
	return setting >= 0 && setting < CU_PS_COUNT ? setting_names[setting] : "?";
}

int
cu_auth_profile_setting_parse(const char *s, int *ret)
{
	for (int i = 0; i < CU_PS_COUNT; i++) {
		if (s != NULL && strcmp(s, setting_names[i]) == 0) {
			*ret = i;
			return 0;
		}
	}
	return cu_fail(CU_ERR_INVAL, "unknown profile setting \"%.64s\": expected "
	               "password_required, password_min_length, encryption, signature, "
	               "prevent_reexport, comments_required or include_player", s ? s : "");
}

void
cu_auth_profile_default(struct cu_export_profile *ret)
{
	memset(ret, 0, sizeof(*ret));
	_Static_assert(sizeof(CU_PROFILE_DEFAULT) <= sizeof(ret->name), "the name fits");
	memcpy(ret->name, CU_PROFILE_DEFAULT, sizeof(CU_PROFILE_DEFAULT));
	ret->builtin = true;
	ret->formats = CU_EXPORT_EVIDENCE;
	ret->set[CU_PS_PASSWORD_REQUIRED] = (struct cu_profile_value){1, true};
	ret->set[CU_PS_PASSWORD_MIN_LENGTH] = (struct cu_profile_value){12, true};
	ret->set[CU_PS_ENCRYPTION] = (struct cu_profile_value){1, true};
	ret->set[CU_PS_SIGNATURE] = (struct cu_profile_value){1, true};
	ret->set[CU_PS_PREVENT_REEXPORT] = (struct cu_profile_value){0, false};
	ret->set[CU_PS_COMMENTS_REQUIRED] = (struct cu_profile_value){1, true};
	ret->set[CU_PS_INCLUDE_PLAYER] = (struct cu_profile_value){1, false};
}

static bool
is_default_name(const char *name)
{
	return name != NULL && strcasecmp(name, CU_PROFILE_DEFAULT) == 0;
}

static int
name_check(const char *name)
{
	int r = cu_auth_plain_name_check("profile", name);
	if (r < 0)
		return r;
	if (is_default_name(name))
		return cu_fail(CU_ERR_INVAL, "\"%s\" is the built-in profile's name: choose another",
		               name);
	return 0;
}

int
cu_auth_profile_check(const struct cu_export_profile *p)
{
	int r = name_check(p->name);
	if (r < 0)
		return r;
	if (p->formats == 0 || (p->formats & ~CU_EXPORT_FORMATS_ALL) != 0)
		return cu_fail(CU_ERR_INVAL, "profile %s: allow at least one of the formats evidence, "
		               "mp4 and stills", p->name);
	for (int i = 0; i < CU_PS_COUNT; i++) {
		int v = p->set[i].value;
		if (i == CU_PS_PASSWORD_MIN_LENGTH) {
			if (v < CU_PROFILE_PASSWORD_MIN || v > CU_PROFILE_PASSWORD_MIN_MAX)
				return cu_fail(CU_ERR_INVAL, "profile %s: password_min_length must be %d "
				               "to %d characters (%d given)", p->name,
				               CU_PROFILE_PASSWORD_MIN, CU_PROFILE_PASSWORD_MIN_MAX, v);
		} else if (v != 0 && v != 1) {
			return cu_fail(CU_ERR_INVAL, "profile %s: %s is on or off (1 or 0, %d given)",
			               p->name, setting_names[i], v);
		}
	}
	/* Packages are always signed: a profile that said otherwise would
	 * describe exports that custody does not make. */
	if (p->set[CU_PS_SIGNATURE].value != 1)
		return cu_fail(CU_ERR_INVAL, "profile %s: signature cannot be off: custody signs "
		               "every evidence package (the export signature is what proves who "
		               "exported the footage, and the recording signatures inside cannot be "
		               "removed)", p->name);
	if (p->set[CU_PS_PASSWORD_REQUIRED].value && !p->set[CU_PS_ENCRYPTION].value)
		return cu_fail(CU_ERR_INVAL, "profile %s: password_required needs encryption on: the "
		               "password only protects an encrypted package", p->name);
	return 0;
}

int
cu_auth_profile_describe(const struct cu_export_profile *p, char *buf, size_t len)
{
	size_t used = 0;
	int k = snprintf(buf, len, "formats=");
	if (k < 0 || (size_t)k >= len)
		return cu_fail(CU_ERR_LIMIT, "profile description: buffer too small");
	used = (size_t)k;
	bool first = true;
	for (unsigned i = 0; i < 3; i++) {
		if (!(p->formats & (1u << i)))
			continue;
		k = snprintf(buf + used, len - used, "%s%s", first ? "" : ",", format_names[i]);
		if (k < 0 || (size_t)k >= len - used)
			return cu_fail(CU_ERR_LIMIT, "profile description: buffer too small");
		used += (size_t)k;
		first = false;
	}
	for (int i = 0; i < CU_PS_COUNT; i++) {
		const char *locked = p->set[i].locked ? "(locked)" : "";
		if (i == CU_PS_PASSWORD_MIN_LENGTH)
			k = snprintf(buf + used, len - used, " %s=%d%s", setting_names[i],
			             p->set[i].value, locked);
		else
			k = snprintf(buf + used, len - used, " %s=%s%s", setting_names[i],
			             p->set[i].value ? "on" : "off", locked);
		if (k < 0 || (size_t)k >= len - used)
			return cu_fail(CU_ERR_LIMIT, "profile description: buffer too small");
		used += (size_t)k;
	}
	return 0;
}

/* ---- rows ---- */

/* Reads the PROFILE_NCOLUMNS columns from first on. A row the schema's
 * checks should have kept out (a hand-edited auth.db) is CU_ERR_FORMAT. */
static int
read_row(sqlite3_stmt *st, int first, struct cu_export_profile *ret, int64_t *ret_id)
{
	struct cu_export_profile p;
	memset(&p, 0, sizeof(p));
	const char *name = (const char *)sqlite3_column_text(st, first + 1);
	if (name == NULL || strlen(name) > CU_PROFILE_NAME_MAX)
		return cu_fail(CU_ERR_FORMAT, "auth.db: malformed profile row");
	memcpy(p.name, name, strlen(name) + 1);
	int64_t formats = sqlite3_column_int64(st, first + 2);
	p.formats = formats >= 0 && formats <= CU_EXPORT_FORMATS_ALL ? (unsigned)formats : 0;
	for (size_t i = 0; i < NSTORED; i++) {
		int64_t v = sqlite3_column_int64(st, first + 3 + 2 * (int)i);
		p.set[stored[i]].value = v >= 0 && v <= CU_PROFILE_PASSWORD_MIN_MAX ? (int)v : -1;
		p.set[stored[i]].locked = sqlite3_column_int64(st, first + 4 + 2 * (int)i) != 0;
	}
	p.set[CU_PS_SIGNATURE] = (struct cu_profile_value){1, true};
	p.created_us = sqlite3_column_int64(st, first + 15);
	p.updated_us = sqlite3_column_int64(st, first + 16);
	int r = cu_auth_profile_check(&p);
	if (r < 0)
		return cu_fail_prefix(CU_ERR_FORMAT, "auth.db: malformed profile row");
	*ret_id = sqlite3_column_int64(st, first);
	*ret = p;
	return 0;
}

static int
profile_id(cu_auth *a, const char *name, int64_t *ret)
{
	int r = cu_auth_query_int(a, ret, "SELECT id FROM export_profiles WHERE name = ?", "t", name);
	return r == CU_ERR_NOTFOUND ? cu_fail(r, "no export profile named \"%s\"", name) : r;
}

static const char roles_of_profile[] =
	"SELECT r.name FROM role_profiles rp JOIN roles r ON r.id = rp.role_id "
	"WHERE rp.profile_id = ? ORDER BY r.name";

void
cu_auth_profile_clear(struct cu_export_profile *p)
{
	if (p == NULL)
		return;
	free(p->roles);
	p->roles = NULL;
	p->nroles = 0;
}

void
cu_auth_profiles_free(struct cu_export_profile *p, size_t n)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(p[i].roles);
	free(p);
}

/* Appends one zeroed profile to a growing array. */
static int
push(struct cu_export_profile **v, size_t *n, size_t *cap, struct cu_export_profile **ret)
{
	if (*n == CU_PROFILES_MAX)
		return cu_fail(CU_ERR_LIMIT, "auth.db: more than %d export profiles", CU_PROFILES_MAX);
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct cu_export_profile *nv = realloc(*v, nc * sizeof(**v));
		if (nv == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		*v = nv;
		*cap = nc;
	}
	struct cu_export_profile *p = &(*v)[(*n)++];
	memset(p, 0, sizeof(*p));
	*ret = p;
	return 0;
}

/* ---- changes ---- */

static int
store_profile(cu_auth *a, const struct cu_export_profile *given, bool add,
              struct cu_auth_event *ev)
{
	char detail[sizeof(((struct cu_auth_event *)0)->detail)];
	int64_t n;
	int r;
	if ((r = cu_auth_profile_check(given)) < 0)
		return r;
	/* signature is on (checked) and, having no other value, as good as locked */
	struct cu_export_profile copy = *given;
	const struct cu_export_profile *p = &copy;
	copy.set[CU_PS_SIGNATURE].locked = true;
	if ((r = cu_auth_profile_describe(p, detail, sizeof(detail))) < 0)
		return r;
	const struct cu_profile_value *s = p->set;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	if ((r = cu_db_begin(a->db, true)) < 0)
		goto out;
	if (add) {
		if ((r = cu_auth_query_int(a, &n, "SELECT count(*) FROM export_profiles", "")) < 0)
			goto out;
		if (n >= CU_PROFILES_MAX) {
			r = cu_fail(CU_ERR_LIMIT, "already %d export profiles", CU_PROFILES_MAX);
			goto out;
		}
	}
	/* both take the same values in the same order; the insert's created_us
	 * is ?14 again, its updated_us */
	r = cu_auth_exec(a, add ? "INSERT INTO export_profiles(formats, password_required, "
	                 "password_required_locked, password_min_length, "
	                 "password_min_length_locked, encryption, encryption_locked, "
	                 "prevent_reexport, prevent_reexport_locked, comments_required, "
	                 "comments_required_locked, include_player, include_player_locked, "
	                 "updated_us, name, created_us) "
	                 "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?14)"
	                 : "UPDATE export_profiles SET formats = ?, password_required = ?, "
	                 "password_required_locked = ?, password_min_length = ?, "
	                 "password_min_length_locked = ?, encryption = ?, "
	                 "encryption_locked = ?, prevent_reexport = ?, "
	                 "prevent_reexport_locked = ?, comments_required = ?, "
	                 "comments_required_locked = ?, include_player = ?, "
	                 "include_player_locked = ?, updated_us = ? WHERE name = ?",
	                 "iiiiiiiiiiiiiit", (int64_t)p->formats,
	                 (int64_t)s[CU_PS_PASSWORD_REQUIRED].value,
	                 (int64_t)s[CU_PS_PASSWORD_REQUIRED].locked,
	                 (int64_t)s[CU_PS_PASSWORD_MIN_LENGTH].value,
	                 (int64_t)s[CU_PS_PASSWORD_MIN_LENGTH].locked,
	                 (int64_t)s[CU_PS_ENCRYPTION].value, (int64_t)s[CU_PS_ENCRYPTION].locked,
	                 (int64_t)s[CU_PS_PREVENT_REEXPORT].value,
	                 (int64_t)s[CU_PS_PREVENT_REEXPORT].locked,
	                 (int64_t)s[CU_PS_COMMENTS_REQUIRED].value,
	                 (int64_t)s[CU_PS_COMMENTS_REQUIRED].locked,
	                 (int64_t)s[CU_PS_INCLUDE_PLAYER].value,
	                 (int64_t)s[CU_PS_INCLUDE_PLAYER].locked, now, p->name);
	if (add && r == CU_ERR_EXIST)
		r = cu_fail(r, "export profile \"%s\" already exists", p->name);
	else if (!add && r == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no export profile named \"%s\"", p->name);
	if (r >= 0) {
		cu_auth_ev_init(ev, add ? "profile.add" : "profile.update", now);
		EV_SET(ev, profile, p->name);
		EV_SET(ev, detail, detail);
	}
out:
	return cu_auth_finish(a, r);
}

int
cu_auth_profile_add(cu_auth *a, const struct cu_export_profile *p, struct cu_auth_event *ev)
{
	return store_profile(a, p, true, ev);
}

int
cu_auth_profile_update(cu_auth *a, const struct cu_export_profile *p, struct cu_auth_event *ev)
{
	if (is_default_name(p->name))
		return cu_fail(CU_ERR_INVAL, "the built-in profile \"%s\" cannot be changed: add a "
		               "profile and assign it to the roles instead", p->name);
	return store_profile(a, p, false, ev);
}

int
cu_auth_profile_delete(cu_auth *a, const char *name, struct cu_auth_event *ev)
{
	int64_t id, roles;
	int r = cu_auth_plain_name_check("profile", name);
	if (r < 0)
		return r;
	if (is_default_name(name))
		return cu_fail(CU_ERR_INVAL, "the built-in profile \"%s\" cannot be deleted", name);
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	if ((r = cu_db_begin(a->db, true)) < 0 || (r = profile_id(a, name, &id)) < 0 ||
	    (r = cu_auth_query_int(a, &roles, "SELECT count(*) FROM role_profiles WHERE "
	                           "profile_id = ?", "i", id)) < 0 ||
	    (r = cu_auth_exec(a, "DELETE FROM export_profiles WHERE id = ?", "i", id)) < 0)
		goto out;
	cu_auth_ev_init(ev, "profile.delete", now);
	if (ev != NULL) {
		EV_SET(ev, profile, name);
		cu_fmt_cut(ev->detail, sizeof(ev->detail), "roles unassigned=%lld", (long long)roles);
	}
out:
	return cu_auth_finish(a, r);
}

int
cu_auth_profile_assign(cu_auth *a, const char *role, const char *profile,
                       struct cu_auth_event *ev)
{
	int64_t rid, pid = 0;
	char old[CU_PROFILE_NAME_MAX + 1] = "";
	int r;
	if ((r = cu_auth_role_name_check(role)) < 0)
		return r;
	if (profile != NULL && is_default_name(profile))
		return cu_fail(CU_ERR_INVAL, "the built-in profile \"%s\" is not assigned: a role "
		               "without a profile gives it (unassign the role's profile)", profile);
	if (profile != NULL && (r = name_check(profile)) < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	sqlite3_stmt *st = NULL;
	if ((r = cu_db_begin(a->db, true)) < 0 || (r = cu_auth_role_id(a, role, &rid)) < 0)
		goto out;
	if (profile != NULL && (r = profile_id(a, profile, &pid)) < 0)
		goto out;
	/* the profile the role had, for the event */
	if ((r = cu_db_stmt(a->db, "SELECT p.name FROM role_profiles rp JOIN export_profiles p "
	                    "ON p.id = rp.profile_id WHERE rp.role_id = ?", &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, rid);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		if (n != NULL && strlen(n) <= CU_PROFILE_NAME_MAX)
			memcpy(old, n, strlen(n) + 1);
	} else if (rc != SQLITE_DONE) {
		r = cu_db_fail(a->db, "reading the role's profile");
		goto out;
	}
	if (profile == NULL) {
		if (old[0] == '\0') {
			r = cu_fail(CU_ERR_NOTFOUND, "role \"%s\" has no export profile", role);
			goto out;
		}
		r = cu_auth_exec(a, "DELETE FROM role_profiles WHERE role_id = ?", "i", rid);
	} else {
		if (strcmp(old, profile) == 0) {
			r = cu_fail(CU_ERR_EXIST, "role \"%s\" already has export profile \"%s\"", role,
			            profile);
			goto out;
		}
		r = cu_auth_exec(a, "INSERT INTO role_profiles(role_id, profile_id) VALUES(?, ?) "
		                 "ON CONFLICT(role_id) DO UPDATE SET profile_id = excluded.profile_id",
		                 "ii", rid, pid);
	}
	if (r < 0)
		goto out;
	cu_auth_ev_init(ev, profile != NULL ? "profile.assign" : "profile.unassign", now);
	if (ev != NULL) {
		EV_SET(ev, role, role);
		EV_SET(ev, profile, profile != NULL ? profile : old);
		if (profile != NULL && old[0] != '\0')
			cu_fmt_cut(ev->detail, sizeof(ev->detail), "replaced=%s", old);
	}
out:
	cu_db_done(st);
	return cu_auth_finish(a, r);
}

/* ---- queries ---- */

int
cu_auth_profile_get(cu_auth *a, const char *name, struct cu_export_profile *ret)
{
	struct cu_export_profile p;
	int64_t id = 0;
	sqlite3_stmt *st = NULL;
	int r;
	if (is_default_name(name)) {
		cu_auth_profile_default(ret);
		return 0;
	}
	if ((r = cu_auth_plain_name_check("profile", name)) < 0)
		return r;
	if (!a->has_profiles)
		return cu_fail(CU_ERR_NOTFOUND, "no export profile named \"%s\"", name);
	pthread_mutex_lock(&a->lock);
	if ((r = cu_db_stmt(a->db, "SELECT " PROFILE_COLUMNS " FROM export_profiles p "
	                    "WHERE p.name = ?", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		r = cu_fail(CU_ERR_NOTFOUND, "no export profile named \"%s\"", name);
	else if (rc != SQLITE_ROW)
		r = cu_db_fail(a->db, "reading an export profile");
	else if ((r = read_row(st, 0, &p, &id)) == 0)
		r = cu_auth_names_of(a, roles_of_profile, id, &p.roles, &p.nroles, CU_ROLES_MAX);
out:
	cu_db_done(st);
	pthread_mutex_unlock(&a->lock);
	if (r == 0)
		*ret = p;
	return r;
}

/* Ends a listing of export profiles begun under a->lock with statement st:
 * releases both, then hands the n profiles v to the caller (*ret, *ret_n;
 * free with cu_auth_profiles_free) and returns 0, or, when r is an error,
 * frees them and returns r. */
static int
list_end(cu_auth *a, sqlite3_stmt *st, int r, struct cu_export_profile *v, size_t n,
         struct cu_export_profile **ret, size_t *ret_n)
{
	cu_db_done(st);
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		cu_auth_profiles_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int
cu_auth_profile_list(cu_auth *a, struct cu_export_profile **ret, size_t *ret_n)
{
	struct cu_export_profile *v = NULL, *p = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int r = 0, rc;
	if (!a->has_profiles) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	if ((r = cu_db_stmt(a->db, "SELECT " PROFILE_COLUMNS " FROM export_profiles p "
	                    "ORDER BY p.name", &st)) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id;
		if ((r = push(&v, &n, &cap, &p)) < 0 || (r = read_row(st, 0, p, &id)) < 0 ||
		    (r = cu_auth_names_of(a, roles_of_profile, id, &p->roles, &p->nroles,
		                          CU_ROLES_MAX)) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(a->db, "listing export profiles");
out:
	return list_end(a, st, r, v, n, ret, ret_n);
}

int
cu_auth_profiles_for_user(cu_auth *a, const char *user, struct cu_export_profile **ret,
                          size_t *ret_n)
{
	struct cu_export_profile *v = NULL, *p = NULL;
	size_t n = 0, cap = 0, rcap = 0;
	sqlite3_stmt *st = NULL;
	int64_t uid, last = -1;
	int r, rc;
	if ((r = cu_auth_user_name_check(user)) < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	r = cu_auth_query_int(a, &uid, "SELECT id FROM users WHERE name = ?", "t", user);
	if (r == CU_ERR_NOTFOUND)
		r = cu_fail(r, "no user named \"%s\"", user);
	if (r < 0)
		goto out;
	if (a->has_profiles) {
		/* one row per (profile, role of the user giving it), grouped by profile */
		if ((r = cu_db_stmt(a->db, "SELECT " PROFILE_COLUMNS ", r.name FROM user_roles ur "
		                    "JOIN role_profiles rp ON rp.role_id = ur.role_id "
		                    "JOIN roles r ON r.id = ur.role_id "
		                    "JOIN export_profiles p ON p.id = rp.profile_id "
		                    "WHERE ur.user_id = ? ORDER BY p.name, r.name", &st)) < 0)
			goto out;
		sqlite3_bind_int64(st, 1, uid);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(st, 0);
			const char *role = (const char *)sqlite3_column_text(st, PROFILE_NCOLUMNS);
			if (role == NULL || strlen(role) > CU_ROLE_NAME_MAX) {
				r = cu_fail(CU_ERR_FORMAT, "auth.db: malformed role name");
				goto out;
			}
			if (id != last) {
				if ((r = push(&v, &n, &cap, &p)) < 0 || (r = read_row(st, 0, p, &id)) < 0)
					goto out;
				last = id;
				rcap = 0;
			}
			if (p->nroles == CU_ROLES_MAX) {
				r = cu_fail(CU_ERR_LIMIT, "auth.db: more than %d roles", CU_ROLES_MAX);
				goto out;
			}
			if (p->nroles == rcap) {
				size_t nc = rcap ? rcap * 2 : 4;
				void *nr = realloc(p->roles, nc * sizeof(*p->roles));
				if (nr == NULL) {
					r = cu_fail(CU_ERR_NOMEM, "out of memory");
					goto out;
				}
				p->roles = nr;
				rcap = nc;
			}
			memcpy(p->roles[p->nroles++], role, strlen(role) + 1);
		}
		if (rc != SQLITE_DONE) {
			r = cu_db_fail(a->db, "reading the user's export profiles");
			goto out;
		}
	}
	if (n == 0) {
		if ((r = push(&v, &n, &cap, &p)) < 0)
			goto out;
		cu_auth_profile_default(p);
	}
out:
	return list_end(a, st, r, v, n, ret, ret_n);
}

/* ---- applying a profile to an export ---- */

static bool
blank(const char *s)
{
	return s == NULL || strspn(s, " \t\r\n") == strlen(s);
}

/* Unicode characters (code points) of a valid UTF-8 string. */
static size_t
characters(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

static int
refuse(struct cu_export_decision *d, int err, const char *setting, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
refuse(struct cu_export_decision *d, int err, const char *setting, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(msg, sizeof(msg), fmt, ap); /* a longer message is cut: it is advice */
	va_end(ap);
	d->setting = setting;
	d->forbidden = err == CU_ERR_AUTH;
	return cu_fail(err, "%s", msg);
}

/* The profile q names among ps, or the only one. */
static int
pick(const struct cu_export_profile *ps, size_t n, const struct cu_export_ask *q,
     struct cu_export_decision *d, const struct cu_export_profile **ret)
{
	char names[512] = "";
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names);
		int k = snprintf(names + l, sizeof(names) - l, "%s%s", i ? ", " : "", ps[i].name);
		if (k < 0 || (size_t)k >= sizeof(names) - l)
			break;                      /* a cut list of names is still a useful hint */
	}
	for (size_t i = 0; q->profile != NULL && i < n; i++)
		if (strcmp(ps[i].name, q->profile) == 0)
			*ret = &ps[i];
	if (q->profile != NULL && *ret == NULL)
		return refuse(d, CU_ERR_AUTH, "profile", "\"%.64s\" is not one of your export "
		              "profiles (yours: %s)", q->profile, n ? names : "none");
	if (*ret == NULL && n != 1)
		return refuse(d, n ? CU_ERR_INVAL : CU_ERR_AUTH, "profile",
		              n ? "you have several export profiles (%s): name one" :
		                  "no export profile applies%s", names);
	if (*ret == NULL)
		*ret = &ps[0];
	int k = snprintf(d->profile, sizeof(d->profile), "%s", (*ret)->name);
	if (k < 0 || (size_t)k >= sizeof(d->profile))
		return cu_fail(CU_ERR_LIMIT, "export profile name longer than %zu bytes",
		               sizeof(d->profile) - 1);
	return 0;
}

/* The locked booleans: what the request asks must be what the profile says. */
static int
flags(const struct cu_export_profile *p, const struct cu_export_ask *q,
      struct cu_export_decision *d)
{
	struct {
		int setting, asked;
		bool *out;
	} f[] = {
		{CU_PS_ENCRYPTION, q->encrypt, &d->encrypt},
		{CU_PS_PREVENT_REEXPORT, q->prevent_reexport, &d->prevent_reexport},
		{CU_PS_INCLUDE_PLAYER, q->include_player, &d->include_player},
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		const struct cu_profile_value *v = &p->set[f[i].setting];
		const char *name = cu_auth_profile_setting_name(f[i].setting);
		if (f[i].asked >= 0 && v->locked && f[i].asked != v->value)
			return refuse(d, CU_ERR_AUTH, name, "export profile %s locks %s %s: the "
			              "request may not turn it %s", p->name, name,
			              v->value ? "on" : "off", f[i].asked ? "on" : "off");
		*f[i].out = f[i].asked >= 0 ? f[i].asked != 0 : v->value != 0;
	}
	return 0;
}

/* The package password against the profile, once encryption is decided. */
static int
password(const struct cu_export_profile *p, const struct cu_export_ask *q,
         struct cu_export_decision *d)
{
	const struct cu_profile_value *req = &p->set[CU_PS_PASSWORD_REQUIRED];
	const struct cu_profile_value *min = &p->set[CU_PS_PASSWORD_MIN_LENGTH];
	if (!d->encrypt) {
		if (req->value && req->locked)
			return refuse(d, CU_ERR_AUTH, "password_required", "export profile %s requires "
			              "a password, and a password protects only an encrypted package",
			              p->name);
		if (q->password != NULL)
			return refuse(d, CU_ERR_INVAL, NULL, "a password protects only an encrypted "
			              "package: leave it out, or do not turn encryption off");
		return 0;
	}
	if (q->password == NULL || q->password[0] == '\0') {
		if (req->value)
			return refuse(d, CU_ERR_INVAL, "password_required", "export profile %s requires "
			              "a password (at least %d characters) for the package", p->name,
			              min->locked ? min->value : CU_PROFILE_PASSWORD_MIN);
		return refuse(d, CU_ERR_INVAL, NULL, "an encrypted package needs a password (or "
		              "encryption turned off)");
	}
	/* an unlocked minimum is advice for the client; the package's own floor
	 * always holds */
	int need = min->locked ? min->value : CU_PROFILE_PASSWORD_MIN;
	size_t got = characters(q->password);
	if (got < (size_t)need)
		return refuse(d, CU_ERR_INVAL, "password_min_length", "the password must be at "
		              "least %d characters long (%zu given)", need, got);
	return 0;
}

int
cu_auth_profile_decide(const struct cu_export_profile *ps, size_t n,
                       const struct cu_export_ask *q, struct cu_export_decision *ret)
{
	const struct cu_export_profile *p = NULL;
	int r;
	memset(ret, 0, sizeof(*ret));
	if ((r = pick(ps, n, q, ret, &p)) < 0)
		return r;
	if (!(p->formats & q->format)) {
		char allowed[64] = "";
		for (unsigned b = 1; b <= CU_EXPORT_STILLS; b <<= 1)
			if (p->formats & b) {
				size_t l = strlen(allowed);
				cu_fmt_cut(allowed + l, sizeof(allowed) - l, "%s%s", l ? ", " : "",
				           cu_auth_export_format_name(b));
			}
		return refuse(ret, CU_ERR_AUTH, "formats", "export profile %s does not allow %s "
		              "exports (it allows: %s)", p->name, cu_auth_export_format_name(q->format),
		              allowed);
	}
	if (p->set[CU_PS_COMMENTS_REQUIRED].value && p->set[CU_PS_COMMENTS_REQUIRED].locked &&
	    blank(q->comments))
		return refuse(ret, CU_ERR_INVAL, "comments_required", "export profile %s requires "
		              "comments: say why this footage is exported", p->name);
	if (q->format != CU_EXPORT_EVIDENCE) {
		const char *only = q->password ? "password" : q->encrypt >= 0 ? "encrypt"
		                   : q->prevent_reexport >= 0 ? "prevent_reexport"
		                   : q->include_player >= 0 ? "include_player" : NULL;
		if (only != NULL)
			return refuse(ret, CU_ERR_INVAL, NULL, "%s applies to evidence exports only (%s "
			              "files are neither encrypted nor signed)", only,
			              cu_auth_export_format_name(q->format));
		return 0;
	}
	if ((r = flags(p, q, ret)) < 0)
		return r;
	return password(p, q, ret);
}
