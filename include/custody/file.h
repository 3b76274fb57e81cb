/* Private: file helpers. Every open is O_CLOEXEC; paths from users are opened
 * O_NOFOLLOW; anything that must survive a crash is written to a temporary
 * name, fsync'd, renamed, and its directory fsync'd. */
#ifndef CU_UTIL_FILE_H
#define CU_UTIL_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Opens path read-only (O_CLOEXEC | O_NOFOLLOW) and returns the descriptor,
 * which the caller closes, with its fstat in *ret_st. A symbolic link or
 * anything but a regular file is CU_ERR_INVAL, other failures the errno's
 * cu_err; on failure nothing stays open and *ret_st is untouched. */
int cu_file_open_regular(const char *path, struct stat *ret_st);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer with
 * a NUL after the data (not counted in *ret_len). Symlinks are refused. */
int cu_file_read(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);

/* Writes data to path atomically with the given mode: cu_afile_open, one
 * write, cu_afile_commit. An existing file is replaced only when replace is
 * non-zero. A PATH.tmp left by a crash is removed first, as it always was:
 * only for small files written whole (keyring, certificates), never for a
 * name someone streams with cu_afile. */
int cu_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         int replace);

/* A file written as a stream that appears whole or not at all: data goes to
 * PATH.tmp in the same directory (created O_EXCL | O_CLOEXEC | O_NOFOLLOW, so
 * a leftover of a crash or a concurrent writer is CU_ERR_EXIST, never
 * overwritten), cu_afile_commit fsyncs it, renames it to PATH and fsyncs the
 * directory; cu_afile_abort closes and unlinks it. Lives on the caller's
 * stack; write through fd or cu_afile_write. */
typedef struct cu_afile {
	int fd;                    /* the temporary file, read-write; -1 when closed */
	bool replace;              /* commit may replace an existing PATH */
	char path[PATH_MAX];       /* PATH */
	char tmp[PATH_MAX];        /* PATH.tmp while it exists, else "" */
} cu_afile;

enum { CU_AFILE_REPLACE = 1 }; /* flags of cu_afile_open */

/* Creates PATH.tmp with mode. Without CU_AFILE_REPLACE an existing PATH is
 * CU_ERR_EXIST now and at commit (renameat2 RENAME_NOREPLACE, or link where the
 * file system lacks it). On failure nothing is left and *f is safe to abort. */
int cu_afile_open(cu_afile *f, const char *path, mode_t mode, int flags);

/* Appends len bytes (cu_write_all). On failure the file stays open: abort it. */
int cu_afile_write(cu_afile *f, const void *data, size_t len);

/* fsync, close, rename to PATH, fsync the directory. On any failure before the
 * rename PATH.tmp is removed and PATH untouched; a failed directory fsync
 * after it is reported with PATH in place. */
int cu_afile_commit(cu_afile *f);

/* Closes and removes PATH.tmp; a no-op after commit or a second abort. */
void cu_afile_abort(cu_afile *f);

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
