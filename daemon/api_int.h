/* Private to custodyd's API: what api.c lends the files that hold more
 * endpoints (export.c), so that every endpoint authenticates, checks
 * permissions, parses bodies and answers the one way api.c does. The call
 * stays opaque: api.c owns it, and these are its accessors and helpers. */
#ifndef CD_API_INT_H
#define CD_API_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

struct call;

struct cd_api *cd_call_api(struct call *c);
struct cd_req *cd_call_req(struct call *c);
/* The authenticated caller's user name. */
const char *cd_call_user(struct call *c);
/* Path segment i after /api/v1/; NULL past the last. */
const char *cd_call_seg(const struct call *c, size_t i);

/* A JSON answer (takes o). */
void cd_call_reply_json(struct call *c, int status, json_t *o);
/* Answers a failed library call: the cu_err decides the status. */
void cd_call_reply_cu(struct call *c, int err, const char *what);

/* fn on camera: 0, or answered 404 (no grant at all on it, or no such
 * camera) or 403 (some grant, not this one). */
int cd_call_need_camera(struct call *c, const char *camera, int fn);

/* The body as a JSON object; NULL when answered 400/415. */
json_t *cd_call_body_json(struct call *c);
/* Refuses members other than those named (NULL-terminated): 0 or -1 answered. */
int cd_call_only_fields(struct call *c, json_t *o, const char *const *names);
/* A string member: 1 present, 0 absent (when optional), -1 answered 400. */
int cd_call_str_field(struct call *c, json_t *o, const char *name, bool required, size_t max,
                      const char **ret);
/* A member holding text people type, under the one rule (util/text.h,
 * flags CU_TEXT_*): 1 present, 0 absent (when optional), -1 answered 400
 * naming the member and what is wrong. */
int cd_call_text_field(struct call *c, json_t *o, const char *name, bool required, size_t max,
                       unsigned flags, const char **ret);
/* A time member (ISO 8601 or µs): 1 present, 0 absent, -1 answered 400. */
int cd_call_time_field(struct call *c, json_t *o, const char *name, bool required,
                       int64_t *ret);

/* An audit entry by the caller, from their address (takes detail). */
void cd_call_audit(struct call *c, const char *type, json_t *detail);
/* An ISO 8601 JSON string, or null when us < 0. */
json_t *cd_call_jtime(int64_t us);

#endif
