/* RTP data packets and RTCP sender reports (RFC 3550 §5.1, §6.4.1). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtsp/proto.h"
#include "custody/error.h"

#define RTP_VERSION 2
#define RTP_HEADER_LEN 12
#define RTCP_HEADER_LEN 4
#define RTCP_PT_SR 200
#define RTCP_SR_LEN 28           /* header, SSRC, NTP (8), RTP time, two counts */
#define RTCP_REPORT_BLOCK_LEN 24

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Header, CSRC list, extension and padding are each checked against the
 * bytes actually there; what is left is the payload (possibly empty). *ret
 * is written only on success. */
int
cu_rtp_parse(const uint8_t *pkt, size_t len, struct cu_rtp *ret)
{
	if (pkt == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "RTP: no packet");
	if (len > CU_RTP_PACKET_MAX)
		return cu_fail(CU_ERR_LIMIT, "RTP: %zu bytes, at most %d", len, CU_RTP_PACKET_MAX);
	if (len < RTP_HEADER_LEN)
		return cu_fail(CU_ERR_FORMAT, "RTP: %zu bytes, shorter than the header", len);
	if (pkt[0] >> 6 != RTP_VERSION)
		return cu_fail(CU_ERR_FORMAT, "RTP: version %d, expected 2", pkt[0] >> 6);
	bool padding = (pkt[0] & 0x20) != 0;
	bool extension = (pkt[0] & 0x10) != 0;
	size_t csrc = pkt[0] & 0x0f;
	size_t off = RTP_HEADER_LEN + 4 * csrc;
	size_t end = len;
	if (off > end)
		return cu_fail(CU_ERR_FORMAT, "RTP: %zu CSRCs do not fit in %zu bytes", csrc, len);
	if (extension) {
		if (end - off < 4)
			return cu_fail(CU_ERR_FORMAT, "RTP: header extension cut short");
		size_t ext = 4 + 4 * (size_t)get16(pkt + off + 2);
		if (end - off < ext)
			return cu_fail(CU_ERR_FORMAT, "RTP: header extension of %zu bytes does not fit",
			               ext);
		off += ext;
	}
	if (padding) {
		/* the count includes itself, so 0 is malformed (RFC 3550 §5.1) */
		size_t pad = pkt[len - 1];
		if (pad == 0 || pad > end - off)
			return cu_fail(CU_ERR_FORMAT, "RTP: %zu bytes of padding do not fit", pad);
		end -= pad;
	}
	ret->pt = pkt[1] & 0x7f;
	ret->marker = (pkt[1] & 0x80) != 0;
	ret->seq = get16(pkt + 2);
	ret->ts = get32(pkt + 4);
	ret->ssrc = get32(pkt + 8);
	ret->payload = pkt + off;
	ret->payload_len = end - off;
	return 0;
}

/* Walks the whole compound before answering, so that a malformed packet
 * after the SR is still refused: the lengths must tile the datagram
 * exactly, and only the last packet may be padded. */
int
cu_rtcp_sender_report(const uint8_t *pkt, size_t len, uint32_t *ret_ssrc, uint64_t *ret_ntp,
                      uint32_t *ret_rtp_ts)
{
	if (pkt == NULL)
		return cu_fail(CU_ERR_INVAL, "RTCP: no packet");
	if (len > CU_RTP_PACKET_MAX)
		return cu_fail(CU_ERR_LIMIT, "RTCP: %zu bytes, at most %d", len, CU_RTP_PACKET_MAX);
	if (len == 0)
		return cu_fail(CU_ERR_FORMAT, "RTCP: empty packet");
	const uint8_t *sr = NULL;
	size_t off = 0;
	while (off < len) {
		if (len - off < RTCP_HEADER_LEN)
			return cu_fail(CU_ERR_FORMAT, "RTCP: %zu bytes left, less than a header",
			               len - off);
		const uint8_t *p = pkt + off;
		if (p[0] >> 6 != RTP_VERSION)
			return cu_fail(CU_ERR_FORMAT, "RTCP: version %d at offset %zu, expected 2",
			               p[0] >> 6, off);
		size_t plen = 4 * ((size_t)get16(p + 2) + 1);
		if (plen > len - off)
			return cu_fail(CU_ERR_FORMAT, "RTCP: packet at offset %zu claims %zu bytes", off,
			               plen);
		size_t body = plen;
		if (p[0] & 0x20) {
			if (off + plen != len)
				return cu_fail(CU_ERR_FORMAT, "RTCP: padding on a packet that is not last");
			size_t pad = p[plen - 1];
			if (pad == 0 || pad > plen - RTCP_HEADER_LEN)
				return cu_fail(CU_ERR_FORMAT, "RTCP: %zu bytes of padding do not fit", pad);
			body -= pad;
		}
		if (p[1] == RTCP_PT_SR) {
			size_t rc = p[0] & 0x1f;
			if (body < RTCP_SR_LEN + rc * RTCP_REPORT_BLOCK_LEN)
				return cu_fail(CU_ERR_FORMAT,
				               "RTCP: sender report of %zu bytes with %zu report blocks",
				               body, rc);
			if (sr == NULL)
				sr = p;
		}
		off += plen;
	}
	if (sr == NULL)
		return 0;
	if (ret_ssrc != NULL)
		*ret_ssrc = get32(sr + 4);
	if (ret_ntp != NULL)
		*ret_ntp = (uint64_t)get32(sr + 8) << 32 | get32(sr + 12);
	if (ret_rtp_ts != NULL)
		*ret_rtp_ts = get32(sr + 16);
	return 1;
}
