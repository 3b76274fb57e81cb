/* custody — reading frames out of media files through libavformat.
 *
 * The file is opened by us (O_NOFOLLOW, regular files only) and handed to
 * libavformat through a custom AVIOContext, so the path is never parsed as a
 * URL and no demuxer can open a second file behind our back (the demuxers
 * allowed are listed in DEMUXERS; none of them follows references).
 *
 * H.264/H.265 from MP4/MKV (length-prefixed NAL units) go through the
 * *_mp4toannexb bitstream filters, which also put the parameter sets in front
 * of every key frame; Annex B input passes those filters unchanged. AAC from
 * MP4/MKV (raw access units) gets a 7-byte ADTS header built from the
 * AudioSpecificConfig; AAC that already carries ADTS passes as is. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/avutil.h>
#include <libavutil/log.h>
#include <libavutil/mathematics.h>

#include "custody/media.h"
#include "custody/error.h"
#include "custody/text.h"

/* Demuxers we let libavformat use: the containers cameras and VMS exports
 * produce. Playlist and concat demuxers (hls, dash, concat, image2) are left
 * out on purpose: they read other files, which an evidence import must not. */
#define DEMUXERS "mov,matroska,avi,mpegts,flv,h264,hevc,mjpeg,mpjpeg,aac"

#define IO_BUFFER_SIZE (64 * 1024)          /* AVIOContext buffer */
#define PROBE_SIZE_MAX (5 * 1024 * 1024)     /* bytes read to find the streams */
#define ANALYZE_DURATION_MAX (5 * AV_TIME_BASE) /* µs of media read for the same */
#define STREAMS_MAX 64                       /* more streams than this: not a camera file */
#define FOUND_MAX 160                        /* "found: ..." list in error details */

#define ADTS_HEADER_SIZE 7
#define ADTS_FRAME_MAX 8191                  /* 13-bit frame_length field, header included */
#define AAC_FRAME_SAMPLES 1024
#define DEFAULT_FPS 25

static const AVRational usec = { 1, 1000000 };

/* One stream we take frames from. */
struct track {
	int index;               /* stream index in fmt, -1 if none */
	int codec;               /* enum cu_codec */
	AVBSFContext *bsf;       /* mp4toannexb for H.264/H.265, else NULL */
	AVRational tb;           /* time base of the packets we get */
	AVRational period;       /* seconds per frame, for synthesized timestamps */
	bool has_origin;         /* origin_us is set */
	int64_t origin_us;       /* last real timestamp (file time, µs) */
	int64_t synth;           /* frames since origin_us */
	/* AAC only: ADTS fields from the AudioSpecificConfig. */
	bool asc;                /* the fields below are valid */
	uint8_t profile;         /* audioObjectType - 1 (0..3) */
	uint8_t freq_index;      /* sampling_frequency_index (0..12) */
	uint8_t channels;        /* channel_configuration (1..7) */
};

struct cu_media_src {
	char *path;              /* for error details */
	int fd;
	int read_errno;          /* errno of a failed read(), 0 if none */
	AVIOContext *avio;
	AVFormatContext *fmt;
	AVPacket *pkt;           /* the packet the last frame points into */
	struct track video;
	struct track audio;
	bool have_base;          /* base_us is set */
	int64_t base_us;         /* file time of the first frame meant to be shown */
	bool eof;                /* av_read_frame reached the end */
	bool bsf_flushed;        /* the video filter was told about the end */
	bool bsf_pending;        /* the video filter may have output */
	uint8_t adts[ADTS_FRAME_MAX]; /* ADTS header + AAC frame */
};

/* Static string, never NULL: "h264", "h265", "mjpeg", "aac" or "unknown". */
const char *
cu_codec_name(int codec)
{
	switch (codec) {
	case CU_CODEC_H264: return "h264";
	case CU_CODEC_H265: return "h265";
	case CU_CODEC_MJPEG: return "mjpeg";
	case CU_CODEC_AAC: return "aac";
	}
	return "unknown";
}

/* ---- I/O on our own descriptor ---- */

static int
io_read(void *opaque, uint8_t *buf, int size)
{
	cu_media_src *src = opaque;
	ssize_t n;

	do {
		n = read(src->fd, buf, (size_t)size);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		src->read_errno = errno;
		return AVERROR(src->read_errno);
	}
	if (n == 0)
		return AVERROR_EOF;
	return (int)n;
}

static int64_t
io_seek(void *opaque, int64_t offset, int whence)
{
	cu_media_src *src = opaque;
	struct stat st;

	whence &= ~AVSEEK_FORCE;
	if (whence == AVSEEK_SIZE) {
		if (fstat(src->fd, &st) < 0)
			return AVERROR(errno);
		return st.st_size;
	}
	if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
		return AVERROR(EINVAL);
	off_t r = lseek(src->fd, (off_t)offset, whence);
	if (r < 0)
		return AVERROR(errno);
	return r;
}

static const char *
averr_text(int err, char *buf, size_t size)
{
	if (av_strerror(err, buf, size) < 0)
		cu_fmt_cut(buf, size, "error %d", err);
	return buf;
}

/* ---- AAC ---- */

static const int aac_rates[13] = {
	96000, 88200, 64000, 48000, 44100, 32000, 24000,
	22050, 16000, 12000, 11025, 8000, 7350,
};

struct bits {
	const uint8_t *p;
	size_t len;   /* bytes */
	size_t pos;   /* bits read */
};

/* Reads n (<= 24) bits, or returns -1 past the end. */
static int
bits_get(struct bits *b, unsigned n)
{
	int v = 0;

	if (b->pos + n > b->len * 8)
		return -1;
	for (unsigned i = 0; i < n; i++, b->pos++)
		v = (v << 1) | ((b->p[b->pos / 8] >> (7 - b->pos % 8)) & 1);
	return v;
}

static int
asc_object_type(struct bits *b)
{
	int aot = bits_get(b, 5);
	if (aot == 31) {
		int ext = bits_get(b, 6);
		aot = ext < 0 ? -1 : 32 + ext;
	}
	return aot;
}

static int
asc_freq_index(struct bits *b)
{
	int idx = bits_get(b, 4);
	if (idx == 15) {
		/* An explicit rate ADTS can carry only if it is in the table. */
		int rate = bits_get(b, 24);
		idx = -1;
		for (int i = 0; i < 13 && rate > 0; i++)
			if (aac_rates[i] == rate)
				idx = i;
	}
	return idx;
}

/* Fills t->profile/freq_index/channels from an AudioSpecificConfig
 * (ISO/IEC 14496-3 1.6.2.1). HE-AAC (SBR/PS, explicit signalling) becomes its
 * AAC-LC core, which is how ADTS carries it (implicit signalling). */
static int
asc_parse(const char *path, struct track *t, const uint8_t *p, size_t len)
{
	struct bits b = { p, len, 0 };
	int aot = asc_object_type(&b);
	int freq = asc_freq_index(&b);
	int chan = bits_get(&b, 4);

	if (aot == 5 || aot == 29) {
		/* extensionSamplingFrequencyIndex, then the core object type */
		if (asc_freq_index(&b) < 0)
			return cu_fail(CU_ERR_MEDIA, "%s: AAC AudioSpecificConfig is truncated", path);
		aot = asc_object_type(&b);
	}
	if (aot < 0 || freq < 0 || chan < 0)
		return cu_fail(CU_ERR_MEDIA,
		    "%s: AAC AudioSpecificConfig is truncated or has an unknown sampling rate", path);
	if (aot < 1 || aot > 4)
		return cu_fail(CU_ERR_UNSUPPORTED,
		    "%s: AAC object type %d cannot be carried in ADTS (1..4 can)", path, aot);
	if (freq > 12)
		return cu_fail(CU_ERR_UNSUPPORTED, "%s: AAC sampling frequency index %d is reserved",
		    path, freq);
	if (chan < 1 || chan > 7)
		return cu_fail(CU_ERR_UNSUPPORTED,
		    "%s: AAC channel configuration %d cannot be carried in ADTS (1..7 can)", path, chan);
	t->profile = (uint8_t)(aot - 1);
	t->freq_index = (uint8_t)freq;
	t->channels = (uint8_t)chan;
	t->asc = true;
	return 0;
}

static bool
is_adts(const uint8_t *p, size_t len)
{
	return len >= 2 && p[0] == 0xFF && (p[1] & 0xF0) == 0xF0;
}

/* ADTS fixed + variable header, MPEG-4, no CRC, buffer fullness 0x7FF (VBR),
 * one raw data block. */
static void
adts_header(uint8_t h[static ADTS_HEADER_SIZE], const struct track *t, size_t frame_len)
{
	h[0] = 0xFF;
	h[1] = 0xF1;
	h[2] = (uint8_t)((t->profile << 6) | (t->freq_index << 2) | (t->channels >> 2));
	h[3] = (uint8_t)(((t->channels & 3) << 6) | ((frame_len >> 11) & 3));
	h[4] = (uint8_t)((frame_len >> 3) & 0xFF);
	h[5] = (uint8_t)(((frame_len & 7) << 5) | 0x1F);
	h[6] = 0xFC;
}

/* ---- opening ---- */

static bool
rate_ok(AVRational r)
{
	if (r.num <= 0 || r.den <= 0)
		return false;
	int64_t us = av_rescale(1000000, r.den, r.num);
	return us > 0 && us <= CU_FRAME_DURATION_MAX;
}

static void
track_init(struct track *t)
{
	memset(t, 0, sizeof(*t));
	t->index = -1;
}

static int
video_codec(enum AVCodecID id)
{
	switch (id) {
	case AV_CODEC_ID_H264: return CU_CODEC_H264;
	case AV_CODEC_ID_HEVC: return CU_CODEC_H265;
	case AV_CODEC_ID_MJPEG: return CU_CODEC_MJPEG;
	default: return 0;
	}
}

/* "vp9, opus" for the error detail when no stream is usable. */
static void
found_list(const AVFormatContext *fmt, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	if (fmt->nb_streams == 0) {
		cu_fmt_cut(buf, size, "no streams");
		return;
	}
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		const char *name = avcodec_get_name(fmt->streams[i]->codecpar->codec_id);
		int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", name);
		if (n < 0 || (size_t)n >= size - used) {
			/* A cut list still says what was there; mark the cut. */
			if (size >= 4)
				memcpy(buf + size - 4, "...", 4);
			return;
		}
		used += (size_t)n;
	}
}

static int
open_file(cu_media_src *src)
{
	struct stat st;

	src->fd = open(src->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (src->fd < 0) {
		if (errno == ELOOP)
			return cu_fail(CU_ERR_INVAL, "%s: is a symbolic link, refused", src->path);
		return cu_fail_errno(errno, "%s: cannot open", src->path);
	}
	if (fstat(src->fd, &st) < 0)
		return cu_fail_errno(errno, "%s: cannot stat", src->path);
	if (!S_ISREG(st.st_mode))
		return cu_fail(CU_ERR_INVAL, "%s: not a regular file (%s)", src->path,
		    S_ISDIR(st.st_mode) ? "a directory" : "a device, socket or pipe");
	return 0;
}

static int
open_failed(cu_media_src *src, int err)
{
	char msg[AV_ERROR_MAX_STRING_SIZE];

	if (src->read_errno)
		return cu_fail_errno(src->read_errno, "%s: read failed", src->path);
	if (err == AVERROR(ENOMEM))
		return cu_fail(CU_ERR_NOMEM, "%s: out of memory opening the file", src->path);
	return cu_fail(CU_ERR_MEDIA, "%s: not a media file libavformat can read (%s)", src->path,
	    averr_text(err, msg, sizeof(msg)));
}

static int
open_demuxer(cu_media_src *src)
{
	char msg[AV_ERROR_MAX_STRING_SIZE];
	const AVInputFormat *ifmt = NULL;
	AVDictionary *opts = NULL;
	uint8_t *iobuf;
	int r;

	iobuf = av_malloc(IO_BUFFER_SIZE);
	if (!iobuf)
		return cu_fail(CU_ERR_NOMEM, "%s: no memory for the I/O buffer", src->path);
	src->avio = avio_alloc_context(iobuf, IO_BUFFER_SIZE, 0, src, io_read, NULL, io_seek);
	if (!src->avio) {
		av_free(iobuf);
		return cu_fail(CU_ERR_NOMEM, "%s: no memory for the I/O context", src->path);
	}
	/* Probing ourselves (as avformat_open_input would) lets the detail
	 * name a format we do not take. The path is only a hint (extension);
	 * I/O goes through avio, which keeps the probed bytes. */
	r = av_probe_input_buffer2(src->avio, &ifmt, src->path, NULL, 0, 0);
	if (r < 0)
		return open_failed(src, r);
	if (av_match_list(ifmt->name, DEMUXERS, ',') <= 0) {
		/* A low score is a guess from noise, not a format. */
		if (r <= AVPROBE_SCORE_RETRY)
			return cu_fail(CU_ERR_MEDIA,
			    "%s: not a media file libavformat can read (no format recognised)",
			    src->path);
		return cu_fail(CU_ERR_MEDIA, "%s: \"%s\" files are not accepted (only MP4/MOV, "
		    "Matroska, AVI, MPEG-TS, FLV and raw H.264, H.265, MJPEG or AAC)",
		    src->path, ifmt->name);
	}
	src->fmt = avformat_alloc_context();
	if (!src->fmt)
		return cu_fail(CU_ERR_NOMEM, "%s: no memory for the demuxer", src->path);
	src->fmt->pb = src->avio;
	src->fmt->probesize = PROBE_SIZE_MAX;
	src->fmt->max_analyze_duration = ANALYZE_DURATION_MAX;
	src->fmt->max_streams = STREAMS_MAX;

	/* The demuxer list; and no protocol at all, in case one of them tries
	 * to open another resource anyway. */
	if (av_dict_set(&opts, "format_whitelist", DEMUXERS, 0) < 0 ||
	    av_dict_set(&opts, "protocol_whitelist", "none", 0) < 0) {
		av_dict_free(&opts);
		return cu_fail(CU_ERR_NOMEM, "%s: no memory for demuxer options", src->path);
	}
	r = avformat_open_input(&src->fmt, src->path, ifmt, &opts);
	av_dict_free(&opts);
	if (r < 0) {
		/* avformat_open_input freed the context (not our avio). */
		src->fmt = NULL;
		return open_failed(src, r);
	}
	r = avformat_find_stream_info(src->fmt, NULL);
	if (r < 0) {
		if (src->read_errno)
			return cu_fail_errno(src->read_errno, "%s: read failed", src->path);
		return cu_fail(CU_ERR_MEDIA, "%s: cannot find the streams (%s)", src->path,
		    averr_text(r, msg, sizeof(msg)));
	}
	return 0;
}

static int
setup_video(cu_media_src *src)
{
	struct track *t = &src->video;
	AVStream *st = src->fmt->streams[t->index];
	AVRational fps = st->avg_frame_rate;
	char msg[AV_ERROR_MAX_STRING_SIZE];
	int r;

	if (!rate_ok(fps))
		fps = st->r_frame_rate;
	if (!rate_ok(fps))
		fps = (AVRational){ DEFAULT_FPS, 1 };
	t->period = av_inv_q(fps);
	t->tb = st->time_base;
	if (t->codec == CU_CODEC_MJPEG)
		return 0;

	const char *name = t->codec == CU_CODEC_H264 ? "h264_mp4toannexb" : "hevc_mp4toannexb";
	const AVBitStreamFilter *f = av_bsf_get_by_name(name);
	if (!f)
		return cu_fail(CU_ERR_UNSUPPORTED, "%s: libavcodec lacks the %s filter", src->path, name);
	if (av_bsf_alloc(f, &t->bsf) < 0)
		return cu_fail(CU_ERR_NOMEM, "%s: no memory for the %s filter", src->path, name);
	r = avcodec_parameters_copy(t->bsf->par_in, st->codecpar);
	if (r < 0)
		return cu_fail(CU_ERR_NOMEM, "%s: no memory for the %s filter", src->path, name);
	t->bsf->time_base_in = st->time_base;
	r = av_bsf_init(t->bsf);
	if (r < 0)
		return cu_fail(CU_ERR_MEDIA, "%s: bad %s parameters in stream %d (%s)", src->path,
		    cu_codec_name(t->codec), t->index, averr_text(r, msg, sizeof(msg)));
	t->tb = t->bsf->time_base_out;
	return 0;
}

static int
setup_audio(cu_media_src *src)
{
	struct track *t = &src->audio;
	AVStream *st = src->fmt->streams[t->index];
	const AVCodecParameters *par = st->codecpar;
	int samples = par->frame_size > 0 ? par->frame_size : AAC_FRAME_SAMPLES;

	t->tb = st->time_base;
	t->period = par->sample_rate > 0 ? (AVRational){ samples, par->sample_rate }
					  : (AVRational){ 0, 1 };
	/* No AudioSpecificConfig: the packets must be ADTS already (MPEG-TS,
	 * raw .aac); cu_media_next checks each one. */
	if (par->extradata_size <= 0)
		return 0;
	return asc_parse(src->path, t, par->extradata, (size_t)par->extradata_size);
}

static int
pick_streams(cu_media_src *src)
{
	AVFormatContext *fmt = src->fmt;

	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		AVStream *st = fmt->streams[i];
		const AVCodecParameters *par = st->codecpar;
		int codec = video_codec(par->codec_id);

		/* Cover art is a picture, not a video. */
		if (st->disposition & AV_DISPOSITION_ATTACHED_PIC)
			continue;
		if (src->video.index < 0 && par->codec_type == AVMEDIA_TYPE_VIDEO && codec) {
			src->video.index = (int)i;
			src->video.codec = codec;
		} else if (src->audio.index < 0 && par->codec_type == AVMEDIA_TYPE_AUDIO &&
		    par->codec_id == AV_CODEC_ID_AAC) {
			src->audio.index = (int)i;
			src->audio.codec = CU_CODEC_AAC;
		}
	}
	if (src->video.index < 0 && src->audio.index < 0) {
		char found[FOUND_MAX];
		found_list(fmt, found, sizeof(found));
		return cu_fail(CU_ERR_MEDIA, "%s: no H.264, H.265, MJPEG or AAC stream (found: %s)",
		    src->path, found);
	}
	for (unsigned i = 0; i < fmt->nb_streams; i++)
		if ((int)i != src->video.index && (int)i != src->audio.index)
			fmt->streams[i]->discard = AVDISCARD_ALL;
	return 0;
}

/* Opens path (a regular file, not a symbolic link) and picks its streams.
 * On success *ret owns the file until cu_media_close; on failure *ret is
 * untouched and the detail names the file. Silences FFmpeg's logging for the
 * whole process (the library never prints). */
int
cu_media_open(const char *path, cu_media_src **ret)
{
	cu_media_src *src = NULL;
	int r;

	if (!path || !ret)
		return cu_fail(CU_ERR_INVAL, "cu_media_open: NULL argument");
	if (path[0] == '\0' || strnlen(path, PATH_MAX) >= PATH_MAX)
		return cu_fail(CU_ERR_INVAL, "cu_media_open: path is empty or longer than %d bytes",
		    PATH_MAX - 1);

	/* The library never prints; FFmpeg would, on stderr. */
	av_log_set_level(AV_LOG_QUIET);

	src = calloc(1, sizeof(*src));
	if (!src)
		return cu_fail(CU_ERR_NOMEM, "%s: no memory", path);
	src->fd = -1;
	track_init(&src->video);
	track_init(&src->audio);
	src->path = strdup(path);
	src->pkt = av_packet_alloc();
	if (!src->path || !src->pkt) {
		r = cu_fail(CU_ERR_NOMEM, "%s: no memory", path);
		goto fail;
	}
	if ((r = open_file(src)) < 0)
		goto fail;
	if ((r = open_demuxer(src)) < 0)
		goto fail;
	if ((r = pick_streams(src)) < 0)
		goto fail;
	if (src->video.index >= 0 && (r = setup_video(src)) < 0)
		goto fail;
	if (src->audio.index >= 0 && (r = setup_audio(src)) < 0)
		goto fail;
	*ret = src;
	return 0;
fail:
	cu_media_close(src);
	return r;
}

/* ---- reading ---- */

/* Timestamp and duration of the packet in src->pkt, in µs from the first
 * frame. */
static int
frame_time(cu_media_src *src, struct track *t, cu_frame *f)
{
	const AVPacket *pkt = src->pkt;
	int64_t raw = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
	int64_t abs_us, rel_us, dur_us;

	if (raw != AV_NOPTS_VALUE) {
		abs_us = av_rescale_q(raw, t->tb, usec);
		t->origin_us = abs_us;
		t->has_origin = true;
		t->synth = 0;
	} else {
		/* No timestamp (raw streams): count frames from the last one we
		 * had, or from the first frame of the file. */
		if (!t->has_origin) {
			t->origin_us = src->have_base ? src->base_us : 0;
			t->has_origin = true;
		}
		int64_t step = av_rescale_q(t->synth, t->period, usec);
		if (step == INT64_MIN || __builtin_add_overflow(t->origin_us, step, &abs_us))
			abs_us = INT64_MIN;
	}
	t->synth++;
	/* av_rescale_q gives INT64_MIN when the result does not fit. */
	if (abs_us == INT64_MIN)
		return cu_fail(CU_ERR_MEDIA, "%s: timestamp out of range in stream %d", src->path,
		    t->index);

	if (!src->have_base && (pkt->flags & AV_PKT_FLAG_DISCARD)) {
		/* The file starts with its first frame meant to be shown.
		 * Frames the demuxer marks for discarding before it (AAC
		 * priming, the head of an MP4 edit list) are put at 0, so that
		 * ts_us matches what a player shows. */
		f->ts_us = 0;
	} else {
		if (!src->have_base) {
			src->base_us = abs_us;
			src->have_base = true;
		}
		if (__builtin_sub_overflow(abs_us, src->base_us, &rel_us))
			return cu_fail(CU_ERR_MEDIA, "%s: timestamp out of range in stream %d",
			    src->path, t->index);
		/* Frames decoded before the first one shown (open GOPs, audio
		 * priming) are put at the start rather than before it. */
		f->ts_us = rel_us < 0 ? 0 : rel_us;
	}

	if (pkt->duration > 0)
		dur_us = av_rescale_q(pkt->duration, t->tb, usec);
	else
		dur_us = av_rescale_q(1, t->period, usec);
	/* A duration past the limit is not a frame's; report it unknown. */
	f->dur_us = dur_us > 0 && dur_us <= CU_FRAME_DURATION_MAX ? (uint32_t)dur_us : 0;
	return 0;
}

static int
too_big(const cu_media_src *src, const struct track *t, size_t len)
{
	return cu_fail(CU_ERR_LIMIT, "%s: %s frame of %zu bytes in stream %d is over the %u-byte limit",
	    src->path, cu_codec_name(t->codec), len, t->index, CU_FRAME_MAX);
}

/* Turns the packet in src->pkt into *ret_frame; returns 1 or a cu_err. */
static int
emit(cu_media_src *src, struct track *t, cu_frame *ret_frame)
{
	const AVPacket *pkt = src->pkt;
	cu_frame f = { 0 };
	size_t len = (size_t)pkt->size;
	int r;

	if (len > CU_FRAME_MAX)
		return too_big(src, t, len);
	if ((r = frame_time(src, t, &f)) < 0)
		return r;
	f.codec = (uint8_t)t->codec;
	f.data = pkt->data;
	f.len = len;
	if (t == &src->video) {
		f.track = CU_TRACK_VIDEO;
		/* Every JPEG picture stands alone, whatever the container says. */
		f.key = t->codec == CU_CODEC_MJPEG || (pkt->flags & AV_PKT_FLAG_KEY) != 0;
	} else {
		f.track = CU_TRACK_AUDIO;
		f.key = true;
		if (!is_adts(pkt->data, len)) {
			if (!t->asc)
				return cu_fail(CU_ERR_MEDIA,
				    "%s: AAC stream %d has neither ADTS headers nor an AudioSpecificConfig",
				    src->path, t->index);
			if (len > ADTS_FRAME_MAX - ADTS_HEADER_SIZE)
				return cu_fail(CU_ERR_LIMIT,
				    "%s: AAC frame of %zu bytes in stream %d is too long for ADTS (%d)",
				    src->path, len, t->index, ADTS_FRAME_MAX - ADTS_HEADER_SIZE);
			adts_header(src->adts, t, len + ADTS_HEADER_SIZE);
			memcpy(src->adts + ADTS_HEADER_SIZE, pkt->data, len);
			f.data = src->adts;
			f.len = len + ADTS_HEADER_SIZE;
		}
	}
	*ret_frame = f;
	return 1;
}

static int
read_failed(cu_media_src *src, int err, const char *what)
{
	char msg[AV_ERROR_MAX_STRING_SIZE];

	if (src->read_errno)
		return cu_fail_errno(src->read_errno, "%s: read failed", src->path);
	if (err == AVERROR(ENOMEM))
		return cu_fail(CU_ERR_NOMEM, "%s: out of memory while %s", src->path, what);
	return cu_fail(CU_ERR_MEDIA, "%s: %s failed (%s)", src->path, what,
	    averr_text(err, msg, sizeof(msg)));
}

/* Next frame in decode order: 1 and *ret_frame, 0 at the end (and after),
 * or a negative cu_err (CU_ERR_LIMIT for a frame over CU_FRAME_MAX, CU_ERR_IO
 * for a failed read, CU_ERR_MEDIA for what libavformat cannot demux). The
 * frame's data lives in src until the next call or cu_media_close. */
int
cu_media_next(cu_media_src *src, cu_frame *ret_frame)
{
	struct track *v;
	int r;

	if (!src || !ret_frame)
		return cu_fail(CU_ERR_INVAL, "cu_media_next: NULL argument");
	v = &src->video;
	/* The previous frame's data is released here, not before. */
	av_packet_unref(src->pkt);
	for (;;) {
		if (src->bsf_pending) {
			r = av_bsf_receive_packet(v->bsf, src->pkt);
			if (r == 0) {
				if (src->pkt->size > 0)
					return emit(src, v, ret_frame);
				av_packet_unref(src->pkt);
				continue;
			}
			src->bsf_pending = false;
			if (r != AVERROR(EAGAIN) && r != AVERROR_EOF)
				return read_failed(src, r, "converting video to Annex B");
		}
		if (src->eof) {
			if (v->bsf && !src->bsf_flushed) {
				src->bsf_flushed = true;
				r = av_bsf_send_packet(v->bsf, NULL);
				if (r < 0)
					return read_failed(src, r, "converting video to Annex B");
				src->bsf_pending = true;
				continue;
			}
			return 0;
		}
		r = av_read_frame(src->fmt, src->pkt);
		if (r == AVERROR_EOF) {
			src->eof = true;
			continue;
		}
		if (r < 0)
			return read_failed(src, r, "reading a packet");
		/* An empty packet means nothing here, and to a filter "the end". */
		if (src->pkt->size <= 0) {
			av_packet_unref(src->pkt);
			continue;
		}
		if (src->pkt->stream_index == v->index) {
			if ((size_t)src->pkt->size > CU_FRAME_MAX)
				return too_big(src, v, (size_t)src->pkt->size);
			if (!v->bsf)
				return emit(src, v, ret_frame);
			r = av_bsf_send_packet(v->bsf, src->pkt);
			if (r < 0)
				return read_failed(src, r, "converting video to Annex B");
			src->bsf_pending = true;
			continue;
		}
		if (src->pkt->stream_index == src->audio.index)
			return emit(src, &src->audio, ret_frame);
		av_packet_unref(src->pkt);
	}
}

/* Frees the demuxer, filter, packet and descriptor. NULL is fine. */
void
cu_media_close(cu_media_src *src)
{
	if (!src)
		return;
	av_bsf_free(&src->video.bsf);
	avformat_close_input(&src->fmt);
	if (src->avio) {
		/* libavformat may have replaced the buffer; free the current one. */
		av_freep(&src->avio->buffer);
		avio_context_free(&src->avio);
	}
	av_packet_free(&src->pkt);
	if (src->fd >= 0)
		(void)close(src->fd);
	free(src->path);
	free(src);
}

int
cu_camera_name_check(const char *name)
{
	size_t n = name ? strnlen(name, CU_CAMERA_NAME_MAX + 1) : 0;
	if (n == 0 || n > CU_CAMERA_NAME_MAX)
		return cu_fail(CU_ERR_INVAL, "camera name must be 1 to %d characters",
		               CU_CAMERA_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return cu_fail(CU_ERR_INVAL, "camera name \"%s\": use letters, digits, '.', "
			               "'-' and '_', starting with a letter or digit", name);
	}
	return 0;
}
