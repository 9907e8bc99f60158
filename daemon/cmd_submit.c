/*
 * cmd_submit.c: "submit": create a job (run_coroutine_threadsafe), and
 * with "wait" hold the reply until it finishes.
 */
#include <stdlib.h>

#include "daemon.h"

struct cmd_submit_wait {
	struct work		*work;
	bool			 created;
	double			 wait;
	struct job_watch	 saved;
};

static void
cmd_submit_waited(struct waiter *wt, bool met, void *arg)
{
	struct cmd_submit_wait	*sw = arg;

	(void)met;
	cmd_reply_job(sw->work, PROTO_SUBMIT, wt->jobs[0], sw->created);
	free(sw);
}

/* Answers, or holds the answer until the job ends (with "wait"). */
static void
cmd_submit_answer(struct daemon *d, struct cmd_submit_wait *sw,
    struct job *job)
{
	if (sw->wait > 0 && !job_finished(job)) {
		waiter_start(&d->sched, &job, 1, false, sw->wait,
		    cmd_submit_waited, sw);
		return;
	}
	cmd_reply_job(sw->work, PROTO_SUBMIT, job, sw->created);
	free(sw);
}

/* The job's row is stored (or could not be): now the submit is answered. */
static void
cmd_submit_saved(struct job_watch *jw, struct job *job)
{
	struct cmd_submit_wait	*sw = container_of(jw,
				    struct cmd_submit_wait, saved);

	job_unpin(job);
	if (job->no_store) {
		server_reply_error(sw->work, ASYNCD_ESTORAGE, "%s",
		    job->err_message != NULL ? job->err_message : "the job "
		    "could not be stored, so it was not accepted");
		free(sw);
		return;
	}
	cmd_submit_answer(server_daemon(sw->work), sw, job);
}

static enum cmd_retval
cmd_submit_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_submit	*req = &server_req(w)->u.submit;
	struct sched_submit	 sub = {
		.type = req->type,
		.args = req->args,
		.key = req->key,
		.timeout = req->timeout,
		.priority = req->priority,
		.not_before = req->not_before > 0 ? req->not_before :
		    req->delay > 0 ? ev_now(d->loop) + req->delay : 0,
		.retries = req->retries,
		.retry_delay = req->retry_delay,
		.retry_backoff = req->retry_backoff,
		.uid = server_peer_uid(w),
		.gid = server_peer_gid(w),
	};
	struct cmd_submit_wait	*sw;
	struct job		*job;
	char			*cause = NULL;
	bool			 created;
	int			 rv;

	rv = sched_submit(&d->sched, &sub, &job, &created, &cause);
	req->args = sub.args;		/* NULL if the job took them */
	if (rv != 0) {
		cmd_error(err, rv, "%s", cause != NULL ? cause :
		    asyncd_strerror(rv));
		free(cause);
		return (CMD_ERROR);
	}
	if (!created && !cmd_may_access(w, job))
		return (cmd_error(err, ASYNCD_EPERM, "key '%s' is held by "
		    "another user's job", req->key));
	sw = xcalloc(1, sizeof *sw);
	sw->work = w;
	sw->created = created;
	sw->wait = req->wait;
	/* Accepted means stored: no answer before the row is. */
	if (job->unsaved) {
		job_pin(job);
		sched_when_saved(job, &sw->saved, cmd_submit_saved);
		return (CMD_PENDING);
	}
	if (req->wait > 0 && !job_finished(job)) {
		cmd_submit_answer(d, sw, job);
		return (CMD_PENDING);
	}
	cmd_submit_answer(d, sw, job);
	return (CMD_DONE);
}

const struct cmd_entry cmd_submit_entry = {
	.op = PROTO_SUBMIT,
	.exec = cmd_submit_exec,
};
