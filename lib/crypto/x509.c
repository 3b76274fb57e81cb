/* custody — the site CA and the recording servers' certificates (OpenSSL).
 *
 * Certificates are X.509 v3 with Ed25519 keys and signatures. The CA is
 * self-signed (basicConstraints CA:TRUE critical, keyUsage keyCertSign and
 * cRLSign); a server certificate is an end-entity certificate with keyUsage
 * digitalSignature. Both carry subject and authority key identifiers so that
 * OpenSSL's strict (RFC 5280) chain checks accept them. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "custody/crypto.h"
#include "custody/x509.h"
#include "crypto/crypto_int.h"
#include "util/err.h"

#define SERIAL_BYTES 16          /* 128 random bits */
#define DAYS_MAX (100 * 366)     /* longest validity we issue */
#define NAME_FIELD_MAX 64        /* ub-common-name and ub-organization-name */
#define FINGERPRINT_HEX_LEN (CU_SHA256_LEN * 3) /* "xx:" per byte, last ':' is the NUL */

/* PEM callback that never supplies a passphrase: the library never prompts. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* Parses the first certificate of a PEM buffer of at most CU_X509_PEM_MAX
 * bytes. Returns 0, CU_ERR_INVAL, CU_ERR_LIMIT or CU_ERR_FORMAT. */
static int
load_pem(const char *pem, size_t len, const char *what, X509 **ret)
{
	BIO *bio = NULL;
	X509 *x = NULL;

	if (pem == NULL)
		return cu_fail(CU_ERR_INVAL, "%s: NULL certificate", what);
	if (len > CU_X509_PEM_MAX)
		return cu_fail(CU_ERR_LIMIT, "%s: certificate PEM of %zu bytes (max %d)", what,
		               len, CU_X509_PEM_MAX);
	if (len == 0)
		return cu_fail(CU_ERR_FORMAT, "%s: empty certificate", what);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return cu_ossl_fail(CU_ERR_NOMEM, what);
	x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (x == NULL)
		return cu_ossl_fail(CU_ERR_FORMAT, what);
	*ret = x;
	return 0;
}

/* The certificate as a malloc'd NUL-terminated PEM string. */
static int
to_pem(X509 *x, char **ret_pem, size_t *ret_len)
{
	BIO *bio = NULL;
	char *data = NULL, *copy = NULL;
	long n;
	int r;

	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_X509(bio, x) != 1) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate PEM");
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || n > CU_X509_PEM_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "certificate PEM of %ld bytes (max %d)", n,
		            CU_X509_PEM_MAX);
		goto out;
	}
	copy = malloc((size_t)n + 1);
	if (copy == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "certificate PEM");
		goto out;
	}
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*ret_pem = copy;
	*ret_len = (size_t)n;
	r = 0;
out:
	BIO_free(bio);
	return r;
}

static int
check_name_field(const char *s, bool required, const char *what)
{
	size_t n;

	if (s == NULL) {
		if (required)
			return cu_fail(CU_ERR_INVAL, "certificate %s: missing", what);
		return 0;
	}
	n = strnlen(s, NAME_FIELD_MAX + 1);
	if ((required && n == 0) || n > NAME_FIELD_MAX)
		return cu_fail(CU_ERR_INVAL, "certificate %s: %zu bytes (1..%d)", what, n,
		               NAME_FIELD_MAX);
	return 0;
}

/* O=organisation (when given), CN=common_name: printed CN first in RFC 2253. */
static int
make_name(const char *cn, const char *org, X509_NAME **ret)
{
	X509_NAME *name = X509_NAME_new();

	if (name == NULL)
		return cu_ossl_fail(CU_ERR_NOMEM, "certificate name");
	if ((org != NULL && org[0] != '\0' &&
	     X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
	                                (const unsigned char *)org, -1, -1, 0) != 1) ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	                               (const unsigned char *)cn, -1, -1, 0) != 1) {
		X509_NAME_free(name);
		return cu_ossl_fail(CU_ERR_INVAL, "certificate name (not UTF-8?)");
	}
	*ret = name;
	return 0;
}

/* A positive, non-zero serial of 128 random bits (DER adds a 0x00 when the
 * top bit is set; 17 octets stays within RFC 5280's 20). */
static int
set_serial(X509 *x)
{
	uint8_t rnd[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int r;

	do {
		r = cu_random(rnd, sizeof(rnd));
		if (r < 0)
			return r;
		BN_free(bn);
		bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	} while (bn != NULL && BN_is_zero(bn));
	if (bn == NULL || (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_set_serialNumber(x, ai) != 1)
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate serial");
	else
		r = 0;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return r;
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (ext == NULL)
		return cu_ossl_fail(CU_ERR_CRYPTO, "certificate extension");
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (ok != 1)
		return cu_ossl_fail(CU_ERR_CRYPTO, "certificate extension");
	return 0;
}

/* Builds and signs a certificate. issuer NULL means self-signed. */
static int
build_cert(X509 *issuer, EVP_PKEY *signer, EVP_PKEY *subject_key,
           const char *cn, const char *org, int days, bool ca,
           char **ret_pem, size_t *ret_len)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	X509V3_CTX v3;
	int r;

	r = check_name_field(cn, true, "common name");
	if (r < 0)
		return r;
	r = check_name_field(org, false, "organisation");
	if (r < 0)
		return r;
	if (days < 1 || days > DAYS_MAX)
		return cu_fail(CU_ERR_INVAL, "certificate validity of %d days (1..%d)", days,
		               DAYS_MAX);
	if (ret_pem == NULL || ret_len == NULL)
		return cu_fail(CU_ERR_INVAL, "certificate: NULL output");

	x = X509_new();
	if (x == NULL) {
		r = cu_ossl_fail(CU_ERR_NOMEM, "certificate");
		goto out;
	}
	r = make_name(cn, org, &name);
	if (r < 0)
		goto out;
	r = set_serial(x);
	if (r < 0)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    X509_set_pubkey(x, subject_key) != 1) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate fields");
		goto out;
	}

	/* The subject key identifier must exist before the authority key
	 * identifier of a self-signed certificate can refer to it. */
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&v3);
	if ((r = add_ext(x, &v3, NID_basic_constraints,
	                 ca ? "critical,CA:TRUE" : "critical,CA:FALSE")) < 0 ||
	    (r = add_ext(x, &v3, NID_key_usage,
	                 ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature")) < 0 ||
	    (r = add_ext(x, &v3, NID_subject_key_identifier, "hash")) < 0 ||
	    (r = add_ext(x, &v3, NID_authority_key_identifier, "keyid:always")) < 0)
		goto out;

	/* Ed25519 signs the message itself: no separate digest. */
	if (X509_sign(x, signer, NULL) <= 0) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate signature");
		goto out;
	}
	r = to_pem(x, ret_pem, ret_len);
out:
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

int
cu_x509_make_ca(const uint8_t ca_priv[static CU_ED25519_KEY_LEN],
                const char *common_name, const char *organisation, int days,
                char **ret_pem, size_t *ret_len)
{
	EVP_PKEY *k;
	int r;

	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ca_priv, CU_ED25519_KEY_LEN);
	if (k == NULL)
		return cu_ossl_fail(CU_ERR_CRYPTO, "CA private key");
	r = build_cert(NULL, k, k, common_name, organisation, days, true, ret_pem, ret_len);
	EVP_PKEY_free(k); /* cleanses the private key */
	return r;
}

int
cu_x509_issue(const char *ca_pem, size_t ca_len,
              const uint8_t ca_priv[static CU_ED25519_KEY_LEN],
              const uint8_t subject_pub[static CU_ED25519_KEY_LEN],
              const char *common_name, const char *organisation, int days,
              char **ret_pem, size_t *ret_len)
{
	X509 *ca = NULL;
	EVP_PKEY *ca_key = NULL, *sub_key = NULL;
	int r;

	r = load_pem(ca_pem, ca_len, "CA certificate", &ca);
	if (r < 0)
		return r;
	ca_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ca_priv,
	                                      CU_ED25519_KEY_LEN);
	sub_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, subject_pub,
	                                      CU_ED25519_KEY_LEN);
	if (ca_key == NULL || sub_key == NULL) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate keys");
		goto out;
	}
	/* Issuing with a key that is not the CA's would make a certificate
	 * that never verifies: refuse it here, where the mistake is made. */
	if (EVP_PKEY_eq(X509_get0_pubkey(ca), ca_key) != 1) {
		ERR_clear_error();
		r = cu_fail(CU_ERR_INVAL, "CA private key does not match the CA certificate");
		goto out;
	}
	if (X509_check_ca(ca) == 0) {
		r = cu_fail(CU_ERR_INVAL, "issuer certificate is not a CA");
		goto out;
	}
	r = build_cert(ca, ca_key, sub_key, common_name, organisation, days, false,
	               ret_pem, ret_len);
out:
	EVP_PKEY_free(sub_key);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	return r;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil); no gmtime/timegm and no time zone. */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                                  /* [0, 399] */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

static int
asn1_time_to_us(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	/* ASN1_TIME_to_tm parses and range-checks the UTCTime/GeneralizedTime. */
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return cu_ossl_fail(CU_ERR_FORMAT, "certificate validity time");
	int64_t days = days_from_civil((int64_t)tm.tm_year + 1900, (int64_t)tm.tm_mon + 1,
	                               tm.tm_mday);
	int64_t secs = days * 86400 + (int64_t)tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	*ret = secs * 1000000;
	return 0;
}

/* The RFC 2253 one-line form of name. Non-ASCII characters are kept as
 * UTF-8 rather than escaped as \XX (RFC 2253 2.4 allows either) so that
 * reports show names as people wrote them; control characters are escaped. */
static int
name_to_string(const X509_NAME *name, char *buf, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	int r;

	if (bio == NULL)
		return cu_ossl_fail(CU_ERR_NOMEM, "certificate name");
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
		r = cu_ossl_fail(CU_ERR_FORMAT, "certificate name");
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n < 0 || (size_t)n >= size) {
		r = cu_fail(CU_ERR_LIMIT, "certificate name longer than %zu bytes", size - 1);
		goto out;
	}
	if (n > 0)
		memcpy(buf, data, (size_t)n);
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n) != NULL) {
		r = cu_fail(CU_ERR_FORMAT, "certificate name contains NUL");
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);
	return r;
}

int
cu_x509_info(const char *pem, size_t len, struct cu_x509_info *ret)
{
	struct cu_x509_info info;
	X509 *x = NULL;
	EVP_PKEY *k;
	unsigned int fplen = 0;
	size_t publen = CU_ED25519_KEY_LEN;
	int r;

	if (ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_x509_info: NULL ret");
	memset(&info, 0, sizeof(info));
	r = load_pem(pem, len, "certificate", &x);
	if (r < 0)
		return r;
	k = X509_get0_pubkey(x);
	if (k == NULL) {
		r = cu_ossl_fail(CU_ERR_FORMAT, "certificate public key");
		goto out;
	}
	if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
		r = cu_fail(CU_ERR_UNSUPPORTED, "certificate key is not Ed25519");
		goto out;
	}
	if (EVP_PKEY_get_raw_public_key(k, info.ed25519_pub, &publen) != 1 ||
	    publen != CU_ED25519_KEY_LEN) {
		r = cu_ossl_fail(CU_ERR_FORMAT, "certificate public key");
		goto out;
	}
	if (X509_digest(x, EVP_sha256(), info.fingerprint, &fplen) != 1 ||
	    fplen != CU_SHA256_LEN) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate fingerprint");
		goto out;
	}
	if ((r = name_to_string(X509_get_subject_name(x), info.subject,
	                        sizeof(info.subject))) < 0 ||
	    (r = name_to_string(X509_get_issuer_name(x), info.issuer,
	                        sizeof(info.issuer))) < 0 ||
	    (r = asn1_time_to_us(X509_get0_notBefore(x), &info.not_before_us)) < 0 ||
	    (r = asn1_time_to_us(X509_get0_notAfter(x), &info.not_after_us)) < 0)
		goto out;
	*ret = info;
	r = 0;
out:
	X509_free(x);
	return r;
}

/* True when the leaf may sign seals: not a CA, keyUsage with digitalSignature. */
static int
check_leaf(X509 *leaf)
{
	uint32_t flags = X509_get_extension_flags(leaf);

	if (X509_check_ca(leaf) != 0)
		return cu_fail(CU_ERR_AUTH, "certificate is a CA certificate, not a server's");
	if ((flags & EXFLAG_KUSAGE) == 0 ||
	    (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0)
		return cu_fail(CU_ERR_AUTH, "certificate lacks the digitalSignature key usage");
	return 0;
}

int
cu_x509_verify_chain(const char *cert_pem, size_t cert_len,
                     const char *ca_pem, size_t ca_len, int64_t at_us)
{
	X509 *leaf = NULL, *ca = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	int64_t at_s;
	int r;

	r = load_pem(cert_pem, cert_len, "certificate", &leaf);
	if (r < 0)
		goto out;
	r = load_pem(ca_pem, ca_len, "CA certificate", &ca);
	if (r < 0)
		goto out;

	/* The trust anchor is verified too: self-issued, self-signed, a CA. */
	if (X509_check_ca(ca) == 0 || X509_self_signed(ca, 1) != 1) {
		ERR_clear_error();
		r = cu_fail(CU_ERR_AUTH, "CA certificate is not a self-signed CA");
		goto out;
	}
	r = check_leaf(leaf);
	if (r < 0)
		goto out;

	/* Floor division: a time just before the epoch stays before it. */
	at_s = at_us >= 0 ? at_us / 1000000 : -((-(at_us + 1)) / 1000000) - 1;
	if ((int64_t)(time_t)at_s != at_s) {
		r = cu_fail(CU_ERR_INVAL, "verification time out of range");
		goto out;
	}

	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
	    X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY) != 1) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate verification setup");
		goto out;
	}
	/* The only trust anchor is the CA; validity is judged at the time the
	 * signatures were made; RFC 5280 profile checks are strict. */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE);
	X509_STORE_CTX_set_time(ctx, 0, (time_t)at_s);

	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		int depth = X509_STORE_CTX_get_error_depth(ctx);
		ERR_clear_error();
		r = cu_fail(CU_ERR_AUTH, "certificate does not chain to the CA: %s (depth %d)",
		            X509_verify_cert_error_string(e), depth);
		goto out;
	}
	r = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(leaf);
	return r;
}

void
cu_x509_fingerprint_hex(const uint8_t fp[static CU_SHA256_LEN], char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (buf == NULL || len == 0)
		return;
	/* Too small a buffer gets an empty string, never a cut fingerprint. */
	if (len < FINGERPRINT_HEX_LEN) {
		buf[0] = '\0';
		return;
	}
	for (size_t i = 0; i < CU_SHA256_LEN; i++) {
		buf[3 * i] = hex[fp[i] >> 4];
		buf[3 * i + 1] = hex[fp[i] & 0x0f];
		buf[3 * i + 2] = i + 1 < CU_SHA256_LEN ? ':' : '\0';
	}
}
