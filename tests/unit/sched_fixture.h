/*
 * sched_fixture.h: a private event loop for the daemon core's unit tests
 * (test_inbox, test_pool_thread, test_sched).
 *
 * Each test gets a fresh loop (ev_loop_new) with an inbox started on it
 * and unreferenced, as daemon/main.c does. Every run is bounded:
 * fixture_run_until steps the loop until a condition holds or a watchdog
 * timer expires, and an alarm() set up by fixture_loop_init kills a test
 * that hangs outside the loop. Everything here runs on the thread that
 * called fixture_loop_init, the test's "loop thread".
 */
#ifndef SCHED_FIXTURE_H
#define SCHED_FIXTURE_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

/* The last resort if a test hangs where no watchdog can see it. */
#define FIXTURE_ALARM		60

/* What a test gets when it does not name a bound. */
#define FIXTURE_WATCHDOG	10.0

struct fixture_loop {
	struct ev_loop	*loop;
	struct inbox	 inbox;
	pthread_t	 thread;	/* the loop thread */
	ev_timer	 watchdog;
	bool		 expired;
	ev_prepare	 until;		/* fixture_run_until's check */
	bool		(*cond)(void *);
	void		*cond_arg;
};

static inline void
fixture_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fixture_loop	*fl;

	(void)revents;
	fl = container_of(w, struct fixture_loop, watchdog);
	fl->expired = true;
	ev_break(loop, EVBREAK_ALL);
}

/*
 * Runs after every other prepare watcher (the scheduler's runs the
 * coroutines), and ends the iteration before the loop blocks once the
 * condition holds: otherwise a condition met by a coroutine would only be
 * seen after the next event, up to a second later.
 */
static inline void
fixture_until_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct fixture_loop	*fl;

	(void)revents;
	fl = container_of(w, struct fixture_loop, until);
	if (fl->cond != NULL && fl->cond(fl->cond_arg))
		ev_break(loop, EVBREAK_ONE);
}

/* Creates the loop and starts an unreferenced inbox on it. */
static inline void
fixture_loop_init(struct fixture_loop *fl)
{
	memset(fl, 0, sizeof *fl);
	alarm(FIXTURE_ALARM);
	fl->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(fl->loop);
	fl->thread = pthread_self();
	inbox_init(&fl->inbox, fl->loop);
	inbox_start(&fl->inbox);
	ev_unref(fl->loop);
	/* Repeating, so that it never stops itself while unreferenced. */
	ev_timer_init(&fl->watchdog, fixture_watchdog_cb, FIXTURE_WATCHDOG,
	    FIXTURE_WATCHDOG);
	ev_prepare_init(&fl->until, fixture_until_cb);
	ev_set_priority(&fl->until, EV_MINPRI);
}

/*
 * Runs what is left in the inbox (items may push more, so a few rounds),
 * stops it and frees the loop.
 */
static inline void
fixture_loop_fini(struct fixture_loop *fl)
{
	int	i;

	if (fl->loop == NULL)
		return;
	for (i = 0; i < 1000 && inbox_drain(&fl->inbox) > 0; i++)
		;
	ev_ref(fl->loop);
	inbox_stop(&fl->inbox);
	inbox_fini(&fl->inbox);
	ev_loop_destroy(fl->loop);
	fl->loop = NULL;
	alarm(0);
}

static inline void
fixture_watchdog_start(struct fixture_loop *fl, double seconds)
{
	fl->expired = false;
	/* The test may have spent a while outside the loop. */
	ev_now_update(fl->loop);
	ev_timer_set(&fl->watchdog, seconds, seconds);
	ev_timer_start(fl->loop, &fl->watchdog);
}

static inline void
fixture_watchdog_stop(struct fixture_loop *fl)
{
	ev_timer_stop(fl->loop, &fl->watchdog);
}

/*
 * Steps the loop (EVRUN_ONCE) until cond(arg) is true or seconds have
 * passed, and returns whether it is true. The watchdog stays referenced,
 * so each step blocks until an event instead of spinning. cond runs on
 * the loop thread; a flag another thread sets without waking the loop is
 * for fixture_poll_flag instead.
 */
static inline bool
fixture_run_cond(struct fixture_loop *fl, bool (*cond)(void *), void *arg,
    double seconds)
{
	bool	met;

	fixture_watchdog_start(fl, seconds);
	fl->cond = cond;
	fl->cond_arg = arg;
	ev_prepare_start(fl->loop, &fl->until);
	while (!(met = cond(arg)) && !fl->expired)
		ev_run(fl->loop, EVRUN_ONCE);
	ev_prepare_stop(fl->loop, &fl->until);
	fl->cond = NULL;
	fixture_watchdog_stop(fl);
	return (met);
}

/* The same, and fails the test if cond is not met in time. */
static inline void
fixture_run_until(struct fixture_loop *fl, bool (*cond)(void *), void *arg,
    double seconds)
{
	if (!fixture_run_cond(fl, cond, arg, seconds))
		fail_msg("condition not met within %.1f seconds", seconds);
}

/*
 * ev_run(loop, 0): returns when no referenced watcher is left. Fails the
 * test if that takes more than seconds. The scheduler's watchers are
 * unreferenced, and so are a coroutine that is woken but not yet resumed
 * and one waiting for the thread pool (the inbox): ev_run may return with
 * such jobs unfinished. It suits only jobs that end in their first run;
 * others need fixture_run_until.
 */
static inline void
fixture_run(struct fixture_loop *fl, double seconds)
{
	fixture_watchdog_start(fl, seconds);
	ev_unref(fl->loop);
	ev_run(fl->loop, 0);
	ev_ref(fl->loop);
	fixture_watchdog_stop(fl);
	if (fl->expired)
		fail_msg("the loop still ran after %.1f seconds", seconds);
}

/* Runs the loop for about the given time, whatever happens meanwhile. */
static inline void
fixture_run_for(struct fixture_loop *fl, double seconds)
{
	fixture_watchdog_start(fl, seconds);
	while (!fl->expired)
		ev_run(fl->loop, EVRUN_ONCE);
	fixture_watchdog_stop(fl);
}

/* Sleeps the calling thread for ms milliseconds. */
static inline void
fixture_msleep(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Polls flag (set by another thread) for up to seconds, without the loop.
 * Returns its final value.
 */
static inline bool
fixture_poll_flag(atomic_bool *flag, double seconds)
{
	double	deadline = ev_time() + seconds;

	while (!atomic_load(flag) && ev_time() < deadline)
		fixture_msleep(1);
	return (atomic_load(flag));
}

#endif /* SCHED_FIXTURE_H */
