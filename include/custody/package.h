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

#include <stdatomic.h>
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
/* What an export leaves free on a recorder's disk (keep_free below). */
#define CU_PKG_RECORDER_RESERVE (256 * 1024 * 1024ull)
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
	/* NULL, or a flag another thread may set: the export then stops within
	 * a segment or a chunk with CU_ERR_CANCELLED, leaving nothing behind. */
	const atomic_bool *cancel;
	/* Room that must stay free on path's file system (a recorder's disk:
	 * recording comes first): before anything is verified or written, the
	 * package's size is estimated from its source segments (times two with
	 * room_for_copy, when the caller copies it once more, as into a player
	 * folder, plus extra_bytes the caller writes beside it) and the export
	 * is refused with CU_ERR_NOSPC when less than keep_free would be left,
	 * counting what exports still running in this process have reserved the
	 * same way. 0: no check. */
	uint64_t keep_free;
	bool room_for_copy;
	uint64_t extra_bytes;
};

struct cu_pkg_export_result {
	uint64_t bytes;                      /* size of the package file */
	uint8_t sha256[CU_SHA256_LEN];       /* SHA-256 of the package file (what sha256sum says) */
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
	int threads;                         /* 0 = every online CPU; at most 64 */
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

/* ---- tar files and the player folder ---- */

#define CU_TAR_BLOCK 512
#define CU_TAR_NAME_MAX 99                  /* bytes of a name (no ustar prefix) */
#define CU_TAR_SIZE_MAX ((UINT64_C(1) << 33) - 1) /* 11 octal digits: 8 GiB - 1 */

/* The POSIX ustar header of a regular file in a tar made for people (a
 * stills export, the player folder): name 1..CU_TAR_NAME_MAX bytes of
 * printable ASCII but '\\', relative, without empty, "." or ".." parts; mode
 * 0644 or 0755; owner and group 0, no user names. CU_ERR_LIMIT (name, size
 * or time), CU_ERR_INVAL (mode). The data follows, padded with zeros to a
 * multiple of CU_TAR_BLOCK; two zero blocks end the tar. */
int cu_tar_file_header(const char *name, unsigned mode, uint64_t size, int64_t mtime_s,
                       uint8_t out[static CU_TAR_BLOCK]);
/* Reads a header block that must be exactly what cu_tar_file_header makes
 * for its name, mode, size and time: CU_ERR_FORMAT with a detail otherwise. */
int cu_tar_file_parse(const uint8_t in[static CU_TAR_BLOCK], char name[static CU_TAR_NAME_MAX + 1],
                      unsigned *ret_mode, uint64_t *ret_size, int64_t *ret_mtime_s);

/* A folder for a USB stick or a disc (docs/evidence-export.md, "The player
 * folder"): the package, a copy of the custody program to verify and play
 * it, the openssl recipe, and README.txt with the files' SHA-256. */
#define CU_PKG_FOLDER_PACKAGE "evidence.cuep"
#define CU_PKG_FOLDER_PROGRAM "custody"
#define CU_PKG_FOLDER_RECIPE "verify-package.sh"
#define CU_PKG_FOLDER_README "README.txt"
#define CU_PKG_FOLDER_PROGRAM_MAX (512 * 1024 * 1024)
#define CU_PKG_FOLDER_README_MAX 8192

/* docs/recipes/verify-package.sh, built in (scripts/embed.py). */
extern const unsigned char cu_pkg_recipe_sh[];
extern const size_t cu_pkg_recipe_sh_len;

/* README.txt for hex SHA-256 values of the three other files, into buf
 * (CU_PKG_FOLDER_README_MAX bytes, no NUL needed). Its length, or
 * CU_ERR_LIMIT. */
int cu_pkg_folder_readme(const char *pkg_hex, const char *program_hex, const char *recipe_hex,
                         char *buf, size_t cap);

struct cu_pkg_folder_opts {
	const char *dir;                    /* the folder's name in the tar, no '/' */
	int package_fd;                     /* read with pread from 0 to its size */
	int program_fd;                     /* the custody program (at most ..._PROGRAM_MAX) */
	int64_t mtime_s;                    /* of every entry */
	void (*progress)(void *ctx, uint64_t done, uint64_t total); /* bytes written */
	void *progress_ctx;
	const atomic_bool *cancel;          /* as in cu_pkg_export_opts */
};

/* Writes the folder as a tar stream to out: DIR/evidence.cuep, DIR/custody
 * (mode 0755), DIR/verify-package.sh, DIR/README.txt, in that order. The
 * inputs are read once each (a file that changes size while it is read is
 * CU_ERR_IO); ret_bytes gets the tar's length. Write errors as cu_write_all. */
int cu_pkg_folder_tar(int out, const struct cu_pkg_folder_opts *o, uint64_t *ret_bytes);

/* The same folder as a directory: dfd already holds evidence.cuep; adds
 * custody (a copy of program_fd, mode 0755), verify-package.sh and
 * README.txt, each made new (O_EXCL, never through a link) and fsync'd,
 * then fsyncs dfd. A cu error naming the file; the caller removes what was
 * written. */
int cu_pkg_folder_complete(int dfd, int program_fd);

/* Unpacks a tar that cu_pkg_folder_tar made, read from in (at its start),
 * into the empty directory dfd: the four files with their modes, each made
 * new (O_EXCL) and fsync'd. Nothing else is accepted: entries in that
 * order under one folder name, canonical headers, sizes within the limits
 * above (the recipe at most 1 MiB), zero padding, the end blocks and then
 * the end of the input; README.txt must list the SHA-256 of the three other
 * files as they were unpacked. CU_ERR_FORMAT with a detail for anything
 * else; the caller removes what was written when it fails. dir (at least
 * CU_TAR_NAME_MAX + 1 bytes) gets the folder name the tar holds. */
int cu_pkg_folder_untar(int in, int dfd, char *dir, const atomic_bool *cancel);

#endif
