/* Standard base64 (RFC 4648 §4) decoding, for the parameter sets an SDP
 * carries in sprop-parameter-sets / sprop-vps / sprop-sps / sprop-pps. */
#include <stddef.h>
#include <stdint.h>

#include "rtsp/proto.h"
#include "util/err.h"

/* The value of one base64 digit, or -1. */
static int
digit(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict about shape (only the alphabet, '=' only at the end and only as
 * much as the last group needs, no group of one digit) and lenient about
 * content: the unused low bits of the last digit are ignored, as RFC 4648
 * §3.5 allows, because some encoders leave them set and the bytes decoded
 * are the same either way. Output beyond cap is CU_ERR_LIMIT, never cut. */
int
cu_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *ret_len)
{
	if (in == NULL && in_len > 0)
		return cu_fail(CU_ERR_INVAL, "base64: no input");
	const uint8_t *s = (const uint8_t *)in;
	size_t n = in_len;
	size_t pad = 0;
	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (pad > 0 && (n + pad) % 4 != 0)
		return cu_fail(CU_ERR_FORMAT, "base64: padding does not complete a group of four");
	if (n % 4 == 1)
		return cu_fail(CU_ERR_FORMAT, "base64: %zu digits cannot end a group", n);
	if (pad > 0 && 4 - n % 4 != pad)
		return cu_fail(CU_ERR_FORMAT, "base64: wrong amount of padding");

	size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	if (need > cap)
		return cu_fail(CU_ERR_LIMIT, "base64: %zu bytes decoded, room for %zu", need, cap);

	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = digit(s[i]);
		if (v < 0)
			return cu_fail(CU_ERR_FORMAT, "base64: invalid character at offset %zu", i);
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*ret_len = o;
	return 0;
}
