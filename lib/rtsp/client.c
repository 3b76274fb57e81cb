/* The RTSP/RTSPS client: one blocking connection per camera, with poll()
 * deadlines on every read, RTP interleaved over the RTSP connection (RFC
 * 2326 §10.12), TLS verified against a CA bundle or a pinned fingerprint, and
 * Basic/Digest authentication. The parsers it uses are in proto.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "custody/rtsp.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "crypto/ossl.h"
#include "rtsp/proto.h"
#include "util/base64.h"
#include "custody/buf.h"
#include "custody/error.h"
#include "custody/parse.h"

#define RBUF_MAX (CU_RTSP_HEAD_MAX + CU_RTSP_BODY_MAX + 4096)
#define REQ_MAX 8192
#define SESSION_MAX 128
#define AUTH_PARAM_MAX 256
#define CAMERA_CLOCK_SLACK_US (5 * INT64_C(1000000))
#define ANCHOR_DRIFT_US (2 * INT64_C(1000000))
#define USER_AGENT "custody/0.1"
#define RCVLOWAT 16384

enum auth_kind { AUTH_NONE, AUTH_BASIC, AUTH_DIGEST };

struct track {
	bool used;
	int ch;                           /* interleaved RTP channel; RTCP is ch + 1 */
	int codec;
	uint8_t track;                    /* CU_TRACK_* */
	uint32_t clock;
	cu_depay *depay;
	bool have_ext;
	uint64_t ext;                     /* last RTP time, unwrapped to 64 bits */
	bool have_anchor;
	uint64_t anchor_ext;
	int64_t anchor_us;
	bool have_sr;
	uint64_t sr_ext;
	int64_t sr_us;
	int64_t last_ts;
	uint32_t last_dur;
};

struct cu_rtsp {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	bool tls;
	int timeout_ms;
	uint8_t rbuf[RBUF_MAX];
	size_t rpos, rlen;                /* unread bytes are rbuf[rpos..rlen) */
	struct cu_rtsp_response resp;     /* large: kept here, not on the stack */
	char url[CU_RTSP_URL_MAX];        /* the request URL (after any redirect) */
	char base[CU_RTSP_URL_MAX];       /* for resolving a=control */
	char host[256];
	uint16_t port;
	int cseq;
	char session[SESSION_MAX + 1];
	int session_timeout_s;
	bool get_parameter;               /* the server lists GET_PARAMETER */
	int64_t next_keepalive;
	/* authentication */
	char user[CU_RTSP_CRED_MAX + 1], password[CU_RTSP_CRED_MAX + 1];
	enum auth_kind auth;
	char realm[AUTH_PARAM_MAX], nonce[AUTH_PARAM_MAX], opaque[AUTH_PARAM_MAX];
	bool qop_auth;
	unsigned nc;
	bool allow_basic_plain;
	struct track tracks[2];
	const uint8_t *pkt;               /* the last packet, in rbuf, valid until the next read */
	size_t pkt_len;
	int pkt_ch;
	struct cu_rtsp_stats stats;
};

/* ---- URLs ---- */

int
cu_rtsp_url_parse(const char *url, bool *ret_tls, char *host, size_t host_len, uint16_t *ret_port,
                  char *path, size_t path_len)
{
	if (url == NULL || strnlen(url, CU_RTSP_URL_MAX) >= CU_RTSP_URL_MAX)
		return cu_fail(CU_ERR_INVAL, "camera URL missing or longer than %d bytes",
		               CU_RTSP_URL_MAX - 1);
	bool tls;
	const char *p;
	if (strncasecmp(url, "rtsp://", 7) == 0) {
		tls = false;
		p = url + 7;
	} else if (strncasecmp(url, "rtsps://", 8) == 0) {
		tls = true;
		p = url + 8;
	} else {
		return cu_fail(CU_ERR_INVAL, "camera URL \"%s\" must start with rtsp:// or rtsps://", url);
	}
	for (const char *q = url; *q; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return cu_fail(CU_ERR_INVAL, "camera URL contains a space or control character");
	const char *end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return cu_fail(CU_ERR_INVAL, "camera URL \"%s\" carries credentials: put them in the "
		               "camera's credentials file instead", url);
	const char *hs = p, *he, *colon = NULL;
	if (*p == '[') {
		hs = p + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (he == NULL)
			return cu_fail(CU_ERR_INVAL, "camera URL: unclosed [ in the host");
		if (he + 1 < end) {
			if (he[1] != ':')
				return cu_fail(CU_ERR_INVAL, "camera URL: junk after ]");
			colon = he + 1;
		}
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		he = colon ? colon : end;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl >= host_len)
		return cu_fail(CU_ERR_INVAL, "camera URL: missing or too long host");
	memcpy(host, hs, hl);
	host[hl] = '\0';
	uint64_t port = tls ? 322 : 554;
	if (colon != NULL) {
		char digits[8];
		size_t dl = (size_t)(end - colon - 1);
		if (dl == 0 || dl >= sizeof(digits))
			return cu_fail(CU_ERR_INVAL, "camera URL: bad port");
		memcpy(digits, colon + 1, dl);
		digits[dl] = '\0';
		if (cu_parse_u64(digits, 65535, "camera URL port", &port) < 0 || port == 0)
			return cu_fail(CU_ERR_INVAL, "camera URL: port must be 1..65535");
	}
	if (strlen(end) + 1 > path_len)
		return cu_fail(CU_ERR_LIMIT, "camera URL path too long");
	memcpy(path, end, strlen(end) + 1);
	*ret_tls = tls;
	*ret_port = (uint16_t)port;
	return 0;
}

/* ---- the connection ---- */

static int
tcp_connect(cu_rtsp *c)
{
	char port[8];
	int k = snprintf(port, sizeof(port), "%u", c->port);
	if (k < 0 || (size_t)k >= sizeof(port))
		return cu_fail(CU_ERR_LIMIT, "camera %s: port %u too long", c->host, c->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *ai = NULL;
	int g = getaddrinfo(c->host, port, &hints, &ai);
	if (g != 0)
		return cu_fail(CU_ERR_IO, "camera %s: cannot resolve: %s", c->host, gai_strerror(g));
	int r = cu_fail(CU_ERR_IO, "camera %s:%s: no address", c->host, port);
	for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		                a->ai_protocol);
		if (fd < 0)
			continue;
		int rc = connect(fd, a->ai_addr, a->ai_addrlen);
		if (rc < 0 && errno == EINPROGRESS) {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};
			int err = 0;
			socklen_t el = sizeof(err);
			rc = poll(&pf, 1, c->timeout_ms);
			if (rc == 0) {
				errno = ETIMEDOUT;
				rc = -1;
			} else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err) {
				errno = err;
				rc = -1;
			} else if (rc > 0) {
				rc = 0;
			}
		}
		if (rc < 0) {
			r = cu_fail_errno(errno, "camera %s:%s: connect", c->host, port);
			close(fd);
			continue;
		}
		int flags = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c->fd = fd;
		r = 0;
		break;
	}
	freeaddrinfo(ai);
	return r;
}

static bool
is_ip_literal(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

static int
tls_start(cu_rtsp *c, const struct cu_rtsp_opts *o)
{
	if (o->ca_file == NULL && o->pin == NULL)
		return cu_fail(CU_ERR_INVAL, "rtsps:// needs a CA file or a pinned certificate "
		               "fingerprint to trust the camera");
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL)
		return cu_ossl_fail(CU_ERR_CRYPTO, "TLS context");
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	if (o->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL) != 1)
			return cu_ossl_fail(CU_ERR_INVAL, "CA file cannot be loaded");
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	} else {
		/* pin only: the chain is not judged, the exact certificate is */
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	}
	c->ssl = SSL_new(c->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return cu_ossl_fail(CU_ERR_CRYPTO, "TLS session");
	if (o->ca_file != NULL) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		int ok = is_ip_literal(c->host) ? X509_VERIFY_PARAM_set1_ip_asc(vp, c->host)
		                                : X509_VERIFY_PARAM_set1_host(vp, c->host, 0);
		if (ok != 1)
			return cu_ossl_fail(CU_ERR_CRYPTO, "TLS host check");
	}
	if (!is_ip_literal(c->host))
		SSL_set_tlsext_host_name(c->ssl, c->host);
	struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (SSL_connect(c->ssl) != 1) {
		long vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK)
			return cu_fail(CU_ERR_AUTH, "camera %s: TLS certificate refused: %s", c->host,
			               X509_verify_cert_error_string(vr));
		return cu_ossl_fail(CU_ERR_IO, "TLS handshake with the camera failed");
	}
	struct timeval none = {0, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	X509 *peer = SSL_get1_peer_certificate(c->ssl);
	if (peer == NULL)
		return cu_fail(CU_ERR_AUTH, "camera %s: presented no TLS certificate", c->host);
	uint8_t fp[CU_SHA256_LEN];
	unsigned int fl = 0;
	int ok = X509_digest(peer, EVP_sha256(), fp, &fl);
	X509_free(peer);
	if (ok != 1 || fl != CU_SHA256_LEN)
		return cu_ossl_fail(CU_ERR_CRYPTO, "certificate fingerprint");
	cu_x509_fingerprint_hex(fp, c->stats.peer_fingerprint, sizeof(c->stats.peer_fingerprint));
	if (o->ca_file != NULL && SSL_get_verify_result(c->ssl) != X509_V_OK)
		return cu_fail(CU_ERR_AUTH, "camera %s: TLS certificate does not verify", c->host);
	if (o->pin != NULL && !cu_ct_equal(fp, o->pin, CU_SHA256_LEN))
		return cu_fail(CU_ERR_AUTH, "camera %s: TLS certificate %s does not match the pinned "
		               "fingerprint", c->host, c->stats.peer_fingerprint);
	c->tls = true;
	return 0;
}

static int
conn_write(cu_rtsp *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n;
		if (c->ssl != NULL) {
			int w = SSL_write(c->ssl, p, (int)(len > INT32_MAX ? INT32_MAX : len));
			n = w > 0 ? w : -1;
			if (n < 0)
				return cu_ossl_fail(CU_ERR_IO, "writing to the camera");
		} else {
			n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return cu_fail_errno(errno, "writing to camera %s", c->host);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads more bytes into rbuf before the deadline. 1 read, 0 timeout, <0 error. */
static int
conn_fill(cu_rtsp *c, int64_t deadline)
{
	if (c->rpos > 0) {
		/* one move per read, not one per packet */
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == RBUF_MAX)
		return cu_fail(CU_ERR_LIMIT, "camera %s: message larger than %d bytes", c->host,
		               RBUF_MAX);
	for (;;) {
		bool ready = c->ssl != NULL && SSL_pending(c->ssl) > 0;
		if (!ready) {
			int64_t left = deadline - cu_time_mono_us();
			if (left <= 0)
				return 0;
			struct pollfd pf = {.fd = c->fd, .events = POLLIN};
			int pr = poll(&pf, 1, (int)((left + 999) / 1000));
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr < 0)
				return cu_fail_errno(errno, "poll");
			if (pr == 0)
				return 0;
		}
		ssize_t n;
		if (c->ssl != NULL) {
			int rd = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(RBUF_MAX - c->rlen));
			if (rd <= 0) {
				int e = SSL_get_error(c->ssl, rd);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					continue;
				if (e == SSL_ERROR_ZERO_RETURN)
					return cu_fail(CU_ERR_IO, "camera %s closed the connection", c->host);
				return cu_ossl_fail(CU_ERR_IO, "reading from the camera");
			}
			n = rd;
		} else {
			n = recv(c->fd, c->rbuf + c->rlen, RBUF_MAX - c->rlen, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return cu_fail_errno(errno, "reading from camera %s", c->host);
			if (n == 0)
				return cu_fail(CU_ERR_IO, "camera %s closed the connection", c->host);
		}
		c->rlen += (size_t)n;
		return 1;
	}
}

static void
consume(cu_rtsp *c, size_t n)
{
	c->rpos += n;
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
}

enum { ITEM_NONE, ITEM_PACKET, ITEM_RESPONSE };

/* Reads the next interleaved packet (into c->pkt) or RTSP response (into
 * c->resp). Returns ITEM_*, ITEM_NONE on timeout, or a negative cu_err. */
static int
read_item(cu_rtsp *c, int64_t deadline)
{
	for (;;) {
		const uint8_t *b = c->rbuf + c->rpos;
		size_t avail = c->rlen - c->rpos;
		if (avail >= 1 && b[0] == '$') {
			if (avail >= 4) {
				size_t len = (size_t)b[2] << 8 | b[3];
				if (avail >= 4 + len) {
					c->pkt = b + 4;
					c->pkt_len = len;
					c->pkt_ch = b[1];
					consume(c, 4 + len);
					return ITEM_PACKET;
				}
			}
		} else if (avail >= 5) {
			if (memcmp(b, "RTSP/", 5) != 0)
				return cu_fail(CU_ERR_FORMAT, "camera %s sent something that is neither an "
				               "RTSP response nor interleaved data", c->host);
			int n = cu_rtsp_parse_response(b, avail, &c->resp);
			if (n < 0)
				return cu_fail_prefix(n, "camera %s", c->host);
			if (n > 0) {
				consume(c, (size_t)n);
				return ITEM_RESPONSE;
			}
		}
		int r = conn_fill(c, deadline);
		if (r <= 0)
			return r;
	}
}

/* ---- authentication ---- */


/* Reads name=value / name="value" pairs of a challenge. */
static void
challenge_param(const char *ch, const char *name, char *out, size_t len)
{
	out[0] = '\0';
	size_t nl = strlen(name);
	const char *p = ch;
	while ((p = strcasestr(p, name)) != NULL) {
		bool start = p == ch || p[-1] == ' ' || p[-1] == ',';
		const char *q = p + nl;
		while (*q == ' ')
			q++;
		if (!start || *q != '=') {
			p += nl;
			continue;
		}
		q++;
		while (*q == ' ')
			q++;
		size_t vl;
		if (*q == '"') {
			q++;
			const char *e = strchr(q, '"');
			vl = e ? (size_t)(e - q) : strlen(q);
		} else {
			vl = strcspn(q, ", ");
		}
		if (vl < len) {
			memcpy(out, q, vl);
			out[vl] = '\0';
		}
		return;
	}
}

static int
take_challenge(cu_rtsp *c)
{
	const char *digest = NULL, *basic = NULL;
	for (size_t i = 0; i < c->resp.nheaders; i++) {
		if (strcasecmp(c->resp.headers[i].name, "WWW-Authenticate") != 0)
			continue;
		const char *v = c->resp.headers[i].value;
		if (strncasecmp(v, "Digest ", 7) == 0 && digest == NULL)
			digest = v + 7;
		else if (strncasecmp(v, "Basic", 5) == 0 && basic == NULL)
			basic = v;
	}
	if (c->user[0] == '\0')
		return cu_fail(CU_ERR_AUTH, "camera %s asks for credentials and none are configured",
		               c->host);
	if (digest != NULL) {
		char alg[32], qop[64];
		challenge_param(digest, "algorithm", alg, sizeof(alg));
		if (alg[0] && strcasecmp(alg, "MD5") != 0)
			return cu_fail(CU_ERR_UNSUPPORTED, "camera %s: Digest algorithm %s not supported",
			               c->host, alg);
		challenge_param(digest, "realm", c->realm, sizeof(c->realm));
		challenge_param(digest, "nonce", c->nonce, sizeof(c->nonce));
		challenge_param(digest, "opaque", c->opaque, sizeof(c->opaque));
		challenge_param(digest, "qop", qop, sizeof(qop));
		if (c->nonce[0] == '\0')
			return cu_fail(CU_ERR_FORMAT, "camera %s: Digest challenge without a nonce", c->host);
		for (const char *s = c->realm; *s; s++)
			if (*s == '"' || *s == '\\')
				return cu_fail(CU_ERR_FORMAT, "camera %s: odd Digest realm", c->host);
		c->qop_auth = strcasestr(qop, "auth") != NULL;
		c->nc = 0;
		c->auth = AUTH_DIGEST;
		return 0;
	}
	if (basic != NULL) {
		if (!c->tls && !c->allow_basic_plain)
			return cu_fail(CU_ERR_AUTH, "camera %s offers only Basic authentication over "
			               "plain RTSP, which would send the password in the clear; use "
			               "rtsps:// or allow it explicitly", c->host);
		c->auth = AUTH_BASIC;
		return 0;
	}
	return cu_fail(CU_ERR_AUTH, "camera %s: 401 without a Basic or Digest challenge", c->host);
}

static int
auth_header(cu_rtsp *c, const char *method, const char *uri, char *out, size_t len)
{
	out[0] = '\0';
	if (c->auth == AUTH_BASIC) {
		char up[2 * CU_RTSP_CRED_MAX + 2], enc[4 * ((2 * CU_RTSP_CRED_MAX + 4) / 3) + 8];
		int n = snprintf(up, sizeof(up), "%s:%s", c->user, c->password);
		if (n < 0 || (size_t)n >= sizeof(up))
			return cu_fail(CU_ERR_LIMIT, "credentials too long");
		int r = cu_b64_encode((const uint8_t *)up, (size_t)n, CU_B64_PAD, enc, sizeof(enc));
		if (r == 0)
			n = snprintf(out, len, "Authorization: Basic %s\r\n", enc);
		cu_wipe(up, sizeof(up));
		cu_wipe(enc, sizeof(enc));
		if (r < 0)
			return r;
		return n < 0 || (size_t)n >= len ? cu_fail(CU_ERR_LIMIT, "auth header too long") : 0;
	}
	if (c->auth != AUTH_DIGEST)
		return 0;
	char ha1[33], ha2[33], resp[33], nc[9], cnonce[17];
	uint8_t rnd[8];
	const char *p1[] = {c->user, c->realm, c->password};
	const char *p2[] = {method, uri};
	int r = cu_md5_digest_hex(p1, 3, ha1);
	if (r < 0 || (r = cu_md5_digest_hex(p2, 2, ha2)) < 0 || (r = cu_random(rnd, sizeof(rnd))) < 0)
		return r;
	cu_hex(rnd, sizeof(rnd), cnonce);
	int k = snprintf(nc, sizeof(nc), "%08x", ++c->nc);
	if (k < 0 || (size_t)k >= sizeof(nc))
		return cu_fail(CU_ERR_LIMIT, "digest nonce count too long");
	if (c->qop_auth) {
		const char *p3[] = {ha1, c->nonce, nc, cnonce, "auth", ha2};
		r = cu_md5_digest_hex(p3, 6, resp);
	} else {
		const char *p3[] = {ha1, c->nonce, ha2};
		r = cu_md5_digest_hex(p3, 3, resp);
	}
	cu_wipe(ha1, sizeof(ha1));
	if (r < 0)
		return r;
	int n = snprintf(out, len, "Authorization: Digest username=\"%s\", realm=\"%s\", "
	                 "nonce=\"%s\", uri=\"%s\", response=\"%s\"%s%s%s", c->user, c->realm,
	                 c->nonce, uri, resp, c->opaque[0] ? ", opaque=\"" : "", c->opaque,
	                 c->opaque[0] ? "\"" : "");
	if (n > 0 && (size_t)n < len && c->qop_auth)
		n += snprintf(out + n, len - (size_t)n, ", qop=auth, nc=%s, cnonce=\"%s\"", nc, cnonce);
	if (n > 0 && (size_t)n < len)
		n += snprintf(out + n, len - (size_t)n, "\r\n");
	return n < 0 || (size_t)n >= len ? cu_fail(CU_ERR_LIMIT, "auth header too long") : 0;
}

/* ---- requests ---- */

static int
send_request(cu_rtsp *c, const char *method, const char *uri, const char *extra)
{
	char req[REQ_MAX], auth[1024];
	int r = auth_header(c, method, uri, auth, sizeof(auth));
	if (r < 0)
		return r;
	c->cseq++;
	int n = snprintf(req, sizeof(req), "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: %s\r\n%s%s%s%s%s\r\n",
	                 method, uri, c->cseq, USER_AGENT, auth, c->session[0] ? "Session: " : "",
	                 c->session, c->session[0] ? "\r\n" : "", extra ? extra : "");
	cu_wipe(auth, sizeof(auth));
	if (n < 0 || (size_t)n >= sizeof(req))
		return cu_fail(CU_ERR_LIMIT, "RTSP request too long");
	r = conn_write(c, req, (size_t)n);
	cu_wipe(req, sizeof(req));
	return r;
}

/* Sends a request and waits for its response (interleaved packets that
 * arrive meanwhile are dropped: media flows only after PLAY). Handles one
 * 401 challenge. */
static int
request(cu_rtsp *c, const char *method, const char *uri, const char *extra)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int r = send_request(c, method, uri, extra);
		if (r < 0)
			return r;
		int64_t deadline = cu_time_mono_us() + (int64_t)c->timeout_ms * 1000;
		for (;;) {
			int it = read_item(c, deadline);
			if (it < 0)
				return cu_fail_prefix(it, "%s", method);
			if (it == ITEM_NONE)
				return cu_fail(CU_ERR_IO, "camera %s did not answer %s within %d ms",
				               c->host, method, c->timeout_ms);
			if (it == ITEM_RESPONSE && c->resp.cseq == c->cseq)
				break;
		}
		if (c->resp.status == 401 && attempt == 0 && c->auth == AUTH_NONE) {
			if ((r = take_challenge(c)) < 0)
				return r;
			continue;
		}
		if (c->resp.status == 401 && attempt == 0 && c->auth == AUTH_DIGEST &&
		    cu_rtsp_header(&c->resp, "WWW-Authenticate") != NULL &&
		    strcasestr(cu_rtsp_header(&c->resp, "WWW-Authenticate"), "stale=true") != NULL) {
			if ((r = take_challenge(c)) < 0)
				return r;
			continue;
		}
		if (c->resp.status == 401)
			return cu_fail(CU_ERR_AUTH, "camera %s refused the credentials (%s: 401 %s)",
			               c->host, method, c->resp.reason);
		return 0;
	}
	return cu_fail(CU_ERR_AUTH, "camera %s: authentication loop", c->host);
}

static int
expect_ok(cu_rtsp *c, const char *method)
{
	if (c->resp.status >= 200 && c->resp.status < 300)
		return 0;
	return cu_fail(c->resp.status == 404 ? CU_ERR_NOTFOUND : CU_ERR_FORMAT,
	               "camera %s answered %s with %d %s", c->host, method, c->resp.status,
	               c->resp.reason);
}

/* Resolves an a=control value against the base URL; the result must stay on
 * the same scheme, host and port. */
static int
resolve_control(cu_rtsp *c, const char *control, char *out, size_t len)
{
	int n;
	if (control[0] == '\0' || strcmp(control, "*") == 0) {
		n = snprintf(out, len, "%s", c->base);
	} else if (strncasecmp(control, "rtsp://", 7) == 0 || strncasecmp(control, "rtsps://", 8) == 0) {
		bool tls;
		char host[256], path[CU_RTSP_URL_MAX];
		uint16_t port;
		int r = cu_rtsp_url_parse(control, &tls, host, sizeof(host), &port, path, sizeof(path));
		if (r < 0)
			return r;
		if (tls != c->tls || strcasecmp(host, c->host) != 0 || port != c->port)
			return cu_fail(CU_ERR_FORMAT, "camera %s: stream control URL points elsewhere (%s)",
			               c->host, control);
		n = snprintf(out, len, "%s", control);
	} else {
		size_t bl = strlen(c->base);
		bool slash = bl > 0 && c->base[bl - 1] == '/';
		n = snprintf(out, len, "%s%s%s", c->base, slash ? "" : "/", control);
	}
	if (n < 0 || (size_t)n >= len)
		return cu_fail(CU_ERR_LIMIT, "control URL too long");
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p <= 0x20)
			return cu_fail(CU_ERR_FORMAT, "camera %s: control URL has spaces", c->host);
	return 0;
}

static int
take_session(cu_rtsp *c)
{
	const char *s = cu_rtsp_header(&c->resp, "Session");
	if (s == NULL)
		return c->session[0] ? 0 : cu_fail(CU_ERR_FORMAT, "camera %s: SETUP without Session",
		                                   c->host);
	size_t n = strcspn(s, ";");
	if (n == 0 || n > SESSION_MAX)
		return cu_fail(CU_ERR_LIMIT, "camera %s: session id too long", c->host);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == ',')
			return cu_fail(CU_ERR_FORMAT, "camera %s: odd session id", c->host);
	memcpy(c->session, s, n);
	c->session[n] = '\0';
	const char *t = strcasestr(s + n, "timeout=");
	c->session_timeout_s = 60;
	if (t != NULL) {
		char digits[8];
		size_t dl = strspn(t + 8, "0123456789");
		uint64_t v;
		if (dl > 0 && dl < sizeof(digits)) {
			memcpy(digits, t + 8, dl);
			digits[dl] = '\0';
			if (cu_parse_u64(digits, 3600, "session timeout", &v) == 0 && v >= 2)
				c->session_timeout_s = (int)v;
		}
	}
	return 0;
}

static int
setup_track(cu_rtsp *c, struct track *t, const struct cu_sdp_media *m, int ch)
{
	char url[CU_RTSP_URL_MAX], transport[128];
	int r = resolve_control(c, m->control, url, sizeof(url));
	if (r < 0)
		return r;
	int k = snprintf(transport, sizeof(transport),
	                 "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n", ch, ch + 1);
	if (k < 0 || (size_t)k >= sizeof(transport))
		return cu_fail(CU_ERR_LIMIT, "Transport header too long");
	if ((r = request(c, "SETUP", url, transport)) < 0 || (r = expect_ok(c, "SETUP")) < 0 ||
	    (r = take_session(c)) < 0)
		return r;
	const char *tr = cu_rtsp_header(&c->resp, "Transport");
	const char *il = tr ? strcasestr(tr, "interleaved=") : NULL;
	if (il != NULL) {
		char digits[4];
		size_t dl = strspn(il + 12, "0123456789");
		uint64_t v;
		if (dl == 0 || dl >= sizeof(digits))
			return cu_fail(CU_ERR_FORMAT, "camera %s: bad interleaved channel", c->host);
		memcpy(digits, il + 12, dl);
		digits[dl] = '\0';
		if (cu_parse_u64(digits, 254, "interleaved channel", &v) < 0)
			return cu_fail(CU_ERR_FORMAT, "camera %s: bad interleaved channel", c->host);
		ch = (int)v;
	} else if (tr == NULL || strcasestr(tr, "TCP") == NULL) {
		return cu_fail(CU_ERR_UNSUPPORTED, "camera %s does not offer RTP over the RTSP "
		               "connection (interleaved TCP)", c->host);
	}
	t->used = true;
	t->ch = ch;
	t->codec = m->codec;
	t->track = m->codec == CU_CODEC_AAC ? CU_TRACK_AUDIO : CU_TRACK_VIDEO;
	t->clock = m->clock_rate;
	t->last_ts = -1;
	return 0;
}

static int
describe_and_setup(cu_rtsp *c)
{
	int r = request(c, "DESCRIBE", c->url, "Accept: application/sdp\r\n");
	if (r < 0)
		return r;
	if (c->resp.status >= 300 && c->resp.status < 400)
		return CU_ERR_EXIST; /* redirect: the caller decides */
	if ((r = expect_ok(c, "DESCRIBE")) < 0)
		return r;
	const char *cb = cu_rtsp_header(&c->resp, "Content-Base");
	if (cb == NULL)
		cb = cu_rtsp_header(&c->resp, "Content-Location");
	int n = snprintf(c->base, sizeof(c->base), "%s", cb ? cb : c->url);
	if (n < 0 || (size_t)n >= sizeof(c->base))
		return cu_fail(CU_ERR_LIMIT, "camera %s: base URL too long", c->host);
	struct cu_sdp *sd = malloc(sizeof(*sd)); /* large: not on the stack */
	if (sd == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	r = cu_sdp_parse((const char *)c->resp.body, c->resp.body_len, sd);
	if (r < 0) {
		free(sd);
		return cu_fail_prefix(r, "camera %s", c->host);
	}
	if (sd->control[0] && strcmp(sd->control, "*") != 0) {
		char abs[CU_RTSP_URL_MAX];
		if ((r = resolve_control(c, sd->control, abs, sizeof(abs))) < 0) {
			free(sd);
			return r;
		}
		memcpy(c->base, abs, strlen(abs) + 1);
	}
	const struct cu_sdp_media *video = NULL, *audio = NULL;
	for (size_t i = 0; i < sd->nmedia; i++) {
		const struct cu_sdp_media *m = &sd->media[i];
		if (video == NULL && strcmp(m->type, "video") == 0 &&
		    (m->codec == CU_CODEC_H264 || m->codec == CU_CODEC_H265))
			video = m;
		if (audio == NULL && strcmp(m->type, "audio") == 0 && m->codec == CU_CODEC_AAC)
			audio = m;
	}
	if (video == NULL) {
		free(sd);
		return cu_fail(CU_ERR_UNSUPPORTED, "camera %s offers no H.264 or H.265 video stream",
		               c->host);
	}
	uint8_t ps[CU_PARAM_SETS_MAX];
	size_t psl = 0;
	if ((r = cu_sdp_param_sets(video, ps, sizeof(ps), &psl)) < 0 ||
	    (r = cu_depay_new(video->codec, ps, psl, NULL, &c->tracks[0].depay)) < 0 ||
	    (r = setup_track(c, &c->tracks[0], video, 0)) < 0) {
		free(sd);
		return r;
	}
	int k = snprintf(c->stats.codec, sizeof(c->stats.codec), "%s", cu_codec_name(video->codec));
	if (k < 0 || (size_t)k >= sizeof(c->stats.codec)) {
		free(sd);
		return cu_fail(CU_ERR_LIMIT, "codec name %s too long", cu_codec_name(video->codec));
	}
	if (audio != NULL) {
		char config[256] = "";
		cu_sdp_fmtp_get(audio, "config", config, sizeof(config));
		if (cu_depay_new(CU_CODEC_AAC, NULL, 0, config, &c->tracks[1].depay) == 0 &&
		    (r = setup_track(c, &c->tracks[1], audio, 2)) < 0) {
			free(sd);
			return r;
		}
	}
	free(sd);
	return 0;
}

static void
rtsp_reset(cu_rtsp *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
	c->rpos = c->rlen = 0;
	c->tls = false;
	c->session[0] = '\0';
	c->auth = AUTH_NONE;
	for (int i = 0; i < 2; i++) {
		cu_depay_free(c->tracks[i].depay);
		memset(&c->tracks[i], 0, sizeof(c->tracks[i]));
	}
}

static int
connect_and_play(cu_rtsp *c, const struct cu_rtsp_opts *o)
{
	char path[CU_RTSP_URL_MAX];
	bool tls;
	int r = cu_rtsp_url_parse(c->url, &tls, c->host, sizeof(c->host), &c->port, path,
	                          sizeof(path));
	if (r < 0)
		return r;
	if (o->require_tls && !tls)
		return cu_fail(CU_ERR_AUTH, "camera requires TLS but its URL is %s (plain rtsp://)",
		               c->url);
	if ((r = tcp_connect(c)) < 0)
		return r;
	if (tls && (r = tls_start(c, o)) < 0)
		return r;
	if ((r = request(c, "OPTIONS", c->url, NULL)) < 0)
		return r;
	if (c->resp.status >= 300 && c->resp.status < 400)
		return CU_ERR_EXIST; /* redirect: the caller decides */
	if ((r = expect_ok(c, "OPTIONS")) < 0)
		return r;
	const char *pub = cu_rtsp_header(&c->resp, "Public");
	c->get_parameter = pub != NULL && strcasestr(pub, "GET_PARAMETER") != NULL;
	if ((r = describe_and_setup(c)) < 0)
		return r;
	if ((r = request(c, "PLAY", c->base, "Range: npt=0.000-\r\n")) < 0 ||
	    (r = expect_ok(c, "PLAY")) < 0)
		return r;
	c->next_keepalive = cu_time_mono_us() + (int64_t)c->session_timeout_s * 1000000 / 2;
	/* Media flows now: wake up per 16 KiB rather than per packet (a 4 Mbit/s
	 * camera sends ~370 packets a second; this makes it ~30 wake-ups). An
	 * end of stream still wakes poll at once; a quiet camera is caught by
	 * the caller's timeout. */
	int lowat = RCVLOWAT;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	return 0;
}

int
cu_rtsp_open(const struct cu_rtsp_opts *o, cu_rtsp **ret)
{
	if (o == NULL || o->url == NULL)
		return cu_fail(CU_ERR_INVAL, "no camera URL");
	if ((o->user && strlen(o->user) > CU_RTSP_CRED_MAX) ||
	    (o->password && strlen(o->password) > CU_RTSP_CRED_MAX))
		return cu_fail(CU_ERR_LIMIT, "camera user name or password over %d bytes",
		               CU_RTSP_CRED_MAX);
	if (o->user && (strchr(o->user, ':') || strchr(o->user, '"')))
		return cu_fail(CU_ERR_INVAL, "camera user name must not contain ':' or '\"'");
	cu_rtsp *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	c->fd = -1;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	c->allow_basic_plain = o->allow_basic_plain;
	if (o->user) {
		memcpy(c->user, o->user, strlen(o->user) + 1);
		memcpy(c->password, o->password ? o->password : "", o->password ? strlen(o->password) + 1 : 1);
	}
	int r = snprintf(c->url, sizeof(c->url), "%s", o->url) >= (int)sizeof(c->url)
	                ? cu_fail(CU_ERR_LIMIT, "camera URL too long") : 0;
	for (int hop = 0; r == 0; hop++) {
		r = connect_and_play(c, o);
		if (r != CU_ERR_EXIST)
			break;
		/* a redirect */
		const char *loc = cu_rtsp_header(&c->resp, "Location");
		if (!o->allow_redirect || hop > 0 || loc == NULL) {
			r = cu_fail(CU_ERR_AUTH, "camera redirects to %s; redirects are refused unless "
			            "configured", loc ? loc : "(no Location)");
			break;
		}
		int n = snprintf(c->url, sizeof(c->url), "%s", loc);
		rtsp_reset(c);
		if (n < 0 || (size_t)n >= sizeof(c->url))
			r = cu_fail(CU_ERR_LIMIT, "redirect URL too long");
	}
	if (r < 0) {
		cu_rtsp_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* ---- the media loop ---- */

static uint64_t
extend(struct track *t, uint32_t ts)
{
	if (!t->have_ext) {
		t->have_ext = true;
		t->ext = (uint64_t)1 << 32 | ts; /* room below for small negative steps */
		return t->ext;
	}
	t->ext += (uint64_t)(int64_t)(int32_t)(ts - (uint32_t)t->ext);
	return t->ext;
}

static int64_t
ticks_to_us(int64_t ticks, uint32_t clock)
{
	return clock ? ticks * 1000000 / (int64_t)clock : 0;
}

static void
take_sr(cu_rtsp *c, struct track *t, const uint8_t *pkt, size_t len)
{
	uint32_t ssrc, rtp;
	uint64_t ntp;
	if (cu_rtcp_sender_report(pkt, len, &ssrc, &ntp, &rtp) != 1 || !t->have_ext)
		return;
	int64_t secs = (int64_t)(ntp >> 32) - INT64_C(2208988800);
	int64_t us = secs * 1000000 + (int64_t)(((ntp & 0xffffffffu) * 1000000) >> 32);
	int64_t now = cu_time_now_us();
	if (us < now - CAMERA_CLOCK_SLACK_US || us > now + CAMERA_CLOCK_SLACK_US) {
		t->have_sr = false; /* the camera's clock disagrees with ours: use arrival */
		return;
	}
	uint64_t save = t->ext;
	t->sr_ext = extend(t, rtp);
	t->ext = save;
	t->sr_us = us;
	t->have_sr = true;
	(void)c;
}

static int64_t
frame_time(struct track *t, uint32_t rtp)
{
	uint64_t ext = extend(t, rtp);
	int64_t now = cu_time_now_us();
	if (t->have_sr)
		return t->sr_us + ticks_to_us((int64_t)(ext - t->sr_ext), t->clock);
	int64_t ts = t->have_anchor ? t->anchor_us + ticks_to_us((int64_t)(ext - t->anchor_ext), t->clock)
	                            : now;
	if (!t->have_anchor || ts < now - ANCHOR_DRIFT_US || ts > now + ANCHOR_DRIFT_US) {
		t->have_anchor = true;
		t->anchor_ext = ext;
		t->anchor_us = now;
		ts = now;
	}
	return ts;
}

static int
keepalive(cu_rtsp *c)
{
	int64_t now = cu_time_mono_us();
	if (now < c->next_keepalive)
		return 0;
	c->next_keepalive = now + (int64_t)c->session_timeout_s * 1000000 / 2;
	return send_request(c, c->get_parameter ? "GET_PARAMETER" : "OPTIONS", c->base, NULL);
}

int
cu_rtsp_next(cu_rtsp *c, cu_frame *f, int timeout_ms)
{
	int64_t deadline = cu_time_mono_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		int r = keepalive(c);
		if (r < 0)
			return r;
		int it = read_item(c, deadline);
		if (it <= 0)
			return it;
		if (it == ITEM_RESPONSE) {
			if (c->resp.status == 454 || c->resp.status == 401)
				return cu_fail(CU_ERR_IO, "camera %s ended the session (%d %s)", c->host,
				               c->resp.status, c->resp.reason);
			continue; /* a keep-alive answered */
		}
		struct track *t = NULL;
		bool rtcp = false;
		for (int i = 0; i < 2; i++) {
			if (c->tracks[i].used && c->pkt_ch == c->tracks[i].ch)
				t = &c->tracks[i];
			else if (c->tracks[i].used && c->pkt_ch == c->tracks[i].ch + 1) {
				t = &c->tracks[i];
				rtcp = true;
			}
		}
		if (t == NULL)
			continue;
		if (rtcp) {
			take_sr(c, t, c->pkt, c->pkt_len);
			continue;
		}
		struct cu_rtp rtp;
		if (cu_rtp_parse(c->pkt, c->pkt_len, &rtp) < 0) {
			c->stats.malformed++;
			continue;
		}
		struct cu_au au;
		int pr = cu_depay_push(t->depay, &rtp, &au);
		if (pr <= 0)
			continue; /* need more, or a malformed packet (counted by the depayloader) */
		int64_t ts = frame_time(t, au.rtp_ts);
		if (t->last_ts >= 0 && ts > t->last_ts && ts - t->last_ts < CU_FRAME_DURATION_MAX)
			t->last_dur = (uint32_t)(ts - t->last_ts);
		t->last_ts = ts;
		*f = (cu_frame){
			.ts_us = ts, .dur_us = t->last_dur, .codec = (uint8_t)t->codec,
			.track = t->track, .key = au.key, .data = au.data, .len = au.len,
		};
		c->stats.frames++;
		c->stats.bytes += au.len;
		return 1;
	}
}

void
cu_rtsp_get_stats(const cu_rtsp *c, struct cu_rtsp_stats *ret)
{
	*ret = c->stats;
	ret->tls = c->tls;
	for (int i = 0; i < 2; i++) {
		if (!c->tracks[i].used)
			continue;
		struct cu_depay_stats d;
		cu_depay_get_stats(c->tracks[i].depay, &d);
		ret->packets += d.packets;
		ret->lost += d.lost;
		ret->out_of_order += d.out_of_order;
		ret->malformed += d.malformed;
		ret->dropped_aus += d.dropped_aus;
	}
}

void
cu_rtsp_close(cu_rtsp *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0 && c->session[0]) {
		c->timeout_ms = 500;
		struct timeval tv = {0, 500000};
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		(void)send_request(c, "TEARDOWN", c->base, NULL);
	}
	if (c->ssl != NULL)
		SSL_shutdown(c->ssl);
	rtsp_reset(c);
	cu_wipe(c->password, sizeof(c->password));
	cu_wipe(c->user, sizeof(c->user));
	free(c);
}
