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
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"

#include <nng/protocol/reqrep0/req.h>

/* How long replies held at shutdown get to leave before the socket closes. */
#define MAIN_FLUSH_SECONDS	1.0
/*
 * Shutdown's hard deadline, past the drain timeout: time for the replies
 * to leave, the sockets to close and the pool to stop. Past it something
 * is stuck (in nng, or in a job's thread-pool work) and the daemon logs
 * it and exits anyway: a service that does not stop is worse.
 */
#define MAIN_HARD_SECONDS	5.0
/* How long the check for another daemon waits for its handshake. */
#define MAIN_CHECK_MS		2000

struct main_options {
	char		 url[PROTO_URL_MAX];
	char		 events[PROTO_URL_MAX];
	bool		 no_events;
	char		*state_dir;
	int		 log_level;
	int		 mode;
	int		 events_mode;
	double		 drain_timeout;
	size_t		 log_max;	/* bytes of command output kept */
	const char	**exec_allow;	/* --exec-allow, repeated */
	size_t		 nexec_allow;
	char		*jobs_dir;	/* --jobs-dir; NULL: the default */
	bool		 check_jobs;	/* --check-jobs: validate and exit */
	enum store_durability durability;
	char		*plugin_dir;	/* --plugin-dir; NULL: the default */
	bool		 worker;	/* --worker: a process-pool worker */
	size_t		 workers;	/* --workers; 0: CPUs */
	uint64_t	 max_calls;	/* --max-calls-per-worker; 0: none */
	const char	*log_level_name;
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
"  --socket-mode MODE    permissions of the request socket (default 0660)\n"
"  --events-mode MODE    permissions of the event socket (default 0600:\n"
"                        whoever can connect sees every job's events)\n"
"  --state-dir DIR       state directory (default $XDG_STATE_HOME/asyncd,\n"
"                        else /var/lib/asyncd as root, else\n"
"                        ~/.local/state/asyncd, else\n"
"                        /tmp/asyncd-$UID/state)\n"
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
"  --retention SECONDS   how long finished jobs are kept (default 604800,\n"
"                        7 days)\n"
"  --keep N              most finished jobs kept (default 10000)\n"
"  --keep-mib MIB        most memory finished jobs' arguments and results\n"
"                        may hold (default 256)\n"
"  --contexts N          most requests served at once (default 4096)\n"
"  --listener-check S    how often to check that new clients can connect,\n"
"                        and listen again if not (default 1 with nng\n"
"                        before 1.6.0, which needs it; else 0: never)\n"
"  --drain-timeout S     how long shutdown waits for jobs (default 10)\n"
"  --exec-allow WHO      a user or @group who may run exec jobs besides\n"
"                        root and the daemon's user (repeatable); commands\n"
"                        run with the daemon's privileges\n"
"  --log-max-mib MIB     most disk the output logs of commands may take;\n"
"                        the oldest go first (default 1024)\n"
"  --jobs-dir DIR        configured commands, one DIR/TYPE.json per job\n"
"                        type (default $XDG_CONFIG_HOME/asyncd/jobs.d,\n"
"                        /etc/asyncd/jobs.d as root)\n"
"  --check-jobs          check the files of the jobs directory, say what\n"
"                        is wrong with each, and exit (1 if any is bad)\n"
"  --durability MODE     none (memory only: a restart forgets every job),\n"
"                        process (default: jobs survive the daemon dying)\n"
"                        or power (fsync per commit: they survive the\n"
"                        machine dying); kept in STATE-DIR/jobs.db\n"
"  --plugin-dir DIR      plugins, every DIR/*.so, loaded at start (default\n"
"                        $XDG_DATA_HOME/asyncd/plugins, else\n"
"                        ~/.local/share/asyncd/plugins; as root\n"
"                        /usr/lib/asyncd/plugins)\n"
"  --workers N           most process-pool workers (default: number of\n"
"                        CPUs); started when first needed\n"
"  --max-calls-per-worker N\n"
"                        replace a worker after N calls (default 0: never)\n"
"  --log-level LEVEL     error, warning, info (default) or debug\n"
"  --version             print the version and exit\n"
"  --help                print this and exit\n";

enum {
	OPT_SOCKET = 256, OPT_EVENTS, OPT_SOCKET_MODE, OPT_EVENTS_MODE,
	OPT_STATE_DIR,
	OPT_THREADS, OPT_MAX_RUNNING, OPT_MAX_COROUTINES, OPT_MAX_QUEUED,
	OPT_STACK_SIZE, OPT_MAX_MSG, OPT_WAIT_CAP, OPT_RETENTION, OPT_KEEP,
	OPT_KEEP_MIB, OPT_LISTENER_CHECK, OPT_MAX_ARGS_MIB,
	OPT_CONTEXTS, OPT_DRAIN_TIMEOUT, OPT_LOG_LEVEL, OPT_VERSION, OPT_HELP,
	OPT_EXEC_ALLOW, OPT_LOG_MAX_MIB, OPT_JOBS_DIR, OPT_CHECK_JOBS,
	OPT_DURABILITY, OPT_PLUGIN_DIR, OPT_WORKERS, OPT_MAX_CALLS, OPT_WORKER
};

static const struct option main_longopts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "events", required_argument, NULL, OPT_EVENTS },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "events-mode", required_argument, NULL, OPT_EVENTS_MODE },
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
	{ "exec-allow", required_argument, NULL, OPT_EXEC_ALLOW },
	{ "log-max-mib", required_argument, NULL, OPT_LOG_MAX_MIB },
	{ "jobs-dir", required_argument, NULL, OPT_JOBS_DIR },
	{ "check-jobs", no_argument, NULL, OPT_CHECK_JOBS },
	{ "durability", required_argument, NULL, OPT_DURABILITY },
	{ "plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "max-calls-per-worker", required_argument, NULL, OPT_MAX_CALLS },
	/* Not in --help: the daemon starts its workers with it. */
	{ "worker", no_argument, NULL, OPT_WORKER },
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

/* Octal permissions, like 0660. */
static int
main_mode(const char *opt, const char *arg)
{
	char	*end;
	long	 mode;

	mode = strtol(arg, &end, 8);
	if (*arg == '\0' || *end != '\0' || mode < 0 || mode > 0777)
		main_usage_error("--%s must be octal permissions, like 0660",
		    opt);
	return ((int)mode);
}

static void
main_parse(struct main_options *o, int argc, char **argv)
{
	const char	*name;
	int		 ch;

	memset(o, 0, sizeof *o);
	sched_config_default(&o->sched);
	o->log_level = LOG_INFO;
	o->durability = STORE_PROCESS;
	o->log_level_name = "info";
	o->mode = 0660;
	/* Events carry keys and messages of everyone's jobs: admins only. */
	o->events_mode = 0600;
	o->drain_timeout = 10;
	o->log_max = (size_t)1024 << 20;
	o->server.max_msg = PROTO_MAX_MSG;
	o->server.min_idle = 16;
	o->server.max_contexts = 4096;
	/*
	 * Only nng before 1.6.0 stops listeners (probe.c). Every second: any
	 * client killed in its handshake (an asyncctl interrupted as it
	 * connects, on a loaded machine) deafens the listener until the probe
	 * notices, which takes two ticks and at least PROBE_PATIENCE; at 5 s
	 * that was up to 15 s of refused clients. A tick costs one local
	 * connection.
	 */
	o->server.check = probe_needed() ? 1 : 0;
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
			o->mode = main_mode(name, optarg);
			break;
		case OPT_EVENTS_MODE:
			o->events_mode = main_mode(name, optarg);
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
		case OPT_EXEC_ALLOW:
			o->exec_allow = xreallocarray(o->exec_allow,
			    o->nexec_allow + 1, sizeof *o->exec_allow);
			o->exec_allow[o->nexec_allow++] = optarg;
			break;
		case OPT_JOBS_DIR:
			o->jobs_dir = optarg;
			break;
		case OPT_CHECK_JOBS:
			o->check_jobs = true;
			break;
		case OPT_DURABILITY:
			if (strcmp(optarg, "none") == 0)
				o->durability = STORE_NONE;
			else if (strcmp(optarg, "process") == 0)
				o->durability = STORE_PROCESS;
			else if (strcmp(optarg, "power") == 0)
				o->durability = STORE_POWER;
			else
				main_usage_error("--durability must be none, "
				    "process or power");
			break;
		case OPT_PLUGIN_DIR:
			o->plugin_dir = optarg;
			break;
		case OPT_WORKERS:
			o->workers = main_size(name, optarg, 1, 1024);
			break;
		case OPT_MAX_CALLS:
			o->max_calls = main_size(name, optarg, 0, SIZE_MAX);
			break;
		case OPT_WORKER:
			o->worker = true;
			break;
		case OPT_LOG_MAX_MIB:
			o->log_max = main_size(name, optarg, 1, 1 << 24) << 20;
			break;
		case OPT_LOG_LEVEL:
			if ((o->log_level = log_level_parse(optarg)) == -1)
				main_usage_error("--log-level must be error, "
				    "warning, info or debug");
			o->log_level_name = optarg;
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
	/* Others could replace the socket in a directory they can write. */
	if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
		fprintf(stderr, "asyncd: %s is writable by others; make it "
		    "0700 (chmod go-w %s)\n", path, path);
		exit(1);
	}
	free(path);
}

/*
 * Exits if a daemon already answers on an ipc:// url. nng_listen finds out
 * too, but by connecting and hanging up before the SP handshake, and in
 * nng before 1.6.0 that stops the running daemon's listener for good (nng
 * issue #1518). So this connects as a client would and completes the
 * handshake (our header, then theirs) before hanging up: the running
 * daemon sees a client come and go. No nng socket is opened for it: the
 * daemon's own nng sockets are the only ones it ever has.
 */
static void
main_check_running(const char *url)
{
	static const unsigned char hdr[8] = { 0, 'S', 'P', 0,
	    NNG_REQ0_SELF >> 8, NNG_REQ0_SELF & 0xff, 0, 0 };
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	unsigned char		 reply[8];
	ssize_t			 n = 0;
	int			 fd;

	if (strncmp(url, "ipc://", 6) != 0 || !proto_unix_addr(url + 6, &sun))
		return;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);	/* nobody there: a stale file at most */
		return;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (send(fd, hdr, sizeof hdr, MSG_NOSIGNAL) == (ssize_t)sizeof hdr &&
	    poll(&pfd, 1, MAIN_CHECK_MS) == 1)
		n = recv(fd, reply, sizeof reply, MSG_WAITALL);
	close(fd);
	if (n == (ssize_t)sizeof reply && reply[1] == 'S' && reply[2] == 'P')
		fprintf(stderr, "asyncd: another asyncd is listening on %s\n",
		    url);
	else
		fprintf(stderr, "asyncd: another program is listening on %s\n",
		    url);
	exit(1);
}

/*
 * Creates the state directory (and its parents, private to us) and takes a
 * lock in it, so that two daemons never share one; the lock file holds the
 * pid, to name the other daemon. Returns the lock's descriptor, which
 * stays open for the daemon's life, and sets *dirp to the directory.
 */
static int
main_state_dir(const char *given, char **dirp)
{
	const char	*home, *xdg;
	char		*dir, *p, *lock, pid[32];
	ssize_t		 n;
	int		 fd, len;

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

	/* Parents we make are ours alone (/tmp/asyncd-$UID holds sockets). */
	for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
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
		n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		fprintf(stderr, "asyncd: another asyncd%s%s%s uses the state "
		    "directory %s; give this one its own with --state-dir\n",
		    *pid != '\0' ? " (pid " : "", pid, *pid != '\0' ? ")" :
		    "", dir);
		exit(1);
	}
	len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warn("%s: cannot record the pid", lock);
	free(lock);
	*dirp = dir;
	return (fd);
fail:
	fprintf(stderr, "asyncd: cannot create state directory %s: %s\n",
	    dir, strerror(errno));
	exit(1);
}

/* The jobs directory: --jobs-dir, or the default. Allocated. */
static char *
main_jobs_dir(const char *given)
{
	const char	*home, *xdg;
	char		*dir;

	if (given != NULL)
		return (xstrdup(given));
	if (geteuid() == 0)
		return (xstrdup("/etc/asyncd/jobs.d"));
	if ((xdg = getenv("XDG_CONFIG_HOME")) != NULL && *xdg == '/')
		xasprintf(&dir, "%s/asyncd/jobs.d", xdg);
	else if ((home = getenv("HOME")) != NULL && *home == '/')
		xasprintf(&dir, "%s/.config/asyncd/jobs.d", home);
	else
		dir = xstrdup("/etc/asyncd/jobs.d");
	return (dir);
}

/* The plugin directory: --plugin-dir, or the default. Allocated. */
static char *
main_plugin_dir(const char *given)
{
	const char	*home, *xdg;
	char		*dir;

	if (given != NULL)
		return (xstrdup(given));
	if (geteuid() == 0)
		return (xstrdup("/usr/lib/asyncd/plugins"));
	if ((xdg = getenv("XDG_DATA_HOME")) != NULL && *xdg == '/')
		xasprintf(&dir, "%s/asyncd/plugins", xdg);
	else if ((home = getenv("HOME")) != NULL && *home == '/')
		xasprintf(&dir, "%s/.local/share/asyncd/plugins", home);
	else
		dir = xstrdup("/usr/lib/asyncd/plugins");
	return (dir);
}

/*
 * asyncd --check-jobs: reads the jobs directory as a start would, logs
 * each bad file, and exits 0 only if every file is good.
 */
static void __attribute__((noreturn))
main_check_jobs(const struct main_options *o)
{
	struct registry	*reg = registry_create();
	struct jobsd	*js;
	size_t		 nbad, ntypes;
	char		*dir = main_jobs_dir(o->jobs_dir);

	builtin_register(reg);
	exec_register(reg, NULL);
	jobsd_load(&js, dir, reg, &nbad);
	ntypes = jobsd_count(js);
	log_flush();
	printf("%s: %zu job type%s, %zu bad file%s\n", dir, ntypes,
	    ntypes == 1 ? "" : "s", nbad, nbad == 1 ? "" : "s");
	registry_free(reg);
	jobsd_free(js);
	free(dir);
	exit(nbad == 0 ? 0 : 1);
}

const char *
main_durability_name(enum store_durability dur)
{
	switch (dur) {
	case STORE_PROCESS:
		return ("process");
	case STORE_POWER:
		return ("power");
	default:
		return ("none");
	}
}

/* store_load's function: each stored job back into the scheduler. */
static void
main_restore(void *arg, const struct store_row *row)
{
	struct daemon	*d = arg;

	sched_restore(&d->sched, row);
}

/*
 * Opens the job store and brings its jobs back (startup). Exits with a
 * message naming the file if it cannot.
 */
static void
main_store_open(struct daemon *d, const char *state_dir, struct ids *ids)
{
	char		*path, *cause = NULL;
	uint64_t	 next;
	int		 rv;

	xasprintf(&path, "%s/jobs.db", state_dir);
	if (store_open(&d->store, path, d->durability, ids, &d->inbox,
	    &cause) != 0)
		goto fail;
	d->sched.store = d->store;
	if (store_load(d->store, main_restore, d, d->sched.cfg.keep, &next,
	    &cause) != 0)
		goto fail;
	/* Ids go on past every stored job, whatever next-id says. */
	if ((rv = ids_raise(ids, next, &cause)) != 0)
		goto fail;
	d->sched.stored_next = next;
	if ((rv = store_start(d->store)) != 0) {
		xasprintf(&cause, "cannot start the store thread: %s",
		    strerror(rv));
		goto fail;
	}
	/* The ids mean the store's jobs, whichever daemon answers. */
	snprintf(d->instance, sizeof d->instance, "%s",
	    store_identity_text(d->store));
	log_info("job store %s (durability %s): %zu jobs queued, %zu "
	    "finished kept", path, main_durability_name(d->durability),
	    d->sched.nqueued, d->sched.tab.nfinished);
	free(path);
	return;
fail:
	log_flush();
	fprintf(stderr, "asyncd: %s\n", cause != NULL ? cause :
	    "cannot open the job store");
	exit(1);
}

/* A new random id for this start of the daemon: 16 hex digits. */
static void
main_instance(char *buf, size_t len)
{
	uint64_t	v = 0;

	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	snprintf(buf, len, "%016" PRIx64, v);
}

/*
 * The hard deadline of shutdown: a thread that ends the process if the
 * orderly shutdown has not finished in time (see MAIN_HARD_SECONDS).
 */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	pthread_t	 thread;
	bool		 started;
	bool		 done;
	double		 seconds;
} main_deadline = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void *
main_deadline_main(void *arg)
{
	struct timespec	ts;
	bool		done;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)main_deadline.seconds;
	ts.tv_nsec += (long)((main_deadline.seconds -
	    floor(main_deadline.seconds)) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&main_deadline.lock);
	while (!main_deadline.done) {
		if (pthread_cond_timedwait(&main_deadline.cond,
		    &main_deadline.lock, &ts) == ETIMEDOUT)
			break;
	}
	done = main_deadline.done;
	pthread_mutex_unlock(&main_deadline.lock);
	if (!done) {
		log_warnx("shutdown did not finish within %.0f s; exiting now",
		    main_deadline.seconds);
		log_flush();
		_exit(1);
	}
	return (NULL);
}

static void
main_deadline_start(double seconds)
{
	pthread_condattr_t	attr;

	if (main_deadline.started)
		return;
	main_deadline.seconds = seconds;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&main_deadline.cond, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&main_deadline.thread, NULL, main_deadline_main,
	    NULL) != 0) {
		log_warn("%s: pthread_create", __func__);
		return;
	}
	main_deadline.started = true;
}

static void
main_deadline_stop(void)
{
	if (!main_deadline.started)
		return;
	pthread_mutex_lock(&main_deadline.lock);
	main_deadline.done = true;
	pthread_cond_signal(&main_deadline.cond);
	pthread_mutex_unlock(&main_deadline.lock);
	pthread_join(main_deadline.thread, NULL);
	pthread_cond_destroy(&main_deadline.cond);
	main_deadline.started = false;
}

/*
 * The signals the loop handles are blocked in every thread (this runs
 * before any thread exists, and threads inherit the mask) and read from a
 * signalfd by the loop: a child's exit or a SIGTERM then wakes the loop
 * itself, not whichever of nng's threads the kernel picked to run a
 * handler, which would have to wake the loop in turn. Commands get an
 * empty mask (proc.c).
 */
static void
main_block_signals(void)
{
	sigset_t	set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
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

/* The log thread's reports (outlog.c), on the loop. */
static void
main_outlog_commit(void *arg, uint64_t id, const uint64_t size[2],
    const bool cut[2])
{
	struct daemon	*d = arg;

	exec_output_commit(&d->sched, id, size, cut);
}

static void
main_outlog_drain(void *arg)
{
	struct daemon	*d = arg;

	exec_drained(&d->exec);
}

static size_t
main_cpus(void)
{
	long	n = sysconf(_SC_NPROCESSORS_ONLN);

	return (n > 0 ? (size_t)n : 1);
}

/*
 * Starts what commands need: spawn threads, the log thread, exec; and the
 * plugins and the process pool, whose workers are spawned the same way.
 */
static int
main_exec_start(struct daemon *d, const struct main_options *o,
    const char *state_dir, char **cause)
{
	struct pool_proc_config	 pcfg;
	char			*logs, *dir;
	size_t			 nbad;
	int			 rv;

	if ((rv = acl_create(&d->exec_allow, o->exec_allow, o->nexec_allow,
	    cause)) != 0) {
		char	*why = *cause;

		xasprintf(cause, "--exec-allow: %s", why);
		free(why);
		return (rv);
	}
	if ((rv = proc_start(&d->procs, d->loop, &d->inbox)) != 0) {
		xasprintf(cause, "cannot start the spawn threads: %s",
		    strerror(rv));
		return (rv);
	}
	xasprintf(&logs, "%s/logs", state_dir);
	rv = outlog_start(&d->outlog, logs, o->log_max, &d->inbox,
	    main_outlog_commit, main_outlog_drain, d, cause);
	free(logs);
	if (rv != 0)
		return (rv);
	d->exec.loop = d->loop;
	d->exec.procs = d->procs;
	d->exec.outlog = d->outlog;
	d->exec.socket_url = o->url;
	d->exec.home = getenv("HOME");
	d->exec.lang = getenv("LANG");
	d->exec.lc_all = getenv("LC_ALL");
	LIST_INIT(&d->exec.paused);
	d->exec.on_output = events_output;
	d->sched.exec = &d->exec;
	exec_register(d->reg, d->exec_allow);
	dir = main_jobs_dir(o->jobs_dir);
	jobsd_load(&d->jobsd, dir, d->reg, &nbad);
	free(dir);
	/* After the built-ins and configured commands: their names win. */
	d->plugin_dir = main_plugin_dir(o->plugin_dir);
	plugin_load_dir(&d->plugins, d->plugin_dir, d->reg, false);
	memset(&pcfg, 0, sizeof pcfg);
	pcfg.workers = o->workers > 0 ? o->workers : main_cpus();
	pcfg.max_calls = o->max_calls;
	pcfg.plugin_dir = d->plugin_dir;
	pcfg.log_level = o->log_level_name;
	pool_proc_start(&d->procpool, d->loop, d->procs, &pcfg);
	d->sched.procpool = d->procpool;
	return (0);
}

/* Before the loop sleeps: batched log lines leave within LOG_DELAY. */
static void
main_log_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct daemon	*d = container_of(w, struct daemon, log_prepare);

	(void)revents;
	if (log_pending() && !ev_is_active(&d->log_timer)) {
		ev_timer_set(&d->log_timer, LOG_DELAY, 0.);
		ev_timer_start(loop, &d->log_timer);
		ev_unref(loop);
	}
}

static void
main_log_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	ev_ref(loop);		/* the timer stopped itself */
	log_flush();
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
		cmd_output_flush();
		/* What is answered goes out; nothing new comes in. */
		server_quiesce(d->server);
		/* No job runs: no call either. Workers go now. */
		pool_proc_kill(d->procpool);
		d->flushing = true;
		d->drain_deadline = now + MAIN_FLUSH_SECONDS;
		return;
	}
	server_stats(d->server, &contexts, &busy);
	if ((busy > 0 || pool_proc_live(d->procpool) > 0) &&
	    now < d->drain_deadline)
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
	main_deadline_start(d->drain_timeout + MAIN_FLUSH_SECONDS +
	    MAIN_HARD_SECONDS);
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
	struct ids		*ids;
	uint64_t		 usec;
	char			*state_dir, *cause;
	int			 lockfd, rv;

	main_parse(&o, argc, argv);
	log_init(o.log_level);
	if (o.worker)
		worker_main(o.plugin_dir != NULL ? o.plugin_dir : "/nonexistent");
	if (o.check_jobs)
		main_check_jobs(&o);
	signal(SIGPIPE, SIG_IGN);
	main_block_signals();
	memset(&d, 0, sizeof d);
	d.uid = geteuid();
	d.drain_timeout = o.drain_timeout;
	main_instance(d.instance, sizeof d.instance);
	o.server.instance = d.instance;

	lockfd = main_state_dir(o.state_dir, &state_dir);
	main_socket_dir(o.url);
	main_check_running(o.url);
	if (!o.no_events)
		main_socket_dir(o.events);

	if ((d.loop = ev_default_loop(EVFLAG_AUTO | EVFLAG_SIGNALFD)) == NULL)
		fatalx("cannot start the event loop");
	/* Log lines of one loop iteration leave in one write, last thing. */
	ev_timer_init(&d.log_timer, main_log_timer_cb, 0., 0.);
	ev_prepare_init(&d.log_prepare, main_log_cb);
	ev_set_priority(&d.log_prepare, EV_MINPRI);
	ev_prepare_start(d.loop, &d.log_prepare);
	ev_unref(d.loop);
	log_batch(true);
	inbox_init(&d.inbox, d.loop);
	inbox_start(&d.inbox);
	ev_unref(d.loop);
	plugin_set_inbox(&d.inbox);
	d.reg = registry_create();
	builtin_register(d.reg);
	if ((rv = sched_init(&d.sched, d.loop, d.reg, &o.sched,
	    &d.inbox)) != 0) {
		fprintf(stderr, "asyncd: cannot start the scheduler: %s\n",
		    strerror(rv));
		return (1);
	}
	if (ids_open(&ids, state_dir, d.sched.threads, &cause) != 0) {
		log_flush();
		fprintf(stderr, "asyncd: %s\n", cause);
		return (1);
	}
	d.sched.ids = ids;
	if (main_exec_start(&d, &o, state_dir, &cause) != 0) {
		log_flush();
		fprintf(stderr, "asyncd: %s\n", cause);
		return (1);
	}
	/* After the configured commands: restored jobs need their types. */
	d.durability = o.durability;
	if (d.durability != STORE_NONE)
		main_store_open(&d, state_dir, ids);
	if ((rv = events_start(&d.events, d.loop, o.no_events ? NULL :
	    o.events, o.events_mode, o.server.check)) != 0) {
		fprintf(stderr, "asyncd: cannot listen on %s: %s\n",
		    o.events, nng_strerror(rv));
		return (1);
	}
	d.exec.on_arg = d.events;
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

	d.sched.run_first = sched_next_id(&d.sched);
	log_info("asyncd %s listening on %s%s%s (instance %s, next job %"
	    PRIu64 ", %zu threads, max %zu running, %zu coroutines)",
	    ASYNCD_VERSION, o.url, o.no_events ? "" : ", events on ",
	    o.no_events ? "" : o.events, d.instance, sched_next_id(&d.sched),
	    o.sched.threads, d.sched.max_toplevel, o.sched.max_coroutines);
	if (o.server.check > 0)
		log_debug("nng %s: checking the listeners every %g s",
		    nng_version(), o.server.check);
	log_flush();
	sd_notify(0, "READY=1");
	main_notify_status(&d);

	/* Nothing holds a reference: ev_break ends it (daemon_shutdown). */
	ev_ref(d.loop);
	ev_run(d.loop, 0);
	ev_unref(d.loop);

	/*
	 * Stopping a signal watcher unblocks its signal (libev does, for
	 * signalfd): a second SIGTERM during the teardown would then kill
	 * the daemon with status 143 after all. The shutdown is under way and
	 * has its own deadline; ignore them.
	 */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
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
	cmd_output_flush();
	/* Its last reads answer their requests: the server is still up. */
	outlog_stop(d.outlog);
	/* Its last groups too; later writes (none expected) go in place. */
	store_stop(d.store);
	inbox_drain(&d.inbox);
	server_stop(d.server);
	events_stop(d.events);
	d.exec.on_arg = NULL;
	/*
	 * A job's thread-pool work may ignore cancellation; if it is still
	 * running, its thread may use anything, so free nothing and go.
	 */
	if (!sched_threads_stop(&d.sched, MAIN_FLUSH_SECONDS)) {
		log_warnx("thread-pool work still running after shutdown; "
		    "exiting without cleaning up");
		_exit(1);
	}
	pool_proc_stop(d.procpool);
	proc_stop(d.procs);
	sched_fini(&d.sched);
	plugin_set_inbox(NULL);
	inbox_drain(&d.inbox);
	store_close(d.store);
	ids_close(ids);
	acl_free(d.exec_allow);
	free(o.exec_allow);
	ev_ref(d.loop);
	inbox_stop(&d.inbox);
	inbox_fini(&d.inbox);
	registry_free(d.reg);
	jobsd_free(d.jobsd);
	/* Last: nothing refers to their code any more. */
	plugin_free(d.plugins);
	free(d.plugin_dir);
	ev_ref(d.loop);
	ev_prepare_stop(d.loop, &d.log_prepare);
	if (ev_is_active(&d.log_timer)) {
		ev_ref(d.loop);
		ev_timer_stop(d.loop, &d.log_timer);
	}
	log_batch(false);
	ev_loop_destroy(d.loop);
	close(lockfd);
	free(state_dir);
	log_debug("inbox: %" PRIu64 " items in %" PRIu64 " wake-ups",
	    d.inbox.handled, d.inbox.batches);
	nng_fini();
	main_deadline_stop();
	log_info("stopped");
	return (0);
}
