/*
 * test_inbox.c: unit tests for the loop's inbox (daemon/inbox.c): items
 * pushed from any thread run exactly once, on the loop thread, in each
 * pusher's order, and an item may push again without deadlocking.
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

#define TEST_INBOX_THREADS	4
#define TEST_INBOX_PER_THREAD	10000

struct test_inbox_item {
	struct inbox_item	 item;
	struct test_inbox	*t;
	int			 thread;
	int			 seq;
	int			 ran;
};

struct test_inbox {
	struct fixture_loop	 fl;
	struct test_inbox_item	*items;		/* [thread][seq] */
	int			 next[TEST_INBOX_THREADS];
	size_t			 ran;
	size_t			 off_loop;	/* ran on another thread */
	size_t			 out_of_order;
	size_t			 chain_left;	/* test_inbox_item_pushes */
	atomic_bool		 pusher_go;
	atomic_bool		 pusher_done;
};

static struct test_inbox *test_inbox_current;

static int
test_inbox_setup(void **state)
{
	struct test_inbox	*t;

	t = calloc(1, sizeof *t);
	assert_non_null(t);
	fixture_loop_init(&t->fl);
	test_inbox_current = t;
	*state = t;
	return (0);
}

static int
test_inbox_teardown(void **state)
{
	struct test_inbox	*t = *state;

	fixture_loop_fini(&t->fl);
	free(t->items);
	free(t);
	test_inbox_current = NULL;
	return (0);
}

/* Counts the run, and checks thread and per-pusher order. */
static void
test_inbox_item_fn(struct inbox_item *item)
{
	struct test_inbox_item	*it;
	struct test_inbox	*t;

	it = container_of(item, struct test_inbox_item, item);
	t = it->t;
	it->ran++;
	t->ran++;
	if (!pthread_equal(pthread_self(), t->fl.thread))
		t->off_loop++;
	if (it->seq != t->next[it->thread])
		t->out_of_order++;
	t->next[it->thread] = it->seq + 1;
}

struct test_inbox_pusher {
	struct test_inbox	*t;
	int			 thread;
};

static void *
test_inbox_pusher_main(void *arg)
{
	struct test_inbox_pusher	*p = arg;
	struct test_inbox_item		*base;
	int				 i;

	base = &p->t->items[(size_t)p->thread * TEST_INBOX_PER_THREAD];
	for (i = 0; i < TEST_INBOX_PER_THREAD; i++)
		inbox_push(&p->t->fl.inbox, &base[i].item);
	return (NULL);
}

static bool
test_inbox_all_ran(void *arg)
{
	struct test_inbox	*t = arg;

	return (t->ran >= (size_t)TEST_INBOX_THREADS * TEST_INBOX_PER_THREAD);
}

static void
test_inbox_threads_fifo_once(void **state)
{
	struct test_inbox		*t = *state;
	struct test_inbox_pusher	 p[TEST_INBOX_THREADS];
	pthread_t			 tid[TEST_INBOX_THREADS];
	size_t				 i, n;
	bool				 met;

	n = (size_t)TEST_INBOX_THREADS * TEST_INBOX_PER_THREAD;
	t->items = calloc(n, sizeof *t->items);
	assert_non_null(t->items);
	for (i = 0; i < n; i++) {
		t->items[i].t = t;
		t->items[i].thread = (int)(i / TEST_INBOX_PER_THREAD);
		t->items[i].seq = (int)(i % TEST_INBOX_PER_THREAD);
		t->items[i].item.fn = test_inbox_item_fn;
	}
	for (i = 0; i < TEST_INBOX_THREADS; i++) {
		p[i].t = t;
		p[i].thread = (int)i;
		assert_int_equal(pthread_create(&tid[i], NULL,
		    test_inbox_pusher_main, &p[i]), 0);
	}
	met = fixture_run_cond(&t->fl, test_inbox_all_ran, t, 10);
	for (i = 0; i < TEST_INBOX_THREADS; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	assert_true(met);
	/* Nothing may run twice: give stray wake-ups a chance to. */
	inbox_drain(&t->fl.inbox);

	assert_int_equal(t->ran, n);
	assert_int_equal(t->off_loop, 0);
	assert_int_equal(t->out_of_order, 0);
	for (i = 0; i < n; i++) {
		if (t->items[i].ran != 1)
			fail_msg("item %zu ran %d times", i, t->items[i].ran);
	}
	for (i = 0; i < TEST_INBOX_THREADS; i++)
		assert_int_equal(t->next[i], TEST_INBOX_PER_THREAD);
	assert_int_equal(t->fl.inbox.handled, n);
	assert_true(t->fl.inbox.batches >= 1);
	assert_true(t->fl.inbox.batches <= n);
}

static void
test_inbox_drain_counts(void **state)
{
	struct test_inbox	*t = *state;
	size_t			 i;

	t->items = calloc(5, sizeof *t->items);
	assert_non_null(t->items);
	assert_int_equal(inbox_drain(&t->fl.inbox), 0);
	assert_int_equal(t->fl.inbox.batches, 0);
	assert_int_equal(t->fl.inbox.handled, 0);
	for (i = 0; i < 5; i++) {
		t->items[i].t = t;
		t->items[i].seq = (int)i;
		t->items[i].item.fn = test_inbox_item_fn;
		inbox_push(&t->fl.inbox, &t->items[i].item);
	}
	/* Nothing runs until the loop thread drains. */
	assert_int_equal(t->ran, 0);
	assert_int_equal(inbox_drain(&t->fl.inbox), 5);
	assert_int_equal(t->ran, 5);
	assert_int_equal(t->out_of_order, 0);
	assert_int_equal(t->fl.inbox.batches, 1);
	assert_int_equal(t->fl.inbox.handled, 5);
	/* An empty drain counts no batch. */
	assert_int_equal(inbox_drain(&t->fl.inbox), 0);
	assert_int_equal(t->fl.inbox.batches, 1);
	assert_int_equal(t->fl.inbox.handled, 5);
}

/* Pushes the next item of the chain while it runs. */
static void
test_inbox_chain_fn(struct inbox_item *item)
{
	struct test_inbox_item	*it;
	struct test_inbox	*t;

	test_inbox_item_fn(item);
	it = container_of(item, struct test_inbox_item, item);
	t = it->t;
	if (t->chain_left > 0) {
		t->chain_left--;
		inbox_push(&t->fl.inbox, &t->items[it->seq + 1].item);
	}
}

static bool
test_inbox_chain_done(void *arg)
{
	struct test_inbox	*t = arg;

	return (t->ran == 100);
}

static void
test_inbox_item_pushes(void **state)
{
	struct test_inbox	*t = *state;
	size_t			 i;

	t->items = calloc(100, sizeof *t->items);
	assert_non_null(t->items);
	for (i = 0; i < 100; i++) {
		t->items[i].t = t;
		t->items[i].seq = (int)i;
		t->items[i].item.fn = test_inbox_chain_fn;
	}

	/* By hand: the pushed item waits for the next drain. */
	t->chain_left = 1;
	inbox_push(&t->fl.inbox, &t->items[0].item);
	assert_int_equal(inbox_drain(&t->fl.inbox), 1);
	assert_int_equal(t->ran, 1);
	assert_int_equal(inbox_drain(&t->fl.inbox), 1);
	assert_int_equal(t->ran, 2);
	assert_int_equal(inbox_drain(&t->fl.inbox), 0);

	/* From the loop: the async watcher fires again for the pushed ones. */
	t->chain_left = 97;
	inbox_push(&t->fl.inbox, &t->items[2].item);
	fixture_run_until(&t->fl, test_inbox_chain_done, t, 5);
	assert_int_equal(t->ran, 100);
	assert_int_equal(t->out_of_order, 0);
	assert_int_equal(t->off_loop, 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(t->items[i].ran, 1);
	assert_int_equal(t->fl.inbox.handled, 100);
}

/* Lets the pusher go, and waits (bounded) until it has pushed it all. */
static void
test_inbox_blocking_fn(struct inbox_item *item)
{
	struct test_inbox	*t = test_inbox_current;

	test_inbox_item_fn(item);
	atomic_store(&t->pusher_go, true);
	/* If the inbox held its lock here, the pusher could not finish. */
	fixture_poll_flag(&t->pusher_done, 5);
}

static void *
test_inbox_late_pusher(void *arg)
{
	struct test_inbox	*t = arg;
	int			 i;

	if (fixture_poll_flag(&t->pusher_go, 5)) {
		for (i = 1; i <= 1000; i++)
			inbox_push(&t->fl.inbox, &t->items[i].item);
	}
	atomic_store(&t->pusher_done, true);
	return (NULL);
}

static void
test_inbox_push_while_draining(void **state)
{
	struct test_inbox	*t = *state;
	pthread_t		 tid;
	size_t			 i;
	bool			 done;

	t->items = calloc(1001, sizeof *t->items);
	assert_non_null(t->items);
	for (i = 0; i <= 1000; i++) {
		t->items[i].t = t;
		t->items[i].thread = i == 0 ? 1 : 0;
		t->items[i].seq = i == 0 ? 0 : (int)i - 1;
		t->items[i].item.fn = test_inbox_item_fn;
	}
	t->items[0].item.fn = test_inbox_blocking_fn;
	assert_int_equal(pthread_create(&tid, NULL, test_inbox_late_pusher,
	    t), 0);
	inbox_push(&t->fl.inbox, &t->items[0].item);

	/* This drain runs only the batch it took, not the later pushes. */
	assert_int_equal(inbox_drain(&t->fl.inbox), 1);
	done = atomic_load(&t->pusher_done);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_true(done);
	assert_int_equal(t->ran, 1);
	assert_int_equal(inbox_drain(&t->fl.inbox), 1000);
	assert_int_equal(t->ran, 1001);
	assert_int_equal(t->out_of_order, 0);
	assert_int_equal(t->fl.inbox.batches, 2);
	assert_int_equal(t->fl.inbox.handled, 1001);
}

/* A push from another thread wakes a loop that is blocked in ev_run. */
static void *
test_inbox_delayed_pusher(void *arg)
{
	struct test_inbox	*t = arg;

	fixture_msleep(50);
	inbox_push(&t->fl.inbox, &t->items[0].item);
	return (NULL);
}

static bool
test_inbox_one_ran(void *arg)
{
	struct test_inbox	*t = arg;

	return (t->ran == 1);
}

static void
test_inbox_push_wakes_loop(void **state)
{
	struct test_inbox	*t = *state;
	pthread_t		 tid;
	double			 start;
	bool			 met;

	t->items = calloc(1, sizeof *t->items);
	assert_non_null(t->items);
	t->items[0].t = t;
	t->items[0].item.fn = test_inbox_item_fn;
	start = ev_time();
	assert_int_equal(pthread_create(&tid, NULL, test_inbox_delayed_pusher,
	    t), 0);
	met = fixture_run_cond(&t->fl, test_inbox_one_ran, t, 5);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_true(met);
	/* Woken by the push, not by the 5 s watchdog. */
	assert_true(ev_time() - start < 2.5);
	assert_int_equal(t->off_loop, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inbox_threads_fifo_once,
		    test_inbox_setup, test_inbox_teardown),
		cmocka_unit_test_setup_teardown(test_inbox_drain_counts,
		    test_inbox_setup, test_inbox_teardown),
		cmocka_unit_test_setup_teardown(test_inbox_item_pushes,
		    test_inbox_setup, test_inbox_teardown),
		cmocka_unit_test_setup_teardown(test_inbox_push_while_draining,
		    test_inbox_setup, test_inbox_teardown),
		cmocka_unit_test_setup_teardown(test_inbox_push_wakes_loop,
		    test_inbox_setup, test_inbox_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
