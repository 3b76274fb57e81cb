/* Fuzz target: the Retry-After value a webhook receiver answers
 * (cu_webhook_retry_after in lib/notify/webhook.c): delay-seconds or an
 * IMF-fixdate, from a server custody does not control.
 *
 * Property: refused with CU_ERR_FORMAT, or a delay from 0 to
 * CU_WEBHOOK_RETRY_AFTER_MAX_US; "now" is the input's first 8 bytes
 * (bounded to years 1970..9999), the value the rest. */
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "custody/notify.h"
#include "fuzz.h"

#define TEXT_MAX 128

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t raw = 0;
	size_t k = size < sizeof(raw) ? size : sizeof(raw);
	memcpy(&raw, data, k);
	int64_t now = (int64_t)(raw % UINT64_C(253402300799000000)); /* up to 9999-12-31 */
	char text[TEXT_MAX];
	size_t n = size - k < TEXT_MAX - 1 ? size - k : TEXT_MAX - 1;
	memcpy(text, data + k, n);
	text[n] = '\0';
	int64_t d = -7;
	int r = cu_webhook_retry_after(text, now, &d);
	if (r != 0 && r != CU_ERR_FORMAT)
		abort();
	if (r == 0 && (d < 0 || d > CU_WEBHOOK_RETRY_AFTER_MAX_US))
		abort();
	return 0;
}
