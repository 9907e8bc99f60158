/*
 * test_jobtab.c: unit tests for the job table (daemon/jobtab.c): lookups by
 * id and key across growth, removal, per-state counts, and the finished
 * list in the order jobs finished. Jobs come from job_create; the table
 * owns what it holds and jobtab_fini frees it (LeakSanitizer checks).
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

/* Enough to double both hash tables several times from 64 buckets. */
#define TEST_JOBTAB_N		5000

static int
test_jobtab_setup(void **state)
{
	struct jobtab	*tab;

	tab = calloc(1, sizeof *tab);
	assert_non_null(tab);
	jobtab_init(tab);
	*state = tab;
	return (0);
}

static int
test_jobtab_teardown(void **state)
{
	struct jobtab	*tab = *state;

	jobtab_fini(tab);
	free(tab);
	return (0);
}

static struct job *
test_jobtab_job(uint64_t id, const char *key)
{
	struct job	*job;

	job = job_create(id, "echo", NULL);
	assert_non_null(job);
	assert_true(cJSON_IsNull(job->args));
	assert_int_equal(job->state, PROTO_QUEUED);
	if (key != NULL)
		job->key = xstrdup(key);
	return (job);
}

static void
test_jobtab_counts_equal(const struct jobtab *tab, const uint64_t *want)
{
	int	i;

	for (i = 0; i < PROTO_STATE_COUNT; i++) {
		if (tab->counts[i] != want[i])
			fail_msg("%s: %" PRIu64 " jobs, expected %" PRIu64,
			    proto_state_name(i), tab->counts[i], want[i]);
	}
}

static void
test_jobtab_find_many(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;
	uint64_t	 id;
	size_t		 n;

	assert_null(jobtab_find(tab, 1));
	for (id = 1; id <= TEST_JOBTAB_N; id++)
		jobtab_add(tab, test_jobtab_job(id, NULL));
	assert_int_equal(tab->njobs, TEST_JOBTAB_N);
	assert_true(tab->idmask + 1 >= TEST_JOBTAB_N);
	for (id = 1; id <= TEST_JOBTAB_N; id++) {
		job = jobtab_find(tab, id);
		if (job == NULL || job->id != id)
			fail_msg("job %" PRIu64 " not found", id);
	}
	assert_null(jobtab_find(tab, 0));
	assert_null(jobtab_find(tab, TEST_JOBTAB_N + 1));
	assert_null(jobtab_find(tab, UINT64_MAX));

	/* The list keeps id order. */
	id = 0;
	n = 0;
	TAILQ_FOREACH(job, &tab->all, all_entry) {
		assert_true(job->id > id);
		id = job->id;
		n++;
	}
	assert_int_equal(n, TEST_JOBTAB_N);
	assert_int_equal(tab->counts[PROTO_QUEUED], TEST_JOBTAB_N);
	assert_int_equal(tab->nfinished, 0);
	assert_true(TAILQ_EMPTY(&tab->unread));
}

static void
test_jobtab_remove(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;
	uint64_t	 id;

	for (id = 1; id <= TEST_JOBTAB_N; id++)
		jobtab_add(tab, test_jobtab_job(id, NULL));
	/* Remove the odd ids, from the top down (other bucket positions). */
	for (id = TEST_JOBTAB_N - 1; id >= 1; id -= 2) {
		job = jobtab_find(tab, id);
		assert_non_null(job);
		jobtab_remove(tab, job);
		job_free(job);
		if (id == 1)
			break;
	}
	assert_int_equal(tab->njobs, TEST_JOBTAB_N / 2);
	assert_int_equal(tab->counts[PROTO_QUEUED], TEST_JOBTAB_N / 2);
	for (id = 1; id <= TEST_JOBTAB_N; id++) {
		job = jobtab_find(tab, id);
		if (id % 2 == 1 && job != NULL)
			fail_msg("removed job %" PRIu64 " still found", id);
		if (id % 2 == 0 && (job == NULL || job->id != id))
			fail_msg("job %" PRIu64 " lost", id);
	}
	/* The list lost exactly the removed ones, in order. */
	id = 0;
	TAILQ_FOREACH(job, &tab->all, all_entry) {
		assert_int_equal(job->id, id + 2);
		id = job->id;
	}
	assert_int_equal(id, TEST_JOBTAB_N);

	/* Ids keep growing after removals. */
	jobtab_add(tab, test_jobtab_job(TEST_JOBTAB_N + 1, NULL));
	assert_non_null(jobtab_find(tab, TEST_JOBTAB_N + 1));
	assert_int_equal(TAILQ_LAST(&tab->all, jobtab_all)->id,
	    TEST_JOBTAB_N + 1);
}

static void
test_jobtab_keys(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;
	char		 key[32];
	uint64_t	 id;

	for (id = 1; id <= TEST_JOBTAB_N; id++) {
		/* Every third job has no key. */
		if (id % 3 == 0)
			jobtab_add(tab, test_jobtab_job(id, NULL));
		else {
			snprintf(key, sizeof key, "key-%" PRIu64, id);
			jobtab_add(tab, test_jobtab_job(id, key));
		}
	}
	assert_int_equal(tab->nkeys, TEST_JOBTAB_N - TEST_JOBTAB_N / 3);
	assert_true(tab->keymask + 1 >= tab->nkeys);
	for (id = 1; id <= TEST_JOBTAB_N; id++) {
		snprintf(key, sizeof key, "key-%" PRIu64, id);
		job = jobtab_find_key(tab, key);
		if (id % 3 == 0 && job != NULL)
			fail_msg("key %s bound without a job", key);
		if (id % 3 != 0 && (job == NULL || job->id != id ||
		    !job->key_bound))
			fail_msg("key %s not bound to job %" PRIu64, key, id);
	}
	assert_null(jobtab_find_key(tab, ""));
	assert_null(jobtab_find_key(tab, "key-"));

	/* Unbinding forgets the key, not the job; twice is harmless. */
	job = jobtab_find(tab, 1);
	jobtab_unbind_key(tab, job);
	assert_false(job->key_bound);
	assert_string_equal(job->key, "key-1");
	assert_null(jobtab_find_key(tab, "key-1"));
	assert_ptr_equal(jobtab_find(tab, 1), job);
	jobtab_unbind_key(tab, job);
	assert_int_equal(tab->nkeys, TEST_JOBTAB_N - TEST_JOBTAB_N / 3 - 1);
	/* Its neighbours in the chain are still found. */
	assert_int_equal(jobtab_find_key(tab, "key-2")->id, 2);

	/* Another job may take the key now. */
	jobtab_add(tab, test_jobtab_job(TEST_JOBTAB_N + 1, "key-1"));
	assert_int_equal(jobtab_find_key(tab, "key-1")->id, TEST_JOBTAB_N + 1);

	/* Removing a job releases its key; removing an unbound one works. */
	job = jobtab_find(tab, 2);
	jobtab_remove(tab, job);
	job_free(job);
	assert_null(jobtab_find_key(tab, "key-2"));
	job = jobtab_find(tab, 1);
	jobtab_remove(tab, job);
	job_free(job);
	assert_null(jobtab_find(tab, 1));
	assert_int_equal(jobtab_find_key(tab, "key-1")->id, TEST_JOBTAB_N + 1);
	assert_int_equal(tab->nkeys, TEST_JOBTAB_N - TEST_JOBTAB_N / 3 - 1);
}

static void
test_jobtab_state_counts(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;
	uint64_t	 want[PROTO_STATE_COUNT] = { 0 };
	uint64_t	 id;

	for (id = 1; id <= 10; id++)
		jobtab_add(tab, test_jobtab_job(id, NULL));
	want[PROTO_QUEUED] = 10;
	test_jobtab_counts_equal(tab, want);

	for (id = 1; id <= 8; id++)
		jobtab_set_state(tab, jobtab_find(tab, id), PROTO_RUNNING);
	want[PROTO_QUEUED] = 2;
	want[PROTO_RUNNING] = 8;
	test_jobtab_counts_equal(tab, want);
	assert_int_equal(tab->nfinished, 0);

	jobtab_set_state(tab, jobtab_find(tab, 1), PROTO_SUCCEEDED);
	jobtab_set_state(tab, jobtab_find(tab, 2), PROTO_SUCCEEDED);
	jobtab_set_state(tab, jobtab_find(tab, 3), PROTO_FAILED);
	jobtab_set_state(tab, jobtab_find(tab, 4), PROTO_CANCELLED);
	jobtab_set_state(tab, jobtab_find(tab, 5), PROTO_TIMED_OUT);
	/* A queued job may finish directly (cancelled before it ran). */
	jobtab_set_state(tab, jobtab_find(tab, 9), PROTO_CANCELLED);
	want[PROTO_QUEUED] = 1;
	want[PROTO_RUNNING] = 3;
	want[PROTO_SUCCEEDED] = 2;
	want[PROTO_FAILED] = 1;
	want[PROTO_CANCELLED] = 2;
	want[PROTO_TIMED_OUT] = 1;
	test_jobtab_counts_equal(tab, want);
	assert_int_equal(tab->nfinished, 6);
	assert_int_equal(jobtab_find(tab, 3)->state, PROTO_FAILED);

	/* Removing a job takes it out of its state's count. */
	job = jobtab_find(tab, 3);
	jobtab_remove(tab, job);
	job_free(job);
	job = jobtab_find(tab, 6);
	jobtab_remove(tab, job);
	job_free(job);
	want[PROTO_FAILED] = 0;
	want[PROTO_RUNNING] = 2;
	test_jobtab_counts_equal(tab, want);
	assert_int_equal(tab->nfinished, 5);
	assert_int_equal(tab->njobs, 8);
}

static void
test_jobtab_finished_order(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;
	const uint64_t	 order[] = { 7, 2, 9, 1, 5 };
	size_t		 i;
	uint64_t	 id;

	for (id = 1; id <= 10; id++) {
		jobtab_add(tab, test_jobtab_job(id, NULL));
		jobtab_set_state(tab, jobtab_find(tab, id), PROTO_RUNNING);
	}
	for (i = 0; i < nitems(order); i++)
		jobtab_set_state(tab, jobtab_find(tab, order[i]),
		    i % 2 == 0 ? PROTO_SUCCEEDED : PROTO_FAILED);

	/* Finish order, not id order. */
	i = 0;
	TAILQ_FOREACH(job, &tab->unread, fin_entry) {
		assert_true(i < nitems(order));
		assert_int_equal(job->id, order[i]);
		i++;
	}
	assert_int_equal(i, nitems(order));
	assert_int_equal(tab->nfinished, nitems(order));

	/* Removing from the middle keeps the rest in order. */
	job = jobtab_find(tab, 9);
	jobtab_remove(tab, job);
	job_free(job);
	job = TAILQ_FIRST(&tab->unread);
	assert_int_equal(job->id, 7);
	job = TAILQ_NEXT(job, fin_entry);
	assert_int_equal(job->id, 2);
	job = TAILQ_NEXT(job, fin_entry);
	assert_int_equal(job->id, 1);
	job = TAILQ_NEXT(job, fin_entry);
	assert_int_equal(job->id, 5);
	assert_null(TAILQ_NEXT(job, fin_entry));
	assert_int_equal(tab->nfinished, 4);
}

/* A job added already finished goes on the finished list at once. */
static void
test_jobtab_add_finished(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;

	job = test_jobtab_job(1, "done");
	job->state = PROTO_SUCCEEDED;
	jobtab_add(tab, job);
	assert_int_equal(tab->nfinished, 1);
	assert_int_equal(tab->counts[PROTO_SUCCEEDED], 1);
	assert_ptr_equal(TAILQ_FIRST(&tab->unread), job);
	assert_ptr_equal(jobtab_find_key(tab, "done"), job);
	jobtab_remove(tab, job);
	job_free(job);
	assert_int_equal(tab->nfinished, 0);
	assert_int_equal(tab->counts[PROTO_SUCCEEDED], 0);
	assert_true(TAILQ_EMPTY(&tab->unread));
	assert_null(jobtab_find_key(tab, "done"));
}

/*
 * A finished job whose outcome is read moves from the unread list to the
 * read list, in reading order; a queued or running one is not affected,
 * and reading twice changes nothing.
 */
static void
test_jobtab_delivered(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;
	uint64_t	 id;

	for (id = 1; id <= 4; id++) {
		jobtab_add(tab, test_jobtab_job(id, NULL));
		jobtab_set_state(tab, jobtab_find(tab, id), PROTO_RUNNING);
	}
	for (id = 1; id <= 3; id++)
		jobtab_set_state(tab, jobtab_find(tab, id), PROTO_SUCCEEDED);
	jobtab_delivered(tab, jobtab_find(tab, 4));	/* still running */
	assert_false(jobtab_find(tab, 4)->delivered);
	jobtab_delivered(tab, jobtab_find(tab, 3));
	jobtab_delivered(tab, jobtab_find(tab, 1));
	jobtab_delivered(tab, jobtab_find(tab, 3));
	assert_int_equal(tab->nread, 2);
	assert_int_equal(tab->nfinished, 3);
	job = TAILQ_FIRST(&tab->read);
	assert_int_equal(job->id, 3);
	assert_int_equal(TAILQ_NEXT(job, fin_entry)->id, 1);
	assert_null(TAILQ_NEXT(TAILQ_NEXT(job, fin_entry), fin_entry));
	job = TAILQ_FIRST(&tab->unread);
	assert_int_equal(job->id, 2);
	assert_null(TAILQ_NEXT(job, fin_entry));

	/* Removal takes it off whichever list holds it. */
	job = jobtab_find(tab, 3);
	jobtab_remove(tab, job);
	job_free(job);
	assert_int_equal(tab->nread, 1);
	assert_int_equal(TAILQ_FIRST(&tab->read)->id, 1);
	/* A job that finishes after it was read goes to the read list. */
	job = jobtab_find(tab, 4);
	job->delivered = true;
	jobtab_set_state(tab, job, PROTO_FAILED);
	assert_int_equal(tab->nread, 2);
	assert_ptr_equal(TAILQ_LAST(&tab->read, job_list), job);
}

/* jobtab_fini frees jobs in every state, with and without keys. */
static void
test_jobtab_fini_frees_all(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;
	char		 key[32];
	uint64_t	 id;

	for (id = 1; id <= 1000; id++) {
		snprintf(key, sizeof key, "k%" PRIu64, id);
		job = test_jobtab_job(id, id % 2 ? key : NULL);
		cJSON_Delete(job->args);
		job->args = cJSON_CreateObject();
		jobtab_add(tab, job);
		if (id % 4 != 0)
			jobtab_set_state(tab, job, PROTO_RUNNING);
		if (id % 4 == 1) {
			job_set_error(job, "boom", "it broke");
			jobtab_set_state(tab, job, PROTO_FAILED);
		}
		if (id % 4 == 2) {
			job->result = cJSON_CreateString("done");
			jobtab_set_state(tab, job, PROTO_SUCCEEDED);
		}
	}
	/* LeakSanitizer checks that this frees them all. */
	jobtab_fini(tab);
	assert_int_equal(tab->njobs, 0);
	assert_null(tab->ids);
	jobtab_init(tab);
	assert_int_equal(tab->njobs, 0);
	assert_null(jobtab_find(tab, 1));
}

static void
test_jobtab_fatal_child(void (*fn)(void))
{
	pid_t	pid;
	int	status, fd;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, STDERR_FILENO);
		signal(SIGABRT, SIG_DFL);
		fn();
		_exit(0);
	}
	while (waitpid(pid, &status, 0) == -1)
		assert_int_equal(errno, EINTR);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* In a fatal child: a table holding one queued job, which it returns. */
static struct job *
test_jobtab_lone(struct jobtab *tab)
{
	struct job	*job;

	jobtab_init(tab);
	job = test_jobtab_job(1, NULL);
	jobtab_add(tab, job);
	return (job);
}

static void
test_jobtab_refinish_fn(void)
{
	struct jobtab	 tab;
	struct job	*job = test_jobtab_lone(&tab);

	jobtab_set_state(&tab, job, PROTO_SUCCEEDED);
	jobtab_set_state(&tab, job, PROTO_FAILED);	/* fatalx */
}

/*
 * An early job whose row could not be stored after it ended fails after
 * all (sched.c, sched_lost): its count moves, it stays finished, and
 * what it holds is counted again without its result.
 */
static void
test_jobtab_refinish(void **state)
{
	struct jobtab	*tab = *state;
	struct job	*job;
	uint64_t	 want[PROTO_STATE_COUNT] = { 0 };
	size_t		 with_result, bytes_before;

	jobtab_add(tab, test_jobtab_job(1, NULL));
	job = test_jobtab_job(2, NULL);
	jobtab_add(tab, job);
	jobtab_set_state(tab, job, PROTO_RUNNING);
	job->result = cJSON_CreateString("a result of some length, to be "
	    "dropped when the job fails after all");
	assert_non_null(job->result);
	jobtab_set_state(tab, job, PROTO_SUCCEEDED);
	with_result = job->bytes;
	bytes_before = tab->finished_bytes;
	assert_int_equal(tab->nfinished, 1);

	cJSON_Delete(job->result);
	job->result = NULL;
	job_set_error(job, "storage_error", "not stored");
	jobtab_refinish(tab, job, PROTO_FAILED);
	want[PROTO_QUEUED] = 1;
	want[PROTO_FAILED] = 1;
	test_jobtab_counts_equal(tab, want);
	assert_int_equal(job->state, PROTO_FAILED);
	assert_int_equal(tab->nfinished, 1);
	assert_int_equal(tab->finished_bytes, bytes_before - with_result +
	    job->bytes);
	assert_int_equal(job->bytes, job_footprint(job));
}

static void
test_jobtab_refinish_live_fn(void)
{
	struct jobtab	 tab;

	/* fatalx: not finished */
	jobtab_refinish(&tab, test_jobtab_lone(&tab), PROTO_FAILED);
}

/* Only a finished job can be refinished. */
static void
test_jobtab_refinish_live(void **state)
{
	(void)state;
	test_jobtab_fatal_child(test_jobtab_refinish_live_fn);
}

/* Terminal states never change: trying is a bug, caught by fatalx. */
static void
test_jobtab_terminal_is_final(void **state)
{
	(void)state;
	test_jobtab_fatal_child(test_jobtab_refinish_fn);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jobtab_find_many,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test_setup_teardown(test_jobtab_remove,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test_setup_teardown(test_jobtab_keys,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test_setup_teardown(test_jobtab_state_counts,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test_setup_teardown(test_jobtab_finished_order,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test_setup_teardown(test_jobtab_delivered,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test_setup_teardown(test_jobtab_add_finished,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test_setup_teardown(test_jobtab_fini_frees_all,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test(test_jobtab_terminal_is_final),
		cmocka_unit_test_setup_teardown(test_jobtab_refinish,
		    test_jobtab_setup, test_jobtab_teardown),
		cmocka_unit_test(test_jobtab_refinish_live),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
