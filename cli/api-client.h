/* A small client of custodyd's API for the CLI (libcurl): TLS 1.2+ verified
 * against one CA file and nothing else, a token kept as a secret and renewed
 * before it ends, JSON requests and answers. */
#ifndef CLI_API_CLIENT_H
#define CLI_API_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "custody/buf.h"

#define URL_MAX 1024
#define ANSWER_MAX (1024 * 1024)                        /* a JSON answer of the API */
#define RENEW_BEFORE_US (120 * INT64_C(1000000))        /* renew a token this long before it ends */
#define CONNECT_TIMEOUT_S 15L
#define REQUEST_TIMEOUT_S 120L

struct api {
	CURL *curl;
	char base[URL_MAX];                 /* https://host:port, no trailing '/' */
	const char *ca_file;
	char *token;                        /* a secret: wiped */
	size_t token_len;
	int64_t token_renew_mono;           /* renew at this monotonic time */
	cu_buf answer;                      /* secret: a login answer holds the token */
};

/* The handle back to its defaults: TLS verified against ca_file, https only,
 * no redirects, the connect timeout. */
void cli_api_reset(struct api *a);
/* Frees a header list after wiping every header (they hold the token). */
void cli_slist_free_wiped(struct curl_slist *l);
/* The Authorization header (a secret: the caller wipes the list). */
struct curl_slist *cli_api_auth_headers(const struct api *a, bool json_body);
/* Prints what went wrong with a request: the server's message (made
 * printable) or curl's. */
void cli_api_complain(const char *what, long status, json_t *j, CURLcode cc, const char *errbuf);
/* One JSON request. body (may be NULL) is sent as application/json. 0 with
 * *ret_status and *ret_json (NULL when the answer is not JSON), or
 * EXIT_ERROR printed. Renews the token first when it is about to end. */
int cli_api_call(struct api *a, const char *method, const char *path, const char *body,
                 const char *what, long *ret_status, json_t **ret_json);
/* Wipes a string held by a jansson value (a token, a password). */
void cli_json_wipe_string(json_t *v);
/* POST auth/login: keeps the token; 0 or EXIT_ERROR printed. */
int cli_api_login(struct api *a, const char *user, const struct cli_password *pw);
/* POST auth/renew: a fresh token; 0 or EXIT_ERROR printed. */
int cli_api_renew(struct api *a);
/* POST auth/logout and forgets the token (wiped). */
void cli_api_logout(struct api *a);

#endif
