/* The /api/v1/ router (docs/api.md). Each handler runs on an HTTPS worker:
 * it authenticates the caller, checks the permission the endpoint needs,
 * does the work and answers JSON (or media). A caller without any grant on
 * a camera gets 404 for it, exactly as for a camera that does not exist; a
 * caller with some grant but not the needed one gets 403. The handlers live
 * in one file per resource (api_*.c, export.c); the plumbing they share is
 * call.c. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "call.h"
#include "export.h"
#include "web.h"

/* ---- routing ---- */

enum { PUBLIC = 0, AUTH = 1, AUTH_OR_URL = 2 };

struct route {
	enum cd_method method;
	const char *pattern;              /* segments after /api/v1/, '*' = any one */
	int access;
	void (*fn)(struct call *c);
};

static const struct route routes[] = {
	{CD_POST, "auth/login", PUBLIC, cd_api_login},
	{CD_POST, "auth/renew", AUTH, cd_api_renew},
	{CD_POST, "auth/logout", AUTH, cd_api_logout},
	{CD_GET, "me", AUTH, cd_api_me},
	{CD_GET, "server", AUTH, cd_api_server},
	{CD_GET, "cameras", AUTH, cd_api_cameras},
	{CD_GET, "cameras/*", AUTH, cd_api_camera_get},
	{CD_GET, "cameras/*/ranges", AUTH, cd_api_ranges},
	{CD_GET, "cameras/*/verify", AUTH, cd_api_verify},
	{CD_GET, "cameras/*/bookmarks", AUTH, cd_api_bookmarks_list},
	{CD_POST, "cameras/*/bookmarks", AUTH, cd_api_bookmark_create},
	{CD_GET, "cameras/*/playback/*/*", AUTH_OR_URL, cd_api_playback},
	{CD_GET, "cameras/*/still/*", AUTH_OR_URL, cd_api_still},
	{CD_GET, "bookmarks/*", AUTH, cd_api_bookmark},
	{CD_PATCH, "bookmarks/*", AUTH, cd_api_bookmark},
	{CD_DELETE, "bookmarks/*", AUTH, cd_api_bookmark},
	{CD_GET, "evidence-locks", AUTH, cd_api_locks_list},
	{CD_POST, "evidence-locks", AUTH, cd_api_lock_create},
	{CD_GET, "evidence-locks/*", AUTH, cd_api_lock},
	{CD_PATCH, "evidence-locks/*", AUTH, cd_api_lock},
	{CD_DELETE, "evidence-locks/*", AUTH, cd_api_lock},
	{CD_POST, "media-urls", AUTH, cd_api_media_url},
	{CD_GET, "users", AUTH, cd_api_users},
	{CD_POST, "users", AUTH, cd_api_users},
	{CD_DELETE, "users/*", AUTH, cd_api_user},
	{CD_POST, "users/*/*", AUTH, cd_api_user},
	{CD_GET, "roles", AUTH, cd_api_roles},
	{CD_POST, "roles", AUTH, cd_api_roles},
	{CD_DELETE, "roles/*", AUTH, cd_api_role},
	{CD_POST, "roles/*/*", AUTH, cd_api_role},
	{CD_DELETE, "roles/*/*", AUTH, cd_api_role},
	{CD_DELETE, "roles/*/*/*", AUTH, cd_api_role},
	{CD_GET, "groups", AUTH, cd_api_groups},
	{CD_POST, "groups", AUTH, cd_api_groups},
	{CD_DELETE, "groups/*", AUTH, cd_api_group},
	{CD_POST, "groups/*/*", AUTH, cd_api_group},
	{CD_DELETE, "groups/*/*/*", AUTH, cd_api_group},
	{CD_GET, "events", AUTH, cd_api_events},
	{CD_GET, "events/stream", AUTH, cd_api_events_stream},
	{CD_POST, "events/*/ack", AUTH, cd_api_event_ack},
	{CD_GET, "audit", AUTH, cd_api_audit},
	{CD_GET, "audit/verify", AUTH, cd_api_audit_verify},
	{CD_GET, "export-profiles", AUTH, cd_export_profiles},
	{CD_GET, "exports", AUTH, cd_export_list},
	{CD_POST, "exports", AUTH, cd_export_create},
	{CD_GET, "exports/*", AUTH, cd_export_get},
	{CD_DELETE, "exports/*", AUTH, cd_export_delete},
	{CD_GET, "exports/*/file", AUTH, cd_export_file},
};

static bool
match(const char *pattern, const struct call *c)
{
	size_t i = 0;
	const char *p = pattern;
	while (*p != '\0') {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (i >= c->nsegs)
			return false;
		if (!(len == 1 && *p == '*') &&
		    (strlen(c->segs[i]) != len || strncmp(c->segs[i], p, len) != 0))
			return false;
		i++;
		p += len;
		if (*p == '/')
			p++;
	}
	return i == c->nsegs;
}

void
cd_api_handle(struct cd_req *r, void *ctx)
{
	struct call c = {.a = ctx, .r = r};
	const char *path = cd_req_path(r);
	if (strncmp(path, "/api/v1/", 8) != 0) {
		cd_web_serve(r); /* the browser client, or 404 */
		return;
	}
	int k = snprintf(c.pathbuf, sizeof(c.pathbuf), "%s", path + 8);
	if (k < 0 || (size_t)k >= sizeof(c.pathbuf)) { /* http.c refused it before */
		cd_reply_error(r, 414, "too_long", "the path is longer than %d bytes",
		               CD_HTTP_PATH_MAX);
		return;
	}
	char *save = NULL;
	for (char *t = strtok_r(c.pathbuf, "/", &save); t != NULL; t = strtok_r(NULL, "/", &save)) {
		if (c.nsegs == 8) {
			cd_reply_error(r, 404, "not_found", "no such endpoint");
			return;
		}
		c.segs[c.nsegs++] = t;
	}
	const struct route *rt = NULL;
	bool path_known = false;
	enum cd_method m = cd_req_method(r);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(routes[i].pattern, &c))
			continue;
		path_known = true;
		if (routes[i].method == m) {
			rt = &routes[i];
			break;
		}
	}
	if (rt == NULL) {
		if (path_known) {
			static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
			char allow[64] = "";
			for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
				if (match(routes[i].pattern, &c) && !strstr(allow, names[routes[i].method])) {
					size_t l = strlen(allow);
					k = snprintf(allow + l, sizeof(allow) - l, "%s%s", l ? ", " : "",
					             names[routes[i].method]);
					if (k < 0 || (size_t)k >= sizeof(allow) - l) { /* a header: never cut */
						cd_reply_error(r, 500, "internal", "the Allow header is too long");
						return;
					}
				}
			cd_reply_header(r, "Allow", allow);
			cd_reply_error(r, 405, "method", "%s is not allowed here (allowed: %s)",
			               cd_req_method_name(r), allow);
		}
		else
			cd_reply_error(r, 404, "not_found", "no such endpoint");
		return;
	}
	if (rt->access != PUBLIC && cd_call_authenticate(&c, rt->access == AUTH_OR_URL) < 0)
		return;
	if (rt->access == AUTH && cd_req_auth(r)[0] == '\0') {
		cd_reply_error(r, 401, "unauthenticated", "this needs an access token");
		return;
	}
	rt->fn(&c);
}
