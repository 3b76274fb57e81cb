/* Live view fan-out (see live.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody/mux.h"
#include "custody/store.h"
#include "live.h"
#include "custody/buf.h"
#include "custody/error.h"

#define LIVE_ERRORS_MAX 50

struct cd_viewer {
	struct cd_viewer *next;
	char camera[CU_CAMERA_NAME_MAX + 1];
	struct cd_ws *ws;
	cu_mp4 *mp4;
	struct cu_buf pending;            /* bytes of the fragment being written */
	bool failed;
	int errors;                       /* frames refused in a row */
	uint64_t bytes, frames;
};

struct cd_live {
	pthread_mutex_t lock;
	struct cd_viewer *viewers;
	atomic_int count;
};

int
cd_live_new(struct cd_live **ret)
{
	struct cd_live *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&l->lock, NULL);
	*ret = l;
	return 0;
}

void
cd_live_free(struct cd_live *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static int
viewer_write(void *ctx, const uint8_t *data, size_t len)
{
	struct cd_viewer *v = ctx;
	return cu_buf_append(&v->pending, data, len);
}

void
cd_live_publish(struct cd_live *l, const char *camera, const cu_frame *f)
{
	if (l == NULL || atomic_load(&l->count) == 0)
		return;
	pthread_mutex_lock(&l->lock);
	for (struct cd_viewer *v = l->viewers; v != NULL; v = v->next) {
		if (v->failed || strcmp(v->camera, camera) != 0)
			continue;
		int r = cu_mp4_frame(v->mp4, f);
		if (r == 1)
			v->frames++;
		v->errors = r < 0 ? v->errors + 1 : 0;
		/* a frame the file cannot take is left out; a writer that refuses
		 * everything (it failed for good) ends the view */
		if ((r < 0 && r != CU_ERR_FORMAT && r != CU_ERR_UNSUPPORTED && r != CU_ERR_INVAL &&
		     r != CU_ERR_LIMIT) || v->errors > LIVE_ERRORS_MAX) {
			v->failed = true;
			cd_ws_close(v->ws, "the live stream failed");
			continue;
		}
		if (v->pending.len > 0) {
			if (cd_ws_send(v->ws, v->pending.data, v->pending.len) < 0)
				v->failed = true; /* too slow or gone: cd_ws_send closes it */
			v->bytes += v->pending.len;
			v->pending.len = 0;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

int
cd_live_subscribe(struct cd_live *l, const char *camera, struct cd_ws *ws, struct cd_viewer **ret)
{
	if (atomic_load(&l->count) >= CD_LIVE_VIEWERS_MAX)
		return cu_fail(CU_ERR_BUSY, "%d live viewers are watching, the most allowed",
		               CD_LIVE_VIEWERS_MAX);
	struct cd_viewer *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	int k = snprintf(v->camera, sizeof(v->camera), "%s", camera);
	if (k < 0 || (size_t)k >= sizeof(v->camera)) {
		free(v);
		return cu_fail(CU_ERR_LIMIT, "camera name longer than %zu bytes", sizeof(v->camera) - 1);
	}
	v->ws = ws;
	cu_buf_init(&v->pending, CU_MP4_FRAGMENT_BYTES_MAX + CU_MP4_PARAMS_MAX + 65536);
	struct cu_mp4_opts o = {.fragmented = true, .write = viewer_write, .ctx = v,
	                        .camera = camera};
	int r = cu_mp4_new(&o, &v->mp4);
	if (r < 0) {
		free(v);
		return r;
	}
	pthread_mutex_lock(&l->lock);
	v->next = l->viewers;
	l->viewers = v;
	atomic_fetch_add(&l->count, 1);
	pthread_mutex_unlock(&l->lock);
	*ret = v;
	return 0;
}

void
cd_live_unsubscribe(struct cd_live *l, struct cd_viewer *v, uint64_t *ret_bytes,
                    uint64_t *ret_frames)
{
	pthread_mutex_lock(&l->lock);
	for (struct cd_viewer **pp = &l->viewers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == v) {
			*pp = v->next;
			atomic_fetch_sub(&l->count, 1);
			break;
		}
	pthread_mutex_unlock(&l->lock);
	if (ret_bytes)
		*ret_bytes = v->bytes;
	if (ret_frames)
		*ret_frames = v->frames;
	cu_mp4_free(v->mp4);
	cu_buf_free(&v->pending);
	free(v);
}
