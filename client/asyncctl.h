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
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "asyncd.h"

/*
 * Exit statuses; asyncctl --help lists them for scripts. run exits with
 * its command's status instead, and uses these only for its own failures.
 */
#define ASYNCCTL_EXIT_OK		0
#define ASYNCCTL_EXIT_FAILED		1	/* or the command refused */
#define ASYNCCTL_EXIT_USAGE		2
#define ASYNCCTL_EXIT_UNREACHABLE	3
#define ASYNCCTL_EXIT_CANCELLED		4
#define ASYNCCTL_EXIT_JOB_TIMEOUT	5	/* the job's own timeout */
#define ASYNCCTL_EXIT_TIMEOUT		124 /* wait --timeout; timeout(1) */
/* run: the command could not be executed, or found; as shells say. */
#define ASYNCCTL_EXIT_NOEXEC		126
#define ASYNCCTL_EXIT_NOTFOUND		127

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

struct asyncctl_cmd;

/* A command's handler; returns asyncctl's exit status. */
typedef int (*asyncctl_exec_fn)(struct asyncctl *,
    const struct asyncctl_cmd *, int, char **);

/* One entry of the command table (asyncctl_cmds). */
struct asyncctl_cmd {
	const char		*name;
	asyncctl_exec_fn	 exec;
	const char		*usage;		/* what follows the name */
	const char		*summary;	/* one line, for the list */
	const char		*help;		/* for "help COMMAND" */
};

/* Options every command takes, for a getopt_long table. */
#define ASYNCCTL_COMMON_LONGOPTS					\
	{ "json", no_argument, NULL, 'j' },				\
	{ "table", no_argument, NULL, 'T' },				\
	{ "help", no_argument, NULL, 'h' }

/* Prints "asyncctl: ..." and a newline on stderr. */
void	asyncctl_warnx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* A usage error: the message, the command's usage line; returns 2. */
int	asyncctl_usage(const struct asyncctl_cmd *cmd, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * Reports a failed library call as "asyncctl: WHAT: why" (the daemon's
 * message where it sent one) and returns the exit status it means: 3 for
 * an unreachable daemon, else 1.
 */
int	asyncctl_fail(struct asyncctl *ctl, const char *what, int err);
/*
 * Opens ctl->c, once the command's arguments are known to be good. Returns
 * 0, or the exit status of the failure (said on stderr).
 */
int	asyncctl_connect(struct asyncctl *ctl);
/* A job id: decimal digits, 1 to 2^53-1. */
bool	asyncctl_parse_id(const char *s, uint64_t *id);
/*
 * The one job id left in argv after getopt (optind): -1 with *id set, or
 * the usage error's exit status.
 */
int	asyncctl_id_arg(const struct asyncctl_cmd *cmd, int argc, char **argv,
	    uint64_t *id);
/* A duration in seconds, fractions allowed, 0 to 30 days. */
bool	asyncctl_parse_seconds(const char *s, double *out);
bool	asyncctl_parse_duration(const char *s, double *out);
/*
 * Handles a getopt_long result that is not the command's own: --json,
 * --table, --help, or a bad option. Returns -1 to go on, or an exit status.
 */
int	asyncctl_common_opt(struct asyncctl *ctl,
	    const struct asyncctl_cmd *cmd, int ch, char **argv);
/* The exit status a finished (or unfinished) job means, as wait's. */
int	asyncctl_job_exit(const struct asyncd_job *job);
/* Says on stderr, in the job's words, why a finished job has no result. */
void	asyncctl_job_error(const struct asyncd_job *job);

/* follow.c */

/* asyncctl run: runs a command as an exec job, as if here. */
int	follow_run(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
	    int argc, char **argv);
/* asyncctl logs: a job's output, from its log; -f follows it. */
int	follow_logs(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
	    int argc, char **argv);

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
