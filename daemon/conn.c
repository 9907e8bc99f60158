/*
 * conn.c: the request socket's ipc:// transport, served on the loop.
 *
 * Design notes.
 *
 * The daemon's clients are local programs on a unix socket, and a request
 * is small and answered in microseconds. Through nng, each request crossed
 * four threads in the daemon (nng's poller, a task thread for the context,
 * the loop through the inbox, and back), each a wake-up: on a 2-CPU VM
 * that was 39% of the daemon's CPU for an exec job and about 70 us of its
 * round trip. Here the loop itself accepts, reads, and writes, as it
 * already does for commands' output and the socket coroutines, so a
 * request costs one wake-up: the loop's.
 *
 * The bytes are nng's SP protocol over a unix stream (proto/sp.c,
 * PROTOCOL.md "Transport"), so every client that spoke to nng's listener
 * speaks to this one unchanged: nng's REQ sockets (nngcat, libasyncd's
 * futures), libasyncd's direct connections, anything else that speaks SP.
 * The daemon greets first, as nng does; a peer that greets as anything
 * but REQ is closed. Each frame carries a REP backtrace (the peer's
 * request id, after any devices' hops) which the reply echoes whole, so
 * a client may have many requests in flight on one connection (nng's
 * contexts do) and each reply finds its request however they interleave.
 *
 * Bounds, which hold whatever a peer sends:
 *   - a frame longer than maxrecv closes the connection unread (nng's
 *     RECVMAXSZ); up to it the request is read whole and the server
 *     answers too_large past --max-msg;
 *   - at most max_inflight requests, over all connections, wait for their
 *     replies (--contexts; long polls hold theirs): past that no request
 *     is read until one is answered, and requests wait in the kernel's
 *     buffers, as they waited in nng's queue. Connections held back queue
 *     up, and each slot that frees is reserved for the next in line until
 *     it has read one request, so that a client with hundreds of requests
 *     pipelined takes turns with a client that just connected instead of
 *     refilling every slot (nng's REP read one message a pipe at a time,
 *     which was as fair). A greeting is always read: it is not a request;
 *   - a peer that does not read its replies has at most CONN_OUT_MAX of
 *     them buffered before its connection is no longer read, so a slow
 *     reader costs its own replies' memory and nothing more;
 *   - an idle connection keeps no buffer bigger than CONN_IBUF;
 *   - a peer that has not greeted within CONN_HELLO_SECONDS is closed.
 *
 * At shutdown (conn_quiesce) nothing more is accepted or read, and the
 * daemon waits, briefly, for the replies it has made to be written.
 *
 * A connection's memory outlives its descriptor while requests read from
 * it are still in the server's hands: conn_reply on a closed connection
 * only counts the request as answered, and the last one frees it.
 *
 * The listener: bound where nng would have bound it, a stale socket file
 * (a daemon that died) replaced, a live one refused with NNG_EADDRINUSE,
 * anything else at the path left alone (EEXIST); the mode set before
 * anyone can connect (bound at a spare name of this process's, chmod'ed,
 * renamed into place). Every check seconds the file is looked at, and if
 * it is gone or is no longer ours and nobody answers on it, the listener
 * binds again the same way (the connections it has are kept). It never
 * stops by itself: nng #1518, for which probe.c watches nng's listeners,
 * does not arise here.
 *
 * Threads: all of it runs on the loop thread.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* Replies buffered for a peer before its connection is no longer read. */
#define CONN_OUT_MAX	((size_t)1 << 22)
/* The read buffer a connection keeps between requests. */
#define CONN_IBUF	((size_t)16 << 10)
/* Hops a REP backtrace may have (nng's default TTL). */
#define CONN_MAX_HOPS	8
/* Connections accepted in one go before the loop sees to others. */
#define CONN_ACCEPT_BURST 16
/* Out of descriptors: the pause before accepting again. */
#define CONN_ACCEPT_RETRY 0.1
/* A peer that has not greeted by then is closed (as nng's ipc does). */
#define CONN_HELLO_SECONDS 10.0

struct conn {
	struct conn_listener	*l;
	LIST_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 wentry;	/* in l->waiters */
	int			 fd;		/* -1 once closed */
	ev_io			 rio;
	ev_io			 wio;
	ev_timer		 hello;		/* until the peer greets */
	struct conn_peer	 peer;
	bool			 greeted;	/* the peer's hello was read */
	bool			 waiting;	/* in l->waiters */
	bool			 turn;		/* holds a reserved slot */
	bool			 busy;		/* in conn_process */
	size_t			 inflight;	/* requests not answered */
	unsigned char		*ibuf;
	size_t			 ilen;
	size_t			 icap;
	unsigned char		*obuf;		/* replies not yet written */
	size_t			 ooff;
	size_t			 olen;
	size_t			 ocap;
};

struct conn_listener {
	struct ev_loop		*loop;
	int			 fd;
	ev_io			 accept;
	ev_timer		 retry;
	bool			 starved;	/* out of descriptors, logged */
	ev_timer		 check;
	bool			 quiet;		/* conn_quiesce: reads no more */
	char			*path;
	char			*spare;		/* path ".PID"; NULL: too long */
	int			 mode;
	dev_t			 dev;		/* of the file we bound */
	ino_t			 ino;
	size_t			 maxrecv;
	size_t			 inflight;
	size_t			 reserved;	/* slots given to a turn */
	size_t			 max_inflight;
	conn_request_fn		 fn;
	void			*arg;
	LIST_HEAD(, conn)	 conns;
	/* Held back at max_inflight, first come first served. */
	TAILQ_HEAD(, conn)	 waiters;
};

static void	conn_grant(struct conn_listener *);
static void	conn_turn_back(struct conn *);
static void	conn_read_cb(struct ev_loop *, ev_io *, int);
static void	conn_write_cb(struct ev_loop *, ev_io *, int);

/* No slot for a request, but those reserved for connections in line. */
static bool
conn_full(const struct conn_listener *l)
{
	return (l->inflight + l->reserved >= l->max_inflight);
}

/* More replies are waiting for c's peer to read them than it may have. */
static bool
conn_backlogged(const struct conn *c)
{
	return (c->olen - c->ooff > CONN_OUT_MAX);
}

/*
 * True if c may be read now. Its greeting always may: it is not a request,
 * and a client must not be taken for silent because others are busy. A
 * connection whose turn came has a slot of its own.
 */
static bool
conn_may_read(const struct conn *c)
{
	if (c->fd == -1 || c->l->quiet)
		return (false);
	return (!c->greeted || c->turn ||
	    (!conn_full(c->l) && !conn_backlogged(c)));
}

/*
 * Stops reading c. Held back by the limit on requests in flight, it joins
 * the line for a slot (conn_grant).
 */
static void
conn_pause(struct conn *c)
{
	struct conn_listener	*l = c->l;

	ev_io_stop(l->loop, &c->rio);
	if (c->fd == -1 || c->waiting || c->turn || !c->greeted ||
	    !conn_full(l) || conn_backlogged(c))
		return;
	TAILQ_INSERT_TAIL(&l->waiters, c, wentry);
	c->waiting = true;
}

/* Frees c once it is closed and nothing refers to it. */
static void
conn_maybe_free(struct conn *c)
{
	if (c->fd != -1 || c->inflight > 0 || c->busy)
		return;
	ev_clear_pending(c->l->loop, &c->rio);
	ev_clear_pending(c->l->loop, &c->wio);
	ev_clear_pending(c->l->loop, &c->hello);
	free(c->ibuf);
	free(c->obuf);
	free(c);
}

static void
conn_close(struct conn *c)
{
	struct conn_listener	*l = c->l;

	if (c->fd == -1)
		return;
	ev_io_stop(l->loop, &c->rio);
	ev_io_stop(l->loop, &c->wio);
	ev_timer_stop(l->loop, &c->hello);
	close(c->fd);
	c->fd = -1;
	if (c->waiting)
		TAILQ_REMOVE(&l->waiters, c, wentry);
	c->waiting = false;
	if (c->turn) {
		c->turn = false;
		l->reserved--;
		conn_grant(l);
	}
	LIST_REMOVE(c, entry);
	conn_maybe_free(c);
}

/*
 * Reads c again, and has the loop look at what it already holds: the
 * frames buffered when it stopped are not news to its descriptor.
 */
static void
conn_resume(struct conn *c)
{
	if (ev_is_active(&c->rio) || c->waiting)
		return;
	if (!conn_may_read(c) && (c->ilen > 0 || c->fd == -1 ||
	    c->l->quiet || conn_backlogged(c))) {
		conn_pause(c);
		return;
	}
	/*
	 * Nothing buffered: it waits for its socket, not in line (a turn
	 * given to a connection with nothing to send would be lost). The
	 * read callback puts it in line if a request comes while all slots
	 * are taken.
	 */
	ev_io_start(c->l->loop, &c->rio);
	/* A turn is taken this iteration, before others can read anew. */
	if (c->ilen > 0 || c->turn)
		ev_feed_event(c->l->loop, &c->rio, EV_READ);
}

/*
 * Makes room for n more bytes in c's read buffer. False when out of
 * memory: a request's size is the peer's to choose, so that closes the
 * connection rather than the daemon.
 */
static bool
conn_reserve(struct conn *c, size_t n)
{
	size_t	 cap = c->icap > 0 ? c->icap : CONN_IBUF;
	void	*p;

	if (c->icap - c->ilen >= n)
		return (true);
	while (cap - c->ilen < n)
		cap *= 2;
	if ((p = realloc(c->ibuf, cap)) == NULL) {
		log_warn("requests: %zu bytes for pid %d's request", cap,
		    (int)c->peer.pid);
		return (false);
	}
	c->ibuf = p;
	c->icap = cap;
	return (true);
}

/*
 * Hands over one message (header and body) of len bytes: splits off the
 * backtrace, which must end in a word with its top bit set. A message
 * without one is dropped, as nng's REP drops it.
 */
static void
conn_message(struct conn *c, const unsigned char *msg, size_t len)
{
	struct conn_listener	*l = c->l;
	size_t			 bt;

	for (bt = 4; bt <= len && bt <= 4 * CONN_MAX_HOPS; bt += 4) {
		if (proto_get_be(msg + bt - 4, 4) & PROTO_SP_ID_END)
			break;
	}
	if (bt > len || bt > 4 * CONN_MAX_HOPS) {
		log_debug("requests: a message without a request id from "
		    "pid %d dropped", (int)c->peer.pid);
		return;
	}
	c->inflight++;
	l->inflight++;
	if (c->turn) {
		c->turn = false;
		l->reserved--;
	}
	l->fn(l->arg, c, msg, bt, (const char *)msg + bt, len - bt);
}

/* Takes the greeting and every whole frame c's buffer holds. */
static void
conn_process(struct conn *c)
{
	struct conn_listener	*l = c->l;
	size_t			 off = 0;
	uint64_t		 len;

	c->busy = true;
	if (!c->greeted && c->ilen >= PROTO_SP_HELLO) {
		if (!proto_sp_hello_is(c->ibuf, PROTO_SP_REQ)) {
			log_debug("requests: pid %d does not speak SP REQ; "
			    "closed", (int)c->peer.pid);
			conn_close(c);
			goto out;
		}
		c->greeted = true;
		ev_timer_stop(l->loop, &c->hello);
		off = PROTO_SP_HELLO;
	}
	while (c->greeted && c->fd != -1 && c->ilen - off >= PROTO_SP_FRAME) {
		if (!conn_may_read(c)) {
			conn_pause(c);
			break;
		}
		len = proto_get_be(c->ibuf + off + 1, 8);
		if (c->ibuf[off] != PROTO_SP_MSG || len > l->maxrecv) {
			log_debug("requests: pid %d sent a frame of type %u "
			    "and %ju bytes (most %zu); closed",
			    (int)c->peer.pid, c->ibuf[off], (uintmax_t)len,
			    l->maxrecv);
			conn_close(c);
			goto out;
		}
		if (c->ilen - off - PROTO_SP_FRAME < len) {
			/* Room for the rest, from the frame's start on. */
			memmove(c->ibuf, c->ibuf + off, c->ilen - off);
			c->ilen -= off;
			off = 0;
			if (!conn_reserve(c, PROTO_SP_FRAME + (size_t)len -
			    c->ilen))
				conn_close(c);
			break;
		}
		conn_message(c, c->ibuf + off + PROTO_SP_FRAME, (size_t)len);
		off += PROTO_SP_FRAME + (size_t)len;
	}
	if (c->fd == -1)
		goto out;
	memmove(c->ibuf, c->ibuf + off, c->ilen - off);
	c->ilen -= off;
	if (c->ilen == 0 && c->icap > CONN_IBUF) {
		free(c->ibuf);
		c->ibuf = NULL;
		c->icap = 0;
	}
	/* No whole request to take the turn with (part of one at most). */
	conn_turn_back(c);
out:
	c->busy = false;
	conn_maybe_free(c);
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn	*c = container_of(w, struct conn, rio);
	ssize_t		 n;

	(void)loop;
	(void)revents;
	if (!conn_may_read(c)) {
		conn_pause(c);
		return;
	}
	if (!conn_reserve(c, 1)) {
		conn_close(c);
		return;
	}
	n = read(c->fd, c->ibuf + c->ilen, c->icap - c->ilen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		if (c->ilen > 0)	/* fed by conn_resume */
			conn_process(c);
		else
			conn_turn_back(c);
		return;
	}
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->ilen += (size_t)n;
	conn_process(c);
}

/* Writes what c has buffered. Returns false if the connection failed. */
static bool
conn_flush(struct conn *c)
{
	ssize_t	n;

	while (c->ooff < c->olen) {
		n = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0)
			return (false);
		c->ooff += (size_t)n;
	}
	if (c->ooff == c->olen) {
		c->ooff = c->olen = 0;
		if (c->ocap > CONN_IBUF) {
			free(c->obuf);
			c->obuf = NULL;
			c->ocap = 0;
		}
		ev_io_stop(c->l->loop, &c->wio);
	} else {
		ev_io_start(c->l->loop, &c->wio);
	}
	return (true);
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn	*c = container_of(w, struct conn, wio);

	(void)loop;
	(void)revents;
	if (!conn_flush(c)) {
		conn_close(c);
		return;
	}
	conn_resume(c);
}

/*
 * Queues the n buffers' bytes from skip on, after what c holds already.
 * False when out of memory.
 */
static bool
conn_queue(struct conn *c, const struct iovec *iov, int n, size_t skip)
{
	size_t	 need, cap;
	void	*p;
	int	 i;

	/* What was written goes: a peer that reads slowly costs only what
	 * it has not read yet. */
	if (c->ooff > 0) {
		memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
		c->olen -= c->ooff;
		c->ooff = 0;
	}
	need = c->olen;
	for (i = 0; i < n; i++)
		need += iov[i].iov_len;
	need -= skip;
	if (need > c->ocap) {
		cap = c->ocap > CONN_IBUF ? c->ocap : CONN_IBUF;
		while (cap < need)
			cap *= 2;
		if ((p = realloc(c->obuf, cap)) == NULL) {
			log_warn("requests: %zu bytes of replies for pid %d",
			    cap, (int)c->peer.pid);
			return (false);
		}
		c->obuf = p;
		c->ocap = cap;
	}
	for (i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		memcpy(c->obuf + c->olen, (const char *)iov[i].iov_base + skip,
		    iov[i].iov_len - skip);
		c->olen += iov[i].iov_len - skip;
		skip = 0;
	}
	return (true);
}

/* Sends the n buffers as they are, or queues what the socket will not take. */
static void
conn_send(struct conn *c, struct iovec *iov, int n)
{
	struct msghdr	 mh;
	ssize_t		 sent = 0;

	if (c->olen == c->ooff) {
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)n;
		do {
			sent = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (sent == -1 && errno == EINTR);
		if (sent == -1 && errno != EAGAIN) {
			conn_close(c);
			return;
		}
		if (sent == -1)
			sent = 0;
	}
	if (!conn_queue(c, iov, n, (size_t)sent)) {
		/* Part of a reply went out: the stream is lost. */
		conn_close(c);
		return;
	}
	if (c->olen > c->ooff) {
		ev_io_start(c->l->loop, &c->wio);
		if (ev_is_active(&c->rio) && conn_backlogged(c))
			conn_pause(c);
	}
}

/*
 * Gives each free slot to the next connection in line, reserved for it
 * until it has read one request. A client with many requests queued thus
 * takes turns with the others, one request a turn, instead of refilling
 * every slot that frees (a connection with a turn reads before the others
 * can, but one whose request is still in its socket is only read at the
 * loop's next poll).
 */
static void
conn_grant(struct conn_listener *l)
{
	struct conn	*next;

	while (!l->quiet && !conn_full(l) && (next = TAILQ_FIRST(&l->waiters)) != NULL) {
		TAILQ_REMOVE(&l->waiters, next, wentry);
		next->waiting = false;
		next->turn = true;
		l->reserved++;
		conn_resume(next);
	}
}

/*
 * A turn c cannot use now goes to the next in line; c reads on, and
 * queues again if a request comes while all slots are taken.
 */
static void
conn_turn_back(struct conn *c)
{
	if (!c->turn)
		return;
	c->turn = false;
	c->l->reserved--;
	conn_grant(c->l);
}

/* One request fewer in flight. */
static void
conn_answered(struct conn *c)
{
	c->inflight--;
	c->l->inflight--;
	conn_grant(c->l);
}

void
conn_reply(struct conn *c, const unsigned char *bt, size_t btlen,
    const char *body, size_t len)
{
	unsigned char	 frame[PROTO_SP_FRAME];
	struct iovec	 iov[3];
	bool		 was_busy = c->busy;

	/* Kept until the end: a failed send closes it. */
	c->busy = true;
	conn_answered(c);
	if (c->fd != -1) {
		frame[0] = PROTO_SP_MSG;
		proto_put_be(frame + 1, (uint64_t)(btlen + len), 8);
		iov[0].iov_base = frame;
		iov[0].iov_len = sizeof frame;
		iov[1].iov_base = (void *)bt;
		iov[1].iov_len = btlen;
		iov[2].iov_base = (void *)body;
		iov[2].iov_len = len;
		conn_send(c, iov, 3);
	}
	if (c->fd != -1)
		conn_resume(c);
	c->busy = was_busy;
	conn_maybe_free(c);
}

void
conn_forget(struct conn *c)
{
	conn_answered(c);
	conn_maybe_free(c);
}

const struct conn_peer *
conn_peer(const struct conn *c)
{
	return (&c->peer);
}

static void
conn_hello_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn	*c = container_of(w, struct conn, hello);

	(void)loop;
	(void)revents;
	log_debug("requests: pid %d did not greet in %g s; closed",
	    (int)c->peer.pid, CONN_HELLO_SECONDS);
	conn_close(c);
}

static void
conn_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn_listener	*l = container_of(w, struct conn_listener,
				    accept);
	struct conn		*c;
	struct ucred		 cred;
	socklen_t		 clen;
	unsigned char		 hello[PROTO_SP_HELLO];
	int			 fd, i;

	(void)revents;
	for (i = 0; i < CONN_ACCEPT_BURST; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
				continue;
			default:
				/*
				 * Out of descriptors or memory, or worse: the
				 * socket stays readable until accepted, so
				 * wait rather than spin, and say so once.
				 */
				if (!l->starved)
					log_warn("requests: accept (retrying "
					    "every %g s)", CONN_ACCEPT_RETRY);
				l->starved = true;
				ev_io_stop(loop, &l->accept);
				ev_timer_set(&l->retry, CONN_ACCEPT_RETRY, 0.);
				ev_timer_start(loop, &l->retry);
				return;
			}
		}
		if (l->starved)
			log_info("requests: accepting again");
		l->starved = false;
		c = xcalloc(1, sizeof *c);
		c->l = l;
		c->fd = fd;
		c->peer.uid = c->peer.gid = CONN_UNKNOWN;
		c->peer.pid = -1;
		clen = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
			c->peer.uid = cred.uid;
			c->peer.gid = cred.gid;
			c->peer.pid = cred.pid;
		}
		ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
		ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
		ev_timer_init(&c->hello, conn_hello_cb, CONN_HELLO_SECONDS,
		    0.);
		LIST_INSERT_HEAD(&l->conns, c, entry);
		/* A new socket's buffer takes 8 bytes, or it is broken. */
		proto_sp_hello(hello, PROTO_SP_REP);
		if (send(fd, hello, sizeof hello, MSG_NOSIGNAL |
		    MSG_DONTWAIT) != (ssize_t)sizeof hello) {
			conn_close(c);
			continue;
		}
		ev_timer_start(loop, &c->hello);
		conn_resume(c);
	}
}

static void
conn_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn_listener	*l = container_of(w, struct conn_listener,
				    retry);

	(void)revents;
	ev_io_start(loop, &l->accept);
}

/* True if something accepts connections at path. */
static bool
conn_answers(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;
	bool			yes;

	if (!proto_unix_addr(path, &sun) || (fd = socket(AF_UNIX, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return (false);
	/* EAGAIN: a full backlog, so someone listens. */
	yes = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ||
	    errno == EAGAIN;
	close(fd);
	return (yes);
}

/*
 * Binds a listening socket with its mode and puts it at the path: bound at
 * the spare name, chmod'ed and renamed over the path (a stale socket
 * file), so no client ever finds it with other permissions; without a
 * spare name (too long an address), bound at the path after the stale
 * file is removed, and chmod'ed at once, as nng does. Anything at the path
 * that is not a socket is left alone: the call fails with EEXIST. Returns
 * the descriptor, or -1 with *err an nng error.
 */
static int
conn_bind(struct conn_listener *l, int *err)
{
	const char		*at = l->spare != NULL ? l->spare : l->path;
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd;

	if (lstat(l->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		*err = NNG_ESYSERR | EEXIST;
		return (-1);
	}
	if (!proto_unix_addr(at, &sun)) {
		*err = NNG_EADDRINVAL;
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		*err = NNG_ESYSERR | errno;
		return (-1);
	}
	if ((unlink(at) == -1 && errno != ENOENT) ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    chmod(at, (mode_t)l->mode) == -1 ||
	    listen(fd, SOMAXCONN) == -1 ||
	    stat(at, &st) == -1 ||
	    (at != l->path && rename(at, l->path) == -1)) {
		*err = NNG_ESYSERR | errno;
		close(fd);
		if (at != l->path)
			(void)unlink(at);
		return (-1);
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return (fd);
}

/* True if the socket file at the path is the one we bound. */
static bool
conn_is_ours(const struct conn_listener *l, int *err)
{
	struct stat	st;

	if (stat(l->path, &st) == -1) {
		*err = errno;
		return (false);
	}
	*err = 0;
	return (st.st_dev == l->dev && st.st_ino == l->ino);
}

static void
conn_check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn_listener	*l = container_of(w, struct conn_listener,
				    check);
	int			 err, fd;

	(void)revents;
	if (conn_is_ours(l, &err) || (err == 0 && conn_answers(l->path)))
		return;
	log_warnx("requests: new clients cannot connect to ipc://%s (%s); "
	    "listening again", l->path, err != 0 ? "the socket file is gone" :
	    "the socket file is not ours any more");
	if ((fd = conn_bind(l, &err)) == -1) {
		log_warnx("requests: cannot listen on %s: %s", l->path,
		    nng_strerror(err));
		return;		/* the next tick tries again */
	}
	ev_io_stop(loop, &l->accept);
	ev_timer_stop(loop, &l->retry);
	close(l->fd);
	l->fd = fd;
	ev_io_set(&l->accept, fd, EV_READ);
	ev_io_start(loop, &l->accept);
}

int
conn_listen(struct conn_listener **out, struct ev_loop *loop,
    const struct conn_config *cfg, conn_request_fn fn, void *arg)
{
	struct conn_listener	*l;
	struct sockaddr_un	 sun;
	int			 err;

	*out = NULL;
	if (!proto_unix_addr(cfg->path, &sun))
		return (NNG_EADDRINVAL);
	/* A daemon alive at the path keeps it (main checked, but races). */
	if (conn_answers(cfg->path))
		return (NNG_EADDRINUSE);
	l = xcalloc(1, sizeof *l);
	l->loop = loop;
	l->path = xstrdup(cfg->path);
	/* Each process its own: two daemons starting at once never share. */
	xasprintf(&l->spare, "%s.%ld", cfg->path, (long)getpid());
	if (!proto_unix_addr(l->spare, &sun)) {
		free(l->spare);
		l->spare = NULL;
	}
	l->mode = cfg->mode;
	l->maxrecv = cfg->maxrecv;
	l->max_inflight = cfg->max_inflight;
	l->fn = fn;
	l->arg = arg;
	LIST_INIT(&l->conns);
	TAILQ_INIT(&l->waiters);
	if ((l->fd = conn_bind(l, &err)) == -1) {
		free(l->spare);
		free(l->path);
		free(l);
		return (err);
	}
	ev_io_init(&l->accept, conn_accept_cb, l->fd, EV_READ);
	ev_io_start(loop, &l->accept);
	ev_timer_init(&l->retry, conn_retry_cb, CONN_ACCEPT_RETRY, 0.);
	ev_timer_init(&l->check, conn_check_cb, cfg->check, cfg->check);
	if (cfg->check > 0)
		ev_timer_start(loop, &l->check);
	*out = l;
	return (0);
}

void
conn_quiesce(struct conn_listener *l)
{
	struct conn	*c;

	l->quiet = true;
	ev_io_stop(l->loop, &l->accept);
	ev_timer_stop(l->loop, &l->retry);
	LIST_FOREACH(c, &l->conns, entry)
		ev_io_stop(l->loop, &c->rio);
}

void
conn_unlisten(struct conn_listener *l)
{
	struct conn	*c;
	int		 err;

	if (l == NULL)
		return;
	if (l->inflight != 0)
		fatalx("%s: %zu requests not answered", __func__, l->inflight);
	ev_io_stop(l->loop, &l->accept);
	ev_timer_stop(l->loop, &l->retry);
	ev_timer_stop(l->loop, &l->check);
	close(l->fd);
	/* The file is ours to remove only if it is still the one we bound. */
	if (conn_is_ours(l, &err))
		(void)unlink(l->path);
	/* The last replies go out if the socket takes them at once. */
	while ((c = LIST_FIRST(&l->conns)) != NULL) {
		if (c->olen > c->ooff)
			(void)conn_flush(c);
		conn_close(c);
	}
	free(l->spare);
	free(l->path);
	free(l);
}

size_t
conn_unsent(const struct conn_listener *l)
{
	const struct conn	*c;
	size_t			 n = 0;

	LIST_FOREACH(c, &l->conns, entry) {
		if (c->olen > c->ooff)
			n++;
	}
	return (n);
}
