/*
 * log.c: logging to stderr.
 *
 * Each line starts with a syslog priority prefix ("<4>") when stderr goes
 * to the journal (systemd sets $JOURNAL_STREAM), so journald files it at
 * the right level; otherwise with "asyncd: warning: " for people.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon.h"

static enum log_level	log_level = LOG_INFO;
static bool		log_journal;

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

static void __attribute__((format(printf, 3, 0)))
log_vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char	buf[1024];

	if (level > log_level)
		return;
	vsnprintf(buf, sizeof buf, fmt, ap);
	if (log_journal)
		fprintf(stderr, "%s", log_levels[level].prefix);
	else
		fprintf(stderr, "asyncd: %s: ", log_levels[level].name);
	if (errnum != 0)
		fprintf(stderr, "%s: %s\n", buf, strerror(errnum));
	else
		fprintf(stderr, "%s\n", buf);
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
	abort();
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	abort();
}
