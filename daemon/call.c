/* The plumbing every /api/v1/ endpoint shares (call.h): answers, the audit
 * entry of a call, authentication and permission checks, request bodies,
 * times and ids in paths and queries. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "body.h"
#include "call.h"
#include "custody/crypto.h"
#include "custody/time.h"
#include "daemon.h"
#include "custody/error.h"
#include "custody/parse.h"
#include "custody/text.h"

/* ---- answers ---- */

void
cd_call_reply_json(struct call *c, int status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(o);
	if (s == NULL) {
		cd_reply_error(c->r, 500, "internal", "out of memory");
		return;
	}
	size_t n = strlen(s);
	s[n] = '\0';
	char *body = realloc(s, n + 2);
	if (body == NULL) {
		free(s);
		cd_reply_error(c->r, 500, "internal", "out of memory");
		return;
	}
	body[n] = '\n';
	cd_reply_owned(c->r, status, "application/json", body, n + 1);
}

/* Answers a failed library call: the cu_err decides the status. */
void
cd_call_reply_cu(struct call *c, int err, const char *what)
{
	const char *d = cu_error_detail();
	switch (err) {
	case CU_ERR_INVAL:
	case CU_ERR_FORMAT:
		cd_reply_error(c->r, 400, "invalid", "%s: %s", what, d);
		break;
	case CU_ERR_NOTFOUND:
		cd_reply_error(c->r, 404, "not_found", "%s: %s", what, d);
		break;
	case CU_ERR_EXIST:
		cd_reply_error(c->r, 409, "exists", "%s: %s", what, d);
		break;
	case CU_ERR_TAMPERED:
		cd_reply_error(c->r, 409, "tampered", "%s: %s", what, d);
		break;
	case CU_ERR_BUSY:
		cd_reply_header(c->r, "Retry-After", "5");
		cd_reply_error(c->r, 503, "busy", "%s: %s", what, d);
		break;
	case CU_ERR_LIMIT:
		cd_reply_error(c->r, 413, "too_large", "%s: %s", what, d);
		break;
	case CU_ERR_NOSPC:
		cd_reply_error(c->r, 507, "disk_full", "%s: %s", what, d);
		break;
	case CU_ERR_AUTH:
		cd_reply_error(c->r, 403, "forbidden", "%s: %s", what, d);
		break;
	default:
		cd_log(CD_ERR, "api %s %s: %s: %s", cd_req_method_name(c->r), cd_req_path(c->r), what,
		       d);
		cd_reply_error(c->r, 500, "internal", "%s failed on the server (see its log)", what);
	}
}


int
cd_call_copy(struct call *c, char *dst, size_t len, const char *s, const char *what)
{
	int n = snprintf(dst, len, "%s", s);
	if (n >= 0 && (size_t)n < len)
		return 0;
	cd_call_reply_cu(c, cu_fail(CU_ERR_LIMIT, "longer than %zu bytes", len - 1), what);
	return CD_ANSWERED;
}

json_t *
cd_json_time(int64_t us)
{
	char b[CU_TIME_ISO_MAX];
	return cu_time_text(us, b) ? json_string(b) : json_null();
}

json_t *
cd_functions_json(unsigned mask)
{
	json_t *a = json_array();
	for (int fn = 0; fn < CU_FN_COUNT; fn++)
		if (mask & (1u << fn))
			json_array_append_new(a, json_string(cu_auth_function_name(fn)));
	return a;
}

/* ---- the audit log ---- */

void
cd_call_audit(struct call *c, const char *type, json_t *detail)
{
	struct cd_api *a = c->a;
	if (a->audit == NULL) {
		json_decref(detail);
		return;
	}
	char *d = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(detail);
	struct cu_audit_entry e = {
		.type = type,
		.actor = c->user[0] ? c->user : "-",
		.source = cd_req_source(c->r)[0] ? cd_req_source(c->r) : "-",
		.detail = d ? d : "{}",
	};
	if (cu_audit_append(a->audit, &e, NULL) < 0)
		cd_log(CD_ERR, "audit log: %s: %s", type, cu_error_detail());
	free(d);
}

/* Token refusals are logged, but at most REFUSALS_PER_MINUTE a minute, so
 * that a flood of bad tokens cannot fill the log; the next entry counts the
 * ones left out. */
#define REFUSALS_PER_MINUTE 60
static pthread_mutex_t refusal_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t refusal_window;
static int refusals_in_window;
static uint64_t refusals_dropped;

static void
audit_refusal(struct call *c, const char *why)
{
	int64_t minute = cu_time_mono_us() / (60 * INT64_C(1000000));
	pthread_mutex_lock(&refusal_lock);
	if (minute != refusal_window) {
		refusal_window = minute;
		refusals_in_window = 0;
	}
	bool log = refusals_in_window++ < REFUSALS_PER_MINUTE;
	uint64_t dropped = log ? refusals_dropped : 0;
	if (log)
		refusals_dropped = 0;
	else
		refusals_dropped++;
	pthread_mutex_unlock(&refusal_lock);
	if (log)
		cd_call_audit(c, "auth.token_refused",
		      json_pack("{s:s, s:s, s:s, s:I}", "method", cd_req_method_name(c->r), "path",
		                cd_req_path(c->r), "reason", why, "not_logged_before",
		                (json_int_t)dropped));
}

/* ---- authentication ---- */

void
cd_session_of(const char *jti, char out[static VIEW_SESSION_HEX + 1])
{
	uint8_t h[CU_SHA256_LEN];
	cu_sha256(jti, strlen(jti), h);
	cu_hex(h, VIEW_SESSION_HEX / 2, out);
}

/* Authenticates by "Authorization: Bearer" or, for media paths, by a signed
 * URL. 0, or answered 401. */
int
cd_call_authenticate(struct call *c, bool url_allowed)
{
	const char *h = cd_req_auth(c->r);
	const char *q = cd_req_query(c->r);
	if (url_allowed && h[0] == '\0' && strstr(q, "sig=") != NULL) {
		struct cu_url_claims uc;
		int r = cu_auth_check_url(c->a->auth, cd_req_method_name(c->r), cd_req_path(c->r), q,
		                          &uc);
		if (r < 0) {
			audit_refusal(c, cu_error_detail());
			cd_reply_error(c->r, 401, "unauthenticated", "the signed URL was refused: %s",
			               cu_error_detail());
			return CD_ANSWERED;
		}
		_Static_assert(sizeof(c->user) == sizeof(uc.user), "a user name fits");
		memcpy(c->user, uc.user, sizeof(c->user));
		cd_session_of(q, c->session);
		c->authed = true;
		return 0;
	}
	if (h[0] == '\0') {
		cd_reply_header(c->r, "WWW-Authenticate", "Bearer realm=\"custody\"");
		cd_reply_error(c->r, 401, "unauthenticated",
		               "this needs an access token: log in at POST /api/v1/auth/login and "
		               "send \"Authorization: Bearer TOKEN\"");
		return CD_ANSWERED;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		cd_reply_header(c->r, "WWW-Authenticate", "Bearer realm=\"custody\"");
		cd_reply_error(c->r, 401, "unauthenticated",
		               "the Authorization header must be \"Bearer TOKEN\"");
		return CD_ANSWERED;
	}
	const char *tok = h + 7;
	struct cu_token_claims cl;
	int r = cu_auth_token_verify(c->a->auth, tok, strlen(tok), &cl);
	if (r < 0) {
		/* a malformed token's detail may quote what the client sent: the
		 * log gets a fixed reason instead */
		char why[256];
		cu_fmt_cut(why, sizeof(why), "%s",
		           r == CU_ERR_FORMAT ? "malformed token" : cu_error_detail());
		audit_refusal(c, why);
		cd_reply_header(c->r, "WWW-Authenticate", "Bearer realm=\"custody\", "
		                                          "error=\"invalid_token\"");
		cd_reply_error(c->r, 401, "unauthenticated", "the access token was refused: %s", why);
		return CD_ANSWERED;
	}
	_Static_assert(sizeof(c->user) == sizeof(cl.user), "a user name fits");
	memcpy(c->user, cl.user, sizeof(c->user));
	cd_session_of(cl.jti, c->session);
	c->authed = true;
	return 0;
}

/* Site-wide function (admin, audit_read). 0 or answered 403. */
int
cd_call_need_site(struct call *c, int fn)
{
	int r = cu_auth_check(c->a->auth, c->user, fn, NULL);
	if (r == 0)
		return 0;
	if (r != CU_ERR_AUTH) {
		cd_call_reply_cu(c, r, "checking permissions");
		return CD_ANSWERED;
	}
	cd_reply_error(c->r, 403, "forbidden", "this needs the %s function for every camera",
	               cu_auth_function_name(fn));
	return CD_ANSWERED;
}

/* fn on camera: 0, or answered 404 (no grant at all on it: as if it did not
 * exist) or 403 (some grant, not this one). */
int
cd_call_need_camera(struct call *c, const char *camera, int fn)
{
	if (cu_camera_name_check(camera) < 0) {
		cd_reply_error(c->r, 404, "not_found", "no camera \"%.64s\"", camera);
		return CD_ANSWERED;
	}
	unsigned mask = 0;
	int r = cu_auth_functions(c->a->auth, c->user, camera, &mask);
	if (r < 0) {
		cd_call_reply_cu(c, r, "checking permissions");
		return CD_ANSWERED;
	}
	if (mask != 0 && (r = cu_store_camera_exists(c->a->store, camera)) < 0) {
		cd_call_reply_cu(c, r, "looking up the camera");
		return CD_ANSWERED;
	}
	if (mask == 0 || r == 0) {
		cd_reply_error(c->r, 404, "not_found", "no camera \"%s\"", camera);
		return CD_ANSWERED;
	}
	if ((mask & (1u << fn)) == 0 && (mask & (1u << CU_FN_ADMIN)) == 0) {
		cd_reply_error(c->r, 403, "forbidden", "you may not use %s on camera %s",
		               cu_auth_function_name(fn), camera);
		return CD_ANSWERED;
	}
	return 0;
}

/* ---- request bodies ---- */

/* Wipes a secret held in a parsed JSON string (jansson's own copy). */
void
cd_wipe_str(const char *s)
{
	if (s != NULL)
		cu_wipe((void *)(uintptr_t)s, strlen(s));
}

/* Parses the body as a JSON object. NULL: answered 400/415. */
json_t *
cd_call_body_json(struct call *c)
{
	size_t len;
	const uint8_t *b = cd_req_body(c->r, &len);
	const char *ct = cd_req_content_type(c->r);
	if (strncmp(ct, "application/json", 16) != 0 || (ct[16] != '\0' && ct[16] != ';')) {
		cd_reply_error(c->r, 415, "unsupported_media_type",
		               "the body must be JSON, sent as Content-Type: application/json");
		return NULL;
	}
	json_error_t err;
	/* "\u0000" is let through so that cd_call_text_field can name the member
	 * that holds it; every reader of a string compares strlen with its length */
	json_t *o = json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (o == NULL || !json_is_object(o)) {
		cd_reply_error(c->r, 400, "invalid", "the body is not a JSON object%s%s",
		               o ? "" : ": ", o ? "" : err.text);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The request answers a refusal of its body. */
void
cd_call_refuse(struct call *c, const struct cd_refusal *e)
{
	if (e->status == 503)
		cd_reply_header(c->r, "Retry-After", "5");
	cd_reply_error(c->r, e->status, e->code, "%s", e->message);
}

int
cd_call_only_fields(struct call *c, json_t *o, const char *const *names)
{
	struct cd_refusal e;
	if (cd_body_only_fields(o, names, &e) < 0) {
		cd_call_refuse(c, &e);
		return CD_ANSWERED;
	}
	return 0;
}

int
cd_call_str_field(struct call *c, json_t *o, const char *name, bool required, size_t max,
                  const char **ret)
{
	struct cd_refusal e;
	int r = cd_body_str(o, name, required, max, ret, &e);
	if (r < 0) {
		cd_call_refuse(c, &e);
		return CD_ANSWERED;
	}
	return r;
}

int
cd_call_text_field(struct call *c, json_t *o, const char *name, bool required, size_t max,
                   unsigned flags, const char **ret)
{
	struct cd_refusal e;
	int r = cd_body_text(o, name, required, max, flags, ret, &e);
	if (r < 0) {
		cd_call_refuse(c, &e);
		return CD_ANSWERED;
	}
	return r;
}

int
cd_call_time_field(struct call *c, json_t *o, const char *name, bool required, int64_t *ret)
{
	struct cd_refusal e;
	int r = cd_body_time(o, name, required, ret, &e);
	if (r < 0) {
		cd_call_refuse(c, &e);
		return CD_ANSWERED;
	}
	return r;
}


int
cd_call_path_time(struct call *c, const char *s, const char *what, int64_t *ret)
{
	if (cd_parse_time(s, ret) == 0)
		return 0;
	cd_reply_error(c->r, 400, "invalid", "the %s time \"%.40s\" is not ISO 8601 (e.g. "
	               "2026-01-31T12:00:00Z) or microseconds since the epoch", what, s);
	return CD_ANSWERED;
}

int
cd_call_query_time(struct call *c, const char *name, int64_t *ret)
{
	char buf[64];
	int r = cd_req_param(c->r, name, buf, sizeof(buf));
	if (r == 0)
		return 0;
	if (r < 0 || cd_parse_time(buf, ret) < 0) {
		cd_reply_error(c->r, 400, "invalid", "the query parameter %s must be an ISO 8601 "
		               "time or microseconds since the epoch", name);
		return CD_ANSWERED;
	}
	return 1;
}

/* ---- path segments ---- */

int
cd_call_path_id(struct call *c, const char *s, int64_t *ret)
{
	if (s[0] < '1' || s[0] > '9' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18) {
		cd_reply_error(c->r, 404, "not_found", "no such id \"%.20s\"", s);
		return CD_ANSWERED;
	}
	uint64_t v;
	if (cu_parse_u64(s, INT64_MAX, "id", &v) < 0) {
		cd_reply_error(c->r, 404, "not_found", "no such id \"%.20s\"", s);
		return CD_ANSWERED;
	}
	*ret = (int64_t)v;
	return 0;
}
