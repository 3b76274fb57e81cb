/* /api/v1/cameras: the cameras a caller may see, one camera, its recorded
 * ranges (docs/api.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "camstate.h"
#include "custody/time.h"
#include "custody/error.h"

/* ---- cameras ---- */

/* The ingest's state of cam (camstate.h) as "state", "state_since",
 * "state_reason"; returns o. */
static json_t *
with_state(json_t *o, const char *cam)
{
	struct cd_camstate st;
	cd_camstate_get(cam, &st);
	json_object_set_new(o, "state", json_string(cd_camstate_name(st.state)));
	json_object_set_new(o, "state_since", st.since_us > 0 ? cd_json_time(st.since_us)
	                                                      : json_null());
	json_object_set_new(o, "state_reason", st.reason[0] != '\0' ? json_string(st.reason)
	                                                              : json_null());
	return o;
}

void
cd_api_cameras(struct call *c)
{
	struct cu_store_info *in;
	int r = cu_store_info(c->a->store, &in);
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading the cameras");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < in->ncameras; i++) {
		const struct cu_info_camera *cam = &in->cameras[i];
		unsigned mask = 0;
		if (cu_auth_functions(c->a->auth, c->user, cam->name, &mask) < 0 || mask == 0)
			continue;
		json_array_append_new(arr, with_state(json_pack("{s:s, s:b, s:o, s:o, s:o}", "name",
		                                                cam->name, "recording", cam->recording,
		                                                "first", cd_json_time(cam->first_us),
		                                                "last", cd_json_time(cam->last_us),
		                                                "functions", cd_functions_json(mask)),
		                                      cam->name));
	}
	cu_store_info_free(in);
	cd_call_reply_json(c, 200, json_pack("{s:o}", "cameras", arr));
}

/* GET /cameras/{cam}: any function shows it. */
void
cd_api_camera_get(struct call *c)
{
	const char *cam = c->segs[1];
	unsigned mask = 0;
	int r = cu_camera_name_check(cam) == 0
	        ? cu_auth_functions(c->a->auth, c->user, cam, &mask) : 0;
	if (r < 0) {
		cd_call_reply_cu(c, r, "checking permissions");
		return;
	}
	struct cu_store_info *in;
	if (mask == 0 || (r = cu_store_info(c->a->store, &in)) < 0) {
		if (r < 0)
			cd_call_reply_cu(c, r, "reading the cameras");
		else
			cd_reply_error(c->r, 404, "not_found", "no camera \"%.64s\"", cam);
		return;
	}
	for (size_t i = 0; i < in->ncameras; i++) {
		const struct cu_info_camera *x = &in->cameras[i];
		if (strcmp(x->name, cam) != 0)
			continue;
		json_t *o = json_pack("{s:s, s:b, s:o, s:o, s:I, s:I, s:o}", "name", x->name,
		                      "recording", x->recording, "first", cd_json_time(x->first_us), "last",
		                      cd_json_time(x->last_us), "segments", (json_int_t)x->segments, "bytes",
		                      (json_int_t)x->bytes, "functions", cd_functions_json(mask));
		with_state(o, x->name);
		cu_store_info_free(in);
		cd_call_reply_json(c, 200, o);
		return;
	}
	cu_store_info_free(in);
	cd_reply_error(c->r, 404, "not_found", "no camera \"%s\"", cam);
}

/* GET /cameras/{cam}/ranges?from=&to=&limit= */
void
cd_api_ranges(struct call *c)
{
	const char *cam = c->segs[1];
	if (cd_call_need_camera(c, cam, CU_FN_PLAYBACK) < 0)
		return;
	int64_t from = 0, to = 0;
	if (cd_call_query_time(c, "from", &from) < 0 || cd_call_query_time(c, "to", &to) < 0)
		return;
	if (to != 0 && to < from) {
		cd_reply_error(c->r, 400, "invalid", "\"to\" is before \"from\"");
		return;
	}
	struct cu_range *rg = NULL;
	size_t n = 0;
	bool more = false;
	int r = cu_store_ranges(c->a->store, cam, from, to, CD_GAP_TOLERANCE_US,
	                        CD_RANGES_DEFAULT, &rg, &n, &more);
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading the recordings");
		return;
	}
	json_t *ranges = json_array(), *gaps = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(ranges, json_pack("{s:o, s:o}", "from", cd_json_time(rg[i].from_us),
		                                        "to", cd_json_time(rg[i].to_us)));
		if (i > 0)
			json_array_append_new(gaps, cd_gap_json(c, cam, rg[i - 1].to_us, rg[i].from_us,
			                                        i <= CD_GAP_REASONS_MAX));
	}
	free(rg);
	cd_call_reply_json(c, 200, json_pack("{s:s, s:o, s:o, s:b}", "camera", cam, "ranges", ranges,
	                             "gaps", gaps, "truncated", more));
}
