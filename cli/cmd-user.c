/* custody user add|passwd|disable|enable|delete|unlock|logout|list --store DIR ...
 *
 * The operator-on-the-box path: these work on STORE/auth.db directly and
 * need write access to the store directory, not the store password (nothing
 * here signs). The same operations through the HTTPS API come later. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "custody/audit.h"
#include "custody/auth.h"
#include "custody/crypto.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/secret.h"

#define ROLES_PER_ADD 64

static const char help[] =
	"usage: custody user add --store DIR --name USER [--role ROLE ...] [--password-file F]\n"
	"       custody user passwd --store DIR --name USER [--password-file F]\n"
	"       custody user disable|enable|delete|unlock|logout --store DIR --name USER\n"
	"       (each of these also [--store-password-file F])\n"
	"       custody user list --store DIR [--json]\n"
	"Manages the store's local users in DIR/auth.db. Every change is written to the\n"
	"store's audit log under a signed head, so it needs the store password (from\n"
	"--store-password-file, or asked on the terminal); list does not. Passwords: 8 to\n"
	"128 bytes of UTF-8, not a common password; without --password-file (first line;\n"
	"mode 0600) the user's password is asked twice on the terminal.\n"
	"disable, passwd and logout revoke the user's tokens; unlock lifts a login lockout.\n"
	"User names: lower-case letters, digits, '.', '-', '_' and '@'.\n";

/* A user time for JSON: 0 means "never" and prints as null. */
static json_t *
cli_user_time(int64_t us)
{
	return cli_json_time(us > 0 ? us : -1);
}

struct opts {
	const char *store, *name, *pwfile, *store_pwfile;
	const char *roles[ROLES_PER_ADD];
	size_t nroles;
	bool json;
};

/* The new password from --password-file or the terminal (twice). One byte
 * more than the limit is read so that an over-long one is refused, not cut. */
static int
new_password(const char *cmd, const char *file, const char *user, char **ret, size_t *ret_len)
{
	if (file != NULL) {
		if (cu_secret_file_read(file, CU_USER_PASSWORD_MAX, 1, ret, ret_len) < 0) {
			fprintf(stderr, "custody %s: --password-file %s\n", cmd, cu_error_detail());
			return EXIT_ERROR;
		}
		return 0;
	}
	size_t cap = CU_USER_PASSWORD_MAX + 2, la = 0, lb = 0;
	char *a = calloc(1, cap), *b = calloc(1, cap), prompt[128];
	int r = EXIT_ERROR;
	if (a == NULL || b == NULL)
		goto out;
	cu_fmt_cut(prompt, sizeof(prompt), "New password for %s: ", user);
	if (cli_ask_secret(prompt, a, cap - 1, &la) < 0) {
		fprintf(stderr, "custody %s: no --password-file given and no terminal to ask on\n",
		        cmd);
		goto out;
	}
	if (cli_ask_secret("Repeat the password: ", b, cap - 1, &lb) < 0 || la != lb ||
	    !cu_ct_equal(a, b, la)) {
		fprintf(stderr, "custody %s: the two passwords differ\n", cmd);
		goto out;
	}
	*ret = a;
	*ret_len = la;
	a = NULL;
	r = 0;
out:
	if (a != NULL)
		cu_wipe(a, cap);
	if (b != NULL)
		cu_wipe(b, cap);
	free(a);
	free(b);
	return r;
}

int
cli_auth_open(const char *cmd, const char *dir, unsigned flags, cu_store **ret_s, cu_auth **ret_a)
{
	cu_store *s = NULL;
	int r = cu_store_open(dir, NULL, 0, &s);
	if (r < 0)
		return cli_fail(cmd, r, "cannot open the store");
	if ((r = cu_auth_open(s, flags, ret_a)) < 0) {
		cu_store_close(s);
		if (r == CU_ERR_NOTFOUND && (flags & CU_AUTH_READONLY)) {
			*ret_a = NULL;
			*ret_s = NULL;
			return 0;
		}
		return cli_fail(cmd, r, "cannot open auth.db");
	}
	*ret_s = s;
	return 0;
}

static void
admin_close(struct cli_admin *ad)
{
	cu_audit_close(ad->au);
	cu_auth_close(ad->a);
	cu_store_close(ad->s);
	memset(ad, 0, sizeof(*ad));
}

int
cli_admin_open(const char *cmd, const char *dir, const char *store_pwfile, struct cli_admin *ret)
{
	struct cli_password pw = {0};
	int r;
	memset(ret, 0, sizeof(*ret));
	if (store_pwfile != NULL) {
		if (cli_password_get(cmd, store_pwfile, false, &pw) != 0)
			return EXIT_ERROR;
	} else {
		if ((pw.buf = calloc(1, CU_PASSWORD_MAX + 1)) == NULL)
			return cli_fail(cmd, CU_ERR_NOMEM, "out of memory");
		if (cli_ask_secret("Store password (the change goes into the audit log): ", pw.buf,
		                   CU_PASSWORD_MAX, &pw.len) < 0 || pw.len == 0) {
			cli_password_free(&pw);
			fprintf(stderr, "custody %s: no --store-password-file given and no terminal to ask "
			        "on (a change is written to the audit log, signed with the store's key)\n",
			        cmd);
			return EXIT_ERROR;
		}
	}
	r = cu_store_open(dir, pw.buf, pw.len, &ret->s);
	cli_password_free(&pw);
	if (r < 0)
		return cli_fail(cmd, r, "cannot open the store with its password");
	if ((r = cu_auth_open(ret->s, 0, &ret->a)) < 0) {
		admin_close(ret);
		return cli_fail(cmd, r, "cannot open auth.db");
	}
	if ((r = cu_audit_open(ret->s, &ret->au)) < 0) {
		admin_close(ret);
		return cli_fail(cmd, r, "cannot open the audit log (no audit entry, no change)");
	}
	return 0;
}

int
cli_admin_log(const char *cmd, struct cli_admin *ad, const struct cu_auth_event *ev)
{
	json_t *d = cu_auth_event_json(ev);
	char *text = NULL;
	if (d != NULL && json_object_set_new(d, "uid", json_integer((json_int_t)getuid())) == 0)
		text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(d);
	struct cu_audit_entry e = {.type = ev->action, .actor = "operator", .source = "cli",
	                           .detail = text};
	int r = text == NULL ? CU_ERR_NOMEM : cu_audit_append(ad->au, &e, NULL);
	free(text);
	if (r < 0)
		return cli_fail(cmd, r, "the change was made but could not be written to the audit "
		                "log");
	return 0;
}

int
cli_admin_finish(const char *cmd, struct cli_admin *ad, int rc)
{
	int r = cu_audit_sign_head(ad->au, NULL);
	admin_close(ad);
	if (r < 0 && rc == 0)
		return cli_fail(cmd, r, "cannot sign the audit log's head over the change");
	return rc;
}

int
cli_admin_done(const char *cmd, struct cli_admin *ad, int r, const char *what,
               const struct cu_auth_event *ev)
{
	if (r < 0) {
		admin_close(ad);
		return cli_fail(cmd, r, what);
	}
	return cli_admin_finish(cmd, ad, cli_admin_log(cmd, ad, ev));
}

/* A time or "-" for never (0): the column of a password never changed. */
static void
text_time(int64_t us, char buf[static CU_TIME_ISO_MAX])
{
	if (us <= 0)
		memcpy(buf, "-", 2);
	else
		cu_time_text(us, buf);
}

static int
list(const struct opts *o)
{
	cu_store *s = NULL;
	cu_auth *a;
	struct cu_auth_user *u = NULL;
	size_t n = 0;
	if (cli_auth_open("user list", o->store, CU_AUTH_READONLY, &s, &a) != 0)
		return EXIT_ERROR;
	if (a != NULL) {
		int r = cu_auth_user_list(a, &u, &n);
		cu_auth_close(a);
		cu_store_close(s);
		if (r < 0)
			return cli_fail("user list", r, "cannot list users");
	}
	int rc = 0;
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *roles = json_array();
			for (size_t j = 0; j < u[i].nroles; j++)
				json_array_append_new(roles, json_string(u[i].roles[j]));
			json_array_append_new(arr, json_pack(
				"{s:I, s:s, s:b, s:o, s:o, s:o, s:o, s:{s:s, s:i, s:i, s:i}}",
				"id", (json_int_t)u[i].id, "name", u[i].name, "disabled", u[i].disabled,
				"created", cli_user_time(u[i].created_us), "password_changed",
				cli_user_time(u[i].password_changed_us), "locked_until", cli_user_time(u[i].locked_until_us),
				"roles", roles, "password_hash", "algorithm", "argon2id", "m_kib",
				(int)u[i].argon2_m_kib, "t", (int)u[i].argon2_t, "p", (int)u[i].argon2_p));
		}
		json_t *root = json_pack("{s:o}", "users", arr);
		rc = json_dumpf(root, stdout, JSON_INDENT(2)) < 0 ? EXIT_ERROR : 0;
		printf("\n");
		json_decref(root);
	} else if (n == 0) {
		printf("no users\n");
	} else {
		printf("%-24s %6s  %-9s %-27s %s\n", "NAME", "ID", "STATUS", "PASSWORD CHANGED", "ROLES");
		for (size_t i = 0; i < n; i++) {
			char when[CU_TIME_ISO_MAX], roles[512] = "";
			size_t used = 0;
			text_time(u[i].password_changed_us, when);
			for (size_t j = 0; j < u[i].nroles && used < sizeof(roles); j++) {
				int k = snprintf(roles + used, sizeof(roles) - used, "%s%s", j ? "," : "",
				                 u[i].roles[j]);
				if (k < 0 || (size_t)k >= sizeof(roles) - used) {
					/* a listing, not data: mark the cut */
					memcpy(roles + sizeof(roles) - 4, "...", 4);
					break;
				}
				used += (size_t)k;
			}
			const char *status = u[i].disabled ? "disabled" : u[i].locked_until_us ? "locked"
			                                                                        : "enabled";
			printf("%-24s %6lld  %-9s %-27s %s\n", u[i].name, (long long)u[i].id, status, when,
			       roles[0] ? roles : "-");
		}
	}
	cu_auth_users_free(u, n);
	return rc;
}

/* Runs one change on auth.db and prints what it did. */
static int
change(const char *sub, const struct opts *o)
{
	char cmd[32];
	cu_fmt_cut(cmd, sizeof(cmd), "user %s", sub); /* for messages */
	char *pw = NULL;
	size_t pwlen = 0;
	bool needs_pw = strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0;
	if (needs_pw) {
		/* check the rules before asking, so a bad name does not cost a prompt */
		if (cu_auth_user_name_check(o->name) < 0) {
			fprintf(stderr, "custody %s: --name: %s\n", cmd, cu_error_detail());
			return EXIT_ERROR;
		}
		if (new_password(cmd, o->pwfile, o->name, &pw, &pwlen) != 0)
			return EXIT_ERROR;
	}
	struct cli_admin ad;
	if (cli_admin_open(cmd, o->store, o->store_pwfile, &ad) != 0) {
		if (pw != NULL)
			cu_secret_free(pw, pwlen);
		return EXIT_ERROR;
	}
	cu_auth *a = ad.a;
	struct cu_auth_event ev;
	int r;
	const char *what;
	if (strcmp(sub, "add") == 0) {
		r = cu_auth_user_add(a, o->name, pw, pwlen, o->roles, o->nroles, &ev);
		what = "cannot add the user";
	} else if (strcmp(sub, "passwd") == 0) {
		r = cu_auth_user_passwd(a, o->name, pw, pwlen, &ev);
		what = "cannot change the password";
	} else if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0) {
		r = cu_auth_user_set_disabled(a, o->name, sub[0] == 'd', &ev);
		what = sub[0] == 'd' ? "cannot disable the user" : "cannot enable the user";
	} else if (strcmp(sub, "delete") == 0) {
		r = cu_auth_user_delete(a, o->name, &ev);
		what = "cannot delete the user";
	} else if (strcmp(sub, "unlock") == 0) {
		r = cu_auth_user_unlock(a, o->name, &ev);
		what = "cannot unlock the user";
	} else {
		r = cu_auth_user_revoke_tokens(a, o->name, &ev);
		what = "cannot revoke the user's tokens";
	}
	if (pw != NULL)
		cu_secret_free(pw, pwlen);
	if ((r = cli_admin_done(cmd, &ad, r, what, &ev)) != 0)
		return r;
	printf("%s: user %s (id %lld)%s%s\n", ev.action, ev.user, (long long)ev.user_id,
	       ev.detail[0] ? ", " : "", ev.detail);
	return 0;
}

int
cmd_user(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"name", required_argument, NULL, 'n'},
		{"role", required_argument, NULL, 'r'},
		{"password-file", required_argument, NULL, 'p'},
		{"store-password-file", required_argument, NULL, 'P'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	static const char *const subs[] = {
		"add", "passwd", "disable", "enable", "delete", "unlock", "logout", "list",
	};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_ERROR : 0;
	}
	const char *sub = argv[1];
	bool known = false;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		known |= strcmp(sub, subs[i]) == 0;
	if (!known)
		return cli_usage("user", "unknown subcommand \"%s\": expected add, passwd, disable, "
		                 "enable, delete, unlock, logout or list", sub);
	char cmd[32];
	cu_fmt_cut(cmd, sizeof(cmd), "user %s", sub); /* for messages */
	struct opts o = {0};
	int c;
	argc--;
	argv++;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 's': o.store = optarg; break;
		case 'n': o.name = optarg; break;
		case 'p': o.pwfile = optarg; break;
		case 'P': o.store_pwfile = optarg; break;
		case 'j': o.json = true; break;
		case 'r':
			if (o.nroles == ROLES_PER_ADD)
				return cli_usage(cmd, "more than %d --role options", ROLES_PER_ADD);
			o.roles[o.nroles++] = optarg;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cmd, argv);
		}
	}
	int bad = cli_options_end(cmd, argc, argv, o.store);
	if (bad >= 0)
		return bad;
	bool is_list = strcmp(sub, "list") == 0, is_add = strcmp(sub, "add") == 0;
	bool takes_pw = is_add || strcmp(sub, "passwd") == 0;
	if (is_list) {
		if (o.name != NULL || o.nroles > 0 || o.pwfile != NULL || o.store_pwfile != NULL)
			return cli_usage(cmd, "list takes only --store and --json");
		return list(&o);
	}
	if (o.name == NULL)
		return cli_usage(cmd, "--name USER is required");
	if (o.json)
		return cli_usage(cmd, "--json is for list only");
	if (o.nroles > 0 && !is_add)
		return cli_usage(cmd, "--role is for add only (custody role assign gives roles later)");
	if (o.pwfile != NULL && !takes_pw)
		return cli_usage(cmd, "--password-file is for add and passwd only");
	return change(sub, &o);
}
