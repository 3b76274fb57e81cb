#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custody/audit.h"
#include "custody/error.h"
#include "custody/text.h"
#include "custody/time.h"
#include "daemon.h"
#include "notify.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int events_fd = -1;

void
cd_log(enum cd_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info"};
	char when[CU_TIME_ISO_MAX], msg[1024];
	cu_time_text(cu_time_now_us(), when);
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(msg, sizeof(msg), fmt, ap); /* a log line: cut, deliberately */
	va_end(ap);
	pthread_mutex_lock(&lock);
	fprintf(stderr, "%s %s %s\n", when, names[lvl], msg);
	fflush(stderr);
	pthread_mutex_unlock(&lock);
}

int
cd_events_open(const char *path)
{
	if (path == NULL || path[0] == '\0')
		return 0;
	events_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (events_fd < 0) {
		cd_log(CD_ERR, "event log %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

void
cd_events_close(void)
{
	if (events_fd >= 0)
		close(events_fd);
	events_fd = -1;
}

const char *
cd_phase_name(enum cd_phase phase)
{
	static const char *const names[] = {"once", "raise", "clear"};
	return (unsigned)phase < 3 ? names[phase] : "once";
}

const char *
cd_severity_name(enum cd_severity sev)
{
	static const char *const names[] = {"info", "warning", "major", "critical"};
	return (unsigned)sev < 4 ? names[sev] : "info";
}

/* One write() of the whole line: O_APPEND keeps lines whole. */
static void
events_append(const char *when, const char *line)
{
	size_t n = strlen(line);
	char *buf = malloc(n + 2);
	if (buf == NULL)
		return;
	memcpy(buf, line, n);
	buf[n] = '\n';
	pthread_mutex_lock(&lock);
	if (write(events_fd, buf, n + 1) < 0)
		fprintf(stderr, "%s error event log: %s\n", when, strerror(errno));
	pthread_mutex_unlock(&lock);
	free(buf);
}

void
cd_emit(const struct cd_ev *given)
{
	/* one time for the log, the footage, events.db and every notice */
	struct cd_ev e = *given;
	const struct cd_ev *ev = &e;
	if (e.t_us <= 0)
		e.t_us = cu_time_now_us();
	cd_evrecord(ev); /* tamper.* and onvif.* go into the footage too */
	char when[CU_TIME_ISO_MAX];
	cu_time_text(ev->t_us, when);
	cd_notify_event(ev); /* kept in events.db, and the rules applied */
	const char *phase = ev->phase == CD_ONCE ? "" : cd_phase_name(ev->phase);
	if (ev->camera != NULL)
		cd_log(CD_INFO, "%s%s%s camera %s: %s", ev->type, phase[0] ? " " : "", phase,
		       ev->camera, ev->detail);
	else
		cd_log(CD_INFO, "%s%s%s: %s", ev->type, phase[0] ? " " : "", phase, ev->detail);
	if (events_fd < 0)
		return;
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s}", "time", when, "event",
	                      ev->type, "camera", ev->camera, "source",
	                      ev->source ? ev->source : "custodyd", "phase",
	                      cd_phase_name(ev->phase), "severity", cd_severity_name(ev->severity),
	                      "detail", ev->detail);
	if (o != NULL && ev->failed_segment_start_us != 0) {
		char fs[CU_TIME_ISO_MAX];
		json_object_set_new(o, "failed_segment_start",
		                    cu_time_text(ev->failed_segment_start_us, fs) ? json_string(fs)
		                                                                  : json_null());
	}
	char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (line != NULL)
		events_append(when, line);
	free(line);
}

void
cd_event(const char *event, const char *camera, const char *fmt, ...)
{
	char detail[CD_EVENT_DETAIL_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	/* a message: cut, deliberately, and whole characters only, or the JSON
	 * line could not be made */
	cu_vfmt_cut(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	cd_emit(&(struct cd_ev){.type = event, .camera = camera, .detail = detail});
}

void
cd_alarm(const char *event, const char *camera, enum cd_phase phase, enum cd_severity severity,
         const char *fmt, ...)
{
	char detail[CD_EVENT_DETAIL_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	cd_emit(&(struct cd_ev){.type = event, .camera = camera, .phase = phase,
	                        .severity = severity, .detail = detail});
}

static struct cu_audit *audit;

void
cd_audit_set(struct cu_audit *a)
{
	audit = a;
}

void
cd_audit(const char *type, const char *fmt, ...)
{
	if (audit == NULL)
		return;
	char detail[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(detail)) { /* JSON: cut, it would not parse */
		cd_log(CD_ERR, "audit log: a %s entry longer than %zu bytes is not written", type,
		       sizeof(detail) - 1);
		return;
	}
	struct cu_audit_entry e = {.type = type, .actor = "custodyd", .source = "daemon",
	                           .detail = detail};
	if (cu_audit_append(audit, &e, NULL) < 0)
		cd_log(CD_ERR, "audit log: %s", cu_error_detail());
}
