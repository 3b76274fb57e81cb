/* custody init --store DIR [--encryption none|light|strong] [--password-file F]
 *              [--segment-seconds N] [--site NAME] [--server-name NAME] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "custody/store.h"
#include "custody/x509.h"
#include "custody/parse.h"
#include "custody/text.h"

/* bytes of --site, which goes into the certificates (O=, and CN= of the CA) */
#define SITE_NAME_MAX 128

static const char help[] =
	"usage: custody init --store DIR [--encryption none|light|strong] [--password-file F]\n"
	"                    [--segment-seconds N] [--site NAME] [--server-name NAME]\n"
	"Creates a store in DIR (new or empty): a random media key and signing key, both\n"
	"wrapped under the password (Argon2id), a site CA and the recording server's\n"
	"certificate, and the catalogue. Encryption defaults to strong; segments to 60 s.\n"
	"Without --password-file the password is asked for twice on the terminal.\n";

int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"encryption", required_argument, NULL, 'e'},
		{"password-file", required_argument, NULL, 'p'},
		{"segment-seconds", required_argument, NULL, 'g'},
		{"site", required_argument, NULL, 'S'},
		{"server-name", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *store = NULL, *pwfile = NULL;
	struct cu_store_create_opts o = {.encryption = CU_ENC_STRONG};
	int c;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'S': o.site_name = optarg; break;
		case 'n': o.server_name = optarg; break;
		case 'e':
			if (cu_encryption_parse(optarg, &o.encryption) < 0)
				return cli_usage("init", "--encryption \"%s\": expected none, light or "
				                 "strong", optarg);
			break;
		case 'g': {
			uint64_t secs;
			if (cu_parse_u64(optarg, 3600, "--segment-seconds", &secs) < 0 || secs < 1)
				return cli_usage("init", "--segment-seconds \"%s\": expected 1 to 3600",
				                 optarg);
			o.segment_us = (int64_t)secs * 1000000;
			break;
		}
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option("init", argv);
		}
	}
	int bad = cli_options_end("init", argc, argv, store);
	if (bad >= 0)
		return bad;
	if (o.site_name && cu_text_check(o.site_name, strlen(o.site_name), SITE_NAME_MAX, 0) < 0)
		return cli_usage("init", "--site: %s", cu_error_detail());
	if (o.server_name && strlen(o.server_name) > 128)
		return cli_usage("init", "--server-name is longer than 128 characters");
	struct cli_password pw = {0};
	if (cli_password_get("init", pwfile, true, &pw) != 0)
		return EXIT_ERROR;
	int r = cu_store_create(store, pw.buf, pw.len, &o);
	cli_password_free(&pw);
	if (r < 0)
		return cli_fail("init", r, "cannot create the store");
	cu_store *s;
	if ((r = cu_store_open(store, NULL, 0, &s)) < 0)
		return cli_fail("init", r, "store created but cannot be reopened");
	struct cu_store_info *info;
	r = cu_store_info(s, &info);
	cu_store_close(s);
	if (r < 0)
		return cli_fail("init", r, "store created but unreadable");
	char fp[96];
	cu_x509_fingerprint_hex(info->ca_fp, fp, sizeof(fp));
	printf("created store %s (encryption %s, %lld s segments)\n", store,
	       cu_encryption_name(info->encryption), (long long)(info->segment_us / 1000000));
	printf("site CA:  %s\n          SHA-256 %s\n", info->ca_subject, fp);
	cu_x509_fingerprint_hex(info->signer_fp, fp, sizeof(fp));
	printf("signer:   %s\n          SHA-256 %s\n", info->signer_subject, fp);
	printf("Keep the site CA fingerprint: verifiers compare against it.\n");
	cu_store_info_free(info);
	return 0;
}
