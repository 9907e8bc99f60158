/*
 * fetch: an async TCP client on the loop, asyncio.open_connection's kind.
 *
 * "fetch.get" {"host": H, "port": P, "request": R, "timeout": S} connects
 * (a name is resolved on the thread pool), sends R and a newline, reads
 * one line back and returns {"reply": "..."}. Every await lets the loop
 * run the daemon's other jobs, so thousands of these run at once on the
 * one loop thread. H may also be the path of a Unix socket.
 *
 * "fetch.many" {"host", "port", "n": N} starts N fetch.get children at
 * once and gathers them: {"ok": N_ok, "seconds": elapsed}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <asyncd/plugin.h>

#define FETCH_MAX_REPLY		65536
#define FETCH_MAX_N		10000

static int
fetch_bad(char **cause, const char *msg)
{
	*cause = strdup(msg);
	return (ASYNCD_EBADARGS);
}

static int
fetch_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	const cJSON	*host = cJSON_GetObjectItemCaseSensitive(args, "host");
	const cJSON	*port = cJSON_GetObjectItemCaseSensitive(args, "port");
	const cJSON	*req = cJSON_GetObjectItemCaseSensitive(args,
			    "request");

	(void)chk;
	if (!cJSON_IsString(host) || (host->valuestring[0] != '/' &&
	    (!cJSON_IsNumber(port) || port->valuedouble < 1 ||
	    port->valuedouble > 65535)))
		return (fetch_bad(cause, "takes {\"host\": H, \"port\": P, "
		    "\"request\": R, \"timeout\": S}"));
	if (req != NULL && !cJSON_IsString(req))
		return (fetch_bad(cause, "request must be a string"));
	return (0);
}

static double
fetch_number(const cJSON *args, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(args, name);

	return (cJSON_IsNumber(v) ? v->valuedouble : 0);
}

static int
fetch_get(struct ad_job *job)
{
	const cJSON	*args = ad_args(job), *req;
	const char	*host;
	struct ad_sock	*s = NULL;
	double		 timeout = fetch_number(args, "timeout");
	char		*line = NULL, *msg = NULL, *cause = NULL;
	size_t		 n;
	int		 rv;
	cJSON		*result;

	host = cJSON_GetObjectItemCaseSensitive(args, "host")->valuestring;
	req = cJSON_GetObjectItemCaseSensitive(args, "request");
	rv = ad_connect(job, host, (int)fetch_number(args, "port"), timeout,
	    &s, &cause);
	if (rv != 0) {
		if (rv == ASYNCD_EFAILED || rv == ASYNCD_ETIMEDOUT)
			rv = ad_fail(job, rv == ASYNCD_ETIMEDOUT ? "timeout" :
			    "connect_failed", "%s", cause != NULL ? cause :
			    "cannot connect");
		free(cause);
		return (rv);
	}
	if (asprintf(&msg, "%s\n", cJSON_IsString(req) ? req->valuestring :
	    "") == -1) {
		ad_close(s);
		return (ASYNCD_ENOMEM);
	}
	if ((rv = ad_write(job, s, msg, strlen(msg), timeout)) == 0)
		rv = ad_read_until(job, s, "\n", FETCH_MAX_REPLY, timeout,
		    &line, &n);
	free(msg);
	if (rv == ASYNCD_EFAILED || rv == ASYNCD_ETIMEDOUT)
		rv = ad_fail(job, rv == ASYNCD_ETIMEDOUT ? "timeout" :
		    "io_error", "%s", ad_sock_error(s));
	ad_close(s);
	if (rv != 0)
		return (rv);
	line[n - 1] = '\0';
	result = cJSON_CreateObject();
	cJSON_AddStringToObject(result, "reply", line);
	free(line);
	ad_result(job, result);
	return (0);
}

static int
fetch_many_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	double	n = fetch_number(args, "n");

	if (n < 1 || n > FETCH_MAX_N)
		return (fetch_bad(cause, "n: from 1 to 10000"));
	return (fetch_check(chk, args, cause));
}

static double
fetch_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static int
fetch_many(struct ad_job *job)
{
	const cJSON		*args = ad_args(job);
	size_t			 n = (size_t)fetch_number(args, "n"), i, ok = 0;
	uint64_t		*ids;
	struct ad_outcome	*out;
	double			 start = fetch_now();
	cJSON			*child, *result;
	char			 req[32];
	int			 rv = 0;

	ids = calloc(n, sizeof *ids);
	out = calloc(n, sizeof *out);
	if (ids == NULL || out == NULL) {
		free(ids);
		free(out);
		return (ASYNCD_ENOMEM);
	}
	for (i = 0; i < n && rv == 0; i++) {
		child = cJSON_Duplicate(args, 1);
		cJSON_DeleteItemFromObjectCaseSensitive(child, "n");
		snprintf(req, sizeof req, "r%zu", i);
		cJSON_DeleteItemFromObjectCaseSensitive(child, "request");
		cJSON_AddStringToObject(child, "request", req);
		rv = ad_spawn(job, "fetch.get", child, 0, &ids[i], NULL);
	}
	if (rv == 0)
		rv = ad_gather(job, ids, n, AD_GATHER_ALL, out);
	for (i = 0; rv == 0 && i < n; i++) {
		if (out[i].rc == 0)
			ok++;
	}
	free(ids);
	free(out);
	if (rv != 0)
		return (rv);
	result = cJSON_CreateObject();
	cJSON_AddNumberToObject(result, "ok", (double)ok);
	cJSON_AddNumberToObject(result, "seconds", fetch_now() - start);
	ad_result(job, result);
	return (ok == n ? 0 : ad_fail(job, "some_failed", "%zu of %zu failed",
	    n - ok, n));
}

static const struct ad_type fetch_types[] = {
	{ .name = "fetch.get", .description = "sends a line over TCP and "
	  "returns the line that comes back", .check = fetch_check,
	  .run = fetch_get },
	{ .name = "fetch.many", .description = "n fetch.get at once",
	  .check = fetch_many_check, .run = fetch_many },
};

static int
fetch_register(struct ad_plugin *p)
{
	int	rv;

	if ((rv = ad_register_type(p, &fetch_types[0])) != 0)
		return (rv);
	return (ad_register_type(p, &fetch_types[1]));
}

AD_PLUGIN(fetch_register)
