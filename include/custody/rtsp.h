/* custody — the RTSP/RTSPS camera client.
 *
 * Our own client rather than libavformat's, because Debian's libavformat
 * accepts any certificate on rtsps:// (it ignores tls_verify): anyone on the
 * camera network could impersonate a camera. Here a TLS camera is trusted
 * only through a configured CA bundle or a pinned certificate fingerprint. */
#ifndef CUSTODY_RTSP_H
#define CUSTODY_RTSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"
#include "custody/media.h"

#define CU_RTSP_URL_MAX 1024
#define CU_RTSP_CRED_MAX 256          /* user name or password, bytes */

struct cu_rtsp_opts {
	const char *url;                  /* rtsp:// or rtsps://, no credentials in it */
	const char *user, *password;      /* NULL for none */
	const char *ca_file;              /* PEM bundle that must sign the camera's certificate */
	const uint8_t *pin;               /* SHA-256 of the camera certificate (DER), or NULL */
	bool require_tls;                 /* refuse rtsp:// */
	bool allow_redirect;              /* follow one 3xx (same trust rules) */
	bool allow_basic_plain;           /* allow Basic auth over plain rtsp:// (default: refuse) */
	int timeout_ms;                   /* connect and each request; 0 = 10000 */
};

typedef struct cu_rtsp cu_rtsp;

/* Connects, verifies TLS, and runs OPTIONS, DESCRIBE, SETUP (RTP interleaved
 * over the RTSP connection) and PLAY. On failure the detail says which step
 * and why (certificate refused, 401, no H.264/H.265 stream, ...). Errors:
 * CU_ERR_INVAL (bad options), CU_ERR_AUTH (TLS verification or credentials
 * refused), CU_ERR_IO (network), CU_ERR_FORMAT (bad answer), CU_ERR_UNSUPPORTED. */
int cu_rtsp_open(const struct cu_rtsp_opts *o, cu_rtsp **ret);

/* Waits up to timeout_ms for the next frame. Returns 1 with a frame (time:
 * wall clock, from the RTCP sender reports when the camera's clock agrees
 * with ours within 5 s, else from arrival; data valid until the next call),
 * 0 on timeout, or a negative cu_err when the connection failed or closed.
 * Sends keep-alives itself. */
int cu_rtsp_next(cu_rtsp *c, cu_frame *ret_frame, int timeout_ms);

struct cu_rtsp_stats {
	uint64_t frames, bytes, packets, lost, out_of_order, malformed, dropped_aus;
	bool tls;
	char codec[8];
	char peer_fingerprint[96];        /* the camera certificate's SHA-256, hex with ':' */
};
void cu_rtsp_get_stats(const cu_rtsp *c, struct cu_rtsp_stats *ret);

/* Sends TEARDOWN (briefly, best effort) and closes. NULL is fine. */
void cu_rtsp_close(cu_rtsp *c);

/* Splits an rtsp(s) URL. Credentials in the URL are refused (they belong in
 * a credentials file). host gets the name or address without brackets. */
int cu_rtsp_url_parse(const char *url, bool *ret_tls, char *host, size_t host_len,
                      uint16_t *ret_port, char *path, size_t path_len);

#endif
