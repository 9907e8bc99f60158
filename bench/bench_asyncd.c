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
 */
#include "asyncd.h"
#include "bench.h"

static const char bench_args[] = "{\"n\":1}";

static int
bench_call(struct asyncd *c)
{
	struct asyncd_job	*job;
	int			 rv;

	if ((rv = asyncd_call(c, "echo", bench_args, NULL, 5.0, &job)) != 0)
		return (rv);
	rv = asyncd_job_outcome(job);
	asyncd_job_free(job);
	return (rv);
}

static int
bench_submitwait(struct asyncd *c)
{
	struct asyncd_job	*job;
	uint64_t		 id;
	int			 rv;

	if ((rv = asyncd_submit(c, "echo", bench_args, NULL, &id, NULL)) != 0)
		return (rv);
	if ((rv = asyncd_wait(c, id, 5.0, &job)) != 0)
		return (rv);
	rv = asyncd_job_outcome(job);
	asyncd_job_free(job);
	return (rv);
}

static int
bench_latency(const char *url, size_t n, int (*fn)(struct asyncd *))
{
	struct asyncd	*c;
	double		*v, t;
	size_t		 i;
	int		 rv;

	if ((rv = asyncd_open(&c, url)) != 0 ||
	    (v = calloc(n, sizeof *v)) == NULL) {
		fprintf(stderr, "bench_asyncd: %s\n", asyncd_strerror(rv));
		return (1);
	}
	for (i = 0; i < n / 10; i++)	/* warm up */
		fn(c);
	for (i = 0; i < n; i++) {
		t = bench_now();
		if ((rv = fn(c)) != 0) {
			fprintf(stderr, "bench_asyncd: %s\n",
			    asyncd_strerror(rv));
			return (1);
		}
		v[i] = bench_now() - t;
	}
	printf("p50_us=%.1f\n", bench_quantile(v, n, 0.50) * 1e6);
	printf("p99_us=%.1f\n", bench_quantile(v, n, 0.99) * 1e6);
	free(v);
	asyncd_close(c);
	return (0);
}

struct bench_tput {
	const char	*url;
	double		 seconds;
	unsigned long	 ops[1024];
	int		 failed;
};

static void *
bench_client(void *p)
{
	struct bench_member	*m = p;
	struct bench_tput	*tp = bench_arg(m);
	struct asyncd		*c;
	unsigned long		 n = 0;
	double			 end;
	int			 rv;

	if (asyncd_open(&c, tp->url) != 0) {
		tp->failed = 1;
		return (NULL);
	}
	end = bench_now() + tp->seconds;
	while (bench_now() < end) {
		if ((rv = bench_call(c)) != 0) {
			fprintf(stderr, "bench_asyncd: %s\n",
			    asyncd_strerror(rv));
			tp->failed = 1;
			break;
		}
		n++;
	}
	tp->ops[m->index] = n;
	asyncd_close(c);
	return (NULL);
}

static int
bench_throughput(const char *url, size_t clients, double seconds)
{
	struct bench_tput	 tp;
	unsigned long		 total = 0;
	double			 wall;
	size_t			 i;

	if (clients < 1 || clients > 1024)
		return (1);
	memset(&tp, 0, sizeof tp);
	tp.url = url;
	tp.seconds = seconds;
	wall = bench_team_run(clients, bench_client, &tp, NULL);
	for (i = 0; i < clients; i++)
		total += tp.ops[i];
	printf("ops_per_s=%.0f\n", (double)total / wall);
	return (tp.failed);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "call") == 0)
		return (bench_latency(argv[2], strtoul(argv[3], NULL, 10),
		    bench_call));
	if (argc == 4 && strcmp(argv[1], "submitwait") == 0)
		return (bench_latency(argv[2], strtoul(argv[3], NULL, 10),
		    bench_submitwait));
	if (argc == 5 && strcmp(argv[1], "throughput") == 0)
		return (bench_throughput(argv[2], strtoul(argv[3], NULL, 10),
		    strtod(argv[4], NULL)));
	fprintf(stderr, "usage: bench_asyncd call|submitwait URL N | "
	    "throughput URL CLIENTS SECONDS\n");
	return (2);
}
