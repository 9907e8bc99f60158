/*
 * output.c: how asyncctl prints for people: aligned tables, key: value
 * lines, durations and times. JSON for scripts is printed compact, one
 * value per line, so that line-oriented tools can split it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asyncctl.h"

/* Where values start in key: value lines: past the longest key. */
#define OUTPUT_KEY_WIDTH	13

struct output_table {
	size_t	  ncols;
	size_t	  nrows;	/* including the header row */
	size_t	  cap;
	char	**cells;	/* nrows * ncols */
};

struct output_table *
output_table_create(size_t ncols, const char *const *headers)
{
	struct output_table	*t;

	if ((t = calloc(1, sizeof *t)) == NULL)
		return (NULL);
	t->ncols = ncols;
	if (output_table_add(t, headers) != 0) {
		output_table_free(t);
		return (NULL);
	}
	return (t);
}

int
output_table_add(struct output_table *t, const char *const *cells)
{
	char	**grown;
	size_t	  i, base;

	if (t->nrows == t->cap) {
		t->cap = t->cap == 0 ? 16 : t->cap * 2;
		grown = reallocarray(t->cells, t->cap * t->ncols,
		    sizeof *t->cells);
		if (grown == NULL)
			return (ASYNCD_ENOMEM);
		t->cells = grown;
	}
	base = t->nrows * t->ncols;
	for (i = 0; i < t->ncols; i++) {
		if ((t->cells[base + i] = strdup(cells[i] != NULL ? cells[i] :
		    "")) == NULL) {
			while (i-- > 0)
				free(t->cells[base + i]);
			return (ASYNCD_ENOMEM);
		}
	}
	t->nrows++;
	return (0);
}

void
output_table_print(const struct output_table *t, FILE *f)
{
	size_t	*width, r, i, n;

	if ((width = calloc(t->ncols, sizeof *width)) == NULL)
		return;
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			n = strlen(t->cells[r * t->ncols + i]);
			if (n > width[i])
				width[i] = n;
		}
	}
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			/* No padding after the last column. */
			if (i + 1 == t->ncols)
				fprintf(f, "%s\n", t->cells[r * t->ncols + i]);
			else
				fprintf(f, "%-*s  ", (int)width[i],
				    t->cells[r * t->ncols + i]);
		}
	}
	free(width);
}

void
output_table_free(struct output_table *t)
{
	size_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void
output_duration(char *buf, size_t len, double s)
{
	long long	n;

	if (!isfinite(s) || s < 0)
		s = 0;
	if (s < 1) {
		snprintf(buf, len, "%.0fms", s * 1000);
		return;
	}
	if (s < 10) {
		snprintf(buf, len, "%.1fs", s);
		return;
	}
	n = (long long)s;
	if (n < 60)
		snprintf(buf, len, "%llds", n);
	else if (n < 3600)
		snprintf(buf, len, "%lldm%02llds", n / 60, n % 60);
	else if (n < 86400)
		snprintf(buf, len, "%lldh%02lldm", n / 3600, n % 3600 / 60);
	else
		snprintf(buf, len, "%lldd%02lldh", n / 86400,
		    n % 86400 / 3600);
}

void
output_time(char *buf, size_t len, double when)
{
	struct tm	tm;
	time_t		t = (time_t)when;
	char		date[32];
	int		ms;

	ms = (int)((when - (double)t) * 1000.0 + 0.5);
	if (ms >= 1000) {
		t++;
		ms -= 1000;
	}
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "%.3f", when);
		return;
	}
	snprintf(buf, len, "%s.%03d", date, ms);
}

void
output_field(FILE *f, const char *key, const char *fmt, ...)
{
	va_list	ap;

	fprintf(f, "%s:%*s", key, (int)(OUTPUT_KEY_WIDTH - strlen(key)), "");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

bool
output_json(FILE *f, const cJSON *item)
{
	char	*text;

	if ((text = cJSON_PrintUnformatted(item)) == NULL)
		return (false);
	fprintf(f, "%s\n", text);
	cJSON_free(text);
	return (true);
}

double
output_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}
