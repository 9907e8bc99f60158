/*
 * t: functions for the executor tests (tests/integ/test_plugins.sh and
 * test_pool.sh), built as a plugin named "t".
 *
 * Process functions: t.sleep {"seconds": S} sleeps and returns its pid
 * and when it started;
 * t.pid returns it; t.fds lists the worker's descriptors above 2; t.fail
 * fails with code t_code; t.progress reports progress, then sleeps.
 * Thread functions: t.seq returns the order in which calls started and
 * the most calls running at once so far; t.stubborn {"seconds": S}
 * sleeps, ignoring cancellation; t.polite sleeps until cancelled.
 * Coroutine: t.exec runs `sh -c SCRIPT` with ad_exec; t.soon hands work
 * to a thread of its own, which comes back with ad_call_soon_threadsafe.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <asyncd/plugin.h>

static double
t_seconds(const cJSON *args)
{
	const cJSON	*s = cJSON_GetObjectItemCaseSensitive(args, "seconds");

	return (cJSON_IsNumber(s) ? s->valuedouble : 0);
}

static void
t_nap(double seconds)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1)
		;
}

static cJSON *
t_pid_result(void)
{
	cJSON	*r = cJSON_CreateObject();

	cJSON_AddNumberToObject(r, "pid", (double)getpid());
	return (r);
}

static int
t_sleep(struct ad_call *call, const cJSON *args, cJSON **result)
{
	struct timespec	ts;

	(void)call;
	clock_gettime(CLOCK_REALTIME, &ts);
	t_nap(t_seconds(args));
	*result = t_pid_result();
	cJSON_AddNumberToObject(*result, "started", (double)ts.tv_sec +
	    (double)ts.tv_nsec / 1e9);
	return (0);
}

static int
t_pid(struct ad_call *call, const cJSON *args, cJSON **result)
{
	(void)call;
	(void)args;
	*result = t_pid_result();
	return (0);
}

static int
t_fds(struct ad_call *call, const cJSON *args, cJSON **result)
{
	struct dirent	*de;
	DIR		*d;
	cJSON		*list;

	(void)args;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return (ad_call_fail(call, "io_error", "opendir"));
	*result = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(*result, "fds");
	while ((de = readdir(d)) != NULL) {
		int	fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd > 2 && fd != dirfd(d))
			cJSON_AddItemToArray(list, cJSON_CreateNumber(fd));
	}
	closedir(d);
	return (0);
}

static int
t_fail(struct ad_call *call, const cJSON *args, cJSON **result)
{
	(void)args;
	(void)result;
	return (ad_call_fail(call, "t_code", "failed on purpose"));
}

static int
t_progress(struct ad_call *call, const cJSON *args, cJSON **result)
{
	ad_call_progress(call, 0.5, "half way");
	t_nap(t_seconds(args));
	*result = t_pid_result();
	return (0);
}

static atomic_int	t_started, t_running, t_most;

static int
t_seq(struct ad_call *call, const cJSON *args, cJSON **result)
{
	int	seq = atomic_fetch_add(&t_started, 1) + 1;
	int	now = atomic_fetch_add(&t_running, 1) + 1, most;

	(void)call;
	while ((most = atomic_load(&t_most)) < now &&
	    !atomic_compare_exchange_weak(&t_most, &most, now))
		;
	t_nap(t_seconds(args));
	atomic_fetch_sub(&t_running, 1);
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "seq", seq);
	cJSON_AddNumberToObject(*result, "most", atomic_load(&t_most));
	return (0);
}

static int
t_stubborn(struct ad_call *call, const cJSON *args, cJSON **result)
{
	(void)call;
	t_nap(t_seconds(args));
	*result = cJSON_CreateString("done");
	return (0);
}

static int
t_polite(struct ad_call *call, const cJSON *args, cJSON **result)
{
	(void)args;
	(void)result;
	while (!ad_call_cancelled(call))
		t_nap(0.01);
	return (ad_call_fail(call, "cancelled", "saw the cancellation"));
}

static int
t_exec(struct ad_job *job)
{
	const cJSON	*s = cJSON_GetObjectItemCaseSensitive(ad_args(job),
			    "script");
	const char	*argv[] = { "sh", "-c", "", NULL };
	cJSON		*result = NULL;
	int		 rv;

	if (cJSON_IsString(s))
		argv[2] = s->valuestring;
	rv = ad_exec(job, argv, &result);
	ad_result(job, result);
	return (rv);
}

/* t.soon: a thread of the plugin's own calls back into the loop. */
struct t_soon {
	struct ad_job	*job;
	uint64_t	 id;
	int		 answer;
	pthread_t	 thread;
};

static void
t_soon_back(void *arg)
{
	struct t_soon	*s = arg;

	/* On the loop, where the coroutine polls for it. */
	s->answer = 42;
}

static void *
t_soon_main(void *arg)
{
	ad_call_soon_threadsafe(t_soon_back, arg);
	return (NULL);
}

static int
t_soon_run(struct ad_job *job)
{
	struct t_soon	s = { .job = job, .id = ad_id(job) };
	int		i, rv = 0;

	if (pthread_create(&s.thread, NULL, t_soon_main, &s) != 0)
		return (ad_fail(job, "thread", "pthread_create"));
	/* Polls on the loop (each sleep lets the loop run the callback). */
	for (i = 0; i < 500 && s.answer == 0 && rv == 0; i++)
		rv = ad_sleep(job, 0.01);
	pthread_join(s.thread, NULL);
	if (rv != 0)
		return (rv);
	ad_result(job, cJSON_CreateNumber(s.answer));
	return (0);
}

static const struct ad_func t_procs[] = {
	{ .name = "t.sleep", .description = "sleeps in a worker",
	  .fn = t_sleep },
	{ .name = "t.pid", .description = "the worker's pid", .fn = t_pid },
	{ .name = "t.fds", .description = "the worker's fds above 2",
	  .fn = t_fds },
	{ .name = "t.fail", .description = "fails", .fn = t_fail },
	{ .name = "t.progress", .description = "reports progress",
	  .fn = t_progress },
};

static const struct ad_func t_threads[] = {
	{ .name = "t.seq", .description = "start order", .fn = t_seq },
	{ .name = "t.stubborn", .description = "ignores cancellation",
	  .fn = t_stubborn },
	{ .name = "t.polite", .description = "waits for cancellation",
	  .fn = t_polite },
};

static const struct ad_type t_types[] = {
	{ .name = "t.exec", .description = "ad_exec", .run = t_exec },
	{ .name = "t.soon", .description = "ad_call_soon_threadsafe",
	  .run = t_soon_run },
};

static int
t_register(struct ad_plugin *p)
{
	size_t	i;
	int	rv;

	for (i = 0; i < sizeof t_procs / sizeof t_procs[0]; i++)
		if ((rv = ad_register_process(p, &t_procs[i])) != 0)
			return (rv);
	for (i = 0; i < sizeof t_threads / sizeof t_threads[0]; i++)
		if ((rv = ad_register_thread(p, &t_threads[i])) != 0)
			return (rv);
	for (i = 0; i < sizeof t_types / sizeof t_types[0]; i++)
		if ((rv = ad_register_type(p, &t_types[i])) != 0)
			return (rv);
	return (0);
}

AD_PLUGIN(t_register)
