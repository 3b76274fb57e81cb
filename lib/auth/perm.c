/* Permissions: which functions a user may perform on which camera, read
 * from auth.db on every call (tokens carry identity only, so a revoked grant
 * takes effect at the next request). */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "custody/error.h"

/* Every function granted to an enabled user on a camera (or, camera NULL,
 * site-wide): grants on "*", on the camera by name, and on any group that
 * holds the camera. */
static const char functions_sql[] =
	"SELECT DISTINCT g.function FROM users u"
	" JOIN user_roles ur ON ur.user_id = u.id"
	" JOIN role_grants g ON g.role_id = ur.role_id"
	" WHERE u.name = ?1 AND u.disabled = 0 AND (g.scope = '*' OR (?2 IS NOT NULL AND"
	"  (g.scope = ?2 OR g.scope IN (SELECT 'group:' || cg.name FROM camera_groups m"
	"   JOIN cam_groups cg ON cg.id = m.group_id WHERE m.camera = ?2))))";

static int
mask_of(cu_auth *a, sqlite3_stmt *st, const char *user, const char *camera, unsigned *ret)
{
	unsigned mask = 0;
	int rc;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	if (camera != NULL)
		sqlite3_bind_text(st, 2, camera, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int fn;
		if (cu_auth_function_parse((const char *)sqlite3_column_text(st, 0), &fn) < 0)
			return cu_fail(CU_ERR_FORMAT, "auth.db: a grant names an unknown function");
		mask |= 1u << fn;
	}
	if (rc != SQLITE_DONE)
		return cu_db_fail(a->db, "reading grants");
	/* admin implies every function */
	if (mask & 1u << CU_FN_ADMIN)
		mask = (1u << CU_FN_COUNT) - 1;
	*ret = mask;
	return 0;
}

/* Names that cannot be in auth.db see nothing; no error, so that a probe
 * learns nothing from the difference. */
static bool
plausible(const char *user, const char *camera)
{
	bool ok = cu_auth_user_name_check(user) == 0 &&
	          (camera == NULL || cu_camera_name_check(camera) == 0);
	cu_error_clear();
	return ok;
}

int
cu_auth_functions(cu_auth *a, const char *user, const char *camera, unsigned *ret_mask)
{
	sqlite3_stmt *st;
	unsigned mask = 0;
	int r = 0;
	if (!plausible(user, camera)) {
		*ret_mask = 0;
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	if ((r = cu_db_stmt(a->db, functions_sql, &st)) == 0) {
		r = mask_of(a, st, user, camera, &mask);
		cu_db_done(st);
	}
	pthread_mutex_unlock(&a->lock);
	if (r == 0)
		*ret_mask = mask;
	return r;
}

int
cu_auth_check(cu_auth *a, const char *user, int fn, const char *camera)
{
	unsigned mask;
	if (fn < 0 || fn >= CU_FN_COUNT)
		return cu_fail(CU_ERR_INVAL, "unknown function %d", fn);
	int r = cu_auth_functions(a, user, camera, &mask);
	if (r < 0)
		return r;
	if (mask & 1u << fn)
		return 0;
	return cu_fail(CU_ERR_AUTH, "%s is not granted %s on %s", user ? user : "(nobody)",
	               cu_auth_function_name(fn), camera ? camera : "the site");
}

int
cu_auth_cameras(cu_auth *a, const char *user, int fn, const char *const *cameras, size_t n,
                bool *ret_visible)
{
	sqlite3_stmt *st = NULL;
	bool *vis = NULL;
	int r, count = 0;
	if (fn < CU_FN_ANY || fn >= CU_FN_COUNT)
		return cu_fail(CU_ERR_INVAL, "unknown function %d", fn);
	if (n > CU_CAMERAS_MAX)
		return cu_fail(CU_ERR_LIMIT, "more than %d cameras", CU_CAMERAS_MAX);
	vis = calloc(n ? n : 1, sizeof(*vis));
	if (vis == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	pthread_mutex_lock(&a->lock);
	if ((r = cu_db_stmt(a->db, functions_sql, &st)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		unsigned mask = 0;
		if (!plausible(user, cameras[i]))
			continue;
		if ((r = mask_of(a, st, user, cameras[i], &mask)) < 0)
			goto out;
		vis[i] = fn == CU_FN_ANY ? mask != 0 : (mask & 1u << fn) != 0;
		count += vis[i];
	}
	if (n > 0)
		memcpy(ret_visible, vis, n * sizeof(*vis));
	r = count;
out:
	cu_db_done(st);
	pthread_mutex_unlock(&a->lock);
	free(vis);
	return r;
}
