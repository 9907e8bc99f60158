/*
 * crash: process functions that kill their worker, to show isolation.
 *
 * "crash.segv" dereferences a null pointer, "crash.abort" calls abort(),
 * "crash.exit" exits with status 3. Each ends only the worker process
 * running it: the job fails with worker_crashed, naming the signal or
 * status, the daemon goes on, and the next call gets a new worker.
 */
#include <stdlib.h>
#include <unistd.h>

#include <asyncd/plugin.h>

static int
crash_segv(struct ad_call *call, const cJSON *args, cJSON **result)
{
	volatile int	*volatile p = NULL;

	(void)call;
	(void)args;
	(void)result;
	*p = 1;
	return (0);
}

static int
crash_abort(struct ad_call *call, const cJSON *args, cJSON **result)
{
	(void)call;
	(void)args;
	(void)result;
	abort();
}

static int
crash_exit(struct ad_call *call, const cJSON *args, cJSON **result)
{
	(void)call;
	(void)args;
	(void)result;
	_exit(3);
}

static const struct ad_func crash_funcs[] = {
	{ .name = "crash.segv", .description = "segfaults in a worker",
	  .fn = crash_segv },
	{ .name = "crash.abort", .description = "aborts in a worker",
	  .fn = crash_abort },
	{ .name = "crash.exit", .description = "exits 3 in a worker",
	  .fn = crash_exit },
};

static int
crash_register(struct ad_plugin *p)
{
	size_t	i;
	int	rv;

	for (i = 0; i < sizeof crash_funcs / sizeof crash_funcs[0]; i++) {
		if ((rv = ad_register_process(p, &crash_funcs[i])) != 0)
			return (rv);
	}
	return (0);
}

AD_PLUGIN(crash_register)
