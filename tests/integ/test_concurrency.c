/*
 * test_concurrency.c: many jobs from many clients at once.
 *
 * The requirement: 1,000 sleep jobs of 0.3 s submitted at once all finish
 * in well under 1,000 x 0.3 s (they overlap), from several client processes
 * at once, with no job lost or duplicated. Four submitter processes
 * (tests/helpers/submitter.c, started with posix_spawn: nng is not
 * fork-safe) connect, wait for a common "go", and submit 250 keyed jobs
 * each; this process collects the 1,000 ids, waits for all of them, and
 * checks the ids, the outcomes, the wall time, the overlap (from the jobs'
 * own start and finish times), the daemon's counters, and that submitting
 * the same keys again returns the same jobs.
 *
 * Then one handle shared by 8 threads, each making 200 asyncd_call round
 * trips: every result must be its own request's.
 *
 * Each test runs under a watchdog alarm and ends by stopping its daemon,
 * which must exit 0 (under ASan: nothing leaked).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "asyncd.h"
/* Not daemon/daemon.h, which -Idaemon would find first. */
#include "../helpers/daemon.h"

#define CONC_PROCS		4
#define CONC_PER_PROC		250
#define CONC_JOBS		(CONC_PROCS * CONC_PER_PROC)
#define CONC_SECONDS		0.3
/* Serially the jobs would take 300 s; all of them must be done in 30. */
#define CONC_WALL_MAX		30.0
/* Jobs running at one instant, at least. */
#define CONC_OVERLAP_MIN	100
#define CONC_THREADS		8
#define CONC_CALLS		200
#define CONC_WATCHDOG		120

extern char	**environ;

static struct testd	*conc_daemon;

static double
conc_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
conc_watchdog(int sig)
{
	static const char	msg[] = "test_concurrency: watchdog: a test "
	    "ran too long\n";
	ssize_t			n;

	(void)sig;
	n = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)n;
	if (conc_daemon != NULL && conc_daemon->pid > 0)
		kill(conc_daemon->pid, SIGKILL);
	/* The submitters share our process group; tests/run kills them. */
	_exit(1);
}

static int
conc_setup(void **state)
{
	struct testd	*d;

	alarm(CONC_WATCHDOG);
	if ((d = calloc(1, sizeof *d)) == NULL)
		return (-1);
	if (testd_start(d, NULL) != 0) {
		free(d);
		return (-1);
	}
	conc_daemon = d;
	*state = d;
	return (0);
}

static int
conc_teardown(void **state)
{
	struct testd	*d = *state;
	int		 status = 0;

	if (d->pid > 0)
		status = testd_stop(d);
	conc_daemon = NULL;
	free(d);
	alarm(0);
	if (status != 0) {
		fprintf(stderr, "test_concurrency: the daemon exited with "
		    "status %d\n", status);
		return (-1);
	}
	return (0);
}

/* ---- submitter processes */

struct conc_proc {
	pid_t	 pid;
	int	 go;		/* its stdin, to say go */
	int	 out;		/* its stdout */
	char	*text;		/* all it printed */
	size_t	 len;
};

static void
conc_spawn(struct conc_proc *p, const char *url, const char *prefix)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, all;
	const char			*build;
	char				 path[4096], count[16], secs[16];
	char				*argv[6];
	int				 in[2], out[2], rv;

	if ((build = getenv("BUILD")) == NULL || *build == '\0')
		build = "build";
	snprintf(path, sizeof path, "%s/tests/submitter", build);
	if (access(path, X_OK) == -1)
		fail_msg("%s: %s (make tests)", path, strerror(errno));
	snprintf(count, sizeof count, "%d", CONC_PER_PROC);
	snprintf(secs, sizeof secs, "%g", CONC_SECONDS);
	argv[0] = path;
	argv[1] = (char *)url;
	argv[2] = (char *)prefix;
	argv[3] = count;
	argv[4] = secs;
	argv[5] = NULL;

	/* Close-on-exec: each child keeps only its own two ends (dup2). */
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	sigemptyset(&none);
	sigemptyset(&all);
	sigaddset(&all, SIGALRM);
	sigaddset(&all, SIGPIPE);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rv = posix_spawn(&p->pid, path, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (rv != 0)
		fail_msg("posix_spawn %s: %s", path, strerror(rv));
	p->go = in[1];
	p->out = out[0];
	p->text = NULL;
	p->len = 0;
}

/*
 * Reads from the submitters until each has printed at least want bytes'
 * worth of lines (want_eof: until each closes its stdout), for up to
 * seconds.
 */
static void
conc_read(struct conc_proc *procs, size_t n, bool want_eof,
    const char *want, double seconds)
{
	struct pollfd	 pfd[CONC_PROCS];
	double		 deadline = conc_now() + seconds;
	char		 buf[4096], *grown;
	size_t		 i, open;
	ssize_t		 got;
	bool		 need;
	int		 ms;

	for (;;) {
		open = 0;
		for (i = 0; i < n; i++) {
			need = want_eof ? procs[i].out >= 0 :
			    (procs[i].text == NULL ||
			    strstr(procs[i].text, want) == NULL);
			pfd[i].fd = need ? procs[i].out : -1;
			pfd[i].events = POLLIN;
			if (need)
				open++;
		}
		if (open == 0)
			return;
		ms = (int)((deadline - conc_now()) * 1000);
		if (ms <= 0)
			fail_msg("submitters silent for %.0f s", seconds);
		if (poll(pfd, n, ms) == -1 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			got = read(procs[i].out, buf, sizeof buf);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				close(procs[i].out);
				procs[i].out = -1;
				continue;
			}
			grown = realloc(procs[i].text, procs[i].len + got + 1);
			assert_non_null(grown);
			memcpy(grown + procs[i].len, buf, got);
			procs[i].len += got;
			grown[procs[i].len] = '\0';
			procs[i].text = grown;
		}
	}
}

/* Reaps a submitter (10 s at most); it must have exited 0. */
static void
conc_reap(struct conc_proc *p)
{
	double	deadline = conc_now() + 10;
	pid_t	pid;
	int	status;

	while ((pid = waitpid(p->pid, &status, WNOHANG)) == 0 &&
	    conc_now() < deadline) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	if (pid != p->pid) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		fail_msg("submitter %ld did not exit", (long)p->pid);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("submitter %ld ended with status 0x%x", (long)p->pid,
		    status);
}

static int
conc_cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

struct conc_edge {
	double	t;
	int	delta;	/* +1 started, -1 finished */
};

static int
conc_cmp_edge(const void *a, const void *b)
{
	const struct conc_edge	*x = a, *y = b;

	if (x->t != y->t)
		return (x->t < y->t ? -1 : 1);
	/* At the same instant, count finishes first: no credit for ties. */
	return (x->delta - y->delta);
}

/* The most jobs whose [started, finished] share one instant. */
static int
conc_max_overlap(struct asyncd_job **jobs, size_t n)
{
	struct conc_edge	*e;
	size_t			 i;
	int			 now = 0, max = 0;

	e = calloc(2 * n, sizeof *e);
	assert_non_null(e);
	for (i = 0; i < n; i++) {
		e[2 * i].t = asyncd_job_started(jobs[i]);
		e[2 * i].delta = 1;
		e[2 * i + 1].t = asyncd_job_finished(jobs[i]);
		e[2 * i + 1].delta = -1;
	}
	qsort(e, 2 * n, sizeof *e, conc_cmp_edge);
	for (i = 0; i < 2 * n; i++) {
		now += e[i].delta;
		if (now > max)
			max = now;
	}
	free(e);
	return (max);
}

static void
test_concurrency_many_clients(void **state)
{
	struct testd		 *d = *state;
	struct conc_proc	  procs[CONC_PROCS];
	struct asyncd		 *c;
	struct asyncd_job	**jobs;
	struct asyncd_stats	  st;
	struct asyncd_submit_opts opts = { .key = NULL };
	uint64_t		 *ids, *sorted, id;
	char			  prefix[16], key[32], *line, *save;
	double			  t0, wall, ran;
	size_t			  i, j, n;
	unsigned long long	  v;
	int			  created, overlap;
	bool			  was_created;

	ids = calloc(CONC_JOBS, sizeof *ids);
	sorted = calloc(CONC_JOBS, sizeof *sorted);
	jobs = calloc(CONC_JOBS, sizeof *jobs);
	assert_non_null(ids);
	assert_non_null(sorted);
	assert_non_null(jobs);

	/* Four clients, connected and waiting for the word. */
	for (i = 0; i < CONC_PROCS; i++) {
		snprintf(prefix, sizeof prefix, "p%zu", i);
		conc_spawn(&procs[i], d->url, prefix);
	}
	conc_read(procs, CONC_PROCS, false, "ready\n", 20);
	t0 = conc_now();
	for (i = 0; i < CONC_PROCS; i++) {
		assert_int_equal(write(procs[i].go, "go\n", 3), 3);
		close(procs[i].go);
	}
	conc_read(procs, CONC_PROCS, true, NULL, 60);
	for (i = 0; i < CONC_PROCS; i++)
		conc_reap(&procs[i]);

	/* ids[p * 250 + k]: the job with key "p<p>-<k>". */
	for (i = 0; i < CONC_PROCS; i++) {
		n = 0;
		line = strtok_r(procs[i].text, "\n", &save);
		assert_non_null(line);
		assert_string_equal(line, "ready");
		while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
			if (n == CONC_PER_PROC)
				fail_msg("submitter %zu printed more than %d "
				    "ids", i, CONC_PER_PROC);
			if (sscanf(line, "%llu %d", &v, &created) != 2)
				fail_msg("submitter %zu printed '%s'", i,
				    line);
			assert_int_equal(created, 1);
			ids[i * CONC_PER_PROC + n++] = v;
		}
		assert_int_equal(n, CONC_PER_PROC);
		free(procs[i].text);
	}

	/* 1,000 distinct ids: nothing was merged. */
	memcpy(sorted, ids, CONC_JOBS * sizeof *ids);
	qsort(sorted, CONC_JOBS, sizeof *sorted, conc_cmp_u64);
	for (i = 1; i < CONC_JOBS; i++) {
		if (sorted[i] == sorted[i - 1])
			fail_msg("id %" PRIu64 " handed out twice", sorted[i]);
	}

	/* All of them finish, and succeed. */
	assert_int_equal(asyncd_open(&c, d->url), 0);
	for (i = 0; i < CONC_JOBS; i += n) {
		n = CONC_JOBS - i < 1024 ? CONC_JOBS - i : 1024;
		assert_int_equal(asyncd_wait_many(c, ids + i, n,
		    ASYNCD_WAIT_ALL, 60, jobs + i), 0);
	}
	wall = conc_now() - t0;
	for (i = 0; i < CONC_JOBS; i++) {
		assert_int_equal(asyncd_job_id(jobs[i]), ids[i]);
		assert_int_equal(asyncd_job_state(jobs[i]), ASYNCD_SUCCEEDED);
		ran = asyncd_job_finished(jobs[i]) -
		    asyncd_job_started(jobs[i]);
		if (ran < CONC_SECONDS - 0.01)
			fail_msg("job %" PRIu64 " ran %.3f s", ids[i], ran);
	}
	overlap = conc_max_overlap(jobs, CONC_JOBS);
	printf("test_concurrency: %d jobs of %.1f s from %d processes in "
	    "%.2f s; at most %d at once\n", CONC_JOBS, CONC_SECONDS,
	    CONC_PROCS, wall, overlap);
	if (wall >= CONC_WALL_MAX)
		fail_msg("%d jobs took %.1f s (serially: %.0f s)", CONC_JOBS,
		    wall, CONC_JOBS * CONC_SECONDS);
	if (overlap < CONC_OVERLAP_MIN)
		fail_msg("at most %d jobs ran at once", overlap);
	for (i = 0; i < CONC_JOBS; i++)
		asyncd_job_free(jobs[i]);

	/* The daemon agrees: exactly 1,000 accepted, 1,000 succeeded. */
	assert_int_equal(asyncd_stats(c, &st), 0);
	assert_int_equal(st.submitted, CONC_JOBS);
	assert_int_equal(st.succeeded, CONC_JOBS);
	assert_int_equal(st.finished, CONC_JOBS);
	assert_int_equal(st.queued + st.running + st.failed + st.cancelled +
	    st.timed_out, 0);

	/* The same keys again, from one process: the same jobs, none new. */
	opts.key = key;
	for (i = 0; i < CONC_PROCS; i++) {
		for (j = 0; j < CONC_PER_PROC; j++) {
			snprintf(key, sizeof key, "p%zu-%zu", i, j);
			was_created = true;
			assert_int_equal(asyncd_submit(c, "sleep",
			    "{\"seconds\":0.3}", &opts, &id, &was_created), 0);
			if (id != ids[i * CONC_PER_PROC + j] || was_created)
				fail_msg("key %s: job %" PRIu64 " (created "
				    "%d), not %" PRIu64, key, id, was_created,
				    ids[i * CONC_PER_PROC + j]);
		}
	}
	assert_int_equal(asyncd_stats(c, &st), 0);
	assert_int_equal(st.submitted, CONC_JOBS);
	assert_int_equal(st.running + st.queued, 0);

	asyncd_close(c);
	free(jobs);
	free(sorted);
	free(ids);
}

/* ---- one handle, many threads */

struct conc_thread {
	struct asyncd	*c;
	int		 n;
	int		 ok;
	char		 error[256];
	pthread_t	 thread;
};

static void *
conc_caller(void *arg)
{
	struct conc_thread	*t = arg;
	struct asyncd_job	*job;
	char			 args[64];
	int			 i, rv;

	for (i = 0; i < CONC_CALLS; i++) {
		snprintf(args, sizeof args, "{\"thread\":%d,\"call\":%d}",
		    t->n, i);
		job = NULL;
		rv = asyncd_call(t->c, "echo", args, NULL, 20, &job);
		if (rv != 0) {
			snprintf(t->error, sizeof t->error, "call %d: %s", i,
			    asyncd_strerror(rv));
			break;
		}
		if (asyncd_job_state(job) != ASYNCD_SUCCEEDED ||
		    asyncd_job_result(job) == NULL ||
		    strcmp(asyncd_job_result(job), args) != 0) {
			snprintf(t->error, sizeof t->error, "call %d: %s got "
			    "%s %s", i, args,
			    asyncd_state_name(asyncd_job_state(job)),
			    asyncd_job_result(job) != NULL ?
			    asyncd_job_result(job) : "(no result)");
			asyncd_job_free(job);
			break;
		}
		asyncd_job_free(job);
		t->ok++;
	}
	return (NULL);
}

static void
test_concurrency_shared_handle(void **state)
{
	struct testd		*d = *state;
	struct conc_thread	 t[CONC_THREADS];
	struct asyncd_stats	 st;
	struct asyncd		*c;
	double			 t0;
	int			 i;

	assert_int_equal(asyncd_open(&c, d->url), 0);
	t0 = conc_now();
	for (i = 0; i < CONC_THREADS; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].c = c;
		t[i].n = i;
		assert_int_equal(pthread_create(&t[i].thread, NULL,
		    conc_caller, &t[i]), 0);
	}
	for (i = 0; i < CONC_THREADS; i++)
		pthread_join(t[i].thread, NULL);
	printf("test_concurrency: %d threads x %d calls on one handle in "
	    "%.2f s\n", CONC_THREADS, CONC_CALLS, conc_now() - t0);
	for (i = 0; i < CONC_THREADS; i++) {
		if (t[i].error[0] != '\0')
			fail_msg("thread %d: %s", i, t[i].error);
		assert_int_equal(t[i].ok, CONC_CALLS);
	}
	assert_int_equal(asyncd_stats(c, &st), 0);
	assert_int_equal(st.submitted, CONC_THREADS * CONC_CALLS);
	assert_int_equal(st.succeeded, CONC_THREADS * CONC_CALLS);
	asyncd_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrency_many_clients,
		    conc_setup, conc_teardown),
		cmocka_unit_test_setup_teardown(test_concurrency_shared_handle,
		    conc_setup, conc_teardown),
	};

	signal(SIGALRM, conc_watchdog);
	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
