/* Fuzz target: custodyd's lookup of a query parameter (daemon/query.c,
 * behind cd_req_param), over the query string the HTTP layer joined from
 * the client's percent-decoded arguments.
 *
 * Property: a value found is the text after "name=" of a whole parameter of
 * the query, ends at '&' or the end, fits its buffer with the NUL, and the
 * buffer is not touched otherwise; the lookup never reads past the input. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "query.h"

static void
check(const char *q, const char *name, size_t len)
{
	char buf[64];
	memset(buf, 0x5a, sizeof(buf));
	enum cd_param r = cd_query_param(q, name, buf, len);
	size_t nlen = strlen(name);
	if (r == CD_PARAM_FOUND) {
		size_t vlen = strlen(buf);
		if (vlen >= len)
			abort();
		/* the value sits in q right after "name=", at the start of a parameter */
		const char *at = NULL;
		for (const char *p = q; (p = strstr(p, name)) != NULL; p++)
			if ((p == q || p[-1] == '&') && p[nlen] == '=' &&
			    strncmp(p + nlen + 1, buf, vlen) == 0 &&
			    (p[nlen + 1 + vlen] == '&' || p[nlen + 1 + vlen] == '\0')) {
				at = p;
				break;
			}
		if (at == NULL || memchr(buf, '&', vlen) != NULL)
			abort();
	} else {
		for (size_t i = 0; i < sizeof(buf); i++)
			if ((unsigned char)buf[i] != 0x5a)
				abort();
		if (r != CD_PARAM_ABSENT && r != CD_PARAM_TOO_LONG)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the first byte picks the buffer size, the rest is the query */
	if (size == 0)
		return 0;
	size_t len = 1 + data[0] % 64;
	char *q = malloc(size);
	if (q == NULL)
		return 0;
	memcpy(q, data + 1, size - 1);
	q[size - 1] = '\0';
	static const char *const names[] = {"format", "expired", "from", "to", "limit", "f", ""};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		check(q, names[i], len);
	free(q);
	return 0;
}
