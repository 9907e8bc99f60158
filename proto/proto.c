/*
 * proto.c: names of operations and states, and the field readers that the
 * request and reply decoders share.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"

static const char *const proto_ops[PROTO_OP_COUNT] = {
	[PROTO_PING] = "ping",
	[PROTO_SUBMIT] = "submit",
	[PROTO_WAIT] = "wait",
	[PROTO_STATUS] = "status",
	[PROTO_LIST] = "list",
	[PROTO_CANCEL] = "cancel",
	[PROTO_TYPES] = "types",
	[PROTO_STATS] = "stats",
	[PROTO_SHUTDOWN] = "shutdown",
	[PROTO_OUTPUT] = "output",
	[PROTO_FORGET] = "forget",
};

static const char *const proto_streams[2] = {
	[PROTO_STDOUT] = "stdout",
	[PROTO_STDERR] = "stderr",
};

const char *
proto_stream_name(int stream)
{
	if (stream != PROTO_STDOUT && stream != PROTO_STDERR)
		return (NULL);
	return (proto_streams[stream]);
}

int
proto_stream_parse(const char *name)
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (strcmp(proto_streams[i], name) == 0)
			return (i);
	}
	return (-1);
}

static const char *const proto_states[PROTO_STATE_COUNT] = {
	[PROTO_QUEUED] = "queued",
	[PROTO_RUNNING] = "running",
	[PROTO_SUCCEEDED] = "succeeded",
	[PROTO_FAILED] = "failed",
	[PROTO_CANCELLED] = "cancelled",
	[PROTO_TIMED_OUT] = "timed_out",
	[PROTO_INTERRUPTED] = "interrupted",
};

const char *
proto_op_name(enum proto_op op)
{
	if ((unsigned)op >= PROTO_OP_COUNT)
		return (NULL);
	return (proto_ops[op]);
}

int
proto_op_parse(const char *name)
{
	int	i;

	for (i = 0; i < PROTO_OP_COUNT; i++) {
		if (strcmp(proto_ops[i], name) == 0)
			return (i);
	}
	return (-1);
}

const char *
proto_state_name(enum proto_state state)
{
	if ((unsigned)state >= PROTO_STATE_COUNT)
		return (NULL);
	return (proto_states[state]);
}

int
proto_state_parse(const char *name)
{
	int	i;

	for (i = 0; i < PROTO_STATE_COUNT; i++) {
		if (strcmp(proto_states[i], name) == 0)
			return (i);
	}
	return (-1);
}

bool
proto_state_terminal(enum proto_state state)
{
	return (state != PROTO_QUEUED && state != PROTO_RUNNING);
}

/*
 * Walks the tree without recursion (a coroutine's stack is small and cJSON
 * allows 1000 levels): child first, else next, else back up through a
 * stack of parents. Returns -1 when out of memory.
 */
int
proto_json_depth(const cJSON *item)
{
	const cJSON	**up = NULL, **grown;
	size_t		  n = 0, cap = 0;
	int		  max = 0;

	while (item != NULL) {
		if ((int)n + 1 > max)
			max = (int)n + 1;
		if (item->child != NULL) {
			if (n == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				if ((grown = realloc(up, cap *
				    sizeof *up)) == NULL) {
					free(up);
					return (-1);
				}
				up = grown;
			}
			up[n++] = item;
			item = item->child;
			continue;
		}
		while (item->next == NULL && n > 0)
			item = up[--n];
		/* Back at the root: its siblings are not part of it. */
		if (n == 0)
			break;
		item = item->next;
	}
	free(up);
	return (max);
}

/* Reads a job id: an integer number in [1, PROTO_ID_MAX]. */
int
proto_get_id(const cJSON *item, uint64_t *id)
{
	double	d;

	if (!cJSON_IsNumber(item))
		return (ASYNCD_EBADREQUEST);
	d = item->valuedouble;
	if (!isfinite(d) || d < 1 || d > (double)PROTO_ID_MAX || d != floor(d))
		return (ASYNCD_EBADREQUEST);
	*id = (uint64_t)d;
	return (0);
}

/* Reads a duration: a finite number of seconds in [0, PROTO_MAX_SECONDS]. */
int
proto_get_seconds(const cJSON *item, double *seconds)
{
	double	d;

	if (!cJSON_IsNumber(item))
		return (ASYNCD_EBADREQUEST);
	d = item->valuedouble;
	if (!isfinite(d) || d < 0 || d > PROTO_MAX_SECONDS)
		return (ASYNCD_EBADREQUEST);
	*seconds = d;
	return (0);
}

int
proto_parse_time(const char *text, double *t)
{
	struct tm	 tm;
	const char	*p;
	double		 frac = 0;
	long		 off = 0;
	int		 n = 0, oh, om;
	time_t		 secs;

	memset(&tm, 0, sizeof tm);
	if (strlen(text) > 64 || sscanf(text, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n",
	    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, &n) != 6 || n != 19)
		return (ASYNCD_EBADREQUEST);
	p = text + n;
	if (*p == '.') {
		char	*end;

		if (p[1] < '0' || p[1] > '9')
			return (ASYNCD_EBADREQUEST);
		frac = strtod(p, &end);
		p = end;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n",
	    &oh, &om, &n) == 2 && n == 5 && oh < 24 && om < 60) {
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else
		return (ASYNCD_EBADREQUEST);
	if (*p != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60 || tm.tm_year < 1970)
		return (ASYNCD_EBADREQUEST);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((secs = timegm(&tm)) == (time_t)-1)
		return (ASYNCD_EBADREQUEST);
	*t = (double)secs - (double)off + frac;
	return (0);
}

/*
 * Rounding to whole milliseconds makes the double the nearest one to a
 * short decimal, which cJSON prints with 15 digits and reads back exactly.
 */
double
proto_time_round(double t)
{
	return (round(t * 1000.0) / 1000.0);
}

/*
 * Prints v into buf (at least PROTO_MS_BUF bytes) if it is a whole number
 * of milliseconds below 10^12 in magnitude, as the shortest decimal with
 * at most three places; returns false otherwise. Exact: v is the double
 * nearest k/1000 (an IEEE division of an exact k), and so is what any
 * correct reader makes of "k/1000" written out in decimal. Times are
 * rounded to milliseconds (proto_time_round) and ids, counts and seconds
 * are mostly whole, so this is nearly every number the protocol prints:
 * cJSON prints each with snprintf("%1.15g") and reads it back with sscanf
 * to check, which took about a sixth of the daemon's loop under load.
 */
#define PROTO_MS_BUF	24
static bool
proto_print_ms(double v, char *buf)
{
	char		 tmp[PROTO_MS_BUF], *p = tmp + sizeof tmp;
	long long	 k;
	int		 frac, i;

	if (!(fabs(v) < 1e12))
		return (false);
	k = llround(v * 1000.0);
	if ((double)k / 1000.0 != v)
		return (false);
	*--p = '\0';
	frac = (int)(llabs(k) % 1000);
	if (frac != 0) {
		for (i = 0; i < 3 && frac % 10 == 0; i++)
			frac /= 10;
		for (; i < 3; i++) {
			*--p = (char)('0' + frac % 10);
			frac /= 10;
		}
		*--p = '.';
	}
	k = llabs(k) / 1000;
	do {
		*--p = (char)('0' + k % 10);
		k /= 10;
	} while (k != 0);
	if (v < 0)
		*--p = '-';
	strcpy(buf, p);
	return (true);
}

/*
 * Turns the numbers of a tree proto built into raw numbers where printing
 * them here is exact and cJSON's is not (integers from 2^52) or slow (see
 * proto_print_ms). References (job arguments and results, which belong to
 * the caller) are left alone. False when out of memory.
 */
static bool
proto_print_fix(cJSON *item)
{
	char	 buf[32], *s;
	double	 d;
	bool	 raw;

	for (; item != NULL; item = item->next) {
		if (item->type & cJSON_IsReference)
			continue;
		d = fabs(item->valuedouble);
		raw = false;
		if (cJSON_IsNumber(item) && d >= 0x1p52 && d < 0x1p64 &&
		    d == floor(d)) {
			snprintf(buf, sizeof buf, "%.0f", item->valuedouble);
			raw = true;
		} else if (cJSON_IsNumber(item))
			raw = proto_print_ms(item->valuedouble, buf);
		if (raw) {
			if ((s = cJSON_malloc(strlen(buf) + 1)) == NULL)
				return (false);
			item->valuestring = strcpy(s, buf);
			item->type = (item->type & ~0xff) | cJSON_Raw;
		}
		if (!proto_print_fix(item->child))
			return (false);
	}
	return (true);
}

/*
 * Prints a tree for the wire. cJSON 1.7.15 prints a number with 15
 * significant digits whenever they read back within a relative DBL_EPSILON
 * of it, so an integer of 2^52 or more may come out wrong by one or two:
 * 2^53-1, the largest job id, prints as 9.00719925474099e+15. Integers below
 * 2^52 print exactly, and so do the raw numbers made here.
 */
char *
proto_print(cJSON *obj)
{
	if (!proto_print_fix(obj))
		return (NULL);
	return (cJSON_PrintUnformatted(obj));
}
