/*
 * bench_pools.c: the executors against their floors, in one process, with
 * the daemon's own pool code (linked from daemon/).
 *
 *   bench_pools thread N
 *	N sequential round trips of a no-op through the thread pool (submit
 *	on the loop, run on a pool thread, done back on the loop through the
 *	inbox), then N through a raw mutex/condvar handoff to one thread and
 *	back. Prints pool_p50_us, raw_p50_us (and p99s).
 *   bench_pools process ASYNCD PLUGIN_DIR N SECONDS
 *	N sequential calls of t.pid through the process pool (ASYNCD
 *	--worker, 2 workers), then N ping-pongs of a small message over a
 *	raw socketpair with a forked echo process; then calls/s with 2 in
 *	flight for SECONDS, against 2 raw pairs doing the same. Prints
 *	pool_p50_us, raw_p50_us, pool_calls_per_s, raw_calls_per_s.
 *
 * The raw baselines fork: this program is no daemon, and it forks before
 * it has any thread.
 *
 * Placement. On a VM a wake-up that crosses CPUs costs some 60 us (the
 * sleeping CPU has to be woken), one on the same CPU a few: left to the
 * scheduler, each pair of a run lands one way or the other by chance,
 * and the ratio of two such figures swung from 0.1 to 20 between runs.
 * So with two CPUs or more, the caller (the loop, the raw caller) runs on
 * CPU 0 and its peer (the pool's thread and workers, the raw thread and
 * echo processes) on CPU 1, for both sides of every ratio: a peer
 * inherits the affinity of the thread that starts it.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include "bench.h"
#include "daemon.h"

static struct ev_loop	*bench_loop;
static bool		 bench_done;

/* The calling thread, and what it starts from now on, onto one CPU. */
static void
bench_pin(int cpu)
{
	cpu_set_t	set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) == -1)
		perror("bench: sched_setaffinity");
}

/* ---- thread pool ------------------------------------------------------ */

static void
bench_noop(void *arg)
{
	(void)arg;
}

static void
bench_work_done(struct pool_work *w, int status)
{
	(void)w;
	(void)status;
	bench_done = true;
	ev_break(bench_loop, EVBREAK_ONE);
}

static struct {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	int		turn;		/* 1: the thread's, 2: main's, 3: stop */
} bench_raw = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static void *
bench_raw_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&bench_raw.lock);
	for (;;) {
		while (bench_raw.turn != 1 && bench_raw.turn != 3)
			pthread_cond_wait(&bench_raw.cond, &bench_raw.lock);
		if (bench_raw.turn == 3)
			break;
		bench_raw.turn = 2;
		pthread_cond_broadcast(&bench_raw.cond);
	}
	pthread_mutex_unlock(&bench_raw.lock);
	return (NULL);
}

static int
bench_thread(size_t n)
{
	struct pool_thread	*pool;
	struct pool_work	 w;
	struct inbox		 inbox;
	pthread_t		 t;
	double			*pl, *rl, t0;
	size_t			 i, warm = n / 10;

	pl = calloc(n, sizeof *pl);
	rl = calloc(n, sizeof *rl);
	bench_loop = ev_default_loop(0);
	inbox_init(&inbox, bench_loop);
	inbox_start(&inbox);
	bench_pin(1);
	if (pool_thread_start(&pool, 1, &inbox) != 0)
		return (1);
	bench_pin(0);
	for (i = 0; i < n + warm; i++) {
		t0 = bench_now();
		bench_done = false;
		pool_thread_submit(pool, &w, bench_noop, NULL,
		    bench_work_done);
		while (!bench_done)
			ev_run(bench_loop, 0);
		if (i >= warm)
			pl[i - warm] = bench_now() - t0;
	}
	pool_thread_stop(pool);
	inbox_stop(&inbox);
	inbox_fini(&inbox);

	bench_pin(1);
	pthread_create(&t, NULL, bench_raw_main, NULL);
	bench_pin(0);
	for (i = 0; i < n + warm; i++) {
		t0 = bench_now();
		pthread_mutex_lock(&bench_raw.lock);
		bench_raw.turn = 1;
		pthread_cond_broadcast(&bench_raw.cond);
		while (bench_raw.turn != 2)
			pthread_cond_wait(&bench_raw.cond, &bench_raw.lock);
		pthread_mutex_unlock(&bench_raw.lock);
		if (i >= warm)
			rl[i - warm] = bench_now() - t0;
	}
	pthread_mutex_lock(&bench_raw.lock);
	bench_raw.turn = 3;
	pthread_cond_broadcast(&bench_raw.cond);
	pthread_mutex_unlock(&bench_raw.lock);
	pthread_join(t, NULL);
	printf("pool_p50_us=%.1f\npool_p99_us=%.1f\n",
	    bench_quantile(pl, n, 0.5) * 1e6, bench_quantile(pl, n, 0.99) * 1e6);
	printf("raw_p50_us=%.1f\nraw_p99_us=%.1f\n",
	    bench_quantile(rl, n, 0.5) * 1e6, bench_quantile(rl, n, 0.99) * 1e6);
	free(pl);
	free(rl);
	return (0);
}

/* ---- process pool ----------------------------------------------------- */

/* A raw pair: a forked process echoing what it reads. */
static pid_t
bench_echo_start(int *fd)
{
	char	buf[256];
	ssize_t	n;
	int	sv[2];
	pid_t	pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return (-1);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		while ((n = read(sv[1], buf, sizeof buf)) > 0)
			if (write(sv[1], buf, (size_t)n) != n)
				break;
		_exit(0);
	}
	close(sv[1]);
	*fd = sv[0];
	return (pid);
}

/* One ping-pong: a frame the size of a call's. */
static int
bench_echo_call(int fd)
{
	static const char	msg[] = "\0\0\0\x1c{\"fn\":\"t.pid\",\"args\":null}";
	char			buf[256];
	size_t			got = 0;
	ssize_t			n;

	if (write(fd, msg, sizeof msg - 1) != (ssize_t)(sizeof msg - 1))
		return (-1);
	while (got < sizeof msg - 1) {
		if ((n = read(fd, buf, sizeof buf)) <= 0)
			return (-1);
		got += (size_t)n;
	}
	return (0);
}

struct bench_echo_thread {
	int		 fd;
	double		 until;
	uint64_t	 calls;
};

static void *
bench_echo_thread_main(void *arg)
{
	struct bench_echo_thread	*t = arg;

	while (bench_now() < t->until && bench_echo_call(t->fd) == 0)
		t->calls++;
	return (NULL);
}

struct bench_pcall {
	struct pool_call	 call;
	struct pool_proc	*pool;
	uint64_t		*count;
	double			 until;
	int			*inflight;
};

static void
bench_pcall_done(struct pool_call *c)
{
	struct bench_pcall	*b = container_of(c, struct bench_pcall, call);

	if (c->status != 0) {
		fprintf(stderr, "bench: call failed: %s\n", c->err_message);
		exit(1);
	}
	cJSON_Delete(c->result);
	(*b->count)++;
	if (b->until > 0 && bench_now() < b->until) {
		pool_proc_submit(b->pool, c);
		return;
	}
	if (--(*b->inflight) == 0) {
		bench_done = true;
		ev_break(bench_loop, EVBREAK_ONE);
	}
}

static int
bench_process(const char *exe, const char *dir, size_t n, double seconds)
{
	struct pool_proc_config	 cfg = { .workers = 2, .exe = exe,
				    .plugin_dir = dir, .log_level = "warning" };
	struct bench_echo_thread et[2];
	struct bench_pcall	 bc[2];
	struct pool_proc	*pool;
	struct procs		*procs;
	struct inbox		 inbox;
	pthread_t		 th[2];
	uint64_t		 count = 0;
	double			*pl, *rl, t0, pool_rate, raw_rate;
	size_t			 i, warm = n / 10;
	pid_t			 pids[3];
	int			 fds[3], inflight;

	pl = calloc(n, sizeof *pl);
	rl = calloc(n, sizeof *rl);
	/* The raw pairs first, before this process has any thread. */
	bench_pin(1);
	for (i = 0; i < 3; i++)
		if ((pids[i] = bench_echo_start(&fds[i])) == -1)
			return (1);
	bench_pin(0);
	for (i = 0; i < n + warm; i++) {
		t0 = bench_now();
		if (bench_echo_call(fds[0]) != 0)
			return (1);
		if (i >= warm)
			rl[i - warm] = bench_now() - t0;
	}
	for (i = 0; i < 2; i++) {
		et[i].fd = fds[i + 1];
		et[i].until = bench_now() + seconds;
		et[i].calls = 0;
		pthread_create(&th[i], NULL, bench_echo_thread_main, &et[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	raw_rate = (double)(et[0].calls + et[1].calls) / seconds;
	/* Every echo process holds the others' ends too: close all first. */
	for (i = 0; i < 3; i++)
		close(fds[i]);
	for (i = 0; i < 3; i++)
		waitpid(pids[i], NULL, 0);

	log_init(LOG_WARNING);
	bench_loop = ev_default_loop(0);
	inbox_init(&inbox, bench_loop);
	inbox_start(&inbox);
	/* The spawning threads, so the workers they start, on CPU 1. */
	bench_pin(1);
	if (proc_start(&procs, bench_loop, &inbox) != 0)
		return (1);
	bench_pin(0);
	pool_proc_start(&pool, bench_loop, procs, &cfg);
	memset(bc, 0, sizeof bc);
	for (i = 0; i < 2; i++) {
		bc[i].call.fn = "t.pid";
		bc[i].call.args = cJSON_CreateNull();
		bc[i].call.done = bench_pcall_done;
		bc[i].pool = pool;
		bc[i].count = &count;
		bc[i].inflight = &inflight;
	}
	for (i = 0; i < n + warm; i++) {
		t0 = bench_now();
		bench_done = false;
		inflight = 1;
		pool_proc_submit(pool, &bc[0].call);
		while (!bench_done)
			ev_run(bench_loop, 0);
		if (i >= warm)
			pl[i - warm] = bench_now() - t0;
	}
	/* Both workers started and warm, then 2 calls in flight. */
	bench_done = false;
	inflight = 2;
	for (i = 0; i < 2; i++)
		pool_proc_submit(pool, &bc[i].call);
	while (!bench_done)
		ev_run(bench_loop, 0);
	count = 0;
	bench_done = false;
	inflight = 2;
	t0 = bench_now();
	for (i = 0; i < 2; i++) {
		bc[i].until = t0 + seconds;
		pool_proc_submit(pool, &bc[i].call);
	}
	while (!bench_done)
		ev_run(bench_loop, 0);
	pool_rate = (double)count / (bench_now() - t0);
	pool_proc_kill(pool);
	while (pool_proc_live(pool) > 0)
		ev_run(bench_loop, EVRUN_ONCE);
	pool_proc_stop(pool);
	proc_stop(procs);
	inbox_drain(&inbox);
	inbox_stop(&inbox);
	inbox_fini(&inbox);
	for (i = 0; i < 2; i++)
		cJSON_Delete((cJSON *)bc[i].call.args);
	printf("pool_p50_us=%.1f\npool_p99_us=%.1f\n",
	    bench_quantile(pl, n, 0.5) * 1e6, bench_quantile(pl, n, 0.99) * 1e6);
	printf("raw_p50_us=%.1f\nraw_p99_us=%.1f\n",
	    bench_quantile(rl, n, 0.5) * 1e6, bench_quantile(rl, n, 0.99) * 1e6);
	printf("pool_calls_per_s=%.0f\nraw_calls_per_s=%.0f\n", pool_rate,
	    raw_rate);
	free(pl);
	free(rl);
	return (0);
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "thread") == 0)
		return (bench_thread(strtoul(argv[2], NULL, 10)));
	if (argc == 6 && strcmp(argv[1], "process") == 0)
		return (bench_process(argv[2], argv[3],
		    strtoul(argv[4], NULL, 10), strtod(argv[5], NULL)));
	fprintf(stderr, "usage: bench_pools thread N\n"
	    "       bench_pools process ASYNCD PLUGIN_DIR N SECONDS\n");
	return (2);
}
