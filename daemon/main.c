/*
 * main.c: asyncd's entry point: options, start-up, the loop, and an
 * orderly shutdown.
 *
 * Shutdown (SIGTERM, SIGINT or "shutdown") goes in steps, each with a
 * deadline: refuse new jobs and cancel every job; wait for the coroutines
 * to return (--drain-timeout); answer every request still held; let the
 * replies go out; then stop the loop, close the sockets and free
 * everything, so that a leak checker sees nothing.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"

#include <nng/protocol/reqrep0/req.h>

/* How long replies held at shutdown get to leave before the socket closes. */
#define MAIN_FLUSH_SECONDS	1.0

struct main_options {
	char		 url[PROTO_URL_MAX];
	char		 events[PROTO_URL_MAX];
	bool		 no_events;
	char		*state_dir;
	int		 log_level;
	int		 mode;
	double		 drain_timeout;
	struct sched_config sched;
	struct server_config server;
};

static const char main_usage[] =
"usage: asyncd [options]\n"
"\n"
"Runs jobs (named coroutines) for clients of the asyncd socket.\n"
"\n"
"  --socket URL          request socket (default: $ASYNCD_SOCKET, or\n"
"                        ipc://$XDG_RUNTIME_DIR/asyncd/asyncd.sock,\n"
"                        ipc:///run/asyncd/asyncd.sock as root,\n"
"                        ipc:///tmp/asyncd-$UID/asyncd.sock otherwise)\n"
"  --events URL|none     event (PUB) socket (default: next to --socket)\n"
"  --socket-mode MODE    permissions of ipc sockets (default 0660)\n"
"  --state-dir DIR       state directory (default $XDG_STATE_HOME/asyncd,\n"
"                        else /var/lib/asyncd as root, else\n"
"                        ~/.local/state/asyncd)\n"
"  --threads N           thread pool size (default: number of CPUs)\n"
"  --max-running N       top-level jobs running at once (default 1024)\n"
"  --max-coroutines N    live coroutines, children included (default\n"
"                        16384; each holds a stack with a guard page, and\n"
"                        vm.max_map_count, 65530 by default, caps those)\n"
"  --max-queued N        jobs waiting to run before submit says busy\n"
"                        (default 100000)\n"
"  --max-args-mib MIB    most memory the arguments of queued and running\n"
"                        jobs may hold before submit says busy (default\n"
"                        512)\n"
"  --stack-size KIB      coroutine stack size (default 256)\n"
"  --max-msg BYTES       largest request (default 1048576)\n"
"  --wait-cap SECONDS    longest a request is held (default 5)\n"
"  --retention SECONDS   how long finished jobs are kept (default 3600)\n"
"  --keep N              most finished jobs kept (default 10000)\n"
"  --keep-mib MIB        most memory finished jobs' arguments and results\n"
"                        may hold (default 256)\n"
"  --contexts N          most requests served at once (default 4096)\n"
"  --listener-check S    how often to check that new clients can connect,\n"
"                        and listen again if not (default 5; 0: never)\n"
"  --drain-timeout S     how long shutdown waits for jobs (default 10)\n"
"  --log-level LEVEL     error, warning, info (default) or debug\n"
"  --version             print the version and exit\n"
"  --help                print this and exit\n";

enum {
	OPT_SOCKET = 256, OPT_EVENTS, OPT_SOCKET_MODE, OPT_STATE_DIR,
	OPT_THREADS, OPT_MAX_RUNNING, OPT_MAX_COROUTINES, OPT_MAX_QUEUED,
	OPT_STACK_SIZE, OPT_MAX_MSG, OPT_WAIT_CAP, OPT_RETENTION, OPT_KEEP,
	OPT_KEEP_MIB, OPT_LISTENER_CHECK, OPT_MAX_ARGS_MIB,
	OPT_CONTEXTS, OPT_DRAIN_TIMEOUT, OPT_LOG_LEVEL, OPT_VERSION, OPT_HELP
};

static const struct option main_longopts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "events", required_argument, NULL, OPT_EVENTS },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "max-running", required_argument, NULL, OPT_MAX_RUNNING },
	{ "max-coroutines", required_argument, NULL, OPT_MAX_COROUTINES },
	{ "max-queued", required_argument, NULL, OPT_MAX_QUEUED },
	{ "max-args-mib", required_argument, NULL, OPT_MAX_ARGS_MIB },
	{ "stack-size", required_argument, NULL, OPT_STACK_SIZE },
	{ "max-msg", required_argument, NULL, OPT_MAX_MSG },
	{ "wait-cap", required_argument, NULL, OPT_WAIT_CAP },
	{ "retention", required_argument, NULL, OPT_RETENTION },
	{ "keep", required_argument, NULL, OPT_KEEP },
	{ "keep-mib", required_argument, NULL, OPT_KEEP_MIB },
	{ "contexts", required_argument, NULL, OPT_CONTEXTS },
	{ "listener-check", required_argument, NULL, OPT_LISTENER_CHECK },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 }
};

/* The long name of option ch, for messages. */
static const char *
main_optname(int ch)
{
	const struct option	*o;

	for (o = main_longopts; o->name != NULL; o++) {
		if (o->val == ch)
			return (o->name);
	}
	return ("?");
}

static void __attribute__((noreturn, format(printf, 1, 2)))
main_usage_error(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "asyncd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(asyncd --help lists the options)\n");
	exit(2);
}

static size_t
main_size(const char *opt, const char *arg, size_t min, size_t max)
{
	unsigned long long	 v;
	char			*end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' ||
	    v < min || v > max)
		main_usage_error("--%s must be an integer from %zu to %zu",
		    opt, min, max);
	return ((size_t)v);
}

static double
main_seconds(const char *opt, const char *arg)
{
	double	 v;
	char	*end;

	errno = 0;
	v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !isfinite(v) ||
	    v < 0 || v > PROTO_MAX_SECONDS)
		main_usage_error("--%s must be a number of seconds", opt);
	return (v);
}

static void
main_copy_url(char *dst, const char *opt, const char *src)
{
	if (strlen(src) >= PROTO_URL_MAX || *src == '\0')
		main_usage_error("--%s: URL empty or too long", opt);
	strcpy(dst, src);
}

static void
main_parse(struct main_options *o, int argc, char **argv)
{
	const char	*name;
	char		*end;
	long		 mode;
	int		 ch;

	memset(o, 0, sizeof *o);
	sched_config_default(&o->sched);
	o->log_level = LOG_INFO;
	o->mode = 0660;
	o->drain_timeout = 10;
	o->server.max_msg = PROTO_MAX_MSG;
	o->server.min_idle = 16;
	o->server.max_contexts = 4096;
	o->server.check = 5;
	if (proto_default_url(o->url, sizeof o->url) != 0)
		main_usage_error("$ASYNCD_SOCKET is too long");

	while ((ch = getopt_long(argc, argv, "", main_longopts, NULL)) != -1) {
		name = main_optname(ch);
		switch (ch) {
		case OPT_SOCKET:
			main_copy_url(o->url, name, optarg);
			break;
		case OPT_EVENTS:
			if (strcmp(optarg, "none") == 0)
				o->no_events = true;
			else
				main_copy_url(o->events, name, optarg);
			break;
		case OPT_SOCKET_MODE:
			mode = strtol(optarg, &end, 8);
			if (*optarg == '\0' || *end != '\0' || mode < 0 ||
			    mode > 0777)
				main_usage_error("--socket-mode must be octal "
				    "permissions, like 0660");
			o->mode = (int)mode;
			break;
		case OPT_STATE_DIR:
			o->state_dir = optarg;
			break;
		case OPT_THREADS:
			o->sched.threads = main_size(name, optarg, 1, 1024);
			break;
		case OPT_MAX_RUNNING:
			o->sched.max_running = main_size(name, optarg, 1,
			    1 << 20);
			break;
		case OPT_MAX_COROUTINES:
			o->sched.max_coroutines = main_size(name, optarg, 1,
			    1 << 20);
			break;
		case OPT_MAX_QUEUED:
			o->sched.max_queued = main_size(name, optarg, 1,
			    100000000);
			break;
		case OPT_STACK_SIZE:
			/* cJSON recurses as deep as 1000 levels. */
			o->sched.stack_size = main_size(name, optarg, 64,
			    65536) * 1024;
			break;
		case OPT_MAX_MSG:
			o->server.max_msg = main_size(name, optarg, 1024,
			    (size_t)256 << 20);
			break;
		case OPT_WAIT_CAP:
			o->sched.wait_cap = main_seconds(name, optarg);
			if (o->sched.wait_cap <= 0 || o->sched.wait_cap > 50)
				main_usage_error("--wait-cap must be above 0 "
				    "and at most 50 (below nng's resend "
				    "timer)");
			break;
		case OPT_RETENTION:
			o->sched.retention = main_seconds(name, optarg);
			break;
		case OPT_KEEP:
			o->sched.keep = main_size(name, optarg, 0, 100000000);
			break;
		case OPT_MAX_ARGS_MIB:
			o->sched.live_bytes = main_size(name, optarg, 1,
			    1 << 20) << 20;
			break;
		case OPT_KEEP_MIB:
			o->sched.keep_bytes = main_size(name, optarg, 1,
			    1 << 20) << 20;
			break;
		case OPT_CONTEXTS:
			o->server.max_contexts = main_size(name, optarg, 16,
			    1 << 20);
			break;
		case OPT_LISTENER_CHECK:
			o->server.check = main_seconds(name, optarg);
			break;
		case OPT_DRAIN_TIMEOUT:
			o->drain_timeout = main_seconds(name, optarg);
			break;
		case OPT_LOG_LEVEL:
			if ((o->log_level = log_level_parse(optarg)) == -1)
				main_usage_error("--log-level must be error, "
				    "warning, info or debug");
			break;
		case OPT_VERSION:
			printf("asyncd %s (protocol %d)\n", ASYNCD_VERSION,
			    PROTO_VERSION);
			exit(0);
		case OPT_HELP:
			printf("%s", main_usage);
			exit(0);
		default:
			/* getopt_long has said what was wrong. */
			fprintf(stderr, "(asyncd --help lists the options)\n");
			exit(2);
		}
	}
	if (optind != argc)
		main_usage_error("unexpected argument '%s'", argv[optind]);
	if (o->sched.max_coroutines < o->sched.max_running)
		o->sched.max_coroutines = o->sched.max_running;
	if (!o->no_events && o->events[0] == '\0' &&
	    proto_events_url(o->url, o->events, sizeof o->events) != 0)
		o->no_events = true;	/* tcp: only when asked for */
	o->server.url = o->url;
	o->server.mode = o->mode;
}

/*
 * Makes the directory an ipc:// socket lives in, if it is missing. Only
 * the last component is created; an existing one must be a directory
 * owned by us (or root), so another user cannot plant it.
 */
static void
main_socket_dir(const char *url)
{
	struct stat	 st;
	char		*path, *slash;
	mode_t		 mode;

	if (strncmp(url, "ipc://", 6) != 0)
		return;
	path = xstrdup(url + 6);
	if ((slash = strrchr(path, '/')) == NULL || slash == path) {
		free(path);
		return;
	}
	*slash = '\0';
	mode = strcmp(path, "/run/asyncd") == 0 ? 0755 : 0700;
	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		fprintf(stderr, "asyncd: cannot create %s: %s\n", path,
		    strerror(errno));
		exit(1);
	}
	if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    (st.st_uid != geteuid() && st.st_uid != 0)) {
		fprintf(stderr, "asyncd: %s is not a directory of ours\n",
		    path);
		exit(1);
	}
	free(path);
}

/*
 * Exits if a daemon already answers on an ipc:// url. nng_listen finds out
 * too, but by connecting and hanging up before the SP handshake, and in
 * nng 1.5.2 that stops the running daemon's listener for good: it accepts
 * no client again (nng issue #1518, fixed upstream after 1.5.2). A
 * client's dial completes the handshake, so the running daemon sees only
 * a client come and go.
 */
static void
main_check_running(const char *url)
{
	nng_socket	s;

	if (strncmp(url, "ipc://", 6) != 0 || nng_req0_open(&s) != 0)
		return;
	if (nng_dial(s, url, NULL, 0) == 0) {
		nng_close(s);
		fprintf(stderr, "asyncd: another asyncd is listening on %s\n",
		    url);
		exit(1);
	}
	nng_close(s);
}

/*
 * Creates the state directory (and its parents) and takes a lock in it, so
 * that two daemons never share one. Returns the lock's descriptor, which
 * stays open for the daemon's life.
 */
static int
main_state_dir(const char *given)
{
	const char	*home, *xdg;
	char		*dir, *p, *lock;
	int		 fd;

	if (given != NULL)
		dir = xstrdup(given);
	else if ((xdg = getenv("XDG_STATE_HOME")) != NULL && *xdg == '/')
		xasprintf(&dir, "%s/asyncd", xdg);
	else if (geteuid() == 0)
		dir = xstrdup("/var/lib/asyncd");
	else if ((home = getenv("HOME")) != NULL && *home == '/')
		xasprintf(&dir, "%s/.local/state/asyncd", home);
	else
		xasprintf(&dir, "/tmp/asyncd-%u/state", (unsigned)geteuid());

	for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		goto fail;
	xasprintf(&lock, "%s/asyncd.lock", dir);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		fprintf(stderr, "asyncd: %s: %s\n", lock, strerror(errno));
		exit(1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		fprintf(stderr, "asyncd: another asyncd uses %s\n", dir);
		exit(1);
	}
	free(lock);
	free(dir);
	return (fd);
fail:
	fprintf(stderr, "asyncd: cannot create state directory %s: %s\n",
	    dir, strerror(errno));
	exit(1);
}

static void
main_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon	*d = w->data;

	(void)loop;
	(void)revents;
	log_info("%s: shutting down", strsignal(w->signum));
	daemon_shutdown(d);
}

static void
main_sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	log_info("SIGHUP: no configuration to reload");
}

/* Tells systemd how things stand (a no-op outside systemd). */
static void
main_notify_status(struct daemon *d)
{
	struct sched	*s = &d->sched;

	sd_notifyf(0, "STATUS=%s: %zu running, %zu queued, %" PRIu64
	    " finished", d->stopping ? "stopping" : "serving", s->ncoros,
	    s->nqueued, s->nfinished);
}

static void
main_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon	*d = container_of(w, struct daemon, watchdog);

	(void)loop;
	(void)revents;
	sd_notify(0, "WATCHDOG=1");
	main_notify_status(d);
}

/*
 * Shutdown's steps, polled: jobs drained (or the drain deadline passed),
 * then held requests answered and their replies sent, then the loop ends.
 */
static void
main_drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon	*d = container_of(w, struct daemon, drain_timer);
	size_t		 contexts, busy;
	double		 now = ev_now(loop);

	(void)revents;
	if (!sched_idle(&d->sched) && now < d->drain_deadline)
		return;
	if (!d->flushing) {
		if (!sched_idle(&d->sched))
			log_warnx("jobs still running after --drain-timeout");
		/* From now on nothing is held: replies must leave now. */
		d->sched.no_holds = true;
		waiter_flush(&d->sched);
		d->flushing = true;
		d->drain_deadline = now + MAIN_FLUSH_SECONDS;
		return;
	}
	server_stats(d->server, &contexts, &busy);
	if (busy > 0 && now < d->drain_deadline)
		return;
	ev_timer_stop(loop, w);
	ev_break(loop, EVBREAK_ALL);
}

void
daemon_shutdown(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	sd_notify(0, "STOPPING=1");
	main_notify_status(d);
	sched_drain(&d->sched);
	d->drain_deadline = ev_now(d->loop) + d->drain_timeout;
	ev_timer_init(&d->drain_timer, main_drain_cb, 0., 0.02);
	ev_timer_again(d->loop, &d->drain_timer);
}

static void
main_signal_start(struct daemon *d, ev_signal *w, int signum,
    void (*cb)(struct ev_loop *, ev_signal *, int))
{
	ev_signal_init(w, cb, signum);
	w->data = d;
	ev_signal_start(d->loop, w);
	ev_unref(d->loop);
}

int
main(int argc, char **argv)
{
	struct main_options	 o;
	struct daemon		 d;
	uint64_t		 usec;
	int			 lockfd, rv;

	main_parse(&o, argc, argv);
	log_init(o.log_level);
	signal(SIGPIPE, SIG_IGN);
	memset(&d, 0, sizeof d);
	d.uid = geteuid();
	d.drain_timeout = o.drain_timeout;

	lockfd = main_state_dir(o.state_dir);
	main_socket_dir(o.url);
	main_check_running(o.url);
	if (!o.no_events)
		main_socket_dir(o.events);

	if ((d.loop = ev_default_loop(EVFLAG_AUTO)) == NULL)
		fatalx("cannot start the event loop");
	inbox_init(&d.inbox, d.loop);
	inbox_start(&d.inbox);
	ev_unref(d.loop);
	d.reg = registry_create();
	builtin_register(d.reg);
	if ((rv = sched_init(&d.sched, d.loop, d.reg, &o.sched,
	    &d.inbox)) != 0) {
		fprintf(stderr, "asyncd: cannot start the scheduler: %s\n",
		    strerror(rv));
		return (1);
	}
	if ((rv = events_start(&d.events, d.loop, o.no_events ? NULL :
	    o.events, o.mode, o.server.check)) != 0) {
		fprintf(stderr, "asyncd: cannot listen on %s: %s\n",
		    o.events, nng_strerror(rv));
		return (1);
	}
	d.sched.on_state = events_state;
	d.sched.on_progress = events_progress;
	d.sched.on_arg = d.events;
	if ((rv = server_start(&d.server, d.loop, &o.server, &d.inbox,
	    &d)) != 0) {
		fprintf(stderr, "asyncd: cannot listen on %s: %s%s\n", o.url,
		    nng_strerror(rv), rv == NNG_EADDRINUSE ?
		    " (is another asyncd running?)" : "");
		return (1);
	}

	main_signal_start(&d, &d.sigint, SIGINT, main_signal_cb);
	main_signal_start(&d, &d.sigterm, SIGTERM, main_signal_cb);
	main_signal_start(&d, &d.sighup, SIGHUP, main_sighup_cb);
	ev_timer_init(&d.watchdog, main_watchdog_cb, 0., 2.);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec / 2e6 < 2.)
		d.watchdog.repeat = usec / 2e6;
	if (getenv("NOTIFY_SOCKET") != NULL) {
		ev_timer_again(d.loop, &d.watchdog);
		ev_unref(d.loop);
	}

	log_info("asyncd %s listening on %s%s%s (%zu threads, max %zu "
	    "running)", ASYNCD_VERSION, o.url, o.no_events ? "" :
	    ", events on ", o.no_events ? "" : o.events, o.sched.threads,
	    o.sched.max_running);
	sd_notify(0, "READY=1");
	main_notify_status(&d);

	/* Nothing holds a reference: ev_break ends it (daemon_shutdown). */
	ev_ref(d.loop);
	ev_run(d.loop, 0);
	ev_unref(d.loop);

	ev_ref(d.loop);
	ev_signal_stop(d.loop, &d.sigint);
	ev_ref(d.loop);
	ev_signal_stop(d.loop, &d.sigterm);
	ev_ref(d.loop);
	ev_signal_stop(d.loop, &d.sighup);
	if (ev_is_active(&d.watchdog)) {
		ev_ref(d.loop);
		ev_timer_stop(d.loop, &d.watchdog);
	}
	/* Every held request is answered while its work still exists. */
	waiter_flush(&d.sched);
	server_stop(d.server);
	events_stop(d.events);
	/*
	 * A job's thread-pool work may ignore cancellation; if it is still
	 * running, its thread may use anything, so free nothing and go.
	 */
	if (!sched_threads_stop(&d.sched, MAIN_FLUSH_SECONDS)) {
		log_warnx("thread-pool work still running after shutdown; "
		    "exiting without cleaning up");
		_exit(1);
	}
	sched_fini(&d.sched);
	inbox_drain(&d.inbox);
	ev_ref(d.loop);
	inbox_stop(&d.inbox);
	inbox_fini(&d.inbox);
	registry_free(d.reg);
	ev_loop_destroy(d.loop);
	close(lockfd);
	log_debug("inbox: %" PRIu64 " items in %" PRIu64 " wake-ups",
	    d.inbox.handled, d.inbox.batches);
	log_info("stopped");
	nng_fini();
	return (0);
}
