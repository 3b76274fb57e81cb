/* bench-store: how many 4 Mbit/s cameras one core can record and verify.
 *
 * Appends synthetic H.264-like frames (25 fps, a key frame every second,
 * 20000 B/frame on average) for many cameras at once, one thread per camera,
 * into a fresh store, then verifies it with one thread and with every CPU.
 * In the same run it measures the raw AES-256-GCM + SHA-256 rate on the same
 * buffers, through custody's wrappers and through OpenSSL EVP directly, so
 * the store's cost can be read as a fraction of the crypto it cannot avoid.
 *
 * The run is faster than real time: it measures capacity, not latency. It
 * never fails because a goal is missed; it fails (exit 2) only when the store
 * cannot be written or the written store does not verify. See bench/README.md. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/media.h"
#include "custody/store.h"
#include "custody/time.h"
#include "store/format.h"   /* CU_ENTRY_HEADER_LEN, CU_ENTRY_CANON_LEN: the store's per-entry work */
#include "custody/file.h"
#include "custody/parse.h"

#define PROG "bench-store"
#include "bench.h"

/* The stream every camera sends: 4 Mbit/s H.264 at 25 fps, IDR every second. */
#define FPS 25
#define GOP_FRAMES 25                      /* one key frame per second */
#define FRAME_US (1000000 / FPS)           /* 40 ms */
#define CAMERA_BITS_PER_S 4000000.0
#define CAMERA_BYTES_PER_S (CAMERA_BITS_PER_S / 8)
#define AVG_FRAME_BYTES 20000              /* 4e6 / 8 / 25 */
#define KEY_TO_P 5                         /* a key frame is ~5 P-frames */
#define MEDIA_START "2026-01-01T00:00:00Z" /* every camera's media clock starts here */

/* Limits on the options (a benchmark is still bounded). */
#define CAMERAS_DEFAULT 8
#define CAMERAS_MAX 1024                   /* one thread each */
#define SECONDS_DEFAULT 60
#define SECONDS_MAX 86400
#define DISK_USE_MAX 0.9                   /* of the free space, checked before writing */

/* Each raw crypto loop runs at least this long (wall), before and after the store. */
#define RAW_MIN_US 1000000

#define BENCH_PASSWORD "custody-benchmark-password"
#define MB 1e6                             /* MB = 10^6 bytes, MB/s likewise */

/* One GOP of frames, generated once and shared read-only by every camera. */
struct gop {
	uint8_t *data[GOP_FRAMES];
	size_t len[GOP_FRAMES];
	uint64_t bytes;                    /* sum of len */
};

struct opts {
	unsigned cameras;
	unsigned seconds;
	const char *dir;                   /* NULL: a mkdtemp dir under /tmp */
	int encryption;
	bool keep;
};

/* ---- frames ---- */

static void
gop_free(struct gop *g)
{
	for (size_t i = 0; i < GOP_FRAMES; i++) {
		free(g->data[i]);
		g->data[i] = NULL;
	}
}

/* Frame sizes: P = 25 * 20000 / (5 + 24) and the key frame takes the rest,
 * so one GOP is exactly 25 * 20000 bytes (key/P = 5.0). Annex B start code
 * and NAL header first (IDR 0x65, non-IDR slice 0x41), random bytes after. */
static int
gop_make(struct gop *g)
{
	static const uint8_t idr[] = {0x00, 0x00, 0x00, 0x01, 0x65};
	static const uint8_t slice[] = {0x00, 0x00, 0x00, 0x01, 0x41};
	const size_t total = (size_t)GOP_FRAMES * AVG_FRAME_BYTES;
	const size_t p = total / (KEY_TO_P + GOP_FRAMES - 1);
	uint64_t st = UINT64_C(0x637573746f6479); /* "custody" */
	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < GOP_FRAMES; i++) {
		size_t n = i == 0 ? total - (GOP_FRAMES - 1) * p : p;
		uint8_t *d = malloc(n);
		if (d == NULL) {
			gop_free(g);
			return CU_ERR_NOMEM;
		}
		for (size_t k = 0; k < n; k += 8) {
			uint64_t v = splitmix64(&st);
			memcpy(d + k, &v, n - k < 8 ? n - k : 8);
		}
		memcpy(d, i == 0 ? idr : slice, sizeof(idr));
		g->data[i] = d;
		g->len[i] = n;
		g->bytes += n;
	}
	return 0;
}

/* ---- raw crypto baselines (one thread) ---- */

/* Runs step over the GOP's frames again and again for at least RAW_MIN_US.
 * Returns bytes per CPU-second (the single thread's rate per core) in ret. */
static int
raw_rate(int (*step)(void *ctx, const struct gop *g, size_t i), void *ctx, const struct gop *g,
         double *ret_bps)
{
	int r;
	for (size_t i = 0; i < GOP_FRAMES; i++) /* warm-up: page in, fetch algorithms */
		if ((r = step(ctx, g, i)) < 0)
			return r;
	uint64_t bytes = 0;
	struct clock_mark m = mark_now();
	do {
		for (size_t i = 0; i < GOP_FRAMES; i++)
			if ((r = step(ctx, g, i)) < 0)
				return r;
		bytes += g->bytes;
	} while (cu_time_mono_us() - m.wall_us < RAW_MIN_US);
	struct span s = span_since(m);
	*ret_bps = (double)bytes / s.cpu_s;
	return 0;
}

/* What the store does per frame byte: AES-256-GCM with the entry header as
 * AAD, and SHA-256 over chain || canonical header || plaintext. */
struct wrap_ctx {
	cu_aead *aead;
	cu_sha256_ctx *sha;
	uint8_t *out;                      /* ciphertext, then tag */
	uint8_t hdr[CU_ENTRY_HEADER_LEN];
	uint8_t chain[CU_SHA256_LEN];
	uint64_t seq;                      /* nonce counter: never reused under the key */
	struct gop ct;                     /* for open: frame i sealed with nonce i, tag after */
};

static void
nonce_of(uint64_t seq, uint8_t nonce[static CU_GCM_NONCE_LEN])
{
	memset(nonce, 0, CU_GCM_NONCE_LEN);
	for (int k = 0; k < 8; k++)
		nonce[4 + k] = (uint8_t)(seq >> (8 * k));
}

static int
chain_hash(struct wrap_ctx *c, const uint8_t *plain, size_t len)
{
	int r;
	if ((r = cu_sha256_init(c->sha)) < 0 ||
	    (r = cu_sha256_update(c->sha, c->chain, CU_SHA256_LEN)) < 0 ||
	    (r = cu_sha256_update(c->sha, c->hdr, CU_ENTRY_CANON_LEN)) < 0 ||
	    (r = cu_sha256_update(c->sha, plain, len)) < 0)
		return r;
	return cu_sha256_final(c->sha, c->chain);
}

static int
step_seal_hash(void *p, const struct gop *g, size_t i)
{
	struct wrap_ctx *c = p;
	uint8_t nonce[CU_GCM_NONCE_LEN];
	nonce_of(++c->seq, nonce);
	int r = cu_aead_seal(c->aead, nonce, sizeof(nonce), c->hdr, sizeof(c->hdr), g->data[i],
	                     g->len[i], c->out, c->out + g->len[i]);
	return r < 0 ? r : chain_hash(c, g->data[i], g->len[i]);
}

/* What verify does per frame byte: decrypt and check the tag, hash the plaintext. */
static int
step_open_hash(void *p, const struct gop *g, size_t i)
{
	struct wrap_ctx *c = p;
	uint8_t nonce[CU_GCM_NONCE_LEN];
	nonce_of(i, nonce);
	size_t n = g->len[i];
	int r = cu_aead_open(c->aead, nonce, sizeof(nonce), c->hdr, sizeof(c->hdr), c->ct.data[i],
	                     n, c->out, c->ct.data[i] + n, CU_GCM_TAG_LEN);
	return r < 0 ? r : chain_hash(c, c->out, n);
}

/* OpenSSL EVP called directly, without custody's checks or chunking. */
struct evp_ctx {
	EVP_CIPHER_CTX *cipher;
	EVP_MD_CTX *md_ctx;
	EVP_MD *md;
	uint8_t *out;
	uint8_t hdr[CU_ENTRY_HEADER_LEN];
	uint64_t seq;
};

static int
step_evp_gcm(void *p, const struct gop *g, size_t i)
{
	struct evp_ctx *c = p;
	uint8_t nonce[CU_GCM_NONCE_LEN], fin[16];
	int outl = 0, finl = 0;
	nonce_of(++c->seq, nonce);
	if (EVP_EncryptInit_ex2(c->cipher, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(c->cipher, NULL, &outl, c->hdr, (int)sizeof(c->hdr)) != 1 ||
	    EVP_EncryptUpdate(c->cipher, c->out, &outl, g->data[i], (int)g->len[i]) != 1 ||
	    EVP_EncryptFinal_ex(c->cipher, fin, &finl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_AEAD_GET_TAG, CU_GCM_TAG_LEN,
	                        c->out + g->len[i]) != 1)
		return CU_ERR_CRYPTO;
	return 0;
}

static int
step_evp_sha(void *p, const struct gop *g, size_t i)
{
	struct evp_ctx *c = p;
	unsigned int n = 0;
	if (EVP_DigestInit_ex2(c->md_ctx, c->md, NULL) != 1 ||
	    EVP_DigestUpdate(c->md_ctx, g->data[i], g->len[i]) != 1 ||
	    EVP_DigestFinal_ex(c->md_ctx, c->out, &n) != 1)
		return CU_ERR_CRYPTO;
	return 0;
}

struct raw_rates {
	double wrap_seal;                  /* custody wrappers: encrypt + hash, B per CPU-s */
	double wrap_open;                  /* custody wrappers: decrypt + hash */
	double evp_gcm, evp_sha;           /* EVP directly, each alone */
};

static int
measure_raw(const struct gop *g, struct raw_rates *ret)
{
	struct raw_rates rr = {0};
	struct wrap_ctx w = {0};
	struct evp_ctx e = {0};
	EVP_CIPHER *cipher = NULL;
	uint8_t key[CU_AES256_KEY_LEN];
	size_t maxlen = 0;
	int r;
	for (size_t i = 0; i < GOP_FRAMES; i++)
		if (g->len[i] > maxlen)
			maxlen = g->len[i];
	if ((r = cu_random(key, sizeof(key))) < 0 || (r = cu_aead_new(key, &w.aead)) < 0 ||
	    (r = cu_sha256_new(&w.sha)) < 0)
		goto out;
	w.out = malloc(maxlen + CU_GCM_TAG_LEN);
	e.out = malloc(maxlen + CU_GCM_TAG_LEN);
	if (w.out == NULL || e.out == NULL) {
		r = CU_ERR_NOMEM;
		goto out;
	}
	memset(w.hdr, 0x5a, sizeof(w.hdr));
	memcpy(e.hdr, w.hdr, sizeof(e.hdr));
	if ((r = raw_rate(step_seal_hash, &w, g, &rr.wrap_seal)) < 0)
		goto out;

	/* ciphertexts for the decrypt loop: frame i under nonce i */
	for (size_t i = 0; i < GOP_FRAMES; i++) {
		uint8_t nonce[CU_GCM_NONCE_LEN];
		size_t n = g->len[i];
		w.ct.data[i] = malloc(n + CU_GCM_TAG_LEN);
		if (w.ct.data[i] == NULL) {
			r = CU_ERR_NOMEM;
			goto out;
		}
		w.ct.len[i] = n;
		nonce_of(i, nonce);
		if ((r = cu_aead_seal(w.aead, nonce, sizeof(nonce), w.hdr, sizeof(w.hdr), g->data[i],
		                      n, w.ct.data[i], w.ct.data[i] + n)) < 0)
			goto out;
	}
	if ((r = raw_rate(step_open_hash, &w, g, &rr.wrap_open)) < 0)
		goto out;

	cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	e.cipher = EVP_CIPHER_CTX_new();
	e.md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	e.md_ctx = EVP_MD_CTX_new();
	if (cipher == NULL || e.cipher == NULL || e.md == NULL || e.md_ctx == NULL ||
	    EVP_EncryptInit_ex2(e.cipher, cipher, key, NULL, NULL) != 1) {
		r = CU_ERR_CRYPTO;
		goto out;
	}
	if ((r = raw_rate(step_evp_gcm, &e, g, &rr.evp_gcm)) < 0 ||
	    (r = raw_rate(step_evp_sha, &e, g, &rr.evp_sha)) < 0)
		goto out;
	*ret = rr;
out:
	cu_wipe(key, sizeof(key));
	cu_aead_free(w.aead);
	cu_sha256_free(w.sha);
	gop_free(&w.ct);
	free(w.out);
	free(e.out);
	EVP_CIPHER_free(cipher);
	EVP_CIPHER_CTX_free(e.cipher);
	EVP_MD_free(e.md);
	EVP_MD_CTX_free(e.md_ctx);
	return r;
}

/* ---- the store run ---- */

struct camera {
	pthread_t tid;
	cu_store *s;
	const struct gop *g;
	char name[CU_CAMERA_NAME_MAX + 1];
	cu_writer *w;                      /* opened by the thread, or already by main */
	int64_t start_us;
	uint64_t frames;                   /* to append */
	uint64_t bytes;                    /* appended */
	int err;                           /* first failure, 0 none */
	char detail[512];                  /* its detail (the detail is per thread) */
};

static void *
camera_run(void *arg)
{
	struct camera *c = arg;
	cu_writer *w = c->w;
	pthread_setname_np(pthread_self(), c->name); /* so a profile can pick the writers out */
	int r = w != NULL ? 0 : cu_writer_open(c->s, c->name, &w);
	for (uint64_t i = 0; r == 0 && i < c->frames; i++) {
		size_t k = (size_t)(i % GOP_FRAMES);
		cu_frame f = {
			.ts_us = c->start_us + (int64_t)i * FRAME_US,
			.dur_us = FRAME_US,
			.codec = CU_CODEC_H264,
			.track = CU_TRACK_VIDEO,
			.key = k == 0,
			.data = c->g->data[k],
			.len = c->g->len[k],
		};
		if ((r = cu_writer_append(w, &f)) == 0)
			c->bytes += f.len;
	}
	if (r < 0)
		snprintf(c->detail, sizeof(c->detail), "%s", cu_error_detail());
	int r2 = cu_writer_close(w);
	if (r == 0 && r2 < 0) {
		r = r2;
		snprintf(c->detail, sizeof(c->detail), "%s", cu_error_detail());
	}
	c->err = r;
	return NULL;
}

struct verify_sum {
	uint64_t frames, seals, segments, bytes;
	bool tampered;
};

static int
run_verify(cu_store *s, int threads, struct span *ret_span, struct verify_sum *ret_sum)
{
	struct cu_verify_opts vo = {.threads = threads};
	struct cu_verify_report *rep = NULL;
	struct clock_mark m = mark_now();
	int r = cu_store_verify(s, &vo, &rep);
	struct span sp = span_since(m);
	if (r < 0)
		return r;
	struct verify_sum sum = {.tampered = rep->tampered};
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct cu_verify_camera *c = &rep->cameras[i];
		sum.frames += c->frames;
		sum.seals += c->seals;
		sum.segments += c->segments;
		sum.bytes += c->bytes;
		if (c->tampered)
			fprintf(stderr, PROG ": camera %s does not verify: %s\n", c->name,
			        c->fail_reason);
	}
	cu_verify_report_free(rep);
	*ret_span = sp;
	*ret_sum = sum;
	return 0;
}

/* The integrity watch's after-seal work (daemon/watch.c): every closed
 * segment verified on its own, in order, one thread, each linked to the row
 * before it. ret_segments = segments checked; a failure is an error. */
static int
run_watch(cu_store *s, struct span *ret_span, uint64_t *ret_segments)
{
	struct cu_verify_opts ask = {.threads = 1, .closed_only = true, .after_seq = UINT64_MAX};
	struct cu_verify_report *cat = NULL;
	int r = cu_store_verify(s, &ask, &cat);
	if (r < 0)
		return r;
	uint64_t n = 0;
	struct clock_mark m = mark_now();
	for (size_t i = 0; r == 0 && i < cat->ncameras; i++) {
		const struct cu_verify_camera *c = &cat->cameras[i];
		for (uint64_t after = 0; r == 0 && after < c->closed_seq;) {
			struct cu_verify_opts o = {.camera = c->name, .threads = 1, .closed_only = true,
			                           .after_seq = after};
			/* one segment per call, as when the watch looks after each seal */
			struct cu_verify_report *rep = NULL;
			if ((r = cu_store_verify(s, &o, &rep)) < 0)
				break;
			uint64_t next = rep->cameras[0].checked_seq;
			if (rep->tampered || next <= after)
				r = cu_fail(CU_ERR_TAMPERED, "%s: %s", c->name, rep->cameras[0].fail_reason);
			n += rep->cameras[0].segments;
			after = next;
			cu_verify_report_free(rep);
		}
	}
	*ret_span = span_since(m);
	*ret_segments = n;
	cu_verify_report_free(cat);
	return r;
}

static const char *
fs_name(const char *dir)
{
	struct statfs sf;
	if (statfs(dir, &sf) < 0)
		return "unknown file system";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x794c7630: return "overlayfs";
	case 0x65735546: return "fuse";
	default: return "other file system";
	}
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes the store directory: only what the benchmark itself created in it
 * (the store was created in an empty or new directory). */
static void
remove_tree(const char *dir)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		fprintf(stderr, PROG ": could not remove %s: %s\n", dir, strerror(errno));
}

static const char usage_text[] =
	"usage: bench-store [--cameras N] [--seconds S] [--dir DIR] [--keep]\n"
	"                   [--encryption none|light|strong]\n"
	"Appends 4 Mbit/s H.264-like frames (25 fps, key frame every second) for N cameras\n"
	"(default 8, one thread each), S seconds of media each (default 60), into a new store\n"
	"in DIR (default a new directory under /tmp; DIR must not exist or be empty), verifies\n"
	"it, and compares both with the raw AES-256-GCM + SHA-256 rate. DIR is removed at the\n"
	"end unless --keep.\n";

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"cameras", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 's'},
		{"dir", required_argument, NULL, 'd'},
		{"encryption", required_argument, NULL, 'e'},
		{"keep", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct opts){.cameras = CAMERAS_DEFAULT, .seconds = SECONDS_DEFAULT,
	                   .encryption = CU_ENC_STRONG};
	int ch;
	uint64_t v;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (cu_parse_u64(optarg, CAMERAS_MAX, "--cameras", &v) < 0 || v == 0)
				goto bad;
			o->cameras = (unsigned)v;
			break;
		case 's':
			if (cu_parse_u64(optarg, SECONDS_MAX, "--seconds", &v) < 0 || v == 0)
				goto bad;
			o->seconds = (unsigned)v;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'e':
			if (cu_encryption_parse(optarg, &o->encryption) < 0)
				goto bad;
			break;
		case 'k':
			o->keep = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			fputs(usage_text, stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	return 0;
bad:
	if (ch == 'e')
		fprintf(stderr, PROG ": --encryption %s: must be none, light or strong\n", optarg);
	else
		fprintf(stderr, PROG ": --%s %s: must be a number from 1 to %u\n",
		        ch == 'c' ? "cameras" : "seconds", optarg,
		        ch == 'c' ? CAMERAS_MAX : SECONDS_MAX);
	return -1;
}

/* Writes every camera at once, each in its own thread; ret_bytes = frame bytes. */
static int
run_write(cu_store *s, const struct opts *o, const struct gop *g, struct span *ret_span,
          uint64_t *ret_bytes)
{
	int64_t start_us;
	int r = cu_time_parse_iso8601(MEDIA_START, &start_us);
	if (r < 0)
		return fail(MEDIA_START, r);
	struct camera *cams = calloc(o->cameras, sizeof(*cams));
	if (cams == NULL)
		return fail("cameras", CU_ERR_NOMEM);
	for (unsigned i = 0; i < o->cameras; i++) {
		cams[i].s = s;
		cams[i].g = g;
		cams[i].start_us = start_us;
		cams[i].frames = (uint64_t)o->seconds * FPS;
		snprintf(cams[i].name, sizeof(cams[i].name), "cam-%04u", i + 1);
	}
	unsigned started = 0;
	struct clock_mark m = mark_now();
	for (; started < o->cameras; started++) {
		int e = pthread_create(&cams[started].tid, NULL, camera_run, &cams[started]);
		if (e != 0) {
			fprintf(stderr, PROG ": starting camera thread %u: %s\n", started + 1,
			        strerror(e));
			break;
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(cams[i].tid, NULL);
	*ret_span = span_since(m);
	int ret = started == o->cameras ? 0 : 2;
	uint64_t bytes = 0;
	for (unsigned i = 0; i < started; i++) {
		bytes += cams[i].bytes;
		if (cams[i].err < 0) {
			fprintf(stderr, PROG ": %s: %s: %s\n", cams[i].name, cu_strerror(cams[i].err),
			        cams[i].detail);
			ret = 2;
		}
	}
	free(cams);
	*ret_bytes = bytes;
	return ret;
}

/* The mean of two measurements: the raw rates are taken before and after the
 * store runs, so that a machine whose speed drifts (other load, turbo, a
 * noisy neighbour VM) shows up as a spread rather than a skewed ratio. */
static struct raw_rates
raw_mean(const struct raw_rates *a, const struct raw_rates *b)
{
	return (struct raw_rates){
		.wrap_seal = (a->wrap_seal + b->wrap_seal) / 2,
		.wrap_open = (a->wrap_open + b->wrap_open) / 2,
		.evp_gcm = (a->evp_gcm + b->evp_gcm) / 2,
		.evp_sha = (a->evp_sha + b->evp_sha) / 2,
	};
}

int
main(int argc, char **argv)
{
	struct opts o;
	int pr = parse_opts(argc, argv, &o);
	if (pr != 0)
		return pr > 0 ? 0 : 2;

	struct gop g;
	cu_store *s = NULL;
	char tmpl[] = "/tmp/custody-bench.XXXXXX";
	const char *dir = o.dir;
	bool remove_dir = false;   /* set once the directory holds only what we made */
	int r, ret = 2;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	double load[1] = {0};
	if (getloadavg(load, 1) < 1)
		load[0] = -1;
	const uint64_t frames_total = (uint64_t)o.cameras * o.seconds * FPS;
	const uint64_t media_bytes = frames_total * AVG_FRAME_BYTES;
	const double media_s = (double)o.cameras * o.seconds;

	if ((r = gop_make(&g)) < 0)
		return fail("making frames", r);
	if (dir == NULL) {
		if (mkdtemp(tmpl) == NULL) {
			fprintf(stderr, PROG ": mkdtemp %s: %s\n", tmpl, strerror(errno));
			goto out;
		}
		dir = tmpl;
		remove_dir = true;
	}
	/* Refuse a run that would fill the disk: the store is ~1.004 x the media. */
	struct statvfs vf;
	char parent[PATH_MAX];
	if ((r = cu_path(parent, sizeof(parent), "%s/..", dir)) < 0) {
		fail("--dir", r);
		goto out;
	}
	if (statvfs(access(dir, F_OK) == 0 ? dir : parent, &vf) == 0 &&
	    (double)media_bytes * 1.01 > DISK_USE_MAX * (double)vf.f_bavail * (double)vf.f_frsize) {
		fprintf(stderr, PROG ": %.0f MB of media would not fit in %.0f%% of the %.0f MB free "
		        "at %s\n", (double)media_bytes / MB, DISK_USE_MAX * 100,
		        (double)vf.f_bavail * (double)vf.f_frsize / MB, dir);
		goto out;
	}

	/* 1. raw crypto on the same buffers, one thread (again at the end) */
	struct raw_rates raw_before = {0}, raw_after = {0};
	if ((r = measure_raw(&g, &raw_before)) < 0) {
		fail("raw crypto", r);
		goto out;
	}

	/* 2. the store: create (default Argon2id: slow on purpose, not timed), open */
	struct cu_store_create_opts co = {.encryption = o.encryption,
	                                  .site_name = "custody benchmark"};
	r = cu_store_create(dir, BENCH_PASSWORD, strlen(BENCH_PASSWORD), &co);
	if (r < 0) {
		fail(dir, r);
		goto out;
	}
	remove_dir = true;
	if ((r = cu_store_open(dir, BENCH_PASSWORD, strlen(BENCH_PASSWORD), &s)) < 0) {
		fail(dir, r);
		goto out;
	}

	/* 3. write */
	struct span ws;
	uint64_t written = 0;
	if (run_write(s, &o, &g, &ws, &written) != 0)
		goto out;

	/* 4. verify, one thread then every CPU (the files are in the page cache) */
	struct span v1 = {0}, vn = {0};
	struct verify_sum s1 = {0}, sn = {0};
	if ((r = run_verify(s, 1, &v1, &s1)) < 0 || (r = run_verify(s, 0, &vn, &sn)) < 0) {
		fail("verify", r);
		goto out;
	}
	/* 4b. the integrity watch's after-seal work: each segment on its own */
	struct span wsp = {0};
	uint64_t watched = 0;
	if ((r = run_watch(s, &wsp, &watched)) < 0) {
		fail("integrity watch", r);
		goto out;
	}
	if ((r = measure_raw(&g, &raw_after)) < 0) {
		fail("raw crypto", r);
		goto out;
	}

	/* 5. the report */
	struct raw_rates raw = raw_mean(&raw_before, &raw_after);
	double evp_both = 1.0 / (1.0 / raw.evp_gcm + 1.0 / raw.evp_sha);
	double w_wall = (double)written / ws.wall_s, w_cpu = (double)written / ws.cpu_s;
	double w_ratio = w_cpu / raw.wrap_seal;
	double v1_wall = (double)written / v1.wall_s, vn_wall = (double)written / vn.wall_s;
	double v1_cpu = (double)written / v1.cpu_s;
	bool intact = !s1.tampered && !sn.tampered && sn.frames == frames_total &&
	              s1.frames == frames_total;

	printf("custody store benchmark: %u cameras x %u s media, %s, %ld CPU%s (load average "
	       "%.2f at start)\n", o.cameras, o.seconds, cu_encryption_name(o.encryption), ncpu,
	       ncpu == 1 ? "" : "s", load[0]);
	printf("frames: %d fps, key frame every %d (%zu B), P-frames %zu B: %d B/frame average "
	       "= %.1f Mbit/s per camera\n", FPS, GOP_FRAMES, g.len[0], g.len[1], AVG_FRAME_BYTES,
	       (double)g.bytes * 8 * FPS / GOP_FRAMES / 1e6);
	printf("store: %s (%s)\n", dir, fs_name(dir));
	printf("raw AES-256-GCM+SHA-256 (custody wrappers, 1 thread):   %.0f MB/s "
	       "(before/after: %.0f/%.0f); decrypt+hash: %.0f MB/s\n", raw.wrap_seal / MB,
	       raw_before.wrap_seal / MB, raw_after.wrap_seal / MB, raw.wrap_open / MB);
	printf("raw AES-256-GCM (EVP) / SHA-256 (EVP), 1 thread:          %.0f / %.0f MB/s "
	       "(one after the other: %.0f MB/s)\n", raw.evp_gcm / MB, raw.evp_sha / MB,
	       evp_both / MB);
	printf("store write: %.0f MB in %.2f s wall, %.2f s CPU (%.2f user + %.2f sys) -> "
	       "%.0f MB/s wall, %.0f MB/s per CPU-second\n", (double)written / MB, ws.wall_s,
	       ws.cpu_s, ws.user_s, ws.sys_s, w_wall / MB, w_cpu / MB);
	printf("  = %.0f cameras at 4 Mbit/s per core; store/raw per core = %.3f (goal >= 0.5: %s)\n",
	       w_cpu / CAMERA_BYTES_PER_S, w_ratio, w_ratio >= 0.5 ? "met" : "not met");
	printf("  user time only (without the kernel's write and fdatasync work): store/raw = "
	       "%.2f\n", (double)written / (ws.user_s > 0 ? ws.user_s : 1e-6) / raw.wrap_seal);
	printf("  wall clock, all %ld CPUs, durability waits included: %.0f cameras at 4 Mbit/s\n",
	       ncpu, w_wall / CAMERA_BYTES_PER_S);
	printf("verify 1 thread: %.0f MB/s; all %ld threads: %.0f MB/s (speed-up %.1f); "
	       "verify/raw per core = %.2f\n", v1_wall / MB, ncpu, vn_wall / MB,
	       v1.wall_s / vn.wall_s, v1_cpu / raw.wrap_open);
	printf("  1 thread: %.2f s wall, %.2f s CPU; all threads: %.2f s wall, %.2f s CPU "
	       "(%.0f MB/s per CPU-second)\n", v1.wall_s, v1.cpu_s, vn.wall_s, vn.cpu_s,
	       (double)written / vn.cpu_s / MB);
	/* per hour of one camera's 4 Mbit/s video: CPU-seconds, and the same
	 * bytes through OpenSSL alone (GCM decrypt cost = encrypt cost, + SHA-256) */
	double hour_bytes = CAMERA_BYTES_PER_S * 3600.0;
	double per_hour = wsp.cpu_s * 3600.0 / media_s, whole_hour = v1.cpu_s * 3600.0 / media_s;
	printf("integrity watch, after seal (%" PRIu64 " segments, each verified alone, 1 thread): "
	       "%.2f s CPU, %.2f s wall\n", watched, wsp.cpu_s, wsp.wall_s);
	printf("  per hour of 4 Mbit/s video: %.1f CPU-s after seal, %.1f CPU-s in a whole-store "
	       "pass; OpenSSL GCM+SHA-256 of the same bytes: %.1f CPU-s (watch/raw = %.2f)\n",
	       per_hour, whole_hour, hour_bytes / evp_both, per_hour / (hour_bytes / evp_both));
	printf("  = %.2f%% of one core per camera recording, %.0f cameras watched per core\n",
	       100.0 * per_hour / 3600.0, 3600.0 / per_hour);
	printf("durability: %" PRIu64 " seals verified in %" PRIu64 " segments (estimate %u s x "
	       "%u cameras = %.0f); each seal is one fdatasync of its segment and one catalogue "
	       "commit (SQLite WAL; fsync'd only when a segment opens or closes)\n", sn.seals, sn.segments, o.seconds,
	       o.cameras, media_s);
	printf("store on disk: %.1f MB of segments for %.1f MB of frames; %" PRIu64 " frames "
	       "verified: %s\n", (double)sn.bytes / MB, (double)written / MB, sn.frames,
	       intact ? "intact, all present" : "NOT INTACT (a bug: see above)");
	printf("note: %.0f s of media written in %.2f s (%.0fx real time): this measures "
	       "capacity, not a live run; verify read from the page cache\n", media_s, ws.wall_s,
	       media_s / ws.wall_s);
	ret = intact ? 0 : 2;
out:
	cu_store_close(s);
	if (o.keep && remove_dir)
		printf("kept: %s\n", dir);
	else if (remove_dir)
		remove_tree(dir);
	gop_free(&g);
	return ret;
}
