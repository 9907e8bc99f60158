/*
 * cmd_stats.c: "stats": job counts, totals and uptime.
 */
#include <string.h>

#include "daemon.h"

static enum cmd_retval
cmd_stats_exec(struct work *w, struct cmd_error *err)
{
	struct proto_reply	rep;

	(void)err;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_STATS;
	sched_stats(&server_daemon(w)->sched, &rep.u.stats);
	server_reply(w, &rep);
	return (CMD_DONE);
}

const struct cmd_entry cmd_stats_entry = {
	.op = PROTO_STATS,
	.exec = cmd_stats_exec,
};
