/* custody import --store DIR --camera NAME [--start ISO8601] [--password-file F] FILE */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "custody/media.h"
#include "custody/store.h"
#include "custody/time.h"

static const char help[] =
	"usage: custody import --store DIR --camera NAME [--start ISO8601] [--password-file F] FILE\n"
	"Records FILE (MP4, MKV, MOV, raw H.264/H.265, MJPEG; the first video stream and the\n"
	"first AAC stream) as footage of camera NAME, created on first use. Frame times start\n"
	"at --start (default: now) and keep the file's own spacing. Frames are encrypted and\n"
	"sealed exactly as live recording does.\n";

int
cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"camera", required_argument, NULL, 'c'},
		{"start", required_argument, NULL, 't'},
		{"password-file", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *store = NULL, *camera = NULL, *pwfile = NULL;
	int64_t start = -1;
	int c;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'c': camera = optarg; break;
		case 'p': pwfile = optarg; break;
		case 't':
			if (cli_time_arg("import", "--start", optarg, &start) != 0)
				return EXIT_ERROR;
			break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_bad_option("import", argv);
		}
	}
	if (store == NULL || camera == NULL)
		return cli_usage("import", "--store DIR and --camera NAME are required");
	if (optind + 1 != argc)
		return cli_usage("import", optind == argc ? "give one media FILE to import"
		                                          : "give only one media FILE");
	const char *file = argv[optind];
	if (cu_camera_name_check(camera) < 0)
		return cli_usage("import", "--camera: %s", cu_error_detail());
	if (start < 0)
		start = cu_time_now_us();
	/* footage leaves a store only as a package, and never goes back in as
	 * new recording: that would re-sign it as if recorded now */
	if (cli_pkg_refuse("import", NULL, file, "custody import takes media files; a package "
	                   "cannot be imported, converted or extracted") != 0)
		return EXIT_ERROR;

	cu_media_src *src = NULL;
	int r = cu_media_open(file, &src);
	if (r < 0)
		return cli_fail("import", r, "cannot read the media file");
	struct cli_password pw = {0};
	if (cli_password_get("import", pwfile, false, &pw) != 0) {
		cu_media_close(src);
		return EXIT_ERROR;
	}
	cu_store *s = NULL;
	cu_writer *w = NULL;
	int rc = EXIT_ERROR;
	r = cu_store_open(store, pw.buf, pw.len, &s);
	cli_password_free(&pw);
	if (r < 0) {
		cli_fail("import", r, "cannot open the store");
		goto out;
	}
	if ((r = cu_writer_open(s, camera, &w)) < 0) {
		cli_fail("import", r, "cannot record");
		goto out;
	}
	cu_frame f;
	uint64_t frames = 0, bytes = 0;
	int64_t first = -1, last = -1;
	while ((r = cu_media_next(src, &f)) > 0) {
		f.ts_us += start;
		if ((r = cu_writer_append(w, &f)) < 0) {
			char when[CU_TIME_ISO_MAX];
			cu_time_text(f.ts_us, when);
			fprintf(stderr, "custody import: %s: frame %llu at %s: %s\n", file,
			        (unsigned long long)frames + 1, when, cu_error_detail());
			break;
		}
		if (first < 0)
			first = f.ts_us;
		if (f.ts_us + f.dur_us > last)
			last = f.ts_us + f.dur_us;
		frames++;
		bytes += f.len;
	}
	if (r < 0) {
		if (frames == 0 || r != CU_ERR_INVAL)
			cli_fail("import", r, file);
		cu_writer_close(w);
		w = NULL;
		goto out;
	}
	r = cu_writer_close(w);
	w = NULL;
	if (r < 0) {
		cli_fail("import", r, "cannot finish the recording");
		goto out;
	}
	char a[CU_TIME_ISO_MAX] = "-", b[CU_TIME_ISO_MAX] = "-", sz[32];
	if (frames > 0) {
		cu_time_text(first, a);
		cu_time_text(last, b);
	}
	cli_bytes(bytes, sz, sizeof(sz));
	printf("imported %llu frames (%s) from %s into camera %s: %s to %s\n",
	       (unsigned long long)frames, sz, file, camera, a, b);
	rc = 0;
out:
	cu_writer_close(w);
	cu_store_close(s);
	cu_media_close(src);
	return rc;
}
