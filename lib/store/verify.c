/* Verification: every segment is checked on its own (in parallel, one per
 * worker thread), then each camera's segments are linked in order and
 * compared with the catalogue. See docs/formats/media-database.md §Verify. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/time.h"
#include "store/export.h"
#include "store/store_int.h"
#include "custody/buf.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "util/pool.h"

#define PROGRESS_STEP (8u * 1024 * 1024)
#define RECORDS_MAX 100000 /* records kept per segment */

static const uint8_t zero32[CU_SHA256_LEN];

static void
scan_failf(struct cu_seg_scan *sc, int64_t ts, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
scan_failf(struct cu_seg_scan *sc, int64_t ts, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sc->reason, sizeof(sc->reason), fmt, ap);
	va_end(ap);
	sc->fail = CU_ERR_TAMPERED;
	sc->fail_ts = ts;
}

/* Counters gathered since the last valid seal; committed when a seal verifies. */
struct tentative {
	uint64_t frames, records;
	int64_t first_ts, last_ts, end_ts;
	uint32_t last_dur;
	size_t nrecs;
};

static int
hash_entry(cu_sha256_ctx *c, uint8_t chain[static CU_SHA256_LEN], const uint8_t *hbuf,
           const uint8_t *plain, size_t len)
{
	int r;
	if ((r = cu_sha256_init(c)) < 0 || (r = cu_sha256_update(c, chain, CU_SHA256_LEN)) < 0 ||
	    (r = cu_sha256_update(c, hbuf, CU_ENTRY_CANON_LEN)) < 0 ||
	    (r = cu_sha256_update(c, plain, len)) < 0)
		return r;
	return cu_sha256_final(c, chain);
}

static int scan_impl(const struct cu_seg_trust *t, const struct cu_seg_source *src,
                     struct cu_seg_scan *sc, void (*progress)(void *ctx, uint64_t bytes),
                     void *pctx, const struct cu_scan_hooks *hooks);

void
cu_seg_trust_of_store(const cu_store *s, struct cu_seg_trust *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->store_id, s->id, CU_ID_LEN);
	ret->encryption = s->encryption;
	ret->keys = s;
	memcpy(ret->key_id, s->signer.fingerprint, CU_SHA256_LEN);
	memcpy(ret->pub, s->signer.ed25519_pub, CU_ED25519_KEY_LEN);
	ret->signer_name = "this store's recording server certificate";
}

struct fd_source {
	int fd;
	const char *path;
};

static int
fd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct fd_source *f = ctx;
	return cu_pread_all(f->fd, buf, len, off, f->path);
}

static void
scan_reset(struct cu_seg_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->first_ts = sc->last_ts = sc->fail_ts = sc->last_seal_ts = sc->end_ts = -1;
}

/* A store's segment file: opened here, read through an fd source. */
static int
scan_file(const cu_store *s, const char *path, struct cu_seg_scan *sc,
          void (*progress)(void *ctx, uint64_t bytes), void *pctx,
          const struct cu_scan_hooks *hooks)
{
	struct cu_seg_trust t;
	cu_seg_trust_of_store(s, &t);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		scan_reset(sc);
		scan_failf(sc, -1, "segment file %s cannot be read: %s", path, strerror(errno));
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		scan_reset(sc);
		scan_failf(sc, -1, "segment %s is not a regular file", path);
		if (hooks != NULL && hooks->on_discard != NULL)
			hooks->on_discard(hooks->ctx);
		close(fd);
		return 0;
	}
	struct fd_source f = {fd, path};
	struct cu_seg_source source = {.read = fd_read, .ctx = &f, .size = (uint64_t)st.st_size};
	int r = scan_impl(&t, &source, sc, progress, pctx, hooks);
	close(fd);
	return r;
}

int
cu_segment_scan(const cu_store *s, const char *path, struct cu_seg_scan *sc,
                void (*progress)(void *ctx, uint64_t bytes), void *pctx)
{
	return scan_file(s, path, sc, progress, pctx, NULL);
}

int
cu_segment_scan_hooked(const cu_store *s, const char *path, struct cu_seg_scan *sc,
                       const struct cu_scan_hooks *hooks)
{
	return scan_file(s, path, sc, NULL, NULL, hooks);
}

int
cu_segment_scan_source(const struct cu_seg_trust *t, const struct cu_seg_source *src,
                       struct cu_seg_scan *sc, void (*progress)(void *ctx, uint64_t bytes),
                       void *pctx, const struct cu_scan_hooks *hooks)
{
	return scan_impl(t, src, sc, progress, pctx, hooks);
}

static int
scan_impl(const struct cu_seg_trust *t, const struct cu_seg_source *src, struct cu_seg_scan *sc,
          void (*progress)(void *ctx, uint64_t bytes), void *pctx,
          const struct cu_scan_hooks *hooks)
{
	scan_reset(sc);
	uint8_t hbuf[CU_SEG_HEADER_LEN], ebuf[CU_ENTRY_HEADER_LEN], key[CU_AES256_KEY_LEN];
	uint8_t chain[CU_SHA256_LEN], nonce[CU_GCM_NONCE_LEN];
	cu_buf body, plain;
	cu_buf_init(&body, CU_ENTRY_BODY_MAX);
	cu_buf_init_secret(&plain, CU_FRAME_MAX);
	cu_sha256_ctx *sha = NULL;
	cu_aead *aead = NULL;
	struct tentative tt = {.first_ts = -1, .last_ts = -1, .end_ts = -1};
	uint64_t reported = 0;
	bool stop = false;
	int r = 0;
	sc->file_size = src->size;
	if ((r = cu_sha256_new(&sha)) < 0)
		goto out;
	if (sc->file_size < CU_SEG_HEADER_LEN ||
	    src->read(src->ctx, hbuf, sizeof(hbuf), 0) < 0 ||
	    cu_seg_header_decode(hbuf, sizeof(hbuf), &sc->hdr) < 0) {
		scan_failf(sc, -1, "segment header unreadable: %s",
		           sc->file_size < CU_SEG_HEADER_LEN ? "file too short" : cu_error_detail());
		goto out;
	}
	struct cu_seg_header *h = &sc->hdr;
	if (memcmp(h->store_id, t->store_id, CU_ID_LEN) != 0) {
		scan_failf(sc, h->created_us, "segment belongs to another store");
		goto out;
	}
	if (h->encryption != t->encryption) {
		scan_failf(sc, h->created_us, "segment says encryption \"%s\", %s \"%s\"",
		           cu_encryption_name(h->encryption),
		           t->copy ? "an exported copy must say" : "the store",
		           cu_encryption_name(t->encryption));
		goto out;
	}
	if (t->copy && !cu_all_zero(h->key_salt, sizeof(h->key_salt))) {
		scan_failf(sc, h->created_us, "segment copy has a key salt (an exported copy has none)");
		goto out;
	}
	if (hooks != NULL && hooks->on_header != NULL && (r = hooks->on_header(hooks->ctx, hbuf)) < 0)
		goto out;
	if (h->encryption != CU_ENC_NONE) {
		if (t->keys == NULL) {
			r = cu_fail(CU_ERR_PASSWORD, "an encrypted segment needs the store's keys");
			goto out;
		}
		if ((r = cu_store_segment_key(t->keys, h, key)) < 0)
			goto out;
		r = cu_aead_new(key, &aead);
		cu_wipe(key, sizeof(key));
		if (r < 0)
			goto out;
	}
	if ((r = cu_chain_init(hbuf, chain)) < 0)
		goto out;
	memcpy(sc->chain, chain, CU_SHA256_LEN);
	uint64_t expect = h->first_entry, covered = h->first_entry;
	uint64_t off = CU_SEG_HEADER_LEN;
	sc->good_end = 0; /* nothing is good before the first seal */
	sc->last_entry = h->first_entry - 1;
	while (off < sc->file_size) {
		struct cu_entry_header e;
		char when[CU_TIME_ISO_MAX];
		if (sc->file_size - off < CU_ENTRY_HEADER_LEN) {
			scan_failf(sc, tt.last_ts, "file ends inside an entry header at byte %llu",
			           (unsigned long long)off);
			break;
		}
		if ((r = src->read(src->ctx, ebuf, sizeof(ebuf), off)) < 0)
			goto out;
		if (cu_entry_header_decode(ebuf, sizeof(ebuf), &e) < 0) {
			scan_failf(sc, tt.last_ts, "entry at byte %llu is malformed: %s",
			           (unsigned long long)off, cu_error_detail());
			break;
		}
		if (e.seq != expect) {
			cu_time_text(e.ts_us, when);
			scan_failf(sc, e.ts_us, "entry number %llu at %s where %llu was expected "
			           "(entries removed, inserted or reordered)", (unsigned long long)e.seq,
			           when, (unsigned long long)expect);
			break;
		}
		if (e.type == CU_ENTRY_FRAME &&
		    e.stored_len != cu_frame_stored_len(h->encryption, e.plain_len)) {
			cu_time_text(e.ts_us, when);
			scan_failf(sc, e.ts_us, "frame %llu at %s: stored size %u does not fit its "
			           "plaintext size %u", (unsigned long long)e.seq, when, e.stored_len,
			           e.plain_len);
			break;
		}
		if (e.stored_len > sc->file_size - off - CU_ENTRY_HEADER_LEN) {
			cu_time_text(e.ts_us, when);
			scan_failf(sc, e.ts_us, "file ends inside entry %llu at %s (cut short)",
			           (unsigned long long)e.seq, when);
			break;
		}
		const uint8_t *stored = src->view != NULL && e.stored_len > 0
		                                ? src->view(src->ctx, e.stored_len, off + CU_ENTRY_HEADER_LEN)
		                                : NULL;
		if (stored == NULL) {
			cu_buf_reset(&body);
			if ((r = cu_buf_reserve(&body, e.stored_len)) < 0 ||
			    (r = src->read(src->ctx, body.data, e.stored_len, off + CU_ENTRY_HEADER_LEN)) < 0)
				goto out;
			stored = body.data;
		}
		const uint8_t *pt = stored;
		if (e.type == CU_ENTRY_FRAME && h->encryption != CU_ENC_NONE) {
			size_t n = h->encryption == CU_ENC_LIGHT && e.plain_len > CU_LIGHT_BYTES
			                   ? CU_LIGHT_BYTES : e.plain_len;
			plain.len = 0; /* reused; wiped once when freed */
			if ((r = cu_buf_reserve(&plain, e.plain_len)) < 0)
				goto out;
			cu_store_nonce(e.seq, nonce);
			int ar = cu_aead_open(aead, nonce, sizeof(nonce), ebuf, CU_ENTRY_HEADER_LEN,
			                      stored, n, plain.data, stored + n, CU_GCM_TAG_LEN);
			if (ar == CU_ERR_AUTH) {
				cu_time_text(e.ts_us, when);
				scan_failf(sc, e.ts_us, "frame %llu at %s: encrypted bytes or header altered "
				           "(authentication tag mismatch)", (unsigned long long)e.seq, when);
				break;
			}
			if ((r = ar) < 0)
				goto out;
			memcpy(plain.data + n, stored + n + CU_GCM_TAG_LEN, e.plain_len - n);
			plain.len = e.plain_len;
			pt = plain.data;
		}
		uint8_t before[CU_SHA256_LEN];
		memcpy(before, chain, CU_SHA256_LEN);
		if ((r = hash_entry(sha, chain, ebuf, pt, e.plain_len)) < 0)
			goto out;
		if (hooks != NULL && hooks->on_entry != NULL &&
		    (r = hooks->on_entry(hooks->ctx, ebuf, &e, pt)) < 0)
			goto out;
		if (e.type == CU_ENTRY_FRAME) {
			if (hooks != NULL && hooks->on_frame != NULL &&
			    (r = hooks->on_frame(hooks->ctx, &e, pt)) < 0)
				goto out;
			tt.frames++;
			if (tt.first_ts < 0 || e.ts_us < tt.first_ts)
				tt.first_ts = e.ts_us;
			if (e.ts_us + e.dur_us > tt.end_ts)
				tt.end_ts = e.ts_us + e.dur_us;
			if (e.ts_us >= tt.last_ts) {
				tt.last_ts = e.ts_us;
				tt.last_dur = e.dur_us;
			}
		} else if (e.type == CU_ENTRY_RECORD) {
			struct cu_record rec;
			if (cu_record_decode(pt, e.plain_len, &rec) < 0) {
				cu_time_text(e.ts_us, when);
				scan_failf(sc, e.ts_us, "record %llu at %s is malformed: %s",
				           (unsigned long long)e.seq, when, cu_error_detail());
				break;
			}
			if (tt.nrecs >= RECORDS_MAX) {
				scan_failf(sc, e.ts_us, "more than %d records in one segment", RECORDS_MAX);
				break;
			}
			struct cu_scan_record *nr = realloc(sc->recs, (tt.nrecs + 1) * sizeof(*nr));
			if (nr == NULL) {
				r = cu_fail(CU_ERR_NOMEM, "out of memory");
				goto out;
			}
			sc->recs = nr;
			sc->recs[tt.nrecs].rec = rec;
			sc->recs[tt.nrecs].entry = e.seq;
			tt.nrecs++;
			tt.records++;
		} else {
			struct cu_seal seal;
			uint8_t msg[CU_SEAL_MSG_LEN];
			if (cu_seal_decode(pt, e.plain_len, &seal) < 0) {
				cu_time_text(e.ts_us, when);
				scan_failf(sc, e.ts_us, "seal %llu at %s is malformed: %s",
				           (unsigned long long)e.seq, when, cu_error_detail());
				break;
			}
			if (seal.first_covered != covered) {
				cu_time_text(e.ts_us, when);
				scan_failf(sc, e.ts_us, "seal at %s covers from entry %llu, expected %llu",
				           when, (unsigned long long)seal.first_covered,
				           (unsigned long long)covered);
				break;
			}
			if (!cu_ct_equal(seal.key_id, t->key_id, CU_SHA256_LEN)) {
				cu_time_text(e.ts_us, when);
				scan_failf(sc, e.ts_us, "seal at %s names a signing key that is not %s",
				           when, t->signer_name);
				break;
			}
			cu_seal_message(t->store_id, h->camera_id, h->seq, ebuf, pt, msg);
			if (cu_ed25519_verify(t->pub, msg, sizeof(msg), seal.sig) != 0) {
				cu_time_text(e.ts_us, when);
				scan_failf(sc, e.ts_us, "seal at %s: the signature does not verify with the "
				           "recording server's key (re-signed or altered)", when);
				break;
			}
			if (!cu_ct_equal(seal.chain, before, CU_SHA256_LEN)) {
				cu_time_text(e.ts_us, when);
				char from[CU_TIME_ISO_MAX];
				cu_time_text(tt.first_ts, from);
				scan_failf(sc, tt.first_ts >= 0 ? tt.first_ts : e.ts_us,
				           "hash chain does not match the seal at %s: an entry sealed by it "
				           "(frames from %s) was altered, added or removed", when, from);
				break;
			}
			if (sc->seals == 0)
				memcpy(sc->first_prev_seal, seal.prev_seal, CU_SHA256_LEN);
			else if (!cu_ct_equal(seal.prev_seal, sc->last_seal, CU_SHA256_LEN)) {
				cu_time_text(e.ts_us, when);
				scan_failf(sc, e.ts_us, "seal at %s does not link to the seal before it",
				           when);
				break;
			}
			/* valid: everything up to here is proven */
			if ((r = cu_sha256(pt, e.plain_len, sc->last_seal)) < 0)
				goto out;
			sc->seals++;
			sc->frames += tt.frames;
			sc->records += tt.records;
			if (tt.first_ts >= 0 && (sc->first_ts < 0 || tt.first_ts < sc->first_ts))
				sc->first_ts = tt.first_ts;
			if (tt.end_ts > sc->end_ts)
				sc->end_ts = tt.end_ts;
			if (tt.last_ts >= sc->last_ts && tt.last_ts >= 0) {
				sc->last_ts = tt.last_ts;
				sc->last_dur = tt.last_dur;
			}
			sc->nrecs = tt.nrecs;
			tt = (struct tentative){.first_ts = -1, .last_ts = -1, .end_ts = -1, .nrecs = tt.nrecs};
			sc->good_end = off + CU_ENTRY_HEADER_LEN + e.stored_len;
			memcpy(sc->chain, chain, CU_SHA256_LEN);
			sc->last_entry = e.seq;
			sc->last_seal_ts = e.ts_us;
			covered = e.seq + 1;
			if (hooks != NULL && hooks->on_seal != NULL) {
				if ((r = hooks->on_seal(hooks->ctx)) < 0)
					goto out;
				stop = r > 0; /* the hook has all it wants */
			}
		}
		off += CU_ENTRY_HEADER_LEN + e.stored_len;
		expect++;
		if (stop)
			break;
		if (progress != NULL && off - reported >= PROGRESS_STEP) {
			progress(pctx, off - reported);
			reported = off;
		}
	}
	if (sc->fail == 0 && sc->seals == 0)
		scan_failf(sc, h->created_us, "segment has no valid seal");
	r = 0;
out:
	if (hooks != NULL && hooks->on_discard != NULL)
		hooks->on_discard(hooks->ctx);
	if (progress != NULL && sc->file_size > reported)
		progress(pctx, sc->file_size - reported);
	cu_aead_free(aead);
	cu_sha256_free(sha);
	cu_buf_free(&body);
	cu_buf_free(&plain);
	if (r < 0)
		cu_seg_scan_free(sc);
	return r;
}

void
cu_seg_scan_free(struct cu_seg_scan *sc)
{
	free(sc->recs);
	sc->recs = NULL;
	sc->nrecs = 0;
}

/* ---- the parallel run ---- */

struct job {
	size_t cam;                /* index into the report's cameras */
	struct cu_seg_row row;
	char path[PATH_MAX];
	bool exists;
	struct cu_seg_scan scan;
	int err;                   /* scan could not run */
	char err_detail[512];
};

struct run {
	cu_store *s;
	struct job *jobs;
	size_t njobs;
	pthread_mutex_t lock;
	uint64_t done, total;
	const struct cu_verify_opts *opts;
};

static void
run_progress(void *ctx, uint64_t bytes)
{
	struct run *run = ctx;
	pthread_mutex_lock(&run->lock);
	run->done += bytes;
	if (run->opts->progress != NULL)
		run->opts->progress(run->opts->progress_ctx, run->done, run->total);
	pthread_mutex_unlock(&run->lock);
}

static void
worker(void *ctx, cu_pool *p)
{
	struct run *run = ctx;
	size_t i;
	while (cu_pool_next(p, &i)) {
		struct job *j = &run->jobs[i];
		if (!j->exists)
			continue;
		if (run->opts->cancel != NULL && atomic_load(run->opts->cancel)) {
			cu_pool_stop(p); /* the other workers stop too */
			break;
		}
		j->err = cu_segment_scan(run->s, j->path, &j->scan, run_progress, run);
		if (j->err < 0)
			snprintf(j->err_detail, sizeof(j->err_detail), "%s", cu_error_detail());
	}
}

static void
cam_fail(struct cu_verify_camera *c, int64_t when, uint64_t seg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
cam_fail(struct cu_verify_camera *c, int64_t when, uint64_t seg, const char *fmt, ...)
{
	if (c->tampered)
		return; /* the first failure is the one reported */
	c->tampered = true;
	c->fail_time_us = when;
	c->fail_segment = seg;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->fail_reason, sizeof(c->fail_reason), fmt, ap);
	va_end(ap);
}

static int
add_gap(struct cu_verify_camera *c, const struct cu_record *rec)
{
	struct cu_verify_gap *g = realloc(c->gaps, (c->ngaps + 1) * sizeof(*g));
	if (g == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	c->gaps = g;
	g = &c->gaps[c->ngaps++];
	g->kind = rec->kind;
	g->from_us = rec->from_us;
	g->to_us = rec->to_us;
	memcpy(g->reason, rec->reason, sizeof(g->reason));
	return 0;
}

static int64_t
row_time(const struct job *j)
{
	if (j->row.start_us >= 0)
		return j->row.start_us;
	if (j->scan.first_ts >= 0)
		return j->scan.first_ts;
	return j->scan.hdr.created_us > 0 ? j->scan.hdr.created_us : -1;
}

/* A writer creates a segment file (header, opening records, seal) and makes
 * it durable before it adds the catalogue row. A crash in between leaves the
 * next segment number on disk with no row: no frames, only those few opening
 * entries, which the next writer open removes. Anything else is planted. */
#define LEFTOVER_MAX 8192

static bool
crash_leftover(const cu_store *s, const struct cu_cam_row *cam, const char *dir,
               const char *name, struct cu_verify_camera *c)
{
	char path[PATH_MAX];
	struct stat st;
	if (cu_path(path, sizeof(path), "%s/%s", dir, name) < 0 || lstat(path, &st) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size > LEFTOVER_MAX)
		return false;
	struct cu_seg_scan sc;
	if (cu_segment_scan(s, path, &sc, NULL, NULL) < 0)
		return false;
	bool header_ok = sc.file_size < CU_SEG_HEADER_LEN ||
	                 (memcmp(sc.hdr.store_id, s->id, CU_ID_LEN) == 0 &&
	                  memcmp(sc.hdr.camera_id, cam->id, CU_ID_LEN) == 0);
	bool ok = header_ok && sc.frames == 0;
	cu_seg_scan_free(&sc);
	if (ok)
		c->unsealed_bytes += (uint64_t)st.st_size;
	return ok;
}

/* Segment files on disk that the catalogue does not list (or lists as deleted). */
static void
check_unlisted(cu_store *s, const struct cu_cam_row *cam, const struct cu_seg_row *rows, size_t n,
               struct cu_verify_camera *c)
{
	char dir[PATH_MAX];
	if (cu_store_camera_dir(s, cam->id, dir, sizeof(dir)) < 0)
		return;
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	uint64_t max = 0;
	for (size_t i = 0; i < n; i++)
		if (rows[i].seq > max)
			max = rows[i].seq;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".seg") != 0 || len != 20)
			continue;
		char digits[17];
		uint64_t seq;
		memcpy(digits, e->d_name, 16);
		digits[16] = '\0';
		bool listed = false;
		if (cu_parse_u64(digits, UINT64_MAX, "segment", &seq) == 0) {
			for (size_t i = 0; i < n && !listed; i++)
				listed = rows[i].seq == seq;
		}
		if (!listed && seq == max + 1 && crash_leftover(s, cam, dir, e->d_name, c))
			continue;
		if (!listed) {
			cam_fail(c, -1, 0, "segment file %s is not in the catalogue (planted, or its "
			         "catalogue row was removed)", e->d_name);
			break;
		}
	}
	closedir(d);
}

/* Like cam_fail, for the checks made after every segment was read (holes,
 * retention): they may concern an earlier segment than the failure found so
 * far, and the first failed segment is the one reported. */
static void
cam_fail_at(struct cu_verify_camera *c, int64_t when, uint64_t seg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
cam_fail_at(struct cu_verify_camera *c, int64_t when, uint64_t seg, const char *fmt, ...)
{
	if (c->tampered && (c->fail_segment == 0 || c->fail_segment <= seg))
		return;
	c->tampered = true;
	c->fail_time_us = when;
	c->fail_segment = seg;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->fail_reason, sizeof(c->fail_reason), fmt, ap);
	va_end(ap);
}

/* A signed RETENTION record: segments aux1 … aux2-1 are gone, aux2 is kept
 * and its previous-chain value is hash. */
struct ret_rec {
	uint64_t aux1, aux2;
	uint8_t hash[CU_SHA256_LEN];
};

struct ret_set {
	struct ret_rec *v;
	size_t n, cap;
};

static int
cmp_aux2(const void *a, const void *b)
{
	const struct ret_rec *x = a, *y = b;
	return x->aux2 < y->aux2 ? -1 : x->aux2 > y->aux2;
}

/* Appends the retention records of segment seq as scanned (those under its
 * valid seals; none if its header names another camera or segment: a
 * segment spliced in from elsewhere has seals, but not ours). */
static int
add_records(const struct cu_cam_row *cam, uint64_t seq, const struct cu_seg_scan *sc,
            struct ret_set *set)
{
	if (sc->hdr.seq != seq || memcmp(sc->hdr.camera_id, cam->id, CU_ID_LEN) != 0)
		return 0;
	for (size_t k = 0; k < sc->nrecs; k++) {
		const struct cu_record *rec = &sc->recs[k].rec;
		if (rec->kind != CU_REC_RETENTION)
			continue;
		if (set->n == set->cap) {
			size_t cap = set->cap ? set->cap * 2 : 16;
			struct ret_rec *v = realloc(set->v, cap * sizeof(*v));
			if (v == NULL)
				return cu_fail(CU_ERR_NOMEM, "out of memory");
			set->v = v;
			set->cap = cap;
		}
		struct ret_rec *x = &set->v[set->n++];
		x->aux1 = rec->aux1;
		x->aux2 = rec->aux2;
		memcpy(x->hash, rec->hash, CU_SHA256_LEN);
	}
	return 0;
}

/* The retention records of every segment of this camera that was read,
 * sorted by aux2. Records come later than the holes they name, so they are
 * gathered before any hole is judged. */
static int
collect_retention(const struct cu_cam_row *cam, const struct job *jobs, size_t nj,
                  struct ret_set *set)
{
	for (size_t i = 0; i < nj; i++) {
		int r = jobs[i].exists && jobs[i].err == 0
		                ? add_records(cam, jobs[i].row.seq, &jobs[i].scan, set) : 0;
		if (r < 0)
			return r;
	}
	if (set->n > 1)
		qsort(set->v, set->n, sizeof(*set->v), cmp_aux2);
	return 0;
}

/* Does a record name the hole before segment b, with b's previous-chain
 * value, starting at or before max_aux1? */
static bool
hole_proven(const struct ret_rec *v, size_t n, uint64_t b, const uint8_t chain[static CU_SHA256_LEN],
            uint64_t max_aux1)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].aux2 < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < n && v[i].aux2 == b; i++)
		if (v[i].aux1 <= max_aux1 && cu_ct_equal(v[i].hash, chain, CU_SHA256_LEN))
			return true;
	return false;
}

/* [lo, hi): segments some record says are gone */
struct span_u64 {
	uint64_t lo, hi;
};

static int
cmp_lo(const void *a, const void *b)
{
	const struct span_u64 *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The union of the records' ranges aux1 … aux2-1, as sorted disjoint spans. */
static int
gone_spans(const struct ret_rec *v, size_t n, struct span_u64 **ret, size_t *ret_n)
{
	struct span_u64 *u = calloc(n ? n : 1, sizeof(*u));
	if (u == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].aux1 < v[i].aux2)
			u[k++] = (struct span_u64){v[i].aux1, v[i].aux2};
	qsort(u, k, sizeof(*u), cmp_lo);
	size_t m = 0;
	for (size_t i = 0; i < k; i++) {
		if (m > 0 && u[i].lo <= u[m - 1].hi) {
			if (u[i].hi > u[m - 1].hi)
				u[m - 1].hi = u[i].hi;
		} else {
			u[m++] = u[i];
		}
	}
	*ret = u;
	*ret_n = m;
	return 0;
}

static bool
in_spans(const struct span_u64 *u, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* first span starting after seq */
		size_t mid = lo + (hi - lo) / 2;
		if (u[mid].lo <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && seq < u[lo - 1].hi;
}

/* Index of the first row with a seq above seq (n when none). */
static size_t
row_after(const struct cu_seg_row *rows, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rows[mid].seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
has_row(const struct cu_seg_row *rows, size_t n, uint64_t seq)
{
	size_t i = row_after(rows, n, seq);
	return i > 0 && rows[i - 1].seq == seq;
}

/* Are the holes before jobs[holes[0..n)] all named by a record? */
static bool
holes_proven(const struct job *jobs, const size_t *holes, size_t n, const struct ret_set *set)
{
	for (size_t h = 0; h < n; h++) {
		const struct job *j = &jobs[holes[h]];
		if (!hole_proven(set->v, set->n, j->row.seq, j->scan.hdr.prev_chain,
		                 jobs[holes[h] - 1].row.seq + 1))
			return false;
	}
	return true;
}

/* A partial verify may not have read the segment holding the record of a
 * hole in its window. Records come later than their holes, so the segments
 * after the window are read too, newest first (the last retention wrote into
 * the newest segment of its time), until every hole is named or none is
 * left. Only records under valid seals of this camera count. */
static int
records_after_window(cu_store *s, const struct cu_cam_row *cam, const struct cu_seg_row *all,
                     size_t nall, const struct job *jobs, size_t nj, const size_t *holes,
                     size_t nholes, struct ret_set *set)
{
	uint64_t last = jobs[nj - 1].row.seq;
	for (size_t k = nall; k-- > 0 && all[k].seq > last;) {
		if (holes_proven(jobs, holes, nholes, set))
			break;
		char path[PATH_MAX];
		struct cu_seg_scan sc;
		int r = cu_store_segment_path(s, cam->id, all[k].seq, path, sizeof(path));
		if (r < 0 || (r = cu_segment_scan(s, path, &sc, NULL, NULL)) < 0)
			return r;
		r = add_records(cam, all[k].seq, &sc, set);
		cu_seg_scan_free(&sc);
		if (r < 0)
			return r;
		if (set->n > 1)
			qsort(set->v, set->n, sizeof(*set->v), cmp_aux2);
	}
	return 0;
}

/* Links and catalogue checks for one camera, over its jobs in seq order. */
static int
check_camera(cu_store *s, const struct cu_cam_row *cam, const struct cu_seg_row *all, size_t nall,
             struct job *jobs, size_t nj, bool whole, struct cu_verify_camera *c)
{
	const char *last_start_name = NULL;
	char when[CU_TIME_ISO_MAX];
	size_t *holes = calloc(nj ? nj : 1, sizeof(*holes)); /* jobs that follow a hole */
	size_t nholes = 0;
	struct ret_set recs = {0};
	struct span_u64 *gone = NULL;
	size_t ngone = 0;
	int r = 0;
	if (holes == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < nj; i++) {
		struct job *j = &jobs[i];
		struct cu_seg_scan *sc = &j->scan;
		bool last = j->row.seq == all[nall - 1].seq;
		if (j->err < 0) {
			r = cu_fail(j->err, "%s", j->err_detail);
			goto out;
		}
		if (!j->exists) {
			cu_time_text(j->row.start_us, when);
			cam_fail(c, j->row.start_us, j->row.seq, "segment %llu (from %s) is missing: its "
			         "file was deleted", (unsigned long long)j->row.seq, when);
			continue;
		}
		/* the unsealed tail of a segment still being written (or left by a crash
		 * that recovery will record) is not a failure */
		bool open_tail = j->row.status == CU_SEG_OPEN && last && sc->seals > 0 &&
		                 sc->good_end >= j->row.bytes;
		if (sc->fail != 0 && !open_tail) {
			cam_fail(c, row_time(j), j->row.seq, "segment %llu: %s",
			         (unsigned long long)j->row.seq, sc->reason);
			continue;
		}
		if (open_tail)
			c->unsealed_bytes = sc->file_size - sc->good_end;
		if (memcmp(sc->hdr.camera_id, cam->id, CU_ID_LEN) != 0 || sc->hdr.seq != j->row.seq) {
			cam_fail(c, row_time(j), j->row.seq, "segment %llu: its header names another "
			         "camera or segment number (spliced in from elsewhere)",
			         (unsigned long long)j->row.seq);
			continue;
		}
		if (j->row.status == CU_SEG_OPEN && !last) {
			/* a crash just after the next segment was catalogued: acceptable
			 * only if it ends exactly at its last seal, as a closed one does */
			if (sc->fail != 0 || sc->good_end != sc->file_size ||
			    j->row.bytes != sc->good_end) {
				cam_fail(c, row_time(j), j->row.seq, "segment %llu is marked open but is "
				         "not the newest", (unsigned long long)j->row.seq);
				continue;
			}
			j->row.status = CU_SEG_CLOSED;
		}
		if (j->row.status == CU_SEG_CLOSED &&
		    (sc->file_size != j->row.bytes || sc->good_end != j->row.bytes)) {
			cam_fail(c, row_time(j), j->row.seq, "segment %llu is %llu bytes, the catalogue "
			         "recorded %llu (truncated or extended)", (unsigned long long)j->row.seq,
			         (unsigned long long)sc->file_size, (unsigned long long)j->row.bytes);
			continue;
		}
		int64_t end = sc->end_ts;
		bool rowok = j->row.first_entry == sc->hdr.first_entry;
		if (j->row.status == CU_SEG_CLOSED)
			rowok = rowok && j->row.frames == sc->frames && j->row.start_us == sc->first_ts &&
			        j->row.end_us == end && j->row.last_entry == sc->last_entry &&
			        cu_ct_equal(j->row.end_chain, sc->chain, CU_SHA256_LEN) &&
			        cu_ct_equal(j->row.last_seal, sc->last_seal, CU_SHA256_LEN);
		else
			rowok = rowok && j->row.bytes <= sc->good_end && j->row.frames <= sc->frames;
		if (!rowok) {
			cu_time_text(sc->first_ts, when);
			cam_fail(c, sc->first_ts >= 0 ? sc->first_ts : row_time(j), j->row.seq,
			         "segment %llu: the catalogue row (times, counts or chain) disagrees "
			         "with the signed content, which starts at %s",
			         (unsigned long long)j->row.seq, when);
			continue;
		}
		/* link to the segment before */
		const struct job *p = i > 0 ? &jobs[i - 1] : NULL;
		bool linked;
		if (p != NULL && p->row.seq + 1 == j->row.seq && p->exists) {
			linked = cu_ct_equal(sc->hdr.prev_chain, p->scan.chain, CU_SHA256_LEN) &&
			         sc->hdr.first_entry == p->scan.last_entry + 1 &&
			         cu_ct_equal(sc->first_prev_seal, p->scan.last_seal, CU_SHA256_LEN);
		} else if (p != NULL && p->row.seq + 1 != j->row.seq) {
			/* a hole: judged once every segment's retention records are known */
			holes[nholes++] = i;
			linked = true;
		} else if (p != NULL) {
			linked = false;
		} else if (j->row.seq == 1) {
			linked = cu_ct_equal(sc->hdr.prev_chain, zero32, CU_SHA256_LEN) &&
			         sc->hdr.first_entry == 1 &&
			         cu_ct_equal(sc->first_prev_seal, zero32, CU_SHA256_LEN);
		} else {
			/* the first segment checked: link to the catalogue row before it, or to
			 * the retention record that deleted what came before */
			const struct cu_seg_row *prow = NULL;
			for (size_t k = 0; k < nall; k++)
				if (all[k].seq + 1 == j->row.seq)
					prow = &all[k];
			linked = prow == NULL ||
			         (cu_ct_equal(sc->hdr.prev_chain, prow->end_chain, CU_SHA256_LEN) &&
			          cu_ct_equal(sc->first_prev_seal, prow->last_seal, CU_SHA256_LEN));
		}
		if (!linked) {
			cu_time_text(p ? p->row.end_us : -1, when);
			cam_fail(c, row_time(j), j->row.seq, "segment %llu does not follow on from the "
			         "segment before it (a segment was removed, replaced or reordered; last "
			         "good data ends at %s)", (unsigned long long)j->row.seq, when);
			continue;
		}
		for (size_t k = 0; k < sc->nrecs; k++) {
			const struct cu_record *rec = &sc->recs[k].rec;
			if (rec->kind == CU_REC_START)
				last_start_name = rec->reason;
			/* a retention record deleting nothing only names a kept segment */
			bool deleted = rec->kind != CU_REC_RETENTION || rec->aux1 < rec->aux2;
			if ((rec->kind == CU_REC_GAP || rec->kind == CU_REC_RESTART ||
			     rec->kind == CU_REC_RETENTION) && deleted && (r = add_gap(c, rec)) < 0)
				goto out;
		}
		c->segments++;
		c->frames += sc->frames;
		c->seals += sc->seals;
		c->records += sc->records;
		c->bytes += sc->file_size;
		if (sc->first_ts >= 0 && (c->first_us < 0 || sc->first_ts < c->first_us))
			c->first_us = sc->first_ts;
		if (end > c->last_us)
			c->last_us = end;
	}
	if ((r = collect_retention(cam, jobs, nj, &recs)) < 0)
		goto out;
	/* rule 5: a hole between two remaining segments p and j is named whole by
	 * a signed retention record */
	if (!whole && nholes > 0 &&
	    (r = records_after_window(s, cam, all, nall, jobs, nj, holes, nholes, &recs)) < 0)
		goto out;
	for (size_t h = 0; h < nholes; h++) {
		const struct job *j = &jobs[holes[h]], *p = &jobs[holes[h] - 1];
		if (!hole_proven(recs.v, recs.n, j->row.seq, j->scan.hdr.prev_chain, p->row.seq + 1)) {
			cu_time_text(p->row.end_us, when);
			cam_fail_at(c, row_time(j), j->row.seq, "segment %llu does not follow on from the "
			            "segment before it (a segment was removed, replaced or reordered; "
			            "last good data ends at %s)", (unsigned long long)j->row.seq, when);
		}
	}
	if (whole && nall > 0 && all[0].seq > 1 && nj > 0 && jobs[0].row.seq == all[0].seq &&
	    !hole_proven(recs.v, recs.n, all[0].seq, jobs[0].scan.hdr.prev_chain, UINT64_MAX)) {
		int64_t t = row_time(&jobs[0]);
		cu_time_text(t, when);
		cam_fail_at(c, t, all[0].seq, "segments before %llu are gone without a signed "
		            "retention record (recording before %s was deleted)",
		            (unsigned long long)all[0].seq, when);
	}
	/* rule 5, kept segments: a segment a retention record names as kept (its
	 * aux2) remains, or a record says it is gone. Records are sorted by aux2,
	 * so the first one missing is the earliest. */
	if (whole && (r = gone_spans(recs.v, recs.n, &gone, &ngone)) < 0)
		goto out;
	for (size_t k = 0; whole && k < recs.n; k++) {
		uint64_t seq = recs.v[k].aux2;
		if (has_row(all, nall, seq) || in_spans(gone, ngone, seq))
			continue;
		size_t at = row_after(all, nall, seq);
		if (at == nall || nj != nall) {
			cam_fail_at(c, -1, seq, "segment %llu, which a signed retention record names as "
			            "kept, is gone with its catalogue row", (unsigned long long)seq);
		} else if (at == 0) {
			int64_t t = row_time(&jobs[0]);
			cu_time_text(t, when);
			cam_fail_at(c, t, all[0].seq, "segments before %llu are gone without a signed "
			            "retention record (segment %llu, which retention kept, was removed; "
			            "recording before %s was deleted)", (unsigned long long)all[0].seq,
			            (unsigned long long)seq, when);
		} else {
			cu_time_text(jobs[at - 1].row.end_us, when);
			cam_fail_at(c, row_time(&jobs[at]), all[at].seq, "segment %llu does not follow on "
			            "from the segment before it (segment %llu, which retention kept, was "
			            "removed; last good data ends at %s)", (unsigned long long)all[at].seq,
			            (unsigned long long)seq, when);
		}
		break;
	}
	if (whole && last_start_name != NULL && strcmp(last_start_name, cam->name) != 0)
		cam_fail(c, c->first_us, 0, "the catalogue calls this camera \"%s\" but its signed "
		         "start record says \"%s\"", cam->name, last_start_name);
	if (whole)
		check_unlisted(s, cam, all, nall, c);
out:
	free(holes);
	free(recs.v);
	free(gone);
	return r;
}

int
cu_store_verify(cu_store *s, const struct cu_verify_opts *o, struct cu_verify_report **ret)
{
	struct cu_cam_row *cams = NULL;
	size_t ncams = 0;
	struct cu_seg_row **rows = NULL;
	size_t *nrows = NULL;
	struct run run = {.s = s, .opts = o};
	pthread_mutex_init(&run.lock, NULL);
	struct cu_verify_report *rep = calloc(1, sizeof(*rep));
	if (rep == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	int r = 0;
	if (s->encryption != CU_ENC_NONE && !s->have_keys) {
		r = cu_fail(CU_ERR_PASSWORD, "this store is encrypted: verify needs its password");
		goto out;
	}
	memcpy(rep->signer_subject, s->signer.subject, sizeof(rep->signer_subject));
	memcpy(rep->signer_fp, s->signer.fingerprint, CU_SHA256_LEN);
	memcpy(rep->ca_subject, s->ca.subject, sizeof(rep->ca_subject));
	memcpy(rep->ca_fp, s->ca.fingerprint, CU_SHA256_LEN);
	if (o->camera != NULL) {
		cams = calloc(1, sizeof(*cams));
		if (cams == NULL) {
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((r = cu_catalog_camera(s, o->camera, false, cams)) < 0)
			goto out;
		ncams = 1;
	} else if ((r = cu_catalog_cameras(s, &cams, &ncams)) < 0) {
		goto out;
	}
	rep->cameras = calloc(ncams ? ncams : 1, sizeof(*rep->cameras));
	rows = calloc(ncams ? ncams : 1, sizeof(*rows));
	nrows = calloc(ncams ? ncams : 1, sizeof(*nrows));
	if (rep->cameras == NULL || rows == NULL || nrows == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	rep->ncameras = ncams;
	bool ranged = o->from_us > 0 || o->to_us > 0;
	/* choose the segments: those overlapping [from, to] */
	size_t cap = 0;
	for (size_t i = 0; i < ncams; i++) {
		struct cu_verify_camera *c = &rep->cameras[i];
		memcpy(c->name, cams[i].name, sizeof(c->name));
		cu_hex(cams[i].id, CU_ID_LEN, c->id);
		c->first_us = c->last_us = c->fail_time_us = -1;
		if ((r = cu_catalog_segments(s, cams[i].row, false, &rows[i], &nrows[i])) < 0)
			goto out;
		for (size_t k = 0; k < nrows[i]; k++) {
			const struct cu_seg_row *g = &rows[i][k];
			/* a segment whose row has no times yet (just opened: the catalogue
			 * learns its times at its first seal) holds only frames newer than
			 * the segment before it */
			int64_t prev_end = k > 0 ? rows[i][k - 1].end_us : -1;
			bool in = !ranged ||
			          (g->start_us < 0 && (o->to_us == 0 || o->to_us >= prev_end)) ||
			          (g->start_us >= 0 && g->end_us >= o->from_us &&
			           (o->to_us == 0 || g->start_us <= o->to_us));
			if (!in)
				continue;
			if (run.njobs == cap) {
				cap = cap ? cap * 2 : 64;
				struct job *nj = realloc(run.jobs, cap * sizeof(*nj));
				if (nj == NULL) {
					r = cu_fail(CU_ERR_NOMEM, "out of memory");
					goto out;
				}
				run.jobs = nj;
			}
			struct job *j = &run.jobs[run.njobs++];
			memset(j, 0, sizeof(*j));
			j->cam = i;
			j->row = *g;
			if ((r = cu_store_segment_path(s, cams[i].id, g->seq, j->path, sizeof(j->path))) < 0)
				goto out;
			struct stat st;
			j->exists = lstat(j->path, &st) == 0;
			if (j->exists)
				run.total += (uint64_t)st.st_size;
		}
	}
	cu_pool_run(run.njobs, o->threads, worker, &run);
	if (o->cancel != NULL && atomic_load(o->cancel)) {
		r = cu_fail(CU_ERR_CANCELLED, "verification cancelled");
		goto out;
	}
	size_t at = 0;
	for (size_t i = 0; i < ncams; i++) {
		size_t n = 0;
		while (at + n < run.njobs && run.jobs[at + n].cam == i)
			n++;
		if ((r = check_camera(s, &cams[i], rows[i], nrows[i], run.jobs + at, n, !ranged,
		                      &rep->cameras[i])) < 0)
			goto out;
		at += n;
	}
	int64_t first = -1;
	for (size_t i = 0; i < ncams; i++) {
		struct cu_verify_camera *c = &rep->cameras[i];
		if (!c->tampered)
			continue;
		if (!rep->tampered || (c->fail_time_us >= 0 && (first < 0 || c->fail_time_us < first))) {
			rep->first_failure = i;
			first = c->fail_time_us;
		}
		rep->tampered = true;
	}
	if (o->ca_fingerprint != NULL &&
	    !cu_ct_equal(o->ca_fingerprint, s->ca.fingerprint, CU_SHA256_LEN)) {
		/* everything may verify, but under a CA nobody recorded: re-signed */
		rep->ca_mismatch = true;
		rep->tampered = true;
	}
	int cr = cu_x509_verify_chain(s->cert_pem, s->cert_len, s->ca_pem, s->ca_len, s->created_us);
	if (cr < 0 && ncams > 0 && !rep->tampered) {
		cam_fail(&rep->cameras[0], rep->cameras[0].first_us, 0,
		         "the recording server certificate does not chain to the site CA: %s",
		         cu_error_detail());
		rep->tampered = true;
		rep->first_failure = 0;
	} else if (cr < 0) {
		rep->tampered = true;
	}
	r = 0;
out:
	for (size_t i = 0; i < run.njobs; i++)
		cu_seg_scan_free(&run.jobs[i].scan);
	free(run.jobs);
	for (size_t i = 0; rows != NULL && i < ncams; i++)
		free(rows[i]);
	free(rows);
	free(nrows);
	free(cams);
	pthread_mutex_destroy(&run.lock);
	if (r < 0) {
		cu_verify_report_free(rep);
		return r;
	}
	*ret = rep;
	return 0;
}

void
cu_verify_report_free(struct cu_verify_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ncameras; i++)
		free(r->cameras[i].gaps);
	free(r->cameras);
	free(r);
}
