/* custody export's pieces (cmd-export.c: arguments; export-local.c: from
 * the store; export-server.c: through custodyd's API with api-client.c). */
#ifndef CLI_EXPORT_H
#define CLI_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "custody/package.h"

#define CMD "export"
#define COMMENTS_FILE_MAX (CU_PKG_COMMENTS_MAX + 2)      /* the text and a final line break */
#define URL_MAX 1024
#define ANSWER_MAX (1024 * 1024)                        /* a JSON answer of the API */
#define POLL_US 500000                                  /* between two GET exports/{id} */
#define POLL_MAX_US (24 * 3600 * INT64_C(1000000))      /* give up waiting after a day */
#define RENEW_BEFORE_US (120 * INT64_C(1000000))        /* renew a token this long before it ends */
#define CONNECT_TIMEOUT_S 15L
#define REQUEST_TIMEOUT_S 120L
#define STALL_S 60L                                     /* a download that moves nothing */
#define FOLDER_PACKAGE CU_PKG_FOLDER_PACKAGE           /* the package in an --include-player folder */

/* The command line, checked. */
struct args {
	const char *store, *server, *ca_file, *user, *pwfile, *pkg_pwfile, *out, *case_ref;
	const char *comments, *comments_file, *profile;
	char *comments_buf;                                 /* read from --comments-file */
	size_t comments_len;                                /* its bytes (NUL bytes count) */
	bool no_encryption, prevent_reexport, include_player;
	struct cu_pkg_range ranges[CU_PKG_CAMERAS_MAX];
	bool has_from[CU_PKG_CAMERAS_MAX], has_to[CU_PKG_CAMERAS_MAX];
	size_t n;
};

/* The ranges asked for, as the audit entry's "cameras" list. */
json_t *cli_export_ranges_json(const struct args *a);
/* Removes an unfinished --include-player folder (<out>.tmp and what it holds). */
void cli_export_folder_remove(const char *dir_tmp);

/* An export from the store (--store): 0 or an exit status, printed. */
int cli_export_local(struct args *a);
/* An export through a server's API (--server): 0 or an exit status, printed. */
int cli_export_server(struct args *a);

#endif
