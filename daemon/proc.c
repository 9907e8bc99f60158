/*
 * proc.c: child processes, started off the loop and reaped on it.
 *
 * Design notes.
 *
 * Starting a program touches the disk: the PATH search stats files, and
 * posix_spawn returns only once the child has exec'd its binary, which a
 * cold cache or a hung network mount can make slow. The loop never blocks
 * (DESIGN.md, rule 2), so spawning runs on a small pool of its own, never
 * on the loop and never with fork() (rule 3): posix_spawn clones with
 * CLONE_VFORK, and the child execs at once, so nothing of the threaded
 * daemon (nng least of all) runs in it. The child gets its own process
 * group (so the whole group can be signalled), default signal dispositions
 * and an empty signal mask (the daemon ignores SIGPIPE; a command must
 * not), and exactly descriptors 0, 1 and 2: everything from 3 up is closed
 * in the child whatever its close-on-exec flag says.
 *
 * Reaping is libev's: its default loop reaps every child with
 * waitpid(-1) when SIGCHLD arrives, and one catch-all ev_child watcher
 * (pid 0) hears of each. That creates a race: a child may exit, and be
 * reaped on the loop, before the spawning thread has told anyone its pid.
 * So the pid goes into a table under a lock as soon as posix_spawn
 * returns, and an exit whose pid is not in the table is kept for a while:
 * the spawning thread looks there before it registers the pid, and takes
 * an exit recorded after it started spawning. (Exits of other children,
 * grandchildren the daemon adopted as their subreaper, are kept briefly
 * and dropped.)
 *
 * Callbacks run on the loop, spawned first and exited after, always in
 * that order and each exactly once (exited never if the spawn failed).
 *
 * Threads: proc_spawn and the callbacks on the loop; the spawn itself on a
 * spawn thread, which writes only the struct proc it was given until it
 * hands it back through the inbox. The table is the only shared state,
 * guarded by its lock, which is never held across a system call that can
 * block.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

/* Spawning threads: two keep one slow exec from holding up the rest. */
#define PROC_THREADS		2
/* Exits of unknown pids kept for a spawn to claim, and for how long. */
#define PROC_ORPHANS		1024
#define PROC_ORPHAN_SECONDS	30.0
/* Pids in flight at once hash into this many buckets. */
#define PROC_BUCKETS		256

struct proc_orphan {
	pid_t		 pid;
	int		 status;
	double		 when;		/* monotonic */
};

struct procs {
	struct ev_loop		*loop;
	struct inbox		*inbox;
	struct pool_thread	*pool;
	ev_child		 child;		/* pid 0: every child */
	pthread_mutex_t		 lock;		/* guards what follows */
	LIST_HEAD(, proc)	 buckets[PROC_BUCKETS];
	struct proc_orphan	 orphans[PROC_ORPHANS];
	size_t			 norphans;
	size_t			 next_orphan;	/* ring position */
	size_t			 live;		/* spawned, not reaped */
	/*
	 * The signals a child gets set back to SIG_DFL: all of them. glibc's
	 * posix_spawn child sees every signal blocked (the parent blocks them
	 * around the clone), so for each signal not named here it asks
	 * sigaction first and then sets SIG_DFL anyway unless it was ignored:
	 * naming them all costs one call a signal instead of two, which on
	 * this kind of VM is a third of the child's time before its execve.
	 */
	sigset_t		 sigdef;
};

static double
proc_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static size_t
proc_bucket(pid_t pid)
{
	return ((size_t)pid % PROC_BUCKETS);
}

/*
 * The environment variable name=... of envp, or NULL. The child's own
 * PATH decides where argv[0] is found, not the daemon's.
 */
static const char *
proc_getenv(char *const *envp, const char *name)
{
	size_t	len = strlen(name);

	for (; *envp != NULL; envp++) {
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return (*envp + len + 1);
	}
	return (NULL);
}

/*
 * Finds file in the child's PATH, as execvp would: the first directory
 * with an executable regular file of that name. A relative directory is
 * taken from the child's working directory. Returns an allocated path, or
 * NULL with errno set (ENOENT, or EACCES if one was found but could not
 * be run).
 */
static char *
proc_search(const char *file, char *const *envp, const char *cwd)
{
	const char	*path, *p, *end;
	struct stat	 st;
	char		*full;
	int		 saved = ENOENT;

	if ((path = proc_getenv(envp, "PATH")) == NULL)
		path = PROC_DEFAULT_PATH;
	for (p = path; ; p = end + 1) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		if (end == p)
			full = xstrdup(file);		/* "": the cwd */
		else
			xasprintf(&full, "%.*s/%s", (int)(end - p), p, file);
		if (full[0] != '/' && cwd != NULL) {
			char	*rel = full;

			xasprintf(&full, "%s/%s", cwd, rel);
			free(rel);
		}
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(full, X_OK) == 0)
				return (full);
			saved = EACCES;
		}
		free(full);
		if (*end == '\0')
			break;
	}
	errno = saved;
	return (NULL);
}

/* Opens a pipe whose parent end is ours: non-blocking, close-on-exec. */
static int
proc_pipe(int fds[2], int ours)
{
	if (pipe2(fds, O_CLOEXEC) == -1)
		return (errno);
	if (fcntl(fds[ours], F_SETFL, O_NONBLOCK) == -1) {
		int	saved = errno;

		close(fds[0]);
		close(fds[1]);
		return (saved);
	}
	return (0);
}

/* Takes an exit recorded for pid since "since", if there is one. Locked. */
static bool
proc_claim(struct procs *ps, pid_t pid, double since, int *status)
{
	size_t	i;

	for (i = 0; i < ps->norphans; i++) {
		if (ps->orphans[i].pid == pid && ps->orphans[i].when >= since) {
			*status = ps->orphans[i].status;
			ps->orphans[i].pid = 0;
			return (true);
		}
	}
	return (false);
}

int
proc_start_time(pid_t pid, uint64_t *ticks)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 v;
	ssize_t			 n;
	int			 fd, i;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (errno);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (EIO);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past it. */
	if ((p = strrchr(buf, ')')) == NULL)
		return (EIO);
	/* Field 22, starttime; p is at the end of field 2. */
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &v) != 1)
		return (EIO);
	*ticks = v;
	return (0);
}

int
proc_kill_orphan(pid_t pgid, uint64_t start)
{
	uint64_t	now;

	if (pgid <= 1)
		return (0);
	if (proc_start_time(pgid, &now) == 0) {
		/* The leader lives: ours only if it started when ours did. */
		if (start == 0 || now != start)
			return (0);
	}
	/*
	 * With the leader gone, a group with its id can only be what is left
	 * of ours: the kernel hands out no pid still in use as a group id.
	 */
	if (kill(-pgid, SIGKILL) == -1)
		return (errno == ESRCH ? 0 : errno);
	return (1);
}

/* The spawn itself, on a spawn thread. Writes only p. */
static void
proc_spawn_fn(void *arg)
{
	struct proc			*p = arg;
	struct procs			*ps = p->procs;
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none;
	int				 in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int				 err[2] = { -1, -1 }, rv;
	char				*file = NULL;
	double				 since;
	pid_t				 pid;

	p->err = 0;
	if (strchr(p->argv[0], '/') != NULL)
		file = xstrdup(p->argv[0]);
	else if ((file = proc_search(p->argv[0], p->envp, p->cwd)) == NULL) {
		p->err = errno;
		return;
	}
	if (p->socket) {
		/* out[0] ours, out[1] the child's 0 and 1; 2 stays the log. */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    out) == -1 || fcntl(out[0], F_SETFL, O_NONBLOCK) == -1) {
			p->err = errno;
			goto out;
		}
	} else if ((p->has_stdin && (rv = proc_pipe(in, 1)) != 0) ||
	    (rv = proc_pipe(out, 0)) != 0 || (rv = proc_pipe(err, 0)) != 0) {
		p->err = rv;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	if (p->socket) {
		posix_spawn_file_actions_adddup2(&fa, out[1], 0);
		posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	} else if (p->has_stdin)
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
		    0);
	if (!p->socket) {
		posix_spawn_file_actions_adddup2(&fa, out[1], 1);
		posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	}
	if (p->cwd != NULL)
		posix_spawn_file_actions_addchdir_np(&fa, p->cwd);
	/* Exactly 0, 1 and 2, whatever anyone forgot to mark close-on-exec. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&attr, &ps->sigdef);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

	since = proc_now();
	rv = posix_spawn(&pid, file, &fa, &attr, p->argv, p->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rv != 0) {
		p->err = rv;
		goto out;
	}
	p->pid = pid;
	p->started = since;
	/* Names this process among all that may get its pid later. */
	if (!p->want_start || proc_start_time(pid, &p->start_ticks) != 0)
		p->start_ticks = 0;
	pthread_mutex_lock(&ps->lock);
	if (proc_claim(ps, pid, since, &p->status))
		p->reaped = true;	/* exited before we could say */
	else {
		LIST_INSERT_HEAD(&ps->buckets[proc_bucket(pid)], p, entry);
		ps->live++;
	}
	pthread_mutex_unlock(&ps->lock);
	p->fd_in = in[1];
	p->fd_out = out[0];
	p->fd_err = err[0];
	in[1] = out[0] = err[0] = -1;
	if (p->hold_pipes && !p->socket) {
		p->fd_out_w = out[1];
		p->fd_err_w = err[1];
		out[1] = err[1] = -1;
	}
out:
	/* The child's ends, and ours on failure. */
	if (in[0] != -1)
		close(in[0]);
	if (in[1] != -1)
		close(in[1]);
	if (out[0] != -1)
		close(out[0]);
	if (out[1] != -1)
		close(out[1]);
	if (err[0] != -1)
		close(err[0]);
	if (err[1] != -1)
		close(err[1]);
	free(file);
}

/* Loop: the spawn is done (or failed). */
static void
proc_spawn_done(struct pool_work *w, int status)
{
	struct proc	*p = container_of(w, struct proc, work);

	if (status != 0 && p->err == 0)
		p->err = ECANCELED;	/* the pool stopped first */
	p->spawn_done = true;
	p->on_spawned(p);
	if (p->err == 0 && p->reaped)
		p->on_exited(p, p->status);
}

/* Loop: libev reaped a child (any child). */
static void
proc_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct procs		*ps = container_of(w, struct procs, child);
	struct proc_orphan	*o;
	struct proc		*p;
	double			 now = proc_now();
	size_t			 i;

	(void)loop;
	(void)revents;
	if (!WIFEXITED(w->rstatus) && !WIFSIGNALED(w->rstatus))
		return;		/* stopped or continued: not an exit */
	pthread_mutex_lock(&ps->lock);
	LIST_FOREACH(p, &ps->buckets[proc_bucket(w->rpid)], entry) {
		if (p->pid == w->rpid)
			break;
	}
	if (p != NULL) {
		LIST_REMOVE(p, entry);
		ps->live--;
		pthread_mutex_unlock(&ps->lock);
		p->status = w->rstatus;
		p->reaped = true;
		/* Before the spawn is reported, proc_spawn_done says it. */
		if (p->spawn_done)
			p->on_exited(p, p->status);
		return;
	}
	/* Not ours yet, or not ours at all: keep it for a while. */
	for (i = 0; i < ps->norphans; i++) {
		if (ps->orphans[i].pid == 0 ||
		    now - ps->orphans[i].when > PROC_ORPHAN_SECONDS)
			break;
	}
	if (i == ps->norphans) {
		if (ps->norphans < PROC_ORPHANS)
			ps->norphans++;
		else
			i = ps->next_orphan++ % PROC_ORPHANS;
	}
	o = &ps->orphans[i];
	o->pid = w->rpid;
	o->status = w->rstatus;
	o->when = now;
	pthread_mutex_unlock(&ps->lock);
}

int
proc_start(struct procs **out, struct ev_loop *loop, struct inbox *inbox)
{
	struct procs	*ps;
	size_t		 i;
	int		 rv;

	ps = xcalloc(1, sizeof *ps);
	ps->loop = loop;
	ps->inbox = inbox;
	sigfillset(&ps->sigdef);
	pthread_mutex_init(&ps->lock, NULL);
	for (i = 0; i < PROC_BUCKETS; i++)
		LIST_INIT(&ps->buckets[i]);
	if ((rv = pool_thread_start(&ps->pool, PROC_THREADS, inbox)) != 0) {
		pthread_mutex_destroy(&ps->lock);
		free(ps);
		return (rv);
	}
	/*
	 * Orphans of our children (a command's background jobs) are
	 * reparented to us rather than to init, so that libev reaps them
	 * and they never linger as zombies of someone else's.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("%s: PR_SET_CHILD_SUBREAPER", __func__);
	ev_child_init(&ps->child, proc_child_cb, 0, 0);
	ev_child_start(loop, &ps->child);
	ev_unref(loop);
	*out = ps;
	return (0);
}

void
proc_stop(struct procs *ps)
{
	if (ps == NULL)
		return;
	pool_thread_stop(ps->pool);
	ev_ref(ps->loop);
	ev_child_stop(ps->loop, &ps->child);
	pthread_mutex_destroy(&ps->lock);
	free(ps);
}

void
proc_spawn(struct procs *ps, struct proc *p)
{
	p->procs = ps;
	p->pid = -1;
	p->fd_in = p->fd_out = p->fd_err = -1;
	p->fd_out_w = p->fd_err_w = -1;
	p->spawn_done = false;
	p->reaped = false;
	pool_thread_submit(ps->pool, &p->work, proc_spawn_fn, p,
	    proc_spawn_done);
}

int
proc_signal(struct proc *p, int sig)
{
	if (p->pid <= 0)
		return (ESRCH);
	/* The group outlives its leader: it is there while any member is. */
	if (kill(-p->pid, sig) == 0)
		return (0);
	return (errno);
}

void
proc_unhold(struct proc *p)
{
	if (p->fd_out_w != -1)
		close(p->fd_out_w);
	if (p->fd_err_w != -1)
		close(p->fd_err_w);
	p->fd_out_w = p->fd_err_w = -1;
}

bool
proc_group_alive(const struct proc *p)
{
	return (p->pid > 0 && kill(-p->pid, 0) == 0);
}

size_t
proc_live(struct procs *ps)
{
	size_t	n;

	pthread_mutex_lock(&ps->lock);
	n = ps->live;
	pthread_mutex_unlock(&ps->lock);
	return (n);
}

void
proc_describe(int status, int *exit_code, int *sig)
{
	*exit_code = -1;
	*sig = 0;
	if (WIFEXITED(status))
		*exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		*sig = WTERMSIG(status);
}
