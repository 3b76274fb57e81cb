/* Unit tests for lib/media/mux.c and lib/media/still.c: frames imported from
 * the clips in tests/data/media (moved to a fixed wall-clock start) are
 * written as fragmented and plain MP4 and as JPEG stills, and the results are
 * checked with the real ffprobe/ffmpeg: codec, frame count, duration, clean
 * decoding, metadata, and the EXIF bytes parsed here. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "custody/error.h"
#include "custody/media.h"
#include "custody/mux.h"

#define FRAME_US 40000
#define GOP 25
#define CLIP_FRAMES 50                           /* video frames in each clip */
#define CLIP_US (CLIP_FRAMES * FRAME_US)
#define H264_AUDIO 95                            /* AAC frames in h264.mp4 */
/* 2024-05-01T12:00:00.123456Z: a start with µs, to see them kept. */
#define START_US INT64_C(1714564800123456)
#define CAMERA "cam-1.front_door"
#define OUT_MAX (64u * 1024 * 1024)              /* command output read */

static char tmpdir[64];

/* ---- helpers ---- */

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

static void
tmp_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", tmpdir, name);
	assert_true(n > 0 && (size_t)n < len);
}

/* Frames of a clip, copied, with START_US added. */
struct clip {
	cu_frame *f;
	uint8_t **bufs;     /* the copies f[i].data points to */
	size_t n;
	size_t video, audio;
};

static void
clip_load_path(const char *path, struct clip *c)
{
	cu_media_src *src = NULL;
	cu_frame f;
	size_t cap = 0;
	int r;

	memset(c, 0, sizeof(*c));
	r = cu_media_open(path, &src);
	if (r < 0)
		fail_msg("%s: %s (%s)", path, cu_strerror(r), cu_error_detail());
	while ((r = cu_media_next(src, &f)) == 1) {
		if (c->n == cap) {
			cap = cap ? cap * 2 : 64;
			c->f = realloc(c->f, cap * sizeof(*c->f));
			c->bufs = realloc(c->bufs, cap * sizeof(*c->bufs));
			assert_non_null(c->f);
			assert_non_null(c->bufs);
		}
		uint8_t *copy = malloc(f.len);
		assert_non_null(copy);
		memcpy(copy, f.data, f.len);
		f.data = copy;
		f.ts_us += START_US;
		c->bufs[c->n] = copy;
		c->f[c->n++] = f;
		if (f.track == CU_TRACK_VIDEO)
			c->video++;
		else
			c->audio++;
	}
	assert_int_equal(r, 0);
	cu_media_close(src);
}

static void
clip_load(const char *name, struct clip *c)
{
	clip_load_path(data_path(name), c);
}

static void
clip_free(struct clip *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->bufs[i]);
	free(c->bufs);
	free(c->f);
	memset(c, 0, sizeof(*c));
}

/* Runs a shell command; returns its exit status, its stdout in *out
 * (malloc'd, NUL-terminated; *out_len bytes) and its stderr in *err. */
static int
run_len(const char *cmd, char **out, size_t *out_len, char **err)
{
	char errfile[128], full[8192];
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);
	int n;

	assert_non_null(buf);
	tmp_path(errfile, sizeof(errfile), "stderr.txt");
	n = snprintf(full, sizeof(full), "%s 2>'%s'", cmd, errfile);
	assert_true(n > 0 && (size_t)n < sizeof(full));
	FILE *p = popen(full, "r");
	assert_non_null(p);
	for (;;) {
		if (len == cap) {
			assert_true(cap < OUT_MAX);
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		size_t got = fread(buf + len, 1, cap - len, p);
		if (got == 0)
			break;
		len += got;
	}
	buf[len] = '\0';
	int status = pclose(p);
	if (out_len)
		*out_len = len;
	if (out)
		*out = buf;
	else
		free(buf);
	if (err) {
		FILE *e = fopen(errfile, "r");
		assert_non_null(e);
		char *eb = calloc(1, 65537);
		assert_non_null(eb);
		size_t el = fread(eb, 1, 65536, e);
		eb[el] = '\0';
		fclose(e);
		*err = eb;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
run(const char *cmd, char **out, char **err)
{
	return run_len(cmd, out, NULL, err);
}

/* What ffprobe says about a file. */
struct probe {
	char vcodec[16], vtag[16], acodec[16];
	long vframes, aframes;
	int width, height;
	double duration;                 /* format duration, s */
	double vduration;                /* video stream duration, s */
	char creation_time[64], title[128], comment[256];
};

static long
json_long(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return (long)json_integer_value(v);
	return -1;
}

static void
json_str(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	buf[0] = '\0';
	if (json_is_string(v))
		(void)snprintf(buf, len, "%s", json_string_value(v));
}

static void
probe(const char *file, struct probe *p)
{
	char cmd[4096], *out = NULL, *err = NULL;
	json_error_t jerr;

	memset(p, 0, sizeof(*p));
	p->vframes = p->aframes = -1;
	int n = snprintf(cmd, sizeof(cmd), "ffprobe -v error -count_frames -show_entries "
	    "stream=codec_name,codec_tag_string,codec_type,nb_read_frames,width,height,duration"
	    ":format=duration:format_tags=creation_time,title,comment -of json '%s'", file);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	int st = run(cmd, &out, &err);
	if (st != 0 || err[0])
		fail_msg("ffprobe %s: exit %d: %s", file, st, err);
	json_t *root = json_loads(out, 0, &jerr);
	if (!root)
		fail_msg("ffprobe output is not JSON: %s", jerr.text);
	json_t *streams = json_object_get(root, "streams");
	size_t i;
	json_t *s;
	json_array_foreach(streams, i, s) {
		char type[16];
		json_str(s, "codec_type", type, sizeof(type));
		if (strcmp(type, "video") == 0) {
			json_str(s, "codec_name", p->vcodec, sizeof(p->vcodec));
			json_str(s, "codec_tag_string", p->vtag, sizeof(p->vtag));
			p->vframes = json_long(s, "nb_read_frames");
			p->width = (int)json_long(s, "width");
			p->height = (int)json_long(s, "height");
			json_t *d = json_object_get(s, "duration");
			if (json_is_string(d))
				p->vduration = strtod(json_string_value(d), NULL);
		} else if (strcmp(type, "audio") == 0) {
			json_str(s, "codec_name", p->acodec, sizeof(p->acodec));
			p->aframes = json_long(s, "nb_read_frames");
		}
	}
	json_t *fmt = json_object_get(root, "format");
	json_t *d = json_object_get(fmt, "duration");
	if (json_is_string(d))
		p->duration = strtod(json_string_value(d), NULL);
	json_t *tags = json_object_get(fmt, "tags");
	json_str(tags, "creation_time", p->creation_time, sizeof(p->creation_time));
	json_str(tags, "title", p->title, sizeof(p->title));
	json_str(tags, "comment", p->comment, sizeof(p->comment));
	json_decref(root);
	free(out);
	free(err);
}

/* ffmpeg decodes every stream of the file without a word on stderr. */
static void
decodes_cleanly(const char *file)
{
	char cmd[4096], *err = NULL;
	int n = snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i '%s' -f null -", file);

	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	int st = run(cmd, NULL, &err);
	if (st != 0 || err[0])
		fail_msg("ffmpeg decoding %s: exit %d: %s", file, st, err);
	free(err);
}

/* The write callback: appends to a file, optionally failing. */
struct sink {
	int fd;
	size_t calls;
	size_t bytes;
	size_t fail_at;     /* 1-based call that fails, 0 never */
};

static int
sink_write(void *ctx, const uint8_t *data, size_t len)
{
	struct sink *s = ctx;

	s->calls++;
	if (s->fail_at && s->calls >= s->fail_at)
		return CU_ERR_IO;
	assert_true(len > 0);
	assert_int_equal(write(s->fd, data, len), (ssize_t)len);
	s->bytes += len;
	return 0;
}

static void
sink_open(struct sink *s, const char *path)
{
	memset(s, 0, sizeof(*s));
	s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(s->fd >= 0);
}

enum target { TO_WRITE, TO_PATH };

struct written {
	size_t video, audio, dropped;
	struct cu_mp4_info info;
};

/* Writes frames[from..to) of a clip into file; every frame must be taken
 * unless drops are allowed. */
static void
write_mp4(const struct clip *c, size_t from, size_t to, bool fragmented, enum target t,
          const char *file, struct written *w)
{
	struct cu_mp4_opts o = { 0 };
	struct sink s;
	cu_mp4 *m = NULL;
	int r;

	memset(w, 0, sizeof(*w));
	o.fragmented = fragmented;
	o.camera = CAMERA;
	o.tmp_dir = tmpdir;
	if (t == TO_WRITE) {
		sink_open(&s, file);
		o.write = sink_write;
		o.ctx = &s;
	} else {
		(void)unlink(file);
		o.path = file;
	}
	r = cu_mp4_new(&o, &m);
	if (r < 0)
		fail_msg("cu_mp4_new: %s (%s)", cu_strerror(r), cu_error_detail());
	for (size_t i = from; i < to; i++) {
		r = cu_mp4_frame(m, &c->f[i]);
		if (r < 0)
			fail_msg("cu_mp4_frame %zu: %s (%s)", i, cu_strerror(r), cu_error_detail());
		if (r == 0)
			w->dropped++;
		else if (c->f[i].track == CU_TRACK_VIDEO)
			w->video++;
		else
			w->audio++;
	}
	r = cu_mp4_finish(m);
	if (r < 0)
		fail_msg("cu_mp4_finish: %s (%s)", cu_strerror(r), cu_error_detail());
	cu_mp4_info(m, &w->info);
	cu_mp4_free(m);
	if (t == TO_WRITE) {
		assert_int_equal(w->info.bytes, s.bytes);
		close(s.fd);
	} else {
		char tmp[4200];
		struct stat st;
		int n = snprintf(tmp, sizeof(tmp), "%s.tmp", file);
		assert_true(n > 0 && (size_t)n < sizeof(tmp));
		assert_int_equal(stat(tmp, &st), -1);   /* renamed away */
		assert_int_equal(stat(file, &st), 0);
		assert_int_equal((uint64_t)st.st_size, w->info.bytes);
	}
	assert_int_equal(w->info.video_frames, w->video);
	assert_int_equal(w->info.audio_frames, w->audio);
	assert_int_equal(w->info.dropped, w->dropped);
}

/* Every check of an MP4 written from a whole clip (the input file). */
static void
check_mp4(const char *file, const char *input, const struct written *w, const char *vcodec,
          bool audio)
{
	struct probe p, in;

	probe(input, &in);
	probe(file, &p);
	assert_string_equal(p.vcodec, vcodec);
	assert_int_equal(p.vframes, (long)w->video);
	assert_int_equal(p.width, 320);
	assert_int_equal(p.height, 240);
	/* Within one frame of the input's duration. */
	if (!(p.duration > in.duration - FRAME_US / 1e6 && p.duration < in.duration + FRAME_US / 1e6))
		fail_msg("%s lasts %f s, %s %f s", file, p.duration, input, in.duration);
	if (audio) {
		assert_string_equal(p.acodec, "aac");
		assert_int_equal(p.aframes, (long)w->audio);
	} else {
		assert_string_equal(p.acodec, "");
	}
	/* mvhd keeps whole seconds; the comment keeps the µs. */
	assert_string_equal(p.creation_time, "2024-05-01T12:00:00.000000Z");
	assert_string_equal(p.title, "custody camera " CAMERA);
	assert_string_equal(p.comment, "custody camera=" CAMERA " start=2024-05-01T12:00:00.123456Z");
	decodes_cleanly(file);
}

/* ---- MP4 ---- */

static void
h264_case(bool fragmented, enum target t, const char *name)
{
	struct clip c;
	struct written w;
	char file[256];

	clip_load("h264.mp4", &c);
	assert_int_equal(c.video, CLIP_FRAMES);
	assert_int_equal(c.audio, H264_AUDIO);
	tmp_path(file, sizeof(file), name);
	write_mp4(&c, 0, c.n, fragmented, t, file, &w);
	/* Every frame is taken: the first one is a key frame at 0. */
	assert_int_equal(w.video, CLIP_FRAMES);
	assert_int_equal(w.audio, H264_AUDIO);
	assert_int_equal(w.dropped, 0);
	assert_int_equal(w.info.video_codec, CU_CODEC_H264);
	assert_true(w.info.audio);
	assert_int_equal(w.info.width, 320);
	assert_int_equal(w.info.height, 240);
	assert_int_equal(w.info.first_us, START_US);
	assert_int_equal(w.info.adjusted, 0);
	check_mp4(file, data_path("h264.mp4"), &w, "h264", true);
	clip_free(&c);
}

static void
test_h264_fragmented_write(void **state)
{
	(void)state;
	h264_case(true, TO_WRITE, "h264-frag.mp4");
}

static void
test_h264_fragmented_path(void **state)
{
	(void)state;
	h264_case(true, TO_PATH, "h264-frag-path.mp4");
}

static void
test_h264_plain_path(void **state)
{
	(void)state;
	h264_case(false, TO_PATH, "h264-plain.mp4");
}

static void
test_h264_plain_write(void **state)
{
	(void)state;
	h264_case(false, TO_WRITE, "h264-plain-spool.mp4");
}

static void
h265_case(bool fragmented, enum target t, const char *name)
{
	struct clip c;
	struct written w;
	struct probe p;
	char file[256];

	clip_load("h265.mkv", &c);
	assert_int_equal(c.video, CLIP_FRAMES);
	assert_int_equal(c.audio, 0);
	tmp_path(file, sizeof(file), name);
	write_mp4(&c, 0, c.n, fragmented, t, file, &w);
	assert_int_equal(w.video, CLIP_FRAMES);
	assert_int_equal(w.dropped, 0);
	assert_int_equal(w.info.video_codec, CU_CODEC_H265);
	assert_false(w.info.audio);
	check_mp4(file, data_path("h265.mkv"), &w, "hevc", false);
	probe(file, &p);
	assert_string_equal(p.vtag, "hvc1");
	clip_free(&c);
}

static void
test_h265_fragmented(void **state)
{
	(void)state;
	h265_case(true, TO_WRITE, "h265-frag.mp4");
}

static void
test_h265_plain(void **state)
{
	(void)state;
	h265_case(false, TO_PATH, "h265-plain.mp4");
}

/* The fragmented file is a stream of boxes: ftyp, moov, then moof+mdat
 * pairs, one per GOP (two GOPs in the clip), and an mfra index. */
static void
test_fragment_per_key_frame(void **state)
{
	struct clip c;
	struct written w;
	char file[256];
	uint8_t *buf;
	size_t len, off = 0;
	int moof = 0, mdat = 0;
	bool ftyp_first = false, moov = false, mfra = false;
	struct stat st;

	(void)state;
	clip_load("h264.mp4", &c);
	tmp_path(file, sizeof(file), "boxes.mp4");
	write_mp4(&c, 0, c.n, true, TO_WRITE, file, &w);
	assert_int_equal(stat(file, &st), 0);
	len = (size_t)st.st_size;
	buf = malloc(len);
	assert_non_null(buf);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, len), (ssize_t)len);
	close(fd);
	while (off + 8 <= len) {
		uint32_t size = (uint32_t)buf[off] << 24 | (uint32_t)buf[off + 1] << 16 |
				(uint32_t)buf[off + 2] << 8 | buf[off + 3];
		const uint8_t *type = buf + off + 4;
		assert_true(size >= 8 && off + size <= len);
		if (off == 0)
			ftyp_first = memcmp(type, "ftyp", 4) == 0;
		if (memcmp(type, "moov", 4) == 0) {
			assert_int_equal(moof, 0);    /* before any fragment */
			moov = true;
		}
		if (memcmp(type, "moof", 4) == 0)
			moof++;
		if (memcmp(type, "mdat", 4) == 0)
			mdat++;
		if (memcmp(type, "mfra", 4) == 0)
			mfra = true;
		off += size;
	}
	assert_int_equal(off, len);
	assert_true(ftyp_first);
	assert_true(moov);
	assert_true(mfra);
	assert_int_equal(moof, CLIP_FRAMES / GOP);
	assert_int_equal(mdat, moof);
	free(buf);
	clip_free(&c);
}

/* Frames before the first key frame are dropped; time 0 is that key frame. */
static void
test_starts_at_key_frame(void **state)
{
	struct clip c;
	struct written w;
	struct probe p;
	char file[256];
	size_t from = 0, key2 = 0, seen = 0;

	(void)state;
	clip_load("h265.mkv", &c);
	/* Start at the 6th video frame; the next key frame is the 26th. */
	for (size_t i = 0; i < c.n; i++) {
		if (c.f[i].track != CU_TRACK_VIDEO)
			continue;
		if (seen == 5)
			from = i;
		if (seen == GOP)
			key2 = i;
		seen++;
	}
	assert_true(c.f[key2].key);
	tmp_path(file, sizeof(file), "from-key.mp4");
	write_mp4(&c, from, c.n, true, TO_WRITE, file, &w);
	assert_int_equal(w.dropped, GOP - 5);
	assert_int_equal(w.video, CLIP_FRAMES - GOP);
	assert_int_equal(w.info.first_us, c.f[key2].ts_us);
	probe(file, &p);
	assert_int_equal(p.vframes, CLIP_FRAMES - GOP);
	assert_true(p.duration > (CLIP_US / 2 - FRAME_US) / 1e6 &&
		    p.duration < (CLIP_US / 2 + FRAME_US) / 1e6);
	assert_string_equal(p.creation_time, "2024-05-01T12:00:01.000000Z");
	decodes_cleanly(file);
	clip_free(&c);
}

/* A clip with B-frames (made here with the ffmpeg CLI): decode timestamps
 * come from the reorder depth, and the pictures come out every 40 ms. */
static void
test_b_frames(void **state)
{
	char src[256], cmd[4096], *out = NULL, *err = NULL;
	struct clip c;
	int n;

	(void)state;
	tmp_path(src, sizeof(src), "bframes.mp4");
	n = snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -y -f lavfi -i "
	    "testsrc2=size=320x240:rate=25:duration=2 -c:v libx264 -preset veryfast "
	    "-pix_fmt yuv420p -g 25 -bf 3 -b_strategy 0 -x264-params b-pyramid=normal "
	    "-an '%s'", src);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	n = run(cmd, NULL, &err);
	if (n != 0 || err[0])
		fail_msg("making a B-frame clip: %s", err);
	free(err);

	clip_load_path(src, &c);
	assert_int_equal(c.video, CLIP_FRAMES);
	/* There are B-frames: some frame is shown before one decoded earlier. */
	bool reordered = false;
	for (size_t i = 1; i < c.n; i++)
		reordered = reordered || c.f[i].ts_us < c.f[i - 1].ts_us;
	assert_true(reordered);

	for (int frag = 0; frag < 2; frag++) {
		char file[256];
		struct written w;
		struct probe p;

		tmp_path(file, sizeof(file), frag ? "bframes-frag.mp4" : "bframes-plain.mp4");
		write_mp4(&c, 0, c.n, frag, TO_PATH, file, &w);
		assert_int_equal(w.video, CLIP_FRAMES);
		assert_int_equal(w.info.adjusted, 0);
		probe(file, &p);
		assert_int_equal(p.vframes, CLIP_FRAMES);
		decodes_cleanly(file);
		/* Decoded pictures in order, one every 40 ms from 0. */
		n = snprintf(cmd, sizeof(cmd), "ffprobe -v error -select_streams v "
		    "-show_entries frame=pts_time -of csv=p=0 '%s'", file);
		assert_true(n > 0 && (size_t)n < sizeof(cmd));
		n = run(cmd, &out, &err);
		if (n != 0 || err[0])
			fail_msg("ffprobe frames: %s", err);
		char *line = out;
		int k = 0;
		while (*line) {
			char *end = strchr(line, '\n');
			if (end)
				*end = '\0';
			if (*line == '\0') {   /* ffprobe's empty side-data lines */
				line = end ? end + 1 : line;
				continue;
			}
			double t = strtod(line, NULL);
			if (!(t > (k * FRAME_US - 500) / 1e6 && t < (k * FRAME_US + 500) / 1e6))
				fail_msg("%s: picture %d at %f", file, k, t);
			assert_true(t > (k * FRAME_US - 500) / 1e6 && t < (k * FRAME_US + 500) / 1e6);
			k++;
			line = end ? end + 1 : line + strlen(line);
		}
		assert_int_equal(k, CLIP_FRAMES);
		free(out);
		free(err);
	}
	clip_free(&c);
}

/* Audio that starts after the video keeps its place in time (an edit list
 * in both kinds of file), as does the video. */
static void
test_audio_starts_later(void **state)
{
	struct clip c, late;
	struct written w;
	char file[256], cmd[4096], *out = NULL, *err = NULL;
	int64_t first_audio = -1;

	(void)state;
	clip_load("h264.mp4", &c);
	memset(&late, 0, sizeof(late));
	late.f = calloc(c.n, sizeof(*late.f));
	assert_non_null(late.f);
	for (size_t i = 0; i < c.n; i++) {
		if (c.f[i].track == CU_TRACK_AUDIO && c.f[i].ts_us < START_US + 100000)
			continue;
		if (c.f[i].track == CU_TRACK_AUDIO && first_audio < 0)
			first_audio = c.f[i].ts_us - START_US;
		late.f[late.n++] = c.f[i];
	}
	assert_true(first_audio >= 100000 && first_audio < 130000);
	for (int frag = 0; frag < 2; frag++) {
		tmp_path(file, sizeof(file), frag ? "late-audio-frag.mp4" : "late-audio.mp4");
		write_mp4(&late, 0, late.n, frag, TO_PATH, file, &w);
		int n = snprintf(cmd, sizeof(cmd), "ffprobe -v error -show_entries "
		    "stream=codec_type,start_time -of csv=p=0 '%s'", file);
		assert_true(n > 0 && (size_t)n < sizeof(cmd));
		n = run(cmd, &out, &err);
		if (n != 0 || err[0])
			fail_msg("%s: %s", cmd, err);
		double v = -1, a = -1;
		char *line;
		char *save = NULL;
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "video,", 6) == 0)
				v = strtod(line + 6, NULL);
			else if (strncmp(line, "audio,", 6) == 0)
				a = strtod(line + 6, NULL);
		}
		if (!(v > -0.0005 && v < 0.0005 && a > first_audio / 1e6 - 0.0005 &&
		    a < first_audio / 1e6 + 0.0005))
			fail_msg("%s: video starts at %f, audio at %f (want 0 and %f)", file, v, a,
			    first_audio / 1e6);
		decodes_cleanly(file);
		free(out);
		free(err);
	}
	free(late.f);
	clip_free(&c);
}

/* MJPEG video goes into MP4 too (every frame a key frame). */
static void
test_mjpeg(void **state)
{
	struct clip c;
	struct written w;
	struct probe p;
	char file[256];

	(void)state;
	clip_load("mjpeg.avi", &c);
	tmp_path(file, sizeof(file), "mjpeg.mp4");
	write_mp4(&c, 0, c.n, false, TO_PATH, file, &w);
	assert_int_equal(w.video, CLIP_FRAMES);
	assert_int_equal(w.info.width, 160);
	assert_int_equal(w.info.height, 120);
	probe(file, &p);
	assert_string_equal(p.vcodec, "mjpeg");
	assert_int_equal(p.vframes, CLIP_FRAMES);
	decodes_cleanly(file);
	clip_free(&c);
}

static void
test_no_key_frame(void **state)
{
	struct clip c;
	struct cu_mp4_opts o = { 0 };
	cu_mp4 *m = NULL;
	char file[256], tmp[300];
	struct stat st;

	(void)state;
	clip_load("h264.mp4", &c);
	tmp_path(file, sizeof(file), "none.mp4");
	(void)unlink(file);
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	assert_true(n > 0 && (size_t)n < sizeof(tmp));
	o.path = file;
	assert_int_equal(cu_mp4_new(&o, &m), 0);
	assert_int_equal(stat(tmp, &st), 0);
	for (size_t i = 0; i < c.n; i++) {
		if (c.f[i].key && c.f[i].track == CU_TRACK_VIDEO)
			continue;   /* no key frame ever */
		assert_int_equal(cu_mp4_frame(m, &c.f[i]), c.f[i].track == CU_TRACK_VIDEO ? 0 : 1);
	}
	assert_int_equal(cu_mp4_finish(m), CU_ERR_NOTFOUND);
	assert_non_null(strstr(cu_error_detail(), "no video key frame"));
	struct cu_mp4_info info;
	cu_mp4_info(m, &info);
	assert_int_equal(info.video_frames, 0);
	assert_int_equal(info.audio_frames, 0);
	assert_int_equal(info.dropped, c.n - 2);
	cu_mp4_free(m);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(stat(file, &st), -1);
	clip_free(&c);
}

/* A key frame without its parameter sets does not start the file. */
static void
test_key_frame_without_parameter_sets(void **state)
{
	static const uint8_t idr_only[] = { 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x10 };
	cu_frame f = { START_US, FRAME_US, CU_CODEC_H264, CU_TRACK_VIDEO, true, idr_only,
		       sizeof(idr_only) };
	struct sink s;
	struct cu_mp4_opts o = { 0 };
	cu_mp4 *m = NULL;
	char file[256];

	(void)state;
	tmp_path(file, sizeof(file), "noparams.mp4");
	sink_open(&s, file);
	o.fragmented = true;
	o.write = sink_write;
	o.ctx = &s;
	assert_int_equal(cu_mp4_new(&o, &m), 0);
	assert_int_equal(cu_mp4_frame(m, &f), 0);
	assert_int_equal(cu_mp4_finish(m), CU_ERR_NOTFOUND);
	assert_int_equal(s.calls, 0);        /* not a byte went out */
	cu_mp4_free(m);
	close(s.fd);
}

static void
test_bad_input(void **state)
{
	struct clip c;
	struct cu_mp4_opts o = { 0 };
	cu_mp4 *m = NULL;
	struct sink s;
	char file[256];
	uint8_t junk[16] = { 0xFF, 0xF1, 0 };

	(void)state;
	/* Options. */
	assert_int_equal(cu_mp4_new(&o, &m), CU_ERR_INVAL);       /* no target */
	tmp_path(file, sizeof(file), "bad.mp4");
	o.path = file;
	o.write = sink_write;
	assert_int_equal(cu_mp4_new(&o, &m), CU_ERR_INVAL);       /* two targets */
	o.write = NULL;
	o.camera = "../etc";
	assert_int_equal(cu_mp4_new(&o, &m), CU_ERR_INVAL);
	o.camera = NULL;
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(cu_mp4_new(&o, &m), CU_ERR_EXIST);       /* never replaced */
	assert_null(m);

	/* Frames that cannot go in are refused and the writer goes on. */
	clip_load("h264.mp4", &c);
	tmp_path(file, sizeof(file), "bad-frames.mp4");
	sink_open(&s, file);
	o.path = NULL;
	o.write = sink_write;
	o.ctx = &s;
	o.fragmented = true;
	assert_int_equal(cu_mp4_new(&o, &m), 0);
	size_t v0 = 0;
	while (c.f[v0].track != CU_TRACK_VIDEO)
		v0++;
	cu_frame f = c.f[v0];
	f.len = CU_FRAME_MAX + 1;
	assert_int_equal(cu_mp4_frame(m, &f), CU_ERR_LIMIT);
	f = c.f[v0];
	f.codec = CU_CODEC_AAC;
	assert_int_equal(cu_mp4_frame(m, &f), CU_ERR_UNSUPPORTED);
	size_t audio = 0, video = 0;
	for (size_t i = 0; i < c.n; i++) {
		int r = cu_mp4_frame(m, &c.f[i]);
		if (r != 1)
			fail_msg("frame %zu: %d (%s)", i, r, cu_error_detail());
		if (c.f[i].track == CU_TRACK_AUDIO)
			audio++;
		else
			video++;
		if (video == 30) {
			/* Not ADTS; ADTS with a wrong length; H.265 in H.264. */
			cu_frame a = { c.f[i].ts_us, 21333, CU_CODEC_AAC, CU_TRACK_AUDIO, true,
				       junk + 2, 8 };
			assert_int_equal(cu_mp4_frame(m, &a), CU_ERR_FORMAT);
			a.data = junk;
			a.len = sizeof(junk);
			assert_int_equal(cu_mp4_frame(m, &a), CU_ERR_FORMAT);
			cu_frame v = c.f[i];
			v.codec = CU_CODEC_H265;
			assert_int_equal(cu_mp4_frame(m, &v), CU_ERR_UNSUPPORTED);
		}
	}
	assert_int_equal(cu_mp4_finish(m), 0);
	assert_int_equal(cu_mp4_frame(m, &c.f[0]), CU_ERR_INVAL);   /* after finish */
	cu_mp4_free(m);
	close(s.fd);
	struct probe p;
	probe(file, &p);
	assert_int_equal(p.vframes, (long)video);
	assert_int_equal(p.aframes, (long)audio);
	decodes_cleanly(file);
	clip_free(&c);
}

/* A failing write callback stops the writer with its error, for good. */
static void
test_write_error(void **state)
{
	struct clip c;
	struct cu_mp4_opts o = { 0 };
	cu_mp4 *m = NULL;
	struct sink s;
	char file[256];
	int r = 1;
	size_t i;

	(void)state;
	clip_load("h264.mp4", &c);
	tmp_path(file, sizeof(file), "write-error.mp4");
	sink_open(&s, file);
	s.fail_at = 2;
	o.fragmented = true;
	o.write = sink_write;
	o.ctx = &s;
	assert_int_equal(cu_mp4_new(&o, &m), 0);
	for (i = 0; i < c.n && r >= 0; i++)
		r = cu_mp4_frame(m, &c.f[i]);
	if (r >= 0)
		r = cu_mp4_finish(m);
	assert_int_equal(r, CU_ERR_IO);
	assert_non_null(strstr(cu_error_detail(), "writing MP4 output"));
	assert_int_equal(cu_mp4_frame(m, &c.f[c.n - 1]), CU_ERR_IO);
	assert_int_equal(cu_mp4_finish(m), CU_ERR_IO);
	cu_mp4_free(m);
	close(s.fd);
	clip_free(&c);
}

/* ---- stills ---- */

static uint32_t
be(const uint8_t *p, int n)
{
	uint32_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* What the APP1 and COM segments of a JPEG say. */
struct exif {
	char description[128], software[32], dto[32], subsec[16], offset[16], version[8];
	char comment[256];
	bool app1_after_app0_or_soi;
};

static void
exif_string(const uint8_t *tiff, size_t tlen, const uint8_t *e, char *buf, size_t len)
{
	uint32_t type = be(e + 2, 2), count = be(e + 4, 4);
	const uint8_t *v = count <= 4 ? e + 8 : tiff + be(e + 8, 4);

	assert_true(type == 2 || type == 7);
	assert_true(count < len);
	assert_true(count <= 4 || be(e + 8, 4) + count <= tlen);
	memcpy(buf, v, count);
	buf[count] = '\0';
	if (type == 2)
		assert_int_equal(v[count - 1], 0);   /* ASCII ends with its NUL */
}

static void
parse_ifd(const uint8_t *tiff, size_t tlen, uint32_t off, struct exif *x, uint32_t *exif_ifd)
{
	assert_true(off + 2 <= tlen);
	unsigned n = be(tiff + off, 2);
	unsigned last = 0;
	assert_true(off + 2 + n * 12 + 4 <= tlen);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = tiff + off + 2 + i * 12;
		unsigned tag = be(e, 2);
		assert_true(tag > last);     /* ascending, as TIFF requires */
		last = tag;
		switch (tag) {
		case 0x010E: exif_string(tiff, tlen, e, x->description, sizeof(x->description)); break;
		case 0x0131: exif_string(tiff, tlen, e, x->software, sizeof(x->software)); break;
		case 0x9000: exif_string(tiff, tlen, e, x->version, sizeof(x->version)); break;
		case 0x9003: exif_string(tiff, tlen, e, x->dto, sizeof(x->dto)); break;
		case 0x9011: exif_string(tiff, tlen, e, x->offset, sizeof(x->offset)); break;
		case 0x9291: exif_string(tiff, tlen, e, x->subsec, sizeof(x->subsec)); break;
		case 0x8769:
			assert_int_equal(be(e + 2, 2), 4);   /* LONG */
			assert_int_equal(be(e + 4, 4), 1);
			*exif_ifd = be(e + 8, 4);
			break;
		default:
			fail_msg("unexpected EXIF tag 0x%04x", tag);
		}
	}
	assert_int_equal(be(tiff + off + 2 + n * 12, 4), 0);   /* no next IFD */
}

/* Walks the JPEG's header segments; parses APP1 Exif and COM. */
static void
parse_jpeg(const uint8_t *p, size_t len, struct exif *x)
{
	size_t i = 2;
	int index = 0;
	bool app1 = false;

	memset(x, 0, sizeof(*x));
	assert_true(len > 4);
	assert_int_equal(p[0], 0xFF);
	assert_int_equal(p[1], 0xD8);
	assert_int_equal(p[len - 2], 0xFF);
	assert_int_equal(p[len - 1], 0xD9);
	for (;;) {
		assert_true(i + 4 <= len);
		assert_int_equal(p[i], 0xFF);
		uint8_t mk = p[i + 1];
		size_t seg = be(p + i + 2, 2);
		assert_true(seg >= 2 && i + 2 + seg <= len);
		if (mk == 0xDA)
			break;
		if (mk == 0xE1) {
			const uint8_t *d = p + i + 4;
			size_t dl = seg - 2;
			assert_true(dl > 14);
			assert_memory_equal(d, "Exif\0\0", 6);
			const uint8_t *tiff = d + 6;
			size_t tlen = dl - 6;
			assert_memory_equal(tiff, "MM\0\x2A", 4);
			uint32_t exif_ifd = 0;
			parse_ifd(tiff, tlen, be(tiff + 4, 4), x, &exif_ifd);
			assert_true(exif_ifd != 0);
			parse_ifd(tiff, tlen, exif_ifd, x, &exif_ifd);
			/* Right after SOI, or after a JFIF APP0 there. */
			x->app1_after_app0_or_soi = index == 0 || (index == 1 && p[3] == 0xE0);
			app1 = true;
		}
		if (mk == 0xFE) {
			assert_true(seg - 2 < sizeof(x->comment));
			memcpy(x->comment, p + i + 4, seg - 2);
			x->comment[seg - 2] = '\0';
		}
		index++;
		i += 2 + seg;
	}
	assert_true(app1);
}

static void
write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Frames [key frame before at_us .. the video frame at or before at_us], the
 * audio in between included (cu_still_jpeg skips it). */
static size_t
still_frames(const struct clip *c, int64_t at_us, const cu_frame **out, size_t max)
{
	size_t key = 0, last = 0, n = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (c->f[i].track != CU_TRACK_VIDEO || c->f[i].ts_us > at_us)
			continue;
		if (c->f[i].key)
			key = i;
		last = i;
	}
	for (size_t i = key; i <= last; i++) {
		assert_true(n < max);
		out[n++] = &c->f[i];
	}
	return n;
}

/* Mean absolute difference of the still's luma and each picture of the
 * clip (as the ffmpeg CLI decodes them); returns the closest picture. */
static int
closest_picture(const char *jpeg_file, const char *clip_file, int w, int h)
{
	char cmd[4096], *still = NULL, *all = NULL, *err = NULL;
	size_t plane = (size_t)w * (size_t)h, still_len = 0, all_len = 0;
	int n, best = -1;
	double best_d = 1e9;

	n = snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i '%s' -f rawvideo "
	    "-pix_fmt gray -", jpeg_file);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	n = run_len(cmd, &still, &still_len, &err);
	if (n != 0 || err[0])
		fail_msg("%s: %s", cmd, err);
	free(err);
	assert_int_equal(still_len, plane);
	n = snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i '%s' -f rawvideo "
	    "-pix_fmt gray -", clip_file);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	n = run_len(cmd, &all, &all_len, &err);
	if (n != 0 || err[0])
		fail_msg("%s: %s", cmd, err);
	free(err);
	assert_int_equal(all_len, plane * CLIP_FRAMES);
	for (int k = 0; k < CLIP_FRAMES; k++) {
		double d = 0;
		for (size_t i = 0; i < plane; i++)
			d += abs((int)(uint8_t)still[i] - (int)(uint8_t)all[(size_t)k * plane + i]);
		d /= (double)plane;
		if (d < best_d) {
			best_d = d;
			best = k;
		}
	}
	assert_true(best_d < 4.0);    /* JPEG at q=3 is close to the picture */
	free(still);
	free(all);
	return best;
}

static void
still_case(const char *clip_name, int picture, int64_t extra_us, const char *expect_dto,
           const char *expect_subsec, int w, int h)
{
	struct clip c;
	const cu_frame *frames[CLIP_FRAMES * 4];
	struct cu_still_opts o = { 0 };
	uint8_t *jpeg = NULL;
	size_t len = 0;
	struct exif x;
	struct probe p;
	char file[256];

	clip_load(clip_name, &c);
	o.at_us = START_US + (int64_t)picture * FRAME_US + extra_us;
	o.camera = CAMERA;
	size_t n = still_frames(&c, o.at_us, frames, sizeof(frames) / sizeof(frames[0]));
	int r = cu_still_jpeg(frames, n, &o, &jpeg, &len);
	if (r < 0)
		fail_msg("cu_still_jpeg: %s (%s)", cu_strerror(r), cu_error_detail());
	parse_jpeg(jpeg, len, &x);
	assert_true(x.app1_after_app0_or_soi);
	assert_string_equal(x.description, "custody camera " CAMERA);
	assert_string_equal(x.software, "custody");
	assert_string_equal(x.version, "0232");
	assert_string_equal(x.dto, expect_dto);
	assert_string_equal(x.subsec, expect_subsec);
	assert_string_equal(x.offset, "+00:00");
	assert_non_null(strstr(x.comment, "custody camera=" CAMERA " time="));

	char name[64];
	int k = snprintf(name, sizeof(name), "still-%s-%d.jpg", clip_name, picture);
	assert_true(k > 0 && (size_t)k < sizeof(name));
	tmp_path(file, sizeof(file), name);
	write_file(file, jpeg, len);
	probe(file, &p);
	assert_string_equal(p.vcodec, "mjpeg");
	assert_int_equal(p.width, w);
	assert_int_equal(p.height, h);
	decodes_cleanly(file);
	/* FFmpeg's own EXIF reader agrees with ours. */
	char cmd[4096], *out = NULL, *err = NULL, want[128];
	k = snprintf(cmd, sizeof(cmd), "ffprobe -v error -show_entries frame_tags="
	    "DateTimeOriginal,SubSecTimeOriginal,ImageDescription,Software -of compact=p=0 '%s'",
	    file);
	assert_true(k > 0 && (size_t)k < sizeof(cmd));
	k = run(cmd, &out, &err);
	if (k != 0 || err[0])
		fail_msg("%s: %s", cmd, err);
	k = snprintf(want, sizeof(want), "tag:DateTimeOriginal=%s", expect_dto);
	assert_true(k > 0 && (size_t)k < sizeof(want));
	assert_non_null(strstr(out, want));
	k = snprintf(want, sizeof(want), "tag:SubSecTimeOriginal=%s", expect_subsec);
	assert_true(k > 0 && (size_t)k < sizeof(want));
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "tag:ImageDescription=custody camera " CAMERA));
	assert_non_null(strstr(out, "tag:Software=custody"));
	free(out);
	free(err);
	/* The picture is the one shown at that moment. */
	assert_int_equal(closest_picture(file, data_path(clip_name), w, h), picture);
	free(jpeg);
	clip_free(&c);
}

/* At a frame's time: DateTimeOriginal is the requested time. Picture 30 is
 * 1.2 s in: 12:00:00.123456 + 1.2 s. */
static void
test_still_h264(void **state)
{
	(void)state;
	still_case("h264.mp4", 30, 0, "2024:05:01 12:00:01", "323456", 320, 240);
}

/* Between frames: the picture shown then, with its own time. */
static void
test_still_h264_between_frames(void **state)
{
	(void)state;
	still_case("h264.mp4", 37, FRAME_US / 2, "2024:05:01 12:00:01", "603456", 320, 240);
}

static void
test_still_h265(void **state)
{
	(void)state;
	/* Picture 22 (0.88 s in) decodes from the key frame at 0. */
	still_case("h265.mkv", 22, 0, "2024:05:01 12:00:01", "003456", 320, 240);
}

static void
test_still_mjpeg(void **state)
{
	(void)state;
	still_case("mjpeg.avi", 12, 0, "2024:05:01 12:00:00", "603456", 160, 120);
}

static void
test_still_refusals(void **state)
{
	struct clip c;
	const cu_frame *frames[CLIP_FRAMES * 4];
	struct cu_still_opts o = { 0 };
	uint8_t *jpeg = NULL;
	size_t len = 0, n;

	(void)state;
	clip_load("h264.mp4", &c);
	o.at_us = START_US + 10 * FRAME_US;
	n = still_frames(&c, o.at_us, frames, sizeof(frames) / sizeof(frames[0]));
	/* Before the first picture. */
	o.at_us = START_US - 1;
	assert_int_equal(cu_still_jpeg(frames, n, &o, &jpeg, &len), CU_ERR_NOTFOUND);
	/* After the end of the last picture given. */
	o.at_us = START_US + 11 * FRAME_US;
	assert_int_equal(cu_still_jpeg(frames, n, &o, &jpeg, &len), CU_ERR_NOTFOUND);
	/* Not starting with a key frame. */
	o.at_us = START_US + 10 * FRAME_US;
	size_t first_video = 0;
	while (frames[first_video]->track != CU_TRACK_VIDEO)
		first_video++;
	assert_int_equal(cu_still_jpeg(frames + first_video + 1, n - first_video - 1, &o, &jpeg,
	    &len), CU_ERR_INVAL);
	/* Bad quality, bad camera, nothing at all. */
	o.quality = 1;
	assert_int_equal(cu_still_jpeg(frames, n, &o, &jpeg, &len), CU_ERR_INVAL);
	o.quality = 0;
	o.camera = "";
	assert_int_equal(cu_still_jpeg(frames, n, &o, &jpeg, &len), CU_ERR_INVAL);
	o.camera = NULL;
	assert_int_equal(cu_still_jpeg(frames, 0, &o, &jpeg, &len), CU_ERR_LIMIT);
	assert_null(jpeg);
	/* Garbage in place of the key frame does not decode. */
	cu_frame bad = *frames[first_video];
	static const uint8_t noise[] = { 0, 0, 0, 1, 0x65, 0xFF, 0x13, 0x37, 0x00, 0x42 };
	bad.data = noise;
	bad.len = sizeof(noise);
	const cu_frame *one[1] = { &bad };
	o.at_us = bad.ts_us;
	int r = cu_still_jpeg(one, 1, &o, &jpeg, &len);
	assert_true(r == CU_ERR_MEDIA);
	assert_null(jpeg);
	/* Without a camera: no ImageDescription. */
	o.at_us = START_US;
	assert_int_equal(cu_still_jpeg(frames, 1 + first_video, &o, &jpeg, &len), 0);
	struct exif x;
	parse_jpeg(jpeg, len, &x);
	assert_string_equal(x.description, "");
	assert_string_equal(x.dto, "2024:05:01 12:00:00");
	assert_string_equal(x.subsec, "123456");
	assert_non_null(strstr(x.comment, "camera=- time=2024-05-01T12:00:00.123456Z"));
	free(jpeg);
	clip_free(&c);
}

static int
setup(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR");
	int n = snprintf(tmpdir, sizeof(tmpdir), "%s/cu-mux-XXXXXX", base && base[0] &&
	    strlen(base) < 40 ? base : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(tmpdir) || !mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (n > 0 && (size_t)n < sizeof(cmd) && getenv("CU_KEEP_TMP") == NULL) {
		int rc = system(cmd);
		(void)rc;
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h264_fragmented_write),
		cmocka_unit_test(test_h264_fragmented_path),
		cmocka_unit_test(test_h264_plain_path),
		cmocka_unit_test(test_h264_plain_write),
		cmocka_unit_test(test_h265_fragmented),
		cmocka_unit_test(test_h265_plain),
		cmocka_unit_test(test_fragment_per_key_frame),
		cmocka_unit_test(test_starts_at_key_frame),
		cmocka_unit_test(test_b_frames),
		cmocka_unit_test(test_audio_starts_later),
		cmocka_unit_test(test_mjpeg),
		cmocka_unit_test(test_no_key_frame),
		cmocka_unit_test(test_key_frame_without_parameter_sets),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_still_h264),
		cmocka_unit_test(test_still_h264_between_frames),
		cmocka_unit_test(test_still_h265),
		cmocka_unit_test(test_still_mjpeg),
		cmocka_unit_test(test_still_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
