/*
 * exec.c: running a command as a job: the "exec" job type, and the
 * machinery (exec_run) that configured commands and the SDK's ad_exec use.
 *
 * Design notes.
 *
 * exec_run runs on the job's coroutine and suspends twice: while a spawn
 * thread starts the command (proc.c), and while the command runs. Its
 * state lives on the coroutine's stack; every watcher that points into it
 * is stopped before exec_run returns.
 *
 * Output is read on the loop from non-blocking pipes, a chunk at a time,
 * and goes three ways: the first output_cap bytes of each stream into the
 * job's result (made valid UTF-8 at the end); every byte to the job's log
 * files (outlog.c, on its own thread, which may make the readers pause
 * when the disk is behind: then the command blocks on its full pipe, and
 * neither the loop nor memory takes the strain); and every byte to the
 * event socket while anyone subscribes ("job.<id>.output", base64). Each
 * chunk carries its offset in its stream, so a reader that starts from the
 * log and goes on with later bytes loses nothing and sees nothing twice.
 *
 * Stopping: on cancellation or timeout the whole process group gets
 * SIGTERM, and SIGKILL kill_grace seconds later. When the command itself
 * exits, whatever it left running in its group is stopped the same way:
 * nothing a job started outlives the job. The job is done once the
 * command has exited and both pipes have reached their end; a descriptor
 * held by something outside the group (a daemon that called setsid) can
 * only delay that by the grace period and a second.
 *
 * Who may run "exec": the daemon's own user and root, and the users and
 * groups of --exec-allow (acl.c); commands run with the daemon's
 * privileges.
 */
#include <sys/wait.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

/* One read from a pipe: enough to keep system calls few, small enough
 * not to hold the loop. */
#define EXEC_CHUNK		(64 * 1024)
/* How long output may lag the command's exit (a setsid'd holder). */
#define EXEC_LINGER		1.0
/* Bounds of the arguments. */
#define EXEC_MAX_ARGV		4096
#define EXEC_MAX_ENV		1024
#define EXEC_MAX_CAP		((size_t)64 << 20)
#define EXEC_DEFAULT_CAP	((size_t)1 << 20)
#define EXEC_DEFAULT_GRACE	5.0

/* One output stream of a running command. */
struct exec_stream {
	struct exec_state	*st;
	int			 which;		/* OUTLOG_STDOUT, _STDERR */
	ev_io			 io;
	char			*buf;		/* kept for the result */
	size_t			 len;
	size_t			 size;		/* of buf */
	size_t			 cap;		/* most kept */
	bool			 truncated;
	bool			 eof;
	bool			 paused;	/* the log is behind */
	LIST_ENTRY(exec_stream)	 paused_entry;
};

/* A command being run by exec_run; on the coroutine's stack. */
struct exec_state {
	struct job		*job;
	struct exec_ctx		*ctx;
	const struct exec_spec	*spec;
	struct proc		 proc;
	struct exec_stream	 out[2];
	ev_io			 in_io;
	size_t			 in_off;
	ev_timer		 grace;		/* SIGTERM -> SIGKILL */
	ev_timer		 linger;	/* output after the exit */
	bool			 spawned;
	bool			 exited;
	bool			 killing;	/* SIGTERM sent */
	bool			 waiting;	/* the coroutine is suspended */
	double			 finished;	/* monotonic */
};

static void	exec_check_done(struct exec_state *);

static const char *
exec_stream_name(int which)
{
	return (which == OUTLOG_STDOUT ? "stdout" : "stderr");
}

/* The job's record of its output, made on its first command. */
static struct job_output *
exec_output(struct job *job)
{
	if (job->output == NULL) {
		job->output = xcalloc(1, sizeof *job->output);
		LIST_INIT(&job->output->waiters);
	}
	return (job->output);
}

/* Wakes whoever follows the job's output (cmd_output.c). */
void
exec_output_wake(struct job *job)
{
	LIST_HEAD(, output_wait) woken = LIST_HEAD_INITIALIZER(woken);
	struct output_wait	*ow;

	if (job->output == NULL)
		return;
	/*
	 * Move them aside first: a waiter with still nothing to say (its
	 * stream's bytes not yet committed) lists itself again, and must not
	 * be woken twice by this one call.
	 */
	while ((ow = LIST_FIRST(&job->output->waiters)) != NULL) {
		LIST_REMOVE(ow, entry);
		LIST_INSERT_HEAD(&woken, ow, entry);
	}
	while ((ow = LIST_FIRST(&woken)) != NULL) {
		LIST_REMOVE(ow, entry);
		ow->listed = false;
		ow->fn(ow);
	}
}

void
exec_output_commit(struct sched *s, uint64_t id, const uint64_t size[2],
    const bool cut[2])
{
	struct job	*job;
	int		 i;

	if ((job = jobtab_find(&s->tab, id)) == NULL || job->output == NULL)
		return;
	for (i = 0; i < 2; i++) {
		job->output->committed[i] = size[i];
		job->output->cut[i] = cut[i];
	}
	exec_output_wake(job);
}

/* ---- reading output */

static void	exec_read_cb(struct ev_loop *, ev_io *, int);

static void
exec_stream_stop(struct exec_stream *s)
{
	ev_io_stop(s->st->ctx->loop, &s->io);
	if (s->paused) {
		LIST_REMOVE(s, paused_entry);
		s->paused = false;
	}
}

static void
exec_stream_eof(struct exec_stream *s)
{
	exec_stream_stop(s);
	if (s->io.fd != -1) {
		close(s->io.fd);
		ev_io_set(&s->io, -1, EV_READ);
	}
	s->eof = true;
}

static void
exec_chunk(struct exec_stream *s, const char *data, size_t n)
{
	struct exec_state	*st = s->st;
	struct job_output	*out = st->job->output;
	size_t			 keep;

	keep = s->len < s->cap ? s->cap - s->len : 0;
	if (keep > n)
		keep = n;
	/* Grown as output comes: most commands print little or nothing. */
	if (s->len + keep > s->size) {
		s->size = s->size == 0 ? 4096 : s->size;
		while (s->size < s->len + keep)
			s->size *= 2;
		if (s->size > s->cap)
			s->size = s->cap;
		s->buf = xreallocarray(s->buf, s->size, 1);
	}
	if (keep > 0) {
		memcpy(s->buf + s->len, data, keep);
		s->len += keep;
	}
	if (keep < n)
		s->truncated = true;
	if (st->ctx->on_output != NULL)
		st->ctx->on_output(st->ctx->on_arg, st->job, s->which,
		    out->total[s->which], data, n);
	out->total[s->which] += n;
	if (!outlog_append(st->ctx->outlog, st->job->id, s->which, data, n)) {
		/* The disk is behind: wait for it (exec_drained). */
		ev_io_stop(st->ctx->loop, &s->io);
		s->paused = true;
		LIST_INSERT_HEAD(&st->ctx->paused, s, paused_entry);
	}
}

/* One read from the stream's pipe. Returns true at its end. */
static bool
exec_stream_read(struct exec_stream *s)
{
	char	buf[EXEC_CHUNK];
	ssize_t	n;

	n = read(s->io.fd, buf, sizeof buf);
	if (n > 0) {
		exec_chunk(s, buf, (size_t)n);
		return (false);
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (false);
	exec_stream_eof(s);
	return (true);
}

static void
exec_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct exec_stream	*s = w->data;

	(void)loop;
	(void)revents;
	if (exec_stream_read(s))
		exec_check_done(s->st);
}

void
exec_drained(struct exec_ctx *ctx)
{
	struct exec_stream	*s;

	while ((s = LIST_FIRST(&ctx->paused)) != NULL) {
		LIST_REMOVE(s, paused_entry);
		s->paused = false;
		ev_io_start(ctx->loop, &s->io);
	}
}

/* ---- feeding stdin */

static void
exec_stdin_close(struct exec_state *st)
{
	ev_io_stop(st->ctx->loop, &st->in_io);
	if (st->in_io.fd != -1) {
		close(st->in_io.fd);
		ev_io_set(&st->in_io, -1, EV_WRITE);
	}
}

static void
exec_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct exec_state	*st = w->data;
	const struct exec_spec	*sp = st->spec;
	ssize_t			 n;

	(void)loop;
	(void)revents;
	n = write(w->fd, sp->stdin_data + st->in_off,
	    sp->stdin_len - st->in_off);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		st->in_off += (size_t)n;
	/* Written, or the command closed its end (EPIPE): done either way. */
	if (n == -1 || st->in_off == sp->stdin_len)
		exec_stdin_close(st);
}

/* ---- stopping */

static void
exec_grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exec_state	*st = w->data;

	(void)loop;
	(void)revents;
	(void)proc_signal(&st->proc, SIGKILL);
}

/* SIGTERM to the group now, SIGKILL after the grace period. */
static void
exec_kill(struct exec_state *st)
{
	if (st->killing || !st->spawned)
		return;
	st->killing = true;
	if (proc_signal(&st->proc, SIGTERM) != 0)
		return;		/* nothing left to stop */
	ev_timer_stop(st->ctx->loop, &st->grace);
	ev_timer_set(&st->grace, st->spec->kill_grace, 0.);
	ev_timer_start(st->ctx->loop, &st->grace);
}

static void
exec_linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct exec_state	*st = w->data;
	int			 i;

	(void)loop;
	(void)revents;
	/* Something outside the group holds the pipes: stop listening. */
	for (i = 0; i < 2; i++) {
		if (!st->out[i].eof)
			exec_stream_eof(&st->out[i]);
	}
	exec_check_done(st);
}

static void
exec_check_done(struct exec_state *st)
{
	if (!st->exited || !st->out[0].eof || !st->out[1].eof)
		return;
	if (st->waiting) {
		st->waiting = false;
		sched_wake(st->job, 0);
	}
}

/* ---- the process */

static void
exec_spawned(struct proc *p)
{
	struct exec_state	*st = container_of(p, struct exec_state, proc);
	struct ev_loop		*loop = st->ctx->loop;
	int			 i;

	st->spawned = p->err == 0;
	if (!st->spawned) {
		st->exited = true;
		st->out[0].eof = st->out[1].eof = true;
		exec_check_done(st);
		return;
	}
	/* A daemon that dies leaves the group to be killed at next start. */
	st->job->pid = p->pid;
	st->job->pid_start = p->start_ticks;
	sched_store_update(st->job);
	ev_io_set(&st->out[0].io, p->fd_out, EV_READ);
	ev_io_set(&st->out[1].io, p->fd_err, EV_READ);
	for (i = 0; i < 2; i++)
		ev_io_start(loop, &st->out[i].io);
	if (p->fd_in != -1) {
		ev_io_set(&st->in_io, p->fd_in, EV_WRITE);
		if (st->spec->stdin_len > 0)
			ev_io_start(loop, &st->in_io);
		else
			exec_stdin_close(st);
	}
	/* Cancelled while it was being started: stop it at once. */
	if (st->job->cancel_reason != 0)
		exec_kill(st);
	/* The coroutine goes on to wait for the command. */
	if (st->waiting) {
		st->waiting = false;
		sched_wake(st->job, 0);
	}
}

static void
exec_exited(struct proc *p, int status)
{
	struct exec_state	*st = container_of(p, struct exec_state, proc);
	struct timespec		 ts;
	int			 i;

	st->exited = true;
	st->proc.status = status;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	st->finished = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	exec_stdin_close(st);
	/*
	 * The pipes' write ends that the daemon held (proc.hold_pipes) go
	 * now, so the read ends are at their end unless something the
	 * command left running holds them: look once instead of waiting for
	 * the loop to be woken for each (a reader the log has paused waits
	 * for exec_drained).
	 */
	proc_unhold(p);
	for (i = 0; i < 2; i++) {
		if (!st->out[i].eof && !st->out[i].paused)
			(void)exec_stream_read(&st->out[i]);
	}
	/*
	 * What the command left running in its group goes with it (unless
	 * it is being stopped already: the grace timer is running).
	 */
	if (proc_group_alive(&st->proc))
		exec_kill(st);
	ev_timer_set(&st->linger, st->spec->kill_grace + EXEC_LINGER, 0.);
	ev_timer_start(st->ctx->loop, &st->linger);
	exec_check_done(st);
}

/* Cancelled while waiting: stop the command, wake when it has stopped. */
static bool
exec_cancel(struct job *job)
{
	struct exec_state	*st = job->await_arg;

	exec_kill(st);
	st->waiting = true;
	return (false);
}

/* The environment a command gets (see exec_spec). Allocated, NULL-ended. */
static char **
exec_environ(struct exec_ctx *ctx, const struct exec_spec *sp, uint64_t id)
{
	char		**env;
	const char	*v;
	size_t		  n = 0, i, j, len, cap;

	for (cap = 8; sp->env != NULL && sp->env[cap - 8] != NULL; cap++)
		continue;
	env = xcalloc(cap + 1, sizeof *env);
	env[n++] = xstrdup("PATH=" PROC_DEFAULT_PATH);
	if ((v = ctx->home) != NULL)
		xasprintf(&env[n++], "HOME=%s", v);
	if ((v = ctx->lang) != NULL)
		xasprintf(&env[n++], "LANG=%s", v);
	if ((v = ctx->lc_all) != NULL)
		xasprintf(&env[n++], "LC_ALL=%s", v);
	xasprintf(&env[n++], "ASYNCD_JOB_ID=%" PRIu64, id);
	if ((v = ctx->socket_url) != NULL)
		xasprintf(&env[n++], "ASYNCD_SOCKET=%s", v);
	/* The job's own come last and replace any of the above. */
	for (i = 0; sp->env != NULL && sp->env[i] != NULL; i++) {
		len = strcspn(sp->env[i], "=") + 1;
		for (j = 0; j < n; j++) {
			if (strncmp(env[j], sp->env[i], len) == 0)
				break;
		}
		if (j < n)
			free(env[j]);
		else
			n++;
		env[j] = xstrdup(sp->env[i]);
	}
	env[n] = NULL;
	return (env);
}

static void
exec_environ_free(char **env)
{
	size_t	i;

	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/*
 * Copies len bytes as a JSON string, each byte sequence that is not UTF-8
 * replaced by U+FFFD (cJSON would print it as it is).
 */
static cJSON *
exec_text(const char *buf, size_t len)
{
	const unsigned char	*p = (const unsigned char *)buf;
	cJSON			*s;
	char			*out;
	size_t			 i = 0, o = 0, need, k;
	unsigned		 c, cp, min;

	out = xmalloc(len * 3 + 1);
	while (i < len) {
		c = p[i];
		if (c < 0x80) {
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else
			goto bad;
		for (k = 1; k <= need; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		memcpy(out + o, p + i, need + 1);
		o += need + 1;
		i += need + 1;
		continue;
bad:
		out[o++] = (char)0xef;
		out[o++] = (char)0xbf;
		out[o++] = (char)0xbd;
		i++;
	}
	out[o] = '\0';
	s = cJSON_CreateString(out);
	free(out);
	return (s);
}

/* "SIGSEGV" for 11. */
static void
exec_signame(int sig, char *buf, size_t len)
{
	const char	*abbrev = sigabbrev_np(sig);

	if (abbrev != NULL)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "signal %d", sig);
}

static cJSON *
exec_result(struct exec_state *st)
{
	cJSON	*r;
	char	 name[32];
	int	 code, sig, i;

	proc_describe(st->proc.status, &code, &sig);
	if ((r = cJSON_CreateObject()) == NULL)
		return (NULL);
	if (sig == 0)
		cJSON_AddNumberToObject(r, "exit_code", code);
	else
		cJSON_AddNullToObject(r, "exit_code");
	if (sig != 0) {
		exec_signame(sig, name, sizeof name);
		cJSON_AddStringToObject(r, "signal", name);
	} else
		cJSON_AddNullToObject(r, "signal");
	for (i = 0; i < 2; i++) {
		cJSON_AddItemToObject(r, exec_stream_name(i),
		    exec_text(st->out[i].buf, st->out[i].len));
	}
	cJSON_AddBoolToObject(r, "stdout_truncated", st->out[0].truncated);
	cJSON_AddBoolToObject(r, "stderr_truncated", st->out[1].truncated);
	cJSON_AddNumberToObject(r, "duration",
	    round((st->finished - st->proc.started) * 1e6) / 1e6);
	cJSON_AddNumberToObject(r, "pid", st->proc.pid);
	return (r);
}

int
exec_run(struct job *job, const struct exec_spec *sp, struct exec_outcome *oc)
{
	struct exec_state	 st;
	struct exec_ctx		*ctx = job->sched->exec;
	char			**env;
	int			  i, rv;

	memset(oc, 0, sizeof *oc);
	if (job->cancel_reason != 0)
		return (job->cancel_reason);
	if (ctx == NULL)
		return (ASYNCD_EINTERNAL);
	memset(&st, 0, sizeof st);
	st.job = job;
	st.ctx = ctx;
	st.spec = sp;
	for (i = 0; i < 2; i++) {
		st.out[i].st = &st;
		st.out[i].which = i;
		st.out[i].cap = sp->output_cap;
		ev_io_init(&st.out[i].io, exec_read_cb, -1, EV_READ);
		st.out[i].io.data = &st.out[i];
	}
	ev_io_init(&st.in_io, exec_write_cb, -1, EV_WRITE);
	st.in_io.data = &st;
	ev_timer_init(&st.grace, exec_grace_cb, 0., 0.);
	st.grace.data = &st;
	ev_timer_init(&st.linger, exec_linger_cb, 0., 0.);
	st.linger.data = &st;
	(void)exec_output(job);

	env = exec_environ(ctx, sp, job->id);
	st.proc.argv = sp->argv;
	st.proc.envp = env;
	st.proc.cwd = sp->cwd;
	st.proc.has_stdin = sp->has_stdin;
	/* The store keeps pid and start time (a restart kills the group). */
	st.proc.want_start = job->sched->store != NULL && !job->no_store;
	st.proc.hold_pipes = true;
	st.proc.on_spawned = exec_spawned;
	st.proc.on_exited = exec_exited;
	proc_spawn(ctx->procs, &st.proc);

	/*
	 * Wait for the spawn, then for the command. A cancellation during
	 * either cannot abandon it (a thread, then a process, is at work):
	 * exec_cancel stops the command and the wait goes on until it has.
	 */
	st.waiting = true;
	while (st.waiting)
		(void)sched_suspend(job, exec_cancel, &st);
	exec_environ_free(env);
	if (st.spawned) {
		while (!st.exited || !st.out[0].eof || !st.out[1].eof) {
			st.waiting = true;
			(void)sched_suspend(job, exec_cancel, &st);
		}
	}

	ev_timer_stop(ctx->loop, &st.grace);
	ev_timer_stop(ctx->loop, &st.linger);
	proc_unhold(&st.proc);
	exec_stdin_close(&st);
	for (i = 0; i < 2; i++) {
		if (!st.out[i].eof)
			exec_stream_eof(&st.out[i]);
	}
	/* The log thread has files open only for jobs that wrote. */
	if (st.spawned && (job->output->total[0] > 0 ||
	    job->output->total[1] > 0))
		outlog_close(ctx->outlog, job->id);
	exec_output_wake(job);

	if (!st.spawned) {
		oc->spawn_err = st.proc.err;
		rv = job->cancel_reason != 0 ? job->cancel_reason : 0;
	} else {
		oc->result = exec_result(&st);
		proc_describe(st.proc.status, &oc->exit_code, &oc->signal);
		rv = job->cancel_reason;
	}
	for (i = 0; i < 2; i++)
		free(st.out[i].buf);
	return (rv);
}

/* ---- the "exec" job type */

static int __attribute__((format(printf, 2, 3)))
exec_bad(char **cause, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return (ASYNCD_EBADARGS);
}

/* True for an environment variable's name: [A-Za-z_][A-Za-z0-9_]*. */
static bool
exec_env_name(const char *s)
{
	size_t	len = strlen(s);

	return (len > 0 && len <= 256 && strchr("0123456789", s[0]) == NULL &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") == len);
}

int
exec_check_env(const cJSON *env, char **cause)
{
	const cJSON	*item;
	int		 n = 0;

	if (env == NULL || cJSON_IsNull(env))
		return (0);
	if (!cJSON_IsObject(env))
		return (exec_bad(cause, "'env' must be an object of strings"));
	cJSON_ArrayForEach(item, env) {
		if (!exec_env_name(item->string))
			return (exec_bad(cause, "'env': '%.64s' is not a "
			    "variable name", item->string));
		if (!cJSON_IsString(item))
			return (exec_bad(cause, "'env': %s must be a string",
			    item->string));
		if (++n > EXEC_MAX_ENV)
			return (exec_bad(cause, "'env' has more than %d "
			    "variables", EXEC_MAX_ENV));
	}
	return (0);
}

int
exec_check_common(const cJSON *args, char **cause)
{
	const cJSON	*item;
	double		 d;
	int		 rv;

	if ((rv = exec_check_env(cJSON_GetObjectItemCaseSensitive(args,
	    "env"), cause)) != 0)
		return (rv);
	item = cJSON_GetObjectItemCaseSensitive(args, "cwd");
	if (item != NULL && !cJSON_IsNull(item) && (!cJSON_IsString(item) ||
	    item->valuestring[0] != '/'))
		return (exec_bad(cause, "'cwd' must be an absolute path"));
	item = cJSON_GetObjectItemCaseSensitive(args, "stdin");
	if (item != NULL && !cJSON_IsNull(item) && !cJSON_IsString(item))
		return (exec_bad(cause, "'stdin' must be a string"));
	item = cJSON_GetObjectItemCaseSensitive(args, "stdin_base64");
	if (item != NULL && !cJSON_IsNull(item) && (!cJSON_IsString(item) ||
	    proto_b64_decode(item->valuestring, NULL, NULL) != 0))
		return (exec_bad(cause, "'stdin_base64' must be base64 text"));
	if (cJSON_GetObjectItemCaseSensitive(args, "stdin") != NULL &&
	    item != NULL && !cJSON_IsNull(item))
		return (exec_bad(cause, "give 'stdin' or 'stdin_base64', not "
		    "both"));
	item = cJSON_GetObjectItemCaseSensitive(args, "check");
	if (item != NULL && !cJSON_IsNull(item) && !cJSON_IsBool(item))
		return (exec_bad(cause, "'check' must be true or false"));
	item = cJSON_GetObjectItemCaseSensitive(args, "output_cap");
	if (item != NULL && !cJSON_IsNull(item) && (!cJSON_IsNumber(item) ||
	    item->valuedouble < 0 || item->valuedouble > (double)EXEC_MAX_CAP ||
	    item->valuedouble != floor(item->valuedouble)))
		return (exec_bad(cause, "'output_cap' must be a number of bytes "
		    "from 0 to %zu", EXEC_MAX_CAP));
	item = cJSON_GetObjectItemCaseSensitive(args, "kill_grace");
	if (item != NULL && !cJSON_IsNull(item) &&
	    (proto_get_seconds(item, &d) != 0 || d > 3600))
		return (exec_bad(cause, "'kill_grace' must be a number of "
		    "seconds from 0 to 3600"));
	return (0);
}

static int
exec_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	const cJSON	*argv, *item;
	int		 n, i = 0;

	(void)chk;
	if (!cJSON_IsObject(args))
		return (exec_bad(cause, "exec takes {\"argv\": [\"cmd\", "
		    "\"arg\", ...], \"env\", \"cwd\", \"stdin\", \"check\", "
		    "\"output_cap\", \"kill_grace\"}"));
	argv = cJSON_GetObjectItemCaseSensitive(args, "argv");
	n = cJSON_IsArray(argv) ? cJSON_GetArraySize(argv) : 0;
	if (n < 1 || n > EXEC_MAX_ARGV)
		return (exec_bad(cause, "'argv' must be an array of 1 to %d "
		    "strings", EXEC_MAX_ARGV));
	cJSON_ArrayForEach(item, argv) {
		if (!cJSON_IsString(item))
			return (exec_bad(cause, "argv[%d] must be a string",
			    i));
		if (i == 0 && item->valuestring[0] == '\0')
			return (exec_bad(cause, "argv[0] must not be empty"));
		i++;
	}
	return (exec_check_common(args, cause));
}

/* Fills the optional parts of a spec from args (already checked). */
void
exec_spec_common(struct exec_spec *sp, const cJSON *args)
{
	const cJSON	*item, *v;
	size_t		 n = 0;

	sp->output_cap = EXEC_DEFAULT_CAP;
	sp->kill_grace = EXEC_DEFAULT_GRACE;
	sp->check = true;
	item = cJSON_GetObjectItemCaseSensitive(args, "env");
	if (cJSON_IsObject(item)) {
		sp->env = xcalloc((size_t)cJSON_GetArraySize(item) + 1,
		    sizeof *sp->env);
		cJSON_ArrayForEach(v, item)
			xasprintf(&sp->env[n++], "%s=%s", v->string,
			    v->valuestring);
	}
	item = cJSON_GetObjectItemCaseSensitive(args, "cwd");
	if (cJSON_IsString(item))
		sp->cwd = xstrdup(item->valuestring);
	item = cJSON_GetObjectItemCaseSensitive(args, "stdin");
	if (cJSON_IsString(item)) {
		sp->has_stdin = true;
		sp->stdin_data = xstrdup(item->valuestring);
		sp->stdin_len = strlen(item->valuestring);
	}
	item = cJSON_GetObjectItemCaseSensitive(args, "stdin_base64");
	if (cJSON_IsString(item)) {
		sp->has_stdin = true;
		(void)proto_b64_decode(item->valuestring, &sp->stdin_data,
		    &sp->stdin_len);
	}
	item = cJSON_GetObjectItemCaseSensitive(args, "check");
	if (cJSON_IsBool(item))
		sp->check = cJSON_IsTrue(item);
	item = cJSON_GetObjectItemCaseSensitive(args, "output_cap");
	if (cJSON_IsNumber(item))
		sp->output_cap = (size_t)item->valuedouble;
	item = cJSON_GetObjectItemCaseSensitive(args, "kill_grace");
	if (cJSON_IsNumber(item))
		sp->kill_grace = item->valuedouble;
}

void
exec_spec_free(struct exec_spec *sp)
{
	size_t	i;

	for (i = 0; sp->argv != NULL && sp->argv[i] != NULL; i++)
		free(sp->argv[i]);
	free(sp->argv);
	for (i = 0; sp->env != NULL && sp->env[i] != NULL; i++)
		free(sp->env[i]);
	free(sp->env);
	free(sp->cwd);
	free(sp->stdin_data);
	memset(sp, 0, sizeof *sp);
}

/*
 * Runs a spec as the whole of a job: the result, and with check a failure
 * for a non-zero exit or a signal (with the result still attached).
 */
int
exec_job(struct ad_job *aj, struct exec_spec *sp)
{
	struct exec_outcome	 oc;
	char			 name[32];
	int			 rv;

	rv = exec_run(aj->job, sp, &oc);
	if (oc.spawn_err != 0) {
		if (rv != 0)
			return (rv);
		return (ad_fail(aj, "spawn_failed", "cannot run '%s': %s",
		    sp->argv[0], strerror(oc.spawn_err)));
	}
	ad_result(aj, oc.result);
	if (rv != 0)
		return (rv);
	if (sp->check && oc.signal != 0) {
		exec_signame(oc.signal, name, sizeof name);
		return (ad_fail(aj, "exit_status", "%s was killed by %s",
		    sp->argv[0], name));
	}
	if (sp->check && oc.exit_code != 0)
		return (ad_fail(aj, "exit_status", "%s exited with status %d",
		    sp->argv[0], oc.exit_code));
	return (0);
}

static int
exec_type_run(struct ad_job *aj)
{
	struct exec_spec	 sp;
	const cJSON		*argv, *item;
	size_t			 n = 0;
	int			 rv;

	memset(&sp, 0, sizeof sp);
	argv = cJSON_GetObjectItemCaseSensitive(ad_args(aj), "argv");
	sp.argv = xcalloc((size_t)cJSON_GetArraySize(argv) + 1,
	    sizeof *sp.argv);
	cJSON_ArrayForEach(item, argv)
		sp.argv[n++] = xstrdup(item->valuestring);
	exec_spec_common(&sp, ad_args(aj));
	rv = exec_job(aj, &sp);
	exec_spec_free(&sp);
	return (rv);
}

static const struct ad_type exec_type = {
	.name = "exec",
	.description = "runs {\"argv\": [\"cmd\", \"arg\", ...]} (no shell) "
	    "and returns its exit code and output",
	.check = exec_check,
	.run = exec_type_run,
};

void
exec_register(struct registry *reg, struct acl *allow)
{
	if (registry_add(reg, &exec_type) != 0)
		fatalx("%s: cannot register exec", __func__);
	registry_set_acl(reg, exec_type.name, allow);
}
