/*
 * client.c: the client handle, struct asyncd, and every synchronous call of
 * libasyncd.
 *
 * Design notes.
 *
 * A handle is one nng REQ socket with one dialer. The dialer is started
 * non-blocking, so asyncd_open succeeds before the daemon is up; nng keeps
 * redialling in the background (every 10 ms at first, backing off to
 * 500 ms), and a request made meanwhile waits for the connection within
 * its own timeout. REQ resending is off: nng would otherwise send a request
 * again after 60 s without a reply, and a re-sent submit without a key
 * would run the job twice. The library keeps its own deadlines instead.
 *
 * Every request travels on its own nng context, so any number of threads
 * can use one handle at once. Opening a context per call would cost a
 * socket-wide lock and an id allocation each time, so finished contexts
 * (each with the aio that drives it) go back to a small free list,
 * client_slot_get and client_slot_put. A context whose exchange failed is
 * closed rather than reused: it may still hold the abandoned request.
 *
 * One lock, c->lock, guards the slot lists, the request timeout and the
 * count of requests in flight. It is never held across nng calls that
 * block. asyncd_close sets closing and closes the context of every request
 * in flight, which makes it fail at once with NNG_ECLOSED; then it waits
 * for the in-flight count to reach zero, and only then closes the socket
 * and frees anything. The order matters twice over: a thread inside a call
 * never touches freed memory, and no thread is inside an nng context call
 * when the socket goes. (nng 1.5.2 can panic if a socket is closed while
 * another thread is inside nng_ctx_send on one of its contexts: the
 * context's last reference is then dropped after the socket's lock is
 * gone.)
 *
 * Long polls. The daemon holds a wait for a few seconds at most and then
 * replies done:false; client_wait_loop asks again until the caller's own
 * deadline. Every request's reply timeout is the request timeout plus the
 * time it asked the daemon to hold it.
 *
 * A known hang. nng 1.5.2 can block for good in nng_close (and every later
 * close in the process) if a reply arrives on a REQ connection at the
 * moment that connection closes: the REQ pipe's receive aio is left
 * half-started and nng's reaper thread waits for it forever. asyncd_close
 * cannot rule that out entirely (a reply to a request that timed out, or
 * to a freed future's poll, may come at any time), but when no request is
 * outstanding, as when a program closes after its last call returned, no
 * reply can be in flight.
 *
 * Restarts. With resending off, nng fails a request whose connection drops
 * (NNG_ECONNRESET). A request that cannot do anything twice (reads, waits,
 * a submit with a key) is then sent again, within its deadline, as soon as
 * the dialer has reconnected: a long wait survives a daemon restart. Other
 * requests fail with ASYNCD_EUNREACHABLE, since the daemon may or may not
 * have acted on them.
 */
#include <sys/queue.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "client.h"

/* A few contexts cover the threads of a typical program; more are closed. */
#define CLIENT_POOL_MAX		8
/* Long enough for a daemon that is busy; short enough to notice a hang. */
#define CLIENT_TIMEOUT		10.0
/* Redial quickly at first: a daemon restart is the common case. */
#define CLIENT_RECONNMINT	10	/* ms */
#define CLIENT_RECONNMAXT	500	/* ms */
/* Room for the daemon's error message; longer ones are cut. */
#define CLIENT_ERRMSG_MAX	1024

/* A context and the aio that drives it, kept together for reuse. */
struct client_slot {
	nng_ctx			 ctx;
	nng_aio			*aio;
	bool			 closed;	/* by asyncd_close */
	LIST_ENTRY(client_slot)	 entry;		/* idle or busy */
};
LIST_HEAD(client_slots, client_slot);

struct asyncd {
	nng_socket		 sock;
	nng_dialer		 dialer;
	char			 url[PROTO_URL_MAX];

	/* The lock guards everything below it. */
	pthread_mutex_t		 lock;
	pthread_cond_t		 drained;	/* closing, inflight 0 */
	double			 timeout;	/* < 0: none */
	double			 connect;	/* < 0: as timeout */
	struct client_slots	 idle;		/* for the next request */
	size_t			 nidle;
	struct client_slots	 busy;		/* carrying a request */
	size_t			 inflight;	/* requests under way */
	bool			 closing;
};

/*
 * The daemon's message for the last error reply this thread received.
 * Thread-local, like errno, so that concurrent calls on one handle never
 * see each other's messages.
 */
static __thread char	client_errbuf[CLIENT_ERRMSG_MAX];

double
client_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

int
client_nng_err(int rv)
{
	switch (rv) {
	case 0:
		return (0);
	case NNG_ECLOSED:
	case NNG_ECANCELED:	/* only closing cancels a request */
		return (ASYNCD_ECLOSED);
	case NNG_ENOMEM:
		return (ASYNCD_ENOMEM);
	default:
		/* Timed out, refused, reset, no such socket file, ... */
		return (ASYNCD_EUNREACHABLE);
	}
}

/* Seconds to nng milliseconds, at least 1 so that 0 never means "poll". */
static nng_duration
client_ms(double seconds)
{
	double	ms;

	if (seconds < 0)
		return (NNG_DURATION_INFINITE);
	ms = ceil(seconds * 1000.0);
	if (ms < 1)
		return (1);
	if (ms > INT32_MAX)
		return (INT32_MAX);
	return ((nng_duration)ms);
}

nng_duration
client_timeout_ms(struct asyncd *c, double hold)
{
	double	timeout;

	pthread_mutex_lock(&c->lock);
	timeout = c->timeout;
	pthread_mutex_unlock(&c->lock);
	if (timeout < 0)
		return (NNG_DURATION_INFINITE);
	return (client_ms(timeout + hold));
}

int
client_ctx_open(struct asyncd *c, nng_ctx *ctx)
{
	int	rv;

	if ((rv = nng_ctx_open(ctx, c->sock)) != 0)
		return (rv == NNG_ENOMEM ? ASYNCD_ENOMEM : ASYNCD_ECLOSED);
	/* Contexts copy the socket's setting when opened; say it anyway. */
	(void)nng_ctx_set_ms(*ctx, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE);
	return (0);
}

static void
client_slot_free(struct client_slot *slot)
{
	if (!slot->closed)
		(void)nng_ctx_close(slot->ctx);
	nng_aio_free(slot->aio);
	free(slot);
}

static int
client_slot_create(struct asyncd *c, struct client_slot **out)
{
	struct client_slot	*slot;
	int			 rv;

	if ((slot = calloc(1, sizeof *slot)) == NULL)
		return (ASYNCD_ENOMEM);
	if (nng_aio_alloc(&slot->aio, NULL, NULL) != 0) {
		free(slot);
		return (ASYNCD_ENOMEM);
	}
	/* Each operation sets its own timeout (client_exchange). */
	nng_aio_set_timeout(slot->aio, NNG_DURATION_DEFAULT);
	if ((rv = client_ctx_open(c, &slot->ctx)) != 0) {
		nng_aio_free(slot->aio);
		free(slot);
		return (rv);
	}
	*out = slot;
	return (0);
}

/* Closes a busy slot's context, failing its request. Lock held. */
static void
client_slot_abort(struct client_slot *slot)
{
	if (!slot->closed) {
		slot->closed = true;
		(void)nng_ctx_close(slot->ctx);
	}
}

/*
 * Takes a context for one request, counting the request as in flight, and
 * sets *timeout to the request timeout it runs under.
 */
static int
client_slot_get(struct asyncd *c, struct client_slot **out, double *timeout,
    double *connect)
{
	struct client_slot	*slot;
	int			 rv;

	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		pthread_mutex_unlock(&c->lock);
		return (ASYNCD_ECLOSED);
	}
	c->inflight++;
	*timeout = c->timeout;
	*connect = c->connect >= 0 ? c->connect : c->timeout;
	if ((slot = LIST_FIRST(&c->idle)) != NULL) {
		LIST_REMOVE(slot, entry);
		c->nidle--;
		LIST_INSERT_HEAD(&c->busy, slot, entry);
	}
	pthread_mutex_unlock(&c->lock);
	if (slot != NULL) {
		*out = slot;
		return (0);
	}

	rv = client_slot_create(c, &slot);
	pthread_mutex_lock(&c->lock);
	if (rv != 0) {
		if (--c->inflight == 0 && c->closing)
			pthread_cond_broadcast(&c->drained);
		pthread_mutex_unlock(&c->lock);
		return (rv);
	}
	LIST_INSERT_HEAD(&c->busy, slot, entry);
	/* asyncd_close began meanwhile and could not see this one. */
	if (c->closing)
		client_slot_abort(slot);
	pthread_mutex_unlock(&c->lock);
	*out = slot;
	return (0);
}

/*
 * Returns a context; keep says whether its exchange finished cleanly.
 * Returns whether the client is closing, for the caller to explain a
 * failure with.
 */
static bool
client_slot_put(struct asyncd *c, struct client_slot *slot, bool keep)
{
	bool	closing;

	pthread_mutex_lock(&c->lock);
	closing = c->closing;
	LIST_REMOVE(slot, entry);
	/* While closing, asyncd_close frees every slot itself. */
	if (closing || (keep && c->nidle < CLIENT_POOL_MAX)) {
		LIST_INSERT_HEAD(&c->idle, slot, entry);
		c->nidle++;
		slot = NULL;
	}
	if (--c->inflight == 0 && closing)
		pthread_cond_broadcast(&c->drained);
	pthread_mutex_unlock(&c->lock);
	if (slot != NULL)
		client_slot_free(slot);
	return (closing);
}

/* Seconds left until deadline, for client_ms: -1 (none) if infinite. */
static double
client_left(double deadline)
{
	double	left;

	if (isinf(deadline))
		return (-1);
	left = deadline - client_now();
	return (left > 0 ? left : 0);
}

/*
 * One attempt at a request: sends text on a slot, waiting at most
 * send_max seconds (< 0: no limit) for a connection, and receives the
 * reply, all before deadline. Returns an nng error.
 */
static int
client_exchange(struct client_slot *slot, const char *text, double deadline,
    double send_max, nng_msg **reply)
{
	nng_msg	*msg;
	double	 left;
	int	 rv;

	if ((rv = nng_msg_alloc(&msg, 0)) != 0)
		return (rv);
	if ((rv = nng_msg_append(msg, text, strlen(text))) != 0) {
		nng_msg_free(msg);
		return (rv);
	}
	left = client_left(deadline);
	if (send_max >= 0 && (left < 0 || send_max < left))
		left = send_max;
	/*
	 * The timeout goes on the aio, for each operation: nng copies a
	 * context's SENDTIMEO or RECVTIMEO into an aio whose timeout is
	 * "default" when it is first used, and the copy sticks, so a reused
	 * aio would run every later operation under its first one's timeout
	 * (a long poll would give up after the connect timeout).
	 */
	nng_aio_set_timeout(slot->aio, client_ms(left));
	nng_aio_set_msg(slot->aio, msg);
	nng_ctx_send(slot->ctx, slot->aio);
	nng_aio_wait(slot->aio);
	if ((rv = nng_aio_result(slot->aio)) != 0) {
		/* A failed send leaves the message with us. */
		nng_msg_free(nng_aio_get_msg(slot->aio));
		nng_aio_set_msg(slot->aio, NULL);
		return (rv);
	}

	/* Waiting for the connection counted against the same deadline. */
	nng_aio_set_timeout(slot->aio, client_ms(client_left(deadline)));
	nng_ctx_recv(slot->ctx, slot->aio);
	nng_aio_wait(slot->aio);
	if ((rv = nng_aio_result(slot->aio)) != 0)
		return (rv);
	*reply = nng_aio_get_msg(slot->aio);
	nng_aio_set_msg(slot->aio, NULL);
	return (0);
}

/*
 * True if asking again cannot do anything twice: every read-only request,
 * and a submit with a key (PROTOCOL.md, "Keys").
 */
static bool
client_repeatable(const struct proto_req *req)
{
	switch (req->op) {
	case PROTO_PING:
	case PROTO_WAIT:
	case PROTO_STATUS:
	case PROTO_LIST:
	case PROTO_TYPES:
	case PROTO_STATS:
		return (true);
	case PROTO_SUBMIT:
		return (req->u.submit.key != NULL);
	default:
		return (false);
	}
}

int
client_request(struct asyncd *c, const struct proto_req *req, double hold,
    struct proto_reply *out)
{
	struct client_slot	*slot;
	struct timespec		 pause = { 0, 10 * 1000 * 1000 };
	nng_msg			*reply = NULL;
	char			*text;
	double			 timeout, connect, deadline = INFINITY;
	int			 rv;

	memset(out, 0, sizeof *out);
	client_errbuf[0] = '\0';
	if ((rv = proto_req_encode(req, &text)) != 0)
		return (rv);
	for (;;) {
		if ((rv = client_slot_get(c, &slot, &timeout,
		    &connect)) != 0) {
			free(text);
			return (rv);
		}
		if (isinf(deadline) && timeout >= 0)
			deadline = client_now() + timeout + hold;
		rv = client_exchange(slot, text, deadline, connect, &reply);
		if (client_slot_put(c, slot, rv == 0) && rv != 0) {
			free(text);
			return (ASYNCD_ECLOSED);
		}
		if (rv == 0)
			break;
		/*
		 * The connection dropped with the request in flight: the
		 * daemon died or restarted. Ask again, once it is back,
		 * if that is safe; the dialer is already redialling.
		 */
		if ((rv != NNG_ECONNRESET && rv != NNG_ECONNSHUT) ||
		    !client_repeatable(req) || client_now() >= deadline) {
			free(text);
			return (client_nng_err(rv));
		}
		nanosleep(&pause, NULL);
	}
	free(text);
	rv = proto_reply_decode(req->op, nng_msg_body(reply),
	    nng_msg_len(reply), out);
	nng_msg_free(reply);
	return (rv);
}

int
client_call(struct asyncd *c, const struct proto_req *req, double hold,
    struct proto_reply *out)
{
	int	rv;

	if ((rv = client_request(c, req, hold, out)) != 0)
		return (rv);
	if (out->err == 0)
		return (0);
	rv = out->err;
	snprintf(client_errbuf, sizeof client_errbuf, "%s",
	    out->message != NULL && *out->message != '\0' ? out->message :
	    asyncd_strerror(rv));
	proto_reply_fini(out);
	return (rv);
}

const char *
asyncd_errmsg(void)
{
	return (client_errbuf[0] != '\0' ? client_errbuf : NULL);
}

/* The deadline of a wait of timeout seconds; infinite if negative. */
static double
client_deadline(double timeout)
{
	if (timeout < 0 || isnan(timeout))
		return (INFINITY);
	return (client_now() + timeout);
}

/* How long the next long poll asks the daemon to hold it. */
static double
client_ask(double deadline)
{
	double	left;

	if (isinf(deadline))
		return (CLIENT_HOLD_MAX);
	if ((left = deadline - client_now()) <= 0)
		return (0);
	return (left < CLIENT_HOLD_MAX ? left : CLIENT_HOLD_MAX);
}

static bool
client_valid_id(uint64_t id)
{
	return (id >= 1 && id <= PROTO_ID_MAX);
}

/* True if a duration is one the protocol can carry. */
static bool
client_valid_seconds(double seconds)
{
	return (isfinite(seconds) && seconds >= 0 &&
	    seconds <= PROTO_MAX_SECONDS);
}

/* Turns decoded jobs into public ones; on failure nothing is set. */
static int
client_jobs_take(struct proto_job *pjs, size_t n, int flags,
    struct asyncd_job **jobs)
{
	size_t	i;
	int	rv;

	for (i = 0; i < n; i++) {
		if ((rv = job_create(&pjs[i], flags, &jobs[i])) != 0) {
			while (i-- > 0) {
				asyncd_job_free(jobs[i]);
				jobs[i] = NULL;
			}
			return (rv);
		}
	}
	return (0);
}

/*
 * Waits for jobs by re-issuing "wait" until the condition holds or the
 * deadline passes. On 0 or ASYNCD_ETIMEDOUT, jobs[] holds every job as the
 * last reply showed it; on other errors it is untouched.
 */
static int
client_wait_loop(struct asyncd *c, const uint64_t *ids, size_t n, bool any,
    double deadline, struct asyncd_job **jobs)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	struct proto_job	*pjs;
	size_t			 i, ndone;
	bool			 done;
	int			 rv;

	for (;;) {
		memset(&req, 0, sizeof req);
		req.op = PROTO_WAIT;
		req.u.wait.ids = (uint64_t *)ids;	/* only read */
		req.u.wait.nids = n;
		req.u.wait.any = any;
		req.u.wait.timeout = client_ask(deadline);
		if ((rv = client_call(c, &req, req.u.wait.timeout, &rep)) != 0)
			return (rv);
		pjs = rep.u.jobs.jobs;
		if (rep.u.jobs.njobs != n) {
			proto_reply_fini(&rep);
			return (ASYNCD_EPROTO);
		}
		for (i = ndone = 0; i < n; i++) {
			if (pjs[i].id != ids[i]) {
				proto_reply_fini(&rep);
				return (ASYNCD_EPROTO);
			}
			if (proto_state_terminal(pjs[i].state))
				ndone++;
		}
		/* The states decide; "done" says the same thing. */
		done = any ? ndone > 0 : ndone == n;
		if (done || client_now() >= deadline) {
			rv = client_jobs_take(pjs, n, PROTO_JOB_RESULT, jobs);
			proto_reply_fini(&rep);
			if (rv != 0)
				return (rv);
			return (done ? 0 : ASYNCD_ETIMEDOUT);
		}
		proto_reply_fini(&rep);
	}
}

int
asyncd_open(struct asyncd **out, const char *url)
{
	struct asyncd	*c;
	char		 buf[PROTO_URL_MAX];
	int		 rv;

	if (url == NULL) {
		if ((rv = proto_default_url(buf, sizeof buf)) != 0)
			return (rv);
		url = buf;
	}
	if (*url == '\0' || strlen(url) >= sizeof c->url)
		return (ASYNCD_EINVAL);
	if ((c = calloc(1, sizeof *c)) == NULL)
		return (ASYNCD_ENOMEM);
	strcpy(c->url, url);
	c->timeout = CLIENT_TIMEOUT;
	c->connect = -1;
	LIST_INIT(&c->idle);
	LIST_INIT(&c->busy);
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return (ASYNCD_ENOMEM);
	}
	if (pthread_cond_init(&c->drained, NULL) != 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return (ASYNCD_ENOMEM);
	}
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		rv = ASYNCD_ENOMEM;
		goto fail;
	}
	/* Replies have no size limit (PROTOCOL.md, "Transport"). */
	(void)nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 0);
	(void)nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE);
	if ((rv = nng_dialer_create(&c->dialer, c->sock, c->url)) != 0) {
		rv = rv == NNG_ENOMEM ? ASYNCD_ENOMEM : ASYNCD_EINVAL;
		goto close;
	}
	(void)nng_dialer_set_size(c->dialer, NNG_OPT_RECVMAXSZ, 0);
	(void)nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMINT,
	    CLIENT_RECONNMINT);
	(void)nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMAXT,
	    CLIENT_RECONNMAXT);
	/* Non-blocking: connect in the background, daemon up or not. */
	if ((rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		rv = rv == NNG_ENOMEM ? ASYNCD_ENOMEM : ASYNCD_EINVAL;
		goto close;
	}
	*out = c;
	return (0);
close:
	nng_close(c->sock);
fail:
	pthread_cond_destroy(&c->drained);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return (rv);
}

void
asyncd_close(struct asyncd *c)
{
	struct client_slot	*slot;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	/* Every request in flight now fails with NNG_ECLOSED. */
	LIST_FOREACH(slot, &c->busy, entry)
		client_slot_abort(slot);
	while (c->inflight > 0)
		pthread_cond_wait(&c->drained, &c->lock);
	pthread_mutex_unlock(&c->lock);

	while ((slot = LIST_FIRST(&c->idle)) != NULL) {
		LIST_REMOVE(slot, entry);
		client_slot_free(slot);
	}
	/* No thread is inside a context call any more (see above). */
	nng_close(c->sock);
	pthread_cond_destroy(&c->drained);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *
asyncd_url(const struct asyncd *c)
{
	return (c->url);
}

void
asyncd_set_request_timeout(struct asyncd *c, double seconds)
{
	if (isnan(seconds))
		return;
	pthread_mutex_lock(&c->lock);
	c->timeout = seconds < 0 ? -1 : seconds;
	pthread_mutex_unlock(&c->lock);
}

void
asyncd_set_connect_timeout(struct asyncd *c, double seconds)
{
	if (isnan(seconds))
		return;
	pthread_mutex_lock(&c->lock);
	c->connect = seconds < 0 ? -1 : seconds;
	pthread_mutex_unlock(&c->lock);
}

int
asyncd_ping(struct asyncd *c, char **version, char **events, int64_t *pid)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	int			 rv;

	memset(&req, 0, sizeof req);
	req.op = PROTO_PING;
	if ((rv = client_call(c, &req, 0, &rep)) != 0)
		return (rv);
	/* Taken from the reply, so nothing here can fail. */
	if (version != NULL) {
		*version = rep.u.ping.version;
		rep.u.ping.version = NULL;
	}
	if (events != NULL) {
		*events = rep.u.ping.events;
		rep.u.ping.events = NULL;
	}
	if (pid != NULL)
		*pid = rep.u.ping.pid;
	proto_reply_fini(&rep);
	return (0);
}

int
client_submit(struct asyncd *c, const char *type, const char *args_json,
    const struct asyncd_submit_opts *opts, double wait,
    struct asyncd_job **job, bool *created)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	cJSON			*args = NULL;
	size_t			 len;
	int			 rv;

	if (type == NULL || (len = strlen(type)) == 0 || len > PROTO_MAX_TYPE)
		return (ASYNCD_EINVAL);
	memset(&req, 0, sizeof req);
	req.op = PROTO_SUBMIT;
	req.u.submit.type = (char *)type;	/* only read */
	req.u.submit.wait = wait;
	if (opts != NULL) {
		if (opts->key != NULL && ((len = strlen(opts->key)) == 0 ||
		    len > PROTO_MAX_KEY))
			return (ASYNCD_EINVAL);
		if (!client_valid_seconds(opts->timeout))
			return (ASYNCD_EINVAL);
		req.u.submit.key = (char *)opts->key;
		req.u.submit.timeout = opts->timeout;
	}
	if (args_json != NULL) {
		/* Whitespace may follow the value, nothing else. */
		if ((args = cJSON_ParseWithOpts(args_json, NULL, true)) ==
		    NULL)
			return (ASYNCD_EINVAL);
		req.u.submit.args = args;
	}
	rv = client_call(c, &req, wait, &rep);
	cJSON_Delete(args);
	if (rv != 0)
		return (rv);
	rv = job_create(&rep.u.submit.job, PROTO_JOB_RESULT, job);
	if (rv == 0 && created != NULL)
		*created = rep.u.submit.created;
	proto_reply_fini(&rep);
	return (rv);
}

int
asyncd_submit(struct asyncd *c, const char *type, const char *args_json,
    const struct asyncd_submit_opts *opts, uint64_t *id, bool *created)
{
	struct asyncd_job	*job;
	int			 rv;

	if ((rv = client_submit(c, type, args_json, opts, 0, &job,
	    created)) != 0)
		return (rv);
	*id = asyncd_job_id(job);
	asyncd_job_free(job);
	return (0);
}

int
asyncd_call(struct asyncd *c, const char *type, const char *args_json,
    const struct asyncd_submit_opts *opts, double timeout,
    struct asyncd_job **job)
{
	struct asyncd_job	*j;
	double			 deadline = client_deadline(timeout);
	uint64_t		 id;
	int			 rv;

	/* Submit and wait in one round trip; most jobs are quick. */
	if ((rv = client_submit(c, type, args_json, opts, client_ask(deadline),
	    &j, NULL)) != 0)
		return (rv);
	if (asyncd_job_done(j) || client_now() >= deadline) {
		*job = j;
		return (asyncd_job_done(j) ? 0 : ASYNCD_ETIMEDOUT);
	}
	id = asyncd_job_id(j);
	asyncd_job_free(j);
	return (client_wait_loop(c, &id, 1, false, deadline, job));
}

int
asyncd_wait(struct asyncd *c, uint64_t id, double timeout,
    struct asyncd_job **job)
{
	struct asyncd_job	*j;
	int			 rv;

	if (!client_valid_id(id))
		return (ASYNCD_EINVAL);
	rv = client_wait_loop(c, &id, 1, false, client_deadline(timeout), &j);
	if (rv == ASYNCD_ETIMEDOUT)
		asyncd_job_free(j);
	else if (rv == 0)
		*job = j;
	return (rv);
}

static int
client_wait_distinct(struct asyncd *c, const uint64_t *ids, size_t n,
    int mode, double timeout, struct asyncd_job **jobs);

struct client_idx {
	uint64_t	id;
	size_t		i;
};

static int
client_idx_cmp(const void *a, const void *b)
{
	const struct client_idx	*x = a, *y = b;

	if (x->id != y->id)
		return ((x->id > y->id) - (x->id < y->id));
	return ((x->i > y->i) - (x->i < y->i));
}

/*
 * The daemon refuses a wait naming a job twice; a caller may not know or
 * care (ids from a script). So repeated ids are waited on once, and each
 * repeat gets its own copy of the job.
 */
int
asyncd_wait_many(struct asyncd *c, const uint64_t *ids, size_t n,
    int mode, double timeout, struct asyncd_job **jobs)
{
	struct client_idx	*idx;
	struct asyncd_job	**got = NULL;
	uint64_t		*uniq = NULL;
	size_t			*rep = NULL, *slot = NULL, nuniq = 0, i, f = 0;
	int			 rv, rv2;

	if (n < 2)
		return (client_wait_distinct(c, ids, n, mode, timeout, jobs));
	if ((idx = calloc(n, sizeof *idx)) == NULL)
		return (ASYNCD_ENOMEM);
	for (i = 0; i < n; i++) {
		idx[i].id = ids[i];
		idx[i].i = i;
	}
	/* By id, then position: each run of an id starts at its first. */
	qsort(idx, n, sizeof *idx, client_idx_cmp);
	for (i = 1; i < n && idx[i].id != idx[i - 1].id; i++)
		continue;
	if (i == n) {			/* all distinct: the common case */
		free(idx);
		return (client_wait_distinct(c, ids, n, mode, timeout, jobs));
	}

	rv = ASYNCD_ENOMEM;
	if ((rep = calloc(n, sizeof *rep)) == NULL ||
	    (slot = calloc(n, sizeof *slot)) == NULL ||
	    (uniq = calloc(n, sizeof *uniq)) == NULL ||
	    (got = calloc(n, sizeof *got)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (i == 0 || idx[i].id != idx[i - 1].id)
			f = idx[i].i;
		rep[idx[i].i] = f;	/* where the id first appears */
	}
	for (i = 0; i < n; i++) {
		if (rep[i] == i) {
			slot[i] = nuniq;
			uniq[nuniq++] = ids[i];
		}
	}
	rv = client_wait_distinct(c, uniq, nuniq, mode, timeout, got);
	if (rv != 0 && rv != ASYNCD_ETIMEDOUT)
		goto out;
	for (i = 0; i < n; i++) {
		if (rep[i] == i) {
			jobs[i] = got[slot[i]];
			got[slot[i]] = NULL;
		} else if ((rv2 = job_dup(jobs[rep[i]], &jobs[i])) != 0) {
			while (i-- > 0)
				asyncd_job_free(jobs[i]);
			rv = rv2;
			goto out;
		}
	}
out:
	if (got != NULL) {
		for (i = 0; i < nuniq; i++)
			asyncd_job_free(got[i]);
	}
	free(idx);
	free(rep);
	free(slot);
	free(uniq);
	free(got);
	return (rv);
}

static int
client_wait_distinct(struct asyncd *c, const uint64_t *ids, size_t n,
    int mode, double timeout, struct asyncd_job **jobs)
{
	double	deadline = client_deadline(timeout);
	size_t	i, off, len;
	int	rv, result = 0;

	if (n == 0 || (mode == ASYNCD_WAIT_ANY && n > PROTO_MAX_IDS) ||
	    (mode != ASYNCD_WAIT_ALL && mode != ASYNCD_WAIT_ANY))
		return (ASYNCD_EINVAL);
	for (i = 0; i < n; i++) {
		if (!client_valid_id(ids[i]))
			return (ASYNCD_EINVAL);
	}
	if (mode == ASYNCD_WAIT_ANY)
		return (client_wait_loop(c, ids, n, true, deadline, jobs));

	/*
	 * All of them: a request names at most PROTO_MAX_IDS, so wait for
	 * one slice after another under the one deadline. Once it has
	 * passed, the rest are only looked at (a zero wait), so that every
	 * jobs[i] is set on ASYNCD_ETIMEDOUT too.
	 */
	for (off = 0; off < n; off += len) {
		len = n - off < PROTO_MAX_IDS ? n - off : PROTO_MAX_IDS;
		rv = client_wait_loop(c, ids + off, len, false,
		    result == 0 ? deadline : client_now(), jobs + off);
		if (rv == ASYNCD_ETIMEDOUT)
			result = rv;
		else if (rv != 0) {
			for (i = 0; i < off; i++) {
				asyncd_job_free(jobs[i]);
				jobs[i] = NULL;
			}
			return (rv);
		}
	}
	return (result);
}

int
asyncd_status(struct asyncd *c, uint64_t id, struct asyncd_job **job)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	int			 rv;

	if (!client_valid_id(id))
		return (ASYNCD_EINVAL);
	memset(&req, 0, sizeof req);
	req.op = PROTO_STATUS;
	req.u.status = id;
	if ((rv = client_call(c, &req, 0, &rep)) != 0)
		return (rv);
	rv = job_create(&rep.u.job, PROTO_JOB_ARGS | PROTO_JOB_RESULT, job);
	proto_reply_fini(&rep);
	return (rv);
}

int
asyncd_cancel(struct asyncd *c, uint64_t id, double timeout,
    struct asyncd_job **job)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	struct asyncd_job	*j;
	double			 deadline = client_deadline(timeout);
	int			 rv;

	if (!client_valid_id(id))
		return (ASYNCD_EINVAL);
	memset(&req, 0, sizeof req);
	req.op = PROTO_CANCEL;
	req.u.cancel.id = id;
	req.u.cancel.wait = client_ask(deadline);
	if ((rv = client_call(c, &req, req.u.cancel.wait, &rep)) != 0)
		return (rv);
	rv = job_create(&rep.u.job, PROTO_JOB_RESULT, &j);
	proto_reply_fini(&rep);
	if (rv != 0)
		return (rv);
	/* The cancel is delivered; wait out the rest of the time for it. */
	if (!asyncd_job_done(j) && client_now() < deadline) {
		asyncd_job_free(j);
		rv = client_wait_loop(c, &id, 1, false, deadline, &j);
		if (rv != 0 && rv != ASYNCD_ETIMEDOUT)
			return (rv);
	}
	if (job != NULL)
		*job = j;
	else
		asyncd_job_free(j);
	return (0);
}

int
asyncd_list(struct asyncd *c, const struct asyncd_list_opts *opts,
    struct asyncd_job ***jobs, size_t *n, bool *more)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	struct asyncd_job	**out = NULL;
	size_t			 len;
	int			 rv;

	memset(&req, 0, sizeof req);
	req.op = PROTO_LIST;
	req.u.list.state = -1;
	if (opts != NULL) {
		if (opts->state < -1 || opts->state >= PROTO_STATE_COUNT ||
		    opts->limit > PROTO_LIST_MAX ||
		    (opts->before != 0 && !client_valid_id(opts->before)))
			return (ASYNCD_EINVAL);
		if (opts->type != NULL && ((len = strlen(opts->type)) == 0 ||
		    len > PROTO_MAX_TYPE))
			return (ASYNCD_EINVAL);
		req.u.list.state = opts->state;
		req.u.list.type = (char *)opts->type;	/* only read */
		req.u.list.before = opts->before;
		req.u.list.limit = opts->limit;
	}
	if ((rv = client_call(c, &req, 0, &rep)) != 0)
		return (rv);
	if (rep.u.jobs.njobs > 0) {
		out = calloc(rep.u.jobs.njobs, sizeof *out);
		if (out == NULL || (rv = client_jobs_take(rep.u.jobs.jobs,
		    rep.u.jobs.njobs, 0, out)) != 0) {
			free(out);
			proto_reply_fini(&rep);
			return (ASYNCD_ENOMEM);
		}
	}
	*jobs = out;
	*n = rep.u.jobs.njobs;
	if (more != NULL)
		*more = rep.u.jobs.more;
	proto_reply_fini(&rep);
	return (0);
}

int
asyncd_types(struct asyncd *c, char ***names, char ***descriptions,
    size_t *n)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	struct proto_type_info	*t;
	char			**nv = NULL, **dv = NULL;
	size_t			 i, count;
	int			 rv;

	memset(&req, 0, sizeof req);
	req.op = PROTO_TYPES;
	if ((rv = client_call(c, &req, 0, &rep)) != 0)
		return (rv);
	count = rep.u.types.ntypes;
	if (count > 0) {
		nv = calloc(count, sizeof *nv);
		dv = calloc(count, sizeof *dv);
		if (nv == NULL || dv == NULL)
			goto nomem;
		for (i = 0; i < count; i++) {
			t = &rep.u.types.types[i];
			if (t->description == NULL &&
			    (t->description = strdup("")) == NULL)
				goto nomem;
		}
		/* Every allocation is done: take the strings. */
		for (i = 0; i < count; i++) {
			t = &rep.u.types.types[i];
			nv[i] = t->name;
			dv[i] = t->description;
			t->name = t->description = NULL;
		}
	}
	proto_reply_fini(&rep);
	*names = nv;
	*descriptions = dv;
	*n = count;
	return (0);
nomem:
	free(nv);
	free(dv);
	proto_reply_fini(&rep);
	return (ASYNCD_ENOMEM);
}

int
asyncd_stats(struct asyncd *c, struct asyncd_stats *stats)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	struct proto_stats	*st = &rep.u.stats;
	int			 rv;

	memset(&req, 0, sizeof req);
	req.op = PROTO_STATS;
	if ((rv = client_call(c, &req, 0, &rep)) != 0)
		return (rv);
	memset(stats, 0, sizeof *stats);
	stats->queued = st->counts[PROTO_QUEUED];
	stats->running = st->counts[PROTO_RUNNING];
	stats->succeeded = st->counts[PROTO_SUCCEEDED];
	stats->failed = st->counts[PROTO_FAILED];
	stats->cancelled = st->counts[PROTO_CANCELLED];
	stats->timed_out = st->counts[PROTO_TIMED_OUT];
	stats->submitted = st->submitted;
	stats->finished = st->finished;
	stats->uptime = st->uptime;
	stats->max_running = st->max_running;
	stats->max_queued = st->max_queued;
	proto_reply_fini(&rep);
	return (0);
}

int
asyncd_shutdown(struct asyncd *c)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	int			 rv;

	memset(&req, 0, sizeof req);
	req.op = PROTO_SHUTDOWN;
	if ((rv = client_call(c, &req, 0, &rep)) != 0)
		return (rv);
	proto_reply_fini(&rep);
	return (0);
}
