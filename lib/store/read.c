/* Reading verified frames: each segment is scanned with hooks; frames wait in
 * a batch until the seal that covers them verifies, then go to the caller.
 * A pre-roll keeps the frames since the last video key frame before the
 * range, so that what is served starts with a decodable frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "custody/time.h"
#include "store/store_int.h"
#include "custody/buf.h"
#include "custody/error.h"

#define BATCH_MAX (96u * 1024 * 1024)  /* a seal covers at most ~64 MiB (writer's PENDING_MAX) */
#define PREROLL_MAX (64u * 1024 * 1024)

/* A frame kept in a buffer: its header, then its bytes. */
struct kept {
	int64_t ts_us;
	uint32_t dur_us, len;
	uint8_t codec, track, key;
};

struct reader {
	int64_t from, to;
	int (*on_frame)(void *ctx, const cu_frame *f);
	void *ctx;
	cu_buf batch;                      /* unproven frames since the last seal */
	cu_buf preroll;                    /* proven frames before `from`, since a key frame */
	bool started;                      /* a frame at or after `from` went out */
	bool done;                         /* past `to` */
	struct cu_read_info info;
};

static int
keep(cu_buf *b, const struct cu_entry_header *h, const uint8_t *plain)
{
	struct kept k = {.ts_us = h->ts_us, .dur_us = h->dur_us, .len = h->plain_len,
	                 .codec = h->codec, .track = h->track, .key = h->flags & CU_ENTRY_FLAG_KEY};
	int r = cu_buf_append(b, &k, sizeof(k));
	return r < 0 ? r : cu_buf_append(b, plain, h->plain_len);
}

static int
on_frame(void *ctx, const struct cu_entry_header *h, const uint8_t *plain)
{
	struct reader *rd = ctx;
	if (rd->done)
		return 0;
	int r = keep(&rd->batch, h, plain);
	return r == CU_ERR_LIMIT ? cu_fail(CU_ERR_TAMPERED, "more than %u bytes under one seal",
	                                   BATCH_MAX) : r;
}

static int
emit(struct reader *rd, const struct kept *k, const uint8_t *data)
{
	cu_frame f = {.ts_us = k->ts_us, .dur_us = k->dur_us, .codec = k->codec,
	              .track = k->track, .key = k->key, .data = data, .len = k->len};
	int r = rd->on_frame(rd->ctx, &f);
	if (r < 0)
		return r;
	rd->info.frames++;
	rd->info.bytes += k->len;
	if (rd->info.first_us < 0)
		rd->info.first_us = k->ts_us;
	rd->info.last_us = k->ts_us;
	return 0;
}

static int
on_seal(void *ctx)
{
	struct reader *rd = ctx;
	size_t off = 0;
	int r = 0;
	while (r == 0 && off < rd->batch.len && !rd->done) {
		struct kept k;
		memcpy(&k, rd->batch.data + off, sizeof(k));
		const uint8_t *data = rd->batch.data + off + sizeof(k);
		off += sizeof(k) + k.len;
		if (rd->to > 0 && k.ts_us > rd->to && k.track == CU_TRACK_VIDEO) {
			rd->done = true;
			break;
		}
		if (!rd->started && k.ts_us < rd->from) {
			/* before the range: keep from the latest video key frame on */
			if (k.key && k.track == CU_TRACK_VIDEO)
				cu_buf_reset(&rd->preroll);
			if (rd->preroll.len > 0 || (k.key && k.track == CU_TRACK_VIDEO)) {
				struct cu_entry_header h = {.ts_us = k.ts_us, .dur_us = k.dur_us,
				                            .plain_len = k.len, .codec = k.codec,
				                            .track = k.track,
				                            .flags = k.key ? CU_ENTRY_FLAG_KEY : 0};
				if (keep(&rd->preroll, &h, data) < 0)
					cu_buf_reset(&rd->preroll); /* an absurd GOP: start at the range */
			}
			continue;
		}
		if (!rd->started) {
			rd->started = true;
			/* a range that starts on a key frame needs nothing before it */
			if (k.key && k.track == CU_TRACK_VIDEO)
				cu_buf_reset(&rd->preroll);
			for (size_t p = 0; r == 0 && p < rd->preroll.len;) {
				struct kept pk;
				memcpy(&pk, rd->preroll.data + p, sizeof(pk));
				r = emit(rd, &pk, rd->preroll.data + p + sizeof(pk));
				p += sizeof(pk) + pk.len;
			}
			cu_buf_reset(&rd->preroll);
		}
		if (r == 0)
			r = emit(rd, &k, data);
	}
	cu_buf_reset(&rd->batch);
	return r;
}

static void
on_discard(void *ctx)
{
	struct reader *rd = ctx;
	cu_buf_reset(&rd->batch);
}

/* Retention may leave holes (footage under an evidence lock is kept while
 * what is around it goes). A hole between segments prev_seq and sc's is
 * crossed when the catalogue marks every segment in it deleted and the last
 * of them ends where sc's chain begins. verify checks the signed RETENTION
 * record of the hole; a read trusts the catalogue here, as it does for the
 * segment before the first one it reads. */
static int
deleted_between(cu_store *s, int64_t cam, uint64_t prev_seq, const struct cu_seg_scan *sc,
                bool *ret)
{
	struct cu_seg_row *all = NULL;
	size_t n = 0;
	int r = cu_catalog_segments(s, cam, true, &all, &n);
	if (r < 0)
		return r;
	uint64_t want = prev_seq + 1;
	const struct cu_seg_row *last = NULL;
	bool ok = true;
	for (size_t i = 0; i < n && ok && all[i].seq < sc->hdr.seq; i++) {
		if (all[i].seq <= prev_seq)
			continue;
		ok = all[i].seq == want && all[i].status == CU_SEG_DELETED;
		last = &all[i];
		want++;
	}
	*ret = ok && last != NULL && want == sc->hdr.seq &&
	       cu_ct_equal(sc->hdr.prev_chain, last->end_chain, CU_SHA256_LEN) &&
	       cu_ct_equal(sc->first_prev_seal, last->last_seal, CU_SHA256_LEN) &&
	       sc->hdr.first_entry == last->last_entry + 1;
	free(all);
	return 0;
}

int
cu_store_read(cu_store *s, const char *camera, int64_t from_us, int64_t to_us,
              int (*cb)(void *ctx, const cu_frame *f), void *ctx, struct cu_read_info *ret_info)
{
	if (cb == NULL || from_us < 0 || (to_us != 0 && to_us < from_us))
		return cu_fail(CU_ERR_INVAL, "read: a callback and 0 <= from <= to are needed");
	if (s->encryption != CU_ENC_NONE && !s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "this store is encrypted: reading needs its password");
	struct cu_cam_row cam;
	struct cu_seg_row *rows = NULL;
	size_t n = 0;
	int r = cu_catalog_camera(s, camera, false, &cam);
	if (r < 0 || (r = cu_catalog_segments(s, cam.row, false, &rows, &n)) < 0)
		return r;
	struct reader rd = {.from = from_us, .to = to_us, .on_frame = cb, .ctx = ctx,
	                    .info = {.first_us = -1, .last_us = -1}};
	cu_buf_init_secret(&rd.batch, BATCH_MAX);
	cu_buf_init_secret(&rd.preroll, PREROLL_MAX);
	struct cu_scan_hooks hooks = {.on_frame = on_frame, .on_seal = on_seal,
	                              .on_discard = on_discard, .ctx = &rd};
	struct cu_seg_scan prev;
	bool have_prev = false;
	char when[CU_TIME_ISO_MAX];
	for (size_t i = 0; i < n && !rd.done; i++) {
		const struct cu_seg_row *g = &rows[i];
		/* segments wholly before the range matter only for a pre-roll key frame:
		 * start at the last one that ends before from_us */
		if (g->end_us >= 0 && g->end_us < from_us && i + 1 < n && rows[i + 1].start_us >= 0 &&
		    rows[i + 1].start_us <= from_us)
			continue;
		if (to_us > 0 && g->start_us > to_us)
			break;
		char path[PATH_MAX];
		struct cu_seg_scan sc;
		if ((r = cu_store_segment_path(s, cam.id, g->seq, path, sizeof(path))) < 0)
			break;
		cu_time_text(g->start_us, when);
		struct stat st;
		if (lstat(path, &st) < 0) {
			r = cu_fail(CU_ERR_TAMPERED, "camera %s: segment %llu (from %s) is missing", camera,
			            (unsigned long long)g->seq, when);
			break;
		}
		if ((r = cu_segment_scan_hooked(s, path, &sc, &hooks)) < 0) {
			if (r != CU_ERR_TAMPERED)
				break;
			/* a hook refused (more under one seal than a writer ever puts) */
			r = cu_fail_prefix(CU_ERR_TAMPERED, "camera %s: segment %llu (from %s)", camera,
			                   (unsigned long long)g->seq, when);
			break;
		}
		bool last = i + 1 == n, hole_ok = false;
		bool open_tail = g->status == CU_SEG_OPEN && last && sc.seals > 0 &&
		                 sc.good_end >= g->bytes;
		const char *why = NULL;
		if (sc.fail != 0 && !open_tail)
			why = sc.reason;
		else if (memcmp(sc.hdr.camera_id, cam.id, CU_ID_LEN) != 0 || sc.hdr.seq != g->seq)
			why = "its header names another camera or segment (spliced in)";
		else if (g->status == CU_SEG_CLOSED && (sc.file_size != g->bytes || sc.good_end != g->bytes))
			why = "its size differs from the catalogue (truncated or extended)";
		else if (have_prev && prev.hdr.seq + 1 == sc.hdr.seq &&
		         (!cu_ct_equal(sc.hdr.prev_chain, prev.chain, CU_SHA256_LEN) ||
		          !cu_ct_equal(sc.first_prev_seal, prev.last_seal, CU_SHA256_LEN)))
			why = "it does not follow on from the segment before";
		else if (!have_prev && i > 0 && rows[i - 1].seq + 1 == g->seq &&
		         (!cu_ct_equal(sc.hdr.prev_chain, rows[i - 1].end_chain, CU_SHA256_LEN) ||
		          !cu_ct_equal(sc.first_prev_seal, rows[i - 1].last_seal, CU_SHA256_LEN)))
			why = "it does not follow on from the segment before";
		else if (have_prev && prev.hdr.seq + 1 != sc.hdr.seq &&
		         (r = deleted_between(s, cam.row, prev.hdr.seq, &sc, &hole_ok)) < 0) {
			cu_seg_scan_free(&sc);
			break;
		} else if (have_prev && prev.hdr.seq + 1 != sc.hdr.seq && !hole_ok)
			why = "the segment before it is missing from the catalogue";
		if (why != NULL) {
			r = cu_fail(CU_ERR_TAMPERED, "camera %s: segment %llu (from %s) fails verification: %s",
			            camera, (unsigned long long)g->seq, when, why);
			cu_seg_scan_free(&sc);
			break;
		}
		if (have_prev)
			cu_seg_scan_free(&prev);
		prev = sc;
		have_prev = true;
	}
	if (have_prev)
		cu_seg_scan_free(&prev);
	free(rows);
	cu_buf_free(&rd.batch);
	cu_buf_free(&rd.preroll);
	if ((r == 0 || r == CU_ERR_TAMPERED) && ret_info != NULL)
		*ret_info = rd.info;
	return r;
}

int
cu_store_ranges(cu_store *s, const char *camera, int64_t from_us, int64_t to_us,
                int64_t tolerance_us, size_t max, struct cu_range **ret, size_t *ret_n,
                bool *ret_truncated)
{
	if (max == 0 || max > CU_RANGES_MAX || tolerance_us < 0 || from_us < 0 ||
	    (to_us != 0 && to_us < from_us))
		return cu_fail(CU_ERR_INVAL, "ranges: bad window or limit");
	struct cu_cam_row cam;
	int r = cu_catalog_camera(s, camera, false, &cam);
	if (r < 0)
		return r;
	struct cu_seg_row *rows = NULL;
	size_t n = 0;
	if ((r = cu_catalog_segments(s, cam.row, false, &rows, &n)) < 0)
		return r;
	struct cu_range *out = NULL;
	size_t k = 0, cap = 0;
	bool truncated = false;
	for (size_t i = 0; i < n; i++) {
		const struct cu_seg_row *g = &rows[i];
		if (g->start_us < 0 || g->end_us < g->start_us)
			continue; /* no frames yet */
		if (g->end_us < from_us || (to_us != 0 && g->start_us > to_us))
			continue;
		if (k > 0 && g->start_us <= out[k - 1].to_us + tolerance_us) {
			if (g->end_us > out[k - 1].to_us)
				out[k - 1].to_us = g->end_us;
			continue;
		}
		if (k == max) {
			truncated = true;
			break;
		}
		if (k == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct cu_range *p = realloc(out, nc * sizeof(*p));
			if (p == NULL) {
				free(out);
				free(rows);
				return cu_fail(CU_ERR_NOMEM, "out of memory");
			}
			out = p;
			cap = nc;
		}
		out[k++] = (struct cu_range){g->start_us, g->end_us};
	}
	free(rows);
	*ret = out;
	*ret_n = k;
	if (ret_truncated != NULL)
		*ret_truncated = truncated;
	return 0;
}

int
cu_store_camera_exists(cu_store *s, const char *camera)
{
	if (cu_camera_name_check(camera) < 0)
		return 0;
	struct cu_cam_row cam;
	int r = cu_catalog_camera(s, camera, false, &cam);
	if (r == CU_ERR_NOTFOUND)
		return 0;
	return r < 0 ? r : 1;
}
