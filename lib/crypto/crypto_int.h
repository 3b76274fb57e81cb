/* Private: crypto entry points that custody's formats do not use but its
 * tests do (every Wycheproof AES-GCM case, whatever the key size). */
#ifndef CU_CRYPTO_INT_H
#define CU_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"

/* Like cu_aead_new for AES-128/192/256-GCM: key_len 16, 24 or 32
 * (CU_ERR_INVAL otherwise). custody's own formats always use 32. */
int cu_aead_new_keylen(const uint8_t *key, size_t key_len, cu_aead **ret);

/* cu_ossl_fail: crypto/ossl.h */
#include "crypto/ossl.h"

#endif
