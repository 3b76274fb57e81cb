/* Fuzz target: the checked number and hex parsers (cu_parse_u64, cu_unhex in
 * lib/util/parse.c), which read every number and id that comes from outside.
 *
 * Properties: an accepted number prints back as its digits (less leading
 * zeros) and respects its limit exactly; accepted hex prints back as itself
 * (in lower case). */
#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "custody/error.h"
#include "fuzz.h"
#include "custody/parse.h"

#define TEXT_MAX 256
#define HEX_MAX (TEXT_MAX / 2)

static void
check_u64(const char *text)
{
	uint64_t v;
	int r = cu_parse_u64(text, UINT64_MAX, "fuzz", &v);
	if (r != 0) {
		if (r != CU_ERR_FORMAT && r != CU_ERR_LIMIT)
			abort();
		return;
	}
	char back[32];
	snprintf(back, sizeof(back), "%" PRIu64, v);
	const char *digits = text;
	while (digits[0] == '0' && digits[1] != '\0')
		digits++;
	if (strcmp(back, digits) != 0)
		abort();
	/* the limit is inclusive: v passes under max v and fails under v - 1 */
	uint64_t w;
	if (cu_parse_u64(text, v, "fuzz", &w) != 0 || w != v)
		abort();
	if (v > 0 && cu_parse_u64(text, v - 1, "fuzz", &w) != CU_ERR_LIMIT)
		abort();
}

static void
check_unhex(const char *text, size_t n)
{
	uint8_t bin[HEX_MAX];
	char back[2 * HEX_MAX + 1];
	if (n > HEX_MAX || cu_unhex(text, bin, n) != 0)
		return;
	cu_hex(bin, n, back);
	for (size_t i = 0; i < 2 * n; i++)
		if (back[i] != tolower((unsigned char)text[i]))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TEXT_MAX];
	size_t n = size < TEXT_MAX - 1 ? size : TEXT_MAX - 1;
	memcpy(text, data, n);
	text[n] = '\0';

	check_u64(text);
	size_t len = strlen(text);
	check_unhex(text, len / 2);    /* the length that can succeed */
	check_unhex(text, 16);         /* ids (CU_ID_LEN) */
	check_unhex(text, 32);         /* hashes and keys */
	check_unhex(text, 0);
	return 0;
}
