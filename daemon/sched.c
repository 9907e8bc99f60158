/*
 * sched.c: the scheduler. It admits jobs, runs each as a coroutine on the
 * loop thread, and finishes them.
 *
 * Design notes.
 *
 * A job is queued until a slot is free: max_coroutines bounds all live
 * coroutines (each holds a stack with a guard page, and guard pages are
 * capped by vm.max_map_count), and top-level jobs (the ones clients
 * submit) may hold at most max_toplevel of them: max_running, and never
 * more than three quarters of max_coroutines. The rest is headroom for
 * children. A parent holds its slot while it waits for its children, so if
 * parents could take every slot their children would wait for ever; with
 * the headroom, children (queued in their own queue, admitted ahead of
 * top-level jobs) always find room as other children finish, and a gather
 * never fails for want of a slot that top-level jobs took. (Parents that
 * are themselves children, a gather of gathers, can still fill the
 * headroom; their jobs' timeouts end that.)
 *
 * Coroutines are resumed from one place only: sched_run, called from an
 * ev_prepare watcher, that is on the loop's own stack just before it
 * sleeps. Everything else (timers, completions, another coroutine waking
 * a job it awaited) calls sched_wake, which only queues the job as ready.
 * That keeps switches strictly main -> coroutine -> main, and lets a
 * coroutine wake others without nesting.
 *
 * A job ends in sched_finish, whatever the path: its coroutine returned,
 * or it was cancelled while queued. sched_finish records the final state,
 * cancels the job's unfinished children (structured concurrency), releases
 * its key if it did not succeed, publishes the event and runs its watches
 * (replies to waiting clients, wakes awaiting coroutines). When that
 * happens on a coroutine (a coroutine cancelling a queued job), the event
 * and the watches wait in the notify list for sched_run, on the loop's own
 * stack: a reply may be large to encode, and a coroutine's stack is small.
 *
 * Finished jobs are forgotten by sched_evict, which never runs while a
 * coroutine does, so pointers a coroutine got from ad_await stay valid
 * until it suspends. Retention keeps every finished job for --retention
 * seconds. Past --keep jobs or --keep-mib of memory, the oldest finished
 * jobs whose outcome has been read (by a reply or an await) go first; a
 * result nobody has read yet goes early only when memory forces it, and
 * that is logged.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

#define SCHED_STR_(x)	#x
#define SCHED_STR(x)	SCHED_STR_(x)

/* How often rows past retention are deleted from the store, in seconds. */
#define SCHED_EXPIRE_EVERY	60.

/* Freed stacks kept for reuse: enough to absorb a burst without munmap. */
#define SCHED_STACKS_CACHED	64

/*
 * How many times restarts may interrupt an at_least_once job that has no
 * retries before it ends interrupted. One interruption is the common case
 * (a deploy, the daemon killed for a reason of its own), two in a row
 * happen (a restart during an upgrade); a third in a row on the same job
 * points at the job killing the daemon, and the daemon must get out of
 * that loop before systemd gives up restarting it (StartLimitBurst, 5
 * starts in 10 s by default). With retries, they bound it instead.
 */
#define SCHED_MAX_INTERRUPTIONS	3

/*
 * How long an at_most_once job whose running state could not be stored
 * waits, queued, before it tries again (the store is failing: a full
 * disk).
 */
#define SCHED_START_RETRY	1.

/* What a job type's check function gets: ad_check_job needs the types. */
struct ad_check {
	struct sched		*sched;
	const struct ad_type	*type;		/* the one checking */
	uint64_t		 uid;		/* who submits */
	uint64_t		 gid;
	int			 depth;
};

/* Refuses a type the submitter may not run; *cause says so. */
static int
sched_may_run(struct sched *s, const struct ad_type *type, uint64_t uid,
    uint64_t gid, char **cause)
{
	struct type_info	*ti = registry_info(s->reg, type->name);

	if (!ti->restricted || acl_allows(ti->acl, uid, gid,
	    s->cfg.self_uid))
		return (0);
	xasprintf(cause, "uid %" PRIu64 " may not run '%s' jobs (allowed: "
	    "root, the daemon's user, %s)", uid, type->name,
	    acl_text(ti->acl));
	return (ASYNCD_EPERM);
}

const struct ad_type *
ad_check_type(struct ad_check *chk)
{
	return (chk->type);
}

static void	sched_prepare_cb(struct ev_loop *, ev_prepare *, int);
static void	sched_retention_cb(struct ev_loop *, ev_timer *, int);
static void	sched_delay_cb(struct ev_loop *, ev_timer *, int);
static void	sched_deadline_cb(struct ev_loop *, ev_timer *, int);
static void	sched_finish(struct sched *, struct job *, enum proto_state);
static void	sched_notify(struct sched *, struct job *);
static void	sched_log_unstarted(struct sched *);
static void	sched_saved(void *, int);
static void	sched_final(void *, int);
static void	sched_retry(struct sched *, struct job *);
static void	sched_released(struct sched *, struct type_info *);

void
sched_config_default(struct sched_config *cfg)
{
	long	ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof *cfg);
	cfg->max_running = 1024;
	/* Half of the 65530 default vm.max_map_count: one guard page each. */
	cfg->max_coroutines = 16384;
	cfg->max_queued = 100000;
	/* Virtual size; only the pages a job touches become resident. */
	cfg->stack_size = 256 * 1024;
	/* With a store, history; memory keeps at most keep of them. */
	cfg->retention = 7 * 86400;
	cfg->keep = 10000;
	cfg->keep_bytes = (size_t)256 << 20;
	cfg->live_bytes = (size_t)512 << 20;
	cfg->wait_cap = 5;
	cfg->threads = ncpu > 0 ? (size_t)ncpu : 1;
	cfg->self_uid = (uint64_t)geteuid();
}

int
sched_init(struct sched *s, struct ev_loop *loop, struct registry *reg,
    const struct sched_config *cfg, struct inbox *inbox)
{
	int	rv;

	memset(s, 0, sizeof *s);
	s->loop = loop;
	s->cfg = *cfg;
	s->reg = reg;
	/*
	 * A quarter of the coroutines (at least one) is headroom for
	 * children; with a single coroutine there is none, and a child is
	 * refused when no slot is free (sched_submit).
	 */
	s->max_toplevel = s->cfg.max_coroutines;
	if (s->max_toplevel > 1)
		s->max_toplevel -= s->cfg.max_coroutines / 4 > 0 ?
		    s->cfg.max_coroutines / 4 : 1;
	if (s->max_toplevel > s->cfg.max_running)
		s->max_toplevel = s->cfg.max_running;
	if ((rv = coro_pool_create(&s->pool, cfg->stack_size,
	    SCHED_STACKS_CACHED)) != 0)
		return (rv);
	s->inbox = inbox;
	if (cfg->threads > 0 &&
	    (rv = pool_thread_start(&s->threads, cfg->threads, inbox)) != 0) {
		coro_pool_free(s->pool);
		return (rv);
	}
	jobtab_init(&s->tab);
	TAILQ_INIT(&s->queued);
	TAILQ_INIT(&s->child_queued);
	TAILQ_INIT(&s->ready);
	TAILQ_INIT(&s->delayed);
	TAILQ_INIT(&s->notify);
	/* Retry delays get a tenth either way, so retries do not march. */
	srand48((long)getpid() ^ (long)ev_time());
	LIST_INIT(&s->waiters);
	s->next_id = 1;
	s->run_first = 1;
	s->started = ev_now(loop);

	/* Neither watcher keeps the loop alive on its own. */
	ev_prepare_init(&s->prepare, sched_prepare_cb);
	ev_prepare_start(loop, &s->prepare);
	ev_unref(loop);
	ev_timer_init(&s->retention_timer, sched_retention_cb, 1., 1.);
	ev_timer_start(loop, &s->retention_timer);
	ev_unref(loop);
	ev_timer_init(&s->delay_timer, sched_delay_cb, 0., 0.);
	return (0);
}

bool
sched_threads_stop(struct sched *s, double timeout)
{
	if (s->threads == NULL)
		return (true);
	if (!pool_thread_stop_within(s->threads, timeout))
		return (false);
	s->threads = NULL;
	return (true);
}

void
sched_fini(struct sched *s)
{
	struct job	*job;

	sched_log_unstarted(s);		/* children cancelled after the drain */
	waiter_flush(s);
	ev_ref(s->loop);
	ev_prepare_stop(s->loop, &s->prepare);
	ev_ref(s->loop);
	ev_timer_stop(s->loop, &s->retention_timer);
	ev_timer_stop(s->loop, &s->delay_timer);
	if (s->threads != NULL)
		pool_thread_stop(s->threads);
	s->threads = NULL;

	/*
	 * Only a job whose coroutine ignored cancellation until the drain
	 * deadline still has one: its stack is dropped without unwinding.
	 */
	TAILQ_FOREACH(job, &s->tab.all, all_entry) {
		ev_timer_stop(s->loop, &job->deadline);
		ev_timer_stop(s->loop, &job->sleep_timer);
		if (job->coro != NULL) {
			log_warnx("job %" PRIu64 " (%s) did not stop; dropped",
			    job->id, job->type_name);
			coro_free(job->coro);
			job->coro = NULL;
		}
		LIST_INIT(&job->watches);
	}
	jobtab_fini(&s->tab);
	coro_pool_free(s->pool);
	memset(s, 0, sizeof *s);
}

/* The queue a queued job waits in. */
static struct job_queue *
sched_queue(struct sched *s, struct job *job)
{
	return (job->toplevel ? &s->queued : &s->child_queued);
}

static void
sched_dequeue(struct sched *s, struct job *job)
{
	if (job->delayed) {
		TAILQ_REMOVE(&s->delayed, job, qentry);
		job->delayed = false;
	} else if (job->type_waiting) {
		TAILQ_REMOVE(&job->tinfo->waiting, job, qentry);
		job->type_waiting = false;
	} else
		TAILQ_REMOVE(sched_queue(s, job), job, qentry);
	s->nqueued--;
	if (!job->toplevel)
		s->nchildren_queued--;
}

static void
sched_publish(struct sched *s, const struct job *job)
{
	if (s->on_state != NULL)
		s->on_state(s->on_arg, job);
}

/*
 * Puts a job in its ready queue: after every job of its priority or
 * higher, so that equal priorities keep their order.
 */
static void
sched_queue_insert(struct sched *s, struct job *job)
{
	struct job_queue	*q = sched_queue(s, job);
	struct job		*j;

	TAILQ_FOREACH_REVERSE(j, q, job_queue, qentry) {
		if (j->priority >= job->priority)
			break;
	}
	if (j == NULL)
		TAILQ_INSERT_HEAD(q, job, qentry);
	else
		TAILQ_INSERT_AFTER(q, j, job, qentry);
}

/* Arms the delay timer for the first delayed job. */
static void
sched_delay_arm(struct sched *s)
{
	struct job	*job = TAILQ_FIRST(&s->delayed);
	double		 after;

	ev_timer_stop(s->loop, &s->delay_timer);
	if (job == NULL)
		return;
	/* ev_now is wall-clock time, as not_before is. */
	after = job->not_before - ev_now(s->loop);
	ev_timer_set(&s->delay_timer, after > 0 ? after : 0., 0.);
	ev_timer_start(s->loop, &s->delay_timer);
}

/*
 * Queues a job: at once in its ready queue, or, if it may not start yet,
 * in the delayed list (by time), where it holds no coroutine and no stack.
 */
static void
sched_enqueue(struct sched *s, struct job *job)
{
	struct job	*j;

	s->nqueued++;
	if (!job->toplevel)
		s->nchildren_queued++;
	if (job->not_before <= ev_now(s->loop)) {
		sched_queue_insert(s, job);
		return;
	}
	TAILQ_FOREACH_REVERSE(j, &s->delayed, job_queue, qentry) {
		if (j->not_before <= job->not_before)
			break;
	}
	if (j == NULL)
		TAILQ_INSERT_HEAD(&s->delayed, job, qentry);
	else
		TAILQ_INSERT_AFTER(&s->delayed, j, job, qentry);
	job->delayed = true;
	if (TAILQ_FIRST(&s->delayed) == job)
		sched_delay_arm(s);
}

/* Delayed jobs that are due move to their ready queues. */
static void
sched_delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sched	*s = container_of(w, struct sched, delay_timer);
	struct job	*job;

	(void)revents;
	while ((job = TAILQ_FIRST(&s->delayed)) != NULL &&
	    job->not_before <= ev_now(loop) + 0.001) {
		TAILQ_REMOVE(&s->delayed, job, qentry);
		job->delayed = false;
		sched_queue_insert(s, job);
	}
	sched_delay_arm(s);
}

/* Runs the watches waiting for a job's first row. */
static void
sched_saves_notify(struct job *job)
{
	struct job_watch	*w;

	while ((w = LIST_FIRST(&job->saves)) != NULL) {
		LIST_REMOVE(w, entry);
		w->job = NULL;
		w->fn(w, job);
	}
}

/*
 * An early job that could not be stored keeps no result, whatever it did,
 * and says why (msg, unless its error says so already).
 */
static void
sched_lost_error(struct job *job, const char *msg)
{
	cJSON_Delete(job->result);
	job->result = NULL;
	if (job->err_code == NULL || strcmp(job->err_code,
	    asyncd_errcode(ASYNCD_ESTORAGE)) != 0)
		job_set_error(job, asyncd_errcode(ASYNCD_ESTORAGE), msg);
}

/*
 * Loop: an early job's row could not be stored, so it was not accepted,
 * but it may have started or even ended: whatever it did, it ends failed
 * with storage_error (a running one is cancelled, and sched_finish turns
 * its end into that), and its waiters hear so. Its submit answers the
 * error; a client may submit it again, which its type allows.
 */
static void
sched_lost(struct sched *s, struct job *job, const char *msg)
{
	if (job->state == PROTO_QUEUED) {
		sched_dequeue(s, job);
		sched_lost_error(job, msg);
		sched_finish(s, job, PROTO_FAILED);
	} else if (!proto_state_terminal(job->state)) {
		(void)sched_cancel(s, job, ASYNCD_ESTORAGE, "%s", msg);
	} else {
		/* Its outcome's waiters hear after this (sched_final). */
		jobtab_unbind_key(&s->tab, job);
		sched_lost_error(job, msg);
		jobtab_refinish(&s->tab, job, PROTO_FAILED);
	}
}

/*
 * Loop: a new job's row is stored (err 0), and the job may be queued and
 * its submit answered; or it could not be, and the job fails in memory
 * with storage_error, which its submit answers. An early job was queued
 * at its submit already.
 */
static void
sched_saved(void *arg, int err)
{
	struct job	*job = arg;
	struct sched	*s = job->sched;

	job->unsaved = false;
	if (err != 0) {
		char	*msg;

		job->no_store = true;
		xasprintf(&msg, "the job could not be stored (%s), so it was "
		    "not accepted", store_error_text(s->store));
		if (job->early)
			sched_lost(s, job, msg);
		else {
			job_set_error(job, asyncd_errcode(ASYNCD_ESTORAGE),
			    msg);
			sched_finish(s, job, PROTO_FAILED);
		}
		free(msg);
		sched_saves_notify(job);
		return;
	}
	if (job->early) {
		sched_saves_notify(job);
		return;
	}
	sched_enqueue(s, job);
	sched_publish(s, job);
	if (job->cancel_reason != 0) {
		/* Cancelled before it was stored (its parent ended). */
		sched_dequeue(s, job);
		job_set_error(job, asyncd_errcode(job->cancel_reason),
		    job->cancel_msg);
		sched_finish(s, job, job->cancel_reason ==
		    ASYNCD_EJOBTIMEDOUT ? PROTO_TIMED_OUT : PROTO_CANCELLED);
	}
	sched_saves_notify(job);
}

void
sched_when_saved(struct job *job, struct job_watch *w, job_watch_fn fn)
{
	w->job = job;
	w->fn = fn;
	LIST_INSERT_HEAD(&job->saves, w, entry);
}

void
sched_store_update(struct job *job)
{
	struct sched	*s = job->sched;

	if (s->store != NULL && !job->no_store)
		store_update(s->store, job, NULL, NULL);
}

int
sched_submit(struct sched *s, struct sched_submit *sub, struct job **out,
    bool *created, char **cause)
{
	const struct ad_type	*type;
	struct type_info	*tinfo;
	struct ad_check		 chk;
	struct job		*job;
	cJSON			*args = sub->args;
	int			 rv;

	*cause = NULL;
	if (sub->key != NULL &&
	    (job = jobtab_find_key(&s->tab, sub->key)) != NULL) {
		*out = job;
		*created = false;
		return (0);
	}
	if (s->draining) {
		xasprintf(cause, "the daemon is shutting down");
		return (ASYNCD_ESHUTDOWN);
	}
	if ((type = registry_find(s->reg, sub->type)) == NULL) {
		xasprintf(cause, "no job type named '%s'", sub->type);
		return (ASYNCD_EUNKNOWNTYPE);
	}
	tinfo = registry_info(s->reg, type->name);
	if ((rv = sched_may_run(s, type, sub->uid, sub->gid, cause)) != 0)
		return (rv);
	/*
	 * Children wait for the headroom (their number is bounded by their
	 * parents', which --max-queued and the arguments budget bound),
	 * except where there is none: a single coroutine, which the parent
	 * holds.
	 */
	if (sub->parent != NULL && s->max_toplevel >= s->cfg.max_coroutines &&
	    s->ncoros + s->nchildren_queued >= s->cfg.max_coroutines) {
		xasprintf(cause, "no room for another coroutine (%zu live, "
		    "--max-coroutines)", s->ncoros);
		return (ASYNCD_EBUSY);
	}
	if (sub->parent == NULL &&
	    s->nqueued - s->nchildren_queued >= s->cfg.max_queued) {
		xasprintf(cause, "too many jobs queued (%zu, --max-queued)",
		    s->nqueued - s->nchildren_queued);
		return (ASYNCD_EBUSY);
	}
	if (args == NULL && (args = cJSON_CreateNull()) == NULL)
		return (ASYNCD_ENOMEM);
	/* Made now because it sizes the arguments, once, for the budget. */
	job = job_create(0, type->name, args);
	if (s->tab.live_bytes + job->args_bytes > s->cfg.live_bytes) {
		xasprintf(cause, "the arguments of the jobs queued and running "
		    "hold %zu MiB (--max-args-mib)", s->tab.live_bytes >> 20);
		rv = ASYNCD_EBUSY;
		goto refuse;
	}
	chk.sched = s;
	chk.type = type;
	chk.uid = sub->uid;
	chk.gid = sub->gid;
	chk.depth = 0;
	if (type->check != NULL && (rv = type->check(&chk, args, cause)) != 0) {
		if (*cause == NULL)
			xasprintf(cause, "invalid arguments for '%s'",
			    type->name);
		if (rv != ASYNCD_ENOMEM && rv != ASYNCD_EPERM)
			rv = ASYNCD_EBADARGS;
		goto refuse;
	}

	if (s->store != NULL)
		rv = store_id_next(s->store, &job->id);
	else if (s->ids == NULL) {
		job->id = s->next_id++;
		rv = 0;
	} else
		rv = ids_next(s->ids, &job->id);
	if (rv != 0) {
		xasprintf(cause, "job ids are being reserved in the state "
		    "directory; try again");
		goto refuse;
	}
	sub->args = NULL;
	job->sched = s;
	job->type = type;
	job->tinfo = tinfo;
	job->key = sub->key != NULL ? xstrdup(sub->key) : NULL;
	/* A configured command may say how long its jobs may run. */
	job->timeout = sub->timeout > 0 ? sub->timeout :
	    tinfo->default_timeout;
	job->uid = sub->uid;
	job->gid = sub->gid;
	job->created = ev_now(s->loop);
	job->toplevel = sub->parent == NULL;
	job->priority = sub->priority;
	job->not_before = sub->not_before;
	job->retries = sub->retries;
	job->retry_delay = sub->retry_delay > 0 ? sub->retry_delay : 1.;
	job->retry_backoff = sub->retry_backoff >= 1 ? sub->retry_backoff :
	    2.;
	ev_timer_init(&job->deadline, sched_deadline_cb, 0., 0.);
	ev_timer_init(&job->sleep_timer, NULL, 0., 0.);
	jobtab_add(&s->tab, job);
	if (sub->parent != NULL) {
		job->parent = sub->parent;
		job->parent_id = sub->parent->id;
		TAILQ_INSERT_TAIL(&sub->parent->children, job, child_entry);
	}
	s->submitted++;
	*out = job;
	*created = true;
	if (s->store != NULL) {
		/* Answered once stored: sched_saved. */
		job->unsaved = true;
		store_insert(s->store, job, sched_saved, job);
		/*
		 * An at_most_once job is queued only once its row is in: a
		 * daemon that dies before finds nothing to run again. An
		 * at_least_once one (a type that may run twice) is queued at
		 * once, early: a fast job then runs in this loop iteration,
		 * before its row is handed to the store, and its row is
		 * written once, as it ended (store_update), in one group
		 * commit instead of two (bench/durability.sh: process/none
		 * from 0.60 to 0.74). Its answer and its outcome's waiters
		 * still wait for that commit; if it fails, the job ends
		 * failed with storage_error, whatever it did (sched_lost).
		 * (Before the store thread runs, the insert has been
		 * written and answered already.)
		 */
		if (job->unsaved &&
		    strcmp(sched_delivery(tinfo), "at_least_once") == 0) {
			job->early = true;
			sched_enqueue(s, job);
			sched_publish(s, job);
		}
		return (0);
	}
	sched_enqueue(s, job);
	sched_publish(s, job);
	return (0);
refuse:
	job->args = NULL;	/* the caller's, unless made here */
	job_free(job);
	if (args != sub->args)
		cJSON_Delete(args);
	return (rv);
}

int
ad_check_job(struct ad_check *chk, const char *name, const cJSON *args,
    char **cause)
{
	const struct ad_type	*type, *saved;
	int			 rv;

	*cause = NULL;
	if ((type = registry_find(chk->sched->reg, name)) == NULL) {
		xasprintf(cause, "no job type named '%s'", name);
		return (ASYNCD_EUNKNOWNTYPE);
	}
	/* A child runs as its parent's submitter: the same rules. */
	if ((rv = sched_may_run(chk->sched, type, chk->uid, chk->gid,
	    cause)) != 0)
		return (rv);
	if (type->check == NULL)
		return (0);
	if (chk->depth >= AD_CHECK_DEPTH) {
		xasprintf(cause, "jobs nested more than %d deep",
		    AD_CHECK_DEPTH);
		return (ASYNCD_EBADARGS);
	}
	chk->depth++;
	saved = chk->type;
	chk->type = type;
	rv = type->check(chk, args, cause);
	chk->type = saved;
	chk->depth--;
	return (rv);
}

/* The coroutine's body: runs the job type's function. */
static void
sched_entry(void *arg)
{
	struct job	*job = arg;

	job->run_rc = job->type->run(&job->ad);
}

static void
sched_ready(struct sched *s, struct job *job)
{
	if (!job->in_ready) {
		TAILQ_INSERT_TAIL(&s->ready, job, qentry);
		job->in_ready = true;
	}
}

/*
 * Loop: an at_most_once job could not be stored as running, so it may not
 * run (a daemon that died now would run it again): it goes back to its
 * queue, uncounted, and tries again in SCHED_START_RETRY; its running
 * write, retried by the store, is overwritten by this queued one, which
 * comes after it. A job cancelled meanwhile ends now.
 */
static void
sched_unstart(struct sched *s, struct job *job)
{
	ev_timer_stop(s->loop, &job->deadline);
	coro_free(job->coro);
	job->coro = NULL;
	s->ncoros--;
	if (job->toplevel)
		s->nrunning--;
	sched_released(s, job->tinfo);
	job->attempts--;
	job->started = 0;
	if (job->cancel_reason != 0) {
		job_set_error(job, asyncd_errcode(job->cancel_reason),
		    job->cancel_msg);
		sched_finish(s, job, job->cancel_reason ==
		    ASYNCD_EJOBTIMEDOUT ? PROTO_TIMED_OUT : PROTO_CANCELLED);
		return;
	}
	/* Once per job: it tries again each SCHED_START_RETRY. */
	if (!job->start_unstored)
		log_info("job %" PRIu64 " (%s): its start could not be stored, "
		    "and its type runs a job at most once; queued until the "
		    "store can be written", job->id, job->type_name);
	job->start_unstored = true;
	jobtab_set_state(&s->tab, job, PROTO_QUEUED);
	job->not_before = ev_now(s->loop) + SCHED_START_RETRY;
	sched_enqueue(s, job);
	sched_store_update(job);
	sched_publish(s, job);
}

/*
 * Loop: a job's running state is stored (or could not be): it may run. An
 * at_least_once job runs either way (its policy allows a second run, and
 * accepted jobs go on through a full disk); an at_most_once one only once
 * stored.
 */
static void
sched_started(void *arg, int err)
{
	struct job	*job = arg;

	if (err != 0 &&
	    strcmp(sched_delivery(job->tinfo), "at_most_once") == 0) {
		sched_unstart(job->sched, job);
		return;
	}
	if (job->start_unstored && err == 0)
		log_info("job %" PRIu64 " (%s): its start is stored; it runs",
		    job->id, job->type_name);
	job->start_unstored = false;
	sched_ready(job->sched, job);
}

/* Takes a queued job off its queue and starts its coroutine. */
static void
sched_start(struct sched *s, struct job *job)
{
	int	rv;

	sched_dequeue(s, job);
	if ((rv = coro_create(&job->coro, s->pool, sched_entry, job)) != 0) {
		log_warnx("%s: job %" PRIu64 ": no stack for its coroutine",
		    __func__, job->id);
		job_set_error(job, "internal", "no memory for the job's stack "
		    "(see vm.max_map_count and --max-running)");
		sched_finish(s, job, PROTO_FAILED);
		return;
	}
	s->ncoros++;
	if (job->toplevel)
		s->nrunning++;
	job->tinfo->running++;
	jobtab_set_state(&s->tab, job, PROTO_RUNNING);
	job->started = ev_now(s->loop);
	job->attempts++;
	job->pid = 0;
	if (s->store != NULL && !job->no_store &&
	    strcmp(sched_delivery(job->tinfo), "at_most_once") == 0) {
		/*
		 * At most once: the row says running before the job runs,
		 * so a daemon that dies now finds it interrupted and never
		 * runs it again. An at_least_once job does not wait (a third
		 * commit on every job's path, for the jobs that may run
		 * twice anyway): its running row follows at once, and a
		 * daemon that dies before that commits finds it queued and
		 * runs it again uncounted. Once the row is in, interruptions
		 * count (SCHED_MAX_INTERRUPTIONS).
		 */
		store_update(s->store, job, sched_started, job);
		if (job->timeout > 0) {
			ev_timer_set(&job->deadline, job->timeout, 0.);
			ev_timer_start(s->loop, &job->deadline);
		}
		sched_publish(s, job);
		return;
	}
	sched_store_update(job);
	if (job->timeout > 0) {
		ev_timer_set(&job->deadline, job->timeout, 0.);
		ev_timer_start(s->loop, &job->deadline);
	}
	sched_publish(s, job);
	sched_ready(s, job);
}

/*
 * The first job of q that its type lets run now. Jobs whose type is at its
 * concurrency limit (asyncio.Semaphore) step aside into the type's own
 * queue, so that they hold up nobody else; sched_released brings them
 * back one at a time.
 */
static struct job *
sched_next(struct job_queue *q)
{
	struct type_info	*ti;
	struct job		*job;

	while ((job = TAILQ_FIRST(q)) != NULL) {
		ti = job->tinfo;
		if (ti->concurrency == 0 || ti->running < ti->concurrency)
			return (job);
		TAILQ_REMOVE(q, job, qentry);
		TAILQ_INSERT_TAIL(&ti->waiting, job, qentry);
		job->type_waiting = true;
	}
	return (NULL);
}

/* A job of the type stopped running: the next one held back goes first. */
static void
sched_released(struct sched *s, struct type_info *ti)
{
	struct job	*job;

	ti->running--;
	if ((job = TAILQ_FIRST(&ti->waiting)) != NULL) {
		TAILQ_REMOVE(&ti->waiting, job, qentry);
		job->type_waiting = false;
		TAILQ_INSERT_HEAD(sched_queue(s, job), job, qentry);
	}
}

static void
sched_admit(struct sched *s)
{
	struct job	*job;

	while (s->ncoros < s->cfg.max_coroutines &&
	    (job = sched_next(&s->child_queued)) != NULL)
		sched_start(s, job);
	/* Draining, only a kept job is queued: it waits for the next start. */
	while (!s->draining && s->ncoros < s->cfg.max_coroutines &&
	    s->nrunning < s->max_toplevel &&
	    (job = sched_next(&s->queued)) != NULL)
		sched_start(s, job);
}

/* Adds the error of the attempt that just ended to job's list. */
static void
sched_attempt_error(struct sched *s, struct job *job, const char *code,
    const char *message)
{
	cJSON	*e;

	if (job->attempt_errors == NULL &&
	    (job->attempt_errors = cJSON_CreateArray()) == NULL)
		fatalx("%s: out of memory", __func__);
	if ((e = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(e, "attempt", job->attempts) == NULL ||
	    cJSON_AddStringToObject(e, "code", code) == NULL ||
	    cJSON_AddStringToObject(e, "message", message) == NULL ||
	    cJSON_AddNumberToObject(e, "finished",
	    proto_time_round(ev_now(s->loop))) == NULL)
		fatalx("%s: out of memory", __func__);
	cJSON_AddItemToArray(job->attempt_errors, e);
}

/*
 * How long before the next attempt: retry_delay times retry_backoff for
 * each retry before, give or take a tenth.
 */
static double
sched_retry_delay(const struct job *job)
{
	double	delay;

	delay = job->retry_delay * pow(job->retry_backoff,
	    (double)job->attempts - 1);
	if (delay > PROTO_MAX_SECONDS)
		delay = PROTO_MAX_SECONDS;
	return (delay * (0.9 + 0.2 * drand48()));
}

/*
 * A job that failed or timed out with retries left: its error goes on
 * its list of attempts, and it is queued again after retry_delay times
 * retry_backoff for each retry before, give or take a tenth.
 */
static void
sched_retry(struct sched *s, struct job *job)
{
	struct job	*child;
	double		 delay;

	ev_timer_stop(s->loop, &job->deadline);
	while ((child = TAILQ_FIRST(&job->children)) != NULL) {
		TAILQ_REMOVE(&job->children, child, child_entry);
		child->parent = NULL;
		sched_cancel(s, child, ASYNCD_ECANCELED, "parent job %" PRIu64
		    " failed and will be retried", job->id);
	}
	sched_attempt_error(s, job, job->err_code != NULL ? job->err_code :
	    "failed", job->err_message != NULL ? job->err_message : "");
	delay = sched_retry_delay(job);
	log_info("job %" PRIu64 " (%s) attempt %u %s: %s; retried in %.3f s",
	    job->id, job->type_name, job->attempts, job->cancel_reason != 0 ?
	    "timed out" : "failed", job->err_message != NULL ?
	    job->err_message : "", delay);
	free(job->err_code);
	free(job->err_message);
	job->err_code = job->err_message = NULL;
	cJSON_Delete(job->result);
	job->result = NULL;
	job->cancel_reason = 0;
	free(job->cancel_msg);
	job->cancel_msg = NULL;
	job->progress = -1;
	jobtab_set_state(&s->tab, job, PROTO_QUEUED);
	job->not_before = ev_now(s->loop) + delay;
	sched_enqueue(s, job);
	sched_store_update(job);
	sched_publish(s, job);
}

/* The coroutine of job has returned: decide how the job ended. */
static void
sched_returned(struct sched *s, struct job *job)
{
	enum proto_state	state;

	coro_free(job->coro);
	job->coro = NULL;
	s->ncoros--;
	if (job->toplevel)
		s->nrunning--;
	sched_released(s, job->tinfo);

	if (job->cancel_reason != 0) {
		/* A result set on the way out stays (exec's output so far). */
		state = job->cancel_reason == ASYNCD_EJOBTIMEDOUT ?
		    PROTO_TIMED_OUT : PROTO_CANCELLED;
		job_set_error(job, asyncd_errcode(job->cancel_reason),
		    job->cancel_msg);
		if (proto_json_depth(job->result) > PROTO_MAX_RESULT_DEPTH) {
			cJSON_Delete(job->result);
			job->result = NULL;
		}
	} else if (job->run_rc == 0 &&
	    proto_json_depth(job->result) > PROTO_MAX_RESULT_DEPTH) {
		/* No client could read the reply that carried it. */
		state = PROTO_FAILED;
		job_set_error(job, "result_too_deep", "the job's result nests "
		    "deeper than " SCHED_STR(PROTO_MAX_RESULT_DEPTH) " levels");
		cJSON_Delete(job->result);
		job->result = NULL;
	} else if (job->run_rc == 0) {
		state = PROTO_SUCCEEDED;
		if (job->result == NULL &&
		    (job->result = cJSON_CreateNull()) == NULL)
			fatalx("%s: out of memory", __func__);
		free(job->err_code);
		free(job->err_message);
		job->err_code = job->err_message = NULL;
	} else {
		/* A result set before failing stays (exec's exit status). */
		state = PROTO_FAILED;
		if (job->err_code == NULL)
			job_set_error(job, asyncd_errcode(job->run_rc),
			    asyncd_strerror(job->run_rc));
		if (proto_json_depth(job->result) > PROTO_MAX_RESULT_DEPTH) {
			cJSON_Delete(job->result);
			job->result = NULL;
		}
	}
	if ((state == PROTO_FAILED || state == PROTO_TIMED_OUT) &&
	    job->toplevel && job->attempts <= job->retries && !s->draining &&
	    !job->no_store) {
		sched_retry(s, job);
		return;
	}
	sched_finish(s, job, state);
}

/* Says how many queued jobs the drain cancelled since it last said. */
static void
sched_log_unstarted(struct sched *s)
{
	if (s->drain_unstarted > 0)
		log_info("shutdown: %zu queued job%s cancelled before running",
		    s->drain_unstarted, s->drain_unstarted == 1 ? "" : "s");
	s->drain_unstarted = 0;
}

/* One line per finished job, for the administrator. */
static void
sched_log(struct sched *s, const struct job *job)
{
	double	took = job->finished - (job->started > 0 ? job->started :
		    job->created);

	if (s->draining && job->state == PROTO_CANCELLED && job->started == 0) {
		s->drain_unstarted++;
		return;
	}
	if (job->state == PROTO_SUCCEEDED)
		log_info("job %" PRIu64 " (%s) succeeded in %.3f s, uid %"
		    PRIu64, job->id, job->type_name, took, job->uid);
	else
		log_info("job %" PRIu64 " (%s) %s in %.3f s, uid %" PRIu64
		    ": %s: %s", job->id, job->type_name,
		    proto_state_name(job->state), took, job->uid,
		    job->err_code != NULL ? job->err_code : "",
		    job->err_message != NULL ? job->err_message : "");
}

static void
sched_finish(struct sched *s, struct job *job, enum proto_state state)
{
	struct job	*child;

	/* An early job whose row could not be stored: sched_lost. */
	if (job->early && job->no_store) {
		sched_lost_error(job, job->cancel_msg != NULL ?
		    job->cancel_msg : "the job could not be stored, so it was "
		    "not accepted");
		state = PROTO_FAILED;
	}
	ev_timer_stop(s->loop, &job->deadline);
	jobtab_set_state(&s->tab, job, state);
	job->finished = ev_now(s->loop);
	s->nfinished++;
	if (job->parent != NULL) {
		TAILQ_REMOVE(&job->parent->children, job, child_entry);
		job->parent = NULL;
	}
	while ((child = TAILQ_FIRST(&job->children)) != NULL) {
		TAILQ_REMOVE(&job->children, child, child_entry);
		child->parent = NULL;
		sched_cancel(s, child, ASYNCD_ECANCELED,
		    "parent job %" PRIu64 " finished", job->id);
	}
	if (state != PROTO_SUCCEEDED)
		jobtab_unbind_key(&s->tab, job);
	sched_log(s, job);
	if (s->store != NULL && !job->no_store) {
		/* Nobody hears of it before it is stored: sched_final. */
		job->saving = true;
		store_update(s->store, job, sched_final, job);
		return;
	}
	if (coro_current() != NULL) {
		/* Not on a coroutine's stack: sched_run notifies. */
		job->notify_pending = true;
		TAILQ_INSERT_TAIL(&s->notify, job, notify_entry);
		return;
	}
	sched_notify(s, job);
}

/*
 * Loop (from the inbox, never a coroutine): a job's final state is stored,
 * or could not be; either way its waiters hear of it now. A failed write
 * is retried by the store (store.c) and logged there.
 */
static void
sched_final(void *arg, int err)
{
	struct job	*job = arg;

	(void)err;
	job->saving = false;
	sched_notify(job->sched, job);
}

/* Publishes a finished job's event and runs its watches. */
static void
sched_notify(struct sched *s, struct job *job)
{
	sched_publish(s, job);
	job_notify(job);
	if (job->output != NULL)
		exec_output_wake(job);
}

/* Runs the notifications deferred by sched_finish. Loop's stack. */
static void
sched_notify_all(struct sched *s)
{
	struct job	*job;

	while ((job = TAILQ_FIRST(&s->notify)) != NULL) {
		TAILQ_REMOVE(&s->notify, job, notify_entry);
		job->notify_pending = false;
		sched_notify(s, job);
	}
}

int
sched_cancel(struct sched *s, struct job *job, int reason, const char *fmt,
    ...)
{
	bool	(*hook)(struct job *);
	va_list	ap;

	if (proto_state_terminal(job->state))
		return (ASYNCD_EDONE);
	if (job->cancel_reason != 0)
		return (0);	/* the first reason stands */
	job->cancel_reason = reason;
	va_start(ap, fmt);
	xvasprintf(&job->cancel_msg, fmt, ap);
	va_end(ap);

	if (job->unsaved && !job->early)
		return (0);	/* sched_saved finishes it */
	if (job->state == PROTO_QUEUED) {
		sched_dequeue(s, job);
		job_set_error(job, asyncd_errcode(reason), job->cancel_msg);
		sched_finish(s, job, reason == ASYNCD_EJOBTIMEDOUT ?
		    PROTO_TIMED_OUT : PROTO_CANCELLED);
		return (0);
	}
	/*
	 * Running: wake it from its await with the error. If it is ready or
	 * running right now, its next await returns the error instead.
	 */
	if ((hook = job->await_cancel) != NULL) {
		job->await_cancel = NULL;
		if (hook(job))
			sched_wake(job, reason);
	}
	sched_publish(s, job);	/* with "cancel_requested" */
	return (0);
}

static void
sched_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job	*job = container_of(w, struct job, deadline);

	(void)loop;
	(void)revents;
	sched_cancel(job->sched, job, ASYNCD_EJOBTIMEDOUT,
	    "timed out after %g s", job->timeout);
}

void
sched_wake(struct job *job, int rc)
{
	job->await_cancel = NULL;
	job->await_arg = NULL;
	job->wake_rc = rc;
	sched_ready(job->sched, job);
}

int
sched_suspend(struct job *job, bool (*cancel)(struct job *), void *arg)
{
	if (coro_current() != job->coro)
		fatalx("%s: job %" PRIu64 " suspended off its coroutine",
		    __func__, job->id);
	job->await_cancel = cancel;
	job->await_arg = arg;
	job->wake_rc = 0;
	coro_yield();
	return (job->wake_rc);
}

void
sched_run(struct sched *s)
{
	struct job	*job;

	if (s->in_run || coro_current() != NULL)
		fatalx("%s: called from a coroutine", __func__);
	s->in_run = true;
	for (;;) {
		sched_notify_all(s);
		sched_admit(s);
		if ((job = TAILQ_FIRST(&s->ready)) == NULL)
			break;
		TAILQ_REMOVE(&s->ready, job, qentry);
		job->in_ready = false;
		if (!coro_resume(job->coro))
			sched_returned(s, job);
	}
	s->in_run = false;
	if (s->store != NULL) {
		/* A little past --keep each time: a scan per keep/8 jobs. */
		if (s->tab.nfinished > s->uncache_mark ||
		    s->tab.finished_bytes > s->cfg.keep_bytes) {
			sched_evict(s);
			s->uncache_mark = (s->tab.nfinished > s->cfg.keep ?
			    s->tab.nfinished : s->cfg.keep) + s->cfg.keep / 8;
		}
	} else if (s->tab.nread > 0 && s->tab.nfinished > s->cfg.keep)
		sched_evict(s);
	else if (s->tab.finished_bytes > s->cfg.keep_bytes)
		sched_evict(s);
}

static void
sched_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	sched_run(container_of(w, struct sched, prepare));
}

/*
 * Drops a finished job from memory, unless someone still holds it; with
 * drop_row its row goes too. Returns false if it is pinned (a waiter is
 * about to reply with it) or its first row or its outcome is being stored.
 */
static bool
sched_drop(struct sched *s, struct job *job, bool drop_row)
{
	if (job->pins > 0 || job->saving || job->unsaved)
		return (false);
	if (drop_row && s->store != NULL && !job->no_store)
		store_delete(s->store, job->id);
	/* Only memory: a later lookup reads it back (sched_cache). */
	if (!drop_row && job->output != NULL)
		goto out;
	/* Its command's log goes with it. */
	if (job->output != NULL && s->exec != NULL)
		outlog_remove(s->exec->outlog, job->id);
out:
	jobtab_remove(&s->tab, job);
	job_free(job);
	return (true);
}

/* Forgets a job: memory, store, output log. */
static bool
sched_forget(struct sched *s, struct job *job)
{
	return (sched_drop(s, job, true));
}

/*
 * With a store, the finished jobs in memory are a cache: past --keep (or
 * --keep-mib) the oldest go from memory only, read ones first, and come
 * back from the store when asked for (by id, or a submit by key: a
 * succeeded job keeps its key in the store). A child whose parent has not
 * read its result stays (ad_await looks in memory), unless memory forces
 * it.
 */
static void
sched_uncache(struct sched *s)
{
	struct jobtab	*tab = &s->tab;
	struct job_list	*lists[2] = { &tab->read, &tab->unread };
	struct job	*job, *next;
	int		 i;

	for (i = 0; i < 2; i++) {
		for (job = TAILQ_FIRST(lists[i]); job != NULL; job = next) {
			next = TAILQ_NEXT(job, fin_entry);
			if (tab->nfinished <= s->cfg.keep &&
			    tab->finished_bytes <= s->cfg.keep_bytes)
				return;
			/*
			 * A child's result waits for its parent's await,
			 * which looks in memory only.
			 */
			if (job->parent_id != 0 && !job->delivered &&
			    tab->finished_bytes <= s->cfg.keep_bytes)
				continue;
			(void)sched_drop(s, job, false);
		}
	}
}

void
sched_cache(struct sched *s, const struct store_row *row)
{
	int	state = proto_state_parse(row->state);

	/* Only finished jobs leave memory; a live one is always there. */
	if (jobtab_find(&s->tab, row->id) != NULL || state == -1 ||
	    !proto_state_terminal(state))
		return;
	sched_restore(s, row);
}

/* Forgets the jobs of list that finished before horizon. */
static void
sched_expire(struct sched *s, struct job_list *list, double horizon)
{
	struct job	*job, *next;

	for (job = TAILQ_FIRST(list); job != NULL; job = next) {
		next = TAILQ_NEXT(job, fin_entry);
		/*
		 * The read list is in reading order, close to finishing
		 * order: a job read late waits for the ones before it.
		 */
		if (job->finished > horizon)
			break;
		sched_forget(s, job);
	}
}

void
sched_evict(struct sched *s)
{
	struct jobtab	*tab = &s->tab;
	struct job	*job, *next;
	size_t		 forced = 0;

	sched_expire(s, &tab->unread, ev_now(s->loop) - s->cfg.retention);
	sched_expire(s, &tab->read, ev_now(s->loop) - s->cfg.retention);
	if (s->store != NULL) {
		/* Rows that left memory earlier expire in the store. */
		if (ev_now(s->loop) >= s->next_expire) {
			store_expire(s->store, ev_now(s->loop) -
			    s->cfg.retention);
			s->next_expire = ev_now(s->loop) + SCHED_EXPIRE_EVERY;
		}
		sched_uncache(s);
		return;
	}
	/* Over a limit: read outcomes first, oldest read first. */
	for (job = TAILQ_FIRST(&tab->read); job != NULL; job = next) {
		next = TAILQ_NEXT(job, fin_entry);
		if (tab->nfinished <= s->cfg.keep &&
		    tab->finished_bytes <= s->cfg.keep_bytes)
			break;
		sched_forget(s, job);
	}
	/* Unread results go early only when memory forces them out. */
	for (job = TAILQ_FIRST(&tab->unread); job != NULL; job = next) {
		next = TAILQ_NEXT(job, fin_entry);
		if (tab->finished_bytes <= s->cfg.keep_bytes)
			break;
		if (sched_forget(s, job))
			forced++;
	}
	if (forced > 0)
		log_warnx("forgot %zu finished jobs whose results nobody had "
		    "read yet: their results hold more than --keep-mib %zu",
		    forced, s->cfg.keep_bytes >> 20);
}

int
sched_forget_job(struct sched *s, struct job *job)
{
	if (!job_finished(job))
		return (ASYNCD_EBUSY);
	return (sched_forget(s, job) ? 0 : ASYNCD_EBUSY);
}

static void
sched_retention_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sched_evict(container_of(w, struct sched, retention_timer));
}

/* At shutdown: a top-level queued job that the store keeps. */
static bool
sched_keeps(const struct sched *s, const struct job *job)
{
	return (s->store != NULL && job->toplevel &&
	    job->state == PROTO_QUEUED && job->cancel_reason == 0);
}

void
sched_drain(struct sched *s)
{
	struct job	*job;
	size_t		 kept = 0;

	s->draining = true;
	/* Cancelling only finishes queued jobs; no job leaves the list. */
	TAILQ_FOREACH(job, &s->tab.all, all_entry) {
		/*
		 * A durable store keeps queued jobs for the next start
		 * (children go with their parents).
		 */
		if (sched_keeps(s, job)) {
			kept++;
			continue;
		}
		if (!proto_state_terminal(job->state))
			sched_cancel(s, job, ASYNCD_ECANCELED,
			    "the daemon is shutting down");
	}
	/*
	 * A hundred thousand queued jobs would otherwise be as many lines,
	 * written while the shutdown's deadline runs.
	 */
	sched_log_unstarted(s);
	if (kept > 0)
		log_info("shutdown: %zu queued job%s kept in the store for the "
		    "next start", kept, kept == 1 ? "" : "s");
}

bool
sched_idle(const struct sched *s)
{
	size_t	kept = 0;

	if (s->store != NULL) {
		if (store_busy(s->store))
			return (false);
		if (s->draining)
			kept = s->nqueued - s->nchildren_queued;
	}
	return (s->ncoros == 0 && s->nqueued == kept);
}

void
sched_stats(const struct sched *s, struct proto_stats *st)
{
	memset(st, 0, sizeof *st);
	memcpy(st->counts, s->tab.counts, sizeof st->counts);
	st->submitted = s->submitted;
	st->finished = s->nfinished;
	st->uptime = ev_now(s->loop) - s->started;
	st->max_running = s->cfg.max_running;
	st->max_queued = s->cfg.max_queued;
}

void
sched_delivered(struct job *job)
{
	jobtab_delivered(&job->sched->tab, job);
}

void
sched_progress(struct job *job)
{
	struct sched	*s = job->sched;

	if (s->on_progress != NULL)
		s->on_progress(s->on_arg, job);
}

uint64_t
sched_next_id(const struct sched *s)
{
	if (s->store != NULL)
		return (store_id_peek(s->store));
	if (s->ids != NULL)
		return (ids_peek(s->ids));
	return (s->next_id);
}

bool
sched_issued(const struct sched *s, uint64_t id)
{
	if (id == 0)
		return (false);
	if (id < s->stored_next)
		return (true);
	return (id >= s->run_first && id < sched_next_id(s));
}

const char *
sched_delivery(const struct type_info *ti)
{
	if (ti == NULL || ti->delivery == NULL)
		return ("at_most_once");
	return (ti->delivery);
}

/*
 * Startup: a job read back from the store. Finished ones come back as
 * they were; queued ones are queued again (rows come in id order, so in
 * their original order); one that was running when the daemon died is
 * interrupted: its command's process group, if one is left, is killed,
 * and its type's delivery policy says whether it runs again (queued,
 * counting an attempt) or ends interrupted. Children of an unfinished
 * parent are cancelled: the parent, if it runs again, makes its own anew.
 */
void
sched_restore(struct sched *s, const struct store_row *row)
{
	struct job	*job;
	cJSON		*args;
	int		 state, rv;
	bool		 again;

	if ((state = proto_state_parse(row->state)) == -1) {
		log_warnx("job %" PRIu64 ": unknown state '%s' in the store; "
		    "taken as failed", row->id, row->state);
		state = PROTO_FAILED;
	}
	if ((args = cJSON_Parse(row->args)) == NULL)
		args = cJSON_CreateNull();
	job = job_create(row->id, row->type, args);
	job->sched = s;
	job->type = registry_find(s->reg, row->type);
	job->tinfo = job->type != NULL ? registry_info(s->reg, row->type) :
	    NULL;
	job->parent_id = row->parent;
	job->toplevel = row->parent == 0;
	job->uid = row->uid;
	job->gid = row->gid;
	job->created = row->created;
	job->started = row->started;
	job->finished = row->finished;
	job->timeout = row->timeout;
	job->attempts = row->attempts;
	job->priority = row->priority;
	job->not_before = row->not_before;
	job->retries = row->retries;
	job->retry_delay = row->retry_delay > 0 ? row->retry_delay : 1.;
	job->retry_backoff = row->retry_backoff >= 1 ? row->retry_backoff : 2.;
	if (row->attempt_errors != NULL)
		job->attempt_errors = cJSON_Parse(row->attempt_errors);
	if (row->result != NULL)
		job->result = cJSON_Parse(row->result);
	if (row->err_code != NULL)
		job_set_error(job, row->err_code, row->err_message);
	ev_timer_init(&job->deadline, sched_deadline_cb, 0., 0.);
	ev_timer_init(&job->sleep_timer, NULL, 0., 0.);
	job->state = state == PROTO_RUNNING ? PROTO_RUNNING :
	    proto_state_terminal(state) ? state : PROTO_QUEUED;
	jobtab_add(&s->tab, job);
	if (row->key != NULL) {
		job->key = xstrdup(row->key);
		/* Bound while queued, running or succeeded (sched_finish). */
		if ((!proto_state_terminal(job->state) ||
		    job->state == PROTO_SUCCEEDED) &&
		    jobtab_find_key(&s->tab, job->key) == NULL)
			jobtab_bind_key(&s->tab, job);
	}
	if (proto_state_terminal(job->state))
		return;

	if (job->state == PROTO_RUNNING) {
		if (row->pid > 0 && (rv = proc_kill_orphan((pid_t)row->pid,
		    row->pid_start)) != 0) {
			if (rv == 1)
				log_warnx("job %" PRIu64 ": killed process group "
				    "%" PRId64 ", left running by the daemon "
				    "that died", job->id, row->pid);
			else
				log_warnx("job %" PRIu64 ": cannot kill process "
				    "group %" PRId64 ": %s", job->id, row->pid,
				    strerror(rv));
		}
		job->pid = 0;
		again = job->toplevel && job->type != NULL &&
		    strcmp(sched_delivery(job->tinfo), "at_least_once") == 0;
		if (!again) {
			job_set_error(job, asyncd_errcode(ASYNCD_EINTERRUPTED),
			    job->toplevel ? "the daemon stopped while the job "
			    "ran, and its type runs a job at most once" :
			    "the daemon stopped while the job ran");
			sched_finish(s, job, PROTO_INTERRUPTED);
			return;
		}
		/*
		 * At least once, but not for ever: an interruption is a
		 * failed attempt, bounded by the job's retries like any other
		 * or, without retries, by SCHED_MAX_INTERRUPTIONS.
		 */
		if (job->retries > 0 ? job->attempts > job->retries :
		    job->attempts >= SCHED_MAX_INTERRUPTIONS) {
			char	*msg;

			if (job->retries > 0)
				xasprintf(&msg, "the daemon stopped while the "
				    "job ran (attempt %u), and it has no "
				    "retries left", job->attempts);
			else
				xasprintf(&msg, "the daemon stopped while the "
				    "job ran, %u times in a row; it is not run "
				    "again (at_least_once without retries "
				    "stops after %d interruptions)",
				    job->attempts, SCHED_MAX_INTERRUPTIONS);
			job_set_error(job, asyncd_errcode(ASYNCD_EINTERRUPTED),
			    msg);
			free(msg);
			sched_finish(s, job, PROTO_INTERRUPTED);
			return;
		}
		sched_attempt_error(s, job, asyncd_errcode(ASYNCD_EINTERRUPTED),
		    "the daemon stopped while the job ran");
		job->not_before = 0;
		if (job->retries > 0)
			job->not_before = ev_now(s->loop) +
			    sched_retry_delay(job);
		log_info("job %" PRIu64 " (%s) attempt %u was interrupted by a "
		    "restart; queued again (at_least_once)", job->id,
		    job->type_name, job->attempts);
		s->tab.counts[PROTO_RUNNING]--;
		s->tab.counts[PROTO_QUEUED]++;
		job->state = PROTO_QUEUED;
		job->started = 0;
		sched_store_update(job);
	}
	if (!job->toplevel) {
		job_set_error(job, asyncd_errcode(ASYNCD_ECANCELED), "its "
		    "parent was interrupted by a daemon restart");
		sched_finish(s, job, PROTO_CANCELLED);
		return;
	}
	if (job->type == NULL) {
		char	*msg;

		xasprintf(&msg, "no job type named '%s' any more",
		    job->type_name);
		job_set_error(job, asyncd_errcode(ASYNCD_EUNKNOWNTYPE), msg);
		free(msg);
		sched_finish(s, job, PROTO_FAILED);
		return;
	}
	sched_enqueue(s, job);
}
