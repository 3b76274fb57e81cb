/* Fuzz target: the body of POST /api/v1/exports (daemon/export_body.c,
 * cd_export_body_parse), parsed from JSON as custodyd parses it.
 *
 * Property: an accepted body has a known format, 1 to CU_PKG_CAMERAS_MAX
 * cameras each named once (at most CU_CAMERA_NAME_MAX bytes) with a range that ends after it
 * starts and lasts at most CU_PKG_RANGE_MAX_US (one camera for mp4), text
 * under the one rule, and for stills a sorted list without duplicates of
 * moments of its cameras, within the limits; a refusal has a status and a
 * message; parsing never reads past the input. */
#include <stdlib.h>
#include <string.h>

#include "custody/auth.h"
#include "custody/media.h"
#include "custody/store.h"
#include "custody/text.h"
#include "export.h"
#include "export_body.h"
#include "fuzz.h"

static void
check(const struct cd_export_body *b)
{
	if (b->format != CU_EXPORT_EVIDENCE && b->format != CU_EXPORT_MP4 &&
	    b->format != CU_EXPORT_STILLS)
		abort();
	if (b->nranges == 0 || b->nranges > CU_PKG_CAMERAS_MAX ||
	    (b->format == CU_EXPORT_MP4 && b->nranges != 1))
		abort();
	for (size_t i = 0; i < b->nranges; i++) {
		const struct cu_pkg_range *g = &b->ranges[i];
		/* any name of at most CU_CAMERA_NAME_MAX bytes, "" too: export.c answers a name that is
		 * no camera (or none the caller may see) 404, after this */
		size_t cl = strnlen(g->camera, sizeof(g->camera));
		if (cl > CU_CAMERA_NAME_MAX || g->to_us <= g->from_us ||
		    (!b->by_times && g->to_us - g->from_us > CU_PKG_RANGE_MAX_US))
			abort();
		for (size_t k = 0; k < i; k++)
			if (strcmp(b->ranges[k].camera, g->camera) == 0)
				abort();
	}
	if (cu_text_check(b->case_ref, strlen(b->case_ref), CU_PKG_CASE_MAX, 0) < 0 ||
	    (b->comments != NULL && cu_text_check(b->comments, strlen(b->comments),
	                                          CU_PKG_COMMENTS_MAX, CU_TEXT_MULTILINE) < 0))
		abort();
	if (b->format != CU_EXPORT_STILLS) {
		if (b->stills != NULL || b->nstills != 0)
			abort();
		return;
	}
	if (b->nstills > CD_EXPORT_STILLS_MAX)
		abort();
	for (size_t k = 0; k < b->nstills; k++) {
		const struct cd_still *s = &b->stills[k];
		if (s->cam >= b->nranges)
			abort();
		if (k > 0 && (s->cam < s[-1].cam || (s->cam == s[-1].cam && s->at_us <= s[-1].at_us)))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	/* as cd_call_body_json parses a body */
	json_t *o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	                       &err);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return 0;
	}
	struct cd_export_body b;
	struct cd_refusal e;
	if (cd_export_body_parse(o, &b, &e) == 0) {
		check(&b);
		cd_export_body_free(&b);
	} else if (e.status < 400 || e.status > 599 || e.code == NULL || e.message[0] == '\0') {
		abort();
	}
	json_decref(o);
	return 0;
}
