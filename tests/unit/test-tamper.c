/* Unit tests of the tamper analysis (lib/media/tamper.c) on synthetic grey
 * pictures, whose truth is known, and on real key frames of tests/data. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "custody/error.h"
#include "custody/media.h"
#include "custody/tamper.h"

#define W CU_TAMPER_W
#define H CU_TAMPER_H
#define SEC INT64_C(1000000)

static uint32_t rng = 12345;

static unsigned
rnd(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 16;
}

static uint8_t
clamp(double v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)(v + 0.5);
}

/* A scene with edges and texture at every scale: rectangles of random levels
 * over a gradient and a fine checker, seen at (ox, oy) of a larger world, with
 * brightness gain and sensor noise. */
static void
scene(uint8_t *out, int ox, int oy, double gain, int noise)
{
	static uint8_t world[(H + 64) * (W + 64)];
	static bool made;
	const int ww = W + 64;

	if (!made) {
		uint32_t keep = rng;
		rng = 777;
		for (int y = 0; y < H + 64; y++)
			for (int x = 0; x < ww; x++)
				world[y * ww + x] = clamp(60 + x * 0.3 + y * 0.2 + (((x / 3) + (y / 3)) & 1) * 20);
		for (int i = 0; i < 60; i++) {
			int x0 = (int)(rnd() % (unsigned)ww), y0 = (int)(rnd() % (H + 64));
			int w = 4 + (int)(rnd() % 40), h = 4 + (int)(rnd() % 30);
			uint8_t v = (uint8_t)(rnd() % 256);
			for (int y = y0; y < y0 + h && y < H + 64; y++)
				for (int x = x0; x < x0 + w && x < ww; x++)
					world[y * ww + x] = v;
		}
		rng = keep;
		made = true;
	}
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			double v = world[(y + 32 - oy) * ww + (x + 32 - ox)];
			v = 128 + (v - 128) * gain;
			if (noise)
				v += (int)(rnd() % (unsigned)(2 * noise + 1)) - noise;
			out[y * W + x] = clamp(v);
		}
}

/* Blurs with a (2r+1)^2 box, three times (close to a Gaussian). */
static void
blur(uint8_t *p, int r)
{
	static uint8_t tmp[W * H];
	for (int pass = 0; pass < 3; pass++) {
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++) {
				int s = 0, n = 0;
				for (int dy = -r; dy <= r; dy++)
					for (int dx = -r; dx <= r; dx++) {
						int xx = x + dx, yy = y + dy;
						if (xx < 0 || yy < 0 || xx >= W || yy >= H)
							continue;
						s += p[yy * W + xx];
						n++;
					}
				tmp[y * W + x] = (uint8_t)(s / n);
			}
		memcpy(p, tmp, sizeof(tmp));
	}
}

struct run {
	cu_tamper *t;
	int64_t now;
	unsigned raised[CU_TAMPER_KINDS], cleared[CU_TAMPER_KINDS];
	int64_t raised_at[CU_TAMPER_KINDS], cleared_at[CU_TAMPER_KINDS];
};

static void
run_open(struct run *r, int64_t learn_us)
{
	struct cu_tamper_opts o = {.persistence_us = 3 * SEC, .learn_us = learn_us};
	memset(r, 0, sizeof(*r));
	assert_int_equal(cu_tamper_new(&o, &r->t), 0);
	r->now = 1700000000 * SEC;
}

/* Feeds one picture a second for n seconds; make() draws each. */
static void
feed(struct run *r, int n, void (*make)(uint8_t *, int))
{
	static uint8_t pic[W * H];
	for (int i = 0; i < n; i++) {
		unsigned ch = 0;
		make(pic, i);
		assert_int_equal(cu_tamper_grey(r->t, pic, r->now, &ch), 0);
		for (int k = 0; k < CU_TAMPER_KINDS; k++) {
			if (!(ch & (1u << k)))
				continue;
			if (cu_tamper_active(r->t, k)) {
				r->raised[k]++;
				r->raised_at[k] = r->now;
			} else {
				r->cleared[k]++;
				r->cleared_at[k] = r->now;
			}
		}
		r->now += SEC;
	}
}

static void make_normal(uint8_t *p, int i) { (void)i; scene(p, 0, 0, 1.0, 3); }
static void make_dark(uint8_t *p, int i) { (void)i; memset(p, 8, W * H); for (int k = 0; k < 2000; k++) p[rnd() % (W * H)] = 230; }
static void make_grey(uint8_t *p, int i) { (void)i; for (int k = 0; k < W * H; k++) p[k] = (uint8_t)(150 + rnd() % 7); }
static void make_blur(uint8_t *p, int i) { scene(p, 0, 0, 1.0, 0); blur(p, 2); (void)i; }
static void make_moved(uint8_t *p, int i) { (void)i; scene(p, 16, 6, 1.0, 3); }
static void make_dim(uint8_t *p, int i) { (void)i; scene(p, 0, 0, 0.4, 2); }
static void make_jitter(uint8_t *p, int i) { scene(p, (i % 3) - 1, 0, 1.0, 3); }

/* the learning phase: nothing raised on a steady scene */
static void
test_steady(void **state)
{
	(void)state;
	struct run r;
	run_open(&r, 10 * SEC);
	feed(&r, 120, make_normal);
	for (int k = 0; k < CU_TAMPER_KINDS; k++)
		assert_int_equal(r.raised[k], 0);
	struct cu_tamper_measure m;
	cu_tamper_last(r.t, &m);
	assert_false(m.learning);
	assert_true(m.sharpness > 0.8 && m.sharpness < 1.25);
	assert_true(m.tiles >= 20);
	assert_true(m.similarity > 0.9);
	struct cu_tamper_stats st;
	cu_tamper_stats(r.t, &st);
	assert_int_equal(st.analysed, 120);
	cu_tamper_free(r.t);
}

static void
check_only(struct run *r, int kind, int64_t fault_at, int64_t end_at)
{
	for (int k = 0; k < CU_TAMPER_KINDS; k++) {
		if (k != kind) {
			assert_int_equal(r->raised[k], 0);
			continue;
		}
		assert_int_equal(r->raised[k], 1);
		assert_int_equal(r->cleared[k], 1);
		/* raised on the third picture of the fault (3 s of persistence) and
		 * cleared on the third after it */
		assert_int_equal(r->raised_at[k] - fault_at, 2 * SEC);
		assert_int_equal(r->cleared_at[k] - end_at, 2 * SEC);
	}
}

static void
fault(int kind, void (*make)(uint8_t *, int))
{
	struct run r;
	run_open(&r, 10 * SEC);
	feed(&r, 30, make_normal);
	int64_t at = r.now;
	feed(&r, 10, make);
	assert_true(cu_tamper_active(r.t, kind));
	int64_t end = r.now;
	feed(&r, 10, make_normal);
	assert_false(cu_tamper_active(r.t, kind));
	check_only(&r, kind, at, end);
	cu_tamper_free(r.t);
}

static void test_covered_dark(void **s) { (void)s; fault(CU_TAMPER_COVERED, make_dark); }
static void test_covered_grey(void **s) { (void)s; fault(CU_TAMPER_COVERED, make_grey); }
static void test_defocused(void **s) { (void)s; fault(CU_TAMPER_DEFOCUSED, make_blur); }
static void test_moved(void **s) { (void)s; fault(CU_TAMPER_MOVED, make_moved); }

/* the shift found is the shift made: 16 x 6 px of 320x180 = 8 x 3 of 160x90 */
static void
test_moved_shift(void **state)
{
	(void)state;
	struct run r;
	run_open(&r, 5 * SEC);
	feed(&r, 10, make_normal);
	feed(&r, 1, make_moved);
	struct cu_tamper_measure m;
	cu_tamper_last(r.t, &m);
	assert_int_equal(m.shift_x, 8);
	assert_int_equal(m.shift_y, 3);
	assert_true(m.seen[CU_TAMPER_MOVED]);
	cu_tamper_free(r.t);
}

/* light and small jitter are not tampering */
static void
test_no_false_alarm(void **state)
{
	(void)state;
	struct run r;
	run_open(&r, 10 * SEC);
	feed(&r, 30, make_normal);
	feed(&r, 30, make_dim);
	feed(&r, 30, make_jitter);
	for (int k = 0; k < CU_TAMPER_KINDS; k++)
		assert_int_equal(r.raised[k], 0);
	cu_tamper_free(r.t);
}

/* a fault shorter than the persistence is not raised */
static void
test_short_fault(void **state)
{
	(void)state;
	struct run r;
	run_open(&r, 10 * SEC);
	feed(&r, 30, make_normal);
	feed(&r, 2, make_dark);
	feed(&r, 10, make_normal);
	assert_int_equal(r.raised[CU_TAMPER_COVERED], 0);
	cu_tamper_free(r.t);
}

static void
test_bad_input(void **state)
{
	(void)state;
	cu_tamper *t = NULL;
	struct cu_tamper_opts o = {.persistence_us = 601 * SEC};
	assert_int_equal(cu_tamper_new(&o, &t), CU_ERR_INVAL);
	o = (struct cu_tamper_opts){.learn_us = -5};
	assert_int_equal(cu_tamper_new(&o, &t), CU_ERR_INVAL);
	assert_null(t);
	assert_int_equal(cu_tamper_new(NULL, &t), 0);

	static uint8_t pic[W * H];
	unsigned ch;
	scene(pic, 0, 0, 1, 0);
	assert_int_equal(cu_tamper_grey(t, pic, 10 * SEC, &ch), 0);
	assert_int_equal(cu_tamper_grey(t, pic, 9 * SEC, &ch), CU_ERR_INVAL);

	uint8_t junk[512];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rnd();
	junk[0] = junk[1] = junk[2] = 0;
	junk[3] = 1;
	cu_frame f = {.ts_us = 11 * SEC, .codec = CU_CODEC_H264, .track = CU_TRACK_VIDEO,
	              .key = true, .data = junk, .len = sizeof(junk)};
	assert_true(cu_tamper_frame(t, &f, &ch) < 0);
	f.key = false;
	assert_int_equal(cu_tamper_frame(t, &f, &ch), CU_ERR_INVAL);
	f.key = true;
	f.codec = CU_CODEC_AAC;
	assert_int_equal(cu_tamper_frame(t, &f, &ch), CU_ERR_UNSUPPORTED);
	struct cu_tamper_stats st;
	cu_tamper_stats(t, &st);
	assert_int_equal(st.decode_failed, 1);
	assert_int_equal(st.analysed, 1);
	assert_string_equal(cu_tamper_name(CU_TAMPER_MOVED), "moved");
	assert_string_equal(cu_tamper_name(7), "unknown");
	cu_tamper_free(t);
	cu_tamper_free(NULL);
}

/* Real key frames of each codec decode, and a steady clip raises nothing. */
static void
real_clip(const char *name)
{
	char path[4096];
	const char *dir = getenv("CU_TEST_DATA");
	assert_non_null(dir);
	int n = snprintf(path, sizeof(path), "%s/media/%s", dir, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	cu_media_src *src = NULL;
	assert_int_equal(cu_media_open(path, &src), 0);
	cu_tamper *t = NULL;
	assert_int_equal(cu_tamper_new(NULL, &t), 0);
	cu_frame f;
	int keys = 0;
	while (cu_media_next(src, &f) > 0) {
		if (f.track != CU_TRACK_VIDEO || !f.key)
			continue;
		unsigned ch = 0;
		assert_int_equal(cu_tamper_frame(t, &f, &ch), 0);
		assert_int_equal(ch, 0);
		keys++;
	}
	assert_true(keys > 0);
	struct cu_tamper_measure m;
	cu_tamper_last(t, &m);
	/* the clips are test patterns: neither dark nor flat */
	assert_true(m.mean > 40 && m.mean < 220);
	assert_false(m.seen[CU_TAMPER_COVERED]);
	cu_tamper_free(t);
	cu_media_close(src);
}

static void test_real_h264(void **s) { (void)s; real_clip("h264.mp4"); }
static void test_real_h265(void **s) { (void)s; real_clip("h265.mkv"); }
static void test_real_mjpeg(void **s) { (void)s; real_clip("mjpeg.avi"); }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady),
		cmocka_unit_test(test_covered_dark),
		cmocka_unit_test(test_covered_grey),
		cmocka_unit_test(test_defocused),
		cmocka_unit_test(test_moved),
		cmocka_unit_test(test_moved_shift),
		cmocka_unit_test(test_no_false_alarm),
		cmocka_unit_test(test_short_fault),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_real_h264),
		cmocka_unit_test(test_real_h265),
		cmocka_unit_test(test_real_mjpeg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
