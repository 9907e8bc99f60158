/*
 * server.c: the request socket (nng REP, one context per request in
 * flight).
 *
 * Design notes.
 *
 * Each context is a "work": an nng ctx, an aio and a small state machine
 * (RECV -> LOOP -> SEND -> RECV). The aio callback runs on one of nng's
 * threads and does the stateless part of a request there, in parallel with
 * the loop: size check, peer credentials, JSON parse and schema check
 * (proto_req_decode). A bad request is answered right from the callback;
 * a good one goes through the inbox to the loop thread, which dispatches
 * it (cmd.c) and replies with server_reply, or keeps it pending (a long
 * poll) and replies later. Only the loop touches job state, so only the
 * loop replies to a decoded request.
 *
 * Ownership of a work follows its state: nng's threads own it in RECV and
 * SEND, the loop in LOOP. The list of works is only changed by the loop
 * (growing) and at stop, so it needs no lock; the counters nng's threads
 * update are atomics.
 *
 * Contexts grow on demand: long polls hold theirs for seconds, so the loop
 * keeps at least min_idle of them receiving, up to max_contexts. Past
 * that, requests wait in nng's queue for a context to come free.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

enum work_state {
	WORK_RECV,
	WORK_LOOP,
	WORK_SEND
};

struct work {
	struct server		*srv;
	LIST_ENTRY(work)	 entry;
	nng_ctx			 ctx;
	nng_aio			*aio;
	enum work_state		 state;
	struct proto_req	 req;
	uint64_t		 uid;
	uint64_t		 gid;
	nng_pipe		 pipe;		/* the peer's connection */
	struct inbox_item	 item;
};

struct server {
	nng_socket		 sock;
	nng_listener		 listener;
	struct server_config	 cfg;
	struct inbox		*inbox;
	struct daemon		*daemon;
	LIST_HEAD(, work)	 works;
	size_t			 nworks;
	atomic_size_t		 idle;		/* works in RECV */
	atomic_bool		 closing;
	struct probe		*probe;
};

/* A peer whose credentials the transport cannot tell (tcp). */
#define SERVER_UID_UNKNOWN	UINT64_MAX

static void	server_work_cb(void *);
static void	server_item_cb(struct inbox_item *);

static void
server_recv(struct work *w)
{
	w->state = WORK_RECV;
	atomic_fetch_add(&w->srv->idle, 1);
	nng_ctx_recv(w->ctx, w->aio);
}

/* Sends text as w's reply; any thread. Takes nothing: text is copied. */
static void
server_send(struct work *w, const char *text, size_t len)
{
	nng_msg	*msg;
	int	 rv;

	proto_req_fini(&w->req);
	if ((rv = nng_msg_alloc(&msg, len)) != 0) {
		log_warnx("%s: %s", __func__, nng_strerror(rv));
		server_recv(w);		/* the client will time out */
		return;
	}
	memcpy(nng_msg_body(msg), text, len);
	w->state = WORK_SEND;
	nng_aio_set_msg(w->aio, msg);
	nng_ctx_send(w->ctx, w->aio);
}

static void
server_send_error(struct work *w, int err, const char *message)
{
	char	*text;
	size_t	 len;

	if ((text = proto_reply_error(err, message, w->srv->cfg.instance,
	    &len)) == NULL) {
		static const char nomem[] = "{\"ok\":false,\"error\":{\"code\":"
		    "\"no_memory\",\"message\":\"out of memory\"}}";
		server_send(w, nomem, sizeof nomem - 1);
		return;
	}
	server_send(w, text, len);
	free(text);
}

/* nng thread: a request arrived on w. */
static void
server_intake(struct work *w, nng_msg *msg)
{
	struct server	*srv = w->srv;
	nng_pipe	 pipe = nng_msg_get_pipe(msg);
	char		*cause = NULL, *big;
	size_t		 len = nng_msg_len(msg);
	int		 rv;

	w->pipe = pipe;
	if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &w->uid) != 0)
		w->uid = SERVER_UID_UNKNOWN;
	if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_GID, &w->gid) != 0)
		w->gid = SERVER_UID_UNKNOWN;
	if (len > srv->cfg.max_msg) {
		nng_msg_free(msg);
		if (asprintf(&big, "request of %zu bytes is over the limit "
		    "of %zu bytes", len, srv->cfg.max_msg) == -1)
			big = NULL;
		server_send_error(w, ASYNCD_ETOOLARGE, big);
		free(big);
		return;
	}
	rv = proto_req_decode(nng_msg_body(msg), len, &w->req, &cause);
	nng_msg_free(msg);
	if (rv != 0) {
		server_send_error(w, rv, cause);
		free(cause);
		return;
	}
	w->state = WORK_LOOP;
	w->item.fn = server_item_cb;
	inbox_push(srv->inbox, &w->item);
}

static void
server_work_cb(void *arg)
{
	struct work	*w = arg;
	struct server	*srv = w->srv;
	int		 rv = nng_aio_result(w->aio);

	switch (w->state) {
	case WORK_RECV:
		atomic_fetch_sub(&srv->idle, 1);
		if (rv != 0) {
			/* Closed: server_stop frees the work. */
			if (rv == NNG_ECLOSED || atomic_load(&srv->closing))
				return;
			log_warnx("%s: receive: %s", __func__,
			    nng_strerror(rv));
			server_recv(w);
			return;
		}
		server_intake(w, nng_aio_get_msg(w->aio));
		return;
	case WORK_SEND:
		if (rv != 0) {
			/* The message is still ours (peer gone, closed). */
			nng_msg_free(nng_aio_get_msg(w->aio));
			nng_aio_set_msg(w->aio, NULL);
			if (rv == NNG_ECLOSED || atomic_load(&srv->closing))
				return;
		}
		server_recv(w);
		return;
	case WORK_LOOP:
	default:
		fatalx("%s: callback in state %d", __func__, w->state);
	}
}

/* Loop thread: opens one more context. */
static int
server_grow(struct server *srv)
{
	struct work	*w;
	int		 rv;

	w = xcalloc(1, sizeof *w);
	w->srv = srv;
	if ((rv = nng_aio_alloc(&w->aio, server_work_cb, w)) != 0) {
		free(w);
		return (rv);
	}
	if ((rv = nng_ctx_open(&w->ctx, srv->sock)) != 0) {
		nng_aio_free(w->aio);
		free(w);
		return (rv);
	}
	LIST_INSERT_HEAD(&srv->works, w, entry);
	srv->nworks++;
	server_recv(w);
	return (0);
}

static void
server_item_cb(struct inbox_item *item)
{
	struct work	*w = container_of(item, struct work, item);
	struct server	*srv = w->srv;

	if (atomic_load(&srv->closing)) {
		proto_req_fini(&w->req);
		return;
	}
	while (atomic_load(&srv->idle) < srv->cfg.min_idle &&
	    srv->nworks < srv->cfg.max_contexts) {
		if (server_grow(srv) != 0)
			break;
	}
	cmd_dispatch(w);
}

int
server_start(struct server **out, struct ev_loop *loop,
    const struct server_config *cfg, struct inbox *inbox, struct daemon *d)
{
	struct server	*srv;
	size_t		 i;
	int		 rv;

	srv = xcalloc(1, sizeof *srv);
	srv->cfg = *cfg;
	srv->inbox = inbox;
	srv->daemon = d;
	LIST_INIT(&srv->works);
	atomic_init(&srv->idle, 0);
	atomic_init(&srv->closing, false);

	if ((rv = nng_rep0_open(&srv->sock)) != 0)
		goto fail;
	/*
	 * nng refuses (and drops the connection on) anything past this; up
	 * to it, the daemon reads the request and answers "too_large".
	 */
	if ((rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ,
	    cfg->max_msg * PROTO_MSG_CEILING)) != 0)
		goto fail;
	if ((rv = nng_listener_create(&srv->listener, srv->sock,
	    cfg->url)) != 0)
		goto fail;
	if (strncmp(cfg->url, "ipc://", 6) == 0 &&
	    (rv = nng_listener_set_int(srv->listener, NNG_OPT_IPC_PERMISSIONS,
	    cfg->mode)) != 0)
		goto fail;
	if ((rv = nng_listener_start(srv->listener, 0)) != 0)
		goto fail;
	for (i = 0; i < cfg->min_idle; i++) {
		if ((rv = server_grow(srv)) != 0)
			goto fail;
	}
	if ((rv = probe_start(&srv->probe, loop, srv->sock, &srv->listener,
	    cfg->url, cfg->mode, "requests", NNG_REQ0_SELF, cfg->check, NULL,
	    NULL)) != 0)
		goto fail;
	*out = srv;
	return (0);
fail:
	server_stop(srv);
	return (rv);
}

void
server_stop(struct server *srv)
{
	struct work	*w;

	if (srv == NULL)
		return;
	/*
	 * Stop every aio before closing the socket: nng 1.5.2 may abort if
	 * the socket closes while a callback is inside nng_ctx_recv or
	 * nng_ctx_send on one of its contexts. A stopped aio refuses new
	 * operations (its callback sees an error and "closing", and returns),
	 * and nng_aio_stop waits for the callback, re-dispatches included.
	 */
	probe_stop(srv->probe);
	atomic_store(&srv->closing, true);
	LIST_FOREACH(w, &srv->works, entry)
		nng_aio_stop(w->aio);
	nng_close(srv->sock);
	/* Requests pushed before the close see "closing" and let go. */
	inbox_drain(srv->inbox);
	while ((w = LIST_FIRST(&srv->works)) != NULL) {
		LIST_REMOVE(w, entry);
		if (w->state == WORK_SEND && nng_aio_get_msg(w->aio) != NULL)
			nng_msg_free(nng_aio_get_msg(w->aio));
		proto_req_fini(&w->req);
		nng_aio_free(w->aio);
		free(w);
	}
	probe_free(srv->probe);
	free(srv);
}

void
server_stats(struct server *srv, size_t *contexts, size_t *busy)
{
	*contexts = srv->nworks;
	*busy = srv->nworks - atomic_load(&srv->idle);
}

void
server_reply(struct work *w, const struct proto_reply *rep)
{
	struct proto_reply	 r = *rep;
	char			*text;
	size_t			 len;

	r.instance = (char *)w->srv->cfg.instance;
	if (proto_reply_encode(&r, &text, &len) != 0) {
		server_send_error(w, ASYNCD_ENOMEM, "out of memory encoding "
		    "the reply");
		return;
	}
	server_send(w, text, len);
	free(text);
}

void
server_reply_error(struct work *w, int err, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg = NULL;

	if (fmt != NULL) {
		va_start(ap, fmt);
		if (vasprintf(&msg, fmt, ap) == -1)
			msg = NULL;
		va_end(ap);
	}
	server_send_error(w, err, msg);
	free(msg);
}

struct proto_req *
server_req(struct work *w)
{
	return (&w->req);
}

uint64_t
server_peer_uid(const struct work *w)
{
	return (w->uid);
}

uint64_t
server_peer_gid(const struct work *w)
{
	return (w->gid);
}

int64_t
server_peer_pid(const struct work *w)
{
	uint64_t	pid;

	if (nng_pipe_get_uint64(w->pipe, NNG_OPT_IPC_PEER_PID, &pid) != 0)
		return (-1);
	return ((int64_t)pid);
}

struct daemon *
server_daemon(const struct work *w)
{
	return (w->srv->daemon);
}
