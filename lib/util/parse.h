/* Private: checked number parsing (replaces atoi/strtol, STYLE.md habit 8). */
#ifndef CU_UTIL_PARSE_H
#define CU_UTIL_PARSE_H

#include <stdint.h>

/* Parses a whole decimal string of digits only (no sign, no spaces, no empty
 * string) into a value <= max. Returns 0 or CU_ERR_FORMAT / CU_ERR_LIMIT with a
 * detail naming `what`. */
int cu_parse_u64(const char *s, uint64_t max, const char *what, uint64_t *ret);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void cu_hex(const uint8_t *in, size_t n, char *out);

/* Parses exactly 2n hex digits into out. Returns 0 or CU_ERR_FORMAT. */
int cu_unhex(const char *s, uint8_t *out, size_t n);

#endif
