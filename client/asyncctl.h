/*
 * asyncctl.h: asyncctl's private declarations, one section per file.
 *
 * asyncctl is synchronous and single-threaded: it parses argv, makes one
 * or a few libasyncd calls, prints and exits. It uses libasyncd's public
 * API only, as any other program would.
 */
#ifndef ASYNCCTL_H
#define ASYNCCTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "asyncd.h"

/* Exit statuses; asyncctl --help lists them for scripts. */
#define ASYNCCTL_EXIT_OK		0
#define ASYNCCTL_EXIT_FAILED		1	/* or the command refused */
#define ASYNCCTL_EXIT_USAGE		2
#define ASYNCCTL_EXIT_UNREACHABLE	3
#define ASYNCCTL_EXIT_CANCELLED		4
#define ASYNCCTL_EXIT_JOB_TIMEOUT	5	/* the job's own timeout */
#define ASYNCCTL_EXIT_TIMEOUT		124 /* wait --timeout; timeout(1) */

/*
 * A running daemon accepts a connection in well under a millisecond; a
 * missing one should be reported before a person wonders.
 */
#define ASYNCCTL_CONNECT_TIMEOUT	2.0

/* asyncctl.c */

/* What every command gets: the global options and, once opened, a client. */
struct asyncctl {
	const char	*url;		/* --socket; NULL: the default */
	bool		 json;		/* --json given */
	bool		 table;		/* --table given */
	double		 connect;	/* --connect-timeout */
	struct asyncd	*c;		/* from asyncctl_connect */
};

/*
 * JSON for list/status/stats/types: --json, or stdout is not a terminal
 * and --table was not given.
 */
bool	asyncctl_want_json(const struct asyncctl *ctl);

/* output.c */

/* A table printed with aligned columns, for people. */
struct output_table;

struct output_table *output_table_create(size_t ncols,
	    const char *const *headers);
/* Adds a row of ncols strings (copied). Returns 0 or ASYNCD_ENOMEM. */
int	output_table_add(struct output_table *t, const char *const *cells);
void	output_table_print(const struct output_table *t, FILE *f);
void	output_table_free(struct output_table *t);

/* A duration for people: "850ms", "4.2s", "3m04s", "2h05m", "3d04h". */
void	output_duration(char *buf, size_t len, double seconds);
/* A Unix time as local "2025-11-24 19:30:01.123". */
void	output_time(char *buf, size_t len, double when);
/* One "key:  value" line, the values aligned at a fixed column. */
void	output_field(FILE *f, const char *key, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Prints a JSON value on one line of f; false when out of memory. */
bool	output_json(FILE *f, const cJSON *item);

/* Seconds since the epoch, now, for ages. */
double	output_now(void);

#endif /* ASYNCCTL_H */
