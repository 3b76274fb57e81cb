/* Video tamper analysis per camera (see tamper.h).
 *
 * The recording thread hands over at most one key frame per interval into a
 * one-frame slot (a copy, taken under a try-lock: if the analysis holds the
 * lock or has not taken the last frame yet, the frame is skipped and counted).
 * The analysis thread swaps the slot's buffer with its own, so no frame is
 * copied twice, decodes and measures it (lib/media/tamper.c), and publishes
 * each condition raised or cleared as an event of source "analysis", with a
 * JPEG of the analysed frame on a raise. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "custody/mux.h"
#include "custody/tamper.h"
#include "custody/time.h"
#include "daemon.h"
#include "tamper.h"

#define DECODE_LOG_EVERY 100     /* a failure to decode is logged once per this many */

struct slot {
	uint8_t *data;
	size_t cap;
	cu_frame f;                  /* its data points into data */
};

struct cd_tamper {
	char camera[CU_CAMERA_NAME_MAX + 1];
	int64_t interval_us;
	cu_tamper *an;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                   /* under lock */
	bool full;                   /* under lock: in holds a frame not yet taken */
	struct slot in;              /* filled by the recording thread, under lock */
	struct slot work;            /* the analysis thread's */
	int64_t next_mono;           /* recording thread only: no frame before this */
	uint64_t offered, skipped_busy; /* recording thread only */
};

static const char *const event_types[CU_TAMPER_KINDS] = {
	"tamper.covered", "tamper.defocused", "tamper.moved",
};

/* The JPEG of the analysed key frame, or NULL when it cannot be made (the
 * event goes out without it). */
static uint8_t *
still_of(const struct cd_tamper *t, const cu_frame *f, size_t *ret_len)
{
	const cu_frame *frames[1] = {f};
	struct cu_still_opts o = {.at_us = f->ts_us, .camera = t->camera};
	uint8_t *jpeg = NULL;
	if (cu_still_jpeg(frames, 1, &o, &jpeg, ret_len) < 0) {
		cd_log(CD_WARN, "camera %s: tamper analysis: no still for the event: %s", t->camera,
		       cu_error_detail());
		return NULL;
	}
	return jpeg;
}

static void
publish(struct cd_tamper *t, const cu_frame *f, unsigned changes)
{
	for (int k = 0; k < CU_TAMPER_KINDS; k++) {
		if (!(changes & (1u << k)))
			continue;
		bool on = cu_tamper_active(t->an, k);
		char detail[CD_EVENT_DETAIL_MAX + 1];
		cu_tamper_describe(t->an, k, detail, sizeof(detail));
		size_t still_len = 0;
		uint8_t *still = on ? still_of(t, f, &still_len) : NULL;
		cd_emit(&(struct cd_ev){.t_us = f->ts_us, .type = event_types[k], .camera = t->camera,
		                        .source = "analysis", .phase = on ? CD_RAISE : CD_CLEAR,
		                        .severity = on ? CD_SEV_MAJOR : CD_SEV_INFO, .detail = detail,
		                        .still = still, .still_len = still_len});
		free(still);
	}
}

static void *
analysis_main(void *arg)
{
	struct cd_tamper *t = arg;
	uint64_t failed = 0;
	for (;;) {
		pthread_mutex_lock(&t->lock);
		while (!t->full && !t->stop)
			pthread_cond_wait(&t->cond, &t->lock);
		if (t->stop) {
			pthread_mutex_unlock(&t->lock);
			return NULL;
		}
		struct slot tmp = t->work;
		t->work = t->in;
		t->in = tmp;
		t->full = false;
		pthread_mutex_unlock(&t->lock);

		unsigned changes = 0;
		int r = cu_tamper_frame(t->an, &t->work.f, &changes);
		if (r < 0) {
			/* counted, not fatal: the next key frame may decode */
			if (failed++ % DECODE_LOG_EVERY == 0)
				cd_log(CD_WARN, "camera %s: tamper analysis: %s (%llu key frames so far)",
				       t->camera, cu_error_detail(), (unsigned long long)failed);
			continue;
		}
		if (changes)
			publish(t, &t->work.f, changes);
	}
}

int
cd_tamper_start(const char *camera, const struct cd_tamper_conf *conf, struct cd_tamper **ret)
{
	struct cd_tamper *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return cu_fail(CU_ERR_NOMEM, "no memory for the tamper analysis");
	size_t n = strlen(camera);
	if (n >= sizeof(t->camera)) {
		free(t);
		return cu_fail(CU_ERR_LIMIT, "camera name too long");
	}
	memcpy(t->camera, camera, n + 1);
	t->interval_us = conf->interval_us;
	struct cu_tamper_opts o = {.persistence_us = conf->persistence_us,
	                           .learn_us = conf->learn_us};
	int r = cu_tamper_new(&o, &t->an);
	if (r < 0) {
		free(t);
		return r;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (pthread_create(&t->tid, NULL, analysis_main, t) != 0) {
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
		cu_tamper_free(t->an);
		free(t);
		return cu_fail(CU_ERR_NOMEM, "cannot start the tamper analysis thread");
	}
	/* "tamper:" and the camera name's start, for top -H and the benchmark */
	char tname[16] = "tamper:";
	memcpy(tname + 7, camera, n < 8 ? n : 8);
	pthread_setname_np(t->tid, tname);
	*ret = t;
	return 0;
}

void
cd_tamper_offer(struct cd_tamper *t, const cu_frame *f)
{
	if (t == NULL || f->track != CU_TRACK_VIDEO || !f->key)
		return;
	int64_t now = cu_time_mono_us();
	if (now < t->next_mono)
		return;
	t->offered++;
	if (pthread_mutex_trylock(&t->lock) != 0) {
		t->skipped_busy++;
		return;
	}
	if (t->full) {
		/* the analysis has not taken the last one: it is behind, skip */
		pthread_mutex_unlock(&t->lock);
		t->skipped_busy++;
		return;
	}
	if (f->len > t->in.cap) {
		uint8_t *p = realloc(t->in.data, f->len);
		if (p == NULL) {
			pthread_mutex_unlock(&t->lock);
			t->skipped_busy++;
			return;
		}
		t->in.data = p;
		t->in.cap = f->len;
	}
	memcpy(t->in.data, f->data, f->len);
	t->in.f = *f;
	t->in.f.data = t->in.data;
	t->full = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	/* key frames come with some jitter: one a little early still counts, so
	 * that a key frame every interval is not taken every second interval */
	t->next_mono = now + t->interval_us - t->interval_us / 4;
}

void
cd_tamper_stop(struct cd_tamper *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->tid, NULL);
	struct cu_tamper_stats st;
	cu_tamper_stats(t->an, &st);
	cd_log(CD_INFO, "camera %s: tamper analysis: %llu key frames analysed, %llu did not decode, "
	       "%llu skipped while the analysis was busy", t->camera,
	       (unsigned long long)st.analysed, (unsigned long long)st.decode_failed,
	       (unsigned long long)t->skipped_busy);
	cu_tamper_free(t->an);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t->in.data);
	free(t->work.data);
	free(t);
}
