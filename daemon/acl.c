/*
 * acl.c: who may run a job type: lists of users and @groups, as
 * --exec-allow and a configured command's "allow" give them.
 *
 * Names are resolved once, when the list is made (at startup, off the
 * request path): looking users and groups up may read files or ask a
 * directory service, which the loop must never wait for. A group matches
 * a peer whose group id (the kernel reports the connecting process's) is
 * the group's, or who is one of the group's listed members. Changes to
 * the passwd and group databases are seen at the daemon's next start.
 *
 * Root and the daemon's own user may always run everything: the list
 * names who else may.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

struct acl {
	uid_t		*uids;
	size_t		 nuids;
	gid_t		*gids;
	size_t		 ngids;
	char		*text;		/* as given, for messages */
};

static void
acl_add_uid(struct acl *a, uid_t uid)
{
	a->uids = xreallocarray(a->uids, a->nuids + 1, sizeof *a->uids);
	a->uids[a->nuids++] = uid;
}

/* A number, or -1. */
static long
acl_number(const char *s)
{
	char	*end;
	long	 v;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 0x7fffffff)
		return (-1);
	return (v);
}

static int
acl_add_group(struct acl *a, const char *name, char **cause)
{
	struct group	*gr;
	struct passwd	*pw;
	long		 n;
	char		**m;

	errno = 0;
	if ((n = acl_number(name)) >= 0)
		gr = getgrgid((gid_t)n);
	else
		gr = getgrnam(name);
	if (gr == NULL && n < 0) {
		xasprintf(cause, "no group named '%s'", name);
		return (ASYNCD_EINVAL);
	}
	a->gids = xreallocarray(a->gids, a->ngids + 1, sizeof *a->gids);
	a->gids[a->ngids++] = gr != NULL ? gr->gr_gid : (gid_t)n;
	for (m = gr != NULL ? gr->gr_mem : NULL; m != NULL && *m != NULL;
	    m++) {
		if ((pw = getpwnam(*m)) != NULL)
			acl_add_uid(a, pw->pw_uid);
	}
	return (0);
}

int
acl_create(struct acl **out, const char *const *names, size_t n,
    char **cause)
{
	struct acl	*a;
	struct passwd	*pw;
	size_t		 i, len = 0;
	long		 v;
	int		 rv;

	*cause = NULL;
	a = xcalloc(1, sizeof *a);
	for (i = 0; i < n; i++) {
		if (names[i][0] == '\0' || (names[i][0] == '@' &&
		    names[i][1] == '\0')) {
			xasprintf(cause, "an empty user or group name");
			acl_free(a);
			return (ASYNCD_EINVAL);
		}
		if (names[i][0] == '@') {
			if ((rv = acl_add_group(a, names[i] + 1, cause)) != 0) {
				acl_free(a);
				return (rv);
			}
		} else if ((v = acl_number(names[i])) >= 0) {
			acl_add_uid(a, (uid_t)v);
		} else if ((pw = getpwnam(names[i])) != NULL) {
			acl_add_uid(a, pw->pw_uid);
		} else {
			xasprintf(cause, "no user named '%s'", names[i]);
			acl_free(a);
			return (ASYNCD_EINVAL);
		}
		len += strlen(names[i]) + 2;
	}
	a->text = xcalloc(1, len + 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(a->text, ", ");
		strcat(a->text, names[i]);
	}
	*out = a;
	return (0);
}

void
acl_free(struct acl *a)
{
	if (a == NULL)
		return;
	free(a->uids);
	free(a->gids);
	free(a->text);
	free(a);
}

bool
acl_allows(const struct acl *a, uint64_t uid, uint64_t gid, uint64_t self)
{
	size_t	i;

	if (uid == 0 || uid == self)
		return (true);
	if (a == NULL)
		return (false);
	for (i = 0; i < a->nuids; i++) {
		if ((uint64_t)a->uids[i] == uid)
			return (true);
	}
	for (i = 0; i < a->ngids; i++) {
		if ((uint64_t)a->gids[i] == gid)
			return (true);
	}
	return (false);
}

const char *
acl_text(const struct acl *a)
{
	return (a != NULL && a->text[0] != '\0' ? a->text : "nobody else");
}
