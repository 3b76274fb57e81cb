/* custody profile add|set|delete|assign|list --store DIR ...
 *
 * Export profiles in STORE/auth.db: which formats a role's users may export
 * and how evidence packages are protected, each setting locked (enforced by
 * the server) or not (a default the client may change). Like custody role,
 * a change needs the store password: it goes into the audit log. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "custody/auth.h"
#include "custody/parse.h"
#include "custody/text.h"

#define SETTINGS_PER_CALL 32

static const char profile_help[] =
	"usage: custody profile add|set --store DIR --name PROFILE [--formats F[,F...]]\n"
	"                           [--set SETTING=VALUE ...] [--lock SETTING ...]\n"
	"                           [--unlock SETTING ...]\n"
	"       custody profile delete --store DIR --name PROFILE\n"
	"       custody profile assign --store DIR --role ROLE (--name PROFILE | --none)\n"
	"       custody profile list --store DIR [--json]\n"
	"       (every change also [--store-password-file F]: it goes into the audit log)\n"
	"Formats: evidence, mp4, stills. Settings (of evidence packages, but\n"
	"comments_required, which applies to every format):\n"
	"  password_required=on|off    password_min_length=8..128   encryption=on|off\n"
	"  signature=on (always)       prevent_reexport=on|off      comments_required=on|off\n"
	"  include_player=on|off       (--lock all / --unlock all: every setting)\n"
	"A locked setting is enforced by the server whatever the client asks; an\n"
	"unlocked one is a default the client may change. add starts from the built-in\n"
	"profile \"default\" (evidence only, encryption and a password of 12 or more\n"
	"characters, comments required, all locked; prevent_reexport off and\n"
	"include_player on, unlocked); set changes only what is given. A role has at\n"
	"most one profile; users whose roles have none get \"default\". Works on\n"
	"DIR/auth.db.\n";

struct opts {
	const char *store, *name, *role, *formats, *store_pwfile;
	const char *sets[SETTINGS_PER_CALL], *locks[SETTINGS_PER_CALL], *unlocks[SETTINGS_PER_CALL];
	size_t nsets, nlocks, nunlocks;
	bool none, json;
};

static const struct option long_opts[] = {
	{"store", required_argument, NULL, 's'},
	{"name", required_argument, NULL, 'n'},
	{"role", required_argument, NULL, 'r'},
	{"formats", required_argument, NULL, 'f'},
	{"set", required_argument, NULL, 'S'},
	{"lock", required_argument, NULL, 'L'},
	{"unlock", required_argument, NULL, 'U'},
	{"none", no_argument, NULL, 'x'},
	{"json", no_argument, NULL, 'j'},
	{"store-password-file", required_argument, NULL, 'P'},
	{"help", no_argument, NULL, 'h'},
	{0, 0, 0, 0},
};

/* Appends an option's value to a bounded list. */
static int
collect(const char *cmd, const char *opt, const char **list, size_t *n, const char *value)
{
	if (*n == SETTINGS_PER_CALL)
		return cli_usage(cmd, "more than %d %s options", SETTINGS_PER_CALL, opt);
	list[(*n)++] = value;
	return -1;
}

/* Parses the options after "profile <sub>"; returns -1 to go on, or an exit code. */
static int
parse(const char *cmd, int argc, char **argv, struct opts *o)
{
	int c, rc;
	while ((c = cli_next_option(argc, argv, long_opts)) != -1) {
		switch (c) {
		case 's': o->store = optarg; break;
		case 'n': o->name = optarg; break;
		case 'r': o->role = optarg; break;
		case 'f': o->formats = optarg; break;
		case 'x': o->none = true; break;
		case 'j': o->json = true; break;
		case 'P': o->store_pwfile = optarg; break;
		case 'S':
			if ((rc = collect(cmd, "--set", o->sets, &o->nsets, optarg)) >= 0)
				return rc;
			break;
		case 'L':
			if ((rc = collect(cmd, "--lock", o->locks, &o->nlocks, optarg)) >= 0)
				return rc;
			break;
		case 'U':
			if ((rc = collect(cmd, "--unlock", o->unlocks, &o->nunlocks, optarg)) >= 0)
				return rc;
			break;
		case 'h': fputs(profile_help, stdout); return 0;
		default: return cli_bad_option(cmd, argv);
		}
	}
	return cli_options_end(cmd, argc, argv, o->store);
}

/* Which options a subcommand takes, checked so that a misplaced one is an
 * error rather than silently ignored. */
static int
only(const char *cmd, const struct opts *o, const char *allowed)
{
	const struct cli_seen seen[] = {
		{'n', o->name != NULL, "--name"}, {'r', o->role != NULL, "--role"},
		{'f', o->formats != NULL, "--formats"}, {'S', o->nsets > 0, "--set"},
		{'L', o->nlocks > 0, "--lock"}, {'U', o->nunlocks > 0, "--unlock"},
		{'x', o->none, "--none"}, {'j', o->json, "--json"},
		{'P', o->store_pwfile != NULL, "--store-password-file"},
	};
	return cli_only(cmd, seen, sizeof(seen) / sizeof(seen[0]), allowed);
}

/* "on"/"off" and their usual spellings. */
static int
parse_bool(const char *s, int *ret)
{
	static const char *const yes[] = {"on", "yes", "true", "1"}, *const no[] = {"off", "no",
	                                                                       "false", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*ret = 0;
			return 0;
		}
	}
	return -1;
}

/* Applies --formats, --set, --lock and --unlock to p; an exit code on error. */
static int
apply(const char *cmd, const struct opts *o, struct cu_export_profile *p)
{
	if (o->formats != NULL) {
		char buf[64];
		int k = snprintf(buf, sizeof(buf), "%s", o->formats);
		if (k < 0 || (size_t)k >= sizeof(buf))
			return cli_usage(cmd, "--formats: expected evidence, mp4 and stills, separated by "
			                 "commas");
		p->formats = 0;
		char *save = NULL;
		for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
			unsigned f;
			if (cu_auth_export_format_parse(t, &f) < 0)
				return cli_usage(cmd, "--formats: %s", cu_error_detail());
			p->formats |= f;
		}
		if (p->formats == 0)
			return cli_usage(cmd, "--formats: name at least one of evidence, mp4, stills");
	}
	for (size_t i = 0; i < o->nsets; i++) {
		char key[64];
		const char *eq = strchr(o->sets[i], '=');
		int s, v;
		int k = eq == NULL ? -1 : snprintf(key, sizeof(key), "%.*s", (int)(eq - o->sets[i]),
		                                   o->sets[i]);
		if (k < 0 || (size_t)k >= sizeof(key))
			return cli_usage(cmd, "--set %s: expected SETTING=VALUE", o->sets[i]);
		if (cu_auth_profile_setting_parse(key, &s) < 0)
			return cli_usage(cmd, "--set: %s", cu_error_detail());
		if (s == CU_PS_PASSWORD_MIN_LENGTH) {
			uint64_t n;
			if (cu_parse_u64(eq + 1, CU_PROFILE_PASSWORD_MIN_MAX, "password_min_length",
			                 &n) < 0 || n < CU_PROFILE_PASSWORD_MIN)
				return cli_usage(cmd, "--set password_min_length: expected a number of "
				                 "characters from %d to %d", CU_PROFILE_PASSWORD_MIN,
				                 CU_PROFILE_PASSWORD_MIN_MAX);
			v = (int)n;
		} else if (parse_bool(eq + 1, &v) < 0) {
			return cli_usage(cmd, "--set %s: expected on or off", key);
		}
		p->set[s].value = v;
	}
	for (int lock = 1; lock >= 0; lock--) {
		const char *const *list = lock ? o->locks : o->unlocks;
		size_t n = lock ? o->nlocks : o->nunlocks;
		for (size_t i = 0; i < n; i++) {
			int s;
			if (strcmp(list[i], "all") == 0) {
				for (s = 0; s < CU_PS_COUNT; s++)
					p->set[s].locked = lock;
				continue;
			}
			if (cu_auth_profile_setting_parse(list[i], &s) < 0)
				return cli_usage(cmd, "%s: %s", lock ? "--lock" : "--unlock",
				                 cu_error_detail());
			p->set[s].locked = lock;
		}
	}
	/* signature is always on, and so always as good as locked */
	p->set[CU_PS_SIGNATURE].locked = true;
	return -1;
}

static void
print_event(const struct cu_auth_event *ev)
{
	printf("%s: profile %s", ev->action, ev->profile);
	if (ev->role[0])
		printf(", role %s", ev->role);
	if (ev->detail[0])
		printf(", %s", ev->detail);
	printf("\n");
}

static json_t *
profile_json(const struct cu_export_profile *p)
{
	json_t *formats = json_array(), *set = json_object(), *roles = json_array();
	for (unsigned b = 1; b <= CU_EXPORT_STILLS; b <<= 1)
		if (p->formats & b)
			json_array_append_new(formats, json_string(cu_auth_export_format_name(b)));
	for (int i = 0; i < CU_PS_COUNT; i++)
		json_object_set_new(set, cu_auth_profile_setting_name(i),
		                    json_pack("{s:o, s:b}", "value", i == CU_PS_PASSWORD_MIN_LENGTH
		                              ? json_integer(p->set[i].value)
		                              : json_boolean(p->set[i].value), "locked",
		                              p->set[i].locked));
	for (size_t i = 0; i < p->nroles; i++)
		json_array_append_new(roles, json_string(p->roles[i]));
	return json_pack("{s:s, s:b, s:o, s:o, s:o, s:o, s:o}", "name", p->name, "builtin",
	                 p->builtin, "formats", formats, "settings", set, "roles", roles, "created",
	                 cli_json_time(p->builtin ? -1 : p->created_us), "updated",
	                 cli_json_time(p->builtin ? -1 : p->updated_us));
}

static void
print_profile(const struct cu_export_profile *p)
{
	printf("%s%s\n", p->name, p->builtin ? " (built-in: for users whose roles have no profile)"
	                                     : "");
	printf("  %-20s", "formats");
	for (unsigned b = 1, first = 1; b <= CU_EXPORT_STILLS; b <<= 1)
		if (p->formats & b) {
			printf("%s%s", first ? "" : ", ", cu_auth_export_format_name(b));
			first = 0;
		}
	printf("\n");
	for (int i = 0; i < CU_PS_COUNT; i++) {
		if (i == CU_PS_PASSWORD_MIN_LENGTH)
			printf("  %-20s%d", cu_auth_profile_setting_name(i), p->set[i].value);
		else
			printf("  %-20s%s", cu_auth_profile_setting_name(i), p->set[i].value ? "on" : "off");
		printf("%s\n", p->set[i].locked ? " (locked)" : "");
	}
	if (!p->builtin) {
		printf("  %-20s", "roles");
		for (size_t i = 0; i < p->nroles; i++)
			printf("%s%s", i ? ", " : "", p->roles[i]);
		printf("%s\n", p->nroles ? "" : "(none)");
	}
}

static int
profile_list(const char *cmd, const struct opts *o)
{
	cu_store *s;
	cu_auth *a;
	struct cu_export_profile *v = NULL, builtin;
	size_t n = 0;
	if (cli_auth_open(cmd, o->store, CU_AUTH_READONLY, &s, &a) != 0)
		return EXIT_ERROR;
	if (a != NULL) {
		int r = cu_auth_profile_list(a, &v, &n);
		cu_auth_close(a);
		cu_store_close(s);
		if (r < 0)
			return cli_fail(cmd, r, "cannot list export profiles");
	}
	cu_auth_profile_default(&builtin);
	int rc = 0;
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, profile_json(&v[i]));
		json_array_append_new(arr, profile_json(&builtin));
		json_t *root = json_pack("{s:o}", "profiles", arr);
		rc = json_dumpf(root, stdout, JSON_INDENT(2)) < 0 ? EXIT_ERROR : 0;
		printf("\n");
		json_decref(root);
	} else {
		for (size_t i = 0; i < n; i++)
			print_profile(&v[i]);
		print_profile(&builtin);
	}
	cu_auth_profiles_free(v, n);
	return rc;
}

int
cmd_profile(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(profile_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_ERROR : 0;
	}
	const char *sub = argv[1];
	char cmd[32];
	cu_fmt_cut(cmd, sizeof(cmd), "profile %.16s", sub); /* for messages */
	static const char *const subs[] = {"add", "set", "delete", "assign", "list"};
	bool known = false;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		known |= strcmp(sub, subs[i]) == 0;
	if (!known)
		return cli_usage("profile", "unknown subcommand \"%s\": expected add, set, delete, "
		                 "assign or list", sub);
	struct opts o = {0};
	int rc = parse(cmd, argc - 1, argv + 1, &o);
	if (rc >= 0)
		return rc;
	bool change = strcmp(sub, "add") == 0 || strcmp(sub, "set") == 0;
	bool is_assign = strcmp(sub, "assign") == 0;
	if (strcmp(sub, "list") == 0)
		return (rc = only(cmd, &o, "j")) >= 0 ? rc : profile_list(cmd, &o);
	if ((rc = only(cmd, &o, change ? "nfSLUP" : is_assign ? "nrxP" : "nP")) >= 0)
		return rc;
	if (is_assign) {
		if (o.role == NULL)
			return cli_usage(cmd, "--role ROLE is required");
		if ((o.name != NULL) == o.none)
			return cli_usage(cmd, "give exactly one of --name PROFILE, --none");
	} else if (o.name == NULL) {
		return cli_usage(cmd, "--name PROFILE is required");
	}
	if (strcmp(sub, "set") == 0 && o.formats == NULL && o.nsets + o.nlocks + o.nunlocks == 0)
		return cli_usage(cmd, "nothing to change: give --formats, --set, --lock or --unlock");

	struct cu_export_profile p;
	if (strcmp(sub, "add") == 0) {
		cu_auth_profile_default(&p);
		p.builtin = false;
		int k = snprintf(p.name, sizeof(p.name), "%s", o.name);
		if (k < 0 || (size_t)k >= sizeof(p.name) || k > CU_PROFILE_NAME_MAX)
			return cli_usage(cmd, "--name: longer than %d characters", CU_PROFILE_NAME_MAX);
		if ((rc = apply(cmd, &o, &p)) >= 0)
			return rc;
	}
	struct cli_admin ad;
	if (cli_admin_open(cmd, o.store, o.store_pwfile, &ad) != 0)
		return EXIT_ERROR;
	cu_auth *a = ad.a;
	struct cu_auth_event ev;
	int r;
	char what[64];
	cu_fmt_cut(what, sizeof(what), "cannot %s the export profile", sub);
	if (strcmp(sub, "add") == 0) {
		r = cu_auth_profile_add(a, &p, &ev);
	} else if (strcmp(sub, "set") == 0) {
		/* another process may change it between get and update: the last
		 * writer wins, as with any administration */
		if ((r = cu_auth_profile_get(a, o.name, &p)) == 0) {
			cu_auth_profile_clear(&p);
			if (p.builtin) {
				r = cu_auth_profile_update(a, &p, &ev); /* refused, with the reason */
			} else if ((rc = apply(cmd, &o, &p)) >= 0) {
				cli_admin_finish(cmd, &ad, rc); /* nothing changed, nothing logged */
				return rc;
			} else {
				r = cu_auth_profile_update(a, &p, &ev);
			}
		}
	} else if (strcmp(sub, "delete") == 0) {
		r = cu_auth_profile_delete(a, o.name, &ev);
	} else {
		r = cu_auth_profile_assign(a, o.role, o.none ? NULL : o.name, &ev);
	}
	if ((r = cli_admin_done(cmd, &ad, r, what, &ev)) != 0)
		return r;
	print_event(&ev);
	return 0;
}
