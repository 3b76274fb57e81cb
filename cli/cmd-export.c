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
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "custody/audit.h"
#include "custody/auth.h"
#include "custody/crypto.h"
#include "custody/package.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/buf.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"

static const char help[] =
	"usage: custody export --store DIR --camera NAME --from ISO8601 --to ISO8601\n"
	"                      [--camera NAME --from ISO8601 --to ISO8601]... --out FILE\n"
	"                      --case TEXT (--comments TEXT | --comments-file F)\n"
	"                      [--package-password-file F | --no-encryption]\n"
	"                      [--prevent-reexport] [--password-file F] [--user NAME]\n"
	"                      [--include-player]\n"
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
	"exporter's name in the package and the audit log (default \"operator\").\n"
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

#define CMD "export"
#define COMMENTS_FILE_MAX (CU_PKG_COMMENTS_MAX + 2)      /* the text and a final line break */
#define URL_MAX 1024
#define ANSWER_MAX (1024 * 1024)                        /* a JSON answer of the API */
#define POLL_US 500000                                  /* between two GET exports/{id} */
#define POLL_MAX_US (24 * 3600 * INT64_C(1000000))      /* give up waiting after a day */
#define RENEW_BEFORE_US (120 * INT64_C(1000000))        /* renew a token this long before it ends */
#define CONNECT_TIMEOUT_S 15L
#define REQUEST_TIMEOUT_S 120L
#define STALL_S 60L                                     /* a download that moves nothing */
#define FOLDER_PACKAGE CU_PKG_FOLDER_PACKAGE           /* the package in an --include-player folder */

struct args {
	const char *store, *server, *ca_file, *user, *pwfile, *pkg_pwfile, *out, *case_ref;
	const char *comments, *comments_file, *profile;
	char *comments_buf;                                 /* read from --comments-file */
	size_t comments_len;                                /* its bytes (NUL bytes count) */
	bool no_encryption, prevent_reexport, include_player;
	struct cu_pkg_range ranges[CU_PKG_CAMERAS_MAX];
	bool has_from[CU_PKG_CAMERAS_MAX], has_to[CU_PKG_CAMERAS_MAX];
	size_t n;
};

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
		if (a->profile != NULL)
			return cli_usage(CMD, "--profile applies to --server only (a local export "
			                 "is recorded with profile \"cli\")");
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

/* ---- the audit entry (local exports) ---- */

static json_t *
ranges_json(const struct args *a)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < a->n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "camera", a->ranges[i].camera,
		                                     "from", cli_json_time(a->ranges[i].from_us),
		                                     "to", cli_json_time(a->ranges[i].to_us)));
	return arr;
}

static int
audit_append(cu_audit *au, const char *type, const char *actor, json_t *detail,
             uint64_t *ret_index)
{
	char *text = detail != NULL ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(detail);
	if (text == NULL) {
		fprintf(stderr, "custody export: out of memory\n");
		return CU_ERR_NOMEM;
	}
	struct cu_audit_entry e = {.type = type, .actor = actor, .source = "cli", .detail = text};
	int r = cu_audit_append(au, &e, ret_index);
	free(text);
	return r;
}

/* "export.end": how it ended, under a signed head (best effort: the export
 * itself stands or fails on its own). */
static void
audit_end(cu_audit *au, const char *actor, const char *id, bool ok,
          const struct cu_pkg_export_result *res, const char *error)
{
	struct cu_audit_export_end e = {.id = id, .format = "evidence", .done = ok,
	                                .error = error};
	if (ok) {
		e.bytes = res->bytes;
		memcpy(e.sha256, res->sha256, CU_SHA256_LEN);
	}
	if (cu_audit_export_end(au, actor, "cli", &e, NULL) < 0 || cu_audit_sign_head(au, NULL) < 0)
		fprintf(stderr, "custody export: warning: the end of the export could not be "
		        "written to the audit log: %s\n", cu_error_detail());
}

/* ---- an --include-player folder ---- */

/* Completes the folder <out>.tmp (dfd) that holds the package: the copy of
 * this program, the recipe, README.txt; fsyncs it and renames it to out
 * (never over anything), then fsyncs the directory that holds out.
 * 0, or EXIT_ERROR printed (the caller removes <out>.tmp). */
static int
folder_finish(int dfd, const char *dir_tmp, const char *out)
{
	char parent[PATH_MAX];
	/* the running program itself, whatever its name or path */
	int r, fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "custody export: --include-player: /proc/self/exe: %s\n",
		        strerror(errno));
		return EXIT_ERROR;
	}
	r = cu_pkg_folder_complete(dfd, fd);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "custody export: --include-player: %s: %s\n", dir_tmp,
		        cu_error_detail());
		return EXIT_ERROR;
	}
	if (renameat2(AT_FDCWD, dir_tmp, AT_FDCWD, out, RENAME_NOREPLACE) < 0) {
		fprintf(stderr, "custody export: --out %s: %s\n", out, strerror(errno));
		return EXIT_ERROR;
	}
	/* out is a directory now: cu_fsync_dir needs the one that holds it */
	if (cu_path(parent, sizeof(parent), "%s", out) == 0)
		cu_fsync_dir(dirname(parent));
	return 0;
}

/* Removes what an unfinished folder may hold, and the folder. */
static void
folder_remove(const char *dir_tmp)
{
	static const char *const names[] = {FOLDER_PACKAGE, FOLDER_PACKAGE ".tmp", "custody",
	                                    "verify-package.sh", "README.txt"};
	int dfd = open(dir_tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd >= 0) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			unlinkat(dfd, names[i], 0);
		close(dfd);
	}
	rmdir(dir_tmp);
}

/* ---- a local export ---- */

/* The library writes <out>.tmp; a Ctrl-C removes it (the package library
 * cannot be interrupted otherwise). */
static char tmp_path[PATH_MAX];
static char tmp_dir[PATH_MAX];          /* --include-player: <out>.tmp, holding only tmp_path */

static void
on_interrupt(int sig)
{
	(void)sig;
	if (tmp_path[0] != '\0')
		unlink(tmp_path);
	if (tmp_dir[0] != '\0')
		rmdir(tmp_dir);
	static const char msg[] = "\ncustody export: interrupted; nothing was exported\n";
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(EXIT_ERROR);
}

static void
on_progress(void *ctx, uint64_t done, uint64_t total)
{
	cli_progress_update(ctx, done, total);
}

/* Each range was checked by cu_pkg_export and one failed: name the camera
 * and the first failed segment as custody verify does. */
static void
report_tampered(cu_store *s, const struct args *a, const char *detail)
{
	for (size_t i = 0; i < a->n; i++) {
		struct cu_verify_opts vo = {.camera = a->ranges[i].camera,
		                            .from_us = a->ranges[i].from_us,
		                            .to_us = a->ranges[i].to_us};
		struct cu_verify_report *rep = NULL;
		if (cu_store_verify(s, &vo, &rep) < 0)
			continue;
		for (size_t c = 0; c < rep->ncameras; c++) {
			const struct cu_verify_camera *vc = &rep->cameras[c];
			if (!vc->tampered)
				continue;
			char when[CU_TIME_ISO_MAX];
			cu_time_text(vc->fail_time_us, when);
			fprintf(stderr, "custody export: camera %s: TAMPERED: first failed segment at "
			        "%s: %s\n", vc->name, when, vc->fail_reason);
			fprintf(stderr, "custody export: nothing was exported (see custody verify "
			        "--store %s --camera %s)\n", a->store, vc->name);
			cu_verify_report_free(rep);
			return;
		}
		cu_verify_report_free(rep);
	}
	fprintf(stderr, "custody export: the source footage failed verification: %s\n", detail);
	fprintf(stderr, "custody export: nothing was exported\n");
}

static int
precheck_ranges(cu_store *s, const struct args *a)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct cu_pkg_range *rg = &a->ranges[i];
		int r = cu_store_camera_exists(s, rg->camera);
		if (r < 0)
			return cli_fail(CMD, r, "cannot read the catalogue");
		if (r == 0) {
			fprintf(stderr, "custody export: --camera %s: the store has no such camera\n",
			        rg->camera);
			return EXIT_ERROR;
		}
		struct cu_range *spans = NULL;
		size_t n = 0;
		bool more = false;
		r = cu_store_ranges(s, rg->camera, rg->from_us, rg->to_us, 0, 1, &spans, &n, &more);
		free(spans);
		if (r < 0)
			return cli_fail(CMD, r, "cannot read the catalogue");
		if (n == 0) {
			char f[CU_TIME_ISO_MAX], t[CU_TIME_ISO_MAX];
			cu_time_text(rg->from_us, f);
			cu_time_text(rg->to_us, t);
			fprintf(stderr, "custody export: --camera %s: nothing recorded between %s and "
			        "%s (--from, --to)\n", rg->camera, f, t);
			return EXIT_ERROR;
		}
	}
	return 0;
}

static int
export_local(struct args *a)
{
	const char *actor = a->user != NULL ? a->user : "operator";
	struct cli_password spw = {0}, ppw = {0};
	cu_store *s = NULL;
	cu_audit *au = NULL;
	int rc = EXIT_ERROR, r, dfd = -1;
	char pkg[PATH_MAX];                 /* where the package goes: --out, or in the folder */
	bool made_dir = false;
	if (cli_password_get(CMD, a->pwfile, false, &spw) != 0)
		return EXIT_ERROR;
	r = cu_store_open(a->store, spw.buf, spw.len, &s);
	cli_password_free(&spw);
	if (r < 0)
		return cli_fail(CMD, r, "cannot open the store");
	if ((rc = precheck_ranges(s, a)) != 0)
		goto out;
	rc = EXIT_ERROR;
	if (!a->no_encryption &&
	    cli_pkg_password_get(CMD, "--package-password-file", a->pkg_pwfile, true, true,
	                         &ppw) != 0)
		goto out;
	if (cu_path(pkg, sizeof(pkg), "%s%s", a->out,
	            a->include_player ? ".tmp/" FOLDER_PACKAGE : "") < 0 ||
	    cu_path(tmp_path, sizeof(tmp_path), "%s.tmp", pkg) < 0 ||
	    (a->include_player && cu_path(tmp_dir, sizeof(tmp_dir), "%s.tmp", a->out) < 0)) {
		fprintf(stderr, "custody export: --out: the path is too long\n");
		goto out;
	}
	if (a->include_player) {
		/* made before the audit entry: a folder that cannot be made is no export */
		if (mkdir(tmp_dir, 0755) < 0) {
			fprintf(stderr, "custody export: --out %s: %s\n", tmp_dir, strerror(errno));
			tmp_dir[0] = '\0';
			goto out;
		}
		made_dir = true;
		dfd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		/* 0755 whatever the umask: the folder is for a USB stick or a disc */
		if (dfd < 0 || fchmod(dfd, 0755) < 0) {
			fprintf(stderr, "custody export: --out %s: %s\n", tmp_dir, strerror(errno));
			goto out;
		}
	}

	/* the audit entry, then a signed head over it: both go into the package */
	uint8_t idb[16];
	char id[33];
	if ((r = cu_random(idb, sizeof(idb))) < 0) {
		cli_fail(CMD, r, "no randomness");
		goto out;
	}
	cu_hex(idb, sizeof(idb), id);
	if ((r = cu_audit_open(s, &au)) < 0) {
		cli_fail(CMD, r, "cannot open the audit log (no audit entry, no export)");
		goto out;
	}
	char final[PATH_MAX];               /* the package's path once the export is done */
	if (cu_path(final, sizeof(final), "%s%s", a->out,
	            a->include_player ? "/" FOLDER_PACKAGE : "") < 0) {
		fprintf(stderr, "custody export: --out: the path is too long\n");
		goto out;
	}
	json_t *file = json_string(final);
	json_t *d = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:o}", "id", id,
	                      "format", "evidence", "cameras", ranges_json(a), "case", a->case_ref,
	                      "comments", a->comments, "profile", "cli", "encryption",
	                      !a->no_encryption, "signature", true, "prevent_reexport",
	                      a->prevent_reexport, "include_player", a->include_player, "file",
	                      file != NULL ? file : json_string("(not UTF-8)"));
	uint64_t index;
	struct cu_audit_head head;
	if ((r = audit_append(au, "export", actor, d, &index)) < 0 ||
	    (r = cu_audit_sign_head(au, &head)) < 0) {
		cli_fail(CMD, r, "cannot write the export to the audit log (no audit entry, no "
		         "export)");
		goto out;
	}

	/* written to the recorder's own disk: recording keeps its room, as
	 * custodyd's exports leave it */
	struct stat sst, ost;
	char odir[PATH_MAX];
	bool same_disk = cu_path(odir, sizeof(odir), "%s", tmp_path) == 0 &&
	                 stat(a->store, &sst) == 0 && stat(dirname(odir), &ost) == 0 &&
	                 sst.st_dev == ost.st_dev;

	struct cli_progress prog;
	cli_progress_init(&prog, "exporting");
	struct cu_pkg_export_opts o = {
		.ranges = a->ranges,
		.nranges = a->n,
		.case_ref = a->case_ref,
		.comments = a->comments,
		.exporter = actor,
		.profile = "cli",
		.encrypt = !a->no_encryption,
		.password = ppw.buf,
		.password_len = ppw.len,
		.prevent_reexport = a->prevent_reexport,
		.audit_index = (int64_t)index,
		.audit_head_size = head.size,
		.audit_head_time_us = head.time_us,
		.progress = on_progress,
		.progress_ctx = &prog,
		.keep_free = same_disk ? CU_PKG_RECORDER_RESERVE : 0,
	};
	memcpy(o.audit_head_root, head.root, CU_SHA256_LEN);
	memcpy(o.audit_head_chain, head.chain, CU_SHA256_LEN);
	memcpy(o.audit_head_sig, head.signature, CU_ED25519_SIG_LEN);
	struct sigaction sa = {.sa_handler = on_interrupt}, old_int, old_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	struct cu_pkg_export_result res = {0};
	r = cu_pkg_export(s, pkg, &o, &res);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	cli_progress_done(&prog);
	cli_password_free(&ppw);
	if (r < 0) {
		char detail[512];
		snprintf(detail, sizeof(detail), "%s", cu_error_detail()[0] ? cu_error_detail()
		                                                             : cu_strerror(r));
		if (r == CU_ERR_TAMPERED) {
			report_tampered(s, a, detail);
			rc = EXIT_TAMPERED;
		} else if (r == CU_ERR_EXIST) {
			fprintf(stderr, "custody export: --out %s (or %s) exists: an export never "
			        "replaces a file\n", a->out, tmp_path);
		} else {
			fprintf(stderr, "custody export: the export failed: %s\n", detail);
		}
		audit_end(au, actor, id, false, NULL, detail);
		goto out;
	}
	if (a->include_player && folder_finish(dfd, tmp_dir, a->out) != 0) {
		audit_end(au, actor, id, false, NULL, "the --include-player folder could not be "
		          "made");
		goto out;
	}
	made_dir = false;                   /* renamed to --out: it stays */
	audit_end(au, actor, id, true, &res, NULL);
	char sz[32], hex[2 * CU_SHA256_LEN + 1];
	cli_bytes(res.bytes, sz, sizeof(sz));
	cu_hex(res.manifest_sha256, CU_SHA256_LEN, hex);
	printf("package    %s\n", final);
	printf("size       %llu bytes (%s)\n", (unsigned long long)res.bytes, sz);
	printf("manifest   SHA-256 %s\n", hex);
	if (a->include_player)
		printf("folder     %s (with custody, verify-package.sh, README.txt)\n", a->out);
	printf("contents   %zu camera(s), %llu segments, %llu frames; %s%s\n", a->n,
	       (unsigned long long)res.segments, (unsigned long long)res.frames,
	       a->no_encryption ? "not encrypted" : "encrypted (AES-256-GCM)",
	       a->prevent_reexport ? ", re-export prevented" : "");
	printf("audit log  entry %llu (export %s)\n", (unsigned long long)index, id);
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	if (made_dir)
		folder_remove(tmp_dir);
	cli_password_free(&ppw);
	cu_audit_close(au);
	cu_store_close(s);
	return rc;
}

/* ---- an export through the API ---- */

struct api {
	CURL *curl;
	char base[URL_MAX];                 /* https://host:port, no trailing '/' */
	const char *ca_file;
	char *token;                        /* a secret: wiped */
	size_t token_len;
	int64_t token_renew_mono;           /* renew at this monotonic time */
	cu_buf answer;                      /* secret: a login answer holds the token */
};

static size_t
on_answer(char *data, size_t size, size_t n, void *ctx)
{
	cu_buf *b = ctx;
	return cu_buf_append(b, data, size * n) < 0 ? 0 : size * n;
}

static void
api_reset(struct api *a)
{
	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	/* TLS 1.2 or later, verified against --ca-file and nothing else */
	curl_easy_setopt(a->curl, CURLOPT_CAINFO, a->ca_file);
	curl_easy_setopt(a->curl, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(a->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(a->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(a->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(a->curl, CURLOPT_FOLLOWLOCATION, 0L);
	/* straight to the server: a proxy would only see TLS, but need not */
	curl_easy_setopt(a->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
}

static void
slist_free_wiped(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			cu_wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* The Authorization header (a secret: the caller wipes the list). */
static struct curl_slist *
auth_headers(const struct api *a, bool json_body)
{
	struct curl_slist *l = NULL, *t;
	if (json_body && (l = curl_slist_append(NULL, "Content-Type: application/json")) == NULL)
		return NULL;
	if ((t = curl_slist_append(l, "Accept: application/json")) == NULL)
		goto fail;
	l = t;
	if (a->token != NULL) {
		size_t len = 22 + a->token_len + 1;
		char *h = malloc(len);
		if (h == NULL)
			goto fail;
		memcpy(h, "Authorization: Bearer ", 22);
		memcpy(h + 22, a->token, a->token_len + 1);
		t = curl_slist_append(l, h);
		cu_wipe(h, len);
		free(h);
		if (t == NULL)
			goto fail;
		l = t;
	}
	return l;
fail:
	slist_free_wiped(l);
	return NULL;
}

/* Prints what went wrong with a request: the server's message (made
 * printable) or curl's. */
static void
api_complain(const char *what, long status, json_t *j, CURLcode cc, const char *errbuf)
{
	if (cc != CURLE_OK) {
		fprintf(stderr, "custody export: --server: %s: %s\n", what,
		        errbuf[0] ? errbuf : curl_easy_strerror(cc));
		if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE)
			fprintf(stderr, "custody export: the server's certificate is checked against "
			        "--ca-file only (the store's tls/ca.pem)\n");
		return;
	}
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	fprintf(stderr, "custody export: --server: %s: HTTP %ld%s%s%s", what, status,
	        code ? " " : "", code ? code : "", msg ? ": " : "");
	if (msg != NULL)
		cli_print_safe(stderr, msg, NULL);
	fputc('\n', stderr);
}

/* One JSON request. body (may be NULL) is sent as application/json. 0 with
 * *ret_status and *ret_json (NULL when the answer is not JSON), or
 * EXIT_ERROR printed. */
static int
api_call(struct api *a, const char *method, const char *path, const char *body,
         const char *what, long *ret_status, json_t **ret_json)
{
	char url[URL_MAX + 256], errbuf[CURL_ERROR_SIZE] = "";
	if (cu_path(url, sizeof(url), "%s%s", a->base, path) < 0) {
		fprintf(stderr, "custody export: --server: the URL is too long\n");
		return EXIT_ERROR;
	}
	struct curl_slist *h = auth_headers(a, body != NULL);
	if (h == NULL) {
		fprintf(stderr, "custody export: out of memory\n");
		return EXIT_ERROR;
	}
	cu_buf_reset(&a->answer);
	api_reset(a);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &a->answer);
	if (body != NULL) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	CURLcode cc = curl_easy_perform(a->curl);
	/* nothing of ours stays in the handle: the header list is wiped below */
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, NULL);
	slist_free_wiped(h);
	long status = 0;
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
	json_t *j = NULL;
	if (cc == CURLE_OK && a->answer.len > 0)
		j = json_loadb((const char *)a->answer.data, a->answer.len, 0, NULL);
	cu_buf_reset(&a->answer);
	if (cc != CURLE_OK) {
		api_complain(what, status, NULL, cc, errbuf);
		json_decref(j);
		return EXIT_ERROR;
	}
	*ret_status = status;
	*ret_json = j;
	return 0;
}

/* Wipes a string held by a jansson value (a token, a password). */
static void
json_wipe_string(json_t *v)
{
	if (json_is_string(v))
		cu_wipe((void *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static int
take_token(struct api *a, json_t *j)
{
	json_t *t = json_object_get(j, "token");
	json_t *ex = json_object_get(j, "expires_in");
	if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 4096) {
		fprintf(stderr, "custody export: --server: the login answer holds no token\n");
		return EXIT_ERROR;
	}
	if (a->token != NULL) {
		cu_wipe(a->token, a->token_len);
		free(a->token);
	}
	a->token_len = json_string_length(t);
	if ((a->token = malloc(a->token_len + 1)) == NULL) {
		a->token_len = 0;
		fprintf(stderr, "custody export: out of memory\n");
		return EXIT_ERROR;
	}
	memcpy(a->token, json_string_value(t), a->token_len + 1);
	int64_t life = json_is_integer(ex) ? (int64_t)json_integer_value(ex) * 1000000 : 0;
	a->token_renew_mono = cu_time_mono_us() +
	                      (life > 2 * RENEW_BEFORE_US ? life - RENEW_BEFORE_US : life / 2);
	return 0;
}

/* POSTs body to an endpoint that answers a token (login, renew) and keeps
 * the token. 0, or EXIT_ERROR printed. */
static int
token_call(struct api *a, const char *path, const char *body, const char *what)
{
	long status = 0;
	json_t *j = NULL;
	int r = api_call(a, "POST", path, body, what, &status, &j);
	if (r != 0)
		return r;
	if (status != 200) {
		api_complain(what, status, j, CURLE_OK, "");
		json_decref(j);
		return EXIT_ERROR;
	}
	r = take_token(a, j);
	json_wipe_string(json_object_get(j, "token"));
	json_decref(j);
	return r;
}

static int
api_login(struct api *a, const char *user, const struct cli_password *pw)
{
	json_t *b = json_pack("{s:s, s:s%}", "user", user, "password", pw->buf, pw->len);
	char *text = b != NULL ? json_dumps(b, JSON_COMPACT) : NULL;
	json_wipe_string(json_object_get(b, "password"));
	json_decref(b);
	if (text == NULL) {
		fprintf(stderr, "custody export: the password is not valid UTF-8 (or out of "
		        "memory)\n");
		return EXIT_ERROR;
	}
	int r = token_call(a, "/api/v1/auth/login", text, "log in");
	cu_wipe(text, strlen(text));
	free(text);
	return r;
}

static int
api_renew(struct api *a)
{
	if (cu_time_mono_us() < a->token_renew_mono)
		return 0;
	return token_call(a, "/api/v1/auth/renew", NULL, "renew the login");
}

static void
api_logout(struct api *a)
{
	if (a->token == NULL)
		return;
	long status = 0;
	json_t *j = NULL;
	if (api_call(a, "POST", "/api/v1/auth/logout", NULL, "log out", &status, &j) == 0 &&
	    status != 204)
		api_complain("log out", status, j, CURLE_OK, "");
	json_decref(j);
	cu_wipe(a->token, a->token_len);
	free(a->token);
	a->token = NULL;
	a->token_len = 0;
}

static volatile sig_atomic_t interrupted;
static atomic_bool unpack_stop;         /* set with interrupted: stops an unpack */

static void
on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
	atomic_store(&unpack_stop, true); /* lock-free: safe in a handler */
}

struct download {
	int fd;
	cu_sha256_ctx *h;
	uint64_t bytes, expected;
	int err;                                /* errno of a failed write */
	struct cli_progress prog;
};

static size_t
on_file_data(char *data, size_t size, size_t n, void *ctx)
{
	struct download *d = ctx;
	size_t len = size * n;
	if (d->bytes + len > d->expected) {
		d->err = EFBIG;
		return 0;
	}
	if (cu_write_all(d->fd, data, len, "--out") < 0) {
		d->err = errno ? errno : EIO;
		return 0;
	}
	cu_sha256_update(d->h, data, len);
	d->bytes += len;
	return len;
}

static int
on_file_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult, curl_off_t uln)
{
	struct download *d = ctx;
	(void)dltotal, (void)ult, (void)uln;
	cli_progress_update(&d->prog, (uint64_t)dlnow, d->expected);
	return interrupted ? 1 : 0;
}

/* Downloads exports/{id}/file into --out (through <out>.tmp, fsync'd, and
 * renamed without replacing anything), checking its size and SHA-256
 * against the server's. */
static int
api_download(struct api *a, const char *id, const char *out, uint64_t bytes,
             const char *sha_hex)
{
	char url[URL_MAX + 256], errbuf[CURL_ERROR_SIZE] = "";
	int rc = EXIT_ERROR;
	struct download d = {.fd = -1, .expected = bytes};
	struct curl_slist *h = NULL;
	cu_afile af;
	if (cu_path(url, sizeof(url), "%s/api/v1/exports/%s/file", a->base, id) < 0) {
		fprintf(stderr, "custody export: --out: the path is too long\n");
		return EXIT_ERROR;
	}
	if (cu_afile_open(&af, out, 0600, 0) < 0) {
		fprintf(stderr, "custody export: --out: %s\n", cu_error_detail());
		return EXIT_ERROR;
	}
	d.fd = af.fd;
	if (cu_sha256_new(&d.h) < 0 || cu_sha256_init(d.h) < 0 ||
	    (h = auth_headers(a, false)) == NULL) {
		fprintf(stderr, "custody export: out of memory\n");
		goto out;
	}
	cli_progress_init(&d.prog, "downloading");
	api_reset(a);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(a->curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(a->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(a->curl, CURLOPT_LOW_SPEED_TIME, STALL_S);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_file_data);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(a->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(a->curl, CURLOPT_XFERINFOFUNCTION, on_file_progress);
	curl_easy_setopt(a->curl, CURLOPT_XFERINFODATA, &d);
	CURLcode cc = curl_easy_perform(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, NULL);
	cli_progress_done(&d.prog);
	long status = 0;
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
	if (interrupted) {
		fprintf(stderr, "custody export: interrupted\n");
		goto out;
	}
	if (cc != CURLE_OK) {
		if (d.err != 0)
			fprintf(stderr, "custody export: --out %s: %s\n", af.tmp,
			        d.err == EFBIG ? "the server sent more bytes than the export has"
			                       : strerror(d.err));
		else if (cc == CURLE_HTTP_RETURNED_ERROR)
			fprintf(stderr, "custody export: --server: download: HTTP %ld\n", status);
		else
			api_complain("download", status, NULL, cc, errbuf);
		goto out;
	}
	uint8_t digest[CU_SHA256_LEN];
	char hex[2 * CU_SHA256_LEN + 1];
	cu_sha256_final(d.h, digest);
	cu_hex(digest, sizeof(digest), hex);
	if (d.bytes != bytes || (sha_hex != NULL && strcmp(hex, sha_hex) != 0)) {
		fprintf(stderr, "custody export: the download is not the file the server made "
		        "(%llu of %llu bytes, SHA-256 %s, expected %s): nothing was kept\n",
		        (unsigned long long)d.bytes, (unsigned long long)bytes, hex,
		        sha_hex ? sha_hex : "-");
		goto out;
	}
	if (cu_afile_commit(&af) < 0) {
		fprintf(stderr, "custody export: --out: %s\n", cu_error_detail());
		goto out;
	}
	rc = 0;
out:
	slist_free_wiped(h);
	cu_sha256_free(d.h);
	cu_afile_abort(&af); /* after a commit: nothing to do */
	return rc;
}

static char *
export_body(const struct args *a, const struct cli_password *ppw)
{
	json_t *b = json_pack("{s:s, s:o, s:s, s:s}", "format", "evidence", "cameras",
	                      ranges_json(a), "case", a->case_ref, "comments", a->comments);
	if (b == NULL)
		return NULL;
	if (a->profile != NULL)
		json_object_set_new(b, "profile", json_string(a->profile));
	if (a->no_encryption) {
		json_object_set_new(b, "encrypt", json_false());
	} else {
		json_object_set_new(b, "encrypt", json_true());
		json_object_set_new(b, "password", json_stringn(ppw->buf, ppw->len));
	}
	/* not given: the profile decides (a locked setting is never asked otherwise) */
	if (a->prevent_reexport)
		json_object_set_new(b, "prevent_reexport", json_true());
	/* always said: what arrives must be what --out was named for, a file or a
	 * folder (a profile that locks it otherwise refuses, naming the setting) */
	json_object_set_new(b, "include_player", json_boolean(a->include_player));
	char *text = json_dumps(b, JSON_COMPACT);
	json_wipe_string(json_object_get(b, "password"));
	json_decref(b);
	return text;
}

/* Polls GET exports/{id} until it is done or failed: 0 done (with the
 * size and SHA-256 of the file), EXIT_TAMPERED, EXIT_ERROR. */
static int
api_wait(struct api *a, const char *id, uint64_t *ret_bytes, char ret_sha[static 65])
{
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/exports/%s", id);
	struct cli_progress prog;
	cli_progress_init(&prog, "exporting");
	int64_t until = cu_time_mono_us() + POLL_MAX_US;
	int rc = EXIT_ERROR;
	for (;;) {
		if (interrupted) {
			cli_progress_done(&prog);
			fprintf(stderr, "custody export: interrupted: the export is cancelled on the "
			        "server\n");
			long st;
			json_t *j = NULL;
			if (api_call(a, "DELETE", path, NULL, "cancel the export", &st, &j) == 0)
				json_decref(j);
			return EXIT_ERROR;
		}
		if (api_renew(a) != 0)
			break;
		long status = 0;
		json_t *j = NULL;
		if (api_call(a, "GET", path, NULL, "follow the export", &status, &j) != 0)
			break;
		if (status != 200) {
			cli_progress_done(&prog);
			api_complain("follow the export", status, j, CURLE_OK, "");
			json_decref(j);
			return EXIT_ERROR;
		}
		const char *st = json_string_value(json_object_get(j, "status"));
		double progress = json_number_value(json_object_get(j, "progress"));
		cli_progress_update(&prog, (uint64_t)(progress * 1000), 1000);
		if (st != NULL && strcmp(st, "done") == 0) {
			cli_progress_done(&prog);
			json_t *b = json_object_get(j, "bytes");
			const char *sha = json_string_value(json_object_get(j, "sha256"));
			if (!json_is_integer(b) || json_integer_value(b) <= 0 || sha == NULL ||
			    strlen(sha) != 64) {
				fprintf(stderr, "custody export: --server: the finished export names no "
				        "size or SHA-256\n");
				json_decref(j);
				return EXIT_ERROR;
			}
			*ret_bytes = (uint64_t)json_integer_value(b);
			memcpy(ret_sha, sha, 65);
			json_decref(j);
			return 0;
		}
		if (st != NULL && strcmp(st, "failed") == 0) {
			cli_progress_done(&prog);
			json_t *t = json_object_get(j, "tampered");
			const char *err = json_string_value(json_object_get(j, "error"));
			if (json_is_object(t)) {
				const char *cam = json_string_value(json_object_get(t, "camera"));
				const char *when = json_string_value(json_object_get(t,
				                                     "failed_segment_start"));
				const char *why = json_string_value(json_object_get(t, "reason"));
				fprintf(stderr, "custody export: camera ");
				cli_print_safe(stderr, cam ? cam : "?", NULL);
				fprintf(stderr, ": TAMPERED: first failed segment at ");
				cli_print_safe(stderr, when ? when : "unknown time", NULL);
				fprintf(stderr, ": ");
				cli_print_safe(stderr, why ? why : "-", NULL);
				fprintf(stderr, "\ncustody export: nothing was exported\n");
				rc = EXIT_TAMPERED;
			} else {
				fprintf(stderr, "custody export: the export failed on the server: ");
				cli_print_safe(stderr, err ? err : "(no reason given)", NULL);
				fputc('\n', stderr);
			}
			json_decref(j);
			return rc;
		}
		json_decref(j);
		if (cu_time_mono_us() > until) {
			fprintf(stderr, "custody export: the export did not finish within a day\n");
			break;
		}
		struct timespec ts = {.tv_sec = 0, .tv_nsec = POLL_US * 1000};
		nanosleep(&ts, NULL);
	}
	cli_progress_done(&prog);
	return EXIT_ERROR;
}

/* Unpacks the server's player folder (a tar, already checked against the
 * size and SHA-256 the server gave) into <out>.tmp, then renames it to out
 * without replacing anything. 0, or EXIT_ERROR printed, nothing left. */
static int
folder_unpack(const char *tar, const char *out)
{
	char dir_tmp[PATH_MAX], inner[CU_TAR_NAME_MAX + 1], parent[PATH_MAX];
	int fd = -1, dfd = -1, rc = EXIT_ERROR;
	if (cu_path(dir_tmp, sizeof(dir_tmp), "%s.tmp", out) < 0)
		return EXIT_ERROR;
	if ((fd = open(tar, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		fprintf(stderr, "custody export: %s: %s\n", tar, strerror(errno));
		return EXIT_ERROR;
	}
	if (mkdir(dir_tmp, 0755) < 0) {
		fprintf(stderr, "custody export: --out %s: %s\n", dir_tmp, strerror(errno));
		close(fd);
		return EXIT_ERROR;
	}
	/* the folder is for others to read (a USB stick, a disc): 0755 whatever the umask */
	if ((dfd = open(dir_tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    fchmod(dfd, 0755) < 0) {
		fprintf(stderr, "custody export: --out %s: %s\n", dir_tmp, strerror(errno));
		goto out;
	}
	if (cu_pkg_folder_untar(fd, dfd, inner, &unpack_stop) < 0) {
		fprintf(stderr, "custody export: the server's player folder: %s\n",
		        cu_error_detail());
		goto out;
	}
	if (renameat2(AT_FDCWD, dir_tmp, AT_FDCWD, out, RENAME_NOREPLACE) < 0) {
		fprintf(stderr, "custody export: --out %s: %s\n", out, strerror(errno));
		goto out;
	}
	if (cu_path(parent, sizeof(parent), "%s", out) == 0)
		cu_fsync_dir(dirname(parent));
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	close(fd);
	if (rc != 0)
		folder_remove(dir_tmp);
	return rc;
}

static int
export_server(struct args *a)
{
	struct api api = {.ca_file = a->ca_file};
	struct cli_password lpw = {0}, ppw = {0};
	int rc = EXIT_ERROR;
	char id[65] = "", sha[65] = "";
	uint64_t bytes = 0;
	cu_buf_init_secret(&api.answer, ANSWER_MAX);
	snprintf(api.base, sizeof(api.base), "%s", a->server);
	for (size_t l = strlen(api.base); l > 8 && api.base[l - 1] == '/'; l--)
		api.base[l - 1] = '\0';
	if (access(a->ca_file, R_OK) < 0) {
		fprintf(stderr, "custody export: --ca-file %s: %s\n", a->ca_file, strerror(errno));
		goto out;
	}
	/* the passwords first: nothing is sent before both are known */
	if (a->pwfile != NULL) {
		if (cli_password_get(CMD, a->pwfile, false, &lpw) != 0)
			goto out;
	} else {
		char prompt[160];
		snprintf(prompt, sizeof(prompt), "Password of %.64s on the server: ", a->user);
		if ((lpw.buf = calloc(1, CU_PASSWORD_MAX + 1)) == NULL)
			goto out;
		if (cli_ask_secret(prompt, lpw.buf, CU_PASSWORD_MAX, &lpw.len) < 0 || lpw.len == 0) {
			fprintf(stderr, "custody export: no --password-file given and no terminal to "
			        "ask on\n");
			goto out;
		}
	}
	if (!a->no_encryption &&
	    cli_pkg_password_get(CMD, "--package-password-file", a->pkg_pwfile, true, true,
	                         &ppw) != 0)
		goto out;
	if ((api.curl = curl_easy_init()) == NULL) {
		fprintf(stderr, "custody export: cannot start libcurl\n");
		goto out;
	}
	struct sigaction sa = {.sa_handler = on_sigint};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int r = api_login(&api, a->user, &lpw);
	cli_password_free(&lpw);
	if (r != 0)
		goto out;
	char *body = export_body(a, &ppw);
	cli_password_free(&ppw);
	if (body == NULL) {
		fprintf(stderr, "custody export: the package password is not valid UTF-8 (or out "
		        "of memory)\n");
		goto out;
	}
	long status = 0;
	json_t *j = NULL;
	r = api_call(&api, "POST", "/api/v1/exports", body, "start the export", &status, &j);
	cu_wipe(body, strlen(body));
	free(body);
	if (r != 0)
		goto out;
	const char *jid = json_string_value(json_object_get(j, "id"));
	if (status != 202 || jid == NULL || strlen(jid) >= sizeof(id) || strlen(jid) == 0 ||
	    strspn(jid, "0123456789abcdef") != strlen(jid)) {
		if (status == 202)
			fprintf(stderr, "custody export: --server: the answer names no export id\n");
		else
			api_complain("start the export", status, j, CURLE_OK, "");
		json_decref(j);
		goto out;
	}
	memcpy(id, jid, strlen(jid) + 1);
	json_decref(j);
	if ((rc = api_wait(&api, id, &bytes, sha)) != 0)
		goto out;
	if (a->include_player) {
		char dl[PATH_MAX];
		if (cu_path(dl, sizeof(dl), "%s.download", a->out) < 0) {
			rc = EXIT_ERROR;
			goto out;
		}
		/* only a download this run made is removed (api_download never
		 * replaces a file) */
		if ((rc = api_download(&api, id, dl, bytes, sha)) == 0) {
			rc = folder_unpack(dl, a->out);
			unlink(dl);
		}
	} else {
		rc = api_download(&api, id, a->out, bytes, sha);
	}
	if (rc == 0) {
		char sz[32];
		cli_bytes(bytes, sz, sizeof(sz));
		if (a->include_player)
			printf("folder     %s (evidence.cuep, custody, verify-package.sh, README.txt)\n",
			       a->out);
		else
			printf("package    %s\n", a->out);
		printf("size       %llu bytes (%s)%s\n", (unsigned long long)bytes, sz,
		       a->include_player ? " downloaded as a tar" : "");
		printf("file       SHA-256 %s (as the server computed it)\n", sha);
		printf("export     %s on %s\n", id, api.base);
	}
out:
	if (api.curl != NULL) {
		api_logout(&api);
		curl_easy_cleanup(api.curl);
	}
	cli_password_free(&lpw);
	cli_password_free(&ppw);
	cu_buf_free(&api.answer);
	return rc;
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
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
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
			snprintf(a->ranges[a->n].camera, sizeof(a->ranges[a->n].camera), "%s", optarg);
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
			rc = cli_usage(CMD, "unknown or incomplete option \"%s\"", argv[optind - 1]);
			goto out;
		}
	}
	if ((rc = check_args(a, argc, argv)) != 0)
		goto out;
	if (a->server != NULL) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = export_server(a);
		curl_global_cleanup();
	} else {
		rc = export_local(a);
	}
out:
	free(a->comments_buf);
	free(a);
	return rc;
}
