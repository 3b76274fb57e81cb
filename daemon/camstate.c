/* The cameras' ingest states (camstate.h). */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "camstate.h"

struct entry {
	char camera[CU_CAMERA_NAME_MAX + 1];
	struct cd_camstate s;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry table[CD_CAMSTATE_MAX];
static size_t used;

/* Copies reason, cut before CD_CAMSTATE_REASON_MAX bytes without splitting a
 * UTF-8 character; control characters become spaces. */
static void
copy_reason(char *out, const char *reason)
{
	size_t n = 0;
	for (; reason != NULL && reason[n] != '\0' && n < CD_CAMSTATE_REASON_MAX; n++)
		out[n] = (unsigned char)reason[n] < 0x20 ? ' ' : reason[n];
	/* cut before byte n: safe unless byte n continues a character begun before it */
	while (n > 0 && reason[n] != '\0' && ((unsigned char)reason[n] & 0xc0) == 0x80)
		n--;
	out[n] = '\0';
}

static struct entry *
find_locked(const char *camera, bool make)
{
	for (size_t i = 0; i < used; i++)
		if (strcmp(table[i].camera, camera) == 0)
			return &table[i];
	if (!make || strlen(camera) > CU_CAMERA_NAME_MAX)
		return NULL;
	struct entry *e = used < CD_CAMSTATE_MAX ? &table[used++] : NULL;
	for (size_t i = 0; e == NULL && i < used; i++)
		if (table[i].s.state == CD_CAM_STOPPED)
			e = &table[i]; /* full: a stopped camera's entry says no more than none */
	if (e == NULL)
		return NULL;
	memset(e, 0, sizeof(*e));
	memcpy(e->camera, camera, strlen(camera) + 1);
	e->s.state = CD_CAM_STOPPED;
	return e;
}

void
cd_camstate_set(const char *camera, enum cd_cam_state st, int64_t since_us, const char *reason)
{
	pthread_mutex_lock(&lock);
	struct entry *e = find_locked(camera, true);
	if (e != NULL) {
		if (e->s.state != st || e->s.since_us == 0)
			e->s.since_us = since_us;
		e->s.state = st;
		copy_reason(e->s.reason, reason);
	}
	pthread_mutex_unlock(&lock);
}

void
cd_camstate_get(const char *camera, struct cd_camstate *ret)
{
	pthread_mutex_lock(&lock);
	struct entry *e = find_locked(camera, false);
	if (e != NULL)
		*ret = e->s;
	else
		*ret = (struct cd_camstate){.state = CD_CAM_STOPPED,
		                            .reason = "not configured for recording"};
	pthread_mutex_unlock(&lock);
}

const char *
cd_camstate_name(enum cd_cam_state st)
{
	switch (st) {
	case CD_CAM_RECORDING:
		return "recording";
	case CD_CAM_OFFLINE:
		return "offline";
	default:
		return "stopped";
	}
}
