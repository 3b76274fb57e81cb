/* The per-camera writer: hash ▸ encrypt ▸ append ▸ seal & sign ▸ flush.
 *
 * Entries are encoded into a pending buffer as they come; at every seal the
 * buffer is written with one write(), fdatasync'd, and only then is the
 * catalogue row updated. So the file never holds more than one unsealed
 * flush, and what the catalogue says is always durable. A failed write is
 * rolled back to the last durable seal (ftruncate) and the loss is recorded
 * as a signed GAP record as soon as writing works again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/time.h"
#include "store/store_int.h"
#include "custody/buf.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"

#define PENDING_MAX (64u * 1024 * 1024) /* seal early rather than buffer more */
#define BACKWARDS_MAX_US (10 * INT64_C(1000000))

/* The parts of the writer's state that a rollback restores. */
struct wstate {
	uint8_t chain[CU_SHA256_LEN];
	uint8_t prev_seal[CU_SHA256_LEN];
	uint64_t next_entry;
	uint64_t first_unsealed;  /* first entry not covered by a seal */
	int64_t start_us, end_us; /* frames of the current segment, -1 none */
	uint64_t frames;
	int64_t last_ts[2];       /* per track, for the backwards check */
};

struct cu_writer {
	cu_store *s;
	struct cu_cam_row cam;
	char cam_dir[PATH_MAX];
	char seg_path[PATH_MAX];
	int lock_fd;
	int fd;                   /* current segment file, -1 when none */
	struct cu_seg_header hdr;
	cu_aead *aead;
	cu_sha256_ctx *sha;
	cu_sign_key *sign;        /* the recording server's key, parsed once */
	cu_buf pending;           /* encoded entries not yet written */
	uint64_t durable_size;    /* bytes of the segment file made durable */
	uint64_t last_seq;        /* highest segment number ever used */
	struct wstate live, dur;  /* now, and as of the last durable seal */
	bool has_video;
	int64_t unsealed_mono;    /* when the first unsealed entry came; 0 none */
	int64_t unsealed_ts;      /* media time of the first unsealed frame; -1 none */
	bool lost;                /* frames were dropped and no GAP written yet */
	int64_t lost_from, lost_to;
	char lost_reason[160];
	bool pending_restart;
	struct cu_record restart;
	struct cu_seg_row recovered;  /* closed once the RESTART record is durable */
};

static void
state_reset_segment(struct wstate *st)
{
	st->start_us = st->end_us = -1;
	st->frames = 0;
}

/* Appends one entry (header + body) to pending and advances the chain. For
 * frames the body is encrypted as the store's mode says. */
static int
add_entry(cu_writer *w, struct cu_entry_header *h, const uint8_t *plain)
{
	int enc = w->hdr.encryption;
	h->seq = w->live.next_entry;
	h->stored_len = h->type == CU_ENTRY_FRAME ? cu_frame_stored_len(enc, h->plain_len)
	                                         : h->plain_len;
	int r = cu_buf_reserve(&w->pending, CU_ENTRY_HEADER_LEN + (size_t)h->stored_len);
	if (r < 0)
		return r;
	uint8_t *out = w->pending.data + w->pending.len;
	cu_entry_header_encode(h, out);
	uint8_t *body = out + CU_ENTRY_HEADER_LEN;
	if (h->type == CU_ENTRY_FRAME && enc != CU_ENC_NONE) {
		uint8_t nonce[CU_GCM_NONCE_LEN];
		size_t n = enc == CU_ENC_LIGHT && h->plain_len > CU_LIGHT_BYTES ? CU_LIGHT_BYTES
		                                                                : h->plain_len;
		cu_store_nonce(h->seq, nonce);
		r = cu_aead_seal(w->aead, nonce, sizeof(nonce), out, CU_ENTRY_HEADER_LEN, plain, n,
		                 body, body + n);
		if (r < 0)
			return r;
		memcpy(body + n + CU_GCM_TAG_LEN, plain + n, h->plain_len - n);
	} else {
		memcpy(body, plain, h->plain_len);
	}
	if ((r = cu_sha256_init(w->sha)) < 0 ||
	    (r = cu_sha256_update(w->sha, w->live.chain, CU_SHA256_LEN)) < 0 ||
	    (r = cu_sha256_update(w->sha, out, CU_ENTRY_CANON_LEN)) < 0 ||
	    (r = cu_sha256_update(w->sha, plain, h->plain_len)) < 0 ||
	    (r = cu_sha256_final(w->sha, w->live.chain)) < 0)
		return r;
	w->pending.len += CU_ENTRY_HEADER_LEN + h->stored_len;
	w->live.next_entry++;
	if (w->unsealed_mono == 0)
		w->unsealed_mono = cu_time_mono_us();
	return 0;
}

/* Seals everything since the last seal (or, with force, nothing: the seal
 * that opens a segment). */
static int
add_seal(cu_writer *w, bool force)
{
	if (!force && w->live.first_unsealed == w->live.next_entry)
		return 0;
	struct cu_entry_header h = {
		.type = CU_ENTRY_SEAL, .seq = w->live.next_entry, .ts_us = cu_time_now_us(),
		.plain_len = CU_SEAL_BODY_LEN, .stored_len = CU_SEAL_BODY_LEN,
	};
	struct cu_seal seal = {.sig_alg = CU_SIG_ED25519, .first_covered = w->live.first_unsealed};
	memcpy(seal.chain, w->live.chain, CU_SHA256_LEN);
	memcpy(seal.prev_seal, w->live.prev_seal, CU_SHA256_LEN);
	memcpy(seal.key_id, w->s->signer.fingerprint, CU_SHA256_LEN);
	uint8_t hbuf[CU_ENTRY_HEADER_LEN], body[CU_SEAL_BODY_LEN], msg[CU_SEAL_MSG_LEN];
	cu_entry_header_encode(&h, hbuf);
	cu_seal_encode(&seal, body);
	cu_seal_message(w->s->id, w->cam.id, w->hdr.seq, hbuf, body, msg);
	int r = cu_sign_key_sign(w->sign, msg, sizeof(msg), seal.sig);
	if (r < 0)
		return r;
	cu_seal_encode(&seal, body);
	if ((r = add_entry(w, &h, body)) < 0)
		return r;
	w->live.first_unsealed = w->live.next_entry;
	return cu_sha256(body, sizeof(body), w->live.prev_seal);
}

static int
add_record(cu_writer *w, const struct cu_record *rec)
{
	uint8_t body[CU_RECORD_MAX];
	size_t n = cu_record_encode(rec, body);
	struct cu_entry_header h = {
		.type = CU_ENTRY_RECORD, .ts_us = cu_time_now_us(), .plain_len = (uint32_t)n,
	};
	return add_entry(w, &h, body);
}

static void
row_from_state(const cu_writer *w, int status, struct cu_seg_row *row)
{
	row->seq = w->hdr.seq;
	row->status = status;
	row->start_us = w->dur.start_us;
	row->end_us = w->dur.end_us;
	row->first_entry = w->hdr.first_entry;
	row->last_entry = w->dur.next_entry - 1;
	row->frames = w->dur.frames;
	row->bytes = w->durable_size;
	memcpy(row->end_chain, w->dur.chain, CU_SHA256_LEN);
	memcpy(row->last_seal, w->dur.prev_seal, CU_SHA256_LEN);
}

/* Drops everything not yet durable and notes the loss. */
static int
rollback(cu_writer *w, int err)
{
	int64_t from = w->unsealed_ts >= 0 ? w->unsealed_ts : w->dur.end_us;
	if (w->fd >= 0 && ftruncate(w->fd, (off_t)w->durable_size) < 0) {
		/* The tail stays; crash recovery will cut it at the last seal. */
	}
	cu_buf_reset(&w->pending);
	w->live = w->dur;
	w->unsealed_mono = 0;
	w->unsealed_ts = -1;
	if (!w->lost) {
		w->lost = true;
		w->lost_from = from >= 0 ? from : cu_time_now_us();
		w->lost_to = w->lost_from;
		cu_fmt_cut(w->lost_reason, sizeof(w->lost_reason),
		           "frames lost: the store could not be written (%s)", cu_strerror(err));
	}
	return err;
}

/* Writes pending with one write(), makes it durable, then updates the row. */
static int
flush_pending(cu_writer *w)
{
	if (w->pending.len == 0)
		return 0;
	int r = cu_write_all(w->fd, w->pending.data, w->pending.len, w->seg_path);
	if (r == 0 && fdatasync(w->fd) < 0)
		r = cu_fail_errno(errno, "fdatasync %s", w->seg_path);
	if (r < 0)
		return rollback(w, r);
	w->durable_size += w->pending.len;
	cu_buf_reset(&w->pending);
	w->dur = w->live;
	w->unsealed_mono = 0;
	w->unsealed_ts = -1;
	struct cu_seg_row row;
	row_from_state(w, CU_SEG_OPEN, &row);
	/* The data is durable whatever happens here; a stale row is mended by
	 * crash recovery, which trusts the file up to its last valid seal. */
	return cu_catalog_segment_put(w->s, w->cam.row, &row, false);
}

static int
seal_and_flush(cu_writer *w)
{
	int r = add_seal(w, false);
	if (r < 0)
		return rollback(w, r);
	return flush_pending(w);
}

static void
segment_release(cu_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	cu_aead_free(w->aead);
	w->aead = NULL;
	cu_buf_reset(&w->pending);
}

/* Seals, flushes and marks the current segment closed. */
static int
segment_close(cu_writer *w)
{
	if (w->fd < 0)
		return 0;
	int r = seal_and_flush(w);
	if (r < 0)
		return r;
	struct cu_seg_row row;
	row_from_state(w, CU_SEG_CLOSED, &row);
	r = cu_catalog_segment_put(w->s, w->cam.row, &row, true);
	segment_release(w);
	return r;
}

/* Records that must open the next segment: RESTART, the loss, START. */
static int
add_opening_records(cu_writer *w, bool start)
{
	int r;
	if (w->pending_restart && (r = add_record(w, &w->restart)) < 0)
		return r;
	if (w->lost) {
		struct cu_record g = {.kind = CU_REC_GAP, .from_us = w->lost_from, .to_us = w->lost_to};
		memcpy(g.reason, w->lost_reason, sizeof(w->lost_reason));
		if ((r = add_record(w, &g)) < 0)
			return r;
	}
	if (start) {
		struct cu_record st = {.kind = CU_REC_START, .from_us = cu_time_now_us()};
		st.to_us = st.from_us;
		memcpy(st.reason, w->cam.name, strlen(w->cam.name) + 1);
		if ((r = add_record(w, &st)) < 0)
			return r;
	}
	return 0;
}

/* Creates the next segment file: header, opening records, a seal; durable
 * before its catalogue row exists, so every segment file holds a valid seal. */
static int
segment_open(cu_writer *w, bool start)
{
	struct cu_seg_header *h = &w->hdr;
	uint8_t key[CU_AES256_KEY_LEN], hbuf[CU_SEG_HEADER_LEN];
	memset(h, 0, sizeof(*h));
	h->version = CU_SEG_VERSION;
	h->encryption = (uint8_t)w->s->encryption;
	h->hash_alg = CU_HASH_SHA256;
	h->sig_alg = CU_SIG_ED25519;
	memcpy(h->store_id, w->s->id, CU_ID_LEN);
	memcpy(h->camera_id, w->cam.id, CU_ID_LEN);
	h->seq = w->last_seq + 1;
	h->created_us = cu_time_now_us();
	h->first_entry = w->live.next_entry;
	memcpy(h->prev_chain, w->live.chain, CU_SHA256_LEN);
	int r = cu_random(h->key_salt, sizeof(h->key_salt));
	if (r < 0)
		return r;
	if ((r = cu_store_segment_path(w->s, w->cam.id, h->seq, w->seg_path, sizeof(w->seg_path))) < 0)
		return r;
	if ((r = cu_store_segment_key(w->s, h, key)) < 0)
		return r;
	r = cu_aead_new(key, &w->aead);
	cu_wipe(key, sizeof(key));
	if (r < 0)
		return r;
	w->fd = open(w->seg_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0) {
		r = cu_fail_errno(errno, "creating %s", w->seg_path);
		goto fail;
	}
	cu_seg_header_encode(h, hbuf);
	cu_buf_reset(&w->pending);
	if ((r = cu_buf_append(&w->pending, hbuf, sizeof(hbuf))) < 0)
		goto fail;
	w->durable_size = 0;
	state_reset_segment(&w->live);
	if ((r = cu_chain_init(hbuf, w->live.chain)) < 0)
		goto fail;
	if ((r = add_opening_records(w, start)) < 0 || (r = add_seal(w, true)) < 0)
		goto fail;
	r = cu_write_all(w->fd, w->pending.data, w->pending.len, w->seg_path);
	if (r == 0 && fdatasync(w->fd) < 0)
		r = cu_fail_errno(errno, "fdatasync %s", w->seg_path);
	if (r < 0 || (r = cu_fsync_dir(w->cam_dir)) < 0)
		goto fail;
	w->durable_size = w->pending.len;
	cu_buf_reset(&w->pending);
	w->dur = w->live;
	w->unsealed_mono = 0;
	w->unsealed_ts = -1;
	w->last_seq = h->seq;
	struct cu_seg_row row;
	row_from_state(w, CU_SEG_OPEN, &row);
	if ((r = cu_catalog_segment_put(w->s, w->cam.row, &row, true)) < 0) {
		/* Without its row the file would look planted; take it back. */
		unlink(w->seg_path);
		w->last_seq--;
		goto fail;
	}
	if (w->pending_restart) {
		w->recovered.status = CU_SEG_CLOSED;
		if ((r = cu_catalog_segment_put(w->s, w->cam.row, &w->recovered, true)) < 0)
			return r; /* both rows open: the next open recovers again */
	}
	w->pending_restart = false;
	w->lost = false;
	return 0;
fail:
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
		unlink(w->seg_path);
	}
	cu_aead_free(w->aead);
	w->aead = NULL;
	cu_buf_reset(&w->pending);
	w->live = w->dur;
	return r;
}

/* ---- recovery on open ---- */

static bool
parse_seg_name(const char *name, uint64_t *ret)
{
	size_t n = strlen(name);
	if (n != 20 || strcmp(name + 16, ".seg") != 0)
		return false;
	char digits[17];
	memcpy(digits, name, 16);
	digits[16] = '\0';
	return cu_parse_u64(digits, UINT64_MAX, "segment file name", ret) == 0;
}

/* Files the catalogue does not know: a segment created just before a crash
 * (only its opening records, no frames) is removed; anything else is refused. */
static int
remove_orphans(cu_writer *w, const struct cu_seg_row *rows, size_t n)
{
	DIR *d = opendir(w->cam_dir);
	if (d == NULL)
		return cu_fail_errno(errno, "%s", w->cam_dir);
	int r = 0;
	struct dirent *e;
	uint64_t max = n ? rows[n - 1].seq : 0;
	while ((e = readdir(d)) != NULL) {
		uint64_t seq;
		if (!parse_seg_name(e->d_name, &seq))
			continue;
		char path[PATH_MAX];
		if ((r = cu_path(path, sizeof(path), "%s/%s", w->cam_dir, e->d_name)) < 0)
			break;
		bool known = false, deleted = false;
		for (size_t i = n; i-- > 0;) {
			if (rows[i].seq == seq) {
				known = true;
				deleted = rows[i].status == CU_SEG_DELETED;
				break;
			}
		}
		if (deleted) {
			unlink(path); /* retention was interrupted after its record was durable */
			continue;
		}
		if (known)
			continue;
		struct cu_seg_scan scan;
		int sr = seq == max + 1 ? cu_segment_scan(w->s, path, &scan, NULL, NULL) : -1;
		bool empty = sr == 0 && scan.frames == 0;
		if (sr == 0)
			cu_seg_scan_free(&scan);
		if (!empty) {
			r = cu_fail(CU_ERR_TAMPERED, "%s: segment file not in the catalogue; "
			            "run custody verify", path);
			break;
		}
		unlink(path);
	}
	closedir(d);
	return r < 0 ? r : cu_fsync_dir(w->cam_dir);
}

/* The last session ended without a clean stop: cut the unsealed tail. */
static int
recover_open_segment(cu_writer *w, struct cu_seg_row *row)
{
	char path[PATH_MAX];
	struct cu_seg_scan scan;
	int r = cu_store_segment_path(w->s, w->cam.id, row->seq, path, sizeof(path));
	if (r < 0 || (r = cu_segment_scan(w->s, path, &scan, NULL, NULL)) < 0)
		return r;
	if (scan.seals == 0 || scan.good_end < row->bytes) {
		r = cu_fail(CU_ERR_TAMPERED, "%s: the sealed part recorded in the catalogue does not "
		            "verify (%s); run custody verify", path,
		            scan.fail ? scan.reason : "file shorter than catalogued");
		goto out;
	}
	uint64_t discarded = scan.file_size - scan.good_end;
	if (discarded > 0) {
		int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			r = cu_fail_errno(errno, "%s", path);
			goto out;
		}
		if (ftruncate(fd, (off_t)scan.good_end) < 0 || fdatasync(fd) < 0)
			r = cu_fail_errno(errno, "cutting the unsealed tail of %s", path);
		close(fd);
		if (r < 0)
			goto out;
	}
	/* The row stays open until the next segment (which carries the RESTART
	 * record) has its own row: a crash before then recovers this one again,
	 * so the restart is never left unrecorded. */
	row->status = CU_SEG_OPEN;
	row->bytes = scan.good_end;
	row->frames = scan.frames;
	row->start_us = scan.first_ts;
	row->end_us = scan.end_ts;
	row->last_entry = scan.last_entry;
	memcpy(row->end_chain, scan.chain, CU_SHA256_LEN);
	memcpy(row->last_seal, scan.last_seal, CU_SHA256_LEN);
	if ((r = cu_catalog_segment_put(w->s, w->cam.row, row, true)) < 0)
		goto out;
	char when[CU_TIME_ISO_MAX];
	int64_t last = row->end_us >= 0 ? row->end_us : scan.last_seal_ts;
	cu_time_text(last, when);
	struct cu_record *rec = &w->restart;
	memset(rec, 0, sizeof(*rec));
	rec->kind = CU_REC_RESTART;
	rec->from_us = last;
	rec->to_us = cu_time_now_us();
	rec->aux1 = discarded;
	rec->aux2 = row->seq;
	memcpy(rec->hash, scan.chain, CU_SHA256_LEN);
	cu_fmt_cut(rec->reason, sizeof(rec->reason),
	           "restart after an unclean stop: last sealed data at %s, %llu unsealed bytes "
	           "discarded from segment %llu", when, (unsigned long long)discarded,
	           (unsigned long long)row->seq);
	w->pending_restart = true;
	w->recovered = *row;
	r = 0;
out:
	cu_seg_scan_free(&scan);
	return r;
}

/* A closed last segment: check its tail seal against the catalogue before
 * extending the chain from it. */
static int
check_closed_tail(cu_writer *w, const struct cu_seg_row *row)
{
	char path[PATH_MAX];
	int r = cu_store_segment_path(w->s, w->cam.id, row->seq, path, sizeof(path));
	if (r < 0)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cu_fail(CU_ERR_TAMPERED, "%s: missing; run custody verify", path);
	uint8_t buf[CU_ENTRY_HEADER_LEN + CU_SEAL_BODY_LEN], body_hash[CU_SHA256_LEN];
	uint8_t after[CU_SHA256_LEN];
	struct stat st;
	struct cu_entry_header h;
	struct cu_seal seal;
	r = fstat(fd, &st) < 0 ? cu_fail_errno(errno, "%s", path) : 0;
	if (r == 0 && (uint64_t)st.st_size != row->bytes)
		r = cu_fail(CU_ERR_TAMPERED, "%s: %lld bytes, the catalogue says %llu; run custody "
		            "verify", path, (long long)st.st_size, (unsigned long long)row->bytes);
	if (r == 0)
		r = cu_pread_all(fd, buf, sizeof(buf), row->bytes - sizeof(buf), path);
	close(fd);
	if (r < 0)
		return r;
	cu_sha256_ctx *c = w->sha;
	if (cu_entry_header_decode(buf, sizeof(buf), &h) < 0 || h.type != CU_ENTRY_SEAL ||
	    h.seq != row->last_entry ||
	    cu_seal_decode(buf + CU_ENTRY_HEADER_LEN, CU_SEAL_BODY_LEN, &seal) < 0)
		return cu_fail(CU_ERR_TAMPERED, "%s: does not end with its seal; run custody verify",
		               path);
	if ((r = cu_sha256_init(c)) < 0 || (r = cu_sha256_update(c, seal.chain, CU_SHA256_LEN)) < 0 ||
	    (r = cu_sha256_update(c, buf, CU_ENTRY_CANON_LEN)) < 0 ||
	    (r = cu_sha256_update(c, buf + CU_ENTRY_HEADER_LEN, CU_SEAL_BODY_LEN)) < 0 ||
	    (r = cu_sha256_final(c, after)) < 0 ||
	    (r = cu_sha256(buf + CU_ENTRY_HEADER_LEN, CU_SEAL_BODY_LEN, body_hash)) < 0)
		return r;
	if (!cu_ct_equal(after, row->end_chain, CU_SHA256_LEN) ||
	    !cu_ct_equal(body_hash, row->last_seal, CU_SHA256_LEN))
		return cu_fail(CU_ERR_TAMPERED, "%s: its last seal does not match the catalogue; "
		               "run custody verify", path);
	return 0;
}

static int
recover(cu_writer *w)
{
	struct cu_seg_row *rows = NULL;
	size_t n = 0;
	int r = cu_catalog_segments(w->s, w->cam.row, true, &rows, &n);
	if (r < 0)
		return r;
	if ((r = remove_orphans(w, rows, n)) < 0)
		goto out;
	memset(&w->live, 0, sizeof(w->live));
	w->live.next_entry = 1;
	w->live.first_unsealed = 1;
	w->live.last_ts[0] = w->live.last_ts[1] = -1;
	/* An earlier open row (a crash between a new segment's row and closing
	 * the recovered one) is closed if it ends exactly at a seal. */
	for (size_t i = 0; i + 1 < n; i++) {
		if (rows[i].status != CU_SEG_OPEN)
			continue;
		if ((r = check_closed_tail(w, &rows[i])) < 0)
			goto out;
		rows[i].status = CU_SEG_CLOSED;
		if ((r = cu_catalog_segment_put(w->s, w->cam.row, &rows[i], true)) < 0)
			goto out;
	}
	if (n > 0) {
		struct cu_seg_row *last = &rows[n - 1];
		if (last->status == CU_SEG_OPEN)
			r = recover_open_segment(w, last);
		else if (last->status == CU_SEG_CLOSED)
			r = check_closed_tail(w, last);
		if (r < 0)
			goto out;
		memcpy(w->live.chain, last->end_chain, CU_SHA256_LEN);
		memcpy(w->live.prev_seal, last->last_seal, CU_SHA256_LEN);
		w->live.next_entry = last->last_entry + 1;
		w->live.first_unsealed = w->live.next_entry;
		w->live.last_ts[CU_TRACK_VIDEO] = w->live.last_ts[CU_TRACK_AUDIO] = last->end_us;
		w->last_seq = last->seq;
	}
	state_reset_segment(&w->live);
	w->dur = w->live;
out:
	free(rows);
	return r;
}

int
cu_writer_open(cu_store *s, const char *camera, cu_writer **ret)
{
	int r = cu_camera_name_check(camera);
	if (r < 0)
		return r;
	if (!s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "recording needs the store password");
	/* Never sign under a certificate that names another key: verify would
	 * (rightly) call everything written tampered. */
	uint8_t pub[CU_ED25519_KEY_LEN];
	if ((r = cu_ed25519_public(s->keys.sign, pub)) < 0)
		return r;
	if (!cu_ct_equal(pub, s->signer.ed25519_pub, sizeof(pub)))
		return cu_fail(CU_ERR_TAMPERED, "%s/%s does not certify this store's signing key; "
		               "run custody verify", s->dir, CU_CERT_FILE);
	if ((r = cu_catalog_writable(s)) < 0)
		return r;
	cu_writer *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	w->s = s;
	w->fd = w->lock_fd = -1;
	w->unsealed_ts = -1;
	/* not a secret buffer: it holds exactly the bytes that go to disk */
	cu_buf_init(&w->pending, PENDING_MAX + CU_FRAME_MAX + 4096);
	if ((r = cu_sha256_new(&w->sha)) < 0 || (r = cu_sign_key_new(s->keys.sign, &w->sign)) < 0)
		goto fail;
	if ((r = cu_catalog_camera(s, camera, true, &w->cam)) < 0 ||
	    (r = cu_store_camera_dir(s, w->cam.id, w->cam_dir, sizeof(w->cam_dir))) < 0 ||
	    (r = cu_mkdir(w->cam_dir, 0700)) < 0)
		goto fail;
	char lock[PATH_MAX];
	if ((r = cu_path(lock, sizeof(lock), "%s/lock", w->cam_dir)) < 0)
		goto fail;
	w->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->lock_fd < 0) {
		r = cu_fail_errno(errno, "%s", lock);
		goto fail;
	}
	if (flock(w->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK
		        ? cu_fail(CU_ERR_BUSY, "camera \"%s\" is being recorded by another process",
		                  camera)
		        : cu_fail_errno(errno, "locking %s", lock);
		goto fail;
	}
	if ((r = recover(w)) < 0 || (r = segment_open(w, true)) < 0)
		goto fail;
	*ret = w;
	return 0;
fail:
	segment_release(w);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	cu_sha256_free(w->sha);
	cu_sign_key_free(w->sign);
	cu_buf_free(&w->pending);
	free(w);
	return r;
}

static bool
want_new_segment(const cu_writer *w, const cu_frame *f)
{
	if (w->live.frames == 0)
		return false;
	int64_t age = f->ts_us - w->live.start_us;
	uint64_t size = w->durable_size + w->pending.len + f->len + 4096;
	bool cut_point = f->key && (f->track == CU_TRACK_VIDEO || !w->has_video);
	return (cut_point && age >= w->s->segment_us) || age >= 2 * w->s->segment_us ||
	       size > CU_SEGMENT_BYTES_MAX;
}

static bool
want_seal(const cu_writer *w, const cu_frame *f)
{
	if (w->live.first_unsealed == w->live.next_entry)
		return false;
	bool gop = f->key && f->track == CU_TRACK_VIDEO;
	return gop || (w->unsealed_ts >= 0 && f->ts_us - w->unsealed_ts >= CU_SEAL_US) ||
	       w->pending.len + f->len > PENDING_MAX;
}

int
cu_writer_append(cu_writer *w, const cu_frame *f)
{
	if (f == NULL || f->data == NULL || f->len == 0 || f->len > CU_FRAME_MAX)
		return cu_fail(CU_ERR_INVAL, "frame of %zu bytes: must be 1 to %u bytes",
		               f ? f->len : 0, CU_FRAME_MAX);
	if (f->codec < CU_CODEC_H264 || f->codec > CU_CODEC_AAC || f->track > CU_TRACK_AUDIO ||
	    f->ts_us < 0 || f->dur_us > CU_FRAME_DURATION_MAX)
		return cu_fail(CU_ERR_INVAL, "frame has an unknown codec/track or a time out of range");
	int64_t prev = w->live.last_ts[f->track];
	if (prev >= 0 && f->ts_us < prev - BACKWARDS_MAX_US)
		return cu_fail(CU_ERR_INVAL, "frame time goes back %lld µs (limit 10 s)",
		               (long long)(prev - f->ts_us));
	int r;
	if (w->lost)
		w->lost_to = f->ts_us;
	if (w->fd < 0 || w->lost) {
		/* A failed write closed nothing durable: start afresh, GAP first. */
		if (w->fd >= 0 && (r = segment_close(w)) < 0)
			return r;
		if ((r = segment_open(w, false)) < 0)
			return r;
	} else if (want_new_segment(w, f)) {
		if ((r = segment_close(w)) < 0 || (r = segment_open(w, false)) < 0)
			return r;
	} else if (want_seal(w, f) && (r = seal_and_flush(w)) < 0) {
		return r;
	}
	struct cu_entry_header h = {
		.type = CU_ENTRY_FRAME, .codec = f->codec, .track = f->track,
		.flags = f->key ? CU_ENTRY_FLAG_KEY : 0, .ts_us = f->ts_us, .dur_us = f->dur_us,
		.plain_len = (uint32_t)f->len,
	};
	if ((r = add_entry(w, &h, f->data)) < 0)
		return rollback(w, r);
	if (f->track == CU_TRACK_VIDEO)
		w->has_video = true;
	if (w->unsealed_ts < 0)
		w->unsealed_ts = f->ts_us;
	if (w->live.start_us < 0 || f->ts_us < w->live.start_us)
		w->live.start_us = f->ts_us;
	if (f->ts_us + f->dur_us > w->live.end_us)
		w->live.end_us = f->ts_us + f->dur_us;
	w->live.frames++;
	w->live.last_ts[f->track] = f->ts_us;
	return cu_writer_tick(w);
}

int
cu_writer_tick(cu_writer *w)
{
	if (w->fd < 0 || w->unsealed_mono == 0)
		return 0;
	if (cu_time_mono_us() - w->unsealed_mono < CU_SEAL_US)
		return 0;
	return seal_and_flush(w);
}

int
cu_writer_flush(cu_writer *w)
{
	return w->fd < 0 ? 0 : seal_and_flush(w);
}

int
cu_writer_gap(cu_writer *w, int64_t from_us, int64_t to_us, const char *reason)
{
	if (from_us < 0 || to_us < from_us || reason == NULL)
		return cu_fail(CU_ERR_INVAL, "gap needs 0 <= from <= to and a reason");
	int r;
	if (w->fd < 0 && (r = segment_open(w, false)) < 0)
		return r;
	struct cu_record g = {.kind = CU_REC_GAP, .from_us = from_us, .to_us = to_us};
	size_t n = strnlen(reason, CU_REASON_MAX);
	memcpy(g.reason, reason, n);
	g.reason[n] = '\0';
	if ((r = add_record(w, &g)) < 0)
		return rollback(w, r);
	return seal_and_flush(w);
}

/* The text of an EVENT record, checked by reading it back: a field that
 * breaks its rule (or holds a line feed, which would move the others) is
 * refused, never written. */
static int
note_text(const struct cu_event_note *n, struct cu_record *rec)
{
	if (n->at_us < 0)
		return cu_fail(CU_ERR_INVAL, "event record: a negative time");
	if (cu_fmt_cut(rec->reason, sizeof(rec->reason), "%s\n%s\n%s\n%s\n%s", n->type,
	               cu_event_phase_name(n->phase), n->source,
	               cu_event_severity_name(n->severity), n->detail))
		return cu_fail(CU_ERR_INVAL, "event record: longer than %d bytes", CU_REASON_MAX);
	struct cu_event_note back;
	if (cu_event_text_parse(rec->reason, strlen(rec->reason), &back) < 0)
		return cu_fail_prefix(CU_ERR_INVAL, "event record");
	if (strcmp(back.type, n->type) != 0 || back.phase != n->phase ||
	    strcmp(back.source, n->source) != 0 || back.severity != n->severity ||
	    strcmp(back.detail, n->detail) != 0)
		return cu_fail(CU_ERR_INVAL, "event record: a field holds a line feed");
	rec->kind = CU_REC_EVENT;
	rec->from_us = rec->to_us = n->at_us;
	return 0;
}

int
cu_writer_note(cu_writer *w, const struct cu_event_note *n)
{
	struct cu_record rec = {0};
	int r;
	if ((r = note_text(n, &rec)) < 0)
		return r;
	if (w->fd < 0 && (r = segment_open(w, false)) < 0)
		return r;
	if ((r = add_record(w, &rec)) < 0)
		return rollback(w, r);
	return seal_and_flush(w);
}

/* The previous-chain value in the header of segment seq: what a RETENTION
 * record naming seq as the next kept segment signs (its hash). */
static int
segment_prev_chain(cu_writer *w, uint64_t seq, uint8_t out[static CU_SHA256_LEN])
{
	if (w->fd >= 0 && seq == w->hdr.seq) {
		memcpy(out, w->hdr.prev_chain, CU_SHA256_LEN);
		return 0;
	}
	char path[PATH_MAX];
	uint8_t buf[CU_SEG_HEADER_LEN];
	struct cu_seg_header h;
	int r = cu_store_segment_path(w->s, w->cam.id, seq, path, sizeof(path));
	if (r < 0)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cu_fail(CU_ERR_TAMPERED, "%s: missing (%s); run custody verify", path,
		               strerror(errno));
	r = cu_pread_all(fd, buf, sizeof(buf), 0, path);
	close(fd);
	if (r < 0)
		return r;
	if (cu_seg_header_decode(buf, sizeof(buf), &h) < 0 || h.seq != seq ||
	    memcmp(h.camera_id, w->cam.id, CU_ID_LEN) != 0)
		return cu_fail(CU_ERR_TAMPERED, "%s: its header does not name this camera's segment "
		               "%llu; run custody verify", path, (unsigned long long)seq);
	memcpy(out, h.prev_chain, CU_SHA256_LEN);
	return 0;
}

/* The RETENTION records for the segments that will remain when those marked
 * in del are gone too: one for every hole (a run of gone segments before a
 * kept one), each naming the whole hole, and, when segment 1 itself stays
 * but holes exist, one naming segment 1 (aux1 = aux2 = 1). Together they
 * name every kept segment that a hole follows, and the first one, so that
 * verify can tell a kept segment removed later from one retention deleted
 * (docs/formats/media-database.md §Verify, rule 5). Holes left by earlier
 * runs are stated again: their records may be in segments deleted now. */
static int
retention_records(cu_writer *w, const struct cu_seg_row *rows, size_t n, const bool *del,
                  int64_t max_age_us, uint64_t max_bytes, struct cu_record **ret,
                  size_t *ret_n)
{
	struct cu_record *recs = calloc(n + 1, sizeof(*recs));
	size_t nrec = 0;
	if (recs == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	int r = 0;
	uint64_t hole_start = 1;       /* first seq after the last kept segment */
	size_t now = 0;                /* segments of the current hole deleted by this call */
	int64_t from = -1, to = -1;    /* the current hole's frames */
	bool in_hole = false;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct cu_seg_row *g = &rows[i];
		if (g->seq != (i > 0 ? rows[i - 1].seq + 1 : 1)) {
			/* rows are only ever marked deleted, never removed: signing a record
			 * over this hole would make a removal look like retention */
			r = cu_fail(CU_ERR_TAMPERED, "camera %s: segments before %llu are missing from "
			            "the catalogue; run custody verify", w->cam.name,
			            (unsigned long long)g->seq);
			break;
		}
		if (g->status == CU_SEG_DELETED || del[i]) {
			in_hole = true;
			now += del[i];
			if (g->start_us >= 0 && (from < 0 || g->start_us < from))
				from = g->start_us;
			if (g->end_us > to)
				to = g->end_us;
			continue;
		}
		/* a kept segment: it closes the hole before it, if there is one */
		if (in_hole) {
			struct cu_record *rec = &recs[nrec++];
			rec->kind = CU_REC_RETENTION;
			rec->from_us = from;
			rec->to_us = to;
			rec->aux1 = hole_start;
			rec->aux2 = g->seq;
			r = segment_prev_chain(w, g->seq, rec->hash);
			if (now > 0)
				cu_fmt_cut(rec->reason, sizeof(rec->reason), "retention: %zu segment(s) "
				           "deleted, segments %llu to %llu are gone (max age %lld s, max "
				           "bytes %llu)", now, (unsigned long long)hole_start,
				           (unsigned long long)(g->seq - 1),
				           (long long)(max_age_us / 1000000), (unsigned long long)max_bytes);
			else
				cu_fmt_cut(rec->reason, sizeof(rec->reason), "retention: segments %llu to "
				           "%llu stay deleted (stated again)", (unsigned long long)hole_start,
				           (unsigned long long)(g->seq - 1));
		}
		hole_start = g->seq + 1;
		in_hole = false;
		now = 0;
		from = to = -1;
	}
	if (r == 0 && nrec > 0 && n > 0 && rows[0].seq == 1 && rows[0].status != CU_SEG_DELETED &&
	    !del[0]) {
		/* segment 1 stays: name it, or removing it with everything up to the
		 * first hole would look like one deleted prefix */
		struct cu_record *rec = &recs[nrec++];
		rec->kind = CU_REC_RETENTION;
		rec->from_us = rec->to_us = rows[0].start_us;
		rec->aux1 = rec->aux2 = 1;
		cu_fmt_cut(rec->reason, sizeof(rec->reason), "retention: segment 1 is kept (evidence "
		           "lock), later ones were deleted");
	}
	if (r < 0) {
		free(recs);
		return r;
	}
	*ret = recs;
	*ret_n = nrec;
	return 0;
}

int
cu_writer_retention(cu_writer *w, int64_t max_age_us, uint64_t max_bytes, int64_t now_us,
                    struct cu_retention_result *ret)
{
	struct cu_seg_row *rows = NULL, *gone = NULL;
	struct cu_span *spans = NULL;
	struct cu_record *recs = NULL;
	bool *del = NULL;
	size_t n = 0, nspans = 0, nrecs = 0, ndel = 0;
	struct cu_retention_result res = {.next_deletable_us = -1};
	/* records go into the open segment; a mere question (no limits) writes none */
	bool query = max_age_us == 0 && max_bytes == 0;
	int r = w->fd < 0 && !query ? segment_open(w, false) : 0;
	if (r < 0 || (r = cu_catalog_segments(w->s, w->cam.row, true, &rows, &n)) < 0 ||
	    (r = cu_lock_spans(w->s, w->cam.row, now_us, &spans, &nspans)) < 0)
		goto out;
	del = calloc(n + 1, sizeof(*del));
	gone = calloc(n + 1, sizeof(*gone));
	if (del == NULL || gone == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (rows[i].status != CU_SEG_DELETED)
			total += rows[i].bytes;
	/* Oldest first, closed only (the open segment, the newest, is never
	 * deleted), past what an active evidence lock keeps. */
	for (size_t i = 0; i < n; i++) {
		const struct cu_seg_row *g = &rows[i];
		if (g->status == CU_SEG_DELETED)
			continue;
		if (g->status != CU_SEG_CLOSED || g->seq == w->hdr.seq || i + 1 == n)
			break;
		bool too_old = max_age_us > 0 && g->end_us < now_us - max_age_us;
		bool too_big = max_bytes > 0 && total > max_bytes;
		if (!too_old && !too_big)
			break;
		if (cu_lock_covers(spans, nspans, g)) {
			res.segments_locked++;
			continue;
		}
		del[i] = true;
		gone[ndel++] = *g;
		total -= g->bytes;
		res.bytes_freed += g->bytes;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cu_seg_row *g = &rows[i];
		if (g->status == CU_SEG_DELETED || del[i])
			continue;
		if (g->status != CU_SEG_CLOSED || g->seq == w->hdr.seq || i + 1 == n)
			break;
		if (g->start_us >= 0 && !cu_lock_covers(spans, nspans, g)) {
			res.next_deletable_us = g->start_us;
			break;
		}
	}
	if (ndel == 0)
		goto done;
	if ((r = retention_records(w, rows, n, del, max_age_us, max_bytes, &recs, &nrecs)) < 0)
		goto out;
	for (size_t i = 0; i < nrecs; i++) {
		if ((r = add_record(w, &recs[i])) < 0) {
			r = rollback(w, r);
			goto out;
		}
	}
	/* The records are signed and durable before anything is removed. */
	if ((r = seal_and_flush(w)) < 0)
		goto out;
	if ((r = cu_lock_segments_delete(w->s, w->cam.row, gone, ndel, now_us)) < 0)
		goto out;
	for (size_t i = 0; i < ndel; i++) {
		char path[PATH_MAX];
		if (cu_store_segment_path(w->s, w->cam.id, gone[i].seq, path, sizeof(path)) == 0 &&
		    unlink(path) < 0 && errno != ENOENT) {
			r = cu_fail_errno(errno, "deleting %s", path);
			goto out;
		}
	}
	res.segments_deleted = ndel;
	r = cu_fsync_dir(w->cam_dir);
done:
	if (ret != NULL && r == 0)
		*ret = res;
out:
	free(rows);
	free(gone);
	free(spans);
	free(recs);
	free(del);
	return r;
}

int
cu_writer_close(cu_writer *w)
{
	if (w == NULL)
		return 0;
	int r = 0;
	if (w->fd < 0 && w->lost)
		r = segment_open(w, false); /* try to leave the loss on record */
	if (w->fd >= 0) {
		struct cu_record st = {.kind = CU_REC_STOP, .from_us = cu_time_now_us()};
		st.to_us = st.from_us;
		memcpy(st.reason, "recording stopped", 18);
		r = add_record(w, &st);
		if (r < 0)
			rollback(w, r);
		int r2 = segment_close(w);
		if (r == 0)
			r = r2;
	}
	segment_release(w);
	if (w->lock_fd >= 0)
		close(w->lock_fd); /* releases the flock */
	cu_sha256_free(w->sha);
	cu_sign_key_free(w->sign);
	cu_buf_free(&w->pending);
	free(w);
	return r;
}
