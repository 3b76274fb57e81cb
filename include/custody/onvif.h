/* custody — camera events over ONVIF (docs/onvif-events.md): the WS-Security
 * UsernameToken digest, a bounded reader of the SOAP answers a PullPoint
 * client needs, and the PullPoint client itself (HTTP or HTTPS through
 * libcurl, the certificate verified).
 *
 * Library code: nothing is printed or logged; every failure returns a
 * negative cu_err with a one-line detail (cu_error_detail()). Passwords are
 * never part of a detail. */
#ifndef CUSTODY_ONVIF_H
#define CUSTODY_ONVIF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits of what a camera may send (habit 5: over a limit is an error) ---- */
#define CU_ONVIF_XML_MAX (256 * 1024)   /* bytes of one SOAP answer */
#define CU_ONVIF_DEPTH_MAX 32           /* element nesting */
#define CU_ONVIF_ELEMENTS_MAX 8192      /* elements in one answer */
#define CU_ONVIF_MESSAGES_MAX 64        /* NotificationMessages in one PullMessagesResponse */
#define CU_ONVIF_ITEMS_MAX 8            /* SimpleItems in a Message's Source, and in its Data */
#define CU_ONVIF_TOPIC_MAX 256          /* bytes of a topic expression */
#define CU_ONVIF_DIALECT_MAX 160        /* bytes of a topic dialect URI */
#define CU_ONVIF_NAME_MAX 64            /* bytes of a SimpleItem Name */
#define CU_ONVIF_VALUE_MAX 128          /* bytes of a SimpleItem Value */
#define CU_ONVIF_URL_MAX 512            /* bytes of a service or subscription address */
#define CU_ONVIF_FAULT_MAX 256          /* bytes of a fault code or reason kept */
#define CU_ONVIF_CRED_MAX 256           /* bytes of a user name or password */

/* The one topic namespace custody interprets ("tns1:" in ONVIF's examples). */
#define CU_ONVIF_TOPICS_NS "http://www.onvif.org/ver10/topics"

/* ---- WS-Security UsernameToken (OASIS UsernameToken Profile 1.0) ---- */

#define CU_ONVIF_DIGEST_LEN 28          /* base64 of a SHA-1 digest, without NUL */

/* PasswordDigest = Base64(SHA-1(nonce + created + password)): nonce the raw
 * bytes (not their base64), created the xs:dateTime text exactly as sent.
 * Writes CU_ONVIF_DIGEST_LEN characters and a NUL. 0, CU_ERR_INVAL for a
 * NULL or over-long argument, CU_ERR_CRYPTO. */
int cu_onvif_digest(const uint8_t *nonce, size_t nonce_len, const char *created,
                    const char *password, char out[static CU_ONVIF_DIGEST_LEN + 1]);

/* ---- the SOAP reader ---- */

enum cu_onvif_kind {
	CU_ONVIF_NONE,
	CU_ONVIF_SUBSCRIBED,    /* tev:CreatePullPointSubscriptionResponse */
	CU_ONVIF_PULLED,        /* tev:PullMessagesResponse */
	CU_ONVIF_RENEWED,       /* wsnt:RenewResponse */
	CU_ONVIF_UNSUBSCRIBED,  /* wsnt:UnsubscribeResponse */
	CU_ONVIF_FAULT,         /* soap:Fault (SOAP 1.2) */
};

enum cu_onvif_op {
	CU_ONVIF_OP_NONE,        /* no PropertyOperation: a plain event */
	CU_ONVIF_OP_INITIALIZED, /* the state when the subscription began */
	CU_ONVIF_OP_CHANGED,
	CU_ONVIF_OP_DELETED,
};

struct cu_onvif_item {
	char name[CU_ONVIF_NAME_MAX + 1];
	char value[CU_ONVIF_VALUE_MAX + 1];
};

struct cu_onvif_msg {
	/* The topic with every prefix that names CU_ONVIF_TOPICS_NS taken off
	 * ("VideoSource/ImageTooDark/ImagingService"); onvif_topic is false when
	 * a part is in another namespace (then topic is the text as sent). */
	char topic[CU_ONVIF_TOPIC_MAX + 1];
	bool onvif_topic;
	char dialect[CU_ONVIF_DIALECT_MAX + 1];   /* the Topic's Dialect, "" if none */
	int64_t utc_us;                            /* tt:Message UtcTime; 0 if absent */
	enum cu_onvif_op op;
	size_t nsource, ndata;
	struct cu_onvif_item source[CU_ONVIF_ITEMS_MAX];
	struct cu_onvif_item data[CU_ONVIF_ITEMS_MAX];
};

/* What one answer says. Large (about 230 KiB): allocate it. */
struct cu_onvif_reply {
	enum cu_onvif_kind kind;
	char address[CU_ONVIF_URL_MAX + 1];        /* SUBSCRIBED: SubscriptionReference/Address */
	int64_t current_us, termination_us;        /* CurrentTime, TerminationTime; 0 if absent */
	size_t nmsg;                               /* PULLED */
	struct cu_onvif_msg msg[CU_ONVIF_MESSAGES_MAX];
	char fault_code[CU_ONVIF_FAULT_MAX + 1];   /* FAULT: Code/Value, then each Subcode/Value, */
	char fault_reason[CU_ONVIF_FAULT_MAX + 1]; /* joined by " / "; the first Reason/Text */
};

/* Reads one SOAP 1.2 envelope (len bytes, at most CU_ONVIF_XML_MAX) into
 * *ret. Elements are matched by namespace URI and local name, never by
 * prefix. Refused with CU_ERR_FORMAT and a detail saying what was wrong: not
 * well-formed XML, a DOCTYPE (so no DTD and no entity is ever read; the
 * parser never touches the network), not a SOAP 1.2 envelope, a body that is
 * none of the answers above, a missing required part, a bad time; with
 * CU_ERR_LIMIT: over a size, depth, count or length limit. A fault is not an
 * error here: kind CU_ONVIF_FAULT. *ret is written only on success. */
int cu_onvif_parse(const char *xml, size_t len, struct cu_onvif_reply *ret);

/* The value of the SimpleItem called name in items, or NULL. */
const char *cu_onvif_item(const struct cu_onvif_item *items, size_t n, const char *name);

/* xs:boolean ("true", "false", "1", "0", surrounding blanks allowed): 1 or 0,
 * or -1 when it is none of them. */
int cu_onvif_bool(const char *s);

/* Checks an http:// or https:// service URL: at most CU_ONVIF_URL_MAX - 1
 * bytes, no user:password part, a host. 0 or CU_ERR_FORMAT with a detail. */
int cu_onvif_url_check(const char *url);

/* ---- the PullPoint client ---- */

typedef struct cu_onvif cu_onvif;

struct cu_onvif_opts {
	const char *url;          /* the event service (http:// or https://) */
	const char *user;         /* NULL: no UsernameToken */
	const char *password;     /* copied; wiped at cu_onvif_close */
	const char *ca_file;      /* https: the CA to verify with; NULL: the system's */
	int connect_timeout_ms;   /* 0: 5000 */
	int timeout_ms;           /* one request besides PullMessages' own wait; 0: 10000 */
	const atomic_bool *cancel; /* when it becomes true, a request ends (CU_ERR_CANCELLED) */
};

/* Makes a client (no request yet). CU_ERR_INVAL for a bad option. */
int cu_onvif_open(const struct cu_onvif_opts *o, cu_onvif **ret);

/* Frees the client and wipes its password. NULL is accepted. */
void cu_onvif_close(cu_onvif *c);

/* CreatePullPointSubscription with InitialTerminationTime PT<termination_s>S
 * and the topic filter (a TopicExpression, ConcreteSet dialect; NULL: all
 * events). On success *ret is the answer (kind CU_ONVIF_SUBSCRIBED) and the
 * client posts later requests to the subscription's address: the camera's
 * address is kept when it has the event service's scheme, host and port,
 * else only its path and query are used on the configured origin (a camera
 * never sends custody to another host, nor from https to http).
 * Errors: CU_ERR_IO (connection, timeout, HTTP status), CU_ERR_AUTH (the
 * camera refused the credentials: HTTP 401, or a fault such as
 * ter:NotAuthorized / wsse:FailedAuthentication), CU_ERR_UNSUPPORTED (any
 * other SOAP fault; the detail has its code and reason), CU_ERR_FORMAT or
 * CU_ERR_LIMIT (the answer), CU_ERR_CANCELLED. */
int cu_onvif_subscribe(cu_onvif *c, unsigned termination_s, const char *filter,
                       struct cu_onvif_reply *ret);

/* PullMessages with Timeout PT<wait_s>S and MessageLimit limit; the camera
 * may hold the request up to wait_s. Errors as cu_onvif_subscribe. */
int cu_onvif_pull(cu_onvif *c, unsigned wait_s, unsigned limit, struct cu_onvif_reply *ret);

/* Renew with TerminationTime PT<termination_s>S. */
int cu_onvif_renew(cu_onvif *c, unsigned termination_s, struct cu_onvif_reply *ret);

/* Unsubscribe; not cancelled by opts.cancel (it is what stopping sends). */
int cu_onvif_unsubscribe(cu_onvif *c);

/* The address requests go to now ("" before a subscription). */
const char *cu_onvif_address(const cu_onvif *c);

/* The text of a request (for the tests and the fuzz corpus): the envelope
 * that cu_onvif_subscribe/pull/renew/unsubscribe would send for action
 * ("subscribe", "pull", "renew", "unsubscribe"), with the given nonce and
 * created time, into out (cap bytes, NUL-terminated). 0, CU_ERR_LIMIT,
 * CU_ERR_INVAL. */
int cu_onvif_request_text(const cu_onvif *c, const char *action, unsigned arg1, unsigned arg2,
                          const char *filter, const uint8_t nonce[static 16], const char *created,
                          char *out, size_t cap);

#endif
