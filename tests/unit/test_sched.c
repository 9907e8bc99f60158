/*
 * test_sched.c: unit tests for the scheduler and the coroutine SDK
 * (daemon/sched.c, daemon/ad.c, daemon/builtin.c, daemon/waiter.c):
 * switching, cancellation, timeouts, gather ordering, child cancellation,
 * admission limits, keys, retention, drain, progress and waiters.
 *
 * Each test gets a fresh loop, registry and scheduler (small stacks, two
 * pool threads). Besides the built-ins, test-only job types ("t.*") run
 * SDK calls and write what they saw into a record per job id; the test
 * asserts on the records from the loop thread afterwards, never from a
 * coroutine (a failed cmocka assertion longjmps, which must not cross
 * stacks). The scheduler's on_state and on_progress hooks keep an event
 * log, and count how many jobs run at once.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"
#include "sched_fixture.h"

/* Job ids one test may use; records and states are indexed by id. */
#define TS_MAX_IDS		512
#define TS_MAX_EVENTS		4096
#define TS_MAX_PROGRESS		16
/* Await results and outcomes one job records. */
#define TS_MAX_RC		12
#define TS_MAX_OUT		8
#define TS_TEXT			160

/* What a test job saw; written by its coroutine, read by the test. */
struct ts_rec {
	bool		 started;	/* the coroutine ran */
	bool		 returned;
	int		 rc[TS_MAX_RC];	/* await results, in order */
	size_t		 nrc;
	double		 elapsed;	/* seconds, of what the type says */
	struct {
		uint64_t	 id;
		int		 rc;
		char		 code[40];
		char		 result[TS_TEXT];
	}		 out[TS_MAX_OUT];
	size_t		 nout;
	char		 text[2][TS_TEXT];
	uint64_t	 spawned;
	/* t.thread */
	atomic_bool	 fn_started;
	atomic_bool	 fn_finished;
	pthread_t	 fn_thread;
	bool		 fn_finished_at_return;
};

struct ts_event {
	uint64_t		 id;
	enum proto_state	 state;
	bool			 cancel_requested;
};

struct ts_progress {
	uint64_t	 id;
	double		 fraction;
	bool		 has_msg;
	char		 msg[64];
};

struct ts {
	struct fixture_loop	 fl;
	struct registry		*reg;
	struct sched		 s;
	struct sched_config	 cfg;
	bool			 started;

	struct ts_event		 ev[TS_MAX_EVENTS];
	size_t			 nev;
	struct ts_progress	 prog[TS_MAX_PROGRESS];
	size_t			 nprog;
	bool			 known[TS_MAX_IDS];
	enum proto_state	 last[TS_MAX_IDS];
	double			 finished_at[TS_MAX_IDS];	/* ev_time */
	bool			 ran[TS_MAX_IDS];
	size_t			 hook_errors;	/* a job finished twice */
	size_t			 top_running, max_top_running;
	size_t			 all_running, max_all_running;
	char			 log[512];
	size_t			 loglen;
	struct ts_rec		 rec[TS_MAX_IDS];
	struct ts_rec		 spare;		/* ids past TS_MAX_IDS */

	/* waiter callbacks */
	int			 wfired;
	bool			 wmet;
	bool			 won_coro;	/* fn ran on a coroutine */
	double			 wat;
	bool			 wdone[4];
	unsigned		 wpins[4];
};

static struct ts *T;

/* ---- the event hooks ------------------------------------------------- */

static void
ts_on_state(void *arg, const struct job *job)
{
	struct ts	*t = arg;
	struct ts_event	*e;

	if (t->nev < TS_MAX_EVENTS) {
		e = &t->ev[t->nev++];
		e->id = job->id;
		e->state = job->state;
		e->cancel_requested = job->cancel_reason != 0;
	}
	if (job->id >= TS_MAX_IDS)
		return;
	if (job->state == PROTO_RUNNING && !t->ran[job->id]) {
		t->ran[job->id] = true;
		if (++t->all_running > t->max_all_running)
			t->max_all_running = t->all_running;
		if (job->toplevel &&
		    ++t->top_running > t->max_top_running)
			t->max_top_running = t->top_running;
	}
	if (proto_state_terminal(job->state)) {
		/* Not fail_msg: hooks may run on a coroutine's stack. */
		if (t->known[job->id] &&
		    proto_state_terminal(t->last[job->id]))
			t->hook_errors++;
		if (t->ran[job->id]) {
			t->all_running--;
			if (job->toplevel)
				t->top_running--;
		}
		t->finished_at[job->id] = ev_time();
	}
	t->known[job->id] = true;
	t->last[job->id] = job->state;
}

static void
ts_on_progress(void *arg, const struct job *job)
{
	struct ts		*t = arg;
	struct ts_progress	*p;

	if (t->nprog >= TS_MAX_PROGRESS)
		return;
	p = &t->prog[t->nprog++];
	p->id = job->id;
	p->fraction = job->progress;
	p->has_msg = job->progress_msg != NULL;
	if (p->has_msg)
		snprintf(p->msg, sizeof p->msg, "%s", job->progress_msg);
}

/* ---- test job types (they run as coroutines: no cmocka here) --------- */

static struct ts_rec *
ts_rec_of(struct ad_job *aj)
{
	uint64_t	id = ad_id(aj);

	return (id < TS_MAX_IDS ? &T->rec[id] : &T->spare);
}

static void
ts_rec_rc(struct ts_rec *r, int rc)
{
	if (r->nrc < TS_MAX_RC)
		r->rc[r->nrc++] = rc;
}

static void
ts_rec_out(struct ts_rec *r, const struct ad_outcome *out)
{
	char	*s;

	if (r->nout >= TS_MAX_OUT)
		return;
	r->out[r->nout].id = out->id;
	r->out[r->nout].rc = out->rc;
	snprintf(r->out[r->nout].code, sizeof r->out[r->nout].code, "%s",
	    out->err_code != NULL ? out->err_code : "");
	r->out[r->nout].result[0] = '\0';
	if (out->result != NULL &&
	    (s = cJSON_PrintUnformatted(out->result)) != NULL) {
		snprintf(r->out[r->nout].result,
		    sizeof r->out[r->nout].result, "%s", s);
		free(s);
	}
	r->nout++;
}

static double
ts_arg_number(const cJSON *args, const char *name, double dflt)
{
	const cJSON	*item = cJSON_GetObjectItemCaseSensitive(args, name);

	return (cJSON_IsNumber(item) ? item->valuedouble : dflt);
}

static void __attribute__((format(printf, 1, 2)))
ts_log(const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (T->loglen >= sizeof T->log - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(T->log + T->loglen, sizeof T->log - T->loglen, fmt, ap);
	va_end(ap);
	if (n > 0)
		T->loglen += (size_t)n;
	if (T->loglen > sizeof T->log - 1)
		T->loglen = sizeof T->log - 1;
}

/* t.log {"tag": T, "n": N}: N times, logs "T<i> " and awaits sleep(0). */
static int
ts_log_run(struct ad_job *aj)
{
	const cJSON	*tag;
	int		 i, n, rv;

	tag = cJSON_GetObjectItemCaseSensitive(ad_args(aj), "tag");
	n = (int)ts_arg_number(ad_args(aj), "n", 1);
	for (i = 0; i < n; i++) {
		ts_log("%s%d ", tag->valuestring, i);
		if ((rv = ad_sleep(aj, 0)) != 0)
			return (rv);
	}
	ts_log("%s. ", tag->valuestring);
	return (0);
}

static void
ts_mark_fn(void *arg)
{
	atomic_bool	*ran = arg;

	atomic_store(ran, true);
}

/*
 * t.stubborn {"seconds": S}: sleeps, then tries every await (which must
 * all fail at once if it was cancelled), sets a result and returns 0.
 */
static int
ts_stubborn_run(struct ad_job *aj)
{
	struct ts_rec		*r = ts_rec_of(aj);
	struct ad_outcome	 out, outs[1];
	uint64_t		 self = ad_id(aj), child = 0;
	char			*cause = NULL;
	double			 t0;

	r->started = true;
	ts_rec_rc(r, ad_sleep(aj, ts_arg_number(ad_args(aj), "seconds", 0)));
	t0 = ev_time();
	ts_rec_rc(r, ad_sleep(aj, 10));
	ts_rec_rc(r, ad_spawn(aj, "echo", cJSON_CreateTrue(), 0, &child,
	    &cause));
	free(cause);
	ts_rec_rc(r, ad_await(aj, self, &out));
	ts_rec_rc(r, ad_gather(aj, &self, 1, AD_GATHER_ALL, outs));
	ts_rec_rc(r, ad_run_in_thread(aj, ts_mark_fn, &r->fn_started));
	ts_rec_rc(r, ad_cancelled(aj) ? 1 : 0);
	r->elapsed = ev_time() - t0;
	r->spawned = child;
	ad_result(aj, cJSON_CreateString("ignored"));
	r->returned = true;
	return (0);
}

/* t.sleep_echo {"seconds": S, ...}: sleeps, then returns its arguments. */
static int
ts_sleep_echo_run(struct ad_job *aj)
{
	int	rv;

	rv = ad_sleep(aj, ts_arg_number(ad_args(aj), "seconds", 0));
	if (rv != 0)
		return (rv);
	ad_result(aj, cJSON_Duplicate(ad_args(aj), true));
	return (0);
}

/* t.await {"id": N}: awaits job N and records the outcome. */
static int
ts_await_run(struct ad_job *aj)
{
	struct ts_rec		*r = ts_rec_of(aj);
	struct ad_outcome	 out;
	double			 t0 = ev_time();
	int			 rv;

	r->started = true;
	rv = ad_await(aj, (uint64_t)ts_arg_number(ad_args(aj), "id", 0),
	    &out);
	r->elapsed = ev_time() - t0;
	ts_rec_rc(r, rv);
	if (rv == 0)
		ts_rec_out(r, &out);
	r->returned = true;
	return (0);
}

/*
 * t.gather {"jobs": [{"type", "args", "timeout"}, ...], "first_error": B}:
 * spawns the jobs, ad_gathers them, records each outcome, returns 0.
 */
static int
ts_gather_run(struct ad_job *aj)
{
	struct ts_rec		*r = ts_rec_of(aj);
	struct ad_outcome	 out[TS_MAX_OUT];
	const cJSON		*args = ad_args(aj), *spec, *type;
	uint64_t		 ids[TS_MAX_OUT];
	size_t			 n = 0, i;
	double			 t0;
	int			 flags, rv;

	r->started = true;
	cJSON_ArrayForEach(spec, cJSON_GetObjectItemCaseSensitive(args,
	    "jobs")) {
		if (n == TS_MAX_OUT)
			break;
		type = cJSON_GetObjectItemCaseSensitive(spec, "type");
		rv = ad_spawn(aj, type->valuestring, cJSON_Duplicate(
		    cJSON_GetObjectItemCaseSensitive(spec, "args"), true),
		    ts_arg_number(spec, "timeout", 0), &ids[n], NULL);
		if (rv != 0) {
			ts_rec_rc(r, rv);
			return (rv);
		}
		n++;
	}
	flags = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args,
	    "first_error")) ? AD_GATHER_FIRST_ERROR : AD_GATHER_ALL;
	t0 = ev_time();
	rv = ad_gather(aj, ids, n, flags, out);
	r->elapsed = ev_time() - t0;
	ts_rec_rc(r, rv);
	for (i = 0; rv == 0 && i < n; i++)
		ts_rec_out(r, &out[i]);
	r->returned = true;
	return (0);
}

struct ts_thread_ctx {
	struct ts_rec	*r;
	long		 ms;
};

/* Runs on a pool thread. */
static void
ts_thread_fn(void *arg)
{
	struct ts_thread_ctx	*ctx = arg;

	ctx->r->fn_thread = pthread_self();
	atomic_store(&ctx->r->fn_started, true);
	fixture_msleep(ctx->ms);
	atomic_store(&ctx->r->fn_finished, true);
}

/* t.thread {"ms": M}: runs a blocking M ms function on the pool. */
static int
ts_thread_run(struct ad_job *aj)
{
	struct ts_rec		*r = ts_rec_of(aj);
	struct ts_thread_ctx	 ctx;	/* on the coroutine's stack */
	double			 t0 = ev_time();
	int			 rv;

	r->started = true;
	ctx.r = r;
	ctx.ms = (long)ts_arg_number(ad_args(aj), "ms", 0);
	rv = ad_run_in_thread(aj, ts_thread_fn, &ctx);
	r->fn_finished_at_return = atomic_load(&r->fn_finished);
	r->elapsed = ev_time() - t0;
	ts_rec_rc(r, rv);
	r->returned = true;
	return (rv);
}

/* t.progress: reports progress, in and out of range. */
static int
ts_progress_run(struct ad_job *aj)
{
	ad_progress(aj, 0.5, "half %d", 50);
	ts_rec_rc(ts_rec_of(aj), ad_sleep(aj, 0));
	ad_progress(aj, 2.0, "%s", "over");
	ad_progress(aj, -1.0, "%s", "under");
	ad_progress(aj, NAN, "%s", "nan");
	ad_progress(aj, 1.0, NULL);
	return (0);
}

/* t.cancel {"id": N}: cancels job N. */
static int
ts_cancel_run(struct ad_job *aj)
{
	ts_rec_rc(ts_rec_of(aj), ad_cancel(aj,
	    (uint64_t)ts_arg_number(ad_args(aj), "id", 0)));
	return (0);
}

/* t.spawn_bad: spawns what it may not, then what it may. */
static int
ts_spawn_bad_run(struct ad_job *aj)
{
	struct ts_rec		*r = ts_rec_of(aj);
	struct ad_outcome	 out;
	uint64_t		 id = 0;
	char			*cause = NULL;

	r->started = true;
	ts_rec_rc(r, ad_spawn(aj, "nope", cJSON_CreateObject(), 0, &id,
	    &cause));
	snprintf(r->text[0], sizeof r->text[0], "%s", cause != NULL ? cause :
	    "(null)");
	free(cause);
	cause = NULL;
	ts_rec_rc(r, ad_spawn(aj, "sleep", cJSON_CreateNumber(-1), 0, &id,
	    &cause));
	snprintf(r->text[1], sizeof r->text[1], "%s", cause != NULL ? cause :
	    "(null)");
	free(cause);
	cause = (char *)1;	/* must be reset */
	ts_rec_rc(r, ad_spawn(aj, "nope", NULL, 0, &id, NULL));
	ts_rec_rc(r, ad_spawn(aj, "echo", cJSON_CreateString("child"), 0, &id,
	    &cause));
	ts_rec_rc(r, cause == NULL ? 0 : -1);
	r->spawned = id;
	ts_rec_rc(r, ad_await(aj, id, &out));
	ts_rec_out(r, &out);
	r->returned = true;
	return (0);
}

/* t.orphan: spawns a child and returns before it can start. */
static int
ts_orphan_run(struct ad_job *aj)
{
	struct ts_rec	*r = ts_rec_of(aj);
	uint64_t	 id = 0;

	r->started = true;
	ts_rec_rc(r, ad_spawn(aj, "sleep", cJSON_CreateNumber(5), 0, &id,
	    NULL));
	r->spawned = id;
	r->returned = true;
	return (0);
}

/* t.self: the awaits that can never complete or name nothing. */
static int
ts_self_run(struct ad_job *aj)
{
	struct ts_rec		*r = ts_rec_of(aj);
	struct ad_outcome	 out[2];
	uint64_t		 ids[2] = { ad_id(aj), 0 };

	ts_rec_rc(r, ad_await(aj, ad_id(aj), &out[0]));
	ts_rec_rc(r, ad_gather(aj, ids, 1, AD_GATHER_ALL, out));
	ids[0] = 100000;
	ts_rec_rc(r, ad_await(aj, ids[0], &out[0]));
	ts_rec_rc(r, ad_gather(aj, ids, 1, AD_GATHER_ALL, out));
	ts_rec_rc(r, ad_gather(aj, ids, 0, AD_GATHER_ALL, out));
	ts_rec_rc(r, ad_cancel(aj, ids[0]));
	r->returned = true;
	return (0);
}

/*
 * t.rc {"rc": N, "code": C}: fails with ad_fail(C) if C is given (null:
 * code NULL), else sets a result and returns N.
 */
static int
ts_rc_run(struct ad_job *aj)
{
	const cJSON	*code;

	code = cJSON_GetObjectItemCaseSensitive(ad_args(aj), "code");
	if (cJSON_IsString(code))
		return (ad_fail(aj, code->valuestring, "failed with %s",
		    code->valuestring));
	if (cJSON_IsNull(code))
		return (ad_fail(aj, NULL, "no code"));
	ad_result(aj, cJSON_CreateString("dropped"));
	return ((int)ts_arg_number(ad_args(aj), "rc", 0));
}

static const struct ad_type ts_types[] = {
	{ .name = "t.log", .run = ts_log_run },
	{ .name = "t.stubborn", .run = ts_stubborn_run },
	{ .name = "t.sleep_echo", .run = ts_sleep_echo_run },
	{ .name = "t.await", .run = ts_await_run },
	{ .name = "t.gather", .run = ts_gather_run },
	{ .name = "t.thread", .run = ts_thread_run },
	{ .name = "t.progress", .run = ts_progress_run },
	{ .name = "t.cancel", .run = ts_cancel_run },
	{ .name = "t.spawn_bad", .run = ts_spawn_bad_run },
	{ .name = "t.self", .run = ts_self_run },
	{ .name = "t.orphan", .run = ts_orphan_run },
	{ .name = "t.rc", .run = ts_rc_run },
};

/* ---- fixture ----------------------------------------------------------- */

static int
ts_setup(void **state)
{
	struct ts	*t;
	size_t		 i;

	t = calloc(1, sizeof *t);
	assert_non_null(t);
	/* A line per finished job would bury cmocka's own. */
	log_init(LOG_WARNING);
	fixture_loop_init(&t->fl);
	t->reg = registry_create();
	builtin_register(t->reg);
	for (i = 0; i < nitems(ts_types); i++)
		assert_int_equal(registry_add(t->reg, &ts_types[i]), 0);
	sched_config_default(&t->cfg);
	t->cfg.threads = 2;
	t->cfg.stack_size = 64 * 1024;
	T = t;
	*state = t;
	return (0);
}

/* Starts the scheduler with t->cfg, as the test has shaped it. */
static void
ts_start(struct ts *t)
{
	assert_int_equal(sched_init(&t->s, t->fl.loop, t->reg, &t->cfg,
	    &t->fl.inbox), 0);
	t->s.on_state = ts_on_state;
	t->s.on_progress = ts_on_progress;
	t->s.on_arg = t;
	t->started = true;
}

static bool
ts_idle(void *arg)
{
	struct ts	*t = arg;

	return (sched_idle(&t->s));
}

static int
ts_teardown(void **state)
{
	struct ts	*t = *state;
	int		 rv = 0;

	if (t->started) {
		/* A clean shutdown: cancel everything, let it all return. */
		sched_drain(&t->s);
		if (!fixture_run_cond(&t->fl, ts_idle, t, 5)) {
			print_error("jobs still running after the drain\n");
			rv = -1;
		}
		sched_fini(&t->s);
	}
	if (t->hook_errors > 0) {
		print_error("%zu jobs finished twice\n", t->hook_errors);
		rv = -1;
	}
	registry_free(t->reg);
	fixture_loop_fini(&t->fl);
	free(t);
	T = NULL;
	return (rv);
}

static cJSON *
ts_json(const char *text)
{
	cJSON	*json;

	if (text == NULL)
		return (NULL);
	json = cJSON_Parse(text);
	if (json == NULL)
		fail_msg("bad JSON in test: %s", text);
	return (json);
}

/* Submits a job that must be accepted. */
static struct job *
ts_submit_full(struct ts *t, const char *type, const char *args,
    const char *key, double timeout, bool *created)
{
	struct sched_submit	 sub;
	struct job		*job = NULL;
	char			*cause = NULL;
	bool			 c = false;
	int			 rv;

	memset(&sub, 0, sizeof sub);
	sub.type = type;
	sub.args = ts_json(args);
	sub.key = key;
	sub.timeout = timeout;
	rv = sched_submit(&t->s, &sub, &job, &c, &cause);
	cJSON_Delete(sub.args);		/* NULL if taken */
	if (rv != 0) {
		print_error("cause: %s\n", cause != NULL ? cause : "none");
		free(cause);
		fail_msg("submit %s %s: %s", type, args != NULL ? args :
		    "null", asyncd_errcode(rv));
	}
	assert_null(cause);
	assert_non_null(job);
	if (created != NULL)
		*created = c;
	return (job);
}

static struct job *
ts_submit(struct ts *t, const char *type, const char *args)
{
	struct job	*job;
	bool		 created;

	job = ts_submit_full(t, type, args, NULL, 0, &created);
	assert_true(created);
	assert_int_equal(job->state, PROTO_QUEUED);
	return (job);
}

/* Submits a job that must be refused; returns the error, sets *cause. */
static int
ts_submit_error(struct ts *t, const char *type, const char *args,
    char **cause)
{
	struct sched_submit	 sub;
	struct job		*job = NULL;
	size_t			 njobs = t->s.tab.njobs;
	uint64_t		 submitted = t->s.submitted;
	bool			 created = false;
	int			 rv;

	memset(&sub, 0, sizeof sub);
	sub.type = type;
	sub.args = ts_json(args);
	rv = sched_submit(&t->s, &sub, &job, &created, cause);
	/* Refused: the arguments are still ours. */
	if (args != NULL)
		assert_non_null(sub.args);
	cJSON_Delete(sub.args);
	assert_int_not_equal(rv, 0);
	assert_non_null(*cause);
	assert_false(created);
	assert_int_equal(t->s.tab.njobs, njobs);
	assert_int_equal(t->s.submitted, submitted);
	return (rv);
}

struct ts_until {
	struct ts	*t;
	uint64_t	 id;
	int		 state;		/* -1: any terminal state */
};

static bool
ts_reached(void *arg)
{
	struct ts_until	*u = arg;
	struct ts	*t = u->t;

	if (!t->known[u->id])
		return (false);
	if (u->state < 0)
		return (proto_state_terminal(t->last[u->id]));
	return ((int)t->last[u->id] == u->state);
}

/* Runs the loop until job id has reached state (-1: finished). */
static void
ts_run_until(struct ts *t, uint64_t id, int state, double seconds)
{
	struct ts_until	u = { t, id, state };

	assert_true(id < TS_MAX_IDS);
	fixture_run_until(&t->fl, ts_reached, &u, seconds);
}

static void
ts_run_idle(struct ts *t, double seconds)
{
	fixture_run_until(&t->fl, ts_idle, t, seconds);
}

static bool
ts_rec_started(void *arg)
{
	return (((struct ts_rec *)arg)->started);
}

/* The first event of job id with the given state, or -1. */
static long
ts_event_index(const struct ts *t, uint64_t id, enum proto_state state)
{
	size_t	i;

	for (i = 0; i < t->nev; i++) {
		if (t->ev[i].id == id && t->ev[i].state == state)
			return ((long)i);
	}
	return (-1);
}

static void
ts_assert_json(const cJSON *got, const char *want)
{
	cJSON	*w = ts_json(want);
	char	*s;
	bool	 equal;

	equal = cJSON_Compare(got, w, true);
	cJSON_Delete(w);
	if (!equal) {
		s = got != NULL ? cJSON_PrintUnformatted(got) : NULL;
		print_error("got %s\n", s != NULL ? s : "NULL");
		free(s);
		fail_msg("expected %s", want);
	}
}

/* ---- basics ------------------------------------------------------------ */

static void
test_sched_echo_result(void **state)
{
	struct ts	*t = *state;
	struct job	*job, *nul;
	const char	*args = "{\"a\":[1,2.5,\"x\"],\"b\":null,\"c\":{}}";

	ts_start(t);
	job = ts_submit(t, "echo", args);
	nul = ts_submit(t, "echo", NULL);
	assert_int_equal(job->id, 1);
	assert_int_equal(nul->id, 2);
	/* ev_run returns by itself: no job holds a watcher any more. */
	fixture_run(&t->fl, 5);
	assert_true(sched_idle(&t->s));

	assert_int_equal(job->state, PROTO_SUCCEEDED);
	ts_assert_json(job->result, args);
	assert_ptr_not_equal(job->result, job->args);
	assert_null(job->err_code);
	assert_true(job->started > 0);
	assert_true(job->finished >= job->started);
	assert_int_equal(nul->state, PROTO_SUCCEEDED);
	assert_true(cJSON_IsNull(nul->result));

	/* Events: queued, running, succeeded, in that order. */
	assert_int_equal(ts_event_index(t, 1, PROTO_QUEUED), 0);
	assert_true(ts_event_index(t, 1, PROTO_RUNNING) >
	    ts_event_index(t, 1, PROTO_QUEUED));
	assert_true(ts_event_index(t, 1, PROTO_SUCCEEDED) >
	    ts_event_index(t, 1, PROTO_RUNNING));
	assert_int_equal(t->s.tab.counts[PROTO_SUCCEEDED], 2);
	assert_int_equal(t->s.nfinished, 2);
	assert_int_equal(t->s.submitted, 2);
	assert_int_equal(coro_pool_live(t->s.pool), 0);
}

/* 200 sleeps of 0.2 s run concurrently: far less than 40 s in all. */
static void
test_sched_sleeps_overlap(void **state)
{
	struct ts	*t = *state;
	double		 start, took;
	uint64_t	 id;

	ts_start(t);
	start = ev_time();
	for (id = 1; id <= 200; id++)
		ts_submit(t, "sleep", "{\"seconds\":0.2}");
	ts_run_idle(t, 10);
	took = ev_time() - start;
	assert_true(took >= 0.19);
	assert_true(took < 2.0);
	assert_int_equal(t->max_top_running, 200);
	for (id = 1; id <= 200; id++)
		assert_int_equal(t->last[id], PROTO_SUCCEEDED);
	assert_int_equal(t->s.tab.counts[PROTO_SUCCEEDED], 200);
}

/* Two coroutines awaiting sleep(0) take turns, in submission order. */
static void
test_sched_sleep0_interleaves(void **state)
{
	struct ts	*t = *state;

	ts_start(t);
	ts_submit(t, "t.log", "{\"tag\":\"a\",\"n\":3}");
	ts_submit(t, "t.log", "{\"tag\":\"b\",\"n\":3}");
	ts_run_idle(t, 5);
	assert_string_equal(t->log, "a0 b0 a1 b1 a2 b2 a. b. ");
}

/* ---- cancellation and timeouts ---------------------------------------- */

static void
test_sched_cancel_queued(void **state)
{
	struct ts	*t = *state;
	struct job	*a, *b;

	t->cfg.max_running = 1;
	ts_start(t);
	a = ts_submit(t, "sleep", "{\"seconds\":5}");
	b = ts_submit(t, "sleep", "{\"seconds\":5}");
	ts_run_until(t, a->id, PROTO_RUNNING, 5);
	assert_int_equal(b->state, PROTO_QUEUED);

	/* Queued: finished before sched_cancel returns, never started. */
	assert_int_equal(sched_cancel(&t->s, b, ASYNCD_ECANCELED,
	    "by test %d", 2), 0);
	assert_int_equal(b->state, PROTO_CANCELLED);
	assert_string_equal(b->err_code, "cancelled");
	assert_string_equal(b->err_message, "by test 2");
	assert_null(b->result);
	assert_true(b->started == 0);
	assert_int_equal(t->s.nqueued, 0);
	assert_false(t->ran[b->id]);
	/* Finished: cancelling again says so. */
	assert_int_equal(sched_cancel(&t->s, b, ASYNCD_ECANCELED, "again"),
	    ASYNCD_EDONE);
	assert_string_equal(b->err_message, "by test 2");

	/* A queued job can time out the same way (reason EJOBTIMEDOUT). */
	b = ts_submit(t, "sleep", "{\"seconds\":5}");
	assert_int_equal(sched_cancel(&t->s, b, ASYNCD_EJOBTIMEDOUT, "late"),
	    0);
	assert_int_equal(b->state, PROTO_TIMED_OUT);
	assert_string_equal(b->err_code, "timed_out");
	assert_int_equal(a->state, PROTO_RUNNING);
}

/*
 * A running job cancelled while it sleeps: the sleep returns ECANCELED at
 * once, so does every later await, and the job ends cancelled.
 */
static void
test_sched_cancel_running(void **state)
{
	struct ts	*t = *state;
	struct ts_rec	*r;
	struct job	*job;
	double		 start;
	long		 i;

	ts_start(t);
	job = ts_submit(t, "t.stubborn", "{\"seconds\":5}");
	r = &t->rec[job->id];
	fixture_run_until(&t->fl, ts_rec_started, r, 5);
	assert_int_equal(job->state, PROTO_RUNNING);
	assert_int_equal(r->nrc, 0);

	start = ev_time();
	assert_int_equal(sched_cancel(&t->s, job, ASYNCD_ECANCELED,
	    "stop %d", 1), 0);
	/* Running: it is only told; it ends when its coroutine returns. */
	assert_int_equal(job->state, PROTO_RUNNING);
	assert_true(t->ev[t->nev - 1].cancel_requested);
	assert_int_equal(t->ev[t->nev - 1].state, PROTO_RUNNING);
	/* The first reason stands. */
	assert_int_equal(sched_cancel(&t->s, job, ASYNCD_EJOBTIMEDOUT,
	    "late"), 0);
	ts_run_until(t, job->id, -1, 5);
	assert_true(ev_time() - start < 2.0);

	assert_true(r->returned);
	assert_int_equal(r->nrc, 7);
	for (i = 0; i < 6; i++) {
		if (r->rc[i] != ASYNCD_ECANCELED)
			fail_msg("await %ld returned %s", i,
			    asyncd_errcode(r->rc[i]));
	}
	assert_int_equal(r->rc[6], 1);			/* ad_cancelled */
	assert_true(r->elapsed < 1.0);			/* no 10 s sleep */
	assert_false(atomic_load(&r->fn_started));	/* never ran */
	assert_int_equal(r->spawned, 0);
	assert_null(jobtab_find(&t->s.tab, job->id + 1));

	assert_int_equal(job->state, PROTO_CANCELLED);
	assert_string_equal(job->err_code, "cancelled");
	assert_string_equal(job->err_message, "stop 1");
	assert_int_equal(sched_cancel(&t->s, job, ASYNCD_ECANCELED, "x"),
	    ASYNCD_EDONE);
}

static bool
ts_stubborn_ready(void *arg)
{
	struct job	*job = arg;

	return (T->rec[job->id].started && job->in_ready);
}

/*
 * Cancelled after its sleep's timer fired but before it resumed: the
 * sleep has completed (sched.c: "its next await returns the error"), so
 * only the awaits after it must fail; either way it ends cancelled.
 */
static void
test_sched_cancel_ready_job(void **state)
{
	struct ts	*t = *state;
	struct ts_rec	*r;
	struct job	*job;
	size_t		 i;

	ts_start(t);
	job = ts_submit(t, "t.stubborn", "{\"seconds\":0.05}");
	r = &t->rec[job->id];
	/* EVRUN_ONCE ends after the timer's callback, before sched_run. */
	fixture_run_until(&t->fl, ts_stubborn_ready, job, 5);
	assert_int_equal(r->nrc, 0);
	assert_int_equal(sched_cancel(&t->s, job, ASYNCD_ECANCELED, "late"),
	    0);
	ts_run_until(t, job->id, -1, 5);
	assert_int_equal(r->nrc, 7);
	assert_true(r->rc[0] == 0 || r->rc[0] == ASYNCD_ECANCELED);
	for (i = 1; i < 6; i++)
		assert_int_equal(r->rc[i], ASYNCD_ECANCELED);
	assert_true(r->elapsed < 1.0);
	assert_int_equal(job->state, PROTO_CANCELLED);
	assert_string_equal(job->err_message, "late");
}

/* Returning 0 (with a result) after cancellation still ends cancelled. */
static void
test_sched_cancelled_return_zero_stays_cancelled(void **state)
{
	struct ts	*t = *state;
	struct job	*job;

	ts_start(t);
	job = ts_submit(t, "t.stubborn", "{\"seconds\":5}");
	fixture_run_until(&t->fl, ts_rec_started, &t->rec[job->id], 5);
	sched_cancel(&t->s, job, ASYNCD_ECANCELED, "cancelled by test");
	ts_run_until(t, job->id, -1, 5);
	assert_true(t->rec[job->id].returned);
	assert_int_equal(job->run_rc, 0);
	assert_int_equal(job->state, PROTO_CANCELLED);
	/* Its result stays, as an exec job's output so far does. */
	assert_non_null(job->result);
	assert_string_equal(job->err_code, "cancelled");
	assert_int_equal(t->s.tab.counts[PROTO_SUCCEEDED], 0);
	assert_int_equal(t->s.tab.counts[PROTO_CANCELLED], 1);
}

static void
test_sched_timeout(void **state)
{
	struct ts	*t = *state;
	struct ts_rec	*r;
	struct job	*job, *sleep;
	double		 start;
	size_t		 i;

	ts_start(t);
	start = ev_time();
	job = ts_submit_full(t, "t.stubborn", "{\"seconds\":5}", NULL, 0.1,
	    NULL);
	sleep = ts_submit_full(t, "sleep", "{\"seconds\":5}", NULL, 0.1,
	    NULL);
	ts_run_idle(t, 5);
	assert_true(ev_time() - start >= 0.09);
	assert_true(ev_time() - start < 2.0);

	r = &t->rec[job->id];
	assert_int_equal(r->nrc, 7);
	for (i = 0; i < 6; i++)
		assert_int_equal(r->rc[i], ASYNCD_EJOBTIMEDOUT);
	assert_int_equal(job->state, PROTO_TIMED_OUT);
	assert_string_equal(job->err_code, "timed_out");
	assert_string_equal(job->err_message, "timed out after 0.1 s");
	assert_non_null(job->result);	/* what it set on the way out */
	assert_int_equal(sleep->state, PROTO_TIMED_OUT);
	assert_string_equal(sleep->err_code, "timed_out");
	assert_int_equal(t->s.tab.counts[PROTO_TIMED_OUT], 2);

	/* A job that finishes in time is not touched by its timeout. */
	job = ts_submit_full(t, "sleep", "{\"seconds\":0.01}", NULL, 5, NULL);
	ts_run_idle(t, 5);
	assert_int_equal(job->state, PROTO_SUCCEEDED);
	assert_false(ev_is_active(&job->deadline));
}

/* A job's error code: ad_fail's, "failed" for NULL, or the rc's own. */
static void
test_sched_failure_codes(void **state)
{
	struct ts	*t = *state;
	struct job	*a, *b, *c, *d;
	char		 args[32];

	ts_start(t);
	a = ts_submit(t, "t.rc", "{\"code\":\"disk_full\"}");
	b = ts_submit(t, "t.rc", "{\"code\":null}");
	snprintf(args, sizeof args, "{\"rc\":%d}", ASYNCD_EINTERNAL);
	c = ts_submit(t, "t.rc", args);
	d = ts_submit(t, "fail", "{\"message\":\"no\",\"code\":\"nope\"}");
	ts_run_idle(t, 5);
	assert_int_equal(a->state, PROTO_FAILED);
	assert_string_equal(a->err_code, "disk_full");
	assert_string_equal(a->err_message, "failed with disk_full");
	assert_int_equal(b->state, PROTO_FAILED);
	assert_string_equal(b->err_code, "failed");
	assert_int_equal(c->state, PROTO_FAILED);
	assert_string_equal(c->err_code, "internal");
	/* A result set before failing stays (an exec job's exit status). */
	assert_non_null(c->result);
	assert_int_equal(d->state, PROTO_FAILED);
	assert_string_equal(d->err_code, "nope");
	assert_string_equal(d->err_message, "no");
}

/* ---- gather ------------------------------------------------------------ */

/* Results come in submission order, though children finish in reverse. */
static void
test_sched_gather_order(void **state)
{
	struct ts	*t = *state;
	struct job	*g;
	uint64_t	 i;

	ts_start(t);
	g = ts_submit(t, "gather", "{\"jobs\":["
	    "{\"type\":\"t.sleep_echo\",\"args\":{\"seconds\":0.3,\"n\":0}},"
	    "{\"type\":\"t.sleep_echo\",\"args\":{\"seconds\":0.2,\"n\":1}},"
	    "{\"type\":\"t.sleep_echo\",\"args\":{\"seconds\":0.1,\"n\":2}},"
	    "{\"type\":\"t.sleep_echo\",\"args\":{\"seconds\":0,\"n\":3}}]}");
	ts_run_idle(t, 5);
	assert_int_equal(g->state, PROTO_SUCCEEDED);
	ts_assert_json(g->result, "["
	    "{\"seconds\":0.3,\"n\":0},{\"seconds\":0.2,\"n\":1},"
	    "{\"seconds\":0.1,\"n\":2},{\"seconds\":0,\"n\":3}]");
	/* The children (ids g+1 ...) finished last one first. */
	for (i = 1; i <= 4; i++) {
		struct job *c = jobtab_find(&t->s.tab, g->id + i);

		assert_non_null(c);
		assert_int_equal(c->parent_id, g->id);
		assert_int_equal(c->state, PROTO_SUCCEEDED);
	}
	for (i = 1; i < 4; i++)
		assert_true(ts_event_index(t, g->id + i, PROTO_SUCCEEDED) >
		    ts_event_index(t, g->id + i + 1, PROTO_SUCCEEDED));
	assert_true(ts_event_index(t, g->id, PROTO_SUCCEEDED) >
	    ts_event_index(t, g->id + 1, PROTO_SUCCEEDED));
}

/* One child fails: gather fails with its code, the others are cancelled. */
static void
test_sched_gather_child_fails(void **state)
{
	struct ts	*t = *state;
	struct job	*g, *c;
	char		 msg[64];
	double		 start = ev_time();

	ts_start(t);
	g = ts_submit(t, "gather", "{\"jobs\":["
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":5}},"
	    "{\"type\":\"fail\",\"args\":{\"code\":\"boom\","
	    "\"message\":\"it broke\"}},"
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":5}}]}");
	ts_run_idle(t, 5);
	assert_true(ev_time() - start < 2.0);
	assert_int_equal(g->state, PROTO_FAILED);
	assert_string_equal(g->err_code, "boom");
	assert_non_null(strstr(g->err_message, "jobs[1]"));
	assert_non_null(strstr(g->err_message, "it broke"));
	assert_null(g->result);

	c = jobtab_find(&t->s.tab, g->id + 2);
	assert_int_equal(c->state, PROTO_FAILED);
	snprintf(msg, sizeof msg, "parent job %" PRIu64 " finished", g->id);
	c = jobtab_find(&t->s.tab, g->id + 1);
	assert_int_equal(c->state, PROTO_CANCELLED);
	assert_string_equal(c->err_code, "cancelled");
	assert_string_equal(c->err_message, msg);
	c = jobtab_find(&t->s.tab, g->id + 3);
	assert_int_equal(c->state, PROTO_CANCELLED);
	assert_string_equal(c->err_message, msg);
	/* The parent finished before its cancelled children did. */
	assert_true(ts_event_index(t, g->id, PROTO_FAILED) <
	    ts_event_index(t, g->id + 1, PROTO_CANCELLED));
}

/* return_exceptions: failures take their place as {"error": ...}. */
static void
test_sched_gather_return_exceptions(void **state)
{
	struct ts	*t = *state;
	struct job	*g;

	ts_start(t);
	g = ts_submit(t, "gather", "{\"return_exceptions\":true,\"jobs\":["
	    "{\"type\":\"echo\",\"args\":1},"
	    "{\"type\":\"fail\",\"args\":{\"code\":\"boom\","
	    "\"message\":\"it broke\"}},"
	    "{\"type\":\"t.sleep_echo\",\"args\":{\"seconds\":0.05}},"
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":5},\"timeout\":0.05},"
	    "{\"type\":\"echo\"}]}");
	ts_run_idle(t, 5);
	assert_int_equal(g->state, PROTO_SUCCEEDED);
	ts_assert_json(g->result, "[1,"
	    "{\"error\":{\"code\":\"boom\",\"message\":\"it broke\"}},"
	    "{\"seconds\":0.05},"
	    "{\"error\":{\"code\":\"timed_out\","
	    "\"message\":\"timed out after 0.05 s\"}},"
	    "null]");
}

/* Cancelling a gather cancels its running and its queued children. */
static void
test_sched_gather_cancel_parent(void **state)
{
	struct ts	*t = *state;
	struct job	*g, *c;
	char		 msg[64];
	uint64_t	 i;

	ts_start(t);
	g = ts_submit(t, "gather", "{\"jobs\":["
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":5}},"
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":5}},"
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":5}}]}");
	ts_run_until(t, g->id + 3, PROTO_RUNNING, 5);

	assert_int_equal(sched_cancel(&t->s, g, ASYNCD_ECANCELED, "test"), 0);
	ts_run_idle(t, 5);
	assert_int_equal(g->state, PROTO_CANCELLED);
	assert_string_equal(g->err_message, "test");
	snprintf(msg, sizeof msg, "parent job %" PRIu64 " finished", g->id);
	for (i = 1; i <= 3; i++) {
		c = jobtab_find(&t->s.tab, g->id + i);
		assert_int_equal(c->state, PROTO_CANCELLED);
		assert_string_equal(c->err_message, msg);
		assert_true(t->ran[g->id + i]);
	}
	assert_true(TAILQ_EMPTY(&g->children));
	assert_int_equal(t->s.ncoros, 0);
}

/* A child still queued when its parent returns is cancelled unrun. */
static void
test_sched_queued_child_cancelled(void **state)
{
	struct ts	*t = *state;
	struct job	*p, *c;
	char		 msg[64];

	ts_start(t);
	p = ts_submit(t, "t.orphan", NULL);
	ts_run_idle(t, 5);
	assert_int_equal(p->state, PROTO_SUCCEEDED);
	assert_int_equal(t->rec[p->id].nrc, 1);
	assert_int_equal(t->rec[p->id].rc[0], 0);
	c = jobtab_find(&t->s.tab, t->rec[p->id].spawned);
	assert_non_null(c);
	assert_int_equal(c->state, PROTO_CANCELLED);
	snprintf(msg, sizeof msg, "parent job %" PRIu64 " finished", p->id);
	assert_string_equal(c->err_message, msg);
	assert_int_equal(c->started, 0);
	assert_int_equal(t->s.nchildren_queued, 0);
	assert_int_equal(t->s.ncoros, 0);
}

/* ---- await, gather, cancel, spawn from a coroutine --------------------- */

static void
test_sched_await(void **state)
{
	struct ts	*t = *state;
	struct job	*done, *run, *bad, *a1, *a2, *a3;
	struct ts_rec	*r;
	char		 args[64];

	ts_start(t);
	done = ts_submit(t, "echo", "{\"x\":1}");
	ts_run_idle(t, 5);
	assert_int_equal(done->state, PROTO_SUCCEEDED);
	run = ts_submit(t, "t.sleep_echo", "{\"seconds\":0.1}");
	bad = ts_submit(t, "fail", "{\"code\":\"boom\",\"message\":\"m\"}");
	snprintf(args, sizeof args, "{\"id\":%" PRIu64 "}", done->id);
	a1 = ts_submit(t, "t.await", args);
	snprintf(args, sizeof args, "{\"id\":%" PRIu64 "}", run->id);
	a2 = ts_submit(t, "t.await", args);
	snprintf(args, sizeof args, "{\"id\":%" PRIu64 "}", bad->id);
	a3 = ts_submit(t, "t.await", args);
	ts_run_idle(t, 5);

	/* Finished already: no wait. */
	r = &t->rec[a1->id];
	assert_int_equal(r->nrc, 1);
	assert_int_equal(r->rc[0], 0);
	assert_int_equal(r->out[0].id, done->id);
	assert_int_equal(r->out[0].rc, 0);
	assert_string_equal(r->out[0].result, "{\"x\":1}");
	assert_true(r->elapsed < 1.0);	/* wide: valgrind is slow */
	/* Running: resumes when it finishes. */
	r = &t->rec[a2->id];
	assert_int_equal(r->rc[0], 0);
	assert_int_equal(r->out[0].rc, 0);
	assert_string_equal(r->out[0].result, "{\"seconds\":0.1}");
	/* It resumed only once the job it awaited had finished. */
	assert_true(r->elapsed > 0);
	assert_true(t->finished_at[a2->id] >= t->finished_at[run->id]);
	/* Failed: the await succeeds, the outcome says how it ended. */
	r = &t->rec[a3->id];
	assert_int_equal(r->rc[0], 0);
	assert_int_equal(r->out[0].rc, ASYNCD_EFAILED);
	assert_string_equal(r->out[0].code, "boom");
	assert_string_equal(r->out[0].result, "");
	assert_int_equal(a1->state, PROTO_SUCCEEDED);
	assert_int_equal(done->pins, 0);
	assert_int_equal(run->pins, 0);
}

static void
test_sched_await_unknown_job(void **state)
{
	struct ts	*t = *state;
	struct job	*a, *s;
	struct ts_rec	*r;

	ts_start(t);
	a = ts_submit(t, "t.await", "{\"id\":12345}");
	s = ts_submit(t, "t.self", NULL);
	ts_run_idle(t, 5);
	r = &t->rec[a->id];
	assert_int_equal(r->nrc, 1);
	assert_int_equal(r->rc[0], ASYNCD_EUNKNOWNJOB);
	assert_int_equal(r->nout, 0);
	assert_int_equal(a->state, PROTO_SUCCEEDED);

	r = &t->rec[s->id];
	assert_true(r->returned);
	assert_int_equal(r->nrc, 6);
	assert_int_equal(r->rc[0], ASYNCD_EINVAL);	/* await self */
	assert_int_equal(r->rc[1], ASYNCD_EINVAL);	/* gather self */
	assert_int_equal(r->rc[2], ASYNCD_EUNKNOWNJOB);
	assert_int_equal(r->rc[3], ASYNCD_EUNKNOWNJOB);
	assert_int_equal(r->rc[4], 0);			/* gather nothing */
	assert_int_equal(r->rc[5], ASYNCD_EUNKNOWNJOB);	/* cancel */
	assert_int_equal(s->pins, 0);
}

/* AD_GATHER_FIRST_ERROR returns at the first failure; ALL waits. */
static void
test_sched_ad_gather_first_error(void **state)
{
	struct ts	*t = *state;
	struct job	*g, *c;
	struct ts_rec	*r;

	ts_start(t);
	g = ts_submit(t, "t.gather", "{\"first_error\":true,\"jobs\":["
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":5}},"
	    "{\"type\":\"fail\",\"args\":{\"code\":\"boom\"}},"
	    "{\"type\":\"t.sleep_echo\",\"args\":{\"seconds\":0.5}}]}");
	ts_run_idle(t, 5);
	r = &t->rec[g->id];
	assert_true(r->returned);
	assert_int_equal(r->nrc, 1);
	assert_int_equal(r->rc[0], 0);
	assert_true(r->elapsed < 2.5);	/* far below the 5 s sleep */
	assert_int_equal(r->nout, 3);
	assert_int_equal(r->out[0].id, g->id + 1);
	assert_int_equal(r->out[0].rc, ASYNCD_ETIMEDOUT);	/* running */
	assert_int_equal(r->out[1].rc, ASYNCD_EFAILED);
	assert_string_equal(r->out[1].code, "boom");
	assert_int_equal(r->out[2].rc, ASYNCD_ETIMEDOUT);
	/* Its return cancelled the two still running. */
	assert_int_equal(g->state, PROTO_SUCCEEDED);
	c = jobtab_find(&t->s.tab, g->id + 1);
	assert_int_equal(c->state, PROTO_CANCELLED);
	c = jobtab_find(&t->s.tab, g->id + 3);
	assert_int_equal(c->state, PROTO_CANCELLED);

	g = ts_submit(t, "t.gather", "{\"jobs\":["
	    "{\"type\":\"t.sleep_echo\",\"args\":{\"seconds\":0.1}},"
	    "{\"type\":\"fail\",\"args\":{\"code\":\"boom\"}},"
	    "{\"type\":\"echo\",\"args\":\"e\"}]}");
	ts_run_idle(t, 5);
	r = &t->rec[g->id];
	assert_int_equal(r->rc[0], 0);
	assert_true(r->elapsed >= 0.09);
	assert_int_equal(r->nout, 3);
	assert_int_equal(r->out[0].rc, 0);
	assert_string_equal(r->out[0].result, "{\"seconds\":0.1}");
	assert_int_equal(r->out[1].rc, ASYNCD_EFAILED);
	assert_int_equal(r->out[2].rc, 0);
	assert_string_equal(r->out[2].result, "\"e\"");
}

static void
test_sched_ad_cancel(void **state)
{
	struct ts	*t = *state;
	struct job	*victim, *done, *c1, *c2, *c3;
	char		 args[64], msg[64];

	ts_start(t);
	done = ts_submit(t, "echo", NULL);
	ts_run_idle(t, 5);
	victim = ts_submit(t, "sleep", "{\"seconds\":5}");
	ts_run_until(t, victim->id, PROTO_RUNNING, 5);
	snprintf(args, sizeof args, "{\"id\":%" PRIu64 "}", victim->id);
	c1 = ts_submit(t, "t.cancel", args);
	snprintf(args, sizeof args, "{\"id\":%" PRIu64 "}", done->id);
	c2 = ts_submit(t, "t.cancel", args);
	c3 = ts_submit(t, "t.cancel", "{\"id\":999}");
	ts_run_idle(t, 5);
	assert_int_equal(t->rec[c1->id].rc[0], 0);
	assert_int_equal(t->rec[c2->id].rc[0], ASYNCD_EDONE);
	assert_int_equal(t->rec[c3->id].rc[0], ASYNCD_EUNKNOWNJOB);
	assert_int_equal(victim->state, PROTO_CANCELLED);
	snprintf(msg, sizeof msg, "cancelled by job %" PRIu64, c1->id);
	assert_string_equal(victim->err_message, msg);
	assert_int_equal(done->state, PROTO_SUCCEEDED);
}

static void
test_sched_spawn_errors(void **state)
{
	struct ts	*t = *state;
	struct job	*job, *child;
	struct ts_rec	*r;

	ts_start(t);
	job = ts_submit(t, "t.spawn_bad", NULL);
	ts_run_idle(t, 5);
	r = &t->rec[job->id];
	assert_true(r->returned);
	assert_int_equal(r->nrc, 6);
	assert_int_equal(r->rc[0], ASYNCD_EUNKNOWNTYPE);
	assert_string_equal(r->text[0], "no job type named 'nope'");
	assert_int_equal(r->rc[1], ASYNCD_EBADARGS);
	assert_non_null(strstr(r->text[1], "sleep takes"));
	assert_int_equal(r->rc[2], ASYNCD_EUNKNOWNTYPE);
	assert_int_equal(r->rc[3], 0);
	assert_int_equal(r->rc[4], 0);			/* cause reset */
	assert_int_equal(r->rc[5], 0);
	assert_string_equal(r->out[0].result, "\"child\"");
	/* Only the good child exists, and it knows its parent. */
	assert_int_equal(t->s.submitted, 2);
	child = jobtab_find(&t->s.tab, r->spawned);
	assert_non_null(child);
	assert_int_equal(child->parent_id, job->id);
	assert_false(child->toplevel);
}

/* ---- the thread pool from a coroutine ---------------------------------- */

static void
test_sched_run_in_thread(void **state)
{
	struct ts	*t = *state;
	struct job	*job;
	struct ts_rec	*r;

	ts_start(t);
	job = ts_submit(t, "t.thread", "{\"ms\":50}");
	ts_run_idle(t, 5);
	r = &t->rec[job->id];
	assert_int_equal(r->nrc, 1);
	assert_int_equal(r->rc[0], 0);
	assert_true(atomic_load(&r->fn_started));
	assert_true(r->fn_finished_at_return);
	assert_false(pthread_equal(r->fn_thread, t->fl.thread));
	assert_true(r->elapsed >= 0.045);
	assert_int_equal(job->state, PROTO_SUCCEEDED);
}

/* Cancelled while fn runs: the await waits for fn, then says cancelled. */
static void
test_sched_cancel_during_thread(void **state)
{
	struct ts	*t = *state;
	struct job	*job;
	struct ts_rec	*r;

	ts_start(t);
	job = ts_submit(t, "t.thread", "{\"ms\":300}");
	r = &t->rec[job->id];
	fixture_run_until(&t->fl, ts_rec_started, r, 5);
	/* Set on the pool thread, which does not wake the loop. */
	assert_true(fixture_poll_flag(&r->fn_started, 5));
	assert_int_equal(sched_cancel(&t->s, job, ASYNCD_ECANCELED, "stop"),
	    0);
	/* The hook could not abandon the work: the job is still waiting. */
	fixture_run_for(&t->fl, 0.05);
	assert_int_equal(job->state, PROTO_RUNNING);
	ts_run_until(t, job->id, -1, 5);
	assert_int_equal(r->nrc, 1);
	assert_int_equal(r->rc[0], ASYNCD_ECANCELED);
	assert_true(r->fn_finished_at_return);
	assert_true(r->elapsed >= 0.29);
	assert_int_equal(job->state, PROTO_CANCELLED);
}

/* Cancelled while its work is still queued: fn never runs. */
static void
test_sched_cancel_queued_thread_work(void **state)
{
	struct ts	*t = *state;
	struct job	*a, *b;

	t->cfg.threads = 1;
	ts_start(t);
	a = ts_submit(t, "t.thread", "{\"ms\":300}");
	b = ts_submit(t, "t.thread", "{\"ms\":0}");
	fixture_run_until(&t->fl, ts_rec_started, &t->rec[b->id], 5);
	assert_true(t->rec[a->id].started);
	assert_true(fixture_poll_flag(&t->rec[a->id].fn_started, 5));
	assert_false(atomic_load(&t->rec[b->id].fn_started));

	sched_cancel(&t->s, b, ASYNCD_ECANCELED, "stop");
	ts_run_until(t, b->id, -1, 5);
	/* b ended while a's work still ran: it did not wait for a thread. */
	assert_false(atomic_load(&t->rec[a->id].fn_finished));
	assert_int_equal(b->state, PROTO_CANCELLED);
	assert_int_equal(t->rec[b->id].rc[0], ASYNCD_ECANCELED);
	ts_run_idle(t, 5);
	assert_false(atomic_load(&t->rec[b->id].fn_started));
	assert_int_equal(a->state, PROTO_SUCCEEDED);
}

/* ---- admission --------------------------------------------------------- */

static void
test_sched_max_running(void **state)
{
	struct ts	*t = *state;
	uint64_t	 id;

	t->cfg.max_running = 2;
	ts_start(t);
	for (id = 1; id <= 10; id++)
		ts_submit(t, "sleep", "{\"seconds\":0.02}");
	ts_run_idle(t, 5);
	assert_int_equal(t->max_top_running, 2);
	for (id = 1; id <= 10; id++)
		assert_int_equal(t->last[id], PROTO_SUCCEEDED);
	/* FIFO: each started only after the earlier ones had. */
	for (id = 1; id < 10; id++)
		assert_true(ts_event_index(t, id, PROTO_RUNNING) <
		    ts_event_index(t, id + 1, PROTO_RUNNING));
}

/* Children do not count against max_running: no deadlock. */
static void
test_sched_children_past_max_running(void **state)
{
	struct ts	*t = *state;
	struct job	*g, *other;
	double		 start = ev_time();

	t->cfg.max_running = 1;
	ts_start(t);
	g = ts_submit(t, "gather", "{\"jobs\":["
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.1}},"
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.1}},"
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.1}}]}");
	other = ts_submit(t, "echo", NULL);
	ts_run_idle(t, 5);
	assert_int_equal(g->state, PROTO_SUCCEEDED);
	ts_assert_json(g->result, "[null,null,null]");
	assert_int_equal(other->state, PROTO_SUCCEEDED);
	assert_int_equal(t->max_top_running, 1);
	/* The three children ran at once, alongside their parent. */
	assert_int_equal(t->max_all_running, 4);
	assert_true(ev_time() - start < 1.0);
	/* The other top-level job waited for the gather's slot. */
	assert_true(ts_event_index(t, other->id, PROTO_RUNNING) >
	    ts_event_index(t, g->id, PROTO_SUCCEEDED));
}

/*
 * A child that finds every coroutine slot taken is refused at once with
 * "busy" rather than queued: queued behind a slot that its own waiting
 * parent holds, it would never run.
 */
static void
test_sched_children_when_coroutines_full(void **state)
{
	struct ts	*t = *state;
	struct job	*g;

	t->cfg.max_running = 1;
	t->cfg.max_coroutines = 1;
	ts_start(t);
	g = ts_submit(t, "gather", "{\"jobs\":["
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":0}}]}");
	ts_run_until(t, g->id, PROTO_FAILED, 2);
	assert_string_equal(g->err_code, "busy");
	assert_non_null(strstr(g->err_message, "--max-coroutines"));
	assert_null(jobtab_find(&t->s.tab, g->id + 1));
	assert_int_equal(t->s.ncoros, 0);
}

static void
test_sched_max_queued(void **state)
{
	struct ts	*t = *state;
	char		*cause = NULL;

	t->cfg.max_queued = 3;
	ts_start(t);
	ts_submit(t, "echo", NULL);
	ts_submit(t, "echo", NULL);
	ts_submit(t, "echo", NULL);
	assert_int_equal(ts_submit_error(t, "echo", "[1]", &cause),
	    ASYNCD_EBUSY);
	assert_string_equal(cause, "too many jobs queued (3, --max-queued)");
	free(cause);
	ts_run_idle(t, 5);
	/* Room again once they ran. */
	ts_submit(t, "echo", NULL);
	assert_int_equal(t->s.tab.counts[PROTO_QUEUED], 1);
}

/* Children do not count against --max-queued: they never wait for it. */
/*
 * Top-level jobs leave a quarter of the coroutines to children: ten
 * five-child gathers under --max-coroutines 20 all succeed, and never
 * more than 20 coroutines live at once.
 */
static void
test_sched_children_headroom(void **state)
{
	struct ts	*t = *state;
	struct job	*g[10];
	size_t		 i, most = 0;

	t->cfg.max_coroutines = 20;
	ts_start(t);
	assert_int_equal(t->s.max_toplevel, 15);
	for (i = 0; i < 10; i++)
		g[i] = ts_submit(t, "gather", "{\"jobs\":["
		    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.01}},"
		    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.01}},"
		    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.01}},"
		    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.01}},"
		    "{\"type\":\"sleep\",\"args\":{\"seconds\":0.01}}]}");
	while (!sched_idle(&t->s)) {
		fixture_run_for(&t->fl, 0.005);
		if (t->s.ncoros > most)
			most = t->s.ncoros;
		assert_true(t->s.nrunning <= 15);
	}
	assert_true(most <= 20);
	for (i = 0; i < 10; i++) {
		assert_int_equal(g[i]->state, PROTO_SUCCEEDED);
		ts_assert_json(g[i]->result, "[null,null,null,null,null]");
	}
}

static void
test_sched_max_queued_children(void **state)
{
	struct ts	*t = *state;
	struct job	*g;

	t->cfg.max_queued = 2;
	ts_start(t);
	g = ts_submit(t, "gather", "{\"jobs\":[{\"type\":\"echo\"},"
	    "{\"type\":\"echo\"},{\"type\":\"echo\"},"
	    "{\"type\":\"echo\"}]}");
	ts_submit(t, "echo", NULL);
	ts_run_idle(t, 5);
	assert_int_equal(g->state, PROTO_SUCCEEDED);
	ts_assert_json(g->result, "[null,null,null,null]");
}

/* The arguments of live jobs have a memory budget. */
static void
test_sched_max_args_bytes(void **state)
{
	struct ts	*t = *state;
	char		*big, *cause = NULL;
	int		 i;

	t->cfg.live_bytes = 100 * 1024;
	ts_start(t);
	big = malloc(40 * 1024 + 3);
	assert_non_null(big);
	memset(big, 'x', 40 * 1024 + 2);
	big[0] = big[40 * 1024 + 1] = '"';
	big[40 * 1024 + 2] = '\0';
	for (i = 0; i < 2; i++)
		ts_submit(t, "echo", big);
	assert_int_equal(ts_submit_error(t, "echo", big, &cause),
	    ASYNCD_EBUSY);
	assert_non_null(strstr(cause, "--max-args-mib"));
	free(cause);
	/* Small ones still fit. */
	ts_submit(t, "echo", "1");
	ts_run_idle(t, 5);
	/* Finished, they count against retention instead. */
	assert_int_equal(t->s.tab.live_bytes, 0);
	ts_submit(t, "echo", big);
	free(big);
	ts_run_idle(t, 5);
}

static void
test_sched_unknown_type(void **state)
{
	struct ts	*t = *state;
	char		*cause = NULL;

	ts_start(t);
	assert_int_equal(ts_submit_error(t, "nope", "{\"a\":1}", &cause),
	    ASYNCD_EUNKNOWNTYPE);
	assert_string_equal(cause, "no job type named 'nope'");
	free(cause);
	assert_int_equal(t->nev, 0);
}

/* Builds {"jobs":[{"type":"gather","args": ... }]} depth gathers deep. */
static char *
ts_nested_gather(int depth)
{
	char	*s, *inner;
	int	 i;

	s = xstrdup("{\"type\":\"sleep\",\"args\":0}");
	for (i = 0; i < depth; i++) {
		inner = s;
		xasprintf(&s, "{\"type\":\"gather\",\"args\":{\"jobs\":[%s]}}",
		    inner);
		free(inner);
	}
	/* The outermost gather is submitted: strip its spec wrapper. */
	inner = s;
	s = xstrdup(strstr(inner, "\"args\":") + 7);
	s[strlen(s) - 1] = '\0';
	free(inner);
	return (s);
}

static void
test_sched_bad_args(void **state)
{
	struct ts	*t = *state;
	struct job	*job;
	char		*cause = NULL, *args;

	ts_start(t);
	assert_int_equal(ts_submit_error(t, "sleep", "-1", &cause),
	    ASYNCD_EBADARGS);
	assert_non_null(strstr(cause, "sleep takes"));
	free(cause);
	assert_int_equal(ts_submit_error(t, "sleep",
	    "{\"seconds\":\"x\"}", &cause), ASYNCD_EBADARGS);
	free(cause);
	assert_int_equal(ts_submit_error(t, "sleep", NULL, &cause),
	    ASYNCD_EBADARGS);
	free(cause);
	assert_int_equal(ts_submit_error(t, "fail",
	    "{\"code\":\"cancelled\"}", &cause), ASYNCD_EBADARGS);
	assert_non_null(strstr(cause, "'code'"));
	free(cause);
	assert_int_equal(ts_submit_error(t, "fail",
	    "{\"code\":\"timed_out\"}", &cause), ASYNCD_EBADARGS);
	free(cause);
	assert_int_equal(ts_submit_error(t, "fail", "{\"code\":\"Bad\"}",
	    &cause), ASYNCD_EBADARGS);
	free(cause);
	assert_int_equal(ts_submit_error(t, "gather",
	    "{\"jobs\":[{\"type\":\"nope\"}]}", &cause), ASYNCD_EBADARGS);
	assert_string_equal(cause,
	    "jobs[0] (nope): no job type named 'nope'");
	free(cause);
	assert_int_equal(ts_submit_error(t, "gather",
	    "{\"jobs\":[{\"type\":\"echo\"},{\"type\":\"sleep\","
	    "\"args\":{\"seconds\":-1}}]}", &cause), ASYNCD_EBADARGS);
	assert_non_null(strstr(cause, "jobs[1] (sleep): sleep takes"));
	free(cause);
	assert_int_equal(ts_submit_error(t, "gather", "{\"jobs\":[]}",
	    &cause), ASYNCD_EBADARGS);
	free(cause);

	/* 16 nested gathers are checked to the bottom and accepted ... */
	args = ts_nested_gather(16);
	job = ts_submit(t, "gather", args);
	free(args);
	/* ... 17 are refused. */
	args = ts_nested_gather(17);
	assert_int_equal(ts_submit_error(t, "gather", args, &cause),
	    ASYNCD_EBADARGS);
	free(args);
	assert_non_null(strstr(cause, "nested more than 16 deep"));
	free(cause);
	/* The deep one runs to the bottom and back. */
	ts_run_idle(t, 5);
	assert_int_equal(job->state, PROTO_SUCCEEDED);
	assert_int_equal(t->s.tab.counts[PROTO_SUCCEEDED], 17);
}

/* ---- keys -------------------------------------------------------------- */

static void
test_sched_key_dedup(void **state)
{
	struct ts	*t = *state;
	struct job	*job, *again;
	bool		 created;

	t->cfg.max_running = 1;
	ts_start(t);
	job = ts_submit_full(t, "sleep", "{\"seconds\":0.05}", "k", 0,
	    &created);
	assert_true(created);
	assert_string_equal(job->key, "k");
	/* Queued; the second submit's args are not taken (ts_submit_full). */
	again = ts_submit_full(t, "echo", "[1]", "k", 0, &created);
	assert_false(created);
	assert_ptr_equal(again, job);
	ts_run_until(t, job->id, PROTO_RUNNING, 5);
	again = ts_submit_full(t, "echo", NULL, "k", 0, &created);
	assert_false(created);
	assert_ptr_equal(again, job);
	ts_run_idle(t, 5);
	assert_int_equal(job->state, PROTO_SUCCEEDED);
	again = ts_submit_full(t, "echo", NULL, "k", 0, &created);
	assert_false(created);
	assert_ptr_equal(again, job);
	assert_int_equal(t->s.submitted, 1);
	/* Another key is another job. */
	again = ts_submit_full(t, "echo", NULL, "k2", 0, &created);
	assert_true(created);
	assert_ptr_not_equal(again, job);
}

/* A key is released when its job fails or is cancelled. */
static void
test_sched_key_released_after_failure(void **state)
{
	struct ts	*t = *state;
	struct job	*job, *again;
	bool		 created;

	ts_start(t);
	job = ts_submit_full(t, "fail", NULL, "k", 0, &created);
	ts_run_idle(t, 5);
	assert_int_equal(job->state, PROTO_FAILED);
	assert_false(job->key_bound);
	again = ts_submit_full(t, "echo", NULL, "k", 0, &created);
	assert_true(created);
	assert_int_not_equal(again->id, job->id);
	assert_ptr_equal(jobtab_find_key(&t->s.tab, "k"), again);

	job = ts_submit_full(t, "sleep", "{\"seconds\":5}", "c", 0, &created);
	sched_cancel(&t->s, job, ASYNCD_ECANCELED, "test");
	again = ts_submit_full(t, "echo", NULL, "c", 0, &created);
	assert_true(created);
	assert_ptr_not_equal(again, job);
	ts_run_idle(t, 5);
	assert_int_equal(again->state, PROTO_SUCCEEDED);
	assert_ptr_equal(jobtab_find_key(&t->s.tab, "c"), again);
}

/* ---- retention --------------------------------------------------------- */

static void
test_sched_evict_keep(void **state)
{
	struct ts	*t = *state;
	uint64_t	 id;

	t->cfg.keep = 5;
	ts_start(t);
	for (id = 1; id <= 20; id++)
		ts_submit_full(t, "echo", NULL, id == 3 ? "three" : NULL, 0,
		    NULL);
	ts_run_idle(t, 5);
	for (id = 1; id <= 20; id++)
		assert_int_equal(t->last[id], PROTO_SUCCEEDED);
	/* Nobody has read them: the count alone evicts none of them. */
	assert_int_equal(t->s.tab.nfinished, 20);
	for (id = 1; id <= 20; id++)
		sched_delivered(jobtab_find(&t->s.tab, id));
	sched_evict(&t->s);
	assert_int_equal(t->s.tab.nfinished, 5);
	assert_int_equal(t->s.tab.njobs, 5);
	for (id = 1; id <= 15; id++)
		assert_null(jobtab_find(&t->s.tab, id));
	for (id = 16; id <= 20; id++)
		assert_non_null(jobtab_find(&t->s.tab, id));
	/* An evicted job's key is free again. */
	assert_null(jobtab_find_key(&t->s.tab, "three"));
	assert_int_equal(t->s.tab.counts[PROTO_SUCCEEDED], 5);
	assert_int_equal(t->s.nfinished, 20);
}

/*
 * Results nobody has read stay for their retention time whatever --keep
 * says: a fan-out's waiter finds every one. Read ones go first, oldest
 * read first, and an await reads as a client's reply does.
 */
static void
test_sched_evict_read_first(void **state)
{
	struct ts	*t = *state;
	struct job	*g;
	uint64_t	 id;

	t->cfg.keep = 5;
	ts_start(t);
	for (id = 1; id <= 20; id++)
		ts_submit(t, "echo", NULL);
	ts_run_idle(t, 5);
	sched_evict(&t->s);
	assert_int_equal(t->s.tab.nfinished, 20);
	/* Read 12, then 1..10, then 20: 12 goes first. */
	sched_delivered(jobtab_find(&t->s.tab, 12));
	for (id = 1; id <= 10; id++)
		sched_delivered(jobtab_find(&t->s.tab, id));
	sched_delivered(jobtab_find(&t->s.tab, 20));
	sched_evict(&t->s);
	/* Every read one went: 8 unread remain, more than --keep. */
	assert_int_equal(t->s.tab.nfinished, 8);
	for (id = 1; id <= 20; id++) {
		if (id <= 10 || id == 12 || id == 20)
			assert_null(jobtab_find(&t->s.tab, id));
		else
			assert_non_null(jobtab_find(&t->s.tab, id));
	}
	/* A gather reads its children: they are evicted, it is kept. */
	g = ts_submit(t, "gather", "{\"jobs\":[{\"type\":\"echo\"},"
	    "{\"type\":\"echo\"}]}");
	ts_run_idle(t, 5);
	assert_int_equal(g->state, PROTO_SUCCEEDED);
	assert_false(g->delivered);
	sched_evict(&t->s);
	assert_null(jobtab_find(&t->s.tab, g->id + 1));
	assert_null(jobtab_find(&t->s.tab, g->id + 2));
	assert_ptr_equal(jobtab_find(&t->s.tab, g->id), g);
}

/* The memory budget evicts too: each echo holds ~2 x 16 KiB. */
static void
test_sched_evict_bytes(void **state)
{
	struct ts	*t = *state;
	char		*big;
	uint64_t	 id;
	size_t		 kept = 0;

	t->cfg.keep_bytes = 200 * 1024;
	ts_start(t);
	big = malloc(16 * 1024 + 3);
	assert_non_null(big);
	memset(big, 'x', 16 * 1024 + 2);
	big[0] = big[16 * 1024 + 1] = '"';
	big[16 * 1024 + 2] = '\0';
	for (id = 1; id <= 20; id++)
		ts_submit(t, "echo", big);
	free(big);
	ts_run_idle(t, 5);
	assert_true(t->s.tab.finished_bytes <= t->cfg.keep_bytes);
	/* Each holds its arguments and the same again as its result. */
	assert_true(t->s.tab.finished_bytes >= 4 * 2 * 16 * 1024);
	for (id = 1; id <= 20; id++)
		kept += jobtab_find(&t->s.tab, id) != NULL;
	assert_int_equal(kept, t->s.tab.nfinished);
	assert_true(kept >= 4 && kept < 8);
	/* The newest are the ones kept. */
	assert_non_null(jobtab_find(&t->s.tab, 20));
	assert_null(jobtab_find(&t->s.tab, 1));
}

static void
test_sched_evict_pinned(void **state)
{
	struct ts	*t = *state;
	struct job	*first;
	uint64_t	 id;

	t->cfg.keep = 5;
	ts_start(t);
	first = ts_submit(t, "echo", "\"pinned\"");
	job_pin(first);
	for (id = 2; id <= 20; id++)
		ts_submit(t, "echo", NULL);
	ts_run_idle(t, 5);
	for (id = 1; id <= 20; id++)
		sched_delivered(jobtab_find(&t->s.tab, id));
	sched_evict(&t->s);
	assert_ptr_equal(jobtab_find(&t->s.tab, 1), first);
	ts_assert_json(first->result, "\"pinned\"");
	/* The pinned one is kept beside the five newest. */
	for (id = 2; id <= 16; id++)
		assert_null(jobtab_find(&t->s.tab, id));
	for (id = 17; id <= 20; id++)
		assert_non_null(jobtab_find(&t->s.tab, id));
	assert_int_equal(t->s.tab.nfinished, 5);

	/* Unpinned, it is the oldest: the next eviction takes it. */
	job_unpin(first);
	ts_submit(t, "echo", NULL);
	ts_run_idle(t, 5);
	sched_delivered(jobtab_find(&t->s.tab, 21));
	sched_evict(&t->s);
	assert_null(jobtab_find(&t->s.tab, 1));
	assert_non_null(jobtab_find(&t->s.tab, 21));
	assert_int_equal(t->s.tab.nfinished, 5);
}

static void
test_sched_evict_retention(void **state)
{
	struct ts	*t = *state;
	struct job	*old;
	uint64_t	 id;

	t->cfg.retention = 0.1;
	ts_start(t);
	for (id = 1; id <= 3; id++)
		ts_submit(t, "echo", NULL);
	ts_run_idle(t, 5);
	sched_evict(&t->s);
	assert_int_equal(t->s.tab.njobs, 3);	/* too young */
	fixture_run_for(&t->fl, 0.2);
	old = ts_submit(t, "sleep", "{\"seconds\":5}");
	sched_evict(&t->s);
	for (id = 1; id <= 3; id++)
		assert_null(jobtab_find(&t->s.tab, id));
	/* Only finished jobs are evicted. */
	assert_ptr_equal(jobtab_find(&t->s.tab, old->id), old);
	assert_int_equal(t->s.tab.njobs, 1);
}

/* ---- shutdown ---------------------------------------------------------- */

static void
test_sched_drain(void **state)
{
	struct ts	*t = *state;
	struct job	*run, *queued, *g;
	char		*cause = NULL;
	double		 start;

	t->cfg.max_running = 2;
	ts_start(t);
	run = ts_submit(t, "t.stubborn", "{\"seconds\":5}");
	g = ts_submit(t, "gather", "{\"jobs\":["
	    "{\"type\":\"sleep\",\"args\":{\"seconds\":5}}]}");
	queued = ts_submit(t, "sleep", "{\"seconds\":5}");
	/* The gather's child comes after the queued job. */
	ts_run_until(t, queued->id + 1, PROTO_RUNNING, 5);
	assert_false(sched_idle(&t->s));

	start = ev_time();
	sched_drain(&t->s);
	assert_true(t->s.draining);
	assert_int_equal(queued->state, PROTO_CANCELLED);	/* at once */
	assert_string_equal(queued->err_message,
	    "the daemon is shutting down");
	assert_int_equal(ts_submit_error(t, "echo", NULL, &cause),
	    ASYNCD_ESHUTDOWN);
	assert_string_equal(cause, "the daemon is shutting down");
	free(cause);

	ts_run_idle(t, 5);
	assert_true(ev_time() - start < 2.0);
	assert_int_equal(run->state, PROTO_CANCELLED);
	assert_int_equal(t->rec[run->id].rc[0], ASYNCD_ECANCELED);
	assert_int_equal(g->state, PROTO_CANCELLED);
	assert_int_equal(t->last[queued->id + 1], PROTO_CANCELLED);
	assert_int_equal(t->s.tab.counts[PROTO_CANCELLED], 4);
	assert_int_equal(t->s.ncoros, 0);
	assert_int_equal(coro_pool_live(t->s.pool), 0);
}

/* ---- progress ---------------------------------------------------------- */

static void
test_sched_progress(void **state)
{
	struct ts	*t = *state;
	struct job	*job;

	ts_start(t);
	job = ts_submit(t, "t.progress", NULL);
	assert_true(job->progress < 0);		/* none yet */
	ts_run_idle(t, 5);
	assert_int_equal(job->state, PROTO_SUCCEEDED);
	assert_int_equal(t->nprog, 5);
	assert_int_equal(t->prog[0].id, job->id);
	assert_true(t->prog[0].fraction == 0.5);
	assert_string_equal(t->prog[0].msg, "half 50");
	assert_true(t->prog[1].fraction == 1.0);	/* clamped */
	assert_string_equal(t->prog[1].msg, "over");
	assert_true(t->prog[2].fraction == 0.0);
	assert_true(t->prog[3].fraction == 0.0);	/* NaN */
	assert_string_equal(t->prog[3].msg, "nan");
	assert_true(t->prog[4].fraction == 1.0);
	assert_false(t->prog[4].has_msg);
	assert_true(job->progress == 1.0);
	assert_null(job->progress_msg);
}

/* ---- waiters ----------------------------------------------------------- */

static void
ts_waiter_fn(struct waiter *w, bool met, void *arg)
{
	struct ts	*t = arg;
	size_t		 i;

	t->wfired++;
	t->wmet = met;
	t->wat = ev_time();
	t->won_coro = coro_current() != NULL;
	for (i = 0; i < w->n && i < nitems(t->wdone); i++) {
		t->wdone[i] = proto_state_terminal(w->jobs[i]->state);
		t->wpins[i] = w->jobs[i]->pins;
	}
}

static bool
ts_waiter_fired(void *arg)
{
	return (((struct ts *)arg)->wfired > 0);
}

static void
test_sched_waiter_all(void **state)
{
	struct ts	*t = *state;
	struct job	*jobs[2];
	double		 start;

	ts_start(t);
	jobs[0] = ts_submit(t, "sleep", "{\"seconds\":0.05}");
	jobs[1] = ts_submit(t, "sleep", "{\"seconds\":0.15}");
	ts_run_until(t, jobs[1]->id, PROTO_RUNNING, 5);
	start = ev_time();
	waiter_start(&t->s, jobs, 2, false, 5, ts_waiter_fn, t);
	assert_int_equal(t->wfired, 0);
	assert_int_equal(jobs[0]->pins, 1);
	fixture_run_until(&t->fl, ts_waiter_fired, t, 5);
	assert_true(t->wmet);
	assert_true(t->wdone[0]);
	assert_true(t->wdone[1]);
	assert_int_equal(t->wpins[0], 1);	/* pinned while fn runs */
	assert_true(t->wat - start >= 0.1);
	assert_int_equal(jobs[0]->pins, 0);
	assert_int_equal(jobs[1]->pins, 0);
	assert_true(LIST_EMPTY(&t->s.waiters));
	ts_run_idle(t, 5);
	assert_int_equal(t->wfired, 1);
}

static void
test_sched_waiter_any(void **state)
{
	struct ts	*t = *state;
	struct job	*jobs[2];

	ts_start(t);
	jobs[0] = ts_submit(t, "sleep", "{\"seconds\":5}");
	jobs[1] = ts_submit(t, "sleep", "{\"seconds\":0.05}");
	ts_run_until(t, jobs[1]->id, PROTO_RUNNING, 5);
	waiter_start(&t->s, jobs, 2, true, 5, ts_waiter_fn, t);
	fixture_run_until(&t->fl, ts_waiter_fired, t, 5);
	assert_true(t->wmet);
	assert_false(t->wdone[0]);
	assert_true(t->wdone[1]);
	assert_int_equal(jobs[0]->state, PROTO_RUNNING);
	assert_int_equal(jobs[0]->pins, 0);
	assert_true(LIST_EMPTY(&jobs[0]->watches));
	assert_int_equal(t->wfired, 1);
}

/* The deadline is capped at wait_cap: 10 s asked, 0.2 s given. */
static void
test_sched_waiter_timeout_capped(void **state)
{
	struct ts	*t = *state;
	struct job	*job;
	double		 start;

	t->cfg.wait_cap = 0.2;
	ts_start(t);
	job = ts_submit(t, "sleep", "{\"seconds\":5}");
	ts_run_until(t, job->id, PROTO_RUNNING, 5);
	start = ev_time();
	waiter_start(&t->s, &job, 1, false, 10, ts_waiter_fn, t);
	fixture_run_until(&t->fl, ts_waiter_fired, t, 5);
	assert_false(t->wmet);
	assert_false(t->wdone[0]);
	assert_true(t->wat - start >= 0.15);
	assert_true(t->wat - start < 2.0);
	assert_int_equal(job->state, PROTO_RUNNING);	/* not affected */
	assert_int_equal(job->pins, 0);
	assert_true(LIST_EMPTY(&job->watches));
}

/*
 * A coroutine that cancels a queued job finishes it at once, but the
 * job's watches (a client's reply to encode) and its final event run on
 * the loop's own stack, after the coroutine has yielded.
 */
static void
test_sched_notify_off_coroutine(void **state)
{
	struct ts	*t = *state;
	struct job	*queued, *c;
	char		 args[96];

	t->cfg.max_running = 1;
	t->cfg.max_coroutines = 4;
	ts_start(t);
	/*
	 * The gather holds the only top-level slot, so the echo after it
	 * stays queued; the gather's child (children have headroom) cancels
	 * it, from its coroutine.
	 */
	snprintf(args, sizeof args, "{\"jobs\":[{\"type\":\"t.cancel\","
	    "\"args\":{\"id\":%" PRIu64 "}}]}", t->s.next_id + 1);
	c = ts_submit(t, "gather", args);
	queued = ts_submit(t, "echo", NULL);
	assert_int_equal(queued->id, c->id + 1);
	waiter_start(&t->s, &queued, 1, false, 5, ts_waiter_fn, t);
	fixture_run_until(&t->fl, ts_waiter_fired, t, 5);
	assert_int_equal(queued->state, PROTO_CANCELLED);
	assert_false(t->won_coro);
	assert_int_equal(t->wfired, 1);
	assert_false(queued->notify_pending);
	assert_true(TAILQ_EMPTY(&t->s.notify));
	ts_run_idle(t, 5);
	assert_int_equal(c->state, PROTO_SUCCEEDED);
	assert_int_equal(t->last[queued->id], PROTO_CANCELLED);
}

/* Met already, or no time to wait: fn runs before waiter_start returns. */
static void
test_sched_waiter_immediate(void **state)
{
	struct ts	*t = *state;
	struct job	*done, *run, *both[2];

	ts_start(t);
	done = ts_submit(t, "echo", NULL);
	run = ts_submit(t, "sleep", "{\"seconds\":5}");
	ts_run_until(t, run->id, PROTO_RUNNING, 5);
	assert_int_equal(done->state, PROTO_SUCCEEDED);

	waiter_start(&t->s, &done, 1, false, 5, ts_waiter_fn, t);
	assert_int_equal(t->wfired, 1);
	assert_true(t->wmet);
	both[0] = run;
	both[1] = done;
	waiter_start(&t->s, both, 2, true, 5, ts_waiter_fn, t);
	assert_int_equal(t->wfired, 2);
	assert_true(t->wmet);
	waiter_start(&t->s, &run, 1, false, 0, ts_waiter_fn, t);
	assert_int_equal(t->wfired, 3);
	assert_false(t->wmet);
	assert_int_equal(run->pins, 0);
	assert_int_equal(done->pins, 0);
	assert_true(LIST_EMPTY(&run->watches));
}

/* Shutdown answers every held waiter, once. */
static void
test_sched_waiter_flush(void **state)
{
	struct ts	*t = *state;
	struct job	*run;

	ts_start(t);
	run = ts_submit(t, "sleep", "{\"seconds\":5}");
	ts_run_until(t, run->id, PROTO_RUNNING, 5);
	waiter_start(&t->s, &run, 1, false, 5, ts_waiter_fn, t);
	assert_int_equal(t->wfired, 0);
	waiter_flush(&t->s);
	assert_int_equal(t->wfired, 1);
	assert_false(t->wmet);
	assert_int_equal(run->pins, 0);
	waiter_flush(&t->s);
	assert_int_equal(t->wfired, 1);
}

#define TS_TEST(fn)	cmocka_unit_test_setup_teardown(fn, ts_setup, \
			    ts_teardown)

/* An argument runs only the tests that match it ("*" is a wildcard). */
int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TS_TEST(test_sched_echo_result),
		TS_TEST(test_sched_sleeps_overlap),
		TS_TEST(test_sched_sleep0_interleaves),
		TS_TEST(test_sched_cancel_queued),
		TS_TEST(test_sched_cancel_running),
		TS_TEST(test_sched_cancel_ready_job),
		TS_TEST(test_sched_cancelled_return_zero_stays_cancelled),
		TS_TEST(test_sched_timeout),
		TS_TEST(test_sched_failure_codes),
		TS_TEST(test_sched_gather_order),
		TS_TEST(test_sched_gather_child_fails),
		TS_TEST(test_sched_gather_return_exceptions),
		TS_TEST(test_sched_gather_cancel_parent),
		TS_TEST(test_sched_queued_child_cancelled),
		TS_TEST(test_sched_await),
		TS_TEST(test_sched_await_unknown_job),
		TS_TEST(test_sched_ad_gather_first_error),
		TS_TEST(test_sched_ad_cancel),
		TS_TEST(test_sched_spawn_errors),
		TS_TEST(test_sched_run_in_thread),
		TS_TEST(test_sched_cancel_during_thread),
		TS_TEST(test_sched_cancel_queued_thread_work),
		TS_TEST(test_sched_max_running),
		TS_TEST(test_sched_children_past_max_running),
		TS_TEST(test_sched_children_when_coroutines_full),
		TS_TEST(test_sched_max_queued),
		TS_TEST(test_sched_children_headroom),
		TS_TEST(test_sched_max_queued_children),
		TS_TEST(test_sched_max_args_bytes),
		TS_TEST(test_sched_unknown_type),
		TS_TEST(test_sched_bad_args),
		TS_TEST(test_sched_key_dedup),
		TS_TEST(test_sched_key_released_after_failure),
		TS_TEST(test_sched_evict_read_first),
		TS_TEST(test_sched_notify_off_coroutine),
		TS_TEST(test_sched_evict_keep),
		TS_TEST(test_sched_evict_bytes),
		TS_TEST(test_sched_evict_pinned),
		TS_TEST(test_sched_evict_retention),
		TS_TEST(test_sched_drain),
		TS_TEST(test_sched_progress),
		TS_TEST(test_sched_waiter_all),
		TS_TEST(test_sched_waiter_any),
		TS_TEST(test_sched_waiter_timeout_capped),
		TS_TEST(test_sched_waiter_immediate),
		TS_TEST(test_sched_waiter_flush),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
