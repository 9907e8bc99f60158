/*
 * test_pool_thread.c: unit tests for the thread pool (daemon/pool_thread.c):
 * work runs off the loop, done runs on the loop thread exactly once, and
 * cancel and stop hand back work that has not started with
 * ASYNCD_ECANCELED.
 *
 * Blocking work waits on a gate that the test opens, so "running" and
 * "queued" are states the test controls rather than guesses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"
#include "sched_fixture.h"

#define TEST_POOL_MANY		1000

struct test_pool;

struct test_pool_item {
	struct pool_work	 work;
	struct test_pool	*t;
	int			 index;
	bool			 gated;		/* waits for the gate */
	atomic_int		 ran;		/* fn calls */
	atomic_bool		 started;
	pthread_t		 fn_thread;
	int			 done;		/* done calls */
	int			 status;
	int			 done_order;	/* position among dones */
	bool			 done_off_loop;
};

struct test_pool {
	struct fixture_loop	 fl;
	struct pool_thread	*pool;
	struct test_pool_item	*items;
	size_t			 nitems;
	int			 ndone;
	atomic_int		 run_order[TEST_POOL_MANY];
	atomic_int		 nrun;
	pthread_mutex_t		 gate_lock;
	pthread_cond_t		 gate_cond;
	bool			 gate_open;
};

static int
test_pool_setup(void **state)
{
	struct test_pool	*t;

	t = calloc(1, sizeof *t);
	assert_non_null(t);
	fixture_loop_init(&t->fl);
	pthread_mutex_init(&t->gate_lock, NULL);
	pthread_cond_init(&t->gate_cond, NULL);
	*state = t;
	return (0);
}

static void
test_pool_gate_open(struct test_pool *t)
{
	pthread_mutex_lock(&t->gate_lock);
	t->gate_open = true;
	pthread_cond_broadcast(&t->gate_cond);
	pthread_mutex_unlock(&t->gate_lock);
}

static int
test_pool_teardown(void **state)
{
	struct test_pool	*t = *state;

	/* Whatever happened, let blocked work finish before stopping. */
	test_pool_gate_open(t);
	if (t->pool != NULL)
		pool_thread_stop(t->pool);
	fixture_loop_fini(&t->fl);
	pthread_cond_destroy(&t->gate_cond);
	pthread_mutex_destroy(&t->gate_lock);
	free(t->items);
	free(t);
	return (0);
}

static void
test_pool_alloc(struct test_pool *t, size_t n)
{
	size_t	i;

	t->items = calloc(n, sizeof *t->items);
	assert_non_null(t->items);
	t->nitems = n;
	for (i = 0; i < n; i++) {
		t->items[i].t = t;
		t->items[i].index = (int)i;
		t->items[i].status = -1;
	}
}

/* The work: records where and in which order it ran. */
static void
test_pool_fn(void *arg)
{
	struct test_pool_item	*it = arg;
	struct test_pool	*t = it->t;
	int			 pos;

	it->fn_thread = pthread_self();
	atomic_store(&it->started, true);
	pos = atomic_fetch_add(&t->nrun, 1);
	if (pos < TEST_POOL_MANY)
		atomic_store(&t->run_order[pos], it->index);
	if (it->gated) {
		pthread_mutex_lock(&t->gate_lock);
		while (!t->gate_open)
			pthread_cond_wait(&t->gate_cond, &t->gate_lock);
		pthread_mutex_unlock(&t->gate_lock);
	}
	atomic_fetch_add(&it->ran, 1);
}

static void
test_pool_done(struct pool_work *w, int status)
{
	struct test_pool_item	*it;

	it = container_of(w, struct test_pool_item, work);
	it->done++;
	it->status = status;
	it->done_order = it->t->ndone++;
	if (!pthread_equal(pthread_self(), it->t->fl.thread))
		it->done_off_loop = true;
}

static void
test_pool_submit(struct test_pool *t, size_t i)
{
	pool_thread_submit(t->pool, &t->items[i].work, test_pool_fn,
	    &t->items[i], test_pool_done);
}

static bool
test_pool_all_done(void *arg)
{
	struct test_pool	*t = arg;

	return ((size_t)t->ndone >= t->nitems);
}

static void
test_pool_thread_start_zero(void **state)
{
	struct test_pool	*t = *state;
	struct pool_thread	*p = NULL;

	assert_int_equal(pool_thread_start(&p, 0, &t->fl.inbox), EINVAL);
	assert_null(p);
	assert_int_equal(pool_thread_start(&t->pool, 3, &t->fl.inbox), 0);
	assert_non_null(t->pool);
	assert_int_equal(pool_thread_size(t->pool), 3);
}

static void
test_pool_thread_many_done_on_loop(void **state)
{
	struct test_pool	*t = *state;
	size_t			 i;

	test_pool_alloc(t, TEST_POOL_MANY);
	assert_int_equal(pool_thread_start(&t->pool, 2, &t->fl.inbox), 0);
	for (i = 0; i < TEST_POOL_MANY; i++)
		test_pool_submit(t, i);
	fixture_run_until(&t->fl, test_pool_all_done, t, 10);

	assert_int_equal(atomic_load(&t->nrun), TEST_POOL_MANY);
	for (i = 0; i < TEST_POOL_MANY; i++) {
		struct test_pool_item	*it = &t->items[i];

		if (atomic_load(&it->ran) != 1 || it->done != 1 ||
		    it->status != 0)
			fail_msg("item %zu: ran %d, done %d, status %d", i,
			    atomic_load(&it->ran), it->done, it->status);
		assert_false(it->done_off_loop);
		assert_false(pthread_equal(it->fn_thread, t->fl.thread));
	}
	/* Done never runs twice, even on stray wake-ups. */
	inbox_drain(&t->fl.inbox);
	assert_int_equal(t->ndone, TEST_POOL_MANY);
}

/* One thread takes the queue in order. */
static void
test_pool_thread_fifo(void **state)
{
	struct test_pool	*t = *state;
	size_t			 i;

	test_pool_alloc(t, 100);
	assert_int_equal(pool_thread_start(&t->pool, 1, &t->fl.inbox), 0);
	for (i = 0; i < 100; i++)
		test_pool_submit(t, i);
	fixture_run_until(&t->fl, test_pool_all_done, t, 10);
	for (i = 0; i < 100; i++) {
		assert_int_equal(atomic_load(&t->run_order[i]), (int)i);
		/* One thread, one inbox: completions keep the order too. */
		assert_int_equal(t->items[i].done_order, (int)i);
	}
}

static void
test_pool_thread_cancel_queued(void **state)
{
	struct test_pool	*t = *state;

	test_pool_alloc(t, 3);
	assert_int_equal(pool_thread_start(&t->pool, 1, &t->fl.inbox), 0);
	t->items[0].gated = true;
	test_pool_submit(t, 0);
	assert_true(fixture_poll_flag(&t->items[0].started, 5));
	test_pool_submit(t, 1);
	test_pool_submit(t, 2);

	/* Queued: done has run, with ECANCELED, before cancel returns. */
	assert_true(pool_thread_cancel(t->pool, &t->items[1].work));
	assert_int_equal(t->items[1].done, 1);
	assert_int_equal(t->items[1].status, ASYNCD_ECANCELED);
	assert_false(t->items[1].done_off_loop);
	/* Running: cancel refuses, and done will run as usual. */
	assert_false(pool_thread_cancel(t->pool, &t->items[0].work));
	assert_int_equal(t->items[0].done, 0);

	test_pool_gate_open(t);
	fixture_run_until(&t->fl, test_pool_all_done, t, 10);
	assert_int_equal(atomic_load(&t->items[0].ran), 1);
	assert_int_equal(t->items[0].status, 0);
	assert_int_equal(atomic_load(&t->items[1].ran), 0);
	assert_false(atomic_load(&t->items[1].started));
	assert_int_equal(t->items[1].done, 1);
	assert_int_equal(atomic_load(&t->items[2].ran), 1);
	assert_int_equal(t->items[2].done, 1);
	assert_int_equal(t->items[2].status, 0);

	/* Finished: cancel refuses, and done does not run again. */
	assert_false(pool_thread_cancel(t->pool, &t->items[2].work));
	assert_false(pool_thread_cancel(t->pool, &t->items[1].work));
	inbox_drain(&t->fl.inbox);
	assert_int_equal(t->items[1].done, 1);
	assert_int_equal(t->items[2].done, 1);
}

/* Opens the gate a little later, from another thread. */
static void *
test_pool_opener(void *arg)
{
	struct test_pool	*t = arg;

	fixture_msleep(200);
	test_pool_gate_open(t);
	return (NULL);
}

static void
test_pool_thread_stop_cancels_queued(void **state)
{
	struct test_pool	*t = *state;
	pthread_t		 opener;
	size_t			 i;

	test_pool_alloc(t, 4);
	assert_int_equal(pool_thread_start(&t->pool, 1, &t->fl.inbox), 0);
	t->items[0].gated = true;
	test_pool_submit(t, 0);
	assert_true(fixture_poll_flag(&t->items[0].started, 5));
	for (i = 1; i < 4; i++)
		test_pool_submit(t, i);

	/*
	 * stop takes the queue back at once, then waits for the running
	 * item: the opener lets it finish 200 ms later.
	 */
	assert_int_equal(pthread_create(&opener, NULL, test_pool_opener, t),
	    0);
	pool_thread_stop(t->pool);
	t->pool = NULL;
	assert_int_equal(pthread_join(opener, NULL), 0);

	/* Every done has run, on this thread, before stop returned. */
	assert_int_equal(t->ndone, 4);
	assert_int_equal(atomic_load(&t->items[0].ran), 1);
	assert_int_equal(t->items[0].status, 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(t->items[i].done, 1);
		assert_false(t->items[i].done_off_loop);
	}
	for (i = 1; i < 4; i++) {
		assert_int_equal(atomic_load(&t->items[i].ran), 0);
		assert_int_equal(t->items[i].status, ASYNCD_ECANCELED);
		/* The cancelled ones complete in queue order. */
		assert_int_equal(t->items[i].done_order, (int)i);
	}
	assert_int_equal(inbox_drain(&t->fl.inbox), 0);
}

/* Stopping an idle pool joins its threads and runs nothing. */
static void
test_pool_thread_stop_idle(void **state)
{
	struct test_pool	*t = *state;

	assert_int_equal(pool_thread_start(&t->pool, 4, &t->fl.inbox), 0);
	pool_thread_stop(t->pool);
	t->pool = NULL;
	assert_int_equal(t->ndone, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_thread_start_zero,
		    test_pool_setup, test_pool_teardown),
		cmocka_unit_test_setup_teardown(
		    test_pool_thread_many_done_on_loop,
		    test_pool_setup, test_pool_teardown),
		cmocka_unit_test_setup_teardown(test_pool_thread_fifo,
		    test_pool_setup, test_pool_teardown),
		cmocka_unit_test_setup_teardown(test_pool_thread_cancel_queued,
		    test_pool_setup, test_pool_teardown),
		cmocka_unit_test_setup_teardown(
		    test_pool_thread_stop_cancels_queued,
		    test_pool_setup, test_pool_teardown),
		cmocka_unit_test_setup_teardown(test_pool_thread_stop_idle,
		    test_pool_setup, test_pool_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
