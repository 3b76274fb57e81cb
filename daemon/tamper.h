/* custodyd: video tamper analysis of one camera, off its recording path
 * (docs/tamper-analysis.md). */
#ifndef CD_TAMPER_H
#define CD_TAMPER_H

#include <stdint.h>

#include "config.h"
#include "custody/media.h"

struct cd_tamper;

/* Starts the camera's analysis thread. Returns 0 with *ret, or a negative
 * cu_err (logged by the caller). */
int cd_tamper_start(const char *camera, const struct cd_tamper_conf *conf,
                    struct cd_tamper **ret);

/* From the recording thread, after a frame is stored: a video key frame is
 * copied for the analysis when the interval has passed and the analysis is
 * not still busy with the last one; anything else returns at once. Never
 * blocks on the analysis. NULL t is fine (analysis off). */
void cd_tamper_offer(struct cd_tamper *t, const cu_frame *f);

/* Stops the thread and frees everything; logs the counters. NULL is fine. */
void cd_tamper_stop(struct cd_tamper *t);

#endif
