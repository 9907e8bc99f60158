/*
 * event.c: messages on the event (PUB) socket.
 *
 * An event is "job.<id>.<kind> " followed by a JSON object. nng's SUB
 * sockets filter on a byte prefix, so the topic comes first and ends in a
 * dot: "job.4." matches job 4 and not job 42.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Prefixes body with the topic; frees body. */
static char *
event_wrap(uint64_t id, const char *kind, char *body, size_t *len)
{
	char	*out;
	int	 n;

	if (body == NULL)
		return (NULL);
	n = asprintf(&out, "job.%" PRIu64 ".%s %s", id, kind, body);
	free(body);
	if (n == -1)
		return (NULL);
	*len = (size_t)n;
	return (out);
}

char *
proto_event_state(const struct proto_job *job, size_t *len)
{
	cJSON	*obj;
	char	*body;

	if ((obj = proto_job_encode(job, 0)) == NULL)
		return (NULL);
	body = proto_print(obj);
	cJSON_Delete(obj);
	return (event_wrap(job->id, "state", body, len));
}

char *
proto_event_progress(uint64_t id, double fraction, const char *message,
    size_t *len)
{
	cJSON	*obj;
	char	*body = NULL;

	if ((obj = cJSON_CreateObject()) == NULL)
		return (NULL);
	if (cJSON_AddNumberToObject(obj, "id", (double)id) != NULL &&
	    cJSON_AddNumberToObject(obj, "fraction", fraction) != NULL &&
	    (message == NULL ||
	    cJSON_AddStringToObject(obj, "message", message) != NULL))
		body = proto_print(obj);
	cJSON_Delete(obj);
	return (event_wrap(id, "progress", body, len));
}

char *
proto_event_output(uint64_t id, int stream, uint64_t offset, const void *data,
    size_t len, size_t *olen)
{
	cJSON	*obj;
	char	*body = NULL, *b64;

	if ((b64 = proto_b64_encode(data, len)) == NULL)
		return (NULL);
	if ((obj = cJSON_CreateObject()) != NULL &&
	    cJSON_AddNumberToObject(obj, "id", (double)id) != NULL &&
	    cJSON_AddStringToObject(obj, "stream",
	    proto_stream_name(stream)) != NULL &&
	    cJSON_AddNumberToObject(obj, "offset", (double)offset) != NULL &&
	    cJSON_AddStringToObject(obj, "data", b64) != NULL)
		body = proto_print(obj);
	cJSON_Delete(obj);
	free(b64);
	return (event_wrap(id, "output", body, olen));
}

int
proto_event_decode(const void *buf, size_t len, uint64_t *id, char *kind,
    size_t kindsz, cJSON **body)
{
	const char	*p = buf, *end = p + len, *dot, *sp;
	char		 num[24];
	size_t		 n;

	*body = NULL;
	if (len < 5 || memcmp(p, "job.", 4) != 0)
		return (ASYNCD_EPROTO);
	p += 4;
	if ((dot = memchr(p, '.', (size_t)(end - p))) == NULL ||
	    (n = (size_t)(dot - p)) == 0 || n >= sizeof num)
		return (ASYNCD_EPROTO);
	memcpy(num, p, n);
	num[n] = '\0';
	/* Digits only: strtoull would take "-1" and " 1" too. */
	if (strspn(num, "0123456789") != n ||
	    (*id = strtoull(num, NULL, 10)) == 0 || *id > PROTO_ID_MAX)
		return (ASYNCD_EPROTO);
	p = dot + 1;
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL ||
	    (n = (size_t)(sp - p)) == 0 || n >= kindsz)
		return (ASYNCD_EPROTO);
	memcpy(kind, p, n);
	kind[n] = '\0';
	p = sp + 1;
	if ((*body = cJSON_ParseWithLength(p, (size_t)(end - p))) == NULL)
		return (ASYNCD_EPROTO);
	return (0);
}
