/*
 * client.c: the client handle, struct asyncd, and every synchronous call of
 * libasyncd.
 *
 * Design notes.
 *
 * Two transports. On an ipc:// URL, synchronous requests travel on
 * connections of the handle's own, speaking nng's bytes from the
 * caller's thread (direct.c: a third of the CPU and a quarter less round
 * trip than through nng's threads); futures, and every request on other
 * URLs, go through one nng REQ socket with one dialer, opened at
 * asyncd_open, or for a direct handle at its first future. The dialer is
 * started non-blocking, so asyncd_open succeeds before the daemon is up;
 * nng keeps redialling in the background (every 10 ms at first, backing
 * off to 500 ms), and a request made meanwhile waits for the connection
 * within its own timeout; a direct request tries to connect at the same
 * pace within the same timeout. REQ resending is off: nng would otherwise
 * send a request again after 60 s without a reply, and a re-sent submit
 * without a key would run the job twice. The library keeps its own
 * deadlines instead.
 *
 * Every request travels on its own slot: an nng context, or a direct
 * connection, so any number of threads can use one handle at once.
 * Opening a context per call would cost a socket-wide lock and an id
 * allocation each time (a connection, a connect and the daemon's accept),
 * so finished slots (each context with the aio that drives it) go back to
 * a small free list, client_slot_get and client_slot_put. A slot whose
 * exchange failed is closed rather than reused: it may still hold the
 * abandoned request.
 *
 * One lock, c->lock, guards the slot lists, the request timeout and the
 * count of requests in flight, and a direct slot's descriptor whenever it
 * changes. It is never held across calls that block. asyncd_close sets
 * closing and aborts every request in flight (closing its context, or
 * shutting down its connection and waking its pauses), which makes it
 * fail at once with NNG_ECLOSED; then it waits
 * for the in-flight count to reach zero, and only then closes the socket
 * and frees anything. The order matters twice over: a thread inside a call
 * never touches freed memory, and no thread is inside an nng context call
 * when the socket goes. (nng 1.5.2 can panic if a socket is closed while
 * another thread is inside nng_ctx_send on one of its contexts: the
 * context's last reference is then dropped after the socket's lock is
 * gone.)
 *
 * Long polls. The daemon holds a wait for a few seconds at most and then
 * replies done:false; the caller asks again until its own deadline. Every
 * request's reply timeout is the request timeout plus the time it asked
 * the daemon to hold it. Two kinds of caller poll: client_wait_loop, in
 * the caller's thread, and a future's aio chain (future.c), on nng's
 * threads. Both hand the outcome of each poll to one function,
 * client_poll_next, and do what it answers, so the rule lives here:
 *
 * - a wait reply that meets the condition (all jobs finished, or one with
 *   "any"; an entry the daemon could not answer for counts as finished):
 *   DONE;
 * - one that does not: NOW, poll again at once (the daemon held it); once
 *   the caller's deadline has passed, FAIL with ASYNCD_ETIMEDOUT, the
 *   reply showing the jobs as they stand;
 * - an error reply that may pass (busy, shutting_down, internal,
 *   no_memory), a reply this side had no memory to read, nng out of
 *   memory: BACKOFF, a pause of 10 ms doubling to 1 s, cut to the
 *   deadline; at the deadline, FAIL with that error;
 * - the connection dropped (the daemon died or is restarting) or no
 *   connection yet: BACKOFF while the daemon has been unreachable for less
 *   than the connect timeout and the deadline has not passed, else FAIL
 *   with ASYNCD_EUNREACHABLE. The run of failures is timed from the drop,
 *   or from the start of a poll that never found a connection;
 * - a request sent that got no reply within the request timeout (plus its
 *   hold): FAIL with ASYNCD_EUNREACHABLE: the daemon is there but stuck;
 * - unknown_job, permission_denied, any other error reply, a malformed
 *   reply, the client closed: FAIL with it.
 *
 * Output polls (lib/output.c) take the same road with one id and their own
 * condition: an "output" reply that carries bytes, or says the job is
 * done and its log read to the end, is DONE; an empty one is NOW, or at
 * the deadline FAIL with ASYNCD_ETIMEDOUT, the reply in hand. A follower
 * keeps one struct client_poll from its first read to the wait that ends
 * it, so a restart anywhere in between is seen.
 *
 * Instances. Every reply names the daemon's instance, new at each start.
 * The engine keeps the first one it sees for a wait (or the one of the
 * submit or cancel reply that led to the wait); a later reply from
 * another instance means the daemon restarted and the job ids now mean
 * the new daemon's jobs, if any: FAIL with ASYNCD_EUNKNOWNJOB and a message
 * that says so, rather than report a stranger's job. A reply without an
 * instance, after one with, counts as another instance too.
 *
 * Single requests (client_request) go through the same engine with no
 * condition: any reply is DONE, and a dropped connection is retried only
 * for a request that cannot do anything twice (see "Restarts").
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
 * a submit with a key) is then sent again, within its deadline and the
 * connect timeout, after the engine's pause: a long wait survives a quick
 * restart of the same daemon's connection, and fails (see "Instances")
 * if the daemon that answers is a new one. Other requests fail with
 * ASYNCD_EUNREACHABLE, since the daemon may or may not have acted on them.
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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
/*
 * Pauses between polls after a transient failure: quick for a blip, and at
 * most a second for a daemon that is restarting or busy, so that the
 * client notices it is back within a second without hammering it.
 */
#define CLIENT_BACKOFF_MIN	0.010
#define CLIENT_BACKOFF_MAX	1.0

/*
 * A context and the aio that drives it, kept together for reuse; or, on a
 * direct client, a connection of its own.
 */
struct client_slot {
	nng_ctx			 ctx;
	nng_aio			*aio;
	struct direct		 direct;	/* if the handle is direct */
	bool			 closed;	/* by asyncd_close */
	LIST_ENTRY(client_slot)	 entry;		/* idle or busy */
};
LIST_HEAD(client_slots, client_slot);

struct asyncd {
	nng_socket		 sock;		/* once sock_open */
	nng_dialer		 dialer;
	char			 url[PROTO_URL_MAX];
	/* Direct: requests on connections of their own (direct.c). */
	bool			 direct;
	char			 path[PROTO_URL_MAX];

	/* The lock guards everything below it. */
	pthread_mutex_t		 lock;
	pthread_cond_t		 drained;	/* closing, inflight 0 */
	pthread_cond_t		 wake;		/* a direct abort */
	bool			 sock_open;	/* nng's socket and dialer */
	atomic_uint_least64_t	 sent;		/* client_sent */
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

void
client_set_errmsg(const char *msg)
{
	if (msg == NULL)
		client_errbuf[0] = '\0';
	else
		snprintf(client_errbuf, sizeof client_errbuf, "%s", msg);
}

/* Seconds to nng milliseconds, at least 1 so that 0 never means "poll". */
nng_duration
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

/* The request timeout in seconds; negative: none. */
static double
client_timeout(struct asyncd *c)
{
	double	timeout;

	pthread_mutex_lock(&c->lock);
	timeout = c->timeout;
	pthread_mutex_unlock(&c->lock);
	return (timeout);
}

/* The connect timeout in seconds; negative: none. */
static double
client_connect(struct asyncd *c)
{
	double	connect;

	pthread_mutex_lock(&c->lock);
	connect = c->connect >= 0 ? c->connect : c->timeout;
	pthread_mutex_unlock(&c->lock);
	return (connect);
}

nng_duration
client_timeout_ms(struct asyncd *c, double hold)
{
	double	timeout = client_timeout(c);

	if (timeout < 0)
		return (NNG_DURATION_INFINITE);
	return (client_ms(timeout + hold));
}

nng_duration
client_connect_ms(struct asyncd *c)
{
	return (client_ms(client_connect(c)));
}

static int	client_sock_new(const char *, nng_socket *, nng_dialer *);
static void	client_close_sock(nng_socket);

/*
 * A direct client starts nng only for what needs it, a future: the first
 * one opens the socket, outside the lock (nng starts its threads there,
 * and a failed open closes a socket), and the first to finish keeps it.
 */
static int
client_sock_ensure(struct asyncd *c)
{
	nng_socket	sock;
	nng_dialer	dialer;
	bool		open, closing, extra = true;
	int		rv;

	pthread_mutex_lock(&c->lock);
	open = c->sock_open;
	closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	if (closing)
		return (ASYNCD_ECLOSED);
	if (open)
		return (0);
	if ((rv = client_sock_new(c->url, &sock, &dialer)) != 0)
		return (rv);
	pthread_mutex_lock(&c->lock);
	if (!c->sock_open && !c->closing) {
		c->sock = sock;
		c->dialer = dialer;
		c->sock_open = true;
		extra = false;
	}
	closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	if (extra)
		client_close_sock(sock);
	return (closing ? ASYNCD_ECLOSED : 0);
}

int
client_ctx_open(struct asyncd *c, nng_ctx *ctx)
{
	int	rv;

	if ((rv = client_sock_ensure(c)) != 0)
		return (rv);
	if ((rv = nng_ctx_open(ctx, c->sock)) != 0)
		return (rv == NNG_ENOMEM ? ASYNCD_ENOMEM : ASYNCD_ECLOSED);
	/* Contexts copy the socket's setting when opened; say it anyway. */
	(void)nng_ctx_set_ms(*ctx, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE);
	return (0);
}

static void
client_slot_free(struct asyncd *c, struct client_slot *slot)
{
	if (c->direct)
		direct_close(&slot->direct);
	else {
		if (!slot->closed)
			(void)nng_ctx_close(slot->ctx);
		nng_aio_free(slot->aio);
	}
	free(slot);
}

static int
client_slot_create(struct asyncd *c, struct client_slot **out)
{
	struct client_slot	*slot;
	int			 rv;

	if ((slot = calloc(1, sizeof *slot)) == NULL)
		return (ASYNCD_ENOMEM);
	if (c->direct) {
		direct_init(&slot->direct);
		*out = slot;
		return (0);
	}
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
client_slot_abort(struct asyncd *c, struct client_slot *slot)
{
	if (slot->closed)
		return;
	slot->closed = true;
	if (c->direct) {
		direct_abort(&slot->direct);
		pthread_cond_broadcast(&c->wake);
	} else
		(void)nng_ctx_close(slot->ctx);
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
		client_slot_abort(c, slot);
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
		client_slot_free(c, slot);
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
 * reply, all before deadline. Returns an nng error; *sent says whether the
 * request went out.
 */
static int
client_exchange(struct asyncd *c, struct client_slot *slot, const char *text,
    double deadline, double send_max, nng_msg **reply, bool *sent)
{
	struct direct_guard	 g = { &c->lock, &c->wake, &slot->closed,
				    &c->sent };
	nng_msg			*msg;
	double			 left;
	int			 rv;

	if (c->direct)
		return (direct_exchange(&slot->direct, &g, c->path, text,
		    deadline, send_max, reply, sent));
	*sent = false;
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
	*sent = true;
	atomic_fetch_add(&c->sent, 1);

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
	case PROTO_OUTPUT:
		return (true);
	case PROTO_SUBMIT:
		return (req->u.submit.key != NULL);
	default:
		return (false);
	}
}

/* ---- The long-poll engine (see "Long polls" above). */

void
client_poll_init(struct client_poll *p, struct asyncd *c, double deadline)
{
	double	connect = client_connect(c);

	memset(p, 0, sizeof *p);
	p->repeatable = true;
	p->deadline = deadline;
	p->hold_max = CLIENT_HOLD_MAX;
	p->connect = connect < 0 ? INFINITY : connect;
	p->down_since = -1;
	p->backoff = CLIENT_BACKOFF_MIN;
}

void
client_poll_instance(struct client_poll *p, const char *instance)
{
	if (p->instance[0] == '\0' && instance != NULL)
		snprintf(p->instance, sizeof p->instance, "%s", instance);
}

double
client_poll_begin(struct client_poll *p)
{
	double	left;

	p->started = client_now();
	if (isinf(p->deadline))
		return (p->hold_max);
	if ((left = p->deadline - p->started) <= 0)
		return (0);
	return (left < p->hold_max ? left : p->hold_max);
}

static enum client_poll_next
client_poll_fail(struct client_poll *p, int err, const char *msg)
{
	p->err = err;
	snprintf(p->msg, sizeof p->msg, "%s", msg != NULL ? msg : "");
	return (CLIENT_POLL_FAIL);
}

/* Pauses before the next poll: the backoff, cut to the deadline. */
static enum client_poll_next
client_poll_backoff(struct client_poll *p, double now)
{
	double	left = p->deadline - now;

	p->pause = p->backoff;
	if (p->pause > left)
		p->pause = left > 0 ? left : 0;
	p->backoff *= 2;
	if (p->backoff > CLIENT_BACKOFF_MAX)
		p->backoff = CLIENT_BACKOFF_MAX;
	return (CLIENT_POLL_BACKOFF);
}

/* An error that may pass: again after a pause, or err at the deadline. */
static enum client_poll_next
client_poll_transient(struct client_poll *p, int err, const char *msg,
    double now)
{
	if (now >= p->deadline)
		return (client_poll_fail(p, err, msg));
	return (client_poll_backoff(p, now));
}

/* The exchange failed in nng: sent or not, the daemon may be away. */
static enum client_poll_next
client_poll_lost(struct client_poll *p, int rv, bool sent, double now)
{
	switch (rv) {
	case NNG_ECLOSED:
	case NNG_ECANCELED:	/* only closing cancels a request */
		return (client_poll_fail(p, ASYNCD_ECLOSED, NULL));
	case NNG_ENOMEM:
		/* Asking again may do it twice. */
		if (sent && !p->repeatable)
			return (client_poll_fail(p, ASYNCD_ENOMEM, NULL));
		return (client_poll_transient(p, ASYNCD_ENOMEM, NULL, now));
	case NNG_ETIMEDOUT:
		/* Connected, asked, and no answer: the daemon is stuck. */
		if (sent)
			return (client_poll_fail(p, ASYNCD_EUNREACHABLE,
			    "no reply within the request timeout"));
		break;
	default:
		break;
	}
	/*
	 * No connection (the send found none in time) or it dropped (the
	 * daemon died or is restarting). A drop starts the run of failures
	 * now; a send that waited in vain, when it began.
	 */
	if (p->down_since < 0)
		p->down_since = sent ? now : p->started;
	if (sent && !p->repeatable)
		return (client_poll_fail(p, ASYNCD_EUNREACHABLE,
		    "the connection to the daemon dropped"));
	if (now - p->down_since >= p->connect || now >= p->deadline)
		return (client_poll_fail(p, ASYNCD_EUNREACHABLE, NULL));
	return (client_poll_backoff(p, now));
}

/* True for error replies that a later poll may not get. */
static bool
client_poll_passes(int err)
{
	switch (err) {
	case ASYNCD_EBUSY:
	case ASYNCD_ESHUTDOWN:	/* a restarted daemon has the job */
	case ASYNCD_EINTERNAL:
	case ASYNCD_ENOMEM:
		return (true);
	default:
		return (false);
	}
}

/* The daemon that answered is not the one the wait began with. */
static enum client_poll_next
client_poll_restarted(struct client_poll *p)
{
	p->err = ASYNCD_EUNKNOWNJOB;
	if (p->nids > 1)
		snprintf(p->msg, sizeof p->msg, "the daemon restarted: job "
		    "%llu and the %zu other jobs waited on belonged to its "
		    "previous instance", (unsigned long long)p->ids[0],
		    p->nids - 1);
	else
		snprintf(p->msg, sizeof p->msg, "the daemon restarted: job "
		    "%llu belonged to its previous instance",
		    (unsigned long long)p->ids[0]);
	return (CLIENT_POLL_FAIL);
}

/*
 * An output reply (one id): it meets the condition when it carries bytes
 * or says the job's output is complete; an empty one means the daemon held
 * the poll and nothing came.
 */
static enum client_poll_next
client_poll_output(struct client_poll *p, const struct proto_reply *rep,
    double now)
{
	const struct proto_chunk	*ch = rep->u.output.chunk;

	if (p->nids != 1 || rep->u.output.job.id != p->ids[0])
		return (client_poll_fail(p, ASYNCD_EPROTO, NULL));
	if (rep->u.output.done || ch[PROTO_STDOUT].len > 0 ||
	    ch[PROTO_STDERR].len > 0)
		return (CLIENT_POLL_DONE);
	if (now >= p->deadline)
		return (client_poll_fail(p, ASYNCD_ETIMEDOUT, NULL));
	return (CLIENT_POLL_NOW);
}

enum client_poll_next
client_poll_next(struct client_poll *p, const struct client_poll_outcome *o)
{
	const struct proto_reply	*rep = o->rep;
	const struct proto_job		*pjs;
	double				 now = client_now();
	size_t				 i, ndone;

	p->err = 0;
	p->msg[0] = '\0';
	if (o->nng != 0)
		return (client_poll_lost(p, o->nng, o->sent, now));
	/* No memory for the reply: the daemon acted, so never twice. */
	if (o->decode == ASYNCD_ENOMEM && !p->repeatable)
		return (client_poll_fail(p, ASYNCD_ENOMEM, NULL));
	if (o->decode == ASYNCD_ENOMEM)
		return (client_poll_transient(p, ASYNCD_ENOMEM, NULL, now));
	if (o->decode != 0)
		return (client_poll_fail(p, o->decode, NULL));

	/* The daemon answered: whatever it said, it is reachable. */
	p->down_since = -1;
	if (p->ids == NULL)
		return (CLIENT_POLL_DONE);
	if (p->instance[0] == '\0')
		client_poll_instance(p, rep->instance);
	else if (rep->instance == NULL ||
	    strcmp(rep->instance, p->instance) != 0)
		return (client_poll_restarted(p));
	if (rep->err != 0) {
		if (client_poll_passes(rep->err))
			return (client_poll_transient(p, rep->err,
			    rep->message, now));
		return (client_poll_fail(p, rep->err, rep->message));
	}
	p->backoff = CLIENT_BACKOFF_MIN;
	if (rep->op == PROTO_OUTPUT)
		return (client_poll_output(p, rep, now));

	pjs = rep->u.jobs.jobs;
	if (rep->u.jobs.njobs != p->nids)
		return (client_poll_fail(p, ASYNCD_EPROTO, NULL));
	for (i = ndone = 0; i < p->nids; i++) {
		if (pjs[i].id != p->ids[i])
			return (client_poll_fail(p, ASYNCD_EPROTO, NULL));
		/* An id the daemon cannot answer for is finished too. */
		if (proto_state_terminal(pjs[i].state))
			ndone++;
	}
	/* The states decide; "done" says the same thing. */
	if (p->any ? ndone > 0 : ndone == p->nids)
		return (CLIENT_POLL_DONE);
	if (now >= p->deadline)
		return (client_poll_fail(p, ASYNCD_ETIMEDOUT, NULL));
	return (CLIENT_POLL_NOW);
}

/* Sleeps for a pause the engine asked for. */
void
client_pause(double seconds)
{
	struct timespec	ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* One poll (client.h). */
int
client_attempt(struct asyncd *c, const struct proto_req *req, double hold,
    struct client_poll_outcome *o, struct proto_reply *rep)
{
	struct client_slot	*slot;
	nng_msg			*reply = NULL;
	char			*text;
	double			 timeout, connect, deadline = INFINITY;
	bool			 sent;
	int			 rv;

	memset(o, 0, sizeof *o);
	memset(rep, 0, sizeof *rep);
	if ((rv = proto_req_encode(req, &text)) != 0)
		return (rv);
	if ((rv = client_slot_get(c, &slot, &timeout, &connect)) != 0) {
		free(text);
		return (rv);
	}
	if (timeout >= 0)
		deadline = client_now() + timeout + hold;
	rv = client_exchange(c, slot, text, deadline, connect, &reply, &sent);
	free(text);
	if (client_slot_put(c, slot, rv == 0) && rv != 0)
		return (ASYNCD_ECLOSED);
	if (rv != 0) {
		o->nng = rv;
		o->sent = sent;
		return (0);
	}
	o->decode = proto_reply_decode(req->op, nng_msg_body(reply),
	    nng_msg_len(reply), rep);
	nng_msg_free(reply);
	if (o->decode == 0)
		o->rep = rep;
	return (0);
}

int
client_request(struct asyncd *c, const struct proto_req *req, double hold,
    struct proto_reply *out)
{
	struct client_poll		p;
	struct client_poll_outcome	o;
	double				timeout = client_timeout(c);
	int				rv;

	client_errbuf[0] = '\0';
	client_poll_init(&p, c, timeout < 0 ? INFINITY :
	    client_now() + timeout + hold);
	p.repeatable = client_repeatable(req);
	for (;;) {
		(void)client_poll_begin(&p);
		if ((rv = client_attempt(c, req, hold, &o, out)) != 0)
			return (rv);
		switch (client_poll_next(&p, &o)) {
		case CLIENT_POLL_DONE:
			return (0);
		case CLIENT_POLL_FAIL:
			if (o.rep != NULL)
				proto_reply_fini(out);
			memset(out, 0, sizeof *out);
			return (p.err);
		case CLIENT_POLL_BACKOFF:
			if (o.rep != NULL)
				proto_reply_fini(out);
			client_pause(p.pause);
			break;
		case CLIENT_POLL_NOW:
			if (o.rep != NULL)
				proto_reply_fini(out);
			break;
		}
	}
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
	client_set_errmsg(out->message != NULL && *out->message != '\0' ?
	    out->message : asyncd_strerror(rv));
	proto_reply_fini(out);
	memset(out, 0, sizeof *out);
	return (rv);
}

const char *
asyncd_errmsg(void)
{
	return (client_errbuf[0] != '\0' ? client_errbuf : NULL);
}

/* The deadline of a wait of timeout seconds; infinite if negative. */
double
client_deadline(double timeout)
{
	if (timeout < 0 || isnan(timeout))
		return (INFINITY);
	return (client_now() + timeout);
}

/* How long a submit or cancel asks the daemon to hold it. */
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

bool
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
 * Waits for the jobs p names by re-issuing "wait" until the engine says
 * done or fail. On 0 or ASYNCD_ETIMEDOUT, jobs[] holds every job as the
 * last reply showed it; on other errors it is untouched and
 * asyncd_errmsg() says why, where there is more to say.
 */
static int
client_wait_loop(struct asyncd *c, struct client_poll *p,
    struct asyncd_job **jobs)
{
	struct proto_req		req;
	struct proto_reply		rep;
	struct client_poll_outcome	o;
	enum client_poll_next		next;
	int				rv;

	client_errbuf[0] = '\0';
	for (;;) {
		memset(&req, 0, sizeof req);
		req.op = PROTO_WAIT;
		req.u.wait.ids = (uint64_t *)p->ids;	/* only read */
		req.u.wait.nids = p->nids;
		req.u.wait.any = p->any;
		req.u.wait.timeout = client_poll_begin(p);
		if ((rv = client_attempt(c, &req, req.u.wait.timeout, &o,
		    &rep)) != 0)
			return (rv);
		next = client_poll_next(p, &o);
		if (next == CLIENT_POLL_DONE || (next == CLIENT_POLL_FAIL &&
		    p->err == ASYNCD_ETIMEDOUT)) {
			rv = client_jobs_take(rep.u.jobs.jobs, p->nids,
			    PROTO_JOB_RESULT, jobs);
			proto_reply_fini(&rep);
			if (rv != 0)
				return (rv);
			return (next == CLIENT_POLL_DONE ? 0 :
			    ASYNCD_ETIMEDOUT);
		}
		if (o.rep != NULL)
			proto_reply_fini(&rep);
		if (next == CLIENT_POLL_FAIL) {
			client_set_errmsg(p->msg);
			return (p->err);
		}
		if (next == CLIENT_POLL_BACKOFF)
			client_pause(p->pause);
	}
}

/*
 * Waits for one job with p's deadline. A job the daemon could not answer
 * for fails the wait with its error (asyncd_errmsg: the daemon's message).
 */
int
client_wait_one(struct asyncd *c, struct client_poll *p, uint64_t *id,
    struct asyncd_job **job)
{
	struct asyncd_job	*j;
	int			 rv;

	p->ids = id;
	p->nids = 1;
	p->any = false;
	if ((rv = client_wait_loop(c, p, &j)) != 0 && rv != ASYNCD_ETIMEDOUT)
		return (rv);
	if (asyncd_job_state(j) == ASYNCD_UNKNOWN) {
		rv = asyncd_job_outcome(j);
		client_set_errmsg(asyncd_job_error_message(j));
		asyncd_job_free(j);
		return (rv);
	}
	*job = j;
	return (rv);
}

/*
 * Opens an nng socket for url and starts its dialer, non-blocking: it
 * connects in the background, daemon up or not.
 */
static int
client_sock_new(const char *url, nng_socket *sockp, nng_dialer *dialerp)
{
	nng_socket	sock;
	nng_dialer	dialer;
	int		rv;

	if ((rv = nng_req0_open(&sock)) != 0)
		return (ASYNCD_ENOMEM);
	/* Replies have no size limit (PROTOCOL.md, "Transport"). */
	(void)nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 0);
	(void)nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE);
	if ((rv = nng_dialer_create(&dialer, sock, url)) != 0) {
		rv = rv == NNG_ENOMEM ? ASYNCD_ENOMEM : ASYNCD_EINVAL;
		goto close;
	}
	(void)nng_dialer_set_size(dialer, NNG_OPT_RECVMAXSZ, 0);
	(void)nng_dialer_set_ms(dialer, NNG_OPT_RECONNMINT,
	    CLIENT_RECONNMINT);
	(void)nng_dialer_set_ms(dialer, NNG_OPT_RECONNMAXT,
	    CLIENT_RECONNMAXT);
	if ((rv = nng_dialer_start(dialer, NNG_FLAG_NONBLOCK)) != 0) {
		rv = rv == NNG_ENOMEM ? ASYNCD_ENOMEM : ASYNCD_EINVAL;
		goto close;
	}
	*sockp = sock;
	*dialerp = dialer;
	return (0);
close:
	nng_close(sock);
	return (rv);
}

int
client_open(struct asyncd **out, const char *url, bool direct)
{
	struct asyncd		*c;
	pthread_condattr_t	 attr;
	char			 buf[PROTO_URL_MAX];
	int			 rv;

	if (url == NULL) {
		if ((rv = proto_client_url(buf, sizeof buf)) != 0)
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
	c->direct = direct && direct_path(url, c->path, sizeof c->path);
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
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rv = pthread_cond_init(&c->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rv != 0) {
		rv = ASYNCD_ENOMEM;
		goto fail;
	}
	if (!c->direct) {
		if ((rv = client_sock_new(c->url, &c->sock, &c->dialer)) != 0) {
			pthread_cond_destroy(&c->wake);
			goto fail;
		}
		c->sock_open = true;
	}
	*out = c;
	return (0);
fail:
	pthread_cond_destroy(&c->drained);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return (rv);
}

uint64_t
client_sent(struct asyncd *c)
{
	return (atomic_load(&c->sent));
}

void
client_note_sent(struct asyncd *c)
{
	atomic_fetch_add(&c->sent, 1);
}

int
asyncd_open(struct asyncd **out, const char *url)
{
	return (client_open(out, url, true));
}

/*
 * How long asyncd_close waits for nng to close the socket. A healthy
 * close takes milliseconds. But nng 1.5.2's single reaper thread can wedge
 * when many connections to a daemon that went away are torn down at once
 * (seen with 200 clients in one process, one close in three), and then
 * nng_close never returns: rule 4 of DESIGN.md, every wait has a deadline.
 */
#define CLIENT_CLOSE_SECONDS	5.0

/* A close handed to a thread of its own; freed by whichever side is last. */
struct client_closer {
	pthread_mutex_t	 lock;
	pthread_cond_t	 done_cv;
	nng_socket	 sock;
	bool		 done;		/* nng_close returned */
	bool		 abandoned;	/* the caller stopped waiting */
};

/* Once a close has wedged, nng's reaper is stuck for good: stop waiting. */
static atomic_bool client_close_wedged;

static void
client_closer_free(struct client_closer *cl)
{
	pthread_cond_destroy(&cl->done_cv);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
}

static void *
client_closer_main(void *arg)
{
	struct client_closer	*cl = arg;
	bool			 abandoned;

	nng_close(cl->sock);
	pthread_mutex_lock(&cl->lock);
	cl->done = true;
	abandoned = cl->abandoned;
	pthread_cond_signal(&cl->done_cv);
	pthread_mutex_unlock(&cl->lock);
	if (abandoned)
		client_closer_free(cl);
	return (NULL);
}

/*
 * nng_close, within CLIENT_CLOSE_SECONDS. Past that, the socket is left
 * to the process's exit (a thread stays blocked in nng_close), and later
 * closes do not wait at all.
 */
static void
client_close_sock(nng_socket sock)
{
	struct client_closer	*cl;
	pthread_condattr_t	 attr;
	pthread_t		 t;
	struct timespec		 ts;
	bool			 done;
	int			 rv = 0;

	if ((cl = calloc(1, sizeof *cl)) == NULL) {
		nng_close(sock);
		return;
	}
	cl->sock = sock;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&cl->done_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&t, NULL, client_closer_main, cl) != 0) {
		client_closer_free(cl);
		nng_close(sock);
		return;
	}
	pthread_detach(t);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!atomic_load(&client_close_wedged))
		ts.tv_sec += (time_t)CLIENT_CLOSE_SECONDS;
	pthread_mutex_lock(&cl->lock);
	while (!cl->done && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&cl->done_cv, &cl->lock, &ts);
	done = cl->done;
	cl->abandoned = !done;
	pthread_mutex_unlock(&cl->lock);
	if (done)
		client_closer_free(cl);
	else
		atomic_store(&client_close_wedged, true);
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
		client_slot_abort(c, slot);
	while (c->inflight > 0)
		pthread_cond_wait(&c->drained, &c->lock);
	pthread_mutex_unlock(&c->lock);

	while ((slot = LIST_FIRST(&c->idle)) != NULL) {
		LIST_REMOVE(slot, entry);
		client_slot_free(c, slot);
	}
	/* No thread is inside a context call any more (see above). */
	if (c->sock_open)
		client_close_sock(c->sock);
	pthread_cond_destroy(&c->wake);
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
asyncd_info(struct asyncd *c, struct asyncd_info **out)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	struct asyncd_info	*info;
	int			 rv;

	memset(&req, 0, sizeof req);
	req.op = PROTO_PING;
	if ((rv = client_call(c, &req, 0, &rep)) != 0)
		return (rv);
	if ((info = calloc(1, sizeof *info)) == NULL) {
		proto_reply_fini(&rep);
		return (ASYNCD_ENOMEM);
	}
	/* Taken from the reply, so nothing else can fail. */
	info->version = rep.u.ping.version;
	info->protocol = rep.u.ping.protocol;
	info->pid = rep.u.ping.pid;
	info->events = rep.u.ping.events;
	info->instance = rep.instance;
	info->durability = rep.u.ping.durability;
	rep.u.ping.version = rep.u.ping.events = rep.instance = NULL;
	rep.u.ping.durability = NULL;
	proto_reply_fini(&rep);
	*out = info;
	return (0);
}

void
asyncd_info_free(struct asyncd_info *info)
{
	if (info == NULL)
		return;
	free(info->version);
	free(info->events);
	free(info->instance);
	free(info->durability);
	free(info);
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
    struct asyncd_job **job, bool *created, char *instance)
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
		if (opts->priority < -PROTO_MAX_PRIORITY ||
		    opts->priority > PROTO_MAX_PRIORITY ||
		    opts->retries > PROTO_MAX_RETRIES ||
		    !client_valid_seconds(opts->delay) ||
		    !client_valid_seconds(opts->retry_delay) ||
		    opts->not_before < 0 || (opts->delay > 0 &&
		    opts->not_before > 0) || (opts->retry_backoff != 0 &&
		    (opts->retry_backoff < 1 ||
		    opts->retry_backoff > PROTO_MAX_BACKOFF)))
			return (ASYNCD_EINVAL);
		req.u.submit.priority = opts->priority;
		req.u.submit.delay = opts->delay;
		req.u.submit.not_before = opts->not_before;
		req.u.submit.retries = opts->retries;
		req.u.submit.retry_delay = opts->retry_delay;
		req.u.submit.retry_backoff = opts->retry_backoff;
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
	if (rv == 0 && instance != NULL)
		snprintf(instance, PROTO_MAX_INSTANCE + 1, "%s",
		    rep.instance != NULL ? rep.instance : "");
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
	    created, NULL)) != 0)
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
	struct client_poll	 p;
	struct asyncd_job	*j;
	double			 deadline = client_deadline(timeout);
	char			 instance[PROTO_MAX_INSTANCE + 1];
	uint64_t		 id;
	int			 rv;

	/* Submit and wait in one round trip; most jobs are quick. */
	if ((rv = client_submit(c, type, args_json, opts, client_ask(deadline),
	    &j, NULL, instance)) != 0)
		return (rv);
	if (asyncd_job_done(j) || client_now() >= deadline) {
		*job = j;
		return (asyncd_job_done(j) ? 0 : ASYNCD_ETIMEDOUT);
	}
	id = asyncd_job_id(j);
	asyncd_job_free(j);
	/* The job is the submitting daemon's: a restart loses it. */
	client_poll_init(&p, c, deadline);
	client_poll_instance(&p, instance);
	return (client_wait_one(c, &p, &id, job));
}

int
asyncd_wait(struct asyncd *c, uint64_t id, double timeout,
    struct asyncd_job **job)
{
	struct client_poll	 p;
	struct asyncd_job	*j;
	int			 rv;

	if (!client_valid_id(id))
		return (ASYNCD_EINVAL);
	client_poll_init(&p, c, client_deadline(timeout));
	rv = client_wait_one(c, &p, &id, &j);
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
	struct client_poll	p;
	double			deadline = client_deadline(timeout);
	size_t			i, off, len;
	int			rv, result = 0;

	if (n == 0 || (mode == ASYNCD_WAIT_ANY && n > PROTO_MAX_IDS) ||
	    (mode != ASYNCD_WAIT_ALL && mode != ASYNCD_WAIT_ANY))
		return (ASYNCD_EINVAL);
	for (i = 0; i < n; i++) {
		if (!client_valid_id(ids[i]))
			return (ASYNCD_EINVAL);
	}
	client_poll_init(&p, c, deadline);
	if (mode == ASYNCD_WAIT_ANY) {
		p.ids = ids;
		p.nids = n;
		p.any = true;
		return (client_wait_loop(c, &p, jobs));
	}

	/*
	 * All of them: a request names at most PROTO_MAX_IDS, so wait for
	 * one slice after another under the one deadline, and one engine,
	 * so that a restart between slices is seen. Once the deadline has
	 * passed, the rest are only looked at (a zero wait), so that every
	 * jobs[i] is set on ASYNCD_ETIMEDOUT too.
	 */
	for (off = 0; off < n; off += len) {
		len = n - off < PROTO_MAX_IDS ? n - off : PROTO_MAX_IDS;
		p.ids = ids + off;
		p.nids = len;
		if (result != 0)
			p.deadline = client_now();
		rv = client_wait_loop(c, &p, jobs + off);
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
	struct client_poll	 p;
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
	client_poll_init(&p, c, deadline);
	client_poll_instance(&p, rep.instance);
	rv = job_create(&rep.u.job, PROTO_JOB_RESULT, &j);
	proto_reply_fini(&rep);
	if (rv != 0)
		return (rv);
	/* The cancel is delivered; wait out the rest of the time for it. */
	if (!asyncd_job_done(j) && client_now() < deadline) {
		asyncd_job_free(j);
		rv = client_wait_one(c, &p, &id, &j);
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
asyncd_forget(struct asyncd *c, uint64_t id, int state, double before,
    uint64_t *n)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	int			 rv;

	if ((id != 0 && (!client_valid_id(id) || state != -1 ||
	    before != 0)) || (id == 0 && state == -1 && before == 0) ||
	    !isfinite(before) || before < 0)
		return (ASYNCD_EINVAL);
	if (state == (int)ASYNCD_INTERRUPTED)
		state = PROTO_INTERRUPTED;
	else if (state != -1 && (state < 0 || state >= PROTO_INTERRUPTED ||
	    !proto_state_terminal(state)))
		return (ASYNCD_EINVAL);
	memset(&req, 0, sizeof req);
	req.op = PROTO_FORGET;
	req.u.forget.id = id;
	req.u.forget.state = state;
	req.u.forget.before = before;
	if ((rv = client_call(c, &req, 0, &rep)) != 0)
		return (rv);
	if (n != NULL)
		*n = rep.u.forgotten;
	proto_reply_fini(&rep);
	return (0);
}

/*
 * A user name or a decimal uid as a uid. Names are looked up here, in the
 * client, so that the daemon's loop never waits on the user database.
 * Returns 0, ASYNCD_EINVAL (no such user) or ASYNCD_ENOMEM.
 */
static int
client_owner(const char *owner, uint32_t *uid)
{
	struct passwd	 pw, *found = NULL;
	char		*buf = NULL, *grown, *end;
	size_t		 size = 1024;
	unsigned long long v;
	int		 rv;

	if (*owner == '\0' || strlen(owner) > 256)
		return (ASYNCD_EINVAL);
	if (*owner >= '0' && *owner <= '9') {
		errno = 0;
		v = strtoull(owner, &end, 10);
		if (errno != 0 || *end != '\0' || v > PROTO_MAX_UID)
			return (ASYNCD_EINVAL);
		*uid = (uint32_t)v;
		return (0);
	}
	for (;;) {
		if ((grown = realloc(buf, size)) == NULL) {
			free(buf);
			return (ASYNCD_ENOMEM);
		}
		buf = grown;
		rv = getpwnam_r(owner, &pw, buf, size, &found);
		if (rv != ERANGE || size >= 1024 * 1024)
			break;
		size *= 4;
	}
	free(buf);
	if (rv != 0 || found == NULL)
		return (rv == ENOMEM ? ASYNCD_ENOMEM : ASYNCD_EINVAL);
	*uid = (uint32_t)pw.pw_uid;
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
		if (opts->state < -1 || (opts->state >= PROTO_INTERRUPTED &&
		    opts->state != (int)ASYNCD_INTERRUPTED) ||
		    opts->limit > PROTO_LIST_MAX ||
		    (opts->before != 0 && !client_valid_id(opts->before)))
			return (ASYNCD_EINVAL);
		if (opts->type != NULL && ((len = strlen(opts->type)) == 0 ||
		    len > PROTO_MAX_TYPE))
			return (ASYNCD_EINVAL);
		if (opts->key != NULL && ((len = strlen(opts->key)) == 0 ||
		    len > PROTO_MAX_KEY))
			return (ASYNCD_EINVAL);
		/* Times from 1970 to 9999 (RFC 3339's four-digit years). */
		if (!(opts->since >= 0 && opts->since < 253402300800.0) ||
		    !(opts->until >= 0 && opts->until < 253402300800.0) ||
		    (opts->since > 0 && opts->until > 0 &&
		    opts->since >= opts->until))
			return (ASYNCD_EINVAL);
		if (opts->owner != NULL) {
			if ((rv = client_owner(opts->owner,
			    &req.u.list.owner)) != 0)
				return (rv);
			req.u.list.by_owner = true;
		}
		req.u.list.state = opts->state == (int)ASYNCD_INTERRUPTED ?
		    PROTO_INTERRUPTED : opts->state;
		req.u.list.type = (char *)opts->type;	/* only read */
		req.u.list.key = (char *)opts->key;
		req.u.list.before = opts->before;
		req.u.list.limit = opts->limit;
		req.u.list.since = opts->since;
		req.u.list.until = opts->until;
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

/*
 * asyncd_list as libasyncd.so.0 had it before ASYNCD_0.5, for programs
 * built then: their struct asyncd_list_opts ends after limit, so only
 * those fields are read. The shared library exports it as
 * asyncd_list@ASYNCD_0 (asyncd.map); the static one never calls it.
 */
struct client_list_opts_0 {
	int		 state;
	const char	*type;
	uint64_t	 before;
	size_t		 limit;
};

int	client_list_0(struct asyncd *, const struct client_list_opts_0 *,
	    struct asyncd_job ***, size_t *, bool *);
__asm__(".symver client_list_0, asyncd_list@ASYNCD_0");

int
client_list_0(struct asyncd *c, const struct client_list_opts_0 *old,
    struct asyncd_job ***jobs, size_t *n, bool *more)
{
	struct asyncd_list_opts	opts;

	if (old == NULL)
		return (asyncd_list(c, NULL, jobs, n, more));
	memset(&opts, 0, sizeof opts);
	opts.state = old->state;
	opts.type = old->type;
	opts.before = old->before;
	opts.limit = old->limit;
	return (asyncd_list(c, &opts, jobs, n, more));
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
