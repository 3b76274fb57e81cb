/* Live view: the recording threads hand every frame they store to the
 * viewers of that camera; each viewer has its own fragmented-MP4 writer
 * whose bytes go out as WebSocket messages (one per fragment, the first
 * carrying the file header). A viewer that falls more than CD_WS_QUEUE_MAX
 * bytes behind is disconnected rather than slowing the recording. */
#ifndef CD_LIVE_H
#define CD_LIVE_H

#include <stddef.h>

#include "custody/media.h"
#include "http.h"

#define CD_LIVE_VIEWERS_MAX 256

struct cd_live;
struct cd_viewer;

int cd_live_new(struct cd_live **ret);
void cd_live_free(struct cd_live *l);   /* every viewer must be gone */

/* From a recording thread, after the frame is stored. Cheap with no viewers. */
void cd_live_publish(struct cd_live *l, const char *camera, const cu_frame *f);

/* Adds a viewer of camera whose bytes go to ws. CU_ERR_BUSY past
 * CD_LIVE_VIEWERS_MAX. */
int cd_live_subscribe(struct cd_live *l, const char *camera, struct cd_ws *ws,
                      struct cd_viewer **ret);
/* Removes it; no message is sent to its ws once this returns. Returns the
 * bytes and frames it was sent. */
void cd_live_unsubscribe(struct cd_live *l, struct cd_viewer *v, uint64_t *ret_bytes,
                         uint64_t *ret_frames);

#endif
