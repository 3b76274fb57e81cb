/* Private: the store's TLS files (tls.c), shared with store creation and tests. */
#ifndef CU_STORE_TLS_INT_H
#define CU_STORE_TLS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"
#include "custody/tls.h"
#include "store/format.h"

#define CU_TLS_CA_FILE "ca.pem"
#define CU_TLS_CA_KEY_FILE "ca-key.bin"
#define CU_TLS_CERT_FILE "server.pem"
#define CU_TLS_CERT_KEY_FILE "server-key.bin"
#define CU_TLS_FILE_MAX (64 * 1024)          /* any file read back from tls/ */
#define CU_TLS_CA_DAYS 3653                  /* 10 years */
#define CU_TLS_SERVER_DAYS 397               /* browsers refuse more than 398 */
#define CU_TLS_RENEW_US (30 * 86400 * INT64_C(1000000)) /* reissue this long before expiry */
#define CU_TLS_BACKDATE_US (3600 * INT64_C(1000000))    /* notBefore = now - 1 h: clients'
                                                           clocks run slow too */

/* Key files: magic, version, algorithm, ciphertext length, nonce, ciphertext, tag. */
#define CU_TLS_KEY_MAGIC "CUTLSK01"
#define CU_TLS_KEY_VERSION 1
#define CU_TLS_KEY_ALG_P256 1                /* PKCS#8 DER of an ECDSA P-256 key */
#define CU_TLS_KEY_HEADER_LEN 16             /* magic .. length: the part in the AAD */
#define CU_TLS_KEY_OVERHEAD (CU_TLS_KEY_HEADER_LEN + CU_GCM_NONCE_LEN + CU_GCM_TAG_LEN)
#define CU_TLS_WRAP_INFO "custody/v1/tls-key-wrap" /* HKDF info, without a NUL */

/* cu_store_tls for the store in dir whose id and site CA seed are given (so
 * that cu_store_create can call it before the store can be opened), with the
 * site name for the CA subject and the time taken as now_us (tests move it).
 * ret may be NULL when only the files matter. */
int cu_tls_ensure(const char *dir, const uint8_t store_id[static CU_ID_LEN],
                  const uint8_t ca_seed[static CU_ED25519_KEY_LEN], const char *site,
                  const char *const *names, size_t n, int64_t now_us,
                  struct cu_tls_material *ret);

/* The AES-256 key that wraps the TLS private keys:
 * HKDF-SHA256(salt = store id, ikm = site CA seed, info = CU_TLS_WRAP_INFO). */
int cu_tls_wrap_key(const uint8_t store_id[static CU_ID_LEN],
                    const uint8_t ca_seed[static CU_ED25519_KEY_LEN],
                    uint8_t out[static CU_AES256_KEY_LEN]);

/* Removes dir/tls and the files cu_tls_ensure writes (store creation's undo). */
void cu_tls_remove(const char *dir);

#endif
