/* Unit tests for the parsers of the RTSP client (lib/rtsp/proto.h): RTSP
 * responses, SDP, base64, RTP/RTCP and the H.264 / H.265 / AAC
 * depacketisers.
 *
 * The depacketisers are tested by round trip: the raw streams in
 * tests/data/media (h264.h264, h265.h265) are split into NAL units and
 * access units here, packetised by this file's own small packetiser (single
 * NAL units, FU-A / FU for large ones, STAP-A / AP for the parameter sets),
 * fed through cu_rtp_parse and cu_depay_push, and what comes out must be the
 * input access units byte for byte (with 4-byte start codes), with the right
 * key flags. Loss, duplicates, reordering and sequence wrap are made by
 * editing the packet list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "custody/error.h"
#include "custody/media.h"
#include "rtsp/proto.h"

#define H264_FRAMES 50
#define H265_FRAMES 50
#define GOP 25
#define TS_STEP 3600            /* 90 kHz / 25 fps */
#define MTU 1200                /* payload bytes per RTP packet */
#define SSRC 0x11223344u

/* ---- helpers: files, NAL units, access units ---- */

static uint8_t *
load(const char *name, size_t *ret_len)
{
	char path[4096];
	const char *dir = getenv("CU_TEST_DATA");
	assert_non_null(dir);
	int n = snprintf(path, sizeof(path), "%s/media/%s", dir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	FILE *f = fopen(path, "rbe");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	uint8_t *data = malloc((size_t)size);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	*ret_len = (size_t)size;
	return data;
}

struct nal {
	const uint8_t *p;
	size_t n;
};

struct au {
	struct nal nals[64];
	size_t n;
	bool key;
};

struct stream {
	int codec;
	uint8_t *file;
	struct nal nals[512];
	size_t nnals;
	struct au aus[128];
	size_t naus;
};

static int
type_of(int codec, const uint8_t *p)
{
	return codec == CU_CODEC_H264 ? p[0] & 0x1f : (p[0] >> 1) & 0x3f;
}

static bool
is_vcl(int codec, int t)
{
	return codec == CU_CODEC_H264 ? t >= 1 && t <= 5 : t <= 31;
}

static bool
is_key(int codec, int t)
{
	return codec == CU_CODEC_H264 ? t == 5 : t >= 16 && t <= 21;
}

static bool
is_param_set(int codec, int t)
{
	return codec == CU_CODEC_H264 ? t == 7 || t == 8 : t >= 32 && t <= 34;
}

/* Does this NAL unit begin a new access unit after one holding a VCL unit?
 * (H.264 7.4.1.2.3, H.265 7.4.2.4.4: parameter sets, AUD, prefix SEI, or a
 * slice that is the first of its picture.) */
static bool
starts_au(int codec, const struct nal *n)
{
	int t = type_of(codec, n->p);
	if (codec == CU_CODEC_H264) {
		if (t == 6 || t == 7 || t == 8 || t == 9)
			return true;
		return is_vcl(codec, t) && n->n > 1 && (n->p[1] & 0x80); /* first_mb_in_slice 0 */
	}
	if (t == 32 || t == 33 || t == 34 || t == 35 || t == 39)
		return true;
	return is_vcl(codec, t) && n->n > 2 && (n->p[2] & 0x80); /* first_slice_segment_in_pic */
}

static void
stream_load(struct stream *s, int codec, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->codec = codec;
	size_t len;
	s->file = load(name, &len);
	const uint8_t *d = s->file;
	/* start codes 00 00 01; a NAL unit never ends in 00, so zeros before a
	 * start code belong to the start code (or are trailing_zero_8bits) */
	size_t i = 0, start = SIZE_MAX;
	while (i + 3 <= len) {
		if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
			if (start != SIZE_MAX) {
				size_t e = i;
				while (e > start && d[e - 1] == 0)
					e--;
				assert_true(s->nnals < 512);
				s->nals[s->nnals++] = (struct nal){d + start, e - start};
			}
			i += 3;
			start = i;
		} else {
			i++;
		}
	}
	assert_true(start != SIZE_MAX);
	size_t e = len;
	while (e > start && d[e - 1] == 0)
		e--;
	s->nals[s->nnals++] = (struct nal){d + start, e - start};

	bool have_vcl = false;
	for (size_t k = 0; k < s->nnals; k++) {
		struct nal *n = &s->nals[k];
		if (s->naus == 0 || (have_vcl && starts_au(codec, n))) {
			assert_true(s->naus < 128);
			s->naus++;
			have_vcl = false;
		}
		struct au *a = &s->aus[s->naus - 1];
		assert_true(a->n < 64);
		a->nals[a->n++] = *n;
		int t = type_of(codec, n->p);
		if (is_vcl(codec, t))
			have_vcl = true;
		if (is_key(codec, t))
			a->key = true;
	}
}

/* The access unit as Annex B with 4-byte start codes, optionally leaving out
 * parameter sets; *ret_len its length. */
static uint8_t *
au_bytes(const struct stream *s, size_t i, bool strip_ps, size_t *ret_len)
{
	const struct au *a = &s->aus[i];
	size_t len = 0;
	for (size_t k = 0; k < a->n; k++)
		len += 4 + a->nals[k].n;
	uint8_t *b = malloc(len), *p = b;
	assert_non_null(b);
	for (size_t k = 0; k < a->n; k++) {
		if (strip_ps && is_param_set(s->codec, type_of(s->codec, a->nals[k].p)))
			continue;
		memcpy(p, "\0\0\0\1", 4);
		memcpy(p + 4, a->nals[k].p, a->nals[k].n);
		p += 4 + a->nals[k].n;
	}
	*ret_len = (size_t)(p - b);
	return b;
}

/* ---- helpers: RTP packets ---- */

struct pkt {
	uint8_t *data;
	size_t len;
};

struct pkts {
	struct pkt v[2048];
	size_t n;
	uint16_t seq;
};

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A minimal RTP packet: 12-byte header, payload. */
static struct pkt
rtp_make(uint16_t seq, uint32_t ts, bool marker, const uint8_t *payload, size_t n)
{
	struct pkt k;
	k.len = 12 + n;
	k.data = malloc(k.len);
	assert_non_null(k.data);
	k.data[0] = 0x80;
	k.data[1] = (uint8_t)((marker ? 0x80 : 0) | 96);
	put16(k.data + 2, seq);
	put32(k.data + 4, ts);
	put32(k.data + 8, SSRC);
	memcpy(k.data + 12, payload, n);
	return k;
}

static void
pkts_add(struct pkts *ps, uint32_t ts, bool marker, const uint8_t *payload, size_t n)
{
	assert_true(ps->n < 2048);
	ps->v[ps->n++] = rtp_make(ps->seq++, ts, marker, payload, n);
}

static void
pkts_free(struct pkts *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->v[i].data);
	ps->n = 0;
}

/* Removes packet i, or inserts a copy of packet i after it. */
static void
pkts_remove(struct pkts *ps, size_t i)
{
	free(ps->v[i].data);
	memmove(&ps->v[i], &ps->v[i + 1], (ps->n - i - 1) * sizeof(ps->v[0]));
	ps->n--;
}

static void
pkts_duplicate(struct pkts *ps, size_t i)
{
	assert_true(ps->n < 2048);
	memmove(&ps->v[i + 2], &ps->v[i + 1], (ps->n - i - 1) * sizeof(ps->v[0]));
	ps->v[i + 1].len = ps->v[i].len;
	ps->v[i + 1].data = malloc(ps->v[i].len);
	assert_non_null(ps->v[i + 1].data);
	memcpy(ps->v[i + 1].data, ps->v[i].data, ps->v[i].len);
	ps->n++;
}

/* Packetises NAL units of one AU. Parameter sets next to each other go in
 * one STAP-A / AP, a NAL unit larger than the MTU in FU-A / FU fragments,
 * anything else alone. The last packet carries the marker (when marker). */
static void
packetise_au(struct pkts *ps, int codec, const struct nal *nals, size_t n, uint32_t ts,
             bool marker, bool strip_ps)
{
	size_t hdr = codec == CU_CODEC_H264 ? 1 : 2;
	uint8_t buf[MTU + 16];
	/* last NAL that will be sent, for the marker */
	size_t last = n;
	for (size_t k = 0; k < n; k++)
		if (!(strip_ps && is_param_set(codec, type_of(codec, nals[k].p))))
			last = k;
	assert_true(last < n);
	for (size_t k = 0; k < n; k++) {
		int t = type_of(codec, nals[k].p);
		if (strip_ps && is_param_set(codec, t))
			continue;
		if (is_param_set(codec, t) && k + 1 < n &&
		    is_param_set(codec, type_of(codec, nals[k + 1].p))) {
			/* aggregate this run of parameter sets */
			size_t len = 0;
			if (codec == CU_CODEC_H264) {
				buf[0] = 24 | (nals[k].p[0] & 0x60);
			} else {
				buf[0] = 48 << 1;
				buf[1] = 1;
			}
			len = hdr;
			size_t j = k;
			while (j < n && is_param_set(codec, type_of(codec, nals[j].p))) {
				assert_true(len + 2 + nals[j].n <= MTU);
				put16(buf + len, (unsigned)nals[j].n);
				memcpy(buf + len + 2, nals[j].p, nals[j].n);
				len += 2 + nals[j].n;
				j++;
			}
			pkts_add(ps, ts, marker && j - 1 == last, buf, len);
			k = j - 1;
			continue;
		}
		if (nals[k].n <= MTU) {
			pkts_add(ps, ts, marker && k == last, nals[k].p, nals[k].n);
			continue;
		}
		/* fragments: payload header (FU indicator), FU header, data */
		const uint8_t *d = nals[k].p + hdr;
		size_t left = nals[k].n - hdr, chunk = MTU - hdr - 1;
		bool first = true;
		while (left > 0) {
			size_t c = left < chunk ? left : chunk;
			bool end = c == left;
			if (codec == CU_CODEC_H264) {
				buf[0] = (uint8_t)((nals[k].p[0] & 0xe0) | 28);
				buf[1] = (uint8_t)((first ? 0x80 : 0) | (end ? 0x40 : 0) | t);
			} else {
				buf[0] = (uint8_t)((nals[k].p[0] & 0x81) | 49 << 1);
				buf[1] = nals[k].p[1];
				buf[2] = (uint8_t)((first ? 0x80 : 0) | (end ? 0x40 : 0) | t);
			}
			memcpy(buf + hdr + 1, d, c);
			pkts_add(ps, ts, marker && end && k == last, buf, hdr + 1 + c);
			d += c;
			left -= c;
			first = false;
		}
	}
}

static void
packetise(struct pkts *ps, const struct stream *s, uint16_t seq0, bool marker, bool strip_ps)
{
	ps->n = 0;
	ps->seq = seq0;
	for (size_t i = 0; i < s->naus; i++)
		packetise_au(ps, s->codec, s->aus[i].nals, s->aus[i].n, (uint32_t)(i * TS_STEP),
		             marker, strip_ps);
}

/* ---- helpers: running a depacketiser ---- */

struct outau {
	uint8_t *data;
	size_t len;
	uint32_t ts;
	bool key;
};

struct outs {
	struct outau v[256];
	size_t n;
	size_t errors;
};

static int
push_one(cu_depay *d, const struct pkt *k, struct outs *o)
{
	struct cu_rtp rtp;
	assert_int_equal(cu_rtp_parse(k->data, k->len, &rtp), 0);
	struct cu_au au;
	int r = cu_depay_push(d, &rtp, &au);
	if (r == 1) {
		assert_true(o->n < 256);
		assert_true(au.len > 0 && au.len <= CU_FRAME_MAX);
		struct outau *a = &o->v[o->n++];
		a->data = malloc(au.len);
		assert_non_null(a->data);
		memcpy(a->data, au.data, au.len);
		a->len = au.len;
		a->ts = au.rtp_ts;
		a->key = au.key;
	} else if (r < 0) {
		o->errors++;
	} else {
		assert_int_equal(r, 0);
	}
	return r;
}

static void
run(cu_depay *d, const struct pkts *ps, struct outs *o)
{
	for (size_t i = 0; i < ps->n; i++)
		(void)push_one(d, &ps->v[i], o);
}

static void
outs_free(struct outs *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].data);
	o->n = 0;
	o->errors = 0;
}

/* Output AU k must be input AU i, exactly. */
static void
assert_au(const struct stream *s, const struct outs *o, size_t k, size_t i, const uint8_t *ps,
          size_t ps_len)
{
	assert_true(k < o->n);
	size_t len;
	bool strip = ps != NULL;
	uint8_t *want = au_bytes(s, i, strip, &len);
	size_t extra = strip && s->aus[i].key ? ps_len : 0;
	if (o->v[k].len != len + extra)
		fail_msg("AU %zu (input %zu): %zu bytes, expected %zu", k, i, o->v[k].len, len + extra);
	if (extra > 0)
		assert_memory_equal(o->v[k].data, ps, ps_len);
	if (memcmp(o->v[k].data + extra, want, len) != 0)
		fail_msg("AU %zu (input %zu) differs from the input", k, i);
	assert_int_equal(o->v[k].key, s->aus[i].key);
	assert_int_equal(o->v[k].ts, (uint32_t)(i * TS_STEP));
	free(want);
}

static cu_depay *
depay(int codec, const uint8_t *ps, size_t ps_len)
{
	cu_depay *d = NULL;
	int r = cu_depay_new(codec, ps, ps_len, NULL, &d);
	if (r != 0)
		fail_msg("cu_depay_new: %s", cu_error_detail());
	return d;
}

static struct cu_depay_stats
stats(const cu_depay *d)
{
	struct cu_depay_stats st;
	cu_depay_get_stats(d, &st);
	return st;
}

/* Index of the first packet of AU i and the number of its packets. */
static size_t
first_packet_of(const struct pkts *ps, size_t i, size_t *ret_count)
{
	uint32_t ts = (uint32_t)(i * TS_STEP);
	size_t first = SIZE_MAX, count = 0;
	for (size_t k = 0; k < ps->n; k++) {
		uint32_t t = (uint32_t)ps->v[k].data[4] << 24 | (uint32_t)ps->v[k].data[5] << 16 |
		             (uint32_t)ps->v[k].data[6] << 8 | ps->v[k].data[7];
		if (t == ts) {
			if (first == SIZE_MAX)
				first = k;
			count++;
		}
	}
	assert_true(first != SIZE_MAX);
	*ret_count = count;
	return first;
}

/* ---- RTSP responses ---- */

static struct cu_rtsp_response resp;

static int
parse_str(const char *s)
{
	return cu_rtsp_parse_response((const uint8_t *)s, strlen(s), &resp);
}

static void
test_response_complete(void **state)
{
	(void)state;
	const char *m = "RTSP/1.0 200 OK\r\n"
	                "CSeq: 3\r\n"
	                "Content-Base: rtsp://10.0.0.8/stream1/\r\n"
	                "Content-Type: application/sdp\r\n"
	                "Content-Length: 10\r\n"
	                "\r\n"
	                "0123456789";
	assert_int_equal(parse_str(m), (int)strlen(m));
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.reason, "OK");
	assert_int_equal(resp.cseq, 3);
	assert_int_equal(resp.nheaders, 4);
	assert_int_equal(resp.body_len, 10);
	assert_memory_equal(resp.body, "0123456789", 11); /* NUL after the body */
	assert_string_equal(cu_rtsp_header(&resp, "content-type"), "application/sdp");
	assert_string_equal(cu_rtsp_header(&resp, "CONTENT-BASE"), "rtsp://10.0.0.8/stream1/");
	assert_null(cu_rtsp_header(&resp, "Session"));
	assert_null(cu_rtsp_header(&resp, "Content"));

	/* bare LF, no Content-Length (no body), no reason, values trimmed */
	const char *lf = "RTSP/1.0 454\nSession:\t  12345678;timeout=60 \ncseq: 7\n\nRTSP/1.0";
	assert_int_equal(parse_str(lf), (int)strlen(lf) - 8);
	assert_int_equal(resp.status, 454);
	assert_string_equal(resp.reason, "");
	assert_int_equal(resp.cseq, 7);
	assert_int_equal(resp.body_len, 0);
	assert_string_equal(cu_rtsp_header(&resp, "session"), "12345678;timeout=60");

	/* no CSeq at all; an empty value; the same Content-Length twice */
	const char *nocseq = "RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"cam\", "
	                     "nonce=\"abc\"\r\nX-Empty:\r\nContent-Length: 2\r\ncontent-length: 02\r\n\r\nab";
	assert_int_equal(parse_str(nocseq), (int)strlen(nocseq));
	assert_int_equal(resp.cseq, -1);
	assert_string_equal(resp.reason, "Unauthorized");
	assert_string_equal(cu_rtsp_header(&resp, "x-empty"), "");
	assert_string_equal(cu_rtsp_header(&resp, "www-authenticate"),
	                    "Digest realm=\"cam\", nonce=\"abc\"");
}

static void
test_response_partial(void **state)
{
	(void)state;
	const char *m = "RTSP/1.0 200 OK\r\nCSeq: 12\r\nContent-Length: 5\r\n\r\nhello"
	                "RTSP/1.0 200 OK\r\nCSeq: 13\r\n\r\n";
	size_t first = strlen(m) - strlen("RTSP/1.0 200 OK\r\nCSeq: 13\r\n\r\n");
	/* every prefix short of the whole first message needs more bytes, and
	 * the body split anywhere is waited for */
	for (size_t n = 0; n < first; n++) {
		int r = cu_rtsp_parse_response((const uint8_t *)m, n, &resp);
		if (r != 0)
			fail_msg("prefix of %zu bytes: %d (%s)", n, r, cu_error_detail());
	}
	/* two pipelined responses: the first uses only its own bytes */
	assert_int_equal(cu_rtsp_parse_response((const uint8_t *)m, strlen(m), &resp), (int)first);
	assert_int_equal(resp.cseq, 12);
	assert_memory_equal(resp.body, "hello", 5);
	assert_int_equal(cu_rtsp_parse_response((const uint8_t *)m + first, strlen(m) - first, &resp),
	                 (int)(strlen(m) - first));
	assert_int_equal(resp.cseq, 13);

	/* what is not RTSP is refused at once, not waited for */
	assert_int_equal(parse_str("HTTP/1."), CU_ERR_FORMAT);
	assert_int_equal(parse_str("RTSP/2"), CU_ERR_FORMAT);
	assert_int_equal(parse_str("RTSP/1"), 0);
}

static void
test_response_bad(void **state)
{
	(void)state;
	static const char *bad[] = {
		"HTTP/1.1 200 OK\r\n\r\n",
		"RTSP/1.1 200 OK\r\n\r\n",
		"RTSP/1.0 20 OK\r\n\r\n",
		"RTSP/1.0 2000 OK\r\n\r\n",
		"RTSP/1.0 200OK\r\n\r\n",
		"RTSP/1.0 099 Low\r\n\r\n",
		"RTSP/1.0 600 High\r\n\r\n",
		"RTSP/1.0 2x0 OK\r\n\r\n",
		"RTSP/1.0  200 OK\r\n\r\n",
		"rtsp/1.0 200 OK\r\n\r\n",
		"RTSP/1.0 200 O\001K\r\n\r\n",
		"RTSP/1.0 200 OK\r\nCSeq: 1\r\n continued\r\n\r\n",       /* folded */
		"RTSP/1.0 200 OK\r\n\tCSeq: 1\r\n\r\n",                    /* folded */
		"RTSP/1.0 200 OK\r\nCSeq 1\r\n\r\n",                       /* no colon */
		"RTSP/1.0 200 OK\r\n: 1\r\n\r\n",                          /* no name */
		"RTSP/1.0 200 OK\r\nC Seq: 1\r\n\r\n",                     /* not a token */
		"RTSP/1.0 200 OK\r\nCSeq : 1\r\n\r\n",                     /* space before colon */
		"RTSP/1.0 200 OK\r\nX(y): 1\r\n\r\n",                      /* separator in name */
		"RTSP/1.0 200 OK\r\nSession: a\rb\r\n\r\n",                /* lone CR */
		"RTSP/1.0 200 OK\r\nSession: a\033b\r\n\r\n",              /* ESC */
		"RTSP/1.0 200 OK\r\nSession: a\177\r\n\r\n",               /* DEL */
		"RTSP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
		"RTSP/1.0 200 OK\r\nContent-Length: 1 2\r\n\r\n",
		"RTSP/1.0 200 OK\r\nContent-Length: \r\n\r\n",
		"RTSP/1.0 200 OK\r\nContent-Length: 0x10\r\n\r\n",
		"RTSP/1.0 200 OK\r\nCSeq: 1\r\nCSeq: 2\r\n\r\n",
		"RTSP/1.0 200 OK\r\nCSeq: one\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse_str(bad[i]);
		if (r != CU_ERR_FORMAT)
			fail_msg("bad[%zu] gave %d, expected CU_ERR_FORMAT", i, r);
		assert_true(cu_error_detail()[0] != '\0');
	}
	/* a NUL inside a value */
	const uint8_t nul[] = "RTSP/1.0 200 OK\r\nX: a\0b\r\n\r\n";
	assert_int_equal(cu_rtsp_parse_response(nul, sizeof(nul) - 1, &resp), CU_ERR_FORMAT);
}

static void
test_response_limits(void **state)
{
	(void)state;
	size_t cap = 2 * CU_RTSP_HEAD_MAX + CU_RTSP_BODY_MAX + 256;
	char *m = malloc(cap);
	assert_non_null(m);

	/* Content-Length: the maximum is accepted, one more is not */
	int n = snprintf(m, cap, "RTSP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n", CU_RTSP_BODY_MAX);
	memset(m + n, 'x', CU_RTSP_BODY_MAX);
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, (size_t)n + CU_RTSP_BODY_MAX, &resp),
	                 n + CU_RTSP_BODY_MAX);
	assert_int_equal(resp.body_len, CU_RTSP_BODY_MAX);
	assert_int_equal(resp.body[CU_RTSP_BODY_MAX], 0);
	n = snprintf(m, cap, "RTSP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n", CU_RTSP_BODY_MAX + 1);
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, (size_t)n, &resp), CU_ERR_LIMIT);
	assert_int_equal(parse_str("RTSP/1.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
	                 CU_ERR_LIMIT);
	assert_int_equal(parse_str("RTSP/1.0 200 OK\r\nCSeq: 2147483648\r\n\r\n"), CU_ERR_LIMIT);
	const char *max_cseq = "RTSP/1.0 200 OK\r\nCSeq: 2147483647\r\n\r\n";
	assert_int_equal(parse_str(max_cseq), (int)strlen(max_cseq));
	assert_int_equal(resp.cseq, 2147483647);

	/* header count */
	size_t len = (size_t)snprintf(m, cap, "RTSP/1.0 200 OK\r\n");
	for (int i = 0; i < CU_RTSP_HEADERS_MAX; i++)
		len += (size_t)snprintf(m + len, cap - len, "X-%d: %d\r\n", i, i);
	memcpy(m + len, "\r\n", 2);
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, len + 2, &resp), (int)len + 2);
	assert_int_equal(resp.nheaders, CU_RTSP_HEADERS_MAX);
	assert_string_equal(cu_rtsp_header(&resp, "x-63"), "63");
	len += (size_t)snprintf(m + len, cap - len, "X-more: 1\r\n\r\n");
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, len, &resp), CU_ERR_LIMIT);

	/* head size: exactly the maximum passes; one byte more, complete or
	 * not, is over the limit */
	len = (size_t)snprintf(m, cap, "RTSP/1.0 200 OK\r\nX-Pad: ");
	size_t pad = CU_RTSP_HEAD_MAX - len - 4;
	memset(m + len, 'p', pad);
	memcpy(m + len + pad, "\r\n\r\n", 4);
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, CU_RTSP_HEAD_MAX, &resp),
	                 CU_RTSP_HEAD_MAX);
	assert_int_equal(strlen(cu_rtsp_header(&resp, "x-pad")), pad);
	memset(m + len, 'p', pad + 1);
	memcpy(m + len + pad + 1, "\r\n\r\n", 4);
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, CU_RTSP_HEAD_MAX + 1, &resp),
	                 CU_ERR_LIMIT);
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, CU_RTSP_HEAD_MAX, &resp), CU_ERR_LIMIT);
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, CU_RTSP_HEAD_MAX - 1, &resp), 0);

	/* the reason phrase is display-only: cut, not refused */
	len = (size_t)snprintf(m, cap, "RTSP/1.0 500 ");
	memset(m + len, 'r', 300);
	memcpy(m + len + 300, "\r\n\r\n", 4);
	assert_int_equal(cu_rtsp_parse_response((uint8_t *)m, len + 304, &resp), (int)len + 304);
	assert_int_equal(strlen(resp.reason), sizeof(resp.reason) - 1);
	free(m);
}

/* ---- base64 of parameter sets (the flags sdp.c decodes with) ---- */

static void
test_base64(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} ok[] = {
		{"", ""}, {"Zg==", "f"}, {"Zm8=", "fo"}, {"Zm9v", "foo"}, {"Zm9vYg==", "foob"},
		{"Zm9vYmE=", "fooba"}, {"Zm9vYmFy", "foobar"}, {"Zg", "f"}, {"Zm8", "fo"},
		{"Zm9vYg", "foob"}, {"+/+/", "\xfb\xff\xbf"},
		/* unused low bits set: ignored, as some cameras' encoders need */
		{"Zh==", "f"}, {"Zm9=", "fo"}, {"Zh", "f"},
	};
	uint8_t out[64];
	size_t n;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(
			cu_b64_decode(ok[i].in, strlen(ok[i].in), CU_SPROP_B64, out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(ok[i].out));
		assert_memory_equal(out, ok[i].out, n);
	}
	static const char *bad[] = {"Z", "Zm9vY", "Zg=", "Zg===", "Z===", "Zm8==", "Zm 9v", "Zm9v\n",
	                            "Zm-v", "Zm_v", "=Zm9", "Zm=v", "Zg==Zg=="};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = cu_b64_decode(bad[i], strlen(bad[i]), CU_SPROP_B64, out, sizeof(out), &n);
		if (r != CU_ERR_FORMAT)
			fail_msg("\"%s\" gave %d", bad[i], r);
	}
	/* exactly the room needed, and one byte less */
	assert_int_equal(cu_b64_decode("Zm9vYmFy", 8, CU_SPROP_B64, out, 6, &n), 0);
	assert_int_equal(cu_b64_decode("Zm9vYmFy", 8, CU_SPROP_B64, out, 5, &n), CU_ERR_LIMIT);
}

/* ---- SDP ---- */

/* A DESCRIBE answer as an IP camera sends it (H.264 + AAC); the parameter
 * sets are those of tests/data/media/h264.h264. */
static const char sdp_h264_aac[] =
	"v=0\r\n"
	"o=- 1700000000123456 1 IN IP4 192.168.1.64\r\n"
	"s=Media Presentation\r\n"
	"e=NONE\r\n"
	"b=AS:5100\r\n"
	"t=0 0\r\n"
	"a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/\r\n"
	"m=video 0 RTP/AVP 96\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"b=AS:5000\r\n"
	"a=recvonly\r\n"
	"a=x-dimensions:320,240\r\n"
	"a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1\r\n"
	"a=rtpmap:96 H264/90000\r\n"
	"a=fmtp:96 profile-level-id=64000d; packetization-mode=1; "
	"sprop-parameter-sets=Z2QADay0Cg/YCIAAAAMAgAAAGQeKFVA=,aO8EcsA=\r\n"
	"a=Media_header:MEDIAINFO=494D4B48010300000400000101000000000000000000000000000000;\r\n"
	"m=audio 0 RTP/AVP 97\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"b=AS:50\r\n"
	"a=recvonly\r\n"
	"a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=2\r\n"
	"a=rtpmap:97 MPEG4-GENERIC/48000/1\r\n"
	"a=fmtp:97 streamtype=5;profile-level-id=15;mode=AAC-hbr;config=1188;"
	"sizelength=13;indexlength=3;indexdeltalength=3;\r\n"
	"a=range:npt=now-\r\n";

/* H.265, with the parameter sets of tests/data/media/h265.h265. */
static const char sdp_h265[] =
	"v=0\n"
	"o=- 0 0 IN IP4 127.0.0.1\n"
	"s=No Name\n"
	"c=IN IP4 0.0.0.0\n"
	"t=0 0\n"
	"a=tool:libavformat\n"
	"m=video 0 RTP/AVP 96\n"
	"a=rtpmap:96 h265/90000\n"
	"a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwAekoCQ; "
	"sprop-sps=QgEBAWAAAAMAkAAAAwAAAwAeoBQgeWWSpJMrwFoCAAADAAIAAAMAMhA=; "
	"sprop-pps=RAHBcrRiQA==\n"
	"a=control:streamid=0\n";

/* The parameter sets of a stream, as Annex B, in the order they come. */
static size_t
stream_param_sets(const struct stream *s, uint8_t *out)
{
	size_t len = 0;
	for (size_t k = 0; k < s->aus[0].n; k++) {
		const struct nal *n = &s->aus[0].nals[k];
		if (!is_param_set(s->codec, type_of(s->codec, n->p)))
			continue;
		memcpy(out + len, "\0\0\0\1", 4);
		memcpy(out + len + 4, n->p, n->n);
		len += 4 + n->n;
	}
	return len;
}

static void
test_sdp_camera(void **state)
{
	(void)state;
	struct cu_sdp sdp;
	assert_int_equal(cu_sdp_parse(sdp_h264_aac, strlen(sdp_h264_aac), &sdp), 0);
	assert_string_equal(sdp.control, "rtsp://192.168.1.64:554/Streaming/Channels/101/");
	assert_int_equal(sdp.nmedia, 2);
	const struct cu_sdp_media *v = &sdp.media[0], *a = &sdp.media[1];
	assert_string_equal(v->type, "video");
	assert_int_equal(v->payload_type, 96);
	assert_int_equal(v->codec, CU_CODEC_H264);
	assert_string_equal(v->encoding, "H264");
	assert_int_equal(v->clock_rate, 90000);
	assert_int_equal(v->channels, 0);
	assert_string_equal(v->control, "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1");
	assert_string_equal(a->type, "audio");
	assert_int_equal(a->payload_type, 97);
	assert_int_equal(a->codec, CU_CODEC_AAC);
	assert_int_equal(a->clock_rate, 48000);
	assert_int_equal(a->channels, 1);

	char buf[64];
	assert_int_equal(cu_sdp_fmtp_get(v, "packetization-mode", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1");
	assert_int_equal(cu_sdp_fmtp_get(a, "CONFIG", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1188");
	assert_int_equal(cu_sdp_fmtp_get(a, "mode", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "AAC-hbr");
	assert_int_equal(cu_sdp_fmtp_get(a, "sizeLength", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "13");
	assert_int_equal(cu_sdp_fmtp_get(a, "size", buf, sizeof(buf)), CU_ERR_NOTFOUND);
	assert_int_equal(cu_sdp_fmtp_get(v, "sprop-parameter-sets", buf, 8), CU_ERR_LIMIT);

	/* the parameter sets are exactly the SPS and PPS of the stream */
	struct stream *s = malloc(sizeof(*s));
	assert_non_null(s);
	stream_load(s, CU_CODEC_H264, "h264.h264");
	uint8_t want[CU_PARAM_SETS_MAX], got[CU_PARAM_SETS_MAX];
	size_t want_len = stream_param_sets(s, want), got_len = 0;
	assert_int_equal(want_len, 4 + 23 + 4 + 5);
	assert_int_equal(cu_sdp_param_sets(v, got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	assert_int_equal(cu_sdp_param_sets(v, got, want_len - 1, &got_len), CU_ERR_LIMIT);
	assert_int_equal(cu_sdp_param_sets(a, got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, 0);
	free(s->file);

	/* H.265: VPS, SPS, PPS in that order */
	assert_int_equal(cu_sdp_parse(sdp_h265, strlen(sdp_h265), &sdp), 0);
	assert_string_equal(sdp.control, "");
	assert_int_equal(sdp.nmedia, 1);
	assert_int_equal(sdp.media[0].codec, CU_CODEC_H265);
	assert_string_equal(sdp.media[0].encoding, "h265");
	assert_string_equal(sdp.media[0].control, "streamid=0");
	stream_load(s, CU_CODEC_H265, "h265.h265");
	want_len = stream_param_sets(s, want);
	assert_int_equal(want_len, 4 + 24 + 4 + 41 + 4 + 7);
	assert_int_equal(cu_sdp_param_sets(&sdp.media[0], got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	free(s->file);
	free(s);
}

static int
sdp_try(const char *media_lines)
{
	static char text[CU_SDP_MAX + 1024];
	static struct cu_sdp sdp;
	int n = snprintf(text, sizeof(text), "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\nt=0 0\r\n%s",
	                 media_lines);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	return cu_sdp_parse(text, (size_t)n, &sdp);
}

static void
test_sdp_refusals(void **state)
{
	(void)state;
	struct cu_sdp sdp;
	/* MJPEG by static payload type and by name; unknown codecs are kept */
	const char *mj = "v=0\r\nm=video 0 RTP/AVP 26\r\nm=video 0 RTP/AVP 97\r\na=rtpmap:97 jpeg/90000\r\n"
	                 "m=audio 0 RTP/AVP 0\r\nm=application 0 RTP/AVP 107\r\na=rtpmap:107 vnd.onvif.metadata/90000\r\n"
	                 "m=video 0 RTP/AVP 98\r\na=rtpmap:98 H264/90000\r\na=rtpmap:99 H265/90000\r\n";
	assert_int_equal(cu_sdp_parse(mj, strlen(mj), &sdp), 0);
	assert_int_equal(sdp.nmedia, 5);
	assert_int_equal(sdp.media[0].codec, CU_CODEC_MJPEG);
	assert_int_equal(sdp.media[0].clock_rate, 90000);
	assert_int_equal(sdp.media[1].codec, CU_CODEC_MJPEG);
	assert_int_equal(sdp.media[2].codec, 0);
	assert_int_equal(sdp.media[2].payload_type, 0);
	assert_int_equal(sdp.media[3].codec, 0);
	assert_string_equal(sdp.media[3].encoding, "vnd.onvif.metadata");
	assert_int_equal(sdp.media[4].codec, CU_CODEC_H264); /* the rtpmap of PT 98, not 99 */

	/* H264 in an audio section is not video */
	assert_int_equal(sdp_try("m=audio 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"), 0);

	static const char *format[] = {
		"m=video\r\n",
		"m=video 0\r\n",
		"m=video 0 RTP/AVP\r\n",
		"m=video x RTP/AVP 96\r\n",
		"m=video 0 RTP/AVP x\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/9x\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 /90000\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000 extra\r\n",
		"m=audio 0 RTP/AVP 96\r\na=rtpmap:96 L16/8000/0\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:x H264/90000\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=rtpmap:96 H265/90000\r\n",
		"m=video 0 RTP/AVP 96\r\na=fmtp:96 a=1\r\na=fmtp:96 a=2\r\n",
		"m=video 0 RTP/AVP 96\r\na=fmtp\r\n",
		"m=video 0 RTP/AVP 96\r\na=control:\r\n",
		"m=video 0 RTP/AVP 96\r\na=control:a\r\na=control:b\r\n",
		"a=control:a\r\na=control:b\r\n",
		"m=video 0 RTP/AVP 96\r\nbad line\r\n",
		"m=video 0 RTP/AVP 96\r\nA=foo\r\n",
		"m=video 0 RTP/AVP 96\r\na=x\001y\r\n",
		"m=video 0 RTP/AVP 96\r\na=x\ry\r\n",
		"v=0\r\n",
	};
	for (size_t i = 0; i < sizeof(format) / sizeof(format[0]); i++) {
		int r = sdp_try(format[i]);
		if (r != CU_ERR_FORMAT)
			fail_msg("format[%zu] gave %d (%s)", i, r, cu_error_detail());
	}
	assert_int_equal(cu_sdp_parse("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", 29, &sdp), CU_ERR_FORMAT);
	assert_int_equal(cu_sdp_parse("v=1\r\n", 5, &sdp), CU_ERR_FORMAT);
	assert_int_equal(cu_sdp_parse("", 0, &sdp), CU_ERR_FORMAT);
	assert_int_equal(cu_sdp_parse("v=0\0", 4, &sdp), CU_ERR_FORMAT);

	static const char *limit[] = {
		"m=video 0 RTP/AVP 128\r\n",
		"m=video 65536 RTP/AVP 96\r\n",
		"m=video 0 RTP/AVP 99999999999999999999999999\r\n",
		"m=videovideovideovideo 0 RTP/AVP 96\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 ABCDEFGHIJKLMNOPQRSTUVWXYZ012345/90000\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/4294967296\r\n",
		"m=audio 0 RTP/AVP 96\r\na=rtpmap:96 L16/8000/65\r\n",
	};
	for (size_t i = 0; i < sizeof(limit) / sizeof(limit[0]); i++) {
		int r = sdp_try(limit[i]);
		if (r != CU_ERR_LIMIT)
			fail_msg("limit[%zu] gave %d (%s)", i, r, cu_error_detail());
	}
	/* encoding name of 31 characters fits; clock 2^32-1 fits */
	assert_int_equal(sdp_try("m=video 0 RTP/AVP 96\r\na=rtpmap:96 ABCDEFGHIJKLMNOPQRSTUVWXYZ01234/4294967295\r\n"), 0);

	/* media sections: CU_SDP_MEDIA_MAX fit, one more does not */
	char many[1024];
	size_t len = 0;
	for (int i = 0; i <= CU_SDP_MEDIA_MAX; i++) {
		len += (size_t)snprintf(many + len, sizeof(many) - len, "m=video 0 RTP/AVP %d\r\n", 96 + i);
		int r = sdp_try(many);
		assert_int_equal(r, i < CU_SDP_MEDIA_MAX ? 0 : CU_ERR_LIMIT);
	}

	/* a=control and a=fmtp at and over their sizes */
	char *big = malloc(CU_SDP_FMTP_MAX + 128);
	assert_non_null(big);
	int n = snprintf(big, 64, "m=video 0 RTP/AVP 96\r\na=control:");
	memset(big + n, 'u', CU_SDP_URL_MAX - 1);
	memcpy(big + n + CU_SDP_URL_MAX - 1, "\r\n", 3);
	assert_int_equal(sdp_try(big), 0);
	memset(big + n, 'u', CU_SDP_URL_MAX);
	memcpy(big + n + CU_SDP_URL_MAX, "\r\n", 3);
	assert_int_equal(sdp_try(big), CU_ERR_LIMIT);
	n = snprintf(big, 64, "m=video 0 RTP/AVP 96\r\na=fmtp:96 ");
	memset(big + n, 'f', CU_SDP_FMTP_MAX - 1);
	memcpy(big + n + CU_SDP_FMTP_MAX - 1, "\r\n", 3);
	assert_int_equal(sdp_try(big), 0);
	memset(big + n, 'f', CU_SDP_FMTP_MAX);
	memcpy(big + n + CU_SDP_FMTP_MAX, "\r\n", 3);
	assert_int_equal(sdp_try(big), CU_ERR_LIMIT);
	free(big);

	/* the whole text */
	char *huge = malloc(CU_SDP_MAX + 1);
	assert_non_null(huge);
	memcpy(huge, "v=0\n", 4);
	memset(huge + 4, '\n', CU_SDP_MAX - 3);
	assert_int_equal(cu_sdp_parse(huge, CU_SDP_MAX, &sdp), 0);
	assert_int_equal(cu_sdp_parse(huge, CU_SDP_MAX + 1, &sdp), CU_ERR_LIMIT);
	free(huge);

	/* parameter sets that are not base64, or not parameter sets */
	const char *ps_bad[] = {
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=Z2Q!,aO8EcsA=\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=Z2QADay0,,aO8EcsA=\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=ZYiA\r\n",
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=fmtp:96 sprop-vps=QgEBAWAA\r\n",
	};
	for (size_t i = 0; i < sizeof(ps_bad) / sizeof(ps_bad[0]); i++) {
		char text[512];
		n = snprintf(text, sizeof(text), "v=0\r\n%s", ps_bad[i]);
		assert_int_equal(cu_sdp_parse(text, (size_t)n, &sdp), 0);
		uint8_t out[CU_PARAM_SETS_MAX];
		size_t out_len = 12345;
		assert_int_equal(cu_sdp_param_sets(&sdp.media[0], out, sizeof(out), &out_len),
		                 CU_ERR_FORMAT);
		assert_int_equal(out_len, 12345); /* written only on success */
	}
}

/* ---- RTP and RTCP ---- */

static void
test_rtp_parse(void **state)
{
	(void)state;
	/* V=2 P=1 X=1 CC=2, M=1 PT=96, two CSRCs, a 2-word extension, 4
	 * payload bytes, 3 bytes of padding */
	uint8_t p[] = {
		0xb2, 0xe0, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef,
		0, 0, 0, 1, 0, 0, 0, 2,                            /* CSRCs */
		0xbe, 0xde, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7, 8,    /* extension */
		0xaa, 0xbb, 0xcc, 0xdd,                            /* payload */
		0, 0, 3,                                           /* padding */
	};
	struct cu_rtp r;
	assert_int_equal(cu_rtp_parse(p, sizeof(p), &r), 0);
	assert_int_equal(r.pt, 96);
	assert_true(r.marker);
	assert_int_equal(r.seq, 0xfffe);
	assert_int_equal(r.ts, 0x01020304);
	assert_int_equal(r.ssrc, 0xdeadbeef);
	assert_int_equal(r.payload_len, 4);
	assert_ptr_equal(r.payload, p + 32);

	/* padding that eats the whole payload is fine; one more byte is not */
	p[sizeof(p) - 1] = 7;
	assert_int_equal(cu_rtp_parse(p, sizeof(p), &r), 0);
	assert_int_equal(r.payload_len, 0);
	p[sizeof(p) - 1] = 8;
	assert_int_equal(cu_rtp_parse(p, sizeof(p), &r), CU_ERR_FORMAT);
	p[sizeof(p) - 1] = 0;
	assert_int_equal(cu_rtp_parse(p, sizeof(p), &r), CU_ERR_FORMAT);
	p[sizeof(p) - 1] = 3;

	/* extension longer than the packet; too many CSRCs; short; version */
	p[23] = 5;
	assert_int_equal(cu_rtp_parse(p, sizeof(p), &r), CU_ERR_FORMAT);
	p[23] = 2;
	uint8_t q[sizeof(p)];
	memcpy(q, p, sizeof(p));
	q[0] = 0x8f; /* 15 CSRCs = 60 bytes */
	assert_int_equal(cu_rtp_parse(q, sizeof(q), &r), CU_ERR_FORMAT);
	assert_int_equal(cu_rtp_parse(p, 11, &r), CU_ERR_FORMAT);
	assert_int_equal(cu_rtp_parse(p, 20, &r), CU_ERR_FORMAT); /* CSRCs but no extension */
	q[0] = 0x40;
	assert_int_equal(cu_rtp_parse(q, sizeof(q), &r), CU_ERR_FORMAT);
	/* the plainest packet: header only */
	uint8_t h[12] = {0x80, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
	assert_int_equal(cu_rtp_parse(h, sizeof(h), &r), 0);
	assert_int_equal(r.payload_len, 0);
	assert_false(r.marker);
	static uint8_t big[CU_RTP_PACKET_MAX + 1];
	memcpy(big, h, sizeof(h));
	assert_int_equal(cu_rtp_parse(big, CU_RTP_PACKET_MAX, &r), 0);
	assert_int_equal(cu_rtp_parse(big, CU_RTP_PACKET_MAX + 1, &r), CU_ERR_LIMIT);
}

static void
test_rtcp(void **state)
{
	(void)state;
	/* RR (one report block), SR (one report block), SDES (CNAME), as a
	 * camera's compound packet would be if it also received */
	uint8_t c[] = {
		/* RR: V=2 RC=1, PT 201, length 7 */
		0x81, 201, 0, 7, 0x11, 0x11, 0x11, 0x11,
		1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		/* SR: V=2 RC=1, PT 200, length 12 */
		0x81, 200, 0, 12, 0xca, 0xfe, 0xba, 0xbe,
		0xe9, 0x3c, 0x1a, 0x00, 0x80, 0x00, 0x00, 0x00, /* NTP */
		0x00, 0x01, 0x5f, 0x90,                         /* RTP time */
		0, 0, 0, 10, 0, 0, 0x10, 0,                     /* counts */
		5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		/* SDES: SC=1, PT 202, length 3: SSRC, CNAME "cam", END, pad */
		0x81, 202, 0, 3, 0xca, 0xfe, 0xba, 0xbe, 1, 3, 'c', 'a', 'm', 0, 0, 0,
	};
	uint32_t ssrc = 0, rtp = 0;
	uint64_t ntp = 0;
	assert_int_equal(cu_rtcp_sender_report(c, sizeof(c), &ssrc, &ntp, &rtp), 1);
	assert_int_equal(ssrc, 0xcafebabe);
	assert_true(ntp == UINT64_C(0xe93c1a0080000000));
	assert_int_equal(rtp, 90000);

	/* RR alone: no SR */
	assert_int_equal(cu_rtcp_sender_report(c, 32, &ssrc, &ntp, &rtp), 0);
	/* cut anywhere but at a packet boundary: malformed */
	for (size_t n = 1; n < sizeof(c); n++) {
		int r = cu_rtcp_sender_report(c, n, &ssrc, &ntp, &rtp);
		if (n == 32)
			assert_int_equal(r, 0);
		else if (n == 84)
			assert_int_equal(r, 1);
		else if (r != CU_ERR_FORMAT)
			fail_msg("compound cut at %zu gave %d", n, r);
	}
	/* an SR whose report count does not fit its length */
	uint8_t d[sizeof(c)];
	memcpy(d, c, sizeof(c));
	d[32] = 0x82;
	assert_int_equal(cu_rtcp_sender_report(d, sizeof(d), &ssrc, &ntp, &rtp), CU_ERR_FORMAT);
	/* padding on a packet that is not the last */
	memcpy(d, c, sizeof(c));
	d[0] = 0xa1;
	assert_int_equal(cu_rtcp_sender_report(d, sizeof(d), &ssrc, &ntp, &rtp), CU_ERR_FORMAT);
	/* padding on the last packet: counted inside its length */
	memcpy(d, c, sizeof(c));
	d[84] = 0xa1;
	d[sizeof(d) - 1] = 3;
	assert_int_equal(cu_rtcp_sender_report(d, sizeof(d), &ssrc, &ntp, &rtp), 1);
	d[sizeof(d) - 1] = 0;
	assert_int_equal(cu_rtcp_sender_report(d, sizeof(d), &ssrc, &ntp, &rtp), CU_ERR_FORMAT);
	/* wrong version; empty */
	memcpy(d, c, sizeof(c));
	d[32] = 0x41;
	assert_int_equal(cu_rtcp_sender_report(d, sizeof(d), &ssrc, &ntp, &rtp), CU_ERR_FORMAT);
	assert_int_equal(cu_rtcp_sender_report(c, 0, &ssrc, &ntp, &rtp), CU_ERR_FORMAT);
}

/* ---- depacketisers: round trips ---- */

static void
round_trip(int codec, const char *file, size_t frames, uint16_t seq0)
{
	struct stream *s = malloc(sizeof(*s));
	struct pkts *ps = malloc(sizeof(*ps));
	struct outs *o = calloc(1, sizeof(*o));
	assert_true(s && ps && o);
	stream_load(s, codec, file);
	assert_int_equal(s->naus, frames);
	for (size_t i = 0; i < s->naus; i++)
		assert_int_equal(s->aus[i].key, i % GOP == 0);
	packetise(ps, s, seq0, true, false);

	cu_depay *d = depay(codec, NULL, 0);
	run(d, ps, o);
	assert_int_equal(o->errors, 0);
	assert_int_equal(o->n, frames);
	for (size_t i = 0; i < frames; i++)
		assert_au(s, o, i, i, NULL, 0);
	struct cu_depay_stats st = stats(d);
	assert_int_equal(st.packets, ps->n);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.out_of_order, 0);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.dropped_aus, 0);
	cu_depay_free(d);

	/* the same without marker bits: each AU ends when the timestamp
	 * changes, so the last one is still waiting */
	outs_free(o);
	pkts_free(ps);
	packetise(ps, s, seq0, false, false);
	d = depay(codec, NULL, 0);
	run(d, ps, o);
	assert_int_equal(o->errors, 0);
	assert_int_equal(o->n, frames - 1);
	for (size_t i = 0; i + 1 < frames; i++)
		assert_au(s, o, i, i, NULL, 0);
	cu_depay_free(d);

	outs_free(o);
	pkts_free(ps);
	free(s->file);
	free(s);
	free(ps);
	free(o);
}

static void
test_h264_round_trip(void **state)
{
	(void)state;
	round_trip(CU_CODEC_H264, "h264.h264", H264_FRAMES, 1000);
}

static void
test_h265_round_trip(void **state)
{
	(void)state;
	round_trip(CU_CODEC_H265, "h265.h265", H265_FRAMES, 1000);
}

/* The stream has more than 100 packets: starting at 65500 wraps to 0. */
static void
test_h264_seq_wrap(void **state)
{
	(void)state;
	round_trip(CU_CODEC_H264, "h264.h264", H264_FRAMES, 65500);
}

static void
test_h265_seq_wrap(void **state)
{
	(void)state;
	round_trip(CU_CODEC_H265, "h265.h265", H265_FRAMES, 65530);
}

/* Packet forms: each kind is used by the stream round trip; check that it
 * did use them, so the round trip proves what it claims. */
static void
packet_kinds(int codec, const char *file, size_t *single, size_t *agg, size_t *frag)
{
	struct stream *s = malloc(sizeof(*s));
	struct pkts *ps = malloc(sizeof(*ps));
	assert_true(s && ps);
	stream_load(s, codec, file);
	packetise(ps, s, 0, true, false);
	*single = *agg = *frag = 0;
	for (size_t i = 0; i < ps->n; i++) {
		int t = type_of(codec, ps->v[i].data + 12);
		if (t == (codec == CU_CODEC_H264 ? 24 : 48))
			(*agg)++;
		else if (t == (codec == CU_CODEC_H264 ? 28 : 49))
			(*frag)++;
		else
			(*single)++;
	}
	pkts_free(ps);
	free(s->file);
	free(s);
	free(ps);
}

static void
test_packet_kinds(void **state)
{
	(void)state;
	size_t single, agg, frag;
	packet_kinds(CU_CODEC_H264, "h264.h264", &single, &agg, &frag);
	assert_int_equal(agg, 2);     /* SPS+PPS at each of the two IDRs */
	assert_true(frag >= 6);       /* the SEI is 622 bytes, the IDRs ~2700 */
	assert_true(single >= 40);
	packet_kinds(CU_CODEC_H265, "h265.h265", &single, &agg, &frag);
	assert_int_equal(agg, 2);     /* VPS+SPS+PPS */
	assert_true(frag >= 8);
	assert_true(single >= 40);
}

/* A packet lost inside a fragmented NAL unit drops that AU and all after it
 * until the next key frame. */
static void
loss_in_fu(int codec, const char *file)
{
	struct stream *s = malloc(sizeof(*s));
	struct pkts *ps = malloc(sizeof(*ps));
	struct outs *o = calloc(1, sizeof(*o));
	assert_true(s && ps && o);
	stream_load(s, codec, file);
	packetise(ps, s, 40000, true, false);
	/* the first AU (the IDR) is several FU packets: lose one of the IDR
	 * slice's fragments after its first; then AUs 0..24 must all be dropped */
	size_t count, first = first_packet_of(ps, 0, &count);
	size_t victim = SIZE_MAX;
	for (size_t k = first; k < first + count; k++) {
		const uint8_t *pl = ps->v[k].data + 12;
		size_t fu_hdr = codec == CU_CODEC_H264 ? 1 : 2;
		int t = type_of(codec, pl);
		if (t == (codec == CU_CODEC_H264 ? 28 : 49) && (pl[fu_hdr] & 0x80) == 0 &&
		    is_key(codec, pl[fu_hdr] & (codec == CU_CODEC_H264 ? 0x1f : 0x3f))) {
			victim = k;
			break;
		}
	}
	assert_true(victim != SIZE_MAX);
	pkts_remove(ps, victim);
	/* and lose AU 30's last packet (the one with the marker): AU 30 is
	 * incomplete (if it had other packets, it is seen and dropped), AU 31
	 * may have lost its start, AUs 32..49 are not key frames */
	first = first_packet_of(ps, 30, &count);
	pkts_remove(ps, first + count - 1);
	size_t seen30 = count > 1 ? 1 : 0;

	cu_depay *d = depay(codec, NULL, 0);
	run(d, ps, o);
	assert_int_equal(o->errors, 0);
	assert_int_equal(o->n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_au(s, o, i, 25 + i, NULL, 0);
	struct cu_depay_stats st = stats(d);
	assert_int_equal(st.lost, 2);
	assert_int_equal(st.out_of_order, 0);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.dropped_aus, 25 + seen30 + 19);
	cu_depay_free(d);
	outs_free(o);
	pkts_free(ps);
	free(s->file);
	free(s);
	free(ps);
	free(o);
}

static void
test_h264_loss(void **state)
{
	(void)state;
	loss_in_fu(CU_CODEC_H264, "h264.h264");
}

static void
test_h265_loss(void **state)
{
	(void)state;
	loss_in_fu(CU_CODEC_H265, "h265.h265");
}

/* A duplicated packet and a reordered pair. */
static void
dup_and_reorder(int codec, const char *file)
{
	struct stream *s = malloc(sizeof(*s));
	struct pkts *ps = malloc(sizeof(*ps));
	struct outs *o = calloc(1, sizeof(*o));
	assert_true(s && ps && o);
	stream_load(s, codec, file);
	packetise(ps, s, 65535 - 3, true, false);
	size_t count, first = first_packet_of(ps, 3, &count);
	pkts_duplicate(ps, first);          /* AU 3's first packet, twice */
	pkts_duplicate(ps, 0);              /* the very first packet, twice */

	cu_depay *d = depay(codec, NULL, 0);
	run(d, ps, o);
	assert_int_equal(o->errors, 0);
	assert_int_equal(o->n, s->naus);
	for (size_t i = 0; i < s->naus; i++)
		assert_au(s, o, i, i, NULL, 0);
	struct cu_depay_stats st = stats(d);
	assert_int_equal(st.out_of_order, 2);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.dropped_aus, 0);
	cu_depay_free(d);
	outs_free(o);

	/* swap the last packet of AU 26 and the first of AU 27: the early one
	 * is a gap (AU 26 incomplete, AU 27 may be, wait for a key frame), the
	 * late one is dropped; AUs 0..25 come out */
	pkts_free(ps);
	packetise(ps, s, 0, true, false);
	first = first_packet_of(ps, 27, &count);
	struct pkt tmp = ps->v[first];
	ps->v[first] = ps->v[first - 1];
	ps->v[first - 1] = tmp;
	d = depay(codec, NULL, 0);
	run(d, ps, o);
	assert_int_equal(o->n, 26);
	for (size_t i = 0; i < 26; i++)
		assert_au(s, o, i, i, NULL, 0);
	st = stats(d);
	assert_int_equal(st.lost, 1);
	assert_int_equal(st.out_of_order, 1);
	cu_depay_free(d);
	outs_free(o);
	pkts_free(ps);
	free(s->file);
	free(s);
	free(ps);
	free(o);
}

static void
test_h264_dup_reorder(void **state)
{
	(void)state;
	dup_and_reorder(CU_CODEC_H264, "h264.h264");
}

static void
test_h265_dup_reorder(void **state)
{
	(void)state;
	dup_and_reorder(CU_CODEC_H265, "h265.h265");
}

/* With the parameter sets taken out of the stream and given as the SDP's,
 * each key frame comes out with them in front; other AUs are unchanged. */
static void
param_sets_inserted(int codec, const char *file)
{
	struct stream *s = malloc(sizeof(*s));
	struct pkts *ps = malloc(sizeof(*ps));
	struct outs *o = calloc(1, sizeof(*o));
	assert_true(s && ps && o);
	stream_load(s, codec, file);
	uint8_t sets[CU_PARAM_SETS_MAX];
	size_t sets_len = stream_param_sets(s, sets);
	assert_true(sets_len > 0);
	packetise(ps, s, 7, true, true);
	cu_depay *d = depay(codec, sets, sets_len);
	run(d, ps, o);
	assert_int_equal(o->errors, 0);
	assert_int_equal(o->n, s->naus);
	for (size_t i = 0; i < s->naus; i++)
		assert_au(s, o, i, i, sets, sets_len);
	cu_depay_free(d);
	outs_free(o);

	/* a stream that carries its own: nothing added */
	pkts_free(ps);
	packetise(ps, s, 7, true, false);
	d = depay(codec, sets, sets_len);
	run(d, ps, o);
	assert_int_equal(o->n, s->naus);
	for (size_t i = 0; i < s->naus; i++)
		assert_au(s, o, i, i, NULL, 0);
	cu_depay_free(d);
	outs_free(o);

	/* joining mid-stream: the first AU out is the next key frame */
	pkts_free(ps);
	packetise(ps, s, 7, true, false);
	size_t count, first = first_packet_of(ps, 5, &count);
	d = depay(codec, NULL, 0);
	for (size_t k = first; k < ps->n; k++)
		(void)push_one(d, &ps->v[k], o);
	assert_int_equal(o->n, s->naus - 25);
	assert_true(o->v[0].key);
	assert_au(s, o, 0, 25, NULL, 0);
	assert_int_equal(stats(d).dropped_aus, 20);
	cu_depay_free(d);
	outs_free(o);

	pkts_free(ps);
	free(s->file);
	free(s);
	free(ps);
	free(o);
}

static void
test_h264_param_sets(void **state)
{
	(void)state;
	param_sets_inserted(CU_CODEC_H264, "h264.h264");
}

static void
test_h265_param_sets(void **state)
{
	(void)state;
	param_sets_inserted(CU_CODEC_H265, "h265.h265");
}

/* ---- depacketisers: hand-made packets ---- */

struct feed {
	cu_depay *d;
	uint16_t seq;
	struct cu_au au;
	int r;
};

static int
feed(struct feed *f, uint32_t ts, bool marker, const uint8_t *pl, size_t n)
{
	struct cu_rtp p = {.pt = 96, .marker = marker, .seq = f->seq++, .ts = ts, .ssrc = SSRC,
	                   .payload = pl, .payload_len = n};
	f->r = cu_depay_push(f->d, &p, &f->au);
	return f->r;
}

#define IDR264 0x65, 0x88, 0x84, 0x21
#define P264 0x41, 0x9a, 0x02, 0x03
#define SPS264 0x67, 0x64, 0x00, 0x0d
#define PPS264 0x68, 0xef, 0x04

static void
test_h264_hand_made(void **state)
{
	(void)state;
	struct feed f = {.d = depay(CU_CODEC_H264, NULL, 0), .seq = 10};
	const uint8_t idr[] = {IDR264}, p1[] = {P264};
	/* waiting for a key frame: a P frame alone is dropped */
	assert_int_equal(feed(&f, 0, true, p1, sizeof(p1)), 0);
	/* STAP-A with SPS and PPS, then the IDR with the marker */
	const uint8_t stap[] = {0x78, 0, 4, SPS264, 0, 3, PPS264};
	assert_int_equal(feed(&f, 100, false, stap, sizeof(stap)), 0);
	assert_int_equal(feed(&f, 100, true, idr, sizeof(idr)), 1);
	const uint8_t want1[] = {0, 0, 0, 1, SPS264, 0, 0, 0, 1, PPS264, 0, 0, 0, 1, IDR264};
	assert_int_equal(f.au.len, sizeof(want1));
	assert_memory_equal(f.au.data, want1, sizeof(want1));
	assert_true(f.au.key);
	assert_int_equal(f.au.rtp_ts, 100);

	/* FU-A across three packets */
	const uint8_t fu1[] = {0x5c, 0x81, 0x9a, 1, 2}, fu2[] = {0x5c, 0x01, 3, 4},
	              fu3[] = {0x5c, 0x41, 5};
	assert_int_equal(feed(&f, 200, false, fu1, sizeof(fu1)), 0);
	assert_int_equal(feed(&f, 200, false, fu2, sizeof(fu2)), 0);
	assert_int_equal(feed(&f, 200, true, fu3, sizeof(fu3)), 1);
	const uint8_t want2[] = {0, 0, 0, 1, 0x41, 0x9a, 1, 2, 3, 4, 5};
	assert_int_equal(f.au.len, sizeof(want2));
	assert_memory_equal(f.au.data, want2, sizeof(want2));
	assert_false(f.au.key);

	/* no marker: AU 300 ends when 400 starts; AU 400 (one packet, with
	 * marker) is then also complete and comes out on the next push */
	assert_int_equal(feed(&f, 300, false, p1, sizeof(p1)), 0);
	assert_int_equal(feed(&f, 400, true, p1, sizeof(p1)), 1);
	assert_int_equal(f.au.rtp_ts, 300);
	assert_int_equal(feed(&f, 500, true, p1, sizeof(p1)), 1);
	assert_int_equal(f.au.rtp_ts, 400);
	assert_int_equal(feed(&f, 600, true, p1, sizeof(p1)), 1);
	assert_int_equal(f.au.rtp_ts, 500);
	/* the one kept for later is handed out even if this packet is late */
	f.seq--;
	assert_int_equal(feed(&f, 600, true, p1, sizeof(p1)), 1);
	assert_int_equal(f.au.rtp_ts, 600);
	assert_int_equal(stats(f.d).out_of_order, 1);

	/* malformed packets: counted, refused, and the stream waits for a key */
	const uint8_t fu_mid[] = {0x5c, 0x01, 3}, fu_se[] = {0x5c, 0xc1, 3}, fu_short[] = {0x5c},
	              stap_bad[] = {0x78, 0, 9, 0x41}, stap_zero[] = {0x78, 0, 0},
	              stap_nested[] = {0x78, 0, 2, 0x78, 0}, forbidden[] = {0xc1, 0},
	              type0[] = {0x00, 1}, type30[] = {0x1e, 1}, stap_b[] = {0x19, 0, 0},
	              fu_b[] = {0x1d, 0x81, 0}, fu_type0[] = {0x5c, 0x80, 1};
	const struct {
		const uint8_t *p;
		size_t n;
		int err;
	} bad[] = {
		{fu_mid, sizeof(fu_mid), CU_ERR_FORMAT}, {fu_se, sizeof(fu_se), CU_ERR_FORMAT},
		{fu_short, sizeof(fu_short), CU_ERR_FORMAT}, {stap_bad, sizeof(stap_bad), CU_ERR_FORMAT},
		{stap_zero, sizeof(stap_zero), CU_ERR_FORMAT},
		{stap_nested, sizeof(stap_nested), CU_ERR_FORMAT},
		{forbidden, sizeof(forbidden), CU_ERR_FORMAT}, {type0, sizeof(type0), CU_ERR_FORMAT},
		{type30, sizeof(type30), CU_ERR_FORMAT}, {stap_b, sizeof(stap_b), CU_ERR_UNSUPPORTED},
		{fu_b, sizeof(fu_b), CU_ERR_UNSUPPORTED}, {fu_type0, sizeof(fu_type0), CU_ERR_FORMAT},
		{NULL, 0, CU_ERR_FORMAT},
	};
	uint32_t ts = 1000;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = feed(&f, ts, true, bad[i].p, bad[i].n);
		if (r != bad[i].err)
			fail_msg("bad[%zu] gave %d", i, r);
		ts += 100;
	}
	assert_int_equal(stats(f.d).malformed, sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(feed(&f, ts, true, p1, sizeof(p1)), 0); /* not a key frame */
	ts += 100;
	/* an FU that never ends before the marker drops its AU */
	const uint8_t fu_idr[] = {0x7c, 0x85, 0x88, 1};
	assert_int_equal(feed(&f, ts, true, fu_idr, sizeof(fu_idr)), 0);
	ts += 100;
	/* an FU start interrupted by a single NAL is malformed */
	assert_int_equal(feed(&f, ts, false, fu_idr, sizeof(fu_idr)), 0);
	assert_int_equal(feed(&f, ts, true, idr, sizeof(idr)), CU_ERR_FORMAT);
	ts += 100;
	/* the key frame restores the stream */
	assert_int_equal(feed(&f, ts, true, idr, sizeof(idr)), 1);
	assert_true(f.au.key);
	assert_int_equal(f.au.len, 4 + sizeof(idr));

	/* a new SSRC is a new stream: wait for a key frame again */
	struct cu_rtp p = {.marker = true, .seq = 5, .ts = 1, .ssrc = 99, .payload = p1,
	                   .payload_len = sizeof(p1)};
	assert_int_equal(cu_depay_push(f.d, &p, &f.au), 0);
	p.seq = 6;
	p.ts = 2;
	p.payload = idr;
	p.payload_len = sizeof(idr);
	assert_int_equal(cu_depay_push(f.d, &p, &f.au), 1);
	/* a jump forward is loss: the AU of that packet may miss its start */
	uint64_t lost = stats(f.d).lost;
	p.seq = 5000;
	p.ts = 3;
	assert_int_equal(cu_depay_push(f.d, &p, &f.au), 0);
	assert_int_equal(stats(f.d).lost, lost + 5000 - 7);
	p.seq = 5001;
	p.ts = 4;
	assert_int_equal(cu_depay_push(f.d, &p, &f.au), 1);
	/* a jump far back: one stray packet is dropped, two in a row are a
	 * restart of the numbering (again waiting for a key frame) */
	uint64_t ooo = stats(f.d).out_of_order;
	p.seq = 100;
	p.ts = 5;
	assert_int_equal(cu_depay_push(f.d, &p, &f.au), 0);
	assert_int_equal(stats(f.d).out_of_order, ooo + 1);
	p.seq = 101;
	p.ts = 6;
	p.payload = p1;
	assert_int_equal(cu_depay_push(f.d, &p, &f.au), 0);
	p.seq = 102;
	p.ts = 7;
	p.payload = idr;
	assert_int_equal(cu_depay_push(f.d, &p, &f.au), 1);
	assert_int_equal(f.au.rtp_ts, 7);
	cu_depay_free(f.d);

	/* parameter sets go after a leading access unit delimiter */
	const uint8_t ps[] = {0, 0, 0, 1, SPS264, 0, 0, 0, 1, PPS264};
	struct feed g = {.d = depay(CU_CODEC_H264, ps, sizeof(ps)), .seq = 0};
	const uint8_t aud_idr[] = {0x78, 0, 2, 0x09, 0xf0, 0, 4, IDR264};
	assert_int_equal(feed(&g, 0, true, aud_idr, sizeof(aud_idr)), 1);
	const uint8_t want3[] = {0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, SPS264, 0, 0, 0, 1, PPS264,
	                         0, 0, 0, 1, IDR264};
	assert_int_equal(g.au.len, sizeof(want3));
	assert_memory_equal(g.au.data, want3, sizeof(want3));
	cu_depay_free(g.d);
}

/* More than CU_AU_NALS_MAX NAL units, or more than CU_FRAME_MAX bytes: the
 * AU is dropped and counted, and the next key frame restores the stream. */
static void
test_depay_limits(void **state)
{
	(void)state;
	struct feed f = {.d = depay(CU_CODEC_H264, NULL, 0), .seq = 0};
	const uint8_t idr[] = {IDR264};
	for (int i = 0; i < CU_AU_NALS_MAX - 1; i++)
		assert_int_equal(feed(&f, 0, false, idr, sizeof(idr)), 0);
	assert_int_equal(feed(&f, 0, true, idr, sizeof(idr)), 1);
	assert_int_equal(f.au.len, CU_AU_NALS_MAX * (4 + sizeof(idr)));
	for (int i = 0; i < CU_AU_NALS_MAX; i++)
		assert_int_equal(feed(&f, 2, false, idr, sizeof(idr)), 0);
	assert_int_equal(feed(&f, 2, true, idr, sizeof(idr)), 0);
	assert_int_equal(stats(f.d).dropped_aus, 1);
	assert_int_equal(feed(&f, 4, true, idr, sizeof(idr)), 1);

	/* bytes: FU-A fragments of 60000 bytes, up to one over CU_FRAME_MAX */
	size_t chunk = 60000;
	uint8_t *fu = calloc(1, chunk + 3);
	assert_non_null(fu);
	fu[0] = 0x7c;
	fu[1] = 0x85;
	fu[2] = 0x88;
	/* 4 + 1 (start code, header) + n * chunk + last = CU_FRAME_MAX exactly */
	size_t total = 5, n = 0;
	assert_int_equal(feed(&f, 5, false, fu, chunk + 2), 0);
	total += chunk;
	fu[1] = 0x05;
	while (total + chunk < CU_FRAME_MAX) {
		assert_int_equal(feed(&f, 5, false, fu, chunk + 2), 0);
		total += chunk;
		n++;
	}
	size_t last = CU_FRAME_MAX - total;
	fu[1] = 0x45;
	assert_int_equal(feed(&f, 5, true, fu, last + 2), 1);
	assert_int_equal(f.au.len, CU_FRAME_MAX);
	/* the same plus one byte */
	fu[1] = 0x85;
	assert_int_equal(feed(&f, 6, false, fu, chunk + 2), 0);
	fu[1] = 0x05;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(feed(&f, 6, false, fu, chunk + 2), 0);
	fu[1] = 0x45;
	assert_int_equal(feed(&f, 6, true, fu, last + 3), 0);
	assert_int_equal(stats(f.d).dropped_aus, 2);
	/* parameter sets that would push a key frame of exactly CU_FRAME_MAX over */
	cu_depay_free(f.d);
	const uint8_t ps[] = {0, 0, 0, 1, SPS264};
	f.d = depay(CU_CODEC_H264, ps, sizeof(ps));
	fu[1] = 0x85;
	assert_int_equal(feed(&f, 7, false, fu, chunk + 2), 0);
	fu[1] = 0x05;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(feed(&f, 7, false, fu, chunk + 2), 0);
	fu[1] = 0x45;
	assert_int_equal(feed(&f, 7, true, fu, last + 2), 0);
	assert_int_equal(stats(f.d).dropped_aus, 1);
	free(fu);
	cu_depay_free(f.d);

	cu_depay *d;
	assert_int_equal(cu_depay_new(CU_CODEC_MJPEG, NULL, 0, NULL, &d), CU_ERR_UNSUPPORTED);
	assert_int_equal(cu_depay_new(99, NULL, 0, NULL, &d), CU_ERR_UNSUPPORTED);
	static uint8_t big[CU_PARAM_SETS_MAX + 1];
	assert_int_equal(cu_depay_new(CU_CODEC_H264, big, sizeof(big), NULL, &d), CU_ERR_LIMIT);
	cu_depay_free(NULL);
}

#define IDR265 0x26, 0x01, 0xaf, 0x11
#define P265 0x02, 0x01, 0xd0, 0x22
#define VPS265 0x40, 0x01, 0x0c
#define SPS265 0x42, 0x01, 0x01
#define PPS265 0x44, 0x01, 0xc1

static void
test_h265_hand_made(void **state)
{
	(void)state;
	const uint8_t ps[] = {0, 0, 0, 1, VPS265, 0, 0, 0, 1, SPS265, 0, 0, 0, 1, PPS265};
	struct feed f = {.d = depay(CU_CODEC_H265, ps, sizeof(ps)), .seq = 65534};
	const uint8_t idr[] = {IDR265}, p1[] = {P265};
	assert_int_equal(feed(&f, 0, true, p1, sizeof(p1)), 0);
	/* FU of an IDR_W_RADL (19) across three packets, wrapping 65535 -> 0 */
	const uint8_t fu1[] = {0x62, 0x01, 0x93, 0xaf, 1}, fu2[] = {0x62, 0x01, 0x13, 2},
	              fu3[] = {0x62, 0x01, 0x53, 3};
	assert_int_equal(feed(&f, 90, false, fu1, sizeof(fu1)), 0);
	assert_int_equal(feed(&f, 90, false, fu2, sizeof(fu2)), 0);
	assert_int_equal(feed(&f, 90, true, fu3, sizeof(fu3)), 1);
	assert_int_equal(f.seq, 2);
	const uint8_t want1[] = {0, 0, 0, 1, VPS265, 0, 0, 0, 1, SPS265, 0, 0, 0, 1, PPS265,
	                         0, 0, 0, 1, 0x26, 0x01, 0xaf, 1, 2, 3};
	assert_int_equal(f.au.len, sizeof(want1));
	assert_memory_equal(f.au.data, want1, sizeof(want1));
	assert_true(f.au.key);

	/* AP with its own VPS/SPS/PPS then the IDR: nothing inserted */
	const uint8_t ap[] = {0x60, 0x01, 0, 3, VPS265, 0, 3, SPS265, 0, 3, PPS265, 0, 4, IDR265};
	assert_int_equal(feed(&f, 180, true, ap, sizeof(ap)), 1);
	const uint8_t want2[] = {0, 0, 0, 1, VPS265, 0, 0, 0, 1, SPS265, 0, 0, 0, 1, PPS265,
	                         0, 0, 0, 1, IDR265};
	assert_int_equal(f.au.len, sizeof(want2));
	assert_memory_equal(f.au.data, want2, sizeof(want2));
	assert_true(f.au.key);

	/* each IRAP type 16..21 is a key frame; 22 is not */
	for (int t = 16; t <= 22; t++) {
		uint8_t n[] = {(uint8_t)(t << 1), 0x01, 0xaf};
		int r = feed(&f, 200 + (uint32_t)t, true, n, sizeof(n));
		if (t <= 21) {
			assert_int_equal(r, 1);
			assert_true(f.au.key);
		} else {
			assert_int_equal(r, 1);
			assert_false(f.au.key);
		}
	}

	/* malformed: FU continuation without start, start+end, tid 0, F bit,
	 * FU of an AP, AP unit shorter than a header, PACI, type 55 */
	const uint8_t fu_mid[] = {0x62, 0x01, 0x13, 2}, fu_se[] = {0x62, 0x01, 0xd3, 2},
	              tid0[] = {0x02, 0x00, 1}, fbit[] = {0x82, 0x01, 1},
	              fu_ap[] = {0x62, 0x01, 0xb0, 1}, ap_short[] = {0x60, 0x01, 0, 1, 0x02},
	              ap_cut[] = {0x60, 0x01, 0, 9, 0x02, 0x01}, paci[] = {0x64, 0x01, 0, 0},
	              t55[] = {0x6e, 0x01, 0}, one[] = {0x02};
	const struct {
		const uint8_t *p;
		size_t n;
		int err;
	} bad[] = {
		{fu_mid, sizeof(fu_mid), CU_ERR_FORMAT}, {fu_se, sizeof(fu_se), CU_ERR_FORMAT},
		{tid0, sizeof(tid0), CU_ERR_FORMAT}, {fbit, sizeof(fbit), CU_ERR_FORMAT},
		{fu_ap, sizeof(fu_ap), CU_ERR_FORMAT}, {ap_short, sizeof(ap_short), CU_ERR_FORMAT},
		{ap_cut, sizeof(ap_cut), CU_ERR_FORMAT}, {paci, sizeof(paci), CU_ERR_UNSUPPORTED},
		{t55, sizeof(t55), CU_ERR_FORMAT}, {one, sizeof(one), CU_ERR_FORMAT},
	};
	uint32_t ts = 1000;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = feed(&f, ts, true, bad[i].p, bad[i].n);
		if (r != bad[i].err)
			fail_msg("bad[%zu] gave %d", i, r);
		ts += 100;
	}
	assert_int_equal(stats(f.d).malformed, sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(feed(&f, ts, true, p1, sizeof(p1)), 0);
	ts += 100;
	assert_int_equal(feed(&f, ts, true, idr, sizeof(idr)), 1);
	assert_true(f.au.key);
	assert_int_equal(f.au.len, sizeof(ps) + 4 + sizeof(idr));
	cu_depay_free(f.d);
}

/* ---- AAC ---- */

static void
assert_adts(const uint8_t *h, size_t frame_len)
{
	assert_int_equal(h[0], 0xff);
	assert_int_equal(h[1], 0xf1);
	assert_int_equal(h[2] >> 6, 1);          /* profile: AAC LC (object type 2) */
	assert_int_equal((h[2] >> 2) & 15, 3);   /* 48000 Hz */
	assert_int_equal((h[2] & 1) << 2 | h[3] >> 6, 1); /* mono */
	assert_int_equal((h[3] & 3) << 11 | h[4] << 3 | h[5] >> 5, frame_len);
}

static void
test_aac(void **state)
{
	(void)state;
	cu_depay *d = NULL;
	/* config 1188: object type 2 (LC), 48 kHz (index 3), 1 channel */
	assert_int_equal(cu_depay_new(CU_CODEC_AAC, NULL, 0, "1188", &d), 0);
	struct feed f = {.d = d, .seq = 0};

	/* one AU of 5 bytes */
	const uint8_t one[] = {0, 16, 0, 5 << 3, 1, 2, 3, 4, 5};
	assert_int_equal(feed(&f, 1024, true, one, sizeof(one)), 1);
	assert_int_equal(f.au.len, 12);
	assert_adts(f.au.data, 12);
	assert_memory_equal(f.au.data + 7, one + 4, 5);
	assert_true(f.au.key);
	assert_int_equal(f.au.rtp_ts, 1024);

	/* two AUs (3 and 2 bytes): two ADTS frames back to back */
	const uint8_t two[] = {0, 32, 0, 3 << 3, 0, 2 << 3, 1, 2, 3, 4, 5};
	assert_int_equal(feed(&f, 2048, true, two, sizeof(two)), 1);
	assert_int_equal(f.au.len, 10 + 9);
	assert_adts(f.au.data, 10);
	assert_memory_equal(f.au.data + 7, two + 6, 3);
	assert_adts(f.au.data + 10, 9);
	assert_memory_equal(f.au.data + 17, two + 9, 2);

	/* one AU of 6 bytes in two fragments */
	const uint8_t fr1[] = {0, 16, 0, 6 << 3, 1, 2, 3, 4}, fr2[] = {0, 16, 0, 6 << 3, 5, 6};
	assert_int_equal(feed(&f, 3072, false, fr1, sizeof(fr1)), 0);
	assert_int_equal(feed(&f, 3072, true, fr2, sizeof(fr2)), 1);
	assert_int_equal(f.au.len, 13);
	assert_adts(f.au.data, 13);
	assert_memory_equal(f.au.data + 7, "\1\2\3\4\5\6", 6);

	/* a lost first fragment: the rest of that AU is skipped, the next is fine */
	f.seq++;
	assert_int_equal(feed(&f, 4096, true, fr2, sizeof(fr2)), 0);
	assert_int_equal(feed(&f, 5120, true, one, sizeof(one)), 1);
	/* a lost last fragment: the AU is dropped when the next one starts */
	assert_int_equal(feed(&f, 6144, false, fr1, sizeof(fr1)), 0);
	f.seq++;
	assert_int_equal(feed(&f, 7168, true, one, sizeof(one)), 1);
	assert_int_equal(f.au.rtp_ts, 7168);
	struct cu_depay_stats st = stats(d);
	assert_int_equal(st.lost, 2);
	assert_int_equal(st.dropped_aus, 2);

	/* fragments that do not belong together: another AU size, more bytes
	 * than the AU, a last fragment (marker) short of the AU, a new
	 * timestamp before the AU is complete; each drops the AU */
	const uint8_t fr_other[] = {0, 16, 0, 7 << 3, 5, 6}, fr_long[] = {0, 16, 0, 6 << 3, 5, 6, 7};
	uint64_t dropped = stats(d).dropped_aus, bad_count = stats(d).malformed;
	assert_int_equal(feed(&f, 8192, false, fr1, sizeof(fr1)), 0);
	assert_int_equal(feed(&f, 8192, false, fr_other, sizeof(fr_other)), CU_ERR_FORMAT);
	assert_int_equal(feed(&f, 9216, false, fr1, sizeof(fr1)), 0);
	assert_int_equal(feed(&f, 9216, false, fr_long, sizeof(fr_long)), CU_ERR_FORMAT);
	assert_int_equal(feed(&f, 10240, false, fr1, sizeof(fr1)), 0);
	assert_int_equal(feed(&f, 10240, true, fr1 + 0, 5), CU_ERR_FORMAT);
	assert_int_equal(feed(&f, 11264, false, fr1, sizeof(fr1)), 0);
	assert_int_equal(feed(&f, 12288, true, one, sizeof(one)), 1); /* 11264 left unfinished */
	assert_int_equal(f.au.rtp_ts, 12288);
	assert_int_equal(stats(d).dropped_aus, dropped + 4);
	assert_int_equal(stats(d).malformed, bad_count + 4);
	/* a fragment start whose AU ADTS cannot frame: that AU is skipped */
	const uint8_t fr_big[] = {0, 16, 0xff, 0xc8, 1, 2}, fr_big2[] = {0, 16, 0xff, 0xc8, 3};
	assert_int_equal(feed(&f, 13312, false, fr_big, sizeof(fr_big)), CU_ERR_LIMIT);
	assert_int_equal(feed(&f, 13312, true, fr_big2, sizeof(fr_big2)), 0);
	assert_int_equal(feed(&f, 14336, true, one, sizeof(one)), 1);
	/* late packets are dropped */
	f.seq -= 2;
	assert_int_equal(feed(&f, 13312, true, one, sizeof(one)), 0);
	f.seq++;
	assert_int_equal(stats(d).out_of_order, 1);

	/* malformed */
	const uint8_t hl0[] = {0, 0, 1}, hl8[] = {0, 8, 0, 1}, cut[] = {0, 32, 0, 8},
	              sizes[] = {0, 16, 0, 5 << 3, 1, 2, 3, 4, 5, 6}, zero[] = {0, 16, 0, 0},
	              idx[] = {0, 16, 0, 5 << 3 | 1, 1, 2, 3, 4, 5}, frag_m[] = {0, 16, 0, 6 << 3, 1};
	const struct {
		const uint8_t *p;
		size_t n;
		int err;
	} bad[] = {
		{hl0, sizeof(hl0), CU_ERR_FORMAT}, {hl8, sizeof(hl8), CU_ERR_FORMAT},
		{cut, sizeof(cut), CU_ERR_FORMAT}, {sizes, sizeof(sizes), CU_ERR_FORMAT},
		{zero, sizeof(zero), CU_ERR_FORMAT}, {idx, sizeof(idx), CU_ERR_UNSUPPORTED},
		{frag_m, sizeof(frag_m), CU_ERR_FORMAT}, {hl0, 1, CU_ERR_FORMAT},
	};
	uint32_t ts = 10000;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = feed(&f, ts, true, bad[i].p, bad[i].n);
		if (r != bad[i].err)
			fail_msg("bad[%zu] gave %d", i, r);
		ts += 1024;
	}
	/* an AU too big for ADTS (8185 + 7 > 8191) */
	uint8_t *big = calloc(1, 4 + 8185);
	assert_non_null(big);
	big[1] = 16;
	big[2] = (uint8_t)(8185 >> 5);
	big[3] = (uint8_t)(8185 << 3);
	assert_int_equal(feed(&f, ts, true, big, 4 + 8185), CU_ERR_LIMIT);
	big[2] = (uint8_t)(8184 >> 5);
	big[3] = (uint8_t)(8184 << 3);
	assert_int_equal(feed(&f, ts + 1024, true, big, 4 + 8184), 1);
	assert_adts(f.au.data, 8191);
	free(big);
	cu_depay_free(d);

	/* configs */
	static const struct {
		const char *hex;
		int err;
	} cfg[] = {
		{"1190", 0},                 /* LC, 48 kHz, stereo */
		{"1210", 0},                 /* LC, 44.1 kHz, stereo */
		{"121056e500", 0},           /* with an SBR extension after it */
		{"0988", 0},                 /* object type 1 (Main), 48 kHz, mono */
		{"2b88", CU_ERR_UNSUPPORTED},/* object type 5 (HE-AAC) */
		{"f988", CU_ERR_UNSUPPORTED},/* object type 31: escape */
		{"1780", CU_ERR_UNSUPPORTED},/* frequency index 15: explicit */
		{"1680", CU_ERR_FORMAT},     /* frequency index 13: reserved */
		{"1180", CU_ERR_UNSUPPORTED},/* channel configuration 0 */
		{"11", CU_ERR_FORMAT}, {"118", CU_ERR_FORMAT}, {"11zz", CU_ERR_FORMAT},
		{"", CU_ERR_FORMAT}, {"0188", CU_ERR_FORMAT},   /* object type 0 */
	};
	for (size_t i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		d = NULL;
		int r = cu_depay_new(CU_CODEC_AAC, NULL, 0, cfg[i].hex, &d);
		if (r != cfg[i].err)
			fail_msg("config %s gave %d", cfg[i].hex, r);
		cu_depay_free(d);
	}
	assert_int_equal(cu_depay_new(CU_CODEC_AAC, NULL, 0, NULL, &d), CU_ERR_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response_complete),
		cmocka_unit_test(test_response_partial),
		cmocka_unit_test(test_response_bad),
		cmocka_unit_test(test_response_limits),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_sdp_camera),
		cmocka_unit_test(test_sdp_refusals),
		cmocka_unit_test(test_rtp_parse),
		cmocka_unit_test(test_rtcp),
		cmocka_unit_test(test_packet_kinds),
		cmocka_unit_test(test_h264_round_trip),
		cmocka_unit_test(test_h265_round_trip),
		cmocka_unit_test(test_h264_seq_wrap),
		cmocka_unit_test(test_h265_seq_wrap),
		cmocka_unit_test(test_h264_loss),
		cmocka_unit_test(test_h265_loss),
		cmocka_unit_test(test_h264_dup_reorder),
		cmocka_unit_test(test_h265_dup_reorder),
		cmocka_unit_test(test_h264_param_sets),
		cmocka_unit_test(test_h265_param_sets),
		cmocka_unit_test(test_h264_hand_made),
		cmocka_unit_test(test_h265_hand_made),
		cmocka_unit_test(test_depay_limits),
		cmocka_unit_test(test_aac),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
