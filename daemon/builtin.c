/*
 * builtin.c: the job types every daemon has: echo, sleep, fail, gather.
 *
 * They double as the reference for writing job types against asyncd/plugin.h: a
 * check function that refuses bad arguments at submit time, and a run
 * function that awaits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Most children one gather may start (as many as "wait" takes ids). */
#define BUILTIN_GATHER_MAX	1024

/* What a child's missing "args" means. */
static cJSON builtin_null = { .type = cJSON_NULL };

static int __attribute__((format(printf, 2, 3)))
builtin_bad(char **cause, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return (ASYNCD_EBADARGS);
}

/* echo: the result is the arguments. */
static int
builtin_echo_run(struct ad_job *job)
{
	cJSON	*copy;

	if ((copy = cJSON_Duplicate(ad_args(job), true)) == NULL)
		return (ASYNCD_ENOMEM);
	ad_result(job, copy);
	return (0);
}

/* sleep: {"seconds": S}, or just S. */
static int
builtin_sleep_seconds(const cJSON *args, double *seconds)
{
	const cJSON	*item = args;

	if (cJSON_IsObject(args))
		item = cJSON_GetObjectItemCaseSensitive(args, "seconds");
	return (proto_get_seconds(item, seconds));
}

static int
builtin_sleep_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	double	seconds;

	(void)chk;
	if (builtin_sleep_seconds(args, &seconds) != 0)
		return (builtin_bad(cause, "sleep takes {\"seconds\": S}, "
		    "S from 0 to %.0f", PROTO_MAX_SECONDS));
	return (0);
}

static int
builtin_sleep_run(struct ad_job *job)
{
	double	seconds = 0;

	builtin_sleep_seconds(ad_args(job), &seconds);
	return (ad_sleep(job, seconds));
}

/* fail: {"message": M, "code": C}, both optional. */
static bool
builtin_fail_code_ok(const char *code)
{
	size_t	len = strlen(code);

	if (len == 0 || len > 64 ||
	    strspn(code, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		return (false);
	/* Those would make a failure look like another ending. */
	return (strcmp(code, "cancelled") != 0 &&
	    strcmp(code, "timed_out") != 0 && strcmp(code, "ok") != 0);
}

static int
builtin_fail_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	const cJSON	*msg, *code;

	(void)chk;
	if (cJSON_IsNull(args))
		return (0);
	if (!cJSON_IsObject(args))
		return (builtin_bad(cause, "fail takes {\"message\": M, "
		    "\"code\": C} or nothing"));
	msg = cJSON_GetObjectItemCaseSensitive(args, "message");
	if (msg != NULL && (!cJSON_IsString(msg) ||
	    strlen(msg->valuestring) > PROTO_MAX_MESSAGE))
		return (builtin_bad(cause, "'message' must be a string of at "
		    "most %d bytes", PROTO_MAX_MESSAGE));
	code = cJSON_GetObjectItemCaseSensitive(args, "code");
	if (code != NULL && (!cJSON_IsString(code) ||
	    !builtin_fail_code_ok(code->valuestring)))
		return (builtin_bad(cause, "'code' must be lower_snake_case, "
		    "1 to 64 bytes, and not cancelled or timed_out"));
	return (0);
}

static int
builtin_fail_run(struct ad_job *job)
{
	const cJSON	*args = ad_args(job), *msg, *code;

	msg = cJSON_GetObjectItemCaseSensitive(args, "message");
	code = cJSON_GetObjectItemCaseSensitive(args, "code");
	return (ad_fail(job, cJSON_IsString(code) ? code->valuestring : NULL,
	    "%s", cJSON_IsString(msg) ? msg->valuestring :
	    "failed on request"));
}

/*
 * gather: {"jobs": [{"type": T, "args": A, "timeout": S}, ...],
 * "return_exceptions": false}.
 */
static int
builtin_gather_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	const cJSON	*jobs, *spec, *type, *item;
	double		 timeout;
	char		*why;
	int		 n, i = 0, rv;

	if (!cJSON_IsObject(args))
		return (builtin_bad(cause, "gather takes {\"jobs\": [...]}"));
	jobs = cJSON_GetObjectItemCaseSensitive(args, "jobs");
	n = cJSON_IsArray(jobs) ? cJSON_GetArraySize(jobs) : 0;
	if (n < 1 || n > BUILTIN_GATHER_MAX)
		return (builtin_bad(cause, "'jobs' must be an array of 1 to "
		    "%d jobs", BUILTIN_GATHER_MAX));
	item = cJSON_GetObjectItemCaseSensitive(args, "return_exceptions");
	if (item != NULL && !cJSON_IsBool(item))
		return (builtin_bad(cause, "'return_exceptions' must be true "
		    "or false"));
	cJSON_ArrayForEach(spec, jobs) {
		type = cJSON_GetObjectItemCaseSensitive(spec, "type");
		if (!cJSON_IsObject(spec) || !cJSON_IsString(type))
			return (builtin_bad(cause, "jobs[%d] must be an object "
			    "with a 'type'", i));
		item = cJSON_GetObjectItemCaseSensitive(spec, "timeout");
		if (item != NULL && !cJSON_IsNull(item) &&
		    proto_get_seconds(item, &timeout) != 0)
			return (builtin_bad(cause, "jobs[%d]: 'timeout' must "
			    "be a number of seconds", i));
		item = cJSON_GetObjectItemCaseSensitive(spec, "args");
		rv = ad_check_job(chk, type->valuestring, item != NULL ? item :
		    &builtin_null, &why);
		if (rv != 0) {
			xasprintf(cause, "jobs[%d] (%s): %s", i,
			    type->valuestring, why != NULL ? why : "invalid");
			free(why);
			return (rv == ASYNCD_EUNKNOWNTYPE ? ASYNCD_EBADARGS :
			    rv);
		}
		i++;
	}
	return (0);
}

/* Starts the children in order; on failure the job has failed. */
static int
builtin_gather_spawn(struct ad_job *job, const cJSON *jobs, uint64_t *ids)
{
	const cJSON	*spec, *item;
	cJSON		*args;
	double		 timeout;
	char		*why = NULL;
	int		 i = 0, rv;

	cJSON_ArrayForEach(spec, jobs) {
		item = cJSON_GetObjectItemCaseSensitive(spec, "args");
		args = NULL;
		if (item != NULL && (args = cJSON_Duplicate(item, true)) ==
		    NULL)
			return (ASYNCD_ENOMEM);
		timeout = 0;
		item = cJSON_GetObjectItemCaseSensitive(spec, "timeout");
		if (cJSON_IsNumber(item))
			proto_get_seconds(item, &timeout);
		item = cJSON_GetObjectItemCaseSensitive(spec, "type");
		rv = ad_spawn(job, item->valuestring, args, timeout, &ids[i],
		    &why);
		if (rv != 0) {
			if (rv == ASYNCD_ECANCELED ||
			    rv == ASYNCD_EJOBTIMEDOUT) {
				free(why);
				return (rv);
			}
			rv = ad_fail(job, asyncd_errcode(rv), "jobs[%d] (%s): "
			    "%s", i, item->valuestring, why != NULL ? why :
			    asyncd_strerror(rv));
			free(why);
			return (rv);
		}
		i++;
	}
	return (0);
}

/* The result array: results, or {"error": ...} in a failure's place. */
static cJSON *
builtin_gather_result(const struct ad_outcome *out, size_t n)
{
	cJSON	*arr, *item, *err;
	size_t	 i;

	if ((arr = cJSON_CreateArray()) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		if (out[i].rc == 0)
			item = cJSON_Duplicate(out[i].result, true);
		else if ((item = cJSON_CreateObject()) != NULL) {
			if ((err = cJSON_AddObjectToObject(item, "error")) ==
			    NULL ||
			    !cJSON_AddStringToObject(err, "code",
			    out[i].err_code) ||
			    !cJSON_AddStringToObject(err, "message",
			    out[i].err_message != NULL ? out[i].err_message :
			    "")) {
				cJSON_Delete(item);
				item = NULL;
			}
		}
		if (item == NULL || !cJSON_AddItemToArray(arr, item)) {
			cJSON_Delete(item);
			cJSON_Delete(arr);
			return (NULL);
		}
	}
	return (arr);
}

/*
 * The code a gather fails with: its child's, except that a child's
 * cancellation or timeout must not read as the gather's own.
 */
static const char *
builtin_gather_code(const struct ad_outcome *out)
{
	if (out->rc == ASYNCD_ECANCELED)
		return ("child_cancelled");
	if (out->rc == ASYNCD_EJOBTIMEDOUT)
		return ("child_timed_out");
	return (out->err_code);
}

static int
builtin_gather_run(struct ad_job *job)
{
	const cJSON		*args = ad_args(job), *jobs;
	struct ad_outcome	*out = NULL;
	uint64_t		*ids;
	cJSON			*result;
	bool			 exceptions;
	size_t			 n, i;
	int			 rv;

	jobs = cJSON_GetObjectItemCaseSensitive(args, "jobs");
	n = (size_t)cJSON_GetArraySize(jobs);
	exceptions = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args,
	    "return_exceptions"));
	if ((ids = calloc(n, sizeof *ids)) == NULL ||
	    (out = calloc(n, sizeof *out)) == NULL) {
		rv = ASYNCD_ENOMEM;
		goto done;
	}
	if ((rv = builtin_gather_spawn(job, jobs, ids)) != 0)
		goto done;
	rv = ad_gather(job, ids, n, exceptions ? AD_GATHER_ALL :
	    AD_GATHER_FIRST_ERROR, out);
	if (rv != 0)
		goto done;
	for (i = 0; !exceptions && i < n; i++) {
		if (out[i].rc != 0 && out[i].rc != ASYNCD_ETIMEDOUT) {
			/* Returning cancels the other children. */
			rv = ad_fail(job, builtin_gather_code(&out[i]),
			    "jobs[%zu] (job %" PRIu64 ") %s: %s", i, ids[i],
			    asyncd_errcode(out[i].rc), out[i].err_message);
			goto done;
		}
	}
	if ((result = builtin_gather_result(out, n)) == NULL) {
		rv = ASYNCD_ENOMEM;
		goto done;
	}
	ad_result(job, result);
done:
	free(ids);
	free(out);
	return (rv);
}

static const struct ad_type builtin_types[] = {
	{
		.name = "echo",
		.description = "returns its arguments",
		.run = builtin_echo_run,
	},
	{
		.name = "sleep",
		.description = "sleeps {\"seconds\": S}, then returns null",
		.check = builtin_sleep_check,
		.run = builtin_sleep_run,
	},
	{
		.name = "fail",
		.description = "fails with {\"message\": M, \"code\": C}",
		.check = builtin_fail_check,
		.run = builtin_fail_run,
	},
	{
		.name = "gather",
		.description = "runs {\"jobs\": [{\"type\", \"args\"}, ...]} "
		    "concurrently; returns their results in order",
		.check = builtin_gather_check,
		.run = builtin_gather_run,
	},
};

void
builtin_register(struct registry *reg)
{
	size_t	i;

	for (i = 0; i < nitems(builtin_types); i++) {
		if (registry_add(reg, &builtin_types[i]) != 0)
			fatalx("%s: cannot register %s", __func__,
			    builtin_types[i].name);
	}
	/*
	 * Running these twice does no harm: after a restart that interrupted
	 * one, it runs again (a gather makes its children afresh).
	 */
	registry_info(reg, "echo")->delivery = "at_least_once";
	registry_info(reg, "sleep")->delivery = "at_least_once";
	registry_info(reg, "gather")->delivery = "at_least_once";
}
