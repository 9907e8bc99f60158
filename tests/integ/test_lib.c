/*
 * test_lib.c: libasyncd against the real daemon.
 *
 * Every test starts its own asyncd on a temporary socket (the fixture in
 * tests/helpers/daemon.c), so the counters and ids it sees are its own, and
 * ends by stopping it and asserting that it exited 0: under ASan that
 * proves the daemon leaked nothing, and the client side is checked by
 * running this binary under ASan too.
 *
 * Waiting is on conditions with bounds (lib_wait_state polls a job's state
 * every 10 ms for up to 10 s); the only fixed delays are the jobs' own
 * sleeps. A watchdog alarm bounds every test: if it fires, the daemons are
 * killed and the binary exits 1, naming the test.
 *
 * nng 1.5.2 can hang in nng_close if a reply arrives on a REQ connection
 * just as it closes (see "A known hang" in lib/client.c). So a test never
 * closes a client with a request outstanding: futures are freed once done,
 * and the teardown makes one last round trip (a ping) before closing, so
 * that any reply the daemon sent earlier on that connection has arrived.
 *
 * To know that a request has reached the daemon without sleeping (the
 * shutdown test must not signal the daemon before its waiter's request is
 * there), lib_tx_msgs reads libasyncd's own count of the requests its
 * handle has written. It also proves asyncd_call is one round trip and
 * that a long wait is re-issued past the daemon's cap.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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
#include "client.h"	/* client_sent: the requests written */
/* Not daemon/daemon.h, which -Idaemon would find first. */
#include "../helpers/daemon.h"

#define NITEMS(a)		(sizeof(a) / sizeof((a)[0]))

/* What each test may take before the watchdog ends the run. */
#define LIB_WATCHDOG		60
/* Bound of every poll for a condition. */
#define LIB_POLL_MAX		10.0
/* A long job: far longer than any test; the daemon cancels it at stop. */
#define LIB_LONG		"{\"seconds\":30}"
/* A job id no daemon here ever hands out. */
#define LIB_NO_SUCH_JOB		999999

struct env {
	struct testd	 d;
	struct testd	 d2;	/* a second daemon, for a restart */
	struct asyncd	*c;
	bool		 down;	/* the daemon was signalled by the test */
	char		 tmp[32];	/* a directory to remove, or "" */
};

/* The daemons running, for the watchdog to kill. */
static struct testd	*lib_daemons[4];
static const char	*lib_test_name = "?";

/* ---- helpers */

static double
lib_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
lib_sleep(double seconds)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static void
lib_watchdog(int sig)
{
	static const char	 msg[] = "test_lib: watchdog: a test ran "
	    "too long; killing its daemons\n";
	size_t			 i;
	ssize_t			 n;

	(void)sig;
	n = write(STDERR_FILENO, msg, sizeof msg - 1);
	n = write(STDERR_FILENO, lib_test_name, strlen(lib_test_name));
	n = write(STDERR_FILENO, "\n", 1);
	(void)n;
	for (i = 0; i < NITEMS(lib_daemons); i++) {
		if (lib_daemons[i] != NULL && lib_daemons[i]->pid > 0)
			kill(lib_daemons[i]->pid, SIGKILL);
	}
	_exit(1);
}

static void
lib_track(struct testd *d, bool on)
{
	size_t	i;

	for (i = 0; i < NITEMS(lib_daemons); i++) {
		if (on && lib_daemons[i] == NULL) {
			lib_daemons[i] = d;
			return;
		}
		if (!on && lib_daemons[i] == d)
			lib_daemons[i] = NULL;
	}
}

/* Starts a daemon with extra arguments (NULL-terminated, or NULL). */
static void
lib_daemon_start(struct testd *d, const char *const args[])
{
	assert_int_equal(testd_start(d, args), 0);
	lib_track(d, true);
}

/* Stops a daemon; it must exit 0 (under ASan: nothing leaked). */
static void
lib_daemon_stop(struct testd *d)
{
	int	status;

	status = testd_stop(d);
	lib_track(d, false);
	assert_int_equal(status, 0);
}

/* Starts the test's daemon and a client of it. */
static void
lib_start(struct env *e, const char *const args[])
{
	lib_daemon_start(&e->d, args);
	assert_int_equal(asyncd_open(&e->c, e->d.url), 0);
}

static int
lib_setup_bare(void **state)
{
	struct env	*e;

	alarm(LIB_WATCHDOG);
	if ((e = calloc(1, sizeof *e)) == NULL)
		return (-1);
	e->d.pid = -1;
	e->d2.pid = -1;
	*state = e;
	return (0);
}

static int
lib_setup(void **state)
{
	struct env	*e;

	if (lib_setup_bare(state) != 0)
		return (-1);
	e = *state;
	lib_start(e, NULL);
	return (0);
}

static int
lib_teardown(void **state)
{
	struct env	*e = *state;
	int		 status = 0;

	if (e->c != NULL) {
		/* One last round trip: every earlier reply has arrived. */
		if (!e->down && e->d.pid > 0)
			(void)asyncd_ping(e->c, NULL, NULL, NULL);
		asyncd_close(e->c);
	}
	if (e->d.pid > 0) {
		status = testd_stop(&e->d);
		lib_track(&e->d, false);
	}
	if (e->d2.pid > 0) {
		if (testd_stop(&e->d2) != 0 && status == 0)
			status = -1;
		lib_track(&e->d2, false);
	}
	if (e->tmp[0] != '\0') {
		char	link[sizeof e->tmp + 16];

		snprintf(link, sizeof link, "%s/asyncd.sock", e->tmp);
		(void)unlink(link);
		(void)rmdir(e->tmp);
	}
	free(e);
	alarm(0);
	if (status != 0) {
		fprintf(stderr, "test_lib: the daemon exited with status %d\n",
		    status);
		return (-1);
	}
	return (0);
}

#define ENV	((struct env *)*state)

/*
 * Requests the test's client has written to the daemon (libasyncd counts
 * them as they go out, by either transport: client_sent).
 */
static uint64_t
lib_tx_msgs(struct asyncd *c)
{
	return (client_sent(c));
}

/* Submits a job that must be accepted; returns its id. */
static uint64_t
lib_submit(struct asyncd *c, const char *type, const char *args,
    const struct asyncd_submit_opts *opts)
{
	uint64_t	id = 0;
	bool		created = false;

	assert_int_equal(asyncd_submit(c, type, args, opts, &id, &created), 0);
	assert_true(created);
	assert_true(id >= 1);
	return (id);
}

/* Polls a job's status until it is in state want (10 s at most). */
static void
lib_wait_state(struct asyncd *c, uint64_t id, enum asyncd_state want)
{
	struct asyncd_job	*job;
	enum asyncd_state	 state;
	double			 deadline = lib_now() + LIB_POLL_MAX;

	for (;;) {
		assert_int_equal(asyncd_status(c, id, &job), 0);
		state = asyncd_job_state(job);
		asyncd_job_free(job);
		if (state == want)
			return;
		if (lib_now() > deadline)
			fail_msg("job %llu still %s, not %s, after %.0f s",
			    (unsigned long long)id, asyncd_state_name(state),
			    asyncd_state_name(want), LIB_POLL_MAX);
		lib_sleep(0.01);
	}
}

/* Waits for a job that must finish in state want; returns it. */
static struct asyncd_job *
lib_wait(struct asyncd *c, uint64_t id, enum asyncd_state want)
{
	struct asyncd_job	*job = NULL;

	assert_int_equal(asyncd_wait(c, id, LIB_POLL_MAX, &job), 0);
	assert_non_null(job);
	assert_int_equal(asyncd_job_id(job), id);
	assert_string_equal(asyncd_state_name(asyncd_job_state(job)),
	    asyncd_state_name(want));
	return (job);
}

static enum asyncd_state
lib_state_of(struct asyncd *c, uint64_t id)
{
	struct asyncd_job	*job;
	enum asyncd_state	 state;

	assert_int_equal(asyncd_status(c, id, &job), 0);
	state = asyncd_job_state(job);
	asyncd_job_free(job);
	return (state);
}

/* asyncd_errmsg() is set and contains what. */
static void
lib_errmsg_has(const char *what)
{
	const char	*msg = asyncd_errmsg();

	assert_non_null(msg);
	if (strstr(msg, what) == NULL)
		fail_msg("error message '%s' does not mention '%s'", msg,
		    what);
}

/* ---- identity and round trips */

static void
test_lib_ping(void **state)
{
	char	*version = NULL, *events = NULL, want[256];
	int64_t	 pid = 0;

	lib_test_name = __func__;
	assert_int_equal(asyncd_ping(ENV->c, &version, &events, &pid), 0);
	assert_string_equal(version, ASYNCD_VERSION);
	/* The events socket sits next to the request socket. */
	snprintf(want, sizeof want, "ipc://%s/asyncd.events", ENV->d.dir);
	assert_non_null(events);
	assert_string_equal(events, want);
	assert_int_equal(pid, ENV->d.pid);
	assert_null(asyncd_errmsg());
	assert_string_equal(asyncd_url(ENV->c), ENV->d.url);
	free(version);
	free(events);
}

/*
 * A handle used on both sides of a fork: its kept connection is the
 * parent's, and the child must not speak on it (the replies would cross).
 * The child's requests go on a connection of its own while the parent
 * goes on with its own.
 */
static void
test_lib_fork(void **state)
{
	struct asyncd_job	*job = NULL;
	pid_t			 pid;
	int			 st, i, rv;

	lib_test_name = __func__;
	assert_int_equal(asyncd_ping(ENV->c, NULL, NULL, NULL), 0);
	if ((pid = fork()) == 0) {
		for (i = rv = 0; i < 20 && rv == 0; i++) {
			rv = asyncd_call(ENV->c, "echo", "\"child\"", NULL, 10,
			    &job);
			if (rv == 0 && (asyncd_job_state(job) !=
			    ASYNCD_SUCCEEDED ||
			    strcmp(asyncd_job_result(job), "\"child\"") != 0))
				rv = -1;
			asyncd_job_free(job);
		}
		_exit(rv == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	for (i = 0; i < 20; i++) {
		assert_int_equal(asyncd_call(ENV->c, "echo", "\"parent\"", NULL,
		    10, &job), 0);
		assert_string_equal(asyncd_job_result(job), "\"parent\"");
		asyncd_job_free(job);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(asyncd_ping(ENV->c, NULL, NULL, NULL), 0);
}

/*
 * A connect timeout of 0 means "do not wait for a daemon that is not
 * there", not "fail against one that is": a new connection still gets the
 * daemon's greeting (libasyncd used to dial in the background from
 * asyncd_open on; a direct connection is made at the first request).
 */
static void
test_lib_connect_timeout_zero(void **state)
{
	struct asyncd	*c;
	char		*version = NULL;
	int		 i;

	lib_test_name = __func__;
	for (i = 0; i < 20; i++) {
		assert_int_equal(asyncd_open(&c, ENV->d.url), 0);
		asyncd_set_connect_timeout(c, 0);
		assert_int_equal(asyncd_ping(c, &version, NULL, NULL), 0);
		assert_string_equal(version, ASYNCD_VERSION);
		free(version);
		version = NULL;
		asyncd_close(c);
	}
}

/*
 * A request far over --max-msg (past four times it) makes the daemon drop
 * the connection mid-request: the call fails at once as unreachable, not
 * after the connect timeout, and the daemon keeps serving.
 */
static void
test_lib_oversize_fails_at_once(void **state)
{
	static const char *const args[] = { "--max-msg", "16384", NULL };
	char		*big;
	uint64_t	 id = 0;
	size_t		 n = 100 * 1024;
	double		 t0;

	lib_test_name = __func__;
	lib_start(ENV, args);
	asyncd_set_connect_timeout(ENV->c, 5);
	big = malloc(n + 3);
	assert_non_null(big);
	big[0] = '"';
	memset(big + 1, 'a', n);
	big[n + 1] = '"';
	big[n + 2] = '\0';
	t0 = lib_now();
	assert_int_equal(asyncd_submit(ENV->c, "echo", big, NULL, &id, NULL),
	    ASYNCD_EUNREACHABLE);
	assert_true(lib_now() - t0 < 2.5);
	free(big);
	assert_int_equal(asyncd_ping(ENV->c, NULL, NULL, NULL), 0);
}

/* The daemon's identity, with an instance that is its own start's. */
static void
test_lib_info(void **state)
{
	struct asyncd_info	*info = NULL, *again = NULL;
	size_t			 i;

	lib_test_name = __func__;
	assert_int_equal(asyncd_info(ENV->c, &info), 0);
	assert_string_equal(info->version, ASYNCD_VERSION);
	assert_int_equal(info->protocol, 1);
	assert_int_equal(info->pid, ENV->d.pid);
	assert_non_null(info->events);
	assert_non_null(info->instance);
	assert_int_equal(strlen(info->instance), 16);
	for (i = 0; i < 16; i++)
		assert_non_null(strchr("0123456789abcdef",
		    info->instance[i]));
	assert_int_equal(asyncd_info(ENV->c, &again), 0);
	assert_string_equal(again->instance, info->instance);
	asyncd_info_free(again);
	asyncd_info_free(info);
}

static void
test_lib_submit_wait_echo(void **state)
{
	/* Compact, as the daemon prints it, so the text must come back. */
	static const char	 args[] = "{\"a\":[1,2.5,-3,\"x\\\"y\"],"
	    "\"b\":null,\"c\":true,\"d\":{\"e\":{}},\"f\":\"caf\xc3\xa9\"}";
	struct asyncd_job	*job;
	uint64_t		 id;

	lib_test_name = __func__;
	id = lib_submit(ENV->c, "echo", args, NULL);
	job = lib_wait(ENV->c, id, ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_type(job), "echo");
	assert_non_null(asyncd_job_result(job));
	assert_string_equal(asyncd_job_result(job), args);
	assert_int_equal(asyncd_job_outcome(job), 0);
	assert_true(asyncd_job_done(job));
	assert_null(asyncd_job_error_code(job));
	assert_null(asyncd_job_key(job));
	assert_int_equal(asyncd_job_parent(job), 0);
	assert_true(asyncd_job_created(job) > 0);
	assert_true(asyncd_job_started(job) >= asyncd_job_created(job));
	assert_true(asyncd_job_finished(job) >= asyncd_job_started(job));
	asyncd_job_free(job);

	/* No arguments at all: null, and null comes back. */
	id = lib_submit(ENV->c, "echo", NULL, NULL);
	job = lib_wait(ENV->c, id, ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_result(job), "null");
	asyncd_job_free(job);
}

static void
test_lib_call_one_round_trip(void **state)
{
	struct asyncd_job	*job = NULL;
	uint64_t		 tx;
	double			 t0;

	lib_test_name = __func__;
	/* Warm the connection up, so that only the call is counted. */
	assert_int_equal(asyncd_ping(ENV->c, NULL, NULL, NULL), 0);

	tx = lib_tx_msgs(ENV->c);
	assert_int_equal(asyncd_call(ENV->c, "echo", "[1,{\"two\":2}]", NULL,
	    10, &job), 0);
	assert_int_equal(lib_tx_msgs(ENV->c) - tx, 1);
	assert_string_equal(asyncd_state_name(asyncd_job_state(job)),
	    "succeeded");
	assert_string_equal(asyncd_job_result(job), "[1,{\"two\":2}]");
	asyncd_job_free(job);

	/* A job that takes a while is still one request, held. */
	tx = lib_tx_msgs(ENV->c);
	assert_int_equal(asyncd_call(ENV->c, "sleep", "{\"seconds\":0.3}",
	    NULL, 10, &job), 0);
	assert_int_equal(lib_tx_msgs(ENV->c) - tx, 1);
	assert_int_equal(asyncd_job_state(job), ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_result(job), "null");
	asyncd_job_free(job);

	/* Past its timeout: ETIMEDOUT, the job as it stands, still going. */
	job = NULL;
	t0 = lib_now();
	assert_int_equal(asyncd_call(ENV->c, "sleep", LIB_LONG, NULL, 0.3,
	    &job), ASYNCD_ETIMEDOUT);
	assert_true(lib_now() - t0 >= 0.25);
	assert_true(lib_now() - t0 < 5);
	assert_non_null(job);
	assert_int_equal(asyncd_job_state(job), ASYNCD_RUNNING);
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_ETIMEDOUT);
	assert_int_equal(lib_state_of(ENV->c, asyncd_job_id(job)),
	    ASYNCD_RUNNING);
	asyncd_job_free(job);
}

/* ---- waiting */

static void
test_lib_wait_timeout_job_goes_on(void **state)
{
	struct asyncd_job	*job = NULL;
	uint64_t		 id;
	double			 t0, took;

	lib_test_name = __func__;
	id = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	t0 = lib_now();
	assert_int_equal(asyncd_wait(ENV->c, id, 0.3, &job),
	    ASYNCD_ETIMEDOUT);
	took = lib_now() - t0;
	assert_null(job);
	assert_true(took >= 0.25);
	assert_true(took < 5);
	/* Abandoning a wait never cancels the job. */
	assert_int_equal(lib_state_of(ENV->c, id), ASYNCD_RUNNING);
	/* And a second wait picks it up again. */
	assert_int_equal(asyncd_wait(ENV->c, id, 0, &job), ASYNCD_ETIMEDOUT);
	assert_int_equal(lib_state_of(ENV->c, id), ASYNCD_RUNNING);
}

static void
test_lib_wait_past_wait_cap(void **state)
{
	static const char *const args[] = { "--wait-cap", "0.3", NULL };
	struct asyncd_job	*job;
	uint64_t		 id, tx;
	double			 t0, took;

	lib_test_name = __func__;
	lib_start(ENV, args);
	id = lib_submit(ENV->c, "sleep", "{\"seconds\":1}", NULL);
	tx = lib_tx_msgs(ENV->c);
	t0 = lib_now();
	job = lib_wait(ENV->c, id, ASYNCD_SUCCEEDED);
	took = lib_now() - t0;
	asyncd_job_free(job);
	assert_true(took >= 0.9);
	assert_true(took < 6);
	/* The daemon held each wait 0.3 s at most: the library asked again. */
	if (lib_tx_msgs(ENV->c) - tx < 3)
		fail_msg("a 1 s wait under a 0.3 s cap took %llu requests",
		    (unsigned long long)(lib_tx_msgs(ENV->c) - tx));
}

/*
 * A regression test: libasyncd used to give every operation on a reused
 * context the timeout of the first one (nng copies a context's timeout
 * into an aio once and keeps it), so with a short connect timeout every
 * long poll failed with EUNREACHABLE after it: `asyncctl wait` gave up on
 * any job longer than 2 s.
 */
static void
test_lib_long_poll_outlasts_connect_timeout(void **state)
{
	struct asyncd_job	*job;
	uint64_t		 id;
	double			 t0;

	lib_test_name = __func__;
	asyncd_set_connect_timeout(ENV->c, 0.3);
	id = lib_submit(ENV->c, "sleep", "{\"seconds\":1.2}", NULL);
	t0 = lib_now();
	job = lib_wait(ENV->c, id, ASYNCD_SUCCEEDED);
	assert_true(lib_now() - t0 >= 1.0);
	asyncd_job_free(job);
	assert_int_equal(asyncd_call(ENV->c, "sleep", "{\"seconds\":1}", NULL,
	    10, &job), 0);
	assert_int_equal(asyncd_job_state(job), ASYNCD_SUCCEEDED);
	asyncd_job_free(job);

	/* A request timeout shorter than a long poll's hold adds to it. */
	asyncd_set_request_timeout(ENV->c, 0.5);
	id = lib_submit(ENV->c, "sleep", "{\"seconds\":1.2}", NULL);
	job = lib_wait(ENV->c, id, ASYNCD_SUCCEEDED);
	asyncd_job_free(job);
}

static void
test_lib_wait_unknown_job(void **state)
{
	struct asyncd_job	*job = NULL, *jobs[2] = { NULL, NULL };
	uint64_t		 ids[2];
	double			 t0;

	lib_test_name = __func__;
	t0 = lib_now();
	assert_int_equal(asyncd_wait(ENV->c, LIB_NO_SUCH_JOB, 10, &job),
	    ASYNCD_EUNKNOWNJOB);
	assert_true(lib_now() - t0 < 1.0);
	assert_null(job);
	lib_errmsg_has("999999");

	/*
	 * One unknown id among known ones no longer fails the wait: it is
	 * answered on its own (a fan-out whose oldest results were evicted
	 * still gets the rest), and counts as finished.
	 */
	ids[0] = lib_submit(ENV->c, "echo", "\"known\"", NULL);
	ids[1] = LIB_NO_SUCH_JOB;
	t0 = lib_now();
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 2, ASYNCD_WAIT_ALL, 10,
	    jobs), 0);
	assert_true(lib_now() - t0 < 1.0);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_result(jobs[0]), "\"known\"");
	assert_int_equal(asyncd_job_id(jobs[1]), LIB_NO_SUCH_JOB);
	assert_int_equal(asyncd_job_state(jobs[1]), ASYNCD_UNKNOWN);
	assert_true(asyncd_job_done(jobs[1]));
	assert_int_equal(asyncd_job_outcome(jobs[1]), ASYNCD_EUNKNOWNJOB);
	assert_string_equal(asyncd_job_error_code(jobs[1]), "unknown_job");
	assert_non_null(strstr(asyncd_job_error_message(jobs[1]), "999999"));
	asyncd_job_free(jobs[0]);
	asyncd_job_free(jobs[1]);
	jobs[0] = jobs[1] = NULL;

	/* With ANY, the unknown id is the one that "finished". */
	ids[0] = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	t0 = lib_now();
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 2, ASYNCD_WAIT_ANY, 10,
	    jobs), 0);
	assert_true(lib_now() - t0 < 1.0);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_RUNNING);
	assert_int_equal(asyncd_job_state(jobs[1]), ASYNCD_UNKNOWN);
	asyncd_job_free(jobs[0]);
	asyncd_job_free(jobs[1]);

	assert_int_equal(asyncd_status(ENV->c, LIB_NO_SUCH_JOB, &job),
	    ASYNCD_EUNKNOWNJOB);
	assert_int_equal(asyncd_cancel(ENV->c, LIB_NO_SUCH_JOB, 0, NULL),
	    ASYNCD_EUNKNOWNJOB);
	/* Ids the protocol cannot carry never leave the library. */
	assert_int_equal(asyncd_wait(ENV->c, 0, 1, &job), ASYNCD_EINVAL);
	assert_int_equal(asyncd_status(ENV->c, UINT64_C(1) << 53, &job),
	    ASYNCD_EINVAL);
}

static void
test_lib_wait_many(void **state)
{
	struct asyncd_job	*jobs[3];
	uint64_t		 ids[3];
	double			 t0, took;
	size_t			 i;

	lib_test_name = __func__;
	/* ALL: every job finished, in the order given. */
	ids[0] = lib_submit(ENV->c, "sleep", "{\"seconds\":0.3}", NULL);
	ids[1] = lib_submit(ENV->c, "echo", "\"x\"", NULL);
	ids[2] = lib_submit(ENV->c, "sleep", "{\"seconds\":0.1}", NULL);
	t0 = lib_now();
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ALL, 10,
	    jobs), 0);
	assert_true(lib_now() - t0 >= 0.2);
	for (i = 0; i < 3; i++) {
		assert_int_equal(asyncd_job_id(jobs[i]), ids[i]);
		assert_int_equal(asyncd_job_state(jobs[i]), ASYNCD_SUCCEEDED);
	}
	assert_string_equal(asyncd_job_result(jobs[0]), "null");
	assert_string_equal(asyncd_job_result(jobs[1]), "\"x\"");
	for (i = 0; i < 3; i++)
		asyncd_job_free(jobs[i]);

	/* ANY: back when the shortest finishes; the others still run. */
	ids[0] = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	ids[1] = lib_submit(ENV->c, "sleep", "{\"seconds\":0.3}", NULL);
	ids[2] = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	t0 = lib_now();
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ANY, 20,
	    jobs), 0);
	took = lib_now() - t0;
	assert_true(took >= 0.2);
	assert_true(took < 5);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_RUNNING);
	assert_int_equal(asyncd_job_state(jobs[1]), ASYNCD_SUCCEEDED);
	assert_int_equal(asyncd_job_state(jobs[2]), ASYNCD_RUNNING);
	for (i = 0; i < 3; i++) {
		assert_int_equal(asyncd_job_id(jobs[i]), ids[i]);
		asyncd_job_free(jobs[i]);
	}

	/* ALL that cannot be met in time: ETIMEDOUT, every job set. */
	t0 = lib_now();
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ALL,
	    0.2, jobs), ASYNCD_ETIMEDOUT);
	assert_true(lib_now() - t0 < 5);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_RUNNING);
	assert_int_equal(asyncd_job_state(jobs[1]), ASYNCD_SUCCEEDED);
	assert_int_equal(asyncd_job_state(jobs[2]), ASYNCD_RUNNING);
	for (i = 0; i < 3; i++)
		asyncd_job_free(jobs[i]);

	/* The library refuses nonsense without asking. */
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 0, ASYNCD_WAIT_ALL, 1,
	    jobs), ASYNCD_EINVAL);
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, 7, 1, jobs),
	    ASYNCD_EINVAL);
}

/* ---- looking at jobs */

static void
test_lib_status_args(void **state)
{
	struct asyncd_submit_opts	 opts = { .key = "st-key" };
	struct asyncd_job		*job;
	uint64_t			 id;

	lib_test_name = __func__;
	opts.timeout = 60;
	id = lib_submit(ENV->c, "sleep", "{ \"seconds\" : 30 }", &opts);
	lib_wait_state(ENV->c, id, ASYNCD_RUNNING);
	assert_int_equal(asyncd_status(ENV->c, id, &job), 0);
	assert_int_equal(asyncd_job_id(job), id);
	assert_string_equal(asyncd_job_type(job), "sleep");
	assert_non_null(asyncd_job_args(job));
	assert_string_equal(asyncd_job_args(job), "{\"seconds\":30}");
	assert_string_equal(asyncd_job_key(job), "st-key");
	assert_false(asyncd_job_done(job));
	assert_true(asyncd_job_started(job) > 0);
	assert_true(asyncd_job_finished(job) == 0);
	assert_null(asyncd_job_error_code(job));
	asyncd_job_free(job);

	/* A finished job: arguments and result both. */
	id = lib_submit(ENV->c, "echo", "[\"in\"]", NULL);
	asyncd_job_free(lib_wait(ENV->c, id, ASYNCD_SUCCEEDED));
	assert_int_equal(asyncd_status(ENV->c, id, &job), 0);
	assert_string_equal(asyncd_job_args(job), "[\"in\"]");
	assert_string_equal(asyncd_job_result(job), "[\"in\"]");
	assert_true(asyncd_job_done(job));
	asyncd_job_free(job);
}

static void
test_lib_cancel(void **state)
{
	struct asyncd_job	*job = NULL;
	uint64_t		 id, done;
	double			 t0;

	lib_test_name = __func__;
	/* Cancel a running job: it ends cancelled, with code "cancelled". */
	id = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	lib_wait_state(ENV->c, id, ASYNCD_RUNNING);
	t0 = lib_now();
	assert_int_equal(asyncd_cancel(ENV->c, id, 5, &job), 0);
	assert_true(lib_now() - t0 < 3);
	assert_int_equal(asyncd_job_id(job), id);
	assert_int_equal(asyncd_job_state(job), ASYNCD_CANCELLED);
	assert_string_equal(asyncd_job_error_code(job), "cancelled");
	assert_non_null(asyncd_job_error_message(job));
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_ECANCELED);
	assert_true(asyncd_job_finished(job) > 0);
	asyncd_job_free(job);

	/* What a waiter sees afterwards is the same. */
	job = lib_wait(ENV->c, id, ASYNCD_CANCELLED);
	assert_string_equal(asyncd_job_error_code(job), "cancelled");
	asyncd_job_free(job);

	/* Twice: already done, and the job is unchanged. */
	job = NULL;
	assert_int_equal(asyncd_cancel(ENV->c, id, 0, &job), ASYNCD_EDONE);
	assert_null(job);
	lib_errmsg_has("already finished");
	assert_int_equal(lib_state_of(ENV->c, id), ASYNCD_CANCELLED);

	/* A job that succeeded cannot be cancelled either. */
	done = lib_submit(ENV->c, "echo", "1", NULL);
	asyncd_job_free(lib_wait(ENV->c, done, ASYNCD_SUCCEEDED));
	assert_int_equal(asyncd_cancel(ENV->c, done, 1, NULL), ASYNCD_EDONE);
	assert_int_equal(lib_state_of(ENV->c, done), ASYNCD_SUCCEEDED);
}

static void
test_lib_job_timeout(void **state)
{
	struct asyncd_submit_opts	 opts = { .timeout = 0.2 };
	struct asyncd_job		*job;
	uint64_t			 id;
	double				 ran;

	lib_test_name = __func__;
	id = lib_submit(ENV->c, "sleep", LIB_LONG, &opts);
	job = lib_wait(ENV->c, id, ASYNCD_TIMED_OUT);
	assert_string_equal(asyncd_job_error_code(job), "timed_out");
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_EJOBTIMEDOUT);
	ran = asyncd_job_finished(job) - asyncd_job_started(job);
	assert_true(ran >= 0.15);
	assert_true(ran < 5);
	asyncd_job_free(job);

	/* A run time limit counts from the start: a quick job is unharmed. */
	opts.timeout = 5;
	id = lib_submit(ENV->c, "sleep", "{\"seconds\":0.1}", &opts);
	asyncd_job_free(lib_wait(ENV->c, id, ASYNCD_SUCCEEDED));
}

static void
test_lib_fail_job(void **state)
{
	struct asyncd_job	*job = NULL;
	uint64_t		 id;

	lib_test_name = __func__;
	id = lib_submit(ENV->c, "fail",
	    "{\"message\":\"disk on fire\",\"code\":\"disk_full\"}", NULL);
	job = lib_wait(ENV->c, id, ASYNCD_FAILED);
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_EFAILED);
	assert_string_equal(asyncd_job_error_code(job), "disk_full");
	assert_string_equal(asyncd_job_error_message(job), "disk on fire");
	/* A job that failed has no result. */
	assert_null(asyncd_job_result(job));
	asyncd_job_free(job);

	/* asyncd_call returns 0 (the wait worked); the outcome says failed. */
	job = NULL;
	assert_int_equal(asyncd_call(ENV->c, "fail", NULL, NULL, 10, &job), 0);
	assert_int_equal(asyncd_job_state(job), ASYNCD_FAILED);
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_EFAILED);
	assert_string_equal(asyncd_job_error_code(job), "failed");
	assert_non_null(asyncd_job_error_message(job));
	asyncd_job_free(job);
}

static void
test_lib_gather_order(void **state)
{
	/* The first child finishes last and still comes first. */
	static const char	 args[] = "{\"jobs\":["
	    "{\"type\":\"gather\",\"args\":{\"jobs\":["
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.3}},"
	    "{\"type\":\"echo\",\"args\":\"a\"}]}},"
	    "{\"type\":\"echo\",\"args\":\"b\"},"
	    "{\"type\":\"echo\",\"args\":{\"c\":3}}]}";
	struct asyncd_list_opts	  lo = { .state = -1 };
	struct asyncd_job	 *job, **jobs;
	uint64_t		  id;
	size_t			  n, i, children = 0;
	bool			  more;

	lib_test_name = __func__;
	id = lib_submit(ENV->c, "gather", args, NULL);
	job = lib_wait(ENV->c, id, ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_result(job), "[[null,\"a\"],\"b\","
	    "{\"c\":3}]");
	asyncd_job_free(job);

	/* Its three children were jobs of their own, with it as parent. */
	assert_int_equal(asyncd_list(ENV->c, &lo, &jobs, &n, &more), 0);
	for (i = 0; i < n; i++) {
		if (asyncd_job_parent(jobs[i]) == id) {
			children++;
			assert_int_equal(asyncd_job_state(jobs[i]),
			    ASYNCD_SUCCEEDED);
		}
	}
	asyncd_jobs_free(jobs, n);
	assert_int_equal(children, 3);
	assert_int_equal(n, 6);
}

static void
test_lib_key_dedup(void **state)
{
	struct asyncd_submit_opts	 opts = { .key = "k-1", .timeout = 0 };
	struct asyncd_job		*job;
	uint64_t			 id, again, failed;
	bool				 created = true;

	lib_test_name = __func__;
	/* While the job runs, the key returns it, whatever else is asked. */
	id = lib_submit(ENV->c, "sleep", LIB_LONG, &opts);
	assert_int_equal(asyncd_submit(ENV->c, "echo", "\"other\"", &opts,
	    &again, &created), 0);
	assert_int_equal(again, id);
	assert_false(created);
	assert_int_equal(asyncd_status(ENV->c, id, &job), 0);
	assert_string_equal(asyncd_job_type(job), "sleep");
	assert_string_equal(asyncd_job_key(job), "k-1");
	asyncd_job_free(job);

	/* A cancelled job lets its key go: the next submit is a new job. */
	assert_int_equal(asyncd_cancel(ENV->c, id, 5, NULL), 0);
	created = false;
	assert_int_equal(asyncd_submit(ENV->c, "echo", "1", &opts, &again,
	    &created), 0);
	assert_true(created);
	assert_true(again > id);
	job = lib_wait(ENV->c, again, ASYNCD_SUCCEEDED);
	asyncd_job_free(job);

	/* A succeeded job keeps it: same id, nothing created. */
	created = true;
	assert_int_equal(asyncd_submit(ENV->c, "sleep", LIB_LONG, &opts, &id,
	    &created), 0);
	assert_int_equal(id, again);
	assert_false(created);

	/* A failed job lets it go too. */
	opts.key = "k-2";
	failed = lib_submit(ENV->c, "fail", NULL, &opts);
	asyncd_job_free(lib_wait(ENV->c, failed, ASYNCD_FAILED));
	created = false;
	assert_int_equal(asyncd_submit(ENV->c, "echo", "2", &opts, &id,
	    &created), 0);
	assert_true(created);
	assert_true(id != failed);
	asyncd_job_free(lib_wait(ENV->c, id, ASYNCD_SUCCEEDED));

	/* The library refuses keys the protocol does not allow. */
	opts.key = "";
	assert_int_equal(asyncd_submit(ENV->c, "echo", "1", &opts, &id, NULL),
	    ASYNCD_EINVAL);
}

/* Lists with opts; checks the ids (newest first) and "more". */
static void
lib_list_is(struct asyncd *c, const struct asyncd_list_opts *opts,
    const uint64_t *want, size_t nwant, bool want_more)
{
	struct asyncd_job	**jobs = NULL;
	size_t			  n = 99, i;
	bool			  more = !want_more;

	assert_int_equal(asyncd_list(c, opts, &jobs, &n, &more), 0);
	assert_int_equal(n, nwant);
	for (i = 0; i < n; i++) {
		assert_int_equal(asyncd_job_id(jobs[i]), want[i]);
		/* A list carries neither arguments nor results. */
		assert_null(asyncd_job_args(jobs[i]));
		assert_null(asyncd_job_result(jobs[i]));
	}
	assert_true(more == want_more);
	asyncd_jobs_free(jobs, n);
}

static void
test_lib_list_paging(void **state)
{
	struct asyncd_list_opts	 opts = { .state = -1 };
	uint64_t		 e[5], s, want[6];
	size_t			 i;

	lib_test_name = __func__;
	for (i = 0; i < 5; i++) {
		e[i] = lib_submit(ENV->c, "echo", "0", NULL);
		asyncd_job_free(lib_wait(ENV->c, e[i], ASYNCD_SUCCEEDED));
	}
	s = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	lib_wait_state(ENV->c, s, ASYNCD_RUNNING);

	/* Everything, newest first. */
	want[0] = s;
	for (i = 0; i < 5; i++)
		want[i + 1] = e[4 - i];
	lib_list_is(ENV->c, &opts, want, 6, false);

	/* Pages of two, each starting below the last id of the one before. */
	opts.limit = 2;
	lib_list_is(ENV->c, &opts, want, 2, true);
	opts.before = want[1];
	lib_list_is(ENV->c, &opts, want + 2, 2, true);
	opts.before = want[3];
	lib_list_is(ENV->c, &opts, want + 4, 2, false);
	opts.before = want[5];
	lib_list_is(ENV->c, &opts, NULL, 0, false);

	/* Filters. */
	opts.before = 0;
	opts.limit = 0;
	opts.state = ASYNCD_RUNNING;
	lib_list_is(ENV->c, &opts, &s, 1, false);
	opts.state = ASYNCD_SUCCEEDED;
	lib_list_is(ENV->c, &opts, want + 1, 5, false);
	opts.limit = 3;
	lib_list_is(ENV->c, &opts, want + 1, 3, true);
	opts.state = ASYNCD_FAILED;
	opts.limit = 0;
	lib_list_is(ENV->c, &opts, NULL, 0, false);
	opts.state = -1;
	opts.type = "sleep";
	lib_list_is(ENV->c, &opts, &s, 1, false);
	opts.type = "echo";
	opts.before = e[2];
	lib_list_is(ENV->c, &opts, want + 4, 2, false);

	/* Limits the protocol does not allow never leave the library. */
	opts.limit = 1001;
	assert_int_equal(asyncd_list(ENV->c, &opts, NULL, NULL, NULL),
	    ASYNCD_EINVAL);
}

static void
test_lib_types(void **state)
{
	static const char *const builtin[] = {
		"echo", "fail", "gather", "sleep"
	};
	char	**names = NULL, **descs = NULL;
	size_t	  n = 0, i, j;

	lib_test_name = __func__;
	assert_int_equal(asyncd_types(ENV->c, &names, &descs, &n), 0);
	assert_true(n >= NITEMS(builtin));
	for (i = 0; i < NITEMS(builtin); i++) {
		for (j = 0; j < n; j++) {
			if (strcmp(names[j], builtin[i]) == 0)
				break;
		}
		if (j == n)
			fail_msg("no built-in type '%s'", builtin[i]);
		assert_true(strlen(descs[j]) > 0);
	}
	/* Sorted by name. */
	for (j = 1; j < n; j++)
		assert_true(strcmp(names[j - 1], names[j]) < 0);
	asyncd_types_free(names, descs, n);
}

static void
test_lib_stats(void **state)
{
	struct asyncd_submit_opts	 opts = { .timeout = 0.1 };
	struct asyncd_stats		 st;
	struct asyncd_job		*job;
	uint64_t			 id, running;

	lib_test_name = __func__;
	memset(&st, 0xff, sizeof st);
	assert_int_equal(asyncd_stats(ENV->c, &st), 0);
	assert_int_equal(st.submitted, 0);
	assert_int_equal(st.finished, 0);

	/* 2 succeeded, 1 failed, 1 cancelled, 1 timed out, 1 running. */
	assert_int_equal(asyncd_call(ENV->c, "echo", "1", NULL, 10, &job), 0);
	asyncd_job_free(job);
	assert_int_equal(asyncd_call(ENV->c, "echo", "2", NULL, 10, &job), 0);
	asyncd_job_free(job);
	assert_int_equal(asyncd_call(ENV->c, "fail", NULL, NULL, 10, &job), 0);
	asyncd_job_free(job);
	id = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	assert_int_equal(asyncd_cancel(ENV->c, id, 5, NULL), 0);
	id = lib_submit(ENV->c, "sleep", LIB_LONG, &opts);
	asyncd_job_free(lib_wait(ENV->c, id, ASYNCD_TIMED_OUT));
	running = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	lib_wait_state(ENV->c, running, ASYNCD_RUNNING);
	/* Refused submits count for nothing. */
	assert_int_equal(asyncd_submit(ENV->c, "nope", NULL, NULL, &id, NULL),
	    ASYNCD_EUNKNOWNTYPE);
	assert_int_equal(asyncd_submit(ENV->c, "sleep", "-1", NULL, &id,
	    NULL), ASYNCD_EBADARGS);

	assert_int_equal(asyncd_stats(ENV->c, &st), 0);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.running, 1);
	assert_int_equal(st.succeeded, 2);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.cancelled, 1);
	assert_int_equal(st.timed_out, 1);
	assert_int_equal(st.submitted, 6);
	assert_int_equal(st.finished, 5);
	assert_int_equal(st.max_running, 1024);
	assert_int_equal(st.max_queued, 100000);
	assert_true(st.uptime > 0);
	assert_true(st.uptime < LIB_WATCHDOG);
}

/* ---- refusals */

static void
test_lib_bad_args(void **state)
{
	struct asyncd_stats	st;
	uint64_t		id = 0;

	lib_test_name = __func__;
	assert_int_equal(asyncd_submit(ENV->c, "sleep", "{\"seconds\":-1}",
	    NULL, &id, NULL), ASYNCD_EBADARGS);
	lib_errmsg_has("seconds");
	assert_int_equal(asyncd_submit(ENV->c, "gather", "{\"jobs\":[]}",
	    NULL, &id, NULL), ASYNCD_EBADARGS);
	lib_errmsg_has("'jobs'");
	assert_int_equal(asyncd_submit(ENV->c, "gather",
	    "{\"jobs\":[{\"type\":\"sleep\",\"args\":\"soon\"}]}", NULL, &id,
	    NULL), ASYNCD_EBADARGS);
	lib_errmsg_has("jobs[0]");
	assert_int_equal(asyncd_submit(ENV->c, "fail",
	    "{\"code\":\"cancelled\"}", NULL, &id, NULL), ASYNCD_EBADARGS);
	lib_errmsg_has("'code'");

	assert_int_equal(asyncd_submit(ENV->c, "nope", "1", NULL, &id, NULL),
	    ASYNCD_EUNKNOWNTYPE);
	lib_errmsg_has("'nope'");

	/* Refused by the library itself, without asking the daemon. */
	assert_int_equal(asyncd_submit(ENV->c, "echo", "{not json", NULL, &id,
	    NULL), ASYNCD_EINVAL);
	assert_int_equal(asyncd_submit(ENV->c, "", "1", NULL, &id, NULL),
	    ASYNCD_EINVAL);

	/* A success clears the message; nothing was created before. */
	assert_int_equal(asyncd_stats(ENV->c, &st), 0);
	assert_null(asyncd_errmsg());
	assert_int_equal(st.submitted, 0);
	assert_int_equal(id, 0);
}

static void
test_lib_busy(void **state)
{
	static const char *const args[] = {
		"--max-queued", "2", "--max-running", "1", NULL
	};
	struct asyncd_stats	 st;
	struct asyncd_job	*job = NULL, *jobs[2];
	uint64_t		 a, b, c, id = 0;

	lib_test_name = __func__;
	lib_start(ENV, args);
	a = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	lib_wait_state(ENV->c, a, ASYNCD_RUNNING);
	b = lib_submit(ENV->c, "sleep", "{\"seconds\":0.1}", NULL);
	c = lib_submit(ENV->c, "echo", "\"c\"", NULL);
	assert_int_equal(lib_state_of(ENV->c, b), ASYNCD_QUEUED);
	assert_int_equal(lib_state_of(ENV->c, c), ASYNCD_QUEUED);

	/* The queue is full. */
	assert_int_equal(asyncd_submit(ENV->c, "echo", "\"d\"", NULL, &id,
	    NULL), ASYNCD_EBUSY);
	lib_errmsg_has("max-queued");
	assert_int_equal(asyncd_call(ENV->c, "echo", "\"d\"", NULL, 1, &job),
	    ASYNCD_EBUSY);
	assert_null(job);
	assert_int_equal(asyncd_stats(ENV->c, &st), 0);
	assert_int_equal(st.submitted, 3);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.running, 1);
	assert_int_equal(st.max_queued, 2);
	assert_int_equal(st.max_running, 1);

	/* Nothing accepted was lost: free the slot and all of it runs. */
	assert_int_equal(lib_state_of(ENV->c, a), ASYNCD_RUNNING);
	assert_int_equal(asyncd_cancel(ENV->c, a, 5, NULL), 0);
	jobs[0] = jobs[1] = NULL;
	assert_int_equal(asyncd_wait_many(ENV->c, (uint64_t[]){ b, c }, 2,
	    ASYNCD_WAIT_ALL, 10, jobs), 0);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_SUCCEEDED);
	assert_int_equal(asyncd_job_state(jobs[1]), ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_result(jobs[1]), "\"c\"");
	asyncd_job_free(jobs[0]);
	asyncd_job_free(jobs[1]);

	/* With room again, submits are taken. */
	id = lib_submit(ENV->c, "echo", "\"e\"", NULL);
	asyncd_job_free(lib_wait(ENV->c, id, ASYNCD_SUCCEEDED));
	assert_int_equal(asyncd_stats(ENV->c, &st), 0);
	assert_int_equal(st.submitted, 4);
	assert_int_equal(st.succeeded, 3);
	assert_int_equal(st.cancelled, 1);
}

/* ---- futures */

static void
test_lib_future_result(void **state)
{
	struct asyncd_future	*f, *g;
	const char		*result = NULL;
	uint64_t		 id;

	lib_test_name = __func__;
	assert_int_equal(asyncd_run(ENV->c, "sleep", "{\"seconds\":0.5}",
	    NULL, &f), 0);
	assert_false(asyncd_future_done(f));
	assert_null(asyncd_future_job(f));
	/* A short timeout: not yet, and the job goes on. */
	assert_int_equal(asyncd_future_result(f, 0.05, &result),
	    ASYNCD_ETIMEDOUT);
	assert_null(result);
	assert_int_equal(asyncd_future_result(f, 10, &result), 0);
	assert_string_equal(result, "null");
	assert_true(asyncd_future_done(f));
	assert_false(asyncd_future_cancelled(f));
	assert_non_null(asyncd_future_job(f));
	assert_int_equal(asyncd_job_state(asyncd_future_job(f)),
	    ASYNCD_SUCCEEDED);
	id = asyncd_future_id(f);
	asyncd_future_free(f);

	/* The exact text of a result. */
	assert_int_equal(asyncd_run(ENV->c, "echo", "{\"k\":[1,\"v\"]}", NULL,
	    &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result), 0);
	assert_string_equal(result, "{\"k\":[1,\"v\"]}");
	asyncd_future_free(f);

	/* A future for a job submitted earlier. */
	assert_int_equal(asyncd_future_open(ENV->c, id, &g), 0);
	assert_int_equal(asyncd_future_id(g), id);
	assert_int_equal(asyncd_future_result(g, 10, &result), 0);
	assert_string_equal(result, "null");
	asyncd_future_free(g);
}

struct lib_cb {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 calls;
	pthread_t	 thread;
	bool		 done_seen;	/* done, as the callback saw it */
};

static void
lib_cb_init(struct lib_cb *cb)
{
	memset(cb, 0, sizeof *cb);
	pthread_mutex_init(&cb->lock, NULL);
	pthread_cond_init(&cb->cond, NULL);
}

static void
lib_cb_fini(struct lib_cb *cb)
{
	pthread_cond_destroy(&cb->cond);
	pthread_mutex_destroy(&cb->lock);
}

static void
lib_done_cb(struct asyncd_future *f, void *arg)
{
	struct lib_cb	*cb = arg;
	bool		 done = asyncd_future_done(f);

	pthread_mutex_lock(&cb->lock);
	cb->calls++;
	cb->thread = pthread_self();
	cb->done_seen = done;
	pthread_cond_broadcast(&cb->cond);
	pthread_mutex_unlock(&cb->lock);
}

static int
lib_cb_calls(struct lib_cb *cb)
{
	int	n;

	pthread_mutex_lock(&cb->lock);
	n = cb->calls;
	pthread_mutex_unlock(&cb->lock);
	return (n);
}

/* Waits (10 s at most) until the callback has run; returns its count. */
static int
lib_cb_wait(struct lib_cb *cb)
{
	struct timespec	ts;
	int		n;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)LIB_POLL_MAX;
	pthread_mutex_lock(&cb->lock);
	while (cb->calls == 0) {
		if (pthread_cond_timedwait(&cb->cond, &cb->lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	n = cb->calls;
	pthread_mutex_unlock(&cb->lock);
	return (n);
}

static void
test_lib_future_callback(void **state)
{
	struct asyncd_future	*f;
	struct lib_cb		 later, now;
	const char		*result;

	lib_test_name = __func__;
	lib_cb_init(&later);
	lib_cb_init(&now);

	/* Added before the job finishes: runs once, on another thread. */
	assert_int_equal(asyncd_run(ENV->c, "sleep", "{\"seconds\":0.5}",
	    NULL, &f), 0);
	assert_int_equal(asyncd_future_add_done_callback(f, lib_done_cb,
	    &later), 0);
	assert_int_equal(lib_cb_calls(&later), 0);
	assert_int_equal(lib_cb_wait(&later), 1);
	assert_false(pthread_equal(later.thread, pthread_self()));
	assert_true(later.done_seen);
	assert_int_equal(asyncd_future_result(f, 10, &result), 0);
	assert_int_equal(asyncd_future_add_done_callback(f, NULL, NULL),
	    ASYNCD_EINVAL);
	/* A round trip later, and freed: it has still run exactly once. */
	assert_int_equal(asyncd_ping(ENV->c, NULL, NULL, NULL), 0);
	asyncd_future_free(f);
	assert_int_equal(lib_cb_calls(&later), 1);

	/*
	 * Added once the job is done: runs at once, in the caller's thread.
	 * (This future had no callbacks when it completed: one added while
	 * the completing thread still runs earlier ones would run after
	 * them, in that thread, as asyncd.h says.)
	 */
	assert_int_equal(asyncd_run(ENV->c, "sleep", "{\"seconds\":0.2}",
	    NULL, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result), 0);
	assert_int_equal(asyncd_future_add_done_callback(f, lib_done_cb,
	    &now), 0);
	assert_int_equal(lib_cb_calls(&now), 1);
	assert_true(pthread_equal(now.thread, pthread_self()));
	assert_true(now.done_seen);
	asyncd_future_free(f);
	assert_int_equal(lib_cb_calls(&now), 1);

	/* A job that failed at once: the same. */
	lib_cb_fini(&now);
	lib_cb_init(&now);
	assert_int_equal(asyncd_run(ENV->c, "fail", NULL, NULL, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result), ASYNCD_EFAILED);
	assert_int_equal(asyncd_future_add_done_callback(f, lib_done_cb,
	    &now), 0);
	assert_int_equal(lib_cb_calls(&now), 1);
	assert_true(pthread_equal(now.thread, pthread_self()));
	asyncd_future_free(f);

	lib_cb_fini(&later);
	lib_cb_fini(&now);
}

/* True if fd is readable within ms (0: right now). */
static bool
lib_readable(int fd, int ms)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	int		n;

	while ((n = poll(&pfd, 1, ms)) == -1 && errno == EINTR)
		continue;
	assert_true(n >= 0);
	return (n == 1 && (pfd.revents & POLLIN));
}

static void
test_lib_future_fd(void **state)
{
	struct asyncd_future	*f;
	const struct asyncd_job	*job;
	double			 t0, deadline, ready = 0;
	int			 fd;

	lib_test_name = __func__;
	t0 = lib_now();
	assert_int_equal(asyncd_run(ENV->c, "sleep", "{\"seconds\":0.5}",
	    NULL, &f), 0);
	fd = asyncd_future_fd(f);
	assert_true(fd >= 0);
	assert_false(lib_readable(fd, 0));

	/* Readable only once the future is done, never before. */
	deadline = t0 + LIB_POLL_MAX;
	while (lib_now() < deadline) {
		if (lib_readable(fd, 20)) {
			ready = lib_now();
			assert_true(asyncd_future_done(f));
			break;
		}
	}
	if (ready == 0)
		fail_msg("the future's fd never became readable");
	assert_true(ready - t0 >= 0.45);
	job = asyncd_future_job(f);
	assert_non_null(job);
	assert_int_equal(asyncd_job_state(job), ASYNCD_SUCCEEDED);
	/* And it stays readable. */
	assert_true(lib_readable(fd, 0));
	assert_true(lib_readable(fd, 0));
	asyncd_future_free(f);
}

static void
test_lib_future_cancel(void **state)
{
	struct asyncd_future	*f;
	const struct asyncd_job	*job;
	const char		*result = NULL;
	uint64_t		 id;

	lib_test_name = __func__;
	assert_int_equal(asyncd_run(ENV->c, "sleep", LIB_LONG, NULL, &f), 0);
	id = asyncd_future_id(f);
	lib_wait_state(ENV->c, id, ASYNCD_RUNNING);
	assert_false(asyncd_future_cancelled(f));
	assert_int_equal(asyncd_future_cancel(f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result),
	    ASYNCD_ECANCELED);
	assert_null(result);
	assert_true(asyncd_future_done(f));
	assert_true(asyncd_future_cancelled(f));
	job = asyncd_future_job(f);
	assert_non_null(job);
	assert_string_equal(asyncd_job_error_code(job), "cancelled");
	assert_int_equal(asyncd_future_cancel(f), ASYNCD_EDONE);
	assert_int_equal(lib_state_of(ENV->c, id), ASYNCD_CANCELLED);
	asyncd_future_free(f);
}

static void
test_lib_future_failed(void **state)
{
	struct asyncd_submit_opts	 opts = { .timeout = 0.2 };
	struct asyncd_future		*f;
	const struct asyncd_job		*job;
	const char			*result = NULL;

	lib_test_name = __func__;
	assert_int_equal(asyncd_run(ENV->c, "fail",
	    "{\"code\":\"quota\",\"message\":\"over quota\"}", NULL, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result),
	    ASYNCD_EFAILED);
	assert_null(result);
	assert_true(asyncd_future_done(f));
	assert_false(asyncd_future_cancelled(f));
	job = asyncd_future_job(f);
	assert_non_null(job);
	assert_string_equal(asyncd_job_error_code(job), "quota");
	assert_string_equal(asyncd_job_error_message(job), "over quota");
	assert_int_equal(asyncd_future_cancel(f), ASYNCD_EDONE);
	asyncd_future_free(f);

	/* A job past its own timeout. */
	assert_int_equal(asyncd_run(ENV->c, "sleep", LIB_LONG, &opts, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result),
	    ASYNCD_EJOBTIMEDOUT);
	assert_false(asyncd_future_cancelled(f));
	assert_string_equal(asyncd_job_error_code(asyncd_future_job(f)),
	    "timed_out");
	asyncd_future_free(f);

	/* A future for a job the daemon never had. */
	assert_int_equal(asyncd_future_open(ENV->c, LIB_NO_SUCH_JOB, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result),
	    ASYNCD_EUNKNOWNJOB);
	assert_true(asyncd_future_done(f));
	asyncd_future_free(f);
}

/* ---- the daemon going away and coming back */

struct lib_waiter {
	struct asyncd		*c;
	uint64_t		 id;
	struct asyncd_job	*job;
	int			 rv;
	double			 returned;
	atomic_bool		 finished;
};

static void *
lib_waiter_main(void *arg)
{
	struct lib_waiter	*w = arg;

	w->rv = asyncd_wait(w->c, w->id, 60, &w->job);
	w->returned = lib_now();
	atomic_store(&w->finished, true);
	return (NULL);
}

static void
test_lib_shutdown_answers_waiters(void **state)
{
	struct lib_waiter	 w;
	pthread_t		 t;
	uint64_t		 tx;
	double			 deadline, t0;

	lib_test_name = __func__;
	lib_start(ENV, NULL);
	memset(&w, 0, sizeof w);
	w.c = ENV->c;
	w.id = lib_submit(ENV->c, "sleep", LIB_LONG, NULL);
	lib_wait_state(ENV->c, w.id, ASYNCD_RUNNING);

	/* The waiter's request must be with the daemon before the signal. */
	tx = lib_tx_msgs(ENV->c);
	assert_int_equal(pthread_create(&t, NULL, lib_waiter_main, &w), 0);
	deadline = lib_now() + LIB_POLL_MAX;
	while (lib_tx_msgs(ENV->c) == tx && lib_now() < deadline)
		lib_sleep(0.005);
	assert_true(lib_tx_msgs(ENV->c) > tx);
	assert_false(atomic_load(&w.finished));

	t0 = lib_now();
	assert_int_equal(testd_kill(&ENV->d, SIGTERM), 0);
	ENV->down = true;
	deadline = t0 + 15;
	while (!atomic_load(&w.finished) && lib_now() < deadline)
		lib_sleep(0.01);
	if (!atomic_load(&w.finished)) {
		/* The thread holds the client: nothing safe is left to do. */
		fprintf(stderr, "test_lib: asyncd_wait still blocked 15 s "
		    "after SIGTERM\n");
		testd_kill(&ENV->d, SIGKILL);
		_exit(1);
	}
	pthread_join(t, NULL);

	/* Answered promptly, with the job as the shutdown left it. */
	assert_int_equal(w.rv, 0);
	assert_true(w.returned - t0 < 5);
	assert_non_null(w.job);
	assert_int_equal(asyncd_job_id(w.job), w.id);
	assert_int_equal(asyncd_job_state(w.job), ASYNCD_CANCELLED);
	assert_string_equal(asyncd_job_error_code(w.job), "cancelled");
	assert_non_null(asyncd_job_error_message(w.job));
	if (strstr(asyncd_job_error_message(w.job), "shutting down") == NULL)
		fail_msg("cancelled because '%s'",
		    asyncd_job_error_message(w.job));
	asyncd_job_free(w.job);

	/* The daemon exits 0 (testd_stop only reaps it) and is gone. */
	lib_daemon_stop(&ENV->d);
	asyncd_set_connect_timeout(ENV->c, 0.3);
	t0 = lib_now();
	assert_int_equal(asyncd_ping(ENV->c, NULL, NULL, NULL),
	    ASYNCD_EUNREACHABLE);
	assert_true(lib_now() - t0 < 3);
}

/* Points link at daemon d's socket, replacing what it pointed at. */
static void
lib_link(const char *link, const struct testd *d)
{
	char	target[TESTD_DIR_MAX + 32];

	snprintf(target, sizeof target, "%s/asyncd.sock", d->dir);
	(void)unlink(link);
	assert_int_equal(symlink(target, link), 0);
}

static void
test_lib_daemon_late_and_restart(void **state)
{
	struct asyncd	*c;
	char		*dir = ENV->tmp;
	char		 link[sizeof ENV->tmp + 16], url[sizeof link + 8];
	int64_t		 pid = 0;
	uint64_t	 id;

	lib_test_name = __func__;
	/*
	 * The fixture picks its socket path when it starts the daemon, so
	 * the client dials a symlink that does not exist yet and is pointed
	 * at the daemon once it is up: to the client, the socket appears.
	 */
	snprintf(dir, sizeof ENV->tmp, "/tmp/asyncd-lib.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		dir[0] = '\0';
		fail_msg("mkdtemp: %s", strerror(errno));
	}
	snprintf(link, sizeof link, "%s/asyncd.sock", dir);
	snprintf(url, sizeof url, "ipc://%s", link);
	assert_int_equal(asyncd_open(&c, url), 0);
	ENV->c = c;

	lib_daemon_start(&ENV->d, NULL);
	lib_link(link, &ENV->d);
	assert_int_equal(asyncd_ping(c, NULL, NULL, &pid), 0);
	assert_int_equal(pid, ENV->d.pid);
	id = lib_submit(c, "echo", "\"first\"", NULL);
	asyncd_job_free(lib_wait(c, id, ASYNCD_SUCCEEDED));

	/* A restart: the same client reaches the new daemon. */
	lib_daemon_stop(&ENV->d);
	lib_daemon_start(&ENV->d2, NULL);
	lib_link(link, &ENV->d2);
	assert_int_equal(asyncd_ping(c, NULL, NULL, &pid), 0);
	assert_int_equal(pid, ENV->d2.pid);
	id = lib_submit(c, "echo", "\"second\"", NULL);
	asyncd_job_free(lib_wait(c, id, ASYNCD_SUCCEEDED));
	assert_int_equal(asyncd_ping(c, NULL, NULL, NULL), 0);

	asyncd_close(c);
	ENV->c = NULL;
	lib_daemon_stop(&ENV->d2);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(rmdir(dir), 0);
	dir[0] = '\0';
}

struct lib_restart_waiter {
	struct asyncd		*c;
	uint64_t		 id;
	struct asyncd_job	*job;
	int			 rv;
	char			 msg[256];
};

static void *
lib_restart_waiter_main(void *arg)
{
	struct lib_restart_waiter	*w = arg;

	w->rv = asyncd_wait(w->c, w->id, 60, &w->job);
	if (asyncd_errmsg() != NULL)
		snprintf(w->msg, sizeof w->msg, "%s", asyncd_errmsg());
	return (NULL);
}

/*
 * A regression test for the reproduction: kill -9 the daemon
 * while a wait on job 1 runs, start a new one (its own state, so its ids
 * start at 1 again), submit an echo there (job 1 too): the waiter used to
 * print that stranger's result and succeed. Now the new daemon's instance
 * tells it apart: the wait fails with unknown_job, saying why.
 */
static void
test_lib_restart_new_instance(void **state)
{
	struct lib_restart_waiter	 w;
	struct asyncd			*c, *other;
	struct asyncd_info		*info;
	char				*dir = ENV->tmp;
	char				 link[sizeof ENV->tmp + 16];
	char				 url[sizeof link + 8];
	char				 first[64];
	const char *const		 args[] = { "--wait-cap", "0.2",
					    NULL };
	pthread_t			 t;
	uint64_t			 tx, id;
	double				 deadline;

	lib_test_name = __func__;
	snprintf(dir, sizeof ENV->tmp, "/tmp/asyncd-lib.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		dir[0] = '\0';
		fail_msg("mkdtemp: %s", strerror(errno));
	}
	snprintf(link, sizeof link, "%s/asyncd.sock", dir);
	snprintf(url, sizeof url, "ipc://%s", link);
	lib_daemon_start(&ENV->d, args);
	lib_link(link, &ENV->d);
	assert_int_equal(asyncd_open(&c, url), 0);
	ENV->c = c;
	/* Long enough for the restart below, however slow the machine. */
	asyncd_set_connect_timeout(c, 20);
	assert_int_equal(asyncd_info(c, &info), 0);
	snprintf(first, sizeof first, "%s", info->instance);
	asyncd_info_free(info);

	memset(&w, 0, sizeof w);
	w.c = c;
	w.id = lib_submit(c, "sleep", LIB_LONG, NULL);
	/* Its second poll went out: the first reply named the instance. */
	tx = lib_tx_msgs(ENV->c);
	assert_int_equal(pthread_create(&t, NULL, lib_restart_waiter_main,
	    &w), 0);
	deadline = lib_now() + LIB_POLL_MAX;
	while (lib_tx_msgs(ENV->c) < tx + 2 && lib_now() < deadline)
		lib_sleep(0.005);
	assert_true(lib_tx_msgs(ENV->c) >= tx + 2);

	assert_int_equal(testd_kill(&ENV->d, SIGKILL), 0);
	assert_int_equal(testd_stop(&ENV->d), 128 + SIGKILL);
	lib_track(&ENV->d, false);
	lib_daemon_start(&ENV->d2, args);
	lib_link(link, &ENV->d2);
	assert_int_equal(asyncd_open(&other, url), 0);
	id = lib_submit(other, "echo", "\"a stranger's\"", NULL);
	assert_int_equal(id, w.id);
	assert_int_equal(asyncd_info(other, &info), 0);
	assert_string_not_equal(info->instance, first);
	asyncd_info_free(info);

	pthread_join(t, NULL);
	assert_int_equal(w.rv, ASYNCD_EUNKNOWNJOB);
	assert_null(w.job);
	if (strstr(w.msg, "restarted") == NULL)
		fail_msg("the waiter's message: '%s'", w.msg);

	assert_int_equal(asyncd_ping(other, NULL, NULL, NULL), 0);
	asyncd_close(other);
	assert_int_equal(asyncd_ping(c, NULL, NULL, NULL), 0);
	asyncd_close(c);
	ENV->c = NULL;
	lib_daemon_stop(&ENV->d2);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(rmdir(dir), 0);
	dir[0] = '\0';
}

static void
test_lib_no_daemon(void **state)
{
	struct asyncd	*c;
	double		 t0;

	(void)state;
	lib_test_name = __func__;
	/* Closing a client that never reached anyone is prompt. */
	assert_int_equal(asyncd_open(&c,
	    "ipc:///tmp/asyncd-lib-nobody-here/asyncd.sock"), 0);
	t0 = lib_now();
	asyncd_close(c);
	assert_true(lib_now() - t0 < 1);

	/* So is a request, with a short connect timeout, and then closing. */
	assert_int_equal(asyncd_open(&c,
	    "ipc:///tmp/asyncd-lib-nobody-here/asyncd.sock"), 0);
	asyncd_set_connect_timeout(c, 0.3);
	t0 = lib_now();
	assert_int_equal(asyncd_ping(c, NULL, NULL, NULL),
	    ASYNCD_EUNREACHABLE);
	assert_true(lib_now() - t0 < 2);
	t0 = lib_now();
	asyncd_close(c);
	assert_true(lib_now() - t0 < 1);

	assert_int_equal(asyncd_open(&c, ""), ASYNCD_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define LIB_TEST(t)	cmocka_unit_test_setup_teardown(t, lib_setup, \
			    lib_teardown)
#define LIB_BARE(t)	cmocka_unit_test_setup_teardown(t, lib_setup_bare, \
			    lib_teardown)
		LIB_TEST(test_lib_ping),
		LIB_TEST(test_lib_info),
		LIB_TEST(test_lib_fork),
		LIB_TEST(test_lib_connect_timeout_zero),
		LIB_BARE(test_lib_oversize_fails_at_once),
		LIB_TEST(test_lib_submit_wait_echo),
		LIB_TEST(test_lib_call_one_round_trip),
		LIB_TEST(test_lib_wait_timeout_job_goes_on),
		LIB_BARE(test_lib_wait_past_wait_cap),
		LIB_TEST(test_lib_long_poll_outlasts_connect_timeout),
		LIB_TEST(test_lib_wait_unknown_job),
		LIB_TEST(test_lib_wait_many),
		LIB_TEST(test_lib_status_args),
		LIB_TEST(test_lib_cancel),
		LIB_TEST(test_lib_job_timeout),
		LIB_TEST(test_lib_fail_job),
		LIB_TEST(test_lib_gather_order),
		LIB_TEST(test_lib_key_dedup),
		LIB_TEST(test_lib_list_paging),
		LIB_TEST(test_lib_types),
		LIB_TEST(test_lib_stats),
		LIB_TEST(test_lib_bad_args),
		LIB_BARE(test_lib_busy),
		LIB_TEST(test_lib_future_result),
		LIB_TEST(test_lib_future_callback),
		LIB_TEST(test_lib_future_fd),
		LIB_TEST(test_lib_future_cancel),
		LIB_TEST(test_lib_future_failed),
		LIB_BARE(test_lib_shutdown_answers_waiters),
		LIB_BARE(test_lib_daemon_late_and_restart),
		LIB_BARE(test_lib_restart_new_instance),
		LIB_BARE(test_lib_no_daemon),
#undef LIB_TEST
#undef LIB_BARE
	};

	signal(SIGALRM, lib_watchdog);
	/* TEST_FILTER=test_lib_future_* runs a subset. */
	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
