/* custody tls --store DIR [--name N]... [--password-file F] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/tls.h"
#include "custody/x509.h"

static const char help[] =
	"usage: custody tls --store DIR [--name N]... [--password-file F]\n"
	"Ensures the store's HTTPS certificate (ECDSA P-256) is valid for the names given\n"
	"(DNS names or IP addresses, at most 16; default: localhost, 127.0.0.1, ::1 and\n"
	"the host name), issued by the store's site TLS CA. The certificate is issued\n"
	"again when its names differ, when it expires within 30 days, or when it is\n"
	"missing; the CA is made when missing. Prints the CA to install in browsers,\n"
	"its SHA-256 fingerprint, and the certificate's names and expiry.\n";

int
cmd_tls(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"name", required_argument, NULL, 'n'},
		{"password-file", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *store = NULL, *pwfile = NULL, *names[CU_TLS_NAMES_MAX];
	size_t nnames = 0;
	int c;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'n':
			if (nnames == CU_TLS_NAMES_MAX)
				return cli_usage("tls", "more than %d --name options", CU_TLS_NAMES_MAX);
			names[nnames++] = optarg;
			break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_bad_option("tls", argv);
		}
	}
	int bad = cli_options_end("tls", argc, argv, store);
	if (bad >= 0)
		return bad;

	struct cli_password pw = {0};
	if (cli_password_get("tls", pwfile, false, &pw) != 0)
		return EXIT_ERROR;
	cu_store *s = NULL;
	int r = cu_store_open(store, pw.buf, pw.len, &s);
	cli_password_free(&pw);
	if (r < 0)
		return cli_fail("tls", r, "cannot open the store");
	struct cu_tls_material m = {0};
	r = cu_store_tls(s, nnames > 0 ? names : NULL, nnames, &m);
	cu_store_close(s);
	if (r < 0)
		return cli_fail("tls", r, "cannot make the HTTPS certificate");

	/* The names as the certificate holds them (canonical form). */
	struct cu_x509_tls_info info;
	r = cu_x509_tls_info(m.chain_pem, m.chain_len, &info);
	if (r < 0) {
		cu_tls_material_free(&m);
		return cli_fail("tls", r, "cannot read the HTTPS certificate");
	}
	char fp[96], when[CU_TIME_ISO_MAX];
	cu_x509_fingerprint_hex(m.ca_fp, fp, sizeof(fp));
	cu_time_text(m.not_after_us, when);
	printf("TLS CA       %s/%s/ca.pem\n             SHA-256 %s\n", store, CU_TLS_DIR, fp);
	printf("certificate  %s/%s/server.pem (%s)\n", store, CU_TLS_DIR,
	       m.issued ? "issued now" : "unchanged");
	printf("names        ");
	for (size_t i = 0; i < info.nnames; i++)
		printf("%s%s", i > 0 ? ", " : "", info.names[i]);
	printf("\nexpires      %s\n", when);
	cu_tls_material_free(&m);
	return 0;
}
