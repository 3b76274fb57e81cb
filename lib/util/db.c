/* The one SQLite layer: open with pragmas, prepare (fresh or cached),
 * transactions, the meta table, and one mapping of SQLite's result codes to
 * cu_err. See db.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/db.h"
#include "custody/error.h"

int
cu_db_err(int rc, int sys_errno)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return CU_ERR_NOSPC;
	case SQLITE_IOERR:
		if (rc == SQLITE_IOERR_NOMEM)
			return CU_ERR_NOMEM;
		/* SQLite says SQLITE_FULL only for ENOSPC on a write or a short
		 * write; a file over RLIMIT_FSIZE (EFBIG), a quota, or ENOSPC from
		 * ftruncate/fallocate/the -shm file arrive as I/O errors */
		if (cu_errno_nospc(sys_errno))
			return CU_ERR_NOSPC;
		return CU_ERR_DB;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return CU_ERR_BUSY;
	case SQLITE_NOMEM:
		return CU_ERR_NOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return CU_ERR_DAMAGED;
	default:
		return CU_ERR_DB;
	}
}

/* The errno behind an I/O error rc on connection c, 0 if unknown.
 *
 * sqlite3_system_errno is read when SQLite records the error, after the
 * failed write has been cleaned up after (a rollback, a journal looked for),
 * so on Linux it is often 0 or another call's errno. The unix VFS keeps the
 * errno of each file's last failed call (SQLITE_FCNTL_LAST_ERRNO), set at
 * the failing call: for a write-side error the WAL or rollback journal
 * (where a transaction's pages go first) is asked, then the database file.
 * A file keeps its errno until its next failure, so an old ENOSPC could be
 * read back for a later write error of another kind on the other file: it
 * is then reported as a full disk, the likelier cause anyway. */
static int
io_errno(sqlite3 *c, int rc)
{
	switch (rc) {
	case SQLITE_IOERR_WRITE:
	case SQLITE_IOERR_FSYNC:
	case SQLITE_IOERR_TRUNCATE: {
		int e = 0;
		sqlite3_file *j = NULL;
		if (sqlite3_file_control(c, "main", SQLITE_FCNTL_JOURNAL_POINTER, &j) == SQLITE_OK &&
		    j != NULL && j->pMethods != NULL &&
		    j->pMethods->xFileControl(j, SQLITE_FCNTL_LAST_ERRNO, &e) == SQLITE_OK &&
		    cu_errno_nospc(e))
			return e;
		e = 0;
		if (sqlite3_file_control(c, "main", SQLITE_FCNTL_LAST_ERRNO, &e) == SQLITE_OK &&
		    cu_errno_nospc(e))
			return e;
		break;
	}
	default:
		break;
	}
	return sqlite3_system_errno(c);
}

/* The mapped error of rc on connection c (which may be NULL: no memory for
 * one) with the detail "<prefix>: <what>: <message>[: <strerror>]". */
static int
fail_rc(sqlite3 *c, int rc, const char *prefix, const char *what)
{
	int sys = (rc & 0xff) == SQLITE_IOERR && c != NULL ? io_errno(c, rc) : 0;
	int code = cu_db_err(rc, sys);
	if (code == 0)
		code = CU_ERR_DB; /* a caller's "failure" SQLite did not report */
	const char *msg = c != NULL ? sqlite3_errmsg(c) : sqlite3_errstr(rc);
	if (sys != 0)
		return cu_fail(code, "%s: %s: %s: %s", prefix, what, msg, strerror(sys));
	return cu_fail(code, "%s: %s: %s", prefix, what, msg);
}

int
cu_db_fail(cu_db *db, const char *what)
{
	if (db == NULL || db->sql == NULL)
		return cu_fail(CU_ERR_DB, "%s: no database", what);
	return fail_rc(db->sql, sqlite3_extended_errcode(db->sql), db->name, what);
}

int
cu_db_open(const char *path, const char *name, unsigned flags, cu_db **ret)
{
	int r;
	cu_db *db = calloc(1, sizeof(*db));
	if (db == NULL)
		return cu_fail(CU_ERR_NOMEM, "%s: out of memory", path);
	db->name = name;
	db->flags = flags;
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE;
	if (flags & CU_DB_CREATE)
		oflags |= SQLITE_OPEN_CREATE;
	if (flags & CU_DB_FULLMUTEX)
		oflags |= SQLITE_OPEN_FULLMUTEX;
	int rc = sqlite3_open_v2(path, &db->sql, oflags, NULL);
	if (rc != SQLITE_OK) {
		/* without a connection SQLite had no memory for one */
		r = db->sql != NULL ? fail_rc(db->sql, sqlite3_extended_errcode(db->sql), path,
		                              "cannot open")
		                    : cu_fail(CU_ERR_NOMEM, "%s: cannot open: out of memory", path);
		goto fail;
	}
	sqlite3_busy_timeout(db->sql, CU_DB_BUSY_MS);
	sqlite3_extended_result_codes(db->sql, 1);
	char pragmas[256];
	size_t n = 0;
	static const struct {
		unsigned flag;
		const char *sql;
	} table[] = {
		{CU_DB_QUERY_ONLY, "PRAGMA query_only=ON;"},
		{CU_DB_WAL, "PRAGMA journal_mode=WAL;"},
		{CU_DB_SYNC_NORMAL, "PRAGMA synchronous=NORMAL;"},
		{CU_DB_SYNC_FULL, "PRAGMA synchronous=FULL;"},
		{CU_DB_FOREIGN_KEYS, "PRAGMA foreign_keys=ON;"},
	};
	pragmas[0] = '\0';
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (!(flags & table[i].flag))
			continue;
		size_t len = strlen(table[i].sql);
		if (n + len >= sizeof(pragmas)) { /* the table is fixed: a bug */
			r = cu_fail(CU_ERR_LIMIT, "%s: pragmas over %zu bytes", path, sizeof(pragmas));
			goto fail;
		}
		memcpy(pragmas + n, table[i].sql, len + 1);
		n += len;
	}
	if (n > 0 && sqlite3_exec(db->sql, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		/* the first read of the file: a file that is not a database fails here */
		r = fail_rc(db->sql, sqlite3_extended_errcode(db->sql), path, "cannot open");
		goto fail;
	}
	*ret = db;
	return 0;
fail:
	sqlite3_close(db->sql);
	free(db);
	return r;
}

int
cu_db_close(cu_db *db)
{
	if (db == NULL)
		return 0;
	/* sqlite3_close leaves a connection with statements open */
	for (size_t i = 0; i < CU_DB_STMT_SLOTS; i++)
		sqlite3_finalize(db->stmts[i].st);
	int r = 0;
	if (sqlite3_close(db->sql) != SQLITE_OK)
		r = cu_fail(CU_ERR_DB, "%s: cannot close: %s", db->name, sqlite3_errmsg(db->sql));
	free(db);
	return r;
}

int
cu_db_exec(cu_db *db, const char *sql, const char *what)
{
	if (sqlite3_exec(db->sql, sql, NULL, NULL, NULL) != SQLITE_OK)
		return cu_db_fail(db, what);
	return 0;
}

int
cu_db_prepare(cu_db *db, const char *sql, const char *what, sqlite3_stmt **ret)
{
	if (sqlite3_prepare_v2(db->sql, sql, -1, ret, NULL) != SQLITE_OK || *ret == NULL) {
		sqlite3_finalize(*ret);
		*ret = NULL;
		return cu_db_fail(db, what);
	}
	return 0;
}

/* The slot holding sql, or the free slot where it goes: open addressing by
 * the text's address. At most half the slots are ever used, so a probe
 * always ends. */
static struct cu_db_slot *
stmt_slot(cu_db *db, const char *sql)
{
	/* Fibonacci hashing: the address's low bits are all alignment */
	uint64_t h = (uint64_t)(uintptr_t)sql * UINT64_C(0x9e3779b97f4a7c15);
	size_t i = (size_t)(h >> 32) % CU_DB_STMT_SLOTS;
	while (db->stmts[i].sql != NULL && db->stmts[i].sql != sql)
		i = (i + 1) % CU_DB_STMT_SLOTS;
	return &db->stmts[i];
}

/* Compiling a query costs more than running it (auth's permission query:
 * some 50 µs against under 10), so a text is prepared once per handle. SQLite
 * re-prepares a statement by itself when the schema changes (an upgrade, or
 * another process): sqlite3_prepare_v3 keeps the text for that. A handle
 * never attaches or reopens a database. */
int
cu_db_stmt(cu_db *db, const char *sql, sqlite3_stmt **ret)
{
	struct cu_db_slot *s = stmt_slot(db, sql);
	if (s->sql != NULL) {
		/* another text at the address would run the wrong query */
		if (strcmp(sqlite3_sql(s->st), sql) != 0)
			return cu_fail(CU_ERR_INVAL, "%s: a query text changed at its address", db->name);
		if (sqlite3_stmt_busy(s->st))
			return cu_fail(CU_ERR_INVAL, "%s: a query is still running", db->name);
		*ret = s->st;
		return 0;
	}
	if (db->nstmts == CU_DB_STMTS_MAX)
		return cu_fail(CU_ERR_LIMIT, "%s: more than %d different queries", db->name,
		               CU_DB_STMTS_MAX);
	/* PERSISTENT: kept for the handle's life, so not from the lookaside */
	if (sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) !=
	    SQLITE_OK || s->st == NULL) {
		sqlite3_finalize(s->st);
		s->st = NULL;
		return cu_db_fail(db, "preparing a query");
	}
	s->sql = sql;
	db->nstmts++;
	*ret = s->st;
	return 0;
}

void
cu_db_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	/* ends the statement's read (or write) and releases what it bound: the
	 * caller's buffers and copies of hashes go now, not at the next use */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int
cu_db_step_done(cu_db *db, sqlite3_stmt *st, const char *what)
{
	if (sqlite3_step(st) == SQLITE_DONE)
		return 0;
	return cu_db_fail(db, what);
}

int
cu_db_rows(cu_db *db, sqlite3_stmt *st, const struct cu_db_reader *rd, void *ctx, void **ret,
           size_t *ret_n)
{
	char *v = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_DONE, r = 0;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (rd->max != 0 && n == rd->max) {
			r = cu_fail(CU_ERR_LIMIT, "%s: more than %zu %s", db->name, rd->max, rd->what);
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char *nv = realloc(v, ncap * rd->size);
			if (nv == NULL) {
				r = cu_fail(CU_ERR_NOMEM, "out of memory");
				break;
			}
			v = nv;
			cap = ncap;
		}
		if ((r = rd->read(ctx, st, v + n * rd->size)) == 0)
			n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = cu_db_fail(db, rd->what);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int
cu_db_begin(cu_db *db, bool write)
{
	if (write && (db->flags & CU_DB_QUERY_ONLY))
		return cu_fail(CU_ERR_INVAL, "%s was opened read-only", db->name);
	return cu_db_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN", "begin");
}

int
cu_db_commit(cu_db *db)
{
	int r = cu_db_exec(db, "COMMIT", "commit");
	if (r < 0)
		cu_db_rollback(db);
	return r;
}

void
cu_db_rollback(cu_db *db)
{
	if (!sqlite3_get_autocommit(db->sql))
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
}

int
cu_db_synchronous(cu_db *db, bool full)
{
	return cu_db_exec(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
	                  "synchronous");
}

int
cu_db_meta_get(cu_db *db, const char *key, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int r = cu_db_stmt(db, "SELECT value FROM meta WHERE key = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		if (v == NULL || n >= len || strlen(v) != n) {
			r = cu_fail(CU_ERR_DAMAGED, "%s: meta %s is malformed", db->name, key);
		} else {
			memcpy(buf, v, n + 1);
			r = 0;
		}
	} else if (rc == SQLITE_DONE) {
		r = cu_fail(CU_ERR_DAMAGED, "%s: meta %s is missing", db->name, key);
	} else {
		r = cu_db_fail(db, "reading meta");
	}
	cu_db_done(st);
	return r;
}

int
cu_db_meta_put(cu_db *db, const char *const (*kv)[2], size_t n)
{
	sqlite3_stmt *st;
	int r = cu_db_prepare(db, "INSERT INTO meta(key, value) VALUES(?, ?)", "meta", &st);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		sqlite3_bind_text(st, 1, kv[i][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, kv[i][1], -1, SQLITE_STATIC);
		r = cu_db_step_done(db, st, "meta");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return r;
}
