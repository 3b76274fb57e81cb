#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/file.h"

int
cu_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return cu_fail(CU_ERR_LIMIT, "path longer than %zu bytes", len - 1);
	return 0;
}

int
cu_write_all(int fd, const void *data, size_t len, const char *what)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cu_fail_errno(errno, "writing %s", what);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
cu_pread_all(int fd, void *data, size_t len, uint64_t off, const char *what)
{
	uint8_t *p = data;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cu_fail_errno(errno, "reading %s", what);
		}
		if (n == 0)
			return cu_fail(CU_ERR_FORMAT, "%s ends early at byte %llu", what,
			               (unsigned long long)off);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int
cu_file_read(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ELOOP)
			return cu_fail(CU_ERR_INVAL, "%s: is a symbolic link; give the real file",
			               path);
		return cu_fail_errno(errno, "%s", path);
	}
	int r;
	uint8_t *data = NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = cu_fail_errno(errno, "%s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = cu_fail(CU_ERR_INVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = cu_fail(CU_ERR_LIMIT, "%s: %lld bytes, more than the %zu allowed", path,
		            (long long)st.st_size, max);
		goto out;
	}
	size_t len = (size_t)st.st_size;
	data = malloc(len + 1);
	if (data == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	r = cu_pread_all(fd, data, len, 0, path);
	if (r < 0)
		goto out;
	data[len] = '\0';
	*ret_data = data;
	*ret_len = len;
	data = NULL;
	r = 0;
out:
	free(data);
	close(fd);
	return r;
}

int
cu_fsync_dir(const char *path)
{
	char copy[PATH_MAX];
	struct stat st;
	const char *dir = path;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		int r = cu_path(copy, sizeof(copy), "%s", path);
		if (r < 0)
			return r;
		dir = dirname(copy);
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cu_fail_errno(errno, "%s", dir);
	int r = 0;
	if (fsync(fd) < 0)
		r = cu_fail_errno(errno, "fsync %s", dir);
	close(fd);
	return r;
}

int
cu_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int replace)
{
	char tmp[PATH_MAX];
	int r = cu_path(tmp, sizeof(tmp), "%s.tmp", path);
	if (r < 0)
		return r;
	if (!replace && access(path, F_OK) == 0)
		return cu_fail(CU_ERR_EXIST, "%s: already exists", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return cu_fail_errno(errno, "%s", tmp);
	r = cu_write_all(fd, data, len, tmp);
	if (r == 0 && fsync(fd) < 0)
		r = cu_fail_errno(errno, "fsync %s", tmp);
	if (close(fd) < 0 && r == 0)
		r = cu_fail_errno(errno, "close %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = cu_fail_errno(errno, "rename %s", path);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return cu_fsync_dir(path);
}

int
cu_mkdir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0)
		return 0;
	if (errno == EEXIST) {
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		return cu_fail(CU_ERR_EXIST, "%s: exists and is not a directory", path);
	}
	return cu_fail_errno(errno, "mkdir %s", path);
}
