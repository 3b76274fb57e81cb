/* custodyd internals shared by its files. */
#ifndef CD_DAEMON_H
#define CD_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "custody/rtsp.h"
#include "custody/store.h"

#define VERSION "0.1.0"

/* ---- logging and events (events.c) ---- */

enum cd_level { CD_ERR, CD_WARN, CD_INFO };

/* One line to stderr: "<time> <level> <message>". Never given secrets. */
void cd_log(enum cd_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens the JSON-lines event log (O_APPEND). "" = no event log. */
int cd_events_open(const char *path);
void cd_events_close(void);

/* An event (docs/events.md). A condition (a camera offline, a covered lens)
 * is raised once and cleared once; everything else happens once. */
enum cd_phase { CD_ONCE, CD_RAISE, CD_CLEAR };
enum cd_severity { CD_SEV_INFO, CD_SEV_WARNING, CD_SEV_MAJOR, CD_SEV_CRITICAL };

#define CD_EVENT_TYPE_MAX 63
#define CD_EVENT_DETAIL_MAX 767

struct cd_ev {
	int64_t t_us;                 /* when it happened (µs since the epoch); 0 = now */
	const char *type;             /* "camera.offline", "tamper.covered", ... */
	const char *camera;           /* NULL: not a camera's */
	const char *source;           /* "custodyd", "analysis", "onvif", "verifier"; NULL = custodyd */
	enum cd_phase phase;
	enum cd_severity severity;
	const char *detail;           /* one line for a person */
	const uint8_t *still;         /* JPEG of the frame for a video event, or NULL */
	size_t still_len;
	int64_t failed_segment_start_us; /* integrity.failed raise: the start of the first
	                                    failed segment (field failed_segment_start); 0 none */
};

/* Publishes an event: the JSON-lines event log, stderr at info level. */
void cd_emit(const struct cd_ev *ev);

/* cd_emit of a one-off informational event with a formatted detail. */
void cd_event(const char *event, const char *camera, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* cd_emit of a condition raised or cleared, with a formatted detail. */
void cd_alarm(const char *event, const char *camera, enum cd_phase phase,
              enum cd_severity severity, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

const char *cd_phase_name(enum cd_phase phase);       /* "once", "raise", "clear" */
const char *cd_severity_name(enum cd_severity sev);   /* "info", "warning", "major", "critical" */

/* ---- events signed into the footage (evrecord.c) ---- */

/* Does this event concern a camera's footage (tamper.*, onvif.*), so that
 * it is also written into the recording as a signed event record? */
bool cd_evrecord_wanted(const struct cd_ev *ev);
/* Queues ev, when wanted, for its camera's recording (cd_emit calls it; it
 * never waits for the write). Logs when it cannot: queue full, not running. */
void cd_evrecord(const struct cd_ev *ev);
/* The thread that writes the queue into the writers; stop writes what is
 * queued first. Before the cameras start and after they stop. */
int cd_evrecord_start(void);
void cd_evrecord_stop(void);
struct cd_cam;
/* The running cameras: added after cd_cam_start, removed before cd_cam_stop. */
void cd_evrecord_add(struct cd_cam *c);
void cd_evrecord_remove(struct cd_cam *c);

/* ---- the integrity watch (watch.c) ---- */

/* Starts the background verification: each segment once it is closed
 * (verify_after_seal) and the whole store every verify_interval, at idle
 * priority; a failure raises integrity.failed (docs/events.md). */
struct cd_watch;
int cd_watch_start(cu_store *s, const struct cd_watch_config *cfg, struct cd_watch **ret);
/* A whole-store pass as soon as the one under way (if any) ends (SIGHUP). */
void cd_watch_verify_now(struct cd_watch *w);
/* Cancels a verification under way and ends the thread. NULL is fine. */
void cd_watch_stop(struct cd_watch *w);

/* ---- the audit log (events.c) ---- */

struct cu_audit;
/* Where audit entries go (NULL: none). The daemon signs a tree head every
 * minute and at shutdown. */
void cd_audit_set(struct cu_audit *a);
/* Appends {type, actor "custodyd", source "daemon", detail} and logs a failure. */
void cd_audit(const char *type, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- cameras (camera.c) ---- */

struct cd_cam {
	struct cd_camera cfg;
	int64_t offline_after_us;         /* copies of the [daemon] settings */
	int64_t reconnect_min_us, reconnect_max_us;
	cu_store *store;
	struct cd_live *live;             /* live viewers (may be NULL) */
	struct cd_tamper_conf tamper_conf; /* [daemon] tamper settings */
	bool tamper_on;                   /* the camera's analysis is wanted */
	struct cd_tamper *tamper;         /* its analysis, or NULL */
	cu_writer *w;
	pthread_mutex_t wlock;            /* the writer is shared with retention */
	pthread_t tid;
	atomic_bool stop;
	bool running;
	uint64_t locked_reported;         /* retention: segments kept by locks, last said */
	char user[CU_RTSP_CRED_MAX + 1], password[CU_RTSP_CRED_MAX + 1];
	struct cd_onvif *onvif;           /* the ONVIF event thread, or NULL (onvif.c) */
};

/* Sleeps us µs, or returns sooner once c->stop is set. */
void cd_cam_sleep(struct cd_cam *c, int64_t us);

/* One back-off step, shared by the camera's reconnection and its ONVIF
 * events: returns *backoff with ±20 % jitter (so cameras do not retry in
 * step; *seed is the caller's generator state) and doubles *backoff up to
 * max_us. */
int64_t cd_backoff_next(int64_t *backoff, int64_t max_us, uint32_t *seed);

/* Opens the camera's writer and starts its thread. */
int cd_cam_start(struct cd_cam *c);
/* Stops the thread, records any ongoing outage, closes the writer. */
void cd_cam_stop(struct cd_cam *c);

#endif
