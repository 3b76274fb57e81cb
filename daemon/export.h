/* custodyd's server-side exports (docs/api.md, "Exports"): a user with the
 * export function asks for an evidence package, an MP4 or JPEG stills of
 * recorded ranges; the request is checked against the user's export profile
 * (include/custody/auth.h), written to the audit log, and run in the
 * background; the file waits in STORE/exports/ for its owner to download it,
 * for at most CD_EXPORT_KEEP_US.
 *
 * Threads: the handlers run on the HTTPS workers, each export on a thread of
 * its own (at most CD_EXPORTS_RUNNING_MAX); cd_exports_tick and
 * cd_exports_free are for the main thread. */
#ifndef CD_EXPORT_H
#define CD_EXPORT_H

#include <stdint.h>

#include "custody/audit.h"
#include "custody/auth.h"
#include "custody/package.h"
#include "custody/store.h"

#define CD_EXPORT_DIR "exports"                        /* under the store, mode 0700 */
#define CD_EXPORTS_RUNNING_MAX 2                       /* exports running at once (503 beyond) */
#define CD_EXPORTS_KEPT_MAX 64                         /* exports remembered, running or not */
#define CD_EXPORT_KEEP_US (24 * 3600 * INT64_C(1000000)) /* a file is deleted this long after
                                                          * its export was asked for */
#define CD_EXPORT_STILLS_MAX 3600                      /* JPEGs in one stills export */
#define CD_EXPORT_AT_MAX 100                           /* "at" times in one stills export */
#define CD_EXPORT_FREE_MIN CU_PKG_RECORDER_RESERVE     /* free bytes an export leaves the store */

struct cd_exports;

/* Prepares STORE/exports (store_dir is the store's directory): creates it
 * with mode 0700, or makes an existing one 0700, and deletes every file in
 * it (exports of an earlier run are forgotten with it). The store, auth and
 * audit handles are borrowed (audit may be NULL) and must outlive the
 * result. player_fd (-1: no player folders) and player_path come from
 * cd_exports_open_player; the result owns player_fd (on failure, the caller
 * still does). */
int cd_exports_new(const char *store_dir, cu_store *store, cu_auth *auth, cu_audit *audit,
                   int player_fd, const char *player_path, struct cd_exports **ret);

/* Finds the custody program that player folders carry: configured ([https]
 * player), or else "custody" in custodyd's own directory. It must be a
 * regular executable ELF file of at most CU_PKG_FOLDER_PROGRAM_MAX bytes.
 * It is opened now and the descriptor kept, so that every folder carries
 * the program that was there when the server started (the version that
 * matches it), whatever replaces the file later. path gets where it was
 * looked for, even on failure. 0, or a cu error with a detail. */
int cd_exports_open_player(const char *configured, int *ret_fd, char *path, size_t cap);

/* Deletes exports whose time is up (CD_EXPORT_KEEP_US) and their files. */
void cd_exports_tick(struct cd_exports *x);

/* Stops: running exports are cancelled and waited for (each stops within a
 * segment or a chunk), every export file is deleted. NULL is fine. */
void cd_exports_free(struct cd_exports *x);

/* ---- handlers (daemon/api.c, routes[]) ---- */
struct call;
void cd_export_create(struct call *c);        /* POST exports */
void cd_export_list(struct call *c);          /* GET exports */
void cd_export_get(struct call *c);           /* GET exports/{id} */
void cd_export_delete(struct call *c);        /* DELETE exports/{id} */
void cd_export_file(struct call *c);          /* GET exports/{id}/file */
void cd_export_profiles(struct call *c);      /* GET export-profiles */

#endif
