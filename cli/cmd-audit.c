/* custody audit verify|export|append|sign: the tamper-evident audit log. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "custody/audit.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "custody/parse.h"

static const char help[] =
	"usage: custody audit verify --store DIR [--json]\n"
	"       custody audit export --store DIR --format csv|json [--output FILE]\n"
	"       custody audit append --store DIR --type TYPE [--actor NAME] [--source ADDR]\n"
	"                            [--detail JSON] [--time ISO8601] [--no-sign]\n"
	"                            [--password-file F]\n"
	"       custody audit sign --store DIR [--password-file F]\n"
	"verify: recomputes every entry, the hash chain and the Merkle tree, and checks every\n"
	"        signed tree head. Exit 0 intact, 1 tampered (naming the first bad entry), 2 error.\n"
	"export: every entry (and, in JSON, every tree head) for investigators; no checks.\n"
	"append: adds an entry (actor and source default to \"-\" and \"cli\", detail to {})\n"
	"        and signs a tree head over it unless --no-sign. Needs the store password.\n"
	"sign:   signs a tree head over every entry not yet covered and prints it.\n";

enum { OPT_STORE = 1, OPT_JSON, OPT_FORMAT, OPT_OUTPUT, OPT_TYPE, OPT_ACTOR, OPT_SOURCE,
       OPT_DETAIL, OPT_TIME, OPT_NOSIGN, OPT_PWFILE, OPT_HELP };

struct args {
	const char *store, *format, *output, *pwfile;
	bool json, nosign;
	struct cu_audit_entry e;
};

static int
print_json(const struct cu_audit_report *rep)
{
	char fp[96], cafp[96], root[2 * CU_SHA256_LEN + 1];
	cu_x509_fingerprint_hex(rep->signer_fp, fp, sizeof(fp));
	cu_x509_fingerprint_hex(rep->ca_fp, cafp, sizeof(cafp));
	cu_hex(rep->root, CU_SHA256_LEN, root);
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:{s:s, s:s, s:s, s:s}}",
	                      "result", rep->tampered ? "tampered" : "intact", "entries",
	                      (json_int_t)rep->entries, "tree_heads", (json_int_t)rep->heads,
	                      "bad_tree_heads", (json_int_t)rep->bad_heads, "signed_entries",
	                      (json_int_t)rep->signed_entries, "unsigned_entries",
	                      (json_int_t)rep->unsigned_entries, "newest_head",
	                      cli_json_time(rep->newest_head_us), "root", root, "signer", "subject",
	                      rep->signer_subject, "fingerprint", fp, "ca_subject",
	                      rep->ca_subject, "ca_fingerprint", cafp);
	if (o != NULL && rep->tampered) {
		json_object_set_new(o, "first_bad_index", json_integer((json_int_t)rep->first_bad_index));
		json_object_set_new(o, "proven_entries", json_integer((json_int_t)rep->proven_entries));
		json_object_set_new(o, "first_bad_head", rep->first_bad_head >= 0
		                    ? json_integer(rep->first_bad_head) : json_null());
		json_object_set_new(o, "reason", json_string(rep->reason));
	}
	if (o == NULL)
		return -1;
	int r = json_dumpf(o, stdout, JSON_INDENT(2)) < 0 ? -1 : 0;
	putchar('\n');
	json_decref(o);
	return r;
}

static void
print_text(const char *store, const struct cu_audit_report *rep)
{
	char fp[96], t[CU_TIME_ISO_MAX], root[2 * CU_SHA256_LEN + 1];
	printf("%s/audit.db: %s\n", store, rep->tampered ? "TAMPERED" : "intact");
	printf("  %llu entries, %llu tree heads", (unsigned long long)rep->entries,
	       (unsigned long long)rep->heads);
	if (rep->bad_heads > 0)
		printf(" (%llu failed)", (unsigned long long)rep->bad_heads);
	cu_time_text(rep->newest_head_us, t);
	printf("\n  newest valid head %s covers %llu entries\n", t,
	       (unsigned long long)rep->signed_entries);
	cu_hex(rep->root, CU_SHA256_LEN, root);
	printf("  root %s\n", root);
	cu_x509_fingerprint_hex(rep->signer_fp, fp, sizeof(fp));
	printf("  signed by  %s\n             SHA-256 %s\n", rep->signer_subject, fp);
	cu_x509_fingerprint_hex(rep->ca_fp, fp, sizeof(fp));
	printf("  site CA    %s\n             SHA-256 %s\n", rep->ca_subject, fp);
	if (rep->tampered) {
		printf("  first bad entry: %llu\n  reason: %s\n",
		       (unsigned long long)rep->first_bad_index, rep->reason);
		if (rep->proven_entries > 0)
			printf("  entries 0 to %llu are proven by a signed tree head\n",
			       (unsigned long long)rep->proven_entries - 1);
	} else if (rep->unsigned_entries > 0) {
		printf("  %llu newest entries are not yet under a signed tree head (the server signs "
		       "every minute; a crash leaves up to a minute unsigned)\n",
		       (unsigned long long)rep->unsigned_entries);
	}
}

static cu_store *
open_store(const char *cmd, const struct args *a, bool need_password)
{
	cu_store *s = NULL;
	int r;
	if (need_password) {
		struct cli_password pw = {0};
		if (cli_password_get(cmd, a->pwfile, false, &pw) != 0)
			return NULL;
		r = cu_store_open(a->store, pw.buf, pw.len, &s);
		cli_password_free(&pw);
	} else {
		r = cu_store_open(a->store, NULL, 0, &s);
	}
	if (r < 0) {
		cli_fail(cmd, r, "cannot open the store");
		return NULL;
	}
	return s;
}

static int
do_verify(const struct args *a)
{
	cu_store *s = open_store("audit verify", a, false);
	if (s == NULL)
		return EXIT_ERROR;
	struct cu_audit_report *rep = NULL;
	int r = cu_audit_verify(s, &rep);
	cu_store_close(s);
	if (r < 0)
		return cli_fail("audit verify", r, "verification could not run");
	if (a->json) {
		if (print_json(rep) < 0) {
			cu_audit_report_free(rep);
			fprintf(stderr, "custody audit verify: cannot write the JSON report\n");
			return EXIT_ERROR;
		}
	} else {
		print_text(a->store, rep);
	}
	int rc = rep->tampered ? EXIT_TAMPERED : EXIT_INTACT;
	cu_audit_report_free(rep);
	return rc;
}

static int
do_export(const struct args *a)
{
	int fmt;
	if (a->format == NULL)
		return cli_usage("audit export", "--format csv|json is required");
	if (strcmp(a->format, "csv") == 0)
		fmt = CU_AUDIT_CSV;
	else if (strcmp(a->format, "json") == 0)
		fmt = CU_AUDIT_JSON;
	else
		return cli_usage("audit export", "--format must be csv or json");
	cu_store *s = open_store("audit export", a, false);
	if (s == NULL)
		return EXIT_ERROR;
	FILE *out = stdout;
	if (a->output != NULL) {
		/* a new file: an export never overwrites evidence by accident */
		int fd = open(a->output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
		if (fd < 0 || (out = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, "custody audit export: --output %s: %s\n", a->output,
			        strerror(errno));
			if (fd >= 0)
				close(fd);
			cu_store_close(s);
			return EXIT_ERROR;
		}
	}
	int r = cu_audit_export(s, fmt, out);
	cu_store_close(s);
	if (r < 0)
		cli_fail("audit export", r, "export failed");
	bool ok = r == 0;
	if (out != stdout) {
		if (ok && (fflush(out) != 0 || fsync(fileno(out)) < 0)) {
			fprintf(stderr, "custody audit export: --output %s: %s\n", a->output,
			        strerror(errno));
			ok = false;
		}
		if (fclose(out) != 0 && ok) {
			fprintf(stderr, "custody audit export: --output %s: %s\n", a->output,
			        strerror(errno));
			ok = false;
		}
		if (!ok)
			unlink(a->output); /* no half export left behind */
	}
	return ok ? EXIT_INTACT : EXIT_ERROR;
}

static void
print_head(const char *what, const struct cu_audit_head *h)
{
	char t[CU_TIME_ISO_MAX], root[2 * CU_SHA256_LEN + 1];
	cu_time_text(h->time_us, t);
	cu_hex(h->root, CU_SHA256_LEN, root);
	printf("%s tree head %lld: %llu entries at %s, root %s\n", what, (long long)h->id,
	       (unsigned long long)h->size, t, root);
}

static int
do_append(const struct args *a, bool append)
{
	const char *cmd = append ? "audit append" : "audit sign";
	if (append && a->e.type == NULL)
		return cli_usage(cmd, "--type is required");
	cu_store *s = open_store(cmd, a, true);
	if (s == NULL)
		return EXIT_ERROR;
	cu_audit *log = NULL;
	struct cu_audit_head h;
	uint64_t idx = 0;
	int r = cu_audit_open(s, &log);
	if (r < 0) {
		cli_fail(cmd, r, "cannot open the audit log");
		goto out;
	}
	if (append && (r = cu_audit_append(log, &a->e, &idx)) < 0) {
		cli_fail(cmd, r, "cannot append");
		goto out;
	}
	if (append)
		printf("appended entry %llu\n", (unsigned long long)idx);
	if (!append || !a->nosign) {
		if ((r = cu_audit_sign_head(log, &h)) < 0) {
			cli_fail(cmd, r, "cannot sign a tree head");
			goto out;
		}
		print_head(r == 1 ? "signed" : "newest", &h);
	}
	r = 0;
out:
	cu_audit_close(log);
	cu_store_close(s);
	return r < 0 ? EXIT_ERROR : EXIT_INTACT;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, OPT_STORE},
		{"json", no_argument, NULL, OPT_JSON},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"type", required_argument, NULL, OPT_TYPE},
		{"actor", required_argument, NULL, OPT_ACTOR},
		{"source", required_argument, NULL, OPT_SOURCE},
		{"detail", required_argument, NULL, OPT_DETAIL},
		{"time", required_argument, NULL, OPT_TIME},
		{"no-sign", no_argument, NULL, OPT_NOSIGN},
		{"password-file", required_argument, NULL, OPT_PWFILE},
		{"help", no_argument, NULL, OPT_HELP},
		{0, 0, 0, 0},
	};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_ERROR : 0;
	}
	const char *sub = argv[1];
	struct args a = {.e = {.actor = "-", .source = "cli"}};
	int c;
	optind = 1;
	/* getopt sees "audit <sub> ...": skip the subcommand */
	argc--;
	argv++;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case OPT_STORE: a.store = optarg; break;
		case OPT_JSON: a.json = true; break;
		case OPT_FORMAT: a.format = optarg; break;
		case OPT_OUTPUT: a.output = optarg; break;
		case OPT_TYPE: a.e.type = optarg; break;
		case OPT_ACTOR: a.e.actor = optarg; break;
		case OPT_SOURCE: a.e.source = optarg; break;
		case OPT_DETAIL: a.e.detail = optarg; break;
		case OPT_TIME:
			if (cli_time_arg("audit", "--time", optarg, &a.e.time_us) != 0)
				return EXIT_ERROR;
			if (a.e.time_us <= 0)
				return cli_usage("audit", "--time must be after 1970-01-01T00:00:00Z");
			break;
		case OPT_NOSIGN: a.nosign = true; break;
		case OPT_PWFILE: a.pwfile = optarg; break;
		case OPT_HELP: fputs(help, stdout); return 0;
		default:
			return cli_bad_option("audit", argv);
		}
	}
	int bad = cli_options_end("audit", argc, argv, a.store);
	if (bad >= 0)
		return bad;
	bool is_verify = strcmp(sub, "verify") == 0, is_export = strcmp(sub, "export") == 0,
	     is_append = strcmp(sub, "append") == 0, is_sign = strcmp(sub, "sign") == 0;
	if (!is_verify && !is_export && !is_append && !is_sign)
		return cli_usage("audit", "unknown subcommand \"%s\": verify, export, append or sign",
		                 sub);
	/* options that belong to another subcommand are mistakes, not no-ops */
	if ((a.json && !is_verify) || ((a.format || a.output) && !is_export) ||
	    ((a.e.type || a.e.detail || a.e.time_us || a.nosign ||
	      strcmp(a.e.actor, "-") != 0 || strcmp(a.e.source, "cli") != 0) && !is_append) ||
	    (a.pwfile && !is_append && !is_sign))
		return cli_usage("audit", "an option does not apply to audit %s", sub);
	if (is_verify)
		return do_verify(&a);
	if (is_export)
		return do_export(&a);
	return do_append(&a, is_append);
}
