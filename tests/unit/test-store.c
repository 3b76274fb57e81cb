/* Unit tests of the media database: format codecs, writing and verifying in
 * every mode, concurrent cameras, gap and retention records, rollback after a
 * failed write, locking, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/error.h"
#include "custody/store.h"
#include "custody/time.h"
#include "store/format.h"
#include "store/store_int.h"
#include "custody/file.h"

#define PW "unit-test-password"
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define FRAME_US 40000

static char tmproot[] = "/tmp/custody-unit-XXXXXX";
static int nstore;

/* The lowest Argon2id cost the store accepts, so the tests stay quick. */
static const struct cu_argon2_params quick_kdf = {1, CU_ARGON2_M_MIN, 1};

static void
make_store(char *dir, size_t len, int enc, int64_t seg_us)
{
	assert_int_equal(cu_path(dir, len, "%s/s%d", tmproot, ++nstore), 0);
	struct cu_store_create_opts o = {.encryption = enc, .segment_us = seg_us, .kdf = quick_kdf};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &o), 0);
}

static cu_store *
open_store(const char *dir)
{
	cu_store *s;
	assert_int_equal(cu_store_open(dir, PW, strlen(PW), &s), 0);
	return s;
}

static uint8_t payload[64 * 1024];

/* Appends n frames of 25 fps video from frame number first (key every 25). */
static void
write_frames(cu_writer *w, int64_t t0, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		bool key = i % 25 == 0;
		cu_frame f = {
			.ts_us = t0 + (int64_t)i * FRAME_US, .dur_us = FRAME_US, .codec = CU_CODEC_H264,
			.track = CU_TRACK_VIDEO, .key = key, .data = payload,
			.len = key ? 20000 : 1500 + (size_t)(i % 9) * 300,
		};
		payload[4] = key ? 0x65 : 0x41;
		assert_int_equal(cu_writer_append(w, &f), 0);
	}
}

static struct cu_verify_report *
verify(cu_store *s, const char *camera, int64_t from, int64_t to)
{
	struct cu_verify_opts o = {.camera = camera, .from_us = from, .to_us = to};
	struct cu_verify_report *rep;
	assert_int_equal(cu_store_verify(s, &o, &rep), 0);
	return rep;
}

static const struct cu_verify_camera *
cam(const struct cu_verify_report *rep, const char *name)
{
	for (size_t i = 0; i < rep->ncameras; i++)
		if (strcmp(rep->cameras[i].name, name) == 0)
			return &rep->cameras[i];
	fail_msg("camera %s not in the report", name);
	return NULL;
}

/* ---- format ---- */

static void
test_format_roundtrip(void **state)
{
	(void)state;
	struct cu_seg_header h = {
		.version = CU_SEG_VERSION, .encryption = CU_ENC_LIGHT, .hash_alg = CU_HASH_SHA256,
		.sig_alg = CU_SIG_ED25519, .seq = 7, .created_us = T0, .first_entry = 99,
	};
	memset(h.key_salt, 0xAB, sizeof(h.key_salt));
	memset(h.store_id, 1, CU_ID_LEN);
	memset(h.camera_id, 2, CU_ID_LEN);
	memset(h.prev_chain, 3, CU_SHA256_LEN);
	uint8_t buf[CU_SEG_HEADER_LEN];
	cu_seg_header_encode(&h, buf);
	assert_memory_equal(buf, "CUSTSEG1", 8);
	struct cu_seg_header d;
	assert_int_equal(cu_seg_header_decode(buf, sizeof(buf), &d), 0);
	assert_memory_equal(&d.prev_chain, h.prev_chain, CU_SHA256_LEN);
	assert_int_equal(d.seq, 7);
	assert_int_equal(d.first_entry, 99);
	assert_int_equal(d.created_us, T0);
	buf[150] = 1; /* reserved */
	assert_int_equal(cu_seg_header_decode(buf, sizeof(buf), &d), CU_ERR_FORMAT);
	buf[150] = 0;
	buf[8] = 2; /* version */
	assert_int_equal(cu_seg_header_decode(buf, sizeof(buf), &d), CU_ERR_UNSUPPORTED);
	assert_int_equal(cu_seg_header_decode(buf, 100, &d), CU_ERR_FORMAT);

	struct cu_entry_header e = {
		.type = CU_ENTRY_FRAME, .codec = CU_CODEC_H265, .track = 0, .flags = CU_ENTRY_FLAG_KEY,
		.seq = 5, .ts_us = T0, .dur_us = 40000, .plain_len = 1234, .stored_len = 1250,
	};
	uint8_t eb[CU_ENTRY_HEADER_LEN];
	cu_entry_header_encode(&e, eb);
	struct cu_entry_header ed;
	assert_int_equal(cu_entry_header_decode(eb, sizeof(eb), &ed), 0);
	assert_int_equal(ed.plain_len, 1234);
	assert_int_equal(ed.stored_len, 1250);
	assert_int_equal(ed.ts_us, T0);
	eb[4] = 9;
	assert_int_equal(cu_entry_header_decode(eb, sizeof(eb), &ed), CU_ERR_FORMAT);
	eb[4] = CU_ENTRY_FRAME;
	eb[5] = 77; /* codec */
	assert_int_equal(cu_entry_header_decode(eb, sizeof(eb), &ed), CU_ERR_FORMAT);

	struct cu_record r = {.kind = CU_REC_GAP, .from_us = 1, .to_us = 2, .aux1 = 3, .aux2 = 4};
	memcpy(r.reason, "camera offline", 15);
	uint8_t rb[CU_RECORD_MAX];
	size_t n = cu_record_encode(&r, rb);
	assert_int_equal(n, CU_RECORD_FIXED_LEN + 14);
	struct cu_record rd;
	assert_int_equal(cu_record_decode(rb, n, &rd), 0);
	assert_string_equal(rd.reason, "camera offline");
	assert_int_equal(rd.aux2, 4);
	assert_int_equal(cu_record_decode(rb, n - 1, &rd), CU_ERR_FORMAT);
	rb[0] = 99;
	assert_int_equal(cu_record_decode(rb, n, &rd), CU_ERR_FORMAT);

	struct cu_seal sl = {.sig_alg = CU_SIG_ED25519, .first_covered = 11};
	memset(sl.sig, 0x5A, sizeof(sl.sig));
	uint8_t sb[CU_SEAL_BODY_LEN];
	cu_seal_encode(&sl, sb);
	struct cu_seal sd;
	assert_int_equal(cu_seal_decode(sb, sizeof(sb), &sd), 0);
	assert_int_equal(sd.first_covered, 11);
	assert_memory_equal(sd.sig, sl.sig, sizeof(sl.sig));
	sb[0] = 2;
	assert_int_equal(cu_seal_decode(sb, sizeof(sb), &sd), CU_ERR_UNSUPPORTED);
}

/* ---- writing and verifying ---- */

static void
test_every_mode(void **state)
{
	(void)state;
	for (int enc = CU_ENC_NONE; enc <= CU_ENC_STRONG; enc++) {
		char dir[PATH_MAX];
		make_store(dir, sizeof(dir), enc, 2 * 1000000);
		cu_store *s = open_store(dir);
		assert_int_equal(cu_store_encryption(s), enc);
		cu_writer *w;
		assert_int_equal(cu_writer_open(s, "front-door", &w), 0);
		write_frames(w, T0, 0, 250); /* 10 s */
		assert_int_equal(cu_writer_close(w), 0);
		struct cu_verify_report *rep = verify(s, NULL, 0, 0);
		assert_false(rep->tampered);
		const struct cu_verify_camera *c = cam(rep, "front-door");
		assert_int_equal(c->frames, 250);
		assert_int_equal(c->segments, 5);
		assert_true(c->seals >= 10 + 5);
		assert_int_equal(c->first_us, T0);
		assert_int_equal(c->last_us, T0 + 250 * FRAME_US);
		assert_int_equal(c->unsealed_bytes, 0);
		cu_verify_report_free(rep);
		/* a range selects the overlapping segments only */
		rep = verify(s, "front-door", T0 + 3500000, T0 + 4500000);
		assert_false(rep->tampered);
		assert_int_equal(cam(rep, "front-door")->segments, 2);
		assert_int_equal(cam(rep, "front-door")->frames, 100);
		cu_verify_report_free(rep);
		struct cu_store_info *info;
		assert_int_equal(cu_store_info(s, &info), 0);
		assert_int_equal(info->ncameras, 1);
		assert_int_equal(info->cameras[0].frames, 250);
		assert_int_equal(info->cameras[0].segments, 5);
		assert_false(info->cameras[0].recording);
		cu_store_info_free(info);
		cu_store_close(s);
	}
}

struct cam_job {
	cu_store *s;
	char name[16];
	int frames;
};

static void *
cam_thread(void *arg)
{
	struct cam_job *j = arg;
	cu_writer *w;
	if (cu_writer_open(j->s, j->name, &w) != 0)
		return (void *)1;
	for (int i = 0; i < j->frames; i++) {
		cu_frame f = {
			.ts_us = T0 + (int64_t)i * FRAME_US, .dur_us = FRAME_US, .codec = CU_CODEC_H264,
			.key = i % 25 == 0, .data = payload, .len = i % 25 == 0 ? 15000 : 2000,
		};
		if (cu_writer_append(w, &f) != 0)
			return (void *)2;
	}
	return cu_writer_close(w) == 0 ? NULL : (void *)3;
}

static void
test_concurrent_cameras(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, 1000000);
	cu_store *s = open_store(dir);
	struct cam_job jobs[6];
	pthread_t t[6];
	for (int i = 0; i < 6; i++) {
		jobs[i] = (struct cam_job){.s = s, .frames = 100 + i * 10};
		snprintf(jobs[i].name, sizeof(jobs[i].name), "cam%d", i);
		assert_int_equal(pthread_create(&t[i], NULL, cam_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		void *res;
		pthread_join(t[i], &res);
		assert_null(res);
	}
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	assert_int_equal(rep->ncameras, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(cam(rep, jobs[i].name)->frames, (uint64_t)jobs[i].frames);
	cu_verify_report_free(rep);
	cu_store_close(s);
}

static void
test_gap_and_reopen(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_LIGHT, 0);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 50);
	assert_int_equal(cu_writer_gap(w, T0 + 2000000, T0 + 7000000, "camera offline: no frames "
	                               "for 5 s"), 0);
	write_frames(w, T0 + 5000000, 50, 50);
	assert_int_equal(cu_writer_close(w), 0);
	/* a second session continues the same chain */
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0 + 10000000, 100, 25);
	/* a session cannot go back in time */
	cu_frame old = {.ts_us = T0, .codec = CU_CODEC_H264, .key = true, .data = payload, .len = 10};
	assert_int_equal(cu_writer_append(w, &old), CU_ERR_INVAL);
	assert_int_equal(cu_writer_close(w), 0);
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	const struct cu_verify_camera *c = cam(rep, "cam");
	assert_int_equal(c->frames, 125);
	assert_int_equal(c->ngaps, 1);
	assert_int_equal(c->gaps[0].kind, CU_REC_GAP);
	assert_int_equal(c->gaps[0].from_us, T0 + 2000000);
	assert_string_equal(c->gaps[0].reason, "camera offline: no frames for 5 s");
	cu_verify_report_free(rep);
	cu_store_close(s);
}

/* ---- event records ---- */

static struct cu_event_note
note(int64_t at, const char *type, int phase, const char *source, const char *detail)
{
	struct cu_event_note n = {.at_us = at, .phase = phase, .severity = CU_EVENT_MAJOR};
	snprintf(n.type, sizeof(n.type), "%s", type);
	snprintf(n.source, sizeof(n.source), "%s", source);
	snprintf(n.detail, sizeof(n.detail), "%s", detail);
	return n;
}

/* The text rules: every field checked, a line feed cannot move another. */
static void
test_event_text(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool ok;
	} cases[] = {
		{"tamper.covered\nraise\nanalysis\ncritical\nlens covered", true},
		{"onvif.VideoSource/MotionAlarm\nonce\nonvif\ninfo\n", true},
		{"tamper.covered\nraise\nanalysis\ncritical", false},          /* 4 lines */
		{"tamper.covered\nraised\nanalysis\ncritical\nx", false},     /* phase */
		{"tamper.covered\nraise\nAnalysis\ncritical\nx", false},      /* source upper */
		{"tamper.covered\nraise\nanalysis\nsevere\nx", false},        /* severity */
		{"1tamper\nraise\nanalysis\ninfo\nx", false},                 /* type: a letter first */
		{"tamper covered\nraise\nanalysis\ninfo\nx", false},          /* space in type */
		{"\nraise\nanalysis\ninfo\nx", false},                        /* empty type */
		{"t\nraise\nanalysis\ninfo\ntwo\nlines", false},              /* LF in detail */
		{"t\nraise\nanalysis\ninfo\nbell\a", false},                  /* control */
		{"t\nraise\nanalysis\ninfo\ncaf\xe9", false},                 /* not UTF-8 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cu_event_note n;
		int r = cu_event_text_parse(cases[i].text, strlen(cases[i].text), &n);
		if ((r == 0) != cases[i].ok)
			fail_msg("case %zu: %d: %s", i, r, cu_error_detail());
	}
	struct cu_event_note n;
	const char *t = "tamper.moved\nclear\nanalysis\nwarning\nscene back";
	assert_int_equal(cu_event_text_parse(t, strlen(t), &n), 0);
	assert_string_equal(n.type, "tamper.moved");
	assert_int_equal(n.phase, CU_EVENT_CLEAR);
	assert_string_equal(n.source, "analysis");
	assert_int_equal(n.severity, CU_EVENT_WARNING);
	assert_string_equal(n.detail, "scene back");
	/* the record: one moment, aux and hash zero */
	struct cu_record rec = {.kind = CU_REC_EVENT, .from_us = T0, .to_us = T0};
	memcpy(rec.reason, t, strlen(t) + 1);
	uint8_t body[CU_RECORD_MAX];
	size_t len = cu_record_encode(&rec, body);
	struct cu_record back;
	assert_int_equal(cu_record_decode(body, len, &back), 0);
	assert_int_equal(back.kind, CU_REC_EVENT);
	body[16] ^= 1; /* to != from */
	assert_int_equal(cu_record_decode(body, len, &back), CU_ERR_FORMAT);
	body[16] ^= 1;
	body[24] = 1; /* aux1 */
	assert_int_equal(cu_record_decode(body, len, &back), CU_ERR_FORMAT);
	body[24] = 0;
	body[40] = 1; /* hash */
	assert_int_equal(cu_record_decode(body, len, &back), CU_ERR_FORMAT);
}

static void
test_event_records(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, 0);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 25);
	struct cu_event_note a = note(T0 + 500000, "tamper.covered", CU_EVENT_RAISE, "analysis",
	                              "dark \xe2\x80\x94 97%");
	assert_int_equal(cu_writer_note(w, &a), 0);
	/* refused, nothing written: a bad field, a line feed that would move the others */
	struct cu_event_note bad = note(T0, "tamper.covered\nclear", CU_EVENT_RAISE, "analysis", "");
	assert_int_equal(cu_writer_note(w, &bad), CU_ERR_INVAL);
	bad = note(T0, "tamper.covered", 7, "analysis", "");
	assert_int_equal(cu_writer_note(w, &bad), CU_ERR_INVAL);
	bad = note(-1, "tamper.covered", CU_EVENT_RAISE, "analysis", "");
	assert_int_equal(cu_writer_note(w, &bad), CU_ERR_INVAL);
	bad = note(T0, "tamper.covered", CU_EVENT_RAISE, "analysis", "tab\there");
	assert_int_equal(cu_writer_note(w, &bad), CU_ERR_INVAL);
	write_frames(w, T0, 25, 25);
	struct cu_event_note b = note(T0 + 1500000, "tamper.covered", CU_EVENT_CLEAR, "analysis", "");
	struct cu_event_note c = note(T0 + 1600000, "onvif.motion", CU_EVENT_ONCE, "onvif", "m");
	assert_int_equal(cu_writer_note(w, &b), 0);
	assert_int_equal(cu_writer_note(w, &c), 0);
	assert_int_equal(cu_writer_close(w), 0);
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	const struct cu_verify_camera *vc = cam(rep, "cam");
	assert_int_equal(vc->ngaps, 3);
	struct cu_event_note got;
	assert_int_equal(cu_event_note_of(&vc->gaps[0], &got), 0);
	assert_int_equal(got.at_us, a.at_us);
	assert_string_equal(got.detail, a.detail);
	struct cu_event_period *p;
	size_t np;
	assert_int_equal(cu_event_periods(vc->gaps, vc->ngaps, &p, &np), 0);
	assert_int_equal(np, 2);
	assert_string_equal(p[0].type, "tamper.covered");
	assert_int_equal(p[0].from_us, T0 + 500000);
	assert_int_equal(p[0].to_us, T0 + 1500000);
	assert_string_equal(p[1].type, "onvif.motion");
	assert_int_equal(p[1].from_us, T0 + 1600000);
	assert_int_equal(p[1].to_us, T0 + 1600000);
	free(p);
	/* a clear alone (its raise outside what was read) has no start */
	assert_int_equal(cu_event_periods(vc->gaps + 1, 1, &p, &np), 0);
	assert_int_equal(np, 1);
	assert_int_equal(p[0].from_us, -1);
	assert_int_equal(p[0].to_us, T0 + 1500000);
	free(p);
	cu_verify_report_free(rep);
	cu_store_close(s);
}

/* The integrity watch's increments: after_seq and closed_only. */
static void
test_verify_increments(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_NONE, CU_SEGMENT_US_MIN);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 125); /* 5 s: segments of 1 s, the newest open */
	assert_int_equal(cu_writer_flush(w), 0);
	struct cu_verify_opts o = {.camera = "cam", .closed_only = true, .after_seq = UINT64_MAX};
	struct cu_verify_report *rep;
	assert_int_equal(cu_store_verify(s, &o, &rep), 0);
	uint64_t closed = rep->cameras[0].closed_seq;
	assert_true(closed >= 3);
	assert_int_equal(rep->cameras[0].segments, 0);
	assert_int_equal(rep->cameras[0].checked_seq, 0);
	cu_verify_report_free(rep);
	o.after_seq = 2;
	assert_int_equal(cu_store_verify(s, &o, &rep), 0);
	assert_false(rep->tampered);
	assert_int_equal(rep->cameras[0].segments, closed - 2);
	assert_int_equal(rep->cameras[0].checked_seq, closed);
	cu_verify_report_free(rep);
	assert_int_equal(cu_writer_close(w), 0);
	cu_store_close(s);
}

static void
test_retention(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, 1000000);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 250); /* 10 one-second segments, ~70 kB each */
	struct cu_retention_result res;
	/* keep about 300 kB: the oldest go */
	assert_int_equal(cu_writer_retention(w, 0, 300000, T0 + 10000000, &res), 0);
	assert_true(res.segments_deleted >= 5);
	assert_true(res.bytes_freed > 0);
	/* and by age: everything that ended more than 3 s before now */
	struct cu_retention_result res2;
	assert_int_equal(cu_writer_retention(w, 3000000, 0, T0 + 12000000, &res2), 0);
	assert_true(res2.segments_deleted >= 1);
	write_frames(w, T0, 250, 25);
	assert_int_equal(cu_writer_close(w), 0);
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	const struct cu_verify_camera *c = cam(rep, "cam");
	size_t nret = 0;
	for (size_t i = 0; i < c->ngaps; i++)
		nret += c->gaps[i].kind == CU_REC_RETENTION;
	assert_int_equal(nret, 2);
	assert_true(c->first_us >= T0 + 3000000);
	cu_verify_report_free(rep);

	/* removing the oldest remaining segment by hand, row and file, is caught */
	struct cu_cam_row cr;
	struct cu_seg_row *rows;
	size_t n;
	assert_int_equal(cu_catalog_camera(s, "cam", false, &cr), 0);
	assert_int_equal(cu_catalog_segments(s, cr.row, false, &rows, &n), 0);
	char path[PATH_MAX];
	assert_int_equal(cu_store_segment_path(s, cr.id, rows[0].seq, path, sizeof(path)), 0);
	uint64_t victim = rows[0].seq;
	free(rows);
	cu_store_close(s);
	assert_int_equal(unlink(path), 0);
	s = open_store(dir);
	cu_writer *w2;
	assert_int_equal(cu_writer_open(s, "cam", &w2), 0); /* read-write catalogue */
	assert_int_equal(cu_catalog_segments_delete(s, cr.row, victim, victim), 0);
	assert_int_equal(cu_writer_close(w2), 0);
	rep = verify(s, NULL, 0, 0);
	assert_true(rep->tampered);
	assert_non_null(strstr(cam(rep, "cam")->fail_reason, "without a signed retention record"));
	cu_verify_report_free(rep);
	cu_store_close(s);
}

static void
test_write_failure_rolls_back(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, 0);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 50);
	assert_int_equal(cu_writer_flush(w), 0);
	/* files may now grow by only a few kB: the next seal's write fails */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	struct stat st;
	char seg[PATH_MAX];
	struct cu_cam_row cr;
	assert_int_equal(cu_catalog_camera(s, "cam", false, &cr), 0);
	assert_int_equal(cu_store_segment_path(s, cr.id, 1, seg, sizeof(seg)), 0);
	assert_int_equal(stat(seg, &st), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int failures = 0;
	for (int i = 50; i < 100; i++) {
		cu_frame f = {.ts_us = T0 + i * FRAME_US, .dur_us = FRAME_US, .codec = CU_CODEC_H264,
		              .key = i % 25 == 0, .data = payload, .len = 3000};
		int r = cu_writer_append(w, &f);
		if (r < 0) {
			/* EFBIG is "no room", as a full disk (cu_errno_nospc) */
			assert_int_equal(r, CU_ERR_NOSPC);
			failures++;
		}
	}
	assert_true(failures > 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* the file was cut back to its last seal, so it still verifies */
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	cu_verify_report_free(rep);
	write_frames(w, T0, 100, 50); /* writing works again: the loss is recorded first */
	assert_int_equal(cu_writer_close(w), 0);
	rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	const struct cu_verify_camera *c = cam(rep, "cam");
	assert_true(c->ngaps >= 1);
	assert_int_equal(c->gaps[0].kind, CU_REC_GAP);
	assert_non_null(strstr(c->gaps[0].reason, "frames lost"));
	assert_true(c->frames >= 100 && c->frames < 150);
	cu_verify_report_free(rep);
	cu_store_close(s);
}

static void
test_refusals(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, 0);
	cu_store *s;
	assert_int_equal(cu_store_open(dir, "wrong-password!", 15, &s), CU_ERR_PASSWORD);
	assert_non_null(strstr(cu_error_detail(), "keyring.json"));
	/* without the password: info yes, verify and recording no */
	assert_int_equal(cu_store_open(dir, NULL, 0, &s), 0);
	struct cu_verify_opts o = {0};
	struct cu_verify_report *rep;
	assert_int_equal(cu_store_verify(s, &o, &rep), CU_ERR_PASSWORD);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), CU_ERR_PASSWORD);
	cu_store_close(s);

	s = open_store(dir);
	assert_int_equal(cu_writer_open(s, "bad name", &w), CU_ERR_INVAL);
	assert_int_equal(cu_writer_open(s, "", &w), CU_ERR_INVAL);
	assert_int_equal(cu_writer_open(s, "-x", &w), CU_ERR_INVAL);
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	cu_writer *w2;
	assert_int_equal(cu_writer_open(s, "cam", &w2), CU_ERR_BUSY);
	cu_frame f = {.ts_us = T0, .codec = CU_CODEC_H264, .data = payload, .len = 0};
	assert_int_equal(cu_writer_append(w, &f), CU_ERR_INVAL);
	f.len = CU_FRAME_MAX + 1;
	assert_int_equal(cu_writer_append(w, &f), CU_ERR_INVAL);
	f.len = 10;
	f.codec = 9;
	assert_int_equal(cu_writer_append(w, &f), CU_ERR_INVAL);
	assert_int_equal(cu_writer_close(w), 0);
	o.camera = "nobody";
	assert_int_equal(cu_store_verify(s, &o, &rep), CU_ERR_NOTFOUND);
	cu_store_close(s);

	struct cu_store_create_opts co = {.encryption = CU_ENC_STRONG, .kdf = quick_kdf};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &co), CU_ERR_EXIST);
	char d2[PATH_MAX];
	assert_int_equal(cu_path(d2, sizeof(d2), "%s/short", tmproot), 0);
	assert_int_equal(cu_store_create(d2, "short", 5, &co), CU_ERR_INVAL);
	assert_int_equal(access(d2, F_OK), -1);
	assert_int_equal(cu_store_open(d2, PW, strlen(PW), &s), CU_ERR_NOTFOUND);
}

static void
test_tick_flushes(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, 0);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 10); /* less than a GOP: nothing sealed yet */
	struct cu_store_info *info;
	assert_int_equal(cu_store_info(s, &info), 0);
	assert_int_equal(info->cameras[0].frames, 0);
	assert_true(info->cameras[0].recording);
	cu_store_info_free(info);
	assert_int_equal(cu_writer_tick(w), 0); /* too early: still nothing */
	usleep(1100000);
	assert_int_equal(cu_writer_tick(w), 0); /* a second has passed: sealed and durable */
	assert_int_equal(cu_store_info(s, &info), 0);
	assert_int_equal(info->cameras[0].frames, 10);
	cu_store_info_free(info);
	assert_int_equal(cu_writer_close(w), 0);
	cu_store_close(s);
}

struct collect {
	int n;
	int64_t first, last;
	bool first_key;
	bool bytes_ok;
};

static int
collect_frame(void *ctx, const cu_frame *f)
{
	struct collect *c = ctx;
	if (c->n == 0) {
		c->first = f->ts_us;
		c->first_key = f->key;
	}
	c->last = f->ts_us;
	int i = (int)((f->ts_us - T0) / FRAME_US);
	bool key = i % 25 == 0;
	size_t len = key ? 20000 : 1500 + (size_t)(i % 9) * 300;
	/* write_frames sent payload[] with byte 4 set by key-ness */
	c->bytes_ok = c->bytes_ok && f->len == len && f->data[4] == (key ? 0x65 : 0x41) &&
	              memcmp(f->data + 5, payload + 5, len - 5) == 0;
	c->n++;
	return 0;
}

static void
test_read_verified(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_LIGHT, 2 * 1000000);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 250); /* 10 s, five 2-s segments */
	assert_int_equal(cu_writer_close(w), 0);
	/* [3.5 s, 6 s]: starts at the key frame at 3 s, ends at 6 s */
	struct collect c = {.bytes_ok = true};
	struct cu_read_info info;
	assert_int_equal(cu_store_read(s, "cam", T0 + 3500000, T0 + 6000000, collect_frame, &c,
	                               &info), 0);
	assert_true(c.first_key);
	assert_int_equal(c.first, T0 + 3000000);
	assert_int_equal(c.last, T0 + 6000000);
	assert_int_equal(c.n, 76);
	assert_true(c.bytes_ok);
	assert_int_equal(info.frames, 76);
	/* everything */
	c = (struct collect){.bytes_ok = true};
	assert_int_equal(cu_store_read(s, "cam", 0, 0, collect_frame, &c, NULL), 0);
	assert_int_equal(c.n, 250);
	assert_true(c.bytes_ok);
	/* a flipped byte in segment 3 (4..6 s): segments 1 and 2 come out, then the refusal */
	struct cu_cam_row cr;
	char path[PATH_MAX];
	assert_int_equal(cu_catalog_camera(s, "cam", false, &cr), 0);
	assert_int_equal(cu_store_segment_path(s, cr.id, 3, path, sizeof(path)), 0);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, -3000, SEEK_END);
	int ch = fgetc(f);
	fseek(f, -3000, SEEK_END);
	fputc(ch ^ 0x20, f);
	fclose(f);
	c = (struct collect){.bytes_ok = true};
	assert_int_equal(cu_store_read(s, "cam", 0, 0, collect_frame, &c, &info), CU_ERR_TAMPERED);
	assert_non_null(strstr(cu_error_detail(), "segment 3 (from 2026-01-01T00:00:04Z)"));
	assert_true(c.n >= 100 && c.n < 150); /* segments 1-2, and segment 3 up to the bad seal */
	assert_int_equal(info.frames, (uint64_t)c.n);
	assert_true(c.bytes_ok);
	cu_store_close(s);
}

/* Regression: a frame whose duration reaches past the frames after it (a
 * camera clock jump gives one long duration) made the writer's segment end
 * (max of time + duration) differ from verify's, so an honest store looked
 * tampered (found by bench/bench-ingest at 224 cameras). */
static void
test_long_duration_then_short(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, 0);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 30);
	cu_frame f = {.ts_us = T0 + 30 * FRAME_US, .dur_us = 900000, .codec = CU_CODEC_H264,
	              .data = payload, .len = 2000};
	assert_int_equal(cu_writer_append(w, &f), 0);
	f.ts_us += FRAME_US;
	f.dur_us = FRAME_US;
	assert_int_equal(cu_writer_append(w, &f), 0);
	assert_int_equal(cu_writer_close(w), 0);
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	assert_int_equal(cam(rep, "cam")->last_us, T0 + 30 * FRAME_US + 900000);
	cu_verify_report_free(rep);
	cu_store_close(s);
}

/* ---- evidence locks and bookmarks ---- */

static void
copy_dir(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];
	assert_true(snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", from, to) < (int)sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

/* Runs SQL on a store's catalogue directly, as someone editing it would. */
static void
catalog_sql(const char *dir, const char *sql)
{
	char path[PATH_MAX];
	sqlite3 *db;
	assert_int_equal(cu_path(path, sizeof(path), "%s/catalog.db", dir), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Removes a segment file and its catalogue row, as an attacker would. */
static void
remove_segment(const char *dir, const char *camera, uint64_t seq)
{
	cu_store *s = open_store(dir);
	struct cu_cam_row cr;
	char path[PATH_MAX], sql[256];
	assert_int_equal(cu_catalog_camera(s, camera, false, &cr), 0);
	assert_int_equal(cu_store_segment_path(s, cr.id, seq, path, sizeof(path)), 0);
	cu_store_close(s);
	assert_int_equal(unlink(path), 0);
	snprintf(sql, sizeof(sql), "DELETE FROM segments WHERE seq = %llu AND camera = "
	         "(SELECT id FROM cameras WHERE name = '%s')", (unsigned long long)seq, camera);
	catalog_sql(dir, sql);
}

static void
expect_tampered(const char *dir, uint64_t seg, int64_t when, const char *words)
{
	cu_store *s = open_store(dir);
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	const struct cu_verify_camera *c = cam(rep, "cam");
	if (!rep->tampered || !c->tampered || c->fail_segment != seg || c->fail_time_us != when ||
	    strstr(c->fail_reason, words) == NULL)
		fail_msg("%s: expected segment %llu at %lld (\"%s\"), got tampered=%d segment %llu at "
		         "%lld: %s", dir, (unsigned long long)seg, (long long)when, words, c->tampered,
		         (unsigned long long)c->fail_segment, (long long)c->fail_time_us,
		         c->fail_reason);
	cu_verify_report_free(rep);
	cu_store_close(s);
}

static void
expect_intact(cu_store *s)
{
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	for (size_t i = 0; i < rep->ncameras; i++)
		if (rep->cameras[i].tampered)
			fail_msg("camera %s: segment %llu: %s", rep->cameras[i].name,
			         (unsigned long long)rep->cameras[i].fail_segment,
			         rep->cameras[i].fail_reason);
	assert_false(rep->tampered);
	cu_verify_report_free(rep);
}

static struct cu_lock *
new_lock(const char *camera, int64_t from, int64_t to)
{
	struct cu_lock *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	snprintf(l->headline, sizeof(l->headline), "Incident at the gate \xe2\x80\x94 case 17");
	snprintf(l->description, sizeof(l->description),
	         "Reported by the night shift.\n\tKeep until the trial.");
	l->ncameras = 1;
	snprintf(l->cameras[0], sizeof(l->cameras[0]), "%s", camera);
	l->from_us = from;
	l->to_us = to;
	snprintf(l->created_by, sizeof(l->created_by), "alice");
	return l;
}

static int64_t
add_lock(cu_store *s, const char *camera, int64_t from, int64_t to, int64_t expires)
{
	struct cu_lock *l = new_lock(camera, from, to);
	l->expires_us = expires;
	assert_int_equal(cu_lock_create(s, l), 0);
	int64_t id = l->id;
	free(l);
	return id;
}

/* A copy of good with one change must be refused with err, naming field. */
static void
lock_refused(cu_store *s, const struct cu_lock *good, void (*change)(struct cu_lock *), int err,
             const char *field)
{
	struct cu_lock *l = malloc(sizeof(*l));
	assert_non_null(l);
	memcpy(l, good, sizeof(*l));
	change(l);
	int r = cu_lock_create(s, l);
	if (r != err || strstr(cu_error_detail(), field) == NULL)
		fail_msg("expected %d naming \"%s\", got %d: %s", err, field, r, cu_error_detail());
	assert_int_equal(l->id, 0);
	free(l);
}

static void headline_empty(struct cu_lock *l) { l->headline[0] = '\0'; }
static void headline_long(struct cu_lock *l) { memset(l->headline, 'h', CU_LOCK_HEADLINE_MAX + 1); }
static void headline_newline(struct cu_lock *l) { memcpy(l->headline, "two\nlines", 10); }
static void headline_not_utf8(struct cu_lock *l) { memcpy(l->headline, "caf\xe9", 5); }
static void headline_c1(struct cu_lock *l) { memcpy(l->headline, "a\xc2\x85z", 5); }
static void description_long(struct cu_lock *l)
{
	memset(l->description, 'd', CU_LOCK_DESCRIPTION_MAX + 1); /* no NUL within the field */
}
static void description_control(struct cu_lock *l) { memcpy(l->description, "bell\a", 6); }
static void description_cr(struct cu_lock *l) { memcpy(l->description, "line\r\n", 7); }
static void no_cameras(struct cu_lock *l) { l->ncameras = 0; }
static void too_many_cameras(struct cu_lock *l) { l->ncameras = CU_LOCK_CAMERAS_MAX + 1; }
static void camera_bad_name(struct cu_lock *l) { memcpy(l->cameras[0], "bad name", 9); }
static void camera_unknown(struct cu_lock *l) { memcpy(l->cameras[0], "nobody", 7); }
static void camera_twice(struct cu_lock *l)
{
	l->ncameras = 2;
	memcpy(l->cameras[1], l->cameras[0], sizeof(l->cameras[0]));
}
static void from_zero(struct cu_lock *l) { l->from_us = 0; }
static void to_year_10000(struct cu_lock *l) { l->to_us = INT64_C(253402300800000000); }
static void to_before_from(struct cu_lock *l) { l->to_us = l->from_us; }
static void expires_negative(struct cu_lock *l) { l->expires_us = -5; }
static void creator_empty(struct cu_lock *l) { l->created_by[0] = '\0'; }
static void creator_long(struct cu_lock *l) { memset(l->created_by, 'u', CU_ACTOR_MAX + 1); }

static void
test_locks(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, 0);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	assert_int_equal(cu_writer_close(w), 0);
	assert_int_equal(cu_writer_open(s, "cam2", &w), 0);
	assert_int_equal(cu_writer_close(w), 0);

	struct cu_lock *good = new_lock("cam", T0 + 1000000, T0 + 3000000);
	static const struct {
		void (*change)(struct cu_lock *);
		int err;
		const char *field;
	} bad[] = {
		{headline_empty, CU_ERR_INVAL, "headline"},
		{headline_long, CU_ERR_INVAL, "headline"},
		{headline_newline, CU_ERR_INVAL, "headline"},
		{headline_not_utf8, CU_ERR_INVAL, "headline"},
		{headline_c1, CU_ERR_INVAL, "headline"},
		{description_long, CU_ERR_INVAL, "description"},
		{description_control, CU_ERR_INVAL, "description"},
		{description_cr, CU_ERR_INVAL, "description"},
		{no_cameras, CU_ERR_INVAL, "cameras"},
		{too_many_cameras, CU_ERR_INVAL, "cameras"},
		{camera_bad_name, CU_ERR_INVAL, "cameras"},
		{camera_unknown, CU_ERR_NOTFOUND, "nobody"},
		{camera_twice, CU_ERR_INVAL, "cameras"},
		{from_zero, CU_ERR_INVAL, "from_us"},
		{to_year_10000, CU_ERR_INVAL, "to_us"},
		{to_before_from, CU_ERR_INVAL, "to_us"},
		{expires_negative, CU_ERR_INVAL, "expires_us"},
		{creator_empty, CU_ERR_INVAL, "created_by"},
		{creator_long, CU_ERR_INVAL, "created_by"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		lock_refused(s, good, bad[i].change, bad[i].err, bad[i].field);
	struct cu_lock *l;
	size_t n;
	assert_int_equal(cu_lock_list(s, NULL, true, T0, &l, &n), 0);
	assert_int_equal(n, 0); /* nothing refused was stored */
	free(l);

	/* create and read back */
	int64_t before = cu_time_now_us();
	assert_int_equal(cu_lock_create(s, good), 0);
	assert_true(good->id > 0);
	assert_true(good->created_us >= before && good->updated_us == good->created_us);
	struct cu_lock *got = malloc(sizeof(*got));
	assert_non_null(got);
	assert_int_equal(cu_lock_get(s, good->id, got), 0);
	assert_memory_equal(got, good, sizeof(*got) - 0); /* every field, padding zeroed by calloc */
	assert_string_equal(got->description, "Reported by the night shift.\n\tKeep until the trial.");

	/* update: new text, cameras and span; who made it stays */
	struct cu_lock *upd = malloc(sizeof(*upd));
	assert_non_null(upd);
	memcpy(upd, good, sizeof(*upd));
	snprintf(upd->headline, sizeof(upd->headline), "Incident 17, widened");
	upd->ncameras = 2;
	snprintf(upd->cameras[0], sizeof(upd->cameras[0]), "cam2");
	snprintf(upd->cameras[1], sizeof(upd->cameras[1]), "cam");
	upd->to_us = T0 + 9000000;
	snprintf(upd->created_by, sizeof(upd->created_by), "mallory");
	assert_int_equal(cu_lock_update(s, upd), 0);
	assert_int_equal(cu_lock_get(s, good->id, got), 0);
	assert_string_equal(got->headline, "Incident 17, widened");
	assert_int_equal(got->ncameras, 2);
	assert_string_equal(got->cameras[0], "cam2");
	assert_string_equal(got->cameras[1], "cam");
	assert_int_equal(got->to_us, T0 + 9000000);
	assert_string_equal(got->created_by, "alice");
	assert_int_equal(got->created_us, good->created_us);
	assert_true(got->updated_us >= good->created_us);
	upd->id = 424242;
	assert_int_equal(cu_lock_update(s, upd), CU_ERR_NOTFOUND);
	upd->id = good->id;
	upd->ncameras = 0;
	assert_int_equal(cu_lock_update(s, upd), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "cameras"));
	snprintf(upd->cameras[0], sizeof(upd->cameras[0]), "nobody");
	upd->ncameras = 1;
	assert_int_equal(cu_lock_update(s, upd), CU_ERR_NOTFOUND);
	assert_int_equal(cu_lock_get(s, good->id, got), 0);
	assert_int_equal(got->ncameras, 2); /* a refused update changes nothing */

	/* list: by camera, expired ones only when asked */
	int64_t expired = add_lock(s, "cam2", T0, T0 + 1000000, T0 + 5000000);
	assert_int_equal(cu_lock_list(s, NULL, false, T0 + 5000000, &l, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].id, good->id);
	free(l);
	assert_int_equal(cu_lock_list(s, NULL, false, T0 + 4999999, &l, &n), 0);
	assert_int_equal(n, 2);
	free(l);
	assert_int_equal(cu_lock_list(s, "cam2", true, T0 + 6000000, &l, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(l[0].id, good->id);
	assert_int_equal(l[1].id, expired);
	assert_true(l[0].id < l[1].id);
	free(l);
	assert_int_equal(cu_lock_list(s, "cam", true, T0 + 6000000, &l, &n), 0);
	assert_int_equal(n, 1);
	free(l);
	assert_int_equal(cu_lock_list(s, "nobody", true, 0, &l, &n), CU_ERR_NOTFOUND);
	assert_int_equal(cu_lock_list(s, "bad name", true, 0, &l, &n), CU_ERR_INVAL);

	/* delete */
	assert_int_equal(cu_lock_delete(s, expired), 0);
	assert_int_equal(cu_lock_get(s, expired, got), CU_ERR_NOTFOUND);
	assert_int_equal(cu_lock_delete(s, expired), CU_ERR_NOTFOUND);
	cu_store_close(s);

	/* without the password: read, and make (the catalogue becomes writable) */
	assert_int_equal(cu_store_open(dir, NULL, 0, &s), 0);
	assert_int_equal(cu_lock_get(s, good->id, got), 0);
	assert_string_equal(got->headline, "Incident 17, widened");
	assert_int_equal(cu_lock_list(s, NULL, true, 0, &l, &n), 0);
	assert_int_equal(n, 1);
	free(l);
	int64_t third = add_lock(s, "cam", T0, T0 + 1, 0);
	assert_true(third > expired); /* ids are never reused */
	cu_store_close(s);

	/* a catalogue from before the lock tables reads as having none */
	catalog_sql(dir, "DROP TABLE lock_cameras; DROP TABLE locks; DROP TABLE bookmarks;");
	assert_int_equal(cu_store_open(dir, NULL, 0, &s), 0);
	assert_int_equal(cu_lock_list(s, NULL, true, 0, &l, &n), 0);
	assert_int_equal(n, 0);
	assert_null(l);
	assert_int_equal(cu_lock_get(s, good->id, got), CU_ERR_NOTFOUND);
	struct cu_bookmark *bl;
	assert_int_equal(cu_bookmark_list(s, NULL, 0, 0, 10, &bl, &n), 0);
	assert_int_equal(n, 0);
	/* and its first change adds them */
	add_lock(s, "cam", T0, T0 + 1, 0);
	assert_int_equal(cu_lock_list(s, "cam", true, 0, &l, &n), 0);
	assert_int_equal(n, 1);
	free(l);
	cu_store_close(s);
	s = open_store(dir);
	expect_intact(s);
	cu_store_close(s);

	/* the version-1 test vectors (never to be regenerated) have no lock tables */
	char vec[PATH_MAX], copy[PATH_MAX];
	const char *data = getenv("CU_TEST_DATA");
	assert_non_null(data);
	assert_int_equal(cu_path(vec, sizeof(vec), "%s/store-vector/none", data), 0);
	assert_int_equal(cu_path(copy, sizeof(copy), "%s/vector-copy", tmproot), 0);
	copy_dir(vec, copy);
	assert_int_equal(cu_store_open(copy, NULL, 0, &s), 0);
	assert_int_equal(cu_lock_list(s, "cam1", true, 0, &l, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(cu_bookmark_list(s, "cam1", 0, 0, 10, &bl, &n), 0);
	assert_int_equal(n, 0);
	cu_store_close(s);
	free(good);
	free(got);
	free(upd);
}

static void
test_bookmarks(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_NONE, 0);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	assert_int_equal(cu_writer_close(w), 0);
	assert_int_equal(cu_writer_open(s, "cam2", &w), 0);
	assert_int_equal(cu_writer_close(w), 0);
	struct cu_bookmark b = {.at_us = T0 + 1000000};
	snprintf(b.camera, sizeof(b.camera), "cam");
	snprintf(b.title, sizeof(b.title), "Door opens");
	snprintf(b.created_by, sizeof(b.created_by), "bob");
	struct cu_bookmark bad = b;
	bad.title[0] = '\0';
	assert_int_equal(cu_bookmark_create(s, &bad), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "title"));
	bad = b;
	memcpy(bad.title, "tab\there", 9);
	assert_int_equal(cu_bookmark_create(s, &bad), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "title"));
	bad = b;
	memset(bad.description, 'x', CU_BOOKMARK_DESCRIPTION_MAX + 1);
	assert_int_equal(cu_bookmark_create(s, &bad), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "description"));
	bad = b;
	bad.at_us = 0;
	assert_int_equal(cu_bookmark_create(s, &bad), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "at_us"));
	bad = b;
	bad.end_us = bad.at_us;
	assert_int_equal(cu_bookmark_create(s, &bad), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "end_us"));
	bad = b;
	memcpy(bad.camera, "-x", 3);
	assert_int_equal(cu_bookmark_create(s, &bad), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "camera"));
	bad = b;
	memcpy(bad.camera, "nobody", 7);
	assert_int_equal(cu_bookmark_create(s, &bad), CU_ERR_NOTFOUND);
	assert_non_null(strstr(cu_error_detail(), "nobody"));
	bad = b;
	bad.created_by[0] = '\0';
	assert_int_equal(cu_bookmark_create(s, &bad), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "created_by"));
	assert_int_equal(bad.id, 0);

	/* a moment at 1 s, a span 2-5 s, another camera at 3 s */
	struct cu_bookmark moment = b, span = b, other = b;
	assert_int_equal(cu_bookmark_create(s, &moment), 0);
	span.at_us = T0 + 2000000;
	span.end_us = T0 + 5000000;
	snprintf(span.title, sizeof(span.title), "Van parked");
	snprintf(span.description, sizeof(span.description), "White van,\nno plates.");
	assert_int_equal(cu_bookmark_create(s, &span), 0);
	other.at_us = T0 + 3000000;
	snprintf(other.camera, sizeof(other.camera), "cam2");
	assert_int_equal(cu_bookmark_create(s, &other), 0);
	assert_true(moment.id > 0 && span.id > moment.id && other.id > span.id);
	assert_true(moment.created_us > 0);
	struct cu_bookmark got;
	assert_int_equal(cu_bookmark_get(s, span.id, &got), 0);
	assert_memory_equal(&got, &span, sizeof(got));

	struct cu_bookmark *l;
	size_t n;
	assert_int_equal(cu_bookmark_list(s, NULL, 0, 0, 100, &l, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(l[0].id, moment.id);
	assert_int_equal(l[1].id, span.id);
	assert_int_equal(l[2].id, other.id);
	free(l);
	assert_int_equal(cu_bookmark_list(s, NULL, 0, 0, 2, &l, &n), 0);
	assert_int_equal(n, 2);
	free(l);
	/* overlap: the span reaches into [4 s, 6 s]; the moment is not in [1.5 s, 1.9 s] */
	assert_int_equal(cu_bookmark_list(s, "cam", T0 + 4000000, T0 + 6000000, 10, &l, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].id, span.id);
	free(l);
	assert_int_equal(cu_bookmark_list(s, "cam", T0 + 1500000, T0 + 1900000, 10, &l, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(cu_bookmark_list(s, "cam", T0 + 1000000, T0 + 1000000, 10, &l, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].id, moment.id);
	free(l);
	assert_int_equal(cu_bookmark_list(s, "cam", T0 + 2500000, 0, 10, &l, &n), 0);
	assert_int_equal(n, 1);
	free(l);
	assert_int_equal(cu_bookmark_list(s, NULL, 0, 0, 0, &l, &n), CU_ERR_INVAL);
	assert_int_equal(cu_bookmark_list(s, NULL, 0, 0, CU_BOOKMARK_LIST_MAX + 1, &l, &n),
	                 CU_ERR_INVAL);
	assert_int_equal(cu_bookmark_list(s, NULL, -1, 0, 10, &l, &n), CU_ERR_INVAL);
	assert_int_equal(cu_bookmark_list(s, NULL, T0 + 2, T0 + 1, 10, &l, &n), CU_ERR_INVAL);
	assert_int_equal(cu_bookmark_list(s, "nobody", 0, 0, 10, &l, &n), CU_ERR_NOTFOUND);

	/* update: new range and text, same camera; refused on another camera */
	struct cu_bookmark upd = span;
	upd.at_us = T0 + 2500000;
	upd.end_us = 0;
	memset(upd.description, 0, sizeof(upd.description));
	memset(upd.title, 0, sizeof(upd.title));
	snprintf(upd.title, sizeof(upd.title), "Van leaves");
	assert_int_equal(cu_bookmark_update(s, &upd), 0);
	assert_int_equal(cu_bookmark_get(s, span.id, &got), 0);
	assert_memory_equal(&got, &upd, sizeof(got));
	struct cu_bookmark moved = upd;
	snprintf(moved.camera, sizeof(moved.camera), "cam2");
	assert_int_equal(cu_bookmark_update(s, &moved), CU_ERR_NOTFOUND);
	assert_non_null(strstr(cu_error_detail(), "cam2"));
	moved = upd;
	moved.title[0] = '\0';
	assert_int_equal(cu_bookmark_update(s, &moved), CU_ERR_INVAL);
	assert_non_null(strstr(cu_error_detail(), "title"));
	moved = upd;
	moved.id = 9999;
	assert_int_equal(cu_bookmark_update(s, &moved), CU_ERR_NOTFOUND);
	assert_int_equal(cu_bookmark_get(s, span.id, &got), 0);
	assert_memory_equal(&got, &upd, sizeof(got));

	assert_int_equal(cu_bookmark_delete(s, moment.id), 0);
	assert_int_equal(cu_bookmark_get(s, moment.id, &got), CU_ERR_NOTFOUND);
	assert_int_equal(cu_bookmark_delete(s, moment.id), CU_ERR_NOTFOUND);
	cu_store_close(s);
	/* read without the password */
	assert_int_equal(cu_store_open(dir, NULL, 0, &s), 0);
	assert_int_equal(cu_bookmark_list(s, NULL, 0, 0, 10, &l, &n), 0);
	assert_int_equal(n, 2);
	free(l);
	cu_store_close(s);
}

static uint64_t
retention_gaps(const struct cu_verify_report *rep)
{
	const struct cu_verify_camera *c = cam(rep, "cam");
	uint64_t n = 0;
	for (size_t i = 0; i < c->ngaps; i++)
		n += c->gaps[i].kind == CU_REC_RETENTION;
	return n;
}

/* Which segments of camera "cam" remain (not deleted), as a bit set. */
static uint64_t
remaining(cu_store *s)
{
	struct cu_cam_row cr;
	struct cu_seg_row *rows;
	size_t n;
	uint64_t bits = 0;
	assert_int_equal(cu_catalog_camera(s, "cam", false, &cr), 0);
	assert_int_equal(cu_catalog_segments(s, cr.row, false, &rows, &n), 0);
	for (size_t i = 0; i < n; i++)
		bits |= UINT64_C(1) << rows[i].seq;
	free(rows);
	return bits;
}

#define SEGS(...) segs_bits((const int[]){__VA_ARGS__, 0})
static uint64_t
segs_bits(const int *v)
{
	uint64_t bits = 0;
	for (; *v != 0; v++)
		bits |= UINT64_C(1) << *v;
	return bits;
}

#define SEC INT64_C(1000000)

static void
test_retention_keeps_locked(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_STRONG, SEC);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam2", &w), 0);
	assert_int_equal(cu_writer_close(w), 0);
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 250); /* segment k holds [k-1 s, k s]; 10 is open */
	assert_int_equal(remaining(s), SEGS(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
	/* kept: 5 and 6; not kept: 2 (lock expired), anything for another camera */
	int64_t lock = add_lock(s, "cam", T0 + 4200000, T0 + 5500000, 0);
	add_lock(s, "cam", T0 + 1200000, T0 + 1500000, T0 + 50 * SEC);
	add_lock(s, "cam2", T0, T0 + 20 * SEC, 0);

	/* a byte limit that locked footage alone exceeds: everything else goes */
	struct cu_retention_result res;
	assert_int_equal(cu_writer_retention(w, 0, 1, T0 + 100 * SEC, &res), 0);
	assert_int_equal(res.segments_deleted, 7);
	assert_int_equal(res.segments_locked, 2);
	assert_true(res.bytes_freed > 0);
	assert_int_equal(res.next_deletable_us, -1);
	assert_int_equal(remaining(s), SEGS(5, 6, 10));
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	assert_int_equal(retention_gaps(rep), 2); /* segments 1-4, segments 7-9 */
	assert_int_equal(cam(rep, "cam")->first_us, T0 + 4 * SEC);
	assert_int_equal(cam(rep, "cam")->segments, 3);
	cu_verify_report_free(rep);
	/* a window across the hole: its record is in segment 10 */
	rep = verify(s, "cam", T0 + 5500000, T0 + 9500000);
	assert_false(rep->tampered);
	assert_int_equal(cam(rep, "cam")->segments, 2);
	cu_verify_report_free(rep);

	/* the locked range reads, from the key frame before it */
	struct collect c = {.bytes_ok = true};
	struct cu_read_info info;
	assert_int_equal(cu_store_read(s, "cam", T0 + 4200000, T0 + 5500000, collect_frame, &c,
	                               &info), 0);
	assert_true(c.first_key);
	assert_int_equal(c.first, T0 + 4 * SEC);
	assert_int_equal(c.last, T0 + 5480000);
	assert_int_equal(c.n, 38);
	assert_true(c.bytes_ok);
	/* and so does everything, across the hole */
	c = (struct collect){.bytes_ok = true};
	assert_int_equal(cu_store_read(s, "cam", 0, 0, collect_frame, &c, &info), 0);
	assert_int_equal(c.n, 75);
	assert_true(c.bytes_ok);

	/* later: 10-13 go by age, 5 and 6 stay; segment 10 held the records of
	 * the first run, so the holes are stated again in segment 16 */
	write_frames(w, T0, 250, 150);
	assert_int_equal(cu_writer_retention(w, 3 * SEC, 0, T0 + 17 * SEC, &res), 0);
	assert_int_equal(res.segments_deleted, 4);
	assert_int_equal(res.segments_locked, 2);
	assert_int_equal(res.next_deletable_us, T0 + 13 * SEC);
	assert_int_equal(remaining(s), SEGS(5, 6, 14, 15, 16));
	/* no limits: a question, answered without deleting or writing anything */
	struct cu_retention_result q;
	assert_int_equal(cu_writer_retention(w, 0, 0, T0 + 17 * SEC, &q), 0);
	assert_int_equal(q.segments_deleted, 0);
	assert_int_equal(q.next_deletable_us, T0 + 13 * SEC);
	expect_intact(s);
	/* a window across the hole whose record lies outside it (in segment 16) */
	rep = verify(s, "cam", T0 + 5500000, T0 + 13500000);
	assert_false(rep->tampered);
	assert_int_equal(cam(rep, "cam")->segments, 2);
	cu_verify_report_free(rep);
	assert_int_equal(cu_writer_close(w), 0);
	expect_intact(s);
	cu_store_close(s);

	/* tampering after a retention with holes */
	char copy[PATH_MAX];
	assert_int_equal(cu_path(copy, sizeof(copy), "%s-a", dir), 0);
	copy_dir(dir, copy);
	remove_segment(copy, "cam", 6); /* a kept segment inside: the hole grows */
	expect_tampered(copy, 14, T0 + 13 * SEC, "does not follow on");
	assert_int_equal(cu_path(copy, sizeof(copy), "%s-b", dir), 0);
	copy_dir(dir, copy);
	remove_segment(copy, "cam", 5); /* the first kept one */
	expect_tampered(copy, 6, T0 + 5 * SEC, "without a signed retention record");
	assert_int_equal(cu_path(copy, sizeof(copy), "%s-c", dir), 0);
	copy_dir(dir, copy);
	remove_segment(copy, "cam", 5); /* all that was locked: one prefix, seemingly */
	remove_segment(copy, "cam", 6);
	expect_tampered(copy, 14, T0 + 13 * SEC, "without a signed retention record");
	assert_int_equal(cu_path(copy, sizeof(copy), "%s-d", dir), 0);
	copy_dir(dir, copy);
	remove_segment(copy, "cam", 15); /* a hole no record names */
	expect_tampered(copy, 16, T0 + 15 * SEC, "does not follow on");
	assert_int_equal(cu_path(copy, sizeof(copy), "%s-e", dir), 0);
	copy_dir(dir, copy);
	char path[PATH_MAX];
	s = open_store(copy);
	struct cu_cam_row cr;
	assert_int_equal(cu_catalog_camera(s, "cam", false, &cr), 0);
	assert_int_equal(cu_store_segment_path(s, cr.id, 6, path, sizeof(path)), 0);
	cu_store_close(s);
	assert_int_equal(unlink(path), 0); /* the file only: its row says it is missing */
	expect_tampered(copy, 6, T0 + 5 * SEC, "missing");

	/* the lock goes: the next retention removes the rest */
	s = open_store(dir);
	assert_int_equal(cu_lock_delete(s, lock), 0);
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	assert_int_equal(cu_writer_retention(w, 0, 1, T0 + 100 * SEC, &res), 0);
	assert_int_equal(res.segments_deleted, 5);
	assert_int_equal(res.segments_locked, 0);
	assert_int_equal(remaining(s), SEGS(17));
	assert_int_equal(cu_writer_close(w), 0);
	rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	assert_int_equal(cam(rep, "cam")->frames, 0);
	cu_verify_report_free(rep);
	cu_store_close(s);
}

/* Segment 1 itself kept: a record names it, or removing it together with
 * the segments up to the first hole would pass for one retention. */
static void
test_retention_keeps_first(void **state)
{
	(void)state;
	char dir[PATH_MAX], copy[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_NONE, SEC);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 250);
	add_lock(s, "cam", T0 + 200000, T0 + 500000, 0);
	struct cu_retention_result res;
	assert_int_equal(cu_writer_retention(w, 5 * SEC, 0, T0 + 100 * SEC, &res), 0);
	assert_int_equal(res.segments_deleted, 8);
	assert_int_equal(res.segments_locked, 1);
	assert_int_equal(remaining(s), SEGS(1, 10));
	assert_int_equal(cu_writer_close(w), 0);
	struct cu_verify_report *rep = verify(s, NULL, 0, 0);
	assert_false(rep->tampered);
	assert_int_equal(retention_gaps(rep), 1); /* the record naming segment 1 deletes nothing */
	cu_verify_report_free(rep);
	cu_store_close(s);
	assert_int_equal(cu_path(copy, sizeof(copy), "%s-a", dir), 0);
	copy_dir(dir, copy);
	remove_segment(copy, "cam", 1);
	expect_tampered(copy, 10, T0 + 9 * SEC, "without a signed retention record");
}

static int
setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 2654435761u >> 24);
	memcpy(payload, "\0\0\0\1", 4);
	return mkdtemp(tmproot) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmproot);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_every_mode),
		cmocka_unit_test(test_concurrent_cameras),
		cmocka_unit_test(test_gap_and_reopen),
		cmocka_unit_test(test_event_text),
		cmocka_unit_test(test_event_records),
		cmocka_unit_test(test_verify_increments),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_write_failure_rolls_back),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_tick_flushes),
		cmocka_unit_test(test_read_verified),
		cmocka_unit_test(test_long_duration_then_short),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_bookmarks),
		cmocka_unit_test(test_retention_keeps_locked),
		cmocka_unit_test(test_retention_keeps_first),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
