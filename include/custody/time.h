/* custody — the one time representation: int64_t microseconds since the Unix
 * epoch, UTC. ISO 8601 with 'Z' at every human or JSON boundary. */
#ifndef CUSTODY_TIME_H
#define CUSTODY_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Years outside this range are refused by the parser and the formatter. */
#define CU_TIME_MIN_YEAR 1970
#define CU_TIME_MAX_YEAR 9999

/* Big enough for "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" and its NUL. */
#define CU_TIME_ISO_MAX 32

/* Wall-clock time now (CLOCK_REALTIME), in µs. */
int64_t cu_time_now_us(void);

/* Monotonic time (CLOCK_MONOTONIC), in µs; for intervals only. */
int64_t cu_time_mono_us(void);

/* Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)" (also ' ' for 'T').
 * A date alone ("YYYY-MM-DD") means midnight UTC. Fractions beyond µs are
 * refused rather than rounded. Returns 0, or CU_ERR_FORMAT with a detail. */
int cu_time_parse_iso8601(const char *s, int64_t *ret_us);

/* Formats as "YYYY-MM-DDTHH:MM:SSZ", or with ".uuuuuu" when the µs part is not
 * zero. buf must hold CU_TIME_ISO_MAX bytes. Returns 0 or CU_ERR_INVAL. */
int cu_time_format_iso8601(int64_t us, char *buf, size_t len);

#endif
