/* custodyd's JSON API under /api/v1/ (docs/api.md): authentication,
 * cameras and their recordings, bookmarks, evidence locks, playback as
 * fragmented MP4, stills, live view over a WebSocket, users and roles, and
 * the audit log. Handlers run on the HTTPS server's workers. */
#ifndef CD_API_H
#define CD_API_H

#include <stdbool.h>

#include "custody/audit.h"
#include "custody/auth.h"
#include "custody/store.h"
#include "http.h"
#include "live.h"

struct cd_exports;

#define CD_PLAYBACK_MAX_US (3600 * INT64_C(1000000))   /* one request's range */
#define CD_RANGES_DEFAULT 1000

struct cd_api {
	cu_store *store;
	cu_auth *auth;
	cu_audit *audit;                  /* may be NULL: nothing is logged */
	struct cd_live *live;
	struct cd_exports *exports;       /* export.h; NULL: no exports */
	bool audit_views;                 /* log every playback, still and live view */
	int64_t idle_timeout_s;           /* [web] idle_timeout, for GET /server's "client" */
	const char *server_name;
	/* the site TLS CA (for GET /api/v1/server) */
	char tls_ca_fp[96];
};

/* cd_http_opts.handle / ws_open / ws_closed, with ctx = struct cd_api. */
void cd_api_handle(struct cd_req *r, void *ctx);
void *cd_api_ws_open(struct cd_ws *ws, const struct cd_ws_request *q, void *ctx);

/* Is origin (an Origin header) exactly this server's own origin, "https://"
 * and host (the request's Host header)? The scheme and the port compare
 * exactly, the host name without regard to case; "null", a path, another
 * scheme or port, or an empty host are not. Pure. */
bool cd_origin_is_own(const char *origin, const char *host);
void cd_api_ws_closed(void *session, void *ctx);

/* Every few seconds from the main thread: ends live views whose user lost
 * the live permission (disabled, deleted, role or grant taken away). The
 * signed URL only gates the start of a view. */
#define CD_API_TICK_US (5 * INT64_C(1000000))
void cd_api_tick(struct cd_api *a);

#endif
