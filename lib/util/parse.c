#include <stddef.h>
#include <string.h>

#include "custody/error.h"
#include "custody/parse.h"

int
cu_parse_u64(const char *s, uint64_t max, const char *what, uint64_t *ret)
{
	if (s == NULL || *s == '\0')
		return cu_fail(CU_ERR_FORMAT, "%s: expected a number, got nothing", what);
	uint64_t v = 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return cu_fail(CU_ERR_FORMAT, "%s: \"%.40s\" is not a whole number", what, s);
		unsigned dgt = (unsigned)(*p - '0');
		if (dgt > max || v > (max - dgt) / 10)
			return cu_fail(CU_ERR_LIMIT, "%s: %.40s is over the limit %llu", what, s,
			               (unsigned long long)max);
		v = v * 10 + dgt;
	}
	*ret = v;
	return 0;
}

int
cu_parse_duration(const char *v, const char *what, int64_t *ret)
{
	static const struct {
		const char *unit;
		int64_t mult;
	} units[] = {
		{"ms", 1000}, {"s", 1000000}, {"m", 60 * INT64_C(1000000)},
		{"h", 3600 * INT64_C(1000000)}, {"d", 86400 * INT64_C(1000000)},
	};
	size_t nd = v ? strspn(v, "0123456789") : 0;
	char digits[24];
	uint64_t n;

	if (nd == 0 || nd >= sizeof(digits))
		return cu_fail(CU_ERR_FORMAT, "%s: \"%.40s\" is not a duration (examples: 5s, 500ms, "
		               "10m, 2h, 30d)", what, v ? v : "");
	memcpy(digits, v, nd);
	digits[nd] = '\0';
	if (cu_parse_u64(digits, UINT32_MAX, what, &n) < 0)
		return cu_fail(CU_ERR_LIMIT, "%s: \"%.40s\" is too large", what, v);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(v + nd, units[i].unit) != 0)
			continue;
		if (n == 0 || (int64_t)n > INT64_C(100) * 366 * 86400 * 1000000 / units[i].mult)
			return cu_fail(CU_ERR_LIMIT, "%s: \"%.40s\" is out of range", what, v);
		*ret = (int64_t)n * units[i].mult;
		return 0;
	}
	return cu_fail(CU_ERR_FORMAT, "%s: \"%.40s\" needs a unit: ms, s, m, h or d", what, v);
}

void
cu_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
cu_unhex(const char *s, uint8_t *out, size_t n)
{
	if (s == NULL || strnlen(s, 2 * n + 1) != 2 * n)
		return cu_fail(CU_ERR_FORMAT, "expected %zu hex digits", 2 * n);
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return cu_fail(CU_ERR_FORMAT, "not a hex digit at position %zu", 2 * i);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
cu_parse_fingerprint(const char *s, uint8_t ret[static CU_FINGERPRINT_LEN])
{
	static const char want[] = "fingerprint: expected 32 bytes of hex, with or without "
	                           "':' between every two";
	size_t len = s == NULL ? 0 : strnlen(s, 3 * CU_FINGERPRINT_LEN);
	size_t step;
	if (len == 2 * CU_FINGERPRINT_LEN)
		step = 2;
	else if (len == 3 * CU_FINGERPRINT_LEN - 1)
		step = 3;
	else
		return cu_fail(CU_ERR_FORMAT, "%s", want);
	uint8_t fp[CU_FINGERPRINT_LEN];
	for (size_t i = 0; i < CU_FINGERPRINT_LEN; i++) {
		const char *p = s + i * step;
		int hi = nibble(p[0]), lo = nibble(p[1]);
		if (hi < 0 || lo < 0 || (step == 3 && i + 1 < CU_FINGERPRINT_LEN && p[2] != ':'))
			return cu_fail(CU_ERR_FORMAT, "%s", want);
		fp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(ret, fp, sizeof(fp));
	return 0;
}

size_t
cu_utf8_next(const uint8_t *s, size_t n, uint32_t *ret_cp)
{
	uint8_t lead = s[0];
	if (lead < 0x80) {
		*ret_cp = lead;
		return 1;
	}
	/* the lead byte gives the length and the smallest code point that may
	 * use it (anything below is an overlong form) */
	size_t len;
	uint32_t cp, least;
	if (lead >= 0xc2 && lead <= 0xdf) {
		len = 2;
		cp = lead & 0x1fu;
		least = 0x80;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		len = 3;
		cp = lead & 0x0fu;
		least = 0x800;
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		len = 4;
		cp = lead & 0x07u;
		least = 0x10000;
	} else {
		return 0; /* a continuation byte, 0xc0/0xc1, or 0xf5 and up */
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3fu);
	}
	if (cp < least || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return len;
}

bool
cu_all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}
