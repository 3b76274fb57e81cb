/* Login: password check, token issue, and the brute-force defences.
 *
 * Failures are counted per account name (whether or not the account exists,
 * so a lockout says nothing about existence) and per source address, within
 * CU_LOCK_WINDOW_US. CU_LOCK_ACCOUNT_FAILURES failures lock the name and
 * CU_THROTTLE_SOURCE_FAILURES throttle the address, each for
 * CU_LOCK_DURATION_US; while locked, no password is checked at all. */
#include <string.h>

#include "auth/auth_int.h"
#include "custody/error.h"

enum { KIND_ACCOUNT = 0, KIND_SOURCE = 1 };

/* The end of a running lockout of subject, or 0. With a->lock held. */
static int
locked_until(cu_auth *a, int kind, const char *subject, int64_t now, int64_t *ret)
{
	sqlite3_stmt *st;
	int r = cu_db_stmt(a->db, "SELECT until_us FROM lockouts WHERE kind = ? AND subject = ? "
	                   "AND until_us > ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	int rc = sqlite3_step(st);
	*ret = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	r = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cu_db_fail(a->db, "reading lockouts");
	cu_db_done(st);
	return r;
}

static int
run(cu_auth *a, const char *sql, int kind, const char *subject, int64_t t)
{
	sqlite3_stmt *st;
	int r = cu_db_stmt(a->db, sql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, t);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : cu_db_fail(a->db, "recording a failure");
	cu_db_done(st);
	return r;
}

/* Forgets what no longer counts: the tables stay as small as the window. */
static int
purge(cu_auth *a, const char *sql, int64_t t)
{
	sqlite3_stmt *st;
	int r = cu_db_stmt(a->db, sql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, t);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : cu_db_fail(a->db, "forgetting old failures");
	cu_db_done(st);
	return r;
}

/* Records one failure of subject; when it reaches limit within the window,
 * locks the subject and forgets its failures (the count starts afresh when
 * the lock ends). *ret_locked: this failure locked it. With a->lock held, in
 * a transaction. */
static int
fail_one(cu_auth *a, int kind, const char *subject, int64_t now, int limit, bool *ret_locked,
         int64_t *ret_until)
{
	sqlite3_stmt *st;
	int r;
	*ret_locked = false;
	if ((r = run(a, "INSERT INTO failures(kind, subject, at_us) VALUES(?, ?, ?)", kind,
	             subject, now)) < 0)
		return r;
	if ((r = cu_db_stmt(a->db, "SELECT count(*) FROM failures WHERE kind = ? AND subject = ? "
	                    "AND at_us > ?", &st)) < 0)
		return r;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now - CU_LOCK_WINDOW_US);
	int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	cu_db_done(st);
	if (n < 0)
		return cu_db_fail(a->db, "counting failures");
	if (n < limit)
		return 0;
	if ((r = run(a, "INSERT OR REPLACE INTO lockouts(kind, subject, until_us) VALUES(?, ?, ?)",
	             kind, subject, now + CU_LOCK_DURATION_US)) < 0 ||
	    (r = run(a, "DELETE FROM failures WHERE kind = ? AND subject = ? AND at_us <= ?", kind,
	             subject, now)) < 0)
		return r;
	*ret_locked = true;
	*ret_until = now + CU_LOCK_DURATION_US;
	return 0;
}

/* Before the password check: forgets old failures and lockouts, then looks
 * for a lockout of the source or the account, and reads the user. */
static int
before(cu_auth *a, const char *name, bool valid_name, const char *source, int64_t now,
       struct cu_login *out, struct cu_user_row *u, bool *ret_found)
{
	int64_t until;
	int r = cu_db_begin(a->db, true);
	if (r < 0)
		return r;
	if ((r = purge(a, "DELETE FROM failures WHERE at_us <= ?", now - CU_LOCK_WINDOW_US)) < 0 ||
	    (r = purge(a, "DELETE FROM lockouts WHERE until_us <= ?", now)) < 0)
		goto out;
	if (source != NULL && (r = locked_until(a, KIND_SOURCE, source, now, &until)) < 0)
		goto out;
	if (source != NULL && until > 0) {
		out->result = CU_LOGIN_THROTTLED_SOURCE;
		out->retry_after_us = until;
		goto out;
	}
	if (valid_name && (r = locked_until(a, KIND_ACCOUNT, name, now, &until)) < 0)
		goto out;
	if (valid_name && until > 0) {
		out->result = CU_LOGIN_LOCKED_ACCOUNT;
		out->retry_after_us = until;
		goto out;
	}
	*ret_found = false;
	if (valid_name) {
		r = cu_auth_user_get(a, name, 0, u);
		if (r == 0)
			*ret_found = true;
		else if (r == CU_ERR_NOTFOUND)
			r = 0;
	}
out:
	if (r == 0)
		r = cu_db_commit(a->db);
	else
		cu_db_rollback(a->db);
	return r;
}

/* A hash below the policy is replaced now that the password is known; only
 * if nobody changed it meanwhile. Failure here is not the login's failure. */
static void
rehash(cu_auth *a, const struct cu_user_row *u, const char *pw, size_t len)
{
	char phc[CU_AUTH_PHC_MAX];
	sqlite3_stmt *st;
	if (cu_pw_hash(a, pw, len, phc) < 0)
		goto out;
	pthread_mutex_lock(&a->lock);
	if (cu_db_stmt(a->db, "UPDATE users SET hash = ? WHERE id = ? AND hash = ?", &st) == 0) {
		sqlite3_bind_text(st, 1, phc, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, u->id);
		sqlite3_bind_text(st, 3, u->phc, -1, SQLITE_STATIC);
		sqlite3_step(st);
		cu_db_done(st);
	}
	pthread_mutex_unlock(&a->lock);
out:
	cu_wipe(phc, sizeof(phc));
	cu_error_clear();
}

int
cu_auth_login(cu_auth *a, const char *name, const char *pw, size_t pw_len, const char *source,
              struct cu_login *ret)
{
	struct cu_login out = {.result = CU_LOGIN_BAD_CREDENTIALS};
	struct cu_user_row u = {0};
	bool found = false, match = false, weak = false;
	int r;
	if (a->sign == NULL)
		return cu_fail(CU_ERR_PASSWORD, "the store password is needed to issue tokens");
	if (pw == NULL && pw_len > 0)
		return cu_fail(CU_ERR_INVAL, "no password");
	if (source != NULL && (source[0] == '\0' || strnlen(source, CU_SOURCE_MAX + 1) >
	                                            CU_SOURCE_MAX))
		return cu_fail(CU_ERR_INVAL, "source address key must be 1 to %d bytes",
		               CU_SOURCE_MAX);
	/* A name that cannot exist is never an account to lock: it is counted
	 * against the source only. */
	bool valid_name = cu_auth_user_name_check(name) == 0;
	cu_error_clear();
	pthread_mutex_lock(&a->lock);
	int64_t now = cu_auth_now(a);
	r = before(a, name, valid_name, source, now, &out, &u, &found);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		goto out;
	if (out.result != CU_LOGIN_BAD_CREDENTIALS)
		goto done;

	/* Unknown names cost the same Argon2id run as known ones, against a
	 * random hash of the same parameters, so timing tells nothing. An
	 * over-long password is checked up to the limit and then refused. */
	size_t len = pw_len > CU_USER_PASSWORD_MAX ? CU_USER_PASSWORD_MAX : pw_len;
	if (found) {
		r = cu_pw_verify(a, u.phc, pw ? pw : "", len, &match, &weak);
	} else {
		atomic_fetch_add(&a->dummy_runs, 1);
		r = cu_pw_verify(a, a->dummy_phc, pw ? pw : "", len, &match, &weak);
		match = false;
	}
	if (r < 0)
		goto out;
	match = match && found && pw_len <= CU_USER_PASSWORD_MAX;

	pthread_mutex_lock(&a->lock);
	now = cu_auth_now(a);
	if ((r = cu_db_begin(a->db, true)) < 0) {
		pthread_mutex_unlock(&a->lock);
		goto out;
	}
	if (match && u.disabled) {
		/* the password was right: not a guess, so not a failure */
		out.result = CU_LOGIN_DISABLED;
		out.user_id = u.id;
	} else if (match) {
		out.result = CU_LOGIN_OK;
		out.user_id = u.id;
		r = run(a, "DELETE FROM failures WHERE kind = ? AND subject = ? AND at_us <= ?",
		        KIND_ACCOUNT, name, now);
	} else {
		int64_t until = 0;
		if (valid_name)
			r = fail_one(a, KIND_ACCOUNT, name, now, CU_LOCK_ACCOUNT_FAILURES,
			             &out.account_locked_now, &until);
		if (r == 0 && source != NULL)
			r = fail_one(a, KIND_SOURCE, source, now, CU_THROTTLE_SOURCE_FAILURES,
			             &out.source_throttled_now, &until);
		if (out.account_locked_now || out.source_throttled_now)
			out.retry_after_us = until;
	}
	if (r == 0)
		r = cu_db_commit(a->db);
	else
		cu_db_rollback(a->db);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		goto out;
	if (out.result == CU_LOGIN_OK) {
		struct cu_token_claims c;
		if ((r = cu_auth_token_for(a, &u, 0, out.token, sizeof(out.token), &c)) < 0)
			goto out;
		out.expires_us = c.expires_us;
		if (weak)
			rehash(a, &u, pw, pw_len);
	}
done:
	*ret = out;
	r = 0;
out:
	cu_wipe(&out, sizeof(out));
	cu_user_row_wipe(&u);
	return r;
}
