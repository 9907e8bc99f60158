/*
 * cmd_status.c: "status": one job's record, with its arguments.
 */
#include "daemon.h"

static enum cmd_retval
cmd_status_exec(struct work *w, struct cmd_error *err)
{
	struct job	*job;

	if ((job = cmd_find_job(w, server_req(w)->u.status, err)) == NULL)
		return (CMD_ERROR);
	cmd_reply_job(w, PROTO_STATUS, job, false);
	return (CMD_DONE);
}

const struct cmd_entry cmd_status_entry = {
	.op = PROTO_STATUS,
	.exec = cmd_status_exec,
};
