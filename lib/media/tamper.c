/* custody — video tamper analysis (see custody/tamper.h, docs/tamper-analysis.md).
 *
 * A key frame is decoded on its own (libavcodec, one thread, flushed after
 * each frame so that no picture waits for a later one), scaled by libswscale
 * to a 320x180 full-range grey picture, and measured:
 *
 *   covered    the share of dark pixels, and of pixels near the median level;
 *   defocused  the median, over the 8x6 tiles with texture, of each tile's
 *              Laplacian energy divided by its variance (so that light changes
 *              do not look like blur) against that tile's learned baseline;
 *   moved      phase correlation of the 160x90 half picture against a slowly
 *              updated reference (a proposed shift), confirmed by the
 *              correlation coefficient at that shift being clearly better than
 *              at none; or the picture no longer resembles the reference.
 *
 * A covered picture cannot be judged for focus or position, and a blurred one
 * not for a scene change, so the conditions are taken in that order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "custody/error.h"
#include "custody/tamper.h"
#include "custody/text.h"
#include "media/media_int.h"

/* ---- thresholds (docs/tamper-analysis.md has the measurements) ---- */
#define DARK_LEVEL 40            /* luma below this is "dark" */
#define COVERED_DARK 0.90        /* covered: this share of pixels dark ... */
#define UNIFORM_RADIUS 12        /* ... or within this many levels of the median */
#define COVERED_UNIFORM 0.90     /*     for this share of pixels */
#define TILES_X 8
#define TILES_Y 6
#define TILE_VAR_MIN 16.0        /* a tile with less variance (std-dev 4) has no texture */
#define TILES_TEXTURED_MIN 4     /* fewer: focus cannot be judged */
#define TILES (TILES_X * TILES_Y)
#define TILE_SAMPLES_MIN 5       /* a tile's baseline needs this many pictures */
#define TILE_DEV_MAX 0.25        /* a tile that varies more holds moving things: not judged */
#define DEFOCUS_RATIO 0.50       /* defocused below this share of the baseline */
#define SHIFT_MIN 3              /* pixels of the 160x90 picture (2 % of its width) */
#define PEAK_MIN 0.08            /* a phase-correlation peak weaker than this is no shift */
#define SIM_GAIN_MIN 0.10        /* the shift must explain the picture this much better */
#define SIM_MIN 0.45             /* below this the scene is not the reference's */
#define ADAPT_REF 30.0           /* the reference follows the scene over ~30 pictures */
#define ADAPT_SHARP 60.0         /* the sharpness baseline over ~60 */
#define GAP_MIN_US (10 * INT64_C(1000000)) /* pictures further apart start runs anew */

/* ---- the half picture and its FFT ---- */
#define HW (CU_TAMPER_W / 2)
#define HH (CU_TAMPER_H / 2)
#define FW 256                   /* FFT size: the whole half picture, zero-padded */
#define FH 128
#define SHIFT_MAX_X 64           /* shifts searched: |dx| <= 64, |dy| <= 32 (40 % and */
#define SHIFT_MAX_Y 32           /* 35 % of the picture) */

struct cplx {
	float re, im;
};

struct cond {
	bool active;
	bool run;                    /* a run of pictures against the state has started */
	int64_t run_start;
};

struct cu_tamper {
	int64_t persist_us, learn_us;
	/* decoding */
	AVCodecContext *dec;
	int dec_codec;
	AVPacket *pkt;
	AVFrame *pic, *tmp;
	struct SwsContext *sws;
	/* state */
	int64_t first_us, prev_us, prev_dt;
	bool have_prev;
	uint64_t learned;            /* pictures averaged into the baselines */
	double tile[TILES];          /* this picture's tile sharpness, -1 no texture */
	double tile_base[TILES];     /* learned, adapting */
	double tile_dev[TILES];      /* its mean relative deviation from the baseline */
	uint32_t tile_n[TILES];      /* pictures in tile_base */
	bool have_ref;
	struct cond cond[CU_TAMPER_KINDS];
	struct cu_tamper_measure last;
	struct cu_tamper_stats stats;
	/* work areas */
	uint8_t grey[CU_TAMPER_W * CU_TAMPER_H];
	float half[HW * HH];
	float ref[HW * HH];
	float win_x[HW], win_y[HH];
	struct cplx fcur[FW * FH];   /* this picture's spectrum */
	struct cplx fref[FW * FH];   /* the reference's, kept in step with ref (linear) */
	bool fref_ok;
	struct cplx fx[FW * FH], col[FH];
};

const char *
cu_tamper_name(int kind)
{
	static const char *const names[] = {"covered", "defocused", "moved"};
	return kind >= 0 && kind < CU_TAMPER_KINDS ? names[kind] : "unknown";
}

int
cu_tamper_new(const struct cu_tamper_opts *o, cu_tamper **ret)
{
	int64_t persist = o && o->persistence_us ? o->persistence_us : CU_TAMPER_PERSIST_DEFAULT_US;
	int64_t learn = o && o->learn_us ? o->learn_us : CU_TAMPER_LEARN_DEFAULT_US;

	if (!ret)
		return cu_fail(CU_ERR_INVAL, "cu_tamper_new: NULL argument");
	if (persist < 1000 || persist > CU_TAMPER_PERSIST_MAX_US)
		return cu_fail(CU_ERR_INVAL, "tamper persistence %lld µs: use 1 ms to %lld s",
		    (long long)persist, (long long)(CU_TAMPER_PERSIST_MAX_US / 1000000));
	if (learn < 1000 || learn > CU_TAMPER_LEARN_MAX_US)
		return cu_fail(CU_ERR_INVAL, "tamper learning time %lld µs: use 1 ms to %lld s",
		    (long long)learn, (long long)(CU_TAMPER_LEARN_MAX_US / 1000000));
	cu_tamper *t = calloc(1, sizeof(*t));
	if (!t)
		return cu_fail(CU_ERR_NOMEM, "no memory for the tamper analyser");
	t->persist_us = persist;
	t->learn_us = learn;
	/* Hann windows: the picture's edges would otherwise correlate as a
	 * strong cross at no shift. */
	for (int x = 0; x < HW; x++)
		t->win_x[x] = (float)(0.5 - 0.5 * cos(2 * M_PI * (x + 0.5) / HW));
	for (int y = 0; y < HH; y++)
		t->win_y[y] = (float)(0.5 - 0.5 * cos(2 * M_PI * (y + 0.5) / HH));
	*ret = t;
	return 0;
}

void
cu_tamper_free(cu_tamper *t)
{
	if (!t)
		return;
	avcodec_free_context(&t->dec);
	av_packet_free(&t->pkt);
	av_frame_free(&t->pic);
	av_frame_free(&t->tmp);
	sws_freeContext(t->sws);
	free(t);
}

bool
cu_tamper_active(const cu_tamper *t, int kind)
{
	return t && kind >= 0 && kind < CU_TAMPER_KINDS && t->cond[kind].active;
}

void
cu_tamper_last(const cu_tamper *t, struct cu_tamper_measure *ret)
{
	*ret = t->last;
}

void
cu_tamper_stats(const cu_tamper *t, struct cu_tamper_stats *ret)
{
	*ret = t->stats;
}

/* ---- FFT: iterative radix-2, in place ---- */

static void
fft(struct cplx *a, int n, bool inverse)
{
	for (int i = 1, j = 0; i < n; i++) {
		int bit = n >> 1;
		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			struct cplx tmp = a[i];
			a[i] = a[j];
			a[j] = tmp;
		}
	}
	for (int len = 2; len <= n; len <<= 1) {
		double ang = 2 * M_PI / len * (inverse ? 1 : -1);
		float wr = (float)cos(ang), wi = (float)sin(ang);
		for (int i = 0; i < n; i += len) {
			float cr = 1, ci = 0;
			for (int k = 0; k < len / 2; k++) {
				struct cplx u = a[i + k], v = a[i + k + len / 2];
				float vr = v.re * cr - v.im * ci, vi = v.re * ci + v.im * cr;
				a[i + k] = (struct cplx){u.re + vr, u.im + vi};
				a[i + k + len / 2] = (struct cplx){u.re - vr, u.im - vi};
				float nr = cr * wr - ci * wi;
				ci = cr * wi + ci * wr;
				cr = nr;
			}
		}
	}
}

static void
fft_columns(cu_tamper *t, struct cplx *a, bool inverse)
{
	for (int x = 0; x < FW; x++) {
		for (int y = 0; y < FH; y++)
			t->col[y] = a[y * FW + x];
		fft(t->col, FH, inverse);
		for (int y = 0; y < FH; y++)
			a[y * FW + x] = t->col[y];
	}
}

/* Forward 2-D transform of a picture in the first HH rows (the padding rows
 * are zero, and so are their transforms: skipped). */
static void
fft2_forward(cu_tamper *t, struct cplx *a)
{
	for (int y = 0; y < HH; y++)
		fft(a + y * FW, FW, false);
	fft_columns(t, a, false);
}

/* Inverse 2-D transform, exact in the rows of the shifts searched (|dy| <=
 * SHIFT_MAX_Y, wrapping); the other rows are left half done. */
static void
fft2_inverse_search(cu_tamper *t, struct cplx *a)
{
	fft_columns(t, a, true);
	for (int dy = -SHIFT_MAX_Y; dy <= SHIFT_MAX_Y; dy++)
		fft(a + ((dy + FH) % FH) * FW, FW, true);
}

/* The windowed, mean-free picture p, zero-padded into a, transformed. Linear
 * in p, so the reference's spectrum can follow its blending. */
static void
spectrum(cu_tamper *t, const float *p, struct cplx *a)
{
	double sum = 0;
	for (int i = 0; i < HW * HH; i++)
		sum += p[i];
	float mean = (float)(sum / (HW * HH));
	memset(a, 0, sizeof(t->fcur));
	for (int y = 0; y < HH; y++)
		for (int x = 0; x < HW; x++)
			a[y * FW + x].re = (p[y * HW + x] - mean) * t->win_x[x] * t->win_y[y];
	fft2_forward(t, a);
}

/* Correlation coefficient of the current half picture with the reference
 * where they overlap when the scene moved by (dx, dy). */
static double
similarity(const cu_tamper *t, int dx, int dy)
{
	int x0 = dx > 0 ? dx : 0, x1 = dx < 0 ? HW + dx : HW;
	int y0 = dy > 0 ? dy : 0, y1 = dy < 0 ? HH + dy : HH;
	double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
	double n = (double)(x1 - x0) * (y1 - y0);

	if (x1 - x0 < HW / 4 || y1 - y0 < HH / 4)
		return -1;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++) {
			double a = t->half[y * HW + x], b = t->ref[(y - dy) * HW + (x - dx)];
			sa += a;
			sb += b;
			saa += a * a;
			sbb += b * b;
			sab += a * b;
		}
	double va = saa - sa * sa / n, vb = sbb - sb * sb / n, cab = sab - sa * sb / n;
	/* Two flat pictures: nothing to compare, take them as alike. */
	if (va < n * 1.0 || vb < n * 1.0)
		return va < n * 1.0 && vb < n * 1.0 ? 1 : 0;
	return cab / sqrt(va * vb);
}

/* Phase correlation of half against ref: the strongest peak with no shift
 * (|dx| and |dy| under SHIFT_MIN) and the strongest with one (their heights:
 * 1 for a picture equal to the reference, shifted or not). Both, because a
 * moved camera keeps what it burns in (a clock) where it was. */
struct peaks {
	double still, moved;         /* heights */
	int dx, dy;                  /* where the moved one is */
};

static void
phase_correlate(cu_tamper *t, struct peaks *ret)
{
	spectrum(t, t->half, t->fcur);
	if (!t->fref_ok) {
		spectrum(t, t->ref, t->fref);
		t->fref_ok = true;
	}
	for (int i = 0; i < FW * FH; i++) {
		struct cplx a = t->fcur[i], b = t->fref[i];
		float re = a.re * b.re + a.im * b.im, im = a.im * b.re - a.re * b.im;
		float mag = sqrtf(re * re + im * im);
		/* whiten: every frequency with energy counts the same */
		if (mag > 1e-3f)
			t->fx[i] = (struct cplx){re / mag, im / mag};
		else
			t->fx[i] = (struct cplx){0, 0};
	}
	fft2_inverse_search(t, t->fx);
	float still = -1e30f, moved = -1e30f;
	int bx = 0, by = 0;
	for (int dy = -SHIFT_MAX_Y; dy <= SHIFT_MAX_Y; dy++)
		for (int dx = -SHIFT_MAX_X; dx <= SHIFT_MAX_X; dx++) {
			float v = t->fx[((dy + FH) % FH) * FW + (dx + FW) % FW].re;
			if (abs(dx) < SHIFT_MIN && abs(dy) < SHIFT_MIN) {
				if (v > still)
					still = v;
			} else if (v > moved) {
				moved = v;
				bx = dx;
				by = dy;
			}
		}
	ret->still = still / (double)(FW * FH);
	ret->moved = moved / (double)(FW * FH);
	ret->dx = bx;
	ret->dy = by;
}

/* ---- measurements ---- */

static void
measure_cover(cu_tamper *t, struct cu_tamper_measure *m)
{
	uint32_t hist[256] = {0};
	const size_t n = CU_TAMPER_W * CU_TAMPER_H;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		hist[t->grey[i]]++;
		sum += t->grey[i];
	}
	size_t acc = 0, dark = 0;
	int median = 0;
	for (int v = 0; v < 256; v++) {
		if (v < DARK_LEVEL)
			dark += hist[v];
		acc += hist[v];
		if (acc * 2 < n)
			median = v + 1;
	}
	size_t near = 0;
	for (int v = median - UNIFORM_RADIUS; v <= median + UNIFORM_RADIUS; v++)
		if (v >= 0 && v < 256)
			near += hist[v];
	m->mean = (double)sum / (double)n;
	m->dark = (double)dark / (double)n;
	m->uniform = (double)near / (double)n;
	m->seen[CU_TAMPER_COVERED] = m->dark >= COVERED_DARK || m->uniform >= COVERED_UNIFORM;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Each tile's sharpness: its Laplacian energy over its variance, -1 for a
 * tile without texture. The ratio, not the energy, so that light and contrast
 * changes do not look like blur. */
static void
tile_sharpness(cu_tamper *t)
{
	const int tw = CU_TAMPER_W / TILES_X, th = CU_TAMPER_H / TILES_Y;

	for (int ty = 0; ty < TILES_Y; ty++)
		for (int tx = 0; tx < TILES_X; tx++) {
			double s = 0, ss = 0, lap = 0;
			int n = 0;
			for (int y = ty * th; y < (ty + 1) * th; y++) {
				if (y == 0 || y == CU_TAMPER_H - 1)
					continue;
				const uint8_t *r = t->grey + y * CU_TAMPER_W;
				for (int x = tx * tw; x < (tx + 1) * tw; x++) {
					if (x == 0 || x == CU_TAMPER_W - 1)
						continue;
					int l = 4 * r[x] - r[x - 1] - r[x + 1] - r[x - CU_TAMPER_W] -
					    r[x + CU_TAMPER_W];
					lap += (double)l * l;
					s += r[x];
					ss += (double)r[x] * r[x];
					n++;
				}
			}
			double var = ss / n - (s / n) * (s / n);
			t->tile[ty * TILES_X + tx] = var >= TILE_VAR_MIN ? lap / n / var : -1;
		}
}

/* The median, over tiles textured now and steady in the baseline, of the tile's
 * sharpness against its baseline: 1 as learned, 0 when fewer than
 * TILES_TEXTURED_MIN tiles can be judged. A median, so that moving things
 * with fine detail passing through a few tiles do not count. */
static double
relative_sharpness(const cu_tamper *t, int *ret_tiles)
{
	double vals[TILES];
	int nv = 0;

	for (int k = 0; k < TILES; k++)
		if (t->tile[k] > 0 && t->tile_n[k] >= TILE_SAMPLES_MIN && t->tile_base[k] > 0 &&
		    t->tile_dev[k] < TILE_DEV_MAX)
			vals[nv++] = t->tile[k] / t->tile_base[k];
	*ret_tiles = nv;
	if (nv < TILES_TEXTURED_MIN)
		return 0;
	qsort(vals, (size_t)nv, sizeof(vals[0]), cmp_double);
	return nv % 2 ? vals[nv / 2] : (vals[nv / 2 - 1] + vals[nv / 2]) / 2;
}

static void
adapt_tiles(cu_tamper *t, bool learning)
{
	for (int k = 0; k < TILES; k++) {
		if (t->tile[k] <= 0)
			continue;
		double w = learning || t->tile_n[k] < ADAPT_SHARP ? 1.0 / (double)(t->tile_n[k] + 1)
		                                                 : 1.0 / ADAPT_SHARP;
		if (t->tile_n[k] > 0 && t->tile_base[k] > 0) {
			double dev = fabs(t->tile[k] / t->tile_base[k] - 1);
			double wd = t->tile_n[k] < ADAPT_SHARP ? 1.0 / (double)t->tile_n[k] : 1.0 / ADAPT_SHARP;
			t->tile_dev[k] += (dev - t->tile_dev[k]) * wd;
		}
		t->tile_base[k] += (t->tile[k] - t->tile_base[k]) * w;
		t->tile_n[k]++;
	}
}

static void
make_half(cu_tamper *t)
{
	for (int y = 0; y < HH; y++)
		for (int x = 0; x < HW; x++) {
			const uint8_t *p = t->grey + 2 * y * CU_TAMPER_W + 2 * x;
			t->half[y * HW + x] = (p[0] + p[1] + p[CU_TAMPER_W] + p[CU_TAMPER_W + 1]) * 0.25f;
		}
}

/* One step of a condition: raised or cleared once the picture has disagreed
 * with the state for the persistence. dt is the time one picture stands for. */
static bool
cond_step(cu_tamper *t, struct cond *c, bool seen, int64_t now, int64_t dt)
{
	if (seen == c->active) {
		c->run = false;
		return false;
	}
	if (!c->run) {
		c->run = true;
		c->run_start = now;
	}
	if (now - c->run_start + dt < t->persist_us)
		return false;
	c->active = seen;
	c->run = false;
	return true;
}

static void
blend(float *dst, const float *src, size_t n, float w)
{
	for (size_t i = 0; i < n; i++)
		dst[i] += (src[i] - dst[i]) * w;
}

int
cu_tamper_grey(cu_tamper *t, const uint8_t *grey, int64_t t_us, unsigned *ret_changes)
{
	struct cu_tamper_measure m = {.t_us = t_us, .similarity = 1, .peak = 1};
	unsigned changes = 0;

	if (!t || !grey || !ret_changes)
		return cu_fail(CU_ERR_INVAL, "cu_tamper_grey: NULL argument");
	if (t->have_prev && t_us < t->prev_us)
		return cu_fail(CU_ERR_INVAL, "tamper analysis: picture at %lld is before the last "
		    "one (%lld)", (long long)t_us, (long long)t->prev_us);
	if (grey != t->grey)
		memcpy(t->grey, grey, sizeof(t->grey));

	/* the time one picture stands for: the spacing of the last two */
	int64_t dt = 0;
	if (!t->have_prev) {
		t->first_us = t_us;
	} else {
		dt = t_us - t->prev_us;
		int64_t gap = t->persist_us * 3 > GAP_MIN_US ? t->persist_us * 3 : GAP_MIN_US;
		if (dt > gap) {
			/* a long gap (the camera was away): runs start anew */
			for (int k = 0; k < CU_TAMPER_KINDS; k++)
				t->cond[k].run = false;
			dt = 0;
		}
	}
	t->prev_us = t_us;
	t->prev_dt = dt;
	t->have_prev = true;
	t->stats.analysed++;

	measure_cover(t, &m);
	tile_sharpness(t);
	make_half(t);
	m.learning = t_us - t->first_us < t->learn_us;
	bool covered = m.seen[CU_TAMPER_COVERED];

	bool analysed_shift = false;
	if (!covered && t->have_ref && !m.learning) {
		struct peaks pk;
		analysed_shift = true;
		double s0 = similarity(t, 0, 0), s1 = -1;
		phase_correlate(t, &pk);
		if (pk.moved >= PEAK_MIN)
			s1 = similarity(t, pk.dx, pk.dy);
		/* a shift is taken when it explains the picture clearly better than none */
		bool displaced = s1 >= s0 + SIM_GAIN_MIN;
		m.shift_x = displaced ? pk.dx : 0;
		m.shift_y = displaced ? pk.dy : 0;
		m.peak = displaced ? pk.moved : pk.still;
		m.similarity = displaced ? s1 : s0;
		m.sharpness = relative_sharpness(t, &m.tiles);
		/* focus is judged only on the reference's scene, where it stands: a
		 * moved or changed picture's tiles hold other things than their
		 * baselines (blur barely changes the 160x90 picture's similarity) */
		if (!displaced && m.similarity >= SIM_MIN && m.sharpness > 0 &&
		    m.sharpness < DEFOCUS_RATIO)
			m.seen[CU_TAMPER_DEFOCUSED] = true;
		m.seen[CU_TAMPER_MOVED] = displaced || m.similarity < SIM_MIN;
	}

	for (int k = 0; k < CU_TAMPER_KINDS; k++)
		if (cond_step(t, &t->cond[k], m.seen[k], t_us, dt)) {
			changes |= 1u << k;
			if (t->cond[k].active)
				t->stats.raised[k]++;
		}

	/* learn and adapt while nothing is raised or about to be */
	bool quiet = true;
	for (int k = 0; k < CU_TAMPER_KINDS; k++)
		if (t->cond[k].active || t->cond[k].run || m.seen[k])
			quiet = false;
	if (quiet) {
		float wref = m.learning ? 1.0f / (float)(t->learned + 1) : 1.0f / (float)ADAPT_REF;
		if (!t->have_ref) {
			memcpy(t->ref, t->half, sizeof(t->ref));
			t->have_ref = true;
			t->fref_ok = false;
		} else {
			blend(t->ref, t->half, HW * HH, wref);
			/* the spectrum follows when this picture's was made */
			if (t->fref_ok && analysed_shift)
				blend((float *)t->fref, (const float *)t->fcur, 2 * FW * FH, wref);
			else
				t->fref_ok = false;
		}
		adapt_tiles(t, m.learning);
		t->learned++;
	}
	t->last = m;
	*ret_changes = changes;
	return 0;
}

void
cu_tamper_describe(const cu_tamper *t, int kind, char *out, size_t len)
{
	const struct cu_tamper_measure *m = &t->last;

	switch (kind) {
	case CU_TAMPER_COVERED:
		cu_fmt_cut(out, len, "%.0f %% of the picture dark, %.0f %% within %d levels of "
		    "the median (covered from %.0f %%); mean luma %.0f", m->dark * 100,
		    m->uniform * 100, UNIFORM_RADIUS, COVERED_DARK * 100, m->mean);
		break;
	case CU_TAMPER_DEFOCUSED:
		cu_fmt_cut(out, len, "sharpness %.0f %% of the learned baseline over %d tiles "
		    "(defocused below %.0f %%)", m->sharpness * 100, m->tiles, DEFOCUS_RATIO * 100);
		break;
	case CU_TAMPER_MOVED:
		cu_fmt_cut(out, len, "scene shifted by (%d, %d) px of %dx%d, peak %.2f; "
		    "similarity to the reference %.2f (changed below %.2f)", m->shift_x,
		    m->shift_y, HW, HH, m->peak, m->similarity, SIM_MIN);
		break;
	default:
		cu_fmt_cut(out, len, "unknown condition %d", kind);
		break;
	}
}

/* ---- decoding ---- */

static int
averr(int err, const char *what)
{
	char msg[AV_ERROR_MAX_STRING_SIZE];

	if (err == AVERROR(ENOMEM))
		return cu_fail(CU_ERR_NOMEM, "out of memory %s", what);
	if (av_strerror(err, msg, sizeof(msg)) < 0)
		cu_fmt_cut(msg, sizeof(msg), "error %d", err);
	return cu_fail(CU_ERR_MEDIA, "tamper analysis: %s failed (%s)", what, msg);
}

static int
open_decoder(cu_tamper *t, int codec)
{
	if (t->dec && t->dec_codec == codec)
		return 0;
	avcodec_free_context(&t->dec);
	const AVCodec *c = avcodec_find_decoder(codec == CU_CODEC_H264 ? AV_CODEC_ID_H264 :
	    codec == CU_CODEC_H265 ? AV_CODEC_ID_HEVC : AV_CODEC_ID_MJPEG);
	if (!c)
		return cu_fail(CU_ERR_UNSUPPORTED, "libavcodec has no %s decoder", cu_codec_name(codec));
	if (!t->pkt && !(t->pkt = av_packet_alloc()))
		return cu_fail(CU_ERR_NOMEM, "no memory for the tamper decoder");
	if (!t->pic && !(t->pic = av_frame_alloc()))
		return cu_fail(CU_ERR_NOMEM, "no memory for the tamper decoder");
	if (!t->tmp && !(t->tmp = av_frame_alloc()))
		return cu_fail(CU_ERR_NOMEM, "no memory for the tamper decoder");
	if (!(t->dec = avcodec_alloc_context3(c)))
		return cu_fail(CU_ERR_NOMEM, "no memory for the tamper decoder");
	t->dec->max_pixels = CU_TAMPER_PIXELS_MAX;
	t->dec->thread_count = 1;    /* off the recording path: one core at most */
	/* a picture to measure, not to show: the deblocking filter is a large
	 * share of decoding and changes every picture alike */
	t->dec->skip_loop_filter = AVDISCARD_ALL;
	t->dec->flags2 |= AV_CODEC_FLAG2_FAST;
	int r = avcodec_open2(t->dec, c, NULL);
	if (r < 0) {
		avcodec_free_context(&t->dec);
		return averr(r, "opening the decoder");
	}
	t->dec_codec = codec;
	return 0;
}

/* Sends the frame and flushes, keeping the last picture in t->pic. */
static int
decode_one(cu_tamper *t, const cu_frame *f)
{
	int r;

	av_frame_unref(t->pic);
	if (av_new_packet(t->pkt, (int)f->len) < 0)
		return cu_fail(CU_ERR_NOMEM, "no memory for a %zu-byte frame", f->len);
	memcpy(t->pkt->data, f->data, f->len);
	t->pkt->pts = t->pkt->dts = f->ts_us;
	t->pkt->flags |= AV_PKT_FLAG_KEY;
	r = avcodec_send_packet(t->dec, t->pkt);
	av_packet_unref(t->pkt);
	if (r >= 0)
		r = avcodec_send_packet(t->dec, NULL);
	while (r >= 0) {
		r = avcodec_receive_frame(t->dec, t->tmp);
		if (r < 0)
			break;
		av_frame_unref(t->pic);
		av_frame_move_ref(t->pic, t->tmp);
	}
	avcodec_flush_buffers(t->dec);
	if (r != AVERROR_EOF && r != AVERROR(EAGAIN))
		return averr(r, "decoding the key frame");
	if (!t->pic->buf[0])
		return cu_fail(CU_ERR_MEDIA, "tamper analysis: the key frame at %lld gave no picture",
		    (long long)f->ts_us);
	if (t->pic->decode_error_flags || (t->pic->flags & AV_FRAME_FLAG_CORRUPT))
		return cu_fail(CU_ERR_MEDIA, "tamper analysis: the picture at %lld is damaged",
		    (long long)f->ts_us);
	if (t->pic->width <= 0 || t->pic->height <= 0 || t->pic->width > CU_TAMPER_SIDE_MAX ||
	    t->pic->height > CU_TAMPER_SIDE_MAX ||
	    (uint64_t)t->pic->width * (uint64_t)t->pic->height > CU_TAMPER_PIXELS_MAX)
		return cu_fail(CU_ERR_LIMIT, "tamper analysis: a %dx%d picture is over the size limit",
		    t->pic->width, t->pic->height);
	return 0;
}

/* The picture as 320x180 full-range grey. */
static int
to_grey(cu_tamper *t)
{
	const AVFrame *p = t->pic;
	uint8_t *dst[4] = {t->grey, NULL, NULL, NULL};
	int dst_stride[4] = {CU_TAMPER_W, 0, 0, 0};

	t->sws = sws_getCachedContext(t->sws, p->width, p->height, p->format, CU_TAMPER_W,
	    CU_TAMPER_H, AV_PIX_FMT_GRAY8, SWS_AREA, NULL, NULL, NULL);
	if (!t->sws) {
		const char *name = av_get_pix_fmt_name(p->format);
		return cu_fail(CU_ERR_UNSUPPORTED, "tamper analysis: cannot scale %s pictures",
		    name ? name : "unknown");
	}
	cu_media_sws_full_range(t->sws, p);
	if (sws_scale(t->sws, (const uint8_t *const *)p->data, p->linesize, 0, p->height, dst,
	    dst_stride) != CU_TAMPER_H)
		return cu_fail(CU_ERR_MEDIA, "tamper analysis: scaling the picture failed");
	return 0;
}

int
cu_tamper_frame(cu_tamper *t, const cu_frame *f, unsigned *ret_changes)
{
	int r;

	if (!t || !f || !ret_changes)
		return cu_fail(CU_ERR_INVAL, "cu_tamper_frame: NULL argument");
	if (f->track != CU_TRACK_VIDEO || !f->key || !f->data || f->len == 0 ||
	    f->len > CU_FRAME_MAX)
		return cu_fail(CU_ERR_INVAL, "tamper analysis: not a video key frame of 1 to %u bytes",
		    CU_FRAME_MAX);
	if (f->codec != CU_CODEC_H264 && f->codec != CU_CODEC_H265 && f->codec != CU_CODEC_MJPEG)
		return cu_fail(CU_ERR_UNSUPPORTED, "tamper analysis: cannot decode %s video",
		    cu_codec_name(f->codec));
	if (t->have_prev && f->ts_us < t->prev_us)
		return cu_fail(CU_ERR_INVAL, "tamper analysis: frame at %lld is before the last "
		    "one (%lld)", (long long)f->ts_us, (long long)t->prev_us);
	av_log_set_level(AV_LOG_QUIET);
	if ((r = open_decoder(t, f->codec)) < 0 || (r = decode_one(t, f)) < 0 ||
	    (r = to_grey(t)) < 0) {
		t->stats.decode_failed++;
		return r;
	}
	return cu_tamper_grey(t, t->grey, f->ts_us, ret_changes);
}
