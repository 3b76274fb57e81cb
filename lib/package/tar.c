/* A minimal, canonical POSIX ustar: regular files only, fixed mode, owner
 * and time, names under 100 bytes without a prefix. Every header block is a
 * function of (name, size, mtime), so the reader accepts a block only when
 * it is byte for byte the one the writer would make: hostile input gets no
 * room (docs/formats/evidence-package.md, "The tar stream"). */
#include <string.h>

#include "package/package_int.h"
#include "custody/error.h"

static void
octal(uint8_t *out, size_t digits, uint64_t v)
{
	for (size_t i = digits; i-- > 0;) {
		out[i] = (uint8_t)('0' + (v & 7));
		v >>= 3;
	}
}

static bool
name_ok(const char *name, size_t n)
{
	if (n == 0 || n > CU_TAR_NAME_MAX || name[0] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '.' || c == '-' || c == '_' || c == '/';
		if (!ok)
			return false;
		/* no "..", no "//", no "./" components */
		if (c == '/' && (i + 1 == n || name[i + 1] == '/'))
			return false;
		if (c == '.' && (i == 0 || name[i - 1] == '/') &&
		    (i + 1 == n || name[i + 1] == '/' || name[i + 1] == '.'))
			return false;
	}
	return true;
}

/* Names in tar files made for people (stills, the player folder): printable
 * ASCII but the backslash, relative, no empty, "." or ".." component. */
static bool
loose_name_ok(const char *name, size_t n)
{
	if (n == 0 || n > CU_TAR_NAME_MAX || name[0] == '/')
		return false;
	for (size_t i = 0, start = 0; i <= n; i++) {
		if (i < n && (name[i] < 0x21 || name[i] > 0x7e || name[i] == '\\'))
			return false;
		if (i == n || name[i] == '/') {
			size_t len = i - start;
			if (len == 0 || (len == 1 && name[start] == '.') ||
			    (len == 2 && name[start] == '.' && name[start + 1] == '.'))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* The header block; the name is checked by the caller. */
static int
header(const char *name, size_t n, unsigned mode, uint64_t size, int64_t mtime_s,
       uint8_t out[static CU_TAR_BLOCK])
{
	if (size > CU_TAR_SIZE_MAX || mtime_s < 0 || (uint64_t)mtime_s > CU_TAR_SIZE_MAX)
		return cu_fail(CU_ERR_LIMIT, "tar entry %s: size or time too large", name);
	memset(out, 0, CU_TAR_BLOCK);
	memcpy(out, name, n);
	octal(out + 100, 7, mode);
	memcpy(out + 108, "0000000", 7);
	memcpy(out + 116, "0000000", 7);
	octal(out + 124, 11, size);
	octal(out + 136, 11, (uint64_t)mtime_s);
	out[156] = '0';
	memcpy(out + 257, "ustar", 6); /* with its NUL */
	memcpy(out + 263, "00", 2);
	memset(out + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < CU_TAR_BLOCK; i++)
		sum += out[i];
	octal(out + 148, 6, sum);
	out[154] = '\0';
	out[155] = ' ';
	return 0;
}

int
cu_tar_header(const char *name, uint64_t size, int64_t mtime_s, uint8_t out[static CU_TAR_BLOCK])
{
	size_t n = strnlen(name, CU_TAR_NAME_MAX + 1);
	if (!name_ok(name, n))
		return cu_fail(CU_ERR_LIMIT, "tar entry name \"%.*s\" is not allowed", (int)n, name);
	return header(name, n, 0644, size, mtime_s, out);
}

int
cu_tar_file_header(const char *name, unsigned mode, uint64_t size, int64_t mtime_s,
                   uint8_t out[static CU_TAR_BLOCK])
{
	size_t n = strnlen(name, CU_TAR_NAME_MAX + 1);
	if (!loose_name_ok(name, n))
		return cu_fail(CU_ERR_LIMIT, "tar entry name \"%.*s\" is not allowed (1 to %d "
		               "bytes of printable ASCII, relative, no \"..\")", (int)n, name,
		               CU_TAR_NAME_MAX);
	if (mode != 0644 && mode != 0755)
		return cu_fail(CU_ERR_INVAL, "tar entry %s: mode %o (0644 or 0755 only)", name, mode);
	return header(name, n, mode, size, mtime_s, out);
}

uint64_t
cu_tar_padded(uint64_t size)
{
	return (size + CU_TAR_BLOCK - 1) / CU_TAR_BLOCK * CU_TAR_BLOCK;
}

static int
parse_octal(const uint8_t *p, size_t digits, uint64_t *ret)
{
	uint64_t v = 0;
	for (size_t i = 0; i < digits; i++) {
		if (p[i] < '0' || p[i] > '7')
			return -1;
		v = v << 3 | (uint64_t)(p[i] - '0');
	}
	*ret = v;
	return 0;
}

int
cu_tar_parse(const uint8_t in[static CU_TAR_BLOCK], char name[static CU_TAR_NAME_MAX + 1],
             uint64_t *ret_size, int64_t *ret_mtime_s)
{
	size_t n = strnlen((const char *)in, 100);
	uint64_t size, mtime;
	if (n > CU_TAR_NAME_MAX || !name_ok((const char *)in, n))
		return cu_fail(CU_ERR_FORMAT, "a tar header holds no valid name");
	if (parse_octal(in + 124, 11, &size) < 0 || parse_octal(in + 136, 11, &mtime) < 0)
		return cu_fail(CU_ERR_FORMAT, "tar header of %.*s: bad size or time", (int)n,
		               (const char *)in);
	memcpy(name, in, n);
	name[n] = '\0';
	uint8_t want[CU_TAR_BLOCK];
	int r = cu_tar_header(name, size, (int64_t)mtime, want);
	if (r < 0 || memcmp(want, in, CU_TAR_BLOCK) != 0)
		return cu_fail(CU_ERR_FORMAT, "tar header of %s is not in custody's canonical form "
		               "(altered)", name);
	*ret_size = size;
	*ret_mtime_s = (int64_t)mtime;
	return 0;
}

int
cu_tar_file_parse(const uint8_t in[static CU_TAR_BLOCK], char name[static CU_TAR_NAME_MAX + 1],
                  unsigned *ret_mode, uint64_t *ret_size, int64_t *ret_mtime_s)
{
	size_t n = strnlen((const char *)in, 100);
	uint64_t mode, size, mtime;
	if (n > CU_TAR_NAME_MAX || !loose_name_ok((const char *)in, n))
		return cu_fail(CU_ERR_FORMAT, "a tar header holds no valid name");
	if (parse_octal(in + 100, 7, &mode) < 0 || parse_octal(in + 124, 11, &size) < 0 ||
	    parse_octal(in + 136, 11, &mtime) < 0)
		return cu_fail(CU_ERR_FORMAT, "tar header of %.*s: bad mode, size or time", (int)n,
		               (const char *)in);
	memcpy(name, in, n);
	name[n] = '\0';
	uint8_t want[CU_TAR_BLOCK];
	if ((mode != 0644 && mode != 0755) ||
	    header(name, n, (unsigned)mode, size, (int64_t)mtime, want) < 0 ||
	    memcmp(want, in, CU_TAR_BLOCK) != 0)
		return cu_fail(CU_ERR_FORMAT, "tar header of %s is not one custody writes", name);
	*ret_mode = (unsigned)mode;
	*ret_size = size;
	*ret_mtime_s = (int64_t)mtime;
	return 0;
}
