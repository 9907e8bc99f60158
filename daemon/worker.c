/*
 * worker.c: asyncd --worker, one process of the process pool.
 *
 * Started by the daemon (pool_proc.c) with a socketpair on fds 0 and 1 and
 * the daemon's stderr on 2. It loads the plugin directory, then serves
 * calls one at a time: read a frame, run the process function, write the
 * answer. It is single-threaded and blocks on its socket, which is all it
 * has to do. It exits when the daemon closes the socket (retirement, or
 * the daemon gone) and, should the daemon die without closing it, when
 * the kernel sends PR_SET_PDEATHSIG's SIGKILL. A crash in a function ends
 * only this process; the daemon sees the exit status and replaces it.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* Reads exactly len bytes; false at EOF or on error. */
static bool
worker_read(int fd, void *buf, size_t len)
{
	char	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (false);
		p += n;
		len -= (size_t)n;
	}
	return (true);
}

static bool
worker_write(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (false);
		p += n;
		len -= (size_t)n;
	}
	return (true);
}

/* Sends root as a frame, and frees it. Exits if the daemon is gone. */
static void
worker_send(int fd, cJSON *root)
{
	char		*text, *frame;
	uint32_t	 be;
	size_t		 len;

	if ((text = cJSON_PrintUnformatted(root)) == NULL)
		fatalx("%s: out of memory", __func__);
	cJSON_Delete(root);
	len = strlen(text);
	be = htonl((uint32_t)len);
	/* One write for both: the daemon wakes once, not for a header. */
	frame = xmalloc(len + 4);
	memcpy(frame, &be, 4);
	memcpy(frame + 4, text, len);
	free(text);
	if (!worker_write(fd, frame, len + 4)) {
		free(frame);
		exit(0);
	}
	free(frame);
}

void
worker_progress(int fd, double fraction, const char *msg)
{
	cJSON	*root = cJSON_CreateObject();

	cJSON_AddNumberToObject(root, "progress", fraction);
	if (msg != NULL)
		cJSON_AddStringToObject(root, "message", msg);
	worker_send(fd, root);
}

/* Runs one call; the answer as a frame. */
static void
worker_call(struct plugins *ps, const char *data, size_t len)
{
	const struct ad_func	*func;
	const cJSON		*fn, *args;
	struct ad_call		 call;
	cJSON			*req, *rep;
	static cJSON		 null = { .type = cJSON_NULL };

	if ((req = cJSON_ParseWithLength(data, len)) == NULL)
		fatalx("worker: a bad frame from the daemon");
	fn = cJSON_GetObjectItemCaseSensitive(req, "fn");
	args = cJSON_GetObjectItemCaseSensitive(req, "args");
	rep = cJSON_CreateObject();
	if (!cJSON_IsString(fn) ||
	    (func = plugin_find_process(ps, fn->valuestring)) == NULL) {
		cJSON_AddFalseToObject(rep, "ok");
		cJSON_AddStringToObject(rep, "code", "unknown_function");
		cJSON_AddStringToObject(rep, "message", "the worker has no "
		    "such process function");
		cJSON_Delete(req);
		worker_send(1, rep);
		return;
	}
	plugin_call_init(&call, func, args != NULL ? args : &null);
	call.wfd = 1;
	if (plugin_call_run(&call) == 0) {
		cJSON_AddTrueToObject(rep, "ok");
		cJSON_AddItemToObject(rep, "result", call.result != NULL ?
		    call.result : cJSON_CreateNull());
		call.result = NULL;
	} else {
		cJSON_AddFalseToObject(rep, "ok");
		cJSON_AddStringToObject(rep, "code", call.err_code);
		cJSON_AddStringToObject(rep, "message", call.err_message);
	}
	plugin_call_fini(&call);
	cJSON_Delete(req);
	worker_send(1, rep);
}

void
worker_main(const char *plugin_dir)
{
	struct registry	*reg;
	struct plugins	*ps;
	uint32_t	 be;
	size_t		 len;
	char		*buf;

	/* The daemon's spawn thread is our parent; it lives as long as it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		log_warn("%s: PR_SET_PDEATHSIG", __func__);
	if (getppid() == 1)
		exit(0);		/* the daemon is gone already */
	signal(SIGPIPE, SIG_IGN);
	/* The daemon's names, so that the same plugins clash the same way. */
	reg = registry_create();
	builtin_register(reg);
	exec_register(reg, NULL);
	plugin_load_dir(&ps, plugin_dir, reg, true);
	log_flush();
	for (;;) {
		if (!worker_read(0, &be, 4))
			break;
		len = ntohl(be);
		if (len > WORKER_MAX_FRAME)
			fatalx("worker: a frame of %zu bytes", len);
		buf = xmalloc(len + 1);
		if (!worker_read(0, buf, len)) {
			free(buf);
			break;
		}
		worker_call(ps, buf, len);
		free(buf);
		log_flush();
	}
	registry_free(reg);
	plugin_free(ps);
	exit(0);
}
