/*
 * cmd_submit.c: "submit": create a job (run_coroutine_threadsafe), and
 * with "wait" hold the reply until it finishes.
 */
#include <stdlib.h>

#include "daemon.h"

struct cmd_submit_wait {
	struct work	*work;
	bool		 created;
};

static void
cmd_submit_waited(struct waiter *wt, bool met, void *arg)
{
	struct cmd_submit_wait	*sw = arg;

	(void)met;
	cmd_reply_job(sw->work, PROTO_SUBMIT, wt->jobs[0], sw->created);
	free(sw);
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
	if (req->wait > 0 && !proto_state_terminal(job->state)) {
		sw = xmalloc(sizeof *sw);
		sw->work = w;
		sw->created = created;
		waiter_start(&d->sched, &job, 1, false, req->wait,
		    cmd_submit_waited, sw);
		return (CMD_PENDING);
	}
	cmd_reply_job(w, PROTO_SUBMIT, job, created);
	return (CMD_DONE);
}

const struct cmd_entry cmd_submit_entry = {
	.op = PROTO_SUBMIT,
	.exec = cmd_submit_exec,
};
