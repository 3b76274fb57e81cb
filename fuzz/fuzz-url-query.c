/* Fuzz target: the query of a signed media URL (lib/auth/token.c,
 * cu_auth_url_query_parse), which a <video> element or a WebSocket sends in
 * place of a token: "exp=S&sub=ID&iss=HEX64&sig=B64URL".
 *
 * Property: what the parser accepts has the four parameters in order, a
 * user id other than 0 and an issuer that is the lower-case hex of the
 * fingerprint it returns; parsing never reads past the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "custody/parse.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *q = cu_fuzz_cstr(data, size);
	struct cu_url_query u;
	if (cu_auth_url_query_parse(q, &u) == 0) {
		char iss[2 * CU_SHA256_LEN + 1], want[2 * CU_SHA256_LEN + 8];
		const char *at = strstr(q, "&iss=");
		if (u.sub == 0 || at == NULL || strncmp(q, "exp=", 4) != 0 ||
		    strstr(q, "&sub=") == NULL || strstr(q, "&sig=") == NULL)
			abort();
		/* the issuer is the lower-case hex of the fingerprint parsed */
		cu_hex(u.iss, sizeof(u.iss), iss);
		snprintf(want, sizeof(want), "&iss=%s&", iss);
		if (strncmp(at, want, strlen(want)) != 0)
			abort();
	}
	free(q);
	return 0;
}
