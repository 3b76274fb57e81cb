/* Unit tests of lib/util/db.c, the one SQLite layer: the pragmas cu_db_open
 * sets take effect, each class of SQLite error maps to its cu_err (by the
 * table, and from real failures: a database that cannot grow, a lock held by
 * another connection, a file that is not a database, a damaged page, memory
 * that runs out), the statement cache, transactions and the meta table.
 *
 * Then the promise the layer exists for: a disk that is full gives the same
 * error, CU_ERR_NOSPC, from every module that writes SQLite (catalogue
 * segment rows and evidence locks, the audit log, auth users). Each such
 * write runs in a forked child under RLIMIT_FSIZE with SIGXFSZ ignored, so
 * the write fails with EFBIG as a full disk would (ENOSPC goes the same way,
 * see cu_db_err), without root and without the limit reaching other tests. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "custody/audit.h"
#include "custody/auth.h"
#include "custody/error.h"
#include "custody/store.h"
#include "store/store_int.h"
#include "util/db.h"
#include "custody/file.h"

#define PW "unit-test-password"
#define USER_PW "Unit-test-user-pw-1"
/* No file of the child may grow past this: smaller than one WAL frame (a
 * 4096-byte page and its 24-byte header after the 32-byte WAL header). */
#define FSIZE_LIMIT 2048

static char tmproot[] = "/tmp/custody-db-unit-XXXXXX";
static int nfile;

/* The lowest Argon2id cost the store accepts, so the tests stay quick. */
static const struct cu_argon2_params quick_kdf = {1, CU_ARGON2_M_MIN, 1};

static void
fresh_path(char *buf, size_t len)
{
	assert_int_equal(cu_path(buf, len, "%s/f%d.db", tmproot, ++nfile), 0);
}

static int64_t
pragma_int(cu_db *db, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
pragma_text(cu_db *db, const char *sql, const char *want)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), want);
	sqlite3_finalize(st);
}

/* The detail starts with prefix (the database's name or path). */
static void
detail_starts(const char *prefix)
{
	const char *d = cu_error_detail();
	if (strncmp(d, prefix, strlen(prefix)) != 0)
		fail_msg("detail \"%s\" does not start with \"%s\"", d, prefix);
}

/* ---- open ---- */

static void
test_open_pragmas(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	cu_db *db;
	/* not there and no CU_DB_CREATE: refused, nothing made */
	assert_int_equal(cu_db_open(path, "t", 0, &db), CU_ERR_DB);
	detail_starts(path);
	assert_int_equal(access(path, F_OK), -1);

	/* the catalogue's writer: WAL, NORMAL, foreign keys */
	assert_int_equal(cu_db_open(path, "t", CU_DB_CREATE | CU_DB_FULLMUTEX | CU_DB_WAL |
	                            CU_DB_SYNC_NORMAL | CU_DB_FOREIGN_KEYS, &db), 0);
	assert_string_equal(db->name, "t");
	pragma_text(db, "PRAGMA journal_mode", "wal");
	assert_int_equal(pragma_int(db, "PRAGMA synchronous"), 1);
	assert_int_equal(pragma_int(db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(pragma_int(db, "PRAGMA query_only"), 0);
	assert_int_equal(pragma_int(db, "PRAGMA busy_timeout"), CU_DB_BUSY_MS);
	assert_int_equal(cu_db_synchronous(db, true), 0);
	assert_int_equal(pragma_int(db, "PRAGMA synchronous"), 2);
	assert_int_equal(cu_db_synchronous(db, false), 0);
	assert_int_equal(pragma_int(db, "PRAGMA synchronous"), 1);
	assert_int_equal(cu_db_exec(db, "CREATE TABLE p(id INTEGER PRIMARY KEY);"
	                            "CREATE TABLE c(p INTEGER REFERENCES p(id));", "schema"), 0);
	/* foreign keys are enforced: a constraint is CU_ERR_DB, named */
	assert_int_equal(cu_db_exec(db, "INSERT INTO c VALUES(7)", "child row"), CU_ERR_DB);
	detail_starts("t: child row: FOREIGN KEY constraint failed");
	assert_int_equal(cu_db_close(db), 0);

	/* auth's and audit's writers: FULL */
	assert_int_equal(cu_db_open(path, "t", CU_DB_WAL | CU_DB_SYNC_FULL, &db), 0);
	assert_int_equal(pragma_int(db, "PRAGMA synchronous"), 2);
	assert_int_equal(pragma_int(db, "PRAGMA foreign_keys"), 0); /* not asked for */
	assert_int_equal(cu_db_close(db), 0);

	/* a reader: query_only, writes refused, no write transaction */
	assert_int_equal(cu_db_open(path, "t", CU_DB_QUERY_ONLY | CU_DB_FOREIGN_KEYS, &db), 0);
	assert_int_equal(pragma_int(db, "PRAGMA query_only"), 1);
	assert_int_equal(pragma_int(db, "PRAGMA foreign_keys"), 1);
	pragma_text(db, "PRAGMA journal_mode", "wal"); /* the file's, kept */
	assert_int_equal(cu_db_exec(db, "INSERT INTO p VALUES(1)", "insert"), CU_ERR_DB);
	assert_int_equal(cu_db_begin(db, true), CU_ERR_INVAL);
	assert_string_equal(cu_error_detail(), "t was opened read-only");
	assert_int_equal(cu_db_begin(db, false), 0); /* a snapshot is fine */
	cu_db_rollback(db);
	assert_true(sqlite3_get_autocommit(db->sql));
	assert_int_equal(cu_db_close(db), 0);
	/* closing the last connection left no -wal or -shm behind */
	char side[PATH_MAX];
	assert_int_equal(cu_path(side, sizeof(side), "%s-wal", path), 0);
	assert_int_equal(access(side, F_OK), -1);

	/* never through a symbolic link */
	char link_path[PATH_MAX];
	fresh_path(link_path, sizeof(link_path));
	assert_int_equal(symlink(path, link_path), 0);
	assert_int_equal(cu_db_open(link_path, "t", 0, &db), CU_ERR_DB);
	detail_starts(link_path);
	assert_int_equal(cu_db_close(NULL), 0);
}

/* ---- the mapping ---- */

static void
test_err_table(void **state)
{
	(void)state;
	static const struct {
		int rc, sys, want;
	} cases[] = {
		{SQLITE_OK, 0, 0},
		{SQLITE_ROW, 0, 0},
		{SQLITE_DONE, 0, 0},
		{SQLITE_FULL, 0, CU_ERR_NOSPC},
		{SQLITE_IOERR_WRITE, ENOSPC, CU_ERR_NOSPC},
		{SQLITE_IOERR_WRITE, EFBIG, CU_ERR_NOSPC},
		{SQLITE_IOERR_WRITE, EDQUOT, CU_ERR_NOSPC},
		{SQLITE_IOERR_TRUNCATE, EFBIG, CU_ERR_NOSPC},
		{SQLITE_IOERR_SHMSIZE, ENOSPC, CU_ERR_NOSPC},
		{SQLITE_IOERR_FSYNC, ENOSPC, CU_ERR_NOSPC},
		{SQLITE_IOERR_WRITE, EIO, CU_ERR_DB},
		{SQLITE_IOERR_READ, 0, CU_ERR_DB},
		{SQLITE_IOERR, 0, CU_ERR_DB},
		{SQLITE_IOERR_NOMEM, 0, CU_ERR_NOMEM},
		{SQLITE_NOMEM, 0, CU_ERR_NOMEM},
		{SQLITE_BUSY, 0, CU_ERR_BUSY},
		{SQLITE_BUSY_SNAPSHOT, 0, CU_ERR_BUSY},
		{SQLITE_BUSY_TIMEOUT, 0, CU_ERR_BUSY},
		{SQLITE_LOCKED, 0, CU_ERR_BUSY},
		{SQLITE_LOCKED_SHAREDCACHE, 0, CU_ERR_BUSY},
		{SQLITE_CORRUPT, 0, CU_ERR_DAMAGED},
		{SQLITE_CORRUPT_INDEX, 0, CU_ERR_DAMAGED},
		{SQLITE_NOTADB, 0, CU_ERR_DAMAGED},
		{SQLITE_ERROR, ENOSPC, CU_ERR_DB},     /* errno counts for I/O errors only */
		{SQLITE_CONSTRAINT_UNIQUE, 0, CU_ERR_DB},
		{SQLITE_READONLY, 0, CU_ERR_DB},
		{SQLITE_CANTOPEN, ENOENT, CU_ERR_DB},
		{SQLITE_MISUSE, 0, CU_ERR_DB},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cu_db_err(cases[i].rc, cases[i].sys) != cases[i].want)
			fail_msg("cu_db_err(%d, %d) = %d, expected %d", cases[i].rc, cases[i].sys,
			         cu_db_err(cases[i].rc, cases[i].sys), cases[i].want);
}

static cu_db *
table_db(const char *path, unsigned flags)
{
	cu_db *db;
	assert_int_equal(cu_db_open(path, "t", CU_DB_CREATE | flags, &db), 0);
	assert_int_equal(cu_db_exec(db, "CREATE TABLE IF NOT EXISTS b(x BLOB)", "schema"), 0);
	return db;
}

/* SQLITE_FULL itself: the database may not grow past its page limit. */
static void
test_err_full(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	cu_db *db = table_db(path, CU_DB_WAL);
	assert_int_equal(cu_db_exec(db, "PRAGMA max_page_count = 8", "limit"), 0);
	int r = cu_db_exec(db, "INSERT INTO b VALUES(zeroblob(100000))", "growing");
	assert_int_equal(r, CU_ERR_NOSPC);
	detail_starts("t: growing: database or disk is full");
	assert_int_equal(cu_db_close(db), 0);
}

/* The other connection holds the write lock. */
static void
test_err_busy(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	cu_db *a = table_db(path, CU_DB_WAL), *b = table_db(path, CU_DB_WAL);
	assert_int_equal(cu_db_begin(a, true), 0);
	sqlite3_busy_timeout(b->sql, 0); /* no 10 s wait in a test */
	assert_int_equal(cu_db_begin(b, true), CU_ERR_BUSY);
	detail_starts("t: begin: database is locked");
	assert_int_equal(cu_db_commit(a), 0);
	assert_int_equal(cu_db_begin(b, true), 0);
	cu_db_rollback(b);
	assert_int_equal(cu_db_close(a), 0);
	assert_int_equal(cu_db_close(b), 0);
}

/* A file that is not a database is seen at the first read: the pragmas. */
static void
test_err_notadb(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (int i = 0; i < 8192; i++)
		fputc("not a database "[i % 15], f);
	assert_int_equal(fclose(f), 0);
	cu_db *db;
	assert_int_equal(cu_db_open(path, "t", CU_DB_WAL, &db), CU_ERR_DAMAGED);
	detail_starts(path);
	assert_non_null(strstr(cu_error_detail(), "file is not a database"));
	/* without pragmas the open itself reads nothing; the first query fails */
	assert_int_equal(cu_db_open(path, "t", 0, &db), 0);
	assert_int_equal(cu_db_exec(db, "SELECT count(*) FROM sqlite_master", "reading"),
	                 CU_ERR_DAMAGED);
	assert_int_equal(cu_db_close(db), 0);
}

/* A damaged page inside a real database. */
static void
test_err_corrupt(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	cu_db *db = table_db(path, 0); /* rollback journal: every page in the file */
	assert_int_equal(cu_db_exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	                            "FROM n WHERE i < 200) INSERT INTO b SELECT randomblob(300) "
	                            "FROM n", "filling"), 0);
	assert_int_equal(cu_db_close(db), 0);
	/* page 2 (the table's root, an interior page) overwritten with garbage */
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	uint8_t junk[4096];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), (ssize_t)sizeof(junk));
	assert_int_equal(close(fd), 0);
	assert_int_equal(cu_db_open(path, "t", 0, &db), 0);
	assert_int_equal(cu_db_exec(db, "SELECT sum(length(x)) FROM b", "reading"), CU_ERR_DAMAGED);
	detail_starts("t: reading: database disk image is malformed");
	assert_int_equal(cu_db_close(db), 0);
}

/* SQLite's own heap limit makes its allocations fail; in a child, so the
 * process-wide limit stays there. */
static void
test_err_nomem(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	cu_db *db = table_db(path, 0);
	assert_int_equal(cu_db_close(db), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int code = 10;
		if (cu_db_open(path, "t", 0, &db) == 0) {
			sqlite3_hard_heap_limit64(sqlite3_memory_used() + 256 * 1024);
			int r = cu_db_exec(db, "SELECT length(randomblob(8000000))", "allocating");
			code = r == CU_ERR_NOMEM ? 0 : 11;
			sqlite3_hard_heap_limit64(0);
			cu_db_close(db);
		}
		_exit(code);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- statements, transactions, meta ---- */

static void
test_stmt_cache(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	cu_db *db = table_db(path, CU_DB_WAL);
	static const char q[] = "SELECT count(*) FROM b";
	sqlite3_stmt *st, *again;
	assert_int_equal(cu_db_stmt(db, q, &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	/* still stepping: a bug, refused */
	assert_int_equal(cu_db_stmt(db, q, &again), CU_ERR_INVAL);
	cu_db_done(st);
	assert_int_equal(cu_db_stmt(db, q, &again), 0);
	assert_ptr_equal(again, st); /* prepared once */
	cu_db_done(again);
	assert_int_equal(db->nstmts, 1);
	/* CU_DB_STMTS_MAX different texts, then CU_ERR_LIMIT */
	static char texts[CU_DB_STMTS_MAX][40];
	for (int i = 0; i < CU_DB_STMTS_MAX; i++) {
		snprintf(texts[i], sizeof(texts[i]), "SELECT %d", i);
		int r = cu_db_stmt(db, texts[i], &st);
		assert_int_equal(r, i < CU_DB_STMTS_MAX - 1 ? 0 : CU_ERR_LIMIT);
		cu_db_done(st);
	}
	/* a prepare error is mapped and named */
	assert_int_equal(cu_db_prepare(db, "SELECT * FROM missing", "listing", &st), CU_ERR_DB);
	assert_null(st);
	detail_starts("t: listing: no such table: missing");
	assert_int_equal(cu_db_close(db), 0); /* finalizes every cached statement */
}

static void
test_transactions(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	cu_db *db = table_db(path, CU_DB_WAL);
	sqlite3_stmt *ins;
	assert_int_equal(cu_db_prepare(db, "INSERT INTO b VALUES(1)", "insert", &ins), 0);
	assert_int_equal(cu_db_begin(db, true), 0);
	assert_int_equal(cu_db_step_done(db, ins, "insert"), 0);
	sqlite3_reset(ins);
	cu_db_rollback(db);
	assert_true(sqlite3_get_autocommit(db->sql));
	cu_db_rollback(db); /* none open: nothing happens */
	assert_int_equal(cu_db_begin(db, true), 0);
	assert_int_equal(cu_db_step_done(db, ins, "insert"), 0);
	sqlite3_finalize(ins);
	assert_int_equal(cu_db_commit(db), 0);
	assert_int_equal(pragma_int(db, "SELECT count(*) FROM b"), 1);
	/* a COMMIT with no transaction fails, named */
	assert_int_equal(cu_db_commit(db), CU_ERR_DB);
	detail_starts("t: commit: cannot commit - no transaction is active");
	assert_int_equal(cu_db_close(db), 0);
}

/* cu_db_rows: one record per row, in order, growing past its first 8; the
 * bound and a reader's refusal stop it with nothing returned. */
struct pair_row {
	int64_t k;
	int64_t twice;
};

static int
read_pair(void *ctx, sqlite3_stmt *st, void *rec)
{
	int64_t refuse_at = *(const int64_t *)ctx;
	struct pair_row *p = rec;
	p->k = sqlite3_column_int64(st, 0);
	p->twice = 2 * p->k;
	return p->k == refuse_at ? cu_fail(CU_ERR_FORMAT, "row %lld is malformed", (long long)p->k)
	                         : 0;
}

static void
test_rows(void **state)
{
	(void)state;
	char path[PATH_MAX];
	fresh_path(path, sizeof(path));
	cu_db *db = table_db(path, CU_DB_WAL);
	assert_int_equal(cu_db_exec(db, "CREATE TABLE n(k INTEGER);"
	                            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
	                            "WHERE x < 20) INSERT INTO n SELECT x FROM c", "fill"), 0);
	struct cu_db_reader rd = {sizeof(struct pair_row), 20, "pairs", read_pair};
	int64_t refuse_at = -1;
	sqlite3_stmt *st;
	void *v = NULL;
	size_t n = 99;
	assert_int_equal(cu_db_prepare(db, "SELECT k FROM n ORDER BY k", "pairs", &st), 0);
	assert_int_equal(cu_db_rows(db, st, &rd, &refuse_at, &v, &n), 0);
	assert_int_equal(n, 20);
	const struct pair_row *p = v;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(p[i].k, (int64_t)i + 1);
		assert_int_equal(p[i].twice, 2 * ((int64_t)i + 1));
	}
	free(v);
	/* one over the bound */
	rd.max = 19;
	sqlite3_reset(st);
	v = NULL;
	assert_int_equal(cu_db_rows(db, st, &rd, &refuse_at, &v, &n), CU_ERR_LIMIT);
	assert_null(v);
	detail_starts("t: more than 19 pairs");
	/* the reader refuses row 13 */
	rd.max = 0;
	refuse_at = 13;
	sqlite3_reset(st);
	assert_int_equal(cu_db_rows(db, st, &rd, &refuse_at, &v, &n), CU_ERR_FORMAT);
	assert_null(v);
	assert_string_equal(cu_error_detail(), "row 13 is malformed");
	/* no rows: success, nothing allocated */
	sqlite3_finalize(st);
	assert_int_equal(cu_db_prepare(db, "SELECT k FROM n WHERE k > 100", "pairs", &st), 0);
	assert_int_equal(cu_db_rows(db, st, &rd, &refuse_at, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	sqlite3_finalize(st);
	assert_int_equal(cu_db_close(db), 0);
}

static void
test_meta(void **state)
{
	(void)state;
	char path[PATH_MAX], v[8];
	fresh_path(path, sizeof(path));
	cu_db *db;
	assert_int_equal(cu_db_open(path, "m.db", CU_DB_CREATE | CU_DB_WAL, &db), 0);
	assert_int_equal(cu_db_exec(db, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT "
	                            "NULL)", "schema"), 0);
	const char *const kv[][2] = {{"format", "x"}, {"version", "1"}, {"long", "12345678"}};
	assert_int_equal(cu_db_begin(db, false), 0);
	assert_int_equal(cu_db_meta_put(db, kv, 3), 0);
	assert_int_equal(cu_db_commit(db), 0);
	assert_int_equal(cu_db_meta_get(db, "format", v, sizeof(v)), 0);
	assert_string_equal(v, "x");
	assert_int_equal(cu_db_meta_get(db, "version", v, sizeof(v)), 0);
	assert_string_equal(v, "1");
	assert_int_equal(cu_db_meta_get(db, "nothing", v, sizeof(v)), CU_ERR_DAMAGED);
	assert_string_equal(cu_error_detail(), "m.db: meta nothing is missing");
	/* 8 bytes do not fit in 8 with the NUL */
	assert_int_equal(cu_db_meta_get(db, "long", v, sizeof(v)), CU_ERR_DAMAGED);
	assert_string_equal(cu_error_detail(), "m.db: meta long is malformed");
	assert_int_equal(cu_db_exec(db, "INSERT INTO meta VALUES('nul', CAST(x'610062' AS TEXT))",
	                            "nul"), 0);
	assert_int_equal(cu_db_meta_get(db, "nul", v, sizeof(v)), CU_ERR_DAMAGED);
	/* a key twice: the insert's error, named */
	assert_int_equal(cu_db_meta_put(db, kv, 1), CU_ERR_DB);
	detail_starts("m.db: meta: UNIQUE constraint failed");
	assert_int_equal(cu_db_close(db), 0);
}

/* ---- the same full disk from every module ---- */

/* One write under the limit, in a child: opens what it needs, lowers
 * RLIMIT_FSIZE, writes, and reports the result and detail through a pipe. */
struct limited {
	int r;
	char detail[512];
};

typedef int (*write_fn)(const char *dir, void (*limit)(void));

static void
limit_now(void)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_FSIZE, &lim) < 0)
		_exit(20);
	lim.rlim_cur = FSIZE_LIMIT;
	if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
		_exit(21);
}

static struct limited
run_limited(const char *dir, write_fn fn)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG */
		struct limited res = {0};
		cu_error_clear();
		res.r = fn(dir, limit_now);
		snprintf(res.detail, sizeof(res.detail), "%s", cu_error_detail());
		_exit(write(p[1], &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 30);
	}
	close(p[1]);
	struct limited res;
	ssize_t n = read(p[0], &res, sizeof(res));
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the child ended with status %#x", status);
	assert_int_equal(n, (ssize_t)sizeof(res));
	print_message("  %s -> %d (%s)\n", res.detail, res.r, cu_strerror(res.r));
	return res;
}

static int
segment_put(const char *dir, void (*limit)(void))
{
	cu_store *s;
	struct cu_cam_row cr;
	int r;
	if ((r = cu_store_open(dir, PW, strlen(PW), &s)) < 0)
		return 100 + r;
	if ((r = cu_catalog_writable(s)) < 0 || (r = cu_catalog_camera(s, "cam", false, &cr)) < 0)
		return 200 + r;
	struct cu_seg_row g = {.seq = 1, .status = CU_SEG_OPEN, .start_us = -1, .end_us = -1};
	limit();
	r = cu_catalog_segment_put(s, cr.row, &g, false);
	cu_store_close(s);
	return r;
}

static int
lock_create(const char *dir, void (*limit)(void))
{
	cu_store *s;
	int r;
	if ((r = cu_store_open(dir, PW, strlen(PW), &s)) < 0)
		return 100 + r;
	if ((r = cu_catalog_writable(s)) < 0)
		return 200 + r;
	static struct cu_lock l = {
		.headline = "case 12", .ncameras = 1, .cameras = {"cam"},
		.from_us = INT64_C(1767225600000000), .to_us = INT64_C(1767229200000000),
		.created_by = "tester",
	};
	limit();
	r = cu_lock_create(s, &l);
	cu_store_close(s);
	return r;
}

static int
audit_append(const char *dir, void (*limit)(void))
{
	cu_store *s;
	cu_audit *a;
	int r;
	if ((r = cu_store_open(dir, PW, strlen(PW), &s)) < 0)
		return 100 + r;
	if ((r = cu_audit_open(s, &a)) < 0)
		return 200 + r;
	struct cu_audit_entry e = {.type = "test.full", .actor = "tester", .detail = "{\"n\":2}"};
	limit();
	r = cu_audit_append(a, &e, NULL);
	cu_audit_close(a);
	cu_store_close(s);
	return r;
}

static int
auth_user_add(const char *dir, void (*limit)(void))
{
	cu_store *s;
	cu_auth *a;
	int r;
	if ((r = cu_store_open(dir, PW, strlen(PW), &s)) < 0)
		return 100 + r;
	if ((r = cu_auth_open(s, 0, &a)) < 0)
		return 200 + r;
	limit();
	r = cu_auth_user_add(a, "bob", USER_PW, strlen(USER_PW), NULL, 0, NULL);
	cu_auth_close(a);
	cu_store_close(s);
	return r;
}

static void
test_disk_full_everywhere(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(cu_path(dir, sizeof(dir), "%s/store", tmproot), 0);
	struct cu_store_create_opts o = {.encryption = CU_ENC_NONE, .kdf = quick_kdf};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &o), 0);
	/* each database exists and has a row before the disk fills */
	cu_store *s;
	assert_int_equal(cu_store_open(dir, PW, strlen(PW), &s), 0);
	struct cu_cam_row cr;
	assert_int_equal(cu_catalog_writable(s), 0);
	assert_int_equal(cu_catalog_camera(s, "cam", true, &cr), 0);
	cu_audit *au;
	assert_int_equal(cu_audit_open(s, &au), 0);
	struct cu_audit_entry e = {.type = "test.start", .actor = "tester"};
	assert_int_equal(cu_audit_append(au, &e, NULL), 0);
	cu_audit_close(au);
	cu_auth *a;
	assert_int_equal(cu_auth_open(s, 0, &a), 0);
	assert_int_equal(cu_auth_user_add(a, "alice", USER_PW, strlen(USER_PW), NULL, 0, NULL), 0);
	cu_auth_close(a);
	cu_store_close(s);

	static const struct {
		const char *what, *name;
		write_fn fn;
	} cases[] = {
		{"catalogue segment row", "catalogue: ", segment_put},
		{"evidence lock", "catalogue: ", lock_create},
		{"audit entry", "audit.db: ", audit_append},
		{"auth user", "auth.db: ", auth_user_add},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s:\n", cases[i].what);
		struct limited res = run_limited(dir, cases[i].fn);
		if (res.r != CU_ERR_NOSPC)
			fail_msg("%s: %d (%s), expected CU_ERR_NOSPC", cases[i].what, res.r, res.detail);
		if (strncmp(res.detail, cases[i].name, strlen(cases[i].name)) != 0)
			fail_msg("%s: detail \"%s\" does not name %s", cases[i].what, res.detail,
			         cases[i].name);
	}

	/* nothing half-written stayed behind, and every module still works */
	assert_int_equal(cu_store_open(dir, PW, strlen(PW), &s), 0);
	struct cu_seg_row *rows;
	size_t n;
	assert_int_equal(cu_catalog_segments(s, cr.row, true, &rows, &n), 0);
	assert_int_equal(n, 0);
	free(rows);
	struct cu_lock *locks;
	assert_int_equal(cu_lock_list(s, NULL, true, 0, &locks, &n), 0);
	assert_int_equal(n, 0);
	free(locks);
	struct cu_audit_report *rep;
	assert_int_equal(cu_audit_verify(s, &rep), 0);
	assert_false(rep->tampered);
	assert_int_equal(rep->entries, 1); /* test.start; test.full never went in */
	cu_audit_report_free(rep);
	assert_int_equal(cu_auth_open(s, 0, &a), 0);
	struct cu_auth_user *users;
	assert_int_equal(cu_auth_user_list(a, &users, &n), 0);
	assert_int_equal(n, 1); /* alice; bob was never added */
	cu_auth_users_free(users, n);
	assert_int_equal(cu_auth_user_add(a, "bob", USER_PW, strlen(USER_PW), NULL, 0, NULL), 0);
	cu_auth_close(a);
	cu_store_close(s);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmproot) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmproot);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_pragmas),
		cmocka_unit_test(test_err_table),
		cmocka_unit_test(test_err_full),
		cmocka_unit_test(test_err_busy),
		cmocka_unit_test(test_err_notadb),
		cmocka_unit_test(test_err_corrupt),
		cmocka_unit_test(test_err_nomem),
		cmocka_unit_test(test_stmt_cache),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_meta),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_disk_full_everywhere),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
