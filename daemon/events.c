/*
 * events.c: the event socket (nng PUB). Job state changes and progress
 * are published as "job.<id>.<kind> <json>" (PROTOCOL.md, "Events").
 *
 * Publishing is on the loop thread, on the path of every job, so it costs
 * nothing while no one subscribes: nng's pipe notifications (on nng's
 * threads) keep a count of subscribers, and events are only encoded when
 * it is non-zero. nng's PUB never blocks; it drops messages a slow
 * subscriber has no room for.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#include <nng/protocol/pubsub0/pub.h>

/* The SP protocol number of a subscriber, which the probe pretends to be. */
#define EVENTS_SUB0	0x21

struct events {
	nng_socket	 sock;
	nng_listener	 listener;
	char		*url;
	atomic_int	 npipes;
	struct probe	*probe;
	uint64_t	 sent;
	uint64_t	 dropped;
};

static void
events_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct events	*e = arg;
	int		 n;

	(void)pipe;
	if (ev == NNG_PIPE_EV_ADD_POST)
		n = atomic_fetch_add(&e->npipes, 1) + 1;
	else if (ev == NNG_PIPE_EV_REM_POST)
		n = atomic_fetch_sub(&e->npipes, 1) - 1;
	else
		return;
	log_debug("events: %d subscriber%s", n, n == 1 ? "" : "s");
}

int
events_start(struct events **out, struct ev_loop *loop, const char *url,
    int mode, double check)
{
	struct events	*e;
	int		 rv;

	*out = NULL;
	if (url == NULL)
		return (0);
	e = xcalloc(1, sizeof *e);
	e->url = xstrdup(url);
	atomic_init(&e->npipes, 0);
	if ((rv = nng_pub0_open(&e->sock)) != 0)
		goto fail;
	if ((rv = nng_listener_create(&e->listener, e->sock, url)) != 0)
		goto fail;
	if (strncmp(url, "ipc://", 6) == 0 &&
	    (rv = nng_listener_set_int(e->listener, NNG_OPT_IPC_PERMISSIONS,
	    mode)) != 0)
		goto fail;
	if ((rv = nng_listener_start(e->listener, 0)) != 0)
		goto fail;
	/*
	 * Subscribers are counted through the probe's notifications (or
	 * straight, without one); the probe's own connections never reach
	 * the socket, so they are never counted.
	 */
	if ((rv = probe_start(&e->probe, loop, e->sock, &e->listener, url,
	    mode, "events", EVENTS_SUB0, check, events_pipe_cb, e)) != 0)
		goto fail;
	*out = e;
	return (0);
fail:
	events_stop(e);
	return (rv);
}

void
events_stop(struct events *e)
{
	if (e == NULL)
		return;
	probe_stop(e->probe);
	nng_close(e->sock);
	probe_free(e->probe);
	free(e->url);
	free(e);
}

const char *
events_url(const struct events *e)
{
	return (e != NULL ? e->url : NULL);
}

static void
events_send(struct events *e, char *text, size_t len)
{
	nng_msg	*msg;

	if (text == NULL)
		return;
	if (nng_msg_alloc(&msg, len) == 0) {
		memcpy(nng_msg_body(msg), text, len);
		if (nng_sendmsg(e->sock, msg, NNG_FLAG_NONBLOCK) == 0)
			e->sent++;
		else {
			nng_msg_free(msg);
			e->dropped++;
		}
	}
	free(text);
}

void
events_state(void *arg, const struct job *job)
{
	struct events	*e = arg;
	struct proto_job v;
	size_t		 len = 0;
	char		*text;

	if (e == NULL || atomic_load(&e->npipes) == 0)
		return;
	job_view(job, &v);
	text = proto_event_state(&v, &len);
	events_send(e, text, len);
}

void
events_progress(void *arg, const struct job *job)
{
	struct events	*e = arg;
	size_t		 len = 0;
	char		*text;

	if (e == NULL || atomic_load(&e->npipes) == 0)
		return;
	text = proto_event_progress(job->id, job->progress, job->progress_msg,
	    &len);
	events_send(e, text, len);
}

void
events_output(void *arg, const struct job *job, int stream, uint64_t offset,
    const char *data, size_t len)
{
	struct events	*e = arg;
	size_t		 olen = 0;
	char		*text;

	if (e == NULL || atomic_load(&e->npipes) == 0)
		return;
	text = proto_event_output(job->id, stream, offset, data, len, &olen);
	events_send(e, text, olen);
}
