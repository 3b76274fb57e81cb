/* Fuzz target: SDP (cu_sdp_parse, cu_sdp_fmtp_get, cu_sdp_param_sets in
 * lib/rtsp/sdp.c; cu_b64_decode in lib/util/base64.c with the SDP's flags and
 * with the strict ones of tokens and PHC strings), the body of a camera's
 * DESCRIBE answer.
 *
 * Input: SDP text.
 *
 * Properties: every string in a parsed description is terminated inside its
 * array; payload types, counts and codecs are in range; parameter sets come
 * out as Annex B within the buffer given; an fmtp value never outgrows the
 * buffer given; base64 output has exactly the length its input implies, and
 * what a canonical decode accepts encodes back to the same characters;
 * errors are the documented ones; nothing is written on failure. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "fuzz.h"
#include "rtsp/proto.h"
#include "util/base64.h"

static struct cu_sdp sdp;

static void
terminated(const char *s, size_t cap)
{
	if (strnlen(s, cap) == cap)
		abort();
}

static void
check_fmtp(const struct cu_sdp_media *m, const char *name, size_t cap)
{
	char buf[64];
	memset(buf, 'x', sizeof(buf));
	int r = cu_sdp_fmtp_get(m, name, buf, cap);
	if (r == 0) {
		if (strnlen(buf, cap) >= cap)
			abort();
	} else if (r != CU_ERR_NOTFOUND && r != CU_ERR_LIMIT) {
		abort();
	}
	for (size_t i = cap; i < sizeof(buf); i++)
		if (buf[i] != 'x')
			abort();
}

static void
check_media(const struct cu_sdp_media *m)
{
	terminated(m->type, sizeof(m->type));
	terminated(m->encoding, sizeof(m->encoding));
	terminated(m->control, sizeof(m->control));
	terminated(m->fmtp, sizeof(m->fmtp));
	if (m->payload_type < -1 || m->payload_type > 127 || m->codec < 0 ||
	    m->codec > CU_CODEC_AAC || m->channels < 0)
		abort();
	check_fmtp(m, "config", 64);
	check_fmtp(m, "sprop-parameter-sets", 16);
	check_fmtp(m, "packetization-mode", 2);
	check_fmtp(m, "a", 1);

	static uint8_t ps[CU_PARAM_SETS_MAX + 16];
	size_t caps[] = {CU_PARAM_SETS_MAX, 40};
	for (size_t c = 0; c < 2; c++) {
		size_t len = SIZE_MAX;
		memset(ps, 0xee, sizeof(ps));
		int r = cu_sdp_param_sets(m, ps, caps[c], &len);
		if (r == 0) {
			if (len > caps[c] || (len > 0 && memcmp(ps, "\0\0\0\1", 4) != 0))
				abort();
			if (m->codec != CU_CODEC_H264 && m->codec != CU_CODEC_H265 && len != 0)
				abort();
		} else if (r != CU_ERR_FORMAT && r != CU_ERR_LIMIT) {
			abort();
		} else if (len != SIZE_MAX) {
			abort();
		}
		for (size_t i = caps[c]; i < sizeof(ps) && i < caps[c] + 16; i++)
			if (ps[i] != 0xee)
				abort();
	}
}

/* A canonical decode (flags with CU_B64_CANONICAL) is one spelling: encoding
 * what it accepted gives back the input. */
static void
check_base64_strict(const uint8_t *data, size_t n, int flags)
{
	static uint8_t out[1024];
	static char again[1024 / 3 * 4 + 8];
	size_t len = SIZE_MAX;
	int r = cu_b64_decode((const char *)data, n, flags, out, sizeof(out), &len);
	if (r == 0) {
		if (cu_b64_encode(out, len, flags, again, sizeof(again)) != 0 ||
		    strlen(again) != n || memcmp(again, data, n) != 0)
			abort();
	} else if (r != CU_ERR_FORMAT && r != CU_ERR_LIMIT) {
		abort();
	}
}

static void
check_base64(const uint8_t *data, size_t size)
{
	static uint8_t out[1024];
	size_t n = size < 1024 ? size : 1024;
	size_t len = SIZE_MAX;
	int r = cu_b64_decode((const char *)data, n, CU_SPROP_B64, out, 200, &len);
	if (r == 0) {
		size_t digits = n;
		while (digits > 0 && data[digits - 1] == '=')
			digits--;
		if (len != digits * 3 / 4 || len > 200)
			abort();
	} else if (r != CU_ERR_FORMAT && r != CU_ERR_LIMIT) {
		abort();
	}
	check_base64_strict(data, n, CU_B64_URL | CU_B64_NOPAD | CU_B64_CANONICAL);
	check_base64_strict(data, n, CU_B64_PAD | CU_B64_CANONICAL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_base64(data, size);
	char *text = malloc(size ? size : 1);
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	memset(&sdp, 0xa5, sizeof(sdp));
	int r = cu_sdp_parse(text, size, &sdp);
	if (r == 0) {
		terminated(sdp.control, sizeof(sdp.control));
		if (sdp.nmedia > CU_SDP_MEDIA_MAX)
			abort();
		for (size_t i = 0; i < sdp.nmedia; i++)
			check_media(&sdp.media[i]);
	} else {
		if (r != CU_ERR_FORMAT && r != CU_ERR_LIMIT)
			abort();
		/* written only on success */
		const uint8_t *b = (const uint8_t *)&sdp;
		for (size_t i = 0; i < sizeof(sdp); i++)
			if (b[i] != 0xa5)
				abort();
	}
	free(text);
	return 0;
}
