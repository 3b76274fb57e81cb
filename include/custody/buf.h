/* Private: a growable byte buffer created with its maximum (curl's dynbuf
 * habit): growing past the maximum is CU_ERR_LIMIT, never a truncation. */
#ifndef CU_UTIL_BUF_H
#define CU_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cu_buf {
	uint8_t *data;  /* NULL until the first append */
	size_t len;     /* bytes in use */
	size_t cap;     /* bytes allocated */
	size_t max;     /* the most len may ever be */
	int secret;     /* wipe on reset/free and on every reallocation */
} cu_buf;

void cu_buf_init(cu_buf *b, size_t max);
/* Like cu_buf_init, for buffers that hold keys or plaintext. */
void cu_buf_init_secret(cu_buf *b, size_t max);

/* Ensures room for n more bytes. */
int cu_buf_reserve(cu_buf *b, size_t n);

int cu_buf_append(cu_buf *b, const void *p, size_t n);

/* Empties the buffer, keeping its memory (wiped first if secret). */
void cu_buf_reset(cu_buf *b);

/* Releases the memory (wiped first if secret). */
void cu_buf_free(cu_buf *b);

#endif
