/* Private: reading secrets (passwords, credentials) from files. */
#ifndef CU_UTIL_SECRET_H
#define CU_UTIL_SECRET_H

#include <stddef.h>

/* Reads a secret file: a regular file, not a symlink, not readable or
 * writable by others (else CU_ERR_INVAL with a chmod hint), at most max bytes
 * per line. Returns a malloc'd copy of its first nlines lines (1 or 2) joined
 * by '\n', NUL-terminated, CR/LF stripped; free it with cu_secret_free.
 * Empty first line, a NUL byte, or a line over max: CU_ERR_FORMAT/LIMIT. */
int cu_secret_file_read(const char *path, size_t max, int nlines, char **ret, size_t *ret_len);

/* Wipes and frees. NULL is fine. */
void cu_secret_free(char *s, size_t len);

#endif
