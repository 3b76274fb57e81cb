/* Camera-reported events over ONVIF (onvif.c, docs/onvif-events.md). */
#ifndef CD_ONVIF_H
#define CD_ONVIF_H

struct cd_cam;

/* Starts the camera's ONVIF event thread when its configuration has
 * `onvif =`; a no-op otherwise. A failure (unreadable credentials, no
 * thread) is logged and raised as onvif.unavailable; recording goes on. */
int cd_onvif_start(struct cd_cam *c);

/* Stops the thread (it unsubscribes first, at most one request's timeout)
 * and frees its state. Sets c->stop. A no-op when none runs. */
void cd_onvif_stop(struct cd_cam *c);

#endif
