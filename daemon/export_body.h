/* The body of POST /api/v1/exports (docs/api.md), read and checked without
 * answering anything: a pure function of the JSON, with a fuzz target
 * (fuzz/fuzz-export-body.c). The permissions, the profile and the room on
 * disk are export.c's, after this. */
#ifndef CD_EXPORT_BODY_H
#define CD_EXPORT_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "body.h"
#include "custody/package.h"

#define CD_STILL_STEP_US INT64_C(1000000)   /* stills of a range: one a second */

/* One still of a stills export: a camera (index into ranges) and a moment. */
struct cd_still {
	size_t cam;
	int64_t at_us;
};

/* What the body asks for. The strings point into the parsed JSON, which
 * the caller keeps while it uses them. */
struct cd_export_body {
	unsigned format;                     /* one CU_EXPORT_* */
	const char *profile;                 /* NULL: not named */
	const char *case_ref;                /* "" when absent */
	const char *comments;                /* NULL: none */
	const char *password;                /* NULL: none (a secret: the caller wipes it) */
	int encrypt, prevent_reexport, include_player; /* 1, 0, -1 not asked */
	struct cu_pkg_range ranges[CU_PKG_CAMERAS_MAX];
	size_t nranges;
	bool by_times;                       /* stills at "at" times, not one a second */
	struct cd_still *stills;             /* stills exports: sorted, no duplicates (malloc'd) */
	size_t nstills;
};

/* Reads and checks o (the body, an object): fields known, types and
 * lengths, text under the one rule, the format, 1 to CU_PKG_CAMERAS_MAX
 * cameras each once with a range of at most CU_PKG_RANGE_MAX_US (one for
 * mp4), stills as "at" times or ranges (not a mix) within their limits.
 * 0 with *ret filled (release with cd_export_body_free), or -1 with e. */
int cd_export_body_parse(json_t *o, struct cd_export_body *ret, struct cd_refusal *e);
void cd_export_body_free(struct cd_export_body *b);

#endif
