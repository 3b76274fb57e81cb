/* Private: how library code reports an error with a detail. */
#ifndef CU_UTIL_ERR_H
#define CU_UTIL_ERR_H

#include "custody/error.h"

/* Records a printf-style detail for this thread and returns code, so that a
 * failure reads: return cu_fail(CU_ERR_FORMAT, "%s: bad magic", path);
 * The detail is cut at 511 bytes (it is a message, not data). */
int cu_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like cu_fail, and appends ": <strerror(errnum)>". Maps ENOSPC/EDQUOT to
 * CU_ERR_NOSPC, ENOENT to CU_ERR_NOTFOUND, ENOMEM to CU_ERR_NOMEM, EEXIST to
 * CU_ERR_EXIST, everything else to CU_ERR_IO. */
int cu_fail_errno(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replaces the detail with "prefix: <old detail>" keeping code. */
int cu_fail_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
