/*
 * test_ids.c: unit tests for job id reservations (daemon/ids.c): ids only
 * grow, across a reopen too, and a block used fast makes the next block
 * big enough to last, so that a daemon running tens of thousands of jobs
 * a second never runs out while a reservation is being written.
 *
 * Without a pool, ids.c writes each reservation in place, at once: what
 * is in next-id after a call is what the reservation said.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

/* The block ids.c starts with (IDS_BLOCK). */
#define TEST_IDS_BLOCK	10000

struct test_ids {
	char	dir[PATH_MAX];
};

static int
test_ids_setup(void **state)
{
	struct test_ids	*t = calloc(1, sizeof *t);
	const char	*tmp = getenv("TMPDIR");
	int		 n;

	assert_non_null(t);
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	n = snprintf(t->dir, sizeof t->dir, "%s/test_ids.XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof t->dir || mkdtemp(t->dir) == NULL) {
		free(t);
		fail_msg("mkdtemp in %s", tmp);
	}
	*state = t;
	return (0);
}

static int
test_ids_teardown(void **state)
{
	struct test_ids	*t = *state;
	char		 path[PATH_MAX + 16];

	snprintf(path, sizeof path, "%s/next-id", t->dir);
	(void)unlink(path);
	(void)rmdir(t->dir);
	free(t);
	return (0);
}

/* The mark stored in dir/next-id. */
static uint64_t
test_ids_stored(const struct test_ids *t)
{
	char			 path[PATH_MAX + 16];
	unsigned long long	 v = 0;
	FILE			*f;

	snprintf(path, sizeof path, "%s/next-id", t->dir);
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(fscanf(f, "%llu", &v), 1);
	fclose(f);
	return (v);
}

static void
test_ids_grow_and_persist(void **state)
{
	struct test_ids	*t = *state;
	struct ids	*ids;
	char		*cause = NULL;
	uint64_t	 id, last = 0, i;

	assert_int_equal(ids_open(&ids, t->dir, NULL, &cause), 0);
	assert_int_equal(ids_peek(ids), 1);
	assert_int_equal(test_ids_stored(t), 1 + TEST_IDS_BLOCK);
	for (i = 0; i < 3 * TEST_IDS_BLOCK; i++) {
		assert_int_equal(ids_next(ids, &id), 0);
		assert_true(id > last);
		last = id;
	}
	/*
	 * Three blocks in well under a second: the next reservations were
	 * sized to last seconds at that rate, far past a fixed block's.
	 */
	assert_true(test_ids_stored(t) > 100 * TEST_IDS_BLOCK);
	ids_close(ids);

	/* A restart goes on from the mark: no id is handed out twice. */
	assert_int_equal(ids_open(&ids, t->dir, NULL, &cause), 0);
	assert_true(ids_peek(ids) > last);
	assert_int_equal(ids_next(ids, &id), 0);
	assert_true(id > last);
	ids_close(ids);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ids_grow_and_persist,
		    test_ids_setup, test_ids_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
