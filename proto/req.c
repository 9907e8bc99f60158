/*
 * req.c: requests, encoded by libasyncd and decoded by the daemon.
 *
 * Each operation has a decode and an encode function, side by side, in
 * one table. Decoding checks the envelope ("v", "op") first, then the
 * operation's fields: a missing or mistyped field, a string too long or a
 * number out of range is refused with a message naming the field. Unknown
 * fields are ignored so that newer clients can talk to older daemons.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"

struct req_op {
	int	(*decode)(cJSON *, struct proto_req *, char **);
	int	(*encode)(const struct proto_req *, cJSON *);
};

/* Sets *cause (if wanted) and returns err. */
static int __attribute__((format(printf, 3, 4)))
req_fail(char **cause, int err, const char *fmt, ...)
{
	va_list	ap;

	if (cause != NULL) {
		va_start(ap, fmt);
		if (vasprintf(cause, fmt, ap) == -1)
			*cause = NULL;
		va_end(ap);
	}
	return (err);
}

/* A field's item; absent and null read the same, as "not given". */
static const cJSON *
req_field(const cJSON *obj, const char *name)
{
	const cJSON	*item;

	item = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (item == NULL || cJSON_IsNull(item))
		return (NULL);
	return (item);
}

static int
req_string(const cJSON *obj, const char *name, bool required, size_t max,
    char **out, char **cause)
{
	const cJSON	*item;
	size_t		 len;

	*out = NULL;
	if ((item = req_field(obj, name)) == NULL) {
		if (required)
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "missing field '%s'", name));
		return (0);
	}
	if (!cJSON_IsString(item))
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field '%s' must be a string", name));
	len = strlen(item->valuestring);
	if (len == 0 || len > max)
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field '%s' must be 1 to %zu bytes long", name, max));
	if ((*out = strdup(item->valuestring)) == NULL)
		return (ASYNCD_ENOMEM);
	return (0);
}

static int
req_seconds(const cJSON *obj, const char *name, double *out, char **cause)
{
	const cJSON	*item;

	*out = 0;
	if ((item = req_field(obj, name)) == NULL)
		return (0);
	if (proto_get_seconds(item, out) != 0)
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field '%s' must be a number of seconds from 0 to %.0f",
		    name, PROTO_MAX_SECONDS));
	return (0);
}

static int
req_bool(const cJSON *obj, const char *name, bool *out, char **cause)
{
	const cJSON	*item;

	*out = false;
	if ((item = req_field(obj, name)) == NULL)
		return (0);
	if (!cJSON_IsBool(item))
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field '%s' must be true or false", name));
	*out = cJSON_IsTrue(item);
	return (0);
}

static int
req_id(const cJSON *obj, const char *name, bool required, uint64_t *out,
    char **cause)
{
	const cJSON	*item;

	*out = 0;
	if ((item = req_field(obj, name)) == NULL) {
		if (required)
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "missing field '%s'", name));
		return (0);
	}
	if (proto_get_id(item, out) != 0)
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field '%s' must be a job id (an integer from 1 to 2^53-1)",
		    name));
	return (0);
}

/* Adds a number to an encoded request; false when out of memory. */
static bool
req_add_number(cJSON *obj, const char *name, double value)
{
	return (cJSON_AddNumberToObject(obj, name, value) != NULL);
}

/* An integer field in [min, max]; absent: 0. */
static int
req_int(const cJSON *obj, const char *name, double min, double max,
    double *out, char **cause)
{
	const cJSON	*item;

	*out = 0;
	if ((item = req_field(obj, name)) == NULL)
		return (0);
	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
	    item->valuedouble != floor(item->valuedouble) ||
	    item->valuedouble < min || item->valuedouble > max)
		return (req_fail(cause, ASYNCD_EBADREQUEST, "field '%s' must "
		    "be an integer from %.0f to %.0f", name, min, max));
	*out = item->valuedouble;
	return (0);
}

/* When it may start, its priority, and how it is retried. */
static int
req_decode_lifecycle(cJSON *obj, struct proto_submit *s, char **cause)
{
	const cJSON	*item;
	double		 v;
	int		 rv;

	if ((rv = req_int(obj, "priority", -PROTO_MAX_PRIORITY,
	    PROTO_MAX_PRIORITY, &v, cause)) != 0)
		return (rv);
	s->priority = (int)v;
	if ((rv = req_int(obj, "retries", 0, PROTO_MAX_RETRIES, &v,
	    cause)) != 0)
		return (rv);
	s->retries = (unsigned)v;
	if ((rv = req_seconds(obj, "delay", &s->delay, cause)) != 0 ||
	    (rv = req_seconds(obj, "retry_delay", &s->retry_delay,
	    cause)) != 0)
		return (rv);
	if ((item = req_field(obj, "retry_backoff")) != NULL) {
		if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
		    item->valuedouble < 1 ||
		    item->valuedouble > PROTO_MAX_BACKOFF)
			return (req_fail(cause, ASYNCD_EBADREQUEST, "field "
			    "'retry_backoff' must be a number from 1 to %.0f",
			    PROTO_MAX_BACKOFF));
		s->retry_backoff = item->valuedouble;
	}
	if ((item = req_field(obj, "not_before")) != NULL) {
		if (!cJSON_IsString(item) ||
		    proto_parse_time(item->valuestring, &s->not_before) != 0)
			return (req_fail(cause, ASYNCD_EBADREQUEST, "field "
			    "'not_before' must be an RFC 3339 time, like "
			    "2026-12-02T01:30:00Z"));
		if (s->delay > 0)
			return (req_fail(cause, ASYNCD_EBADREQUEST, "fields "
			    "'delay' and 'not_before' exclude each other"));
	}
	return (0);
}

static int
req_decode_submit(cJSON *obj, struct proto_req *req, char **cause)
{
	struct proto_submit	*s = &req->u.submit;
	cJSON			*args;
	int			 rv;

	if ((rv = req_string(obj, "type", true, PROTO_MAX_TYPE, &s->type,
	    cause)) != 0)
		return (rv);
	if ((rv = req_string(obj, "key", false, PROTO_MAX_KEY, &s->key,
	    cause)) != 0)
		return (rv);
	if ((rv = req_seconds(obj, "timeout", &s->timeout, cause)) != 0)
		return (rv);
	if ((rv = req_seconds(obj, "wait", &s->wait, cause)) != 0)
		return (rv);
	if ((rv = req_decode_lifecycle(obj, s, cause)) != 0)
		return (rv);
	/* Detached, not copied: the job will own the arguments. */
	args = cJSON_DetachItemFromObjectCaseSensitive(obj, "args");
	if (args != NULL && cJSON_IsNull(args)) {
		cJSON_Delete(args);
		args = NULL;
	}
	s->args = args;
	if (args != NULL && proto_json_depth(args) > PROTO_MAX_DEPTH)
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field 'args' nests deeper than %d levels",
		    PROTO_MAX_DEPTH));
	return (0);
}

static int
req_encode_submit(const struct proto_req *req, cJSON *obj)
{
	const struct proto_submit	*s = &req->u.submit;

	if (s->type == NULL)
		return (ASYNCD_EINVAL);
	if (cJSON_AddStringToObject(obj, "type", s->type) == NULL)
		return (ASYNCD_ENOMEM);
	if (s->args != NULL &&
	    !cJSON_AddItemReferenceToObject(obj, "args", s->args))
		return (ASYNCD_ENOMEM);
	if (s->key != NULL && cJSON_AddStringToObject(obj, "key", s->key) ==
	    NULL)
		return (ASYNCD_ENOMEM);
	if (s->timeout > 0 && !req_add_number(obj, "timeout", s->timeout))
		return (ASYNCD_ENOMEM);
	if (s->wait > 0 && !req_add_number(obj, "wait", s->wait))
		return (ASYNCD_ENOMEM);
	if ((s->priority != 0 &&
	    !req_add_number(obj, "priority", s->priority)) ||
	    (s->delay > 0 && !req_add_number(obj, "delay", s->delay)) ||
	    (s->retries > 0 && !req_add_number(obj, "retries", s->retries)) ||
	    (s->retry_delay > 0 &&
	    !req_add_number(obj, "retry_delay", s->retry_delay)) ||
	    (s->retry_backoff > 0 &&
	    !req_add_number(obj, "retry_backoff", s->retry_backoff)))
		return (ASYNCD_ENOMEM);
	if (s->not_before > 0) {
		char		buf[96];
		time_t		secs = (time_t)s->not_before;
		struct tm	tm;

		gmtime_r(&secs, &tm);
		snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, (int)((s->not_before -
		    (double)secs) * 1000));
		if (cJSON_AddStringToObject(obj, "not_before", buf) == NULL)
			return (ASYNCD_ENOMEM);
	}
	return (0);
}

static int
req_cmp_id(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return ((x > y) - (x < y));
}

/* An id that appears twice in ids, or 0. */
static uint64_t
req_duplicate(const uint64_t *ids, size_t n)
{
	uint64_t	*sorted, dup = 0;
	size_t		 i;

	if (n < 2 || (sorted = malloc(n * sizeof *sorted)) == NULL)
		return (0);
	memcpy(sorted, ids, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, req_cmp_id);
	for (i = 1; i < n && dup == 0; i++) {
		if (sorted[i] == sorted[i - 1])
			dup = sorted[i];
	}
	free(sorted);
	return (dup);
}

static int
req_decode_wait(cJSON *obj, struct proto_req *req, char **cause)
{
	struct proto_wait	*w = &req->u.wait;
	const cJSON		*ids, *item;
	uint64_t		 id, dup;
	size_t			 n;
	int			 rv;

	if ((rv = req_bool(obj, "any", &w->any, cause)) != 0)
		return (rv);
	if ((rv = req_seconds(obj, "timeout", &w->timeout, cause)) != 0)
		return (rv);
	if ((ids = req_field(obj, "ids")) == NULL) {
		if ((rv = req_id(obj, "id", false, &id, cause)) != 0)
			return (rv);
		if (id == 0)
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "missing field 'ids' (or 'id')"));
		if ((w->ids = malloc(sizeof *w->ids)) == NULL)
			return (ASYNCD_ENOMEM);
		w->ids[0] = id;
		w->nids = 1;
		return (0);
	}
	n = cJSON_IsArray(ids) ? (size_t)cJSON_GetArraySize(ids) : 0;
	if (n == 0 || n > PROTO_MAX_IDS)
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field 'ids' must be an array of 1 to %d job ids",
		    PROTO_MAX_IDS));
	if ((w->ids = calloc(n, sizeof *w->ids)) == NULL)
		return (ASYNCD_ENOMEM);
	cJSON_ArrayForEach(item, ids) {
		if (proto_get_id(item, &w->ids[w->nids]) != 0)
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "field 'ids' element %zu is not a job id",
			    w->nids));
		w->nids++;
	}
	/* A repeated id would only repeat the job in the reply. */
	if ((dup = req_duplicate(w->ids, w->nids)) != 0)
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field 'ids' names job %" PRIu64 " more than once", dup));
	return (0);
}

static int
req_encode_wait(const struct proto_req *req, cJSON *obj)
{
	const struct proto_wait	*w = &req->u.wait;
	cJSON			*ids;
	size_t			 i;

	if (w->nids == 0 || w->nids > PROTO_MAX_IDS)
		return (ASYNCD_EINVAL);
	if ((ids = cJSON_AddArrayToObject(obj, "ids")) == NULL)
		return (ASYNCD_ENOMEM);
	for (i = 0; i < w->nids; i++) {
		if (!cJSON_AddItemToArray(ids,
		    cJSON_CreateNumber((double)w->ids[i])))
			return (ASYNCD_ENOMEM);
	}
	if (w->any && cJSON_AddTrueToObject(obj, "any") == NULL)
		return (ASYNCD_ENOMEM);
	if (w->timeout > 0 && !req_add_number(obj, "timeout", w->timeout))
		return (ASYNCD_ENOMEM);
	return (0);
}

static int
req_decode_status(cJSON *obj, struct proto_req *req, char **cause)
{
	return (req_id(obj, "id", true, &req->u.status, cause));
}

static int
req_encode_status(const struct proto_req *req, cJSON *obj)
{
	if (req->u.status == 0)
		return (ASYNCD_EINVAL);
	if (!req_add_number(obj, "id", (double)req->u.status))
		return (ASYNCD_ENOMEM);
	return (0);
}

static int
req_decode_forget(cJSON *obj, struct proto_req *req, char **cause)
{
	struct proto_forget	*f = &req->u.forget;
	const cJSON		*item;
	char			*state;
	int			 rv;

	f->state = -1;
	if ((rv = req_id(obj, "id", false, &f->id, cause)) != 0)
		return (rv);
	if ((rv = req_string(obj, "state", false, 32, &state, cause)) != 0)
		return (rv);
	if (state != NULL) {
		f->state = proto_state_parse(state);
		free(state);
		if (f->state == -1 || !proto_state_terminal(f->state))
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "field 'state' must be a final job state"));
	}
	if ((item = req_field(obj, "before")) != NULL &&
	    (!cJSON_IsString(item) ||
	    proto_parse_time(item->valuestring, &f->before) != 0))
		return (req_fail(cause, ASYNCD_EBADREQUEST, "field 'before' "
		    "must be an RFC 3339 time, like 2026-12-02T01:30:00Z"));
	if (f->id != 0 && (f->state != -1 || f->before > 0))
		return (req_fail(cause, ASYNCD_EBADREQUEST, "field 'id' "
		    "excludes 'state' and 'before'"));
	if (f->id == 0 && f->state == -1 && f->before == 0)
		return (req_fail(cause, ASYNCD_EBADREQUEST, "missing field "
		    "'id' (or 'state' or 'before')"));
	return (0);
}

static int
req_encode_forget(const struct proto_req *req, cJSON *obj)
{
	const struct proto_forget	*f = &req->u.forget;
	char				 buf[96];
	struct tm			 tm;
	time_t				 secs;

	if (f->id != 0 && !req_add_number(obj, "id", (double)f->id))
		return (ASYNCD_ENOMEM);
	if (f->state >= 0 && cJSON_AddStringToObject(obj, "state",
	    proto_state_name(f->state)) == NULL)
		return (ASYNCD_ENOMEM);
	if (f->before > 0) {
		secs = (time_t)f->before;
		gmtime_r(&secs, &tm);
		snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		if (cJSON_AddStringToObject(obj, "before", buf) == NULL)
			return (ASYNCD_ENOMEM);
	}
	return (0);
}

/* An RFC 3339 time field as Unix time; absent: 0. */
static int
req_time(const cJSON *obj, const char *name, double *out, char **cause)
{
	const cJSON	*item;

	*out = 0;
	if ((item = req_field(obj, name)) == NULL)
		return (0);
	if (!cJSON_IsString(item) ||
	    proto_parse_time(item->valuestring, out) != 0 || *out <= 0)
		return (req_fail(cause, ASYNCD_EBADREQUEST, "field '%s' must "
		    "be an RFC 3339 time, like 2026-12-02T01:30:00Z", name));
	return (0);
}

/* Adds a Unix time as RFC 3339, to the millisecond; false: no memory. */
static bool
req_add_time(cJSON *obj, const char *name, double t)
{
	char		buf[96];
	struct tm	tm;
	long long	msecs = llround(t * 1000.0);
	time_t		secs = (time_t)(msecs / 1000);
	int		ms = (int)(msecs % 1000);

	gmtime_r(&secs, &tm);
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ms);
	return (cJSON_AddStringToObject(obj, name, buf) != NULL);
}

static int
req_decode_list(cJSON *obj, struct proto_req *req, char **cause)
{
	struct proto_list	*l = &req->u.list;
	const cJSON		*item;
	char			*state;
	double			 owner;
	int			 rv;

	l->state = -1;
	l->limit = PROTO_LIST_DEFAULT;
	if ((rv = req_string(obj, "state", false, 32, &state, cause)) != 0)
		return (rv);
	if (state != NULL) {
		l->state = proto_state_parse(state);
		free(state);
		if (l->state == -1)
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "field 'state' must be a job state"));
	}
	if ((rv = req_string(obj, "type", false, PROTO_MAX_TYPE, &l->type,
	    cause)) != 0)
		return (rv);
	if ((rv = req_string(obj, "key", false, PROTO_MAX_KEY, &l->key,
	    cause)) != 0)
		return (rv);
	if ((rv = req_id(obj, "before", false, &l->before, cause)) != 0)
		return (rv);
	if ((item = req_field(obj, "limit")) != NULL) {
		if (!cJSON_IsNumber(item) || item->valuedouble < 1 ||
		    item->valuedouble > PROTO_LIST_MAX ||
		    item->valuedouble != (double)(size_t)item->valuedouble)
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "field 'limit' must be an integer from 1 to %d",
			    PROTO_LIST_MAX));
		l->limit = (size_t)item->valuedouble;
	}
	if ((item = req_field(obj, "owner")) != NULL) {
		if ((rv = req_int(obj, "owner", 0, PROTO_MAX_UID, &owner,
		    NULL)) != 0)
			return (req_fail(cause, ASYNCD_EBADREQUEST, "field "
			    "'owner' must be a user id (an integer from 0 to "
			    "%.0f)", PROTO_MAX_UID));
		l->by_owner = true;
		l->owner = (uint32_t)owner;
	}
	if ((rv = req_time(obj, "since", &l->since, cause)) != 0 ||
	    (rv = req_time(obj, "until", &l->until, cause)) != 0)
		return (rv);
	if (l->since > 0 && l->until > 0 && l->since >= l->until)
		return (req_fail(cause, ASYNCD_EBADREQUEST, "field 'since' "
		    "must be earlier than 'until'"));
	return (0);
}

static int
req_encode_list(const struct proto_req *req, cJSON *obj)
{
	const struct proto_list	*l = &req->u.list;

	if (l->state >= PROTO_STATE_COUNT || l->since < 0 || l->until < 0 ||
	    (l->by_owner && l->owner > PROTO_MAX_UID))
		return (ASYNCD_EINVAL);
	if (l->state >= 0 && cJSON_AddStringToObject(obj, "state",
	    proto_state_name(l->state)) == NULL)
		return (ASYNCD_ENOMEM);
	if (l->type != NULL && cJSON_AddStringToObject(obj, "type", l->type) ==
	    NULL)
		return (ASYNCD_ENOMEM);
	if (l->key != NULL && cJSON_AddStringToObject(obj, "key", l->key) ==
	    NULL)
		return (ASYNCD_ENOMEM);
	if (l->by_owner && !req_add_number(obj, "owner", (double)l->owner))
		return (ASYNCD_ENOMEM);
	if ((l->since > 0 && !req_add_time(obj, "since", l->since)) ||
	    (l->until > 0 && !req_add_time(obj, "until", l->until)))
		return (ASYNCD_ENOMEM);
	if (l->before != 0 && !req_add_number(obj, "before",
	    (double)l->before))
		return (ASYNCD_ENOMEM);
	if (l->limit != 0 && !req_add_number(obj, "limit", (double)l->limit))
		return (ASYNCD_ENOMEM);
	return (0);
}

static int
req_decode_cancel(cJSON *obj, struct proto_req *req, char **cause)
{
	int	rv;

	if ((rv = req_id(obj, "id", true, &req->u.cancel.id, cause)) != 0)
		return (rv);
	return (req_seconds(obj, "wait", &req->u.cancel.wait, cause));
}

static int
req_encode_cancel(const struct proto_req *req, cJSON *obj)
{
	if (req->u.cancel.id == 0)
		return (ASYNCD_EINVAL);
	if (!req_add_number(obj, "id", (double)req->u.cancel.id))
		return (ASYNCD_ENOMEM);
	if (req->u.cancel.wait > 0 &&
	    !req_add_number(obj, "wait", req->u.cancel.wait))
		return (ASYNCD_ENOMEM);
	return (0);
}

/* A byte offset: an integer from 0 to 2^53-1. */
static int
req_offset(const cJSON *obj, const char *name, uint64_t *out, char **cause)
{
	const cJSON	*item;

	*out = 0;
	if ((item = req_field(obj, name)) == NULL)
		return (0);
	if (!cJSON_IsNumber(item) || item->valuedouble < 0 ||
	    item->valuedouble > (double)PROTO_ID_MAX ||
	    item->valuedouble != (double)(uint64_t)item->valuedouble)
		return (req_fail(cause, ASYNCD_EBADREQUEST,
		    "field '%s' must be a byte offset (an integer from 0)",
		    name));
	*out = (uint64_t)item->valuedouble;
	return (0);
}

static int
req_decode_output(cJSON *obj, struct proto_req *req, char **cause)
{
	struct proto_output	*o = &req->u.output;
	const cJSON		*item;
	char			*streams;
	int			 rv, n;

	o->streams = PROTO_STREAMS_BOTH;
	o->max = PROTO_OUTPUT_DEFAULT;
	if ((rv = req_id(obj, "id", true, &o->id, cause)) != 0 ||
	    (rv = req_offset(obj, "stdout_offset", &o->offset[PROTO_STDOUT],
	    cause)) != 0 ||
	    (rv = req_offset(obj, "stderr_offset", &o->offset[PROTO_STDERR],
	    cause)) != 0 ||
	    (rv = req_seconds(obj, "wait", &o->wait, cause)) != 0)
		return (rv);
	if ((rv = req_string(obj, "streams", false, 16, &streams,
	    cause)) != 0)
		return (rv);
	if (streams != NULL) {
		n = strcmp(streams, "both") == 0 ? 2 :
		    proto_stream_parse(streams);
		free(streams);
		if (n == -1)
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "field 'streams' must be stdout, stderr or both"));
		o->streams = n == 2 ? PROTO_STREAMS_BOTH : 1 << n;
	}
	if ((item = req_field(obj, "max")) != NULL) {
		if (!cJSON_IsNumber(item) || item->valuedouble < 1 ||
		    item->valuedouble > PROTO_OUTPUT_MAX ||
		    item->valuedouble != (double)(size_t)item->valuedouble)
			return (req_fail(cause, ASYNCD_EBADREQUEST,
			    "field 'max' must be an integer from 1 to %d",
			    PROTO_OUTPUT_MAX));
		o->max = (size_t)item->valuedouble;
	}
	return (0);
}

static int
req_encode_output(const struct proto_req *req, cJSON *obj)
{
	const struct proto_output	*o = &req->u.output;
	const char			*streams;

	if (o->id == 0 || o->streams < 1 || o->streams > PROTO_STREAMS_BOTH)
		return (ASYNCD_EINVAL);
	streams = o->streams == PROTO_STREAMS_BOTH ? "both" :
	    proto_stream_name(o->streams == 1 ? PROTO_STDOUT : PROTO_STDERR);
	if (!req_add_number(obj, "id", (double)o->id) ||
	    (o->offset[PROTO_STDOUT] > 0 && !req_add_number(obj,
	    "stdout_offset", (double)o->offset[PROTO_STDOUT])) ||
	    (o->offset[PROTO_STDERR] > 0 && !req_add_number(obj,
	    "stderr_offset", (double)o->offset[PROTO_STDERR])) ||
	    cJSON_AddStringToObject(obj, "streams", streams) == NULL ||
	    (o->max > 0 && !req_add_number(obj, "max", (double)o->max)) ||
	    (o->wait > 0 && !req_add_number(obj, "wait", o->wait)))
		return (ASYNCD_ENOMEM);
	return (0);
}

/* For operations without fields. */
static int
req_decode_none(cJSON *obj, struct proto_req *req, char **cause)
{
	(void)obj;
	(void)req;
	(void)cause;
	return (0);
}

static int
req_encode_none(const struct proto_req *req, cJSON *obj)
{
	(void)req;
	(void)obj;
	return (0);
}

static const struct req_op req_ops[PROTO_OP_COUNT] = {
	[PROTO_PING] = { req_decode_none, req_encode_none },
	[PROTO_SUBMIT] = { req_decode_submit, req_encode_submit },
	[PROTO_WAIT] = { req_decode_wait, req_encode_wait },
	[PROTO_STATUS] = { req_decode_status, req_encode_status },
	[PROTO_LIST] = { req_decode_list, req_encode_list },
	[PROTO_CANCEL] = { req_decode_cancel, req_encode_cancel },
	[PROTO_TYPES] = { req_decode_none, req_encode_none },
	[PROTO_STATS] = { req_decode_none, req_encode_none },
	[PROTO_SHUTDOWN] = { req_decode_none, req_encode_none },
	[PROTO_OUTPUT] = { req_decode_output, req_encode_output },
	[PROTO_FORGET] = { req_decode_forget, req_encode_forget },
};

/* True if only whitespace (or one C string terminator) follows the value. */
static bool
req_trailing_ok(const char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p == '\0' && p + 1 == end)
			return (true);
		if (strchr(" \t\r\n", *p) == NULL || *p == '\0')
			return (false);
	}
	return (true);
}

int
proto_req_decode(const void *buf, size_t len, struct proto_req *req,
    char **cause)
{
	const cJSON	*v, *op;
	const char	*end = NULL;
	cJSON		*obj;
	int		 rv, n;

	memset(req, 0, sizeof *req);
	if (cause != NULL)
		*cause = NULL;
	obj = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (obj == NULL || !req_trailing_ok(end, (const char *)buf + len)) {
		cJSON_Delete(obj);
		return (req_fail(cause, ASYNCD_EBADJSON,
		    "request is not valid JSON"));
	}
	if (!cJSON_IsObject(obj)) {
		rv = req_fail(cause, ASYNCD_EBADREQUEST,
		    "request must be a JSON object");
		goto out;
	}
	if ((v = req_field(obj, "v")) == NULL) {
		rv = req_fail(cause, ASYNCD_EBADREQUEST,
		    "missing field 'v' (protocol version, %d)", PROTO_VERSION);
		goto out;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble != PROTO_VERSION) {
		rv = req_fail(cause, ASYNCD_EBADVERSION,
		    "protocol version not supported (this daemon speaks %d)",
		    PROTO_VERSION);
		goto out;
	}
	if ((op = req_field(obj, "op")) == NULL || !cJSON_IsString(op)) {
		rv = req_fail(cause, ASYNCD_EBADREQUEST,
		    "missing field 'op' (a string)");
		goto out;
	}
	if ((n = proto_op_parse(op->valuestring)) == -1) {
		rv = req_fail(cause, ASYNCD_EUNKNOWNOP,
		    "no operation named '%.64s'", op->valuestring);
		goto out;
	}
	req->op = n;
	rv = req_ops[n].decode(obj, req, cause);
out:
	cJSON_Delete(obj);
	if (rv != 0) {
		proto_req_fini(req);
		if (rv == ASYNCD_ENOMEM && cause != NULL && *cause == NULL)
			*cause = strdup("out of memory");
	}
	return (rv);
}

int
proto_req_encode(const struct proto_req *req, char **out)
{
	cJSON	*obj;
	int	 rv;

	*out = NULL;
	if ((unsigned)req->op >= PROTO_OP_COUNT)
		return (ASYNCD_EINVAL);
	if ((obj = cJSON_CreateObject()) == NULL)
		return (ASYNCD_ENOMEM);
	rv = ASYNCD_ENOMEM;
	if (cJSON_AddNumberToObject(obj, "v", PROTO_VERSION) == NULL ||
	    cJSON_AddStringToObject(obj, "op", proto_op_name(req->op)) == NULL)
		goto out;
	if ((rv = req_ops[req->op].encode(req, obj)) != 0)
		goto out;
	if ((*out = proto_print(obj)) == NULL)
		rv = ASYNCD_ENOMEM;
out:
	cJSON_Delete(obj);
	return (rv);
}

void
proto_req_fini(struct proto_req *req)
{
	switch (req->op) {
	case PROTO_SUBMIT:
		free(req->u.submit.type);
		free(req->u.submit.key);
		cJSON_Delete(req->u.submit.args);
		break;
	case PROTO_WAIT:
		free(req->u.wait.ids);
		break;
	case PROTO_LIST:
		free(req->u.list.type);
		free(req->u.list.key);
		break;
	default:
		break;
	}
	memset(req, 0, sizeof *req);
}
