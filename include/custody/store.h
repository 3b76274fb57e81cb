/* custody — the media database.
 *
 * A store is a directory: per camera, append-only segment files of encrypted
 * frames chained with SHA-256 and sealed with Ed25519 signatures; and a SQLite
 * catalogue (WAL) indexing them. Media bytes never go into SQL. The format is
 * docs/formats/media-database.md.
 *
 * Threads: a cu_store may be shared by many threads; each cu_writer is used by
 * one thread at a time. Writers of different cameras never wait on each other
 * except for the short catalogue commit after each flush. */
#ifndef CUSTODY_STORE_H
#define CUSTODY_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"
#include "custody/media.h"
#include "custody/x509.h"

#define CU_CAMERAS_MAX 4096          /* cameras in one store */

enum cu_encryption {
	CU_ENC_NONE = 0,   /* signed, not encrypted */
	CU_ENC_LIGHT = 1,  /* the first 1000 bytes of every frame encrypted */
	CU_ENC_STRONG = 2, /* every byte encrypted */
};

#define CU_PASSWORD_MIN 12             /* store password, bytes */
#define CU_PASSWORD_MAX 1024
#define CU_SEGMENT_US_DEFAULT (60 * INT64_C(1000000))
#define CU_SEGMENT_US_MIN INT64_C(1000000)
#define CU_SEGMENT_US_MAX (3600 * INT64_C(1000000))
#define CU_SEAL_US 1000000             /* media is sealed at least this often */
#define CU_SEGMENT_BYTES_MAX (1024u * 1024 * 1024) /* a segment is cut before this */

typedef struct cu_store cu_store;
typedef struct cu_writer cu_writer;

const char *cu_encryption_name(int enc);
/* "none", "light", "strong" -> enum; CU_ERR_INVAL otherwise. */
int cu_encryption_parse(const char *s, int *ret);

/* cu_camera_name_check, CU_CAMERA_NAME_MAX: custody/media.h */

struct cu_store_create_opts {
	int encryption;                  /* enum cu_encryption */
	int64_t segment_us;              /* segment length; 0 = default */
	const char *site_name;           /* organisation in the certificates; NULL = "custody site" */
	const char *server_name;         /* recording server's CN; NULL = host name */
	struct cu_argon2_params kdf;     /* zeros = the defaults */
};

/* Creates a store in dir (which must not exist or be empty): keys, site CA,
 * recording-server certificate, catalogue. The password (CU_PASSWORD_MIN..MAX
 * bytes) wraps every key. On failure nothing is left behind in dir. */
int cu_store_create(const char *dir, const char *password, size_t pw_len,
                    const struct cu_store_create_opts *opts);

/* Changes the store password: the three keys are unwrapped with the old
 * password and wrapped again under the new one (fresh Argon2id salt), and
 * keyring.json is replaced atomically. No media is re-encrypted. kdf zeros =
 * the defaults. CU_ERR_PASSWORD when the old password is wrong. */
int cu_store_change_password(const char *dir, const char *old_pw, size_t old_len,
                             const char *new_pw, size_t new_len,
                             const struct cu_argon2_params *kdf);

/* Opens a store. With a password, the keys are unwrapped (a wrong password is
 * CU_ERR_PASSWORD); with password NULL the store opens for reading the
 * catalogue and certificates only. The store is never modified by opening. */
int cu_store_open(const char *dir, const char *password, size_t pw_len, cu_store **ret);
void cu_store_close(cu_store *s);

int cu_store_encryption(const cu_store *s);
int64_t cu_store_segment_us(const cu_store *s);

/* ---- recording ---- */

/* Opens the camera's writer (creating the camera on first use), taking its
 * lock (CU_ERR_BUSY if another process holds it). If the last session ended
 * without a clean stop, its unsealed tail is cut off and a signed RESTART
 * record names the hole. Writes a signed START record. Needs the password. */
int cu_writer_open(cu_store *s, const char *camera, cu_writer **ret);

/* Appends one frame. Timestamps must not go backwards by more than 10 s
 * within a track (CU_ERR_INVAL). Seals, flushes and starts new segments as
 * needed. On CU_ERR_NOSPC or CU_ERR_IO the unflushed frames are dropped, the
 * segment is rolled back to its last durable seal, and a GAP record is written
 * once writing works again; the writer stays usable. */
int cu_writer_append(cu_writer *w, const cu_frame *f);

/* Seals and makes durable whatever is pending if the oldest pending entry is
 * older than the seal interval by the monotonic clock; call it at least
 * every second when frames stop coming. */
int cu_writer_tick(cu_writer *w);

/* Seals and makes durable everything pending now. */
int cu_writer_flush(cu_writer *w);

/* Writes a signed GAP record: no frames from..to, for the reason given. */
int cu_writer_gap(cu_writer *w, int64_t from_us, int64_t to_us, const char *reason);

/* ---- event records: events about the footage, signed into it ---- */

#define CU_EVENT_TYPE_MAX 64            /* bytes of [A-Za-z0-9._/-], starting with a letter */
#define CU_EVENT_SOURCE_MAX 32          /* bytes of [a-z0-9_-], starting with a letter */
#define CU_EVENT_DETAIL_MAX 384         /* bytes of UTF-8 text without control characters;
                                           the whole record text stays within 512 bytes */

enum cu_event_phase { CU_EVENT_ONCE = 1, CU_EVENT_RAISE = 2, CU_EVENT_CLEAR = 3 };
enum cu_event_severity {
	CU_EVENT_INFO = 1, CU_EVENT_WARNING = 2, CU_EVENT_MAJOR = 3, CU_EVENT_CRITICAL = 4,
};

struct cu_event_note {
	int64_t at_us;                      /* when it happened, >= 0 */
	char type[CU_EVENT_TYPE_MAX + 1];   /* "tamper.covered", "onvif.motion", ... */
	int phase;                          /* enum cu_event_phase */
	char source[CU_EVENT_SOURCE_MAX + 1]; /* "analysis", "onvif", ... */
	int severity;                       /* enum cu_event_severity */
	char detail[CU_EVENT_DETAIL_MAX + 1]; /* may be empty */
};

const char *cu_event_phase_name(int phase);        /* "once", "raise", "clear", "?" */
const char *cu_event_severity_name(int severity);  /* "info" ... "critical", "?" */

/* Writes a signed EVENT record (docs/formats/media-database.md, "Event
 * records") into the camera's open segment, seals and makes it durable.
 * CU_ERR_INVAL (nothing written) when a field breaks its rule; an event
 * detail longer than its limit is refused, not cut: the caller cuts. */
int cu_writer_note(cu_writer *w, const struct cu_event_note *n);

/* The event of a verify report's record of kind "event" (struct
 * cu_verify_gap, kind CU_REC_EVENT_KIND): its fields parsed from the signed
 * text. CU_ERR_FORMAT for another kind or a text that breaks the rules. */
#define CU_REC_EVENT_KIND 6
struct cu_verify_gap;
int cu_event_note_of(const struct cu_verify_gap *g, struct cu_event_note *ret);

/* A condition as one period: an event raised at from_us and cleared at
 * to_us (same type and source); to_us -1 when not cleared within what was
 * read, from_us -1 for a clear whose raise lies before it; a "once" event is
 * a period with from_us = to_us. */
struct cu_event_period {
	char type[CU_EVENT_TYPE_MAX + 1];
	char source[CU_EVENT_SOURCE_MAX + 1];
	int severity;                       /* of the raise (of the clear when no raise) */
	int64_t from_us, to_us;
	char detail[CU_EVENT_DETAIL_MAX + 1]; /* of the raise (of the clear when no raise) */
};
#define CU_EVENT_PERIODS_MAX 100000

/* Pairs the event records among g[0..n) (other kinds are skipped; records in
 * the order found) into periods, in the order they start (raise, once, or the
 * lone clear). *ret is malloc'd (NULL when none; free()). CU_ERR_FORMAT for
 * an event record whose text breaks the rules; CU_ERR_LIMIT above
 * CU_EVENT_PERIODS_MAX. */
int cu_event_periods(const struct cu_verify_gap *g, size_t n, struct cu_event_period **ret,
                     size_t *ret_n);

struct cu_retention_result {
	uint64_t segments_deleted;
	uint64_t bytes_freed;
	uint64_t segments_locked;         /* segments the limits wanted deleted but an active
	                                     evidence lock keeps */
	int64_t next_deletable_us;        /* first frame of the oldest segment a later call
	                                     could delete (closed, no active lock over it);
	                                     -1 when there is none */
};

/* Deletes this camera's closed segments, oldest first, while they are older
 * than max_age_us (0 = no age limit) or the camera uses more than max_bytes
 * (0 = no size limit; locked footage counts towards it), never the open one
 * and never one whose [start, end] overlaps an evidence lock naming this
 * camera that is active at now_us: those are skipped (counted in
 * segments_locked) and the walk goes on past them, so what remains may have
 * holes. Signed RETENTION records (one for every hole left, see
 * docs/formats/media-database.md) are written and made durable before any
 * file is removed. If locked footage alone is over max_bytes, everything
 * else that is closed goes and the call succeeds. CU_ERR_BUSY: an evidence
 * lock over a segment to be deleted was made while this ran; nothing was
 * deleted (call again). With both limits 0 it is a question: nothing is
 * deleted or written, and *ret tells next_deletable_us (so that a store-wide
 * limit can pick the camera whose oldest deletable footage is oldest). */
int cu_writer_retention(cu_writer *w, int64_t max_age_us, uint64_t max_bytes, int64_t now_us,
                        struct cu_retention_result *ret);

/* Writes a STOP record, seals, flushes, releases the lock and frees the
 * writer (always, even on error). NULL is fine. */
int cu_writer_close(cu_writer *w);

/* ---- verification ---- */

struct cu_verify_gap {
	int kind;                         /* "gap", "restart", "retention", "start", "stop",
	                                     "event" (CU_REC_EVENT_KIND: reason holds its fields,
	                                     cu_event_note_of) */
	int64_t from_us, to_us;
	char reason[513];
};

struct cu_verify_camera {
	char name[CU_CAMERA_NAME_MAX + 1];
	char id[33];                      /* hex */
	uint64_t frames, seals, segments, records, bytes;
	int64_t first_us, last_us;        /* -1 when there are no frames */
	size_t ngaps;
	struct cu_verify_gap *gaps;       /* gap, restart, retention and event records */
	uint64_t unsealed_bytes;          /* open segment's tail not yet sealed */
	bool tampered;
	int64_t fail_time_us;             /* start of the first failed segment */
	uint64_t fail_segment;
	char fail_reason[512];
	uint64_t checked_seq;             /* the newest segment number checked, 0 none */
	uint64_t closed_seq;              /* the newest closed segment the catalogue lists, 0 none */
};

struct cu_verify_report {
	bool tampered;
	size_t ncameras;
	struct cu_verify_camera *cameras;
	size_t first_failure;             /* index into cameras when tampered */
	bool ca_mismatch;                 /* ca_fingerprint given and the store's CA differs */
	char signer_subject[512];
	uint8_t signer_fp[CU_SHA256_LEN];
	char ca_subject[512];
	uint8_t ca_fp[CU_SHA256_LEN];
};

struct cu_verify_opts {
	const char *camera;               /* NULL = all cameras */
	int64_t from_us, to_us;           /* segments overlapping [from, to]; to 0 = no end */
	int threads;                      /* 0 = every online CPU; at most 64 */
	const uint8_t *ca_fingerprint;    /* the site CA's SHA-256 as recorded at init, or NULL:
	                                     another CA makes the report tampered */
	/* Called from worker threads (serialised) as segments finish. */
	void (*progress)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
	void *progress_ctx;
	/* NULL, or a flag another thread may set: verification then stops after
	 * the segments being checked and returns CU_ERR_CANCELLED. */
	const atomic_bool *cancel;
	/* The integrity watch's increments: only segments numbered above
	 * after_seq (0 = all; the first one checked still links to the catalogue
	 * row before it), and with closed_only not the open (newest) one. Either
	 * makes the check a partial one, like a time window. */
	uint64_t after_seq;
	bool closed_only;
};

/* Checks every frame, seal, link and record of the selected segments, and
 * the catalogue against them. Returns 0 with a report (tampered or not), or a
 * negative cu_err when verification could not run (wrong password, missing
 * camera, unreadable store). */
int cu_store_verify(cu_store *s, const struct cu_verify_opts *opts,
                    struct cu_verify_report **ret);
void cu_verify_report_free(struct cu_verify_report *r);

/* ---- reading ---- */

struct cu_read_info {
	uint64_t frames, bytes;           /* handed to on_frame */
	int64_t first_us, last_us;        /* first and last frame time, -1 when none */
};

/* Reads a camera's frames with times in [from_us, to_us] (to_us 0: to the
 * end) in recorded order, starting at the video key frame at or before
 * from_us so that the first frame decodes. Each frame reaches on_frame only
 * after the seal covering it has verified and its segment links to the one
 * before (across a hole retention left, to the catalogue row of the last
 * segment deleted; verify checks the signed record) (a frame's data is valid
 * during the call). The unsealed tail of a
 * segment being written is not served. Stops at the first failure with
 * CU_ERR_TAMPERED and a detail naming the camera, the start time of the
 * failed segment and the reason; frames handed over before that were
 * verified. on_frame may stop the read by returning a negative cu_err.
 * ret_info (may be NULL) is written on success and on CU_ERR_TAMPERED. */
int cu_store_read(cu_store *s, const char *camera, int64_t from_us, int64_t to_us,
                  int (*on_frame)(void *ctx, const cu_frame *f), void *ctx,
                  struct cu_read_info *ret_info);

/* ---- information ---- */

struct cu_info_camera {
	char name[CU_CAMERA_NAME_MAX + 1];
	char id[33];
	int64_t first_us, last_us;        /* -1 when empty */
	uint64_t segments, frames, bytes;
	bool recording;                   /* a writer holds the lock now */
};

struct cu_store_info {
	int encryption;
	int64_t segment_us;
	char store_id[33];
	int64_t created_us;
	char signer_subject[512];
	uint8_t signer_fp[CU_SHA256_LEN];
	char ca_subject[512];
	uint8_t ca_fp[CU_SHA256_LEN];
	size_t ncameras;
	struct cu_info_camera *cameras;
	uint64_t total_bytes;
};

/* What the modules above the store (audit, auth, package) may know of it:
 * its identity and the public parts of its certificates. The signing key
 * is not here (cu_store_signer). Pointers stay valid while s is open. */
struct cu_store_identity {
	const char *dir;                         /* the store directory */
	const uint8_t *id;                       /* CU_ID_LEN bytes */
	int64_t created_us;
	const struct cu_x509_info *ca, *signer;  /* the site CA, the recording signer */
	const char *ca_pem, *cert_pem;           /* their certificates, PEM */
	size_t ca_len, cert_len;
};
void cu_store_identity(const cu_store *s, struct cu_store_identity *ret);
/* The same, as a value: cu_store_ident(s).signer->fingerprint. */
static inline struct cu_store_identity
cu_store_ident(const cu_store *s)
{
	struct cu_store_identity i;
	cu_store_identity(s, &i);
	return i;
}

/* A handle that signs with the store's recording key, for the audit log's
 * tree heads and auth's tokens: the key seed never leaves the store module.
 * CU_ERR_PASSWORD when the store was opened without its password. Release
 * with cu_sign_key_free. */
int cu_store_signer(const cu_store *s, cu_sign_key **ret);

/* Reads the catalogue (no password needed). */
int cu_store_info(cu_store *s, struct cu_store_info **ret);
void cu_store_info_free(struct cu_store_info *i);

/* 1 when the store has a camera of that name (recording now or not), 0 when
 * not, or a negative cu_err. */
int cu_store_camera_exists(cu_store *s, const char *camera);

/* A span of continuous recording. */
struct cu_range {
	int64_t from_us, to_us;
};
#define CU_RANGES_MAX 100000

/* The recorded spans of camera overlapping [from_us, to_us] (to_us 0: no
 * end), from the catalogue (nothing is verified): segments are merged when
 * one starts within tolerance_us of the end of the one before. At most max
 * spans (1..CU_RANGES_MAX); *ret_truncated says whether more exist. *ret is
 * malloc'd (free()). CU_ERR_NOTFOUND for an unknown camera. */
int cu_store_ranges(cu_store *s, const char *camera, int64_t from_us, int64_t to_us,
                    int64_t tolerance_us, size_t max, struct cu_range **ret, size_t *ret_n,
                    bool *ret_truncated);

/* ---- evidence locks and bookmarks ----
 *
 * Rows in the catalogue, not signed evidence: a lock keeps retention away from
 * footage, a bookmark helps find it. Reading works on a store opened without
 * the password (a catalogue made before these existed has none); changes
 * need none either, and make the catalogue writable the way a writer does.
 * Every change is a durable commit. Text is UTF-8 without control characters
 * (descriptions may hold newlines and tabs); times are µs in years
 * 1970-9999. A refused value is CU_ERR_INVAL with a detail naming the field;
 * a camera the store does not have is CU_ERR_NOTFOUND naming it. */

#define CU_LOCK_HEADLINE_MAX 200        /* bytes, UTF-8, no control characters, not empty */
#define CU_LOCK_DESCRIPTION_MAX 4000    /* bytes */
#define CU_LOCK_CAMERAS_MAX 64
#define CU_LOCKS_MAX 100000             /* per store */
#define CU_BOOKMARK_TITLE_MAX 200
#define CU_BOOKMARK_DESCRIPTION_MAX 4000
#define CU_BOOKMARKS_MAX 1000000        /* per store */
#define CU_BOOKMARK_LIST_MAX 10000      /* bookmarks one cu_bookmark_list returns */
#define CU_ACTOR_MAX 64                 /* user name of who made it */

struct cu_lock {
	int64_t id;                         /* assigned by cu_lock_create, never reused */
	char headline[CU_LOCK_HEADLINE_MAX + 1];
	char description[CU_LOCK_DESCRIPTION_MAX + 1];   /* may be empty */
	size_t ncameras;                    /* 1..CU_LOCK_CAMERAS_MAX, each named once */
	char cameras[CU_LOCK_CAMERAS_MAX][CU_CAMERA_NAME_MAX + 1];
	int64_t from_us, to_us;             /* from < to */
	int64_t expires_us;                 /* 0 = indefinite */
	char created_by[CU_ACTOR_MAX + 1];  /* not empty */
	int64_t created_us, updated_us;     /* set by the store */
};

/* Checks l and adds it; on success fills l->id, created_us and updated_us. */
int cu_lock_create(cu_store *s, struct cu_lock *l);
/* Replaces the lock l->id (headline, description, cameras, times) and sets
 * updated_us; created_by and created_us stay. CU_ERR_NOTFOUND: no such lock. */
int cu_lock_update(cu_store *s, const struct cu_lock *l);
/* CU_ERR_NOTFOUND: no such lock. */
int cu_lock_delete(cu_store *s, int64_t id);
/* *ret is written only on success. */
int cu_lock_get(cu_store *s, int64_t id, struct cu_lock *ret);
/* Locks naming camera (NULL: all), expired ones only when with_expired
 * (expired: expires_us != 0 && expires_us <= now_us). Ordered by id.
 * *ret is a malloc'd array (NULL when none) for free(). */
int cu_lock_list(cu_store *s, const char *camera, bool with_expired, int64_t now_us,
                 struct cu_lock **ret, size_t *ret_n);

struct cu_bookmark {
	int64_t id;                         /* assigned by cu_bookmark_create, never reused */
	char camera[CU_CAMERA_NAME_MAX + 1];
	int64_t at_us, end_us;              /* end_us 0: a moment; else > at_us */
	char title[CU_BOOKMARK_TITLE_MAX + 1];                 /* not empty */
	char description[CU_BOOKMARK_DESCRIPTION_MAX + 1];     /* may be empty */
	char created_by[CU_ACTOR_MAX + 1];  /* not empty */
	int64_t created_us;                 /* set by the store */
};

/* Checks b and adds it; on success fills b->id and created_us. */
int cu_bookmark_create(cu_store *s, struct cu_bookmark *b);
/* Checks b (as cu_bookmark_create does: pass the created_by read back) and
 * replaces bookmark b->id's at_us, end_us, title and description; the camera
 * stays. CU_ERR_NOTFOUND: no such bookmark on b->camera. */
int cu_bookmark_update(cu_store *s, const struct cu_bookmark *b);
/* CU_ERR_NOTFOUND: no such bookmark. */
int cu_bookmark_delete(cu_store *s, int64_t id);
/* *ret is written only on success. */
int cu_bookmark_get(cu_store *s, int64_t id, struct cu_bookmark *ret);
/* Bookmarks of camera (NULL: all) overlapping [from_us, to_us] (to_us 0: no
 * end), ordered by at_us then id. At most limit (1..CU_BOOKMARK_LIST_MAX).
 * *ret is a malloc'd array (NULL when none) for free(). */
int cu_bookmark_list(cu_store *s, const char *camera, int64_t from_us, int64_t to_us,
                     size_t limit, struct cu_bookmark **ret, size_t *ret_n);

#endif
