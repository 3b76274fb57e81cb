/* Private: file helpers. Every open is O_CLOEXEC; paths from users are opened
 * O_NOFOLLOW; anything that must survive a crash is written to a temporary
 * name, fsync'd, renamed, and its directory fsync'd. */
#ifndef CU_UTIL_FILE_H
#define CU_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads a whole regular file of at most max bytes into a malloc'd buffer with
 * a NUL after the data (not counted in *ret_len). Symlinks are refused. */
int cu_file_read(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);

/* Writes data to path atomically (tmp + fsync + rename + fsync dir) with the
 * given mode. An existing file is replaced only when replace is non-zero. */
int cu_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         int replace);

/* fsyncs the directory that holds path (or path itself if it is a directory). */
int cu_fsync_dir(const char *dir);

/* Writes all of len bytes (retrying short writes and EINTR). */
int cu_write_all(int fd, const void *data, size_t len, const char *what);

/* Reads exactly len bytes at offset; CU_ERR_FORMAT if the file ends first. */
int cu_pread_all(int fd, void *data, size_t len, uint64_t off, const char *what);

/* snprintf into buf that fails with CU_ERR_LIMIT instead of truncating. */
int cu_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* mkdir that accepts an existing directory. */
int cu_mkdir(const char *path, mode_t mode);

#endif
