/*
 * registry.c: the job types the daemon can run, by name.
 *
 * Built-ins register at startup, and so do configured commands; plugins
 * will register here too. A sorted array: lookups are a binary search, and
 * "types" lists it as it is. Each type has a record of its own beside it
 * (who may run it, how many may run at once), allocated once so that the
 * scheduler may keep pointers to it.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct registry {
	const struct ad_type	**types;
	struct type_info	**infos;	/* beside types */
	size_t			  n;
	size_t			  cap;
};

struct registry *
registry_create(void)
{
	return (xcalloc(1, sizeof (struct registry)));
}

void
registry_free(struct registry *reg)
{
	size_t	i;

	if (reg == NULL)
		return;
	for (i = 0; i < reg->n; i++)
		free(reg->infos[i]);
	free(reg->infos);
	free(reg->types);
	free(reg);
}

/* Names are what a shell can pass unquoted and a file can be named. */
bool
registry_valid_name(const char *name)
{
	size_t	len = strlen(name);

	if (len == 0 || len > PROTO_MAX_TYPE)
		return (false);
	return (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") ==
	    len);
}

/* The index where name is, or would be inserted. */
static size_t
registry_search(const struct registry *reg, const char *name, bool *found)
{
	size_t	lo = 0, hi = reg->n, mid;
	int	c;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(reg->types[mid]->name, name);
		if (c == 0) {
			*found = true;
			return (mid);
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

int
registry_add(struct registry *reg, const struct ad_type *type)
{
	size_t	i;
	bool	found;

	if (type->name == NULL || !registry_valid_name(type->name) ||
	    type->run == NULL)
		return (ASYNCD_EINVAL);
	i = registry_search(reg, type->name, &found);
	if (found)
		return (ASYNCD_EBUSY);
	if (reg->n == reg->cap) {
		reg->cap = reg->cap == 0 ? 16 : reg->cap * 2;
		reg->types = xreallocarray(reg->types, reg->cap,
		    sizeof *reg->types);
		reg->infos = xreallocarray(reg->infos, reg->cap,
		    sizeof *reg->infos);
	}
	memmove(&reg->types[i + 1], &reg->types[i],
	    (reg->n - i) * sizeof *reg->types);
	memmove(&reg->infos[i + 1], &reg->infos[i],
	    (reg->n - i) * sizeof *reg->infos);
	reg->types[i] = type;
	reg->infos[i] = xcalloc(1, sizeof *reg->infos[i]);
	TAILQ_INIT(&reg->infos[i]->waiting);
	reg->n++;
	return (0);
}

struct type_info *
registry_info(struct registry *reg, const char *name)
{
	size_t	i;
	bool	found;

	i = registry_search(reg, name, &found);
	if (!found)
		fatalx("%s: no type %s", __func__, name);
	return (reg->infos[i]);
}

void
registry_set_acl(struct registry *reg, const char *name,
    const struct acl *acl)
{
	struct type_info	*ti = registry_info(reg, name);

	ti->acl = acl;
	ti->restricted = true;
}

const struct ad_type *
registry_find(struct registry *reg, const char *name)
{
	size_t	i;
	bool	found;

	i = registry_search(reg, name, &found);
	return (found ? reg->types[i] : NULL);
}

const struct ad_type *const *
registry_list(struct registry *reg, size_t *n)
{
	*n = reg->n;
	return (reg->types);
}
