/* custody player's HTTP request parsing (player_http.h): no I/O. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "custody/crypto.h"
#include "custody/error.h"
#include "player_http.h"
#include "custody/parse.h"

#define RANGE_NUM_MAX 24 /* a range bound's digits and a NUL: more than UINT64_MAX has */

int
pl_site_hosts(struct pl_site *site, uint16_t port)
{
	/* PL_HOST_MAX holds "localhost:" and five digits: never cut */
	int a = snprintf(site->host_ip, sizeof(site->host_ip), "127.0.0.1:%u", (unsigned)port);
	int b = snprintf(site->host_name, sizeof(site->host_name), "localhost:%u", (unsigned)port);
	if (a < 0 || (size_t)a >= sizeof(site->host_ip) || b < 0 ||
	    (size_t)b >= sizeof(site->host_name))
		return cu_fail(CU_ERR_LIMIT, "a Host value longer than %d bytes", PL_HOST_MAX - 1);
	return 0;
}

/* Reads "bytes=a-b", "bytes=a-" or "bytes=-n" into *r; anything else (several
 * ranges, another unit, a bound that is not a number) is NONE: the whole
 * file is sent, as RFC 9110 allows. Whether the range fits the file is
 * pl_range_resolve's question. */
static void
range_read(const char *v, struct pl_range *r)
{
	*r = (struct pl_range){.kind = PL_RANGE_NONE};
	if (strncmp(v, "bytes=", 6) != 0 || strchr(v, ',') != NULL)
		return;
	v += 6;
	const char *dash = strchr(v, '-');
	if (dash == NULL)
		return;
	char a[RANGE_NUM_MAX], b[RANGE_NUM_MAX];
	size_t la = (size_t)(dash - v), lb = strlen(dash + 1);
	if (la >= sizeof(a) || lb >= sizeof(b))
		return;
	memcpy(a, v, la);
	a[la] = '\0';
	memcpy(b, dash + 1, lb + 1);
	uint64_t first = 0, last = 0;
	/* "bytes=-" has neither bound: the empty b fails to parse */
	if ((la > 0 && cu_parse_u64(a, UINT64_MAX, "range", &first) < 0) ||
	    ((la == 0 || lb > 0) && cu_parse_u64(b, UINT64_MAX, "range", &last) < 0)) {
		cu_error_clear();
		return;
	}
	r->kind = la == 0 ? PL_RANGE_LAST : lb == 0 ? PL_RANGE_FROM : PL_RANGE_SPAN;
	r->first = first;
	r->last = last;
}

int
pl_range_resolve(const struct pl_range *r, uint64_t size, uint64_t *ret_first,
                 uint64_t *ret_last)
{
	uint64_t first, last;
	if (r->kind == PL_RANGE_LAST) {
		if (r->last == 0 || size == 0)
			return 416;
		first = r->last >= size ? 0 : size - r->last;
		last = size - 1;
	} else if (r->kind == PL_RANGE_SPAN || r->kind == PL_RANGE_FROM) {
		/* a last byte past the end means the end; size 0 leaves nothing,
		 * and first >= size says so before size - 1 is used */
		first = r->first;
		last = r->kind == PL_RANGE_FROM || r->last >= size ? size - 1 : r->last;
		if (first >= size || first > last)
			return 416;
	} else {
		return 200;
	}
	*ret_first = first;
	*ret_last = last;
	return 206;
}

/* Case-insensitive header name match at line start; returns the value with
 * the spaces and tabs around it removed (in line). */
static const char *
header_value(char *line, const char *name)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	char *v = line + n + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t l = strlen(v);
	while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
		v[--l] = '\0';
	return v;
}

int
pl_request_parse(const struct pl_site *site, const char *req, size_t len,
                 const struct pl_resource *res, size_t n, struct pl_request *ret)
{
	/* a copy to cut into NUL-terminated lines; the caller's bytes stay as
	 * they are */
	char buf[PL_REQUEST_MAX + 1];
	*ret = (struct pl_request){.res = NULL, .range = {.kind = PL_RANGE_NONE}};
	/* a NUL would end the strings below early and hide what follows it */
	if (memchr(req, '\0', len) != NULL)
		return 400;
	if (len > PL_REQUEST_MAX)
		return 431;
	memcpy(buf, req, len);
	buf[len] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (end == NULL)
		return len == PL_REQUEST_MAX ? 431 : 0;
	end[2] = '\0';
	/* every line, the last included, now ends with "\r\n" */
	char *line = buf, *next = strstr(line, "\r\n");
	*next = '\0';
	/* request line: METHOD SP TARGET SP VERSION */
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL)
		return 400;
	*sp1 = *sp2 = '\0';
	const char *method = line, *target = sp1 + 1, *version = sp2 + 1;
	if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0)
		return 505;
	const char *host = NULL, *range = NULL;
	bool body = false, dup = false;
	for (line = next + 2; *line != '\0'; line = next + 2) {
		next = strstr(line, "\r\n");
		*next = '\0';
		/* no obsolete line folding: a line starting blank is refused */
		if (strchr(line, ':') == NULL || line[0] == ' ' || line[0] == '\t')
			return 400;
		const char *v;
		if ((v = header_value(line, "Host")) != NULL) {
			dup |= host != NULL;
			host = v;
		} else if ((v = header_value(line, "Range")) != NULL) {
			dup |= range != NULL;
			range = v;
		} else if ((v = header_value(line, "Content-Length")) != NULL) {
			body |= strcmp(v, "0") != 0;
		} else if (header_value(line, "Transfer-Encoding") != NULL) {
			body = true;
		}
	}
	if (strcmp(method, "GET") != 0)
		return 405;
	/* a GET has no body: one announced is never read, so refuse it */
	if (dup || body)
		return 400;
	/* DNS rebinding: a page elsewhere that gets its name resolved to
	 * 127.0.0.1 sends its own name as Host */
	if (host == NULL || (strcmp(host, site->host_ip) != 0 && strcmp(host, site->host_name) != 0))
		return 403;
	/* /<prefix>/<path>: the query (and a fragment, never sent) is ignored;
	 * the length test comes first, so the prefix compare stays inside */
	size_t tlen = strcspn(target, "?#");
	if (tlen < PL_PREFIX_HEX + 2 || target[0] != '/' ||
	    !cu_ct_equal(target + 1, site->prefix, PL_PREFIX_HEX) || target[PL_PREFIX_HEX + 1] != '/')
		return 404;
	const char *path = target + PL_PREFIX_HEX + 2;
	size_t plen = tlen - PL_PREFIX_HEX - 2;
	/* an exact match against the table: no file name is ever made from
	 * the path, so ".." or "%2e" name nothing */
	for (size_t i = 0; i < n; i++) {
		if (strlen(res[i].path) != plen || memcmp(res[i].path, path, plen) != 0)
			continue;
		ret->res = &res[i];
		/* ranges for files only: a page in memory is sent whole */
		if (res[i].file != NULL && range != NULL)
			range_read(range, &ret->range);
		return 200;
	}
	return 404;
}
