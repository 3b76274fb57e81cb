/* Bookmarks and evidence locks: /api/v1/cameras/NAME/bookmarks, /bookmarks/ID,
 * /evidence-locks (docs/api.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "custody/time.h"
#include "custody/error.h"
#include "custody/text.h"

/* ---- bookmarks ---- */

static json_t *
bookmark_json(const struct cu_bookmark *b)
{
	return json_pack("{s:I, s:s, s:o, s:o, s:s, s:s, s:s, s:o}", "id", (json_int_t)b->id,
	                 "camera", b->camera, "at", cd_json_time(b->at_us), "end",
	                 b->end_us ? cd_json_time(b->end_us) : json_null(), "title", b->title,
	                 "description", b->description, "created_by", b->created_by, "created",
	                 cd_json_time(b->created_us));
}

void
cd_api_bookmarks_list(struct call *c)
{
	const char *cam = c->segs[1];
	unsigned mask = 0;
	if (cu_camera_name_check(cam) < 0 ||
	    cu_auth_functions(c->a->auth, c->user, cam, &mask) < 0 || mask == 0 ||
	    cu_store_camera_exists(c->a->store, cam) != 1) {
		cd_reply_error(c->r, 404, "not_found", "no camera \"%.64s\"", cam);
		return;
	}
	if ((mask & ((1u << CU_FN_PLAYBACK) | (1u << CU_FN_BOOKMARK) | (1u << CU_FN_ADMIN))) == 0) {
		cd_reply_error(c->r, 403, "forbidden", "listing bookmarks needs playback or bookmark "
		               "on camera %s", cam);
		return;
	}
	int64_t from = 0, to = 0;
	if (cd_call_query_time(c, "from", &from) < 0 || cd_call_query_time(c, "to", &to) < 0)
		return;
	struct cu_bookmark *b = NULL;
	size_t n = 0;
	int r = cu_bookmark_list(c->a->store, cam, from, to, CU_BOOKMARK_LIST_MAX, &b, &n);
	if (r < 0) {
		cd_call_reply_cu(c, r, "listing bookmarks");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, bookmark_json(&b[i]));
	free(b);
	cd_call_reply_json(c, 200, json_pack("{s:o, s:b}", "bookmarks", arr, "truncated", n == CU_BOOKMARK_LIST_MAX));
}

void
cd_api_bookmark_create(struct call *c)
{
	const char *cam = c->segs[1];
	if (cd_call_need_camera(c, cam, CU_FN_BOOKMARK) < 0)
		return;
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	static const char *const f[] = {"at", "end", "title", "description", NULL};
	struct cu_bookmark b = {0};
	const char *title = "", *desc = "";
	if (cd_call_only_fields(c, o, f) < 0 || cd_call_time_field(c, o, "at", true, &b.at_us) < 0 ||
	    cd_call_time_field(c, o, "end", false, &b.end_us) < 0 ||
	    cd_call_text_field(c, o, "title", true, CU_BOOKMARK_TITLE_MAX, CU_TEXT_NONEMPTY,
	                       &title) < 0 ||
	    cd_call_text_field(c, o, "description", false, CU_BOOKMARK_DESCRIPTION_MAX,
	                       CU_TEXT_MULTILINE, &desc) < 0) {
		json_decref(o);
		return;
	}
	int r = cd_call_copy(c, b.camera, sizeof(b.camera), cam, "camera");
	if (r == 0)
		r = cd_call_copy(c, b.title, sizeof(b.title), title, "title");
	if (r == 0)
		r = cd_call_copy(c, b.description, sizeof(b.description), desc, "description");
	if (r == 0)
		r = cd_call_copy(c, b.created_by, sizeof(b.created_by), c->user, "user");
	json_decref(o);
	if (r < 0)
		return;
	r = cu_bookmark_create(c->a->store, &b);
	if (r < 0) {
		cd_call_reply_cu(c, r, "creating the bookmark");
		return;
	}
	cd_call_audit(c, "bookmark.create", json_pack("{s:I, s:s, s:o, s:o, s:s}", "id", (json_int_t)b.id,
	                                      "camera", b.camera, "at", cd_json_time(b.at_us), "end",
	                                      b.end_us ? cd_json_time(b.end_us) : json_null(), "title",
	                                      b.title));
	cd_call_reply_json(c, 201, bookmark_json(&b));
}

/* The changed members of a PATCH body applied to b (as create checks
 * them): 0, or CD_ANSWERED (400, or 413 for a text over its field). */
static int
bookmark_changes(struct call *c, json_t *o, struct cu_bookmark *b)
{
	static const char *const f[] = {"at", "end", "title", "description", NULL};
	const char *title = NULL, *desc = NULL;
	json_t *end = json_object_get(o, "end");
	if (cd_call_only_fields(c, o, f) < 0 || cd_call_time_field(c, o, "at", false, &b->at_us) < 0 ||
	    (end != NULL && !json_is_null(end) &&
	     cd_call_time_field(c, o, "end", false, &b->end_us) < 0) ||
	    cd_call_text_field(c, o, "title", false, CU_BOOKMARK_TITLE_MAX, CU_TEXT_NONEMPTY,
	                       &title) < 0 ||
	    cd_call_text_field(c, o, "description", false, CU_BOOKMARK_DESCRIPTION_MAX,
	                       CU_TEXT_MULTILINE, &desc) < 0)
		return CD_ANSWERED;
	if (json_is_null(end))
		b->end_us = 0; /* "end": null makes it a moment again */
	if ((title != NULL && cd_call_copy(c, b->title, sizeof(b->title), title, "title") < 0) ||
	    (desc != NULL &&
	     cd_call_copy(c, b->description, sizeof(b->description), desc, "description") < 0))
		return CD_ANSWERED;
	return 0;
}

static json_t *
bookmark_audit_view(const struct cu_bookmark *b)
{
	return json_pack("{s:o, s:o, s:s}", "at", cd_json_time(b->at_us), "end",
	                 b->end_us ? cd_json_time(b->end_us) : json_null(), "title", b->title);
}

/* PATCH /bookmarks/{id}: b is the bookmark as it is. */
static void
bookmark_patch(struct call *c, const struct cu_bookmark *b)
{
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	struct cu_bookmark nb = *b;
	int r = bookmark_changes(c, o, &nb);
	json_decref(o);
	if (r < 0)
		return;
	if ((r = cu_bookmark_update(c->a->store, &nb)) < 0) {
		cd_call_reply_cu(c, r, "changing the bookmark");
		return;
	}
	bool desc_changed = strcmp(b->description, nb.description) != 0;
	cd_call_audit(c, "bookmark.update",
	              json_pack("{s:I, s:s, s:o, s:o, s:b}", "id", (json_int_t)b->id, "camera",
	                        b->camera, "before", bookmark_audit_view(b), "after",
	                        bookmark_audit_view(&nb), "description_changed", desc_changed));
	cd_call_reply_json(c, 200, bookmark_json(&nb));
}

/* GET, PATCH or DELETE /bookmarks/{id} */
void
cd_api_bookmark(struct call *c)
{
	int64_t id;
	if (cd_call_path_id(c, c->segs[1], &id) < 0)
		return;
	struct cu_bookmark b;
	int r = cu_bookmark_get(c->a->store, id, &b);
	unsigned mask = 0;
	if (r == 0 && (r = cu_auth_functions(c->a->auth, c->user, b.camera, &mask)) < 0) {
		cd_call_reply_cu(c, r, "checking permissions");
		return;
	}
	if (r == CU_ERR_NOTFOUND || (r == 0 && mask == 0)) {
		cd_reply_error(c->r, 404, "not_found", "no bookmark %lld", (long long)id);
		return;
	}
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading the bookmark");
		return;
	}
	unsigned want = cd_req_method(c->r) != CD_GET
	                ? (1u << CU_FN_BOOKMARK) | (1u << CU_FN_ADMIN)
	                : (1u << CU_FN_PLAYBACK) | (1u << CU_FN_BOOKMARK) | (1u << CU_FN_ADMIN);
	if ((mask & want) == 0) {
		cd_reply_error(c->r, 403, "forbidden", "this needs the bookmark function on camera %s",
		               b.camera);
		return;
	}
	if (cd_req_method(c->r) == CD_GET) {
		cd_call_reply_json(c, 200, bookmark_json(&b));
		return;
	}
	if (cd_req_method(c->r) == CD_PATCH) {
		bookmark_patch(c, &b);
		return;
	}
	if ((r = cu_bookmark_delete(c->a->store, id)) < 0) {
		cd_call_reply_cu(c, r, "deleting the bookmark");
		return;
	}
	cd_call_audit(c, "bookmark.delete", json_pack("{s:I, s:s, s:o, s:s}", "id", (json_int_t)id,
	                                      "camera", b.camera, "at", cd_json_time(b.at_us), "title",
	                                      b.title));
	cd_reply(c->r, 204, "", NULL, 0);
}

/* ---- evidence locks ---- */

static json_t *
lock_json(const struct cu_lock *l, struct call *c)
{
	json_t *cams = json_array();
	for (size_t i = 0; i < l->ncameras; i++)
		json_array_append_new(cams, json_string(l->cameras[i]));
	return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "id",
	                 (json_int_t)l->id, "headline", l->headline, "description", l->description,
	                 "cameras", cams, "from", cd_json_time(l->from_us), "to", cd_json_time(l->to_us),
	                 "expires", l->expires_us ? cd_json_time(l->expires_us) : json_null(),
	                 "created_by", l->created_by, "created", cd_json_time(l->created_us), "updated",
	                 cd_json_time(l->updated_us));
}

/* A lock is visible when the caller has any grant on each of its cameras,
 * and changeable with evidence_lock on each. 0 ok, 404 / 403 answered. */
static int
lock_access(struct call *c, const struct cu_lock *l, bool change)
{
	for (size_t i = 0; i < l->ncameras; i++) {
		unsigned mask = 0;
		int r = cu_auth_functions(c->a->auth, c->user, l->cameras[i], &mask);
		if (r < 0) {
			cd_call_reply_cu(c, r, "checking permissions");
			return CD_ANSWERED;
		}
		if (mask == 0) {
			cd_reply_error(c->r, 404, "not_found", "no evidence lock %lld", (long long)l->id);
			return CD_ANSWERED;
		}
		if (change && (mask & ((1u << CU_FN_EVIDENCE_LOCK) | (1u << CU_FN_ADMIN))) == 0) {
			cd_reply_error(c->r, 403, "forbidden", "this needs the evidence_lock function "
			               "on camera %s", l->cameras[i]);
			return CD_ANSWERED;
		}
	}
	return 0;
}

/* Reads the fields of a lock from a body; create: all required. */
static int
lock_from_body(struct call *c, json_t *o, struct cu_lock *l, bool create)
{
	static const char *const f[] = {"headline", "description", "cameras", "from", "to",
	                                "expires", NULL};
	if (cd_call_only_fields(c, o, f) < 0)
		return CD_ANSWERED;
	const char *s;
	int r;
	if ((r = cd_call_text_field(c, o, "headline", create, CU_LOCK_HEADLINE_MAX, CU_TEXT_NONEMPTY,
	                            &s)) < 0)
		return CD_ANSWERED;
	if (r == 1 && cd_call_copy(c, l->headline, sizeof(l->headline), s, "headline") < 0)
		return CD_ANSWERED;
	if ((r = cd_call_text_field(c, o, "description", false, CU_LOCK_DESCRIPTION_MAX,
	                            CU_TEXT_MULTILINE, &s)) < 0)
		return CD_ANSWERED;
	if (r == 1 && cd_call_copy(c, l->description, sizeof(l->description), s, "description") < 0)
		return CD_ANSWERED;
	json_t *cams = json_object_get(o, "cameras");
	if (cams != NULL) {
		if (!json_is_array(cams) || json_array_size(cams) == 0 ||
		    json_array_size(cams) > CU_LOCK_CAMERAS_MAX) {
			cd_reply_error(c->r, 400, "invalid", "\"cameras\" must be a list of 1 to %d "
			               "camera names", CU_LOCK_CAMERAS_MAX);
			return CD_ANSWERED;
		}
		l->ncameras = 0;
		size_t i;
		json_t *v;
		json_array_foreach(cams, i, v) {
			if (!json_is_string(v) || json_string_length(v) > CU_CAMERA_NAME_MAX ||
			    strlen(json_string_value(v)) != json_string_length(v)) {
				cd_reply_error(c->r, 400, "invalid", "\"cameras\"[%zu] is not a camera "
				               "name", i);
				return CD_ANSWERED;
			}
			if (cd_call_copy(c, l->cameras[l->ncameras], sizeof(l->cameras[0]),
			                 json_string_value(v), "cameras") < 0)
				return CD_ANSWERED;
			l->ncameras++;
		}
	} else if (create) {
		cd_reply_error(c->r, 400, "invalid", "\"cameras\" is required");
		return CD_ANSWERED;
	}
	if (cd_call_time_field(c, o, "from", create, &l->from_us) < 0 ||
	    cd_call_time_field(c, o, "to", create, &l->to_us) < 0)
		return CD_ANSWERED;
	json_t *e = json_object_get(o, "expires");
	if (e != NULL && json_is_null(e))
		l->expires_us = 0; /* indefinite */
	else if (e != NULL && cd_call_time_field(c, o, "expires", true, &l->expires_us) < 0)
		return CD_ANSWERED;
	return 0;
}

void
cd_api_locks_list(struct call *c)
{
	struct cu_lock *ls = NULL;
	size_t n = 0;
	char buf[8];
	bool expired = cd_req_param(c->r, "expired", buf, sizeof(buf)) == 1 &&
	               strcmp(buf, "true") == 0;
	int r = cu_lock_list(c->a->store, NULL, expired, cu_time_now_us(), &ls, &n);
	if (r < 0) {
		cd_call_reply_cu(c, r, "listing evidence locks");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		bool visible = true;
		for (size_t k = 0; k < ls[i].ncameras && visible; k++) {
			unsigned mask = 0;
			visible = cu_auth_functions(c->a->auth, c->user, ls[i].cameras[k], &mask) == 0 &&
			          mask != 0;
		}
		if (visible)
			json_array_append_new(arr, lock_json(&ls[i], c));
	}
	free(ls);
	cd_call_reply_json(c, 200, json_pack("{s:o}", "evidence_locks", arr));
}

void
cd_api_lock_create(struct call *c)
{
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	struct cu_lock *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		json_decref(o);
		cd_reply_error(c->r, 503, "busy", "out of memory");
		return;
	}
	if (lock_from_body(c, o, l, true) < 0)
		goto out;
	for (size_t i = 0; i < l->ncameras; i++)
		if (cd_call_need_camera(c, l->cameras[i], CU_FN_EVIDENCE_LOCK) < 0)
			goto out;
	if (cd_call_copy(c, l->created_by, sizeof(l->created_by), c->user, "user") < 0)
		goto out;
	int r = cu_lock_create(c->a->store, l);
	if (r < 0) {
		cd_call_reply_cu(c, r, "creating the evidence lock");
		goto out;
	}
	json_t *j = lock_json(l, c);
	cd_call_audit(c, "evidence_lock.create", json_deep_copy(j));
	cd_call_reply_json(c, 201, j);
out:
	json_decref(o);
	free(l);
}

/* GET, PATCH, DELETE /evidence-locks/{id} */
void
cd_api_lock(struct call *c)
{
	int64_t id;
	if (cd_call_path_id(c, c->segs[1], &id) < 0)
		return;
	struct cu_lock *l = calloc(1, sizeof(*l)), *old = calloc(1, sizeof(*old));
	json_t *o = NULL;
	if (l == NULL || old == NULL) {
		cd_reply_error(c->r, 503, "busy", "out of memory");
		goto out;
	}
	int r = cu_lock_get(c->a->store, id, old);
	if (r == CU_ERR_NOTFOUND) {
		cd_reply_error(c->r, 404, "not_found", "no evidence lock %lld", (long long)id);
		goto out;
	}
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading the evidence lock");
		goto out;
	}
	enum cd_method m = cd_req_method(c->r);
	if (lock_access(c, old, m != CD_GET) < 0)
		goto out;
	if (m == CD_GET) {
		cd_call_reply_json(c, 200, lock_json(old, c));
		goto out;
	}
	if (m == CD_DELETE) {
		if ((r = cu_lock_delete(c->a->store, id)) < 0) {
			cd_call_reply_cu(c, r, "deleting the evidence lock");
			goto out;
		}
		cd_call_audit(c, "evidence_lock.delete", lock_json(old, c));
		cd_reply(c->r, 204, "", NULL, 0);
		goto out;
	}
	if ((o = cd_call_body_json(c)) == NULL)
		goto out;
	*l = *old;
	if (lock_from_body(c, o, l, false) < 0 || lock_access(c, l, true) < 0)
		goto out;
	if ((r = cu_lock_update(c->a->store, l)) < 0) {
		cd_call_reply_cu(c, r, "changing the evidence lock");
		goto out;
	}
	cu_lock_get(c->a->store, id, l);
	json_t *j = lock_json(l, c);
	cd_call_audit(c, "evidence_lock.update", json_pack("{s:I, s:o, s:o}", "id", (json_int_t)id,
	                                           "before", lock_json(old, c), "after",
	                                           json_deep_copy(j)));
	cd_call_reply_json(c, 200, j);
out:
	json_decref(o);
	free(l);
	free(old);
}
