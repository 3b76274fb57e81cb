/* Private: the one SQLite layer of libcustody (db.c).
 *
 * catalog.db (lib/store), audit.db (lib/audit) and auth.db (lib/auth) open,
 * prepare, run transactions, read their meta table and report SQLite errors
 * here, so that a full disk, a busy database or a damaged file gives the same
 * cu_err and the same kind of detail from every module. Callers still bind,
 * step and read through db->sql with the sqlite3 API itself.
 *
 * Error mapping (cu_db_err), from the extended result code:
 *   SQLITE_FULL, and SQLITE_IOERR_* whose errno is ENOSPC, EDQUOT or EFBIG
 *                                    -> CU_ERR_NOSPC
 *   SQLITE_BUSY*, SQLITE_LOCKED*     -> CU_ERR_BUSY
 *   SQLITE_NOMEM, SQLITE_IOERR_NOMEM -> CU_ERR_NOMEM
 *   SQLITE_CORRUPT*, SQLITE_NOTADB   -> CU_ERR_FORMAT
 *   anything else                    -> CU_ERR_DB
 * Every failure leaves the detail "<name>: <what>: <SQLite's message>", with
 * ": <strerror>" added when an I/O error carried an errno. */
#ifndef CU_UTIL_DB_H
#define CU_UTIL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

/* How long a statement waits for another connection's lock before BUSY. */
#define CU_DB_BUSY_MS 10000
/* Query texts one handle keeps prepared (lib/auth has about 70), and the
 * slots of the table that finds them by address (twice as many: short probes). */
#define CU_DB_STMTS_MAX 128
#define CU_DB_STMT_SLOTS (2 * CU_DB_STMTS_MAX)

/* cu_db_open flags. The pragmas run in this order, as one batch, right after
 * the file is opened; a flag not given leaves SQLite's default. */
enum {
	CU_DB_CREATE = 1u << 0,       /* create the file when missing */
	CU_DB_FULLMUTEX = 1u << 1,    /* serialised connection (SQLITE_OPEN_FULLMUTEX) */
	CU_DB_QUERY_ONLY = 1u << 2,   /* PRAGMA query_only=ON: a reader (no cu_db_begin(db, true)) */
	CU_DB_WAL = 1u << 3,          /* PRAGMA journal_mode=WAL */
	CU_DB_SYNC_NORMAL = 1u << 4,  /* PRAGMA synchronous=NORMAL */
	CU_DB_SYNC_FULL = 1u << 5,    /* PRAGMA synchronous=FULL */
	CU_DB_FOREIGN_KEYS = 1u << 6, /* PRAGMA foreign_keys=ON */
};

struct cu_db_slot {
	const char *sql;              /* the key: the caller's static text; NULL: free */
	sqlite3_stmt *st;             /* prepared once, reset after every use */
};

/* One connection. Callers read sql and name; the rest is db.c's. Like the
 * connection, the statement cache is not locked here: the caller serialises
 * every use of a handle (the store's db_lock, the auth handle's lock). */
typedef struct cu_db {
	sqlite3 *sql;                 /* the connection */
	const char *name;             /* in every detail: "catalogue", "audit.db" (static text) */
	unsigned flags;               /* CU_DB_* as opened */
	size_t nstmts;                /* slots in use */
	struct cu_db_slot stmts[CU_DB_STMT_SLOTS]; /* cu_db_stmt's cache */
} cu_db;

/* Opens path (never following a symbolic link) with extended result codes and
 * a CU_DB_BUSY_MS busy timeout, then sets the pragmas flags ask for. name
 * (static text) names the database in details. On failure nothing stays open
 * and the error is mapped as above, the detail naming path. *ret is written
 * only on success; free it with cu_db_close. */
int cu_db_open(const char *path, const char *name, unsigned flags, cu_db **ret);

/* Finalizes the cached statements, closes the connection and frees db.
 * Returns CU_ERR_DB when SQLite could not close it because a statement of
 * the caller's is still open (a bug: the connection then leaks). NULL is
 * fine. A transaction not committed is rolled back. */
int cu_db_close(cu_db *db);

/* The cu_err of an extended SQLite result code (the table above); sys_errno
 * is sqlite3_system_errno's value, looked at only for SQLITE_IOERR. Returns
 * 0 for SQLITE_OK, SQLITE_ROW and SQLITE_DONE. */
int cu_db_err(int rc, int sys_errno);

/* The error of db's last failed call, mapped by cu_db_err, with the detail
 * "<name>: <what>: <message>". Call it before anything else runs on db. */
int cu_db_fail(cu_db *db, const char *what);

/* Runs SQL text (several statements are fine) that returns no rows. */
int cu_db_exec(cu_db *db, const char *sql, const char *what);

/* A fresh statement for sql, finalized by the caller; *ret is NULL on failure. */
int cu_db_prepare(cu_db *db, const char *sql, const char *what, sqlite3_stmt **ret);

/* The prepared statement of sql, compiled on the first call for this handle
 * and kept until cu_db_close. sql must have static storage duration (a
 * literal or a static const array): its address is the key. The caller binds,
 * steps and reads, then calls cu_db_done on every path, before anything else
 * uses the same text: a statement left stepping would keep a read transaction
 * open (a stale view for this handle, and WAL checkpoints blocked for
 * everyone). CU_ERR_LIMIT past CU_DB_STMTS_MAX texts; CU_ERR_INVAL when the
 * statement is still stepping (a missing cu_db_done, or the same text nested
 * in itself: a bug). */
int cu_db_stmt(cu_db *db, const char *sql, sqlite3_stmt **ret);

/* Resets st and clears its bindings (no pointer into the caller's memory
 * stays behind) for its next use. NULL is fine. */
void cu_db_done(sqlite3_stmt *st);

/* Steps st once and expects SQLITE_DONE; the mapped error otherwise. */
int cu_db_step_done(cu_db *db, sqlite3_stmt *st, const char *what);

/* How cu_db_rows reads one row into a record. */
struct cu_db_reader {
	size_t size;                  /* of one record */
	size_t max;                   /* most rows (CU_ERR_LIMIT past it); 0: the query's LIMIT bounds them */
	const char *what;             /* "cameras": in details */
	int (*read)(void *ctx, sqlite3_stmt *st, void *rec); /* 0, or a cu_err that stops */
};

/* Steps st to its end and reads each row with rd->read into one malloc'd
 * array of records (doubling as it grows). On success *ret (NULL when there
 * are no rows) is the caller's to free; on failure nothing is returned. The
 * caller still resets or finalizes st. */
int cu_db_rows(cu_db *db, sqlite3_stmt *st, const struct cu_db_reader *rd, void *ctx, void **ret,
               size_t *ret_n);

/* BEGIN IMMEDIATE when write (the write lock at once, so what is read inside
 * stays true until COMMIT; CU_ERR_INVAL on a CU_DB_QUERY_ONLY handle), a
 * deferred BEGIN otherwise (one consistent snapshot for a reader). */
int cu_db_begin(cu_db *db, bool write);

/* COMMIT; on failure rolls back and returns the commit's error. */
int cu_db_commit(cu_db *db);

/* ROLLBACK if a transaction is open (SQLite may have ended it already, after
 * SQLITE_FULL for one); leaves the detail alone. */
void cu_db_rollback(cu_db *db);

/* PRAGMA synchronous=FULL (the next commit is durable, with every earlier
 * one) or back to NORMAL. Outside a transaction. */
int cu_db_synchronous(cu_db *db, bool full);

/* The meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) table that catalog.db,
 * audit.db and auth.db all have. cu_db_meta_get copies key's value and a NUL
 * into buf (cached statement; with the handle's lock held): CU_ERR_FORMAT
 * "<name>: meta <key> is missing" / "is malformed" (not text, NUL inside, or
 * len bytes or more). cu_db_meta_put inserts n key/value rows in order,
 * inside the caller's transaction. */
int cu_db_meta_get(cu_db *db, const char *key, char *buf, size_t len);
int cu_db_meta_put(cu_db *db, const char *const (*kv)[2], size_t n);

#endif
