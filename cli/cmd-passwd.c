/* custody passwd --store DIR [--password-file OLD] [--new-password-file NEW] */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "custody/store.h"

static const char help[] =
	"usage: custody passwd --store DIR [--password-file OLD] [--new-password-file NEW]\n"
	"Changes the store password. The keys are wrapped again under the new password;\n"
	"no media is re-encrypted. Without the files, both are asked on the terminal.\n"
	"Stop custodyd first or give it the new password file before its next start.\n";

int
cmd_passwd(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"password-file", required_argument, NULL, 'p'},
		{"new-password-file", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *store = NULL, *oldf = NULL, *newf = NULL;
	int c;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'p': oldf = optarg; break;
		case 'n': newf = optarg; break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_bad_option("passwd", argv);
		}
	}
	int bad = cli_options_end("passwd", argc, argv, store);
	if (bad >= 0)
		return bad;
	struct cli_password oldp = {0}, newp = {0};
	int rc = EXIT_ERROR;
	if (cli_password_get("passwd", oldf, false, &oldp) != 0 ||
	    cli_password_get("passwd", newf, true, &newp) != 0)
		goto out;
	int r = cu_store_change_password(store, oldp.buf, oldp.len, newp.buf, newp.len, NULL);
	if (r < 0) {
		cli_fail("passwd", r, "cannot change the password");
		goto out;
	}
	printf("store %s: password changed (keys wrapped again; media untouched)\n", store);
	rc = 0;
out:
	cli_password_free(&oldp);
	cli_password_free(&newp);
	return rc;
}
