/*
 * addr.c: the default addresses that the daemon and its clients agree on
 * without configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

static int
addr_fit(int n, size_t len)
{
	return (n < 0 || (size_t)n >= len ? ASYNCD_EINVAL : 0);
}

int
proto_default_url(char *buf, size_t len)
{
	const char	*env;

	if ((env = getenv("ASYNCD_SOCKET")) != NULL && *env != '\0')
		return (addr_fit(snprintf(buf, len, "%s", env), len));
	if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && *env == '/')
		return (addr_fit(snprintf(buf, len,
		    "ipc://%s/asyncd/asyncd.sock", env), len));
	if (geteuid() == 0)
		return (addr_fit(snprintf(buf, len,
		    "ipc:///run/asyncd/asyncd.sock"), len));
	return (addr_fit(snprintf(buf, len, "ipc:///tmp/asyncd-%u/asyncd.sock",
	    (unsigned)geteuid()), len));
}

int
proto_events_url(const char *url, char *buf, size_t len)
{
	size_t	n = strlen(url);

	/* Only a path can be derived; a TCP port cannot be guessed. */
	if (strncmp(url, "ipc://", 6) != 0)
		return (ASYNCD_EINVAL);
	if (n > 5 && strcmp(url + n - 5, ".sock") == 0)
		return (addr_fit(snprintf(buf, len, "%.*s.events",
		    (int)(n - 5), url), len));
	return (addr_fit(snprintf(buf, len, "%s.events", url), len));
}
