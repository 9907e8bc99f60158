/*
 * waiter.c: long polls ("wait", and "submit"/"cancel" with a wait).
 *
 * A waiter pins its jobs (so retention cannot free them under it), watches
 * the unfinished ones and arms a timer capped at wait_cap: no request is
 * held longer, so none outlives nng's resend timer and a client notices a
 * daemon that went away. Its function runs exactly once, when the
 * condition is met or the timer fires, and the waiter is freed after.
 */
#include <stdlib.h>

#include "daemon.h"

struct waiter_watch {
	struct job_watch	 watch;
	struct waiter		*w;
};

bool
waiter_met(struct job *const *jobs, size_t n, bool any)
{
	size_t	i, done = 0;

	for (i = 0; i < n; i++) {
		if (job_finished(jobs[i]))
			done++;
	}
	return (any ? done > 0 : done == n);
}

static void
waiter_fire(struct waiter *w, bool met)
{
	struct waiter_watch	*ww = w->watches;
	size_t			 i;

	if (w->fired)
		return;
	w->fired = true;
	ev_timer_stop(w->sched->loop, &w->timer);
	for (i = 0; i < w->n; i++)
		job_unwatch(&ww[i].watch);
	LIST_REMOVE(w, entry);
	w->fn(w, met, w->arg);
	for (i = 0; i < w->n; i++)
		job_unpin(w->jobs[i]);
	free(w->jobs);
	free(w->watches);
	free(w);
}

static void
waiter_done(struct job_watch *jw, struct job *job)
{
	struct waiter	*w = container_of(jw, struct waiter_watch, watch)->w;

	(void)job;
	if (--w->pending == 0 || w->any)
		waiter_fire(w, true);
}

static void
waiter_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	waiter_fire(container_of(t, struct waiter, timer), false);
}

void
waiter_start(struct sched *s, struct job *const *jobs, size_t n, bool any,
    double timeout, waiter_fn fn, void *arg)
{
	struct waiter		*w;
	struct waiter_watch	*ww;
	size_t			 i;

	w = xcalloc(1, sizeof *w);
	w->sched = s;
	w->n = n;
	w->any = any;
	w->fn = fn;
	w->arg = arg;
	w->jobs = xcalloc(n, sizeof *w->jobs);
	ww = xcalloc(n, sizeof *ww);
	w->watches = ww;
	LIST_INSERT_HEAD(&s->waiters, w, entry);
	for (i = 0; i < n; i++) {
		w->jobs[i] = jobs[i];
		job_pin(jobs[i]);
		ww[i].w = w;
		if (!job_finished(jobs[i])) {
			job_watch(jobs[i], &ww[i].watch, waiter_done);
			w->pending++;
		}
	}
	if (waiter_met(jobs, n, any) || timeout <= 0 || s->no_holds) {
		waiter_fire(w, waiter_met(jobs, n, any));
		return;
	}
	if (timeout > s->cfg.wait_cap)
		timeout = s->cfg.wait_cap;
	ev_timer_init(&w->timer, waiter_timer_cb, timeout, 0.);
	ev_timer_start(s->loop, &w->timer);
}

void
waiter_flush(struct sched *s)
{
	struct waiter	*w;

	while ((w = LIST_FIRST(&s->waiters)) != NULL)
		waiter_fire(w, waiter_met(w->jobs, w->n, w->any));
}
