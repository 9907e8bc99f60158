/*
 * store.c: the durable job store, SQLite in the state directory.
 *
 * Design notes.
 *
 * Accepted means stored: a submit is answered only after its row has
 * committed, and a job's outcome is committed before anyone hears of it.
 * The loop never touches the disk (DESIGN rule 2): it hands each write to
 * the store thread as an operation (struct store_op, a copy of what to
 * write: the loop serializes, the thread only binds and steps), and the
 * thread's verdict comes back through the inbox.
 *
 * Group commit. The thread takes every operation queued while it was
 * committing the previous group and writes them all in one transaction:
 * one fsync (durability "power") or one WAL append ("process",
 * synchronous=NORMAL) for however many submits arrived meanwhile. A group
 * that fails (disk full, an I/O error) is rolled back whole: its inserts
 * come back with ASYNCD_ESTORAGE (their submits get storage_error and the
 * jobs are dropped), and its updates and deletes are kept and tried again
 * first in a later group, since each of them writes absolute values and
 * may be repeated; the loop is told of the failure and goes on.
 *
 * Reads. A list (STORE_LIST) is queued like a write, so that it comes
 * after every write the loop queued before it; once the group it was
 * queued with has committed, the store thread hands it to the reader
 * thread, which runs it on a connection of its own (WAL: readers do not
 * block the writer) and sends the rows back through the inbox. A list of
 * a long history may take a while; submits do not wait for it. A single
 * row (STORE_GET, a cache miss) is cheap and stays in the group.
 *
 * Hand-over. The loop does not wake the thread per write: the writes of
 * one loop iteration collect in local and go to the thread together just
 * before the loop sleeps (store_flush), one lock and at most one wake-up
 * for a burst of submits and the outcomes of the jobs they ran. Within
 * that list an update that nobody waits for is overwritten by the job's
 * next update (an echo job's "running", then its outcome), since both
 * write every state field: one row write instead of two, and what
 * reaches the disk is the same as if the thread had been slower. No
 * write waits longer for its commit: the thread would have taken it no
 * sooner than the end of the iteration that is queuing it anyway, unless
 * it was idle.
 *
 * Locks: store->lock guards the queues (the store thread's, the retry
 * list, the reader's) and the flags; neither thread holds it while it
 * talks to SQLite. The write handle (db) is the store thread's alone
 * once it runs, the read handle (rdb) the reader's (store_open and
 * store_load use them before, on the loop thread, at startup).
 *
 * The interface assumes no single writer: job ids come from store_id_next
 * (here the id reservations of ids.c; a shared backend would use a
 * sequence), and every write names its job by id.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon.h"

/*
 * Schema versions (PRAGMA user_version). Each step migrates from the one
 * before; a database newer than this daemon is refused.
 */
#define STORE_SCHEMA	4

/*
 * Free pages given back after a group that deleted rows (1 KiB each in a
 * store this daemon created, 4 KiB in an older one).
 */
#define STORE_VACUUM_PAGES	"256"

/* How long a failed group waits before its retried writes go again. */
#define STORE_RETRY_USEC	200000

/* While writes fail, how often the log says so again, in seconds. */
#define STORE_FAIL_LOG_EVERY	60

/* The columns store_load and a get read, in struct store_row's order. */
#define STORE_COLUMNS	"id, parent, type, key, args, state, uid, gid, " \
	"created, started, finished, timeout, result, err_code, err_message, " \
	"attempts, pid, pid_start, priority, not_before, retries, " \
	"retry_delay, retry_backoff, attempt_errors"
/* The same for a list, which shows neither arguments nor result. */
#define STORE_LIST_COLUMNS "id, parent, type, key, NULL, state, uid, gid, " \
	"created, started, finished, timeout, NULL, err_code, err_message, " \
	"attempts, pid, pid_start, priority, not_before, retries, " \
	"retry_delay, retry_backoff, attempt_errors"

/*
 * A list's conditions, one bit each: the statement of each combination
 * is prepared once, when first used, so that every query is a prepared
 * one with its values bound (?1 to ?7, the limit ?8) and SQLite plans
 * each shape for the indexes that serve it.
 */
#define STORE_LIST_STATE	0x01
#define STORE_LIST_TYPE		0x02
#define STORE_LIST_KEY		0x04
#define STORE_LIST_UID		0x08
#define STORE_LIST_SINCE	0x10
#define STORE_LIST_UNTIL	0x20
#define STORE_LIST_BEFORE	0x40
#define STORE_LIST_RARE		0x80	/* a state other than succeeded */
#define STORE_LIST_SHAPES	0x100

enum store_kind {
	STORE_INSERT,
	STORE_UPDATE,
	STORE_DELETE,
	STORE_GET,		/* read one row back (a cache miss) */
	STORE_GET_KEY,		/* read back the succeeded job of a key */
	STORE_FORGET,		/* delete finished rows: retention, forget */
	STORE_LIST		/* read the rows of a filter, after a group */
};

struct store_op {
	TAILQ_ENTRY(store_op)	 entry;
	enum store_kind		 kind;
	uint64_t		 id;
	uint64_t		 parent;
	char			*type;
	char			*key;
	char			*args;		/* JSON text */
	const char		*state;		/* static name */
	uint64_t		 uid;
	uint64_t		 gid;
	double			 created;
	double			 started;
	double			 finished;
	double			 timeout;
	char			*result;	/* JSON text or NULL */
	char			*err_code;
	char			*err_message;
	unsigned		 attempts;
	int64_t			 pid;
	uint64_t		 pid_start;
	int			 priority;
	double			 not_before;
	unsigned		 retries;
	double			 retry_delay;
	double			 retry_backoff;
	char			*attempt_errors;	/* JSON text */
	char			*state_text;	/* STORE_GET's */
	store_done_fn		 done;		/* NULL: nobody waits */
	/* An insert that took in a waited-for update: that one's. */
	store_done_fn		 done2;
	void			*arg2;
	store_get_fn		 got;		/* STORE_GET's */
	store_count_fn		 counted;	/* STORE_FORGET's */
	uint64_t		 count;		/* STORE_FORGET: rows deleted */
	bool			 by_uid;	/* STORE_FORGET: uid's only */
	bool			 found;		/* STORE_GET: the row is here */
	struct store_filter	 filter;	/* STORE_LIST's; type and key
						   point to the op's own */
	store_list_fn		 listed;
	struct store_row	*rows;		/* STORE_LIST's answer, owned */
	size_t			 nrows;
	void			*arg;
	int			 err;
	bool			 retried;	/* its failure was reported */
	bool			 note;		/* only reports a failure */
};

TAILQ_HEAD(store_ops, store_op);

/* A committed (or failed) group, on its way back to the loop. */
struct store_batch {
	struct inbox_item	 item;
	struct store_ops	 ops;
	struct store		*store;
	int			 rc;		/* the group's SQLite code */
};

struct store {
	char			*path;
	char			*wal_path;	/* path-wal */
	sqlite3			*db;
	struct ids		*ids;
	struct inbox		*inbox;
	enum store_durability	 durability;
	char			 sid[17];	/* this store's identity */
	const char		*fail_file;	/* tests: writes fail while
						   this file exists */
	pthread_t		 thread;
	bool			 running;
	sqlite3			*rdb;		/* the reader's connection */
	pthread_t		 reader;
	bool			 reading;	/* the reader runs */
	/*
	 * Loop only: writes of this loop iteration, handed to the thread
	 * together by flush (an ev_prepare watcher of the lowest priority,
	 * so after every other callback of the iteration) just before the
	 * loop sleeps. epoch counts the hand-overs: a job's store_op is in
	 * local while its store_epoch is the current one.
	 */
	struct store_ops	 local;
	uint64_t		 epoch;
	ev_prepare		 flush;
	pthread_mutex_t		 lock;		/* guards what follows */
	pthread_cond_t		 cond;
	pthread_cond_t		 rcond;		/* the reader's */
	struct store_ops	 queue;		/* from the loop */
	struct store_ops	 retry;		/* failed updates, again */
	struct store_ops	 reads;		/* lists, for the reader */
	bool			 stopping;
	bool			 rstopping;
	size_t			 inflight;	/* ops not yet back (loop) */
	bool			 failing;	/* loop: last group failed */
	int			 fail_rc;	/* loop: and its SQLite code */

	sqlite3_stmt		*st_insert;
	sqlite3_stmt		*st_update;
	sqlite3_stmt		*st_delete;
	sqlite3_stmt		*st_meta;
	sqlite3_stmt		*st_get;
	sqlite3_stmt		*st_get_key;
	sqlite3_stmt		*st_forget;
	/* The reader's (on rdb), prepared when first used. */
	sqlite3_stmt		*st_list[STORE_LIST_SHAPES];
	sqlite3_stmt		*st_begin;	/* parsed once, not per group */
	sqlite3_stmt		*st_commit;
	uint64_t		 groups;
	uint64_t		 written;
	/*
	 * The newest id ever inserted (thread's, or store_load's before
	 * it). meta's next_id is written past it only in a group that
	 * deletes rows: until one does, max(id) says the same, and the
	 * page it costs would be one more in every group's commit.
	 */
	uint64_t		 top;
};

static const char *const store_migrations[STORE_SCHEMA] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
	"CREATE TABLE jobs ("
	" id INTEGER PRIMARY KEY,"
	" parent INTEGER NOT NULL DEFAULT 0,"
	" type TEXT NOT NULL,"
	" key TEXT,"
	" args TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" uid INTEGER NOT NULL,"
	" gid INTEGER NOT NULL,"
	" created REAL NOT NULL,"
	" started REAL NOT NULL DEFAULT 0,"
	" finished REAL NOT NULL DEFAULT 0,"
	" timeout REAL NOT NULL DEFAULT 0,"
	" result TEXT,"
	" err_code TEXT,"
	" err_message TEXT,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" pid INTEGER NOT NULL DEFAULT 0,"
	" pid_start INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX jobs_state ON jobs (state);",
	/* 1 -> 2: priorities, delayed starts and retries. */
	"ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN not_before REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retry_delay REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retry_backoff REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN attempt_errors TEXT;",
	/*
	 * 2 -> 3: indexes for list, which reads history newest first, and
	 * for a submit's key, which is looked up in the store (a succeeded
	 * job keeps its key but not its place in memory). An index holds
	 * the rowid (the id) after its column, so an equality on type, uid
	 * or key walks that index in id order; a time range walks created.
	 * Most jobs have no key: only those are indexed.
	 */
	"CREATE INDEX jobs_type ON jobs (type);"
	"CREATE INDEX jobs_uid ON jobs (uid);"
	"CREATE INDEX jobs_key ON jobs (key) WHERE key IS NOT NULL;"
	"CREATE INDEX jobs_created ON jobs (created);",
	/*
	 * 3 -> 4: the state index leaves out succeeded jobs, most of them:
	 * a fast job's row is written once, as it ended, and then touches no
	 * page of it (a group commit writes one page fewer: process/none 0.70
	 * -> 0.72, old and new side by side). What it serves is rare:
	 * the live jobs at start, a list of failed or queued ones. A list of
	 * succeeded ones reads the table newest first, where nearly every
	 * row matches. A query uses it only when it says the index's
	 * condition itself (state != 'succeeded'), which SQLite must see to
	 * know a partial index answers it.
	 */
	"DROP INDEX jobs_state;"
	"CREATE INDEX jobs_state ON jobs (state) WHERE state != 'succeeded';",
};

static void	store_op_unfill(struct store_op *);
static void	store_row_read(sqlite3_stmt *, struct store_row *);
static void	store_rows_free(struct store_row *, size_t);
static void	store_bind_text(sqlite3_stmt *, int, const char *);

static void
store_op_free(struct store_op *op)
{
	free(op->type);
	free(op->key);
	free(op->args);
	store_op_unfill(op);
	free(op->state_text);
	store_rows_free(op->rows, op->nrows);
	free(op);
}

/* Runs sql (no rows); on failure sets *cause naming the file. */
static int
store_exec(struct store *st, const char *sql, char **cause)
{
	char	*msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", st->path, msg != NULL ? msg :
		    sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return (ASYNCD_ESTORAGE);
	}
	return (0);
}

static int
store_prepare(struct store *st, sqlite3_stmt **stmt, const char *sql,
    char **cause)
{
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    stmt, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return (ASYNCD_ESTORAGE);
	}
	return (0);
}

/* A single integer from sql, or dflt when there is no row. */
static int
store_int(struct store *st, const char *sql, int64_t dflt, int64_t *out,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (store_prepare(st, &stmt, sql, cause) != 0)
		return (ASYNCD_ESTORAGE);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? dflt :
		    sqlite3_column_int64(stmt, 0);
	else if (rc == SQLITE_DONE)
		*out = dflt;
	else {
		xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		sqlite3_finalize(stmt);
		return (ASYNCD_ESTORAGE);
	}
	sqlite3_finalize(stmt);
	return (0);
}

/* Brings the schema up to STORE_SCHEMA, one step per transaction. */
static int
store_migrate(struct store *st, char **cause)
{
	int64_t	version, first;
	char	sql[64];
	int	rv;

	if ((rv = store_int(st, "PRAGMA user_version", 0, &version,
	    cause)) != 0)
		return (rv);
	if (version > STORE_SCHEMA) {
		xasprintf(cause, "%s: schema version %" PRId64 " is newer "
		    "than this asyncd knows (%d); use a newer asyncd",
		    st->path, version, STORE_SCHEMA);
		return (ASYNCD_ESTORAGE);
	}
	/* A new file is made at the newest schema: nothing to say. */
	for (first = version; version < STORE_SCHEMA; version++) {
		if ((rv = store_exec(st, "BEGIN IMMEDIATE", cause)) != 0)
			return (rv);
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d",
		    (int)version + 1);
		if ((rv = store_exec(st, store_migrations[version],
		    cause)) != 0 || (rv = store_exec(st, sql, cause)) != 0 ||
		    (rv = store_exec(st, "COMMIT", cause)) != 0) {
			(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL,
			    NULL);
			return (rv);
		}
		if (first > 0)
			log_info("%s: schema migrated to version %" PRId64,
			    st->path, version + 1);
	}
	return (0);
}

/* The store's identity: made once, kept in meta. */
static int
store_identity(struct store *st, char **cause)
{
	sqlite3_stmt	*stmt;
	const char	*v;
	char		 sid[17];
	int		 rc;

	if (store_prepare(st, &stmt, "SELECT v FROM meta WHERE k = 'store'",
	    cause) != 0)
		return (ASYNCD_ESTORAGE);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && (v = (const char *)sqlite3_column_text(stmt,
	    0)) != NULL && strlen(v) == 16) {
		memcpy(st->sid, v, sizeof st->sid);
		sqlite3_finalize(stmt);
		return (0);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return (ASYNCD_ESTORAGE);
	}
	{
		uint64_t	r;

		sqlite3_randomness(sizeof r, &r);
		snprintf(sid, sizeof sid, "%016" PRIx64, r);
	}
	if (store_prepare(st, &stmt, "INSERT OR REPLACE INTO meta (k, v) "
	    "VALUES ('store', ?)", cause) != 0)
		return (ASYNCD_ESTORAGE);
	sqlite3_bind_text(stmt, 1, sid, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		xasprintf(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return (ASYNCD_ESTORAGE);
	}
	memcpy(st->sid, sid, sizeof st->sid);
	return (0);
}

int
store_open(struct store **out, const char *path, enum store_durability dur,
    struct ids *ids, struct inbox *inbox, char **cause)
{
	struct store	*st;
	const char	*sync;
	char		*sql;
	int64_t		 check;
	int		 rc, rv;

	*cause = NULL;
	st = xcalloc(1, sizeof *st);
	st->path = xstrdup(path);
	xasprintf(&st->wal_path, "%s-wal", path);
	st->ids = ids;
	st->inbox = inbox;
	st->durability = dur;
	st->fail_file = getenv("ASYNCD_TEST_STORE_FAIL");
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	pthread_cond_init(&st->rcond, NULL);
	TAILQ_INIT(&st->queue);
	TAILQ_INIT(&st->retry);
	TAILQ_INIT(&st->reads);
	TAILQ_INIT(&st->local);
	st->epoch = 1;

	/*
	 * SQLite counts its memory under a global mutex on every allocation
	 * unless told not to; nothing here reads the count. Only possible
	 * before SQLite initializes: a second store_open (tests) gets
	 * SQLITE_MISUSE, harmlessly.
	 */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "cannot open the job store %s: %s", path,
		    st->db != NULL ? sqlite3_errmsg(st->db) :
		    sqlite3_errstr(rc));
		rv = ASYNCD_ESTORAGE;
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	/* Another process holding it briefly (a backup) is waited for. */
	sqlite3_busy_timeout(st->db, 5000);
	/*
	 * A damaged file shows here, before anything is written to it: the
	 * first read of the schema, or the quick check, fails.
	 *
	 * Pages of 1 KiB (SQLite's default is 4): a group commit writes
	 * each page it changed to the WAL whole, and a group of small jobs
	 * changes a few rows of the table and one entry of each index, so
	 * the WAL bytes of a commit follow the page size. Measured
	 * process/none 0.74 -> 0.80 (512: 0.80, 2048: 0.76), store thread
	 * 9.4 -> 8.2 us a job. It applies only to a file being created: an
	 * existing store keeps its size (changing it means a full VACUUM).
	 */
	if ((rv = store_int(st, "PRAGMA schema_version", 0, &check,
	    cause)) != 0 || (rv = store_exec(st, "PRAGMA page_size = 1024",
	    cause)) != 0 || (rv = store_exec(st, "PRAGMA journal_mode = WAL",
	    cause)) != 0)
		goto damaged;
	sync = dur == STORE_POWER ? "FULL" : "NORMAL";
	/*
	 * A larger WAL between checkpoints (each checkpoint syncs the
	 * files, and the store thread is on the submit path); SQLite's page
	 * cache stays at its default (2 MiB), which counts in the daemon's
	 * memory.
	 */
	xasprintf(&sql, "PRAGMA synchronous = %s; PRAGMA auto_vacuum = "
	    "INCREMENTAL; PRAGMA foreign_keys = OFF; PRAGMA "
	    "wal_autocheckpoint = 8192; PRAGMA temp_store = MEMORY", sync);
	rv = store_exec(st, sql, cause);
	free(sql);
	if (rv != 0 || (rv = store_migrate(st, cause)) != 0 ||
	    (rv = store_identity(st, cause)) != 0)
		goto damaged;
	if ((rv = store_prepare(st, &st->st_insert, "INSERT OR REPLACE INTO "
	    "jobs (id, parent, type, key, args, state, uid, gid, created, "
	    "started, finished, timeout, result, err_code, err_message, "
	    "attempts, pid, pid_start, priority, not_before, retries, "
	    "retry_delay, retry_backoff, attempt_errors) VALUES (?1, ?2, ?3, "
	    "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
	    "?18, ?19, ?20, ?21, ?22, ?23, ?24)",
	    cause)) != 0 ||
	    (rv = store_prepare(st, &st->st_update, "UPDATE jobs SET "
	    "state = ?6, started = ?10, finished = ?11, result = ?13, "
	    "err_code = ?14, err_message = ?15, attempts = ?16, pid = ?17, "
	    "pid_start = ?18, not_before = ?20, attempt_errors = ?24 "
	    "WHERE id = ?1", cause)) != 0 ||
	    (rv = store_prepare(st, &st->st_delete, "DELETE FROM jobs WHERE "
	    "id = ?1", cause)) != 0 ||
	    (rv = store_prepare(st, &st->st_meta, "INSERT OR REPLACE INTO "
	    "meta (k, v) VALUES ('next_id', max(?1, coalesce((SELECT v FROM "
	    "meta WHERE k = 'next_id'), 0)))", cause)) != 0 ||
	    (rv = store_prepare(st, &st->st_get, "SELECT " STORE_COLUMNS
	    " FROM jobs WHERE id = ?1", cause)) != 0 ||
	    (rv = store_prepare(st, &st->st_get_key, "SELECT " STORE_COLUMNS
	    " FROM jobs WHERE key = ?1 AND state = 'succeeded' ORDER BY id "
	    "DESC LIMIT 1", cause)) != 0 ||
	    /*
	     * A job is created before it finishes, so "created < ?1" adds
	     * no condition but lets SQLite walk the created index over the
	     * old rows alone: retention runs every minute, and read the
	     * whole history each time without it, holding up the group
	     * commits meanwhile. (A clock set back between a job's start
	     * and its end delays its removal by as much.)
	     */
	    (rv = store_prepare(st, &st->st_forget, "DELETE FROM jobs WHERE "
	    "state NOT IN ('queued', 'running') AND finished > 0 AND "
	    "finished < ?1 AND created < ?1 AND (?2 IS NULL OR state = ?2) "
	    "AND (?3 IS NULL OR uid = ?3)", cause)) != 0 ||
	    (rv = store_prepare(st, &st->st_begin, "BEGIN IMMEDIATE",
	    cause)) != 0 ||
	    (rv = store_prepare(st, &st->st_commit, "COMMIT", cause)) != 0)
		goto damaged;
	/*
	 * The reader's own connection: in WAL mode it reads what has
	 * committed while the writer goes on, so a long list never holds
	 * up a submit's commit.
	 */
	rc = sqlite3_open_v2(path, &st->rdb, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "cannot open the job store %s to read: %s",
		    path, st->rdb != NULL ? sqlite3_errmsg(st->rdb) :
		    sqlite3_errstr(rc));
		rv = ASYNCD_ESTORAGE;
		goto fail;
	}
	sqlite3_extended_result_codes(st->rdb, 1);
	sqlite3_busy_timeout(st->rdb, 5000);
	*out = st;
	return (0);
damaged:
	if (*cause != NULL && strstr(*cause, "not a database") != NULL) {
		char	*why = *cause;

		xasprintf(cause, "the job store %s is damaged (%s); move it "
		    "away to start with an empty store", path, why);
		free(why);
	} else if (*cause != NULL) {
		char	*why = *cause;

		xasprintf(cause, "cannot use the job store: %s", why);
		free(why);
	}
fail:
	store_close(st);
	return (rv);
}

const char *
store_identity_text(const struct store *st)
{
	return (st->sid);
}

enum store_durability
store_durability(const struct store *st)
{
	return (st->durability);
}

/* A text column, or NULL. Borrowed until the next step. */
static const char *
store_col_text(sqlite3_stmt *stmt, int i)
{
	return ((const char *)sqlite3_column_text(stmt, i));
}

int
store_load(struct store *st, store_load_fn fn, void *arg, size_t keep,
    uint64_t *next, char **cause)
{
	struct store_row	 row;
	sqlite3_stmt		*stmt;
	int64_t			 meta_next, max_id;
	int			 rc, rv;

	*cause = NULL;
	if ((rv = store_int(st, "SELECT v FROM meta WHERE k = 'next_id'", 0,
	    &meta_next, cause)) != 0)
		return (rv);
	*next = meta_next > 0 ? (uint64_t)meta_next : 1;
	if ((rv = store_int(st, "SELECT max(id) FROM jobs", 0, &max_id,
	    cause)) != 0)
		return (rv);
	if (max_id > 0 && (uint64_t)max_id >= *next)
		*next = (uint64_t)max_id + 1;
	st->top = *next - 1;
	/*
	 * Every live job, and the newest keep finished ones: the cache.
	 * The others stay in the store until someone asks (store_get, and
	 * store_get_key for the key of a succeeded one).
	 */
	if (store_prepare(st, &stmt, "SELECT " STORE_COLUMNS " FROM jobs "
	    "WHERE (state != 'succeeded' AND state IN ('queued', 'running')) "
	    "OR id IN (SELECT id FROM jobs WHERE state NOT IN ('queued', "
	    "'running') ORDER BY id DESC LIMIT ?1) ORDER BY id", cause) != 0)
		return (ASYNCD_ESTORAGE);
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)keep);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_row_read(stmt, &row);
		if (row.type == NULL || row.args == NULL || row.state == NULL)
			continue;	/* NOT NULL: never */
		if (row.id >= *next)
			*next = row.id + 1;
		fn(arg, &row);
	}
	if (rc != SQLITE_DONE) {
		xasprintf(cause, "cannot read the job store %s: %s", st->path,
		    sqlite3_errmsg(st->db));
		sqlite3_finalize(stmt);
		return (ASYNCD_ESTORAGE);
	}
	sqlite3_finalize(stmt);
	return (0);
}

int
store_id_next(struct store *st, uint64_t *id)
{
	return (ids_next(st->ids, id));
}

uint64_t
store_id_peek(const struct store *st)
{
	return (ids_peek(st->ids));
}

/* Fills row from a statement on STORE_COLUMNS; strings borrowed. */
static void
store_row_read(sqlite3_stmt *stmt, struct store_row *row)
{
	memset(row, 0, sizeof *row);
	row->id = (uint64_t)sqlite3_column_int64(stmt, 0);
	row->parent = (uint64_t)sqlite3_column_int64(stmt, 1);
	row->type = store_col_text(stmt, 2);
	row->key = store_col_text(stmt, 3);
	row->args = store_col_text(stmt, 4);
	row->state = store_col_text(stmt, 5);
	row->uid = (uint64_t)sqlite3_column_int64(stmt, 6);
	row->gid = (uint64_t)sqlite3_column_int64(stmt, 7);
	row->created = sqlite3_column_double(stmt, 8);
	row->started = sqlite3_column_double(stmt, 9);
	row->finished = sqlite3_column_double(stmt, 10);
	row->timeout = sqlite3_column_double(stmt, 11);
	row->result = store_col_text(stmt, 12);
	row->err_code = store_col_text(stmt, 13);
	row->err_message = store_col_text(stmt, 14);
	row->attempts = (unsigned)sqlite3_column_int(stmt, 15);
	row->pid = sqlite3_column_int64(stmt, 16);
	row->pid_start = (uint64_t)sqlite3_column_int64(stmt, 17);
	row->priority = sqlite3_column_int(stmt, 18);
	row->not_before = sqlite3_column_double(stmt, 19);
	row->retries = (unsigned)sqlite3_column_int(stmt, 20);
	row->retry_delay = sqlite3_column_double(stmt, 21);
	row->retry_backoff = sqlite3_column_double(stmt, 22);
	row->attempt_errors = store_col_text(stmt, 23);
}

static char *
store_dup(const char *s)
{
	return (s != NULL ? xstrdup(s) : NULL);
}

/*
 * STORE_GET, STORE_GET_KEY: copies the row into op (the loop builds a row
 * from it).
 */
static int
store_get_row(struct store *st, struct store_op *op)
{
	struct store_row	 row;
	sqlite3_stmt		*stmt;
	int			 rc;

	if (op->kind == STORE_GET_KEY) {
		stmt = st->st_get_key;
		sqlite3_bind_text(stmt, 1, op->key, -1, SQLITE_TRANSIENT);
	} else {
		stmt = st->st_get;
		sqlite3_bind_int64(stmt, 1, (sqlite3_int64)op->id);
	}
	rc = sqlite3_step(stmt);
	/* Read again after its group failed: what an earlier try copied. */
	free(op->type);
	free(op->args);
	free(op->state_text);
	free(op->result);
	free(op->err_code);
	free(op->err_message);
	free(op->attempt_errors);
	op->type = op->args = op->state_text = op->result = op->err_code =
	    op->err_message = op->attempt_errors = NULL;
	op->found = false;
	if (rc == SQLITE_ROW) {
		store_row_read(stmt, &row);
		op->id = row.id;
		op->found = row.type != NULL && row.args != NULL &&
		    row.state != NULL;
		op->parent = row.parent;
		op->type = store_dup(row.type);
		free(op->key);
		op->key = store_dup(row.key);
		op->args = store_dup(row.args);
		op->state_text = store_dup(row.state);
		op->uid = row.uid;
		op->gid = row.gid;
		op->created = row.created;
		op->started = row.started;
		op->finished = row.finished;
		op->timeout = row.timeout;
		op->result = store_dup(row.result);
		op->err_code = store_dup(row.err_code);
		op->err_message = store_dup(row.err_message);
		op->attempts = row.attempts;
		op->pid = row.pid;
		op->pid_start = row.pid_start;
		op->priority = row.priority;
		op->not_before = row.not_before;
		op->retries = row.retries;
		op->retry_delay = row.retry_delay;
		op->retry_backoff = row.retry_backoff;
		op->attempt_errors = store_dup(row.attempt_errors);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return (rc == SQLITE_DONE ? SQLITE_OK : rc);
}

/* A row whose strings are copies (a list's answer). */
static void
store_row_copy(struct store_row *to, const struct store_row *from)
{
	*to = *from;
	to->type = store_dup(from->type);
	to->key = store_dup(from->key);
	to->args = store_dup(from->args);
	to->state = store_dup(from->state);
	to->result = store_dup(from->result);
	to->err_code = store_dup(from->err_code);
	to->err_message = store_dup(from->err_message);
	to->attempt_errors = store_dup(from->attempt_errors);
}

static void
store_rows_free(struct store_row *rows, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free((char *)rows[i].type);
		free((char *)rows[i].key);
		free((char *)rows[i].args);
		free((char *)rows[i].state);
		free((char *)rows[i].result);
		free((char *)rows[i].err_code);
		free((char *)rows[i].err_message);
		free((char *)rows[i].attempt_errors);
	}
	free(rows);
}

/*
 * The SELECT of one shape of list (STORE_LIST_* bits). Rows come newest
 * first, so an equality (type, uid, key, or a state other than succeeded)
 * walks its index, which holds the id after the column, in id order and
 * stops at the limit; succeeded, which most rows are, walks the table. A
 * time range alone is different: ids and creation times nearly follow
 * each other, but nothing says they must (a clock set back; several
 * daemons on one store), so the ids in the range are picked from the
 * created index alone (it holds them: no row is read), and only the
 * page's rows are read. Both bounds are always given then (the other is
 * infinite), which is what makes SQLite walk that index.
 */
static char *
store_list_sql(unsigned shape)
{
	char	*sql;

	if ((shape & (STORE_LIST_SINCE | STORE_LIST_UNTIL)) != 0 &&
	    (shape & (STORE_LIST_STATE | STORE_LIST_TYPE | STORE_LIST_KEY |
	    STORE_LIST_UID)) == 0) {
		xasprintf(&sql, "SELECT " STORE_LIST_COLUMNS " FROM jobs "
		    "WHERE id IN (SELECT id FROM jobs WHERE created >= ?5 AND "
		    "created < ?6%s ORDER BY id DESC LIMIT ?8) ORDER BY id DESC",
		    (shape & STORE_LIST_BEFORE) ? " AND id < ?7" : "");
		return (sql);
	}
	xasprintf(&sql, "SELECT " STORE_LIST_COLUMNS " FROM jobs WHERE 1%s%s"
	    "%s%s%s%s%s%s ORDER BY id DESC LIMIT ?8",
	    (shape & STORE_LIST_STATE) ? " AND state = ?1" : "",
	    (shape & STORE_LIST_RARE) ? " AND state != 'succeeded'" : "",
	    (shape & STORE_LIST_TYPE) ? " AND type = ?2" : "",
	    (shape & STORE_LIST_KEY) ? " AND key = ?3" : "",
	    (shape & STORE_LIST_UID) ? " AND uid = ?4" : "",
	    (shape & STORE_LIST_SINCE) ? " AND created >= ?5" : "",
	    (shape & STORE_LIST_UNTIL) ? " AND created < ?6" : "",
	    (shape & STORE_LIST_BEFORE) ? " AND id < ?7" : "");
	return (sql);
}

/*
 * STORE_LIST, on the reader's connection (the reader thread, or the loop
 * before the threads start): reads the rows of op's filter into op.
 * Returns an SQLite code.
 */
static int
store_list_rows(struct store *st, struct store_op *op)
{
	const struct store_filter	*f = &op->filter;
	struct store_row		 row;
	sqlite3_stmt			*stmt;
	unsigned			 shape = 0;
	char				*sql;
	int				 rc;

	if (f->state >= 0)
		shape |= STORE_LIST_STATE;
	if (f->state >= 0 && f->state != PROTO_SUCCEEDED)
		shape |= STORE_LIST_RARE;	/* the state index serves it */
	if (f->type != NULL)
		shape |= STORE_LIST_TYPE;
	if (f->key != NULL)
		shape |= STORE_LIST_KEY;
	if (f->by_uid)
		shape |= STORE_LIST_UID;
	if (f->since > 0)
		shape |= STORE_LIST_SINCE;
	if (f->until > 0)
		shape |= STORE_LIST_UNTIL;
	if (f->before > 0)
		shape |= STORE_LIST_BEFORE;
	if ((stmt = st->st_list[shape]) == NULL) {
		sql = store_list_sql(shape);
		rc = sqlite3_prepare_v3(st->rdb, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &st->st_list[shape], NULL);
		free(sql);
		if (rc != SQLITE_OK)
			return (rc);
		stmt = st->st_list[shape];
	}
	if (f->state >= 0)
		store_bind_text(stmt, 1, proto_state_name(f->state));
	store_bind_text(stmt, 2, f->type);
	store_bind_text(stmt, 3, f->key);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)f->uid);
	/* Unbounded ends, for the shape that walks the created index. */
	sqlite3_bind_double(stmt, 5, f->since > 0 ? f->since : -HUGE_VAL);
	sqlite3_bind_double(stmt, 6, f->until > 0 ? f->until : HUGE_VAL);
	sqlite3_bind_int64(stmt, 7, (sqlite3_int64)f->before);
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)f->limit);
	op->rows = xcalloc(f->limit, sizeof *op->rows);
	while (op->nrows < f->limit &&
	    (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_row_read(stmt, &row);
		if (row.type == NULL || row.state == NULL)
			continue;	/* NOT NULL: never */
		store_row_copy(&op->rows[op->nrows++], &row);
	}
	if (op->nrows == f->limit)
		rc = SQLITE_DONE;
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE) {
		store_rows_free(op->rows, op->nrows);
		op->rows = NULL;
		op->nrows = 0;
		return (rc);
	}
	return (SQLITE_OK);
}

/* ---- the store thread */

static void
store_bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(stmt, i);
	else
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
}

/* Writes one op inside the open transaction. Returns an SQLite code. */
static int
store_write(struct store *st, struct store_op *op)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	switch (op->kind) {
	case STORE_INSERT:
		stmt = st->st_insert;
		break;
	case STORE_UPDATE:
		stmt = st->st_update;
		break;
	case STORE_GET:
	case STORE_GET_KEY:
		return (store_get_row(st, op));
	case STORE_FORGET:
		stmt = st->st_forget;
		sqlite3_bind_double(stmt, 1, op->finished);
		store_bind_text(stmt, 2, op->state);
		if (op->by_uid)
			sqlite3_bind_int64(stmt, 3, (sqlite3_int64)op->uid);
		rc = sqlite3_step(stmt);
		op->count = rc == SQLITE_DONE ?
		    (uint64_t)sqlite3_changes64(st->db) : 0;
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
		return (rc == SQLITE_DONE ? SQLITE_OK : rc);
	default:
		stmt = st->st_delete;
		sqlite3_bind_int64(stmt, 1, (sqlite3_int64)op->id);
		goto step;
	}
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)op->id);
	if (op->kind == STORE_INSERT) {
		sqlite3_bind_int64(stmt, 2, (sqlite3_int64)op->parent);
		store_bind_text(stmt, 3, op->type);
		store_bind_text(stmt, 4, op->key);
		store_bind_text(stmt, 5, op->args);
		sqlite3_bind_int64(stmt, 7, (sqlite3_int64)op->uid);
		sqlite3_bind_int64(stmt, 8, (sqlite3_int64)op->gid);
		sqlite3_bind_double(stmt, 9, op->created);
		sqlite3_bind_double(stmt, 12, op->timeout);
		sqlite3_bind_int(stmt, 19, op->priority);
		sqlite3_bind_int(stmt, 21, (int)op->retries);
		sqlite3_bind_double(stmt, 22, op->retry_delay);
		sqlite3_bind_double(stmt, 23, op->retry_backoff);
	}
	sqlite3_bind_double(stmt, 20, op->not_before);
	store_bind_text(stmt, 24, op->attempt_errors);
	store_bind_text(stmt, 6, op->state);
	sqlite3_bind_double(stmt, 10, op->started);
	sqlite3_bind_double(stmt, 11, op->finished);
	store_bind_text(stmt, 13, op->result);
	store_bind_text(stmt, 14, op->err_code);
	store_bind_text(stmt, 15, op->err_message);
	sqlite3_bind_int(stmt, 16, (int)op->attempts);
	sqlite3_bind_int64(stmt, 17, op->pid);
	sqlite3_bind_int64(stmt, 18, (sqlite3_int64)op->pid_start);
step:
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return (rc == SQLITE_DONE ? SQLITE_OK : rc);
}

/* Runs a statement that returns no rows. Returns an SQLite code. */
static int
store_step(sqlite3_stmt *stmt)
{
	int	rc;

	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return (rc == SQLITE_DONE ? SQLITE_OK : rc);
}

/* Writes a group in one transaction. Returns an SQLite code. */
static int
store_commit(struct store *st, struct store_ops *ops)
{
	struct store_op	*op;
	uint64_t	 top = st->top;
	bool		 deletes = false;
	int		 rc;

	if (st->fail_file != NULL && access(st->fail_file, F_OK) == 0)
		return (SQLITE_FULL);	/* tests: an injected full disk */
	if ((rc = store_step(st->st_begin)) != SQLITE_OK)
		return (rc);
	TAILQ_FOREACH(op, ops, entry) {
		if ((rc = store_write(st, op)) != SQLITE_OK)
			break;
		if (op->kind == STORE_INSERT && op->id > top)
			top = op->id;
		if (op->kind == STORE_DELETE || op->kind == STORE_FORGET)
			deletes = true;
	}
	/*
	 * The next id, past every id inserted so far, where rows go: the
	 * newest ones may be among them, and then max(id) would no longer
	 * say how far ids went.
	 */
	if (rc == SQLITE_OK && deletes && top > 0) {
		sqlite3_bind_int64(st->st_meta, 1, (sqlite3_int64)top + 1);
		rc = sqlite3_step(st->st_meta);
		sqlite3_reset(st->st_meta);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc == SQLITE_OK)
		rc = store_step(st->st_commit);
	if (rc == SQLITE_OK)
		st->top = top;
	if (rc == SQLITE_OK) {
		/*
		 * Pages that deleted rows freed go back to the file system a
		 * bounded step at a time (auto_vacuum = INCREMENTAL), so the
		 * file does not grow without end and no commit waits for a
		 * whole vacuum.
		 */
		TAILQ_FOREACH(op, ops, entry) {
			if (op->kind == STORE_DELETE ||
			    op->kind == STORE_FORGET) {
				(void)sqlite3_exec(st->db,
				    "PRAGMA incremental_vacuum(" 
				    STORE_VACUUM_PAGES ")", NULL, NULL, NULL);
				break;
			}
		}
	}
	if (rc != SQLITE_OK) {
		/* A failed COMMIT may have left the transaction open. */
		if (!sqlite3_get_autocommit(st->db))
			(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL,
			    NULL);
	}
	return (rc);
}

/*
 * Store thread, after each group: keeps the WAL from filling a small disk
 * by itself. SQLite checkpoints on its own only past wal_autocheckpoint
 * pages (8 MiB of 1 KiB pages), and a WAL that has taken the last free
 * space can never be checkpointed (the database file cannot grow to take
 * its pages), so no write would succeed again until a restart. So once
 * the WAL holds half the space left, it is checkpointed and truncated
 * while the database can still grow; on a roomy disk this never happens,
 * and on a nearly full one it costs a checkpoint every few groups. It
 * also runs while writes fail, in case the checkpoint only rewrites pages
 * the file has (freeing the WAL's space for the writes retried).
 */
static void
store_wal_room(struct store *st, bool failed)
{
	struct stat	sb;
	struct statvfs	vfs;
	uint64_t	free_bytes;
	int		rc;

	if (stat(st->wal_path, &sb) == -1 || sb.st_size == 0 ||
	    statvfs(st->wal_path, &vfs) == -1)
		return;
	free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if ((uint64_t)sb.st_size < free_bytes / 2)
		return;
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK && !failed)
		log_warnx("%s: %s: the disk is nearly full (%" PRIu64 " KiB "
		    "free), and the WAL (%lld KiB) cannot be checkpointed: "
		    "%s", __func__, st->path, free_bytes >> 10,
		    (long long)sb.st_size >> 10, sqlite3_errstr(rc));
}

static void	store_batch_cb(struct inbox_item *);

static void *
store_main(void *arg)
{
	struct store		*st = arg;
	struct store_batch	*b;
	struct store_ops	 group, keep, reads;
	struct store_op		*op, *next;
	time_t			 fail_since = 0, fail_said = 0;
	int			 rc;
	bool			 last;

	/* Its own name in top -H and perf. */
	(void)pthread_setname_np(pthread_self(), "asyncd:store");
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (TAILQ_EMPTY(&st->queue) && TAILQ_EMPTY(&st->retry) &&
		    !st->stopping)
			pthread_cond_wait(&st->cond, &st->lock);
		if (TAILQ_EMPTY(&st->queue) && TAILQ_EMPTY(&st->retry))
			break;
		/* Retried writes first: they were queued before. */
		TAILQ_INIT(&group);
		TAILQ_CONCAT(&group, &st->retry, entry);
		TAILQ_CONCAT(&group, &st->queue, entry);
		last = st->stopping;
		pthread_mutex_unlock(&st->lock);

		/*
		 * Lists go to the reader once the group has committed: they
		 * see every write queued before them, a group that fails (a
		 * full disk) does not fail them, and however long one takes,
		 * the next group does not wait for it.
		 */
		TAILQ_INIT(&reads);
		for (op = TAILQ_FIRST(&group); op != NULL; op = next) {
			next = TAILQ_NEXT(op, entry);
			if (op->kind == STORE_LIST) {
				TAILQ_REMOVE(&group, op, entry);
				TAILQ_INSERT_TAIL(&reads, op, entry);
			}
		}
		rc = SQLITE_OK;
		if (!TAILQ_EMPTY(&group)) {
			rc = store_commit(st, &group);
			store_wal_room(st, rc != SQLITE_OK);
			st->groups++;
		}
		b = xcalloc(1, sizeof *b);
		b->store = st;
		b->rc = rc;
		b->item.fn = store_batch_cb;
		TAILQ_INIT(&b->ops);
		TAILQ_INIT(&keep);
		for (op = TAILQ_FIRST(&group); op != NULL; op = next) {
			next = TAILQ_NEXT(op, entry);
			TAILQ_REMOVE(&group, op, entry);
			op->err = rc == SQLITE_OK ? 0 : ASYNCD_ESTORAGE;
			if (rc == SQLITE_OK)
				st->written++;
			else if (op->kind == STORE_GET ||
			    op->kind == STORE_GET_KEY) {
				/*
				 * A read need not fail with its group's
				 * writes (a full disk): read again, alone,
				 * what is committed.
				 */
				op->err = store_get_row(st, op) == SQLITE_OK ?
				    0 : ASYNCD_ESTORAGE;
			}
			if (rc != SQLITE_OK && op->kind != STORE_INSERT &&
			    op->kind != STORE_GET && op->kind != STORE_GET_KEY &&
			    op->kind != STORE_FORGET &&
			    !last) {
				/* Kept for later; the loop hears once. */
				if (!op->retried) {
					struct store_op	*note;

					note = xcalloc(1, sizeof *note);
					note->kind = op->kind;
					note->id = op->id;
					note->done = op->done;
					note->arg = op->arg;
					note->err = op->err;
					note->note = true;
					op->done = NULL;
					op->retried = true;
					TAILQ_INSERT_TAIL(&b->ops, note,
					    entry);
				}
				TAILQ_INSERT_TAIL(&keep, op, entry);
				continue;
			}
			TAILQ_INSERT_TAIL(&b->ops, op, entry);
		}
		/*
		 * A failing store is retried every STORE_RETRY_USEC: said
		 * when it starts failing, then once a minute, and when it
		 * works again.
		 */
		if (rc != SQLITE_OK && (fail_since == 0 ||
		    time(NULL) - fail_said >= STORE_FAIL_LOG_EVERY)) {
			log_warnx("%s: cannot write the job store %s: %s%s",
			    __func__, st->path, sqlite3_errstr(rc),
			    fail_since != 0 ? " (still)" : "");
			fail_said = time(NULL);
			if (fail_since == 0)
				fail_since = fail_said;
		} else if (rc == SQLITE_OK && fail_since != 0) {
			log_info("the job store %s can be written again (it "
			    "failed for %lld s)", st->path,
			    (long long)(time(NULL) - fail_since));
			fail_since = 0;
		}
		if (!TAILQ_EMPTY(&b->ops))
			inbox_push(st->inbox, &b->item);
		else
			free(b);
		/* After the group's verdict, so the loop hears that first. */
		if (!TAILQ_EMPTY(&reads)) {
			pthread_mutex_lock(&st->lock);
			TAILQ_CONCAT(&st->reads, &reads, entry);
			pthread_cond_signal(&st->rcond);
			pthread_mutex_unlock(&st->lock);
		}
		if (!TAILQ_EMPTY(&keep))
			usleep(STORE_RETRY_USEC);
		pthread_mutex_lock(&st->lock);
		TAILQ_CONCAT(&keep, &st->retry, entry);
		TAILQ_CONCAT(&st->retry, &keep, entry);
	}
	pthread_mutex_unlock(&st->lock);
	return (NULL);
}

/*
 * The reader thread: runs the lists the store thread hands it, on its own
 * connection, and sends each round's answers back through the inbox.
 */
static void *
store_reader(void *arg)
{
	struct store		*st = arg;
	struct store_batch	*b;
	struct store_op		*op;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (TAILQ_EMPTY(&st->reads) && !st->rstopping)
			pthread_cond_wait(&st->rcond, &st->lock);
		if (TAILQ_EMPTY(&st->reads))
			break;
		b = xcalloc(1, sizeof *b);
		b->store = st;
		b->item.fn = store_batch_cb;
		TAILQ_INIT(&b->ops);
		TAILQ_CONCAT(&b->ops, &st->reads, entry);
		pthread_mutex_unlock(&st->lock);

		TAILQ_FOREACH(op, &b->ops, entry) {
			if (store_list_rows(st, op) != SQLITE_OK) {
				op->err = ASYNCD_ESTORAGE;
				log_warnx("%s: cannot read the job store %s: "
				    "%s", __func__, st->path,
				    sqlite3_errmsg(st->rdb));
			}
		}
		inbox_push(st->inbox, &b->item);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return (NULL);
}

/* Loop thread: a row read back, handed over as a borrowed row. */
static void
store_got(struct store_op *op)
{
	struct store_row	row;

	if (op->err != 0 || !op->found) {
		op->got(op->arg, op->err, NULL);
		return;
	}
	memset(&row, 0, sizeof row);
	row.id = op->id;
	row.parent = op->parent;
	row.type = op->type;
	row.key = op->key;
	row.args = op->args;
	row.state = op->state_text;
	row.uid = op->uid;
	row.gid = op->gid;
	row.created = op->created;
	row.started = op->started;
	row.finished = op->finished;
	row.timeout = op->timeout;
	row.result = op->result;
	row.err_code = op->err_code;
	row.err_message = op->err_message;
	row.attempts = op->attempts;
	row.pid = op->pid;
	row.pid_start = op->pid_start;
	row.priority = op->priority;
	row.not_before = op->not_before;
	row.retries = op->retries;
	row.retry_delay = op->retry_delay;
	row.retry_backoff = op->retry_backoff;
	row.attempt_errors = op->attempt_errors;
	op->got(op->arg, 0, &row);
}

/* Loop thread: a list's rows. */
static void
store_listed(struct store_op *op)
{
	op->listed(op->arg, op->err, op->err == 0 ? op->rows : NULL,
	    op->err == 0 ? op->nrows : 0);
}

/* Loop thread: an op is back; its callback runs. */
static void
store_op_done(struct store_op *op)
{
	if (op->kind == STORE_GET || op->kind == STORE_GET_KEY)
		store_got(op);
	else if (op->kind == STORE_LIST)
		store_listed(op);
	else if (op->kind == STORE_FORGET && op->counted != NULL)
		op->counted(op->arg, op->err, op->err == 0 ? op->count : 0);
	else {
		if (op->done != NULL)
			op->done(op->arg, op->err);
		if (op->done2 != NULL)
			op->done2(op->arg2, op->err);
	}
}

/* Loop thread: a group's verdict. */
static void
store_batch_cb(struct inbox_item *item)
{
	struct store_batch	*b = container_of(item, struct store_batch,
				    item);
	struct store		*st = b->store;
	struct store_op		*op;

	if (b->rc != SQLITE_OK)
		st->fail_rc = b->rc;
	while ((op = TAILQ_FIRST(&b->ops)) != NULL) {
		TAILQ_REMOVE(&b->ops, op, entry);
		if (!op->note)
			st->inflight--;
		if (op->kind != STORE_GET && op->kind != STORE_GET_KEY &&
		    op->kind != STORE_LIST)
			st->failing = op->err != 0;
		store_op_done(op);
		store_op_free(op);
	}
	free(b);
}

/* Loop: hands this iteration's writes to the thread, one wake-up. */
static void
store_flush(struct store *st)
{
	if (TAILQ_EMPTY(&st->local))
		return;
	st->epoch++;
	pthread_mutex_lock(&st->lock);
	TAILQ_CONCAT(&st->queue, &st->local, entry);
	pthread_mutex_unlock(&st->lock);
	/*
	 * After the unlock: signalled under the lock, the thread would wake
	 * only to block on the mutex the loop still holds (two more futex
	 * calls and a switch, per hand-over). It checks the queue under the
	 * lock, so it misses nothing.
	 */
	pthread_cond_signal(&st->cond);
}

static void
store_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	store_flush(container_of(w, struct store, flush));
}

int
store_start(struct store *st)
{
	int	rv;

	if ((rv = pthread_create(&st->reader, NULL, store_reader, st)) != 0)
		return (rv);
	st->reading = true;
	if ((rv = pthread_create(&st->thread, NULL, store_main, st)) != 0)
		return (rv);
	st->running = true;
	/*
	 * Nothing a prepare watcher of this priority does queues a write
	 * (main.c's log flush is the other one), so the loop never sleeps
	 * with writes in local.
	 */
	ev_prepare_init(&st->flush, store_flush_cb);
	ev_set_priority(&st->flush, EV_MINPRI);
	ev_prepare_start(st->inbox->loop, &st->flush);
	ev_unref(st->inbox->loop);
	return (0);
}

static void
store_queue(struct store *st, struct store_op *op)
{
	st->inflight++;
	if (!st->running) {
		/* Before the thread (startup recovery): write in place. */
		int	rc;
		struct store_ops one;

		TAILQ_INIT(&one);
		TAILQ_INSERT_TAIL(&one, op, entry);
		if (op->kind == STORE_LIST)
			rc = store_list_rows(st, op);
		else
			rc = store_commit(st, &one);
		TAILQ_REMOVE(&one, op, entry);
		if (rc != SQLITE_OK) {
			log_warnx("%s: cannot use the job store %s: %s",
			    __func__, st->path, sqlite3_errstr(rc));
			st->fail_rc = rc;
		}
		st->inflight--;
		op->err = rc == SQLITE_OK ? 0 : ASYNCD_ESTORAGE;
		store_op_done(op);
		store_op_free(op);
		return;
	}
	TAILQ_INSERT_TAIL(&st->local, op, entry);
}

static char *
store_json(const cJSON *v)
{
	char	*s;

	if (v == NULL)
		return (NULL);
	if ((s = cJSON_PrintUnformatted(v)) == NULL)
		fatalx("%s: out of memory", __func__);
	return (s);
}

/* Frees the state fields store_op_fill copied. */
static void
store_op_unfill(struct store_op *op)
{
	free(op->result);
	free(op->err_code);
	free(op->err_message);
	free(op->attempt_errors);
}

/*
 * Copies the state fields of job into op, as an update writes them,
 * replacing what an earlier fill copied (a pending op taking a later
 * state of its job in).
 */
static void
store_op_fill(struct store_op *op, const struct job *job)
{
	store_op_unfill(op);
	op->id = job->id;
	op->state = proto_state_name(job->state);
	op->started = job->started;
	op->finished = job->finished;
	op->result = store_json(job->result);
	op->err_code = job->err_code != NULL ? xstrdup(job->err_code) : NULL;
	op->err_message = job->err_message != NULL ?
	    xstrdup(job->err_message) : NULL;
	op->attempts = job->attempts;
	op->pid = job->pid;
	op->pid_start = job->pid_start;
	op->not_before = job->not_before;
	op->attempt_errors = store_json(job->attempt_errors);
}

static struct store_op *
store_op_create(enum store_kind kind, const struct job *job,
    store_done_fn done, void *arg)
{
	struct store_op	*op;

	op = xcalloc(1, sizeof *op);
	op->kind = kind;
	store_op_fill(op, job);
	op->done = done;
	op->arg = arg;
	return (op);
}

void
store_insert(struct store *st, struct job *job, store_done_fn done,
    void *arg)
{
	struct store_op	*op = store_op_create(STORE_INSERT, job, done, arg);

	op->parent = job->parent_id;
	op->type = xstrdup(job->type_name);
	op->key = job->key != NULL ? xstrdup(job->key) : NULL;
	op->args = store_json(job->args);
	op->uid = job->uid;
	op->gid = job->gid;
	op->created = job->created;
	op->timeout = job->timeout;
	op->priority = job->priority;
	op->retries = job->retries;
	op->retry_delay = job->retry_delay;
	op->retry_backoff = job->retry_backoff;
	if (st->running) {
		job->store_op = op;
		job->store_epoch = st->epoch;
	}
	store_queue(st, op);
}

void
store_update(struct store *st, struct job *job, store_done_fn done,
    void *arg)
{
	struct store_op	*op;

	/*
	 * An update writes every state field, so one still in local that
	 * nobody waits for (a job's running state, say, and then its
	 * outcome in the same iteration) is simply overwritten: one row
	 * write instead of two, in the same group as before. A waited-for
	 * one keeps its own callback. An insert still in local (a job that
	 * ran before its row was handed over, sched.c's early start) takes
	 * the update in too and keeps its verdict, the update's after it:
	 * a fast job's row is written once, as it ended.
	 */
	if (st->running && job->store_epoch == st->epoch &&
	    (op = job->store_op) != NULL) {
		if (op->kind == STORE_UPDATE && op->done == NULL) {
			store_op_fill(op, job);
			op->done = done;
			op->arg = arg;
			return;
		}
		if (op->kind == STORE_INSERT &&
		    (done == NULL || op->done2 == NULL)) {
			store_op_fill(op, job);
			if (done != NULL) {
				op->done2 = done;
				op->arg2 = arg;
			}
			return;
		}
	}
	op = store_op_create(STORE_UPDATE, job, done, arg);
	if (st->running) {
		job->store_op = op;
		job->store_epoch = st->epoch;
	}
	store_queue(st, op);
}

void
store_delete(struct store *st, uint64_t id)
{
	struct store_op	*op;

	op = xcalloc(1, sizeof *op);
	op->kind = STORE_DELETE;
	op->id = id;
	store_queue(st, op);
}

void
store_get(struct store *st, uint64_t id, store_get_fn got, void *arg)
{
	struct store_op	*op;

	op = xcalloc(1, sizeof *op);
	op->kind = STORE_GET;
	op->id = id;
	op->got = got;
	op->arg = arg;
	store_queue(st, op);
}

void
store_get_key(struct store *st, const char *key, store_get_fn got,
    void *arg)
{
	struct store_op	*op;

	op = xcalloc(1, sizeof *op);
	op->kind = STORE_GET_KEY;
	op->key = xstrdup(key);
	op->got = got;
	op->arg = arg;
	store_queue(st, op);
}

void
store_list(struct store *st, const struct store_filter *f,
    store_list_fn listed, void *arg)
{
	struct store_op	*op;

	op = xcalloc(1, sizeof *op);
	op->kind = STORE_LIST;
	op->filter = *f;
	op->type = f->type != NULL ? xstrdup(f->type) : NULL;
	op->key = f->key != NULL ? xstrdup(f->key) : NULL;
	op->filter.type = op->type;
	op->filter.key = op->key;
	if (op->filter.limit == 0)
		op->filter.limit = 1;
	op->listed = listed;
	op->arg = arg;
	store_queue(st, op);
}

void
store_forget(struct store *st, int state, double before, bool by_uid,
    uint64_t uid, store_count_fn counted, void *arg)
{
	struct store_op	*op;

	op = xcalloc(1, sizeof *op);
	op->kind = STORE_FORGET;
	op->state = state >= 0 ? proto_state_name(state) : NULL;
	op->finished = before > 0 ? before : HUGE_VAL;
	op->by_uid = by_uid;
	op->uid = uid;
	op->counted = counted;
	op->arg = arg;
	store_queue(st, op);
}

void
store_expire(struct store *st, double before)
{
	store_forget(st, -1, before, false, 0, NULL, NULL);
}

bool
store_busy(const struct store *st)
{
	return (st->inflight > 0);
}

bool
store_failing(const struct store *st)
{
	return (st->failing);
}

const char *
store_error_text(const struct store *st)
{
	switch (st->fail_rc & 0xff) {
	case SQLITE_OK:
		return ("no error");
	case SQLITE_FULL:
		return ("the disk holding the job store is full");
	case SQLITE_IOERR:
		return ("an I/O error on the job store");
	case SQLITE_READONLY:
		return ("the job store is read-only");
	default:
		return (sqlite3_errstr(st->fail_rc));
	}
}

void
store_stop(struct store *st)
{
	if (st == NULL)
		return;
	if (st->running) {
		ev_ref(st->inbox->loop);
		ev_prepare_stop(st->inbox->loop, &st->flush);
		store_flush(st);
		pthread_mutex_lock(&st->lock);
		st->stopping = true;
		pthread_cond_signal(&st->cond);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->thread, NULL);
		st->running = false;
	}
	/* After the writer: the lists it handed over are answered too. */
	if (st->reading) {
		pthread_mutex_lock(&st->lock);
		st->rstopping = true;
		pthread_cond_signal(&st->rcond);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->reader, NULL);
		st->reading = false;
	}
}

void
store_close(struct store *st)
{
	struct store_op	*op;
	size_t		 i;

	if (st == NULL)
		return;
	store_stop(st);
	log_debug("%s: %" PRIu64 " rows written in %" PRIu64 " groups",
	    st->path, st->written, st->groups);
	while ((op = TAILQ_FIRST(&st->retry)) != NULL) {
		TAILQ_REMOVE(&st->retry, op, entry);
		store_op_free(op);
	}
	while ((op = TAILQ_FIRST(&st->reads)) != NULL) {
		TAILQ_REMOVE(&st->reads, op, entry);
		store_op_free(op);
	}
	sqlite3_finalize(st->st_insert);
	sqlite3_finalize(st->st_update);
	sqlite3_finalize(st->st_delete);
	sqlite3_finalize(st->st_meta);
	sqlite3_finalize(st->st_get);
	sqlite3_finalize(st->st_get_key);
	sqlite3_finalize(st->st_forget);
	sqlite3_finalize(st->st_begin);
	sqlite3_finalize(st->st_commit);
	for (i = 0; i < STORE_LIST_SHAPES; i++)
		sqlite3_finalize(st->st_list[i]);
	if (st->rdb != NULL)
		sqlite3_close(st->rdb);
	if (st->db != NULL) {
		/* Reclaims what deleted rows freed, a bounded step. */
		(void)sqlite3_exec(st->db, "PRAGMA incremental_vacuum(1000)",
		    NULL, NULL, NULL);
		sqlite3_close(st->db);
	}
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	pthread_cond_destroy(&st->rcond);
	free(st->path);
	free(st->wal_path);
	free(st);
}
