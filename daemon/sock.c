/*
 * sock.c: async sockets for coroutines, asyncio.open_connection's kind.
 *
 * A socket belongs to one job's coroutine. Every call that would block
 * arms an ev_io watcher (and a timer for the call's own timeout), suspends
 * the coroutine and lets the loop run everything else; the watcher's
 * callback wakes it. Cancellation (the job's cancel or timeout) stops the
 * watchers and wakes it at once with the cancellation error: nothing of
 * the socket is then touched until the coroutine next calls in.
 *
 * Name resolution blocks (getaddrinfo may ask DNS), so it runs on the
 * thread pool; a numeric address is resolved on the loop without asking
 * anyone. Connecting tries each address in turn within the one timeout.
 * Reads are buffered so that ad_read_until can split a stream on a
 * delimiter and keep what follows for the next read.
 *
 * Loop thread only, from the owning job's coroutine.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* Bytes read at a time into the buffer. */
#define SOCK_CHUNK	16384

struct ad_sock {
	int		 fd;
	struct job	*job;		/* the owner */
	ev_io		 io;
	ev_timer	 timer;
	char		*buf;		/* read, not yet returned */
	size_t		 len;
	size_t		 cap;
	bool		 eof;
	char		 err[256];
};

static void
sock_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ad_sock	*s = container_of(w, struct ad_sock, io);

	(void)revents;
	ev_io_stop(loop, &s->io);
	ev_timer_stop(loop, &s->timer);
	sched_wake(s->job, 0);
}

static void
sock_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ad_sock	*s = container_of(w, struct ad_sock, timer);

	(void)revents;
	ev_io_stop(loop, &s->io);
	sched_wake(s->job, ASYNCD_ETIMEDOUT);
}

static bool
sock_cancel(struct job *job)
{
	struct ad_sock	*s = job->await_arg;

	ev_io_stop(job->sched->loop, &s->io);
	ev_timer_stop(job->sched->loop, &s->timer);
	return (true);
}

/*
 * Suspends until fd is ready for events or the deadline (monotonic, as
 * ev_now; 0: none) passes. Returns 0, ASYNCD_ETIMEDOUT or the
 * cancellation error.
 */
static int
sock_wait(struct ad_sock *s, int events, double deadline)
{
	struct ev_loop	*loop = s->job->sched->loop;
	double		 left;

	if (s->job->cancel_reason != 0)
		return (s->job->cancel_reason);
	ev_io_set(&s->io, s->fd, events);
	ev_io_start(loop, &s->io);
	if (deadline > 0) {
		if ((left = deadline - ev_now(loop)) <= 0) {
			ev_io_stop(loop, &s->io);
			return (ASYNCD_ETIMEDOUT);
		}
		ev_timer_set(&s->timer, left, 0.);
		ev_timer_start(loop, &s->timer);
	}
	return (sched_suspend(s->job, sock_cancel, s));
}

static double
sock_deadline(struct ad_sock *s, double timeout)
{
	return (timeout > 0 ? ev_now(s->job->sched->loop) + timeout : 0);
}

static int __attribute__((format(printf, 2, 3)))
sock_fail(struct ad_sock *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	return (ASYNCD_EFAILED);
}

const char *
ad_sock_error(struct ad_sock *s)
{
	return (s->err);
}

static struct ad_sock *
sock_create(struct job *job)
{
	struct ad_sock	*s = xcalloc(1, sizeof *s);

	s->fd = -1;
	s->job = job;
	ev_io_init(&s->io, sock_io_cb, -1, EV_READ);
	ev_timer_init(&s->timer, sock_timer_cb, 0., 0.);
	return (s);
}

/* getaddrinfo, on a pool thread. */
struct sock_resolve {
	const char	*host;
	char		 port[16];
	struct addrinfo	*res;
	int		 rv;
};

static void
sock_resolve_fn(void *arg)
{
	struct sock_resolve	*r = arg;
	struct addrinfo		 hints;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/*
	 * No AI_ADDRCONFIG: it ignores loopback, so on a host with no other
	 * address "localhost" would resolve to nothing.
	 */
	r->rv = getaddrinfo(r->host, r->port, &hints, &r->res);
}

/* One address: 0 once connected, else an error with s->err set. */
static int
sock_try(struct ad_sock *s, const struct sockaddr *sa, socklen_t salen,
    const char *what, double deadline)
{
	socklen_t	len = sizeof (int);
	int		rv, err = 0;

	s->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (s->fd == -1)
		return (sock_fail(s, "socket: %s", strerror(errno)));
	if (connect(s->fd, sa, salen) == 0)
		return (0);
	if (errno != EINPROGRESS && errno != EAGAIN) {
		err = errno;
		goto fail;
	}
	if ((rv = sock_wait(s, EV_WRITE, deadline)) != 0) {
		close(s->fd);
		s->fd = -1;
		if (rv == ASYNCD_ETIMEDOUT)
			sock_fail(s, "connect %s: timed out", what);
		return (rv);
	}
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0)
		return (0);
fail:
	close(s->fd);
	s->fd = -1;
	return (sock_fail(s, "connect %s: %s", what, strerror(err)));
}

int
ad_connect(struct ad_job *aj, const char *host, int port, double timeout,
    struct ad_sock **out, char **cause)
{
	struct job		*job = aj->job;
	struct ad_sock		*s;
	struct sock_resolve	 r;
	struct sockaddr_un	 sun;
	struct addrinfo		 hints, *ai;
	char			 what[300];
	double			 deadline;
	int			 rv;

	*out = NULL;
	if (cause != NULL)
		*cause = NULL;
	if (job->cancel_reason != 0)
		return (job->cancel_reason);
	s = sock_create(job);
	deadline = sock_deadline(s, timeout);
	if (host[0] == '/') {
		if (!proto_unix_addr(host, &sun)) {
			rv = sock_fail(s, "%s: path too long", host);
			goto out;
		}
		rv = sock_try(s, (struct sockaddr *)&sun, sizeof sun, host,
		    deadline);
		goto out;
	}
	if (port <= 0 || port > 65535) {
		rv = sock_fail(s, "bad port %d", port);
		goto out;
	}
	memset(&r, 0, sizeof r);
	r.host = host;
	snprintf(r.port, sizeof r.port, "%d", port);
	/* A numeric address needs no resolver: no thread either. */
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, r.port, &hints, &r.res) != 0) {
		r.res = NULL;
		if ((rv = ad_run_in_thread(aj, sock_resolve_fn, &r)) != 0) {
			if (r.res != NULL)
				freeaddrinfo(r.res);
			goto out;
		}
		if (r.rv != 0) {
			rv = sock_fail(s, "%s: %s", host, gai_strerror(r.rv));
			goto out;
		}
	}
	rv = sock_fail(s, "%s: no address", host);
	for (ai = r.res; ai != NULL; ai = ai->ai_next) {
		snprintf(what, sizeof what, "%s port %d", host, port);
		rv = sock_try(s, ai->ai_addr, ai->ai_addrlen, what, deadline);
		if (rv == 0 || rv == ASYNCD_ETIMEDOUT ||
		    rv == job->cancel_reason)
			break;
	}
	freeaddrinfo(r.res);
out:
	if (rv != 0) {
		if (cause != NULL && s->err[0] != '\0')
			*cause = xstrdup(s->err);
		ad_close(s);
		return (rv);
	}
	*out = s;
	return (0);
}

/* Reads once into the buffer: 0 (something, or EOF), or an error. */
static int
sock_fill(struct ad_sock *s, double deadline)
{
	ssize_t	n;
	int	rv;

	if (s->cap - s->len < SOCK_CHUNK) {
		s->cap = s->cap == 0 ? SOCK_CHUNK * 2 : s->cap * 2;
		s->buf = xreallocarray(s->buf, 1, s->cap);
	}
	for (;;) {
		n = recv(s->fd, s->buf + s->len, s->cap - s->len, 0);
		if (n > 0) {
			s->len += (size_t)n;
			return (0);
		}
		if (n == 0) {
			s->eof = true;
			return (0);
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return (sock_fail(s, "read: %s", strerror(errno)));
		if ((rv = sock_wait(s, EV_READ, deadline)) != 0) {
			if (rv == ASYNCD_ETIMEDOUT)
				sock_fail(s, "read: timed out");
			return (rv);
		}
	}
}

/* Hands over the first n buffered bytes. */
static void
sock_take(struct ad_sock *s, void *dst, size_t n)
{
	memcpy(dst, s->buf, n);
	memmove(s->buf, s->buf + n, s->len - n);
	s->len -= n;
}

int
ad_read(struct ad_job *aj, struct ad_sock *s, void *buf, size_t len,
    double timeout, size_t *n)
{
	double	deadline = sock_deadline(s, timeout);
	int	rv;

	*n = 0;
	if (aj->job->cancel_reason != 0)
		return (aj->job->cancel_reason);
	if (len == 0)
		return (0);
	if (s->len == 0 && !s->eof && (rv = sock_fill(s, deadline)) != 0)
		return (rv);
	*n = s->len < len ? s->len : len;
	sock_take(s, buf, *n);
	return (0);
}

int
ad_read_until(struct ad_job *aj, struct ad_sock *s, const char *delim,
    size_t max, double timeout, char **line, size_t *n)
{
	double	 deadline = sock_deadline(s, timeout);
	size_t	 dlen = strlen(delim), scanned = 0;
	char	*hit;
	int	 rv;

	*line = NULL;
	*n = 0;
	if (aj->job->cancel_reason != 0)
		return (aj->job->cancel_reason);
	if (dlen == 0)
		return (ASYNCD_EINVAL);
	for (;;) {
		if (s->len >= dlen && (hit = memmem(s->buf + scanned,
		    s->len - scanned, delim, dlen)) != NULL) {
			*n = (size_t)(hit - s->buf) + dlen;
			break;
		}
		if (s->len >= dlen)
			scanned = s->len - dlen + 1;
		if (s->len >= max)
			return (sock_fail(s, "read_until: no delimiter in "
			    "%zu bytes", max));
		if (s->eof)
			return (sock_fail(s, "read_until: connection closed "
			    "after %zu bytes, before the delimiter", s->len));
		if ((rv = sock_fill(s, deadline)) != 0)
			return (rv);
	}
	*line = xmalloc(*n + 1);
	sock_take(s, *line, *n);
	(*line)[*n] = '\0';
	return (0);
}

int
ad_write(struct ad_job *aj, struct ad_sock *s, const void *buf, size_t len,
    double timeout)
{
	double		 deadline = sock_deadline(s, timeout);
	const char	*p = buf;
	ssize_t		 n;
	int		 rv;

	if (aj->job->cancel_reason != 0)
		return (aj->job->cancel_reason);
	while (len > 0) {
		n = send(s->fd, p, len, MSG_NOSIGNAL);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return (sock_fail(s, "write: %s", strerror(errno)));
		if ((rv = sock_wait(s, EV_WRITE, deadline)) != 0) {
			if (rv == ASYNCD_ETIMEDOUT)
				sock_fail(s, "write: timed out");
			return (rv);
		}
	}
	return (0);
}

void
ad_close(struct ad_sock *s)
{
	if (s == NULL)
		return;
	ev_io_stop(s->job->sched->loop, &s->io);
	ev_timer_stop(s->job->sched->loop, &s->timer);
	if (s->fd != -1)
		close(s->fd);
	free(s->buf);
	free(s);
}
