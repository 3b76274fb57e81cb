/* Private: the one base64 (RFC 4648 §4 and §5) of libcustody, encoder and
 * decoder, with the strictness each caller needs chosen by flags.
 *
 * Callers and their flags:
 *   SDP sprop-parameter-sets (rtsp/sdp.c)   CU_B64_STD: padding optional,
 *                                            unused bits ignored (cameras set them)
 *   RTSP Basic credentials (rtsp/client.c)  CU_B64_PAD
 *   PHC hash strings (auth/password.c)      CU_B64_NOPAD | CU_B64_CANONICAL
 *   tokens, URL signatures (auth/token.c)   CU_B64_URL | CU_B64_NOPAD | CU_B64_CANONICAL
 * Whitespace is never accepted. */
#ifndef CU_UTIL_BASE64_H
#define CU_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

enum cu_b64_flags {
	CU_B64_STD = 0,            /* standard alphabet '+' '/', padding optional on decode,
	                            * none written on encode, unused bits ignored */
	CU_B64_URL = 1 << 0,       /* URL-safe alphabet '-' '_' (RFC 4648 §5) */
	CU_B64_PAD = 1 << 1,       /* encode: write '='; decode: padding required */
	CU_B64_NOPAD = 1 << 2,     /* decode: '=' refused (as any other non-digit) */
	CU_B64_CANONICAL = 1 << 3, /* decode: the unused low bits of the last digit must
	                            * be zero, so one byte string has one spelling */
};

/* Characters cu_b64_encode writes for n bytes with flags (no NUL counted).
 * SIZE_MAX when n is too large to encode. */
size_t cu_b64_len(size_t n, int flags);

/* Writes the encoding of n bytes and a NUL into out (cap bytes).
 * CU_ERR_LIMIT (nothing useful written) if cu_b64_len(n) + 1 > cap. */
int cu_b64_encode(const uint8_t *in, size_t n, int flags, char *out, size_t cap);

/* Decodes exactly len characters of in into out (cap bytes) and sets
 * *ret_len on success. Always refused (CU_ERR_FORMAT): a character outside the
 * alphabet, whitespace, a length of 4k+1 digits, '=' anywhere but at the end or
 * more of it than the last group needs. Flags add the rules above. Output that
 * would pass cap is CU_ERR_LIMIT, never cut; CU_ERR_INVAL for in == NULL with
 * len > 0 or both CU_B64_PAD and CU_B64_NOPAD. out may be written on failure. */
int cu_b64_decode(const char *in, size_t len, int flags, uint8_t *out, size_t cap,
                  size_t *ret_len);

#endif
