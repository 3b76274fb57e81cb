/* The body of POST /api/v1/exports (export_body.h). */
#include <stdlib.h>
#include <string.h>

#include "custody/auth.h"
#include "custody/media.h"
#include "custody/text.h"
#include "export.h"
#include "export_body.h"
#include "still.h"

static int
by_time(const void *a, const void *b)
{
	const struct cd_still *x = a, *y = b;
	if (x->cam != y->cam)
		return x->cam < y->cam ? -1 : 1;
	return x->at_us < y->at_us ? -1 : x->at_us > y->at_us;
}

/* One member of "cameras": its name (each once) and either a range or,
 * for stills, "at" times (counted in *nat). */
static int
camera(json_t *v, size_t i, struct cd_export_body *b, size_t *nat, size_t *nrange_stills,
       struct cd_refusal *e)
{
	static const char *const range_fields[] = {"camera", "from", "to", NULL};
	static const char *const still_fields[] = {"camera", "from", "to", "at", NULL};
	bool stills = b->format == CU_EXPORT_STILLS;
	struct cu_pkg_range *rg = &b->ranges[i];
	const char *cam;
	if (!json_is_object(v))
		return cd_refuse(e, 400, "invalid", "\"cameras\"[%zu] must be an object {\"camera\", "
		                 "\"from\", \"to\"}", i);
	if (cd_body_only_fields(v, stills ? still_fields : range_fields, e) < 0 ||
	    cd_body_str(v, "camera", true, CU_CAMERA_NAME_MAX, &cam, e) < 0)
		return -1;
	for (size_t k = 0; k < i; k++)
		if (strcmp(b->ranges[k].camera, cam) == 0)
			return cd_refuse(e, 400, "invalid", "camera %s is named twice in \"cameras\"",
			                 cam);
	memcpy(rg->camera, cam, strlen(cam) + 1); /* at most CU_CAMERA_NAME_MAX bytes, checked */
	json_t *at = json_object_get(v, "at");
	if (at != NULL && !json_is_null(at)) {
		if (json_object_get(v, "from") != NULL || json_object_get(v, "to") != NULL)
			return cd_refuse(e, 400, "invalid", "\"cameras\"[%zu]: give \"at\" or \"from\" "
			                 "and \"to\", not both", i);
		if (!json_is_array(at) || json_array_size(at) == 0)
			return cd_refuse(e, 400, "invalid", "\"cameras\"[%zu].at must be a list of "
			                 "times", i);
		b->by_times = true;
		*nat += json_array_size(at);
		return 0;
	}
	int64_t from = 0, to = 0;
	if (cd_body_time(v, "from", true, &from, e) < 0 || cd_body_time(v, "to", true, &to, e) < 0)
		return -1;
	if (to <= from || to - from > CU_PKG_RANGE_MAX_US)
		return cd_refuse(e, 400, "invalid", "\"cameras\"[%zu]: the range must end after it "
		                 "starts and be at most %lld s long", i,
		                 (long long)(CU_PKG_RANGE_MAX_US / 1000000));
	rg->from_us = from;
	rg->to_us = to;
	if (stills)
		*nrange_stills += (size_t)((to - from + CD_STILL_STEP_US - 1) / CD_STILL_STEP_US);
	return 0;
}

/* The "at" times of camera i into b->stills; its range becomes the span
 * they cover, verified before the stills are made. */
static int
at_times(json_t *v, size_t i, struct cd_export_body *b, struct cd_refusal *e)
{
	struct cu_pkg_range *rg = &b->ranges[i];
	json_t *at = json_object_get(v, "at"), *t;
	size_t k;
	int64_t lo = INT64_MAX, hi = 0;
	json_array_foreach(at, k, t) {
		json_t *holder = json_pack("{s:O}", "at", t);
		int64_t us = 0;
		if (holder == NULL)
			return cd_refuse(e, 503, "busy", "out of memory");
		int ok = cd_body_time(holder, "at", true, &us, e);
		json_decref(holder);
		if (ok < 0)
			return -1;
		b->stills[b->nstills++] = (struct cd_still){i, us};
		lo = us < lo ? us : lo;
		hi = us > hi ? us : hi;
	}
	if (hi - lo > CU_PKG_RANGE_MAX_US)
		return cd_refuse(e, 400, "invalid", "\"cameras\"[%zu].at spans more than %lld s", i,
		                 (long long)(CU_PKG_RANGE_MAX_US / 1000000));
	rg->from_us = lo;
	rg->to_us = hi + CD_STILL_WINDOW_US;
	return 0;
}

/* The stills of a stills export: one a second of each range, or the "at"
 * times; sorted, each camera and moment once. */
static int
stills(json_t *arr, struct cd_export_body *b, size_t nat, size_t nrange_stills,
       struct cd_refusal *e)
{
	if (b->by_times && nrange_stills > 0)
		return cd_refuse(e, 400, "invalid", "a stills export takes \"at\" times for every "
		                 "camera or ranges for every camera, not a mix");
	if (nat > CD_EXPORT_AT_MAX || nrange_stills > CD_EXPORT_STILLS_MAX)
		return cd_refuse(e, 413, "too_large", "a stills export holds at most %d \"at\" times, "
		                 "or %d stills (one a second of the ranges): %zu asked for",
		                 CD_EXPORT_AT_MAX, CD_EXPORT_STILLS_MAX, b->by_times ? nat : nrange_stills);
	size_t n = b->by_times ? nat : nrange_stills;
	if ((b->stills = calloc(n ? n : 1, sizeof(*b->stills))) == NULL)
		return cd_refuse(e, 503, "busy", "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		const struct cu_pkg_range *rg = &b->ranges[i];
		if (!b->by_times) {
			for (int64_t t = rg->from_us; t < rg->to_us; t += CD_STILL_STEP_US)
				b->stills[b->nstills++] = (struct cd_still){i, t};
		} else if (at_times(v, i, b, e) < 0) {
			return -1;
		}
	}
	qsort(b->stills, b->nstills, sizeof(*b->stills), by_time);
	/* one still per camera and moment: a time given twice is one member */
	size_t kept = 0;
	for (size_t k = 0; k < b->nstills; k++)
		if (kept == 0 || by_time(&b->stills[kept - 1], &b->stills[k]) != 0)
			b->stills[kept++] = b->stills[k];
	b->nstills = kept;
	return 0;
}

static int
cameras(json_t *arr, struct cd_export_body *b, struct cd_refusal *e)
{
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > CU_PKG_CAMERAS_MAX)
		return cd_refuse(e, 400, "invalid", "\"cameras\" must be a list of 1 to %d objects "
		                 "{\"camera\", \"from\", \"to\"}", CU_PKG_CAMERAS_MAX);
	if (b->format == CU_EXPORT_MP4 && json_array_size(arr) != 1)
		return cd_refuse(e, 400, "invalid", "an mp4 export holds one camera: export the "
		                 "cameras one by one, or as an evidence package");
	size_t i, nat = 0, nrange_stills = 0;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (camera(v, i, b, &nat, &nrange_stills, e) < 0)
			return -1;
	b->nranges = json_array_size(arr);
	return b->format == CU_EXPORT_STILLS ? stills(arr, b, nat, nrange_stills, e) : 0;
}

int
cd_export_body_parse(json_t *o, struct cd_export_body *ret, struct cd_refusal *e)
{
	static const char *const fields[] = {"format", "profile", "cameras", "case", "comments",
	                                     "password", "encrypt", "prevent_reexport",
	                                     "include_player", NULL};
	struct cd_export_body body = {.case_ref = "", .encrypt = -1, .prevent_reexport = -1,
	                              .include_player = -1};
	struct cd_export_body *b = &body;
	const char *fmt;
	if (cd_body_only_fields(o, fields, e) < 0 ||
	    cd_body_str(o, "password", false, CU_PKG_PASSWORD_MAX, &b->password, e) < 0 ||
	    cd_body_str(o, "format", true, 16, &fmt, e) < 0 ||
	    cd_body_str(o, "profile", false, CU_PROFILE_NAME_MAX, &b->profile, e) < 0 ||
	    cd_body_text(o, "case", false, CU_PKG_CASE_MAX, 0, &b->case_ref, e) < 0 ||
	    cd_body_text(o, "comments", false, CU_PKG_COMMENTS_MAX, CU_TEXT_MULTILINE, &b->comments,
	                 e) < 0 ||
	    cd_body_bool(o, "encrypt", &b->encrypt, e) < 0 ||
	    cd_body_bool(o, "prevent_reexport", &b->prevent_reexport, e) < 0 ||
	    cd_body_bool(o, "include_player", &b->include_player, e) < 0)
		goto fail;
	if (cu_auth_export_format_parse(fmt, &b->format) < 0) {
		cd_refuse(e, 400, "invalid", "\"format\" must be evidence, mp4 or stills");
		goto fail;
	}
	if (cameras(json_object_get(o, "cameras"), b, e) < 0)
		goto fail;
	*ret = body;
	return 0;
fail:
	cd_export_body_free(b);
	return -1;
}

void
cd_export_body_free(struct cd_export_body *b)
{
	if (b == NULL)
		return;
	free(b->stills);
	b->stills = NULL;
	b->nstills = 0;
}
