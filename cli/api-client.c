/* The CLI's client of custodyd's API (api-client.h). */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api-client.h"
#include "custody/crypto.h"
#include "custody/time.h"
#include "custody/file.h"
#include "custody/parse.h"

static size_t
on_answer(char *data, size_t size, size_t n, void *ctx)
{
	cu_buf *b = ctx;
	return cu_buf_append(b, data, size * n) < 0 ? 0 : size * n;
}

void
cli_api_reset(struct api *a)
{
	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	/* TLS 1.2 or later, verified against --ca-file and nothing else */
	curl_easy_setopt(a->curl, CURLOPT_CAINFO, a->ca_file);
	curl_easy_setopt(a->curl, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(a->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(a->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(a->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(a->curl, CURLOPT_FOLLOWLOCATION, 0L);
	/* straight to the server: a proxy would only see TLS, but need not */
	curl_easy_setopt(a->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
}

void
cli_slist_free_wiped(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			cu_wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* The Authorization header (a secret: the caller wipes the list). */
struct curl_slist *
cli_api_auth_headers(const struct api *a, bool json_body)
{
	struct curl_slist *l = NULL, *t;
	if (json_body && (l = curl_slist_append(NULL, "Content-Type: application/json")) == NULL)
		return NULL;
	if ((t = curl_slist_append(l, "Accept: application/json")) == NULL)
		goto fail;
	l = t;
	if (a->token != NULL) {
		size_t len = 22 + a->token_len + 1;
		char *h = malloc(len);
		if (h == NULL)
			goto fail;
		memcpy(h, "Authorization: Bearer ", 22);
		memcpy(h + 22, a->token, a->token_len + 1);
		t = curl_slist_append(l, h);
		cu_wipe(h, len);
		free(h);
		if (t == NULL)
			goto fail;
		l = t;
	}
	return l;
fail:
	cli_slist_free_wiped(l);
	return NULL;
}

/* Prints what went wrong with a request: the server's message (made
 * printable) or curl's. */
void
cli_api_complain(const char *what, long status, json_t *j, CURLcode cc, const char *errbuf)
{
	if (cc != CURLE_OK) {
		fprintf(stderr, "custody export: --server: %s: %s\n", what,
		        errbuf[0] ? errbuf : curl_easy_strerror(cc));
		if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE)
			fprintf(stderr, "custody export: the server's certificate is checked against "
			        "--ca-file only (the store's tls/ca.pem)\n");
		return;
	}
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	fprintf(stderr, "custody export: --server: %s: HTTP %ld%s%s%s", what, status,
	        code ? " " : "", code ? code : "", msg ? ": " : "");
	if (msg != NULL)
		cli_print_safe(stderr, msg, NULL);
	fputc('\n', stderr);
}

/* One JSON request. body (may be NULL) is sent as application/json. 0 with
 * *ret_status and *ret_json (NULL when the answer is not JSON), or
 * EXIT_ERROR printed. */
int
cli_api_call(struct api *a, const char *method, const char *path, const char *body,
         const char *what, long *ret_status, json_t **ret_json)
{
	char url[URL_MAX + 256], errbuf[CURL_ERROR_SIZE] = "";
	if (cu_path(url, sizeof(url), "%s%s", a->base, path) < 0) {
		fprintf(stderr, "custody export: --server: the URL is too long\n");
		return EXIT_ERROR;
	}
	struct curl_slist *h = cli_api_auth_headers(a, body != NULL);
	if (h == NULL) {
		fprintf(stderr, "custody export: out of memory\n");
		return EXIT_ERROR;
	}
	cu_buf_reset(&a->answer);
	cli_api_reset(a);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &a->answer);
	if (body != NULL) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	CURLcode cc = curl_easy_perform(a->curl);
	/* nothing of ours stays in the handle: the header list is wiped below */
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, NULL);
	cli_slist_free_wiped(h);
	long status = 0;
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
	json_t *j = NULL;
	if (cc == CURLE_OK && a->answer.len > 0)
		j = json_loadb((const char *)a->answer.data, a->answer.len, 0, NULL);
	cu_buf_reset(&a->answer);
	if (cc != CURLE_OK) {
		cli_api_complain(what, status, NULL, cc, errbuf);
		json_decref(j);
		return EXIT_ERROR;
	}
	*ret_status = status;
	*ret_json = j;
	return 0;
}

/* Wipes a string held by a jansson value (a token, a password). */
void
cli_json_wipe_string(json_t *v)
{
	if (json_is_string(v))
		cu_wipe((void *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static int
take_token(struct api *a, json_t *j)
{
	json_t *t = json_object_get(j, "token");
	json_t *ex = json_object_get(j, "expires_in");
	if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 4096) {
		fprintf(stderr, "custody export: --server: the login answer holds no token\n");
		return EXIT_ERROR;
	}
	if (a->token != NULL) {
		cu_wipe(a->token, a->token_len);
		free(a->token);
	}
	a->token_len = json_string_length(t);
	if ((a->token = malloc(a->token_len + 1)) == NULL) {
		a->token_len = 0;
		fprintf(stderr, "custody export: out of memory\n");
		return EXIT_ERROR;
	}
	memcpy(a->token, json_string_value(t), a->token_len + 1);
	int64_t life = json_is_integer(ex) ? (int64_t)json_integer_value(ex) * 1000000 : 0;
	a->token_renew_mono = cu_time_mono_us() +
	                      (life > 2 * RENEW_BEFORE_US ? life - RENEW_BEFORE_US : life / 2);
	return 0;
}

/* POSTs body to an endpoint that answers a token (login, renew) and keeps
 * the token. 0, or EXIT_ERROR printed. */
static int
token_call(struct api *a, const char *path, const char *body, const char *what)
{
	long status = 0;
	json_t *j = NULL;
	int r = cli_api_call(a, "POST", path, body, what, &status, &j);
	if (r != 0)
		return r;
	if (status != 200) {
		cli_api_complain(what, status, j, CURLE_OK, "");
		json_decref(j);
		return EXIT_ERROR;
	}
	r = take_token(a, j);
	cli_json_wipe_string(json_object_get(j, "token"));
	json_decref(j);
	return r;
}

int
cli_api_login(struct api *a, const char *user, const struct cli_password *pw)
{
	json_t *b = json_pack("{s:s, s:s%}", "user", user, "password", pw->buf, pw->len);
	char *text = b != NULL ? json_dumps(b, JSON_COMPACT) : NULL;
	cli_json_wipe_string(json_object_get(b, "password"));
	json_decref(b);
	if (text == NULL) {
		fprintf(stderr, "custody export: the password is not valid UTF-8 (or out of "
		        "memory)\n");
		return EXIT_ERROR;
	}
	int r = token_call(a, "/api/v1/auth/login", text, "log in");
	cu_wipe(text, strlen(text));
	free(text);
	return r;
}

int
cli_api_renew(struct api *a)
{
	if (cu_time_mono_us() < a->token_renew_mono)
		return 0;
	return token_call(a, "/api/v1/auth/renew", NULL, "renew the login");
}

void
cli_api_logout(struct api *a)
{
	if (a->token == NULL)
		return;
	long status = 0;
	json_t *j = NULL;
	if (cli_api_call(a, "POST", "/api/v1/auth/logout", NULL, "log out", &status, &j) == 0 &&
	    status != 204)
		cli_api_complain("log out", status, j, CURLE_OK, "");
	json_decref(j);
	cu_wipe(a->token, a->token_len);
	free(a->token);
	a->token = NULL;
	a->token_len = 0;
}

