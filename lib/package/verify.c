/* Verifying an evidence package (docs/formats/evidence-package.md,
 * "Verification"): the header, the password, manifest.json and its export
 * signature, the certificates, then every segment copy on its own — read
 * straight out of the package (each worker decrypts the chunks it needs), its
 * chain and recording seals checked in one pass, in parallel, and its final
 * chain value compared with the manifest's (no second hash of the file) — and
 * finally each camera's links and the audit head. Nothing is written to disk.
 * The package is hostile input: every size comes from the signed manifest
 * and is checked against the header's stream length before it is used. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/time.h"
#include "custody/x509.h"
#include "package/package_int.h"
#include "store/export.h"
#include "custody/buf.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"
#include "util/pool.h"

#define BATCH_MAX (96u * 1024 * 1024)        /* frames under one seal (as read.c) */

static const uint8_t zero32[CU_SHA256_LEN];

/* One segment copy to check. */
struct task {
	size_t cam;                              /* index into the manifest's cameras */
	const struct cu_pkg_seg *ms;             /* what the manifest says of it */
	uint64_t off;                            /* stream offset of its tar header */
	bool present;                            /* it fits inside the stream */
	bool ran;
	int err;                                 /* the check could not run */
	char *err_detail;                        /* malloc'd, with err */
	bool damaged;
	uint64_t damaged_off;
	bool header_ok, pad_ok;
	struct cu_seg_scan scan;                 /* its records are freed after run_task */
	/* what the records say, kept (bounded by CU_PKG_GAPS_MAX per package):
	 * gaps for the report, retention records for holes */
	struct cu_pkg_records recs;
	char *bad_start;                         /* a start record naming another camera */
	bool too_many;                           /* more records than a package can list */
};


struct verifier {
	int fd;
	struct cu_pkg_header h;
	uint8_t key[CU_AES256_KEY_LEN];
	const uint8_t *keyp;                     /* key, or NULL when not encrypted */
	const struct cu_pkg_verify_opts *o;
	struct cu_pkg_report *rep;
	struct cu_pkg_manifest m;
	struct cu_seg_trust trust;
	int64_t mtime;
	struct task *tasks;
	size_t ntasks;
	pthread_mutex_t lock;
	uint64_t done, total;
	bool damaged;
	uint64_t damaged_off;
	atomic_size_t kept;                      /* records kept by every task */
	const char *frame_camera;                /* on_frame: the camera being read */
	int frame_err;                           /* on_frame's error, which stops everything */
	cu_buf batch;                            /* on_frame: frames since the last seal */
};

static void tamper(struct verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The one way the package verifier reports "tampered": a failure of the
 * signed layers; the first one is the reason. */
static void
tamper(struct verifier *v, const char *fmt, ...)
{
	if (v->rep->status == CU_PKG_INTACT)
		v->rep->status = CU_PKG_TAMPERED;
	if (v->rep->reason[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	/* a report line: cut at its buffer, deliberately */
	cu_vfmt_cut(v->rep->reason, sizeof(v->rep->reason), fmt, ap);
	va_end(ap);
}

static void
note_damage(struct verifier *v, uint64_t off)
{
	pthread_mutex_lock(&v->lock);
	if (!v->damaged || off < v->damaged_off) {
		v->damaged = true;
		v->damaged_off = off;
	}
	pthread_mutex_unlock(&v->lock);
}

static void
progress_add(void *ctx, uint64_t n)
{
	struct verifier *v = ctx;
	if (v->o->progress == NULL)
		return;
	pthread_mutex_lock(&v->lock);
	v->done = v->done + n > v->total ? v->total : v->done + n;
	v->o->progress(v->o->progress_ctx, v->done, v->total);
	pthread_mutex_unlock(&v->lock);
}

/* Reads stream bytes on the calling thread; damage is noted. */
static int
seq_read(struct verifier *v, cu_pkg_in *in, void *buf, size_t len, uint64_t off)
{
	int r = cu_pkg_in_read(in, buf, len, off);
	uint64_t at;
	if (r == CU_ERR_AUTH && cu_pkg_in_damaged(in, &at))
		note_damage(v, at);
	else if (r == 0)
		progress_add(v, len);
	return r;
}

/* An in-memory entry at *off: its header (name and size as expected, or
 * parsed when want_name is NULL), its content (malloc'd into *ret, at most
 * max bytes) and its zero padding. >0: not what was expected (tampered, the
 * reason given); 0: read; <0: could not read (damage noted). */
static int
read_entry(struct verifier *v, cu_pkg_in *in, uint64_t *off, const char *want_name,
           uint64_t want_size, uint64_t max, uint8_t **ret, uint64_t *ret_len)
{
	uint8_t hb[CU_TAR_BLOCK], pad[CU_TAR_BLOCK];
	char name[CU_TAR_NAME_MAX + 1];
	uint64_t size;
	int64_t mtime;
	*ret = NULL;
	if (*off > v->h.plain_len || v->h.plain_len - *off < 3 * CU_TAR_BLOCK) {
		tamper(v, "the package stream ends before %s", want_name ? want_name : "manifest.json");
		return 1;
	}
	int r = seq_read(v, in, hb, sizeof(hb), *off);
	if (r < 0)
		return r;
	if (cu_tar_parse(hb, name, &size, &mtime) < 0) {
		tamper(v, "%s", cu_error_detail());
		return 1;
	}
	if (want_name == NULL && (strcmp(name, "manifest.json") != 0 || size == 0 || size > max)) {
		tamper(v, "the package does not start with manifest.json (of at most %llu bytes)",
		       (unsigned long long)max);
		return 1;
	}
	if (want_name != NULL && (strcmp(name, want_name) != 0 || size != want_size ||
	                          mtime != v->mtime)) {
		tamper(v, "the tar entry at byte %llu is %s of %llu bytes where the manifest lists "
		       "%s of %llu bytes", (unsigned long long)*off, name, (unsigned long long)size,
		       want_name, (unsigned long long)want_size);
		return 1;
	}
	if (want_name == NULL)
		v->mtime = mtime;
	uint64_t padded = cu_tar_padded(size);
	if (v->h.plain_len - *off - CU_TAR_BLOCK < padded + 2 * CU_TAR_BLOCK) {
		tamper(v, "the package stream ends inside %s", name);
		return 1;
	}
	uint8_t *data = malloc(size ? size : 1);
	if (data == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	if ((r = seq_read(v, in, data, size, *off + CU_TAR_BLOCK)) < 0 ||
	    (padded > size && (r = seq_read(v, in, pad, padded - size, *off + CU_TAR_BLOCK + size)) < 0)) {
		free(data);
		return r;
	}
	if (padded > size && !cu_all_zero(pad, padded - size))
		tamper(v, "the padding after %s is not zero", name);
	*off += CU_TAR_BLOCK + padded;
	*ret = data;
	*ret_len = size;
	return 0;
}

/* ---- one segment copy ---- */

struct entry_src {
	cu_pkg_in *in;
	uint64_t base, size;                     /* the content in the stream */
};

static int
entry_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct entry_src *e = ctx;
	if (off > e->size || len > e->size - off)
		return cu_fail(CU_ERR_FORMAT, "read past the end of the segment copy");
	return cu_pkg_in_read(e->in, buf, len, e->base + off);
}

static const uint8_t *
entry_view(void *ctx, size_t len, uint64_t off)
{
	struct entry_src *e = ctx;
	if (off > e->size || len > e->size - off)
		return NULL;
	return cu_pkg_in_view(e->in, len, e->base + off);
}

/* Frames for on_frame wait for their seal (sequential mode only). */
struct kept {
	int64_t ts_us;
	uint32_t dur_us, len;
	uint8_t codec, track, key;
};

static int
hook_frame(void *ctx, const struct cu_entry_header *h, const uint8_t *plain)
{
	struct verifier *v = ctx;
	struct kept k = {.ts_us = h->ts_us, .dur_us = h->dur_us, .len = h->plain_len,
	                 .codec = h->codec, .track = h->track, .key = h->flags & CU_ENTRY_FLAG_KEY};
	int r = cu_buf_append(&v->batch, &k, sizeof(k));
	if (r == 0)
		r = cu_buf_append(&v->batch, plain, h->plain_len);
	return r == CU_ERR_LIMIT ? cu_fail(CU_ERR_TAMPERED, "more than %u bytes under one seal",
	                                   BATCH_MAX) : r;
}

static int
hook_seal(void *ctx)
{
	struct verifier *v = ctx;
	int r = 0;
	for (size_t off = 0; r == 0 && off < v->batch.len;) {
		struct kept k;
		memcpy(&k, v->batch.data + off, sizeof(k));
		cu_frame f = {.ts_us = k.ts_us, .dur_us = k.dur_us, .codec = k.codec,
		              .track = k.track, .key = k.key, .data = v->batch.data + off + sizeof(k),
		              .len = k.len};
		r = v->o->on_frame(v->o->frame_ctx, v->frame_camera, &f);
		off += sizeof(k) + k.len;
	}
	if (r < 0)
		v->frame_err = r;
	cu_buf_reset(&v->batch);
	return r;
}

static void
hook_discard(void *ctx)
{
	struct verifier *v = ctx;
	cu_buf_reset(&v->batch);
}

/* Keeps what the camera checks need of a copy's records: the gaps for the
 * report, the retention records for holes, a start record naming another
 * camera. A hostile package could hold millions of records; a real one no
 * more than its manifest can list. */
static int
keep_records(struct verifier *v, struct task *t)
{
	const struct cu_pkg_cam *mc = &v->m.cams[t->cam];
	const struct cu_seg_scan *sc = &t->scan;
	for (size_t k = 0; k < sc->nrecs && !t->too_many; k++) {
		const struct cu_record *rec = &sc->recs[k].rec;
		if (rec->kind == CU_REC_START && t->bad_start == NULL &&
		    strcmp(rec->reason, mc->name) != 0 && (t->bad_start = strdup(rec->reason)) == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		if (!cu_pkg_record_wanted(rec, mc->from_us, mc->to_us))
			continue;
		if (atomic_fetch_add(&v->kept, 1) >= CU_PKG_GAPS_MAX) {
			t->too_many = true;
			break;
		}
		int r = cu_pkg_records_keep(&t->recs, rec, mc->from_us, mc->to_us);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
run_task(struct verifier *v, cu_pkg_in *in, struct task *t, const struct cu_scan_hooks *hooks)
{
	uint8_t hb[CU_TAR_BLOCK], want[CU_TAR_BLOCK], pad[CU_TAR_BLOCK];
	struct entry_src es = {.in = in, .base = t->off + CU_TAR_BLOCK, .size = t->ms->bytes};
	struct cu_seg_source src = {.read = entry_read, .ctx = &es, .size = t->ms->bytes,
	                            .view = entry_view};
	int r;
	t->ran = true;
	cu_pkg_in_clear(in);
	if ((r = cu_pkg_in_read(in, hb, sizeof(hb), t->off)) < 0)
		goto out;
	t->header_ok = cu_tar_header(t->ms->file, t->ms->bytes, v->mtime, want) == 0 &&
	               memcmp(hb, want, sizeof(hb)) == 0;
	/* The one pass over the copy: the scan forces every byte the chain does
	 * not cover (mode none, zero salt, stored = plaintext length, reserved
	 * zero; the trust says copy) and computes the chain that the camera
	 * check compares with the manifest's. A copy that fails part way is
	 * tampered whatever follows, so the rest is not read. */
	r = cu_segment_scan_source(&v->trust, &src, &t->scan, progress_add, v, hooks);
	if (r < 0)
		goto out;
	uint64_t padlen = cu_tar_padded(t->ms->bytes) - t->ms->bytes;
	if ((r = cu_pkg_in_read(in, pad, (size_t)padlen, es.base + es.size)) < 0)
		goto out;
	t->pad_ok = cu_all_zero(pad, (size_t)padlen);
	progress_add(v, CU_TAR_BLOCK + padlen);
out:
	if (cu_pkg_in_damaged(in, &t->damaged_off)) {
		t->damaged = true;
		note_damage(v, t->damaged_off);
		r = 0;
	} else if (r < 0 && v->frame_err < 0) {
		r = v->frame_err; /* on_frame stopped us */
	} else if (r == CU_ERR_TAMPERED) {
		/* a hook refused what no writer makes (too much under one seal) */
		cu_seg_scan_fail(&t->scan, t->scan.fail_ts, "%s", cu_error_detail());
		r = 0;
	} else if (r < 0) {
		t->err = r;
		t->err_detail = strdup(cu_error_detail());
	}
	if (r == 0 && (r = keep_records(v, t)) < 0) {
		t->err = r;
		t->err_detail = strdup(cu_error_detail());
	}
	free(t->scan.recs); /* what matters of them is kept above */
	t->scan.recs = NULL;
	t->scan.nrecs = 0;
	return r;
}

/* One pool thread: its own reader of the package for all its tasks. */
static void
worker(void *ctx, cu_pool *p)
{
	struct verifier *v = ctx;
	cu_pkg_in *in = NULL;
	int r = cu_pkg_in_new(v->fd, &v->h, v->keyp, &in);
	size_t i;
	while (cu_pool_next(p, &i)) {
		struct task *t = &v->tasks[i];
		if (!t->present)
			continue;
		if (r < 0) {
			t->ran = true;
			t->err = r;
			t->err_detail = strdup(cu_error_detail());
			continue;
		}
		run_task(v, in, t, NULL);
	}
	cu_pkg_in_free(in);
}

static int
run_tasks(struct verifier *v)
{
	if (v->o->on_frame != NULL) {
		/* the player: in order, on this thread, frames as their seals verify */
		struct cu_scan_hooks hooks = {.on_frame = hook_frame, .on_seal = hook_seal,
		                              .on_discard = hook_discard, .ctx = v};
		cu_pkg_in *in;
		int r = cu_pkg_in_new(v->fd, &v->h, v->keyp, &in);
		if (r < 0)
			return r;
		for (size_t i = 0; i < v->ntasks && r == 0; i++) {
			if (!v->tasks[i].present)
				continue;
			v->frame_camera = v->m.cams[v->tasks[i].cam].name;
			r = run_task(v, in, &v->tasks[i], &hooks);
			if (r < 0 && v->frame_err == 0)
				r = cu_fail(r, "%s: %s", v->tasks[i].ms->file,
				            v->tasks[i].err_detail ? v->tasks[i].err_detail : "");
		}
		cu_pkg_in_free(in);
		return r;
	}
	cu_pool_run(v->ntasks, v->o->threads, worker, v);
	for (size_t i = 0; i < v->ntasks; i++)
		if (v->tasks[i].err < 0)
			return cu_fail(v->tasks[i].err, "%s: %s", v->tasks[i].ms->file,
			               v->tasks[i].err_detail ? v->tasks[i].err_detail : "");
	return 0;
}

/* ---- per camera ---- */

static void cam_fail(struct cu_pkg_camera_report *c, int64_t when, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
cam_fail(struct cu_pkg_camera_report *c, int64_t when, const char *fmt, ...)
{
	if (c->tampered)
		return; /* the first failed segment is the one reported */
	va_list ap;
	va_start(ap, fmt);
	cu_verify_failv(&c->tampered, &c->fail_time_us, c->fail_reason, sizeof(c->fail_reason),
	                when, fmt, ap);
	va_end(ap);
}

/* Is the hole before segment j (after p) named by a signed retention record
 * among the camera's copies that verified? As the store's verify, rule 5. */
static bool
hole_named(const struct task *tasks, size_t n, const struct task *p, const struct task *j)
{
	for (size_t i = 0; i < n; i++)
		if (tasks[i].ran && tasks[i].scan.fail == 0 &&
		    cu_pkg_hole_named(&tasks[i].recs, p->ms->seq, j->ms->seq, j->scan.hdr.prev_chain))
			return true;
	return false;
}

/* The state of one camera's check. */
struct camcheck {
	struct verifier *v;
	const struct cu_pkg_cam *mc;             /* what the manifest says of it */
	struct cu_pkg_camera_report *c;          /* OUT: its report */
	struct task *tasks;                      /* its segment copies, in order */
	size_t n;
	int64_t *min_created, *max_seal;         /* over every camera: the recorder's times */
	char when[CU_TIME_ISO_MAX];
};

/* Segment phase: the copy was read whole, its scan passed, and it is the one
 * the manifest lists, of this camera, in the range. False when it failed
 * (reported). */
static bool
segment_sound(struct camcheck *k, const struct task *t)
{
	struct cu_pkg_camera_report *c = k->c;
	const struct cu_seg_scan *sc = &t->scan;
	unsigned long long seq = (unsigned long long)t->ms->seq;
	int64_t at = t->ms->from_us;
	if (!t->present || !t->ran) {
		cam_fail(c, at, "segment %llu is missing from the package", seq);
		return false;
	}
	if (t->damaged) {
		cam_fail(c, at, "segment %llu: the package is damaged at byte %llu", seq,
		         (unsigned long long)t->damaged_off);
		return false;
	}
	if (sc->fail != 0) {
		cam_fail(c, at, "segment %llu: %s", seq, sc->reason);
		return false;
	}
	if (sc->good_end != sc->file_size) {
		cam_fail(c, at, "segment %llu: %llu bytes after its last seal are not sealed "
		         "(added)", seq, (unsigned long long)(sc->file_size - sc->good_end));
		return false;
	}
	/* the chain after the last seal covers every byte the scan did not
	 * force; with it, the last seal and the first entry number equal to
	 * the signed manifest's, the copy is the one the export signed */
	if (sc->hdr.first_entry != t->ms->first_entry ||
	    !cu_ct_equal(sc->chain, t->ms->chain, CU_SHA256_LEN) ||
	    !cu_ct_equal(sc->last_seal, t->ms->last_seal, CU_SHA256_LEN)) {
		tamper(k->v, "%s differs from the copy the manifest lists (its chain value, last "
		       "seal or first entry)", t->ms->file);
		cam_fail(c, at, "segment %llu: the file differs from the one the export signed "
		         "(chain value, last seal or first entry)", seq);
		return false;
	}
	if (memcmp(sc->hdr.camera_id, k->mc->id, 16) != 0 || sc->hdr.seq != t->ms->seq) {
		cam_fail(c, at, "segment %llu: its header names another camera or segment number "
		         "(spliced in from elsewhere)", seq);
		return false;
	}
	if (sc->frames != t->ms->frames || sc->first_ts != t->ms->from_us ||
	    sc->end_ts != t->ms->to_us) {
		cu_time_text(sc->first_ts, k->when);
		cam_fail(c, at, "segment %llu: the manifest's times or frame count disagree with "
		         "the signed content, which starts at %s", seq, k->when);
		return false;
	}
	if (sc->first_ts > k->mc->to_us || sc->end_ts < k->mc->from_us) {
		cam_fail(c, at, "segment %llu lies outside the exported range", seq);
		return false;
	}
	return true;
}

/* Link phase: copy i follows on from before (the last sound copy before it,
 * NULL when the one before failed), or a signed record names the hole. False
 * when it does not (reported). */
static bool
segment_linked(struct camcheck *k, size_t i, const struct task *before)
{
	const struct task *t = &k->tasks[i];
	const struct cu_seg_scan *sc = &t->scan;
	bool linked;
	if (i == 0) {
		linked = sc->hdr.seq != 1 ||
		         (cu_ct_equal(sc->hdr.prev_chain, zero32, CU_SHA256_LEN) &&
		          sc->hdr.first_entry == 1 &&
		          cu_ct_equal(sc->first_prev_seal, zero32, CU_SHA256_LEN));
	} else if (before == NULL) {
		linked = false; /* the segment before failed: this one cannot be linked */
	} else if (before->ms->seq + 1 == t->ms->seq) {
		linked = cu_ct_equal(sc->hdr.prev_chain, before->scan.chain, CU_SHA256_LEN) &&
		         sc->hdr.first_entry == before->scan.last_entry + 1 &&
		         cu_ct_equal(sc->first_prev_seal, before->scan.last_seal, CU_SHA256_LEN);
	} else {
		linked = hole_named(k->tasks, k->n, before, t);
	}
	if (!linked) {
		cu_time_text(i > 0 ? k->tasks[i - 1].ms->to_us : -1, k->when);
		cam_fail(k->c, t->ms->from_us, "segment %llu does not follow on from the segment "
		         "before it (a segment was removed, replaced or reordered; last good data "
		         "ends at %s)", (unsigned long long)t->ms->seq, k->when);
	}
	return linked;
}

/* Record phase: the copy's records (bounded, naming this camera) and counts
 * join the report. 1 when it failed (reported), 0 counted, <0 no memory. */
static int
segment_count(struct camcheck *k, const struct task *t)
{
	struct cu_pkg_camera_report *c = k->c;
	const struct cu_seg_scan *sc = &t->scan;
	unsigned long long seq = (unsigned long long)t->ms->seq;
	if (t->too_many) {
		cam_fail(c, t->ms->from_us, "segment %llu: more signed gap and retention records "
		         "than a package can list", seq);
		return 1;
	}
	if (t->bad_start != NULL)
		cam_fail(c, t->ms->from_us, "segment %llu: the manifest calls this camera \"%s\" but "
		         "its signed start record says \"%s\"", seq, k->mc->name, t->bad_start);
	if (t->recs.ngaps > 0) {
		struct cu_verify_gap *g = realloc(c->gaps, (c->ngaps + t->recs.ngaps) * sizeof(*g));
		if (g == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		c->gaps = g;
		memcpy(c->gaps + c->ngaps, t->recs.gaps, t->recs.ngaps * sizeof(*g));
		c->ngaps += t->recs.ngaps;
	}
	c->segments++;
	c->frames += sc->frames;
	c->seals += sc->seals;
	if (*k->min_created < 0 || sc->hdr.created_us < *k->min_created)
		*k->min_created = sc->hdr.created_us;
	if (sc->last_seal_ts > *k->max_seal)
		*k->max_seal = sc->last_seal_ts;
	return 0;
}

/* Camera phase: the manifest's frame count and gaps are the segments'. */
static void
camera_agrees(struct camcheck *k)
{
	const struct cu_pkg_camera_report *c = k->c;
	const struct cu_pkg_cam *mc = k->mc;
	if (!c->tampered && c->frames != mc->frames)
		tamper(k->v, "the manifest says camera %s has %llu frames; its segments hold %llu",
		       mc->name, (unsigned long long)mc->frames, (unsigned long long)c->frames);
	bool same = c->ngaps == mc->ngaps;
	for (size_t i = 0; same && i < c->ngaps; i++) {
		const struct cu_verify_gap *a = &c->gaps[i], *b = &mc->gaps[i];
		same = a->kind == b->kind && a->from_us == b->from_us && a->to_us == b->to_us &&
		       strcmp(a->reason, b->reason) == 0;
	}
	if (!c->tampered && !same)
		tamper(k->v, "the manifest's gaps of camera %s differ from the signed records in its "
		       "segments", mc->name);
}

static int
check_camera(struct verifier *v, size_t ci, struct task *tasks, size_t n,
             int64_t *min_created, int64_t *max_seal)
{
	struct camcheck k = {.v = v, .mc = &v->m.cams[ci], .c = &v->rep->cameras[ci],
	                     .tasks = tasks, .n = n, .min_created = min_created,
	                     .max_seal = max_seal};
	struct cu_pkg_camera_report *c = k.c;
	const struct task *p = NULL;             /* the last copy that passed */
	memcpy(c->name, k.mc->name, sizeof(c->name));
	cu_hex(k.mc->id, 16, c->id);
	c->from_us = k.mc->from_us;
	c->to_us = k.mc->to_us;
	c->fail_time_us = -1;
	c->checked = true;
	for (size_t i = 0; i < n; i++) {
		const struct task *before = p;
		p = NULL;
		if (!segment_sound(&k, &tasks[i]) || !segment_linked(&k, i, before))
			continue;
		int r = segment_count(&k, &tasks[i]);
		if (r < 0)
			return r;
		if (r == 0)
			p = &tasks[i];
	}
	camera_agrees(&k);
	return 0;
}

/* ---- the whole package ---- */

static int
fill_from_manifest(struct verifier *v)
{
	struct cu_pkg_report *rep = v->rep;
	const struct cu_pkg_manifest *m = &v->m;
	memcpy(rep->case_ref, m->case_ref, sizeof(rep->case_ref));
	if ((rep->comments = strdup(m->comments)) == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	memcpy(rep->exporter, m->exporter, sizeof(rep->exporter));
	memcpy(rep->profile, m->profile, sizeof(rep->profile));
	rep->exported_us = m->exported_us;
	rep->audit_index = m->has_audit ? m->audit_index : -1;
	rep->audit_head_size = m->audit_size;
	rep->audit_head_time_us = m->has_audit ? m->audit_time_us : -1;
	rep->cameras = calloc(m->ncams, sizeof(*rep->cameras));
	if (rep->cameras == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	rep->ncameras = m->ncams;
	for (size_t i = 0; i < m->ncams; i++) {
		struct cu_pkg_camera_report *c = &rep->cameras[i];
		memcpy(c->name, m->cams[i].name, sizeof(c->name));
		cu_hex(m->cams[i].id, 16, c->id);
		c->from_us = m->cams[i].from_us;
		c->to_us = m->cams[i].to_us;
		c->fail_time_us = -1;
	}
	return 0;
}

/* The three certificates after manifest.sig: hashed against the manifest,
 * parsed. */
static int
read_certs(struct verifier *v, cu_pkg_in *in, uint64_t *off, char *pems[static CU_PKG_FILES],
           size_t lens[static CU_PKG_FILES], struct cu_x509_info infos[static CU_PKG_FILES],
           bool *ret_ok)
{
	*ret_ok = false;
	for (size_t i = 0; i < CU_PKG_FILES; i++) {
		const struct cu_pkg_file *f = &v->m.files[i];
		uint8_t *data;
		uint64_t len;
		uint8_t sha[CU_SHA256_LEN];
		int r = read_entry(v, in, off, f->name, f->bytes, CU_X509_PEM_MAX, &data, &len);
		if (r != 0)
			return r < 0 ? r : 0;
		pems[i] = (char *)data;
		lens[i] = (size_t)len;
		if ((r = cu_sha256(data, len, sha)) < 0)
			return r;
		if (!cu_ct_equal(sha, f->sha256, CU_SHA256_LEN))
			tamper(v, "%s differs from the file the manifest lists (SHA-256)", f->name);
		if (cu_x509_info(pems[i], lens[i], &infos[i]) < 0) {
			tamper(v, "%s is not an Ed25519 certificate: %s", f->name, cu_error_detail());
			return 0;
		}
	}
	*ret_ok = true;
	return 0;
}

static bool
cert_is(const struct cu_x509_info *x, const struct cu_pkg_cert_ref *ref)
{
	return cu_ct_equal(x->fingerprint, ref->sha256, CU_SHA256_LEN) &&
	       strcmp(x->subject, ref->subject) == 0;
}

/* What the stream phases read and keep until the end of the check. */
struct stream {
	uint64_t off;                            /* stream offset of the next tar entry */
	uint8_t *mtext, *sig;                    /* manifest.json, manifest.sig */
	uint64_t mlen, slen;
	char *pems[CU_PKG_FILES];                /* site CA, recorder, exporter */
	size_t lens[CU_PKG_FILES];
	struct cu_x509_info infos[CU_PKG_FILES];
	int64_t min_created, max_seal;           /* the recorder's signing times */
};

/* Stream phases return 0 to go on, DECIDED when the report holds the verdict
 * and nothing after can be checked, or a negative cu_err when the check
 * could not run. */
#define DECIDED 1

/* Manifest phase: manifest.json and manifest.sig, the manifest decoded and
 * copied to the report. */
static int
stream_manifest(struct verifier *v, cu_pkg_in *in, struct stream *st)
{
	int r = read_entry(v, in, &st->off, NULL, 0, CU_PKG_MANIFEST_MAX, &st->mtext, &st->mlen);
	if (r != 0)
		return r;
	if ((r = read_entry(v, in, &st->off, "manifest.sig", CU_ED25519_SIG_LEN,
	                    CU_ED25519_SIG_LEN, &st->sig, &st->slen)) != 0)
		return r;
	if (cu_pkg_manifest_decode(st->mtext, st->mlen, &v->m) < 0) {
		tamper(v, "%s", cu_error_detail());
		return DECIDED;
	}
	if ((r = fill_from_manifest(v)) < 0)
		return r;
	if (v->m.exported_us < 0 || v->m.exported_us / 1000000 != v->mtime)
		tamper(v, "the tar headers' time is not the manifest's export time");
	bool certs_ok;
	if ((r = read_certs(v, in, &st->off, st->pems, st->lens, st->infos, &certs_ok)) != 0)
		return r;
	return certs_ok ? 0 : DECIDED;
}

/* Signature phase: the export signature, the certificates the manifest
 * names and their chain, the pinned CA, the header's flags. */
static int
stream_signature(struct verifier *v, struct stream *st)
{
	struct cu_pkg_report *rep = v->rep;
	const struct cu_x509_info *ca = &st->infos[0], *recorder = &st->infos[1],
	                          *exporter = &st->infos[2];
	uint8_t *msg;
	size_t msg_len;
	memcpy(rep->export_signer, exporter->subject, sizeof(rep->export_signer));
	memcpy(rep->export_signer_fp, exporter->fingerprint, CU_SHA256_LEN);
	memcpy(rep->recorder, recorder->subject, sizeof(rep->recorder));
	memcpy(rep->recorder_fp, recorder->fingerprint, CU_SHA256_LEN);
	memcpy(rep->site_ca, ca->subject, sizeof(rep->site_ca));
	memcpy(rep->site_ca_fp, ca->fingerprint, CU_SHA256_LEN);
	int r = cu_export_message(st->mtext, st->mlen, &msg, &msg_len);
	if (r < 0)
		return r;
	rep->export_signature_ok = cu_ed25519_verify(exporter->ed25519_pub, msg, msg_len,
	                                             st->sig) == 0;
	free(msg);
	if (!rep->export_signature_ok)
		tamper(v, "the export signature does not verify: manifest.json was altered or signed "
		       "by another key than certs/exporter.pem's");
	if (!cert_is(exporter, &v->m.server) || !cert_is(recorder, &v->m.recorder) ||
	    !cert_is(ca, &v->m.site_ca))
		tamper(v, "the certificates in the package are not the ones the manifest names");
	/* the certificates chain to the site CA at the time of signing */
	rep->chain_ok = cu_x509_verify_chain(st->pems[2], st->lens[2], st->pems[0], st->lens[0],
	                                     v->m.exported_us) == 0;
	if (!rep->chain_ok)
		tamper(v, "the exporting server's certificate does not chain to the site CA: %s",
		       cu_error_detail());
	if (v->o->ca_fingerprint != NULL &&
	    !cu_ct_equal(v->o->ca_fingerprint, ca->fingerprint, CU_SHA256_LEN)) {
		rep->ca_mismatch = true;
		tamper(v, "signed under another site CA than the one pinned");
	}
	bool enc = v->h.flags & CU_PKG_FLAG_ENCRYPTED, nore = v->h.flags & CU_PKG_FLAG_NO_REEXPORT;
	if (enc != v->m.encrypted || nore != v->m.prevent_reexport)
		tamper(v, "the package header's flags (encrypted %s, prevent re-export %s) differ from "
		       "the signed profile", enc ? "yes" : "no", nore ? "yes" : "no");
	if (!v->m.is_signed)
		tamper(v, "the manifest's profile says it is not signed");
	return 0;
}

/* Layout phase: the segment copies where the manifest puts them, the stream
 * exactly that long, its two end blocks zero. */
static int
stream_layout(struct verifier *v, cu_pkg_in *in, struct stream *st)
{
	size_t nt = 0;
	for (size_t i = 0; i < v->m.ncams; i++)
		nt += v->m.cams[i].nsegs;
	if ((v->tasks = calloc(nt ? nt : 1, sizeof(*v->tasks))) == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	uint64_t end = v->h.plain_len - 2 * CU_TAR_BLOCK, off = st->off;
	for (size_t i = 0; i < v->m.ncams; i++) {
		for (size_t k = 0; k < v->m.cams[i].nsegs; k++) {
			struct task *t = &v->tasks[v->ntasks++];
			t->cam = i;
			t->ms = &v->m.cams[i].segs[k];
			t->off = off;
			uint64_t span = CU_TAR_BLOCK + cu_tar_padded(t->ms->bytes);
			t->present = off <= end && span <= end - off;
			t->scan.fail_ts = -1;
			off = t->present ? off + span : end + 1;
		}
	}
	st->off = off;
	if (off != end) {
		tamper(v, "the package stream holds %llu bytes where the manifest accounts for %llu "
		       "(files added or removed)", (unsigned long long)v->h.plain_len,
		       (unsigned long long)(off + 2 * CU_TAR_BLOCK));
		return 0;
	}
	uint8_t tail[2 * CU_TAR_BLOCK];
	int r = seq_read(v, in, tail, sizeof(tail), end);
	if (r < 0 && r != CU_ERR_AUTH) /* damage is noted and reported; the rest is checked */
		return r;
	if (r == 0 && !cu_all_zero(tail, sizeof(tail)))
		tamper(v, "the two blocks that end the tar stream are not zero");
	return 0;
}

/* Segment phase: every copy checked against the package's recorder
 * certificate, then camera by camera; the earliest failed camera names the
 * reason. */
static int
stream_segments(struct verifier *v, struct stream *st)
{
	const struct cu_x509_info *recorder = &st->infos[1];
	int r;
	memcpy(v->trust.store_id, v->m.store_id, CU_ID_LEN);
	v->trust.encryption = CU_ENC_NONE;
	memcpy(v->trust.key_id, recorder->fingerprint, CU_SHA256_LEN);
	memcpy(v->trust.pub, recorder->ed25519_pub, CU_ED25519_KEY_LEN);
	v->trust.copy = true;
	v->trust.signer_name = "the package's recording server certificate (certs/recorder.pem)";
	if ((r = run_tasks(v)) < 0)
		return r;
	for (size_t i = 0; i < v->ntasks; i++)
		if (v->tasks[i].ran && !v->tasks[i].damaged &&
		    (!v->tasks[i].header_ok || !v->tasks[i].pad_ok))
			tamper(v, "the tar header or padding of %s was altered", v->tasks[i].ms->file);
	size_t at = 0;
	for (size_t i = 0; i < v->m.ncams; i++) {
		if ((r = check_camera(v, i, v->tasks + at, v->m.cams[i].nsegs, &st->min_created,
		                      &st->max_seal)) < 0)
			return r;
		at += v->m.cams[i].nsegs;
	}
	const struct cu_pkg_camera_report *first = NULL;
	for (size_t i = 0; i < v->rep->ncameras; i++) {
		const struct cu_pkg_camera_report *c = &v->rep->cameras[i];
		if (c->tampered &&
		    (first == NULL || cu_verify_fail_before(c->fail_time_us, first->fail_time_us)))
			first = c;
	}
	if (first != NULL) {
		char when[CU_TIME_ISO_MAX];
		cu_time_text(first->fail_time_us, when);
		tamper(v, "camera %s is tampered: first failed segment at %s: %s", first->name, when,
		       first->fail_reason);
	}
	return 0;
}

/* Seal phase: the recording certificate at the times its seals were made,
 * the audit head under the exporter's key. */
static void
stream_seals(struct verifier *v, const struct stream *st)
{
	struct cu_pkg_report *rep = v->rep;
	int64_t times[2] = {st->min_created, st->max_seal};
	for (size_t i = 0; i < 2; i++) {
		if (times[i] < 0)
			continue;
		if (cu_x509_verify_chain(st->pems[1], st->lens[1], st->pems[0], st->lens[0],
		                         times[i]) < 0) {
			rep->chain_ok = false;
			tamper(v, "the recording server's certificate does not chain to the site CA: %s",
			       cu_error_detail());
			break;
		}
	}
	if (v->m.has_audit) {
		uint8_t hm[CU_PKG_HEAD_MSG_LEN];
		cu_pkg_head_message(v->m.audit_size, v->m.audit_time_us, v->m.audit_root,
		                    v->m.audit_chain, v->m.store_id, hm);
		rep->audit_head_ok = (uint64_t)v->m.audit_index < v->m.audit_size &&
		                     cu_ed25519_verify(st->infos[2].ed25519_pub, hm, sizeof(hm),
		                                       v->m.audit_sig) == 0;
		if (!rep->audit_head_ok)
			tamper(v, "the audit tree head in the manifest does not verify with the exporting "
			       "server's key (or does not cover the export's entry)");
	}
}

/* Everything after the header and the password, phase by phase. Returns <0
 * only when the check could not run; findings go into the report. */
static int
check_stream(struct verifier *v, cu_pkg_in *in)
{
	struct stream st = {.min_created = -1, .max_seal = -1};
	int r;
	if ((r = stream_manifest(v, in, &st)) == 0 && (r = stream_signature(v, &st)) == 0 &&
	    (r = stream_layout(v, in, &st)) == 0 && (r = stream_segments(v, &st)) == 0)
		stream_seals(v, &st);
	free(st.mtext);
	free(st.sig);
	for (size_t i = 0; i < CU_PKG_FILES; i++)
		free(st.pems[i]);
	return r > 0 ? 0 : r == CU_ERR_AUTH ? 0 : r;
}

static int
verdict(struct cu_pkg_report *rep, int status, int64_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The verdict that is not "tampered" (damaged, wrong password): its status,
 * the damaged byte (-1: none or unknown) and the reason, a report line cut at
 * its buffer, deliberately. Returns DECIDED. */
static int
verdict(struct cu_pkg_report *rep, int status, int64_t off, const char *fmt, ...)
{
	rep->status = status;
	rep->damaged_offset = off;
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(rep->reason, sizeof(rep->reason), fmt, ap);
	va_end(ap);
	return DECIDED;
}

/* Header phase: a regular file, a package header that decodes, the file
 * exactly as long as the header says. */
static int
verify_header(struct verifier *v, const char *path)
{
	struct cu_pkg_report *rep = v->rep;
	uint8_t hb[CU_PKG_HEADER_LEN];
	struct stat st;
	int r;
	if ((v->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return cu_fail_errno(errno, "%s", path);
	if (fstat(v->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return cu_fail(CU_ERR_INVAL, "%s is not a regular file", path);
	uint64_t size = (uint64_t)st.st_size;
	if (size < CU_PKG_HEADER_LEN)
		return verdict(rep, CU_PKG_DAMAGED, -1, "not an evidence package (%llu bytes, "
		               "shorter than its header)", (unsigned long long)size);
	if ((r = cu_pread_all(v->fd, hb, sizeof(hb), 0, path)) < 0)
		return r;
	r = cu_pkg_header_decode(hb, sizeof(hb), &v->h);
	if (r == CU_ERR_FORMAT)
		return verdict(rep, CU_PKG_DAMAGED, -1, "not an evidence package: %s",
		               cu_error_detail());
	if (r == CU_ERR_TAMPERED)
		return verdict(rep, CU_PKG_DAMAGED, 0, "%s", cu_error_detail());
	if (r < 0)
		return r;
	rep->encrypted = v->h.flags & CU_PKG_FLAG_ENCRYPTED;
	rep->prevent_reexport = v->h.flags & CU_PKG_FLAG_NO_REEXPORT;
	uint64_t want = cu_pkg_file_size(&v->h);
	if (size != want)
		return verdict(rep, CU_PKG_DAMAGED, (int64_t)(size < want ? size : want), "the file "
		               "is %llu bytes, its header says %llu: %s", (unsigned long long)size,
		               (unsigned long long)want, size < want ? "truncated" : "data appended");
	return 0;
}

/* Password phase (encrypted packages): the key, if the key check matches. */
static int
verify_password(struct verifier *v, const char *path)
{
	uint8_t check[CU_SHA256_LEN];
	if (!v->rep->encrypted)
		return 0;
	if (v->o->password == NULL)
		return cu_fail(CU_ERR_PASSWORD, "%s is encrypted: its password is needed", path);
	int r = cu_pkg_derive(v->o->password, v->o->password_len, &v->h, v->key, check);
	if (r < 0)
		return r;
	bool ok = cu_ct_equal(check, v->h.key_check, CU_SHA256_LEN);
	cu_wipe(check, sizeof(check));
	if (!ok)
		return verdict(v->rep, CU_PKG_WRONG_PASSWORD, -1, "wrong password (the header is "
		               "intact; its key check does not match this password)");
	v->keyp = v->key;
	return 0;
}

int
cu_pkg_verify(const char *path, const struct cu_pkg_verify_opts *o, struct cu_pkg_report **ret)
{
	static const struct cu_pkg_verify_opts none = {0};
	struct verifier v = {.fd = -1, .o = o ? o : &none};
	cu_pkg_in *in = NULL;
	int r;
	pthread_mutex_init(&v.lock, NULL);
	cu_buf_init_secret(&v.batch, BATCH_MAX);
	struct cu_pkg_report *rep = v.rep = calloc(1, sizeof(*rep));
	if (rep == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	rep->damaged_offset = -1;
	rep->audit_index = -1;
	rep->audit_head_time_us = -1;
	if (path == NULL) {
		r = cu_fail(CU_ERR_INVAL, "verify: no package path");
		goto out;
	}
	if ((r = verify_header(&v, path)) != 0 || (r = verify_password(&v, path)) != 0)
		goto out;
	v.total = v.h.plain_len;
	if ((r = cu_pkg_in_new(v.fd, &v.h, v.keyp, &in)) < 0 || (r = check_stream(&v, in)) < 0)
		goto out;
	if (v.damaged)
		verdict(rep, CU_PKG_DAMAGED, (int64_t)v.damaged_off, "the package is damaged at byte "
		        "%llu (chunk %llu fails its authentication tag: changed or corrupted)",
		        (unsigned long long)v.damaged_off,
		        (unsigned long long)((v.damaged_off - CU_PKG_HEADER_LEN) / CU_PKG_STORED_CHUNK));
	if (v.o->progress != NULL)
		v.o->progress(v.o->progress_ctx, v.total, v.total);
	r = 0;
out:
	cu_wipe(v.key, sizeof(v.key));
	cu_pkg_in_free(in);
	cu_buf_free(&v.batch);
	for (size_t i = 0; i < v.ntasks; i++) {
		cu_seg_scan_free(&v.tasks[i].scan);
		free(v.tasks[i].err_detail);
		cu_pkg_records_free(&v.tasks[i].recs);
		free(v.tasks[i].bad_start);
	}
	free(v.tasks);
	cu_pkg_manifest_free(&v.m);
	if (v.fd >= 0)
		close(v.fd);
	pthread_mutex_destroy(&v.lock);
	if (r < 0) {
		cu_pkg_report_free(rep);
		return r;
	}
	*ret = rep;
	return 0;
}

void
cu_pkg_report_free(struct cu_pkg_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ncameras; i++)
		free(r->cameras[i].gaps);
	free(r->cameras);
	free(r->comments);
	free(r);
}

int
cu_pkg_probe(const char *path, bool *ret_encrypted, bool *ret_prevent_reexport)
{
	uint8_t hb[CU_PKG_HEADER_LEN];
	struct cu_pkg_header h;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cu_fail_errno(errno, "%s", path);
	int r = cu_pread_all(fd, hb, sizeof(hb), 0, path);
	close(fd);
	if (r < 0)
		return cu_fail(CU_ERR_FORMAT, "%s: not a custody evidence package (too short)", path);
	r = cu_pkg_header_decode(hb, sizeof(hb), &h);
	if (r == CU_ERR_TAMPERED)
		return cu_fail(CU_ERR_FORMAT, "%s: %s", path, cu_error_detail());
	if (r < 0)
		return r;
	if (ret_encrypted != NULL)
		*ret_encrypted = h.flags & CU_PKG_FLAG_ENCRYPTED;
	if (ret_prevent_reexport != NULL)
		*ret_prevent_reexport = h.flags & CU_PKG_FLAG_NO_REEXPORT;
	return 0;
}
