/* cu-testwriter: records synthetic frames in real time for the crash tests.
 *
 *   cu-testwriter STORE PASSWORD-FILE CAMERA [FPS]
 *
 * Prints "ready" once the writer is open, then "ack <ts_us>" after each
 * cu_writer_append returns (stdout flushed each time), so a test that kills
 * it with SIGKILL knows exactly which frames were handed to the store. On
 * SIGTERM it closes the writer cleanly and prints "stopped". Frame times are
 * the wall clock; every 25th frame is a key frame.
 *
 *   cu-testwriter STORE PASSWORD-FILE CAMERA --lock-retention FROM_US TO_US
 *
 * records nothing: it puts an evidence lock on CAMERA over [FROM_US, TO_US],
 * runs retention with a one-byte limit (everything closed and not locked
 * goes), prints "deleted N locked M" and closes the writer, for the tamper
 * tests of a store with holes.
 *
 *   cu-testwriter STORE PASSWORD-FILE CAMERA --events FROM_US
 *
 * writes 2 s of synthetic H.264 (50 frames, 25 fps) from FROM_US, not in
 * real time, with signed event records: tamper.covered raised at +0.5 s and
 * cleared at +1.5 s (source analysis), onvif.motion raised at +1.8 s and not
 * cleared (source onvif); prints "events 3" and closes the writer. For the
 * event-record tests and the test vector. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "custody/error.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/file.h"
#include "custody/parse.h"

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Lock [from, to] on camera, retention down to one byte, close. */
static int
lock_retention(cu_store *s, const char *camera, const char *from, const char *to)
{
	uint64_t f, t;
	struct cu_lock *l = calloc(1, sizeof(*l));
	cu_writer *w = NULL;
	struct cu_retention_result res;
	int r = l == NULL ? CU_ERR_NOMEM : 0;
	if (r < 0 || (r = cu_parse_u64(from, INT64_MAX, "FROM_US", &f)) < 0 ||
	    (r = cu_parse_u64(to, INT64_MAX, "TO_US", &t)) < 0)
		goto out;
	snprintf(l->headline, sizeof(l->headline), "tamper test");
	snprintf(l->created_by, sizeof(l->created_by), "cu-testwriter");
	snprintf(l->cameras[0], sizeof(l->cameras[0]), "%s", camera);
	l->ncameras = 1;
	l->from_us = (int64_t)f;
	l->to_us = (int64_t)t;
	if ((r = cu_writer_open(s, camera, &w)) < 0 || (r = cu_lock_create(s, l)) < 0 ||
	    (r = cu_writer_retention(w, 0, 1, cu_time_now_us(), &res)) < 0)
		goto out;
	printf("deleted %llu locked %llu\n", (unsigned long long)res.segments_deleted,
	       (unsigned long long)res.segments_locked);
out:
	if (w != NULL) {
		int r2 = cu_writer_close(w);
		if (r == 0)
			r = r2;
	}
	free(l);
	return r;
}

/* A frame of synthetic H.264: key frames start with an IDR NAL header. */
static cu_frame
synthetic_frame(uint8_t *buf, uint64_t n, int64_t ts, uint32_t dur)
{
	bool key = n % 25 == 0;
	memcpy(buf, key ? "\0\0\0\1\x65" : "\0\0\0\1\x41", 5);
	return (cu_frame){
		.ts_us = ts, .dur_us = dur, .codec = CU_CODEC_H264, .track = CU_TRACK_VIDEO,
		.key = key, .data = buf, .len = key ? 30000 : 4000 + (n % 7) * 500,
	};
}

static uint8_t frame_buf[40000];

static void
fill_frame_buf(uint32_t x)
{
	for (size_t i = 0; i < sizeof(frame_buf); i++) {
		x = x * 1103515245u + 12345u;
		frame_buf[i] = (uint8_t)(x >> 24);
	}
}

/* 50 frames from FROM_US with three signed event records among them. */
static int
write_events(cu_store *s, const char *camera, const char *from)
{
	static const struct {
		uint64_t at_frame;
		const char *type, *source, *detail;
		int phase, severity;
	} evs[] = {
		{12, "tamper.covered", "analysis", "lens covered: 97% of the picture dark",
		 CU_EVENT_RAISE, CU_EVENT_MAJOR},
		{37, "tamper.covered", "analysis", "picture restored", CU_EVENT_CLEAR, CU_EVENT_MAJOR},
		{45, "onvif.motion", "onvif", "the camera reports motion", CU_EVENT_RAISE,
		 CU_EVENT_WARNING},
	};
	uint64_t t0;
	cu_writer *w = NULL;
	int r = cu_parse_u64(from, INT64_MAX / 2, "FROM_US", &t0);
	if (r < 0 || (r = cu_writer_open(s, camera, &w)) < 0)
		return r;
	fill_frame_buf(12345);
	size_t k = 0;
	for (uint64_t n = 0; n < 50 && r == 0; n++) {
		int64_t ts = (int64_t)t0 + (int64_t)n * 40000;
		cu_frame f = synthetic_frame(frame_buf, n, ts, 40000);
		f.len /= 10; /* small: the test vector is made this way */
		r = cu_writer_append(w, &f);
		if (r == 0 && k < sizeof(evs) / sizeof(evs[0]) && evs[k].at_frame == n) {
			struct cu_event_note e = {.at_us = ts, .phase = evs[k].phase,
			                          .severity = evs[k].severity};
			snprintf(e.type, sizeof(e.type), "%s", evs[k].type);
			snprintf(e.source, sizeof(e.source), "%s", evs[k].source);
			snprintf(e.detail, sizeof(e.detail), "%s", evs[k].detail);
			r = cu_writer_note(w, &e);
			k++;
		}
	}
	int r2 = cu_writer_close(w);
	if (r == 0)
		r = r2;
	if (r == 0)
		printf("events %zu\n", k);
	return r;
}

int
main(int argc, char **argv)
{
	bool lock_mode = argc == 7 && strcmp(argv[4], "--lock-retention") == 0;
	bool events_mode = argc == 6 && strcmp(argv[4], "--events") == 0;
	if (!lock_mode && !events_mode && (argc < 4 || argc > 5)) {
		fprintf(stderr, "usage: cu-testwriter STORE PASSWORD-FILE CAMERA [FPS]\n"
		        "       cu-testwriter STORE PASSWORD-FILE CAMERA --lock-retention FROM_US "
		        "TO_US\n"
		        "       cu-testwriter STORE PASSWORD-FILE CAMERA --events FROM_US\n");
		return 2;
	}
	uint64_t fps = 25;
	if (argc == 5 && (cu_parse_u64(argv[4], 1000, "FPS", &fps) < 0 || fps == 0)) {
		fprintf(stderr, "cu-testwriter: FPS must be 1..1000\n");
		return 2;
	}
	uint8_t *pw;
	size_t pwlen;
	if (cu_file_read(argv[2], 4096, &pw, &pwlen) < 0) {
		fprintf(stderr, "cu-testwriter: %s\n", cu_error_detail());
		return 2;
	}
	while (pwlen > 0 && (pw[pwlen - 1] == '\n' || pw[pwlen - 1] == '\r'))
		pwlen--;
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	cu_store *s;
	cu_writer *w;
	int r = cu_store_open(argv[1], (const char *)pw, pwlen, &s);
	free(pw);
	if (r == 0 && (lock_mode || events_mode)) {
		r = lock_mode ? lock_retention(s, argv[3], argv[5], argv[6])
		              : write_events(s, argv[3], argv[5]);
		cu_store_close(s);
		if (r < 0)
			fprintf(stderr, "cu-testwriter: %s: %s\n", cu_strerror(r), cu_error_detail());
		return r < 0 ? 2 : 0;
	}
	if (r < 0 || (r = cu_writer_open(s, argv[3], &w)) < 0) {
		fprintf(stderr, "cu-testwriter: %s: %s\n", cu_strerror(r), cu_error_detail());
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	fill_frame_buf((uint32_t)cu_time_now_us());
	uint32_t dur = (uint32_t)(1000000 / fps);
	for (uint64_t n = 0; !stop; n++) {
		cu_frame f = synthetic_frame(frame_buf, n, cu_time_now_us(), dur);
		if ((r = cu_writer_append(w, &f)) < 0) {
			fprintf(stderr, "cu-testwriter: append: %s\n", cu_error_detail());
			return 2;
		}
		printf("ack %lld\n", (long long)f.ts_us);
		fflush(stdout);
		struct timespec ts = {0, (long)dur * 1000};
		nanosleep(&ts, NULL);
	}
	r = cu_writer_close(w);
	cu_store_close(s);
	printf("stopped\n");
	return r < 0 ? 2 : 0;
}
