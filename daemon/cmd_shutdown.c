/*
 * cmd_shutdown.c: "shutdown": stop the daemon as SIGTERM does. The reply
 * goes out first; the server keeps answering while jobs drain.
 */
#include <string.h>

#include "daemon.h"

static enum cmd_retval
cmd_shutdown_exec(struct work *w, struct cmd_error *err)
{
	struct proto_reply	rep;

	(void)err;
	log_info("shutdown requested by uid %" PRIu64 " (pid %" PRId64 ")",
	    server_peer_uid(w), server_peer_pid(w));
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_SHUTDOWN;
	server_reply(w, &rep);
	daemon_shutdown(server_daemon(w));
	return (CMD_DONE);
}

const struct cmd_entry cmd_shutdown_entry = {
	.op = PROTO_SHUTDOWN,
	.flags = CMD_ADMIN,
	.exec = cmd_shutdown_exec,
};
