/*
 * output.c: what a job's command wrote. asyncd_output reads a job's log
 * from byte offsets (a long poll for more while the job runs), and
 * asyncd_follow reads it all, live, to the job's end.
 *
 * Both send "output" requests through the long-poll engine of client.c
 * (client_poll_next), so they follow the rule every wait follows: transient
 * errors and dropped connections are retried after a pause, a daemon away
 * past the connect timeout fails with ASYNCD_EUNREACHABLE, and a reply from
 * another daemon instance than the first fails with ASYNCD_EUNKNOWNJOB. A
 * follower keeps one struct client_poll from its first read to the wait
 * for the job's record that ends it, so a restart between any two of its
 * requests is seen.
 *
 * Nothing here is shared between calls: each call owns its request, its
 * poll state and its replies, so any number of threads may follow jobs on
 * one handle. The callback runs in the follower's own thread.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"

_Static_assert(ASYNCD_STDOUT == PROTO_STDOUT &&
    ASYNCD_STDERR == PROTO_STDERR &&
    ASYNCD_STREAM_BOTH == PROTO_STREAMS_BOTH,
    "asyncd.h's streams must match proto.h's");

/* Builds the request from the caller's options; 0 or ASYNCD_EINVAL. */
static int
output_req(uint64_t id, const struct asyncd_output_opts *opts,
    struct proto_req *req)
{
	int	i;

	if (!client_valid_id(id))
		return (ASYNCD_EINVAL);
	memset(req, 0, sizeof *req);
	req->op = PROTO_OUTPUT;
	req->u.output.id = id;
	req->u.output.streams = PROTO_STREAMS_BOTH;
	if (opts == NULL)
		return (0);
	if (opts->streams < 0 || opts->streams > ASYNCD_STREAM_BOTH ||
	    opts->max > PROTO_OUTPUT_MAX)
		return (ASYNCD_EINVAL);
	for (i = 0; i < 2; i++) {
		/* Offsets travel as JSON numbers: exact up to 2^53. */
		if (opts->offset[i] > PROTO_ID_MAX)
			return (ASYNCD_EINVAL);
		req->u.output.offset[i] = opts->offset[i];
	}
	if (opts->streams != 0)
		req->u.output.streams = opts->streams;
	req->u.output.max = opts->max;
	return (0);
}

/*
 * Checks that a reply answers the request: every stream asked for is
 * there, from the offset asked, with no more bytes than the log holds.
 */
static bool
output_valid(const struct proto_req *req, const struct proto_reply *rep)
{
	const struct proto_chunk	*ch;
	int				 i;

	for (i = 0; i < 2; i++) {
		if (!(req->u.output.streams & (1 << i)))
			continue;
		ch = &rep->u.output.chunk[i];
		if (!ch->present || ch->offset != req->u.output.offset[i] ||
		    ch->len > ch->size || ch->offset > ch->size - ch->len)
			return (false);
	}
	return (true);
}

/*
 * Asks for output until the engine is content: a reply with bytes or the
 * job's end (0), or p's deadline with nothing new (ASYNCD_ETIMEDOUT); *rep
 * then holds the reply (release it). On any other error *rep is empty and
 * asyncd_errmsg() says why, where there is more to say.
 */
static int
output_poll(struct asyncd *c, struct client_poll *p, struct proto_req *req,
    struct proto_reply *rep)
{
	struct client_poll_outcome	o;
	enum client_poll_next		next;
	int				rv;

	client_set_errmsg(NULL);
	for (;;) {
		req->u.output.wait = client_poll_begin(p);
		if ((rv = client_attempt(c, req, req->u.output.wait, &o,
		    rep)) != 0)
			return (rv);
		next = client_poll_next(p, &o);
		if (next == CLIENT_POLL_DONE || (next == CLIENT_POLL_FAIL &&
		    p->err == ASYNCD_ETIMEDOUT)) {
			if (!output_valid(req, rep)) {
				proto_reply_fini(rep);
				memset(rep, 0, sizeof *rep);
				return (ASYNCD_EPROTO);
			}
			return (next == CLIENT_POLL_DONE ? 0 :
			    ASYNCD_ETIMEDOUT);
		}
		if (o.rep != NULL)
			proto_reply_fini(rep);
		if (next == CLIENT_POLL_FAIL) {
			client_set_errmsg(p->msg);
			return (p->err);
		}
		if (next == CLIENT_POLL_BACKOFF)
			client_pause(p->pause);
	}
}

/* Makes the public struct from a reply, taking what it owns on success. */
static int
output_create(struct proto_reply *rep, struct asyncd_output **out)
{
	struct asyncd_output	*o;
	struct proto_chunk	*ch;
	int			 i;

	if ((o = calloc(1, sizeof *o)) == NULL)
		return (ASYNCD_ENOMEM);
	if (job_create(&rep->u.output.job, 0, &o->job) != 0) {
		free(o);
		return (ASYNCD_ENOMEM);
	}
	/* Nothing can fail past here. */
	o->done = rep->u.output.done;
	for (i = 0; i < 2; i++) {
		ch = &rep->u.output.chunk[i];
		o->stream[i].present = ch->present;
		o->stream[i].offset = ch->offset;
		o->stream[i].data = ch->data;
		o->stream[i].len = ch->len;
		o->stream[i].size = ch->size;
		o->stream[i].cut = ch->cut;
		ch->data = NULL;
		ch->len = 0;
	}
	o->instance = rep->instance;
	rep->instance = NULL;
	*out = o;
	return (0);
}

int
asyncd_output(struct asyncd *c, uint64_t id,
    const struct asyncd_output_opts *opts, struct asyncd_output **out)
{
	struct proto_req	req;
	struct proto_reply	rep;
	struct client_poll	p;
	int			rv;

	if (out == NULL)
		return (ASYNCD_EINVAL);
	if ((rv = output_req(id, opts, &req)) != 0)
		return (rv);
	client_poll_init(&p, c, client_deadline(opts != NULL ?
	    opts->timeout : 0));
	p.ids = &id;
	p.nids = 1;
	/* Nothing new within the time is an answer too: an empty one. */
	if ((rv = output_poll(c, &p, &req, &rep)) != 0 &&
	    rv != ASYNCD_ETIMEDOUT)
		return (rv);
	rv = output_create(&rep, out);
	proto_reply_fini(&rep);
	return (rv);
}

void
asyncd_output_free(struct asyncd_output *out)
{
	if (out == NULL)
		return;
	asyncd_job_free(out->job);
	free(out->stream[ASYNCD_STDOUT].data);
	free(out->stream[ASYNCD_STDERR].data);
	free(out->instance);
	free(out);
}

/*
 * Hands one reply's bytes to fn and moves the offsets past them; tells fn
 * once when a stream's log was cut and the follower has reached the cut.
 * Returns 0, or fn's value if it asked to stop.
 */
static int
output_deliver(struct proto_req *req, const struct proto_reply *rep,
    bool *told_cut, asyncd_output_fn fn, void *arg)
{
	const struct proto_chunk	*ch;
	uint64_t			*offset;
	int				 i, rv;

	for (i = 0; i < 2; i++) {
		if (!(req->u.output.streams & (1 << i)))
			continue;
		ch = &rep->u.output.chunk[i];
		offset = &req->u.output.offset[i];
		if (ch->len > 0) {
			/* Moved first: the bytes count as handed over. */
			*offset += ch->len;
			if ((rv = fn(i, ch->data, ch->len, arg)) != 0)
				return (rv);
		}
		if (ch->cut && !told_cut[i] && *offset >= ch->size) {
			told_cut[i] = true;
			if ((rv = fn(i, NULL, 0, arg)) != 0)
				return (rv);
		}
	}
	return (0);
}

int
asyncd_follow(struct asyncd *c, uint64_t id,
    const struct asyncd_output_opts *opts, asyncd_output_fn fn, void *arg,
    struct asyncd_job **job)
{
	struct proto_req	 req;
	struct proto_reply	 rep;
	struct client_poll	 p;
	struct asyncd_job	*j;
	bool			 done, told_cut[2] = { false, false };
	int			 rv;

	if (fn == NULL)
		return (ASYNCD_EINVAL);
	if ((rv = output_req(id, opts, &req)) != 0)
		return (rv);
	client_poll_init(&p, c, client_deadline(opts != NULL ?
	    opts->timeout : -1));
	p.ids = &id;
	p.nids = 1;
	do {
		if ((rv = output_poll(c, &p, &req, &rep)) != 0) {
			if (rv == ASYNCD_ETIMEDOUT)
				proto_reply_fini(&rep);
			return (rv);
		}
		rv = output_deliver(&req, &rep, told_cut, fn, arg);
		done = rep.u.output.done;
		proto_reply_fini(&rep);
		if (rv != 0)
			return (rv);
		/* A job that writes without pause still ends at the limit. */
		if (!done && client_now() >= p.deadline)
			return (ASYNCD_ETIMEDOUT);
	} while (!done);

	if (job == NULL)
		return (0);
	/*
	 * The job has finished; its record carries the result (an exec
	 * job's exit status). Asked under the same poll, so that a daemon
	 * that restarted since the last read is not asked about a stranger.
	 */
	if ((rv = client_wait_one(c, &p, &id, &j)) == ASYNCD_ETIMEDOUT) {
		/* "done" said finished and the record says not: bad reply. */
		asyncd_job_free(j);
		return (ASYNCD_EPROTO);
	}
	if (rv == 0)
		*job = j;
	return (rv);
}
