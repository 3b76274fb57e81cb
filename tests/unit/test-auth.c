/* Unit tests of users, roles, tokens and signed URLs: password hashing and
 * policy, the permission matrix, the token format checked independently
 * (OpenSSL base64, hand-made payloads, libargon2's own PHC verifier), expiry
 * by a fake clock, tampering of every character, foreign keys and issuers,
 * revocation, renewal, lockout and throttling, unknown-user equivalence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <argon2.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_int.h"
#include "custody/auth.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "store/store_int.h"
#include "custody/file.h"
#include "custody/parse.h"

#define PW "unit-test-password"
#define ALICE_PW "Correct-Horse-42"

/* snprintf that must not cut: fails the test instead */
#define SNP(buf, ...) assert_true((size_t)snprintf((buf), sizeof(buf), __VA_ARGS__) < sizeof(buf))

static char tmproot[] = "/tmp/custody-auth-XXXXXX";
static int nstore;
static const struct cu_argon2_params quick_kdf = {1, CU_ARGON2_M_MIN, 1};

static int64_t fake_now;
static int64_t
fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

struct fx {
	char dir[PATH_MAX];
	cu_store *s;
	cu_auth *a;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(cu_path(f->dir, sizeof(f->dir), "%s/s%d", tmproot, ++nstore), 0);
	struct cu_store_create_opts o = {.encryption = CU_ENC_NONE, .kdf = quick_kdf};
	assert_int_equal(cu_store_create(f->dir, PW, strlen(PW), &o), 0);
	assert_int_equal(cu_store_open(f->dir, PW, strlen(PW), &f->s), 0);
	assert_int_equal(cu_auth_open(f->s, 0, &f->a), 0);
	/* a whole second and a half: revocation points fall inside the second */
	fake_now = cu_time_now_us() / 1000000 * 1000000 + 500000;
	cu_auth_set_clock(f->a, fake_clock, NULL);
	*state = f;
	return 0;
}

/* The handle's statements: how many are prepared, and whether one is still
 * stepping or a transaction is open (either keeps a read transaction on
 * auth.db: writers of other processes would be seen late, WAL checkpoints
 * blocked). */
static int
stmts_prepared(cu_auth *a, bool *ret_idle)
{
	int n = 0;
	bool idle = sqlite3_get_autocommit(a->db->sql) != 0;
	for (sqlite3_stmt *st = sqlite3_next_stmt(a->db->sql, NULL); st != NULL;
	     st = sqlite3_next_stmt(a->db->sql, st)) {
		n++;
		if (sqlite3_stmt_busy(st))
			idle = false;
	}
	*ret_idle = idle;
	return n;
}

static bool
auth_idle(cu_auth *a)
{
	bool idle;
	stmts_prepared(a, &idle);
	return idle;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	/* whatever the test did, successes and failures, every statement was reset */
	if (f->a != NULL && !auth_idle(f->a)) {
		print_error("auth.db: a statement was left stepping or a transaction open\n");
		return -1;
	}
	cu_auth_close(f->a);
	cu_store_close(f->s);
	free(f);
	return 0;
}

static void
add_user(cu_auth *a, const char *name, const char *pw, const char *role)
{
	const char *roles[1] = {role};
	assert_int_equal(cu_auth_user_add(a, name, pw, strlen(pw), roles, role ? 1 : 0, NULL), 0);
}

static struct cu_login
login(cu_auth *a, const char *name, const char *pw, const char *source)
{
	struct cu_login l;
	assert_int_equal(cu_auth_login(a, name, pw, strlen(pw), source, &l), 0);
	return l;
}

/* ---- an independent base64url, through OpenSSL's standard base64 ---- */

static size_t
b64url_enc(const uint8_t *in, size_t n, char *out)
{
	int k = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	assert_true(k >= 0);
	size_t len = (size_t)k;
	while (len > 0 && out[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	out[len] = '\0';
	return len;
}

/* out must hold the padded length: 3 bytes per 4 characters, rounded up */
static size_t
b64url_dec(const char *in, size_t n, uint8_t *out)
{
	char buf[4096];
	assert_true(n + 3 < sizeof(buf));
	memcpy(buf, in, n);
	size_t pad = (4 - n % 4) % 4;
	for (size_t i = 0; i < n; i++)
		buf[i] = buf[i] == '-' ? '+' : buf[i] == '_' ? '/' : buf[i];
	memset(buf + n, '=', pad);
	int k = EVP_DecodeBlock(out, (unsigned char *)buf, (int)(n + pad));
	assert_true(k >= 0);
	return (size_t)k - pad;
}

/* A token made by hand from the documented format: payload, then the
 * Ed25519 signature over "custody/v1/token\0" || base64url(payload). */
static void
forge(char *out, size_t len, const uint8_t priv[static 32], const char *payload)
{
	char p64[2048], s64[128];
	uint8_t msg[2100], sig[64];
	size_t pl = b64url_enc((const uint8_t *)payload, strlen(payload), p64);
	memcpy(msg, "custody/v1/token", 17);
	memcpy(msg + 17, p64, pl);
	assert_int_equal(cu_ed25519_sign(priv, msg, 17 + pl, sig), 0);
	b64url_enc(sig, 64, s64);
	assert_true((size_t)snprintf(out, len, "%s.%s", p64, s64) < len);
}

static void
payload_of(int64_t sub, const char *name, int64_t iat, int64_t exp, const char *jti,
           const uint8_t fp[static 32], char *out, size_t len)
{
	char iss[65];
	cu_hex(fp, 32, iss);
	snprintf(out, len, "{\"v\":1,\"typ\":\"access\",\"sub\":%lld,\"name\":\"%s\",\"iat\":%lld,"
	         "\"exp\":%lld,\"jti\":\"%s\",\"iss\":\"%s\"}", (long long)sub, name, (long long)iat,
	         (long long)exp, jti, iss);
}

static int
verify(cu_auth *a, const char *tok)
{
	struct cu_token_claims c;
	return cu_auth_token_verify(a, tok, strlen(tok), &c);
}

/* ---- passwords ---- */

static void
hash_of(struct fx *f, const char *user, char *out, size_t len)
{
	struct cu_user_row u;
	assert_int_equal(cu_auth_user_get(f->a, user, 0, &u), 0);
	snprintf(out, len, "%s", u.phc);
	cu_user_row_wipe(&u);
}

static void
test_password_hash(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	add_user(f->a, "bob", ALICE_PW, NULL);
	char ha[CU_AUTH_PHC_MAX], hb[CU_AUTH_PHC_MAX];
	hash_of(f, "alice", ha, sizeof(ha));
	hash_of(f, "bob", hb, sizeof(hb));
	/* salted: the same password hashes differently */
	assert_string_not_equal(ha, hb);
	/* parameters stored with the hash, at least OWASP's */
	struct cu_argon2_params p;
	uint8_t salt[64], hash[64];
	size_t sl, hl;
	assert_int_equal(cu_pw_parse(ha, &p, salt, &sl, hash, &hl), 0);
	assert_true(p.m_cost_kib >= 46 * 1024);
	assert_true(p.t_cost >= 1);
	assert_true(p.parallelism >= 1);
	assert_true(sl >= 16 && hl >= 32);
	assert_int_equal(strncmp(ha, "$argon2id$v=19$m=47104,t=1,p=1$", 31), 0);
	/* the reference implementation reads our PHC string the same way */
	assert_int_equal(argon2id_verify(ha, ALICE_PW, strlen(ALICE_PW)), ARGON2_OK);
	assert_int_not_equal(argon2id_verify(ha, "Correct-Horse-43", 16), ARGON2_OK);
	/* round trip through login */
	struct cu_login l = login(f->a, "alice", ALICE_PW, NULL);
	assert_int_equal(l.result, CU_LOGIN_OK);
	assert_true(l.user_id > 0);
	cu_wipe(&l, sizeof(l));
	assert_int_equal(login(f->a, "alice", "Correct-Horse-43", NULL).result,
	                 CU_LOGIN_BAD_CREDENTIALS);
	assert_int_equal(login(f->a, "alice", "", NULL).result, CU_LOGIN_BAD_CREDENTIALS);
	/* a password over the limit is refused even if its first 128 bytes match */
	char pw128[CU_USER_PASSWORD_MAX + 2];
	for (size_t i = 0; i < CU_USER_PASSWORD_MAX; i++)
		pw128[i] = (char)('a' + i % 26);
	pw128[CU_USER_PASSWORD_MAX] = '\0';
	add_user(f->a, "carol", pw128, NULL);
	l = login(f->a, "carol", pw128, NULL);
	assert_int_equal(l.result, CU_LOGIN_OK);
	pw128[CU_USER_PASSWORD_MAX] = 'z';
	pw128[CU_USER_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(login(f->a, "carol", pw128, NULL).result, CU_LOGIN_BAD_CREDENTIALS);
	/* changing the password: the old one stops working */
	assert_int_equal(cu_auth_user_passwd(f->a, "alice", "Another-Horse-7", 15, NULL), 0);
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_BAD_CREDENTIALS);
	l = login(f->a, "alice", "Another-Horse-7", NULL);
	assert_int_equal(l.result, CU_LOGIN_OK);
	cu_wipe(&l, sizeof(l));
}

static void
test_password_policy(void **state)
{
	(void)state;
	char pw[200];
	/* lengths: 7 refused, 8, 64 and 128 accepted, 129 refused */
	assert_int_equal(cu_auth_password_policy("u", "Abcdef1", 7), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "at least 8"));
	assert_int_equal(cu_auth_password_policy("u", "Abcdef12", 8), 0);
	for (size_t n = 64; n <= 129; n += 64) {
		for (size_t i = 0; i < n; i++)
			pw[i] = (char)('a' + i % 26);
		assert_int_equal(cu_auth_password_policy("u", pw, n), 0);
	}
	for (size_t i = 0; i < 129; i++)
		pw[i] = (char)('a' + i % 23);
	assert_int_equal(cu_auth_password_policy("u", pw, 128), 0);
	assert_int_equal(cu_auth_password_policy("u", pw, 129), CU_ERR_INVAL);
	/* characters, not bytes, for the minimum: 7 CJK (21 bytes) is too short */
	const char *cjk7 = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe5\xaf\x86\xe7\xa0"
	                   "\x81\xe5\xad\x97";
	assert_int_equal(cu_auth_password_policy("u", cjk7, strlen(cjk7)), CU_ERR_INVAL);
	const char *cjk8 = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe5\xaf\x86\xe7\xa0"
	                   "\x81\xe5\xad\x97\xe5\x88\x97";
	assert_int_equal(cu_auth_password_policy("u", cjk8, strlen(cjk8)), 0);
	/* not UTF-8: a lone continuation byte, an overlong '/', a surrogate */
	assert_int_equal(cu_auth_password_policy("u", "abcdefg\x80h", 9), CU_ERR_INVAL);
	assert_int_equal(cu_auth_password_policy("u", "abcdefg\xc0\xaf", 9), CU_ERR_INVAL);
	assert_int_equal(cu_auth_password_policy("u", "abcdefg\xed\xa0\x80", 10), CU_ERR_INVAL);
	/* control characters, NUL included */
	assert_int_equal(cu_auth_password_policy("u", "abcd\tefgh", 9), CU_ERR_INVAL);
	assert_int_equal(cu_auth_password_policy("u", "abcd\0efgh", 9), CU_ERR_INVAL);
	/* common, the user's own name, one repeated character */
	assert_int_equal(cu_auth_password_policy("u", "Password1", 9), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "common"));
	assert_int_equal(cu_auth_password_policy("u", "QWERTYUIOP", 10), CU_ERR_INVAL);
	assert_int_equal(cu_auth_password_policy("longusername", "LongUserName", 12),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_auth_password_policy("u", "zzzzzzzzzz", 10), CU_ERR_INVAL);
	/* spaces are fine: passphrases */
	assert_int_equal(cu_auth_password_policy("u", "correct horse battery", 21), 0);
}

static void
test_password_refusals(void **state)
{
	struct fx *f = *state;
	struct cu_auth_event ev;
	assert_int_equal(cu_auth_user_add(f->a, "dave", "short", 5, NULL, 0, &ev), CU_ERR_INVAL);
	assert_int_equal(cu_auth_user_add(f->a, "Dave", ALICE_PW, 16, NULL, 0, &ev), CU_ERR_INVAL);
	assert_int_equal(cu_auth_user_add(f->a, "", ALICE_PW, 16, NULL, 0, &ev), CU_ERR_INVAL);
	const char *nope[] = {"nope"};
	assert_int_equal(cu_auth_user_add(f->a, "dave", ALICE_PW, 16, nope, 1, &ev),
	                 CU_ERR_NOTFOUND);
	/* nothing was added by the failed call */
	struct cu_auth_user *u;
	size_t n;
	assert_int_equal(cu_auth_user_list(f->a, &u, &n), 0);
	assert_int_equal(n, 0);
	cu_auth_users_free(u, n);
	assert_int_equal(cu_auth_user_add(f->a, "dave", ALICE_PW, 16, NULL, 0, &ev), 0);
	assert_string_equal(ev.action, "user.add");
	assert_string_equal(ev.user, "dave");
	assert_true(ev.user_id > 0);
	assert_int_equal(ev.at_us, fake_now);
	assert_int_equal(cu_auth_user_add(f->a, "dave", ALICE_PW, 16, NULL, 0, &ev), CU_ERR_EXIST);
	assert_int_equal(cu_auth_user_passwd(f->a, "dave", "password", 8, &ev), CU_ERR_INVAL);
	assert_int_equal(cu_auth_user_passwd(f->a, "nobody", ALICE_PW, 16, &ev), CU_ERR_NOTFOUND);
}

/* Stored hashes with hostile or weak parameters: bounded, and upgraded. */
static void
set_hash(struct fx *f, const char *user, const char *phc)
{
	char path[PATH_MAX], sql[512];
	sqlite3 *db;
	assert_int_equal(cu_path(path, sizeof(path), "%s/auth.db", f->dir), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	snprintf(sql, sizeof(sql), "UPDATE users SET hash = '%s' WHERE name = '%s'", phc, user);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
test_hash_parameters(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "erin", ALICE_PW, NULL);
	/* a weaker hash made by libargon2 itself (m = 19 MiB, t = 2) verifies and
	 * is replaced by one with the policy's parameters at the next login */
	char weak[256];
	const uint8_t salt[16] = "0123456789abcdef";
	assert_int_equal(argon2id_hash_encoded(2, 19 * 1024, 1, ALICE_PW, strlen(ALICE_PW), salt,
	                                       16, 32, weak, sizeof(weak)), ARGON2_OK);
	set_hash(f, "erin", weak);
	struct cu_auth_user *u;
	size_t n;
	assert_int_equal(cu_auth_user_list(f->a, &u, &n), 0);
	assert_int_equal(u[0].argon2_m_kib, 19 * 1024);
	cu_auth_users_free(u, n);
	struct cu_login l = login(f->a, "erin", ALICE_PW, NULL);
	assert_int_equal(l.result, CU_LOGIN_OK);
	char now[CU_AUTH_PHC_MAX];
	hash_of(f, "erin", now, sizeof(now));
	assert_int_equal(strncmp(now, "$argon2id$v=19$m=47104,t=1,p=1$", 31), 0);
	assert_int_equal(login(f->a, "erin", ALICE_PW, NULL).result, CU_LOGIN_OK);

	/* parameters over the crypto module's limits are refused before any
	 * memory is committed; malformed strings are refused */
	static const char *const bad[] = {
		"$argon2id$v=19$m=2000000,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=47104,t=99,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=47104,t=1,p=64$MDEyMzQ1Njc4OWFiY2RlZg$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2i$v=19$m=47104,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=16$m=47104,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=047104,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=47104,t=1,p=1$MDEy$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=47104,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg==$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=47104,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_hash(f, "erin", bad[i]);
		struct cu_login l2;
		int r = cu_auth_login(f->a, "erin", ALICE_PW, strlen(ALICE_PW), NULL, &l2);
		assert_true(r < 0);
		assert_true(r == CU_ERR_LIMIT || r == CU_ERR_FORMAT || r == CU_ERR_UNSUPPORTED);
	}
	cu_wipe(&l, sizeof(l));
}

/* ---- permissions ---- */

static const char *const cams[] = {"cam1", "cam2", "cam3", "cam4", NULL};

/* The expected matrix, written out independently of the SQL. */
static bool
expect(const char *user, int fn, const char *cam)
{
	bool c1 = cam && strcmp(cam, "cam1") == 0;
	bool lobby = cam && (strcmp(cam, "cam2") == 0 || strcmp(cam, "cam3") == 0);
	bool r_cam = c1 && (fn == CU_FN_LIVE || fn == CU_FN_PLAYBACK);
	bool r_grp = lobby && fn == CU_FN_PLAYBACK;
	if (strcmp(user, "u-admin") == 0)
		return true;
	if (strcmp(user, "u-all") == 0)
		return fn == CU_FN_EXPORT || fn == CU_FN_AUDIT_READ;
	if (strcmp(user, "u-cam") == 0)
		return r_cam;
	if (strcmp(user, "u-grp") == 0)
		return r_grp;
	if (strcmp(user, "u-multi") == 0)
		return r_cam || r_grp;
	return false; /* u-none, u-empty, u-off (disabled admin), unknown */
}

static void
build_roles(cu_auth *a)
{
	struct cu_auth_event ev;
	for (const char *const *r = (const char *const[]){"r-cam", "r-grp", "r-all", "r-admin",
	                                                  "r-empty", NULL}; *r; r++)
		assert_int_equal(cu_auth_role_add(a, *r, NULL), 0);
	assert_int_equal(cu_auth_group_add(a, "lobby", &ev), 0);
	assert_string_equal(ev.action, "group.add");
	assert_int_equal(cu_auth_group_camera_add(a, "lobby", "cam2", NULL), 0);
	assert_int_equal(cu_auth_group_camera_add(a, "lobby", "cam3", &ev), 0);
	assert_string_equal(ev.camera, "cam3");
	assert_int_equal(cu_auth_role_grant(a, "r-cam", CU_FN_LIVE, "cam1", &ev), 0);
	assert_string_equal(ev.action, "role.grant");
	assert_string_equal(ev.function, "live");
	assert_string_equal(ev.scope, "cam1");
	assert_int_equal(cu_auth_role_grant(a, "r-cam", CU_FN_PLAYBACK, "cam1", NULL), 0);
	assert_int_equal(cu_auth_role_grant(a, "r-grp", CU_FN_PLAYBACK, "group:lobby", NULL), 0);
	assert_int_equal(cu_auth_role_grant(a, "r-all", CU_FN_EXPORT, "*", NULL), 0);
	assert_int_equal(cu_auth_role_grant(a, "r-all", CU_FN_AUDIT_READ, "*", NULL), 0);
	assert_int_equal(cu_auth_role_grant(a, "r-admin", CU_FN_ADMIN, "*", NULL), 0);
	add_user(a, "u-cam", ALICE_PW, "r-cam");
	add_user(a, "u-grp", ALICE_PW, "r-grp");
	add_user(a, "u-all", ALICE_PW, "r-all");
	add_user(a, "u-admin", ALICE_PW, "r-admin");
	add_user(a, "u-none", ALICE_PW, NULL);
	add_user(a, "u-empty", ALICE_PW, "r-empty");
	add_user(a, "u-off", ALICE_PW, "r-admin");
	const char *both[] = {"r-cam", "r-grp"};
	assert_int_equal(cu_auth_user_add(a, "u-multi", ALICE_PW, 16, both, 2, NULL), 0);
	assert_int_equal(cu_auth_user_set_disabled(a, "u-off", true, NULL), 0);
}

static const char *const users[] = {
	"u-cam", "u-grp", "u-all", "u-admin", "u-none", "u-empty", "u-off", "u-multi", "ghost",
};

static void
test_permission_matrix(void **state)
{
	struct fx *f = *state;
	build_roles(f->a);
	for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++) {
		for (int fn = 0; fn < CU_FN_COUNT; fn++) {
			for (size_t c = 0; c < sizeof(cams) / sizeof(cams[0]); c++) {
				int r = cu_auth_check(f->a, users[u], fn, cams[c]);
				bool want = expect(users[u], fn, cams[c]);
				if ((r == 0) != want)
					fail_msg("%s %s %s: got %d, want %s", users[u], cu_auth_function_name(fn),
					         cams[c] ? cams[c] : "(site)", r, want ? "allowed" : "denied");
				if (!want)
					assert_int_equal(r, CU_ERR_AUTH);
			}
		}
		/* listing: what a user may see at all, and per function */
		bool vis[4];
		const char *const list[4] = {"cam1", "cam2", "cam3", "cam4"};
		for (int fn = CU_FN_ANY; fn < CU_FN_COUNT; fn++) {
			int n = cu_auth_cameras(f->a, users[u], fn, list, 4, vis);
			int want_n = 0;
			for (int c = 0; c < 4; c++) {
				bool want = false;
				for (int g = 0; g < CU_FN_COUNT; g++)
					if ((fn == CU_FN_ANY || g == fn) && expect(users[u], g, list[c]))
						want = true;
				assert_int_equal(vis[c], want);
				want_n += want;
			}
			assert_int_equal(n, want_n);
		}
	}
	unsigned mask;
	assert_int_equal(cu_auth_functions(f->a, "u-multi", "cam1", &mask), 0);
	assert_int_equal(mask, 1u << CU_FN_LIVE | 1u << CU_FN_PLAYBACK);
	assert_int_equal(cu_auth_functions(f->a, "u-admin", NULL, &mask), 0);
	assert_int_equal(mask, (1u << CU_FN_COUNT) - 1);
	/* names that are not camera names see nothing, "*" included */
	assert_int_equal(cu_auth_check(f->a, "u-cam", CU_FN_LIVE, "group:lobby"), CU_ERR_AUTH);
	assert_int_equal(cu_auth_check(f->a, "u-grp", CU_FN_PLAYBACK, "*"), CU_ERR_AUTH);
	assert_int_equal(cu_auth_check(f->a, "u-cam", CU_FN_COUNT, "cam1"), CU_ERR_INVAL);
}

static void
test_permission_changes(void **state)
{
	struct fx *f = *state;
	struct cu_auth_event ev;
	build_roles(f->a);
	/* group membership applies at once */
	assert_int_equal(cu_auth_check(f->a, "u-grp", CU_FN_PLAYBACK, "cam4"), CU_ERR_AUTH);
	assert_int_equal(cu_auth_group_camera_add(f->a, "lobby", "cam4", NULL), 0);
	assert_int_equal(cu_auth_check(f->a, "u-grp", CU_FN_PLAYBACK, "cam4"), 0);
	assert_int_equal(cu_auth_group_camera_remove(f->a, "lobby", "cam3", NULL), 0);
	assert_int_equal(cu_auth_check(f->a, "u-grp", CU_FN_PLAYBACK, "cam3"), CU_ERR_AUTH);
	assert_int_equal(cu_auth_group_camera_remove(f->a, "lobby", "cam3", NULL), CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_group_camera_add(f->a, "lobby", "cam2", NULL), CU_ERR_EXIST);
	/* revoking a grant, unassigning a role */
	assert_int_equal(cu_auth_role_revoke(f->a, "r-cam", CU_FN_LIVE, "cam1", &ev), 0);
	assert_string_equal(ev.action, "role.revoke");
	assert_int_equal(cu_auth_check(f->a, "u-cam", CU_FN_LIVE, "cam1"), CU_ERR_AUTH);
	assert_int_equal(cu_auth_check(f->a, "u-cam", CU_FN_PLAYBACK, "cam1"), 0);
	assert_int_equal(cu_auth_role_revoke(f->a, "r-cam", CU_FN_LIVE, "cam1", NULL),
	                 CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_role_unassign(f->a, "r-cam", "u-cam", &ev), 0);
	assert_string_equal(ev.action, "role.unassign");
	assert_int_equal(cu_auth_check(f->a, "u-cam", CU_FN_PLAYBACK, "cam1"), CU_ERR_AUTH);
	assert_int_equal(cu_auth_role_unassign(f->a, "r-cam", "u-cam", NULL), CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_role_assign(f->a, "r-cam", "u-cam", NULL), 0);
	assert_int_equal(cu_auth_role_assign(f->a, "r-cam", "u-cam", NULL), CU_ERR_EXIST);
	/* deleting a group takes its grants away with it */
	assert_int_equal(cu_auth_group_delete(f->a, "lobby", &ev), 0);
	assert_string_equal(ev.detail, "grants removed=1");
	assert_int_equal(cu_auth_check(f->a, "u-grp", CU_FN_PLAYBACK, "cam2"), CU_ERR_AUTH);
	assert_int_equal(cu_auth_group_add(f->a, "lobby", NULL), 0);
	assert_int_equal(cu_auth_group_camera_add(f->a, "lobby", "cam2", NULL), 0);
	assert_int_equal(cu_auth_check(f->a, "u-grp", CU_FN_PLAYBACK, "cam2"), CU_ERR_AUTH);
	/* deleting a role */
	assert_int_equal(cu_auth_role_delete(f->a, "r-admin", NULL), 0);
	assert_int_equal(cu_auth_check(f->a, "u-admin", CU_FN_LIVE, "cam1"), CU_ERR_AUTH);
	/* refusals */
	assert_int_equal(cu_auth_role_grant(f->a, "r-all", CU_FN_ADMIN, "cam1", NULL), CU_ERR_INVAL);
	assert_int_equal(cu_auth_role_grant(f->a, "r-all", CU_FN_ADMIN, "group:lobby", NULL),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_auth_role_grant(f->a, "r-all", CU_FN_LIVE, "group:nope", NULL),
	                 CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_role_grant(f->a, "r-all", CU_FN_LIVE, "bad name", NULL),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_auth_role_grant(f->a, "nope", CU_FN_LIVE, "cam1", NULL),
	                 CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_role_grant(f->a, "r-all", CU_FN_EXPORT, "*", NULL), CU_ERR_EXIST);
	assert_int_equal(cu_auth_role_add(f->a, "r-all", NULL), CU_ERR_EXIST);
	int fn;
	assert_int_equal(cu_auth_function_parse("evidence_lock", &fn), 0);
	assert_int_equal(fn, CU_FN_EVIDENCE_LOCK);
	assert_int_equal(cu_auth_function_parse("delete", &fn), CU_ERR_INVAL);
	/* listings */
	struct cu_auth_role *ro;
	size_t n;
	assert_int_equal(cu_auth_role_list(f->a, &ro, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(ro[0].name, "r-all");
	assert_int_equal(ro[0].ngrants, 2);
	assert_string_equal(ro[0].users[0], "u-all");
	cu_auth_roles_free(ro, n);
	struct cu_auth_group *g;
	assert_int_equal(cu_auth_group_list(f->a, &g, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(g[0].ncameras, 1);
	assert_string_equal(g[0].cameras[0], "cam2");
	cu_auth_groups_free(g, n);
}

/* ---- tokens ---- */

static void
split(const char *tok, char *payload, size_t plen, uint8_t sig[static 64])
{
	const char *dot = strchr(tok, '.');
	assert_non_null(dot);
	uint8_t buf[2048];
	size_t n = b64url_dec(tok, (size_t)(dot - tok), buf);
	assert_true(n < plen);
	memcpy(payload, buf, n);
	payload[n] = '\0';
	assert_int_equal(b64url_dec(dot + 1, strlen(dot + 1), buf), 64);
	memcpy(sig, buf, 64);
}

static void
test_token_format(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	struct cu_login l = login(f->a, "alice", ALICE_PW, NULL);
	assert_int_equal(l.result, CU_LOGIN_OK);
	assert_true(strlen(l.token) <= CU_TOKEN_MAX);
	/* the documented layout, byte for byte */
	char payload[1024], want[1024];
	uint8_t sig[64];
	split(l.token, payload, sizeof(payload), sig);
	struct cu_token_claims c;
	assert_int_equal(verify(f->a, l.token), 0);
	assert_int_equal(cu_auth_token_verify(f->a, l.token, strlen(l.token), &c), 0);
	assert_int_equal(c.issued_us, fake_now / 1000000 * 1000000);
	assert_int_equal(c.expires_us - c.issued_us, CU_TOKEN_LIFETIME_DEFAULT);
	assert_int_equal(l.expires_us, c.expires_us);
	assert_string_equal(c.user, "alice");
	assert_int_equal(c.user_id, l.user_id);
	assert_memory_equal(c.issuer, f->s->signer.fingerprint, 32);
	payload_of(c.user_id, "alice", c.issued_us / 1000000, c.expires_us / 1000000, c.jti,
	           f->s->signer.fingerprint, want, sizeof(want));
	assert_string_equal(payload, want);
	/* the signature verifies with nothing but the certificate's key */
	uint8_t msg[2048];
	const char *dot = strchr(l.token, '.');
	memcpy(msg, "custody/v1/token", 17);
	memcpy(msg + 17, l.token, (size_t)(dot - l.token));
	assert_int_equal(cu_ed25519_verify(f->s->signer.ed25519_pub, msg, 17 + (size_t)(dot - l.token),
	                                   sig), 0);
	/* jti: 128 random bits, never the same twice */
	struct cu_token_claims c2;
	char tok2[CU_TOKEN_MAX + 1];
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, tok2, sizeof(tok2), &c2), 0);
	assert_int_equal(strlen(c2.jti), 32);
	assert_string_not_equal(c.jti, c2.jti);
	/* a hand-made token of the same form is accepted: the format is the spec */
	char forged[CU_TOKEN_MAX + 1];
	payload_of(c.user_id, "alice", c.issued_us / 1000000, c.expires_us / 1000000,
	           "00112233445566778899aabbccddeeff", f->s->signer.fingerprint, want, sizeof(want));
	forge(forged, sizeof(forged), f->s->keys.sign, want);
	assert_int_equal(verify(f->a, forged), 0);
	/* ... but not a different spelling of the same claims */
	char spaced[1100];
	SNP(spaced, "%.*s, %s", 6, want, want + 7);
	forge(forged, sizeof(forged), f->s->keys.sign, spaced);
	assert_int_equal(verify(f->a, forged), CU_ERR_FORMAT);
	/* nor extra fields, nor another version or type */
	char extra[1100];
	snprintf(extra, sizeof(extra), "%.*s,\"adm\":true}", (int)strlen(want) - 1, want);
	forge(forged, sizeof(forged), f->s->keys.sign, extra);
	assert_int_equal(verify(f->a, forged), CU_ERR_FORMAT);
	char other[1024];
	snprintf(other, sizeof(other), "{\"v\":2%s", want + 6);
	forge(forged, sizeof(forged), f->s->keys.sign, other);
	assert_int_equal(verify(f->a, forged), CU_ERR_FORMAT);
	/* limits and shapes */
	char big[CU_TOKEN_MAX + 2];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[100] = '.';
	assert_int_equal(verify(f->a, big), CU_ERR_FORMAT);
	assert_int_equal(verify(f->a, "abc"), CU_ERR_FORMAT);
	assert_int_equal(verify(f->a, "a.b.c"), CU_ERR_FORMAT);
	assert_int_equal(verify(f->a, "."), CU_ERR_FORMAT);
	assert_int_equal(cu_auth_token_verify(f->a, NULL, 0, &c), CU_ERR_FORMAT);
	cu_wipe(&l, sizeof(l));
}

static void
test_token_expiry(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	int64_t t0 = fake_now;
	char tok[CU_TOKEN_MAX + 1];
	struct cu_token_claims c;
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, tok, sizeof(tok), &c), 0);
	fake_now = c.expires_us - 1;
	assert_int_equal(verify(f->a, tok), 0);
	fake_now = c.expires_us + CU_TOKEN_SKEW_US - 1;      /* within the skew */
	assert_int_equal(verify(f->a, tok), 0);
	fake_now = c.expires_us + CU_TOKEN_SKEW_US;
	assert_int_equal(verify(f->a, tok), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "expired"));
	/* a server whose clock is behind by more than the skew: "from the future" */
	fake_now = c.issued_us - CU_TOKEN_SKEW_US - 1;
	assert_int_equal(verify(f->a, tok), CU_ERR_AUTH);
	fake_now = c.issued_us - CU_TOKEN_SKEW_US + 1;
	assert_int_equal(verify(f->a, tok), 0);
	fake_now = t0;
	/* lifetimes: 1 s .. 1 h */
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 60 * 1000000, tok, sizeof(tok), &c), 0);
	assert_int_equal(c.expires_us - c.issued_us, 60 * 1000000);
	assert_int_equal(cu_auth_token_issue(f->a, "alice", CU_TOKEN_LIFETIME_MAX + 1, tok,
	                                     sizeof(tok), &c), CU_ERR_INVAL);
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 1000, tok, sizeof(tok), &c),
	                 CU_ERR_INVAL);
	/* a validly signed token claiming a longer life is refused */
	char p[1024];
	payload_of(1, "alice", t0 / 1000000, t0 / 1000000 + 3601,
	           "00112233445566778899aabbccddeeff", f->s->signer.fingerprint, p, sizeof(p));
	forge(tok, sizeof(tok), f->s->keys.sign, p);
	assert_int_equal(verify(f->a, tok), CU_ERR_AUTH);
	payload_of(1, "alice", t0 / 1000000, t0 / 1000000,
	           "00112233445566778899aabbccddeeff", f->s->signer.fingerprint, p, sizeof(p));
	forge(tok, sizeof(tok), f->s->keys.sign, p);
	assert_int_equal(verify(f->a, tok), CU_ERR_AUTH);
}

static void
test_token_tamper(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	char tok[CU_TOKEN_MAX + 1], t[CU_TOKEN_MAX + 8];
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, tok, sizeof(tok), NULL), 0);
	size_t len = strlen(tok);
	/* every character replaced by another of the alphabet (and by '.', '=') */
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
	size_t tried = 0;
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < 3; k++) {
			memcpy(t, tok, len + 1);
			char c = alpha[(i * 7 + k * 23) % (sizeof(alpha) - 1)];
			if (c == tok[i])
				c = alpha[(i * 7 + k * 23 + 1) % (sizeof(alpha) - 1)];
			t[i] = c;
			int r = verify(f->a, t);
			if (r == 0)
				fail_msg("token with character %zu changed to '%c' was accepted", i, c);
			tried++;
		}
	}
	assert_true(tried > 3 * 300);
	/* every bit of the payload and of the signature flipped, re-encoded */
	char payload[1024];
	uint8_t sig[64];
	split(tok, payload, sizeof(payload), sig);
	size_t plen = strlen(payload);
	for (size_t bit = 0; bit < plen * 8; bit++) {
		char p2[1024], p64[2048], s64[128];
		memcpy(p2, payload, plen);
		p2[bit / 8] ^= (char)(1 << bit % 8);
		b64url_enc((const uint8_t *)p2, plen, p64);
		b64url_enc(sig, 64, s64);
		SNP(t, "%s.%s", p64, s64);
		assert_int_not_equal(verify(f->a, t), 0);
	}
	for (size_t bit = 0; bit < 64 * 8; bit++) {
		uint8_t s2[64];
		char p64[2048], s64[128];
		memcpy(s2, sig, 64);
		s2[bit / 8] ^= (uint8_t)(1 << bit % 8);
		b64url_enc((const uint8_t *)payload, plen, p64);
		b64url_enc(s2, 64, s64);
		SNP(t, "%s.%s", p64, s64);
		assert_int_equal(verify(f->a, t), CU_ERR_AUTH);
	}
	/* truncated, extended, padded */
	memcpy(t, tok, len + 1);
	t[len - 1] = '\0';
	assert_int_not_equal(verify(f->a, t), 0);
	SNP(t, "%sA", tok);
	assert_int_not_equal(verify(f->a, t), 0);
	SNP(t, "%s==", tok);
	assert_int_not_equal(verify(f->a, t), 0);
	assert_int_equal(verify(f->a, tok), 0);
}

static void
test_token_foreign(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	struct cu_token_claims c;
	char tok[CU_TOKEN_MAX + 1], p[1024];
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, tok, sizeof(tok), &c), 0);
	/* signed by a key that is not the issuer's */
	uint8_t priv[32], pub[32];
	assert_int_equal(cu_ed25519_keygen(priv, pub), 0);
	payload_of(c.user_id, "alice", c.issued_us / 1000000, c.expires_us / 1000000, c.jti,
	           f->s->signer.fingerprint, p, sizeof(p));
	forge(tok, sizeof(tok), priv, p);
	assert_int_equal(verify(f->a, tok), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "signature"));

	/* a second recording server of the same site: its own key and a
	 * certificate from the site CA. Unknown until trusted, then accepted. */
	char *pem2, *pem3, *ca3;
	size_t len2, len3, calen3;
	assert_int_equal(cu_x509_issue(f->s->ca_pem, f->s->ca_len, f->s->keys.ca, pub,
	                               "custody recording server two", "custody site", 365, &pem2,
	                               &len2), 0);
	struct cu_x509_info info2;
	assert_int_equal(cu_x509_info(pem2, len2, &info2), 0);
	/* the certificate is valid from the real second it was made */
	fake_now = cu_time_now_us() + 1000000;
	payload_of(c.user_id, "alice", c.issued_us / 1000000, c.expires_us / 1000000,
	           "0123456789abcdef0123456789abcdef", info2.fingerprint, p, sizeof(p));
	forge(tok, sizeof(tok), priv, p);
	assert_int_equal(verify(f->a, tok), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "unknown issuer"));
	struct cu_auth_event ev;
	assert_int_equal(cu_auth_issuer_add(f->a, pem2, len2, &ev), 0);
	assert_string_equal(ev.action, "issuer.add");
	assert_int_equal(verify(f->a, tok), 0);
	assert_int_equal(cu_auth_issuer_add(f->a, pem2, len2, NULL), CU_ERR_EXIST);
	assert_int_equal(cu_auth_issuer_add(f->a, f->s->cert_pem, f->s->cert_len, NULL),
	                 CU_ERR_EXIST);
	/* ... and its signed URLs too */
	char q[CU_URL_QUERY_MAX], hex[65], s64[128];
	uint8_t msg[512], sig[64];
	int64_t exp = fake_now / 1000000 + 30;
	cu_hex(info2.fingerprint, 32, hex);
	int mn = snprintf((char *)msg, sizeof(msg), "custody/v1/url%cGET%c/media/x%c%lld%c%lld%c%s",
	                  0, 0, 0, (long long)exp, 0, (long long)c.user_id, 0, hex);
	assert_int_equal(cu_ed25519_sign(priv, msg, (size_t)mn, sig), 0);
	b64url_enc(sig, 64, s64);
	snprintf(q, sizeof(q), "exp=%lld&sub=%lld&iss=%s&sig=%s", (long long)exp,
	         (long long)c.user_id, hex, s64);
	struct cu_url_claims uc;
	assert_int_equal(cu_auth_check_url(f->a, "GET", "/media/x", q, &uc), 0);
	assert_string_equal(uc.user, "alice");
	/* removed: refused again */
	assert_int_equal(cu_auth_issuer_remove(f->a, info2.fingerprint, NULL), 0);
	assert_int_equal(verify(f->a, tok), CU_ERR_AUTH);
	assert_int_equal(cu_auth_check_url(f->a, "GET", "/media/x", q, &uc), CU_ERR_AUTH);
	assert_int_equal(cu_auth_issuer_remove(f->a, info2.fingerprint, NULL), CU_ERR_NOTFOUND);

	/* a server of another site (another CA) cannot be trusted */
	uint8_t capriv[32], capub[32];
	assert_int_equal(cu_ed25519_keygen(capriv, capub), 0);
	assert_int_equal(cu_x509_make_ca(capriv, "other CA", "other site", 365, &ca3, &calen3), 0);
	assert_int_equal(cu_x509_issue(ca3, calen3, capriv, pub, "impostor", "other site", 365,
	                               &pem3, &len3), 0);
	assert_int_equal(cu_auth_issuer_add(f->a, pem3, len3, NULL), CU_ERR_AUTH);
	/* nor by sneaking its certificate into auth.db */
	struct cu_x509_info info3;
	assert_int_equal(cu_x509_info(pem3, len3, &info3), 0);
	char path[PATH_MAX], fp3[65];
	sqlite3 *db;
	sqlite3_stmt *st;
	cu_hex(info3.fingerprint, 32, fp3);
	assert_int_equal(cu_path(path, sizeof(path), "%s/auth.db", f->dir), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO issuers VALUES(?, ?, 'x', 0)", -1, &st,
	                                    NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, fp3, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pem3, (int)len3, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	payload_of(c.user_id, "alice", c.issued_us / 1000000, c.expires_us / 1000000,
	           "0123456789abcdef0123456789abcdef", info3.fingerprint, p, sizeof(p));
	forge(tok, sizeof(tok), priv, p);
	assert_int_equal(verify(f->a, tok), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "not trusted"));
	free(pem2);
	free(pem3);
	free(ca3);
	cu_wipe(priv, sizeof(priv));
}

static void
test_token_revocation(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	add_user(f->a, "bob", ALICE_PW, NULL);
	char ta[CU_TOKEN_MAX + 1], tb[CU_TOKEN_MAX + 1], tc[CU_TOKEN_MAX + 1];
	struct cu_auth_event ev;
	/* logout revokes that token only */
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, ta, sizeof(ta), NULL), 0);
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, tb, sizeof(tb), NULL), 0);
	assert_int_equal(cu_auth_token_revoke(f->a, ta, strlen(ta), &ev), 0);
	assert_string_equal(ev.action, "token.revoke");
	assert_string_equal(ev.user, "alice");
	assert_int_equal(verify(f->a, ta), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "revoked"));
	assert_int_equal(verify(f->a, tb), 0);
	assert_int_equal(cu_auth_token_revoke(f->a, ta, strlen(ta), NULL), CU_ERR_AUTH);
	/* disabling revokes all of the user's tokens, and re-enabling does not
	 * bring them back; tokens issued after re-enabling work */
	assert_int_equal(cu_auth_token_issue(f->a, "bob", 0, tc, sizeof(tc), NULL), 0);
	assert_int_equal(cu_auth_user_set_disabled(f->a, "alice", true, &ev), 0);
	assert_string_equal(ev.action, "user.disable");
	assert_int_equal(verify(f->a, tb), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "disabled"));
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, ta, sizeof(ta), NULL), CU_ERR_AUTH);
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_DISABLED);
	assert_int_equal(cu_auth_user_set_disabled(f->a, "alice", false, NULL), 0);
	assert_int_equal(verify(f->a, tb), CU_ERR_AUTH);
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, ta, sizeof(ta), NULL), 0);
	assert_int_equal(verify(f->a, ta), 0);
	assert_int_equal(verify(f->a, tc), 0); /* bob untouched */
	/* a password change revokes: in the same second too, while a token
	 * issued just after it is good */
	assert_int_equal(cu_auth_user_passwd(f->a, "alice", "Another-Horse-7", 15, &ev), 0);
	assert_string_equal(ev.action, "user.passwd");
	assert_int_equal(verify(f->a, ta), CU_ERR_AUTH);
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, ta, sizeof(ta), NULL), 0);
	assert_int_equal(verify(f->a, ta), 0);
	/* log out everywhere */
	fake_now += 5000000;
	assert_int_equal(cu_auth_user_revoke_tokens(f->a, "alice", NULL), 0);
	assert_int_equal(verify(f->a, ta), CU_ERR_AUTH);
	/* deleting the user; a new user of the same name gets a new id */
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, ta, sizeof(ta), NULL), 0);
	struct cu_token_claims c;
	assert_int_equal(cu_auth_token_verify(f->a, ta, strlen(ta), &c), 0);
	assert_int_equal(cu_auth_user_delete(f->a, "alice", &ev), 0);
	assert_int_equal(ev.user_id, c.user_id);
	assert_int_equal(verify(f->a, ta), CU_ERR_AUTH);
	add_user(f->a, "alice", ALICE_PW, NULL);
	assert_int_equal(verify(f->a, ta), CU_ERR_AUTH);
	assert_int_equal(cu_auth_user_delete(f->a, "alice", NULL), 0);
	assert_int_equal(cu_auth_user_delete(f->a, "alice", NULL), CU_ERR_NOTFOUND);
	/* revocations past expiry are forgotten */
	fake_now += CU_TOKEN_LIFETIME_MAX + CU_TOKEN_SKEW_US + 1000000;
	assert_int_equal(cu_auth_token_issue(f->a, "bob", 0, tc, sizeof(tc), NULL), 0);
	assert_int_equal(cu_auth_token_revoke(f->a, tc, strlen(tc), NULL), 0);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(f->a->db->sql, "SELECT count(*) FROM revoked_tokens", -1,
	                                    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
}

static void
test_token_renew(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	char t1[CU_TOKEN_MAX + 1], t2[CU_TOKEN_MAX + 1], t3[CU_TOKEN_MAX + 1];
	struct cu_token_claims c1, c2;
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, t1, sizeof(t1), &c1), 0);
	fake_now += 400 * INT64_C(1000000);
	assert_int_equal(cu_auth_token_renew(f->a, t1, strlen(t1), 0, t2, sizeof(t2), &c2), 0);
	assert_string_not_equal(c1.jti, c2.jti);
	assert_true(c2.expires_us > c1.expires_us);
	assert_int_equal(c2.user_id, c1.user_id);
	assert_int_equal(verify(f->a, t1), CU_ERR_AUTH);
	assert_int_equal(verify(f->a, t2), 0);
	/* the old token cannot be renewed a second time */
	assert_int_equal(cu_auth_token_renew(f->a, t1, strlen(t1), 0, t3, sizeof(t3), NULL),
	                 CU_ERR_AUTH);
	/* an expired token cannot be renewed */
	fake_now = c2.expires_us + CU_TOKEN_SKEW_US;
	assert_int_equal(cu_auth_token_renew(f->a, t2, strlen(t2), 0, t3, sizeof(t3), NULL),
	                 CU_ERR_AUTH);
	/* the handle's lifetime (custodyd's [https] token_lifetime) is what login,
	 * issue and renewal use when none is asked for; bad values change nothing */
	assert_int_equal(cu_auth_set_token_lifetime(f->a, 999999), CU_ERR_INVAL);
	assert_int_equal(cu_auth_set_token_lifetime(f->a, CU_TOKEN_LIFETIME_MAX + 1), CU_ERR_INVAL);
	assert_int_equal(cu_auth_set_token_lifetime(f->a, -1), CU_ERR_INVAL);
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, t1, sizeof(t1), &c1), 0);
	assert_int_equal(c1.expires_us - c1.issued_us, CU_TOKEN_LIFETIME_DEFAULT);
	assert_int_equal(cu_auth_set_token_lifetime(f->a, 90 * INT64_C(1000000)), 0);
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, t1, sizeof(t1), &c1), 0);
	assert_int_equal(c1.expires_us - c1.issued_us, 90 * INT64_C(1000000));
	assert_int_equal(cu_auth_token_renew(f->a, t1, strlen(t1), 0, t2, sizeof(t2), &c2), 0);
	assert_int_equal(c2.expires_us - c2.issued_us, 90 * INT64_C(1000000));
	struct cu_login l = login(f->a, "alice", ALICE_PW, NULL);
	assert_int_equal(l.result, CU_LOGIN_OK);
	assert_int_equal(l.expires_us - fake_now / 1000000 * 1000000, 90 * INT64_C(1000000));
	cu_wipe(&l, sizeof(l));
	assert_int_equal(cu_auth_set_token_lifetime(f->a, 0), 0);
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, t1, sizeof(t1), &c1), 0);
	assert_int_equal(c1.expires_us - c1.issued_us, CU_TOKEN_LIFETIME_DEFAULT);
}

/* ---- brute force ---- */

static void
test_lockout(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	int64_t t0 = fake_now;
	struct cu_login l;
	for (int i = 1; i <= CU_LOCK_ACCOUNT_FAILURES; i++) {
		fake_now = t0 + i * INT64_C(1000000);
		l = login(f->a, "alice", "wrong-password", "10.0.0.1");
		assert_int_equal(l.result, CU_LOGIN_BAD_CREDENTIALS);
		assert_int_equal(l.account_locked_now, i == CU_LOCK_ACCOUNT_FAILURES);
	}
	int64_t locked_at = fake_now;
	assert_int_equal(l.retry_after_us, locked_at + CU_LOCK_DURATION_US);
	/* locked: even the right password, from anywhere, without checking it */
	uint64_t runs = atomic_load(&f->a->verify_runs);
	l = login(f->a, "alice", ALICE_PW, "10.0.0.2");
	assert_int_equal(l.result, CU_LOGIN_LOCKED_ACCOUNT);
	assert_int_equal(l.retry_after_us, locked_at + CU_LOCK_DURATION_US);
	assert_int_equal(atomic_load(&f->a->verify_runs), runs);
	struct cu_auth_user *u;
	size_t n;
	assert_int_equal(cu_auth_user_list(f->a, &u, &n), 0);
	assert_int_equal(u[0].locked_until_us, locked_at + CU_LOCK_DURATION_US);
	cu_auth_users_free(u, n);
	fake_now = locked_at + CU_LOCK_DURATION_US - 1;
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_LOCKED_ACCOUNT);
	/* the lock ends */
	fake_now = locked_at + CU_LOCK_DURATION_US;
	l = login(f->a, "alice", ALICE_PW, NULL);
	assert_int_equal(l.result, CU_LOGIN_OK);
	/* a success clears the count: 4 + success + 4 does not lock */
	for (int i = 0; i < 4; i++)
		assert_int_equal(login(f->a, "alice", "wrong-password", NULL).result,
		                 CU_LOGIN_BAD_CREDENTIALS);
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_OK);
	for (int i = 0; i < 4; i++)
		assert_false(login(f->a, "alice", "wrong-password", NULL).account_locked_now);
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_OK);
	/* failures older than the window do not count */
	for (int i = 0; i < 4; i++)
		login(f->a, "alice", "wrong-password", NULL);
	fake_now += CU_LOCK_WINDOW_US + 1;
	assert_false(login(f->a, "alice", "wrong-password", NULL).account_locked_now);
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_OK);
	/* an administrator can lift a lock early */
	for (int i = 0; i < CU_LOCK_ACCOUNT_FAILURES; i++)
		login(f->a, "alice", "wrong-password", NULL);
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_LOCKED_ACCOUNT);
	struct cu_auth_event ev;
	assert_int_equal(cu_auth_user_unlock(f->a, "alice", &ev), 0);
	assert_string_equal(ev.detail, "lockout lifted");
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_OK);
	/* unknown names lock the same way: a lockout tells nothing */
	for (int i = 0; i < CU_LOCK_ACCOUNT_FAILURES; i++)
		login(f->a, "mallory", "wrong-password", NULL);
	assert_int_equal(login(f->a, "mallory", "wrong-password", NULL).result,
	                 CU_LOGIN_LOCKED_ACCOUNT);
	cu_wipe(&l, sizeof(l));
}

static void
test_source_throttle(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	struct cu_login l;
	char name[32];
	/* spraying many names from one address: never 5 per name */
	for (int i = 1; i <= CU_THROTTLE_SOURCE_FAILURES; i++) {
		snprintf(name, sizeof(name), "user%d", i % 5);
		l = login(f->a, name, "wrong-password", "192.0.2.7");
		assert_int_equal(l.result, CU_LOGIN_BAD_CREDENTIALS);
		assert_int_equal(l.source_throttled_now, i == CU_THROTTLE_SOURCE_FAILURES);
		assert_false(l.account_locked_now);
	}
	int64_t at = fake_now;
	l = login(f->a, "alice", ALICE_PW, "192.0.2.7");
	assert_int_equal(l.result, CU_LOGIN_THROTTLED_SOURCE);
	assert_int_equal(l.retry_after_us, at + CU_LOCK_DURATION_US);
	/* another address, or none, is not affected */
	assert_int_equal(login(f->a, "alice", ALICE_PW, "192.0.2.8").result, CU_LOGIN_OK);
	assert_int_equal(login(f->a, "alice", ALICE_PW, NULL).result, CU_LOGIN_OK);
	fake_now = at + CU_LOCK_DURATION_US;
	assert_int_equal(login(f->a, "alice", ALICE_PW, "192.0.2.7").result, CU_LOGIN_OK);
	/* a malformed source key is the caller's bug */
	char longsrc[CU_SOURCE_MAX + 2];
	memset(longsrc, '1', sizeof(longsrc) - 1);
	longsrc[sizeof(longsrc) - 1] = '\0';
	assert_int_equal(cu_auth_login(f->a, "alice", ALICE_PW, 16, longsrc, &l), CU_ERR_INVAL);
	assert_int_equal(cu_auth_login(f->a, "alice", ALICE_PW, 16, "", &l), CU_ERR_INVAL);
	cu_wipe(&l, sizeof(l));
}

static int64_t
time_login(cu_auth *a, const char *name)
{
	int64_t best = INT64_MAX;
	for (int i = 0; i < 3; i++) {
		int64_t t = cu_time_mono_us();
		struct cu_login l = login(a, name, "wrong-password", NULL);
		t = cu_time_mono_us() - t;
		assert_int_equal(l.result, CU_LOGIN_BAD_CREDENTIALS);
		if (t < best)
			best = t;
	}
	return best;
}

static void
test_unknown_user(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	uint64_t runs = atomic_load(&f->a->verify_runs), dummy = atomic_load(&f->a->dummy_runs);
	/* known name, wrong password: one Argon2id run against the stored hash */
	login(f->a, "alice", "wrong-password", NULL);
	assert_int_equal(atomic_load(&f->a->verify_runs), runs + 1);
	assert_int_equal(atomic_load(&f->a->dummy_runs), dummy);
	/* unknown name (or one that cannot exist): one run against the dummy */
	login(f->a, "nobody", "wrong-password", NULL);
	assert_int_equal(atomic_load(&f->a->verify_runs), runs + 2);
	assert_int_equal(atomic_load(&f->a->dummy_runs), dummy + 1);
	login(f->a, "Not A Name", "wrong-password", NULL);
	assert_int_equal(atomic_load(&f->a->dummy_runs), dummy + 2);
	/* the dummy has the policy's parameters, so the work is the same */
	assert_int_equal(strncmp(f->a->dummy_phc, "$argon2id$v=19$m=47104,t=1,p=1$", 31), 0);
	/* and, loosely (shared machines), so is the time */
	assert_int_equal(cu_auth_user_unlock(f->a, "alice", NULL), 0);
	int64_t known = time_login(f->a, "alice");
	int64_t unknown = time_login(f->a, "nobody2");
	assert_true(unknown * 3 > known && known * 3 > unknown);
}

/* ---- signed URLs ---- */

static void
test_signed_url(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	char q[CU_URL_QUERY_MAX], t[CU_URL_QUERY_MAX + 8];
	struct cu_url_claims c;
	const char *path = "/api/v1/cameras/cam1/media/2026-01-01T00:00:00Z.mp4";
	assert_int_equal(cu_auth_sign_url(f->a, "alice", "GET", path, 60 * 1000000, q, sizeof(q)),
	                 0);
	assert_int_equal(strncmp(q, "exp=", 4), 0);
	assert_null(strchr(q, '.'));   /* not a token: nothing reusable elsewhere */
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, q, &c), 0);
	assert_string_equal(c.user, "alice");
	assert_int_equal(c.expires_us, (fake_now + 60 * 1000000) / 1000000 * 1000000);
	/* the form alone, as the fuzz target sees it */
	struct cu_url_query uq;
	assert_int_equal(cu_auth_url_query_parse(q, &uq), 0);
	assert_int_equal((int64_t)uq.exp_s * 1000000, c.expires_us);
	assert_int_equal((int64_t)uq.sub, c.user_id);
	assert_memory_equal(uq.iss, f->s->signer.fingerprint, CU_SHA256_LEN);
	assert_int_equal(cu_auth_url_query_parse("exp=1&sub=0&iss=00&sig=x", &uq), CU_ERR_FORMAT);
	/* bound to the exact path and method */
	assert_int_equal(cu_auth_check_url(f->a, "GET", "/api/v1/cameras/cam2/media/"
	                                   "2026-01-01T00:00:00Z.mp4", q, &c), CU_ERR_AUTH);
	assert_int_equal(cu_auth_check_url(f->a, "GET", "/api/v1/cameras/cam1/media/"
	                                   "2026-01-01T00:00:00Z.mp", q, &c), CU_ERR_AUTH);
	assert_int_equal(cu_auth_check_url(f->a, "HEAD", path, q, &c), CU_ERR_AUTH);
	/* expiry, with a few seconds of skew */
	int64_t t0 = fake_now;
	fake_now = c.expires_us + CU_URL_SKEW_US;
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, q, &c), 0);
	fake_now = c.expires_us + CU_URL_SKEW_US + 1;
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, q, &c), CU_ERR_AUTH);
	fake_now = t0;
	/* at most a minute, when signing and when checking */
	assert_int_equal(cu_auth_sign_url(f->a, "alice", "GET", path, 61 * 1000000, q, sizeof(q)),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_auth_sign_url(f->a, "alice", "GET", path, 10 * 1000000, q, sizeof(q)),
	                 0);
	/* tampering with any field */
	for (size_t i = 0; q[i] != '\0'; i++) {
		if (q[i] == '=' || q[i] == '&')
			continue;
		memcpy(t, q, strlen(q) + 1);
		t[i] = t[i] == '1' ? '2' : '1';
		assert_int_not_equal(cu_auth_check_url(f->a, "GET", path, t, &c), 0);
	}
	snprintf(t, sizeof(t), "%s&x=1", q);
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, t, &c), CU_ERR_FORMAT);
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, "", &c), CU_ERR_FORMAT);
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, "sig=x&exp=1&sub=1&iss=00", &c),
	                 CU_ERR_FORMAT);
	/* a validly signed URL that lives longer than a minute is refused */
	char hex[65], s64[128];
	uint8_t msg[2048], sig[64];
	int64_t exp = fake_now / 1000000 + 120;
	cu_hex(f->s->signer.fingerprint, 32, hex);
	int mn = snprintf((char *)msg, sizeof(msg), "custody/v1/url%cGET%c%s%c%lld%c%lld%c%s", 0,
	                  0, path, 0, (long long)exp, 0, (long long)c.user_id, 0, hex);
	assert_int_equal(cu_ed25519_sign(f->s->keys.sign, msg, (size_t)mn, sig), 0);
	b64url_enc(sig, 64, s64);
	snprintf(t, sizeof(t), "exp=%lld&sub=%lld&iss=%s&sig=%s", (long long)exp,
	         (long long)c.user_id, hex, s64);
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, t, &c), CU_ERR_AUTH);
	/* the same made by hand with a 30 s life passes: the format is the spec */
	exp = fake_now / 1000000 + 30;
	mn = snprintf((char *)msg, sizeof(msg), "custody/v1/url%cGET%c%s%c%lld%c%lld%c%s", 0, 0,
	              path, 0, (long long)exp, 0, (long long)c.user_id, 0, hex);
	assert_int_equal(cu_ed25519_sign(f->s->keys.sign, msg, (size_t)mn, sig), 0);
	b64url_enc(sig, 64, s64);
	snprintf(t, sizeof(t), "exp=%lld&sub=%lld&iss=%s&sig=%s", (long long)exp,
	         (long long)c.user_id, hex, s64);
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, t, &c), 0);
	/* a disabled user's URLs stop at once */
	assert_int_equal(cu_auth_user_set_disabled(f->a, "alice", true, NULL), 0);
	assert_int_equal(cu_auth_check_url(f->a, "GET", path, t, &c), CU_ERR_AUTH);
	assert_int_equal(cu_auth_sign_url(f->a, "alice", "GET", path, 10000000, q, sizeof(q)),
	                 CU_ERR_AUTH);
	/* paths and methods that cannot be signed */
	assert_int_equal(cu_auth_sign_url(f->a, "alice", "GET", "/a?b", 10000000, q, sizeof(q)),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_auth_sign_url(f->a, "alice", "get", "/a", 10000000, q, sizeof(q)),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_auth_sign_url(f->a, "alice", "GET", "a", 10000000, q, sizeof(q)),
	                 CU_ERR_INVAL);
}

/* ---- the database ---- */

static void
test_database(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	struct stat st;
	assert_int_equal(cu_path(path, sizeof(path), "%s/auth.db", f->dir), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	add_user(f->a, "alice", ALICE_PW, NULL);
	/* a store opened without its password manages users and verifies
	 * tokens, but cannot issue them */
	char tok[CU_TOKEN_MAX + 1];
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, tok, sizeof(tok), NULL), 0);
	cu_store *ro;
	cu_auth *a2;
	assert_int_equal(cu_store_open(f->dir, NULL, 0, &ro), 0);
	assert_int_equal(cu_auth_open(ro, 0, &a2), 0);
	assert_int_equal(verify(a2, tok), 0);
	struct cu_login l;
	assert_int_equal(cu_auth_login(a2, "alice", ALICE_PW, 16, NULL, &l), CU_ERR_PASSWORD);
	assert_int_equal(cu_auth_token_issue(a2, "alice", 0, tok, sizeof(tok), NULL),
	                 CU_ERR_PASSWORD);
	assert_int_equal(cu_auth_role_add(a2, "viewers", NULL), 0);
	cu_auth_close(a2);
	/* read-only handles read and refuse changes */
	assert_int_equal(cu_auth_open(ro, CU_AUTH_READONLY, &a2), 0);
	struct cu_auth_role *roles;
	size_t n;
	assert_int_equal(cu_auth_role_list(a2, &roles, &n), 0);
	assert_int_equal(n, 1);
	cu_auth_roles_free(roles, n);
	assert_int_not_equal(cu_auth_role_add(a2, "more", NULL), 0);
	cu_auth_close(a2);
	cu_store_close(ro);
	/* another schema version is refused */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = '9' WHERE key = 'version'", NULL,
	                              NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(cu_auth_open(f->s, 0, &a2), CU_ERR_UNSUPPORTED);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = '1' WHERE key = 'version'", NULL,
	                              NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* an auth.db moved from another store is refused */
	struct fx other;
	assert_int_equal(cu_path(other.dir, sizeof(other.dir), "%s/s%d", tmproot, ++nstore), 0);
	struct cu_store_create_opts o = {.encryption = CU_ENC_NONE, .kdf = quick_kdf};
	assert_int_equal(cu_store_create(other.dir, PW, strlen(PW), &o), 0);
	char dst[PATH_MAX], cmd[3 * PATH_MAX];
	assert_int_equal(cu_path(dst, sizeof(dst), "%s/auth.db", other.dir), 0);
	cu_auth_close(f->a);
	f->a = NULL;
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, dst);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(cu_store_open(other.dir, NULL, 0, &other.s), 0);
	assert_int_equal(cu_auth_open(other.s, 0, &a2), CU_ERR_FORMAT);
	cu_store_close(other.s);
	/* a store without auth.db opened read-only: not found, nothing created */
	assert_int_equal(cu_path(other.dir, sizeof(other.dir), "%s/s%d", tmproot, ++nstore), 0);
	assert_int_equal(cu_store_create(other.dir, PW, strlen(PW), &o), 0);
	assert_int_equal(cu_store_open(other.dir, NULL, 0, &other.s), 0);
	assert_int_equal(cu_auth_open(other.s, CU_AUTH_READONLY, &a2), CU_ERR_NOTFOUND);
	assert_int_equal(cu_path(dst, sizeof(dst), "%s/auth.db", other.dir), 0);
	assert_int_not_equal(access(dst, F_OK), 0);
	cu_store_close(other.s);
	assert_int_equal(cu_auth_open(f->s, 0, &f->a), 0);
	cu_auth_set_clock(f->a, fake_clock, NULL);
	cu_wipe(&l, sizeof(l));
}

struct racer {
	cu_auth *a;
	int ok;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < 2; i++) {
		struct cu_login l;
		if (cu_auth_login(r->a, "alice", ALICE_PW, 16, "198.51.100.1", &l) == 0 &&
		    l.result == CU_LOGIN_OK && verify(r->a, l.token) == 0)
			r->ok++;
		cu_wipe(&l, sizeof(l));
	}
	return NULL;
}

/* One handle shared by threads (as the server will): logins in parallel. */
static void
test_threads(void **state)
{
	struct fx *f = *state;
	add_user(f->a, "alice", ALICE_PW, NULL);
	pthread_t th[6];
	struct racer rs[6];
	for (int i = 0; i < 6; i++) {
		rs[i] = (struct racer){f->a, 0};
		assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(rs[i].ok, 2);
	}
}

/* ---- prepared statements: compiled once per handle, reset after every use ---- */

/* The statement of the handle whose text contains part; NULL if none. */
static sqlite3_stmt *
stmt_with(cu_auth *a, const char *part)
{
	for (sqlite3_stmt *st = sqlite3_next_stmt(a->db->sql, NULL); st != NULL;
	     st = sqlite3_next_stmt(a->db->sql, st))
		if (strstr(sqlite3_sql(st), part) != NULL)
			return st;
	return NULL;
}

/* Another connection to auth.db (as the CLI is while custodyd runs) changes
 * something, then truncates the WAL; busy: the checkpoint could not finish
 * because a reader (the handle) still uses the WAL. No busy timeout: a
 * lingering reader shows at once. */
static void
other_write(sqlite3 *db, const char *sql, bool *ret_busy)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	*ret_busy = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
}

/* The API's per-request calls: token check, then the user's functions. */
static int
request(cu_auth *a, const char *tok, const char *user)
{
	unsigned mask = 0;
	int r = verify(a, tok);
	if (r == 0)
		r = cu_auth_functions(a, user, "cam1", &mask);
	return r < 0 ? r : mask == 1u << CU_FN_PLAYBACK ? 0 : CU_ERR_AUTH;
}

static void
test_statement_cache(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], alice[CU_TOKEN_MAX + 1], bob[CU_TOKEN_MAX + 1];
	sqlite3 *db;
	bool idle, busy;
	assert_int_equal(cu_auth_role_add(f->a, "viewers", NULL), 0);
	assert_int_equal(cu_auth_role_grant(f->a, "viewers", CU_FN_PLAYBACK, "cam1", NULL), 0);
	add_user(f->a, "alice", ALICE_PW, "viewers");
	add_user(f->a, "bob", ALICE_PW, "viewers");
	assert_int_equal(cu_auth_token_issue(f->a, "alice", 0, alice, sizeof(alice), NULL), 0);
	assert_int_equal(cu_auth_token_issue(f->a, "bob", 0, bob, sizeof(bob), NULL), 0);

	/* reused: the second and later requests prepare nothing */
	assert_int_equal(request(f->a, alice, "alice"), 0);
	int n = stmts_prepared(f->a, &idle);
	assert_true(idle);
	for (int i = 0; i < 50; i++)
		assert_int_equal(request(f->a, i % 2 ? alice : bob, i % 2 ? "alice" : "bob"), 0);
	assert_int_equal(stmts_prepared(f->a, &idle), n);
	assert_true(idle);
	sqlite3_stmt *revoked = stmt_with(f->a, "FROM revoked_tokens WHERE jti");
	sqlite3_stmt *grants = stmt_with(f->a, "SELECT DISTINCT g.function");
	assert_non_null(revoked);
	assert_non_null(grants);
	assert_true(sqlite3_stmt_status(revoked, SQLITE_STMTSTATUS_RUN, 0) >= 51);
	assert_true(sqlite3_stmt_status(grants, SQLITE_STMTSTATUS_RUN, 0) >= 51);

	/* reset: another connection's change is seen at the next call, and it
	 * can truncate the WAL at once (no read transaction left behind) */
	assert_int_equal(cu_path(path, sizeof(path), "%s/auth.db", f->dir), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	other_write(db, "UPDATE users SET disabled = 1 WHERE name = 'bob'", &busy);
	assert_false(busy);
	assert_int_equal(request(f->a, bob, "bob"), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "is disabled"));
	other_write(db, "UPDATE users SET disabled = 0 WHERE name = 'bob'", &busy);
	assert_false(busy);
	assert_int_equal(request(f->a, bob, "bob"), 0);
	other_write(db, "UPDATE users SET created_us = created_us + 1", &busy);
	assert_false(busy);
	/* the control: a statement left on a row does block the truncation */
	static const char ids[] = "SELECT id FROM users ORDER BY id";
	sqlite3_stmt *st;
	pthread_mutex_lock(&f->a->lock);
	assert_int_equal(cu_db_stmt(f->a->db, ids, &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	/* and the same text cannot be taken again until it is done with */
	sqlite3_stmt *again;
	assert_int_equal(cu_db_stmt(f->a->db, ids, &again), CU_ERR_INVAL);
	pthread_mutex_unlock(&f->a->lock);
	other_write(db, "UPDATE users SET created_us = created_us + 1", &busy);
	assert_true(busy);
	pthread_mutex_lock(&f->a->lock);
	cu_db_done(st);
	pthread_mutex_unlock(&f->a->lock);
	other_write(db, "UPDATE users SET created_us = created_us + 1", &busy);
	assert_false(busy);

	/* error paths leave nothing running, and the next call works: a row
	 * refused in the middle of reading it (a malformed user, a grant of an
	 * unknown function), a deleted user */
	char longname[CU_USER_NAME_MAX + 2], sql[256];
	memset(longname, 'b', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	SNP(sql, "UPDATE users SET name = '%s' WHERE name = 'bob'", longname);
	other_write(db, sql, &busy);
	assert_int_equal(request(f->a, bob, "bob"), CU_ERR_DAMAGED);
	assert_true(auth_idle(f->a));
	assert_int_equal(request(f->a, alice, "alice"), 0);
	SNP(sql, "UPDATE users SET name = 'bob' WHERE name = '%s'", longname);
	other_write(db, sql, &busy);
	assert_int_equal(request(f->a, bob, "bob"), 0);
	other_write(db, "PRAGMA ignore_check_constraints = ON; INSERT INTO role_grants(role_id, "
	            "function, scope) SELECT id, 'teleport', '*' FROM roles WHERE name = 'viewers'",
	            &busy);
	unsigned mask;
	assert_int_equal(cu_auth_functions(f->a, "alice", "cam1", &mask), CU_ERR_FORMAT);
	assert_true(auth_idle(f->a));
	other_write(db, "DELETE FROM role_grants WHERE function = 'teleport'", &busy);
	assert_false(busy);
	assert_int_equal(request(f->a, alice, "alice"), 0);
	assert_int_equal(cu_auth_user_delete(f->a, "alice", NULL), 0);
	assert_int_equal(verify(f->a, alice), CU_ERR_AUTH);
	assert_non_null(strstr(cu_error_detail(), "no longer exists"));
	assert_true(auth_idle(f->a));
	assert_int_equal(request(f->a, bob, "bob"), 0);

	/* a schema change by another connection: the statements re-prepare */
	sqlite3_stmt *by_id = stmt_with(f->a, "tokens_valid_after_us FROM users WHERE id = ?");
	assert_non_null(by_id);
	int reprepared = sqlite3_stmt_status(by_id, SQLITE_STMTSTATUS_REPREPARE, 0);
	n = stmts_prepared(f->a, &idle);
	other_write(db, "CREATE INDEX users_by_created ON users(created_us)", &busy);
	assert_false(busy);
	assert_int_equal(request(f->a, bob, "bob"), 0);
	assert_true(sqlite3_stmt_status(by_id, SQLITE_STMTSTATUS_REPREPARE, 0) > reprepared);
	assert_int_equal(stmts_prepared(f->a, &idle), n);
	assert_true(idle);
	sqlite3_close(db);
	cu_wipe(alice, sizeof(alice));
	cu_wipe(bob, sizeof(bob));
}

/* ---- export profiles ---- */

/* A profile as custody profile add makes it: the built-in's settings. */
static struct cu_export_profile
profile_named(const char *name)
{
	struct cu_export_profile p;
	cu_auth_profile_default(&p);
	p.builtin = false;
	SNP(p.name, "%s", name);
	return p;
}

/* cu_auth_profile_decide, the one place the export-profile rules live:
 * each refusal with its error, setting and "forbidden" flag, and what an
 * allowed request gets. */
static void
test_profile_decide(void **state)
{
	(void)state;
	struct cu_export_profile ps[2];
	struct cu_export_decision d;
	cu_auth_profile_default(&ps[0]);        /* encryption, password >= 12, comments: locked */
	ps[1] = ps[0];
	snprintf(ps[1].name, sizeof(ps[1].name), "loose");
	ps[1].formats = CU_EXPORT_EVIDENCE | CU_EXPORT_MP4;
	for (int i = 0; i < CU_PS_COUNT; i++)
		if (i != CU_PS_SIGNATURE)
			ps[1].set[i].locked = false;
	ps[1].set[CU_PS_PASSWORD_REQUIRED].value = 0;
	ps[1].set[CU_PS_COMMENTS_REQUIRED].value = 0;
	const char *pw12 = "twelve chars", *pw11 = "eleven char";
	struct {
		size_t n;                       /* candidates: ps[0], or both */
		struct cu_export_ask q;
		int want;
		const char *setting;
		bool forbidden;
	} cases[] = {
		{1, {NULL, CU_EXPORT_EVIDENCE, "why", pw12, -1, -1, -1}, 0, NULL, false},
		{2, {NULL, CU_EXPORT_EVIDENCE, "why", pw12, -1, -1, -1}, CU_ERR_INVAL, "profile", false},
		{2, {"nobody", CU_EXPORT_EVIDENCE, "why", pw12, -1, -1, -1}, CU_ERR_AUTH, "profile",
		 true},
		{0, {NULL, CU_EXPORT_EVIDENCE, "why", pw12, -1, -1, -1}, CU_ERR_AUTH, "profile", true},
		{1, {NULL, CU_EXPORT_MP4, "why", NULL, -1, -1, -1}, CU_ERR_AUTH, "formats", true},
		{1, {NULL, CU_EXPORT_EVIDENCE, " \n", pw12, -1, -1, -1}, CU_ERR_INVAL,
		 "comments_required", false},
		{1, {NULL, CU_EXPORT_EVIDENCE, "why", pw12, 0, -1, -1}, CU_ERR_AUTH, "encryption", true},
		{1, {NULL, CU_EXPORT_EVIDENCE, "why", NULL, -1, -1, -1}, CU_ERR_INVAL,
		 "password_required", false},
		{1, {NULL, CU_EXPORT_EVIDENCE, "why", pw11, -1, -1, -1}, CU_ERR_INVAL,
		 "password_min_length", false},
		{2, {"loose", CU_EXPORT_MP4, NULL, NULL, -1, -1, -1}, 0, NULL, false},
		{2, {"loose", CU_EXPORT_MP4, NULL, NULL, 1, -1, -1}, CU_ERR_INVAL, NULL, false},
		{2, {"loose", CU_EXPORT_EVIDENCE, NULL, NULL, 0, 1, 0}, 0, NULL, false},
		{2, {"loose", CU_EXPORT_EVIDENCE, NULL, pw12, 0, -1, -1}, CU_ERR_INVAL, NULL, false},
		{2, {"loose", CU_EXPORT_EVIDENCE, NULL, "short", -1, -1, -1}, CU_ERR_INVAL,
		 "password_min_length", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = cu_auth_profile_decide(ps, cases[i].n, &cases[i].q, &d);
		if (r != cases[i].want)
			fail_msg("case %zu: %d, want %d (%s)", i, r, cases[i].want, cu_error_detail());
		if (r == 0)
			continue;
		assert_true(cu_error_detail()[0] != '\0');
		if (cases[i].setting == NULL)
			assert_null(d.setting);
		else
			assert_string_equal(d.setting, cases[i].setting);
		assert_int_equal(d.forbidden, cases[i].forbidden);
	}
	/* what an allowed request gets: the profile's values unless asked otherwise */
	struct cu_export_ask q = {NULL, CU_EXPORT_EVIDENCE, "why", pw12, -1, -1, -1};
	assert_int_equal(cu_auth_profile_decide(ps, 1, &q, &d), 0);
	assert_string_equal(d.profile, "default");
	assert_true(d.encrypt && d.include_player && !d.prevent_reexport);
	q = (struct cu_export_ask){"loose", CU_EXPORT_EVIDENCE, NULL, NULL, 0, 1, 0};
	assert_int_equal(cu_auth_profile_decide(ps, 2, &q, &d), 0);
	assert_string_equal(d.profile, "loose");
	assert_true(!d.encrypt && d.prevent_reexport && !d.include_player);
}

static void
test_profiles(void **state)
{
	struct fx *f = *state;
	struct cu_auth_event ev;
	struct cu_export_profile p, got;
	/* the built-in, exactly as docs/auth.md gives it */
	cu_auth_profile_default(&p);
	assert_true(p.builtin);
	assert_string_equal(p.name, "default");
	assert_int_equal(p.formats, CU_EXPORT_EVIDENCE);
	assert_true(p.set[CU_PS_ENCRYPTION].value && p.set[CU_PS_ENCRYPTION].locked);
	assert_true(p.set[CU_PS_PASSWORD_REQUIRED].value && p.set[CU_PS_PASSWORD_REQUIRED].locked);
	assert_int_equal(p.set[CU_PS_PASSWORD_MIN_LENGTH].value, 12);
	assert_true(p.set[CU_PS_PASSWORD_MIN_LENGTH].locked);
	assert_true(p.set[CU_PS_COMMENTS_REQUIRED].value && p.set[CU_PS_COMMENTS_REQUIRED].locked);
	assert_false(p.set[CU_PS_PREVENT_REEXPORT].value || p.set[CU_PS_PREVENT_REEXPORT].locked);
	assert_true(p.set[CU_PS_INCLUDE_PLAYER].value && !p.set[CU_PS_INCLUDE_PLAYER].locked);
	assert_true(p.set[CU_PS_SIGNATURE].value && p.set[CU_PS_SIGNATURE].locked);
	assert_int_equal(cu_auth_profile_get(f->a, "DEFAULT", &got), 0);
	assert_true(got.builtin);
	assert_int_equal(got.nroles, 0);

	/* names and settings the library refuses, each naming what is wrong */
	static const char *const bad_names[] = {"", "-x", "a b", "default", "Default", "x/y"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		p = profile_named("ok");
		SNP(p.name, "%s", bad_names[i]);
		assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), CU_ERR_INVAL);
	}
	p = profile_named("strict");
	p.formats = 0;
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), CU_ERR_INVAL);
	p.formats = 8;
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), CU_ERR_INVAL);
	p = profile_named("strict");
	p.set[CU_PS_SIGNATURE].value = 0;
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "signature"));
	p = profile_named("strict");
	p.set[CU_PS_ENCRYPTION].value = 0;      /* a password without encryption */
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "password_required"));
	for (int len = 0; len < 200; len++) {
		p = profile_named("strict");
		p.set[CU_PS_PASSWORD_MIN_LENGTH].value = len;
		assert_int_equal(cu_auth_profile_check(&p), len >= 8 && len <= 128 ? 0 : CU_ERR_INVAL);
	}
	p = profile_named("strict");
	p.set[CU_PS_PREVENT_REEXPORT].value = 2;
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), CU_ERR_INVAL);

	/* add, with its event */
	p = profile_named("strict");
	p.formats = CU_EXPORT_EVIDENCE | CU_EXPORT_MP4;
	p.set[CU_PS_PREVENT_REEXPORT] = (struct cu_profile_value){1, true};
	p.set[CU_PS_PASSWORD_MIN_LENGTH] = (struct cu_profile_value){16, true};
	assert_int_equal(cu_auth_profile_add(f->a, &p, &ev), 0);
	assert_string_equal(ev.action, "profile.add");
	assert_string_equal(ev.profile, "strict");
	assert_int_equal(ev.at_us, fake_now);
	assert_non_null(strstr(ev.detail, "formats=evidence,mp4 "));
	assert_non_null(strstr(ev.detail, "password_min_length=16(locked)"));
	assert_non_null(strstr(ev.detail, "prevent_reexport=on(locked)"));
	assert_string_equal(strstr(ev.detail, " include_player="), " include_player=on");
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), CU_ERR_EXIST);
	assert_int_equal(cu_auth_profile_get(f->a, "strict", &got), 0);
	assert_false(got.builtin);
	assert_int_equal(got.formats, CU_EXPORT_EVIDENCE | CU_EXPORT_MP4);
	for (int i = 0; i < CU_PS_COUNT; i++) {
		assert_int_equal(got.set[i].value, p.set[i].value);
		assert_int_equal(got.set[i].locked, p.set[i].locked);
	}
	assert_int_equal(got.created_us, fake_now);
	cu_auth_profile_clear(&got);
	assert_int_equal(cu_auth_profile_get(f->a, "lenient", &got), CU_ERR_NOTFOUND);

	/* update: an open profile (no password, no encryption, unlocked) */
	fake_now += 1000000;
	p = profile_named("lenient");
	assert_int_equal(cu_auth_profile_update(f->a, &p, NULL), CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), 0);
	p.formats = CU_EXPORT_FORMATS_ALL;
	for (int i = 0; i < CU_PS_COUNT; i++)
		p.set[i].locked = false;
	p.set[CU_PS_PASSWORD_REQUIRED].value = 0;
	p.set[CU_PS_ENCRYPTION].value = 0;
	p.set[CU_PS_COMMENTS_REQUIRED].value = 0;
	fake_now += 1000000;
	assert_int_equal(cu_auth_profile_update(f->a, &p, &ev), 0);
	assert_string_equal(ev.action, "profile.update");
	assert_non_null(strstr(ev.detail, "formats=evidence,mp4,stills "));
	assert_non_null(strstr(ev.detail, " encryption=off "));
	/* only signature stays locked */
	const char *lk = strstr(ev.detail, "(locked)");
	assert_ptr_equal(lk, strstr(ev.detail, "signature=on(locked)") + strlen("signature=on"));
	assert_null(strstr(lk + 1, "(locked)"));
	assert_int_equal(cu_auth_profile_get(f->a, "lenient", &got), 0);
	assert_int_equal(got.formats, CU_EXPORT_FORMATS_ALL);
	assert_int_equal(got.set[CU_PS_ENCRYPTION].value, 0);
	assert_false(got.set[CU_PS_ENCRYPTION].locked);
	assert_int_equal(got.updated_us, fake_now);
	assert_true(got.created_us < got.updated_us);
	cu_auth_profile_clear(&got);
	cu_auth_profile_default(&p);
	assert_int_equal(cu_auth_profile_update(f->a, &p, NULL), CU_ERR_INVAL); /* the built-in */
	assert_int_equal(cu_auth_profile_delete(f->a, "default", NULL), CU_ERR_INVAL);

	/* list: by name, not the built-in */
	struct cu_export_profile *v;
	size_t n;
	assert_int_equal(cu_auth_profile_list(f->a, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "lenient");
	assert_string_equal(v[1].name, "strict");
	cu_auth_profiles_free(v, n);

	/* a row the schema's checks keep out, written by hand, is refused */
	sqlite3 *db;
	char path[PATH_MAX];
	assert_int_equal(cu_path(path, sizeof(path), "%s/auth.db", f->dir), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE export_profiles SET encryption = 0 "
	                                  "WHERE name = 'strict'", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE export_profiles SET password_min_length = 7",
	                                  NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA ignore_check_constraints = ON; UPDATE "
	                              "export_profiles SET password_min_length = 3 WHERE name = "
	                              "'strict'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(cu_auth_profile_get(f->a, "strict", &got), CU_ERR_FORMAT);
	assert_int_equal(cu_auth_profile_list(f->a, &v, &n), CU_ERR_FORMAT);

	/* delete */
	assert_int_equal(cu_auth_profile_delete(f->a, "strict", &ev), 0);
	assert_string_equal(ev.action, "profile.delete");
	assert_string_equal(ev.detail, "roles unassigned=0");
	assert_int_equal(cu_auth_profile_delete(f->a, "strict", NULL), CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_profile_list(f->a, &v, &n), 0);
	assert_int_equal(n, 1);
	cu_auth_profiles_free(v, n);
}

static void
test_profile_assign(void **state)
{
	struct fx *f = *state;
	struct cu_auth_event ev;
	struct cu_export_profile p, *v;
	size_t n;
	const char *roles[] = {"investigators", "traffic", "viewers"};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(cu_auth_role_add(f->a, roles[i], NULL), 0);
	const char *inv[] = {"investigators", "traffic"};
	assert_int_equal(cu_auth_user_add(f->a, "alice", ALICE_PW, strlen(ALICE_PW), inv, 2, NULL),
	                 0);
	add_user(f->a, "bob", ALICE_PW, "viewers");
	add_user(f->a, "carol", ALICE_PW, NULL);

	/* no profile on any role: the built-in alone */
	assert_int_equal(cu_auth_profiles_for_user(f->a, "alice", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_true(v[0].builtin);
	assert_string_equal(v[0].name, "default");
	cu_auth_profiles_free(v, n);
	assert_int_equal(cu_auth_profiles_for_user(f->a, "nobody", &v, &n), CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_profiles_for_user(f->a, "Not A Name", &v, &n), CU_ERR_INVAL);

	p = profile_named("evidence-only");
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), 0);
	p = profile_named("quick");
	p.formats = CU_EXPORT_MP4 | CU_EXPORT_STILLS;
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), 0);

	/* assign, with events; a role has at most one profile */
	assert_int_equal(cu_auth_profile_assign(f->a, "investigators", "evidence-only", &ev), 0);
	assert_string_equal(ev.action, "profile.assign");
	assert_string_equal(ev.role, "investigators");
	assert_string_equal(ev.profile, "evidence-only");
	assert_string_equal(ev.detail, "");
	assert_int_equal(cu_auth_profile_assign(f->a, "investigators", "evidence-only", NULL),
	                 CU_ERR_EXIST);
	assert_int_equal(cu_auth_profile_assign(f->a, "investigators", "quick", &ev), 0);
	assert_string_equal(ev.detail, "replaced=evidence-only");
	assert_int_equal(cu_auth_profile_assign(f->a, "investigators", "evidence-only", NULL), 0);
	assert_int_equal(cu_auth_profile_assign(f->a, "traffic", "quick", NULL), 0);
	assert_int_equal(cu_auth_profile_assign(f->a, "viewers", "quick", NULL), 0);
	assert_int_equal(cu_auth_profile_assign(f->a, "nobody", "quick", NULL), CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_profile_assign(f->a, "viewers", "missing", NULL), CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_profile_assign(f->a, "viewers", "default", NULL), CU_ERR_INVAL);

	/* alice: one profile per role, by name, each with the role giving it */
	assert_int_equal(cu_auth_profiles_for_user(f->a, "alice", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "evidence-only");
	assert_int_equal(v[0].nroles, 1);
	assert_string_equal(v[0].roles[0], "investigators");
	assert_string_equal(v[1].name, "quick");
	assert_int_equal(v[1].formats, CU_EXPORT_MP4 | CU_EXPORT_STILLS);
	assert_int_equal(v[1].nroles, 1);
	assert_string_equal(v[1].roles[0], "traffic");
	cu_auth_profiles_free(v, n);
	/* two roles with one profile: listed once, with both roles */
	assert_int_equal(cu_auth_role_assign(f->a, "viewers", "alice", NULL), 0);
	assert_int_equal(cu_auth_profiles_for_user(f->a, "alice", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[1].nroles, 2);
	assert_string_equal(v[1].roles[0], "traffic");
	assert_string_equal(v[1].roles[1], "viewers");
	cu_auth_profiles_free(v, n);
	/* carol holds no role at all: the built-in */
	assert_int_equal(cu_auth_profiles_for_user(f->a, "carol", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_true(v[0].builtin);
	cu_auth_profiles_free(v, n);

	/* the listing shows who holds what */
	assert_int_equal(cu_auth_profile_list(f->a, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].nroles, 1);
	assert_int_equal(v[1].nroles, 2);
	assert_string_equal(v[1].roles[0], "traffic");
	assert_string_equal(v[1].roles[1], "viewers");
	cu_auth_profiles_free(v, n);
	assert_int_equal(cu_auth_profile_get(f->a, "quick", &p), 0);
	assert_int_equal(p.nroles, 2);
	cu_auth_profile_clear(&p);
	assert_null(p.roles);

	/* unassign; deleting a role or a profile takes the assignments with it */
	assert_int_equal(cu_auth_profile_assign(f->a, "viewers", NULL, &ev), 0);
	assert_string_equal(ev.action, "profile.unassign");
	assert_string_equal(ev.profile, "quick");
	assert_int_equal(cu_auth_profile_assign(f->a, "viewers", NULL, NULL), CU_ERR_NOTFOUND);
	assert_int_equal(cu_auth_role_delete(f->a, "traffic", NULL), 0);
	assert_int_equal(cu_auth_profiles_for_user(f->a, "alice", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "evidence-only");
	cu_auth_profiles_free(v, n);
	assert_int_equal(cu_auth_profile_delete(f->a, "evidence-only", &ev), 0);
	assert_string_equal(ev.detail, "roles unassigned=1");
	assert_int_equal(cu_auth_profiles_for_user(f->a, "alice", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_true(v[0].builtin);
	cu_auth_profiles_free(v, n);
}

/* An auth.db of schema version 1 (no profiles): read-only handles read it
 * as it is, a writable one upgrades it in place and keeps everything. */
static void
test_profile_upgrade(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	sqlite3 *db;
	add_user(f->a, "alice", ALICE_PW, NULL);
	assert_int_equal(cu_auth_role_add(f->a, "viewers", NULL), 0);
	assert_int_equal(cu_auth_role_assign(f->a, "viewers", "alice", NULL), 0);
	cu_auth_close(f->a);
	f->a = NULL;
	/* make it what version 1 wrote */
	assert_int_equal(cu_path(path, sizeof(path), "%s/auth.db", f->dir), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE role_profiles; DROP TABLE export_profiles; "
	                              "UPDATE meta SET value = '1' WHERE key = 'version'", NULL, NULL,
	                              NULL), SQLITE_OK);
	sqlite3_close(db);

	cu_auth *ro;
	struct cu_export_profile *v, p;
	size_t n;
	assert_int_equal(cu_auth_open(f->s, CU_AUTH_READONLY, &ro), 0);
	assert_int_equal(cu_auth_profile_list(ro, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(cu_auth_profiles_for_user(ro, "alice", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_true(v[0].builtin);
	cu_auth_profiles_free(v, n);
	assert_int_equal(cu_auth_profile_get(ro, "strict", &p), CU_ERR_NOTFOUND);
	p = profile_named("strict");
	assert_int_not_equal(cu_auth_profile_add(ro, &p, NULL), 0);
	cu_auth_close(ro);
	/* still version 1: reading changed nothing */
	int64_t version = 0;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'version'", -1,
	                                    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(version, 1);
	sqlite3_close(db);

	/* a writable open upgrades it */
	assert_int_equal(cu_auth_open(f->s, 0, &f->a), 0);
	cu_auth_set_clock(f->a, fake_clock, NULL);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'version'", -1,
	                                    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "2");
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(cu_auth_profile_add(f->a, &p, NULL), 0);
	assert_int_equal(cu_auth_profile_assign(f->a, "viewers", "strict", NULL), 0);
	assert_int_equal(cu_auth_profiles_for_user(f->a, "alice", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "strict");
	cu_auth_profiles_free(v, n);
	struct cu_login l = login(f->a, "alice", ALICE_PW, NULL);
	assert_int_equal(l.result, CU_LOGIN_OK);
	cu_wipe(&l, sizeof(l));
	/* and a second writable open of version 2 changes nothing */
	cu_auth *again;
	assert_int_equal(cu_auth_open(f->s, 0, &again), 0);
	assert_int_equal(cu_auth_profile_list(again, &v, &n), 0);
	assert_int_equal(n, 1);
	cu_auth_profiles_free(v, n);
	cu_auth_close(again);
	/* a newer version stays refused, read-only too */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = '3' WHERE key = 'version'", NULL,
	                              NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(cu_auth_open(f->s, CU_AUTH_READONLY, &ro), CU_ERR_UNSUPPORTED);
	assert_int_equal(cu_auth_open(f->s, 0, &ro), CU_ERR_UNSUPPORTED);
}

static int
group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmproot) != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmproot);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_password_hash, setup, teardown),
		cmocka_unit_test(test_password_policy),
		cmocka_unit_test_setup_teardown(test_password_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_parameters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission_matrix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_revocation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_renew, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
		cmocka_unit_test(test_profile_decide),
		cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_assign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_upgrade, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
