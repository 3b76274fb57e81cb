/* bench-token: the CPU cost of custodyd's per-request access check.
 *
 * Every authenticated API request runs cu_auth_token_verify (parse the
 * token, check its Ed25519 signature, look the jti up among the revoked ones
 * and the user in auth.db) and then a permission check (cu_auth_functions or
 * cu_auth_check, one SQLite query). This program times those calls on a
 * fresh temporary store, one thread, and in the same run the work they
 * cannot avoid: a raw Ed25519 verification of the same message through
 * OpenSSL EVP with the key parsed once, and a raw SHA-256 of the token bytes.
 * The ratio token check / raw Ed25519 says how much the check adds to the
 * signature it must verify anyway.
 *
 * Figures are CPU time of the process (CLOCK_PROCESS_CPUTIME_ID) and wall
 * time (CLOCK_MONOTONIC). Every step runs in ROUNDS rounds taken in turn, so
 * that a drifting machine moves baselines and custody calls alike; the median
 * round is reported with the spread. The run never fails because something
 * is slow; it fails (exit 2) only when a call fails. See bench/README.md. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth/auth_int.h"  /* cu_auth_token_parse: the parse step alone */
#include "custody/auth.h"
#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/store.h"
#include "custody/x509.h"
#include "util/base64.h"
#include "custody/file.h"
#include "custody/parse.h"

#define PROG "bench-token"
#include "bench.h"

#define CALLS_DEFAULT 20000
#define CALLS_MAX 10000000
#define REVOKED_DEFAULT 100                /* revoked tokens in auth.db, as after a day of logouts */
#define REVOKED_MAX 100000
#define THREADS_MAX 64
#define WARMUP_CALLS 200

#define BENCH_PASSWORD "custody-benchmark-password"
#define USER_PASSWORD "bench-user-password-7"
#define CAMERA "cam1"
#define TOKEN_DOMAIN "custody/v1/token" /* and a NUL: what a token's signature covers (auth.h) */
#define SERVER_PEM_MAX (64 * 1024)

struct opts {
	unsigned long calls;
	unsigned long revoked;
	const char *dir;                   /* NULL: a new mkdtemp directory under /tmp */
	bool keep;
};

/* What every timed step gets: the handles and the token under test. */
struct bench {
	cu_auth *auth;
	const char *token;                 /* the admin's token */
	size_t token_len;
	struct cu_token_claims claims;     /* its claims: jti and user id */
	uint8_t pub[CU_ED25519_KEY_LEN];   /* the issuing server's key */
	uint8_t *msg;                      /* "custody/v1/token\0" || payload part */
	size_t msg_len;
	uint8_t sig[CU_ED25519_SIG_LEN];
	EVP_PKEY *pkey;                    /* pub, parsed once */
	EVP_MD_CTX *vctx;
	EVP_MD *sha;
	EVP_MD_CTX *sctx;
};

struct result {
	double cpu_us, wall_us;            /* per call */
};

static int64_t
clock_us(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* ---- the timed steps: each returns 0 or a negative cu_err ---- */

static int
step_verify(struct bench *b)
{
	struct cu_token_claims c;
	return cu_auth_token_verify(b->auth, b->token, b->token_len, &c);
}

/* What GET /api/v1/me does after the token: the site-wide functions. */
static int
step_functions_site(struct bench *b)
{
	unsigned mask = 0;
	int r = cu_auth_functions(b->auth, "admin", NULL, &mask);
	return r < 0 ? r : (mask & 1u << CU_FN_ADMIN) ? 0 : CU_ERR_AUTH;
}

/* What playback does: may this user play this camera back? An admin (a
 * "*" grant) and a viewer whose grants name the camera and a group. */
static int
step_check_admin(struct bench *b)
{
	return cu_auth_check(b->auth, "admin", CU_FN_PLAYBACK, CAMERA);
}

static int
step_check_viewer(struct bench *b)
{
	return cu_auth_check(b->auth, "viewer", CU_FN_PLAYBACK, CAMERA);
}

/* The auth.db part of cu_auth_token_verify alone, the way it runs it: under
 * the handle's lock, the jti among the revoked tokens, then the user by id.
 * Measured, where the line after it subtracts (noisy on a shared machine). */
static int
step_db(struct bench *b)
{
	struct cu_user_row u = {0};
	int64_t revoked = 0;
	cu_auth *a = b->auth;
	pthread_mutex_lock(&a->lock);
	int r = cu_auth_query_int(a, &revoked, "SELECT count(*) FROM revoked_tokens WHERE jti = ?",
	                          "t", b->claims.jti);
	if (r == 0)
		r = cu_auth_user_get(a, NULL, b->claims.user_id, &u);
	pthread_mutex_unlock(&a->lock);
	cu_user_row_wipe(&u);
	return r < 0 ? r : revoked == 0 ? 0 : CU_ERR_AUTH;
}

static int
step_parse(struct bench *b)
{
	struct cu_token_claims c;
	uint8_t sig[CU_ED25519_SIG_LEN];
	size_t p64len;
	return cu_auth_token_parse(b->token, b->token_len, &c, sig, &p64len);
}

/* custody's wrapper, as cu_auth_token_verify calls it: the key is made from
 * its 32 bytes on every call. */
static int
step_cu_ed25519(struct bench *b)
{
	return cu_ed25519_verify(b->pub, b->msg, b->msg_len, b->sig);
}

/* The baseline: EVP_DigestVerify with the key parsed once. */
static int
step_evp_ed25519(struct bench *b)
{
	if (EVP_DigestVerifyInit(b->vctx, NULL, NULL, NULL, b->pkey) != 1 ||
	    EVP_DigestVerify(b->vctx, b->sig, sizeof(b->sig), b->msg, b->msg_len) != 1)
		return CU_ERR_CRYPTO;
	return 0;
}

static int
step_evp_sha256(struct bench *b)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_DigestInit_ex2(b->sctx, b->sha, NULL) != 1 ||
	    EVP_DigestUpdate(b->sctx, b->token, b->token_len) != 1 ||
	    EVP_DigestFinal_ex(b->sctx, md, &n) != 1)
		return CU_ERR_CRYPTO;
	return 0;
}

/* Runs step calls times (after a warm-up), one thread. */
static int
measure(struct bench *b, int (*step)(struct bench *), unsigned long calls, const char *what,
        struct result *ret)
{
	int r;
	for (unsigned long i = 0; i < WARMUP_CALLS; i++)
		if ((r = step(b)) < 0)
			return fail(what, r);
	int64_t c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_us(CLOCK_MONOTONIC);
	for (unsigned long i = 0; i < calls; i++)
		if ((r = step(b)) < 0)
			return fail(what, r);
	int64_t c1 = clock_us(CLOCK_PROCESS_CPUTIME_ID), w1 = clock_us(CLOCK_MONOTONIC);
	ret->cpu_us = (double)(c1 - c0) / (double)calls;
	ret->wall_us = (double)(w1 - w0) / (double)calls;
	if (ret->cpu_us <= 0)
		ret->cpu_us = 1e-3;
	return 0;
}

/* ---- token verification from every CPU at once (custodyd has a pool of workers) ---- */

/* What the threads run. */
enum thread_mode {
	T_CHECK,                           /* token check + site functions */
	T_CU_ED25519,                      /* cu_ed25519_verify: the key made per call */
	T_RAW,                             /* raw Ed25519, key parsed once: the control */
};

struct worker {
	pthread_t tid;
	struct bench *b;
	int mode;                          /* enum thread_mode */
	unsigned long calls;
	int err;
	char detail[256];
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	/* the raw control needs its own context; the key is shared read-only */
	struct bench mine = *w->b;
	if (w->mode == T_RAW && (mine.vctx = EVP_MD_CTX_new()) == NULL) {
		w->err = CU_ERR_NOMEM;
		snprintf(w->detail, sizeof(w->detail), "EVP_MD_CTX_new");
		return NULL;
	}
	for (unsigned long i = 0; i < w->calls; i++) {
		int r;
		if (w->mode == T_RAW)
			r = step_evp_ed25519(&mine);
		else if (w->mode == T_CU_ED25519)
			r = step_cu_ed25519(&mine);
		else if ((r = step_verify(w->b)) == 0)
			r = step_functions_site(w->b);
		if (r < 0) {
			w->err = r;
			snprintf(w->detail, sizeof(w->detail), "%s", cu_error_detail());
			break;
		}
	}
	if (w->mode == T_RAW)
		EVP_MD_CTX_free(mine.vctx);
	return NULL;
}

/* One of enum thread_mode from nthreads threads; calls in all. */
static int
measure_threads(struct bench *b, int mode, unsigned nthreads, unsigned long calls,
                struct result *ret)
{
	struct worker ws[THREADS_MAX] = {0};
	unsigned started = 0;
	int rc = 0;
	int64_t c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_us(CLOCK_MONOTONIC);
	for (; started < nthreads; started++) {
		ws[started].b = b;
		ws[started].mode = mode;
		ws[started].calls = calls / nthreads;
		int e = pthread_create(&ws[started].tid, NULL, worker_run, &ws[started]);
		if (e != 0) {
			fprintf(stderr, PROG ": starting thread %u: %s\n", started + 1, strerror(e));
			rc = 2;
			break;
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
	int64_t c1 = clock_us(CLOCK_PROCESS_CPUTIME_ID), w1 = clock_us(CLOCK_MONOTONIC);
	unsigned long done = 0;
	for (unsigned i = 0; i < started; i++) {
		done += ws[i].calls;
		if (ws[i].err < 0) {
			fprintf(stderr, PROG ": thread %u: %s: %s\n", i + 1, cu_strerror(ws[i].err),
			        ws[i].detail);
			rc = 2;
		}
	}
	if (rc != 0 || done == 0)
		return 2;
	ret->cpu_us = (double)(c1 - c0) / (double)done;
	ret->wall_us = (double)(w1 - w0) / (double)done;
	return 0;
}

/* ---- set-up ---- */

/* Reads the server's Ed25519 key from STORE/server.pem and splits the token
 * into the signed message and its signature, as the verifier does. */
static int
bench_crypto(struct bench *b, const char *dir)
{
	char path[4096];
	uint8_t *pem = NULL;
	size_t pem_len = 0, sig_len = 0;
	struct cu_x509_info info;
	int r;
	if ((r = cu_path(path, sizeof(path), "%s/server.pem", dir)) < 0 ||
	    (r = cu_file_read(path, SERVER_PEM_MAX, &pem, &pem_len)) < 0)
		return fail("server.pem", r);
	r = cu_x509_info((const char *)pem, pem_len, &info);
	free(pem);
	if (r < 0)
		return fail("server.pem", r);
	memcpy(b->pub, info.ed25519_pub, sizeof(b->pub));

	const char *dot = memchr(b->token, '.', b->token_len);
	if (dot == NULL)
		return fail("token", CU_ERR_FORMAT);
	size_t p64len = (size_t)(dot - b->token);
	if ((r = cu_b64_decode(dot + 1, b->token_len - p64len - 1,
	                       CU_B64_URL | CU_B64_NOPAD | CU_B64_CANONICAL, b->sig, sizeof(b->sig),
	                       &sig_len)) < 0 || sig_len != sizeof(b->sig))
		return fail("token signature", r < 0 ? r : CU_ERR_FORMAT);
	b->msg_len = sizeof(TOKEN_DOMAIN) + p64len;  /* sizeof counts the NUL */
	if ((b->msg = malloc(b->msg_len)) == NULL)
		return fail("message", CU_ERR_NOMEM);
	memcpy(b->msg, TOKEN_DOMAIN, sizeof(TOKEN_DOMAIN));
	memcpy(b->msg + sizeof(TOKEN_DOMAIN), b->token, p64len);

	b->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, b->pub, sizeof(b->pub));
	b->vctx = EVP_MD_CTX_new();
	b->sha = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	b->sctx = EVP_MD_CTX_new();
	if (b->pkey == NULL || b->vctx == NULL || b->sha == NULL || b->sctx == NULL)
		return fail("OpenSSL", CU_ERR_CRYPTO);
	/* the message really is what the signature covers */
	if ((r = step_evp_ed25519(b)) < 0)
		return fail("raw Ed25519 verification of the token's signature", r);
	return 0;
}

/* Users, roles and a group: an admin ("*" admin grant) and a viewer holding
 * playback on the camera by name and live on a group holding the camera;
 * then `revoked` tokens issued and revoked, so the revocation lookup runs on
 * a table that is not empty. */
static int
bench_users(cu_auth *a, unsigned long revoked)
{
	static const char *const admins[] = {"admins"};
	static const char *const viewers[] = {"viewers"};
	char tok[CU_TOKEN_MAX + 1];
	int r;
	if ((r = cu_auth_role_add(a, "admins", NULL)) < 0 ||
	    (r = cu_auth_role_grant(a, "admins", CU_FN_ADMIN, "*", NULL)) < 0 ||
	    (r = cu_auth_group_add(a, "entrance", NULL)) < 0 ||
	    (r = cu_auth_group_camera_add(a, "entrance", CAMERA, NULL)) < 0 ||
	    (r = cu_auth_role_add(a, "viewers", NULL)) < 0 ||
	    (r = cu_auth_role_grant(a, "viewers", CU_FN_PLAYBACK, CAMERA, NULL)) < 0 ||
	    (r = cu_auth_role_grant(a, "viewers", CU_FN_LIVE, "group:entrance", NULL)) < 0 ||
	    (r = cu_auth_user_add(a, "admin", USER_PASSWORD, strlen(USER_PASSWORD), admins, 1,
	                          NULL)) < 0 ||
	    (r = cu_auth_user_add(a, "viewer", USER_PASSWORD, strlen(USER_PASSWORD), viewers, 1,
	                          NULL)) < 0)
		return fail("users and roles", r);
	for (unsigned long i = 0; i < revoked; i++) {
		r = cu_auth_token_issue(a, i % 2 ? "admin" : "viewer", 0, tok, sizeof(tok), NULL);
		if (r == 0)
			r = cu_auth_token_revoke(a, tok, strlen(tok), NULL);
		if (r < 0) {
			cu_wipe(tok, sizeof(tok));
			return fail("revoking tokens", r);
		}
	}
	cu_wipe(tok, sizeof(tok));
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void
remove_tree(const char *dir)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		fprintf(stderr, PROG ": could not remove %s: %s\n", dir, strerror(errno));
}

static const char usage_text[] =
	"usage: bench-token [--calls N] [--revoked N] [--dir DIR] [--keep]\n"
	"Times custodyd's per-request access check (cu_auth_token_verify, cu_auth_functions,\n"
	"cu_auth_check) N times each (default 20000, in 5 rounds) on a new store in DIR (default a\n"
	"new directory under /tmp; DIR must not exist or be empty), against raw Ed25519 and\n"
	"SHA-256 through OpenSSL EVP, then token checks from every CPU at once.\n"
	"--revoked: tokens revoked in auth.db first (default 100).\n"
	"DIR is removed at the end unless --keep.\n";

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"calls", required_argument, NULL, 'n'},
		{"revoked", required_argument, NULL, 'r'},
		{"dir", required_argument, NULL, 'd'},
		{"keep", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct opts){.calls = CALLS_DEFAULT, .revoked = REVOKED_DEFAULT};
	int ch;
	uint64_t v;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (cu_parse_u64(optarg, CALLS_MAX, "--calls", &v) < 0 || v == 0) {
				fprintf(stderr, PROG ": --calls %s: must be a number from 1 to %d\n",
				        optarg, CALLS_MAX);
				return -1;
			}
			o->calls = (unsigned long)v;
			break;
		case 'r':
			if (cu_parse_u64(optarg, REVOKED_MAX, "--revoked", &v) < 0) {
				fprintf(stderr, PROG ": --revoked %s: must be a number from 0 to %d\n",
				        optarg, REVOKED_MAX);
				return -1;
			}
			o->revoked = (unsigned long)v;
			break;
		case 'd':
			o->dir = optarg;
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
}

/* The steps, run in ROUNDS interleaved rounds so that a machine whose speed
 * drifts (other load, a noisy neighbour VM) moves every figure alike; the
 * median round is reported, with the spread. */
enum step_id {
	S_SHA, S_ED, S_VERIFY, S_PARSE, S_CUED, S_DB, S_SITE, S_CHECK_ADMIN, S_CHECK_VIEWER, S_COUNT
};

static const struct {
	const char *label;
	int (*fn)(struct bench *);
} steps[S_COUNT] = {
	[S_SHA] = {"raw SHA-256 of the token bytes", step_evp_sha256},
	[S_ED] = {"raw Ed25519 verify of the token message (key once)", step_evp_ed25519},
	[S_VERIFY] = {"cu_auth_token_verify (the whole token check)", step_verify},
	[S_PARSE] = {"  of which cu_auth_token_parse (base64, JSON)", step_parse},
	[S_CUED] = {"  of which cu_ed25519_verify (key made per call)", step_cu_ed25519},
	[S_DB] = {"  of which auth.db: revoked jti + user by id", step_db},
	[S_SITE] = {"cu_auth_functions(admin, site) (GET /me)", step_functions_site},
	[S_CHECK_ADMIN] = {"cu_auth_check(admin, playback, camera)", step_check_admin},
	[S_CHECK_VIEWER] = {"cu_auth_check(viewer, playback, camera; by group)", step_check_viewer},
};

#define ROUNDS 5

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median, min and max of one step's rounds. */
struct summary {
	struct result med;
	double min_cpu, max_cpu;
};

static struct summary
summarise(const struct result r[ROUNDS])
{
	double cpu[ROUNDS], wall[ROUNDS];
	for (int i = 0; i < ROUNDS; i++) {
		cpu[i] = r[i].cpu_us;
		wall[i] = r[i].wall_us;
	}
	qsort(cpu, ROUNDS, sizeof(double), cmp_double);
	qsort(wall, ROUNDS, sizeof(double), cmp_double);
	return (struct summary){.med = {.cpu_us = cpu[ROUNDS / 2], .wall_us = wall[ROUNDS / 2]},
	                        .min_cpu = cpu[0], .max_cpu = cpu[ROUNDS - 1]};
}

static void
line(const char *label, const struct summary *s)
{
	printf("  %-52s %8.2f µs CPU %8.2f µs wall %9.0f /s per core  (%.2f..%.2f)\n", label,
	       s->med.cpu_us, s->med.wall_us, 1e6 / s->med.cpu_us, s->min_cpu, s->max_cpu);
}

int
main(int argc, char **argv)
{
	struct opts o;
	int pr = parse_opts(argc, argv, &o);
	if (pr != 0)
		return pr > 0 ? 0 : 2;

	char tmpl[] = "/tmp/custody-bench-token.XXXXXX";
	const char *dir = o.dir;
	bool remove_dir = false;
	cu_store *s = NULL;
	char token[CU_TOKEN_MAX + 1] = "";
	struct bench b = {0};
	int r, ret = 2;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	double load[1] = {-1};
	if (getloadavg(load, 1) < 1)
		load[0] = -1;

	if (dir == NULL) {
		if (mkdtemp(tmpl) == NULL) {
			fprintf(stderr, PROG ": mkdtemp %s: %s\n", tmpl, strerror(errno));
			return 2;
		}
		dir = tmpl;
		remove_dir = true;
	}
	/* A store without media: encryption does not matter, and a cheap
	 * Argon2id for its key (the store key is not what is measured). */
	struct cu_store_create_opts co = {
		.encryption = CU_ENC_NONE,
		.site_name = "custody benchmark",
		.server_name = "bench-token",
		.kdf = {.t_cost = 1, .m_cost_kib = CU_ARGON2_M_MIN, .parallelism = 1},
	};
	if ((r = cu_store_create(dir, BENCH_PASSWORD, strlen(BENCH_PASSWORD), &co)) < 0) {
		fail(dir, r);
		goto out;
	}
	remove_dir = true;
	if ((r = cu_store_open(dir, BENCH_PASSWORD, strlen(BENCH_PASSWORD), &s)) < 0 ||
	    (r = cu_auth_open(s, 0, &b.auth)) < 0) {
		fail(dir, r);
		goto out;
	}
	if (bench_users(b.auth, o.revoked) != 0)
		goto out;
	if ((r = cu_auth_token_issue(b.auth, "admin", 0, token, sizeof(token), &b.claims)) < 0) {
		fail("issuing a token", r);
		goto out;
	}
	b.token = token;
	b.token_len = strlen(token);
	if (bench_crypto(&b, dir) != 0)
		goto out;

	/* every step, ROUNDS times in turn */
	static struct result res[S_COUNT][ROUNDS];
	unsigned long per_round = (o.calls + ROUNDS - 1) / ROUNDS;
	for (int k = 0; k < ROUNDS; k++)
		for (int i = 0; i < S_COUNT; i++)
			if (measure(&b, steps[i].fn, per_round, steps[i].label, &res[i][k]) != 0)
				goto out;
	struct summary sum[S_COUNT];
	for (int i = 0; i < S_COUNT; i++)
		sum[i] = summarise(res[i]);
	/* from every CPU at once; raw Ed25519 in threads is the control: it
	 * takes no lock, so when its CPU per call grows too, the CPUs (shared
	 * cores, a busy host), not the locks, make the threads slower;
	 * cu_ed25519_verify shows what making the key per call adds (OpenSSL 3
	 * takes locks to fetch the algorithm) */
	struct result thr = {0}, thr_cued = {0}, thr_raw = {0};
	unsigned nthreads = ncpu > THREADS_MAX ? THREADS_MAX : (unsigned)ncpu;
	if (nthreads > 1 &&
	    (measure_threads(&b, T_CHECK, nthreads, o.calls / 2, &thr) != 0 ||
	     measure_threads(&b, T_CU_ED25519, nthreads, o.calls / 2, &thr_cued) != 0 ||
	     measure_threads(&b, T_RAW, nthreads, o.calls / 2, &thr_raw) != 0))
		goto out;
	/* one request to GET /me: the token, then the site functions (medians added) */
	struct summary req = {
		.med = {.cpu_us = sum[S_VERIFY].med.cpu_us + sum[S_SITE].med.cpu_us,
		        .wall_us = sum[S_VERIFY].med.wall_us + sum[S_SITE].med.wall_us},
		.min_cpu = sum[S_VERIFY].min_cpu + sum[S_SITE].min_cpu,
		.max_cpu = sum[S_VERIFY].max_cpu + sum[S_SITE].max_cpu,
	};
	double ed = sum[S_ED].med.cpu_us;
	/* the rest of the check, per round (steps of one round ran close in
	 * time), then the median: medians of different rounds do not subtract */
	double db_rounds[ROUNDS];
	for (int k = 0; k < ROUNDS; k++)
		db_rounds[k] = res[S_VERIFY][k].cpu_us - res[S_PARSE][k].cpu_us -
		               res[S_CUED][k].cpu_us;
	qsort(db_rounds, ROUNDS, sizeof(double), cmp_double);
	double db = db_rounds[ROUNDS / 2];

	printf("custody token-check benchmark: %d rounds x %lu calls of each step, 1 thread, "
	       "%ld CPU%s (load average %.2f at start)\n", ROUNDS, per_round, ncpu,
	       ncpu == 1 ? "" : "s", load[0]);
	printf("token: %zu B (admin, valid %lld s); auth.db: 2 users, 2 roles, 1 group, %lu revoked "
	       "tokens\n", b.token_len,
	       (long long)((b.claims.expires_us - b.claims.issued_us) / 1000000), o.revoked);
	printf("per call: median round, CPU (CLOCK_PROCESS_CPUTIME_ID) and wall; calls per "
	       "CPU-second; (min..max CPU µs of the rounds)\n");
	printf("baselines (OpenSSL EVP directly):\n");
	line(steps[S_SHA].label, &sum[S_SHA]);
	line(steps[S_ED].label, &sum[S_ED]);
	printf("custody:\n");
	for (int i = S_VERIFY; i <= S_DB; i++)
		line(steps[i].label, &sum[i]);
	printf("  %-52s %8.2f µs CPU (verify - parse - cu_ed25519_verify, median of the rounds' "
	       "differences: auth.db lookups, locks)\n", "  of which the rest", db);
	for (int i = S_SITE; i < S_COUNT; i++)
		line(steps[i].label, &sum[i]);
	line("token check + site functions (one GET /me)", &req);
	if (nthreads > 1) {
		printf("from every CPU at once (%u threads; CPU per call, and calls per wall second):\n",
		       nthreads);
		printf("  %-52s %8.2f µs CPU %8.2f µs wall %9.0f /s wall  (x%.2f the CPU of 1 thread)\n",
		       "token check + site functions", thr.cpu_us, thr.wall_us, 1e6 / thr.wall_us,
		       thr.cpu_us / req.med.cpu_us);
		printf("  %-52s %8.2f µs CPU %8.2f µs wall %9.0f /s wall  (x%.2f the CPU of 1 thread)\n",
		       "cu_ed25519_verify (key made per call)", thr_cued.cpu_us, thr_cued.wall_us,
		       1e6 / thr_cued.wall_us, thr_cued.cpu_us / sum[S_CUED].med.cpu_us);
		printf("  %-52s %8.2f µs CPU %8.2f µs wall %9.0f /s wall  (x%.2f the CPU of 1 thread)\n",
		       "raw Ed25519 (the control: no locks)", thr_raw.cpu_us, thr_raw.wall_us,
		       1e6 / thr_raw.wall_us, thr_raw.cpu_us / ed);
	}
	printf("ratio token check / raw Ed25519 = %.2f (CPU); token check + site functions / raw "
	       "Ed25519 = %.2f\n", sum[S_VERIFY].med.cpu_us / ed, req.med.cpu_us / ed);
	printf("ratio cu_ed25519_verify / raw Ed25519 = %.2f (the key made per call, a new "
	       "EVP_MD_CTX)\n", sum[S_CUED].med.cpu_us / ed);
	/* other load only ever slows a round down: the fastest rounds are the
	 * least disturbed estimate, so their ratios are printed too */
	printf("the same from the fastest rounds: token check / raw Ed25519 = %.2f, token check + "
	       "site functions / raw Ed25519 = %.2f, cu_ed25519_verify / raw = %.2f\n",
	       sum[S_VERIFY].min_cpu / sum[S_ED].min_cpu, req.min_cpu / sum[S_ED].min_cpu,
	       sum[S_CUED].min_cpu / sum[S_ED].min_cpu);
	ret = 0;
out:
	cu_wipe(token, sizeof(token));
	free(b.msg);
	EVP_PKEY_free(b.pkey);
	EVP_MD_CTX_free(b.vctx);
	EVP_MD_free(b.sha);
	EVP_MD_CTX_free(b.sctx);
	cu_auth_close(b.auth);
	cu_store_close(s);
	if (o.keep && remove_dir)
		printf("kept: %s (password %s)\n", dir, BENCH_PASSWORD);
	else if (remove_dir)
		remove_tree(dir);
	return ret;
}
