/* The e-mail channel: one notice mailed through libcurl's SMTP client.
 * TLS is required and verified: smtp:// must offer STARTTLS (RFC 3207,
 * CURLUSESSL_ALL: curl refuses to go on in clear), smtps:// is TLS from the
 * first byte. docs/notifications-snmp.md, "E-mail". */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "custody/error.h"
#include "custody/file.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/util.h"
#include "notify/mail.h"
#include "notify/notice.h"

#define CONNECT_TIMEOUT_MS 10000
#define TIMEOUT_MS 30000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* "smtp://HOST[:PORT]" or "smtps://HOST[:PORT]", an optional "/" at the end;
 * HOST a name, an IPv4 literal or a bracketed IPv6 literal; no user, path,
 * query or fragment. */
int
cu_smtp_url_check(const char *url)
{
	if (url == NULL)
		return cu_fail(CU_ERR_INVAL, "url: missing");
	size_t len = strlen(url);
	if (len > CU_SMTP_URL_MAX)
		return cu_fail(CU_ERR_INVAL, "url: %zu bytes, at most %d", len, CU_SMTP_URL_MAX);
	const char *h;
	if (strncmp(url, "smtp://", 7) == 0)
		h = url + 7;
	else if (strncmp(url, "smtps://", 8) == 0)
		h = url + 8;
	else
		return cu_fail(CU_ERR_INVAL, "url: smtp://HOST[:PORT] (STARTTLS) or smtps://HOST[:PORT]");
	const char *end = url + len;
	if (end > h && end[-1] == '/')
		end--;
	const char *port = NULL;
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(end - h));
		if (close == NULL || close == h + 1)
			return cu_fail(CU_ERR_INVAL, "url: an IPv6 address needs its closing ']'");
		for (const char *p = h + 1; p < close; p++)
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
				return cu_fail(CU_ERR_INVAL, "url: not an IPv6 address");
		port = close + 1 < end ? close + 1 : NULL;
		if (port != NULL && *port != ':')
			return cu_fail(CU_ERR_INVAL, "url: only a port may follow the host");
	} else {
		size_t hl = (size_t)(end - h);
		const char *colon = memchr(h, ':', hl);
		const char *p = colon != NULL ? colon : end;
		size_t bad = cu_notice_span(h, (size_t)(p - h), true, "-.");
		if (bad < (size_t)(p - h))
			return cu_fail(CU_ERR_INVAL, "url: byte %zu: a host has letters, digits, '-' and "
			               "'.' (no user, path or query)", (size_t)(h - url) + bad);
		if (p == h || (size_t)(p - h) > CU_NOTIFY_HOST_MAX)
			return cu_fail(CU_ERR_INVAL, "url: no host, or over %d bytes", CU_NOTIFY_HOST_MAX);
		port = p < end ? p : NULL;
	}
	if (port != NULL) {
		unsigned v = 0;
		const char *p = port + 1;
		if (p == end)
			return cu_fail(CU_ERR_INVAL, "url: an empty port");
		for (; p < end; p++) {
			if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned)(*p - '0')) > 65535)
				return cu_fail(CU_ERR_INVAL, "url: the port is a number 1..65535");
		}
		if (v == 0)
			return cu_fail(CU_ERR_INVAL, "url: the port is a number 1..65535");
	}
	return 0;
}

int
cu_smtp_target_check(const struct cu_smtp_target *t, bool secrets)
{
	int r;
	if (t == NULL)
		return cu_fail(CU_ERR_INVAL, "no target");
	if ((r = cu_smtp_url_check(t->url)) < 0)
		return r;
	if ((r = cu_mail_address_check(t->from, "from")) < 0)
		return r;
	if (t->to == NULL || t->n_to == 0 || t->n_to > CU_SMTP_RCPT_MAX)
		return cu_fail(CU_ERR_INVAL, "recipients: %zu, 1 to %d", t->n_to, CU_SMTP_RCPT_MAX);
	for (size_t i = 0; i < t->n_to; i++) {
		char what[32];
		cu_fmt_cut(what, sizeof(what), "recipient %zu", i + 1);
		if ((r = cu_mail_address_check(t->to[i], what)) < 0)
			return r;
	}
	if (t->ca_file != NULL && (t->ca_file[0] == '\0' || strlen(t->ca_file) > 4096))
		return cu_fail(CU_ERR_INVAL, "ca_file: empty or over 4096 bytes");
	if (secrets && (t->user == NULL) != (t->password == NULL))
		return cu_fail(CU_ERR_INVAL, "user and password go together");
	if (t->user != NULL) {
		size_t ul = strlen(t->user), pl = t->password != NULL ? strlen(t->password) : 0;
		if (ul == 0 || ul > CU_SMTP_ADDR_MAX || cu_text_check(t->user, ul, CU_SMTP_ADDR_MAX, 0) < 0)
			return cu_fail(CU_ERR_INVAL, "user: 1 to %d bytes of text", CU_SMTP_ADDR_MAX);
		if (secrets && (pl == 0 || pl > CU_NOTIFY_SECRET_MAX))
			return cu_fail(CU_ERR_INVAL, "password: 1 to %d bytes", CU_NOTIFY_SECRET_MAX);
	}
	if (t->connect_timeout_ms > CU_NOTIFY_TIMEOUT_MS_MAX ||
	    t->timeout_ms > CU_NOTIFY_TIMEOUT_MS_MAX)
		return cu_fail(CU_ERR_INVAL, "timeouts: at most %d ms", CU_NOTIFY_TIMEOUT_MS_MAX);
	return 0;
}

/* What an SMTP failure means for the outbox. */
static enum cu_send
outcome(CURLcode rc, long code)
{
	if (rc == CURLE_USE_SSL_FAILED)
		return CU_SEND_REFUSED;   /* no STARTTLS: it will not appear by retrying */
	if (code >= 500 && code <= 599)
		return CU_SEND_REFUSED;
	return CU_SEND_RETRY;         /* 4xx, the network, TLS, a timeout */
}

enum cu_send
cu_smtp_send(const struct cu_smtp_target *t, const struct cu_notice *n, char *err, size_t errlen)
{
	struct cu_mail *m = calloc(1, sizeof(*m));
	CURL *c = NULL;
	curl_mime *mime = NULL;
	struct curl_slist *rcpt = NULL, *hdr = NULL;
	enum cu_send res = CU_SEND_REFUSED;
	char path[CU_SMTP_ADDR_MAX + 3];
	char ebuf[CURL_ERROR_SIZE] = "";
	if (m == NULL) {
		cu_fmt_cut(err, errlen, "out of memory");
		return CU_SEND_RETRY;
	}
	int r = cu_smtp_target_check(t, true);
	if (r == 0)
		r = cu_mail_compose(n, t->from, t->to, t->n_to, cu_time_now_us(), m);
	if (r < 0) {
		cu_fmt_cut(err, errlen, "%s", cu_error_detail());
		goto out;
	}
	res = CU_SEND_RETRY;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK || (c = curl_easy_init()) == NULL ||
	    (mime = curl_mime_init(c)) == NULL) {
		cu_fmt_cut(err, errlen, "libcurl could not start");
		goto out;
	}
	/* the text, then the still */
	curl_mimepart *part = curl_mime_addpart(mime);
	if (part == NULL || curl_mime_data(part, m->body, CURL_ZERO_TERMINATED) != CURLE_OK ||
	    curl_mime_type(part, "text/plain; charset=utf-8") != CURLE_OK ||
	    curl_mime_encoder(part, "quoted-printable") != CURLE_OK)
		goto nomem;
	if (n->still != NULL) {
		part = curl_mime_addpart(mime);
		if (part == NULL ||
		    curl_mime_data(part, (const char *)n->still, n->still_len) != CURLE_OK ||
		    curl_mime_type(part, "image/jpeg") != CURLE_OK ||
		    curl_mime_filename(part, m->filename) != CURLE_OK ||
		    curl_mime_encoder(part, "base64") != CURLE_OK)
			goto nomem;
	}
	const char *lines[] = {m->from, m->to, m->subject, m->date, m->message_id, m->auto_submitted};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct curl_slist *s = curl_slist_append(hdr, lines[i]);
		if (s == NULL)
			goto nomem;
		hdr = s;
	}
	for (size_t i = 0; i < t->n_to; i++) {
		if (cu_path(path, sizeof(path), "<%s>", t->to[i]) < 0)
			goto nomem;
		struct curl_slist *s = curl_slist_append(rcpt, path);
		if (s == NULL)
			goto nomem;
		rcpt = s;
	}
	if (cu_path(path, sizeof(path), "<%s>", t->from) < 0)
		goto nomem;
	long cto = t->connect_timeout_ms ? (long)t->connect_timeout_ms : CONNECT_TIMEOUT_MS;
	long to = t->timeout_ms ? (long)t->timeout_ms : TIMEOUT_MS;
	CURLcode rc = CURLE_OK;
	/* every option is checked: one that does not take would weaken TLS */
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_URL, t->url);
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	SET(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (t->ca_file != NULL)
		SET(CURLOPT_CAINFO, t->ca_file);
	SET(CURLOPT_MAIL_FROM, path);
	SET(CURLOPT_MAIL_RCPT, rcpt);
	SET(CURLOPT_HTTPHEADER, hdr);
	SET(CURLOPT_MIMEPOST, mime);
	if (t->user != NULL) {
		SET(CURLOPT_USERNAME, t->user);
		SET(CURLOPT_PASSWORD, t->password);
	}
	SET(CURLOPT_CONNECTTIMEOUT_MS, cto);
	SET(CURLOPT_TIMEOUT_MS, to);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, ebuf);
#undef SET
	if (rc != CURLE_OK) {
		cu_fmt_cut(err, errlen, "libcurl refused an option: %s", curl_easy_strerror(rc));
		res = CU_SEND_REFUSED;
		goto out;
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		res = CU_SEND_OK;
		goto out;
	}
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	res = outcome(rc, code);
	if (rc == CURLE_USE_SSL_FAILED)
		cu_fmt_cut(err, errlen, "the server does not offer STARTTLS; custody never mails in "
		           "clear (%s)", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	else if (code != 0)
		cu_fmt_cut(err, errlen, "the server answered %ld: %s", code,
		           ebuf[0] ? ebuf : curl_easy_strerror(rc));
	else
		cu_fmt_cut(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	goto out;
nomem:
	cu_fmt_cut(err, errlen, "out of memory building the mail");
	res = CU_SEND_RETRY;
out:
	/* curl keeps its own copy of the password (CURLOPT_PASSWORD) and frees it
	 * in curl_easy_cleanup without wiping: docs/notifications-snmp.md. */
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_mime_free(mime);
	curl_slist_free_all(rcpt);
	curl_slist_free_all(hdr);
	free(m);
	return res;
}
