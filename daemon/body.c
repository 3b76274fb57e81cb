/* The members of a JSON request body (body.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "body.h"
#include "custody/error.h"
#include "custody/parse.h"
#include "custody/text.h"
#include "custody/time.h"

int
cd_refuse(struct cd_refusal *e, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	cu_vfmt_cut(e->message, sizeof(e->message), fmt, ap); /* a message: see cd_refusal */
	va_end(ap);
	return -1;
}

int
cd_body_only_fields(json_t *o, const char *const *names, struct cd_refusal *e)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool known = false;
		for (size_t i = 0; names[i] && !known; i++)
			known = strcmp(k, names[i]) == 0;
		if (!known)
			return cd_refuse(e, 400, "invalid", "unknown field \"%.64s\"", k);
	}
	return 0;
}

/* The member name: 1 present (*ret), 0 absent and optional, -1 refused. */
static int
present(json_t *o, const char *name, bool required, json_t **ret, struct cd_refusal *e)
{
	json_t *v = json_object_get(o, name);
	if (v == NULL || json_is_null(v))
		return required ? cd_refuse(e, 400, "invalid", "\"%s\" is required", name) : 0;
	*ret = v;
	return 1;
}

int
cd_body_str(json_t *o, const char *name, bool required, size_t max, const char **ret,
            struct cd_refusal *e)
{
	json_t *v = NULL;
	int r = present(o, name, required, &v, e);
	if (r <= 0)
		return r;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return cd_refuse(e, 400, "invalid", "\"%s\" must be a string of at most %zu bytes",
		                 name, max);
	*ret = json_string_value(v);
	return 1;
}

int
cd_body_text(json_t *o, const char *name, bool required, size_t max, unsigned flags,
             const char **ret, struct cd_refusal *e)
{
	json_t *v = NULL;
	int r = present(o, name, required, &v, e);
	if (r <= 0)
		return r;
	if (!json_is_string(v))
		return cd_refuse(e, 400, "invalid", "\"%s\" must be a string", name);
	if (cu_text_check(json_string_value(v), json_string_length(v), max, flags) < 0)
		return cd_refuse(e, 400, "invalid", "\"%s\": %s", name, cu_error_detail());
	*ret = json_string_value(v);
	return 1;
}

int
cd_parse_time(const char *s, int64_t *ret)
{
	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 17) {
		uint64_t v;
		int r = cu_parse_u64(s, UINT64_C(253402300799999999), "time", &v);
		if (r < 0)
			return r;
		*ret = (int64_t)v;
		return 0;
	}
	return cu_time_parse_iso8601(s, ret);
}

int
cd_body_time(json_t *o, const char *name, bool required, int64_t *ret, struct cd_refusal *e)
{
	json_t *v = json_object_get(o, name);
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		return cd_refuse(e, 400, "invalid", "\"%s\" is required (ISO 8601 time)", name);
	}
	if (json_is_string(v) && json_string_length(v) < 64 &&
	    strlen(json_string_value(v)) == json_string_length(v) &&
	    cd_parse_time(json_string_value(v), ret) == 0)
		return 1;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*ret = (int64_t)json_integer_value(v);
		return 1;
	}
	return cd_refuse(e, 400, "invalid", "\"%s\" must be an ISO 8601 time such as "
	                 "2026-01-31T12:00:00Z, or microseconds since the epoch", name);
}

int
cd_body_bool(json_t *o, const char *name, int *ret, struct cd_refusal *e)
{
	json_t *v = json_object_get(o, name);
	if (v == NULL || json_is_null(v)) {
		*ret = -1;
		return 0;
	}
	if (!json_is_boolean(v))
		return cd_refuse(e, 400, "invalid", "\"%s\" must be true or false", name);
	*ret = json_is_true(v) ? 1 : 0;
	return 0;
}
