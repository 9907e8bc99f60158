/*
 * client.h: libasyncd's private declarations, one section per file.
 *
 * Nothing here is installed: asyncd.h is the whole public surface. These
 * are the pieces that client.c, job.c and future.c share.
 */
#ifndef CLIENT_H
#define CLIENT_H

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
 * result if wait let it finish). Shared by asyncd_submit, asyncd_call and
 * asyncd_run.
 */
int	client_submit(struct asyncd *c, const char *type,
	    const char *args_json, const struct asyncd_submit_opts *opts,
	    double wait, struct asyncd_job **job, bool *created);
/*
 * Opens a context on the client's socket with resending off, for a caller
 * that drives it itself (a future's long poll). Returns 0, ASYNCD_ECLOSED
 * or ASYNCD_ENOMEM.
 */
int	client_ctx_open(struct asyncd *c, nng_ctx *ctx);
/* The request timeout in milliseconds, for nng (NNG_DURATION_INFINITE). */
nng_duration client_timeout_ms(struct asyncd *c, double hold);
/* Maps an nng error to the library's: ECLOSED, ENOMEM or EUNREACHABLE. */
int	client_nng_err(int rv);
/* Seconds on CLOCK_MONOTONIC, for deadlines. */
double	client_now(void);

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
 * the future is complete at once and no long poll starts.
 */
int	future_create(struct asyncd *c, uint64_t id,
	    struct asyncd_job *done, struct asyncd_future **out);

#endif /* CLIENT_H */
