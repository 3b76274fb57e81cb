/* Private: what the evidence package (lib/package) needs of the store, which
 * alone knows the segment format: scanning a segment that is not a store's
 * file (a copy inside a package, read through a callback, checked against the
 * package's recorder certificate), choosing the segments of an export, and
 * re-writing a segment in encryption mode none with its seals unchanged
 * (docs/formats/evidence-package.md, "The segment copies"). */
#ifndef CU_STORE_EXPORT_H
#define CU_STORE_EXPORT_H

#include <stdarg.h>

#include "store/store_int.h"

/* "custody/v1/export" NUL: the export signature's domain separator (18 bytes). */
#define CU_EXPORT_SIG_DOMAIN "custody/v1/export"
#define CU_EXPORT_SIG_DOMAIN_LEN 18

/* Where a segment's bytes come from: read exactly len bytes at off (0 <= off,
 * off + len <= size) or return a negative cu_err. view, when not NULL, may
 * instead lend the bytes where they already are in memory (a decrypted
 * package chunk), valid until the next read or view: NULL when it cannot
 * (they span two chunks, or an error, which read then reports). It saves a
 * copy of every frame. */
struct cu_seg_source {
	int (*read)(void *ctx, void *buf, size_t len, uint64_t off);
	void *ctx;
	uint64_t size;                     /* bytes of the segment */
	const uint8_t *(*view)(void *ctx, size_t len, uint64_t off);
};

/* What a segment must match and who must have signed it. */
struct cu_seg_trust {
	uint8_t store_id[CU_ID_LEN];
	int encryption;                    /* the mode its header must say */
	const cu_store *keys;              /* the segment keys (encrypted modes); NULL: none */
	uint8_t key_id[CU_SHA256_LEN];     /* the signer certificate's fingerprint */
	uint8_t pub[CU_ED25519_KEY_LEN];   /* the signer's key */
	bool copy;                         /* an exported copy: its key salt must be zero */
	const char *signer_name;           /* for reasons: "... names a signing key that is not %s" */
};

/* The trust of a store's own segments. */
void cu_seg_trust_of_store(const cu_store *s, struct cu_seg_trust *ret);

/* cu_segment_scan over any source: the same checks, result and hooks
 * (store_int.h). Returns a negative cu_err only when the check could not run
 * (no memory, a source read failed, a hook refused). */
int cu_segment_scan_source(const struct cu_seg_trust *t, const struct cu_seg_source *src,
                           struct cu_seg_scan *scan, void (*progress)(void *ctx, uint64_t bytes),
                           void *pctx, const struct cu_scan_hooks *hooks);

/* The one "tampered" report of a segment scan (store and package verifiers):
 * records the segment's failure — fail = CU_ERR_TAMPERED, fail_ts = ts (-1:
 * unknown), the reason — and returns CU_SCAN_TAMPERED. The reason is cut at
 * its buffer (a report line). */
#define CU_SCAN_TAMPERED 1
int cu_seg_scan_fail(struct cu_seg_scan *sc, int64_t ts, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The one "tampered" report of a verifier's camera (store: struct
 * cu_verify_camera, package: struct cu_pkg_camera_report): marks it tampered
 * at time when (-1: unknown) for the reason fmt (cut at reason_size: a report
 * line). The caller decides which failure is the first: */
void cu_verify_failv(bool *tampered, int64_t *time_us, char *reason, size_t reason_size,
                     int64_t when, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

/* the one rule between cameras: a failure at a known time comes before one at
 * an unknown time (-1) and before any later one. */
static inline bool
cu_verify_fail_before(int64_t when, int64_t than)
{
	return when >= 0 && (than < 0 || when < than);
}

/* ---- export ---- */

/* One segment chosen for an export, from the catalogue. */
struct cu_export_seg {
	uint64_t seq;
	int status;                        /* CU_SEG_OPEN / CU_SEG_CLOSED */
	int64_t start_us, end_us;          /* as catalogued */
	uint64_t bytes;                    /* size of the store's file (catalogued) */
};

/* The camera's id and its segments (not deleted) whose catalogued frames
 * overlap [from_us, to_us], in order. *ret is malloc'd (NULL when none).
 * CU_ERR_NOTFOUND for an unknown camera. */
int cu_export_select(cu_store *s, const char *camera, int64_t from_us, int64_t to_us,
                     uint8_t ret_cam_id[static CU_ID_LEN], struct cu_export_seg **ret,
                     size_t *ret_n);

/* Reads the store's segment seq of camera cam_id, verifies it as
 * cu_segment_scan does, and hands its copy in mode none (header: mode 0,
 * zero salt; frames: stored length = plaintext length, plaintext bodies;
 * records and seals byte-identical) to sink, in pieces, each only once the
 * seal covering it has verified. The copy ends with the last valid seal, or
 * with the seal of entry number stop_entry when that is not 0 (an open
 * segment read twice gives the same copy). Returns 0 with *ret_scan filled
 * (the caller judges scan->fail: a copy was only handed over up to the last
 * valid seal) and *ret_bytes the copy's size, or a negative cu_err (the scan
 * could not run, or sink failed: its error). Free *ret_scan with
 * cu_seg_scan_free. */
int cu_segment_export(const cu_store *s, const uint8_t cam_id[static CU_ID_LEN], uint64_t seq,
                      uint64_t stop_entry, int (*sink)(void *ctx, const void *data, size_t len),
                      void *ctx, struct cu_seg_scan *ret_scan, uint64_t *ret_bytes);

/* The store's identity for a package: borrowed pointers, valid while the
 * store is open. */
struct cu_export_identity {
	const uint8_t *store_id;           /* CU_ID_LEN bytes */
	const char *ca_pem, *cert_pem;     /* site-ca.pem and server.pem */
	size_t ca_len, cert_len;
	const struct cu_x509_info *ca, *signer;
};
/* CU_ERR_PASSWORD when the store was opened without its password (the
 * export signature needs the server key). */
int cu_export_identity(const cu_store *s, struct cu_export_identity *ret);

/* The export signature: Ed25519 by the store's server key over
 * "custody/v1/export" NUL || manifest. */
int cu_export_sign(const cu_store *s, const void *manifest, size_t len,
                   uint8_t sig[static CU_ED25519_SIG_LEN]);

/* The message cu_export_sign signs, malloc'd, for verifiers. */
int cu_export_message(const void *manifest, size_t len, uint8_t **ret, size_t *ret_len);

#endif
