/*
 * asyncd/plugin.h: the plugin SDK, what a job type's C code sees.
 *
 * A job type is a named C function that runs as a coroutine on the
 * daemon's loop thread: asyncio's "async def". It reads its arguments,
 * awaits (ad_sleep, ad_await, ad_gather, ad_run_in_thread ...), and
 * returns 0 with a result, or an error. Await calls suspend the coroutine
 * and let the loop run other jobs; nothing else may block: long
 * computations and blocking calls go to ad_run_in_thread.
 *
 * Cancellation: when the job is cancelled or its timeout expires, the
 * await it is suspended in returns ASYNCD_ECANCELED or ASYNCD_EJOBTIMEDOUT
 * at once, and so does every later await. The coroutine must then clean up
 * and return; the job ends cancelled or timed_out whatever it returns.
 *
 * Thread context: every function here that takes a struct ad_job must be
 * called from that job's own coroutine (ad_progress and the accessors may
 * also be called between awaits, never from another thread). The others
 * say where they may be called: ad_call_* from a thread or process
 * function, ad_register_* from the registration function (on the loop,
 * at start, and in each worker process), ad_call_soon_threadsafe from
 * any thread. Pointers this API hands out are borrowed and valid until
 * the coroutine next suspends, unless stated.
 *
 * Plugins: a shared object in the plugin directory that defines its
 * registration function with AD_PLUGIN (end of this header). The daemon
 * loads every plugin at start, calls the function on the loop thread, and
 * keeps the plugin loaded until it exits: a plugin is replaced by
 * restarting the daemon. Build one with
 *	cc -shared -fPIC $(pkg-config --cflags asyncd-plugin) -o x.so x.c
 * Only the functions declared here are visible to plugins.
 */
#ifndef ASYNCD_PLUGIN_H
#define ASYNCD_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <asyncd_err.h>

/* The running job, as its coroutine sees it. */
struct ad_job;
/* The context of an argument check. */
struct ad_check;

struct ad_type {
	const char	*name;		/* [a-z0-9_.-], at most 64 bytes */
	const char	*description;	/* one line, for "types" */
	/*
	 * Checks the arguments when a job is submitted (optional). Returns 0,
	 * or ASYNCD_EBADARGS with *cause set to an allocated message.
	 * Runs on the loop thread and must not block.
	 */
	int		(*check)(struct ad_check *chk, const cJSON *args,
			    char **cause);
	/*
	 * The coroutine. Returns 0 on success (the result is what
	 * ad_result() set, or null), non-zero on failure: the error set with
	 * ad_fail(), or else the code of the value returned.
	 */
	int		(*run)(struct ad_job *job);
};

/*
 * From a check function: checks a job that this one will spawn (type and
 * arguments), so that a bad child is refused at submit time. Returns 0,
 * ASYNCD_EUNKNOWNTYPE or EBADARGS (with *cause set). Nesting is limited to
 * AD_CHECK_DEPTH levels.
 */
#define AD_CHECK_DEPTH		16
int		 ad_check_job(struct ad_check *chk, const char *type,
		    const cJSON *args, char **cause);
/* The type whose check function is running (the same function may serve
 * several types). */
const struct ad_type *ad_check_type(struct ad_check *chk);

/* The job's id, and its arguments (never NULL: JSON null if none). */
uint64_t	 ad_id(struct ad_job *job);
const cJSON	*ad_args(struct ad_job *job);

/* Sets the result; takes ownership of result (NULL means null). */
void		 ad_result(struct ad_job *job, cJSON *result);
/*
 * Sets the job's error (code: lower snake case; NULL means "failed") and
 * returns ASYNCD_EFAILED, so that "return ad_fail(...)" reads naturally.
 */
int		 ad_fail(struct ad_job *job, const char *code, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));

/* True once the job has been cancelled or has timed out. */
bool		 ad_cancelled(struct ad_job *job);

/*
 * Reports progress: fraction in [0, 1] and an optional message. Published
 * as an event and shown by status. Does not suspend.
 */
void		 ad_progress(struct ad_job *job, double fraction,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Suspends for the given seconds. Returns 0, or the cancellation error. */
int		 ad_sleep(struct ad_job *job, double seconds);

/*
 * Starts a child job of the given type; takes ownership of args (NULL
 * means null) whatever happens. The child runs concurrently and is
 * cancelled if this job finishes first (structured concurrency). Returns
 * 0 and sets *id, or ASYNCD_EUNKNOWNTYPE, EBADARGS (with *cause set if
 * cause is not NULL), EBUSY, ESHUTDOWN, or the cancellation error.
 */
int		 ad_spawn(struct ad_job *job, const char *type, cJSON *args,
		    double timeout, uint64_t *id, char **cause);

/*
 * How a job ended: rc is 0 if it succeeded (result is its result), or
 * ASYNCD_EFAILED, ECANCELED or EJOBTIMEDOUT with err_code/err_message.
 */
struct ad_outcome {
	uint64_t	 id;
	int		 rc;
	const cJSON	*result;
	const char	*err_code;
	const char	*err_message;
};

/*
 * Waits for job id (any job, not only a child) to finish and fills *out.
 * Returns 0 when it finished (whatever its outcome), ASYNCD_EUNKNOWNJOB,
 * or the cancellation error of the waiting job (the other job goes on).
 */
int		 ad_await(struct ad_job *job, uint64_t id,
		    struct ad_outcome *out);

#define AD_GATHER_ALL		0	/* wait for all of them */
#define AD_GATHER_FIRST_ERROR	1	/* stop waiting at the first failure */

/*
 * Waits for n jobs concurrently: asyncio.gather. Fills out[i] for every
 * job that finished (out[i].rc is ASYNCD_ETIMEDOUT for one still running
 * when AD_GATHER_FIRST_ERROR stopped early). Returns 0, or
 * ASYNCD_EUNKNOWNJOB (nothing waited), or the cancellation error.
 */
int		 ad_gather(struct ad_job *job, const uint64_t *ids, size_t n,
		    int flags, struct ad_outcome *out);

/*
 * Cancels another job (Task.cancel). Returns 0, ASYNCD_EDONE if it had
 * finished, or ASYNCD_EUNKNOWNJOB.
 */
int		 ad_cancel(struct ad_job *job, uint64_t id);

/*
 * Runs fn(arg) on the daemon's thread pool and suspends until it returns:
 * loop.run_in_executor(ThreadPoolExecutor). fn must not touch the daemon;
 * arg may live on the coroutine's stack. On cancellation the call still
 * waits for fn to return if it has started (a thread cannot be stopped
 * safely), then returns the cancellation error; if fn had not started it
 * never runs. Returns 0 once fn has returned.
 */
int		 ad_run_in_thread(struct ad_job *job, void (*fn)(void *),
		    void *arg);

/*
 * Runs a command (argv[0] searched in PATH, no shell) with stdin from
 * /dev/null, as an exec job does, and suspends until it has exited and its
 * output is read: asyncio.create_subprocess_exec and communicate. On
 * return *result (the caller's) is the exec job's result object
 * (exit_code, signal, stdout, stderr, pid, duration), or NULL if the
 * command could not be started. Returns 0 once the command ran (whatever
 * its status), ASYNCD_EFAILED if it could not be started (the job's error
 * is set: spawn_failed), or the cancellation error once the command,
 * signalled, has stopped.
 */
int		 ad_exec(struct ad_job *job, const char *const *argv,
		    cJSON **result);

/*
 * Any thread (a plugin's own): runs fn(arg) on the loop thread soon after,
 * in the order asked: loop.call_soon_threadsafe. fn may use every call of
 * this header that needs no job, and must not block. Returns 0, or
 * ASYNCD_ESHUTDOWN once the daemon is stopping (fn will not run).
 */
int		 ad_call_soon_threadsafe(void (*fn)(void *), void *arg);

/*
 * Functions for the executors. A thread function runs on the thread pool,
 * a process function in a worker process (asyncd --worker, which loads the
 * same plugins). Either takes the call's arguments (borrowed) and returns
 * 0 with *result set (owned by the daemon after; NULL means null), or an
 * error: the one set with ad_call_fail, else "failed". Each registered
 * function is also a job type of its own name: the job's arguments are the
 * call's, its result the function's.
 *
 * They must not use any call above: those are the loop's. What they may
 * use is ad_call_*, from the thread that runs them.
 */
struct ad_call;
typedef int	(*ad_call_fn)(struct ad_call *call, const cJSON *args,
		    cJSON **result);

struct ad_func {
	const char	*name;		/* as a job type's */
	const char	*description;	/* one line */
	/* As a job type's: on the loop, at submit (optional). */
	int		(*check)(struct ad_check *chk, const cJSON *args,
			    char **cause);
	ad_call_fn	 fn;
};

/* Sets the call's error (code NULL: "failed"); returns ASYNCD_EFAILED. */
int		 ad_call_fail(struct ad_call *call, const char *code,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * Reports progress of the job the call runs for (as ad_progress), from the
 * function's thread or process. Does not block; when reports come faster
 * than the loop takes them, only the latest is published.
 */
void		 ad_call_progress(struct ad_call *call, double fraction,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * True once the call's job has been cancelled: a thread function should
 * return soon (a thread cannot be stopped; one that goes on is logged).
 * Process functions are killed instead, and always see false.
 */
bool		 ad_call_cancelled(struct ad_call *call);

/*
 * Runs the process function fn of a plugin in a worker process
 * (loop.run_in_executor with a ProcessPoolExecutor) and suspends until it
 * returns. args is borrowed (NULL means null). Returns 0 with *result set
 * (the caller's), or ASYNCD_EFAILED with the job's error set: the
 * function's own error, unknown_function, or worker_crashed (the worker
 * died: a signal or an exit, which the message names; a new worker serves
 * the next call). On cancellation or timeout the worker running the call
 * is killed (and replaced) and the cancellation error returned at once.
 */
int		 ad_run_in_process(struct ad_job *job, const char *fn,
		    const cJSON *args, cJSON **result);

/*
 * Async sockets (asyncio.open_connection): a coroutine that awaits one of
 * these lets every other job run meanwhile. A socket belongs to the job
 * that connected it and must be closed (ad_close) before its coroutine
 * returns. timeout is in seconds for this call (0: none; the job's own
 * timeout applies anyway). Each returns 0, ASYNCD_ETIMEDOUT when the
 * call's timeout passed, ASYNCD_EFAILED on a system error or a closed
 * connection (ad_sock_error says which), or the cancellation error: a
 * pending read, write or connect is interrupted at once by cancellation.
 */
struct ad_sock;

/*
 * Connects to host:port over TCP (host a name, resolved on the thread
 * pool, or a numeric IPv4/IPv6 address) or, if host starts with '/', to
 * that Unix socket (port ignored). On success *sock is the caller's. On
 * failure *cause, if cause is not NULL, is an allocated message (or NULL)
 * that the caller frees.
 */
int		 ad_connect(struct ad_job *job, const char *host, int port,
		    double timeout, struct ad_sock **sock, char **cause);
/* Reads 1 to len bytes into buf; *n is 0 only at end of stream. */
int		 ad_read(struct ad_job *job, struct ad_sock *sock, void *buf,
		    size_t len, double timeout, size_t *n);
/*
 * Reads up to and including delim: *line (the caller's, NUL-terminated)
 * holds *n bytes. Fails (ASYNCD_EFAILED) if the stream ends first or max
 * bytes come without delim; what was read stays for the next read.
 */
int		 ad_read_until(struct ad_job *job, struct ad_sock *sock,
		    const char *delim, size_t max, double timeout, char **line,
		    size_t *n);
/* Writes all len bytes. */
int		 ad_write(struct ad_job *job, struct ad_sock *sock,
		    const void *buf, size_t len, double timeout);
/* Closes and frees sock (NULL: nothing). Does not suspend. */
void		 ad_close(struct ad_sock *sock);
/* What the last failed call on sock ran into; borrowed, until the next. */
const char	*ad_sock_error(struct ad_sock *sock);

/*
 * Registration. The plugin's registration function gets a struct
 * ad_plugin and registers what it offers; the daemon copies nothing, so
 * what it passes must be static (it stays loaded). If the function returns
 * non-zero, or a registration fails (a bad or taken name), the whole
 * plugin is skipped and the log says why.
 */
struct ad_plugin;

/*
 * The SDK's ABI: raised when anything in this header changes in a way a
 * built plugin would notice. A plugin built against another is refused.
 */
#define AD_ABI_VERSION		1

int		 ad_register_type(struct ad_plugin *p,
		    const struct ad_type *type);
int		 ad_register_thread(struct ad_plugin *p,
		    const struct ad_func *fn);
int		 ad_register_process(struct ad_plugin *p,
		    const struct ad_func *fn);
/*
 * The name of the plugin (its file name without .so), for messages and
 * as a prefix of its types' names by convention ("hash.sha256").
 */
const char	*ad_plugin_name(struct ad_plugin *p);

/*
 * AD_PLUGIN(fn) in one source file of a plugin defines what the daemon
 * looks for: the ABI it was built against, and fn, its registration
 * function, int fn(struct ad_plugin *).
 */
#define AD_PLUGIN(fn)							\
	__attribute__((visibility("default"))) const unsigned		\
	    ad_plugin_abi = AD_ABI_VERSION;				\
	__attribute__((visibility("default"))) int			\
	    ad_plugin_register(struct ad_plugin *);			\
	int								\
	ad_plugin_register(struct ad_plugin *p_)			\
	{								\
		return (fn(p_));					\
	}

#ifdef __cplusplus
}
#endif

#endif /* ASYNCD_PLUGIN_H */
