/* custody — notifications: one event delivered to one target over one
 * channel (SNMP, e-mail, webhook). docs/notifications.md.
 *
 * A channel's send function makes one delivery attempt and says whether it
 * worked, failed for now (try again later), or can never work (the target
 * refuses this notice: do not retry). The caller (custodyd's outbox) keeps
 * the notice until it is delivered or given up. */
#ifndef CUSTODY_NOTIFY_H
#define CUSTODY_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* One notification: an event as the receiver sees it. Strings are UTF-8,
 * NUL-terminated; camera may be NULL. */
struct cu_notice {
	const char *id;        /* unique per event and target, stable across retries
	                        * (receivers drop repeats by it): "evt_<32 hex>" */
	int64_t t_us;          /* when the event happened, µs since the epoch */
	const char *type;      /* "tamper.covered" (docs/events.md) */
	const char *camera;    /* NULL: not a camera's */
	const char *source;    /* "custodyd", "analysis", "onvif", "verifier" */
	const char *phase;     /* "once", "raise", "clear" */
	const char *severity;  /* "info", "warning", "major", "critical" */
	const char *detail;    /* one line for a person */
	const char *site;      /* the site's name, for the receiver's display */
	const uint8_t *still;  /* JPEG of the frame (video events), or NULL */
	size_t still_len;
};

/* What a delivery attempt came to. */
enum cu_send {
	CU_SEND_OK = 0,        /* delivered (acknowledged where the channel can) */
	CU_SEND_RETRY = 1,     /* not delivered now: try again later */
	CU_SEND_REFUSED = 2,   /* the target refuses it for good: do not retry */
};

#endif
