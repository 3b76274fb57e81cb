/* Private: checked number parsing (replaces atoi/strtol, STYLE.md habit 8)
 * and small byte helpers shared by the format decoders. */
#ifndef CU_UTIL_PARSE_H
#define CU_UTIL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a whole decimal string of digits only (no sign, no spaces, no empty
 * string) into a value <= max. Returns 0 or CU_ERR_FORMAT / CU_ERR_LIMIT with a
 * detail naming `what`. */
int cu_parse_u64(const char *s, uint64_t max, const char *what, uint64_t *ret);

/* The one parser of a duration a person gives (the configuration, CLI
 * options): a whole number and a unit, "500ms", "5s", "10m", "2h", "30d";
 * from 1 ms to 100 years. Returns 0 with *ret in µs, or CU_ERR_FORMAT /
 * CU_ERR_LIMIT with a detail naming `what`; *ret is written only on success. */
int cu_parse_duration(const char *s, const char *what, int64_t *ret);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void cu_hex(const uint8_t *in, size_t n, char *out);

/* Parses exactly 2n hex digits into out. Returns 0 or CU_ERR_FORMAT. */
int cu_unhex(const char *s, uint8_t *out, size_t n);

/* Bytes of a certificate fingerprint (SHA-256, the same as CU_SHA256_LEN). */
#define CU_FINGERPRINT_LEN 32

/* The one parser of a certificate fingerprint a person gives (--ca-fingerprint,
 * a camera's pin in the configuration): the whole string is 64 hex digits of
 * either case, either with nothing between them or with one ':' between every
 * two bytes, as custody and `openssl x509 -fingerprint` print them. Leading,
 * trailing, doubled or partial colons and anything else are CU_ERR_FORMAT;
 * *ret is written only on success. */
int cu_parse_fingerprint(const char *s, uint8_t ret[static CU_FINGERPRINT_LEN]);

/* Decodes the UTF-8 sequence that starts s (n >= 1 bytes readable) as RFC 3629
 * allows it: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Returns its length (1 to 4) with the code point in *ret_cp, or 0 when the
 * bytes are not valid UTF-8 (then *ret_cp is not written). */
size_t cu_utf8_next(const uint8_t *s, size_t n, uint32_t *ret_cp);

/* Are all n bytes zero? (Reserved fields, padding, end blocks.) */
bool cu_all_zero(const void *p, size_t n);

#endif
