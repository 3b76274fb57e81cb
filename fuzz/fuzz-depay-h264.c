/* Fuzz target: the H.264 depacketiser (cu_depay_push in lib/rtsp/depay.c,
 * with cu_rtp_parse in front of it). fuzz-depay-h265.c is this file built
 * for H.265.
 *
 * Input: one options byte, then RTP packets, each behind its length as 2
 * bytes big-endian (a cut-off last packet ends the input). The packets go
 * to one depacketiser in order, then again to a second one with packets
 * lost (and, by option, duplicated and swapped), which is the path a real
 * network takes.
 *   options bits 0-3: N - 2, where every Nth packet is lost in the second run
 *   options bit 4:    give the depacketisers SDP parameter sets
 *   options bit 5:    in the second run also duplicate the packet after a
 *                     lost one and swap the two before it
 *   options bit 6:    feed an RFC 3640 AAC-hbr depacketiser instead (config
 *                     1190), so that its path is fuzzed too
 *
 * Properties: every access unit out is 1..CU_FRAME_MAX bytes of Annex B
 * starting with a 4-byte start code (AAC: ADTS frames whose lengths add up
 * to exactly the unit); the first one out is a key frame; each push answers
 * 1, 0, or CU_ERR_FORMAT / CU_ERR_UNSUPPORTED (AAC also CU_ERR_LIMIT); the
 * packet count in the stats is the number of pushes. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "fuzz.h"
#include "rtsp/proto.h"

#ifdef DEPAY_H265
#define DEPAY_CODEC CU_CODEC_H265
#else
#define DEPAY_CODEC CU_CODEC_H264
#endif

#define PACKETS_MAX 4096

struct packet {
	const uint8_t *p;
	size_t n;
};

static struct packet packets[PACKETS_MAX];

#ifndef DEPAY_H265
static const uint8_t param_sets[] = {0, 0, 0, 1, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xb4,
                                     0, 0, 0, 1, 0x68, 0xef, 0x04, 0x72, 0xc0};
#else
static const uint8_t param_sets[] = {0, 0, 0, 1, 0x40, 0x01, 0x0c, 0x01, 0xff,
                                     0, 0, 0, 1, 0x42, 0x01, 0x01, 0x01, 0x60,
                                     0, 0, 0, 1, 0x44, 0x01, 0xc1, 0x72, 0xb4};
#endif

struct run {
	cu_depay *d;
	bool aac;
	uint64_t pushes;
	bool any_out;
};

static void
push(struct run *r, const struct packet *k)
{
	/* an exactly sized copy, so that ASan sees reads past the packet */
	uint8_t *copy = malloc(k->n ? k->n : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, k->p, k->n);
	struct cu_rtp rtp;
	if (cu_rtp_parse(copy, k->n, &rtp) == 0) {
		struct cu_au au;
		int e = cu_depay_push(r->d, &rtp, &au);
		r->pushes++;
		if (e == 1 && r->aac) {
			if (au.data == NULL || !au.key)
				abort();
			/* ADTS frames back to back, each 8..8191 bytes */
			size_t off = 0;
			while (off < au.len) {
				const uint8_t *h = au.data + off;
				if (au.len - off < 8 || h[0] != 0xff || h[1] != 0xf1)
					abort();
				size_t fl = (size_t)(h[3] & 3) << 11 | (size_t)h[4] << 3 | h[5] >> 5;
				if (fl < 8 || fl > au.len - off)
					abort();
				off += fl;
			}
		} else if (e == 1) {
			if (au.data == NULL || au.len < 5 || au.len > CU_FRAME_MAX ||
			    memcmp(au.data, "\0\0\0\1", 4) != 0)
				abort();
			if (!r->any_out && !au.key)
				abort();
			r->any_out = true;
			volatile uint8_t sum = 0;
			for (size_t i = 0; i < au.len; i++)
				sum += au.data[i];
			(void)sum;
		} else if (e != 0 && e != CU_ERR_FORMAT && e != CU_ERR_UNSUPPORTED &&
		           !(r->aac && e == CU_ERR_LIMIT)) {
			abort();
		}
	}
	free(copy);
}

static void
finish(struct run *r)
{
	struct cu_depay_stats st;
	cu_depay_get_stats(r->d, &st);
	if (st.packets != r->pushes || st.malformed > st.packets || st.out_of_order > st.packets)
		abort();
	cu_depay_free(r->d);
}

static void
start(struct run *r, bool with_sets, bool aac)
{
	memset(r, 0, sizeof(*r));
	r->aac = aac;
	int e = aac ? cu_depay_new(CU_CODEC_AAC, NULL, 0, "1190", &r->d)
	            : cu_depay_new(DEPAY_CODEC, with_sets ? param_sets : NULL,
	                           with_sets ? sizeof(param_sets) : 0, NULL, &r->d);
	if (e != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t opt = data[0];
	size_t every = (size_t)(opt & 0x0f) + 2;
	bool with_sets = (opt & 0x10) != 0, shuffle = (opt & 0x20) != 0, aac = (opt & 0x40) != 0;

	size_t n = 0, off = 1;
	while (n < PACKETS_MAX && size - off >= 2) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (len > size - off)
			break;
		packets[n].p = data + off;
		packets[n].n = len;
		n++;
		off += len;
	}

	struct run r;
	start(&r, with_sets, aac);
	for (size_t i = 0; i < n; i++)
		push(&r, &packets[i]);
	finish(&r);

	/* the lossy network */
	start(&r, with_sets, aac);
	for (size_t i = 0; i < n; i++) {
		if (i % every == every - 1)
			continue;
		if (shuffle && i % every == every - 3 && i + 1 < n) {
			push(&r, &packets[i + 1]);
			push(&r, &packets[i]);
			i++;
			continue;
		}
		push(&r, &packets[i]);
		if (shuffle && i > 0 && i % every == 0)
			push(&r, &packets[i]);
	}
	finish(&r);
	return 0;
}
