/* The /api/v1/ endpoints (docs/api.md). Each handler runs on an HTTPS
 * worker: it authenticates the caller, checks the permission the endpoint
 * needs, does the work and answers JSON (or media). A caller without any
 * grant on a camera gets 404 for it, exactly as for a camera that does not
 * exist; a caller with some grant but not the needed one gets 403. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "still.h"
#include "api_int.h"
#include "custody/crypto.h"
#include "custody/mux.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "daemon.h"
#include "export.h"
#include "util/err.h"
#include "util/parse.h"

#define VIEW_SESSION_HEX 16

/* One call: the request, and who is asking once authenticated. */
struct call {
	struct cd_api *a;
	struct cd_req *r;
	bool authed;
	char user[CU_USER_NAME_MAX + 1];
	char session[VIEW_SESSION_HEX + 1];   /* groups a login session's views */
	const char *segs[8];                  /* path segments after /api/v1/ */
	size_t nsegs;
	char pathbuf[CD_HTTP_PATH_MAX + 1];
};

/* ---- answers ---- */

static void
reply_json(struct call *c, int status, json_t *o)
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
static void
reply_cu(struct call *c, int err, const char *what)
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

static json_t *
jtime(int64_t us)
{
	char b[CU_TIME_ISO_MAX];
	return cu_time_text(us, b) ? json_string(b) : json_null();
}

/* ---- the audit log ---- */

static void
audit(struct call *c, const char *type, json_t *detail)
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
		audit(c, "auth.token_refused",
		      json_pack("{s:s, s:s, s:s, s:I}", "method", cd_req_method_name(c->r), "path",
		                cd_req_path(c->r), "reason", why, "not_logged_before",
		                (json_int_t)dropped));
}

/* ---- authentication ---- */

static void
session_of(const char *jti, char out[static VIEW_SESSION_HEX + 1])
{
	uint8_t h[CU_SHA256_LEN];
	cu_sha256(jti, strlen(jti), h);
	for (int i = 0; i < VIEW_SESSION_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Authenticates by "Authorization: Bearer" or, for media paths, by a signed
 * URL. 0, or answered 401. */
static int
authenticate(struct call *c, bool url_allowed)
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
			return -1;
		}
		snprintf(c->user, sizeof(c->user), "%s", uc.user);
		session_of(q, c->session);
		c->authed = true;
		return 0;
	}
	if (h[0] == '\0') {
		cd_reply_header(c->r, "WWW-Authenticate", "Bearer realm=\"custody\"");
		cd_reply_error(c->r, 401, "unauthenticated",
		               "this needs an access token: log in at POST /api/v1/auth/login and "
		               "send \"Authorization: Bearer TOKEN\"");
		return -1;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		cd_reply_header(c->r, "WWW-Authenticate", "Bearer realm=\"custody\"");
		cd_reply_error(c->r, 401, "unauthenticated",
		               "the Authorization header must be \"Bearer TOKEN\"");
		return -1;
	}
	const char *tok = h + 7;
	struct cu_token_claims cl;
	int r = cu_auth_token_verify(c->a->auth, tok, strlen(tok), &cl);
	if (r < 0) {
		/* a malformed token's detail may quote what the client sent: the
		 * log gets a fixed reason instead */
		char why[256];
		snprintf(why, sizeof(why), "%s",
		         r == CU_ERR_FORMAT ? "malformed token" : cu_error_detail());
		audit_refusal(c, why);
		cd_reply_header(c->r, "WWW-Authenticate", "Bearer realm=\"custody\", "
		                                          "error=\"invalid_token\"");
		cd_reply_error(c->r, 401, "unauthenticated", "the access token was refused: %s", why);
		return -1;
	}
	snprintf(c->user, sizeof(c->user), "%s", cl.user);
	session_of(cl.jti, c->session);
	c->authed = true;
	return 0;
}

/* Site-wide function (admin, audit_read). 0 or answered 403. */
static int
need_site(struct call *c, int fn)
{
	int r = cu_auth_check(c->a->auth, c->user, fn, NULL);
	if (r == 0)
		return 0;
	if (r != CU_ERR_AUTH) {
		reply_cu(c, r, "checking permissions");
		return -1;
	}
	cd_reply_error(c->r, 403, "forbidden", "this needs the %s function for every camera",
	               cu_auth_function_name(fn));
	return -1;
}

/* fn on camera: 0, or answered 404 (no grant at all on it: as if it did not
 * exist) or 403 (some grant, not this one). */
static int
need_camera(struct call *c, const char *camera, int fn)
{
	if (cu_camera_name_check(camera) < 0) {
		cd_reply_error(c->r, 404, "not_found", "no camera \"%.64s\"", camera);
		return -1;
	}
	unsigned mask = 0;
	int r = cu_auth_functions(c->a->auth, c->user, camera, &mask);
	if (r < 0) {
		reply_cu(c, r, "checking permissions");
		return -1;
	}
	if (mask != 0 && (r = cu_store_camera_exists(c->a->store, camera)) < 0) {
		reply_cu(c, r, "looking up the camera");
		return -1;
	}
	if (mask == 0 || r == 0) {
		cd_reply_error(c->r, 404, "not_found", "no camera \"%s\"", camera);
		return -1;
	}
	if ((mask & (1u << fn)) == 0 && (mask & (1u << CU_FN_ADMIN)) == 0) {
		cd_reply_error(c->r, 403, "forbidden", "you may not use %s on camera %s",
		               cu_auth_function_name(fn), camera);
		return -1;
	}
	return 0;
}

/* ---- request bodies ---- */

/* Wipes a secret held in a parsed JSON string (jansson's own copy). */
static void
wipe_str(const char *s)
{
	if (s != NULL)
		cu_wipe((void *)(uintptr_t)s, strlen(s));
}

/* Parses the body as a JSON object. NULL: answered 400/415. */
static json_t *
body_json(struct call *c)
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
	json_t *o = json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES, &err);
	if (o == NULL || !json_is_object(o)) {
		cd_reply_error(c->r, 400, "invalid", "the body is not a JSON object%s%s",
		               o ? "" : ": ", o ? "" : err.text);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Refuses members other than those named (NULL-terminated). */
static int
only_fields(struct call *c, json_t *o, const char *const *names)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool known = false;
		for (size_t i = 0; names[i] && !known; i++)
			known = strcmp(k, names[i]) == 0;
		if (!known) {
			cd_reply_error(c->r, 400, "invalid", "unknown field \"%.64s\"", k);
			return -1;
		}
	}
	return 0;
}

/* A string member: 1 present, 0 absent (when optional), -1 answered 400. */
static int
str_field(struct call *c, json_t *o, const char *name, bool required, size_t max,
          const char **ret)
{
	json_t *v = json_object_get(o, name);
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		cd_reply_error(c->r, 400, "invalid", "\"%s\" is required", name);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		cd_reply_error(c->r, 400, "invalid", "\"%s\" must be a string of at most %zu bytes",
		               name, max);
		return -1;
	}
	*ret = json_string_value(v);
	return 1;
}

/* A time: ISO 8601 text or an integer of microseconds since the epoch. */
static int
parse_time(const char *s, int64_t *ret)
{
	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 17) {
		uint64_t v;
		if (cu_parse_u64(s, UINT64_C(253402300799999999), "time", &v) < 0)
			return -1;
		*ret = (int64_t)v;
		return 0;
	}
	return cu_time_parse_iso8601(s, ret);
}

static int
time_field(struct call *c, json_t *o, const char *name, bool required, int64_t *ret)
{
	json_t *v = json_object_get(o, name);
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		cd_reply_error(c->r, 400, "invalid", "\"%s\" is required (ISO 8601 time)", name);
		return -1;
	}
	if (json_is_string(v) && json_string_length(v) < 64 &&
	    parse_time(json_string_value(v), ret) == 0)
		return 1;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*ret = (int64_t)json_integer_value(v);
		return 1;
	}
	cd_reply_error(c->r, 400, "invalid", "\"%s\" must be an ISO 8601 time such as "
	               "2026-01-31T12:00:00Z, or microseconds since the epoch", name);
	return -1;
}

static int
path_time(struct call *c, const char *s, const char *what, int64_t *ret)
{
	if (parse_time(s, ret) == 0)
		return 0;
	cd_reply_error(c->r, 400, "invalid", "the %s time \"%.40s\" is not ISO 8601 (e.g. "
	               "2026-01-31T12:00:00Z) or microseconds since the epoch", what, s);
	return -1;
}

static int
query_time(struct call *c, const char *name, int64_t *ret)
{
	char buf[64];
	int r = cd_req_param(c->r, name, buf, sizeof(buf));
	if (r == 0)
		return 0;
	if (r < 0 || parse_time(buf, ret) < 0) {
		cd_reply_error(c->r, 400, "invalid", "the query parameter %s must be an ISO 8601 "
		               "time or microseconds since the epoch", name);
		return -1;
	}
	return 1;
}

/* ---- auth endpoints ---- */

static void
h_login(struct call *c)
{
	json_t *o = body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"user", "password", NULL};
	const char *user, *pw;
	if (only_fields(c, o, f) < 0 || str_field(c, o, "user", true, 256, &user) < 0 ||
	    str_field(c, o, "password", true, 1024, &pw) < 0) {
		json_decref(o);
		return;
	}
	size_t pwlen = strlen(pw);
	struct cu_login res;
	int r = cu_auth_login(c->a->auth, user, pw, pwlen, cd_req_source(c->r), &res);
	wipe_str(pw);
	cd_req_wipe_body(c->r);
	char uname[CU_USER_NAME_MAX + 1];
	snprintf(uname, sizeof(uname), "%s", user);
	json_decref(o);
	if (r < 0) {
		reply_cu(c, r, "login");
		return;
	}
	/* the name goes into the log only if it is a valid user name: never a
	 * password typed into the wrong field */
	bool valid_name = cu_auth_user_name_check(uname) == 0;
	json_t *who = json_string(valid_name ? uname : "(not a valid user name)");
	char retry[32];
	switch (res.result) {
	case CU_LOGIN_OK: {
		snprintf(c->user, sizeof(c->user), "%s", uname);
		audit(c, "auth.login", json_pack("{s:o}", "user", who));
		json_t *out = json_pack("{s:s, s:o, s:s, s:I}", "token", res.token, "expires",
		                        jtime(res.expires_us), "user", uname, "expires_in",
		                        (json_int_t)((res.expires_us - cu_time_now_us()) / 1000000));
		cu_wipe(res.token, sizeof(res.token));
		reply_json(c, 200, out);
		return;
	}
	case CU_LOGIN_LOCKED_ACCOUNT:
	case CU_LOGIN_THROTTLED_SOURCE: {
		bool acct = res.result == CU_LOGIN_LOCKED_ACCOUNT;
		audit(c, "auth.login_refused",
		      json_pack("{s:o, s:s}", "user", json_incref(who), "reason",
		                acct ? "account locked" : "source throttled"));
		json_decref(who);
		int64_t secs = (res.retry_after_us - cu_time_now_us()) / 1000000 + 1;
		snprintf(retry, sizeof(retry), "%lld", (long long)(secs > 0 ? secs : 1));
		cd_reply_header(c->r, "Retry-After", retry);
		cd_log(CD_WARN, "login refused for %s from %s: %s", valid_name ? uname : "-",
		       cd_req_source(c->r), acct ? "account locked" : "source throttled");
		cd_reply_error(c->r, 429, acct ? "locked" : "throttled",
		               acct ? "too many failed logins for this account: try again in %s s"
		                    : "too many failed logins from your address: try again in %s s",
		               retry);
		return;
	}
	default: {
		const char *why = res.result == CU_LOGIN_DISABLED ? "user disabled" : "bad credentials";
		audit(c, "auth.login_failed", json_pack("{s:o, s:s}", "user", json_incref(who),
		                                        "reason", why));
		if (res.account_locked_now)
			audit(c, "auth.lockout", json_pack("{s:o, s:s}", "user", json_incref(who),
			                                   "kind", "account"));
		if (res.source_throttled_now)
			audit(c, "auth.lockout", json_pack("{s:s, s:s}", "source", cd_req_source(c->r),
			                                   "kind", "source"));
		if (res.account_locked_now)
			cd_event("auth.lockout", NULL, "account %s locked for %lld s after %d failed "
			         "logins", valid_name ? uname : "-",
			         (long long)(CU_LOCK_DURATION_US / 1000000), CU_LOCK_ACCOUNT_FAILURES);
		if (res.source_throttled_now)
			cd_event("auth.lockout", NULL, "source %s throttled for %lld s after %d failed "
			         "logins", cd_req_source(c->r),
			         (long long)(CU_LOCK_DURATION_US / 1000000), CU_THROTTLE_SOURCE_FAILURES);
		json_decref(who);
		cd_reply_header(c->r, "WWW-Authenticate", "Bearer realm=\"custody\"");
		cd_reply_error(c->r, 401, "bad_credentials",
		               "the user name or password is wrong, or the user is disabled");
		return;
	}
	}
}

static const char *
bearer(struct call *c)
{
	return cd_req_auth(c->r) + 7;
}

static void
h_renew(struct call *c)
{
	char buf[CU_TOKEN_MAX + 1];
	struct cu_token_claims cl;
	int r = cu_auth_token_renew(c->a->auth, bearer(c), strlen(bearer(c)), 0, buf, sizeof(buf),
	                            &cl);
	if (r < 0) {
		reply_cu(c, r == CU_ERR_AUTH ? CU_ERR_INVAL : r, "renewing the token");
		return;
	}
	audit(c, "auth.renew", json_pack("{s:s, s:o}", "session", c->session, "expires",
	                                 jtime(cl.expires_us)));
	json_t *out = json_pack("{s:s, s:o, s:s, s:I}", "token", buf, "expires",
	                        jtime(cl.expires_us), "user", cl.user, "expires_in",
	                        (json_int_t)((cl.expires_us - cu_time_now_us()) / 1000000));
	cu_wipe(buf, sizeof(buf));
	reply_json(c, 200, out);
}

static void
h_logout(struct call *c)
{
	struct cu_auth_event ev;
	int r = cu_auth_token_revoke(c->a->auth, bearer(c), strlen(bearer(c)), &ev);
	if (r < 0) {
		reply_cu(c, r, "logging out");
		return;
	}
	audit(c, "auth.logout", json_pack("{s:s}", "session", c->session));
	cd_reply(c->r, 204, "", NULL, 0);
}

static json_t *
functions_json(unsigned mask)
{
	json_t *a = json_array();
	for (int fn = 0; fn < CU_FN_COUNT; fn++)
		if (mask & (1u << fn))
			json_array_append_new(a, json_string(cu_auth_function_name(fn)));
	return a;
}

static void
h_me(struct call *c)
{
	unsigned mask = 0;
	int r = cu_auth_functions(c->a->auth, c->user, NULL, &mask);
	if (r < 0) {
		reply_cu(c, r, "reading your permissions");
		return;
	}
	reply_json(c, 200, json_pack("{s:s, s:o}", "user", c->user, "site_functions",
	                             functions_json(mask)));
}

static void
h_server(struct call *c)
{
	struct cu_store_info *in;
	int r = cu_store_info(c->a->store, &in);
	if (r < 0) {
		reply_cu(c, r, "reading the store");
		return;
	}
	char sfp[96], cfp[96];
	cu_x509_fingerprint_hex(in->signer_fp, sfp, sizeof(sfp));
	cu_x509_fingerprint_hex(in->ca_fp, cfp, sizeof(cfp));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "api", "v1", "version",
	                      VERSION, "server", c->a->server_name, "signer", in->signer_subject,
	                      "signer_sha256", sfp, "site_ca_sha256", cfp, "tls_ca_sha256",
	                      c->a->tls_ca_fp[0] ? json_string(c->a->tls_ca_fp) : json_null(),
	                      "time", jtime(cu_time_now_us()));
	cu_store_info_free(in);
	reply_json(c, 200, o);
}

/* ---- cameras ---- */

static void
h_cameras(struct call *c)
{
	struct cu_store_info *in;
	int r = cu_store_info(c->a->store, &in);
	if (r < 0) {
		reply_cu(c, r, "reading the cameras");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < in->ncameras; i++) {
		const struct cu_info_camera *cam = &in->cameras[i];
		unsigned mask = 0;
		if (cu_auth_functions(c->a->auth, c->user, cam->name, &mask) < 0 || mask == 0)
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:b, s:o, s:o, s:o}", "name", cam->name,
		                                     "recording", cam->recording, "first",
		                                     jtime(cam->first_us), "last",
		                                     jtime(cam->last_us), "functions",
		                                     functions_json(mask)));
	}
	cu_store_info_free(in);
	reply_json(c, 200, json_pack("{s:o}", "cameras", arr));
}

/* GET /cameras/{cam}: any function shows it. */
static void
h_camera_get(struct call *c)
{
	const char *cam = c->segs[1];
	unsigned mask = 0;
	int r = cu_camera_name_check(cam) == 0
	        ? cu_auth_functions(c->a->auth, c->user, cam, &mask) : 0;
	if (r < 0) {
		reply_cu(c, r, "checking permissions");
		return;
	}
	struct cu_store_info *in;
	if (mask == 0 || (r = cu_store_info(c->a->store, &in)) < 0) {
		if (r < 0)
			reply_cu(c, r, "reading the cameras");
		else
			cd_reply_error(c->r, 404, "not_found", "no camera \"%.64s\"", cam);
		return;
	}
	for (size_t i = 0; i < in->ncameras; i++) {
		const struct cu_info_camera *x = &in->cameras[i];
		if (strcmp(x->name, cam) != 0)
			continue;
		json_t *o = json_pack("{s:s, s:b, s:o, s:o, s:I, s:I, s:o}", "name", x->name,
		                      "recording", x->recording, "first", jtime(x->first_us), "last",
		                      jtime(x->last_us), "segments", (json_int_t)x->segments, "bytes",
		                      (json_int_t)x->bytes, "functions", functions_json(mask));
		cu_store_info_free(in);
		reply_json(c, 200, o);
		return;
	}
	cu_store_info_free(in);
	cd_reply_error(c->r, 404, "not_found", "no camera \"%s\"", cam);
}

/* GET /cameras/{cam}/ranges?from=&to=&limit= */
static void
h_ranges(struct call *c)
{
	const char *cam = c->segs[1];
	if (need_camera(c, cam, CU_FN_PLAYBACK) < 0)
		return;
	int64_t from = 0, to = 0;
	if (query_time(c, "from", &from) < 0 || query_time(c, "to", &to) < 0)
		return;
	if (to != 0 && to < from) {
		cd_reply_error(c->r, 400, "invalid", "\"to\" is before \"from\"");
		return;
	}
	struct cu_range *rg = NULL;
	size_t n = 0;
	bool more = false;
	int r = cu_store_ranges(c->a->store, cam, from, to, 2 * INT64_C(1000000),
	                        CD_RANGES_DEFAULT, &rg, &n, &more);
	if (r < 0) {
		reply_cu(c, r, "reading the recordings");
		return;
	}
	json_t *ranges = json_array(), *gaps = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(ranges, json_pack("{s:o, s:o}", "from", jtime(rg[i].from_us),
		                                        "to", jtime(rg[i].to_us)));
		if (i > 0)
			json_array_append_new(gaps, json_pack("{s:o, s:o}", "from",
			                                      jtime(rg[i - 1].to_us), "to",
			                                      jtime(rg[i].from_us)));
	}
	free(rg);
	reply_json(c, 200, json_pack("{s:s, s:o, s:o, s:b}", "camera", cam, "ranges", ranges,
	                             "gaps", gaps, "truncated", more));
}

/* ---- bookmarks ---- */

static json_t *
bookmark_json(const struct cu_bookmark *b)
{
	return json_pack("{s:I, s:s, s:o, s:o, s:s, s:s, s:s, s:o}", "id", (json_int_t)b->id,
	                 "camera", b->camera, "at", jtime(b->at_us), "end",
	                 b->end_us ? jtime(b->end_us) : json_null(), "title", b->title,
	                 "description", b->description, "created_by", b->created_by, "created",
	                 jtime(b->created_us));
}

static void
h_bookmarks_list(struct call *c)
{
	const char *cam = c->segs[1];
	unsigned mask = 0;
	if (cu_camera_name_check(cam) < 0 ||
	    cu_auth_functions(c->a->auth, c->user, cam, &mask) < 0 || mask == 0 ||
	    cu_store_camera_exists(c->a->store, cam) != 1) {
		cd_reply_error(c->r, 404, "not_found", "no camera \"%.64s\"", cam);
		return;
	}
	if ((mask & ((1u << CU_FN_PLAYBACK) | (1u << CU_FN_BOOKMARK) | (1u << CU_FN_ADMIN))) == 0) {
		cd_reply_error(c->r, 403, "forbidden", "listing bookmarks needs playback or bookmark "
		               "on camera %s", cam);
		return;
	}
	int64_t from = 0, to = 0;
	if (query_time(c, "from", &from) < 0 || query_time(c, "to", &to) < 0)
		return;
	struct cu_bookmark *b = NULL;
	size_t n = 0;
	int r = cu_bookmark_list(c->a->store, cam, from, to, CU_BOOKMARK_LIST_MAX, &b, &n);
	if (r < 0) {
		reply_cu(c, r, "listing bookmarks");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, bookmark_json(&b[i]));
	free(b);
	reply_json(c, 200, json_pack("{s:o, s:b}", "bookmarks", arr, "truncated", n == CU_BOOKMARK_LIST_MAX));
}

static void
h_bookmark_create(struct call *c)
{
	const char *cam = c->segs[1];
	if (need_camera(c, cam, CU_FN_BOOKMARK) < 0)
		return;
	json_t *o = body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"at", "end", "title", "description", NULL};
	struct cu_bookmark b = {0};
	const char *title = "", *desc = "";
	if (only_fields(c, o, f) < 0 || time_field(c, o, "at", true, &b.at_us) < 0 ||
	    time_field(c, o, "end", false, &b.end_us) < 0 ||
	    str_field(c, o, "title", true, CU_BOOKMARK_TITLE_MAX, &title) < 0 ||
	    str_field(c, o, "description", false, CU_BOOKMARK_DESCRIPTION_MAX, &desc) < 0) {
		json_decref(o);
		return;
	}
	snprintf(b.camera, sizeof(b.camera), "%s", cam);
	snprintf(b.title, sizeof(b.title), "%s", title);
	snprintf(b.description, sizeof(b.description), "%s", desc);
	snprintf(b.created_by, sizeof(b.created_by), "%s", c->user);
	json_decref(o);
	int r = cu_bookmark_create(c->a->store, &b);
	if (r < 0) {
		reply_cu(c, r, "creating the bookmark");
		return;
	}
	audit(c, "bookmark.create", json_pack("{s:I, s:s, s:o, s:o, s:s}", "id", (json_int_t)b.id,
	                                      "camera", b.camera, "at", jtime(b.at_us), "end",
	                                      b.end_us ? jtime(b.end_us) : json_null(), "title",
	                                      b.title));
	reply_json(c, 201, bookmark_json(&b));
}

static int
parse_id(struct call *c, const char *s, int64_t *ret)
{
	if (s[0] < '1' || s[0] > '9' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18) {
		cd_reply_error(c->r, 404, "not_found", "no such id \"%.20s\"", s);
		return -1;
	}
	uint64_t v;
	if (cu_parse_u64(s, INT64_MAX, "id", &v) < 0) {
		cd_reply_error(c->r, 404, "not_found", "no such id \"%.20s\"", s);
		return -1;
	}
	*ret = (int64_t)v;
	return 0;
}

/* GET or DELETE /bookmarks/{id} */
static void
h_bookmark(struct call *c)
{
	int64_t id;
	if (parse_id(c, c->segs[1], &id) < 0)
		return;
	struct cu_bookmark b;
	int r = cu_bookmark_get(c->a->store, id, &b);
	unsigned mask = 0;
	if (r == 0 && (r = cu_auth_functions(c->a->auth, c->user, b.camera, &mask)) < 0) {
		reply_cu(c, r, "checking permissions");
		return;
	}
	if (r == CU_ERR_NOTFOUND || (r == 0 && mask == 0)) {
		cd_reply_error(c->r, 404, "not_found", "no bookmark %lld", (long long)id);
		return;
	}
	if (r < 0) {
		reply_cu(c, r, "reading the bookmark");
		return;
	}
	unsigned want = cd_req_method(c->r) == CD_DELETE
	                ? (1u << CU_FN_BOOKMARK) | (1u << CU_FN_ADMIN)
	                : (1u << CU_FN_PLAYBACK) | (1u << CU_FN_BOOKMARK) | (1u << CU_FN_ADMIN);
	if ((mask & want) == 0) {
		cd_reply_error(c->r, 403, "forbidden", "this needs the bookmark function on camera %s",
		               b.camera);
		return;
	}
	if (cd_req_method(c->r) == CD_GET) {
		reply_json(c, 200, bookmark_json(&b));
		return;
	}
	if ((r = cu_bookmark_delete(c->a->store, id)) < 0) {
		reply_cu(c, r, "deleting the bookmark");
		return;
	}
	audit(c, "bookmark.delete", json_pack("{s:I, s:s, s:o, s:s}", "id", (json_int_t)id,
	                                      "camera", b.camera, "at", jtime(b.at_us), "title",
	                                      b.title));
	cd_reply(c->r, 204, "", NULL, 0);
}

/* ---- evidence locks ---- */

static json_t *
lock_json(const struct cu_lock *l, struct call *c)
{
	json_t *cams = json_array();
	for (size_t i = 0; i < l->ncameras; i++)
		json_array_append_new(cams, json_string(l->cameras[i]));
	return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "id",
	                 (json_int_t)l->id, "headline", l->headline, "description", l->description,
	                 "cameras", cams, "from", jtime(l->from_us), "to", jtime(l->to_us),
	                 "expires", l->expires_us ? jtime(l->expires_us) : json_null(),
	                 "created_by", l->created_by, "created", jtime(l->created_us), "updated",
	                 jtime(l->updated_us));
}

/* A lock is visible when the caller has any grant on each of its cameras,
 * and changeable with evidence_lock on each. 0 ok, 404 / 403 answered. */
static int
lock_access(struct call *c, const struct cu_lock *l, bool change)
{
	for (size_t i = 0; i < l->ncameras; i++) {
		unsigned mask = 0;
		int r = cu_auth_functions(c->a->auth, c->user, l->cameras[i], &mask);
		if (r < 0) {
			reply_cu(c, r, "checking permissions");
			return -1;
		}
		if (mask == 0) {
			cd_reply_error(c->r, 404, "not_found", "no evidence lock %lld", (long long)l->id);
			return -1;
		}
		if (change && (mask & ((1u << CU_FN_EVIDENCE_LOCK) | (1u << CU_FN_ADMIN))) == 0) {
			cd_reply_error(c->r, 403, "forbidden", "this needs the evidence_lock function "
			               "on camera %s", l->cameras[i]);
			return -1;
		}
	}
	return 0;
}

/* Reads the fields of a lock from a body; create: all required. */
static int
lock_from_body(struct call *c, json_t *o, struct cu_lock *l, bool create)
{
	static const char *const f[] = {"headline", "description", "cameras", "from", "to",
	                                "expires", NULL};
	if (only_fields(c, o, f) < 0)
		return -1;
	const char *s;
	int r;
	if ((r = str_field(c, o, "headline", create, CU_LOCK_HEADLINE_MAX, &s)) < 0)
		return -1;
	if (r == 1)
		snprintf(l->headline, sizeof(l->headline), "%s", s);
	if ((r = str_field(c, o, "description", false, CU_LOCK_DESCRIPTION_MAX, &s)) < 0)
		return -1;
	if (r == 1)
		snprintf(l->description, sizeof(l->description), "%s", s);
	json_t *cams = json_object_get(o, "cameras");
	if (cams != NULL) {
		if (!json_is_array(cams) || json_array_size(cams) == 0 ||
		    json_array_size(cams) > CU_LOCK_CAMERAS_MAX) {
			cd_reply_error(c->r, 400, "invalid", "\"cameras\" must be a list of 1 to %d "
			               "camera names", CU_LOCK_CAMERAS_MAX);
			return -1;
		}
		l->ncameras = 0;
		size_t i;
		json_t *v;
		json_array_foreach(cams, i, v) {
			if (!json_is_string(v) || json_string_length(v) > CU_CAMERA_NAME_MAX) {
				cd_reply_error(c->r, 400, "invalid", "\"cameras\"[%zu] is not a camera "
				               "name", i);
				return -1;
			}
			snprintf(l->cameras[l->ncameras++], CU_CAMERA_NAME_MAX + 1, "%s",
			         json_string_value(v));
		}
	} else if (create) {
		cd_reply_error(c->r, 400, "invalid", "\"cameras\" is required");
		return -1;
	}
	if (time_field(c, o, "from", create, &l->from_us) < 0 ||
	    time_field(c, o, "to", create, &l->to_us) < 0)
		return -1;
	json_t *e = json_object_get(o, "expires");
	if (e != NULL && json_is_null(e))
		l->expires_us = 0; /* indefinite */
	else if (e != NULL && time_field(c, o, "expires", true, &l->expires_us) < 0)
		return -1;
	return 0;
}

static void
h_locks_list(struct call *c)
{
	struct cu_lock *ls = NULL;
	size_t n = 0;
	char buf[8];
	bool expired = cd_req_param(c->r, "expired", buf, sizeof(buf)) == 1 &&
	               strcmp(buf, "true") == 0;
	int r = cu_lock_list(c->a->store, NULL, expired, cu_time_now_us(), &ls, &n);
	if (r < 0) {
		reply_cu(c, r, "listing evidence locks");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		bool visible = true;
		for (size_t k = 0; k < ls[i].ncameras && visible; k++) {
			unsigned mask = 0;
			visible = cu_auth_functions(c->a->auth, c->user, ls[i].cameras[k], &mask) == 0 &&
			          mask != 0;
		}
		if (visible)
			json_array_append_new(arr, lock_json(&ls[i], c));
	}
	free(ls);
	reply_json(c, 200, json_pack("{s:o}", "evidence_locks", arr));
}

static void
h_lock_create(struct call *c)
{
	json_t *o = body_json(c);
	if (o == NULL)
		return;
	struct cu_lock *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		json_decref(o);
		cd_reply_error(c->r, 503, "busy", "out of memory");
		return;
	}
	if (lock_from_body(c, o, l, true) < 0)
		goto out;
	for (size_t i = 0; i < l->ncameras; i++)
		if (need_camera(c, l->cameras[i], CU_FN_EVIDENCE_LOCK) < 0)
			goto out;
	snprintf(l->created_by, sizeof(l->created_by), "%s", c->user);
	int r = cu_lock_create(c->a->store, l);
	if (r < 0) {
		reply_cu(c, r, "creating the evidence lock");
		goto out;
	}
	json_t *j = lock_json(l, c);
	audit(c, "evidence_lock.create", json_deep_copy(j));
	reply_json(c, 201, j);
out:
	json_decref(o);
	free(l);
}

/* GET, PATCH, DELETE /evidence-locks/{id} */
static void
h_lock(struct call *c)
{
	int64_t id;
	if (parse_id(c, c->segs[1], &id) < 0)
		return;
	struct cu_lock *l = calloc(1, sizeof(*l)), *old = calloc(1, sizeof(*old));
	json_t *o = NULL;
	if (l == NULL || old == NULL) {
		cd_reply_error(c->r, 503, "busy", "out of memory");
		goto out;
	}
	int r = cu_lock_get(c->a->store, id, old);
	if (r == CU_ERR_NOTFOUND) {
		cd_reply_error(c->r, 404, "not_found", "no evidence lock %lld", (long long)id);
		goto out;
	}
	if (r < 0) {
		reply_cu(c, r, "reading the evidence lock");
		goto out;
	}
	enum cd_method m = cd_req_method(c->r);
	if (lock_access(c, old, m != CD_GET) < 0)
		goto out;
	if (m == CD_GET) {
		reply_json(c, 200, lock_json(old, c));
		goto out;
	}
	if (m == CD_DELETE) {
		if ((r = cu_lock_delete(c->a->store, id)) < 0) {
			reply_cu(c, r, "deleting the evidence lock");
			goto out;
		}
		audit(c, "evidence_lock.delete", lock_json(old, c));
		cd_reply(c->r, 204, "", NULL, 0);
		goto out;
	}
	if ((o = body_json(c)) == NULL)
		goto out;
	*l = *old;
	if (lock_from_body(c, o, l, false) < 0 || lock_access(c, l, true) < 0)
		goto out;
	if ((r = cu_lock_update(c->a->store, l)) < 0) {
		reply_cu(c, r, "changing the evidence lock");
		goto out;
	}
	cu_lock_get(c->a->store, id, l);
	json_t *j = lock_json(l, c);
	audit(c, "evidence_lock.update", json_pack("{s:I, s:o, s:o}", "id", (json_int_t)id,
	                                           "before", lock_json(old, c), "after",
	                                           json_deep_copy(j)));
	reply_json(c, 200, j);
out:
	json_decref(o);
	free(l);
	free(old);
}

/* ---- media ---- */

static void
audit_view(struct call *c, const char *type, json_t *detail)
{
	if (!c->a->audit_views) {
		json_decref(detail);
		return;
	}
	json_object_set_new(detail, "session", json_string(c->session));
	audit(c, type, detail);
}

struct playback {
	struct call *c;
	cu_mp4 *mp4;
	bool started;
	int err;
};

static int
pb_write(void *ctx, const uint8_t *data, size_t len)
{
	struct playback *p = ctx;
	if (!p->started) {
		int r = cd_stream_begin(p->c->r, 200, "video/mp4");
		if (r < 0)
			return r;
		p->started = true;
	}
	return cd_stream_write(p->c->r, data, len);
}

static int
pb_frame(void *ctx, const cu_frame *f)
{
	struct playback *p = ctx;
	int r = cu_mp4_frame(p->mp4, f);
	if (r == CU_ERR_FORMAT || r == CU_ERR_UNSUPPORTED || r == CU_ERR_INVAL || r == CU_ERR_LIMIT)
		return 0; /* a frame that cannot go in this file is left out */
	return r < 0 ? r : 0;
}

/* GET /cameras/{cam}/playback/{from}/{to} */
static void
h_playback(struct call *c)
{
	const char *cam = c->segs[1];
	if (need_camera(c, cam, CU_FN_PLAYBACK) < 0)
		return;
	int64_t from, to;
	if (path_time(c, c->segs[3], "start", &from) < 0 || path_time(c, c->segs[4], "end", &to) < 0)
		return;
	if (to <= from || to - from > CD_PLAYBACK_MAX_US) {
		cd_reply_error(c->r, 400, "invalid", "the range must end after it starts and be at "
		               "most %lld s long", (long long)(CD_PLAYBACK_MAX_US / 1000000));
		return;
	}
	int r = cd_stream_reserve(c->r);
	if (r < 0) {
		reply_cu(c, r, "playback");
		return;
	}
	/* Verify the range first, so that tampering is answered as such before
	 * any media goes out; cu_store_read checks again as it serves. */
	struct cu_verify_opts vo = {.camera = cam, .from_us = from, .to_us = to, .threads = 1};
	struct cu_verify_report *rep = NULL;
	r = cu_store_verify(c->a->store, &vo, &rep);
	if (r < 0) {
		reply_cu(c, r, "verifying the recording");
		return;
	}
	if (rep->tampered) {
		const struct cu_verify_camera *vc = &rep->cameras[rep->first_failure];
		char when[CU_TIME_ISO_MAX];
		cu_time_text(vc->fail_time_us, when);
		json_t *e = json_pack("{s:{s:s, s:s, s:s, s:s, s:I, s:s}}", "error", "code",
		                      "tampered", "message",
		                      "the recording in this range failed verification and is not "
		                      "served", "camera", cam, "failed_segment_start", when,
		                      "segment", (json_int_t)vc->fail_segment, "reason",
		                      vc->fail_reason);
		cd_log(CD_WARN, "playback of %s refused: tampered from %s: %s", cam, when,
		       vc->fail_reason);
		audit(c, "playback.refused_tampered",
		      json_pack("{s:s, s:o, s:o, s:s}", "camera", cam, "from", jtime(from), "to",
		                jtime(to), "failed_segment_start", when));
		cu_verify_report_free(rep);
		reply_json(c, 409, e);
		return;
	}
	cu_verify_report_free(rep);
	struct playback p = {.c = c};
	struct cu_mp4_opts mo = {.fragmented = true, .write = pb_write, .ctx = &p, .camera = cam};
	if ((r = cu_mp4_new(&mo, &p.mp4)) < 0) {
		reply_cu(c, r, "starting the MP4 writer");
		return;
	}
	audit_view(c, "view.playback", json_pack("{s:s, s:o, s:o}", "camera", cam, "from",
	                                         jtime(from), "to", jtime(to)));
	struct cu_read_info ri;
	r = cu_store_read(c->a->store, cam, from, to, pb_frame, &p, &ri);
	if (r == 0)
		r = cu_mp4_finish(p.mp4);
	cu_mp4_free(p.mp4);
	if (p.started) {
		if (r < 0)
			cd_log(CD_WARN, "playback of %s cut off: %s", cam, cu_error_detail());
		cd_stream_end(c->r, r == 0);
		return;
	}
	if (r == CU_ERR_NOTFOUND || (r == 0 && !p.started))
		cd_reply_error(c->r, 404, "no_recording", "camera %s has no video that starts "
		               "with a key frame in this range", cam);
	else if (r == CU_ERR_BUSY)
		reply_cu(c, r, "playback");
	else
		reply_cu(c, r, "reading the recording");
}

/* GET /cameras/{cam}/still/{at} */
static void
h_still(struct call *c)
{
	const char *cam = c->segs[1];
	if (need_camera(c, cam, CU_FN_PLAYBACK) < 0)
		return;
	int64_t at;
	if (path_time(c, c->segs[3], "still", &at) < 0)
		return;
	uint8_t *jpeg = NULL;
	size_t jlen = 0;
	int r = cd_still_at(c->a->store, cam, at, &jpeg, &jlen);
	if (r == CU_ERR_TAMPERED) {
		cd_reply_error(c->r, 409, "tampered", "the recording at this moment failed "
		               "verification and is not served: %s", cu_error_detail());
	} else if (r == CU_ERR_NOTFOUND) {
		cd_reply_error(c->r, 404, "no_recording", "camera %s has no picture at this moment",
		               cam);
	} else if (r < 0) {
		reply_cu(c, r, "making the still");
	} else {
		audit_view(c, "view.still", json_pack("{s:s, s:o}", "camera", cam, "at", jtime(at)));
		cd_reply_header(c->r, "Content-Disposition", "inline; filename=\"still.jpg\"");
		cd_reply_owned(c->r, 200, "image/jpeg", jpeg, jlen);
	}
}

/* POST /media-urls {"path": "/api/v1/cameras/X/playback/A/B"} */
static void
h_media_url(struct call *c)
{
	json_t *o = body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"path", NULL};
	const char *path;
	if (only_fields(c, o, f) < 0 || str_field(c, o, "path", true, CU_URL_PATH_MAX, &path) < 0) {
		json_decref(o);
		return;
	}
	char buf[CU_URL_PATH_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", path);
	json_decref(o);
	/* only media paths, and only what the caller may see */
	char tmp[CU_URL_PATH_MAX + 1];
	snprintf(tmp, sizeof(tmp), "%s", buf);
	const char *seg[8];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(tmp, "/", &save); t && n < 8; t = strtok_r(NULL, "/", &save))
		seg[n++] = t;
	bool media = n >= 5 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0 &&
	             strcmp(seg[2], "cameras") == 0 &&
	             ((n == 7 && strcmp(seg[4], "playback") == 0) ||
	              (n == 6 && strcmp(seg[4], "still") == 0) ||
	              (n == 5 && strcmp(seg[4], "live") == 0));
	if (!media || buf[0] != '/' || strstr(buf, "//") != NULL) {
		cd_reply_error(c->r, 400, "invalid", "only /api/v1/cameras/{camera}/playback/{from}/"
		               "{to}, .../still/{at} and .../live can be signed");
		return;
	}
	if (need_camera(c, seg[3], strcmp(seg[4], "live") == 0 ? CU_FN_LIVE : CU_FN_PLAYBACK) < 0)
		return;
	char q[CU_URL_QUERY_MAX];
	int r = cu_auth_sign_url(c->a->auth, c->user, "GET", buf, CU_URL_LIFETIME_MAX, q, sizeof(q));
	if (r < 0) {
		reply_cu(c, r, "signing the URL");
		return;
	}
	char url[CU_URL_PATH_MAX + CU_URL_QUERY_MAX + 2];
	snprintf(url, sizeof(url), "%s?%s", buf, q);
	reply_json(c, 200, json_pack("{s:s, s:o}", "url", url, "expires",
	                             jtime(cu_time_now_us() + CU_URL_LIFETIME_MAX)));
}

/* ---- users and roles (admin) ---- */

static json_t *
user_json(const struct cu_auth_user *u)
{
	json_t *roles = json_array();
	for (size_t k = 0; k < u->nroles; k++)
		json_array_append_new(roles, json_string(u->roles[k]));
	return json_pack("{s:s, s:b, s:o, s:o, s:o, s:o}", "name", u->name, "disabled",
	                 u->disabled, "roles", roles, "created", jtime(u->created_us),
	                 "password_changed", jtime(u->password_changed_us), "locked_until",
	                 u->locked_until_us ? jtime(u->locked_until_us) : json_null());
}

static void
h_users(struct call *c)
{
	if (need_site(c, CU_FN_ADMIN) < 0)
		return;
	if (cd_req_method(c->r) == CD_GET) {
		struct cu_auth_user *u;
		size_t n;
		int r = cu_auth_user_list(c->a->auth, &u, &n);
		if (r < 0) {
			reply_cu(c, r, "listing users");
			return;
		}
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, user_json(&u[i]));
		cu_auth_users_free(u, n);
		reply_json(c, 200, json_pack("{s:o}", "users", arr));
		return;
	}
	json_t *o = body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"name", "password", "roles", NULL};
	const char *name, *pw;
	const char *roles[64];
	size_t nroles = 0;
	if (only_fields(c, o, f) < 0 || str_field(c, o, "name", true, CU_USER_NAME_MAX, &name) < 0 ||
	    str_field(c, o, "password", true, CU_USER_PASSWORD_MAX, &pw) < 0)
		goto out;
	json_t *jr = json_object_get(o, "roles");
	if (jr != NULL) {
		size_t i;
		json_t *v;
		if (!json_is_array(jr) || json_array_size(jr) > 64) {
			cd_reply_error(c->r, 400, "invalid", "\"roles\" must be a list of role names");
			goto out;
		}
		json_array_foreach(jr, i, v) {
			if (!json_is_string(v)) {
				cd_reply_error(c->r, 400, "invalid", "\"roles\"[%zu] is not a string", i);
				goto out;
			}
			roles[nroles++] = json_string_value(v);
		}
	}
	struct cu_auth_event ev;
	int r = cu_auth_user_add(c->a->auth, name, pw, strlen(pw), roles, nroles, &ev);
	wipe_str(pw);
	if (r < 0) {
		reply_cu(c, r, "adding the user");
		goto out;
	}
	audit(c, "user.add", cu_auth_event_json(&ev));
	reply_json(c, 201, json_pack("{s:s}", "name", name));
out:
	json_decref(o);
}

/* /users/{name}: DELETE; /users/{name}/{password|disable|enable|unlock|revoke}: POST */
static void
h_user(struct call *c)
{
	const char *name = c->segs[1];
	const char *op = c->nsegs == 3 ? c->segs[2] : "";
	bool self = strcmp(name, c->user) == 0;
	bool pw_change = strcmp(op, "password") == 0;
	if (!(self && pw_change) && need_site(c, CU_FN_ADMIN) < 0)
		return;
	struct cu_auth_event ev;
	int r;
	const char *type;
	if (cd_req_method(c->r) == CD_DELETE && op[0] == '\0') {
		r = cu_auth_user_delete(c->a->auth, name, &ev);
		type = "user.delete";
	} else if (pw_change) {
		json_t *o = body_json(c);
		if (o == NULL)
			return;
		static const char *const f[] = {"password", "current_password", NULL};
		const char *pw, *cur = NULL;
		if (only_fields(c, o, f) < 0 ||
		    str_field(c, o, "password", true, CU_USER_PASSWORD_MAX, &pw) < 0 ||
		    str_field(c, o, "current_password", false, 1024, &cur) < 0) {
			json_decref(o);
			return;
		}
		if (self) {
			/* changing one's own password needs the current one, admin or
			 * not: a stolen session must not be enough */
			struct cu_login lg = {0};
			r = cur ? cu_auth_login(c->a->auth, name, cur, strlen(cur), cd_req_source(c->r),
			                        &lg)
			        : 0;
			if (cur)
				wipe_str(cur);
			cu_wipe(lg.token, sizeof(lg.token));
			if (r < 0 || cur == NULL || lg.result != CU_LOGIN_OK) {
				wipe_str(pw);
				json_decref(o);
				if (r < 0) {
					reply_cu(c, r, "checking the current password");
				} else {
					audit(c, "user.passwd_refused",
					      json_pack("{s:s, s:s}", "user", name, "reason",
					                cur == NULL ? "current password missing" :
					                lg.result == CU_LOGIN_LOCKED_ACCOUNT ? "account locked" :
					                lg.result == CU_LOGIN_THROTTLED_SOURCE ? "source throttled" :
					                lg.result == CU_LOGIN_DISABLED ? "user disabled" :
					                "current password wrong"));
					cd_reply_error(c->r, 403, "forbidden", "\"current_password\" is "
					               "missing or wrong");
				}
				return;
			}
		}
		r = cu_auth_user_passwd(c->a->auth, name, pw, strlen(pw), &ev);
		wipe_str(pw);
		json_decref(o);
		type = "user.passwd";
	} else if (strcmp(op, "disable") == 0 || strcmp(op, "enable") == 0) {
		r = cu_auth_user_set_disabled(c->a->auth, name, op[0] == 'd', &ev);
		type = op[0] == 'd' ? "user.disable" : "user.enable";
	} else if (strcmp(op, "unlock") == 0) {
		r = cu_auth_user_unlock(c->a->auth, name, &ev);
		type = "user.unlock";
	} else if (strcmp(op, "revoke") == 0) {
		r = cu_auth_user_revoke_tokens(c->a->auth, name, &ev);
		type = "user.revoke_tokens";
	} else {
		cd_reply_error(c->r, 404, "not_found", "no such endpoint");
		return;
	}
	if (r < 0) {
		reply_cu(c, r, type);
		return;
	}
	audit(c, type, cu_auth_event_json(&ev));
	cd_reply(c->r, 204, "", NULL, 0);
}

static void
h_roles(struct call *c)
{
	if (need_site(c, CU_FN_ADMIN) < 0)
		return;
	if (cd_req_method(c->r) == CD_GET) {
		struct cu_auth_role *rl;
		size_t n;
		int r = cu_auth_role_list(c->a->auth, &rl, &n);
		if (r < 0) {
			reply_cu(c, r, "listing roles");
			return;
		}
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *g = json_array(), *u = json_array();
			for (size_t k = 0; k < rl[i].ngrants; k++)
				json_array_append_new(g, json_pack("{s:s, s:s}", "function",
				                                   cu_auth_function_name(rl[i].grants[k].function),
				                                   "scope", rl[i].grants[k].scope));
			for (size_t k = 0; k < rl[i].nusers; k++)
				json_array_append_new(u, json_string(rl[i].users[k]));
			json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "name", rl[i].name,
			                                     "grants", g, "users", u));
		}
		cu_auth_roles_free(rl, n);
		reply_json(c, 200, json_pack("{s:o}", "roles", arr));
		return;
	}
	json_t *o = body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"name", NULL};
	const char *name;
	if (only_fields(c, o, f) == 0 && str_field(c, o, "name", true, CU_ROLE_NAME_MAX, &name) > 0) {
		struct cu_auth_event ev;
		int r = cu_auth_role_add(c->a->auth, name, &ev);
		if (r < 0) {
			reply_cu(c, r, "adding the role");
		} else {
			audit(c, "role.add", cu_auth_event_json(&ev));
			reply_json(c, 201, json_pack("{s:s}", "name", name));
		}
	}
	json_decref(o);
}

/* DELETE /roles/{r}; POST|DELETE /roles/{r}/grants {function, scope};
 * POST /roles/{r}/users {user}; DELETE /roles/{r}/users/{user} */
static void
h_role(struct call *c)
{
	if (need_site(c, CU_FN_ADMIN) < 0)
		return;
	const char *role = c->segs[1];
	enum cd_method m = cd_req_method(c->r);
	struct cu_auth_event ev;
	int r;
	const char *type;
	if (c->nsegs == 2 && m == CD_DELETE) {
		r = cu_auth_role_delete(c->a->auth, role, &ev);
		type = "role.delete";
	} else if (c->nsegs == 3 && strcmp(c->segs[2], "grants") == 0 &&
	           (m == CD_POST || m == CD_DELETE)) {
		json_t *o = body_json(c);
		if (o == NULL)
			return;
		static const char *const f[] = {"function", "scope", NULL};
		const char *fname, *scope;
		int fn;
		if (only_fields(c, o, f) < 0 || str_field(c, o, "function", true, 32, &fname) < 0 ||
		    str_field(c, o, "scope", true, CU_SCOPE_MAX, &scope) < 0) {
			json_decref(o);
			return;
		}
		if ((r = cu_auth_function_parse(fname, &fn)) == 0)
			r = m == CD_POST ? cu_auth_role_grant(c->a->auth, role, fn, scope, &ev)
			                 : cu_auth_role_revoke(c->a->auth, role, fn, scope, &ev);
		json_decref(o);
		type = m == CD_POST ? "role.grant" : "role.revoke";
	} else if (c->nsegs == 3 && strcmp(c->segs[2], "users") == 0 && m == CD_POST) {
		json_t *o = body_json(c);
		if (o == NULL)
			return;
		static const char *const f[] = {"user", NULL};
		const char *user;
		if (only_fields(c, o, f) < 0 || str_field(c, o, "user", true, CU_USER_NAME_MAX, &user) < 0) {
			json_decref(o);
			return;
		}
		r = cu_auth_role_assign(c->a->auth, role, user, &ev);
		json_decref(o);
		type = "role.assign";
	} else if (c->nsegs == 4 && strcmp(c->segs[2], "users") == 0 && m == CD_DELETE) {
		r = cu_auth_role_unassign(c->a->auth, role, c->segs[3], &ev);
		type = "role.unassign";
	} else {
		cd_reply_error(c->r, 404, "not_found", "no such endpoint");
		return;
	}
	if (r < 0) {
		reply_cu(c, r, type);
		return;
	}
	audit(c, type, cu_auth_event_json(&ev));
	cd_reply(c->r, 204, "", NULL, 0);
}

/* ---- the audit log ---- */

static ssize_t
cookie_write(void *ctx, const char *buf, size_t len)
{
	return cd_stream_write(ctx, buf, len) == 0 ? (ssize_t)len : -1;
}

static void
h_audit(struct call *c)
{
	if (need_site(c, CU_FN_AUDIT_READ) < 0)
		return;
	char fmt[8] = "json";
	if (cd_req_param(c->r, "format", fmt, sizeof(fmt)) < 0 ||
	    (strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0)) {
		cd_reply_error(c->r, 400, "invalid", "format must be json or csv");
		return;
	}
	int r = cd_stream_begin(c->r, 200, fmt[0] == 'j' ? "application/json" : "text/csv");
	/* (the slot is taken and the head is sent at once: the log streams as it is read) */
	if (r < 0) {
		reply_cu(c, r, "reading the audit log");
		return;
	}
	cookie_io_functions_t io = {.write = cookie_write};
	FILE *f = fopencookie(c->r, "w", io);
	if (f == NULL) {
		cd_stream_end(c->r, false);
		return;
	}
	r = cu_audit_export(c->a->store, fmt[0] == 'j' ? CU_AUDIT_JSON : CU_AUDIT_CSV, f);
	bool ok = fclose(f) == 0 && r == 0;
	audit(c, "audit.read", json_pack("{s:s, s:b}", "format", fmt, "complete", ok));
	cd_stream_end(c->r, ok);
}

static void
h_audit_verify(struct call *c)
{
	if (need_site(c, CU_FN_AUDIT_READ) < 0)
		return;
	struct cu_audit_report *rep;
	int r = cu_audit_verify(c->a->store, &rep);
	if (r < 0) {
		reply_cu(c, r, "verifying the audit log");
		return;
	}
	json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}", "tampered", rep->tampered,
	                      "entries", (json_int_t)rep->entries, "heads", (json_int_t)rep->heads,
	                      "signed_entries", (json_int_t)rep->signed_entries, "unsigned_entries",
	                      (json_int_t)rep->unsigned_entries, "newest_head",
	                      jtime(rep->newest_head_us));
	if (rep->tampered) {
		json_object_set_new(o, "first_bad_index", json_integer((json_int_t)rep->first_bad_index));
		json_object_set_new(o, "reason", json_string(rep->reason));
	}
	cu_audit_report_free(rep);
	reply_json(c, 200, o);
}

/* ---- for the files holding more endpoints (api_int.h) ---- */

struct cd_api *
cd_call_api(struct call *c)
{
	return c->a;
}

struct cd_req *
cd_call_req(struct call *c)
{
	return c->r;
}

const char *
cd_call_user(struct call *c)
{
	return c->user;
}

const char *
cd_call_seg(const struct call *c, size_t i)
{
	return i < c->nsegs ? c->segs[i] : NULL;
}

void
cd_call_reply_json(struct call *c, int status, json_t *o)
{
	reply_json(c, status, o);
}

void
cd_call_reply_cu(struct call *c, int err, const char *what)
{
	reply_cu(c, err, what);
}

int
cd_call_need_camera(struct call *c, const char *camera, int fn)
{
	return need_camera(c, camera, fn);
}

json_t *
cd_call_body_json(struct call *c)
{
	return body_json(c);
}

int
cd_call_only_fields(struct call *c, json_t *o, const char *const *names)
{
	return only_fields(c, o, names);
}

int
cd_call_str_field(struct call *c, json_t *o, const char *name, bool required, size_t max,
                  const char **ret)
{
	return str_field(c, o, name, required, max, ret);
}

int
cd_call_time_field(struct call *c, json_t *o, const char *name, bool required, int64_t *ret)
{
	return time_field(c, o, name, required, ret);
}

void
cd_call_audit(struct call *c, const char *type, json_t *detail)
{
	audit(c, type, detail);
}

json_t *
cd_call_jtime(int64_t us)
{
	return jtime(us);
}

/* ---- routing ---- */

enum { PUBLIC = 0, AUTH = 1, AUTH_OR_URL = 2 };

struct route {
	enum cd_method method;
	const char *pattern;              /* segments after /api/v1/, '*' = any one */
	int access;
	void (*fn)(struct call *c);
};

static const struct route routes[] = {
	{CD_POST, "auth/login", PUBLIC, h_login},
	{CD_POST, "auth/renew", AUTH, h_renew},
	{CD_POST, "auth/logout", AUTH, h_logout},
	{CD_GET, "me", AUTH, h_me},
	{CD_GET, "server", AUTH, h_server},
	{CD_GET, "cameras", AUTH, h_cameras},
	{CD_GET, "cameras/*", AUTH, h_camera_get},
	{CD_GET, "cameras/*/ranges", AUTH, h_ranges},
	{CD_GET, "cameras/*/bookmarks", AUTH, h_bookmarks_list},
	{CD_POST, "cameras/*/bookmarks", AUTH, h_bookmark_create},
	{CD_GET, "cameras/*/playback/*/*", AUTH_OR_URL, h_playback},
	{CD_GET, "cameras/*/still/*", AUTH_OR_URL, h_still},
	{CD_GET, "bookmarks/*", AUTH, h_bookmark},
	{CD_DELETE, "bookmarks/*", AUTH, h_bookmark},
	{CD_GET, "evidence-locks", AUTH, h_locks_list},
	{CD_POST, "evidence-locks", AUTH, h_lock_create},
	{CD_GET, "evidence-locks/*", AUTH, h_lock},
	{CD_PATCH, "evidence-locks/*", AUTH, h_lock},
	{CD_DELETE, "evidence-locks/*", AUTH, h_lock},
	{CD_POST, "media-urls", AUTH, h_media_url},
	{CD_GET, "users", AUTH, h_users},
	{CD_POST, "users", AUTH, h_users},
	{CD_DELETE, "users/*", AUTH, h_user},
	{CD_POST, "users/*/*", AUTH, h_user},
	{CD_GET, "roles", AUTH, h_roles},
	{CD_POST, "roles", AUTH, h_roles},
	{CD_DELETE, "roles/*", AUTH, h_role},
	{CD_POST, "roles/*/*", AUTH, h_role},
	{CD_DELETE, "roles/*/*", AUTH, h_role},
	{CD_DELETE, "roles/*/*/*", AUTH, h_role},
	{CD_GET, "audit", AUTH, h_audit},
	{CD_GET, "audit/verify", AUTH, h_audit_verify},
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
		cd_reply_error(r, 404, "not_found", "the API is under /api/v1/");
		return;
	}
	snprintf(c.pathbuf, sizeof(c.pathbuf), "%s", path + 8);
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
					snprintf(allow + l, sizeof(allow) - l, "%s%s", l ? ", " : "",
					         names[routes[i].method]);
				}
			cd_reply_header(r, "Allow", allow);
			cd_reply_error(r, 405, "method", "%s is not allowed here (allowed: %s)",
			               cd_req_method_name(r), allow);
		}
		else
			cd_reply_error(r, 404, "not_found", "no such endpoint");
		return;
	}
	if (rt->access != PUBLIC && authenticate(&c, rt->access == AUTH_OR_URL) < 0)
		return;
	if (rt->access == AUTH && cd_req_auth(r)[0] == '\0') {
		cd_reply_error(r, 401, "unauthenticated", "this needs an access token");
		return;
	}
	rt->fn(&c);
}

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

void *
cd_api_ws_open(struct cd_ws *ws, const char *path, const char *query, const char *source,
               void *ctx)
{
	struct cd_api *a = ctx;
	char cam[CU_CAMERA_NAME_MAX + 1];
	const char *prefix = "/api/v1/cameras/";
	size_t pl = strlen(prefix), n = strlen(path);
	if (strncmp(path, prefix, pl) != 0 || n < pl + 6 || strcmp(path + n - 5, "/live") != 0 ||
	    n - pl - 5 > CU_CAMERA_NAME_MAX) {
		cd_log(CD_WARN, "live view refused from %s: not a live path", source);
		return NULL;
	}
	memcpy(cam, path + pl, n - pl - 5);
	cam[n - pl - 5] = '\0';
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
	snprintf(s->camera, sizeof(s->camera), "%s", cam);
	snprintf(s->user, sizeof(s->user), "%s", uc.user);
	snprintf(s->source, sizeof(s->source), "%s", source[0] ? source : "-");
	session_of(query, s->session);
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
	           json_pack("{s:o, s:I, s:I, s:I}", "started", jtime(s->started_us),
	                     "seconds", (json_int_t)((cu_time_now_us() - s->started_us) / 1000000),
	                     "frames", (json_int_t)frames, "bytes", (json_int_t)bytes));
	free(s);
}
