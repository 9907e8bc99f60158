/*
 * cmd_cancel.c: "cancel": Task.cancel(), and with "wait" hold the reply
 * until the job has finished stopping.
 */
#include "daemon.h"

static void
cmd_cancel_waited(struct waiter *wt, bool met, void *arg)
{
	(void)met;
	cmd_reply_job(arg, PROTO_CANCEL, wt->jobs[0], false);
}

static enum cmd_retval
cmd_cancel_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_cancel	*req = &server_req(w)->u.cancel;
	struct job		*job;

	if ((job = cmd_find_job(w, req->id, err)) == NULL)
		return (CMD_ERROR);
	if (sched_cancel(&d->sched, job, ASYNCD_ECANCELED,
	    "cancelled by request") == ASYNCD_EDONE)
		return (cmd_error(err, ASYNCD_EDONE, "job %" PRIu64 " already "
		    "finished (%s)", job->id, proto_state_name(job->state)));
	if (req->wait > 0 && !job_finished(job)) {
		waiter_start(&d->sched, &job, 1, false, req->wait,
		    cmd_cancel_waited, w);
		return (CMD_PENDING);
	}
	cmd_reply_job(w, PROTO_CANCEL, job, false);
	return (CMD_DONE);
}

const struct cmd_entry cmd_cancel_entry = {
	.op = PROTO_CANCEL,
	.exec = cmd_cancel_exec,
};
