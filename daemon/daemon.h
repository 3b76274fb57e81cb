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

/* Appends {"time","event","camera","detail"} and logs the same at info level. */
void cd_event(const char *event, const char *camera, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

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
	cu_writer *w;
	pthread_mutex_t wlock;            /* the writer is shared with retention */
	pthread_t tid;
	atomic_bool stop;
	bool running;
	uint64_t locked_reported;         /* retention: segments kept by locks, last said */
	char user[CU_RTSP_CRED_MAX + 1], password[CU_RTSP_CRED_MAX + 1];
};

/* Opens the camera's writer and starts its thread. */
int cd_cam_start(struct cd_cam *c);
/* Stops the thread, records any ongoing outage, closes the writer. */
void cd_cam_stop(struct cd_cam *c);

#endif
