/* Private: the parsers of custody's RTSP/RTP client. Every one of them takes
 * bytes from the network: each input is bounded by a named limit, each has a
 * libFuzzer target in fuzz/, and none of them allocates without a bound. */
#ifndef CU_RTSP_PROTO_H
#define CU_RTSP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/media.h"
#include "util/base64.h"

/* ---- RTSP responses (RFC 2326 §7) ---- */

#define CU_RTSP_HEAD_MAX 16384     /* status line + headers, bytes */
#define CU_RTSP_HEADERS_MAX 64     /* header fields per message */
#define CU_RTSP_BODY_MAX 65536     /* Content-Length accepted */

struct cu_rtsp_header {
	const char *name;               /* points into head[], NUL-terminated, trimmed */
	const char *value;
};

struct cu_rtsp_response {
	int status;                     /* 100..599 */
	char reason[128];               /* reason phrase, cut to fit (display only) */
	int cseq;                       /* CSeq header, -1 if absent */
	char head[CU_RTSP_HEAD_MAX + 1];/* storage for the header strings */
	size_t nheaders;
	struct cu_rtsp_header headers[CU_RTSP_HEADERS_MAX];
	uint8_t body[CU_RTSP_BODY_MAX + 1]; /* NUL after the body */
	size_t body_len;
};

/* Parses one response at the start of buf. Returns the bytes it used (> 0)
 * when a whole message (head and Content-Length body) is there, 0 when more
 * bytes are needed, or CU_ERR_FORMAT / CU_ERR_LIMIT with a detail. Accepts
 * CRLF or bare LF line ends and folded header lines are refused. */
int cu_rtsp_parse_response(const uint8_t *buf, size_t len, struct cu_rtsp_response *ret);

/* The value of the first header named name (case-insensitive), or NULL. */
const char *cu_rtsp_header(const struct cu_rtsp_response *r, const char *name);

/* ---- SDP (RFC 8866), the parts a recorder needs ---- */

#define CU_SDP_MAX 65536
#define CU_SDP_MEDIA_MAX 8
#define CU_SDP_URL_MAX 1024
#define CU_SDP_FMTP_MAX 4096
#define CU_PARAM_SETS_MAX 4096      /* Annex B bytes of VPS/SPS/PPS */

struct cu_sdp_media {
	char type[16];                  /* "video", "audio", ... */
	int payload_type;               /* the first format on the m= line, 0..127 */
	int codec;                      /* enum cu_codec from a=rtpmap (or static PT 26 = MJPEG), 0 unknown */
	char encoding[32];              /* as written: "H264", "H265", "MPEG4-GENERIC", ... */
	uint32_t clock_rate;            /* Hz, from a=rtpmap (90000 for PT 26) */
	int channels;                   /* audio, 0 when not given */
	char control[CU_SDP_URL_MAX];   /* a=control, as written ("" when none) */
	char fmtp[CU_SDP_FMTP_MAX];     /* a=fmtp parameters for payload_type, as written */
};

struct cu_sdp {
	char control[CU_SDP_URL_MAX];   /* session-level a=control ("" when none) */
	size_t nmedia;
	struct cu_sdp_media media[CU_SDP_MEDIA_MAX];
};

/* Parses an SDP body. Unknown lines are ignored; malformed known lines are
 * CU_ERR_FORMAT. More than CU_SDP_MEDIA_MAX m= sections is CU_ERR_LIMIT. */
int cu_sdp_parse(const char *text, size_t len, struct cu_sdp *ret);

/* The parameter sets of an H.264 (sprop-parameter-sets) or H.265
 * (sprop-vps, sprop-sps, sprop-pps) media section, decoded from base64 and
 * written as Annex B (00 00 00 01 before each). *ret_len 0 when none. */
int cu_sdp_param_sets(const struct cu_sdp_media *m, uint8_t *out, size_t cap, size_t *ret_len);

/* The value of fmtp parameter name (case-insensitive) into buf; CU_ERR_NOTFOUND if absent. */
int cu_sdp_fmtp_get(const struct cu_sdp_media *m, const char *name, char *buf, size_t len);

/* ---- RTP and RTCP (RFC 3550) ---- */

#define CU_RTP_PACKET_MAX 65535

struct cu_rtp {
	uint8_t pt;
	bool marker;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	const uint8_t *payload;         /* points into the packet */
	size_t payload_len;
};

/* Parses an RTP packet (version 2; CSRCs, header extension and padding
 * handled). CU_ERR_FORMAT when malformed. */
int cu_rtp_parse(const uint8_t *pkt, size_t len, struct cu_rtp *ret);

/* Finds a sender report in an RTCP compound packet. Returns 1 with its SSRC,
 * NTP time (64-bit, RFC 3550 format) and RTP time, 0 when the compound has
 * no SR, CU_ERR_FORMAT when malformed. */
int cu_rtcp_sender_report(const uint8_t *pkt, size_t len, uint32_t *ret_ssrc, uint64_t *ret_ntp,
                          uint32_t *ret_rtp_ts);

/* ---- depacketisers: RTP packets -> access units ---- */

#define CU_AU_NALS_MAX 256          /* NAL units in one access unit */

typedef struct cu_depay cu_depay;

struct cu_au {
	const uint8_t *data;            /* Annex B (video), ADTS AAC frame, or JPEG; valid until the next push */
	size_t len;                     /* <= CU_FRAME_MAX */
	uint32_t rtp_ts;
	bool key;                       /* IDR (H.264 NAL 5) / IRAP (H.265 16..21); audio: always */
};

struct cu_depay_stats {
	uint64_t packets, lost, out_of_order, malformed, dropped_aus;
};

/* A depacketiser for codec (CU_CODEC_H264 or CU_CODEC_H265; CU_CODEC_AAC for
 * RFC 3640 AAC-hbr if supported: config_hex is then the fmtp "config"),
 * given the SDP's parameter sets (Annex B, may be empty) which it puts in
 * front of every key frame that does not carry its own. */
int cu_depay_new(int codec, const uint8_t *param_sets, size_t ps_len, const char *config_hex,
                 cu_depay **ret);

/* Feeds one RTP packet in arrival order. Returns 1 with an access unit when
 * one is complete (marker bit, or a new timestamp), 0 when more packets are
 * needed, or a negative cu_err for a malformed packet (counted and dropped;
 * the stream goes on). A lost packet (sequence gap) drops the access unit it
 * hit and everything until the next key frame, so what comes out always
 * decodes; late and duplicate packets are dropped and counted. */
int cu_depay_push(cu_depay *d, const struct cu_rtp *pkt, struct cu_au *ret_au);

void cu_depay_get_stats(const cu_depay *d, struct cu_depay_stats *ret);
void cu_depay_free(cu_depay *d);

/* ---- base64 of parameter sets ----
 * cu_b64_decode (util/base64.h) with these flags: standard alphabet, '='
 * padding optional but exact, no whitespace, the unused low bits of the last
 * digit ignored (RFC 4648 §3.5: some encoders leave them set, and the bytes
 * are the same either way). */
#define CU_SPROP_B64 CU_B64_STD

#endif
