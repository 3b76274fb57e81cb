/* What each camera's ingest is doing now, for the API (GET /cameras: the
 * live tiles' "state", "state_since", "state_reason"). Written by the camera
 * threads (camera.c), read by the HTTPS workers; one mutex guards it. */
#ifndef CD_CAMSTATE_H
#define CD_CAMSTATE_H

#include <stdint.h>

#include "custody/store.h"

enum cd_cam_state {
	CD_CAM_STOPPED,                   /* no writer: not configured, stopped, or writing failed */
	CD_CAM_OFFLINE,                   /* the ingest cannot reach or receive the camera */
	CD_CAM_RECORDING,                 /* frames arrive and are stored */
};

#define CD_CAMSTATE_REASON_MAX 160      /* bytes of a reason; longer ones are cut at a character */
#define CD_CAMSTATE_MAX 1024            /* cameras remembered (stopped ones are forgotten first) */

struct cd_camstate {
	enum cd_cam_state state;
	int64_t since_us;                 /* when the state began; 0 unknown */
	char reason[CD_CAMSTATE_REASON_MAX + 1]; /* "" while recording */
};

/* Records camera's state. since_us is kept when the state does not change
 * (only the reason is updated). reason may be NULL. */
void cd_camstate_set(const char *camera, enum cd_cam_state st, int64_t since_us,
                     const char *reason);
/* The camera's state; one custodyd never ran is stopped since an unknown
 * time, "not configured for recording". */
void cd_camstate_get(const char *camera, struct cd_camstate *ret);
/* "recording", "offline", "stopped". */
const char *cd_camstate_name(enum cd_cam_state st);

#endif
