/* custodyd: the JPEG still of a recorded moment. */
#ifndef CD_STILL_H
#define CD_STILL_H

#include <stddef.h>
#include <stdint.h>

#include "custody/store.h"

#define CD_STILL_WINDOW_US (10 * INT64_C(1000000)) /* read after the moment, at most */

/* Reads camera's verified frames from the newest key frame at or before at
 * up to it and encodes the picture shown at that moment (cu_still_jpeg).
 * 0 with a malloc'd JPEG, CU_ERR_NOTFOUND (no picture there),
 * CU_ERR_TAMPERED (the recording there fails verification; detail names
 * the segment) or another failure. */
int cd_still_at(cu_store *store, const char *camera, int64_t at, uint8_t **ret, size_t *ret_len);

#endif
