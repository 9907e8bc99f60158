/*
 * server.c: the request socket, and the works that carry its requests
 * through the loop.
 *
 * Design notes.
 *
 * A work is one request in the daemon's hands: its decoded request, its
 * peer, and how to send its reply. The loop dispatches it (cmd.c), which
 * replies with server_reply at once or keeps it pending (a long poll) and
 * replies later. Only the loop touches job state, so only the loop
 * replies to a decoded request.
 *
 * Two transports carry requests:
 *
 *   - ipc:// (every local client): conn.c, on the loop. A request is
 *     size-checked, decoded and dispatched in the loop iteration that read
 *     it, and its reply written from server_reply; no other thread is
 *     woken. Works go back to a free list (never above --contexts of
 *     them, as nng's contexts), so a work stays valid memory after its
 *     reply, as a context does.
 *   - anything else (tcp://): an nng REP socket, one context per work
 *     (RECV -> LOOP -> SEND -> RECV). The aio callback runs on one of
 *     nng's threads and does the stateless part there (size check, peer,
 *     decode); a bad request is answered right from the callback, a good
 *     one goes through the inbox to the loop. Ownership of such a work
 *     follows its state: nng's threads own it in RECV and SEND, the loop
 *     in LOOP. The list of works is only changed by the loop (growing) and
 *     at stop, so it needs no lock; the counters nng's threads update are
 *     atomics. Contexts grow on demand: long polls hold theirs for
 *     seconds, so the loop keeps at least min_idle of them receiving, up
 *     to max_contexts. Past that, requests wait in nng's queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#include <nng/protocol/reqrep0/rep.h>

enum work_state {
	WORK_RECV,
	WORK_LOOP,
	WORK_SEND
};

struct work {
	struct server		*srv;
	LIST_ENTRY(work)	 entry;
	enum work_state		 state;
	struct proto_req	 req;
	uint64_t		 uid;
	uint64_t		 gid;
	/* nng's transport */
	nng_ctx			 ctx;
	nng_aio			*aio;
	nng_pipe		 pipe;		/* the peer's connection */
	struct inbox_item	 item;
	/* conn.c's: NULL for nng's */
	struct conn		*conn;
	int64_t			 pid;
	size_t			 btlen;
	unsigned char		 bt[4 * 8];	/* the REP backtrace */
};

struct server {
	struct server_config	 cfg;
	struct inbox		*inbox;
	struct daemon		*daemon;
	/* ipc:// */
	struct conn_listener	*listener;
	LIST_HEAD(, work)	 busy;		/* in the loop's hands */
	LIST_HEAD(, work)	 free;
	size_t			 nbusy;
	size_t			 nfree;
	/* nng's */
	bool			 nng;
	nng_socket		 sock;
	nng_listener		 nl;
	LIST_HEAD(, work)	 works;
	size_t			 nworks;
	atomic_size_t		 idle;		/* works in RECV */
	atomic_bool		 closing;
};


static void	server_work_cb(void *);
static void	server_item_cb(struct inbox_item *);

static void
server_recv(struct work *w)
{
	w->state = WORK_RECV;
	atomic_fetch_add(&w->srv->idle, 1);
	nng_ctx_recv(w->ctx, w->aio);
}

/* Loop thread: a work for a request read from c. */
static struct work *
server_take(struct server *srv, struct conn *c)
{
	const struct conn_peer	*peer = conn_peer(c);
	struct work		*w;

	if ((w = LIST_FIRST(&srv->free)) != NULL) {
		LIST_REMOVE(w, entry);
		srv->nfree--;
	} else {
		w = xcalloc(1, sizeof *w);
		w->srv = srv;
	}
	LIST_INSERT_HEAD(&srv->busy, w, entry);
	srv->nbusy++;
	w->state = WORK_LOOP;
	w->conn = c;
	w->uid = peer->uid;
	w->gid = peer->gid;
	w->pid = peer->pid;
	return (w);
}

/* Loop thread: an ipc work is answered (or forgotten). */
static void
server_release(struct work *w)
{
	struct server	*srv = w->srv;

	w->conn = NULL;
	LIST_REMOVE(w, entry);
	srv->nbusy--;
	LIST_INSERT_HEAD(&srv->free, w, entry);
	srv->nfree++;
}

/* Sends text as w's reply; any thread. Takes nothing: text is copied. */
static void
server_send(struct work *w, const char *text, size_t len)
{
	nng_msg	*msg;
	int	 rv;

	proto_req_fini(&w->req);
	if (w->conn != NULL) {
		conn_reply(w->conn, w->bt, w->btlen, text, len);
		server_release(w);
		return;
	}
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

/*
 * Any thread: takes the body of w's request. True if it is a request for
 * the loop; false if it was answered here (too large, not valid).
 */
static bool
server_decode(struct work *w, const char *body, size_t len)
{
	struct server	*srv = w->srv;
	char		*cause = NULL, *big;
	int		 rv;

	if (len > srv->cfg.max_msg) {
		if (asprintf(&big, "request of %zu bytes is over the limit "
		    "of %zu bytes", len, srv->cfg.max_msg) == -1)
			big = NULL;
		server_send_error(w, ASYNCD_ETOOLARGE, big);
		free(big);
		return (false);
	}
	if ((rv = proto_req_decode(body, len, &w->req, &cause)) != 0) {
		server_send_error(w, rv, cause);
		free(cause);
		return (false);
	}
	return (true);
}

/* nng thread: a request arrived on w. */
static void
server_intake(struct work *w, nng_msg *msg)
{
	struct server	*srv = w->srv;
	nng_pipe	 pipe = nng_msg_get_pipe(msg);
	bool		 good;

	w->pipe = pipe;
	if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &w->uid) != 0)
		w->uid = CONN_UNKNOWN;
	if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_GID, &w->gid) != 0)
		w->gid = CONN_UNKNOWN;
	good = server_decode(w, nng_msg_body(msg), nng_msg_len(msg));
	nng_msg_free(msg);
	if (!good)
		return;
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

/* Loop thread: a request read from c (conn.c). */
static void
server_conn_cb(void *arg, struct conn *c, const unsigned char *bt,
    size_t btlen, const char *body, size_t len)
{
	struct server	*srv = arg;
	struct work	*w = server_take(srv, c);

	memcpy(w->bt, bt, btlen);
	w->btlen = btlen;
	if (server_decode(w, body, len))
		cmd_dispatch(w);
}

static int
server_start_conn(struct server *srv, struct ev_loop *loop)
{
	struct conn_config	cc = {
		.path = srv->cfg.url + strlen("ipc://"),
		.mode = srv->cfg.mode,
		.check = srv->cfg.check,
		.maxrecv = srv->cfg.max_msg * PROTO_MSG_CEILING,
		.max_inflight = srv->cfg.max_contexts,
	};

	return (conn_listen(&srv->listener, loop, &cc, server_conn_cb, srv));
}

static int
server_start_nng(struct server *srv)
{
	const struct server_config	*cfg = &srv->cfg;
	size_t				 i;
	int				 rv;

	srv->nng = true;
	if ((rv = nng_rep0_open(&srv->sock)) != 0)
		return (rv);
	/*
	 * nng refuses (and drops the connection on) anything past this; up
	 * to it, the daemon reads the request and answers "too_large".
	 */
	if ((rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ,
	    cfg->max_msg * PROTO_MSG_CEILING)) != 0)
		return (rv);
	if ((rv = nng_listener_create(&srv->nl, srv->sock, cfg->url)) != 0)
		return (rv);
	if ((rv = nng_listener_start(srv->nl, 0)) != 0)
		return (rv);
	for (i = 0; i < cfg->min_idle; i++) {
		if ((rv = server_grow(srv)) != 0)
			return (rv);
	}
	return (0);
}

int
server_start(struct server **out, struct ev_loop *loop,
    const struct server_config *cfg, struct inbox *inbox, struct daemon *d)
{
	struct server	*srv;
	int		 rv;

	srv = xcalloc(1, sizeof *srv);
	srv->cfg = *cfg;
	srv->inbox = inbox;
	srv->daemon = d;
	LIST_INIT(&srv->busy);
	LIST_INIT(&srv->free);
	LIST_INIT(&srv->works);
	atomic_init(&srv->idle, 0);
	atomic_init(&srv->closing, false);
	if (strncmp(cfg->url, "ipc://", 6) == 0)
		rv = server_start_conn(srv, loop);
	else
		rv = server_start_nng(srv);
	if (rv != 0) {
		server_stop(srv);
		return (rv);
	}
	*out = srv;
	return (0);
}

static void
server_stop_nng(struct server *srv)
{
	struct work	*w;

	/*
	 * Stop every aio before closing the socket: nng 1.5.2 may abort if
	 * the socket closes while a callback is inside nng_ctx_recv or
	 * nng_ctx_send on one of its contexts. A stopped aio refuses new
	 * operations (its callback sees an error and "closing", and returns),
	 * and nng_aio_stop waits for the callback, re-dispatches included.
	 */
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
}

void
server_stop(struct server *srv)
{
	struct work	*w;

	if (srv == NULL)
		return;
	if (srv->nng)
		server_stop_nng(srv);
	/* Requests still unanswered (the drain gave up) get no reply. */
	while ((w = LIST_FIRST(&srv->busy)) != NULL) {
		proto_req_fini(&w->req);
		conn_forget(w->conn);
		server_release(w);
	}
	conn_unlisten(srv->listener);
	while ((w = LIST_FIRST(&srv->free)) != NULL) {
		LIST_REMOVE(w, entry);
		free(w);
	}
	free(srv);
}

void
server_quiesce(struct server *srv)
{
	if (srv->listener != NULL)
		conn_quiesce(srv->listener);
}

void
server_stats(struct server *srv, size_t *contexts, size_t *busy)
{
	*contexts = srv->nworks + srv->nbusy + srv->nfree;
	*busy = srv->nworks - atomic_load(&srv->idle) + srv->nbusy;
	/* A reply still being written is not answered yet (the drain). */
	if (srv->listener != NULL)
		*busy += conn_unsent(srv->listener);
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

	if (w->conn != NULL)
		return (w->pid);
	if (nng_pipe_get_uint64(w->pipe, NNG_OPT_IPC_PEER_PID, &pid) != 0)
		return (-1);
	return ((int64_t)pid);
}

struct daemon *
server_daemon(const struct work *w)
{
	return (w->srv->daemon);
}
