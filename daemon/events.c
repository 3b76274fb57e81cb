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

void
cd_event(const char *event, const char *camera, const char *fmt, ...)
{
	char when[CU_TIME_ISO_MAX], detail[768];
	cu_time_text(cu_time_now_us(), when);
	va_list ap;
	va_start(ap, fmt);
	/* a message: cut, deliberately, and whole characters only, or the JSON
	 * line below could not be made */
	cu_vfmt_cut(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (camera != NULL)
		cd_log(CD_INFO, "%s camera %s: %s", event, camera, detail);
	else
		cd_log(CD_INFO, "%s: %s", event, detail);
	if (events_fd < 0)
		return;
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s}", "time", when, "event", event, "camera",
	                      camera, "detail", detail);
	char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (line == NULL)
		return;
	size_t n = strlen(line);
	char *buf = malloc(n + 2);
	if (buf != NULL) {
		memcpy(buf, line, n);
		buf[n] = '\n';
		pthread_mutex_lock(&lock);
		/* one write() of the whole line: O_APPEND keeps lines whole */
		if (write(events_fd, buf, n + 1) < 0)
			fprintf(stderr, "%s error event log: %s\n", when, strerror(errno));
		pthread_mutex_unlock(&lock);
		free(buf);
	}
	free(line);
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
