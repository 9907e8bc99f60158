/*
 * pool_thread.c: the thread pool, for blocking C code that must stay off
 * the loop (loop.run_in_executor with a ThreadPoolExecutor).
 *
 * Design notes. The loop thread queues work items under the pool's lock
 * and signals one idle thread. A thread takes the first item, runs it
 * outside the lock, and hands the finished item back through the inbox;
 * the loop then calls its done function. Workers never touch daemon state:
 * an item carries its function and argument and nothing else. The only
 * lock is the pool's; it is never held while an item runs or while pushing
 * to the inbox, so no lock order exists to get wrong.
 *
 * Lifetime of an item: owned by the pool from submit until a thread takes
 * it (or cancel takes it back), then by that thread, then by the inbox,
 * then by its owner again when done runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

struct pool_thread {
	pthread_mutex_t		 lock;		/* guards queue, stop */
	pthread_cond_t		 cond;
	TAILQ_HEAD(, pool_work)	 queue;
	bool			 stop;
	pthread_t		*threads;
	size_t			 n;
	struct inbox		*inbox;
};

static void
pool_thread_complete(struct inbox_item *item)
{
	struct pool_work	*w = container_of(item, struct pool_work, item);

	w->done(w, w->status);
}

static void *
pool_thread_main(void *arg)
{
	struct pool_thread	*p = arg;
	struct pool_work	*w;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (TAILQ_EMPTY(&p->queue) && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if ((w = TAILQ_FIRST(&p->queue)) == NULL)
			break;		/* stopping, and nothing left */
		TAILQ_REMOVE(&p->queue, w, entry);
		pthread_mutex_unlock(&p->lock);

		w->fn(w->arg);
		w->status = 0;
		inbox_push(p->inbox, &w->item);

		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return (NULL);
}

int
pool_thread_start(struct pool_thread **out, size_t n, struct inbox *inbox)
{
	struct pool_thread	*p;
	size_t			 i;
	int			 rv;

	if (n == 0)
		return (EINVAL);
	p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	TAILQ_INIT(&p->queue);
	p->inbox = inbox;
	p->threads = xcalloc(n, sizeof *p->threads);
	for (i = 0; i < n; i++) {
		if ((rv = pthread_create(&p->threads[i], NULL,
		    pool_thread_main, p)) != 0) {
			p->n = i;
			pool_thread_stop(p);
			return (rv);
		}
	}
	p->n = n;
	*out = p;
	return (0);
}

void
pool_thread_stop(struct pool_thread *p)
{
	(void)pool_thread_stop_within(p, -1);
}

bool
pool_thread_stop_within(struct pool_thread *p, double timeout)
{
	TAILQ_HEAD(, pool_work)	 left;
	struct pool_work	*w;
	struct timespec		 ts;
	size_t			 i;

	/* Take back what has not started, so the threads end soon. */
	TAILQ_INIT(&left);
	pthread_mutex_lock(&p->lock);
	TAILQ_CONCAT(&left, &p->queue, entry);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)timeout;
	ts.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	for (i = 0; i < p->n; i++) {
		if (timeout < 0)
			pthread_join(p->threads[i], NULL);
		else if (pthread_timedjoin_np(p->threads[i], NULL, &ts) != 0) {
			/* Give back what was queued; leave the rest be. */
			TAILQ_FOREACH(w, &left, entry)
				w->done(w, ASYNCD_ECANCELED);
			return (false);
		}
	}
	/* Completions pushed by the threads before they ended. */
	inbox_drain(p->inbox);
	while ((w = TAILQ_FIRST(&left)) != NULL) {
		TAILQ_REMOVE(&left, w, entry);
		w->done(w, ASYNCD_ECANCELED);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
	return (true);
}

void
pool_thread_submit(struct pool_thread *p, struct pool_work *w,
    pool_work_fn fn, void *arg, pool_done_fn done)
{
	memset(w, 0, sizeof *w);
	w->fn = fn;
	w->arg = arg;
	w->done = done;
	w->pool = p;
	w->item.fn = pool_thread_complete;
	pthread_mutex_lock(&p->lock);
	TAILQ_INSERT_TAIL(&p->queue, w, entry);
	pthread_mutex_unlock(&p->lock);
	/* After the unlock, or the woken thread finds the lock still held. */
	pthread_cond_signal(&p->cond);
}

bool
pool_thread_cancel(struct pool_thread *p, struct pool_work *w)
{
	struct pool_work	*it;
	bool			 found = false;

	pthread_mutex_lock(&p->lock);
	TAILQ_FOREACH(it, &p->queue, entry) {
		if (it == w) {
			TAILQ_REMOVE(&p->queue, w, entry);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (found)
		w->done(w, ASYNCD_ECANCELED);
	return (found);
}

size_t
pool_thread_size(const struct pool_thread *p)
{
	return (p->n);
}
