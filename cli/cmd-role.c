/* custody role add|delete|grant|revoke|assign|unassign|list --store DIR ...
 * custody group add|remove|delete|list --store DIR ...
 *
 * Roles and the camera groups they are granted on, in STORE/auth.db. Groups
 * live here with roles because they exist only to be granted on. Like
 * custody user, a change needs the store password: it is written to the
 * audit log under a signed head (cli_admin_open). */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "custody/auth.h"
#include "custody/text.h"

#define CAMERAS_PER_CALL 256

static const char role_help[] =
	"usage: custody role add|delete --store DIR --name ROLE\n"
	"       custody role grant|revoke --store DIR --name ROLE --function F\n"
	"                                 (--camera CAMERA | --group GROUP | --all)\n"
	"       custody role assign|unassign --store DIR --role ROLE --user USER\n"
	"       custody role list --store DIR [--json]\n"
	"       (every change also [--store-password-file F]: it goes into the audit log)\n"
	"Functions: live, playback, export, bookmark, evidence_lock, audit_read, admin\n"
	"(admin only with --all: it implies every function on every camera). A user sees\n"
	"only the cameras some role of theirs grants a function on. Works on DIR/auth.db.\n";

static const char group_help[] =
	"usage: custody group add --store DIR --name GROUP [--camera CAMERA ...]\n"
	"       custody group remove --store DIR --name GROUP --camera CAMERA ...\n"
	"       custody group delete --store DIR --name GROUP\n"
	"       custody group list --store DIR [--json]\n"
	"       (every change also [--store-password-file F]: it goes into the audit log)\n"
	"Camera groups, for granting a role a function on several cameras at once\n"
	"(custody role grant --group GROUP). add creates the group if it is new and adds\n"
	"the cameras; delete also removes every grant on the group.\n";

struct opts {
	const char *store, *name, *function, *camera, *group, *role, *user, *store_pwfile;
	const char *cameras[CAMERAS_PER_CALL];
	size_t ncameras;
	bool all, json;
};

static const struct option long_opts[] = {
	{"store", required_argument, NULL, 's'},
	{"name", required_argument, NULL, 'n'},
	{"function", required_argument, NULL, 'f'},
	{"camera", required_argument, NULL, 'c'},
	{"group", required_argument, NULL, 'g'},
	{"all", no_argument, NULL, 'a'},
	{"role", required_argument, NULL, 'r'},
	{"json", no_argument, NULL, 'j'},
	{"user", required_argument, NULL, 'u'},
	{"store-password-file", required_argument, NULL, 'P'},
	{"help", no_argument, NULL, 'h'},
	{0, 0, 0, 0},
};

/* Which options a subcommand takes, checked so that a misplaced one is an
 * error rather than silently ignored. */
static int
only(const char *cmd, const struct opts *o, const char *allowed)
{
	const struct cli_seen seen[] = {
		{'n', o->name != NULL, "--name"}, {'f', o->function != NULL, "--function"},
		{'c', o->ncameras > 0, "--camera"}, {'g', o->group != NULL, "--group"},
		{'a', o->all, "--all"}, {'r', o->role != NULL, "--role"},
		{'u', o->user != NULL, "--user"}, {'j', o->json, "--json"},
		{'P', o->store_pwfile != NULL, "--store-password-file"},
	};
	return cli_only(cmd, seen, sizeof(seen) / sizeof(seen[0]), allowed);
}

/* Parses the options after "<command> <sub>"; returns -1 to go on, or an exit code. */
static int
parse(const char *cmd, const char *help, int argc, char **argv, struct opts *o)
{
	int c;
	while ((c = cli_next_option(argc, argv, long_opts)) != -1) {
		switch (c) {
		case 's': o->store = optarg; break;
		case 'n': o->name = optarg; break;
		case 'f': o->function = optarg; break;
		case 'g': o->group = optarg; break;
		case 'a': o->all = true; break;
		case 'r': o->role = optarg; break;
		case 'u': o->user = optarg; break;
		case 'j': o->json = true; break;
		case 'P': o->store_pwfile = optarg; break;
		case 'c':
			if (o->ncameras == CAMERAS_PER_CALL)
				return cli_usage(cmd, "more than %d --camera options", CAMERAS_PER_CALL);
			o->cameras[o->ncameras++] = o->camera = optarg;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cmd, argv);
		}
	}
	return cli_options_end(cmd, argc, argv, o->store);
}

static void
print_event(const struct cu_auth_event *ev)
{
	printf("%s:", ev->action);
	if (ev->role[0])
		printf(" role %s", ev->role);
	if (ev->function[0])
		printf(" %s on %s", ev->function, ev->scope);
	if (ev->user[0])
		printf(" user %s", ev->user);
	if (ev->group[0])
		printf(" group %s", ev->group);
	if (ev->camera[0])
		printf(" camera %s", ev->camera);
	if (ev->detail[0])
		printf(", %s", ev->detail);
	printf("\n");
}

static int
role_list(const char *cmd, const struct opts *o)
{
	cu_store *s;
	cu_auth *a;
	struct cu_auth_role *v = NULL;
	size_t n = 0;
	if (cli_auth_open(cmd, o->store, CU_AUTH_READONLY, &s, &a) != 0)
		return EXIT_ERROR;
	if (a != NULL) {
		int r = cu_auth_role_list(a, &v, &n);
		cu_auth_close(a);
		cu_store_close(s);
		if (r < 0)
			return cli_fail(cmd, r, "cannot list roles");
	}
	int rc = 0;
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *grants = json_array(), *users = json_array();
			for (size_t j = 0; j < v[i].ngrants; j++)
				json_array_append_new(grants, json_pack("{s:s, s:s}", "function",
				                      cu_auth_function_name(v[i].grants[j].function), "scope",
				                      v[i].grants[j].scope));
			for (size_t j = 0; j < v[i].nusers; j++)
				json_array_append_new(users, json_string(v[i].users[j]));
			json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "name", v[i].name,
			                                     "grants", grants, "users", users));
		}
		json_t *root = json_pack("{s:o}", "roles", arr);
		rc = json_dumpf(root, stdout, JSON_INDENT(2)) < 0 ? EXIT_ERROR : 0;
		printf("\n");
		json_decref(root);
	} else if (n == 0) {
		printf("no roles\n");
	} else {
		for (size_t i = 0; i < n; i++) {
			printf("%s\n", v[i].name);
			for (size_t j = 0; j < v[i].ngrants; j++)
				printf("  grant %-14s on %s\n", cu_auth_function_name(v[i].grants[j].function),
				       v[i].grants[j].scope);
			if (v[i].ngrants == 0)
				printf("  (no grants)\n");
			for (size_t j = 0; j < v[i].nusers; j++)
				printf("  user  %s\n", v[i].users[j]);
		}
	}
	cu_auth_roles_free(v, n);
	return rc;
}

int
cmd_role(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(role_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_ERROR : 0;
	}
	const char *sub = argv[1];
	char cmd[32];
	cu_fmt_cut(cmd, sizeof(cmd), "role %.16s", sub); /* for messages */
	static const char *const subs[] = {
		"add", "delete", "grant", "revoke", "assign", "unassign", "list",
	};
	bool known = false;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		known |= strcmp(sub, subs[i]) == 0;
	if (!known)
		return cli_usage("role", "unknown subcommand \"%s\": expected add, delete, grant, "
		                 "revoke, assign, unassign or list", sub);
	struct opts o = {0};
	int rc = parse(cmd, role_help, argc - 1, argv + 1, &o);
	if (rc >= 0)
		return rc;
	bool is_grant = strcmp(sub, "grant") == 0 || strcmp(sub, "revoke") == 0;
	bool is_assign = strcmp(sub, "assign") == 0 || strcmp(sub, "unassign") == 0;
	if (strcmp(sub, "list") == 0)
		return (rc = only(cmd, &o, "j")) >= 0 ? rc : role_list(cmd, &o);
	if ((rc = only(cmd, &o, is_grant ? "nfcgaP" : is_assign ? "ruP" : "nP")) >= 0)
		return rc;

	int fn = 0;
	char scope[CU_SCOPE_MAX + 1] = "";
	if (is_assign) {
		if (o.role == NULL || o.user == NULL)
			return cli_usage(cmd, "--role ROLE and --user USER are required");
	} else if (o.name == NULL) {
		return cli_usage(cmd, "--name ROLE is required");
	}
	if (is_grant) {
		if (o.function == NULL)
			return cli_usage(cmd, "--function F is required");
		if (cu_auth_function_parse(o.function, &fn) < 0)
			return cli_usage(cmd, "--function: %s", cu_error_detail());
		int scopes = (o.ncameras > 0) + (o.group != NULL) + o.all;
		if (scopes != 1 || o.ncameras > 1)
			return cli_usage(cmd, "give exactly one of --camera CAMERA, --group GROUP, --all");
		int k;
		if (o.all)
			k = snprintf(scope, sizeof(scope), "*");
		else if (o.group != NULL && strlen(o.group) <= CU_GROUP_NAME_MAX)
			k = snprintf(scope, sizeof(scope), "group:%s", o.group);
		else if (o.group != NULL)
			return cli_usage(cmd, "--group: longer than %d characters", CU_GROUP_NAME_MAX);
		else if (strlen(o.camera) <= CU_CAMERA_NAME_MAX)
			k = snprintf(scope, sizeof(scope), "%s", o.camera);
		else
			return cli_usage(cmd, "--camera: longer than %d characters", CU_CAMERA_NAME_MAX);
		if (k < 0 || (size_t)k >= sizeof(scope))
			return cli_usage(cmd, "the scope is longer than %zu bytes", sizeof(scope) - 1);
	}

	struct cli_admin ad;
	if (cli_admin_open(cmd, o.store, o.store_pwfile, &ad) != 0)
		return EXIT_ERROR;
	cu_auth *a = ad.a;
	char what[64];
	cu_fmt_cut(what, sizeof(what), "cannot %s the role", sub);
	struct cu_auth_event ev;
	int r;
	if (strcmp(sub, "add") == 0)
		r = cu_auth_role_add(a, o.name, &ev);
	else if (strcmp(sub, "delete") == 0)
		r = cu_auth_role_delete(a, o.name, &ev);
	else if (strcmp(sub, "grant") == 0)
		r = cu_auth_role_grant(a, o.name, fn, scope, &ev);
	else if (strcmp(sub, "revoke") == 0)
		r = cu_auth_role_revoke(a, o.name, fn, scope, &ev);
	else if (strcmp(sub, "assign") == 0)
		r = cu_auth_role_assign(a, o.role, o.user, &ev);
	else
		r = cu_auth_role_unassign(a, o.role, o.user, &ev);
	if ((r = cli_admin_done(cmd, &ad, r, what, &ev)) != 0)
		return r;
	print_event(&ev);
	return 0;
}

static int
group_list(const char *cmd, const struct opts *o)
{
	cu_store *s;
	cu_auth *a;
	struct cu_auth_group *v = NULL;
	size_t n = 0;
	if (cli_auth_open(cmd, o->store, CU_AUTH_READONLY, &s, &a) != 0)
		return EXIT_ERROR;
	if (a != NULL) {
		int r = cu_auth_group_list(a, &v, &n);
		cu_auth_close(a);
		cu_store_close(s);
		if (r < 0)
			return cli_fail(cmd, r, "cannot list groups");
	}
	int rc = 0;
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *cams = json_array();
			for (size_t j = 0; j < v[i].ncameras; j++)
				json_array_append_new(cams, json_string(v[i].cameras[j]));
			json_array_append_new(arr, json_pack("{s:s, s:o}", "name", v[i].name, "cameras",
			                                     cams));
		}
		json_t *root = json_pack("{s:o}", "groups", arr);
		rc = json_dumpf(root, stdout, JSON_INDENT(2)) < 0 ? EXIT_ERROR : 0;
		printf("\n");
		json_decref(root);
	} else if (n == 0) {
		printf("no camera groups\n");
	} else {
		for (size_t i = 0; i < n; i++) {
			printf("%s:", v[i].name);
			for (size_t j = 0; j < v[i].ncameras; j++)
				printf(" %s", v[i].cameras[j]);
			printf("%s\n", v[i].ncameras ? "" : " (no cameras)");
		}
	}
	cu_auth_groups_free(v, n);
	return rc;
}

int
cmd_group(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(group_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_ERROR : 0;
	}
	const char *sub = argv[1];
	char cmd[32];
	cu_fmt_cut(cmd, sizeof(cmd), "group %.16s", sub); /* for messages */
	if (strcmp(sub, "add") != 0 && strcmp(sub, "remove") != 0 && strcmp(sub, "delete") != 0 &&
	    strcmp(sub, "list") != 0)
		return cli_usage("group", "unknown subcommand \"%s\": expected add, remove, delete "
		                 "or list", sub);
	struct opts o = {0};
	int rc = parse(cmd, group_help, argc - 1, argv + 1, &o);
	if (rc >= 0)
		return rc;
	if (strcmp(sub, "list") == 0)
		return (rc = only(cmd, &o, "j")) >= 0 ? rc : group_list(cmd, &o);
	if ((rc = only(cmd, &o, strcmp(sub, "delete") == 0 ? "nP" : "ncP")) >= 0)
		return rc;
	if (o.name == NULL)
		return cli_usage(cmd, "--name GROUP is required");
	if (strcmp(sub, "remove") == 0 && o.ncameras == 0)
		return cli_usage(cmd, "--camera CAMERA is required");
	/* every camera name is checked before anything changes */
	for (size_t i = 0; i < o.ncameras; i++)
		if (cu_camera_name_check(o.cameras[i]) < 0)
			return cli_usage(cmd, "--camera: %s", cu_error_detail());

	struct cli_admin ad;
	if (cli_admin_open(cmd, o.store, o.store_pwfile, &ad) != 0)
		return EXIT_ERROR;
	cu_auth *a = ad.a;
	struct cu_auth_event ev;
	int r = 0, logged = 0;
	/* each change made is logged at once: one that fails later does not
	 * take the entries of the earlier ones with it */
	if (strcmp(sub, "delete") == 0) {
		if ((r = cu_auth_group_delete(a, o.name, &ev)) == 0 &&
		    (logged = cli_admin_log(cmd, &ad, &ev)) == 0)
			print_event(&ev);
	} else if (strcmp(sub, "add") == 0) {
		r = cu_auth_group_add(a, o.name, &ev);
		if (r == 0 && (logged = cli_admin_log(cmd, &ad, &ev)) == 0)
			print_event(&ev);
		else if (r == CU_ERR_EXIST && o.ncameras > 0)
			r = 0; /* adding cameras to an existing group */
		for (size_t i = 0; r == 0 && logged == 0 && i < o.ncameras; i++) {
			r = cu_auth_group_camera_add(a, o.name, o.cameras[i], &ev);
			if (r == 0 && (logged = cli_admin_log(cmd, &ad, &ev)) == 0)
				print_event(&ev);
			else if (r == CU_ERR_EXIST) {
				printf("camera %s is already in group %s\n", o.cameras[i], o.name);
				r = 0;
			}
		}
	} else {
		for (size_t i = 0; r == 0 && logged == 0 && i < o.ncameras; i++)
			if ((r = cu_auth_group_camera_remove(a, o.name, o.cameras[i], &ev)) == 0 &&
			    (logged = cli_admin_log(cmd, &ad, &ev)) == 0)
				print_event(&ev);
	}
	int rc2 = cli_admin_finish(cmd, &ad, logged);
	if (r < 0)
		return cli_fail(cmd, r, "cannot change the group");
	return rc2;
}
