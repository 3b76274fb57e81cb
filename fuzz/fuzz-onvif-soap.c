/* Fuzz target: the SOAP reader of the ONVIF PullPoint client (cu_onvif_parse
 * in lib/onvif/soap.c, libxml2 underneath), which reads what a camera
 * answers; with cu_onvif_url_check (lib/onvif/client.c) and cu_onvif_bool.
 *
 * Input: one SOAP answer as bytes.
 *
 * Properties: errors are the documented ones (CU_ERR_FORMAT, CU_ERR_LIMIT);
 * nothing is written on failure; on success the kind is known, every string
 * is terminated inside its array, the message and item counts are within
 * their limits, a subscription address passes the URL check and a fault has
 * a code. */
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "custody/onvif.h"
#include "fuzz.h"

static struct cu_onvif_reply rep;

static void
terminated(const char *s, size_t cap)
{
	if (strnlen(s, cap) == cap)
		abort();
}

static void
check_items(const struct cu_onvif_item *it, size_t n)
{
	if (n > CU_ONVIF_ITEMS_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		terminated(it[i].name, sizeof(it[i].name));
		terminated(it[i].value, sizeof(it[i].value));
		if (it[i].name[0] == '\0')
			abort();
		int b = cu_onvif_bool(it[i].value);
		if (b < -1 || b > 1)
			abort();
	}
}

static void
check_reply(void)
{
	terminated(rep.address, sizeof(rep.address));
	terminated(rep.fault_code, sizeof(rep.fault_code));
	terminated(rep.fault_reason, sizeof(rep.fault_reason));
	switch (rep.kind) {
	case CU_ONVIF_SUBSCRIBED:
		if (cu_onvif_url_check(rep.address) != 0 || rep.termination_us <= 0)
			abort();
		break;
	case CU_ONVIF_RENEWED:
		if (rep.termination_us <= 0)
			abort();
		break;
	case CU_ONVIF_FAULT:
		if (rep.fault_code[0] == '\0')
			abort();
		break;
	case CU_ONVIF_PULLED:
	case CU_ONVIF_UNSUBSCRIBED:
		break;
	default:
		abort();
	}
	if (rep.nmsg > CU_ONVIF_MESSAGES_MAX || (rep.kind != CU_ONVIF_PULLED && rep.nmsg != 0))
		abort();
	for (size_t i = 0; i < rep.nmsg; i++) {
		const struct cu_onvif_msg *m = &rep.msg[i];
		terminated(m->topic, sizeof(m->topic));
		terminated(m->dialect, sizeof(m->dialect));
		if (m->op > CU_ONVIF_OP_DELETED || m->utc_us < 0)
			abort();
		if (m->onvif_topic && (m->topic[0] == '\0' || strchr(m->topic, ':') != NULL))
			abort();
		check_items(m->source, m->nsource);
		check_items(m->data, m->ndata);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = cu_fuzz_cstr(data, size < 700 ? size : 700);
	int u = cu_onvif_url_check(text);
	if (u != 0 && u != CU_ERR_FORMAT && u != CU_ERR_NOMEM)
		abort();
	free(text);

	memset(&rep, 0xa5, sizeof(rep));
	int r = cu_onvif_parse((const char *)data, size, &rep);
	if (r == 0) {
		check_reply();
	} else {
		if (r != CU_ERR_FORMAT && r != CU_ERR_LIMIT)
			abort();
		const uint8_t *b = (const uint8_t *)&rep;
		for (size_t i = 0; i < sizeof(rep); i++)
			if (b[i] != 0xa5)
				abort();
	}
	return 0;
}
