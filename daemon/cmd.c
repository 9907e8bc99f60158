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

/*
 * With a store, the finished jobs in memory are a cache (sched_uncache):
 * before a command that names jobs runs, the ones it names that are not
 * in memory but may be in the store are read back, and the command runs
 * once they are (found or not). So does a submit with a key that no job
 * in memory holds: a succeeded job that left the cache may hold it. Two
 * such submits of one key at once both run after their reads, one after
 * the other on the loop: the first binds the key (sched_submit), the
 * second finds it bound. Returns true if the command waits for that.
 */
struct cmd_fetch {
	struct work	*work;
	struct job	**pinned;	/* read back, held until the rerun */
	size_t		 npinned;
	size_t		 pending;
	int		 err;
};

static void	cmd_run(struct work *);

static void
cmd_fetched(void *arg, int err, const struct store_row *row)
{
	struct cmd_fetch	*f = arg;
	struct sched		*s = &server_daemon(f->work)->sched;
	struct job		*job;
	size_t			 i;

	if (err != 0)
		f->err = err;
	else if (row != NULL) {
		sched_cache(s, row);
		if ((job = jobtab_find(&s->tab, row->id)) != NULL) {
			job_pin(job);
			f->pinned[f->npinned++] = job;
		}
	}
	if (--f->pending > 0)
		return;
	/* Nothing evicts between here and the command (sched_run does). */
	for (i = 0; i < f->npinned; i++)
		job_unpin(f->pinned[i]);
	if (f->err != 0)
		server_reply_error(f->work, ASYNCD_ESTORAGE, "the job store "
		    "cannot be read (see the daemon's log)");
	else
		cmd_run(f->work);
	free(f->pinned);
	free(f);
}

static bool
cmd_fetch(struct work *w)
{
	struct sched		*s = &server_daemon(w)->sched;
	struct proto_req	*req = server_req(w);
	struct cmd_fetch	*f;
	const uint64_t		*ids;
	uint64_t		 one;
	size_t			 n, i, miss = 0;

	if (s->store == NULL)
		return (false);
	switch (req->op) {
	case PROTO_STATUS:
		one = req->u.status;
		break;
	case PROTO_CANCEL:
		one = req->u.cancel.id;
		break;
	case PROTO_OUTPUT:
		one = req->u.output.id;
		break;
	case PROTO_FORGET:
		one = req->u.forget.id;
		break;
	case PROTO_WAIT:
		one = 0;
		break;
	case PROTO_SUBMIT:
		if (req->u.submit.key == NULL ||
		    jobtab_find_key(&s->tab, req->u.submit.key) != NULL)
			return (false);
		f = xcalloc(1, sizeof *f);
		f->work = w;
		f->pinned = xcalloc(1, sizeof *f->pinned);
		f->pending = 1;
		store_get_key(s->store, req->u.submit.key, cmd_fetched, f);
		return (true);
	default:
		return (false);
	}
	if (req->op == PROTO_WAIT) {
		ids = req->u.wait.ids;
		n = req->u.wait.nids;
	} else {
		ids = &one;
		n = one != 0 ? 1 : 0;
	}
	for (i = 0; i < n; i++) {
		if (jobtab_find(&s->tab, ids[i]) == NULL &&
		    sched_issued(s, ids[i]))
			miss++;
	}
	if (miss == 0)
		return (false);
	f = xcalloc(1, sizeof *f);
	f->work = w;
	f->pinned = xcalloc(miss, sizeof *f->pinned);
	f->pending = miss;
	for (i = 0; i < n; i++) {
		if (jobtab_find(&s->tab, ids[i]) == NULL &&
		    sched_issued(s, ids[i]))
			store_get(s->store, ids[i], cmd_fetched, f);
	}
	return (true);
}

void
cmd_dispatch(struct work *w)
{
	const struct cmd_entry	*e;
	struct proto_req	*req = server_req(w);

	if ((unsigned)req->op >= PROTO_OP_COUNT ||
	    (e = cmd_table[req->op]) == NULL || e->op != req->op)
		fatalx("%s: no command for op %d", __func__, (int)req->op);
	if ((e->flags & CMD_ADMIN) && !cmd_is_admin(w)) {
		server_reply_error(w, ASYNCD_EPERM, "'%s' is for root and the "
		    "daemon's own user", proto_op_name(req->op));
		return;
	}
	if (cmd_fetch(w))
		return;
	cmd_run(w);
}

/* Runs a command whose jobs are in memory (or nowhere). */
static void
cmd_run(struct work *w)
{
	const struct cmd_entry	*e;
	struct proto_req	*req = server_req(w);
	struct cmd_error	 err = { 0, NULL };

	e = cmd_table[req->op];
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
		    "kept (finished jobs are kept for --retention%s)", id,
		    s->store == NULL ? ", at most --keep of them; without a "
		    "durable store a restart forgets every job" : " or until "
		    "forgotten");
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
