/* The bounded reader of the SOAP 1.2 answers a PullPoint client needs
 * (docs/onvif-events.md "The parser"). libxml2 builds the tree; before it
 * sees a byte, the size is checked and a DOCTYPE refused, and it is never
 * asked to load a DTD, substitute entities or touch the network. The tree is
 * then checked for depth and element count before anything is read from it.
 * Elements are matched by namespace URI and local name, never by prefix. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "custody/error.h"
#include "custody/onvif.h"
#include "custody/text.h"
#include "custody/time.h"

#define NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define NS_SOAP11 "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_TEV "http://www.onvif.org/ver10/events/wsdl"
#define NS_WSNT "http://docs.oasis-open.org/wsn/b-2"
#define NS_WSA "http://www.w3.org/2005/08/addressing"
#define NS_TT "http://www.onvif.org/ver10/schema"

#define TIME_TEXT_MAX 48            /* bytes of an xs:dateTime we read */
#define FRACTION_KEPT 6             /* digits of a second custody keeps (µs) */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init(void)
{
	xmlInitParser();
}

/* libxml2 reports through the context's last error; nothing is printed. */
static void
quiet(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

static bool
is(const xmlNode *n, const char *ns, const char *local)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && n->ns->href != NULL &&
	       strcmp((const char *)n->ns->href, ns) == 0 && strcmp((const char *)n->name, local) == 0;
}

static xmlNode *
first_element(const xmlNode *parent)
{
	for (xmlNode *n = parent->children; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static xmlNode *
child(const xmlNode *parent, const char *ns, const char *local)
{
	for (xmlNode *n = parent->children; n != NULL; n = n->next)
		if (is(n, ns, local))
			return n;
	return NULL;
}

/* Depth and element count of the whole tree, before anything is read. */
static int
check_shape(const xmlNode *n, int depth, size_t *count)
{
	for (; n != NULL; n = n->next) {
		if (n->type == XML_ENTITY_REF_NODE || n->type == XML_ENTITY_NODE ||
		    n->type == XML_DTD_NODE)
			return cu_fail(CU_ERR_FORMAT, "SOAP answer: entities and DTDs are refused");
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (depth > CU_ONVIF_DEPTH_MAX)
			return cu_fail(CU_ERR_LIMIT, "SOAP answer: elements nested deeper than %d",
			               CU_ONVIF_DEPTH_MAX);
		if (++*count > CU_ONVIF_ELEMENTS_MAX)
			return cu_fail(CU_ERR_LIMIT, "SOAP answer: more than %d elements",
			               CU_ONVIF_ELEMENTS_MAX);
		int r = check_shape(n->children, depth + 1, count);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Copies s (blanks around it taken off) into out: at most max bytes of text
 * that passes cu_text_check (no control or bidi character). */
static int
take(const char *what, const char *s, char *out, size_t max)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	if (n > max)
		return cu_fail(CU_ERR_LIMIT, "SOAP answer: %s is longer than %zu bytes", what, max);
	if (cu_text_check(s, n, max, 0) < 0)
		return cu_fail_prefix(CU_ERR_FORMAT, "SOAP answer: %s", what);
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* The text inside element n (all of it), taken as by take(). */
static int
text_of(const char *what, const xmlNode *n, char *out, size_t max)
{
	xmlChar *t = xmlNodeGetContent(n);
	if (t == NULL)
		return cu_fail(CU_ERR_NOMEM, "SOAP answer: %s", what);
	int r = take(what, (const char *)t, out, max);
	xmlFree(t);
	return r;
}

/* An unqualified attribute, taken as by take(); CU_ERR_NOTFOUND if absent. */
static int
attr_of(const char *what, const xmlNode *n, const char *name, char *out, size_t max)
{
	xmlChar *t = xmlGetNoNsProp(n, (const xmlChar *)name);
	if (t == NULL)
		return CU_ERR_NOTFOUND;
	int r = take(what, (const char *)t, out, max);
	xmlFree(t);
	return r;
}

/* xs:dateTime into µs; cameras write up to 7 fraction digits (.NET), custody
 * keeps microseconds, so digits past the sixth are dropped, not refused. */
static int
parse_time(const char *what, const char *s, int64_t *ret)
{
	char t[TIME_TEXT_MAX + 1];
	size_t o = 0, digits = 0;
	bool fraction = false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '.')
			fraction = true;
		else if (fraction && *p >= '0' && *p <= '9' && ++digits > FRACTION_KEPT)
			continue;
		else if (fraction && !(*p >= '0' && *p <= '9'))
			fraction = false;
		if (o == TIME_TEXT_MAX)
			return cu_fail(CU_ERR_LIMIT, "SOAP answer: %s is too long for a time", what);
		t[o++] = *p;
	}
	t[o] = '\0';
	if (cu_time_parse_iso8601(t, ret) < 0)
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: %s \"%.48s\" is not a UTC date and time",
		               what, s);
	return 0;
}

static int
time_child(const xmlNode *parent, const char *ns, const char *local, bool required,
           int64_t *ret)
{
	xmlNode *n = child(parent, ns, local);
	char t[TIME_TEXT_MAX + 1];
	if (n == NULL) {
		if (required)
			return cu_fail(CU_ERR_FORMAT, "SOAP answer: %s has no %s",
			               (const char *)parent->name, local);
		*ret = 0;
		return 0;
	}
	int r = text_of(local, n, t, TIME_TEXT_MAX);
	return r < 0 ? r : parse_time(local, t, ret);
}

/* "pfx:local" of a topic part: is pfx bound to the ONVIF topic namespace
 * where the Topic element stands? */
static bool
onvif_prefix(xmlDoc *doc, xmlNode *at, const char *part, size_t len)
{
	const char *colon = memchr(part, ':', len);
	char pfx[64];
	if (colon == NULL || (size_t)(colon - part) >= sizeof(pfx) || colon == part)
		return false;
	memcpy(pfx, part, (size_t)(colon - part));
	pfx[colon - part] = '\0';
	xmlNs *ns = xmlSearchNs(doc, at, (const xmlChar *)pfx);
	return ns != NULL && ns->href != NULL && strcmp((const char *)ns->href, CU_ONVIF_TOPICS_NS) == 0;
}

/* The topic with its ONVIF prefixes resolved away; onvif_topic false when a
 * part is unqualified or in another namespace, or the text is not a
 * concrete path. */
static int
read_topic(xmlDoc *doc, xmlNode *tn, struct cu_onvif_msg *m)
{
	char raw[CU_ONVIF_TOPIC_MAX + 1];
	int r = text_of("Topic", tn, raw, CU_ONVIF_TOPIC_MAX);
	if (r < 0)
		return r;
	r = attr_of("Topic Dialect", tn, "Dialect", m->dialect, CU_ONVIF_DIALECT_MAX);
	if (r < 0 && r != CU_ERR_NOTFOUND)
		return r;
	bool onvif = raw[0] != '\0' && strpbrk(raw, "|*") == NULL && strstr(raw, "//") == NULL;
	size_t o = 0;
	for (const char *p = raw; onvif && *p != '\0';) {
		size_t len = strcspn(p, "/");
		const char *colon = memchr(p, ':', len);
		/* the root names the topic namespace; a child part is unqualified
		 * (the root's namespace) or qualified with it again */
		if (len == 0 || (colon == NULL && o == 0) ||
		    (colon != NULL && !onvif_prefix(doc, tn, p, len))) {
			onvif = false;
			break;
		}
		const char *local = colon != NULL ? colon + 1 : p;
		size_t llen = len - (size_t)(local - p);
		if (llen == 0) {
			onvif = false;
			break;
		}
		if (o > 0)
			m->topic[o++] = '/';
		memcpy(m->topic + o, local, llen);
		o += llen;
		p += len;
		if (*p == '/')
			p++;
	}
	if (onvif)
		m->topic[o] = '\0';
	else
		memcpy(m->topic, raw, strlen(raw) + 1);
	m->onvif_topic = onvif;
	return 0;
}

static int
read_items(const xmlNode *parent, const char *what, struct cu_onvif_item *items, size_t *ret_n)
{
	size_t n = 0;
	for (xmlNode *s = parent->children; s != NULL; s = s->next) {
		if (!is(s, NS_TT, "SimpleItem"))
			continue;
		if (n == CU_ONVIF_ITEMS_MAX)
			return cu_fail(CU_ERR_LIMIT, "SOAP answer: more than %d SimpleItems in a %s",
			               CU_ONVIF_ITEMS_MAX, what);
		int r = attr_of("SimpleItem Name", s, "Name", items[n].name, CU_ONVIF_NAME_MAX);
		if (r == 0)
			r = attr_of("SimpleItem Value", s, "Value", items[n].value, CU_ONVIF_VALUE_MAX);
		if (r == CU_ERR_NOTFOUND)
			return cu_fail(CU_ERR_FORMAT, "SOAP answer: a SimpleItem in a %s without Name "
			               "or Value", what);
		if (r < 0)
			return r;
		if (items[n].name[0] == '\0')
			return cu_fail(CU_ERR_FORMAT, "SOAP answer: a SimpleItem with an empty Name");
		n++;
	}
	*ret_n = n;
	return 0;
}

static int
read_message(xmlDoc *doc, xmlNode *nm, struct cu_onvif_msg *m)
{
	memset(m, 0, sizeof(*m));
	xmlNode *tn = child(nm, NS_WSNT, "Topic");
	int r;
	if (tn != NULL && (r = read_topic(doc, tn, m)) < 0)
		return r;
	xmlNode *wm = child(nm, NS_WSNT, "Message");
	if (wm == NULL)
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: a NotificationMessage without a Message");
	xmlNode *tm = child(wm, NS_TT, "Message");
	if (tm == NULL)
		return 0; /* another vendor's message body: kept with its topic only */
	char t[TIME_TEXT_MAX + 1];
	r = attr_of("Message UtcTime", tm, "UtcTime", t, TIME_TEXT_MAX);
	if (r == CU_ERR_NOTFOUND)
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: a tt:Message without UtcTime");
	if (r < 0 || (r = parse_time("Message UtcTime", t, &m->utc_us)) < 0)
		return r;
	char op[16];
	r = attr_of("PropertyOperation", tm, "PropertyOperation", op, sizeof(op) - 1);
	if (r == 0) {
		if (strcmp(op, "Initialized") == 0)
			m->op = CU_ONVIF_OP_INITIALIZED;
		else if (strcmp(op, "Changed") == 0)
			m->op = CU_ONVIF_OP_CHANGED;
		else if (strcmp(op, "Deleted") == 0)
			m->op = CU_ONVIF_OP_DELETED;
		else
			return cu_fail(CU_ERR_FORMAT, "SOAP answer: PropertyOperation \"%s\" is not "
			               "Initialized, Changed or Deleted", op);
	} else if (r == CU_ERR_LIMIT) {
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: PropertyOperation is not Initialized, "
		               "Changed or Deleted");
	} else if (r != CU_ERR_NOTFOUND) {
		return r;
	}
	xmlNode *src = child(tm, NS_TT, "Source"), *data = child(tm, NS_TT, "Data");
	if (src != NULL && (r = read_items(src, "Source", m->source, &m->nsource)) < 0)
		return r;
	if (data != NULL && (r = read_items(data, "Data", m->data, &m->ndata)) < 0)
		return r;
	return 0;
}

static int
read_pulled(xmlDoc *doc, xmlNode *b, struct cu_onvif_reply *rep)
{
	int r = time_child(b, NS_TEV, "CurrentTime", false, &rep->current_us);
	if (r == 0)
		r = time_child(b, NS_TEV, "TerminationTime", false, &rep->termination_us);
	if (r < 0)
		return r;
	for (xmlNode *n = b->children; n != NULL; n = n->next) {
		if (!is(n, NS_WSNT, "NotificationMessage"))
			continue;
		if (rep->nmsg == CU_ONVIF_MESSAGES_MAX)
			return cu_fail(CU_ERR_LIMIT, "SOAP answer: more than %d NotificationMessages",
			               CU_ONVIF_MESSAGES_MAX);
		if ((r = read_message(doc, n, &rep->msg[rep->nmsg])) < 0)
			return r;
		rep->nmsg++;
	}
	return 0;
}

static int
read_subscribed(xmlNode *b, struct cu_onvif_reply *rep)
{
	xmlNode *ref = child(b, NS_TEV, "SubscriptionReference");
	xmlNode *addr = ref != NULL ? child(ref, NS_WSA, "Address") : NULL;
	if (addr == NULL)
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: CreatePullPointSubscriptionResponse "
		               "without SubscriptionReference/Address");
	int r = text_of("subscription Address", addr, rep->address, CU_ONVIF_URL_MAX);
	if (r < 0)
		return r;
	if ((r = cu_onvif_url_check(rep->address)) < 0)
		return cu_fail_prefix(r, "SOAP answer: subscription Address");
	r = time_child(b, NS_WSNT, "CurrentTime", false, &rep->current_us);
	return r < 0 ? r : time_child(b, NS_WSNT, "TerminationTime", true, &rep->termination_us);
}

/* Code/Value and every Subcode/Value, joined by " / "; the first Reason/Text. */
static int
read_fault(xmlNode *b, struct cu_onvif_reply *rep)
{
	size_t o = 0;
	for (xmlNode *c = child(b, NS_SOAP, "Code"); c != NULL; c = child(c, NS_SOAP, "Subcode")) {
		xmlNode *v = child(c, NS_SOAP, "Value");
		char part[CU_ONVIF_FAULT_MAX + 1];
		if (v == NULL)
			break;
		int r = text_of("fault code", v, part, CU_ONVIF_FAULT_MAX);
		if (r < 0)
			return r;
		size_t need = strlen(part) + (o > 0 ? 3 : 0);
		if (o + need > CU_ONVIF_FAULT_MAX)
			return cu_fail(CU_ERR_LIMIT, "SOAP answer: fault codes longer than %d bytes",
			               CU_ONVIF_FAULT_MAX);
		if (o > 0) {
			memcpy(rep->fault_code + o, " / ", 3);
			o += 3;
		}
		memcpy(rep->fault_code + o, part, strlen(part));
		o += strlen(part);
	}
	rep->fault_code[o] = '\0';
	if (o == 0)
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: a Fault without Code/Value");
	xmlNode *reason = child(b, NS_SOAP, "Reason");
	xmlNode *text = reason != NULL ? child(reason, NS_SOAP, "Text") : NULL;
	if (text == NULL) {
		rep->fault_reason[0] = '\0';
		return 0;
	}
	return text_of("fault reason", text, rep->fault_reason, CU_ONVIF_FAULT_MAX);
}

static int
read_envelope(xmlDoc *doc, struct cu_onvif_reply *rep)
{
	xmlNode *env = xmlDocGetRootElement(doc);
	if (env == NULL)
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: no root element");
	if (is(env, NS_SOAP11, "Envelope"))
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: a SOAP 1.1 envelope; ONVIF speaks SOAP 1.2");
	if (!is(env, NS_SOAP, "Envelope"))
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: the root is not a SOAP 1.2 Envelope "
		               "(namespace %s)", NS_SOAP);
	xmlNode *body = child(env, NS_SOAP, "Body");
	xmlNode *b = body != NULL ? first_element(body) : NULL;
	if (b == NULL)
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: no Body, or an empty one");
	if (is(b, NS_SOAP, "Fault")) {
		rep->kind = CU_ONVIF_FAULT;
		return read_fault(b, rep);
	}
	if (is(b, NS_TEV, "CreatePullPointSubscriptionResponse")) {
		rep->kind = CU_ONVIF_SUBSCRIBED;
		return read_subscribed(b, rep);
	}
	if (is(b, NS_TEV, "PullMessagesResponse")) {
		rep->kind = CU_ONVIF_PULLED;
		return read_pulled(doc, b, rep);
	}
	if (is(b, NS_WSNT, "RenewResponse")) {
		rep->kind = CU_ONVIF_RENEWED;
		int r = time_child(b, NS_WSNT, "CurrentTime", false, &rep->current_us);
		return r < 0 ? r : time_child(b, NS_WSNT, "TerminationTime", true, &rep->termination_us);
	}
	if (is(b, NS_WSNT, "UnsubscribeResponse")) {
		rep->kind = CU_ONVIF_UNSUBSCRIBED;
		return 0;
	}
	return cu_fail(CU_ERR_FORMAT, "SOAP answer: unexpected body element %.64s (namespace %.96s)",
	               (const char *)b->name, b->ns != NULL ? (const char *)b->ns->href : "none");
}

static bool
contains(const char *s, size_t len, const char *what)
{
	return memmem(s, len, what, strlen(what)) != NULL;
}

int
cu_onvif_parse(const char *xml, size_t len, struct cu_onvif_reply *ret)
{
	if (xml == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_onvif_parse: NULL argument");
	if (len > CU_ONVIF_XML_MAX)
		return cu_fail(CU_ERR_LIMIT, "SOAP answer: %zu bytes, more than the %d allowed", len,
		               CU_ONVIF_XML_MAX);
	if (len == 0)
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: empty");
	/* A DOCTYPE is refused before the parser sees it: no DTD, internal or
	 * external, means no entity can be declared, let alone expanded. */
	if (contains(xml, len, "<!DOCTYPE") || contains(xml, len, "<!ENTITY"))
		return cu_fail(CU_ERR_FORMAT, "SOAP answer: a DOCTYPE (DTDs and entities are refused)");
	pthread_once(&xml_once, xml_init);

	struct cu_onvif_reply *rep = calloc(1, sizeof(*rep));
	xmlParserCtxt *ctx = xmlNewParserCtxt();
	xmlDoc *doc = NULL;
	int r;
	if (rep == NULL || ctx == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "SOAP answer: out of memory");
		goto out;
	}
	ctx->sax->serror = quiet;
	ctx->sax->error = NULL;
	ctx->sax->warning = NULL;
	/* No XML_PARSE_NOENT, DTDLOAD, DTDATTR, XINCLUDE or HUGE: nothing is
	 * substituted or fetched, libxml2's own limits stay on. */
	doc = xmlCtxtReadMemory(ctx, xml, (int)len, "onvif.xml", NULL,
	                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || !ctx->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctx);
		char msg[160] = "";
		if (e != NULL && e->message != NULL)
			cu_fmt_cut(msg, sizeof(msg), "%s", e->message);
		msg[strcspn(msg, "\r\n")] = '\0';
		r = cu_fail(CU_ERR_FORMAT, "SOAP answer: not well-formed XML (line %d): %s",
		            e != NULL ? e->line : 0, msg[0] ? msg : "parse error");
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		r = cu_fail(CU_ERR_FORMAT, "SOAP answer: a DOCTYPE (DTDs and entities are refused)");
		goto out;
	}
	size_t count = 0;
	if ((r = check_shape(doc->children, 1, &count)) < 0)
		goto out;
	if ((r = read_envelope(doc, rep)) < 0)
		goto out;
	memcpy(ret, rep, sizeof(*rep));
	r = 0;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	if (ctx != NULL)
		xmlFreeParserCtxt(ctx);
	free(rep);
	return r;
}

const char *
cu_onvif_item(const struct cu_onvif_item *items, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].name, name) == 0)
			return items[i].value;
	return NULL;
}

int
cu_onvif_bool(const char *s)
{
	char t[8];
	if (s == NULL || take("boolean", s, t, sizeof(t) - 1) < 0)
		return -1;
	if (strcmp(t, "true") == 0 || strcmp(t, "1") == 0)
		return 1;
	if (strcmp(t, "false") == 0 || strcmp(t, "0") == 0)
		return 0;
	return -1;
}
