/* Strict base64 (RFC 4648 §4 and §5) without padding, for PHC hash strings
 * (standard alphabet) and tokens and URL signatures (URL alphabet). Exactly
 * one spelling decodes to a given byte string, so a signature or token cannot
 * be re-spelled into a second valid form. */
#include <stdint.h>
#include <string.h>

#include "auth/auth_int.h"
#include "util/err.h"

static const char std_digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
cu_b64_len(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

int
cu_b64_encode(const uint8_t *in, size_t n, int alphabet, char *out, size_t cap)
{
	const char *d = alphabet == CU_B64_URL ? url_digits : std_digits;
	if (n > (SIZE_MAX - 1) / 2 || cu_b64_len(n) + 1 > cap)
		return cu_fail(CU_ERR_LIMIT, "base64: %zu bytes do not fit in %zu", n, cap);
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = d[v >> 18 & 63];
		out[o++] = d[v >> 12 & 63];
		out[o++] = d[v >> 6 & 63];
		out[o++] = d[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = d[v >> 18 & 63];
		out[o++] = d[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = d[v >> 18 & 63];
		out[o++] = d[v >> 12 & 63];
		out[o++] = d[v >> 6 & 63];
	}
	out[o] = '\0';
	return 0;
}

static int
digit(char c, int alphabet)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (alphabet == CU_B64_URL)
		return c == '-' ? 62 : c == '_' ? 63 : -1;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int
cu_b64_decode(const char *in, size_t len, int alphabet, uint8_t *out, size_t cap,
              size_t *ret_len)
{
	if (len % 4 == 1)
		return cu_fail(CU_ERR_FORMAT, "base64: %zu characters cannot end a group", len);
	size_t need = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
	if (need > cap)
		return cu_fail(CU_ERR_LIMIT, "base64: %zu bytes decoded, room for %zu", need, cap);
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int v = digit(in[i], alphabet);
		if (v < 0)
			return cu_fail(CU_ERR_FORMAT, "base64: invalid character at offset %zu", i);
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* the 2 or 4 bits left over must be zero: one spelling only */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return cu_fail(CU_ERR_FORMAT, "base64: non-zero unused bits at the end");
	*ret_len = o;
	return 0;
}
