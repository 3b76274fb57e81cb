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

/* ---- webhooks (lib/notify/webhook.c): Standard Webhooks over HTTPS ---- */

#define CU_WEBHOOK_URL_MAX 1024
#define CU_WEBHOOK_SECRET_MIN 16        /* bytes of an HMAC secret (whsec_ decoded) */
#define CU_WEBHOOK_SECRET_MAX 64
#define CU_WEBHOOK_BODY_MAX 8192        /* the JSON body we send */
#define CU_WEBHOOK_RESPONSE_MAX 65536   /* response bytes read (more: the attempt fails) */
#define CU_WEBHOOK_SIG_MAX 256          /* the webhook-signature header's value */
#define CU_WEBHOOK_RETRY_AFTER_MAX_US (3600 * INT64_C(1000000)) /* Retry-After honoured up to 1 h */

struct cu_sign_key;

/* One webhook receiver. At least one of secret and signer is given. */
struct cu_webhook_target {
	const char *url;                  /* https:// only */
	const char *ca_file;              /* PEM bundle to trust; NULL: the system's */
	const uint8_t *secret;            /* HMAC-SHA256 key ("v1,"), or NULL */
	size_t secret_len;
	struct cu_sign_key *signer;       /* Ed25519 ("v1a,"), or NULL */
	int64_t timeout_us;               /* whole attempt; 0 = 10 s */
};

/* Parses a secret "whsec_<base64>" (CU_WEBHOOK_SECRET_MIN..MAX bytes) into
 * out: 0 and *ret_len, or CU_ERR_FORMAT naming what is wrong. */
int cu_webhook_secret_parse(const char *text, uint8_t out[static CU_WEBHOOK_SECRET_MAX],
                            size_t *ret_len);

/* The JSON body of a notice (docs/notifications.md), malloc'd, NUL-terminated. */
int cu_webhook_body(const struct cu_notice *n, char **ret, size_t *ret_len);

/* The webhook-signature value for id, timestamp (s) and body: "v1,<b64>"
 * and/or "v1a,<b64>", space-separated. */
int cu_webhook_sign(const struct cu_webhook_target *t, const char *id, int64_t ts,
                    const char *body, size_t len, char out[static CU_WEBHOOK_SIG_MAX]);

/* A Retry-After value (RFC 9110 §10.2.3: delay-seconds or an IMF-fixdate)
 * as a delay from now_us, bounded to CU_WEBHOOK_RETRY_AFTER_MAX_US; a date
 * in the past is 0. CU_ERR_FORMAT for anything else. */
int cu_webhook_retry_after(const char *value, int64_t now_us, int64_t *ret_delay_us);

/* The Ed25519 public key receivers verify v1a with, as base64 (padded). */
#define CU_WEBHOOK_KEY_TEXT 48
int cu_webhook_key_text(const uint8_t pub[static 32], char out[static CU_WEBHOOK_KEY_TEXT]);

/* One POST of n to t (libcurl; certificate and host name verified, no
 * redirects). 2xx: CU_SEND_OK. 408, 429, 5xx, a network or TLS failure or a
 * timeout: CU_SEND_RETRY, with *retry_after_us the Retry-After delay when the
 * answer had one (else -1). Other answers: CU_SEND_REFUSED. err gets one
 * line on failure. The channel shape (docs/notifications.md). */
enum cu_send cu_webhook_send(const struct cu_webhook_target *t, const struct cu_notice *n,
                             int64_t *retry_after_us, char *err, size_t errlen);

#endif
