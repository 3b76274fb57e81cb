/* The event store and the notification outbox: STORE/events.db. Layout and
 * rules: docs/formats/events-db.md; keep the two in step. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/evdb.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"
#include "util/db.h"

#define EVDB_NAME "events.db"
#define EVDB_FORMAT "custody-events"
#define EVDB_VERSION "2"
#define EVDB_VERSION_OLD "1"     /* opened and migrated: the stills table added */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS events("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE,"
	"  t_us INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  camera TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  phase TEXT NOT NULL,"
	"  severity INTEGER NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  acked_by TEXT NOT NULL DEFAULT '',"
	"  acked_us INTEGER NOT NULL DEFAULT 0,"
	"  ack_comment TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS events_time ON events(t_us);"
	"CREATE TABLE IF NOT EXISTS conditions("
	"  cond TEXT NOT NULL, camera TEXT NOT NULL, PRIMARY KEY(cond, camera));"
	"CREATE TABLE IF NOT EXISTS outbox("
	"  id TEXT PRIMARY KEY,"
	"  event_id TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  rule TEXT NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  created_us INTEGER NOT NULL,"
	"  next_us INTEGER NOT NULL,"
	"  done_us INTEGER NOT NULL,"
	"  error TEXT NOT NULL,"
	"  t_us INTEGER NOT NULL, type TEXT NOT NULL, camera TEXT NOT NULL, source TEXT NOT NULL,"
	"  phase TEXT NOT NULL, severity INTEGER NOT NULL, detail TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_us);"
	/* version 2 */
	"CREATE TABLE IF NOT EXISTS stills("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  event_id TEXT NOT NULL UNIQUE,"
	"  size INTEGER NOT NULL,"
	"  jpeg BLOB,"
	"  note TEXT NOT NULL);";

struct cu_evdb {
	pthread_mutex_t lock;
	cu_db *db;
};

int
cu_evdb_new_id(char out[static CU_EVDB_ID_LEN + 1])
{
	uint8_t r[16];
	int e = cu_random(r, sizeof(r));
	if (e < 0)
		return e;
	memcpy(out, "evt_", 4);
	cu_hex(r, sizeof(r), out + 4);
	return 0;
}

int
cu_evdb_open(const char *dir, cu_evdb **ret)
{
	char path[PATH_MAX];
	int r = cu_path(path, sizeof(path), "%s/%s", dir, CU_EVDB_FILE);
	if (r < 0)
		return r;
	cu_evdb *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return cu_fail(CU_ERR_NOMEM, "events.db: out of memory");
	pthread_mutex_init(&e->lock, NULL);
	if ((r = cu_db_open(path, EVDB_NAME, CU_DB_CREATE | CU_DB_WAL | CU_DB_SYNC_FULL, &e->db)) < 0)
		goto fail;
	if ((r = cu_db_begin(e->db, true)) < 0)
		goto fail;
	if ((r = cu_db_exec(e->db, schema, "creating the tables")) < 0) {
		cu_db_rollback(e->db);
		goto fail;
	}
	char fmt[32], ver[8];
	if (cu_db_meta_get(e->db, "format", fmt, sizeof(fmt)) < 0) {
		static const char *const kv[][2] = {{"format", EVDB_FORMAT}, {"version", EVDB_VERSION}};
		if ((r = cu_db_meta_put(e->db, kv, 2)) < 0) {
			cu_db_rollback(e->db);
			goto fail;
		}
	} else if (strcmp(fmt, EVDB_FORMAT) != 0 ||
	           cu_db_meta_get(e->db, "version", ver, sizeof(ver)) < 0 ||
	           (strcmp(ver, EVDB_VERSION) != 0 && strcmp(ver, EVDB_VERSION_OLD) != 0)) {
		cu_db_rollback(e->db);
		r = cu_fail(CU_ERR_UNSUPPORTED, "%s: not a version %s or %s events database", path,
		            EVDB_VERSION_OLD, EVDB_VERSION);
		goto fail;
	} else if (strcmp(ver, EVDB_VERSION_OLD) == 0) {
		/* version 1 to 2: the stills table, created above in this same
		 * transaction; nothing else changes (docs/formats/events-db.md) */
		if ((r = cu_db_exec(e->db, "UPDATE meta SET value = '" EVDB_VERSION "'"
		                    " WHERE key = 'version'", "migrating to version 2")) < 0) {
			cu_db_rollback(e->db);
			goto fail;
		}
	}
	if ((r = cu_db_commit(e->db)) < 0)
		goto fail;
	*ret = e;
	return 0;
fail:
	cu_db_close(e->db);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return r;
}

void
cu_evdb_close(cu_evdb *e)
{
	if (e == NULL)
		return;
	cu_db_close(e->db);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static void
col_copy(sqlite3_stmt *st, int i, char *dst, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	size_t n = s ? strlen((const char *)s) : 0;
	if (n >= len)
		n = len - 1; /* every column was written by us within these bounds */
	if (n > 0)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

/* What an event and its outbox notices both hold, bound from parameter i
 * on: t_us, type, camera, source, phase, severity, detail (the columns
 * read_event_body reads). */
static void
bind_event_body(sqlite3_stmt *st, int i, const struct cu_evrec *ev)
{
	sqlite3_bind_int64(st, i, ev->t_us);
	bind_text(st, i + 1, ev->type);
	bind_text(st, i + 2, ev->camera);
	bind_text(st, i + 3, ev->source);
	bind_text(st, i + 4, ev->phase);
	sqlite3_bind_int(st, i + 5, ev->severity);
	bind_text(st, i + 6, ev->detail);
}

/* Steps the write st once and resets it: what names it in an error. */
static int
step_once(cu_evdb *e, sqlite3_stmt *st, const char *what)
{
	int r = cu_db_step_done(e->db, st, what);
	cu_db_done(st);
	return r;
}

/* The cached statement of sql, its first parameter bound to key (the id or
 * the condition most statements here select by). */
static int
stmt_key(cu_evdb *e, const char *sql, const char *key, sqlite3_stmt **ret)
{
	int r = cu_db_stmt(e->db, sql, ret);
	if (r == 0)
		bind_text(*ret, 1, key);
	return r;
}

/* Runs the write sql once, key bound as ?1 and the other parameters by
 * bind(st, arg): what names it in an error. */
static int
write_once(cu_evdb *e, const char *sql, const char *key,
           void (*bind)(sqlite3_stmt *st, const void *arg), const void *arg, const char *what)
{
	sqlite3_stmt *st;
	int r = stmt_key(e, sql, key, &st);
	if (r < 0)
		return r;
	bind(st, arg);
	return step_once(e, st, what);
}

static void
bind_event(sqlite3_stmt *st, const void *arg)
{
	bind_event_body(st, 2, arg);
}

static int
insert_event(cu_evdb *e, const struct cu_evrec *ev)
{
	static const char sql[] =
		"INSERT INTO events(id, t_us, type, camera, source, phase, severity, detail)"
		" VALUES(?,?,?,?,?,?,?,?)";
	return write_once(e, sql, ev->id, bind_event, ev, "storing an event");
}

struct note_row {
	const struct cu_evrec *ev;
	const struct cu_evnote *n;
};

static void
bind_note(sqlite3_stmt *st, const void *arg)
{
	const struct note_row *a = arg;
	bind_text(st, 2, a->ev->id);
	bind_text(st, 3, a->n->target);
	bind_text(st, 4, a->n->rule);
	sqlite3_bind_int64(st, 5, a->n->created_us);
	sqlite3_bind_int64(st, 6, a->n->created_us);
	bind_event_body(st, 7, a->ev);
}

static int
insert_note(cu_evdb *e, const struct cu_evrec *ev, const struct cu_evnote *n)
{
	static const char sql[] =
		"INSERT INTO outbox(id, event_id, target, rule, state, attempts, created_us, next_us,"
		" done_us, error, t_us, type, camera, source, phase, severity, detail)"
		" VALUES(?,?,?,?,0,0,?,?,0,'',?,?,?,?,?,?,?)";
	const struct note_row a = {ev, n};
	return write_once(e, sql, n->id, bind_note, &a, "writing a notice to the outbox");
}

struct still_row {
	const uint8_t *still;
	size_t len;
	const char *note;    /* "": the still is kept */
};

static void
bind_still(sqlite3_stmt *st, const void *arg)
{
	const struct still_row *a = arg;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->len);
	if (a->note[0] == '\0')
		sqlite3_bind_blob(st, 3, a->still, (int)a->len, SQLITE_STATIC);
	bind_text(st, 4, a->note);
}

/* The still of ev: kept when it is a JPEG of at most CU_EVDB_STILL_MAX
 * bytes; else only its size and why it was not kept. */
static int
insert_still(cu_evdb *e, const struct cu_evrec *ev, const uint8_t *still, size_t len)
{
	static const char sql[] = "INSERT INTO stills(event_id, size, jpeg, note) VALUES(?,?,?,?)";
	char note[CU_EVDB_NOTE_MAX + 1] = "";
	if (len > CU_EVDB_STILL_MAX)
		cu_fmt_cut(note, sizeof(note), "the still of %zu bytes is over the %u KiB kept", len,
		           CU_EVDB_STILL_MAX / 1024);
	else if (len < 3 || still[0] != 0xff || still[1] != 0xd8 || still[2] != 0xff)
		cu_fmt_cut(note, sizeof(note), "the still of %zu bytes is not a JPEG", len);
	const struct still_row a = {still, len, note};
	return write_once(e, sql, ev->id, bind_still, &a, "keeping an event's still");
}

int
cu_evdb_still(cu_evdb *e, const char *event_id, uint8_t **ret_jpeg, size_t *ret_len,
              char ret_note[static CU_EVDB_NOTE_MAX + 1])
{
	static const char sql[] = "SELECT jpeg, note FROM stills WHERE event_id = ?";
	pthread_mutex_lock(&e->lock);
	sqlite3_stmt *st;
	int r = stmt_key(e, sql, event_id, &st);
	if (r < 0)
		goto out;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = cu_fail(CU_ERR_NOTFOUND, "no still of %.40s", event_id);
	} else if (rc != SQLITE_ROW) {
		r = cu_db_fail(e->db, "reading a still");
	} else {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		const void *b = sqlite3_column_blob(st, 0);
		uint8_t *copy = NULL;
		if (len > CU_EVDB_STILL_MAX) {
			r = cu_fail(CU_ERR_DAMAGED, "the still of %.40s is over its limit", event_id);
		} else if (b != NULL && len > 0 && (copy = malloc(len)) == NULL) {
			r = cu_fail(CU_ERR_NOMEM, "a still: out of memory");
		} else {
			if (copy != NULL)
				memcpy(copy, b, len);
			col_copy(st, 1, ret_note, CU_EVDB_NOTE_MAX + 1);
			*ret_jpeg = copy;
			*ret_len = copy != NULL ? len : 0;
		}
	}
	cu_db_done(st);
out:
	pthread_mutex_unlock(&e->lock);
	return r;
}

static void
bind_camera(sqlite3_stmt *st, const void *arg)
{
	bind_text(st, 2, arg);
}

static int
condition_put(cu_evdb *e, const char *cond, const char *camera, int set)
{
	static const char ins[] = "INSERT OR IGNORE INTO conditions(cond, camera) VALUES(?,?)";
	static const char del[] = "DELETE FROM conditions WHERE cond = ? AND camera = ?";
	return write_once(e, set ? ins : del, cond, bind_camera, camera, "keeping a condition");
}

/* Runs body(e, arg) in one write transaction under e's lock: committed
 * when it comes to 0 or more (synchronous=FULL: durable then), rolled back
 * when it fails. */
static int
transact(cu_evdb *e, int (*body)(cu_evdb *e, const void *arg), const void *arg)
{
	pthread_mutex_lock(&e->lock);
	int r = cu_db_begin(e->db, true);
	if (r >= 0) {
		if ((r = body(e, arg)) < 0)
			cu_db_rollback(e->db);
		else
			r = cu_db_commit(e->db);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

struct add {
	const struct cu_evrec *ev;
	const char *const *conds;
	size_t nconds;
	int cond_set;
	const struct cu_evnote *notes;
	size_t n;
	const uint8_t *still;
	size_t still_len;
};

static int
add_body(cu_evdb *e, const void *arg)
{
	const struct add *a = arg;
	int r = insert_event(e, a->ev);
	for (size_t i = 0; r >= 0 && i < a->nconds; i++)
		r = condition_put(e, a->conds[i], a->ev->camera, a->cond_set);
	for (size_t i = 0; r >= 0 && i < a->n; i++)
		r = insert_note(e, a->ev, &a->notes[i]);
	if (r >= 0 && a->still != NULL)
		r = insert_still(e, a->ev, a->still, a->still_len);
	return r;
}

int
cu_evdb_add(cu_evdb *e, const struct cu_evrec *ev, const char *const *conds, size_t nconds,
            int cond_set, const struct cu_evnote *notes, size_t n, const uint8_t *still,
            size_t still_len)
{
	const struct add a = {ev, conds, nconds, cond_set, notes, n, still, still_len};
	return transact(e, add_body, &a);
}

int
cu_evdb_condition(cu_evdb *e, const char *cond, const char *camera, int set)
{
	static const char q[] = "SELECT 1 FROM conditions WHERE cond = ? AND camera = ?";
	pthread_mutex_lock(&e->lock);
	sqlite3_stmt *st;
	int r = stmt_key(e, q, cond, &st);
	if (r < 0)
		goto out;
	bind_text(st, 2, camera);
	int rc = sqlite3_step(st);
	int was = rc == SQLITE_ROW;
	cu_db_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = cu_db_fail(e->db, "reading a condition");
		goto out;
	}
	r = was;
	if (set < 0 || set == was)
		goto out;
	if ((r = condition_put(e, cond, camera, set)) == 0)
		r = was;
out:
	pthread_mutex_unlock(&e->lock);
	return r;
}


/* Columns: seq, id, t_us, type, camera, source, phase, severity, detail,
 * acked_by, acked_us, ack_comment */
#define EV_COLS "seq, id, t_us, type, camera, source, phase, severity, detail, acked_by," \
	" acked_us, ack_comment"

/* What an event and its outbox notices both hold, from column c on: t_us,
 * type, camera, source, phase, severity, detail. */
static void
read_event_body(sqlite3_stmt *st, int c, struct cu_evrec *ev)
{
	ev->t_us = sqlite3_column_int64(st, c);
	col_copy(st, c + 1, ev->type, sizeof(ev->type));
	col_copy(st, c + 2, ev->camera, sizeof(ev->camera));
	col_copy(st, c + 3, ev->source, sizeof(ev->source));
	col_copy(st, c + 4, ev->phase, sizeof(ev->phase));
	ev->severity = sqlite3_column_int(st, c + 5);
	col_copy(st, c + 6, ev->detail, sizeof(ev->detail));
}

static void
read_event(sqlite3_stmt *st, struct cu_evrec *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = sqlite3_column_int64(st, 0);
	col_copy(st, 1, ev->id, sizeof(ev->id));
	read_event_body(st, 2, ev);
	col_copy(st, 9, ev->acked_by, sizeof(ev->acked_by));
	ev->acked_us = sqlite3_column_int64(st, 10);
	col_copy(st, 11, ev->ack_comment, sizeof(ev->ack_comment));
}

/* What a row of a listing is to it. */
enum row { ROW_KEEP, ROW_SKIP, ROW_STOP };

/* A SELECT whose rows are read into an array of at most max elements. */
struct listing {
	const char *sql;
	const char *name;    /* "events": for the out-of-memory error */
	const char *what;    /* "reading events": for a database error */
	size_t max, size;    /* elements at the most (0: none), and each one's bytes */
	void (*bind)(sqlite3_stmt *st, void *ctx);            /* or NULL */
	enum row (*look)(sqlite3_stmt *st, size_t n, void *ctx); /* n: rows kept so far */
	void (*read)(sqlite3_stmt *st, void *elem);
	void (*done)(void *ctx, void *out, size_t n); /* on success: the caller's ret_ */
	void *ctx;
};

/* The rows of l, under the lock, until one that look stops at; on success
 * the array (to free) and its length go to l->done. */
static int
list_rows(cu_evdb *e, const struct listing *l)
{
	char *out = calloc(l->max ? l->max : 1, l->size);
	if (out == NULL)
		return cu_fail(CU_ERR_NOMEM, "%s: out of memory", l->name);
	size_t n = 0;
	pthread_mutex_lock(&e->lock);
	sqlite3_stmt *st;
	int r = cu_db_stmt(e->db, l->sql, &st);
	if (r < 0)
		goto out;
	if (l->bind)
		l->bind(st, l->ctx);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum row k = l->look(st, n, l->ctx);
		if (k == ROW_STOP)
			break;
		if (k == ROW_KEEP)
			l->read(st, out + n++ * l->size);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = cu_db_fail(e->db, l->what);
	cu_db_done(st);
out:
	pthread_mutex_unlock(&e->lock);
	if (r < 0) {
		free(out);
		return r;
	}
	l->done(l->ctx, out, n);
	return 0;
}

struct query {
	const struct cu_evq *q;
	bool more;
	struct cu_evrec **ret;
	size_t *ret_n;
	bool *ret_more;
};

static void
query_bind(sqlite3_stmt *st, void *ctx)
{
	const struct cu_evq *q = ((struct query *)ctx)->q;
	if (q->camera)
		bind_text(st, 1, q->camera);
	if (q->type_prefix)
		bind_text(st, 2, q->type_prefix);
	sqlite3_bind_int(st, 3, q->severity_min);
	if (q->phase)
		bind_text(st, 4, q->phase);
	sqlite3_bind_int64(st, 5, q->from_us);
	sqlite3_bind_int64(st, 6, q->to_us);
	sqlite3_bind_int64(st, 7, q->before_seq);
}

static enum row
query_look(sqlite3_stmt *st, size_t n, void *ctx)
{
	struct query *qq = ctx;
	const unsigned char *cam = sqlite3_column_text(st, 4);
	if (qq->q->visible && !qq->q->visible(qq->q->ctx, cam ? (const char *)cam : ""))
		return ROW_SKIP;
	if (n == qq->q->limit) {
		qq->more = true;
		return ROW_STOP;
	}
	return ROW_KEEP;
}

static void
query_read(sqlite3_stmt *st, void *elem)
{
	read_event(st, elem);
}

static void
query_done(void *ctx, void *out, size_t n)
{
	struct query *qq = ctx;
	*qq->ret = out;
	*qq->ret_n = n;
	*qq->ret_more = qq->more;
}

int
cu_evdb_query(cu_evdb *e, const struct cu_evq *q, struct cu_evrec **ret, size_t *ret_n,
              bool *ret_more)
{
	static const char sql[] =
		"SELECT " EV_COLS " FROM events WHERE (?1 IS NULL OR camera = ?1)"
		" AND (?2 IS NULL OR substr(type, 1, length(?2)) = ?2) AND severity >= ?3"
		" AND (?4 IS NULL OR phase = ?4) AND (?5 = 0 OR t_us >= ?5) AND (?6 = 0 OR t_us < ?6)"
		" AND (?7 = 0 OR seq < ?7) ORDER BY seq DESC";
	if (q->limit == 0 || q->limit > CU_EVDB_QUERY_MAX)
		return cu_fail(CU_ERR_INVAL, "limit: from 1 to %d", CU_EVDB_QUERY_MAX);
	struct query qq = {q, false, ret, ret_n, ret_more};
	const struct listing l = {sql, "events", "reading events", q->limit, sizeof(**ret),
	                          query_bind, query_look, query_read, query_done, &qq};
	return list_rows(e, &l);
}

int
cu_evdb_get(cu_evdb *e, const char *id, struct cu_evrec *ret)
{
	static const char sql[] = "SELECT " EV_COLS " FROM events WHERE id = ?";
	pthread_mutex_lock(&e->lock);
	sqlite3_stmt *st;
	int r = stmt_key(e, sql, id, &st);
	if (r < 0)
		goto out;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_event(st, ret);
	else if (rc == SQLITE_DONE)
		r = cu_fail(CU_ERR_NOTFOUND, "no event %.40s", id);
	else
		r = cu_db_fail(e->db, "reading an event");
	cu_db_done(st);
out:
	pthread_mutex_unlock(&e->lock);
	return r;
}

struct ack_row {
	const char *user;
	int64_t now_us;
	const char *comment;
};

static void
bind_ack(sqlite3_stmt *st, const void *arg)
{
	const struct ack_row *a = arg;
	bind_text(st, 2, a->user);
	sqlite3_bind_int64(st, 3, a->now_us);
	bind_text(st, 4, a->comment);
}

int
cu_evdb_ack(cu_evdb *e, const char *id, const char *user, const char *comment, int64_t now_us)
{
	static const char sql[] =
		"UPDATE events SET acked_by = ?2, acked_us = ?3, ack_comment = ?4"
		" WHERE id = ?1 AND acked_by = ''";
	struct cu_evrec cur;
	int r = cu_evdb_get(e, id, &cur);
	if (r < 0)
		return r;
	const struct ack_row a = {user, now_us, comment};
	pthread_mutex_lock(&e->lock);
	r = write_once(e, sql, id, bind_ack, &a, "acknowledging an event");
	if (r == 0 && sqlite3_changes(e->db->sql) == 0)
		r = cu_fail(CU_ERR_EXIST, "event %s is already acknowledged", id);
	pthread_mutex_unlock(&e->lock);
	return r;
}

struct due {
	int64_t now_us;
	size_t max;
	int64_t next;        /* when the first notice not listed is due */
	struct cu_evnote **ret;
	size_t *ret_n;
	int64_t *ret_next_us;
};

static enum row
due_look(sqlite3_stmt *st, size_t n, void *ctx)
{
	struct due *dd = ctx;
	int64_t due = sqlite3_column_int64(st, 6);
	if (due > dd->now_us || n == dd->max) {
		dd->next = due;
		return ROW_STOP;
	}
	return ROW_KEEP;
}

static void
due_read(sqlite3_stmt *st, void *elem)
{
	struct cu_evnote *o = elem;
	col_copy(st, 0, o->id, sizeof(o->id));
	col_copy(st, 1, o->ev.id, sizeof(o->ev.id));
	col_copy(st, 2, o->target, sizeof(o->target));
	col_copy(st, 3, o->rule, sizeof(o->rule));
	o->attempts = sqlite3_column_int(st, 4);
	o->created_us = sqlite3_column_int64(st, 5);
	o->next_us = sqlite3_column_int64(st, 6);
	read_event_body(st, 7, &o->ev);
}

static void
due_done(void *ctx, void *out, size_t n)
{
	struct due *dd = ctx;
	*dd->ret = out;
	*dd->ret_n = n;
	*dd->ret_next_us = dd->next;
}

int
cu_evdb_due(cu_evdb *e, int64_t now_us, size_t max, struct cu_evnote **ret, size_t *ret_n,
            int64_t *ret_next_us)
{
	static const char sql[] =
		"SELECT id, event_id, target, rule, attempts, created_us, next_us, t_us, type, camera,"
		" source, phase, severity, detail FROM outbox WHERE state = 0 ORDER BY next_us";
	struct due dd = {now_us, max, INT64_MAX, ret, ret_n, ret_next_us};
	const struct listing l = {sql, "outbox", "reading the outbox", max, sizeof(**ret), NULL,
	                          due_look, due_read, due_done, &dd};
	return list_rows(e, &l);
}

struct attempt_row {
	int state;
	int64_t next_us;
	const char *error;
};

static void
bind_attempt(sqlite3_stmt *st, const void *arg)
{
	const struct attempt_row *a = arg;
	sqlite3_bind_int(st, 2, a->state);
	sqlite3_bind_int64(st, 3, a->next_us);
	sqlite3_bind_int64(st, 4, a->state == CU_EVDB_PENDING ? 0 : a->next_us);
	bind_text(st, 5, a->error);
}

int
cu_evdb_note_done(cu_evdb *e, const char *id, int state, int64_t next_us, const char *error)
{
	static const char sql[] =
		"UPDATE outbox SET state = ?2, attempts = attempts + 1, next_us = ?3, done_us = ?4,"
		" error = ?5 WHERE id = ?1 AND state = 0";
	const struct attempt_row a = {state, next_us, error ? error : ""};
	pthread_mutex_lock(&e->lock);
	int r = write_once(e, sql, id, bind_attempt, &a, "recording a delivery attempt");
	pthread_mutex_unlock(&e->lock);
	return r;
}

struct prune {
	int64_t now_us, keep_us;
};

static int
prune_body(cu_evdb *e, const void *arg)
{
	const struct prune *p = arg;
	static const char by_age[] = "DELETE FROM events WHERE t_us < ?";
	static const char by_count[] =
		"DELETE FROM events WHERE seq <= (SELECT seq FROM events ORDER BY seq DESC"
		" LIMIT 1 OFFSET ?)";
	static const char notes[] = "DELETE FROM outbox WHERE state <> 0 AND done_us < ?";
	/* a still goes with its event, or past the newest CU_EVDB_STILLS_KEEP;
	 * never while a pending notice may still mail it */
	static const char stills[] =
		"DELETE FROM stills WHERE event_id NOT IN (SELECT event_id FROM outbox WHERE state = 0)"
		" AND (event_id NOT IN (SELECT id FROM events) OR seq <= (SELECT seq FROM stills"
		" ORDER BY seq DESC LIMIT 1 OFFSET ?))";
	const struct {
		const char *sql;
		int64_t arg;
		const char *what;
	} steps[] = {
		{by_age, p->now_us - p->keep_us, "retention of events"},
		{by_count, CU_EVDB_KEEP_MAX, "retention of events"},
		{notes, p->now_us - p->keep_us, "retention of notices"},
		{stills, CU_EVDB_STILLS_KEEP, "retention of stills"},
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		sqlite3_stmt *st;
		int r = cu_db_stmt(e->db, steps[i].sql, &st);
		if (r < 0)
			return r;
		sqlite3_bind_int64(st, 1, steps[i].arg);
		if ((r = step_once(e, st, steps[i].what)) < 0)
			return r;
	}
	return 0;
}

int
cu_evdb_prune(cu_evdb *e, int64_t now_us, int64_t keep_us)
{
	const struct prune p = {now_us, keep_us};
	return transact(e, prune_body, &p);
}
