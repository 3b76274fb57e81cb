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
#include "util/file.h"

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
			assert_int_equal(r, CU_ERR_IO);
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
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_write_failure_rolls_back),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_tick_flushes),
		cmocka_unit_test(test_read_verified),
		cmocka_unit_test(test_long_duration_then_short),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
