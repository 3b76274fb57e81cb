/* What the crypto module lends the modules above it that talk to OpenSSL
 * themselves (the RTSP client's TLS session) or need a digest custody's own
 * formats never use. Not public: libcustody only. */
#ifndef CU_CRYPTO_OSSL_H
#define CU_CRYPTO_OSSL_H

#include <stddef.h>
#include <stdint.h>

/* Turns the newest queued OpenSSL error into the detail ("what: reason"),
 * empties the queue, and returns code. For every caller of OpenSSL. */
int cu_ossl_fail(int code, const char *what);

/* The lower-case hex MD5 of parts joined with ':', as HTTP/RTSP Digest
 * authentication (RFC 2617) needs it; nothing else in custody uses MD5.
 * 0, or CU_ERR_CRYPTO. */
int cu_md5_digest_hex(const char *const parts[], size_t nparts, char out[static 33]);

/* HMAC-SHA256 (RFC 2104) of msg under key, for webhook signatures (Standard
 * Webhooks "v1"); custody's own formats sign with Ed25519. 0 or CU_ERR_CRYPTO. */
int cu_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                   uint8_t out[static 32]);
/* The SHA-1 of the parts concatenated (lens[i] bytes each), as the WS-Security
 * UsernameToken PasswordDigest needs it (ONVIF cameras); nothing else in
 * custody uses SHA-1. 0, or CU_ERR_CRYPTO. */
int cu_sha1_parts(const void *const parts[], const size_t lens[], size_t nparts,
                  uint8_t out[static 20]);

#endif
