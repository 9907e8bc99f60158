/*
 * cmd_forget.c: "forget": removes finished jobs before retention would,
 * in memory and in the store: one by id, or every one the peer may see
 * that matches a final state and finished before a time.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static enum cmd_retval
cmd_forget_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_forget	*req = &server_req(w)->u.forget;
	struct proto_reply	 rep;
	struct job		*job, *next;
	uint64_t		 n = 0;

	if (req->id != 0) {
		if ((job = cmd_find_job(w, req->id, err)) == NULL)
			return (CMD_ERROR);
		if (!job_finished(job))
			return (cmd_error(err, ASYNCD_EBUSY, "job %" PRIu64
			    " has not finished (cancel it first)", req->id));
		if (sched_forget_job(&d->sched, job) != 0)
			return (cmd_error(err, ASYNCD_EBUSY, "job %" PRIu64
			    " is being answered; try again", req->id));
		n = 1;
	} else {
		for (job = TAILQ_FIRST(&d->sched.tab.all); job != NULL;
		    job = next) {
			next = TAILQ_NEXT(job, all_entry);
			if (!job_finished(job) || !cmd_may_access(w, job) ||
			    (req->state >= 0 &&
			    job->state != (enum proto_state)req->state) ||
			    (req->before > 0 && job->finished >= req->before))
				continue;
			if (sched_forget_job(&d->sched, job) == 0)
				n++;
		}
	}
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_FORGET;
	rep.u.forgotten = n;
	server_reply(w, &rep);
	return (CMD_DONE);
}

const struct cmd_entry cmd_forget_entry = {
	.op = PROTO_FORGET,
	.exec = cmd_forget_exec,
};
