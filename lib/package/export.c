/* Writing an evidence package (docs/formats/evidence-package.md, "Export
 * procedure"): verify the ranges in the store, re-write every segment copy
 * into a byte count and its chain values (pass 1, in parallel, nothing on
 * disk), build and sign the manifest, then stream the tar through the chunked
 * container into PATH.tmp (pass 2, each copy made again and checked to end
 * with the same size and chain), fsync, rename. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "custody/time.h"
#include "custody/x509.h"
#include "package/package_int.h"
#include "store/export.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "util/pool.h"
#include "custody/text.h"

/* Threads of the hash pass, below the pool's CU_POOL_THREADS_MAX: each may
 * hold a seal's worth of frames (PENDING_MAX in lib/store), so this bounds
 * the memory, not the CPU use. */
#define HASH_THREADS_MAX 16

/* One segment of the export. */
struct seg_job {
	size_t cam;                         /* index into the ranges */
	struct cu_export_seg src;
	/* pass 1 */
	int err;                            /* could not copy (or tampered) */
	char err_detail[1024];
	bool empty;                         /* no sealed frames yet: left out */
	uint8_t chain[CU_SHA256_LEN];       /* the chain after its last seal */
	uint8_t last_seal[CU_SHA256_LEN];   /* H(that seal's body) */
	uint64_t bytes, frames, first_entry, last_entry;
	int64_t first_ts, end_ts;
	uint8_t prev_chain[CU_SHA256_LEN];  /* its header's */
	struct cu_pkg_records recs;         /* its gaps and retention records */
};

struct cam_sel {
	uint8_t id[16];
	size_t first, n;                    /* its jobs */
};

struct exporter {
	cu_store *s;
	const struct cu_pkg_export_opts *o;
	struct cam_sel cams[CU_PKG_CAMERAS_MAX];
	struct seg_job *jobs;
	size_t njobs;
	pthread_mutex_t lock;
	uint64_t done, total, src_bytes;
};

static void
progress_to(struct exporter *x, uint64_t v)
{
	if (x->o->progress == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	if (v > x->total)
		v = x->total;
	if (v > x->done) {
		x->done = v;
		x->o->progress(x->o->progress_ctx, x->done, x->total);
	}
	pthread_mutex_unlock(&x->lock);
}

static void
progress_add(struct exporter *x, uint64_t n)
{
	if (x->o->progress == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	uint64_t v = x->done + n > x->total ? x->total : x->done + n;
	if (v > x->done) {
		x->done = v;
		x->o->progress(x->o->progress_ctx, x->done, x->total);
	}
	pthread_mutex_unlock(&x->lock);
}

/* CU_ERR_CANCELLED once the caller's cancel flag is set, else 0. */
static int
cancelled(const struct exporter *x)
{
	if (x->o->cancel == NULL || !atomic_load(x->o->cancel))
		return 0;
	return cu_fail(CU_ERR_CANCELLED, "export cancelled");
}

/* The text field v under the one rule for text people type (util/text.h):
 * 0, or CU_ERR_INVAL with a detail naming the field. */
static int
check_text(const char *field, const char *v, size_t max, unsigned flags)
{
	int r = cu_text_check(v, strlen(v), max, flags);
	return r < 0 ? cu_fail_prefix(r, "export: %s", field) : 0;
}

static int
check_opts(const struct cu_pkg_export_opts *o, const struct cu_export_identity *id)
{
	if (o->ranges == NULL || o->nranges == 0 || o->nranges > CU_PKG_CAMERAS_MAX)
		return cu_fail(CU_ERR_INVAL, "export: 1 to %d camera ranges are needed",
		               CU_PKG_CAMERAS_MAX);
	for (size_t i = 0; i < o->nranges; i++) {
		const struct cu_pkg_range *g = &o->ranges[i];
		if (cu_camera_name_check(g->camera) < 0)
			return cu_fail_prefix(CU_ERR_INVAL, "export");
		if (g->from_us < 0 || g->to_us <= g->from_us ||
		    g->to_us - g->from_us > CU_PKG_RANGE_MAX_US)
			return cu_fail(CU_ERR_INVAL, "export of camera %s: the range must have from < to "
			               "and last at most 24 hours", g->camera);
		for (size_t k = 0; k < i; k++)
			if (strcmp(o->ranges[k].camera, g->camera) == 0)
				return cu_fail(CU_ERR_INVAL, "export: camera %s is named twice", g->camera);
	}
	if (o->case_ref == NULL)
		return cu_fail(CU_ERR_INVAL, "export: the case reference is missing");
	if (o->exporter == NULL)
		return cu_fail(CU_ERR_INVAL, "export: the exporter's user name is missing");
	int r;
	if ((r = check_text("case reference", o->case_ref, CU_PKG_CASE_MAX, 0)) < 0 ||
	    (o->comments != NULL &&
	     (r = check_text("comments", o->comments, CU_PKG_COMMENTS_MAX, CU_TEXT_MULTILINE)) < 0) ||
	    (r = check_text("exporter's user name", o->exporter, CU_PKG_EXPORTER_MAX,
	                    CU_TEXT_NONEMPTY)) < 0 ||
	    (o->profile != NULL &&
	     (r = check_text("profile name", o->profile, CU_PKG_PROFILE_NAME_MAX, 0)) < 0))
		return r;
	if (o->encrypt && (o->password == NULL || o->password_len < CU_PKG_PASSWORD_MIN ||
	                   o->password_len > CU_PKG_PASSWORD_MAX))
		return cu_fail(CU_ERR_INVAL, "export: the package password must be %d to %d bytes",
		               CU_PKG_PASSWORD_MIN, CU_PKG_PASSWORD_MAX);
	if (o->audit_index < -1)
		return cu_fail(CU_ERR_INVAL, "export: audit_index must be -1 (none) or an index");
	if (o->audit_index >= 0) {
		uint8_t msg[CU_PKG_HEAD_MSG_LEN];
		if ((uint64_t)o->audit_index >= o->audit_head_size || o->audit_head_time_us < 0)
			return cu_fail(CU_ERR_INVAL, "export: the audit head (size %llu) does not cover "
			               "entry %lld", (unsigned long long)o->audit_head_size,
			               (long long)o->audit_index);
		cu_pkg_head_message(o->audit_head_size, o->audit_head_time_us, o->audit_head_root,
		                    o->audit_head_chain, id->store_id, msg);
		if (cu_ed25519_verify(id->signer->ed25519_pub, msg, sizeof(msg), o->audit_head_sig) != 0)
			return cu_fail(CU_ERR_INVAL, "export: the audit head's signature does not verify "
			               "with this store's server key");
	}
	return 0;
}

/* Refuses an export that would leave less than o->keep_free on dir's file
 * system. The package is about its source: each copy is its segment without
 * the tags and salts of store encryption, plus a tar header and padding, and
 * the container adds a tag per MiB; the manifest and certificates are small. */
static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t room_reserved;           /* estimates of the exports running in this process */

/* *ret_reserved gets what this export reserved (release_room gives it back). */
static int
check_room(const struct cu_pkg_export_opts *o, const char *dir, uint64_t src_bytes,
           uint64_t *ret_reserved)
{
	*ret_reserved = 0;
	if (o->keep_free == 0)
		return 0;
	struct statvfs v;
	if (statvfs(dir, &v) < 0)
		return cu_fail_errno(errno, "%s", dir);
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
	uint64_t need = src_bytes + src_bytes / 64 + (uint64_t)(1 << 20) + CU_PKG_MANIFEST_MAX / 4;
	if (o->room_for_copy)
		need *= 2;
	need += o->extra_bytes;
	/* what other exports will still write is not free: counted whole, as if
	 * none of it were written yet (the safe side) */
	pthread_mutex_lock(&room_lock);
	uint64_t others = room_reserved;
	bool fits = avail >= others && avail - others >= need && avail - others - need >= o->keep_free;
	if (fits)
		room_reserved += need;
	pthread_mutex_unlock(&room_lock);
	if (!fits)
		return cu_fail(CU_ERR_NOSPC, "export refused: it needs about %llu MB on the disk of "
		               "%s, which has %llu MB free (%llu MB of it kept for exports already "
		               "running), and %llu MB must stay free (for recording)",
		               (unsigned long long)(need / 1000000), dir,
		               (unsigned long long)(avail / 1000000),
		               (unsigned long long)(others / 1000000),
		               (unsigned long long)(o->keep_free / 1000000));
	*ret_reserved = need;
	return 0;
}

static void
release_room(uint64_t reserved)
{
	pthread_mutex_lock(&room_lock);
	room_reserved -= reserved < room_reserved ? reserved : room_reserved;
	pthread_mutex_unlock(&room_lock);
}

/* ---- step 1: the store's own verify ---- */

struct vprog {
	struct exporter *x;
	uint64_t base;
};

static void
verify_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct vprog *v = ctx;
	(void)total;
	uint64_t lim = v->x->src_bytes;
	progress_to(v->x, v->base + done > lim ? lim : v->base + done);
}

static int
verify_ranges(struct exporter *x)
{
	uint64_t base = 0;
	for (size_t i = 0; i < x->o->nranges; i++) {
		const struct cu_pkg_range *g = &x->o->ranges[i];
		struct vprog vp = {x, base};
		struct cu_verify_opts vo = {.camera = g->camera, .from_us = g->from_us,
		                            .to_us = g->to_us, .progress = verify_progress,
		                            .progress_ctx = &vp, .cancel = x->o->cancel};
		struct cu_verify_report *rep;
		int r = cu_store_verify(x->s, &vo, &rep);
		if (r < 0)
			return cu_fail_prefix(r, "export of camera %s", g->camera);
		if (rep->tampered) {
			char when[CU_TIME_ISO_MAX];
			const struct cu_verify_camera *c = rep->ncameras > 0 ? &rep->cameras[0] : NULL;
			if (c != NULL && c->tampered) {
				cu_time_text(c->fail_time_us, when);
				r = cu_fail(CU_ERR_TAMPERED, "export refused: camera %s is tampered: first "
				            "failed segment at %s: %s", g->camera, when, c->fail_reason);
			} else {
				r = cu_fail(CU_ERR_TAMPERED, "export refused: camera %s: the store's "
				            "recording certificate does not chain to its site CA", g->camera);
			}
			cu_verify_report_free(rep);
			return r;
		}
		cu_verify_report_free(rep);
		if ((r = cancelled(x)) < 0)
			return r;
		for (size_t k = 0; k < x->cams[i].n; k++)
			base += x->jobs[x->cams[i].first + k].src.bytes;
	}
	progress_to(x, x->src_bytes);
	return 0;
}

/* ---- pass 1: measure every copy ---- */

/* The copy's bytes are only counted: what binds them to the export signature
 * is the chain value the scan ends with (no file hash, see the format doc). */
static int
count_put(void *ctx, const void *data, size_t len)
{
	(void)data;
	progress_add(ctx, len);
	return cancelled(ctx);
}

static void
hash_job(struct exporter *x, struct seg_job *j)
{
	const struct cu_pkg_range *g = &x->o->ranges[j->cam];
	struct cu_seg_scan sc;
	char when[CU_TIME_ISO_MAX];
	int r = cu_segment_export(x->s, x->cams[j->cam].id, j->src.seq, 0, count_put, x, &sc,
	                          &j->bytes);
	/* err_detail is a message for the caller: cut at its buffer, deliberately */
	if (r < 0) {
		j->err = r;
		cu_fmt_cut(j->err_detail, sizeof(j->err_detail), "%s", cu_error_detail());
		return;
	}
	/* the segment being recorded may have an unsealed tail after its last seal */
	bool open_tail = j->src.status == CU_SEG_OPEN && sc.seals > 0;
	if (sc.fail != 0 && !open_tail) {
		cu_time_text(j->src.start_us, when);
		j->err = CU_ERR_TAMPERED; /* the detail, cut deliberately as above */
		cu_fmt_cut(j->err_detail, sizeof(j->err_detail), "export refused: camera %s is "
		           "tampered: first failed segment at %s: segment %llu: %s", g->camera, when,
		           (unsigned long long)j->src.seq, sc.reason);
	} else {
		j->empty = sc.frames == 0;
		j->frames = sc.frames;
		j->first_entry = sc.hdr.first_entry;
		j->last_entry = sc.last_entry;
		memcpy(j->chain, sc.chain, CU_SHA256_LEN);
		memcpy(j->last_seal, sc.last_seal, CU_SHA256_LEN);
		j->first_ts = sc.first_ts;
		j->end_ts = sc.end_ts;
		memcpy(j->prev_chain, sc.hdr.prev_chain, CU_SHA256_LEN);
		for (size_t k = 0; k < sc.nrecs && r == 0; k++) {
			const struct cu_record *rec = &sc.recs[k].rec;
			r = cu_pkg_records_keep(&j->recs, rec, g->from_us, g->to_us);
		}
		if (r < 0) {
			j->err = r; /* the detail, cut deliberately as above */
			cu_fmt_cut(j->err_detail, sizeof(j->err_detail), "%s", cu_error_detail());
		}
	}
	cu_seg_scan_free(&sc);
}

static void
hash_worker(void *ctx, cu_pool *p)
{
	struct exporter *x = ctx;
	size_t i;
	while (cu_pool_next(p, &i))
		hash_job(x, &x->jobs[i]);
}

static int
hash_all(struct exporter *x)
{
	int cpus = cu_pool_cpus();
	cu_pool_run(x->njobs, cpus < HASH_THREADS_MAX ? cpus : HASH_THREADS_MAX, hash_worker, x);
	for (size_t i = 0; i < x->njobs; i++) /* the first failure, in the order of the ranges */
		if (x->jobs[i].err < 0)
			return cu_fail(x->jobs[i].err, "%s", x->jobs[i].err_detail);
	progress_to(x, 2 * x->src_bytes);
	return 0;
}

/* Retention may have left holes (footage kept under an evidence lock, what
 * was around it deleted). The package proves a hole with the signed
 * retention record that names it, which must then be in one of the exported
 * segments (docs/formats/evidence-package.md, Verification 9). */
static int
check_holes(struct exporter *x)
{
	for (size_t i = 0; i < x->o->nranges; i++) {
		const struct cam_sel *sel = &x->cams[i];
		const struct seg_job *p = NULL;
		for (size_t k = 0; k < sel->n; k++) {
			const struct seg_job *j = &x->jobs[sel->first + k];
			if (j->empty)
				continue;
			bool named = p == NULL || p->src.seq + 1 == j->src.seq;
			for (size_t a = 0; !named && a < sel->n; a++) {
				const struct seg_job *q = &x->jobs[sel->first + a];
				named = !q->empty && cu_pkg_hole_named(&q->recs, p->src.seq, j->src.seq,
				                                       j->prev_chain);
			}
			if (!named) {
				char a[CU_TIME_ISO_MAX], b[CU_TIME_ISO_MAX];
				cu_time_text(p->end_ts, a);
				cu_time_text(j->first_ts, b);
				return cu_fail(CU_ERR_UNSUPPORTED, "export of camera %s: the range crosses "
				               "footage that retention deleted (%s to %s) and the signed "
				               "record of that hole was written later, outside the range: "
				               "export the parts before and after it, or a range that "
				               "reaches the present", x->o->ranges[i].camera, a, b);
			}
			p = j;
		}
	}
	return 0;
}

/* ---- the manifest ---- */

static int
build_manifest(struct exporter *x, const struct cu_export_identity *id, int64_t now,
               struct cu_pkg_manifest *m, struct cu_pkg_export_result *res)
{
	const struct cu_pkg_export_opts *o = x->o;
	memset(m, 0, sizeof(*m));
	memcpy(m->case_ref, o->case_ref, strlen(o->case_ref) + 1);
	if ((m->comments = strdup(o->comments ? o->comments : "")) == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	memcpy(m->exporter, o->exporter, strlen(o->exporter) + 1);
	m->exported_us = now;
	memcpy(m->server.subject, id->signer->subject, sizeof(m->server.subject));
	memcpy(m->server.sha256, id->signer->fingerprint, CU_SHA256_LEN);
	m->recorder = m->server;
	memcpy(m->site_ca.subject, id->ca->subject, sizeof(m->site_ca.subject));
	memcpy(m->site_ca.sha256, id->ca->fingerprint, CU_SHA256_LEN);
	memcpy(m->store_id, id->store_id, 16);
	if (o->profile != NULL)
		memcpy(m->profile, o->profile, strlen(o->profile) + 1);
	m->encrypted = o->encrypt;
	m->prevent_reexport = o->prevent_reexport;
	m->is_signed = true;
	const char *pems[CU_PKG_FILES] = {id->ca_pem, id->cert_pem, id->cert_pem};
	size_t lens[CU_PKG_FILES] = {id->ca_len, id->cert_len, id->cert_len};
	for (size_t i = 0; i < CU_PKG_FILES; i++) {
		memcpy(m->files[i].name, cu_pkg_file_names[i], strlen(cu_pkg_file_names[i]) + 1);
		m->files[i].bytes = lens[i];
		int r = cu_sha256(pems[i], lens[i], m->files[i].sha256);
		if (r < 0)
			return r;
	}
	if (o->audit_index >= 0) {
		m->has_audit = true;
		m->audit_index = o->audit_index;
		m->audit_size = o->audit_head_size;
		m->audit_time_us = o->audit_head_time_us;
		memcpy(m->audit_root, o->audit_head_root, CU_SHA256_LEN);
		memcpy(m->audit_chain, o->audit_head_chain, CU_SHA256_LEN);
		memcpy(m->audit_sig, o->audit_head_sig, CU_ED25519_SIG_LEN);
	}
	m->cams = calloc(o->nranges, sizeof(*m->cams));
	if (m->cams == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	m->ncams = o->nranges;
	for (size_t i = 0; i < o->nranges; i++) {
		struct cu_pkg_cam *c = &m->cams[i];
		const struct cam_sel *sel = &x->cams[i];
		const struct cu_pkg_range *g = &o->ranges[i];
		memcpy(c->name, g->camera, sizeof(c->name));
		memcpy(c->id, sel->id, 16);
		c->from_us = g->from_us;
		c->to_us = g->to_us;
		size_t ngaps = 0;
		for (size_t k = 0; k < sel->n; k++)
			ngaps += x->jobs[sel->first + k].recs.ngaps;
		c->segs = calloc(sel->n ? sel->n : 1, sizeof(*c->segs));
		c->gaps = calloc(ngaps ? ngaps : 1, sizeof(*c->gaps));
		if (c->segs == NULL || c->gaps == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		for (size_t k = 0; k < sel->n; k++) {
			const struct seg_job *j = &x->jobs[sel->first + k];
			if (j->empty)
				continue;
			struct cu_pkg_seg *sg = &c->segs[c->nsegs++];
			int r = cu_pkg_segment_name(g->camera, j->src.seq, sg->file);
			if (r < 0)
				return r;
			sg->seq = j->src.seq;
			sg->from_us = j->first_ts;
			sg->to_us = j->end_ts;
			sg->frames = j->frames;
			sg->bytes = j->bytes;
			sg->first_entry = j->first_entry;
			memcpy(sg->chain, j->chain, CU_SHA256_LEN);
			memcpy(sg->last_seal, j->last_seal, CU_SHA256_LEN);
			c->frames += j->frames;
			if (j->recs.ngaps > 0)
				memcpy(c->gaps + c->ngaps, j->recs.gaps, j->recs.ngaps * sizeof(*c->gaps));
			c->ngaps += j->recs.ngaps;
		}
		if (c->nsegs == 0) {
			char a[CU_TIME_ISO_MAX], b[CU_TIME_ISO_MAX];
			cu_time_text(g->from_us, a);
			cu_time_text(g->to_us, b);
			return cu_fail(CU_ERR_NOTFOUND, "export: camera %s has no recorded frames from %s "
			               "to %s", g->camera, a, b);
		}
		res->frames += c->frames;
		res->segments += c->nsegs;
	}
	return 0;
}

/* ---- pass 2: the file ---- */

struct out_sink {
	cu_pkg_out *out;
	struct exporter *x;
};

static int
out_put(void *ctx, const void *data, size_t len)
{
	struct out_sink *os = ctx;
	int r = cu_pkg_out_write(os->out, data, len);
	progress_add(os->x, len);
	return r < 0 ? r : cancelled(os->x);
}

static const uint8_t zeros[2 * CU_TAR_BLOCK];

static int
put_entry_head(cu_pkg_out *out, const char *name, uint64_t size, int64_t mtime_s)
{
	uint8_t hb[CU_TAR_BLOCK];
	int r = cu_tar_header(name, size, mtime_s, hb);
	return r < 0 ? r : cu_pkg_out_write(out, hb, sizeof(hb));
}

static int
put_pad(cu_pkg_out *out, uint64_t size)
{
	uint64_t pad = cu_tar_padded(size) - size;
	return pad == 0 ? 0 : cu_pkg_out_write(out, zeros, (size_t)pad);
}

static int
put_entry(cu_pkg_out *out, const char *name, const void *data, size_t len, int64_t mtime_s)
{
	int r = put_entry_head(out, name, len, mtime_s);
	if (r == 0)
		r = cu_pkg_out_write(out, data, len);
	return r < 0 ? r : put_pad(out, len);
}

static int
write_stream(struct exporter *x, cu_pkg_out *out, const struct cu_export_identity *id,
             const struct cu_pkg_manifest *m, const char *text, size_t text_len,
             const uint8_t sig[static CU_ED25519_SIG_LEN])
{
	int64_t mtime = m->exported_us / 1000000;
	int r;
	if ((r = put_entry(out, "manifest.json", text, text_len, mtime)) < 0 ||
	    (r = put_entry(out, "manifest.sig", sig, CU_ED25519_SIG_LEN, mtime)) < 0 ||
	    (r = put_entry(out, cu_pkg_file_names[0], id->ca_pem, id->ca_len, mtime)) < 0 ||
	    (r = put_entry(out, cu_pkg_file_names[1], id->cert_pem, id->cert_len, mtime)) < 0 ||
	    (r = put_entry(out, cu_pkg_file_names[2], id->cert_pem, id->cert_len, mtime)) < 0)
		return r;
	struct out_sink os = {out, x};
	for (size_t i = 0; i < m->ncams && r == 0; i++) {
		const struct cu_pkg_cam *c = &m->cams[i];
		for (size_t k = 0; k < c->nsegs && r == 0; k++) {
			const struct cu_pkg_seg *sg = &c->segs[k];
			const struct seg_job *j = NULL;
			for (size_t n = 0; n < x->cams[i].n; n++)
				if (x->jobs[x->cams[i].first + n].src.seq == sg->seq)
					j = &x->jobs[x->cams[i].first + n];
			if (j == NULL) {
				r = cu_fail(CU_ERR_INVAL, "export: segment %llu lost", (unsigned long long)sg->seq);
				break;
			}
			struct cu_seg_scan sc;
			uint64_t bytes = 0;
			if ((r = put_entry_head(out, sg->file, sg->bytes, mtime)) < 0)
				break;
			r = cu_segment_export(x->s, c->id, sg->seq, j->last_entry, out_put, &os, &sc, &bytes);
			if (r < 0)
				break;
			/* the second copy must be the one the manifest signed: same size,
			 * same chain (which covers every byte the re-writer does not fix) */
			bool same = bytes == sg->bytes && sc.last_entry == j->last_entry &&
			            sc.hdr.first_entry == sg->first_entry &&
			            cu_ct_equal(sc.chain, sg->chain, CU_SHA256_LEN) &&
			            cu_ct_equal(sc.last_seal, sg->last_seal, CU_SHA256_LEN);
			cu_seg_scan_free(&sc);
			if (!same) {
				r = cu_fail(CU_ERR_TAMPERED, "export refused: camera %s: segment %llu changed "
				            "while it was exported", c->name, (unsigned long long)sg->seq);
				break;
			}
			r = put_pad(out, sg->bytes);
		}
	}
	if (r == 0)
		r = cu_pkg_out_write(out, zeros, sizeof(zeros));
	return r;
}

static uint64_t
stream_length(const struct cu_pkg_manifest *m, size_t text_len,
              const struct cu_export_identity *id)
{
	uint64_t L = 0;
	size_t sizes[] = {text_len, CU_ED25519_SIG_LEN, id->ca_len, id->cert_len, id->cert_len};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		L += CU_TAR_BLOCK + cu_tar_padded(sizes[i]);
	for (size_t i = 0; i < m->ncams; i++)
		for (size_t k = 0; k < m->cams[i].nsegs; k++)
			L += CU_TAR_BLOCK + cu_tar_padded(m->cams[i].segs[k].bytes);
	return L + 2 * CU_TAR_BLOCK;
}

static int
dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return cu_path(buf, len, ".");
	if (slash == path)
		return cu_path(buf, len, "/");
	return cu_path(buf, len, "%.*s", (int)(slash - path), path);
}

/* Select phase: the segments of each range, from the catalogue, as jobs. */
static int
select_segments(struct exporter *x)
{
	const struct cu_pkg_export_opts *o = x->o;
	for (size_t i = 0; i < o->nranges; i++) {
		struct cu_export_seg *segs = NULL;
		size_t n = 0;
		const struct cu_pkg_range *g = &o->ranges[i];
		int r = cu_export_select(x->s, g->camera, g->from_us, g->to_us, x->cams[i].id, &segs,
		                         &n);
		if (r < 0)
			return cu_fail_prefix(r, "export of camera %s", g->camera);
		if (n == 0) {
			char a[CU_TIME_ISO_MAX], b[CU_TIME_ISO_MAX];
			cu_time_text(g->from_us, a);
			cu_time_text(g->to_us, b);
			return cu_fail(CU_ERR_NOTFOUND, "export: camera %s has no recorded frames from "
			               "%s to %s", g->camera, a, b);
		}
		struct seg_job *nj = realloc(x->jobs, (x->njobs + n) * sizeof(*nj));
		if (nj == NULL) {
			free(segs);
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		}
		x->jobs = nj;
		x->cams[i].first = x->njobs;
		x->cams[i].n = n;
		for (size_t k = 0; k < n; k++) {
			memset(&x->jobs[x->njobs], 0, sizeof(*x->jobs));
			x->jobs[x->njobs].cam = i;
			x->jobs[x->njobs].src = segs[k];
			x->src_bytes += segs[k].bytes;
			x->njobs++;
		}
		free(segs);
	}
	return 0;
}

/* Header phase: the package header for a stream of plain_len bytes; the key
 * (OUT, encrypted packages) from the password. */
static int
make_header(const struct cu_pkg_export_opts *o, uint64_t plain_len, struct cu_pkg_header *h,
            uint8_t key[static CU_AES256_KEY_LEN], uint8_t hbuf[static CU_PKG_HEADER_LEN])
{
	int r;
	h->version = CU_PKG_VERSION;
	h->flags = (o->encrypt ? CU_PKG_FLAG_ENCRYPTED : 0) |
	           (o->prevent_reexport ? CU_PKG_FLAG_NO_REEXPORT : 0);
	h->chunk = CU_PKG_CHUNK;
	h->plain_len = plain_len;
	if (o->encrypt) {
		h->kdf = o->kdf;
		if (h->kdf.t_cost == 0 && h->kdf.m_cost_kib == 0 && h->kdf.parallelism == 0)
			h->kdf = (struct cu_argon2_params){CU_ARGON2_T_DEFAULT, CU_ARGON2_M_DEFAULT,
			                                   CU_ARGON2_P_DEFAULT};
		if ((r = cu_random(h->salt, sizeof(h->salt))) < 0 ||
		    (r = cu_pkg_derive(o->password, o->password_len, h, key, h->key_check)) < 0)
			return r;
	}
	return cu_pkg_header_encode(h, hbuf);
}

/* Write phase: the header and the stream into the temporary file, hashed as
 * written (the file's SHA-256, for the export.end audit entry). */
static int
write_package(struct exporter *x, cu_afile *af, const struct cu_pkg_header *h,
              const uint8_t *key, const uint8_t hbuf[static CU_PKG_HEADER_LEN],
              const struct cu_export_identity *id, const struct cu_pkg_manifest *m,
              const char *text, size_t text_len, const uint8_t sig[static CU_ED25519_SIG_LEN],
              uint8_t sha256[static CU_SHA256_LEN])
{
	cu_pkg_out *out = NULL;
	cu_sha256_ctx *file_hash = NULL;
	int r;
	if ((r = cu_sha256_new(&file_hash)) < 0 || (r = cu_sha256_init(file_hash)) < 0 ||
	    (r = cu_afile_write(af, hbuf, CU_PKG_HEADER_LEN)) < 0 ||
	    (r = cu_sha256_update(file_hash, hbuf, CU_PKG_HEADER_LEN)) < 0 ||
	    (r = cu_pkg_out_new(af->fd, h, key, file_hash, &out)) < 0 ||
	    (r = write_stream(x, out, id, m, text, text_len, sig)) < 0 ||
	    (r = cu_pkg_out_finish(out)) < 0)
		goto out;
	r = cu_sha256_final(file_hash, sha256);
out:
	cu_pkg_out_free(out);
	cu_sha256_free(file_hash);
	return r;
}

int
cu_pkg_export(cu_store *s, const char *path, const struct cu_pkg_export_opts *o,
              struct cu_pkg_export_result *ret)
{
	struct exporter x = {.s = s, .o = o};
	struct cu_export_identity id;
	struct cu_pkg_manifest m;
	struct cu_pkg_export_result res = {0};
	struct cu_pkg_header h = {0};
	uint8_t key[CU_AES256_KEY_LEN], hbuf[CU_PKG_HEADER_LEN], sig[CU_ED25519_SIG_LEN];
	char dir[PATH_MAX];
	char *text = NULL;
	size_t text_len = 0;
	cu_afile af = {.fd = -1};
	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&x.lock, NULL);
	uint64_t reserved = 0;
	int r;
	if (s == NULL || path == NULL || o == NULL) {
		r = cu_fail(CU_ERR_INVAL, "export: a store, a path and options are needed");
		goto out;
	}
	if ((r = cu_export_identity(s, &id)) < 0 || (r = check_opts(o, &id)) < 0)
		goto out;
	if ((r = dir_of(path, dir, sizeof(dir))) < 0)
		goto out;
	/* made now, so that a bad path (or an existing PATH or PATH.tmp) fails
	 * before minutes of work */
	if ((r = cu_afile_open(&af, path, 0600, 0)) < 0 || (r = select_segments(&x)) < 0)
		goto out;
	x.total = 3 * x.src_bytes;
	if ((r = check_room(o, dir, x.src_bytes, &reserved)) < 0)
		goto out;
	if ((r = verify_ranges(&x)) < 0 || (r = hash_all(&x)) < 0 || (r = check_holes(&x)) < 0)
		goto out;
	int64_t now = cu_time_now_us();
	if ((r = build_manifest(&x, &id, now, &m, &res)) < 0 ||
	    (r = cu_pkg_manifest_encode(&m, &text, &text_len)) < 0 ||
	    (r = cu_export_sign(s, text, text_len, sig)) < 0 ||
	    (r = cu_sha256(text, text_len, res.manifest_sha256)) < 0)
		goto out;
	if ((r = make_header(o, stream_length(&m, text_len, &id), &h, key, hbuf)) < 0 ||
	    (r = write_package(&x, &af, &h, o->encrypt ? key : NULL, hbuf, &id, &m, text, text_len,
	                       sig, res.sha256)) < 0 ||
	    (r = cu_afile_commit(&af)) < 0)
		goto out;
	res.bytes = cu_pkg_file_size(&h);
	progress_to(&x, x.total);
	if (ret != NULL)
		*ret = res;
	r = 0;
out:
	release_room(reserved);
	cu_afile_abort(&af);
	cu_wipe(key, sizeof(key));
	free(text);
	cu_pkg_manifest_free(&m);
	for (size_t i = 0; i < x.njobs; i++) {
		cu_pkg_records_free(&x.jobs[i].recs);
	}
	free(x.jobs);
	pthread_mutex_destroy(&x.lock);
	return r;
}
