/* custody export: an evidence package of recorded ranges (docs/evidence-export.md).
 *
 * Either on the recording box itself, from the store (--store: the store
 * password opens it, the export is written to the audit log and signed with
 * the server's key by the package library), or through a recording server's
 * API (--server: log in, POST exports, poll, download, log out). Either way
 * custody export only ever reads a store: an evidence package given anywhere
 * is refused, so a package cannot be re-exported by custody. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "custody/auth.h"
#include "custody/package.h"
#include "custody/time.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"
#include "export.h"

static const char help[] =
	"usage: custody export --store DIR --camera NAME --from ISO8601 --to ISO8601\n"
	"                      [--camera NAME --from ISO8601 --to ISO8601]... --out FILE\n"
	"                      --case TEXT (--comments TEXT | --comments-file F)\n"
	"                      [--package-password-file F | --no-encryption]\n"
	"                      [--prevent-reexport] [--password-file F] [--user NAME]\n"
	"                      [--profile NAME] [--include-player]\n"
	"       custody export --server https://HOST:PORT --ca-file PEM --user NAME\n"
	"                      [--password-file F] [--profile NAME] (the same ranges and\n"
	"                      package options) --out FILE [--include-player]\n"
	"Writes an evidence package (one file: the cameras' recorded segments with their\n"
	"recording signatures, certificates, and a manifest signed by the server naming the\n"
	"case, the comments, who exported and when) of each camera's range [--from, --to]\n"
	"(each --from/--to follows its --camera; at most 24 h per camera, 64 cameras).\n"
	"The source footage is verified first: tampering stops the export (exit 1, naming\n"
	"the camera and the time of the first failed segment). --out must not exist.\n"
	"--store: on the recording box; --password-file is the store's password, --user the\n"
	"exporter's name in the package and the audit log (default \"operator\"). The export\n"
	"profile --profile names, or --user's when --user is a user of the store, applies as\n"
	"on the server; with neither, none does (the store password is the operator's).\n"
	"--server: through the server's HTTPS API, trusting only --ca-file (the store's\n"
	"tls/ca.pem); --password-file is --user's login password; the server applies your\n"
	"export profile (--profile picks one when you have several).\n"
	"The package password (at least 8 bytes) comes from --package-password-file or the\n"
	"terminal; --no-encryption writes a signed but unencrypted package. Passwords are\n"
	"never taken on the command line. --prevent-reexport sets the signed flag that makes\n"
	"custody refuse to re-export, convert or extract the package.\n"
	"--include-player: --out names a new folder (mode 0755, for a USB stick or a disc)\n"
	"holding evidence.cuep (the same package), custody (a copy of this program, or with\n"
	"--server the server's, for custody verify and custody player), verify-package.sh\n"
	"(the openssl recipe) and README.txt (what the folder is, how to check it, the\n"
	"files' SHA-256). With --server it is always asked for or not: a profile that locks\n"
	"include_player the other way refuses the export, naming the setting.\n"
	"Exit 0 written, 1 the source footage is tampered, 2 error.\n";


/* ---- arguments ---- */

static int
read_comments_file(struct args *a)
{
	if (cli_pkg_refuse(CMD, "--comments-file", a->comments_file,
	                   "custody export reads only stores, never a package") != 0)
		return EXIT_ERROR;
	uint8_t *data = NULL;
	size_t len = 0;
	int r = cu_file_read(a->comments_file, COMMENTS_FILE_MAX, &data, &len);
	if (r < 0) {
		fprintf(stderr, "custody export: --comments-file %s: %s\n", a->comments_file,
		        r == CU_ERR_LIMIT ? "longer than the 8000 bytes comments may have"
		                          : cu_error_detail());
		return EXIT_ERROR;
	}
	/* a final line break is the file's, not the comments' */
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	a->comments_buf = (char *)data;
	a->comments = a->comments_buf;
	a->comments_len = len;              /* a NUL byte is found by the text check */
	return 0;
}

/* The option's text under the one rule for text people type (util/text.h):
 * 0, or the usage error printed (EXIT_ERROR). */
static int
text_arg(const char *opt, const char *v, size_t len, size_t max, unsigned flags)
{
	if (cu_text_check(v, len, max, flags) == 0)
		return 0;
	return cli_usage(CMD, "%s: %s", opt, cu_error_detail());
}

static int
check_args(struct args *a, int argc, char **argv)
{
	if (optind != argc) {
		if (cli_pkg_refuse(CMD, NULL, argv[optind], "custody export reads only stores: a "
		                   "package cannot be exported again") != 0)
			return EXIT_ERROR;
		return cli_usage(CMD, "unexpected argument \"%s\"", argv[optind]);
	}
	if ((a->store == NULL) == (a->server == NULL))
		return cli_usage(CMD, "give either --store DIR (on the recording box) or --server "
		                 "URL (through the API)");
	if (a->store != NULL && cli_pkg_refuse(CMD, "--store", a->store,
	                                       "custody export reads only stores: a package "
	                                       "cannot be exported again") != 0)
		return EXIT_ERROR;
	if (a->server != NULL) {
		if (a->ca_file == NULL)
			return cli_usage(CMD, "--server needs --ca-file PEM (the site TLS CA, the "
			                 "store's tls/ca.pem): no other CA is trusted");
		if (a->user == NULL)
			return cli_usage(CMD, "--server needs --user NAME to log in as");
		if (strncmp(a->server, "https://", 8) != 0 || strlen(a->server) > URL_MAX - 64)
			return cli_usage(CMD, "--server must be an https:// URL (at most %d bytes)",
			                 URL_MAX - 64);
		for (const char *p = a->server; *p != '\0'; p++) {
			if (*p == '@')
				return cli_usage(CMD, "--server: no user or password in the URL (give "
				                 "--user and --password-file)");
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '?' ||
			    *p == '#')
				return cli_usage(CMD, "--server: a URL without spaces, query or "
				                 "fragment: https://HOST:PORT");
		}
	} else {
		if (a->ca_file != NULL)
			return cli_usage(CMD, "--ca-file applies to --server only");
	}
	if (a->n == 0)
		return cli_usage(CMD, "--camera NAME --from ISO8601 --to ISO8601 is required");
	for (size_t i = 0; i < a->n; i++) {
		struct cu_pkg_range *rg = &a->ranges[i];
		if (!a->has_from[i] || !a->has_to[i])
			return cli_usage(CMD, "--camera %s: give its --from and --to after it",
			                 rg->camera);
		if (rg->to_us <= rg->from_us)
			return cli_usage(CMD, "--to: camera %s's range must end after it starts",
			                 rg->camera);
		if (rg->to_us - rg->from_us > CU_PKG_RANGE_MAX_US)
			return cli_usage(CMD, "--to: camera %s's range is longer than 24 h (export "
			                 "longer spans as several packages)", rg->camera);
	}
	if (a->out == NULL)
		return cli_usage(CMD, "--out %s is required", a->include_player ? "DIR" : "FILE");
	if (a->include_player && (a->out[0] == '\0' || a->out[strlen(a->out) - 1] == '/'))
		return cli_usage(CMD, "--out: name the new folder without a trailing '/'");
	struct stat st;
	if (lstat(a->out, &st) == 0) {
		if (cli_pkg_refuse(CMD, "--out", a->out, "custody never replaces a file, and never "
		                   "writes over a package") != 0)
			return EXIT_ERROR;
		return cli_usage(CMD, "--out %s exists: an export never replaces a file", a->out);
	}
	char tmp[PATH_MAX];
	if (cu_path(tmp, sizeof(tmp), "%s.tmp", a->out) < 0)
		return cli_usage(CMD, "--out: the path is too long");
	if (lstat(tmp, &st) == 0)
		return cli_usage(CMD, "--out: %s exists (an interrupted export?): remove it first",
		                 tmp);
	if (a->include_player && a->server != NULL) {
		/* the tar is downloaded beside --out first */
		for (int k = 0; k < 2; k++) {
			if (cu_path(tmp, sizeof(tmp), "%s.download%s", a->out, k ? ".tmp" : "") < 0)
				return cli_usage(CMD, "--out: the path is too long");
			if (lstat(tmp, &st) == 0)
				return cli_usage(CMD, "--out: %s exists (an interrupted export?): remove it "
				                 "first", tmp);
		}
	}
	if (a->case_ref == NULL)
		return cli_usage(CMD, "--case TEXT is required (the case or reference the export "
		                 "is for)");
	if (a->case_ref[0] == '\0')
		return cli_usage(CMD, "--case is empty: name the case or reference");
	if (text_arg("--case", a->case_ref, strlen(a->case_ref), CU_PKG_CASE_MAX, 0) != 0)
		return EXIT_ERROR;
	if (a->comments != NULL && a->comments_file != NULL)
		return cli_usage(CMD, "give --comments or --comments-file, not both");
	if (a->comments == NULL && a->comments_file == NULL)
		return cli_usage(CMD, "--comments TEXT (or --comments-file F) is required: why is "
		                 "this exported, for whom");
	if (a->comments_file != NULL && read_comments_file(a) != 0)
		return EXIT_ERROR;
	if (a->comments_file == NULL)
		a->comments_len = strlen(a->comments);
	const char *opt = a->comments_file ? "--comments-file" : "--comments";
	if (a->comments_len == 0)
		return cli_usage(CMD, "%s is empty: say why this is exported", opt);
	if (text_arg(opt, a->comments, a->comments_len, CU_PKG_COMMENTS_MAX, CU_TEXT_MULTILINE) != 0)
		return EXIT_ERROR;
	if (a->server != NULL && cu_auth_user_name_check(a->user) < 0)
		return cli_usage(CMD, "--user: %s", cu_error_detail());
	if (a->server == NULL && a->user != NULL &&
	    text_arg("--user", a->user, strlen(a->user), CU_PKG_EXPORTER_MAX, CU_TEXT_NONEMPTY) != 0)
		return EXIT_ERROR;
	if (a->no_encryption && a->pkg_pwfile != NULL)
		return cli_usage(CMD, "give --package-password-file or --no-encryption, not both");
	if (a->profile != NULL && text_arg("--profile", a->profile, strlen(a->profile),
	                                   CU_PKG_PROFILE_NAME_MAX, CU_TEXT_NONEMPTY) != 0)
		return EXIT_ERROR;
	return 0;
}

int
cmd_export(int argc, char **argv)
{
	enum { O_STORE = 1, O_SERVER, O_CA, O_USER, O_PW, O_PKGPW, O_NOENC, O_PREVENT, O_CAMERA,
	       O_FROM, O_TO, O_OUT, O_CASE, O_COMMENTS, O_COMMENTS_FILE, O_PROFILE, O_PLAYER, O_HELP };
	static const struct option opts[] = {
		{"store", required_argument, NULL, O_STORE},
		{"server", required_argument, NULL, O_SERVER},
		{"ca-file", required_argument, NULL, O_CA},
		{"user", required_argument, NULL, O_USER},
		{"password-file", required_argument, NULL, O_PW},
		{"package-password-file", required_argument, NULL, O_PKGPW},
		{"no-encryption", no_argument, NULL, O_NOENC},
		{"prevent-reexport", no_argument, NULL, O_PREVENT},
		{"include-player", no_argument, NULL, O_PLAYER},
		{"camera", required_argument, NULL, O_CAMERA},
		{"from", required_argument, NULL, O_FROM},
		{"to", required_argument, NULL, O_TO},
		{"out", required_argument, NULL, O_OUT},
		{"case", required_argument, NULL, O_CASE},
		{"comments", required_argument, NULL, O_COMMENTS},
		{"comments-file", required_argument, NULL, O_COMMENTS_FILE},
		{"profile", required_argument, NULL, O_PROFILE},
		{"help", no_argument, NULL, O_HELP},
		{0, 0, 0, 0},
	};
	struct args *a = calloc(1, sizeof(*a));
	int c, rc = EXIT_ERROR;
	if (a == NULL) {
		fprintf(stderr, "custody export: out of memory\n");
		return EXIT_ERROR;
	}
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		struct cu_pkg_range *cur = a->n > 0 ? &a->ranges[a->n - 1] : NULL;
		switch (c) {
		case O_STORE: a->store = optarg; break;
		case O_SERVER: a->server = optarg; break;
		case O_CA: a->ca_file = optarg; break;
		case O_USER: a->user = optarg; break;
		case O_PW: a->pwfile = optarg; break;
		case O_PKGPW: a->pkg_pwfile = optarg; break;
		case O_NOENC: a->no_encryption = true; break;
		case O_PREVENT: a->prevent_reexport = true; break;
		case O_PLAYER: a->include_player = true; break;
		case O_OUT: a->out = optarg; break;
		case O_CASE: a->case_ref = optarg; break;
		case O_COMMENTS: a->comments = optarg; break;
		case O_COMMENTS_FILE: a->comments_file = optarg; break;
		case O_PROFILE: a->profile = optarg; break;
		case O_CAMERA:
			if (a->n == CU_PKG_CAMERAS_MAX) {
				rc = cli_usage(CMD, "--camera: at most %d cameras in one package",
				               CU_PKG_CAMERAS_MAX);
				goto out;
			}
			if (cu_camera_name_check(optarg) < 0) {
				rc = cli_usage(CMD, "--camera: %s", cu_error_detail());
				goto out;
			}
			for (size_t i = 0; i < a->n; i++)
				if (strcmp(a->ranges[i].camera, optarg) == 0) {
					rc = cli_usage(CMD, "--camera %s is given twice (one range per "
					               "camera)", optarg);
					goto out;
				}
			int k = snprintf(a->ranges[a->n].camera, sizeof(a->ranges[a->n].camera), "%s",
			                 optarg);
			if (k < 0 || (size_t)k >= sizeof(a->ranges[a->n].camera)) {
				rc = cli_usage(CMD, "--camera: longer than %d characters",
				               CU_CAMERA_NAME_MAX);
				goto out;
			}
			a->n++;
			break;
		case O_FROM:
		case O_TO: {
			const char *opt = c == O_FROM ? "--from" : "--to";
			bool *given = cur ? (c == O_FROM ? &a->has_from[a->n - 1] : &a->has_to[a->n - 1])
			                  : NULL;
			if (cur == NULL) {
				rc = cli_usage(CMD, "%s must follow the --camera it applies to", opt);
				goto out;
			}
			if (*given) {
				rc = cli_usage(CMD, "%s is given twice for camera %s", opt, cur->camera);
				goto out;
			}
			if (cli_time_arg(CMD, opt, optarg, c == O_FROM ? &cur->from_us
			                                                : &cur->to_us) != 0)
				goto out;
			*given = true;
			break;
		}
		case O_HELP:
			fputs(help, stdout);
			rc = 0;
			goto out;
		default:
			rc = cli_bad_option(CMD, argv);
			goto out;
		}
	}
	if ((rc = check_args(a, argc, argv)) != 0)
		goto out;
	if (a->server != NULL) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = cli_export_server(a);
		curl_global_cleanup();
	} else {
		rc = cli_export_local(a);
	}
out:
	free(a->comments_buf);
	free(a);
	return rc;
}
