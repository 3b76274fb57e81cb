/* Fuzz target: RTSP responses (cu_rtsp_parse_response in
 * lib/rtsp/response.c), the first bytes a camera sends back.
 *
 * Input: the bytes of a TCP stream from a camera. Responses are parsed one
 * after another as the client would (pipelined), each from an exactly sized
 * copy.
 *
 * Properties: a parsed response uses no more bytes than it was given and
 * parses again to the same length from exactly those bytes; every shorter
 * prefix needs more bytes (0) or is refused; the status, header count, body
 * length and header strings respect their limits and grammar; header lookup
 * finds every header it reported; errors are CU_ERR_FORMAT or CU_ERR_LIMIT. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "fuzz.h"
#include "rtsp/proto.h"

#define MESSAGES_MAX 16

static struct cu_rtsp_response resp, again;

static bool
ok_error(int r)
{
	return r == CU_ERR_FORMAT || r == CU_ERR_LIMIT;
}

static void
check(const struct cu_rtsp_response *r, size_t used)
{
	if (r->status < 100 || r->status > 599 || r->nheaders > CU_RTSP_HEADERS_MAX ||
	    r->body_len > CU_RTSP_BODY_MAX || r->body_len >= used || r->body[r->body_len] != 0 ||
	    strnlen(r->reason, sizeof(r->reason)) == sizeof(r->reason) || r->cseq < -1)
		abort();
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *n = r->headers[i].name, *v = r->headers[i].value;
		if (n < r->head || n >= r->head + sizeof(r->head) || v < r->head ||
		    v >= r->head + sizeof(r->head) || n[0] == '\0')
			abort();
		for (const char *c = n; *c; c++)
			if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == ':')
				abort();
		for (const char *c = v; *c; c++)
			if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
				abort();
		const char *found = cu_rtsp_header(r, n);
		if (found == NULL)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	for (int m = 0; m < MESSAGES_MAX && off < size; m++) {
		size_t left = size - off;
		uint8_t *copy = malloc(left ? left : 1);
		if (copy == NULL)
			abort();
		memcpy(copy, data + off, left);
		int r = cu_rtsp_parse_response(copy, left, &resp);
		if (r < 0) {
			if (!ok_error(r))
				abort();
			free(copy);
			return 0;
		}
		if (r == 0) {
			free(copy);
			return 0;
		}
		size_t used = (size_t)r;
		if (used > left)
			abort();
		check(&resp, used);
		/* the same bytes alone give the same message */
		uint8_t *exact = malloc(used);
		if (exact == NULL)
			abort();
		memcpy(exact, copy, used);
		if (cu_rtsp_parse_response(exact, used, &again) != r || again.status != resp.status ||
		    again.body_len != resp.body_len || again.nheaders != resp.nheaders ||
		    again.cseq != resp.cseq || memcmp(again.body, resp.body, resp.body_len) != 0)
			abort();
		/* one byte short is never a whole message */
		int s = cu_rtsp_parse_response(exact, used - 1, &again);
		if (s > 0 || (s < 0 && !ok_error(s)))
			abort();
		free(exact);
		free(copy);
		off += used;
	}
	return 0;
}
