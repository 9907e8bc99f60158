/*
 * reply.c: replies and the job objects inside them, encoded by the daemon
 * and decoded by libasyncd.
 *
 * The daemon encodes from borrowed data (its own job records), so encoding
 * adds job arguments and results to the tree as cJSON references instead of
 * copying them. Decoding produces owned structs; their JSON values are
 * detached from the parsed tree rather than duplicated.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Decoding helpers: each returns false if the field is present but wrong. */
static bool
reply_str(const cJSON *obj, const char *name, char **out)
{
	const cJSON	*item;

	*out = NULL;
	item = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (item == NULL || cJSON_IsNull(item))
		return (true);
	if (!cJSON_IsString(item))
		return (false);
	return ((*out = strdup(item->valuestring)) != NULL);
}

static bool
reply_num(const cJSON *obj, const char *name, double *out)
{
	const cJSON	*item;

	*out = 0;
	item = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (item == NULL || cJSON_IsNull(item))
		return (true);
	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
		return (false);
	*out = item->valuedouble;
	return (true);
}

static bool
reply_u64(const cJSON *obj, const char *name, uint64_t *out)
{
	double	d;

	/* (double)UINT64_MAX is 2^64, which does not fit. */
	if (!reply_num(obj, name, &d) || d < 0 || d >= (double)UINT64_MAX)
		return (false);
	*out = (uint64_t)d;
	return (true);
}

static bool
reply_bool(const cJSON *obj, const char *name, bool *out)
{
	const cJSON	*item;

	*out = false;
	item = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (item == NULL)
		return (true);
	if (!cJSON_IsBool(item))
		return (false);
	*out = cJSON_IsTrue(item);
	return (true);
}

/* Encoding helpers: false when out of memory. */
static bool
reply_add_num(cJSON *obj, const char *name, double value)
{
	return (cJSON_AddNumberToObject(obj, name, value) != NULL);
}

static bool
reply_add_str(cJSON *obj, const char *name, const char *value)
{
	return (cJSON_AddStringToObject(obj, name, value) != NULL);
}

cJSON *
proto_job_encode(const struct proto_job *job, int flags)
{
	cJSON	*obj, *sub;

	if ((obj = cJSON_CreateObject()) == NULL)
		return (NULL);
	if (job->state == PROTO_NO_STATE) {
		/* An id the daemon cannot answer for: id and error only. */
		if (!reply_add_num(obj, "id", (double)job->id) ||
		    (sub = cJSON_AddObjectToObject(obj, "error")) == NULL ||
		    !reply_add_str(sub, "code", job->err_code != NULL ?
		    job->err_code : "unknown_job") ||
		    !reply_add_str(sub, "message", job->err_message != NULL ?
		    job->err_message : ""))
			goto fail;
		return (obj);
	}
	if (!reply_add_num(obj, "id", (double)job->id) ||
	    !reply_add_str(obj, "type", job->type) ||
	    !reply_add_str(obj, "state", proto_state_name(job->state)))
		goto fail;
	if (job->key != NULL && !reply_add_str(obj, "key", job->key))
		goto fail;
	if (job->parent != 0 &&
	    !reply_add_num(obj, "parent", (double)job->parent))
		goto fail;
	if (!reply_add_num(obj, "created", proto_time_round(job->created)))
		goto fail;
	if (job->started > 0 &&
	    !reply_add_num(obj, "started", proto_time_round(job->started)))
		goto fail;
	if (job->finished > 0 &&
	    !reply_add_num(obj, "finished", proto_time_round(job->finished)))
		goto fail;
	if (job->timeout > 0 && !reply_add_num(obj, "timeout", job->timeout))
		goto fail;
	if (job->attempts > 0 &&
	    !reply_add_num(obj, "attempts", (double)job->attempts))
		goto fail;
	if (job->delivery != NULL &&
	    !reply_add_str(obj, "delivery", job->delivery))
		goto fail;
	if ((job->priority != 0 &&
	    !reply_add_num(obj, "priority", job->priority)) ||
	    (job->not_before > 0 && !reply_add_num(obj, "not_before",
	    proto_time_round(job->not_before))) ||
	    (job->retries > 0 &&
	    !reply_add_num(obj, "retries", (double)job->retries)) ||
	    (job->attempt_errors != NULL &&
	    !cJSON_AddItemReferenceToObject(obj, "attempt_errors",
	    job->attempt_errors)))
		goto fail;
	if (job->cancel_requested && !proto_state_terminal(job->state) &&
	    cJSON_AddTrueToObject(obj, "cancel_requested") == NULL)
		goto fail;
	if ((flags & PROTO_JOB_ARGS) && job->args != NULL &&
	    !cJSON_AddItemReferenceToObject(obj, "args", job->args))
		goto fail;
	if ((flags & PROTO_JOB_RESULT) && job->result != NULL &&
	    !cJSON_AddItemReferenceToObject(obj, "result", job->result))
		goto fail;
	if (job->err_code != NULL) {
		if ((sub = cJSON_AddObjectToObject(obj, "error")) == NULL ||
		    !reply_add_str(sub, "code", job->err_code) ||
		    !reply_add_str(sub, "message", job->err_message != NULL ?
		    job->err_message : ""))
			goto fail;
	}
	if (job->progress >= 0) {
		if ((sub = cJSON_AddObjectToObject(obj, "progress")) == NULL ||
		    !reply_add_num(sub, "fraction", job->progress))
			goto fail;
		if (job->progress_msg != NULL &&
		    !reply_add_str(sub, "message", job->progress_msg))
			goto fail;
	}
	return (obj);
fail:
	cJSON_Delete(obj);
	return (NULL);
}

/*
 * Decodes a job object. With steal, "args" and "result" are detached from
 * obj (which must then be a tree the caller owns); without, they are
 * copied.
 */
static int
reply_job_decode(cJSON *obj, struct proto_job *job, bool steal)
{
	const cJSON	*sub;
	cJSON		*item;
	char		*state = NULL;
	int		 n;

	memset(job, 0, sizeof *job);
	job->progress = -1;
	if (!cJSON_IsObject(obj))
		return (ASYNCD_EPROTO);
	if (!reply_u64(obj, "id", &job->id) || job->id == 0)
		goto fail;
	if (cJSON_GetObjectItemCaseSensitive(obj, "state") == NULL) {
		/* An entry for an id the daemon could not answer for. */
		job->state = PROTO_NO_STATE;
		sub = cJSON_GetObjectItemCaseSensitive(obj, "error");
		if (!reply_str(sub, "code", &job->err_code) ||
		    job->err_code == NULL ||
		    !reply_str(sub, "message", &job->err_message))
			goto fail;
		return (0);
	}
	if (!reply_str(obj, "type", &job->type) || job->type == NULL ||
	    !reply_str(obj, "state", &state) || state == NULL)
		goto fail;
	n = proto_state_parse(state);
	free(state);
	if (n == -1)
		goto fail;
	job->state = n;
	if (!reply_str(obj, "key", &job->key) ||
	    !reply_u64(obj, "parent", &job->parent) ||
	    !reply_num(obj, "created", &job->created) ||
	    !reply_num(obj, "started", &job->started) ||
	    !reply_num(obj, "finished", &job->finished) ||
	    !reply_num(obj, "timeout", &job->timeout) ||
	    !reply_u64(obj, "attempts", &job->attempts) ||
	    !reply_str(obj, "delivery", &job->delivery) ||
	    !reply_num(obj, "priority", &job->priority) ||
	    !reply_num(obj, "not_before", &job->not_before) ||
	    !reply_u64(obj, "retries", &job->retries) ||
	    !reply_bool(obj, "cancel_requested", &job->cancel_requested))
		goto fail;
	if ((sub = cJSON_GetObjectItemCaseSensitive(obj, "error")) != NULL) {
		if (!reply_str(sub, "code", &job->err_code) ||
		    job->err_code == NULL ||
		    !reply_str(sub, "message", &job->err_message))
			goto fail;
	}
	if ((sub = cJSON_GetObjectItemCaseSensitive(obj, "progress")) !=
	    NULL) {
		if (!reply_num(sub, "fraction", &job->progress) ||
		    !reply_str(sub, "message", &job->progress_msg))
			goto fail;
	}
	if (steal) {
		job->args = cJSON_DetachItemFromObjectCaseSensitive(obj,
		    "args");
		job->result = cJSON_DetachItemFromObjectCaseSensitive(obj,
		    "result");
		job->attempt_errors = cJSON_DetachItemFromObjectCaseSensitive(
		    obj, "attempt_errors");
	} else {
		if ((item = cJSON_GetObjectItemCaseSensitive(obj,
		    "attempt_errors")) != NULL && (job->attempt_errors =
		    cJSON_Duplicate(item, true)) == NULL)
			goto nomem;
		if ((item = cJSON_GetObjectItemCaseSensitive(obj, "args")) !=
		    NULL && (job->args = cJSON_Duplicate(item, true)) == NULL)
			goto nomem;
		if ((item = cJSON_GetObjectItemCaseSensitive(obj, "result")) !=
		    NULL && (job->result = cJSON_Duplicate(item, true)) == NULL)
			goto nomem;
	}
	return (0);
nomem:
	proto_job_fini(job);
	return (ASYNCD_ENOMEM);
fail:
	proto_job_fini(job);
	return (ASYNCD_EPROTO);
}

int
proto_job_decode(const cJSON *obj, struct proto_job *job)
{
	return (reply_job_decode((cJSON *)obj, job, false));
}

void
proto_job_fini(struct proto_job *job)
{
	free(job->type);
	free(job->key);
	cJSON_Delete(job->args);
	cJSON_Delete(job->result);
	free(job->err_code);
	free(job->err_message);
	free(job->progress_msg);
	free(job->delivery);
	cJSON_Delete(job->attempt_errors);
	memset(job, 0, sizeof *job);
	job->progress = -1;
}

static void
reply_jobs_free(struct proto_job *jobs, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		proto_job_fini(&jobs[i]);
	free(jobs);
}

cJSON *
proto_stats_encode(const struct proto_stats *st)
{
	cJSON	*obj;
	int	 i;

	if ((obj = cJSON_CreateObject()) == NULL)
		return (NULL);
	for (i = 0; i < PROTO_STATE_COUNT; i++) {
		if (!reply_add_num(obj, proto_state_name(i),
		    (double)st->counts[i]))
			goto fail;
	}
	if (!reply_add_num(obj, "submitted", (double)st->submitted) ||
	    !reply_add_num(obj, "finished", (double)st->finished) ||
	    !reply_add_num(obj, "uptime", proto_time_round(st->uptime)) ||
	    !reply_add_num(obj, "max_running", (double)st->max_running) ||
	    !reply_add_num(obj, "max_queued", (double)st->max_queued))
		goto fail;
	return (obj);
fail:
	cJSON_Delete(obj);
	return (NULL);
}

int
proto_stats_decode(const cJSON *obj, struct proto_stats *st)
{
	int	i;

	memset(st, 0, sizeof *st);
	if (!cJSON_IsObject(obj))
		return (ASYNCD_EPROTO);
	for (i = 0; i < PROTO_STATE_COUNT; i++) {
		if (!reply_u64(obj, proto_state_name(i), &st->counts[i]))
			return (ASYNCD_EPROTO);
	}
	if (!reply_u64(obj, "submitted", &st->submitted) ||
	    !reply_u64(obj, "finished", &st->finished) ||
	    !reply_num(obj, "uptime", &st->uptime) ||
	    !reply_u64(obj, "max_running", &st->max_running) ||
	    !reply_u64(obj, "max_queued", &st->max_queued))
		return (ASYNCD_EPROTO);
	return (0);
}

/* Adds an array of jobs under name; false when out of memory. */
static bool
reply_add_jobs(cJSON *obj, const char *name, const struct proto_job *jobs,
    size_t n, int flags)
{
	cJSON	*arr, *item;
	size_t	 i;

	if ((arr = cJSON_AddArrayToObject(obj, name)) == NULL)
		return (false);
	for (i = 0; i < n; i++) {
		if ((item = proto_job_encode(&jobs[i], flags)) == NULL)
			return (false);
		cJSON_AddItemToArray(arr, item);
	}
	return (true);
}

static bool
reply_add_job(cJSON *obj, const struct proto_job *job, int flags)
{
	cJSON	*item;

	if ((item = proto_job_encode(job, flags)) == NULL)
		return (false);
	return (cJSON_AddItemToObject(obj, "job", item));
}

/* Adds one output stream's piece; false on ENOMEM. */
static bool
reply_add_chunk(cJSON *obj, int stream, const struct proto_chunk *c)
{
	cJSON	*sub;
	char	*b64;
	bool	 ok;

	if (!c->present)
		return (true);
	if ((b64 = proto_b64_encode(c->data, c->len)) == NULL)
		return (false);
	ok = (sub = cJSON_AddObjectToObject(obj,
	    proto_stream_name(stream))) != NULL &&
	    reply_add_num(sub, "offset", (double)c->offset) &&
	    reply_add_str(sub, "data", b64) &&
	    reply_add_num(sub, "size", (double)c->size) &&
	    cJSON_AddBoolToObject(sub, "cut", c->cut) != NULL;
	free(b64);
	return (ok);
}

static int
reply_decode_chunk(const cJSON *obj, int stream, struct proto_chunk *c)
{
	const cJSON	*sub;
	char		*b64;
	int		 rv;

	memset(c, 0, sizeof *c);
	sub = cJSON_GetObjectItemCaseSensitive(obj, proto_stream_name(stream));
	if (sub == NULL)
		return (0);
	c->present = true;
	if (!reply_u64(sub, "offset", &c->offset) ||
	    !reply_u64(sub, "size", &c->size) ||
	    !reply_bool(sub, "cut", &c->cut) ||
	    !reply_str(sub, "data", &b64) || b64 == NULL)
		return (ASYNCD_EPROTO);
	rv = proto_b64_decode(b64, &c->data, &c->len);
	free(b64);
	return (rv == -1 ? ASYNCD_EPROTO : rv);
}

/* Fills obj with the body of a successful reply; false on ENOMEM. */
static bool
reply_encode_body(const struct proto_reply *rep, cJSON *obj)
{
	const struct proto_ping	*p = &rep->u.ping;
	cJSON			*arr, *item, *st;
	size_t			 i;

	switch (rep->op) {
	case PROTO_PING:
		return (reply_add_str(obj, "version", p->version) &&
		    reply_add_num(obj, "protocol", p->protocol) &&
		    reply_add_num(obj, "pid", (double)p->pid) &&
		    (p->events == NULL ||
		    reply_add_str(obj, "events", p->events)) &&
		    (p->durability == NULL ||
		    reply_add_str(obj, "durability", p->durability)));
	case PROTO_SUBMIT:
		return (reply_add_job(obj, &rep->u.submit.job,
		    PROTO_JOB_RESULT) && cJSON_AddBoolToObject(obj, "created",
		    rep->u.submit.created) != NULL);
	case PROTO_WAIT:
		return (reply_add_jobs(obj, "jobs", rep->u.jobs.jobs,
		    rep->u.jobs.njobs, PROTO_JOB_RESULT) &&
		    cJSON_AddBoolToObject(obj, "done", rep->u.jobs.done) !=
		    NULL);
	case PROTO_LIST:
		return (reply_add_jobs(obj, "jobs", rep->u.jobs.jobs,
		    rep->u.jobs.njobs, 0) && cJSON_AddBoolToObject(obj, "more",
		    rep->u.jobs.more) != NULL);
	case PROTO_STATUS:
		return (reply_add_job(obj, &rep->u.job,
		    PROTO_JOB_ARGS | PROTO_JOB_RESULT));
	case PROTO_CANCEL:
		return (reply_add_job(obj, &rep->u.job, PROTO_JOB_RESULT));
	case PROTO_TYPES:
		if ((arr = cJSON_AddArrayToObject(obj, "types")) == NULL)
			return (false);
		for (i = 0; i < rep->u.types.ntypes; i++) {
			if ((item = cJSON_CreateObject()) == NULL)
				return (false);
			cJSON_AddItemToArray(arr, item);
			if (!reply_add_str(item, "name",
			    rep->u.types.types[i].name) ||
			    !reply_add_str(item, "description",
			    rep->u.types.types[i].description) ||
			    (rep->u.types.types[i].delivery != NULL &&
			    !reply_add_str(item, "delivery",
			    rep->u.types.types[i].delivery)))
				return (false);
		}
		return (true);
	case PROTO_STATS:
		if ((st = proto_stats_encode(&rep->u.stats)) == NULL)
			return (false);
		return (cJSON_AddItemToObject(obj, "stats", st));
	case PROTO_OUTPUT:
		return (reply_add_job(obj, &rep->u.output.job, 0) &&
		    reply_add_chunk(obj, PROTO_STDOUT,
		    &rep->u.output.chunk[PROTO_STDOUT]) &&
		    reply_add_chunk(obj, PROTO_STDERR,
		    &rep->u.output.chunk[PROTO_STDERR]) &&
		    cJSON_AddBoolToObject(obj, "done", rep->u.output.done) !=
		    NULL);
	case PROTO_FORGET:
		return (reply_add_num(obj, "forgotten",
		    (double)rep->u.forgotten));
	case PROTO_SHUTDOWN:
	default:
		return (true);
	}
}

int
proto_reply_encode(const struct proto_reply *rep, char **out, size_t *len)
{
	cJSON	*obj;

	*out = NULL;
	if (rep->err != 0) {
		*out = proto_reply_error(rep->err, rep->message,
		    rep->instance, len);
		return (*out == NULL ? ASYNCD_ENOMEM : 0);
	}
	if ((obj = cJSON_CreateObject()) == NULL)
		return (ASYNCD_ENOMEM);
	if (cJSON_AddTrueToObject(obj, "ok") != NULL &&
	    (rep->instance == NULL ||
	    reply_add_str(obj, "instance", rep->instance)) &&
	    reply_encode_body(rep, obj))
		*out = proto_print(obj);
	cJSON_Delete(obj);
	if (*out == NULL)
		return (ASYNCD_ENOMEM);
	*len = strlen(*out);
	return (0);
}

char *
proto_reply_error(int err, const char *message, const char *instance,
    size_t *len)
{
	cJSON	*obj, *e;
	char	*out = NULL;

	if ((obj = cJSON_CreateObject()) == NULL)
		return (NULL);
	if (cJSON_AddFalseToObject(obj, "ok") != NULL &&
	    (instance == NULL || reply_add_str(obj, "instance", instance)) &&
	    (e = cJSON_AddObjectToObject(obj, "error")) != NULL &&
	    reply_add_str(e, "code", asyncd_errcode(err)) &&
	    reply_add_str(e, "message", message != NULL ? message :
	    asyncd_strerror(err)))
		out = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (out != NULL && len != NULL)
		*len = strlen(out);
	return (out);
}

/* Decodes an array of jobs under name into an owned array. */
static int
reply_decode_jobs(cJSON *obj, const char *name, struct proto_job **jobs,
    size_t *n)
{
	cJSON	*arr, *item;
	size_t	 count;
	int	 rv;

	*jobs = NULL;
	*n = 0;
	arr = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!cJSON_IsArray(arr))
		return (ASYNCD_EPROTO);
	if ((count = (size_t)cJSON_GetArraySize(arr)) == 0)
		return (0);
	if ((*jobs = calloc(count, sizeof **jobs)) == NULL)
		return (ASYNCD_ENOMEM);
	cJSON_ArrayForEach(item, arr) {
		if ((rv = reply_job_decode(item, &(*jobs)[*n], true)) != 0) {
			reply_jobs_free(*jobs, *n);
			*jobs = NULL;
			*n = 0;
			return (rv);
		}
		(*n)++;
	}
	return (0);
}

static int
reply_decode_types(cJSON *obj, struct proto_reply *rep)
{
	const cJSON		*arr, *item;
	struct proto_type_info	*t;
	size_t			 count;

	arr = cJSON_GetObjectItemCaseSensitive(obj, "types");
	if (!cJSON_IsArray(arr))
		return (ASYNCD_EPROTO);
	count = (size_t)cJSON_GetArraySize(arr);
	if (count > 0 && (rep->u.types.types = calloc(count,
	    sizeof *rep->u.types.types)) == NULL)
		return (ASYNCD_ENOMEM);
	cJSON_ArrayForEach(item, arr) {
		t = &rep->u.types.types[rep->u.types.ntypes++];
		if (!reply_str(item, "name", &t->name) || t->name == NULL ||
		    !reply_str(item, "description", &t->description) ||
		    !reply_str(item, "delivery", &t->delivery))
			return (ASYNCD_EPROTO);
	}
	return (0);
}

static int
reply_decode_body(cJSON *obj, struct proto_reply *rep)
{
	struct proto_ping	*p = &rep->u.ping;
	cJSON			*item;
	double			 d;
	int			 rv;

	switch (rep->op) {
	case PROTO_PING:
		if (!reply_str(obj, "version", &p->version) ||
		    !reply_num(obj, "protocol", &d) ||
		    !reply_str(obj, "events", &p->events) ||
		    !reply_str(obj, "durability", &p->durability))
			return (ASYNCD_EPROTO);
		/* Converting a double out of the type's range is undefined. */
		if (d < 0 || d > INT_MAX)
			return (ASYNCD_EPROTO);
		p->protocol = (int)d;
		if (!reply_num(obj, "pid", &d) || d < 0 || d >= 0x1p63)
			return (ASYNCD_EPROTO);
		p->pid = (int64_t)d;
		return (0);
	case PROTO_SUBMIT:
		item = cJSON_GetObjectItemCaseSensitive(obj, "job");
		if (!reply_bool(obj, "created", &rep->u.submit.created))
			return (ASYNCD_EPROTO);
		return (reply_job_decode(item, &rep->u.submit.job, true));
	case PROTO_WAIT:
	case PROTO_LIST:
		if (!reply_bool(obj, "done", &rep->u.jobs.done) ||
		    !reply_bool(obj, "more", &rep->u.jobs.more))
			return (ASYNCD_EPROTO);
		return (reply_decode_jobs(obj, "jobs", &rep->u.jobs.jobs,
		    &rep->u.jobs.njobs));
	case PROTO_STATUS:
	case PROTO_CANCEL:
		item = cJSON_GetObjectItemCaseSensitive(obj, "job");
		return (reply_job_decode(item, &rep->u.job, true));
	case PROTO_TYPES:
		return (reply_decode_types(obj, rep));
	case PROTO_STATS:
		return (proto_stats_decode(cJSON_GetObjectItemCaseSensitive(obj,
		    "stats"), &rep->u.stats));
	case PROTO_OUTPUT:
		item = cJSON_GetObjectItemCaseSensitive(obj, "job");
		if (!reply_bool(obj, "done", &rep->u.output.done))
			return (ASYNCD_EPROTO);
		if ((rv = reply_job_decode(item, &rep->u.output.job,
		    true)) != 0 ||
		    (rv = reply_decode_chunk(obj, PROTO_STDOUT,
		    &rep->u.output.chunk[PROTO_STDOUT])) != 0 ||
		    (rv = reply_decode_chunk(obj, PROTO_STDERR,
		    &rep->u.output.chunk[PROTO_STDERR])) != 0)
			return (rv);
		return (0);
	case PROTO_FORGET:
		if (!reply_u64(obj, "forgotten", &rep->u.forgotten))
			return (ASYNCD_EPROTO);
		return (0);
	case PROTO_SHUTDOWN:
	default:
		return (0);
	}
}

int
proto_reply_decode(enum proto_op op, const void *buf, size_t len,
    struct proto_reply *rep)
{
	const cJSON	*ok, *e;
	cJSON		*obj;
	char		*code = NULL, *instance = NULL;
	int		 rv;

	memset(rep, 0, sizeof *rep);
	rep->op = op;
	if ((obj = cJSON_ParseWithLength(buf, len)) == NULL)
		return (ASYNCD_EPROTO);
	rv = ASYNCD_EPROTO;
	ok = cJSON_GetObjectItemCaseSensitive(obj, "ok");
	if (!cJSON_IsBool(ok))
		goto out;
	/* Optional: a daemon before this field sends none. */
	if (!reply_str(obj, "instance", &instance) || (instance != NULL &&
	    strlen(instance) > PROTO_MAX_INSTANCE))
		goto out;
	if (cJSON_IsTrue(ok)) {
		rv = reply_decode_body(obj, rep);
		goto out;
	}
	e = cJSON_GetObjectItemCaseSensitive(obj, "error");
	if (!reply_str(e, "code", &code) || code == NULL ||
	    !reply_str(e, "message", &rep->message))
		goto out;
	rep->err = asyncd_errparse(code);
	/* A success code in an error reply would read as success. */
	if (rep->err == ASYNCD_OK)
		rep->err = ASYNCD_EPROTO;
	rv = 0;
out:
	free(code);
	cJSON_Delete(obj);
	if (rv != 0) {
		free(instance);
		proto_reply_fini(rep);
	} else
		rep->instance = instance;
	rep->op = op;
	return (rv);
}

void
proto_reply_fini(struct proto_reply *rep)
{
	size_t	i;

	free(rep->message);
	free(rep->instance);
	if (rep->err == 0) {
		switch (rep->op) {
		case PROTO_PING:
			free(rep->u.ping.version);
			free(rep->u.ping.events);
			free(rep->u.ping.durability);
			break;
		case PROTO_SUBMIT:
			proto_job_fini(&rep->u.submit.job);
			break;
		case PROTO_WAIT:
		case PROTO_LIST:
			reply_jobs_free(rep->u.jobs.jobs, rep->u.jobs.njobs);
			break;
		case PROTO_STATUS:
		case PROTO_CANCEL:
			proto_job_fini(&rep->u.job);
			break;
		case PROTO_OUTPUT:
			proto_job_fini(&rep->u.output.job);
			free(rep->u.output.chunk[0].data);
			free(rep->u.output.chunk[1].data);
			break;
		case PROTO_TYPES:
			for (i = 0; i < rep->u.types.ntypes; i++) {
				free(rep->u.types.types[i].name);
				free(rep->u.types.types[i].description);
				free(rep->u.types.types[i].delivery);
			}
			free(rep->u.types.types);
			break;
		default:
			break;
		}
	}
	memset(rep, 0, sizeof *rep);
}
