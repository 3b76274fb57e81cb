/* Users, roles and camera groups, for admins: /api/v1/users, /roles,
 * /groups (docs/api.md, docs/auth.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "custody/error.h"
#include "custody/media.h"
#include "custody/store.h"

/* ---- users and roles (admin) ---- */

static json_t *
user_json(const struct cu_auth_user *u)
{
	json_t *roles = json_array();
	for (size_t k = 0; k < u->nroles; k++)
		json_array_append_new(roles, json_string(u->roles[k]));
	return json_pack("{s:s, s:b, s:o, s:o, s:o, s:o}", "name", u->name, "disabled",
	                 u->disabled, "roles", roles, "created", cd_json_time(u->created_us),
	                 "password_changed", cd_json_time(u->password_changed_us), "locked_until",
	                 u->locked_until_us ? cd_json_time(u->locked_until_us) : json_null());
}

/* Answers a change to a user or a role whose event type is type: the
 * failure r (a cu_err) as cd_call_reply_cu does, else the event ev in the
 * audit log and 204. */
static void
answer_change(struct call *c, int r, const char *type, const struct cu_auth_event *ev)
{
	if (r < 0) {
		cd_call_reply_cu(c, r, type);
		return;
	}
	cd_call_audit(c, type, cu_auth_event_json(ev));
	cd_reply(c->r, 204, "", NULL, 0);
}

void
cd_api_users(struct call *c)
{
	if (cd_call_need_site(c, CU_FN_ADMIN) < 0)
		return;
	if (cd_req_method(c->r) == CD_GET) {
		struct cu_auth_user *u;
		size_t n;
		int r = cu_auth_user_list(c->a->auth, &u, &n);
		if (r < 0) {
			cd_call_reply_cu(c, r, "listing users");
			return;
		}
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, user_json(&u[i]));
		cu_auth_users_free(u, n);
		cd_call_reply_json(c, 200, json_pack("{s:o}", "users", arr));
		return;
	}
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"name", "password", "roles", NULL};
	const char *name, *pw;
	const char *roles[64];
	size_t nroles = 0;
	if (cd_call_only_fields(c, o, f) < 0 || cd_call_str_field(c, o, "name", true, CU_USER_NAME_MAX, &name) < 0 ||
	    cd_call_str_field(c, o, "password", true, CU_USER_PASSWORD_MAX, &pw) < 0)
		goto out;
	json_t *jr = json_object_get(o, "roles");
	if (jr != NULL) {
		size_t i;
		json_t *v;
		if (!json_is_array(jr) || json_array_size(jr) > 64) {
			cd_reply_error(c->r, 400, "invalid", "\"roles\" must be a list of role names");
			goto out;
		}
		json_array_foreach(jr, i, v) {
			if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
				cd_reply_error(c->r, 400, "invalid", "\"roles\"[%zu] is not a role name", i);
				goto out;
			}
			roles[nroles++] = json_string_value(v);
		}
	}
	struct cu_auth_event ev;
	int r = cu_auth_user_add(c->a->auth, name, pw, strlen(pw), roles, nroles, &ev);
	cd_wipe_str(pw);
	if (r < 0) {
		cd_call_reply_cu(c, r, "adding the user");
		goto out;
	}
	cd_call_audit(c, "user.add", cu_auth_event_json(&ev));
	cd_call_reply_json(c, 201, json_pack("{s:s}", "name", name));
out:
	json_decref(o);
}

/* /users/{name}: DELETE; /users/{name}/{password|disable|enable|unlock|revoke}: POST */
void
cd_api_user(struct call *c)
{
	const char *name = c->segs[1];
	const char *op = c->nsegs == 3 ? c->segs[2] : "";
	bool self = strcmp(name, c->user) == 0;
	bool pw_change = strcmp(op, "password") == 0;
	if (!(self && pw_change) && cd_call_need_site(c, CU_FN_ADMIN) < 0)
		return;
	struct cu_auth_event ev;
	int r;
	const char *type;
	if (cd_req_method(c->r) == CD_DELETE && op[0] == '\0') {
		r = cu_auth_user_delete(c->a->auth, name, &ev);
		type = "user.delete";
	} else if (pw_change) {
		json_t *o = cd_call_body_json(c);
		if (o == NULL)
			return;
		static const char *const f[] = {"password", "current_password", NULL};
		const char *pw, *cur = NULL;
		if (cd_call_only_fields(c, o, f) < 0 ||
		    cd_call_str_field(c, o, "password", true, CU_USER_PASSWORD_MAX, &pw) < 0 ||
		    cd_call_str_field(c, o, "current_password", false, 1024, &cur) < 0) {
			json_decref(o);
			return;
		}
		if (self) {
			/* changing one's own password needs the current one, admin or
			 * not: a stolen session must not be enough */
			struct cu_login lg = {0};
			r = cur ? cu_auth_login(c->a->auth, name, cur, strlen(cur), cd_req_source(c->r),
			                        &lg)
			        : 0;
			if (cur)
				cd_wipe_str(cur);
			cu_wipe(lg.token, sizeof(lg.token));
			if (r < 0 || cur == NULL || lg.result != CU_LOGIN_OK) {
				cd_wipe_str(pw);
				json_decref(o);
				if (r < 0) {
					cd_call_reply_cu(c, r, "checking the current password");
				} else {
					cd_call_audit(c, "user.passwd_refused",
					      json_pack("{s:s, s:s}", "user", name, "reason",
					                cur == NULL ? "current password missing" :
					                lg.result == CU_LOGIN_LOCKED_ACCOUNT ? "account locked" :
					                lg.result == CU_LOGIN_THROTTLED_SOURCE ? "source throttled" :
					                lg.result == CU_LOGIN_DISABLED ? "user disabled" :
					                "current password wrong"));
					cd_reply_error(c->r, 403, "forbidden", "\"current_password\" is "
					               "missing or wrong");
				}
				return;
			}
		}
		r = cu_auth_user_passwd(c->a->auth, name, pw, strlen(pw), &ev);
		cd_wipe_str(pw);
		json_decref(o);
		type = "user.passwd";
	} else if (strcmp(op, "disable") == 0 || strcmp(op, "enable") == 0) {
		r = cu_auth_user_set_disabled(c->a->auth, name, op[0] == 'd', &ev);
		type = op[0] == 'd' ? "user.disable" : "user.enable";
	} else if (strcmp(op, "unlock") == 0) {
		r = cu_auth_user_unlock(c->a->auth, name, &ev);
		type = "user.unlock";
	} else if (strcmp(op, "revoke") == 0) {
		r = cu_auth_user_revoke_tokens(c->a->auth, name, &ev);
		type = "user.revoke_tokens";
	} else {
		cd_reply_error(c->r, 404, "not_found", "no such endpoint");
		return;
	}
	answer_change(c, r, type, &ev);
}

void
cd_api_roles(struct call *c)
{
	if (cd_call_need_site(c, CU_FN_ADMIN) < 0)
		return;
	if (cd_req_method(c->r) == CD_GET) {
		struct cu_auth_role *rl;
		size_t n;
		int r = cu_auth_role_list(c->a->auth, &rl, &n);
		if (r < 0) {
			cd_call_reply_cu(c, r, "listing roles");
			return;
		}
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *g = json_array(), *u = json_array();
			for (size_t k = 0; k < rl[i].ngrants; k++)
				json_array_append_new(g, json_pack("{s:s, s:s}", "function",
				                                   cu_auth_function_name(rl[i].grants[k].function),
				                                   "scope", rl[i].grants[k].scope));
			for (size_t k = 0; k < rl[i].nusers; k++)
				json_array_append_new(u, json_string(rl[i].users[k]));
			json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "name", rl[i].name,
			                                     "grants", g, "users", u));
		}
		cu_auth_roles_free(rl, n);
		cd_call_reply_json(c, 200, json_pack("{s:o}", "roles", arr));
		return;
	}
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"name", NULL};
	const char *name;
	if (cd_call_only_fields(c, o, f) == 0 && cd_call_str_field(c, o, "name", true, CU_ROLE_NAME_MAX, &name) > 0) {
		struct cu_auth_event ev;
		int r = cu_auth_role_add(c->a->auth, name, &ev);
		if (r < 0) {
			cd_call_reply_cu(c, r, "adding the role");
		} else {
			cd_call_audit(c, "role.add", cu_auth_event_json(&ev));
			cd_call_reply_json(c, 201, json_pack("{s:s}", "name", name));
		}
	}
	json_decref(o);
}

/* DELETE /roles/{r}; POST|DELETE /roles/{r}/grants {function, scope};
 * POST /roles/{r}/users {user}; DELETE /roles/{r}/users/{user} */
void
cd_api_role(struct call *c)
{
	if (cd_call_need_site(c, CU_FN_ADMIN) < 0)
		return;
	const char *role = c->segs[1];
	enum cd_method m = cd_req_method(c->r);
	struct cu_auth_event ev;
	int r;
	const char *type;
	if (c->nsegs == 2 && m == CD_DELETE) {
		r = cu_auth_role_delete(c->a->auth, role, &ev);
		type = "role.delete";
	} else if (c->nsegs == 3 && strcmp(c->segs[2], "grants") == 0 &&
	           (m == CD_POST || m == CD_DELETE)) {
		json_t *o = cd_call_body_json(c);
		if (o == NULL)
			return;
		static const char *const f[] = {"function", "scope", NULL};
		const char *fname, *scope;
		int fn;
		if (cd_call_only_fields(c, o, f) < 0 || cd_call_str_field(c, o, "function", true, 32, &fname) < 0 ||
		    cd_call_str_field(c, o, "scope", true, CU_SCOPE_MAX, &scope) < 0) {
			json_decref(o);
			return;
		}
		if ((r = cu_auth_function_parse(fname, &fn)) == 0)
			r = m == CD_POST ? cu_auth_role_grant(c->a->auth, role, fn, scope, &ev)
			                 : cu_auth_role_revoke(c->a->auth, role, fn, scope, &ev);
		json_decref(o);
		type = m == CD_POST ? "role.grant" : "role.revoke";
	} else if (c->nsegs == 3 && strcmp(c->segs[2], "users") == 0 && m == CD_POST) {
		json_t *o = cd_call_body_json(c);
		if (o == NULL)
			return;
		static const char *const f[] = {"user", NULL};
		const char *user;
		if (cd_call_only_fields(c, o, f) < 0 || cd_call_str_field(c, o, "user", true, CU_USER_NAME_MAX, &user) < 0) {
			json_decref(o);
			return;
		}
		r = cu_auth_role_assign(c->a->auth, role, user, &ev);
		json_decref(o);
		type = "role.assign";
	} else if (c->nsegs == 4 && strcmp(c->segs[2], "users") == 0 && m == CD_DELETE) {
		r = cu_auth_role_unassign(c->a->auth, role, c->segs[3], &ev);
		type = "role.unassign";
	} else {
		cd_reply_error(c->r, 404, "not_found", "no such endpoint");
		return;
	}
	answer_change(c, r, type, &ev);
}

/* ---- camera groups (admin) ---- */

/* cam names a camera for a group: the name rule, then the store must have
 * it (a camera the server never had is a typo, not a plan): 0, or
 * CD_ANSWERED (400 bad name, 404 no such camera). what names it in the
 * refusal. */
static int
known_camera(struct call *c, const char *cam, const char *what)
{
	int r = cu_camera_name_check(cam);
	if (r == 0 && (r = cu_store_camera_exists(c->a->store, cam)) == 0)
		r = cu_fail(CU_ERR_NOTFOUND, "no camera \"%s\"", cam);
	if (r < 0) {
		cd_call_reply_cu(c, r, what);
		return CD_ANSWERED;
	}
	return 0;
}

static json_t *
group_json(const char *name, const char *const *cams, size_t n)
{
	json_t *arr = json_array();
	for (size_t k = 0; k < n; k++)
		json_array_append_new(arr, json_string(cams[k]));
	return json_pack("{s:s, s:o}", "name", name, "cameras", arr);
}

static void
groups_list(struct call *c)
{
	struct cu_auth_group *g;
	size_t n;
	int r = cu_auth_group_list(c->a->auth, &g, &n);
	if (r < 0) {
		cd_call_reply_cu(c, r, "listing groups");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *cams = json_array();
		for (size_t k = 0; k < g[i].ncameras; k++)
			json_array_append_new(cams, json_string(g[i].cameras[k]));
		json_array_append_new(arr, json_pack("{s:s, s:o}", "name", g[i].name, "cameras", cams));
	}
	cu_auth_groups_free(g, n);
	cd_call_reply_json(c, 200, json_pack("{s:o}", "groups", arr));
}

/* The optional "cameras" of POST /groups into cams (CU_CAMERAS_MAX), every
 * one a camera of the store and none twice: the count, or CD_ANSWERED. */
static int
body_cameras(struct call *c, json_t *o, const char **cams)
{
	json_t *jc = json_object_get(o, "cameras"), *v;
	size_t i, n = 0;
	if (jc == NULL || json_is_null(jc))
		return 0;
	if (!json_is_array(jc) || json_array_size(jc) > CU_CAMERAS_MAX) {
		cd_reply_error(c->r, 400, "invalid", "\"cameras\" must be a list of at most %d "
		               "camera names", CU_CAMERAS_MAX);
		return CD_ANSWERED;
	}
	json_array_foreach(jc, i, v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			cd_reply_error(c->r, 400, "invalid", "\"cameras\"[%zu] is not a camera name", i);
			return CD_ANSWERED;
		}
		const char *cam = json_string_value(v);
		for (size_t k = 0; k < n; k++)
			if (strcmp(cams[k], cam) == 0) {
				cd_reply_error(c->r, 400, "invalid", "\"cameras\"[%zu]: camera \"%s\" is "
				               "named twice", i, cam);
				return CD_ANSWERED;
			}
		if (known_camera(c, cam, "\"cameras\"") < 0)
			return CD_ANSWERED;
		cams[n++] = cam;
	}
	return (int)n;
}

/* POST /groups {name, cameras?}: creates the group, then adds the cameras,
 * each change its own audit entry as the CLI writes them. Every camera is
 * checked before anything changes. */
static void
group_create(struct call *c)
{
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"name", "cameras", NULL};
	const char **cams = calloc(CU_CAMERAS_MAX, sizeof(*cams)); /* workers run at once */
	const char *name;
	int n;
	struct cu_auth_event ev;
	if (cams == NULL) {
		cd_call_reply_cu(c, cu_fail(CU_ERR_NOMEM, "out of memory"), "adding the group");
		goto out;
	}
	if (cd_call_only_fields(c, o, f) < 0 ||
	    cd_call_str_field(c, o, "name", true, CU_GROUP_NAME_MAX, &name) < 0 ||
	    (n = body_cameras(c, o, cams)) < 0)
		goto out;
	int r = cu_auth_group_add(c->a->auth, name, &ev);
	if (r < 0) {
		cd_call_reply_cu(c, r, "adding the group");
		goto out;
	}
	cd_call_audit(c, "group.add", cu_auth_event_json(&ev));
	for (int i = 0; i < n; i++) {
		if ((r = cu_auth_group_camera_add(c->a->auth, name, cams[i], &ev)) < 0) {
			cd_call_reply_cu(c, r, "adding a camera to the new group");
			goto out;
		}
		cd_call_audit(c, "group.camera_add", cu_auth_event_json(&ev));
	}
	cd_call_reply_json(c, 201, group_json(name, cams, (size_t)n));
out:
	free(cams);
	json_decref(o);
}

void
cd_api_groups(struct call *c)
{
	if (cd_call_need_site(c, CU_FN_ADMIN) < 0)
		return;
	if (cd_req_method(c->r) == CD_GET)
		groups_list(c);
	else
		group_create(c);
}

/* DELETE /groups/{g}; POST /groups/{g}/cameras {camera};
 * DELETE /groups/{g}/cameras/{camera} */
void
cd_api_group(struct call *c)
{
	if (cd_call_need_site(c, CU_FN_ADMIN) < 0)
		return;
	const char *group = c->segs[1];
	enum cd_method m = cd_req_method(c->r);
	bool cameras = c->nsegs >= 3 && strcmp(c->segs[2], "cameras") == 0;
	struct cu_auth_event ev;
	int r;
	const char *type;
	if (c->nsegs == 2 && m == CD_DELETE) {
		r = cu_auth_group_delete(c->a->auth, group, &ev);
		type = "group.delete";
	} else if (c->nsegs == 3 && cameras && m == CD_POST) {
		json_t *o = cd_call_body_json(c);
		if (o == NULL)
			return;
		static const char *const f[] = {"camera", NULL};
		const char *cam;
		if (cd_call_only_fields(c, o, f) < 0 ||
		    cd_call_str_field(c, o, "camera", true, CU_CAMERA_NAME_MAX, &cam) < 0 ||
		    known_camera(c, cam, "\"camera\"") < 0) {
			json_decref(o);
			return;
		}
		r = cu_auth_group_camera_add(c->a->auth, group, cam, &ev);
		json_decref(o);
		type = "group.camera_add";
	} else if (c->nsegs == 4 && cameras && m == CD_DELETE) {
		/* no look in the store: a camera gone from it still leaves its group */
		r = cu_auth_group_camera_remove(c->a->auth, group, c->segs[3], &ev);
		type = "group.camera_remove";
	} else {
		cd_reply_error(c->r, 404, "not_found", "no such endpoint");
		return;
	}
	answer_change(c, r, type, &ev);
}
