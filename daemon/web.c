/* The browser client's files (web.h). The table is made at build time by
 * scripts/embed.py web: nothing is read from disk at run time, so no request path
 * ever reaches the file system, and what is served is what was built. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

static int
cmp_path(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cd_web_file *)elem)->path);
}

const struct cd_web_file *
cd_web_find(const char *path)
{
	if (path[0] != '/')
		return NULL;
	const char *p = path[1] == '\0' ? "index.html" : path + 1;
	return bsearch(p, cd_web_files, cd_web_nfiles, sizeof(cd_web_files[0]), cmp_path);
}

/* Does an If-None-Match list (RFC 9110 §13.1.2, weak comparison) name etag? */
static bool
etag_matches(const char *list, const char *etag)
{
	size_t n = strlen(etag);
	for (const char *p = list; *p != '\0';) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		size_t len = strcspn(p, ", \t");
		if (len == n && strncmp(p, etag, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* Why a path is refused before it is looked up, or NULL. lws has already
 * percent-decoded it and resolved "." and ".." segments; these checks keep
 * the rule ours whatever lws lets through. */
static const char *
path_refusal(const char *path)
{
	if (strlen(path) > CD_WEB_PATH_MAX)
		return "the path is over 256 bytes";
	if (strstr(path, "..") != NULL)
		return "the path holds \"..\"";
	if (strstr(path, "//") != NULL)
		return "the path holds \"//\"";
	if (strchr(path, '%') != NULL || strchr(path, '\\') != NULL)
		return "the path holds an encoded or escaped character";
	for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "the path holds a control character";
	return NULL;
}

void
cd_web_serve(struct cd_req *r)
{
	const char *path = cd_req_path(r);
	enum cd_method m = cd_req_method(r);
	const char *why = path_refusal(path);
	if (why != NULL) {
		cd_reply_error(r, 400, "invalid", "%s", why);
		return;
	}
	const struct cd_web_file *f = cd_web_find(path);
	if (f == NULL) {
		cd_reply_error(r, 404, "not_found", "no such page (the API is under /api/v1/)");
		return;
	}
	if (m != CD_GET && m != CD_HEAD) {
		cd_reply_header(r, "Allow", "GET, HEAD");
		cd_reply_error(r, 405, "method", "%s is not allowed here (allowed: GET, HEAD)",
		               cd_req_method_name(r));
		return;
	}
	cd_reply_header(r, "ETag", f->etag);
	if (etag_matches(cd_req_if_none_match(r), f->etag))
		cd_reply_page(r, 304, f->content_type, f->data, f->len, false);
	else
		cd_reply_page(r, 200, f->content_type, f->data, f->len, true);
}
