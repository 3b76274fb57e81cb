/* Evidence locks and bookmarks: rows in the catalogue (catalog.db).
 *
 * A lock names cameras and a time span whose footage retention keeps until
 * the lock is deleted or expires; a bookmark marks a moment or a span of one
 * camera. Neither is evidence (nothing here is signed): locks steer
 * retention, bookmarks help people find footage. Every change is one
 * durable (synchronous=FULL) transaction. A catalogue written before these
 * tables existed reads as having none; its first writable open adds them
 * (cu_catalog_open). See docs/formats/media-database.md §Catalogue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody/time.h"
#include "store/store_int.h"
#include "custody/error.h"
#include "custody/text.h"

/* 10000-01-01T00:00:00Z: times are after the epoch and in years up to 9999,
 * the range the ISO 8601 helpers read and write */
#define TIME_END_US INT64_C(253402300800000000)

static const char lock_schema[] =
	"CREATE TABLE IF NOT EXISTS locks("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  headline TEXT NOT NULL,"
	"  description TEXT NOT NULL,"
	"  from_us INTEGER NOT NULL,"
	"  to_us INTEGER NOT NULL,"
	"  expires_us INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  created_us INTEGER NOT NULL,"
	"  updated_us INTEGER NOT NULL,"
	"  CHECK(from_us < to_us));"
	"CREATE TABLE IF NOT EXISTS lock_cameras("
	"  lock_id INTEGER NOT NULL REFERENCES locks(id) ON DELETE CASCADE,"
	"  pos INTEGER NOT NULL,"
	"  camera INTEGER NOT NULL REFERENCES cameras(id),"
	"  PRIMARY KEY(lock_id, pos),"
	"  UNIQUE(lock_id, camera)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS lock_cameras_camera ON lock_cameras(camera);"
	"CREATE TABLE IF NOT EXISTS bookmarks("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  camera INTEGER NOT NULL REFERENCES cameras(id),"
	"  at_us INTEGER NOT NULL,"
	"  end_us INTEGER NOT NULL,"
	"  title TEXT NOT NULL,"
	"  description TEXT NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  created_us INTEGER NOT NULL,"
	"  CHECK(end_us = 0 OR end_us > at_us));"
	"CREATE INDEX IF NOT EXISTS bookmarks_camera_at ON bookmarks(camera, at_us);";

int
cu_lock_schema(cu_db *db)
{
	return cu_db_exec(db, lock_schema, "creating the lock and bookmark tables");
}

/* ---- checks of what callers pass ---- */

/* v under the one rule for text people type (util/text.h), at least one
 * byte when need: 0, or CU_ERR_INVAL with a detail naming what and field. */
static int
check_text(const char *what, const char *field, const char *v, size_t max, bool need,
           bool multiline)
{
	unsigned flags = (need ? CU_TEXT_NONEMPTY : 0) | (multiline ? CU_TEXT_MULTILINE : 0);
	int r = cu_text_check(v, strnlen(v, max + 1), max, flags);
	return r < 0 ? cu_fail_prefix(r, "%s %s", what, field) : 0;
}

static int
check_time(const char *what, const char *field, int64_t t)
{
	if (t <= 0 || t >= TIME_END_US)
		return cu_fail(CU_ERR_INVAL, "%s %s: %lld µs is not a time after 1970 and before the "
		               "year 10000", what, field, (long long)t);
	return 0;
}

static int
lock_check(const struct cu_lock *l, bool creating)
{
	static const char what[] = "evidence lock";
	int r;
	if ((r = check_text(what, "headline", l->headline, CU_LOCK_HEADLINE_MAX, true, false)) < 0 ||
	    (r = check_text(what, "description", l->description, CU_LOCK_DESCRIPTION_MAX, false,
	                    true)) < 0)
		return r;
	if (creating &&
	    (r = check_text(what, "created_by", l->created_by, CU_ACTOR_MAX, true, false)) < 0)
		return r;
	if (l->ncameras == 0 || l->ncameras > CU_LOCK_CAMERAS_MAX)
		return cu_fail(CU_ERR_INVAL, "%s cameras: name 1 to %d cameras (%zu given)", what,
		               CU_LOCK_CAMERAS_MAX, l->ncameras);
	for (size_t i = 0; i < l->ncameras; i++) {
		if (strnlen(l->cameras[i], CU_CAMERA_NAME_MAX + 1) > CU_CAMERA_NAME_MAX)
			return cu_fail(CU_ERR_INVAL, "%s cameras: name %zu is longer than %d bytes",
			               what, i + 1, CU_CAMERA_NAME_MAX);
		if ((r = cu_camera_name_check(l->cameras[i])) < 0)
			return cu_fail_prefix(r, "%s cameras", what);
		for (size_t k = 0; k < i; k++)
			if (strcmp(l->cameras[k], l->cameras[i]) == 0)
				return cu_fail(CU_ERR_INVAL, "%s cameras: \"%s\" is named twice", what,
				               l->cameras[i]);
	}
	if ((r = check_time(what, "from_us", l->from_us)) < 0 ||
	    (r = check_time(what, "to_us", l->to_us)) < 0)
		return r;
	if (l->from_us >= l->to_us)
		return cu_fail(CU_ERR_INVAL, "%s to_us: must be after from_us", what);
	if (l->expires_us != 0 && (r = check_time(what, "expires_us", l->expires_us)) < 0)
		return r;
	return 0;
}

static int
bookmark_check(const struct cu_bookmark *b)
{
	static const char what[] = "bookmark";
	int r;
	if (strnlen(b->camera, CU_CAMERA_NAME_MAX + 1) > CU_CAMERA_NAME_MAX)
		return cu_fail(CU_ERR_INVAL, "%s camera: longer than %d bytes", what,
		               CU_CAMERA_NAME_MAX);
	if ((r = cu_camera_name_check(b->camera)) < 0)
		return cu_fail_prefix(r, "%s camera", what);
	if ((r = check_time(what, "at_us", b->at_us)) < 0)
		return r;
	if (b->end_us != 0) {
		if ((r = check_time(what, "end_us", b->end_us)) < 0)
			return r;
		if (b->end_us <= b->at_us)
			return cu_fail(CU_ERR_INVAL, "%s end_us: must be after at_us (or 0 for a "
			               "moment)", what);
	}
	if ((r = check_text(what, "title", b->title, CU_BOOKMARK_TITLE_MAX, true, false)) < 0 ||
	    (r = check_text(what, "description", b->description, CU_BOOKMARK_DESCRIPTION_MAX, false,
	                    true)) < 0 ||
	    (r = check_text(what, "created_by", b->created_by, CU_ACTOR_MAX, true, false)) < 0)
		return r;
	return 0;
}

/* ---- SQL helpers; all called with db_lock held ---- */

/* Does the catalogue have this table? Older ones lack the lock tables. */
static int
have_table(cu_db *db, const char *name, bool *ret)
{
	sqlite3_stmt *st;
	int r = cu_db_prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
	                      "catalogue tables", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*ret = rc == SQLITE_ROW;
	else
		r = cu_db_fail(db, "catalogue tables");
	sqlite3_finalize(st);
	return r;
}

/* A write transaction whose commit is durable. BEGIN IMMEDIATE takes the
 * write lock at once, so what is checked inside stays true until COMMIT. */
static int
begin(cu_db *db)
{
	int r = cu_db_synchronous(db, true);
	if (r < 0)
		return r;
	if ((r = cu_db_begin(db, true)) < 0)
		cu_db_synchronous(db, false);
	return r;
}

/* Commits when r is 0, rolls back otherwise; returns the outcome. */
static int
finish(cu_db *db, int r)
{
	if (r == 0)
		r = cu_db_commit(db);
	else
		cu_db_rollback(db);
	int r2 = cu_db_synchronous(db, false);
	return r < 0 ? r : r2;
}

static int
camera_row(cu_db *db, const char *what, const char *name, int64_t *ret)
{
	sqlite3_stmt *st;
	int r = cu_db_prepare(db, "SELECT id FROM cameras WHERE name = ?", "cameras", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		r = cu_fail(CU_ERR_NOTFOUND, "%s: no camera named \"%s\" in this store", what, name);
	else
		r = cu_db_fail(db, "cameras");
	sqlite3_finalize(st);
	return r;
}

static int
count_rows(cu_db *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st;
	int r = cu_db_prepare(db, sql, "counting", &st);
	if (r < 0)
		return r;
	if (sqlite3_step(st) == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = cu_db_fail(db, "counting");
	sqlite3_finalize(st);
	return r;
}

/* A text column into a buffer of cap bytes; false when it does not fit. */
static bool
text_col(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return false;
	const unsigned char *v = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	if (n < 0 || (size_t)n >= cap || (n > 0 && (v == NULL || memchr(v, '\0', (size_t)n))))
		return false;
	if (n > 0)
		memcpy(dst, v, (size_t)n);
	dst[n] = '\0';
	return true;
}

/* Room for element n in a malloc'd array v of *cap elements of size sz:
 * returns v, or a larger copy (doubling), or NULL when out of memory (v is
 * then still valid and still the caller's). */
static void *
grow(void *v, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return v;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *nv = realloc(v, ncap * sz);
	if (nv != NULL)
		*cap = ncap;
	return nv;
}

/* ---- evidence locks ---- */

#define LOCK_COLUMNS "id, headline, description, from_us, to_us, expires_us, created_by, " \
                     "created_us, updated_us"

/* Reads one row of LOCK_COLUMNS and, through cams (bound to the lock id), its
 * cameras in the order they were given. */
static int
read_lock(cu_db *db, sqlite3_stmt *st, sqlite3_stmt *cams, struct cu_lock *l)
{
	memset(l, 0, sizeof(*l));
	l->id = sqlite3_column_int64(st, 0);
	l->from_us = sqlite3_column_int64(st, 3);
	l->to_us = sqlite3_column_int64(st, 4);
	l->expires_us = sqlite3_column_int64(st, 5);
	l->created_us = sqlite3_column_int64(st, 7);
	l->updated_us = sqlite3_column_int64(st, 8);
	if (!text_col(st, 1, l->headline, sizeof(l->headline)) ||
	    !text_col(st, 2, l->description, sizeof(l->description)) ||
	    !text_col(st, 6, l->created_by, sizeof(l->created_by)))
		return cu_fail(CU_ERR_FORMAT, "catalogue: evidence lock %lld is malformed",
		               (long long)l->id);
	sqlite3_reset(cams);
	sqlite3_bind_int64(cams, 1, l->id);
	int rc;
	while ((rc = sqlite3_step(cams)) == SQLITE_ROW) {
		if (l->ncameras == CU_LOCK_CAMERAS_MAX ||
		    !text_col(cams, 0, l->cameras[l->ncameras], sizeof(l->cameras[0])))
			return cu_fail(CU_ERR_FORMAT, "catalogue: evidence lock %lld has malformed "
			               "cameras", (long long)l->id);
		l->ncameras++;
	}
	if (rc != SQLITE_DONE)
		return cu_db_fail(db, "evidence lock cameras");
	return 0;
}

static int
prepare_lock_cameras(cu_db *db, sqlite3_stmt **ret)
{
	return cu_db_prepare(db, "SELECT c.name FROM lock_cameras lc JOIN cameras c ON "
	                     "c.id = lc.camera WHERE lc.lock_id = ? ORDER BY lc.pos",
	                     "evidence lock cameras", ret);
}

/* Replaces the lock's cameras: their rows are resolved first (CU_ERR_NOTFOUND
 * names a camera the store does not have). */
static int
put_lock_cameras(cu_db *db, int64_t id, const struct cu_lock *l)
{
	int64_t rows[CU_LOCK_CAMERAS_MAX];
	sqlite3_stmt *st = NULL;
	int r = 0;
	for (size_t i = 0; i < l->ncameras && r == 0; i++)
		r = camera_row(db, "evidence lock cameras", l->cameras[i], &rows[i]);
	if (r < 0 || (r = cu_db_prepare(db, "DELETE FROM lock_cameras WHERE lock_id = ?",
	                                "evidence lock cameras", &st)) < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	r = cu_db_step_done(db, st, "evidence lock cameras");
	sqlite3_finalize(st);
	if (r < 0 || (r = cu_db_prepare(db, "INSERT INTO lock_cameras(lock_id, pos, camera) "
	                                "VALUES(?, ?, ?)", "evidence lock cameras", &st)) < 0)
		return r;
	for (size_t i = 0; i < l->ncameras && r == 0; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_int64(st, 3, rows[i]);
		r = cu_db_step_done(db, st, "evidence lock cameras");
	}
	sqlite3_finalize(st);
	return r;
}

int
cu_lock_create(cu_store *s, struct cu_lock *l)
{
	if (l == NULL)
		return cu_fail(CU_ERR_INVAL, "no evidence lock given");
	int r = lock_check(l, true);
	if (r < 0 || (r = cu_catalog_writable(s)) < 0)
		return r;
	int64_t now = cu_time_now_us(), id = 0, count = 0;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if ((r = begin(db)) < 0)
		goto unlock;
	if ((r = count_rows(db, "SELECT count(*) FROM locks", &count)) < 0)
		goto out;
	if (count >= CU_LOCKS_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "this store already has %d evidence locks", CU_LOCKS_MAX);
		goto out;
	}
	if ((r = cu_db_prepare(db, "INSERT INTO locks(headline, description, from_us, to_us, "
	                       "expires_us, created_by, created_us, updated_us) "
	                       "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	                       "adding an evidence lock", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, l->headline, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, l->description, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, l->from_us);
	sqlite3_bind_int64(st, 4, l->to_us);
	sqlite3_bind_int64(st, 5, l->expires_us);
	sqlite3_bind_text(st, 6, l->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_int64(st, 8, now);
	if ((r = cu_db_step_done(db, st, "adding an evidence lock")) < 0)
		goto out;
	id = sqlite3_last_insert_rowid(db->sql);
	r = put_lock_cameras(db, id, l);
out:
	sqlite3_finalize(st);
	r = finish(db, r);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	if (r == 0) {
		l->id = id;
		l->created_us = l->updated_us = now;
	}
	return r;
}

int
cu_lock_update(cu_store *s, const struct cu_lock *l)
{
	if (l == NULL)
		return cu_fail(CU_ERR_INVAL, "no evidence lock given");
	int r = lock_check(l, false);
	if (r < 0 || (r = cu_catalog_writable(s)) < 0)
		return r;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if ((r = begin(db)) < 0)
		goto unlock;
	if ((r = cu_db_prepare(db, "UPDATE locks SET headline = ?, description = ?, from_us = ?, "
	                       "to_us = ?, expires_us = ?, updated_us = max(?, created_us) "
	                       "WHERE id = ?",
	                       "updating an evidence lock", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, l->headline, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, l->description, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, l->from_us);
	sqlite3_bind_int64(st, 4, l->to_us);
	sqlite3_bind_int64(st, 5, l->expires_us);
	sqlite3_bind_int64(st, 6, cu_time_now_us());
	sqlite3_bind_int64(st, 7, l->id);
	if ((r = cu_db_step_done(db, st, "updating an evidence lock")) < 0)
		goto out;
	if (sqlite3_changes(db->sql) == 0) {
		r = cu_fail(CU_ERR_NOTFOUND, "no evidence lock %lld", (long long)l->id);
		goto out;
	}
	r = put_lock_cameras(db, l->id, l);
out:
	sqlite3_finalize(st);
	r = finish(db, r);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

int
cu_lock_delete(cu_store *s, int64_t id)
{
	int r = cu_catalog_writable(s);
	if (r < 0)
		return r;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if ((r = begin(db)) < 0)
		goto unlock;
	if ((r = cu_db_prepare(db, "DELETE FROM lock_cameras WHERE lock_id = ?",
	                       "deleting an evidence lock", &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if ((r = cu_db_step_done(db, st, "deleting an evidence lock")) < 0)
		goto out;
	sqlite3_finalize(st);
	if ((r = cu_db_prepare(db, "DELETE FROM locks WHERE id = ?", "deleting an evidence lock",
	                       &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if ((r = cu_db_step_done(db, st, "deleting an evidence lock")) < 0)
		goto out;
	if (sqlite3_changes(db->sql) == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no evidence lock %lld", (long long)id);
out:
	sqlite3_finalize(st);
	r = finish(db, r);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

int
cu_lock_get(cu_store *s, int64_t id, struct cu_lock *ret)
{
	sqlite3_stmt *st = NULL, *cams = NULL;
	bool have = false;
	struct cu_lock *l = malloc(sizeof(*l));
	if (l == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	int r = have_table(db, "locks", &have);
	if (r < 0)
		goto out;
	if (!have) {
		r = cu_fail(CU_ERR_NOTFOUND, "no evidence lock %lld", (long long)id);
		goto out;
	}
	if ((r = cu_db_prepare(db, "SELECT " LOCK_COLUMNS " FROM locks WHERE id = ?",
	                       "evidence locks", &st)) < 0 ||
	    (r = prepare_lock_cameras(db, &cams)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = read_lock(db, st, cams, l);
	else if (rc == SQLITE_DONE)
		r = cu_fail(CU_ERR_NOTFOUND, "no evidence lock %lld", (long long)id);
	else
		r = cu_db_fail(db, "evidence locks");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(cams);
	pthread_mutex_unlock(&s->db_lock);
	if (r == 0)
		memcpy(ret, l, sizeof(*l));
	free(l);
	return r;
}

int
cu_lock_list(cu_store *s, const char *camera, bool with_expired, int64_t now_us,
             struct cu_lock **ret, size_t *ret_n)
{
	int r = camera != NULL ? cu_camera_name_check(camera) : 0;
	if (r < 0)
		return r;
	sqlite3_stmt *st = NULL, *cams = NULL;
	struct cu_lock *v = NULL;
	size_t n = 0, cap = 0;
	bool have = false;
	int64_t cam = 0;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if (camera != NULL && (r = camera_row(db, "evidence locks", camera, &cam)) < 0)
		goto out;
	if ((r = have_table(db, "locks", &have)) < 0 || !have)
		goto out;
	if ((r = cu_db_prepare(db, "SELECT " LOCK_COLUMNS " FROM locks WHERE (?1 IS NULL OR id IN "
	                       "(SELECT lock_id FROM lock_cameras WHERE camera = ?1)) AND "
	                       "(?2 OR expires_us = 0 OR expires_us > ?3) ORDER BY id",
	                       "evidence locks", &st)) < 0 ||
	    (r = prepare_lock_cameras(db, &cams)) < 0)
		goto out;
	if (camera != NULL)
		sqlite3_bind_int64(st, 1, cam);
	sqlite3_bind_int(st, 2, with_expired);
	sqlite3_bind_int64(st, 3, now_us);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == CU_LOCKS_MAX) {
			r = cu_fail(CU_ERR_LIMIT, "catalogue: more than %d evidence locks", CU_LOCKS_MAX);
			goto out;
		}
		struct cu_lock *nv = grow(v, &cap, n, sizeof(*v));
		if (nv == NULL) {
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		if ((r = read_lock(db, st, cams, &v[n])) < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(db, "evidence locks");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(cams);
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- what retention needs (writer.c) ---- */

#define ACTIVE_LOCKS "FROM locks l JOIN lock_cameras lc ON lc.lock_id = l.id " \
                     "WHERE lc.camera = ?1 AND (l.expires_us = 0 OR l.expires_us > ?2)"

int
cu_lock_spans(cu_store *s, int64_t cam, int64_t now_us, struct cu_span **ret, size_t *ret_n)
{
	sqlite3_stmt *st = NULL;
	struct cu_span *v = NULL;
	size_t n = 0, cap = 0;
	bool have = false;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	int r = have_table(db, "locks", &have);
	if (r < 0 || !have)
		goto out;
	if ((r = cu_db_prepare(db, "SELECT l.from_us, l.to_us " ACTIVE_LOCKS " ORDER BY l.from_us",
	                       "evidence locks", &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, cam);
	sqlite3_bind_int64(st, 2, now_us);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == CU_LOCKS_MAX) {
			r = cu_fail(CU_ERR_LIMIT, "catalogue: more than %d evidence locks", CU_LOCKS_MAX);
			goto out;
		}
		struct cu_span *nv = grow(v, &cap, n, sizeof(*v));
		if (nv == NULL) {
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		v[n].from_us = sqlite3_column_int64(st, 0);
		v[n].to_us = sqlite3_column_int64(st, 1);
		n++;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(db, "evidence locks");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

bool
cu_lock_covers(const struct cu_span *spans, size_t n, const struct cu_seg_row *row)
{
	if (row->start_us < 0 || row->end_us < 0)
		return false; /* no frames: nothing a lock could be keeping */
	for (size_t i = 0; i < n; i++)
		if (spans[i].from_us <= row->end_us && spans[i].to_us >= row->start_us)
			return true;
	return false;
}

int
cu_lock_segments_delete(cu_store *s, int64_t cam, const struct cu_seg_row *rows, size_t n,
                        int64_t now_us)
{
	sqlite3_stmt *locked = NULL, *del = NULL;
	bool have = false;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	int r = begin(db);
	if (r < 0)
		goto unlock;
	if ((r = have_table(db, "locks", &have)) < 0 ||
	    (have && (r = cu_db_prepare(db, "SELECT 1 " ACTIVE_LOCKS " AND l.from_us <= ?4 AND "
	                                "l.to_us >= ?3 LIMIT 1", "evidence locks", &locked)) < 0) ||
	    (r = cu_db_prepare(db, "UPDATE segments SET status = 2 WHERE camera = ? AND seq = ?",
	                       "deleting segments", &del)) < 0)
		goto out;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct cu_seg_row *g = &rows[i];
		if (locked != NULL && g->start_us >= 0 && g->end_us >= 0) {
			sqlite3_reset(locked);
			sqlite3_bind_int64(locked, 1, cam);
			sqlite3_bind_int64(locked, 2, now_us);
			sqlite3_bind_int64(locked, 3, g->start_us);
			sqlite3_bind_int64(locked, 4, g->end_us);
			int rc = sqlite3_step(locked);
			if (rc == SQLITE_ROW) {
				r = cu_fail(CU_ERR_BUSY, "retention: an evidence lock made while it ran "
				            "covers segment %llu; nothing was deleted",
				            (unsigned long long)g->seq);
				break;
			}
			if (rc != SQLITE_DONE) {
				r = cu_db_fail(db, "evidence locks");
				break;
			}
		}
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, cam);
		sqlite3_bind_int64(del, 2, (int64_t)g->seq);
		r = cu_db_step_done(db, del, "deleting segments");
	}
out:
	sqlite3_finalize(locked);
	sqlite3_finalize(del);
	r = finish(db, r);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

/* ---- bookmarks ---- */

#define BOOKMARK_COLUMNS "b.id, c.name, b.at_us, b.end_us, b.title, b.description, " \
                         "b.created_by, b.created_us FROM bookmarks b JOIN cameras c " \
                         "ON c.id = b.camera"

static int
read_bookmark(sqlite3_stmt *st, struct cu_bookmark *b)
{
	memset(b, 0, sizeof(*b));
	b->id = sqlite3_column_int64(st, 0);
	b->at_us = sqlite3_column_int64(st, 2);
	b->end_us = sqlite3_column_int64(st, 3);
	b->created_us = sqlite3_column_int64(st, 7);
	if (!text_col(st, 1, b->camera, sizeof(b->camera)) ||
	    !text_col(st, 4, b->title, sizeof(b->title)) ||
	    !text_col(st, 5, b->description, sizeof(b->description)) ||
	    !text_col(st, 6, b->created_by, sizeof(b->created_by)))
		return cu_fail(CU_ERR_FORMAT, "catalogue: bookmark %lld is malformed",
		               (long long)b->id);
	return 0;
}

int
cu_bookmark_create(cu_store *s, struct cu_bookmark *b)
{
	if (b == NULL)
		return cu_fail(CU_ERR_INVAL, "no bookmark given");
	int r = bookmark_check(b);
	if (r < 0 || (r = cu_catalog_writable(s)) < 0)
		return r;
	int64_t now = cu_time_now_us(), id = 0, count = 0, cam = 0;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if ((r = begin(db)) < 0)
		goto unlock;
	if ((r = camera_row(db, "bookmark camera", b->camera, &cam)) < 0 ||
	    (r = count_rows(db, "SELECT count(*) FROM bookmarks", &count)) < 0)
		goto out;
	if (count >= CU_BOOKMARKS_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "this store already has %d bookmarks", CU_BOOKMARKS_MAX);
		goto out;
	}
	if ((r = cu_db_prepare(db, "INSERT INTO bookmarks(camera, at_us, end_us, title, "
	                       "description, created_by, created_us) VALUES(?, ?, ?, ?, ?, ?, ?)",
	                       "adding a bookmark", &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, cam);
	sqlite3_bind_int64(st, 2, b->at_us);
	sqlite3_bind_int64(st, 3, b->end_us);
	sqlite3_bind_text(st, 4, b->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, b->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, b->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	if ((r = cu_db_step_done(db, st, "adding a bookmark")) < 0)
		goto out;
	id = sqlite3_last_insert_rowid(db->sql);
out:
	sqlite3_finalize(st);
	r = finish(db, r);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	if (r == 0) {
		b->id = id;
		b->created_us = now;
	}
	return r;
}

int
cu_bookmark_update(cu_store *s, const struct cu_bookmark *b)
{
	if (b == NULL)
		return cu_fail(CU_ERR_INVAL, "no bookmark given");
	int r = bookmark_check(b);
	if (r < 0 || (r = cu_catalog_writable(s)) < 0)
		return r;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if ((r = begin(db)) < 0)
		goto unlock;
	if ((r = cu_db_prepare(db, "UPDATE bookmarks SET at_us = ?, end_us = ?, title = ?, "
	                       "description = ? WHERE id = ?", "changing a bookmark", &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, b->at_us);
	sqlite3_bind_int64(st, 2, b->end_us);
	sqlite3_bind_text(st, 3, b->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, b->description, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, b->id);
	if ((r = cu_db_step_done(db, st, "changing a bookmark")) < 0)
		goto out;
	if (sqlite3_changes(db->sql) == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no bookmark %lld", (long long)b->id);
out:
	sqlite3_finalize(st);
	r = finish(db, r);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

int
cu_bookmark_delete(cu_store *s, int64_t id)
{
	int r = cu_catalog_writable(s);
	if (r < 0)
		return r;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if ((r = begin(db)) < 0)
		goto unlock;
	if ((r = cu_db_prepare(db, "DELETE FROM bookmarks WHERE id = ?", "deleting a bookmark",
	                       &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if ((r = cu_db_step_done(db, st, "deleting a bookmark")) < 0)
		goto out;
	if (sqlite3_changes(db->sql) == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no bookmark %lld", (long long)id);
out:
	sqlite3_finalize(st);
	r = finish(db, r);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

int
cu_bookmark_get(cu_store *s, int64_t id, struct cu_bookmark *ret)
{
	sqlite3_stmt *st = NULL;
	bool have = false;
	struct cu_bookmark *b = malloc(sizeof(*b));
	if (b == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	int r = have_table(db, "bookmarks", &have);
	if (r < 0)
		goto out;
	if (!have) {
		r = cu_fail(CU_ERR_NOTFOUND, "no bookmark %lld", (long long)id);
		goto out;
	}
	if ((r = cu_db_prepare(db, "SELECT " BOOKMARK_COLUMNS " WHERE b.id = ?", "bookmarks",
	                       &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = read_bookmark(st, b);
	else if (rc == SQLITE_DONE)
		r = cu_fail(CU_ERR_NOTFOUND, "no bookmark %lld", (long long)id);
	else
		r = cu_db_fail(db, "bookmarks");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->db_lock);
	if (r == 0)
		memcpy(ret, b, sizeof(*b));
	free(b);
	return r;
}

int
cu_bookmark_list(cu_store *s, const char *camera, int64_t from_us, int64_t to_us, size_t limit,
                 struct cu_bookmark **ret, size_t *ret_n)
{
	if (from_us < 0 || (to_us != 0 && to_us < from_us))
		return cu_fail(CU_ERR_INVAL, "bookmarks: the range needs 0 <= from <= to (to 0: no "
		               "end)");
	if (limit == 0 || limit > CU_BOOKMARK_LIST_MAX)
		return cu_fail(CU_ERR_INVAL, "bookmarks: limit must be 1 to %d",
		               CU_BOOKMARK_LIST_MAX);
	int r = camera != NULL ? cu_camera_name_check(camera) : 0;
	if (r < 0)
		return r;
	sqlite3_stmt *st = NULL;
	struct cu_bookmark *v = NULL;
	size_t n = 0, cap = 0;
	bool have = false;
	int64_t cam = 0;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if (camera != NULL && (r = camera_row(db, "bookmarks", camera, &cam)) < 0)
		goto out;
	if ((r = have_table(db, "bookmarks", &have)) < 0 || !have)
		goto out;
	/* a bookmark spans [at, end], or is the moment at when end is 0 */
	if ((r = cu_db_prepare(db, "SELECT " BOOKMARK_COLUMNS " WHERE "
	                       "(?1 IS NULL OR b.camera = ?1) AND "
	                       "(?3 = 0 OR b.at_us <= ?3) AND "
	                       "(CASE b.end_us WHEN 0 THEN b.at_us ELSE b.end_us END) >= ?2 "
	                       "ORDER BY b.at_us, b.id LIMIT ?4", "bookmarks", &st)) < 0)
		goto out;
	if (camera != NULL)
		sqlite3_bind_int64(st, 1, cam);
	sqlite3_bind_int64(st, 2, from_us);
	sqlite3_bind_int64(st, 3, to_us);
	sqlite3_bind_int64(st, 4, (int64_t)limit);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cu_bookmark *nv = grow(v, &cap, n, sizeof(*v));
		if (nv == NULL) {
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		if ((r = read_bookmark(st, &v[n])) < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(db, "bookmarks");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
