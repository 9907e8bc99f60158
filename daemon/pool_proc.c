/*
 * pool_proc.c: the process pool, loop.run_in_executor with a
 * ProcessPoolExecutor: plugins' process functions run in worker
 * processes, so that a crash kills a worker and never the daemon.
 *
 * Design notes.
 *
 * A worker is the daemon's own binary run again as `asyncd --worker`
 * (/proc/self/exe, so that it is the very binary running even if the file
 * was replaced), started with posix_spawn on proc.c's spawn threads: never
 * fork() in the threaded daemon (DESIGN.md, rule 3). It loads the same
 * plugin directory. Its fds 0 and 1 are one end of a socketpair, 2 is the
 * daemon's stderr (its log lines join the daemon's), and nothing else is
 * open in it. Frames on the socket are a 4-byte big-endian length and
 * JSON: a call {"fn": name, "args": ...}; then any number of progress
 * frames {"progress": f, "message": m}; then the answer {"ok": true,
 * "result": ...} or {"ok": false, "code": c, "message": m}.
 *
 * Everything here runs on the loop thread. The socket is non-blocking and
 * watched by ev_io: a frame is written as far as it goes and the rest when
 * the socket is writable; replies are read as they come. Workers start
 * lazily, one per call waiting when none is idle, up to the pool's size;
 * calls wait in one FIFO queue and go to the first idle worker, so they
 * are served in the order asked. A worker that served max_calls calls is
 * retired (its socket closed: it reads EOF and exits) and replaced on
 * demand.
 *
 * A worker's life: spawning (proc.c) → idle ⇄ busy → dead (killed,
 * retired, or found gone) → reaped. Reaping is proc.c's, through the
 * loop's child watcher, and the worker's record is freed only then (the
 * struct proc must stay until on_exited). A worker that dies while busy
 * fails its call with worker_crashed, naming the signal or exit status; a
 * call that is cancelled (or times out) while running has its worker
 * killed with SIGKILL at once: a process, unlike a thread, can be stopped,
 * and the caller need not wait for it.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

extern char	**environ;

enum pool_worker_state {
	POOL_WORKER_SPAWNING,
	POOL_WORKER_IDLE,
	POOL_WORKER_BUSY,
	POOL_WORKER_DEAD	/* killed or retired: waiting to be reaped */
};

struct pool_worker {
	struct proc		 proc;
	struct pool_proc	*pool;
	TAILQ_ENTRY(pool_worker) entry;
	enum pool_worker_state	 state;
	int			 fd;		/* -1 once closed */
	ev_io			 rio;
	ev_io			 wio;
	struct pool_call	*call;		/* while busy */
	uint64_t		 calls;		/* served */
	char			*wbuf;		/* the frame being written */
	size_t			 wlen;
	size_t			 woff;
	char			*rbuf;
	size_t			 rlen;
	size_t			 rcap;
};

TAILQ_HEAD(pool_worker_list, pool_worker);

struct pool_proc {
	struct ev_loop		*loop;
	struct procs		*procs;
	struct pool_proc_config	 cfg;
	char			*argv[7];
	struct pool_worker_list	 workers;	/* every one not reaped */
	TAILQ_HEAD(, pool_call)	 queue;
	size_t			 nspawning;
	size_t			 nactive;	/* spawning, idle or busy */
	size_t			 nlive;		/* not reaped */
	bool			 killing;	/* shutdown */
};

static void	pool_proc_dispatch(struct pool_proc *);

static void
pool_proc_close(struct pool_worker *w)
{
	struct ev_loop	*loop = w->pool->loop;

	if (w->fd == -1)
		return;
	ev_io_stop(loop, &w->rio);
	ev_io_stop(loop, &w->wio);
	close(w->fd);
	w->fd = -1;
	free(w->wbuf);
	w->wbuf = NULL;
	free(w->rbuf);
	w->rbuf = NULL;
	w->rlen = w->rcap = 0;
}

/* The worker will serve no more calls: close it and count it out. */
static void
pool_proc_retire(struct pool_worker *w, bool kill_it)
{
	if (w->state == POOL_WORKER_DEAD)
		return;
	if (kill_it && w->proc.pid > 0)
		(void)proc_signal(&w->proc, SIGKILL);
	pool_proc_close(w);
	if (w->state == POOL_WORKER_SPAWNING)
		w->pool->nspawning--;
	w->state = POOL_WORKER_DEAD;
	w->pool->nactive--;
}

/* Ends the worker's call with an error, and runs its done. */
static void __attribute__((format(printf, 3, 4)))
pool_proc_fail(struct pool_call *c, const char *code, const char *fmt, ...)
{
	va_list	ap;

	c->status = ASYNCD_EFAILED;
	c->err_code = xstrdup(code);
	va_start(ap, fmt);
	xvasprintf(&c->err_message, fmt, ap);
	va_end(ap);
	c->worker = NULL;
	c->done(c);
}

static void
pool_proc_free_worker(struct pool_worker *w)
{
	struct pool_proc	*pool = w->pool;

	TAILQ_REMOVE(&pool->workers, w, entry);
	pool->nlive--;
	pool_proc_close(w);
	free(w);
}

/* proc.c: the worker was started, or could not be. */
static void
pool_proc_spawned(struct proc *p)
{
	struct pool_worker	*w = container_of(p, struct pool_worker, proc);
	struct pool_proc	*pool = w->pool;
	struct pool_call	*c;

	if (p->err != 0) {
		log_warnx("process pool: cannot start a worker: %s",
		    strerror(p->err));
		if (w->state != POOL_WORKER_DEAD)
			pool_proc_retire(w, false);
		/* Else every call could wait for ever for a worker. */
		if (pool->nactive == 0 &&
		    (c = TAILQ_FIRST(&pool->queue)) != NULL) {
			TAILQ_REMOVE(&pool->queue, c, entry);
			c->queued = false;
			pool_proc_fail(c, "worker_crashed", "cannot start a "
			    "worker process: %s", strerror(p->err));
		}
		pool_proc_free_worker(w);
		pool_proc_dispatch(pool);
		return;
	}
	w->fd = p->fd_out;
	ev_io_set(&w->rio, w->fd, EV_READ);
	ev_io_set(&w->wio, w->fd, EV_WRITE);
	if (w->state == POOL_WORKER_DEAD) {
		/* Killed while spawning (shutdown): finish it now. */
		(void)proc_signal(p, SIGKILL);
		pool_proc_close(w);
		return;
	}
	log_debug("process pool: worker %ld started", (long)p->pid);
	pool->nspawning--;
	w->state = POOL_WORKER_IDLE;
	ev_io_start(pool->loop, &w->rio);
	pool_proc_dispatch(pool);
}

/* proc.c: the worker is gone (and reaped). */
static void
pool_proc_exited(struct proc *p, int status)
{
	struct pool_worker	*w = container_of(p, struct pool_worker, proc);
	struct pool_proc	*pool = w->pool;
	struct pool_call	*c = w->call;
	char			 how[64];
	int			 code, sig;

	proc_describe(status, &code, &sig);
	if (sig != 0)
		snprintf(how, sizeof how, "killed by signal %d (SIG%s)", sig,
		    sigabbrev_np(sig) != NULL ? sigabbrev_np(sig) : "?");
	else
		snprintf(how, sizeof how, "exited with status %d", code);
	if (c != NULL) {
		w->call = NULL;
		log_warnx("process pool: worker %ld %s while running %s",
		    (long)p->pid, how, c->fn);
		pool_proc_fail(c, "worker_crashed", "the worker process "
		    "running %s %s", c->fn, how);
	} else if (w->state != POOL_WORKER_DEAD) {
		log_warnx("process pool: idle worker %ld %s", (long)p->pid,
		    how);
	} else
		log_debug("process pool: worker %ld %s", (long)p->pid, how);
	pool_proc_retire(w, false);
	pool_proc_free_worker(w);
	pool_proc_dispatch(pool);
}

/* Writes what is left of the frame; false if the socket broke. */
static bool
pool_proc_flush(struct pool_worker *w)
{
	ssize_t	n;

	while (w->woff < w->wlen) {
		n = send(w->fd, w->wbuf + w->woff, w->wlen - w->woff,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(w->pool->loop, &w->wio);
			return (true);
		}
		if (n == -1)
			return (false);
		w->woff += (size_t)n;
	}
	ev_io_stop(w->pool->loop, &w->wio);
	free(w->wbuf);
	w->wbuf = NULL;
	return (true);
}

/* The socket broke: the exit status will say why, on_exited fails it. */
static void
pool_proc_broken(struct pool_worker *w)
{
	if (w->state != POOL_WORKER_DEAD)
		(void)proc_signal(&w->proc, SIGKILL);
	pool_proc_close(w);
}

static void
pool_proc_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pool_worker	*w = container_of(io, struct pool_worker, wio);

	(void)loop;
	(void)revents;
	if (!pool_proc_flush(w))
		pool_proc_broken(w);
}

/* A frame from the worker; false if it makes no sense (kill it). */
static bool
pool_proc_frame(struct pool_worker *w, const char *data, size_t len)
{
	struct pool_proc	*pool = w->pool;
	struct pool_call	*c = w->call;
	const cJSON		*item, *msg;
	cJSON			*root;

	if (c == NULL || (root = cJSON_ParseWithLength(data, len)) == NULL)
		return (false);
	if ((item = cJSON_GetObjectItemCaseSensitive(root,
	    "progress")) != NULL) {
		msg = cJSON_GetObjectItemCaseSensitive(root, "message");
		if (cJSON_IsNumber(item) && c->progress != NULL)
			c->progress(c, item->valuedouble,
			    cJSON_IsString(msg) ? msg->valuestring : NULL);
		cJSON_Delete(root);
		return (true);
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "ok");
	if (cJSON_IsTrue(item)) {
		c->status = 0;
		c->result = cJSON_DetachItemFromObjectCaseSensitive(root,
		    "result");
	} else {
		c->status = ASYNCD_EFAILED;
		item = cJSON_GetObjectItemCaseSensitive(root, "code");
		msg = cJSON_GetObjectItemCaseSensitive(root, "message");
		c->err_code = xstrdup(cJSON_IsString(item) ?
		    item->valuestring : "failed");
		c->err_message = xstrdup(cJSON_IsString(msg) ?
		    msg->valuestring : "failed");
	}
	cJSON_Delete(root);
	w->call = NULL;
	c->worker = NULL;
	w->calls++;
	if (pool->cfg.max_calls > 0 && w->calls >= pool->cfg.max_calls) {
		log_debug("process pool: worker %ld served %" PRIu64 " calls; "
		    "retiring it", (long)w->proc.pid, w->calls);
		pool_proc_retire(w, false);	/* it reads EOF and exits */
	} else
		w->state = POOL_WORKER_IDLE;
	c->done(c);
	return (true);
}

static void
pool_proc_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pool_worker	*w = container_of(io, struct pool_worker, rio);
	struct pool_proc	*pool = w->pool;
	uint32_t		 be;
	size_t			 len, off;
	ssize_t			 n;

	(void)loop;
	(void)revents;
	if (w->rcap - w->rlen < 65536) {
		w->rcap = w->rcap == 0 ? 65536 : w->rcap * 2;
		w->rbuf = xreallocarray(w->rbuf, 1, w->rcap);
	}
	n = recv(w->fd, w->rbuf + w->rlen, w->rcap - w->rlen, 0);
	if (n == -1 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		pool_proc_broken(w);
		return;
	}
	w->rlen += (size_t)n;
	off = 0;
	while (w->fd != -1 && w->rlen - off >= 4) {
		memcpy(&be, w->rbuf + off, 4);
		len = ntohl(be);
		if (len > WORKER_MAX_FRAME) {
			log_warnx("process pool: worker %ld sent a frame of "
			    "%zu bytes; killing it", (long)w->proc.pid, len);
			(void)proc_signal(&w->proc, SIGKILL);
			pool_proc_broken(w);
			return;
		}
		if (w->rlen - off - 4 < len)
			break;
		if (!pool_proc_frame(w, w->rbuf + off + 4, len)) {
			log_warnx("process pool: worker %ld sent a bad frame; "
			    "killing it", (long)w->proc.pid);
			(void)proc_signal(&w->proc, SIGKILL);
			pool_proc_broken(w);
			return;
		}
		off += 4 + len;
	}
	if (w->fd != -1) {
		memmove(w->rbuf, w->rbuf + off, w->rlen - off);
		w->rlen -= off;
	}
	pool_proc_dispatch(pool);
}

static void
pool_proc_spawn(struct pool_proc *pool)
{
	struct pool_worker	*w;

	w = xcalloc(1, sizeof *w);
	w->pool = pool;
	w->fd = -1;
	w->state = POOL_WORKER_SPAWNING;
	ev_io_init(&w->rio, pool_proc_read_cb, -1, EV_READ);
	ev_io_init(&w->wio, pool_proc_write_cb, -1, EV_WRITE);
	w->proc.argv = pool->argv;
	w->proc.envp = environ;
	w->proc.socket = true;
	w->proc.on_spawned = pool_proc_spawned;
	w->proc.on_exited = pool_proc_exited;
	TAILQ_INSERT_TAIL(&pool->workers, w, entry);
	pool->nspawning++;
	pool->nactive++;
	pool->nlive++;
	proc_spawn(pool->procs, &w->proc);
}

/* Gives the call to the worker: its frame goes out. */
static void
pool_proc_assign(struct pool_worker *w, struct pool_call *c)
{
	cJSON		*root;
	char		*text;
	size_t		 len;
	uint32_t	 be;

	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "fn", c->fn);
	cJSON_AddItemReferenceToObject(root, "args", (cJSON *)c->args);
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text == NULL)
		fatalx("%s: out of memory", __func__);
	len = strlen(text);
	w->wbuf = xmalloc(len + 4);
	be = htonl((uint32_t)len);
	memcpy(w->wbuf, &be, 4);
	memcpy(w->wbuf + 4, text, len);
	free(text);
	w->wlen = len + 4;
	w->woff = 0;
	w->call = c;
	w->state = POOL_WORKER_BUSY;
	c->worker = w;
	if (!pool_proc_flush(w))
		pool_proc_broken(w);	/* on_exited fails the call */
}

static void
pool_proc_dispatch(struct pool_proc *pool)
{
	struct pool_worker	*w;
	struct pool_call	*c;
	size_t			 waiting = 0;

	if (pool->killing)
		return;
	TAILQ_FOREACH(w, &pool->workers, entry) {
		if ((c = TAILQ_FIRST(&pool->queue)) == NULL)
			break;
		if (w->state != POOL_WORKER_IDLE)
			continue;
		TAILQ_REMOVE(&pool->queue, c, entry);
		c->queued = false;
		pool_proc_assign(w, c);
	}
	TAILQ_FOREACH(c, &pool->queue, entry)
		waiting++;
	while (waiting > pool->nspawning && pool->nactive < pool->cfg.workers)
		pool_proc_spawn(pool);
}

void
pool_proc_start(struct pool_proc **out, struct ev_loop *loop,
    struct procs *procs, const struct pool_proc_config *cfg)
{
	struct pool_proc	*pool;
	size_t			 i = 0;

	pool = xcalloc(1, sizeof *pool);
	pool->loop = loop;
	pool->procs = procs;
	pool->cfg = *cfg;
	if (pool->cfg.workers == 0)
		pool->cfg.workers = 1;
	pool->argv[i++] = xstrdup(cfg->exe != NULL ? cfg->exe :
	    "/proc/self/exe");
	pool->argv[i++] = xstrdup("--worker");
	pool->argv[i++] = xstrdup("--plugin-dir");
	pool->argv[i++] = xstrdup(cfg->plugin_dir);
	pool->argv[i++] = xstrdup("--log-level");
	pool->argv[i++] = xstrdup(cfg->log_level);
	pool->argv[i] = NULL;
	TAILQ_INIT(&pool->workers);
	TAILQ_INIT(&pool->queue);
	*out = pool;
}

void
pool_proc_submit(struct pool_proc *pool, struct pool_call *c)
{
	c->status = 0;
	c->result = NULL;
	c->err_code = c->err_message = NULL;
	c->worker = NULL;
	c->queued = true;
	TAILQ_INSERT_TAIL(&pool->queue, c, entry);
	pool_proc_dispatch(pool);
}

void
pool_proc_cancel(struct pool_proc *pool, struct pool_call *c)
{
	struct pool_worker	*w = c->worker;

	if (c->queued) {
		TAILQ_REMOVE(&pool->queue, c, entry);
		c->queued = false;
		return;
	}
	if (w == NULL)
		return;
	log_debug("process pool: killing worker %ld (its call of %s was "
	    "cancelled)", (long)w->proc.pid, c->fn);
	w->call = NULL;
	c->worker = NULL;
	pool_proc_retire(w, true);
	pool_proc_dispatch(pool);
}

void
pool_proc_kill(struct pool_proc *pool)
{
	struct pool_worker	*w;
	struct pool_call	*c;

	if (pool == NULL)
		return;
	pool->killing = true;
	/* Jobs were cancelled first: a call left here is a job stuck past
	 * the drain timeout, and it is told. */
	while ((c = TAILQ_FIRST(&pool->queue)) != NULL) {
		TAILQ_REMOVE(&pool->queue, c, entry);
		c->queued = false;
		pool_proc_fail(c, "worker_crashed", "the daemon is stopping");
	}
	TAILQ_FOREACH(w, &pool->workers, entry) {
		if ((c = w->call) != NULL) {
			w->call = NULL;
			pool_proc_fail(c, "worker_crashed", "the daemon is "
			    "stopping");
		}
		pool_proc_retire(w, true);
	}
}

size_t
pool_proc_live(const struct pool_proc *pool)
{
	return (pool == NULL ? 0 : pool->nlive);
}

void
pool_proc_stop(struct pool_proc *pool)
{
	size_t	i;

	if (pool == NULL)
		return;
	pool_proc_kill(pool);
	if (pool->nlive > 0) {
		/*
		 * A spawn or an exit may still be reported (the spawn threads
		 * and the inbox outlive us): keep what their callbacks touch.
		 */
		log_warnx("process pool: %zu worker%s not reaped at exit",
		    pool->nlive, pool->nlive == 1 ? "" : "s");
		return;
	}
	for (i = 0; pool->argv[i] != NULL; i++)
		free(pool->argv[i]);
	free(pool);
}
