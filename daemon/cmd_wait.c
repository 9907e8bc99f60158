/*
 * cmd_wait.c: "wait": a long poll on one or more jobs. Waiting never
 * affects the jobs: a client that gives up leaves them running.
 */
#include <stdlib.h>

#include "daemon.h"

static void
cmd_wait_done(struct waiter *wt, bool met, void *arg)
{
	cmd_reply_jobs(arg, wt->jobs, wt->n, met);
}

static enum cmd_retval
cmd_wait_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_wait	*req = &server_req(w)->u.wait;
	struct job		**jobs;
	size_t			 i;

	jobs = xcalloc(req->nids, sizeof *jobs);
	for (i = 0; i < req->nids; i++) {
		if ((jobs[i] = cmd_find_job(w, req->ids[i], err)) == NULL) {
			free(jobs);
			return (CMD_ERROR);
		}
	}
	/* The waiter answers at once if the jobs are done or timeout is 0. */
	waiter_start(&d->sched, jobs, req->nids, req->any, req->timeout,
	    cmd_wait_done, w);
	free(jobs);
	return (CMD_PENDING);
}

const struct cmd_entry cmd_wait_entry = {
	.op = PROTO_WAIT,
	.exec = cmd_wait_exec,
};
