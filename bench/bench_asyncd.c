/*
 * bench_asyncd.c: asyncd's round trips and throughput through libasyncd,
 * as a C program using it would see them.
 *
 *   bench_asyncd call URL N              N sequential submit-and-wait calls
 *                                        of an echo job (one round trip)
 *   bench_asyncd submitwait URL N        N sequential submit, then wait
 *                                        (two round trips)
 *   bench_asyncd throughput URL C SECONDS  C clients (threads, each with its
 *                                        own handle and connection) calling
 *                                        echo jobs back to back
 *   bench_asyncd exec URL C SECONDS      the same with exec jobs running
 *                                        /bin/true (C commands in flight)
 */
#include "asyncd.h"
#include "bench.h"

static const char bench_args[] = "{\"n\":1}";

static void *
bench_asyncd_open(const char *url)
{
	struct asyncd	*c;
	int		 rv;

	if ((rv = asyncd_open(&c, url)) != 0) {
		fprintf(stderr, "bench_asyncd: %s\n", asyncd_strerror(rv));
		return (NULL);
	}
	return (c);
}

static void
bench_asyncd_close(void *c)
{
	asyncd_close(c);
}

/* Reports a failure, which ends the measurement. */
static int
bench_asyncd_result(int rv)
{
	if (rv != 0)
		fprintf(stderr, "bench_asyncd: %s\n", asyncd_strerror(rv));
	return (rv);
}

/* One round trip: submit and wait in one request. */
static int
bench_asyncd_call(void *c)
{
	struct asyncd_job	*job;
	int			 rv;

	if ((rv = asyncd_call(c, "echo", bench_args, NULL, 5.0, &job)) != 0)
		return (bench_asyncd_result(rv));
	rv = asyncd_job_outcome(job);
	asyncd_job_free(job);
	return (bench_asyncd_result(rv));
}

/* Two round trips: submit, then wait. */
static int
bench_asyncd_submitwait(void *c)
{
	struct asyncd_job	*job;
	uint64_t		 id;
	int			 rv;

	if ((rv = asyncd_submit(c, "echo", bench_args, NULL, &id, NULL)) != 0)
		return (bench_asyncd_result(rv));
	if ((rv = asyncd_wait(c, id, 5.0, &job)) != 0)
		return (bench_asyncd_result(rv));
	rv = asyncd_job_outcome(job);
	asyncd_job_free(job);
	return (bench_asyncd_result(rv));
}

/* One exec job running /bin/true, submitted and waited for in one call. */
static int
bench_asyncd_exec(void *c)
{
	struct asyncd_job	*job;
	int			 rv;

	if ((rv = asyncd_call(c, "exec", "{\"argv\":[\"/bin/true\"]}", NULL,
	    10.0, &job)) != 0)
		return (bench_asyncd_result(rv));
	rv = asyncd_job_outcome(job);
	asyncd_job_free(job);
	return (bench_asyncd_result(rv));
}

static const struct bench_client bench_asyncd_execs = {
	.open = bench_asyncd_open,
	.call = bench_asyncd_exec,
	.close = bench_asyncd_close,
};

static const struct bench_client bench_asyncd_one_trip = {
	.open = bench_asyncd_open,
	.call = bench_asyncd_call,
	.close = bench_asyncd_close,
};

static const struct bench_client bench_asyncd_two_trips = {
	.open = bench_asyncd_open,
	.call = bench_asyncd_submitwait,
	.close = bench_asyncd_close,
};

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "call") == 0)
		return (bench_latency(&bench_asyncd_one_trip, argv[2],
		    strtoul(argv[3], NULL, 10)));
	if (argc == 4 && strcmp(argv[1], "submitwait") == 0)
		return (bench_latency(&bench_asyncd_two_trips, argv[2],
		    strtoul(argv[3], NULL, 10)));
	if (argc == 5 && strcmp(argv[1], "exec") == 0)
		return (bench_throughput(&bench_asyncd_execs, argv[2],
		    strtoul(argv[3], NULL, 10), strtod(argv[4], NULL)));
	if (argc == 5 && strcmp(argv[1], "throughput") == 0)
		return (bench_throughput(&bench_asyncd_one_trip, argv[2],
		    strtoul(argv[3], NULL, 10), strtod(argv[4], NULL)));
	fprintf(stderr, "usage: bench_asyncd call|submitwait URL N | "
	    "throughput URL CLIENTS SECONDS\n");
	return (2);
}
