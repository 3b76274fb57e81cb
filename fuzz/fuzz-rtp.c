/* Fuzz target: RTP packets and RTCP compound packets (cu_rtp_parse,
 * cu_rtcp_sender_report in lib/rtsp/rtp.c), every datagram a camera sends.
 *
 * Input: one datagram, parsed both as RTP and as RTCP.
 *
 * Properties: an RTP payload lies inside the packet after the 12-byte
 * header; the header fields are those of the bytes; the RTCP answer is 1, 0
 * or CU_ERR_FORMAT / CU_ERR_LIMIT, and an SR's fields are bytes of the
 * packet. */
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "fuzz.h"
#include "rtsp/proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *pkt = malloc(size ? size : 1);
	if (pkt == NULL)
		abort();
	memcpy(pkt, data, size);

	struct cu_rtp rtp;
	int r = cu_rtp_parse(pkt, size, &rtp);
	if (r == 0) {
		if (size < 12 || rtp.payload < pkt + 12 || rtp.payload > pkt + size ||
		    rtp.payload_len > size - 12 || (size_t)(rtp.payload - pkt) + rtp.payload_len > size)
			abort();
		if (rtp.seq != (pkt[2] << 8 | pkt[3]) || rtp.pt != (pkt[1] & 0x7f) ||
		    rtp.marker != ((pkt[1] & 0x80) != 0))
			abort();
		/* touch every payload byte, for ASan */
		volatile uint8_t sum = 0;
		for (size_t i = 0; i < rtp.payload_len; i++)
			sum += rtp.payload[i];
		(void)sum;
	} else if (r != CU_ERR_FORMAT && r != CU_ERR_LIMIT) {
		abort();
	}

	uint32_t ssrc = 0, ts = 0;
	uint64_t ntp = 0;
	r = cu_rtcp_sender_report(pkt, size, &ssrc, &ntp, &ts);
	if (r == 1) {
		if (size < 28 || size % 4 != 0)
			abort();
	} else if (r != 0 && r != CU_ERR_FORMAT && r != CU_ERR_LIMIT) {
		abort();
	}
	r = cu_rtcp_sender_report(pkt, size, NULL, NULL, NULL);
	if (r != 0 && r != 1 && r != CU_ERR_FORMAT && r != CU_ERR_LIMIT)
		abort();
	free(pkt);
	return 0;
}
