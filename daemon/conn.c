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
 *     replies (--contexts; long polls hold theirs): past that no
 *     connection is read until one is answered, and requests wait in the
 *     kernel's buffers, as they waited in nng's queue;
 *   - a peer that does not read its replies has at most CONN_OUT_MAX of
 *     them buffered before its connection is no longer read, so a slow
 *     reader costs its own replies' memory and nothing more;
 *   - an idle connection keeps no buffer bigger than CONN_IBUF;
 *   - a peer that has not greeted within CONN_HELLO_SECONDS is closed.
 *
 * A connection's memory outlives its descriptor while requests read from
 * it are still in the server's hands: conn_reply on a closed connection
 * only counts the request as answered, and the last one frees it.
 *
 * The listener: bound where nng would have bound it, a stale file (a
 * daemon that died) replaced, a live one refused with NNG_EADDRINUSE; the
 * mode set before anyone can connect (bound at a spare name, chmod'ed,
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
	int			 fd;		/* -1 once closed */
	ev_io			 rio;
	ev_io			 wio;
	ev_timer		 hello;		/* until the peer greets */
	struct conn_peer	 peer;
	bool			 greeted;	/* the peer's hello was read */
	bool			 reading;	/* rio is started */
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
	char			*path;
	char			*spare;		/* path ".new" */
	int			 mode;
	dev_t			 dev;		/* of the file we bound */
	ino_t			 ino;
	size_t			 maxrecv;
	size_t			 inflight;
	size_t			 max_inflight;
	conn_request_fn		 fn;
	void			*arg;
	LIST_HEAD(, conn)	 conns;
	size_t			 nconns;
};

static void	conn_read_cb(struct ev_loop *, ev_io *, int);
static void	conn_write_cb(struct ev_loop *, ev_io *, int);

/* True if c may take another request now. */
static bool
conn_may_read(const struct conn *c)
{
	return (c->fd != -1 && c->l->inflight < c->l->max_inflight &&
	    c->olen - c->ooff <= CONN_OUT_MAX);
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
	c->reading = false;
	LIST_REMOVE(c, entry);
	l->nconns--;
	conn_maybe_free(c);
}

/*
 * Reads c again, and has the loop look at what it already holds: the
 * frames buffered when it stopped are not news to its descriptor.
 */
static void
conn_resume(struct conn *c)
{
	if (c->reading || !conn_may_read(c))
		return;
	c->reading = true;
	ev_io_start(c->l->loop, &c->rio);
	if (c->ilen > 0)
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
			ev_io_stop(l->loop, &c->rio);
			c->reading = false;
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
		ev_io_stop(loop, w);
		c->reading = false;
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
	size_t	 need = c->olen;
	void	*p;
	int	 i;

	for (i = 0; i < n; i++)
		need += iov[i].iov_len;
	need -= skip;
	if (need > c->ocap) {
		if (need < CONN_IBUF)
			need = CONN_IBUF;
		if ((p = realloc(c->obuf, need)) == NULL) {
			log_warn("requests: %zu bytes of replies for pid %d",
			    need, (int)c->peer.pid);
			return (false);
		}
		c->obuf = p;
		c->ocap = need;
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
		if (!conn_may_read(c) && c->reading) {
			ev_io_stop(c->l->loop, &c->rio);
			c->reading = false;
		}
	}
}

/* One request fewer in flight: connections held back may be read again. */
static void
conn_answered(struct conn *c)
{
	struct conn_listener	*l = c->l;
	struct conn		*o;
	bool			 was_full = l->inflight >= l->max_inflight;

	c->inflight--;
	l->inflight--;
	if (was_full && l->inflight < l->max_inflight) {
		LIST_FOREACH(o, &l->conns, entry)
			conn_resume(o);
	}
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
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/*
				 * Readable until accepted: do not spin, and
				 * say so once, not at every retry.
				 */
				if (!l->starved)
					log_warn("requests: accept (retrying "
					    "every %g s)", CONN_ACCEPT_RETRY);
				l->starved = true;
				ev_io_stop(loop, &l->accept);
				ev_timer_set(&l->retry, CONN_ACCEPT_RETRY, 0.);
				ev_timer_start(loop, &l->retry);
				return;
			default:
				log_warn("requests: accept");
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
		l->nconns++;
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

/* A unix address for path; false if it does not fit. */
static bool
conn_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path)
		return (false);
	strcpy(sun->sun_path, path);
	return (true);
}

/* True if something accepts connections at path. */
static bool
conn_answers(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;
	bool			yes;

	if (!conn_addr(path, &sun) || (fd = socket(AF_UNIX, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return (false);
	/* EAGAIN: a full backlog, so someone listens. */
	yes = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ||
	    errno == EAGAIN;
	close(fd);
	return (yes);
}

/*
 * Binds a listening socket at the spare name with its mode and renames it
 * to the path (replacing a stale file). Returns the descriptor, or -1 with
 * *err an nng error.
 */
static int
conn_bind(struct conn_listener *l, int *err)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd;

	if (!conn_addr(l->spare, &sun)) {
		*err = NNG_EADDRINVAL;
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		*err = NNG_ESYSERR | errno;
		return (-1);
	}
	if ((unlink(l->spare) == -1 && errno != ENOENT) ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    chmod(l->spare, (mode_t)l->mode) == -1 ||
	    listen(fd, SOMAXCONN) == -1 ||
	    stat(l->spare, &st) == -1 ||
	    rename(l->spare, l->path) == -1) {
		*err = NNG_ESYSERR | errno;
		close(fd);
		(void)unlink(l->spare);
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
	if (!conn_addr(cfg->path, &sun))
		return (NNG_EADDRINVAL);
	/* A daemon alive at the path keeps it (main checked, but races). */
	if (conn_answers(cfg->path))
		return (NNG_EADDRINUSE);
	l = xcalloc(1, sizeof *l);
	l->loop = loop;
	l->path = xstrdup(cfg->path);
	xasprintf(&l->spare, "%s.new", cfg->path);
	l->mode = cfg->mode;
	l->maxrecv = cfg->maxrecv;
	l->max_inflight = cfg->max_inflight;
	l->fn = fn;
	l->arg = arg;
	LIST_INIT(&l->conns);
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
conn_listener_close(struct conn_listener *l)
{
	struct conn	*c;
	int		 err;

	if (l == NULL)
		return;
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

void
conn_stats(const struct conn_listener *l, size_t *conns, size_t *inflight)
{
	*conns = l->nconns;
	*inflight = l->inflight;
}
