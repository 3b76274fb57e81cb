/* Event records read back: the fields of one, and raise/clear pairs as
 * periods (docs/formats/media-database.md, "Event records"). */
#include <stdlib.h>
#include <string.h>

#include "custody/store.h"
#include "store/format.h"
#include "custody/error.h"

_Static_assert(CU_REC_EVENT_KIND == CU_REC_EVENT, "the public kind number is the format's");
_Static_assert(CU_EVENT_TYPE_MAX + CU_EVENT_SOURCE_MAX + CU_EVENT_DETAIL_MAX + 4 +
               sizeof("critical") + sizeof("raise") <= CU_REASON_MAX,
               "an event record's text fits a record reason");

int
cu_event_note_of(const struct cu_verify_gap *g, struct cu_event_note *ret)
{
	if (g->kind != CU_REC_EVENT)
		return cu_fail(CU_ERR_FORMAT, "a %s record is not an event",
		               cu_record_kind_name(g->kind));
	struct cu_event_note n;
	int r = cu_event_text_parse(g->reason, strnlen(g->reason, CU_REASON_MAX), &n);
	if (r < 0)
		return r;
	n.at_us = g->from_us;
	*ret = n;
	return 0;
}

/* The open period (a raise not yet cleared) of this type and source, or -1. */
static long
open_period(const struct cu_event_period *p, size_t n, const struct cu_event_note *e)
{
	for (size_t i = n; i-- > 0;)
		if (p[i].to_us < 0 && p[i].from_us >= 0 && strcmp(p[i].type, e->type) == 0 &&
		    strcmp(p[i].source, e->source) == 0)
			return (long)i;
	return -1;
}

int
cu_event_periods(const struct cu_verify_gap *g, size_t n, struct cu_event_period **ret,
                 size_t *ret_n)
{
	struct cu_event_period *p = NULL;
	size_t np = 0;
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (g[i].kind != CU_REC_EVENT)
			continue;
		struct cu_event_note e;
		if ((r = cu_event_note_of(&g[i], &e)) < 0)
			goto fail;
		long at = e.phase == CU_EVENT_CLEAR ? open_period(p, np, &e) : -1;
		if (at >= 0) {
			p[at].to_us = e.at_us;
			continue;
		}
		if (np == CU_EVENT_PERIODS_MAX) {
			r = cu_fail(CU_ERR_LIMIT, "more than %d event periods", CU_EVENT_PERIODS_MAX);
			goto fail;
		}
		struct cu_event_period *q = realloc(p, (np + 1) * sizeof(*q));
		if (q == NULL) {
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
			goto fail;
		}
		p = q;
		q = &p[np++];
		memcpy(q->type, e.type, sizeof(q->type));
		memcpy(q->source, e.source, sizeof(q->source));
		memcpy(q->detail, e.detail, sizeof(q->detail));
		q->severity = e.severity;
		q->from_us = e.phase == CU_EVENT_CLEAR ? -1 : e.at_us;
		q->to_us = e.phase == CU_EVENT_RAISE ? -1 : e.at_us;
	}
	*ret = p;
	*ret_n = np;
	return 0;
fail:
	free(p);
	return r;
}
