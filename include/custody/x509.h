/* custody — the site CA and the recording servers' certificates.
 *
 * custody init makes a site CA (Ed25519, self-signed) and issues each
 * recording server a certificate for its Ed25519 signing key. Verifiers check
 * that the key that signed the seals is certified by the site CA and report
 * the certificate's subject and SHA-256 fingerprint. Certificates travel as PEM.
 * For HTTPS, a second site CA with ECDSA P-256 issues the server's TLS
 * certificate (the cu_x509_tls_* and cu_ecdsa_p256_* functions below). */
#ifndef CUSTODY_X509_H
#define CUSTODY_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"

#define CU_X509_PEM_MAX (16 * 1024)   /* largest certificate PEM accepted */
#define CU_X509_SUBJECT_MAX 512       /* largest one-line subject string */

/* Creates a self-signed site CA certificate for the Ed25519 key ca_priv, with
 * subject CN=common_name, O=organisation, valid for `days` days from now,
 * basicConstraints CA:TRUE (critical), keyUsage keyCertSign+cRLSign.
 * Returns a malloc'd NUL-terminated PEM in *ret_pem (*ret_len excludes NUL). */
int cu_x509_make_ca(const uint8_t ca_priv[static CU_ED25519_KEY_LEN],
                    const char *common_name, const char *organisation, int days,
                    char **ret_pem, size_t *ret_len);

/* Issues a certificate for the Ed25519 public key subject_pub, subject
 * CN=common_name, O=organisation, signed by the CA (ca_pem + ca_priv),
 * basicConstraints CA:FALSE, keyUsage digitalSignature, random 128-bit serial. */
int cu_x509_issue(const char *ca_pem, size_t ca_len,
                  const uint8_t ca_priv[static CU_ED25519_KEY_LEN],
                  const uint8_t subject_pub[static CU_ED25519_KEY_LEN],
                  const char *common_name, const char *organisation, int days,
                  char **ret_pem, size_t *ret_len);

/* What a verifier learns of a certificate. */
struct cu_x509_info {
	char subject[CU_X509_SUBJECT_MAX];           /* RFC 2253 one-line form */
	char issuer[CU_X509_SUBJECT_MAX];
	uint8_t fingerprint[CU_SHA256_LEN];          /* SHA-256 of the DER */
	uint8_t ed25519_pub[CU_ED25519_KEY_LEN];     /* the subject's key */
	int64_t not_before_us, not_after_us;
};

/* Parses one PEM certificate whose key is Ed25519. */
int cu_x509_info(const char *pem, size_t len, struct cu_x509_info *ret);

/* Checks that cert_pem is signed by ca_pem's key, that ca_pem is a
 * self-signed CA, and that cert_pem is an end-entity certificate with the
 * digitalSignature usage. Validity periods are checked against at_us (the time
 * the signatures were made), not against now: recordings outlive certificates.
 * Returns 0, CU_ERR_AUTH (does not chain; detail says why) or CU_ERR_FORMAT. */
int cu_x509_verify_chain(const char *cert_pem, size_t cert_len,
                         const char *ca_pem, size_t ca_len, int64_t at_us);

/* Lower-case hex of a fingerprint with ':' between bytes; buf >= 96 bytes. */
void cu_x509_fingerprint_hex(const uint8_t fp[static CU_SHA256_LEN], char *buf, size_t len);

/* The organisation (O=) of a certificate's subject, any key type, into buf
 * (NUL-terminated; "" when there is none). CU_ERR_LIMIT when it does not fit. */
int cu_x509_organisation(const char *pem, size_t len, char *buf, size_t size);

/* ---- TLS certificates: ECDSA P-256 with SHA-256 ----
 * Browsers refuse Ed25519 in certificate chains, so the HTTPS server's
 * certificate and the site TLS CA that issues it use ECDSA P-256. Private keys
 * cross this API as DER PKCS#8 PrivateKeyInfo: a secret the caller passes
 * through cu_wipe before freeing. Formats: docs/formats/tls.md. */

#define CU_X509_TLS_NAMES_MAX 16      /* subjectAltName entries in a server certificate */
#define CU_X509_TLS_NAME_MAX 253      /* bytes of a DNS name (RFC 1035 text form) */
#define CU_ECDSA_P256_KEY_DER_MAX 512 /* PKCS#8 DER of a P-256 key (138 bytes in practice) */

/* Generates an ECDSA P-256 key pair. *ret_der is a malloc'd PKCS#8 DER
 * PrivateKeyInfo (with the public key), at most CU_ECDSA_P256_KEY_DER_MAX bytes. */
int cu_ecdsa_p256_keygen(uint8_t **ret_der, size_t *ret_len);

/* Checks a PKCS#8 DER private key: exactly one DER structure, an EC key on
 * P-256, private and public halves consistent. Returns 0 or CU_ERR_FORMAT. */
int cu_ecdsa_p256_key_check(const uint8_t *der, size_t len);

/* The key as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), malloc'd and
 * NUL-terminated (*ret_len excludes the NUL): a secret, like the DER. */
int cu_ecdsa_p256_key_pem(const uint8_t *der, size_t len, char **ret_pem, size_t *ret_len);

/* Validates a host name for a TLS certificate and writes its canonical form
 * to out: an IPv4 or IPv6 literal as inet_ntop writes it ("::1"), or a DNS
 * name in lower case: 1..253 bytes, labels of 1..63 letters, digits and '-'
 * (not first or last), separated by single dots, the last label not all
 * digits (it would read as an IPv4 address). No wildcards, no trailing dot.
 * Returns 1 for an IP address, 0 for a DNS name, or CU_ERR_INVAL with a
 * detail quoting the name. */
int cu_x509_tls_name(const char *name, char out[static CU_X509_TLS_NAME_MAX + 1]);

/* Creates a self-signed TLS CA certificate for the P-256 key key_der: subject
 * CN=common_name, O=organisation (omitted when NULL or ""), valid from
 * not_before_us for `days` days, basicConstraints CA:TRUE pathlen:0 (critical),
 * keyUsage keyCertSign+cRLSign (critical), subject and authority key
 * identifiers, random 128-bit serial, ecdsa-with-SHA256. Returns a malloc'd
 * NUL-terminated PEM. */
int cu_x509_tls_make_ca(const uint8_t *key_der, size_t key_len, const char *common_name,
                        const char *organisation, int64_t not_before_us, int days,
                        char **ret_pem, size_t *ret_len);

/* Issues an HTTPS server certificate for the public half of key_der, signed by
 * the TLS CA (ca_pem + ca_key_der, which must match): subjectAltName with
 * every name (1..CU_X509_TLS_NAMES_MAX, checked with cu_x509_tls_name; a DNS
 * name or an IP address entry), subject CN = the first name of at most 64
 * bytes (else "custody HTTPS server"), basicConstraints CA:FALSE (critical),
 * keyUsage digitalSignature (critical), extendedKeyUsage serverAuth, key
 * identifiers, random 128-bit serial, valid from not_before_us for `days`
 * days, ecdsa-with-SHA256. Returns a malloc'd NUL-terminated PEM. */
int cu_x509_tls_issue(const char *ca_pem, size_t ca_len, const uint8_t *ca_key_der,
                      size_t ca_key_len, const uint8_t *key_der, size_t key_len,
                      const char *const *names, size_t n, int64_t not_before_us, int days,
                      char **ret_pem, size_t *ret_len);

/* What custody reads back from a TLS certificate. */
struct cu_x509_tls_info {
	uint8_t fingerprint[CU_SHA256_LEN];      /* SHA-256 of the DER */
	int64_t not_before_us, not_after_us;
	bool ca;                                 /* basicConstraints CA:TRUE */
	size_t nnames;                           /* subjectAltName entries, in order */
	char names[CU_X509_TLS_NAMES_MAX][CU_X509_TLS_NAME_MAX + 1]; /* canonical form */
};

/* Parses the first certificate of a PEM (at most CU_X509_PEM_MAX bytes) whose
 * key is ECDSA P-256 (CU_ERR_UNSUPPORTED otherwise). A subjectAltName with
 * entries other than DNS names and IP addresses is CU_ERR_UNSUPPORTED, with
 * more than CU_X509_TLS_NAMES_MAX entries CU_ERR_LIMIT. */
int cu_x509_tls_info(const char *pem, size_t len, struct cu_x509_tls_info *ret);

/* Returns 0 when key_der is the private key of the certificate's public key,
 * CU_ERR_AUTH when it is another key, CU_ERR_FORMAT when either is malformed. */
int cu_x509_tls_key_match(const char *pem, size_t len, const uint8_t *key_der, size_t key_len);

/* Checks that cert_pem is a TLS server certificate (purpose sslserver,
 * strict RFC 5280 checks) that chains to ca_pem, the only trust anchor, at
 * time at_us. Returns 0, CU_ERR_AUTH (detail: OpenSSL's reason) or CU_ERR_FORMAT. */
int cu_x509_tls_verify(const char *cert_pem, size_t cert_len, const char *ca_pem,
                       size_t ca_len, int64_t at_us);

#endif
