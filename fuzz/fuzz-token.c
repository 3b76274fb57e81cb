/* Fuzz target: the form of an access token (lib/auth/token.c), which every
 * API request carries in its Authorization header.
 *
 * Property: a token the parser accepts has claims within their limits, and
 * parsing never reads past the input. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tok = cu_fuzz_cstr(data, size);
	struct cu_token_claims c;
	uint8_t sig[CU_ED25519_SIG_LEN];
	size_t p64;
	if (cu_auth_token_parse(tok, size, &c, sig, &p64) == 0) {
		if (p64 == 0 || p64 >= size || tok[p64] != '.' || strlen(c.jti) != 32 ||
		    strlen(c.user) > CU_USER_NAME_MAX)
			abort();
	}
	free(tok);
	return 0;
}
