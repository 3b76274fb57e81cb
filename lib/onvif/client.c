/* The ONVIF PullPoint client (ONVIF Core Specification, "Real-time Pull-Point
 * Notification Interface"; WS-BaseNotification for Renew and Unsubscribe):
 * SOAP 1.2 over HTTP or HTTPS through libcurl, every request signed with a
 * WS-Security UsernameToken digest with a fresh nonce, every answer bounded
 * (CU_ONVIF_XML_MAX) and read by cu_onvif_parse. docs/onvif-events.md. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "custody/buf.h"
#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/onvif.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/util.h"
#include "util/base64.h"

#define NS_DECLS                                                                   \
	" xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\""                      \
	" xmlns:a=\"http://www.w3.org/2005/08/addressing\""                         \
	" xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\""                     \
	" xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\""                        \
	" xmlns:tns1=\"" CU_ONVIF_TOPICS_NS "\""
#define NS_WSSE "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define NS_WSU "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define PW_DIGEST "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
#define B64_BINARY "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
#define CONCRETE_SET "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"

#define REQUEST_MAX (16 * 1024)         /* bytes of a request we write */
#define FILTER_MAX 2048                 /* bytes of a topic filter */
#define NONCE_LEN 16
#define CONNECT_MS_DEFAULT 5000
#define TIMEOUT_MS_DEFAULT 10000
#define WAIT_S_MAX 600                  /* PullMessages Timeout, termination: seconds */
#define TERMINATION_S_MAX 86400
#define MESSAGE_LIMIT_MAX CU_ONVIF_MESSAGES_MAX

struct action {
	const char *name;                /* for cu_onvif_request_text and messages */
	const char *uri;                 /* wsa:Action and the SOAP action parameter */
	const char *label;               /* what a person reads in a detail */
};

static const struct action SUBSCRIBE = {"subscribe",
	"http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest",
	"CreatePullPointSubscription"};
static const struct action PULL = {"pull",
	"http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest",
	"PullMessages"};
static const struct action RENEW = {"renew",
	"http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest", "Renew"};
static const struct action UNSUBSCRIBE = {"unsubscribe",
	"http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest", "Unsubscribe"};

struct cu_onvif {
	CURL *curl;
	char url[CU_ONVIF_URL_MAX];       /* the configured event service */
	char post[CU_ONVIF_URL_MAX];      /* where requests go now */
	char to[CU_ONVIF_URL_MAX];        /* wsa:To: the address as the camera gave it */
	bool have_user;
	char user[CU_ONVIF_CRED_MAX + 1];
	char password[CU_ONVIF_CRED_MAX + 1]; /* wiped at close */
	char ca_file[PATH_MAX];           /* "" = the system's CAs */
	long connect_ms, timeout_ms;
	const atomic_bool *cancel;
	bool cancellable;                 /* this request ends when *cancel */
	bool over;                        /* the answer passed CU_ONVIF_XML_MAX */
	bool http_digest;                 /* the camera asked for HTTP Digest (a 401) */
	int64_t clock_offset_us;          /* the camera's clock minus ours, from its CurrentTime */
	cu_buf answer;
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void
curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- URLs ---- */

static bool
url_part(CURLU *u, CURLUPart part, unsigned flags, char *out, size_t cap)
{
	char *v = NULL;
	if (curl_url_get(u, part, &v, flags) != CURLUE_OK) {
		out[0] = '\0';
		return false;
	}
	bool ok = strlen(v) < cap;
	if (ok)
		memcpy(out, v, strlen(v) + 1);
	curl_free(v);
	return ok;
}

/* Does the parsed URL have this part (a user, a password, a fragment)? */
static bool
has_part(CURLU *u, CURLUPart part)
{
	char *v = NULL;
	if (curl_url_get(u, part, &v, 0) != CURLUE_OK)
		return false;
	curl_free(v);
	return true;
}

int
cu_onvif_url_check(const char *url)
{
	if (url == NULL)
		return cu_fail(CU_ERR_FORMAT, "no URL");
	size_t n = strlen(url);
	if (n == 0 || n >= CU_ONVIF_URL_MAX)
		return cu_fail(CU_ERR_FORMAT, "a URL of 1..%d bytes is needed", CU_ONVIF_URL_MAX - 1);
	if (cu_text_check(url, n, CU_ONVIF_URL_MAX, 0) < 0 || strpbrk(url, " \"<>\\^`{|}") != NULL)
		return cu_fail(CU_ERR_FORMAT, "\"%.64s\": a URL has no blanks, controls or quotes", url);
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return cu_fail(CU_ERR_FORMAT, "\"%.64s\" is not an http:// or https:// URL", url);
	CURLU *u = curl_url();
	if (u == NULL)
		return cu_fail(CU_ERR_NOMEM, "URL parser");
	int r = 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		r = cu_fail(CU_ERR_FORMAT, "\"%.64s\" is not a valid URL", url);
	else if (has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD))
		r = cu_fail(CU_ERR_FORMAT, "\"%.64s\": credentials go in a file, never in a URL", url);
	else if (has_part(u, CURLUPART_FRAGMENT))
		r = cu_fail(CU_ERR_FORMAT, "\"%.64s\": a service URL has no #fragment", url);
	curl_url_cleanup(u);
	return r;
}

/* Where later requests go: the camera's address when it has the configured
 * scheme, host and port; else its path and query on the configured origin. */
static int
adopt_address(cu_onvif *c, const char *addr)
{
	CURLU *base = curl_url(), *got = curl_url();
	char s1[16], s2[16], h1[256], h2[256], p1[8], p2[8], path[CU_ONVIF_URL_MAX];
	char query[CU_ONVIF_URL_MAX];
	int r = 0;
	if (base == NULL || got == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "URL parser");
		goto out;
	}
	if (curl_url_set(base, CURLUPART_URL, c->url, 0) != CURLUE_OK ||
	    curl_url_set(got, CURLUPART_URL, addr, 0) != CURLUE_OK ||
	    !url_part(base, CURLUPART_SCHEME, 0, s1, sizeof(s1)) ||
	    !url_part(got, CURLUPART_SCHEME, 0, s2, sizeof(s2)) ||
	    !url_part(base, CURLUPART_HOST, 0, h1, sizeof(h1)) ||
	    !url_part(got, CURLUPART_HOST, 0, h2, sizeof(h2)) ||
	    !url_part(base, CURLUPART_PORT, CURLU_DEFAULT_PORT, p1, sizeof(p1)) ||
	    !url_part(got, CURLUPART_PORT, CURLU_DEFAULT_PORT, p2, sizeof(p2)) ||
	    !url_part(got, CURLUPART_PATH, 0, path, sizeof(path))) {
		r = cu_fail(CU_ERR_FORMAT, "the subscription address \"%.96s\" is not a usable URL",
		            addr);
		goto out;
	}
	memcpy(c->to, addr, strlen(addr) + 1);
	if (strcasecmp(s1, s2) == 0 && strcasecmp(h1, h2) == 0 && strcmp(p1, p2) == 0) {
		memcpy(c->post, addr, strlen(addr) + 1);
		goto out;
	}
	/* another host or scheme (NAT, a camera that names its LAN address):
	 * custody never follows it, it keeps the origin it was configured with */
	bool q = url_part(got, CURLUPART_QUERY, 0, query, sizeof(query));
	char *full = NULL;
	if (curl_url_set(base, CURLUPART_PATH, path, 0) != CURLUE_OK ||
	    curl_url_set(base, CURLUPART_QUERY, q ? query : NULL, 0) != CURLUE_OK ||
	    curl_url_get(base, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		r = cu_fail(CU_ERR_FORMAT, "the subscription address \"%.96s\" is not a usable URL",
		            addr);
		goto out;
	}
	if (strlen(full) >= sizeof(c->post))
		r = cu_fail(CU_ERR_LIMIT, "the subscription address is too long");
	else
		memcpy(c->post, full, strlen(full) + 1);
	curl_free(full);
out:
	curl_url_cleanup(base);
	curl_url_cleanup(got);
	return r;
}

/* ---- requests ---- */

static int
put(cu_buf *b, const char *s)
{
	return cu_buf_append(b, s, strlen(s));
}

/* Text as XML character data or an attribute value. */
static int
put_esc(cu_buf *b, const char *s)
{
	int r = 0;
	for (const char *p = s; r == 0 && *p != '\0'; p++) {
		switch (*p) {
		case '<': r = put(b, "&lt;"); break;
		case '>': r = put(b, "&gt;"); break;
		case '&': r = put(b, "&amp;"); break;
		case '"': r = put(b, "&quot;"); break;
		case '\'': r = put(b, "&apos;"); break;
		default: r = cu_buf_append(b, p, 1); break;
		}
	}
	return r;
}

/* pre, the decimal v, post. */
static int
put_u(cu_buf *b, const char *pre, unsigned v, const char *post)
{
	char t[16];
	int n = snprintf(t, sizeof(t), "%u", v);
	if (n < 0 || (size_t)n >= sizeof(t))
		return cu_fail(CU_ERR_LIMIT, "request number");
	int r = put(b, pre);
	if (r == 0)
		r = put(b, t);
	return r < 0 ? r : put(b, post);
}

static int
put_security(const cu_onvif *c, cu_buf *b, const uint8_t nonce[static NONCE_LEN],
             const char *created)
{
	char digest[CU_ONVIF_DIGEST_LEN + 1], nonce64[32];
	int r = cu_onvif_digest(nonce, NONCE_LEN, created, c->password, digest);
	if (r == 0)
		r = cu_b64_encode(nonce, NONCE_LEN, CU_B64_PAD, nonce64, sizeof(nonce64));
	if (r < 0)
		return r;
	if ((r = put(b, "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"" NS_WSSE "\" "
	             "xmlns:wsu=\"" NS_WSU "\"><wsse:UsernameToken><wsse:Username>")) < 0 ||
	    (r = put_esc(b, c->user)) < 0 ||
	    (r = put(b, "</wsse:Username><wsse:Password Type=\"" PW_DIGEST "\">")) < 0 ||
	    (r = put(b, digest)) < 0 ||
	    (r = put(b, "</wsse:Password><wsse:Nonce EncodingType=\"" B64_BINARY "\">")) < 0 ||
	    (r = put(b, nonce64)) < 0 || (r = put(b, "</wsse:Nonce><wsu:Created>")) < 0 ||
	    (r = put_esc(b, created)) < 0 ||
	    (r = put(b, "</wsu:Created></wsse:UsernameToken></wsse:Security>")) < 0)
		return r;
	return 0;
}

/* A version 4 UUID from the message id's random bytes. */
static void
uuid_text(const uint8_t in[static 16], char out[static 37])
{
	uint8_t u[16];
	memcpy(u, in, 16);
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 15];
	}
	out[o] = '\0';
}

static int
build(const cu_onvif *c, const struct action *a, unsigned arg1, unsigned arg2, const char *filter,
      const uint8_t nonce[static NONCE_LEN], const uint8_t msgid[static 16], const char *created,
      cu_buf *b)
{
	char uuid[37];
	int r;
	uuid_text(msgid, uuid);
	if ((r = put(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<s:Envelope" NS_DECLS
	             "><s:Header>")) < 0)
		return r;
	if (c->have_user && (r = put_security(c, b, nonce, created)) < 0)
		return r;
	if ((r = put(b, "<a:Action s:mustUnderstand=\"1\">")) < 0 || (r = put(b, a->uri)) < 0 ||
	    (r = put(b, "</a:Action><a:MessageID>urn:uuid:")) < 0 || (r = put(b, uuid)) < 0 ||
	    (r = put(b, "</a:MessageID><a:To s:mustUnderstand=\"1\">")) < 0 ||
	    (r = put_esc(b, a == &SUBSCRIBE || c->to[0] == '\0' ? c->url : c->to)) < 0 ||
	    (r = put(b, "</a:To></s:Header><s:Body>")) < 0)
		return r;
	if (a == &SUBSCRIBE) {
		if ((r = put(b, "<tev:CreatePullPointSubscription>")) < 0)
			return r;
		if (filter != NULL &&
		    ((r = put(b, "<tev:Filter><wsnt:TopicExpression Dialect=\"" CONCRETE_SET "\">")) < 0 ||
		     (r = put_esc(b, filter)) < 0 ||
		     (r = put(b, "</wsnt:TopicExpression></tev:Filter>")) < 0))
			return r;
		if ((r = put_u(b, "<tev:InitialTerminationTime>PT", arg1,
		               "S</tev:InitialTerminationTime>")) < 0 ||
		    (r = put(b, "</tev:CreatePullPointSubscription>")) < 0)
			return r;
	} else if (a == &PULL) {
		if ((r = put_u(b, "<tev:PullMessages><tev:Timeout>PT", arg1, "S</tev:Timeout>")) < 0 ||
		    (r = put_u(b, "<tev:MessageLimit>", arg2, "</tev:MessageLimit></tev:PullMessages>")) < 0)
			return r;
	} else if (a == &RENEW) {
		if ((r = put_u(b, "<wsnt:Renew><wsnt:TerminationTime>PT", arg1,
		               "S</wsnt:TerminationTime></wsnt:Renew>")) < 0)
			return r;
	} else if ((r = put(b, "<wsnt:Unsubscribe/>")) < 0) {
		return r;
	}
	return put(b, "</s:Body></s:Envelope>\n");
}

static const struct action *
action_named(const char *name)
{
	static const struct action *const all[] = {&SUBSCRIBE, &PULL, &RENEW, &UNSUBSCRIBE};
	for (size_t i = 0; name != NULL && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

static int
check_args(const struct action *a, unsigned arg1, unsigned arg2, const char *filter)
{
	if (a == &SUBSCRIBE || a == &RENEW) {
		if (arg1 == 0 || arg1 > TERMINATION_S_MAX)
			return cu_fail(CU_ERR_INVAL, "%s: a termination time of 1..%d s", a->label,
			               TERMINATION_S_MAX);
	} else if (a == &PULL) {
		if (arg1 == 0 || arg1 > WAIT_S_MAX || arg2 == 0 || arg2 > MESSAGE_LIMIT_MAX)
			return cu_fail(CU_ERR_INVAL, "PullMessages: a wait of 1..%d s and a limit of "
			               "1..%d messages", WAIT_S_MAX, MESSAGE_LIMIT_MAX);
	}
	if (filter != NULL && (strlen(filter) == 0 || strlen(filter) > FILTER_MAX))
		return cu_fail(CU_ERR_INVAL, "topic filter: 1..%d bytes", FILTER_MAX);
	return 0;
}

int
cu_onvif_request_text(const cu_onvif *c, const char *action, unsigned arg1, unsigned arg2,
                      const char *filter, const uint8_t nonce[static 16], const char *created,
                      char *out, size_t cap)
{
	const struct action *a = action_named(action);
	if (c == NULL || a == NULL || created == NULL || out == NULL || cap == 0)
		return cu_fail(CU_ERR_INVAL, "cu_onvif_request_text: bad argument");
	int r = check_args(a, arg1, arg2, filter);
	if (r < 0)
		return r;
	static const uint8_t msgid[16];
	cu_buf b;
	cu_buf_init(&b, REQUEST_MAX);
	if ((r = build(c, a, arg1, arg2, filter, nonce, msgid, created, &b)) == 0) {
		if (b.len >= cap)
			r = cu_fail(CU_ERR_LIMIT, "request text: %zu bytes do not fit", b.len);
		else {
			memcpy(out, b.data, b.len);
			out[b.len] = '\0';
		}
	}
	cu_buf_free(&b);
	return r;
}

/* ---- the client ---- */

int
cu_onvif_open(const struct cu_onvif_opts *o, cu_onvif **ret)
{
	if (o == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_onvif_open: NULL argument");
	int r = cu_onvif_url_check(o->url);
	if (r < 0)
		return cu_fail_prefix(CU_ERR_INVAL, "ONVIF service");
	if ((o->user != NULL && (strlen(o->user) == 0 || strlen(o->user) > CU_ONVIF_CRED_MAX)) ||
	    (o->user != NULL && (o->password == NULL || strlen(o->password) > CU_ONVIF_CRED_MAX)))
		return cu_fail(CU_ERR_INVAL, "ONVIF credentials: a user name of 1..%d bytes and a "
		               "password of at most %d", CU_ONVIF_CRED_MAX, CU_ONVIF_CRED_MAX);
	if (o->ca_file != NULL && strlen(o->ca_file) >= PATH_MAX)
		return cu_fail(CU_ERR_INVAL, "ONVIF CA file: path too long");
	if (o->connect_timeout_ms < 0 || o->timeout_ms < 0)
		return cu_fail(CU_ERR_INVAL, "ONVIF timeouts: not negative");
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return cu_fail(CU_ERR_IO, "libcurl: %s", curl_easy_strerror(curl_init_result));
	cu_onvif *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return cu_fail(CU_ERR_NOMEM, "ONVIF client");
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		free(c);
		return cu_fail(CU_ERR_NOMEM, "ONVIF client: curl_easy_init");
	}
	memcpy(c->url, o->url, strlen(o->url) + 1);
	memcpy(c->post, o->url, strlen(o->url) + 1);
	if (o->user != NULL) {
		c->have_user = true;
		memcpy(c->user, o->user, strlen(o->user) + 1);
		memcpy(c->password, o->password, strlen(o->password) + 1);
	}
	if (o->ca_file != NULL)
		memcpy(c->ca_file, o->ca_file, strlen(o->ca_file) + 1);
	c->connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : CONNECT_MS_DEFAULT;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : TIMEOUT_MS_DEFAULT;
	c->cancel = o->cancel;
	cu_buf_init(&c->answer, CU_ONVIF_XML_MAX);
	*ret = c;
	return 0;
}

void
cu_onvif_close(cu_onvif *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	cu_buf_free(&c->answer);
	cu_wipe(c->password, sizeof(c->password));
	free(c);
}

const char *
cu_onvif_address(const cu_onvif *c)
{
	return c->to;
}

static size_t
on_answer(char *data, size_t size, size_t n, void *ctx)
{
	cu_onvif *c = ctx;
	if (cu_buf_append(&c->answer, data, size * n) < 0) {
		c->over = true;
		return 0;
	}
	return size * n;
}

static int
on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const cu_onvif *c = ctx;
	return c->cancellable && c->cancel != NULL && atomic_load(c->cancel);
}

static void
setup(cu_onvif *c, long total_ms)
{
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_URL, c->post);
	/* an https service is only ever spoken to over TLS, verified */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
	                 strncasecmp(c->url, "https:", 6) == 0 ? "https" : "http,https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (c->ca_file[0] != '\0') {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CU_ONVIF_XML_MAX);
	if (c->http_digest) {
		/* a camera that also wants HTTP authentication: Digest only, never
		 * Basic, so the password never crosses the wire */
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_DIGEST);
		curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
	}
}

/* Is this fault the camera refusing who we are? By the subcode's local name. */
static bool
auth_fault(const char *code)
{
	static const char *const names[] = {"NotAuthorized", "FailedAuthentication",
	                                    "InvalidSecurityToken", "FailedCheck"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(code, names[i]) != NULL)
			return true;
	return false;
}

static int
call(cu_onvif *c, const struct action *a, unsigned arg1, unsigned arg2, const char *filter,
     long extra_ms, bool cancellable, enum cu_onvif_kind want, struct cu_onvif_reply *rep)
{
	uint8_t nonce[NONCE_LEN], msgid[16];
	char created[CU_TIME_ISO_MAX];
	struct curl_slist *hdr = NULL, *t;
	cu_buf req;
	int r = check_args(a, arg1, arg2, filter);
	if (r < 0)
		return r;
	cu_buf_init(&req, REQUEST_MAX);
	cu_buf_reset(&c->answer);
	c->over = false;
	c->errbuf[0] = '\0';
	c->cancellable = cancellable;
	/* the camera checks Created against its own clock: custody speaks its time */
	int64_t now = cu_time_now_us() + c->clock_offset_us;
	cu_time_text(now - now % 1000000, created);
	if ((r = cu_random(nonce, sizeof(nonce))) < 0 || (r = cu_random(msgid, sizeof(msgid))) < 0 ||
	    (r = build(c, a, arg1, arg2, filter, nonce, msgid, created, &req)) < 0)
		goto out;
	char ctype[320];
	int n = snprintf(ctype, sizeof(ctype),
	                 "Content-Type: application/soap+xml; charset=utf-8; action=\"%s\"", a->uri);
	if (n < 0 || (size_t)n >= sizeof(ctype)) {
		r = cu_fail(CU_ERR_LIMIT, "%s: content type", a->label);
		goto out;
	}
	if ((hdr = curl_slist_append(NULL, ctype)) == NULL ||
	    (t = curl_slist_append(hdr, "Expect:")) == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "%s: headers", a->label);
		goto out;
	}
	hdr = t;
	CURLcode cr;
	long status = 0;
	for (int attempt = 0;; attempt++) {
		setup(c, c->timeout_ms + extra_ms);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (const char *)req.data);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)req.len);
		cr = curl_easy_perform(c->curl);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
		status = 0;
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		long avail = 0;
		curl_easy_getinfo(c->curl, CURLINFO_HTTPAUTH_AVAIL, &avail);
		/* HTTP Digest only once a camera asks for it: curl's Digest sends an
		 * empty probe first, which a camera that only checks the
		 * UsernameToken would answer with a fault */
		if (cr != CURLE_OK || status != 401 || attempt > 0 || !c->have_user ||
		    c->http_digest || !(avail & CURLAUTH_DIGEST))
			break;
		c->http_digest = true;
		cu_buf_reset(&c->answer);
	}
	if (cr == CURLE_ABORTED_BY_CALLBACK) {
		r = cu_fail(CU_ERR_CANCELLED, "%s: stopped", a->label);
		goto out;
	}
	if (c->over || cr == CURLE_FILESIZE_EXCEEDED) {
		r = cu_fail(CU_ERR_LIMIT, "%s: the answer is larger than %d bytes", a->label,
		            CU_ONVIF_XML_MAX);
		goto out;
	}
	if (cr != CURLE_OK) {
		r = cu_fail(CU_ERR_IO, "%s to %.128s: %s", a->label, c->post,
		            c->errbuf[0] ? c->errbuf : curl_easy_strerror(cr));
		goto out;
	}
	r = c->answer.len > 0 ? cu_onvif_parse((const char *)c->answer.data, c->answer.len, rep)
	                      : cu_fail(CU_ERR_FORMAT, "an empty answer");
	if (r == 0 && rep->kind == CU_ONVIF_FAULT) {
		r = cu_fail(auth_fault(rep->fault_code) ? CU_ERR_AUTH : CU_ERR_UNSUPPORTED,
		            "%s: the camera answered with a SOAP fault (HTTP %ld) %s: %s", a->label,
		            status, rep->fault_code, rep->fault_reason[0] ? rep->fault_reason : "no reason");
		goto out;
	}
	if (status == 401 || status == 403) {
		r = cu_fail(CU_ERR_AUTH, "%s: the camera refused the credentials (HTTP %ld)", a->label,
		            status);
		goto out;
	}
	if (status != 200) {
		r = cu_fail(CU_ERR_IO, "%s: HTTP %ld from %.128s", a->label, status, c->post);
		goto out;
	}
	if (r < 0) {
		r = cu_fail_prefix(r, "%s", a->label);
		goto out;
	}
	if (rep->kind != want) {
		r = cu_fail(CU_ERR_FORMAT, "%s: the camera answered with another operation's response",
		            a->label);
		goto out;
	}
	if (rep->current_us > 0)
		c->clock_offset_us = rep->current_us - cu_time_now_us();
	r = 0;
out:
	curl_slist_free_all(hdr);
	cu_buf_free(&req);
	return r;
}

int
cu_onvif_subscribe(cu_onvif *c, unsigned termination_s, const char *filter,
                   struct cu_onvif_reply *ret)
{
	if (c == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_onvif_subscribe: NULL argument");
	c->to[0] = '\0';
	memcpy(c->post, c->url, strlen(c->url) + 1);
	int r = call(c, &SUBSCRIBE, termination_s, 0, filter, 0, true, CU_ONVIF_SUBSCRIBED, ret);
	if (r == 0)
		r = adopt_address(c, ret->address);
	return r;
}

static int
need_subscription(const cu_onvif *c, const char *what)
{
	if (c->to[0] == '\0')
		return cu_fail(CU_ERR_INVAL, "%s: no subscription", what);
	return 0;
}

int
cu_onvif_pull(cu_onvif *c, unsigned wait_s, unsigned limit, struct cu_onvif_reply *ret)
{
	if (c == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_onvif_pull: NULL argument");
	int r = need_subscription(c, "PullMessages");
	return r < 0 ? r : call(c, &PULL, wait_s, limit, NULL, (long)wait_s * 1000, true,
	                        CU_ONVIF_PULLED, ret);
}

int
cu_onvif_renew(cu_onvif *c, unsigned termination_s, struct cu_onvif_reply *ret)
{
	if (c == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_onvif_renew: NULL argument");
	int r = need_subscription(c, "Renew");
	return r < 0 ? r : call(c, &RENEW, termination_s, 0, NULL, 0, true, CU_ONVIF_RENEWED, ret);
}

int
cu_onvif_unsubscribe(cu_onvif *c)
{
	if (c == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_onvif_unsubscribe: NULL argument");
	int r = need_subscription(c, "Unsubscribe");
	if (r < 0)
		return r;
	struct cu_onvif_reply *rep = malloc(sizeof(*rep));
	if (rep == NULL)
		return cu_fail(CU_ERR_NOMEM, "Unsubscribe");
	r = call(c, &UNSUBSCRIBE, 0, 0, NULL, 0, false, CU_ONVIF_UNSUBSCRIBED, rep);
	free(rep);
	if (r == 0)
		c->to[0] = '\0';
	return r;
}
