/* Media: verified fMP4 playback, JPEG stills and signed media URLs
 * (docs/api.md, docs/media-output.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "custody/mux.h"
#include "custody/time.h"
#include "still.h"
#include "daemon.h"
#include "custody/error.h"
#include "custody/file.h"

/* ---- media ---- */

static void
audit_view(struct call *c, const char *type, json_t *detail)
{
	if (!c->a->audit_views) {
		json_decref(detail);
		return;
	}
	json_object_set_new(detail, "session", json_string(c->session));
	cd_call_audit(c, type, detail);
}

struct playback {
	struct call *c;
	cu_mp4 *mp4;
	bool started;
	int err;
};

static int
pb_write(void *ctx, const uint8_t *data, size_t len)
{
	struct playback *p = ctx;
	if (!p->started) {
		/* The muxer writes its first bytes once the first key frame fixed the
		 * file's time 0 (t0, docs/media-output.md): the head can name it, so
		 * that a browser shows each picture's recorded time. */
		struct cu_mp4_info mi;
		char t0[CU_TIME_ISO_MAX];
		cu_mp4_info(p->mp4, &mi);
		if (mi.first_us >= 0 && cu_time_text(mi.first_us, t0))
			cd_reply_header(p->c->r, "Custody-Media-Start", t0);
		int r = cd_stream_begin(p->c->r, 200, "video/mp4");
		if (r < 0)
			return r;
		p->started = true;
	}
	return cd_stream_write(p->c->r, data, len);
}

static int
pb_frame(void *ctx, const cu_frame *f)
{
	struct playback *p = ctx;
	int r = cu_mp4_frame(p->mp4, f);
	if (r == CU_ERR_FORMAT || r == CU_ERR_UNSUPPORTED || r == CU_ERR_INVAL || r == CU_ERR_LIMIT)
		return 0; /* a frame that cannot go in this file is left out */
	return r < 0 ? r : 0;
}

/* GET /cameras/{cam}/playback/{from}/{to} */
void
cd_api_playback(struct call *c)
{
	const char *cam = c->segs[1];
	if (cd_call_need_camera(c, cam, CU_FN_PLAYBACK) < 0)
		return;
	int64_t from, to;
	if (cd_call_path_time(c, c->segs[3], "start", &from) < 0 || cd_call_path_time(c, c->segs[4], "end", &to) < 0)
		return;
	if (to <= from || to - from > CD_PLAYBACK_MAX_US) {
		cd_reply_error(c->r, 400, "invalid", "the range must end after it starts and be at "
		               "most %lld s long", (long long)(CD_PLAYBACK_MAX_US / 1000000));
		return;
	}
	int r = cd_stream_reserve(c->r);
	if (r < 0) {
		cd_call_reply_cu(c, r, "playback");
		return;
	}
	/* Verify the range first, so that tampering is answered as such before
	 * any media goes out; cu_store_read checks again as it serves. */
	struct cu_verify_opts vo = {.camera = cam, .from_us = from, .to_us = to, .threads = 1};
	struct cu_verify_report *rep = NULL;
	r = cu_store_verify(c->a->store, &vo, &rep);
	if (r < 0) {
		cd_call_reply_cu(c, r, "verifying the recording");
		return;
	}
	if (rep->tampered) {
		const struct cu_verify_camera *vc = &rep->cameras[rep->first_failure];
		char when[CU_TIME_ISO_MAX];
		cu_time_text(vc->fail_time_us, when);
		json_t *e = json_pack("{s:{s:s, s:s, s:s, s:s, s:I, s:s}}", "error", "code",
		                      "tampered", "message",
		                      "the recording in this range failed verification and is not "
		                      "served", "camera", cam, "failed_segment_start", when,
		                      "segment", (json_int_t)vc->fail_segment, "reason",
		                      vc->fail_reason);
		cd_log(CD_WARN, "playback of %s refused: tampered from %s: %s", cam, when,
		       vc->fail_reason);
		cd_call_audit(c, "playback.refused_tampered",
		      json_pack("{s:s, s:o, s:o, s:s}", "camera", cam, "from", cd_json_time(from), "to",
		                cd_json_time(to), "failed_segment_start", when));
		cu_verify_report_free(rep);
		cd_call_reply_json(c, 409, e);
		return;
	}
	cu_verify_report_free(rep);
	struct playback p = {.c = c};
	struct cu_mp4_opts mo = {.fragmented = true, .write = pb_write, .ctx = &p, .camera = cam};
	if ((r = cu_mp4_new(&mo, &p.mp4)) < 0) {
		cd_call_reply_cu(c, r, "starting the MP4 writer");
		return;
	}
	audit_view(c, "view.playback", json_pack("{s:s, s:o, s:o}", "camera", cam, "from",
	                                         cd_json_time(from), "to", cd_json_time(to)));
	struct cu_read_info ri;
	r = cu_store_read(c->a->store, cam, from, to, pb_frame, &p, &ri);
	if (r == 0)
		r = cu_mp4_finish(p.mp4);
	cu_mp4_free(p.mp4);
	if (p.started) {
		if (r < 0)
			cd_log(CD_WARN, "playback of %s cut off: %s", cam, cu_error_detail());
		cd_stream_end(c->r, r == 0);
		return;
	}
	if (r == CU_ERR_NOTFOUND || (r == 0 && !p.started))
		cd_reply_error(c->r, 404, "no_recording", "camera %s has no video that starts "
		               "with a key frame in this range", cam);
	else if (r == CU_ERR_BUSY)
		cd_call_reply_cu(c, r, "playback");
	else
		cd_call_reply_cu(c, r, "reading the recording");
}

/* GET /cameras/{cam}/still/{at} */
void
cd_api_still(struct call *c)
{
	const char *cam = c->segs[1];
	if (cd_call_need_camera(c, cam, CU_FN_PLAYBACK) < 0)
		return;
	int64_t at;
	if (cd_call_path_time(c, c->segs[3], "still", &at) < 0)
		return;
	uint8_t *jpeg = NULL;
	size_t jlen = 0;
	int r = cd_still_at(c->a->store, cam, at, &jpeg, &jlen);
	if (r == CU_ERR_TAMPERED) {
		cd_reply_error(c->r, 409, "tampered", "the recording at this moment failed "
		               "verification and is not served: %s", cu_error_detail());
	} else if (r == CU_ERR_NOTFOUND) {
		cd_reply_error(c->r, 404, "no_recording", "camera %s has no picture at this moment",
		               cam);
	} else if (r < 0) {
		cd_call_reply_cu(c, r, "making the still");
	} else {
		audit_view(c, "view.still", json_pack("{s:s, s:o}", "camera", cam, "at", cd_json_time(at)));
		cd_reply_header(c->r, "Content-Disposition", "inline; filename=\"still.jpg\"");
		cd_reply_owned(c->r, 200, "image/jpeg", jpeg, jlen);
	}
}

/* POST /media-urls {"path": "/api/v1/cameras/X/playback/A/B"} */
void
cd_api_media_url(struct call *c)
{
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"path", NULL};
	const char *path;
	if (cd_call_only_fields(c, o, f) < 0 || cd_call_str_field(c, o, "path", true, CU_URL_PATH_MAX, &path) < 0) {
		json_decref(o);
		return;
	}
	char buf[CU_URL_PATH_MAX + 1];
	int r = cd_call_copy(c, buf, sizeof(buf), path, "path");
	json_decref(o);
	if (r < 0)
		return;
	/* only media paths, and only what the caller may see */
	char tmp[CU_URL_PATH_MAX + 1];
	memcpy(tmp, buf, sizeof(tmp));
	const char *seg[8];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(tmp, "/", &save); t && n < 8; t = strtok_r(NULL, "/", &save))
		seg[n++] = t;
	bool media = n >= 5 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0 &&
	             strcmp(seg[2], "cameras") == 0 &&
	             ((n == 7 && strcmp(seg[4], "playback") == 0) ||
	              (n == 6 && strcmp(seg[4], "still") == 0) ||
	              (n == 5 && strcmp(seg[4], "live") == 0));
	if (!media || buf[0] != '/' || strstr(buf, "//") != NULL) {
		cd_reply_error(c->r, 400, "invalid", "only /api/v1/cameras/{camera}/playback/{from}/"
		               "{to}, .../still/{at} and .../live can be signed");
		return;
	}
	if (cd_call_need_camera(c, seg[3], strcmp(seg[4], "live") == 0 ? CU_FN_LIVE : CU_FN_PLAYBACK) < 0)
		return;
	char q[CU_URL_QUERY_MAX];
	r = cu_auth_sign_url(c->a->auth, c->user, "GET", buf, CU_URL_LIFETIME_MAX, q, sizeof(q));
	if (r < 0) {
		cd_call_reply_cu(c, r, "signing the URL");
		return;
	}
	char url[CU_URL_PATH_MAX + CU_URL_QUERY_MAX + 2];
	if ((r = cu_path(url, sizeof(url), "%s?%s", buf, q)) < 0) {
		cd_call_reply_cu(c, r, "signing the URL");
		return;
	}
	cd_call_reply_json(c, 200, json_pack("{s:s, s:o}", "url", url, "expires",
	                             cd_json_time(cu_time_now_us() + CU_URL_LIFETIME_MAX)));
}
