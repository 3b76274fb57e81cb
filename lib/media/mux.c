/* custody — frames into MP4 (fragmented or plain) through libavformat's mp4
 * muxer.
 *
 * Video goes in as the store keeps it, Annex B: the muxer converts Annex B
 * samples to length-prefixed NAL units itself when the extradata it is given
 * is Annex B (movenc.c: "from x264 or from bytestream H.264", and the same
 * for HEVC), and builds avcC/hvcC from that extradata (ff_isom_write_avcc /
 * ff_isom_write_hvcc accept Annex B). So the extradata is the parameter sets
 * of the first key frame, each behind a 4-byte start code. In-band parameter
 * sets stay in the samples (allowed for avc1 and used by every camera stream
 * copied into MP4; a camera that changes its SPS mid-stream still decodes).
 *
 * AAC goes in raw: the ADTS header is stripped and its fields become the
 * AudioSpecificConfig (the muxer needs it in the header, before any packet,
 * which rules out the aac_adtstoasc filter it would insert by itself).
 *
 * Nothing is written until the first key frame with its parameter sets: the
 * file header (and, fragmented, the moov) needs the codec configuration, and
 * a caller (HTTP) that gets an error before any byte can still answer with a
 * status code. The frames after that key frame are held (CU_MP4_LOOKAHEAD)
 * to learn the B-frame depth, which decides the decode timestamps, and
 * whether there is audio. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
#include <libavutil/log.h>
#include <libavutil/mathematics.h>
#include <libavutil/mem.h>

#include "custody/mux.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/error.h"
#include "custody/file.h"

#define IO_BUFFER_SIZE (64 * 1024)        /* AVIOContext buffer, and spool copy chunk */
#define DEFAULT_FRAME_US 40000            /* a video frame of unknown duration: 25 fps */
#define AAC_FRAME_SAMPLES 1024
#define AAC_SNAP_SAMPLES 2                /* audio this close to contiguous is made so */
#define ADTS_HEADER_SIZE 7
#define ADTS_HEADER_CRC_SIZE 9
#define PARAM_SET_COUNT_MAX 16            /* of each kind (VPS, SPS, PPS) */
#define FILE_MODE 0644
#define TMP_DIR_DEFAULT "/tmp"

enum state {
	ST_WAIT_KEY,     /* no usable key frame yet */
	ST_LOOKAHEAD,    /* key frame seen; holding frames before the header */
	ST_MUXING,       /* header written; frames go straight to the muxer */
	ST_DONE,         /* finished (or failed: see failed) */
};

struct aac_cfg {
	uint8_t aot;         /* audioObjectType (1..4) */
	uint8_t freq_index;  /* 0..12 */
	uint8_t chan_cfg;    /* 1..7 */
	int rate;            /* Hz */
	int channels;        /* from chan_cfg (7 is 8 channels) */
};

struct cu_mp4 {
	bool fragmented;
	int (*write)(void *ctx, const uint8_t *data, size_t len);
	void *ctx;
	bool to_file;                 /* writing af (o->path), not streaming to write */
	cu_afile af;                  /* <path>.tmp until cu_mp4_finish commits it */
	int fd;                       /* af.fd or the spool, -1 when streaming */
	bool spool;                   /* fd is an unlinked spool for write */
	char camera[CU_CAMERA_NAME_MAX + 1];

	int state;
	int failed;                   /* sticky cu_err, 0 if none */
	int io_err;                   /* cu_err from a write, 0 if none */

	/* From the first key frame. */
	int vcodec;                   /* enum cu_codec */
	int width, height;
	uint8_t params[CU_MP4_PARAMS_MAX]; /* Annex B parameter sets */
	size_t params_len;
	int64_t origin_us;            /* its time: the file's 0 */
	bool have_aac;                /* aac is set (from the first audio frame) */
	struct aac_cfg aac;

	/* Frames held before the header, in arrival order; pts = ts_us,
	 * duration = dur_us, stream_index = enum cu_track. */
	AVPacket *pending[CU_MP4_PENDING_MAX];
	size_t npending;
	size_t pending_bytes;
	size_t pending_video;         /* video frames among them */

	AVIOContext *avio;
	AVFormatContext *fmt;
	AVStream *vst, *ast;          /* ast NULL when there is no audio track */
	AVPacket *pkt;                /* scratch */

	/* Video timing (in CU_MP4_VIDEO_TIMESCALE units). */
	int reorder;                  /* B-frame depth learned from the first GOP */
	int64_t pts_buf[CU_MP4_REORDER_MAX + 1];
	bool have_vdts;
	int64_t last_vdts;
	int64_t last_vdur;
	/* Audio timing (in samples). */
	int64_t next_adts;

	struct cu_mp4_info info;
};

static const int aac_rates[13] = {
	96000, 88200, 64000, 48000, 44100, 32000, 24000,
	22050, 16000, 12000, 11025, 8000, 7350,
};

static const AVRational usec = { 1, 1000000 };
static const AVRational video_tb = { 1, CU_MP4_VIDEO_TIMESCALE };

static const char *
averr_text(int err, char *buf, size_t size)
{
	if (av_strerror(err, buf, size) < 0)
		cu_fmt_cut(buf, size, "error %d", err);
	return buf;
}

/* ---- parameter sets ---- */

/* The next NAL unit of an Annex B buffer at or after *pos: its payload
 * [*ret_start, *ret_end) without trailing zero bytes. false at the end. */
static bool
nal_next(const uint8_t *p, size_t len, size_t *pos, size_t *ret_start, size_t *ret_end)
{
	size_t i = *pos, start;

	while (i + 3 <= len && !(p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1))
		i++;
	if (i + 3 > len)
		return false;
	start = i + 3;
	i = start;
	while (i + 3 <= len && !(p[i] == 0 && p[i + 1] == 0 && (p[i + 2] == 1 || p[i + 2] == 0)))
		i++;
	if (i + 3 > len)
		i = len;
	*pos = i;
	size_t end = i;
	while (end > start && p[end - 1] == 0)
		end--;
	*ret_start = start;
	*ret_end = end;
	return true;
}

static bool
starts_annexb(const uint8_t *p, size_t len)
{
	return (len >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 1) ||
	       (len >= 3 && p[0] == 0 && p[1] == 0 && p[2] == 1);
}

/* Appends one parameter set behind a 4-byte start code unless the same bytes
 * are there already. */
static int
params_add(cu_mp4 *m, const uint8_t *nal, size_t n, int *count, const char *what)
{
	static const uint8_t sc[4] = { 0, 0, 0, 1 };
	size_t pos = 0, s, e;

	while (nal_next(m->params, m->params_len, &pos, &s, &e))
		if (e - s == n && memcmp(m->params + s, nal, n) == 0)
			return 0;
	if (*count >= PARAM_SET_COUNT_MAX)
		return cu_fail(CU_ERR_LIMIT, "first key frame: more than %d %s NAL units",
		    PARAM_SET_COUNT_MAX, what);
	if (n > CU_MP4_PARAMS_MAX - sizeof(sc) - m->params_len)
		return cu_fail(CU_ERR_LIMIT, "first key frame: parameter sets over %d bytes",
		    CU_MP4_PARAMS_MAX);
	memcpy(m->params + m->params_len, sc, sizeof(sc));
	memcpy(m->params + m->params_len + sizeof(sc), nal, n);
	m->params_len += sizeof(sc) + n;
	(*count)++;
	return 0;
}

/* Collects the parameter sets of a key frame into m->params in the order
 * VPS, SPS, PPS. Returns 1 when all needed kinds are there, 0 when some are
 * missing (m->params emptied), or a cu_err. */
static int
params_take(cu_mp4 *m, const cu_frame *f)
{
	bool hevc = f->codec == CU_CODEC_H265;
	/* NAL unit types of VPS, SPS, PPS (no VPS in H.264). */
	const int types[3] = { hevc ? 32 : -1, hevc ? 33 : 7, hevc ? 34 : 8 };
	static const char *const names[3] = { "VPS", "SPS", "PPS" };
	int count[3] = { 0, 0, 0 };
	int r;

	m->params_len = 0;
	for (int k = 0; k < 3; k++) {
		size_t pos = 0, s, e;

		if (types[k] < 0)
			continue;
		while (nal_next(f->data, f->len, &pos, &s, &e)) {
			if (e <= s)
				continue;
			int t = hevc ? (f->data[s] >> 1) & 0x3F : f->data[s] & 0x1F;
			if (t != types[k])
				continue;
			if ((r = params_add(m, f->data + s, e - s, &count[k], names[k])) < 0) {
				m->params_len = 0;
				return r;
			}
		}
		if (count[k] == 0) {
			m->params_len = 0;
			return 0;
		}
	}
	return 1;
}

/* Picture size from the SPS in a key frame, through libavcodec's parser (it
 * reads the SPS and the slice headers; the size includes the cropping). */
static int
video_size_parsed(cu_mp4 *m, const cu_frame *f)
{
	enum AVCodecID id = f->codec == CU_CODEC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_HEVC;
	AVCodecParserContext *pc = av_parser_init(id);
	AVCodecContext *avctx = avcodec_alloc_context3(NULL);
	/* Parsers may read up to AV_INPUT_BUFFER_PADDING_SIZE past the end. */
	uint8_t *buf = av_mallocz(f->len + AV_INPUT_BUFFER_PADDING_SIZE);
	uint8_t *out = NULL;
	int outlen = 0, r = 0;

	if (!pc || !avctx || !buf) {
		r = cu_fail(CU_ERR_NOMEM, "no memory for the %s parser", cu_codec_name(f->codec));
		goto out;
	}
	memcpy(buf, f->data, f->len);
	pc->flags |= PARSER_FLAG_COMPLETE_FRAMES;
	(void)av_parser_parse2(pc, avctx, &out, &outlen, buf, (int)f->len, AV_NOPTS_VALUE,
	    AV_NOPTS_VALUE, 0);
	if (pc->width <= 0 || pc->height <= 0 || pc->width > CU_STILL_SIDE_MAX ||
	    pc->height > CU_STILL_SIDE_MAX) {
		r = cu_fail(CU_ERR_FORMAT, "first %s key frame at %lld: no readable picture size "
		    "in its SPS and slices (got %dx%d)", cu_codec_name(f->codec),
		    (long long)f->ts_us, pc->width, pc->height);
		goto out;
	}
	m->width = pc->width;
	m->height = pc->height;
out:
	av_free(buf);
	avcodec_free_context(&avctx);
	if (pc)
		av_parser_close(pc);
	return r;
}

/* Picture size from the SOF segment of a JPEG picture. */
static int
video_size_jpeg(cu_mp4 *m, const cu_frame *f)
{
	const uint8_t *p = f->data;
	size_t len = f->len, i = 2;

	if (len < 4 || p[0] != 0xFF || p[1] != 0xD8)
		return cu_fail(CU_ERR_FORMAT, "MJPEG frame at %lld does not start with SOI",
		    (long long)f->ts_us);
	while (i + 4 <= len) {
		if (p[i] != 0xFF)
			break;
		uint8_t mk = p[i + 1];
		if (mk == 0xFF) {       /* fill byte */
			i++;
			continue;
		}
		size_t seg = (size_t)p[i + 2] << 8 | p[i + 3];
		if (seg < 2 || i + 2 + seg > len)
			break;
		/* SOF0..SOF15 but DHT (C4), JPG (C8), DAC (CC). */
		if (mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC) {
			if (seg < 8)
				break;
			m->height = p[i + 5] << 8 | p[i + 6];
			m->width = p[i + 7] << 8 | p[i + 8];
			if (m->width == 0 || m->height == 0)
				break;
			return 0;
		}
		if (mk == 0xDA)         /* SOS before SOF */
			break;
		i += 2 + seg;
	}
	return cu_fail(CU_ERR_FORMAT, "MJPEG frame at %lld: no readable SOF segment",
	    (long long)f->ts_us);
}

/* ---- AAC ---- */

/* Reads the ADTS header of an AAC frame; *ret_hlen is its size. */
static int
adts_parse(const cu_frame *f, struct aac_cfg *ret, size_t *ret_hlen)
{
	const uint8_t *p = f->data;
	struct aac_cfg c;

	if (f->len < ADTS_HEADER_SIZE || p[0] != 0xFF || (p[1] & 0xF6) != 0xF0)
		return cu_fail(CU_ERR_FORMAT, "AAC frame at %lld has no ADTS header",
		    (long long)f->ts_us);
	size_t hlen = (p[1] & 1) ? ADTS_HEADER_SIZE : ADTS_HEADER_CRC_SIZE;
	unsigned profile = p[2] >> 6;
	unsigned freq = (p[2] >> 2) & 0xF;
	unsigned chan = (unsigned)((p[2] & 1) << 2 | p[3] >> 6);
	size_t flen = (size_t)(p[3] & 3) << 11 | (size_t)p[4] << 3 | p[5] >> 5;
	unsigned blocks = p[6] & 3;

	if (flen != f->len || flen <= hlen)
		return cu_fail(CU_ERR_FORMAT, "AAC frame at %lld: ADTS frame length %zu, frame "
		    "has %zu bytes (one ADTS frame per frame)", (long long)f->ts_us, flen, f->len);
	if (blocks != 0)
		return cu_fail(CU_ERR_UNSUPPORTED, "AAC frame at %lld: %u raw data blocks in one "
		    "ADTS frame (1 is supported)", (long long)f->ts_us, blocks + 1);
	if (freq > 12)
		return cu_fail(CU_ERR_FORMAT, "AAC frame at %lld: reserved sampling frequency "
		    "index %u", (long long)f->ts_us, freq);
	if (chan == 0)
		return cu_fail(CU_ERR_UNSUPPORTED, "AAC frame at %lld: channel configuration 0 "
		    "(in-band PCE) is not supported", (long long)f->ts_us);
	c.aot = (uint8_t)(profile + 1);
	c.freq_index = (uint8_t)freq;
	c.chan_cfg = (uint8_t)chan;
	c.rate = aac_rates[freq];
	c.channels = chan == 7 ? 8 : (int)chan;
	*ret = c;
	*ret_hlen = hlen;
	return 0;
}

/* AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): audioObjectType(5)
 * samplingFrequencyIndex(4) channelConfiguration(4) and GASpecificConfig's
 * frameLengthFlag, dependsOnCoreCoder, extensionFlag all 0. */
static void
aac_asc(const struct aac_cfg *c, uint8_t asc[static 2])
{
	unsigned v = (unsigned)c->aot << 11 | (unsigned)c->freq_index << 7 |
		     (unsigned)c->chan_cfg << 3;
	asc[0] = (uint8_t)(v >> 8);
	asc[1] = (uint8_t)v;
}

/* ---- output ---- */

static int
io_write(void *opaque, uint8_t *buf, int size)
{
	cu_mp4 *m = opaque;
	int r;

	if (m->io_err)
		return AVERROR(EIO);
	if (size <= 0)
		return 0;
	if (m->fd >= 0) {
		r = cu_write_all(m->fd, buf, (size_t)size, m->spool ? "the MP4 spool file" :
		    m->af.tmp);
	} else {
		r = m->write(m->ctx, buf, (size_t)size);
		if (r < 0)
			r = cu_fail_prefix(r, "writing MP4 output");
		else
			m->info.bytes += (uint64_t)size;
	}
	if (r < 0) {
		m->io_err = r;
		return AVERROR(EIO);
	}
	return size;
}

static int64_t
io_seek(void *opaque, int64_t offset, int whence)
{
	cu_mp4 *m = opaque;
	struct stat st;

	whence &= ~AVSEEK_FORCE;
	if (whence == AVSEEK_SIZE) {
		if (fstat(m->fd, &st) < 0)
			return AVERROR(errno);
		return st.st_size;
	}
	if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
		return AVERROR(EINVAL);
	off_t r = lseek(m->fd, (off_t)offset, whence);
	if (r < 0)
		return AVERROR(errno);
	return r;
}

/* The cu_err for a failed libavformat call. */
static int
mux_failed(cu_mp4 *m, int err, const char *what)
{
	char msg[AV_ERROR_MAX_STRING_SIZE];

	if (m->io_err)
		return m->io_err;
	if (err == AVERROR(ENOMEM))
		return cu_fail(CU_ERR_NOMEM, "out of memory %s", what);
	return cu_fail(CU_ERR_MEDIA, "MP4 muxer failed %s (%s)", what,
	    averr_text(err, msg, sizeof(msg)));
}

static int
fail(cu_mp4 *m, int r)
{
	m->failed = r;
	m->state = ST_DONE;
	return r;
}

static int
open_output(cu_mp4 *m)
{
	uint8_t *iobuf = av_malloc(IO_BUFFER_SIZE);

	if (!iobuf)
		return cu_fail(CU_ERR_NOMEM, "no memory for the MP4 output buffer");
	m->avio = avio_alloc_context(iobuf, IO_BUFFER_SIZE, 1, m, NULL, io_write,
	    m->fd >= 0 ? io_seek : NULL);
	if (!m->avio) {
		av_free(iobuf);
		return cu_fail(CU_ERR_NOMEM, "no memory for the MP4 output context");
	}
	return 0;
}

static int
add_video_stream(cu_mp4 *m)
{
	AVStream *st = avformat_new_stream(m->fmt, NULL);
	AVCodecParameters *par;

	if (!st)
		return cu_fail(CU_ERR_NOMEM, "no memory for the video stream");
	par = st->codecpar;
	par->codec_type = AVMEDIA_TYPE_VIDEO;
	par->width = m->width;
	par->height = m->height;
	st->time_base = video_tb;
	switch (m->vcodec) {
	case CU_CODEC_H264:
		par->codec_id = AV_CODEC_ID_H264;
		break;
	case CU_CODEC_H265:
		par->codec_id = AV_CODEC_ID_HEVC;
		/* hvc1 rather than the muxer's hev1: what Apple players need. */
		par->codec_tag = MKTAG('h', 'v', 'c', '1');
		break;
	default:
		par->codec_id = AV_CODEC_ID_MJPEG;
		break;
	}
	if (m->params_len > 0) {
		par->extradata = av_mallocz(m->params_len + AV_INPUT_BUFFER_PADDING_SIZE);
		if (!par->extradata)
			return cu_fail(CU_ERR_NOMEM, "no memory for the video extradata");
		memcpy(par->extradata, m->params, m->params_len);
		par->extradata_size = (int)m->params_len;
	}
	m->vst = st;
	return 0;
}

static int
add_audio_stream(cu_mp4 *m)
{
	AVStream *st = avformat_new_stream(m->fmt, NULL);
	AVCodecParameters *par;

	if (!st)
		return cu_fail(CU_ERR_NOMEM, "no memory for the audio stream");
	par = st->codecpar;
	par->codec_type = AVMEDIA_TYPE_AUDIO;
	par->codec_id = AV_CODEC_ID_AAC;
	par->sample_rate = m->aac.rate;
	par->frame_size = AAC_FRAME_SAMPLES;
	par->profile = m->aac.aot - 1;   /* FF_PROFILE_AAC_MAIN/LOW/SSR/LTP */
	av_channel_layout_default(&par->ch_layout, m->aac.channels);
	par->extradata = av_mallocz(2 + AV_INPUT_BUFFER_PADDING_SIZE);
	if (!par->extradata)
		return cu_fail(CU_ERR_NOMEM, "no memory for the audio extradata");
	aac_asc(&m->aac, par->extradata);
	par->extradata_size = 2;
	st->time_base = (AVRational){ 1, m->aac.rate };
	m->ast = st;
	return 0;
}

static int
set_metadata(cu_mp4 *m)
{
	char iso[CU_TIME_ISO_MAX], text[256];
	int n;

	if (!cu_time_text(m->origin_us, iso))
		return cu_fail(CU_ERR_INVAL, "time %lld is outside years 1970..9999", (long long)m->origin_us);
	if (m->camera[0])
		n = snprintf(text, sizeof(text), "custody camera %s", m->camera);
	else
		n = snprintf(text, sizeof(text), "custody recording");
	if (n < 0 || (size_t)n >= sizeof(text))
		return cu_fail(CU_ERR_LIMIT, "MP4 title too long");
	if (av_dict_set(&m->fmt->metadata, "creation_time", iso, 0) < 0 ||
	    av_dict_set(&m->fmt->metadata, "title", text, 0) < 0)
		return cu_fail(CU_ERR_NOMEM, "no memory for the MP4 metadata");
	/* The comment says to the µs what time 0 is (creation_time keeps
	 * whole seconds in the mvhd). */
	n = snprintf(text, sizeof(text), "custody camera=%s start=%s",
	    m->camera[0] ? m->camera : "-", iso);
	if (n < 0 || (size_t)n >= sizeof(text))
		return cu_fail(CU_ERR_LIMIT, "MP4 comment too long");
	if (av_dict_set(&m->fmt->metadata, "comment", text, 0) < 0)
		return cu_fail(CU_ERR_NOMEM, "no memory for the MP4 metadata");
	return 0;
}

/* B-frame depth of the held video: the most frames before one (in decode
 * order) that are shown after it. */
static int
reorder_depth(const cu_mp4 *m)
{
	int depth = 0;

	for (size_t i = 0; i < m->npending; i++) {
		const AVPacket *p = m->pending[i];
		int later = 0;

		if (p->stream_index != CU_TRACK_VIDEO)
			continue;
		for (size_t j = 0; j < i; j++)
			if (m->pending[j]->stream_index == CU_TRACK_VIDEO &&
			    m->pending[j]->pts > p->pts)
				later++;
		if (later > depth)
			depth = later;
	}
	return depth > CU_MP4_REORDER_MAX ? CU_MP4_REORDER_MAX : depth;
}

/* Decode timestamp of a video frame from its presentation time, as
 * libavformat does for encoders that give none: the smallest of the last
 * reorder+1 presentation times (the first frames get made-up earlier ones).
 * Keeps dts strictly increasing and pts >= dts; a frame that breaks the depth
 * learned from the first GOP is shown a little later (counted in adjusted). */
static void
video_times(cu_mp4 *m, int64_t *pts, int64_t *dts, int64_t dur)
{
	int d = m->reorder;

	if (!m->have_vdts)
		for (int i = 0; i <= d; i++)
			m->pts_buf[i] = AV_NOPTS_VALUE;
	m->pts_buf[0] = *pts;
	for (int i = 1; i <= d && m->pts_buf[i] == AV_NOPTS_VALUE; i++)
		m->pts_buf[i] = *pts + (i - d - 1) * dur;
	for (int i = 0; i < d && m->pts_buf[i] > m->pts_buf[i + 1]; i++) {
		int64_t t = m->pts_buf[i];
		m->pts_buf[i] = m->pts_buf[i + 1];
		m->pts_buf[i + 1] = t;
	}
	*dts = m->pts_buf[0];
	if (m->have_vdts && *dts <= m->last_vdts) {
		*dts = m->last_vdts + 1;
		m->info.adjusted++;
	}
	if (*pts < *dts) {
		*pts = *dts;
		m->info.adjusted++;
	}
	m->have_vdts = true;
	m->last_vdts = *dts;
}

/* Writes a packet held in µs form (pts = ts_us, duration = dur_us). */
static int
mux_packet(cu_mp4 *m, AVPacket *pkt)
{
	int64_t rel_us = pkt->pts - m->origin_us;
	bool video = pkt->stream_index == CU_TRACK_VIDEO;
	AVStream *st;
	int r;

	if (video) {
		int64_t pts = av_rescale_q_rnd(rel_us, usec, video_tb, AV_ROUND_NEAR_INF);
		int64_t dur = av_rescale_q_rnd(pkt->duration, usec, video_tb, AV_ROUND_NEAR_INF);
		int64_t dts;

		if (dur <= 0)
			dur = m->last_vdur;
		m->last_vdur = dur;
		video_times(m, &pts, &dts, dur);
		st = m->vst;
		pkt->pts = av_rescale_q(pts, video_tb, st->time_base);
		pkt->dts = av_rescale_q(dts, video_tb, st->time_base);
		pkt->duration = av_rescale_q(dur, video_tb, st->time_base);
	} else {
		AVRational tb = { 1, m->aac.rate };
		int64_t t = av_rescale_q_rnd(rel_us, usec, tb, AV_ROUND_NEAR_INF);
		int64_t dur = av_rescale_q_rnd(pkt->duration, usec, tb, AV_ROUND_NEAR_INF);

		if (dur <= 0)
			dur = AAC_FRAME_SAMPLES;
		/* Audio is a continuous run of samples: a frame that starts
		 * inside the previous one (an encoder's priming frame put at
		 * 0) or a sample or two after it (µs rounding) follows it
		 * exactly; a real gap stays a gap. */
		if (t < m->next_adts + AAC_SNAP_SAMPLES)
			t = m->next_adts;
		m->next_adts = t + dur;
		st = m->ast;
		pkt->pts = pkt->dts = av_rescale_q(t, tb, st->time_base);
		pkt->duration = av_rescale_q(dur, tb, st->time_base);
	}
	pkt->stream_index = st->index;
	r = av_write_frame(m->fmt, pkt);
	av_packet_unref(pkt);
	if (r < 0 || m->io_err)
		return mux_failed(m, r, video ? "writing a video frame" : "writing an audio frame");
	return 0;
}

static void
pending_drop(cu_mp4 *m, size_t i)
{
	AVPacket *p = m->pending[i];

	if (p->stream_index == CU_TRACK_VIDEO) {
		m->pending_video--;
		m->info.video_frames--;
	} else {
		m->info.audio_frames--;
	}
	m->info.dropped++;
	m->pending_bytes -= (size_t)p->size;
	av_packet_free(&p);
	memmove(&m->pending[i], &m->pending[i + 1], (m->npending - i - 1) * sizeof(m->pending[0]));
	m->npending--;
}

/* Writes the header and the held frames. */
static int
start_muxer(cu_mp4 *m)
{
	AVDictionary *opts = NULL;
	bool audio = false;
	int r;

	for (size_t i = 0; i < m->npending; i++)
		if (m->pending[i]->stream_index == CU_TRACK_AUDIO)
			audio = true;
	m->reorder = reorder_depth(m);
	m->last_vdur = av_rescale_q(DEFAULT_FRAME_US, usec, video_tb);

	r = avformat_alloc_output_context2(&m->fmt, NULL, "mp4", NULL);
	if (r < 0 || !m->fmt)
		return mux_failed(m, r, "creating the MP4 muxer");
	m->fmt->pb = m->avio;
	m->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
	if ((r = add_video_stream(m)) < 0)
		return r;
	if (audio && (r = add_audio_stream(m)) < 0)
		return r;
	if ((r = set_metadata(m)) < 0)
		return r;
	/* Edit lists (a track that starts late, B-frame delay) in the video's
	 * units rather than the default milliseconds. */
	if (av_dict_set_int(&opts, "movie_timescale", CU_MP4_VIDEO_TIMESCALE, 0) < 0) {
		av_dict_free(&opts);
		return cu_fail(CU_ERR_NOMEM, "no memory for the MP4 muxer options");
	}
	if (m->fragmented) {
		/* delay_moov: the moov goes out with the first fragment, once
		 * each track's first timestamp is known, so that the edit
		 * lists keep the tracks in step (with the moov written first,
		 * every track would start at 0). */
		if (av_dict_set(&opts, "movflags",
			"frag_keyframe+empty_moov+delay_moov+default_base_moof", 0) < 0 ||
		    av_dict_set_int(&opts, "frag_size", CU_MP4_FRAGMENT_BYTES_MAX, 0) < 0) {
			av_dict_free(&opts);
			return cu_fail(CU_ERR_NOMEM, "no memory for the MP4 muxer options");
		}
	}
	r = avformat_write_header(m->fmt, &opts);
	/* An option the muxer did not take would be left in opts. */
	if (r >= 0 && av_dict_count(opts) > 0) {
		const AVDictionaryEntry *e = av_dict_get(opts, "", NULL, AV_DICT_IGNORE_SUFFIX);
		r = cu_fail(CU_ERR_UNSUPPORTED, "the mp4 muxer of this FFmpeg lacks option %s",
		    e ? e->key : "?");
		av_dict_free(&opts);
		return r;
	}
	av_dict_free(&opts);
	if (r < 0 || m->io_err)
		return mux_failed(m, r, "writing the MP4 header");
	m->info.audio = audio;
	m->state = ST_MUXING;

	for (size_t i = 0; i < m->npending; i++) {
		r = mux_packet(m, m->pending[i]);
		av_packet_free(&m->pending[i]);
		if (r < 0) {
			for (size_t j = i + 1; j < m->npending; j++)
				av_packet_free(&m->pending[j]);
			m->npending = 0;
			return r;
		}
	}
	m->npending = 0;
	m->pending_bytes = 0;
	m->pending_video = 0;
	/* Fragments go out as they are complete; the header should too. */
	avio_flush(m->avio);
	if (m->io_err)
		return m->io_err;
	return 0;
}

/* A padded, owned copy of a frame (without its ADTS header) in µs form. */
static int
make_packet(const cu_frame *f, size_t skip, AVPacket *pkt)
{
	if (av_new_packet(pkt, (int)(f->len - skip)) < 0)
		return cu_fail(CU_ERR_NOMEM, "no memory for a %zu-byte frame", f->len);
	memcpy(pkt->data, f->data + skip, f->len - skip);
	pkt->pts = pkt->dts = f->ts_us;
	pkt->duration = f->dur_us;
	pkt->stream_index = f->track;
	if (f->key)
		pkt->flags |= AV_PKT_FLAG_KEY;
	return 0;
}

static int
hold(cu_mp4 *m, const cu_frame *f, size_t skip)
{
	AVPacket *p = av_packet_alloc();
	int r;

	if (!p)
		return cu_fail(CU_ERR_NOMEM, "no memory for a frame");
	if ((r = make_packet(f, skip, p)) < 0) {
		av_packet_free(&p);
		return r;
	}
	m->pending[m->npending++] = p;
	m->pending_bytes += (size_t)p->size;
	if (f->track == CU_TRACK_VIDEO)
		m->pending_video++;
	return 0;
}

static bool
pending_full(const cu_mp4 *m, size_t more)
{
	return m->npending >= CU_MP4_PENDING_MAX ||
	       more > CU_MP4_PENDING_BYTES_MAX - m->pending_bytes;
}

static int
accepted(cu_mp4 *m, const cu_frame *f)
{
	if (f->track == CU_TRACK_VIDEO)
		m->info.video_frames++;
	else
		m->info.audio_frames++;
	if (f->ts_us > m->info.last_us)
		m->info.last_us = f->ts_us;
	return 1;
}

static int
dropped(cu_mp4 *m)
{
	m->info.dropped++;
	return 0;
}

/* The first usable key frame: codec, size, parameter sets, time 0. */
static int
first_key(cu_mp4 *m, const cu_frame *f)
{
	int r;

	if (f->codec == CU_CODEC_MJPEG) {
		if ((r = video_size_jpeg(m, f)) < 0)
			return r;
		m->params_len = 0;
	} else {
		if (!starts_annexb(f->data, f->len))
			return cu_fail(CU_ERR_FORMAT, "%s key frame at %lld is not Annex B",
			    cu_codec_name(f->codec), (long long)f->ts_us);
		if ((r = params_take(m, f)) <= 0)
			return r;
		if ((r = video_size_parsed(m, f)) < 0)
			return r;
	}
	m->vcodec = f->codec;
	m->origin_us = f->ts_us;
	m->info.video_codec = f->codec;
	m->info.width = m->width;
	m->info.height = m->height;
	m->info.first_us = f->ts_us;
	m->state = ST_LOOKAHEAD;
	/* Audio that waited for this key frame but is earlier than it goes. */
	for (size_t i = m->npending; i-- > 0;)
		if (m->pending[i]->pts < m->origin_us)
			pending_drop(m, i);
	return 1;
}

static int
video_frame(cu_mp4 *m, const cu_frame *f)
{
	int r;

	if (m->state == ST_WAIT_KEY) {
		if (!f->key)
			return dropped(m);
		if ((r = first_key(m, f)) < 0)
			return r;
		if (r == 0)
			return dropped(m);   /* a key frame without parameter sets */
		if ((r = hold(m, f, 0)) < 0)
			return fail(m, r);
		return accepted(m, f);
	}
	if (f->codec != m->vcodec)
		return cu_fail(CU_ERR_UNSUPPORTED, "%s frame at %lld in an MP4 of %s video",
		    cu_codec_name(f->codec), (long long)f->ts_us, cu_codec_name(m->vcodec));
	if (f->codec != CU_CODEC_MJPEG && !starts_annexb(f->data, f->len))
		return cu_fail(CU_ERR_FORMAT, "%s frame at %lld is not Annex B",
		    cu_codec_name(f->codec), (long long)f->ts_us);
	if (f->ts_us < m->origin_us)
		return dropped(m);
	if (m->state == ST_LOOKAHEAD) {
		if (!f->key && m->pending_video < CU_MP4_LOOKAHEAD && !pending_full(m, f->len)) {
			if ((r = hold(m, f, 0)) < 0)
				return fail(m, r);
			return accepted(m, f);
		}
		if ((r = start_muxer(m)) < 0)
			return fail(m, r);
	}
	if ((r = make_packet(f, 0, m->pkt)) < 0)
		return fail(m, r);
	if ((r = mux_packet(m, m->pkt)) < 0)
		return fail(m, r);
	return accepted(m, f);
}

static int
audio_frame(cu_mp4 *m, const cu_frame *f)
{
	struct aac_cfg c;
	size_t hlen = 0;
	int r;

	if ((r = adts_parse(f, &c, &hlen)) < 0)
		return r;
	if (m->have_aac && (c.aot != m->aac.aot || c.freq_index != m->aac.freq_index ||
	    c.chan_cfg != m->aac.chan_cfg))
		return cu_fail(CU_ERR_UNSUPPORTED, "AAC frame at %lld: configuration changed "
		    "(object type %u, %d Hz, channel configuration %u; the file has %u, %d Hz, %u)",
		    (long long)f->ts_us, c.aot, c.rate, c.chan_cfg, m->aac.aot, m->aac.rate,
		    m->aac.chan_cfg);
	if (m->state == ST_MUXING && !m->ast)
		return dropped(m);
	if (m->state != ST_WAIT_KEY && f->ts_us < m->origin_us)
		return dropped(m);
	if (!m->have_aac) {
		m->aac = c;
		m->have_aac = true;
	}
	if (m->state == ST_WAIT_KEY) {
		/* A window of the latest audio (all that is held now), in
		 * case it starts before the key frame does. */
		if (m->npending >= CU_MP4_AUDIO_WAIT_MAX || pending_full(m, f->len))
			pending_drop(m, 0);
		if ((r = hold(m, f, hlen)) < 0)
			return fail(m, r);
		return accepted(m, f);
	}
	if (m->state == ST_LOOKAHEAD) {
		if (!pending_full(m, f->len)) {
			if ((r = hold(m, f, hlen)) < 0)
				return fail(m, r);
			return accepted(m, f);
		}
		if ((r = start_muxer(m)) < 0)
			return fail(m, r);
		if (!m->ast)
			return dropped(m);
	}
	if ((r = make_packet(f, hlen, m->pkt)) < 0)
		return fail(m, r);
	if ((r = mux_packet(m, m->pkt)) < 0)
		return fail(m, r);
	return accepted(m, f);
}

/* Adds a frame: 1 taken, 0 dropped, negative cu_err (see mux.h). */
int
cu_mp4_frame(cu_mp4 *m, const cu_frame *f)
{
	if (!m || !f)
		return cu_fail(CU_ERR_INVAL, "cu_mp4_frame: NULL argument");
	if (m->failed)
		return m->failed;
	if (m->state == ST_DONE)
		return cu_fail(CU_ERR_INVAL, "cu_mp4_frame: the MP4 is finished");
	if (!f->data || f->len == 0)
		return cu_fail(CU_ERR_INVAL, "frame at %lld has no data", (long long)f->ts_us);
	if (f->len > CU_FRAME_MAX)
		return cu_fail(CU_ERR_LIMIT, "frame at %lld: %zu bytes, over the %u-byte limit",
		    (long long)f->ts_us, f->len, CU_FRAME_MAX);
	if (f->ts_us < 0)
		return cu_fail(CU_ERR_INVAL, "frame time %lld is before 1970", (long long)f->ts_us);
	if (f->dur_us > CU_FRAME_DURATION_MAX)
		return cu_fail(CU_ERR_INVAL, "frame at %lld: duration %u µs is over %u",
		    (long long)f->ts_us, f->dur_us, CU_FRAME_DURATION_MAX);
	if (f->track == CU_TRACK_VIDEO) {
		if (f->codec != CU_CODEC_H264 && f->codec != CU_CODEC_H265 &&
		    f->codec != CU_CODEC_MJPEG)
			return cu_fail(CU_ERR_UNSUPPORTED, "video frame at %lld: codec %s",
			    (long long)f->ts_us, cu_codec_name(f->codec));
		return video_frame(m, f);
	}
	if (f->track == CU_TRACK_AUDIO) {
		if (f->codec != CU_CODEC_AAC)
			return cu_fail(CU_ERR_UNSUPPORTED, "audio frame at %lld: codec %s",
			    (long long)f->ts_us, cu_codec_name(f->codec));
		return audio_frame(m, f);
	}
	return cu_fail(CU_ERR_INVAL, "frame at %lld: unknown track %u", (long long)f->ts_us,
	    f->track);
}

/* ---- creating and finishing ---- */

static int
open_target(cu_mp4 *m, const struct cu_mp4_opts *o)
{
	char buf[PATH_MAX];
	int r;

	if (o->path) {
		if (o->path[0] == '\0')
			return cu_fail(CU_ERR_INVAL, "cu_mp4_new: empty path");
		if ((r = cu_afile_open(&m->af, o->path, FILE_MODE, 0)) < 0)
			return r;
		m->to_file = true;
		m->fd = m->af.fd;
		return 0;
	}
	if (m->fragmented)
		return 0;
	/* A plain MP4 for write: built in an unlinked spool file. */
	const char *dir = o->tmp_dir ? o->tmp_dir : TMP_DIR_DEFAULT;
	if ((r = cu_path(buf, sizeof(buf), "%s/custody-mp4-XXXXXX", dir)) < 0)
		return r;
	m->fd = mkostemp(buf, O_CLOEXEC);
	if (m->fd < 0)
		return cu_fail_errno(errno, "%s: cannot create the MP4 spool file", dir);
	(void)unlink(buf);
	m->spool = true;
	return 0;
}

/* Creates a writer (see mux.h). */
int
cu_mp4_new(const struct cu_mp4_opts *o, cu_mp4 **ret)
{
	cu_mp4 *m;
	int r;

	if (!o || !ret)
		return cu_fail(CU_ERR_INVAL, "cu_mp4_new: NULL argument");
	if (!o->write == !o->path)
		return cu_fail(CU_ERR_INVAL, "cu_mp4_new: give exactly one of write and path");
	if (o->camera && (r = cu_camera_name_check(o->camera)) < 0)
		return r;

	av_log_set_level(AV_LOG_QUIET);

	m = calloc(1, sizeof(*m));
	if (!m)
		return cu_fail(CU_ERR_NOMEM, "no memory for the MP4 writer");
	m->fd = -1;
	m->fragmented = o->fragmented;
	m->write = o->write;
	m->ctx = o->ctx;
	m->state = ST_WAIT_KEY;
	m->info.first_us = -1;
	m->info.last_us = -1;
	if (o->camera)
		memcpy(m->camera, o->camera, strlen(o->camera) + 1);
	m->pkt = av_packet_alloc();
	if (!m->pkt) {
		r = cu_fail(CU_ERR_NOMEM, "no memory for the MP4 writer");
		goto fail;
	}
	if ((r = open_target(m, o)) < 0)
		goto fail;
	if ((r = open_output(m)) < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	cu_mp4_free(m);
	return r;
}

/* Copies the finished spool file to write. */
static int
spool_out(cu_mp4 *m)
{
	uint8_t *buf = malloc(IO_BUFFER_SIZE);
	uint64_t off = 0;
	struct stat st;
	int r = 0;

	if (!buf)
		return cu_fail(CU_ERR_NOMEM, "no memory to copy the MP4 out");
	if (fstat(m->fd, &st) < 0) {
		r = cu_fail_errno(errno, "the MP4 spool file");
		goto out;
	}
	while (off < (uint64_t)st.st_size) {
		size_t n = (uint64_t)st.st_size - off < IO_BUFFER_SIZE ?
		    (size_t)((uint64_t)st.st_size - off) : IO_BUFFER_SIZE;
		if ((r = cu_pread_all(m->fd, buf, n, off, "the MP4 spool file")) < 0)
			goto out;
		if ((r = m->write(m->ctx, buf, n)) < 0) {
			r = cu_fail_prefix(r, "writing MP4 output");
			goto out;
		}
		off += n;
		m->info.bytes += n;
	}
out:
	free(buf);
	return r;
}

static int
file_done(cu_mp4 *m)
{
	struct stat st;

	if (fstat(m->fd, &st) < 0)
		return cu_fail_errno(errno, "%s", m->af.tmp);
	m->info.bytes = (uint64_t)st.st_size;
	m->fd = -1; /* closed by the commit, or by cu_afile_abort in cu_mp4_free */
	/* never replaces a file that appeared meanwhile */
	return cu_afile_commit(&m->af);
}

/* Finishes the file (see mux.h). */
int
cu_mp4_finish(cu_mp4 *m)
{
	int r;

	if (!m)
		return cu_fail(CU_ERR_INVAL, "cu_mp4_finish: NULL argument");
	if (m->failed)
		return m->failed;
	if (m->state == ST_DONE)
		return cu_fail(CU_ERR_INVAL, "cu_mp4_finish: called twice");
	if (m->state == ST_WAIT_KEY) {
		while (m->npending > 0)
			pending_drop(m, m->npending - 1);
		return fail(m, cu_fail(CU_ERR_NOTFOUND, "no video key frame with its parameter "
		    "sets came (%llu frames dropped): nothing to put in an MP4",
		    (unsigned long long)m->info.dropped));
	}
	if (m->state == ST_LOOKAHEAD && (r = start_muxer(m)) < 0)
		return fail(m, r);
	r = av_write_trailer(m->fmt);
	if (r < 0 || m->io_err)
		return fail(m, mux_failed(m, r, "writing the end of the MP4"));
	avio_flush(m->avio);
	if (m->io_err || m->avio->error < 0)
		return fail(m, mux_failed(m, m->avio->error, "writing the end of the MP4"));
	m->state = ST_DONE;
	if (m->spool)
		r = spool_out(m);
	else if (m->to_file)
		r = file_done(m);
	if (r < 0)
		return fail(m, r);
	return 0;
}

void
cu_mp4_info(const cu_mp4 *m, struct cu_mp4_info *ret)
{
	if (!m || !ret)
		return;
	*ret = m->info;
}

/* Frees everything; removes an unfinished <path>.tmp. NULL is fine. */
void
cu_mp4_free(cu_mp4 *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->npending; i++)
		av_packet_free(&m->pending[i]);
	avformat_free_context(m->fmt);
	if (m->avio) {
		av_freep(&m->avio->buffer);
		avio_context_free(&m->avio);
	}
	av_packet_free(&m->pkt);
	if (m->to_file)
		cu_afile_abort(&m->af); /* closes af.fd (m->fd) unless committed */
	else if (m->fd >= 0)
		(void)close(m->fd);
	free(m);
}
