/*
 * client.h: libasyncd's private declarations, one section per file.
 *
 * Nothing here is installed: asyncd.h is the whole public surface. These
 * are the pieces that client.c, job.c and future.c share.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "asyncd.h"
#include "proto.h"

/* client.c */

/*
 * How long a long poll asks the daemon to hold it, at most. The daemon caps
 * holds at about 5 s anyway; asking for more than that costs nothing and
 * lets a daemon with a larger --wait-cap hold longer, and 30 s stays well
 * below nng's 60 s REQ resend timer should resending ever be on.
 */
#define CLIENT_HOLD_MAX		30.0
/*
 * Redial quickly at first: a daemon restart is the common case. nng's
 * dialer and a direct connection (direct.c) keep the same pace.
 */
#define CLIENT_RECONNMINT	10	/* ms */
#define CLIENT_RECONNMAXT	500	/* ms */
/* Room for the daemon's error message; longer ones are cut. */
#define CLIENT_ERRMSG_MAX	1024

/*
 * The long-poll engine: the one rule for what follows each poll of a wait
 * (client.c, "Long polls", and asyncd.h). Both the synchronous wait loop
 * and a future's aio chain feed it the outcome of every poll and do what
 * it says. A struct client_poll belongs to one wait and is used by one
 * thread at a time: the caller's, or the chain callback that is running.
 */
enum client_poll_next {
	CLIENT_POLL_DONE,	/* the reply meets the condition */
	CLIENT_POLL_NOW,	/* it does not yet: poll again at once */
	CLIENT_POLL_BACKOFF,	/* poll again after p->pause seconds */
	CLIENT_POLL_FAIL	/* give up: p->err, p->msg */
};

/* What one poll came back with: nng failed, or decode failed, or rep. */
struct client_poll_outcome {
	int			 nng;	/* the exchange failed: nng's error */
	bool			 sent;	/* ...after the request went out */
	int			 decode; /* unreadable reply: EPROTO, ENOMEM */
	const struct proto_reply *rep;	/* a reply; may be an error reply */
};

struct client_poll {
	/*
	 * The condition, set by the caller (client_poll_init sets a single
	 * request: ids NULL, any reply ends it). Public.
	 */
	const uint64_t	*ids;		/* the wait's ids, in order */
	size_t		 nids;
	bool		 any;
	bool		 repeatable;	/* safe to send again after a drop */
	double		 deadline;	/* CLOCK_MONOTONIC; INFINITY: none */
	double		 hold_max;	/* longest hold to ask for */
	/* Read-only for the caller: the engine's verdict. */
	double		 pause;		/* CLIENT_POLL_BACKOFF: seconds */
	int		 err;		/* CLIENT_POLL_FAIL: ASYNCD_E* */
	char		 msg[CLIENT_ERRMSG_MAX]; /* ...and why; may be "" */
	/* The instance of the first reply of this wait; "": none yet. */
	char		 instance[PROTO_MAX_INSTANCE + 1];
	/* Private. */
	double		 connect;	/* longest the daemon may be away */
	double		 started;	/* when the poll in flight began */
	double		 down_since;	/* first failure in a row; < 0: none */
	double		 backoff;	/* the next pause */
};

/*
 * Starts the state of one wait (or request) on client c with the given
 * deadline; the connect timeout is read now.
 */
void	client_poll_init(struct client_poll *p, struct asyncd *c,
	    double deadline);
/*
 * Remembers instance (may be NULL) as the daemon's, if none is yet: the
 * reply that made the jobs (a submit's, a cancel's) counts as the first.
 */
void	client_poll_instance(struct client_poll *p, const char *instance);
/*
 * Marks the start of a poll; returns how long it should ask the daemon to
 * hold it (0 once the deadline has passed).
 */
double	client_poll_begin(struct client_poll *p);
/*
 * Decides what follows a poll. On CLIENT_POLL_DONE, and on
 * CLIENT_POLL_FAIL with p->err ASYNCD_ETIMEDOUT (the deadline passed),
 * o->rep is a wait reply whose jobs match p->ids one for one, or an output
 * reply for the job p->ids[0] (its one id): for output, the condition is
 * a reply that carries bytes or says "done".
 */
enum client_poll_next client_poll_next(struct client_poll *p,
	    const struct client_poll_outcome *o);

/*
 * One poll: sends req, asking the daemon to hold it hold seconds, and
 * fills *o with what came back; when a reply was decoded it is in *rep
 * (release it with proto_reply_fini) and o->rep points at it. Returns 0,
 * or ASYNCD_ECLOSED or ASYNCD_ENOMEM when no attempt could be made. Feed
 * *o to client_poll_next. Blocks; any thread.
 */
int	client_attempt(struct asyncd *c, const struct proto_req *req,
	    double hold, struct client_poll_outcome *o,
	    struct proto_reply *rep);
/* Sleeps for the pause the engine asked for (CLIENT_POLL_BACKOFF). */
void	client_pause(double seconds);
/*
 * Waits for one job (*id, which p->ids is pointed at) under p's deadline
 * and instance, and sets *job. Returns 0; ASYNCD_ETIMEDOUT with *job set
 * to the job as it stands; or an error (a job the daemon could not answer
 * for fails with its error), asyncd_errmsg() saying why.
 */
int	client_wait_one(struct asyncd *c, struct client_poll *p, uint64_t *id,
	    struct asyncd_job **job);
/* The CLOCK_MONOTONIC deadline of timeout seconds; negative: INFINITY. */
double	client_deadline(double timeout);
/* True for an id the protocol can carry (1 to 2^53-1). */
bool	client_valid_id(uint64_t id);

/*
 * Sends one request and waits for its reply: the single path every call of
 * the library takes. hold is how long the request asks the daemon to hold
 * the reply (a long poll), added to the request timeout. On 0, *out holds
 * the decoded reply (release with proto_reply_fini), which may be an error
 * reply: check out->err. Otherwise returns ASYNCD_EUNREACHABLE, ECLOSED,
 * EPROTO, ENOMEM or EINVAL and *out is empty. Blocks; any thread.
 */
int	client_request(struct asyncd *c, const struct proto_req *req,
	    double hold, struct proto_reply *out);
/*
 * As client_request, but an error reply becomes the return value (its
 * message kept for asyncd_errmsg) and *out is then empty.
 */
int	client_call(struct asyncd *c, const struct proto_req *req,
	    double hold, struct proto_reply *out);
/*
 * Submits a job and sets *job to the daemon's record of it (with its
 * result if wait let it finish). If instance is not NULL, it gets the
 * replying daemon's instance ("" if none; PROTO_MAX_INSTANCE + 1 bytes).
 * Shared by asyncd_submit, asyncd_call and asyncd_run.
 */
int	client_submit(struct asyncd *c, const char *type,
	    const char *args_json, const struct asyncd_submit_opts *opts,
	    double wait, struct asyncd_job **job, bool *created,
	    char *instance);
/*
 * Opens a context on the client's socket with resending off, for a caller
 * that drives it itself (a future's long poll). Returns 0, ASYNCD_ECLOSED
 * or ASYNCD_ENOMEM.
 */
int	client_ctx_open(struct asyncd *c, nng_ctx *ctx);
/* The request timeout in milliseconds, for nng (NNG_DURATION_INFINITE). */
nng_duration client_timeout_ms(struct asyncd *c, double hold);
/* The connect timeout in milliseconds, for a send. */
nng_duration client_connect_ms(struct asyncd *c);
/* Seconds to nng milliseconds, at least 1; negative: infinite. */
nng_duration client_ms(double seconds);
/* Seconds on CLOCK_MONOTONIC, for deadlines. */
double	client_now(void);
/*
 * Sets what asyncd_errmsg() returns in this thread: msg, or nothing if msg
 * is NULL or empty.
 */
void	client_set_errmsg(const char *msg);

/*
 * asyncd_open, with the transport chosen: direct (what asyncd_open does),
 * synchronous requests on an ipc:// URL travel on connections of their
 * own (direct.c) and nng starts only if a future needs it; otherwise
 * every request goes through nng's socket, opened at once (tests use it
 * to hold both transports to one contract).
 */
int	client_open(struct asyncd **out, const char *url, bool direct);
/*
 * Requests the handle has written to the daemon, by either transport and
 * futures' polls included: counted as each goes out, so a test can tell
 * that a request is with the daemon, or how many a call took.
 */
uint64_t client_sent(struct asyncd *c);
/* Counts one (future.c, after a send). */
void	client_note_sent(struct asyncd *c);

/* direct.c */

/* One direct connection: a slot's. */
struct direct {
	int		 fd;		/* -1: none */
	pid_t		 pid;		/* the process that connected it */
	uint32_t	 id;		/* of the last request */
	bool		 greeted;	/* the daemon's SP header was read */
};

/*
 * What a direct exchange needs of its handle: the lock under which the
 * descriptor changes, the condition an abort signals, and the flag that
 * says it aborted (set under the lock).
 */
struct direct_guard {
	pthread_mutex_t	*lock;
	pthread_cond_t	*wake;		/* CLOCK_MONOTONIC */
	const bool	*closed;
	atomic_uint_least64_t *sent;	/* counts requests written */
};

/* The socket path of an ipc:// URL, if it fits a unix address. */
bool	direct_path(const char *url, char *path, size_t size);
void	direct_init(struct direct *);
/* Closes the connection; no exchange may be under way. */
void	direct_close(struct direct *);
/* Under the guard's lock: wakes an exchange in poll() (asyncd_close). */
void	direct_abort(struct direct *);
/*
 * Sends text as one request on the connection (connecting first, within
 * send_max seconds and the deadline, if it has none) and receives the
 * reply before deadline. Returns 0 with *reply set, or an nng error as
 * client_exchange does; *sent says whether the request went out. After an
 * error the connection must be closed.
 */
int	direct_exchange(struct direct *, const struct direct_guard *,
	    const char *path, const char *text, double deadline,
	    double send_max, nng_msg **reply, bool *sent);

/* job.c */

/*
 * Makes a job from a decoded one, taking what *pj owns on success (*pj is
 * then empty; on failure the caller still owns it). flags says what the
 * reply carried (PROTO_JOB_ARGS, PROTO_JOB_RESULT): a field it carried
 * but left out reads as JSON null, so a succeeded job from a wait always
 * has a result text, while one from a list has none. Returns 0 or
 * ASYNCD_ENOMEM.
 */
int	job_create(struct proto_job *pj, int flags,
	    struct asyncd_job **out);
/* The decoded job inside, borrowed. */
const struct proto_job *job_proto(const struct asyncd_job *job);
/* A copy of job; 0 or ASYNCD_ENOMEM. */
int	job_dup(const struct asyncd_job *job, struct asyncd_job **out);

/* future.c */

/*
 * Makes a future for job id. With done (a finished job, taken on success)
 * the future is complete at once and no long poll starts. instance (may be
 * NULL or "") is the daemon's that made the job, as the poll's first.
 */
int	future_create(struct asyncd *c, uint64_t id,
	    struct asyncd_job *done, const char *instance,
	    struct asyncd_future **out);

#endif /* CLIENT_H */
