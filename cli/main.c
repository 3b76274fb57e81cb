/* custody: the command-line tool. One file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define VERSION "0.1.0"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} commands[] = {
	{"init", cmd_init, "create a store: keys, site CA, certificates, catalogue"},
	{"import", cmd_import, "record a media file as a camera's footage"},
	{"verify", cmd_verify, "check every frame, seal, link and record of a store or package"},
	{"export", cmd_export, "write an evidence package of recorded ranges (signed, encrypted)"},
	{"player", cmd_player, "verify an evidence package and play it in a local browser page"},
	{"info", cmd_info, "cameras, time ranges, sizes, encryption, signer"},
	{"passwd", cmd_passwd, "change the store password (no media is re-encrypted)"},
	{"audit", cmd_audit, "verify or export the tamper-evident audit log"},
	{"user", cmd_user, "add, change, disable and list the store's users"},
	{"role", cmd_role, "roles: grant functions on cameras, assign them to users"},
	{"group", cmd_group, "camera groups that roles are granted on"},
	{"profile", cmd_profile, "export profiles: formats and package protection, per role"},
	{"tamper-scan", cmd_tamper_scan, "run the video tamper analysis over a media file, faster than real time"},
	{"tls", cmd_tls, "the HTTPS certificate and the site TLS CA that issues it"},
	{"notify-test", cmd_notify_test, "send a test notification (SNMP trap/inform, e-mail)"},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: custody <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "\ncustody <command> --help shows a command's options.\n"
	        "Exit status: 0 success (verify: intact), 1 tampering found (verify, export,\n"
	        "player), 2 error.\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("custody %s\n", VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "custody: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_ERROR;
}
