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
#include "util/err.h"
#include "util/parse.h"

#define HEAD_MAX 2048           /* the answer's status line and headers */
#define SEND_CHUNK (256 * 1024) /* bytes handed to the kernel at once */

struct conn {
	int fd;                     /* -1: free slot */
	int64_t last_us;            /* monotonic time of the last progress */
	char req[PL_REQUEST_MAX + 1];
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
	char prefix[PL_PREFIX_HEX + 1];
	char host_ip[32], host_name[32];    /* "127.0.0.1:PORT", "localhost:PORT" */
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
	cu_hex(rnd, sizeof(rnd), s->prefix);
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
	snprintf(s->host_ip, sizeof(s->host_ip), "127.0.0.1:%u", (unsigned)s->port);
	snprintf(s->host_name, sizeof(s->host_name), "localhost:%u", (unsigned)s->port);
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
	return s->prefix;
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
	if (res != NULL && res->disposition != NULL)
		snprintf(disp, sizeof(disp), "Content-Disposition: %s\r\n", res->disposition);
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
	if (n < 0 || (size_t)n >= sizeof(c->head)) {
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

/* Parses "bytes=a-b", "bytes=a-" or "bytes=-n" against size. 1 with the
 * range, 0 to ignore the header (several ranges, or not bytes: the whole
 * file is sent, as RFC 9110 allows), -1 unsatisfiable. */
static int
parse_range(const char *v, uint64_t size, uint64_t *ret_from, uint64_t *ret_to)
{
	if (strncmp(v, "bytes=", 6) != 0 || strchr(v, ',') != NULL)
		return 0;
	v += 6;
	const char *dash = strchr(v, '-');
	if (dash == NULL)
		return 0;
	char a[24], b[24];
	size_t la = (size_t)(dash - v), lb = strlen(dash + 1);
	if (la >= sizeof(a) || lb >= sizeof(b))
		return 0;
	memcpy(a, v, la);
	a[la] = '\0';
	memcpy(b, dash + 1, lb + 1);
	uint64_t from, to;
	if (la == 0) {
		/* the last n bytes */
		if (cu_parse_u64(b, UINT64_MAX, "range", &to) < 0) {
			cu_error_clear();
			return 0;
		}
		if (to == 0 || size == 0)
			return -1;
		from = to >= size ? 0 : size - to;
		to = size - 1;
	} else {
		if (cu_parse_u64(a, UINT64_MAX, "range", &from) < 0 ||
		    (lb > 0 && cu_parse_u64(b, UINT64_MAX, "range", &to) < 0)) {
			cu_error_clear();
			return 0;
		}
		if (lb == 0 || to >= size)
			to = size - 1;
		if (from >= size || from > to)
			return -1;
	}
	*ret_from = from;
	*ret_to = to;
	return 1;
}

static void
serve_file(struct conn *c, const struct pl_resource *res, const char *range)
{
	int fd = open(res->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		answer_error(c, 404, "");
		return;
	}
	uint64_t size = (uint64_t)st.st_size, from = 0, to = size ? size - 1 : 0;
	int k = range != NULL ? parse_range(range, size, &from, &to) : 0;
	if (k < 0) {
		close(fd);
		char extra[64];
		snprintf(extra, sizeof(extra), "Content-Range: bytes */%llu\r\n",
		         (unsigned long long)size);
		answer_error(c, 416, extra);
		return;
	}
	c->file = fd;
	c->off = from;
	c->end = size ? to + 1 : 0;
	if (k > 0) {
		char extra[128];
		snprintf(extra, sizeof(extra), "Accept-Ranges: bytes\r\n"
		         "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)from,
		         (unsigned long long)to, (unsigned long long)size);
		answer(c, 206, res, to - from + 1, extra);
	} else {
		answer(c, 200, res, size, "Accept-Ranges: bytes\r\n");
	}
}

/* Case-insensitive header name match at line start; returns the value. */
static const char *
header_value(char *line, const char *name)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	char *v = line + n + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t l = strlen(v);
	while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
		v[--l] = '\0';
	return v;
}

/* The request is whole in c->req (headers end at "\r\n\r\n"): answer it. */
static void
handle(struct pl_server *s, struct conn *c, const struct pl_resource *res, size_t n)
{
	char *end = strstr(c->req, "\r\n\r\n");
	end[2] = '\0';
	char *line = c->req, *next = strstr(line, "\r\n");
	*next = '\0';
	/* request line: METHOD SP TARGET SP VERSION */
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL) {
		answer_error(c, 400, "");
		return;
	}
	*sp1 = *sp2 = '\0';
	const char *method = line, *target = sp1 + 1, *version = sp2 + 1;
	if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0) {
		answer_error(c, 505, "");
		return;
	}
	const char *host = NULL, *range = NULL;
	bool body = false, dup = false;
	for (line = next + 2; *line != '\0'; line = next + 2) {
		next = strstr(line, "\r\n");
		*next = '\0';
		if (strchr(line, ':') == NULL || line[0] == ' ' || line[0] == '\t') {
			answer_error(c, 400, "");
			return;
		}
		const char *v;
		if ((v = header_value(line, "Host")) != NULL) {
			dup |= host != NULL;
			host = v;
		} else if ((v = header_value(line, "Range")) != NULL) {
			dup |= range != NULL;
			range = v;
		} else if ((v = header_value(line, "Content-Length")) != NULL) {
			body |= strcmp(v, "0") != 0;
		} else if (header_value(line, "Transfer-Encoding") != NULL) {
			body = true;
		}
	}
	if (strcmp(method, "GET") != 0) {
		answer_error(c, 405, "Allow: GET\r\n");
		return;
	}
	/* a GET has no body: one announced is never read, so refuse it */
	if (dup || body) {
		answer_error(c, 400, "");
		return;
	}
	/* DNS rebinding: a page elsewhere that gets its name resolved to
	 * 127.0.0.1 sends its own name as Host */
	if (host == NULL || (strcmp(host, s->host_ip) != 0 && strcmp(host, s->host_name) != 0)) {
		answer_error(c, 403, "");
		return;
	}
	/* /<prefix>/<path>: the query (and a fragment, never sent) is ignored */
	size_t tlen = strcspn(target, "?#");
	if (tlen < PL_PREFIX_HEX + 2 || target[0] != '/' ||
	    !cu_ct_equal(target + 1, s->prefix, PL_PREFIX_HEX) || target[PL_PREFIX_HEX + 1] != '/') {
		answer_error(c, 404, "");
		return;
	}
	const char *path = target + PL_PREFIX_HEX + 2;
	size_t plen = tlen - PL_PREFIX_HEX - 2;
	for (size_t i = 0; i < n; i++) {
		if (strlen(res[i].path) != plen || memcmp(res[i].path, path, plen) != 0)
			continue;
		if (res[i].file != NULL) {
			serve_file(c, &res[i], range);
		} else {
			c->mem = res[i].data;
			c->off = 0;
			c->end = res[i].len;
			answer(c, 200, &res[i], res[i].len, "");
		}
		return;
	}
	answer_error(c, 404, "");
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
	c->req[c->rlen] = '\0';
	if (memchr(c->req, '\0', c->rlen) != NULL) {
		answer_error(c, 400, "");
		return;
	}
	if (strstr(c->req, "\r\n\r\n") != NULL)
		handle(s, c, res, n);
	else if (c->rlen == PL_REQUEST_MAX)
		answer_error(c, 431, "");
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
	cu_wipe(s->prefix, sizeof(s->prefix));
	free(s);
}
