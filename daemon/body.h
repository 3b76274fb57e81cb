/* The members of a JSON request body, read and checked without answering
 * anything: pure functions of their input (fuzzed through the export body,
 * fuzz/fuzz-export-body.c). call.c answers their refusals; the export body
 * parser (export_body.c) uses them directly. */
#ifndef CD_BODY_H
#define CD_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a body was refused: the HTTP status, the error code and the message
 * the API answers with. */
struct cd_refusal {
	int status;                    /* 400, 413, 503 */
	const char *code;              /* "invalid", "too_large", "busy" */
	char message[512];             /* cut deliberately when longer: it is advice */
};

/* Fills e and returns -1, so that a refusal reads: return cd_refuse(e, ...). */
int cd_refuse(struct cd_refusal *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Refuses members other than those named (NULL-terminated): 0 or -1. */
int cd_body_only_fields(json_t *o, const char *const *names, struct cd_refusal *e);
/* A string member of at most max bytes without NUL: 1 present, 0 absent
 * (when optional), -1 refused. */
int cd_body_str(json_t *o, const char *name, bool required, size_t max, const char **ret,
                struct cd_refusal *e);
/* A member holding text people type, under the one rule (custody/text.h,
 * flags CU_TEXT_*): 1, 0 or -1 as cd_body_str, the refusal naming the
 * member and what is wrong. */
int cd_body_text(json_t *o, const char *name, bool required, size_t max, unsigned flags,
                 const char **ret, struct cd_refusal *e);
/* A time: ISO 8601 text or a decimal number of µs since the epoch: 0 or a
 * negative cu_err. */
int cd_parse_time(const char *s, int64_t *ret);
/* A time member (ISO 8601 or µs): 1 present, 0 absent, -1 refused. */
int cd_body_time(json_t *o, const char *name, bool required, int64_t *ret, struct cd_refusal *e);
/* A boolean member: *ret 1 true, 0 false, -1 absent; 0, or -1 refused. */
int cd_body_bool(json_t *o, const char *name, int *ret, struct cd_refusal *e);

#endif
