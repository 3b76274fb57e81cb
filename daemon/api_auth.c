/* /api/v1/auth/login, renew, logout, /me and /server (docs/api.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "custody/notify.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "daemon.h"
#include "custody/error.h"

/* ---- auth endpoints ---- */

void
cd_api_login(struct call *c)
{
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"user", "password", NULL};
	const char *user, *pw;
	if (cd_call_only_fields(c, o, f) < 0 || cd_call_str_field(c, o, "user", true, 256, &user) < 0 ||
	    cd_call_str_field(c, o, "password", true, 1024, &pw) < 0) {
		json_decref(o);
		return;
	}
	size_t pwlen = strlen(pw);
	struct cu_login res;
	int r = cu_auth_login(c->a->auth, user, pw, pwlen, cd_req_source(c->r), &res);
	cd_wipe_str(pw);
	cd_req_wipe_body(c->r);
	char uname[CU_USER_NAME_MAX + 1];
	/* a longer name is no user's: never cut to one, for the log or the audit */
	int k = snprintf(uname, sizeof(uname), "%s", user);
	bool fits = k >= 0 && (size_t)k < sizeof(uname);
	json_decref(o);
	if (r < 0) {
		cd_call_reply_cu(c, r, "login");
		return;
	}
	/* the name goes into the log only if it is a valid user name: never a
	 * password typed into the wrong field */
	bool valid_name = fits && cu_auth_user_name_check(uname) == 0;
	json_t *who = json_string(valid_name ? uname : "(not a valid user name)");
	char retry[32];
	switch (res.result) {
	case CU_LOGIN_OK: {
		_Static_assert(sizeof(c->user) == sizeof(uname), "a user name fits");
		memcpy(c->user, uname, sizeof(c->user));
		cd_call_audit(c, "auth.login", json_pack("{s:o}", "user", who));
		json_t *out = json_pack("{s:s, s:o, s:s, s:I}", "token", res.token, "expires",
		                        cd_json_time(res.expires_us), "user", uname, "expires_in",
		                        (json_int_t)((res.expires_us - cu_time_now_us()) / 1000000));
		cu_wipe(res.token, sizeof(res.token));
		cd_call_reply_json(c, 200, out);
		return;
	}
	case CU_LOGIN_LOCKED_ACCOUNT:
	case CU_LOGIN_THROTTLED_SOURCE: {
		bool acct = res.result == CU_LOGIN_LOCKED_ACCOUNT;
		cd_call_audit(c, "auth.login_refused",
		      json_pack("{s:o, s:s}", "user", json_incref(who), "reason",
		                acct ? "account locked" : "source throttled"));
		json_decref(who);
		int64_t secs = (res.retry_after_us - cu_time_now_us()) / 1000000 + 1;
		k = snprintf(retry, sizeof(retry), "%lld", (long long)(secs > 0 ? secs : 1));
		if (k < 0 || (size_t)k >= sizeof(retry)) { /* a header: never cut */
			cd_call_reply_cu(c, cu_fail(CU_ERR_LIMIT, "Retry-After too long"), "login");
			return;
		}
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
		cd_call_audit(c, "auth.login_failed", json_pack("{s:o, s:s}", "user", json_incref(who),
		                                        "reason", why));
		if (res.account_locked_now)
			cd_call_audit(c, "auth.lockout", json_pack("{s:o, s:s}", "user", json_incref(who),
			                                   "kind", "account"));
		if (res.source_throttled_now)
			cd_call_audit(c, "auth.lockout", json_pack("{s:s, s:s}", "source", cd_req_source(c->r),
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

void
cd_api_renew(struct call *c)
{
	char buf[CU_TOKEN_MAX + 1];
	struct cu_token_claims cl;
	int r = cu_auth_token_renew(c->a->auth, bearer(c), strlen(bearer(c)), 0, buf, sizeof(buf),
	                            &cl);
	if (r < 0) {
		cd_call_reply_cu(c, r == CU_ERR_AUTH ? CU_ERR_INVAL : r, "renewing the token");
		return;
	}
	cd_call_audit(c, "auth.renew", json_pack("{s:s, s:o}", "session", c->session, "expires",
	                                 cd_json_time(cl.expires_us)));
	json_t *out = json_pack("{s:s, s:o, s:s, s:I}", "token", buf, "expires",
	                        cd_json_time(cl.expires_us), "user", cl.user, "expires_in",
	                        (json_int_t)((cl.expires_us - cu_time_now_us()) / 1000000));
	cu_wipe(buf, sizeof(buf));
	cd_call_reply_json(c, 200, out);
}

void
cd_api_logout(struct call *c)
{
	struct cu_auth_event ev;
	int r = cu_auth_token_revoke(c->a->auth, bearer(c), strlen(bearer(c)), &ev);
	if (r < 0) {
		cd_call_reply_cu(c, r, "logging out");
		return;
	}
	cd_call_audit(c, "auth.logout", json_pack("{s:s}", "session", c->session));
	cd_reply(c->r, 204, "", NULL, 0);
}


void
cd_api_me(struct call *c)
{
	unsigned mask = 0;
	int r = cu_auth_functions(c->a->auth, c->user, NULL, &mask);
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading your permissions");
		return;
	}
	cd_call_reply_json(c, 200, json_pack("{s:s, s:o}", "user", c->user, "site_functions",
	                             cd_functions_json(mask)));
}

void
cd_api_server(struct call *c)
{
	struct cu_store_info *in;
	int r = cu_store_info(c->a->store, &in);
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading the store");
		return;
	}
	char sfp[96], cfp[96];
	cu_x509_fingerprint_hex(in->signer_fp, sfp, sizeof(sfp));
	cu_x509_fingerprint_hex(in->ca_fp, cfp, sizeof(cfp));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:{s:I}}", "api", "v1",
	                      "version", VERSION, "server", c->a->server_name, "signer",
	                      in->signer_subject, "signer_sha256", sfp, "site_ca_sha256", cfp,
	                      "tls_ca_sha256",
	                      c->a->tls_ca_fp[0] ? json_string(c->a->tls_ca_fp) : json_null(),
	                      "time", cd_json_time(cu_time_now_us()), "client", "idle_timeout_s",
	                      (json_int_t)c->a->idle_timeout_s);
	cu_store_info_free(in);
	/* the key webhook receivers verify "v1a," signatures with: the recording
	 * signer's (docs/notifications.md) */
	char wk[CU_WEBHOOK_KEY_TEXT];
	if (o != NULL &&
	    cu_webhook_key_text(cu_store_ident(c->a->store).signer->ed25519_pub, wk) == 0)
		json_object_set_new(o, "webhook_public_key", json_string(wk));
	cd_call_reply_json(c, 200, o);
}
