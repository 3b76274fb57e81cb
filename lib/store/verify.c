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
#include "custody/text.h"
#include "util/pool.h"

#define PROGRESS_STEP (8u * 1024 * 1024)
#define RECORDS_MAX 100000 /* records kept per segment */
#define TAMPERED CU_SCAN_TAMPERED

static const uint8_t zero32[CU_SHA256_LEN];

/* The one way a scan reports "tampered": the first failure of a segment,
 * its time (-1 unknown) and reason. Returns TAMPERED, for the phases below
 * to return. The reason is a report line: cut at its buffer, deliberately. */
int
cu_seg_scan_fail(struct cu_seg_scan *sc, int64_t ts, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(sc->reason, sizeof(sc->reason), fmt, ap);
	va_end(ap);
	sc->fail = CU_ERR_TAMPERED;
	sc->fail_ts = ts;
	return TAMPERED;
}

void
cu_verify_failv(bool *tampered, int64_t *time_us, char *reason, size_t reason_size,
                int64_t when, const char *fmt, va_list ap)
{
	*tampered = true;
	*time_us = when;
	cu_vfmt_cut(reason, reason_size, fmt, ap); /* a report line: cut, deliberately */
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
		cu_seg_scan_fail(sc, -1, "segment file %s cannot be read: %s", path, strerror(errno));
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		scan_reset(sc);
		cu_seg_scan_fail(sc, -1, "segment %s is not a regular file", path);
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

/* ---- one segment, in phases: header, entry, decrypt, record, seal ----
 *
 * Every phase returns 0 to go on, TAMPERED when it found the segment's first
 * failure (recorded by cu_seg_scan_fail in sc->fail, sc->fail_ts and
 * sc->reason), or a negative cu_err when the check could not run (no memory,
 * a source read or a hook failed): the one way for each. */

/* The state of one scan, carried from phase to phase. */
struct scan {
	const struct cu_seg_trust *t;
	const struct cu_seg_source *src;
	struct cu_seg_scan *sc;                  /* OUT: the result */
	const struct cu_scan_hooks *hooks;       /* may be NULL */
	uint8_t hbuf[CU_SEG_HEADER_LEN];         /* the segment header as read */
	uint8_t ebuf[CU_ENTRY_HEADER_LEN];       /* the entry header as read */
	uint8_t chain[CU_SHA256_LEN];            /* chain value after the entry */
	uint8_t before[CU_SHA256_LEN];           /* chain value before it (a seal's) */
	cu_buf body, plain;                      /* reused for every entry */
	cu_sha256_ctx *sha;
	cu_aead *aead;                           /* NULL when not encrypted */
	struct tentative tt;
	uint64_t expect, covered;                /* next entry number; first not sealed */
	uint64_t off, reported;                  /* entry offset; bytes given to progress */
	bool stop;                               /* on_seal has all it wants */
	struct cu_entry_header e;                /* the entry being checked */
	const uint8_t *stored, *pt;              /* its stored bytes and plaintext */
	char when[CU_TIME_ISO_MAX];
};

/* The entry's time as text, for a reason. */
static const char *
entry_when(struct scan *s)
{
	cu_time_text(s->e.ts_us, s->when);
	return s->when;
}

/* Header phase: the header decodes, belongs to the trust, and gives the key
 * and the chain's start. */
static int
scan_header(struct scan *s)
{
	struct cu_seg_scan *sc = s->sc;
	const struct cu_seg_trust *t = s->t;
	uint8_t key[CU_AES256_KEY_LEN];
	int r;
	if (sc->file_size < CU_SEG_HEADER_LEN ||
	    s->src->read(s->src->ctx, s->hbuf, sizeof(s->hbuf), 0) < 0 ||
	    cu_seg_header_decode(s->hbuf, sizeof(s->hbuf), &sc->hdr) < 0)
		return cu_seg_scan_fail(sc, -1, "segment header unreadable: %s",
		                  sc->file_size < CU_SEG_HEADER_LEN ? "file too short"
		                                                    : cu_error_detail());
	const struct cu_seg_header *h = &sc->hdr;
	if (memcmp(h->store_id, t->store_id, CU_ID_LEN) != 0)
		return cu_seg_scan_fail(sc, h->created_us, "segment belongs to another store");
	if (h->encryption != t->encryption)
		return cu_seg_scan_fail(sc, h->created_us, "segment says encryption \"%s\", %s \"%s\"",
		                  cu_encryption_name(h->encryption),
		                  t->copy ? "an exported copy must say" : "the store",
		                  cu_encryption_name(t->encryption));
	if (t->copy && !cu_all_zero(h->key_salt, sizeof(h->key_salt)))
		return cu_seg_scan_fail(sc, h->created_us,
		                  "segment copy has a key salt (an exported copy has none)");
	if (s->hooks != NULL && s->hooks->on_header != NULL &&
	    (r = s->hooks->on_header(s->hooks->ctx, s->hbuf)) < 0)
		return r;
	if (h->encryption != CU_ENC_NONE) {
		if (t->keys == NULL)
			return cu_fail(CU_ERR_PASSWORD, "an encrypted segment needs the store's keys");
		if ((r = cu_store_segment_key(t->keys, h, key)) < 0)
			return r;
		r = cu_aead_new(key, &s->aead);
		cu_wipe(key, sizeof(key));
		if (r < 0)
			return r;
	}
	if ((r = cu_chain_init(s->hbuf, s->chain)) < 0)
		return r;
	memcpy(sc->chain, s->chain, CU_SHA256_LEN);
	s->expect = s->covered = h->first_entry;
	s->off = CU_SEG_HEADER_LEN;
	sc->good_end = 0; /* nothing is good before the first seal */
	sc->last_entry = h->first_entry - 1;
	return 0;
}

/* Entry phase: the entry header at s->off decodes, is the next number, fits
 * the mode and the file; its stored bytes are lent by the source or read. */
static int
scan_entry(struct scan *s)
{
	struct cu_seg_scan *sc = s->sc;
	struct cu_entry_header *e = &s->e;
	int r;
	if (sc->file_size - s->off < CU_ENTRY_HEADER_LEN)
		return cu_seg_scan_fail(sc, s->tt.last_ts, "file ends inside an entry header at byte %llu",
		                  (unsigned long long)s->off);
	if ((r = s->src->read(s->src->ctx, s->ebuf, sizeof(s->ebuf), s->off)) < 0)
		return r;
	if (cu_entry_header_decode(s->ebuf, sizeof(s->ebuf), e) < 0)
		return cu_seg_scan_fail(sc, s->tt.last_ts, "entry at byte %llu is malformed: %s",
		                  (unsigned long long)s->off, cu_error_detail());
	if (e->seq != s->expect)
		return cu_seg_scan_fail(sc, e->ts_us, "entry number %llu at %s where %llu was expected "
		                  "(entries removed, inserted or reordered)",
		                  (unsigned long long)e->seq, entry_when(s),
		                  (unsigned long long)s->expect);
	if (e->type == CU_ENTRY_FRAME &&
	    e->stored_len != cu_frame_stored_len(sc->hdr.encryption, e->plain_len))
		return cu_seg_scan_fail(sc, e->ts_us, "frame %llu at %s: stored size %u does not fit its "
		                  "plaintext size %u", (unsigned long long)e->seq, entry_when(s),
		                  e->stored_len, e->plain_len);
	if (e->stored_len > sc->file_size - s->off - CU_ENTRY_HEADER_LEN)
		return cu_seg_scan_fail(sc, e->ts_us, "file ends inside entry %llu at %s (cut short)",
		                  (unsigned long long)e->seq, entry_when(s));
	uint64_t at = s->off + CU_ENTRY_HEADER_LEN;
	s->stored = s->src->view != NULL && e->stored_len > 0
	                    ? s->src->view(s->src->ctx, e->stored_len, at) : NULL;
	if (s->stored == NULL) {
		cu_buf_reset(&s->body);
		if ((r = cu_buf_reserve(&s->body, e->stored_len)) < 0 ||
		    (r = s->src->read(s->src->ctx, s->body.data, e->stored_len, at)) < 0)
			return r;
		s->stored = s->body.data;
	}
	s->pt = s->stored;
	return 0;
}

/* Decrypt phase (frames of encrypted modes): the GCM tag over the header and
 * the encrypted part; light mode's clear rest follows the tag. */
static int
scan_decrypt(struct scan *s)
{
	const struct cu_entry_header *e = &s->e;
	uint8_t nonce[CU_GCM_NONCE_LEN];
	size_t n = s->sc->hdr.encryption == CU_ENC_LIGHT && e->plain_len > CU_LIGHT_BYTES
	                   ? CU_LIGHT_BYTES : e->plain_len;
	int r;
	s->plain.len = 0; /* reused; wiped once when freed */
	if ((r = cu_buf_reserve(&s->plain, e->plain_len)) < 0)
		return r;
	cu_store_nonce(e->seq, nonce);
	r = cu_aead_open(s->aead, nonce, sizeof(nonce), s->ebuf, CU_ENTRY_HEADER_LEN, s->stored, n,
	                 s->plain.data, s->stored + n, CU_GCM_TAG_LEN);
	if (r == CU_ERR_AUTH)
		return cu_seg_scan_fail(s->sc, e->ts_us, "frame %llu at %s: encrypted bytes or header "
		                  "altered (authentication tag mismatch)", (unsigned long long)e->seq,
		                  entry_when(s));
	if (r < 0)
		return r;
	memcpy(s->plain.data + n, s->stored + n + CU_GCM_TAG_LEN, e->plain_len - n);
	s->plain.len = e->plain_len;
	s->pt = s->plain.data;
	return 0;
}

/* A frame: counted as tentative until a seal proves it. */
static int
scan_frame(struct scan *s)
{
	const struct cu_entry_header *e = &s->e;
	struct tentative *tt = &s->tt;
	int r;
	if (s->hooks != NULL && s->hooks->on_frame != NULL &&
	    (r = s->hooks->on_frame(s->hooks->ctx, e, s->pt)) < 0)
		return r;
	tt->frames++;
	if (tt->first_ts < 0 || e->ts_us < tt->first_ts)
		tt->first_ts = e->ts_us;
	if (e->ts_us + e->dur_us > tt->end_ts)
		tt->end_ts = e->ts_us + e->dur_us;
	if (e->ts_us >= tt->last_ts) {
		tt->last_ts = e->ts_us;
		tt->last_dur = e->dur_us;
	}
	return 0;
}

/* Record phase: it decodes and is kept (at most RECORDS_MAX a segment). */
static int
scan_record(struct scan *s)
{
	const struct cu_entry_header *e = &s->e;
	struct cu_seg_scan *sc = s->sc;
	struct cu_record rec;
	if (cu_record_decode(s->pt, e->plain_len, &rec) < 0)
		return cu_seg_scan_fail(sc, e->ts_us, "record %llu at %s is malformed: %s",
		                  (unsigned long long)e->seq, entry_when(s), cu_error_detail());
	if (s->tt.nrecs >= RECORDS_MAX)
		return cu_seg_scan_fail(sc, e->ts_us, "more than %d records in one segment", RECORDS_MAX);
	struct cu_scan_record *nr = realloc(sc->recs, (s->tt.nrecs + 1) * sizeof(*nr));
	if (nr == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	sc->recs = nr;
	sc->recs[s->tt.nrecs].rec = rec;
	sc->recs[s->tt.nrecs].entry = e->seq;
	s->tt.nrecs++;
	s->tt.records++;
	return 0;
}

/* "; records: <kind> record N (...)" for the records a failed seal covers,
 * as read (a record altered in place still names itself), or "". */
static void
sealed_records(const struct scan *s, char *out, size_t len)
{
	const struct cu_seg_scan *sc = s->sc;
	out[0] = '\0';
	for (size_t i = sc->nrecs, used = 0; i < s->tt.nrecs && used + 1 < len; i++) {
		const struct cu_scan_record *r = &sc->recs[i];
		char what[CU_EVENT_TYPE_MAX + 16] = "";
		struct cu_event_note n;
		if (r->rec.kind == CU_REC_EVENT &&
		    cu_event_text_parse(r->rec.reason, strlen(r->rec.reason), &n) == 0)
			cu_fmt_cut(what, sizeof(what), " %s %s", n.type, cu_event_phase_name(n.phase));
		cu_fmt_cut(out + used, len - used, "%s%s record %llu%s", i == sc->nrecs ? "; " : ", ",
		           cu_record_kind_name(r->rec.kind), (unsigned long long)r->entry, what);
		used += strlen(out + used);
	}
}

/* Seal phase, the checks: it decodes, covers from the first entry not yet
 * sealed, names the signer, verifies, matches the chain and links to the
 * seal before. */
static int
seal_check(struct scan *s, const struct cu_seal *seal)
{
	const struct cu_entry_header *e = &s->e;
	struct cu_seg_scan *sc = s->sc;
	uint8_t msg[CU_SEAL_MSG_LEN];
	if (seal->first_covered != s->covered)
		return cu_seg_scan_fail(sc, e->ts_us, "seal at %s covers from entry %llu, expected %llu",
		                  entry_when(s), (unsigned long long)seal->first_covered,
		                  (unsigned long long)s->covered);
	if (!cu_ct_equal(seal->key_id, s->t->key_id, CU_SHA256_LEN))
		return cu_seg_scan_fail(sc, e->ts_us, "seal at %s names a signing key that is not %s",
		                  entry_when(s), s->t->signer_name);
	cu_seal_message(s->t->store_id, sc->hdr.camera_id, sc->hdr.seq, s->ebuf, s->pt, msg);
	if (cu_ed25519_verify(s->t->pub, msg, sizeof(msg), seal->sig) != 0)
		return cu_seg_scan_fail(sc, e->ts_us, "seal at %s: the signature does not verify with the "
		                  "recording server's key (re-signed or altered)", entry_when(s));
	if (!cu_ct_equal(seal->chain, s->before, CU_SHA256_LEN)) {
		char from[CU_TIME_ISO_MAX], recs[200];
		cu_time_text(s->tt.first_ts, from);
		sealed_records(s, recs, sizeof(recs));
		return cu_seg_scan_fail(sc, s->tt.first_ts >= 0 ? s->tt.first_ts : e->ts_us,
		                  "hash chain does not match the seal at %s: an entry sealed by it "
		                  "(%s%s%s) was altered, added or removed", entry_when(s),
		                  s->tt.first_ts >= 0 ? "frames from " : "no frames",
		                  s->tt.first_ts >= 0 ? from : "", recs);
	}
	if (sc->seals == 0)
		memcpy(sc->first_prev_seal, seal->prev_seal, CU_SHA256_LEN);
	else if (!cu_ct_equal(seal->prev_seal, sc->last_seal, CU_SHA256_LEN))
		return cu_seg_scan_fail(sc, e->ts_us, "seal at %s does not link to the seal before it",
		                  entry_when(s));
	return 0;
}

/* Seal phase: a valid seal proves everything up to it; its tentative counts
 * become the segment's. */
static int
scan_seal(struct scan *s)
{
	const struct cu_entry_header *e = &s->e;
	struct cu_seg_scan *sc = s->sc;
	struct tentative *tt = &s->tt;
	struct cu_seal seal;
	int r;
	if (cu_seal_decode(s->pt, e->plain_len, &seal) < 0)
		return cu_seg_scan_fail(sc, e->ts_us, "seal %llu at %s is malformed: %s",
		                  (unsigned long long)e->seq, entry_when(s), cu_error_detail());
	if ((r = seal_check(s, &seal)) != 0)
		return r;
	if ((r = cu_sha256(s->pt, e->plain_len, sc->last_seal)) < 0)
		return r;
	sc->seals++;
	sc->frames += tt->frames;
	sc->records += tt->records;
	if (tt->first_ts >= 0 && (sc->first_ts < 0 || tt->first_ts < sc->first_ts))
		sc->first_ts = tt->first_ts;
	if (tt->end_ts > sc->end_ts)
		sc->end_ts = tt->end_ts;
	if (tt->last_ts >= sc->last_ts && tt->last_ts >= 0) {
		sc->last_ts = tt->last_ts;
		sc->last_dur = tt->last_dur;
	}
	sc->nrecs = tt->nrecs;
	*tt = (struct tentative){.first_ts = -1, .last_ts = -1, .end_ts = -1, .nrecs = tt->nrecs};
	sc->good_end = s->off + CU_ENTRY_HEADER_LEN + e->stored_len;
	memcpy(sc->chain, s->chain, CU_SHA256_LEN);
	sc->last_entry = e->seq;
	sc->last_seal_ts = e->ts_us;
	s->covered = e->seq + 1;
	if (s->hooks != NULL && s->hooks->on_seal != NULL) {
		if ((r = s->hooks->on_seal(s->hooks->ctx)) < 0)
			return r;
		s->stop = r > 0; /* the hook has all it wants */
	}
	return 0;
}

/* One entry through its phases: entry, decrypt, the chain step, then by type
 * frame, record or seal. */
static int
scan_one(struct scan *s)
{
	int r;
	if ((r = scan_entry(s)) != 0)
		return r;
	if (s->e.type == CU_ENTRY_FRAME && s->sc->hdr.encryption != CU_ENC_NONE &&
	    (r = scan_decrypt(s)) != 0)
		return r;
	memcpy(s->before, s->chain, CU_SHA256_LEN);
	if ((r = hash_entry(s->sha, s->chain, s->ebuf, s->pt, s->e.plain_len)) < 0)
		return r;
	if (s->hooks != NULL && s->hooks->on_entry != NULL &&
	    (r = s->hooks->on_entry(s->hooks->ctx, s->ebuf, &s->e, s->pt)) < 0)
		return r;
	if (s->e.type == CU_ENTRY_FRAME)
		return scan_frame(s);
	if (s->e.type == CU_ENTRY_RECORD)
		return scan_record(s);
	return scan_seal(s);
}

static int
scan_impl(const struct cu_seg_trust *t, const struct cu_seg_source *src, struct cu_seg_scan *sc,
          void (*progress)(void *ctx, uint64_t bytes), void *pctx,
          const struct cu_scan_hooks *hooks)
{
	struct scan s = {.t = t, .src = src, .sc = sc, .hooks = hooks,
	                 .tt = {.first_ts = -1, .last_ts = -1, .end_ts = -1}};
	scan_reset(sc);
	cu_buf_init(&s.body, CU_ENTRY_BODY_MAX);
	cu_buf_init_secret(&s.plain, CU_FRAME_MAX);
	sc->file_size = src->size;
	int r = cu_sha256_new(&s.sha);
	if (r == 0)
		r = scan_header(&s);
	while (r == 0 && s.off < sc->file_size) {
		if ((r = scan_one(&s)) != 0)
			break;
		s.off += CU_ENTRY_HEADER_LEN + s.e.stored_len;
		s.expect++;
		if (s.stop)
			break;
		if (progress != NULL && s.off - s.reported >= PROGRESS_STEP) {
			progress(pctx, s.off - s.reported);
			s.reported = s.off;
		}
	}
	if (r >= 0) { /* checked: tampered or not */
		if (sc->fail == 0 && sc->seals == 0)
			cu_seg_scan_fail(sc, sc->hdr.created_us, "segment has no valid seal");
		r = 0;
	}
	if (hooks != NULL && hooks->on_discard != NULL)
		hooks->on_discard(hooks->ctx);
	if (progress != NULL && sc->file_size > s.reported)
		progress(pctx, sc->file_size - s.reported);
	cu_aead_free(s.aead);
	cu_sha256_free(s.sha);
	cu_buf_free(&s.body);
	cu_buf_free(&s.plain);
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

/* The state of one cu_store_verify: the cameras, their catalogue rows and
 * the jobs the pool reads. */
struct run {
	cu_store *s;
	const struct cu_verify_opts *opts;
	struct cu_cam_row *cams;
	size_t ncams;
	struct cu_seg_row **rows;                /* each camera's catalogue rows */
	size_t *nrows;
	struct job *jobs;                        /* camera by camera, seq order */
	size_t njobs;
	pthread_mutex_t lock;                    /* progress */
	uint64_t done, total;
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
		if (j->err < 0) /* the detail is a message: cut at its buffer, deliberately */
			cu_fmt_cut(j->err_detail, sizeof(j->err_detail), "%s", cu_error_detail());
	}
}

static void
cam_fail(struct cu_verify_camera *c, int64_t when, uint64_t seg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records c's failure at segment seg unless one is already recorded: the
 * first found is the one reported, or, when earlier, the one of the earliest
 * segment (0: no segment, never replaced). */
static void
cam_failv(struct cu_verify_camera *c, bool earlier, int64_t when, uint64_t seg,
          const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void
cam_failv(struct cu_verify_camera *c, bool earlier, int64_t when, uint64_t seg,
          const char *fmt, va_list ap)
{
	if (c->tampered && (!earlier || c->fail_segment == 0 || c->fail_segment <= seg))
		return;
	c->fail_segment = seg;
	cu_verify_failv(&c->tampered, &c->fail_time_us, c->fail_reason, sizeof(c->fail_reason),
	                when, fmt, ap);
}

static void
cam_fail(struct cu_verify_camera *c, int64_t when, uint64_t seg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cam_failv(c, false, when, seg, fmt, ap);
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
	va_list ap;
	va_start(ap, fmt);
	cam_failv(c, true, when, seg, fmt, ap);
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

/* The state of one camera's check: its catalogue rows, the jobs (segments
 * read) in seq order, and what the link phase leaves for the retention
 * phase. */
struct camcheck {
	cu_store *s;
	const struct cu_cam_row *cam;
	const struct cu_seg_row *all;            /* every catalogued segment */
	size_t nall;
	struct job *jobs;                        /* those read */
	size_t nj;
	bool whole;                              /* every segment was read (no window) */
	struct cu_verify_camera *c;              /* OUT: the camera's report */
	size_t *holes;                           /* jobs that follow a hole */
	size_t nholes;
	struct ret_set recs;                     /* retention records, by aux2 */
	const char *last_start_name;             /* of the newest start record */
	char when[CU_TIME_ISO_MAX];
};

/* Segment phase: the scan's verdict and the catalogue row agree. False when
 * the segment failed (reported). */
static bool
segment_sound(struct camcheck *k, struct job *j, bool last)
{
	struct cu_verify_camera *c = k->c;
	struct cu_seg_scan *sc = &j->scan;
	unsigned long long seq = (unsigned long long)j->row.seq;
	/* the unsealed tail of a segment still being written (or left by a crash
	 * that recovery will record) is not a failure */
	bool open_tail = j->row.status == CU_SEG_OPEN && last && sc->seals > 0 &&
	                 sc->good_end >= j->row.bytes;
	if (sc->fail != 0 && !open_tail) {
		cam_fail(c, row_time(j), j->row.seq, "segment %llu: %s", seq, sc->reason);
		return false;
	}
	if (open_tail)
		c->unsealed_bytes = sc->file_size - sc->good_end;
	if (memcmp(sc->hdr.camera_id, k->cam->id, CU_ID_LEN) != 0 || sc->hdr.seq != j->row.seq) {
		cam_fail(c, row_time(j), j->row.seq, "segment %llu: its header names another "
		         "camera or segment number (spliced in from elsewhere)", seq);
		return false;
	}
	if (j->row.status == CU_SEG_OPEN && !last) {
		/* a crash just after the next segment was catalogued: acceptable
		 * only if it ends exactly at its last seal, as a closed one does */
		if (sc->fail != 0 || sc->good_end != sc->file_size || j->row.bytes != sc->good_end) {
			cam_fail(c, row_time(j), j->row.seq, "segment %llu is marked open but is "
			         "not the newest", seq);
			return false;
		}
		j->row.status = CU_SEG_CLOSED;
	}
	if (j->row.status == CU_SEG_CLOSED &&
	    (sc->file_size != j->row.bytes || sc->good_end != j->row.bytes)) {
		cam_fail(c, row_time(j), j->row.seq, "segment %llu is %llu bytes, the catalogue "
		         "recorded %llu (truncated or extended)", seq,
		         (unsigned long long)sc->file_size, (unsigned long long)j->row.bytes);
		return false;
	}
	bool rowok = j->row.first_entry == sc->hdr.first_entry;
	if (j->row.status == CU_SEG_CLOSED)
		rowok = rowok && j->row.frames == sc->frames && j->row.start_us == sc->first_ts &&
		        j->row.end_us == sc->end_ts && j->row.last_entry == sc->last_entry &&
		        cu_ct_equal(j->row.end_chain, sc->chain, CU_SHA256_LEN) &&
		        cu_ct_equal(j->row.last_seal, sc->last_seal, CU_SHA256_LEN);
	else
		rowok = rowok && j->row.bytes <= sc->good_end && j->row.frames <= sc->frames;
	if (!rowok) {
		cu_time_text(sc->first_ts, k->when);
		cam_fail(c, sc->first_ts >= 0 ? sc->first_ts : row_time(j), j->row.seq,
		         "segment %llu: the catalogue row (times, counts or chain) disagrees "
		         "with the signed content, which starts at %s", seq, k->when);
		return false;
	}
	return true;
}

/* Link phase: segment i follows on from the one before it (a hole is noted,
 * judged in the retention phase). False when it does not (reported). */
static bool
segment_linked(struct camcheck *k, size_t i)
{
	const struct job *j = &k->jobs[i], *p = i > 0 ? &k->jobs[i - 1] : NULL;
	const struct cu_seg_scan *sc = &j->scan;
	bool linked;
	if (p != NULL && p->row.seq + 1 == j->row.seq && p->exists) {
		linked = cu_ct_equal(sc->hdr.prev_chain, p->scan.chain, CU_SHA256_LEN) &&
		         sc->hdr.first_entry == p->scan.last_entry + 1 &&
		         cu_ct_equal(sc->first_prev_seal, p->scan.last_seal, CU_SHA256_LEN);
	} else if (p != NULL && p->row.seq + 1 != j->row.seq) {
		/* a hole: judged once every segment's retention records are known */
		k->holes[k->nholes++] = i;
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
		for (size_t n = 0; n < k->nall; n++)
			if (k->all[n].seq + 1 == j->row.seq)
				prow = &k->all[n];
		linked = prow == NULL ||
		         (cu_ct_equal(sc->hdr.prev_chain, prow->end_chain, CU_SHA256_LEN) &&
		          cu_ct_equal(sc->first_prev_seal, prow->last_seal, CU_SHA256_LEN));
	}
	if (!linked) {
		cu_time_text(p ? p->row.end_us : -1, k->when);
		cam_fail(k->c, row_time(j), j->row.seq, "segment %llu does not follow on from the "
		         "segment before it (a segment was removed, replaced or reordered; last "
		         "good data ends at %s)", (unsigned long long)j->row.seq, k->when);
	}
	return linked;
}

/* Record phase: a sound, linked segment's gaps and counts join the report. */
static int
segment_count(struct camcheck *k, const struct job *j)
{
	struct cu_verify_camera *c = k->c;
	const struct cu_seg_scan *sc = &j->scan;
	int r;
	for (size_t n = 0; n < sc->nrecs; n++) {
		const struct cu_record *rec = &sc->recs[n].rec;
		if (rec->kind == CU_REC_START)
			k->last_start_name = rec->reason;
		/* a retention record deleting nothing only names a kept segment */
		bool deleted = rec->kind != CU_REC_RETENTION || rec->aux1 < rec->aux2;
		if ((rec->kind == CU_REC_GAP || rec->kind == CU_REC_RESTART ||
		     rec->kind == CU_REC_RETENTION || rec->kind == CU_REC_EVENT) && deleted &&
		    (r = add_gap(c, rec)) < 0)
			return r;
	}
	c->segments++;
	c->frames += sc->frames;
	c->seals += sc->seals;
	c->records += sc->records;
	c->bytes += sc->file_size;
	if (sc->first_ts >= 0 && (c->first_us < 0 || sc->first_ts < c->first_us))
		c->first_us = sc->first_ts;
	if (sc->end_ts > c->last_us)
		c->last_us = sc->end_ts;
	return 0;
}

/* Every segment of the camera, in order: read, sound, linked, counted. */
static int
check_segments(struct camcheck *k)
{
	for (size_t i = 0; i < k->nj; i++) {
		struct job *j = &k->jobs[i];
		if (j->err < 0)
			return cu_fail(j->err, "%s", j->err_detail);
		if (!j->exists) {
			cu_time_text(j->row.start_us, k->when);
			cam_fail(k->c, j->row.start_us, j->row.seq, "segment %llu (from %s) is missing: "
			         "its file was deleted", (unsigned long long)j->row.seq, k->when);
			continue;
		}
		if (!segment_sound(k, j, j->row.seq == k->all[k->nall - 1].seq) ||
		    !segment_linked(k, i))
			continue;
		int r = segment_count(k, j);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Retention phase, rule 5: a hole between two remaining segments p and j is
 * named whole by a signed retention record, and so is what came before the
 * first remaining segment. */
static int
check_holes(struct camcheck *k)
{
	struct cu_verify_camera *c = k->c;
	int r;
	if ((r = collect_retention(k->cam, k->jobs, k->nj, &k->recs)) < 0)
		return r;
	if (!k->whole && k->nholes > 0 &&
	    (r = records_after_window(k->s, k->cam, k->all, k->nall, k->jobs, k->nj, k->holes,
	                              k->nholes, &k->recs)) < 0)
		return r;
	for (size_t h = 0; h < k->nholes; h++) {
		const struct job *j = &k->jobs[k->holes[h]], *p = &k->jobs[k->holes[h] - 1];
		if (!hole_proven(k->recs.v, k->recs.n, j->row.seq, j->scan.hdr.prev_chain,
		                 p->row.seq + 1)) {
			cu_time_text(p->row.end_us, k->when);
			cam_fail_at(c, row_time(j), j->row.seq, "segment %llu does not follow on from the "
			            "segment before it (a segment was removed, replaced or reordered; "
			            "last good data ends at %s)", (unsigned long long)j->row.seq, k->when);
		}
	}
	if (k->whole && k->nall > 0 && k->all[0].seq > 1 && k->nj > 0 &&
	    k->jobs[0].row.seq == k->all[0].seq &&
	    !hole_proven(k->recs.v, k->recs.n, k->all[0].seq, k->jobs[0].scan.hdr.prev_chain,
	                 UINT64_MAX)) {
		int64_t t = row_time(&k->jobs[0]);
		cu_time_text(t, k->when);
		cam_fail_at(c, t, k->all[0].seq, "segments before %llu are gone without a signed "
		            "retention record (recording before %s was deleted)",
		            (unsigned long long)k->all[0].seq, k->when);
	}
	return 0;
}

/* Retention phase, rule 5, kept segments: a segment a retention record names
 * as kept (its aux2) remains, or a record says it is gone. Records are
 * sorted by aux2, so the first one missing is the earliest. Whole checks
 * only. */
static int
check_kept(struct camcheck *k)
{
	const struct cu_seg_row *all = k->all;
	struct span_u64 *gone = NULL;
	size_t ngone = 0;
	int r = gone_spans(k->recs.v, k->recs.n, &gone, &ngone);
	if (r < 0)
		return r;
	for (size_t n = 0; n < k->recs.n; n++) {
		uint64_t seq = k->recs.v[n].aux2;
		if (has_row(all, k->nall, seq) || in_spans(gone, ngone, seq))
			continue;
		size_t at = row_after(all, k->nall, seq);
		if (at == k->nall || k->nj != k->nall) {
			cam_fail_at(k->c, -1, seq, "segment %llu, which a signed retention record names "
			            "as kept, is gone with its catalogue row", (unsigned long long)seq);
		} else if (at == 0) {
			int64_t t = row_time(&k->jobs[0]);
			cu_time_text(t, k->when);
			cam_fail_at(k->c, t, all[0].seq, "segments before %llu are gone without a signed "
			            "retention record (segment %llu, which retention kept, was removed; "
			            "recording before %s was deleted)", (unsigned long long)all[0].seq,
			            (unsigned long long)seq, k->when);
		} else {
			cu_time_text(k->jobs[at - 1].row.end_us, k->when);
			cam_fail_at(k->c, row_time(&k->jobs[at]), all[at].seq, "segment %llu does not "
			            "follow on from the segment before it (segment %llu, which retention "
			            "kept, was removed; last good data ends at %s)",
			            (unsigned long long)all[at].seq, (unsigned long long)seq, k->when);
		}
		break;
	}
	free(gone);
	return 0;
}

/* Links and catalogue checks for one camera, over its jobs in seq order:
 * segments, then retention, then (whole checks) the name and files on disk
 * the catalogue does not list. */
static int
check_camera(cu_store *s, const struct cu_cam_row *cam, const struct cu_seg_row *all, size_t nall,
             struct job *jobs, size_t nj, bool whole, struct cu_verify_camera *c)
{
	struct camcheck k = {.s = s, .cam = cam, .all = all, .nall = nall, .jobs = jobs,
	                     .nj = nj, .whole = whole, .c = c};
	int r;
	if ((k.holes = calloc(nj ? nj : 1, sizeof(*k.holes))) == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	if ((r = check_segments(&k)) < 0 || (r = check_holes(&k)) < 0 ||
	    (whole && (r = check_kept(&k)) < 0))
		goto out;
	if (whole && k.last_start_name != NULL && strcmp(k.last_start_name, cam->name) != 0)
		cam_fail(c, c->first_us, 0, "the catalogue calls this camera \"%s\" but its signed "
		         "start record says \"%s\"", cam->name, k.last_start_name);
	if (whole)
		check_unlisted(s, cam, all, nall, c);
out:
	free(k.holes);
	free(k.recs.v);
	return r;
}

/* The cameras to check, with their catalogue rows, and the report's
 * identity fields. */
static int
verify_cameras(struct run *run, struct cu_verify_report *rep)
{
	cu_store *s = run->s;
	const struct cu_verify_opts *o = run->opts;
	int r;
	if (s->encryption != CU_ENC_NONE && !s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "this store is encrypted: verify needs its password");
	memcpy(rep->signer_subject, s->signer.subject, sizeof(rep->signer_subject));
	memcpy(rep->signer_fp, s->signer.fingerprint, CU_SHA256_LEN);
	memcpy(rep->ca_subject, s->ca.subject, sizeof(rep->ca_subject));
	memcpy(rep->ca_fp, s->ca.fingerprint, CU_SHA256_LEN);
	if (o->camera != NULL) {
		if ((run->cams = calloc(1, sizeof(*run->cams))) == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		if ((r = cu_catalog_camera(s, o->camera, false, run->cams)) < 0)
			return r;
		run->ncams = 1;
	} else if ((r = cu_catalog_cameras(s, &run->cams, &run->ncams)) < 0) {
		return r;
	}
	size_t n = run->ncams ? run->ncams : 1;
	rep->cameras = calloc(n, sizeof(*rep->cameras));
	run->rows = calloc(n, sizeof(*run->rows));
	run->nrows = calloc(n, sizeof(*run->nrows));
	if (rep->cameras == NULL || run->rows == NULL || run->nrows == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	rep->ncameras = run->ncams;
	for (size_t i = 0; i < run->ncams; i++) {
		struct cu_verify_camera *c = &rep->cameras[i];
		memcpy(c->name, run->cams[i].name, sizeof(c->name));
		cu_hex(run->cams[i].id, CU_ID_LEN, c->id);
		c->first_us = c->last_us = c->fail_time_us = -1;
		if ((r = cu_catalog_segments(s, run->cams[i].row, false, &run->rows[i],
		                             &run->nrows[i])) < 0)
			return r;
		for (size_t k = 0; k < run->nrows[i]; k++)
			if (run->rows[i][k].status == CU_SEG_CLOSED)
				c->closed_seq = run->rows[i][k].seq;
	}
	return 0;
}

/* A job for the segment of row k of camera i. */
static int
add_job(struct run *run, size_t i, size_t k, size_t *cap)
{
	const struct cu_seg_row *g = &run->rows[i][k];
	if (run->njobs == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct job *nj = realloc(run->jobs, ncap * sizeof(*nj));
		if (nj == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		run->jobs = nj;
		*cap = ncap;
	}
	struct job *j = &run->jobs[run->njobs++];
	memset(j, 0, sizeof(*j));
	j->cam = i;
	j->row = *g;
	int r = cu_store_segment_path(run->s, run->cams[i].id, g->seq, j->path, sizeof(j->path));
	if (r < 0)
		return r;
	struct stat st;
	j->exists = lstat(j->path, &st) == 0;
	if (j->exists)
		run->total += (uint64_t)st.st_size;
	return 0;
}

/* The segments to read: those overlapping [from, to], camera by camera. */
static int
plan_jobs(struct run *run, bool ranged)
{
	const struct cu_verify_opts *o = run->opts;
	size_t cap = 0;
	for (size_t i = 0; i < run->ncams; i++) {
		for (size_t k = 0; k < run->nrows[i]; k++) {
			const struct cu_seg_row *g = &run->rows[i][k];
			/* a segment whose row has no times yet (just opened: the catalogue
			 * learns its times at its first seal) holds only frames newer than
			 * the segment before it */
			int64_t prev_end = k > 0 ? run->rows[i][k - 1].end_us : -1;
			if (g->seq <= o->after_seq || (o->closed_only && g->status == CU_SEG_OPEN))
				continue;
			bool in = !ranged || (o->from_us == 0 && o->to_us == 0) ||
			          (g->start_us < 0 && (o->to_us == 0 || o->to_us >= prev_end)) ||
			          (g->start_us >= 0 && g->end_us >= o->from_us &&
			           (o->to_us == 0 || g->start_us <= o->to_us));
			int r = in ? add_job(run, i, k, &cap) : 0;
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* The verdict: the camera that failed first, the pinned CA, the recording
 * certificate's chain. */
static void
verify_verdict(const struct run *run, struct cu_verify_report *rep)
{
	const cu_store *s = run->s;
	int64_t first = -1;
	for (size_t i = 0; i < rep->ncameras; i++) {
		struct cu_verify_camera *c = &rep->cameras[i];
		if (!c->tampered)
			continue;
		if (!rep->tampered || cu_verify_fail_before(c->fail_time_us, first)) {
			rep->first_failure = i;
			first = c->fail_time_us;
		}
		rep->tampered = true;
	}
	if (run->opts->ca_fingerprint != NULL &&
	    !cu_ct_equal(run->opts->ca_fingerprint, s->ca.fingerprint, CU_SHA256_LEN)) {
		/* everything may verify, but under a CA nobody recorded: re-signed */
		rep->ca_mismatch = true;
		rep->tampered = true;
	}
	int cr = cu_x509_verify_chain(s->cert_pem, s->cert_len, s->ca_pem, s->ca_len, s->created_us);
	if (cr < 0 && rep->ncameras > 0 && !rep->tampered) {
		cam_fail(&rep->cameras[0], rep->cameras[0].first_us, 0,
		         "the recording server certificate does not chain to the site CA: %s",
		         cu_error_detail());
		rep->tampered = true;
		rep->first_failure = 0;
	} else if (cr < 0) {
		rep->tampered = true;
	}
}

int
cu_store_verify(cu_store *s, const struct cu_verify_opts *o, struct cu_verify_report **ret)
{
	struct run run = {.s = s, .opts = o};
	pthread_mutex_init(&run.lock, NULL);
	struct cu_verify_report *rep = calloc(1, sizeof(*rep));
	if (rep == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	bool ranged = o->from_us > 0 || o->to_us > 0 || o->after_seq > 0 || o->closed_only;
	int r;
	if ((r = verify_cameras(&run, rep)) < 0 || (r = plan_jobs(&run, ranged)) < 0)
		goto out;
	cu_pool_run(run.njobs, o->threads, worker, &run);
	if (o->cancel != NULL && atomic_load(o->cancel)) {
		r = cu_fail(CU_ERR_CANCELLED, "verification cancelled");
		goto out;
	}
	size_t at = 0;
	for (size_t i = 0; i < run.ncams; i++) {
		size_t n = 0;
		while (at + n < run.njobs && run.jobs[at + n].cam == i)
			n++;
		if ((r = check_camera(s, &run.cams[i], run.rows[i], run.nrows[i], run.jobs + at, n,
		                      !ranged, &rep->cameras[i])) < 0)
			goto out;
		if (n > 0)
			rep->cameras[i].checked_seq = run.jobs[at + n - 1].row.seq;
		at += n;
	}
	verify_verdict(&run, rep);
	r = 0;
out:
	for (size_t i = 0; i < run.njobs; i++)
		cu_seg_scan_free(&run.jobs[i].scan);
	free(run.jobs);
	for (size_t i = 0; run.rows != NULL && i < run.ncams; i++)
		free(run.rows[i]);
	free(run.rows);
	free(run.nrows);
	free(run.cams);
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
