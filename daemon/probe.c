/*
 * probe.c: keeps the daemon's ipc listeners accepting.
 *
 * nng 1.5.2 (Debian 12's) stops a listener for good when a peer hangs up
 * in the middle of the SP handshake (nng #1518, fixed upstream after
 * 1.5.2): a port scanner, "nc -U", or another program's nng_listen probing
 * whether the path is in use, and the daemon is deaf to every new client
 * while the clients already connected carry on. Nothing reports it, and a
 * client still completes the transport's handshake: the connection is
 * then parked, never handed to the socket. So a probe checks, every few
 * seconds, the one thing that matters: that a new connection reaches the
 * socket. It dials the listener from a socket of its own and counts the
 * target socket's own "pipe added" events; if none came by the next tick,
 * the daemon listens again on the same address (which also brings back a
 * socket file someone deleted). The probe hangs up as soon as its side of
 * the handshake is done, which cannot hurt the listener, so that it is not
 * a subscriber of the event socket for long.
 *
 * Listening again must not drop the clients already connected: they hang
 * off the stopped listener, and closing it would close them. So the
 * stopped one stays open, and the new listener is bound at a spare name
 * and renamed over the socket file. (A listener unlinks the name it was
 * made with when it closes: the first one's is the real name, so it stays
 * open until the daemon's socket closes; the later ones use the spare
 * name, which exists only for the moment of a rename, and the oldest of
 * them may be closed to bound how many are kept.)
 *
 * Threads: the timer runs on the loop thread, which owns the probe; the
 * pipe callbacks run on nng's threads and only count, close their own
 * pipe, or pass the event on to the target's owner.
 */
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

struct probe {
	struct ev_loop		*loop;
	ev_timer		 timer;
	nng_socket		 target;	/* the socket listening */
	nng_listener		*listener;	/* its listener, replaced */
	char			*url;
	char			*path;		/* the socket file */
	char			*spare;		/* path ".new" */
	char			*spare_url;
	nng_listener		 kept[PROBE_KEEP]; /* stopped, spare name */
	size_t			 nkept;
	bool			 first_kept;	/* the original, real name */
	int			 mode;
	const char		*what;		/* for the log */
	nng_socket		 sock;		/* the probe's own */
	nng_dialer		 dialer;
	bool			 dialing;
	uint64_t		 adds_at_dial;
	atomic_uint_fast64_t	 adds;		/* the target's new pipes */
	nng_pipe_cb		 chain;		/* the owner's, for adds */
	void			*chain_arg;
	uint64_t		 restarts;
};

/* The probe's own socket connected: its side of the handshake is done. */
static void
probe_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	(void)ev;
	(void)arg;
	nng_pipe_close(pipe);
}

/* A connection reached the target socket: the listener works. */
static void
probe_target_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct probe	*p = arg;

	atomic_fetch_add(&p->adds, 1);
	if (p->chain != NULL)
		p->chain(pipe, ev, p->chain_arg);
}

/* Keeps the stopped listener open for its clients (see above). */
static void
probe_keep(struct probe *p, nng_listener old)
{
	if (!p->first_kept) {
		p->first_kept = true;	/* nng closes it with the socket */
		return;
	}
	if (p->nkept == PROBE_KEEP) {
		nng_listener_close(p->kept[0]);
		memmove(&p->kept[0], &p->kept[1],
		    (PROBE_KEEP - 1) * sizeof p->kept[0]);
		p->nkept--;
	}
	p->kept[p->nkept++] = old;
}

/* Listens again on the same address, keeping the clients connected. */
static void
probe_relisten(struct probe *p)
{
	nng_listener	l;
	int		rv;

	p->restarts++;
	log_warnx("%s: new clients cannot connect to %s; listening again "
	    "(nng 1.5.2 stops a listener when a client hangs up during its "
	    "handshake)", p->what, p->url);
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
	probe_keep(p, *p->listener);
	*p->listener = l;
}

static void
probe_dial(struct probe *p)
{
	int	rv;

	p->adds_at_dial = atomic_load(&p->adds);
	if ((rv = nng_dialer_create(&p->dialer, p->sock, p->url)) != 0)
		return;
	/* Once per tick: a dialer redials on its own after a hang-up. */
	(void)nng_dialer_set_ms(p->dialer, NNG_OPT_RECONNMINT,
	    (nng_duration)(p->timer.repeat * 1000) + 1000);
	(void)nng_dialer_set_ms(p->dialer, NNG_OPT_RECONNMAXT,
	    (nng_duration)(p->timer.repeat * 1000) + 1000);
	if (nng_dialer_start(p->dialer, NNG_FLAG_NONBLOCK) != 0) {
		nng_dialer_close(p->dialer);
		return;
	}
	p->dialing = true;
}

static void
probe_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct probe	*p = container_of(w, struct probe, timer);

	(void)loop;
	(void)revents;
	if (p->dialing) {
		nng_dialer_close(p->dialer);
		p->dialing = false;
		if (atomic_load(&p->adds) == p->adds_at_dial)
			probe_relisten(p);
	}
	probe_dial(p);
}

int
probe_start(struct probe **out, struct ev_loop *loop, nng_socket target,
    nng_listener *listener, const char *url, int mode, const char *what,
    int (*open)(nng_socket *), double every, nng_pipe_cb chain,
    void *chain_arg)
{
	struct probe	*p;
	int		 rv;

	*out = NULL;
	if (every <= 0 || strncmp(url, "ipc://", 6) != 0) {
		if (chain != NULL)
			nng_pipe_notify(target, NNG_PIPE_EV_ADD_POST, chain,
			    chain_arg);
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
	p->mode = mode;
	p->what = what;
	p->chain = chain;
	p->chain_arg = chain_arg;
	atomic_init(&p->adds, 0);
	if ((rv = open(&p->sock)) != 0) {
		probe_free(p);
		return (rv);
	}
	nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, probe_pipe_cb, p);
	nng_pipe_notify(target, NNG_PIPE_EV_ADD_POST, probe_target_cb, p);
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
	/* Closing the socket closes its dialer; no callback runs after. */
	nng_close(p->sock);
	nng_pipe_notify(p->target, NNG_PIPE_EV_ADD_POST, p->chain,
	    p->chain_arg);
}

/*
 * After the target socket has closed: until then one of nng's threads may
 * still be in probe_target_cb, which nng_pipe_notify does not wait for.
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
	free(p);
}

uint64_t
probe_restarts(const struct probe *p)
{
	return (p != NULL ? p->restarts : 0);
}
