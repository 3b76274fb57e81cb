/* Live view over a WebSocket (docs/api.md): a signed URL opens it, the
 * fan-out in live.c feeds it, cd_api_tick ends it when the permission goes. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call.h"
#include <pthread.h>
#include "custody/time.h"
#include "daemon.h"
#include "custody/error.h"

/* ---- live view over a WebSocket ---- */

struct live_session {
	struct live_session *next;        /* live_sessions */
	struct cd_ws *ws;
	struct cd_api *a;
	struct cd_viewer *viewer;
	char camera[CU_CAMERA_NAME_MAX + 1];
	char user[CU_USER_NAME_MAX + 1];
	char source[64];
	char session[VIEW_SESSION_HEX + 1];
	int64_t started_us;
};

static void
live_audit(struct live_session *s, const char *type, json_t *detail)
{
	if (!s->a->audit_views || s->a->audit == NULL) {
		json_decref(detail);
		return;
	}
	json_object_set_new(detail, "camera", json_string(s->camera));
	json_object_set_new(detail, "session", json_string(s->session));
	char *d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(detail);
	struct cu_audit_entry e = {.type = type, .actor = s->user, .source = s->source,
	                           .detail = d ? d : "{}"};
	if (cu_audit_append(s->a->audit, &e, NULL) < 0)
		cd_log(CD_ERR, "audit log: %s: %s", type, cu_error_detail());
	free(d);
}

/* Open live views, re-checked by cd_api_tick. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_session *live_sessions;

void
cd_api_tick(struct cd_api *a)
{
	pthread_mutex_lock(&live_lock);
	for (struct live_session *s = live_sessions; s != NULL; s = s->next) {
		unsigned mask = 0;
		int r = cu_auth_functions(a->auth, s->user, s->camera, &mask);
		if (r == 0 && (mask & ((1u << CU_FN_LIVE) | (1u << CU_FN_ADMIN))) != 0)
			continue;
		if (r < 0 && r != CU_ERR_AUTH && r != CU_ERR_NOTFOUND)
			continue; /* could not check now: try again at the next tick */
		cd_log(CD_INFO, "live view of %s by %s ended: the permission was withdrawn",
		       s->camera, s->user);
		cd_ws_close(s->ws, "live permission withdrawn");
	}
	pthread_mutex_unlock(&live_lock);
}

/* Splits "name[:port]" (name may be "[v6]") at its port: the name's length. */
static size_t
host_name_len(const char *hp)
{
	if (hp[0] == '[') {
		const char *e = strchr(hp, ']');
		return e ? (size_t)(e - hp) + 1 : strlen(hp);
	}
	return strcspn(hp, ":");
}

bool
cd_origin_is_own(const char *origin, const char *host)
{
	static const char scheme[] = "https://";
	if (strncmp(origin, scheme, sizeof(scheme) - 1) != 0 || host[0] == '\0')
		return false;
	const char *o = origin + sizeof(scheme) - 1;
	size_t on = host_name_len(o), hn = host_name_len(host);
	if (on == 0 || on != hn || strncasecmp(o, host, on) != 0)
		return false;
	if (strpbrk(o, "/?#@ ") != NULL)
		return false; /* an origin has no path, query, fragment or user */
	return strcmp(o + on, host + hn) == 0; /* the port: exactly, both absent or equal */
}

/* The camera of a live path, or -1 (logged). */
static int
live_camera(const struct cd_ws_request *q, char cam[static CU_CAMERA_NAME_MAX + 1])
{
	const char *prefix = "/api/v1/cameras/";
	size_t pl = strlen(prefix), n = strlen(q->path);
	if (strncmp(q->path, prefix, pl) != 0 || n < pl + 6 ||
	    strcmp(q->path + n - 5, "/live") != 0 || n - pl - 5 > CU_CAMERA_NAME_MAX) {
		cd_log(CD_WARN, "live view refused from %s: not a live path", q->source);
		return -1;
	}
	memcpy(cam, q->path + pl, n - pl - 5);
	cam[n - pl - 5] = '\0';
	return 0;
}

void *
cd_api_ws_open(struct cd_ws *ws, const struct cd_ws_request *q, void *ctx)
{
	struct cd_api *a = ctx;
	char cam[CU_CAMERA_NAME_MAX + 1];
	const char *path = q->path, *query = q->query, *source = q->source;
	/* A browser always sends Origin: a page of another site must not open a
	 * view with a URL it got hold of. Programs (the CLI, tests) send none. */
	if (q->origin != NULL && !cd_origin_is_own(q->origin, q->host)) {
		cd_log(CD_WARN, "live view refused from %s: Origin \"%.200s\" is not this server's "
		       "(https://%.200s)", source, q->origin, q->host);
		return NULL;
	}
	if (live_camera(q, cam) < 0)
		return NULL;
	struct cu_url_claims uc;
	if (cu_camera_name_check(cam) < 0 || cu_store_camera_exists(a->store, cam) != 1) {
		cd_log(CD_WARN, "live view refused from %s: no camera \"%s\"", source, cam);
		return NULL;
	}
	if (cu_auth_check_url(a->auth, "GET", path, query, &uc) < 0) {
		cd_log(CD_WARN, "live view refused from %s: %s", source, cu_error_detail());
		return NULL;
	}
	unsigned mask = 0;
	if (cu_auth_functions(a->auth, uc.user, cam, &mask) < 0 ||
	    (mask & ((1u << CU_FN_LIVE) | (1u << CU_FN_ADMIN))) == 0) {
		cd_log(CD_WARN, "live view of %s refused for %s: no live permission", cam, uc.user);
		return NULL;
	}
	struct live_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->a = a;
	_Static_assert(sizeof(s->camera) == sizeof(cam), "a camera name fits");
	memcpy(s->camera, cam, sizeof(s->camera));
	_Static_assert(sizeof(s->user) == sizeof(uc.user), "a user name fits");
	memcpy(s->user, uc.user, sizeof(s->user));
	int k = snprintf(s->source, sizeof(s->source), "%s", source[0] ? source : "-");
	if (k < 0 || (size_t)k >= sizeof(s->source)) { /* the audit's source: never cut */
		cd_log(CD_WARN, "live view of %s refused: source address longer than %zu bytes", cam,
		       sizeof(s->source) - 1);
		free(s);
		return NULL;
	}
	cd_session_of(query, s->session);
	s->started_us = cu_time_now_us();
	if (cd_live_subscribe(a->live, cam, ws, &s->viewer) < 0) {
		cd_log(CD_WARN, "live view of %s refused: %s", cam, cu_error_detail());
		free(s);
		return NULL;
	}
	s->ws = ws;
	pthread_mutex_lock(&live_lock);
	s->next = live_sessions;
	live_sessions = s;
	pthread_mutex_unlock(&live_lock);
	live_audit(s, "view.live.start", json_object());
	return s;
}

void
cd_api_ws_closed(void *session, void *ctx)
{
	struct live_session *s = session;
	struct cd_api *a = ctx;
	uint64_t bytes = 0, frames = 0;
	pthread_mutex_lock(&live_lock);
	for (struct live_session **pp = &live_sessions; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&live_lock);
	cd_live_unsubscribe(a->live, s->viewer, &bytes, &frames);
	live_audit(s, "view.live.end",
	           json_pack("{s:o, s:I, s:I, s:I}", "started", cd_json_time(s->started_us),
	                     "seconds", (json_int_t)((cu_time_now_us() - s->started_us) / 1000000),
	                     "frames", (json_int_t)frames, "bytes", (json_int_t)bytes));
	free(s);
}
