/*
 * test_client.c: unit tests for libasyncd against a fake daemon.
 *
 * The fake daemon is an nng REP socket on a private ipc:// path, served by
 * a few threads, each with its own context so that several requests can be
 * held at once (as the real daemon holds long polls). It decodes requests
 * with proto/ and encodes replies with proto/, from a small table of
 * canned jobs. Its long polls behave like the daemon's: a wait holds up to
 * the requested time, capped (here at 200 ms, so that re-issuing is
 * exercised quickly), and a job may be scripted to answer "not finished"
 * a number of times before it finishes. Any operation's reply can be
 * replaced by raw text, to feed the library malformed replies.
 *
 * Every test asserts exact error codes, gives timings wide bounds, and
 * ends by stopping the fake daemon and closing the client, so that a run
 * under ASan proves the library leaks nothing.
 *
 * nng 1.5.2 can hang for good in nng_close, on either side, if a REQ
 * socket's connection closes just as a reply arrives on it (the reaper
 * thread then waits forever in the REQ pipe's receive aio, and every later
 * close in the process waits behind it). The fake daemon therefore never
 * answers a request once it is stopping, tests stop it before closing
 * their client, and a test that closes a client under held requests holds
 * them for longer than it runs. See "A known hang" in lib/client.c.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "asyncd.h"
#include "client.h"	/* the long-poll engine, tested directly */
#include "proto.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * LeakSanitizer, in the sanitizer build: nng 1.5.2 never frees a listener
 * that a client hanging up in its handshake has stopped (nng #1518), nor
 * what is parked in it, and the fakes here are nng listeners stopped and
 * restarted under clients that reconnect and give up on deadlines, so on
 * a loaded machine a run can end with that cycle of nng's own blocks
 * (seen once in five runs of make check). So this binary does not count
 * blocks allocated inside libnng as leaks. libasyncd's own allocations are
 * still checked here, and test_lib checks its nng sockets and messages
 * against the real daemon with no suppression.
 */
const char	*__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return ("leak:libnng.so.1\n");
}

/*
 * main runs every test twice: with clients whose every request goes
 * through nng, then with clients as asyncd_open makes them, whose
 * synchronous requests travel on direct connections (lib/direct.c), both
 * against the same nng REP fake, so the two transports meet one contract.
 */
static bool	tc_direct;

static int
tc_open(struct asyncd **c, const char *url)
{
	return (client_open(c, url, tc_direct));
}

/* Enough workers that held polls never starve the other requests. */
#define FAKE_WORKERS	12
#define FAKE_JOBS	256
/* The fake's wait cap: short, so tests see several re-issues quickly. */
#define FAKE_CAP	0.2
/* Job ids the fake treats specially. */
#define FAKE_UNKNOWN	404	/* status, wait: unknown_job */
#define FAKE_FORBIDDEN	403	/* wait: permission_denied */
#define FAKE_GARBLED	666	/* status: a reply that is not JSON */

/* Seeded jobs. */
enum {
	JOB_ECHO = 1,		/* succeeded, result {"x":1} */
	JOB_SLOW,		/* two "not finished" replies, then done */
	JOB_HOLD,		/* runs until cancelled */
	JOB_FAIL,		/* fails at the first poll */
	JOB_CANCELLED,		/* cancelled already */
	JOB_TIMEDOUT,		/* timed_out already */
	JOB_FULL,		/* running, with every optional field */
	JOB_SEEDED = JOB_FULL
};

struct fake_job {
	struct proto_job	 pj;
	int			 polls;	/* "not done" replies left;
					   -1: holds until changed */
	enum proto_state	 final;	/* state after the polls */
	cJSON			*final_result;
	const char		*final_code;
	const char		*final_message;
	/* What its command wrote so far, per stream, as the log holds it. */
	char			*out[2];
	size_t			 outlen[2];
	bool			 cut[2];
};

struct fake;

/* A serving thread and its context. */
struct fake_worker {
	struct fake		*fk;
	nng_ctx			 ctx;
	pthread_t		 thread;
};

struct fake {
	char			 url[128];
	nng_socket		 sock;
	struct fake_worker	 workers[FAKE_WORKERS];

	pthread_mutex_t		 lock;	/* guards what follows */
	pthread_cond_t		 cond;	/* a job changed; stopping */
	bool			 stopping;
	struct fake_job		 jobs[FAKE_JOBS];
	size_t			 njobs;
	uint64_t		 next_id;
	unsigned		 nreq[PROTO_OP_COUNT];
	const char		*raw[PROTO_OP_COUNT]; /* verbatim replies */
	bool			 deny_shutdown;
	double			 cap;	/* longest hold, seconds */
	/* Sent in every reply; "": none, as a daemon before instances. */
	char			 instance[PROTO_MAX_INSTANCE + 1];
	/*
	 * Wait answers an id it does not know with an entry of its own, as
	 * the daemon does; false: with an unknown_job reply, as it did.
	 */
	bool			 per_id;
	int			 busy_waits;	/* waits to answer "busy" */
	int			 busy_err;	/* with this error */
	int			 busy_outputs;	/* outputs to answer "busy" */
	/* The history filters of the last list, as received. */
	bool			 list_by_owner;
	uint32_t		 list_owner;
	double			 list_since;
	double			 list_until;
};

/* What each test gets: a fake daemon and a client of it. */
struct env {
	struct fake		*fake;
	struct asyncd		*c;
};

static atomic_int	test_client_seq;

static double
test_client_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
test_client_sleep(double seconds)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* A unique ipc:// URL for one test. */
static void
test_client_url(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "ipc:///tmp/asyncd-test-client-%d-%d-%s.sock",
	    (int)getpid(), atomic_fetch_add(&test_client_seq, 1), what);
}

/* ---- the fake daemon */

static cJSON *
fake_json(const char *text)
{
	cJSON	*item;

	if (text == NULL)
		return (NULL);
	item = cJSON_Parse(text);
	assert_non_null(item);
	return (item);
}

static struct fake_job *
fake_add(struct fake *fk, uint64_t id, const char *type,
    enum proto_state state)
{
	struct fake_job	*fj;

	assert_true(fk->njobs < FAKE_JOBS);
	fj = &fk->jobs[fk->njobs++];
	memset(fj, 0, sizeof *fj);
	fj->pj.id = id;
	fj->pj.type = strdup(type);
	fj->pj.state = state;
	fj->pj.created = 1764010000.123;
	fj->pj.progress = -1;
	if (state != PROTO_QUEUED)
		fj->pj.started = 1764010000.124;
	fj->final = state;
	return (fj);
}

static void
fake_set_error(struct proto_job *pj, const char *code, const char *message)
{
	pj->err_code = strdup(code);
	pj->err_message = strdup(message);
}

static struct fake_job *
fake_find(struct fake *fk, uint64_t id)
{
	size_t	i;

	for (i = 0; i < fk->njobs; i++) {
		if (fk->jobs[i].pj.id == id)
			return (&fk->jobs[i]);
	}
	return (NULL);
}

/* Moves a job to its final state. Called with the lock held. */
static void
fake_finish(struct fake *fk, struct fake_job *fj)
{
	fj->pj.state = fj->final;
	fj->pj.finished = 1764010001.5;
	if (fj->final == PROTO_SUCCEEDED) {
		fj->pj.result = fj->final_result;
		fj->final_result = NULL;
	} else if (fj->final_code != NULL) {
		fake_set_error(&fj->pj, fj->final_code, fj->final_message);
	}
	pthread_cond_broadcast(&fk->cond);
}

/* One poll of a job: counts down its "not finished" replies. */
static void
fake_tick(struct fake *fk, struct fake_job *fj)
{
	if (proto_state_terminal(fj->pj.state) || fj->polls < 0)
		return;
	if (fj->polls == 0)
		fake_finish(fk, fj);
	else
		fj->polls--;
}

/* Holds a long poll until its time (capped) passes or a job changes. */
static void
fake_hold(struct fake *fk, double seconds)
{
	struct timespec	ts;

	if (seconds > fk->cap)
		seconds = fk->cap;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)(seconds * 1e9);
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	if (!fk->stopping)
		pthread_cond_timedwait(&fk->cond, &fk->lock, &ts);
}

/* The instance a reply names: the fake's, or none if it has none. */
static const char *
fake_instance(struct fake *fk)
{
	return (fk->instance[0] != '\0' ? fk->instance : NULL);
}

static char *
fake_error(struct fake *fk, int err, const char *message)
{
	char	*out;

	out = proto_reply_error(err, message, fake_instance(fk), NULL);
	assert_non_null(out);
	return (out);
}

static char *
fake_encode(struct fake *fk, struct proto_reply *rep)
{
	char	*out;
	size_t	 len;

	rep->instance = (char *)fake_instance(fk);	/* only read */
	assert_int_equal(proto_reply_encode(rep, &out, &len), 0);
	return (out);
}

static char *
fake_submit(struct fake *fk, struct proto_submit *s)
{
	struct proto_reply	 rep;
	struct fake_job		*fj;
	const cJSON		*polls;

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_SUBMIT;
	if (strcmp(s->type, "nope") == 0)
		return (fake_error(fk, ASYNCD_EUNKNOWNTYPE,
		    "no job type named 'nope'"));
	if (s->key != NULL && strcmp(s->key, "dup") == 0) {
		rep.u.submit.job = fake_find(fk, JOB_ECHO)->pj;
		rep.u.submit.created = false;
		return (fake_encode(fk, &rep));
	}
	fj = fake_add(fk, fk->next_id++, s->type, PROTO_RUNNING);
	if (s->key != NULL)
		fj->pj.key = strdup(s->key);
	fj->pj.timeout = s->timeout;
	if (strcmp(s->type, "echo") == 0) {
		/* Finishes at once, with its arguments as the result. */
		fj->final = PROTO_SUCCEEDED;
		fj->final_result = s->args != NULL ? s->args :
		    cJSON_CreateNull();
		s->args = NULL;
		fake_finish(fk, fj);
	} else if (strcmp(s->type, "slow") == 0) {
		/* {"polls": N}: N "not finished" replies, then null. */
		fj->final = PROTO_SUCCEEDED;
		polls = cJSON_GetObjectItem(s->args, "polls");
		fj->polls = polls != NULL ? polls->valueint : 2;
	} else if (strcmp(s->type, "fail") == 0) {
		fj->final = PROTO_FAILED;
		fj->final_code = "failed";
		fj->final_message = "boom";
	} else {
		fj->polls = -1;
	}
	if (s->wait > 0)
		fake_tick(fk, fj);
	rep.u.submit.job = fj->pj;
	rep.u.submit.created = true;
	return (fake_encode(fk, &rep));
}

static char *
fake_wait(struct fake *fk, struct proto_wait *w)
{
	struct proto_reply	 rep;
	struct proto_job	 pjs[PROTO_MAX_IDS];
	struct fake_job		*fj;
	double			 deadline;
	size_t			 i, ndone;
	char			 msg[64];

	if (fk->busy_waits > 0) {
		fk->busy_waits--;
		return (fake_error(fk, fk->busy_err, "try again"));
	}
	for (i = 0; i < w->nids; i++) {
		if ((fj = fake_find(fk, w->ids[i])) == NULL && !fk->per_id) {
			snprintf(msg, sizeof msg, "no job %llu",
			    (unsigned long long)w->ids[i]);
			return (fake_error(fk, w->ids[i] == FAKE_FORBIDDEN ?
			    ASYNCD_EPERM : ASYNCD_EUNKNOWNJOB, msg));
		}
		if (fj != NULL)
			fake_tick(fk, fj);
	}
	deadline = test_client_now() + (w->timeout < fk->cap ? w->timeout :
	    fk->cap);
	for (;;) {
		for (i = ndone = 0; i < w->nids; i++) {
			if ((fj = fake_find(fk, w->ids[i])) == NULL) {
				/* An entry of its own, finished. */
				memset(&pjs[i], 0, sizeof pjs[i]);
				pjs[i].id = w->ids[i];
				pjs[i].state = PROTO_NO_STATE;
				if (w->ids[i] == FAKE_FORBIDDEN) {
					pjs[i].err_code = "permission_denied";
					pjs[i].err_message = "job 403 is "
					    "another user's";
				} else {
					pjs[i].err_code = "unknown_job";
					pjs[i].err_message = "no job with id "
					    "404";
				}
				ndone++;
				continue;
			}
			pjs[i] = fj->pj;
			if (proto_state_terminal(fj->pj.state))
				ndone++;
		}
		/* Only jobs that hold are worth holding for. */
		if ((w->any ? ndone > 0 : ndone == w->nids) ||
		    test_client_now() >= deadline || fk->stopping)
			break;
		for (i = 0; i < w->nids; i++) {
			if ((fj = fake_find(fk, w->ids[i])) != NULL &&
			    fj->polls >= 0)
				break;
		}
		if (i < w->nids)
			break;
		fake_hold(fk, deadline - test_client_now());
	}
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_WAIT;
	rep.u.jobs.jobs = pjs;
	rep.u.jobs.njobs = w->nids;
	rep.u.jobs.done = w->any ? ndone > 0 : ndone == w->nids;
	return (fake_encode(fk, &rep));
}

static char *
fake_list(struct fake *fk, struct proto_list *l)
{
	struct proto_reply	 rep;
	struct proto_job	 pjs[FAKE_JOBS];
	size_t			 i, n = 0, limit;

	limit = l->limit != 0 ? l->limit : PROTO_LIST_DEFAULT;
	fk->list_by_owner = l->by_owner;
	fk->list_owner = l->owner;
	fk->list_since = l->since;
	fk->list_until = l->until;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_LIST;
	for (i = fk->njobs; i-- > 0;) {
		if (l->state >= 0 && (int)fk->jobs[i].pj.state != l->state)
			continue;
		if (l->key != NULL && (fk->jobs[i].pj.key == NULL ||
		    strcmp(fk->jobs[i].pj.key, l->key) != 0))
			continue;
		if (l->type != NULL &&
		    strcmp(fk->jobs[i].pj.type, l->type) != 0)
			continue;
		if (n == limit) {
			rep.u.jobs.more = true;
			break;
		}
		pjs[n++] = fk->jobs[i].pj;
	}
	rep.u.jobs.jobs = pjs;
	rep.u.jobs.njobs = n;
	return (fake_encode(fk, &rep));
}

static char *
fake_cancel(struct fake *fk, struct proto_cancel *cn)
{
	struct proto_reply	 rep;
	struct fake_job		*fj;

	if ((fj = fake_find(fk, cn->id)) == NULL)
		return (fake_error(fk, ASYNCD_EUNKNOWNJOB, "no such job"));
	if (proto_state_terminal(fj->pj.state))
		return (fake_error(fk, ASYNCD_EDONE, "job already finished"));
	fj->final = PROTO_CANCELLED;
	fj->final_code = "cancelled";
	fj->final_message = "cancelled by request";
	fake_finish(fk, fj);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_CANCEL;
	rep.u.job = fj->pj;
	return (fake_encode(fk, &rep));
}

/* Bytes of stream i past the offset asked. */
static size_t
fake_output_avail(const struct fake_job *fj, const struct proto_output *o,
    int i)
{
	if (!(o->streams & (1 << i)) || o->offset[i] >= fj->outlen[i])
		return (0);
	return (fj->outlen[i] - (size_t)o->offset[i]);
}

/*
 * "output", as the daemon answers it: the bytes past each offset (stdout
 * first, max in all), held while there are none and the job runs.
 */
static char *
fake_output(struct fake *fk, struct proto_output *o)
{
	struct proto_reply	 rep;
	struct proto_chunk	*ch;
	struct fake_job		*fj;
	double			 deadline;
	size_t			 left, n;
	int			 i;

	if (fk->busy_outputs > 0) {
		fk->busy_outputs--;
		return (fake_error(fk, ASYNCD_EBUSY, "try again"));
	}
	if (o->id == FAKE_FORBIDDEN)
		return (fake_error(fk, ASYNCD_EPERM, "another user's job"));
	if ((fj = fake_find(fk, o->id)) == NULL)
		return (fake_error(fk, ASYNCD_EUNKNOWNJOB, "no such job"));
	deadline = test_client_now() + (o->wait < fk->cap ? o->wait :
	    fk->cap);
	while (fake_output_avail(fj, o, PROTO_STDOUT) == 0 &&
	    fake_output_avail(fj, o, PROTO_STDERR) == 0 &&
	    !proto_state_terminal(fj->pj.state) && !fk->stopping &&
	    test_client_now() < deadline)
		fake_hold(fk, deadline - test_client_now());
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OUTPUT;
	rep.u.output.job = fj->pj;
	rep.u.output.job.args = rep.u.output.job.result = NULL;
	rep.u.output.done = proto_state_terminal(fj->pj.state);
	left = o->max;
	for (i = 0; i < 2; i++) {
		if (!(o->streams & (1 << i)))
			continue;
		ch = &rep.u.output.chunk[i];
		n = fake_output_avail(fj, o, i);
		if (n > left)
			n = left;
		left -= n;
		ch->present = true;
		ch->offset = o->offset[i];
		ch->data = n > 0 ? fj->out[i] + o->offset[i] : NULL;
		ch->len = n;
		ch->size = fj->outlen[i];
		ch->cut = fj->cut[i];
		if (o->offset[i] + n < fj->outlen[i])
			rep.u.output.done = false;
	}
	return (fake_encode(fk, &rep));
}

/*
 * Answers one request; returns the reply text (allocated), or NULL for no
 * reply at all (the fake is stopping).
 */
static char *
fake_handle(struct fake *fk, const void *buf, size_t len)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	struct proto_type_info	 types[2] = {
		{ "echo", "returns its arguments", NULL },
		{ "sleep", "sleeps", NULL },
	};
	struct fake_job		*fj;
	char			*cause, *out;
	int			 rv;

	if ((rv = proto_req_decode(buf, len, &req, &cause)) != 0) {
		out = fake_error(fk, rv, cause);
		free(cause);
		return (out);
	}
	memset(&rep, 0, sizeof rep);
	rep.op = req.op;
	pthread_mutex_lock(&fk->lock);
	fk->nreq[req.op]++;
	if (fk->raw[req.op] != NULL) {
		out = strdup(fk->raw[req.op]);
		goto out;
	}
	switch (req.op) {
	case PROTO_PING:
		rep.u.ping.version = "9.8.7";
		rep.u.ping.protocol = PROTO_VERSION;
		rep.u.ping.pid = 4242;
		rep.u.ping.events = "ipc:///tmp/fake.events";
		out = fake_encode(fk, &rep);
		break;
	case PROTO_SUBMIT:
		out = fake_submit(fk, &req.u.submit);
		break;
	case PROTO_WAIT:
		out = fake_wait(fk, &req.u.wait);
		break;
	case PROTO_STATUS:
		if (req.u.status == FAKE_GARBLED) {
			out = strdup("{\"ok\":tru");
			break;
		}
		if ((fj = fake_find(fk, req.u.status)) == NULL) {
			out = fake_error(fk, ASYNCD_EUNKNOWNJOB, "no job 404");
			break;
		}
		rep.u.job = fj->pj;
		out = fake_encode(fk, &rep);
		break;
	case PROTO_LIST:
		out = fake_list(fk, &req.u.list);
		break;
	case PROTO_CANCEL:
		out = fake_cancel(fk, &req.u.cancel);
		break;
	case PROTO_TYPES:
		rep.u.types.types = types;
		rep.u.types.ntypes = NITEMS(types);
		out = fake_encode(fk, &rep);
		break;
	case PROTO_OUTPUT:
		out = fake_output(fk, &req.u.output);
		break;
	case PROTO_STATS:
		rep.u.stats.counts[PROTO_QUEUED] = 1;
		rep.u.stats.counts[PROTO_RUNNING] = 2;
		rep.u.stats.counts[PROTO_SUCCEEDED] = 3;
		rep.u.stats.counts[PROTO_FAILED] = 4;
		rep.u.stats.counts[PROTO_CANCELLED] = 5;
		rep.u.stats.counts[PROTO_TIMED_OUT] = 6;
		rep.u.stats.submitted = 21;
		rep.u.stats.finished = 18;
		rep.u.stats.uptime = 12.5;
		rep.u.stats.max_running = 8;
		rep.u.stats.max_queued = 1000;
		out = fake_encode(fk, &rep);
		break;
	case PROTO_SHUTDOWN:
		if (fk->deny_shutdown)
			out = fake_error(fk, ASYNCD_EPERM, "not an admin");
		else
			out = fake_encode(fk, &rep);
		break;
	default:
		out = fake_error(fk, ASYNCD_EUNKNOWNOP, "no such operation");
		break;
	}
out:
	/* A stopping daemon answers nothing: see the comment at the top. */
	if (fk->stopping) {
		free(out);
		out = NULL;
	}
	pthread_mutex_unlock(&fk->lock);
	proto_req_fini(&req);
	return (out);
}

static void *
fake_worker(void *arg)
{
	struct fake_worker	*w = arg;
	struct fake		*fk = w->fk;
	nng_ctx			 ctx = w->ctx;
	nng_aio			*aio;
	nng_msg			*msg;
	char			*reply;

	if (nng_aio_alloc(&aio, NULL, NULL) != 0)
		abort();
	for (;;) {
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0)
			break;
		msg = nng_aio_get_msg(aio);
		reply = fake_handle(fk, nng_msg_body(msg), nng_msg_len(msg));
		if (reply == NULL) {
			nng_msg_free(msg);
			continue;
		}
		nng_msg_clear(msg);
		if (nng_msg_append(msg, reply, strlen(reply)) != 0)
			abort();
		free(reply);
		nng_aio_set_msg(aio, msg);
		nng_ctx_send(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0) {
			nng_msg_free(nng_aio_get_msg(aio));
			if (nng_aio_result(aio) == NNG_ECLOSED)
				break;
		}
	}
	nng_aio_free(aio);
	return (NULL);
}

static void
fake_seed(struct fake *fk)
{
	struct fake_job	*fj;

	fj = fake_add(fk, JOB_ECHO, "echo", PROTO_SUCCEEDED);
	fj->pj.args = fake_json("{\"x\":1}");
	fj->pj.result = fake_json("{\"x\":1}");
	fj->pj.finished = 1764010000.2;

	fj = fake_add(fk, JOB_SLOW, "slow", PROTO_RUNNING);
	fj->polls = 2;
	fj->final = PROTO_SUCCEEDED;
	fj->final_result = fake_json("\"done\"");

	fj = fake_add(fk, JOB_HOLD, "sleep", PROTO_RUNNING);
	fj->polls = -1;

	fj = fake_add(fk, JOB_FAIL, "fail", PROTO_RUNNING);
	fj->final = PROTO_FAILED;
	fj->final_code = "failed";
	fj->final_message = "boom";

	fj = fake_add(fk, JOB_CANCELLED, "sleep", PROTO_CANCELLED);
	fake_set_error(&fj->pj, "cancelled", "cancelled by request");
	fj->pj.finished = 1764010000.9;

	fj = fake_add(fk, JOB_TIMEDOUT, "sleep", PROTO_TIMED_OUT);
	fake_set_error(&fj->pj, "timed_out", "ran longer than 1 s");
	fj->pj.timeout = 1;
	fj->pj.finished = 1764010001.124;

	fj = fake_add(fk, JOB_FULL, "exec", PROTO_RUNNING);
	fj->polls = -1;
	fj->pj.key = strdup("k7");
	fj->pj.parent = JOB_ECHO;
	fj->pj.timeout = 30;
	fj->pj.progress = 0.5;
	fj->pj.progress_msg = strdup("half way");
	fj->pj.args = fake_json("{\"argv\":[\"true\"]}");
}

/*
 * Starts a fake daemon at url (NULL: a new one) naming itself instance
 * (NULL: a new one, as a real daemon does at each start; "": none).
 */
static struct fake *
fake_start_as(const char *url, const char *instance)
{
	static atomic_int	 starts;
	struct fake		*fk;
	pthread_condattr_t	 attr;
	size_t			 i;

	fk = calloc(1, sizeof *fk);
	assert_non_null(fk);
	if (url != NULL)
		snprintf(fk->url, sizeof fk->url, "%s", url);
	else
		test_client_url(fk->url, sizeof fk->url, "fake");
	if (instance != NULL)
		snprintf(fk->instance, sizeof fk->instance, "%s", instance);
	else
		snprintf(fk->instance, sizeof fk->instance, "%08x%08x",
		    (unsigned)getpid(), (unsigned)atomic_fetch_add(&starts, 1));
	fk->per_id = true;
	fk->busy_err = ASYNCD_EBUSY;
	pthread_mutex_init(&fk->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&fk->cond, &attr);
	pthread_condattr_destroy(&attr);
	fk->next_id = 100;
	fk->cap = FAKE_CAP;
	fake_seed(fk);
	assert_int_equal(nng_rep0_open(&fk->sock), 0);
	assert_int_equal(nng_listen(fk->sock, fk->url, NULL, 0), 0);
	for (i = 0; i < FAKE_WORKERS; i++) {
		fk->workers[i].fk = fk;
		assert_int_equal(nng_ctx_open(&fk->workers[i].ctx, fk->sock),
		    0);
		assert_int_equal(pthread_create(&fk->workers[i].thread, NULL,
		    fake_worker, &fk->workers[i]), 0);
	}
	return (fk);
}

static struct fake *
fake_start_at(const char *url)
{
	return (fake_start_as(url, NULL));
}

static struct fake *
fake_start(void)
{
	return (fake_start_at(NULL));
}

static void
fake_stop(struct fake *fk)
{
	size_t	i;

	pthread_mutex_lock(&fk->lock);
	fk->stopping = true;
	pthread_cond_broadcast(&fk->cond);
	pthread_mutex_unlock(&fk->lock);
	/*
	 * Contexts first, the socket once no thread can be inside a context
	 * call: nng 1.5.2 may panic if a socket is closed under one.
	 */
	for (i = 0; i < FAKE_WORKERS; i++)
		(void)nng_ctx_close(fk->workers[i].ctx);
	for (i = 0; i < FAKE_WORKERS; i++)
		pthread_join(fk->workers[i].thread, NULL);
	nng_close(fk->sock);
	for (i = 0; i < fk->njobs; i++) {
		proto_job_fini(&fk->jobs[i].pj);
		cJSON_Delete(fk->jobs[i].final_result);
		free(fk->jobs[i].out[0]);
		free(fk->jobs[i].out[1]);
	}
	pthread_cond_destroy(&fk->cond);
	pthread_mutex_destroy(&fk->lock);
	free(fk);
}

static unsigned
fake_count(struct fake *fk, enum proto_op op)
{
	unsigned	n;

	pthread_mutex_lock(&fk->lock);
	n = fk->nreq[op];
	pthread_mutex_unlock(&fk->lock);
	return (n);
}

/* Makes a held job succeed with result, as if it had just finished. */
static void
fake_succeed(struct fake *fk, uint64_t id, const char *result)
{
	struct fake_job	*fj;

	pthread_mutex_lock(&fk->lock);
	fj = fake_find(fk, id);
	assert_non_null(fj);
	fj->final = PROTO_SUCCEEDED;
	fj->final_result = fake_json(result);
	fake_finish(fk, fj);
	pthread_mutex_unlock(&fk->lock);
}

/* Setters for what the serving threads read under the lock. */
static void
fake_set(struct fake *fk, double *field, double value)
{
	pthread_mutex_lock(&fk->lock);
	*field = value;
	pthread_mutex_unlock(&fk->lock);
}

static void
fake_set_deny(struct fake *fk, bool deny)
{
	pthread_mutex_lock(&fk->lock);
	fk->deny_shutdown = deny;
	pthread_mutex_unlock(&fk->lock);
}

static void
fake_set_raw(struct fake *fk, enum proto_op op, const char *text)
{
	pthread_mutex_lock(&fk->lock);
	fk->raw[op] = text;
	pthread_mutex_unlock(&fk->lock);
}

/* The next n waits get error err. */
static void
fake_set_busy(struct fake *fk, int n, int err)
{
	pthread_mutex_lock(&fk->lock);
	fk->busy_waits = n;
	fk->busy_err = err;
	pthread_mutex_unlock(&fk->lock);
}

static void
fake_set_per_id(struct fake *fk, bool per_id)
{
	pthread_mutex_lock(&fk->lock);
	fk->per_id = per_id;
	pthread_mutex_unlock(&fk->lock);
}

/* Adds a running exec job whose output tests write. */
static void
fake_add_exec(struct fake *fk, uint64_t id)
{
	struct fake_job	*fj;

	pthread_mutex_lock(&fk->lock);
	fj = fake_add(fk, id, "exec", PROTO_RUNNING);
	fj->polls = -1;
	pthread_mutex_unlock(&fk->lock);
}

/* The job's command writes len bytes to stream; followers wake. */
static void
fake_write(struct fake *fk, uint64_t id, int stream, const void *data,
    size_t len)
{
	struct fake_job	*fj;
	char		*grown;

	pthread_mutex_lock(&fk->lock);
	fj = fake_find(fk, id);
	assert_non_null(fj);
	grown = realloc(fj->out[stream], fj->outlen[stream] + len + 1);
	assert_non_null(grown);
	memcpy(grown + fj->outlen[stream], data, len);
	fj->out[stream] = grown;
	fj->outlen[stream] += len;
	pthread_cond_broadcast(&fk->cond);
	pthread_mutex_unlock(&fk->lock);
}

/* The log of the job's stream stops here (--log-max-mib). */
static void
fake_cut(struct fake *fk, uint64_t id, int stream)
{
	struct fake_job	*fj;

	pthread_mutex_lock(&fk->lock);
	fj = fake_find(fk, id);
	assert_non_null(fj);
	fj->cut[stream] = true;
	pthread_cond_broadcast(&fk->cond);
	pthread_mutex_unlock(&fk->lock);
}

/* Waits (10 s at most) until the fake has had n requests of op. */
static void
fake_await(struct fake *fk, enum proto_op op, unsigned n)
{
	double	deadline = test_client_now() + 10;

	while (fake_count(fk, op) < n) {
		if (test_client_now() > deadline)
			fail_msg("the fake got %u %s requests, not %u",
			    fake_count(fk, op), proto_op_name(op), n);
		test_client_sleep(0.005);
	}
}

/* ---- fixtures */

static int
test_client_setup(void **state)
{
	struct env	*env;

	env = calloc(1, sizeof *env);
	assert_non_null(env);
	env->fake = fake_start();
	assert_int_equal(tc_open(&env->c, env->fake->url), 0);
	/* Wide, but short enough that a hang fails the test, not the run. */
	asyncd_set_request_timeout(env->c, 5.0);
	*state = env;
	return (0);
}

static int
test_client_teardown(void **state)
{
	struct env	*env = *state;

	/* The daemon first: nothing may be in flight when a client closes. */
	fake_stop(env->fake);
	asyncd_close(env->c);
	free(env);
	return (0);
}

#define ENV		((struct env *)*state)

/* ---- handle */

static void
test_client_open_url(void **state)
{
	struct asyncd	*c;
	char		 url[128];

	(void)state;
	test_client_url(url, sizeof url, "open");
	assert_int_equal(tc_open(&c, url), 0);
	assert_string_equal(asyncd_url(c), url);
	asyncd_close(c);

	/* The default honours ASYNCD_SOCKET (through proto/). */
	setenv("ASYNCD_SOCKET", url, 1);
	assert_int_equal(tc_open(&c, NULL), 0);
	assert_string_equal(asyncd_url(c), url);
	asyncd_close(c);
	unsetenv("ASYNCD_SOCKET");

	asyncd_close(NULL);
}

static void
test_client_open_bad_url(void **state)
{
	struct asyncd	*c = NULL;
	char		 big[PROTO_URL_MAX + 8];

	(void)state;
	assert_int_equal(tc_open(&c, "nosuch://x"), ASYNCD_EINVAL);
	assert_int_equal(tc_open(&c, ""), ASYNCD_EINVAL);
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "ipc://", 6);
	big[sizeof big - 1] = '\0';
	assert_int_equal(tc_open(&c, big), ASYNCD_EINVAL);
	assert_null(c);
}

/*
 * Something else listens at the socket: a peer that greets as another SP
 * protocol (PUB, 0x20) and then says nothing. Neither transport may take
 * it for the daemon: a ping finds no daemon within the connect timeout.
 */
struct not_asyncd {
	int		 fd;
	atomic_bool	 stop;
	atomic_int	 greeted;
};

static void *
not_asyncd_main(void *arg)
{
	static const char	 pub[8] = { 0, 'S', 'P', 0, 0, 0x20, 0, 0 };
	struct not_asyncd	*na = arg;
	struct pollfd		 pfd = { .fd = na->fd, .events = POLLIN };
	int			 c;

	while (!atomic_load(&na->stop)) {
		if (poll(&pfd, 1, 20) != 1 ||
		    (c = accept(na->fd, NULL, NULL)) == -1)
			continue;
		if (write(c, pub, sizeof pub) == (ssize_t)sizeof pub)
			atomic_fetch_add(&na->greeted, 1);
		close(c);
	}
	return (NULL);
}

static void
test_client_not_asyncd(void **state)
{
	struct not_asyncd	 na = { .fd = -1 };
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct asyncd		*c;
	pthread_t		 t;
	char			 url[128], *version = NULL;
	double			 t0, dt;

	(void)state;
	test_client_url(url, sizeof url, "notasyncd");
	assert_true(strlen(url + 6) < sizeof sun.sun_path);
	memcpy(sun.sun_path, url + 6, strlen(url + 6) + 1);
	na.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(na.fd != -1);
	assert_int_equal(bind(na.fd, (struct sockaddr *)&sun, sizeof sun), 0);
	assert_int_equal(listen(na.fd, 16), 0);
	assert_int_equal(pthread_create(&t, NULL, not_asyncd_main, &na), 0);

	assert_int_equal(tc_open(&c, url), 0);
	asyncd_set_connect_timeout(c, 0.3);
	asyncd_set_request_timeout(c, 2.0);
	t0 = test_client_now();
	assert_int_equal(asyncd_ping(c, &version, NULL, NULL),
	    ASYNCD_EUNREACHABLE);
	dt = test_client_now() - t0;
	assert_null(version);
	/* Given up at the connect timeout, well before the request's. */
	assert_true(dt >= 0.25 && dt < 1.9);
	/* It was asked, and answered as something else. */
	assert_true(atomic_load(&na.greeted) > 0);
	asyncd_close(c);

	atomic_store(&na.stop, true);
	pthread_join(t, NULL);
	close(na.fd);
	unlink(sun.sun_path);
}

static void
test_client_unreachable(void **state)
{
	struct asyncd		*c;
	struct asyncd_job	*job = NULL;
	char			 url[128], *version = NULL;
	uint64_t		 id = 0;
	double			 t0, dt;

	(void)state;
	test_client_url(url, sizeof url, "nobody");
	/* Opening succeeds with no daemon: the dialer works in the back. */
	assert_int_equal(tc_open(&c, url), 0);
	asyncd_set_request_timeout(c, 0.2);

	t0 = test_client_now();
	assert_int_equal(asyncd_ping(c, &version, NULL, NULL),
	    ASYNCD_EUNREACHABLE);
	dt = test_client_now() - t0;
	assert_true(dt >= 0.15 && dt < 3.0);
	assert_null(version);

	assert_int_equal(asyncd_submit(c, "echo", NULL, NULL, &id, NULL),
	    ASYNCD_EUNREACHABLE);
	assert_int_equal(id, 0);
	/* A long poll fails the same way, not with the wait's timeout. */
	assert_int_equal(asyncd_wait(c, 1, 10.0, &job), ASYNCD_EUNREACHABLE);
	assert_null(job);
	asyncd_close(c);
}

/* The daemon may start after the client: requests wait for it. */
struct late {
	struct asyncd	*c;
	char		*version;
	int		 rv;
};

static void *
test_client_late_ping(void *arg)
{
	struct late	*l = arg;

	l->rv = asyncd_ping(l->c, &l->version, NULL, NULL);
	return (NULL);
}

static void
test_client_daemon_late(void **state)
{
	struct fake	*fk;
	struct late	 l = { .rv = -1 };
	pthread_t	 t;
	char		 url[128];

	(void)state;
	test_client_url(url, sizeof url, "late");
	assert_int_equal(tc_open(&l.c, url), 0);
	asyncd_set_request_timeout(l.c, 5.0);
	assert_int_equal(pthread_create(&t, NULL, test_client_late_ping, &l),
	    0);
	test_client_sleep(0.3);
	fk = fake_start_at(url);
	pthread_join(t, NULL);
	assert_int_equal(l.rv, 0);
	assert_string_equal(l.version, "9.8.7");
	free(l.version);
	fake_stop(fk);
	asyncd_close(l.c);
}

/* A long wait survives the daemon restarting under it. */
struct restart {
	struct asyncd		*c;
	struct asyncd_job	*job;
	int			 rv;
};

static void *
test_client_restart_wait(void *arg)
{
	struct restart	*r = arg;

	r->rv = asyncd_wait(r->c, JOB_HOLD, 10.0, &r->job);
	return (NULL);
}

/*
 * A long wait survives its connection dropping while the daemon it asked
 * (the same instance) is still there to answer. Whether the drop comes
 * with a poll in flight or between two, the wait goes on.
 */
static void
test_client_daemon_restart(void **state)
{
	struct fake	*fk;
	struct restart	 r = { .rv = -1 };
	struct asyncd	*admin;
	pthread_t	 t;
	char		 url[128], instance[PROTO_MAX_INSTANCE + 1];

	(void)state;
	fk = fake_start();
	snprintf(url, sizeof url, "%s", fk->url);
	snprintf(instance, sizeof instance, "%s", fk->instance);
	assert_int_equal(tc_open(&r.c, url), 0);
	asyncd_set_request_timeout(r.c, 5.0);
	assert_int_equal(pthread_create(&t, NULL, test_client_restart_wait,
	    &r), 0);
	/* One reply came back (a second poll was sent): instance known. */
	fake_await(fk, PROTO_WAIT, 2);
	fake_stop(fk);
	fk = fake_start_as(url, instance);
	/* The daemon knows the job; cancel it there to end the wait. */
	assert_int_equal(tc_open(&admin, url), 0);
	assert_int_equal(asyncd_cancel(admin, JOB_HOLD, 0, NULL), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.rv, 0);
	assert_int_equal(asyncd_job_state(r.job), ASYNCD_CANCELLED);
	asyncd_job_free(r.job);
	fake_stop(fk);
	asyncd_close(admin);
	asyncd_close(r.c);
}

/* The restart message names the job and says what happened. */
static void
test_client_errmsg_restarted(uint64_t id)
{
	const char	*msg = asyncd_errmsg();
	char		 want[64];

	assert_non_null(msg);
	snprintf(want, sizeof want, "job %llu ", (unsigned long long)id);
	if (strstr(msg, "restarted") == NULL || strstr(msg, want) == NULL ||
	    strstr(msg, "previous instance") == NULL)
		fail_msg("restart message '%s'", msg);
}

struct restart_call {
	struct asyncd		*c;
	struct asyncd_job	*job;
	int			 rv;
	char			 msg[CLIENT_ERRMSG_MAX];
};

static void *
test_client_restart_call(void *arg)
{
	struct restart_call	*r = arg;

	r->rv = asyncd_call(r->c, "sleep", NULL, NULL, 10.0, &r->job);
	if (asyncd_errmsg() != NULL)
		snprintf(r->msg, sizeof r->msg, "%s", asyncd_errmsg());
	return (NULL);
}

/*
 * A regression test: after a restart, the new daemon gave out the old
 * ids again, and a wait re-sent there reported a stranger's job as the
 * one waited for. Now a reply from another instance fails the wait with
 * unknown_job, whether the wait began with its own first reply (asyncd_wait),
 * with the submit's (asyncd_call, asyncd_run), or with none seen yet.
 */
static void
test_client_daemon_restart_new_instance(void **state)
{
	struct fake		*fk;
	struct restart		 r = { .rv = -1 };
	struct restart_call	 rc = { .rv = -1 };
	struct asyncd_future	*f;
	struct asyncd		*c;
	pthread_t		 t;
	char			 url[128];
	unsigned		 waits;

	(void)state;
	fk = fake_start();
	snprintf(url, sizeof url, "%s", fk->url);
	assert_int_equal(tc_open(&c, url), 0);
	asyncd_set_request_timeout(c, 5.0);

	/* asyncd_wait: the first reply's instance is the wait's. */
	r.c = c;
	assert_int_equal(pthread_create(&t, NULL, test_client_restart_wait,
	    &r), 0);
	fake_await(fk, PROTO_WAIT, 2);
	fake_stop(fk);
	/* The new daemon has a job 3 too, and would say it finished. */
	fk = fake_start_at(url);
	fake_succeed(fk, JOB_HOLD, "\"a stranger's\"");
	pthread_join(t, NULL);
	assert_int_equal(r.rv, ASYNCD_EUNKNOWNJOB);
	assert_null(r.job);

	/* asyncd_call: the submit's instance is the wait's. */
	rc.c = c;
	waits = fake_count(fk, PROTO_WAIT);
	assert_int_equal(pthread_create(&t, NULL, test_client_restart_call,
	    &rc), 0);
	fake_await(fk, PROTO_WAIT, waits + 1);
	fake_stop(fk);
	fk = fake_start_at(url);
	pthread_join(t, NULL);
	assert_int_equal(rc.rv, ASYNCD_EUNKNOWNJOB);
	assert_null(rc.job);
	if (strstr(rc.msg, "restarted") == NULL ||
	    strstr(rc.msg, "job 100 ") == NULL)
		fail_msg("restart message '%s'", rc.msg);

	/* asyncd_run: the future's first poll already goes to a stranger. */
	assert_int_equal(asyncd_run(c, "sleep", NULL, NULL, &f), 0);
	fake_stop(fk);
	fk = fake_start_at(url);
	assert_int_equal(asyncd_future_result(f, 10, NULL),
	    ASYNCD_EUNKNOWNJOB);
	assert_null(asyncd_future_job(f));
	test_client_errmsg_restarted(asyncd_future_id(f));
	asyncd_future_free(f);

	/* A daemon that names no instance after one that did: another. */
	r.rv = -1;
	assert_int_equal(pthread_create(&t, NULL, test_client_restart_wait,
	    &r), 0);
	waits = fake_count(fk, PROTO_WAIT);
	fake_await(fk, PROTO_WAIT, waits + 2);
	fake_stop(fk);
	fk = fake_start_as(url, "");
	pthread_join(t, NULL);
	assert_int_equal(r.rv, ASYNCD_EUNKNOWNJOB);
	fake_stop(fk);
	asyncd_close(c);
}

struct gone {
	struct asyncd		*c;
	struct asyncd_job	*job;
	int			 rv;
	double			 returned;
};

static void *
test_client_gone_wait(void *arg)
{
	struct gone	*g = arg;

	g->rv = asyncd_wait(g->c, JOB_HOLD, 60.0, &g->job);
	g->returned = test_client_now();
	return (NULL);
}

/*
 * A daemon that goes away and stays away fails a long wait within the
 * connect timeout, not at the wait's own (far later) deadline.
 */
static void
test_client_wait_daemon_gone(void **state)
{
	struct fake	*fk;
	struct gone	 g = { .rv = -1 };
	pthread_t	 t;
	double		 t0;

	(void)state;
	fk = fake_start();
	assert_int_equal(tc_open(&g.c, fk->url), 0);
	asyncd_set_request_timeout(g.c, 5.0);
	asyncd_set_connect_timeout(g.c, 0.3);
	assert_int_equal(pthread_create(&t, NULL, test_client_gone_wait, &g),
	    0);
	fake_await(fk, PROTO_WAIT, 1);
	t0 = test_client_now();
	fake_stop(fk);
	pthread_join(t, NULL);
	assert_int_equal(g.rv, ASYNCD_EUNREACHABLE);
	assert_null(g.job);
	assert_true(g.returned - t0 >= 0.25);
	assert_true(g.returned - t0 < 4.0);
	asyncd_close(g.c);
}

static void
test_client_ping(void **state)
{
	char	*version = NULL, *events = NULL;
	int64_t	 pid = 0;

	assert_int_equal(asyncd_ping(ENV->c, &version, &events, &pid), 0);
	assert_string_equal(version, "9.8.7");
	assert_string_equal(events, "ipc:///tmp/fake.events");
	assert_int_equal(pid, 4242);
	free(version);
	free(events);
	/* Every out-parameter is optional. */
	assert_int_equal(asyncd_ping(ENV->c, NULL, NULL, NULL), 0);
	assert_null(asyncd_errmsg());
}

static void
test_client_info(void **state)
{
	struct asyncd_info	*info = NULL;

	assert_int_equal(asyncd_info(ENV->c, &info), 0);
	assert_non_null(info);
	assert_string_equal(info->version, "9.8.7");
	assert_int_equal(info->protocol, PROTO_VERSION);
	assert_int_equal(info->pid, 4242);
	assert_string_equal(info->events, "ipc:///tmp/fake.events");
	assert_non_null(info->instance);
	assert_string_equal(info->instance, ENV->fake->instance);
	asyncd_info_free(info);
	asyncd_info_free(NULL);

	/* A daemon that names no instance: NULL. */
	pthread_mutex_lock(&ENV->fake->lock);
	ENV->fake->instance[0] = '\0';
	pthread_mutex_unlock(&ENV->fake->lock);
	info = NULL;
	assert_int_equal(asyncd_info(ENV->c, &info), 0);
	assert_null(info->instance);
	asyncd_info_free(info);

	fake_set_raw(ENV->fake, PROTO_PING, "{\"ok\":true,\"pid\":\"x\"}");
	info = NULL;
	assert_int_equal(asyncd_info(ENV->c, &info), ASYNCD_EPROTO);
	assert_null(info);
}

/* Makes a socket file at path (bound, never listened on); returns it. */
static int
test_client_socket_file(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof sun.sun_path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	return (fd);
}

/*
 * A client given no URL dials this user's socket, unless that file does
 * not exist and the system daemon's does: the fallback's choice, on
 * sockets made for the test.
 */
static void
test_client_default_url(void **state)
{
	struct asyncd	*c;
	char		 dir[] = "/tmp/asyncd-test-url.XXXXXX";
	char		 user[128], sys[128], got[PROTO_URL_MAX], path[128];
	char		 want[PROTO_URL_MAX];
	int		 ufd, sfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(user, sizeof user, "ipc://%s/user.sock", dir);
	snprintf(sys, sizeof sys, "ipc://%s/system.sock", dir);

	/* Neither exists: the user's, so that errors name it. */
	assert_int_equal(proto_fallback_url(user, sys, got, sizeof got), 0);
	assert_string_equal(got, user);
	/* Only the system's exists: the system's. */
	snprintf(path, sizeof path, "%s/system.sock", dir);
	sfd = test_client_socket_file(path);
	assert_int_equal(proto_fallback_url(user, sys, got, sizeof got), 0);
	assert_string_equal(got, sys);
	/* Both exist: the user's. */
	snprintf(path, sizeof path, "%s/user.sock", dir);
	ufd = test_client_socket_file(path);
	assert_int_equal(proto_fallback_url(user, sys, got, sizeof got), 0);
	assert_string_equal(got, user);
	/* Only URLs with paths fall back; a short buffer is refused. */
	assert_int_equal(proto_fallback_url("tcp://127.0.0.1:9", sys, got,
	    sizeof got), 0);
	assert_string_equal(got, "tcp://127.0.0.1:9");
	assert_int_equal(proto_fallback_url(user, sys, got, 8),
	    ASYNCD_EINVAL);
	close(ufd);
	close(sfd);
	unlink(path);
	snprintf(path, sizeof path, "%s/system.sock", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);

	/* $ASYNCD_SOCKET wins, whatever exists. */
	setenv("ASYNCD_SOCKET", user, 1);
	assert_int_equal(proto_client_url(got, sizeof got), 0);
	assert_string_equal(got, user);
	unsetenv("ASYNCD_SOCKET");

	/*
	 * Without it, the client's choice is the daemon's default or the
	 * system socket, whichever proto_fallback_url picks; asyncd_open
	 * makes the same one.
	 */
	setenv("XDG_RUNTIME_DIR", dir, 1);
	assert_int_equal(proto_default_url(want, sizeof want), 0);
	snprintf(user, sizeof user, "ipc://%s/asyncd/asyncd.sock", dir);
	assert_string_equal(want, user);
	assert_int_equal(proto_fallback_url(want, PROTO_SYSTEM_URL, want,
	    sizeof want), 0);
	assert_int_equal(proto_client_url(got, sizeof got), 0);
	assert_string_equal(got, want);
	assert_int_equal(tc_open(&c, NULL), 0);
	assert_string_equal(asyncd_url(c), want);
	asyncd_close(c);
	unsetenv("XDG_RUNTIME_DIR");
}

/* ---- the long-poll engine */

/* A wait reply for ids, each in state st (PROTO_NO_STATE: unknown). */
static void
test_client_reply(struct proto_reply *rep, struct proto_job *pjs,
    const uint64_t *ids, const enum proto_state *st, size_t n,
    const char *instance)
{
	size_t	i;

	memset(rep, 0, sizeof *rep);
	rep->op = PROTO_WAIT;
	rep->instance = (char *)instance;
	for (i = 0; i < n; i++) {
		memset(&pjs[i], 0, sizeof pjs[i]);
		pjs[i].id = ids[i];
		pjs[i].type = "sleep";
		pjs[i].state = st[i];
	}
	rep->u.jobs.jobs = pjs;
	rep->u.jobs.njobs = n;
}

/* An output reply for job id: len bytes of stdout, done or not. */
static void
test_client_reply_output(struct proto_reply *rep, uint64_t id, size_t len,
    bool done, const char *instance)
{
	memset(rep, 0, sizeof *rep);
	rep->op = PROTO_OUTPUT;
	rep->instance = (char *)instance;
	rep->u.output.job.id = id;
	rep->u.output.job.type = "exec";
	rep->u.output.job.state = done ? PROTO_SUCCEEDED : PROTO_RUNNING;
	rep->u.output.chunk[PROTO_STDOUT].present = true;
	rep->u.output.chunk[PROTO_STDOUT].data = "abc";
	rep->u.output.chunk[PROTO_STDOUT].len = len;
	rep->u.output.chunk[PROTO_STDOUT].size = len;
	rep->u.output.done = done;
}

/* An error reply. */
static void
test_client_reply_err(struct proto_reply *rep, int err, const char *instance)
{
	memset(rep, 0, sizeof *rep);
	rep->op = PROTO_WAIT;
	rep->err = err;
	rep->message = "why";
	rep->instance = (char *)instance;
}

static enum client_poll_next
test_client_next_rep(struct client_poll *p, const struct proto_reply *rep)
{
	struct client_poll_outcome	o = { .rep = rep };

	(void)client_poll_begin(p);
	return (client_poll_next(p, &o));
}

static enum client_poll_next
test_client_next_nng(struct client_poll *p, int rv, bool sent)
{
	struct client_poll_outcome	o = { .nng = rv, .sent = sent };

	(void)client_poll_begin(p);
	return (client_poll_next(p, &o));
}

/*
 * The rule itself, outcome by outcome, with no daemon and no clock
 * games: the engine's decisions are what asyncd_wait and futures do.
 */
static void
test_client_poll_engine(void **state)
{
	struct asyncd			*c;
	struct client_poll		 p;
	struct client_poll_outcome	 o;
	struct proto_reply		 rep;
	struct proto_job		 pjs[2];
	uint64_t			 ids[2] = { 7, 8 };
	enum proto_state		 st[2];
	static const int		 transient[] = { ASYNCD_EBUSY,
					    ASYNCD_ESHUTDOWN,
					    ASYNCD_EINTERNAL, ASYNCD_ENOMEM };
	static const int		 fatal[] = { ASYNCD_EUNKNOWNJOB,
					    ASYNCD_EPERM, ASYNCD_EBADREQUEST };
	double				 pause;
	size_t				 i;

	(void)state;
	assert_int_equal(tc_open(&c, "ipc:///tmp/asyncd-test-engine"), 0);
	asyncd_set_request_timeout(c, 5);
	asyncd_set_connect_timeout(c, 2);

	/* Met: done. Not met: poll again now. ALL and ANY. */
	client_poll_init(&p, c, INFINITY);
	p.ids = ids;
	p.nids = 2;
	assert_true(client_poll_begin(&p) == CLIENT_HOLD_MAX);
	st[0] = PROTO_SUCCEEDED;
	st[1] = PROTO_RUNNING;
	test_client_reply(&rep, pjs, ids, st, 2, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_NOW);
	assert_string_equal(p.instance, "aaaa");
	p.any = true;
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_DONE);
	p.any = false;
	/* An entry the daemon cannot answer for counts as finished. */
	st[1] = PROTO_NO_STATE;
	test_client_reply(&rep, pjs, ids, st, 2, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_DONE);

	/* Transient errors: pauses of 10, 20, 40 ms ... up to 1 s. */
	for (i = 0; i < NITEMS(transient); i++) {
		client_poll_init(&p, c, INFINITY);
		p.ids = ids;
		p.nids = 2;
		test_client_reply_err(&rep, transient[i], "aaaa");
		for (pause = 0.010; pause < 1.5; pause *= 2) {
			assert_int_equal(test_client_next_rep(&p, &rep),
			    CLIENT_POLL_BACKOFF);
			assert_true(fabs(p.pause - (pause < 1 ? pause :
			    1.0)) < 1e-9);
		}
		assert_int_equal(test_client_next_rep(&p, &rep),
		    CLIENT_POLL_BACKOFF);
		assert_true(p.pause == 1.0);
		/* A good reply starts the pauses over. */
		st[0] = st[1] = PROTO_RUNNING;
		test_client_reply(&rep, pjs, ids, st, 2, "aaaa");
		assert_int_equal(test_client_next_rep(&p, &rep),
		    CLIENT_POLL_NOW);
		test_client_reply_err(&rep, transient[i], "aaaa");
		assert_int_equal(test_client_next_rep(&p, &rep),
		    CLIENT_POLL_BACKOFF);
		assert_true(fabs(p.pause - 0.010) < 1e-9);
	}

	/* Errors that will not pass: fail with them, and their message. */
	for (i = 0; i < NITEMS(fatal); i++) {
		client_poll_init(&p, c, INFINITY);
		p.ids = ids;
		p.nids = 2;
		test_client_reply_err(&rep, fatal[i], NULL);
		assert_int_equal(test_client_next_rep(&p, &rep),
		    CLIENT_POLL_FAIL);
		assert_int_equal(p.err, fatal[i]);
		assert_string_equal(p.msg, "why");
	}
	/* A reply for other ids, or an unreadable one: protocol errors. */
	client_poll_init(&p, c, INFINITY);
	p.ids = ids;
	p.nids = 2;
	st[0] = st[1] = PROTO_RUNNING;
	test_client_reply(&rep, pjs, ids, st, 1, NULL);
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EPROTO);
	memset(&o, 0, sizeof o);
	o.decode = ASYNCD_EPROTO;
	assert_int_equal(client_poll_next(&p, &o), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EPROTO);
	/* Our own lack of memory may pass. */
	o.decode = ASYNCD_ENOMEM;
	assert_int_equal(client_poll_next(&p, &o), CLIENT_POLL_BACKOFF);
	assert_int_equal(test_client_next_nng(&p, NNG_ENOMEM, false),
	    CLIENT_POLL_BACKOFF);

	/* Past the deadline: not met is ETIMEDOUT, busy is busy. */
	client_poll_init(&p, c, client_now() - 1);
	p.ids = ids;
	p.nids = 2;
	assert_true(client_poll_begin(&p) == 0);
	test_client_reply(&rep, pjs, ids, st, 2, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_ETIMEDOUT);
	test_client_reply_err(&rep, ASYNCD_EBUSY, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EBUSY);
	/* A pause never runs past the deadline. */
	client_poll_init(&p, c, client_now() + 0.005);
	p.ids = ids;
	p.nids = 2;
	p.backoff = 0.5;
	assert_int_equal(test_client_next_rep(&p, &rep),
	    CLIENT_POLL_BACKOFF);
	assert_true(p.pause <= 0.005);

	/* Another instance: the daemon restarted; the jobs are gone. */
	client_poll_init(&p, c, INFINITY);
	p.ids = ids;
	p.nids = 1;
	client_poll_instance(&p, "aaaa");
	test_client_reply(&rep, pjs, ids, st, 1, "bbbb");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNKNOWNJOB);
	assert_non_null(strstr(p.msg, "restarted: job 7 belonged"));
	/* Even when the new one says busy. */
	test_client_reply_err(&rep, ASYNCD_EBUSY, "bbbb");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNKNOWNJOB);
	/* The same one, or a first reply naming none: fine. */
	test_client_reply(&rep, pjs, ids, st, 1, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_NOW);
	client_poll_init(&p, c, INFINITY);
	p.ids = ids;
	p.nids = 1;
	test_client_reply(&rep, pjs, ids, st, 1, NULL);
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_NOW);
	test_client_reply(&rep, pjs, ids, st, 1, "cccc");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_NOW);
	test_client_reply(&rep, pjs, ids, st, 1, NULL);
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNKNOWNJOB);

	/* A dropped connection: pauses while the daemon may come back. */
	client_poll_init(&p, c, INFINITY);
	p.ids = ids;
	p.nids = 1;
	assert_int_equal(test_client_next_nng(&p, NNG_ECONNRESET, true),
	    CLIENT_POLL_BACKOFF);
	assert_int_equal(test_client_next_nng(&p, NNG_ECONNSHUT, false),
	    CLIENT_POLL_BACKOFF);
	/* ... away longer than the connect timeout (2 s): unreachable. */
	p.down_since = client_now() - 2.5;
	assert_int_equal(test_client_next_nng(&p, NNG_ECONNRESET, true),
	    CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNREACHABLE);
	/* A reply in between starts the count over. */
	p.down_since = client_now() - 2.5;
	test_client_reply(&rep, pjs, ids, st, 1, NULL);
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_NOW);
	assert_int_equal(test_client_next_nng(&p, NNG_ECONNRESET, true),
	    CLIENT_POLL_BACKOFF);
	/* A send that found no connection in its time: unreachable. */
	client_poll_init(&p, c, INFINITY);
	(void)client_poll_begin(&p);
	p.started -= 2.0;
	memset(&o, 0, sizeof o);
	o.nng = NNG_ETIMEDOUT;
	assert_int_equal(client_poll_next(&p, &o), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNREACHABLE);
	/* Sent, and no reply in the request timeout: unreachable at once. */
	client_poll_init(&p, c, INFINITY);
	assert_int_equal(test_client_next_nng(&p, NNG_ETIMEDOUT, true),
	    CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNREACHABLE);
	/* Closing the client fails at once. */
	assert_int_equal(test_client_next_nng(&p, NNG_ECLOSED, false),
	    CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_ECLOSED);
	/* Dropped at the deadline: unreachable, no more pauses. */
	client_poll_init(&p, c, client_now() - 1);
	assert_int_equal(test_client_next_nng(&p, NNG_ECONNRESET, true),
	    CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNREACHABLE);

	/*
	 * A single request: any reply ends it; a drop is retried only if
	 * sending it again cannot do anything twice.
	 */
	client_poll_init(&p, c, INFINITY);
	test_client_reply_err(&rep, ASYNCD_EBUSY, NULL);
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_DONE);
	assert_int_equal(test_client_next_nng(&p, NNG_ECONNRESET, true),
	    CLIENT_POLL_BACKOFF);
	p.repeatable = false;
	assert_int_equal(test_client_next_nng(&p, NNG_ECONNRESET, true),
	    CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNREACHABLE);

	/*
	 * Output polls: bytes or the job's end meet the condition; an empty
	 * reply asks again, or at the deadline fails with ETIMEDOUT; the
	 * same instance rule as for waits.
	 */
	client_poll_init(&p, c, INFINITY);
	p.ids = ids;
	p.nids = 1;
	test_client_reply_output(&rep, 7, 0, false, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_NOW);
	test_client_reply_output(&rep, 7, 3, false, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_DONE);
	test_client_reply_output(&rep, 7, 0, true, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_DONE);
	test_client_reply_output(&rep, 8, 3, false, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EPROTO);
	test_client_reply_output(&rep, 7, 3, false, "bbbb");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_EUNKNOWNJOB);
	test_client_reply_err(&rep, ASYNCD_EBUSY, "aaaa");
	rep.op = PROTO_OUTPUT;
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_BACKOFF);
	client_poll_init(&p, c, client_now() - 1);
	p.ids = ids;
	p.nids = 1;
	test_client_reply_output(&rep, 7, 0, false, "aaaa");
	assert_int_equal(test_client_next_rep(&p, &rep), CLIENT_POLL_FAIL);
	assert_int_equal(p.err, ASYNCD_ETIMEDOUT);
	asyncd_close(c);
}

/* ---- submitting */

static void
test_client_submit(void **state)
{
	struct asyncd_submit_opts	 opts = {
		.key = "fresh",
		.timeout = 3
	};
	struct asyncd_job		*job;
	uint64_t			 id = 0;
	bool				 created = false;

	assert_int_equal(asyncd_submit(ENV->c, "sleep", "{\"seconds\":1}",
	    &opts, &id, &created), 0);
	assert_int_equal(id, 100);
	assert_true(created);

	assert_int_equal(asyncd_status(ENV->c, id, &job), 0);
	assert_string_equal(asyncd_job_key(job), "fresh");
	asyncd_job_free(job);

	/* A key the daemon knows returns that job, not a new one. */
	opts.key = "dup";
	assert_int_equal(asyncd_submit(ENV->c, "sleep", NULL, &opts, &id,
	    &created), 0);
	assert_int_equal(id, JOB_ECHO);
	assert_false(created);

	/* No options, no arguments, no created flag wanted. */
	assert_int_equal(asyncd_submit(ENV->c, "sleep", NULL, NULL, &id,
	    NULL), 0);
	assert_int_equal(id, 101);
	assert_int_equal(fake_count(ENV->fake, PROTO_SUBMIT), 3);
}

static void
test_client_submit_invalid(void **state)
{
	struct asyncd_submit_opts	 opts = { 0 };
	char				 big[PROTO_MAX_KEY + 2];
	uint64_t			 id = 0;

	/* Refused locally: nothing reaches the daemon. */
	assert_int_equal(asyncd_submit(ENV->c, "echo", "{bad json", NULL,
	    &id, NULL), ASYNCD_EINVAL);
	assert_int_equal(asyncd_submit(ENV->c, "echo", "1 2", NULL, &id,
	    NULL), ASYNCD_EINVAL);
	assert_int_equal(asyncd_submit(ENV->c, NULL, NULL, NULL, &id, NULL),
	    ASYNCD_EINVAL);
	assert_int_equal(asyncd_submit(ENV->c, "", NULL, NULL, &id, NULL),
	    ASYNCD_EINVAL);
	opts.timeout = -1;
	assert_int_equal(asyncd_submit(ENV->c, "echo", NULL, &opts, &id,
	    NULL), ASYNCD_EINVAL);
	opts.timeout = NAN;
	assert_int_equal(asyncd_submit(ENV->c, "echo", NULL, &opts, &id,
	    NULL), ASYNCD_EINVAL);
	opts.timeout = 0;
	memset(big, 'k', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	opts.key = big;
	assert_int_equal(asyncd_submit(ENV->c, "echo", NULL, &opts, &id,
	    NULL), ASYNCD_EINVAL);
	opts.key = "";
	assert_int_equal(asyncd_submit(ENV->c, "echo", NULL, &opts, &id,
	    NULL), ASYNCD_EINVAL);
	assert_int_equal(fake_count(ENV->fake, PROTO_SUBMIT), 0);
	assert_int_equal(id, 0);

	/* Trailing whitespace after the arguments is fine. */
	assert_int_equal(asyncd_submit(ENV->c, "echo", " [1] \n", NULL, &id,
	    NULL), 0);
}

static void
test_client_error_reply(void **state)
{
	struct asyncd_job	*job = NULL;
	uint64_t		 id = 0;

	assert_int_equal(asyncd_submit(ENV->c, "nope", NULL, NULL, &id, NULL),
	    ASYNCD_EUNKNOWNTYPE);
	assert_int_equal(id, 0);
	assert_non_null(asyncd_errmsg());
	assert_string_equal(asyncd_errmsg(), "no job type named 'nope'");

	assert_int_equal(asyncd_status(ENV->c, FAKE_UNKNOWN, &job),
	    ASYNCD_EUNKNOWNJOB);
	assert_null(job);
	assert_string_equal(asyncd_errmsg(), "no job 404");

	/* A wait on one unknown id fails, with the entry's message. */
	assert_int_equal(asyncd_wait(ENV->c, FAKE_UNKNOWN, 1.0, &job),
	    ASYNCD_EUNKNOWNJOB);
	assert_null(job);
	assert_string_equal(asyncd_errmsg(), "no job with id 404");
	assert_int_equal(asyncd_wait(ENV->c, FAKE_FORBIDDEN, 1.0, &job),
	    ASYNCD_EPERM);
	assert_null(job);
	/* So it does with a daemon that fails the whole wait. */
	fake_set_per_id(ENV->fake, false);
	assert_int_equal(asyncd_wait(ENV->c, FAKE_UNKNOWN, 1.0, &job),
	    ASYNCD_EUNKNOWNJOB);
	assert_string_equal(asyncd_errmsg(), "no job 404");
	fake_set_per_id(ENV->fake, true);

	/* A request that succeeds clears the message. */
	assert_int_equal(asyncd_ping(ENV->c, NULL, NULL, NULL), 0);
	assert_null(asyncd_errmsg());

	fake_set_deny(ENV->fake, true);
	assert_int_equal(asyncd_shutdown(ENV->c), ASYNCD_EPERM);
	fake_set_deny(ENV->fake, false);
	assert_int_equal(asyncd_shutdown(ENV->c), 0);
}

static void
test_client_malformed_reply(void **state)
{
	struct asyncd_job	*job = NULL;
	char			*version = NULL;
	uint64_t		 id = 0;
	size_t			 n = 0;
	char			**names = NULL, **descs = NULL;

	/* Not JSON at all. */
	assert_int_equal(asyncd_status(ENV->c, FAKE_GARBLED, &job),
	    ASYNCD_EPROTO);
	assert_null(job);

	/* JSON, but not a reply. */
	fake_set_raw(ENV->fake, PROTO_PING, "[1,2,3]");
	assert_int_equal(asyncd_ping(ENV->c, &version, NULL, NULL),
	    ASYNCD_EPROTO);
	assert_null(version);

	/* A reply whose job lacks its id. */
	fake_set_raw(ENV->fake, PROTO_SUBMIT,
	    "{\"ok\":true,\"job\":{\"type\":\"echo\",\"state\":\"queued\"},"
	    "\"created\":true}");
	assert_int_equal(asyncd_submit(ENV->c, "echo", NULL, NULL, &id, NULL),
	    ASYNCD_EPROTO);
	assert_int_equal(id, 0);

	/* A wait reply for other jobs than asked. */
	fake_set_raw(ENV->fake, PROTO_WAIT,
	    "{\"ok\":true,\"jobs\":[{\"id\":9,\"type\":\"echo\","
	    "\"state\":\"succeeded\"}],\"done\":true}");
	assert_int_equal(asyncd_wait(ENV->c, JOB_ECHO, 1.0, &job),
	    ASYNCD_EPROTO);
	assert_null(job);

	/* An error reply without a code. */
	fake_set_raw(ENV->fake, PROTO_TYPES, "{\"ok\":false,\"error\":{}}");
	assert_int_equal(asyncd_types(ENV->c, &names, &descs, &n),
	    ASYNCD_EPROTO);
	assert_null(names);
}

/* ---- waiting */

static void
test_client_wait_reissues(void **state)
{
	struct asyncd_job	*job = NULL;

	/* done:false twice, then done:true: three requests, one answer. */
	assert_int_equal(asyncd_wait(ENV->c, JOB_SLOW, 10.0, &job), 0);
	assert_int_equal(fake_count(ENV->fake, PROTO_WAIT), 3);
	assert_int_equal(asyncd_job_id(job), JOB_SLOW);
	assert_int_equal(asyncd_job_state(job), ASYNCD_SUCCEEDED);
	assert_true(asyncd_job_done(job));
	assert_string_equal(asyncd_job_result(job), "\"done\"");
	assert_int_equal(asyncd_job_outcome(job), 0);
	asyncd_job_free(job);
}

static void
test_client_wait_timeout(void **state)
{
	struct asyncd_job	*job = NULL;
	double			 t0, dt;

	/* The fake holds 0.2 s at most, so this takes several polls. */
	t0 = test_client_now();
	assert_int_equal(asyncd_wait(ENV->c, JOB_HOLD, 0.7, &job),
	    ASYNCD_ETIMEDOUT);
	dt = test_client_now() - t0;
	assert_null(job);
	assert_true(dt >= 0.65 && dt < 3.0);
	assert_true(fake_count(ENV->fake, PROTO_WAIT) >= 3);

	/* Zero: one look, no hold. */
	t0 = test_client_now();
	assert_int_equal(asyncd_wait(ENV->c, JOB_HOLD, 0, &job),
	    ASYNCD_ETIMEDOUT);
	assert_true(test_client_now() - t0 < 0.15);
	assert_int_equal(asyncd_wait(ENV->c, JOB_ECHO, 0, &job), 0);
	assert_string_equal(asyncd_job_result(job), "{\"x\":1}");
	asyncd_job_free(job);

	assert_int_equal(asyncd_wait(ENV->c, 0, 1.0, &job), ASYNCD_EINVAL);
	assert_int_equal(asyncd_wait(ENV->c, PROTO_ID_MAX + 1, 1.0, &job),
	    ASYNCD_EINVAL);
}

static void
test_client_wait_many(void **state)
{
	struct asyncd_job	*jobs[3] = { NULL };
	uint64_t		 ids[3] = { JOB_HOLD, JOB_ECHO, JOB_FAIL };
	uint64_t		 many[PROTO_MAX_IDS + 1];

	/* Any: the finished one is enough; the others come as they are. */
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ANY,
	    5.0, jobs), 0);
	assert_int_equal(asyncd_job_id(jobs[0]), JOB_HOLD);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_RUNNING);
	assert_null(asyncd_job_result(jobs[0]));
	assert_int_equal(asyncd_job_state(jobs[1]), ASYNCD_SUCCEEDED);
	assert_int_equal(asyncd_job_id(jobs[2]), JOB_FAIL);
	asyncd_job_free(jobs[0]);
	asyncd_job_free(jobs[1]);
	asyncd_job_free(jobs[2]);

	/* All: the held one never finishes; jobs[] is set anyway. */
	memset(jobs, 0, sizeof jobs);
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ALL,
	    0.3, jobs), ASYNCD_ETIMEDOUT);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_RUNNING);
	assert_int_equal(asyncd_job_state(jobs[1]), ASYNCD_SUCCEEDED);
	assert_int_equal(asyncd_job_state(jobs[2]), ASYNCD_FAILED);
	assert_string_equal(asyncd_job_error_code(jobs[2]), "failed");
	assert_string_equal(asyncd_job_error_message(jobs[2]), "boom");
	assert_int_equal(asyncd_job_outcome(jobs[2]), ASYNCD_EFAILED);
	asyncd_job_free(jobs[0]);
	asyncd_job_free(jobs[1]);
	asyncd_job_free(jobs[2]);

	/* All of them finished. */
	ids[0] = JOB_TIMEDOUT;
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ALL,
	    -1, jobs), 0);
	assert_int_equal(asyncd_job_outcome(jobs[0]), ASYNCD_EJOBTIMEDOUT);
	asyncd_job_free(jobs[0]);
	asyncd_job_free(jobs[1]);
	asyncd_job_free(jobs[2]);

	memset(jobs, 0, sizeof jobs);
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 0, ASYNCD_WAIT_ALL,
	    1, jobs), ASYNCD_EINVAL);
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, 7, 1, jobs),
	    ASYNCD_EINVAL);
	ids[1] = 0;
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ALL,
	    1, jobs), ASYNCD_EINVAL);
	memset(many, 0, sizeof many);
	assert_int_equal(asyncd_wait_many(ENV->c, many, NITEMS(many),
	    ASYNCD_WAIT_ALL, 1, jobs), ASYNCD_EINVAL);
	assert_null(jobs[0]);

	/* A daemon that fails the whole wait for one unknown id. */
	fake_set_per_id(ENV->fake, false);
	ids[1] = FAKE_UNKNOWN;
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ALL,
	    1, jobs), ASYNCD_EUNKNOWNJOB);
	assert_null(jobs[0]);
}

/*
 * An id the daemon cannot answer for is a job of its own in the answer
 * (state unknown, finished, with the daemon's error), and the other jobs
 * are still answered: one unknown id no longer fails a fan-out's wait.
 */
static void
test_client_wait_per_id(void **state)
{
	struct asyncd_job	*jobs[4] = { NULL };
	struct asyncd_job	*job = NULL;
	uint64_t		 ids[4] = { JOB_ECHO, FAKE_UNKNOWN,
				    FAKE_FORBIDDEN, FAKE_UNKNOWN };
	char			*json;
	size_t			 i;

	assert_int_equal(asyncd_wait_many(ENV->c, ids, 4, ASYNCD_WAIT_ALL,
	    5.0, jobs), 0);
	assert_int_equal(fake_count(ENV->fake, PROTO_WAIT), 1);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_result(jobs[0]), "{\"x\":1}");
	for (i = 1; i < 4; i++) {
		assert_int_equal(asyncd_job_id(jobs[i]), ids[i]);
		assert_int_equal(asyncd_job_state(jobs[i]), ASYNCD_UNKNOWN);
		assert_true(asyncd_job_done(jobs[i]));
		assert_null(asyncd_job_type(jobs[i]));
		assert_null(asyncd_job_result(jobs[i]));
	}
	assert_int_equal(asyncd_job_outcome(jobs[1]), ASYNCD_EUNKNOWNJOB);
	assert_string_equal(asyncd_job_error_code(jobs[1]), "unknown_job");
	assert_string_equal(asyncd_job_error_message(jobs[1]),
	    "no job with id 404");
	assert_int_equal(asyncd_job_outcome(jobs[2]), ASYNCD_EPERM);
	assert_string_equal(asyncd_job_error_code(jobs[2]),
	    "permission_denied");
	/* The repeated id got its own copy. */
	assert_true(jobs[3] != jobs[1]);
	assert_int_equal(asyncd_job_outcome(jobs[3]), ASYNCD_EUNKNOWNJOB);
	/* Its JSON is the wire's entry. */
	json = asyncd_job_json(jobs[1]);
	assert_non_null(json);
	assert_string_equal(json, "{\"id\":404,\"error\":{\"code\":"
	    "\"unknown_job\",\"message\":\"no job with id 404\"}}");
	free(json);
	for (i = 0; i < 4; i++)
		asyncd_job_free(jobs[i]);

	/* It counts as finished: "any" returns with it at once. */
	ids[0] = JOB_HOLD;
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 2, ASYNCD_WAIT_ANY,
	    10.0, jobs), 0);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_RUNNING);
	assert_int_equal(asyncd_job_state(jobs[1]), ASYNCD_UNKNOWN);
	asyncd_job_free(jobs[0]);
	asyncd_job_free(jobs[1]);

	/* Alone, it fails asyncd_wait (and a future: future_backoff). */
	assert_int_equal(asyncd_wait(ENV->c, FAKE_UNKNOWN, 5.0, &job),
	    ASYNCD_EUNKNOWNJOB);
	assert_null(job);
}

/*
 * Errors that may pass are retried after a pause that grows: 10, 20, 40
 * ms, ... Errors that will not pass fail the wait at the first reply.
 */
static void
test_client_wait_backoff(void **state)
{
	struct asyncd_job	*job = NULL;
	uint64_t		 ids[2] = { JOB_ECHO, FAKE_UNKNOWN };
	struct asyncd_job	*jobs[2] = { NULL, NULL };
	static const int	 transient[] = { ASYNCD_EBUSY,
				    ASYNCD_ESHUTDOWN, ASYNCD_EINTERNAL,
				    ASYNCD_ENOMEM };
	unsigned		 before;
	double			 t0;
	size_t			 i;

	for (i = 0; i < NITEMS(transient); i++) {
		before = fake_count(ENV->fake, PROTO_WAIT);
		fake_set_busy(ENV->fake, 3, transient[i]);
		t0 = test_client_now();
		assert_int_equal(asyncd_wait(ENV->c, JOB_ECHO, 10.0, &job),
		    0);
		/* Three pauses: at least 10 + 20 + 40 ms. */
		assert_true(test_client_now() - t0 >= 0.065);
		assert_int_equal(fake_count(ENV->fake, PROTO_WAIT),
		    before + 4);
		assert_int_equal(asyncd_job_state(job), ASYNCD_SUCCEEDED);
		asyncd_job_free(job);
		job = NULL;
	}

	/* Still busy at the deadline: the wait fails with busy. */
	fake_set_busy(ENV->fake, 1000, ASYNCD_EBUSY);
	t0 = test_client_now();
	assert_int_equal(asyncd_wait(ENV->c, JOB_ECHO, 0.3, &job),
	    ASYNCD_EBUSY);
	assert_true(test_client_now() - t0 >= 0.25);
	assert_null(job);
	assert_string_equal(asyncd_errmsg(), "try again");
	fake_set_busy(ENV->fake, 0, ASYNCD_EBUSY);

	/* unknown_job, permission_denied: one request, failed at once. */
	fake_set_per_id(ENV->fake, false);
	before = fake_count(ENV->fake, PROTO_WAIT);
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 2, ASYNCD_WAIT_ALL,
	    10.0, jobs), ASYNCD_EUNKNOWNJOB);
	assert_int_equal(fake_count(ENV->fake, PROTO_WAIT), before + 1);
	assert_null(jobs[0]);
	ids[1] = FAKE_FORBIDDEN;
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 2, ASYNCD_WAIT_ALL,
	    10.0, jobs), ASYNCD_EPERM);
	assert_int_equal(fake_count(ENV->fake, PROTO_WAIT), before + 2);
}

static void
test_client_call(void **state)
{
	struct asyncd_job	*job = NULL;
	double			 t0;

	/* Quick: one round trip. */
	assert_int_equal(asyncd_call(ENV->c, "echo", "{\"a\":[1,2]}", NULL,
	    5.0, &job), 0);
	assert_int_equal(fake_count(ENV->fake, PROTO_WAIT), 0);
	assert_string_equal(asyncd_job_result(job), "{\"a\":[1,2]}");
	asyncd_job_free(job);

	/* A null result reads as "null", not as no result. */
	assert_int_equal(asyncd_call(ENV->c, "echo", NULL, NULL, 5.0, &job),
	    0);
	assert_string_equal(asyncd_job_result(job), "null");
	asyncd_job_free(job);

	/* Slow: the submit holds, then waits are re-issued. */
	assert_int_equal(asyncd_call(ENV->c, "slow", "{\"polls\":2}", NULL,
	    5.0, &job), 0);
	assert_int_equal(fake_count(ENV->fake, PROTO_WAIT), 2);
	assert_int_equal(asyncd_job_state(job), ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_result(job), "null");
	asyncd_job_free(job);

	/* Failing: 0, and the job says how it ended. */
	assert_int_equal(asyncd_call(ENV->c, "fail", NULL, NULL, 5.0, &job),
	    0);
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_EFAILED);
	asyncd_job_free(job);

	/* Never finishing: ETIMEDOUT, and the job as it stands. */
	t0 = test_client_now();
	job = NULL;
	assert_int_equal(asyncd_call(ENV->c, "sleep", NULL, NULL, 0.5, &job),
	    ASYNCD_ETIMEDOUT);
	assert_true(test_client_now() - t0 >= 0.45);
	assert_non_null(job);
	assert_int_equal(asyncd_job_state(job), ASYNCD_RUNNING);
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_ETIMEDOUT);
	asyncd_job_free(job);

	job = NULL;
	assert_int_equal(asyncd_call(ENV->c, "nope", NULL, NULL, 1.0, &job),
	    ASYNCD_EUNKNOWNTYPE);
	assert_null(job);
}

/* ---- the other operations */

static void
test_client_status_job(void **state)
{
	struct asyncd_job	*job;
	const char		*msg;
	char			*json;
	cJSON			*obj;

	assert_int_equal(asyncd_status(ENV->c, JOB_FULL, &job), 0);
	assert_int_equal(asyncd_job_id(job), JOB_FULL);
	assert_string_equal(asyncd_job_type(job), "exec");
	assert_string_equal(asyncd_job_key(job), "k7");
	assert_int_equal(asyncd_job_state(job), ASYNCD_RUNNING);
	assert_false(asyncd_job_done(job));
	assert_int_equal(asyncd_job_parent(job), JOB_ECHO);
	assert_true(fabs(asyncd_job_created(job) - 1764010000.123) < 1e-6);
	assert_true(fabs(asyncd_job_started(job) - 1764010000.124) < 1e-6);
	assert_true(asyncd_job_finished(job) == 0);
	assert_string_equal(asyncd_job_args(job), "{\"argv\":[\"true\"]}");
	assert_null(asyncd_job_result(job));
	assert_null(asyncd_job_error_code(job));
	assert_null(asyncd_job_error_message(job));
	assert_true(asyncd_job_progress(job, &msg) == 0.5);
	assert_string_equal(msg, "half way");
	assert_true(asyncd_job_progress(job, NULL) == 0.5);
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_ETIMEDOUT);

	/* The JSON is the daemon's job object, args included. */
	json = asyncd_job_json(job);
	assert_non_null(json);
	obj = cJSON_Parse(json);
	assert_non_null(obj);
	assert_int_equal(cJSON_GetObjectItem(obj, "id")->valueint, JOB_FULL);
	assert_string_equal(cJSON_GetObjectItem(obj, "key")->valuestring,
	    "k7");
	assert_non_null(cJSON_GetObjectItem(obj, "args"));
	assert_null(cJSON_GetObjectItem(obj, "result"));
	cJSON_Delete(obj);
	free(json);
	asyncd_job_free(job);

	/* Status of a job with no arguments: they read as null. */
	assert_int_equal(asyncd_status(ENV->c, JOB_HOLD, &job), 0);
	assert_string_equal(asyncd_job_args(job), "null");
	assert_true(asyncd_job_progress(job, &msg) < 0);
	assert_null(msg);
	asyncd_job_free(job);

	assert_int_equal(asyncd_status(ENV->c, JOB_CANCELLED, &job), 0);
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_ECANCELED);
	assert_string_equal(asyncd_job_error_code(job), "cancelled");
	assert_null(asyncd_job_result(job));
	json = asyncd_job_json(job);
	assert_non_null(strstr(json, "\"error\":{\"code\":\"cancelled\""));
	free(json);
	asyncd_job_free(job);

	assert_int_equal(asyncd_status(ENV->c, 0, &job), ASYNCD_EINVAL);
	asyncd_job_free(NULL);
}

static void
test_client_state_names(void **state)
{
	(void)state;
	assert_string_equal(asyncd_state_name(ASYNCD_QUEUED), "queued");
	assert_string_equal(asyncd_state_name(ASYNCD_RUNNING), "running");
	assert_string_equal(asyncd_state_name(ASYNCD_SUCCEEDED), "succeeded");
	assert_string_equal(asyncd_state_name(ASYNCD_FAILED), "failed");
	assert_string_equal(asyncd_state_name(ASYNCD_CANCELLED), "cancelled");
	assert_string_equal(asyncd_state_name(ASYNCD_TIMED_OUT), "timed_out");
	assert_string_equal(asyncd_state_name(ASYNCD_UNKNOWN), "unknown");
	assert_int_equal(ASYNCD_UNKNOWN, ASYNCD_TIMED_OUT + 1);
	assert_string_equal(asyncd_state_name((enum asyncd_state)99),
	    "unknown");
	assert_string_equal(asyncd_state_name((enum asyncd_state)-1),
	    "unknown");
}

static void
test_client_list(void **state)
{
	struct asyncd_list_opts	  opts = { .state = -1 };
	struct asyncd_job	**jobs = NULL;
	size_t			  n = 0;
	bool			  more = true;

	assert_int_equal(asyncd_list(ENV->c, NULL, &jobs, &n, &more), 0);
	assert_int_equal(n, JOB_SEEDED);
	assert_false(more);
	/* Newest first, and no results or arguments in a list. */
	assert_int_equal(asyncd_job_id(jobs[0]), JOB_FULL);
	assert_int_equal(asyncd_job_id(jobs[n - 1]), JOB_ECHO);
	assert_null(asyncd_job_result(jobs[n - 1]));
	assert_null(asyncd_job_args(jobs[0]));
	asyncd_jobs_free(jobs, n);

	opts.state = ASYNCD_RUNNING;
	opts.limit = 2;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, &more), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_int_equal(asyncd_job_state(jobs[0]), ASYNCD_RUNNING);
	asyncd_jobs_free(jobs, n);

	opts.state = -1;
	opts.limit = 0;
	opts.type = "nosuchtype";
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(jobs);
	asyncd_jobs_free(jobs, n);

	opts.type = NULL;
	opts.state = 6;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.state = -1;
	opts.limit = PROTO_LIST_MAX + 1;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.limit = 0;
	opts.type = "";
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
}

/* The history filters: sent as the daemon reads them, checked first. */
static void
test_client_list_filters(void **state)
{
	struct asyncd_list_opts	  opts = { .state = -1 };
	struct asyncd_job	**jobs = NULL;
	size_t			  n = 0;
	char			  big[PROTO_MAX_KEY + 2];

	opts.key = "k7";
	opts.owner = "root";
	opts.since = 1796083200.25;
	opts.until = 1796169600;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(asyncd_job_id(jobs[0]), JOB_FULL);
	asyncd_jobs_free(jobs, n);
	pthread_mutex_lock(&ENV->fake->lock);
	assert_true(ENV->fake->list_by_owner);
	assert_int_equal(ENV->fake->list_owner, 0);
	assert_true(ENV->fake->list_since == 1796083200.25);
	assert_true(ENV->fake->list_until == 1796169600);
	pthread_mutex_unlock(&ENV->fake->lock);

	/* A uid as it is; a key no job has. */
	opts.owner = "4294967294";
	opts.key = "nosuchkey";
	opts.since = opts.until = 0;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL), 0);
	assert_int_equal(n, 0);
	pthread_mutex_lock(&ENV->fake->lock);
	assert_int_equal(ENV->fake->list_owner, 4294967294u);
	assert_true(ENV->fake->list_since == 0);
	pthread_mutex_unlock(&ENV->fake->lock);

	/* No owner: nothing sent. */
	opts.owner = NULL;
	opts.key = NULL;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL), 0);
	asyncd_jobs_free(jobs, n);
	pthread_mutex_lock(&ENV->fake->lock);
	assert_false(ENV->fake->list_by_owner);
	pthread_mutex_unlock(&ENV->fake->lock);

	opts.owner = "no such user, surely";
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.owner = "4294967295";
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.owner = "12x";
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.owner = "";
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.owner = NULL;
	opts.key = "";
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	memset(big, 'k', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	opts.key = big;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.key = NULL;
	opts.since = -1;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.since = 200;
	opts.until = 100;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
	opts.since = 0;
	opts.until = NAN;
	assert_int_equal(asyncd_list(ENV->c, &opts, &jobs, &n, NULL),
	    ASYNCD_EINVAL);
}

static void
test_client_cancel(void **state)
{
	struct asyncd_job	*job = NULL;

	assert_int_equal(asyncd_cancel(ENV->c, JOB_HOLD, 1.0, &job), 0);
	assert_int_equal(asyncd_job_state(job), ASYNCD_CANCELLED);
	assert_int_equal(asyncd_job_outcome(job), ASYNCD_ECANCELED);
	asyncd_job_free(job);

	job = NULL;
	assert_int_equal(asyncd_cancel(ENV->c, JOB_HOLD, 0, &job),
	    ASYNCD_EDONE);
	assert_null(job);
	assert_int_equal(asyncd_cancel(ENV->c, FAKE_UNKNOWN, 0, NULL),
	    ASYNCD_EUNKNOWNJOB);
	assert_int_equal(asyncd_cancel(ENV->c, JOB_FULL, 0, NULL), 0);
	assert_int_equal(asyncd_cancel(ENV->c, 0, 0, NULL), ASYNCD_EINVAL);
}

static void
test_client_types_stats(void **state)
{
	struct asyncd_stats	  st;
	char			**names = NULL, **descs = NULL;
	size_t			  n = 0;

	assert_int_equal(asyncd_types(ENV->c, &names, &descs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "echo");
	assert_string_equal(descs[0], "returns its arguments");
	assert_string_equal(names[1], "sleep");
	asyncd_types_free(names, descs, n);

	assert_int_equal(asyncd_stats(ENV->c, &st), 0);
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.running, 2);
	assert_int_equal(st.succeeded, 3);
	assert_int_equal(st.failed, 4);
	assert_int_equal(st.cancelled, 5);
	assert_int_equal(st.timed_out, 6);
	assert_int_equal(st.submitted, 21);
	assert_int_equal(st.finished, 18);
	assert_true(st.uptime == 12.5);
	assert_int_equal(st.max_running, 8);
	assert_int_equal(st.max_queued, 1000);
}

/* ---- threads */

#define TEST_THREADS	4
#define TEST_ROUNDS	50

struct worker {
	struct asyncd	*c;
	int		 index;
	int		 failures;
};

static void *
test_client_hammer(void *arg)
{
	struct worker		*w = arg;
	struct asyncd_job	*job;
	char			 args[64], want[64];
	uint64_t		 id;
	int			 i;

	for (i = 0; i < TEST_ROUNDS; i++) {
		snprintf(args, sizeof args, "{ \"t\": %d, \"i\": %d }",
		    w->index, i);
		/* The daemon's echo comes back compact. */
		snprintf(want, sizeof want, "{\"t\":%d,\"i\":%d}",
		    w->index, i);
		if (asyncd_ping(w->c, NULL, NULL, NULL) != 0)
			w->failures++;
		if (asyncd_submit(w->c, "echo", args, NULL, &id, NULL) != 0) {
			w->failures++;
			continue;
		}
		if (asyncd_wait(w->c, id, 5.0, &job) != 0) {
			w->failures++;
			continue;
		}
		/* Each thread gets its own reply, never another's. */
		if (asyncd_job_id(job) != id ||
		    strcmp(asyncd_job_result(job), want) != 0)
			w->failures++;
		asyncd_job_free(job);
		if (asyncd_status(w->c, FAKE_UNKNOWN, &job) !=
		    ASYNCD_EUNKNOWNJOB)
			w->failures++;
	}
	return (NULL);
}

static void
test_client_threads(void **state)
{
	struct worker	 w[TEST_THREADS];
	pthread_t	 t[TEST_THREADS];
	int		 i;

	for (i = 0; i < TEST_THREADS; i++) {
		w[i].c = ENV->c;
		w[i].index = i;
		w[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL,
		    test_client_hammer, &w[i]), 0);
	}
	for (i = 0; i < TEST_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(fake_count(ENV->fake, PROTO_SUBMIT),
	    TEST_THREADS * TEST_ROUNDS);
}

struct blocked {
	struct asyncd	*c;
	int		 rv;
};

static void *
test_client_block(void *arg)
{
	struct blocked		*b = arg;
	struct asyncd_job	*job = NULL;

	b->rv = asyncd_wait(b->c, JOB_HOLD, -1, &job);
	asyncd_job_free(job);
	return (NULL);
}

static void
test_client_close_in_flight(void **state)
{
	struct blocked	b[2];
	pthread_t	t[2];
	double		t0;
	int		i;

	/* Held past the test: no reply may race the close (see the top). */
	fake_set(ENV->fake, &ENV->fake->cap, 30);
	for (i = 0; i < 2; i++) {
		b[i].c = ENV->c;
		b[i].rv = -1;
		assert_int_equal(pthread_create(&t[i], NULL, test_client_block,
		    &b[i]), 0);
	}
	test_client_sleep(0.3);
	t0 = test_client_now();
	asyncd_close(ENV->c);
	ENV->c = NULL;
	assert_true(test_client_now() - t0 < 2.0);
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(b[i].rv, ASYNCD_ECLOSED);
	}
}

/* ---- futures */

struct cbrec {
	pthread_mutex_t	 lock;
	int		 order[8];
	int		 n;
	pthread_t	 thread[8];
	struct asyncd_future *f;
	bool		 wrong_future;
};

static struct cbrec	*test_client_rec;

static void
test_client_cb(struct asyncd_future *f, void *arg)
{
	struct cbrec	*r = test_client_rec;

	pthread_mutex_lock(&r->lock);
	if (f != r->f)
		r->wrong_future = true;
	/* A callback sees the future done. */
	if (!asyncd_future_done(f))
		r->wrong_future = true;
	r->thread[r->n] = pthread_self();
	r->order[r->n++] = (int)(intptr_t)arg;
	pthread_mutex_unlock(&r->lock);
}

static int
test_client_cb_count(struct cbrec *r)
{
	int	n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return (n);
}

static void
test_client_future_callback_fd(void **state)
{
	struct asyncd_future	*f;
	struct cbrec		 r;
	struct pollfd		 pfd;
	const char		*result = NULL;
	double			 t0;

	memset(&r, 0, sizeof r);
	pthread_mutex_init(&r.lock, NULL);
	test_client_rec = &r;

	/* A job that runs until the fake daemon says it finished. */
	assert_int_equal(asyncd_run(ENV->c, "sleep", NULL, NULL, &f), 0);
	r.f = f;
	assert_int_equal(asyncd_future_id(f), 100);
	assert_int_equal(asyncd_future_add_done_callback(f, test_client_cb,
	    (void *)1), 0);
	assert_int_equal(asyncd_future_add_done_callback(f, test_client_cb,
	    (void *)2), 0);
	assert_int_equal(asyncd_future_add_done_callback(f, NULL, NULL),
	    ASYNCD_EINVAL);

	/* The fd becomes readable when the job is done, and stays so. */
	pfd.fd = asyncd_future_fd(f);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 300), 0);
	assert_false(asyncd_future_done(f));
	assert_int_equal(test_client_cb_count(&r), 0);
	fake_succeed(ENV->fake, 100, "{\"answer\":42}");
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true(pfd.revents & POLLIN);
	assert_true(asyncd_future_done(f));
	assert_int_equal(poll(&pfd, 1, 0), 1);

	assert_int_equal(asyncd_future_result(f, 0, &result), 0);
	assert_string_equal(result, "{\"answer\":42}");
	assert_false(asyncd_future_cancelled(f));
	assert_non_null(asyncd_future_job(f));
	assert_int_equal(asyncd_job_id(asyncd_future_job(f)), 100);
	/* Held 0.2 s at a time by the fake: re-issued while waiting. */
	assert_true(fake_count(ENV->fake, PROTO_WAIT) >= 2);

	/* The callbacks ran once each, in order, on another thread. */
	t0 = test_client_now();
	while (test_client_cb_count(&r) < 2 && test_client_now() - t0 < 5)
		test_client_sleep(0.01);
	assert_int_equal(test_client_cb_count(&r), 2);
	assert_int_equal(r.order[0], 1);
	assert_int_equal(r.order[1], 2);
	assert_false(pthread_equal(r.thread[0], pthread_self()));

	/* One added now runs at once, in this thread. */
	assert_int_equal(asyncd_future_add_done_callback(f, test_client_cb,
	    (void *)3), 0);
	assert_int_equal(test_client_cb_count(&r), 3);
	assert_int_equal(r.order[2], 3);
	assert_true(pthread_equal(r.thread[2], pthread_self()));
	assert_false(r.wrong_future);

	asyncd_future_free(f);
	test_client_sleep(0.05);
	assert_int_equal(test_client_cb_count(&r), 3);
	pthread_mutex_destroy(&r.lock);
	test_client_rec = NULL;
}

static void
test_client_future_finished_at_once(void **state)
{
	struct asyncd_future	*f;
	struct pollfd		 pfd;
	const char		*result = NULL;

	/* echo finishes in the submit: no long poll at all. */
	assert_int_equal(asyncd_run(ENV->c, "echo", "[\"hi\"]", NULL, &f), 0);
	pfd.fd = asyncd_future_fd(f);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(asyncd_future_done(f));
	assert_int_equal(asyncd_future_result(f, -1, &result), 0);
	assert_string_equal(result, "[\"hi\"]");
	assert_int_equal(asyncd_future_result(f, 0, NULL), 0);
	assert_int_equal(asyncd_future_cancel(f), ASYNCD_EDONE);
	asyncd_future_free(f);
	assert_int_equal(fake_count(ENV->fake, PROTO_WAIT), 0);

	assert_int_equal(asyncd_run(ENV->c, "nope", NULL, NULL, &f),
	    ASYNCD_EUNKNOWNTYPE);
	asyncd_future_free(NULL);
}

static void
test_client_future_outcomes(void **state)
{
	struct asyncd_future	*f;
	const char		*result = NULL;
	const struct asyncd_job	*job;

	assert_int_equal(asyncd_future_open(ENV->c, JOB_FAIL, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result),
	    ASYNCD_EFAILED);
	assert_null(result);
	job = asyncd_future_job(f);
	assert_non_null(job);
	assert_string_equal(asyncd_job_error_code(job), "failed");
	assert_string_equal(asyncd_job_error_message(job), "boom");
	asyncd_future_free(f);

	assert_int_equal(asyncd_future_open(ENV->c, JOB_TIMEDOUT, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result),
	    ASYNCD_EJOBTIMEDOUT);
	asyncd_future_free(f);

	assert_int_equal(asyncd_future_open(ENV->c, JOB_CANCELLED, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result),
	    ASYNCD_ECANCELED);
	assert_true(asyncd_future_cancelled(f));
	asyncd_future_free(f);

	/* A job the daemon does not know. */
	assert_int_equal(asyncd_future_open(ENV->c, FAKE_UNKNOWN, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result),
	    ASYNCD_EUNKNOWNJOB);
	assert_true(asyncd_future_done(f));
	assert_null(asyncd_future_job(f));
	assert_false(asyncd_future_cancelled(f));
	asyncd_future_free(f);

	assert_int_equal(asyncd_future_open(ENV->c, 0, &f), ASYNCD_EINVAL);
}

static void
test_client_future_malformed(void **state)
{
	struct asyncd_future	*f;

	fake_set_raw(ENV->fake, PROTO_WAIT, "{\"ok\":true,\"jobs\":7}");
	assert_int_equal(asyncd_future_open(ENV->c, JOB_ECHO, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, NULL), ASYNCD_EPROTO);
	asyncd_future_free(f);
}

static void
test_client_future_result_timeout(void **state)
{
	struct asyncd_future	*f;
	const char		*result = NULL;
	double			 t0, dt;

	assert_int_equal(asyncd_future_open(ENV->c, JOB_HOLD, &f), 0);
	t0 = test_client_now();
	assert_int_equal(asyncd_future_result(f, 0.3, &result),
	    ASYNCD_ETIMEDOUT);
	dt = test_client_now() - t0;
	assert_true(dt >= 0.29 && dt < 3.0);
	assert_null(result);
	assert_false(asyncd_future_done(f));
	assert_null(asyncd_future_job(f));
	assert_int_equal(asyncd_future_result(f, 0, &result),
	    ASYNCD_ETIMEDOUT);
	asyncd_future_free(f);
}

static void
test_client_future_cancel(void **state)
{
	struct asyncd_future	*f;
	struct cbrec		 r;
	double			 t0;

	memset(&r, 0, sizeof r);
	pthread_mutex_init(&r.lock, NULL);
	test_client_rec = &r;

	assert_int_equal(asyncd_future_open(ENV->c, JOB_HOLD, &f), 0);
	r.f = f;
	assert_int_equal(asyncd_future_add_done_callback(f, test_client_cb,
	    (void *)1), 0);
	test_client_sleep(0.1);		/* let a poll be held */
	t0 = test_client_now();
	assert_int_equal(asyncd_future_cancel(f), 0);
	assert_int_equal(asyncd_future_result(f, 5, NULL), ASYNCD_ECANCELED);
	assert_true(test_client_now() - t0 < 2.0);
	assert_true(asyncd_future_cancelled(f));
	/*
	 * The cancel reply and the held poll both saw it finish, in either
	 * order: the callback still runs exactly once.
	 */
	while (test_client_cb_count(&r) < 1 && test_client_now() - t0 < 5)
		test_client_sleep(0.01);
	test_client_sleep(0.1);
	assert_int_equal(test_client_cb_count(&r), 1);
	assert_false(r.wrong_future);
	assert_int_equal(asyncd_future_cancel(f), ASYNCD_EDONE);
	asyncd_future_free(f);

	/* Cancelling a job that finished before the future saw it. */
	assert_int_equal(asyncd_future_open(ENV->c, JOB_TIMEDOUT, &f), 0);
	assert_int_equal(asyncd_future_result(f, 5, NULL),
	    ASYNCD_EJOBTIMEDOUT);
	assert_int_equal(asyncd_future_cancel(f), ASYNCD_EDONE);
	asyncd_future_free(f);
	pthread_mutex_destroy(&r.lock);
	test_client_rec = NULL;
}

static void
test_client_future_free_in_flight(void **state)
{
	struct asyncd_future	*f[4];
	double			 t0;
	int			 i;

	/* Polls held by the daemon when freed. */
	for (i = 0; i < 4; i++)
		assert_int_equal(asyncd_future_open(ENV->c, JOB_HOLD, &f[i]),
		    0);
	test_client_sleep(0.1);
	t0 = test_client_now();
	for (i = 0; i < 4; i++)
		asyncd_future_free(f[i]);
	assert_true(test_client_now() - t0 < 1.0);

	/* Freed at once, before the first poll's reply. */
	assert_int_equal(asyncd_future_open(ENV->c, JOB_SLOW, &f[0]), 0);
	asyncd_future_free(f[0]);

	/* The job goes on: it was never cancelled. */
	assert_int_equal(fake_count(ENV->fake, PROTO_CANCEL), 0);
}

static void
test_client_future_no_daemon(void **state)
{
	struct asyncd		*c;
	struct asyncd_future	*f;
	char			 url[128];
	double			 t0;

	(void)state;
	test_client_url(url, sizeof url, "nobody");
	assert_int_equal(tc_open(&c, url), 0);
	asyncd_set_request_timeout(c, 0.05);
	/* Within the connect timeout the future waits for a daemon... */
	asyncd_set_connect_timeout(c, 30);
	assert_int_equal(asyncd_future_open(c, 7, &f), 0);
	assert_int_equal(asyncd_future_result(f, 0.3, NULL), ASYNCD_ETIMEDOUT);
	assert_false(asyncd_future_done(f));
	t0 = test_client_now();
	asyncd_future_free(f);
	assert_true(test_client_now() - t0 < 1.0);

	/* ...and past it, the future fails: no daemon answers. */
	asyncd_set_connect_timeout(c, 0.2);
	t0 = test_client_now();
	assert_int_equal(asyncd_future_open(c, 7, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, NULL),
	    ASYNCD_EUNREACHABLE);
	assert_true(test_client_now() - t0 >= 0.15);
	assert_true(test_client_now() - t0 < 5.0);
	assert_true(asyncd_future_done(f));
	assert_null(asyncd_future_job(f));
	asyncd_future_free(f);
	asyncd_close(c);
}

/* The future follows the same rule as asyncd_wait: busy passes. */
static void
test_client_future_backoff(void **state)
{
	struct asyncd_future	*f;
	const char		*result = NULL;

	fake_set_busy(ENV->fake, 3, ASYNCD_EBUSY);
	assert_int_equal(asyncd_future_open(ENV->c, JOB_ECHO, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result), 0);
	assert_string_equal(result, "{\"x\":1}");
	assert_int_equal(fake_count(ENV->fake, PROTO_WAIT), 4);
	asyncd_future_free(f);

	/* An id the daemon cannot answer for fails it, with the reason. */
	assert_int_equal(asyncd_future_open(ENV->c, FAKE_FORBIDDEN, &f), 0);
	assert_int_equal(asyncd_future_result(f, 10, &result), ASYNCD_EPERM);
	assert_string_equal(asyncd_errmsg(), "job 403 is another user's");
	asyncd_future_free(f);
}

/* A daemon that goes away under a future fails it, once unreachable. */
static void
test_client_future_daemon_gone(void **state)
{
	struct fake		*fk;
	struct asyncd		*c;
	struct asyncd_future	*f;
	double			 t0;

	(void)state;
	fk = fake_start();
	assert_int_equal(tc_open(&c, fk->url), 0);
	asyncd_set_request_timeout(c, 5.0);
	asyncd_set_connect_timeout(c, 0.3);
	assert_int_equal(asyncd_future_open(c, JOB_HOLD, &f), 0);
	fake_await(fk, PROTO_WAIT, 1);
	t0 = test_client_now();
	fake_stop(fk);
	assert_int_equal(asyncd_future_result(f, 10, NULL),
	    ASYNCD_EUNREACHABLE);
	assert_true(test_client_now() - t0 >= 0.25);
	assert_true(test_client_now() - t0 < 5.0);
	asyncd_future_free(f);
	asyncd_close(c);
}

static void
test_client_future_callbacks_threads(void **state)
{
	struct asyncd_future	*f[8];
	const char		*result;
	int			 i;

	/* Many futures at once, all on one handle. */
	for (i = 0; i < 8; i++)
		assert_int_equal(asyncd_run(ENV->c, "slow", "{\"polls\":1}",
		    NULL, &f[i]), 0);
	for (i = 0; i < 8; i++) {
		result = NULL;
		assert_int_equal(asyncd_future_result(f[i], 10, &result), 0);
		assert_string_equal(result, "null");
		asyncd_future_free(f[i]);
	}
}

/* ---- output */

#define JOB_OUT		200	/* exec jobs the output tests make */

/* One read, checked field by field; raw bytes come through raw. */
static void
test_client_output_read(void **state)
{
	struct asyncd_output_opts	 opts;
	struct asyncd_output		*out = NULL;
	static const char		 bin[] = "hello\0world\377\n";

	fake_add_exec(ENV->fake, JOB_OUT);
	fake_write(ENV->fake, JOB_OUT, PROTO_STDOUT, bin, sizeof bin - 1);
	fake_write(ENV->fake, JOB_OUT, PROTO_STDERR, "err", 3);

	/* No options: both streams from the start, no waiting. */
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, NULL, &out), 0);
	assert_int_equal(asyncd_job_id(out->job), JOB_OUT);
	assert_int_equal(asyncd_job_state(out->job), ASYNCD_RUNNING);
	assert_null(asyncd_job_args(out->job));
	assert_false(out->done);
	assert_true(out->stream[ASYNCD_STDOUT].present);
	assert_int_equal(out->stream[ASYNCD_STDOUT].offset, 0);
	assert_int_equal(out->stream[ASYNCD_STDOUT].len, sizeof bin - 1);
	assert_memory_equal(out->stream[ASYNCD_STDOUT].data, bin,
	    sizeof bin - 1);
	assert_int_equal(out->stream[ASYNCD_STDOUT].size, sizeof bin - 1);
	assert_false(out->stream[ASYNCD_STDOUT].cut);
	assert_int_equal(out->stream[ASYNCD_STDERR].len, 3);
	assert_memory_equal(out->stream[ASYNCD_STDERR].data, "err", 3);
	assert_string_equal(out->instance, ENV->fake->instance);
	asyncd_output_free(out);

	/* From offsets, one stream. */
	memset(&opts, 0, sizeof opts);
	opts.streams = ASYNCD_STREAM_STDOUT;
	opts.offset[ASYNCD_STDOUT] = 6;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out), 0);
	assert_false(out->stream[ASYNCD_STDERR].present);
	assert_int_equal(out->stream[ASYNCD_STDOUT].offset, 6);
	assert_int_equal(out->stream[ASYNCD_STDOUT].len, sizeof bin - 7);
	assert_memory_equal(out->stream[ASYNCD_STDOUT].data, bin + 6,
	    sizeof bin - 7);
	asyncd_output_free(out);

	/* max bytes in all, stdout first. */
	memset(&opts, 0, sizeof opts);
	opts.max = 4;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out), 0);
	assert_int_equal(out->stream[ASYNCD_STDOUT].len, 4);
	assert_memory_equal(out->stream[ASYNCD_STDOUT].data, "hell", 4);
	assert_true(out->stream[ASYNCD_STDERR].present);
	assert_int_equal(out->stream[ASYNCD_STDERR].len, 0);
	asyncd_output_free(out);

	/* Nothing new and no time to wait: an empty answer, not an error. */
	opts.max = 0;
	opts.offset[ASYNCD_STDOUT] = sizeof bin - 1;
	opts.offset[ASYNCD_STDERR] = 3;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out), 0);
	assert_int_equal(out->stream[ASYNCD_STDOUT].len, 0);
	assert_int_equal(out->stream[ASYNCD_STDERR].len, 0);
	assert_false(out->done);
	asyncd_output_free(out);

	/* Finished and read to the end: done. */
	fake_succeed(ENV->fake, JOB_OUT, "{\"exit_code\":0}");
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out), 0);
	assert_true(out->done);
	assert_int_equal(asyncd_job_state(out->job), ASYNCD_SUCCEEDED);
	asyncd_output_free(out);
	/* A reply that carries the rest is done too... */
	opts.offset[ASYNCD_STDERR] = 1;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out), 0);
	assert_true(out->done);
	assert_int_equal(out->stream[ASYNCD_STDERR].len, 2);
	assert_memory_equal(out->stream[ASYNCD_STDERR].data, "rr", 2);
	asyncd_output_free(out);
	/* ...but not one that leaves bytes behind. */
	opts.max = 1;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out), 0);
	assert_false(out->done);
	assert_int_equal(out->stream[ASYNCD_STDERR].len, 1);
	asyncd_output_free(out);
	asyncd_output_free(NULL);
}

static void
test_client_output_errors(void **state)
{
	struct asyncd_output_opts	 opts;
	struct asyncd_output		*out = NULL;

	fake_add_exec(ENV->fake, JOB_OUT);
	memset(&opts, 0, sizeof opts);
	assert_int_equal(asyncd_output(ENV->c, 0, NULL, &out), ASYNCD_EINVAL);
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, NULL, NULL),
	    ASYNCD_EINVAL);
	opts.streams = 4;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out),
	    ASYNCD_EINVAL);
	opts.streams = -1;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out),
	    ASYNCD_EINVAL);
	opts.streams = 0;
	opts.max = 4 * 1024 * 1024 + 1;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out),
	    ASYNCD_EINVAL);
	opts.max = 0;
	opts.offset[ASYNCD_STDERR] = UINT64_C(1) << 53;
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out),
	    ASYNCD_EINVAL);
	assert_int_equal(fake_count(ENV->fake, PROTO_OUTPUT), 0);
	assert_null(out);

	/* The daemon's refusals, with its words. */
	assert_int_equal(asyncd_output(ENV->c, FAKE_UNKNOWN, NULL, &out),
	    ASYNCD_EUNKNOWNJOB);
	assert_string_equal(asyncd_errmsg(), "no such job");
	assert_int_equal(asyncd_output(ENV->c, FAKE_FORBIDDEN, NULL, &out),
	    ASYNCD_EPERM);
	assert_null(out);

	/* Replies that do not answer the request. */
	fake_set_raw(ENV->fake, PROTO_OUTPUT, "{\"ok\":true,\"instance\":"
	    "\"x\",\"job\":{\"id\":200,\"type\":\"exec\",\"state\":"
	    "\"running\"},\"stdout\":{\"offset\":5,\"data\":\"\",\"size\":9,"
	    "\"cut\":false},\"stderr\":{\"offset\":0,\"data\":\"\",\"size\":0,"
	    "\"cut\":false},\"done\":false}");
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, NULL, &out),
	    ASYNCD_EPROTO);
	fake_set_raw(ENV->fake, PROTO_OUTPUT, "{\"ok\":true,\"instance\":"
	    "\"x\",\"job\":{\"id\":200,\"type\":\"exec\",\"state\":"
	    "\"running\"},\"stdout\":{\"offset\":0,\"data\":\"YWJj\","
	    "\"size\":2,\"cut\":false},\"stderr\":{\"offset\":0,\"data\":\"\","
	    "\"size\":0,\"cut\":false},\"done\":false}");
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, NULL, &out),
	    ASYNCD_EPROTO);
	/* stderr asked for and missing. */
	fake_set_raw(ENV->fake, PROTO_OUTPUT, "{\"ok\":true,\"instance\":"
	    "\"x\",\"job\":{\"id\":200,\"type\":\"exec\",\"state\":"
	    "\"running\"},\"stdout\":{\"offset\":0,\"data\":\"YWJj\","
	    "\"size\":3,\"cut\":false},\"done\":false}");
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, NULL, &out),
	    ASYNCD_EPROTO);
	/* Another job's output. */
	fake_set_raw(ENV->fake, PROTO_OUTPUT, "{\"ok\":true,\"instance\":"
	    "\"x\",\"job\":{\"id\":201,\"type\":\"exec\",\"state\":"
	    "\"running\"},\"done\":true}");
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, NULL, &out),
	    ASYNCD_EPROTO);
	fake_set_raw(ENV->fake, PROTO_OUTPUT, "{\"ok\":true,\"stdout\":7}");
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, NULL, &out),
	    ASYNCD_EPROTO);
	assert_null(out);
}

struct writer {
	struct fake	*fk;
	uint64_t	 id;
	double		 delay;		/* before the first piece */
	int		 pieces;	/* to each stream, then it finishes */
};

/* A command that writes pieces to both streams, pausing, then exits. */
static void *
test_client_writer(void *arg)
{
	struct writer	*w = arg;
	char		 buf[64];
	int		 i, n;

	test_client_sleep(w->delay);
	for (i = 0; i < w->pieces; i++) {
		n = snprintf(buf, sizeof buf, "out %d\n", i);
		fake_write(w->fk, w->id, PROTO_STDOUT, buf, (size_t)n);
		n = snprintf(buf, sizeof buf, "err %d%c", i, '\0');
		fake_write(w->fk, w->id, PROTO_STDERR, buf, (size_t)n);
		test_client_sleep(0.002);
	}
	if (w->pieces > 0)
		fake_succeed(w->fk, w->id, "{\"exit_code\":0}");
	return (NULL);
}

static void
test_client_output_long_poll(void **state)
{
	struct asyncd_output_opts	 opts;
	struct asyncd_output		*out;
	struct writer			 w = { ENV->fake, JOB_OUT, 0.5, 1 };
	pthread_t			 t;
	double				 t0, dt;

	fake_add_exec(ENV->fake, JOB_OUT);
	memset(&opts, 0, sizeof opts);
	/* Nothing comes within the time: empty, after it. */
	opts.timeout = 0.3;
	t0 = test_client_now();
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out), 0);
	dt = test_client_now() - t0;
	assert_true(dt >= 0.29 && dt < 3.0);
	assert_int_equal(out->stream[ASYNCD_STDOUT].len, 0);
	assert_false(out->done);
	asyncd_output_free(out);

	/* Bytes that come later end the poll when they come. */
	assert_int_equal(pthread_create(&t, NULL, test_client_writer, &w), 0);
	opts.timeout = 10;
	t0 = test_client_now();
	assert_int_equal(asyncd_output(ENV->c, JOB_OUT, &opts, &out), 0);
	dt = test_client_now() - t0;
	assert_true(dt >= 0.4 && dt < 5.0);
	assert_true(out->stream[ASYNCD_STDOUT].len > 0);
	assert_memory_equal(out->stream[ASYNCD_STDOUT].data, "out 0\n", 6);
	asyncd_output_free(out);
	pthread_join(t, NULL);
	/* Held 0.2 s at a time by the fake: asked again meanwhile. */
	assert_true(fake_count(ENV->fake, PROTO_OUTPUT) >= 4);
}

/* What a follow's callback saw, per stream. */
struct seen {
	char	*buf[2];
	size_t	 len[2];
	int	 calls;
	int	 cuts[2];
	int	 stop_after;	/* return -7 at this call; 0: never */
};

static int
test_client_seen(int stream, const char *data, size_t len, void *arg)
{
	struct seen	*s = arg;
	char		*grown;

	assert_true(stream == ASYNCD_STDOUT || stream == ASYNCD_STDERR);
	s->calls++;
	if (data == NULL) {
		assert_int_equal(len, 0);
		s->cuts[stream]++;
		return (0);
	}
	assert_true(len > 0);
	grown = realloc(s->buf[stream], s->len[stream] + len);
	assert_non_null(grown);
	memcpy(grown + s->len[stream], data, len);
	s->buf[stream] = grown;
	s->len[stream] += len;
	return (s->calls == s->stop_after ? -7 : 0);
}

static void
test_client_seen_free(struct seen *s)
{
	free(s->buf[0]);
	free(s->buf[1]);
	memset(s, 0, sizeof *s);
}

/* Every byte the fake holds for the job's stream, exactly, once. */
static void
test_client_seen_all(struct fake *fk, uint64_t id, const struct seen *s,
    int stream, size_t from)
{
	struct fake_job	*fj;

	pthread_mutex_lock(&fk->lock);
	fj = fake_find(fk, id);
	assert_non_null(fj);
	assert_int_equal(s->len[stream], fj->outlen[stream] - from);
	if (s->len[stream] > 0)
		assert_memory_equal(s->buf[stream], fj->out[stream] + from,
		    s->len[stream]);
	pthread_mutex_unlock(&fk->lock);
}

static void
test_client_follow(void **state)
{
	struct asyncd_output_opts	 opts;
	struct asyncd_job		*job = NULL;
	struct seen			 s;
	struct writer			 w = { ENV->fake, JOB_OUT, 0.1, 60 };
	pthread_t			 t;

	/* Live: started before the command writes, with small replies. */
	fake_add_exec(ENV->fake, JOB_OUT);
	memset(&s, 0, sizeof s);
	memset(&opts, 0, sizeof opts);
	opts.max = 7;
	opts.timeout = 20;
	assert_int_equal(pthread_create(&t, NULL, test_client_writer, &w), 0);
	assert_int_equal(asyncd_follow(ENV->c, JOB_OUT, &opts,
	    test_client_seen, &s, &job), 0);
	pthread_join(t, NULL);
	test_client_seen_all(ENV->fake, JOB_OUT, &s, PROTO_STDOUT, 0);
	test_client_seen_all(ENV->fake, JOB_OUT, &s, PROTO_STDERR, 0);
	assert_int_equal(s.len[ASYNCD_STDOUT], 60 * 6 + 50);
	assert_true(s.calls > 2);
	assert_int_equal(s.cuts[0] + s.cuts[1], 0);
	/* The finished job, with its result. */
	assert_non_null(job);
	assert_int_equal(asyncd_job_state(job), ASYNCD_SUCCEEDED);
	assert_string_equal(asyncd_job_result(job), "{\"exit_code\":0}");
	asyncd_job_free(job);
	test_client_seen_free(&s);

	/* Late: everything from the start, once; no job wanted. */
	assert_int_equal(asyncd_follow(ENV->c, JOB_OUT, NULL,
	    test_client_seen, &s, NULL), 0);
	test_client_seen_all(ENV->fake, JOB_OUT, &s, PROTO_STDOUT, 0);
	test_client_seen_all(ENV->fake, JOB_OUT, &s, PROTO_STDERR, 0);
	test_client_seen_free(&s);

	/* From offsets, one stream: the rest of it. */
	memset(&opts, 0, sizeof opts);
	opts.streams = ASYNCD_STREAM_STDERR;
	opts.offset[ASYNCD_STDERR] = 10;
	opts.offset[ASYNCD_STDOUT] = 5;		/* not asked for: unused */
	assert_int_equal(asyncd_follow(ENV->c, JOB_OUT, &opts,
	    test_client_seen, &s, &job), 0);
	assert_int_equal(s.len[ASYNCD_STDOUT], 0);
	test_client_seen_all(ENV->fake, JOB_OUT, &s, PROTO_STDERR, 10);
	asyncd_job_free(job);
	test_client_seen_free(&s);

	/* A job that runs no command: nothing, and done. */
	assert_int_equal(asyncd_follow(ENV->c, JOB_ECHO, NULL,
	    test_client_seen, &s, &job), 0);
	assert_int_equal(s.calls, 0);
	assert_string_equal(asyncd_job_result(job), "{\"x\":1}");
	asyncd_job_free(job);
}

static void
test_client_follow_stop(void **state)
{
	struct asyncd_output_opts	 opts;
	struct asyncd_job		*job = NULL;
	struct seen			 s;
	double				 t0, dt;

	fake_add_exec(ENV->fake, JOB_OUT);
	fake_write(ENV->fake, JOB_OUT, PROTO_STDOUT, "abc", 3);
	memset(&s, 0, sizeof s);
	assert_int_equal(asyncd_follow(ENV->c, JOB_OUT, NULL, NULL, &s,
	    &job), ASYNCD_EINVAL);
	assert_int_equal(asyncd_follow(ENV->c, 0, NULL, test_client_seen,
	    &s, &job), ASYNCD_EINVAL);
	assert_int_equal(s.calls, 0);

	/* The callback stops it: its own value comes back. */
	s.stop_after = 1;
	assert_int_equal(asyncd_follow(ENV->c, JOB_OUT, NULL,
	    test_client_seen, &s, &job), -7);
	assert_int_equal(s.calls, 1);
	assert_null(job);
	test_client_seen_free(&s);

	/* Its own time runs out; the job goes on. */
	memset(&opts, 0, sizeof opts);
	opts.timeout = 0.4;
	t0 = test_client_now();
	assert_int_equal(asyncd_follow(ENV->c, JOB_OUT, &opts,
	    test_client_seen, &s, &job), ASYNCD_ETIMEDOUT);
	dt = test_client_now() - t0;
	assert_true(dt >= 0.39 && dt < 3.0);
	assert_int_equal(s.len[ASYNCD_STDOUT], 3);
	assert_null(job);
	test_client_seen_free(&s);

	assert_int_equal(asyncd_follow(ENV->c, FAKE_UNKNOWN, NULL,
	    test_client_seen, &s, &job), ASYNCD_EUNKNOWNJOB);
	assert_int_equal(asyncd_follow(ENV->c, FAKE_FORBIDDEN, NULL,
	    test_client_seen, &s, &job), ASYNCD_EPERM);
	assert_int_equal(s.calls, 0);
}

/* A log cut short is said once, where it stops; busy replies pass. */
static void
test_client_follow_cut_busy(void **state)
{
	struct asyncd_job	*job = NULL;
	struct seen		 s;

	fake_add_exec(ENV->fake, JOB_OUT);
	fake_write(ENV->fake, JOB_OUT, PROTO_STDOUT, "abcdef", 6);
	fake_write(ENV->fake, JOB_OUT, PROTO_STDERR, "e", 1);
	fake_cut(ENV->fake, JOB_OUT, PROTO_STDOUT);
	fake_succeed(ENV->fake, JOB_OUT, "{\"exit_code\":0}");
	pthread_mutex_lock(&ENV->fake->lock);
	ENV->fake->busy_outputs = 3;
	pthread_mutex_unlock(&ENV->fake->lock);
	memset(&s, 0, sizeof s);
	assert_int_equal(asyncd_follow(ENV->c, JOB_OUT, NULL,
	    test_client_seen, &s, &job), 0);
	assert_int_equal(s.len[ASYNCD_STDOUT], 6);
	assert_int_equal(s.len[ASYNCD_STDERR], 1);
	assert_int_equal(s.cuts[ASYNCD_STDOUT], 1);
	assert_int_equal(s.cuts[ASYNCD_STDERR], 0);
	/* Three busy replies, then the one with everything. */
	assert_int_equal(fake_count(ENV->fake, PROTO_OUTPUT), 4);
	asyncd_job_free(job);
	test_client_seen_free(&s);
}

struct follower {
	struct asyncd		*c;
	struct seen		 s;
	struct asyncd_job	*job;
	int			 rv;
	char			 msg[CLIENT_ERRMSG_MAX];
};

static void *
test_client_follower(void *arg)
{
	struct follower	*f = arg;

	f->rv = asyncd_follow(f->c, JOB_OUT, NULL, test_client_seen, &f->s,
	    &f->job);
	if (asyncd_errmsg() != NULL)
		snprintf(f->msg, sizeof f->msg, "%s", asyncd_errmsg());
	return (NULL);
}

/*
 * A follow rides out a dropped connection to the same daemon, fails
 * when another instance answers (its job 200 is a stranger), and fails
 * when no daemon answers within the connect timeout.
 */
static void
test_client_follow_restart(void **state)
{
	struct fake	*fk;
	struct follower	 f;
	pthread_t	 t;
	char		 url[128], instance[PROTO_MAX_INSTANCE + 1];
	unsigned	 n;

	(void)state;
	fk = fake_start();
	snprintf(url, sizeof url, "%s", fk->url);
	snprintf(instance, sizeof instance, "%s", fk->instance);
	memset(&f, 0, sizeof f);
	assert_int_equal(tc_open(&f.c, url), 0);
	asyncd_set_request_timeout(f.c, 5.0);
	asyncd_set_connect_timeout(f.c, 5.0);
	fake_add_exec(fk, JOB_OUT);
	fake_write(fk, JOB_OUT, PROTO_STDOUT, "one\n", 4);

	/* The same instance back: the follow goes on to the end. */
	assert_int_equal(pthread_create(&t, NULL, test_client_follower, &f),
	    0);
	fake_await(fk, PROTO_OUTPUT, 2);
	fake_stop(fk);
	fk = fake_start_as(url, instance);
	fake_add_exec(fk, JOB_OUT);
	fake_write(fk, JOB_OUT, PROTO_STDOUT, "one\ntwo\n", 8);
	fake_succeed(fk, JOB_OUT, "{\"exit_code\":0}");
	pthread_join(t, NULL);
	assert_int_equal(f.rv, 0);
	assert_int_equal(f.s.len[ASYNCD_STDOUT], 8);
	assert_memory_equal(f.s.buf[ASYNCD_STDOUT], "one\ntwo\n", 8);
	assert_int_equal(asyncd_job_state(f.job), ASYNCD_SUCCEEDED);
	asyncd_job_free(f.job);
	f.job = NULL;
	test_client_seen_free(&f.s);
	fake_stop(fk);

	/* Another instance: the follow fails, saying why. */
	fk = fake_start_at(url);
	fake_add_exec(fk, JOB_OUT);
	fake_write(fk, JOB_OUT, PROTO_STDOUT, "one\n", 4);
	assert_int_equal(pthread_create(&t, NULL, test_client_follower, &f),
	    0);
	fake_await(fk, PROTO_OUTPUT, 2);
	fake_stop(fk);
	fk = fake_start_at(url);
	fake_add_exec(fk, JOB_OUT);
	fake_write(fk, JOB_OUT, PROTO_STDOUT, "a stranger's output\n", 20);
	pthread_join(t, NULL);
	assert_int_equal(f.rv, ASYNCD_EUNKNOWNJOB);
	assert_non_null(strstr(f.msg, "restarted"));
	assert_non_null(strstr(f.msg, "job 200 "));
	assert_int_equal(f.s.len[ASYNCD_STDOUT], 4);
	assert_null(f.job);
	test_client_seen_free(&f.s);

	/* No daemon at all past the connect timeout: unreachable. */
	asyncd_set_connect_timeout(f.c, 0.3);
	assert_int_equal(pthread_create(&t, NULL, test_client_follower, &f),
	    0);
	n = fake_count(fk, PROTO_OUTPUT);
	fake_await(fk, PROTO_OUTPUT, n + 2);
	fake_stop(fk);
	pthread_join(t, NULL);
	assert_int_equal(f.rv, ASYNCD_EUNREACHABLE);
	test_client_seen_free(&f.s);
	asyncd_close(f.c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_open_url),
		cmocka_unit_test(test_client_open_bad_url),
		cmocka_unit_test(test_client_unreachable),
		cmocka_unit_test(test_client_not_asyncd),
		cmocka_unit_test(test_client_daemon_late),
		cmocka_unit_test(test_client_daemon_restart),
		cmocka_unit_test(test_client_daemon_restart_new_instance),
		cmocka_unit_test(test_client_wait_daemon_gone),
		cmocka_unit_test(test_client_state_names),
		cmocka_unit_test(test_client_default_url),
		cmocka_unit_test(test_client_poll_engine),
		cmocka_unit_test_setup_teardown(test_client_ping,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_info,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_submit,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_submit_invalid,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_error_reply,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_malformed_reply,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_wait_reissues,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_wait_timeout,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_wait_many,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_wait_per_id,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_wait_backoff,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_call,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_status_job,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_list_filters,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_list,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_cancel,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_types_stats,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_threads,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_close_in_flight,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_future_callback_fd,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_future_finished_at_once, test_client_setup,
		    test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_future_outcomes,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_future_malformed,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_future_result_timeout, test_client_setup,
		    test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_future_cancel,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_future_free_in_flight, test_client_setup,
		    test_client_teardown),
		cmocka_unit_test(test_client_future_no_daemon),
		cmocka_unit_test_setup_teardown(test_client_future_backoff,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test(test_client_future_daemon_gone),
		cmocka_unit_test_setup_teardown(
		    test_client_future_callbacks_threads, test_client_setup,
		    test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_output_read,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_output_errors,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_output_long_poll,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_follow,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_follow_stop,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_follow_cut_busy,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test(test_client_follow_restart),
	};

	/* A hang is a failure, not a stuck CI job. */
	alarm(240);
	/* TEST_FILTER=test_client_future_* runs a subset. */
	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	if (cmocka_run_group_tests_name("libasyncd over nng", tests, NULL,
	    NULL) != 0)
		return (1);
	tc_direct = true;
	return (cmocka_run_group_tests_name("libasyncd, direct connections",
	    tests, NULL, NULL));
}
