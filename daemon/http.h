/* custodyd's HTTPS server: libwebsockets on one service thread does the
 * network and TLS; a pool of worker threads runs the handlers, so that a
 * password hash, a verification or a long playback never stalls another
 * client. Handlers answer with a whole body or stream one (chunked); the
 * service thread writes it out as the client takes it.
 *
 * Limits (docs/api.md): request line + headers 8 KiB, path 1 KiB, query
 * 1 KiB, body 64 KiB (with a Content-Length), a request's body must arrive
 * within 10 s, a stalled response is dropped after 60 s, at most
 * CD_HTTP_QUEUE_MAX requests waiting for a worker and CD_HTTP_STREAMS_MAX
 * streamed responses at once (503 beyond). */
#ifndef CD_HTTP_H
#define CD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/error.h"

#define CD_HTTP_PATH_MAX 1024
#define CD_HTTP_QUERY_MAX 1024
#define CD_HTTP_PARAMS_MAX 16            /* query parameters (more: 414) */
#define CD_HTTP_BODY_MAX (64 * 1024)
#define CD_HTTP_HEADERS_MAX 8192
#define CD_HTTP_AUTH_MAX 2100            /* "Bearer " and a token */
#define CD_HTTP_WORKERS 12
#define CD_HTTP_STREAMS_MAX 8            /* responses streamed at once */
#define CD_HTTP_QUEUE_MAX 256
#define CD_HTTP_STREAM_BUFFER (1024 * 1024) /* bytes a stream may run ahead of the client */
#define CD_HTTP_BODY_TIMEOUT_S 10
#define CD_HTTP_STALL_TIMEOUT_S 60
#define CD_HTTP_KEEPALIVE_S 30
#define CD_HTTP_CONNECTIONS_MAX 1024

enum cd_method { CD_GET, CD_POST, CD_PUT, CD_PATCH, CD_DELETE, CD_HEAD, CD_OPTIONS, CD_METHOD_OTHER };

struct cd_req;
struct cd_ws;

/* A WebSocket upgrade as ws_open sees it. */
struct cd_ws_request {
	const char *path;                 /* decoded, no query */
	const char *query;                /* "" when none */
	const char *source;               /* client address */
	const char *origin;               /* the Origin header; NULL when none was sent */
	const char *host;                 /* the Host header; "" when none */
};

/* What the server was started with. */
struct cd_http_opts {
	const char *address;              /* listen address, e.g. "127.0.0.1" or "::" */
	int port;
	const char *cert_pem;             /* the server certificate chain, PEM */
	size_t cert_len;
	const char *key_pem;              /* its private key, PEM (copied; wipe yours) */
	size_t key_len;
	/* Runs on a worker for each complete request. It must answer with
	 * cd_reply / cd_reply_json / cd_reply_error or a stream. */
	void (*handle)(struct cd_req *r, void *ctx);
	/* WebSocket upgrade (subprotocol CD_WS_PROTOCOL), on the service
	 * thread: returns the handler's session for ws (accepted) or NULL
	 * (refused: the upgrade is answered 403). */
	void *(*ws_open)(struct cd_ws *ws, const struct cd_ws_request *q, void *ctx);
	/* The connection is gone. After this returns nobody may use ws. */
	void (*ws_closed)(void *session, void *ctx);
	void *ctx;
};

#define CD_WS_PROTOCOL "custody-live.v1"

struct cd_http;

/* Binds and starts the service thread and the workers. Errors (a port in
 * use, a bad certificate) are returned with a detail. */
int cd_http_start(const struct cd_http_opts *o, struct cd_http **ret);
/* Stops accepting, ends every connection and stream, joins every thread. */
void cd_http_stop(struct cd_http *h);
/* The port actually bound (for port 0). */
int cd_http_port(const struct cd_http *h);

/* ---- requests (handlers run on workers) ---- */

enum cd_method cd_req_method(const struct cd_req *r);
const char *cd_req_method_name(const struct cd_req *r);
const char *cd_req_path(const struct cd_req *r);       /* decoded, no query */
const char *cd_req_query(const struct cd_req *r);      /* "" when none */
const char *cd_req_auth(const struct cd_req *r);       /* Authorization header, "" when none */
const char *cd_req_source(const struct cd_req *r);     /* client address */
const char *cd_req_content_type(const struct cd_req *r);
const char *cd_req_if_none_match(const struct cd_req *r); /* "" when none */
const uint8_t *cd_req_body(const struct cd_req *r, size_t *len);
/* Wipes the request body (it held a password). */
void cd_req_wipe_body(struct cd_req *r);
/* A query parameter, percent-decoded, into buf: 1 found, 0 absent, -1 too long. */
int cd_req_param(const struct cd_req *r, const char *name, char *buf, size_t len);

/* Adds a response header ("name", "value"); at most 8 per response. */
void cd_reply_header(struct cd_req *r, const char *name, const char *value);
/* A whole response. */
void cd_reply(struct cd_req *r, int status, const char *content_type, const void *body,
              size_t len);
/* Takes ownership of a malloc'd body. */
void cd_reply_owned(struct cd_req *r, int status, const char *content_type, void *body,
                    size_t len);
/* A whole response for a browser client file (web.c): the page headers
 * (Cache-Control: no-cache and CD_WEB_CSP) instead of the API's; with
 * send_body false (a 304) the head says len and no byte follows. */
void cd_reply_page(struct cd_req *r, int status, const char *content_type, const void *body,
                   size_t len, bool send_body);
/* The Content-Security-Policy of the client's pages: its own scripts and
 * styles only (no inline, no eval), media and workers from blob: (MSE),
 * connections to this origin only (fetch, WebSocket), never framed. */
#define CD_WEB_CSP                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " \
	"media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; font-src 'self'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
/* {"error":{"code":code,"message":...}} */
void cd_reply_error(struct cd_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Streams a response of unknown length (HTTP/1.1 chunked). begin fails with
 * CU_ERR_BUSY when CD_HTTP_STREAMS_MAX streams run (no answer is sent: the
 * caller answers 503). write blocks while the client lags by more than
 * CD_HTTP_STREAM_BUFFER and fails with CU_ERR_IO once the client is gone.
 * end(ok = true) ends the body properly; end(false) cuts the connection
 * without the final chunk, so that the client sees an incomplete response. */
int cd_stream_begin(struct cd_req *r, int status, const char *content_type);
/* Takes a stream slot early (before costly work), so that a busy server
 * refuses cheaply; cd_stream_begin then uses it. CU_ERR_BUSY as above. */
int cd_stream_reserve(struct cd_req *r);
int cd_stream_write(struct cd_req *r, const void *data, size_t len);
void cd_stream_end(struct cd_req *r, bool ok);
/* Has the client of a stream gone away (or the server begun to stop)? For a
 * stream that waits for something to send (the live event stream). */
bool cd_stream_gone(struct cd_req *r);

/* ---- WebSocket sessions (live view) ----
 * Producers on any thread queue binary messages with cd_ws_send until
 * ws_closed has been called for the session. */
#define CD_WS_QUEUE_MAX (8 * 1024 * 1024)
/* Queues one binary message; CU_ERR_LIMIT when more than CD_WS_QUEUE_MAX
 * bytes wait (the client is too slow: it is disconnected). */
int cd_ws_send(struct cd_ws *ws, const void *data, size_t len);
/* Closes with a reason (from any thread). */
void cd_ws_close(struct cd_ws *ws, const char *reason);

#endif
