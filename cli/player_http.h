/* custody player's HTTP request parsing (private to cli/): what the bytes a
 * connection has sent ask for, and which answer they get, with no I/O. The
 * server (player.c) reads and writes the sockets around it; keeping the
 * parsing apart lets fuzz/fuzz-player-http.c feed it arbitrary bytes. */
#ifndef CU_CLI_PLAYER_HTTP_H
#define CU_CLI_PLAYER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "player.h"

#define PL_HOST_MAX 32 /* a Host value accepted, with its NUL: "localhost:65535" fits */

/* What a request is checked against. */
struct pl_site {
	char prefix[PL_PREFIX_HEX + 1];   /* lower-case hex and a NUL; a secret */
	char host_ip[PL_HOST_MAX];        /* "127.0.0.1:PORT" */
	char host_name[PL_HOST_MAX];      /* "localhost:PORT" */
};

/* Writes the two Host values site accepts for port: 0, or CU_ERR_LIMIT
 * (never: PL_HOST_MAX fits them). The prefix is the caller's to set. */
int pl_site_hosts(struct pl_site *site, uint16_t port);

/* A Range header as read, not yet held against a file's size. */
enum pl_range_kind {
	PL_RANGE_NONE,   /* absent, or one to ignore: several ranges, not bytes, malformed */
	PL_RANGE_SPAN,   /* bytes=first-last */
	PL_RANGE_FROM,   /* bytes=first- */
	PL_RANGE_LAST,   /* bytes=-last: the last `last` bytes */
};

struct pl_range {
	enum pl_range_kind kind;
	uint64_t first;  /* SPAN, FROM: the first byte */
	uint64_t last;   /* SPAN: the last byte; LAST: a count of bytes */
};

/* What a request asks for, when it is answered with 200. */
struct pl_request {
	const struct pl_resource *res;  /* in the table given; NULL unless 200 */
	struct pl_range range;          /* a file's Range header; NONE for a resource in memory */
};

/* Reads the request in req[0..len): the bytes a connection has sent so far,
 * NUL bytes included. Pure: no I/O, and nothing kept between calls.
 * Returns 0 when the headers are not whole yet (no blank line in fewer than
 * PL_REQUEST_MAX bytes): read more. Otherwise the status to answer, checked
 * in this order:
 *   400  a NUL byte anywhere (after the blank line too)
 *   431  no blank line in PL_REQUEST_MAX bytes, or len over PL_REQUEST_MAX
 *        (the server never reads more; over a limit is an error)
 *   400  a request line that is not METHOD SP TARGET SP VERSION
 *   505  a version other than HTTP/1.1 and HTTP/1.0
 *   400  a header line without ':' or starting with a space or tab
 *   405  a method other than GET (answer with "Allow: GET")
 *   400  Host or Range twice, or a body announced (never read)
 *   403  no Host, or one that is not site's (DNS rebinding)
 *   404  a target outside /<prefix>/, or naming no resource of res[0..n)
 *   200  ret->res is the resource; for a file, pl_range_resolve holds
 *        ret->range against its size once it is open
 * *ret is written whenever the return is not 0. Bytes after the blank line
 * are not parsed. */
int pl_request_parse(const struct pl_site *site, const char *req, size_t len,
                     const struct pl_resource *res, size_t n, struct pl_request *ret);

/* Holds a Range against a file of size bytes. Returns 206 with the bytes
 * [*ret_first, *ret_last] to send (first <= last < size); 200 when the whole
 * file is to be sent (no Range, or one RFC 9110 lets us ignore); 416 when no
 * byte of the file is in it. The ret_ values are written only for 206. */
int pl_range_resolve(const struct pl_range *r, uint64_t size, uint64_t *ret_first,
                     uint64_t *ret_last);

#endif
