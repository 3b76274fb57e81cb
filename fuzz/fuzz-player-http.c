/* Fuzz target: custody player's HTTP request parsing (pl_request_parse and
 * pl_range_resolve in cli/player_http.c), which reads whatever anything on
 * 127.0.0.1 sends to the player's web server.
 *
 * Input: the bytes a connection sent, as the server holds them (it never
 * reads more than PL_REQUEST_MAX; longer inputs test the refusal). The site
 * is fixed: prefix PREFIX, port 8080, and a table of two pages in memory and
 * two files (never opened: the parser only names them).
 *
 * Properties: the status is one the parser documents, and 0 (read more) only
 * for fewer than PL_REQUEST_MAX bytes without a NUL or a blank line; a NUL
 * is 400, more than PL_REQUEST_MAX bytes 431; 200 names an entry of the
 * table, for a GET whose target starts with /PREFIX/, and a Range only for a
 * file; the bytes after the blank line change nothing, and one byte less
 * than the blank line is not a request yet; a parse twice gives the same;
 * a resolved range lies in the file (first <= last < size) and agrees with
 * the header it came from. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "player_http.h"

#define PREFIX "0123456789abcdef0123456789abcdef"
#define PORT 8080

static const uint8_t page[] = "<!doctype html>\n";
static const uint8_t script[] = "'use strict';\n";

static const struct pl_resource table[] = {
	{.path = "", .content_type = "text/html; charset=utf-8", .data = page,
	 .len = sizeof(page) - 1},
	{.path = "page.js", .content_type = "text/javascript", .data = script,
	 .len = sizeof(script) - 1},
	{.path = "video/0.mp4", .content_type = "video/mp4", .disposition = "inline",
	 .file = "/nonexistent/0.mp4"},
	{.path = "download/0.mp4", .content_type = "video/mp4", .disposition = "attachment",
	 .file = "/nonexistent/0.mp4"},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

/* File sizes a Range is held against: the edges and a few in between. */
static const uint64_t sizes[] = {0, 1, 2, 99, 100, 101, 4096, UINT64_C(1) << 40,
                                 UINT64_MAX - 1, UINT64_MAX};

static struct pl_site site;

static void
site_init(void)
{
	static bool done;
	if (done)
		return;
	_Static_assert(sizeof(PREFIX) == PL_PREFIX_HEX + 1, "PREFIX is a whole prefix");
	memcpy(site.prefix, PREFIX, sizeof(PREFIX));
	if (pl_site_hosts(&site, PORT) < 0)
		abort();
	if (strcmp(site.host_ip, "127.0.0.1:8080") != 0 ||
	    strcmp(site.host_name, "localhost:8080") != 0)
		abort();
	done = true;
}

static bool
known_status(int st)
{
	switch (st) {
	case 0: case 200: case 400: case 403: case 404: case 405: case 431: case 505:
		return true;
	default:
		return false;
	}
}

/* Parses data[0..len) from an exactly sized copy, so that a read past len is
 * a read past the buffer for ASan. */
static int
parse_exact(const uint8_t *data, size_t len, struct pl_request *rq)
{
	char *copy = malloc(len ? len : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	int st = pl_request_parse(&site, copy, len, table, NTABLE, rq);
	if (memcmp(copy, data, len) != 0) /* the request is const */
		abort();
	free(copy);
	return st;
}

static bool
same(const struct pl_request *a, const struct pl_request *b)
{
	return a->res == b->res && a->range.kind == b->range.kind &&
	       a->range.first == b->range.first && a->range.last == b->range.last;
}

static void
check_range(const struct pl_range *r)
{
	if (r->kind != PL_RANGE_NONE && r->kind != PL_RANGE_SPAN && r->kind != PL_RANGE_FROM &&
	    r->kind != PL_RANGE_LAST)
		abort();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t size = sizes[i], first = 7, last = 7;
		int st = pl_range_resolve(r, size, &first, &last);
		if (st == 200) {
			if (r->kind != PL_RANGE_NONE || first != 7 || last != 7)
				abort();
		} else if (st == 206) {
			if (first > last || last >= size)
				abort();
			if (r->kind == PL_RANGE_LAST &&
			    (last != size - 1 || last - first + 1 != (r->last < size ? r->last : size)))
				abort();
			if (r->kind == PL_RANGE_FROM && (first != r->first || last != size - 1))
				abort();
			if (r->kind == PL_RANGE_SPAN &&
			    (first != r->first || last != (r->last < size ? r->last : size - 1)))
				abort();
		} else if (st == 416) {
			if (r->kind == PL_RANGE_NONE || first != 7 || last != 7)
				abort();
			/* refused only when no byte of the file is in the range */
			if (size > 0 && r->kind == PL_RANGE_LAST && r->last > 0)
				abort();
			if (size > 0 && r->kind != PL_RANGE_LAST && r->first < size &&
			    (r->kind == PL_RANGE_FROM || r->first <= r->last))
				abort();
		} else {
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	site_init();
	struct pl_request rq;
	int st = pl_request_parse(&site, (const char *)data, size, table, NTABLE, &rq);
	if (!known_status(st))
		abort();
	bool nul = memchr(data, '\0', size) != NULL;
	const uint8_t *blank = memmem(data, size, "\r\n\r\n", 4);
	if (nul && st != 400)
		abort();
	if (!nul && size > PL_REQUEST_MAX && st != 431)
		abort();
	/* 0 exactly when the server must read on */
	if ((st == 0) != (!nul && blank == NULL && size < PL_REQUEST_MAX))
		abort();
	if (!nul && blank == NULL && size == PL_REQUEST_MAX && st != 431)
		abort();
	if (st == 0)
		return 0;
	if (st == 200) {
		static const char start[] = "GET /" PREFIX "/";
		if (rq.res < table || rq.res >= table + NTABLE || blank == NULL ||
		    size < sizeof(start) - 1 || memcmp(data, start, sizeof(start) - 1) != 0)
			abort();
		if (rq.res->file == NULL && rq.range.kind != PL_RANGE_NONE)
			abort();
		check_range(&rq.range);
	} else if (rq.res != NULL || rq.range.kind != PL_RANGE_NONE) {
		abort();
	}
	/* the same bytes again: the same answer */
	struct pl_request again;
	if (parse_exact(data, size, &again) != st || !same(&again, &rq))
		abort();
	if (nul || blank == NULL || size > PL_REQUEST_MAX)
		return 0;
	/* what follows the blank line is never read; one byte less than the
	 * blank line is not a whole request */
	size_t whole = (size_t)(blank - data) + 4;
	if (parse_exact(data, whole, &again) != st || !same(&again, &rq))
		abort();
	if (parse_exact(data, whole - 1, &again) != 0)
		abort();
	return 0;
}
