/* custody — the crypto module: thin, checked wrappers over OpenSSL 3 and
 * libargon2. Every key, password and intermediate secret passes through
 * cu_wipe before its memory is released. */
#ifndef CUSTODY_CRYPTO_H
#define CUSTODY_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/util.h"

#define CU_AES256_KEY_LEN 32
#define CU_GCM_NONCE_LEN 12      /* the only nonce size custody itself uses */
#define CU_GCM_NONCE_MAX 128     /* largest nonce cu_aead_* accept (bytes) */
#define CU_GCM_TAG_LEN 16
#define CU_SHA256_LEN 32
#define CU_ED25519_KEY_LEN 32    /* raw private seed and raw public key */
#define CU_ED25519_SIG_LEN 64
#define CU_HKDF_MAX_OUT (255 * CU_SHA256_LEN)
#define CU_WRAP_OVERHEAD (CU_GCM_NONCE_LEN + CU_GCM_TAG_LEN)

/* ---- hygiene ---- */

/* cu_wipe: custody/util.h */

/* Constant-time comparison of n bytes: true when equal. */
bool cu_ct_equal(const void *a, const void *b, size_t n);

/* Fills buf with n bytes from the OS CSPRNG (OpenSSL RAND_priv_bytes).
 * Returns 0 or CU_ERR_CRYPTO. */
int cu_random(void *buf, size_t n);

/* ---- SHA-256 ---- */

/* One-shot SHA-256. Returns 0 or CU_ERR_CRYPTO. */
int cu_sha256(const void *data, size_t len, uint8_t out[static CU_SHA256_LEN]);

/* Incremental SHA-256. A context can be reset and reused (cheap). */
typedef struct cu_sha256_ctx cu_sha256_ctx;
int cu_sha256_new(cu_sha256_ctx **ret);
int cu_sha256_init(cu_sha256_ctx *c);
int cu_sha256_update(cu_sha256_ctx *c, const void *data, size_t len);
int cu_sha256_final(cu_sha256_ctx *c, uint8_t out[static CU_SHA256_LEN]);
void cu_sha256_free(cu_sha256_ctx *c);

/* ---- AES-256-GCM ---- */

/* A reusable AES-256-GCM context bound to one key (key schedule computed once).
 * The key is copied into OpenSSL and wiped from the context on free. */
typedef struct cu_aead cu_aead;
int cu_aead_new(const uint8_t key[static CU_AES256_KEY_LEN], cu_aead **ret);
void cu_aead_free(cu_aead *a);

/* Encrypts len bytes of in to out (may be the same buffer), authenticating aad
 * too, and writes the 16-byte tag. nonce_len is 1..CU_GCM_NONCE_MAX; custody's
 * own formats always use 12. Returns 0, CU_ERR_INVAL, CU_ERR_UNSUPPORTED (nonce
 * size the library refuses) or CU_ERR_CRYPTO. */
int cu_aead_seal(cu_aead *a, const uint8_t *nonce, size_t nonce_len,
                 const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t len, uint8_t *out,
                 uint8_t tag[static CU_GCM_TAG_LEN]);

/* Decrypts and checks the tag. On a bad tag returns CU_ERR_AUTH and out is
 * wiped (no unauthenticated plaintext escapes). tag_len is 16 for custody's
 * formats; shorter tags (12..16) exist only for test vectors. */
int cu_aead_open(cu_aead *a, const uint8_t *nonce, size_t nonce_len,
                 const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t len, uint8_t *out,
                 const uint8_t *tag, size_t tag_len);

/* ---- Ed25519 ---- */

/* Generates a key pair from the CSPRNG. */
int cu_ed25519_keygen(uint8_t priv[static CU_ED25519_KEY_LEN],
                      uint8_t pub[static CU_ED25519_KEY_LEN]);

/* Derives the public key of a raw private seed. */
int cu_ed25519_public(const uint8_t priv[static CU_ED25519_KEY_LEN],
                      uint8_t pub[static CU_ED25519_KEY_LEN]);

/* Signs msg (RFC 8032 pure Ed25519). */
int cu_ed25519_sign(const uint8_t priv[static CU_ED25519_KEY_LEN],
                    const void *msg, size_t len,
                    uint8_t sig[static CU_ED25519_SIG_LEN]);

/* A private key parsed once for many signatures (a writer signs every
 * second). The key material lives in OpenSSL and is cleansed on free. */
typedef struct cu_sign_key cu_sign_key;
int cu_sign_key_new(const uint8_t priv[static CU_ED25519_KEY_LEN], cu_sign_key **ret);
int cu_sign_key_sign(cu_sign_key *k, const void *msg, size_t len,
                     uint8_t sig[static CU_ED25519_SIG_LEN]);
void cu_sign_key_free(cu_sign_key *k); /* NULL is fine */

/* Verifies; returns 0 when valid, CU_ERR_AUTH when not (including
 * non-canonical encodings), CU_ERR_CRYPTO on internal failure. */
int cu_ed25519_verify(const uint8_t pub[static CU_ED25519_KEY_LEN],
                      const void *msg, size_t len,
                      const uint8_t sig[static CU_ED25519_SIG_LEN]);

/* ---- ECDSA P-256 (verify only: camera-side signatures, ONVIF Media Signing) ---- */

/* pub is an uncompressed SEC1 point (65 bytes, 0x04||X||Y); sig is DER
 * (strict: BER variants are refused). The message is hashed with SHA-256.
 * Returns 0 valid, CU_ERR_AUTH invalid, CU_ERR_FORMAT bad key. */
int cu_ecdsa_p256_verify(const uint8_t *pub, size_t pub_len,
                         const void *msg, size_t len,
                         const uint8_t *sig, size_t sig_len);

/* ---- key derivation ---- */

/* HKDF-SHA-256 (RFC 5869). out_len is 1..CU_HKDF_MAX_OUT; salt may be empty. */
int cu_hkdf_sha256(const uint8_t *salt, size_t salt_len,
                   const uint8_t *ikm, size_t ikm_len,
                   const uint8_t *info, size_t info_len,
                   uint8_t *out, size_t out_len);

/* Argon2id parameters; the defaults are custody's for the store password. */
struct cu_argon2_params {
	uint32_t t_cost;      /* passes */
	uint32_t m_cost_kib;  /* memory in KiB */
	uint32_t parallelism; /* lanes */
};
#define CU_ARGON2_T_DEFAULT 3
#define CU_ARGON2_M_DEFAULT (64 * 1024)
#define CU_ARGON2_P_DEFAULT 1
/* Limits a file may ask for: more would let a hostile file exhaust memory/time. */
#define CU_ARGON2_T_MAX 16
#define CU_ARGON2_M_MAX (1024 * 1024)
#define CU_ARGON2_P_MAX 8
#define CU_ARGON2_M_MIN (19 * 1024) /* OWASP floor */

/* Argon2id (RFC 9106) of pwd with salt (>= 16 bytes) into out (16..64 bytes).
 * Parameters outside the limits above are CU_ERR_LIMIT. */
int cu_argon2id(const void *pwd, size_t pwd_len, const uint8_t *salt, size_t salt_len,
                const struct cu_argon2_params *p, uint8_t *out, size_t out_len);

/* ---- key wrapping ----
 * AES-256-GCM with a fresh random 96-bit nonce; the label is authenticated
 * (AAD) so a wrapped key cannot be moved to another purpose or store.
 * Wrapped form: nonce(12) || ciphertext(key_len) || tag(16). */

/* out must hold key_len + CU_WRAP_OVERHEAD bytes. */
int cu_key_wrap(const uint8_t kek[static CU_AES256_KEY_LEN],
                const void *label, size_t label_len,
                const uint8_t *key, size_t key_len, uint8_t *out);

/* Returns CU_ERR_AUTH if the kek is wrong or the wrapped bytes or label changed.
 * out must hold wrapped_len - CU_WRAP_OVERHEAD bytes. */
int cu_key_unwrap(const uint8_t kek[static CU_AES256_KEY_LEN],
                  const void *label, size_t label_len,
                  const uint8_t *wrapped, size_t wrapped_len, uint8_t *out);

#endif
