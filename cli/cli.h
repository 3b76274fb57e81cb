/* custody CLI: shared helpers for the subcommands (one file each). */
#ifndef CU_CLI_H
#define CU_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/error.h"

/* Exit codes of every subcommand. */
enum { EXIT_INTACT = 0, EXIT_TAMPERED = 1, EXIT_ERROR = 2 };

int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_passwd(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_role(int argc, char **argv);
int cmd_group(int argc, char **argv);
int cmd_tls(int argc, char **argv);

/* Opens the store without its password and its auth.db (cmd-user.c), for
 * user, role and group. With CU_AUTH_READONLY a store without auth.db gives
 * 0 and NULL handles (nothing to list). Prints the error, returns EXIT_ERROR. */
struct cu_store;
struct cu_auth;
int cli_auth_open(const char *cmd, const char *dir, unsigned flags, struct cu_store **ret_s,
                  struct cu_auth **ret_a);

/* Prints "custody <cmd>: <what>: <library detail or strerror>" to stderr and
 * returns EXIT_ERROR. */
int cli_fail(const char *cmd, int err, const char *what);

/* Prints a usage error and returns EXIT_ERROR. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads the password from --password-file (first line; the file must not be
 * readable or writable by others) or, without one, asks on the terminal
 * (twice when confirm). The buffer is wiped by cli_password_free. */
struct cli_password {
	char *buf;
	size_t len;
};
int cli_password_get(const char *cmd, const char *file, bool confirm, struct cli_password *ret);
void cli_password_free(struct cli_password *p);

/* Asks on the terminal (/dev/tty) without echo; at most max bytes. Returns 0,
 * or -1 when there is no terminal. */
int cli_ask_secret(const char *prompt, char *buf, size_t max, size_t *ret_len);

/* A progress bar on stderr, only when stderr is a terminal. */
struct cli_progress {
	bool tty;
	const char *label;
	int64_t started_mono, last_mono;
};
void cli_progress_init(struct cli_progress *p, const char *label);
void cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t total);
void cli_progress_done(struct cli_progress *p);

/* "12.3 MB" style. */
void cli_bytes(uint64_t n, char *buf, size_t len);

/* An ISO 8601 JSON string for a time, or JSON null when us < 0. */
struct json_t;
struct json_t *cli_json_time(int64_t us);

/* Parses ISO 8601 from an option, with a message naming the option. */
int cli_time_arg(const char *cmd, const char *opt, const char *value, int64_t *ret);

#endif
