/* One call to the /api/v1/ API and the plumbing every endpoint shares
 * (call.c): answers, audit entries, authentication and permission checks,
 * request bodies, and times and ids taken from paths and queries. The
 * resource files (api_*.c, export.c) include this and nothing of each other.
 *
 * Helpers that may answer the request themselves return CD_ANSWERED when
 * they did: the handler must stop and answer nothing more. */
#ifndef CD_CALL_H
#define CD_CALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "custody/error.h"

#define VIEW_SESSION_HEX 16            /* groups a login session's views in the audit log */
#define CD_CALL_SEGS_MAX 8             /* path segments after /api/v1/ */

/* "The request has been answered": distinct from 0, from the counts the
 * field helpers return (0 absent, 1 present) and from every cu_err. */
#define CD_ANSWERED (-1000)
_Static_assert(CD_ANSWERED < CU_ERR_CANCELLED - 100, "CD_ANSWERED must not be a cu_err");

/* One call: the request, and who is asking once authenticated. */
struct call {
	struct cd_api *a;
	struct cd_req *r;
	bool authed;
	char user[CU_USER_NAME_MAX + 1];      /* the authenticated caller */
	char session[VIEW_SESSION_HEX + 1];
	const char *segs[CD_CALL_SEGS_MAX];   /* into pathbuf */
	size_t nsegs;
	char pathbuf[CD_HTTP_PATH_MAX + 1];
};

/* Path segment i after /api/v1/; NULL past the last. */
static inline const char *
cd_call_seg(const struct call *c, size_t i)
{
	return i < c->nsegs ? c->segs[i] : NULL;
}

/* ---- answers ---- */

/* A JSON answer (takes o; 500 when it cannot be printed). */
void cd_call_reply_json(struct call *c, int status, json_t *o);
/* Answers a failed library call: the cu_err decides the status, the error
 * detail the message; unexpected errors are logged and answered 500. */
void cd_call_reply_cu(struct call *c, int err, const char *what);
/* Copies s into dst (len bytes) where it must never be cut (a name, a text
 * someone typed, a path): 0, or CD_ANSWERED (413 "WHAT: longer than N
 * bytes"). The checks of the body keep such a value out before; this is the
 * refusal should one get through. */
int cd_call_copy(struct call *c, char *dst, size_t len, const char *s, const char *what);

/* An ISO 8601 JSON string, or null for a time cu_time_text cannot print. */
json_t *cd_json_time(int64_t us);

/* The names of the functions in mask, as a JSON array. */
json_t *cd_functions_json(unsigned mask);

/* ---- the audit log ---- */

/* An audit entry by the caller, from their address (takes detail). */
void cd_call_audit(struct call *c, const char *type, json_t *detail);

/* ---- authentication and permissions ---- */

/* The first VIEW_SESSION_HEX hex digits of SHA-256(id): names a login
 * session (a token's jti, a signed URL's query) without revealing it. */
void cd_session_of(const char *id, char out[static VIEW_SESSION_HEX + 1]);
/* "Authorization: Bearer" or, when url_allowed, a signed URL: 0, or
 * CD_ANSWERED (401; refusals audited, at most 60 a minute). */
int cd_call_authenticate(struct call *c, bool url_allowed);
/* A site-wide function (admin, audit_read): 0 or CD_ANSWERED (403). */
int cd_call_need_site(struct call *c, int fn);
/* fn on camera: 0, or CD_ANSWERED with 404 (no grant at all on it, or no
 * such camera) or 403 (some grant, not this one). */
int cd_call_need_camera(struct call *c, const char *camera, int fn);

/* ---- request bodies ---- */

/* Wipes a secret held in a parsed JSON string (jansson's own copy). */
void cd_wipe_str(const char *s);
/* The body as a JSON object; NULL when answered 400/415. */
json_t *cd_call_body_json(struct call *c);
/* Refuses members other than those named (NULL-terminated): 0 or CD_ANSWERED. */
int cd_call_only_fields(struct call *c, json_t *o, const char *const *names);
/* A string member of at most max bytes: 1 present, 0 absent (when
 * optional), CD_ANSWERED (400). */
int cd_call_str_field(struct call *c, json_t *o, const char *name, bool required, size_t max,
                      const char **ret);
/* A member holding text people type, under the one rule (util/text.h,
 * flags CU_TEXT_*): 1 present, 0 absent (when optional), CD_ANSWERED (400
 * naming the member and what is wrong). */
int cd_call_text_field(struct call *c, json_t *o, const char *name, bool required, size_t max,
                       unsigned flags, const char **ret);
/* Answers a refusal of the body (body.h) with its status, code and message. */
struct cd_refusal;
void cd_call_refuse(struct call *c, const struct cd_refusal *e);
/* A time member (ISO 8601 or µs): 1 present, 0 absent, CD_ANSWERED (400). */
int cd_call_time_field(struct call *c, json_t *o, const char *name, bool required,
                       int64_t *ret);
/* A time in the path: 0 or CD_ANSWERED (400); what names it in the message. */
int cd_call_path_time(struct call *c, const char *s, const char *what, int64_t *ret);
/* A time query parameter: 1 present, 0 absent, CD_ANSWERED (400). */
int cd_call_query_time(struct call *c, const char *name, int64_t *ret);
/* A positive decimal id in the path: 0 or CD_ANSWERED (404). */
int cd_call_path_id(struct call *c, const char *s, int64_t *ret);

/* ---- the handlers, one file per resource ---- */

/* api_auth.c */
void cd_api_login(struct call *c);
void cd_api_renew(struct call *c);
void cd_api_logout(struct call *c);
void cd_api_me(struct call *c);
void cd_api_server(struct call *c);
/* api_cameras.c */
void cd_api_cameras(struct call *c);
void cd_api_camera_get(struct call *c);
void cd_api_ranges(struct call *c);
/* api_verify.c */
#define CD_VERIFY_MAX_US (86400 * INT64_C(1000000))  /* one GET verify's range */
#define CD_GAP_TOLERANCE_US (2 * INT64_C(1000000))   /* ranges merge segments this close */
#define CD_GAP_REASONS_MAX 32                         /* gaps of one ranges answer looked up */
void cd_api_verify(struct call *c);
/* A gap of GET ranges as JSON: {from, to, reason, signed} (and kind when a
 * signed gap or restart record in the two segments around the gap covers
 * it: those are verified); with look false, or nothing found, reason null
 * and signed false. */
json_t *cd_gap_json(struct call *c, const char *cam, int64_t from, int64_t to, bool look);
/* api_marks.c */
void cd_api_bookmarks_list(struct call *c);
void cd_api_bookmark_create(struct call *c);
void cd_api_bookmark(struct call *c);
void cd_api_locks_list(struct call *c);
void cd_api_lock_create(struct call *c);
void cd_api_lock(struct call *c);
/* api_media.c */
void cd_api_playback(struct call *c);
void cd_api_still(struct call *c);
void cd_api_media_url(struct call *c);
/* api_users.c */
void cd_api_users(struct call *c);
void cd_api_user(struct call *c);
void cd_api_roles(struct call *c);
void cd_api_role(struct call *c);
void cd_api_groups(struct call *c);
void cd_api_group(struct call *c);
/* api_events.c */
void cd_api_events(struct call *c);
void cd_api_events_stream(struct call *c);
void cd_api_event_ack(struct call *c);
/* api_audit.c */
void cd_api_audit(struct call *c);
void cd_api_audit_verify(struct call *c);

#endif
