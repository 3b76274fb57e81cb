/* A still of a recorded moment, for GET cameras/{c}/still/{at} and for
 * stills exports (see still.h). */
#include <stdlib.h>
#include <string.h>

#include "custody/mux.h"
#include "still.h"
#include "custody/error.h"

/* Frames from the newest key frame at or before a still's moment up to it
 * (read verified from the store). */
struct framebuf {
	cu_frame *frames;
	uint8_t **datas;
	size_t n, cap;
	int64_t at;
};

static void
framebuf_clear(struct framebuf *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->datas[i]);
	s->n = 0;
}

static int
still_frame(void *ctx, const cu_frame *f)
{
	struct framebuf *s = ctx;
	if (f->track != CU_TRACK_VIDEO)
		return 0;
	if (f->ts_us > s->at && s->n > 0)
		return CU_ERR_CANCELLED; /* past the moment: enough */
	if (f->key && f->ts_us <= s->at)
		framebuf_clear(s);
	if (s->n == CU_STILL_FRAMES_MAX)
		return cu_fail(CU_ERR_LIMIT, "more than %d frames between the key frame and the "
		               "moment", CU_STILL_FRAMES_MAX);
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		cu_frame *fr = realloc(s->frames, nc * sizeof(*fr));
		if (fr == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		s->frames = fr;
		uint8_t **d = realloc(s->datas, nc * sizeof(*d));
		if (d == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		s->datas = d;
		s->cap = nc;
	}
	uint8_t *copy = malloc(f->len ? f->len : 1);
	if (copy == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	memcpy(copy, f->data, f->len);
	s->frames[s->n] = *f;
	s->frames[s->n].data = copy;
	s->datas[s->n++] = copy;
	return 0;
}

int
cd_still_at(cu_store *store, const char *camera, int64_t at, uint8_t **ret, size_t *ret_len)
{
	struct framebuf s = {.at = at};
	int r = cu_store_read(store, camera, at, at + CD_STILL_WINDOW_US, still_frame, &s, NULL);
	if (r == CU_ERR_CANCELLED)
		r = 0;
	if (r == 0 && s.n == 0)
		r = CU_ERR_NOTFOUND;
	if (r == 0) {
		const cu_frame **fp = malloc(s.n * sizeof(*fp));
		if (fp == NULL) {
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
		} else {
			for (size_t i = 0; i < s.n; i++)
				fp[i] = &s.frames[i];
			struct cu_still_opts so = {.at_us = at, .camera = camera};
			r = cu_still_jpeg(fp, s.n, &so, ret, ret_len);
			free(fp);
		}
	}
	framebuf_clear(&s);
	free(s.datas);
	free(s.frames);
	return r;
}

