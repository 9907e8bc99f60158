/*
 * direct.c: a request and its reply over a unix socket of our own, in the
 * daemon's wire format, without nng's machinery.
 *
 * Design notes.
 *
 * libasyncd's synchronous requests on an ipc:// URL take this road, and
 * nng carries only futures (started when the first one is made) and the
 * other transports. Through nng, each request crossed four of its
 * threads on the client's side: the caller, the poller, a task thread
 * and back, each a wake-up, which on a 2-CPU VM cost a C program about
 * 60 us of CPU a request against 21 us here, and a quarter to a third of
 * an echo job's round trip; and
 * opening a REQ socket starts fourteen threads and greets the daemon on
 * them, 1.3 ms of the 2.4 ms an `asyncctl ping` took. A request needs
 * none of that: the daemon's socket speaks nng's SP protocol over a unix
 * stream (PROTOCOL.md, "Transport"), which is short to speak from the
 * caller's own thread with blocking calls under poll() deadlines:
 *
 *   - each side first sends 8 bytes: 0x00 'S' 'P' 0x00, its protocol
 *     number (REQ 0x30, REP 0x31) big-endian in 16 bits, and two zeros;
 *   - then each message is one byte 0x01, its length in 64 bits
 *     big-endian, and the message: for REQ and REP a 32-bit request id
 *     with its top bit set (the REP echoes it), then the body.
 *
 * On a new connection the greetings go first, and the request only once
 * the daemon's has come, so that whether a request went out is known
 * exactly: one never written cannot have run. A connection is kept in its slot
 * for the next request, as a context is (client.c); one whose exchange
 * failed is closed, so a late reply can never answer a later request.
 * Each thread with a request under way has a slot, so threads never wait
 * for each other's replies; a slot kept across a fork is dropped by the
 * child at its first request, which connects anew.
 *
 * Errors are nng's codes, so that the long-poll engine (client.c) treats
 * a failure here exactly as it treats one of nng's: NNG_ETIMEDOUT with
 * sent false when no connection (with the daemon's greeting on it) could
 * be made in time, as nng's dialer would have kept trying just as long
 * (a daemon that accepted has at least DIRECT_GREET_MIN to greet, since
 * nng's dialer had been connecting from asyncd_open on); NNG_EPROTO, not
 * sent, when the peer greets as something else; NNG_ECONNRESET when the
 * connection dropped once any of the request was written (the daemon
 * drops one far over --max-msg mid-request); NNG_ETIMEDOUT with sent true
 * when no reply came in time; NNG_ECLOSED when asyncd_close aborted it. A
 * kept connection that the daemon closed since (it restarted) fails on
 * the write before a byte of the request leaves, and is replaced within
 * the same request.
 *
 * Threads: a direct connection is used by the one thread whose request
 * holds its slot. The descriptor changes only under the handle's lock,
 * which is also what direct_abort runs under, so an abort never shuts
 * down a descriptor that has been closed and reused; the abort wakes a
 * thread in poll() (shutdown) or between connection attempts (the
 * handle's condition variable).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* A message: type, 64-bit length, then the 32-bit request id. */
#define DIRECT_HDR		(PROTO_SP_FRAME + 4)
/* A reply longer than this is not one of the daemon's (64 MiB cap). */
#define DIRECT_MAX_REPLY	((uint64_t)1 << 30)
/* The least time a daemon that accepted the connection has to greet. */
#define DIRECT_GREET_MIN	0.5

bool
direct_path(const char *url, char *path, size_t size)
{
	if (strncmp(url, "ipc://", 6) != 0 || url[6] == '\0' ||
	    strlen(url + 6) >= size ||
	    strlen(url + 6) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return (false);
	strcpy(path, url + 6);
	return (true);
}

void
direct_init(struct direct *d)
{
	memset(d, 0, sizeof *d);
	d->fd = -1;
}

void
direct_close(struct direct *d)
{
	if (d->fd != -1)
		close(d->fd);
	d->fd = -1;
}

void
direct_abort(struct direct *d)
{
	/* Not a socket a parent before fork() is still using. */
	if (d->fd != -1 && d->pid == getpid())
		(void)shutdown(d->fd, SHUT_RDWR);
}

/* poll()'s timeout until a deadline: -1 if infinite. */
static int
direct_poll_ms(double until)
{
	double	left;

	if (until == INFINITY)
		return (-1);
	left = ceil((until - client_now()) * 1000.0);
	if (!(left > 0))
		return (0);
	return (left > INT32_MAX ? INT32_MAX : (int)left);
}

/*
 * Below, the helpers speak errno values (ETIMEDOUT, ECONNRESET, EPROTO,
 * ENOMEM; ECANCELED for an abort by asyncd_close), and direct_exchange
 * alone turns them into nng's codes.
 */

/* Waits for fd to be ready for events; 0, ETIMEDOUT or an errno. */
static int
direct_wait(int fd, short events, double until)
{
	struct pollfd	pfd = { .fd = fd, .events = events };
	int		n;

	for (;;) {
		n = poll(&pfd, 1, direct_poll_ms(until));
		if (n > 0)
			return (0);	/* ready, or an error the call reports */
		if (n == 0)
			return (ETIMEDOUT);
		if (errno != EINTR)
			return (errno);
	}
}

/* Under g's lock: has asyncd_close aborted this request? */
static bool
direct_closed(const struct direct_guard *g)
{
	bool	closed;

	pthread_mutex_lock(g->lock);
	closed = *g->closed;
	pthread_mutex_unlock(g->lock);
	return (closed);
}

/* One connection attempt: 0 with d->fd set, ECANCELED, or an errno. */
static int
direct_connect_once(struct direct *d, const struct direct_guard *g,
    const char *path)
{
	struct sockaddr_un	sun;
	int			fd, err = 0;

	if (!proto_unix_addr(path, &sun))
		return (ENAMETOOLONG);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return (errno);
	/* A unix connect never waits: a full backlog is EAGAIN. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		err = errno;
		close(fd);
		return (err == ECANCELED ? ECONNREFUSED : err);
	}
	pthread_mutex_lock(g->lock);
	if (*g->closed) {
		pthread_mutex_unlock(g->lock);
		close(fd);
		return (ECANCELED);
	}
	d->fd = fd;
	d->pid = getpid();
	d->greeted = false;
	pthread_mutex_unlock(g->lock);
	return (0);
}

/*
 * Connects, trying again until `until` at the pace of nng's dialer: 0,
 * ETIMEDOUT or ECANCELED.
 */
static int
direct_connect(struct direct *d, const struct direct_guard *g,
    const char *path, double until)
{
	struct timespec	ts;
	double		pause = CLIENT_RECONNMINT / 1000.0, wake;
	int		rv;

	for (;;) {
		if ((rv = direct_connect_once(d, g, path)) == 0 ||
		    rv == ECANCELED)
			return (rv);
		if (client_now() >= until)
			return (ETIMEDOUT);
		wake = client_now() + pause;
		if (wake > until)
			wake = until;
		ts.tv_sec = (time_t)wake;
		ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
		pthread_mutex_lock(g->lock);
		rv = 0;
		while (!*g->closed && rv != ETIMEDOUT)
			rv = pthread_cond_timedwait(g->wake, g->lock, &ts);
		rv = *g->closed ? ECANCELED : 0;
		pthread_mutex_unlock(g->lock);
		if (rv != 0)
			return (rv);
		pause = fmin(pause * 2, CLIENT_RECONNMAXT / 1000.0);
	}
}

/* Drops the connection (under the lock: an abort may be looking at it). */
static void
direct_drop(struct direct *d, const struct direct_guard *g)
{
	pthread_mutex_lock(g->lock);
	direct_close(d);
	pthread_mutex_unlock(g->lock);
}

/*
 * Writes all of iov before until: 0, ETIMEDOUT, or an errno value (EPIPE,
 * ECONNRESET: the daemon closed the connection). *wrote says whether any
 * byte went out.
 */
static int
direct_write(int fd, struct iovec *iov, int n, double until, bool *wrote)
{
	struct msghdr	mh;
	ssize_t		w;
	int		rv;

	*wrote = false;
	while (n > 0) {
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)n;
		if ((w = sendmsg(fd, &mh, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return (errno);
			if ((rv = direct_wait(fd, POLLOUT, until)) != 0)
				return (rv);
			continue;
		}
		*wrote = true;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return (0);
}

/* Reads exactly len bytes before until: 0, ETIMEDOUT or ECONNRESET. */
static int
direct_read(int fd, void *buf, size_t len, double until)
{
	char	*p = buf;
	ssize_t	 r;
	int	 rv;

	while (len > 0) {
		if ((r = read(fd, p, len)) > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (r == 0)
			return (ECONNRESET);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return (ECONNRESET);
		if ((rv = direct_wait(fd, POLLIN, until)) != 0)
			return (rv == ETIMEDOUT ? rv : ECONNRESET);
	}
	return (0);
}

/*
 * A new connection: connects (until `until`), sends our greeting and
 * reads the daemon's. 0, ETIMEDOUT, ECONNRESET, EPROTO (something other
 * than an SP REP socket answered) or ECANCELED; on failure the connection
 * is gone. A daemon that accepted gets DIRECT_GREET_MIN to greet however
 * short the connect timeout: nng's dialer, which this stands in for,
 * connected in the background from asyncd_open on.
 */
static int
direct_open(struct direct *d, const struct direct_guard *g, const char *path,
    double until, double deadline)
{
	unsigned char	 mine[PROTO_SP_HELLO], hello[PROTO_SP_HELLO];
	struct iovec	 iov = { mine, sizeof mine };
	double		 greet_until;
	bool		 wrote;
	int		 rv;

	if ((rv = direct_connect(d, g, path, until)) != 0)
		return (rv);
	proto_sp_hello(mine, PROTO_SP_REQ);
	greet_until = client_now() + DIRECT_GREET_MIN;
	if (greet_until < until)
		greet_until = until;
	if (greet_until > deadline)
		greet_until = deadline;
	if ((rv = direct_write(d->fd, &iov, 1, greet_until, &wrote)) == 0 &&
	    (rv = direct_read(d->fd, hello, sizeof hello, greet_until)) == 0 &&
	    !proto_sp_hello_is(hello, PROTO_SP_REP))
		rv = EPROTO;
	if (rv == 0) {
		d->greeted = true;
		return (0);
	}
	direct_drop(d, g);
	return (rv == ETIMEDOUT || rv == EPROTO ? rv : ECONNRESET);
}

/*
 * Sends the request on a greeted connection, making one first if there is
 * none. 0 once it is out; otherwise an errno value, *sent saying whether
 * any of it may have reached the daemon, and the connection gone.
 */
static int
direct_send(struct direct *d, const struct direct_guard *g, const char *path,
    const char *text, double send_until, double deadline, bool *sent)
{
	unsigned char	 hdr[DIRECT_HDR];
	struct iovec	 iov[2];
	size_t		 len = strlen(text);
	bool		 kept, wrote;
	int		 rv;

	*sent = false;
	/*
	 * A connection made before a fork is the parent's too: two
	 * processes' requests on one stream would answer each other. The
	 * child lets go of its copy and makes its own.
	 */
	if (d->fd != -1 && d->pid != getpid())
		direct_drop(d, g);
	for (;;) {
		if (!(kept = d->fd != -1) &&
		    (rv = direct_open(d, g, path, send_until, deadline)) != 0)
			return (rv);
		d->id = (d->id + 1) | PROTO_SP_ID_END;
		hdr[0] = PROTO_SP_MSG;
		proto_put_be(hdr + 1, (uint64_t)len + 4, 8);
		proto_put_be(hdr + PROTO_SP_FRAME, d->id, 4);
		iov[0].iov_base = hdr;
		iov[0].iov_len = sizeof hdr;
		iov[1].iov_base = (void *)text;
		iov[1].iov_len = len;
		if ((rv = direct_write(d->fd, iov, 2, deadline, &wrote)) == 0) {
			*sent = true;
			atomic_fetch_add(g->sent, 1);
			return (0);
		}
		direct_drop(d, g);
		/*
		 * Nothing of it went out on a kept connection the daemon has
		 * closed since (it restarted): connect again. Part of it
		 * went out: the daemon dropped the connection mid-request
		 * (one far over --max-msg), as nng reported it, a drop.
		 */
		if (wrote) {
			*sent = true;
			return (ECONNRESET);
		}
		if (!kept || (rv != EPIPE && rv != ECONNRESET))
			return (rv == ETIMEDOUT ? rv : ECONNRESET);
	}
}

/* Receives the reply to d->id: 0, or an errno value as direct_send. */
static int
direct_recv(struct direct *d, double deadline, nng_msg **reply)
{
	unsigned char	 hdr[DIRECT_HDR];
	nng_msg		*msg;
	uint64_t	 len;
	int		 rv;

	if ((rv = direct_read(d->fd, hdr, sizeof hdr, deadline)) != 0)
		return (rv);
	len = proto_get_be(hdr + 1, 8);
	if (hdr[0] != PROTO_SP_MSG || len < 4 || len > DIRECT_MAX_REPLY ||
	    proto_get_be(hdr + PROTO_SP_FRAME, 4) != d->id)
		return (EPROTO);
	if (nng_msg_alloc(&msg, (size_t)(len - 4)) != 0)
		return (ENOMEM);
	if ((rv = direct_read(d->fd, nng_msg_body(msg), (size_t)(len - 4),
	    deadline)) != 0) {
		nng_msg_free(msg);
		return (rv);
	}
	*reply = msg;
	return (0);
}

/* An errno value of the helpers as the nng error the engine expects. */
static int
direct_nng_error(int err)
{
	switch (err) {
	case ETIMEDOUT:
		return (NNG_ETIMEDOUT);
	case EPROTO:
		return (NNG_EPROTO);
	case ENOMEM:
		return (NNG_ENOMEM);
	case ECANCELED:
		return (NNG_ECLOSED);
	default:
		return (NNG_ECONNRESET);
	}
}

int
direct_exchange(struct direct *d, const struct direct_guard *g,
    const char *path, const char *text, double deadline, double send_max,
    nng_msg **reply, bool *sent)
{
	double	send_until = deadline;
	int	rv;

	if (send_max >= 0 && client_now() + send_max < send_until)
		send_until = client_now() + send_max;
	if ((rv = direct_send(d, g, path, text, send_until, deadline,
	    sent)) == 0)
		rv = direct_recv(d, deadline, reply);
	if (rv != 0 && direct_closed(g))
		rv = ECANCELED;
	return (rv == 0 ? 0 : direct_nng_error(rv));
}
