/* custody — notifications: one event delivered to one target over one
 * channel (SNMP, e-mail, webhook). docs/notifications.md.
 *
 * A channel's send function makes one delivery attempt and says whether it
 * worked, failed for now (try again later), or can never work (the target
 * refuses this notice: do not retry). The caller (custodyd's outbox) keeps
 * the notice until it is delivered or given up. */
#ifndef CUSTODY_NOTIFY_H
#define CUSTODY_NOTIFY_H

#include <stdbool.h>
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
	const char *still_note;/* with no still: why the event's still is not attached
	                        * (one line, at most CU_NOTIFY_NOTE_MAX bytes), or NULL */
};

/* What a delivery attempt came to. */
enum cu_send {
	CU_SEND_OK = 0,        /* delivered (acknowledged where the channel can) */
	CU_SEND_RETRY = 1,     /* not delivered now: try again later */
	CU_SEND_REFUSED = 2,   /* the target refuses it for good: do not retry */
};

/* ---- the channels (lib/notify; docs/notifications-snmp.md) ----
 *
 * Each send function checks the notice and the target first: a notice or a
 * target that breaks a rule below is CU_SEND_REFUSED (it can never work),
 * with err naming the field and what is wrong. err (errlen bytes, cut at a
 * character boundary when longer) always says what happened on a failure,
 * and never holds a secret. Secrets are the caller's: the channel copies
 * what the protocol library needs and wipes its own copies before it
 * returns. Blocking: a send takes at most about the target's timeouts. */

#define CU_NOTIFY_HOST_MAX 253        /* a DNS name or an IP address literal */
#define CU_NOTIFY_SECRET_MAX 256      /* a passphrase, community or password */
#define CU_NOTIFY_DETAIL_MAX 1024     /* cu_notice.detail, bytes */
#define CU_NOTIFY_SITE_MAX 128        /* cu_notice.site, bytes */
#define CU_NOTIFY_STILL_MAX (8u << 20) /* cu_notice.still, bytes */
#define CU_NOTIFY_TIMEOUT_MS_MAX 60000
#define CU_NOTIFY_NOTE_MAX 128        /* cu_notice.still_note, bytes */

enum cu_snmp_version {
	CU_SNMP_V2C = 2,   /* a trap: not acknowledged, OK once sent */
	CU_SNMP_V3 = 3,    /* an inform with USM authPriv: OK only on the response */
};

struct cu_snmp_target {
	const char *host;           /* the manager: IP literal or DNS name */
	uint16_t port;              /* 0: 162 */
	enum cu_snmp_version version;
	const char *community;      /* v2c: 1..64 printable ASCII bytes */
	const char *user;           /* v3: USM user name, 1..32 printable ASCII bytes */
	const char *auth_pass;      /* v3: HMAC-SHA-1 passphrase, 8..256 bytes */
	const char *priv_pass;      /* v3: AES-128 (CFB) passphrase, 8..256 bytes */
	unsigned timeout_ms;        /* v3: wait per attempt, 0: 5000, at most 60000 */
	unsigned retries;           /* v3: attempts after the first, at most CU_SNMP_RETRIES_MAX */
};
#define CU_SNMP_RETRIES_MAX 5

/* "2c" or "3" into *ret: 0, or CU_ERR_INVAL with a detail. The one reading
 * of the word, for custody notify-test and custodyd's [snmp NAME]. */
int cu_snmp_version_parse(const char *s, enum cu_snmp_version *ret);

/* The rules cu_snmp_send checks a target against before anything goes on
 * the wire: host, version, user, community and passphrases, timeout and
 * retries. With secrets false, the community and the passphrases are not
 * looked at (a configuration is checked before its secret files are read).
 * 0, or CU_ERR_INVAL with a detail naming the field (never a secret). */
int cu_snmp_target_check(const struct cu_snmp_target *t, bool secrets);

/* Sends n to the manager t: a v2c SNMPv2-Trap, or a v3 InformRequest (the
 * receiver is authoritative: its engine ID is discovered first, RFC 3414
 * 4). Notification custodyEventRaised/Cleared/Once by n->phase, varbinds
 * of docs/CUSTODY-MIB.txt. OK: the trap left, or the inform was
 * acknowledged; RETRY: no answer, a report (wrong passphrase, unknown user)
 * or a network failure; REFUSED: n or t breaks a rule. Thread-safe (sends
 * are serialised: net-snmp's user table is global). */
enum cu_send cu_snmp_send(const struct cu_snmp_target *t, const struct cu_notice *n, char *err,
                          size_t errlen);

#define CU_SMTP_RCPT_MAX 16           /* recipients of one mail */
#define CU_SMTP_ADDR_MAX 254          /* an address (RFC 5321 path limit) */
#define CU_SMTP_URL_MAX 300           /* smtp[s]://HOST[:PORT] */

/* Checks an address: 3..CU_SMTP_ADDR_MAX bytes, local@domain, the local part
 * printable ASCII without space and without ()<>[]:;@\\,", the domain
 * letters, digits, '-' and '.'. 0, or CU_ERR_INVAL naming what. */
int cu_mail_address_check(const char *addr, const char *what);

/* "smtp://HOST[:PORT]" or "smtps://HOST[:PORT]" (an optional "/" after),
 * no user, path, query or fragment: 0, or CU_ERR_INVAL with a detail. */
int cu_smtp_url_check(const char *url);

struct cu_smtp_target {
	const char *url;            /* "smtp://HOST[:PORT]" (STARTTLS required) or
	                             * "smtps://HOST[:PORT]" (TLS from the start) */
	const char *ca_file;        /* PEM CA bundle that verifies the server; NULL: the system's */
	const char *user;           /* NULL: no AUTH */
	const char *password;       /* with user: 1..256 bytes */
	const char *from;           /* envelope and From: local@domain */
	const char *const *to;      /* 1..CU_SMTP_RCPT_MAX addresses */
	size_t n_to;
	unsigned connect_timeout_ms;/* 0: 10000, at most 60000 */
	unsigned timeout_ms;        /* the whole transfer; 0: 30000, at most 60000 */
};

/* Mails n to t's recipients: a text/plain part (event, camera, time in UTC,
 * severity, detail, event id) and, when n has a still, the JPEG as an
 * image/jpeg attachment (multipart/mixed). TLS is always verified and never
 * optional: smtp:// without STARTTLS is REFUSED before anything is sent.
 * Message-ID derives from n->id, so a repeat is recognisable. OK: the server
 * accepted the message; RETRY: a 4xx reply, a connection, TLS or timeout
 * failure; REFUSED: a 5xx reply (bad recipient, authentication refused), no
 * STARTTLS, or n or t breaking a rule. Thread-safe. */
enum cu_send cu_smtp_send(const struct cu_smtp_target *t, const struct cu_notice *n, char *err,
                          size_t errlen);

/* The rules cu_smtp_send checks a target against first: url, ca_file, from,
 * recipients, user, password, timeouts. With secrets false the password is
 * not looked at (nor whether one goes with user). 0, or CU_ERR_INVAL naming
 * the field. */
int cu_smtp_target_check(const struct cu_smtp_target *t, bool secrets);

/* A word for r: "ok", "retry", "refused". */
const char *cu_send_name(enum cu_send r);
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
