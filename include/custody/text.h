/* Private: the one check of text people type (case references, comments,
 * lock headlines, bookmark titles and descriptions, export comments, user
 * names given by hand). docs/api.md "Text fields" states the rule for users.
 * And the one deliberate cut of formatted text (cu_fmt_cut). */
#ifndef CU_UTIL_TEXT_H
#define CU_UTIL_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CU_TEXT_MULTILINE = 1u << 0,        /* LF and TAB are allowed (comments, descriptions) */
	CU_TEXT_NONEMPTY = 1u << 1,         /* at least one byte */
};

/* Is code point cp allowed in text under flags? Not allowed: U+0000..U+001F
 * (but LF and TAB with CU_TEXT_MULTILINE), U+007F, the C1 controls
 * U+0080..U+009F, and the Unicode bidirectional controls U+061C, U+200E,
 * U+200F, U+202A..U+202E, U+2066..U+2069. Also for printers of text that
 * came from elsewhere (a package), which replace what is not allowed. */
bool cu_text_char_ok(uint32_t cp, unsigned flags);

/* Checks the len bytes at s (a C string's strlen, or a JSON string's length,
 * which may count NUL bytes): at most max bytes, at least one with
 * CU_TEXT_NONEMPTY, valid UTF-8 as RFC 3629 allows it (no overlong forms,
 * no surrogates, nothing above U+10FFFF), no NUL, and every code point
 * allowed by cu_text_char_ok. Returns 0, or CU_ERR_INVAL with a one-line
 * detail naming the first fault and its byte offset (counted from 0), such
 * as "byte 12: a carriage return (U+000D)", for the caller to prefix with
 * the field's name (cu_fail_prefix). */
int cu_text_check(const char *s, size_t len, size_t max, unsigned flags);

/* Formats into buf (len bytes) like vsnprintf, for text that may be cut
 * deliberately: log lines, messages for people, report reasons, error
 * details. Never for a path, SQL, JSON, a header, a URL, a key or a name that
 * is parsed or compared later: cu_path (custody/file.h) refuses instead.
 * A text longer than len - 1 bytes is cut at the last UTF-8 character
 * boundary that fits, so no part of a multi-byte sequence is left behind
 * (bytes that are not UTF-8 are cut where they fall). buf is NUL-terminated
 * whenever len > 0; with len 0 it is not touched and may be NULL. Returns
 * whether the text was cut: true also when vsnprintf fails (buf is then ""). */
bool cu_vfmt_cut(char *buf, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* cu_vfmt_cut with the arguments given directly. */
bool cu_fmt_cut(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
