/*
 * registry.c: the job types the daemon can run, by name.
 *
 * Built-ins register at startup; configured commands and plugins will
 * register here too. A sorted array: lookups are a binary search, and
 * "types" lists it as it is.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct registry {
	const struct ad_type	**types;
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
	if (reg == NULL)
		return;
	free(reg->types);
	free(reg);
}

/* Names are what a shell can pass unquoted and a file can be named. */
static bool
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
	}
	memmove(&reg->types[i + 1], &reg->types[i],
	    (reg->n - i) * sizeof *reg->types);
	reg->types[i] = type;
	reg->n++;
	return (0);
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
