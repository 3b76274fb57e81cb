/* custody verify --store DIR [--camera NAME] [--from T] [--to T] [--password-file F] [--json]
 * custody verify PACKAGE [--password-file F] [--ca-fingerprint HEX] [--json] */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "custody/package.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "custody/parse.h"

static const char help[] =
	"usage: custody verify --store DIR [--camera NAME] [--from ISO8601] [--to ISO8601]\n"
	"                      [--password-file F] [--ca-fingerprint SHA256] [--json]\n"
	"       custody verify PACKAGE | --package PACKAGE [--password-file F]\n"
	"                      [--ca-fingerprint SHA256] [--json]\n"
	"Checks every frame, seal, link and record (and the catalogue against them) of the\n"
	"segments overlapping [--from, --to], on every CPU. Exit 0 intact, 1 tampered, 2 error.\n"
	"An encrypted store needs its password; a store with encryption none does not.\n"
	"--ca-fingerprint (as custody init printed it, hex with or without ':') makes a store\n"
	"signed under any other site CA count as tampered: whoever holds the password could\n"
	"otherwise make a new CA and re-sign everything.\n"
	"An evidence package (custody export) is checked in both layers: the recording\n"
	"signatures of every camera's footage and the export signature over the manifest\n"
	"(who exported, when, why). --password-file is then the package password (asked\n"
	"on the terminal when the package is encrypted and none is given). Exit 0 intact,\n"
	"1 tampered or damaged, 2 could not check (a wrong password included).\n"
	"JSON fields: docs/evidence-export.md.\n";

static void
on_progress(void *ctx, uint64_t done, uint64_t total)
{
	cli_progress_update(ctx, done, total);
}

static const char *
kind_name(int kind)
{
	static const char *const names[] = {"?", "start", "stop", "gap", "restart", "retention"};
	return kind >= 1 && kind <= 5 ? names[kind] : "?";
}

#define CA_MISMATCH "the store is signed under a site CA other than the one given with " \
                    "--ca-fingerprint (re-signed by someone holding the password?)"

static int
print_json(const struct cu_verify_report *rep, bool pinned)
{
	char fp[96], cafp[96];
	cu_x509_fingerprint_hex(rep->signer_fp, fp, sizeof(fp));
	cu_x509_fingerprint_hex(rep->ca_fp, cafp, sizeof(cafp));
	json_t *cams = json_array(), *events = json_array();
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct cu_verify_camera *c = &rep->cameras[i];
		json_t *gaps = json_array();
		json_t *evs = cli_events_json(c->name, c->gaps, c->ngaps);
		if (evs == NULL) {
			json_decref(gaps);
			json_decref(cams);
			json_decref(events);
			return -1;
		}
		json_array_extend(events, evs);
		for (size_t g = 0; g < c->ngaps; g++)
			if (!cli_gap_is_event(&c->gaps[g]))
				json_array_append_new(gaps, json_pack("{s:s, s:o, s:o, s:s}", "kind",
			                      kind_name(c->gaps[g].kind), "from", cli_json_time(c->gaps[g].from_us),
			                      "to", cli_json_time(c->gaps[g].to_us), "reason", c->gaps[g].reason));
		json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:I}",
		                      "name", c->name, "id", c->id, "result",
		                      c->tampered ? "tampered" : "intact", "frames",
		                      (json_int_t)c->frames, "seals", (json_int_t)c->seals, "segments",
		                      (json_int_t)c->segments, "records", (json_int_t)c->records,
		                      "bytes", (json_int_t)c->bytes, "from", cli_json_time(c->first_us), "to",
		                      cli_json_time(c->last_us), "gaps", gaps, "unsealed_bytes",
		                      (json_int_t)c->unsealed_bytes);
		json_object_set_new(o, "events", evs);
		if (c->tampered)
			json_object_set_new(o, "failure", json_pack("{s:o, s:I, s:s}", "time",
			                    cli_json_time(c->fail_time_us), "segment", (json_int_t)c->fail_segment,
			                    "reason", c->fail_reason));
		json_array_append_new(cams, o);
	}
	json_t *root = json_pack("{s:s, s:o, s:{s:s, s:s, s:s, s:s}}", "result",
	                         rep->tampered ? "tampered" : "intact", "cameras", cams, "signer",
	                         "subject", rep->signer_subject, "fingerprint", fp, "ca_subject",
	                         rep->ca_subject, "ca_fingerprint", cafp);
	json_object_set_new(root, "ca_pinned", json_boolean(pinned));
	json_object_set_new(root, "events", events);
	bool camera_failed = false;
	for (size_t i = 0; i < rep->ncameras; i++)
		camera_failed |= rep->cameras[i].tampered;
	if (rep->ca_mismatch && !camera_failed) {
		json_object_set_new(root, "first_failure",
		                    json_pack("{s:n, s:n, s:I, s:s}", "camera", "time", "segment",
		                              (json_int_t)0, "reason", CA_MISMATCH));
	} else if (rep->tampered && camera_failed) {
		const struct cu_verify_camera *c = &rep->cameras[rep->first_failure];
		json_object_set_new(root, "first_failure",
		                    json_pack("{s:s, s:o, s:I, s:s}", "camera", c->name, "time",
		                              cli_json_time(c->fail_time_us), "segment",
		                              (json_int_t)c->fail_segment, "reason", c->fail_reason));
	}
	if (root == NULL)
		return -1;
	int r = json_dumpf(root, stdout, JSON_INDENT(2)) < 0 ? -1 : 0;
	putchar('\n');
	json_decref(root);
	return r;
}

static void
print_text(const char *store, const struct cu_verify_report *rep)
{
	char fp[96], a[CU_TIME_ISO_MAX], b[CU_TIME_ISO_MAX];
	printf("%s: %s\n", store, rep->tampered ? "TAMPERED" : "intact");
	cu_x509_fingerprint_hex(rep->signer_fp, fp, sizeof(fp));
	printf("  signed by  %s\n             SHA-256 %s\n", rep->signer_subject, fp);
	cu_x509_fingerprint_hex(rep->ca_fp, fp, sizeof(fp));
	printf("  site CA    %s\n             SHA-256 %s\n", rep->ca_subject, fp);
	if (rep->ca_mismatch)
		printf("  TAMPERED: %s\n", CA_MISMATCH);
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct cu_verify_camera *c = &rep->cameras[i];
		a[0] = b[0] = '-';
		a[1] = b[1] = '\0';
		if (c->first_us >= 0) {
			cu_time_text(c->first_us, a);
			cu_time_text(c->last_us, b);
		}
		printf("  camera %s: %s\n    %llu frames, %llu seals, %llu segments, %s to %s\n",
		       c->name, c->tampered ? "TAMPERED" : "intact", (unsigned long long)c->frames,
		       (unsigned long long)c->seals, (unsigned long long)c->segments, a, b);
		for (size_t g = 0; g < c->ngaps; g++) {
			if (cli_gap_is_event(&c->gaps[g]))
				continue;
			cu_time_text(c->gaps[g].from_us, a);
			cu_time_text(c->gaps[g].to_us, b);
			printf("    %s %s to %s: %s (signed)\n", kind_name(c->gaps[g].kind), a, b,
			       c->gaps[g].reason);
		}
		cli_events_print("    ", c->gaps, c->ngaps);
		if (c->unsealed_bytes > 0)
			printf("    %llu bytes at the end not yet sealed (recording in progress or "
			       "interrupted)\n", (unsigned long long)c->unsealed_bytes);
		if (c->tampered) {
			cu_time_text(c->fail_time_us, a);
			printf("    first failed segment at %s: %s\n", a, c->fail_reason);
		}
	}
}

/* ---- evidence packages ---- */

/* "intact", "tampered", or "not_checked" (the package failed before its
 * segments were looked at: the report's reason says why). */
static const char *
camera_result(const struct cu_pkg_camera_report *c)
{
	return c->tampered ? "tampered" : c->checked ? "intact" : "not_checked";
}

static json_t *
hex_fp(const uint8_t fp[static CU_SHA256_LEN])
{
	char buf[96];
	cu_x509_fingerprint_hex(fp, buf, sizeof(buf));
	return json_string(buf);
}

/* A string from the package as JSON: jansson refuses invalid UTF-8, which a
 * damaged package could hold. */
static json_t *
jstr(const char *s)
{
	json_t *v = json_string(s != NULL ? s : "");
	return v != NULL ? v : json_string("(not valid UTF-8)");
}

static int
print_pkg_json(const char *path, const struct cu_pkg_report *rep, bool pinned)
{
	json_t *cams = json_array();
	const struct cu_pkg_camera_report *first = NULL;
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct cu_pkg_camera_report *c = &rep->cameras[i];
		json_t *gaps = json_array();
		json_t *evs = cli_events_json(c->name, c->gaps, c->ngaps);
		if (evs == NULL)
			evs = json_array(); /* a tampered copy's records: its failure says why */
		for (size_t g = 0; g < c->ngaps; g++)
			if (!cli_gap_is_event(&c->gaps[g]))
				json_array_append_new(gaps, json_pack("{s:s, s:o, s:o, s:o}", "kind",
			                      kind_name(c->gaps[g].kind), "from",
			                      cli_json_time(c->gaps[g].from_us), "to",
			                      cli_json_time(c->gaps[g].to_us), "reason",
			                      jstr(c->gaps[g].reason)));
		json_t *o = json_pack("{s:o, s:o, s:s, s:o, s:o, s:I, s:I, s:I, s:o}", "name",
		                      jstr(c->name), "id", jstr(c->id), "result",
		                      camera_result(c), "from",
		                      cli_json_time(c->from_us), "to", cli_json_time(c->to_us),
		                      "frames", (json_int_t)c->frames, "seals", (json_int_t)c->seals,
		                      "segments", (json_int_t)c->segments, "gaps", gaps);
		if (o != NULL)
			json_object_set_new(o, "events", evs);
		else
			json_decref(evs);
		if (o != NULL && c->tampered) {
			json_object_set_new(o, "failure", json_pack("{s:o, s:o}", "time",
			                    cli_json_time(c->fail_time_us), "reason",
			                    jstr(c->fail_reason)));
			if (first == NULL || (c->fail_time_us >= 0 &&
			                      (first->fail_time_us < 0 ||
			                       c->fail_time_us < first->fail_time_us)))
				first = c;
		}
		json_array_append_new(cams, o);
	}
	json_t *audit = json_null();
	if (rep->audit_index >= 0)
		audit = json_pack("{s:I, s:I, s:o, s:b}", "index", (json_int_t)rep->audit_index,
		                  "head_size", (json_int_t)rep->audit_head_size, "head_time",
		                  cli_json_time(rep->audit_head_time_us), "head_signature_valid",
		                  rep->audit_head_ok);
	/* a package damaged before its manifest could be read tells nothing more */
	bool known = rep->ncameras > 0 || rep->exporter[0] != '\0';
	json_t *root = json_pack("{s:s, s:o, s:o, s:b, s:b, s:b, s:b}", "result",
	                         cli_pkg_status_name(rep->status), "package", jstr(path), "reason",
	                         jstr(rep->reason), "encrypted", rep->encrypted, "prevent_reexport",
	                         rep->prevent_reexport, "ca_pinned", pinned, "manifest_read", known);
	if (root != NULL && known) {
		json_t *more = json_pack(
			"{s:o, s:o, s:o, s:o, s:o, s:{s:b, s:o, s:o}, s:{s:o, s:o}, s:{s:o, s:o},"
			" s:b, s:b, s:o, s:o}",
			"case", jstr(rep->case_ref), "comments", jstr(rep->comments), "exporter",
			jstr(rep->exporter), "profile", jstr(rep->profile), "exported",
			cli_json_time(rep->exported_us),
			"export_signature", "valid", rep->export_signature_ok, "subject",
			jstr(rep->export_signer), "fingerprint", hex_fp(rep->export_signer_fp),
			"recorder", "subject", jstr(rep->recorder), "fingerprint",
			hex_fp(rep->recorder_fp),
			"site_ca", "subject", jstr(rep->site_ca), "fingerprint", hex_fp(rep->site_ca_fp),
			"ca_mismatch", rep->ca_mismatch, "chain_valid", rep->chain_ok, "audit", audit,
			"cameras", cams);
		if (more == NULL || json_object_update(root, more) < 0) {
			json_decref(root);
			root = NULL;
		}
		json_decref(more);
	} else if (root != NULL) {
		static const char *const unknown[] = {"case", "comments", "exporter", "profile",
		                                      "exported", "export_signature", "recorder",
		                                      "site_ca", "ca_mismatch", "chain_valid",
		                                      "audit"};
		for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
			json_object_set_new(root, unknown[i], json_null());
		json_object_set_new(root, "cameras", cams);
		json_decref(audit);
	} else {
		json_decref(audit);
		json_decref(cams);
	}
	if (root == NULL)
		return -1;
	json_object_set_new(root, "damaged_offset", rep->status == CU_PKG_DAMAGED &&
	                    rep->damaged_offset >= 0 ? json_integer(rep->damaged_offset)
	                    : json_null());
	if (first != NULL)
		json_object_set_new(root, "first_failure",
		                    json_pack("{s:o, s:o, s:o}", "camera", jstr(first->name), "time",
		                              cli_json_time(first->fail_time_us), "reason",
		                              jstr(first->fail_reason)));
	int r = json_dumpf(root, stdout, JSON_INDENT(2)) < 0 ? -1 : 0;
	putchar('\n');
	json_decref(root);
	return r;
}

static void
print_who(const char *label, const char *subject, const uint8_t fp[static CU_SHA256_LEN])
{
	char hex[96];
	cu_x509_fingerprint_hex(fp, hex, sizeof(hex));
	printf("  %-11s", label);
	cli_print_safe(stdout, subject, NULL);
	printf("\n             SHA-256 %s\n", hex);
}

static void
print_pkg_text(const char *path, const struct cu_pkg_report *rep, bool pinned)
{
	static const char *const verdicts[] = {"intact", "TAMPERED", "WRONG PASSWORD", "DAMAGED"};
	char a[CU_TIME_ISO_MAX], b[CU_TIME_ISO_MAX];
	cli_print_safe(stdout, path, NULL);
	printf(": %s\n", rep->status >= 0 && rep->status <= 3 ? verdicts[rep->status] : "?");
	if (rep->status != CU_PKG_INTACT && rep->reason[0] != '\0') {
		printf("  reason     ");
		cli_print_safe(stdout, rep->reason, "             ");
		putchar('\n');
	}
	if (rep->status == CU_PKG_DAMAGED && rep->damaged_offset >= 0)
		printf("  damaged from byte %lld of the file\n", (long long)rep->damaged_offset);
	if (rep->status == CU_PKG_WRONG_PASSWORD || (rep->ncameras == 0 && rep->exporter[0] == '\0'))
		return; /* the manifest could not be read: nothing more is known */
	printf("  case       ");
	cli_print_safe(stdout, rep->case_ref, NULL);
	cu_time_text(rep->exported_us, a);
	printf("\n  exported   %s by ", a);
	cli_print_safe(stdout, rep->exporter, NULL);
	printf(" (profile ");
	cli_print_safe(stdout, rep->profile[0] ? rep->profile : "-", NULL);
	printf(")\n  comments   ");
	cli_print_safe(stdout, rep->comments != NULL ? rep->comments : "", "             ");
	printf("\n  export signature %s\n", rep->export_signature_ok ? "valid" : "INVALID");
	print_who("exporter", rep->export_signer, rep->export_signer_fp);
	print_who("recorder", rep->recorder, rep->recorder_fp);
	print_who("site CA", rep->site_ca, rep->site_ca_fp);
	if (pinned)
		printf("  site CA    %s the fingerprint given with --ca-fingerprint\n",
		       rep->ca_mismatch ? "DIFFERS FROM" : "matches");
	printf("  certificates %s to the site CA\n", rep->chain_ok ? "chain" : "DO NOT CHAIN");
	if (rep->audit_index >= 0) {
		cu_time_text(rep->audit_head_time_us, a);
		printf("  audit log  entry %lld, under a tree head of %llu entries signed %s: "
		       "signature %s\n", (long long)rep->audit_index,
		       (unsigned long long)rep->audit_head_size, a,
		       rep->audit_head_ok ? "valid" : "INVALID");
	} else {
		printf("  audit log  none recorded with the export\n");
	}
	printf("  encrypted  %s, prevent re-export %s\n", rep->encrypted ? "yes" : "no",
	       rep->prevent_reexport ? "SET (custody will not re-export, convert or extract it)"
	                             : "no");
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct cu_pkg_camera_report *c = &rep->cameras[i];
		cu_time_text(c->from_us, a);
		cu_time_text(c->to_us, b);
		printf("  camera ");
		cli_print_safe(stdout, c->name, NULL);
		printf(": %s\n    %llu frames, %llu seals, %llu segments verified; exported %s to %s\n",
		       c->tampered ? "TAMPERED" : c->checked ? "intact"
		                                             : "NOT CHECKED (see the reason above)",
		       (unsigned long long)c->frames, (unsigned long long)c->seals,
		       (unsigned long long)c->segments, a, b);
		cli_events_print("    ", c->gaps, c->ngaps);
		for (size_t g = 0; g < c->ngaps; g++) {
			if (cli_gap_is_event(&c->gaps[g]))
				continue;
			cu_time_text(c->gaps[g].from_us, a);
			cu_time_text(c->gaps[g].to_us, b);
			printf("    %s %s to %s: ", kind_name(c->gaps[g].kind), a, b);
			cli_print_safe(stdout, c->gaps[g].reason, NULL);
			printf(" (signed)\n");
		}
		if (c->tampered) {
			cu_time_text(c->fail_time_us, a);
			printf("    first failed segment at %s: ", a);
			cli_print_safe(stdout, c->fail_reason, "      ");
			putchar('\n');
		}
	}
}

static int
verify_package(const char *path, const char *pwfile, const uint8_t *pin, bool json)
{
	struct cu_pkg_report *rep = NULL;
	int r = cli_pkg_verify("verify", path, pwfile, pin, NULL, NULL, NULL, &rep, NULL);
	if (r != 0)
		return r;
	if (json) {
		if (print_pkg_json(path, rep, pin != NULL) < 0) {
			cu_pkg_report_free(rep);
			fprintf(stderr, "custody verify: cannot write the JSON report\n");
			return EXIT_ERROR;
		}
	} else if (rep->status != CU_PKG_WRONG_PASSWORD) {
		print_pkg_text(path, rep, pin != NULL);
	}
	if (rep->status == CU_PKG_WRONG_PASSWORD) {
		fprintf(stderr, "custody verify: ");
		cli_print_safe(stderr, path, NULL);
		fprintf(stderr, ": wrong password (the package's header is intact; the password "
		        "given does not open it)\n");
	}
	int rc = cli_pkg_exit_code(rep);
	cu_pkg_report_free(rep);
	return rc;
}

int
cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"camera", required_argument, NULL, 'c'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"password-file", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"ca-fingerprint", required_argument, NULL, 'F'},
		{"package", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *store = NULL, *pwfile = NULL, *package = NULL;
	bool range_given = false;
	struct cu_verify_opts o = {0};
	uint8_t pin[CU_SHA256_LEN];
	bool json = false;
	int c;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'P': package = optarg; break;
		case 'c': o.camera = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'j': json = true; break;
		case 'F':
			if (cu_parse_fingerprint(optarg, pin) < 0)
				return cli_usage("verify", "--ca-fingerprint: expected 32 bytes of hex, "
				                 "with or without ':' between every two");
			o.ca_fingerprint = pin;
			break;
		case 'f':
			if (cli_time_arg("verify", "--from", optarg, &o.from_us) != 0)
				return EXIT_ERROR;
			range_given = true;
			break;
		case 't':
			if (cli_time_arg("verify", "--to", optarg, &o.to_us) != 0)
				return EXIT_ERROR;
			range_given = true;
			break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_bad_option("verify", argv);
		}
	}
	if (package == NULL && store == NULL && optind + 1 == argc)
		package = argv[optind++];
	if (optind != argc)
		return cli_usage("verify", "unexpected argument \"%s\"", argv[optind]);
	if (package != NULL) {
		if (store != NULL)
			return cli_usage("verify", "give either --store DIR or a PACKAGE, not both");
		if (o.camera != NULL || range_given)
			return cli_usage("verify", "--camera, --from and --to apply to a store; a "
			                 "package is always checked whole");
		return verify_package(package, pwfile, o.ca_fingerprint, json);
	}
	if (store == NULL)
		return cli_usage("verify", "--store DIR is required (or give a PACKAGE)");
	if (o.to_us > 0 && o.to_us < o.from_us)
		return cli_usage("verify", "--to is before --from");
	if (o.camera != NULL && cu_camera_name_check(o.camera) < 0)
		return cli_usage("verify", "--camera: %s", cu_error_detail());

	cu_store *s = NULL;
	int r = cu_store_open(store, NULL, 0, &s);
	if (r < 0)
		return cli_fail("verify", r, "cannot open the store");
	if (cu_store_encryption(s) != CU_ENC_NONE || pwfile != NULL) {
		cu_store_close(s);
		s = NULL;
		struct cli_password pw = {0};
		if (cli_password_get("verify", pwfile, false, &pw) != 0)
			return EXIT_ERROR;
		r = cu_store_open(store, pw.buf, pw.len, &s);
		cli_password_free(&pw);
		if (r < 0)
			return cli_fail("verify", r, "cannot open the store");
	}
	struct cli_progress prog;
	cli_progress_init(&prog, "verifying");
	o.progress = on_progress;
	o.progress_ctx = &prog;
	struct cu_verify_report *rep = NULL;
	r = cu_store_verify(s, &o, &rep);
	cli_progress_done(&prog);
	cu_store_close(s);
	if (r < 0)
		return cli_fail("verify", r, "verification could not run");
	if (json) {
		if (print_json(rep, o.ca_fingerprint != NULL) < 0) {
			cu_verify_report_free(rep);
			fprintf(stderr, "custody verify: cannot write the JSON report\n");
			return EXIT_ERROR;
		}
	} else {
		print_text(store, rep);
	}
	int rc = rep->tampered ? EXIT_TAMPERED : EXIT_INTACT;
	cu_verify_report_free(rep);
	return rc;
}
