/*
 * bench.h: timing helpers shared by the benchmark programs. Header-only:
 * each program is one source file.
 */
#ifndef BENCH_H
#define BENCH_H

#include <math.h>
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
 * Runs fn(i, arg) on n threads at once and returns the wall time from the
 * moment all are released until the last one returns.
 */
struct bench_team {
	void		*(*fn)(void *);
	void		*arg;
	size_t		 n;
	pthread_barrier_t barrier;
};

struct bench_member {
	struct bench_team	*team;
	size_t			 index;
};

static void *
bench_member_main(void *p)
{
	struct bench_member	*m = p;

	pthread_barrier_wait(&m->team->barrier);
	return (m->team->fn(m));
}

static inline double
bench_team_run(size_t n, void *(*fn)(void *), void *arg,
    struct bench_member **members_out)
{
	struct bench_team	 team = { fn, arg, n, { { 0 } } };
	struct bench_member	*m;
	pthread_t		*th;
	double			 t0;
	size_t			 i;

	m = calloc(n, sizeof *m);
	th = calloc(n, sizeof *th);
	if (m == NULL || th == NULL)
		abort();
	pthread_barrier_init(&team.barrier, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++) {
		m[i].team = &team;
		m[i].index = i;
		pthread_create(&th[i], NULL, bench_member_main, &m[i]);
	}
	pthread_barrier_wait(&team.barrier);
	t0 = bench_now();
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	t0 = bench_now() - t0;
	pthread_barrier_destroy(&team.barrier);
	free(th);
	if (members_out != NULL)
		*members_out = m;
	else
		free(m);
	return (t0);
}

/* The team's argument, from a member. */
static inline void *
bench_arg(struct bench_member *m)
{
	return (m->team->arg);
}

#endif /* BENCH_H */
