/* SDP (RFC 8866), only what a recorder needs from a DESCRIBE answer: the
 * media sections (m=), their payload format (a=rtpmap, a=fmtp), and the
 * control URLs (a=control) at session and media level. v= must come first;
 * o=, s=, t=, c= and every other line are tolerated and not interpreted.
 * Every field is copied into a fixed-size member of struct cu_sdp, so a
 * field that does not fit is CU_ERR_LIMIT, never cut. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp/proto.h"
#include "custody/error.h"
#include "custody/parse.h"

#define PT_MAX 127
#define PORT_MAX 65535
#define CHANNELS_MAX 64          /* audio channels in a=rtpmap */
#define PT_JPEG 26               /* RFC 3551 static payload type */
#define JPEG_CLOCK 90000
#define NUM_MAX 16               /* characters of a number field we copy */
#define H264_NAL_SPS 7
#define H264_NAL_PPS 8
#define H264_NAL_SPS_EXT 13
#define H264_NAL_SUBSET_SPS 15
#define H265_NAL_VPS 32
#define H265_NAL_SPS 33
#define H265_NAL_PPS 34

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Case-insensitive (ASCII only) comparison of s[0..n) with the string t. */
static bool
ascii_caseeq_n(const char *s, size_t n, const char *t)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (t[i] == '\0' || ascii_lower((unsigned char)s[i]) != ascii_lower((unsigned char)t[i]))
			return false;
	return t[i] == '\0';
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Copies s[0..n) into dst[cap] as a string; CU_ERR_LIMIT when it does not fit. */
static int
copy_field(char *dst, size_t cap, const char *s, size_t n, const char *what)
{
	if (n >= cap)
		return cu_fail(CU_ERR_LIMIT, "SDP: %s is %zu bytes, at most %zu", what, n, cap - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* Parses the decimal number s[0..n) into a value <= max. */
static int
number(const char *s, size_t n, uint64_t max, const char *what, uint64_t *ret)
{
	char tmp[NUM_MAX + 1];
	if (n > NUM_MAX) {
		/* long runs of digits are over any limit here; anything else is junk */
		for (size_t i = 0; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				return cu_fail(CU_ERR_FORMAT, "SDP: %s is not a number", what);
		size_t z = 0;
		while (z < n && s[z] == '0')
			z++;
		if (n - z > NUM_MAX)
			return cu_fail(CU_ERR_LIMIT, "SDP: %s is over %llu", what, (unsigned long long)max);
		s += z;
		n -= z;
		if (n == 0) {
			*ret = 0;
			return 0;
		}
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	int e = cu_parse_u64(tmp, max, what, ret);
	return e < 0 ? cu_fail_prefix(e, "SDP") : 0;
}

/* Next space-separated word of [*p, end): sets *ret_w, *ret_n; false at the end. */
static bool
word(const char **p, const char *end, const char **ret_w, size_t *ret_n)
{
	const char *s = *p;
	while (s < end && is_space(*s))
		s++;
	if (s == end)
		return false;
	const char *w = s;
	while (s < end && !is_space(*s))
		s++;
	*ret_w = w;
	*ret_n = (size_t)(s - w);
	*p = s;
	return true;
}

static int
codec_of(const struct cu_sdp_media *m)
{
	size_t n = strlen(m->encoding);
	bool video = strcmp(m->type, "video") == 0, audio = strcmp(m->type, "audio") == 0;
	if (video && ascii_caseeq_n(m->encoding, n, "H264"))
		return CU_CODEC_H264;
	if (video && ascii_caseeq_n(m->encoding, n, "H265"))
		return CU_CODEC_H265;
	if (video && ascii_caseeq_n(m->encoding, n, "JPEG"))
		return CU_CODEC_MJPEG;
	if (audio && ascii_caseeq_n(m->encoding, n, "MPEG4-GENERIC"))
		return CU_CODEC_AAC;
	return 0;
}

/* m=<media> <port>[/<count>] <proto> <fmt> ... */
static int
parse_m(const char *v, const char *end, struct cu_sdp_media *m)
{
	const char *w, *p = v;
	size_t n;
	memset(m, 0, sizeof(*m));
	m->payload_type = -1;
	if (!word(&p, end, &w, &n))
		return cu_fail(CU_ERR_FORMAT, "SDP: m= line without a media type");
	int e = copy_field(m->type, sizeof(m->type), w, n, "media type");
	if (e < 0)
		return e;
	if (!word(&p, end, &w, &n))
		return cu_fail(CU_ERR_FORMAT, "SDP: m= line without a port");
	const char *slash = memchr(w, '/', n);
	uint64_t port, count;
	e = number(w, slash ? (size_t)(slash - w) : n, PORT_MAX, "m= port", &port);
	if (e < 0)
		return e;
	if (slash != NULL) {
		e = number(slash + 1, (size_t)(w + n - slash - 1), PORT_MAX, "m= port count", &count);
		if (e < 0)
			return e;
	}
	const char *proto;
	size_t proto_n;
	if (!word(&p, end, &proto, &proto_n))
		return cu_fail(CU_ERR_FORMAT, "SDP: m= line without a protocol");
	if (!word(&p, end, &w, &n))
		return cu_fail(CU_ERR_FORMAT, "SDP: m= line without a format");
	/* formats are RTP payload types only for RTP profiles; another kind of
	 * section (BFCP, T.38 over UDPTL, ...) is kept with payload_type -1 */
	bool rtp = proto_n >= 4 && memmem(proto, proto_n, "RTP/", 4) != NULL;
	if (rtp) {
		uint64_t pt;
		e = number(w, n, PT_MAX, "m= payload type", &pt);
		if (e < 0)
			return e;
		m->payload_type = (int)pt;
		if (pt == PT_JPEG) {
			m->codec = CU_CODEC_MJPEG;
			m->clock_rate = JPEG_CLOCK;
			memcpy(m->encoding, "JPEG", sizeof("JPEG"));
		}
	}
	return 0;
}

/* a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>] */
static int
parse_rtpmap(const char *v, const char *end, struct cu_sdp_media *m, bool *seen)
{
	const char *w, *p = v;
	size_t n;
	uint64_t pt;
	if (!word(&p, end, &w, &n))
		return cu_fail(CU_ERR_FORMAT, "SDP: empty a=rtpmap");
	int e = number(w, n, PT_MAX, "a=rtpmap payload type", &pt);
	if (e < 0)
		return e;
	if (!word(&p, end, &w, &n))
		return cu_fail(CU_ERR_FORMAT, "SDP: a=rtpmap without an encoding");
	const char *rest;
	size_t rest_n;
	if (word(&p, end, &rest, &rest_n))
		return cu_fail(CU_ERR_FORMAT, "SDP: junk after a=rtpmap encoding");
	if (m == NULL || (int)pt != m->payload_type)
		return 0; /* session level, or another format of the section */
	if (*seen)
		return cu_fail(CU_ERR_FORMAT, "SDP: two a=rtpmap for payload type %d", m->payload_type);
	*seen = true;

	const char *s1 = memchr(w, '/', n);
	if (s1 == NULL || s1 == w)
		return cu_fail(CU_ERR_FORMAT, "SDP: a=rtpmap is not encoding/clock-rate");
	size_t enc_n = (size_t)(s1 - w);
	char enc[sizeof(m->encoding)];
	e = copy_field(enc, sizeof(enc), w, enc_n, "a=rtpmap encoding name");
	if (e < 0)
		return e;
	const char *r = s1 + 1, *rend = w + n;
	const char *s2 = memchr(r, '/', (size_t)(rend - r));
	uint64_t clock, channels = 0;
	e = number(r, (size_t)((s2 ? s2 : rend) - r), UINT32_MAX, "a=rtpmap clock rate", &clock);
	if (e < 0)
		return e;
	if (clock == 0)
		return cu_fail(CU_ERR_FORMAT, "SDP: a=rtpmap clock rate 0");
	if (s2 != NULL) {
		e = number(s2 + 1, (size_t)(rend - s2 - 1), CHANNELS_MAX, "a=rtpmap channels", &channels);
		if (e < 0)
			return e;
		if (channels == 0)
			return cu_fail(CU_ERR_FORMAT, "SDP: a=rtpmap with 0 channels");
	}
	memcpy(m->encoding, enc, sizeof(enc));
	m->clock_rate = (uint32_t)clock;
	m->channels = (int)channels;
	m->codec = codec_of(m);
	return 0;
}

/* a=fmtp:<pt> <parameters> */
static int
parse_fmtp(const char *v, const char *end, struct cu_sdp_media *m, bool *seen)
{
	const char *w, *p = v;
	size_t n;
	uint64_t pt;
	if (!word(&p, end, &w, &n))
		return cu_fail(CU_ERR_FORMAT, "SDP: empty a=fmtp");
	int e = number(w, n, PT_MAX, "a=fmtp payload type", &pt);
	if (e < 0)
		return e;
	while (p < end && is_space(*p))
		p++;
	const char *pend = end;
	while (pend > p && is_space(pend[-1]))
		pend--;
	if (m == NULL || (int)pt != m->payload_type)
		return 0;
	if (*seen)
		return cu_fail(CU_ERR_FORMAT, "SDP: two a=fmtp for payload type %d", m->payload_type);
	*seen = true;
	return copy_field(m->fmtp, sizeof(m->fmtp), p, (size_t)(pend - p), "a=fmtp");
}

static int
parse_control(const char *v, const char *end, char *dst, bool *seen)
{
	while (v < end && is_space(*v))
		v++;
	while (end > v && is_space(end[-1]))
		end--;
	if (v == end)
		return cu_fail(CU_ERR_FORMAT, "SDP: empty a=control");
	if (*seen)
		return cu_fail(CU_ERR_FORMAT, "SDP: two a=control at the same level");
	*seen = true;
	return copy_field(dst, CU_SDP_URL_MAX, v, (size_t)(end - v), "a=control URL");
}

/* What has been seen at the current level, to refuse contradicting repeats. */
struct level {
	bool control, rtpmap, fmtp;
};

static int
parse_attribute(const char *v, const char *end, struct cu_sdp *s, struct level *lv)
{
	const char *colon = memchr(v, ':', (size_t)(end - v));
	size_t name_n = colon ? (size_t)(colon - v) : (size_t)(end - v);
	const char *val = colon ? colon + 1 : end;
	struct cu_sdp_media *m = s->nmedia > 0 ? &s->media[s->nmedia - 1] : NULL;
	bool has = colon != NULL;

	if (name_n == 6 && memcmp(v, "rtpmap", 6) == 0) {
		if (!has)
			return cu_fail(CU_ERR_FORMAT, "SDP: a=rtpmap without a value");
		return parse_rtpmap(val, end, m, &lv->rtpmap);
	}
	if (name_n == 4 && memcmp(v, "fmtp", 4) == 0) {
		if (!has)
			return cu_fail(CU_ERR_FORMAT, "SDP: a=fmtp without a value");
		return parse_fmtp(val, end, m, &lv->fmtp);
	}
	if (name_n == 7 && memcmp(v, "control", 7) == 0) {
		if (!has)
			return cu_fail(CU_ERR_FORMAT, "SDP: a=control without a value");
		return parse_control(val, end, m ? m->control : s->control, &lv->control);
	}
	return 0;
}

static int
parse_into(const char *text, size_t len, struct cu_sdp *s)
{
	const char *p = text, *end = text + len;
	bool have_v = false;
	struct level lv = {0};
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *next = lf ? lf + 1 : end;
		const char *le = lf ? lf : end;
		if (le > p && le[-1] == '\r')
			le--;
		for (const char *c = p; c < le; c++)
			if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
				return cu_fail(CU_ERR_FORMAT, "SDP: control character at offset %zu",
				               (size_t)(c - text));
		const char *line = p;
		p = next;
		if (le == line)
			continue; /* empty lines (a trailing one is common) carry nothing */
		if (le - line < 2 || line[0] < 'a' || line[0] > 'z' || line[1] != '=')
			return cu_fail(CU_ERR_FORMAT, "SDP: line at offset %zu is not <letter>=<value>",
			               (size_t)(line - text));
		const char *v = line + 2;
		if (!have_v) {
			if (line[0] != 'v' || le - v != 1 || v[0] != '0')
				return cu_fail(CU_ERR_FORMAT, "SDP: does not start with v=0");
			have_v = true;
			continue;
		}
		int e = 0;
		switch (line[0]) {
		case 'v':
			return cu_fail(CU_ERR_FORMAT, "SDP: a second v= line");
		case 'm':
			if (s->nmedia == CU_SDP_MEDIA_MAX)
				return cu_fail(CU_ERR_LIMIT, "SDP: more than %d media sections",
				               CU_SDP_MEDIA_MAX);
			e = parse_m(v, le, &s->media[s->nmedia]);
			s->nmedia++;
			memset(&lv, 0, sizeof(lv));
			break;
		case 'a':
			e = parse_attribute(v, le, s, &lv);
			break;
		default:
			break;
		}
		if (e < 0)
			return e;
	}
	if (!have_v)
		return cu_fail(CU_ERR_FORMAT, "SDP: empty");
	return 0;
}

/* Parses into a private copy, so *ret is written only on success. */
int
cu_sdp_parse(const char *text, size_t len, struct cu_sdp *ret)
{
	if (ret == NULL || (text == NULL && len > 0))
		return cu_fail(CU_ERR_INVAL, "SDP: no input");
	if (len > CU_SDP_MAX)
		return cu_fail(CU_ERR_LIMIT, "SDP: %zu bytes, at most %d", len, CU_SDP_MAX);
	struct cu_sdp *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cu_fail(CU_ERR_NOMEM, "SDP: out of memory");
	int e = parse_into(text, len, s);
	if (e == 0)
		memcpy(ret, s, sizeof(*s));
	free(s);
	return e;
}

/* fmtp is "name=value" parameters separated by ';' with optional spaces; a
 * value (trimmed) that does not fit buf[len] is CU_ERR_LIMIT, never cut. */
int
cu_sdp_fmtp_get(const struct cu_sdp_media *m, const char *name, char *buf, size_t len)
{
	if (m == NULL || name == NULL || buf == NULL || len == 0)
		return cu_fail(CU_ERR_INVAL, "SDP: fmtp lookup without a name or buffer");
	const char *f = m->fmtp;
	size_t flen = strnlen(f, sizeof(m->fmtp)), want = strlen(name);
	size_t i = 0;
	while (i < flen) {
		/* one parameter: f[i..pe), "name=value" or a bare name */
		size_t pe = i;
		while (pe < flen && f[pe] != ';')
			pe++;
		size_t k = i, eq;
		i = pe + 1;
		while (k < pe && is_space(f[k]))
			k++;
		for (eq = k; eq < pe && f[eq] != '='; eq++)
			;
		size_t ke = eq;
		while (ke > k && is_space(f[ke - 1]))
			ke--;
		if (ke - k != want || !ascii_caseeq_n(f + k, want, name))
			continue;
		size_t v = eq < pe ? eq + 1 : pe, ve = pe;
		while (v < ve && is_space(f[v]))
			v++;
		while (ve > v && is_space(f[ve - 1]))
			ve--;
		if (ve - v >= len)
			return cu_fail(CU_ERR_LIMIT, "SDP: fmtp %s is %zu bytes, room for %zu", name,
			               ve - v, len - 1);
		memcpy(buf, f + v, ve - v);
		buf[ve - v] = '\0';
		return 0;
	}
	return cu_fail(CU_ERR_NOTFOUND, "SDP: no fmtp parameter %s", name);
}

/* Is this NAL unit header one a parameter-set list may hold? */
static bool
param_nal_ok(int codec, int want_type, const uint8_t *nal, size_t n)
{
	if (codec == CU_CODEC_H264) {
		if (n < 2 || (nal[0] & 0x80) != 0)
			return false;
		int t = nal[0] & 0x1f;
		return t == H264_NAL_SPS || t == H264_NAL_PPS || t == H264_NAL_SPS_EXT ||
		       t == H264_NAL_SUBSET_SPS;
	}
	if (n < 3 || (nal[0] & 0x80) != 0 || (nal[1] & 0x07) == 0)
		return false;
	return ((nal[0] >> 1) & 0x3f) == want_type;
}

/* Decodes the comma-separated base64 list `name` (if present) and appends it
 * to out as Annex B. */
static int
append_sets(const struct cu_sdp_media *m, const char *name, int want_type, uint8_t *out,
            size_t cap, size_t *len)
{
	char *list = malloc(CU_SDP_FMTP_MAX);
	if (list == NULL)
		return cu_fail(CU_ERR_NOMEM, "SDP: out of memory");
	int e = cu_sdp_fmtp_get(m, name, list, CU_SDP_FMTP_MAX);
	if (e == CU_ERR_NOTFOUND) {
		e = 0;
		goto out;
	}
	if (e < 0)
		goto out;
	/* some cameras send "sprop-parameter-sets=" with nothing: no sets */
	const char *p = list, *end = list + strlen(list);
	if (p == end)
		goto out;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *iend = comma ? comma : end;
		if (cap - *len < 4) {
			e = cu_fail(CU_ERR_LIMIT, "SDP: %s over %zu bytes as Annex B", name, cap);
			goto out;
		}
		size_t got;
		e = cu_b64_decode(p, (size_t)(iend - p), CU_SPROP_B64, out + *len + 4, cap - *len - 4,
		                  &got);
		if (e < 0) {
			e = cu_fail_prefix(e, "SDP: %s", name);
			goto out;
		}
		if (!param_nal_ok(m->codec, want_type, out + *len + 4, got)) {
			e = cu_fail(CU_ERR_FORMAT, "SDP: %s holds something that is not a parameter set",
			            name);
			goto out;
		}
		memcpy(out + *len, "\0\0\0\1", 4);
		*len += 4 + got;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
out:
	free(list);
	return e;
}

/* Each list is comma-separated base64; each item must decode to a parameter
 * set NAL unit (see param_nal_ok). Bounded by both cap and
 * CU_PARAM_SETS_MAX; *ret_len is written only on success. */
int
cu_sdp_param_sets(const struct cu_sdp_media *m, uint8_t *out, size_t cap, size_t *ret_len)
{
	if (m == NULL || (out == NULL && cap > 0) || ret_len == NULL)
		return cu_fail(CU_ERR_INVAL, "SDP: parameter sets without a buffer");
	if (cap > CU_PARAM_SETS_MAX)
		cap = CU_PARAM_SETS_MAX; /* the limit holds whatever room the caller has */
	size_t len = 0;
	int e = 0;
	if (m->codec == CU_CODEC_H264) {
		e = append_sets(m, "sprop-parameter-sets", 0, out, cap, &len);
	} else if (m->codec == CU_CODEC_H265) {
		e = append_sets(m, "sprop-vps", H265_NAL_VPS, out, cap, &len);
		if (e == 0)
			e = append_sets(m, "sprop-sps", H265_NAL_SPS, out, cap, &len);
		if (e == 0)
			e = append_sets(m, "sprop-pps", H265_NAL_PPS, out, cap, &len);
	}
	if (e < 0)
		return e;
	*ret_len = len;
	return 0;
}
