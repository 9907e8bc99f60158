/*
 * primes: CPU-bound work on the process pool.
 *
 * "primes.count" {"below": N} counts the primes below N by trial division
 * in a worker process and returns {"count": C, "pid": P} (P: the worker).
 * It is a process function, so it is a job type by itself, and a
 * coroutine may call it with ad_run_in_process.
 *
 * "primes.gather" {"below": N, "n": K} is a coroutine: it starts K
 * primes.count children and awaits them all (asyncio.gather), so that
 * they run on as many workers as the pool has: every core. It returns
 * {"counts": [...], "workers": W}, W the number of distinct workers used.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <asyncd/plugin.h>

#define PRIMES_MAX_BELOW	1e9
#define PRIMES_MAX_N		64

static int
primes_bad(char **cause, const char *msg)
{
	*cause = strdup(msg);
	return (ASYNCD_EBADARGS);
}

static int
primes_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	const cJSON	*below = cJSON_GetObjectItemCaseSensitive(args,
			    "below");

	(void)chk;
	if (!cJSON_IsNumber(below) || below->valuedouble < 0 ||
	    below->valuedouble > PRIMES_MAX_BELOW)
		return (primes_bad(cause, "takes {\"below\": N}, N from 0 "
		    "to 1e9"));
	return (0);
}

/* In a worker. */
static int
primes_count(struct ad_call *call, const cJSON *args, cJSON **result)
{
	uint64_t	below, n, d, count = 0;

	(void)call;
	below = (uint64_t)cJSON_GetObjectItemCaseSensitive(args,
	    "below")->valuedouble;
	for (n = 2; n < below; n++) {
		for (d = 2; d * d <= n; d++) {
			if (n % d == 0)
				break;
		}
		if (d * d > n)
			count++;
	}
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "count", (double)count);
	cJSON_AddNumberToObject(*result, "pid", (double)getpid());
	return (0);
}

static int
primes_gather_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	const cJSON	*n = cJSON_GetObjectItemCaseSensitive(args, "n");
	int		 rv;

	if ((rv = primes_check(chk, args, cause)) != 0)
		return (rv);
	if (!cJSON_IsNumber(n) || n->valuedouble < 1 ||
	    n->valuedouble > PRIMES_MAX_N)
		return (primes_bad(cause, "takes {\"below\": N, \"n\": K}, K "
		    "from 1 to 64"));
	return (0);
}

/* On the loop: K children, gathered. */
static int
primes_gather(struct ad_job *job)
{
	const cJSON		*args = ad_args(job);
	double			 below = cJSON_GetObjectItemCaseSensitive(args,
				    "below")->valuedouble;
	size_t			 n = (size_t)cJSON_GetObjectItemCaseSensitive(
				    args, "n")->valuedouble, i, j, workers = 0;
	uint64_t		 ids[PRIMES_MAX_N];
	struct ad_outcome	 out[PRIMES_MAX_N];
	double			 pids[PRIMES_MAX_N];
	cJSON			*child, *result, *counts;
	int			 rv;

	for (i = 0; i < n; i++) {
		child = cJSON_CreateObject();
		cJSON_AddNumberToObject(child, "below", below);
		if ((rv = ad_spawn(job, "primes.count", child, 0, &ids[i],
		    NULL)) != 0)
			return (rv);
	}
	if ((rv = ad_gather(job, ids, n, AD_GATHER_FIRST_ERROR, out)) != 0)
		return (rv);
	result = cJSON_CreateObject();
	counts = cJSON_AddArrayToObject(result, "counts");
	for (i = 0; i < n; i++) {
		if (out[i].rc != 0) {
			cJSON_Delete(result);
			return (ad_fail(job, out[i].err_code, "child %zu: %s",
			    i, out[i].err_message));
		}
		cJSON_AddItemToArray(counts, cJSON_CreateNumber(
		    cJSON_GetObjectItemCaseSensitive(out[i].result,
		    "count")->valuedouble));
		pids[i] = cJSON_GetObjectItemCaseSensitive(out[i].result,
		    "pid")->valuedouble;
		for (j = 0; j < i && pids[j] != pids[i]; j++)
			;
		if (j == i)
			workers++;
	}
	cJSON_AddNumberToObject(result, "workers", (double)workers);
	ad_result(job, result);
	return (0);
}

static const struct ad_func primes_count_func = {
	.name = "primes.count",
	.description = "counts the primes below N in a worker process",
	.check = primes_check,
	.fn = primes_count,
};

static const struct ad_type primes_gather_type = {
	.name = "primes.gather",
	.description = "K primes.count at once, gathered",
	.check = primes_gather_check,
	.run = primes_gather,
};

static int
primes_register(struct ad_plugin *p)
{
	int	rv;

	if ((rv = ad_register_process(p, &primes_count_func)) != 0)
		return (rv);
	return (ad_register_type(p, &primes_gather_type));
}

AD_PLUGIN(primes_register)
