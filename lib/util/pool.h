/* Private: the one worker pool of libcustody. N independent jobs, numbered
 * 0..N-1, run over a bounded number of threads, the calling thread being one
 * of them; each thread takes the next number until none is left. Store
 * verification, package verification and the export's hash pass use it. */
#ifndef CU_UTIL_POOL_H
#define CU_UTIL_POOL_H

#include <stdbool.h>
#include <stddef.h>

/* The most threads one run uses, whatever the CPU count or the caller asks:
 * each holds a thread stack and a job's buffers. */
#define CU_POOL_THREADS_MAX 64

/* One run's shared state; lives on cu_pool_run's stack. */
typedef struct cu_pool cu_pool;

/* What every thread runs: take jobs with cu_pool_next until it returns false.
 * State a thread needs for all its jobs (a reader, a buffer) lives in the
 * worker's own frame. */
typedef void cu_pool_worker(void *ctx, cu_pool *p);

/* Online CPUs, clamped to 1..CU_POOL_THREADS_MAX. */
int cu_pool_cpus(void);

/* Runs worker(ctx, pool) on min(threads, njobs) threads, at least one: the
 * caller's and threads-1 new ones. threads <= 0 means cu_pool_cpus(); more
 * than CU_POOL_THREADS_MAX means CU_POOL_THREADS_MAX. If a thread cannot be
 * started the others take its share, so the run never fails; it returns when
 * every worker has returned. Job results are the caller's (in ctx, by index). */
void cu_pool_run(size_t njobs, int threads, cu_pool_worker *worker, void *ctx);

/* The next job number into *ret_i, or false when all have been handed out
 * (or cu_pool_stop was called). Thread-safe; numbers go out in order. */
bool cu_pool_next(cu_pool *p, size_t *ret_i);

/* Hands out no further jobs (cancellation); jobs already running finish. */
void cu_pool_stop(cu_pool *p);

#endif
