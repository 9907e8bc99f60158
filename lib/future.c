/*
 * future.c: struct asyncd_future, concurrent.futures.Future for a job.
 *
 * Design notes.
 *
 * A future follows one job with a background long poll: a chain of nng
 * aio operations on the future's own context, each started from the
 * completion callback of the one before. It sends {"op":"wait","ids":[id],
 * "timeout":5}, receives the reply, and sends again until the job is
 * finished. What follows each poll is not decided here: the outcome goes
 * to the long-poll engine (client_poll_next, "Long polls" in client.c),
 * the same rule asyncd_wait follows, with no deadline: poll again now,
 * after a pause, complete with the job, or complete with an error. The
 * pause runs on a second aio, f->timer: in nng 1.5.2 an aio once used for
 * nng_sleep_aio reports a later operation's timeout as success (it keeps
 * its "sleeping" mark), so the I/O aio never sleeps. The chain has exactly
 * one operation outstanding at a time, on one aio or the other, so
 * f->phase, f->poll (the engine's state) and the aio's message belong to
 * whichever callback is running and need no lock.
 *
 * Threads: the chain runs on nng's threads, whose callbacks must not
 * block; it only ever starts the next operation or completes the future.
 * Anything else runs in the caller's thread. f->lock guards the completion
 * state (done, err, errmsg, job), the callback list and the counts that
 * asyncd_future_free waits on; f->cond is signalled when the future
 * completes and when running callbacks finish. f->lock is never held
 * while calling into nng or into a user callback, and never together with
 * the client's lock.
 *
 * Completion happens once (future_complete): the first caller sets done,
 * wakes waiters, writes the eventfd and then runs the callbacks, in order,
 * one at a time, with the lock dropped around each. A callback added while
 * that is going on joins the queue, so order holds; one added later runs
 * at once in the adding thread. The completing thread may be an nng thread
 * (the chain) or the caller of asyncd_future_cancel, which completes the
 * future itself when the cancel reply already shows the job finished.
 *
 * Lifetime: asyncd_future_free marks the future stopping, then
 * nng_aio_stop() on the timer and then on the I/O aio aborts the
 * outstanding operation and waits for a running chain callback (and so for
 * the user callbacks it runs) to return; after that nng refuses to start
 * new operations on either aio, so the chain cannot restart. Only then
 * are the context, the aio and the future freed. A
 * future must never be freed from its own callback: nng_aio_stop would wait
 * for itself. A thread-local pointer to the future whose callbacks the
 * thread is running turns that mistake into an assertion failure.
 */
#include <sys/eventfd.h>

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "client.h"

/*
 * How long each poll asks the daemon to hold it: the daemon's own cap, so
 * a poll costs one round trip per 5 s of waiting, and a daemon that hangs
 * is noticed within the request timeout plus this.
 */
#define FUTURE_HOLD		5.0
/* How long asyncd_future_cancel waits for the job to stop. */
#define FUTURE_CANCEL_WAIT	1.0

struct future_cb {
	asyncd_done_fn		 fn;
	void			*arg;
	struct future_cb	*next;
};

enum future_phase {
	FUTURE_SEND,
	FUTURE_RECV
};

struct asyncd_future {
	struct asyncd		*c;
	uint64_t		 id;
	int			 efd;		/* readable when done */

	/* The long poll; NULL aio: the future was complete when made. */
	nng_ctx			 ctx;
	nng_aio			*aio;		/* send and receive */
	nng_aio			*timer;		/* retry pauses */
	enum future_phase	 phase;
	char			*req;		/* encoded wait */
	struct client_poll	 poll;		/* the engine's state */

	/* The lock guards everything below it. */
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;		/* done; callbacks ran */
	bool			 done;
	bool			 stopping;	/* being freed */
	int			 err;		/* 0: see job */
	char			*errmsg;	/* why err, or NULL */
	struct asyncd_job	*job;		/* the finished job */
	struct future_cb	*cbs;		/* not run yet */
	struct future_cb	**cbs_tail;
	bool			 draining;	/* cbs being run */
	unsigned		 running;	/* callbacks run at once */
};

/*
 * The future whose callbacks this thread is running, so that freeing it
 * from one of them is caught (see "Lifetime" above).
 */
static __thread struct asyncd_future	*future_current;

static void	future_poll(struct asyncd_future *);
static void	future_next(struct asyncd_future *,
		    const struct client_poll_outcome *, struct proto_reply *);

/* Runs one user callback, noting whose it is. */
static void
future_call(struct asyncd_future *f, asyncd_done_fn fn, void *arg)
{
	struct asyncd_future	*prev = future_current;

	future_current = f;
	fn(f, arg);
	future_current = prev;
}

/*
 * Completes the future with err and its reason errmsg (allocated, or
 * NULL), or with the finished job; both are taken. Unless the future is
 * already complete: then they are freed. Then runs the queued callbacks
 * in this thread.
 */
static void
future_complete(struct asyncd_future *f, int err, char *errmsg,
    struct asyncd_job *job)
{
	struct future_cb	*cb;
	uint64_t		 one = 1;
	ssize_t			 n;

	pthread_mutex_lock(&f->lock);
	if (f->done) {
		pthread_mutex_unlock(&f->lock);
		asyncd_job_free(job);
		free(errmsg);
		return;
	}
	f->done = true;
	f->err = err;
	f->errmsg = errmsg;
	f->job = job;
	pthread_cond_broadcast(&f->cond);
	/* Cannot fail: the counter is far from overflowing. */
	n = write(f->efd, &one, sizeof one);
	(void)n;

	f->draining = true;
	while ((cb = f->cbs) != NULL) {
		if ((f->cbs = cb->next) == NULL)
			f->cbs_tail = &f->cbs;
		pthread_mutex_unlock(&f->lock);
		future_call(f, cb->fn, cb->arg);
		free(cb);
		pthread_mutex_lock(&f->lock);
	}
	f->draining = false;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Completes the future with an error and the engine's reason for it. */
static void
future_fail(struct asyncd_future *f, int err, const char *msg)
{
	char	*copy = NULL;

	/* Without memory for the reason, the error alone says enough. */
	if (msg != NULL && *msg != '\0')
		copy = strdup(msg);
	future_complete(f, err, copy, NULL);
}

/* Feeds the engine a failure to send (not sent) or to receive (sent). */
static void
future_lost(struct asyncd_future *f, int rv, bool sent)
{
	struct client_poll_outcome	o;

	memset(&o, 0, sizeof o);
	o.nng = rv;
	o.sent = sent;
	future_next(f, &o, NULL);
}

/* Starts the next poll, unless the future is done or being freed. */
static void
future_poll(struct asyncd_future *f)
{
	nng_msg	*msg;
	bool	 stop;

	pthread_mutex_lock(&f->lock);
	stop = f->done || f->stopping;
	pthread_mutex_unlock(&f->lock);
	if (stop)
		return;
	(void)client_poll_begin(&f->poll);
	if (nng_msg_alloc(&msg, 0) != 0) {
		future_lost(f, NNG_ENOMEM, false);
		return;
	}
	if (nng_msg_append(msg, f->req, strlen(f->req)) != 0) {
		nng_msg_free(msg);
		future_lost(f, NNG_ENOMEM, false);
		return;
	}
	/*
	 * The send waits for a connection as long as the daemon may be
	 * away; read each time, as the caller may change it. On the aio,
	 * per operation (see client_exchange): nng keeps the first timeout
	 * an aio inherits from its context.
	 */
	nng_aio_set_timeout(f->aio, client_connect_ms(f->c));
	f->phase = FUTURE_SEND;
	nng_aio_set_msg(f->aio, msg);
	/*
	 * If asyncd_future_free has stopped the aio meanwhile, this does
	 * nothing and the message stays in the aio for free to release.
	 */
	nng_ctx_send(f->ctx, f->aio);
}

/*
 * Does what the engine says after a poll; rep, if not NULL, is the decoded
 * reply that o->rep may point at, released here.
 */
static void
future_next(struct asyncd_future *f, const struct client_poll_outcome *o,
    struct proto_reply *rep)
{
	struct client_poll_outcome	 nomem;
	struct asyncd_job		*job;
	int				 rv;

	switch (client_poll_next(&f->poll, o)) {
	case CLIENT_POLL_DONE:
		rv = job_create(&rep->u.jobs.jobs[0], PROTO_JOB_RESULT, &job);
		proto_reply_fini(rep);
		if (rv != 0) {
			/* Our memory, not the daemon's: a pause may help. */
			memset(&nomem, 0, sizeof nomem);
			nomem.decode = ASYNCD_ENOMEM;
			future_next(f, &nomem, NULL);
		} else if (asyncd_job_state(job) == ASYNCD_UNKNOWN) {
			/* The daemon cannot answer for the id. */
			rv = asyncd_job_outcome(job);
			future_fail(f, rv, asyncd_job_error_message(job));
			asyncd_job_free(job);
		} else
			future_complete(f, 0, NULL, job);
		return;
	case CLIENT_POLL_NOW:
		if (rep != NULL)
			proto_reply_fini(rep);
		future_poll(f);
		return;
	case CLIENT_POLL_BACKOFF:
		if (rep != NULL)
			proto_reply_fini(rep);
		nng_sleep_aio(client_ms(f->poll.pause), f->timer);
		return;
	case CLIENT_POLL_FAIL:
		if (rep != NULL)
			proto_reply_fini(rep);
		future_fail(f, f->poll.err, f->poll.msg);
		return;
	}
}

/* The chain's aio callback, on an nng thread. */
static void
future_cb(void *arg)
{
	struct asyncd_future		*f = arg;
	struct client_poll_outcome	 o;
	struct proto_reply		 rep;
	nng_msg				*msg;
	int				 rv = nng_aio_result(f->aio);

	/* Stopped by asyncd_future_free: future_poll sees it and stops. */
	if (rv == NNG_ECANCELED) {
		if (f->phase == FUTURE_SEND) {
			nng_msg_free(nng_aio_get_msg(f->aio));
			nng_aio_set_msg(f->aio, NULL);
		}
		future_poll(f);
		return;
	}
	switch (f->phase) {
	case FUTURE_SEND:
		if (rv != 0) {
			/* A failed send leaves the message with us. */
			nng_msg_free(nng_aio_get_msg(f->aio));
			nng_aio_set_msg(f->aio, NULL);
			future_lost(f, rv, false);
			break;
		}
		client_note_sent(f->c);
		f->phase = FUTURE_RECV;
		nng_aio_set_timeout(f->aio,
		    client_timeout_ms(f->c, FUTURE_HOLD));
		nng_ctx_recv(f->ctx, f->aio);
		break;
	case FUTURE_RECV:
		if (rv != 0) {
			future_lost(f, rv, true);
			break;
		}
		msg = nng_aio_get_msg(f->aio);
		nng_aio_set_msg(f->aio, NULL);
		memset(&o, 0, sizeof o);
		o.decode = proto_reply_decode(PROTO_WAIT, nng_msg_body(msg),
		    nng_msg_len(msg), &rep);
		nng_msg_free(msg);
		if (o.decode == 0)
			o.rep = &rep;
		future_next(f, &o, o.decode == 0 ? &rep : NULL);
		break;
	}
}

/* The pause's end, on an nng thread: slept, or woken early by a cancel. */
static void
future_timer_cb(void *arg)
{
	future_poll(arg);
}

/* Frees what future_create made; the chain must not be running. */
static void
future_destroy(struct asyncd_future *f)
{
	struct future_cb	*cb, *next;

	if (f->aio != NULL) {
		(void)nng_ctx_close(f->ctx);
		nng_aio_free(f->aio);
	}
	if (f->timer != NULL)
		nng_aio_free(f->timer);
	for (cb = f->cbs; cb != NULL; cb = next) {
		next = cb->next;
		free(cb);
	}
	asyncd_job_free(f->job);
	free(f->errmsg);
	free(f->req);
	close(f->efd);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Makes the encoded poll and the context and aio that carry it. */
static int
future_chain_init(struct asyncd_future *f, const char *instance)
{
	struct proto_req	req;
	uint64_t		id = f->id;
	int			rv;

	memset(&req, 0, sizeof req);
	req.op = PROTO_WAIT;
	req.u.wait.ids = &id;
	req.u.wait.nids = 1;
	req.u.wait.timeout = FUTURE_HOLD;
	if ((rv = proto_req_encode(&req, &f->req)) != 0)
		return (rv);
	/* No deadline: the future follows the job until it finishes. */
	client_poll_init(&f->poll, f->c, INFINITY);
	f->poll.ids = &f->id;
	f->poll.nids = 1;
	f->poll.hold_max = FUTURE_HOLD;
	client_poll_instance(&f->poll, instance);
	if ((rv = client_ctx_open(f->c, &f->ctx)) != 0)
		return (rv);
	if (nng_aio_alloc(&f->aio, future_cb, f) != 0) {
		(void)nng_ctx_close(f->ctx);
		return (ASYNCD_ENOMEM);
	}
	if (nng_aio_alloc(&f->timer, future_timer_cb, f) != 0)
		return (ASYNCD_ENOMEM);
	/* Each operation sets its own timeout (future_poll, future_cb). */
	nng_aio_set_timeout(f->aio, NNG_DURATION_DEFAULT);
	return (0);
}

int
future_create(struct asyncd *c, uint64_t id, struct asyncd_job *done,
    const char *instance, struct asyncd_future **out)
{
	struct asyncd_future	*f;
	pthread_condattr_t	 attr;
	uint64_t		 one = 1;
	ssize_t			 n;
	int			 rv;

	if ((f = calloc(1, sizeof *f)) == NULL)
		return (ASYNCD_ENOMEM);
	f->c = c;
	f->id = id;
	f->cbs_tail = &f->cbs;
	/* No error code fits a lack of descriptors better. */
	if ((f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		free(f);
		return (ASYNCD_ENOMEM);
	}
	if (pthread_mutex_init(&f->lock, NULL) != 0) {
		close(f->efd);
		free(f);
		return (ASYNCD_ENOMEM);
	}
	/* Monotonic, so future_result's timeout ignores clock changes. */
	if (pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&f->cond, &attr) != 0) {
		pthread_mutex_destroy(&f->lock);
		close(f->efd);
		free(f);
		return (ASYNCD_ENOMEM);
	}
	pthread_condattr_destroy(&attr);

	if (done != NULL) {
		f->done = true;
		f->job = done;
		n = write(f->efd, &one, sizeof one);
		(void)n;
		*out = f;
		return (0);
	}
	if ((rv = future_chain_init(f, instance)) != 0) {
		future_destroy(f);
		return (rv);
	}
	future_poll(f);
	*out = f;
	return (0);
}

int
asyncd_run(struct asyncd *c, const char *type, const char *args_json,
    const struct asyncd_submit_opts *opts, struct asyncd_future **out)
{
	struct asyncd_job	*job;
	char			 instance[PROTO_MAX_INSTANCE + 1];
	uint64_t		 id;
	int			 rv;

	if ((rv = client_submit(c, type, args_json, opts, 0, &job, NULL,
	    instance)) != 0)
		return (rv);
	id = asyncd_job_id(job);
	/* A job that finished at once needs no long poll. */
	if (asyncd_job_done(job)) {
		if ((rv = future_create(c, id, job, NULL, out)) != 0)
			asyncd_job_free(job);
		return (rv);
	}
	asyncd_job_free(job);
	/* The job is the submitting daemon's: a restart loses it. */
	return (future_create(c, id, NULL, instance, out));
}

int
asyncd_future_open(struct asyncd *c, uint64_t id, struct asyncd_future **out)
{
	if (id == 0 || id > PROTO_ID_MAX)
		return (ASYNCD_EINVAL);
	return (future_create(c, id, NULL, NULL, out));
}

uint64_t
asyncd_future_id(const struct asyncd_future *f)
{
	return (f->id);
}

int
asyncd_future_result(struct asyncd_future *f, double timeout,
    const char **result)
{
	struct timespec	ts;
	double		whole;
	int		rv;

	pthread_mutex_lock(&f->lock);
	if (!f->done && timeout < 0) {
		while (!f->done)
			pthread_cond_wait(&f->cond, &f->lock);
	} else if (!f->done) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		/* Decades, and time_t cannot overflow. */
		if (timeout > 1e9)
			timeout = 1e9;
		timeout = modf(timeout, &whole);
		ts.tv_sec += (time_t)whole;
		ts.tv_nsec += (long)(timeout * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!f->done) {
			if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) ==
			    ETIMEDOUT)
				break;
		}
	}
	if (!f->done) {
		pthread_mutex_unlock(&f->lock);
		return (ASYNCD_ETIMEDOUT);
	}
	pthread_mutex_unlock(&f->lock);

	/* Done is final: err, errmsg and job no longer change. */
	client_set_errmsg(f->errmsg);
	if (f->err != 0)
		return (f->err);
	if ((rv = asyncd_job_outcome(f->job)) == 0 && result != NULL)
		*result = asyncd_job_result(f->job);
	return (rv);
}

bool
asyncd_future_done(struct asyncd_future *f)
{
	bool	done;

	pthread_mutex_lock(&f->lock);
	done = f->done;
	pthread_mutex_unlock(&f->lock);
	return (done);
}

bool
asyncd_future_cancelled(struct asyncd_future *f)
{
	const struct asyncd_job	*job = asyncd_future_job(f);

	return (job != NULL && asyncd_job_state(job) == ASYNCD_CANCELLED);
}

const struct asyncd_job *
asyncd_future_job(struct asyncd_future *f)
{
	struct asyncd_job	*job;

	pthread_mutex_lock(&f->lock);
	job = f->done ? f->job : NULL;
	pthread_mutex_unlock(&f->lock);
	return (job);
}

int
asyncd_future_cancel(struct asyncd_future *f)
{
	struct asyncd_job	*job;
	int			 rv;

	/* A future that saw its job finish knows the answer already. */
	if (asyncd_future_done(f))
		return (ASYNCD_EDONE);
	if ((rv = asyncd_cancel(f->c, f->id, FUTURE_CANCEL_WAIT, &job)) != 0)
		return (rv);
	if (asyncd_job_done(job)) {
		future_complete(f, 0, NULL, job);
		return (0);
	}
	asyncd_job_free(job);
	/*
	 * Still stopping. A poll in flight will see it finish; a chain
	 * pausing after an error is woken to poll now.
	 */
	if (f->timer != NULL)
		nng_aio_cancel(f->timer);
	return (0);
}

int
asyncd_future_add_done_callback(struct asyncd_future *f, asyncd_done_fn fn,
    void *arg)
{
	struct future_cb	*cb;

	if (fn == NULL)
		return (ASYNCD_EINVAL);
	if ((cb = calloc(1, sizeof *cb)) == NULL)
		return (ASYNCD_ENOMEM);
	cb->fn = fn;
	cb->arg = arg;
	pthread_mutex_lock(&f->lock);
	/* Queued while the completing thread still runs callbacks: order. */
	if (!f->done || f->draining) {
		*f->cbs_tail = cb;
		f->cbs_tail = &cb->next;
		pthread_mutex_unlock(&f->lock);
		return (0);
	}
	f->running++;
	pthread_mutex_unlock(&f->lock);
	free(cb);

	future_call(f, fn, arg);

	pthread_mutex_lock(&f->lock);
	f->running--;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return (0);
}

int
asyncd_future_fd(struct asyncd_future *f)
{
	return (f->efd);
}

void
asyncd_future_free(struct asyncd_future *f)
{
	nng_msg	*msg;

	if (f == NULL)
		return;
	/* From its own callback, nng_aio_stop would wait for itself. */
	assert(future_current != f &&
	    "asyncd_future_free called from the future's own callback");

	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_mutex_unlock(&f->lock);
	if (f->aio != NULL) {
		/* The timer first: its callback may start a send. */
		nng_aio_stop(f->timer);
		nng_aio_stop(f->aio);
		/* A send refused after the stop leaves its message here. */
		if ((msg = nng_aio_get_msg(f->aio)) != NULL) {
			nng_aio_set_msg(f->aio, NULL);
			nng_msg_free(msg);
		}
	}
	/* Callbacks running in other threads (a misuse, but cheap). */
	pthread_mutex_lock(&f->lock);
	while (f->draining || f->running > 0)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	future_destroy(f);
}
