/*
 * submitter.c: one client process for tests/integ/test_concurrency.c.
 *
 *	submitter URL PREFIX COUNT SECONDS
 *
 * Connects to the daemon at URL (a ping proves it), prints "ready", and
 * waits for a line on standard input, so that the test can start several
 * submitters at the same moment. Then it submits COUNT sleep jobs of
 * SECONDS each, the i-th with the key PREFIX-i, and prints one line per job,
 * in order: "ID CREATED" (CREATED is 1 if the job is new, 0 if the key
 * matched an existing one). It exits 0 once every job was accepted, and 1
 * with a message on stderr as soon as anything fails.
 *
 * Its name does not start with "test_", so tests/run does not run it.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asyncd.h"

/* A submitter that hangs is a failure of the test that started it. */
#define SUBMITTER_ALARM		120

int
main(int argc, char **argv)
{
	struct asyncd_submit_opts	 opts = { .key = NULL };
	struct asyncd			*c;
	char				 key[300], args[64], line[16];
	char				*end;
	unsigned long			 count, i;
	uint64_t			 id;
	bool				 created;
	int				 rv;

	if (argc != 5) {
		fprintf(stderr, "usage: submitter URL PREFIX COUNT SECONDS\n");
		return (2);
	}
	count = strtoul(argv[3], &end, 10);
	if (*argv[3] == '\0' || *end != '\0') {
		fprintf(stderr, "submitter: bad count '%s'\n", argv[3]);
		return (2);
	}
	snprintf(args, sizeof args, "{\"seconds\":%s}", argv[4]);
	alarm(SUBMITTER_ALARM);

	if ((rv = asyncd_open(&c, argv[1])) != 0) {
		fprintf(stderr, "submitter: open %s: %s\n", argv[1],
		    asyncd_strerror(rv));
		return (1);
	}
	if ((rv = asyncd_ping(c, NULL, NULL, NULL)) != 0) {
		fprintf(stderr, "submitter: ping: %s\n", asyncd_strerror(rv));
		asyncd_close(c);
		return (1);
	}
	printf("ready\n");
	fflush(stdout);
	if (fgets(line, sizeof line, stdin) == NULL) {
		fprintf(stderr, "submitter: no go from the test\n");
		asyncd_close(c);
		return (1);
	}

	opts.key = key;
	for (i = 0; i < count; i++) {
		snprintf(key, sizeof key, "%s-%lu", argv[2], i);
		rv = asyncd_submit(c, "sleep", args, &opts, &id, &created);
		if (rv != 0) {
			fprintf(stderr, "submitter: submit %s: %s (%s)\n", key,
			    asyncd_strerror(rv), asyncd_errmsg() != NULL ?
			    asyncd_errmsg() : "no message");
			asyncd_close(c);
			return (1);
		}
		printf("%" PRIu64 " %d\n", id, created ? 1 : 0);
	}
	asyncd_close(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "submitter: cannot write the ids\n");
		return (1);
	}
	return (0);
}
