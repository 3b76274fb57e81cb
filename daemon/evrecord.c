/* Events about the footage, signed into it: tamper.* and onvif.* events of
 * a camera become EVENT records in that camera's recording
 * (docs/formats/media-database.md, "Event records"; docs/events.md).
 *
 * cd_emit may run on any thread (a camera's, the analysis', an HTTPS
 * worker's), some of which may hold a camera's writer lock, so it only
 * queues the event; one thread writes the queue into the writers, each under
 * its camera's wlock, and makes every record durable (seal, fdatasync). */
#include <pthread.h>
#include <string.h>

#include "custody/error.h"
#include "custody/text.h"
#include "custody/time.h"
#include "daemon.h"

#define QUEUE_MAX 256                   /* events waiting to be written */

struct note {
	char camera[CU_CAMERA_NAME_MAX + 1];
	struct cu_event_note n;
};

/* Two locks: an emitter takes only qlock, and never waits for a write; the
 * writing thread takes rlock and then a camera's wlock, never qlock with
 * them. */
static struct {
	pthread_mutex_t rlock;              /* the registry: */
	struct cd_cam *cams[CD_CAMERAS_MAX]; /* the running cameras */
	size_t ncams;
	pthread_mutex_t lock;               /* the queue: everything below */
	pthread_cond_t wake;
	struct note q[QUEUE_MAX];
	size_t head, len;
	bool running, stopping;
	pthread_t tid;
} g = {.rlock = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER};

void
cd_evrecord_add(struct cd_cam *c)
{
	pthread_mutex_lock(&g.rlock);
	if (g.ncams < CD_CAMERAS_MAX)
		g.cams[g.ncams++] = c;
	pthread_mutex_unlock(&g.rlock);
}

void
cd_evrecord_remove(struct cd_cam *c)
{
	pthread_mutex_lock(&g.rlock);
	for (size_t i = 0; i < g.ncams; i++)
		if (g.cams[i] == c)
			g.cams[i] = g.cams[--g.ncams];
	pthread_mutex_unlock(&g.rlock);
}

/* Writes one note into its camera's recording, holding the registry so
 * that the camera cannot be removed (and stopped) meanwhile. */
static void
write_note(const struct note *q)
{
	pthread_mutex_lock(&g.rlock);
	struct cd_cam *c = NULL;
	for (size_t i = 0; i < g.ncams && c == NULL; i++)
		if (strcmp(g.cams[i]->cfg.name, q->camera) == 0)
			c = g.cams[i];
	if (c == NULL) {
		pthread_mutex_unlock(&g.rlock);
		cd_log(CD_WARN, "%s of camera %s is not recorded in its footage: the camera is not "
		       "recording", q->n.type, q->camera);
		return;
	}
	pthread_mutex_lock(&c->wlock);
	int r = c->w != NULL ? cu_writer_note(c->w, &q->n)
	                     : cu_fail(CU_ERR_IO, "the camera's writer is not open");
	pthread_mutex_unlock(&c->wlock);
	pthread_mutex_unlock(&g.rlock);
	if (r < 0)
		cd_log(CD_ERR, "%s of camera %s could not be signed into its footage: %s",
		       q->n.type, q->camera, cu_error_detail());
}

static void *
run(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g.lock);
	for (;;) {
		while (g.len == 0 && !g.stopping)
			pthread_cond_wait(&g.wake, &g.lock);
		if (g.len == 0)
			break; /* stopping, and everything queued is written */
		struct note q = g.q[g.head];
		g.head = (g.head + 1) % QUEUE_MAX;
		g.len--;
		pthread_mutex_unlock(&g.lock);
		write_note(&q);
		pthread_mutex_lock(&g.lock);
	}
	pthread_mutex_unlock(&g.lock);
	return NULL;
}

int
cd_evrecord_start(void)
{
	pthread_mutex_lock(&g.lock);
	g.stopping = false;
	int e = pthread_create(&g.tid, NULL, run, NULL);
	g.running = e == 0;
	pthread_mutex_unlock(&g.lock);
	if (e != 0)
		cd_log(CD_ERR, "event records: cannot start their thread: %s", strerror(e));
	return e == 0 ? 0 : -1;
}

void
cd_evrecord_stop(void)
{
	pthread_mutex_lock(&g.lock);
	bool was = g.running;
	g.stopping = true;
	g.running = false;
	pthread_cond_signal(&g.wake);
	pthread_mutex_unlock(&g.lock);
	if (was)
		pthread_join(g.tid, NULL);
}

bool
cd_evrecord_wanted(const struct cd_ev *ev)
{
	return ev->camera != NULL && (strncmp(ev->type, "tamper.", 7) == 0 ||
	                              strncmp(ev->type, "onvif.", 6) == 0);
}

/* The detail as a record may hold it: control characters become spaces,
 * and it is cut (at a character boundary) to the record's limit. */
static void
note_detail(const char *detail, char out[static CU_EVENT_DETAIL_MAX + 1])
{
	cu_fmt_cut(out, CU_EVENT_DETAIL_MAX + 1, "%s", detail != NULL ? detail : "");
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

void
cd_evrecord(const struct cd_ev *ev)
{
	if (!cd_evrecord_wanted(ev))
		return;
	struct note q = {0};
	if (cu_fmt_cut(q.camera, sizeof(q.camera), "%s", ev->camera) ||
	    cu_fmt_cut(q.n.type, sizeof(q.n.type), "%s", ev->type) ||
	    cu_fmt_cut(q.n.source, sizeof(q.n.source), "%s", ev->source ? ev->source : "custodyd")) {
		cd_log(CD_ERR, "%s of camera %s: a name too long for an event record", ev->type,
		       ev->camera);
		return;
	}
	q.n.at_us = ev->t_us > 0 ? ev->t_us : cu_time_now_us();
	q.n.phase = ev->phase == CD_RAISE ? CU_EVENT_RAISE
	          : ev->phase == CD_CLEAR ? CU_EVENT_CLEAR : CU_EVENT_ONCE;
	q.n.severity = CU_EVENT_INFO + (int)ev->severity;
	note_detail(ev->detail, q.n.detail);
	pthread_mutex_lock(&g.lock);
	bool running = g.running, queued = running && g.len < QUEUE_MAX;
	if (queued) {
		g.q[(g.head + g.len) % QUEUE_MAX] = q;
		g.len++;
		pthread_cond_signal(&g.wake);
	}
	pthread_mutex_unlock(&g.lock);
	if (!queued)
		cd_log(CD_ERR, "%s of camera %s is not recorded in its footage: %s", ev->type,
		       ev->camera, running ? "too many events waiting" : "not recording");
}
