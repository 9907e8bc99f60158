/*
 * job.c: struct asyncd_job, a snapshot of one job as the daemon reported
 * it, and its accessors.
 *
 * A job wraps the decoded wire object and keeps its result and arguments
 * printed as compact JSON text, made once when the job is created, so the
 * accessors hand out stable strings and never fail. A job is immutable
 * once made: any number of threads may read one.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "client.h"

struct asyncd_job {
	struct proto_job	 pj;
	char			*result;	/* compact JSON, or NULL */
	char			*args;
};

/*
 * The public states are the wire's, in the same order, and then
 * ASYNCD_UNKNOWN for a wait entry without a state (PROTO_NO_STATE, which
 * is -1 on the wire side so that it can never be mistaken for a state).
 */
_Static_assert((int)ASYNCD_QUEUED == (int)PROTO_QUEUED &&
    (int)ASYNCD_RUNNING == (int)PROTO_RUNNING &&
    (int)ASYNCD_SUCCEEDED == (int)PROTO_SUCCEEDED &&
    (int)ASYNCD_FAILED == (int)PROTO_FAILED &&
    (int)ASYNCD_CANCELLED == (int)PROTO_CANCELLED &&
    (int)ASYNCD_TIMED_OUT == (int)PROTO_TIMED_OUT &&
    (int)ASYNCD_UNKNOWN == (int)PROTO_INTERRUPTED &&
    (int)ASYNCD_INTERRUPTED == (int)PROTO_STATE_COUNT &&
    PROTO_STATE_COUNT == 7, "enum asyncd_state must match enum proto_state");

/*
 * Fills in a field the reply carried as absent: the daemon leaves out a
 * null result or null arguments, which are still "included". False when
 * out of memory.
 */
static bool
job_null(cJSON **item)
{
	if (*item == NULL && (*item = cJSON_CreateNull()) == NULL)
		return (false);
	return (true);
}

/* Prints a value as compact JSON text; false when out of memory. */
static bool
job_print(const cJSON *item, char **out)
{
	*out = NULL;
	if (item == NULL)
		return (true);
	return ((*out = cJSON_PrintUnformatted(item)) != NULL);
}

int
job_create(struct proto_job *pj, int flags, struct asyncd_job **out)
{
	struct asyncd_job	*job;
	cJSON			*args = pj->args, *result = pj->result;

	if ((job = calloc(1, sizeof *job)) == NULL)
		return (ASYNCD_ENOMEM);
	if ((flags & PROTO_JOB_ARGS) && !job_null(&args))
		goto fail;
	if ((flags & PROTO_JOB_RESULT) && pj->state == PROTO_SUCCEEDED &&
	    !job_null(&result))
		goto fail;
	if (!job_print(args, &job->args) || !job_print(result, &job->result))
		goto fail;
	/* Nothing can fail past here: take everything *pj owns. */
	job->pj = *pj;
	job->pj.args = args;
	job->pj.result = result;
	memset(pj, 0, sizeof *pj);
	pj->progress = -1;
	*out = job;
	return (0);
fail:
	if (args != pj->args)
		cJSON_Delete(args);
	if (result != pj->result)
		cJSON_Delete(result);
	free(job->args);
	free(job->result);
	free(job);
	return (ASYNCD_ENOMEM);
}

int
job_dup(const struct asyncd_job *job, struct asyncd_job **out)
{
	struct proto_job	 pj;
	cJSON			*obj;
	int			 rv, flags = 0;

	if (job->args != NULL)
		flags |= PROTO_JOB_ARGS;
	if (job->result != NULL)
		flags |= PROTO_JOB_RESULT;
	if ((obj = proto_job_encode(&job->pj, flags)) == NULL)
		return (ASYNCD_ENOMEM);
	rv = proto_job_decode(obj, &pj);
	cJSON_Delete(obj);
	if (rv != 0)
		return (rv == ASYNCD_EPROTO ? ASYNCD_ENOMEM : rv);
	if ((rv = job_create(&pj, flags, out)) != 0)
		proto_job_fini(&pj);
	return (rv);
}

const struct proto_job *
job_proto(const struct asyncd_job *job)
{
	return (&job->pj);
}

const char *
asyncd_state_name(enum asyncd_state state)
{
	const char	*name;

	/* ASYNCD_UNKNOWN is out of the wire's range too. */
	if (state == ASYNCD_INTERRUPTED)
		return ("interrupted");
	if (state == ASYNCD_UNKNOWN ||
	    (name = proto_state_name((enum proto_state)state)) == NULL)
		return ("unknown");
	return (name);
}

uint64_t
asyncd_job_id(const struct asyncd_job *job)
{
	return (job->pj.id);
}

const char *
asyncd_job_type(const struct asyncd_job *job)
{
	return (job->pj.type);
}

const char *
asyncd_job_key(const struct asyncd_job *job)
{
	return (job->pj.key);
}

enum asyncd_state
asyncd_job_state(const struct asyncd_job *job)
{
	if (job->pj.state == PROTO_NO_STATE)
		return (ASYNCD_UNKNOWN);
	if (job->pj.state == PROTO_INTERRUPTED)
		return (ASYNCD_INTERRUPTED);
	return ((enum asyncd_state)job->pj.state);
}

bool
asyncd_job_done(const struct asyncd_job *job)
{
	return (proto_state_terminal(job->pj.state));
}

uint64_t
asyncd_job_parent(const struct asyncd_job *job)
{
	return (job->pj.parent);
}

double
asyncd_job_created(const struct asyncd_job *job)
{
	return (job->pj.created);
}

double
asyncd_job_started(const struct asyncd_job *job)
{
	return (job->pj.started);
}

double
asyncd_job_finished(const struct asyncd_job *job)
{
	return (job->pj.finished);
}

const char *
asyncd_job_result(const struct asyncd_job *job)
{
	return (job->result);
}

const char *
asyncd_job_args(const struct asyncd_job *job)
{
	return (job->args);
}

const char *
asyncd_job_error_code(const struct asyncd_job *job)
{
	return (job->pj.err_code);
}

const char *
asyncd_job_error_message(const struct asyncd_job *job)
{
	return (job->pj.err_message);
}

double
asyncd_job_progress(const struct asyncd_job *job, const char **message)
{
	if (message != NULL)
		*message = job->pj.progress_msg;
	return (job->pj.progress);
}

int
asyncd_parse_time(const char *text, double *t)
{
	if (text == NULL || t == NULL || proto_parse_time(text, t) != 0)
		return (ASYNCD_EINVAL);
	return (0);
}

int
asyncd_job_outcome(const struct asyncd_job *job)
{
	switch (job->pj.state) {
	case PROTO_SUCCEEDED:
		return (0);
	case PROTO_FAILED:
		return (ASYNCD_EFAILED);
	case PROTO_CANCELLED:
		return (ASYNCD_ECANCELED);
	case PROTO_TIMED_OUT:
		return (ASYNCD_EJOBTIMEDOUT);
	case PROTO_INTERRUPTED:
		return (ASYNCD_EINTERRUPTED);
	case PROTO_NO_STATE:
		/* Why the daemon could not answer: unknown_job, ... */
		return (asyncd_errparse(job->pj.err_code));
	default:
		return (ASYNCD_ETIMEDOUT);
	}
}

char *
asyncd_job_json(const struct asyncd_job *job)
{
	cJSON	*obj;
	char	*text;

	obj = proto_job_encode(&job->pj, PROTO_JOB_ARGS | PROTO_JOB_RESULT);
	if (obj == NULL)
		return (NULL);
	text = proto_print(obj);
	cJSON_Delete(obj);
	return (text);
}

void
asyncd_job_free(struct asyncd_job *job)
{
	if (job == NULL)
		return;
	proto_job_fini(&job->pj);
	free(job->result);
	free(job->args);
	free(job);
}

void
asyncd_jobs_free(struct asyncd_job **jobs, size_t n)
{
	size_t	i;

	if (jobs == NULL)
		return;
	for (i = 0; i < n; i++)
		asyncd_job_free(jobs[i]);
	free(jobs);
}

void
asyncd_types_free(char **names, char **descriptions, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (names != NULL)
			free(names[i]);
		if (descriptions != NULL)
			free(descriptions[i]);
	}
	free(names);
	free(descriptions);
}
