#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "custody/error.h"
#include "custody/text.h"

#define DETAIL_MAX 512

static _Thread_local char detail[DETAIL_MAX];

const char *
cu_strerror(int err)
{
	switch (err) {
	case CU_OK: return "success";
	case CU_ERR_NOMEM: return "out of memory";
	case CU_ERR_INVAL: return "invalid argument";
	case CU_ERR_IO: return "input/output error";
	case CU_ERR_CRYPTO: return "cryptographic library failure";
	case CU_ERR_AUTH: return "authentication failed";
	case CU_ERR_PASSWORD: return "wrong password";
	case CU_ERR_FORMAT: return "malformed input";
	case CU_ERR_LIMIT: return "over a limit";
	case CU_ERR_NOTFOUND: return "not found";
	case CU_ERR_EXIST: return "already exists";
	case CU_ERR_UNSUPPORTED: return "not supported";
	case CU_ERR_DB: return "catalogue database error";
	case CU_ERR_NOSPC: return "no space left on device";
	case CU_ERR_BUSY: return "in use by another process";
	case CU_ERR_TAMPERED: return "integrity check failed";
	case CU_ERR_MEDIA: return "unreadable media";
	case CU_ERR_CANCELLED: return "cancelled";
	case CU_ERR_DAMAGED: return "stored data damaged";
	}
	return "unknown error";
}

const char *
cu_error_detail(void)
{
	return detail;
}

void
cu_error_clear(void)
{
	detail[0] = '\0';
}

static void set_detail(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void
set_detail(const char *fmt, va_list ap)
{
	/* A cut message is still a message; truncation here loses no data. */
	cu_vfmt_cut(detail, sizeof(detail), fmt, ap);
}

int
cu_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_detail(fmt, ap);
	va_end(ap);
	return code;
}

bool
cu_errno_nospc(int errnum)
{
	return errnum == ENOSPC || errnum == EDQUOT || errnum == EFBIG;
}

int
cu_fail_errno(int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_detail(fmt, ap);
	va_end(ap);
	size_t used = strnlen(detail, sizeof(detail));
	cu_fmt_cut(detail + used, sizeof(detail) - used, ": %s", strerror(errnum));
	if (cu_errno_nospc(errnum))
		return CU_ERR_NOSPC;
	switch (errnum) {
	case ENOENT: return CU_ERR_NOTFOUND;
	case ENOMEM: return CU_ERR_NOMEM;
	case EEXIST: return CU_ERR_EXIST;
	default: return CU_ERR_IO;
	}
}

int
cu_fail_prefix(int code, const char *fmt, ...)
{
	char old[DETAIL_MAX];
	memcpy(old, detail, sizeof(old));
	va_list ap;
	va_start(ap, fmt);
	set_detail(fmt, ap);
	va_end(ap);
	size_t used = strnlen(detail, sizeof(detail));
	if (old[0] != '\0')
		cu_fmt_cut(detail + used, sizeof(detail) - used, ": %s", old);
	return code;
}
