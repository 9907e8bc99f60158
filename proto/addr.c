/*
 * addr.c: the default addresses that the daemon and its clients agree on
 * without configuration.
 *
 * The daemon listens at proto_default_url. A client given no URL asks
 * proto_client_url, which starts from the same default but, when no daemon
 * of the user's own has ever made its socket there, goes to the system
 * daemon's socket if that one exists: so a member of the asyncd group
 * reaches the machine's daemon without configuring anything.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

#define ADDR_IPC	"ipc://"

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
		return (addr_fit(snprintf(buf, len, "%s", PROTO_SYSTEM_URL),
		    len));
	return (addr_fit(snprintf(buf, len, "ipc:///tmp/asyncd-%u/asyncd.sock",
	    (unsigned)geteuid()), len));
}

/* True if url is an ipc:// URL whose path certainly does not exist. */
static bool
addr_missing(const char *url)
{
	struct stat	st;

	if (strncmp(url, ADDR_IPC, strlen(ADDR_IPC)) != 0)
		return (false);
	if (stat(url + strlen(ADDR_IPC), &st) == 0)
		return (false);
	/* EACCES and the like: something may be there; do not guess. */
	return (errno == ENOENT || errno == ENOTDIR);
}

/* True if url is an ipc:// URL naming an existing socket file. */
static bool
addr_socket(const char *url)
{
	struct stat	st;

	if (strncmp(url, ADDR_IPC, strlen(ADDR_IPC)) != 0)
		return (false);
	return (stat(url + strlen(ADDR_IPC), &st) == 0 && S_ISSOCK(st.st_mode));
}

int
proto_fallback_url(const char *preferred, const char *fallback, char *buf,
    size_t len)
{
	const char	*url = preferred;
	size_t		 n;

	if (addr_missing(preferred) && addr_socket(fallback))
		url = fallback;
	/* buf may be preferred itself. */
	if ((n = strlen(url)) >= len)
		return (ASYNCD_EINVAL);
	memmove(buf, url, n + 1);
	return (0);
}

int
proto_client_url(char *buf, size_t len)
{
	const char	*env;
	char		 user[PROTO_URL_MAX];
	int		 rv;

	/* A URL someone chose is used as it is. */
	if ((env = getenv("ASYNCD_SOCKET")) != NULL && *env != '\0')
		return (addr_fit(snprintf(buf, len, "%s", env), len));
	if ((rv = proto_default_url(user, sizeof user)) != 0)
		return (rv);
	return (proto_fallback_url(user, PROTO_SYSTEM_URL, buf, len));
}

int
proto_events_url(const char *url, char *buf, size_t len)
{
	size_t	n = strlen(url);

	/* Only a path can be derived; a TCP port cannot be guessed. */
	if (strncmp(url, ADDR_IPC, strlen(ADDR_IPC)) != 0)
		return (ASYNCD_EINVAL);
	if (n > 5 && strcmp(url + n - 5, ".sock") == 0)
		return (addr_fit(snprintf(buf, len, "%.*s.events",
		    (int)(n - 5), url), len));
	return (addr_fit(snprintf(buf, len, "%s.events", url), len));
}

bool
proto_unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path)
		return (false);
	strcpy(sun->sun_path, path);
	return (true);
}
