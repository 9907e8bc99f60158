/*
 * asyncctl.c: the asyncd command line.
 *
 * asyncctl [--socket URL] [--json | --table] COMMAND [ARGS...]. Each
 * command is one entry of asyncctl_cmds, a table of name, handler, usage
 * and summary (as in smtpd's smtpctl); each handler parses its own options
 * with getopt_long, makes its libasyncd calls, prints and returns the exit
 * status. Results and JSON go to stdout; every error is one line on stderr
 * starting "asyncctl:" (one per job that did not succeed, for wait), and
 * a usage error is followed by the command's usage line.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asyncctl.h"

#ifndef ASYNCD_VERSION
#define ASYNCD_VERSION	ASYNCD_LIB_VERSION
#endif

/* The protocol's limits, repeated: asyncctl sees only the public API. */
#define ASYNCCTL_ID_MAX		((UINT64_C(1) << 53) - 1)
#define ASYNCCTL_MAX_SECONDS	(30.0 * 24 * 3600)
#define ASYNCCTL_MAX_IDS	1024
#define ASYNCCTL_LIST_MAX	1000
/* Largest ARGS_JSON read from standard input ("-"). */
#define ASYNCCTL_MAX_STDIN	(4 * 1024 * 1024)
/* The system daemon's socket (systemd/asyncd.service), repeated too. */
#define ASYNCCTL_SYSTEM_URL	"ipc:///run/asyncd/asyncd.sock"
#define ASYNCCTL_IPC		"ipc://"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static int	asyncctl_ping(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_submit(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_wait(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_forget(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_retry(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_status(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_list(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_cancel(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_types(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_stats(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_shutdown(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);
static int	asyncctl_help(struct asyncctl *,
		    const struct asyncctl_cmd *, int, char **);

/* Each command's help, after its usage line and summary. */
static const char asyncctl_ping_help[] =
	"Prints the daemon's version, process id and instance (the id of\n"
	"its job table: made afresh each time a memory-only daemon starts,\n"
	"the store's own with a durable store); with --json, an object with\n"
	"version, pid, instance, events (the event socket's URL) and\n"
	"durability (none, process or power).\n";

static const char asyncctl_submit_help[] =
	"Submits a job of type TYPE with ARGS_JSON (any JSON, default null;\n"
	"\"-\" reads it from standard input) and prints the job's id alone.\n"
	"  -k, --key K           idempotency key: if the daemon has a live\n"
	"                        job with this key, its id is printed and\n"
	"                        nothing new is created\n"
	"  -t, --timeout S       how long the job may run, in seconds\n"
	"                        (default: no limit); past it the job\n"
	"                        ends timed_out\n"
	"  -w, --wait            wait for the job, then print its result and\n"
	"                        exit as 'wait' does, instead of printing\n"
	"                        the id\n"
	"  -W, --wait-timeout S  give up waiting after S seconds and exit\n"
	"                        124 (the job goes on); implies --wait\n"
	"  -j, --json            with --wait, print the whole job object\n"
	"  -p, --priority N      higher runs first among jobs ready to run\n"
	"                        (-1000000 to 1000000, default 0)\n"
	"  -d, --delay D         start no sooner than D from now (seconds,\n"
	"                        or 30s, 10m, 2h, 1d)\n"
	"  -N, --not-before T    start no sooner than T (RFC 3339, like\n"
	"                        2026-12-02T01:30:00Z)\n"
	"  -r, --retries N       run again up to N times after it fails or\n"
	"                        times out\n"
	"  -R, --retry-delay D   before the first retry (default 1s); each\n"
	"                        later one waits --retry-backoff times longer\n"
	"                        (default 2), give or take a tenth\n";

static const char asyncctl_forget_help[] =
	"Removes finished jobs from the daemon (and its store) before\n"
	"--retention would, and prints how many went: job ID, or every\n"
	"finished job of yours that matches\n"
	"  -s, --state S         in final state S (succeeded, failed,\n"
	"                        cancelled, timed_out, interrupted)\n"
	"  -b, --before T        finished before T (RFC 3339, like\n"
	"                        2026-12-02T01:30:00Z), or D ago (30s, 10m,\n"
	"                        2h, 7d)\n"
	"Their ids then answer 'expired'.\n";

static const char asyncctl_retry_help[] =
	"Submits a new job with the type and arguments of finished job ID\n"
	"(no key, no other option carried over) and prints its id.\n";

static const char asyncctl_run_help[] =
	"Runs CMD with ARGS as an exec job on the daemon, and behaves as if\n"
	"it ran here: the command's standard output and error come out on\n"
	"asyncctl's own, byte for byte and as they are written, and asyncctl\n"
	"exits with the command's exit status (128+N if signal N killed it).\n"
	"No shell sees the arguments unless CMD is one (run -- sh -c '...').\n"
	"\n"
	"Where it runs: in asyncctl's current directory (as pueue does),\n"
	"unless --cwd says otherwise. Its environment is the daemon's clean\n"
	"one (PATH=/usr/local/bin:/usr/bin:/bin, the daemon's HOME, LANG and\n"
	"LC_ALL, ASYNCD_JOB_ID, ASYNCD_SOCKET) plus what --env gives:\n"
	"asyncctl's own environment is not passed. It runs with the daemon's\n"
	"privileges, not yours; only root, the daemon's user and the users\n"
	"of the daemon's --exec-allow may run commands.\n"
	"\n"
	"Standard input: when asyncctl's is not a terminal, all of it is read\n"
	"first and passed to the command, exact bytes. It must fit in one\n"
	"request (the daemon's --max-msg, 1 MiB by default, carries about\n"
	"760 KiB of input); for more, have the command read a file.\n"
	"Otherwise, or with --no-stdin, the command reads /dev/null.\n"
	"\n"
	"Ctrl-C (SIGINT), SIGTERM and SIGHUP cancel the job: the command gets\n"
	"SIGTERM (its process group with it), and asyncctl shows what it\n"
	"writes until it ends, then exits 4. A second one, once the daemon\n"
	"has the cancel, exits at once (130 for Ctrl-C) and leaves the job's\n"
	"end to the daemon. Signals asyncctl was\n"
	"started ignoring (nohup; a background job of a script) stay ignored.\n"
	"  -t, --timeout S       stop the command after S seconds (exit 5)\n"
	"  -e, --env K=V         set K in the command's environment;\n"
	"                        repeatable\n"
	"  -C, --cwd DIR         run in DIR (a relative DIR is taken from\n"
	"                        the current directory)\n"
	"  -k, --key K           idempotency key, as for submit\n"
	"  -d, --detach          print the job's id and exit; the command\n"
	"                        goes on (asyncctl logs -f ID follows it)\n"
	"  -n, --no-stdin        do not read standard input\n"
	"\n"
	"Exit status: the command's; 128+N if signal N killed it; 127 if it\n"
	"could not be started (not found, no such --cwd) and 126 if it could\n"
	"not be executed (Permission denied), the daemon's reason on stderr.\n"
	"asyncctl's own failures: 1 (the daemon refused the job, or output\n"
	"could not be written), 2 usage, 3 the daemon is unreachable, 4 the\n"
	"job was cancelled, 5 it timed out.\n";

static const char asyncctl_logs_help[] =
	"Prints what job ID's command wrote, from the job's log (kept whole,\n"
	"up to the daemon's --log-max-mib, as long as the daemon keeps the\n"
	"job): its standard output on asyncctl's standard output and its\n"
	"standard error on asyncctl's standard error, byte for byte. Without\n"
	"-f, prints what there is now and exits 0. With -f, prints all of it\n"
	"from the start, follows what the command writes until the job ends,\n"
	"and exits as 'wait' would for the job (0 succeeded, 1 failed, 4\n"
	"cancelled, 5 timed out), saying why on stderr if it did not succeed.\n"
	"  -f, --follow          follow the output to the job's end\n"
	"      --stdout          only standard output\n"
	"      --stderr          only standard error\n";

static const char asyncctl_wait_help[] =
	"Waits for the jobs and prints each one's result as a line of JSON,\n"
	"in the order given. For a job that did not succeed it prints one\n"
	"line on stderr instead: \"asyncctl: job ID failed: CODE: MESSAGE\",\n"
	"\"job ID cancelled: MESSAGE\", \"job ID timed out after ...\", or\n"
	"\"job ID: MESSAGE\" for an id the daemon does not know (or that is\n"
	"another user's job); the other jobs are still printed. The exit\n"
	"status is that of the first job, in the order given, that did not\n"
	"succeed (124 for one still running at --timeout). With ID \"-\" the\n"
	"ids are read from standard input, separated by white space.\n"
	"  -t, --timeout S       give up after S seconds (default: never)\n"
	"                        and exit 124; the jobs go on\n"
	"  -a, --any             return when the first job finishes, print\n"
	"                        only its result, and say which job it was\n"
	"                        on stderr (\"asyncctl: job ID finished\n"
	"                        first\"; with --json the job object says)\n"
	"  -c, --cancel-on-timeout\n"
	"                        at --timeout, cancel the unfinished jobs\n"
	"                        (and still exit 124)\n"
	"  -j, --json            print each whole job object instead of\n"
	"                        its result\n";

static const char asyncctl_status_help[] =
	"Shows the job as key: value lines on a terminal (or with --table),\n"
	"or as its JSON object with --json or when standard output is not a\n"
	"terminal.\n";

static const char asyncctl_list_help[] =
	"Lists jobs, newest first, as a table on a terminal (or with\n"
	"--table): ID STATE TYPE KEY PARENT AGE RUNTIME ERROR, where ERROR is\n"
	"the error code of a job that did not succeed. With --json, or when\n"
	"standard output is not a terminal, prints one JSON object, as the\n"
	"daemon's reply: {\"jobs\":[...],\"more\":BOOL}, more saying whether\n"
	"older jobs match too (page with --before the last id: no job shows\n"
	"twice and none is skipped).\n"
	"With a durable store the daemon lists its whole history, as long as\n"
	"--retention keeps it, restarts included; with --durability none,\n"
	"the jobs in its memory. Only root and the daemon's user see other\n"
	"users' jobs. The filters combine:\n"
	"  -s, --state S         only jobs in state S: queued, running,\n"
	"                        succeeded, failed, cancelled, timed_out,\n"
	"                        interrupted\n"
	"  -t, --type T          only jobs of type T\n"
	"  -o, --owner USER      only USER's jobs (a name or a uid)\n"
	"  -k, --key K           only jobs submitted with key K\n"
	"  -S, --since T         only jobs created at T or later: RFC 3339\n"
	"                        (2026-12-02T01:30:00Z), or D ago (30s, 10m,\n"
	"                        2h, 7d)\n"
	"  -U, --until T         only jobs created before T (as --since)\n"
	"  -n, --limit N         at most N jobs (1 to 1000; default 100)\n"
	"  -b, --before ID       only jobs older than ID, to page through\n";

static const char asyncctl_cancel_help[] =
	"Cancels the job and prints one line saying what happened, on a\n"
	"terminal or not: \"job ID: cancelled\" (it stopped), \"job ID:\n"
	"running, cancel requested\" (it is still stopping). A job that had\n"
	"already finished is not changed: \"asyncctl: job ID: already\n"
	"finished (STATE)\" on stderr, exit status 1. With --json, prints\n"
	"the job's JSON object instead of the line.\n"
	"  -w, --wait S          wait up to S seconds for it to stop\n";

static const char asyncctl_types_help[] =
	"Lists each job type's name and description: a table on a terminal\n"
	"(or with --table), a JSON array of {\"name\",\"description\"}\n"
	"objects with --json or when standard output is not a terminal.\n";

static const char asyncctl_stats_help[] =
	"Shows jobs per state, totals, uptime and limits: key: value lines\n"
	"on a terminal (or with --table), the daemon's stats object with\n"
	"--json or when standard output is not a terminal.\n";

static const struct asyncctl_cmd asyncctl_cmds[] = {
	{ "ping", asyncctl_ping, "",
	  "check that the daemon answers; print its version, pid and "
	  "instance",
	  asyncctl_ping_help },
	{ "submit", asyncctl_submit,
	  "TYPE [ARGS_JSON] [--key K] [--timeout S] [--wait] "
	  "[--wait-timeout S] [--priority N] [--delay D | --not-before T] "
	  "[--retries N [--retry-delay D] [--retry-backoff X]]",
	  "submit a job; print its id", asyncctl_submit_help },
	{ "forget", asyncctl_forget, "ID | [--state S] [--before T]",
	  "remove finished jobs now; print how many",
	  asyncctl_forget_help },
	{ "retry", asyncctl_retry, "ID",
	  "submit a finished job's type and arguments again",
	  asyncctl_retry_help },
	{ "run", follow_run,
	  "[--timeout S] [--env K=V]... [--cwd DIR] [--key K] [--detach] "
	  "[--no-stdin] -- CMD [ARGS...]",
	  "run a command as an exec job, its output and exit status as if "
	  "here",
	  asyncctl_run_help },
	{ "wait", asyncctl_wait,
	  "ID... [--timeout S] [--any] [--cancel-on-timeout]",
	  "wait for jobs; print their results", asyncctl_wait_help },
	{ "status", asyncctl_status, "ID",
	  "show one job, with its arguments and result",
	  asyncctl_status_help },
	{ "logs", follow_logs, "[-f] [--stdout | --stderr] ID",
	  "print a job's output; -f follows it to the job's end",
	  asyncctl_logs_help },
	{ "list", asyncctl_list,
	  "[--state S] [--type T] [--owner USER] [--key K] [--since T] "
	  "[--until T] [--limit N] [--before ID]",
	  "list jobs, newest first", asyncctl_list_help },
	{ "cancel", asyncctl_cancel, "ID [--wait S]",
	  "cancel a job", asyncctl_cancel_help },
	{ "types", asyncctl_types, "",
	  "list the job types the daemon runs", asyncctl_types_help },
	{ "stats", asyncctl_stats, "",
	  "show the daemon's counters", asyncctl_stats_help },
	{ "shutdown", asyncctl_shutdown, "",
	  "stop the daemon (root or the daemon's user only)",
	  "Asks the daemon to stop, as on SIGTERM.\n" },
	{ "help", asyncctl_help, "[COMMAND]",
	  "show help for asyncctl or one command", "" },
};

#define ASYNCCTL_NCMDS	(sizeof asyncctl_cmds / sizeof asyncctl_cmds[0])

static const char asyncctl_exits[] =
	"Exit status:\n"
	"  0    success; for wait and submit --wait, every job succeeded\n"
	"  1    a job failed, or the daemon refused the command (no such\n"
	"       job, bad arguments, ...)\n"
	"  2    usage error\n"
	"  3    the daemon is unreachable\n"
	"  4    a job was cancelled\n"
	"  5    a job ran past its own timeout (timed_out)\n"
	"  124  the wait's own --timeout expired (the job goes on)\n"
	"run exits with its command's status instead (126 and 127 when it\n"
	"cannot be run, as shells do), and with 1 to 5 for its own failures.\n";

/* Prints "asyncctl: ..." on stderr. */
void
asyncctl_warnx(const char *fmt, ...)
{
	va_list	ap;

	fputs("asyncctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: the message, then the command's usage line. */
int
asyncctl_usage(const struct asyncctl_cmd *cmd, const char *fmt, ...)
{
	va_list	ap;

	fputs("asyncctl: ", stderr);
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd != NULL)
		fprintf(stderr, "usage: asyncctl %s%s%s\n", cmd->name,
		    *cmd->usage != '\0' ? " " : "", cmd->usage);
	else
		fputs("usage: asyncctl [--socket URL] [--json | --table] "
		    "COMMAND [ARGS...]\n", stderr);
	return (ASYNCCTL_EXIT_USAGE);
}

/*
 * Reports a failed library call: the daemon's own message when it sent
 * one, and the exit status the error means.
 */
int
asyncctl_fail(struct asyncctl *ctl, const char *what, int err)
{
	const char	*msg = asyncd_errmsg();

	if (err == ASYNCD_EUNREACHABLE) {
		asyncctl_warnx("%s: cannot reach asyncd at %s", what,
		    asyncd_url(ctl->c));
		return (ASYNCCTL_EXIT_UNREACHABLE);
	}
	asyncctl_warnx("%s: %s", what, msg != NULL ? msg :
	    asyncd_strerror(err));
	return (ASYNCCTL_EXIT_FAILED);
}

bool
asyncctl_want_json(const struct asyncctl *ctl)
{
	return (ctl->json || (!ctl->table && !isatty(STDOUT_FILENO)));
}

/*
 * Sets --json (ch 'j') or --table ('T'), which exclude each other. Returns
 * -1 to go on, or the exit status of a usage error.
 */
static int
asyncctl_format(struct asyncctl *ctl, const struct asyncctl_cmd *cmd, int ch)
{
	if (ch == 'j')
		ctl->json = true;
	else
		ctl->table = true;
	if (ctl->json && ctl->table)
		return (asyncctl_usage(cmd, "--json and --table exclude each "
		    "other"));
	return (-1);
}

/*
 * An ipc:// socket whose file does not exist has no daemon behind it. Say
 * so at once, and how to start one, rather than wait out the connect
 * timeout. Returns 0 to go on, or the exit status.
 */
static int
asyncctl_check_socket(struct asyncctl *ctl)
{
	struct stat	 st;
	const char	*url = asyncd_url(ctl->c), *how;
	const char	*env = getenv("ASYNCD_SOCKET");

	if (strncmp(url, ASYNCCTL_IPC, strlen(ASYNCCTL_IPC)) != 0 ||
	    stat(url + strlen(ASYNCCTL_IPC), &st) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return (0);
	if (ctl->url != NULL) {
		asyncctl_warnx("no asyncd at %s (start one with 'asyncd "
		    "--socket %s')", url, url);
		return (ASYNCCTL_EXIT_UNREACHABLE);
	}
	if (env != NULL && *env != '\0')
		how = "'asyncd' with the same ASYNCD_SOCKET";
	else if (strcmp(url, ASYNCCTL_SYSTEM_URL) == 0)
		how = "'asyncd', or 'systemctl start asyncd'";
	else
		how = "'asyncd', or 'systemctl --user start asyncd'";
	asyncctl_warnx("no asyncd at %s (start one with %s)", url, how);
	return (ASYNCCTL_EXIT_UNREACHABLE);
}

/* Opens the client, once the command's arguments are known to be good. */
int
asyncctl_connect(struct asyncctl *ctl)
{
	int	rv;

	if ((rv = asyncd_open(&ctl->c, ctl->url)) == 0) {
		asyncd_set_connect_timeout(ctl->c, ctl->connect);
		return (asyncctl_check_socket(ctl));
	}
	if (rv == ASYNCD_EINVAL) {
		asyncctl_warnx("invalid socket URL '%s'", ctl->url != NULL ?
		    ctl->url : "(default)");
		return (ASYNCCTL_EXIT_USAGE);
	}
	asyncctl_warnx("%s", asyncd_strerror(rv));
	return (ASYNCCTL_EXIT_FAILED);
}

/* A job id: decimal digits, 1 to 2^53-1. */
bool
asyncctl_parse_id(const char *s, uint64_t *id)
{
	unsigned long long	 v;
	char			*end;

	if (*s < '0' || *s > '9')
		return (false);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > ASYNCCTL_ID_MAX)
		return (false);
	*id = v;
	return (true);
}

/* A duration in seconds, fractions allowed, 0 to 30 days. */
bool
asyncctl_parse_seconds(const char *s, double *out)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(d) || d < 0 ||
	    d > ASYNCCTL_MAX_SECONDS)
		return (false);
	*out = d;
	return (true);
}

/* A duration: seconds, or a number with s, m, h or d ("10m"). */
bool
asyncctl_parse_duration(const char *s, double *out)
{
	char	*end, buf[64];
	double	 unit = 1;
	size_t	 len = strlen(s);

	if (len == 0 || len >= sizeof buf)
		return (false);
	memcpy(buf, s, len + 1);
	switch (buf[len - 1]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return (asyncctl_parse_seconds(s, out));
	}
	buf[len - 1] = '\0';
	if (!asyncctl_parse_seconds(buf, out) ||
	    *out * unit > ASYNCCTL_MAX_SECONDS)
		return (false);
	(void)end;
	*out *= unit;
	return (true);
}

/*
 * A job state by its wire name (asyncd_state_name's inverse; never
 * ASYNCD_UNKNOWN); with final, only a state a job ends in.
 */
static bool
asyncctl_parse_state(const char *s, bool final, int *out)
{
	int	st;

	for (st = ASYNCD_QUEUED; st <= ASYNCD_INTERRUPTED; st++) {
		if (st == ASYNCD_UNKNOWN || (final && (st == ASYNCD_QUEUED ||
		    st == ASYNCD_RUNNING)))
			continue;
		if (strcmp(s, asyncd_state_name(st)) == 0) {
			*out = st;
			return (true);
		}
	}
	return (false);
}

/*
 * A point in time: RFC 3339 ("2026-12-02T01:30:00Z"), or a duration ago
 * ("10m", as asyncctl_parse_duration reads it), as Unix time.
 */
static bool
asyncctl_parse_when(const char *s, double *out)
{
	double	ago;

	if (asyncd_parse_time(s, out) == 0)
		return (true);
	if (!asyncctl_parse_duration(s, &ago))
		return (false);
	*out = (double)time(NULL) - ago;
	return (*out > 0);
}

/*
 * getopt_long's complaints, in asyncctl's words. With opterr off and ':'
 * first in optstring, '?' means an unknown option and ':' a missing
 * argument.
 */
static int
asyncctl_badopt(const struct asyncctl_cmd *cmd, int ch, char **argv)
{
	const char	*arg = argv[optind - 1];

	if (ch == ':')
		return (asyncctl_usage(cmd, "option '%s' needs an argument",
		    arg));
	if (optopt != 0)
		return (asyncctl_usage(cmd, "unknown option '-%c'", optopt));
	return (asyncctl_usage(cmd, "unknown option '%s'", arg));
}

/* Prints one command's help on stdout. */
static void
asyncctl_cmd_help(const struct asyncctl_cmd *cmd)
{
	printf("usage: asyncctl %s%s%s\n\n", cmd->name,
	    *cmd->usage != '\0' ? " " : "", cmd->usage);
	printf("%c%s.\n", toupper((unsigned char)cmd->summary[0]),
	    cmd->summary + 1);
	if (*cmd->help != '\0')
		printf("\n%s", cmd->help);
}


/*
 * Handles an option that is not the command's own: the common ones, or a
 * bad one. Returns -1 to go on parsing, or the exit status to return.
 */
int
asyncctl_common_opt(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int ch, char **argv)
{
	switch (ch) {
	case 'j':
	case 'T':
		return (asyncctl_format(ctl, cmd, ch));
	case 'h':
		asyncctl_cmd_help(cmd);
		return (ASYNCCTL_EXIT_OK);
	default:
		return (asyncctl_badopt(cmd, ch, argv));
	}
}

/*
 * Parses the options of a command that has none of its own. Returns -1
 * to go on (optind at the first argument), or an exit status.
 */
static int
asyncctl_common_only(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	static const struct option	longopts[] = {
		ASYNCCTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int				ch, rv;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":jTh", longopts, NULL)) != -1) {
		if ((rv = asyncctl_common_opt(ctl, cmd, ch, argv)) != -1)
			return (rv);
	}
	return (-1);
}

/*
 * Parses a command that takes no options beyond the common ones and no
 * arguments. Returns -1 to go on, or an exit status.
 */
static int
asyncctl_no_args(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	int	ch;

	if ((ch = asyncctl_common_only(ctl, cmd, argc, argv)) != -1)
		return (ch);
	if (optind < argc)
		return (asyncctl_usage(cmd, "unexpected argument '%s'",
		    argv[optind]));
	if ((ch = asyncctl_connect(ctl)) != 0)
		return (ch);
	return (-1);
}

/* ---- printing jobs */

/* The exit status a finished (or unfinished) job means. */
int
asyncctl_job_exit(const struct asyncd_job *job)
{
	switch (asyncd_job_outcome(job)) {
	case 0:
		return (ASYNCCTL_EXIT_OK);
	case ASYNCD_ECANCELED:
		return (ASYNCCTL_EXIT_CANCELLED);
	case ASYNCD_EJOBTIMEDOUT:
		return (ASYNCCTL_EXIT_JOB_TIMEOUT);
	case ASYNCD_ETIMEDOUT:
		return (ASYNCCTL_EXIT_TIMEOUT);
	default:
		return (ASYNCCTL_EXIT_FAILED);
	}
}

/* Prints a job's JSON object on stdout. */
static int
asyncctl_print_job_json(const struct asyncd_job *job)
{
	char	*text;

	if ((text = asyncd_job_json(job)) == NULL) {
		asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
		return (ASYNCCTL_EXIT_FAILED);
	}
	printf("%s\n", text);
	free(text);
	return (ASYNCCTL_EXIT_OK);
}

/*
 * Says on stderr why a finished job has no result, in the job's own words
 * where it has them: "job 11 failed: no_space: disk full", "job 12
 * cancelled: cancelled by request", "job 13 timed out after 0.5 s", and
 * for an id the daemon could not answer for, "job 14: no job with id 14".
 */
void
asyncctl_job_error(const struct asyncd_job *job)
{
	const char	*code = asyncd_job_error_code(job);
	const char	*msg = asyncd_job_error_message(job);
	uint64_t	 id = asyncd_job_id(job);

	if (msg != NULL && *msg == '\0')
		msg = NULL;
	switch (asyncd_job_state(job)) {
	case ASYNCD_CANCELLED:
		if (msg != NULL)
			asyncctl_warnx("job %" PRIu64 " cancelled: %s", id,
			    msg);
		else
			asyncctl_warnx("job %" PRIu64 " cancelled", id);
		break;
	case ASYNCD_TIMED_OUT:
		/* The daemon's message is the rest of the sentence. */
		asyncctl_warnx("job %" PRIu64 " %s", id, msg != NULL ? msg :
		    "timed out");
		break;
	case ASYNCD_UNKNOWN:
		asyncctl_warnx("job %" PRIu64 ": %s", id, msg != NULL ? msg :
		    asyncd_strerror(asyncd_job_outcome(job)));
		break;
	default:
		if (code == NULL)
			code = asyncd_state_name(asyncd_job_state(job));
		if (msg != NULL)
			asyncctl_warnx("job %" PRIu64 " failed: %s: %s", id,
			    code, msg);
		else
			asyncctl_warnx("job %" PRIu64 " failed: %s", id, code);
		break;
	}
}

/*
 * Prints how a waited-for job came out, as wait does: its result on
 * stdout (the job object with --json), or why it has none on stderr.
 * Returns the exit status it means.
 */
static int
asyncctl_report(struct asyncctl *ctl, const struct asyncd_job *job,
    double waited)
{
	const char	*result;
	char		 dur[32];
	int		 status = asyncctl_job_exit(job);

	if (ctl->json) {
		if (asyncctl_print_job_json(job) != 0)
			return (ASYNCCTL_EXIT_FAILED);
	} else if (status == ASYNCCTL_EXIT_OK) {
		result = asyncd_job_result(job);
		printf("%s\n", result != NULL ? result : "null");
	}
	if (status == ASYNCCTL_EXIT_TIMEOUT) {
		output_duration(dur, sizeof dur, waited);
		asyncctl_warnx("job %" PRIu64 " still %s after %s (timed out "
		    "waiting)", asyncd_job_id(job),
		    asyncd_state_name(asyncd_job_state(job)), dur);
	} else if (status != ASYNCCTL_EXIT_OK)
		asyncctl_job_error(job);
	return (status);
}

/* Prints a job as key: value lines, for people. */
static void
asyncctl_print_job_fields(const struct asyncd_job *job)
{
	const char	*s, *pmsg;
	double		 started, finished, now = output_now(), p;
	char		 t[64], d[32];

	output_field(stdout, "id", "%" PRIu64, asyncd_job_id(job));
	output_field(stdout, "type", "%s", asyncd_job_type(job));
	output_field(stdout, "state", "%s%s",
	    asyncd_state_name(asyncd_job_state(job)), "");
	if ((s = asyncd_job_key(job)) != NULL)
		output_field(stdout, "key", "%s", s);
	if (asyncd_job_parent(job) != 0)
		output_field(stdout, "parent", "%" PRIu64,
		    asyncd_job_parent(job));
	output_time(t, sizeof t, asyncd_job_created(job));
	output_duration(d, sizeof d, now - asyncd_job_created(job));
	output_field(stdout, "created", "%s (%s ago)", t, d);
	if ((started = asyncd_job_started(job)) > 0) {
		output_time(t, sizeof t, started);
		output_field(stdout, "started", "%s", t);
	}
	if ((finished = asyncd_job_finished(job)) > 0) {
		output_time(t, sizeof t, finished);
		output_field(stdout, "finished", "%s", t);
	}
	if (started > 0) {
		output_duration(d, sizeof d, (finished > 0 ? finished : now) -
		    started);
		output_field(stdout, "runtime", "%s", d);
	}
	if ((p = asyncd_job_progress(job, &pmsg)) >= 0)
		output_field(stdout, "progress", "%.0f%%%s%s", p * 100,
		    pmsg != NULL ? " " : "", pmsg != NULL ? pmsg : "");
	if ((s = asyncd_job_error_code(job)) != NULL)
		output_field(stdout, "error", "%s: %s", s,
		    asyncd_job_error_message(job) != NULL ?
		    asyncd_job_error_message(job) : "");
	if ((s = asyncd_job_args(job)) != NULL)
		output_field(stdout, "args", "%s", s);
	if ((s = asyncd_job_result(job)) != NULL)
		output_field(stdout, "result", "%s", s);
}

/* ---- commands */

static int
asyncctl_ping(struct asyncctl *ctl, const struct asyncctl_cmd *cmd, int argc,
    char **argv)
{
	struct asyncd_info	*info;
	cJSON			*obj;
	int			 rv;

	if ((rv = asyncctl_no_args(ctl, cmd, argc, argv)) != -1)
		return (rv);
	if ((rv = asyncd_info(ctl->c, &info)) != 0)
		return (asyncctl_fail(ctl, "ping", rv));
	rv = ASYNCCTL_EXIT_OK;
	if (ctl->json) {
		if ((obj = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(obj, "version",
		    info->version != NULL ? info->version : "") == NULL ||
		    cJSON_AddNumberToObject(obj, "pid",
		    (double)info->pid) == NULL ||
		    (info->instance != NULL && cJSON_AddStringToObject(obj,
		    "instance", info->instance) == NULL) ||
		    (info->events != NULL && cJSON_AddStringToObject(obj,
		    "events", info->events) == NULL) ||
		    (info->durability != NULL && cJSON_AddStringToObject(obj,
		    "durability", info->durability) == NULL) ||
		    !output_json(stdout, obj)) {
			asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
			rv = ASYNCCTL_EXIT_FAILED;
		}
		cJSON_Delete(obj);
	} else if (info->instance != NULL)
		printf("asyncd %s (pid %" PRId64 ", instance %s)\n",
		    info->version != NULL ? info->version :
		    "(unknown version)", info->pid, info->instance);
	else
		printf("asyncd %s (pid %" PRId64 ")\n", info->version != NULL ?
		    info->version : "(unknown version)", info->pid);
	asyncd_info_free(info);
	return (rv);
}

/* Reads ARGS_JSON from standard input, for "-". */
static char *
asyncctl_read_stdin(void)
{
	char	*buf = NULL, *grown;
	size_t	 len = 0, cap = 0, n;

	for (;;) {
		if (len + 1 >= cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > ASYNCCTL_MAX_STDIN ||
			    (grown = realloc(buf, cap)) == NULL) {
				free(buf);
				return (NULL);
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len - 1, stdin);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		free(buf);
		return (NULL);
	}
	buf[len] = '\0';
	return (buf);
}

static int
asyncctl_submit(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait", no_argument, NULL, 'w' },
		{ "wait-timeout", required_argument, NULL, 'W' },
		{ "priority", required_argument, NULL, 'p' },
		{ "delay", required_argument, NULL, 'd' },
		{ "not-before", required_argument, NULL, 'N' },
		{ "retries", required_argument, NULL, 'r' },
		{ "retry-delay", required_argument, NULL, 'R' },
		{ "retry-backoff", required_argument, NULL, 'B' },
		ASYNCCTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct asyncd_submit_opts	 opts = { .key = NULL };
	char				*end;
	long				 n;
	struct asyncd_job		*job = NULL;
	const char			*type, *args = NULL;
	char				*input = NULL;
	cJSON				*check;
	double				 wait_timeout = -1, t0;
	uint64_t			 id;
	bool				 wait = false;
	int				 ch, rv;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":k:t:wW:p:d:N:r:R:B:jTh",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
		case 'r':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    (ch == 'p' && (n < -1000000 || n > 1000000)) ||
			    (ch == 'r' && (n < 0 || n > 1000)))
				return (asyncctl_usage(cmd, "invalid %s '%s' "
				    "(%s)", ch == 'p' ? "priority" : "retries",
				    optarg, ch == 'p' ? "-1000000 to 1000000" :
				    "0 to 1000"));
			if (ch == 'p')
				opts.priority = (int)n;
			else
				opts.retries = (unsigned)n;
			break;
		case 'd':
		case 'R':
			if (!asyncctl_parse_duration(optarg, ch == 'd' ?
			    &opts.delay : &opts.retry_delay))
				return (asyncctl_usage(cmd, "invalid duration "
				    "'%s' (seconds, or 30s, 10m, 2h, 1d; at "
				    "most 30 days)", optarg));
			break;
		case 'N':
			if (asyncd_parse_time(optarg, &opts.not_before) != 0)
				return (asyncctl_usage(cmd, "invalid time '%s' "
				    "(RFC 3339, like 2026-12-02T01:30:00Z)",
				    optarg));
			break;
		case 'B':
			errno = 0;
			opts.retry_backoff = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(opts.retry_backoff >= 1 &&
			    opts.retry_backoff <= 100))
				return (asyncctl_usage(cmd, "invalid backoff "
				    "'%s' (a number from 1 to 100)", optarg));
			break;
		case 'k':
			if (*optarg == '\0' || strlen(optarg) > 256)
				return (asyncctl_usage(cmd, "a key is 1 to "
				    "256 bytes long"));
			opts.key = optarg;
			break;
		case 't':
			if (!asyncctl_parse_seconds(optarg, &opts.timeout))
				return (asyncctl_usage(cmd, "invalid timeout "
				    "'%s' (seconds, 0 to 2592000)", optarg));
			break;
		case 'w':
			wait = true;
			break;
		case 'W':
			if (!asyncctl_parse_seconds(optarg, &wait_timeout))
				return (asyncctl_usage(cmd, "invalid wait "
				    "timeout '%s' (seconds, 0 to 2592000)",
				    optarg));
			wait = true;
			break;
		default:
			if ((rv = asyncctl_common_opt(ctl, cmd, ch,
			    argv)) != -1)
				return (rv);
			break;
		}
	}
	if (optind >= argc)
		return (asyncctl_usage(cmd, "missing job type"));
	type = argv[optind++];
	if (*type == '\0' || strlen(type) > 64)
		return (asyncctl_usage(cmd, "a job type is 1 to 64 bytes "
		    "long"));
	if (optind < argc)
		args = argv[optind++];
	if (optind < argc)
		return (asyncctl_usage(cmd, "unexpected argument '%s'",
		    argv[optind]));
	if (args != NULL && strcmp(args, "-") == 0) {
		if ((input = asyncctl_read_stdin()) == NULL) {
			asyncctl_warnx("submit: cannot read ARGS_JSON from "
			    "standard input");
			return (ASYNCCTL_EXIT_FAILED);
		}
		args = input;
	}
	/* Refused here, with a better word than the library's EINVAL. */
	if (args != NULL) {
		if ((check = cJSON_ParseWithOpts(args, NULL, true)) == NULL) {
			free(input);
			return (asyncctl_usage(cmd, "ARGS_JSON is not valid "
			    "JSON"));
		}
		cJSON_Delete(check);
	}
	if ((rv = asyncctl_connect(ctl)) != 0) {
		free(input);
		return (rv);
	}

	if (!wait) {
		rv = asyncd_submit(ctl->c, type, args, &opts, &id, NULL);
		free(input);
		if (rv != 0)
			return (asyncctl_fail(ctl, "submit", rv));
		printf("%" PRIu64 "\n", id);
		return (ASYNCCTL_EXIT_OK);
	}
	t0 = output_now();
	rv = asyncd_call(ctl->c, type, args, &opts, wait_timeout, &job);
	free(input);
	if (rv != 0 && rv != ASYNCD_ETIMEDOUT)
		return (asyncctl_fail(ctl, "submit", rv));
	rv = asyncctl_report(ctl, job, output_now() - t0);
	asyncd_job_free(job);
	return (rv);
}

/*
 * The job ids of "wait": its arguments, or with "-" the whitespace-separated
 * ids on standard input, which is what a loop of "asyncctl submit" prints.
 */
static int
asyncctl_ids(const struct asyncctl_cmd *cmd, int argc, char **argv,
    uint64_t **out, size_t *n)
{
	uint64_t	*ids = NULL, *grown;
	size_t		 cap = 0;
	char		*text = NULL, *word, *save = NULL;
	int		 i;

	*n = 0;
	if (argc == 1 && strcmp(argv[0], "-") == 0) {
		if ((text = asyncctl_read_stdin()) == NULL) {
			asyncctl_warnx("wait: cannot read job ids from "
			    "standard input");
			return (ASYNCCTL_EXIT_FAILED);
		}
		word = strtok_r(text, " \t\r\n", &save);
	} else
		word = argv[0];
	for (i = 0; word != NULL; i++) {
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((grown = reallocarray(ids, cap, sizeof *ids)) ==
			    NULL) {
				free(ids);
				free(text);
				asyncctl_warnx("%s",
				    asyncd_strerror(ASYNCD_ENOMEM));
				return (ASYNCCTL_EXIT_FAILED);
			}
			ids = grown;
		}
		if (!asyncctl_parse_id(word, &ids[*n])) {
			free(ids);
			i = asyncctl_usage(cmd, "invalid job id '%s'", word);
			free(text);
			return (i);
		}
		(*n)++;
		word = text != NULL ? strtok_r(NULL, " \t\r\n", &save) :
		    (i + 1 < argc ? argv[i + 1] : NULL);
	}
	free(text);
	if (*n == 0) {
		free(ids);
		return (asyncctl_usage(cmd, "no job ids on standard input"));
	}
	*out = ids;
	return (0);
}

static int
asyncctl_wait(struct asyncctl *ctl, const struct asyncctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option	 longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "any", no_argument, NULL, 'a' },
		{ "cancel-on-timeout", no_argument, NULL, 'c' },
		ASYNCCTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct asyncd_job		**jobs = NULL;
	uint64_t			*ids = NULL;
	double				 timeout = -1, t0;
	size_t				 n, i;
	bool				 any = false, cancel = false;
	char				 what[64];
	int				 ch, rv, status, st;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":t:acjTh", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 't':
			if (!asyncctl_parse_seconds(optarg, &timeout))
				return (asyncctl_usage(cmd, "invalid timeout "
				    "'%s' (seconds, 0 to 2592000)", optarg));
			break;
		case 'a':
			any = true;
			break;
		case 'c':
			cancel = true;
			break;
		default:
			if ((rv = asyncctl_common_opt(ctl, cmd, ch,
			    argv)) != -1)
				return (rv);
			break;
		}
	}
	if (optind >= argc)
		return (asyncctl_usage(cmd, "missing job id"));
	if ((rv = asyncctl_ids(cmd, argc - optind, argv + optind, &ids,
	    &n)) != 0)
		return (rv);
	if (any && n > ASYNCCTL_MAX_IDS) {
		free(ids);
		return (asyncctl_usage(cmd, "--any takes at most %d job ids",
		    ASYNCCTL_MAX_IDS));
	}
	if ((jobs = calloc(n, sizeof *jobs)) == NULL) {
		free(ids);
		asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
		return (ASYNCCTL_EXIT_FAILED);
	}
	if ((rv = asyncctl_connect(ctl)) != 0) {
		free(ids);
		free(jobs);
		return (rv);
	}

	t0 = output_now();
	rv = asyncd_wait_many(ctl->c, ids, n, any ? ASYNCD_WAIT_ANY :
	    ASYNCD_WAIT_ALL, timeout, jobs);
	if (rv != 0 && rv != ASYNCD_ETIMEDOUT) {
		if (n == 1)
			snprintf(what, sizeof what, "wait %" PRIu64, ids[0]);
		else
			snprintf(what, sizeof what, "wait");
		status = asyncctl_fail(ctl, what, rv);
		free(ids);
		free(jobs);
		return (status);
	}

	status = ASYNCCTL_EXIT_OK;
	if (any && rv == 0) {
		/* The first finished one, in the order given. */
		for (i = 0; i < n && !asyncd_job_done(jobs[i]); i++)
			continue;
		/* Which one it was; with --json, its object says. */
		if (n > 1 && !ctl->json)
			asyncctl_warnx("job %" PRIu64 " finished first",
			    asyncd_job_id(jobs[i]));
		status = asyncctl_report(ctl, jobs[i], output_now() - t0);
	} else {
		for (i = 0; i < n; i++) {
			st = asyncctl_report(ctl, jobs[i], output_now() - t0);
			if (status == ASYNCCTL_EXIT_OK)
				status = st;
		}
	}
	/*
	 * An unfinished job's status is 124, so the first non-zero one in
	 * the order given stays the rule.
	 */
	if (rv == ASYNCD_ETIMEDOUT) {
		for (i = 0; cancel && i < n; i++) {
			if (asyncd_job_done(jobs[i]))
				continue;
			/* Finished since is fine: the job is stopped. */
			st = asyncd_cancel(ctl->c, ids[i], 0, NULL);
			if (st != 0 && st != ASYNCD_EDONE) {
				snprintf(what, sizeof what, "cancel %" PRIu64,
				    ids[i]);
				(void)asyncctl_fail(ctl, what, st);
			}
		}
	}
	for (i = 0; i < n; i++)
		asyncd_job_free(jobs[i]);
	free(jobs);
	free(ids);
	return (status);
}

int
asyncctl_id_arg(const struct asyncctl_cmd *cmd, int argc, char **argv,
    uint64_t *id)
{
	if (optind >= argc)
		return (asyncctl_usage(cmd, "missing job id"));
	if (!asyncctl_parse_id(argv[optind], id))
		return (asyncctl_usage(cmd, "invalid job id '%s'",
		    argv[optind]));
	if (optind + 1 < argc)
		return (asyncctl_usage(cmd, "unexpected argument '%s'",
		    argv[optind + 1]));
	return (-1);
}

/* Parses "COMMAND [common options] ID". Returns -1 to go on. */
static int
asyncctl_one_id(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv, uint64_t *id)
{
	int	ch;

	if ((ch = asyncctl_common_only(ctl, cmd, argc, argv)) != -1)
		return (ch);
	if ((ch = asyncctl_id_arg(cmd, argc, argv, id)) != -1)
		return (ch);
	if ((ch = asyncctl_connect(ctl)) != 0)
		return (ch);
	return (-1);
}

static int
asyncctl_status(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	struct asyncd_job	*job;
	char			 what[64];
	uint64_t		 id;
	int			 rv;

	if ((rv = asyncctl_one_id(ctl, cmd, argc, argv, &id)) != -1)
		return (rv);
	if ((rv = asyncd_status(ctl->c, id, &job)) != 0) {
		snprintf(what, sizeof what, "status %" PRIu64, id);
		return (asyncctl_fail(ctl, what, rv));
	}
	if (asyncctl_want_json(ctl))
		rv = asyncctl_print_job_json(job);
	else
		asyncctl_print_job_fields(job);
	asyncd_job_free(job);
	return (rv);
}

static int
asyncctl_forget(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "before", required_argument, NULL, 'b' },
		ASYNCCTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	char				*end;
	double				 before = 0;
	uint64_t			 id = 0, n = 0;
	int				 ch, rv, state = -1;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":s:b:jTh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			if (!asyncctl_parse_state(optarg, true, &state))
				return (asyncctl_usage(cmd, "invalid state "
				    "'%s' (a final state)", optarg));
			break;
		case 'b':
			if (!asyncctl_parse_when(optarg, &before))
				return (asyncctl_usage(cmd, "invalid time "
				    "'%s' (RFC 3339, or a duration ago)",
				    optarg));
			break;
		default:
			if ((rv = asyncctl_common_opt(ctl, cmd, ch,
			    argv)) != -1)
				return (rv);
			break;
		}
	}
	if (optind < argc) {
		errno = 0;
		id = strtoull(argv[optind], &end, 10);
		if (errno != 0 || *end != '\0' || id == 0 ||
		    argv[optind][0] == '-')
			return (asyncctl_usage(cmd, "invalid job id '%s'",
			    argv[optind]));
		if (++optind < argc)
			return (asyncctl_usage(cmd, "unexpected argument "
			    "'%s'", argv[optind]));
		if (state != -1 || before != 0)
			return (asyncctl_usage(cmd, "ID excludes --state and "
			    "--before"));
	} else if (state == -1 && before == 0)
		return (asyncctl_usage(cmd, "give ID, or --state or "
		    "--before"));
	if ((rv = asyncctl_connect(ctl)) != 0)
		return (rv);
	if ((rv = asyncd_forget(ctl->c, id, state, before, &n)) != 0)
		return (asyncctl_fail(ctl, "forget", rv));
	printf("%" PRIu64 "\n", n);
	return (ASYNCCTL_EXIT_OK);
}

/* A finished job's type and arguments, submitted anew. */
static int
asyncctl_retry(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	struct asyncd_job	*job;
	char			 what[64];
	uint64_t		 id, nid;
	int			 rv;

	if ((rv = asyncctl_one_id(ctl, cmd, argc, argv, &id)) != -1)
		return (rv);
	snprintf(what, sizeof what, "retry %" PRIu64, id);
	if ((rv = asyncd_status(ctl->c, id, &job)) != 0)
		return (asyncctl_fail(ctl, what, rv));
	if (!asyncd_job_done(job)) {
		asyncd_job_free(job);
		asyncctl_warnx("%s: the job has not finished (cancel it "
		    "first)", what);
		return (ASYNCCTL_EXIT_FAILED);
	}
	rv = asyncd_submit(ctl->c, asyncd_job_type(job), asyncd_job_args(job),
	    NULL, &nid, NULL);
	asyncd_job_free(job);
	if (rv != 0)
		return (asyncctl_fail(ctl, what, rv));
	printf("%" PRIu64 "\n", nid);
	return (ASYNCCTL_EXIT_OK);
}

static int
asyncctl_list(struct asyncctl *ctl, const struct asyncctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option	 longopts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "owner", required_argument, NULL, 'o' },
		{ "key", required_argument, NULL, 'k' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "limit", required_argument, NULL, 'n' },
		{ "before", required_argument, NULL, 'b' },
		ASYNCCTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	 headers[] = {
		"ID", "STATE", "TYPE", "KEY", "PARENT", "AGE", "RUNTIME",
		"ERROR"
	};
	struct asyncd_list_opts		 opts = { .state = -1 };
	struct asyncd_job		**jobs = NULL;
	struct output_table		*t;
	const char			*cells[NITEMS(headers)], *code;
	char				 id[24], parent[24], age[32], run[32];
	char				*text, *end;
	double				 now = output_now();
	double				 started, finished;
	unsigned long			 limit;
	size_t				 n, i;
	bool				 more = false;
	int				 ch, rv;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":s:t:o:k:S:U:n:b:jTh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			if (!asyncctl_parse_state(optarg, false, &opts.state))
				return (asyncctl_usage(cmd, "unknown state "
				    "'%s'", optarg));
			break;
		case 't':
			if (*optarg == '\0' || strlen(optarg) > 64)
				return (asyncctl_usage(cmd, "a job type is 1 "
				    "to 64 bytes long"));
			opts.type = optarg;
			break;
		case 'o':
			/* A uid as it is; a name must name a user. */
			if (*optarg == '\0' || ((*optarg < '0' ||
			    *optarg > '9') && getpwnam(optarg) == NULL))
				return (asyncctl_usage(cmd, "no user named "
				    "'%s'", optarg));
			opts.owner = optarg;
			break;
		case 'k':
			if (*optarg == '\0' || strlen(optarg) > 256)
				return (asyncctl_usage(cmd, "a key is 1 to "
				    "256 bytes long"));
			opts.key = optarg;
			break;
		case 'S':
		case 'U':
			if (!asyncctl_parse_when(optarg, ch == 'S' ?
			    &opts.since : &opts.until))
				return (asyncctl_usage(cmd, "invalid time "
				    "'%s' (RFC 3339, or a duration ago)",
				    optarg));
			break;
		case 'n':
			errno = 0;
			limit = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || limit < 1 ||
			    limit > ASYNCCTL_LIST_MAX)
				return (asyncctl_usage(cmd, "invalid limit "
				    "'%s' (1 to %d)", optarg,
				    ASYNCCTL_LIST_MAX));
			opts.limit = limit;
			break;
		case 'b':
			if (!asyncctl_parse_id(optarg, &opts.before))
				return (asyncctl_usage(cmd, "invalid job id "
				    "'%s'", optarg));
			break;
		default:
			if ((rv = asyncctl_common_opt(ctl, cmd, ch,
			    argv)) != -1)
				return (rv);
			break;
		}
	}
	if (optind < argc)
		return (asyncctl_usage(cmd, "unexpected argument '%s'",
		    argv[optind]));
	if (opts.since > 0 && opts.until > 0 && opts.since >= opts.until)
		return (asyncctl_usage(cmd, "--since must be earlier than "
		    "--until"));
	if ((rv = asyncctl_connect(ctl)) != 0)
		return (rv);
	if ((rv = asyncd_list(ctl->c, &opts, &jobs, &n, &more)) != 0)
		return (asyncctl_fail(ctl, "list", rv));

	rv = ASYNCCTL_EXIT_OK;
	if (asyncctl_want_json(ctl)) {
		/* One line, the daemon's reply body: jobs, and more. */
		fputs("{\"jobs\":[", stdout);
		for (i = 0; i < n; i++) {
			if ((text = asyncd_job_json(jobs[i])) == NULL) {
				rv = ASYNCCTL_EXIT_FAILED;
				break;
			}
			printf("%s%s", i > 0 ? "," : "", text);
			free(text);
		}
		printf("],\"more\":%s}\n", more ? "true" : "false");
		if (rv != ASYNCCTL_EXIT_OK)
			asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
		asyncd_jobs_free(jobs, n);
		return (rv);
	}

	if ((t = output_table_create(NITEMS(headers), headers)) == NULL) {
		asyncd_jobs_free(jobs, n);
		asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
		return (ASYNCCTL_EXIT_FAILED);
	}
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof id, "%" PRIu64, asyncd_job_id(jobs[i]));
		output_duration(age, sizeof age,
		    now - asyncd_job_created(jobs[i]));
		started = asyncd_job_started(jobs[i]);
		finished = asyncd_job_finished(jobs[i]);
		if (started > 0)
			output_duration(run, sizeof run, (finished > 0 ?
			    finished : now) - started);
		else
			snprintf(run, sizeof run, "-");
		if (asyncd_job_parent(jobs[i]) != 0)
			snprintf(parent, sizeof parent, "%" PRIu64,
			    asyncd_job_parent(jobs[i]));
		else
			snprintf(parent, sizeof parent, "-");
		/* Only failed, cancelled and timed-out jobs have one. */
		code = asyncd_job_error_code(jobs[i]);
		cells[0] = id;
		cells[1] = asyncd_state_name(asyncd_job_state(jobs[i]));
		cells[2] = asyncd_job_type(jobs[i]);
		cells[3] = asyncd_job_key(jobs[i]) != NULL ?
		    asyncd_job_key(jobs[i]) : "-";
		cells[4] = parent;
		cells[5] = age;
		cells[6] = run;
		cells[7] = code != NULL ? code : "-";
		if (output_table_add(t, cells) != 0) {
			rv = ASYNCCTL_EXIT_FAILED;
			asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
			break;
		}
	}
	output_table_print(t, stdout);
	if (more && n > 0)
		printf("(more: asyncctl list --before %" PRIu64 ")\n",
		    asyncd_job_id(jobs[n - 1]));
	output_table_free(t);
	asyncd_jobs_free(jobs, n);
	return (rv);
}

/*
 * Cancel found the job already finished and left it alone: say how it
 * ended (a status away), and exit 1 as for any refusal.
 */
static int
asyncctl_cancel_done(struct asyncctl *ctl, uint64_t id)
{
	struct asyncd_job	*job;

	if (asyncd_status(ctl->c, id, &job) != 0) {
		asyncctl_warnx("job %" PRIu64 ": already finished", id);
		return (ASYNCCTL_EXIT_FAILED);
	}
	if (ctl->json)
		(void)asyncctl_print_job_json(job);
	asyncctl_warnx("job %" PRIu64 ": already finished (%s)", id,
	    asyncd_state_name(asyncd_job_state(job)));
	asyncd_job_free(job);
	return (ASYNCCTL_EXIT_FAILED);
}

static int
asyncctl_cancel(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "wait", required_argument, NULL, 'w' },
		ASYNCCTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct asyncd_job		*job;
	char				 what[64];
	double				 wait = 0;
	uint64_t			 id;
	int				 ch, rv;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":w:jTh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			if (!asyncctl_parse_seconds(optarg, &wait))
				return (asyncctl_usage(cmd, "invalid wait "
				    "'%s' (seconds, 0 to 2592000)", optarg));
			break;
		default:
			if ((rv = asyncctl_common_opt(ctl, cmd, ch,
			    argv)) != -1)
				return (rv);
			break;
		}
	}
	if ((rv = asyncctl_id_arg(cmd, argc, argv, &id)) != -1)
		return (rv);
	if ((rv = asyncctl_connect(ctl)) != 0)
		return (rv);
	if ((rv = asyncd_cancel(ctl->c, id, wait, &job)) == ASYNCD_EDONE)
		return (asyncctl_cancel_done(ctl, id));
	if (rv != 0) {
		snprintf(what, sizeof what, "cancel %" PRIu64, id);
		return (asyncctl_fail(ctl, what, rv));
	}
	/* What happened, in words, piped or not; JSON when asked. */
	if (ctl->json)
		rv = asyncctl_print_job_json(job);
	else if (asyncd_job_done(job))
		printf("job %" PRIu64 ": %s\n", id,
		    asyncd_state_name(asyncd_job_state(job)));
	else
		printf("job %" PRIu64 ": %s, cancel requested\n", id,
		    asyncd_state_name(asyncd_job_state(job)));
	asyncd_job_free(job);
	return (rv);
}

static int
asyncctl_types(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	static const char *const	  headers[] = {
		"NAME", "DESCRIPTION"
	};
	struct output_table		 *t;
	const char			 *cells[2];
	char				**names, **descs;
	cJSON				 *arr, *item;
	size_t				  n, i;
	int				  rv;

	if ((rv = asyncctl_no_args(ctl, cmd, argc, argv)) != -1)
		return (rv);
	if ((rv = asyncd_types(ctl->c, &names, &descs, &n)) != 0)
		return (asyncctl_fail(ctl, "types", rv));
	rv = ASYNCCTL_EXIT_OK;
	if (asyncctl_want_json(ctl)) {
		if ((arr = cJSON_CreateArray()) == NULL)
			rv = ASYNCCTL_EXIT_FAILED;
		for (i = 0; rv == 0 && i < n; i++) {
			if ((item = cJSON_CreateObject()) == NULL ||
			    !cJSON_AddItemToArray(arr, item) ||
			    cJSON_AddStringToObject(item, "name",
			    names[i]) == NULL ||
			    cJSON_AddStringToObject(item, "description",
			    descs[i]) == NULL)
				rv = ASYNCCTL_EXIT_FAILED;
		}
		if (rv == 0 && !output_json(stdout, arr))
			rv = ASYNCCTL_EXIT_FAILED;
		cJSON_Delete(arr);
	} else if ((t = output_table_create(2, headers)) == NULL) {
		rv = ASYNCCTL_EXIT_FAILED;
	} else {
		for (i = 0; rv == 0 && i < n; i++) {
			cells[0] = names[i];
			cells[1] = descs[i];
			if (output_table_add(t, cells) != 0)
				rv = ASYNCCTL_EXIT_FAILED;
		}
		output_table_print(t, stdout);
		output_table_free(t);
	}
	if (rv != ASYNCCTL_EXIT_OK)
		asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
	asyncd_types_free(names, descs, n);
	return (rv);
}

static int
asyncctl_stats(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	static const char *const names[] = {
		"queued", "running", "succeeded", "failed", "cancelled",
		"timed_out", "submitted", "finished", "max_running",
		"max_queued"
	};
	struct asyncd_stats	 st;
	uint64_t		 values[10];
	cJSON			*obj;
	char			 d[32];
	size_t			 i;
	int			 rv;

	if ((rv = asyncctl_no_args(ctl, cmd, argc, argv)) != -1)
		return (rv);
	if ((rv = asyncd_stats(ctl->c, &st)) != 0)
		return (asyncctl_fail(ctl, "stats", rv));
	values[0] = st.queued;
	values[1] = st.running;
	values[2] = st.succeeded;
	values[3] = st.failed;
	values[4] = st.cancelled;
	values[5] = st.timed_out;
	values[6] = st.submitted;
	values[7] = st.finished;
	values[8] = st.max_running;
	values[9] = st.max_queued;

	if (!asyncctl_want_json(ctl)) {
		for (i = 0; i < 8; i++)
			output_field(stdout, names[i], "%" PRIu64, values[i]);
		output_duration(d, sizeof d, st.uptime);
		output_field(stdout, "uptime", "%s", d);
		for (; i < 10; i++)
			output_field(stdout, names[i], "%" PRIu64, values[i]);
		return (ASYNCCTL_EXIT_OK);
	}
	/* The daemon's stats object, field for field. */
	if ((obj = cJSON_CreateObject()) == NULL)
		goto nomem;
	for (i = 0; i < 10; i++) {
		if (i == 8 && cJSON_AddNumberToObject(obj, "uptime",
		    st.uptime) == NULL)
			goto nomem;
		if (cJSON_AddNumberToObject(obj, names[i],
		    (double)values[i]) == NULL)
			goto nomem;
	}
	if (!output_json(stdout, obj))
		goto nomem;
	cJSON_Delete(obj);
	return (ASYNCCTL_EXIT_OK);
nomem:
	cJSON_Delete(obj);
	asyncctl_warnx("%s", asyncd_strerror(ASYNCD_ENOMEM));
	return (ASYNCCTL_EXIT_FAILED);
}

static int
asyncctl_shutdown(struct asyncctl *ctl, const struct asyncctl_cmd *cmd,
    int argc, char **argv)
{
	int	rv;

	if ((rv = asyncctl_no_args(ctl, cmd, argc, argv)) != -1)
		return (rv);
	if ((rv = asyncd_shutdown(ctl->c)) != 0)
		return (asyncctl_fail(ctl, "shutdown", rv));
	return (ASYNCCTL_EXIT_OK);
}

/* The whole help: usage, options, commands, exit statuses. */
static void
asyncctl_help_all(FILE *f)
{
	size_t	i;

	fputs("usage: asyncctl [--socket URL] [--json | --table] COMMAND "
	    "[ARGS...]\n"
	    "       asyncctl help [COMMAND]\n"
	    "       asyncctl --version\n"
	    "\n"
	    "Submits jobs to asyncd, the job daemon, waits for them and\n"
	    "looks at the daemon. A job is a named coroutine (a job type)\n"
	    "run with JSON arguments; its id is a future to wait on, poll\n"
	    "or cancel. 'asyncctl run -- CMD' runs a command there, its\n"
	    "output and exit status coming back as if it ran here.\n"
	    "\n"
	    "Options:\n"
	    "  -s, --socket URL   the daemon's socket (default: "
	    "$ASYNCD_SOCKET, else\n"
	    "                     ipc://$XDG_RUNTIME_DIR/asyncd/asyncd.sock,\n"
	    "                     else ipc:///run/asyncd/asyncd.sock as root\n"
	    "                     or ipc:///tmp/asyncd-$UID/asyncd.sock; if\n"
	    "                     that socket does not exist and the system\n"
	    "                     one, ipc:///run/asyncd/asyncd.sock, does,\n"
	    "                     the system one)\n"
	    "  -j, --json         print JSON (the default for list, status,\n"
	    "                     stats and types when stdout is not a "
	    "terminal)\n"
	    "  -T, --table        print tables and key: value lines for "
	    "list,\n"
	    "                     status, stats and types even when stdout "
	    "is\n"
	    "                     not a terminal (watch asyncctl list "
	    "--table)\n"
	    "  -C, --connect-timeout S\n"
	    "                     how long to wait for the daemon to accept "
	    "a\n"
	    "                     connection before exiting 3 (default 2); "
	    "an\n"
	    "                     ipc socket file that does not exist exits 3 "
	    "at\n"
	    "                     once\n"
	    "  -h, --help         show this help\n"
	    "  -V, --version      show asyncctl's version\n"
	    "\n"
	    "Errors are one line on stderr starting \"asyncctl:\" (wait: one "
	    "per job\n"
	    "that did not succeed); a usage error adds the usage line.\n"
	    "\n"
	    "Commands:\n", f);
	for (i = 0; i < ASYNCCTL_NCMDS; i++)
		fprintf(f, "  %s%s%s\n      %s\n", asyncctl_cmds[i].name,
		    *asyncctl_cmds[i].usage != '\0' ? " " : "",
		    asyncctl_cmds[i].usage, asyncctl_cmds[i].summary);
	fprintf(f, "\n%s\nRun 'asyncctl help COMMAND' for a command's "
	    "options.\n", asyncctl_exits);
}

static const struct asyncctl_cmd *
asyncctl_find(const char *name)
{
	size_t	i;

	for (i = 0; i < ASYNCCTL_NCMDS; i++) {
		if (strcmp(asyncctl_cmds[i].name, name) == 0)
			return (&asyncctl_cmds[i]);
	}
	return (NULL);
}

static int
asyncctl_help(struct asyncctl *ctl, const struct asyncctl_cmd *cmd, int argc,
    char **argv)
{
	const struct asyncctl_cmd	*which;

	(void)ctl;
	if (argc > 2)
		return (asyncctl_usage(cmd, "unexpected argument '%s'",
		    argv[2]));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		asyncctl_help_all(stdout);
		return (ASYNCCTL_EXIT_OK);
	}
	if ((which = asyncctl_find(argv[1])) == NULL)
		return (asyncctl_usage(cmd, "unknown command '%s'", argv[1]));
	asyncctl_cmd_help(which);
	return (ASYNCCTL_EXIT_OK);
}

int
main(int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "table", no_argument, NULL, 'T' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct asyncctl_cmd	*cmd;
	struct asyncctl			 ctl = {
		.connect = ASYNCCTL_CONNECT_TIMEOUT,
	};
	int				 ch, rv;

	/* Our own messages, in asyncctl's words. */
	opterr = 0;
	/* '+': stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+:s:jTC:hV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 's':
			ctl.url = optarg;
			break;
		case 'C':
			if (!asyncctl_parse_seconds(optarg, &ctl.connect))
				return (asyncctl_usage(NULL, "invalid connect "
				    "timeout '%s' (seconds)", optarg));
			break;
		case 'j':
		case 'T':
			if ((rv = asyncctl_format(&ctl, NULL, ch)) != -1)
				return (rv);
			break;
		case 'h':
			asyncctl_help_all(stdout);
			return (ASYNCCTL_EXIT_OK);
		case 'V':
			printf("asyncctl %s (libasyncd %s)\n", ASYNCD_VERSION,
			    ASYNCD_LIB_VERSION);
			return (ASYNCCTL_EXIT_OK);
		default:
			return (asyncctl_badopt(NULL, ch, argv));
		}
	}
	if (optind >= argc)
		return (asyncctl_usage(NULL, "missing command (try 'asyncctl "
		    "help')"));
	if ((cmd = asyncctl_find(argv[optind])) == NULL)
		return (asyncctl_usage(NULL, "unknown command '%s' (try "
		    "'asyncctl help')", argv[optind]));

	/* The command sees its name as argv[0], as getopt expects. */
	rv = cmd->exec(&ctl, cmd, argc - optind, argv + optind);
	asyncd_close(ctl.c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		asyncctl_warnx("error writing to standard output: %s",
		    strerror(errno));
		if (rv == ASYNCCTL_EXIT_OK)
			rv = ASYNCCTL_EXIT_FAILED;
	}
	return (rv);
}
