/* Fuzz target: the check of text people type (cu_text_check in
 * lib/util/text.c), which reads every title, headline, comment and case
 * reference that comes from a request, an argument or a file.
 *
 * Properties: accepted text decodes, code point by code point, into what
 * cu_text_char_ok allows (checked with a decoder of this file's own, not
 * cu_utf8_next); single-line acceptance implies multi-line acceptance; the
 * limit is exact (len passes under max len, fails under len - 1); a refusal
 * is always CU_ERR_INVAL with a detail, and one naming a byte names a byte
 * inside the text. */
#include <stdbool.h>
#include <string.h>

#include "custody/error.h"
#include "fuzz.h"
#include "custody/text.h"

#define TEXT_MAX 4096

/* The code point at s (n bytes left) and its length; 0 when not UTF-8. The
 * shortest form only, no surrogates, nothing above U+10FFFF. */
static size_t
decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
	           : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	uint32_t v = len == 1 ? s[0] : s[0] & (0xffu >> (len + 1));
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[k] & 0x3fu);
	}
	if (v < least[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* What the rule says, written out from docs/api.md "Text fields". */
static bool
allowed(uint32_t cp, bool multiline)
{
	if (cp == '\n' || cp == '\t')
		return multiline;
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		return false;
	return !(cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	         (cp >= 0x2066 && cp <= 0x2069));
}

/* Whether the rule accepts the n bytes at s; aborts where cu_text_char_ok
 * disagrees with it on a code point. */
static bool
oracle(const uint8_t *s, size_t n, bool multiline)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = decode(s + i, n - i, &cp);
		if (k == 0)
			return false;
		bool ok = allowed(cp, multiline);
		if (cu_text_char_ok(cp, multiline ? CU_TEXT_MULTILINE : 0) != ok)
			abort();
		if (!ok)
			return false;
		i += k;
	}
	return true;
}

/* The offset a detail "byte N: ..." names, or -1 when it names none. */
static long
byte_named(const char *d)
{
	if (strncmp(d, "byte ", 5) != 0)
		return -1;
	long v = 0;
	for (d += 5; *d >= '0' && *d <= '9'; d++)
		v = v * 10 + (*d - '0');
	return *d == ':' ? v : -1;
}

static void
check(const char *s, size_t n, unsigned flags)
{
	int r = cu_text_check(s, n, TEXT_MAX, flags);
	bool want = oracle((const uint8_t *)s, n, flags & CU_TEXT_MULTILINE) &&
	            !(n == 0 && (flags & CU_TEXT_NONEMPTY));
	if ((r == 0) != want)
		abort();
	if (r != 0) {
		if (r != CU_ERR_INVAL || cu_error_detail()[0] == '\0')
			abort();
		if (byte_named(cu_error_detail()) >= (long)n)
			abort();
		return;
	}
	if (cu_text_check(s, n, n, flags) != 0)
		abort();
	if (n > 0 && cu_text_check(s, n, n - 1, flags) != CU_ERR_INVAL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = size < TEXT_MAX ? size : TEXT_MAX;
	const char *s = (const char *)data;
	check(s, n, 0);
	check(s, n, CU_TEXT_MULTILINE);
	check(s, n, CU_TEXT_NONEMPTY);
	if (cu_text_check(s, n, TEXT_MAX, 0) == 0 &&
	    cu_text_check(s, n, TEXT_MAX, CU_TEXT_MULTILINE) != 0)
		abort();
	return 0;
}
