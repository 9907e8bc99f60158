/*
 * ids.c: job ids that only grow, across restarts too.
 *
 * A client that waits on job 7 across a daemon restart must never be
 * answered about another job 7. So the next id is kept in the state
 * directory, in the file "next-id": the first id no daemon has handed out
 * or reserved. Writing it for every job would put a disk write on the path
 * of every submit, so ids are reserved in blocks: at start the daemon
 * reserves a block synchronously (before it serves anyone), and when half
 * of the block is used it reserves the next one on the thread pool, off
 * the loop. A daemon that dies leaves the rest of its block unused: the
 * next one starts after it, so ids jump by at most a block per restart.
 *
 * A block is sized to last IDS_LAST seconds at the rate ids went since the
 * last reservation (since the start, for the first), from IDS_BLOCK to
 * IDS_BLOCK_MAX ids: a daemon running 50,000 echo
 * jobs a second used a fixed block of 10,000 in 0.2 s, and the half block
 * left while the next reservation was written (two fsyncs, on a pool
 * thread that may be busy) lasted 0.1 s, past which submits were refused
 * with "busy". Half a block now lasts seconds whatever the rate, and an
 * idle daemon's restarts still skip no more than IDS_BLOCK ids.
 *
 * The file is replaced atomically (write a temporary file, fsync, rename,
 * fsync the directory), so a crash leaves the old mark or the new one,
 * never a torn one.
 *
 * Threads: ids_next and ids_close run on the loop; the write of a
 * reservation runs on a pool thread and only touches the reservation it
 * was given (ids_write), and its completion comes back on the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

/*
 * Ids reserved at a time. A write per this many jobs is nothing, and ids
 * after a restart stay readable (the next block starts at most this far
 * on).
 */
#define IDS_BLOCK	10000
#define IDS_BLOCK_MAX	((uint64_t)1 << 22)
#define IDS_LAST	10.0

struct ids_write {
	struct pool_work	 work;
	struct ids		*ids;
	uint64_t		 mark;		/* to store */
	int			 err;		/* errno of the write */
};

struct ids {
	char			*path;		/* dir/next-id */
	char			*tmp;		/* dir/next-id.tmp */
	char			*dir;
	uint64_t		 next;		/* the next id to hand out */
	uint64_t		 mark;		/* first id not reserved */
	uint64_t		 block;		/* ids a reservation adds */
	double			 sized_at;	/* monotonic: the last sizing */
	uint64_t		 sized_next;	/* next, then */
	struct pool_thread	*pool;		/* NULL: write in place */
	struct ids_write	*pending;	/* a reservation being written */
	bool			 warned;
	bool			 write_warned;	/* a reservation failed */
};

/* Stores mark in the file; returns 0 or an errno value. Any thread. */
static int
ids_store(const char *dir, const char *path, const char *tmp, uint64_t mark)
{
	char	buf[32];
	int	fd, dfd, n, rv = 0;

	n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", mark);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return (errno);
	if (write(fd, buf, (size_t)n) != n || fsync(fd) == -1)
		rv = errno != 0 ? errno : EIO;
	if (close(fd) == -1 && rv == 0)
		rv = errno;
	if (rv == 0 && rename(tmp, path) == -1)
		rv = errno;
	if (rv != 0) {
		(void)unlink(tmp);
		return (rv);
	}
	/* The rename itself must survive a crash. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return (0);
}

static double
ids_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Reads the stored mark; 1 if there is no file yet. */
static int
ids_load(const char *path, uint64_t *mark, char **cause)
{
	char			 buf[64], *end;
	unsigned long long	 v;
	ssize_t			 n;
	int			 fd;

	*mark = 1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return (0);
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (errno);
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (EIO);
	}
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (buf[0] < '0' || buf[0] > '9' || errno != 0 ||
	    (*end != '\n' && *end != '\0') || v < 1 || v > PROTO_ID_MAX) {
		xasprintf(cause, "%s is not a job id: the file is damaged "
		    "(remove it to number jobs from 1 again; clients will see "
		    "a new daemon instance)", path);
		return (EINVAL);
	}
	*mark = v;
	return (0);
}

int
ids_open(struct ids **out, const char *dir, struct pool_thread *pool,
    char **cause)
{
	struct ids	*ids;
	int		 rv;

	*cause = NULL;
	ids = xcalloc(1, sizeof *ids);
	ids->dir = xstrdup(dir);
	xasprintf(&ids->path, "%s/next-id", dir);
	xasprintf(&ids->tmp, "%s/next-id.tmp", dir);
	ids->pool = pool;
	ids->block = IDS_BLOCK;
	ids->sized_at = ids_now();
	if ((rv = ids_load(ids->path, &ids->next, cause)) != 0)
		goto fail;
	if (ids->next > PROTO_ID_MAX - IDS_BLOCK) {
		xasprintf(cause, "%s: job ids are used up", ids->path);
		rv = ERANGE;
		goto fail;
	}
	ids->mark = ids->next + IDS_BLOCK;
	if ((rv = ids_store(ids->dir, ids->path, ids->tmp, ids->mark)) != 0) {
		xasprintf(cause, "cannot write %s: %s", ids->path,
		    strerror(rv));
		goto fail;
	}
	*out = ids;
	return (0);
fail:
	ids_close(ids);
	return (rv);
}

/* Pool thread. */
static void
ids_write_fn(void *arg)
{
	struct ids_write	*wr = arg;
	struct ids		*ids = wr->ids;

	wr->err = ids_store(ids->dir, ids->path, ids->tmp, wr->mark);
}

/* Loop thread: the reservation is written (or not). */
static void
ids_write_done(struct pool_work *work, int status)
{
	struct ids_write	*wr = container_of(work, struct ids_write,
				    work);
	struct ids		*ids = wr->ids;

	ids->pending = NULL;
	if (status == 0 && wr->err == 0) {
		if (ids->write_warned)
			log_info("job ids reserved again in %s", ids->path);
		ids->mark = wr->mark;
		ids->warned = false;
		ids->write_warned = false;
	} else if (status == 0 && !ids->write_warned) {
		/*
		 * Tried again at each submit (a full disk): said once, and
		 * again when it works.
		 */
		log_warnx("cannot reserve job ids: %s: %s", ids->path,
		    strerror(wr->err));
		ids->write_warned = true;
	}
	free(wr);
}


/*
 * Sizes the next block by the rate ids went since the last sizing (the
 * daemon's start, at first). Sized once a reservation has been written:
 * a failed one retried at once is no sign of a rate.
 */
static void
ids_size(struct ids *ids)
{
	double	now = ids_now(), want;

	want = (double)(ids->next - ids->sized_next) * IDS_LAST /
	    fmax(now - ids->sized_at, 1e-3);
	if (want < IDS_BLOCK)
		want = IDS_BLOCK;
	if (want > (double)IDS_BLOCK_MAX)
		want = (double)IDS_BLOCK_MAX;
	ids->block = (uint64_t)want;
	ids->sized_at = now;
	ids->sized_next = ids->next;
}

/* Reserves the next block ahead of need, off the loop. */
static void
ids_reserve(struct ids *ids)
{
	struct ids_write	*wr;
	int			 rv;

	if (ids->pending != NULL)
		return;
	if (!ids->write_warned)
		ids_size(ids);
	/* Near the end of the id space, what fits. */
	if (ids->mark > PROTO_ID_MAX - ids->block)
		ids->block = IDS_BLOCK;
	if (ids->mark > PROTO_ID_MAX - ids->block)
		return;
	if (ids->pool == NULL) {
		/* Unit tests run without a pool: write in place. */
		if ((rv = ids_store(ids->dir, ids->path, ids->tmp,
		    ids->mark + ids->block)) == 0)
			ids->mark += ids->block;
		return;
	}
	wr = xcalloc(1, sizeof *wr);
	wr->ids = ids;
	wr->mark = ids->mark + ids->block;
	ids->pending = wr;
	pool_thread_submit(ids->pool, &wr->work, ids_write_fn, wr,
	    ids_write_done);
}

int
ids_next(struct ids *ids, uint64_t *id)
{
	if (ids->next >= ids->mark) {
		ids_reserve(ids);
		if (ids->next >= ids->mark) {
			if (!ids->warned)
				log_warnx("job ids are not reserved yet (%s); "
				    "refusing jobs until they are", ids->path);
			ids->warned = true;
			return (ASYNCD_EBUSY);
		}
	}
	*id = ids->next++;
	if (ids->mark - ids->next < ids->block / 2)
		ids_reserve(ids);
	return (0);
}

int
ids_raise(struct ids *ids, uint64_t next, char **cause)
{
	int	rv;

	if (next <= ids->next)
		return (0);
	if (next > PROTO_ID_MAX - ids->block) {
		xasprintf(cause, "%s: job ids are used up", ids->path);
		return (ERANGE);
	}
	ids->next = next;
	ids->sized_next = next;
	if (ids->mark > ids->next + ids->block / 2)
		return (0);
	if ((rv = ids_store(ids->dir, ids->path, ids->tmp,
	    next + ids->block)) != 0) {
		xasprintf(cause, "cannot write %s: %s", ids->path,
		    strerror(rv));
		return (rv);
	}
	ids->mark = next + ids->block;
	return (0);
}

uint64_t
ids_peek(const struct ids *ids)
{
	return (ids->next);
}

void
ids_close(struct ids *ids)
{
	if (ids == NULL)
		return;
	if (ids->pending != NULL)
		fatalx("%s: a reservation is still being written", __func__);
	free(ids->path);
	free(ids->tmp);
	free(ids->dir);
	free(ids);
}
