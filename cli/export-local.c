/* custody export --store: an evidence package made on the recording box
 * from the store itself (the store password opens it; the export goes into
 * the audit log and the package is signed by the package library). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
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
#include "export.h"

/* ---- the audit entry (local exports) ---- */

json_t *
cli_export_ranges_json(const struct args *a)
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
void
cli_export_folder_remove(const char *dir_tmp)
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

/* The export profile a local export applies (docs/evidence-export.md, "Export
 * profiles on the recording box"): the one --profile names, or --user's when
 * --user is a user of auth.db (several: --profile picks one), as custodyd
 * applies them; with neither, none: the holder of the store password is not
 * bound by a user's profile, and the export says so (profile "operator").
 * Updates a's settings to the decision's. 0, or EXIT_ERROR printed. */
static int
apply_profile(cu_store *s, struct args *a, const struct cli_password *ppw, char *profile,
              size_t len)
{
	cu_auth *au = NULL;
	struct cu_export_profile *ps = NULL, one;
	size_t n = 0;
	bool have_one = false;
	int r, rc = EXIT_ERROR;
	r = snprintf(profile, len, "%s", "operator"); /* 9 bytes: len is CU_PROFILE_NAME_MAX + 1 */
	if (r < 0 || (size_t)r >= len)
		return cli_fail(CMD, cu_fail(CU_ERR_LIMIT, "longer than %zu bytes", len - 1),
		                "the profile name");
	if ((r = cu_auth_open(s, 0, &au)) < 0)
		return cli_fail(CMD, r, "cannot open the users and profiles (auth.db)");
	if (a->user != NULL)
		r = cu_auth_profiles_for_user(au, a->user, &ps, &n);
	if (a->user == NULL || r == CU_ERR_NOTFOUND) {
		r = 0;
		if (a->profile == NULL) {               /* neither: the operator's export */
			rc = 0;
			goto out;
		}
		if ((r = cu_auth_profile_get(au, a->profile, &one)) == CU_ERR_NOTFOUND) {
			fprintf(stderr, "custody export: --profile: no export profile \"%s\" in this "
			        "store (custody profile list)\n", a->profile);
			goto out;
		}
		have_one = r == 0;
	}
	if (r < 0) {
		cli_fail(CMD, r, "cannot read the export profiles");
		goto out;
	}
	struct cu_export_ask q = {
		.profile = a->profile, .format = CU_EXPORT_EVIDENCE, .comments = a->comments,
		.password = ppw->buf,
		.encrypt = a->no_encryption ? 0 : 1,   /* the CLI encrypts unless told not to */
		.prevent_reexport = a->prevent_reexport ? 1 : -1,
		/* always asked: --out is a file or a folder as the command line says */
		.include_player = a->include_player,
	};
	struct cu_export_decision d;
	r = have_one ? cu_auth_profile_decide(&one, 1, &q, &d) : cu_auth_profile_decide(ps, n, &q, &d);
	if (r < 0) {
		fprintf(stderr, "custody export: %s%s%s%s\n", cu_error_detail(),
		        d.setting ? " (setting " : "", d.setting ? d.setting : "", d.setting ? ")" : "");
		goto out;
	}
	r = snprintf(profile, len, "%s", d.profile);  /* a profile name fits: CU_PROFILE_NAME_MAX */
	if (r < 0 || (size_t)r >= len) {
		cli_fail(CMD, cu_fail(CU_ERR_LIMIT, "longer than %zu bytes", len - 1),
		         "the profile name");
		goto out;
	}
	a->no_encryption = !d.encrypt;
	a->prevent_reexport = d.prevent_reexport;
	rc = 0;
out:
	if (have_one)
		cu_auth_profile_clear(&one);
	cu_auth_profiles_free(ps, n);
	cu_auth_close(au);
	return rc;
}

int
cli_export_local(struct args *a)
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
	char profile[CU_PROFILE_NAME_MAX + 1];
	if (apply_profile(s, a, &ppw, profile, sizeof(profile)) != 0)
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
	                      "format", "evidence", "cameras", cli_export_ranges_json(a), "case", a->case_ref,
	                      "comments", a->comments, "profile", profile, "encryption",
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
		.profile = profile,
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
		cu_fmt_cut(detail, sizeof(detail), "%s", cu_error_detail()[0] ? cu_error_detail()
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
		cli_export_folder_remove(tmp_dir);
	cli_password_free(&ppw);
	cu_audit_close(au);
	cu_store_close(s);
	return rc;
}

