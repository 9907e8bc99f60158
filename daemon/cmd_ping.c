/*
 * cmd_ping.c: "ping": the daemon's identity, and where its events are.
 */
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static enum cmd_retval
cmd_ping_exec(struct work *w, struct cmd_error *err)
{
	struct daemon		*d = server_daemon(w);
	struct proto_reply	 rep;

	(void)err;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_PING;
	rep.u.ping.version = (char *)ASYNCD_VERSION;
	rep.u.ping.protocol = PROTO_VERSION;
	rep.u.ping.pid = (int64_t)getpid();
	rep.u.ping.events = (char *)events_url(d->events);
	rep.u.ping.durability = (char *)main_durability_name(d->durability);
	server_reply(w, &rep);
	return (CMD_DONE);
}

const struct cmd_entry cmd_ping_entry = {
	.op = PROTO_PING,
	.exec = cmd_ping_exec,
};
