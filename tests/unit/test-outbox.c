/* Unit tests for lib/notify's event store, outbox and webhooks: the webhook body and signatures against the
 * worked example of docs/notifications.md (computed independently with
 * Python's hmac and python3-cryptography), Retry-After, secrets, the event
 * store and outbox (events.db) in a temporary directory, and the events.db
 * test vector (tests/data/events-vector, written from the format page). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/evdb.h"
#include "custody/notify.h"
#include "custody/time.h"

#define EX_ID "evt_5f0c2a9e4b1d47c3a8e6f0b2c4d6e8fa"
#define EX_TS 1796671800
#define EX_BODY                                                                             \
	"{\"camera\":\"lobby\",\"detail\":\"no frames for 5012 ms\",\"id\":\"" EX_ID "\","   \
	"\"phase\":\"raise\",\"severity\":\"major\",\"site\":\"HQ\",\"source\":\"custodyd\"," \
	"\"time\":\"2026-12-07T19:30:00Z\",\"type\":\"camera.offline\"}"
#define EX_SECRET "whsec_Y3VzdG9keS1leGFtcGxlLXdlYmhvb2stc2VjcmV0ISE="
#define EX_V1 "v1,H5rM/sOJ3MF6g0b5CV7hXSWTKgrvy5V539o7cYrtwDo="
#define EX_V1A "v1a,hZaqUkT/bdWm7RjbaDINc37dGGtGeCAxa6xRLEHVjBh0xe3asQu7qusMz7ceMF2oSaCTMPJU4DwT6TL4x568Bg=="
#define EX_PUB "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="

static const struct cu_notice example = {
	.id = EX_ID, .type = "camera.offline", .camera = "lobby", .source = "custodyd",
	.phase = "raise", .severity = "major", .detail = "no frames for 5012 ms", .site = "HQ",
};

static void
test_worked_example(void **state)
{
	(void)state;
	struct cu_notice n = example;
	assert_int_equal(cu_time_parse_iso8601("2026-12-07T19:30:00Z", &n.t_us), 0);
	char *body;
	size_t len;
	assert_int_equal(cu_webhook_body(&n, &body, &len), 0);
	assert_string_equal(body, EX_BODY);
	uint8_t secret[CU_WEBHOOK_SECRET_MAX], seed[32], pub[32];
	size_t sl;
	assert_int_equal(cu_webhook_secret_parse(EX_SECRET, secret, &sl), 0);
	assert_int_equal(sl, 32);
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	cu_sign_key *k;
	assert_int_equal(cu_sign_key_new(seed, &k), 0);
	assert_int_equal(cu_ed25519_public(seed, pub), 0);
	char pubtext[CU_WEBHOOK_KEY_TEXT];
	assert_int_equal(cu_webhook_key_text(pub, pubtext), 0);
	assert_string_equal(pubtext, EX_PUB);
	struct cu_webhook_target t = {.url = "https://x.example/", .secret = secret,
	                              .secret_len = sl, .signer = k};
	char sig[CU_WEBHOOK_SIG_MAX];
	assert_int_equal(cu_webhook_sign(&t, EX_ID, EX_TS, body, len, sig), 0);
	assert_string_equal(sig, EX_V1 " " EX_V1A);
	/* either alone */
	t.signer = NULL;
	assert_int_equal(cu_webhook_sign(&t, EX_ID, EX_TS, body, len, sig), 0);
	assert_string_equal(sig, EX_V1);
	t.signer = k;
	t.secret = NULL;
	assert_int_equal(cu_webhook_sign(&t, EX_ID, EX_TS, body, len, sig), 0);
	assert_string_equal(sig, EX_V1A);
	/* one byte of the body changed: another signature */
	body[3] = 'C';
	assert_int_equal(cu_webhook_sign(&t, EX_ID, EX_TS, body, len, sig), 0);
	assert_string_not_equal(sig, EX_V1A);
	t.signer = NULL;
	assert_int_equal(cu_webhook_sign(&t, EX_ID, EX_TS, body, len, sig), CU_ERR_INVAL);
	cu_sign_key_free(k);
	free(body);
}

static void
test_secret(void **state)
{
	(void)state;
	uint8_t s[CU_WEBHOOK_SECRET_MAX];
	size_t n;
	assert_int_equal(cu_webhook_secret_parse("Y3VzdG9keS1leGFtcGxl", s, &n), CU_ERR_FORMAT);
	assert_int_equal(cu_webhook_secret_parse("whsec_c2hvcnQ=", s, &n), CU_ERR_FORMAT); /* 5 bytes */
	assert_int_equal(cu_webhook_secret_parse("whsec_not base64!", s, &n), CU_ERR_FORMAT);
	char big[200] = "whsec_";
	memset(big + 6, 'A', 120); /* 90 bytes: over 64 */
	assert_int_equal(cu_webhook_secret_parse(big, s, &n), CU_ERR_FORMAT);
}

static void
test_retry_after(void **state)
{
	(void)state;
	int64_t d, now;
	assert_int_equal(cu_time_parse_iso8601("1994-11-06T08:49:30Z", &now), 0);
	assert_int_equal(cu_webhook_retry_after("2", now, &d), 0);
	assert_int_equal(d, 2000000);
	assert_int_equal(cu_webhook_retry_after("0", now, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(cu_webhook_retry_after("99999999999999999999", now, &d), 0);
	assert_int_equal(d, CU_WEBHOOK_RETRY_AFTER_MAX_US);
	assert_int_equal(cu_webhook_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, &d), 0);
	assert_int_equal(d, 7000000);
	assert_int_equal(cu_webhook_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now, &d), 0);
	assert_int_equal(d, 0); /* in the past */
	assert_int_equal(cu_webhook_retry_after("Sun, 06 Nov 2094 08:49:37 GMT", now, &d), 0);
	assert_int_equal(d, CU_WEBHOOK_RETRY_AFTER_MAX_US);
	const char *bad[] = {"", "-1", "1.5", " 2", "soon", "Sun, 06 Nov 1994 08:49:37 UTC",
	                     "Sunday, 06-Nov-94 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
	                     "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cu_webhook_retry_after(bad[i], now, &d), CU_ERR_FORMAT);
}

static void
test_evdb(void **state)
{
	(void)state;
	char dir[] = "/tmp/custody-evdb-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cu_evdb *db;
	assert_int_equal(cu_evdb_open(dir, &db), 0);
	struct cu_evrec ev = {.t_us = 1000, .severity = 2};
	strcpy(ev.type, "camera.offline");
	strcpy(ev.camera, "lobby");
	strcpy(ev.source, "custodyd");
	strcpy(ev.phase, "raise");
	strcpy(ev.detail, "gone");
	struct cu_evnote n = {.created_us = 5};
	strcpy(n.target, "webhook:ops");
	strcpy(n.rule, "r");
	assert_int_equal(cu_evdb_new_id(ev.id), 0);
	assert_int_equal(cu_evdb_new_id(n.id), 0);
	assert_int_equal(strlen(ev.id), CU_EVDB_ID_LEN);
	const char *conds[] = {"camera.offline"};
	static uint8_t big[CU_EVDB_STILL_MAX + 1];
	big[0] = 0xff, big[1] = 0xd8, big[2] = 0xff;
	assert_int_equal(cu_evdb_add(db, &ev, conds, 1, 1, &n, 1, big, CU_EVDB_STILL_MAX), 0);
	/* kept whole at the limit; one byte more, or not a JPEG: a note only */
	uint8_t *jpeg;
	size_t jl;
	char note[CU_EVDB_NOTE_MAX + 1];
	assert_int_equal(cu_evdb_still(db, ev.id, &jpeg, &jl, note), 0);
	assert_int_equal(jl, CU_EVDB_STILL_MAX);
	assert_memory_equal(jpeg, big, jl);
	free(jpeg);
	struct cu_evrec ev2 = ev, ev3 = ev;
	ev2.severity = ev3.severity = 0; /* out of the queries below */
	assert_int_equal(cu_evdb_new_id(ev2.id), 0);
	assert_int_equal(cu_evdb_new_id(ev3.id), 0);
	assert_int_equal(cu_evdb_add(db, &ev2, NULL, 0, 0, NULL, 0, big, sizeof(big)), 0);
	assert_int_equal(cu_evdb_still(db, ev2.id, &jpeg, &jl, note), 0);
	assert_null(jpeg);
	assert_string_equal(note, "the still of 524289 bytes is over the 512 KiB kept");
	assert_int_equal(cu_evdb_add(db, &ev3, NULL, 0, 0, NULL, 0, (const uint8_t *)"GIF89a", 6), 0);
	assert_int_equal(cu_evdb_still(db, ev3.id, &jpeg, &jl, note), 0);
	assert_null(jpeg);
	assert_string_equal(note, "the still of 6 bytes is not a JPEG");
	/* conditions: raised with the event, in its transaction */
	assert_int_equal(cu_evdb_condition(db, "camera.offline", "lobby", -1), 1);
	assert_int_equal(cu_evdb_condition(db, "camera.offline", "lobby", 1), 1);
	assert_int_equal(cu_evdb_condition(db, "camera.offline", "lobby", 0), 1);
	assert_int_equal(cu_evdb_condition(db, "camera.offline", "lobby", -1), 0);
	/* the outbox survives closing; due now, then retried later */
	cu_evdb_close(db);
	assert_int_equal(cu_evdb_open(dir, &db), 0);
	struct cu_evnote *due;
	size_t nd;
	int64_t next;
	assert_int_equal(cu_evdb_due(db, 10, 16, &due, &nd, &next), 0);
	assert_int_equal(nd, 1);
	assert_string_equal(due[0].id, n.id);
	assert_string_equal(due[0].ev.type, "camera.offline");
	assert_int_equal(next, INT64_MAX);
	free(due);
	assert_int_equal(cu_evdb_note_done(db, n.id, CU_EVDB_PENDING, 100, "HTTP 503"), 0);
	assert_int_equal(cu_evdb_due(db, 10, 16, &due, &nd, &next), 0);
	assert_int_equal(nd, 0);
	assert_int_equal(next, 100);
	free(due);
	assert_int_equal(cu_evdb_note_done(db, n.id, CU_EVDB_DELIVERED, 100, ""), 0);
	assert_int_equal(cu_evdb_due(db, 1000, 16, &due, &nd, &next), 0);
	assert_int_equal(nd, 0);
	free(due);
	/* ack once */
	assert_int_equal(cu_evdb_ack(db, ev.id, "op", "checked", 2000), 0);
	assert_int_equal(cu_evdb_ack(db, ev.id, "op", "again", 3000), CU_ERR_EXIST);
	assert_int_equal(cu_evdb_ack(db, "evt_00000000000000000000000000000000", "op", "x", 1),
	                 CU_ERR_NOTFOUND);
	struct cu_evrec got;
	assert_int_equal(cu_evdb_get(db, ev.id, &got), 0);
	assert_string_equal(got.acked_by, "op");
	assert_int_equal(got.acked_us, 2000);
	/* query: prefix, severity */
	struct cu_evq q = {.type_prefix = "camera.", .severity_min = 2, .limit = 10};
	struct cu_evrec *rows;
	size_t nr;
	bool more;
	assert_int_equal(cu_evdb_query(db, &q, &rows, &nr, &more), 0);
	assert_int_equal(nr, 1);
	free(rows);
	q.severity_min = 3;
	assert_int_equal(cu_evdb_query(db, &q, &rows, &nr, &more), 0);
	assert_int_equal(nr, 0);
	free(rows);
	q.limit = 0;
	assert_int_equal(cu_evdb_query(db, &q, &rows, &nr, &more), CU_ERR_INVAL);
	cu_evdb_close(db);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* Builds dir/events.db from the test vector's SQL text (with version
 * replaced by version when not NULL; version "1" also drops the stills
 * table: a version 1 database, as the format page describes it). */
static void
make_vector(const char *dir, const char *version)
{
	char path[512], db_path[512];
	snprintf(path, sizeof(path), "%s/events-vector/events.sql", getenv("CU_TEST_DATA"));
	snprintf(db_path, sizeof(db_path), "%s/events.db", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char sql[65536];
	size_t n = fread(sql, 1, sizeof(sql) - 1, f);
	fclose(f);
	sql[n] = '\0';
	sqlite3 *db;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	if (version != NULL) {
		char up[128];
		snprintf(up, sizeof(up), "UPDATE meta SET value = '%s' WHERE key = 'version'", version);
		assert_int_equal(sqlite3_exec(db, up, NULL, NULL, NULL), SQLITE_OK);
		if (strcmp(version, "1") == 0)
			assert_int_equal(sqlite3_exec(db, "DROP TABLE stills", NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(db);
}

static void
test_vector(void **state)
{
	(void)state;
	char dir[] = "/tmp/custody-evvec-XXXXXX", cmd[128];
	assert_non_null(mkdtemp(dir));
	make_vector(dir, "3");
	cu_evdb *db;
	assert_int_equal(cu_evdb_open(dir, &db), CU_ERR_UNSUPPORTED);
	snprintf(cmd, sizeof(cmd), "rm -f %s/events.db*", dir);
	assert_int_equal(system(cmd), 0);
	/* version 1: opened and migrated to 2 */
	make_vector(dir, "1");
	assert_int_equal(cu_evdb_open(dir, &db), 0);
	uint8_t *jpeg;
	size_t jl;
	char note[CU_EVDB_NOTE_MAX + 1];
	assert_int_equal(cu_evdb_still(db, "evt_00000000000000000000000000000004", &jpeg, &jl, note),
	                 CU_ERR_NOTFOUND);
	struct cu_evrec one;
	assert_int_equal(cu_evdb_get(db, "evt_00000000000000000000000000000004", &one), 0);
	cu_evdb_close(db);
	{
		char db_path[512];
		snprintf(db_path, sizeof(db_path), "%s/events.db", dir);
		sqlite3 *raw;
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_open(db_path, &raw), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(raw, "SELECT value FROM meta WHERE key = 'version'",
		                                    -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "2");
		sqlite3_finalize(st);
		sqlite3_close(raw);
	}
	assert_int_equal(system(cmd), 0);
	make_vector(dir, NULL);
	assert_int_equal(cu_evdb_open(dir, &db), 0);
	struct cu_evq q = {.limit = 10};
	struct cu_evrec *r;
	size_t n;
	bool more;
	assert_int_equal(cu_evdb_query(db, &q, &r, &n, &more), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(r[i].seq, 4 - (int64_t)i);
	assert_string_equal(r[2].acked_by, "op1");
	assert_int_equal(r[2].acked_us, INT64_C(1767225640000000));
	assert_string_equal(r[2].ack_comment, "rebooted");
	assert_string_equal(r[0].camera, "gate");
	assert_string_equal(r[3].camera, "");
	free(r);
	q.type_prefix = "camera.";
	assert_int_equal(cu_evdb_query(db, &q, &r, &n, &more), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].seq, 3);
	assert_int_equal(r[1].seq, 2);
	free(r);
	q.type_prefix = NULL;
	q.severity_min = 2;
	q.limit = 1;
	assert_int_equal(cu_evdb_query(db, &q, &r, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_true(more);
	assert_int_equal(r[0].seq, 4);
	q.before_seq = r[0].seq;
	free(r);
	assert_int_equal(cu_evdb_query(db, &q, &r, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_int_equal(r[0].seq, 2);
	free(r);
	assert_int_equal(cu_evdb_ack(db, "evt_00000000000000000000000000000002", "x", "y", 1),
	                 CU_ERR_EXIST);
	assert_int_equal(cu_evdb_condition(db, "tamper.covered", "gate", -1), 1);
	assert_int_equal(cu_evdb_condition(db, "camera.offline", "lobby", -1), 0);
	struct cu_evnote *due;
	int64_t next;
	assert_int_equal(cu_evdb_due(db, INT64_C(1767225760000000), 16, &due, &n, &next), 0);
	assert_int_equal(n, 1);
	assert_string_equal(due[0].id, "evt_0000000000000000000000000000000b");
	assert_string_equal(due[0].target, "webhook:ops");
	assert_int_equal(due[0].attempts, 3);
	assert_string_equal(due[0].ev.type, "tamper.covered");
	free(due);
	assert_int_equal(cu_evdb_due(db, INT64_C(1767225759999999), 16, &due, &n, &next), 0);
	assert_int_equal(n, 0);
	assert_int_equal(next, INT64_C(1767225760000000));
	free(due);
	assert_int_equal(cu_evdb_due(db, INT64_C(1767225800000000), 16, &due, &n, &next), 0);
	assert_int_equal(n, 2);
	assert_string_equal(due[1].id, "evt_0000000000000000000000000000000c");
	assert_string_equal(due[1].target, "email:security");
	free(due);
	/* the stills (version 2) */
	static const uint8_t want[] = {0xff, 0xd8, 0xff, 0xe0, 0xc0, 0x57, 0x1d, 0xd9};
	assert_int_equal(cu_evdb_still(db, "evt_00000000000000000000000000000004", &jpeg, &jl, note),
	                 0);
	assert_int_equal(jl, sizeof(want));
	assert_memory_equal(jpeg, want, sizeof(want));
	assert_string_equal(note, "");
	free(jpeg);
	assert_int_equal(cu_evdb_still(db, "evt_00000000000000000000000000000002", &jpeg, &jl, note),
	                 0);
	assert_null(jpeg);
	assert_int_equal(jl, 0);
	assert_string_equal(note, "the still of 600000 bytes is over the 512 KiB kept");
	assert_int_equal(cu_evdb_still(db, "evt_00000000000000000000000000000001", &jpeg, &jl, note),
	                 CU_ERR_NOTFOUND);
	/* retention: the events go, and the still no pending notice needs */
	assert_int_equal(cu_evdb_prune(db, INT64_C(1767225900000000), 1000000), 0);
	assert_int_equal(cu_evdb_get(db, "evt_00000000000000000000000000000004", &one), CU_ERR_NOTFOUND);
	assert_int_equal(cu_evdb_still(db, "evt_00000000000000000000000000000002", &jpeg, &jl, note),
	                 CU_ERR_NOTFOUND);
	assert_int_equal(cu_evdb_still(db, "evt_00000000000000000000000000000004", &jpeg, &jl, note),
	                 0);
	free(jpeg);
	/* once its notices are done, that still goes too */
	assert_int_equal(cu_evdb_note_done(db, "evt_0000000000000000000000000000000c",
	                                   CU_EVDB_DELIVERED, 1, ""), 0);
	assert_int_equal(cu_evdb_prune(db, INT64_C(1767225900000000), 1000000), 0);
	assert_int_equal(cu_evdb_still(db, "evt_00000000000000000000000000000004", &jpeg, &jl, note),
	                 0); /* the webhook notice evt_…0b of the same event is pending */
	free(jpeg);
	assert_int_equal(cu_evdb_note_done(db, "evt_0000000000000000000000000000000b",
	                                   CU_EVDB_FAILED, 1, "HTTP 503"), 0);
	assert_int_equal(cu_evdb_prune(db, INT64_C(1767225900000000), 1000000), 0);
	assert_int_equal(cu_evdb_still(db, "evt_00000000000000000000000000000004", &jpeg, &jl, note),
	                 CU_ERR_NOTFOUND);
	cu_evdb_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_example),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_evdb),
		cmocka_unit_test(test_vector),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
