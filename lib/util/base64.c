/* The one base64 of libcustody (RFC 4648 §4 and §5); the rules each flag
 * adds are in base64.h. Decoding is strict about shape for every caller, and
 * about the unused bits only when asked (CU_B64_CANONICAL): RFC 4648 §3.5
 * lets a decoder ignore them, and SDP needs that, but a signature or token
 * must not have a second spelling. */
#include <stdint.h>

#include "custody/error.h"
#include "util/base64.h"

static const char std_digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
cu_b64_len(size_t n, int flags)
{
	if (n > (SIZE_MAX - 1) / 2)
		return SIZE_MAX;
	if (flags & CU_B64_PAD)
		return (n + 2) / 3 * 4;
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

int
cu_b64_encode(const uint8_t *in, size_t n, int flags, char *out, size_t cap)
{
	const char *d = flags & CU_B64_URL ? url_digits : std_digits;
	size_t need = cu_b64_len(n, flags);
	if (need == SIZE_MAX || need + 1 > cap)
		return cu_fail(CU_ERR_LIMIT, "base64: %zu bytes do not fit in %zu", n, cap);
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = d[v >> 18 & 63];
		out[o++] = d[v >> 12 & 63];
		out[o++] = d[v >> 6 & 63];
		out[o++] = d[v & 63];
	}
	if (n - i > 0) {
		uint32_t v = (uint32_t)in[i] << 16 | (n - i == 2 ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = d[v >> 18 & 63];
		out[o++] = d[v >> 12 & 63];
		if (n - i == 2)
			out[o++] = d[v >> 6 & 63];
		else if (flags & CU_B64_PAD)
			out[o++] = '=';
		if (flags & CU_B64_PAD)
			out[o++] = '=';
	}
	out[o] = '\0';
	return 0;
}

/* The value of one digit of the chosen alphabet, or -1. */
static int
digit(uint8_t c, int flags)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (flags & CU_B64_URL)
		return c == '-' ? 62 : c == '_' ? 63 : -1;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int
cu_b64_decode(const char *in, size_t len, int flags, uint8_t *out, size_t cap,
              size_t *ret_len)
{
	if ((in == NULL && len > 0) || ((flags & CU_B64_PAD) && (flags & CU_B64_NOPAD)))
		return cu_fail(CU_ERR_INVAL, "base64: no input or contradictory flags");
	const uint8_t *s = (const uint8_t *)in;
	size_t n = len, pad = 0;
	/* with CU_B64_NOPAD a '=' stays in n and is refused as a non-digit below */
	while (!(flags & CU_B64_NOPAD) && n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (pad > 0 && (n + pad) % 4 != 0)
		return cu_fail(CU_ERR_FORMAT, "base64: padding does not complete a group of four");
	if (n % 4 == 1)
		return cu_fail(CU_ERR_FORMAT, "base64: %zu digits cannot end a group", n);
	if (pad > 0 && 4 - n % 4 != pad)
		return cu_fail(CU_ERR_FORMAT, "base64: wrong amount of padding");
	if ((flags & CU_B64_PAD) && pad == 0 && n % 4 != 0)
		return cu_fail(CU_ERR_FORMAT, "base64: padding missing");

	size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	if (need > cap)
		return cu_fail(CU_ERR_LIMIT, "base64: %zu bytes decoded, room for %zu", need, cap);

	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = digit(s[i], flags);
		if (v < 0)
			return cu_fail(CU_ERR_FORMAT, "base64: invalid character at offset %zu", i);
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* the 2 or 4 bits left over */
	if ((flags & CU_B64_CANONICAL) && bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return cu_fail(CU_ERR_FORMAT, "base64: non-zero unused bits at the end");
	*ret_len = o;
	return 0;
}
