/* custody — the crypto module: checked wrappers over OpenSSL 3 (EVP only)
 * and libargon2. See include/custody/crypto.h for the contracts and
 * docs/crypto.md for what each primitive is used for.
 *
 * Conventions here: every OpenSSL failure is mapped to a cu_err at the call
 * site, the OpenSSL error queue is drained into the detail (or cleared when a
 * failure is an expected answer such as a bad signature), and every buffer
 * that held a secret is wiped before it is released. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sodium.h>

#include "custody/crypto.h"
#include "crypto/crypto_int.h"
#include "custody/error.h"
#include "custody/parse.h"

/* OpenSSL's length arguments are int: larger inputs are fed in chunks. */
#define CHUNK_MAX (1 << 30)

/* GCM allows at most 2^39 - 256 bits of plaintext per nonce (SP 800-38D). */
#define GCM_MSG_MAX ((UINT64_C(1) << 36) - 32)

/* A strict-DER ECDSA P-256 signature is at most 2 + 2 * (2 + 33) bytes. */
#define ECDSA_P256_DER_MAX 72
#define P256_POINT_LEN 65

/* Largest key cu_key_wrap accepts: custody wraps 32-byte keys; the cap only
 * keeps a hostile length from turning into a large allocation elsewhere. */
#define WRAP_KEY_MAX 1024

/* HKDF info is a context label; OpenSSL 3.0 refuses more than 32 KiB of it,
 * custody needs far less and says so with CU_ERR_LIMIT instead. */
#define HKDF_INFO_MAX 1024

/* Argon2 output and salt bounds from crypto.h's contract. */
#define ARGON2_SALT_MIN 16
#define ARGON2_OUT_MIN 16
#define ARGON2_OUT_MAX 64

struct cu_sha256_ctx {
	EVP_MD *md;       /* SHA-256, fetched once per context */
	EVP_MD_CTX *ctx;
	bool ready;       /* initialised and not yet finalised */
};

struct cu_aead {
	EVP_CIPHER_CTX *ctx; /* keyed once; each call sets only the IV */
	size_t ivlen;        /* the IV length the context is set to */
};

/* OSSL_PARAM and a few EVP controls take void * even where they only read:
 * this is the one place const is dropped, without a cast-qual warning. */
static void *
unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

/* Turns the newest queued OpenSSL error into the detail and empties the
 * queue, so that a later caller on this thread does not see stale errors. */
int
cu_ossl_fail(int code, const char *what)
{
	char reason[256];
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		reason[0] = '\0';
	ERR_clear_error();
	if (reason[0] != '\0')
		return cu_fail(code, "%s: %s", what, reason);
	return cu_fail(code, "%s", what);
}

/* Like ossl_fail for failures that are an answer, not a fault (bad tag,
 * bad signature): the queue is dropped and the detail is just `what`. */
static int
ossl_reject(int code, const char *what)
{
	ERR_clear_error();
	return cu_fail(code, "%s", what);
}

int
cu_md5_digest_hex(const char *const parts[], size_t nparts, char out[static 33])
{
	uint8_t d[16];
	unsigned int dl = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok = m != NULL && EVP_DigestInit_ex(m, EVP_md5(), NULL) == 1;
	for (size_t i = 0; ok && i < nparts; i++) {
		if (i > 0)
			ok = EVP_DigestUpdate(m, ":", 1) == 1;
		ok = ok && EVP_DigestUpdate(m, parts[i], strlen(parts[i])) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(m, d, &dl) == 1;
	EVP_MD_CTX_free(m);
	if (!ok)
		return cu_ossl_fail(CU_ERR_CRYPTO, "MD5 for Digest authentication");
	cu_hex(d, sizeof(d), out);
	cu_wipe(d, sizeof(d));
	return 0;
}

int
cu_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t len,
               uint8_t out[static 32])
{
	unsigned int ol = 0;
	if (key_len > INT_MAX ||
	    HMAC(EVP_sha256(), key, (int)key_len, msg, len, out, &ol) == NULL || ol != 32)
		return cu_ossl_fail(CU_ERR_CRYPTO, "HMAC-SHA256");
	return 0;
}

int
cu_sha1_parts(const void *const parts[], const size_t lens[], size_t nparts,
              uint8_t out[static 20])
{
	unsigned int dl = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok = m != NULL && EVP_DigestInit_ex(m, EVP_sha1(), NULL) == 1;
	for (size_t i = 0; ok && i < nparts; i++)
		ok = EVP_DigestUpdate(m, parts[i], lens[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(m, out, &dl) == 1 && dl == 20;
	EVP_MD_CTX_free(m);
	if (!ok)
		return cu_ossl_fail(CU_ERR_CRYPTO, "SHA-1 for a WS-Security password digest");
	return 0;
}

/* ---- hygiene ---- */

bool
cu_ct_equal(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return true;
	return CRYPTO_memcmp(a, b, n) == 0;
}

int
cu_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	if (buf == NULL && n > 0)
		return cu_fail(CU_ERR_INVAL, "cu_random: NULL buffer");
	while (n > 0) {
		size_t k = n > CHUNK_MAX ? CHUNK_MAX : n;
		if (RAND_priv_bytes(p, (int)k) != 1)
			return cu_ossl_fail(CU_ERR_CRYPTO, "RAND_priv_bytes");
		p += k;
		n -= k;
	}
	return 0;
}

/* ---- SHA-256 ---- */

int
cu_sha256(const void *data, size_t len, uint8_t out[static CU_SHA256_LEN])
{
	if (data == NULL && len > 0)
		return cu_fail(CU_ERR_INVAL, "cu_sha256: NULL data");
	if (EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) != 1)
		return cu_ossl_fail(CU_ERR_CRYPTO, "SHA-256");
	return 0;
}

int
cu_sha256_new(cu_sha256_ctx **ret)
{
	cu_sha256_ctx *c = NULL;
	int r;

	if (ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_sha256_new: NULL ret");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return cu_fail(CU_ERR_NOMEM, "cu_sha256_new");
	c->md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	c->ctx = EVP_MD_CTX_new();
	if (c->md == NULL || c->ctx == NULL) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "SHA-256 context");
		goto fail;
	}
	r = cu_sha256_init(c);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	cu_sha256_free(c);
	return r;
}

int
cu_sha256_init(cu_sha256_ctx *c)
{
	if (c == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_sha256_init: NULL context");
	/* Re-initialising with the same EVP_MD reuses the provider context. */
	if (EVP_DigestInit_ex2(c->ctx, c->md, NULL) != 1) {
		c->ready = false;
		return cu_ossl_fail(CU_ERR_CRYPTO, "SHA-256 init");
	}
	c->ready = true;
	return 0;
}

int
cu_sha256_update(cu_sha256_ctx *c, const void *data, size_t len)
{
	if (c == NULL || (data == NULL && len > 0))
		return cu_fail(CU_ERR_INVAL, "cu_sha256_update: NULL argument");
	if (!c->ready)
		return cu_fail(CU_ERR_INVAL, "cu_sha256_update: context finalised; call cu_sha256_init");
	if (EVP_DigestUpdate(c->ctx, data, len) != 1) {
		c->ready = false;
		return cu_ossl_fail(CU_ERR_CRYPTO, "SHA-256 update");
	}
	return 0;
}

int
cu_sha256_final(cu_sha256_ctx *c, uint8_t out[static CU_SHA256_LEN])
{
	unsigned int n = 0;

	if (c == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_sha256_final: NULL context");
	if (!c->ready)
		return cu_fail(CU_ERR_INVAL, "cu_sha256_final: context finalised; call cu_sha256_init");
	c->ready = false;
	if (EVP_DigestFinal_ex(c->ctx, out, &n) != 1 || n != CU_SHA256_LEN)
		return cu_ossl_fail(CU_ERR_CRYPTO, "SHA-256 final");
	return 0;
}

void
cu_sha256_free(cu_sha256_ctx *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->ctx);
	EVP_MD_free(c->md);
	free(c);
}

/* ---- AES-256-GCM ---- */

int
cu_aead_new(const uint8_t key[static CU_AES256_KEY_LEN], cu_aead **ret)
{
	return cu_aead_new_keylen(key, CU_AES256_KEY_LEN, ret);
}

int
cu_aead_new_keylen(const uint8_t *key, size_t key_len, cu_aead **ret)
{
	cu_aead *a = NULL;
	EVP_CIPHER *cipher = NULL;
	int r;

	if (ret == NULL || key == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_aead_new: NULL key or ret");
	const char *name = key_len == 16 ? "AES-128-GCM" : key_len == 24 ? "AES-192-GCM"
	                 : key_len == 32 ? "AES-256-GCM" : NULL;
	if (name == NULL)
		return cu_fail(CU_ERR_INVAL, "AES-GCM key of %zu bytes (16, 24 or 32)", key_len);
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return cu_fail(CU_ERR_NOMEM, "cu_aead_new");
	cipher = EVP_CIPHER_fetch(NULL, name, NULL);
	a->ctx = EVP_CIPHER_CTX_new();
	if (cipher == NULL || a->ctx == NULL) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "AES-256-GCM context");
		goto fail;
	}
	/* The key schedule is computed here, once; OpenSSL keeps its own copy
	 * and cleanses it when the context is freed. */
	if (EVP_CipherInit_ex2(a->ctx, cipher, key, NULL, 1, NULL) != 1) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "AES-256-GCM key");
		goto fail;
	}
	a->ivlen = CU_GCM_NONCE_LEN;
	EVP_CIPHER_free(cipher);
	*ret = a;
	return 0;
fail:
	EVP_CIPHER_free(cipher);
	cu_aead_free(a);
	return r;
}

void
cu_aead_free(cu_aead *a)
{
	if (a == NULL)
		return;
	EVP_CIPHER_CTX_free(a->ctx);
	free(a);
}

/* Re-initialises the context for one message: direction and IV only. */
static int
aead_start(cu_aead *a, const uint8_t *nonce, size_t nonce_len, int enc)
{
	if (nonce_len != a->ivlen) {
		if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)nonce_len, NULL) != 1)
			return ossl_reject(CU_ERR_UNSUPPORTED,
			                   "AES-GCM: nonce length refused by OpenSSL");
		a->ivlen = nonce_len;
	}
	if (EVP_CIPHER_CTX_get_iv_length(a->ctx) != (int)nonce_len)
		return ossl_reject(CU_ERR_UNSUPPORTED, "AES-GCM: nonce length not applied");
	if (EVP_CipherInit_ex2(a->ctx, NULL, NULL, nonce, enc, NULL) != 1)
		return cu_ossl_fail(CU_ERR_CRYPTO, "AES-GCM init");
	return 0;
}

/* Feeds AAD (out == NULL) or message bytes through the context in chunks. */
static int
aead_update(cu_aead *a, const uint8_t *in, size_t len, uint8_t *out)
{
	while (len > 0) {
		size_t k = len > CHUNK_MAX ? CHUNK_MAX : len;
		int outl = 0;
		if (EVP_CipherUpdate(a->ctx, out, &outl, in, (int)k) != 1)
			return cu_ossl_fail(CU_ERR_CRYPTO, "AES-GCM update");
		if (out != NULL) {
			if ((size_t)outl != k)
				return cu_fail(CU_ERR_CRYPTO, "AES-GCM update: short output");
			out += k;
		}
		in += k;
		len -= k;
	}
	return 0;
}

/* The argument checks shared by seal and open. */
static int
aead_check(const cu_aead *a, const uint8_t *nonce, size_t nonce_len,
           const uint8_t *aad, size_t aad_len,
           const uint8_t *in, size_t len, const uint8_t *out)
{
	if (a == NULL || nonce == NULL)
		return cu_fail(CU_ERR_INVAL, "AES-GCM: NULL context or nonce");
	if (nonce_len == 0)
		return cu_fail(CU_ERR_INVAL, "AES-GCM: empty nonce");
	/* GCM itself allows longer nonces (they are GHASHed); OpenSSL does not. */
	if (nonce_len > CU_GCM_NONCE_MAX)
		return cu_fail(CU_ERR_UNSUPPORTED, "AES-GCM: nonce of %zu bytes (max %d)",
		               nonce_len, CU_GCM_NONCE_MAX);
	if (aad == NULL && aad_len > 0)
		return cu_fail(CU_ERR_INVAL, "AES-GCM: NULL aad");
	if (len > 0 && (in == NULL || out == NULL))
		return cu_fail(CU_ERR_INVAL, "AES-GCM: NULL input or output");
	if ((uint64_t)len > GCM_MSG_MAX)
		return cu_fail(CU_ERR_LIMIT, "AES-GCM: message of %zu bytes", len);
	return 0;
}

int
cu_aead_seal(cu_aead *a, const uint8_t *nonce, size_t nonce_len,
             const uint8_t *aad, size_t aad_len,
             const uint8_t *in, size_t len, uint8_t *out,
             uint8_t tag[static CU_GCM_TAG_LEN])
{
	uint8_t fin[16];
	int finl = 0;
	int r;

	if ((r = aead_check(a, nonce, nonce_len, aad, aad_len, in, len, out)) < 0 ||
	    (r = aead_start(a, nonce, nonce_len, 1)) < 0 ||
	    (r = aead_update(a, aad, aad_len, NULL)) < 0 ||
	    (r = aead_update(a, in, len, out)) < 0)
		return r;
	if (EVP_CipherFinal_ex(a->ctx, fin, &finl) != 1 || finl != 0)
		return cu_ossl_fail(CU_ERR_CRYPTO, "AES-GCM final");
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, CU_GCM_TAG_LEN, tag) != 1)
		return cu_ossl_fail(CU_ERR_CRYPTO, "AES-GCM get tag");
	return 0;
}

int
cu_aead_open(cu_aead *a, const uint8_t *nonce, size_t nonce_len,
             const uint8_t *aad, size_t aad_len,
             const uint8_t *in, size_t len, uint8_t *out,
             const uint8_t *tag, size_t tag_len)
{
	uint8_t fin[16];
	int finl = 0;
	int r;

	/* Argument errors return before anything is written to out. */
	r = aead_check(a, nonce, nonce_len, aad, aad_len, in, len, out);
	if (r < 0)
		return r;
	if (tag == NULL || tag_len < 12 || tag_len > CU_GCM_TAG_LEN)
		return cu_fail(CU_ERR_INVAL, "AES-GCM: tag of %zu bytes (12..16)", tag_len);
	r = aead_start(a, nonce, nonce_len, 0);
	if (r < 0)
		return r;
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag_len, unconst(tag)) != 1)
		return cu_ossl_fail(CU_ERR_CRYPTO, "AES-GCM set tag");
	if ((r = aead_update(a, aad, aad_len, NULL)) < 0 ||
	    (r = aead_update(a, in, len, out)) < 0)
		goto wipe;
	if (EVP_CipherFinal_ex(a->ctx, fin, &finl) != 1) {
		r = ossl_reject(CU_ERR_AUTH, "AES-GCM: authentication tag mismatch");
		goto wipe;
	}
	return 0;
wipe:
	/* No unauthenticated plaintext leaves this function. */
	cu_wipe(out, len);
	return r;
}

/* ---- Ed25519 ---- */

static int
ed25519_priv_key(const uint8_t priv[static CU_ED25519_KEY_LEN], EVP_PKEY **ret)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
	                                           CU_ED25519_KEY_LEN);
	if (k == NULL)
		return cu_ossl_fail(CU_ERR_CRYPTO, "Ed25519 private key");
	*ret = k;
	return 0;
}

int
cu_ed25519_keygen(uint8_t priv[static CU_ED25519_KEY_LEN],
                  uint8_t pub[static CU_ED25519_KEY_LEN])
{
	uint8_t seed[CU_ED25519_KEY_LEN];
	int r;

	/* An Ed25519 private key is 32 uniformly random bytes (RFC 8032 5.1.5). */
	r = cu_random(seed, sizeof(seed));
	if (r < 0)
		goto out;
	r = cu_ed25519_public(seed, pub);
	if (r < 0)
		goto out;
	memcpy(priv, seed, sizeof(seed));
out:
	cu_wipe(seed, sizeof(seed));
	return r;
}

int
cu_ed25519_public(const uint8_t priv[static CU_ED25519_KEY_LEN],
                  uint8_t pub[static CU_ED25519_KEY_LEN])
{
	EVP_PKEY *k = NULL;
	size_t n = CU_ED25519_KEY_LEN;
	int r;

	r = ed25519_priv_key(priv, &k);
	if (r < 0)
		return r;
	if (EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != CU_ED25519_KEY_LEN)
		r = cu_ossl_fail(CU_ERR_CRYPTO, "Ed25519 public key");
	EVP_PKEY_free(k);
	return r;
}

int
cu_ed25519_sign(const uint8_t priv[static CU_ED25519_KEY_LEN],
                const void *msg, size_t len,
                uint8_t sig[static CU_ED25519_SIG_LEN])
{
	static const uint8_t empty[1];
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *mctx = NULL;
	size_t n = CU_ED25519_SIG_LEN;
	int r;

	if (msg == NULL && len > 0)
		return cu_fail(CU_ERR_INVAL, "cu_ed25519_sign: NULL message");
	r = ed25519_priv_key(priv, &k);
	if (r < 0)
		return r;
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL || EVP_DigestSignInit(mctx, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(mctx, sig, &n, msg != NULL ? msg : empty, len) != 1 ||
	    n != CU_ED25519_SIG_LEN) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "Ed25519 sign");
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(k); /* cleanses the private key */
	return r;
}

struct cu_sign_key {
	EVP_PKEY *pkey;
};

int
cu_sign_key_new(const uint8_t priv[static CU_ED25519_KEY_LEN], cu_sign_key **ret)
{
	cu_sign_key *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	int r = ed25519_priv_key(priv, &k->pkey);
	if (r < 0) {
		free(k);
		return r;
	}
	*ret = k;
	return 0;
}

int
cu_sign_key_sign(cu_sign_key *k, const void *msg, size_t len,
                 uint8_t sig[static CU_ED25519_SIG_LEN])
{
	static const uint8_t empty[1];
	size_t n = CU_ED25519_SIG_LEN;
	if (k == NULL || (msg == NULL && len > 0))
		return cu_fail(CU_ERR_INVAL, "cu_sign_key_sign: NULL key or message");
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int r = 0;
	if (mctx == NULL || EVP_DigestSignInit(mctx, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(mctx, sig, &n, msg != NULL ? msg : empty, len) != 1 ||
	    n != CU_ED25519_SIG_LEN)
		r = cu_ossl_fail(CU_ERR_CRYPTO, "Ed25519 sign");
	EVP_MD_CTX_free(mctx);
	return r;
}

void
cu_sign_key_free(cu_sign_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey); /* cleanses the private key */
	free(k);
}

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ready = -1;

static void
sodium_start(void)
{
	sodium_ready = sodium_init() >= 0 ? 0 : -1;
}

/* libsodium, not OpenSSL: verification is the hot path (a seal a second of
 * every camera, every API request's token) and libsodium's is 2.2 times as
 * fast here; both agree on all of Wycheproof's Ed25519 cases, and libsodium
 * is the stricter where they could differ (docs/crypto.md, "Ed25519
 * verification"). Signing stays with OpenSSL, where the keys live. */
int
cu_ed25519_verify(const uint8_t pub[static CU_ED25519_KEY_LEN],
                  const void *msg, size_t len,
                  const uint8_t sig[static CU_ED25519_SIG_LEN])
{
	static const uint8_t empty[1];

	if (msg == NULL && len > 0)
		return cu_fail(CU_ERR_INVAL, "cu_ed25519_verify: NULL message");
	if (pthread_once(&sodium_once, sodium_start) != 0 || sodium_ready < 0)
		return cu_fail(CU_ERR_CRYPTO, "Ed25519 verify: libsodium could not start");
	/* rejects S >= L, non-canonical and small-order R and A; it compares the
	 * encoded R byte for byte. Anything but 0 is a rejection. */
	if (crypto_sign_verify_detached(sig, msg != NULL ? msg : empty, len, pub) != 0)
		return cu_fail(CU_ERR_AUTH, "Ed25519: bad signature");
	return 0;
}

/* ---- ECDSA P-256 ---- */

static int
p256_pub_key(const uint8_t *pub, size_t pub_len, EVP_PKEY **ret)
{
	EVP_PKEY_CTX *pctx = NULL, *cctx = NULL;
	EVP_PKEY *k = NULL;
	OSSL_PARAM params[3];
	int r;

	if (pub == NULL || pub_len != P256_POINT_LEN || pub[0] != 0x04)
		return cu_fail(CU_ERR_FORMAT,
		               "ECDSA P-256: public key must be a 65-byte uncompressed point");
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	                                             unconst("prime256v1"), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	                                              unconst(pub), pub_len);
	params[2] = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "ECDSA P-256 key context");
		goto out;
	}
	/* Decoding the point checks that it lies on the curve. */
	if (EVP_PKEY_fromdata(pctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		r = ossl_reject(CU_ERR_FORMAT, "ECDSA P-256: public key is not a curve point");
		goto out;
	}
	/* Also refuse the point at infinity and points outside the subgroup. */
	cctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (cctx == NULL) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "ECDSA P-256 key check");
		goto out;
	}
	if (EVP_PKEY_public_check(cctx) != 1) {
		r = ossl_reject(CU_ERR_FORMAT, "ECDSA P-256: invalid public key");
		goto out;
	}
	*ret = k;
	k = NULL;
	r = 0;
out:
	EVP_PKEY_CTX_free(cctx);
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(k);
	return r;
}

/* Accepts sig only if it is the unique DER encoding of an ECDSA-Sig-Value:
 * parse, re-encode, compare. Long-form lengths, leading zeros, negative
 * integers, indefinite lengths and trailing bytes all fail the comparison. */
static int
ecdsa_strict_der(const uint8_t *sig, size_t sig_len)
{
	const unsigned char *p = sig;
	unsigned char *der = NULL;
	ECDSA_SIG *es = NULL;
	int n, r;

	if (sig == NULL || sig_len == 0 || sig_len > ECDSA_P256_DER_MAX)
		return ossl_reject(CU_ERR_AUTH, "ECDSA P-256: signature length out of range");
	es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
	if (es == NULL) {
		r = ossl_reject(CU_ERR_AUTH, "ECDSA P-256: signature is not DER");
		goto out;
	}
	n = i2d_ECDSA_SIG(es, &der);
	if (n <= 0) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "ECDSA P-256: re-encoding");
		goto out;
	}
	if ((size_t)n != sig_len || memcmp(der, sig, sig_len) != 0) {
		r = ossl_reject(CU_ERR_AUTH, "ECDSA P-256: signature is not strict DER");
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return r;
}

int
cu_ecdsa_p256_verify(const uint8_t *pub, size_t pub_len,
                     const void *msg, size_t len,
                     const uint8_t *sig, size_t sig_len)
{
	static const uint8_t empty[1];
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *mctx = NULL;
	int r;

	if (msg == NULL && len > 0)
		return cu_fail(CU_ERR_INVAL, "cu_ecdsa_p256_verify: NULL message");
	r = p256_pub_key(pub, pub_len, &k);
	if (r < 0)
		return r;
	r = ecdsa_strict_der(sig, sig_len);
	if (r < 0)
		goto out;
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL || EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, k) != 1)
		r = cu_ossl_fail(CU_ERR_CRYPTO, "ECDSA P-256 verify init");
	else if (EVP_DigestVerify(mctx, sig, sig_len, msg != NULL ? msg : empty, len) != 1)
		r = ossl_reject(CU_ERR_AUTH, "ECDSA P-256: bad signature");
out:
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(k);
	return r;
}

/* ---- key derivation ---- */

int
cu_hkdf_sha256(const uint8_t *salt, size_t salt_len,
               const uint8_t *ikm, size_t ikm_len,
               const uint8_t *info, size_t info_len,
               uint8_t *out, size_t out_len)
{
	static const uint8_t empty[1];
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	size_t np = 0;
	int r;

	if (out == NULL || out_len == 0 || out_len > CU_HKDF_MAX_OUT)
		return cu_fail(CU_ERR_INVAL, "HKDF: output length %zu (1..%d)", out_len,
		               CU_HKDF_MAX_OUT);
	if ((salt == NULL && salt_len > 0) || (ikm == NULL && ikm_len > 0) ||
	    (info == NULL && info_len > 0))
		return cu_fail(CU_ERR_INVAL, "HKDF: NULL input");
	if (info_len > HKDF_INFO_MAX)
		return cu_fail(CU_ERR_LIMIT, "HKDF: info of %zu bytes (max %d)", info_len,
		               HKDF_INFO_MAX);
	params[np++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	                                                unconst("SHA256"), 0);
	params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	                                                 unconst(ikm != NULL ? ikm : empty),
	                                                 ikm_len);
	/* An absent salt is HashLen zero bytes (RFC 5869 2.2), as is an empty one. */
	if (salt_len > 0)
		params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		                                                 unconst(salt), salt_len);
	if (info_len > 0)
		params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		                                                 unconst(info), info_len);
	params[np] = OSSL_PARAM_construct_end();

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	if (kctx == NULL) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "HKDF context");
		goto out;
	}
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1) {
		cu_wipe(out, out_len);
		r = cu_ossl_fail(CU_ERR_CRYPTO, "HKDF derive");
		goto out;
	}
	r = 0;
out:
	EVP_KDF_CTX_free(kctx); /* cleanses the key material it copied */
	EVP_KDF_free(kdf);
	return r;
}

int
cu_argon2id(const void *pwd, size_t pwd_len, const uint8_t *salt, size_t salt_len,
            const struct cu_argon2_params *p, uint8_t *out, size_t out_len)
{
	int rc;

	if (p == NULL || out == NULL || salt == NULL || (pwd == NULL && pwd_len > 0))
		return cu_fail(CU_ERR_INVAL, "Argon2id: NULL argument");
	if (salt_len < ARGON2_SALT_MIN || salt_len > ARGON2_MAX_SALT_LENGTH)
		return cu_fail(CU_ERR_INVAL, "Argon2id: salt of %zu bytes (min %d)", salt_len,
		               ARGON2_SALT_MIN);
	if (out_len < ARGON2_OUT_MIN || out_len > ARGON2_OUT_MAX)
		return cu_fail(CU_ERR_INVAL, "Argon2id: output of %zu bytes (%d..%d)", out_len,
		               ARGON2_OUT_MIN, ARGON2_OUT_MAX);
	if (pwd_len > ARGON2_MAX_PWD_LENGTH)
		return cu_fail(CU_ERR_LIMIT, "Argon2id: password of %zu bytes", pwd_len);
	/* These come from files: check before any memory is committed. */
	if (p->t_cost < 1 || p->t_cost > CU_ARGON2_T_MAX)
		return cu_fail(CU_ERR_LIMIT, "Argon2id: t=%u (1..%d)", p->t_cost, CU_ARGON2_T_MAX);
	if (p->m_cost_kib < CU_ARGON2_M_MIN || p->m_cost_kib > CU_ARGON2_M_MAX)
		return cu_fail(CU_ERR_LIMIT, "Argon2id: m=%u KiB (%d..%d)", p->m_cost_kib,
		               CU_ARGON2_M_MIN, CU_ARGON2_M_MAX);
	if (p->parallelism < 1 || p->parallelism > CU_ARGON2_P_MAX)
		return cu_fail(CU_ERR_LIMIT, "Argon2id: p=%u (1..%d)", p->parallelism,
		               CU_ARGON2_P_MAX);

	/* Version 0x13 (RFC 9106); libargon2 wipes its memory blocks itself. */
	rc = argon2id_hash_raw(p->t_cost, p->m_cost_kib, p->parallelism,
	                       pwd, pwd_len, salt, salt_len, out, out_len);
	if (rc != ARGON2_OK) {
		cu_wipe(out, out_len);
		if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
			return cu_fail(CU_ERR_NOMEM, "Argon2id: %s", argon2_error_message(rc));
		return cu_fail(CU_ERR_CRYPTO, "Argon2id: %s", argon2_error_message(rc));
	}
	return 0;
}

/* ---- key wrapping ---- */

int
cu_key_wrap(const uint8_t kek[static CU_AES256_KEY_LEN],
            const void *label, size_t label_len,
            const uint8_t *key, size_t key_len, uint8_t *out)
{
	cu_aead *a = NULL;
	int r;

	if (key == NULL || out == NULL || (label == NULL && label_len > 0))
		return cu_fail(CU_ERR_INVAL, "cu_key_wrap: NULL argument");
	if (key_len == 0)
		return cu_fail(CU_ERR_INVAL, "cu_key_wrap: empty key");
	if (key_len > WRAP_KEY_MAX)
		return cu_fail(CU_ERR_LIMIT, "cu_key_wrap: key of %zu bytes (max %d)", key_len,
		               WRAP_KEY_MAX);
	r = cu_aead_new(kek, &a);
	if (r < 0)
		return r;
	/* Random 96-bit nonce: a KEK wraps few keys, far below the 2^32 bound. */
	r = cu_random(out, CU_GCM_NONCE_LEN);
	if (r < 0)
		goto out;
	r = cu_aead_seal(a, out, CU_GCM_NONCE_LEN, label, label_len, key, key_len,
	                 out + CU_GCM_NONCE_LEN, out + CU_GCM_NONCE_LEN + key_len);
out:
	cu_aead_free(a);
	if (r < 0)
		cu_wipe(out, key_len + CU_WRAP_OVERHEAD);
	return r;
}

int
cu_key_unwrap(const uint8_t kek[static CU_AES256_KEY_LEN],
              const void *label, size_t label_len,
              const uint8_t *wrapped, size_t wrapped_len, uint8_t *out)
{
	cu_aead *a = NULL;
	size_t key_len;
	int r;

	if (wrapped == NULL || out == NULL || (label == NULL && label_len > 0))
		return cu_fail(CU_ERR_INVAL, "cu_key_unwrap: NULL argument");
	if (wrapped_len <= CU_WRAP_OVERHEAD)
		return cu_fail(CU_ERR_FORMAT, "wrapped key: %zu bytes is too short", wrapped_len);
	key_len = wrapped_len - CU_WRAP_OVERHEAD;
	if (key_len > WRAP_KEY_MAX)
		return cu_fail(CU_ERR_LIMIT, "wrapped key: %zu bytes (max %d)", key_len,
		               WRAP_KEY_MAX);
	r = cu_aead_new(kek, &a);
	if (r < 0)
		return r;
	r = cu_aead_open(a, wrapped, CU_GCM_NONCE_LEN, label, label_len,
	                 wrapped + CU_GCM_NONCE_LEN, key_len, out,
	                 wrapped + CU_GCM_NONCE_LEN + key_len, CU_GCM_TAG_LEN);
	cu_aead_free(a);
	if (r == CU_ERR_AUTH)
		return cu_fail(CU_ERR_AUTH, "wrapped key: wrong key, wrong label or altered bytes");
	return r;
}
