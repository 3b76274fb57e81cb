/* custodyd's hook from events to the footage (daemon/evrecord.c), with the
 * real cd_emit (daemon/events.c) and a real store: tamper.* and onvif.*
 * events of a recording camera become signed event records; other events
 * and events of cameras not recording do not. And the hook from events to
 * events.db (daemon/notify.c): an event's still is kept once for its e-mail
 * notices, only when it has one, and as a note when it is too big. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "custody/error.h"
#include "custody/evdb.h"
#include "custody/file.h"
#include "custody/store.h"
#include "daemon.h"
#include "notify.h"

#define PW "unit-test-password"
#define T0 INT64_C(1767225600000000)

static char tmproot[] = "/tmp/custody-evrec-XXXXXX";

static void
frames(cu_writer *w, int first, int n)
{
	static uint8_t data[4000];
	for (int i = first; i < first + n; i++) {
		bool key = i % 25 == 0;
		memcpy(data, key ? "\0\0\0\1\x65" : "\0\0\0\1\x41", 5);
		cu_frame f = {.ts_us = T0 + (int64_t)i * 40000, .dur_us = 40000,
		              .codec = CU_CODEC_H264, .track = CU_TRACK_VIDEO, .key = key,
		              .data = data, .len = sizeof(data)};
		assert_int_equal(cu_writer_append(w, &f), 0);
	}
}

static void
test_events_into_footage(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(cu_path(dir, sizeof(dir), "%s/st", tmproot), 0);
	struct cu_store_create_opts o = {.encryption = CU_ENC_STRONG,
	                                 .kdf = {1, CU_ARGON2_M_MIN, 1}};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &o), 0);
	cu_store *s;
	assert_int_equal(cu_store_open(dir, PW, strlen(PW), &s), 0);
	struct cd_cam *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	snprintf(c->cfg.name, sizeof(c->cfg.name), "cam1");
	pthread_mutex_init(&c->wlock, NULL);
	assert_int_equal(cu_writer_open(s, "cam1", &c->w), 0);
	assert_int_equal(cd_evrecord_start(), 0);
	cd_evrecord_add(c);
	frames(c->w, 0, 25);
	pthread_mutex_lock(&c->wlock); /* an emitter holding the writer never waits */
	cd_emit(&(struct cd_ev){.t_us = T0 + 400000, .type = "tamper.covered", .camera = "cam1",
	                        .source = "analysis", .phase = CD_RAISE,
	                        .severity = CD_SEV_MAJOR, .detail = "lens covered\tnow"});
	cd_emit(&(struct cd_ev){.type = "camera.offline", .camera = "cam1", .phase = CD_RAISE,
	                        .severity = CD_SEV_MAJOR, .detail = "not an event record"});
	cd_emit(&(struct cd_ev){.type = "tamper.moved", .camera = "other", .source = "analysis",
	                        .phase = CD_RAISE, .detail = "no such camera recording"});
	cd_emit(&(struct cd_ev){.type = "tamper.covered", .source = "analysis",
	                        .phase = CD_RAISE, .detail = "no camera at all"});
	pthread_mutex_unlock(&c->wlock);
	cd_emit(&(struct cd_ev){.t_us = T0 + 900000, .type = "tamper.covered", .camera = "cam1",
	                        .source = "analysis", .phase = CD_CLEAR,
	                        .severity = CD_SEV_MAJOR, .detail = "restored"});
	cd_emit(&(struct cd_ev){.t_us = T0 + 950000, .type = "onvif.motion", .camera = "cam1",
	                        .source = "onvif", .phase = CD_ONCE, .detail = "motion"});
	cd_evrecord_stop(); /* writes what is queued */
	cd_evrecord_remove(c);
	assert_int_equal(cu_writer_close(c->w), 0);
	struct cu_verify_report *rep;
	struct cu_verify_opts vo = {0};
	assert_int_equal(cu_store_verify(s, &vo, &rep), 0);
	assert_false(rep->tampered);
	assert_int_equal(rep->ncameras, 1);
	const struct cu_verify_camera *vc = &rep->cameras[0];
	assert_int_equal(vc->ngaps, 3);
	struct cu_event_note n;
	assert_int_equal(cu_event_note_of(&vc->gaps[0], &n), 0);
	assert_string_equal(n.type, "tamper.covered");
	assert_int_equal(n.phase, CU_EVENT_RAISE);
	assert_int_equal(n.severity, CU_EVENT_MAJOR);
	assert_string_equal(n.source, "analysis");
	assert_string_equal(n.detail, "lens covered now"); /* the tab made a space */
	assert_int_equal(n.at_us, T0 + 400000);
	assert_int_equal(cu_event_note_of(&vc->gaps[1], &n), 0);
	assert_int_equal(n.phase, CU_EVENT_CLEAR);
	assert_int_equal(cu_event_note_of(&vc->gaps[2], &n), 0);
	assert_string_equal(n.type, "onvif.motion");
	assert_int_equal(n.phase, CU_EVENT_ONCE);
	assert_int_equal(n.severity, CU_EVENT_INFO);
	cu_verify_report_free(rep);
	cu_store_close(s);
	pthread_mutex_destroy(&c->wlock);
	free(c);
}

/* The event of type and camera in events.db, by a query. */
static void
event_of(cu_evdb *db, const char *type, struct cu_evrec *ret)
{
	struct cu_evq q = {.type_prefix = type, .limit = 10};
	struct cu_evrec *r;
	size_t n;
	bool more;
	assert_int_equal(cu_evdb_query(db, &q, &r, &n, &more), 0);
	assert_int_equal(n, 1);
	*ret = r[0];
	free(r);
}

static void
test_still_for_email(void **state)
{
	(void)state;
	char dir[PATH_MAX], pw[PATH_MAX], community[PATH_MAX], conf[4 * PATH_MAX + 600];
	assert_int_equal(cu_path(dir, sizeof(dir), "%s/st2", tmproot), 0);
	assert_int_equal(cu_path(pw, sizeof(pw), "%s/pw", tmproot), 0);
	assert_int_equal(cu_path(community, sizeof(community), "%s/community", tmproot), 0);
	struct cu_store_create_opts o = {.encryption = CU_ENC_STRONG,
	                                 .kdf = {1, CU_ARGON2_M_MIN, 1}};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &o), 0);
	assert_int_equal(cu_file_write_atomic(community, "public\n", 7, 0600, 0), 0);
	assert_int_equal(cu_file_write_atomic(pw, PW "\n", strlen(PW) + 1, 0600, 0), 0);
	/* nobody listens on port 9: the mail stays pending, the trap leaves */
	int len = snprintf(conf, sizeof(conf),
	                   "[store]\npath = %s\npassword_file = %s\n"
	                   "[email mail]\nurl = smtp://127.0.0.1:9\nfrom = c@example.org\n"
	                   "to = ops@example.org\n"
	                   "[snmp trap]\nhost = 127.0.0.1\nport = 9\ncommunity_file = %s\n"
	                   "[rule mailed]\nevents = tamper.*\nactions = email:mail, snmp:trap\n"
	                   "[rule trapped]\nevents = camera.offline\nactions = snmp:trap\n",
	                   dir, pw, community);
	assert_true(len > 0 && (size_t)len < sizeof(conf));
	static struct cd_config c;
	char err[512];
	assert_int_equal(cd_config_parse(conf, (size_t)len, tmproot, &c, err, sizeof(err)), 0);
	assert_int_equal(c.notify.nemails, 1);
	assert_int_equal(c.notify.nsnmps, 1);
	cu_store *s;
	assert_int_equal(cu_store_open(dir, PW, strlen(PW), &s), 0);
	cu_auth *none = NULL;
	assert_int_equal(cd_evrecord_start(), 0);
	assert_int_equal(cd_notify_start(&c.notify, s, &none), 0);
	static uint8_t jpeg[CU_EVDB_STILL_MAX + 100];
	memset(jpeg, 0x5a, sizeof(jpeg));
	jpeg[0] = 0xff, jpeg[1] = 0xd8, jpeg[2] = 0xff;
	cd_emit(&(struct cd_ev){.type = "tamper.covered", .camera = "cam1", .source = "analysis",
	                        .phase = CD_RAISE, .severity = CD_SEV_MAJOR, .detail = "covered",
	                        .still = jpeg, .still_len = 5000});
	cd_emit(&(struct cd_ev){.type = "tamper.moved", .camera = "cam1", .source = "analysis",
	                        .phase = CD_RAISE, .severity = CD_SEV_MAJOR, .detail = "moved",
	                        .still = jpeg, .still_len = sizeof(jpeg)});
	cd_emit(&(struct cd_ev){.type = "camera.offline", .camera = "cam1", .phase = CD_RAISE,
	                        .severity = CD_SEV_MAJOR, .detail = "no e-mail for this",
	                        .still = jpeg, .still_len = 5000});
	cd_emit(&(struct cd_ev){.type = "tamper.defocused", .camera = "cam1",
	                        .source = "analysis", .phase = CD_RAISE,
	                        .severity = CD_SEV_MAJOR, .detail = "no still"});
	cd_notify_stop();
	cd_evrecord_stop();
	cu_evdb *db;
	assert_int_equal(cu_evdb_open(dir, &db), 0);
	struct cu_evrec ev;
	uint8_t *got;
	size_t gl;
	char note[CU_EVDB_NOTE_MAX + 1];
	event_of(db, "tamper.covered", &ev);
	assert_int_equal(cu_evdb_still(db, ev.id, &got, &gl, note), 0);
	assert_int_equal(gl, 5000);
	assert_memory_equal(got, jpeg, gl);
	free(got);
	event_of(db, "tamper.moved", &ev);
	assert_int_equal(cu_evdb_still(db, ev.id, &got, &gl, note), 0);
	assert_null(got);
	assert_string_equal(note, "the still of 524388 bytes is over the 512 KiB kept");
	event_of(db, "camera.offline", &ev);
	assert_int_equal(cu_evdb_still(db, ev.id, &got, &gl, note), CU_ERR_NOTFOUND);
	event_of(db, "tamper.defocused", &ev);
	assert_int_equal(cu_evdb_still(db, ev.id, &got, &gl, note), CU_ERR_NOTFOUND);
	/* the mails are pending (nobody listens), each with its event's copy */
	struct cu_evnote *due;
	size_t nd;
	int64_t next;
	assert_int_equal(cu_evdb_due(db, INT64_MAX, 16, &due, &nd, &next), 0);
	size_t mails = 0;
	for (size_t i = 0; i < nd; i++)
		mails += strcmp(due[i].target, "email:mail") == 0;
	assert_int_equal(mails, 3);
	free(due);
	cu_evdb_close(db);
	cu_store_close(s);
}

int
main(void)
{
	if (mkdtemp(tmproot) == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_into_footage),
		cmocka_unit_test(test_still_for_email),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmproot);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
