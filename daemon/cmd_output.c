/*
 * cmd_output.c: "output": what a job's commands wrote, from a byte offset
 * in each stream, read from the job's log files; a long poll for more
 * while the job runs. A follower asks again from where the last reply
 * ended, so it loses nothing and sees nothing twice, however late it came.
 *
 * The request waits (pinning its job) while there is nothing new to read
 * and the job has not finished, up to its wait (capped); reads go to the
 * log thread (outlog.c), and the reply goes out when they are back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct cmd_output {
	struct work		*work;
	struct job		*job;		/* pinned */
	struct proto_output	 req;
	struct output_wait	 ow;
	struct job_watch	 watch;		/* the job's end */
	ev_timer		 timer;		/* the wait's end */
	struct outlog_read	 rd[2];
	int			 reads;		/* in flight */
	LIST_ENTRY(cmd_output)	 entry;		/* held */
	bool			 held;
};

static LIST_HEAD(, cmd_output) cmd_output_held =
    LIST_HEAD_INITIALIZER(cmd_output_held);

static void	cmd_output_try(struct cmd_output *, bool);

/* Bytes of stream i there are to read past the asked offset. */
static uint64_t
cmd_output_avail(const struct cmd_output *co, int i)
{
	const struct job_output	*out = co->job->output;

	if (!(co->req.streams & (1 << i)) || out == NULL ||
	    co->req.offset[i] >= out->committed[i])
		return (0);
	return (out->committed[i] - co->req.offset[i]);
}

/* True once the job has finished and its log holds all it will. */
static bool
cmd_output_complete(const struct cmd_output *co)
{
	const struct job_output	*out = co->job->output;
	int			 i;

	if (!job_finished(co->job))
		return (false);
	for (i = 0; out != NULL && i < 2; i++) {
		if (out->committed[i] < out->total[i] && !out->cut[i])
			return (false);
	}
	return (true);
}

static void
cmd_output_unhold(struct cmd_output *co)
{
	if (co->held) {
		LIST_REMOVE(co, entry);
		co->held = false;
	}
	job_unwatch(&co->watch);
	if (co->ow.listed) {
		LIST_REMOVE(&co->ow, entry);
		co->ow.listed = false;
	}
}

static void
cmd_output_finish(struct cmd_output *co)
{
	struct proto_reply	 rep;
	const struct job_output	*out = co->job->output;
	int			 i;

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OUTPUT;
	job_view(co->job, &rep.u.output.job);
	for (i = 0; i < 2; i++) {
		struct proto_chunk	*c = &rep.u.output.chunk[i];

		if (!(co->req.streams & (1 << i)))
			continue;
		c->present = true;
		c->offset = co->req.offset[i];
		c->data = co->rd[i].data;
		c->len = co->rd[i].len;
		c->size = out != NULL ? out->committed[i] : 0;
		c->cut = out != NULL && out->cut[i];
	}
	/* Done: nothing more will come past what this reply carries. */
	rep.u.output.done = cmd_output_complete(co);
	for (i = 0; rep.u.output.done && i < 2; i++) {
		if ((co->req.streams & (1 << i)) &&
		    co->req.offset[i] + co->rd[i].len <
		    (out != NULL ? out->committed[i] : 0))
			rep.u.output.done = false;
	}
	server_reply(co->work, &rep);
	for (i = 0; i < 2; i++)
		free(co->rd[i].data);
	job_unpin(co->job);
	free(co);
}

static void
cmd_output_read_done(struct outlog_read *rd)
{
	struct cmd_output	*co = container_of(rd, struct cmd_output,
				    rd[rd->stream]);

	if (rd->err != 0 && rd->err != ENOENT)
		log_warnx("job %" PRIu64 ": reading its %s log: %s", rd->id,
		    proto_stream_name(rd->stream), strerror(rd->err));
	if (--co->reads == 0)
		cmd_output_finish(co);
}

/* Reads what there is, stdout first, up to max bytes in all. */
static void
cmd_output_read(struct cmd_output *co)
{
	struct daemon	*d = server_daemon(co->work);
	uint64_t	 avail;
	size_t		 left = co->req.max;
	int		 i;

	for (i = 0; i < 2; i++) {
		co->rd[i].id = co->job->id;
		co->rd[i].stream = i;
		co->rd[i].offset = co->req.offset[i];
		co->rd[i].done = cmd_output_read_done;
		avail = cmd_output_avail(co, i);
		co->rd[i].max = avail < left ? (size_t)avail : left;
		left -= co->rd[i].max;
	}
	for (i = 0; i < 2; i++) {
		if (co->rd[i].max > 0)
			co->reads++;
	}
	for (i = 0; i < 2; i++) {
		if (co->rd[i].max > 0)
			outlog_read(d->outlog, &co->rd[i]);
	}
}

static void
cmd_output_wake(struct output_wait *ow)
{
	cmd_output_try(container_of(ow, struct cmd_output, ow), true);
}

static void
cmd_output_ended(struct job_watch *w, struct job *job)
{
	(void)job;
	cmd_output_try(container_of(w, struct cmd_output, watch), true);
}

static void
cmd_output_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	cmd_output_try(container_of(w, struct cmd_output, timer), false);
}

/*
 * Answers if there is something to say (bytes to read, the job's end, or
 * no more time to wait), else holds the request. may_hold is false once
 * the wait has run out.
 */
static void
cmd_output_try(struct cmd_output *co, bool may_hold)
{
	struct daemon	*d = server_daemon(co->work);
	struct job	*job = co->job;

	cmd_output_unhold(co);
	if (cmd_output_avail(co, PROTO_STDOUT) > 0 ||
	    cmd_output_avail(co, PROTO_STDERR) > 0) {
		ev_timer_stop(d->loop, &co->timer);
		cmd_output_read(co);
		return;
	}
	if (!may_hold || co->req.wait <= 0 || d->sched.no_holds ||
	    cmd_output_complete(co)) {
		ev_timer_stop(d->loop, &co->timer);
		cmd_output_finish(co);
		return;
	}
	/* Wait for more output, or for the job to end. */
	if (job->output == NULL) {
		job->output = xcalloc(1, sizeof *job->output);
		LIST_INIT(&job->output->waiters);
	}
	co->ow.fn = cmd_output_wake;
	LIST_INSERT_HEAD(&job->output->waiters, &co->ow, entry);
	co->ow.listed = true;
	if (!job_finished(job))
		job_watch(job, &co->watch, cmd_output_ended);
	/* The wait counts from the request, however often it wakes. */
	if (!ev_is_active(&co->timer)) {
		ev_timer_set(&co->timer, co->req.wait < d->sched.cfg.wait_cap ?
		    co->req.wait : d->sched.cfg.wait_cap, 0.);
		ev_timer_start(d->loop, &co->timer);
	}
	LIST_INSERT_HEAD(&cmd_output_held, co, entry);
	co->held = true;
}

void
cmd_output_flush(void)
{
	struct cmd_output	*co;

	while ((co = LIST_FIRST(&cmd_output_held)) != NULL)
		cmd_output_try(co, false);
}

static enum cmd_retval
cmd_output_exec(struct work *w, struct cmd_error *err)
{
	struct proto_output	*req = &server_req(w)->u.output;
	struct cmd_output	*co;
	struct job		*job;

	if ((job = cmd_find_job(w, req->id, err)) == NULL)
		return (CMD_ERROR);
	co = xcalloc(1, sizeof *co);
	co->work = w;
	co->job = job;
	co->req = *req;
	job_pin(job);
	ev_timer_init(&co->timer, cmd_output_timer_cb, 0., 0.);
	cmd_output_try(co, true);
	return (CMD_PENDING);
}

const struct cmd_entry cmd_output_entry = {
	.op = PROTO_OUTPUT,
	.exec = cmd_output_exec,
};
