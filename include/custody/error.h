/* custody — one error type for the whole library.
 *
 * Fallible functions return int: 0 (or a positive count) on success, a negative
 * cu_err on failure. A function that fails may also leave a one-line detail for
 * the caller to show (cu_error_detail), naming the file, field or argument at
 * fault and what was expected. Library code never prints. */
#ifndef CUSTODY_ERROR_H
#define CUSTODY_ERROR_H

#include <stdbool.h>

enum cu_err {
	CU_OK = 0,
	CU_ERR_NOMEM = -1,       /* out of memory */
	CU_ERR_INVAL = -2,       /* bad argument from the caller */
	CU_ERR_IO = -3,          /* read/write/open failed (errno in detail) */
	CU_ERR_CRYPTO = -4,      /* the crypto library failed internally */
	CU_ERR_AUTH = -5,        /* authentication failed: bad tag or signature */
	CU_ERR_PASSWORD = -6,    /* wrong password */
	CU_ERR_FORMAT = -7,      /* malformed input */
	CU_ERR_LIMIT = -8,       /* a value is over its limit */
	CU_ERR_NOTFOUND = -9,    /* no such file, camera or record */
	CU_ERR_EXIST = -10,      /* already exists */
	CU_ERR_UNSUPPORTED = -11,/* valid but not supported (codec, version, parameter) */
	CU_ERR_DB = -12,         /* the catalogue database failed */
	CU_ERR_NOSPC = -13,      /* no space left on the device */
	CU_ERR_BUSY = -14,       /* held by another process (writer lock) */
	CU_ERR_TAMPERED = -15,   /* integrity check failed */
	CU_ERR_MEDIA = -16,      /* media file could not be demuxed */
	CU_ERR_CANCELLED = -17,  /* a callback stopped the operation on purpose */
	CU_ERR_DAMAGED = -18,    /* data this program stored (a database row) is damaged: not the caller's input */
};

/* A static, human-readable name for a cu_err ("wrong password"). Never NULL. */
const char *cu_strerror(int err);

/* The detail the last failing call on this thread left, or "" if none.
 * Valid until the next library call on this thread. */
const char *cu_error_detail(void);

/* Clears this thread's detail. */
void cu_error_clear(void);

/* ---- setting the error (libcustody and the tools) ---- */
/* Records a printf-style detail for this thread and returns code, so that a
 * failure reads: return cu_fail(CU_ERR_FORMAT, "%s: bad magic", path);
 * The detail is cut at 511 bytes (it is a message, not data). */
int cu_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The one rule for "no room": ENOSPC (the disk), EDQUOT (a quota) and EFBIG
 * (the file may not grow: RLIMIT_FSIZE or the filesystem's largest file).
 * Recording and the audit log treat all three as a full disk. */
bool cu_errno_nospc(int errnum);

/* Like cu_fail, and appends ": <strerror(errnum)>". Maps cu_errno_nospc to
 * CU_ERR_NOSPC, ENOENT to CU_ERR_NOTFOUND, ENOMEM to CU_ERR_NOMEM, EEXIST to
 * CU_ERR_EXIST, everything else to CU_ERR_IO. */
int cu_fail_errno(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replaces the detail with "prefix: <old detail>" keeping code. */
int cu_fail_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
