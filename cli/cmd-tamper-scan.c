/* custody tamper-scan [--interval D] [--persistence D] [--learn D] [--json] [--trace] FILE
 *
 * Replays a media file through the tamper analysis custodyd runs on each
 * camera, as fast as it decodes: one key frame per interval of media time.
 * For checking the analysis on footage (false alarms, missed faults) and for
 * choosing thresholds (docs/tamper-analysis.md). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "custody/parse.h"
#include "custody/tamper.h"
#include "custody/time.h"

#define CMD "tamper-scan"

static const char help[] =
	"usage: custody tamper-scan [--interval D] [--persistence D] [--learn D] [--json] [--trace] FILE\n"
	"Runs custodyd's video tamper analysis (covered, defocused, moved) over FILE (MP4, MKV,\n"
	"MOV, raw H.264/H.265, MJPEG) in media time, as fast as it decodes: the first key frame\n"
	"at or after every --interval (default 1s) is analysed; a condition is raised when it\n"
	"holds for --persistence (default 3s); baselines are learned over --learn (default 30s).\n"
	"Prints each condition raised and cleared, then a summary (--json: one JSON object);\n"
	"--trace prints every analysed picture's measurements.\n"
	"Exit status: 0 nothing raised, 1 a condition was raised, 2 error.\n";

struct scan {
	cu_tamper *t;
	bool json, trace;
	json_t *events;
	uint64_t frames, keys;
	int64_t first_us, last_us;
};

static void
trace_line(const cu_tamper *t, int64_t rel_us)
{
	struct cu_tamper_measure m;
	cu_tamper_last(t, &m);
	printf("%9.3f mean %5.1f dark %.3f uniform %.3f sharp %.3f tiles %2d shift %3d %3d "
	       "peak %.3f sim %.3f%s%s%s%s\n", (double)rel_us / 1e6, m.mean, m.dark, m.uniform,
	       m.sharpness, m.tiles, m.shift_x, m.shift_y, m.peak, m.similarity,
	       m.learning ? " learning" : "", m.seen[CU_TAMPER_COVERED] ? " COVERED" : "",
	       m.seen[CU_TAMPER_DEFOCUSED] ? " DEFOCUSED" : "",
	       m.seen[CU_TAMPER_MOVED] ? " MOVED" : "");
}

static int
report_changes(struct scan *sc, unsigned changes, int64_t rel_us)
{
	for (int k = 0; k < CU_TAMPER_KINDS; k++) {
		if (!(changes & (1u << k)))
			continue;
		bool on = cu_tamper_active(sc->t, k);
		char detail[512];
		cu_tamper_describe(sc->t, k, detail, sizeof(detail));
		if (!sc->json) {
			printf("%9.3f s %s tamper.%s: %s\n", (double)rel_us / 1e6, on ? "raise" : "clear",
			       cu_tamper_name(k), detail);
			continue;
		}
		json_t *e = json_pack("{s:f, s:s, s:s, s:s}", "media_s", (double)rel_us / 1e6, "event",
		                      cu_tamper_name(k), "phase", on ? "raise" : "clear", "detail", detail);
		if (!e || json_array_append_new(sc->events, e) < 0)
			return cli_fail(CMD, CU_ERR_NOMEM, "cannot list the events");
	}
	return 0;
}

static int
summary(struct scan *sc, const char *file, double wall_s)
{
	struct cu_tamper_stats st;
	cu_tamper_stats(sc->t, &st);
	double media_s = sc->frames ? (double)(sc->last_us - sc->first_us) / 1e6 : 0;
	if (!sc->json) {
		printf("%s: %.1f s of media, %llu pictures analysed, %llu did not decode; raised: "
		       "covered %llu, defocused %llu, moved %llu; %.2f s (%.0fx real time)\n", file,
		       media_s, (unsigned long long)st.analysed, (unsigned long long)st.decode_failed,
		       (unsigned long long)st.raised[0], (unsigned long long)st.raised[1],
		       (unsigned long long)st.raised[2], wall_s, wall_s > 0 ? media_s / wall_s : 0);
		return 0;
	}
	json_t *o = json_pack("{s:s, s:f, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:f, s:O}", "file", file,
	    "media_s", media_s, "frames", (json_int_t)sc->frames, "analysed", (json_int_t)st.analysed,
	    "decode_failed", (json_int_t)st.decode_failed, "raised",
	    "covered", (json_int_t)st.raised[0], "defocused", (json_int_t)st.raised[1],
	    "moved", (json_int_t)st.raised[2], "wall_s", wall_s, "events", sc->events);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return cli_fail(CMD, CU_ERR_NOMEM, "cannot write the summary");
	puts(text);
	free(text);
	return 0;
}

static int
scan_file(struct scan *sc, const char *file, int64_t interval)
{
	cu_media_src *src = NULL;
	int r = cu_media_open(file, &src);
	if (r < 0)
		return cli_fail(CMD, r, "cannot read the media file");
	int64_t due = INT64_MIN;
	cu_frame f;
	while ((r = cu_media_next(src, &f)) > 0) {
		if (f.track != CU_TRACK_VIDEO)
			continue;
		if (sc->frames++ == 0)
			sc->first_us = f.ts_us;
		if (f.ts_us > sc->last_us)
			sc->last_us = f.ts_us;
		if (!f.key || f.ts_us < due)
			continue;
		sc->keys++;
		due = f.ts_us + interval;
		unsigned changes = 0;
		/* a key frame that does not decode is counted, not fatal */
		if (cu_tamper_frame(sc->t, &f, &changes) < 0)
			continue;
		if (sc->trace)
			trace_line(sc->t, f.ts_us - sc->first_us);
		if ((r = report_changes(sc, changes, f.ts_us - sc->first_us)) != 0)
			break;
	}
	cu_media_close(src);
	if (r < 0)
		return cli_fail(CMD, r, "reading the media file");
	return r > 0 ? EXIT_ERROR : 0;
}

int
cmd_tamper_scan(int argc, char **argv)
{
	static const struct option opts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"persistence", required_argument, NULL, 'p'},
		{"learn", required_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},
		{"trace", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	struct cu_tamper_opts to = {0};
	struct scan sc = {0};
	int64_t interval = 1000000;
	int c;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 'i':
			if (cu_parse_duration(optarg, "--interval", &interval) < 0)
				return cli_usage(CMD, "%s", cu_error_detail());
			break;
		case 'p':
			if (cu_parse_duration(optarg, "--persistence", &to.persistence_us) < 0)
				return cli_usage(CMD, "%s", cu_error_detail());
			break;
		case 'l':
			if (cu_parse_duration(optarg, "--learn", &to.learn_us) < 0)
				return cli_usage(CMD, "%s", cu_error_detail());
			break;
		case 'j': sc.json = true; break;
		case 't': sc.trace = true; break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_bad_option(CMD, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage(CMD, optind == argc ? "give one media FILE" : "give only one media FILE");
	if (sc.json && sc.trace)
		return cli_usage(CMD, "--json and --trace do not go together");
	const char *file = argv[optind];
	if (cli_pkg_refuse(CMD, NULL, file, "tamper-scan reads media files") != 0)
		return EXIT_ERROR;
	int r = cu_tamper_new(&to, &sc.t);
	if (r < 0)
		return cli_usage(CMD, "%s", cu_error_detail());
	sc.events = json_array();
	sc.last_us = INT64_MIN;
	int rc = EXIT_ERROR;
	int64_t start = cu_time_mono_us();
	if (!sc.events)
		rc = cli_fail(CMD, CU_ERR_NOMEM, "no memory");
	else if ((rc = scan_file(&sc, file, interval)) == 0 &&
	         (rc = summary(&sc, file, (double)(cu_time_mono_us() - start) / 1e6)) == 0) {
		struct cu_tamper_stats st;
		cu_tamper_stats(sc.t, &st);
		rc = st.raised[0] || st.raised[1] || st.raised[2] ? EXIT_TAMPERED : 0;
	}
	json_decref(sc.events);
	cu_tamper_free(sc.t);
	return rc;
}
