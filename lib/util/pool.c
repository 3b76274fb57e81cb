/* The one worker pool (pool.h): an atomic counter over the job numbers and
 * up to CU_POOL_THREADS_MAX threads, no queue and no allocation. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "util/pool.h"

struct cu_pool {
	atomic_size_t next;       /* the next job number to hand out */
	size_t njobs;             /* numbers 0..njobs-1 */
	cu_pool_worker *worker;
	void *ctx;
};

int
cu_pool_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > CU_POOL_THREADS_MAX ? CU_POOL_THREADS_MAX : (int)n;
}

bool
cu_pool_next(cu_pool *p, size_t *ret_i)
{
	size_t i = atomic_fetch_add(&p->next, 1);
	if (i >= p->njobs)
		return false;
	*ret_i = i;
	return true;
}

void
cu_pool_stop(cu_pool *p)
{
	atomic_store(&p->next, p->njobs);
}

static void *
thread_main(void *arg)
{
	cu_pool *p = arg;
	p->worker(p->ctx, p);
	return NULL;
}

void
cu_pool_run(size_t njobs, int threads, cu_pool_worker *worker, void *ctx)
{
	cu_pool p = {.njobs = njobs, .worker = worker, .ctx = ctx};
	atomic_init(&p.next, 0);
	size_t n = threads <= 0 ? (size_t)cu_pool_cpus() : (size_t)threads;
	if (n > CU_POOL_THREADS_MAX)
		n = CU_POOL_THREADS_MAX;
	if (n > njobs)
		n = njobs > 0 ? njobs : 1;
	pthread_t tids[CU_POOL_THREADS_MAX];
	size_t started = 0;
	for (size_t t = 1; t < n; t++) {
		if (pthread_create(&tids[started], NULL, thread_main, &p) != 0)
			break; /* fewer threads: the started ones and this one take the jobs */
		started++;
	}
	worker(ctx, &p);
	for (size_t t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
}
