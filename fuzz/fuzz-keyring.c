/* Fuzz target: keyring.json (cu_keyring_load in lib/store/keyring.c), read
 * from a store directory whenever a store is opened.
 *
 * Parse only: no password is given, since Argon2 at the store's cost would
 * take the fuzzer's whole time budget on one input. A malformed keyring must
 * give an error, never a crash. */
#include <string.h>

#include "custody/error.h"
#include "fuzz.h"
#include "store/store_int.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > CU_FUZZ_INPUT_MAX)
		return 0;
	const char *path = cu_fuzz_tmp_write(data, size);
	uint8_t id[CU_ID_LEN];
	int enc = -1;
	int r = cu_keyring_load(path, NULL, 0, id, &enc, NULL);
	if (r == 0 && (enc < CU_ENC_NONE || enc > CU_ENC_STRONG))
		abort();
	if (r > 0)
		abort(); /* the contract is 0 or a negative cu_err */
	if (r < 0 && cu_error_detail()[0] == '\0')
		abort(); /* every refusal says why */
	return 0;
}
