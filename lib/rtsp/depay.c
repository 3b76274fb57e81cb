/* Depacketisers: RTP packets in, access units out.
 *
 *   H.264  RFC 6184 non-interleaved mode: single NAL unit (1..23), STAP-A
 *          (24), FU-A (28). STAP-B, MTAP and FU-B belong to the interleaved
 *          mode, which a camera has to be asked for: CU_ERR_UNSUPPORTED.
 *   H.265  RFC 7798 without DONL (sprop-max-don-diff absent or 0; the caller
 *          refuses other streams): single NAL unit (0..47), AP (48), FU (49).
 *          PACI (50) is CU_ERR_UNSUPPORTED.
 *   AAC    RFC 3640 mpeg4-generic, mode AAC-hbr (sizelength=13,
 *          indexlength=3, indexdeltalength=3, no other AU-header fields; the
 *          caller checks the fmtp), out as ADTS frames.
 *
 * Video comes out in Annex B with 4-byte start codes. An access unit ends at
 * the marker bit or when the RTP timestamp changes. Whatever makes an access
 * unit incomplete (a sequence gap, a malformed packet, an FU that never
 * ended, more than CU_AU_NALS_MAX NAL units or CU_FRAME_MAX bytes) drops it
 * and every access unit after it until the next key frame, because frames
 * predicted from a missing one do not decode; what comes out always does.
 * The first access unit out is a key frame for the same reason. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp/proto.h"
#include "custody/buf.h"
#include "custody/error.h"
#include "custody/parse.h"

#define START_CODE_LEN 4
#define SEQ_MISORDER_MAX 100   /* this far behind is a late packet; further, a restart */

#define H264_STAP_A 24
#define H264_STAP_B 25
#define H264_MTAP16 26
#define H264_MTAP24 27
#define H264_FU_A 28
#define H264_FU_B 29
#define H264_IDR 5
#define H264_SPS 7
#define H264_AUD 9

#define H265_AP 48
#define H265_FU 49
#define H265_PACI 50
#define H265_IRAP_FIRST 16
#define H265_IRAP_LAST 21
#define H265_SPS 33
#define H265_AUD 35

#define ADTS_HEADER_LEN 7
#define ADTS_FRAME_MAX 8191     /* 13-bit frame_length, header included */
#define AAC_CONFIG_MAX 64       /* bytes of AudioSpecificConfig we accept */

static const uint8_t start_code[START_CODE_LEN] = {0, 0, 0, 1};

struct cu_depay {
	int codec;                      /* enum cu_codec */
	uint8_t ps[CU_PARAM_SETS_MAX];  /* SDP parameter sets, Annex B */
	size_t ps_len;
	cu_buf work;                    /* the access unit being assembled */
	cu_buf out;                     /* the access unit last handed out */
	struct cu_depay_stats st;

	/* sequence numbers (RFC 3550 A.1, simplified) */
	bool have_seq;
	uint16_t next_seq;              /* the one expected next */
	uint32_t ssrc;
	bool have_probe;                /* a far-behind packet was seen ... */
	uint16_t probe_seq;             /* ... and this one would confirm a restart */

	/* the video access unit in `work` */
	bool au_open;
	uint32_t au_ts;
	bool au_bad;                    /* incomplete: dropped when it ends */
	bool au_key;                    /* has an IDR / IRAP NAL unit */
	bool au_sps;                    /* has its own SPS */
	size_t au_nals;
	size_t au_insert;               /* where parameter sets go: after a leading AUD */
	bool fu_open;                   /* a fragmented NAL unit has started, not ended */
	uint8_t fu_type;
	bool pending;                   /* work holds a finished AU not yet handed out */
	bool wait_key;                  /* drop until a key frame */

	/* AAC */
	uint8_t adts[3];                /* profile, frequency and channels, ADTS-coded */
	bool frag_open;                 /* a fragmented AU is in `work` */
	uint32_t frag_ts;
	size_t frag_size;               /* its AU-size */
	bool skip;                      /* ignore packets of skip_ts (fragments after a gap) */
	uint32_t skip_ts;
};

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- sequence numbers ---- */

enum seq_verdict { SEQ_NEXT, SEQ_GAP, SEQ_DROP };

static enum seq_verdict
seq_check(cu_depay *d, const struct cu_rtp *pkt)
{
	if (!d->have_seq || pkt->ssrc != d->ssrc) {
		/* a new source (a camera that restarted) is a new stream: what
		 * was in flight cannot be completed, but nothing was lost */
		bool restart = d->have_seq;
		d->have_seq = true;
		d->have_probe = false;
		d->ssrc = pkt->ssrc;
		d->next_seq = (uint16_t)(pkt->seq + 1);
		return restart ? SEQ_GAP : SEQ_NEXT;
	}
	uint16_t ahead = (uint16_t)(pkt->seq - d->next_seq);
	if (ahead == 0) {
		d->have_probe = false;
		d->next_seq = (uint16_t)(pkt->seq + 1);
		return SEQ_NEXT;
	}
	if (ahead < 0x8000) {
		d->st.lost += ahead;
		d->have_probe = false;
		d->next_seq = (uint16_t)(pkt->seq + 1);
		return SEQ_GAP;
	}
	uint16_t behind = (uint16_t)(d->next_seq - pkt->seq);
	if (behind > SEQ_MISORDER_MAX) {
		/* far behind: either a stray packet or the sender's numbering
		 * jumped; two in a row are taken as a restart */
		if (d->have_probe && pkt->seq == d->probe_seq) {
			d->have_probe = false;
			d->next_seq = (uint16_t)(pkt->seq + 1);
			return SEQ_GAP;
		}
		d->have_probe = true;
		d->probe_seq = (uint16_t)(pkt->seq + 1);
	}
	d->st.out_of_order++;
	return SEQ_DROP;
}

/* ---- video access units ---- */

static void
au_reset(cu_depay *d)
{
	cu_buf_reset(&d->work);
	d->au_open = false;
	d->au_bad = false;
	d->au_key = false;
	d->au_sps = false;
	d->au_nals = 0;
	d->au_insert = 0;
	d->fu_open = false;
	d->fu_type = 0;
}

static void
au_start(cu_depay *d, uint32_t ts)
{
	au_reset(d);
	d->au_open = true;
	d->au_ts = ts;
}

static void
au_drop(cu_depay *d)
{
	d->st.dropped_aus++;
	d->wait_key = true;
	au_reset(d);
}

static bool
need_param_sets(const cu_depay *d)
{
	return d->au_key && !d->au_sps && d->ps_len > 0;
}

/* Copies the finished AU in `work` (with the parameter sets put in when it
 * needs them) to `out` and describes it in *ret. */
static int
au_hand_out(cu_depay *d, struct cu_au *ret)
{
	d->pending = false;
	cu_buf_reset(&d->out);
	int e = 0;
	if (need_param_sets(d)) {
		e = cu_buf_append(&d->out, d->work.data, d->au_insert);
		if (e == 0)
			e = cu_buf_append(&d->out, d->ps, d->ps_len);
		if (e == 0)
			e = cu_buf_append(&d->out, d->work.data + d->au_insert, d->work.len - d->au_insert);
	} else {
		e = cu_buf_append(&d->out, d->work.data, d->work.len);
	}
	if (e < 0) {
		au_drop(d);
		return e;
	}
	ret->data = d->out.data;
	ret->len = d->out.len;
	ret->rtp_ts = d->au_ts;
	ret->key = d->au_key;
	au_reset(d);
	return 1;
}

/* Ends the AU in `work`: drops it, hands it out (returns 1), or when this
 * call has handed one out already, keeps it for the next call. */
static int
au_close(cu_depay *d, bool handed_out, struct cu_au *ret)
{
	d->au_open = false;
	if (d->fu_open && !d->au_bad) {
		d->st.malformed++; /* the sender ended an AU inside a NAL unit */
		d->au_bad = true;
	}
	if (d->au_bad || d->au_nals == 0) {
		au_drop(d);
		return 0;
	}
	if (d->wait_key && !d->au_key) {
		d->st.dropped_aus++;
		au_reset(d);
		return 0;
	}
	size_t total = d->work.len + (need_param_sets(d) ? d->ps_len : 0);
	if (total > CU_FRAME_MAX) {
		au_drop(d);
		return 0;
	}
	d->wait_key = false;
	if (handed_out) {
		d->pending = true;
		return 0;
	}
	return au_hand_out(d, ret);
}

static bool
is_key_nal(int codec, int type)
{
	if (codec == CU_CODEC_H264)
		return type == H264_IDR;
	return type >= H265_IRAP_FIRST && type <= H265_IRAP_LAST;
}

static int
nal_type(int codec, const uint8_t *hdr)
{
	return codec == CU_CODEC_H264 ? hdr[0] & 0x1f : (hdr[0] >> 1) & 0x3f;
}

/* Starts a NAL unit in the AU with its start code and the first n bytes
 * (header included). Over a limit the AU is marked bad (dropped and counted
 * when it ends), which is not an error of this packet. */
static void
nal_begin(cu_depay *d, const uint8_t *p, size_t n)
{
	if (d->au_nals == CU_AU_NALS_MAX || cu_buf_reserve(&d->work, START_CODE_LEN + n) < 0) {
		d->au_bad = true;
		return;
	}
	int type = nal_type(d->codec, p);
	bool aud = d->codec == CU_CODEC_H264 ? type == H264_AUD : type == H265_AUD;
	bool first = d->au_nals == 0;
	(void)cu_buf_append(&d->work, start_code, START_CODE_LEN);
	(void)cu_buf_append(&d->work, p, n);
	d->au_nals++;
	if (is_key_nal(d->codec, type))
		d->au_key = true;
	if (type == (d->codec == CU_CODEC_H264 ? H264_SPS : H265_SPS))
		d->au_sps = true;
	if (first && aud)
		d->au_insert = d->work.len; /* an AUD stays first (H.264 7.4.1.2.3) */
}

static void
nal_continue(cu_depay *d, const uint8_t *p, size_t n)
{
	if (!d->au_bad && cu_buf_append(&d->work, p, n) < 0)
		d->au_bad = true;
}

static int
malformed(cu_depay *d, int code, const char *what)
{
	d->st.malformed++;
	d->au_bad = true;
	return cu_fail(code, "RTP %s: %s", d->codec == CU_CODEC_H264 ? "H.264" : "H.265", what);
}

/* A NAL unit header the aggregation and single-NAL paths accept. */
static bool
nal_header_ok(int codec, const uint8_t *p, size_t n)
{
	if (codec == CU_CODEC_H264) {
		int t = p[0] & 0x1f;
		return n >= 1 && (p[0] & 0x80) == 0 && t >= 1 && t <= 23;
	}
	return n >= 2 && (p[0] & 0x80) == 0 && (p[1] & 0x07) != 0 && ((p[0] >> 1) & 0x3f) < H265_AP;
}

/* STAP-A / AP: 16-bit size, NAL unit, repeated to the end exactly. All
 * units are checked before any is taken. */
static int
aggregation(cu_depay *d, const uint8_t *p, size_t n, size_t hdr)
{
	size_t off = hdr, count = 0;
	while (off < n) {
		if (n - off < 2)
			return malformed(d, CU_ERR_FORMAT, "aggregation packet cut in a size field");
		size_t sz = get16(p + off);
		off += 2;
		if (sz == 0 || sz > n - off)
			return malformed(d, CU_ERR_FORMAT, "aggregation unit size does not fit");
		if (!nal_header_ok(d->codec, p + off, sz))
			return malformed(d, CU_ERR_FORMAT, "bad NAL unit header in an aggregation packet");
		off += sz;
		count++;
	}
	if (count == 0)
		return malformed(d, CU_ERR_FORMAT, "empty aggregation packet");
	for (off = hdr; off < n && !d->au_bad;) {
		size_t sz = get16(p + off);
		nal_begin(d, p + off + 2, sz);
		off += 2 + sz;
	}
	return 0;
}

/* FU-A / FU. hdr: bytes of payload header, then the FU header; nal: the
 * reconstructed NAL unit header (1 or 2 bytes). */
static int
fragment(cu_depay *d, const uint8_t *p, size_t n, size_t hdr, const uint8_t *nal, size_t nal_len,
         int type)
{
	if (n < hdr + 2)
		return malformed(d, CU_ERR_FORMAT, "fragmentation unit without payload");
	bool s = (p[hdr] & 0x80) != 0, e = (p[hdr] & 0x40) != 0;
	if (s && e)
		return malformed(d, CU_ERR_FORMAT, "fragmentation unit with both start and end bits");
	const uint8_t *data = p + hdr + 1;
	size_t len = n - hdr - 1;
	if (s) {
		if (d->fu_open)
			return malformed(d, CU_ERR_FORMAT, "fragmentation unit started twice");
		nal_begin(d, nal, nal_len);
		nal_continue(d, data, len);
		d->fu_open = true;
		d->fu_type = (uint8_t)type;
		return 0;
	}
	if (!d->fu_open)
		return malformed(d, CU_ERR_FORMAT, "fragmentation unit continues what never started");
	if (type != d->fu_type)
		return malformed(d, CU_ERR_FORMAT, "fragmentation unit changes NAL unit type");
	nal_continue(d, data, len);
	if (e)
		d->fu_open = false;
	return 0;
}

static int
payload_h264(cu_depay *d, const uint8_t *p, size_t n)
{
	if (n < 1)
		return malformed(d, CU_ERR_FORMAT, "empty payload");
	if (p[0] & 0x80)
		return malformed(d, CU_ERR_FORMAT, "forbidden_zero_bit set");
	int type = p[0] & 0x1f;
	if (type == H264_FU_A) {
		if (n < 2)
			return malformed(d, CU_ERR_FORMAT, "FU-A without an FU header");
		int t = p[1] & 0x1f;
		if (t == 0 || t > 23)
			return malformed(d, CU_ERR_FORMAT, "FU-A of a NAL unit type that cannot exist");
		uint8_t nal = (uint8_t)((p[0] & 0xe0) | t);
		return fragment(d, p, n, 1, &nal, 1, t);
	}
	if (d->fu_open)
		return malformed(d, CU_ERR_FORMAT, "fragmentation unit never ended");
	if (type >= 1 && type <= 23) {
		nal_begin(d, p, n);
		return 0;
	}
	if (type == H264_STAP_A)
		return aggregation(d, p, n, 1);
	if (type == H264_STAP_B || type == H264_MTAP16 || type == H264_MTAP24 || type == H264_FU_B)
		return malformed(d, CU_ERR_UNSUPPORTED, "interleaved packetization mode");
	return malformed(d, CU_ERR_FORMAT, "undefined NAL unit type");
}

static int
payload_h265(cu_depay *d, const uint8_t *p, size_t n)
{
	if (n < 2)
		return malformed(d, CU_ERR_FORMAT, "payload shorter than a NAL unit header");
	if (p[0] & 0x80)
		return malformed(d, CU_ERR_FORMAT, "forbidden_zero_bit set");
	if ((p[1] & 0x07) == 0)
		return malformed(d, CU_ERR_FORMAT, "nuh_temporal_id_plus1 is 0");
	int type = (p[0] >> 1) & 0x3f;
	if (type == H265_FU) {
		if (n < 3)
			return malformed(d, CU_ERR_FORMAT, "FU without an FU header");
		int t = p[2] & 0x3f;
		if (t >= H265_AP)
			return malformed(d, CU_ERR_FORMAT, "FU of a packet type, not a NAL unit");
		uint8_t nal[2] = {(uint8_t)((p[0] & 0x81) | t << 1), p[1]};
		return fragment(d, p, n, 2, nal, 2, t);
	}
	if (d->fu_open)
		return malformed(d, CU_ERR_FORMAT, "fragmentation unit never ended");
	if (type < H265_AP) {
		nal_begin(d, p, n);
		return 0;
	}
	if (type == H265_AP)
		return aggregation(d, p, n, 2);
	if (type == H265_PACI)
		return malformed(d, CU_ERR_UNSUPPORTED, "PACI packets");
	return malformed(d, CU_ERR_FORMAT, "undefined payload type");
}

static int
push_video(cu_depay *d, const struct cu_rtp *pkt, struct cu_au *ret)
{
	bool handed = false;
	int err = 0;
	if (d->pending) {
		int r = au_hand_out(d, ret);
		if (r < 0)
			return r;
		handed = true;
	}

	switch (seq_check(d, pkt)) {
	case SEQ_DROP:
		return handed ? 1 : 0;
	case SEQ_GAP:
		/* the AU the gap hit is incomplete, and so is the one this
		 * packet belongs to if it is another: its start may be lost */
		if (d->au_open && pkt->ts == d->au_ts) {
			d->au_bad = true;
		} else {
			if (d->au_open)
				au_drop(d);
			au_start(d, pkt->ts);
			d->au_bad = true;
		}
		d->wait_key = true;
		break;
	case SEQ_NEXT:
		break;
	}

	/* (a pending AU was handed out above, so `work` is free for this one;
	 * at most the marker below can leave a new one pending) */
	if (d->au_open && pkt->ts != d->au_ts) {
		int r = au_close(d, handed, ret);
		if (r > 0)
			handed = true;
		else if (r < 0)
			err = r;
	}
	if (!d->au_open)
		au_start(d, pkt->ts);

	if (!d->au_bad) {
		int r = d->codec == CU_CODEC_H264 ? payload_h264(d, pkt->payload, pkt->payload_len)
		                                  : payload_h265(d, pkt->payload, pkt->payload_len);
		if (r < 0 && err == 0)
			err = r;
	}
	if (pkt->marker) {
		int r = au_close(d, handed, ret);
		if (r > 0)
			handed = true;
		else if (r < 0 && err == 0)
			err = r;
	}
	/* an AU handed out matters more than an error, which is counted */
	return handed ? 1 : err;
}

/* ---- AAC (RFC 3640 AAC-hbr) ---- */

static int
aac_config(cu_depay *d, const char *config_hex)
{
	if (config_hex == NULL)
		return cu_fail(CU_ERR_INVAL, "AAC: no config");
	size_t hex_len = strnlen(config_hex, 2 * AAC_CONFIG_MAX + 1);
	if (hex_len > 2 * AAC_CONFIG_MAX)
		return cu_fail(CU_ERR_LIMIT, "AAC: config over %d bytes", AAC_CONFIG_MAX);
	if (hex_len < 4 || hex_len % 2 != 0)
		return cu_fail(CU_ERR_FORMAT, "AAC: config is not an AudioSpecificConfig in hex");
	uint8_t c[AAC_CONFIG_MAX];
	if (cu_unhex(config_hex, c, hex_len / 2) < 0)
		return cu_fail_prefix(CU_ERR_FORMAT, "AAC: config");
	int object = c[0] >> 3;
	int freq = (c[0] & 7) << 1 | c[1] >> 7;
	int chan = (c[1] >> 3) & 0x0f;
	if (object == 0)
		return cu_fail(CU_ERR_FORMAT, "AAC: audio object type 0");
	/* ADTS can carry object types 1..4 (its 2-bit profile), a frequency
	 * from the table, and a channel configuration 1..7 */
	if (object > 4)
		return cu_fail(CU_ERR_UNSUPPORTED, "AAC: audio object type %d has no ADTS form", object);
	if (freq == 13 || freq == 14)
		return cu_fail(CU_ERR_FORMAT, "AAC: reserved sampling frequency index %d", freq);
	if (freq == 15)
		return cu_fail(CU_ERR_UNSUPPORTED, "AAC: explicit sampling frequency");
	if (chan == 0 || chan > 7)
		return cu_fail(CU_ERR_UNSUPPORTED, "AAC: channel configuration %d", chan);
	d->adts[0] = (uint8_t)(object - 1);
	d->adts[1] = (uint8_t)freq;
	d->adts[2] = (uint8_t)chan;
	return 0;
}

static int
adts_header(cu_depay *d, size_t au_size)
{
	size_t len = au_size + ADTS_HEADER_LEN;
	if (len > ADTS_FRAME_MAX)
		return cu_fail(CU_ERR_LIMIT, "AAC: AU of %zu bytes is over what ADTS can frame", au_size);
	uint8_t h[ADTS_HEADER_LEN] = {
		0xff, 0xf1, /* sync word, MPEG-4, layer 0, no CRC */
		(uint8_t)(d->adts[0] << 6 | d->adts[1] << 2 | d->adts[2] >> 2),
		(uint8_t)((d->adts[2] & 3) << 6 | len >> 11),
		(uint8_t)(len >> 3),
		(uint8_t)((len & 7) << 5 | 0x1f), /* buffer fullness 0x7ff: variable rate */
		0xfc,
	};
	return cu_buf_append(&d->work, h, sizeof(h));
}

static int
aac_malformed(cu_depay *d, int code, const char *what)
{
	d->st.malformed++;
	return cu_fail(code, "RTP AAC: %s", what);
}

static void
aac_drop_frag(cu_depay *d)
{
	if (d->frag_open) {
		d->st.dropped_aus++;
		d->frag_open = false;
		cu_buf_reset(&d->work);
	}
}

static int
aac_emit(cu_depay *d, uint32_t ts, struct cu_au *ret)
{
	cu_buf_reset(&d->out);
	int e = cu_buf_append(&d->out, d->work.data, d->work.len);
	cu_buf_reset(&d->work);
	d->frag_open = false;
	if (e < 0) {
		d->st.dropped_aus++;
		return e;
	}
	ret->data = d->out.data;
	ret->len = d->out.len;
	ret->rtp_ts = ts;
	ret->key = true;
	return 1;
}

/* The AU-headers section of an RFC 3640 AAC-hbr payload. */
struct aac_aus {
	size_t n;                     /* AU headers */
	const uint8_t *heads;         /* n 16-bit headers: size << 3 | index */
	const uint8_t *data;          /* the AUs after them */
	size_t dlen, sum;             /* bytes of data, and the sizes' sum */
};

static int
aac_headers(cu_depay *d, const struct cu_rtp *pkt, struct aac_aus *a)
{
	const uint8_t *p = pkt->payload;
	size_t n = pkt->payload_len;
	if (n < 2)
		return aac_malformed(d, CU_ERR_FORMAT, "payload without AU-headers-length");
	size_t bits = get16(p);
	if (bits == 0 || bits % 16 != 0)
		return aac_malformed(d, CU_ERR_FORMAT, "AU headers are not 16-bit AAC-hbr headers");
	a->n = bits / 16;
	if (n - 2 < 2 * a->n)
		return aac_malformed(d, CU_ERR_FORMAT, "AU headers do not fit in the packet");
	a->heads = p + 2;
	a->data = p + 2 + 2 * a->n;
	a->dlen = n - 2 - 2 * a->n;
	a->sum = 0;
	for (size_t i = 0; i < a->n; i++) {
		uint16_t h = get16(a->heads + 2 * i);
		if ((h & 7) != 0)
			return aac_malformed(d, CU_ERR_UNSUPPORTED, "interleaved AUs (AU-index not 0)");
		if (h >> 3 == 0)
			return aac_malformed(d, CU_ERR_FORMAT, "AU of size 0");
		a->sum += h >> 3;
	}
	return 0;
}

/* The next fragment of the AU being put together. */
static int
aac_fragment(cu_depay *d, const struct cu_rtp *pkt, const struct aac_aus *a, struct cu_au *ret)
{
	size_t size = get16(a->heads) >> 3;
	if (a->n != 1 || size != d->frag_size) {
		aac_drop_frag(d);
		return aac_malformed(d, CU_ERR_FORMAT, "fragment of a different AU");
	}
	size_t have = d->work.len - ADTS_HEADER_LEN;
	if (a->dlen > size - have) {
		aac_drop_frag(d);
		return aac_malformed(d, CU_ERR_FORMAT, "fragments longer than their AU");
	}
	(void)cu_buf_append(&d->work, a->data, a->dlen); /* size <= 8184: fits */
	if (have + a->dlen == size)
		return aac_emit(d, d->frag_ts, ret);
	if (pkt->marker) {
		aac_drop_frag(d);
		return aac_malformed(d, CU_ERR_FORMAT, "last fragment ends the AU short");
	}
	return 0;
}

/* Skips the AU of pkt's time: the rest of it is of no use. */
static int
aac_skip(cu_depay *d, const struct cu_rtp *pkt, int e)
{
	d->skip = true;
	d->skip_ts = pkt->ts;
	d->st.dropped_aus++;
	return e;
}

/* The first fragment of an AU longer than its packet. */
static int
aac_first_fragment(cu_depay *d, const struct cu_rtp *pkt, enum seq_verdict v,
                   const struct aac_aus *a)
{
	if (v == SEQ_GAP) /* it may be any fragment of the AU: skip the AU */
		return aac_skip(d, pkt, 0);
	if (pkt->marker)
		return aac_malformed(d, CU_ERR_FORMAT, "AU longer than its only packet");
	cu_buf_reset(&d->work);
	int e = adts_header(d, a->sum);
	if (e < 0)
		return aac_skip(d, pkt, e);
	(void)cu_buf_append(&d->work, a->data, a->dlen);
	d->frag_open = true;
	d->frag_ts = pkt->ts;
	d->frag_size = a->sum;
	return 0;
}

/* Whole AUs: several in one packet come out together, as consecutive ADTS frames. */
static int
aac_whole(cu_depay *d, const struct cu_rtp *pkt, const struct aac_aus *a, struct cu_au *ret)
{
	if (a->sum != a->dlen)
		return aac_malformed(d, CU_ERR_FORMAT, "AU sizes do not add up to the payload");
	cu_buf_reset(&d->work);
	const uint8_t *q = a->data;
	for (size_t i = 0; i < a->n; i++) {
		size_t size = get16(a->heads + 2 * i) >> 3;
		int e = adts_header(d, size);
		if (e == 0)
			e = cu_buf_append(&d->work, q, size);
		if (e < 0) {
			cu_buf_reset(&d->work);
			d->st.dropped_aus++;
			return e;
		}
		q += size;
	}
	return aac_emit(d, pkt->ts, ret);
}

static int
push_aac(cu_depay *d, const struct cu_rtp *pkt, struct cu_au *ret)
{
	enum seq_verdict v = seq_check(d, pkt);
	if (v == SEQ_DROP)
		return 0;
	if (d->skip && pkt->ts != d->skip_ts)
		d->skip = false;
	if (v == SEQ_GAP)
		aac_drop_frag(d);
	if (d->frag_open && pkt->ts != d->frag_ts) {
		aac_drop_frag(d);
		d->st.malformed++; /* the sender left a fragmented AU unfinished */
	}
	struct aac_aus a = {0};
	int r = aac_headers(d, pkt, &a);
	if (r < 0 || d->skip)
		return r;
	if (d->frag_open)
		return aac_fragment(d, pkt, &a, ret);
	if (a.n == 1 && a.sum > a.dlen)
		return aac_first_fragment(d, pkt, v, &a);
	return aac_whole(d, pkt, &a, ret);
}

/* ---- the API ---- */

/* The parameter sets are copied (<= CU_PARAM_SETS_MAX); for AAC,
 * config_hex is checked here so that a stream ADTS cannot carry is refused
 * before any packet. Free with cu_depay_free. */
int
cu_depay_new(int codec, const uint8_t *param_sets, size_t ps_len, const char *config_hex,
             cu_depay **ret)
{
	if (ret == NULL || (param_sets == NULL && ps_len > 0))
		return cu_fail(CU_ERR_INVAL, "depacketiser: bad arguments");
	if (codec != CU_CODEC_H264 && codec != CU_CODEC_H265 && codec != CU_CODEC_AAC)
		return cu_fail(CU_ERR_UNSUPPORTED, "depacketiser: no RTP depacketiser for %s",
		               cu_codec_name(codec));
	if (ps_len > CU_PARAM_SETS_MAX)
		return cu_fail(CU_ERR_LIMIT, "depacketiser: %zu bytes of parameter sets, at most %d",
		               ps_len, CU_PARAM_SETS_MAX);
	cu_depay *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return cu_fail(CU_ERR_NOMEM, "depacketiser: out of memory");
	d->codec = codec;
	if (codec == CU_CODEC_AAC) {
		int e = aac_config(d, config_hex);
		if (e < 0) {
			free(d);
			return e;
		}
	} else if (ps_len > 0) {
		memcpy(d->ps, param_sets, ps_len);
		d->ps_len = ps_len;
	}
	cu_buf_init(&d->work, CU_FRAME_MAX);
	cu_buf_init(&d->out, CU_FRAME_MAX);
	d->wait_key = true;
	*ret = d;
	return 0;
}

/* See the top of this file and proto.h. ret_au is written only when 1 is
 * returned; its data lives until the next push or cu_depay_free. */
int
cu_depay_push(cu_depay *d, const struct cu_rtp *pkt, struct cu_au *ret_au)
{
	if (d == NULL || pkt == NULL || ret_au == NULL || (pkt->payload == NULL && pkt->payload_len))
		return cu_fail(CU_ERR_INVAL, "depacketiser: bad arguments");
	d->st.packets++;
	if (d->codec == CU_CODEC_AAC)
		return push_aac(d, pkt, ret_au);
	return push_video(d, pkt, ret_au);
}

void
cu_depay_get_stats(const cu_depay *d, struct cu_depay_stats *ret)
{
	if (d == NULL || ret == NULL)
		return;
	*ret = d->st;
}

void
cu_depay_free(cu_depay *d)
{
	if (d == NULL)
		return;
	cu_buf_free(&d->work);
	cu_buf_free(&d->out);
	free(d);
}
