/*
 * failreg: a plugin whose registration fails after registering a type:
 * the daemon must skip all of it (failreg.ok must not exist).
 */
#include <asyncd/plugin.h>

static int
failreg_run(struct ad_job *job)
{
	(void)job;
	return (0);
}

static const struct ad_type failreg_ok = {
	.name = "failreg.ok", .description = "must not be registered",
	.run = failreg_run,
};

static int
failreg_register(struct ad_plugin *p)
{
	(void)ad_register_type(p, &failreg_ok);
	return (-1);
}

AD_PLUGIN(failreg_register)
