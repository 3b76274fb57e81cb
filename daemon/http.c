/* custodyd's HTTPS server on libwebsockets (see http.h).
 *
 * Threads: the service thread alone touches lws and its wsi; workers run
 * handlers and producers queue bytes. They meet under h->lock: a worker
 * fills a request's response (or a WebSocket's message queue), sets
 * `notify` and wakes the service thread with lws_cancel_service(); the
 * service thread asks lws for a writable callback and writes. Requests and
 * WebSocket sessions are reference counted between the two sides. */
#include <errno.h>
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http.h"
#include "query.h"
#include "custody/error.h"
#include "custody/parse.h"
#include "custody/text.h"

enum { OBJ_REQ = 1, OBJ_WS = 2 };

struct bytes {
	uint8_t *data;
	size_t off, len, cap;             /* unread bytes are data[off, off + len) */
};

struct cd_req {
	int kind;                         /* OBJ_REQ */
	struct cd_http *h;
	struct lws *wsi;                  /* service thread only; NULL once gone */
	struct cd_req *next;              /* h->reqs */
	struct cd_req *qnext;             /* h->queue */
	int refs;
	/* the request */
	enum cd_method method;
	char path[CD_HTTP_PATH_MAX + 1];
	char query[CD_HTTP_QUERY_MAX + 65];
	char auth[CD_HTTP_AUTH_MAX + 1];
	char source[64];
	char ctype_in[128];
	char if_none_match[256];          /* "" when none */
	uint8_t *body;
	size_t body_len, body_expect;
	bool dispatched;
	/* the response, under h->lock */
	bool answered, streaming, done, ok, gone, notify, close_after, is_stream_slot;
	bool page;                        /* a client file: the page headers (page_headers) */
	bool no_body;                     /* 304: Content-Length of the file, no bytes */
	int status;
	char ctype[128];
	char hname[8][48], hvalue[8][256];
	int nheaders;
	uint64_t content_len;
	struct bytes out;
	pthread_cond_t cv;
	/* service thread */
	bool head_sent;
};

struct wsmsg {
	struct wsmsg *next;
	size_t len;
	uint8_t data[];                   /* LWS_PRE bytes, then the message */
};

struct cd_ws {
	int kind;                         /* OBJ_WS */
	struct cd_http *h;
	struct lws *wsi;
	struct cd_ws *next;               /* h->wss */
	void *session;
	struct wsmsg *head, *tail;
	size_t queued;
	bool notify, closing, gone;
	char reason[124];
};

struct cd_http {
	struct lws_context *ctx;
	struct cd_http_opts o;
	char *key;                        /* copy of the key PEM, wiped at stop */
	size_t key_len;
	pthread_t service;
	pthread_t workers[CD_HTTP_WORKERS];
	size_t nworkers;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct cd_req *queue, *queue_tail;
	size_t queued;
	struct cd_req *reqs;              /* dispatched, not finished */
	struct cd_ws *wss;
	int streams;
	atomic_bool stopping;
	int port;
};

static const char *const method_names[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
                                           "OPTIONS", "?"};

/* Mozilla "intermediate" (version 5.7): TLS 1.2 suites with forward secrecy
 * and AEAD; TLS 1.3 suites as OpenSSL has them. */
static const char tls12_ciphers[] =
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
static const char tls13_ciphers[] =
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/* ---- byte queues ---- */

static int
bytes_put(struct bytes *b, const void *data, size_t len)
{
	if (b->off > 0 && b->off + b->len + len > b->cap) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		uint8_t *p = realloc(b->data, cap);
		if (p == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->off + b->len, data, len);
	b->len += len;
	return 0;
}

/* ---- reference counting (under h->lock) ---- */

static void
req_unref_locked(struct cd_req *r)
{
	if (--r->refs > 0)
		return;
	pthread_cond_destroy(&r->cv);
	if (r->body != NULL)
		cu_wipe(r->body, r->body_len); /* bodies may hold passwords */
	free(r->body);
	free(r->out.data);
	cu_wipe(r->auth, sizeof(r->auth));
	free(r);
}

static void
wake(struct cd_http *h)
{
	lws_cancel_service(h->ctx);
}

/* ---- request accessors ---- */

enum cd_method cd_req_method(const struct cd_req *r) { return r->method; }
const char *cd_req_method_name(const struct cd_req *r) { return method_names[r->method]; }
const char *cd_req_path(const struct cd_req *r) { return r->path; }
const char *cd_req_query(const struct cd_req *r) { return r->query; }
const char *cd_req_auth(const struct cd_req *r) { return r->auth; }
const char *cd_req_source(const struct cd_req *r) { return r->source; }
const char *cd_req_content_type(const struct cd_req *r) { return r->ctype_in; }
const char *cd_req_if_none_match(const struct cd_req *r) { return r->if_none_match; }

const uint8_t *
cd_req_body(const struct cd_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body ? r->body : (const uint8_t *)"";
}

void
cd_req_wipe_body(struct cd_req *r)
{
	if (r->body != NULL)
		cu_wipe(r->body, r->body_len);
}

/* lws has percent-decoded each argument already: values are taken as they are. */
int
cd_req_param(const struct cd_req *r, const char *name, char *buf, size_t len)
{
	return cd_query_param(r->query, name, buf, len);
}

/* ---- answering (workers) ---- */

void
cd_reply_header(struct cd_req *r, const char *name, const char *value)
{
	if (r->nheaders >= 8 || strlen(name) >= sizeof(r->hname[0]) ||
	    strlen(value) >= sizeof(r->hvalue[0]))
		return;
	memcpy(r->hname[r->nheaders], name, strlen(name) + 1);   /* they fit: checked above */
	memcpy(r->hvalue[r->nheaders], value, strlen(value) + 1);
	r->nheaders++;
}

/* Sets the content type, one of our constants: one that does not fit is
 * left out and logged, never sent cut. */
static void
set_ctype(struct cd_req *r, const char *ctype)
{
	int n = snprintf(r->ctype, sizeof(r->ctype), "%s", ctype);
	if (n < 0 || (size_t)n >= sizeof(r->ctype)) {
		r->ctype[0] = '\0';
		cd_log(CD_ERR, "https: a content type longer than %zu bytes is left out: %.64s...",
		       sizeof(r->ctype) - 1, ctype);
	}
}

static void
answer(struct cd_req *r, int status, const char *ctype, const void *body, size_t len, void *owned)
{
	struct cd_http *h = r->h;
	pthread_mutex_lock(&h->lock);
	if (r->answered) {
		pthread_mutex_unlock(&h->lock);
		free(owned);
		return;
	}
	r->status = status;
	set_ctype(r, ctype);
	r->content_len = len;
	if (r->no_body) {
		/* the head only: nothing is queued */
	} else if (owned != NULL && r->out.len == 0) {
		free(r->out.data);
		r->out = (struct bytes){.data = owned, .len = len, .cap = len};
		owned = NULL;
	} else if (len > 0 && bytes_put(&r->out, body, len) < 0) {
		r->status = 500;
		r->content_len = 0;
		r->close_after = true;
	}
	r->answered = r->done = r->ok = true;
	r->notify = true;
	pthread_mutex_unlock(&h->lock);
	free(owned);
	wake(h);
}

void
cd_reply(struct cd_req *r, int status, const char *content_type, const void *body, size_t len)
{
	answer(r, status, content_type, body, len, NULL);
}

void
cd_reply_owned(struct cd_req *r, int status, const char *content_type, void *body, size_t len)
{
	answer(r, status, content_type, body, len, body);
}

void
cd_reply_page(struct cd_req *r, int status, const char *content_type, const void *body,
              size_t len, bool send_body)
{
	r->page = true;
	r->no_body = !send_body;
	answer(r, status, content_type, body, len, NULL);
}

/* JSON string escaping of a message. */
static size_t
json_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;
	for (; *s != '\0' && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		} else if (c >= 0x7f) {
			out[o++] = '?'; /* messages may quote request bytes: keep the JSON valid */
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o;
}

void
cd_reply_error(struct cd_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[1024], esc[2048], body[2300];
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(msg, sizeof(msg), fmt, ap); /* a message: cut, deliberately */
	va_end(ap);
	json_escape(msg, esc, sizeof(esc));
	int n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
	                 code, esc);
	if (n < 0 || (size_t)n >= sizeof(body)) { /* JSON: never cut (the codes are short) */
		static const char too_long[] = "{\"error\":{\"code\":\"internal\",\"message\":"
		                               "\"the error code is too long\"}}\n";
		cd_reply(r, 500, "application/json", too_long, sizeof(too_long) - 1);
		return;
	}
	cd_reply(r, status, "application/json", body, (size_t)n);
}

int
cd_stream_reserve(struct cd_req *r)
{
	struct cd_http *h = r->h;
	pthread_mutex_lock(&h->lock);
	if (!r->is_stream_slot) {
		if (h->streams >= CD_HTTP_STREAMS_MAX) {
			pthread_mutex_unlock(&h->lock);
			return cu_fail(CU_ERR_BUSY, "%d streams are running, the most allowed at once",
			               CD_HTTP_STREAMS_MAX);
		}
		h->streams++;
		r->is_stream_slot = true;
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int
cd_stream_begin(struct cd_req *r, int status, const char *content_type)
{
	struct cd_http *h = r->h;
	int ret = cd_stream_reserve(r);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&h->lock);
	r->status = status;
	set_ctype(r, content_type);
	r->answered = r->streaming = true;
	r->notify = true;
	pthread_mutex_unlock(&h->lock);
	wake(h);
	return 0;
}

int
cd_stream_write(struct cd_req *r, const void *data, size_t len)
{
	struct cd_http *h = r->h;
	int ret = 0;
	pthread_mutex_lock(&h->lock);
	while (!r->gone && !h->stopping && r->out.len >= CD_HTTP_STREAM_BUFFER) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&r->cv, &h->lock, &ts);
	}
	if (r->gone || h->stopping)
		ret = cu_fail(CU_ERR_IO, "the client went away");
	else if ((ret = bytes_put(&r->out, data, len)) == 0)
		r->notify = true;
	pthread_mutex_unlock(&h->lock);
	if (ret == 0)
		wake(h);
	return ret;
}

bool
cd_stream_gone(struct cd_req *r)
{
	struct cd_http *h = r->h;
	pthread_mutex_lock(&h->lock);
	bool gone = r->gone || h->stopping;
	pthread_mutex_unlock(&h->lock);
	return gone;
}

void
cd_stream_end(struct cd_req *r, bool ok)
{
	struct cd_http *h = r->h;
	pthread_mutex_lock(&h->lock);
	r->done = true;
	r->ok = ok;
	r->notify = true;
	pthread_mutex_unlock(&h->lock);
	wake(h);
}

/* ---- workers ---- */

static void *
worker_main(void *arg)
{
	struct cd_http *h = arg;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->queue == NULL && !h->stopping)
			pthread_cond_wait(&h->work, &h->lock);
		if (h->stopping)
			break;
		struct cd_req *r = h->queue;
		h->queue = r->qnext;
		if (h->queue == NULL)
			h->queue_tail = NULL;
		h->queued--;
		bool gone = r->gone;
		pthread_mutex_unlock(&h->lock);
		if (!gone) {
			cu_error_clear();
			h->o.handle(r, h->o.ctx);
			pthread_mutex_lock(&h->lock);
			bool answered = r->answered;
			bool open_stream = r->streaming && !r->done;
			pthread_mutex_unlock(&h->lock);
			if (!answered)
				cd_reply_error(r, 500, "internal", "the request was not answered");
			else if (open_stream)
				cd_stream_end(r, false);
		}
		pthread_mutex_lock(&h->lock);
		if (r->is_stream_slot) {
			h->streams--;
			r->is_stream_slot = false;
		}
		req_unref_locked(r);
	}
	/* requests still queued at stop are dropped */
	while (h->queue != NULL) {
		struct cd_req *r = h->queue;
		h->queue = r->qnext;
		req_unref_locked(r);
	}
	h->queue_tail = NULL;
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* ---- the service thread ---- */

/* Headers on every answer (docs/api.md, "Headers on every answer"). */
static const char *const security_headers[][2] = {
	{"strict-transport-security:", "max-age=63072000"},
	{"x-content-type-options:", "nosniff"},
	{"referrer-policy:", "no-referrer"},
	{"x-frame-options:", "DENY"},
	{"cross-origin-opener-policy:", "same-origin"},
	{"cross-origin-resource-policy:", "same-origin"},
	{"permissions-policy:", "camera=(), microphone=(), geolocation=()"},
};

/* The API's answers (JSON, media): never cached, never a document. */
static const char *const api_headers[][2] = {
	{"cache-control:", "no-store"},
	{"content-security-policy:", "default-src 'none'; frame-ancestors 'none'"},
};

/* The browser client's files (web.c): revalidated (ETag), and a policy
 * that lets the page run only its own scripts and styles (no inline code,
 * no eval), play media from blob: URLs (MSE) and talk only to this origin. */
static const char *const page_headers[][2] = {
	{"cache-control:", "no-cache"},
	{"content-security-policy:", CD_WEB_CSP},
};

static int
add_headers(struct lws *wsi, const char *const (*hs)[2], size_t n, uint8_t **p, uint8_t *end)
{
	for (size_t i = 0; i < n; i++)
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)hs[i][0],
		                                (const unsigned char *)hs[i][1],
		                                (int)strlen(hs[i][1]), p, end))
			return -1;
	return 0;
}

#define NHEADERS(a) (sizeof(a) / sizeof((a)[0]))

static int
write_head(struct lws *wsi, struct cd_req *r, bool chunked)
{
	uint8_t buf[LWS_PRE + 4096];
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	if (lws_add_http_header_status(wsi, (unsigned)r->status, &p, end))
		return -1;
	if (r->ctype[0] != '\0' &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
	                                 (const unsigned char *)r->ctype, (int)strlen(r->ctype), &p,
	                                 end))
		return -1;
	if (add_headers(wsi, security_headers, NHEADERS(security_headers), &p, end) < 0 ||
	    (r->page ? add_headers(wsi, page_headers, NHEADERS(page_headers), &p, end)
	             : add_headers(wsi, api_headers, NHEADERS(api_headers), &p, end)) < 0)
		return -1;
	for (int i = 0; i < r->nheaders; i++) {
		char name[64];
		int k = snprintf(name, sizeof(name), "%s:", r->hname[i]);
		if (k < 0 || (size_t)k >= sizeof(name) ||
		    lws_add_http_header_by_name(wsi, (const unsigned char *)name,
		                                (const unsigned char *)r->hvalue[i],
		                                (int)strlen(r->hvalue[i]), &p, end))
			return -1;
	}
	if (chunked) {
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"transfer-encoding:",
		                                (const unsigned char *)"chunked", 7, &p, end))
			return -1;
	} else if (lws_add_http_header_content_length(wsi, r->content_len, &p, end)) {
		return -1;
	}
	if (r->close_after &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close",
	                                 5, &p, end))
		return -1;
	return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* Parts a request from its connection, which is finished or gone: out of
 * h's list, marked gone (a worker still holding it sees its writes fail),
 * waiters woken, and the connection's reference dropped (which may free r).
 * Takes h->lock; service thread only. */
static void
req_detach(struct cd_http *h, struct cd_req *r)
{
	pthread_mutex_lock(&h->lock);
	for (struct cd_req **pp = &h->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	r->gone = true;
	r->wsi = NULL;
	pthread_cond_broadcast(&r->cv);
	req_unref_locked(r);
	pthread_mutex_unlock(&h->lock);
}

/* Ends the request on this connection: 0 keeps the connection, -1 closes it. */
static int
finish(struct lws *wsi, struct cd_req *r)
{
	struct cd_http *h = r->h;
	bool close_after = r->close_after;
	req_detach(h, r);
	lws_set_opaque_user_data(wsi, NULL);
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

#define WRITE_CHUNK (32 * 1024)

static int
on_writable(struct lws *wsi, struct cd_req *r)
{
	struct cd_http *h = r->h;
	static _Thread_local uint8_t buf[LWS_PRE + 16 + WRITE_CHUNK + 16];
	pthread_mutex_lock(&h->lock);
	if (!r->answered) {
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	bool headonly = r->method == CD_HEAD || r->no_body;
	size_t n = r->out.len < WRITE_CHUNK ? r->out.len : WRITE_CHUNK;
	if (headonly)
		n = 0;
	uint8_t *data = buf + LWS_PRE + 16;
	if (n > 0)
		memcpy(data, r->out.data + r->out.off, n);
	r->out.off += n;
	r->out.len -= n;
	if (headonly) {
		r->out.off += r->out.len;
		r->out.len = 0;
	}
	bool done = r->done && r->out.len == 0;
	bool ok = r->ok, streaming = r->streaming;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&h->lock);
	if (!r->head_sent) {
		r->head_sent = true;
		if (write_head(wsi, r, streaming) < 0)
			return -1;
		if (headonly)
			return finish(wsi, r);
	}
	lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, CD_HTTP_STALL_TIMEOUT_S);
	if (streaming) {
		if (n > 0) {
			char hdr[16];
			int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
			if (hl < 0 || (size_t)hl >= sizeof(hdr))
				return -1;
			memcpy(data - hl, hdr, (size_t)hl);
			memcpy(data + n, "\r\n", 2);
			if (lws_write(wsi, data - hl, n + (size_t)hl + 2, LWS_WRITE_HTTP) < 0)
				return -1;
		}
		if (done) {
			if (!ok)
				return -1; /* no final chunk: the client sees the body is incomplete */
			memcpy(data, "0\r\n\r\n", 5);
			if (lws_write(wsi, data, 5, LWS_WRITE_HTTP_FINAL) < 0)
				return -1;
			return finish(wsi, r);
		}
	} else if (n > 0 || done) {
		if (lws_write(wsi, data, n, done ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
			return -1;
		if (done)
			return finish(wsi, r);
	}
	pthread_mutex_lock(&h->lock);
	bool more = r->out.len > 0 || r->done;
	pthread_mutex_unlock(&h->lock);
	if (more)
		lws_callback_on_writable(wsi);
	return 0;
}

static struct cd_req *
req_new(struct cd_http *h, struct lws *wsi, enum cd_method m)
{
	struct cd_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->kind = OBJ_REQ;
	r->h = h;
	r->wsi = wsi;
	r->method = m;
	r->refs = 1;
	pthread_cond_init(&r->cv, NULL);
	lws_get_peer_simple(wsi, r->source, sizeof(r->source));
	return r;
}

/* Registers r on the service side (one reference) and hands it to a worker
 * (a second), or answers 503 when the queue is full. */
static void
dispatch(struct cd_http *h, struct cd_req *r)
{
	pthread_mutex_lock(&h->lock);
	r->dispatched = true;
	r->next = h->reqs;
	h->reqs = r;
	if (h->queued >= CD_HTTP_QUEUE_MAX || h->stopping) {
		pthread_mutex_unlock(&h->lock);
		cd_reply_header(r, "Retry-After", "1");
		cd_reply_error(r, 503, "busy", "the server has %d requests waiting; try again",
		               CD_HTTP_QUEUE_MAX);
		return;
	}
	r->refs++;
	if (h->queue_tail)
		h->queue_tail->qnext = r;
	else
		h->queue = r;
	h->queue_tail = r;
	h->queued++;
	pthread_cond_signal(&h->work);
	pthread_mutex_unlock(&h->lock);
}

/* An answer given by the service thread itself (before a worker). */
static void
refuse(struct cd_http *h, struct cd_req *r, int status, const char *code, const char *msg)
{
	r->close_after = true;
	pthread_mutex_lock(&h->lock);
	r->dispatched = true;
	r->next = h->reqs;
	h->reqs = r;
	pthread_mutex_unlock(&h->lock);
	cd_reply_error(r, status, code, "%s", msg);
}

static int
copy_header(struct lws *wsi, enum lws_token_indexes t, char *buf, size_t len)
{
	int n = lws_hdr_total_length(wsi, t);
	if (n <= 0) {
		buf[0] = '\0';
		return 0;
	}
	if ((size_t)n >= len)
		return -1;
	return lws_hdr_copy(wsi, buf, (int)len, t) < 0 ? -1 : n;
}

/* The query string: lws keeps each '&'-separated argument as a fragment
 * (percent-decoded); they are joined again with '&'. -1: longer than the
 * limits; -2: a decoded fragment holds '&' itself (it would read as two). */
static int
copy_query(struct lws *wsi, char *buf, size_t len)
{
	int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	buf[0] = '\0';
	if (total <= 0)
		return 0;
	if ((size_t)total > CD_HTTP_QUERY_MAX || (size_t)total + 2 >= len)
		return -1;
	size_t o = 0;
	int got = 0;
	for (int i = 0; got < total; i++) {
		if (i == CD_HTTP_PARAMS_MAX)
			return -1; /* more parameters than any endpoint takes: refused, not cut */
		size_t at = o;
		if (o > 0)
			buf[o++] = '&';
		int n = lws_hdr_copy_fragment(wsi, buf + o, (int)(len - o), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0 && i > 0) { /* no more fragments (the total counts separators) */
			o = at;
			break;
		}
		if (n < 0)
			return -1;
		/* The fragments are joined with '&' for cd_query_param and the
		 * signed-URL check: a decoded "%26" would split a value in two */
		if (memchr(buf + o, '&', (size_t)n) != NULL)
			return -2;
		o += (size_t)n;
		got += n;
		if (o + 2 >= len)
			return -1;
	}
	buf[o] = '\0';
	return 0;
}

static int
on_http(struct cd_http *h, struct lws *wsi, const char *uri)
{
	static const struct {
		enum lws_token_indexes t;
		enum cd_method m;
	} methods[] = {
		{WSI_TOKEN_GET_URI, CD_GET},       {WSI_TOKEN_POST_URI, CD_POST},
		{WSI_TOKEN_PUT_URI, CD_PUT},       {WSI_TOKEN_PATCH_URI, CD_PATCH},
		{WSI_TOKEN_DELETE_URI, CD_DELETE}, {WSI_TOKEN_HEAD_URI, CD_HEAD},
		{WSI_TOKEN_OPTIONS_URI, CD_OPTIONS},
	};
	enum cd_method m = CD_METHOD_OTHER;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (lws_hdr_total_length(wsi, methods[i].t) > 0) {
			m = methods[i].m;
			break;
		}
	struct cd_req *r = req_new(h, wsi, m);
	if (r == NULL)
		return -1;
	lws_set_opaque_user_data(wsi, r);
	if (strlen(uri) > CD_HTTP_PATH_MAX) {
		refuse(h, r, 414, "too_long", "the path is longer than 1024 bytes");
		return 0;
	}
	memcpy(r->path, uri, strlen(uri) + 1);     /* it fits: checked above */
	if (m == CD_METHOD_OTHER) {
		refuse(h, r, 405, "method", "this method is not supported");
		return 0;
	}
	int q = copy_query(wsi, r->query, sizeof(r->query));
	if (q == -2) {
		refuse(h, r, 400, "invalid", "a query parameter may not contain '&' (%26): no "
		       "parameter of this API takes one");
		return 0;
	}
	if (q < 0) {
		refuse(h, r, 414, "too_long", "the query string is longer than 1024 bytes");
		return 0;
	}
	if (copy_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, r->auth, sizeof(r->auth)) < 0) {
		refuse(h, r, 431, "too_long", "the Authorization header is too long");
		return 0;
	}
	if (copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, r->ctype_in, sizeof(r->ctype_in)) < 0) {
		refuse(h, r, 431, "too_long", "the Content-Type header is too long");
		return 0;
	}
	if (copy_header(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH, r->if_none_match,
	                sizeof(r->if_none_match)) < 0) {
		refuse(h, r, 431, "too_long", "the If-None-Match header is too long");
		return 0;
	}
	char cl[32];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		refuse(h, r, 411, "length_required",
		       "a request body must be sent with a Content-Length, not chunked");
		return 0;
	}
	if (copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl)) < 0) {
		refuse(h, r, 400, "bad_request", "the Content-Length is not a number");
		return 0;
	}
	if (cl[0] != '\0') {
		uint64_t v;
		if (cl[0] < '0' || cl[0] > '9' ||
		    cu_parse_u64(cl, UINT64_MAX / 2, "Content-Length", &v) < 0) {
			refuse(h, r, 400, "bad_request", "the Content-Length is not a number");
			return 0;
		}
		if (v > CD_HTTP_BODY_MAX) {
			refuse(h, r, 413, "too_large", "the request body is larger than 64 KiB");
			return 0;
		}
		r->body_expect = (size_t)v;
	}
	if (r->body_expect > 0) {
		r->body = malloc(r->body_expect);
		if (r->body == NULL) {
			refuse(h, r, 503, "busy", "out of memory");
			return 0;
		}
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, CD_HTTP_BODY_TIMEOUT_S);
		return 0; /* the body follows */
	}
	dispatch(h, r);
	return 0;
}

static void ws_destroy(struct cd_http *h, struct cd_ws *ws);

#define CD_WS_ORIGIN_MAX 300             /* bytes of an Origin or Host header we compare */

static int
ws_filter(struct cd_http *h, struct lws *wsi)
{
	char path[CD_HTTP_PATH_MAX + 1], query[CD_HTTP_QUERY_MAX + 65], source[64];
	char origin[CD_WS_ORIGIN_MAX + 1], host[CD_WS_ORIGIN_MAX + 1];
	int on;
	if (copy_header(wsi, WSI_TOKEN_GET_URI, path, sizeof(path)) <= 0 ||
	    copy_query(wsi, query, sizeof(query)) < 0 ||
	    (on = copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin))) < 0 ||
	    copy_header(wsi, WSI_TOKEN_HOST, host, sizeof(host)) < 0)
		return -1; /* too long to be anyone's own origin */
	lws_get_peer_simple(wsi, source, sizeof(source));
	struct cd_ws_request q = {.path = path, .query = query, .source = source,
	                          .origin = on > 0 ? origin : NULL, .host = host};
	struct cd_ws *ws = calloc(1, sizeof(*ws));
	if (ws == NULL)
		return -1;
	ws->kind = OBJ_WS;
	ws->h = h;
	ws->wsi = wsi;
	pthread_mutex_lock(&h->lock);
	ws->next = h->wss;
	h->wss = ws;
	pthread_mutex_unlock(&h->lock);
	lws_set_opaque_user_data(wsi, ws);
	ws->session = h->o.ws_open ? h->o.ws_open(ws, &q, h->o.ctx) : NULL;
	if (ws->session != NULL)
		return 0;
	lws_set_opaque_user_data(wsi, NULL);
	ws_destroy(h, ws); /* no session: nothing to tell the handler */
	return -1;
}

static void
ws_destroy(struct cd_http *h, struct cd_ws *ws)
{
	if (ws->session != NULL && h->o.ws_closed)
		h->o.ws_closed(ws->session, h->o.ctx);
	pthread_mutex_lock(&h->lock);
	for (struct cd_ws **pp = &h->wss; *pp; pp = &(*pp)->next)
		if (*pp == ws) {
			*pp = ws->next;
			break;
		}
	while (ws->head) {
		struct wsmsg *m = ws->head;
		ws->head = m->next;
		free(m);
	}
	pthread_mutex_unlock(&h->lock);
	free(ws);
}

static int
ws_writable(struct cd_http *h, struct lws *wsi, struct cd_ws *ws)
{
	pthread_mutex_lock(&h->lock);
	struct wsmsg *m = ws->head;
	if (m != NULL) {
		ws->head = m->next;
		if (ws->head == NULL)
			ws->tail = NULL;
		ws->queued -= m->len;
	}
	bool closing = ws->closing, more = ws->head != NULL;
	char reason[sizeof(ws->reason)];
	memcpy(reason, ws->reason, sizeof(reason));
	pthread_mutex_unlock(&h->lock);
	if (m != NULL) {
		int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_BINARY);
		free(m);
		if (n < 0)
			return -1;
	}
	if (closing && !more) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason,
		                 strlen(reason));
		return -1;
	}
	if (more)
		lws_callback_on_writable(wsi);
	return 0;
}

int
cd_ws_send(struct cd_ws *ws, const void *data, size_t len)
{
	struct cd_http *h = ws->h;
	struct wsmsg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (m == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	m->next = NULL;
	m->len = len;
	memcpy(m->data + LWS_PRE, data, len);
	int ret = 0;
	pthread_mutex_lock(&h->lock);
	if (ws->gone || ws->closing) {
		free(m);
		ret = cu_fail(CU_ERR_IO, "the viewer went away");
	} else if (ws->queued + len > CD_WS_QUEUE_MAX) {
		free(m);
		ws->closing = true;
		cu_fmt_cut(ws->reason, sizeof(ws->reason), "the viewer is too slow for this stream");
		ret = cu_fail(CU_ERR_LIMIT, "the viewer is too slow: over %d bytes queued",
		              CD_WS_QUEUE_MAX);
	} else {
		if (ws->tail)
			ws->tail->next = m;
		else
			ws->head = m;
		ws->tail = m;
		ws->queued += len;
	}
	ws->notify = true;
	pthread_mutex_unlock(&h->lock);
	wake(h);
	return ret;
}

void
cd_ws_close(struct cd_ws *ws, const char *reason)
{
	struct cd_http *h = ws->h;
	pthread_mutex_lock(&h->lock);
	ws->closing = true;
	/* a close reason is a message of at most 123 bytes of UTF-8 (RFC 6455) */
	cu_fmt_cut(ws->reason, sizeof(ws->reason), "%s", reason);
	ws->notify = true;
	pthread_mutex_unlock(&h->lock);
	wake(h);
}

static void
on_cancelled(struct cd_http *h)
{
	pthread_mutex_lock(&h->lock);
	for (struct cd_req *r = h->reqs; r != NULL; r = r->next)
		if (r->notify && r->wsi != NULL) {
			r->notify = false;
			lws_callback_on_writable(r->wsi);
		}
	for (struct cd_ws *ws = h->wss; ws != NULL; ws = ws->next)
		if (ws->notify && ws->wsi != NULL && !ws->gone) {
			ws->notify = false;
			lws_callback_on_writable(ws->wsi);
		}
	pthread_mutex_unlock(&h->lock);
}

/* Does a Sec-WebSocket-Protocol list name ours, as a whole item? */
static bool
names_protocol(const char *list)
{
	size_t n = strlen(CD_WS_PROTOCOL);
	for (const char *p = list; *p != '\0';) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		if (len == n && strncmp(p, CD_WS_PROTOCOL, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* Answers a refused WebSocket upgrade as any other API error (JSON, the
 * security headers) and closes: 1 tells lws the answer was written. */
static int
refuse_upgrade(struct lws *wsi, int status, const char *code, const char *msg)
{
	struct cd_req r = {.status = status, .close_after = true, .ctype = "application/json"};
	uint8_t buf[LWS_PRE + 1024];
	int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
	                 "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code, msg);
	if (n < 0 || (size_t)n >= sizeof(buf) - LWS_PRE)
		return -1;                  /* JSON: closed rather than cut */
	r.content_len = (uint64_t)n;
	if (write_head(wsi, &r, false) < 0)
		return -1;
	if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_FINAL) < 0)
		return -1;
	return 1;
}

/* lws loads only the first certificate of an in-memory PEM: the rest of the
 * chain (intermediate CAs after the leaf) is added here, so that clients
 * that trust only the root can build the path. */
static int
add_chain(SSL_CTX *ctx, const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return -1;
	X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	int r = leaf != NULL ? 0 : -1;
	X509_free(leaf);
	for (int i = 0; r == 0 && i < 8; i++) {
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (x == NULL)
			break;
		if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
			X509_free(x);
			r = -1;
		}
	}
	ERR_clear_error(); /* the end of the PEM text */
	BIO_free(bio);
	return r;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct cd_http *h = ctx ? lws_context_user(ctx) : NULL;
	void *obj = lws_get_opaque_user_data(wsi);
	struct cd_req *r = obj && *(int *)obj == OBJ_REQ ? obj : NULL;
	struct cd_ws *ws = obj && *(int *)obj == OBJ_WS ? obj : NULL;
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* user is the SSL_CTX: pin the protocol floor whatever lws defaults to */
		if (user != NULL) {
			SSL_CTX_set_min_proto_version(user, TLS1_2_VERSION);
			SSL_CTX_set_options(user, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
			if (h != NULL && add_chain(user, h->o.cert_pem, h->o.cert_len) < 0)
				return -1;
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		if (h == NULL || r != NULL)
			return -1;
		return on_http(h, wsi, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_BODY:
		if (r == NULL || r->dispatched)
			return 0;
		if (r->body_len + len > r->body_expect)
			return -1; /* more than announced */
		memcpy(r->body + r->body_len, in, len);
		r->body_len += len;
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (r == NULL || r->dispatched)
			return 0;
		lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
		dispatch(h, r);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (r == NULL || !r->dispatched)
			return 0;
		return on_writable(wsi, r);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		if (r != NULL) {
			lws_set_opaque_user_data(wsi, NULL);
			req_detach(h, r);
		}
		if (ws != NULL && reason == LWS_CALLBACK_WSI_DESTROY) {
			lws_set_opaque_user_data(wsi, NULL);
			pthread_mutex_lock(&h->lock);
			ws->gone = true;
			ws->wsi = NULL;
			pthread_mutex_unlock(&h->lock);
			ws_destroy(h, ws);
		}
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
		/* still HTTP here: a refusal is answered, not just hung up */
		char proto[128];
		if (h == NULL || in == NULL || strcmp(in, "websocket") != 0)
			return -1;
		if (copy_header(wsi, WSI_TOKEN_PROTOCOL, proto, sizeof(proto)) <= 0 ||
		    !names_protocol(proto))
			return refuse_upgrade(wsi, 400, "invalid", "the WebSocket subprotocol must be "
			                      CD_WS_PROTOCOL);
		if (ws_filter(h, wsi) < 0)
			return refuse_upgrade(wsi, 403, "forbidden", "live view refused: the URL must be "
			                      "signed for this user and an existing camera it may "
			                      "watch live (POST /api/v1/media-urls)");
		return 0;
	}
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return ws != NULL ? 0 : -1;
	case LWS_CALLBACK_ESTABLISHED:
		return ws != NULL ? 0 : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws != NULL ? ws_writable(h, wsi, ws) : 0;
	case LWS_CALLBACK_RECEIVE:
		return 0; /* viewers have nothing to say; lws bounds the frame size */
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (h != NULL)
			on_cancelled(h);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{"http", callback, 0, 0, 0, NULL, 0},
	{CD_WS_PROTOCOL, callback, 0, 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *
service_main(void *arg)
{
	struct cd_http *h = arg;
	while (!h->stopping)
		if (lws_service(h->ctx, 0) < 0)
			break;
	return NULL;
}

static void
lws_logger(int level, const char *line)
{
	char msg[512];
	cu_fmt_cut(msg, sizeof(msg), "%s", line);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	cd_log(level == LLL_ERR ? CD_ERR : CD_WARN, "https: %s", msg);
}

int
cd_http_start(const struct cd_http_opts *o, struct cd_http **ret)
{
	struct cd_http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	h->o = *o;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->work, NULL);
	/* lws wants the key NUL-terminated in memory; it is wiped at stop */
	h->key = malloc(o->key_len + 1);
	if (h->key == NULL) {
		free(h);
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	}
	memcpy(h->key, o->key_pem, o->key_len);
	h->key[o->key_len] = '\0';
	h->key_len = o->key_len;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_logger);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = o->port;
	info.iface = o->address;
	info.protocols = protocols;
	info.user = h;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS |
	               LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND |
	               LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME;
	if (o->address != NULL && strchr(o->address, ':') == NULL)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.server_ssl_cert_mem = o->cert_pem;
	info.server_ssl_cert_mem_len = (unsigned)o->cert_len;
	info.server_ssl_private_key_mem = h->key;
	info.server_ssl_private_key_mem_len = (unsigned)h->key_len;
	info.ssl_cipher_list = tls12_ciphers;
	info.tls1_3_plus_cipher_list = tls13_ciphers;
	info.ssl_options_set = (long)(SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
	                              SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION);
	info.alpn = "http/1.1";
	info.keepalive_timeout = CD_HTTP_KEEPALIVE_S;
	info.timeout_secs = 20;
	info.max_http_header_data = CD_HTTP_HEADERS_MAX;
	info.max_http_header_pool = 128;
	info.fd_limit_per_thread = CD_HTTP_CONNECTIONS_MAX;
	info.vhost_name = "custodyd";
	h->ctx = lws_create_context(&info);
	if (h->ctx == NULL) {
		cu_wipe(h->key, h->key_len);
		free(h->key);
		free(h);
		return cu_fail(CU_ERR_IO, "cannot start the HTTPS server on %s port %d (address in "
		               "use, or the certificate or key was refused)",
		               o->address ? o->address : "*", o->port);
	}
	struct lws_vhost *vh = lws_get_vhost_by_name(h->ctx, "custodyd");
	h->port = vh ? lws_get_vhost_listen_port(vh) : o->port;
	for (; h->nworkers < CD_HTTP_WORKERS; h->nworkers++)
		if (pthread_create(&h->workers[h->nworkers], NULL, worker_main, h) != 0)
			break;
	if (h->nworkers == 0 || pthread_create(&h->service, NULL, service_main, h) != 0) {
		h->stopping = true;
		pthread_cond_broadcast(&h->work);
		for (size_t i = 0; i < h->nworkers; i++)
			pthread_join(h->workers[i], NULL);
		lws_context_destroy(h->ctx);
		cu_wipe(h->key, h->key_len);
		free(h->key);
		free(h);
		return cu_fail(CU_ERR_NOMEM, "cannot start the HTTPS server's threads");
	}
	*ret = h;
	return 0;
}

int
cd_http_port(const struct cd_http *h)
{
	return h->port;
}

void
cd_http_stop(struct cd_http *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	for (struct cd_req *r = h->reqs; r != NULL; r = r->next)
		pthread_cond_broadcast(&r->cv);
	pthread_cond_broadcast(&h->work);
	pthread_mutex_unlock(&h->lock);
	lws_cancel_service(h->ctx);
	pthread_join(h->service, NULL);
	for (size_t i = 0; i < h->nworkers; i++)
		pthread_join(h->workers[i], NULL);
	lws_context_destroy(h->ctx); /* closes every connection: WSI_DESTROY frees the rest */
	cu_wipe(h->key, h->key_len);
	free(h->key);
	pthread_cond_destroy(&h->work);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
