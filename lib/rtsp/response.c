/* RTSP/1.0 responses (RFC 2326 §7): status line, header fields, and a body
 * of Content-Length bytes. The bytes come from a camera we do not trust, so
 * every size is capped by the limits in proto.h and every doubtful construct
 * (folded lines, control characters, two different Content-Lengths, a header
 * name that is not a token) is refused rather than guessed at. */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rtsp/proto.h"
#include "custody/error.h"
#include "custody/parse.h"

#define VERSION "RTSP/1.0 "
#define VERSION_LEN (sizeof(VERSION) - 1)
#define STATUS_MIN 100
#define STATUS_MAX 599

/* ASCII-only, so that no locale changes what a header name matches. */
static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
			return false;
	return *a == *b;
}

/* RFC 2616 §2.2 token characters (RFC 2326 §15 uses the same grammar). */
static bool
is_tchar(uint8_t c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* Control characters have no business in a field value or reason phrase;
 * a lone CR in particular would let a value smuggle a line end. */
static bool
is_ctl(uint8_t c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Length of the line starting at p (without its CRLF or LF), and where the
 * next line starts. Returns false when no LF is in [p, end). */
static bool
next_line(const uint8_t *p, const uint8_t *end, size_t *ret_len, const uint8_t **ret_next)
{
	const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
	if (lf == NULL)
		return false;
	size_t n = (size_t)(lf - p);
	if (n > 0 && lf[-1] == '\r')
		n--;
	*ret_len = n;
	*ret_next = lf + 1;
	return true;
}

/* Finds the end of the head (after the empty line). Returns the head's
 * length, 0 when it is not all there yet, or an error. */
static int
head_length(const uint8_t *buf, size_t len)
{
	size_t scan = len < CU_RTSP_HEAD_MAX ? len : CU_RTSP_HEAD_MAX;
	const uint8_t *p = buf, *end = buf + scan;
	/* refuse what is not an RTSP response as soon as its first bytes show it */
	size_t pre = len < VERSION_LEN ? len : VERSION_LEN;
	if (memcmp(buf, VERSION, pre) != 0)
		return cu_fail(CU_ERR_FORMAT, "RTSP response: does not start with \"RTSP/1.0 \"");
	for (;;) {
		size_t n;
		const uint8_t *next;
		if (!next_line(p, end, &n, &next))
			break;
		if (n == 0 && p != buf)
			return (int)(next - buf);
		p = next;
	}
	if (len >= CU_RTSP_HEAD_MAX)
		return cu_fail(CU_ERR_LIMIT, "RTSP response: status line and headers over %d bytes",
		               CU_RTSP_HEAD_MAX);
	return 0;
}

static int
parse_status(const uint8_t *line, size_t n, struct cu_rtsp_response *r)
{
	if (n < VERSION_LEN + 3 || memcmp(line, VERSION, VERSION_LEN) != 0)
		return cu_fail(CU_ERR_FORMAT, "RTSP response: status line is not \"RTSP/1.0 NNN reason\"");
	char code[4];
	memcpy(code, line + VERSION_LEN, 3);
	code[3] = '\0';
	uint64_t status;
	if (cu_parse_u64(code, STATUS_MAX, "RTSP status code", &status) < 0 || status < STATUS_MIN)
		return cu_fail(CU_ERR_FORMAT, "RTSP response: status code \"%s\" is not 100..599", code);
	const uint8_t *reason = line + VERSION_LEN + 3;
	size_t rlen = n - VERSION_LEN - 3;
	if (rlen > 0) {
		if (reason[0] != ' ')
			return cu_fail(CU_ERR_FORMAT, "RTSP response: no space after the status code");
		reason++;
		rlen--;
	}
	for (size_t i = 0; i < rlen; i++)
		if (is_ctl(reason[i]))
			return cu_fail(CU_ERR_FORMAT, "RTSP response: control character in the reason phrase");
	/* display only: the one place where cutting is fine */
	size_t keep = rlen < sizeof(r->reason) - 1 ? rlen : sizeof(r->reason) - 1;
	memcpy(r->reason, reason, keep);
	r->reason[keep] = '\0';
	r->status = (int)status;
	return 0;
}

/* Splits the header lines of head[0..hlen) into r->head and r->headers. */
static int
parse_headers(const uint8_t *buf, size_t hlen, struct cu_rtsp_response *r, size_t *ret_body)
{
	const uint8_t *p = buf, *end = buf + hlen;
	size_t n = 0;
	const uint8_t *next = end;
	size_t used = 0;
	bool have_length = false;
	uint64_t length = 0;

	(void)next_line(p, end, &n, &next); /* the status line, parsed already */
	p = next;
	while (next_line(p, end, &n, &next) && n > 0) {
		if (p[0] == ' ' || p[0] == '\t')
			return cu_fail(CU_ERR_FORMAT, "RTSP response: folded header line");
		const uint8_t *colon = memchr(p, ':', n);
		if (colon == NULL || colon == p)
			return cu_fail(CU_ERR_FORMAT, "RTSP response: header line without a name and ':'");
		size_t nlen = (size_t)(colon - p);
		for (size_t i = 0; i < nlen; i++)
			if (!is_tchar(p[i]))
				return cu_fail(CU_ERR_FORMAT, "RTSP response: header name is not a token");
		const uint8_t *v = colon + 1, *vend = p + n;
		while (v < vend && (*v == ' ' || *v == '\t'))
			v++;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		size_t vlen = (size_t)(vend - v);
		for (size_t i = 0; i < vlen; i++)
			if (is_ctl(v[i]))
				return cu_fail(CU_ERR_FORMAT,
				               "RTSP response: control character in header %.*s",
				               (int)(nlen < 64 ? nlen : 64), (const char *)p);
		if (r->nheaders == CU_RTSP_HEADERS_MAX)
			return cu_fail(CU_ERR_LIMIT, "RTSP response: more than %d header fields",
			               CU_RTSP_HEADERS_MAX);
		/* each line holds at least name, ':' and its line end, so the
		 * copies (name NUL value NUL) never outgrow the head */
		if (nlen + vlen + 2 > sizeof(r->head) - used)
			return cu_fail(CU_ERR_LIMIT, "RTSP response: headers over %d bytes",
			               CU_RTSP_HEAD_MAX);
		char *name = r->head + used;
		memcpy(name, p, nlen);
		name[nlen] = '\0';
		char *value = name + nlen + 1;
		memcpy(value, v, vlen);
		value[vlen] = '\0';
		used += nlen + vlen + 2;
		r->headers[r->nheaders].name = name;
		r->headers[r->nheaders].value = value;
		r->nheaders++;

		if (ascii_caseeq(name, "Content-Length")) {
			uint64_t cl;
			int e = cu_parse_u64(value, CU_RTSP_BODY_MAX, "RTSP Content-Length", &cl);
			if (e < 0)
				return e;
			if (have_length && cl != length)
				return cu_fail(CU_ERR_FORMAT,
				               "RTSP response: two different Content-Length values");
			have_length = true;
			length = cl;
		} else if (ascii_caseeq(name, "CSeq")) {
			uint64_t cseq;
			int e = cu_parse_u64(value, INT_MAX, "RTSP CSeq", &cseq);
			if (e < 0)
				return e;
			if (r->cseq >= 0 && (uint64_t)r->cseq != cseq)
				return cu_fail(CU_ERR_FORMAT, "RTSP response: two different CSeq values");
			r->cseq = (int)cseq;
		}
		p = next;
	}
	*ret_body = (size_t)length;
	return 0;
}

/* ret is the caller's scratch space: it holds a response only when the
 * return value is > 0; after 0 or an error its contents mean nothing.
 * (It is ~100 KB, so it is filled in place rather than copied on success.) */
int
cu_rtsp_parse_response(const uint8_t *buf, size_t len, struct cu_rtsp_response *ret)
{
	if (buf == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "RTSP response: no buffer");
	if (len == 0)
		return 0;
	int hl = head_length(buf, len);
	if (hl <= 0)
		return hl;
	size_t hlen = (size_t)hl;

	ret->status = 0;
	ret->reason[0] = '\0';
	ret->cseq = -1;
	ret->nheaders = 0;
	ret->body_len = 0;
	ret->body[0] = '\0';

	size_t n = 0;
	const uint8_t *next = buf;
	(void)next_line(buf, buf + hlen, &n, &next);
	int e = parse_status(buf, n, ret);
	if (e < 0)
		return e;
	size_t body = 0;
	e = parse_headers(buf, hlen, ret, &body);
	if (e < 0)
		return e;
	if (len - hlen < body)
		return 0;
	memcpy(ret->body, buf + hlen, body);
	ret->body[body] = '\0';
	ret->body_len = body;
	return (int)(hlen + body);
}

/* Linear search; names compare ASCII case-insensitively. The value points
 * into r->head and lives as long as r. */
const char *
cu_rtsp_header(const struct cu_rtsp_response *r, const char *name)
{
	if (r == NULL || name == NULL)
		return NULL;
	size_t n = r->nheaders < CU_RTSP_HEADERS_MAX ? r->nheaders : CU_RTSP_HEADERS_MAX;
	for (size_t i = 0; i < n; i++)
		if (ascii_caseeq(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}
