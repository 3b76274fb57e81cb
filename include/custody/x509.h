/* custody — the site CA and the recording servers' certificates.
 *
 * custody init makes a site CA (Ed25519, self-signed) and issues each
 * recording server a certificate for its Ed25519 signing key. Verifiers check
 * that the key that signed the seals is certified by the site CA and report
 * the certificate's subject and SHA-256 fingerprint. Certificates travel as PEM. */
#ifndef CUSTODY_X509_H
#define CUSTODY_X509_H

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

#endif
