/* Unit tests for lib/notify: the checks of a notice, the mail built from it
 * (headers only from checked tokens: no CR/LF from an event reaches them),
 * addresses, and the time in fields. The channels themselves are tested
 * against real receivers in tests/integration/test_notify_channels.py.
 * Expected weekdays and epoch seconds come from a calendar outside custody
 * (Python's datetime), written here as constants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "custody/error.h"
#include "custody/notify.h"
#include "notify/mail.h"
#include "notify/notice.h"

#define US INT64_C(1000000)
#define T_2024_02_29_123456 (INT64_C(1709210096) * US)   /* a Thursday */
#define T_2000_01_01 (INT64_C(946684800) * US)           /* a Saturday */

static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9};
static const char *const to2[] = {"ops@example.org", "sec@example.org"};

static struct cu_notice
good(void)
{
	return (struct cu_notice){
		.id = "evt_0123456789abcdef0123456789abcdef", .t_us = T_2024_02_29_123456 + 250000,
		.type = "tamper.covered", .camera = "cam1", .source = "analysis", .phase = "raise",
		.severity = "major", .detail = "lens covered \xe2\x80\x94 gate 3", .site = "Depot",
		.still = jpeg, .still_len = sizeof(jpeg),
	};
}

static void
refused(const struct cu_notice *n, const char *words)
{
	assert_int_equal(cu_notice_check(n), CU_ERR_INVAL);
	if (strstr(cu_error_detail(), words) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", cu_error_detail(), words);
}

static void
test_notice_check(void **state)
{
	struct cu_notice n = good();
	assert_int_equal(cu_notice_check(&n), 0);
	n.camera = NULL;
	n.detail = NULL;
	n.site = NULL;
	n.still = NULL;
	n.still_len = 0;
	assert_int_equal(cu_notice_check(&n), 0);


	n = good(); n.detail = "two\r\nBcc: x@evil.example"; refused(&n, "detail");
	n = good(); n.detail = "tab\tinside"; refused(&n, "detail");
	n = good(); n.site = "a\nb"; refused(&n, "site");
	n = good(); n.detail = "\xe2\x80\xae" "reversed"; refused(&n, "detail");
	n = good(); n.camera = "cam 1"; refused(&n, "camera");
	n = good(); n.camera = "cam1\r\nBcc: x"; refused(&n, "camera");
	n = good(); n.type = "Tamper.covered"; refused(&n, "event type");
	n = good(); n.type = "a\nb"; refused(&n, "event type");
	n = good(); n.type = ""; refused(&n, "event type: missing");
	n = good(); n.id = NULL; refused(&n, "notice id: missing");
	n = good(); n.id = "evt_<x>"; refused(&n, "notice id");
	n = good(); n.source = NULL; refused(&n, "event source");
	n = good(); n.phase = "start"; refused(&n, "phase");
	n = good(); n.severity = "urgent"; refused(&n, "severity");
	n = good(); n.severity = NULL; refused(&n, "severity");
	n = good(); n.t_us = -1; refused(&n, "time");
	n = good(); n.still = (const uint8_t *)"GIF89a"; n.still_len = 6; refused(&n, "not a JPEG");
	n = good(); n.still = NULL; refused(&n, "still");
	n = good(); n.still_len = CU_NOTIFY_STILL_MAX + 1; refused(&n, "still");
	char long_id[CU_NOTICE_ID_MAX + 2];
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	n = good(); n.id = long_id; refused(&n, "at most 64");
	char *long_detail = malloc(CU_NOTIFY_DETAIL_MAX + 2);
	assert_non_null(long_detail);
	memset(long_detail, 'x', CU_NOTIFY_DETAIL_MAX + 1);
	long_detail[CU_NOTIFY_DETAIL_MAX + 1] = '\0';
	n = good(); n.detail = long_detail; refused(&n, "detail");
	long_detail[CU_NOTIFY_DETAIL_MAX] = '\0';
	assert_int_equal(cu_notice_check(&n), 0);
	free(long_detail);
	assert_int_equal(cu_notice_check(NULL), CU_ERR_INVAL);
}

static void
test_severity_and_names(void **state)
{
	assert_int_equal(cu_notice_severity("info"), 1);
	assert_int_equal(cu_notice_severity("warning"), 2);
	assert_int_equal(cu_notice_severity("major"), 3);
	assert_int_equal(cu_notice_severity("critical"), 4);
	assert_int_equal(cu_notice_severity("Major"), 0);
	assert_int_equal(cu_notice_severity(NULL), 0);
	assert_string_equal(cu_send_name(CU_SEND_OK), "ok");
	assert_string_equal(cu_send_name(CU_SEND_RETRY), "retry");
	assert_string_equal(cu_send_name(CU_SEND_REFUSED), "refused");
}

static void
test_civil(void **state)
{
	struct cu_civil c;
	assert_true(cu_notice_civil(T_2024_02_29_123456 + 987654, &c));
	assert_int_equal(c.year, 2024);
	assert_int_equal(c.month, 2);
	assert_int_equal(c.day, 29);
	assert_int_equal(c.hour, 12);
	assert_int_equal(c.min, 34);
	assert_int_equal(c.sec, 56);
	assert_int_equal(c.usec, 987654);
	assert_int_equal(c.wday, 4);
	assert_true(cu_notice_civil(T_2000_01_01, &c));
	assert_int_equal(c.wday, 6);
	assert_int_equal(c.usec, 0);
	assert_true(cu_notice_civil(0, &c));
	assert_int_equal(c.wday, 4);
	assert_false(cu_notice_civil(-1, &c));
}

static void
test_address_check(void **state)
{
	assert_int_equal(cu_mail_address_check("ops@example.org", "to"), 0);
	assert_int_equal(cu_mail_address_check("first.last+tag@sub-1.example.org", "to"), 0);
	const char *bad[] = {NULL, "", "a@", "@b", "ab", "a@b@c", "a b@c.d", "<a@b.c>",
	                     "a@b.c\r\nBcc: x@y.z", "a@b.c>", "a,b@c.d", "a@b_c.d", "a@b c",
	                     "\xc3\xa4@b.c", "a\"b@c.d"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cu_mail_address_check(bad[i], "to") != CU_ERR_INVAL)
			fail_msg("accepted address %zu", i);
		assert_non_null(strstr(cu_error_detail(), "to"));
	}
	char long_addr[CU_SMTP_ADDR_MAX + 2];
	memset(long_addr, 'a', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	long_addr[10] = '@';
	assert_int_equal(cu_mail_address_check(long_addr, "to"), CU_ERR_INVAL);
}

static void
no_line_breaks(const char *header)
{
	assert_null(strchr(header, '\r'));
	assert_null(strchr(header, '\n'));
}

static void
test_compose(void **state)
{
	struct cu_notice n = good();
	struct cu_mail *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 2, T_2000_01_01 + 3723 * US,
	                                 m), 0);
	assert_string_equal(m->subject, "Subject: [custody] major tamper.covered on cam1 (raise)");
	assert_string_equal(m->from, "From: custody <custody@example.org>");
	assert_string_equal(m->to, "To: <ops@example.org>, <sec@example.org>");
	assert_string_equal(m->date, "Date: Sat, 01 Jan 2000 01:02:03 +0000");
	assert_string_equal(m->message_id,
	                    "Message-ID: <custody.evt_0123456789abcdef0123456789abcdef@example.org>");
	assert_string_equal(m->auto_submitted, "Auto-Submitted: auto-generated");
	assert_string_equal(m->filename, "custody-evt_0123456789abcdef0123456789abcdef.jpg");
	const char *hs[] = {m->from, m->to, m->subject, m->date, m->message_id, m->auto_submitted,
	                    m->filename};
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
		no_line_breaks(hs[i]);
	const char *lines[] = {
		"custody event\r\n\r\n",
		"\r\nEvent:     tamper.covered (raise)\r\n",
		"\r\nSeverity:  major\r\n",
		"\r\nCamera:    cam1\r\n",
		"\r\nTime:      2024-02-29T12:34:56Z (UTC)\r\n",
		"\r\nDetail:    lens covered \xe2\x80\x94 gate 3\r\n",
		"\r\nSource:    analysis\r\n",
		"\r\nSite:      Depot\r\n",
		"\r\nEvent id:  evt_0123456789abcdef0123456789abcdef\r\n",
		"attached.\r\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (strstr(m->body, lines[i]) == NULL)
			fail_msg("body lacks line %zu: %s", i, m->body);
	/* every LF of the body is part of a CRLF */
	for (const char *p = strchr(m->body, '\n'); p != NULL; p = strchr(p + 1, '\n'))
		assert_int_equal(p[-1], '\r');

	/* the same notice gives the same Message-ID on a retry, at another time */
	struct cu_mail *again = calloc(1, sizeof(*again));
	assert_non_null(again);
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 1, T_2000_01_01 + 99 * US,
	                                 again), 0);
	assert_string_equal(again->message_id, m->message_id);
	assert_string_equal(again->to, "To: <ops@example.org>");

	/* no camera, no still */
	n.camera = NULL;
	n.still = NULL;
	n.still_len = 0;
	n.phase = "once";
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 2, T_2000_01_01, m), 0);
	assert_string_equal(m->subject, "Subject: [custody] major tamper.covered (once)");
	assert_non_null(strstr(m->body, "Camera:    (none)\r\n"));
	assert_null(strstr(m->body, "attached"));
	free(again);
	free(m);
}

/* An event whose still was not kept: no attachment, the reason in the body;
 * a note with a line break is refused like any notice text. */
static void
test_compose_still_note(void **state)
{
	(void)state;
	struct cu_notice n = good();
	n.still = NULL;
	n.still_len = 0;
	n.still_note = "the still of 600000 bytes is over the 512 KiB kept";
	struct cu_mail *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 2, T_2000_01_01, m), 0);
	assert_non_null(strstr(m->body, "\r\nNo still attached: the still of 600000 bytes is over "
	                                 "the 512 KiB kept\r\n"));
	assert_null(strstr(m->body, "attached.\r\n"));
	n.still_note = NULL;
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 2, T_2000_01_01, m), 0);
	assert_null(strstr(m->body, "still"));
	n.still_note = "two\r\nBcc: x@evil.example";
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 2, T_2000_01_01, m),
	                 CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "still note"));
	free(m);
}

static void
test_compose_refuses_injection(void **state)
{
	struct cu_mail *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	memcpy(m->subject, "untouched", sizeof("untouched"));
	struct cu_notice n = good();
	n.camera = "cam1\r\nBcc: spy@evil.example";
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 2, T_2000_01_01, m),
	                 CU_ERR_INVAL);
	assert_string_equal(m->subject, "untouched");   /* written only on success */
	n = good();
	n.detail = "ok\nBcc: spy@evil.example";
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 2, T_2000_01_01, m),
	                 CU_ERR_INVAL);
	n = good();
	n.id = "evt_1>\r\nBcc: spy@evil.example";
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 2, T_2000_01_01, m),
	                 CU_ERR_INVAL);
	n = good();
	const char *evil_to[] = {"ops@example.org", "x@y.z\r\nBcc: spy@evil.example"};
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", evil_to, 2, T_2000_01_01, m),
	                 CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "recipient 2"));
	assert_int_equal(cu_mail_compose(&n, "custody@example.org\r\nX: y", to2, 2, T_2000_01_01, m),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", to2, 0, T_2000_01_01, m),
	                 CU_ERR_INVAL);
	const char *many[CU_SMTP_RCPT_MAX + 1];
	for (size_t i = 0; i < CU_SMTP_RCPT_MAX + 1; i++)
		many[i] = "ops@example.org";
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", many, CU_SMTP_RCPT_MAX + 1,
	                                 T_2000_01_01, m), CU_ERR_INVAL);
	assert_int_equal(cu_mail_compose(&n, "custody@example.org", many, CU_SMTP_RCPT_MAX,
	                                 T_2000_01_01, m), 0);
	assert_string_equal(m->subject, "Subject: [custody] major tamper.covered on cam1 (raise)");
	free(m);
}

static void
test_send_refuses_before_the_network(void **state)
{
	/* targets that break a rule are refused without a packet: port 9 on
	 * 127.0.0.1 would be "retry" if anything were sent */
	struct cu_notice n = good();
	char err[256];
	struct cu_snmp_target st = {.host = "127.0.0.1", .port = 9, .version = CU_SNMP_V3,
	                            .user = "custody", .auth_pass = "short",
	                            .priv_pass = "long-enough-1"};
	assert_int_equal(cu_snmp_send(&st, &n, err, sizeof(err)), CU_SEND_REFUSED);
	assert_non_null(strstr(err, "auth passphrase"));
	assert_null(strstr(err, "short"));
	st = (struct cu_snmp_target){.host = "127.0.0.1;x", .version = CU_SNMP_V2C,
	                             .community = "public"};
	assert_int_equal(cu_snmp_send(&st, &n, err, sizeof(err)), CU_SEND_REFUSED);
	assert_non_null(strstr(err, "host"));
	st = (struct cu_snmp_target){.host = "127.0.0.1", .version = 1, .community = "public"};
	assert_int_equal(cu_snmp_send(&st, &n, err, sizeof(err)), CU_SEND_REFUSED);
	st = (struct cu_snmp_target){.host = "127.0.0.1", .version = CU_SNMP_V2C,
	                             .community = "pub lic"};
	assert_int_equal(cu_snmp_send(&st, &n, err, sizeof(err)), CU_SEND_REFUSED);

	struct cu_smtp_target mt = {.url = "smtp://127.0.0.1:9", .from = "custody@example.org",
	                            .to = to2, .n_to = 2, .user = "u", .password = NULL};
	assert_int_equal(cu_smtp_send(&mt, &n, err, sizeof(err)), CU_SEND_REFUSED);
	assert_non_null(strstr(err, "user and password"));
	const char *urls[] = {"http://127.0.0.1", "smtp://a@127.0.0.1", "smtp://127.0.0.1/path",
	                      "smtp://127.0.0.1:0", "smtp://127.0.0.1:65536", "smtp://[::1",
	                      "smtp://", "smtps://h:1x", "SMTP://127.0.0.1"};
	mt.user = NULL;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		mt.url = urls[i];
		if (cu_smtp_send(&mt, &n, err, sizeof(err)) != CU_SEND_REFUSED || strncmp(err, "url", 3))
			fail_msg("url %s: %s", urls[i], err);
	}
	mt.url = "smtp://127.0.0.1:9";
	n.detail = "a\r\nb";
	assert_int_equal(cu_smtp_send(&mt, &n, err, sizeof(err)), CU_SEND_REFUSED);
	assert_non_null(strstr(err, "detail"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notice_check),
		cmocka_unit_test(test_severity_and_names),
		cmocka_unit_test(test_civil),
		cmocka_unit_test(test_address_check),
		cmocka_unit_test(test_compose),
		cmocka_unit_test(test_compose_still_note),
		cmocka_unit_test(test_compose_refuses_injection),
		cmocka_unit_test(test_send_refuses_before_the_network),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
