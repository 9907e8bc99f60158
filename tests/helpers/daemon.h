/*
 * daemon.h: a fixture that runs a private asyncd for an integration test.
 *
 * testd_start creates a fresh temporary directory, starts $BUILD/asyncd
 * (BUILD from the environment, default "build") listening on an ipc://
 * socket inside it, and returns once the daemon has answered a ping.
 * testd_stop sends SIGTERM, reaps the daemon, prints its log if it did not
 * exit cleanly, and removes the directory. Under ASan a leak in the daemon
 * makes its exit status non-zero, so a test should assert that testd_stop
 * returns 0.
 *
 *	struct testd d;
 *
 *	assert_int_equal(testd_start(&d, NULL), 0);
 *	... asyncd_open(&c, d.url) ...
 *	assert_int_equal(testd_stop(&d), 0);
 *
 * The functions block and are meant for the test's main thread. They print
 * what went wrong to stderr.
 */
#ifndef TESTD_DAEMON_H
#define TESTD_DAEMON_H

#include <sys/types.h>

/* An AF_UNIX path holds 107 bytes; the directory leaves room for names. */
#define TESTD_DIR_MAX		90

struct testd {
	char	dir[TESTD_DIR_MAX + 1];	/* the temporary directory */
	char	url[TESTD_DIR_MAX + 32];/* ipc://<dir>/asyncd.sock */
	char	log[TESTD_DIR_MAX + 32];/* <dir>/asyncd.log: stdout, stderr */
	pid_t	pid;			/* the daemon; -1 once reaped */
};

/*
 * Starts a daemon with `--socket <url> --state-dir <dir>/state --log-level
 * debug` followed by extra_args (NULL-terminated; NULL for none), and waits
 * up to 10 s for it to answer a ping. Returns 0, or -1 with nothing left
 * running and the directory removed.
 */
int	testd_start(struct testd *d, const char *const extra_args[]);

/*
 * Stops the daemon with SIGTERM, waiting up to 20 s (then SIGKILL), and
 * removes the directory. Returns the daemon's exit status, 128 + the signal
 * if a signal killed it, or -1 if it had to be killed or was not running.
 * Anything but 0 prints the daemon's log to stderr.
 */
int	testd_stop(struct testd *d);

/* Sends sig to the daemon (testd_stop still reaps it). Returns 0 or -1. */
int	testd_kill(struct testd *d, int sig);

#endif /* TESTD_DAEMON_H */
