/* Unit tests for lib/media/import.c: reading frames from the clips in
 * tests/data/media (see the README there for how they were made and the
 * frame counts ffprobe reports). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "custody/error.h"
#include "custody/media.h"

#define FPS 25
#define FRAME_US (1000000 / FPS)
#define GOP 25
#define AAC_RATE 48000
#define AAC_FREQ_INDEX 3   /* 48000 Hz */
#define AAC_PROFILE_LC 1   /* ADTS profile field: object type 2 - 1 */

/* Frame counts measured with ffprobe -count_packets when the clips were made. */
#define H264_MP4_VIDEO 50
#define H264_MP4_AUDIO 95
#define H265_MKV_VIDEO 50
#define H264_RAW_VIDEO 50
#define MJPEG_AVI_VIDEO 50

static const char *
data_path(const char *name)
{
	static char path[4096];
	const char *dir = getenv("CU_TEST_DATA");

	assert_non_null(dir);
	int n = snprintf(path, sizeof(path), "%s/media/%s", dir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	return path;
}

/* What a pass over a file saw. */
struct summary {
	int video;          /* video frames */
	int audio;          /* audio frames */
	int vcodec;         /* codec of the video frames */
	int first_track;    /* track of the first frame */
};

static bool
has_start_code(const uint8_t *p, size_t len)
{
	return (len >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 1) ||
	       (len >= 3 && p[0] == 0 && p[1] == 0 && p[2] == 1);
}

/* Bit mask of the NAL unit types (0..63) in an Annex B access unit. */
static uint64_t
nal_types(const uint8_t *p, size_t len, bool hevc)
{
	uint64_t types = 0;

	for (size_t i = 0; i + 3 < len; i++) {
		if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1) {
			uint8_t b = p[i + 3];
			unsigned t = hevc ? (b >> 1) & 0x3F : b & 0x1F;
			types |= UINT64_C(1) << t;
			i += 2;
		}
	}
	return types;
}

#define HAS(mask, t) (((mask) >> (t)) & 1)

static void
check_h264(const cu_frame *f, int index)
{
	uint64_t t = nal_types(f->data, f->len, false);

	assert_true(has_start_code(f->data, f->len));
	if (index % GOP == 0) {
		assert_true(HAS(t, 7));  /* SPS */
		assert_true(HAS(t, 8));  /* PPS */
		assert_true(HAS(t, 5));  /* IDR slice */
	} else {
		assert_false(HAS(t, 5));
		assert_true(HAS(t, 1));  /* non-IDR slice */
	}
}

static void
check_h265(const cu_frame *f, int index)
{
	uint64_t t = nal_types(f->data, f->len, true);
	bool irap = false;

	assert_true(has_start_code(f->data, f->len));
	for (unsigned n = 16; n <= 21; n++)
		irap = irap || HAS(t, n);
	if (index % GOP == 0) {
		assert_true(HAS(t, 32)); /* VPS */
		assert_true(HAS(t, 33)); /* SPS */
		assert_true(HAS(t, 34)); /* PPS */
		assert_true(irap);
	} else {
		assert_false(irap);
	}
}

static void
check_mjpeg(const cu_frame *f)
{
	assert_true(f->len >= 4);
	assert_int_equal(f->data[0], 0xFF);       /* SOI */
	assert_int_equal(f->data[1], 0xD8);
	assert_true(f->key);
}

static void
check_aac(const cu_frame *f)
{
	const uint8_t *h = f->data;

	assert_true(f->len > 7);
	assert_int_equal(h[0], 0xFF);             /* syncword 0xFFF */
	assert_int_equal(h[1] & 0xF0, 0xF0);
	assert_int_equal(h[1] & 0x01, 1);         /* no CRC: 7-byte header */
	size_t frame_len = ((size_t)(h[3] & 0x03) << 11) | ((size_t)h[4] << 3) | (h[5] >> 5);
	assert_int_equal(frame_len, f->len);
	assert_int_equal(h[2] >> 6, AAC_PROFILE_LC);
	assert_int_equal((h[2] >> 2) & 0x0F, AAC_FREQ_INDEX);
	unsigned channels = ((h[2] & 1u) << 2) | (h[3] >> 6);
	assert_int_equal(channels, 1);
	assert_true(f->key);
}

/* Reads a whole file, checking every frame; returns what it saw. */
static struct summary
read_all(const char *name)
{
	struct summary s = { 0, 0, 0, -1 };
	cu_media_src *src = NULL;
	cu_frame f;
	int64_t last_audio_ts = -1;
	int last_short = 0;       /* audio frames shorter than 1024 samples */
	int r;

	r = cu_media_open(data_path(name), &src);
	if (r < 0)
		fail_msg("%s: %s (%s)", name, cu_strerror(r), cu_error_detail());
	assert_non_null(src);
	while ((r = cu_media_next(src, &f)) == 1) {
		assert_non_null(f.data);
		assert_true(f.len >= 1 && f.len <= CU_FRAME_MAX);
		assert_true(f.ts_us >= 0);
		if (s.first_track < 0) {
			s.first_track = f.track;
			assert_int_equal(f.ts_us, 0);
		}
		if (f.track == CU_TRACK_VIDEO) {
			if (s.video == 0)
				s.vcodec = f.codec;
			assert_int_equal(f.codec, s.vcodec);
			/* No B-frames in these clips: decode order is
			 * presentation order, one frame every 40 ms from 0. */
			assert_int_equal(f.ts_us, (int64_t)s.video * FRAME_US);
			assert_int_equal(f.dur_us, FRAME_US);
			if (f.codec != CU_CODEC_MJPEG)
				assert_int_equal(f.key, s.video % GOP == 0);
			switch (f.codec) {
			case CU_CODEC_H264: check_h264(&f, s.video); break;
			case CU_CODEC_H265: check_h265(&f, s.video); break;
			case CU_CODEC_MJPEG: check_mjpeg(&f); break;
			default: fail_msg("video codec %d", f.codec);
			}
			s.video++;
		} else {
			assert_int_equal(f.track, CU_TRACK_AUDIO);
			assert_int_equal(f.codec, CU_CODEC_AAC);
			check_aac(&f);
			/* 1024 samples, but the last frame is cut to the
			 * end of the sound (its duration in the file). */
			assert_true(f.dur_us > 0 && f.dur_us <= 1024 * 1000000 / AAC_RATE);
			if (f.dur_us != 1024 * 1000000 / AAC_RATE)
				last_short++;
			assert_true(f.ts_us >= last_audio_ts);
			last_audio_ts = f.ts_us;
			s.audio++;
		}
	}
	if (r < 0)
		fail_msg("%s: %s (%s)", name, cu_strerror(r), cu_error_detail());
	assert_true(last_short <= 1);
	/* The end stays the end. */
	assert_int_equal(cu_media_next(src, &f), 0);
	cu_media_close(src);
	return s;
}

static void
test_codec_name(void **state)
{
	(void)state;
	assert_string_equal(cu_codec_name(CU_CODEC_H264), "h264");
	assert_string_equal(cu_codec_name(CU_CODEC_H265), "h265");
	assert_string_equal(cu_codec_name(CU_CODEC_MJPEG), "mjpeg");
	assert_string_equal(cu_codec_name(CU_CODEC_AAC), "aac");
	assert_string_equal(cu_codec_name(0), "unknown");
	assert_string_equal(cu_codec_name(99), "unknown");
	cu_media_close(NULL);
}

static void
test_h264_mp4(void **state)
{
	(void)state;
	struct summary s = read_all("h264.mp4");
	assert_int_equal(s.vcodec, CU_CODEC_H264);
	assert_int_equal(s.video, H264_MP4_VIDEO);
	assert_int_equal(s.audio, H264_MP4_AUDIO);
}

static void
test_h264_mp4_audio_times(void **state)
{
	(void)state;
	cu_media_src *src = NULL;
	cu_frame f;
	int n = 0;

	assert_int_equal(cu_media_open(data_path("h264.mp4"), &src), 0);
	/* The first AAC frame is the encoder's priming frame, marked for
	 * discarding: it is put at 0, and so is the first frame shown (pts 0);
	 * from there on, 1024 samples per frame. */
	while (cu_media_next(src, &f) == 1) {
		if (f.track != CU_TRACK_AUDIO)
			continue;
		int64_t want = n == 0 ? 0 : (int64_t)(n - 1) * 1024 * 1000000 / AAC_RATE;
		assert_true(f.ts_us >= want - 1 && f.ts_us <= want + 1);
		n++;
	}
	assert_int_equal(n, H264_MP4_AUDIO);
	cu_media_close(src);
}

static void
test_h265_mkv(void **state)
{
	(void)state;
	struct summary s = read_all("h265.mkv");
	assert_int_equal(s.vcodec, CU_CODEC_H265);
	assert_int_equal(s.video, H265_MKV_VIDEO);
	assert_int_equal(s.audio, 0);
}

static void
test_h264_raw(void **state)
{
	(void)state;
	struct summary s = read_all("h264.h264");
	assert_int_equal(s.vcodec, CU_CODEC_H264);
	assert_int_equal(s.video, H264_RAW_VIDEO);
	assert_int_equal(s.audio, 0);
}

/* Annex B input passes through unchanged: the frames, end to end, are the
 * file. */
static void
test_h264_raw_unchanged(void **state)
{
	(void)state;
	const char *path = data_path("h264.h264");
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	long size = ftell(fp);
	assert_true(size > 0);
	rewind(fp);
	uint8_t *file = malloc((size_t)size);
	assert_non_null(file);
	assert_int_equal(fread(file, 1, (size_t)size, fp), (size_t)size);
	fclose(fp);

	cu_media_src *src = NULL;
	cu_frame f;
	size_t off = 0;
	assert_int_equal(cu_media_open(path, &src), 0);
	while (cu_media_next(src, &f) == 1) {
		assert_true(off + f.len <= (size_t)size);
		assert_memory_equal(f.data, file + off, f.len);
		off += f.len;
	}
	assert_int_equal(off, (size_t)size);
	cu_media_close(src);
	free(file);
}

static void
test_mjpeg_avi(void **state)
{
	(void)state;
	struct summary s = read_all("mjpeg.avi");
	assert_int_equal(s.vcodec, CU_CODEC_MJPEG);
	assert_int_equal(s.video, MJPEG_AVI_VIDEO);
	assert_int_equal(s.audio, 0);
}

/* Opening must fail with code, leave *ret alone, and name the file. */
static void
expect_open_error(const char *path, int code, const char *detail_part)
{
	cu_media_src *sentinel = (cu_media_src *)&sentinel;
	cu_media_src *src = sentinel;

	cu_error_clear();
	int r = cu_media_open(path, &src);
	if (r != code)
		fail_msg("%s: got %d (%s), want %d", path, r, cu_error_detail(), code);
	assert_ptr_equal(src, sentinel);
	assert_non_null(strstr(cu_error_detail(), path));
	if (detail_part && !strstr(cu_error_detail(), detail_part))
		fail_msg("%s: detail \"%s\" lacks \"%s\"", path, cu_error_detail(), detail_part);
}

static void
test_not_media(void **state)
{
	(void)state;
	expect_open_error(data_path("not-media.bin"), CU_ERR_MEDIA, "not a media file");
	expect_open_error(data_path("text.txt"), CU_ERR_MEDIA, "not a media file");
}

static void
test_no_usable_stream(void **state)
{
	(void)state;
	expect_open_error(data_path("vp9-opus.webm"), CU_ERR_MEDIA, "(found: vp9, opus)");
}

/* Media, but in a container outside the accepted list. */
static void
test_format_not_accepted(void **state)
{
	(void)state;
	expect_open_error(data_path("sine.wav"), CU_ERR_MEDIA, "\"wav\" files are not accepted");
}

static void
test_missing(void **state)
{
	(void)state;
	expect_open_error(data_path("no-such-file.mp4"), CU_ERR_NOTFOUND, NULL);
}

static void
test_directory(void **state)
{
	(void)state;
	expect_open_error(data_path(""), CU_ERR_INVAL, "not a regular file");
}

/* A symbolic link is refused even when it points at a good clip, and a FIFO
 * is refused without waiting for a writer. */
static void
test_symlink_and_fifo(void **state)
{
	(void)state;
	char dir[] = "/tmp/cu-test-media-XXXXXX";
	char link[sizeof(dir) + 16], fifo[sizeof(dir) + 16];
	char target[4096];

	assert_non_null(mkdtemp(dir));
	assert_true(snprintf(link, sizeof(link), "%s/link.mp4", dir) > 0);
	assert_true(snprintf(fifo, sizeof(fifo), "%s/fifo.mp4", dir) > 0);
	assert_true(snprintf(target, sizeof(target), "%s", data_path("h264.mp4")) > 0);
	if (target[0] != '/') {
		/* Make a relative CU_TEST_DATA absolute for the link. */
		char cwd[2048];
		assert_non_null(getcwd(cwd, sizeof(cwd)));
		char rel[sizeof(target)];
		memcpy(rel, target, sizeof(rel));
		int n = snprintf(target, sizeof(target), "%s/%s", cwd, rel);
		assert_true(n > 0 && (size_t)n < sizeof(target));
	}
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);

	expect_open_error(link, CU_ERR_INVAL, "symbolic link");
	expect_open_error(fifo, CU_ERR_INVAL, "not a regular file");

	/* The target itself opens. */
	cu_media_src *src = NULL;
	assert_int_equal(cu_media_open(target, &src), 0);
	cu_media_close(src);

	assert_int_equal(unlink(link), 0);
	assert_int_equal(unlink(fifo), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_bad_arguments(void **state)
{
	(void)state;
	cu_media_src *src = NULL;
	cu_frame f;

	assert_int_equal(cu_media_open(NULL, &src), CU_ERR_INVAL);
	assert_int_equal(cu_media_open("", &src), CU_ERR_INVAL);
	assert_int_equal(cu_media_open(data_path("h264.mp4"), NULL), CU_ERR_INVAL);
	assert_null(src);
	assert_int_equal(cu_media_next(NULL, &f), CU_ERR_INVAL);
	assert_int_equal(cu_media_open(data_path("h264.mp4"), &src), 0);
	assert_int_equal(cu_media_next(src, NULL), CU_ERR_INVAL);
	cu_media_close(src);
}

/* Closing in the middle of a file frees everything (checked under ASan). */
static void
test_close_early(void **state)
{
	(void)state;
	cu_media_src *src = NULL;
	cu_frame f;

	assert_int_equal(cu_media_open(data_path("h265.mkv"), &src), 0);
	assert_int_equal(cu_media_next(src, &f), 1);
	assert_int_equal(cu_media_next(src, &f), 1);
	cu_media_close(src);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_name),
		cmocka_unit_test(test_h264_mp4),
		cmocka_unit_test(test_h264_mp4_audio_times),
		cmocka_unit_test(test_h265_mkv),
		cmocka_unit_test(test_h264_raw),
		cmocka_unit_test(test_h264_raw_unchanged),
		cmocka_unit_test(test_mjpeg_avi),
		cmocka_unit_test(test_not_media),
		cmocka_unit_test(test_no_usable_stream),
		cmocka_unit_test(test_format_not_accepted),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_symlink_and_fifo),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_close_early),
	};
	return cmocka_run_group_tests_name("media", tests, NULL, NULL);
}
