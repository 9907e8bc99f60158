/*
 * ad.h: the coroutine SDK, what a job type's C code sees.
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
 * Thread context: every function here must be called from the job's own
 * coroutine (ad_progress and the accessors may also be called between
 * awaits, never from another thread). Pointers this API hands out are
 * borrowed and valid until the coroutine next suspends, unless stated.
 *
 * This header is internal for now; the plugin SDK will export it.
 */
#ifndef AD_H
#define AD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "asyncd_err.h"

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

#endif /* AD_H */
