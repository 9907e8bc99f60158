/*
 * follow.c: asyncctl run and asyncctl logs, the commands that put a job's
 * output on asyncctl's own standard output and error.
 *
 * run submits an exec job and then stands in for the command, like
 * systemd-run --wait --pipe: the command's output comes out here byte for
 * byte as it is written (libasyncd's asyncd_follow, written straight to
 * fds 1 and 2, no stdio buffer in between), and asyncctl exits with the
 * command's status. logs reads the same log, once or to the job's end.
 *
 * Threads (run only). asyncctl is otherwise single-threaded, but a
 * follower sits in a long poll, and Ctrl-C must still cancel the job. So
 * run blocks SIGINT, SIGTERM and SIGHUP (those it was not started ignoring)
 * before libasyncd starts any thread, so that every thread inherits the
 * mask, and a thread of its own takes them with sigwait. At the first one,
 * that thread cancels the job on the client handle, which is thread-safe,
 * while the main thread goes on following the output to the job's end (so
 * what the command writes as it stops is still shown), and exits 4. Then
 * it unblocks the signals for itself alone, with a handler that _exits: a
 * second signal ends asyncctl at once and leaves the job to the daemon. A
 * signal before the job was asked for ends asyncctl at once, as there is
 * nothing to cancel.
 *
 * follow_sig.lock guards the job id, whether the submit is under way, the
 * first signal, whether a cancel is running and whether the main thread is
 * done with the handle: the signal thread never calls into the library
 * after that, and the main thread waits for a cancel in progress before it
 * lets main() close the handle.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asyncctl.h"
#include "proto.h"

/*
 * Bytes per output reply: the protocol's most. Fewer, larger replies move
 * a command's bulk output with the fewest round trips.
 */
#define FOLLOW_MAX		(4 * 1024 * 1024)
/*
 * The most standard input run reads. A request carries at most the
 * daemon's --max-msg (1 MiB by default), and a larger one is refused, or
 * above four times that, dropped unread; this bound only keeps a runaway
 * pipe from filling memory before the daemon can say no.
 */
#define FOLLOW_STDIN_MAX	(64 * 1024 * 1024)
/* The callback's own value when a write failed: never an ASYNCD_E*. */
#define FOLLOW_WRITE_FAILED	(-1)

/* What run's signal thread and main thread share; see the top. */
struct follow_sig {
	pthread_mutex_t	 lock;
	pthread_cond_t	 idle;		/* cancelling became false */
	sigset_t	 set;		/* the signals taken */
	struct asyncd	*c;
	uint64_t	 id;		/* the job; 0: not known yet */
	bool		 submitting;	/* the submit is under way */
	int		 signo;		/* the first signal; 0: none */
	bool		 cancelling;	/* a thread is in asyncd_cancel */
	bool		 closed;	/* the main thread is done with c */
};

static struct follow_sig follow_sig = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
};

/* What the handler of a second signal says, made before it can run. */
static char	follow_sig_msg[128];
static size_t	follow_sig_msglen;

/* Where the follow callback writes, and how that went. */
struct follow_out {
	uint64_t	id;
	int		err;		/* errno of the write that failed */
	int		stream;		/* ...and its stream */
};

/*
 * Writes all of data to fd, waiting while a non-blocking descriptor is
 * full. Returns 0 or an errno.
 */
static int
follow_write(int fd, const char *data, size_t len)
{
	struct pollfd	pfd;
	ssize_t		n;

	while (len > 0) {
		if ((n = write(fd, data, len)) >= 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return (errno);
		pfd.fd = fd;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, -1);
	}
	return (0);
}

/* asyncd_follow's callback: a stream's bytes to fd 1 or 2. */
static int
follow_output(int stream, const char *data, size_t len, void *arg)
{
	struct follow_out	*fo = arg;
	const char		*name;
	int			 err;

	name = stream == ASYNCD_STDOUT ? "stdout" : "stderr";
	if (data == NULL) {
		asyncctl_warnx("job %" PRIu64 ": the daemon's log of its %s "
		    "was cut here (its --log-max-mib): the rest is lost",
		    fo->id, name);
		return (0);
	}
	if ((err = follow_write(stream == ASYNCD_STDOUT ? STDOUT_FILENO :
	    STDERR_FILENO, data, len)) != 0) {
		fo->err = err;
		fo->stream = stream;
		return (FOLLOW_WRITE_FAILED);
	}
	return (0);
}

/*
 * The exit status of a write that failed: a reader that went away (EPIPE)
 * is what ends a pipeline's writer with SIGPIPE, and says so the same way,
 * quietly; anything else is said.
 */
static int
follow_write_failed(const struct follow_out *fo)
{
	if (fo->err == EPIPE)
		return (128 + SIGPIPE);
	/* stderr may be the one that failed: try anyway. */
	asyncctl_warnx("error writing to standard %s: %s",
	    fo->stream == ASYNCD_STDOUT ? "output" : "error",
	    strerror(fo->err));
	return (ASYNCCTL_EXIT_FAILED);
}

/* A signal's number from its name ("SIGSEGV", or "signal 40"); 0: none. */
static int
follow_signo(const char *name)
{
	const char	*abbrev;
	int		 sig;

	if (strncmp(name, "SIG", 3) == 0) {
		for (sig = 1; sig < NSIG; sig++) {
			if ((abbrev = sigabbrev_np(sig)) != NULL &&
			    strcmp(abbrev, name + 3) == 0)
				return (sig);
		}
	}
	if (sscanf(name, "signal %d", &sig) == 1 && sig > 0 && sig < 128)
		return (sig);
	return (0);
}

/*
 * The exit status the command's own result means: its exit code, or 128+N
 * for signal N; -1 if the result says neither.
 */
static int
follow_command_status(const struct asyncd_job *job)
{
	const char	*text = asyncd_job_result(job);
	const cJSON	*code, *sig;
	cJSON		*result;
	int		 status = -1, n;

	if (text == NULL || (result = cJSON_Parse(text)) == NULL)
		return (-1);
	code = cJSON_GetObjectItemCaseSensitive(result, "exit_code");
	sig = cJSON_GetObjectItemCaseSensitive(result, "signal");
	if (cJSON_IsNumber(code) && code->valuedouble >= 0 &&
	    code->valuedouble <= 255)
		status = (int)code->valuedouble;
	else if (cJSON_IsString(sig) && (n = follow_signo(sig->valuestring)) !=
	    0)
		status = 128 + n;
	cJSON_Delete(result);
	return (status);
}

/*
 * How run exits for a finished job: as its command did, or as a shell
 * does for a command it cannot run, or with asyncctl's own status for a
 * job that was stopped (saying why on stderr).
 */
static int
follow_run_status(const struct asyncd_job *job)
{
	const char	*code = asyncd_job_error_code(job);
	const char	*msg = asyncd_job_error_message(job);
	int		 status;

	switch (asyncd_job_state(job)) {
	case ASYNCD_SUCCEEDED:
	case ASYNCD_FAILED:
		if (code != NULL && strcmp(code, "spawn_failed") == 0) {
			asyncctl_warnx("%s", msg != NULL ? msg :
			    "the command cannot be run");
			if (msg != NULL && strstr(msg, strerror(EACCES)) !=
			    NULL)
				return (ASYNCCTL_EXIT_NOEXEC);
			return (ASYNCCTL_EXIT_NOTFOUND);
		}
		if ((status = follow_command_status(job)) >= 0)
			return (status);
		if (asyncd_job_state(job) == ASYNCD_SUCCEEDED)
			return (ASYNCCTL_EXIT_OK);
		break;
	default:
		break;
	}
	asyncctl_job_error(job);
	return (asyncctl_job_exit(job));
}

/* Handles a second signal: the job is left to the daemon. */
static void
follow_sig_exit(int sig)
{
	ssize_t	n;

	n = write(STDERR_FILENO, follow_sig_msg, follow_sig_msglen);
	(void)n;
	_exit(128 + sig);
}

/* Asks the daemon to cancel the job; a thread's word on stderr. */
static void
follow_cancel(struct asyncd *c, uint64_t id, int sig)
{
	int	rv;

	/* No wait: the output shows the command stopping. */
	rv = asyncd_cancel(c, id, 0, NULL);
	if (rv != 0 && rv != ASYNCD_EDONE)
		asyncctl_warnx("cancel %" PRIu64 ": %s", id,
		    asyncd_errmsg() != NULL ? asyncd_errmsg() :
		    asyncd_strerror(rv));
	else
		asyncctl_warnx("%s: cancelling job %" PRIu64 " (again to "
		    "exit and leave it running)", sig == SIGINT ?
		    "interrupted" : strsignal(sig), id);
}

/* The signal thread: see the top of the file. */
static void *
follow_sig_main(void *arg)
{
	struct follow_sig	*s = arg;
	struct sigaction	 sa;
	uint64_t		 id;
	int			 sig, i;

	if (sigwait(&s->set, &sig) != 0)
		return (NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = follow_sig_exit;
	sigemptyset(&sa.sa_mask);
	for (i = 1; i < NSIG; i++) {
		if (sigismember(&s->set, i) == 1)
			(void)sigaction(i, &sa, NULL);
	}

	pthread_mutex_lock(&s->lock);
	s->signo = sig;
	id = s->id;
	if (id == 0 && !s->submitting) {
		/* Nothing asked of the daemon yet: nothing to leave. */
		pthread_mutex_unlock(&s->lock);
		_exit(128 + sig);
	}
	if (id != 0)
		snprintf(follow_sig_msg, sizeof follow_sig_msg, "asyncctl: "
		    "job %" PRIu64 " left running\n", id);
	follow_sig_msglen = strlen(follow_sig_msg);
	if (id != 0 && !s->closed)
		s->cancelling = true;
	else
		id = 0;
	pthread_mutex_unlock(&s->lock);
	if (id != 0) {
		follow_cancel(s->c, id, sig);
		pthread_mutex_lock(&s->lock);
		s->cancelling = false;
		pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->lock);
	}
	/*
	 * From here, a second signal comes to this thread and ends it all;
	 * one that came during the cancel waited for it, so that leaving the
	 * job to the daemon never leaves it uncancelled.
	 */
	pthread_sigmask(SIG_UNBLOCK, &s->set, NULL);
	for (;;)
		pause();
	return (NULL);
}

/*
 * Takes SIGINT, SIGTERM and SIGHUP, those not ignored, for the signal
 * thread; before any other thread starts. Returns 0 or an errno.
 */
static int
follow_sig_start(void)
{
	static const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction	 old;
	pthread_t		 t;
	size_t			 i;
	int			 rv, n = 0;

	sigemptyset(&follow_sig.set);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		/* Ignored on purpose (nohup, &): stays so. */
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaddset(&follow_sig.set, sigs[i]);
		n++;
	}
	if (n == 0)
		return (0);
	if ((rv = pthread_sigmask(SIG_BLOCK, &follow_sig.set, NULL)) != 0)
		return (rv);
	if ((rv = pthread_create(&t, NULL, follow_sig_main,
	    &follow_sig)) != 0) {
		pthread_sigmask(SIG_UNBLOCK, &follow_sig.set, NULL);
		return (rv);
	}
	(void)pthread_detach(t);
	return (0);
}

/*
 * Notes the job's id once the submit has answered; cancels it if a signal
 * came meanwhile. Returns the first signal seen, or 0.
 */
static int
follow_sig_submitted(struct asyncd *c, uint64_t id)
{
	int	sig;

	pthread_mutex_lock(&follow_sig.lock);
	follow_sig.id = id;
	follow_sig.submitting = false;
	if ((sig = follow_sig.signo) != 0 && id != 0) {
		snprintf(follow_sig_msg, sizeof follow_sig_msg, "asyncctl: "
		    "job %" PRIu64 " left running\n", id);
		follow_sig_msglen = strlen(follow_sig_msg);
	}
	pthread_mutex_unlock(&follow_sig.lock);
	if (sig != 0 && id != 0)
		follow_cancel(c, id, sig);
	return (sig);
}

/* The main thread is done with the handle; waits out a cancel. */
static void
follow_sig_close(void)
{
	pthread_mutex_lock(&follow_sig.lock);
	follow_sig.closed = true;
	while (follow_sig.cancelling)
		pthread_cond_wait(&follow_sig.idle, &follow_sig.lock);
	pthread_mutex_unlock(&follow_sig.lock);
}

/*
 * Reads all of standard input, up to FOLLOW_STDIN_MAX bytes. Returns 0 and
 * sets *buf (NULL if there was nothing) and *len; or an errno, E2BIG when
 * there is more than that.
 */
static int
follow_read_stdin(char **buf, size_t *len)
{
	char	*b = NULL, *grown;
	size_t	 n = 0, cap = 0;
	ssize_t	 r;

	*buf = NULL;
	*len = 0;
	for (;;) {
		if (n == cap) {
			if (cap == FOLLOW_STDIN_MAX) {
				free(b);
				return (E2BIG);
			}
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > FOLLOW_STDIN_MAX)
				cap = FOLLOW_STDIN_MAX;
			if ((grown = realloc(b, cap)) == NULL) {
				free(b);
				return (ENOMEM);
			}
			b = grown;
		}
		if ((r = read(STDIN_FILENO, b + n, cap - n)) > 0) {
			n += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		if (errno == EINTR)
			continue;
		/* A closed descriptor 0 is no input, not an error. */
		if (errno == EBADF && n == 0)
			break;
		free(b);
		return (errno);
	}
	if (n == 0)
		free(b);
	else
		*buf = b;
	*len = n;
	return (0);
}

/* An absolute directory: dir, or the current one; NULL when it fails. */
static char *
follow_cwd(const char *dir)
{
	char	*cwd, *path;

	if (dir != NULL && *dir == '/')
		return (strdup(dir));
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return (NULL);
	if (dir == NULL)
		return (cwd);
	if (asprintf(&path, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd,
	    dir) == -1)
		path = NULL;
	free(cwd);
	return (path);
}

/* What run was asked to run, from its options. */
struct follow_spec {
	char		**argv;
	int		  argc;
	char		**env;		/* "K=V", in the order given */
	int		  nenv;
	const char	 *cwd;		/* NULL: the current directory */
	char		 *input;	/* standard input, or NULL */
	size_t		  inlen;
};

/* The exec job's arguments as JSON text; NULL when out of memory. */
static char *
follow_args(const struct follow_spec *sp, const char *cwd)
{
	cJSON	*args, *argv, *env, *item;
	char	*text = NULL, *b64, *name;
	int	 i;

	if ((args = cJSON_CreateObject()) == NULL)
		return (NULL);
	if ((argv = cJSON_AddArrayToObject(args, "argv")) == NULL)
		goto out;
	for (i = 0; i < sp->argc; i++) {
		if ((item = cJSON_CreateString(sp->argv[i])) == NULL ||
		    !cJSON_AddItemToArray(argv, item))
			goto out;
	}
	if (sp->nenv > 0) {
		if ((env = cJSON_AddObjectToObject(args, "env")) == NULL)
			goto out;
		for (i = 0; i < sp->nenv; i++) {
			if ((name = strndup(sp->env[i],
			    strcspn(sp->env[i], "="))) == NULL)
				goto out;
			/* The last --env of a name wins, as in env(1). */
			cJSON_DeleteItemFromObjectCaseSensitive(env, name);
			item = cJSON_AddStringToObject(env, name,
			    sp->env[i] + strlen(name) + 1);
			free(name);
			if (item == NULL)
				goto out;
		}
	}
	if (cJSON_AddStringToObject(args, "cwd", cwd) == NULL)
		goto out;
	if (sp->input != NULL) {
		if ((b64 = proto_b64_encode(sp->input,
		    sp->inlen)) == NULL)
			goto out;
		item = cJSON_AddStringToObject(args, "stdin_base64", b64);
		free(b64);
		if (item == NULL)
			goto out;
	}
	/* The output comes from the log; the result need not repeat it. */
	if (cJSON_AddNumberToObject(args, "output_cap", 0) == NULL)
		goto out;
	text = cJSON_PrintUnformatted(args);
out:
	cJSON_Delete(args);
	return (text);
}

/*
 * The submit failed. A request too large for the daemon is refused with
 * too_large, or, past four times its limit, dropped unread: then the
 * daemon answers a ping, and the input is what was too much.
 */
static int
follow_submit_failed(struct asyncctl *ctl, const struct follow_spec *sp,
    int err)
{
	if (sp->input != NULL && (err == ASYNCD_ETOOLARGE ||
	    (err == ASYNCD_EUNREACHABLE &&
	    asyncd_ping(ctl->c, NULL, NULL, NULL) == 0))) {
		asyncctl_warnx("run: standard input (%zu bytes) is more than "
		    "one request can carry (the daemon's --max-msg, 1 MiB by "
		    "default, carries about 760 KiB of input): have the "
		    "command read a file instead", sp->inlen);
		return (ASYNCCTL_EXIT_FAILED);
	}
	return (asyncctl_fail(ctl, "run", err));
}

/* Follows job id's output to its end; returns run's exit status. */
static int
follow_run_job(struct asyncctl *ctl, uint64_t id)
{
	struct asyncd_output_opts	 opts;
	struct asyncd_job		*job = NULL;
	struct follow_out		 fo;
	char				 what[64];
	int				 rv;

	memset(&opts, 0, sizeof opts);
	opts.max = FOLLOW_MAX;
	opts.timeout = -1;
	memset(&fo, 0, sizeof fo);
	fo.id = id;
	rv = asyncd_follow(ctl->c, id, &opts, follow_output, &fo, &job);
	if (rv == FOLLOW_WRITE_FAILED) {
		/* Its output has nowhere to go: stop it, as SIGPIPE would. */
		(void)asyncd_cancel(ctl->c, id, 0, NULL);
		return (follow_write_failed(&fo));
	}
	if (rv != 0) {
		snprintf(what, sizeof what, "job %" PRIu64, id);
		return (asyncctl_fail(ctl, what, rv));
	}
	rv = follow_run_status(job);
	asyncd_job_free(job);
	return (rv);
}

/* Parses run's options into *sp; returns -1 to go on, or an exit status. */
static int
follow_run_opts(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv, struct follow_spec *sp,
    struct asyncd_submit_opts *opts, bool *detach, bool *no_stdin)
{
	static const struct option	 longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "cwd", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'k' },
		{ "detach", no_argument, NULL, 'd' },
		{ "no-stdin", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*eq;
	int				 ch;

	optind = 0;
	/* '+': the command's own options are the command's. */
	while ((ch = getopt_long(argc, argv, "+:t:e:C:k:dnh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 't':
			if (!asyncctl_parse_seconds(optarg, &opts->timeout))
				return (asyncctl_usage(cmd, "invalid timeout "
				    "'%s' (seconds, 0 to 2592000)", optarg));
			break;
		case 'e':
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg)
				return (asyncctl_usage(cmd, "--env takes "
				    "NAME=VALUE, not '%s'", optarg));
			sp->env[sp->nenv++] = optarg;
			break;
		case 'C':
			if (*optarg == '\0')
				return (asyncctl_usage(cmd, "--cwd needs a "
				    "directory"));
			sp->cwd = optarg;
			break;
		case 'k':
			if (*optarg == '\0' || strlen(optarg) > 256)
				return (asyncctl_usage(cmd, "a key is 1 to "
				    "256 bytes long"));
			opts->key = optarg;
			break;
		case 'd':
			*detach = true;
			break;
		case 'n':
			*no_stdin = true;
			break;
		default:
			/* --help, or a bad option. */
			return (asyncctl_common_opt(ctl, cmd, ch, argv));
		}
	}
	if (optind >= argc)
		return (asyncctl_usage(cmd, "missing command"));
	if (*argv[optind] == '\0')
		return (asyncctl_usage(cmd, "the command's name is empty"));
	sp->argv = argv + optind;
	sp->argc = argc - optind;
	return (-1);
}

int
follow_run(struct asyncctl *ctl, const struct asyncctl_cmd *cmd, int argc,
    char **argv)
{
	struct asyncd_submit_opts	 opts = { .key = NULL };
	struct follow_spec		 sp;
	char				*cwd = NULL, *args = NULL;
	uint64_t			 id = 0;
	bool				 detach = false, no_stdin = false;
	int				 rv, err;

	memset(&sp, 0, sizeof sp);
	/* At most one --env per argument. */
	if ((sp.env = calloc((size_t)argc, sizeof *sp.env)) == NULL) {
		asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
		return (ASYNCCTL_EXIT_FAILED);
	}
	if ((rv = follow_run_opts(ctl, cmd, argc, argv, &sp, &opts, &detach,
	    &no_stdin)) != -1)
		goto out;
	if ((cwd = follow_cwd(sp.cwd)) == NULL) {
		asyncctl_warnx("run: cannot tell the current directory (%s); "
		    "give --cwd", strerror(errno));
		rv = ASYNCCTL_EXIT_FAILED;
		goto out;
	}
	if (!no_stdin && !isatty(STDIN_FILENO) &&
	    (err = follow_read_stdin(&sp.input, &sp.inlen)) != 0) {
		if (err == E2BIG)
			asyncctl_warnx("run: standard input is over %d MiB, "
			    "more than one request can carry: have the "
			    "command read a file instead",
			    FOLLOW_STDIN_MAX / (1024 * 1024));
		else
			asyncctl_warnx("run: reading standard input: %s",
			    strerror(err));
		rv = ASYNCCTL_EXIT_FAILED;
		goto out;
	}
	if ((args = follow_args(&sp, cwd)) == NULL) {
		asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
		rv = ASYNCCTL_EXIT_FAILED;
		goto out;
	}

	/* Before libasyncd's threads start, so that they inherit the mask. */
	if (!detach && (err = follow_sig_start()) != 0) {
		asyncctl_warnx("run: cannot take signals: %s", strerror(err));
		rv = ASYNCCTL_EXIT_FAILED;
		goto out;
	}
	/* The command's output has nowhere to go once a reader has gone. */
	signal(SIGPIPE, SIG_IGN);
	if ((rv = asyncctl_connect(ctl)) != 0)
		goto out;
	pthread_mutex_lock(&follow_sig.lock);
	follow_sig.c = ctl->c;
	follow_sig.submitting = true;
	pthread_mutex_unlock(&follow_sig.lock);
	err = asyncd_submit(ctl->c, "exec", args, &opts, &id, NULL);
	if (err != 0)
		id = 0;
	rv = follow_sig_submitted(ctl->c, id);
	if (err != 0) {
		rv = rv != 0 ? 128 + rv : follow_submit_failed(ctl, &sp, err);
		goto out;
	}
	if (detach) {
		printf("%" PRIu64 "\n", id);
		rv = ASYNCCTL_EXIT_OK;
		goto out;
	}
	rv = follow_run_job(ctl, id);
out:
	follow_sig_close();
	free(sp.env);
	free(sp.input);
	free(cwd);
	cJSON_free(args);
	return (rv);
}

/* Prints what there is of the job's output now; returns the status. */
static int
follow_logs_now(struct asyncctl *ctl, uint64_t id, int streams)
{
	struct asyncd_output_opts	 opts;
	struct asyncd_output		*out;
	struct follow_out		 fo;
	struct asyncd_output_stream	*st;
	uint64_t			 end[2] = { 0, 0 };
	char				 what[64];
	bool				 first = true, more;
	bool				 told[2] = { false, false };
	size_t				 got;
	int				 i, rv;

	memset(&opts, 0, sizeof opts);
	opts.streams = streams;
	opts.max = FOLLOW_MAX;
	memset(&fo, 0, sizeof fo);
	fo.id = id;
	do {
		if ((rv = asyncd_output(ctl->c, id, &opts, &out)) != 0) {
			snprintf(what, sizeof what, "logs %" PRIu64, id);
			return (asyncctl_fail(ctl, what, rv));
		}
		more = false;
		got = 0;
		for (i = 0; i < 2; i++) {
			st = &out->stream[i];
			if (!st->present)
				continue;
			/* What was logged when first asked, and no more. */
			if (first)
				end[i] = st->size;
			if (st->len > 0 && follow_output(i, st->data, st->len,
			    &fo) != 0) {
				asyncd_output_free(out);
				return (follow_write_failed(&fo));
			}
			got += st->len;
			opts.offset[i] += st->len;
			if (opts.offset[i] < end[i])
				more = true;
			if (st->cut && !told[i] &&
			    opts.offset[i] >= st->size) {
				told[i] = true;
				(void)follow_output(i, NULL, 0, &fo);
			}
		}
		first = false;
		asyncd_output_free(out);
	} while (more && got > 0);
	return (ASYNCCTL_EXIT_OK);
}

int
follow_logs(struct asyncctl *ctl, const struct asyncctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option	 longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "stdout", no_argument, NULL, 'o' },
		{ "stderr", no_argument, NULL, 'e' },
		ASYNCCTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct asyncd_output_opts	 opts;
	struct asyncd_job		*job = NULL;
	struct follow_out		 fo;
	char				 what[64];
	uint64_t			 id;
	bool				 follow = false;
	int				 ch, rv, streams = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":fjTh", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'f':
			follow = true;
			break;
		case 'o':
		case 'e':
			if (streams != 0)
				return (asyncctl_usage(cmd, "--stdout and "
				    "--stderr exclude each other"));
			streams = ch == 'o' ? ASYNCD_STREAM_STDOUT :
			    ASYNCD_STREAM_STDERR;
			break;
		default:
			if ((rv = asyncctl_common_opt(ctl, cmd, ch,
			    argv)) != -1)
				return (rv);
			break;
		}
	}
	if ((rv = asyncctl_id_arg(cmd, argc, argv, &id)) != -1)
		return (rv);
	signal(SIGPIPE, SIG_IGN);
	if ((rv = asyncctl_connect(ctl)) != 0)
		return (rv);
	if (!follow)
		return (follow_logs_now(ctl, id, streams));

	memset(&opts, 0, sizeof opts);
	opts.streams = streams;
	opts.max = FOLLOW_MAX;
	opts.timeout = -1;
	memset(&fo, 0, sizeof fo);
	fo.id = id;
	rv = asyncd_follow(ctl->c, id, &opts, follow_output, &fo, &job);
	if (rv == FOLLOW_WRITE_FAILED)
		return (follow_write_failed(&fo));
	if (rv != 0) {
		snprintf(what, sizeof what, "logs %" PRIu64, id);
		return (asyncctl_fail(ctl, what, rv));
	}
	/* As wait would: the job's status, and why on stderr. */
	if ((rv = asyncctl_job_exit(job)) != ASYNCCTL_EXIT_OK)
		asyncctl_job_error(job);
	asyncd_job_free(job);
	return (rv);
}
