/* custody — the site CA and the recording servers' certificates (OpenSSL).
 *
 * Certificates are X.509 v3 with Ed25519 keys and signatures. The CA is
 * self-signed (basicConstraints CA:TRUE critical, keyUsage keyCertSign and
 * cRLSign); a server certificate is an end-entity certificate with keyUsage
 * digitalSignature. Both carry subject and authority key identifiers so that
 * OpenSSL's strict (RFC 5280) chain checks accept them.
 *
 * The HTTPS certificate and its site TLS CA are the same shape with ECDSA
 * P-256 and SHA-256 (browsers refuse Ed25519 in chains), plus what browsers
 * ask of a server certificate: subjectAltName, extendedKeyUsage serverAuth,
 * and at most 398 days of validity (the caller chooses 397). */
#include <arpa/inet.h>
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
#include "custody/error.h"
#include "custody/parse.h"

_Static_assert(CU_FINGERPRINT_LEN == CU_SHA256_LEN, "fingerprints are SHA-256");

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
/* A NUL-terminated malloc'd copy of bio's bytes, 1 to max of them. A PEM
 * private key's copy is the caller's to wipe. */
static int
bio_copy(BIO *bio, long max, const char *what, char **ret_pem, size_t *ret_len)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || n > max)
		return cu_fail(CU_ERR_LIMIT, "%s of %ld bytes (max %ld)", what, n, max);
	char *copy = malloc((size_t)n + 1);
	if (copy == NULL)
		return cu_fail(CU_ERR_NOMEM, "%s", what);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*ret_pem = copy;
	*ret_len = (size_t)n;
	return 0;
}

static int
to_pem(X509 *x, char **ret_pem, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r;
	if (bio == NULL || PEM_write_bio_X509(bio, x) != 1)
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate PEM");
	else
		r = bio_copy(bio, CU_X509_PEM_MAX, "certificate PEM", ret_pem, ret_len);
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

/* What build_cert makes: the Ed25519 evidence certificates and the ECDSA
 * TLS certificates differ only in these. */
struct cert_spec {
	X509 *issuer;                   /* NULL: self-signed */
	EVP_PKEY *signer, *subject_key;
	const char *cn, *org;           /* org NULL or "": no O= */
	time_t not_before;
	int days;                       /* notAfter = notBefore + days */
	const EVP_MD *md;               /* NULL for Ed25519, which hashes itself */
	const char *basic_constraints;  /* extension values in OpenSSL's config syntax */
	const char *key_usage;
	const char *ext_key_usage;      /* NULL: none */
	const char *const *names;       /* subjectAltName (canonical, checked), or NULL */
	size_t nnames;
};

/* A subjectAltName of DNS names and IP addresses; names were checked by
 * cu_x509_tls_name, so inet_pton decides which kind each is. */
static int
add_san(X509 *x, const char *const *names, size_t n)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int r = 0;

	if (gens == NULL)
		return cu_ossl_fail(CU_ERR_NOMEM, "subjectAltName");
	for (size_t i = 0; i < n && r == 0; i++) {
		uint8_t ip[16];
		int iplen = inet_pton(AF_INET, names[i], ip) == 1 ? 4 :
		            inet_pton(AF_INET6, names[i], ip) == 1 ? 16 : 0;
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_STRING *v = iplen > 0 ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();

		if (g == NULL || v == NULL ||
		    (iplen > 0 ? ASN1_OCTET_STRING_set(v, ip, iplen)
		               : ASN1_STRING_set(v, names[i], (int)strlen(names[i]))) != 1) {
			ASN1_STRING_free(v);
			GENERAL_NAME_free(g);
			r = cu_ossl_fail(CU_ERR_NOMEM, "subjectAltName");
			break;
		}
		GENERAL_NAME_set0_value(g, iplen > 0 ? GEN_IPADD : GEN_DNS, v);
		if (sk_GENERAL_NAME_push(gens, g) <= 0) {
			GENERAL_NAME_free(g);
			r = cu_ossl_fail(CU_ERR_NOMEM, "subjectAltName");
		}
	}
	if (r == 0 && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
		r = cu_ossl_fail(CU_ERR_CRYPTO, "subjectAltName");
	GENERAL_NAMES_free(gens);
	return r;
}

/* Builds and signs a certificate. */
static int
build_cert(const struct cert_spec *c, char **ret_pem, size_t *ret_len)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	X509V3_CTX v3;
	time_t nb = c->not_before;
	int r;

	r = check_name_field(c->cn, true, "common name");
	if (r < 0)
		return r;
	r = check_name_field(c->org, false, "organisation");
	if (r < 0)
		return r;
	if (c->days < 1 || c->days > DAYS_MAX)
		return cu_fail(CU_ERR_INVAL, "certificate validity of %d days (1..%d)",
		               c->days, DAYS_MAX);
	if (ret_pem == NULL || ret_len == NULL)
		return cu_fail(CU_ERR_INVAL, "certificate: NULL output");

	x = X509_new();
	if (x == NULL) {
		r = cu_ossl_fail(CU_ERR_NOMEM, "certificate");
		goto out;
	}
	r = make_name(c->cn, c->org, &name);
	if (r < 0)
		goto out;
	r = set_serial(x);
	if (r < 0)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, c->issuer != NULL ? X509_get_subject_name(c->issuer)
	                                              : name) != 1 ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &nb) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), c->days, 0, &nb) == NULL ||
	    X509_set_pubkey(x, c->subject_key) != 1) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate fields");
		goto out;
	}

	/* The subject key identifier must exist before the authority key
	 * identifier of a self-signed certificate can refer to it. */
	X509V3_set_ctx(&v3, c->issuer != NULL ? c->issuer : x, x, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&v3);
	if ((r = add_ext(x, &v3, NID_basic_constraints, c->basic_constraints)) < 0 ||
	    (r = add_ext(x, &v3, NID_key_usage, c->key_usage)) < 0 ||
	    (c->ext_key_usage != NULL &&
	     (r = add_ext(x, &v3, NID_ext_key_usage, c->ext_key_usage)) < 0) ||
	    (r = add_ext(x, &v3, NID_subject_key_identifier, "hash")) < 0 ||
	    (r = add_ext(x, &v3, NID_authority_key_identifier, "keyid:always")) < 0 ||
	    (c->nnames > 0 && (r = add_san(x, c->names, c->nnames)) < 0))
		goto out;

	if (X509_sign(x, c->signer, c->md) <= 0) {
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
	struct cert_spec c = {
		.signer = k, .subject_key = k, .cn = common_name, .org = organisation,
		.not_before = time(NULL), .days = days, .md = NULL, /* Ed25519 hashes itself */
		.basic_constraints = "critical,CA:TRUE", .key_usage = "critical,keyCertSign,cRLSign",
	};
	r = build_cert(&c, ret_pem, ret_len);
	EVP_PKEY_free(k); /* cleanses the private key */
	return r;
}

/* One issue: the CA certificate, its private key and the subject's public
 * key, all the issue's own (issue() frees them). */
struct issuer {
	X509 *ca;
	EVP_PKEY *ca_key, *sub_key;
	const char *what;             /* "", "TLS ": starts its details */
};

static void
issuer_free(struct issuer *is)
{
	EVP_PKEY_free(is->sub_key);
	EVP_PKEY_free(is->ca_key);
	X509_free(is->ca);
}

/* Refuses a CA key that is not the CA certificate's (the certificate would
 * never verify: the mistake is made here) or an issuer that is not a CA
 * (basicConstraints CA:TRUE), then builds c signed by it. Frees what is
 * holds, whatever happens. */
static int
issue(struct issuer *is, struct cert_spec *c, char **ret_pem, size_t *ret_len)
{
	int r = 0;
	if (is->ca_key == NULL || is->sub_key == NULL)
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate keys");
	else if (EVP_PKEY_eq(X509_get0_pubkey(is->ca), is->ca_key) != 1) {
		ERR_clear_error();
		r = cu_fail(CU_ERR_INVAL, "%sCA private key does not match the CA certificate",
		            is->what);
	}
	else if ((X509_get_extension_flags(is->ca) & EXFLAG_CA) == 0)
		r = cu_fail(CU_ERR_INVAL, "%sissuer certificate is not a CA", is->what);
	else {
		c->issuer = is->ca;
		c->signer = is->ca_key;
		c->subject_key = is->sub_key;
		r = build_cert(c, ret_pem, ret_len);
	}
	issuer_free(is);
	return r;
}

int
cu_x509_issue(const char *ca_pem, size_t ca_len,
              const uint8_t ca_priv[static CU_ED25519_KEY_LEN],
              const uint8_t subject_pub[static CU_ED25519_KEY_LEN],
              const char *common_name, const char *organisation, int days,
              char **ret_pem, size_t *ret_len)
{
	struct issuer is = {.what = ""};
	int r = load_pem(ca_pem, ca_len, "CA certificate", &is.ca);
	if (r < 0)
		return r;
	is.ca_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ca_priv,
	                                         CU_ED25519_KEY_LEN);
	is.sub_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, subject_pub,
	                                         CU_ED25519_KEY_LEN);
	struct cert_spec c = {
		.cn = common_name, .org = organisation, .not_before = time(NULL), .days = days,
		.md = NULL, .basic_constraints = "critical,CA:FALSE",
		.key_usage = "critical,digitalSignature",
	};
	return issue(&is, &c, ret_pem, ret_len);
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

/* µs since the epoch to time_t seconds, by floor division: a time just
 * before the epoch stays before it. */
static int
us_to_time(int64_t us, time_t *ret)
{
	int64_t s = us >= 0 ? us / 1000000 : -((-(us + 1)) / 1000000) - 1;

	if ((int64_t)(time_t)s != s)
		return cu_fail(CU_ERR_INVAL, "time out of range");
	*ret = (time_t)s;
	return 0;
}

/* Verifies leaf against ca, the only trust anchor, for purpose, with
 * validity judged at at_us and strict RFC 5280 profile checks (the CA's
 * self-signature included). Returns 0, CU_ERR_AUTH or CU_ERR_CRYPTO. */
static int
chain_check(X509 *leaf, X509 *ca, int purpose, int64_t at_us)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	time_t at;
	int r;

	r = us_to_time(at_us, &at);
	if (r < 0)
		return cu_fail_prefix(r, "verification time");
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
	    X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, purpose) != 1) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate verification setup");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE);
	X509_STORE_CTX_set_time(ctx, 0, at);

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

/* The leaf and its trust anchor, which is verified too: self-issued,
 * self-signed, a CA. The caller frees both, also on failure. */
static int
load_anchored(const char *cert_pem, size_t cert_len, const char *ca_pem, size_t ca_len,
              X509 **leaf, X509 **ca)
{
	int r;
	if ((r = load_pem(cert_pem, cert_len, "certificate", leaf)) < 0 ||
	    (r = load_pem(ca_pem, ca_len, "CA certificate", ca)) < 0)
		return r;
	if (X509_check_ca(*ca) == 0 || X509_self_signed(*ca, 1) != 1) {
		ERR_clear_error();
		return cu_fail(CU_ERR_AUTH, "CA certificate is not a self-signed CA");
	}
	return 0;
}

int
cu_x509_verify_chain(const char *cert_pem, size_t cert_len,
                     const char *ca_pem, size_t ca_len, int64_t at_us)
{
	X509 *leaf = NULL, *ca = NULL;
	int r = load_anchored(cert_pem, cert_len, ca_pem, ca_len, &leaf, &ca);
	if (r == 0 && (r = check_leaf(leaf)) == 0)
		r = chain_check(leaf, ca, X509_PURPOSE_ANY, at_us);
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

int
cu_x509_organisation(const char *pem, size_t len, char *buf, size_t size)
{
	X509 *x = NULL;
	unsigned char *utf8 = NULL;
	int i, n, r;

	if (buf == NULL || size == 0)
		return cu_fail(CU_ERR_INVAL, "cu_x509_organisation: no buffer");
	r = load_pem(pem, len, "certificate", &x);
	if (r < 0)
		return r;
	i = X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_organizationName, -1);
	if (i < 0) {
		buf[0] = '\0';
		r = 0;
		goto out;
	}
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
	                                   X509_NAME_get_entry(X509_get_subject_name(x), i)));
	if (n < 0) {
		r = cu_ossl_fail(CU_ERR_FORMAT, "certificate organisation");
		goto out;
	}
	if ((size_t)n >= size) {
		r = cu_fail(CU_ERR_LIMIT, "certificate organisation of %d bytes (max %zu)", n,
		            size - 1);
		goto out;
	}
	if (memchr(utf8, '\0', (size_t)n) != NULL) {
		r = cu_fail(CU_ERR_FORMAT, "certificate organisation contains NUL");
		goto out;
	}
	memcpy(buf, utf8, (size_t)n);
	buf[n] = '\0';
	r = 0;
out:
	OPENSSL_free(utf8);
	X509_free(x);
	return r;
}

/* ---- TLS certificates (ECDSA P-256) ---- */

#define TLS_CN_FALLBACK "custody HTTPS server"
#define SHOWN_MAX 64             /* bytes of a bad name quoted in a detail */

/* Is k an EC key on P-256? code is what to return when it is not. */
static int
check_p256(EVP_PKEY *k, int code, const char *what)
{
	char group[64];
	size_t glen = 0;

	if (EVP_PKEY_is_a(k, "EC") != 1)
		return cu_fail(code, "%s: not an EC key (ECDSA P-256 expected)", what);
	if (EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) != 1 ||
	    OBJ_sn2nid(group) != NID_X9_62_prime256v1) {
		ERR_clear_error();
		return cu_fail(code, "%s: EC key not on P-256", what);
	}
	return 0;
}

/* Parses a PKCS#8 DER P-256 private key, refusing trailing bytes, other
 * curves and keys whose halves disagree. Returns 0 or CU_ERR_FORMAT. */
static int
load_p256_key(const uint8_t *der, size_t len, EVP_PKEY **ret)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8;
	EVP_PKEY *k;
	EVP_PKEY_CTX *pc = NULL;
	int r;

	if (der == NULL)
		return cu_fail(CU_ERR_INVAL, "private key: NULL");
	if (len == 0 || len > CU_ECDSA_P256_KEY_DER_MAX)
		return cu_fail(CU_ERR_FORMAT, "private key of %zu bytes (1..%d)", len,
		               CU_ECDSA_P256_KEY_DER_MAX);
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	if (p8 == NULL)
		return cu_ossl_fail(CU_ERR_FORMAT, "private key (PKCS#8 DER)");
	if (p != der + len) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		return cu_fail(CU_ERR_FORMAT, "private key: %zu bytes after the DER structure",
		               (size_t)(der + len - p));
	}
	k = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8); /* clears the key octets it held */
	if (k == NULL)
		return cu_ossl_fail(CU_ERR_FORMAT, "private key (PKCS#8)");
	r = check_p256(k, CU_ERR_FORMAT, "private key");
	if (r < 0)
		goto out;
	/* The private scalar in range and the stored public point equal to it
	 * times the generator: a damaged key is refused here, not at signing. */
	pc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (pc == NULL || EVP_PKEY_check(pc) != 1) {
		r = cu_ossl_fail(CU_ERR_FORMAT, "private key check");
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_CTX_free(pc);
	if (r < 0)
		EVP_PKEY_free(k);
	else
		*ret = k;
	return r;
}

int
cu_ecdsa_p256_keygen(uint8_t **ret_der, size_t *ret_len)
{
	EVP_PKEY *k;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	uint8_t *der = NULL, *q;
	int n, r;

	if (ret_der == NULL || ret_len == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_ecdsa_p256_keygen: NULL output");
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL)
		return cu_ossl_fail(CU_ERR_CRYPTO, "P-256 key generation");
	p8 = EVP_PKEY2PKCS8(k);
	if (p8 == NULL) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "P-256 key encoding");
		goto out;
	}
	n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
	if (n <= 0 || n > CU_ECDSA_P256_KEY_DER_MAX) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "P-256 key encoding");
		goto out;
	}
	der = malloc((size_t)n);
	if (der == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "P-256 key");
		goto out;
	}
	q = der;
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &q) != n) {
		cu_wipe(der, (size_t)n);
		free(der);
		r = cu_ossl_fail(CU_ERR_CRYPTO, "P-256 key encoding");
		goto out;
	}
	*ret_der = der;
	*ret_len = (size_t)n;
	r = 0;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(k);
	return r;
}

int
cu_ecdsa_p256_key_check(const uint8_t *der, size_t len)
{
	EVP_PKEY *k = NULL;
	int r = load_p256_key(der, len, &k);

	EVP_PKEY_free(k);
	return r;
}

int
cu_ecdsa_p256_key_pem(const uint8_t *der, size_t len, char **ret_pem, size_t *ret_len)
{
	EVP_PKEY *k = NULL;
	if (ret_pem == NULL || ret_len == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_ecdsa_p256_key_pem: NULL output");
	int r = load_p256_key(der, len, &k);
	if (r < 0)
		return r;
	/* A secure-memory BIO: its buffer is cleansed when freed. */
	BIO *bio = BIO_new(BIO_s_secmem());
	if (bio == NULL || PEM_write_bio_PKCS8PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1)
		r = cu_ossl_fail(CU_ERR_CRYPTO, "private key PEM");
	else
		r = bio_copy(bio, 4 * CU_ECDSA_P256_KEY_DER_MAX, "private key PEM", ret_pem, ret_len);
	BIO_free(bio);
	EVP_PKEY_free(k);
	return r;
}

/* A name as it may appear in a detail: at most SHOWN_MAX bytes, anything but
 * printable ASCII as '?', so that a hostile name cannot forge a message. */
static void
show_name(const char *name, char *buf, size_t size)
{
	size_t i = 0;

	for (; name[i] != '\0' && i < SHOWN_MAX && i + 4 < size; i++)
		buf[i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
	if (name[i] != '\0' && i + 4 <= size) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
}

int
cu_x509_tls_name(const char *name, char out[static CU_X509_TLS_NAME_MAX + 1])
{
	char shown[SHOWN_MAX + 8], canon[CU_X509_TLS_NAME_MAX + 1];
	uint8_t ip[16];
	size_t n, label = 0;
	bool digits = true;

	if (name == NULL)
		return cu_fail(CU_ERR_INVAL, "TLS name: NULL");
	n = strnlen(name, CU_X509_TLS_NAME_MAX + 1);
	show_name(name, shown, sizeof(shown));
	if (n == 0)
		return cu_fail(CU_ERR_INVAL, "TLS name \"\": empty");
	if (n > CU_X509_TLS_NAME_MAX)
		return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": longer than %d bytes", shown,
		               CU_X509_TLS_NAME_MAX);
	/* inet_pton takes only the plain forms: a.b.c.d in decimal without
	 * leading zeros; IPv6 without brackets or a zone index. */
	if (inet_pton(AF_INET, name, ip) == 1 &&
	    inet_ntop(AF_INET, ip, canon, sizeof(canon)) != NULL) {
		memcpy(out, canon, strlen(canon) + 1);
		return 1;
	}
	if (strchr(name, ':') != NULL) {
		if (inet_pton(AF_INET6, name, ip) == 1 &&
		    inet_ntop(AF_INET6, ip, canon, sizeof(canon)) != NULL) {
			memcpy(out, canon, strlen(canon) + 1);
			return 1;
		}
		return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": not an IPv6 address (write it "
		               "without brackets, port or zone index)", shown);
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c == '.') {
			if (label == 0)
				return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": empty label (a dot at "
				               "the start or two in a row)", shown);
			if (name[i - 1] == '-')
				return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": a label ends with '-'",
				               shown);
			canon[i] = '.';
			label = 0;
			digits = true;
			continue;
		}
		if (c == '*')
			return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": wildcards are not supported; "
			               "name each host", shown);
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool digit = c >= '0' && c <= '9';
		if (!alpha && !digit && c != '-')
			return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": byte %zu is not a letter, digit, "
			               "'-' or '.'", shown, i + 1);
		if (c == '-' && label == 0)
			return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": a label starts with '-'", shown);
		if (++label > 63)
			return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": a label is longer than 63 bytes",
			               shown);
		digits = digits && digit;
		canon[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	if (label == 0)
		return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": ends with '.'; leave the dot out",
		               shown);
	if (name[n - 1] == '-')
		return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": a label ends with '-'", shown);
	/* Browsers read a host whose last label is a number as an IPv4 address
	 * (WHATWG URL), so such a DNS name could never match. */
	if (digits)
		return cu_fail(CU_ERR_INVAL, "TLS name \"%s\": neither a DNS name (the last label "
		               "is all digits) nor an IPv4 address a.b.c.d", shown);
	canon[n] = '\0';
	memcpy(out, canon, n + 1);
	return 0;
}

int
cu_x509_tls_make_ca(const uint8_t *key_der, size_t key_len, const char *common_name,
                    const char *organisation, int64_t not_before_us, int days,
                    char **ret_pem, size_t *ret_len)
{
	EVP_PKEY *k = NULL;
	time_t nb;
	int r;

	r = us_to_time(not_before_us, &nb);
	if (r < 0)
		return cu_fail_prefix(r, "TLS CA notBefore");
	r = load_p256_key(key_der, key_len, &k);
	if (r < 0)
		return cu_fail_prefix(r, "TLS CA");
	struct cert_spec c = {
		.signer = k, .subject_key = k, .cn = common_name, .org = organisation,
		.not_before = nb, .days = days, .md = EVP_sha256(),
		.basic_constraints = "critical,CA:TRUE,pathlen:0",
		.key_usage = "critical,keyCertSign,cRLSign",
	};
	r = build_cert(&c, ret_pem, ret_len);
	EVP_PKEY_free(k);
	return r;
}

int
cu_x509_tls_issue(const char *ca_pem, size_t ca_len, const uint8_t *ca_key_der,
                  size_t ca_key_len, const uint8_t *key_der, size_t key_len,
                  const char *const *names, size_t n, int64_t not_before_us, int days,
                  char **ret_pem, size_t *ret_len)
{
	char canon[CU_X509_TLS_NAMES_MAX][CU_X509_TLS_NAME_MAX + 1];
	const char *list[CU_X509_TLS_NAMES_MAX];
	const char *cn = TLS_CN_FALLBACK;
	time_t nb;
	int r;

	if (names == NULL || n == 0)
		return cu_fail(CU_ERR_INVAL, "TLS certificate: no names");
	if (n > CU_X509_TLS_NAMES_MAX)
		return cu_fail(CU_ERR_LIMIT, "TLS certificate: %zu names (max %d)", n,
		               CU_X509_TLS_NAMES_MAX);
	for (size_t i = 0; i < n; i++) {
		if ((r = cu_x509_tls_name(names[i], canon[i])) < 0)
			return r;
		list[i] = canon[i];
	}
	/* The CN is for people reading the certificate (browsers match only
	 * the subjectAltName); it holds at most 64 bytes. */
	for (size_t i = 0; i < n; i++) {
		if (strlen(canon[i]) <= NAME_FIELD_MAX) {
			cn = canon[i];
			break;
		}
	}
	r = us_to_time(not_before_us, &nb);
	if (r < 0)
		return cu_fail_prefix(r, "TLS certificate notBefore");
	struct issuer is = {.what = "TLS "};
	if ((r = load_pem(ca_pem, ca_len, "TLS CA certificate", &is.ca)) < 0)
		return r;
	if ((r = load_p256_key(ca_key_der, ca_key_len, &is.ca_key)) < 0 ||
	    (r = load_p256_key(key_der, key_len, &is.sub_key)) < 0) {
		const char *whose = is.ca_key == NULL ? "TLS CA" : "TLS server";
		issuer_free(&is);
		return cu_fail_prefix(r, "%s", whose);
	}
	struct cert_spec c = {
		.cn = cn, .org = NULL, .not_before = nb, .days = days, .md = EVP_sha256(),
		.basic_constraints = "critical,CA:FALSE", .key_usage = "critical,digitalSignature",
		.ext_key_usage = "serverAuth", .names = list, .nnames = n,
	};
	return issue(&is, &c, ret_pem, ret_len);
}

/* The subjectAltName entries of x in canonical form. */
static int
read_san(X509 *x, struct cu_x509_tls_info *info)
{
	int crit = 0, r = 0;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);

	if (gens == NULL) {
		if (crit == -1)
			return 0; /* absent */
		return cu_ossl_fail(CU_ERR_FORMAT, "certificate subjectAltName");
	}
	int count = sk_GENERAL_NAME_num(gens);
	if (count > CU_X509_TLS_NAMES_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "certificate subjectAltName: %d entries (max %d)", count,
		            CU_X509_TLS_NAMES_MAX);
		goto out;
	}
	for (int i = 0; i < count; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char *out = info->names[info->nnames];
		int type = 0;
		const ASN1_STRING *v = GENERAL_NAME_get0_value(g, &type);
		const unsigned char *d = ASN1_STRING_get0_data(v);
		int len = ASN1_STRING_length(v);

		if (type == GEN_IPADD) {
			if ((len != 4 && len != 16) ||
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, d, out,
			              CU_X509_TLS_NAME_MAX + 1) == NULL) {
				r = cu_fail(CU_ERR_FORMAT, "certificate subjectAltName: IP address of "
				            "%d bytes", len);
				goto out;
			}
		} else if (type == GEN_DNS) {
			char dns[CU_X509_TLS_NAME_MAX + 1];
			if (len <= 0 || len > CU_X509_TLS_NAME_MAX ||
			    memchr(d, '\0', (size_t)len) != NULL) {
				r = cu_fail(CU_ERR_FORMAT, "certificate subjectAltName: DNS name of "
				            "%d bytes or with NUL", len);
				goto out;
			}
			memcpy(dns, d, (size_t)len);
			dns[len] = '\0';
			r = cu_x509_tls_name(dns, out);
			if (r != 0) {
				r = r < 0 ? cu_fail_prefix(CU_ERR_FORMAT, "certificate subjectAltName")
				          : cu_fail(CU_ERR_FORMAT, "certificate subjectAltName: an IP "
				                    "address written as a DNS name");
				goto out;
			}
		} else {
			r = cu_fail(CU_ERR_UNSUPPORTED, "certificate subjectAltName: entry of type "
			            "%d (only DNS names and IP addresses)", type);
			goto out;
		}
		info->nnames++;
	}
	r = 0;
out:
	GENERAL_NAMES_free(gens);
	return r;
}

int
cu_x509_tls_info(const char *pem, size_t len, struct cu_x509_tls_info *ret)
{
	struct cu_x509_tls_info *info;
	X509 *x = NULL;
	EVP_PKEY *k;
	unsigned int fplen = 0;
	int r;

	if (ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_x509_tls_info: NULL ret");
	/* About 4 KiB of names: on the heap rather than the stack. */
	info = calloc(1, sizeof(*info));
	if (info == NULL)
		return cu_fail(CU_ERR_NOMEM, "certificate");
	r = load_pem(pem, len, "certificate", &x);
	if (r < 0)
		goto out;
	k = X509_get0_pubkey(x);
	if (k == NULL) {
		r = cu_ossl_fail(CU_ERR_FORMAT, "certificate public key");
		goto out;
	}
	if ((r = check_p256(k, CU_ERR_UNSUPPORTED, "certificate key")) < 0)
		goto out;
	uint32_t flags = X509_get_extension_flags(x);
	if (flags & EXFLAG_INVALID) {
		r = cu_fail(CU_ERR_FORMAT, "certificate extensions are malformed or repeated");
		goto out;
	}
	info->ca = (flags & EXFLAG_CA) != 0;
	if (X509_digest(x, EVP_sha256(), info->fingerprint, &fplen) != 1 ||
	    fplen != CU_SHA256_LEN) {
		r = cu_ossl_fail(CU_ERR_CRYPTO, "certificate fingerprint");
		goto out;
	}
	if ((r = asn1_time_to_us(X509_get0_notBefore(x), &info->not_before_us)) < 0 ||
	    (r = asn1_time_to_us(X509_get0_notAfter(x), &info->not_after_us)) < 0 ||
	    (r = read_san(x, info)) < 0)
		goto out;
	*ret = *info;
	r = 0;
out:
	X509_free(x);
	free(info);
	return r;
}

int
cu_x509_tls_key_match(const char *pem, size_t len, const uint8_t *key_der, size_t key_len)
{
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int r;

	r = load_pem(pem, len, "certificate", &x);
	if (r < 0)
		return r;
	r = load_p256_key(key_der, key_len, &k);
	if (r < 0)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(x), k) != 1) {
		ERR_clear_error();
		r = cu_fail(CU_ERR_AUTH, "the private key is not the certificate's");
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_free(k);
	X509_free(x);
	return r;
}

int
cu_x509_tls_verify(const char *cert_pem, size_t cert_len, const char *ca_pem, size_t ca_len,
                   int64_t at_us)
{
	X509 *leaf = NULL, *ca = NULL;
	int r = load_anchored(cert_pem, cert_len, ca_pem, ca_len, &leaf, &ca);
	if (r == 0)
		r = chain_check(leaf, ca, X509_PURPOSE_SSL_SERVER, at_us);
	X509_free(ca);
	X509_free(leaf);
	return r;
}
