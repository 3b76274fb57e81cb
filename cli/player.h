/* custody player's web server (private to cli/): a small HTTP/1.1 server on
 * 127.0.0.1 only, for one local viewer. It answers GET only, only for the
 * resources it was given and only under a secret path prefix
 * (/<32 hex random>/), only for a Host header naming the loopback address
 * (no DNS rebinding), with bounded requests, Range requests for files (so
 * that a browser can seek in an MP4), no caching and strict headers. One
 * thread: poll() over at most PL_CONNECTIONS_MAX connections, each closed
 * after its answer. What a request asks for is decided without I/O by
 * pl_request_parse (player_http.h), which fuzz/fuzz-player-http.c fuzzes. */
#ifndef CU_CLI_PLAYER_H
#define CU_CLI_PLAYER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_REQUEST_MAX 8192                      /* request line and headers */
#define PL_CONNECTIONS_MAX 32                    /* open at once; more wait in the backlog */
#define PL_IDLE_US (30 * INT64_C(1000000))       /* a connection that moves nothing */
#define PL_PREFIX_BYTES 16                       /* random bytes of the path prefix */
#define PL_PREFIX_HEX (2 * PL_PREFIX_BYTES)

/* What the server may answer, under the prefix. */
struct pl_resource {
	const char *path;             /* after "/<prefix>/": "" (the page), "video/0.mp4" */
	const char *content_type;
	const char *disposition;      /* Content-Disposition, or NULL */
	const char *csp;              /* Content-Security-Policy; NULL = "default-src 'none'" */
	const uint8_t *data;          /* in memory (borrowed) ... */
	size_t len;
	const char *file;             /* ... or a file, served with Range support */
};

struct pl_server;

/* Binds 127.0.0.1:port (0: a free port the kernel picks) and makes a new
 * random prefix. On failure prints nothing; returns a negative cu_err with
 * a detail. */
int pl_server_new(uint16_t port, struct pl_server **ret);

uint16_t pl_server_port(const struct pl_server *s);

/* The prefix: PL_PREFIX_HEX lower-case hex digits and a NUL. */
const char *pl_server_prefix(const struct pl_server *s);

/* Serves res[0..n) until *stop is set by a signal handler. The caller has
 * SIGINT and SIGTERM blocked; they are let through only while waiting
 * (ppoll with sigmask), so that a signal is never missed. Returns 0, or a
 * negative cu_err when waiting itself fails. */
int pl_server_run(struct pl_server *s, const struct pl_resource *res, size_t n,
                  volatile sig_atomic_t *stop, const sigset_t *sigmask);

/* Closes every connection and the socket. NULL is fine. */
void pl_server_free(struct pl_server *s);

#endif
