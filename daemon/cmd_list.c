/*
 * cmd_list.c: "list": jobs newest first, filtered, a page at a time.
 * A peer that is not an admin sees only its own jobs.
 *
 * Without a store, memory is all there is, and the job table is walked.
 * With one, memory holds only the live jobs and a bounded cache of
 * finished ones, so the store answers (store_list, on its thread): its
 * rows are the history, and a row whose job is in memory is shown as
 * memory has it, which is as fresh or fresher. The query is queued after
 * every write the loop has queued, so whatever was acknowledged before
 * the request is in the answer.
 *
 * Paging is by id (a cursor: "before" the last id of a page), so a set
 * that does not change pages with no id twice and none left out. A job
 * that changed while the store read it (it started, it finished) may no
 * longer match the filter: it is left out, and the store is asked for
 * more so that a page is not short without reason.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/*
 * Times compare as job objects show them, to the millisecond: a client
 * that passes a job's "created" as "since" gets that job.
 */
#define CMD_LIST_MS	0.0005

/* A list the store answers, across one or more reads. */
struct cmd_list {
	struct work		*work;
	struct store_filter	 filter;	/* the next read */
	size_t			 limit;
	size_t			 n;
	struct job		**jobs;		/* pinned; NULL: views[i] */
	struct proto_job	*views;		/* owned, for rows only */
};

static bool
cmd_list_match(struct work *w, const struct proto_list *req,
    const struct job *job)
{
	if (req->before != 0 && job->id >= req->before)
		return (false);
	if (req->state >= 0 && job->state != (enum proto_state)req->state)
		return (false);
	if (req->type != NULL && strcmp(req->type, job->type_name) != 0)
		return (false);
	if (req->key != NULL && (job->key == NULL ||
	    strcmp(req->key, job->key) != 0))
		return (false);
	if (req->by_owner && job->uid != req->owner)
		return (false);
	if (req->since > 0 && job->created < req->since - CMD_LIST_MS)
		return (false);
	if (req->until > 0 && job->created >= req->until - CMD_LIST_MS)
		return (false);
	return (cmd_may_access(w, job));
}

/* Without a store: the job table, newest first. */
static enum cmd_retval
cmd_list_memory(struct work *w, const struct proto_list *req)
{
	struct daemon		*d = server_daemon(w);
	struct proto_reply	 rep;
	struct job		*job;
	size_t			 n = 0;

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_LIST;
	rep.u.jobs.jobs = xcalloc(req->limit, sizeof *rep.u.jobs.jobs);
	TAILQ_FOREACH_REVERSE(job, &d->sched.tab.all, jobtab_all, all_entry) {
		if (!cmd_list_match(w, req, job))
			continue;
		if (n == req->limit) {
			rep.u.jobs.more = true;
			break;
		}
		job_view(job, &rep.u.jobs.jobs[n++]);
	}
	rep.u.jobs.njobs = n;
	server_reply(w, &rep);
	free(rep.u.jobs.jobs);
	return (CMD_DONE);
}

/* A job that is only in the store, as a list shows it (owned). */
static void
cmd_list_row_view(struct sched *s, const struct store_row *row,
    struct proto_job *v)
{
	int	state = proto_state_parse(row->state);

	memset(v, 0, sizeof *v);
	v->id = row->id;
	v->type = xstrdup(row->type);
	v->key = row->key != NULL ? xstrdup(row->key) : NULL;
	/* As sched_restore would take it. */
	v->state = state == -1 ? PROTO_FAILED : (enum proto_state)state;
	v->parent = row->parent;
	v->created = row->created;
	v->started = row->started;
	v->finished = row->finished;
	v->timeout = row->timeout;
	v->err_code = row->err_code != NULL ? xstrdup(row->err_code) : NULL;
	v->err_message = row->err_message != NULL ?
	    xstrdup(row->err_message) : NULL;
	v->progress = -1;
	v->attempts = row->attempts;
	v->delivery = xstrdup(sched_delivery(registry_info(s->reg,
	    row->type)));
	v->priority = row->priority;
	v->not_before = row->not_before;
	v->retries = row->retries;
	if (row->attempt_errors != NULL)
		v->attempt_errors = cJSON_Parse(row->attempt_errors);
}

static void
cmd_list_free(struct cmd_list *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		if (l->jobs[i] != NULL)
			job_unpin(l->jobs[i]);
		else
			proto_job_fini(&l->views[i]);
	}
	free(l->jobs);
	free(l->views);
	free(l);
}

static void
cmd_list_reply(struct cmd_list *l, bool more)
{
	struct proto_reply	 rep;
	size_t			 i;

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_LIST;
	rep.u.jobs.jobs = xcalloc(l->n > 0 ? l->n : 1,
	    sizeof *rep.u.jobs.jobs);
	for (i = 0; i < l->n; i++) {
		if (l->jobs[i] != NULL)
			job_view(l->jobs[i], &rep.u.jobs.jobs[i]);
		else
			rep.u.jobs.jobs[i] = l->views[i];	/* borrowed */
	}
	rep.u.jobs.njobs = l->n;
	rep.u.jobs.more = more;
	server_reply(l->work, &rep);
	free(rep.u.jobs.jobs);
}

/* Loop: the store's rows for one read of a list. */
static void
cmd_list_rows(void *arg, int err, const struct store_row *rows,
    size_t nrows)
{
	struct cmd_list		*l = arg;
	struct work		*w = l->work;
	struct sched		*s = &server_daemon(w)->sched;
	struct proto_list	*req = &server_req(w)->u.list;
	struct job		*job;
	size_t			 want = l->limit - l->n, take, i;
	bool			 dropped = false;

	if (err != 0) {
		server_reply_error(w, ASYNCD_ESTORAGE, "the job store cannot "
		    "be read (see the daemon's log)");
		cmd_list_free(l);
		return;
	}
	take = nrows < want ? nrows : want;
	for (i = 0; i < take; i++) {
		if ((job = jobtab_find(&s->tab, rows[i].id)) != NULL) {
			/* Memory's view; it may have moved on. */
			if (!cmd_list_match(w, req, job)) {
				dropped = true;
				continue;
			}
			job_pin(job);
			l->jobs[l->n++] = job;
		} else {
			l->jobs[l->n] = NULL;
			cmd_list_row_view(s, &rows[i], &l->views[l->n++]);
		}
	}
	if (nrows <= want) {
		/* The store has nothing more that matches. */
		cmd_list_reply(l, false);
		cmd_list_free(l);
		return;
	}
	if (!dropped) {
		/* A full page, and at least one row past it. */
		cmd_list_reply(l, true);
		cmd_list_free(l);
		return;
	}
	/* Some rows no longer matched: read on from the last one. */
	l->filter.before = rows[take - 1].id;
	l->filter.limit = l->limit - l->n + 1;
	store_list(s->store, &l->filter, cmd_list_rows, l);
}

static enum cmd_retval
cmd_list_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_list	*req = &server_req(w)->u.list;
	struct cmd_list		*l;
	uint64_t		 peer = server_peer_uid(w);

	if (!cmd_is_admin(w)) {
		/* Another user's jobs are not to be seen, nor counted. */
		if (req->by_owner && req->owner != peer)
			return (cmd_error(err, ASYNCD_EPERM, "only root and "
			    "the daemon's user may list other users' jobs "
			    "(owner %" PRIu32 ")", req->owner));
	}
	if (d->sched.store == NULL)
		return (cmd_list_memory(w, req));

	l = xcalloc(1, sizeof *l);
	l->work = w;
	l->limit = req->limit;
	l->jobs = xcalloc(req->limit, sizeof *l->jobs);
	l->views = xcalloc(req->limit, sizeof *l->views);
	l->filter.state = req->state;
	l->filter.type = req->type;
	l->filter.key = req->key;
	if (req->by_owner) {
		l->filter.by_uid = true;
		l->filter.uid = req->owner;
	} else if (!cmd_is_admin(w)) {
		l->filter.by_uid = true;
		l->filter.uid = peer;
	}
	l->filter.since = req->since > 0 ? req->since - CMD_LIST_MS : 0;
	l->filter.until = req->until > 0 ? req->until - CMD_LIST_MS : 0;
	l->filter.before = req->before;
	/* One row past the page says whether there is more. */
	l->filter.limit = req->limit + 1;
	store_list(d->sched.store, &l->filter, cmd_list_rows, l);
	return (CMD_PENDING);
}

const struct cmd_entry cmd_list_entry = {
	.op = PROTO_LIST,
	.exec = cmd_list_exec,
};
