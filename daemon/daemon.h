/*
 * daemon.h: asyncd's private declarations, one section per file.
 *
 * Threads: the loop thread (libev's default loop, the main thread) owns
 * every structure here unless a section says otherwise. nng's threads and
 * the thread pool reach the loop only through the inbox.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <sys/queue.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <ev.h>
#include <nng/nng.h>

#include "asyncd/plugin.h"
#include "coro.h"
#include "proto.h"

#ifndef ASYNCD_VERSION
#define ASYNCD_VERSION "unknown"
#endif

#define container_of(ptr, type, member)					\
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define nitems(a)	(sizeof (a) / sizeof (a)[0])

struct job;
struct pool_thread;
struct procs;
struct sched;
struct waiter;
struct waiter_watch;

/* log.c */
enum log_level {
	LOG_ERROR,
	LOG_WARNING,
	LOG_INFO,
	LOG_DEBUG
};
void	log_init(enum log_level level);
int	log_level_parse(const char *name);
/*
 * With batching on, lines logged on the thread that turned it on are
 * kept until log_flush (once per loop iteration) and leave in one write;
 * other threads always write at once. Lines are never interleaved.
 */
void	log_batch(bool);
void	log_flush(void);
/* True while batched lines wait for log_flush. */
bool	log_pending(void);
/* The longest a batched line waits: a tenth of a second. */
#define LOG_DELAY	0.1
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* xmalloc.c: allocators that die, for small bounded allocations. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 xvasprintf(char **, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));

/*
 * inbox.c: the loop's call_soon_threadsafe. Any thread pushes an item; the
 * loop thread runs item->fn(item) for each, in order, soon after. Items are
 * embedded in the pusher's own object: pushing transfers it to the loop
 * until fn runs.
 */
struct inbox_item {
	STAILQ_ENTRY(inbox_item) entry;
	void			(*fn)(struct inbox_item *);
};

struct inbox {
	pthread_mutex_t		 lock;		/* guards items */
	STAILQ_HEAD(, inbox_item) items;
	ev_async		 async;
	struct ev_loop		*loop;
	uint64_t		 batches;	/* wake-ups that found work */
	uint64_t		 handled;
};

void	inbox_init(struct inbox *, struct ev_loop *);
void	inbox_start(struct inbox *);
void	inbox_stop(struct inbox *);
void	inbox_fini(struct inbox *);
/* Any thread. Never blocks beyond a short critical section. */
void	inbox_push(struct inbox *, struct inbox_item *);
/* Loop thread: runs everything queued now. Returns how many ran. */
size_t	inbox_drain(struct inbox *);

/*
 * ids.c: job ids that only grow across restarts, reserved in blocks in
 * the state directory. Loop thread.
 */
struct ids;
/*
 * Reads dir/next-id and reserves the first block (blocks: startup only).
 * pool writes later reservations (NULL: write in place). Returns 0 or an
 * errno value with *cause set.
 */
int	ids_open(struct ids **, const char *dir, struct pool_thread *,
	    char **cause);
/* The next id; ASYNCD_EBUSY while no reserved id is left. */
int	ids_next(struct ids *, uint64_t *);
/* The id ids_next would give. */
uint64_t ids_peek(const struct ids *);
/*
 * Startup: ids go on from at least next (what a store holds), reserving
 * a block from there at once. Returns 0 or an errno value with *cause.
 */
int	ids_raise(struct ids *, uint64_t next, char **cause);
/* Once no reservation is being written (after the pool has stopped). */
void	ids_close(struct ids *);

/*
 * store.c: the durable job store (SQLite, WAL) and its thread. Writes are
 * queued by the loop and committed in groups by the store thread; each
 * one's done function runs on the loop, once, after its group committed
 * (err 0) or failed (ASYNCD_ESTORAGE). Everything but the thread is for
 * the loop thread. A second backend (several daemons sharing one store)
 * would sit behind the same functions: ids come from store_id_next, and
 * every write names its job.
 */
enum store_durability {
	STORE_NONE,		/* no store: memory only */
	STORE_PROCESS,		/* survives the daemon dying */
	STORE_POWER		/* fsync per group: survives the machine */
};

/* A stored job as read at start; every pointer borrowed for the call. */
struct store_row {
	uint64_t	 id;
	uint64_t	 parent;
	const char	*type;
	const char	*key;
	const char	*args;		/* JSON text */
	const char	*state;		/* a state name */
	uint64_t	 uid;
	uint64_t	 gid;
	double		 created;
	double		 started;
	double		 finished;
	double		 timeout;
	const char	*result;	/* JSON text or NULL */
	const char	*err_code;
	const char	*err_message;
	unsigned	 attempts;
	int64_t		 pid;		/* its command's process group */
	uint64_t	 pid_start;	/* and that process's start time */
	int		 priority;
	double		 not_before;
	unsigned	 retries;
	double		 retry_delay;
	double		 retry_backoff;
	const char	*attempt_errors;	/* JSON text or NULL */
};

struct store;
struct store_op;
typedef void (*store_done_fn)(void *, int);
typedef void (*store_load_fn)(void *, const struct store_row *);
/* A row read back: err 0 and row NULL if there is none. */
typedef void (*store_get_fn)(void *, int, const struct store_row *);
/*
 * Opens (creating, migrating) the database at path. Startup only: it
 * blocks. ids hands out job ids (borrowed). Returns 0 or ASYNCD_ESTORAGE
 * with *cause set, naming the file.
 */
int	store_open(struct store **, const char *path, enum store_durability,
	    struct ids *, struct inbox *, char **cause);
/*
 * Startup, before store_start: calls fn, in id order, for every stored job
 * that has not finished and for the newest keep finished ones (the others
 * stay for store_get); *next is past every id the store has seen. Returns
 * 0 or ASYNCD_ESTORAGE.
 */
int	store_load(struct store *, store_load_fn, void *, size_t keep,
	    uint64_t *next, char **cause);
/* Starts the thread; before it, writes happen in place. 0 or errno. */
int	store_start(struct store *);
/* The next job id; ASYNCD_EBUSY while none is reserved. */
int	store_id_next(struct store *, uint64_t *);
uint64_t store_id_peek(const struct store *);
/* This store's identity (16 hex digits): the same across restarts. */
const char *store_identity_text(const struct store *);
enum store_durability store_durability(const struct store *);
/*
 * Queue a job's row: all of it (insert), its state fields (update), or
 * its removal. The job is copied now; done may be NULL. Writes queued in
 * one loop iteration reach the store thread together, before the loop
 * sleeps; an update replaces the job's earlier update of the same
 * iteration if nobody waits for that one (only the last state is written).
 */
void	store_insert(struct store *, struct job *, store_done_fn, void *);
void	store_update(struct store *, struct job *, store_done_fn, void *);
void	store_delete(struct store *, uint64_t);
/* Reads a job's row back; got runs on the loop, once, after the writes
 * queued before it. */
void	store_get(struct store *, uint64_t, store_get_fn, void *);
/*
 * Reads back the newest succeeded job that holds key (the only finished
 * jobs that bind their key, and the only ones memory may have let go of);
 * like store_get, after the writes queued before it.
 */
void	store_get_key(struct store *, const char *, store_get_fn, void *);
/* Deletes the rows of jobs that finished before a Unix time. */
void	store_expire(struct store *, double);
/* How many rows a deletion took (0 with err); runs on the loop. */
typedef void (*store_count_fn)(void *, int, uint64_t);
/*
 * Deletes the rows of finished jobs in a state (-1: any final one) that
 * finished before a Unix time (0: any time), only uid's when by_uid;
 * counted (NULL: nobody counts) runs on the loop, once, after the writes
 * queued before it. Retention's store_expire is one with no state.
 */
void	store_forget(struct store *, int, double, bool, uint64_t,
	    store_count_fn, void *);
/*
 * What store_list selects: the jobs that meet every condition given,
 * newest (highest id) first. Nothing in it is particular to one backend:
 * SQLite runs it as one parameterised SELECT, and a shared backend
 * (PostgreSQL) would do the same.
 */
struct store_filter {
	int		 state;		/* enum proto_state, or -1: any */
	const char	*type;		/* NULL: any */
	const char	*key;		/* NULL: any */
	bool		 by_uid;	/* only the jobs of uid */
	uint64_t	 uid;
	double		 since;		/* created at or after; 0: any */
	double		 until;		/* created before; 0: any */
	uint64_t	 before;	/* ids below this; 0: any */
	size_t		 limit;		/* at most this many rows, >= 1 */
};
/*
 * Rows read back, newest first, borrowed for the call (args and result
 * are not read: NULL); err is 0 or ASYNCD_ESTORAGE (then no rows).
 */
typedef void (*store_list_fn)(void *, int, const struct store_row *,
	    size_t);
/*
 * Reads the rows that match f (copied now); listed runs on the loop,
 * once, after every write queued before has committed (or failed): what
 * was acknowledged before the call is in the answer.
 */
void	store_list(struct store *, const struct store_filter *,
	    store_list_fn, void *);
/* True while a write has not come back. */
bool	store_busy(const struct store *);
/* True if the last group failed. */
bool	store_failing(const struct store *);
/* Why the last group that failed did, for a human (a static string). */
const char *store_error_text(const struct store *);
/* Writes what is queued and joins the thread; then drain the inbox. */
void	store_stop(struct store *);
/* After store_stop and the inbox drained. NULL is allowed. */
void	store_close(struct store *);

/*
 * acl.c: who may run a job type: users and @groups, resolved when the
 * list is made (startup). Root and the daemon's own user always may.
 */
struct acl;
/* Returns 0, or ASYNCD_EINVAL with *cause set (an unknown name). */
int	acl_create(struct acl **, const char *const *, size_t, char **);
void	acl_free(struct acl *);
/* self: the daemon's own uid. a NULL: only root and self. */
bool	acl_allows(const struct acl *, uint64_t uid, uint64_t gid,
	    uint64_t self);
/* The list as given, for messages. */
const char *acl_text(const struct acl *);

/*
 * registry.c: job types by name. Types are borrowed (static data, or a
 * configured command's record, which outlives the registry). Each has a
 * record of its own for the scheduler.
 */
struct type_info {
	const struct acl	*acl;		/* borrowed */
	bool			 restricted;	/* only acl may run it */
	size_t			 concurrency;	/* 0: no limit */
	double			 default_timeout; /* 0: none */
	const char		*delivery;	/* NULL: at_most_once */
	size_t			 running;
	TAILQ_HEAD(, job)	 waiting;	/* queued, held back by it */
};

struct registry;
struct registry *registry_create(void);
void	registry_free(struct registry *);
/* Returns 0, ASYNCD_EINVAL (bad name) or ASYNCD_EBUSY (name taken). */
int	registry_add(struct registry *, const struct ad_type *);
const struct ad_type *registry_find(struct registry *, const char *);
/* The scheduler's record of a registered type (stable; never NULL). */
struct type_info *registry_info(struct registry *, const char *);
/* Only the users and groups of acl (and root, and the daemon's user). */
void	registry_set_acl(struct registry *, const char *, const struct acl *);
/* True if name may name a job type. */
bool	registry_valid_name(const char *);
/* The types sorted by name; the array is borrowed until the next add. */
const struct ad_type *const *registry_list(struct registry *, size_t *);

/*
 * plugin.c: plugins (see asyncd/plugin.h). Loading, on the loop thread at
 * startup (or in a worker before it serves).
 */
struct plugins;
/*
 * Loads every *.so of dir in name order, registering their types in reg;
 * logs each plugin refused or skipped (quiet: at debug level, as workers
 * do, the daemon having said it). Always sets *out (free it with
 * plugin_free, after the registry).
 */
void	plugin_load_dir(struct plugins **, const char *, struct registry *,
	    bool);
void	plugin_free(struct plugins *);
size_t	plugin_count(const struct plugins *);
/* A process function by name, or NULL. */
const struct ad_func *plugin_find_process(struct plugins *, const char *);
/* True if type is a process function's job type. */
bool	plugin_is_process(const struct ad_type *);
/* Where ad_call_soon_threadsafe pushes; NULL once the loop stops. */
void	plugin_set_inbox(struct inbox *);

/*
 * A call of a thread or process function. Fields are private to plugin.c,
 * ad.c and worker.c. On the loop (thread functions) it lives on the
 * coroutine's stack; the function's thread uses it until it returns.
 */
struct ad_call {
	const struct ad_func	*func;
	const cJSON		*args;		/* borrowed */
	cJSON			*result;
	char			*err_code;	/* set: it failed */
	char			*err_message;
	atomic_bool		 cancelled;
	struct job		*job;		/* thread functions: progress */
	struct inbox		*inbox;
	int			 wfd;		/* worker: progress frames */
	pthread_mutex_t		 lock;		/* guards what follows */
	double			 pfrac;
	char			*pmsg;
	bool			 ppending;	/* pitem is in the inbox */
	struct inbox_item	 pitem;
};
void	plugin_call_init(struct ad_call *, const struct ad_func *,
	    const cJSON *);
void	plugin_call_fini(struct ad_call *);
/* Runs the function; 0, or ASYNCD_EFAILED with err_code set. */
int	plugin_call_run(struct ad_call *);

/*
 * worker.c: asyncd --worker, a process-pool worker: reads calls on fd 0
 * and answers on fd 1, one at a time, in frames (pool_proc.c). Never
 * returns.
 */
void	worker_main(const char *plugin_dir) __attribute__((noreturn));
/* From a process function: a progress frame on fd. */
void	worker_progress(int fd, double, const char *);
/*
 * Frames: a 4-byte big-endian length, then that many bytes of JSON.
 * Larger frames are a broken peer.
 */
#define WORKER_MAX_FRAME	((size_t)64 << 20)

/*
 * pool_proc.c: the process pool (ProcessPoolExecutor): worker processes,
 * started lazily, one call at a time each, on the loop thread.
 */
struct pool_proc;
struct pool_worker;

struct pool_call {
	/* In; borrowed until done (or pool_proc_cancel). */
	const char	*fn;
	const cJSON	*args;
	/* Loop: exactly once, unless cancelled first. */
	void		(*done)(struct pool_call *);
	/* Loop: a progress frame; may be NULL. */
	void		(*progress)(struct pool_call *, double, const char *);
	void		*arg;
	/*
	 * Out: status 0 and result (the caller's), or ASYNCD_EFAILED with
	 * err_code and err_message (the caller's).
	 */
	int		 status;
	cJSON		*result;
	char		*err_code;
	char		*err_message;
	/* Private. */
	TAILQ_ENTRY(pool_call) entry;
	struct pool_worker *worker;
	bool		 queued;
};

struct pool_proc_config {
	size_t		 workers;	/* most at once (>= 1) */
	uint64_t	 max_calls;	/* per worker; 0: no limit */
	const char	*exe;		/* the worker binary; NULL: our own */
	const char	*plugin_dir;	/* for the workers' command line */
	const char	*log_level;
};

/* Loop thread, at startup. Starts no worker yet. */
void	pool_proc_start(struct pool_proc **, struct ev_loop *,
	    struct procs *, const struct pool_proc_config *);
/* Queues a call; done runs when it finishes. */
void	pool_proc_submit(struct pool_proc *, struct pool_call *);
/*
 * Takes a call back: queued, it is dropped; running, its worker is
 * killed (and will be replaced). done will not run.
 */
void	pool_proc_cancel(struct pool_proc *, struct pool_call *);
/* Shutdown: kills every worker. */
void	pool_proc_kill(struct pool_proc *);
/* Workers not yet reaped. */
size_t	pool_proc_live(const struct pool_proc *);
/*
 * Frees the pool, once every worker is reaped; if some are not, it says so
 * and keeps the pool (their reports may still come).
 */
void	pool_proc_stop(struct pool_proc *);

/*
 * ad.c: the SDK's awaits. ad_run_in_thread, setting *cancelled (if not
 * NULL) when the job is cancelled while fn runs: plugin.c's thread calls.
 */
int	ad_run_in_thread_call(struct ad_job *, void (*)(void *), void *,
	    atomic_bool *);
/*
 * A thread function still running this long after its job was cancelled
 * is logged (it ignores ad_call_cancelled); the job waits on for it.
 */
#define AD_THREAD_STUCK		1.0

/* builtin.c */
void	builtin_register(struct registry *);

/*
 * jobsd.c: configured commands, one JSON file per job type in the jobs
 * directory. Startup: reads every file, registers the good ones and logs
 * each bad one (*nbad counts them). Types stay until jobsd_free, after the
 * registry has no more use for them.
 */
struct jobsd;
int	jobsd_load(struct jobsd **, const char *, struct registry *, size_t *);
void	jobsd_free(struct jobsd *);
/* How many types it loaded. */
size_t	jobsd_count(const struct jobsd *);

/*
 * job.c: a job record. The scheduler (sched.c) moves it between states;
 * job.c keeps what does not depend on scheduling: its data, its watchers
 * (done callbacks), its pins and its wire view.
 */
struct job_watch;
typedef void (*job_watch_fn)(struct job_watch *, struct job *);

/*
 * What a job's commands wrote (exec.c): bytes read from each stream, bytes
 * of them on disk, whether the log was cut, and who waits for more.
 */
struct output_wait {
	LIST_ENTRY(output_wait)	 entry;
	bool			 listed;
	void			(*fn)(struct output_wait *);
};

struct job_output {
	uint64_t		 total[2];	/* OUTLOG_STDOUT, _STDERR */
	uint64_t		 committed[2];
	bool			 cut[2];
	LIST_HEAD(, output_wait) waiters;
};

/* A done callback, embedded in the watcher's own object. */
struct job_watch {
	LIST_ENTRY(job_watch)	 entry;
	struct job		*job;		/* NULL when not attached */
	job_watch_fn		 fn;
};

struct ad_job {
	struct job		*job;
};

struct job {
	struct ad_job		 ad;		/* the coroutine's handle */
	struct sched		*sched;
	uint64_t		 id;
	char			*type_name;
	const struct ad_type	*type;
	char			*key;		/* NULL: none */
	bool			 key_bound;	/* in the table's key index */
	enum proto_state	 state;
	uint64_t		 parent_id;
	struct job		*parent;	/* while both run */
	TAILQ_HEAD(, job)	 children;	/* unfinished children */
	TAILQ_ENTRY(job)	 child_entry;
	double			 created;
	double			 started;
	double			 finished;
	double			 timeout;
	cJSON			*args;		/* never NULL */
	cJSON			*result;	/* NULL until succeeded */
	char			*err_code;
	char			*err_message;
	double			 progress;	/* negative: none */
	char			*progress_msg;
	uint64_t		 uid;		/* the submitting peer */
	uint64_t		 gid;
	unsigned		 pins;		/* evict only at 0 */
	bool			 delivered;	/* its outcome was read */
	unsigned		 attempts;	/* runs begun, this one too */
	int			 priority;	/* higher runs first */
	double			 not_before;	/* may not start before */
	unsigned		 retries;	/* runs after failures */
	double			 retry_delay;	/* before the first retry */
	double			 retry_backoff;	/* the delay grows by, each */
	cJSON			*attempt_errors; /* failed attempts, or NULL */
	int64_t			 pid;		/* its command's group, or 0 */
	uint64_t		 pid_start;	/* that process's start time */
	size_t			 bytes;		/* footprint, as last sized */
	size_t			 args_bytes;	/* args' share, fixed */

	struct job_output	*output;	/* NULL: it ran no command */

	/* sched.c */
	struct type_info	*tinfo;		/* NULL: type gone (restored) */
	/*
	 * Store writes in flight: its first row (saves wait for it; an
	 * at_most_once job is not queued until it commits, an early one
	 * is), or its final state (nobody hears of the outcome until that
	 * commits).
	 */
	bool			 unsaved;
	bool			 saving;
	bool			 early;		/* at_least_once: queued at once */
	bool			 no_store;	/* its row could not be written */
	bool			 start_unstored;	/* an at_most_once start
						   waits for the store */

	/* store.c: its update not yet handed to the store thread. */
	struct store_op		*store_op;	/* valid in store_epoch only */
	uint64_t		 store_epoch;
	LIST_HEAD(, job_watch)	 saves;		/* wait for the first row */
	bool			 type_waiting;	/* in tinfo->waiting */
	int			 cancel_reason;	/* 0, ECANCELED, EJOBTIMEDOUT */
	char			*cancel_msg;
	bool			 toplevel;	/* counts in max_running */
	int			 run_rc;
	TAILQ_ENTRY(job)	 qentry;	/* queued or ready */
	bool			 in_ready;
	bool			 delayed;	/* in sched's delayed list */
	struct coro		*coro;
	ev_timer		 deadline;	/* the job's timeout */
	ev_timer		 sleep_timer;	/* ad_sleep */
	bool			(*await_cancel)(struct job *);
	void			*await_arg;
	int			 wake_rc;

	/* job.c */
	LIST_HEAD(, job_watch)	 watches;

	bool			 notify_pending; /* in sched's notify */
	TAILQ_ENTRY(job)	 notify_entry;

	/* jobtab.c */
	struct job		*id_next;
	struct job		*key_next;
	TAILQ_ENTRY(job)	 all_entry;
	TAILQ_ENTRY(job)	 fin_entry;	/* unread or read */
};

struct job *job_create(uint64_t id, const char *type, cJSON *args);
void	job_free(struct job *);
/* Sets the error (copies); code NULL means "failed". */
void	job_set_error(struct job *, const char *code, const char *message);
/* Attaches w so that fn runs once when job finishes. job is not final. */
void	job_watch(struct job *, struct job_watch *, job_watch_fn);
/* Detaches w if attached; fn will not run. */
void	job_unwatch(struct job_watch *);
/* Runs and detaches every watch: the job has just finished. */
void	job_notify(struct job *);
/*
 * True once the job is final and that is stored: what waiters, awaits and
 * replies that carry an outcome go by.
 */
bool	job_finished(const struct job *);
void	job_pin(struct job *);
void	job_unpin(struct job *);
/* Fills a borrowed wire view of the job. */
void	job_view(const struct job *, struct proto_job *);
/* The outcome of a finished job, for ad_await. */
void	job_outcome(const struct job *, struct ad_outcome *);
/* Roughly the memory a job holds, for the retention budget. */
size_t	job_footprint(const struct job *);
/* Roughly the memory a JSON tree holds. */
size_t	job_json_bytes(const cJSON *);

/*
 * jobtab.c: every job the daemon knows, by id and by key, in id order,
 * and the finished ones (for retention) in two lists: those whose outcome
 * nobody has read yet, in the order they finished, and those read, in the
 * order they were read.
 */
TAILQ_HEAD(job_list, job);

struct jobtab {
	struct job		**ids;		/* chained hash buckets */
	size_t			  idmask;
	struct job		**keys;
	size_t			  keymask;
	size_t			  njobs;
	size_t			  nkeys;
	size_t			  nfinished;
	size_t			  finished_bytes; /* their footprints */
	size_t			  live_bytes;	/* of the others */
	TAILQ_HEAD(jobtab_all, job) all;
	struct job_list		  unread;	/* finished, not read */
	struct job_list		  read;		/* finished and read */
	size_t			  nread;
	uint64_t		  counts[PROTO_STATE_COUNT];
};

void	jobtab_init(struct jobtab *);
/* Frees every job still in the table. */
void	jobtab_fini(struct jobtab *);
/* Adds a job (ids must increase) and binds its key if it has one. */
void	jobtab_add(struct jobtab *, struct job *);
void	jobtab_remove(struct jobtab *, struct job *);
struct job *jobtab_find(struct jobtab *, uint64_t);
struct job *jobtab_find_key(struct jobtab *, const char *);
void	jobtab_unbind_key(struct jobtab *, struct job *);
/* Binds a job's key (restored jobs; nobody else may hold it). */
void	jobtab_bind_key(struct jobtab *, struct job *);
/* Moves a job to a new state, keeping the counts and finished lists. */
void	jobtab_set_state(struct jobtab *, struct job *, enum proto_state);
/* A finished job ends otherwise after all (sched.c's sched_lost). */
void	jobtab_refinish(struct jobtab *, struct job *, enum proto_state);
/* Notes that a finished job's outcome was read (a reply, an await). */
void	jobtab_delivered(struct jobtab *, struct job *);

/* pool_thread.c: the thread pool, loop.run_in_executor. */
struct pool_work;
typedef void (*pool_work_fn)(void *);
typedef void (*pool_done_fn)(struct pool_work *, int);

/* A work item, embedded in its owner. Fields are private. */
struct pool_work {
	TAILQ_ENTRY(pool_work)	 entry;
	pool_work_fn		 fn;
	void			*arg;
	pool_done_fn		 done;
	struct inbox_item	 item;
	int			 status;
	struct pool_thread	*pool;
};

struct pool_thread;
/* Starts n threads (n >= 1). Returns 0 or an errno value. */
int	pool_thread_start(struct pool_thread **, size_t, struct inbox *);
/*
 * Stops the pool: items not started complete with ASYNCD_ECANCELED, the
 * threads finish their current item and are joined. Loop thread.
 */
void	pool_thread_stop(struct pool_thread *);
/*
 * The same, but gives up after timeout seconds if a thread is still in
 * its work: then returns false and frees nothing (the threads may still
 * touch the pool), and the caller must not free what fn uses.
 */
bool	pool_thread_stop_within(struct pool_thread *, double);
/*
 * Queues w to run fn(arg) on a pool thread; done(w, status) then runs on
 * the loop thread exactly once: status 0 after fn returned, or
 * ASYNCD_ECANCELED if fn never ran.
 */
void	pool_thread_submit(struct pool_thread *, struct pool_work *,
	    pool_work_fn, void *, pool_done_fn);
/*
 * Takes w off the queue if it has not started (its done runs, with
 * ASYNCD_ECANCELED, before this returns true). Returns false if it is
 * running or finished: done will run as usual.
 */
bool	pool_thread_cancel(struct pool_thread *, struct pool_work *);
size_t	pool_thread_size(const struct pool_thread *);

/*
 * proc.c: child processes, spawned on spawn threads (posix_spawn, never
 * fork), each in its own process group with exactly descriptors 0-2, and
 * reaped by the loop.
 */
/* The PATH a command gets unless its environment says otherwise. */
#define PROC_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

struct proc {
	/* The caller's, set before proc_spawn; borrowed until on_spawned. */
	char *const	*argv;		/* argv[0] without '/': child's PATH */
	char *const	*envp;		/* the child's whole environment */
	const char	*cwd;		/* NULL: the daemon's */
	bool		 has_stdin;	/* a pipe; else /dev/null */
	/*
	 * A worker: 0 and 1 are one end of a socketpair (fd_out is the
	 * other, ours: non-blocking), 2 is the daemon's own stderr.
	 */
	bool		 socket;
	/*
	 * Fill start_ticks: only a caller that stores the pid needs it (it
	 * names the process after a restart), and reading /proc costs the
	 * spawn three system calls.
	 */
	bool		 want_start;
	/*
	 * Keep the child's write ends of its output pipes (fd_out_w,
	 * fd_err_w) open in the daemon until the caller has reaped it: the
	 * child's exit then wakes the loop once (SIGCHLD), not also once per
	 * pipe it closes on its way out. The caller closes them (proc_unhold)
	 * in on_exited, after which the read ends reach their end as soon as
	 * nothing else (a grandchild) holds them.
	 */
	bool		 hold_pipes;
	/*
	 * Loop thread, in this order: on_spawned once (err is 0, or an errno
	 * value: ENOENT, EACCES, a bad cwd...), then, if it spawned,
	 * on_exited once with the wait status. The proc must stay until
	 * on_exited (or on_spawned with an error) has run.
	 */
	void		(*on_spawned)(struct proc *);
	void		(*on_exited)(struct proc *, int);

	/* Set by the spawn; the descriptors are the caller's to close. */
	int		 err;
	pid_t		 pid;		/* also the process group */
	uint64_t	 start_ticks;	/* /proc/PID/stat starttime; 0: ? */
	double		 started;	/* monotonic */
	int		 fd_in;		/* write end, or -1 */
	int		 fd_out;	/* read ends, non-blocking */
	int		 fd_err;
	int		 fd_out_w;	/* hold_pipes: the child's ends, or -1 */
	int		 fd_err_w;
	int		 status;

	/* Private. */
	struct procs	*procs;
	struct pool_work work;
	LIST_ENTRY(proc) entry;
	bool		 spawn_done;
	bool		 reaped;
};

/* Starts the spawn threads and the loop's reaper. Returns 0 or errno. */
int	proc_start(struct procs **, struct ev_loop *, struct inbox *);
/* After every proc has exited; stops the spawn threads. */
void	proc_stop(struct procs *);
void	proc_spawn(struct procs *, struct proc *);
/* Signals the child's whole process group. Returns 0 or an errno value. */
int	proc_signal(struct proc *, int);
/* Loop: closes what hold_pipes kept (idempotent). */
void	proc_unhold(struct proc *);
/* True while any process of the child's group is alive. */
bool	proc_group_alive(const struct proc *);
/* Children spawned and not yet reaped. */
size_t	proc_live(struct procs *);
/* A process's start time in clock ticks since boot. 0 or an errno. */
int	proc_start_time(pid_t, uint64_t *);
/*
 * Startup: kills what is left of a process group that an earlier daemon
 * started (its leader pgid, started at start ticks) and did not live to
 * reap. Returns 1 if it signalled a group, 0 if none was left (or the pid
 * is another process's now), or an errno value.
 */
int	proc_kill_orphan(pid_t, uint64_t);
/* Splits a wait status: exit_code (-1 if killed) and sig (0 if exited). */
void	proc_describe(int, int *, int *);

/*
 * outlog.c: commands' output on disk (logs/<id>.out and .err in the state
 * directory), written, read and removed by a thread of its own in the
 * order asked. Every function here is for the loop thread.
 */
#define OUTLOG_STDOUT	0
#define OUTLOG_STDERR	1

struct outlog;
/* Bytes of a job's streams now on disk, and whether its log was cut. */
typedef void (*outlog_commit_fn)(void *, uint64_t, const uint64_t[2],
    const bool[2]);
/* The backlog is low again: readers that paused may go on. */
typedef void (*outlog_drain_fn)(void *);

/* A read, embedded in its owner; done runs on the loop, once. */
struct outlog_read {
	uint64_t		 id;		/* in */
	int			 stream;
	uint64_t		 offset;
	size_t			 max;
	char			*data;		/* out: allocated; len bytes */
	size_t			 len;
	int			 err;		/* errno; ENOENT: no file */
	void			(*done)(struct outlog_read *);
	struct inbox_item	 item;
};

/*
 * Creates dir, removes what earlier daemons left there and starts the
 * thread (startup). Returns 0 or an errno value with *cause set.
 */
int	outlog_start(struct outlog **, const char *dir, size_t max_bytes,
	    struct inbox *, outlog_commit_fn, outlog_drain_fn, void *,
	    char **cause);
/* Writes what is queued and stops the thread; then drain the inbox. */
void	outlog_stop(struct outlog *);
/*
 * Queues len bytes (copied) for a job's stream. Returns false when the
 * backlog is full: the caller stops reading until the drain callback.
 */
bool	outlog_append(struct outlog *, uint64_t, int, const void *, size_t);
/* The job writes no more: its files may be removed for room. */
void	outlog_close(struct outlog *, uint64_t);
void	outlog_remove(struct outlog *, uint64_t);
void	outlog_read(struct outlog *, struct outlog_read *);
bool	outlog_paused(struct outlog *);

/*
 * exec.c: running commands: the "exec" job type, and exec_run for any
 * coroutine. The context is the daemon's, set up at startup.
 */
struct exec_stream;
typedef void (*exec_output_fn)(void *, const struct job *, int, uint64_t,
    const char *, size_t);

struct exec_ctx {
	struct ev_loop		*loop;
	struct procs		*procs;
	struct outlog		*outlog;
	const char		*socket_url;	/* for ASYNCD_SOCKET */
	const char		*home;		/* the daemon's, for commands */
	const char		*lang;
	const char		*lc_all;
	LIST_HEAD(, exec_stream) paused;	/* readers waiting for disk */
	exec_output_fn		 on_output;	/* events; may be NULL */
	void			*on_arg;
};

/* A command to run. exec_spec_free frees every member. */
struct exec_spec {
	char		**argv;		/* NULL-terminated */
	char		**env;		/* "K=V", applied last; may be NULL */
	char		 *cwd;		/* NULL: the daemon's */
	bool		  has_stdin;	/* else /dev/null */
	char		 *stdin_data;
	size_t		  stdin_len;
	size_t		  output_cap;	/* per stream, in the result */
	double		  kill_grace;	/* SIGTERM to SIGKILL */
	bool		  check;	/* non-zero exit fails the job */
};

struct exec_outcome {
	cJSON		*result;	/* the caller's; NULL if not spawned */
	int		 exit_code;	/* -1 if killed by a signal */
	int		 signal;
	int		 spawn_err;	/* errno: it could not be started */
};

void	exec_register(struct registry *, struct acl *);
/*
 * From a job's coroutine: runs the command and waits for it (and for its
 * output). Returns 0, or the job's cancellation error once the command has
 * stopped; *oc says how it went either way.
 */
int	exec_run(struct job *, const struct exec_spec *,
	    struct exec_outcome *);
/* As exec_run, for a whole job: result, and failure by exit status. */
int	exec_job(struct ad_job *, struct exec_spec *);
/* Checks env, cwd, stdin, check, output_cap, kill_grace of args. */
int	exec_check_common(const cJSON *, char **);
int	exec_check_env(const cJSON *, char **);
/* Fills those (already checked) into a spec, with their defaults. */
void	exec_spec_common(struct exec_spec *, const cJSON *);
void	exec_spec_free(struct exec_spec *);
/* The log thread's reports, and the end of its backlog. */
void	exec_output_commit(struct sched *, uint64_t, const uint64_t[2],
	    const bool[2]);
void	exec_drained(struct exec_ctx *);
/* Wakes those waiting for a job's output (more, or the job's end). */
void	exec_output_wake(struct job *);

/*
 * sched.c: the scheduler: admits jobs, runs their coroutines on the loop,
 * and finishes them.
 */
struct sched_config {
	size_t		 max_running;	/* top-level jobs running at once */
	size_t		 max_coroutines; /* all live coroutines, children too;
					   a quarter is kept for children */
	size_t		 max_queued;	/* jobs waiting to run */
	size_t		 stack_size;
	double		 retention;	/* seconds finished jobs are kept */
	size_t		 keep;		/* most finished jobs kept */
	size_t		 keep_bytes;	/* most memory they may hold */
	size_t		 live_bytes;	/* most that queued and running
					   jobs' arguments may hold */
	double		 wait_cap;	/* longest a request is held */
	size_t		 threads;	/* thread pool size; 0: none */
	uint64_t	 self_uid;	/* the daemon's own user */
};

TAILQ_HEAD(job_queue, job);

typedef void (*sched_state_fn)(void *, const struct job *);
typedef void (*sched_progress_fn)(void *, const struct job *);

struct sched {
	struct ev_loop		*loop;
	struct sched_config	 cfg;
	struct registry		*reg;
	struct coro_pool	*pool;
	struct pool_thread	*threads;
	struct pool_proc	*procpool;	/* NULL: none */
	struct inbox		*inbox;
	struct jobtab		 tab;
	struct job_queue	 queued;	/* top-level jobs, FIFO */
	struct job_queue	 child_queued;	/* children go first */
	struct job_queue	 ready;		/* coroutines to resume */
	struct job_queue	 delayed;	/* queued, not yet due, by time */
	ev_timer		 delay_timer;	/* the first of them is due */
	struct job_list		 notify;	/* finished on a coroutine */
	struct ids		*ids;		/* NULL: count from 1 */
	struct store		*store;		/* NULL: memory only */
	uint64_t		 stored_next;	/* ids below: in the store once */
	uint64_t		 run_first;	/* the first id of this start */
	double			 next_expire;	/* store_expire due */
	size_t			 uncache_mark;	/* finished jobs before the
						   next sched_uncache */
	struct exec_ctx		*exec;		/* NULL: no commands */
	size_t			 max_toplevel;	/* running, see sched_init */
	size_t			 nqueued;
	size_t			 nchildren_queued;
	size_t			 nrunning;	/* top-level running */
	size_t			 ncoros;	/* all running */
	uint64_t		 next_id;
	uint64_t		 submitted;
	uint64_t		 nfinished;
	double			 started;
	bool			 draining;	/* no new jobs */
	/* Queued jobs the drain cancelled: one log line, not one each. */
	size_t			 drain_unstarted;
	bool			 no_holds;	/* answer long polls at once */
	bool			 in_run;
	ev_prepare		 prepare;
	ev_timer		 retention_timer;
	LIST_HEAD(, waiter)	 waiters;
	sched_state_fn		 on_state;	/* events; may be NULL */
	sched_progress_fn	 on_progress;
	void			*on_arg;
};

struct sched_submit {
	const char	*type;
	cJSON		*args;		/* taken on success; NULL: null */
	const char	*key;
	double		 timeout;
	int		 priority;
	double		 not_before;	/* Unix time; 0: now */
	unsigned	 retries;
	double		 retry_delay;	/* 0: 1 second */
	double		 retry_backoff;	/* 0: 2 */
	struct job	*parent;
	uint64_t	 uid;
	uint64_t	 gid;
};

/* Returns 0 or an errno value (startup only). */
int	sched_init(struct sched *, struct ev_loop *, struct registry *,
	    const struct sched_config *, struct inbox *);
/*
 * Stops the thread pool, waiting up to timeout seconds for work that is
 * running. Returns false if some did not return: its thread is still in
 * user code, so nothing may be freed (the caller should exit at once).
 */
bool	sched_threads_stop(struct sched *, double);
/* Frees everything; the loop must not run jobs any more. */
void	sched_fini(struct sched *);
void	sched_config_default(struct sched_config *);
/*
 * Creates a job, or finds the job bound to sub->key (then *created is
 * false and sub->args is not taken). Returns 0, ASYNCD_EUNKNOWNTYPE,
 * EBADARGS (*cause set), EBUSY or ESHUTDOWN.
 */
int	sched_submit(struct sched *, struct sched_submit *, struct job **,
	    bool *, char **);
/*
 * Cancels a job with reason ASYNCD_ECANCELED or EJOBTIMEDOUT. A queued one
 * finishes at once; a running one is woken with the error. Returns 0 or
 * ASYNCD_EDONE.
 */
int	sched_cancel(struct sched *, struct job *, int, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
/* Runs every ready coroutine; called by the loop before it sleeps. */
void	sched_run(struct sched *);
/* Shutdown: refuse new jobs and cancel every job. */
void	sched_drain(struct sched *);
/* True when no job is queued or running. */
bool	sched_idle(const struct sched *);
void	sched_stats(const struct sched *, struct proto_stats *);
/* Forgets finished jobs past the retention limits. */
void	sched_evict(struct sched *);
/*
 * Forgets a finished job now, in memory and in the store. Returns 0,
 * ASYNCD_EBUSY (not finished, or someone is about to reply with it).
 */
int	sched_forget_job(struct sched *, struct job *);
/* Wakes a suspended coroutine: its await returns rc. */
void	sched_wake(struct job *, int);
/*
 * Suspends the calling job's coroutine until sched_wake, and returns the
 * wake code. If the job is cancelled meanwhile, cancel(job) runs first: it
 * stops what the await was waiting for and returns true to have the job
 * woken with the cancellation error now, or returns false if the await
 * cannot be abandoned and will wake the job itself when it completes.
 * arg is kept in job->await_arg for the hook.
 */
int	sched_suspend(struct job *, bool (*)(struct job *), void *);
/* Publishes a progress event. */
void	sched_progress(struct job *);
/* A finished job's outcome was read: retention may prefer it. */
void	sched_delivered(struct job *);
/* The first id not handed out yet. */
uint64_t sched_next_id(const struct sched *);
/*
 * True if id was handed out, by this start or (with a store) an earlier
 * one: a job gone since then has expired, any other id is unknown.
 */
bool	sched_issued(const struct sched *, uint64_t);
/* A type's delivery policy: "at_most_once" or "at_least_once". */
const char *sched_delivery(const struct type_info *);
/* Startup, store_load's function: brings back a stored job. */
void	sched_restore(struct sched *, const struct store_row *);
/* A finished job read back from the store into the cache (if absent). */
void	sched_cache(struct sched *, const struct store_row *);
/*
 * A new job's row is not stored yet (job->unsaved): fn(w, job) runs once
 * it is, or could not be (job->no_store); the job may not be told to
 * anyone before.
 */
void	sched_when_saved(struct job *, struct job_watch *, job_watch_fn);
/* Stores a running job's changed fields (its command's pid). */
void	sched_store_update(struct job *);

/*
 * waiter.c: long polls. A waiter holds a request until jobs finish or a
 * deadline (capped at wait_cap) passes, then calls its done function once.
 */
typedef void (*waiter_fn)(struct waiter *, bool, void *);

struct waiter {
	LIST_ENTRY(waiter)	 entry;
	struct sched		*sched;
	struct job		**jobs;		/* pinned */
	struct waiter_watch	*watches;
	size_t			 n;
	size_t			 pending;	/* not finished yet */
	bool			 any;
	bool			 fired;
	ev_timer		 timer;
	waiter_fn		 fn;
	void			*arg;
};

/* True if the jobs meet the condition (all finished, or any). */
bool	waiter_met(struct job *const *, size_t, bool);
/*
 * Waits for jobs[0..n) up to timeout seconds (capped). fn(w, met, arg)
 * runs exactly once, on the loop, with the jobs still pinned; the waiter
 * is freed when it returns. jobs must all be known.
 */
void	waiter_start(struct sched *, struct job *const *, size_t, bool,
	    double, waiter_fn, void *);
/* Shutdown: fires every waiter now. */
void	waiter_flush(struct sched *);

/*
 * probe.c: checks every "every" seconds that a new client can connect to
 * an ipc listener, and listens again if not (nng before 1.6.0, bug #1518).
 * peer_proto is the SP protocol number the target expects of a peer (the
 * probe pretends to be one). It takes the target's pipe notifications; an
 * owner that wants "added, after" and "removed, after" too passes its
 * callback as chain. For other transports, or every <= 0, there is no
 * probe (*out is NULL) and chain is registered directly.
 */
struct probe;
/* True if the linked nng has the bug (then probing is the default). */
bool	probe_needed(void);
int	probe_start(struct probe **, struct ev_loop *, nng_socket,
	    nng_listener *, const char *, int, const char *, uint16_t,
	    double, nng_pipe_cb, void *);
/* Stops probing; probe_free once the target socket is closed. */
void	probe_stop(struct probe *);
void	probe_free(struct probe *);
uint64_t probe_restarts(const struct probe *);

/*
 * events.c: the PUB socket. Whoever can connect to it sees every job's
 * events (keys, messages): its permissions are the boundary (--events-mode,
 * 0600 by default: the daemon's user and root).
 */
struct events;
/*
 * url NULL: no events. mode: ipc permissions; check: probe interval.
 * Returns 0 or an nng error (startup).
 */
int	events_start(struct events **, struct ev_loop *, const char *, int,
	    double);
void	events_stop(struct events *);
const char *events_url(const struct events *);
void	events_state(void *, const struct job *);
void	events_progress(void *, const struct job *);
void	events_output(void *, const struct job *, int, uint64_t, const char *,
	    size_t);

/*
 * conn.c: the request socket's ipc:// transport on the loop thread: a unix
 * listener of our own speaking nng's SP REP bytes. Everything here is for
 * the loop thread only.
 */
struct conn;
struct conn_listener;

#define CONN_UNKNOWN	UINT64_MAX	/* credentials the kernel did not give */

struct conn_peer {
	uint64_t	 uid;
	uint64_t	 gid;
	int64_t		 pid;		/* -1: unknown */
};

struct conn_config {
	const char	*path;
	int		 mode;		/* the socket file's permissions */
	double		 check;		/* seconds between file checks; 0: off */
	size_t		 maxrecv;	/* longer messages close the connection */
	size_t		 max_inflight;	/* requests waiting for replies */
};

/*
 * A request arrived on c: hdr (the REP backtrace, hdrlen bytes, to echo
 * in the reply) and the body, both c's until the call returns. The callee
 * answers exactly once, now or later, with conn_reply or conn_forget; c
 * stays valid until then, even if the peer has gone.
 */
typedef void (*conn_request_fn)(void *, struct conn *, const unsigned char *,
	    size_t, const char *, size_t);

/* Returns 0, or an nng error (NNG_EADDRINUSE: a daemon answers there). */
int	conn_listen(struct conn_listener **, struct ev_loop *,
	    const struct conn_config *, conn_request_fn, void *);
/*
 * Closes the listener and every connection, sending what replies the
 * sockets take at once. Every request must have been answered first.
 */
void	conn_unlisten(struct conn_listener *);
/*
 * Shutdown: accepts and reads nothing more; replies still go out, so that
 * the last ones can be written before the listener closes.
 */
void	conn_quiesce(struct conn_listener *);
/* Sends the reply (copied) unless the peer has gone. */
void	conn_reply(struct conn *, const unsigned char *, size_t, const char *,
	    size_t);
/* The request will have no reply (shutdown). */
void	conn_forget(struct conn *);
const struct conn_peer *conn_peer(const struct conn *);
/* Connections with replies not yet written (a slow reader's). */
size_t	conn_unsent(const struct conn_listener *);

/*
 * server.c: the request socket. On ipc:// the loop reads, decodes and
 * dispatches requests (conn.c); on other transports nng's threads receive
 * and decode them on REP contexts and push them to the inbox. Either way
 * the loop thread dispatches them (cmd.c) and replies with server_reply*.
 */
struct daemon;
struct work;

struct server_config {
	const char	*url;
	int		 mode;		/* ipc socket permissions */
	double		 check;		/* listener probe interval; 0: off */
	size_t		 max_msg;
	size_t		 min_idle;	/* contexts kept receiving */
	size_t		 max_contexts;
	const char	*instance;	/* in every reply; borrowed */
};

struct server;
int	server_start(struct server **, struct ev_loop *,
	    const struct server_config *, struct inbox *, struct daemon *);
/*
 * Shutdown, once held requests are answered: reads no more requests (on
 * ipc://), while the replies made go out. Loop thread.
 */
void	server_quiesce(struct server *);
/* Closes the socket and frees every context. Loop thread, at shutdown. */
void	server_stop(struct server *);
/* Loop thread: reply to w (encodes rep). w goes back to receiving. */
void	server_reply(struct work *, const struct proto_reply *);
void	server_reply_error(struct work *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* The request, peer and daemon of a work item. */
struct proto_req *server_req(struct work *);
uint64_t server_peer_uid(const struct work *);
uint64_t server_peer_gid(const struct work *);
/* The peer's process id (ipc only, as it connected), or -1. */
int64_t	server_peer_pid(const struct work *);
struct daemon *server_daemon(const struct work *);
void	server_stats(struct server *, size_t *, size_t *);

/* cmd.c: the command table and the dispatch path. */
enum cmd_retval {
	CMD_DONE,		/* replied */
	CMD_PENDING,		/* will reply later */
	CMD_ERROR		/* reply with the error set by cmd_error */
};

#define CMD_ADMIN	0x1	/* root or the daemon's user only */

struct cmd_error {
	int		 code;
	char		*message;
};

struct cmd_entry {
	enum proto_op	 op;
	int		 flags;
	enum cmd_retval	(*exec)(struct work *, struct cmd_error *);
};

void	cmd_dispatch(struct work *);
enum cmd_retval cmd_error(struct cmd_error *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* True if the peer may see and cancel job (owner, root, daemon user). */
bool	cmd_may_access(struct work *, const struct job *);
bool	cmd_is_admin(struct work *);
struct job *cmd_find_job(struct work *, uint64_t, struct cmd_error *);
/* The reply of submit, status and cancel: one job. */
void	cmd_reply_job(struct work *, enum proto_op, struct job *, bool);

extern const struct cmd_entry cmd_ping_entry;
extern const struct cmd_entry cmd_submit_entry;
extern const struct cmd_entry cmd_wait_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_list_entry;
extern const struct cmd_entry cmd_cancel_entry;
extern const struct cmd_entry cmd_types_entry;
extern const struct cmd_entry cmd_stats_entry;
extern const struct cmd_entry cmd_shutdown_entry;
extern const struct cmd_entry cmd_output_entry;
extern const struct cmd_entry cmd_forget_entry;
/* Shutdown: answers every held "output" request now. */
void	cmd_output_flush(void);

/* main.c: the daemon as a whole, as commands see it. */
struct daemon {
	struct ev_loop		*loop;
	struct sched		 sched;
	struct registry		*reg;
	struct inbox		 inbox;
	struct server		*server;
	struct events		*events;
	struct procs		*procs;
	struct outlog		*outlog;
	struct exec_ctx		 exec;
	struct acl		*exec_allow;
	struct jobsd		*jobsd;
	struct plugins		*plugins;
	char			*plugin_dir;
	struct pool_proc	*procpool;
	uid_t			 uid;		/* the daemon's own user */
	bool			 stopping;
	bool			 flushing;	/* jobs done; replies leaving */
	ev_signal		 sigint;
	ev_signal		 sigterm;
	ev_signal		 sighup;
	ev_timer		 drain_timer;
	ev_timer		 watchdog;
	ev_prepare		 log_prepare;	/* arms log_timer */
	ev_timer		 log_timer;	/* flushes the log */
	char			 instance[17];	/* this start's id, or the
						   store's */
	enum store_durability	 durability;
	struct store		*store;		/* NULL: durability none */
	double			 drain_timeout;
	double			 drain_deadline;
};

/* Starts an orderly shutdown, as SIGTERM does. */
void	daemon_shutdown(struct daemon *);
const char *main_durability_name(enum store_durability);

#endif /* DAEMON_H */
