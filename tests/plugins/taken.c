/*
 * taken: a plugin that registers a name a built-in has ("echo"): skipped
 * whole, with the name in the log line.
 */
#include <asyncd/plugin.h>

static int
taken_run(struct ad_job *job)
{
	(void)job;
	return (0);
}

static const struct ad_type taken_types[] = {
	{ .name = "taken.fine", .description = "fine", .run = taken_run },
	{ .name = "echo", .description = "taken", .run = taken_run },
};

static int
taken_register(struct ad_plugin *p)
{
	int	rv;

	if ((rv = ad_register_type(p, &taken_types[0])) != 0)
		return (rv);
	return (ad_register_type(p, &taken_types[1]));
}

AD_PLUGIN(taken_register)
