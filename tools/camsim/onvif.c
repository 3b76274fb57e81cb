/* custody-camsim's ONVIF event service: CreatePullPointSubscription,
 * PullMessages (held up to its Timeout until an event comes), Renew and
 * Unsubscribe over a minimal HTTP/1.1 server on the loopback interface, with
 * the WS-Security UsernameToken digest checked against the camera's user and
 * password. Events come from the control socket ("onvif tamper on", ...).
 *
 * A simulator, written independently of custody's client (GLib's GMarkup,
 * GChecksum and base64, not libcustody), so that the client is tested against
 * another reading of the specifications. Its XML reading is deliberately
 * simple: elements are recognised by local name, prefixes dropped; every
 * request is bounded (head, body, depth, text). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>

#include "onvif.h"

#define SIM_ADDRESS "127.0.0.1"
#define SIM_HEAD_MAX 8192             /* bytes of a request line and headers */
#define SIM_BODY_MAX (64 * 1024)      /* bytes of a request body */
#define SIM_CONNS_MAX 32              /* HTTP connections at once */
#define SIM_SUBS_MAX 16               /* subscriptions at once */
#define SIM_QUEUE_MAX 256             /* messages waiting in one subscription */
#define SIM_WAIT_MAX_S 60             /* longest PullMessages Timeout honoured */
#define SIM_TERM_MAX_S 3600           /* longest subscription */
#define SIM_LIMIT_MAX 100             /* most messages in one PullMessagesResponse */
#define SIM_INPUTS 4                  /* digital inputs "1".."4" */
#define SIM_SKEW_S 300                /* Created may differ from our clock by this much */
#define SIM_DEPTH_MAX 32              /* element nesting of a request */
#define SIM_TEXT_MAX 2048             /* bytes of one element's text */
#define SIM_CRED_MAX 256

#define DIALECT "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"

enum { P_SCENE, P_DARK, P_BRIGHT, P_BLURRY, P_TAMPER, P_SIGNAL, P_NPROPS };

static const struct prop {
	const char *cmd;     /* control command word */
	const char *topic;   /* without the tns1: prefix */
	const char *source;  /* the Source SimpleItems, as XML */
	const char *data;    /* the Data SimpleItem's Name */
} props[P_NPROPS] = {
	{"scene_change", "VideoSource/GlobalSceneChange/ImagingService",
	 "<tt:SimpleItem Name=\"Source\" Value=\"vs1\"/>", "State"},
	{"too_dark", "VideoSource/ImageTooDark/ImagingService",
	 "<tt:SimpleItem Name=\"Source\" Value=\"vs1\"/>", "State"},
	{"too_bright", "VideoSource/ImageTooBright/ImagingService",
	 "<tt:SimpleItem Name=\"Source\" Value=\"vs1\"/>", "State"},
	{"too_blurry", "VideoSource/ImageTooBlurry/ImagingService",
	 "<tt:SimpleItem Name=\"Source\" Value=\"vs1\"/>", "State"},
	{"tamper", "RuleEngine/TamperDetector/Tamper",
	 "<tt:SimpleItem Name=\"VideoSourceConfigurationToken\" Value=\"vsc1\"/>"
	 "<tt:SimpleItem Name=\"VideoAnalyticsConfigurationToken\" Value=\"vac1\"/>"
	 "<tt:SimpleItem Name=\"Rule\" Value=\"tamper1\"/>", "IsTamper"},
	{"signal_loss", "VideoSource/SignalLoss",
	 "<tt:SimpleItem Name=\"Source\" Value=\"vs1\"/>", "State"},
};
#define INPUT_TOPIC "Device/Trigger/DigitalInput"

struct conn;

struct sub {
	bool used;
	unsigned id;
	gint64 expires;              /* monotonic µs */
	gchar **filter;              /* topic terms without "tns1:"; NULL: every topic */
	GQueue queue;                /* of gchar *: NotificationMessage elements */
	struct conn *waiting;        /* a PullMessages held open */
	unsigned limit;              /* its MessageLimit */
	guint wait_timer;
};

struct conn {
	struct onvif_sim *s;
	GSocket *sock;
	GSource *src;
	GByteArray *buf;
	bool parked;                 /* answer pending (a held PullMessages) */
};

struct onvif_sim {
	GSocket *listener;
	GSource *src;
	int port;
	char *user, *password;       /* NULL: no authentication */
	bool state[P_NPROPS];
	bool input[SIM_INPUTS];
	struct sub subs[SIM_SUBS_MAX];
	unsigned next_id;
	GList *conns;
	unsigned nconns;
	guint64 created, renewed, unsubscribed, expired, refused, pulls;
	guint tick;
};

/* ---- times ---- */

static gchar *
utc_text(gint64 offset_s)
{
	GDateTime *now = g_date_time_new_now_utc();
	GDateTime *t = g_date_time_add_seconds(now, (gdouble)offset_s);
	gchar *s = g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ");
	g_date_time_unref(t);
	g_date_time_unref(now);
	return s;
}

/* "PT<n>S", "PT<n>M", "PT<n>H" -> seconds, or -1. */
static gint64
duration_s(const char *s)
{
	guint64 n;
	size_t len = s != NULL ? strlen(s) : 0;
	char digits[16];
	if (len < 4 || len - 3 >= sizeof(digits) || strncmp(s, "PT", 2) != 0)
		return -1;
	memcpy(digits, s + 2, len - 3);
	digits[len - 3] = '\0';
	if (!g_ascii_string_to_unsigned(digits, 10, 1, 1000000, &n, NULL))
		return -1;
	switch (s[len - 1]) {
	case 'S': return (gint64)n;
	case 'M': return (gint64)n * 60;
	case 'H': return (gint64)n * 3600;
	default: return -1;
	}
}

/* ---- reading a request ---- */

enum field { F_USER, F_PASSWORD, F_NONCE, F_CREATED, F_TERM, F_TIMEOUT, F_LIMIT, F_FILTER, F_N };
static const char *const field_names[F_N] = {
	"Username", "Password", "Nonce", "Created", "InitialTerminationTime", "Timeout",
	"MessageLimit", "TopicExpression",
};

struct req {
	char op[64];                 /* the first element in Body, local name */
	gchar *f[F_N];
	bool renew_term;             /* TerminationTime inside Renew */
	int depth;
	int body_depth;              /* depth of Body, 0 outside */
	GString *text;
};

static const char *
local_name(const char *name)
{
	const char *c = strrchr(name, ':');
	return c != NULL ? c + 1 : name;
}

static void
on_start(GMarkupParseContext *ctx, const char *name, const char **an, const char **av,
         gpointer data, GError **err)
{
	struct req *r = data;
	const char *l = local_name(name);
	if (++r->depth > SIM_DEPTH_MAX) {
		g_set_error(err, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "nested too deep");
		return;
	}
	if (strcmp(l, "Body") == 0 && r->body_depth == 0)
		r->body_depth = r->depth;
	else if (r->body_depth > 0 && r->depth == r->body_depth + 1 && r->op[0] == '\0')
		g_strlcpy(r->op, l, sizeof(r->op));
	g_string_truncate(r->text, 0);
}

static void
on_end(GMarkupParseContext *ctx, const char *name, gpointer data, GError **err)
{
	struct req *r = data;
	const char *l = local_name(name);
	for (int i = 0; i < F_N; i++)
		if (strcmp(l, field_names[i]) == 0 && r->f[i] == NULL)
			r->f[i] = g_strstrip(g_strdup(r->text->str));
	if (strcmp(l, "TerminationTime") == 0 && r->f[F_TERM] == NULL)
		r->f[F_TERM] = g_strstrip(g_strdup(r->text->str));
	g_string_truncate(r->text, 0);
	r->depth--;
}

static void
on_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data, GError **err)
{
	struct req *r = data;
	if (r->text->len + len > SIM_TEXT_MAX) {
		g_set_error(err, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "text too long");
		return;
	}
	g_string_append_len(r->text, text, (gssize)len);
}

static void
req_clear(struct req *r)
{
	for (int i = 0; i < F_N; i++)
		g_free(r->f[i]);
	g_string_free(r->text, TRUE);
}

static bool
req_parse(const char *body, size_t len, struct req *r, gchar **why)
{
	static const GMarkupParser parser = {on_start, on_end, on_text, NULL, NULL};
	memset(r, 0, sizeof(*r));
	r->text = g_string_new(NULL);
	GError *err = NULL;
	GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, r, NULL);
	bool ok = g_markup_parse_context_parse(ctx, body, (gssize)len, &err) &&
	          g_markup_parse_context_end_parse(ctx, &err);
	g_markup_parse_context_free(ctx);
	if (!ok) {
		*why = g_strdup_printf("not XML: %s", err->message);
		g_error_free(err);
		return false;
	}
	if (r->op[0] == '\0') {
		*why = g_strdup("no SOAP Body operation");
		return false;
	}
	return true;
}

/* ---- answers ---- */

static gchar *
envelope(const char *body)
{
	return g_strconcat(
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" "
		"xmlns:wsa=\"http://www.w3.org/2005/08/addressing\" "
		"xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\" "
		"xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\" "
		"xmlns:tt=\"http://www.onvif.org/ver10/schema\" "
		"xmlns:ter=\"http://www.onvif.org/ver10/error\" "
		"xmlns:tns1=\"http://www.onvif.org/ver10/topics\"><env:Body>",
		body, "</env:Body></env:Envelope>\n", NULL);
}

static gchar *
fault(const char *code, const char *subcode, const char *reason)
{
	gchar *esc = g_markup_escape_text(reason, -1);
	gchar *b = g_strdup_printf("<env:Fault><env:Code><env:Value>%s</env:Value><env:Subcode>"
	                           "<env:Value>%s</env:Value></env:Subcode></env:Code><env:Reason>"
	                           "<env:Text xml:lang=\"en\">%s</env:Text></env:Reason></env:Fault>",
	                           code, subcode, esc);
	gchar *e = envelope(b);
	g_free(esc);
	g_free(b);
	return e;
}

static void conn_close(struct conn *c);

static bool
send_all(struct conn *c, const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		gssize n = g_socket_send(c->sock, data + off, len - off, NULL, NULL);
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

/* Sends an HTTP answer with xml as its body (taken). */
static bool
respond(struct conn *c, int status, gchar *xml)
{
	const char *text = status == 200 ? "OK" : status == 400 ? "Bad Request"
	                   : status == 404 ? "Not Found" : status == 413 ? "Payload Too Large"
	                   : "Internal Server Error";
	size_t len = xml != NULL ? strlen(xml) : 0;
	gchar *head = g_strdup_printf("HTTP/1.1 %d %s\r\nContent-Type: application/soap+xml; "
	                              "charset=utf-8\r\nContent-Length: %zu\r\n\r\n", status, text, len);
	bool ok = send_all(c, head, strlen(head)) && (len == 0 || send_all(c, xml, len));
	g_free(head);
	g_free(xml);
	return ok;
}

/* ---- subscriptions and events ---- */

static struct sub *
find_sub(struct onvif_sim *s, unsigned id)
{
	for (size_t i = 0; i < SIM_SUBS_MAX; i++)
		if (s->subs[i].used && s->subs[i].id == id)
			return &s->subs[i];
	return NULL;
}

static void
sub_free(struct onvif_sim *s, struct sub *sb)
{
	if (sb->wait_timer != 0) {
		g_source_remove(sb->wait_timer);
		sb->wait_timer = 0;
	}
	if (sb->waiting != NULL) {
		sb->waiting->parked = false;
		conn_close(sb->waiting);
	}
	g_queue_clear_full(&sb->queue, g_free);
	g_strfreev(sb->filter);
	memset(sb, 0, sizeof(*sb));
}

static bool
matches(const struct sub *sb, const char *topic)
{
	if (sb->filter == NULL)
		return true;
	for (gchar **t = sb->filter; *t != NULL; t++) {
		size_t n = strlen(*t);
		if (n > 3 && (g_str_has_suffix(*t, "//.") || g_str_has_suffix(*t, "/*"))) {
			size_t p = n - (g_str_has_suffix(*t, "//.") ? 3 : 2);
			if (strncmp(topic, *t, p) == 0 && (topic[p] == '\0' || topic[p] == '/'))
				return true;
		} else if (strcmp(topic, *t) == 0) {
			return true;
		}
	}
	return false;
}

static gchar *
message_xml(const char *topic, const char *op, const char *source, const char *data, bool on)
{
	gchar *now = utc_text(0);
	gchar *m = g_strdup_printf(
		"<wsnt:NotificationMessage><wsnt:Topic Dialect=\"" DIALECT "\">tns1:%s</wsnt:Topic>"
		"<wsnt:Message><tt:Message UtcTime=\"%s\" PropertyOperation=\"%s\"><tt:Source>%s"
		"</tt:Source><tt:Data><tt:SimpleItem Name=\"%s\" Value=\"%s\"/></tt:Data></tt:Message>"
		"</wsnt:Message></wsnt:NotificationMessage>",
		topic, now, op, source, data, on ? "true" : "false");
	g_free(now);
	return m;
}

static void
input_source(unsigned i, char *out, size_t cap)
{
	g_snprintf(out, cap, "<tt:SimpleItem Name=\"InputToken\" Value=\"%u\"/>", i + 1);
}

static void flush_waiting(struct onvif_sim *s, struct sub *sb);

/* Queues one message for every subscription whose filter takes the topic. */
static void
publish(struct onvif_sim *s, const char *topic, const char *source, const char *data, bool on)
{
	for (size_t i = 0; i < SIM_SUBS_MAX; i++) {
		struct sub *sb = &s->subs[i];
		if (!sb->used || !matches(sb, topic))
			continue;
		if (g_queue_get_length(&sb->queue) >= SIM_QUEUE_MAX)
			g_free(g_queue_pop_head(&sb->queue)); /* oldest dropped, as a camera would */
		g_queue_push_tail(&sb->queue, message_xml(topic, "Changed", source, data, on));
		flush_waiting(s, sb);
	}
}

/* The initial state of every property the filter takes. */
static void
initial_state(struct onvif_sim *s, struct sub *sb)
{
	for (int p = 0; p < P_NPROPS; p++)
		if (matches(sb, props[p].topic))
			g_queue_push_tail(&sb->queue, message_xml(props[p].topic, "Initialized",
			                  props[p].source, props[p].data, s->state[p]));
	for (unsigned i = 0; i < SIM_INPUTS; i++) {
		char src[96];
		input_source(i, src, sizeof(src));
		if (matches(sb, INPUT_TOPIC))
			g_queue_push_tail(&sb->queue, message_xml(INPUT_TOPIC, "Initialized", src,
			                  "LogicalState", s->input[i]));
	}
}

static gchar *
pulled(struct onvif_sim *s, struct sub *sb, unsigned limit)
{
	GString *b = g_string_new("<tev:PullMessagesResponse><tev:CurrentTime>");
	gchar *now = utc_text(0);
	gchar *term = utc_text((sb->expires - g_get_monotonic_time()) / G_USEC_PER_SEC);
	g_string_append_printf(b, "%s</tev:CurrentTime><tev:TerminationTime>%s</tev:TerminationTime>",
	                       now, term);
	for (unsigned n = 0; n < limit && !g_queue_is_empty(&sb->queue); n++) {
		gchar *m = g_queue_pop_head(&sb->queue);
		g_string_append(b, m);
		g_free(m);
	}
	g_string_append(b, "</tev:PullMessagesResponse>");
	g_free(now);
	g_free(term);
	gchar *e = envelope(b->str);
	g_string_free(b, TRUE);
	s->pulls++;
	return e;
}

static void conn_resume(struct conn *c);

/* Answers a held PullMessages (events arrived, or its Timeout passed). */
static void
answer_waiting(struct onvif_sim *s, struct sub *sb)
{
	struct conn *c = sb->waiting;
	if (c == NULL)
		return;
	sb->waiting = NULL;
	if (sb->wait_timer != 0) {
		g_source_remove(sb->wait_timer);
		sb->wait_timer = 0;
	}
	c->parked = false;
	if (!respond(c, 200, pulled(s, sb, sb->limit)))
		conn_close(c);
	else
		conn_resume(c);
}

static void
flush_waiting(struct onvif_sim *s, struct sub *sb)
{
	if (sb->waiting != NULL && !g_queue_is_empty(&sb->queue))
		answer_waiting(s, sb);
}

static gboolean
wait_over(gpointer data)
{
	struct sub *sb = data;
	sb->wait_timer = 0;
	answer_waiting(sb->waiting->s, sb);
	return G_SOURCE_REMOVE;
}

static void
expire(struct onvif_sim *s)
{
	gint64 now = g_get_monotonic_time();
	for (size_t i = 0; i < SIM_SUBS_MAX; i++)
		if (s->subs[i].used && s->subs[i].expires < now) {
			s->expired++;
			sub_free(s, &s->subs[i]);
		}
}

static gboolean
on_tick(gpointer data)
{
	expire(data);
	return G_SOURCE_CONTINUE;
}

/* ---- the operations ---- */

static bool
ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* NULL when the UsernameToken is right, else why not (to g_free). */
static gchar *
check_token(struct onvif_sim *s, const struct req *r)
{
	if (s->user == NULL)
		return NULL;
	if (r->f[F_USER] == NULL || r->f[F_PASSWORD] == NULL || r->f[F_NONCE] == NULL ||
	    r->f[F_CREATED] == NULL)
		return g_strdup("no UsernameToken");
	if (!ct_equal(r->f[F_USER], s->user))
		return g_strdup("unknown user");
	GDateTime *created = g_date_time_new_from_iso8601(r->f[F_CREATED], NULL);
	if (created == NULL)
		return g_strdup("Created is not a date and time");
	GDateTime *now = g_date_time_new_now_utc();
	GTimeSpan skew = g_date_time_difference(now, created);
	g_date_time_unref(now);
	g_date_time_unref(created);
	if (skew > SIM_SKEW_S * G_TIME_SPAN_SECOND || skew < -SIM_SKEW_S * G_TIME_SPAN_SECOND)
		return g_strdup("Created is too far from the camera's clock");
	gsize nlen = 0;
	guchar *nonce = g_base64_decode(r->f[F_NONCE], &nlen);
	GChecksum *sha1 = g_checksum_new(G_CHECKSUM_SHA1);
	guint8 d[20];
	gsize dlen = sizeof(d);
	g_checksum_update(sha1, nonce, (gssize)nlen);
	g_checksum_update(sha1, (const guchar *)r->f[F_CREATED], -1);
	g_checksum_update(sha1, (const guchar *)s->password, -1);
	g_checksum_get_digest(sha1, d, &dlen);
	g_checksum_free(sha1);
	g_free(nonce);
	gchar *want = g_base64_encode(d, dlen);
	bool ok = nlen > 0 && ct_equal(r->f[F_PASSWORD], want);
	g_free(want);
	return ok ? NULL : g_strdup("wrong password digest");
}

static struct sub *
new_sub(struct onvif_sim *s)
{
	for (size_t i = 0; i < SIM_SUBS_MAX; i++)
		if (!s->subs[i].used) {
			struct sub *sb = &s->subs[i];
			memset(sb, 0, sizeof(*sb));
			sb->used = true;
			sb->id = ++s->next_id;
			g_queue_init(&sb->queue);
			return sb;
		}
	return NULL;
}

static gchar **
parse_filter(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return NULL;
	gchar **terms = g_strsplit(text, "|", 32);
	for (gchar **t = terms; *t != NULL; t++) {
		GString *g = g_string_new(NULL);
		for (const char *p = g_strstrip(*t); *p != '\0'; p++) {
			if (strncmp(p, "tns1:", 5) == 0)
				p += 4;
			else
				g_string_append_c(g, *p);
		}
		g_free(*t);
		*t = g_string_free(g, FALSE);
	}
	return terms;
}

/* Handles one request; returns false when the connection must close. A held
 * PullMessages parks the connection and returns true. */
static bool
handle(struct conn *c, const char *path, const char *body, size_t len)
{
	struct onvif_sim *s = c->s;
	struct req r;
	gchar *why = NULL;
	bool ok;
	expire(s);
	if (!req_parse(body, len, &r, &why)) {
		ok = respond(c, 400, fault("env:Sender", "ter:WellFormed", why));
		goto out;
	}
	if ((why = check_token(s, &r)) != NULL) {
		s->refused++;
		g_printerr("camsim: onvif: refused %s: %s\n", r.op, why);
		ok = respond(c, 400, fault("env:Sender", "ter:NotAuthorized", "Sender not Authorized"));
		goto out;
	}
	if (strcmp(path, "/onvif/event_service") == 0) {
		if (strcmp(r.op, "CreatePullPointSubscription") != 0) {
			ok = respond(c, 400, fault("env:Sender", "ter:ActionNotSupported", r.op));
			goto out;
		}
		gint64 term = r.f[F_TERM] != NULL ? duration_s(r.f[F_TERM]) : 60;
		struct sub *sb;
		if (term <= 0 || term > SIM_TERM_MAX_S) {
			ok = respond(c, 400, fault("env:Sender", "ter:InvalidArgVal",
			                           "InitialTerminationTime: PT<n>S up to an hour"));
		} else if ((sb = new_sub(s)) == NULL) {
			ok = respond(c, 500, fault("env:Receiver", "ter:Action",
			                           "too many subscriptions"));
		} else {
			sb->expires = g_get_monotonic_time() + term * G_USEC_PER_SEC;
			sb->filter = parse_filter(r.f[F_FILTER]);
			initial_state(s, sb);
			s->created++;
			gchar *now = utc_text(0), *end = utc_text(term);
			gchar *b = g_strdup_printf(
				"<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
				"<wsa:Address>http://" SIM_ADDRESS ":%d/onvif/subscription/%u</wsa:Address>"
				"</tev:SubscriptionReference><wsnt:CurrentTime>%s</wsnt:CurrentTime>"
				"<wsnt:TerminationTime>%s</wsnt:TerminationTime>"
				"</tev:CreatePullPointSubscriptionResponse>", s->port, sb->id, now, end);
			ok = respond(c, 200, envelope(b));
			g_free(b);
			g_free(now);
			g_free(end);
		}
		goto out;
	}
	guint64 id = 0;
	struct sub *sb = NULL;
	if (g_str_has_prefix(path, "/onvif/subscription/") &&
	    g_ascii_string_to_unsigned(path + 20, 10, 1, G_MAXUINT, &id, NULL))
		sb = find_sub(s, (unsigned)id);
	if (sb == NULL) {
		ok = respond(c, 400, fault("env:Sender", "ter:InvalidArgVal",
		                           "no such subscription (expired or unsubscribed)"));
		goto out;
	}
	if (strcmp(r.op, "PullMessages") == 0) {
		gint64 wait = duration_s(r.f[F_TIMEOUT]);
		guint64 limit = 0;
		if (wait <= 0 || r.f[F_LIMIT] == NULL ||
		    !g_ascii_string_to_unsigned(r.f[F_LIMIT], 10, 1, SIM_LIMIT_MAX, &limit, NULL)) {
			ok = respond(c, 400, fault("env:Sender", "ter:InvalidArgVal",
			                           "Timeout PT<n>S and MessageLimit 1..100 are needed"));
			goto out;
		}
		if (sb->waiting != NULL) {
			ok = respond(c, 400, fault("env:Sender", "ter:InvalidArgVal",
			                           "a PullMessages is already waiting"));
			goto out;
		}
		sb->limit = (unsigned)limit;
		if (!g_queue_is_empty(&sb->queue)) {
			ok = respond(c, 200, pulled(s, sb, sb->limit));
			goto out;
		}
		sb->waiting = c;
		c->parked = true;
		sb->wait_timer = g_timeout_add_seconds((guint)MIN(wait, SIM_WAIT_MAX_S), wait_over, sb);
		ok = true;
	} else if (strcmp(r.op, "Renew") == 0) {
		gint64 term = duration_s(r.f[F_TERM]);
		if (term <= 0 || term > SIM_TERM_MAX_S) {
			ok = respond(c, 400, fault("env:Sender", "ter:InvalidArgVal",
			                           "TerminationTime: PT<n>S up to an hour"));
			goto out;
		}
		sb->expires = g_get_monotonic_time() + term * G_USEC_PER_SEC;
		s->renewed++;
		gchar *now = utc_text(0), *end = utc_text(term);
		gchar *b = g_strdup_printf("<wsnt:RenewResponse><wsnt:TerminationTime>%s"
		                           "</wsnt:TerminationTime><wsnt:CurrentTime>%s"
		                           "</wsnt:CurrentTime></wsnt:RenewResponse>", end, now);
		ok = respond(c, 200, envelope(b));
		g_free(b);
		g_free(now);
		g_free(end);
	} else if (strcmp(r.op, "Unsubscribe") == 0) {
		s->unsubscribed++;
		sub_free(s, sb);
		ok = respond(c, 200, envelope("<wsnt:UnsubscribeResponse/>"));
	} else {
		ok = respond(c, 400, fault("env:Sender", "ter:ActionNotSupported", r.op));
	}
out:
	g_free(why);
	req_clear(&r);
	return ok;
}

/* ---- HTTP ---- */

static void
conn_close(struct conn *c)
{
	struct onvif_sim *s = c->s;
	for (size_t i = 0; i < SIM_SUBS_MAX; i++)
		if (s->subs[i].waiting == c) {
			s->subs[i].waiting = NULL;
			if (s->subs[i].wait_timer != 0) {
				g_source_remove(s->subs[i].wait_timer);
				s->subs[i].wait_timer = 0;
			}
		}
	s->conns = g_list_remove(s->conns, c);
	s->nconns--;
	g_source_destroy(c->src);
	g_source_unref(c->src);
	g_socket_close(c->sock, NULL);
	g_object_unref(c->sock);
	g_byte_array_free(c->buf, TRUE);
	g_free(c);
}

/* One complete request at the start of buf: 1 handled (or parked), 0 not
 * complete yet, -1 close the connection. */
static int
serve_one(struct conn *c)
{
	GByteArray *b = c->buf;
	const char *data = (const char *)b->data;
	const char *end = g_strstr_len(data, (gssize)b->len, "\r\n\r\n");
	if (end == NULL)
		return b->len > SIM_HEAD_MAX ? -1 : 0;
	size_t head = (size_t)(end - data) + 4;
	if (head > SIM_HEAD_MAX)
		return -1;
	gchar *h = g_strndup(data, head - 4);
	gchar **lines = g_strsplit(h, "\r\n", 128);
	gchar **rl = g_strsplit(lines[0], " ", 4);
	gint64 clen = -1;
	bool chunked = false;
	for (gchar **l = lines + 1; *l != NULL; l++) {
		if (g_ascii_strncasecmp(*l, "Content-Length:", 15) == 0) {
			guint64 v;
			if (g_ascii_string_to_unsigned(g_strstrip(*l + 15), 10, 0, G_MAXINT32, &v, NULL))
				clen = (gint64)v;
		} else if (g_ascii_strncasecmp(*l, "Transfer-Encoding:", 18) == 0) {
			chunked = true;
		}
	}
	int r = 1;
	if (g_strv_length(rl) != 3 || strcmp(rl[0], "POST") != 0 || chunked || clen < 0) {
		respond(c, 400, fault("env:Sender", "ter:InvalidArgs",
		                      "POST with a Content-Length is needed"));
		r = -1;
	} else if (clen > SIM_BODY_MAX) {
		respond(c, 413, fault("env:Sender", "ter:InvalidArgs", "body too large"));
		r = -1;
	} else if (b->len < head + (size_t)clen) {
		r = 0;
	} else {
		if (!handle(c, rl[1], data + head, (size_t)clen))
			r = -1;
		else
			g_byte_array_remove_range(b, 0, (guint)(head + (size_t)clen));
	}
	g_strfreev(rl);
	g_strfreev(lines);
	g_free(h);
	return r;
}

/* Serves what is buffered, until a request is incomplete or parked. */
static void
conn_resume(struct conn *c)
{
	while (!c->parked && c->buf->len > 0) {
		int r = serve_one(c);
		if (r < 0) {
			conn_close(c);
			return;
		}
		if (r == 0)
			return;
	}
}

static gboolean
conn_ready(GSocket *sock, GIOCondition cond, gpointer data)
{
	struct conn *c = data;
	char tmp[4096];
	gssize n = g_socket_receive(sock, tmp, sizeof(tmp), NULL, NULL);
	if (n <= 0) {
		conn_close(c);
		return G_SOURCE_REMOVE;
	}
	if (c->buf->len + (size_t)n > SIM_HEAD_MAX + SIM_BODY_MAX) {
		conn_close(c);
		return G_SOURCE_REMOVE;
	}
	g_byte_array_append(c->buf, (const guint8 *)tmp, (guint)n);
	/* conn_resume may close c: the source is destroyed then, and returning
	 * CONTINUE from a destroyed source is harmless */
	conn_resume(c);
	return G_SOURCE_CONTINUE;
}

static gboolean
on_accept(GSocket *listener, GIOCondition cond, gpointer data)
{
	struct onvif_sim *s = data;
	GSocket *sock = g_socket_accept(listener, NULL, NULL);
	if (sock == NULL)
		return G_SOURCE_CONTINUE;
	if (s->nconns >= SIM_CONNS_MAX) {
		g_socket_close(sock, NULL);
		g_object_unref(sock);
		return G_SOURCE_CONTINUE;
	}
	g_socket_set_blocking(sock, TRUE);
	struct conn *c = g_new0(struct conn, 1);
	c->s = s;
	c->sock = sock;
	c->buf = g_byte_array_new();
	c->src = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
	g_source_set_callback(c->src, G_SOURCE_FUNC(conn_ready), c, NULL);
	g_source_attach(c->src, NULL);
	s->conns = g_list_prepend(s->conns, c);
	s->nconns++;
	return G_SOURCE_CONTINUE;
}

struct onvif_sim *
onvif_sim_new(unsigned port, const char *user, const char *password, GError **err)
{
	struct onvif_sim *s = g_new0(struct onvif_sim, 1);
	GInetAddress *lo = g_inet_address_new_from_string(SIM_ADDRESS);
	GSocketAddress *addr = g_inet_socket_address_new(lo, (guint16)port);
	g_object_unref(lo);
	s->listener = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
	                           G_SOCKET_PROTOCOL_TCP, err);
	if (s->listener == NULL || !g_socket_bind(s->listener, addr, TRUE, err) ||
	    !g_socket_listen(s->listener, err)) {
		g_object_unref(addr);
		onvif_sim_free(s);
		return NULL;
	}
	g_object_unref(addr);
	GSocketAddress *bound = g_socket_get_local_address(s->listener, err);
	if (bound == NULL) {
		onvif_sim_free(s);
		return NULL;
	}
	s->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	g_object_unref(bound);
	g_socket_set_blocking(s->listener, FALSE);
	s->src = g_socket_create_source(s->listener, G_IO_IN, NULL);
	g_source_set_callback(s->src, G_SOURCE_FUNC(on_accept), s, NULL);
	g_source_attach(s->src, NULL);
	s->tick = g_timeout_add_seconds(1, on_tick, s);
	if (user != NULL) {
		s->user = g_strndup(user, SIM_CRED_MAX);
		s->password = g_strndup(password, SIM_CRED_MAX);
	}
	return s;
}

int
onvif_sim_port(const struct onvif_sim *s)
{
	return s->port;
}

static int
onoff(const char *w)
{
	if (w != NULL && g_ascii_strcasecmp(w, "on") == 0)
		return 1;
	if (w != NULL && g_ascii_strcasecmp(w, "off") == 0)
		return 0;
	return -1;
}

gchar *
onvif_sim_command(struct onvif_sim *s, char **w, size_t n)
{
	static const char usage[] = "error: usage: onvif scene_change|too_dark|too_bright|too_blurry|"
		"tamper|signal_loss on|off, onvif input 1..4 on|off, onvif subscriptions";
	if (s == NULL)
		return g_strdup("error: no ONVIF event service (start with --onvif-port)");
	if (n == 1 && g_ascii_strcasecmp(w[0], "subscriptions") == 0) {
		expire(s);
		unsigned active = 0;
		for (size_t i = 0; i < SIM_SUBS_MAX; i++)
			active += s->subs[i].used;
		return g_strdup_printf("active %u created %" G_GUINT64_FORMAT " renewed %"
		                       G_GUINT64_FORMAT " unsubscribed %" G_GUINT64_FORMAT " expired %"
		                       G_GUINT64_FORMAT " refused %" G_GUINT64_FORMAT " pulls %"
		                       G_GUINT64_FORMAT, active, s->created, s->renewed, s->unsubscribed,
		                       s->expired, s->refused, s->pulls);
	}
	if (n == 3 && g_ascii_strcasecmp(w[0], "input") == 0) {
		guint64 i;
		int on = onoff(w[2]);
		if (!g_ascii_string_to_unsigned(w[1], 10, 1, SIM_INPUTS, &i, NULL) || on < 0)
			return g_strdup(usage);
		char src[96];
		s->input[i - 1] = on;
		input_source((unsigned)i - 1, src, sizeof(src));
		publish(s, INPUT_TOPIC, src, "LogicalState", on);
		return g_strdup("ok");
	}
	for (int p = 0; n == 2 && p < P_NPROPS; p++) {
		int on = onoff(w[1]);
		if (g_ascii_strcasecmp(w[0], props[p].cmd) != 0 || on < 0)
			continue;
		s->state[p] = on;
		publish(s, props[p].topic, props[p].source, props[p].data, on);
		return g_strdup("ok");
	}
	return g_strdup(usage);
}

void
onvif_sim_free(struct onvif_sim *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < SIM_SUBS_MAX; i++)
		if (s->subs[i].used)
			sub_free(s, &s->subs[i]);
	while (s->conns != NULL)
		conn_close(s->conns->data);
	if (s->tick != 0)
		g_source_remove(s->tick);
	if (s->src != NULL) {
		g_source_destroy(s->src);
		g_source_unref(s->src);
	}
	if (s->listener != NULL) {
		g_socket_close(s->listener, NULL);
		g_object_unref(s->listener);
	}
	if (s->password != NULL) {
		memset(s->password, 0, strlen(s->password));
		g_free(s->password);
	}
	g_free(s->user);
	g_free(s);
}
