/* custody — evidence packages: export and verification.
 *
 * An evidence package is one file (format: docs/formats/evidence-package.md)
 * holding a POSIX tar stream — manifest.json, manifest.sig, the certificates,
 * and the recorded segments of the exported cameras re-written without store
 * encryption but with their recording seals and signatures unchanged — inside
 * an outer container that is, when the profile says so, encrypted with
 * AES-256-GCM in 1 MiB chunks under a key derived from the export password
 * with Argon2id. The export signature (Ed25519, by the exporting recording
 * server's key, certified by the site CA) covers manifest.json, which lists
 * the SHA-256 of every other file. So a package proves two things: the
 * footage is what the recorder sealed (recording signatures), and the package
 * is what the server exported, for whom and why (export signature).
 *
 * Threads: calls are independent; a progress callback runs on the calling
 * thread (or, for parallel verification, serialised from worker threads). */
#ifndef CUSTODY_PACKAGE_H
#define CUSTODY_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"
#include "custody/store.h"

#define CU_PKG_VERSION 1
#define CU_PKG_CHUNK (1024 * 1024)          /* plaintext bytes per encrypted chunk */
#define CU_PKG_CAMERAS_MAX 64
#define CU_PKG_RANGE_MAX_US (24 * 3600 * INT64_C(1000000)) /* one camera's range */
#define CU_PKG_CASE_MAX 200                 /* bytes of the case / reference */
#define CU_PKG_COMMENTS_MAX 8000            /* bytes of the comments */
#define CU_PKG_PASSWORD_MIN 8               /* bytes; profiles may ask for more */
#define CU_PKG_PASSWORD_MAX 1024
#define CU_PKG_MANIFEST_MAX (16 * 1024 * 1024)
#define CU_PKG_PROFILE_NAME_MAX 64
#define CU_PKG_EXPORTER_MAX 127             /* bytes of the exporter's user name */

/* What the exporter asks for. */
struct cu_pkg_range {
	char camera[CU_CAMERA_NAME_MAX + 1];
	int64_t from_us, to_us;             /* from < to, at most CU_PKG_RANGE_MAX_US */
};

struct cu_pkg_export_opts {
	const struct cu_pkg_range *ranges;   /* 1..CU_PKG_CAMERAS_MAX, one per camera */
	size_t nranges;
	/* Text is UTF-8; case_ref, exporter and profile without control characters. */
	const char *case_ref;                /* "" allowed unless the profile requires it */
	const char *comments;                /* NULL = "" */
	const char *exporter;                /* user name of who exports, 1..CU_PKG_EXPORTER_MAX */
	const char *profile;                 /* profile name, for the manifest; NULL = "" */
	bool encrypt;                        /* AES-256-GCM under password */
	const char *password;                /* when encrypt: CU_PKG_PASSWORD_MIN..MAX bytes */
	size_t password_len;
	struct cu_argon2_params kdf;         /* zeros = the defaults */
	bool prevent_reexport;               /* recorded in the manifest and header */
	/* The audit entry for this export, made by the caller before the
	 * manifest is written (index and the signed head covering it, as
	 * struct cu_audit_head gives it), or audit_index = -1 when none (note:
	 * 0 is an index). The head's signature is checked with the store's key
	 * (CU_ERR_INVAL when it does not verify or index >= size). */
	int64_t audit_index;
	uint64_t audit_head_size;
	int64_t audit_head_time_us;
	uint8_t audit_head_root[CU_SHA256_LEN];
	uint8_t audit_head_chain[CU_SHA256_LEN];  /* the head's chain value (it is signed) */
	uint8_t audit_head_sig[CU_ED25519_SIG_LEN];
	/* Progress over three passes of the source bytes: verification, hashing
	 * (the manifest lists every file's SHA-256 first), writing. total is
	 * fixed for the call; done only grows. Called from worker threads,
	 * serialised. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

struct cu_pkg_export_result {
	uint64_t bytes;                      /* size of the package file */
	uint64_t frames, segments;
	uint8_t manifest_sha256[CU_SHA256_LEN];
};

/* Verifies the source ranges first (a tampered range stops the export with
 * CU_ERR_TAMPERED and a detail naming the camera and the start time of the
 * first failed segment; nothing is left behind), then writes the package to
 * path (a new file: written as path.tmp, fsync'd, renamed; CU_ERR_EXIST when
 * path or path.tmp exists). Needs the store opened with its password
 * (CU_ERR_PASSWORD). A camera without recorded frames in its range is
 * CU_ERR_NOTFOUND; bad options CU_ERR_INVAL; a manifest over
 * CU_PKG_MANIFEST_MAX CU_ERR_LIMIT. On any failure nothing is left at path
 * or path.tmp. ret may be NULL. */
int cu_pkg_export(cu_store *s, const char *path, const struct cu_pkg_export_opts *o,
                  struct cu_pkg_export_result *ret);

/* ---- verification (the player and `custody verify PACKAGE`) ---- */

enum cu_pkg_status {
	CU_PKG_INTACT = 0,
	CU_PKG_TAMPERED = 1,                /* something fails: see reason / per camera */
	CU_PKG_WRONG_PASSWORD = 2,          /* header intact, the password does not open it */
	CU_PKG_DAMAGED = 3,                 /* not a package, truncated, or damaged container */
};

struct cu_pkg_camera_report {
	char name[CU_CAMERA_NAME_MAX + 1];
	char id[33];                         /* hex, as the manifest says */
	int64_t from_us, to_us;              /* the range exported */
	uint64_t frames, seals, segments;    /* verified */
	bool checked;                        /* its segments were checked (false when the package
	                                        failed before: see reason) */
	bool tampered;
	int64_t fail_time_us;               /* start of the first failed segment, -1 none */
	char fail_reason[512];
	size_t ngaps;
	struct cu_verify_gap *gaps;          /* signed gap, restart and retention records */
};

struct cu_pkg_report {
	int status;                          /* enum cu_pkg_status */
	char reason[512];                    /* first failure, in words ("" when intact) */
	int64_t damaged_offset;              /* CU_PKG_DAMAGED: byte of the file where the damage
	                                        starts (a chunk, the header: 0, a truncated file: its
	                                        end), -1 when not known or not damaged */
	bool encrypted, prevent_reexport;
	char case_ref[CU_PKG_CASE_MAX + 1];
	char *comments;                      /* malloc'd */
	char exporter[CU_PKG_EXPORTER_MAX + 1];
	char profile[CU_PKG_PROFILE_NAME_MAX + 1];
	int64_t exported_us;
	char export_signer[512];             /* subject of the export certificate */
	uint8_t export_signer_fp[CU_SHA256_LEN];
	bool export_signature_ok;
	char recorder[512];                  /* subject of the recording certificate */
	uint8_t recorder_fp[CU_SHA256_LEN];
	char site_ca[512];
	uint8_t site_ca_fp[CU_SHA256_LEN];
	bool ca_mismatch;                    /* opts.ca_fingerprint given and different */
	bool chain_ok;                       /* exporter.pem and recorder.pem chain to site-ca.pem */
	int64_t audit_index;                 /* -1 when none */
	uint64_t audit_head_size;
	int64_t audit_head_time_us;
	bool audit_head_ok;                  /* the head's signature verifies */
	size_t ncameras;
	struct cu_pkg_camera_report *cameras;
};

struct cu_pkg_verify_opts {
	const char *password;                /* NULL for unencrypted packages */
	size_t password_len;
	const uint8_t *ca_fingerprint;       /* pin the site CA, or NULL */
	int threads;                         /* 0 = every online CPU */
	/* Progress over the bytes of the tar stream; from worker threads,
	 * serialised; ends with done == total when the check ran to the end. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
	/* When set, the verified frames of each camera are handed here as
	 * their seals verify (the player): camera by camera in the manifest's
	 * order, each camera's frames in recorded order, on the calling thread
	 * (the segment checks then run on it alone, in order). A frame's data is
	 * valid during the call. Returning a negative cu_err stops verification
	 * and cu_pkg_verify returns it. */
	int (*on_frame)(void *ctx, const char *camera, const cu_frame *f);
	void *frame_ctx;
};

/* Checks both layers (docs/formats/evidence-package.md, "Verification").
 * Returns 0 with a report whatever it found — intact, tampered, wrong
 * password, damaged — or a negative cu_err when the check could not run: no
 * memory, unreadable file (CU_ERR_NOTFOUND, CU_ERR_IO), an encrypted package
 * and no password (CU_ERR_PASSWORD), a newer format version
 * (CU_ERR_UNSUPPORTED), on_frame's error. Nothing is written to disk. */
int cu_pkg_verify(const char *path, const struct cu_pkg_verify_opts *o, struct cu_pkg_report **ret);
void cu_pkg_report_free(struct cu_pkg_report *r);

/* Reads only the clear header (no password, no Argon2): is this a package,
 * is it encrypted, does it forbid re-export. 0; CU_ERR_FORMAT: not a package
 * or its header is damaged; CU_ERR_UNSUPPORTED: a newer format version;
 * CU_ERR_NOTFOUND / CU_ERR_IO: unreadable. The flags are only what the header
 * says until cu_pkg_verify has checked them against the signed manifest. */
int cu_pkg_probe(const char *path, bool *ret_encrypted, bool *ret_prevent_reexport);

#endif
