#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/util.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/secret.h"

int
cu_secret_file_read(const char *path, size_t max, int nlines, char **ret, size_t *ret_len)
{
	struct stat st;
	int fd = cu_file_open_regular(path, &st);
	if (fd < 0)
		return fd;
	int r;
	size_t cap = (max + 2) * (size_t)nlines + 1, len = 0;
	char *buf = NULL;
	if (st.st_mode & (S_IRWXO | S_IWGRP)) {
		r = cu_fail(CU_ERR_INVAL, "%s: readable or writable by others (mode %04o); run "
		            "chmod 600 on it", path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	buf = calloc(1, cap + 1);
	if (buf == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = cu_fail_errno(errno, "%s", path);
			goto out;
		}
		if (n == 0 || (len += (size_t)n) == cap)
			break;
	}
	if (memchr(buf, '\0', len) != NULL) {
		r = cu_fail(CU_ERR_FORMAT, "%s: contains a NUL byte", path);
		goto out;
	}
	/* keep the first nlines lines, each without its CR/LF */
	size_t out = 0, pos = 0;
	for (int l = 0; l < nlines; l++) {
		if (pos > len) {
			r = cu_fail(CU_ERR_FORMAT, "%s: expected %d lines", path, nlines);
			goto out;
		}
		char *nl = memchr(buf + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		if (nl == NULL && l + 1 < nlines) {
			r = cu_fail(CU_ERR_FORMAT, "%s: expected %d lines", path, nlines);
			goto out;
		}
		if (ll > 0 && buf[pos + ll - 1] == '\r')
			ll--;
		if (ll > max) {
			r = cu_fail(CU_ERR_LIMIT, "%s: line %d is longer than %zu bytes", path, l + 1, max);
			goto out;
		}
		if (ll == 0 && l == 0) {
			r = cu_fail(CU_ERR_FORMAT, "%s: the first line is empty", path);
			goto out;
		}
		if (l > 0)
			buf[out++] = '\n';
		memmove(buf + out, buf + pos, ll);
		out += ll;
		pos += (nl ? (size_t)(nl - (buf + pos)) + 1 : ll);
	}
	cu_wipe(buf + out, cap + 1 - out);
	*ret = buf;
	*ret_len = out;
	buf = NULL;
	r = 0;
out:
	if (buf != NULL) {
		cu_wipe(buf, cap + 1);
		free(buf);
	}
	close(fd);
	return r;
}

void
cu_secret_free(char *s, size_t len)
{
	if (s == NULL)
		return;
	cu_wipe(s, len);
	free(s);
}

void
cu_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}
