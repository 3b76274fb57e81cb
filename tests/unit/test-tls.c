/* Unit tests of the store's TLS files (lib/store/tls.c) and the ECDSA P-256
 * certificate helpers (lib/crypto/x509.c): creation at init and for older
 * stores, reuse, reissue on new names and near expiry, the chain checked by
 * OpenSSL (library and command), a real TLS handshake with the material,
 * the key files decrypted independently from docs/formats/tls.md, and every
 * refusal: wrong store, damaged files, no password, bad names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "custody/error.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/tls.h"
#include "custody/x509.h"
#include "store/store_int.h"
#include "store/tls_int.h"
#include "custody/file.h"

#define PW "unit-test-password"
#define VECTOR_PW "custody-test-vector-password"
#define DAY_US (86400 * INT64_C(1000000))

static char tmproot[] = "/tmp/custody-tls-XXXXXX";
static int nstore;

static const struct cu_argon2_params quick_kdf = {1, CU_ARGON2_M_MIN, 1};

/* ---- helpers ---- */

static void
make_store(char *dir, size_t len)
{
	assert_int_equal(cu_path(dir, len, "%s/s%d", tmproot, ++nstore), 0);
	struct cu_store_create_opts o = {.encryption = CU_ENC_NONE, .kdf = quick_kdf,
	                                 .site_name = "Unit Site"};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &o), 0);
}

static cu_store *
open_pw(const char *dir)
{
	cu_store *s;
	assert_int_equal(cu_store_open(dir, PW, strlen(PW), &s), 0);
	return s;
}

static void
tls_path(const char *dir, const char *name, char *buf, size_t len)
{
	assert_int_equal(cu_path(buf, len, "%s/%s/%s", dir, CU_TLS_DIR, name), 0);
}

static uint8_t *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[PATH_MAX];
	uint8_t *data;
	tls_path(dir, name, path, sizeof(path));
	assert_int_equal(cu_file_read(path, 1 << 20, &data, len), 0);
	return data;
}

static void
spit(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	tls_path(dir, name, path, sizeof(path));
	assert_int_equal(cu_file_write_atomic(path, data, len, 0600, 1), 0);
}

static bool
same_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	size_t n;
	uint8_t *now = slurp(dir, name, &n);
	bool same = n == len && memcmp(now, data, n) == 0;
	free(now);
	return same;
}

static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[2 * PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	return system(cmd);
}

static X509 *
parse_cert(const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	assert_non_null(b);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *
parse_key(const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	assert_non_null(b);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(k);
	return k;
}

/* The material is complete, consistent and what the files hold. */
static void
check_material(const char *dir, const struct cu_tls_material *m)
{
	assert_non_null(m->chain_pem);
	assert_non_null(m->key_pem);
	assert_non_null(m->ca_pem);
	assert_int_equal(strlen(m->chain_pem), m->chain_len);
	assert_int_equal(strlen(m->key_pem), m->key_len);
	assert_int_equal(strlen(m->ca_pem), m->ca_len);
	assert_non_null(strstr(m->key_pem, "-----BEGIN PRIVATE KEY-----"));

	/* chain = server.pem || ca.pem, byte for byte */
	size_t sl, cl;
	uint8_t *srv = slurp(dir, CU_TLS_CERT_FILE, &sl);
	uint8_t *ca = slurp(dir, CU_TLS_CA_FILE, &cl);
	assert_int_equal(m->chain_len, sl + cl);
	assert_memory_equal(m->chain_pem, srv, sl);
	assert_memory_equal(m->chain_pem + sl, ca, cl);
	assert_int_equal(m->ca_len, cl);
	assert_memory_equal(m->ca_pem, ca, cl);
	free(srv);
	free(ca);

	/* the key is the leaf's */
	X509 *leaf = parse_cert(m->chain_pem, m->chain_len);
	EVP_PKEY *k = parse_key(m->key_pem, m->key_len);
	assert_int_equal(X509_check_private_key(leaf, k), 1);
	assert_true(EVP_PKEY_is_a(k, "EC"));
	assert_int_equal(EVP_PKEY_get_bits(k), 256);

	/* fingerprint and expiry */
	struct cu_x509_tls_info ci, li;
	assert_int_equal(cu_x509_tls_info(m->ca_pem, m->ca_len, &ci), 0);
	assert_memory_equal(ci.fingerprint, m->ca_fp, CU_SHA256_LEN);
	assert_true(ci.ca);
	assert_int_equal(cu_x509_tls_info(m->chain_pem, m->chain_len, &li), 0);
	assert_false(li.ca);
	assert_int_equal(li.not_after_us, m->not_after_us);
	/* 397 days from notBefore: within the browsers' 398 */
	assert_int_equal(li.not_after_us - li.not_before_us, 397 * DAY_US);
	EVP_PKEY_free(k);
	X509_free(leaf);
}

static bool
has_name(const struct cu_x509_tls_info *info, const char *name)
{
	for (size_t i = 0; i < info->nnames; i++)
		if (strcmp(info->names[i], name) == 0)
			return true;
	return false;
}

/* A TLS handshake in memory: the server uses the material as an HTTPS
 * server would, the client trusts only the TLS CA and checks host or ip.
 * max_version 0 = the library's highest. Returns true when it completes. */
static bool
handshake(const struct cu_tls_material *m, const char *host, const char *ip, int max_version)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(sctx);
	assert_non_null(cctx);

	BIO *b = BIO_new_mem_buf(m->chain_pem, (int)m->chain_len);
	X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL), *extra;
	assert_non_null(leaf);
	assert_int_equal(SSL_CTX_use_certificate(sctx, leaf), 1);
	X509_free(leaf);
	int extras = 0;
	while ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		assert_int_equal(SSL_CTX_add_extra_chain_cert(sctx, extra), 1);
		extras++;
	}
	assert_int_equal(extras, 1);
	ERR_clear_error();
	BIO_free(b);
	EVP_PKEY *k = parse_key(m->key_pem, m->key_len);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, k), 1);
	assert_int_equal(SSL_CTX_check_private_key(sctx), 1);
	EVP_PKEY_free(k);

	X509 *ca = parse_cert(m->ca_pem, m->ca_len);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca), 1);
	X509_free(ca);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	if (max_version != 0)
		assert_int_equal(SSL_CTX_set_max_proto_version(cctx, max_version), 1);

	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	assert_non_null(c);
	assert_non_null(s);
	if (host != NULL) {
		assert_int_equal(SSL_set1_host(c, host), 1);
		assert_int_equal(SSL_set_tlsext_host_name(c, host), 1);
	}
	if (ip != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c), ip), 1);
	BIO *bc, *bs;
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	bool done = false, failed = false;
	for (int i = 0; i < 50 && !done && !failed; i++) {
		int rc = SSL_do_handshake(c), rs = SSL_do_handshake(s);
		if (rc == 1 && rs == 1)
			done = true;
		int ec = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c, rc);
		int es = rs == 1 ? SSL_ERROR_NONE : SSL_get_error(s, rs);
		if ((ec != SSL_ERROR_NONE && ec != SSL_ERROR_WANT_READ && ec != SSL_ERROR_WANT_WRITE) ||
		    (es != SSL_ERROR_NONE && es != SSL_ERROR_WANT_READ && es != SSL_ERROR_WANT_WRITE))
			failed = true;
	}
	if (done) {
		assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
		if (max_version == TLS1_2_VERSION)
			assert_int_equal(SSL_version(c), TLS1_2_VERSION);
	}
	ERR_clear_error();
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	return done;
}

/* ---- tests ---- */

static void
test_created_at_init(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;
	make_store(dir, sizeof(dir));

	assert_int_equal(cu_path(path, sizeof(path), "%s/%s", dir, CU_TLS_DIR), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	static const char *const files[] = {CU_TLS_CA_FILE, CU_TLS_CA_KEY_FILE, CU_TLS_CERT_FILE,
	                                    CU_TLS_CERT_KEY_FILE};
	for (size_t i = 0; i < 4; i++) {
		tls_path(dir, files[i], path, sizeof(path));
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	/* nothing else in tls/ (no temporary files left) */
	assert_int_equal(cu_path(path, sizeof(path), "%s/%s", dir, CU_TLS_DIR), 0);
	assert_int_equal(sh("test $(ls -A %s | wc -l) -eq 4", path), 0);

	/* The init-time certificate is reused: nothing is issued. */
	cu_store *s = open_pw(dir);
	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);
	assert_false(m.issued);
	check_material(dir, &m);

	/* Default names; CA subject from the site name; the CA's extensions. */
	struct cu_x509_tls_info li;
	assert_int_equal(cu_x509_tls_info(m.chain_pem, m.chain_len, &li), 0);
	assert_true(has_name(&li, "localhost"));
	assert_true(has_name(&li, "127.0.0.1"));
	assert_true(has_name(&li, "::1"));
	char host[256] = {0}, canon[CU_X509_TLS_NAME_MAX + 1];
	if (gethostname(host, sizeof(host) - 1) == 0 && cu_x509_tls_name(host, canon) == 0)
		assert_true(has_name(&li, canon));
	X509 *ca = parse_cert(m.ca_pem, m.ca_len);
	char buf[256];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, buf,
	                                      sizeof(buf)) > 0);
	assert_string_equal(buf, "Unit Site TLS CA");
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_organizationName,
	                                      buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "Unit Site");
	assert_int_equal(X509_self_signed(ca, 1), 1);
	assert_int_equal(X509_get_pathlen(ca), 0);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(ca));
	assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
	int crit = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING *ku = X509_get_ext_d2i(ca, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	ASN1_BIT_STRING_free(ku);
	/* about ten years */
	struct cu_x509_tls_info ci;
	assert_int_equal(cu_x509_tls_info(m.ca_pem, m.ca_len, &ci), 0);
	assert_int_equal(ci.not_after_us - ci.not_before_us, CU_TLS_CA_DAYS * DAY_US);
	int64_t now = cu_time_now_us();
	assert_true(ci.not_before_us <= now - CU_TLS_BACKDATE_US + 60 * INT64_C(1000000));

	/* The leaf's profile. */
	X509 *leaf = parse_cert(m.chain_pem, m.chain_len);
	assert_int_equal(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
	assert_int_equal(X509_check_ca(leaf), 0);
	assert_non_null(X509_get0_authority_key_id(leaf));
	assert_memory_equal(ASN1_STRING_get0_data(X509_get0_authority_key_id(leaf)),
	                    ASN1_STRING_get0_data(X509_get0_subject_key_id(ca)), 20);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, buf,
	                                      sizeof(buf)) > 0);
	assert_string_equal(buf, "localhost");
	/* a positive serial of at most 128 bits, not zero */
	BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	assert_non_null(serial);
	assert_false(BN_is_negative(serial));
	assert_false(BN_is_zero(serial));
	assert_true(BN_num_bits(serial) <= 128);
	BN_free(serial);
	assert_true(li.not_before_us <= now - CU_TLS_BACKDATE_US + 60 * INT64_C(1000000));
	assert_true(li.not_before_us >= now - CU_TLS_BACKDATE_US - 60 * INT64_C(1000000));
	X509_free(leaf);
	X509_free(ca);

	cu_tls_material_free(&m);
	cu_tls_material_free(&m); /* zeroed: a second free is harmless */
	cu_tls_material_free(NULL);
	cu_store_close(s);
}

static void
test_reuse(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	struct cu_tls_material a = {0}, b = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &a), 0);
	assert_int_equal(cu_store_tls(s, NULL, 0, &b), 0);
	assert_false(a.issued);
	assert_false(b.issued);
	assert_int_equal(a.chain_len, b.chain_len);
	assert_memory_equal(a.chain_pem, b.chain_pem, a.chain_len);
	assert_int_equal(a.key_len, b.key_len);
	assert_memory_equal(a.key_pem, b.key_pem, a.key_len);
	assert_memory_equal(a.ca_fp, b.ca_fp, CU_SHA256_LEN);
	assert_int_equal(a.not_after_us, b.not_after_us);
	cu_tls_material_free(&a);
	cu_tls_material_free(&b);
	cu_store_close(s);

	/* And from another handle, as custodyd would after a restart. */
	s = open_pw(dir);
	assert_int_equal(cu_store_tls(s, NULL, 0, &b), 0);
	assert_false(b.issued);
	cu_tls_material_free(&b);
	cu_store_close(s);
}

static void
test_reissue_on_names(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	struct cu_tls_material a = {0}, b = {0}, c = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &a), 0);

	const char *names[] = {"Cam.Example.ORG", "10.0.0.5", "2001:DB8:0::1"};
	assert_int_equal(cu_store_tls(s, names, 3, &b), 0);
	assert_true(b.issued);
	check_material(dir, &b);
	assert_memory_equal(a.ca_fp, b.ca_fp, CU_SHA256_LEN); /* same CA */
	assert_true(b.key_len != a.key_len || memcmp(a.key_pem, b.key_pem, a.key_len) != 0);
	struct cu_x509_tls_info li;
	assert_int_equal(cu_x509_tls_info(b.chain_pem, b.chain_len, &li), 0);
	assert_int_equal(li.nnames, 3);
	assert_string_equal(li.names[0], "cam.example.org");
	assert_string_equal(li.names[1], "10.0.0.5");
	assert_string_equal(li.names[2], "2001:db8::1");
	X509 *leaf = parse_cert(b.chain_pem, b.chain_len);
	char cn[256];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn,
	                                      sizeof(cn)) > 0);
	assert_string_equal(cn, "cam.example.org");
	X509_free(leaf);

	/* The same set in another order, case and spelling, with a duplicate:
	 * nothing to do. */
	const char *same[] = {"2001:db8::0:1", "cam.example.org", "10.0.0.5", "CAM.example.org"};
	assert_int_equal(cu_store_tls(s, same, 4, &c), 0);
	assert_false(c.issued);
	assert_memory_equal(c.chain_pem, b.chain_pem, b.chain_len);
	cu_tls_material_free(&c);

	/* One name fewer: issued again. Back to the defaults: again. */
	assert_int_equal(cu_store_tls(s, names, 2, &c), 0);
	assert_true(c.issued);
	cu_tls_material_free(&c);
	assert_int_equal(cu_store_tls(s, NULL, 0, &c), 0);
	assert_true(c.issued);
	check_material(dir, &c);
	assert_memory_equal(a.ca_fp, c.ca_fp, CU_SHA256_LEN);

	/* A name of more than 64 bytes cannot be the CN; the next one is. */
	char longname[100];
	memset(longname, 'a', 40);
	longname[40] = '.';
	memset(longname + 41, 'b', 30);
	memcpy(longname + 71, ".example", sizeof(".example"));
	const char *lnames[] = {longname, "short.example"};
	cu_tls_material_free(&c);
	assert_int_equal(cu_store_tls(s, lnames, 2, &c), 0);
	leaf = parse_cert(c.chain_pem, c.chain_len);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn,
	                                      sizeof(cn)) > 0);
	assert_string_equal(cn, "short.example");
	X509_free(leaf);
	assert_int_equal(cu_x509_tls_info(c.chain_pem, c.chain_len, &li), 0);
	assert_string_equal(li.names[0], longname);

	cu_tls_material_free(&a);
	cu_tls_material_free(&b);
	cu_tls_material_free(&c);
	cu_store_close(s);
}

static void
test_openssl_verifies(void **state)
{
	(void)state;
	char dir[PATH_MAX], ca[PATH_MAX], srv[PATH_MAX];
	make_store(dir, sizeof(dir));
	tls_path(dir, CU_TLS_CA_FILE, ca, sizeof(ca));
	tls_path(dir, CU_TLS_CERT_FILE, srv, sizeof(srv));

	/* the openssl command, as an operator would check it */
	assert_int_equal(sh("openssl verify -CAfile %s %s >/dev/null", ca, srv), 0);
	assert_int_equal(sh("openssl verify -x509_strict -purpose sslserver -verify_hostname "
	                    "localhost -verify_ip 127.0.0.1 -CAfile %s %s >/dev/null", ca, srv), 0);
	assert_int_equal(sh("openssl verify -x509_strict -purpose sslserver -verify_ip ::1 "
	                    "-CAfile %s %s >/dev/null", ca, srv), 0);
	assert_true(sh("openssl verify -verify_hostname other.example -CAfile %s %s "
	               ">/dev/null 2>&1", ca, srv) != 0);

	/* its -text shows the names */
	char cmd[2 * PATH_MAX], out[16384];
	assert_int_equal(cu_path(cmd, sizeof(cmd), "openssl x509 -noout -text -in %s", srv), 0);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(out, "X509v3 Subject Alternative Name"));
	assert_non_null(strstr(out, "DNS:localhost"));
	assert_non_null(strstr(out, "IP Address:127.0.0.1"));
	assert_non_null(strstr(out, "IP Address:0:0:0:0:0:0:0:1"));
	assert_non_null(strstr(out, "TLS Web Server Authentication"));
	assert_non_null(strstr(out, "ecdsa-with-SHA256"));
	assert_non_null(strstr(out, "NIST CURVE: P-256"));

	/* and the library's own check */
	cu_store *s = open_pw(dir);
	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);
	int64_t now = cu_time_now_us();
	assert_int_equal(cu_x509_tls_verify(m.chain_pem, m.chain_len, m.ca_pem, m.ca_len, now), 0);
	assert_int_equal(cu_x509_tls_verify(m.chain_pem, m.chain_len, m.ca_pem, m.ca_len,
	                                    now + 400 * DAY_US), CU_ERR_AUTH);
	assert_int_equal(cu_x509_tls_verify(m.chain_pem, m.chain_len, m.ca_pem, m.ca_len,
	                                    now - 2 * CU_TLS_BACKDATE_US), CU_ERR_AUTH);
	/* the evidence CA is not the TLS CA */
	assert_int_equal(cu_x509_tls_verify(m.chain_pem, m.chain_len, s->ca_pem, s->ca_len, now),
	                 CU_ERR_AUTH);
	cu_tls_material_free(&m);
	cu_store_close(s);
}

static void
test_handshake(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);
	assert_true(handshake(&m, "localhost", NULL, 0));
	assert_true(handshake(&m, "localhost", NULL, TLS1_2_VERSION));
	assert_true(handshake(&m, NULL, "127.0.0.1", 0));
	assert_true(handshake(&m, NULL, "::1", 0));
	assert_false(handshake(&m, "elsewhere.example", NULL, 0));
	assert_false(handshake(&m, NULL, "10.9.9.9", 0));
	cu_tls_material_free(&m);

	const char *names[] = {"vms.example.net", "192.0.2.7"};
	assert_int_equal(cu_store_tls(s, names, 2, &m), 0);
	assert_true(handshake(&m, "vms.example.net", NULL, 0));
	assert_true(handshake(&m, NULL, "192.0.2.7", TLS1_2_VERSION));
	assert_false(handshake(&m, "localhost", NULL, 0));
	cu_tls_material_free(&m);
	cu_store_close(s);
}

/* HKDF-SHA256 through OpenSSL's KDF directly, not cu_hkdf_sha256. */
static void
independent_wrap_key(const uint8_t id[16], const uint8_t seed[32], uint8_t out[32])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
	char digest[] = "SHA256";
	char info[] = "custody/v1/tls-key-wrap";
	uint8_t salt[16], ikm[32];
	memcpy(salt, id, 16);
	memcpy(ikm, seed, 32);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, 32),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, 16),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, strlen(info)),
		OSSL_PARAM_construct_end(),
	};
	assert_int_equal(EVP_KDF_derive(ctx, out, 32, params), 1);
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
}

/* Decrypts a key file following docs/formats/tls.md alone; returns the DER. */
static uint8_t *
independent_decrypt(const uint8_t *file, size_t len, const char *name, const uint8_t key[32],
                    size_t *ret_len)
{
	assert_true(len > 44);
	assert_memory_equal(file, "CUTLSK01", 8);
	assert_int_equal(file[8] | file[9] << 8, 1);   /* version */
	assert_int_equal(file[10] | file[11] << 8, 1); /* ECDSA P-256, PKCS#8 DER */
	size_t n = (size_t)file[12] | (size_t)file[13] << 8 | (size_t)file[14] << 16 |
	           (size_t)file[15] << 24;
	assert_int_equal(len, 16 + 12 + n + 16);
	uint8_t aad[64];
	memcpy(aad, file, 16);
	memcpy(aad + 16, name, strlen(name));
	uint8_t *der = malloc(n);
	assert_non_null(der);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int outl = 0, fin = 0;
	assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, file + 16), 1);
	assert_int_equal(EVP_DecryptUpdate(c, NULL, &outl, aad, (int)(16 + strlen(name))), 1);
	assert_int_equal(EVP_DecryptUpdate(c, der, &outl, file + 28, (int)n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
	                                     (void *)(uintptr_t)(file + 28 + n)), 1);
	assert_int_equal(EVP_DecryptFinal_ex(c, der + outl, &fin), 1);
	EVP_CIPHER_CTX_free(c);
	*ret_len = n;
	return der;
}

static void
test_key_files_as_documented(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);

	uint8_t wrap[32], ours[32];
	independent_wrap_key(s->id, s->keys.ca, wrap);
	assert_int_equal(cu_tls_wrap_key(s->id, s->keys.ca, ours), 0);
	assert_memory_equal(wrap, ours, 32);

	/* server-key.bin holds the key of server.pem, which is key_pem */
	size_t len, dlen;
	uint8_t *file = slurp(dir, CU_TLS_CERT_KEY_FILE, &len);
	uint8_t *der = independent_decrypt(file, len, CU_TLS_CERT_KEY_FILE, wrap, &dlen);
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)dlen);
	assert_non_null(p8);
	assert_ptr_equal(p, der + dlen);
	EVP_PKEY *k = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	assert_non_null(k);
	EVP_PKEY *mk = parse_key(m.key_pem, m.key_len);
	assert_int_equal(EVP_PKEY_eq(k, mk), 1);

	/* the private scalar never appears in the clear in the file */
	BIGNUM *d = NULL;
	uint8_t scalar[32];
	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
	assert_int_equal(BN_bn2binpad(d, scalar, 32), 32);
	assert_null(memmem(file, len, scalar, 32));
	BN_clear_free(d);
	EVP_PKEY_free(mk);
	EVP_PKEY_free(k);
	cu_wipe(der, dlen);
	free(der);
	free(file);

	/* ca-key.bin holds the key of ca.pem */
	file = slurp(dir, CU_TLS_CA_KEY_FILE, &len);
	der = independent_decrypt(file, len, CU_TLS_CA_KEY_FILE, wrap, &dlen);
	assert_int_equal(cu_x509_tls_key_match(m.ca_pem, m.ca_len, der, dlen), 0);
	assert_int_equal(cu_x509_tls_key_match(m.chain_pem, m.chain_len, der, dlen), CU_ERR_AUTH);
	cu_wipe(der, dlen);
	free(der);
	free(file);

	/* The keys do not depend on the password: a password change keeps them. */
	cu_store_close(s);
	assert_int_equal(cu_store_change_password(dir, PW, strlen(PW), "another-password-1",
	                                          18, &quick_kdf), 0);
	assert_int_equal(cu_store_open(dir, "another-password-1", 18, &s), 0);
	struct cu_tls_material m2 = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &m2), 0);
	assert_false(m2.issued);
	assert_memory_equal(m2.key_pem, m.key_pem, m.key_len);
	cu_tls_material_free(&m2);
	cu_store_close(s);
	assert_int_equal(cu_store_change_password(dir, "another-password-1", 18, PW, strlen(PW),
	                                          &quick_kdf), 0);
	cu_tls_material_free(&m);
	cu_wipe(wrap, sizeof(wrap));
}

/* Expects cu_store_tls to fail with code and a detail containing word. */
static void
expect_fail(cu_store *s, const char *const *names, size_t n, int code, const char *word)
{
	struct cu_tls_material m = {0};
	int r = cu_store_tls(s, names, n, &m);
	if (r != code || (word != NULL && strstr(cu_error_detail(), word) == NULL))
		fail_msg("expected %d (%s) with \"%s\", got %d: %s", code, cu_strerror(code),
		         word ? word : "", r, cu_error_detail());
	assert_null(m.chain_pem); /* untouched on failure */
	assert_null(m.key_pem);
}

static void
test_wrong_store_key(void **state)
{
	(void)state;
	char a[PATH_MAX], b[PATH_MAX];
	make_store(a, sizeof(a));
	make_store(b, sizeof(b));
	cu_store *s = open_pw(a);
	static const char *const keys[] = {CU_TLS_CA_KEY_FILE, CU_TLS_CERT_KEY_FILE};
	for (size_t i = 0; i < 2; i++) {
		size_t own_len, other_len;
		uint8_t *own = slurp(a, keys[i], &own_len);
		uint8_t *other = slurp(b, keys[i], &other_len);
		spit(a, keys[i], other, other_len);
		expect_fail(s, NULL, 0, CU_ERR_AUTH, keys[i]);
		expect_fail(s, NULL, 0, CU_ERR_AUTH, "another store");
		assert_true(same_file(a, keys[i], other, other_len)); /* not overwritten */
		spit(a, keys[i], own, own_len);
		free(own);
		free(other);
	}
	/* The file name is authenticated: this store's CA key put in the
	 * server's place does not open. */
	size_t ca_len, srv_len;
	uint8_t *ca = slurp(a, CU_TLS_CA_KEY_FILE, &ca_len);
	uint8_t *srv = slurp(a, CU_TLS_CERT_KEY_FILE, &srv_len);
	spit(a, CU_TLS_CERT_KEY_FILE, ca, ca_len);
	expect_fail(s, NULL, 0, CU_ERR_AUTH, CU_TLS_CERT_KEY_FILE);
	spit(a, CU_TLS_CERT_KEY_FILE, srv, srv_len);
	free(ca);
	free(srv);

	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);
	assert_false(m.issued);
	cu_tls_material_free(&m);
	cu_store_close(s);
}

static void
test_damaged_files(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	size_t kl, cl, sl, skl;
	uint8_t *ca_key = slurp(dir, CU_TLS_CA_KEY_FILE, &kl);
	uint8_t *ca = slurp(dir, CU_TLS_CA_FILE, &cl);
	uint8_t *srv = slurp(dir, CU_TLS_CERT_FILE, &sl);
	uint8_t *srv_key = slurp(dir, CU_TLS_CERT_KEY_FILE, &skl);
	uint8_t buf[70000];

	static const char *const keys[] = {CU_TLS_CA_KEY_FILE, CU_TLS_CERT_KEY_FILE};
	for (size_t i = 0; i < 2; i++) {
		const uint8_t *orig = i == 0 ? ca_key : srv_key;
		size_t len = i == 0 ? kl : skl;
		/* truncated */
		spit(dir, keys[i], orig, len - 1);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, keys[i]);
		spit(dir, keys[i], orig, 10);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, keys[i]);
		spit(dir, keys[i], orig, 0);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, keys[i]);
		/* bad magic */
		memcpy(buf, orig, len);
		buf[0] ^= 0x20;
		spit(dir, keys[i], buf, len);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, keys[i]);
		/* a later version */
		memcpy(buf, orig, len);
		buf[8] = 2;
		spit(dir, keys[i], buf, len);
		expect_fail(s, NULL, 0, CU_ERR_UNSUPPORTED, "version 2");
		/* a length that disagrees with the size */
		memcpy(buf, orig, len);
		buf[12] ^= 1;
		spit(dir, keys[i], buf, len);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, keys[i]);
		/* one flipped bit in the header, the nonce, the ciphertext, the tag */
		static const size_t at[] = {11, 20, 40, 1};
		for (size_t j = 0; j < 4; j++) {
			size_t off = j == 3 ? len - at[j] : at[j];
			memcpy(buf, orig, len);
			buf[off] ^= 0x01;
			spit(dir, keys[i], buf, len);
			expect_fail(s, NULL, 0, j == 0 ? CU_ERR_UNSUPPORTED : CU_ERR_AUTH, keys[i]);
		}
		/* too large to be read at all */
		memset(buf, 'A', sizeof(buf));
		spit(dir, keys[i], buf, sizeof(buf));
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, keys[i]);
		spit(dir, keys[i], orig, len);
	}

	static const char *const certs[] = {CU_TLS_CA_FILE, CU_TLS_CERT_FILE};
	for (size_t i = 0; i < 2; i++) {
		const uint8_t *orig = i == 0 ? ca : srv;
		size_t len = i == 0 ? cl : sl;
		spit(dir, certs[i], "not a certificate\n", 18);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, certs[i]);
		assert_true(same_file(dir, certs[i], (const uint8_t *)"not a certificate\n", 18));
		memcpy(buf, orig, len);
		assert_int_equal(buf[28], 'M'); /* base64 of the DER's outer SEQUENCE tag */
		buf[28] = 'A';
		spit(dir, certs[i], buf, len);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, certs[i]);
		spit(dir, certs[i], orig, len / 2);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, certs[i]);
		/* an Ed25519 certificate (the evidence CA) in its place */
		spit(dir, certs[i], s->ca_pem, s->ca_len);
		expect_fail(s, NULL, 0, CU_ERR_FORMAT, certs[i]);
		spit(dir, certs[i], orig, len);
	}
	/* The server certificate where the CA belongs: not a CA. */
	spit(dir, CU_TLS_CA_FILE, srv, sl);
	expect_fail(s, NULL, 0, CU_ERR_FORMAT, "not a CA");
	spit(dir, CU_TLS_CA_FILE, ca, cl);

	/* The CA certificate without its key: refused, not replaced. */
	tls_path(dir, CU_TLS_CA_KEY_FILE, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	expect_fail(s, NULL, 0, CU_ERR_NOTFOUND, CU_TLS_CA_KEY_FILE);
	assert_true(same_file(dir, CU_TLS_CA_FILE, ca, cl));
	spit(dir, CU_TLS_CA_KEY_FILE, ca_key, kl);

	/* A symbolic link is not followed. */
	tls_path(dir, CU_TLS_CERT_FILE, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/hostname", path), 0);
	expect_fail(s, NULL, 0, CU_ERR_INVAL, "symbolic link");
	assert_int_equal(unlink(path), 0);
	spit(dir, CU_TLS_CERT_FILE, srv, sl);

	/* Everything restored: as good as new, nothing issued. */
	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);
	assert_false(m.issued);
	assert_memory_equal(m.chain_pem, srv, sl);
	cu_tls_material_free(&m);

	free(ca_key);
	free(ca);
	free(srv);
	free(srv_key);
	cu_store_close(s);
}

/* What a crash between two writes leaves, and what the next call does. */
static void
test_repairs(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	struct cu_tls_material a = {0}, m = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &a), 0);

	/* new server key written, server.pem not yet: issue again */
	size_t kl;
	uint8_t *old_key = slurp(dir, CU_TLS_CERT_KEY_FILE, &kl);
	const char *names[] = {"x.example"};
	assert_int_equal(cu_store_tls(s, names, 1, &m), 0);
	assert_true(m.issued);
	cu_tls_material_free(&m);
	spit(dir, CU_TLS_CERT_KEY_FILE, old_key, kl);
	assert_int_equal(cu_store_tls(s, names, 1, &m), 0);
	assert_true(m.issued);
	check_material(dir, &m);
	cu_tls_material_free(&m);
	free(old_key);

	/* server key lost: issue again */
	tls_path(dir, CU_TLS_CERT_KEY_FILE, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cu_store_tls(s, names, 1, &m), 0);
	assert_true(m.issued);
	check_material(dir, &m);
	cu_tls_material_free(&m);

	/* server certificate lost: issue again */
	tls_path(dir, CU_TLS_CERT_FILE, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cu_store_tls(s, names, 1, &m), 0);
	assert_true(m.issued);
	check_material(dir, &m);
	assert_memory_equal(m.ca_fp, a.ca_fp, CU_SHA256_LEN);
	cu_tls_material_free(&m);

	/* CA key written, ca.pem not yet (a crash at creation): a new CA, and
	 * the server certificate of the old one is issued again */
	tls_path(dir, CU_TLS_CA_FILE, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cu_store_tls(s, names, 1, &m), 0);
	assert_true(m.issued);
	check_material(dir, &m);
	assert_memory_not_equal(m.ca_fp, a.ca_fp, CU_SHA256_LEN);
	assert_true(handshake(&m, "x.example", NULL, 0));
	cu_tls_material_free(&m);

	/* the whole tls/ gone (a store made before it existed): made again */
	assert_int_equal(cu_path(path, sizeof(path), "%s/%s", dir, CU_TLS_DIR), 0);
	assert_int_equal(sh("rm -rf %s", path), 0);
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);
	assert_true(m.issued);
	check_material(dir, &m);
	cu_tls_material_free(&m);

	cu_tls_material_free(&a);
	cu_store_close(s);
}

static void
test_expiry(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	struct cu_tls_material a = {0}, m = {0};
	int64_t now = cu_time_now_us();
	assert_int_equal(cu_tls_ensure(s->dir, s->id, s->keys.ca, "Unit Site", NULL, 0, now, &a),
	                 0);
	assert_false(a.issued);

	/* 31 days before expiry: kept. 29 days before: issued again. */
	int64_t t = a.not_after_us - 31 * DAY_US;
	assert_int_equal(cu_tls_ensure(s->dir, s->id, s->keys.ca, "Unit Site", NULL, 0, t, &m), 0);
	assert_false(m.issued);
	cu_tls_material_free(&m);
	t = a.not_after_us - 29 * DAY_US;
	assert_int_equal(cu_tls_ensure(s->dir, s->id, s->keys.ca, "Unit Site", NULL, 0, t, &m), 0);
	assert_true(m.issued);
	assert_int_equal(m.not_after_us, t - CU_TLS_BACKDATE_US + 397 * DAY_US);
	assert_memory_equal(m.ca_fp, a.ca_fp, CU_SHA256_LEN);
	cu_tls_material_free(&m);

	/* Back to the real time: that certificate is not valid yet; issued again. */
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);
	assert_true(m.issued);
	assert_true(m.not_after_us <= cu_time_now_us() + 397 * DAY_US);
	cu_tls_material_free(&m);

	/* After the CA itself expired: a clear error, nothing replaced. */
	size_t sl;
	uint8_t *srv = slurp(dir, CU_TLS_CERT_FILE, &sl);
	t = now + (CU_TLS_CA_DAYS + 1) * DAY_US;
	assert_int_equal(cu_tls_ensure(s->dir, s->id, s->keys.ca, "Unit Site", NULL, 0, t, &m),
	                 CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "expired"));
	assert_true(same_file(dir, CU_TLS_CERT_FILE, srv, sl));
	free(srv);

	cu_tls_material_free(&a);
	cu_store_close(s);
}

static void
test_needs_password(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s;
	assert_int_equal(cu_store_open(dir, NULL, 0, &s), 0);
	expect_fail(s, NULL, 0, CU_ERR_PASSWORD, "password");
	cu_store_close(s);
	s = open_pw(dir);
	assert_int_equal(cu_store_tls(NULL, NULL, 0, NULL), CU_ERR_INVAL);
	assert_int_equal(cu_store_tls(s, NULL, 0, NULL), CU_ERR_INVAL);
	cu_store_close(s);
}

static void
test_bad_names(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	size_t sl, kl;
	uint8_t *srv = slurp(dir, CU_TLS_CERT_FILE, &sl);
	uint8_t *key = slurp(dir, CU_TLS_CERT_KEY_FILE, &kl);

	char label64[80], long254[300], ctrl[] = "bad\nname";
	memset(label64, 'a', 64);
	memcpy(label64 + 64, ".example", sizeof(".example"));
	for (int i = 0; i < 254; i++)
		long254[i] = i % 2 == 0 ? 'a' : '.';
	long254[253] = 'b';
	long254[254] = '\0';
	static const char *const bad_shown[] = {
		"exa_mple.com", "-bad.example", "bad-.example", "a..b", ".lead.example",
		"trail.example.", "*.example.org", "1.2.3.256", "1.2.3", "10.0.0.01",
		"fe80::1%eth0", "[::1]", "::1::2", "host:8443", "caf\xc3\xa9.example",
		"space here.example", "12345",
	};
	for (size_t i = 0; i < sizeof(bad_shown) / sizeof(bad_shown[0]); i++) {
		const char *one[] = {"good.example", bad_shown[i]};
		struct cu_tls_material m = {0};
		int r = cu_store_tls(s, one, 2, &m);
		if (r != CU_ERR_INVAL)
			fail_msg("name \"%s\": expected CU_ERR_INVAL, got %d", bad_shown[i], r);
		/* the detail quotes the name (its printable part) */
		char want[64];
		size_t k = 0;
		for (const char *p = bad_shown[i]; *p > 0x20 && *p < 0x7f && k < 8; p++)
			want[k++] = *p;
		want[k] = '\0';
		if (strstr(cu_error_detail(), want) == NULL)
			fail_msg("name \"%s\": detail \"%s\"", bad_shown[i], cu_error_detail());
	}
	const char *more[] = {"", label64, long254, ctrl};
	for (size_t i = 0; i < 4; i++)
		expect_fail(s, &more[i], 1, CU_ERR_INVAL, "TLS name");
	/* the control character is not echoed */
	expect_fail(s, &more[3], 1, CU_ERR_INVAL, "bad?name");
	const char *null_name[] = {NULL};
	expect_fail(s, null_name, 1, CU_ERR_INVAL, NULL);
	expect_fail(s, NULL, 2, CU_ERR_INVAL, NULL);
	const char *many[CU_TLS_NAMES_MAX + 1];
	for (size_t i = 0; i <= CU_TLS_NAMES_MAX; i++)
		many[i] = "ok.example";
	expect_fail(s, many, CU_TLS_NAMES_MAX + 1, CU_ERR_LIMIT, "16");

	/* nothing written */
	assert_true(same_file(dir, CU_TLS_CERT_FILE, srv, sl));
	assert_true(same_file(dir, CU_TLS_CERT_KEY_FILE, key, kl));

	/* edge cases that are fine */
	char label63[80], long253[300];
	memset(label63, 'a', 63);
	memcpy(label63 + 63, ".example", sizeof(".example"));
	memcpy(long253, long254, 253);
	long253[252] = 'c';
	long253[253] = '\0';
	const char *good[] = {"localhost", "xn--bcher-kva.example", "a-b.c-d.example", label63,
	                      long253, "0.0.0.0", "::ffff:192.0.2.1", "a1.2b.example",
	                      "example.x1", "1.2.3.4", "FE80::1", "x", "ok.example", "ok2.example",
	                      "ok3.example", "ok4.example"};
	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, good, CU_TLS_NAMES_MAX, &m), 0);
	assert_true(m.issued);
	struct cu_x509_tls_info li;
	assert_int_equal(cu_x509_tls_info(m.chain_pem, m.chain_len, &li), 0);
	assert_int_equal(li.nnames, CU_TLS_NAMES_MAX);
	assert_true(has_name(&li, "fe80::1"));
	assert_true(has_name(&li, "::ffff:192.0.2.1"));
	assert_true(has_name(&li, long253));
	assert_true(handshake(&m, "xn--bcher-kva.example", NULL, 0));
	assert_true(handshake(&m, NULL, "fe80::1", 0));
	cu_tls_material_free(&m);

	free(srv);
	free(key);
	cu_store_close(s);
}

/* A store made before tls/ existed (the test-vector stores): it gets one on
 * first use, and still verifies. The vectors themselves stay untouched. */
static void
test_old_store(void **state)
{
	(void)state;
	const char *data = getenv("CU_TEST_DATA");
	if (data == NULL)
		skip();
	char src[PATH_MAX], dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(cu_path(src, sizeof(src), "%s/store-vector/none", data), 0);
	assert_int_equal(cu_path(dir, sizeof(dir), "%s/vector", tmproot), 0);
	assert_int_equal(cu_path(path, sizeof(path), "%s/%s", src, CU_TLS_DIR), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(sh("cp -a %s %s", src, dir), 0);

	cu_store *s;
	assert_int_equal(cu_store_open(dir, VECTOR_PW, strlen(VECTOR_PW), &s), 0);
	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, NULL, 0, &m), 0);
	assert_true(m.issued);
	check_material(dir, &m);
	assert_true(handshake(&m, "localhost", NULL, 0));

	/* The CA's O= is the evidence CA's. */
	char org[256], tls_org[256];
	assert_int_equal(cu_x509_organisation(s->ca_pem, s->ca_len, org, sizeof(org)), 0);
	assert_int_equal(cu_x509_organisation(m.ca_pem, m.ca_len, tls_org, sizeof(tls_org)), 0);
	assert_true(org[0] != '\0');
	assert_string_equal(org, tls_org);
	cu_tls_material_free(&m);

	struct cu_verify_opts vo = {0};
	struct cu_verify_report *rep = NULL;
	assert_int_equal(cu_store_verify(s, &vo, &rep), 0);
	assert_false(rep->tampered);
	cu_verify_report_free(rep);
	cu_store_close(s);

	assert_int_not_equal(access(path, F_OK), 0); /* the vector has no tls/ still */
}

struct race {
	cu_store *s;
	int which;
	int fails;
};

static void *
race_run(void *arg)
{
	struct race *r = arg;
	static const char *const one[] = {"one.example", "192.0.2.1"};
	static const char *const two[] = {"two.example"};
	for (int i = 0; i < 6; i++) {
		struct cu_tls_material m = {0};
		int rc = (r->which + i) % 2 ? cu_store_tls(r->s, one, 2, &m)
		                            : cu_store_tls(r->s, two, 1, &m);
		if (rc != 0)
			r->fails++;
		cu_tls_material_free(&m);
	}
	return NULL;
}

/* Callers at the same time (custodyd and custody tls) never leave a key
 * that is not the certificate's. */
static void
test_concurrent(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir));
	cu_store *s = open_pw(dir);
	pthread_t t[4];
	struct race r[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){.s = s, .which = i};
		assert_int_equal(pthread_create(&t[i], NULL, race_run, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].fails, 0);
	}
	const char *two[] = {"two.example"};
	struct cu_tls_material m = {0};
	assert_int_equal(cu_store_tls(s, two, 1, &m), 0);
	check_material(dir, &m);
	assert_true(handshake(&m, "two.example", NULL, 0));
	cu_tls_material_free(&m);
	cu_store_close(s);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmproot) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return sh("rm -rf %s", tmproot) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_created_at_init),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_reissue_on_names),
		cmocka_unit_test(test_openssl_verifies),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_key_files_as_documented),
		cmocka_unit_test(test_wrong_store_key),
		cmocka_unit_test(test_damaged_files),
		cmocka_unit_test(test_repairs),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_needs_password),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_old_store),
		cmocka_unit_test(test_concurrent),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
