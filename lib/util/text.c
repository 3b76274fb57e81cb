#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "custody/error.h"
#include "custody/parse.h"
#include "custody/text.h"

/* The bidirectional controls: embeddings, overrides, isolates and the
 * marks. They reorder how text is shown without being seen themselves, so a
 * headline or comment could read differently from what is stored. */
static bool
bidi_control(uint32_t cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

bool
cu_text_char_ok(uint32_t cp, unsigned flags)
{
	if (cp == '\n' || cp == '\t')
		return (flags & CU_TEXT_MULTILINE) != 0;
	return cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f) && !bidi_control(cp);
}

/* What a refused code point is, for the detail. */
static const char *
char_name(uint32_t cp)
{
	if (cp == 0)
		return "a NUL character";
	if (cp == '\n')
		return "a line break";
	if (cp == '\t')
		return "a tab";
	if (cp == '\r')
		return "a carriage return";
	if (cp >= 0x80 && cp <= 0x9f)
		return "a C1 control character";
	if (bidi_control(cp))
		return "a bidirectional control character";
	return "a control character";
}

int
cu_text_check(const char *s, size_t len, size_t max, unsigned flags)
{
	if (len > max)
		return cu_fail(CU_ERR_INVAL, "%zu bytes, more than the %zu allowed", len, max);
	if (len == 0 && (flags & CU_TEXT_NONEMPTY))
		return cu_fail(CU_ERR_INVAL, "empty");
	const uint8_t *p = (const uint8_t *)s;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = cu_utf8_next(p + i, len - i, &cp);
		if (n == 0)
			return cu_fail(CU_ERR_INVAL, "byte %zu: not valid UTF-8", i);
		if (!cu_text_char_ok(cp, flags))
			return cu_fail(CU_ERR_INVAL, "byte %zu: %s (U+%04X)%s", i, char_name(cp),
			               (unsigned)cp,
			               cp == '\r' && (flags & CU_TEXT_MULTILINE)
			                   ? ": lines break with a line feed alone"
			                   : "");
		i += n;
	}
	return 0;
}

/* Where to end a text cut after its first end bytes so that the last
 * character is whole: end itself, or the start of a multi-byte sequence that
 * the cut split. Only the last (at most four) bytes are looked at; bytes
 * that are not UTF-8 are left as they are. */
static size_t
utf8_whole(const unsigned char *s, size_t end)
{
	size_t k = 0;                   /* continuation bytes just before end */
	while (k < 3 && k < end && (s[end - 1 - k] & 0xc0) == 0x80)
		k++;
	if (k == end)
		return end;             /* no lead byte: not UTF-8 */
	size_t lead = end - 1 - k;
	unsigned char b = s[lead];
	size_t want = b >= 0xf8 ? 0 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
	return want > k + 1 ? lead : end;
}

bool
cu_vfmt_cut(char *buf, size_t len, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, len, fmt, ap);
	if (n < 0) {
		if (len > 0)
			buf[0] = '\0';
		return true;
	}
	if ((size_t)n < len || n == 0)
		return false;           /* it fits (an empty text fits even in nothing) */
	if (len > 0)
		buf[utf8_whole((const unsigned char *)buf, len - 1)] = '\0';
	return true;
}

bool
cu_fmt_cut(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool cut = cu_vfmt_cut(buf, len, fmt, ap);
	va_end(ap);
	return cut;
}
