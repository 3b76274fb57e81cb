/* The integrity watch: custodyd verifies what it has recorded, in the
 * background (docs/events.md "integrity.failed", docs/config.md).
 *
 * - After seal: every few seconds it asks the catalogue which segments have
 *   been closed since it last looked, and verifies each (threads = 1) against
 *   the chain: the first one checked links to the catalogue row before it,
 *   which the check before proved.
 * - On a schedule (verify_interval) and on SIGHUP: the whole store.
 *
 * It runs at idle priority (SCHED_IDLE, I/O class idle), so it takes only
 * what recording leaves; bench/bench-store (step 4b) measures what it costs.
 * A camera that fails raises integrity.failed once (phase raise, critical)
 * with the start time of its first failed segment; the condition stays
 * raised, with no new event for later failures of that camera (each still
 * goes to the audit log), until a whole-store pass finds the camera intact
 * again (after the segment was restored): then it is cleared. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "custody/error.h"
#include "custody/text.h"
#include "custody/time.h"
#include "daemon.h"

#define POLL_US (5 * INT64_C(1000000))  /* how often the catalogue is asked for closed segments */

struct watched {
	char name[CU_CAMERA_NAME_MAX + 1];
	uint64_t after_seq;                 /* segments up to this one are checked */
	bool raised;                        /* integrity.failed is raised for it */
	uint64_t fail_segment;              /* the failure last reported */
	int64_t fail_time_us;
};

struct cd_watch {
	cu_store *store;
	struct cd_watch_config cfg;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, full_now;                /* under lock */
	atomic_bool cancel;                 /* stops a verification under way */
	struct watched *cams;               /* the watch thread's own */
	size_t ncams;
};

/* Idle priority for this thread: the scheduler runs it only when nothing
 * else wants the CPU, and its reads wait for every other reader. */
static void
be_idle(void)
{
	struct sched_param sp = {0};
	int e = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	if (e != 0)
		cd_log(CD_WARN, "integrity watch: SCHED_IDLE refused (%s): running at normal priority",
		       strerror(e));
	/* ioprio_set(IOPRIO_WHO_PROCESS, this thread, class IDLE << 13) */
	if (syscall(SYS_ioprio_set, 1, (int)syscall(SYS_gettid), 3 << 13) < 0)
		cd_log(CD_WARN, "integrity watch: idle I/O class refused (%s)", strerror(errno));
}

static struct watched *
watched(struct cd_watch *w, const char *name, uint64_t closed_seq)
{
	for (size_t i = 0; i < w->ncams; i++)
		if (strcmp(w->cams[i].name, name) == 0)
			return &w->cams[i];
	struct watched *n = realloc(w->cams, (w->ncams + 1) * sizeof(*n));
	if (n == NULL)
		return NULL;
	w->cams = n;
	n = &w->cams[w->ncams++];
	memset(n, 0, sizeof(*n));
	memcpy(n->name, name, sizeof(n->name));
	n->after_seq = closed_seq; /* what was there before: the whole-store pass checks it */
	return n;
}

/* A camera found tampered: the event once, the audit entry each time a
 * failure is new. */
static void
report_failure(struct watched *m, const struct cu_verify_camera *c)
{
	if (m->raised && m->fail_segment == c->fail_segment && m->fail_time_us == c->fail_time_us)
		return; /* said already */
	char when[CU_TIME_ISO_MAX], detail[CD_EVENT_DETAIL_MAX + 1];
	cu_time_text(c->fail_time_us, when);
	cu_fmt_cut(detail, sizeof(detail), "first failed segment %llu, starting %s: %s",
	           (unsigned long long)c->fail_segment, when, c->fail_reason);
	cd_audit("integrity.failed", "{\"camera\":\"%s\",\"segment\":%llu,"
	         "\"failed_segment_start\":\"%s\"}", c->name,
	         (unsigned long long)c->fail_segment, when);
	if (!m->raised)
		cd_emit(&(struct cd_ev){.type = "integrity.failed", .camera = c->name,
		                        .source = "verifier", .phase = CD_RAISE,
		                        .severity = CD_SEV_CRITICAL, .detail = detail,
		                        .failed_segment_start_us = c->fail_time_us});
	else
		cd_log(CD_ERR, "integrity watch: camera %s (integrity.failed already raised): %s",
		       c->name, detail);
	m->raised = true;
	m->fail_segment = c->fail_segment;
	m->fail_time_us = c->fail_time_us;
}

static void
report_intact(struct watched *m)
{
	if (!m->raised)
		return;
	cd_audit("integrity.restored", "{\"camera\":\"%s\"}", m->name);
	cd_emit(&(struct cd_ev){.type = "integrity.failed", .camera = m->name,
	                        .source = "verifier", .phase = CD_CLEAR,
	                        .severity = CD_SEV_CRITICAL,
	                        .detail = "a whole-store verification found the camera intact"});
	m->raised = false;
}

/* One verification; false when it could not run (logged). */
static bool
verify(struct cd_watch *w, const struct cu_verify_opts *o, struct cu_verify_report **ret)
{
	if (cu_store_verify(w->store, o, ret) == 0)
		return true;
	if (!atomic_load(&w->cancel))
		cd_log(CD_ERR, "integrity watch: %s: %s", o->camera ? o->camera : "the store",
		       cu_error_detail());
	return false;
}

/* The segments closed since the last look, per camera. The first look
 * (learn) only notes what is there: the whole-store pass checks that. */
static void
after_seal(struct cd_watch *w, bool learn)
{
	struct cu_verify_opts ask = {.threads = 1, .closed_only = true, .after_seq = UINT64_MAX};
	struct cu_verify_report *cat = NULL;
	if (!verify(w, &ask, &cat))
		return;
	for (size_t i = 0; i < cat->ncameras && !atomic_load(&w->cancel); i++) {
		const struct cu_verify_camera *c = &cat->cameras[i];
		struct watched *m = watched(w, c->name, learn ? c->closed_seq : 0);
		if (m == NULL || c->closed_seq <= m->after_seq)
			continue;
		struct cu_verify_opts o = {.camera = c->name, .threads = 1, .closed_only = true,
		                           .after_seq = m->after_seq, .cancel = &w->cancel};
		struct cu_verify_report *rep = NULL;
		if (!verify(w, &o, &rep))
			continue;
		const struct cu_verify_camera *vc = &rep->cameras[0];
		if (vc->tampered)
			report_failure(m, vc);
		if (vc->checked_seq > m->after_seq)
			m->after_seq = vc->checked_seq;
		cu_verify_report_free(rep);
	}
	cu_verify_report_free(cat);
}

static void
whole_store(struct cd_watch *w)
{
	struct cu_verify_opts o = {.threads = 1, .cancel = &w->cancel};
	struct cu_verify_report *rep = NULL;
	int64_t t0 = cu_time_mono_us();
	if (!verify(w, &o, &rep))
		return;
	uint64_t bytes = 0;
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct cu_verify_camera *c = &rep->cameras[i];
		struct watched *m = watched(w, c->name, c->closed_seq);
		bytes += c->bytes;
		if (m == NULL)
			continue;
		if (c->tampered)
			report_failure(m, c);
		else
			report_intact(m);
	}
	cd_log(CD_INFO, "integrity watch: the whole store verified (%zu cameras, %llu bytes, "
	       "%lld ms): %s", rep->ncameras, (unsigned long long)bytes,
	       (long long)((cu_time_mono_us() - t0) / 1000), rep->tampered ? "TAMPERED" : "intact");
	cu_verify_report_free(rep);
}

static void *
run(void *arg)
{
	struct cd_watch *w = arg;
	be_idle();
	int64_t next_full = w->cfg.verify_interval_us > 0
	                    ? cu_time_mono_us() + w->cfg.verify_interval_us : INT64_MAX;
	bool first = true;
	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		bool full = w->full_now || cu_time_mono_us() >= next_full;
		w->full_now = false;
		pthread_mutex_unlock(&w->lock);
		if (full) {
			whole_store(w);
			if (w->cfg.verify_interval_us > 0)
				next_full = cu_time_mono_us() + w->cfg.verify_interval_us;
		}
		if (w->cfg.verify_after_seal)
			after_seal(w, first);
		first = false;
		pthread_mutex_lock(&w->lock);
		if (w->stop || w->full_now)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += POLL_US / 1000000;
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int
cd_watch_start(cu_store *s, const struct cd_watch_config *cfg, struct cd_watch **ret)
{
	*ret = NULL;
	if (!cfg->verify_after_seal && cfg->verify_interval_us == 0)
		return 0; /* off */
	struct cd_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->store = s;
	w->cfg = *cfg;
	atomic_init(&w->cancel, false);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	int e = pthread_create(&w->tid, NULL, run, w);
	if (e != 0) {
		cd_log(CD_ERR, "integrity watch: cannot start its thread: %s", strerror(e));
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -1;
	}
	*ret = w;
	return 0;
}

void
cd_watch_verify_now(struct cd_watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->full_now = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void
cd_watch_stop(struct cd_watch *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->cancel, true);
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->tid, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w->cams);
	free(w);
}
