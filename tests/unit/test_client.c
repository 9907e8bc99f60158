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

#include "asyncd.h"
#include "proto.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* Enough workers that held polls never starve the other requests. */
#define FAKE_WORKERS	12
#define FAKE_JOBS	256
/* The fake's wait cap: short, so tests see several re-issues quickly. */
#define FAKE_CAP	0.2
/* Job ids the fake treats specially. */
#define FAKE_UNKNOWN	404	/* status: unknown_job */
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

static char *
fake_error(int err, const char *message)
{
	char	*out;

	out = proto_reply_error(err, message, NULL, NULL);
	assert_non_null(out);
	return (out);
}

static char *
fake_encode(struct proto_reply *rep)
{
	char	*out;
	size_t	 len;

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
		return (fake_error(ASYNCD_EUNKNOWNTYPE,
		    "no job type named 'nope'"));
	if (s->key != NULL && strcmp(s->key, "dup") == 0) {
		rep.u.submit.job = fake_find(fk, JOB_ECHO)->pj;
		rep.u.submit.created = false;
		return (fake_encode(&rep));
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
	return (fake_encode(&rep));
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

	for (i = 0; i < w->nids; i++) {
		if (fake_find(fk, w->ids[i]) == NULL) {
			snprintf(msg, sizeof msg, "no job %llu",
			    (unsigned long long)w->ids[i]);
			return (fake_error(ASYNCD_EUNKNOWNJOB, msg));
		}
		fake_tick(fk, fake_find(fk, w->ids[i]));
	}
	deadline = test_client_now() + (w->timeout < fk->cap ? w->timeout :
	    fk->cap);
	for (;;) {
		for (i = ndone = 0; i < w->nids; i++) {
			fj = fake_find(fk, w->ids[i]);
			pjs[i] = fj->pj;
			if (proto_state_terminal(fj->pj.state))
				ndone++;
		}
		/* Only jobs that hold are worth holding for. */
		if ((w->any ? ndone > 0 : ndone == w->nids) ||
		    test_client_now() >= deadline || fk->stopping)
			break;
		for (i = 0; i < w->nids; i++) {
			if (fake_find(fk, w->ids[i])->polls >= 0)
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
	return (fake_encode(&rep));
}

static char *
fake_list(struct fake *fk, struct proto_list *l)
{
	struct proto_reply	 rep;
	struct proto_job	 pjs[FAKE_JOBS];
	size_t			 i, n = 0, limit;

	limit = l->limit != 0 ? l->limit : PROTO_LIST_DEFAULT;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_LIST;
	for (i = fk->njobs; i-- > 0;) {
		if (l->state >= 0 && (int)fk->jobs[i].pj.state != l->state)
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
	return (fake_encode(&rep));
}

static char *
fake_cancel(struct fake *fk, struct proto_cancel *cn)
{
	struct proto_reply	 rep;
	struct fake_job		*fj;

	if ((fj = fake_find(fk, cn->id)) == NULL)
		return (fake_error(ASYNCD_EUNKNOWNJOB, "no such job"));
	if (proto_state_terminal(fj->pj.state))
		return (fake_error(ASYNCD_EDONE, "job already finished"));
	fj->final = PROTO_CANCELLED;
	fj->final_code = "cancelled";
	fj->final_message = "cancelled by request";
	fake_finish(fk, fj);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_CANCEL;
	rep.u.job = fj->pj;
	return (fake_encode(&rep));
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
		{ "echo", "returns its arguments" },
		{ "sleep", "sleeps" },
	};
	struct fake_job		*fj;
	char			*cause, *out;
	int			 rv;

	if ((rv = proto_req_decode(buf, len, &req, &cause)) != 0) {
		out = fake_error(rv, cause);
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
		out = fake_encode(&rep);
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
			out = fake_error(ASYNCD_EUNKNOWNJOB, "no job 404");
			break;
		}
		rep.u.job = fj->pj;
		out = fake_encode(&rep);
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
		out = fake_encode(&rep);
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
		out = fake_encode(&rep);
		break;
	case PROTO_SHUTDOWN:
		if (fk->deny_shutdown)
			out = fake_error(ASYNCD_EPERM, "not an admin");
		else
			out = fake_encode(&rep);
		break;
	default:
		out = fake_error(ASYNCD_EUNKNOWNOP, "no such operation");
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

static struct fake *
fake_start_at(const char *url)
{
	struct fake		*fk;
	pthread_condattr_t	 attr;
	size_t			 i;

	fk = calloc(1, sizeof *fk);
	assert_non_null(fk);
	if (url != NULL)
		snprintf(fk->url, sizeof fk->url, "%s", url);
	else
		test_client_url(fk->url, sizeof fk->url, "fake");
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

/* ---- fixtures */

static int
test_client_setup(void **state)
{
	struct env	*env;

	env = calloc(1, sizeof *env);
	assert_non_null(env);
	env->fake = fake_start();
	assert_int_equal(asyncd_open(&env->c, env->fake->url), 0);
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
	assert_int_equal(asyncd_open(&c, url), 0);
	assert_string_equal(asyncd_url(c), url);
	asyncd_close(c);

	/* The default honours ASYNCD_SOCKET (through proto/). */
	setenv("ASYNCD_SOCKET", url, 1);
	assert_int_equal(asyncd_open(&c, NULL), 0);
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
	assert_int_equal(asyncd_open(&c, "nosuch://x"), ASYNCD_EINVAL);
	assert_int_equal(asyncd_open(&c, ""), ASYNCD_EINVAL);
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "ipc://", 6);
	big[sizeof big - 1] = '\0';
	assert_int_equal(asyncd_open(&c, big), ASYNCD_EINVAL);
	assert_null(c);
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
	assert_int_equal(asyncd_open(&c, url), 0);
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
	assert_int_equal(asyncd_open(&l.c, url), 0);
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

static void
test_client_daemon_restart(void **state)
{
	struct fake	*fk;
	struct restart	 r = { .rv = -1 };
	struct asyncd	*admin;
	pthread_t	 t;
	char		 url[128];

	(void)state;
	fk = fake_start();
	snprintf(url, sizeof url, "%s", fk->url);
	assert_int_equal(asyncd_open(&r.c, url), 0);
	asyncd_set_request_timeout(r.c, 5.0);
	assert_int_equal(pthread_create(&t, NULL, test_client_restart_wait,
	    &r), 0);
	test_client_sleep(0.3);
	fake_stop(fk);
	test_client_sleep(0.3);
	fk = fake_start_at(url);
	/* The new daemon knows the job; cancel it there to end the wait. */
	assert_int_equal(asyncd_open(&admin, url), 0);
	assert_int_equal(asyncd_cancel(admin, JOB_HOLD, 0, NULL), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.rv, 0);
	assert_int_equal(asyncd_job_state(r.job), ASYNCD_CANCELLED);
	asyncd_job_free(r.job);
	fake_stop(fk);
	asyncd_close(admin);
	asyncd_close(r.c);
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

	assert_int_equal(asyncd_wait(ENV->c, FAKE_UNKNOWN, 1.0, &job),
	    ASYNCD_EUNKNOWNJOB);
	assert_null(job);

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

	ids[1] = FAKE_UNKNOWN;
	assert_int_equal(asyncd_wait_many(ENV->c, ids, 3, ASYNCD_WAIT_ALL,
	    1, jobs), ASYNCD_EUNKNOWNJOB);
	assert_null(jobs[0]);
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
	assert_int_equal(asyncd_open(&c, url), 0);
	asyncd_set_request_timeout(c, 0.05);
	/* The chain retries (sends time out, then it pauses) until freed. */
	assert_int_equal(asyncd_future_open(c, 7, &f), 0);
	assert_int_equal(asyncd_future_result(f, 0.5, NULL), ASYNCD_ETIMEDOUT);
	assert_false(asyncd_future_done(f));
	t0 = test_client_now();
	asyncd_future_free(f);
	assert_true(test_client_now() - t0 < 1.0);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_open_url),
		cmocka_unit_test(test_client_open_bad_url),
		cmocka_unit_test(test_client_unreachable),
		cmocka_unit_test(test_client_daemon_late),
		cmocka_unit_test(test_client_daemon_restart),
		cmocka_unit_test(test_client_state_names),
		cmocka_unit_test_setup_teardown(test_client_ping,
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
		cmocka_unit_test_setup_teardown(test_client_call,
		    test_client_setup, test_client_teardown),
		cmocka_unit_test_setup_teardown(test_client_status_job,
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
		cmocka_unit_test_setup_teardown(
		    test_client_future_callbacks_threads, test_client_setup,
		    test_client_teardown),
	};

	/* A hang is a failure, not a stuck CI job. */
	alarm(120);
	/* TEST_FILTER=test_client_future_* runs a subset. */
	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
