/*
 * bench.h: timing helpers shared by the benchmark programs. Header-only:
 * each program is one source file.
 */
#ifndef BENCH_H
#define BENCH_H

#include <math.h>
#include <sys/resource.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double
bench_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static int
bench_cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

/* The q-quantile (0..1) of n samples, sorting them in place. */
static inline double
bench_quantile(double *v, size_t n, double q)
{
	size_t	i;

	qsort(v, n, sizeof *v, bench_cmp);
	i = (size_t)ceil(q * (double)n);
	if (i > 0)
		i--;
	return (v[i < n ? i : n - 1]);
}

/*
 * A client being measured: open connects to url (NULL on failure), call
 * makes one round trip (0 on success), close lets go. Both programs
 * measure through the same two drivers below, so their figures compare.
 */
struct bench_client {
	void	*(*open)(const char *url);
	int	 (*call)(void *client);
	void	 (*close)(void *client);
};

/* n sequential calls after n/10 to warm up; prints p50_us and p99_us. */
static inline int
bench_latency(const struct bench_client *bc, const char *url, size_t n)
{
	void	*c;
	double	*v, t;
	size_t	 i;
	int	 rv = 1;

	if (n == 0 || (c = bc->open(url)) == NULL)
		return (1);
	if ((v = calloc(n, sizeof *v)) == NULL)
		goto out;
	for (i = 0; i < n / 10; i++)
		bc->call(c);
	for (i = 0; i < n; i++) {
		t = bench_now();
		if (bc->call(c) != 0)
			goto out;
		v[i] = bench_now() - t;
	}
	printf("p50_us=%.1f\n", bench_quantile(v, n, 0.50) * 1e6);
	printf("p99_us=%.1f\n", bench_quantile(v, n, 0.99) * 1e6);
	rv = 0;
out:
	free(v);
	bc->close(c);
	return (rv);
}

#define BENCH_MAX_CLIENTS	1024

struct bench_run {
	const struct bench_client *bc;
	const char		*url;
	double			 seconds;
	pthread_barrier_t	 start;
	unsigned long		 ops[BENCH_MAX_CLIENTS];
	int			 failed;
};

struct bench_thread {
	struct bench_run	*run;
	size_t			 index;
};

/* One client: connects, waits for the others, calls until time is up. */
static void *
bench_thread_main(void *arg)
{
	struct bench_thread	*t = arg;
	struct bench_run	*r = t->run;
	void			*c = r->bc->open(r->url);
	unsigned long		 n = 0;
	double			 end;

	pthread_barrier_wait(&r->start);
	if (c == NULL) {
		r->failed = 1;
		return (NULL);
	}
	end = bench_now() + r->seconds;
	while (bench_now() < end) {
		if (r->bc->call(c) != 0) {
			r->failed = 1;
			break;
		}
		n++;
	}
	r->ops[t->index] = n;
	r->bc->close(c);
	return (NULL);
}

/* CPU seconds of this process and of its children that it waited for. */
static inline double
bench_cpu(void)
{
	struct rusage	self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return ((double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
	    kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) +
	    (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
	    kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6);
}

/*
 * clients threads, each its own connection, calling back to back for
 * seconds; prints ops_per_s over the wall time from the common start, and
 * cpu_us_per_op, the CPU time this process and the children it reaped
 * spent meanwhile, per call.
 */
static inline int
bench_throughput(const struct bench_client *bc, const char *url,
    size_t clients, double seconds)
{
	struct bench_run	*r;
	struct bench_thread	*t;
	pthread_t		*th;
	unsigned long		 total = 0;
	double			 wall, cpu;
	size_t			 i;
	int			 failed;

	if (clients < 1 || clients > BENCH_MAX_CLIENTS)
		return (1);
	r = calloc(1, sizeof *r);
	t = calloc(clients, sizeof *t);
	th = calloc(clients, sizeof *th);
	if (r == NULL || t == NULL || th == NULL)
		abort();
	r->bc = bc;
	r->url = url;
	r->seconds = seconds;
	pthread_barrier_init(&r->start, NULL, (unsigned)clients + 1);
	for (i = 0; i < clients; i++) {
		t[i].run = r;
		t[i].index = i;
		pthread_create(&th[i], NULL, bench_thread_main, &t[i]);
	}
	pthread_barrier_wait(&r->start);
	wall = bench_now();
	cpu = bench_cpu();
	for (i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	wall = bench_now() - wall;
	cpu = bench_cpu() - cpu;
	for (i = 0; i < clients; i++)
		total += r->ops[i];
	printf("ops_per_s=%.0f\n", (double)total / wall);
	if (total > 0)
		printf("cpu_us_per_op=%.0f\n", cpu * 1e6 / (double)total);
	failed = r->failed;
	pthread_barrier_destroy(&r->start);
	free(th);
	free(t);
	free(r);
	return (failed);
}

#endif /* BENCH_H */
