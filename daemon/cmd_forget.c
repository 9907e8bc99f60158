/*
 * cmd_forget.c: "forget": removes finished jobs before retention would,
 * in memory and in the store: one by id, or every one the peer may see
 * that matches a final state and finished before a time. With a store,
 * the jobs that left memory are forgotten there too (a DELETE behind the
 * writes queued before it), and the answer counts both.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct cmd_forget {
	struct work	*work;
	uint64_t	 n;		/* forgotten from memory */
};

static void
cmd_forget_reply(struct work *w, uint64_t n)
{
	struct proto_reply	rep;

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_FORGET;
	rep.u.forgotten = n;
	server_reply(w, &rep);
}

/* Loop: the store's share of a forget by state and time. */
static void
cmd_forget_stored(void *arg, int err, uint64_t n)
{
	struct cmd_forget	*f = arg;

	if (err != 0)
		server_reply_error(f->work, ASYNCD_ESTORAGE, "%" PRIu64 " jobs "
		    "were forgotten from memory, but the job store could not "
		    "be written (see the daemon's log)", f->n);
	else
		cmd_forget_reply(f->work, f->n + n);
	free(f);
}

static enum cmd_retval
cmd_forget_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_forget	*req = &server_req(w)->u.forget;
	struct cmd_forget	*f;
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
	if (req->id == 0 && d->sched.store != NULL) {
		f = xcalloc(1, sizeof *f);
		f->work = w;
		f->n = n;
		store_forget(d->sched.store, req->state, req->before,
		    !cmd_is_admin(w), server_peer_uid(w), cmd_forget_stored, f);
		return (CMD_PENDING);
	}
	cmd_forget_reply(w, n);
	return (CMD_DONE);
}

const struct cmd_entry cmd_forget_entry = {
	.op = PROTO_FORGET,
	.exec = cmd_forget_exec,
};
