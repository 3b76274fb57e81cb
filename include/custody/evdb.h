/* custody — the event store and the notification outbox: STORE/events.db
 * (docs/formats/events-db.md). custodyd keeps every event it publishes here,
 * with the notices its rules accepted for delivery, written in the same
 * fsync'd transaction before any delivery attempt. A handle is safe to use
 * from several threads (one lock). */
#ifndef CUSTODY_EVDB_H
#define CUSTODY_EVDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CU_EVDB_FILE "events.db"
#define CU_EVDB_ID_LEN 36             /* "evt_" + 32 hex digits */
#define CU_EVDB_TYPE_MAX 63
#define CU_EVDB_CAMERA_MAX 64
#define CU_EVDB_SOURCE_MAX 15
#define CU_EVDB_DETAIL_MAX 767
#define CU_EVDB_USER_MAX 64
#define CU_EVDB_COMMENT_MAX 1024
#define CU_EVDB_TARGET_MAX 80         /* "webhook:NAME" */
#define CU_EVDB_QUERY_MAX 1000        /* events one query returns */
#define CU_EVDB_KEEP_MAX 100000       /* events kept (the oldest go first) */
#define CU_EVDB_KEEP_US (90 * 86400 * INT64_C(1000000)) /* and for at most 90 days */
#define CU_EVDB_STILL_MAX (512u << 10) /* an event's still kept for e-mail; bigger: a note */
#define CU_EVDB_STILLS_KEEP 1000       /* stills kept (the oldest go first; not while pending) */
#define CU_EVDB_NOTE_MAX 127           /* why a still was not kept */

typedef struct cu_evdb cu_evdb;

/* One event as stored. severity: 0 info, 1 warning, 2 major, 3 critical. */
struct cu_evrec {
	int64_t seq;                          /* order of storing (the paging cursor) */
	char id[CU_EVDB_ID_LEN + 1];
	int64_t t_us;
	char type[CU_EVDB_TYPE_MAX + 1];
	char camera[CU_EVDB_CAMERA_MAX + 1];  /* "" = not a camera's */
	char source[CU_EVDB_SOURCE_MAX + 1];
	char phase[8];                        /* "once", "raise", "clear" */
	int severity;
	char detail[CU_EVDB_DETAIL_MAX + 1];
	char acked_by[CU_EVDB_USER_MAX + 1];  /* "" = not acknowledged */
	int64_t acked_us;
	char ack_comment[CU_EVDB_COMMENT_MAX + 1];
};

/* One notice waiting in the outbox: the event's fields travel with it. */
struct cu_evnote {
	char id[CU_EVDB_ID_LEN + 1];          /* the notice id ("webhook-id") */
	char target[CU_EVDB_TARGET_MAX + 1];  /* "webhook:ops" */
	char rule[CU_EVDB_TARGET_MAX + 1];
	int attempts;
	int64_t created_us;                   /* written to the outbox */
	int64_t next_us;                      /* not tried before */
	struct cu_evrec ev;
};

/* A new random id "evt_" + 32 hex digits (CSPRNG). */
int cu_evdb_new_id(char out[static CU_EVDB_ID_LEN + 1]);

/* Opens (creating when missing) dir/events.db: WAL, synchronous FULL. */
int cu_evdb_open(const char *dir, cu_evdb **ret);
void cu_evdb_close(cu_evdb *db);            /* NULL is fine */

/* Stores ev and its n notices in one transaction, durable when it returns.
 * The notices are pending, due at once. With nconds > 0 the same transaction
 * sets (cond_set 1: raised) or clears (0) the conditions conds[] of ev's
 * camera, so that the de-duplication state and the notices it decided
 * cannot part in a crash. With still (not NULL), the event's still goes
 * into the same transaction, for its e-mail notices: kept when it is a JPEG
 * (FF D8 FF) of at most CU_EVDB_STILL_MAX bytes, else only a note of why
 * not (format version 2). */
int cu_evdb_add(cu_evdb *db, const struct cu_evrec *ev, const char *const *conds, size_t nconds,
                int cond_set, const struct cu_evnote *notes, size_t n, const uint8_t *still,
                size_t still_len);

/* The still kept with event event_id: *ret_jpeg malloc'd (free) and
 * *ret_len, or NULL and 0 when it was not kept, with ret_note saying why
 * ("" when kept). CU_ERR_NOTFOUND: the event had no still (or it is gone). */
int cu_evdb_still(cu_evdb *db, const char *event_id, uint8_t **ret_jpeg, size_t *ret_len,
                  char ret_note[static CU_EVDB_NOTE_MAX + 1]);

/* The condition state kept across restarts, for de-duplication: is (cond,
 * camera) raised now? 1 yes, 0 no; sets or clears it when set >= 0 (1 raise,
 * 0 clear; in its own transaction). Returns the state before. */
int cu_evdb_condition(cu_evdb *db, const char *cond, const char *camera, int set);

/* A query of stored events; newest first. */
struct cu_evq {
	const char *camera;                   /* NULL: any */
	const char *type_prefix;              /* NULL: any; "tamper." */
	int severity_min;                     /* 0: any */
	const char *phase;                    /* NULL: any */
	int64_t from_us, to_us;               /* 0: open */
	int64_t before_seq;                   /* 0: from the newest; else the cursor */
	size_t limit;                         /* 1..CU_EVDB_QUERY_MAX */
	/* which events the caller may see (by camera, "" = site-wide) */
	bool (*visible)(void *ctx, const char *camera);
	void *ctx;
};
/* Matching visible events into a malloc'd array (free), newest first;
 * *ret_more says whether more follow (the cursor is the last seq). */
int cu_evdb_query(cu_evdb *db, const struct cu_evq *q, struct cu_evrec **ret, size_t *ret_n,
                  bool *ret_more);
/* One event by id: 0, CU_ERR_NOTFOUND. */
int cu_evdb_get(cu_evdb *db, const char *id, struct cu_evrec *ret);
/* Acknowledges: 0; CU_ERR_NOTFOUND; CU_ERR_EXIST when already acknowledged. */
int cu_evdb_ack(cu_evdb *db, const char *id, const char *user, const char *comment,
                int64_t now_us);

/* Pending notices due at now_us, oldest due first, at most max: a malloc'd
 * array. *ret_next_us is the earliest due time of the rest (INT64_MAX: none). */
int cu_evdb_due(cu_evdb *db, int64_t now_us, size_t max, struct cu_evnote **ret, size_t *ret_n,
                int64_t *ret_next_us);
/* The outcome of an attempt. state: CU_EVDB_DELIVERED, CU_EVDB_FAILED (given
 * up) or CU_EVDB_PENDING (retry at next_us). error: "" or one line. */
enum { CU_EVDB_PENDING = 0, CU_EVDB_DELIVERED = 1, CU_EVDB_FAILED = 2 };
int cu_evdb_note_done(cu_evdb *db, const char *id, int state, int64_t next_us, const char *error);

/* Retention: drops events beyond CU_EVDB_KEEP_MAX or older than keep_us,
 * finished notices older than keep_us, and the stills of events gone or
 * beyond the newest CU_EVDB_STILLS_KEEP, except those a pending notice of
 * their event may still send. */
int cu_evdb_prune(cu_evdb *db, int64_t now_us, int64_t keep_us);

#endif
