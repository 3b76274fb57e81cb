/* The audit log: /api/v1/audit and /audit/verify (docs/api.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "custody/error.h"

/* ---- the audit log ---- */

static ssize_t
cookie_write(void *ctx, const char *buf, size_t len)
{
	return cd_stream_write(ctx, buf, len) == 0 ? (ssize_t)len : -1;
}

void
cd_api_audit(struct call *c)
{
	if (cd_call_need_site(c, CU_FN_AUDIT_READ) < 0)
		return;
	char fmt[8] = "json";
	if (cd_req_param(c->r, "format", fmt, sizeof(fmt)) < 0 ||
	    (strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0)) {
		cd_reply_error(c->r, 400, "invalid", "format must be json or csv");
		return;
	}
	int r = cd_stream_begin(c->r, 200, fmt[0] == 'j' ? "application/json" : "text/csv");
	/* (the slot is taken and the head is sent at once: the log streams as it is read) */
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading the audit log");
		return;
	}
	cookie_io_functions_t io = {.write = cookie_write};
	FILE *f = fopencookie(c->r, "w", io);
	if (f == NULL) {
		cd_stream_end(c->r, false);
		return;
	}
	r = cu_audit_export(c->a->store, fmt[0] == 'j' ? CU_AUDIT_JSON : CU_AUDIT_CSV, f);
	bool ok = fclose(f) == 0 && r == 0;
	cd_call_audit(c, "audit.read", json_pack("{s:s, s:b}", "format", fmt, "complete", ok));
	cd_stream_end(c->r, ok);
}

void
cd_api_audit_verify(struct call *c)
{
	if (cd_call_need_site(c, CU_FN_AUDIT_READ) < 0)
		return;
	struct cu_audit_report *rep;
	int r = cu_audit_verify(c->a->store, &rep);
	if (r < 0) {
		cd_call_reply_cu(c, r, "verifying the audit log");
		return;
	}
	json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}", "tampered", rep->tampered,
	                      "entries", (json_int_t)rep->entries, "heads", (json_int_t)rep->heads,
	                      "signed_entries", (json_int_t)rep->signed_entries, "unsigned_entries",
	                      (json_int_t)rep->unsigned_entries, "newest_head",
	                      cd_json_time(rep->newest_head_us));
	if (rep->tampered) {
		json_object_set_new(o, "first_bad_index", json_integer((json_int_t)rep->first_bad_index));
		json_object_set_new(o, "reason", json_string(rep->reason));
	}
	cu_audit_report_free(rep);
	cd_call_reply_json(c, 200, o);
}
