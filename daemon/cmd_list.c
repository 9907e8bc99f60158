/*
 * cmd_list.c: "list": jobs newest first, filtered, a page at a time.
 * A peer that is not an admin sees only its own jobs.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

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
	return (cmd_may_access(w, job));
}

static enum cmd_retval
cmd_list_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_list	*req = &server_req(w)->u.list;
	struct proto_reply	 rep;
	struct job		*job;
	size_t			 n = 0;

	(void)err;
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

const struct cmd_entry cmd_list_entry = {
	.op = PROTO_LIST,
	.exec = cmd_list_exec,
};
