/* The query string of an API request: one parameter by name. A pure
 * function of its input, so that it has a fuzz target (fuzz/fuzz-query.c). */
#ifndef CD_QUERY_H
#define CD_QUERY_H

#include <stddef.h>

/* What cd_query_param found. */
enum cd_param {
	CD_PARAM_ABSENT = 0,           /* no "name=" parameter */
	CD_PARAM_FOUND = 1,            /* buf holds its value, NUL-terminated */
	CD_PARAM_TOO_LONG = -1,        /* the value does not fit in len bytes with its NUL */
};

/* Looks up the first "name=value" among the '&'-separated parameters of
 * query (NUL-terminated, as the HTTP layer joined them) and copies the value
 * into buf (len bytes, > 0). A parameter without '=' or with another name
 * never matches; an empty value is found as "". buf is written only when
 * the answer is CD_PARAM_FOUND. */
enum cd_param cd_query_param(const char *query, const char *name, char *buf, size_t len);

#endif
