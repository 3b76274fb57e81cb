/* custody CLI: shared helpers for the subcommands (one file each). */
#ifndef CU_CLI_H
#define CU_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "custody/error.h"
#include "custody/media.h"

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
int cmd_profile(int argc, char **argv);
int cmd_tls(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_player(int argc, char **argv);
int cmd_notify_test(int argc, char **argv);
int cmd_tamper_scan(int argc, char **argv);

/* Opens the store without its password and its auth.db (cmd-user.c), for
 * user, role and group. With CU_AUTH_READONLY a store without auth.db gives
 * 0 and NULL handles (nothing to list). Prints the error, returns EXIT_ERROR. */
struct cu_store;
struct cu_auth;
int cli_auth_open(const char *cmd, const char *dir, unsigned flags, struct cu_store **ret_s,
                  struct cu_auth **ret_a);

/* A change of users, roles, groups or export profiles (cmd-user.c): the
 * store opened with its password (--store-password-file F, or asked on the
 * terminal), auth.db for writing, and the audit log, so that every change
 * is an audit entry under a signed head (as one made through the API). */
struct cu_audit;
struct cu_auth_event;
struct cli_admin {
	struct cu_store *s;
	struct cu_auth *a;
	struct cu_audit *au;
};
/* 0, or EXIT_ERROR printed (nothing open). */
int cli_admin_open(const char *cmd, const char *dir, const char *store_pwfile,
                   struct cli_admin *ret);
/* Appends the entry of one change made: type ev->action, actor "operator",
 * source "cli", detail the event and the Unix uid. 0, or EXIT_ERROR printed
 * (the change was made but is not logged, and it says so). */
int cli_admin_log(const char *cmd, struct cli_admin *ad, const struct cu_auth_event *ev);
/* Signs a head over what was appended and closes everything: 0 or EXIT_ERROR
 * printed. rc is passed on when it is already an error. */
int cli_admin_finish(const char *cmd, struct cli_admin *ad, int rc);
/* One change: r its result (< 0: printed with what, nothing logged), then
 * log and finish. */
int cli_admin_done(const char *cmd, struct cli_admin *ad, int r, const char *what,
                   const struct cu_auth_event *ev);

/* Prints "custody <cmd>: <what>: <library detail or strerror>" to stderr and
 * returns EXIT_ERROR. */
int cli_fail(const char *cmd, int err, const char *what);

/* The next long option of a command (getopt_long with no short options and
 * getopt's own messages off: the caller reports with cli_usage). Returns -1
 * at the end, '?' or ':' for an unknown or incomplete option. */
struct option;
int cli_next_option(int argc, char **argv, const struct option *opts);

/* The usage error for the option cli_next_option just refused: EXIT_ERROR. */
int cli_bad_option(const char *cmd, char **argv);

/* After the options: nothing may be left over, and --store (store) is
 * required. -1 to go on, or EXIT_ERROR printed. */
int cli_options_end(const char *cmd, int argc, char **argv, const char *store);

/* An option as a subcommand check sees it: its letter, whether it was given,
 * its name. cli_only refuses (EXIT_ERROR, printed) the first given option
 * whose letter is not in allowed, so that a misplaced one is an error rather
 * than silently ignored; -1 to go on. */
struct cli_seen {
	char key;
	bool set;
	const char *name;
};
int cli_only(const char *cmd, const struct cli_seen *seen, size_t n, const char *allowed);

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

/* The signed event records among a report's records (kind "event", lib
 * store's cu_event_periods) as periods: a JSON array of {camera, type,
 * source, severity, from, to, detail} (to null while open, from null for a
 * clear whose raise is outside), or NULL when they cannot be read. */
struct cu_verify_gap;
struct json_t *cli_events_json(const char *camera, const struct cu_verify_gap *g, size_t n);
/* The same as lines for a person, each starting with indent. */
void cli_events_print(const char *indent, const struct cu_verify_gap *g, size_t n);
/* Is this record an event (listed by the two above, not among the gaps)? */
bool cli_gap_is_event(const struct cu_verify_gap *g);

/* Parses ISO 8601 from an option, with a message naming the option. */
int cli_time_arg(const char *cmd, const char *opt, const char *value, int64_t *ret);

/* ---- evidence packages (cli/package.c) ---- */
struct cu_pkg_report;

/* The package password from file (first line; the file must not be readable
 * or writable by others) or, without one, asked on the terminal (twice when
 * confirm). opt names the option in messages. check_len: at least
 * CU_PKG_PASSWORD_MIN bytes (a new password). Wiped by cli_password_free. */
int cli_pkg_password_get(const char *cmd, const char *opt, const char *file, bool confirm,
                         bool check_len, struct cli_password *ret);

/* Is path (through symbolic links) an evidence package? 0 no, 1 yes (with
 * its clear flags), 2 it starts like one but its header does not read
 * (damaged, or a newer version; flags false). */
int cli_pkg_probe(const char *path, bool *ret_encrypted, bool *ret_prevent_reexport);

/* When path is an evidence package, prints "custody <cmd>: <opt> <path> is a
 * custody evidence package: <what>" (and what its prevent-re-export flag
 * means) and returns EXIT_ERROR; else 0. opt may be NULL. */
int cli_pkg_refuse(const char *cmd, const char *opt, const char *path, const char *what);

/* Verifies the package at path with a progress bar: the password from
 * pwfile, or asked on the terminal when the package is encrypted (asked
 * again after a wrong one, up to 3 times; before_retry(frame_ctx) runs
 * before each retry so that on_frame's output can be reset). 0 with *ret (a
 * report of any status: intact, tampered, damaged, wrong password) and, when
 * ret_password is not NULL, the password used (empty when none; the caller
 * frees it with cli_password_free), or EXIT_ERROR printed. */
int cli_pkg_verify(const char *cmd, const char *path, const char *pwfile, const uint8_t *pin,
                   int (*on_frame)(void *, const char *, const cu_frame *), void *frame_ctx,
                   void (*before_retry)(void *), struct cu_pkg_report **ret,
                   struct cli_password *ret_password);

/* EXIT_INTACT, EXIT_TAMPERED (tampered or damaged) or EXIT_ERROR (wrong
 * password) for a report; and its status as a word ("intact", "tampered",
 * "damaged", "wrong_password"). */
int cli_pkg_exit_code(const struct cu_pkg_report *rep);
const char *cli_pkg_status_name(int status);

/* Writes text that came from outside (a package) to a terminal: what the
 * rule for text (cu_text_char_ok: control and bidi characters) refuses and
 * bytes that are not UTF-8 become '?', tabs spaces, and each line break is
 * followed by indent (NULL: none). */
void cli_print_safe(FILE *f, const char *s, const char *indent);

#endif
