/* custody — the one time representation: int64_t microseconds since the Unix
 * epoch, UTC. ISO 8601 with 'Z' at every human or JSON boundary. */
#ifndef CUSTODY_TIME_H
#define CUSTODY_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Years outside this range are refused by the parser; cu_time_text writes
 * CU_TIME_UNKNOWN for them. */
#define CU_TIME_MIN_YEAR 1970
#define CU_TIME_MAX_YEAR 9999

/* Big enough for "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" and its NUL, and for
 * CU_TIME_UNKNOWN: the size of every buffer cu_time_text writes. */
#define CU_TIME_ISO_MAX 32

/* What cu_time_text writes for a time outside years 1970..9999 (a negative
 * value, or from the first µs of year 10000 on): one fixed text, so that a
 * report never shows a made-up date and every caller shows the same thing. */
#define CU_TIME_UNKNOWN "unknown time"

/* Wall-clock time now (CLOCK_REALTIME), in µs. */
int64_t cu_time_now_us(void);

/* Monotonic time (CLOCK_MONOTONIC), in µs; for intervals only. */
int64_t cu_time_mono_us(void);

/* Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)" (also ' ' for 'T').
 * A date alone ("YYYY-MM-DD") means midnight UTC. Fractions beyond µs are
 * refused rather than rounded. Returns 0, or CU_ERR_FORMAT with a detail. */
int cu_time_parse_iso8601(const char *s, int64_t *ret_us);

/* The one time-to-text: writes "YYYY-MM-DDTHH:MM:SSZ", or with ".uuuuuu"
 * when the µs part is not zero, and a NUL into buf. Cannot fail: a time
 * outside years 1970..9999 writes CU_TIME_UNKNOWN. Returns true when buf holds
 * the ISO 8601 form (JSON writers use that to write null instead). Leaves no
 * error detail. */
bool cu_time_text(int64_t us, char buf[static CU_TIME_ISO_MAX]);

#endif
