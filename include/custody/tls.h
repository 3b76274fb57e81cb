/* custody — the HTTPS server's certificate and the site TLS CA.
 *
 * Browsers refuse Ed25519 in certificate chains, so beside the Ed25519
 * evidence site CA a store keeps a second, ECDSA P-256 "site TLS CA" that
 * issues the HTTPS server's certificate. Both live in STORE/tls/ (format:
 * docs/formats/tls.md): certificates as PEM, private keys encrypted under a
 * key derived from the store's site CA key, so opening them needs the store
 * password. custody init creates them; older stores get them on first use. */
#ifndef CUSTODY_TLS_H
#define CUSTODY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"
#include "custody/store.h"

#define CU_TLS_DIR "tls"                 /* inside the store directory */
#define CU_TLS_NAMES_MAX 16              /* names in one server certificate */
#define CU_TLS_NAME_MAX 253              /* bytes of one DNS name */

/* What an HTTPS server needs, all malloc'd and NUL-terminated. */
struct cu_tls_material {
	char *chain_pem;                     /* server certificate, then the TLS CA certificate */
	size_t chain_len;
	char *key_pem;                       /* the server's private key (PKCS#8 PEM): a secret,
	                                        wiped by cu_tls_material_free */
	size_t key_len;
	char *ca_pem;                        /* the site TLS CA certificate alone */
	size_t ca_len;
	uint8_t ca_fp[CU_SHA256_LEN];        /* SHA-256 of the CA certificate DER */
	int64_t not_after_us;                /* server certificate expiry */
	bool issued;                         /* this call created or re-issued the server
	                                        certificate */
};

/* Ensures STORE/tls/ holds the site TLS CA and an HTTPS server certificate
 * valid for names (DNS names or IPv4/IPv6 literals, at most CU_TLS_NAMES_MAX;
 * NULL/0 = "localhost", "127.0.0.1", "::1" and the host name when it is a
 * valid DNS name). The CA is created when tls/ca.pem is missing; the server
 * certificate is (re)issued with a new key when it is missing, when its names
 * differ from those asked (compared as a set, case-insensitively, duplicates
 * dropped), when it expires within 30 days, or when it no longer chains to
 * the CA or matches its key. Names are checked first: CU_ERR_INVAL with a
 * detail quoting the bad one (CU_ERR_LIMIT for too many), nothing written.
 * Needs a store opened with its password (CU_ERR_PASSWORD otherwise). A
 * damaged file is CU_ERR_FORMAT naming it; a key file that does not decrypt
 * under this store's key (another store's, or altered) is CU_ERR_AUTH; a CA
 * certificate without its key CU_ERR_NOTFOUND. Concurrent callers, in this or
 * other processes, are serialised by a lock on STORE/tls. On success *ret is
 * filled (free it with cu_tls_material_free); on failure it is not touched. */
int cu_store_tls(cu_store *s, const char *const *names, size_t n, struct cu_tls_material *ret);

/* Wipes the key, frees everything, zeroes the struct. NULL is fine. */
void cu_tls_material_free(struct cu_tls_material *m);

#endif
