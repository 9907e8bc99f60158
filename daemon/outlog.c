/*
 * outlog.c: commands' output on disk, one file per job and stream in the
 * state directory ("logs/<id>.out", "logs/<id>.err").
 *
 * Design notes.
 *
 * The loop reads a command's output from its pipes and must never touch
 * the disk (DESIGN.md, rule 2), so the files are written, read and removed
 * by one thread of their own. The loop queues work (append these bytes,
 * close this job's files, read from this offset, remove these files) and
 * the thread does it in order, so a read sees every byte appended before
 * it was asked. What the thread has done comes back through the inbox:
 * for appends, how many bytes of each stream are now on disk ("committed")
 * and whether the log had to be cut; for reads, the bytes.
 *
 * Memory stays bounded: the loop counts the bytes queued and not yet
 * written (outlog_backlog); past OUTLOG_HIGH the readers of pipes stop
 * (the command then blocks on a full pipe, which is what a slow disk
 * should do to it) and they go on once the backlog is under OUTLOG_LOW.
 *
 * Disk stays bounded too: the files together hold at most max_bytes. When
 * an append would pass it, the oldest jobs' files (lowest ids) are removed
 * first; the files of jobs still being written are never removed, so a
 * single command that writes more than the whole budget has its log cut
 * there (the rest of its output still reaches the job's result and the
 * events, just not the file).
 *
 * Threads: the queue and backlog are guarded by the lock; the table of
 * files and the directory belong to the thread; the callbacks run on the
 * loop.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* The backlog at which pipe readers pause, and at which they go on. */
#define OUTLOG_HIGH	((size_t)8 << 20)
#define OUTLOG_LOW	((size_t)2 << 20)
/* Open files the thread keeps; past it the least recently used close. */
#define OUTLOG_OPEN	64

enum outlog_kind {
	OUTLOG_APPEND,
	OUTLOG_CLOSE,		/* the job writes no more */
	OUTLOG_REMOVE,
	OUTLOG_READ
};

struct outlog_item {
	TAILQ_ENTRY(outlog_item) entry;
	enum outlog_kind	 kind;
	uint64_t		 id;
	int			 stream;
	char			*data;
	size_t			 len;
	struct outlog_read	*read;
};

/* A job's files, as the thread knows them. */
struct outlog_file {
	TAILQ_ENTRY(outlog_file) entry;	/* in id order */
	uint64_t		 id;
	uint64_t		 size[2];	/* on disk */
	int			 fd[2];		/* -1: closed */
	bool			 writing;	/* not closed by the loop */
	bool			 cut[2];	/* over the budget */
	double			 used;		/* for closing idle fds */
};

/* What one batch of appends did, for the loop. */
struct outlog_commit {
	uint64_t		 id;
	uint64_t		 size[2];
	bool			 cut[2];
};

struct outlog_batch {
	struct inbox_item	 item;
	struct outlog		*ol;
	struct outlog_commit	*commits;
	size_t			 n;
	size_t			 consumed;	/* backlog bytes written */
};

struct outlog {
	char			*dir;
	size_t			 max_bytes;
	struct inbox		*inbox;
	pthread_t		 thread;
	pthread_mutex_t		 lock;		/* guards queue, stop, backlog */
	pthread_cond_t		 cond;
	TAILQ_HEAD(, outlog_item) queue;
	bool			 stop;
	size_t			 backlog;	/* bytes queued to append */
	bool			 paused;	/* loop: readers told to wait */
	outlog_commit_fn	 on_commit;
	outlog_drain_fn		 on_drain;
	void			*arg;

	/* The thread's. */
	TAILQ_HEAD(outlog_files, outlog_file) files;
	size_t			 nfiles;
	uint64_t		 total;		/* bytes in every file */
	size_t			 open;
	double			 clock;
};

static char *
outlog_path(struct outlog *ol, uint64_t id, int stream)
{
	char	*path;

	xasprintf(&path, "%s/%" PRIu64 ".%s", ol->dir, id,
	    stream == OUTLOG_STDOUT ? "out" : "err");
	return (path);
}

static struct outlog_file *
outlog_find(struct outlog *ol, uint64_t id)
{
	struct outlog_file	*f;

	/* Recent jobs are written most: look from the newest. */
	TAILQ_FOREACH_REVERSE(f, &ol->files, outlog_files, entry) {
		if (f->id == id)
			return (f);
		if (f->id < id)
			break;
	}
	return (NULL);
}

/* Adds a job's entry, keeping id order (ids mostly arrive in order). */
static struct outlog_file *
outlog_add(struct outlog *ol, uint64_t id)
{
	struct outlog_file	*f, *after;

	f = xcalloc(1, sizeof *f);
	f->id = id;
	f->fd[0] = f->fd[1] = -1;
	TAILQ_FOREACH_REVERSE(after, &ol->files, outlog_files, entry) {
		if (after->id < id)
			break;
	}
	if (after == NULL)
		TAILQ_INSERT_HEAD(&ol->files, f, entry);
	else
		TAILQ_INSERT_AFTER(&ol->files, after, f, entry);
	ol->nfiles++;
	return (f);
}

static void
outlog_close_fds(struct outlog *ol, struct outlog_file *f)
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (f->fd[i] != -1) {
			close(f->fd[i]);
			f->fd[i] = -1;
			ol->open--;
		}
	}
}

static void
outlog_unlink(struct outlog *ol, struct outlog_file *f)
{
	char	*path;
	int	 i;

	outlog_close_fds(ol, f);
	for (i = 0; i < 2; i++) {
		path = outlog_path(ol, f->id, i);
		if (unlink(path) == -1 && errno != ENOENT)
			log_warn("%s: unlink %s", __func__, path);
		free(path);
		ol->total -= f->size[i];
	}
	TAILQ_REMOVE(&ol->files, f, entry);
	ol->nfiles--;
	free(f);
}

/* Makes room for len more bytes; false if only the writer could give. */
static bool
outlog_room(struct outlog *ol, struct outlog_file *writer, size_t len)
{
	struct outlog_file	*f, *next;

	for (f = TAILQ_FIRST(&ol->files); f != NULL &&
	    ol->total + len > ol->max_bytes; f = next) {
		next = TAILQ_NEXT(f, entry);
		if (f->writing || f == writer)
			continue;
		outlog_unlink(ol, f);
	}
	return (ol->total + len <= ol->max_bytes);
}

/* Closes the descriptors of the file used longest ago. */
static void
outlog_close_lru(struct outlog *ol)
{
	struct outlog_file	*f, *old = NULL;

	TAILQ_FOREACH(f, &ol->files, entry) {
		if ((f->fd[0] != -1 || f->fd[1] != -1) &&
		    (old == NULL || f->used < old->used))
			old = f;
	}
	if (old != NULL)
		outlog_close_fds(ol, old);
}

static void
outlog_do_append(struct outlog *ol, struct outlog_item *it)
{
	struct outlog_file	*f;
	char			*path;
	ssize_t			 n;
	size_t			 off = 0;

	if ((f = outlog_find(ol, it->id)) == NULL) {
		f = outlog_add(ol, it->id);
		f->writing = true;
	}
	f->used = ++ol->clock;
	if (f->cut[it->stream])
		return;
	if (!outlog_room(ol, f, it->len)) {
		f->cut[it->stream] = true;
		log_warnx("job %" PRIu64 ": its output passes --log-max-mib; "
		    "the log of its %s stops here", it->id,
		    it->stream == OUTLOG_STDOUT ? "stdout" : "stderr");
		return;
	}
	if (f->fd[it->stream] == -1) {
		if (ol->open >= OUTLOG_OPEN)
			outlog_close_lru(ol);
		path = outlog_path(ol, it->id, it->stream);
		f->fd[it->stream] = open(path, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600);
		if (f->fd[it->stream] == -1) {
			log_warn("%s: %s", __func__, path);
			f->cut[it->stream] = true;
			free(path);
			return;
		}
		free(path);
		ol->open++;
	}
	while (off < it->len) {
		if ((n = write(f->fd[it->stream], it->data + off,
		    it->len - off)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s: job %" PRIu64, __func__, it->id);
			f->cut[it->stream] = true;
			break;
		}
		off += (size_t)n;
	}
	f->size[it->stream] += off;
	ol->total += off;
}

static void
outlog_do_read(struct outlog *ol, struct outlog_read *rd)
{
	char	*path;
	ssize_t	 n;
	int	 fd;

	rd->data = NULL;
	rd->len = 0;
	rd->err = 0;
	if (rd->max == 0)
		return;
	path = outlog_path(ol, rd->id, rd->stream);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		rd->err = errno;
		free(path);
		return;
	}
	free(path);
	rd->data = xmalloc(rd->max);
	if ((n = pread(fd, rd->data, rd->max, (off_t)rd->offset)) == -1) {
		rd->err = errno;
		n = 0;
	}
	rd->len = (size_t)n;
	close(fd);
}

static void
outlog_batch_cb(struct inbox_item *item)
{
	struct outlog_batch	*b = container_of(item, struct outlog_batch,
				    item);
	struct outlog		*ol = b->ol;
	size_t			 i;
	bool			 drained;

	pthread_mutex_lock(&ol->lock);
	ol->backlog -= b->consumed;
	drained = ol->paused && ol->backlog < OUTLOG_LOW;
	if (drained)
		ol->paused = false;
	pthread_mutex_unlock(&ol->lock);
	for (i = 0; i < b->n; i++)
		ol->on_commit(ol->arg, b->commits[i].id, b->commits[i].size,
		    b->commits[i].cut);
	if (drained)
		ol->on_drain(ol->arg);
	free(b->commits);
	free(b);
}

static void
outlog_read_cb(struct inbox_item *item)
{
	struct outlog_read	*rd = container_of(item, struct outlog_read,
				    item);

	rd->done(rd);
}

/* Adds what an append did to the batch the loop will hear of. */
static void
outlog_note(struct outlog_batch *b, size_t *cap, struct outlog *ol,
    uint64_t id)
{
	struct outlog_file	*f = outlog_find(ol, id);
	struct outlog_commit	*c;

	if (f == NULL)
		return;
	if (b->n > 0 && b->commits[b->n - 1].id == id)
		c = &b->commits[b->n - 1];
	else {
		if (b->n == *cap) {
			*cap = *cap == 0 ? 16 : *cap * 2;
			b->commits = xreallocarray(b->commits, *cap,
			    sizeof *b->commits);
		}
		c = &b->commits[b->n++];
		c->id = id;
	}
	c->size[0] = f->size[0];
	c->size[1] = f->size[1];
	c->cut[0] = f->cut[0];
	c->cut[1] = f->cut[1];
}

static void *
outlog_main(void *arg)
{
	struct outlog		*ol = arg;
	struct outlog_item	*it;
	struct outlog_file	*f;
	struct outlog_batch	*b = NULL;
	size_t			 cap = 0;

	pthread_mutex_lock(&ol->lock);
	for (;;) {
		if ((it = TAILQ_FIRST(&ol->queue)) == NULL) {
			/* Idle: tell the loop what this batch did. */
			if (b != NULL) {
				pthread_mutex_unlock(&ol->lock);
				inbox_push(ol->inbox, &b->item);
				b = NULL;
				cap = 0;
				pthread_mutex_lock(&ol->lock);
				continue;
			}
			if (ol->stop)
				break;
			pthread_cond_wait(&ol->cond, &ol->lock);
			continue;
		}
		TAILQ_REMOVE(&ol->queue, it, entry);
		pthread_mutex_unlock(&ol->lock);

		if (b == NULL) {
			b = xcalloc(1, sizeof *b);
			b->ol = ol;
			b->item.fn = outlog_batch_cb;
		}
		switch (it->kind) {
		case OUTLOG_APPEND:
			outlog_do_append(ol, it);
			b->consumed += it->len;
			outlog_note(b, &cap, ol, it->id);
			break;
		case OUTLOG_CLOSE:
			if ((f = outlog_find(ol, it->id)) != NULL) {
				f->writing = false;
				outlog_close_fds(ol, f);
			}
			break;
		case OUTLOG_REMOVE:
			if ((f = outlog_find(ol, it->id)) != NULL)
				outlog_unlink(ol, f);
			break;
		case OUTLOG_READ:
			outlog_do_read(ol, it->read);
			it->read->item.fn = outlog_read_cb;
			inbox_push(ol->inbox, &it->read->item);
			break;
		}
		free(it->data);
		free(it);
		pthread_mutex_lock(&ol->lock);
	}
	pthread_mutex_unlock(&ol->lock);
	return (NULL);
}

/*
 * Forgets what earlier daemons left: their jobs are gone with them, and
 * the budget is this daemon's. (Startup: the loop is not running yet.)
 */
static int
outlog_clear(const char *dir, char **cause)
{
	struct dirent	*de;
	DIR		*d;
	char		*path;
	size_t		 len;

	if ((d = opendir(dir)) == NULL) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return (errno);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || (strcmp(de->d_name + len - 4, ".out") != 0 &&
		    strcmp(de->d_name + len - 4, ".err") != 0))
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		(void)unlink(path);
		free(path);
	}
	closedir(d);
	return (0);
}

int
outlog_start(struct outlog **out, const char *dir, size_t max_bytes,
    struct inbox *inbox, outlog_commit_fn on_commit, outlog_drain_fn on_drain,
    void *arg, char **cause)
{
	struct outlog	*ol;
	int		 rv;

	*cause = NULL;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "cannot create %s: %s", dir, strerror(errno));
		return (errno);
	}
	if ((rv = outlog_clear(dir, cause)) != 0)
		return (rv);
	ol = xcalloc(1, sizeof *ol);
	ol->dir = xstrdup(dir);
	ol->max_bytes = max_bytes;
	ol->inbox = inbox;
	ol->on_commit = on_commit;
	ol->on_drain = on_drain;
	ol->arg = arg;
	TAILQ_INIT(&ol->queue);
	TAILQ_INIT(&ol->files);
	pthread_mutex_init(&ol->lock, NULL);
	pthread_cond_init(&ol->cond, NULL);
	if ((rv = pthread_create(&ol->thread, NULL, outlog_main, ol)) != 0) {
		xasprintf(cause, "cannot start the log thread: %s",
		    strerror(rv));
		pthread_cond_destroy(&ol->cond);
		pthread_mutex_destroy(&ol->lock);
		free(ol->dir);
		free(ol);
		return (rv);
	}
	*out = ol;
	return (0);
}

void
outlog_stop(struct outlog *ol)
{
	struct outlog_file	*f;

	if (ol == NULL)
		return;
	pthread_mutex_lock(&ol->lock);
	ol->stop = true;
	pthread_cond_signal(&ol->cond);
	pthread_mutex_unlock(&ol->lock);
	pthread_join(ol->thread, NULL);
	/* Its last reports are in the inbox: the caller drains it. */
	while ((f = TAILQ_FIRST(&ol->files)) != NULL) {
		outlog_close_fds(ol, f);
		TAILQ_REMOVE(&ol->files, f, entry);
		free(f);
	}
	pthread_cond_destroy(&ol->cond);
	pthread_mutex_destroy(&ol->lock);
	free(ol->dir);
	free(ol);
}

static void
outlog_push(struct outlog *ol, struct outlog_item *it)
{
	pthread_mutex_lock(&ol->lock);
	if (it->kind == OUTLOG_APPEND)
		ol->backlog += it->len;
	TAILQ_INSERT_TAIL(&ol->queue, it, entry);
	pthread_cond_signal(&ol->cond);
	pthread_mutex_unlock(&ol->lock);
}

bool
outlog_append(struct outlog *ol, uint64_t id, int stream, const void *data,
    size_t len)
{
	struct outlog_item	*it;
	bool			 full;

	if (len == 0)
		return (true);
	it = xcalloc(1, sizeof *it);
	it->kind = OUTLOG_APPEND;
	it->id = id;
	it->stream = stream;
	it->data = xmalloc(len);
	memcpy(it->data, data, len);
	it->len = len;
	outlog_push(ol, it);
	pthread_mutex_lock(&ol->lock);
	full = ol->backlog >= OUTLOG_HIGH;
	if (full)
		ol->paused = true;
	pthread_mutex_unlock(&ol->lock);
	return (!full);
}

static void
outlog_simple(struct outlog *ol, enum outlog_kind kind, uint64_t id)
{
	struct outlog_item	*it;

	it = xcalloc(1, sizeof *it);
	it->kind = kind;
	it->id = id;
	outlog_push(ol, it);
}

void
outlog_close(struct outlog *ol, uint64_t id)
{
	outlog_simple(ol, OUTLOG_CLOSE, id);
}

void
outlog_remove(struct outlog *ol, uint64_t id)
{
	outlog_simple(ol, OUTLOG_REMOVE, id);
}

void
outlog_read(struct outlog *ol, struct outlog_read *rd)
{
	struct outlog_item	*it;

	it = xcalloc(1, sizeof *it);
	it->kind = OUTLOG_READ;
	it->id = rd->id;
	it->read = rd;
	outlog_push(ol, it);
}

bool
outlog_paused(struct outlog *ol)
{
	bool	paused;

	pthread_mutex_lock(&ol->lock);
	paused = ol->paused;
	pthread_mutex_unlock(&ol->lock);
	return (paused);
}
