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

#include "custody/error.h"
#include "custody/file.h"

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
cu_file_open_regular(const char *path, struct stat *ret_st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ELOOP)
			return cu_fail(CU_ERR_INVAL, "%s: is a symbolic link; give the real file",
			               path);
		return cu_fail_errno(errno, "%s", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = cu_fail_errno(errno, "%s", path);
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cu_fail(CU_ERR_INVAL, "%s: not a regular file", path);
	}
	*ret_st = st;
	return fd;
}

int
cu_file_read(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len)
{
	struct stat st;
	int fd = cu_file_open_regular(path, &st);
	if (fd < 0)
		return fd;
	int r;
	uint8_t *data = NULL;
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
cu_afile_open(cu_afile *f, const char *path, mode_t mode, int flags)
{
	f->fd = -1;
	f->replace = (flags & CU_AFILE_REPLACE) != 0;
	f->tmp[0] = '\0';
	int r;
	if ((r = cu_path(f->path, sizeof(f->path), "%s", path)) < 0 ||
	    (r = cu_path(f->tmp, sizeof(f->tmp), "%s.tmp", path)) < 0) {
		f->tmp[0] = '\0';
		return r;
	}
	struct stat st;
	if (!f->replace && lstat(path, &st) == 0) {
		f->tmp[0] = '\0';
		return cu_fail(CU_ERR_EXIST, "%s: already exists", path);
	}
	f->fd = open(f->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (f->fd < 0) {
		r = errno == EEXIST ? cu_fail(CU_ERR_EXIST, "%s: exists (left by an interrupted "
		                              "write?); remove it first", f->tmp)
		                    : cu_fail_errno(errno, "%s", f->tmp);
		f->tmp[0] = '\0'; /* not ours: never unlinked */
		return r;
	}
	return 0;
}

int
cu_afile_write(cu_afile *f, const void *data, size_t len)
{
	return cu_write_all(f->fd, data, len, f->tmp);
}

/* Renames tmp to path unless path exists (the file system's way if it has
 * one, else link, which refuses an existing name too). */
static int
rename_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return cu_fail(CU_ERR_EXIST, "%s: already exists", path);
	if (errno != EINVAL && errno != ENOSYS)
		return cu_fail_errno(errno, "rename %s", path);
	if (link(tmp, path) < 0)
		return errno == EEXIST ? cu_fail(CU_ERR_EXIST, "%s: already exists", path)
		                       : cu_fail_errno(errno, "link %s", path);
	unlink(tmp);
	return 0;
}

int
cu_afile_commit(cu_afile *f)
{
	if (f->fd < 0 || f->tmp[0] == '\0')
		return cu_fail(CU_ERR_INVAL, "cu_afile_commit: no file open");
	int r = 0;
	if (fsync(f->fd) < 0)
		r = cu_fail_errno(errno, "fsync %s", f->tmp);
	if (close(f->fd) < 0 && r == 0)
		r = cu_fail_errno(errno, "close %s", f->tmp);
	f->fd = -1;
	if (r == 0) {
		if (f->replace)
			r = rename(f->tmp, f->path) < 0 ? cu_fail_errno(errno, "rename %s", f->path) : 0;
		else
			r = rename_noreplace(f->tmp, f->path);
	}
	if (r < 0) {
		cu_afile_abort(f);
		return r;
	}
	f->tmp[0] = '\0';
	return cu_fsync_dir(f->path);
}

void
cu_afile_abort(cu_afile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp[0] != '\0')
		unlink(f->tmp);
	f->tmp[0] = '\0';
}

int
cu_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int replace)
{
	char stale[PATH_MAX];
	cu_afile f;
	int r = cu_path(stale, sizeof(stale), "%s.tmp", path);
	if (r < 0)
		return r;
	/* small files written whole (keyring, certificates): a temporary left by
	 * a crash is garbage, not another writer's work in progress */
	unlink(stale);
	if ((r = cu_afile_open(&f, path, mode, replace ? CU_AFILE_REPLACE : 0)) < 0)
		return r;
	if ((r = cu_afile_write(&f, data, len)) < 0) {
		cu_afile_abort(&f);
		return r;
	}
	return cu_afile_commit(&f);
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
