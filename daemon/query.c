/* The query string of an API request (query.h). */
#include <string.h>

#include "query.h"

enum cd_param
cd_query_param(const char *query, const char *name, char *buf, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = query;
	while (*p != '\0') {
		const char *end = strchr(p, '&');
		size_t plen = end ? (size_t)(end - p) : strlen(p);
		if (plen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t vlen = plen - nlen - 1;
			if (len == 0 || vlen >= len)
				return CD_PARAM_TOO_LONG;
			memcpy(buf, p + nlen + 1, vlen);
			buf[vlen] = '\0';
			return CD_PARAM_FOUND;
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	return CD_PARAM_ABSENT;
}
