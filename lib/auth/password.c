/* User passwords: the policy, Argon2id hashing into PHC strings, and
 * verification that reads the parameters from the stored string (bounded by
 * the crypto module's limits, so a hostile auth.db cannot exhaust memory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "util/base64.h"
#include "custody/error.h"
#include "custody/parse.h"

/* PHC strings: standard alphabet, no padding, one spelling per byte string */
#define PHC_B64 (CU_B64_NOPAD | CU_B64_CANONICAL)

/* The most common passwords of at least 8 characters (shorter ones fail the
 * length rule anyway), from public breach corpora; compared ignoring ASCII
 * case. A small list on purpose: it stops the first guesses of every
 * password-spraying tool without pretending to be a strength meter. */
static const char *const common[] = {
	"password", "password1", "password12", "password123", "passw0rd", "p@ssw0rd", "p@ssword",
	"12345678", "123456789", "1234567890", "0987654321", "987654321", "87654321",
	"11111111", "00000000", "22222222", "55555555", "66666666", "77777777", "88888888",
	"99999999", "1111111111", "12121212", "11223344", "12341234", "123123123", "12344321",
	"147258369", "741852963", "159753456", "123456abc", "abc12345", "abcd1234", "1234abcd",
	"1234qwer", "qwer1234", "qwerty12", "qwerty123", "qwertyui", "qwertyuiop", "asdfghjk",
	"asdfghjkl", "zxcvbnm1", "zxcvbnm123", "1q2w3e4r", "1q2w3e4r5t", "q1w2e3r4", "q1w2e3r4t5",
	"1qaz2wsx", "zaq12wsx", "qazwsxedc", "123qweasd", "aaaaaaaa", "abcdefgh", "iloveyou",
	"iloveyou1", "sunshine", "sunshine1", "princess", "princess1", "football", "football1",
	"baseball", "baseball1", "welcome1", "welcome123", "letmein1", "letmein123", "trustno1",
	"superman", "starwars", "whatever", "computer", "michelle", "jennifer", "corvette",
	"mercedes", "midnight", "maverick", "samantha", "internet", "shadow12", "master12",
	"monkey12", "dragon12", "batman12", "pokemon1", "charlie1", "michael1", "jordan23",
	"freedom1", "hello123", "admin123", "admin1234", "administrator", "changeme", "changeit",
	"default1", "passpass", "testtest", "test1234", "guest123", "root1234", "secret12",
	"security", "custody1", "custody123", "letmeinnow", "qwerty1234",
};

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool
equal_nocase(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return false;
	return true;
}


int
cu_auth_password_policy(const char *user, const char *pw, size_t len)
{
	if (pw == NULL)
		return cu_fail(CU_ERR_INVAL, "no password");
	if (len > CU_USER_PASSWORD_MAX)
		return cu_fail(CU_ERR_INVAL, "the password is longer than %d bytes",
		               CU_USER_PASSWORD_MAX);
	const unsigned char *s = (const unsigned char *)pw;
	size_t chars = 0, distinct = 0;
	uint32_t first = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = cu_utf8_next(s + i, len - i, &cp);
		if (n == 0)
			return cu_fail(CU_ERR_INVAL, "the password is not valid UTF-8 (byte %zu)", i);
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return cu_fail(CU_ERR_INVAL, "the password contains a control character");
		if (chars == 0)
			first = cp;
		else if (cp != first)
			distinct = 1;
		chars++;
		i += n;
	}
	if (chars < CU_USER_PASSWORD_MIN)
		return cu_fail(CU_ERR_INVAL, "the password must be at least %d characters long (%zu "
		               "given)", CU_USER_PASSWORD_MIN, chars);
	if (distinct == 0)
		return cu_fail(CU_ERR_INVAL, "the password repeats one character");
	if (user != NULL && equal_nocase(pw, len, user))
		return cu_fail(CU_ERR_INVAL, "the password is the user name");
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (equal_nocase(pw, len, common[i]))
			return cu_fail(CU_ERR_INVAL, "the password is one of the most common "
			               "passwords; choose another");
	return 0;
}

/* At most CU_AUTH_HASH_CONCURRENCY Argon2id runs at once: each holds 46 MiB. */
static void
hash_enter(cu_auth *a)
{
	pthread_mutex_lock(&a->hash_lock);
	while (a->hashing >= CU_AUTH_HASH_CONCURRENCY)
		pthread_cond_wait(&a->hash_cond, &a->hash_lock);
	a->hashing++;
	pthread_mutex_unlock(&a->hash_lock);
}

static void
hash_leave(cu_auth *a)
{
	pthread_mutex_lock(&a->hash_lock);
	a->hashing--;
	pthread_cond_signal(&a->hash_cond);
	pthread_mutex_unlock(&a->hash_lock);
}

static int
encode(const struct cu_argon2_params *p, const uint8_t *salt, size_t salt_len,
       const uint8_t *hash, size_t hash_len, char out[static CU_AUTH_PHC_MAX])
{
	char s64[128], h64[128];
	int r;
	if ((r = cu_b64_encode(salt, salt_len, PHC_B64, s64, sizeof(s64))) < 0 ||
	    (r = cu_b64_encode(hash, hash_len, PHC_B64, h64, sizeof(h64))) < 0)
		goto out;
	int n = snprintf(out, CU_AUTH_PHC_MAX, "$argon2id$v=19$m=%u,t=%u,p=%u$%s$%s",
	                 (unsigned)p->m_cost_kib, (unsigned)p->t_cost, (unsigned)p->parallelism,
	                 s64, h64);
	r = n < 0 || n >= CU_AUTH_PHC_MAX ? cu_fail(CU_ERR_LIMIT, "password hash too long") : 0;
out:
	cu_wipe(h64, sizeof(h64));
	return r;
}

int
cu_pw_hash(cu_auth *a, const char *pw, size_t len, char out[static CU_AUTH_PHC_MAX])
{
	const struct cu_argon2_params p = {CU_AUTH_ARGON2_T, CU_AUTH_ARGON2_M, CU_AUTH_ARGON2_P};
	uint8_t salt[CU_AUTH_SALT_LEN], hash[CU_AUTH_HASH_LEN];
	int r = cu_random(salt, sizeof(salt));
	if (r < 0)
		return r;
	hash_enter(a);
	r = cu_argon2id(pw, len, salt, sizeof(salt), &p, hash, sizeof(hash));
	hash_leave(a);
	if (r == 0)
		r = encode(&p, salt, sizeof(salt), hash, sizeof(hash), out);
	cu_wipe(hash, sizeof(hash));
	return r;
}

int
cu_pw_dummy(char out[static CU_AUTH_PHC_MAX])
{
	const struct cu_argon2_params p = {CU_AUTH_ARGON2_T, CU_AUTH_ARGON2_M, CU_AUTH_ARGON2_P};
	uint8_t salt[CU_AUTH_SALT_LEN], hash[CU_AUTH_HASH_LEN];
	int r;
	/* Random bytes as the "hash": no password has it, whatever anyone types. */
	if ((r = cu_random(salt, sizeof(salt))) < 0 || (r = cu_random(hash, sizeof(hash))) < 0)
		return r;
	return encode(&p, salt, sizeof(salt), hash, sizeof(hash), out);
}

/* Reads "<digits><stop>" at *s into a value <= max. */
static int
number(const char **s, char stop, uint32_t max, const char *what, uint32_t *ret)
{
	char buf[12];
	size_t n = 0;
	while ((*s)[n] >= '0' && (*s)[n] <= '9' && n < sizeof(buf) - 1)
		n++;
	if ((*s)[n] != stop || n == 0 || ((*s)[0] == '0' && n > 1))
		return cu_fail(CU_ERR_FORMAT, "password hash: bad %s", what);
	memcpy(buf, *s, n);
	buf[n] = '\0';
	uint64_t v;
	int r = cu_parse_u64(buf, max, what, &v);
	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	*s += n + 1;
	return 0;
}

int
cu_pw_parse(const char *phc, struct cu_argon2_params *ret_params, uint8_t *ret_salt,
            size_t *ret_salt_len, uint8_t *ret_hash, size_t *ret_hash_len)
{
	static const char prefix[] = "$argon2id$v=19$m=";
	struct cu_argon2_params p;
	int r;
	if (phc == NULL || strnlen(phc, CU_AUTH_PHC_MAX) >= CU_AUTH_PHC_MAX)
		return cu_fail(CU_ERR_FORMAT, "password hash: missing or too long");
	if (strncmp(phc, prefix, sizeof(prefix) - 1) != 0)
		return cu_fail(CU_ERR_UNSUPPORTED, "password hash: not Argon2id version 19");
	const char *s = phc + sizeof(prefix) - 1;
	if ((r = number(&s, ',', CU_ARGON2_M_MAX, "m", &p.m_cost_kib)) < 0)
		return r;
	if (strncmp(s, "t=", 2) != 0)
		return cu_fail(CU_ERR_FORMAT, "password hash: t missing");
	s += 2;
	if ((r = number(&s, ',', CU_ARGON2_T_MAX, "t", &p.t_cost)) < 0)
		return r;
	if (strncmp(s, "p=", 2) != 0)
		return cu_fail(CU_ERR_FORMAT, "password hash: p missing");
	s += 2;
	if ((r = number(&s, '$', CU_ARGON2_P_MAX, "p", &p.parallelism)) < 0)
		return r;
	const char *dollar = strchr(s, '$');
	if (dollar == NULL)
		return cu_fail(CU_ERR_FORMAT, "password hash: hash missing");
	size_t sl, hl;
	if ((r = cu_b64_decode(s, (size_t)(dollar - s), PHC_B64, ret_salt, 64, &sl)) < 0 ||
	    (r = cu_b64_decode(dollar + 1, strlen(dollar + 1), PHC_B64, ret_hash, 64, &hl)) < 0)
		return cu_fail_prefix(CU_ERR_FORMAT, "password hash");
	if (sl < 16 || hl < 16)
		return cu_fail(CU_ERR_FORMAT, "password hash: salt or hash shorter than 16 bytes");
	*ret_params = p;
	*ret_salt_len = sl;
	*ret_hash_len = hl;
	return 0;
}

int
cu_pw_verify(cu_auth *a, const char *phc, const char *pw, size_t len, bool *ret_match,
             bool *ret_weak)
{
	struct cu_argon2_params p;
	uint8_t salt[64], want[64], got[64];
	size_t sl, hl;
	int r = cu_pw_parse(phc, &p, salt, &sl, want, &hl);
	if (r < 0)
		goto out;
	hash_enter(a);
	r = cu_argon2id(pw, len, salt, sl, &p, got, hl);
	hash_leave(a);
	atomic_fetch_add(&a->verify_runs, 1);
	if (r < 0)
		goto out;
	*ret_match = cu_ct_equal(got, want, hl);
	*ret_weak = p.m_cost_kib < CU_AUTH_ARGON2_M || p.t_cost < CU_AUTH_ARGON2_T;
out:
	cu_wipe(want, sizeof(want));
	cu_wipe(got, sizeof(got));
	cu_wipe(salt, sizeof(salt));
	return r;
}
