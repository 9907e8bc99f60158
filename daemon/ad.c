/*
 * ad.c: the await primitives and accessors of the plugin SDK (asyncd/plugin.h).
 *
 * Every await has the same shape: return at once if the job is already
 * cancelled; arm something that will call sched_wake (a timer, a watch on
 * another job, a pool completion); sched_suspend with a hook that disarms
 * it on cancellation. State an await needs while suspended lives on the
 * coroutine's stack, which stays put until the coroutine returns.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static struct job *
ad_job_of(struct ad_job *aj)
{
	return (aj->job);
}

uint64_t
ad_id(struct ad_job *aj)
{
	return (ad_job_of(aj)->id);
}

const cJSON *
ad_args(struct ad_job *aj)
{
	return (ad_job_of(aj)->args);
}

void
ad_result(struct ad_job *aj, cJSON *result)
{
	struct job	*job = ad_job_of(aj);

	cJSON_Delete(job->result);
	job->result = result;
}

int
ad_fail(struct ad_job *aj, const char *code, const char *fmt, ...)
{
	struct job	*job = ad_job_of(aj);
	va_list		 ap;
	char		*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (strlen(msg) > PROTO_MAX_MESSAGE)
		msg[PROTO_MAX_MESSAGE] = '\0';
	job_set_error(job, code, msg);
	free(msg);
	return (ASYNCD_EFAILED);
}

bool
ad_cancelled(struct ad_job *aj)
{
	return (ad_job_of(aj)->cancel_reason != 0);
}

void
ad_progress(struct ad_job *aj, double fraction, const char *fmt, ...)
{
	struct job	*job = ad_job_of(aj);
	va_list		 ap;

	if (isnan(fraction) || fraction < 0)
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	job->progress = fraction;
	free(job->progress_msg);
	job->progress_msg = NULL;
	if (fmt != NULL) {
		va_start(ap, fmt);
		xvasprintf(&job->progress_msg, fmt, ap);
		va_end(ap);
		if (strlen(job->progress_msg) > PROTO_MAX_MESSAGE)
			job->progress_msg[PROTO_MAX_MESSAGE] = '\0';
	}
	sched_progress(job);
}

static void
ad_sleep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sched_wake(container_of(w, struct job, sleep_timer), 0);
}

static bool
ad_sleep_cancel(struct job *job)
{
	ev_timer_stop(job->sched->loop, &job->sleep_timer);
	return (true);
}

int
ad_sleep(struct ad_job *aj, double seconds)
{
	struct job	*job = ad_job_of(aj);

	if (job->cancel_reason != 0)
		return (job->cancel_reason);
	if (!(seconds > 0))	/* also NaN */
		seconds = 0;
	ev_timer_init(&job->sleep_timer, ad_sleep_cb, seconds, 0.);
	ev_timer_start(job->sched->loop, &job->sleep_timer);
	return (sched_suspend(job, ad_sleep_cancel, NULL));
}

int
ad_spawn(struct ad_job *aj, const char *type, cJSON *args, double timeout,
    uint64_t *id, char **cause)
{
	struct job		*job = ad_job_of(aj), *child;
	struct sched_submit	 sub;
	char			*why = NULL;
	bool			 created;
	int			 rv;

	if (cause != NULL)
		*cause = NULL;
	if (job->cancel_reason != 0) {
		cJSON_Delete(args);
		return (job->cancel_reason);
	}
	memset(&sub, 0, sizeof sub);
	sub.type = type;
	sub.args = args;
	sub.timeout = timeout > 0 ? timeout : 0;
	sub.parent = job;
	sub.uid = job->uid;
	sub.gid = job->gid;
	rv = sched_submit(job->sched, &sub, &child, &created, &why);
	cJSON_Delete(sub.args);		/* NULL if taken */
	if (rv != 0) {
		if (cause != NULL)
			*cause = why;
		else
			free(why);
		return (rv);
	}
	*id = child->id;
	return (0);
}

/* A coroutine waiting for one job. */
struct ad_await {
	struct job_watch	 watch;
	struct job		*waiter;
};

static void
ad_await_done(struct job_watch *w, struct job *target)
{
	struct ad_await	*a = container_of(w, struct ad_await, watch);

	(void)target;
	sched_wake(a->waiter, 0);
}

static bool
ad_await_cancel(struct job *job)
{
	struct ad_await	*a = job->await_arg;

	job_unwatch(&a->watch);
	return (true);
}

int
ad_await(struct ad_job *aj, uint64_t id, struct ad_outcome *out)
{
	struct job	*job = ad_job_of(aj), *target;
	struct ad_await	 a;
	int		 rv = 0;

	if (job->cancel_reason != 0)
		return (job->cancel_reason);
	if ((target = jobtab_find(&job->sched->tab, id)) == NULL)
		return (ASYNCD_EUNKNOWNJOB);
	if (target == job)
		return (ASYNCD_EINVAL);		/* it would never wake */
	if (!job_finished(target)) {
		memset(&a, 0, sizeof a);
		a.waiter = job;
		job_pin(target);
		job_watch(target, &a.watch, ad_await_done);
		rv = sched_suspend(job, ad_await_cancel, &a);
		job_unpin(target);
	}
	if (rv == 0) {
		job_outcome(target, out);
		sched_delivered(target);
	}
	return (rv);
}

/* A coroutine waiting for several jobs. */
struct ad_gather {
	struct job		*waiter;
	struct job		**targets;
	struct ad_gather_watch	*watches;
	size_t			 n;
	size_t			 pending;
	bool			 first_error;
	bool			 woken;
};

struct ad_gather_watch {
	struct job_watch	 watch;
	struct ad_gather	*g;
};

static void
ad_gather_unwatch(struct ad_gather *g)
{
	size_t	i;

	for (i = 0; i < g->n; i++)
		job_unwatch(&g->watches[i].watch);
}

static void
ad_gather_done(struct job_watch *w, struct job *target)
{
	struct ad_gather	*g;

	g = container_of(w, struct ad_gather_watch, watch)->g;
	g->pending--;
	if (g->woken)
		return;
	if (g->pending == 0 ||
	    (g->first_error && target->state != PROTO_SUCCEEDED)) {
		g->woken = true;
		ad_gather_unwatch(g);
		sched_wake(g->waiter, 0);
	}
}

static bool
ad_gather_cancel(struct job *job)
{
	struct ad_gather	*g = job->await_arg;

	g->woken = true;
	ad_gather_unwatch(g);
	return (true);
}

int
ad_gather(struct ad_job *aj, const uint64_t *ids, size_t n, int flags,
    struct ad_outcome *out)
{
	struct job		*job = ad_job_of(aj);
	struct ad_gather	 g;
	bool			 failed = false;
	size_t			 i;
	int			 rv = 0;

	if (job->cancel_reason != 0)
		return (job->cancel_reason);
	memset(&g, 0, sizeof g);
	g.waiter = job;
	g.n = n;
	g.first_error = (flags & AD_GATHER_FIRST_ERROR) != 0;
	if (n == 0)
		return (0);
	if ((g.targets = calloc(n, sizeof *g.targets)) == NULL ||
	    (g.watches = calloc(n, sizeof *g.watches)) == NULL) {
		free(g.targets);
		return (ASYNCD_ENOMEM);
	}
	for (i = 0; i < n; i++) {
		g.targets[i] = jobtab_find(&job->sched->tab, ids[i]);
		if (g.targets[i] == NULL || g.targets[i] == job) {
			rv = g.targets[i] == NULL ? ASYNCD_EUNKNOWNJOB :
			    ASYNCD_EINVAL;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		job_pin(g.targets[i]);
		g.watches[i].g = &g;
		if (!job_finished(g.targets[i])) {
			job_watch(g.targets[i], &g.watches[i].watch,
			    ad_gather_done);
			g.pending++;
		} else if (g.targets[i]->state != PROTO_SUCCEEDED)
			failed = true;
	}
	if (g.pending > 0 && !(g.first_error && failed))
		rv = sched_suspend(job, ad_gather_cancel, &g);
	ad_gather_unwatch(&g);
	for (i = 0; i < n; i++) {
		if (rv == 0) {
			job_outcome(g.targets[i], &out[i]);
			sched_delivered(g.targets[i]);
		}
		job_unpin(g.targets[i]);
	}
out:
	free(g.targets);
	free(g.watches);
	return (rv);
}

int
ad_cancel(struct ad_job *aj, uint64_t id)
{
	struct job	*job = ad_job_of(aj), *target;

	if ((target = jobtab_find(&job->sched->tab, id)) == NULL)
		return (ASYNCD_EUNKNOWNJOB);
	return (sched_cancel(job->sched, target, ASYNCD_ECANCELED,
	    "cancelled by job %" PRIu64, job->id));
}

/* A coroutine waiting for a function on the thread pool. */
struct ad_thread {
	struct pool_work	 work;
	struct job		*waiter;
	atomic_bool		*flag;		/* set on cancel; may be NULL */
	ev_timer		 stuck;		/* cancelled, fn still runs */
	bool			 done;
	bool			 suspended;
	bool			 cancelled;	/* while waiting */
	int			 status;
};

static void
ad_thread_done(struct pool_work *w, int status)
{
	struct ad_thread	*t = container_of(w, struct ad_thread, work);

	t->done = true;
	t->status = status;
	ev_timer_stop(t->waiter->sched->loop, &t->stuck);
	if (t->suspended) {
		t->suspended = false;
		sched_wake(t->waiter, 0);
	}
}

/* A thread function ignores its cancellation: say so, once. */
static void
ad_thread_stuck_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ad_thread	*t = container_of(w, struct ad_thread, stuck);

	(void)loop;
	(void)revents;
	log_warnx("job %" PRIu64 " (%s): its thread-pool work is still "
	    "running %.0f s after the job was cancelled; it ignores "
	    "cancellation, and the job ends when it returns",
	    t->waiter->id, t->waiter->type_name, AD_THREAD_STUCK);
}

static bool
ad_thread_cancel(struct job *job)
{
	struct ad_thread	*t = job->await_arg;

	t->cancelled = true;
	/* Not started: done runs now, and the coroutine may go. */
	t->suspended = false;
	if (pool_thread_cancel(job->sched->threads, &t->work))
		return (true);
	/* Running: fn may use the coroutine's stack; wake when it returns. */
	t->suspended = true;
	if (t->flag != NULL)
		atomic_store(t->flag, true);
	ev_timer_start(job->sched->loop, &t->stuck);
	return (false);
}

int
ad_run_in_thread_call(struct ad_job *aj, void (*fn)(void *), void *arg,
    atomic_bool *flag)
{
	struct job		*job = ad_job_of(aj);
	struct ad_thread	 t;
	int			 rv;

	if (job->cancel_reason != 0)
		return (job->cancel_reason);
	if (job->sched->threads == NULL)
		return (ASYNCD_EINTERNAL);
	memset(&t, 0, sizeof t);
	t.waiter = job;
	t.flag = flag;
	t.suspended = true;
	ev_timer_init(&t.stuck, ad_thread_stuck_cb, AD_THREAD_STUCK, 0.);
	pool_thread_submit(job->sched->threads, &t.work, fn, arg,
	    ad_thread_done);
	rv = sched_suspend(job, ad_thread_cancel, &t);
	if (!t.done)
		fatalx("%s: job %" PRIu64 " woken before its work finished",
		    __func__, job->id);
	/* Cancelled while waiting: an error, even if fn has finished. */
	if (t.cancelled)
		return (job->cancel_reason);
	return (rv != 0 ? rv : t.status);
}

int
ad_run_in_thread(struct ad_job *aj, void (*fn)(void *), void *arg)
{
	return (ad_run_in_thread_call(aj, fn, arg, NULL));
}

/* A coroutine waiting for a call on the process pool. */
struct ad_process {
	struct pool_call	 call;
	struct job		*waiter;
};

static void
ad_process_done(struct pool_call *c)
{
	struct ad_process	*p = container_of(c, struct ad_process, call);

	sched_wake(p->waiter, 0);
}

static void
ad_process_progress(struct pool_call *c, double fraction, const char *msg)
{
	struct ad_process	*p = container_of(c, struct ad_process, call);

	if (msg != NULL)
		ad_progress(&p->waiter->ad, fraction, "%s", msg);
	else
		ad_progress(&p->waiter->ad, fraction, NULL);
}

/* The worker is killed: nothing of the call is used after this. */
static bool
ad_process_cancel(struct job *job)
{
	struct ad_process	*p = job->await_arg;

	pool_proc_cancel(job->sched->procpool, &p->call);
	return (true);
}

int
ad_run_in_process(struct ad_job *aj, const char *fn, const cJSON *args,
    cJSON **result)
{
	static cJSON		 null = { .type = cJSON_NULL };
	struct job		*job = ad_job_of(aj);
	struct ad_process	 p;
	int			 rv;

	*result = NULL;
	if (job->cancel_reason != 0)
		return (job->cancel_reason);
	if (job->sched->procpool == NULL)
		return (ad_fail(aj, "unknown_function", "no process pool"));
	if (!plugin_is_process(registry_find(job->sched->reg, fn)))
		return (ad_fail(aj, "unknown_function", "no process function "
		    "named '%s'", fn));
	memset(&p, 0, sizeof p);
	p.waiter = job;
	p.call.fn = fn;
	p.call.args = args != NULL ? args : &null;
	p.call.done = ad_process_done;
	p.call.progress = ad_process_progress;
	pool_proc_submit(job->sched->procpool, &p.call);
	if ((rv = sched_suspend(job, ad_process_cancel, &p)) != 0) {
		cJSON_Delete(p.call.result);
		free(p.call.err_code);
		free(p.call.err_message);
		return (rv);
	}
	if (p.call.status == 0) {
		*result = p.call.result;
		return (0);
	}
	rv = ad_fail(aj, p.call.err_code, "%s", p.call.err_message);
	free(p.call.err_code);
	free(p.call.err_message);
	return (rv);
}

int
ad_exec(struct ad_job *aj, const char *const *argv, cJSON **result)
{
	struct job		*job = ad_job_of(aj);
	struct exec_spec	 sp;
	struct exec_outcome	 oc;
	size_t			 n = 0, i;
	int			 rv;

	*result = NULL;
	if (job->cancel_reason != 0)
		return (job->cancel_reason);
	if (job->sched->exec == NULL)
		return (ad_fail(aj, "spawn_failed", "this daemon runs no "
		    "commands"));
	if (argv == NULL || argv[0] == NULL)
		return (ASYNCD_EINVAL);
	while (argv[n] != NULL)
		n++;
	memset(&sp, 0, sizeof sp);
	sp.argv = xcalloc(n + 1, sizeof *sp.argv);
	for (i = 0; i < n; i++)
		sp.argv[i] = xstrdup(argv[i]);
	exec_spec_common(&sp, &(cJSON){ .type = cJSON_Object });
	sp.check = false;
	rv = exec_run(job, &sp, &oc);
	*result = oc.result;
	if (oc.spawn_err != 0 && rv == 0)
		rv = ad_fail(aj, "spawn_failed", "cannot run '%s': %s",
		    argv[0], strerror(oc.spawn_err));
	exec_spec_free(&sp);
	return (rv);
}
