/* Events: GET /api/v1/events (stored events, filtered and paged), GET
 * /api/v1/events/stream (Server-Sent Events, live), POST
 * /api/v1/events/{id}/ack (docs/api.md "Events"). A user sees the events of
 * the cameras they hold any function on; events of no camera need admin or
 * audit_read. Acknowledging needs live on the event's camera (admin for
 * events of no camera): docs/notifications.md says why. */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "custody/error.h"
#include "custody/evdb.h"
#include "custody/parse.h"
#include "custody/text.h"
#include "custody/time.h"
#include "daemon.h"
#include "notify.h"

#define EVENTS_DEFAULT_LIMIT 100
#define STREAMS_MAX 4                          /* live event streams at once */
/* A comment line this often: it keeps proxies from closing an idle stream,
 * and it is how a stream learns that its client left (the server does not
 * read a connection while it answers it; the write after the client closed
 * fails), which frees its slot for the next subscriber. */
#define STREAM_HEARTBEAT_US (2 * INT64_C(1000000))
#define STREAM_POLL_US INT64_C(250000)  /* how soon a stream sees the server stop */
#define STREAM_MAX_US (3600 * INT64_C(1000000)) /* then the client reconnects */
#define VIS_CACHE 64

static atomic_int nstreams;

/* Which cameras' events the caller sees, cached for one request. */
struct vis {
	struct call *c;
	size_t n;
	struct {
		char camera[CU_EVDB_CAMERA_MAX + 1];
		bool ok;
	} cache[VIS_CACHE];
};

static bool
visible_now(struct call *c, const char *camera)
{
	unsigned mask = 0;
	if (camera[0] == '\0') {
		if (cu_auth_functions(c->a->auth, c->user, NULL, &mask) < 0)
			return false;
		return (mask & ((1u << CU_FN_ADMIN) | (1u << CU_FN_AUDIT_READ))) != 0;
	}
	return cu_auth_functions(c->a->auth, c->user, camera, &mask) == 0 && mask != 0;
}

static bool
visible(void *ctx, const char *camera)
{
	struct vis *v = ctx;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->cache[i].camera, camera) == 0)
			return v->cache[i].ok;
	bool ok = visible_now(v->c, camera);
	if (v->n < VIS_CACHE && strlen(camera) < sizeof(v->cache[0].camera)) {
		memcpy(v->cache[v->n].camera, camera, strlen(camera) + 1);
		v->cache[v->n++].ok = ok;
	}
	return ok;
}

static json_t *
event_json(const struct cu_evrec *e)
{
	static const char *const sev[] = {"info", "warning", "major", "critical"};
	json_t *o = json_pack("{s:s, s:o, s:s, s:o, s:s, s:s, s:s, s:s}", "id", e->id, "time",
	                      cd_json_time(e->t_us), "type", e->type, "camera",
	                      e->camera[0] ? json_string(e->camera) : json_null(), "source",
	                      e->source, "phase", e->phase, "severity",
	                      sev[(unsigned)e->severity < 4 ? e->severity : 0], "detail", e->detail);
	if (o == NULL)
		return NULL;
	if (e->acked_by[0] != '\0') {
		json_object_set_new(o, "acked_by", json_string(e->acked_by));
		json_object_set_new(o, "acked_at", cd_json_time(e->acked_us));
		json_object_set_new(o, "ack_comment", json_string(e->ack_comment));
	} else {
		json_object_set_new(o, "acked_by", json_null());
		json_object_set_new(o, "acked_at", json_null());
	}
	return o;
}

static cu_evdb *
need_db(struct call *c)
{
	cu_evdb *db = cd_notify_db();
	if (db == NULL)
		cd_reply_error(c->r, 503, "unavailable", "the event store is not open");
	return db;
}

/* A short text query parameter: 1 present, 0 absent, CD_ANSWERED. */
static int
param(struct call *c, const char *name, char *buf, size_t len)
{
	int r = cd_req_param(c->r, name, buf, len);
	if (r < 0 || (r > 0 && buf[0] == '\0')) {
		cd_reply_error(c->r, 400, "invalid", "the query parameter %s is empty or longer than "
		               "%zu bytes", name, len - 1);
		return CD_ANSWERED;
	}
	return r;
}

void
cd_api_events(struct call *c)
{
	cu_evdb *db = need_db(c);
	if (db == NULL)
		return;
	char camera[CU_EVDB_CAMERA_MAX + 1], type[CU_EVDB_TYPE_MAX + 1], sev[16], phase[8];
	char limit_s[8], cursor_s[24];
	struct vis v = {.c = c};
	struct cu_evq q = {.limit = EVENTS_DEFAULT_LIMIT, .visible = visible, .ctx = &v};
	int r;
	if ((r = param(c, "camera", camera, sizeof(camera))) < 0)
		return;
	q.camera = r ? camera : NULL;
	if ((r = param(c, "type", type, sizeof(type))) < 0)
		return;
	q.type_prefix = r ? type : NULL;
	if ((r = param(c, "severity", sev, sizeof(sev))) < 0)
		return;
	if (r && (q.severity_min = cd_severity_parse(sev)) < 0) {
		cd_reply_error(c->r, 400, "invalid", "severity must be info, warning, major or critical");
		return;
	}
	if ((r = param(c, "phase", phase, sizeof(phase))) < 0)
		return;
	if (r && strcmp(phase, "once") != 0 && strcmp(phase, "raise") != 0 &&
	    strcmp(phase, "clear") != 0) {
		cd_reply_error(c->r, 400, "invalid", "phase must be once, raise or clear");
		return;
	}
	q.phase = r ? phase : NULL;
	if (cd_call_query_time(c, "from", &q.from_us) < 0 || cd_call_query_time(c, "to", &q.to_us) < 0)
		return;
	if (q.from_us != 0 && q.to_us != 0 && q.to_us <= q.from_us) {
		cd_reply_error(c->r, 400, "invalid", "to must be after from");
		return;
	}
	if ((r = param(c, "limit", limit_s, sizeof(limit_s))) < 0)
		return;
	uint64_t u;
	if (r) {
		if (cu_parse_u64(limit_s, CU_EVDB_QUERY_MAX, "limit", &u) < 0 || u == 0) {
			cd_reply_error(c->r, 400, "invalid", "limit must be from 1 to %d",
			               CU_EVDB_QUERY_MAX);
			return;
		}
		q.limit = (size_t)u;
	}
	if ((r = param(c, "cursor", cursor_s, sizeof(cursor_s))) < 0)
		return;
	if (r) {
		if (cu_parse_u64(cursor_s, INT64_MAX, "cursor", &u) < 0 || u == 0) {
			cd_reply_error(c->r, 400, "invalid", "cursor must be the next value of an earlier "
			               "answer");
			return;
		}
		q.before_seq = (int64_t)u;
	}
	struct cu_evrec *evs = NULL;
	size_t n = 0;
	bool more = false;
	if ((r = cu_evdb_query(db, &q, &evs, &n, &more)) < 0) {
		cd_call_reply_cu(c, r, "reading events");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, event_json(&evs[i]));
	char next[24] = "";
	if (more && n > 0 && cu_fmt_cut(next, sizeof(next), "%lld", (long long)evs[n - 1].seq))
		next[0] = '\0'; /* cannot happen: 20 digits fit */
	free(evs);
	cd_call_reply_json(c, 200, json_pack("{s:o, s:o}", "events", arr ? arr : json_array(),
	                                     "next", next[0] ? json_string(next) : json_null()));
}

void
cd_api_event_ack(struct call *c)
{
	cu_evdb *db = need_db(c);
	if (db == NULL)
		return;
	const char *id = cd_call_seg(c, 1);
	struct cu_evrec e;
	if (strlen(id) != CU_EVDB_ID_LEN || cu_evdb_get(db, id, &e) < 0 || !visible_now(c, e.camera)) {
		cd_reply_error(c->r, 404, "not_found", "no event \"%.40s\"", id);
		return;
	}
	if (e.camera[0] != '\0' ? cd_call_need_camera(c, e.camera, CU_FN_LIVE) < 0
	                        : cd_call_need_site(c, CU_FN_ADMIN) < 0)
		return;
	json_t *body = cd_call_body_json(c);
	if (body == NULL)
		return;
	static const char *const fields[] = {"comment", NULL};
	const char *comment = NULL;
	if (cd_call_only_fields(c, body, fields) < 0 ||
	    cd_call_text_field(c, body, "comment", true, CU_EVDB_COMMENT_MAX,
	                       CU_TEXT_MULTILINE | CU_TEXT_NONEMPTY, &comment) < 0) {
		json_decref(body);
		return;
	}
	int r = cu_evdb_ack(db, id, c->user, comment, cu_time_now_us());
	if (r == CU_ERR_EXIST) {
		json_decref(body);
		cd_reply_error(c->r, 409, "conflict", "event %s is already acknowledged", id);
		return;
	}
	if (r < 0) {
		json_decref(body);
		cd_call_reply_cu(c, r, "acknowledging the event");
		return;
	}
	cd_call_audit(c, "event.ack", json_pack("{s:s, s:s, s:s?, s:s}", "id", id, "type", e.type,
	                                        "camera", e.camera[0] ? e.camera : NULL,
	                                        "comment", comment));
	json_decref(body);
	if ((r = cu_evdb_get(db, id, &e)) < 0) {
		cd_call_reply_cu(c, r, "reading the event");
		return;
	}
	cd_call_reply_json(c, 200, event_json(&e));
}

static int
stream_event(struct call *c, const struct cu_evrec *e)
{
	json_t *o = event_json(e);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL)
		return 0;
	/* JSON has no raw line break: one data line */
	size_t len = strlen(s) + strlen(e->id) + 40;
	char *msg = malloc(len);
	int r = -1;
	if (msg != NULL) {
		int k = snprintf(msg, len, "id: %s\nevent: event\ndata: %s\n\n", e->id, s);
		r = k < 0 || (size_t)k >= len ? -1 : cd_stream_write(c->r, msg, (size_t)k);
	}
	free(msg);
	free(s);
	return r;
}

void
cd_api_events_stream(struct call *c)
{
	if (need_db(c) == NULL)
		return;
	if (atomic_fetch_add(&nstreams, 1) >= STREAMS_MAX) {
		atomic_fetch_sub(&nstreams, 1);
		cd_reply_header(c->r, "Retry-After", "10");
		cd_reply_error(c->r, 503, "busy", "%d event streams are open: try again later",
		               STREAMS_MAX);
		return;
	}
	uint64_t cursor = cd_notify_cursor();
	int r = cd_stream_begin(c->r, 200, "text/event-stream");
	if (r < 0) {
		atomic_fetch_sub(&nstreams, 1);
		cd_reply_header(c->r, "Retry-After", "10");
		cd_call_reply_cu(c, r, "opening the event stream");
		return;
	}
	static const char hello[] = ": custody events\n\n";
	bool ok = cd_stream_write(c->r, hello, sizeof(hello) - 1) == 0;
	int64_t end = cu_time_mono_us() + STREAM_MAX_US;
	int64_t beat = cu_time_mono_us() + STREAM_HEARTBEAT_US;
	while (ok && cu_time_mono_us() < end && !cd_stream_gone(c->r)) {
		struct cu_evrec e;
		/* in short turns, to see the server stop */
		int k = cd_notify_next(&cursor, STREAM_POLL_US, &e);
		if (k == -2)
			break; /* custodyd stops */
		if (k < 0) { /* lagged: say so, the client re-reads GET /events */
			static const char lag[] = "event: lost\ndata: {}\n\n";
			ok = cd_stream_write(c->r, lag, sizeof(lag) - 1) == 0;
			continue;
		}
		if (k == 0) {
			if (cu_time_mono_us() < beat)
				continue;
			static const char hb[] = ": heartbeat\n\n";
			ok = cd_stream_write(c->r, hb, sizeof(hb) - 1) == 0;
			beat = cu_time_mono_us() + STREAM_HEARTBEAT_US;
			continue;
		}
		if (visible_now(c, e.camera))
			ok = stream_event(c, &e) == 0;
	}
	cd_stream_end(c->r, ok);
	atomic_fetch_sub(&nstreams, 1);
	cd_log(CD_INFO, "event stream of %s ended", c->user);
}
