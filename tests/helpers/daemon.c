/*
 * daemon.c: runs a private asyncd for an integration test (see daemon.h).
 *
 * The daemon is started with posix_spawn in the test's process group, so
 * that tests/run can kill it if the test dies without stopping it.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "daemon.h"
#include "proto.h"

/* Readiness: poll every 10 ms, give up after 10 s. */
#define TESTD_POLL_MS		10
#define TESTD_START_MS		10000
/* A ping that got through must be answered within this. */
#define TESTD_PING_MS		1000
/* How long SIGTERM may take before SIGKILL. */
#define TESTD_STOP_MS		20000

static int64_t
testd_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
testd_sleep_ms(int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Copies the daemon's log to stderr. */
static void
testd_print_log(const struct testd *d)
{
	char	 buf[4096];
	size_t	 n;
	FILE	*fp;

	if ((fp = fopen(d->log, "r")) == NULL) {
		fprintf(stderr, "testd: no log %s: %s\n", d->log,
		    strerror(errno));
		return;
	}
	fprintf(stderr, "---- asyncd log %s\n", d->log);
	while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of asyncd log\n");
	fclose(fp);
}

static int
testd_remove_one(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1)
		fprintf(stderr, "testd: remove %s: %s\n", path,
		    strerror(errno));
	return (0);
}

static void
testd_remove_dir(struct testd *d)
{
	if (d->dir[0] == '\0')
		return;
	if (nftw(d->dir, testd_remove_one, 16, FTW_DEPTH | FTW_PHYS) == -1)
		fprintf(stderr, "testd: nftw %s: %s\n", d->dir,
		    strerror(errno));
	d->dir[0] = '\0';
}

/*
 * Waits up to ms for the daemon to exit. Returns its exit status (128 + the
 * signal if killed by one), or -1 if it is still running.
 */
static int
testd_reap(struct testd *d, int ms)
{
	int64_t	deadline = testd_now_ms() + ms;
	pid_t	pid;
	int	status;

	for (;;) {
		pid = waitpid(d->pid, &status, WNOHANG);
		if (pid == -1 && errno != EINTR) {
			fprintf(stderr, "testd: waitpid %ld: %s\n",
			    (long)d->pid, strerror(errno));
			d->pid = -1;
			return (-1);
		}
		if (pid == d->pid)
			break;
		if (testd_now_ms() >= deadline)
			return (-1);
		testd_sleep_ms(TESTD_POLL_MS);
	}
	d->pid = -1;
	if (WIFEXITED(status))
		return (WEXITSTATUS(status));
	return (128 + WTERMSIG(status));
}

/* Kills the daemon for good; for failures, where its status is moot. */
static void
testd_abort(struct testd *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) == -1 && errno == EINTR)
			;
		d->pid = -1;
	}
	testd_remove_dir(d);
}

/* Makes a fresh directory under $TMPDIR, or /tmp if that is too long. */
static int
testd_make_dir(struct testd *d)
{
	const char	*tmp;
	int		 n;

	tmp = getenv("TMPDIR");
	if (tmp == NULL || *tmp != '/' ||
	    strlen(tmp) + sizeof "/asyncd-test.XXXXXX" > sizeof d->dir)
		tmp = "/tmp";
	n = snprintf(d->dir, sizeof d->dir, "%s/asyncd-test.XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof d->dir || mkdtemp(d->dir) == NULL) {
		fprintf(stderr, "testd: mkdtemp in %s: %s\n", tmp,
		    strerror(errno));
		d->dir[0] = '\0';
		return (-1);
	}
	snprintf(d->url, sizeof d->url, "ipc://%s/asyncd.sock", d->dir);
	snprintf(d->log, sizeof d->log, "%s/asyncd.log", d->dir);
	return (0);
}

static int
testd_spawn(struct testd *d, const char *const extra_args[])
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, all;
	const char			*build;
	const char			**argv;
	char				 path[4096], state[TESTD_DIR_MAX + 16];
	size_t				 nextra = 0, i, n = 0;
	int				 rv;

	if ((build = getenv("BUILD")) == NULL || *build == '\0')
		build = "build";
	snprintf(path, sizeof path, "%s/asyncd", build);
	if (access(path, X_OK) == -1) {
		fprintf(stderr, "testd: %s: %s (build it first)\n", path,
		    strerror(errno));
		return (-1);
	}
	snprintf(state, sizeof state, "%s/state", d->dir);

	while (extra_args != NULL && extra_args[nextra] != NULL)
		nextra++;
	if ((argv = calloc(nextra + 8, sizeof *argv)) == NULL)
		return (-1);
	argv[n++] = path;
	argv[n++] = "--socket";
	argv[n++] = d->url;
	argv[n++] = "--state-dir";
	argv[n++] = state;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	for (i = 0; i < nextra; i++)
		argv[n++] = extra_args[i];
	argv[n] = NULL;

	/* stdin from /dev/null; stdout and stderr to the log. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, d->log,
	    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 2, 1);

	/* Signals as a fresh process has them, whatever the test did. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

	rv = posix_spawn(&d->pid, path, &fa, &attr, (char *const *)argv,
	    environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	free(argv);
	if (rv != 0) {
		fprintf(stderr, "testd: posix_spawn %s: %s\n", path,
		    strerror(rv));
		d->pid = -1;
		return (-1);
	}
	return (0);
}

/*
 * Sends one ping on a connected socket and reads the reply. Returns 0 if
 * the daemon answered {"ok":true,...} with its pid, 1 if no reply came (try
 * again), -1 if the reply was wrong (give up).
 */
static int
testd_ping(struct testd *d, nng_socket s, const char *req, size_t len)
{
	struct proto_reply	 rep;
	void			*buf;
	size_t			 sz;
	int			 rv = -1;

	if (nng_send(s, (void *)req, len, 0) != 0 ||
	    nng_recv(s, &buf, &sz, NNG_FLAG_ALLOC) != 0)
		return (1);
	if (proto_reply_decode(PROTO_PING, buf, sz, &rep) != 0 ||
	    rep.err != 0)
		fprintf(stderr, "testd: ping answered \"%.*s\"\n", (int)sz,
		    (const char *)buf);
	else if (rep.u.ping.pid != d->pid)
		fprintf(stderr, "testd: ping answered by pid %lld, not %ld\n",
		    (long long)rep.u.ping.pid, (long)d->pid);
	else
		rv = 0;
	proto_reply_fini(&rep);
	nng_free(buf, sz);
	return (rv);
}

/* Waits until the daemon answers a ping; 0, or -1 if it never does. */
static int
testd_wait_ready(struct testd *d)
{
	struct proto_req	 req;
	nng_socket		 s;
	int64_t			 deadline = testd_now_ms() + TESTD_START_MS;
	char			*ping = NULL;
	bool			 dialed = false;
	int			 rv, status, err = 0;

	memset(&req, 0, sizeof req);
	req.op = PROTO_PING;
	if (proto_req_encode(&req, &ping) != 0)
		return (-1);
	if ((rv = nng_req0_open(&s)) != 0) {
		fprintf(stderr, "testd: nng_req0_open: %s\n",
		    nng_strerror(rv));
		free(ping);
		return (-1);
	}
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, TESTD_PING_MS);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, TESTD_PING_MS);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);

	rv = 1;
	while (rv == 1 && testd_now_ms() < deadline) {
		if ((status = testd_reap(d, 0)) != -1) {
			fprintf(stderr, "testd: asyncd exited during startup "
			    "(status %d)\n", status);
			rv = -1;
			break;
		}
		/* A blocking dial fails at once while nobody listens. */
		if (!dialed)
			dialed = (err = nng_dial(s, d->url, NULL, 0)) == 0;
		if (dialed)
			rv = testd_ping(d, s, ping, strlen(ping));
		if (rv == 1)
			testd_sleep_ms(TESTD_POLL_MS);
	}
	if (rv == 1) {
		fprintf(stderr, "testd: asyncd did not answer a ping on %s "
		    "within %d ms (%s)\n", d->url, TESTD_START_MS,
		    dialed ? "connected" : nng_strerror(err));
		rv = -1;
	}
	nng_close(s);
	free(ping);
	return (rv);
}

int
testd_start(struct testd *d, const char *const extra_args[])
{
	memset(d, 0, sizeof *d);
	d->pid = -1;
	if (testd_make_dir(d) != 0)
		return (-1);
	if (testd_spawn(d, extra_args) != 0) {
		testd_abort(d);
		return (-1);
	}
	if (testd_wait_ready(d) != 0) {
		testd_print_log(d);
		testd_abort(d);
		return (-1);
	}
	return (0);
}

int
testd_stop(struct testd *d)
{
	int	status;

	if (d->pid <= 0) {
		fprintf(stderr, "testd: no daemon to stop\n");
		testd_remove_dir(d);
		return (-1);
	}
	if (kill(d->pid, SIGTERM) == -1)
		fprintf(stderr, "testd: kill %ld: %s\n", (long)d->pid,
		    strerror(errno));
	if ((status = testd_reap(d, TESTD_STOP_MS)) == -1 && d->pid > 0) {
		fprintf(stderr, "testd: asyncd did not exit within %d ms of "
		    "SIGTERM; killing it\n", TESTD_STOP_MS);
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) == -1 && errno == EINTR)
			;
		d->pid = -1;
	}
	if (status > 0)
		fprintf(stderr, "testd: asyncd ended with status %d\n",
		    status);
	if (status != 0)
		testd_print_log(d);
	testd_remove_dir(d);
	return (status);
}

int
testd_kill(struct testd *d, int sig)
{
	if (d->pid <= 0) {
		errno = ESRCH;
		return (-1);
	}
	return (kill(d->pid, sig));
}
