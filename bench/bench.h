/* Shared by the C benchmarks (bench-store, bench-package, bench-token):
 * wall and process CPU time, a deterministic filler, the error line.
 * Include after defining PROG, the program's name for messages. */
#ifndef CU_BENCH_H
#define CU_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#include "custody/error.h"
#include "custody/time.h"

/* Wall time and CPU time of the whole process (every thread). */
struct clock_mark {
	int64_t wall_us;
	int64_t user_us, sys_us;
};

struct span {
	double wall_s, user_s, sys_s;
	double cpu_s;                      /* user + sys */
};

static inline struct clock_mark
mark_now(void)
{
	struct clock_mark m = {.wall_us = cu_time_mono_us()};
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		m.user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
		m.sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
	}
	return m;
}

static inline struct span
span_since(struct clock_mark a)
{
	struct clock_mark b = mark_now();
	struct span s = {
		.wall_s = (double)(b.wall_us - a.wall_us) / 1e6,
		.user_s = (double)(b.user_us - a.user_us) / 1e6,
		.sys_s = (double)(b.sys_us - a.sys_us) / 1e6,
	};
	s.cpu_s = s.user_s + s.sys_s;
	/* getrusage ticks coarsely; never divide by zero on a tiny run */
	if (s.cpu_s <= 0)
		s.cpu_s = 1e-6;
	if (s.wall_s <= 0)
		s.wall_s = 1e-6;
	return s;
}

/* The error line of a failed step; returns the exit status 2. */
static inline int
fail(const char *what, int err)
{
	const char *d = cu_error_detail();
	fprintf(stderr, PROG ": %s: %s%s%s\n", what, cu_strerror(err), *d ? ": " : "", d);
	return 2;
}

/* splitmix64: a fast deterministic filler. The payload only has to look like
 * compressed video (incompressible); it need not be secret, so no CSPRNG. */
static inline uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

#endif
