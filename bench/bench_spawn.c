/*
 * bench_spawn.c: the floor under exec jobs: posix_spawn of /bin/true and
 * waitpid, back to back, from C threads at once, as asyncd starts them
 * (own process group, default signals, descriptors 0-2 only). Measured
 * through bench.h's throughput driver, as asyncd's exec jobs are.
 *
 *   bench_spawn throughput C SECONDS
 */
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include "bench.h"

extern char **environ;

static void *
bench_spawn_open(const char *url)
{
	(void)url;
	return ((void *)1);
}

static void
bench_spawn_close(void *c)
{
	(void)c;
}

static int
bench_spawn_call(void *c)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 all, none;
	char				*argv[] = { "/bin/true", NULL };
	pid_t				 pid;
	int				 st, rv;

	(void)c;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	rv = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rv != 0)
		return (rv);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return (1);
	return (0);
}

static const struct bench_client bench_spawn_client = {
	.open = bench_spawn_open,
	.call = bench_spawn_call,
	.close = bench_spawn_close,
};

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "throughput") == 0)
		return (bench_throughput(&bench_spawn_client, NULL,
		    strtoul(argv[2], NULL, 10), strtod(argv[3], NULL)));
	fprintf(stderr, "usage: bench_spawn throughput C SECONDS\n");
	return (2);
}
