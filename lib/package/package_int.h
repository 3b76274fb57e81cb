/* Private: the evidence package's layers (docs/formats/evidence-package.md):
 * the clear header and the chunked (encrypted) container (container.c), the
 * canonical ustar stream (tar.c), and manifest.json (manifest.c). */
#ifndef CU_PACKAGE_INT_H
#define CU_PACKAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/package.h"

/* ---- the container (container.c) ---- */

#define CU_PKG_MAGIC "CUSTPKG"              /* with its NUL: 8 bytes */
#define CU_PKG_HEADER_LEN 128
#define CU_PKG_HASHED_LEN 96                /* header bytes the header hash covers */
#define CU_PKG_FLAG_ENCRYPTED 0x0001
#define CU_PKG_FLAG_NO_REEXPORT 0x0002
#define CU_PKG_SALT_LEN 16
#define CU_PKG_STORED_CHUNK (CU_PKG_CHUNK + CU_GCM_TAG_LEN)
#define CU_PKG_PLAIN_MAX (UINT64_C(1) << 50) /* a sane bound on L (1 PiB) */

struct cu_pkg_header {
	uint16_t version;
	uint16_t flags;                     /* CU_PKG_FLAG_* */
	uint32_t chunk;                     /* CU_PKG_CHUNK */
	struct cu_argon2_params kdf;        /* zeros when not encrypted */
	uint8_t salt[CU_PKG_SALT_LEN];
	uint8_t key_check[CU_SHA256_LEN];
	uint64_t plain_len;                 /* L: bytes of the tar stream */
	uint8_t hash[CU_SHA256_LEN];        /* H(bytes 0..95), set by encode */
};

/* Encodes h (setting h->hash) into out. */
int cu_pkg_header_encode(struct cu_pkg_header *h, uint8_t out[static CU_PKG_HEADER_LEN]);

/* Decodes and checks a header. CU_ERR_FORMAT: not a package (too short, no
 * magic); CU_ERR_TAMPERED: damaged (header hash, a field out of its rules:
 * detail says which); CU_ERR_UNSUPPORTED: an intact header of a newer version. */
int cu_pkg_header_decode(const uint8_t *in, size_t len, struct cu_pkg_header *ret);

/* Chunks of a stream of plain_len bytes (at least one). */
uint64_t cu_pkg_chunks(uint64_t plain_len);
/* The size of the whole file the header describes. */
uint64_t cu_pkg_file_size(const struct cu_pkg_header *h);
/* The file offset where chunk i starts. */
uint64_t cu_pkg_chunk_offset(const struct cu_pkg_header *h, uint64_t i);

/* From the password and the header's salt and parameters: the AES key and
 * the key check. Secrets: the caller wipes both. */
int cu_pkg_derive(const char *password, size_t len, const struct cu_pkg_header *h,
                  uint8_t key[static CU_AES256_KEY_LEN], uint8_t check[static CU_SHA256_LEN]);

/* Writes the chunk stream after the header to fd, sequentially. key NULL:
 * not encrypted. file_hash NULL, or a started SHA-256 (the caller's, used
 * until finish) that gets every byte written to fd. Exactly h->plain_len
 * bytes must be written, then finish. */
typedef struct cu_pkg_out cu_pkg_out;
int cu_pkg_out_new(int fd, const struct cu_pkg_header *h, const uint8_t *key,
                   cu_sha256_ctx *file_hash, cu_pkg_out **ret);
int cu_pkg_out_write(cu_pkg_out *o, const void *data, size_t len);
int cu_pkg_out_finish(cu_pkg_out *o);
void cu_pkg_out_free(cu_pkg_out *o);

/* Reads the plaintext stream at any offset (one chunk decrypted and
 * checked at a time, kept for the next read). One per thread. A chunk that
 * fails its tag: CU_ERR_AUTH, and cu_pkg_in_damaged says where. */
typedef struct cu_pkg_in cu_pkg_in;
int cu_pkg_in_new(int fd, const struct cu_pkg_header *h, const uint8_t *key, cu_pkg_in **ret);
int cu_pkg_in_read(cu_pkg_in *in, void *buf, size_t len, uint64_t off);
/* The len plaintext bytes at off where they lie in the decrypted chunk
 * (valid until the next read or view), or NULL: not encrypted (there is no
 * chunk in memory), they span two chunks, or the chunk fails (then
 * cu_pkg_in_read reports it). */
const uint8_t *cu_pkg_in_view(cu_pkg_in *in, size_t len, uint64_t off);
/* true with the file offset of the first damaged chunk this reader met since
 * it was made or since cu_pkg_in_clear. */
bool cu_pkg_in_damaged(const cu_pkg_in *in, uint64_t *ret_off);
void cu_pkg_in_clear(cu_pkg_in *in);
void cu_pkg_in_free(cu_pkg_in *in);

/* ---- ustar (tar.c) ---- */

/* CU_TAR_BLOCK, CU_TAR_NAME_MAX, CU_TAR_SIZE_MAX and cu_tar_file_header:
 * custody/package.h */

/* The canonical header block of an entry. CU_ERR_LIMIT: name or size too long. */
int cu_tar_header(const char *name, uint64_t size, int64_t mtime_s,
                  uint8_t out[static CU_TAR_BLOCK]);
/* The bytes an entry of size bytes takes after its header (padded to 512). */
uint64_t cu_tar_padded(uint64_t size);
/* Reads the name, size and mtime of a block and checks it is exactly the
 * canonical block for them. CU_ERR_FORMAT with a detail otherwise. */
int cu_tar_parse(const uint8_t in[static CU_TAR_BLOCK], char name[static CU_TAR_NAME_MAX + 1],
                 uint64_t *ret_size, int64_t *ret_mtime_s);

/* ---- manifest.json (manifest.c) ---- */

#define CU_PKG_FILES 3                      /* certs/site-ca.pem, recorder.pem, exporter.pem */
#define CU_PKG_SEGMENTS_MAX 100000          /* per package (CU_PKG_MANIFEST_MAX lists ~70 000) */
#define CU_PKG_GAPS_MAX 100000              /* gap and retention records per package */

struct cu_pkg_seg {
	char file[CU_TAR_NAME_MAX + 1];
	uint64_t seq;
	int64_t from_us, to_us;             /* first frame, end of the last frame */
	uint64_t frames, bytes;
	/* what the copy's chain proves, in place of a file hash: every byte of
	 * the copy is covered by these or forced to one value (the format doc,
	 * "What covers each byte of a segment copy") */
	uint64_t first_entry;               /* its header's first entry number */
	uint8_t chain[CU_SHA256_LEN];       /* the chain value after its last seal */
	uint8_t last_seal[CU_SHA256_LEN];   /* H(the body of its last seal) */
};

struct cu_pkg_cam {
	char name[CU_CAMERA_NAME_MAX + 1];
	uint8_t id[16];
	int64_t from_us, to_us;
	uint64_t frames;
	struct cu_pkg_seg *segs;
	size_t nsegs;
	struct cu_verify_gap *gaps;
	size_t ngaps;
};

struct cu_pkg_file {
	char name[CU_TAR_NAME_MAX + 1];
	uint64_t bytes;
	uint8_t sha256[CU_SHA256_LEN];
};

struct cu_pkg_cert_ref {
	char subject[512];
	uint8_t sha256[CU_SHA256_LEN];
};

struct cu_pkg_manifest {
	char case_ref[CU_PKG_CASE_MAX + 1];
	char *comments;                     /* malloc'd */
	char exporter[CU_PKG_EXPORTER_MAX + 1];
	int64_t exported_us;
	struct cu_pkg_cert_ref server, recorder, site_ca;
	uint8_t store_id[16];
	char profile[CU_PKG_PROFILE_NAME_MAX + 1];
	bool encrypted, prevent_reexport, is_signed;
	struct cu_pkg_cam *cams;
	size_t ncams;
	struct cu_pkg_file files[CU_PKG_FILES];
	bool has_audit;
	int64_t audit_index;
	uint64_t audit_size;
	int64_t audit_time_us;
	uint8_t audit_root[CU_SHA256_LEN], audit_chain[CU_SHA256_LEN];
	uint8_t audit_sig[CU_ED25519_SIG_LEN];
};

extern const char *const cu_pkg_file_names[CU_PKG_FILES];

/* Canonical JSON text (malloc'd, NUL-terminated, *ret_len without it). */
int cu_pkg_manifest_encode(const struct cu_pkg_manifest *m, char **ret, size_t *ret_len);
/* Parses and checks the structure and every value's rules (CU_ERR_FORMAT
 * with a detail naming the field). *ret is filled on success; free with
 * cu_pkg_manifest_free (also after a failure: it frees what was made). */
int cu_pkg_manifest_decode(const uint8_t *data, size_t len, struct cu_pkg_manifest *ret);
void cu_pkg_manifest_free(struct cu_pkg_manifest *m);

/* The tar name of a segment: segments/<camera>/<seq, 16 digits>.seg */
int cu_pkg_segment_name(const char *camera, uint64_t seq, char out[static CU_TAR_NAME_MAX + 1]);

/* What export and verification keep of a segment's signed records
 * (manifest.c), so that both apply the same rules: the gaps the manifest
 * lists, and the retention records that name holes. */
struct cu_record;
struct cu_pkg_hole_rec {
	uint64_t aux1, aux2;
	uint8_t hash[CU_SHA256_LEN];
};
struct cu_pkg_records {
	struct cu_verify_gap *gaps;          /* gap, restart, and retention that deleted
	                                        something, spanning into [from, to] */
	size_t ngaps;
	struct cu_pkg_hole_rec *rets;        /* every retention record */
	size_t nrets;
};
/* Would cu_pkg_records_keep keep rec? */
bool cu_pkg_record_wanted(const struct cu_record *rec, int64_t from_us, int64_t to_us);
/* Appends what is wanted of rec. 0 or CU_ERR_NOMEM. */
int cu_pkg_records_keep(struct cu_pkg_records *k, const struct cu_record *rec, int64_t from_us,
                        int64_t to_us);
void cu_pkg_records_free(struct cu_pkg_records *k);
/* Does a retention record in k name the hole between segment before_seq
 * and the later after_seq, whose previous-chain value is prev_chain (aux2 =
 * after_seq, aux1 <= before_seq + 1, hash = prev_chain)? */
bool cu_pkg_hole_named(const struct cu_pkg_records *k, uint64_t before_seq, uint64_t after_seq,
                       const uint8_t prev_chain[static CU_SHA256_LEN]);

/* The audit tree-head message (docs/formats/audit-log.md), 117 bytes. */
#define CU_PKG_HEAD_MSG_LEN (21 + 8 + 8 + 2 * CU_SHA256_LEN + 16)
void cu_pkg_head_message(uint64_t size, int64_t time_us, const uint8_t root[static CU_SHA256_LEN],
                         const uint8_t chain[static CU_SHA256_LEN], const uint8_t store_id[static 16],
                         uint8_t out[static CU_PKG_HEAD_MSG_LEN]);

#endif
