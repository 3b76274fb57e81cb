/* Fuzz target: ISO 8601 times (cu_time_parse_iso8601 and
 * cu_time_text in lib/util/time.c), given on command lines, in
 * HTTP queries and in JSON.
 *
 * Property: whatever the parser accepts, the formatter writes as ISO 8601,
 * and parsing that again gives the same microsecond; any other int64 (the
 * input's first 8 bytes) formats to ISO 8601 or to CU_TIME_UNKNOWN. */
#include <string.h>

#include "custody/time.h"
#include "fuzz.h"

#define TEXT_MAX 128 /* the parser refuses anything of 64 bytes or more */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TEXT_MAX], any[CU_TIME_ISO_MAX];
	int64_t raw = 0;
	memcpy(&raw, data, size < sizeof(raw) ? size : sizeof(raw));
	if (!cu_time_text(raw, any) && strcmp(any, CU_TIME_UNKNOWN) != 0)
		abort();
	if (strnlen(any, sizeof(any)) >= sizeof(any))
		abort();
	size_t n = size < TEXT_MAX - 1 ? size : TEXT_MAX - 1;
	memcpy(text, data, n);
	text[n] = '\0';

	int64_t us;
	if (cu_time_parse_iso8601(text, &us) != 0)
		return 0;
	if (us < 0)
		abort();
	char iso[CU_TIME_ISO_MAX];
	if (!cu_time_text(us, iso)) {
		fprintf(stderr, "fuzz-time: \"%s\" parsed to %lld us, which does not format\n",
		        text, (long long)us);
		abort();
	}
	int64_t again;
	if (cu_time_parse_iso8601(iso, &again) != 0 || again != us) {
		fprintf(stderr, "fuzz-time: \"%s\" -> %lld -> \"%s\" does not parse back\n", text,
		        (long long)us, iso);
		abort();
	}
	return 0;
}
