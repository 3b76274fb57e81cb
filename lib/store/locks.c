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

/* The one way this file changes the catalogue: a writable store, db_lock
 * held, and fn's work in one durable transaction (rolled back when it fails). */
static int
change(cu_store *s, int (*fn)(cu_db *db, void *ctx), void *ctx)
{
	int r = cu_catalog_writable(s);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->db_lock);
	if ((r = begin(s->db)) == 0)
		r = finish(s->db, fn(s->db, ctx));
	pthread_mutex_unlock(&s->db_lock);
	return r;
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

/* Runs sql, which takes the row id as ?1 and returns no rows; *changed (when
 * not NULL) is the number of rows it changed. */
static int
exec_id(cu_db *db, const char *sql, int64_t id, const char *what, int *changed)
{
	sqlite3_stmt *st;
	int r = cu_db_prepare(db, sql, what, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	if ((r = cu_db_step_done(db, st, what)) == 0 && changed != NULL)
		*changed = sqlite3_changes(db->sql);
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

/* ---- reading records: one kind of row, read one way ---- */

struct kind {
	const char *table;            /* a catalogue without this table has no records */
	const char *noun;             /* "evidence lock", in details */
	struct cu_db_reader rd;       /* rd.what: "evidence locks"; read's ctx is the cu_db */
};

/* A list query: ?1 is the camera's row id (NULL for all cameras) when
 * by_camera, then args bind in order. */
struct list_q {
	const char *sql;
	bool by_camera;
	const char *camera;           /* a name (NULL: all), when by_camera */
	int64_t args[4];
	int nargs;
};

static int
list_rows(cu_store *s, const struct kind *k, const struct list_q *q, void **ret, size_t *ret_n)
{
	sqlite3_stmt *st = NULL;
	bool have = false;
	int64_t cam = 0;
	int r = q->camera != NULL ? cu_camera_name_check(q->camera) : 0;
	*ret = NULL;
	*ret_n = 0;
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->db_lock);
	cu_db *db = s->db;
	if (q->camera != NULL && (r = camera_row(db, k->rd.what, q->camera, &cam)) < 0)
		goto out;
	if ((r = have_table(db, k->table, &have)) < 0 || !have ||
	    (r = cu_db_prepare(db, q->sql, k->rd.what, &st)) < 0)
		goto out;
	int first = 1;
	if (q->by_camera) {
		if (q->camera != NULL)
			sqlite3_bind_int64(st, 1, cam); /* left unbound, ?1 is NULL: all cameras */
		first = 2;
	}
	for (int i = 0; i < q->nargs; i++)
		sqlite3_bind_int64(st, first + i, q->args[i]);
	r = cu_db_rows(db, st, &k->rd, db, ret, ret_n);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

/* The record of k whose row id is id (sql takes it as ?1), into ret. */
static int
get_row(cu_store *s, const struct kind *k, const char *sql, int64_t id, void *ret)
{
	void *v = NULL;
	size_t n = 0;
	struct list_q q = {.sql = sql, .args = {id}, .nargs = 1};
	int r = list_rows(s, k, &q, &v, &n);
	if (r == 0 && n == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no %s %lld", k->noun, (long long)id);
	if (r == 0)
		memcpy(ret, v, k->rd.size);
	free(v);
	return r;
}

/* Deletes record id of k: each of sqls (taking the id as ?1) in turn, in one
 * transaction; the last one deletes the record's own row. */
struct delete_q {
	const struct kind *k;
	const char *sqls[2];
	const char *what;             /* "deleting a bookmark" */
	int64_t id;
};

static int
delete_fn(cu_db *db, void *ctx)
{
	const struct delete_q *d = ctx;
	int changed = 0, r = 0;
	for (size_t i = 0; i < 2 && d->sqls[i] != NULL && r == 0; i++)
		r = exec_id(db, d->sqls[i], d->id, d->what, &changed);
	if (r == 0 && changed == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no %s %lld", d->k->noun, (long long)d->id);
	return r;
}

/* ---- evidence locks ---- */

#define LOCK_COLUMNS "id, headline, description, from_us, to_us, expires_us, created_by, " \
                     "created_us, updated_us"

static const char lock_cameras_sql[] =
	"SELECT c.name FROM lock_cameras lc JOIN cameras c ON c.id = lc.camera "
	"WHERE lc.lock_id = ? ORDER BY lc.pos";

/* The cameras of lock l->id, in the order they were given. */
static int
read_lock_cameras(cu_db *db, struct cu_lock *l)
{
	sqlite3_stmt *cams;
	int r = cu_db_stmt(db, lock_cameras_sql, &cams);
	if (r < 0)
		return r;
	sqlite3_bind_int64(cams, 1, l->id);
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(cams)) == SQLITE_ROW) {
		if (l->ncameras == CU_LOCK_CAMERAS_MAX ||
		    !text_col(cams, 0, l->cameras[l->ncameras], sizeof(l->cameras[0])))
			r = cu_fail(CU_ERR_DAMAGED, "catalogue: evidence lock %lld has malformed "
			            "cameras", (long long)l->id);
		else
			l->ncameras++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = cu_db_fail(db, "evidence lock cameras");
	cu_db_done(cams);
	return r;
}

/* One row of LOCK_COLUMNS, and its cameras. */
static int
read_lock(void *db, sqlite3_stmt *st, void *rec)
{
	struct cu_lock *l = rec;
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
		return cu_fail(CU_ERR_DAMAGED, "catalogue: evidence lock %lld is malformed",
		               (long long)l->id);
	return read_lock_cameras(db, l);
}

static const struct kind lock_kind = {
	"locks", "evidence lock", {sizeof(struct cu_lock), CU_LOCKS_MAX, "evidence locks", read_lock},
};

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
	if (r < 0 || (r = exec_id(db, "DELETE FROM lock_cameras WHERE lock_id = ?", id,
	                          "evidence lock cameras", NULL)) < 0 ||
	    (r = cu_db_prepare(db, "INSERT INTO lock_cameras(lock_id, pos, camera) "
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

/* ?1..?5: what a lock's creator sets and an update may change. */
static void
bind_lock(sqlite3_stmt *st, const struct cu_lock *l)
{
	sqlite3_bind_text(st, 1, l->headline, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, l->description, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, l->from_us);
	sqlite3_bind_int64(st, 4, l->to_us);
	sqlite3_bind_int64(st, 5, l->expires_us);
}

/* A create or an update of one record: the record, and the time of the change. */
struct write_q {
	const void *rec;
	int64_t now, id;
};

static int
lock_insert(cu_db *db, void *ctx)
{
	struct write_q *w = ctx;
	const struct cu_lock *l = w->rec;
	int64_t count = 0;
	sqlite3_stmt *st = NULL;
	int r = count_rows(db, "SELECT count(*) FROM locks", &count);
	if (r < 0)
		return r;
	if (count >= CU_LOCKS_MAX)
		return cu_fail(CU_ERR_LIMIT, "this store already has %d evidence locks", CU_LOCKS_MAX);
	if ((r = cu_db_prepare(db, "INSERT INTO locks(headline, description, from_us, to_us, "
	                       "expires_us, created_by, created_us, updated_us) "
	                       "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	                       "adding an evidence lock", &st)) < 0)
		return r;
	bind_lock(st, l);
	sqlite3_bind_text(st, 6, l->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, w->now);
	sqlite3_bind_int64(st, 8, w->now);
	if ((r = cu_db_step_done(db, st, "adding an evidence lock")) == 0) {
		w->id = sqlite3_last_insert_rowid(db->sql);
		r = put_lock_cameras(db, w->id, l);
	}
	sqlite3_finalize(st);
	return r;
}

/* Checks l and runs fn (lock_insert or lock_update) on it as one change. */
static int
lock_write(cu_store *s, const struct cu_lock *l, int (*fn)(cu_db *, void *), struct write_q *w)
{
	if (l == NULL)
		return cu_fail(CU_ERR_INVAL, "no evidence lock given");
	*w = (struct write_q){.rec = l, .now = cu_time_now_us()};
	int r = lock_check(l, fn == lock_insert);
	return r < 0 ? r : change(s, fn, w);
}

int
cu_lock_create(cu_store *s, struct cu_lock *l)
{
	struct write_q w = {0};
	int r = lock_write(s, l, lock_insert, &w);
	if (r == 0) {
		l->id = w.id;
		l->created_us = l->updated_us = w.now;
	}
	return r;
}

static int
lock_update(cu_db *db, void *ctx)
{
	const struct write_q *w = ctx;
	const struct cu_lock *l = w->rec;
	sqlite3_stmt *st = NULL;
	int r = cu_db_prepare(db, "UPDATE locks SET headline = ?, description = ?, from_us = ?, "
	                      "to_us = ?, expires_us = ?, updated_us = max(?, created_us) "
	                      "WHERE id = ?",
	                      "updating an evidence lock", &st);
	if (r < 0)
		return r;
	bind_lock(st, l);
	sqlite3_bind_int64(st, 6, w->now);
	sqlite3_bind_int64(st, 7, l->id);
	if ((r = cu_db_step_done(db, st, "updating an evidence lock")) == 0 &&
	    sqlite3_changes(db->sql) == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no evidence lock %lld", (long long)l->id);
	sqlite3_finalize(st);
	return r < 0 ? r : put_lock_cameras(db, l->id, l);
}

int
cu_lock_update(cu_store *s, const struct cu_lock *l)
{
	struct write_q w = {0};
	return lock_write(s, l, lock_update, &w);
}

int
cu_lock_get(cu_store *s, int64_t id, struct cu_lock *ret)
{
	return get_row(s, &lock_kind, "SELECT " LOCK_COLUMNS " FROM locks WHERE id = ?1", id, ret);
}

int
cu_lock_list(cu_store *s, const char *camera, bool with_expired, int64_t now_us,
             struct cu_lock **ret, size_t *ret_n)
{
	struct list_q q = {
		.sql = "SELECT " LOCK_COLUMNS " FROM locks WHERE (?1 IS NULL OR id IN "
		       "(SELECT lock_id FROM lock_cameras WHERE camera = ?1)) AND "
		       "(?2 OR expires_us = 0 OR expires_us > ?3) ORDER BY id",
		.by_camera = true, .camera = camera, .args = {with_expired, now_us}, .nargs = 2};
	void *v;
	int r = list_rows(s, &lock_kind, &q, &v, ret_n);
	*ret = r == 0 ? v : NULL;
	return r;
}

int
cu_lock_delete(cu_store *s, int64_t id)
{
	struct delete_q d = {&lock_kind,
	                     {"DELETE FROM lock_cameras WHERE lock_id = ?",
	                      "DELETE FROM locks WHERE id = ?"},
	                     "deleting an evidence lock", id};
	return change(s, delete_fn, &d);
}

/* ---- what retention needs (writer.c) ---- */

#define ACTIVE_LOCKS "FROM locks l JOIN lock_cameras lc ON lc.lock_id = l.id " \
                     "WHERE lc.camera = ?1 AND (l.expires_us = 0 OR l.expires_us > ?2)"

static int
read_span(void *db, sqlite3_stmt *st, void *rec)
{
	(void)db;
	struct cu_span *sp = rec;
	sp->from_us = sqlite3_column_int64(st, 0);
	sp->to_us = sqlite3_column_int64(st, 1);
	return 0;
}

static const struct kind span_kind = {
	"locks", "evidence lock", {sizeof(struct cu_span), CU_LOCKS_MAX, "evidence locks", read_span},
};

int
cu_lock_spans(cu_store *s, int64_t cam, int64_t now_us, struct cu_span **ret, size_t *ret_n)
{
	struct list_q q = {.sql = "SELECT l.from_us, l.to_us " ACTIVE_LOCKS " ORDER BY l.from_us",
	                   .args = {cam, now_us}, .nargs = 2};
	void *v;
	int r = list_rows(s, &span_kind, &q, &v, ret_n);
	if (r == 0)
		*ret = v;
	return r;
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

/* Is segment g under a lock that is active at now (one made since the
 * caller's cu_lock_spans)? CU_ERR_BUSY then. */
static int
segment_locked(cu_db *db, sqlite3_stmt *locked, int64_t cam, int64_t now_us,
               const struct cu_seg_row *g)
{
	if (locked == NULL || g->start_us < 0 || g->end_us < 0)
		return 0;
	sqlite3_reset(locked);
	sqlite3_bind_int64(locked, 1, cam);
	sqlite3_bind_int64(locked, 2, now_us);
	sqlite3_bind_int64(locked, 3, g->start_us);
	sqlite3_bind_int64(locked, 4, g->end_us);
	int rc = sqlite3_step(locked);
	if (rc == SQLITE_ROW)
		return cu_fail(CU_ERR_BUSY, "retention: an evidence lock made while it ran covers "
		               "segment %llu; nothing was deleted", (unsigned long long)g->seq);
	return rc == SQLITE_DONE ? 0 : cu_db_fail(db, "evidence locks");
}

struct seg_delete_q {
	int64_t cam, now_us;
	const struct cu_seg_row *rows;
	size_t n;
};

static int
segments_delete_fn(cu_db *db, void *ctx)
{
	const struct seg_delete_q *q = ctx;
	sqlite3_stmt *locked = NULL, *del = NULL;
	bool have = false;
	int r;
	if ((r = have_table(db, "locks", &have)) < 0 ||
	    (have && (r = cu_db_prepare(db, "SELECT 1 " ACTIVE_LOCKS " AND l.from_us <= ?4 AND "
	                                "l.to_us >= ?3 LIMIT 1", "evidence locks", &locked)) < 0) ||
	    (r = cu_db_prepare(db, "UPDATE segments SET status = 2 WHERE camera = ? AND seq = ?",
	                       "deleting segments", &del)) < 0)
		goto out;
	for (size_t i = 0; i < q->n && r == 0; i++) {
		if ((r = segment_locked(db, locked, q->cam, q->now_us, &q->rows[i])) < 0)
			break;
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, q->cam);
		sqlite3_bind_int64(del, 2, (int64_t)q->rows[i].seq);
		r = cu_db_step_done(db, del, "deleting segments");
	}
out:
	sqlite3_finalize(locked);
	sqlite3_finalize(del);
	return r;
}

/* Not through change(): retention runs on a store that is writable by
 * construction, and a read-only check here would only repeat the writer's. */
int
cu_lock_segments_delete(cu_store *s, int64_t cam, const struct cu_seg_row *rows, size_t n,
                        int64_t now_us)
{
	struct seg_delete_q q = {cam, now_us, rows, n};
	pthread_mutex_lock(&s->db_lock);
	int r = begin(s->db);
	if (r == 0)
		r = finish(s->db, segments_delete_fn(s->db, &q));
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

/* ---- bookmarks ---- */

#define BOOKMARK_COLUMNS "b.id, c.name, b.at_us, b.end_us, b.title, b.description, " \
                         "b.created_by, b.created_us FROM bookmarks b JOIN cameras c " \
                         "ON c.id = b.camera"

static int
read_bookmark(void *db, sqlite3_stmt *st, void *rec)
{
	(void)db;
	struct cu_bookmark *b = rec;
	memset(b, 0, sizeof(*b));
	b->id = sqlite3_column_int64(st, 0);
	b->at_us = sqlite3_column_int64(st, 2);
	b->end_us = sqlite3_column_int64(st, 3);
	b->created_us = sqlite3_column_int64(st, 7);
	if (!text_col(st, 1, b->camera, sizeof(b->camera)) ||
	    !text_col(st, 4, b->title, sizeof(b->title)) ||
	    !text_col(st, 5, b->description, sizeof(b->description)) ||
	    !text_col(st, 6, b->created_by, sizeof(b->created_by)))
		return cu_fail(CU_ERR_DAMAGED, "catalogue: bookmark %lld is malformed",
		               (long long)b->id);
	return 0;
}

static const struct kind bookmark_kind = {
	"bookmarks", "bookmark", {sizeof(struct cu_bookmark), 0, "bookmarks", read_bookmark},
};

static int
bookmark_insert(cu_db *db, void *ctx)
{
	struct write_q *w = ctx;
	const struct cu_bookmark *b = w->rec;
	int64_t count = 0, cam = 0;
	sqlite3_stmt *st = NULL;
	int r;
	if ((r = camera_row(db, "bookmark camera", b->camera, &cam)) < 0 ||
	    (r = count_rows(db, "SELECT count(*) FROM bookmarks", &count)) < 0)
		return r;
	if (count >= CU_BOOKMARKS_MAX)
		return cu_fail(CU_ERR_LIMIT, "this store already has %d bookmarks", CU_BOOKMARKS_MAX);
	if ((r = cu_db_prepare(db, "INSERT INTO bookmarks(camera, at_us, end_us, title, "
	                       "description, created_by, created_us) VALUES(?, ?, ?, ?, ?, ?, ?)",
	                       "adding a bookmark", &st)) < 0)
		return r;
	sqlite3_bind_int64(st, 1, cam);
	sqlite3_bind_int64(st, 2, b->at_us);
	sqlite3_bind_int64(st, 3, b->end_us);
	sqlite3_bind_text(st, 4, b->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, b->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, b->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, w->now);
	if ((r = cu_db_step_done(db, st, "adding a bookmark")) == 0)
		w->id = sqlite3_last_insert_rowid(db->sql);
	sqlite3_finalize(st);
	return r;
}

/* Checks b and runs fn (bookmark_insert or bookmark_update) on it as one change. */
static int
bookmark_write(cu_store *s, const struct cu_bookmark *b, int (*fn)(cu_db *, void *),
               struct write_q *w)
{
	if (b == NULL)
		return cu_fail(CU_ERR_INVAL, "no bookmark given");
	*w = (struct write_q){.rec = b, .now = cu_time_now_us()};
	int r = bookmark_check(b);
	return r < 0 ? r : change(s, fn, w);
}

int
cu_bookmark_create(cu_store *s, struct cu_bookmark *b)
{
	struct write_q w = {0};
	int r = bookmark_write(s, b, bookmark_insert, &w);
	if (r == 0) {
		b->id = w.id;
		b->created_us = w.now;
	}
	return r;
}

/* The camera must be the bookmark's own: a bookmark does not move between
 * cameras (the caller's permission was checked on that camera). */
static int
bookmark_update(cu_db *db, void *ctx)
{
	const struct write_q *w = ctx;
	const struct cu_bookmark *b = w->rec;
	sqlite3_stmt *st = NULL;
	int64_t cam = 0;
	int r = camera_row(db, "bookmark camera", b->camera, &cam);
	if (r < 0 || (r = cu_db_prepare(db, "UPDATE bookmarks SET at_us = ?, end_us = ?, title = ?, "
	                                "description = ? WHERE id = ? AND camera = ?",
	                                "updating a bookmark", &st)) < 0)
		return r;
	sqlite3_bind_int64(st, 1, b->at_us);
	sqlite3_bind_int64(st, 2, b->end_us);
	sqlite3_bind_text(st, 3, b->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, b->description, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, b->id);
	sqlite3_bind_int64(st, 6, cam);
	if ((r = cu_db_step_done(db, st, "updating a bookmark")) == 0 &&
	    sqlite3_changes(db->sql) == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no bookmark %lld on camera \"%s\"", (long long)b->id,
		            b->camera);
	sqlite3_finalize(st);
	return r;
}

int
cu_bookmark_update(cu_store *s, const struct cu_bookmark *b)
{
	struct write_q w = {0};
	return bookmark_write(s, b, bookmark_update, &w);
}

int
cu_bookmark_delete(cu_store *s, int64_t id)
{
	struct delete_q d = {&bookmark_kind, {"DELETE FROM bookmarks WHERE id = ?", NULL},
	                     "deleting a bookmark", id};
	return change(s, delete_fn, &d);
}

int
cu_bookmark_get(cu_store *s, int64_t id, struct cu_bookmark *ret)
{
	return get_row(s, &bookmark_kind, "SELECT " BOOKMARK_COLUMNS " WHERE b.id = ?1", id, ret);
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
	/* a bookmark spans [at, end], or is the moment at when end is 0 */
	struct list_q q = {
		.sql = "SELECT " BOOKMARK_COLUMNS " WHERE "
		       "(?1 IS NULL OR b.camera = ?1) AND "
		       "(?3 = 0 OR b.at_us <= ?3) AND "
		       "(CASE b.end_us WHEN 0 THEN b.at_us ELSE b.end_us END) >= ?2 "
		       "ORDER BY b.at_us, b.id LIMIT ?4",
		.by_camera = true, .camera = camera, .args = {from_us, to_us, (int64_t)limit},
		.nargs = 3};
	void *v = NULL;
	int r = list_rows(s, &bookmark_kind, &q, &v, ret_n);
	if (r == 0)
		*ret = v;
	return r;
}
