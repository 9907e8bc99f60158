/*
 * future_demo.c: libasyncd's futures, by example.
 *
 * asyncd_run() is asyncio.run_coroutine_threadsafe() for asyncd: it hands
 * the daemon a job and returns at once with a future. This program starts
 * a few jobs side by side and then collects them in the three ways a
 * future offers:
 *
 *   1. a done callback, called as soon as the job finishes (on one of
 *      nng's threads, so it must be quick);
 *   2. asyncd_future_fd(), a descriptor that becomes readable when the job
 *      is done, for poll(2), epoll, libev or libuv loops;
 *   3. asyncd_future_result(), which blocks, like Future.result().
 *
 * Usage: future_demo [URL]
 * URL defaults to $ASYNCD_SOCKET, or to the daemon's default socket.
 * Every call's result is checked: with no daemon, it says so and exits 3;
 * if a future fails (rather than its job), it exits 1.
 *
 * Build: cc future_demo.c $(pkg-config --cflags --libs asyncd)
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "asyncd.h"

/* The jobs to run at once: built-in job types and their arguments. */
static const struct {
	const char	*type;
	const char	*args;
} demo_jobs[] = {
	{ "sleep", "{\"seconds\": 0.6}" },
	{ "echo", "{\"hello\": \"world\"}" },
	{ "sleep", "{\"seconds\": 0.2}" },
	{ "fail", "{\"message\": \"failing on purpose\"}" },
};

#define DEMO_NJOBS	(sizeof demo_jobs / sizeof demo_jobs[0])

/* How many callbacks have run; they run on other threads, hence atomic. */
static atomic_int	demo_called;

/*
 * The done callback. It runs once per future, on one of nng's threads (or
 * at once, in our thread, if the job had finished before we added it). It
 * must not block, and must not free its future.
 */
static void
demo_done(struct asyncd_future *f, void *arg)
{
	const struct asyncd_job	*job = asyncd_future_job(f);
	const char		*name = arg;

	/* job is NULL if the future failed (the daemon forgot the job...). */
	printf("[callback] job %llu (%s) finished: %s\n",
	    (unsigned long long)asyncd_future_id(f), name,
	    job != NULL ? asyncd_state_name(asyncd_job_state(job)) :
	    "no record");
	atomic_fetch_add(&demo_called, 1);
}

/* Prints "future_demo: what: description (the daemon's words)" on stderr. */
static void
demo_warn(const char *what, int rv)
{
	const char	*msg = asyncd_errmsg();

	if (msg != NULL)
		fprintf(stderr, "future_demo: %s: %s (%s)\n", what,
		    asyncd_strerror(rv), msg);
	else
		fprintf(stderr, "future_demo: %s: %s\n", what,
		    asyncd_strerror(rv));
}

/*
 * Waits with poll(2) until every future's descriptor is readable. Returns
 * 0, or -1 if poll failed.
 */
static int
demo_poll(struct asyncd_future **futures, size_t n)
{
	struct pollfd	pfd[DEMO_NJOBS];
	size_t		i, left = n;

	for (i = 0; i < n; i++) {
		pfd[i].fd = asyncd_future_fd(futures[i]);
		pfd[i].events = POLLIN;
	}
	while (left > 0) {
		if (poll(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			perror("future_demo: poll");
			return (-1);
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & POLLIN))
				continue;
			/*
			 * The descriptor stays readable once done and belongs
			 * to the future: do not read or close it. Drop it
			 * from the set instead (a negative fd is ignored).
			 */
			printf("[poll] job %llu is done\n",
			    (unsigned long long)asyncd_future_id(futures[i]));
			pfd[i].fd = -1;
			left--;
		}
	}
	return (0);
}

/* True for the outcomes that come from the job itself, not the future. */
static int
demo_job_outcome(int rv)
{
	return (rv == ASYNCD_EFAILED || rv == ASYNCD_ECANCELED ||
	    rv == ASYNCD_EJOBTIMEDOUT);
}

int
main(int argc, char **argv)
{
	struct asyncd		*c;
	struct asyncd_future	*futures[DEMO_NJOBS];
	struct asyncd_info	*info;
	const struct asyncd_job	*job;
	const char		*result;
	char			 what[64];
	size_t			 i, n = 0;
	int			 rv, status = 0;

	if ((rv = asyncd_open(&c, argc > 1 ? argv[1] : NULL)) != 0) {
		fprintf(stderr, "future_demo: cannot open a client for %s: "
		    "%s\n", argc > 1 ? argv[1] : "the default socket",
		    asyncd_strerror(rv));
		return (2);
	}
	/* Give up quickly if no daemon is listening. */
	asyncd_set_request_timeout(c, 3.0);
	asyncd_set_connect_timeout(c, 3.0);

	/* Is anyone there? Say so plainly if not. */
	if ((rv = asyncd_info(c, &info)) != 0) {
		if (rv == ASYNCD_EUNREACHABLE)
			fprintf(stderr, "future_demo: no asyncd answers at "
			    "%s: %s (start one with 'asyncd')\n",
			    asyncd_url(c), asyncd_strerror(rv));
		else
			demo_warn("ping", rv);
		asyncd_close(c);
		return (rv == ASYNCD_EUNREACHABLE ? 3 : 1);
	}
	printf("talking to asyncd %s (pid %lld) at %s\n", info->version,
	    (long long)info->pid, asyncd_url(c));
	asyncd_info_free(info);

	/* 1. Start every job; each asyncd_run returns at once. */
	for (i = 0; i < DEMO_NJOBS; i++) {
		rv = asyncd_run(c, demo_jobs[i].type, demo_jobs[i].args, NULL,
		    &futures[n]);
		if (rv != 0) {
			snprintf(what, sizeof what, "run %s",
			    demo_jobs[i].type);
			demo_warn(what, rv);
			status = rv == ASYNCD_EUNREACHABLE ? 3 : 1;
			goto out;
		}
		printf("submitted %s %s as job %llu\n", demo_jobs[i].type,
		    demo_jobs[i].args,
		    (unsigned long long)asyncd_future_id(futures[n]));
		n++;
		/* The type name lives in static storage: a safe argument. */
		if ((rv = asyncd_future_add_done_callback(futures[n - 1],
		    demo_done, (void *)demo_jobs[i].type)) != 0) {
			demo_warn("add_done_callback", rv);
			status = 1;
			goto out;
		}
	}

	/* 2. Wait for all of them the way an event loop would. */
	if (demo_poll(futures, n) != 0) {
		status = 1;
		goto out;
	}

	/*
	 * 3. Collect the results. Every job is done, so this does not block;
	 * with a job still running it would wait up to the timeout given.
	 */
	for (i = 0; i < n; i++) {
		rv = asyncd_future_result(futures[i], 10.0, &result);
		if (rv == 0) {
			printf("[result] job %llu: %s\n",
			    (unsigned long long)asyncd_future_id(futures[i]),
			    result != NULL ? result : "null");
			continue;
		}
		/* How it failed: the job's own error, or the future's. */
		job = asyncd_future_job(futures[i]);
		printf("[result] job %llu: %s", (unsigned long long)
		    asyncd_future_id(futures[i]), asyncd_strerror(rv));
		if (job != NULL && asyncd_job_error_code(job) != NULL)
			printf(" (%s: %s)", asyncd_job_error_code(job),
			    asyncd_job_error_message(job) != NULL ?
			    asyncd_job_error_message(job) : "");
		else if (asyncd_errmsg() != NULL)
			printf(" (%s)", asyncd_errmsg());
		printf("\n");
		/* A job that failed is the demo; a future that did is not. */
		if (!demo_job_outcome(rv))
			status = rv == ASYNCD_EUNREACHABLE ? 3 : 1;
	}
	/* Callbacks may still be finishing on nng's threads; free waits. */
out:
	for (i = 0; i < n; i++)
		asyncd_future_free(futures[i]);
	printf("%d callbacks ran\n", atomic_load(&demo_called));
	asyncd_close(c);
	return (status);
}
