/* Unit tests for lib/crypto/x509.c: the site CA, server certificates and
 * chain verification. OpenSSL is used directly here as the independent
 * reader of what the module writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/x509.h"

#define DAY_US (86400LL * 1000000LL)

struct fixture {
	uint8_t ca_priv[32], ca_pub[32];
	uint8_t srv_priv[32], srv_pub[32];
	char *ca_pem, *srv_pem;
	size_t ca_len, srv_len;
	int64_t t0_us; /* wall-clock time just before the certificates were made */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->t0_us = (int64_t)time(NULL) * 1000000;
	assert_int_equal(cu_ed25519_keygen(f->ca_priv, f->ca_pub), 0);
	assert_int_equal(cu_ed25519_keygen(f->srv_priv, f->srv_pub), 0);
	assert_int_equal(cu_x509_make_ca(f->ca_priv, "Site CA", "Example Police", 3650,
	                                 &f->ca_pem, &f->ca_len), 0);
	assert_int_equal(cu_x509_issue(f->ca_pem, f->ca_len, f->ca_priv, f->srv_pub, "rec-01",
	                               "Example Police", 365, &f->srv_pem, &f->srv_len), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	free(f->ca_pem);
	free(f->srv_pem);
	cu_wipe(f, sizeof(*f));
	free(f);
	return 0;
}

static X509 *
parse(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	assert_non_null(bio);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(x);
	return x;
}

static char *
to_pem(X509 *x, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	long n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	char *s = malloc((size_t)n + 1);
	assert_non_null(s);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*len = (size_t)n;
	BIO_free(bio);
	return s;
}

static void
der_sha256(X509 *x, uint8_t out[32])
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	unsigned int mdlen = 0;
	assert_true(n > 0);
	assert_int_equal(EVP_Digest(der, (size_t)n, out, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
	OPENSSL_free(der);
}

static bool
ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	assert_true(i >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(x, i)) == 1;
}

static void
test_info(void **state)
{
	struct fixture *f = *state;
	struct cu_x509_info ca, srv;
	uint8_t fp[32];
	int64_t t1_us = (int64_t)time(NULL) * 1000000;

	assert_int_equal(cu_x509_info(f->ca_pem, f->ca_len, &ca), 0);
	assert_int_equal(cu_x509_info(f->srv_pem, f->srv_len, &srv), 0);
	print_message("x509: CA subject \"%s\"; server subject \"%s\"\n", ca.subject, srv.subject);

	assert_string_equal(ca.subject, "CN=Site CA,O=Example Police");
	assert_string_equal(ca.issuer, ca.subject);
	assert_non_null(strstr(srv.subject, "CN=rec-01"));
	assert_string_equal(srv.subject, "CN=rec-01,O=Example Police");
	assert_string_equal(srv.issuer, ca.subject);
	assert_memory_equal(ca.ed25519_pub, f->ca_pub, 32);
	assert_memory_equal(srv.ed25519_pub, f->srv_pub, 32);

	/* The fingerprint is SHA-256 over the DER, as OpenSSL encodes it. */
	X509 *xca = parse(f->ca_pem, f->ca_len), *xsrv = parse(f->srv_pem, f->srv_len);
	der_sha256(xca, fp);
	assert_memory_equal(ca.fingerprint, fp, 32);
	der_sha256(xsrv, fp);
	assert_memory_equal(srv.fingerprint, fp, 32);

	/* Validity: from now for the requested number of days. */
	assert_true(srv.not_before_us >= f->t0_us - 1000000 && srv.not_before_us <= t1_us + 1000000);
	assert_int_equal(srv.not_after_us - srv.not_before_us, 365 * DAY_US);
	assert_int_equal(ca.not_after_us - ca.not_before_us, 3650 * DAY_US);
	/* ... and agrees with OpenSSL's own reading of the time. */
	int days = 0, secs = 0;
	ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
	assert_non_null(epoch);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notBefore(xsrv)), 1);
	assert_int_equal(srv.not_before_us, ((int64_t)days * 86400 + secs) * 1000000);
	ASN1_TIME_free(epoch);

	/* What the certificates say about themselves. */
	assert_int_equal(X509_get_version(xca), X509_VERSION_3);
	assert_int_equal(X509_get_signature_nid(xca), NID_ED25519);
	assert_int_equal(X509_get_signature_nid(xsrv), NID_ED25519);
	assert_int_equal(X509_check_ca(xca), 1);
	assert_int_equal(X509_check_ca(xsrv), 0);
	assert_true(ext_critical(xca, NID_basic_constraints));
	assert_true(ext_critical(xsrv, NID_basic_constraints));
	assert_true(ext_critical(xca, NID_key_usage));
	assert_int_equal(X509_get_key_usage(xca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_get_key_usage(xsrv), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_self_signed(xca, 1), 1);

	/* The serial is positive and at most 128 bits (RFC 5280: <= 20 octets). */
	BIGNUM *s1 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(xsrv), NULL);
	BIGNUM *s2 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(xca), NULL);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_false(BN_is_negative(s1));
	assert_false(BN_is_zero(s1));
	assert_true(BN_num_bits(s1) <= 128 && BN_num_bits(s1) > 64);
	assert_int_not_equal(BN_cmp(s1, s2), 0);
	BN_free(s1);
	BN_free(s2);
	X509_free(xca);
	X509_free(xsrv);

	char hex[96];
	cu_x509_fingerprint_hex(srv.fingerprint, hex, sizeof(hex));
	assert_int_equal(strlen(hex), 95);
	for (size_t i = 0; i < 32; i++) {
		char want[3];
		snprintf(want, sizeof(want), "%02x", srv.fingerprint[i]);
		assert_memory_equal(hex + 3 * i, want, 2);
		if (i < 31)
			assert_int_equal(hex[3 * i + 2], ':');
	}
	cu_x509_fingerprint_hex(srv.fingerprint, hex, 95); /* too small: empty, not cut */
	assert_string_equal(hex, "");
}

static void
test_verify_ok(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL) * 1000000;

	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, f->ca_pem, f->ca_len, now), 0);
	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, f->ca_pem, f->ca_len,
	                                      now + 300 * DAY_US), 0);
}

static void
test_verify_other_ca(void **state)
{
	struct fixture *f = *state;
	uint8_t priv[32], pub[32];
	char *ca2 = NULL, *srv2 = NULL;
	size_t ca2_len, srv2_len;
	int64_t now = (int64_t)time(NULL) * 1000000;

	/* Same name as the real CA, different key. */
	assert_int_equal(cu_ed25519_keygen(priv, pub), 0);
	assert_int_equal(cu_x509_make_ca(priv, "Site CA", "Example Police", 3650, &ca2, &ca2_len), 0);
	assert_int_equal(cu_x509_issue(ca2, ca2_len, priv, f->srv_pub, "rec-01", "Example Police",
	                               365, &srv2, &srv2_len), 0);
	assert_int_equal(cu_x509_verify_chain(srv2, srv2_len, ca2, ca2_len, now), 0);
	assert_int_equal(cu_x509_verify_chain(srv2, srv2_len, f->ca_pem, f->ca_len, now), CU_ERR_AUTH);
	print_message("x509: other CA: %s\n", cu_error_detail());
	assert_true(strlen(cu_error_detail()) > 0);
	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, ca2, ca2_len, now), CU_ERR_AUTH);

	/* Issuing with a key that is not the CA certificate's is refused. */
	char *bad = NULL;
	size_t bad_len;
	assert_int_equal(cu_x509_issue(f->ca_pem, f->ca_len, priv, f->srv_pub, "rec-02", "X", 30,
	                               &bad, &bad_len), CU_ERR_INVAL);
	assert_null(bad);
	/* A server certificate cannot issue. */
	assert_int_equal(cu_x509_issue(f->srv_pem, f->srv_len, f->srv_priv, pub, "rec-02", "X", 30,
	                               &bad, &bad_len), CU_ERR_INVAL);
	assert_null(bad);
	free(ca2);
	free(srv2);
	cu_wipe(priv, sizeof(priv));
}

static void
test_verify_time(void **state)
{
	struct fixture *f = *state;
	struct cu_x509_info srv;

	assert_int_equal(cu_x509_info(f->srv_pem, f->srv_len, &srv), 0);
	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, f->ca_pem, f->ca_len,
	                                      srv.not_before_us), 0);
	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, f->ca_pem, f->ca_len,
	                                      srv.not_before_us - DAY_US), CU_ERR_AUTH);
	print_message("x509: before notBefore: %s\n", cu_error_detail());
	assert_non_null(strstr(cu_error_detail(), "not yet valid"));
	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, f->ca_pem, f->ca_len,
	                                      srv.not_after_us + DAY_US), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "expired"));
	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, f->ca_pem, f->ca_len, -1),
	                 CU_ERR_AUTH);
}

static void
test_verify_ca_as_leaf(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL) * 1000000;

	assert_int_equal(cu_x509_verify_chain(f->ca_pem, f->ca_len, f->ca_pem, f->ca_len, now),
	                 CU_ERR_AUTH);
	print_message("x509: CA as leaf: %s\n", cu_error_detail());
	/* Nor can a server certificate act as the CA. */
	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, f->srv_pem, f->srv_len, now),
	                 CU_ERR_AUTH);
}

static void
test_verify_tampered(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL) * 1000000;
	X509 *x = parse(f->srv_pem, f->srv_len);
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	X509_free(x);
	assert_true(n > 0);

	/* Flip the last byte: part of the Ed25519 signature. */
	der[n - 1] ^= 0x01;
	const unsigned char *p = der;
	x = d2i_X509(NULL, &p, n);
	assert_non_null(x);
	size_t len;
	char *pem = to_pem(x, &len);
	X509_free(x);
	OPENSSL_free(der);
	assert_int_equal(cu_x509_verify_chain(pem, len, f->ca_pem, f->ca_len, now), CU_ERR_AUTH);
	print_message("x509: tampered signature: %s\n", cu_error_detail());
	free(pem);
}

static void
test_bad_pem(void **state)
{
	struct fixture *f = *state;
	struct cu_x509_info info;
	static const char garbage[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
	                              "-----END CERTIFICATE-----\n";
	static const char text[] = "hello, world\n";
	int64_t now = (int64_t)time(NULL) * 1000000;

	assert_int_equal(cu_x509_info(garbage, strlen(garbage), &info), CU_ERR_FORMAT);
	assert_int_equal(cu_x509_info(text, strlen(text), &info), CU_ERR_FORMAT);
	assert_int_equal(cu_x509_info(text, 0, &info), CU_ERR_FORMAT);
	assert_int_equal(cu_x509_info(NULL, 10, &info), CU_ERR_INVAL);
	/* A cut PEM is not a certificate. */
	assert_int_equal(cu_x509_info(f->srv_pem, f->srv_len / 2, &info), CU_ERR_FORMAT);
	assert_int_equal(cu_x509_verify_chain(garbage, strlen(garbage), f->ca_pem, f->ca_len, now),
	                 CU_ERR_FORMAT);
	assert_int_equal(cu_x509_verify_chain(f->srv_pem, f->srv_len, text, strlen(text), now),
	                 CU_ERR_FORMAT);

	/* Over the size limit: refused before parsing, even if valid. */
	char *big = malloc(CU_X509_PEM_MAX + 2);
	assert_non_null(big);
	memset(big, '\n', CU_X509_PEM_MAX + 1);
	memcpy(big, f->srv_pem, f->srv_len);
	big[CU_X509_PEM_MAX + 1] = '\0';
	assert_int_equal(cu_x509_info(big, CU_X509_PEM_MAX, &info), 0);
	assert_int_equal(cu_x509_info(big, CU_X509_PEM_MAX + 1, &info), CU_ERR_LIMIT);
	assert_int_equal(cu_x509_verify_chain(big, CU_X509_PEM_MAX + 1, f->ca_pem, f->ca_len, now),
	                 CU_ERR_LIMIT);
	free(big);
}

static void
test_make_args(void **state)
{
	struct fixture *f = *state;
	char *pem = NULL;
	size_t len;
	char longname[80];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(cu_x509_make_ca(f->ca_priv, NULL, "O", 10, &pem, &len), CU_ERR_INVAL);
	assert_int_equal(cu_x509_make_ca(f->ca_priv, "", "O", 10, &pem, &len), CU_ERR_INVAL);
	assert_int_equal(cu_x509_make_ca(f->ca_priv, longname, "O", 10, &pem, &len), CU_ERR_INVAL);
	assert_int_equal(cu_x509_make_ca(f->ca_priv, "CA", "O", 0, &pem, &len), CU_ERR_INVAL);
	assert_int_equal(cu_x509_make_ca(f->ca_priv, "CA", "O", -5, &pem, &len), CU_ERR_INVAL);
	assert_null(pem);

	assert_int_equal(cu_x509_make_ca(f->ca_priv, "bad \xff utf-8", "O", 10, &pem, &len),
	                 CU_ERR_INVAL);
	assert_null(pem);

	/* Without an organisation, and with non-ASCII UTF-8 kept readable. */
	assert_int_equal(cu_x509_make_ca(f->ca_priv, "Z\xc3\xbcrich CA", NULL, 10, &pem, &len), 0);
	struct cu_x509_info info;
	assert_int_equal(cu_x509_info(pem, len, &info), 0);
	assert_string_equal(info.subject, "CN=Z\xc3\xbcrich CA");
	free(pem);

	/* RFC 2253 escaping of special characters. */
	assert_int_equal(cu_x509_make_ca(f->ca_priv, "a,b+c", "O", 10, &pem, &len), 0);
	assert_int_equal(cu_x509_info(pem, len, &info), 0);
	assert_string_equal(info.subject, "CN=a\\,b\\+c,O=O");
	free(pem);
}

/* A certificate made directly with OpenSSL at fixed times, to check the
 * ASN1_TIME to microseconds conversion (UTCTime and GeneralizedTime). */
static void
test_fixed_times(void **state)
{
	(void)state;
	uint8_t priv[32], pub[32];
	struct cu_x509_info info;

	assert_int_equal(cu_ed25519_keygen(priv, pub), 0);
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	assert_non_null(k);
	assert_non_null(x);
	assert_non_null(n);
	assert_int_equal(X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	                                            (const unsigned char *)"fixed", -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20000229123456Z"), 1);
	assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20500101000000Z"), 1);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, NULL) > 0);
	size_t len;
	char *pem = to_pem(x, &len);
	assert_int_equal(cu_x509_info(pem, len, &info), 0);
	assert_int_equal(info.not_before_us, 951827696LL * 1000000);  /* 2000-02-29T12:34:56Z */
	assert_int_equal(info.not_after_us, 2524608000LL * 1000000);  /* 2050-01-01T00:00:00Z */
	free(pem);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
	cu_wipe(priv, sizeof(priv));
}

/* A well-formed certificate whose key is not Ed25519 is not custody's. */
static void
test_not_ed25519(void **state)
{
	struct fixture *f = *state;
	struct cu_x509_info info;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	assert_non_null(k);
	assert_non_null(x);
	assert_non_null(n);
	assert_int_equal(X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	                                            (const unsigned char *)"ec", -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	size_t len;
	char *pem = to_pem(x, &len);
	assert_int_equal(cu_x509_info(pem, len, &info), CU_ERR_UNSUPPORTED);
	/* Nor does it chain to our CA. */
	assert_int_equal(cu_x509_verify_chain(pem, len, f->ca_pem, f->ca_len,
	                                      (int64_t)time(NULL) * 1000000), CU_ERR_AUTH);
	free(pem);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* PKCS#8 DER of an OpenSSL key, malloc'd. */
static uint8_t *
pkcs8_der(EVP_PKEY *k, size_t *len)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
	assert_non_null(p8);
	int n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
	assert_true(n > 0);
	uint8_t *der = malloc((size_t)n), *q = der;
	assert_non_null(der);
	assert_int_equal(i2d_PKCS8_PRIV_KEY_INFO(p8, &q), n);
	PKCS8_PRIV_KEY_INFO_free(p8);
	*len = (size_t)n;
	return der;
}

static void
free_key(uint8_t *der, size_t len)
{
	cu_wipe(der, len);
	free(der);
}

/* The ECDSA P-256 helpers behind the HTTPS certificate: keys, names, the
 * TLS CA, issuing, reading back, and what they refuse. */
static void
test_tls_helpers(void **state)
{
	struct fixture *f = *state;
	uint8_t *ca_key, *key, *other;
	size_t ca_key_len, key_len, other_len;
	int64_t now = (int64_t)time(NULL) * 1000000, nb = now - 3600 * INT64_C(1000000);

	assert_int_equal(cu_ecdsa_p256_keygen(&ca_key, &ca_key_len), 0);
	assert_int_equal(cu_ecdsa_p256_keygen(&key, &key_len), 0);
	assert_int_equal(cu_ecdsa_p256_keygen(&other, &other_len), 0);
	assert_true(key_len <= CU_ECDSA_P256_KEY_DER_MAX);
	assert_int_equal(cu_ecdsa_p256_key_check(key, key_len), 0);

	/* keys: trailing or missing bytes, other curves and algorithms */
	uint8_t buf[CU_ECDSA_P256_KEY_DER_MAX + 1];
	memcpy(buf, key, key_len);
	buf[key_len] = 0;
	assert_int_equal(cu_ecdsa_p256_key_check(buf, key_len + 1), CU_ERR_FORMAT);
	assert_int_equal(cu_ecdsa_p256_key_check(key, key_len - 1), CU_ERR_FORMAT);
	assert_int_equal(cu_ecdsa_p256_key_check(key, 0), CU_ERR_FORMAT);
	assert_int_equal(cu_ecdsa_p256_key_check(buf, sizeof(buf)), CU_ERR_FORMAT);
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *ed = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, f->ca_priv, 32);
	assert_non_null(p384);
	assert_non_null(ed);
	size_t l1, l2;
	uint8_t *d1 = pkcs8_der(p384, &l1), *d2 = pkcs8_der(ed, &l2);
	assert_int_equal(cu_ecdsa_p256_key_check(d1, l1), CU_ERR_FORMAT);
	assert_int_equal(cu_ecdsa_p256_key_check(d2, l2), CU_ERR_FORMAT);
	free_key(d1, l1);
	free_key(d2, l2);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed);

	/* names in canonical form */
	char out[CU_X509_TLS_NAME_MAX + 1];
	assert_int_equal(cu_x509_tls_name("WWW.Example.COM", out), 0);
	assert_string_equal(out, "www.example.com");
	assert_int_equal(cu_x509_tls_name("2001:0DB8:0000:0000:0000:0000:0000:0001", out), 1);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(cu_x509_tls_name("::FFFF:192.0.2.1", out), 1);
	assert_string_equal(out, "::ffff:192.0.2.1");
	assert_int_equal(cu_x509_tls_name("192.0.2.1", out), 1);
	assert_int_equal(cu_x509_tls_name("192.0.2.01", out), CU_ERR_INVAL);
	assert_int_equal(cu_x509_tls_name(NULL, out), CU_ERR_INVAL);

	/* the CA */
	char *ca_pem, *pem, org[64];
	size_t ca_len, len;
	assert_int_equal(cu_x509_tls_make_ca(ca_key, ca_key_len, "Test TLS CA", NULL, nb, 3653,
	                                     &ca_pem, &ca_len), 0);
	struct cu_x509_tls_info info;
	assert_int_equal(cu_x509_tls_info(ca_pem, ca_len, &info), 0);
	assert_true(info.ca);
	assert_int_equal(info.nnames, 0);
	assert_int_equal(info.not_before_us, nb);
	assert_int_equal(info.not_after_us - info.not_before_us, 3653 * DAY_US);
	assert_int_equal(cu_x509_organisation(ca_pem, ca_len, org, sizeof(org)), 0);
	assert_string_equal(org, "");
	assert_int_equal(cu_x509_organisation(f->ca_pem, f->ca_len, org, sizeof(org)), 0);
	assert_string_equal(org, "Example Police");
	assert_int_equal(cu_x509_organisation(f->ca_pem, f->ca_len, org, 5), CU_ERR_LIMIT);

	/* a server certificate */
	const char *names[] = {"a.example", "192.0.2.1", "2001:db8::5"};
	assert_int_equal(cu_x509_tls_issue(ca_pem, ca_len, ca_key, ca_key_len, key, key_len, names,
	                                   3, nb, 30, &pem, &len), 0);
	assert_int_equal(cu_x509_tls_info(pem, len, &info), 0);
	assert_false(info.ca);
	assert_int_equal(info.nnames, 3);
	assert_string_equal(info.names[0], "a.example");
	assert_string_equal(info.names[1], "192.0.2.1");
	assert_string_equal(info.names[2], "2001:db8::5");
	assert_int_equal(info.not_after_us - info.not_before_us, 30 * DAY_US);
	assert_int_equal(cu_x509_tls_key_match(pem, len, key, key_len), 0);
	assert_int_equal(cu_x509_tls_key_match(pem, len, other, other_len), CU_ERR_AUTH);
	assert_int_equal(cu_x509_tls_key_match(pem, len, ca_key, ca_key_len), CU_ERR_AUTH);
	assert_int_equal(cu_x509_tls_key_match(pem, len, key, key_len - 1), CU_ERR_FORMAT);
	assert_int_equal(cu_x509_tls_verify(pem, len, ca_pem, ca_len, now), 0);
	assert_int_equal(cu_x509_tls_verify(pem, len, ca_pem, ca_len, now + 31 * DAY_US),
	                 CU_ERR_AUTH);
	assert_int_equal(cu_x509_tls_verify(pem, len, f->ca_pem, f->ca_len, now), CU_ERR_AUTH);
	/* the CA is no server; an Ed25519 certificate is not a TLS one */
	assert_int_equal(cu_x509_tls_verify(ca_pem, ca_len, ca_pem, ca_len, now), CU_ERR_AUTH);
	assert_int_equal(cu_x509_tls_info(f->srv_pem, f->srv_len, &info), CU_ERR_UNSUPPORTED);

	/* its key as PEM, usable with the certificate */
	char *kp;
	size_t kl;
	assert_int_equal(cu_ecdsa_p256_key_pem(key, key_len, &kp, &kl), 0);
	assert_int_equal(strlen(kp), kl);
	assert_memory_equal(kp, "-----BEGIN PRIVATE KEY-----\n", 28);
	BIO *bio = BIO_new_mem_buf(kp, (int)kl);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k);
	X509 *leaf = parse(pem, len);
	assert_int_equal(X509_check_private_key(leaf, k), 1);
	X509_free(leaf);
	EVP_PKEY_free(k);
	cu_wipe(kp, kl);
	free(kp);

	/* refusals */
	char *none = NULL;
	size_t nlen = 0;
	const char *bad[] = {"a.example", "bad_name"};
	const char *many[CU_X509_TLS_NAMES_MAX + 1];
	for (size_t i = 0; i <= CU_X509_TLS_NAMES_MAX; i++)
		many[i] = "a.example";
	assert_int_equal(cu_x509_tls_issue(ca_pem, ca_len, other, other_len, key, key_len, names,
	                                   3, nb, 30, &none, &nlen), CU_ERR_INVAL);
	assert_int_equal(cu_x509_tls_issue(pem, len, key, key_len, other, other_len, names, 3, nb,
	                                   30, &none, &nlen), CU_ERR_INVAL); /* not a CA */
	assert_int_equal(cu_x509_tls_issue(f->ca_pem, f->ca_len, ca_key, ca_key_len, key, key_len,
	                                   names, 3, nb, 30, &none, &nlen), CU_ERR_INVAL);
	assert_int_equal(cu_x509_tls_issue(ca_pem, ca_len, ca_key, ca_key_len, key, key_len, names,
	                                   0, nb, 30, &none, &nlen), CU_ERR_INVAL);
	assert_int_equal(cu_x509_tls_issue(ca_pem, ca_len, ca_key, ca_key_len, key, key_len, bad,
	                                   2, nb, 30, &none, &nlen), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "bad_name"));
	assert_int_equal(cu_x509_tls_issue(ca_pem, ca_len, ca_key, ca_key_len, key, key_len, many,
	                                   CU_X509_TLS_NAMES_MAX + 1, nb, 30, &none, &nlen),
	                 CU_ERR_LIMIT);
	assert_int_equal(cu_x509_tls_issue(ca_pem, ca_len, ca_key, ca_key_len, key, key_len, names,
	                                   3, nb, 0, &none, &nlen), CU_ERR_INVAL);
	assert_int_equal(cu_x509_tls_make_ca(key, key_len, "", NULL, nb, 10, &none, &nlen),
	                 CU_ERR_INVAL);
	assert_null(none);

	free(pem);
	free(ca_pem);
	free_key(ca_key, ca_key_len);
	free_key(key, key_len);
	free_key(other, other_len);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_verify_ok),
		cmocka_unit_test(test_verify_other_ca),
		cmocka_unit_test(test_verify_time),
		cmocka_unit_test(test_verify_ca_as_leaf),
		cmocka_unit_test(test_verify_tampered),
		cmocka_unit_test(test_bad_pem),
		cmocka_unit_test(test_make_args),
		cmocka_unit_test(test_fixed_times),
		cmocka_unit_test(test_not_ed25519),
		cmocka_unit_test(test_tls_helpers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
