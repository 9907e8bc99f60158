/*
 * loadgen.c: load for the integration tests, through libasyncd.
 *
 *	loadgen URL submit COUNT THREADS TYPE ARGS
 *		submits COUNT jobs of TYPE with ARGS from THREADS threads and
 *		prints how many were accepted; exits 0 if all were.
 *	loadgen URL burst SECONDS THREADS
 *		runs echo jobs (submit and wait in one call) from THREADS
 *		threads for SECONDS and prints how many succeeded; exits 0 if
 *		none failed.
 *	loadgen URL idle COUNT
 *		opens COUNT clients, each with its own connection (a ping
 *		proves it), prints "ready", and holds them until standard
 *		input closes.
 *
 * Its name does not start with "test_", so tests/run does not run it. An
 * alarm ends it if it hangs, which fails the test that started it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asyncd.h"

#define LOADGEN_ALARM	300
#define LOADGEN_THREADS	64

struct loadgen {
	const char		*url;
	const char		*type;
	const char		*args;
	unsigned long		 count;
	double			 until;
	atomic_ulong		 next;		/* jobs handed out */
	atomic_ulong		 done;		/* accepted, or succeeded */
	atomic_ulong		 failed;
	atomic_int		 first_error;
};

static double
loadgen_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static unsigned long
loadgen_number(const char *what, const char *s)
{
	char		*end;
	unsigned long	 v;

	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0') {
		fprintf(stderr, "loadgen: bad %s '%s'\n", what, s);
		exit(2);
	}
	return (v);
}

static struct asyncd *
loadgen_open(const char *url)
{
	struct asyncd	*c;
	int		 rv;

	if ((rv = asyncd_open(&c, url)) != 0 ||
	    (rv = asyncd_ping(c, NULL, NULL, NULL)) != 0) {
		fprintf(stderr, "loadgen: %s: %s\n", url,
		    asyncd_strerror(rv));
		exit(1);
	}
	return (c);
}

static void
loadgen_error(struct loadgen *lg, int rv)
{
	int	none = 0;

	atomic_fetch_add(&lg->failed, 1);
	atomic_compare_exchange_strong(&lg->first_error, &none, rv);
}

static void *
loadgen_submit_main(void *arg)
{
	struct loadgen	*lg = arg;
	struct asyncd	*c = loadgen_open(lg->url);
	uint64_t	 id;
	int		 rv;

	while (atomic_fetch_add(&lg->next, 1) < lg->count) {
		if ((rv = asyncd_submit(c, lg->type, lg->args, NULL, &id,
		    NULL)) == 0)
			atomic_fetch_add(&lg->done, 1);
		else
			loadgen_error(lg, rv);
	}
	asyncd_close(c);
	return (NULL);
}

static void *
loadgen_burst_main(void *arg)
{
	struct loadgen		*lg = arg;
	struct asyncd		*c = loadgen_open(lg->url);
	struct asyncd_job	*job;
	int			 rv;

	while (loadgen_now() < lg->until) {
		if ((rv = asyncd_call(c, "echo", "[1,2,3]", NULL, 10,
		    &job)) != 0) {
			loadgen_error(lg, rv);
			continue;
		}
		if (asyncd_job_outcome(job) == 0)
			atomic_fetch_add(&lg->done, 1);
		else
			loadgen_error(lg, asyncd_job_outcome(job));
		asyncd_job_free(job);
	}
	asyncd_close(c);
	return (NULL);
}

static int
loadgen_threads(struct loadgen *lg, unsigned long n, void *(*fn)(void *))
{
	pthread_t	threads[LOADGEN_THREADS];
	unsigned long	i;

	if (n < 1 || n > LOADGEN_THREADS) {
		fprintf(stderr, "loadgen: 1 to %d threads\n", LOADGEN_THREADS);
		return (2);
	}
	for (i = 0; i < n; i++) {
		if (pthread_create(&threads[i], NULL, fn, lg) != 0) {
			fprintf(stderr, "loadgen: pthread_create failed\n");
			exit(1);
		}
	}
	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	printf("%lu\n", atomic_load(&lg->done));
	if (atomic_load(&lg->failed) > 0) {
		fprintf(stderr, "loadgen: %lu failed, the first with %s\n",
		    atomic_load(&lg->failed),
		    asyncd_strerror(atomic_load(&lg->first_error)));
		return (1);
	}
	return (0);
}

static int
loadgen_idle(const char *url, unsigned long count)
{
	struct asyncd	**cs;
	unsigned long	  i;
	char		  buf[64];

	if ((cs = calloc(count, sizeof *cs)) == NULL)
		return (1);
	for (i = 0; i < count; i++)
		cs[i] = loadgen_open(url);
	printf("ready\n");
	fflush(stdout);
	while (fgets(buf, sizeof buf, stdin) != NULL)
		continue;
	for (i = 0; i < count; i++)
		asyncd_close(cs[i]);
	free(cs);
	return (0);
}

int
main(int argc, char **argv)
{
	struct loadgen	lg;

	memset(&lg, 0, sizeof lg);
	alarm(LOADGEN_ALARM);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 7 && strcmp(argv[2], "submit") == 0) {
		lg.url = argv[1];
		lg.count = loadgen_number("count", argv[3]);
		lg.type = argv[5];
		lg.args = argv[6];
		return (loadgen_threads(&lg, loadgen_number("threads",
		    argv[4]), loadgen_submit_main));
	}
	if (argc == 5 && strcmp(argv[2], "burst") == 0) {
		lg.url = argv[1];
		lg.until = loadgen_now() + (double)loadgen_number("seconds",
		    argv[3]);
		return (loadgen_threads(&lg, loadgen_number("threads",
		    argv[4]), loadgen_burst_main));
	}
	if (argc == 4 && strcmp(argv[2], "idle") == 0)
		return (loadgen_idle(argv[1], loadgen_number("count",
		    argv[3])));
	fprintf(stderr, "usage: loadgen URL submit COUNT THREADS TYPE ARGS\n"
	    "       loadgen URL burst SECONDS THREADS\n"
	    "       loadgen URL idle COUNT\n");
	return (2);
}
