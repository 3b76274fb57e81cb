/* Access tokens, trusted issuers and signed media URLs. The byte formats are
 * in include/custody/auth.h and docs/auth.md; a third party can check a
 * token with nothing but the issuer's certificate. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "custody/text.h"
#include "custody/x509.h"
#include "util/base64.h"
#include "custody/error.h"
#include "custody/parse.h"

/* Signature domains (each followed by one NUL byte in the signed message):
 * a token signature can never pass for a URL signature, or a seal's. */
static const char token_domain[] = "custody/v1/token";
static const char url_domain[] = "custody/v1/url";

#define PAYLOAD_MAX 512               /* the canonical payload is under 300 bytes */
#define SIG_B64_LEN 86                /* base64url of 64 bytes, no padding */
/* base64url, no padding, one spelling per byte string (docs/auth.md) */
#define TOKEN_B64 (CU_B64_URL | CU_B64_NOPAD | CU_B64_CANONICAL)
#define TIME_S_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define METHOD_MAX 16

static int
payload_make(const struct cu_token_claims *c, char *out, size_t len, size_t *ret_len)
{
	char iss[2 * CU_SHA256_LEN + 1];
	cu_hex(c->issuer, CU_SHA256_LEN, iss);
	int n = snprintf(out, len, "{\"v\":1,\"typ\":\"access\",\"sub\":%lld,\"name\":\"%s\","
	                 "\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\",\"iss\":\"%s\"}",
	                 (long long)c->user_id, c->user, (long long)(c->issued_us / 1000000),
	                 (long long)(c->expires_us / 1000000), c->jti, iss);
	if (n < 0 || (size_t)n >= len)
		return cu_fail(CU_ERR_LIMIT, "token payload too long");
	*ret_len = (size_t)n;
	return 0;
}

/* domain NUL data: the exact bytes a signature covers. */
static int
signed_message(const char *domain, const char *data, size_t len, uint8_t **ret, size_t *ret_len)
{
	size_t dl = strlen(domain) + 1;
	uint8_t *m = malloc(dl + len);
	if (m == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	memcpy(m, domain, dl);
	memcpy(m + dl, data, len);
	*ret = m;
	*ret_len = dl + len;
	return 0;
}

static bool
lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The public key of the issuer whose certificate has fingerprint iss: this
 * server's own, or one in the issuers table that chains to the site CA now.
 * With a->lock held. */
static int
issuer_key(cu_auth *a, const uint8_t iss[static CU_SHA256_LEN], int64_t now,
           uint8_t pub[static CU_ED25519_KEY_LEN])
{
	const cu_store *s = a->store;
	if (memcmp(iss, cu_store_ident(s).signer->fingerprint, CU_SHA256_LEN) == 0) {
		memcpy(pub, cu_store_ident(s).signer->ed25519_pub, CU_ED25519_KEY_LEN);
		return 0;
	}
	char hex[2 * CU_SHA256_LEN + 1];
	cu_hex(iss, CU_SHA256_LEN, hex);
	sqlite3_stmt *st;
	int r = cu_db_stmt(a->db, "SELECT pem FROM issuers WHERE fingerprint = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *pem = (const char *)sqlite3_column_text(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		struct cu_x509_info info;
		if (pem == NULL || len > CU_X509_PEM_MAX || cu_x509_info(pem, len, &info) < 0 ||
		    memcmp(info.fingerprint, iss, CU_SHA256_LEN) != 0)
			r = cu_fail(CU_ERR_AUTH, "issuer %.16s...: its stored certificate is malformed "
			            "or does not match", hex);
		else if (cu_x509_verify_chain(pem, len, cu_store_ident(s).ca_pem, cu_store_ident(s).ca_len, now) < 0)
			r = cu_fail_prefix(CU_ERR_AUTH, "issuer %.16s... is not trusted", hex);
		else
			memcpy(pub, info.ed25519_pub, CU_ED25519_KEY_LEN);
	} else if (rc == SQLITE_DONE) {
		r = cu_fail(CU_ERR_AUTH, "unknown issuer %.16s...", hex);
	} else {
		r = cu_db_fail(a->db, "reading issuers");
	}
	cu_db_done(st);
	return r;
}

int
cu_auth_token_for(cu_auth *a, const struct cu_user_row *u, int64_t lifetime_us, char *buf,
                  size_t len, struct cu_token_claims *ret)
{
	struct cu_token_claims c = {0};
	char payload[PAYLOAD_MAX], sig64[SIG_B64_LEN + 1];
	uint8_t jti[16], sig[CU_ED25519_SIG_LEN], *msg = NULL;
	size_t plen = 0, mlen = 0;
	int r;
	if (a->sign == NULL)
		return cu_fail(CU_ERR_PASSWORD, "the store password is needed to issue tokens");
	if (lifetime_us == 0)
		lifetime_us = a->token_lifetime_us != 0 ? a->token_lifetime_us
		                                        : CU_TOKEN_LIFETIME_DEFAULT;
	if (lifetime_us < 1000000 || lifetime_us > CU_TOKEN_LIFETIME_MAX)
		return cu_fail(CU_ERR_INVAL, "token lifetime must be 1 s to %lld s",
		               (long long)(CU_TOKEN_LIFETIME_MAX / 1000000));
	if (u->disabled)
		return cu_fail(CU_ERR_AUTH, "user \"%s\" is disabled", u->name);
	int64_t iat = cu_auth_now(a) / 1000000;
	/* never before the user's last revocation, or the token would be born revoked */
	int64_t floor_s = (u->tokens_valid_after_us + 999999) / 1000000;
	if (iat < floor_s)
		iat = floor_s;
	if ((r = cu_random(jti, sizeof(jti))) < 0)
		return r;
	c.user_id = u->id;
	memcpy(c.user, u->name, sizeof(c.user));
	c.issued_us = iat * 1000000;
	c.expires_us = (iat + lifetime_us / 1000000) * 1000000;
	cu_hex(jti, sizeof(jti), c.jti);
	memcpy(c.issuer, cu_store_ident(a->store).signer->fingerprint, CU_SHA256_LEN);
	if ((r = payload_make(&c, payload, sizeof(payload), &plen)) < 0)
		return r;
	size_t p64len = cu_b64_len(plen, TOKEN_B64);
	if (p64len + 1 + SIG_B64_LEN > CU_TOKEN_MAX || p64len + 1 + SIG_B64_LEN >= len)
		return cu_fail(CU_ERR_LIMIT, "token buffer too small");
	if ((r = cu_b64_encode((const uint8_t *)payload, plen, TOKEN_B64, buf, len)) < 0 ||
	    (r = signed_message(token_domain, buf, p64len, &msg, &mlen)) < 0 ||
	    (r = cu_sign_key_sign(a->sign, msg, mlen, sig)) < 0 ||
	    (r = cu_b64_encode(sig, sizeof(sig), TOKEN_B64, sig64, sizeof(sig64))) < 0)
		goto out;
	buf[p64len] = '.';
	memcpy(buf + p64len + 1, sig64, SIG_B64_LEN + 1);
	if (ret != NULL)
		*ret = c;
	r = 0;
out:
	if (r < 0)
		cu_wipe(buf, len);
	free(msg);
	return r;
}

int
cu_auth_token_issue(cu_auth *a, const char *user, int64_t lifetime_us, char *buf, size_t len,
                    struct cu_token_claims *ret)
{
	struct cu_user_row u;
	int r = cu_auth_user_name_check(user);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	r = cu_auth_user_get(a, user, 0, &u);
	pthread_mutex_unlock(&a->lock);
	if (r == 0)
		r = cu_auth_token_for(a, &u, lifetime_us, buf, len, ret);
	cu_user_row_wipe(&u);
	return r;
}

/* Splits, decodes and parses a token into claims, checking only its form. */
int
cu_auth_token_parse(const char *token, size_t len, struct cu_token_claims *c,
            uint8_t sig[static CU_ED25519_SIG_LEN], size_t *ret_p64len)
{
	char payload[PAYLOAD_MAX + 1], canon[PAYLOAD_MAX];
	size_t plen = 0, slen = 0, clen = 0;
	if (token == NULL || len == 0)
		return cu_fail(CU_ERR_FORMAT, "no token");
	if (len > CU_TOKEN_MAX)
		return cu_fail(CU_ERR_FORMAT, "token longer than %d bytes", CU_TOKEN_MAX);
	const char *dot = memchr(token, '.', len);
	if (dot == NULL || memchr(dot + 1, '.', len - (size_t)(dot - token) - 1) != NULL)
		return cu_fail(CU_ERR_FORMAT, "token: expected two parts separated by one '.'");
	size_t p64len = (size_t)(dot - token), s64len = len - p64len - 1;
	if (cu_b64_decode(token, p64len, TOKEN_B64, (uint8_t *)payload, PAYLOAD_MAX, &plen) < 0)
		return cu_fail_prefix(CU_ERR_FORMAT, "token payload");
	if (s64len != SIG_B64_LEN ||
	    cu_b64_decode(dot + 1, s64len, TOKEN_B64, sig, CU_ED25519_SIG_LEN, &slen) < 0 ||
	    slen != CU_ED25519_SIG_LEN)
		return cu_fail(CU_ERR_FORMAT, "token signature: expected %d base64url characters",
		               SIG_B64_LEN);
	payload[plen] = '\0';

	json_error_t jerr;
	json_t *root = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return cu_fail(CU_ERR_FORMAT, "token payload: %s", jerr.text);
	int v;
	json_int_t sub, iat, exp;
	const char *typ, *name, *jti, *iss;
	int r;
	if (json_unpack(root, "{s:i, s:s, s:I, s:s, s:I, s:I, s:s, s:s !}", "v", &v, "typ", &typ,
	                "sub", &sub, "name", &name, "iat", &iat, "exp", &exp, "jti", &jti, "iss",
	                &iss) != 0) {
		r = cu_fail(CU_ERR_FORMAT, "token payload: not the expected fields");
		goto out;
	}
	if (v != 1 || strcmp(typ, "access") != 0) {
		r = cu_fail(CU_ERR_FORMAT, "token: version %d, type \"%.16s\" (expected 1, access)", v,
		            typ);
		goto out;
	}
	if (sub <= 0 || iat < 0 || iat > TIME_S_MAX || exp < 0 || exp > TIME_S_MAX ||
	    cu_auth_user_name_check(name) < 0 || !lower_hex(jti, 32) || !lower_hex(iss, 64)) {
		r = cu_fail(CU_ERR_FORMAT, "token: a field is out of range or malformed");
		goto out;
	}
	memset(c, 0, sizeof(*c));
	c->user_id = sub;
	memcpy(c->user, name, strlen(name) + 1);
	c->issued_us = (int64_t)iat * 1000000;
	c->expires_us = (int64_t)exp * 1000000;
	memcpy(c->jti, jti, 33);
	cu_unhex(iss, c->issuer, CU_SHA256_LEN);
	/* Only the one spelling this code writes is accepted: no spaces, escapes,
	 * reordering or extra fields can make two tokens of one payload. */
	if ((r = payload_make(c, canon, sizeof(canon), &clen)) < 0 || clen != plen ||
	    memcmp(canon, payload, plen) != 0) {
		r = cu_fail(CU_ERR_FORMAT, "token payload is not in canonical form");
		goto out;
	}
	*ret_p64len = p64len;
	r = 0;
out:
	json_decref(root);
	cu_wipe(payload, sizeof(payload));
	return r;
}

int
cu_auth_token_verify(cu_auth *a, const char *token, size_t len, struct cu_token_claims *ret)
{
	struct cu_token_claims c;
	struct cu_user_row u = {0};
	uint8_t sig[CU_ED25519_SIG_LEN], pub[CU_ED25519_KEY_LEN], *msg = NULL;
	size_t p64len = 0, mlen = 0;
	int64_t now = cu_auth_now(a), found;
	int r;
	if ((r = cu_auth_token_parse(token, len, &c, sig, &p64len)) < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	r = issuer_key(a, c.issuer, now, pub);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		return r;
	if ((r = signed_message(token_domain, token, p64len, &msg, &mlen)) < 0)
		return r;
	r = cu_ed25519_verify(pub, msg, mlen, sig);
	free(msg);
	if (r == CU_ERR_AUTH)
		return cu_fail(CU_ERR_AUTH, "token: bad signature");
	if (r < 0)
		return r;
	if (c.expires_us <= c.issued_us || c.expires_us - c.issued_us > CU_TOKEN_LIFETIME_MAX)
		return cu_fail(CU_ERR_AUTH, "token: lifetime out of range");
	if (now >= c.expires_us + CU_TOKEN_SKEW_US)
		return cu_fail(CU_ERR_AUTH, "token expired");
	if (c.issued_us > now + CU_TOKEN_SKEW_US)
		return cu_fail(CU_ERR_AUTH, "token issued in the future");

	pthread_mutex_lock(&a->lock);
	sqlite3_stmt *st;
	if ((r = cu_db_stmt(a->db, "SELECT count(*) FROM revoked_tokens WHERE jti = ?", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, c.jti, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_ROW ? 0 : cu_db_fail(a->db, "reading revocations");
	found = sqlite3_column_int64(st, 0);
	cu_db_done(st);
	if (r < 0)
		goto out;
	if (found > 0) {
		r = cu_fail(CU_ERR_AUTH, "token revoked (logged out or renewed)");
		goto out;
	}
	r = cu_auth_user_get(a, NULL, c.user_id, &u);
	if (r == CU_ERR_NOTFOUND || (r == 0 && strcmp(u.name, c.user) != 0))
		r = cu_fail(CU_ERR_AUTH, "token: user no longer exists");
	else if (r == 0 && u.disabled)
		r = cu_fail(CU_ERR_AUTH, "token: user \"%s\" is disabled", u.name);
	else if (r == 0 && c.issued_us < u.tokens_valid_after_us)
		r = cu_fail(CU_ERR_AUTH, "token revoked (password change, disable or log out "
		            "everywhere)");
out:
	pthread_mutex_unlock(&a->lock);
	cu_user_row_wipe(&u);
	if (r == 0 && ret != NULL)
		*ret = c;
	return r;
}

/* Records a jti as revoked until its token expires, and forgets those past
 * expiry. unique: a jti already revoked is CU_ERR_AUTH (a token renews once). */
static int
revoke_jti(cu_auth *a, const struct cu_token_claims *c, bool unique)
{
	sqlite3_stmt *st = NULL;
	int64_t now = cu_auth_now(a);
	pthread_mutex_lock(&a->lock);
	int r = cu_db_begin(a->db, true);
	if (r < 0)
		goto out;
	if ((r = cu_db_stmt(a->db, unique ? "INSERT INTO revoked_tokens(jti, expires_us) "
	                    "VALUES(?, ?)"
	                    : "INSERT OR IGNORE INTO revoked_tokens(jti, expires_us) "
	                    "VALUES(?, ?)", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, c->jti, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->expires_us);
	int rc = sqlite3_step(st);
	cu_db_done(st);
	st = NULL;
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		r = cu_fail(CU_ERR_AUTH, "token already renewed or logged out");
		goto out;
	}
	if (rc != SQLITE_DONE) {
		r = cu_db_fail(a->db, "revoking a token");
		goto out;
	}
	/* A token past expiry and skew fails on its own; its row is dead weight. */
	if ((r = cu_db_stmt(a->db, "DELETE FROM revoked_tokens WHERE expires_us < ?", &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, now - CU_TOKEN_SKEW_US);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : cu_db_fail(a->db, "purging revocations");
out:
	cu_db_done(st);
	r = cu_auth_finish(a, r);
	return r;
}

int
cu_auth_token_renew(cu_auth *a, const char *token, size_t len, int64_t lifetime_us, char *buf,
                    size_t buflen, struct cu_token_claims *ret)
{
	struct cu_token_claims old, c;
	struct cu_user_row u = {0};
	char *fresh = NULL;
	int r = cu_auth_token_verify(a, token, len, &old);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	r = cu_auth_user_get(a, NULL, old.user_id, &u);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		goto out;
	if ((fresh = calloc(1, buflen)) == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = cu_auth_token_for(a, &u, lifetime_us, fresh, buflen, &c)) < 0)
		goto out;
	/* the new token is handed out only once the old one is revoked: two
	 * renewals of one token cannot both succeed */
	if ((r = revoke_jti(a, &old, true)) < 0)
		goto out;
	memcpy(buf, fresh, buflen);
	if (ret != NULL)
		*ret = c;
out:
	if (fresh != NULL) {
		cu_wipe(fresh, buflen);
		free(fresh);
	}
	cu_user_row_wipe(&u);
	return r;
}

int
cu_auth_token_revoke(cu_auth *a, const char *token, size_t len, struct cu_auth_event *ev)
{
	struct cu_token_claims c;
	int r = cu_auth_token_verify(a, token, len, &c);
	if (r < 0 || (r = revoke_jti(a, &c, false)) < 0)
		return r;
	if (ev != NULL) {
		memset(ev, 0, sizeof(*ev));
		ev->action = "token.revoke";
		ev->at_us = cu_auth_now(a);
		ev->user_id = c.user_id;
		memcpy(ev->user, c.user, sizeof(ev->user));
		cu_fmt_cut(ev->detail, sizeof(ev->detail), "jti=%s", c.jti);
	}
	return 0;
}

/* ---- issuers ---- */

int
cu_auth_issuer_add(cu_auth *a, const char *pem, size_t len, struct cu_auth_event *ev)
{
	struct cu_x509_info info;
	char hex[2 * CU_SHA256_LEN + 1];
	sqlite3_stmt *st = NULL;
	int r;
	if (pem == NULL || len == 0 || len > CU_X509_PEM_MAX)
		return cu_fail(CU_ERR_INVAL, "issuer certificate: empty or over %d bytes",
		               CU_X509_PEM_MAX);
	if ((r = cu_x509_info(pem, len, &info)) < 0)
		return cu_fail_prefix(r, "issuer certificate");
	if (memcmp(info.fingerprint, cu_store_ident(a->store).signer->fingerprint, CU_SHA256_LEN) == 0)
		return cu_fail(CU_ERR_EXIST, "issuer certificate: this server's own, always trusted");
	int64_t now = cu_auth_now(a);
	if ((r = cu_x509_verify_chain(pem, len, cu_store_ident(a->store).ca_pem, cu_store_ident(a->store).ca_len, now)) < 0)
		return cu_fail_prefix(CU_ERR_AUTH, "issuer certificate does not chain to the site CA");
	cu_hex(info.fingerprint, CU_SHA256_LEN, hex);
	pthread_mutex_lock(&a->lock);
	if ((r = cu_db_begin(a->db, true)) < 0 ||
	    (r = cu_db_stmt(a->db, "INSERT INTO issuers(fingerprint, pem, subject, added_us) "
	                    "VALUES(?, ?, ?, ?)", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pem, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, info.subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		r = cu_fail(CU_ERR_EXIST, "issuer %s is already trusted", hex);
	else if (rc != SQLITE_DONE)
		r = cu_db_fail(a->db, "adding an issuer");
out:
	cu_db_done(st);
	r = cu_auth_finish(a, r);
	if (r == 0) {
		cu_auth_ev_init(ev, "issuer.add", now);
		if (ev != NULL)
			cu_fmt_cut(ev->detail, sizeof(ev->detail), "sha256=%s subject=%.150s", hex,
			         info.subject);
	}
	return r;
}

int
cu_auth_issuer_remove(cu_auth *a, const uint8_t fingerprint[static CU_SHA256_LEN],
                      struct cu_auth_event *ev)
{
	char hex[2 * CU_SHA256_LEN + 1];
	sqlite3_stmt *st = NULL;
	cu_hex(fingerprint, CU_SHA256_LEN, hex);
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	int r = cu_db_begin(a->db, true);
	if (r < 0 || (r = cu_db_stmt(a->db, "DELETE FROM issuers WHERE fingerprint = ?", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = cu_db_fail(a->db, "removing an issuer");
	else if (sqlite3_changes(a->db->sql) == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "issuer %s is not in auth.db", hex);
out:
	cu_db_done(st);
	r = cu_auth_finish(a, r);
	if (r == 0) {
		cu_auth_ev_init(ev, "issuer.remove", now);
		if (ev != NULL)
			cu_fmt_cut(ev->detail, sizeof(ev->detail), "sha256=%s", hex);
	}
	return r;
}

/* ---- signed media URLs ---- */

static int
url_args(const char *method, const char *path)
{
	size_t ml = method ? strnlen(method, METHOD_MAX + 1) : 0;
	if (ml == 0 || ml > METHOD_MAX)
		return cu_fail(CU_ERR_INVAL, "signed URL: method must be 1 to %d letters", METHOD_MAX);
	for (size_t i = 0; i < ml; i++)
		if (method[i] < 'A' || method[i] > 'Z')
			return cu_fail(CU_ERR_INVAL, "signed URL: method must be upper-case letters");
	size_t pl = path ? strnlen(path, CU_URL_PATH_MAX + 1) : 0;
	if (pl == 0 || pl > CU_URL_PATH_MAX || path[0] != '/')
		return cu_fail(CU_ERR_INVAL, "signed URL: path must start with '/' and be at most %d "
		               "bytes", CU_URL_PATH_MAX);
	for (size_t i = 0; i < pl; i++)
		if (path[i] <= 0x20 || path[i] >= 0x7f || path[i] == '?' || path[i] == '#')
			return cu_fail(CU_ERR_INVAL, "signed URL: path must be printable ASCII without "
			               "'?' or '#'");
	return 0;
}

/* METHOD NUL PATH NUL EXP NUL SUB NUL ISS after the domain. */
static int
url_message(const char *method, const char *path, int64_t exp_s, int64_t sub,
            const uint8_t iss[static CU_SHA256_LEN], uint8_t **ret, size_t *ret_len)
{
	char data[METHOD_MAX + CU_URL_PATH_MAX + 2 * 21 + 2 * CU_SHA256_LEN + 8];
	char hex[2 * CU_SHA256_LEN + 1];
	cu_hex(iss, CU_SHA256_LEN, hex);
	int n = snprintf(data, sizeof(data), "%s%c%s%c%lld%c%lld%c%s", method, 0, path, 0,
	                 (long long)exp_s, 0, (long long)sub, 0, hex);
	if (n < 0 || (size_t)n >= sizeof(data))
		return cu_fail(CU_ERR_LIMIT, "signed URL: message too long");
	return signed_message(url_domain, data, (size_t)n, ret, ret_len);
}

int
cu_auth_sign_url(cu_auth *a, const char *user, const char *method, const char *path,
                 int64_t lifetime_us, char *buf, size_t len)
{
	struct cu_user_row u = {0};
	uint8_t sig[CU_ED25519_SIG_LEN], *msg = NULL;
	char sig64[SIG_B64_LEN + 1], iss[2 * CU_SHA256_LEN + 1];
	size_t mlen = 0;
	int r;
	if (a->sign == NULL)
		return cu_fail(CU_ERR_PASSWORD, "the store password is needed to sign URLs");
	if ((r = url_args(method, path)) < 0 || (r = cu_auth_user_name_check(user)) < 0)
		return r;
	if (lifetime_us < 1000000 || lifetime_us > CU_URL_LIFETIME_MAX)
		return cu_fail(CU_ERR_INVAL, "signed URL: lifetime must be 1 to %lld s",
		               (long long)(CU_URL_LIFETIME_MAX / 1000000));
	pthread_mutex_lock(&a->lock);
	r = cu_auth_user_get(a, user, 0, &u);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		goto out;
	if (u.disabled) {
		r = cu_fail(CU_ERR_AUTH, "user \"%s\" is disabled", user);
		goto out;
	}
	int64_t exp_s = (cu_auth_now(a) + lifetime_us) / 1000000;
	const uint8_t *fp = cu_store_ident(a->store).signer->fingerprint;
	if ((r = url_message(method, path, exp_s, u.id, fp, &msg, &mlen)) < 0 ||
	    (r = cu_sign_key_sign(a->sign, msg, mlen, sig)) < 0 ||
	    (r = cu_b64_encode(sig, sizeof(sig), TOKEN_B64, sig64, sizeof(sig64))) < 0)
		goto out;
	cu_hex(fp, CU_SHA256_LEN, iss);
	int n = snprintf(buf, len, "exp=%lld&sub=%lld&iss=%s&sig=%s", (long long)exp_s,
	                 (long long)u.id, iss, sig64);
	r = n < 0 || (size_t)n >= len ? cu_fail(CU_ERR_LIMIT, "signed URL: buffer too small") : 0;
out:
	free(msg);
	cu_user_row_wipe(&u);
	return r;
}

/* Takes "<key>=<value><stop>" from *s, the value being 1..max characters. */
static int
take(const char **s, const char *key, char stop, char *out, size_t max)
{
	size_t kl = strlen(key);
	if (strncmp(*s, key, kl) != 0 || (*s)[kl] != '=')
		return cu_fail(CU_ERR_FORMAT, "signed URL: expected %s= in the query", key);
	const char *v = *s + kl + 1;
	size_t n = 0;
	while (v[n] != '\0' && v[n] != '&' && n <= max)
		n++;
	if (n == 0 || n > max || v[n] != stop)
		return cu_fail(CU_ERR_FORMAT, "signed URL: bad %s", key);
	memcpy(out, v, n);
	out[n] = '\0';
	*s = v + n + (stop ? 1 : 0);
	return 0;
}

int
cu_auth_url_query_parse(const char *query, struct cu_url_query *ret)
{
	char exp_s[21], sub_s[21], iss_s[2 * CU_SHA256_LEN + 1], sig_s[SIG_B64_LEN + 1];
	struct cu_url_query q;
	size_t slen;
	int r;
	if (query == NULL || strnlen(query, CU_URL_QUERY_MAX) >= CU_URL_QUERY_MAX)
		return cu_fail(CU_ERR_FORMAT, "signed URL: no query or one over %d bytes",
		               CU_URL_QUERY_MAX);
	const char *s = query;
	if ((r = take(&s, "exp", '&', exp_s, 20)) < 0 || (r = take(&s, "sub", '&', sub_s, 20)) < 0 ||
	    (r = take(&s, "iss", '&', iss_s, 2 * CU_SHA256_LEN)) < 0 ||
	    (r = take(&s, "sig", '\0', sig_s, SIG_B64_LEN)) < 0)
		return r;
	if (cu_parse_u64(exp_s, (uint64_t)TIME_S_MAX, "exp", &q.exp_s) < 0 ||
	    cu_parse_u64(sub_s, INT64_MAX, "sub", &q.sub) < 0 || q.sub == 0 ||
	    !lower_hex(iss_s, 2 * CU_SHA256_LEN) || cu_unhex(iss_s, q.iss, CU_SHA256_LEN) < 0 ||
	    strlen(sig_s) != SIG_B64_LEN ||
	    cu_b64_decode(sig_s, SIG_B64_LEN, TOKEN_B64, q.sig, sizeof(q.sig), &slen) < 0 ||
	    slen != sizeof(q.sig))
		return cu_fail(CU_ERR_FORMAT, "signed URL: malformed exp, sub, iss or sig");
	*ret = q;
	return 0;
}

int
cu_auth_check_url(cu_auth *a, const char *method, const char *path, const char *query,
                  struct cu_url_claims *ret)
{
	struct cu_url_query q;
	uint8_t pub[CU_ED25519_KEY_LEN], *msg = NULL;
	size_t mlen = 0;
	struct cu_user_row u = {0};
	int r;
	if ((r = url_args(method, path)) < 0 || (r = cu_auth_url_query_parse(query, &q)) < 0)
		return r;
	uint64_t exp = q.exp_s, sub = q.sub;
	const uint8_t *iss = q.iss, *sig = q.sig;
	int64_t now = cu_auth_now(a), exp_us = (int64_t)exp * 1000000;
	if (now > exp_us + CU_URL_SKEW_US)
		return cu_fail(CU_ERR_AUTH, "signed URL expired");
	if (exp_us > now + CU_URL_LIFETIME_MAX + CU_URL_SKEW_US)
		return cu_fail(CU_ERR_AUTH, "signed URL: expiry more than a minute ahead");
	pthread_mutex_lock(&a->lock);
	r = issuer_key(a, iss, now, pub);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		return r;
	if ((r = url_message(method, path, (int64_t)exp, (int64_t)sub, iss, &msg, &mlen)) < 0)
		return r;
	r = cu_ed25519_verify(pub, msg, mlen, sig);
	free(msg);
	if (r == CU_ERR_AUTH)
		return cu_fail(CU_ERR_AUTH, "signed URL: bad signature (other path, method or "
		               "expiry?)");
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	r = cu_auth_user_get(a, NULL, (int64_t)sub, &u);
	pthread_mutex_unlock(&a->lock);
	if (r == CU_ERR_NOTFOUND)
		r = cu_fail(CU_ERR_AUTH, "signed URL: user no longer exists");
	else if (r == 0 && u.disabled)
		r = cu_fail(CU_ERR_AUTH, "signed URL: user \"%s\" is disabled", u.name);
	if (r == 0 && ret != NULL) {
		ret->user_id = u.id;
		memcpy(ret->user, u.name, sizeof(ret->user));
		ret->expires_us = exp_us;
	}
	cu_user_row_wipe(&u);
	return r;
}
