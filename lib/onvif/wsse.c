/* WS-Security UsernameToken PasswordDigest (OASIS Web Services Security
 * UsernameToken Profile 1.0, §3.1), the authentication ONVIF cameras expect
 * in the SOAP header of every request. */
#include <string.h>

#include "crypto/ossl.h"
#include "custody/error.h"
#include "custody/onvif.h"
#include "custody/util.h"
#include "util/base64.h"

#define NONCE_MAX 64        /* bytes of a nonce: ours are 16 */
#define CREATED_MAX 64      /* bytes of an xs:dateTime */

int
cu_onvif_digest(const uint8_t *nonce, size_t nonce_len, const char *created,
                const char *password, char out[static CU_ONVIF_DIGEST_LEN + 1])
{
	if (nonce == NULL || nonce_len == 0 || nonce_len > NONCE_MAX || created == NULL ||
	    password == NULL)
		return cu_fail(CU_ERR_INVAL, "WS-Security digest: a nonce, a created time and a "
		               "password are needed");
	size_t clen = strlen(created), plen = strlen(password);
	if (clen == 0 || clen > CREATED_MAX || plen > CU_ONVIF_CRED_MAX)
		return cu_fail(CU_ERR_INVAL, "WS-Security digest: created time or password too long");
	const void *parts[] = {nonce, created, password};
	const size_t lens[] = {nonce_len, clen, plen};
	uint8_t d[20];
	int r = cu_sha1_parts(parts, lens, 3, d);
	if (r == 0)
		r = cu_b64_encode(d, sizeof(d), CU_B64_PAD, out, CU_ONVIF_DIGEST_LEN + 1);
	cu_wipe(d, sizeof(d));
	return r;
}
