/* custody player's web server (player.h): HTTP/1.1 on 127.0.0.1 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/crypto.h"
#include "custody/time.h"
#include "player.h"
#include "player_http.h"
#include "custody/error.h"
#include "custody/parse.h"

#define HEAD_MAX 2048           /* the answer's status line and headers */
#define SEND_CHUNK (256 * 1024) /* bytes handed to the kernel at once */

struct conn {
	int fd;                     /* -1: free slot */
	int64_t last_us;            /* monotonic time of the last progress */
	char req[PL_REQUEST_MAX];   /* the request so far, not NUL-terminated */
	size_t rlen;
	bool answering;
	char head[HEAD_MAX];
	size_t hlen, hoff;
	const uint8_t *mem;         /* body in memory, or */
	int file;                   /* a file's descriptor, -1 */
	uint64_t off, end;          /* body bytes [off, end) still to send */
};

struct pl_server {
	int fd;
	uint16_t port;
	struct pl_site site;                /* the prefix and the Host values accepted */
	struct conn conns[PL_CONNECTIONS_MAX];
};

int
pl_server_new(uint16_t port, struct pl_server **ret)
{
	struct pl_server *s = calloc(1, sizeof(*s));
	uint8_t rnd[PL_PREFIX_BYTES];
	int r;
	if (s == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < PL_CONNECTIONS_MAX; i++)
		s->conns[i].fd = s->conns[i].file = -1;
	if ((r = cu_random(rnd, sizeof(rnd))) < 0) {
		free(s);
		return r;
	}
	cu_hex(rnd, sizeof(rnd), s->site.prefix);
	cu_wipe(rnd, sizeof(rnd));
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		r = cu_fail_errno(errno, "socket");
		free(s);
		return r;
	}
	/* loopback only: never INADDR_ANY */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = cu_fail_errno(errno, "127.0.0.1 port %u", (unsigned)port);
		goto fail;
	}
	if (listen(s->fd, 16) < 0 || getsockname(s->fd, (struct sockaddr *)&sa, &sl) < 0) {
		r = cu_fail_errno(errno, "listen on 127.0.0.1");
		goto fail;
	}
	s->port = ntohs(sa.sin_port);
	if ((r = pl_site_hosts(&s->site, s->port)) < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	close(s->fd);
	free(s);
	return r;
}

uint16_t
pl_server_port(const struct pl_server *s)
{
	return s->port;
}

const char *
pl_server_prefix(const struct pl_server *s)
{
	return s->site.prefix;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->file >= 0)
		close(c->file);
	c->fd = c->file = -1;
	c->rlen = c->hlen = c->hoff = 0;
	c->answering = false;
	c->mem = NULL;
	c->off = c->end = 0;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* Starts an answer. extra: more header lines (each ending "\r\n"), or "". */
static void
answer(struct conn *c, int status, const struct pl_resource *res, uint64_t length,
       const char *extra)
{
	const char *ctype = res ? res->content_type : "text/plain; charset=utf-8";
	const char *csp = res && res->csp ? res->csp : "default-src 'none'; frame-ancestors 'none'";
	char disp[256] = "";
	int k = 0;
	if (res != NULL && res->disposition != NULL)
		k = snprintf(disp, sizeof(disp), "Content-Disposition: %s\r\n", res->disposition);
	int n = snprintf(c->head, sizeof(c->head),
	                 "HTTP/1.1 %d %s\r\n"
	                 "Content-Type: %s\r\n"
	                 "Content-Length: %llu\r\n"
	                 "%s%s"
	                 "Cache-Control: no-store\r\n"
	                 "X-Content-Type-Options: nosniff\r\n"
	                 "Referrer-Policy: no-referrer\r\n"
	                 "X-Frame-Options: DENY\r\n"
	                 "Cross-Origin-Resource-Policy: same-origin\r\n"
	                 "Cross-Origin-Opener-Policy: same-origin\r\n"
	                 "Content-Security-Policy: %s\r\n"
	                 "Connection: close\r\n\r\n",
	                 status, status_text(status), ctype, (unsigned long long)length, disp, extra,
	                 csp);
	if (k < 0 || (size_t)k >= sizeof(disp) || n < 0 || (size_t)n >= sizeof(c->head)) {
		/* cannot happen with the fixed texts above; close rather than cut */
		n = snprintf(c->head, sizeof(c->head), "HTTP/1.1 500 Internal Server Error\r\n"
		             "Content-Length: 0\r\nConnection: close\r\n\r\n");
		c->mem = NULL;
		c->off = c->end = 0;
	}
	c->hlen = (size_t)n;
	c->hoff = 0;
	c->answering = true;
}

static void
answer_error(struct conn *c, int status, const char *extra)
{
	static const char body[] = "refused\n";
	c->mem = (const uint8_t *)body;
	c->off = 0;
	c->end = sizeof(body) - 1;
	answer(c, status, NULL, c->end, extra);
}

static void
serve_file(struct conn *c, const struct pl_resource *res, const struct pl_range *range)
{
	int fd = open(res->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		answer_error(c, 404, "");
		return;
	}
	uint64_t size = (uint64_t)st.st_size, first = 0, last = 0;
	int status = pl_range_resolve(range, size, &first, &last);
	if (status == 416) {
		close(fd);
		char extra[64];
		int k = snprintf(extra, sizeof(extra), "Content-Range: bytes */%llu\r\n",
		                 (unsigned long long)size);
		/* a header: answered 500 rather than cut (the numbers fit) */
		answer_error(c, k < 0 || (size_t)k >= sizeof(extra) ? 500 : 416,
		             k < 0 || (size_t)k >= sizeof(extra) ? "" : extra);
		return;
	}
	c->file = fd;
	if (status == 206) {
		c->off = first;
		c->end = last + 1;
		char extra[128];
		int k = snprintf(extra, sizeof(extra), "Accept-Ranges: bytes\r\n"
		                 "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)first,
		                 (unsigned long long)last, (unsigned long long)size);
		if (k < 0 || (size_t)k >= sizeof(extra)) { /* a header: 500 rather than cut */
			close(fd);
			c->file = -1;
			answer_error(c, 500, "");
			return;
		}
		answer(c, 206, res, last - first + 1, extra);
	} else {
		c->off = 0;
		c->end = size;
		answer(c, 200, res, size, "Accept-Ranges: bytes\r\n");
	}
}

/* Answers what pl_request_parse made of the request (status, rq). */
static void
handle(struct conn *c, int status, const struct pl_request *rq)
{
	if (status != 200) {
		answer_error(c, status, status == 405 ? "Allow: GET\r\n" : "");
		return;
	}
	if (rq->res->file != NULL) {
		serve_file(c, rq->res, &rq->range);
	} else {
		c->mem = rq->res->data;
		c->off = 0;
		c->end = rq->res->len;
		answer(c, 200, rq->res, rq->res->len, "");
	}
}

static void
on_readable(struct pl_server *s, struct conn *c, const struct pl_resource *res, size_t n)
{
	ssize_t got = read(c->fd, c->req + c->rlen, PL_REQUEST_MAX - c->rlen);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0) {
		conn_close(c);
		return;
	}
	c->last_us = cu_time_mono_us();
	c->rlen += (size_t)got;
	/* the whole request so far each time: a blank line or a NUL may have
	 * come in any read */
	struct pl_request rq;
	int status = pl_request_parse(&s->site, c->req, c->rlen, res, n, &rq);
	if (status != 0)
		handle(c, status, &rq);
}

static void
on_writable(struct conn *c)
{
	c->last_us = cu_time_mono_us();
	if (c->hoff < c->hlen) {
		ssize_t w = send(c->fd, c->head + c->hoff, c->hlen - c->hoff, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w <= 0) {
			conn_close(c);
			return;
		}
		c->hoff += (size_t)w;
		if (c->hoff < c->hlen)
			return;
	}
	if (c->off < c->end) {
		size_t want = c->end - c->off > SEND_CHUNK ? SEND_CHUNK : (size_t)(c->end - c->off);
		ssize_t w;
		if (c->file >= 0) {
			off_t o = (off_t)c->off;
			w = sendfile(c->fd, c->file, &o, want);
		} else {
			w = send(c->fd, c->mem + c->off, want, MSG_NOSIGNAL);
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w <= 0) {
			conn_close(c);
			return;
		}
		c->off += (uint64_t)w;
		if (c->off < c->end)
			return;
	}
	/* all sent: close (the client reads to the end, then sees EOF) */
	shutdown(c->fd, SHUT_WR);
	conn_close(c);
}

static void
on_accept(struct pl_server *s)
{
	for (;;) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(s->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		/* bound to 127.0.0.1, so the peer is local; checked all the same */
		if (peer.sin_family != AF_INET || (ntohl(peer.sin_addr.s_addr) >> 24) != 127) {
			close(fd);
			continue;
		}
		struct conn *c = NULL;
		for (size_t i = 0; i < PL_CONNECTIONS_MAX && c == NULL; i++)
			if (s->conns[i].fd < 0)
				c = &s->conns[i];
		if (c == NULL) {
			/* full: the oldest idle one makes room for the newcomer */
			struct conn *old = &s->conns[0];
			for (size_t i = 1; i < PL_CONNECTIONS_MAX; i++)
				if (s->conns[i].last_us < old->last_us)
					old = &s->conns[i];
			conn_close(old);
			c = old;
		}
		c->fd = fd;
		c->last_us = cu_time_mono_us();
	}
}

int
pl_server_run(struct pl_server *s, const struct pl_resource *res, size_t n,
              volatile sig_atomic_t *stop, const sigset_t *sigmask)
{
	struct pollfd pfd[PL_CONNECTIONS_MAX + 1];
	struct conn *who[PL_CONNECTIONS_MAX + 1];
	while (!*stop) {
		size_t np = 0;
		pfd[np++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
		who[0] = NULL;
		int64_t now = cu_time_mono_us();
		for (size_t i = 0; i < PL_CONNECTIONS_MAX; i++) {
			struct conn *c = &s->conns[i];
			if (c->fd < 0)
				continue;
			if (now - c->last_us > PL_IDLE_US) {
				conn_close(c);
				continue;
			}
			who[np] = c;
			pfd[np++] = (struct pollfd){.fd = c->fd,
			                            .events = c->answering ? POLLOUT : POLLIN};
		}
		struct timespec ts = {.tv_sec = 1};
		int k = ppoll(pfd, np, &ts, sigmask);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return cu_fail_errno(errno, "poll");
		}
		for (size_t i = 1; i < np; i++) {
			struct conn *c = who[i];
			if (pfd[i].revents & (POLLERR | POLLNVAL)) {
				conn_close(c);
			} else if (c->answering && (pfd[i].revents & (POLLOUT | POLLHUP))) {
				on_writable(c);
			} else if (!c->answering && (pfd[i].revents & (POLLIN | POLLHUP))) {
				on_readable(s, c, res, n);
				if (c->fd >= 0 && c->answering)
					on_writable(c);
			}
		}
		if (pfd[0].revents & POLLIN)
			on_accept(s);
	}
	return 0;
}

void
pl_server_free(struct pl_server *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < PL_CONNECTIONS_MAX; i++)
		conn_close(&s->conns[i]);
	close(s->fd);
	cu_wipe(s->site.prefix, sizeof(s->site.prefix));
	free(s);
}
