/* Private: the auth module's internals shared by its files (auth.c: database
 * and administration; password.c: hashing and policy; perm.c: permissions;
 * token.c: tokens, issuers, signed URLs; login.c: login and lockout;
 * profile.c: export profiles). */
#ifndef CU_AUTH_INT_H
#define CU_AUTH_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "custody/auth.h"
#include <limits.h>

#include "custody/store.h"
#include "store/format.h"
#include "util/db.h"

/* 1: users, roles, groups, tokens; 2: export profiles. A writable open
 * upgrades 1 to 2; a read-only one reads 1 as it is. */
#define CU_AUTH_DB_VERSION "2"

struct cu_auth {
	cu_store *store;                     /* borrowed: dir, certificates, keys */
	cu_db *db;                           /* auth.db (lib/util/db.h) */
	bool has_profiles;                   /* version 2: the profile tables exist */
	/* Held around every use of db and of its cached statements (cu_db_stmt,
	 * which are part of the connection's state): every cu_db_stmt ...
	 * cu_db_done runs with lock held, or in cu_auth_open before the handle
	 * is returned, or in cu_auth_close after its last user. */
	pthread_mutex_t lock;
	cu_sign_key *sign;                   /* NULL without the store password */
	int64_t (*clock)(void *ctx);         /* NULL: cu_time_now_us */
	void *clock_ctx;
	int64_t token_lifetime_us;           /* tokens issued without a lifetime; 0: the default */
	char dummy_phc[CU_AUTH_PHC_MAX];     /* verified for unknown users */
	pthread_mutex_t hash_lock;           /* bounds concurrent Argon2id runs */
	pthread_cond_t hash_cond;
	int hashing;
	/* counters, for tests: Argon2id verifications against stored and dummy hashes */
	atomic_uint_fast64_t verify_runs, dummy_runs;
};

/* ---- auth.c ---- */
int64_t cu_auth_now(const cu_auth *a);
/* SQL goes through lib/util/db.h with a->db and a->lock held: cu_db_stmt
 * and cu_db_done (statements prepared once per handle), cu_db_begin(a->db,
 * true) / cu_db_commit / cu_db_rollback, cu_db_fail. */
/* Runs one change with arguments described by types ('t' const char *, 'i'
 * int64_t); returns the number of rows changed, CU_ERR_EXIST on a uniqueness
 * violation, or another negative cu_err. With a->lock held. */
int cu_auth_exec(cu_auth *a, const char *sql, const char *types, ...);
/* The first column of the first row as an integer; CU_ERR_NOTFOUND if no row. */
int cu_auth_query_int(cu_auth *a, int64_t *ret, const char *sql, const char *types, ...);
/* Ends a transaction begun under a->lock (commit when r >= 0) and unlocks;
 * returns 0 or the error. */
int cu_auth_finish(cu_auth *a, int r);
/* A role's id by name; CU_ERR_NOTFOUND with a detail. With a->lock held. */
int cu_auth_role_id(cu_auth *a, const char *role, int64_t *ret);
/* The role and group name rule, "what" naming the kind in the detail. */
int cu_auth_plain_name_check(const char *what, const char *name);
/* Every value of column 0 of a query with one integer parameter, as a
 * malloc'd array of names of at most CU_ROLE_NAME_MAX bytes, at most limit. */
int cu_auth_names_of(cu_auth *a, const char *sql, int64_t param,
                     char (**ret)[CU_ROLE_NAME_MAX + 1], size_t *ret_n, size_t limit);

/* Events: zeroed and stamped, then fields set (NULL ev is fine). */
void cu_auth_ev_init(struct cu_auth_event *ev, const char *action, int64_t now);
void cu_auth_ev_set(char *field, size_t len, const char *value);
#define EV_SET(ev, field, value) \
	do { if ((ev) != NULL) cu_auth_ev_set((ev)->field, sizeof((ev)->field), (value)); } while (0)

struct cu_user_row {
	int64_t id;
	char name[CU_USER_NAME_MAX + 1];
	char phc[CU_AUTH_PHC_MAX];
	bool disabled;
	int64_t created_us, password_changed_us, tokens_valid_after_us;
};
/* Reads a user by name (id 0) or id; CU_ERR_NOTFOUND. With a->lock held. */
int cu_auth_user_get(cu_auth *a, const char *name, int64_t id, struct cu_user_row *ret);
/* Wipes the hash and zeroes the row. */
void cu_user_row_wipe(struct cu_user_row *u);

/* The first whole second after now: tokens issued (iat, in seconds) before it
 * are revoked by a password change, disable or "log out everywhere". The
 * updates set tokens_valid_after_us = max(old + 1 s, this): tokens issued
 * after a first revocation carry iat = the old value, so a second revocation
 * in the same second must move past it. */
int64_t cu_auth_revocation_point(int64_t now_us);

/* ---- profile.c ---- */
/* The tables of schema version 2 (CREATE ... IF NOT EXISTS: also the upgrade). */
extern const char cu_auth_schema_profiles[];

/* ---- password.c ---- */
/* Encodes a new Argon2id hash of pw with the policy's parameters as a PHC
 * string ($argon2id$v=19$m=..,t=..,p=..$salt$hash, base64 without padding). */
int cu_pw_hash(cu_auth *a, const char *pw, size_t len, char out[static CU_AUTH_PHC_MAX]);
/* Parses a PHC string; parameters are bounded by the crypto module's limits. */
int cu_pw_parse(const char *phc, struct cu_argon2_params *ret_params, uint8_t *ret_salt,
                size_t *ret_salt_len, uint8_t *ret_hash, size_t *ret_hash_len);
/* Verifies pw against phc: *ret_match, and *ret_weak when the hash's
 * parameters are below the policy. Counts into a->verify_runs. */
int cu_pw_verify(cu_auth *a, const char *phc, const char *pw, size_t len, bool *ret_match,
                 bool *ret_weak);
/* A random, never-matching hash with the policy's parameters. */
int cu_pw_dummy(char out[static CU_AUTH_PHC_MAX]);

/* ---- token.c ---- */
/* Issues a token for a user row read under a->lock (called without it). */
int cu_auth_token_for(cu_auth *a, const struct cu_user_row *u, int64_t lifetime_us, char *buf,
                      size_t len, struct cu_token_claims *ret);

/* The query of a signed media URL, "exp=S&sub=ID&iss=HEX64&sig=B64URL" in
 * that order and nothing else (cu_auth_sign_url writes it): parsed and
 * checked for form only, no signature or clock. Written only on success;
 * CU_ERR_FORMAT naming what is wrong otherwise. */
struct cu_url_query {
	uint64_t exp_s;                      /* expiry, s since the epoch */
	uint64_t sub;                        /* user id, > 0 */
	uint8_t iss[CU_SHA256_LEN];          /* issuer certificate fingerprint */
	uint8_t sig[CU_ED25519_SIG_LEN];
};
int cu_auth_url_query_parse(const char *query, struct cu_url_query *ret);

/* The form of a token, no signature or database check (token.c; fuzzed).
 * Writes the claims, the signature and the length of the payload part. */
int cu_auth_token_parse(const char *token, size_t len, struct cu_token_claims *c,
                        uint8_t sig[static CU_ED25519_SIG_LEN], size_t *ret_p64len);

#endif
