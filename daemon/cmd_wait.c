/*
 * cmd_wait.c: "wait": a long poll on one or more jobs. Waiting never
 * affects the jobs: a client that gives up leaves them running.
 *
 * An id the daemon cannot answer for (never issued, forgotten, another
 * user's) does not fail the whole wait: its place in the reply is an entry
 * with the id and the error, and it counts as finished, since nothing
 * about it will change. The other jobs are waited for as usual.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/*
 * The most result data one "wait" reply may carry. A reply is encoded on
 * the loop thread, so one that is huge stalls every other client; past
 * this the client is told to wait on fewer jobs at a time.
 */
#define CMD_WAIT_REPLY_MAX	((size_t)64 << 20)

/* One request: its jobs in the order asked, NULL where there is none. */
struct cmd_wait {
	struct work		 *work;
	size_t			  n;
	struct job		**jobs;
	struct proto_job	 *missing;	/* entries for the NULLs */
};

static void
cmd_wait_free(struct cmd_wait *cw)
{
	size_t	i;

	for (i = 0; i < cw->n; i++)
		free(cw->missing[i].err_message);
	free(cw->missing);
	free(cw->jobs);
	free(cw);
}

static void
cmd_wait_reply(struct cmd_wait *cw, bool done)
{
	struct proto_reply	 rep;
	size_t			 i, bytes = 0;

	for (i = 0; i < cw->n; i++) {
		if (cw->jobs[i] != NULL &&
		    job_finished(cw->jobs[i]))
			bytes += cw->jobs[i]->bytes;
	}
	if (bytes > CMD_WAIT_REPLY_MAX) {
		server_reply_error(cw->work, ASYNCD_ETOOLARGE, "the results of "
		    "these %zu jobs hold about %zu MiB, more than one reply "
		    "carries (%zu MiB); wait on fewer at a time", cw->n,
		    bytes >> 20, CMD_WAIT_REPLY_MAX >> 20);
		return;
	}
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_WAIT;
	rep.u.jobs.jobs = xcalloc(cw->n, sizeof *rep.u.jobs.jobs);
	rep.u.jobs.njobs = cw->n;
	rep.u.jobs.done = done;
	for (i = 0; i < cw->n; i++) {
		if (cw->jobs[i] == NULL) {
			rep.u.jobs.jobs[i] = cw->missing[i];
			continue;
		}
		job_view(cw->jobs[i], &rep.u.jobs.jobs[i]);
		if (job_finished(cw->jobs[i]))
			sched_delivered(cw->jobs[i]);
	}
	server_reply(cw->work, &rep);
	free(rep.u.jobs.jobs);
}

static void
cmd_wait_done(struct waiter *wt, bool met, void *arg)
{
	struct cmd_wait	*cw = arg;

	(void)wt;
	cmd_wait_reply(cw, met);
	cmd_wait_free(cw);
}

static enum cmd_retval
cmd_wait_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_wait	*req = &server_req(w)->u.wait;
	struct proto_job	*m;
	struct cmd_wait		*cw;
	struct job		**known;
	struct cmd_error	 why = { 0, NULL };
	size_t			 i, nknown = 0, nmissing = 0;

	(void)err;
	cw = xcalloc(1, sizeof *cw);
	cw->work = w;
	cw->n = req->nids;
	cw->jobs = xcalloc(req->nids, sizeof *cw->jobs);
	cw->missing = xcalloc(req->nids, sizeof *cw->missing);
	known = xcalloc(req->nids, sizeof *known);
	for (i = 0; i < req->nids; i++) {
		if ((cw->jobs[i] = cmd_find_job(w, req->ids[i],
		    &why)) != NULL) {
			known[nknown++] = cw->jobs[i];
			continue;
		}
		m = &cw->missing[i];
		m->id = req->ids[i];
		m->state = PROTO_NO_STATE;
		m->err_code = (char *)asyncd_errcode(why.code);
		m->err_message = why.message;	/* taken */
		m->progress = -1;
		why.message = NULL;
		nmissing++;
	}
	/* A missing job is as finished as it will ever be. */
	if (nknown == 0 || (req->any && nmissing > 0)) {
		cmd_wait_reply(cw, true);
		cmd_wait_free(cw);
	} else
		waiter_start(&d->sched, known, nknown, req->any, req->timeout,
		    cmd_wait_done, cw);
	free(known);
	return (CMD_PENDING);
}

const struct cmd_entry cmd_wait_entry = {
	.op = PROTO_WAIT,
	.exec = cmd_wait_exec,
};
