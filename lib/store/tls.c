/* The store's TLS files: the site TLS CA (ECDSA P-256) and the HTTPS server
 * certificate it issues, in STORE/tls/ (docs/formats/tls.md).
 *
 * Private keys are kept only encrypted (AES-256-GCM) under a key derived from
 * the site CA's Ed25519 seed, which itself is wrapped under the store
 * password: whoever can open the store's keys can run its HTTPS server, and a
 * password change needs no rewrite here. Each file is replaced atomically; a
 * pair is written key first and certificate last, so a crash in between
 * leaves a certificate with a key that does not match it, which the next call
 * notices and repairs by issuing again. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "custody/time.h"
#include "custody/tls.h"
#include "custody/x509.h"
#include "store/store_int.h"
#include "store/tls_int.h"
#include "custody/error.h"
#include "custody/file.h"

_Static_assert(CU_TLS_NAMES_MAX == CU_X509_TLS_NAMES_MAX, "name limits agree");
_Static_assert(CU_TLS_NAME_MAX == CU_X509_TLS_NAME_MAX, "name limits agree");

#define NAME_FIELD_MAX 64          /* ub-common-name, bytes */
#define HOST_NAME_BYTES 256

/* The names asked for, canonical and without duplicates. */
struct name_set {
	size_t n;
	char v[CU_TLS_NAMES_MAX][CU_TLS_NAME_MAX + 1];
	const char *list[CU_TLS_NAMES_MAX];
};

/* Adds a canonical name unless it is there already. */
static void
name_add(struct name_set *set, const char *canon)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i], canon) == 0)
			return;
	memcpy(set->v[set->n], canon, strlen(canon) + 1);
	set->list[set->n] = set->v[set->n];
	set->n++;
}

/* The names to certify: the caller's, checked, or the defaults. */
static int
names_resolve(const char *const *names, size_t n, struct name_set *ret)
{
	char canon[CU_TLS_NAME_MAX + 1];
	int r;

	ret->n = 0;
	if (names == NULL || n == 0) {
		static const char *const defaults[] = {"localhost", "127.0.0.1", "::1"};
		char host[HOST_NAME_BYTES];
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
			if ((r = cu_x509_tls_name(defaults[i], canon)) < 0)
				return r;
			name_add(ret, canon);
		}
		/* The host name only when it makes a valid DNS name: a box called
		 * "cam_server" still gets its certificate for the other names. */
		memset(host, 0, sizeof(host));
		if (gethostname(host, sizeof(host) - 1) == 0 &&
		    cu_x509_tls_name(host, canon) == 0)
			name_add(ret, canon);
		cu_error_clear();
		return 0;
	}
	if (n > CU_TLS_NAMES_MAX)
		return cu_fail(CU_ERR_LIMIT, "%zu TLS names (at most %d)", n, CU_TLS_NAMES_MAX);
	for (size_t i = 0; i < n; i++) {
		if ((r = cu_x509_tls_name(names[i], canon)) < 0)
			return r;
		name_add(ret, canon);
	}
	return 0;
}

/* Do the certificate's names equal the set asked for? */
static bool
names_equal(const struct name_set *want, const struct cu_x509_tls_info *have)
{
	if (want->n != have->nnames)
		return false;
	for (size_t i = 0; i < want->n; i++) {
		bool found = false;
		for (size_t j = 0; j < have->nnames && !found; j++)
			found = strcmp(want->v[i], have->names[j]) == 0;
		if (!found)
			return false;
	}
	return true;
}

int
cu_tls_wrap_key(const uint8_t store_id[static CU_ID_LEN],
                const uint8_t ca_seed[static CU_ED25519_KEY_LEN],
                uint8_t out[static CU_AES256_KEY_LEN])
{
	static const char info[] = CU_TLS_WRAP_INFO;

	return cu_hkdf_sha256(store_id, CU_ID_LEN, ca_seed, CU_ED25519_KEY_LEN,
	                      (const uint8_t *)info, sizeof(info) - 1, out, CU_AES256_KEY_LEN);
}

/* The associated data of a key file: its 16-byte header, then its name. */
static size_t
key_aad(const uint8_t header[static CU_TLS_KEY_HEADER_LEN], const char *name,
        uint8_t out[static CU_TLS_KEY_HEADER_LEN + 32])
{
	size_t nl = strlen(name);

	memcpy(out, header, CU_TLS_KEY_HEADER_LEN);
	memcpy(out + CU_TLS_KEY_HEADER_LEN, name, nl);
	return CU_TLS_KEY_HEADER_LEN + nl;
}

/* Reads a file of tls/, at most CU_TLS_FILE_MAX bytes: a larger one is
 * damaged (CU_ERR_FORMAT), whatever made it so. */
static int
file_read(const char *path, uint8_t **ret, size_t *ret_len)
{
	int r = cu_file_read(path, CU_TLS_FILE_MAX, ret, ret_len);

	return r == CU_ERR_LIMIT ? cu_fail_prefix(CU_ERR_FORMAT, "damaged TLS file") : r;
}

/* Writes a private key (PKCS#8 DER) encrypted to tls/<name>. */
static int
key_write(const char *tlsdir, const char *name, const uint8_t wrap[static CU_AES256_KEY_LEN],
          const uint8_t *der, size_t len)
{
	char path[PATH_MAX];
	uint8_t aad[CU_TLS_KEY_HEADER_LEN + 32], *buf = NULL;
	size_t total = CU_TLS_KEY_OVERHEAD + len;
	cu_aead *a = NULL;
	int r;

	if (len == 0 || len > CU_ECDSA_P256_KEY_DER_MAX)
		return cu_fail(CU_ERR_INVAL, "TLS key of %zu bytes", len);
	if ((r = cu_path(path, sizeof(path), "%s/%s", tlsdir, name)) < 0)
		return r;
	buf = malloc(total);
	if (buf == NULL)
		return cu_fail(CU_ERR_NOMEM, "%s: out of memory", path);
	memcpy(buf, CU_TLS_KEY_MAGIC, 8);
	cu_put_u16(buf + 8, CU_TLS_KEY_VERSION);
	cu_put_u16(buf + 10, CU_TLS_KEY_ALG_P256);
	cu_put_u32(buf + 12, (uint32_t)len);
	uint8_t *nonce = buf + CU_TLS_KEY_HEADER_LEN;
	uint8_t *ct = nonce + CU_GCM_NONCE_LEN;
	size_t aad_len = key_aad(buf, name, aad);
	/* A random nonce: one key encrypts a handful of files in a store's life. */
	if ((r = cu_random(nonce, CU_GCM_NONCE_LEN)) < 0 || (r = cu_aead_new(wrap, &a)) < 0 ||
	    (r = cu_aead_seal(a, nonce, CU_GCM_NONCE_LEN, aad, aad_len, der, len, ct,
	                      ct + len)) < 0)
		goto out;
	r = cu_file_write_atomic(path, buf, total, 0600, 1);
out:
	cu_aead_free(a);
	cu_wipe(buf, total);
	free(buf);
	return r;
}

/* Reads and decrypts tls/<name>. *ret_der is malloc'd: a secret. A missing
 * file is CU_ERR_NOTFOUND; anything else wrong names the file. */
static int
key_read(const char *tlsdir, const char *name, const uint8_t wrap[static CU_AES256_KEY_LEN],
         uint8_t **ret_der, size_t *ret_len)
{
	char path[PATH_MAX];
	uint8_t aad[CU_TLS_KEY_HEADER_LEN + 32], *data = NULL, *der = NULL;
	size_t len = 0, ct_len = 0;
	cu_aead *a = NULL;
	int r;

	if ((r = cu_path(path, sizeof(path), "%s/%s", tlsdir, name)) < 0 ||
	    (r = file_read(path, &data, &len)) < 0)
		return r;
	if (len < 8 || memcmp(data, CU_TLS_KEY_MAGIC, 8) != 0) {
		r = cu_fail(CU_ERR_FORMAT, "%s: not a custody TLS key file (no %s magic)", path,
		            CU_TLS_KEY_MAGIC);
		goto out;
	}
	if (len < CU_TLS_KEY_OVERHEAD + 1) {
		r = cu_fail(CU_ERR_FORMAT, "%s: %zu bytes, too short for a TLS key file", path, len);
		goto out;
	}
	if (cu_get_u16(data + 8) != CU_TLS_KEY_VERSION) {
		r = cu_fail(CU_ERR_UNSUPPORTED, "%s: TLS key file version %u (this custody reads %d)",
		            path, cu_get_u16(data + 8), CU_TLS_KEY_VERSION);
		goto out;
	}
	if (cu_get_u16(data + 10) != CU_TLS_KEY_ALG_P256) {
		r = cu_fail(CU_ERR_UNSUPPORTED, "%s: key algorithm %u (this custody knows %d, "
		            "ECDSA P-256)", path, cu_get_u16(data + 10), CU_TLS_KEY_ALG_P256);
		goto out;
	}
	ct_len = cu_get_u32(data + 12);
	if (ct_len == 0 || ct_len > CU_ECDSA_P256_KEY_DER_MAX ||
	    len != CU_TLS_KEY_OVERHEAD + ct_len) {
		r = cu_fail(CU_ERR_FORMAT, "%s: key length %zu does not fit the file's %zu bytes",
		            path, ct_len, len);
		goto out;
	}
	der = malloc(ct_len);
	if (der == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	const uint8_t *nonce = data + CU_TLS_KEY_HEADER_LEN;
	const uint8_t *ct = nonce + CU_GCM_NONCE_LEN;
	size_t aad_len = key_aad(data, name, aad);
	if ((r = cu_aead_new(wrap, &a)) < 0)
		goto out;
	r = cu_aead_open(a, nonce, CU_GCM_NONCE_LEN, aad, aad_len, ct, ct_len, der,
	                 ct + ct_len, CU_GCM_TAG_LEN);
	if (r == CU_ERR_AUTH) {
		r = cu_fail(CU_ERR_AUTH, "%s: does not decrypt under this store's TLS key-wrap key "
		            "(a file from another store, or altered)", path);
		goto out;
	}
	if (r < 0)
		goto out;
	if ((r = cu_ecdsa_p256_key_check(der, ct_len)) < 0) {
		r = cu_fail_prefix(CU_ERR_FORMAT, "%s", path);
		goto out;
	}
	*ret_der = der;
	*ret_len = ct_len;
	der = NULL;
	r = 0;
out:
	cu_aead_free(a);
	if (der != NULL) {
		cu_wipe(der, ct_len);
		free(der);
	}
	free(data);
	return r;
}

/* Reads tls/<name>, a certificate, and parses it. A missing file is
 * CU_ERR_NOTFOUND; one that does not parse is CU_ERR_FORMAT naming it. */
static int
cert_read(const char *tlsdir, const char *name, char **ret_pem, size_t *ret_len,
          struct cu_x509_tls_info *info)
{
	char path[PATH_MAX];
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	if ((r = cu_path(path, sizeof(path), "%s/%s", tlsdir, name)) < 0 ||
	    (r = file_read(path, &data, &len)) < 0)
		return r;
	r = cu_x509_tls_info((const char *)data, len, info);
	if (r < 0) {
		free(data);
		return cu_fail_prefix(r == CU_ERR_NOMEM ? r : CU_ERR_FORMAT, "%s", path);
	}
	*ret_pem = (char *)data;
	*ret_len = len;
	return 0;
}

static int
cert_write(const char *tlsdir, const char *name, const char *pem, size_t len)
{
	char path[PATH_MAX];
	int r = cu_path(path, sizeof(path), "%s/%s", tlsdir, name);

	return r < 0 ? r : cu_file_write_atomic(path, pem, len, 0600, 1);
}

/* One TLS CA: its certificate, parsed, and its private key (a secret). */
struct tls_ca {
	char *pem;
	size_t len;
	struct cu_x509_tls_info info;
	uint8_t *key;
	size_t key_len;
};

static void
tls_ca_free(struct tls_ca *ca)
{
	free(ca->pem);
	if (ca->key != NULL) {
		cu_wipe(ca->key, ca->key_len);
		free(ca->key);
	}
	memset(ca, 0, sizeof(*ca));
}

/* Makes a new TLS CA: key file first, ca.pem last (the commit point). */
static int
ca_make(const char *tlsdir, const uint8_t wrap[static CU_AES256_KEY_LEN], const char *site,
        int64_t now_us, struct tls_ca *ca)
{
	char cn[NAME_FIELD_MAX + 16];
	const char *org = site != NULL && site[0] != '\0' ? site : "custody site";
	int r;

	/* "<site> TLS CA" when it fits the 64 bytes of a CN; the O= says the site. */
	if (cu_path(cn, sizeof(cn), "%s TLS CA", org) < 0 || strlen(cn) > NAME_FIELD_MAX)
		memcpy(cn, "custody TLS CA", sizeof("custody TLS CA"));
	if (strlen(org) > NAME_FIELD_MAX)
		org = NULL;
	cu_error_clear();
	if ((r = cu_ecdsa_p256_keygen(&ca->key, &ca->key_len)) < 0 ||
	    (r = cu_x509_tls_make_ca(ca->key, ca->key_len, cn, org, now_us - CU_TLS_BACKDATE_US,
	                             CU_TLS_CA_DAYS, &ca->pem, &ca->len)) < 0 ||
	    (r = cu_x509_tls_info(ca->pem, ca->len, &ca->info)) < 0 ||
	    (r = key_write(tlsdir, CU_TLS_CA_KEY_FILE, wrap, ca->key, ca->key_len)) < 0 ||
	    (r = cert_write(tlsdir, CU_TLS_CA_FILE, ca->pem, ca->len)) < 0)
		return r;
	return 0;
}

/* Loads the TLS CA, or makes one when ca.pem is missing (never made, or a
 * crash before its commit). A CA certificate without its key is an error:
 * replacing it silently would change what browsers were told to trust. */
static int
ca_load(const char *tlsdir, const uint8_t wrap[static CU_AES256_KEY_LEN], const char *site,
        int64_t now_us, struct tls_ca *ca)
{
	char path[PATH_MAX];
	int r;

	r = cert_read(tlsdir, CU_TLS_CA_FILE, &ca->pem, &ca->len, &ca->info);
	if (r == CU_ERR_NOTFOUND)
		return ca_make(tlsdir, wrap, site, now_us, ca);
	if (r < 0)
		return r;
	if ((r = cu_path(path, sizeof(path), "%s/%s", tlsdir, CU_TLS_CA_FILE)) < 0)
		return r;
	if (!ca->info.ca)
		return cu_fail(CU_ERR_FORMAT, "%s: not a CA certificate", path);
	r = key_read(tlsdir, CU_TLS_CA_KEY_FILE, wrap, &ca->key, &ca->key_len);
	if (r == CU_ERR_NOTFOUND)
		return cu_fail(CU_ERR_NOTFOUND, "%s/%s: missing, though %s is there: restore it, "
		               "or remove %s to make a new TLS CA (which browsers must then be "
		               "told to trust)", tlsdir, CU_TLS_CA_KEY_FILE, path, path);
	if (r < 0)
		return r;
	r = cu_x509_tls_key_match(ca->pem, ca->len, ca->key, ca->key_len);
	if (r == CU_ERR_AUTH)
		return cu_fail(CU_ERR_FORMAT, "%s/%s: not the key of %s", tlsdir,
		               CU_TLS_CA_KEY_FILE, path);
	return r < 0 ? cu_fail_prefix(CU_ERR_FORMAT, "%s", path) : 0;
}

/* A certificate and its private key, as read or made; the key is wiped when freed. */
struct cert_key {
	char *pem;
	size_t len;
	uint8_t *key;
	size_t key_len;
};

static void
cert_key_free(struct cert_key *ck)
{
	if (ck->key != NULL) {
		cu_wipe(ck->key, ck->key_len);
		free(ck->key);
	}
	free(ck->pem);
	memset(ck, 0, sizeof(*ck));
}

/* Should the server certificate be issued (again)? Reads it when present;
 * *ret_need says so when it is missing, stale or does not fit. Damaged or
 * foreign files are errors, not reasons to overwrite them. */
static int
server_check(const char *tlsdir, const uint8_t wrap[static CU_AES256_KEY_LEN],
             const struct tls_ca *ca, const struct name_set *want, int64_t now_us,
             bool *ret_need)
{
	struct cu_x509_tls_info info;
	struct cert_key ck = {0};
	int r = cert_read(tlsdir, CU_TLS_CERT_FILE, &ck.pem, &ck.len, &info);
	if (r == 0 && (r = key_read(tlsdir, CU_TLS_CERT_KEY_FILE, wrap, &ck.key, &ck.key_len)) == 0) {
		/* A key that is not the certificate's: a crash between writing the
		 * new key and the new certificate. Issuing again repairs it. */
		r = cu_x509_tls_key_match(ck.pem, ck.len, ck.key, ck.key_len);
		if (r == CU_ERR_AUTH)
			r = CU_ERR_NOTFOUND;
	}
	if (r == CU_ERR_NOTFOUND) {
		*ret_need = true;
		r = 0;
	}
	else if (r == 0) {
		/* Not issued by this CA (a new CA was made) or not valid now. */
		*ret_need = cu_x509_tls_verify(ck.pem, ck.len, ca->pem, ca->len, now_us) < 0 ||
		            !names_equal(want, &info) ||
		            info.not_after_us - now_us < CU_TLS_RENEW_US;
		cu_error_clear();
	}
	cert_key_free(&ck);
	return r;
}

/* Issues a new key and certificate: key file first, server.pem last. */
static int
server_issue(const char *tlsdir, const uint8_t wrap[static CU_AES256_KEY_LEN],
             const struct tls_ca *ca, const struct name_set *want, int64_t now_us)
{
	struct cert_key ck = {0};
	int r;
	if ((r = cu_ecdsa_p256_keygen(&ck.key, &ck.key_len)) < 0 ||
	    (r = cu_x509_tls_issue(ca->pem, ca->len, ca->key, ca->key_len, ck.key, ck.key_len,
	                           want->list, want->n, now_us - CU_TLS_BACKDATE_US,
	                           CU_TLS_SERVER_DAYS, &ck.pem, &ck.len)) < 0)
		goto out;
	/* What a browser will do, done first: an expired CA shows up here. */
	if ((r = cu_x509_tls_verify(ck.pem, ck.len, ca->pem, ca->len, now_us)) < 0) {
		r = cu_fail_prefix(r, "the new TLS server certificate does not verify against "
		                   "%s/%s", tlsdir, CU_TLS_CA_FILE);
		goto out;
	}
	if ((r = key_write(tlsdir, CU_TLS_CERT_KEY_FILE, wrap, ck.key, ck.key_len)) == 0)
		r = cert_write(tlsdir, CU_TLS_CERT_FILE, ck.pem, ck.len);
out:
	cert_key_free(&ck);
	return r;
}

static int
dup_text(const char *a, size_t alen, const char *b, size_t blen, char **ret, size_t *ret_len)
{
	char *s = malloc(alen + blen + 1);

	if (s == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	memcpy(s, a, alen);
	if (blen > 0)
		memcpy(s + alen, b, blen);
	s[alen + blen] = '\0';
	*ret = s;
	*ret_len = alen + blen;
	return 0;
}

/* Fills the material from the files as they are now. */
static int
material_make(const char *tlsdir, const uint8_t wrap[static CU_AES256_KEY_LEN],
              const struct tls_ca *ca, bool issued, struct cu_tls_material *ret)
{
	struct cu_tls_material m;
	struct cu_x509_tls_info info;
	struct cert_key ck = {0};
	int r;

	memset(&m, 0, sizeof(m));
	if ((r = cert_read(tlsdir, CU_TLS_CERT_FILE, &ck.pem, &ck.len, &info)) < 0 ||
	    (r = key_read(tlsdir, CU_TLS_CERT_KEY_FILE, wrap, &ck.key, &ck.key_len)) < 0 ||
	    (r = cu_x509_tls_key_match(ck.pem, ck.len, ck.key, ck.key_len)) < 0 ||
	    (r = cu_ecdsa_p256_key_pem(ck.key, ck.key_len, &m.key_pem, &m.key_len)) < 0 ||
	    (r = dup_text(ck.pem, ck.len, ca->pem, ca->len, &m.chain_pem, &m.chain_len)) < 0 ||
	    (r = dup_text(ca->pem, ca->len, NULL, 0, &m.ca_pem, &m.ca_len)) < 0)
		goto out;
	memcpy(m.ca_fp, ca->info.fingerprint, CU_SHA256_LEN);
	m.not_after_us = info.not_after_us;
	m.issued = issued;
	*ret = m;
	memset(&m, 0, sizeof(m));
out:
	cu_tls_material_free(&m);
	cert_key_free(&ck);
	return r;
}

/* An exclusive lock on the tls directory itself, held for the whole check
 * and issue, so that custodyd and custody tls never interleave their writes. */
static int
lock_dir(const char *tlsdir, int *ret_fd)
{
	int fd = open(tlsdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return cu_fail_errno(errno, "%s", tlsdir);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return cu_fail_errno(e, "lock %s", tlsdir);
		}
	}
	*ret_fd = fd;
	return 0;
}

int
cu_tls_ensure(const char *dir, const uint8_t store_id[static CU_ID_LEN],
              const uint8_t ca_seed[static CU_ED25519_KEY_LEN], const char *site,
              const char *const *names, size_t n, int64_t now_us,
              struct cu_tls_material *ret)
{
	struct name_set want;
	struct tls_ca ca;
	uint8_t wrap[CU_AES256_KEY_LEN];
	char tlsdir[PATH_MAX];
	bool need = false;
	int fd = -1, r;

	memset(&ca, 0, sizeof(ca));
	if (dir == NULL)
		return cu_fail(CU_ERR_INVAL, "TLS: no store directory");
	if (names == NULL && n > 0)
		return cu_fail(CU_ERR_INVAL, "TLS: %zu names but no list", n);
	if ((r = names_resolve(names, n, &want)) < 0 ||
	    (r = cu_path(tlsdir, sizeof(tlsdir), "%s/%s", dir, CU_TLS_DIR)) < 0)
		return r;
	if ((r = cu_tls_wrap_key(store_id, ca_seed, wrap)) < 0)
		goto out;
	if ((r = cu_mkdir(tlsdir, 0700)) < 0 || (r = lock_dir(tlsdir, &fd)) < 0)
		goto out;
	if ((r = ca_load(tlsdir, wrap, site, now_us, &ca)) < 0 ||
	    (r = server_check(tlsdir, wrap, &ca, &want, now_us, &need)) < 0)
		goto out;
	if (need && (r = server_issue(tlsdir, wrap, &ca, &want, now_us)) < 0)
		goto out;
	/* The material is read back from the files: what a restart would serve. */
	if (ret != NULL && (r = material_make(tlsdir, wrap, &ca, need, ret)) < 0)
		goto out;
	r = 0;
out:
	if (fd >= 0)
		close(fd); /* releases the lock */
	tls_ca_free(&ca);
	cu_wipe(wrap, sizeof(wrap));
	return r;
}

void
cu_tls_remove(const char *dir)
{
	static const char *const files[] = {
		CU_TLS_CA_FILE, CU_TLS_CA_KEY_FILE, CU_TLS_CERT_FILE, CU_TLS_CERT_KEY_FILE,
		CU_TLS_CA_FILE ".tmp", CU_TLS_CA_KEY_FILE ".tmp", CU_TLS_CERT_FILE ".tmp",
		CU_TLS_CERT_KEY_FILE ".tmp",
	};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (cu_path(path, sizeof(path), "%s/%s/%s", dir, CU_TLS_DIR, files[i]) == 0)
			unlink(path);
	if (cu_path(path, sizeof(path), "%s/%s", dir, CU_TLS_DIR) == 0)
		rmdir(path);
}

int
cu_store_tls(cu_store *s, const char *const *names, size_t n, struct cu_tls_material *ret)
{
	char org[CU_X509_SUBJECT_MAX];

	if (s == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_store_tls: NULL argument");
	if (!s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "the store password is needed for the TLS keys");
	/* The site's name is the organisation of the evidence CA (custody init
	 * --site); a store without one is "custody site", as at init. */
	if (cu_x509_organisation(s->ca_pem, s->ca_len, org, sizeof(org)) < 0 || org[0] == '\0')
		memcpy(org, "custody site", sizeof("custody site"));
	cu_error_clear();
	return cu_tls_ensure(s->dir, s->id, s->keys.ca, org, names, n, cu_time_now_us(), ret);
}

void
cu_tls_material_free(struct cu_tls_material *m)
{
	if (m == NULL)
		return;
	if (m->key_pem != NULL) {
		cu_wipe(m->key_pem, m->key_len);
		free(m->key_pem);
	}
	free(m->chain_pem);
	free(m->ca_pem);
	memset(m, 0, sizeof(*m));
}
