/*
 * asyncd.h: libasyncd, the C client library of asyncd.
 *
 * asyncd runs named coroutines ("jobs") for any program on the machine:
 * Python's asyncio.run_coroutine_threadsafe() as a system service. This
 * library submits jobs and gets their results, over nng IPC:
 *
 *	struct asyncd *c;
 *	struct asyncd_future *f;
 *	const char *result;
 *	int rv;
 *
 *	if ((rv = asyncd_open(&c, NULL)) != 0)		// default socket
 *		errx(1, "%s", asyncd_strerror(rv));
 *	if ((rv = asyncd_run(c, "sleep", "{\"seconds\":1}", NULL, &f)) != 0)
 *		errx(1, "run: %s", asyncd_strerror(rv));
 *	if ((rv = asyncd_future_result(f, 10.0, &result)) == 0)
 *		printf("%s\n", result);			// "null"
 *	else
 *		warnx("sleep: %s", asyncd_strerror(rv));
 *	asyncd_future_free(f);
 *	asyncd_close(c);
 *
 * Conventions:
 * - Functions that can fail return 0 or an ASYNCD_E* code (asyncd_err.h);
 *   asyncd_strerror() describes it. The library never exits or prints.
 * - Durations are seconds as doubles. A negative timeout means "no limit".
 * - Out-parameters are set only on success unless stated otherwise.
 * - JSON goes in as text; results come out as text (valid until the
 *   object holding them is freed) or, where noted, as cJSON trees.
 * - A client handle is thread-safe: any number of threads may use one
 *   handle at the same time, each request travelling on its own nng
 *   context. Objects made from it (jobs, futures) are not shared-safe
 *   unless stated.
 *
 * Link with -lasyncd (pkg-config asyncd).
 */
#ifndef ASYNCD_H
#define ASYNCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asyncd_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ASYNCD_LIB_VERSION	"0.1.0"

struct asyncd;
struct asyncd_job;
struct asyncd_future;

/*
 * Job states; a job in one of the four after ASYNCD_RUNNING never changes
 * again. ASYNCD_UNKNOWN is not a state the daemon gives a job: it marks a
 * job of a wait (asyncd_wait_many) that the daemon could not answer for —
 * no job with that id (never, or no longer), or another user's —, whose
 * asyncd_job_error_code() says which.
 */
enum asyncd_state {
	ASYNCD_QUEUED,
	ASYNCD_RUNNING,
	ASYNCD_SUCCEEDED,
	ASYNCD_FAILED,
	ASYNCD_CANCELLED,
	ASYNCD_TIMED_OUT,
	ASYNCD_UNKNOWN,
	/*
	 * Final: it was running when the daemon died, and its type runs a
	 * job at most once (after ASYNCD_UNKNOWN, which keeps its value).
	 */
	ASYNCD_INTERRUPTED
};

/* The state's wire name ("running"); "unknown" for ASYNCD_UNKNOWN and
 * values out of range. */
const char	*asyncd_state_name(enum asyncd_state state);

/* ---- Client handle ---------------------------------------------------- */

/*
 * Opens a client for the daemon at url (any nng URL). When url is NULL:
 * $ASYNCD_SOCKET if it is set; else this user's default socket (see
 * PROTOCOL.md, "Addresses"), unless that socket file does not exist and
 * the system daemon's, ipc:///run/asyncd/asyncd.sock, does — then that one.
 * The choice is made here, once; asyncd_url() tells which. Connecting
 * happens in the background: this succeeds even if the daemon is not up
 * yet, and requests made before it is wait for it (within the connect
 * timeout). Returns 0, ASYNCD_EINVAL (bad URL), or ASYNCD_ENOMEM.
 */
int	asyncd_open(struct asyncd **out, const char *url);
/*
 * Closes the client. Every future made from it must be freed first.
 * Requests in progress on other threads fail with ASYNCD_ECLOSED; this
 * blocks until they have returned. Closing the connection itself waits
 * 5 s at most: nng 1.5.2 can wedge closing sockets whose daemon went
 * away, and then the socket is left to the process's exit (a thread stays
 * blocked on it) and later closes in the process do not wait.
 */
void	asyncd_close(struct asyncd *c);
/* The URL the client talks to; valid until asyncd_close. */
const char *asyncd_url(const struct asyncd *c);
/*
 * How long one request may go without a reply before it fails with
 * ASYNCD_EUNREACHABLE (default 10 s). Long polls get this on top of the
 * time they asked the daemon to hold them.
 */
void	asyncd_set_request_timeout(struct asyncd *c, double seconds);
/*
 * How long the daemon may stay unreachable before a request fails with
 * ASYNCD_EUNREACHABLE (default, or negative: the request timeout): how long
 * a request waits for a first connection, and how long a wait or a future
 * keeps retrying while the daemon restarts (see "Long polls" below).
 * Command-line tools want it short, to say at once that no daemon runs;
 * programs that start before their daemon want it long.
 */
void	asyncd_set_connect_timeout(struct asyncd *c, double seconds);

/*
 * Checks that the daemon answers. On success, if version/events are not
 * NULL, sets them to allocated copies of the daemon's version string and
 * event socket URL (NULL if it has none); the caller frees them. If pid is
 * not NULL, sets it to the daemon's process id.
 */
int	asyncd_ping(struct asyncd *c, char **version, char **events,
	    int64_t *pid);

/* Who answers: the daemon's identity, as "ping" returns it. */
struct asyncd_info {
	char		*version;	/* asyncd's version, "0.1.0" */
	int		 protocol;	/* the protocol version it speaks */
	int64_t		 pid;		/* its process id */
	char		*events;	/* its event socket's URL; NULL: none */
	/*
	 * The job table the daemon's ids belong to (16 hex digits): two
	 * answers with the same instance speak of the same jobs. Without a
	 * durable store it is made afresh each time the daemon starts; with
	 * one it is the store's and stays across restarts, since the jobs
	 * do. NULL if the daemon names none (one older than instances).
	 */
	char		*instance;
	/* "none", "process" or "power"; NULL from an older daemon. */
	char		*durability;
};

/*
 * Asks the daemon who it is and sets *out to an allocated struct
 * asyncd_info (free with asyncd_info_free). Errors as asyncd_ping. The
 * library allocates the struct, so later versions may add fields at its
 * end.
 */
int	asyncd_info(struct asyncd *c, struct asyncd_info **out);
void	asyncd_info_free(struct asyncd_info *info);

/*
 * The daemon's own message for the error reply that the calling thread's
 * last request got ("no job type named 'x'"), for showing to people; NULL
 * if that request got no error reply. Branch on the error code, never on
 * this text. Thread-local, like errno: valid until this thread's next call
 * into the library.
 */
const char *asyncd_errmsg(void);

/* ---- Submitting and waiting ------------------------------------------ */

struct asyncd_submit_opts {
	const char	*key;		/* idempotency key, or NULL */
	double		 timeout;	/* job run time limit; 0: none */
	/*
	 * Added with the durable store; zero is the old behaviour, so
	 * initialize the whole struct ({ .key = ... }).
	 */
	int		 priority;	/* higher runs first among ready jobs */
	double		 delay;		/* seconds before it may start */
	double		 not_before;	/* or the Unix time it may start */
	unsigned	 retries;	/* runs again after a failure */
	double		 retry_delay;	/* before the first retry; 0: 1 s */
	double		 retry_backoff;	/* each delay grows by; 0: 2 */
};

/*
 * An RFC 3339 time ("2026-12-02T01:30:00Z", with an optional fraction and
 * a Z or +hh:mm offset) as Unix time, for not_before. Returns 0 or
 * ASYNCD_EINVAL.
 */
int	asyncd_parse_time(const char *text, double *t);

/*
 * Submits a job of the given type with args_json (any JSON text; NULL
 * means null) and sets *id. If opts->key names a job the daemon already
 * has (see PROTOCOL.md, "Keys"), that job's id is returned and, if created
 * is not NULL, *created is false. Errors: ASYNCD_EUNKNOWNTYPE, EBADARGS,
 * EBUSY, ESHUTDOWN, EINVAL (args_json is not JSON), EUNREACHABLE, ...
 */
int	asyncd_submit(struct asyncd *c, const char *type, const char *args_json,
	    const struct asyncd_submit_opts *opts, uint64_t *id, bool *created);

/*
 * Submits and waits in one call (one round trip when the job is quick).
 * On return 0, *job is the job as it stands: finished, or still running if
 * the timeout ran out first — in which case the call returns
 * ASYNCD_ETIMEDOUT and still sets *job. Free *job with asyncd_job_free.
 * Note that 0 means "the wait worked", not "the job succeeded": look at
 * asyncd_job_state() or use asyncd_job_outcome().
 */
int	asyncd_call(struct asyncd *c, const char *type, const char *args_json,
	    const struct asyncd_submit_opts *opts, double timeout,
	    struct asyncd_job **job);

/*
 * Long polls. asyncd_wait, asyncd_wait_many, asyncd_call, asyncd_cancel's
 * wait and futures hold a request at the daemon (a few seconds at most)
 * and ask again until their own deadline. One rule decides what follows
 * each reply or failure:
 * - a reply that meets the condition: done;
 * - a reply that does not: ask again at once;
 * - a transient error reply (busy, shutting_down, internal, no_memory) or
 *   a dropped connection (the daemon restarting): ask again after a pause
 *   that doubles from 10 ms to 1 s, within the caller's deadline; a
 *   daemon that stays unreachable longer than the connect timeout fails
 *   the wait with ASYNCD_EUNREACHABLE, as does a request that gets no
 *   reply within the request timeout;
 * - unknown_job, permission_denied, a malformed reply: fail with it.
 * Every reply names the daemon instance that sent it. If a later reply of
 * the same wait (or of the wait that follows asyncd_call's or
 * asyncd_run's submit) comes from another instance, the daemon restarted
 * and the job ids belonged to the one that went away: the wait fails with
 * ASYNCD_EUNKNOWNJOB, and asyncd_errmsg() says so.
 */

/*
 * Waits up to timeout seconds (negative: forever) for job id to finish and
 * sets *job. Returns ASYNCD_ETIMEDOUT if it did not finish in time (the job
 * goes on; *job is not set), ASYNCD_EUNKNOWNJOB if the daemon does not
 * know the id (or restarted since, see above) and ASYNCD_EPERM if the job
 * is another user's.
 */
int	asyncd_wait(struct asyncd *c, uint64_t id, double timeout,
	    struct asyncd_job **job);

#define ASYNCD_WAIT_ALL		0	/* return when every job finished */
#define ASYNCD_WAIT_ANY		1	/* return when the first one did */

/*
 * Waits for several jobs: any number with ASYNCD_WAIT_ALL, at most 1024
 * distinct ones with ASYNCD_WAIT_ANY. An id may repeat; each place gets
 * its own copy of the job. On success jobs[i] is set for
 * every i — finished jobs with their results, others as they stand — and
 * the caller frees each. An id the daemon could not answer for (unknown,
 * or another user's job) does not fail the wait: its jobs[i] has state
 * ASYNCD_UNKNOWN, counts as finished, and asyncd_job_outcome() gives
 * ASYNCD_EUNKNOWNJOB or ASYNCD_EPERM. Returns ASYNCD_ETIMEDOUT (jobs[]
 * still set) if the condition was not met in time. (A daemon older than
 * per-id answers fails the whole wait with the id's error instead.)
 */
int	asyncd_wait_many(struct asyncd *c, const uint64_t *ids, size_t n,
	    int mode, double timeout, struct asyncd_job **jobs);

/* Sets *job to the job's current record, with its arguments. */
int	asyncd_status(struct asyncd *c, uint64_t id, struct asyncd_job **job);

/*
 * Cancels a job and waits up to timeout seconds for it to finish stopping.
 * If job is not NULL it is set to the job as it stands afterwards. Returns
 * ASYNCD_EDONE if the job had already finished, ASYNCD_EUNKNOWNJOB if the
 * daemon does not know it.
 */
/*
 * Removes finished jobs now, in the daemon's memory and store, before
 * retention would: job id, or (id 0) every finished job the caller may see
 * in state (an enum asyncd_state of a finished job, or -1: any) that
 * finished before the Unix time before (0: any). Sets *n (may be NULL) to
 * how many went. Errors: ASYNCD_EUNKNOWNJOB, EEXPIRED, EPERM, EBUSY (the
 * job has not finished), EINVAL.
 */
int	asyncd_forget(struct asyncd *c, uint64_t id, int state, double before,
	    uint64_t *n);

int	asyncd_cancel(struct asyncd *c, uint64_t id, double timeout,
	    struct asyncd_job **job);

struct asyncd_list_opts {
	int		 state;		/* enum asyncd_state, or -1: all */
	const char	*type;		/* NULL: all */
	uint64_t	 before;	/* only ids below this; 0: newest */
	size_t		 limit;		/* 0: the daemon's default (100) */
	/*
	 * Added with history (ASYNCD_0.5); zero is the old behaviour, so
	 * initialize the whole struct ({ .state = -1, .key = ... }). A
	 * program built before them calls the asyncd_list it was built
	 * with, which reads only the four fields above.
	 */
	const char	*key;		/* only jobs with this key; NULL: any */
	const char	*owner;		/* only this user's jobs: a user name or
					   a decimal uid; NULL: any (only root
					   and the daemon's user may name
					   another user) */
	double		 since;		/* created at or after (Unix time);
					   0: any */
	double		 until;		/* created before (Unix time); 0: any */
};

/*
 * Lists jobs, newest first: with a durable store, the daemon's whole
 * history (as long as --retention keeps it), read from the store; without
 * one, the jobs in its memory. Sets *jobs to an array of *n jobs (free
 * with asyncd_jobs_free) and, if more is not NULL, *more to whether older
 * jobs match too (ask again with before set to the last job's id: a set
 * that does not change pages with no job twice and none left out).
 * Errors: ASYNCD_EINVAL (a bad option, or an owner that names no user),
 * ASYNCD_EPERM (owner names another user and the caller is not root or
 * the daemon's user), ASYNCD_ESTORAGE, ...
 */
int	asyncd_list(struct asyncd *c, const struct asyncd_list_opts *opts,
	    struct asyncd_job ***jobs, size_t *n, bool *more);
void	asyncd_jobs_free(struct asyncd_job **jobs, size_t n);

/*
 * The registered job types: *names and *descriptions become arrays of *n
 * allocated strings; free with asyncd_types_free.
 */
int	asyncd_types(struct asyncd *c, char ***names, char ***descriptions,
	    size_t *n);
void	asyncd_types_free(char **names, char **descriptions, size_t n);

struct asyncd_stats {
	uint64_t	 queued, running;
	uint64_t	 succeeded, failed, cancelled, timed_out;
	uint64_t	 submitted, finished;
	double		 uptime;
	uint64_t	 max_running, max_queued;
};

int	asyncd_stats(struct asyncd *c, struct asyncd_stats *stats);

/* Asks the daemon to stop (admin only: root or the daemon's user). */
int	asyncd_shutdown(struct asyncd *c);

/* ---- Jobs -------------------------------------------------------------- */

/*
 * A snapshot of a job, as the daemon reported it. Strings are valid until
 * asyncd_job_free; NULL where the job has none. A job in state
 * ASYNCD_UNKNOWN has only an id and an error: its type is NULL.
 */
uint64_t	 asyncd_job_id(const struct asyncd_job *job);
const char	*asyncd_job_type(const struct asyncd_job *job);
const char	*asyncd_job_key(const struct asyncd_job *job);
enum asyncd_state asyncd_job_state(const struct asyncd_job *job);
bool		 asyncd_job_done(const struct asyncd_job *job);
uint64_t	 asyncd_job_parent(const struct asyncd_job *job);
double		 asyncd_job_created(const struct asyncd_job *job);
double		 asyncd_job_started(const struct asyncd_job *job);
double		 asyncd_job_finished(const struct asyncd_job *job);
/* Result and arguments as compact JSON text; NULL if not included. */
const char	*asyncd_job_result(const struct asyncd_job *job);
const char	*asyncd_job_args(const struct asyncd_job *job);
/*
 * The error of a failed, cancelled or timed-out job, or why the daemon
 * could not answer for an ASYNCD_UNKNOWN one ("unknown_job",
 * "permission_denied"); NULL otherwise.
 */
const char	*asyncd_job_error_code(const struct asyncd_job *job);
const char	*asyncd_job_error_message(const struct asyncd_job *job);
/* Progress fraction (negative if never reported) and message. */
double		 asyncd_job_progress(const struct asyncd_job *job,
		    const char **message);
/*
 * How the job ended, as an error code: 0 succeeded, ASYNCD_EFAILED,
 * ASYNCD_ECANCELED or ASYNCD_EJOBTIMEDOUT; ASYNCD_ETIMEDOUT if it has not
 * finished; for ASYNCD_UNKNOWN, the daemon's error (ASYNCD_EUNKNOWNJOB,
 * ASYNCD_EPERM).
 */
int		 asyncd_job_outcome(const struct asyncd_job *job);
/* The whole job as one line of JSON (the daemon's job object, or for
 * ASYNCD_UNKNOWN its wait entry {"id":N,"error":{...}}); caller frees.
 * NULL when out of memory. */
char		*asyncd_job_json(const struct asyncd_job *job);
void		 asyncd_job_free(struct asyncd_job *job);

/* ---- Output: what a job's command wrote -------------------------------- */

/*
 * An exec job (or a configured command) writes to two streams, and the
 * daemon logs both whole, apart from the job's result (PROTOCOL.md,
 * "output"). Streams are indexes, and bits where several are meant.
 * Offsets count bytes from the start of a stream.
 */
#define ASYNCD_STDOUT		0
#define ASYNCD_STDERR		1
#define ASYNCD_STREAM_STDOUT	(1 << ASYNCD_STDOUT)
#define ASYNCD_STREAM_STDERR	(1 << ASYNCD_STDERR)
#define ASYNCD_STREAM_BOTH	(ASYNCD_STREAM_STDOUT | ASYNCD_STREAM_STDERR)

struct asyncd_output_opts {
	int		 streams;	/* ASYNCD_STREAM_* bits; 0: both */
	uint64_t	 offset[2];	/* first byte wanted, per stream */
	/* Bytes per reply, both streams (stdout first), to 4 MiB; 0: 1 MiB */
	size_t		 max;
	double		 timeout;	/* seconds; see each call */
};

/* One stream's piece of a reply. */
struct asyncd_output_stream {
	bool		 present;	/* the stream was asked for */
	uint64_t	 offset;	/* where data starts: as asked */
	/* len raw bytes (not NUL-terminated), owned by the asyncd_output */
	char		*data;
	size_t		 len;
	uint64_t	 size;		/* bytes of the stream logged so far */
	/*
	 * The log stops at size: the daemon's --log-max-mib was reached,
	 * and later bytes are in no log.
	 */
	bool		 cut;
};

/*
 * One read of a job's output. The library allocates it; later versions may
 * add fields at its end (struct asyncd_output_stream stays as it is).
 */
struct asyncd_output {
	/* The job as it stands, without args or result; owned. */
	struct asyncd_job		*job;
	/*
	 * The job has finished and this reply reaches the end of its log:
	 * nothing more will come.
	 */
	bool				 done;
	struct asyncd_output_stream	 stream[2]; /* [ASYNCD_STDOUT], ... */
	/*
	 * The daemon instance that answered (as in struct asyncd_info;
	 * NULL if it names none): a program reading on with calls of its
	 * own compares it, since a restarted daemon's job ids are not the
	 * old one's. asyncd_follow does this itself.
	 */
	char				*instance;
};

/*
 * Reads job id's output from opts->offset (opts NULL: both streams from
 * the start, not waiting) and sets *out (free with asyncd_output_free).
 * It returns when there is something to return: bytes past the offsets,
 * or the job's end; or when opts->timeout seconds (0: do not wait;
 * negative: no limit) have passed, with no bytes. So 0 with no bytes and
 * done false means "nothing new yet". To follow on, ask again from offset
 * + len of each stream. A job that runs no command has empty streams.
 * The polls of one call follow the rule under "Long polls" above; across
 * calls, compare out->instance. Errors: ASYNCD_EUNKNOWNJOB, EPERM
 * (another user's job), EINVAL (id 0, bad streams, max above 4 MiB, an
 * offset past 2^53), EUNREACHABLE, EPROTO, ENOMEM.
 */
int	asyncd_output(struct asyncd *c, uint64_t id,
	    const struct asyncd_output_opts *opts, struct asyncd_output **out);
void	asyncd_output_free(struct asyncd_output *out);

/*
 * The callback of asyncd_follow: len bytes of stream (ASYNCD_STDOUT or
 * ASYNCD_STDERR) at the offset that follows the previous call's, or, with
 * data NULL and len 0, once, word that the stream's log was cut there
 * (see "cut" above): what the command wrote past it is lost. Returns 0 to
 * go on; any other value stops the follow, which returns that value (make
 * it negative to tell it from the ASYNCD_E* codes).
 */
typedef int (*asyncd_output_fn)(int stream, const char *data, size_t len,
    void *arg);

/*
 * Follows job id's output, from opts->offset (opts NULL: both streams from
 * the start) to the end of the job, handing every byte to fn(stream,
 * data, len, arg), in the calling thread, exactly once and in order within
 * each stream (within one reply, stdout's bytes come before stderr's). A
 * follower that joins late gets everything from its offsets first; one
 * that starts with the job sees its output as it is written. opts->timeout
 * is the whole follow's limit (negative: none; the job goes on past it).
 * opts->max caps each reply. The polls follow the rule under "Long polls"
 * above, from the first to the last: a daemon restart fails the follow
 * with ASYNCD_EUNKNOWNJOB (asyncd_errmsg() says so), and one unreachable
 * past the connect timeout with ASYNCD_EUNREACHABLE.
 *
 * When the output is done, it waits for the job's record and, if job is
 * not NULL, sets *job to the finished job with its result (an exec job's
 * exit_code and signal; free with asyncd_job_free). Returns 0 (whatever
 * the job's outcome: see asyncd_job_outcome), ASYNCD_ETIMEDOUT if the
 * timeout ran out first, fn's own value if fn stopped it, or the errors of
 * asyncd_output. fn may have run whatever it returns, except ASYNCD_EINVAL
 * for bad arguments (fn NULL too), where it never ran.
 */
int	asyncd_follow(struct asyncd *c, uint64_t id,
	    const struct asyncd_output_opts *opts, asyncd_output_fn fn,
	    void *arg, struct asyncd_job **job);

/* ---- Futures: concurrent.futures.Future -------------------------------- */

/*
 * A future follows one job from the moment it is submitted. Behind it a
 * background long poll (one outstanding request on the client's socket,
 * served by nng's threads) keeps its state current, so asyncd_future_done()
 * never blocks, asyncd_future_fd() can be polled, and done callbacks run
 * as soon as the daemon reports the job finished. The poll follows the
 * rule under "Long polls" above, with no deadline of its own: a future
 * fails (ASYNCD_EUNREACHABLE) only when the daemon stays unreachable past
 * the connect timeout.
 *
 * A future may be used from several threads at once; only
 * asyncd_future_free must not race with other calls on the same future.
 */

/*
 * Submits a job (as asyncd_submit) and returns a future for it: the
 * analogue of asyncio.run_coroutine_threadsafe(coro, loop).
 */
int	asyncd_run(struct asyncd *c, const char *type, const char *args_json,
	    const struct asyncd_submit_opts *opts, struct asyncd_future **out);
/* A future for a job submitted earlier (by anyone allowed to see it). */
int	asyncd_future_open(struct asyncd *c, uint64_t id,
	    struct asyncd_future **out);
uint64_t asyncd_future_id(const struct asyncd_future *f);

/*
 * Waits up to timeout seconds (negative: forever) for the job, like
 * Future.result(timeout). Returns 0 and sets *result (JSON text, valid
 * until asyncd_future_free; may be NULL) if the job succeeded; the job's
 * outcome (ASYNCD_EFAILED, ECANCELED, EJOBTIMEDOUT; details from
 * asyncd_future_job) if it did not; ASYNCD_ETIMEDOUT if it is not finished
 * yet (the job goes on); the future's own failure otherwise:
 * ASYNCD_EUNKNOWNJOB if the daemon lost track of the job or restarted,
 * ASYNCD_EPERM, ASYNCD_EUNREACHABLE, ASYNCD_EPROTO. For those, it sets this
 * thread's asyncd_errmsg() to the reason.
 */
int	asyncd_future_result(struct asyncd_future *f, double timeout,
	    const char **result);
/* True once the job has finished (or the future failed). Never blocks. */
bool	asyncd_future_done(struct asyncd_future *f);
/* True if the job ended cancelled. */
bool	asyncd_future_cancelled(struct asyncd_future *f);
/*
 * Cancels the job (asyncd_cancel with a short wait). Returns 0 if a cancel
 * was delivered, ASYNCD_EDONE if the job had already finished.
 */
int	asyncd_future_cancel(struct asyncd_future *f);
/*
 * The finished job (borrowed, valid until asyncd_future_free), or NULL if
 * the job has not finished.
 */
const struct asyncd_job *asyncd_future_job(struct asyncd_future *f);

typedef void (*asyncd_done_fn)(struct asyncd_future *f, void *arg);

/*
 * Calls fn(f, arg) once when the job finishes, like
 * Future.add_done_callback. If it has already finished, fn runs at once in
 * the calling thread; otherwise it runs in the thread that sees it finish:
 * one of nng's threads (which fn must not block for long), or a thread in
 * asyncd_future_cancel(f). fn must not call asyncd_future_free(f) or
 * asyncd_close(). Callbacks run in the order they were added, one at a
 * time: one added while earlier ones are still running runs after them,
 * in their thread. Returns 0, ASYNCD_EINVAL (fn is NULL) or ASYNCD_ENOMEM;
 * on error fn never runs.
 */
int	asyncd_future_add_done_callback(struct asyncd_future *f,
	    asyncd_done_fn fn, void *arg);

/*
 * A file descriptor that becomes readable when the job has finished and
 * stays readable, for poll/epoll/libev/libuv loops. Owned by the future:
 * do not read or close it.
 */
int	asyncd_future_fd(struct asyncd_future *f);

/*
 * Stops following the job and frees the future (the job itself goes on:
 * use asyncd_future_cancel to stop it). Blocks until a callback running
 * for this future returns, so it must not be called from one of f's own
 * callbacks (an assertion catches that).
 */
void	asyncd_future_free(struct asyncd_future *f);

#ifdef __cplusplus
}
#endif

#endif /* ASYNCD_H */
