/*
 * probe.c: keeps the daemon's nng ipc listener (the event socket's)
 * accepting. The request socket is the daemon's own (conn.c), which has
 * no such bug to watch for.
 *
 * nng before 1.6.0 (Debian 12 ships 1.5.2) stops a listener for good when
 * a peer hangs up in the middle of the SP handshake (nng #1518, fixed by
 * nng's pull request #1519): a port scanner, "nc -U", or another program's
 * nng_listen probing whether the path is in use, and the daemon is deaf to
 * every new client while the clients already connected carry on. Nothing
 * reports it: the transport still accepts and completes the handshake, and
 * the connection is then parked, never handed to the socket. So a probe
 * checks, every few seconds, the one thing that matters: that a new
 * connection reaches the socket.
 *
 * The probe is a plain AF_UNIX connection, never an nng socket: an nng
 * socket in the daemon that connects and hangs up while the daemon
 * publishes to it can wedge nng 1.5.2's reaper thread (a SUB pipe stopping
 * while a message is delivered to it), after which no connection is ever
 * freed and closing the sockets blocks for good. The probe connects,
 * writes the 8-byte SP header of the protocol the target expects (SUB
 * for the PUB socket) and keeps the connection until
 * the next tick. The target socket's "add pipe, before" notification
 * recognises the probe by its peer process id, which is the daemon's own,
 * counts it and closes it there, so the probe never reaches the socket's
 * protocol: it is never a subscriber and never sent anything.
 *
 * At the next tick the probe decides. Its connection reached the socket:
 * all is well. nng sent its half of the handshake but the connection did
 * not reach the socket: that is the bug, and the daemon listens again.
 * Neither (the daemon's nng threads have not got to it, on a loaded
 * machine): it waits one more tick before listening again. Either way it
 * waits at least two ticks and PROBE_PATIENCE seconds from its connect,
 * since a loaded machine can be that slow to hand a connection over. A
 * connect that fails because the socket file is gone or nobody listens
 * on it listens again at once. So a stopped listener is noticed within
 * two intervals (or PROBE_PATIENCE), and a slow machine does not raise
 * false alarms.
 *
 * Listening again must not drop the clients already connected: they hang
 * off the stopped listener, and closing it would close them. So the new
 * listener is bound at a spare name and renamed over the socket file, and
 * the stopped one stays open while clients still use it. But not for
 * ever: the connections a stopped listener accepted after it stopped are
 * parked inside it, and their clients wait in vain until it closes (nng
 * then closes them and they dial again, reaching the new listener). So the
 * probe counts each listener's connections (the socket's "pipe added" and
 * "pipe removed" notifications name the listener) and closes a stopped
 * one as soon as no client uses it, or PROBE_GRACE seconds after it
 * stopped, whichever comes first; the clients still on it then dial again
 * at once. A listener unlinks the name it was made with when it closes: a
 * stopped listener that has the real name is closed with the socket file
 * linked aside and renamed back, so the file is gone for a moment only,
 * and a client that dials in that moment dials again.
 *
 * Threads: the timer runs on the loop thread, which owns the probe; the
 * pipe callbacks run on nng's threads and only count (the table of
 * listeners is guarded by the probe's lock), close the probe's own pipe,
 * or pass the event on to the target's owner.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/*
 * Stopped listeners kept open for the clients they still carry; past this
 * the oldest is closed (its clients reconnect). Each holds a descriptor.
 */
#define PROBE_KEEP	8
/*
 * The longest a stopped listener is kept for its clients: the clients
 * parked in it wait this long at most (see above).
 */
#define PROBE_GRACE	30.0

/*
 * The least time a probe connection gets to arrive before the listener is
 * judged stopped, however short the interval: on a loaded machine nng's
 * threads can take a second to hand over a connection whose handshake
 * they already answered, and a listener stopped by #1518 stays stopped.
 */
#define PROBE_PATIENCE	2.0

/*
 * The probe's own connections closed on arrival and not yet gone: at most
 * one per tick is ever in flight, so a few slots are plenty.
 */
#define PROBE_CLOSED	16

/* The SP header's length: "\0SP\0", the protocol, two zero bytes. */
#define PROBE_HEADER	8

/* A listener of the target socket, and how many clients it carries. */
struct probe_listener {
	nng_listener		 l;
	int			 pipes;		/* live connections */
	double			 stopped;	/* when replaced; 0: current */
	bool			 real;		/* made with the real name */
};

struct probe {
	struct ev_loop		*loop;
	ev_timer		 timer;
	nng_socket		 target;	/* the socket listening */
	nng_listener		*listener;	/* its listener, replaced */
	char			*url;
	char			*path;		/* the socket file */
	char			*spare;		/* path ".new" */
	char			*spare_url;
	char			*aside;		/* path ".keep" */
	pthread_mutex_t		 lock;		/* guards ls, nls, closed */
	struct probe_listener	 ls[PROBE_KEEP + 1]; /* [0]: current */
	size_t			 nls;
	/*
	 * Ids of the probe's connections closed at ADD_PRE (0: free). nng
	 * still reports their REM_POST, though they were never added: that
	 * must not be counted as a client leaving.
	 */
	uint32_t		 closed[PROBE_CLOSED];
	nng_pipe_cb		 chain;		/* the owner's, for add/remove */
	void			*chain_arg;
	int			 mode;
	const char		*what;		/* for the log */
	uint16_t		 peer_proto;	/* what the target expects */
	uint64_t		 pid;		/* ours */
	int			 fd;		/* the probe connection; -1 */
	int			 slow;		/* ticks without an arrival */
	double			 connected;	/* when the probe connected */
	uint64_t		 arrivals_at_connect;
	atomic_uint_fast64_t	 arrivals;	/* probes the socket saw */
	uint64_t		 restarts;
};

/*
 * A connection is about to join the target socket (an nng thread). The
 * probe's own never does: it has shown what it came to show.
 */
static void
probe_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct probe	*p = arg;
	uint64_t	 pid;

	(void)ev;
	if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &pid) != 0 ||
	    pid != p->pid)
		return;
	pthread_mutex_lock(&p->lock);
	p->closed[nng_pipe_id(pipe) % PROBE_CLOSED] = (uint32_t)nng_pipe_id(pipe);
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_add(&p->arrivals, 1);
	nng_pipe_close(pipe);
}

/* A connection joined or left the target socket (an nng thread). */
static void
probe_count_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct probe	*p = arg;
	nng_listener	 l = nng_pipe_listener(pipe);
	size_t		 i;

	pthread_mutex_lock(&p->lock);
	if (ev == NNG_PIPE_EV_REM_POST &&
	    p->closed[nng_pipe_id(pipe) % PROBE_CLOSED] ==
	    (uint32_t)nng_pipe_id(pipe)) {
		/* The probe's own, closed before it was ever added. */
		p->closed[nng_pipe_id(pipe) % PROBE_CLOSED] = 0;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	for (i = 0; i < p->nls; i++) {
		if (nng_listener_id(p->ls[i].l) == nng_listener_id(l)) {
			p->ls[i].pipes += ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (p->chain != NULL)
		p->chain(pipe, ev, p->chain_arg);
}

/*
 * Closes a stopped listener (loop thread, lock not held). One made with
 * the real name would unlink the socket file, which now belongs to its
 * successor: the file is linked aside first and renamed back after.
 */
static void
probe_close_listener(struct probe *p, struct probe_listener *pl)
{
	bool	aside = false;

	if (pl->real) {
		(void)unlink(p->aside);
		if (link(p->path, p->aside) == -1) {
			log_warn("%s: link %s", p->what, p->aside);
			return;		/* kept until the socket closes */
		}
		aside = true;
	}
	nng_listener_close(pl->l);
	if (aside && rename(p->aside, p->path) == -1)
		log_warn("%s: rename %s", p->what, p->aside);
}

/*
 * Closes the stopped listeners no client uses any more, and those past
 * PROBE_GRACE (their clients dial again).
 */
static void
probe_reap(struct probe *p)
{
	struct probe_listener	 pl;
	double			 now = ev_now(p->loop);
	size_t			 i;
	int			 pipes;

	for (i = 1; i < p->nls;) {
		pthread_mutex_lock(&p->lock);
		pl = p->ls[i];
		pipes = pl.pipes;
		if (pipes > 0 && now - pl.stopped < PROBE_GRACE) {
			pthread_mutex_unlock(&p->lock);
			i++;
			continue;
		}
		memmove(&p->ls[i], &p->ls[i + 1], (p->nls - i - 1) *
		    sizeof p->ls[0]);
		p->nls--;
		pthread_mutex_unlock(&p->lock);
		if (pipes > 0)
			log_info("%s: closing the stopped listener; its %d "
			    "clients connect again", p->what, pipes);
		probe_close_listener(p, &pl);
	}
}

/* Makes l the current listener, keeping the stopped one (see above). */
static void
probe_keep(struct probe *p, nng_listener l)
{
	struct probe_listener	oldest;
	bool			full;

	pthread_mutex_lock(&p->lock);
	if ((full = p->nls == nitems(p->ls))) {
		oldest = p->ls[nitems(p->ls) - 1];
		p->nls--;
	}
	memmove(&p->ls[1], &p->ls[0], p->nls * sizeof p->ls[0]);
	p->nls++;
	p->ls[1].stopped = ev_now(p->loop);
	memset(&p->ls[0], 0, sizeof p->ls[0]);
	p->ls[0].l = l;
	pthread_mutex_unlock(&p->lock);
	if (full)
		probe_close_listener(p, &oldest);
}

/* Listens again on the same address, keeping the clients connected. */
static void
probe_relisten(struct probe *p, const char *why)
{
	nng_listener	l;
	int		rv;

	p->restarts++;
	log_warnx("%s: new clients cannot connect to %s (%s); listening "
	    "again", p->what, p->url, why);
	if (unlink(p->spare) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", p->what, p->spare);
	if ((rv = nng_listener_create(&l, p->target, p->spare_url)) != 0 ||
	    (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS,
	    p->mode)) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		/* Next tick tries again: the probe will still fail. */
		log_warnx("%s: cannot listen on %s: %s", p->what,
		    p->spare_url, nng_strerror(rv));
		return;
	}
	if (rename(p->spare, p->path) == -1) {
		log_warn("%s: rename %s", p->what, p->spare);
		nng_listener_close(l);
		return;
	}
	probe_keep(p, l);
	*p->listener = l;
}

static void
probe_close(struct probe *p)
{
	if (p->fd != -1) {
		close(p->fd);
		p->fd = -1;
	}
}

/* True if nng has sent its half of the handshake on the probe. */
static bool
probe_answered(struct probe *p)
{
	char	buf[PROBE_HEADER];

	return (recv(p->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) ==
	    PROBE_HEADER && buf[1] == 'S' && buf[2] == 'P');
}

/*
 * Opens a probe connection and sends our half of the handshake. Returns 0,
 * or an errno value when the connection cannot be made.
 */
static int
probe_connect(struct probe *p)
{
	struct sockaddr_un	 sun;
	unsigned char		 hdr[PROBE_HEADER] = { 0, 'S', 'P', 0 };
	int			 fd;

	if (!proto_unix_addr(p->path, &sun))
		return (ENAMETOOLONG);
	hdr[4] = (unsigned char)(p->peer_proto >> 8);
	hdr[5] = (unsigned char)(p->peer_proto & 0xff);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (errno);
	p->arrivals_at_connect = atomic_load(&p->arrivals);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    send(fd, hdr, sizeof hdr, MSG_NOSIGNAL) != (ssize_t)sizeof hdr) {
		int	saved = errno;

		close(fd);
		return (saved);
	}
	p->fd = fd;
	p->connected = ev_now(p->loop);
	return (0);
}

static void
probe_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct probe	*p = container_of(w, struct probe, timer);
	int		 rv;

	(void)revents;
	probe_reap(p);
	if (p->fd != -1) {
		if (atomic_load(&p->arrivals) != p->arrivals_at_connect) {
			p->slow = 0;
		} else if (++p->slow < 2 ||
		    ev_now(loop) - p->connected < PROBE_PATIENCE) {
			return;		/* a slow machine: wait on */
		} else if (probe_answered(p)) {
			/* Handshake done, never handed over: #1518. */
			p->slow = 0;
			probe_relisten(p, "the listener stopped");
		} else {
			p->slow = 0;
			probe_relisten(p, "nothing accepts connections");
		}
		probe_close(p);
	}
	switch ((rv = probe_connect(p))) {
	case 0:
	case EAGAIN:		/* the backlog is full: busy, not broken */
	case EINTR:
		break;
	case ENOENT:
	case ECONNREFUSED:
		probe_relisten(p, rv == ENOENT ? "the socket file is gone" :
		    "the socket file is not ours any more");
		break;
	default:
		log_debug("%s: probe: %s", p->what, strerror(rv));
		break;
	}
}

/* True if this nng has the listener bug, so that probing is needed. */
bool
probe_needed(void)
{
	unsigned	maj = 0, min = 0;

	if (sscanf(nng_version(), "%u.%u", &maj, &min) != 2)
		return (true);
	return (maj < 1 || (maj == 1 && min < 6));
}

int
probe_start(struct probe **out, struct ev_loop *loop, nng_socket target,
    nng_listener *listener, const char *url, int mode, const char *what,
    uint16_t peer_proto, double every, nng_pipe_cb chain, void *chain_arg)
{
	struct probe	*p;

	*out = NULL;
	if (every <= 0 || strncmp(url, "ipc://", 6) != 0) {
		if (chain != NULL) {
			nng_pipe_notify(target, NNG_PIPE_EV_ADD_POST, chain,
			    chain_arg);
			nng_pipe_notify(target, NNG_PIPE_EV_REM_POST, chain,
			    chain_arg);
		}
		return (0);
	}
	p = xcalloc(1, sizeof *p);
	p->loop = loop;
	p->target = target;
	p->listener = listener;
	p->url = xstrdup(url);
	p->path = xstrdup(url + 6);
	xasprintf(&p->spare, "%s.new", p->path);
	xasprintf(&p->spare_url, "ipc://%s", p->spare);
	xasprintf(&p->aside, "%s.keep", p->path);
	pthread_mutex_init(&p->lock, NULL);
	p->ls[0].l = *listener;
	p->ls[0].real = true;
	p->nls = 1;
	p->chain = chain;
	p->chain_arg = chain_arg;
	p->mode = mode;
	p->what = what;
	p->peer_proto = peer_proto;
	p->pid = (uint64_t)getpid();
	p->fd = -1;
	atomic_init(&p->arrivals, 0);
	nng_pipe_notify(target, NNG_PIPE_EV_ADD_PRE, probe_pipe_cb, p);
	nng_pipe_notify(target, NNG_PIPE_EV_ADD_POST, probe_count_cb, p);
	nng_pipe_notify(target, NNG_PIPE_EV_REM_POST, probe_count_cb, p);
	ev_timer_init(&p->timer, probe_cb, every, every);
	ev_timer_start(loop, &p->timer);
	ev_unref(loop);
	*out = p;
	return (0);
}

void
probe_stop(struct probe *p)
{
	if (p == NULL)
		return;
	ev_ref(p->loop);
	ev_timer_stop(p->loop, &p->timer);
	probe_close(p);
	nng_pipe_notify(p->target, NNG_PIPE_EV_ADD_PRE, NULL, NULL);
	/* The owner goes on counting until its socket closes. */
	nng_pipe_notify(p->target, NNG_PIPE_EV_ADD_POST, p->chain,
	    p->chain_arg);
	nng_pipe_notify(p->target, NNG_PIPE_EV_REM_POST, p->chain,
	    p->chain_arg);
}

/*
 * After the target socket has closed: until then one of nng's threads may
 * still be in probe_pipe_cb, which nng_pipe_notify does not wait for.
 */
void
probe_free(struct probe *p)
{
	if (p == NULL)
		return;
	free(p->url);
	free(p->path);
	free(p->spare);
	free(p->spare_url);
	free(p->aside);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

uint64_t
probe_restarts(const struct probe *p)
{
	return (p != NULL ? p->restarts : 0);
}
