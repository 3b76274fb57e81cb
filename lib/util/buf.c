#include <stdlib.h>
#include <string.h>

#include "custody/util.h"
#include "custody/buf.h"
#include "custody/error.h"

void
cu_buf_init(cu_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
cu_buf_init_secret(cu_buf *b, size_t max)
{
	cu_buf_init(b, max);
	b->secret = 1;
}

int
cu_buf_reserve(cu_buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return cu_fail(CU_ERR_LIMIT, "buffer would exceed its limit of %zu bytes", b->max);
	size_t need = b->len + n;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	uint8_t *p;
	if (b->secret) {
		/* realloc could leave a copy of the secret behind: move it by hand */
		p = malloc(cap);
		if (p == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory for %zu bytes", cap);
		if (b->data != NULL) {
			memcpy(p, b->data, b->len);
			cu_wipe(b->data, b->cap);
			free(b->data);
		}
	} else {
		p = realloc(b->data, cap);
		if (p == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory for %zu bytes", cap);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
cu_buf_append(cu_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int r = cu_buf_reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
cu_buf_reset(cu_buf *b)
{
	if (b->secret && b->data != NULL)
		cu_wipe(b->data, b->len);
	b->len = 0;
}

void
cu_buf_free(cu_buf *b)
{
	if (b->data != NULL) {
		if (b->secret)
			cu_wipe(b->data, b->cap);
		free(b->data);
	}
	size_t max = b->max;
	int secret = b->secret;
	memset(b, 0, sizeof(*b));
	b->max = max;
	b->secret = secret;
}
