/* custody — one picture of a recording as a JPEG with EXIF metadata.
 *
 * The frames from a key frame to the requested moment are decoded with
 * libavcodec; the picture shown at that moment is converted to full-range
 * 4:2:0 (libswscale) and encoded by the mjpeg encoder. Its Lavc comment is
 * left out (bitexact) and our own EXIF APP1 and COM segments go in after the
 * JFIF APP0. The EXIF bytes are laid out in docs/media-output.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "custody/mux.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/error.h"
#include "media/media_int.h"

#define QUALITY_MIN 2
#define QUALITY_MAX 31
#define US_PER_SEC INT64_C(1000000)

/* EXIF: TIFF field types and tags (Exif 2.32, CIPA DC-008). */
#define T_ASCII 2
#define T_LONG 4
#define T_UNDEFINED 7
#define TAG_IMAGE_DESCRIPTION 0x010E
#define TAG_SOFTWARE 0x0131
#define TAG_EXIF_IFD 0x8769
#define TAG_EXIF_VERSION 0x9000
#define TAG_DATE_TIME_ORIGINAL 0x9003
#define TAG_OFFSET_TIME_ORIGINAL 0x9011
#define TAG_SUB_SEC_TIME_ORIGINAL 0x9291
#define IFD_ENTRY_SIZE 12
#define EXIF_MAX 1024            /* our APP1 payload; the camera name bounds it */
#define COM_MAX 256
#define DESCRIPTION_PREFIX "custody camera "
#define SOFTWARE "custody"

/* ---- EXIF ---- */

struct tiff {
	uint8_t *p;       /* TIFF data (after "Exif\0\0") */
	size_t cap;
	size_t len;
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

/* Appends n bytes (padded to an even length: TIFF values start on word
 * boundaries); returns their offset. */
static uint32_t
tiff_add(struct tiff *t, const void *data, size_t n)
{
	uint32_t off = (uint32_t)t->len;

	memcpy(t->p + t->len, data, n);
	t->len += n;
	if (t->len & 1)
		t->p[t->len++] = 0;
	return off;
}

/* One IFD entry at e: a value of up to 4 bytes is stored in it, a longer one
 * is appended and pointed to. Values are counted with their NUL (ASCII). */
static void
ifd_entry(struct tiff *t, uint8_t *e, unsigned tag, unsigned type, const void *val, size_t n)
{
	put16(e, tag);
	put16(e + 2, type);
	put32(e + 4, (uint32_t)n);
	memset(e + 8, 0, 4);
	if (n <= 4)
		memcpy(e + 8, val, n);
	else
		put32(e + 8, tiff_add(t, val, n));
}

/* Builds the APP1 payload "Exif\0\0" + big-endian TIFF:
 *   IFD0: ImageDescription (when there is a camera), Software, ExifIFD
 *   Exif IFD: ExifVersion "0232", DateTimeOriginal, OffsetTimeOriginal,
 *   SubSecTimeOriginal. */
static int
exif_build(int64_t t_us, const char *camera, uint8_t *out, size_t cap, size_t *ret_len)
{
	char iso[CU_TIME_ISO_MAX], dto[20], subsec[7], desc[sizeof(DESCRIPTION_PREFIX) +
	    CU_CAMERA_NAME_MAX];
	static const char offset[7] = "+00:00";
	struct tiff t = { out + 6, cap - 6, 0 };
	unsigned n0 = camera ? 3 : 2;
	int n;

	if (cap < EXIF_MAX)
		return cu_fail(CU_ERR_LIMIT, "EXIF buffer too small");
	/* "YYYY-MM-DDTHH:MM:SS..." -> "YYYY:MM:DD HH:MM:SS" */
	if (!cu_time_text(t_us, iso))
		return cu_fail(CU_ERR_INVAL, "time %lld is outside years 1970..9999", (long long)t_us);
	memcpy(dto, iso, 19);
	dto[4] = dto[7] = ':';
	dto[10] = ' ';
	dto[19] = '\0';
	n = snprintf(subsec, sizeof(subsec), "%06lld", (long long)(t_us % US_PER_SEC));
	if (n != 6)
		return cu_fail(CU_ERR_INVAL, "cannot format the sub-second time");
	if (camera) {
		n = snprintf(desc, sizeof(desc), DESCRIPTION_PREFIX "%s", camera);
		if (n < 0 || (size_t)n >= sizeof(desc))
			return cu_fail(CU_ERR_LIMIT, "camera name too long for the EXIF description");
	}

	memcpy(out, "Exif\0\0", 6);
	/* TIFF header: big-endian ("MM"), 42, IFD0 at 8. */
	memcpy(t.p, "MM\0\x2A\0\0\0\x08", 8);
	t.len = 8;
	/* IFD0: count, entries, next-IFD offset 0; values after it. */
	uint8_t *ifd0 = t.p + t.len;
	put16(ifd0, n0);
	t.len += 2 + n0 * IFD_ENTRY_SIZE;
	put32(t.p + t.len, 0);
	t.len += 4;
	uint8_t *e = ifd0 + 2;
	if (camera) {
		ifd_entry(&t, e, TAG_IMAGE_DESCRIPTION, T_ASCII, desc, strlen(desc) + 1);
		e += IFD_ENTRY_SIZE;
	}
	ifd_entry(&t, e, TAG_SOFTWARE, T_ASCII, SOFTWARE, sizeof(SOFTWARE));
	e += IFD_ENTRY_SIZE;
	uint8_t *exif_ptr = e;   /* filled once the Exif IFD's offset is known */

	uint32_t exif_off = (uint32_t)t.len;
	uint8_t *ifd = t.p + t.len;
	put16(ifd, 4);
	t.len += 2 + 4 * IFD_ENTRY_SIZE;
	put32(t.p + t.len, 0);
	t.len += 4;
	e = ifd + 2;
	ifd_entry(&t, e, TAG_EXIF_VERSION, T_UNDEFINED, "0232", 4);
	ifd_entry(&t, e + 12, TAG_DATE_TIME_ORIGINAL, T_ASCII, dto, sizeof(dto));
	ifd_entry(&t, e + 24, TAG_OFFSET_TIME_ORIGINAL, T_ASCII, offset, sizeof(offset));
	ifd_entry(&t, e + 36, TAG_SUB_SEC_TIME_ORIGINAL, T_ASCII, subsec, sizeof(subsec));

	put16(exif_ptr, TAG_EXIF_IFD);
	put16(exif_ptr + 2, T_LONG);
	put32(exif_ptr + 4, 1);
	put32(exif_ptr + 8, exif_off);
	*ret_len = 6 + t.len;
	return 0;
}

/* ---- JPEG assembly ---- */

/* Checks the encoder's JPEG (SOI, well-formed segments up to SOF and SOS, EOI
 * at the end) and puts segs (complete APPn/COM segments) in after SOI and a
 * JFIF APP0. */
static int
jpeg_splice(const uint8_t *p, size_t len, const uint8_t *segs, size_t segs_len,
            uint8_t **ret, size_t *ret_len)
{
	size_t i = 2, at = 2;
	bool sof = false;

	if (len < 4 || p[0] != 0xFF || p[1] != 0xD8 || p[len - 2] != 0xFF || p[len - 1] != 0xD9)
		return cu_fail(CU_ERR_MEDIA, "encoded JPEG lacks SOI or EOI");
	for (;;) {
		if (i + 4 > len || p[i] != 0xFF)
			return cu_fail(CU_ERR_MEDIA, "encoded JPEG: bad segment at byte %zu", i);
		uint8_t mk = p[i + 1];
		size_t seg = (size_t)p[i + 2] << 8 | p[i + 3];
		if (seg < 2 || i + 2 + seg > len)
			return cu_fail(CU_ERR_MEDIA, "encoded JPEG: segment at byte %zu overruns", i);
		if (mk == 0xDA)
			break;
		if (mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC)
			sof = true;
		if (i == 2 && mk == 0xE0)
			at = i + 2 + seg;
		i += 2 + seg;
	}
	if (!sof)
		return cu_fail(CU_ERR_MEDIA, "encoded JPEG has no SOF before SOS");
	if (len + segs_len > CU_STILL_JPEG_MAX)
		return cu_fail(CU_ERR_LIMIT, "JPEG of %zu bytes is over the %u-byte limit",
		    len + segs_len, CU_STILL_JPEG_MAX);
	uint8_t *out = malloc(len + segs_len);
	if (!out)
		return cu_fail(CU_ERR_NOMEM, "no memory for a %zu-byte JPEG", len + segs_len);
	memcpy(out, p, at);
	memcpy(out + at, segs, segs_len);
	memcpy(out + at + segs_len, p + at, len - at);
	*ret = out;
	*ret_len = len + segs_len;
	return 0;
}

/* APP1 (EXIF) and COM segments for the picture. */
static int
metadata_segments(int64_t pic_us, int64_t at_us, const char *camera, uint8_t *out,
                  size_t cap, size_t *ret_len)
{
	uint8_t exif[EXIF_MAX];
	char pic_iso[CU_TIME_ISO_MAX], at_iso[CU_TIME_ISO_MAX], com[COM_MAX];
	size_t exif_len = 0;
	int r, n;

	if ((r = exif_build(pic_us, camera, exif, sizeof(exif), &exif_len)) < 0)
		return r;
	if (!cu_time_text(pic_us, pic_iso))
		return cu_fail(CU_ERR_INVAL, "time %lld is outside years 1970..9999", (long long)pic_us);
	if (!cu_time_text(at_us, at_iso))
		return cu_fail(CU_ERR_INVAL, "time %lld is outside years 1970..9999", (long long)at_us);
	n = snprintf(com, sizeof(com), "custody camera=%s time=%s requested=%s",
	    camera ? camera : "-", pic_iso, at_iso);
	if (n < 0 || (size_t)n >= sizeof(com))
		return cu_fail(CU_ERR_LIMIT, "JPEG comment too long");
	size_t com_len = (size_t)n;
	if (4 + exif_len + 4 + com_len > cap)
		return cu_fail(CU_ERR_LIMIT, "JPEG metadata too long");
	out[0] = 0xFF;
	out[1] = 0xE1;
	put16(out + 2, (unsigned)(2 + exif_len));
	memcpy(out + 4, exif, exif_len);
	uint8_t *c = out + 4 + exif_len;
	c[0] = 0xFF;
	c[1] = 0xFE;
	put16(c + 2, (unsigned)(2 + com_len));
	memcpy(c + 4, com, com_len);
	*ret_len = 4 + exif_len + 4 + com_len;
	return 0;
}

/* ---- decoding ---- */

struct pick {
	AVFrame *best;        /* the picture shown at at_us so far */
	int64_t best_pts;
	int64_t first_pts;    /* earliest picture decoded, INT64_MAX none */
	int64_t last_pts;     /* latest picture decoded, INT64_MIN none */
	int64_t at_us;
};

static int
averr(int err, const char *what, int64_t ts)
{
	char msg[AV_ERROR_MAX_STRING_SIZE];

	if (err == AVERROR(ENOMEM))
		return cu_fail(CU_ERR_NOMEM, "out of memory %s", what);
	if (av_strerror(err, msg, sizeof(msg)) < 0)
		cu_fmt_cut(msg, sizeof(msg), "error %d", err);
	if (ts >= 0)
		return cu_fail(CU_ERR_MEDIA, "%s at %lld failed (%s)", what, (long long)ts, msg);
	return cu_fail(CU_ERR_MEDIA, "%s failed (%s)", what, msg);
}

/* Takes the decoder's pictures, keeping the last one at or before at_us. */
static int
drain(AVCodecContext *dec, AVFrame *frame, struct pick *pk)
{
	for (;;) {
		int r = avcodec_receive_frame(dec, frame);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
			return 0;
		if (r < 0)
			return averr(r, "decoding", -1);
		int64_t pts = frame->pts != AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
		if (pts != AV_NOPTS_VALUE) {
			if (pts < pk->first_pts)
				pk->first_pts = pts;
			if (pts > pk->last_pts)
				pk->last_pts = pts;
			if (pts <= pk->at_us && (!pk->best->buf[0] || pts >= pk->best_pts)) {
				av_frame_unref(pk->best);
				av_frame_move_ref(pk->best, frame);
				pk->best_pts = pts;
				continue;
			}
		}
		av_frame_unref(frame);
	}
}

static int
decode_all(const cu_frame *const *frames, size_t n, int codec, struct pick *pk)
{
	const AVCodec *c = avcodec_find_decoder(codec == CU_CODEC_H264 ? AV_CODEC_ID_H264 :
	    codec == CU_CODEC_H265 ? AV_CODEC_ID_HEVC : AV_CODEC_ID_MJPEG);
	AVCodecContext *dec = NULL;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *frame = av_frame_alloc();
	int r;

	if (!c) {
		r = cu_fail(CU_ERR_UNSUPPORTED, "libavcodec has no %s decoder", cu_codec_name(codec));
		goto out;
	}
	dec = avcodec_alloc_context3(c);
	if (!dec || !pkt || !frame) {
		r = cu_fail(CU_ERR_NOMEM, "no memory for the %s decoder", cu_codec_name(codec));
		goto out;
	}
	dec->pkt_timebase = (AVRational){ 1, 1000000 };
	dec->max_pixels = CU_STILL_PIXELS_MAX;
	dec->thread_count = 0;   /* one per CPU */
	if ((r = avcodec_open2(dec, c, NULL)) < 0) {
		r = averr(r, "opening the decoder", -1);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const cu_frame *f = frames[i];
		if (f->track != CU_TRACK_VIDEO)
			continue;
		if (av_new_packet(pkt, (int)f->len) < 0) {
			r = cu_fail(CU_ERR_NOMEM, "no memory for a %zu-byte frame", f->len);
			goto out;
		}
		memcpy(pkt->data, f->data, f->len);
		pkt->pts = pkt->dts = f->ts_us;
		pkt->duration = f->dur_us;
		if (f->key)
			pkt->flags |= AV_PKT_FLAG_KEY;
		r = avcodec_send_packet(dec, pkt);
		av_packet_unref(pkt);
		if (r < 0) {
			r = averr(r, "decoding the frame", f->ts_us);
			goto out;
		}
		if ((r = drain(dec, frame, pk)) < 0)
			goto out;
	}
	if ((r = avcodec_send_packet(dec, NULL)) < 0) {
		r = averr(r, "flushing the decoder", -1);
		goto out;
	}
	r = drain(dec, frame, pk);
out:
	av_frame_free(&frame);
	av_packet_free(&pkt);
	avcodec_free_context(&dec);
	return r;
}

/* ---- encoding ---- */

/* The picture as full-range 4:2:0, BT.601 (what JPEG decoders assume). */
static int
to_yuvj420(const AVFrame *src, AVFrame **ret)
{
	struct SwsContext *sws = NULL;
	AVFrame *dst = av_frame_alloc();
	int r;

	if (!dst)
		return cu_fail(CU_ERR_NOMEM, "no memory for the picture");
	dst->format = AV_PIX_FMT_YUVJ420P;
	dst->width = src->width;
	dst->height = src->height;
	dst->color_range = AVCOL_RANGE_JPEG;
	if (av_frame_get_buffer(dst, 0) < 0) {
		r = cu_fail(CU_ERR_NOMEM, "no memory for a %dx%d picture", src->width, src->height);
		goto fail;
	}
	sws = sws_getContext(src->width, src->height, src->format, dst->width, dst->height,
	    AV_PIX_FMT_YUVJ420P, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL,
	    NULL, NULL);
	if (!sws) {
		const char *name = av_get_pix_fmt_name(src->format);
		r = cu_fail(CU_ERR_UNSUPPORTED, "cannot convert %s pictures to JPEG",
		    name ? name : "unknown");
		goto fail;
	}
	cu_media_sws_full_range(sws, src);
	r = sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
	    dst->data, dst->linesize);
	sws_freeContext(sws);
	if (r != dst->height) {
		r = cu_fail(CU_ERR_MEDIA, "converting the picture to JPEG's format failed");
		goto fail;
	}
	*ret = dst;
	return 0;
fail:
	av_frame_free(&dst);
	return r;
}

static int
encode_jpeg(const AVFrame *pic, int quality, AVPacket *pkt)
{
	const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
	AVCodecContext *enc = NULL;
	AVFrame *yuv = NULL;
	int r;

	if (!c)
		return cu_fail(CU_ERR_UNSUPPORTED, "libavcodec has no mjpeg encoder");
	if ((r = to_yuvj420(pic, &yuv)) < 0)
		return r;
	enc = avcodec_alloc_context3(c);
	if (!enc) {
		r = cu_fail(CU_ERR_NOMEM, "no memory for the JPEG encoder");
		goto out;
	}
	enc->width = yuv->width;
	enc->height = yuv->height;
	enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
	enc->color_range = AVCOL_RANGE_JPEG;
	enc->time_base = (AVRational){ 1, 25 };
	enc->sample_aspect_ratio = pic->sample_aspect_ratio.num > 0 ? pic->sample_aspect_ratio :
	    (AVRational){ 1, 1 };
	/* Fixed quantiser; bitexact leaves out the encoder's "Lavc" comment. */
	enc->flags |= AV_CODEC_FLAG_QSCALE | AV_CODEC_FLAG_BITEXACT;
	enc->global_quality = quality * FF_QP2LAMBDA;
	if ((r = avcodec_open2(enc, c, NULL)) < 0) {
		r = averr(r, "opening the JPEG encoder", -1);
		goto out;
	}
	yuv->quality = enc->global_quality;
	yuv->pts = 0;
	if ((r = avcodec_send_frame(enc, yuv)) < 0 || (r = avcodec_send_frame(enc, NULL)) < 0) {
		r = averr(r, "encoding the JPEG", -1);
		goto out;
	}
	if ((r = avcodec_receive_packet(enc, pkt)) < 0) {
		r = averr(r, "encoding the JPEG", -1);
		goto out;
	}
	r = 0;
out:
	av_frame_free(&yuv);
	avcodec_free_context(&enc);
	return r;
}

/* ---- the still ---- */

static int
check_args(const cu_frame *const *frames, size_t n, const struct cu_still_opts *o,
           int *ret_codec)
{
	int codec = 0, r;

	if (!frames || !o)
		return cu_fail(CU_ERR_INVAL, "cu_still_jpeg: NULL argument");
	if (n == 0 || n > CU_STILL_FRAMES_MAX)
		return cu_fail(CU_ERR_LIMIT, "a still is made from 1 to %d frames, not %zu",
		    CU_STILL_FRAMES_MAX, n);
	if (o->quality != 0 && (o->quality < QUALITY_MIN || o->quality > QUALITY_MAX))
		return cu_fail(CU_ERR_INVAL, "JPEG quality %d: use %d (best) to %d", o->quality,
		    QUALITY_MIN, QUALITY_MAX);
	if (o->at_us < 0)
		return cu_fail(CU_ERR_INVAL, "still time %lld is before 1970", (long long)o->at_us);
	if (o->camera && (r = cu_camera_name_check(o->camera)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const cu_frame *f = frames[i];
		if (!f || !f->data || f->len == 0 || f->len > CU_FRAME_MAX)
			return cu_fail(CU_ERR_INVAL, "still: frame %zu is missing, empty or over "
			    "%u bytes", i, CU_FRAME_MAX);
		if (f->track != CU_TRACK_VIDEO)
			continue;
		if (codec == 0) {
			if (f->codec != CU_CODEC_H264 && f->codec != CU_CODEC_H265 &&
			    f->codec != CU_CODEC_MJPEG)
				return cu_fail(CU_ERR_UNSUPPORTED, "still: cannot decode %s video",
				    cu_codec_name(f->codec));
			if (!f->key)
				return cu_fail(CU_ERR_INVAL, "still: the first video frame (at %lld) "
				    "is not a key frame", (long long)f->ts_us);
			codec = f->codec;
		} else if (f->codec != codec) {
			return cu_fail(CU_ERR_INVAL, "still: frame %zu is %s in %s video", i,
			    cu_codec_name(f->codec), cu_codec_name(codec));
		}
	}
	if (codec == 0)
		return cu_fail(CU_ERR_INVAL, "still: no video frame given");
	*ret_codec = codec;
	return 0;
}

/* Duration of the frame with time ts, 0 when unknown. */
static int64_t
frame_duration(const cu_frame *const *frames, size_t n, int64_t ts)
{
	for (size_t i = 0; i < n; i++)
		if (frames[i]->track == CU_TRACK_VIDEO && frames[i]->ts_us == ts)
			return frames[i]->dur_us;
	return 0;
}

/* Makes the JPEG (see mux.h). */
int
cu_still_jpeg(const cu_frame *const *frames, size_t n, const struct cu_still_opts *o,
              uint8_t **ret_jpeg, size_t *ret_len)
{
	struct pick pk = { NULL, 0, INT64_MAX, INT64_MIN, 0 };
	uint8_t segs[4 + EXIF_MAX + 4 + COM_MAX];
	AVPacket *pkt = NULL;
	char at_iso[CU_TIME_ISO_MAX];
	size_t segs_len = 0;
	int codec = 0, r;

	if (!ret_jpeg || !ret_len)
		return cu_fail(CU_ERR_INVAL, "cu_still_jpeg: NULL argument");
	if ((r = check_args(frames, n, o, &codec)) < 0)
		return r;
	av_log_set_level(AV_LOG_QUIET);
	if (!cu_time_text(o->at_us, at_iso))
		return cu_fail(CU_ERR_INVAL, "time %lld is outside years 1970..9999", (long long)o->at_us);

	pk.at_us = o->at_us;
	pk.best = av_frame_alloc();
	pkt = av_packet_alloc();
	if (!pk.best || !pkt) {
		r = cu_fail(CU_ERR_NOMEM, "no memory for the still");
		goto out;
	}
	if ((r = decode_all(frames, n, codec, &pk)) < 0)
		goto out;
	if (!pk.best->buf[0]) {
		if (pk.first_pts == INT64_MAX)
			r = cu_fail(CU_ERR_MEDIA, "still at %s: the %s frames gave no picture",
			    at_iso, cu_codec_name(codec));
		else
			r = cu_fail(CU_ERR_NOTFOUND, "still at %s: the first picture is later "
			    "(%lld µs after)", at_iso, (long long)(pk.first_pts - o->at_us));
		goto out;
	}
	if (pk.best_pts == pk.last_pts) {
		int64_t dur = frame_duration(frames, n, pk.best_pts);
		if (dur > 0 && o->at_us >= pk.best_pts + dur) {
			r = cu_fail(CU_ERR_NOTFOUND, "still at %s: the last picture given ends %lld "
			    "µs before", at_iso, (long long)(o->at_us - pk.best_pts - dur));
			goto out;
		}
	}
	if (pk.best->decode_error_flags || (pk.best->flags & AV_FRAME_FLAG_CORRUPT)) {
		r = cu_fail(CU_ERR_MEDIA, "still at %s: the picture at %lld is damaged (decoder "
		    "error flags 0x%x)", at_iso, (long long)pk.best_pts,
		    (unsigned)pk.best->decode_error_flags);
		goto out;
	}
	if (pk.best->width <= 0 || pk.best->height <= 0 ||
	    pk.best->width > CU_STILL_SIDE_MAX || pk.best->height > CU_STILL_SIDE_MAX ||
	    (uint64_t)pk.best->width * (uint64_t)pk.best->height > CU_STILL_PIXELS_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "still: a %dx%d picture is over the size limit",
		    pk.best->width, pk.best->height);
		goto out;
	}
	if ((r = encode_jpeg(pk.best, o->quality ? o->quality : CU_STILL_QUALITY_DEFAULT,
	    pkt)) < 0)
		goto out;
	if ((r = metadata_segments(pk.best_pts, o->at_us, o->camera, segs, sizeof(segs),
	    &segs_len)) < 0)
		goto out;
	r = jpeg_splice(pkt->data, (size_t)pkt->size, segs, segs_len, ret_jpeg, ret_len);
out:
	av_packet_free(&pkt);
	av_frame_free(&pk.best);
	return r;
}
