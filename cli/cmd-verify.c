/* custody verify --store DIR [--camera NAME] [--from T] [--to T] [--password-file F] [--json] */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "util/parse.h"

static const char help[] =
	"usage: custody verify --store DIR [--camera NAME] [--from ISO8601] [--to ISO8601]\n"
	"                      [--password-file F] [--ca-fingerprint SHA256] [--json]\n"
	"Checks every frame, seal, link and record (and the catalogue against them) of the\n"
	"segments overlapping [--from, --to], on every CPU. Exit 0 intact, 1 tampered, 2 error.\n"
	"An encrypted store needs its password; a store with encryption none does not.\n"
	"--ca-fingerprint (as custody init printed it, hex with or without ':') makes a store\n"
	"signed under any other site CA count as tampered: whoever holds the password could\n"
	"otherwise make a new CA and re-sign everything.\n";

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
	json_t *cams = json_array();
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct cu_verify_camera *c = &rep->cameras[i];
		json_t *gaps = json_array();
		for (size_t g = 0; g < c->ngaps; g++)
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
			cu_time_format_iso8601(c->first_us, a, sizeof(a));
			cu_time_format_iso8601(c->last_us, b, sizeof(b));
		}
		printf("  camera %s: %s\n    %llu frames, %llu seals, %llu segments, %s to %s\n",
		       c->name, c->tampered ? "TAMPERED" : "intact", (unsigned long long)c->frames,
		       (unsigned long long)c->seals, (unsigned long long)c->segments, a, b);
		for (size_t g = 0; g < c->ngaps; g++) {
			cu_time_format_iso8601(c->gaps[g].from_us, a, sizeof(a));
			cu_time_format_iso8601(c->gaps[g].to_us, b, sizeof(b));
			printf("    %s %s to %s: %s (signed)\n", kind_name(c->gaps[g].kind), a, b,
			       c->gaps[g].reason);
		}
		if (c->unsealed_bytes > 0)
			printf("    %llu bytes at the end not yet sealed (recording in progress or "
			       "interrupted)\n", (unsigned long long)c->unsealed_bytes);
		if (c->tampered) {
			if (c->fail_time_us < 0 || cu_time_format_iso8601(c->fail_time_us, a, sizeof(a)) < 0)
				memcpy(a, "unknown time", 13);
			printf("    first failed segment at %s: %s\n", a, c->fail_reason);
		}
	}
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
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *store = NULL, *pwfile = NULL;
	struct cu_verify_opts o = {0};
	uint8_t pin[CU_SHA256_LEN];
	bool json = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'c': o.camera = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'j': json = true; break;
		case 'F': {
			char hex[2 * CU_SHA256_LEN + 1];
			size_t k = 0;
			for (const char *p = optarg; *p != '\0'; p++) {
				if (*p == ':')
					continue;
				if (k == sizeof(hex) - 1)
					return cli_usage("verify", "--ca-fingerprint: expected 32 bytes of hex");
				hex[k++] = *p;
			}
			hex[k] = '\0';
			if (cu_unhex(hex, pin, sizeof(pin)) < 0)
				return cli_usage("verify", "--ca-fingerprint: expected 32 bytes of hex");
			o.ca_fingerprint = pin;
			break;
		}
		case 'f':
			if (cli_time_arg("verify", "--from", optarg, &o.from_us) != 0)
				return EXIT_ERROR;
			break;
		case 't':
			if (cli_time_arg("verify", "--to", optarg, &o.to_us) != 0)
				return EXIT_ERROR;
			break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_usage("verify", "unknown or incomplete option \"%s\"",
			                 argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage("verify", "unexpected argument \"%s\"", argv[optind]);
	if (store == NULL)
		return cli_usage("verify", "--store DIR is required");
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
