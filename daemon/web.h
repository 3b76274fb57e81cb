/* The browser client (web/) served by custodyd from bytes embedded at build
 * time (scripts/embed.py web makes web_files.c). GET / is web/index.html,
 * GET /<path> is web/<path>; only GET and HEAD; every other path outside
 * /api/v1/ is 404. Each file has an ETag (SHA-256 prefix of its content) and
 * Cache-Control: no-cache, so browsers revalidate (304) instead of keeping
 * an old client after an upgrade. */
#ifndef CD_WEB_H
#define CD_WEB_H

#include <stddef.h>

#include "http.h"

#define CD_WEB_PATH_MAX 256             /* bytes of a client file's path */

struct cd_web_file {
	const char *path;                 /* under web/, no leading '/' */
	const char *content_type;
	const char *etag;                 /* quoted, as sent */
	const unsigned char *data;
	size_t len;
};

/* web_files.c, generated: sorted by path. */
extern const struct cd_web_file cd_web_files[];
extern const size_t cd_web_nfiles;

/* The file at a request path ("/" is "index.html"), or NULL. */
const struct cd_web_file *cd_web_find(const char *path);

/* Answers a request outside /api/v1/: the file, 304, 400 (a path that is
 * refused outright: "..", "//", NUL, over CD_WEB_PATH_MAX), 404 or 405. */
void cd_web_serve(struct cd_req *r);

#endif
