/*
 * log.c: logging to stderr.
 *
 * Each line starts with a syslog priority prefix ("<4>") when stderr goes
 * to the journal (systemd sets $JOURNAL_STREAM), so journald files it at
 * the right level; otherwise with "asyncd: warning: " for people.
 *
 * A line is formatted whole and written with one write(2), so lines from
 * different threads never mix. The loop thread logs a line per finished
 * job, which at thousands of jobs a second would be thousands of system
 * calls: with batching on, its lines are collected and leave together,
 * at most LOG_DELAY seconds after the first of them (main.c's timer calls
 * log_flush), or when the buffer fills, or at once for errors and at
 * exit. Other threads write at once.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* The longest line; longer ones are cut. */
#define LOG_LINE	1024
/* The batch buffer: a few dozen lines per write. */
#define LOG_BATCH	(16 * 1024)

static enum log_level	log_level = LOG_INFO;
static bool		log_journal;
/* The batching thread's buffer; only that thread touches it. */
static bool		log_batching;
static pthread_t	log_batcher;
static char		log_buf[LOG_BATCH];
static size_t		log_len;

static const struct {
	const char	*name;
	const char	*prefix;	/* sd-daemon.h's SD_ERR and so on */
} log_levels[] = {
	[LOG_ERROR] = { "error", "<3>" },
	[LOG_WARNING] = { "warning", "<4>" },
	[LOG_INFO] = { "info", "<6>" },
	[LOG_DEBUG] = { "debug", "<7>" },
};

/* True if stderr is the stream $JOURNAL_STREAM names ("dev:inode"). */
static bool
log_is_journal(void)
{
	const char		*env;
	struct stat		 st;
	unsigned long long	 dev, ino;

	if ((env = getenv("JOURNAL_STREAM")) == NULL ||
	    sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return (false);
	if (fstat(STDERR_FILENO, &st) == -1)
		return (false);
	return (st.st_dev == dev && st.st_ino == ino);
}

void
log_init(enum log_level level)
{
	log_level = level;
	log_journal = log_is_journal();
}

int
log_level_parse(const char *name)
{
	size_t	i;

	for (i = 0; i < nitems(log_levels); i++) {
		if (strcmp(log_levels[i].name, name) == 0)
			return ((int)i);
	}
	return (-1);
}

/* Writes it all, retrying short writes; errors are dropped (stderr). */
static void
log_write(const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(STDERR_FILENO, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

void
log_batch(bool on)
{
	log_flush();
	log_batching = on;
	log_batcher = pthread_self();
}

bool
log_pending(void)
{
	return (log_len > 0);
}

void
log_flush(void)
{
	if (log_len > 0 && pthread_equal(pthread_self(), log_batcher)) {
		log_write(log_buf, log_len);
		log_len = 0;
	}
}

static void __attribute__((format(printf, 3, 0)))
log_vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char	line[LOG_LINE];
	int	n, m;

	if (level > log_level)
		return;
	if (log_journal)
		n = snprintf(line, sizeof line, "%s", log_levels[level].prefix);
	else
		n = snprintf(line, sizeof line, "asyncd: %s: ",
		    log_levels[level].name);
	m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	n = m < 0 || (size_t)(n + m) >= sizeof line - 1 ?
	    (int)sizeof line - 2 : n + m;
	if (errnum != 0) {
		m = snprintf(line + n, sizeof line - (size_t)n, ": %s",
		    strerror(errnum));
		n = m < 0 || (size_t)(n + m) >= sizeof line - 1 ?
		    (int)sizeof line - 2 : n + m;
	}
	line[n++] = '\n';
	if (!log_batching || !pthread_equal(pthread_self(), log_batcher) ||
	    level <= LOG_WARNING) {
		log_flush();
		log_write(line, (size_t)n);
		return;
	}
	if (log_len + (size_t)n > sizeof log_buf)
		log_flush();
	memcpy(log_buf + log_len, line, (size_t)n);
	log_len += (size_t)n;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vlog(LOG_ERROR, saved, fmt, ap);
	va_end(ap);
	log_flush();
	abort();
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	log_flush();
	abort();
}
