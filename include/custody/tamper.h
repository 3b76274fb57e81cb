/* custody — video tamper analysis: a covered lens, a picture out of focus, a
 * camera moved (docs/tamper-analysis.md).
 *
 * One analyser per camera. It is given decoded key frames (or, for tests, grey
 * pictures) about once a second, in time order; each picture is measured and
 * each condition is confirmed only when it has held for the persistence, and
 * cleared only when it has been gone for as long. The analyser learns the
 * camera's own sharpness and a reference picture during its first seconds
 * (learn_us) and adapts both slowly while nothing is raised. */
#ifndef CUSTODY_TAMPER_H
#define CUSTODY_TAMPER_H

#include <stdbool.h>
#include <stdint.h>

#include "custody/media.h"

/* The grey picture every measurement is made on. */
#define CU_TAMPER_W 320
#define CU_TAMPER_H 180
/* Largest decoded picture accepted: width or height, and width x height. */
#define CU_TAMPER_SIDE_MAX 8192
#define CU_TAMPER_PIXELS_MAX (8192u * 4320)

/* Bounds of the options (µs). */
#define CU_TAMPER_PERSIST_DEFAULT_US (3 * INT64_C(1000000))
#define CU_TAMPER_PERSIST_MAX_US (600 * INT64_C(1000000))
#define CU_TAMPER_LEARN_DEFAULT_US (30 * INT64_C(1000000))
#define CU_TAMPER_LEARN_MAX_US (3600 * INT64_C(1000000))

enum cu_tamper_kind {
	CU_TAMPER_COVERED = 0,     /* nearly uniform or dark picture */
	CU_TAMPER_DEFOCUSED = 1,   /* sharpness far below the learned baseline */
	CU_TAMPER_MOVED = 2,       /* the scene shifted or changed against the reference */
	CU_TAMPER_KINDS = 3,
};

typedef struct cu_tamper cu_tamper;

struct cu_tamper_opts {
	int64_t persistence_us;     /* a condition must hold this long; 0 = 3 s (1 ms..600 s) */
	int64_t learn_us;           /* baseline learning; 0 = 30 s (1 ms..1 h) */
};

/* What the last picture measured (for people, logs and the replay tool). */
struct cu_tamper_measure {
	int64_t t_us;               /* the picture's time */
	double mean;                /* luma 0..255 */
	double dark;                /* fraction of pixels darker than the dark level */
	double uniform;             /* fraction within a few levels of the median */
	double sharpness;           /* median over the textured tiles of each one's
	                               sharpness against its learned baseline: 1 as
	                               learned; 0 unknown (learning, too few tiles) */
	int tiles;                  /* tiles judged */
	int shift_x, shift_y;       /* displacement found by phase correlation, pixels of
	                               the 160x90 half picture */
	double peak;                /* phase-correlation peak, 0..1 */
	double similarity;          /* correlation with the reference at the better of no
	                               shift and the found shift, -1..1 */
	bool learning;
	bool seen[CU_TAMPER_KINDS]; /* the condition is seen in this picture */
};

struct cu_tamper_stats {
	uint64_t analysed;          /* pictures measured */
	uint64_t decode_failed;     /* frames that gave no usable picture */
	uint64_t raised[CU_TAMPER_KINDS];
};

/* Makes an analyser; o may be NULL for the defaults. CU_ERR_INVAL names an
 * option out of its bounds; CU_ERR_NOMEM. */
int cu_tamper_new(const struct cu_tamper_opts *o, cu_tamper **ret);

/* Frees it (and its decoder). NULL is fine. */
void cu_tamper_free(cu_tamper *t);

/* Decodes one video key frame (H.264 or H.265 Annex B with its parameter
 * sets, or MJPEG) and analyses its picture. *ret_changes gets a bit (1 << kind)
 * for each condition raised or cleared by this picture (cu_tamper_active says
 * which). A frame that does not decode, or decodes to a picture over the size
 * limits, is counted in decode_failed and is CU_ERR_MEDIA / CU_ERR_LIMIT /
 * CU_ERR_UNSUPPORTED; the analyser stays usable. Frames must come in time
 * order; an earlier one is CU_ERR_INVAL. */
int cu_tamper_frame(cu_tamper *t, const cu_frame *f, unsigned *ret_changes);

/* Analyses a grey picture of CU_TAMPER_W x CU_TAMPER_H full-range luma bytes
 * (row after row) taken at t_us; as cu_tamper_frame otherwise. */
int cu_tamper_grey(cu_tamper *t, const uint8_t *grey, int64_t t_us, unsigned *ret_changes);

/* Is the condition raised now? */
bool cu_tamper_active(const cu_tamper *t, int kind);

/* The last picture's measurements; counters. */
void cu_tamper_last(const cu_tamper *t, struct cu_tamper_measure *ret);
void cu_tamper_stats(const cu_tamper *t, struct cu_tamper_stats *ret);

/* "covered", "defocused", "moved"; "unknown" for anything else. */
const char *cu_tamper_name(int kind);

/* One line for a person about the condition in the last picture (what was
 * measured against which threshold), cut to fit out (len >= 1). */
void cu_tamper_describe(const cu_tamper *t, int kind, char *out, size_t len);

#endif
