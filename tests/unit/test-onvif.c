/* Unit tests for the ONVIF module (lib/onvif): the WS-Security
 * UsernameToken digest against the ONVIF Application Programmer's Guide
 * example, the SOAP reader on the answers of fuzz/corpus/onvif-soap/ (real
 * looking, written from the ONVIF and WS-BaseNotification schemas) and on
 * hostile ones made here, and the requests the client writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "custody/buf.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/onvif.h"
#include "custody/time.h"
#include "util/base64.h"

static struct cu_onvif_reply rep;

/* A corpus file, NUL-terminated; the test fails when it is missing. */
static char *
corpus(const char *name, size_t *ret_len)
{
	const char *dir = getenv("CU_FUZZ_CORPUS");
	char path[4096];
	assert_non_null(dir);
	assert_int_equal(cu_path(path, sizeof(path), "%s/onvif-soap/%s", dir, name), 0);
	uint8_t *data;
	size_t len;
	assert_int_equal(cu_file_read(path, CU_ONVIF_XML_MAX + 1, &data, &len), 0);
	char *s = malloc(len + 1);
	assert_non_null(s);
	memcpy(s, data, len);
	s[len] = '\0';
	free(data);
	*ret_len = len;
	return s;
}

static int
parse_corpus(const char *name)
{
	size_t len;
	char *s = corpus(name, &len);
	int r = cu_onvif_parse(s, len, &rep);
	free(s);
	return r;
}

static int
parse_text(const char *s)
{
	return cu_onvif_parse(s, strlen(s), &rep);
}

static void
assert_detail(const char *part)
{
	if (strstr(cu_error_detail(), part) == NULL)
		fail_msg("detail \"%s\" does not mention \"%s\"", cu_error_detail(), part);
}

static int64_t
iso(const char *s)
{
	int64_t t;
	assert_int_equal(cu_time_parse_iso8601(s, &t), 0);
	return t;
}

/* ONVIF Application Programmer's Guide, §6.1.1.3 (UsernameToken example). */
static void
test_digest_vector(void **state)
{
	uint8_t nonce[32];
	size_t n;
	char out[CU_ONVIF_DIGEST_LEN + 1];
	const char *b64 = "LKqI6G/AikKCQrN0zqZFlg==";
	assert_int_equal(cu_b64_decode(b64, strlen(b64), CU_B64_PAD, nonce, sizeof(nonce), &n), 0);
	assert_int_equal(n, 16);
	assert_int_equal(cu_onvif_digest(nonce, n, "2010-09-16T07:50:45Z", "userpassword", out), 0);
	assert_string_equal(out, "tuOSpGlFlIXsozq4HFNeeGeFLEI=");
	/* every input counts */
	assert_int_equal(cu_onvif_digest(nonce, n, "2010-09-16T07:50:46Z", "userpassword", out), 0);
	assert_string_not_equal(out, "tuOSpGlFlIXsozq4HFNeeGeFLEI=");
	nonce[0] ^= 1;
	assert_int_equal(cu_onvif_digest(nonce, n, "2010-09-16T07:50:45Z", "userpassword", out), 0);
	assert_string_not_equal(out, "tuOSpGlFlIXsozq4HFNeeGeFLEI=");
	assert_int_equal(cu_onvif_digest(NULL, 0, "x", "y", out), CU_ERR_INVAL);
	assert_int_equal(cu_onvif_digest(nonce, n, "", "y", out), CU_ERR_INVAL);
}

static void
test_subscribed(void **state)
{
	assert_int_equal(parse_corpus("subscribe-response"), 0);
	assert_int_equal(rep.kind, CU_ONVIF_SUBSCRIBED);
	assert_string_equal(rep.address,
	                    "http://192.168.1.64/onvif/Events/PullSubManager_20260101T120000Z_0");
	assert_true(rep.current_us == iso("2026-01-01T12:00:00Z"));
	assert_true(rep.termination_us == iso("2026-01-01T12:01:00Z"));
	assert_int_equal(parse_corpus("renew-response"), 0);
	assert_int_equal(rep.kind, CU_ONVIF_RENEWED);
	assert_true(rep.termination_us == iso("2026-01-01T12:02:00Z"));
	assert_int_equal(parse_corpus("unsubscribe-response"), 0);
	assert_int_equal(rep.kind, CU_ONVIF_UNSUBSCRIBED);
}

static void
test_pulled(void **state)
{
	assert_int_equal(parse_corpus("pull-events"), 0);
	assert_int_equal(rep.kind, CU_ONVIF_PULLED);
	assert_true(rep.current_us == iso("2026-01-01T12:00:05Z"));
	assert_int_equal(rep.nmsg, 3);
	const struct cu_onvif_msg *m = &rep.msg[0];
	assert_true(m->onvif_topic);
	assert_string_equal(m->topic, "VideoSource/ImageTooDark/ImagingService");
	assert_string_equal(m->dialect, "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet");
	assert_int_equal(m->op, CU_ONVIF_OP_INITIALIZED);
	assert_true(m->utc_us == iso("2026-01-01T12:00:00Z"));
	assert_string_equal(cu_onvif_item(m->source, m->nsource, "VideoSourceConfigurationToken"),
	                    "vsc1");
	assert_int_equal(cu_onvif_bool(cu_onvif_item(m->data, m->ndata, "State")), 0);
	m = &rep.msg[1];
	assert_string_equal(m->topic, "RuleEngine/TamperDetector/Tamper");
	assert_int_equal(m->op, CU_ONVIF_OP_CHANGED);
	assert_int_equal(m->nsource, 3);
	assert_string_equal(cu_onvif_item(m->source, m->nsource, "Rule"), "TamperRule");
	assert_int_equal(cu_onvif_bool(cu_onvif_item(m->data, m->ndata, "IsTamper")), 1);
	assert_true(m->utc_us == iso("2026-01-01T12:00:04.25Z"));
	m = &rep.msg[2];
	assert_string_equal(m->topic, "Device/Trigger/DigitalInput");
	assert_string_equal(cu_onvif_item(m->source, m->nsource, "InputToken"), "DIN1");
	assert_int_equal(cu_onvif_bool(cu_onvif_item(m->data, m->ndata, "LogicalState")), 1);
	assert_null(cu_onvif_item(m->data, m->ndata, "State"));

	assert_int_equal(parse_corpus("pull-empty"), 0);
	assert_int_equal(rep.kind, CU_ONVIF_PULLED);
	assert_int_equal(rep.nmsg, 0);
}

/* Prefixes are whatever the camera chose; namespaces decide. */
static void
test_prefixes(void **state)
{
	assert_int_equal(parse_corpus("pull-other-prefixes"), 0);
	assert_int_equal(rep.nmsg, 2);
	assert_true(rep.msg[0].onvif_topic);
	assert_string_equal(rep.msg[0].topic, "VideoSource/GlobalSceneChange/AnalyticsService");
	/* seven fraction digits (.NET): kept to the microsecond */
	assert_true(rep.msg[0].utc_us == iso("2026-01-01T12:00:05.123456Z"));
	assert_int_equal(cu_onvif_bool(cu_onvif_item(rep.msg[0].data, rep.msg[0].ndata, "State")), 1);
	/* a part in a vendor's namespace: not an ONVIF topic, kept as sent */
	assert_false(rep.msg[1].onvif_topic);
	assert_string_equal(rep.msg[1].topic, "tns1:RuleEngine/v:MyRule");
	assert_int_equal(rep.msg[1].op, CU_ONVIF_OP_NONE);
	/* the ONVIF topic prefix bound to another URI is not ONVIF's */
	assert_int_equal(parse_text(
		"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>"
		"<e:PullMessagesResponse xmlns:e='http://www.onvif.org/ver10/events/wsdl'>"
		"<w:NotificationMessage xmlns:w='http://docs.oasis-open.org/wsn/b-2'>"
		"<w:Topic xmlns:tns1='http://evil.example/topics'>tns1:RuleEngine/TamperDetector/Tamper"
		"</w:Topic><w:Message/></w:NotificationMessage></e:PullMessagesResponse></s:Body>"
		"</s:Envelope>"), 0);
	assert_false(rep.msg[0].onvif_topic);
	/* the body element in the wrong namespace is not an answer */
	assert_int_equal(parse_text(
		"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>"
		"<tev:PullMessagesResponse xmlns:tev='http://www.onvif.org/ver20/events/wsdl'/>"
		"</s:Body></s:Envelope>"), CU_ERR_FORMAT);
	assert_detail("unexpected body element");
}

static void
test_fault(void **state)
{
	assert_int_equal(parse_corpus("fault-not-authorized"), 0);
	assert_int_equal(rep.kind, CU_ONVIF_FAULT);
	assert_string_equal(rep.fault_code, "env:Sender / ter:NotAuthorized");
	assert_string_equal(rep.fault_reason, "Sender not Authorized");
	assert_int_equal(parse_text(
		"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body><s:Fault>"
		"<s:Reason><s:Text>no code</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"),
		CU_ERR_FORMAT);
	assert_detail("Code");
}

static void
test_hostile(void **state)
{
	memset(&rep, 0x5a, sizeof(rep));
	assert_int_equal(parse_corpus("hostile-entities"), CU_ERR_FORMAT);
	assert_detail("DOCTYPE");
	assert_int_equal(parse_corpus("hostile-external"), CU_ERR_FORMAT);
	assert_detail("DOCTYPE");
	assert_int_equal(parse_corpus("hostile-deep"), CU_ERR_LIMIT);
	assert_detail("deeper than 32");
	assert_int_equal(parse_corpus("wrong-namespace"), CU_ERR_FORMAT);
	assert_detail("not a SOAP 1.2 Envelope");
	assert_int_equal(parse_corpus("soap11"), CU_ERR_FORMAT);
	assert_detail("SOAP 1.1");
	assert_int_equal(parse_corpus("broken-unclosed"), CU_ERR_FORMAT);
	assert_detail("not well-formed XML");
	/* an entity reference without a DTD is not well-formed either */
	assert_int_equal(parse_text("<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'>"
	                            "<s:Body>&ext;</s:Body></s:Envelope>"), CU_ERR_FORMAT);
	/* nothing was written by any of them */
	for (size_t i = 0; i < sizeof(rep); i++)
		assert_int_equal(((uint8_t *)&rep)[i], 0x5a);
}

/* A PullMessagesResponse with the given filler inside. */
static char *
pulled_with(const char *item, size_t times)
{
	cu_buf b;
	cu_buf_init(&b, 8u << 20);
	const char *head = "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope' "
		"xmlns:w='http://docs.oasis-open.org/wsn/b-2' xmlns:tt='http://www.onvif.org/ver10/schema' "
		"xmlns:tns1='http://www.onvif.org/ver10/topics'><s:Body>"
		"<e:PullMessagesResponse xmlns:e='http://www.onvif.org/ver10/events/wsdl'>";
	const char *tail = "</e:PullMessagesResponse></s:Body></s:Envelope>";
	assert_int_equal(cu_buf_append(&b, head, strlen(head)), 0);
	for (size_t i = 0; i < times; i++)
		assert_int_equal(cu_buf_append(&b, item, strlen(item)), 0);
	assert_int_equal(cu_buf_append(&b, tail, strlen(tail) + 1), 0);
	return (char *)b.data;
}

static void
test_limits(void **state)
{
	const char *msg = "<w:NotificationMessage><w:Topic>tns1:VideoSource/SignalLoss</w:Topic>"
		"<w:Message><tt:Message UtcTime='2026-01-01T00:00:00Z'/></w:Message>"
		"</w:NotificationMessage>";
	char *s = pulled_with(msg, CU_ONVIF_MESSAGES_MAX);
	assert_int_equal(parse_text(s), 0);
	assert_int_equal(rep.nmsg, CU_ONVIF_MESSAGES_MAX);
	assert_string_equal(rep.msg[63].topic, "VideoSource/SignalLoss");
	free(s);
	s = pulled_with(msg, CU_ONVIF_MESSAGES_MAX + 1);
	assert_int_equal(parse_text(s), CU_ERR_LIMIT);
	assert_detail("NotificationMessages");
	free(s);
	/* element count */
	s = pulled_with("<x/>", CU_ONVIF_ELEMENTS_MAX);
	assert_int_equal(parse_text(s), CU_ERR_LIMIT);
	assert_detail("more than 8192 elements");
	free(s);
	/* size: one byte over is refused before parsing */
	s = pulled_with("                ", CU_ONVIF_XML_MAX / 16);
	assert_true(strlen(s) > CU_ONVIF_XML_MAX);
	assert_int_equal(parse_text(s), CU_ERR_LIMIT);
	assert_detail("bytes, more than");
	free(s);
	/* a value over its limit, a bidi control in a value, a bad time, a bad operation */
	char item[512];
	memset(item, 0, sizeof(item));
	int n = snprintf(item, sizeof(item), "<w:NotificationMessage><w:Message><tt:Message "
	                 "UtcTime='2026-01-01T00:00:00Z'><tt:Data><tt:SimpleItem Name='State' "
	                 "Value='%0129d'/></tt:Data></tt:Message></w:Message></w:NotificationMessage>", 0);
	assert_true(n > 0 && (size_t)n < sizeof(item));
	s = pulled_with(item, 1);
	assert_int_equal(parse_text(s), CU_ERR_LIMIT);
	assert_detail("SimpleItem Value");
	free(s);
	s = pulled_with("<w:NotificationMessage><w:Message><tt:Message UtcTime='2026-01-01T00:00:00Z'>"
	                "<tt:Data><tt:SimpleItem Name='State' Value='tr\xe2\x80\xaeue'/></tt:Data>"
	                "</tt:Message></w:Message></w:NotificationMessage>", 1);
	assert_int_equal(parse_text(s), CU_ERR_FORMAT);
	assert_detail("SimpleItem Value");
	free(s);
	s = pulled_with("<w:NotificationMessage><w:Message><tt:Message UtcTime='yesterday'/>"
	                "</w:Message></w:NotificationMessage>", 1);
	assert_int_equal(parse_text(s), CU_ERR_FORMAT);
	assert_detail("UtcTime");
	free(s);
	s = pulled_with("<w:NotificationMessage><w:Message><tt:Message UtcTime='2026-01-01T00:00:00Z' "
	                "PropertyOperation='Exploded'/></w:Message></w:NotificationMessage>", 1);
	assert_int_equal(parse_text(s), CU_ERR_FORMAT);
	assert_detail("PropertyOperation");
	free(s);
	assert_int_equal(cu_onvif_parse("", 0, &rep), CU_ERR_FORMAT);
}

static void
test_bool_url(void **state)
{
	assert_int_equal(cu_onvif_bool("true"), 1);
	assert_int_equal(cu_onvif_bool(" 1 "), 1);
	assert_int_equal(cu_onvif_bool("false"), 0);
	assert_int_equal(cu_onvif_bool("0"), 0);
	assert_int_equal(cu_onvif_bool("TRUE"), -1);
	assert_int_equal(cu_onvif_bool("yes"), -1);
	assert_int_equal(cu_onvif_bool(NULL), -1);
	assert_int_equal(cu_onvif_url_check("http://10.0.0.5/onvif/event_service"), 0);
	assert_int_equal(cu_onvif_url_check("https://cam.example:8443/onvif/events"), 0);
	assert_int_equal(cu_onvif_url_check("ftp://cam/onvif"), CU_ERR_FORMAT);
	assert_int_equal(cu_onvif_url_check("http://admin:secret@cam/onvif"), CU_ERR_FORMAT);
	assert_detail("never in a URL");
	assert_int_equal(cu_onvif_url_check("http://cam/on vif"), CU_ERR_FORMAT);
	assert_int_equal(cu_onvif_url_check("http://cam/onvif#events"), CU_ERR_FORMAT);
	assert_detail("fragment");
	assert_int_equal(cu_onvif_url_check("http://:pw@cam/onvif"), CU_ERR_FORMAT);
	assert_int_equal(cu_onvif_url_check(""), CU_ERR_FORMAT);
}

static void
test_request(void **state)
{
	struct cu_onvif_opts o = {.url = "http://127.0.0.1:1/onvif/event_service",
	                          .user = "ad<min", .password = "userpassword"};
	cu_onvif *c;
	assert_int_equal(cu_onvif_open(&o, &c), 0);
	uint8_t nonce[32];
	size_t n;
	const char *b64 = "LKqI6G/AikKCQrN0zqZFlg==";
	assert_int_equal(cu_b64_decode(b64, strlen(b64), CU_B64_PAD, nonce, sizeof(nonce), &n), 0);
	static char out[16384];
	assert_int_equal(cu_onvif_request_text(c, "subscribe", 60, 0,
	                                       "tns1:VideoSource/SignalLoss|tns1:Device/Trigger/DigitalInput",
	                                       nonce, "2010-09-16T07:50:45Z", out, sizeof(out)), 0);
	assert_non_null(strstr(out, ">tuOSpGlFlIXsozq4HFNeeGeFLEI=</wsse:Password>"));
	assert_non_null(strstr(out, ">LKqI6G/AikKCQrN0zqZFlg==</wsse:Nonce>"));
	assert_non_null(strstr(out, "<wsu:Created>2010-09-16T07:50:45Z</wsu:Created>"));
	assert_non_null(strstr(out, "<wsse:Username>ad&lt;min</wsse:Username>"));
	assert_non_null(strstr(out, "<tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime>"));
	assert_non_null(strstr(out, ">tns1:VideoSource/SignalLoss|tns1:Device/Trigger/DigitalInput<"));
	assert_null(strstr(out, "userpassword"));
	assert_int_equal(cu_onvif_request_text(c, "pull", 5, 32, NULL, nonce, "2010-09-16T07:50:45Z",
	                                       out, sizeof(out)), 0);
	assert_non_null(strstr(out, "<tev:Timeout>PT5S</tev:Timeout><tev:MessageLimit>32<"));
	assert_int_equal(cu_onvif_request_text(c, "pull", 0, 32, NULL, nonce, "x", out, sizeof(out)),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_onvif_request_text(c, "renew", 30, 0, NULL, nonce, "x", out, 64),
	                 CU_ERR_LIMIT);
	assert_int_equal(cu_onvif_request_text(c, "explode", 30, 0, NULL, nonce, "x", out,
	                                       sizeof(out)), CU_ERR_INVAL);
	/* no subscription yet: nothing to pull from */
	assert_int_equal(cu_onvif_pull(c, 1, 1, &rep), CU_ERR_INVAL);
	cu_onvif_close(c);
	o.url = "http://user:pw@127.0.0.1/x";
	assert_int_equal(cu_onvif_open(&o, &c), CU_ERR_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_vector),
		cmocka_unit_test(test_subscribed),
		cmocka_unit_test(test_pulled),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_fault),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bool_url),
		cmocka_unit_test(test_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
