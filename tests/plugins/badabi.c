/*
 * badabi: a plugin that claims another SDK ABI. The daemon must refuse
 * it before running any of its code, and run on.
 */
#include <stdlib.h>

#include <asyncd/plugin.h>

__attribute__((visibility("default"))) const unsigned ad_plugin_abi =
    AD_ABI_VERSION + 1000;

__attribute__((visibility("default"))) int ad_plugin_register(
    struct ad_plugin *);

int
ad_plugin_register(struct ad_plugin *p)
{
	(void)p;
	abort();		/* never called */
}
