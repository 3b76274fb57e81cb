/* Export support: choosing the segments of a range and re-writing a segment
 * in encryption mode none for an evidence package, verifying it as it goes.
 * The copy keeps every seal valid because the chain and the seal messages
 * cover only the canonical header, the canonical entry headers and the
 * plaintext (docs/formats/media-database.md), none of which changes. */
#include <stdlib.h>
#include <string.h>

#include "store/export.h"
#include "custody/buf.h"
#include "custody/error.h"

/* A seal covers at most ~64 MiB (the writer's PENDING_MAX); as read.c. */
#define PENDING_MAX (96u * 1024 * 1024)

int
cu_export_select(cu_store *s, const char *camera, int64_t from_us, int64_t to_us,
                 uint8_t ret_cam_id[static CU_ID_LEN], struct cu_export_seg **ret, size_t *ret_n)
{
	struct cu_cam_row cam;
	struct cu_seg_row *rows = NULL;
	size_t n = 0, k = 0;
	int r = cu_catalog_camera(s, camera, false, &cam);
	if (r < 0 || (r = cu_catalog_segments(s, cam.row, false, &rows, &n)) < 0)
		return r;
	struct cu_export_seg *out = calloc(n ? n : 1, sizeof(*out));
	if (out == NULL) {
		free(rows);
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const struct cu_seg_row *g = &rows[i];
		if (g->start_us < 0 || g->end_us < from_us || g->start_us > to_us)
			continue; /* no frames, or none in the range */
		out[k++] = (struct cu_export_seg){.seq = g->seq, .status = g->status,
		                                  .start_us = g->start_us, .end_us = g->end_us,
		                                  .bytes = g->bytes};
	}
	free(rows);
	if (k == 0) {
		free(out);
		out = NULL;
	}
	memcpy(ret_cam_id, cam.id, CU_ID_LEN);
	*ret = out;
	*ret_n = k;
	return 0;
}

struct rewrite {
	cu_buf pending;                    /* the copy since the last valid seal */
	int (*sink)(void *ctx, const void *data, size_t len);
	void *ctx;
	uint64_t stop_entry, last_seq, bytes;
};

static int
rw_append(struct rewrite *w, const void *p, size_t n)
{
	int r = cu_buf_append(&w->pending, p, n);
	return r == CU_ERR_LIMIT ? cu_fail(CU_ERR_TAMPERED, "more than %u bytes under one seal",
	                                   PENDING_MAX) : r;
}

static int
rw_header(void *ctx, const uint8_t raw[static CU_SEG_HEADER_LEN])
{
	uint8_t h[CU_SEG_HEADER_LEN];
	memcpy(h, raw, sizeof(h));
	h[12] = CU_ENC_NONE;
	memset(h + 16, 0, 32); /* the key salt: no key */
	return rw_append(ctx, h, sizeof(h));
}

static int
rw_entry(void *ctx, const uint8_t raw[static CU_ENTRY_HEADER_LEN], const struct cu_entry_header *e,
         const uint8_t *plain)
{
	struct rewrite *w = ctx;
	uint8_t h[CU_ENTRY_HEADER_LEN];
	memcpy(h, raw, sizeof(h));
	cu_put_u32(h + 32, e->plain_len); /* stored length in mode none */
	int r = rw_append(w, h, sizeof(h));
	if (r == 0)
		r = rw_append(w, plain, e->plain_len);
	w->last_seq = e->seq;
	return r;
}

static int
rw_seal(void *ctx)
{
	struct rewrite *w = ctx;
	if (w->stop_entry != 0 && w->last_seq > w->stop_entry)
		return cu_fail(CU_ERR_TAMPERED, "the segment changed while it was exported (no seal "
		               "at entry %llu)", (unsigned long long)w->stop_entry);
	int r = w->sink(w->ctx, w->pending.data, w->pending.len);
	if (r < 0)
		return r;
	w->bytes += w->pending.len;
	cu_buf_reset(&w->pending);
	return w->stop_entry != 0 && w->last_seq == w->stop_entry ? 1 : 0;
}

static void
rw_discard(void *ctx)
{
	struct rewrite *w = ctx;
	cu_buf_reset(&w->pending);
}

int
cu_segment_export(const cu_store *s, const uint8_t cam_id[static CU_ID_LEN], uint64_t seq,
                  uint64_t stop_entry, int (*sink)(void *ctx, const void *data, size_t len),
                  void *ctx, struct cu_seg_scan *ret_scan, uint64_t *ret_bytes)
{
	char path[PATH_MAX];
	if (s->encryption != CU_ENC_NONE && !s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "this store is encrypted: export needs its password");
	int r = cu_store_segment_path(s, cam_id, seq, path, sizeof(path));
	if (r < 0)
		return r;
	struct rewrite w = {.sink = sink, .ctx = ctx, .stop_entry = stop_entry};
	cu_buf_init_secret(&w.pending, PENDING_MAX);
	struct cu_scan_hooks hooks = {
		.on_seal = rw_seal, .on_discard = rw_discard, .ctx = &w,
		.on_header = rw_header, .on_entry = rw_entry,
	};
	r = cu_segment_scan_hooked(s, path, ret_scan, &hooks);
	cu_buf_free(&w.pending);
	if (r < 0)
		return r;
	*ret_bytes = w.bytes;
	return 0;
}

int
cu_export_identity(const cu_store *s, struct cu_export_identity *ret)
{
	if (!s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "export needs the store opened with its password "
		               "(the export signature uses the server key)");
	*ret = (struct cu_export_identity){
		.store_id = s->id, .ca_pem = s->ca_pem, .ca_len = s->ca_len,
		.cert_pem = s->cert_pem, .cert_len = s->cert_len, .ca = &s->ca, .signer = &s->signer,
	};
	return 0;
}

int
cu_export_message(const void *manifest, size_t len, uint8_t **ret, size_t *ret_len)
{
	if (len > SIZE_MAX - CU_EXPORT_SIG_DOMAIN_LEN)
		return cu_fail(CU_ERR_LIMIT, "manifest too large");
	uint8_t *m = malloc(CU_EXPORT_SIG_DOMAIN_LEN + len);
	if (m == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	memcpy(m, CU_EXPORT_SIG_DOMAIN, CU_EXPORT_SIG_DOMAIN_LEN); /* with its NUL */
	if (len > 0)
		memcpy(m + CU_EXPORT_SIG_DOMAIN_LEN, manifest, len);
	*ret = m;
	*ret_len = CU_EXPORT_SIG_DOMAIN_LEN + len;
	return 0;
}

int
cu_export_sign(const cu_store *s, const void *manifest, size_t len,
               uint8_t sig[static CU_ED25519_SIG_LEN])
{
	if (!s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "signing an export needs the store password");
	uint8_t *msg;
	size_t n;
	int r = cu_export_message(manifest, len, &msg, &n);
	if (r < 0)
		return r;
	r = cu_ed25519_sign(s->keys.sign, msg, n, sig);
	free(msg);
	return r;
}
