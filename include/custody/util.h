/* custody's public helpers of the lowest layer (lib/util), for the tools
 * (custodyd, custody) and every module above. */
#ifndef CUSTODY_UTIL_H
#define CUSTODY_UTIL_H

#include <stddef.h>

/* Overwrites n bytes at p with zeros in a way the compiler cannot drop
 * (explicit_bzero). p may be NULL. Every secret is wiped with it before its
 * memory is released. */
void cu_wipe(void *p, size_t n);

#endif
