/*
 * cmd_types.c: "types": the registered job types.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static enum cmd_retval
cmd_types_exec(struct work *w, struct cmd_error *err)
{
	struct daemon			 *d = server_daemon(w);
	const struct ad_type *const	 *types;
	struct proto_reply		  rep;
	size_t				  n, i;

	(void)err;
	types = registry_list(d->reg, &n);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_TYPES;
	if (n > 0)
		rep.u.types.types = xcalloc(n, sizeof *rep.u.types.types);
	rep.u.types.ntypes = n;
	for (i = 0; i < n; i++) {
		rep.u.types.types[i].name = (char *)types[i]->name;
		rep.u.types.types[i].description =
		    (char *)(types[i]->description != NULL ?
		    types[i]->description : "");
		rep.u.types.types[i].delivery = (char *)sched_delivery(
		    registry_info(d->reg, types[i]->name));
	}
	server_reply(w, &rep);
	free(rep.u.types.types);
	return (CMD_DONE);
}

const struct cmd_entry cmd_types_entry = {
	.op = PROTO_TYPES,
	.exec = cmd_types_exec,
};
