/* The audit log: /api/v1/audit and /audit/verify (docs/api.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "custody/error.h"
#include "custody/parse.h"
#include "custody/text.h"

/* ---- the audit log ---- */

static ssize_t
cookie_write(void *ctx, const char *buf, size_t len)
{
	return cd_stream_write(ctx, buf, len) == 0 ? (ssize_t)len : -1;
}

/* Starts a 200 stream answer of type and returns a FILE writing into it, or
 * NULL when it has answered (busy, or the FILE could not be made). The slot
 * is taken and the head is sent at once: the log streams as it is read;
 * fclose, then cd_stream_end. */
static FILE *
stream_open(struct call *c, const char *type)
{
	int r = cd_stream_begin(c->r, 200, type);
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading the audit log");
		return NULL;
	}
	cookie_io_functions_t io = {.write = cookie_write};
	FILE *f = fopencookie(c->r, "w", io);
	if (f == NULL)
		cd_stream_end(c->r, false);
	return f;
}

/* A text filter of a page (type, actor, q): 1 given (into buf), 0 absent,
 * CD_ANSWERED (400). One line of text, 1 to CU_AUDIT_NAME_MAX bytes. */
static int
filter_param(struct call *c, const char *name, char buf[static CU_AUDIT_NAME_MAX + 1])
{
	int r = cd_req_param(c->r, name, buf, CU_AUDIT_NAME_MAX + 1);
	if (r == 0)
		return 0;
	if (r < 0 || buf[0] == '\0' || cu_text_check(buf, strlen(buf), CU_AUDIT_NAME_MAX, 0) < 0) {
		cd_reply_error(c->r, 400, "invalid", "the query parameter %s must be 1 to %d bytes "
		               "of one line of text", name, CU_AUDIT_NAME_MAX);
		return CD_ANSWERED;
	}
	return 1;
}

/* A whole number query parameter up to max: 1 given, 0 absent, CD_ANSWERED. */
static int
number_param(struct call *c, const char *name, uint64_t min, uint64_t max, uint64_t *ret)
{
	char buf[24];
	int r = cd_req_param(c->r, name, buf, sizeof(buf));
	if (r == 0)
		return 0;
	if (r < 0 || cu_parse_u64(buf, max, name, ret) < 0 || *ret < min) {
		cd_reply_error(c->r, 400, "invalid", "the query parameter %s must be a whole number "
		               "from %llu to %llu", name, (unsigned long long)min,
		               (unsigned long long)max);
		return CD_ANSWERED;
	}
	return 1;
}

/* GET audit?limit=…: one page of the log, newest first, filtered here. */
static void
audit_page(struct call *c, size_t limit)
{
	char type[CU_AUDIT_NAME_MAX + 1], actor[CU_AUDIT_NAME_MAX + 1], text[CU_AUDIT_NAME_MAX + 1];
	struct cu_audit_query q = {.limit = limit};
	int r;
	if ((r = number_param(c, "before", 0, CU_AUDIT_ENTRIES_MAX, &q.before)) < 0)
		return;
	q.has_before = r == 1;
	if ((r = filter_param(c, "type", type)) < 0)
		return;
	q.type = r ? type : NULL;
	if ((r = filter_param(c, "actor", actor)) < 0)
		return;
	q.actor = r ? actor : NULL;
	if ((r = filter_param(c, "q", text)) < 0)
		return;
	q.text = r ? text : NULL;
	if (cd_call_query_time(c, "from", &q.from_us) < 0 || cd_call_query_time(c, "to", &q.to_us) < 0)
		return;
	if (q.to_us != 0 && q.to_us < q.from_us) {
		cd_reply_error(c->r, 400, "invalid", "\"to\" is before \"from\"");
		return;
	}
	FILE *f = stream_open(c, "application/json");
	if (f == NULL)
		return;
	struct cu_audit_page pg = {0};
	fputs("{\"entries\":", f);
	r = cu_audit_page(c->a->store, &q, f, &pg);
	if (r == 0) {
		if (pg.more)
			fprintf(f, ",\"more\":true,\"next_before\":%llu}\n",
			        (unsigned long long)pg.next_before);
		else
			fputs(",\"more\":false,\"next_before\":null}\n", f);
	}
	bool ok = fclose(f) == 0 && r == 0;
	cd_call_audit(c, "audit.read", json_pack("{s:s, s:b, s:I}", "format", "json", "complete",
	                                 ok, "limit", (json_int_t)limit));
	cd_stream_end(c->r, ok);
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
	uint64_t limit = 0;
	int paged = number_param(c, "limit", 1, CU_AUDIT_PAGE_MAX, &limit);
	if (paged < 0)
		return;
	static const char *const page_only[] = {"before", "type", "actor", "q", "from", "to"};
	for (size_t i = 0; !paged && i < sizeof(page_only) / sizeof(page_only[0]); i++) {
		char probe[2];
		if (cd_req_param(c->r, page_only[i], probe, sizeof(probe)) != 0) {
			cd_reply_error(c->r, 400, "invalid", "the query parameter %s needs limit "
			               "(1 to %d): the whole log is not filtered", page_only[i],
			               CU_AUDIT_PAGE_MAX);
			return;
		}
	}
	if (paged) {
		if (fmt[0] != 'j') {
			cd_reply_error(c->r, 400, "invalid", "a page (limit) is JSON only");
			return;
		}
		audit_page(c, (size_t)limit);
		return;
	}
	FILE *f = stream_open(c, fmt[0] == 'j' ? "application/json" : "text/csv");
	if (f == NULL)
		return;
	int r = cu_audit_export(c->a->store, fmt[0] == 'j' ? CU_AUDIT_JSON : CU_AUDIT_CSV, f);
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
