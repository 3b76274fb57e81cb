/* custody — the tamper-evident audit log.
 *
 * Who did what, when and from where: logins, token refusals, user, role and
 * camera changes, bookmarks, evidence locks, exports and (when enabled) viewing
 * sessions. The log lives in STORE/audit.db (SQLite, WAL, every append fsync'd
 * before it returns). Its entries are the leaves of an RFC 9162 Merkle tree and
 * of a hash chain; the recording server signs tree heads (size, time, root,
 * chain) with its Ed25519 key at least every CU_AUDIT_HEAD_INTERVAL_US and when
 * before it closes the log. The format is docs/formats/audit-log.md.
 *
 * Threads: a cu_audit may be shared by many threads (one mutex). Several
 * processes may append to one audit.db: each append is one SQLite write
 * transaction that reads the log's state inside it. */
#ifndef CUSTODY_AUDIT_H
#define CUSTODY_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "custody/crypto.h"
#include "custody/store.h"

#define CU_AUDIT_NAME_MAX 128                /* type, actor, source: bytes */
#define CU_AUDIT_DETAIL_MAX (16 * 1024)      /* detail JSON, as given and canonical */
#define CU_AUDIT_ENTRIES_MAX (UINT64_C(1) << 40) /* entries in one log */
#define CU_AUDIT_HEAD_INTERVAL_US (60 * INT64_C(1000000)) /* the server signs at least this often */
/* Entries not yet under a signed head are accepted by verify while they are no
 * older than the newest signed head by more than this (a crash between two
 * heads); see docs/formats/audit-log.md, "Unsigned entries". */
#define CU_AUDIT_UNSIGNED_SLACK_US CU_AUDIT_HEAD_INTERVAL_US
#define CU_AUDIT_REASON_MAX 512

typedef struct cu_audit cu_audit;

/* One entry as the caller gives it. Strings are NUL-terminated UTF-8. */
struct cu_audit_entry {
	int64_t time_us;        /* when it happened, µs UTC; 0 = now. Use the time of
	                         * writing the entry (a viewing session's start and end
	                         * go into detail), see "Unsigned entries" in the doc */
	const char *type;       /* dotted name: "auth.login", "export", "view.live";
	                         * 1..CU_AUDIT_NAME_MAX bytes of [a-z0-9_], '.' between parts */
	const char *actor;      /* user name, or "-"; NULL = "-"; text under the rule for
	                         * text people type (docs/api.md "Text fields"), one line */
	const char *source;     /* client address or "cli"; NULL = "-"; the same rule */
	const char *detail;     /* a JSON object as text; NULL = "{}". Stored canonically
	                         * (compact, keys sorted), at most CU_AUDIT_DETAIL_MAX bytes */
};

/* A signed tree head. */
struct cu_audit_head {
	int64_t id;                              /* row id in audit.db (order of signing) */
	uint64_t size;                           /* entries covered: indexes 0..size-1 */
	int64_t time_us;                         /* when it was signed */
	uint8_t root[CU_SHA256_LEN];             /* RFC 9162 Merkle tree hash of those entries */
	uint8_t chain[CU_SHA256_LEN];            /* hash chain value after entry size-1 */
	uint8_t key_id[CU_SHA256_LEN];           /* SHA-256 of the signer certificate's DER */
	uint8_t signature[CU_ED25519_SIG_LEN];   /* Ed25519 over the tree-head message */
};

/* Opens the store's audit log for appending, creating audit.db on first use
 * (atomically, with a signed head of size 0 that dates the log's creation).
 * Needs the store opened with its password (CU_ERR_PASSWORD otherwise): every
 * head is signed with the recording server's key. Entries a crash left after
 * the newest head are covered by the next cu_audit_sign_head. A log whose
 * saved state disagrees with its newest entry or head is CU_ERR_TAMPERED (run
 * verify). The store must outlive the handle. */
int cu_audit_open(cu_store *s, cu_audit **ret);

/* Appends one entry and makes it durable (synchronous=FULL) before returning.
 * Indexes start at 0 and are consecutive; *ret_index (may be NULL) gets the
 * new entry's. Refuses bad names, a detail that is not a JSON object, values
 * over their limits (CU_ERR_INVAL / CU_ERR_LIMIT, detail names the field) and
 * a full log (CU_AUDIT_ENTRIES_MAX). On failure nothing is appended.
 * Does not sign: call cu_audit_sign_head at least every
 * CU_AUDIT_HEAD_INTERVAL_US. */
int cu_audit_append(cu_audit *a, const struct cu_audit_entry *e, uint64_t *ret_index);

/* How an export ended: the "export.end" entry, one shape whoever exported
 * (custody export --store, custodyd); docs/api.md "Audit entries of
 * exports". */
struct cu_audit_export_end {
	const char *id;                      /* the export's id, as in its "export" entry */
	const char *format;                  /* "evidence", "mp4" or "stills" */
	bool done;                           /* false: it failed */
	uint64_t bytes;                      /* done: size of the file the export made */
	uint8_t sha256[CU_SHA256_LEN];       /* done: SHA-256 of that file */
	const char *error;                   /* failed: why, one line (not UTF-8: replaced) */
};

/* Appends the "export.end" entry by actor from source: detail {id, status:
 * "done", format, bytes, sha256 (hex)} or {id, status: "failed", format,
 * error}. Errors as cu_audit_append; does not sign. */
int cu_audit_export_end(cu_audit *a, const char *actor, const char *source,
                        const struct cu_audit_export_end *e, uint64_t *ret_index);

/* Signs a tree head over every entry appended so far (by any process) and
 * stores it. Returns 1 when a head was signed, 0 when the newest head already
 * covered every entry (nothing signed), or a negative cu_err. ret_head (may be
 * NULL) gets the newest head either way; when the log has no entries and no
 * head, a head of size 0 is signed. Cost: O(log n). */
int cu_audit_sign_head(cu_audit *a, struct cu_audit_head *ret_head);

/* Frees the handle; NULL is fine. It does not sign: a server calls
 * cu_audit_sign_head first (the "on shutdown" head), so that closing can
 * never fail and a caller that means to leave entries unsigned can. */
void cu_audit_close(cu_audit *a);

/* ---- verification ---- */

struct cu_audit_report {
	bool tampered;
	uint64_t entries;                        /* rows in the log */
	uint64_t heads;                          /* tree heads */
	uint64_t bad_heads;                      /* heads that failed any check */
	uint64_t signed_entries;                 /* size of the largest valid head */
	uint64_t unsigned_entries;               /* entries after it (a crash, or the last minute) */
	int64_t newest_head_us;                  /* time of the newest valid head; -1 none */
	uint8_t root[CU_SHA256_LEN];             /* Merkle tree hash of all entries, recomputed */
	/* when tampered: */
	uint64_t first_bad_index;                /* see docs/formats/audit-log.md, "Verification" */
	uint64_t proven_entries;                 /* entries 0..proven-1 are proven by a valid head
	                                          * that no failure precedes */
	int64_t first_bad_head;                  /* id of the first failing head; -1 none */
	char reason[CU_AUDIT_REASON_MAX];
	char signer_subject[512];
	uint8_t signer_fp[CU_SHA256_LEN];
	char ca_subject[512];
	uint8_t ca_fp[CU_SHA256_LEN];
};

/* Recomputes every leaf from the stored columns, the hash chain and the
 * Merkle tree, checks the indexes run 0..n-1, and checks every tree head's
 * key id, signature, root and chain against the store's signer certificate.
 * No password needed; the store directory is not changed. Reads the log in
 * one read transaction (a consistent snapshot while a server appends), one
 * row at a time. Returns 0 with a report (tampered or not), CU_ERR_NOTFOUND
 * when the store has no audit log, or another negative cu_err when the check
 * could not run. */
int cu_audit_verify(cu_store *s, struct cu_audit_report **ret);
void cu_audit_report_free(struct cu_audit_report *r);

enum cu_audit_format { CU_AUDIT_CSV = 1, CU_AUDIT_JSON = 2 };

/* Writes every entry to out, for investigators, one row at a time:
 * CU_AUDIT_CSV: RFC 4180 (CRLF, every field quoted, quotes doubled), a header
 * row "index,time,type,actor,source,detail", time in ISO 8601 UTC, detail as
 * its canonical JSON text. CU_AUDIT_JSON: an object {"format", "version",
 * "entries": [{index, time, time_us, type, actor, source, detail}],
 * "tree_heads": [{id, size, time, time_us, root, chain, key_id, signature}]}
 * with detail as a JSON object. Does not verify (run cu_audit_verify). */
int cu_audit_export(cu_store *s, int format, FILE *out);

/* A page of the log for a reader (the API's GET audit?limit=): the entries
 * matching every filter given, newest first. */
#define CU_AUDIT_PAGE_MAX 1000
struct cu_audit_query {
	bool has_before;                  /* only entries with index < before */
	uint64_t before;
	size_t limit;                     /* 1..CU_AUDIT_PAGE_MAX */
	const char *type, *actor;         /* exact match, or NULL; at most CU_AUDIT_NAME_MAX */
	const char *text;                 /* in the detail's JSON text, ASCII case ignored, or NULL */
	int64_t from_us, to_us;           /* time bounds, inclusive; 0: none */
};
struct cu_audit_page {
	size_t count;                     /* entries written */
	bool more;                        /* more entries match before the last one written */
	uint64_t next_before;             /* the last one's index: ask again with before = it */
};

/* Writes the entries matching q to out as one JSON array of the objects of
 * the JSON export (cu_audit_export), newest first, at most q->limit, and
 * fills *ret. One read of audit.db; does not verify. CU_ERR_INVAL for a
 * limit or filter out of bounds. */
int cu_audit_page(cu_store *s, const struct cu_audit_query *q, FILE *out,
                  struct cu_audit_page *ret);

/* ---- building blocks (documented in docs/formats/audit-log.md) ---- */

/* The leaf hash of an entry as stored at index: SHA-256(0x00 || leaf bytes).
 * e->detail must already be canonical (it is hashed as given) and
 * e->time_us is used as is (0 is not "now" here). */
int cu_audit_leaf_hash(uint64_t index, const struct cu_audit_entry *e,
                       uint8_t out[static CU_SHA256_LEN]);

/* RFC 9162 Merkle tree hash of n leaf hashes of 32 bytes each, back to back
 * (n <= CU_AUDIT_ENTRIES_MAX),
 * computed with the log's incremental frontier (O(n) time, O(log n) memory). */
int cu_audit_tree_root(const uint8_t *leaf_hashes, uint64_t n, uint8_t out[static CU_SHA256_LEN]);

#endif
