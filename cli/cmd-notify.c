/* custody notify-test --snmp HOST ... | --email URL ...: sends one synthetic
 * notice through a notification channel and says what came of it, as a
 * VMS's "send test" button does (docs/notifications-snmp.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "custody/crypto.h"
#include "custody/file.h"
#include "custody/notify.h"
#include "custody/parse.h"
#include "custody/secret.h"
#include "custody/text.h"
#include "custody/time.h"

#define CMD "notify-test"
#define ERR_MAX 512

static const char help[] =
	"usage: custody notify-test --snmp HOST [--port N] [--snmp-version 2c|3]\n"
	"           (--community-file F | --user NAME --auth-file F --priv-file F)\n"
	"           [--timeout-ms N] [--retries N] [notice options]\n"
	"       custody notify-test --email smtp://HOST[:PORT] | smtps://HOST[:PORT]\n"
	"           --from ADDR --to ADDR [--to ADDR ...] [--ca-file PEM]\n"
	"           [--user NAME --password-file F] [--timeout-ms N] [notice options]\n"
	"notice options: --camera NAME (default test-camera), --type T (notify.test),\n"
	"  --severity info|warning|major|critical (info), --phase once|raise|clear (once),\n"
	"  --detail TEXT, --site TEXT, --still FILE.jpg, --id evt_<32 hex> (random)\n"
	"Sends one test notification: SNMPv2c trap, SNMPv3 inform (SHA + AES-128, waits\n"
	"for the acknowledgement), or an e-mail over TLS (STARTTLS required on smtp://).\n"
	"Secrets come from files (first line; not readable by others), never from\n"
	"the command line. Prints the outcome: ok, retry (try again later) or refused\n"
	"(will never work as configured). Exit status 0 delivered, 2 otherwise.\n";

struct opts {
	const char *snmp, *email, *version, *community_file, *user, *auth_file, *priv_file;
	const char *password_file, *ca_file, *from, *still_file;
	const char *to[CU_SMTP_RCPT_MAX];
	size_t n_to;
	uint64_t port, timeout_ms, retries;
	bool port_set, retries_set;
	struct cu_notice notice;
};

static int
read_secret(const char *file, const char *what, char **ret)
{
	size_t len = 0;
	if (file == NULL)
		return cli_usage(CMD, "%s is needed", what);
	if (cu_secret_file_read(file, CU_NOTIFY_SECRET_MAX, 1, ret, &len) < 0) {
		fprintf(stderr, "custody %s: %s %s\n", CMD, what, cu_error_detail());
		return EXIT_ERROR;
	}
	return 0;
}

static void
free_secret(char *s)
{
	if (s != NULL)
		cu_secret_free(s, strlen(s));
}

static int
report(const char *what, enum cu_send r, const char *err)
{
	if (r == CU_SEND_OK) {
		printf("%s: ok\n", what);
		return 0;
	}
	fprintf(stderr, "custody %s: %s: %s: %s\n", CMD, what, cu_send_name(r), err);
	return EXIT_ERROR;
}

/* The channel options a send takes, checked so that a misplaced one is an
 * error rather than silently ignored (the notice options go with both). */
static int
only(const struct opts *o, const char *allowed)
{
	const struct cli_seen seen[] = {
		{'S', o->snmp != NULL, "--snmp"}, {'E', o->email != NULL, "--email"},
		{'P', o->port_set, "--port"}, {'V', o->version != NULL, "--snmp-version"},
		{'c', o->community_file != NULL, "--community-file"}, {'u', o->user != NULL, "--user"},
		{'a', o->auth_file != NULL, "--auth-file"}, {'x', o->priv_file != NULL, "--priv-file"},
		{'p', o->password_file != NULL, "--password-file"},
		{'C', o->ca_file != NULL, "--ca-file"}, {'f', o->from != NULL, "--from"},
		{'t', o->n_to != 0, "--to"}, {'T', o->timeout_ms != 0, "--timeout-ms"},
		{'r', o->retries_set, "--retries"},
	};
	return cli_only(CMD, seen, sizeof(seen) / sizeof(seen[0]), allowed);
}

static int
send_snmp(struct opts *o)
{
	struct cu_snmp_target t = {.host = o->snmp, .port = (uint16_t)o->port,
	                           .timeout_ms = (unsigned)o->timeout_ms,
	                           .retries = (unsigned)o->retries};
	char *community = NULL, *auth = NULL, *priv = NULL, err[ERR_MAX] = "";
	int rc = EXIT_ERROR;
	if (cu_snmp_version_parse(o->version != NULL ? o->version : "2c", &t.version) < 0)
		return cli_usage(CMD, "--snmp-version: 2c or 3");
	if (t.version == CU_SNMP_V2C) {
		if ((rc = only(o, "SPVcTr")) >= 0)
			return rc;
		if ((rc = read_secret(o->community_file, "--community-file", &community)) != 0)
			goto out;
		t.community = community;
	} else {
		if ((rc = only(o, "SPVuaxTr")) >= 0)
			return rc;
		if (o->user == NULL)
			return cli_usage(CMD, "--snmp-version 3 needs --user");
		t.user = o->user;
		if ((rc = read_secret(o->auth_file, "--auth-file", &auth)) != 0 ||
		    (rc = read_secret(o->priv_file, "--priv-file", &priv)) != 0)
			goto out;
		t.auth_pass = auth;
		t.priv_pass = priv;
	}
	char what[300];
	cu_fmt_cut(what, sizeof(what), "snmp %s to %s port %u",
	           t.version == CU_SNMP_V3 ? "v3 inform" : "v2c trap", o->snmp,
	           o->port_set ? (unsigned)o->port : 162u);
	rc = report(what, cu_snmp_send(&t, &o->notice, err, sizeof(err)), err);
out:
	free_secret(community);
	free_secret(auth);
	free_secret(priv);
	return rc;
}

static int
send_email(struct opts *o)
{
	int rc = only(o, "EupCftT");
	if (rc >= 0)
		return rc;
	if (o->from == NULL || o->n_to == 0)
		return cli_usage(CMD, "--email needs --from and at least one --to");
	struct cu_smtp_target t = {.url = o->email, .ca_file = o->ca_file, .from = o->from,
	                           .to = o->to, .n_to = o->n_to,
	                           .timeout_ms = (unsigned)o->timeout_ms};
	char *password = NULL, err[ERR_MAX] = "";
	if (o->user != NULL || o->password_file != NULL) {
		if ((rc = read_secret(o->password_file, "--password-file", &password)) != 0)
			return rc;
		if (o->user == NULL) {
			free_secret(password);
			return cli_usage(CMD, "--password-file needs --user");
		}
		t.user = o->user;
		t.password = password;
	}
	char what[400];
	cu_fmt_cut(what, sizeof(what), "email to %s", o->email);
	rc = report(what, cu_smtp_send(&t, &o->notice, err, sizeof(err)), err);
	free_secret(password);
	return rc;
}

int
cmd_notify_test(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"snmp", required_argument, NULL, 'S'},
		{"email", required_argument, NULL, 'E'},
		{"port", required_argument, NULL, 'P'},
		{"snmp-version", required_argument, NULL, 'V'},
		{"community-file", required_argument, NULL, 'c'},
		{"user", required_argument, NULL, 'u'},
		{"auth-file", required_argument, NULL, 'a'},
		{"priv-file", required_argument, NULL, 'x'},
		{"password-file", required_argument, NULL, 'p'},
		{"ca-file", required_argument, NULL, 'C'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"timeout-ms", required_argument, NULL, 'T'},
		{"retries", required_argument, NULL, 'r'},
		{"camera", required_argument, NULL, 'm'},
		{"type", required_argument, NULL, 'y'},
		{"severity", required_argument, NULL, 'v'},
		{"phase", required_argument, NULL, 'z'},
		{"detail", required_argument, NULL, 'd'},
		{"site", required_argument, NULL, 's'},
		{"still", required_argument, NULL, 'j'},
		{"id", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	struct opts o = {0};
	char id[4 + 32 + 1];
	o.notice = (struct cu_notice){.type = "notify.test", .camera = "test-camera",
	                              .source = "custody", .phase = "once", .severity = "info",
	                              .detail = "a test notification sent by custody notify-test",
	                              .site = ""};
	int c;
	while ((c = cli_next_option(argc, argv, lopts)) != -1) {
		switch (c) {
		case 'S': o.snmp = optarg; break;
		case 'E': o.email = optarg; break;
		case 'P':
			if (cu_parse_u64(optarg, 65535, "--port", &o.port) < 0 || o.port == 0)
				return cli_usage(CMD, "--port: a number 1..65535");
			o.port_set = true;
			break;
		case 'V': o.version = optarg; break;
		case 'c': o.community_file = optarg; break;
		case 'u': o.user = optarg; break;
		case 'a': o.auth_file = optarg; break;
		case 'x': o.priv_file = optarg; break;
		case 'p': o.password_file = optarg; break;
		case 'C': o.ca_file = optarg; break;
		case 'f': o.from = optarg; break;
		case 't':
			if (o.n_to == CU_SMTP_RCPT_MAX)
				return cli_usage(CMD, "at most %d --to", CU_SMTP_RCPT_MAX);
			o.to[o.n_to++] = optarg;
			break;
		case 'T':
			if (cu_parse_u64(optarg, CU_NOTIFY_TIMEOUT_MS_MAX, "--timeout-ms", &o.timeout_ms) < 0 ||
			    o.timeout_ms == 0)
				return cli_usage(CMD, "--timeout-ms: 1..%d", CU_NOTIFY_TIMEOUT_MS_MAX);
			break;
		case 'r':
			if (cu_parse_u64(optarg, CU_SNMP_RETRIES_MAX, "--retries", &o.retries) < 0)
				return cli_usage(CMD, "--retries: 0..%d", CU_SNMP_RETRIES_MAX);
			o.retries_set = true;
			break;
		case 'm': o.notice.camera = optarg; break;
		case 'y': o.notice.type = optarg; break;
		case 'v': o.notice.severity = optarg; break;
		case 'z': o.notice.phase = optarg; break;
		case 'd': o.notice.detail = optarg; break;
		case 's': o.notice.site = optarg; break;
		case 'j': o.still_file = optarg; break;
		case 'i': o.notice.id = optarg; break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_bad_option(CMD, argv);
		}
	}
	if (optind < argc)
		return cli_usage(CMD, "unexpected argument \"%s\"", argv[optind]);
	if ((o.snmp == NULL) == (o.email == NULL))
		return cli_usage(CMD, "give one of --snmp HOST or --email URL");
	if (o.notice.id == NULL) {
		uint8_t raw[16];
		if (cu_random(raw, sizeof(raw)) < 0)
			return cli_fail(CMD, CU_ERR_CRYPTO, "no random id");
		memcpy(id, "evt_", 4);
		cu_hex(raw, sizeof(raw), id + 4);
		o.notice.id = id;
	}
	o.notice.t_us = cu_time_now_us();
	uint8_t *still = NULL;
	if (o.still_file != NULL) {
		int r = cu_file_read(o.still_file, CU_NOTIFY_STILL_MAX, &still, &o.notice.still_len);
		if (r < 0)
			return cli_fail(CMD, r, "--still");
		o.notice.still = still;
	}
	int rc = o.snmp != NULL ? send_snmp(&o) : send_email(&o);
	free(still);
	return rc;
}
