/*
 * cmd.c: the command table and the one dispatch path.
 *
 * proto_req_decode has already checked, on nng's thread, the protocol
 * version, that the operation exists and the request's schema. What is
 * left here is what needs the daemon: privilege, then the command itself.
 * Handlers never re-validate their request.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static const struct cmd_entry *const cmd_table[PROTO_OP_COUNT] = {
	[PROTO_PING] = &cmd_ping_entry,
	[PROTO_SUBMIT] = &cmd_submit_entry,
	[PROTO_WAIT] = &cmd_wait_entry,
	[PROTO_STATUS] = &cmd_status_entry,
	[PROTO_LIST] = &cmd_list_entry,
	[PROTO_CANCEL] = &cmd_cancel_entry,
	[PROTO_TYPES] = &cmd_types_entry,
	[PROTO_STATS] = &cmd_stats_entry,
	[PROTO_SHUTDOWN] = &cmd_shutdown_entry,
	[PROTO_OUTPUT] = &cmd_output_entry,
	[PROTO_FORGET] = &cmd_forget_entry,
};

void
cmd_dispatch(struct work *w)
{
	const struct cmd_entry	*e;
	struct proto_req	*req = server_req(w);
	struct cmd_error	 err = { 0, NULL };

	if ((unsigned)req->op >= PROTO_OP_COUNT ||
	    (e = cmd_table[req->op]) == NULL || e->op != req->op)
		fatalx("%s: no command for op %d", __func__, (int)req->op);
	if ((e->flags & CMD_ADMIN) && !cmd_is_admin(w)) {
		server_reply_error(w, ASYNCD_EPERM, "'%s' is for root and the "
		    "daemon's own user", proto_op_name(req->op));
		return;
	}
	switch (e->exec(w, &err)) {
	case CMD_DONE:
	case CMD_PENDING:
		break;
	case CMD_ERROR:
		server_reply_error(w, err.code, "%s", err.message != NULL ?
		    err.message : asyncd_strerror(err.code));
		break;
	}
	free(err.message);
}

enum cmd_retval
cmd_error(struct cmd_error *err, int code, const char *fmt, ...)
{
	va_list	ap;

	err->code = code;
	free(err->message);
	va_start(ap, fmt);
	xvasprintf(&err->message, fmt, ap);
	va_end(ap);
	return (CMD_ERROR);
}

bool
cmd_is_admin(struct work *w)
{
	uint64_t	uid = server_peer_uid(w);

	return (uid == 0 || uid == (uint64_t)server_daemon(w)->uid);
}

bool
cmd_may_access(struct work *w, const struct job *job)
{
	return (cmd_is_admin(w) || server_peer_uid(w) == job->uid);
}

/* Looks up a job the peer may see; sets err otherwise. */
struct job *
cmd_find_job(struct work *w, uint64_t id, struct cmd_error *err)
{
	struct job	*job;

	struct sched	*s = &server_daemon(w)->sched;

	job = jobtab_find(&s->tab, id);
	if (job == NULL && sched_issued(s, id)) {
		/* It was ours once: never a hang, never "unknown". */
		cmd_error(err, ASYNCD_EEXPIRED, "job %" PRIu64 " is no longer "
		    "kept (finished jobs are kept for --retention, at most "
		    "--keep of them%s)", id, s->store == NULL ? "; without a "
		    "durable store a restart forgets every job" : "");
		return (NULL);
	}
	if (job == NULL) {
		cmd_error(err, ASYNCD_EUNKNOWNJOB, "no job with id %" PRIu64,
		    id);
		return (NULL);
	}
	if (!cmd_may_access(w, job)) {
		cmd_error(err, ASYNCD_EPERM, "job %" PRIu64 " belongs to "
		    "another user", id);
		return (NULL);
	}
	return (job);
}

void
cmd_reply_job(struct work *w, enum proto_op op, struct job *job,
    bool created)
{
	struct proto_reply	rep;

	memset(&rep, 0, sizeof rep);
	rep.op = op;
	/* The reply carries the outcome: retention may let it go first. */
	sched_delivered(job);
	if (op == PROTO_SUBMIT) {
		job_view(job, &rep.u.submit.job);
		rep.u.submit.created = created;
	} else
		job_view(job, &rep.u.job);
	server_reply(w, &rep);
}
