/* The webhook channel: one Standard Webhooks POST over HTTPS with libcurl.
 * The body, the headers and the signatures: docs/notifications.md. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/ossl.h"
#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/notify.h"
#include "custody/parse.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/util.h"
#include "util/base64.h"

#define DEFAULT_TIMEOUT_US (10 * INT64_C(1000000))
#define RETRY_AFTER_TEXT_MAX 64
#define CU_WEBHOOK_HEAD_MAX 128           /* "webhook-id: " + an id, or id.ts. */

int
cu_webhook_secret_parse(const char *text, uint8_t out[static CU_WEBHOOK_SECRET_MAX],
                        size_t *ret_len)
{
	if (strncmp(text, "whsec_", 6) != 0)
		return cu_fail(CU_ERR_FORMAT, "a webhook secret starts with whsec_ and base64");
	size_t len = 0;
	int r = cu_b64_decode(text + 6, strlen(text + 6), CU_B64_STD, out, CU_WEBHOOK_SECRET_MAX,
	                      &len);
	if (r < 0)
		return cu_fail(CU_ERR_FORMAT, "the webhook secret after whsec_ is not base64 of at "
		               "most %d bytes", CU_WEBHOOK_SECRET_MAX);
	if (len < CU_WEBHOOK_SECRET_MIN) {
		cu_wipe(out, CU_WEBHOOK_SECRET_MAX);
		return cu_fail(CU_ERR_FORMAT, "the webhook secret is %zu bytes: at least %d", len,
		               CU_WEBHOOK_SECRET_MIN);
	}
	*ret_len = len;
	return 0;
}

int
cu_webhook_body(const struct cu_notice *n, char **ret, size_t *ret_len)
{
	char when[CU_TIME_ISO_MAX];
	bool ok = cu_time_text(n->t_us, when);
	json_t *o = json_pack("{s:s, s:s, s:o, s:s?, s:s, s:s, s:s, s:s, s:s?}", "id", n->id,
	                      "type", n->type, "time", ok ? json_string(when) : json_null(),
	                      "camera", n->camera, "source", n->source, "phase", n->phase,
	                      "severity", n->severity, "detail", n->detail, "site", n->site);
	if (o == NULL)
		return cu_fail(CU_ERR_FORMAT, "webhook body: a field is not UTF-8");
	if (n->camera == NULL)
		json_object_set_new(o, "camera", json_null());
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (s == NULL)
		return cu_fail(CU_ERR_NOMEM, "webhook body: out of memory");
	size_t len = strlen(s);
	if (len > CU_WEBHOOK_BODY_MAX) {
		free(s);
		return cu_fail(CU_ERR_LIMIT, "webhook body: longer than %d bytes", CU_WEBHOOK_BODY_MAX);
	}
	*ret = s;
	*ret_len = len;
	return 0;
}

int
cu_webhook_sign(const struct cu_webhook_target *t, const char *id, int64_t ts, const char *body,
                size_t len, char out[static CU_WEBHOOK_SIG_MAX])
{
	/* the signed content: id "." timestamp "." body (Standard Webhooks) */
	char head[CU_WEBHOOK_HEAD_MAX];
	int hl = snprintf(head, sizeof(head), "%s.%lld.", id, (long long)ts);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return cu_fail(CU_ERR_LIMIT, "webhook id longer than %zu bytes", sizeof(head) - 24);
	size_t mlen = (size_t)hl + len;
	uint8_t *msg = malloc(mlen);
	if (msg == NULL)
		return cu_fail(CU_ERR_NOMEM, "webhook signature: out of memory");
	memcpy(msg, head, (size_t)hl);
	memcpy(msg + hl, body, len);
	int r = 0;
	size_t o = 0;
	out[0] = '\0';
	if (t->secret != NULL) {
		uint8_t mac[32];
		if ((r = cu_hmac_sha256(t->secret, t->secret_len, msg, mlen, mac)) < 0)
			goto out;
		memcpy(out, "v1,", 3);
		o = 3;
		r = cu_b64_encode(mac, sizeof(mac), CU_B64_PAD, out + o, CU_WEBHOOK_SIG_MAX - o);
		cu_wipe(mac, sizeof(mac));
		if (r < 0)
			goto out;
		o += strlen(out + o);
	}
	if (t->signer != NULL) {
		uint8_t sig[CU_ED25519_SIG_LEN];
		if ((r = cu_sign_key_sign(t->signer, msg, mlen, sig)) < 0)
			goto out;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, "v1a,", 4);
		o += 4;
		if ((r = cu_b64_encode(sig, sizeof(sig), CU_B64_PAD, out + o,
		                       CU_WEBHOOK_SIG_MAX - o)) < 0)
			goto out;
	}
	if (t->secret == NULL && t->signer == NULL)
		r = cu_fail(CU_ERR_INVAL, "a webhook needs a secret or the Ed25519 signer");
out:
	free(msg);
	return r;
}

static int
two_digits(const char *s, int *ret)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*ret = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

int
cu_webhook_retry_after(const char *v, int64_t now_us, int64_t *ret_delay_us)
{
	size_t len = strlen(v);
	if (len == 0 || len > RETRY_AFTER_TEXT_MAX)
		return cu_fail(CU_ERR_FORMAT, "Retry-After: empty or longer than %d bytes",
		               RETRY_AFTER_TEXT_MAX);
	if (strspn(v, "0123456789") == len) {
		uint64_t s;
		if (len > 12 || cu_parse_u64(v, UINT64_C(999999999999), "Retry-After", &s) < 0)
			s = UINT64_C(999999999999);
		uint64_t max_s = CU_WEBHOOK_RETRY_AFTER_MAX_US / 1000000;
		*ret_delay_us = (int64_t)(s > max_s ? max_s : s) * 1000000;
		return 0;
	}
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (exactly 29 bytes) */
	static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int d, y1, y2, h, mi, s, mo = -1;
	bool dayok = false;
	if (len == 29) {
		for (size_t i = 0; i < 7; i++)
			dayok |= strncmp(v, days[i], 3) == 0;
		for (int i = 0; i < 12; i++)
			if (strncmp(v + 8, months[i], 3) == 0)
				mo = i + 1;
	}
	if (len != 29 || !dayok || mo < 0 || strncmp(v + 3, ", ", 2) != 0 || v[7] != ' ' ||
	    v[11] != ' ' || v[16] != ' ' || v[19] != ':' || v[22] != ':' ||
	    strcmp(v + 25, " GMT") != 0 || two_digits(v + 5, &d) < 0 ||
	    two_digits(v + 12, &y1) < 0 || two_digits(v + 14, &y2) < 0 ||
	    two_digits(v + 17, &h) < 0 || two_digits(v + 20, &mi) < 0 ||
	    two_digits(v + 23, &s) < 0)
		return cu_fail(CU_ERR_FORMAT, "Retry-After: neither seconds nor an HTTP date");
	char iso[32];
	int n = snprintf(iso, sizeof(iso), "%02d%02d-%02d-%02dT%02d:%02d:%02dZ", y1, y2, mo, d, h,
	                 mi, s);
	int64_t at;
	if (n < 0 || (size_t)n >= sizeof(iso) || cu_time_parse_iso8601(iso, &at) < 0)
		return cu_fail(CU_ERR_FORMAT, "Retry-After: not a valid date");
	int64_t delay = at - now_us;
	*ret_delay_us = delay < 0 ? 0 : delay > CU_WEBHOOK_RETRY_AFTER_MAX_US
	                                   ? CU_WEBHOOK_RETRY_AFTER_MAX_US : delay;
	return 0;
}

int
cu_webhook_key_text(const uint8_t pub[static 32], char out[static CU_WEBHOOK_KEY_TEXT])
{
	return cu_b64_encode(pub, 32, CU_B64_PAD, out, CU_WEBHOOK_KEY_TEXT);
}

struct reply {
	size_t got;                        /* response body bytes */
	bool too_big;
	char retry_after[RETRY_AFTER_TEXT_MAX + 1];
};

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct reply *rep = ctx;
	(void)p;
	size_t len = size * n;
	if (rep->got + len > CU_WEBHOOK_RESPONSE_MAX) {
		rep->too_big = true;
		return 0; /* stops the transfer: the answer is not what we expect */
	}
	rep->got += len;
	return len;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct reply *rep = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		const char *v = p + sizeof(name) - 1;
		size_t vl = len - (sizeof(name) - 1);
		while (vl > 0 && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl <= RETRY_AFTER_TEXT_MAX) {
			memcpy(rep->retry_after, v, vl);
			rep->retry_after[vl] = '\0';
		}
	}
	return len;
}

enum cu_send
cu_webhook_send(const struct cu_webhook_target *t, const struct cu_notice *n,
                int64_t *retry_after_us, char *err, size_t errlen)
{
	*retry_after_us = -1;
	err[0] = '\0';
	if (strncasecmp(t->url, "https://", 8) != 0) {
		cu_fmt_cut(err, errlen, "not an https:// URL");
		return CU_SEND_REFUSED;
	}
	char *body = NULL;
	size_t blen = 0;
	if (cu_webhook_body(n, &body, &blen) < 0) {
		cu_fmt_cut(err, errlen, "%s", cu_error_detail());
		return CU_SEND_REFUSED;
	}
	int64_t ts = cu_time_now_us() / 1000000;
	char sig[CU_WEBHOOK_SIG_MAX], h_id[CU_WEBHOOK_HEAD_MAX], h_ts[64], h_sig[CU_WEBHOOK_SIG_MAX + 32];
	if (cu_webhook_sign(t, n->id, ts, body, blen, sig) < 0) {
		cu_fmt_cut(err, errlen, "%s", cu_error_detail());
		free(body);
		return CU_SEND_RETRY;
	}
	int a = snprintf(h_id, sizeof(h_id), "webhook-id: %s", n->id);
	int b = snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", (long long)ts);
	int c = snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
	if (a < 0 || (size_t)a >= sizeof(h_id) || b < 0 || (size_t)b >= sizeof(h_ts) || c < 0 ||
	    (size_t)c >= sizeof(h_sig)) {
		cu_fmt_cut(err, errlen, "a header is too long");
		free(body);
		return CU_SEND_REFUSED;
	}
	enum cu_send res = CU_SEND_RETRY;
	struct reply rep = {0};
	struct curl_slist *hdrs = NULL;
	CURL *cu = curl_easy_init();
	if (cu == NULL) {
		cu_fmt_cut(err, errlen, "libcurl: out of memory");
		free(body);
		return CU_SEND_RETRY;
	}
	const char *fixed[] = {"Content-Type: application/json", "User-Agent: custodyd",
	                       "Expect:", h_id, h_ts, h_sig};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct curl_slist *nl = curl_slist_append(hdrs, fixed[i]);
		if (nl == NULL) {
			cu_fmt_cut(err, errlen, "libcurl: out of memory");
			goto out;
		}
		hdrs = nl;
	}
	long ms = (long)((t->timeout_us > 0 ? t->timeout_us : DEFAULT_TIMEOUT_US) / 1000);
	curl_easy_setopt(cu, CURLOPT_URL, t->url);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(cu, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (t->ca_file != NULL)
		curl_easy_setopt(cu, CURLOPT_CAINFO, t->ca_file);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, ms < 5000 ? ms : 5000L);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)blen);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &rep);
	curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(cu, CURLOPT_HEADERDATA, &rep);
	CURLcode cr = curl_easy_perform(cu);
	long status = 0;
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
	if (cr != CURLE_OK && !(rep.too_big && status >= 200 && status < 300)) {
		cu_fmt_cut(err, errlen, "%s", rep.too_big ? "the response is longer than 64 KiB"
		                                            : curl_easy_strerror(cr));
		/* a certificate the target will not change by itself is still worth
		 * retrying: an operator may fix the CA file or the receiver */
		res = CU_SEND_RETRY;
		goto out;
	}
	if (status >= 200 && status < 300) {
		res = CU_SEND_OK;
	} else if (status == 408 || status == 429 || status >= 500) {
		res = CU_SEND_RETRY;
		int64_t d;
		if (rep.retry_after[0] != '\0' &&
		    cu_webhook_retry_after(rep.retry_after, cu_time_now_us(), &d) == 0)
			*retry_after_us = d;
		cu_fmt_cut(err, errlen, "HTTP %ld", status);
	} else {
		res = CU_SEND_REFUSED;
		cu_fmt_cut(err, errlen, "HTTP %ld", status);
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(cu);
	free(body);
	return res;
}
