/* Private: the store's internals shared by its files. */
#ifndef CU_STORE_INT_H
#define CU_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include "custody/store.h"
#include "custody/x509.h"
#include "store/format.h"
#include "util/db.h"

#define CU_KEYRING_FILE "keyring.json"
#define CU_CA_FILE "site-ca.pem"
#define CU_CERT_FILE "server.pem"
#define CU_CATALOG_FILE "catalog.db"
#define CU_CAMERAS_DIR "cameras"
#define CU_KEYRING_MAX (64 * 1024)
#define CU_SEGMENTS_MAX 10000000     /* segments listed for one camera */

/* The keys, present only when the store was opened with the password. */
struct cu_keys {
	uint8_t data[CU_AES256_KEY_LEN];     /* media data key */
	uint8_t sign[CU_ED25519_KEY_LEN];    /* recording server's signing seed */
	uint8_t ca[CU_ED25519_KEY_LEN];      /* site CA's seed */
};

struct cu_store {
	char dir[PATH_MAX];
	uint8_t id[CU_ID_LEN];
	int encryption;
	int64_t segment_us;
	int64_t created_us;
	bool have_keys;
	struct cu_keys keys;
	char *ca_pem, *cert_pem;
	size_t ca_len, cert_len;
	struct cu_x509_info ca, signer;      /* parsed certificates */
	cu_db *db;                           /* catalog.db (lib/util/db.h) */
	bool db_readonly;                    /* opened read-only (verify, info) */
	pthread_mutex_t db_lock;             /* one catalogue connection, shared */
};

/* ---- keyring (keyring.c) ---- */
int cu_keyring_create(const char *path, const uint8_t store_id[static CU_ID_LEN], int encryption,
                      const char *password, size_t pw_len, const struct cu_argon2_params *kdf,
                      const struct cu_keys *keys);
/* Unwraps with old_pw and writes the keyring again under new_pw (atomic replace). */
int cu_keyring_rewrap(const char *path, const char *old_pw, size_t old_len, const char *new_pw,
                      size_t new_len, const struct cu_argon2_params *kdf);
/* Reads the keyring's store id and mode; with a password also unwraps keys. */
int cu_keyring_load(const char *path, const char *password, size_t pw_len,
                    uint8_t ret_store_id[static CU_ID_LEN], int *ret_encryption,
                    struct cu_keys *ret_keys);

/* ---- catalogue (catalog.c); every call takes db_lock itself ---- */
struct cu_seg_row {
	uint64_t seq;
	int status;                          /* CU_SEG_OPEN / CLOSED / DELETED */
	int64_t start_us, end_us;            /* -1 when no frames */
	uint64_t first_entry, last_entry;
	uint64_t frames, bytes;
	uint8_t end_chain[CU_SHA256_LEN];    /* chain value after the last entry (a seal) */
	uint8_t last_seal[CU_SHA256_LEN];    /* SHA-256 of the last seal's body */
};
enum { CU_SEG_OPEN = 0, CU_SEG_CLOSED = 1, CU_SEG_DELETED = 2 };

struct cu_cam_row {
	int64_t row;
	uint8_t id[CU_ID_LEN];
	char name[CU_CAMERA_NAME_MAX + 1];
	int64_t created_us;
};

int cu_catalog_create(const char *path, const uint8_t store_id[static CU_ID_LEN], int encryption,
                      int64_t segment_us, int64_t created_us);
int cu_catalog_open(cu_store *s, bool readonly);
/* Reopens a read-only catalogue read-write (once; safe from many threads). */
int cu_catalog_writable(cu_store *s);
void cu_catalog_close(cu_store *s);
/* Finds a camera by name; creates it when create is true. CU_ERR_NOTFOUND otherwise. */
int cu_catalog_camera(cu_store *s, const char *name, bool create, struct cu_cam_row *ret);
/* All cameras by name. *ret is malloc'd. */
int cu_catalog_cameras(cu_store *s, struct cu_cam_row **ret, size_t *ret_n);
/* The camera's segments in order of seq, deleted ones included when asked. */
int cu_catalog_segments(cu_store *s, int64_t cam, bool with_deleted, struct cu_seg_row **ret,
                        size_t *ret_n);
/* Inserts or replaces a segment row. durable: the commit is fsync'd before
 * returning (segment created, closed, recovered); otherwise (progress after
 * each seal) it may be lost on power loss, which recovery tolerates because
 * the files are the truth and a stale open row only understates them. */
int cu_catalog_segment_put(cu_store *s, int64_t cam, const struct cu_seg_row *row, bool durable);
/* Marks segments [from, to] of a camera deleted. */
int cu_catalog_segments_delete(cu_store *s, int64_t cam, uint64_t from, uint64_t to);

/* ---- evidence locks and bookmarks (locks.c) ---- */
/* Creates the lock and bookmark tables if they are missing. */
int cu_lock_schema(cu_db *db);
struct cu_span {
	int64_t from_us, to_us;
};
/* The time spans of the locks naming camera row cam that are active at now_us
 * (none expired). *ret is malloc'd (NULL when none). A catalogue without the
 * lock tables has none. */
int cu_lock_spans(cu_store *s, int64_t cam, int64_t now_us, struct cu_span **ret, size_t *ret_n);
/* Does an active lock in spans cover the segment (its [start_us, end_us])? */
bool cu_lock_covers(const struct cu_span *spans, size_t n, const struct cu_seg_row *row);
/* Marks the given segments of camera row cam deleted in one durable
 * transaction, unless a lock active at now_us now covers one of them (made
 * while retention ran): then nothing is marked and CU_ERR_BUSY is returned. */
int cu_lock_segments_delete(cu_store *s, int64_t cam, const struct cu_seg_row *rows, size_t n,
                            int64_t now_us);

/* ---- paths ---- */
int cu_store_camera_dir(const cu_store *s, const uint8_t cam_id[static CU_ID_LEN], char *buf,
                        size_t len);
int cu_store_segment_path(const cu_store *s, const uint8_t cam_id[static CU_ID_LEN], uint64_t seq,
                          char *buf, size_t len);
/* Per-segment AES key: HKDF(data key, salt, "custody/v1/segment-key" || store || camera || seq). */
int cu_store_segment_key(const cu_store *s, const struct cu_seg_header *h,
                         uint8_t out[static CU_AES256_KEY_LEN]);
/* GCM nonce of an entry: 4 zero bytes || entry number (LE). */
void cu_store_nonce(uint64_t entry, uint8_t out[static CU_GCM_NONCE_LEN]);

/* ---- segment scanning (verify.c), shared by verify and crash recovery ---- */
struct cu_scan_record {
	struct cu_record rec;
	uint64_t entry;
};

struct cu_seg_scan {
	struct cu_seg_header hdr;
	uint64_t file_size;
	int fail;                            /* 0, or a negative cu_err */
	char reason[384];                    /* what failed, when fail < 0 */
	int64_t fail_ts;                     /* time of the entry that failed, -1 unknown */
	/* everything below describes the segment up to good_end: its last valid seal */
	uint64_t good_end;
	uint8_t chain[CU_SHA256_LEN];        /* chain value after that seal */
	uint64_t last_entry;                 /* entry number of that seal */
	uint8_t last_seal[CU_SHA256_LEN];    /* SHA-256 of that seal's body */
	uint8_t first_prev_seal[CU_SHA256_LEN]; /* prev_seal of the segment's first seal */
	int64_t last_seal_ts;
	uint64_t frames, seals, records;
	int64_t first_ts, last_ts;           /* frames; -1 when none */
	uint32_t last_dur;
	int64_t end_ts;                      /* max(time + duration) over the frames, -1 none:
	                                        the segment's end, as the writer records it */
	struct cu_scan_record *recs;         /* records, malloc'd */
	size_t nrecs;
};

/* Reads, decrypts and checks one segment file against the store's keys and
 * signer. Stops at the first failure (recorded in scan->fail, not returned).
 * Returns a negative cu_err only when the check could not run at all (no
 * memory). progress, if set, is called with byte counts as it goes. */
int cu_segment_scan(const cu_store *s, const char *path, struct cu_seg_scan *scan,
                    void (*progress)(void *ctx, uint64_t bytes), void *ctx);

/* What a reader learns while a segment is scanned. Frames arrive decrypted but
 * unproven; on_seal says the frames since the previous on_seal are proven by
 * a valid seal; on_discard (at a failure or the end) that they never will be.
 * A hook returning a negative cu_err stops the scan with that error; on_seal
 * returning a positive value ends the scan cleanly after that seal (what
 * follows is not read). on_header (the 160 header bytes as read, once they
 * decode and belong to the store) and on_entry (every entry: its 40 header
 * bytes as read, decoded, and its plaintext, after the chain step and before
 * it is checked) serve a re-writer (lib/store/export.c); any hook may be NULL. */
struct cu_scan_hooks {
	int (*on_frame)(void *ctx, const struct cu_entry_header *h, const uint8_t *plain);
	int (*on_seal)(void *ctx);
	void (*on_discard)(void *ctx);
	void *ctx;
	int (*on_header)(void *ctx, const uint8_t raw[static CU_SEG_HEADER_LEN]);
	int (*on_entry)(void *ctx, const uint8_t raw[static CU_ENTRY_HEADER_LEN],
	                const struct cu_entry_header *h, const uint8_t *plain);
};
int cu_segment_scan_hooked(const cu_store *s, const char *path, struct cu_seg_scan *scan,
                           const struct cu_scan_hooks *hooks);
void cu_seg_scan_free(struct cu_seg_scan *scan);

#endif
