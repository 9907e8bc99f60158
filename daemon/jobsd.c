/*
 * jobsd.c: configured commands: job types defined by JSON files in the
 * jobs directory (--jobs-dir): "backup.json" defines the type "backup".
 *
 *	{
 *	  "description": "copies a directory with rsync",
 *	  "argv": ["rsync", "-a", "--", "{src}", "{dest}"],
 *	  "args": {
 *	    "src":  {"type": "string", "required": true},
 *	    "dest": {"type": "string", "required": true}
 *	  },
 *	  "timeout": 3600, "concurrency": 1, "allow": ["alice", "@backup"]
 *	}
 *
 * An argv element that is exactly "{name}" takes the job's argument of
 * that name, as one element, whatever it holds: no shell ever sees it, so
 * "; rm -rf /", "$(...)" and newlines arrive as literal text. An optional
 * argument left out (with no default) drops its element. An element with
 * a placeholder and other text ("{src}/") is refused when the file is
 * read, so that nobody expects a substitution that does not happen.
 *
 * A file that does not parse, has an unknown key or a bad value is logged
 * with its name and the reason, and skipped: the others load. asyncd
 * --check-jobs reads the directory the same way and exits non-zero if any
 * file is bad. Files are read at startup (off the request path).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* The largest file read: a command's definition, not its data. */
#define JOBSD_MAX_FILE		(256 * 1024)
#define JOBSD_MAX_ARGS		64

enum jobsd_kind {
	JOBSD_STRING,
	JOBSD_NUMBER,
	JOBSD_INTEGER,
	JOBSD_BOOLEAN
};

static const char *const jobsd_kinds[] = {
	[JOBSD_STRING] = "string",
	[JOBSD_NUMBER] = "number",
	[JOBSD_INTEGER] = "integer",
	[JOBSD_BOOLEAN] = "boolean",
};

/* For messages: "a string", "an integer". */
static const char *
jobsd_article(enum jobsd_kind kind)
{
	return (kind == JOBSD_INTEGER ? "an" : "a");
}

struct jobsd_arg {
	char		*name;
	enum jobsd_kind	 kind;
	bool		 required;
	cJSON		*dflt;		/* NULL: none */
	char		*description;
};

/* One configured command; its ad_type is what the registry holds. */
struct jobsd_type {
	struct ad_type	 t;
	char		*name;
	char		*description;
	char		**argv;		/* the template */
	size_t		 argc;
	struct jobsd_arg *args;
	size_t		 nargs;
	cJSON		*settings;	/* env, cwd, output_cap, kill_grace */
	double		 timeout;
	size_t		 concurrency;
	struct acl	*allow;		/* NULL: everyone */
	char		*delivery;
};

struct jobsd {
	struct jobsd_type **types;
	size_t		   n;
};

/* The keys a file may have; anything else is an error. */
static const char *const jobsd_keys[] = {
	"description", "argv", "args", "timeout", "env", "cwd", "output_cap",
	"kill_grace", "concurrency", "allow", "delivery", NULL
};
static const char *const jobsd_arg_keys[] = {
	"type", "required", "default", "description", NULL
};

static bool
jobsd_known(const char *const *keys, const char *key)
{
	for (; *keys != NULL; keys++) {
		if (strcmp(*keys, key) == 0)
			return (true);
	}
	return (false);
}

static int __attribute__((format(printf, 2, 3)))
jobsd_err(char **cause, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return (ASYNCD_EINVAL);
}

/* The argument name of a whole-element placeholder "{name}", or NULL. */
static const char *
jobsd_placeholder(const char *elem, char *buf, size_t len)
{
	size_t	n = strlen(elem);

	if (n < 3 || elem[0] != '{' || elem[n - 1] != '}' || n - 2 >= len)
		return (NULL);
	memcpy(buf, elem + 1, n - 2);
	buf[n - 2] = '\0';
	if (strspn(buf, "abcdefghijklmnopqrstuvwxyz0123456789_") != n - 2)
		return (NULL);
	return (buf);
}

static struct jobsd_arg *
jobsd_find_arg(struct jobsd_type *jt, const char *name)
{
	size_t	i;

	for (i = 0; i < jt->nargs; i++) {
		if (strcmp(jt->args[i].name, name) == 0)
			return (&jt->args[i]);
	}
	return (NULL);
}

/* True if value is of kind. */
static bool
jobsd_fits(enum jobsd_kind kind, const cJSON *v)
{
	switch (kind) {
	case JOBSD_STRING:
		return (cJSON_IsString(v));
	case JOBSD_NUMBER:
		return (cJSON_IsNumber(v) && isfinite(v->valuedouble));
	case JOBSD_INTEGER:
		return (cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
		    v->valuedouble == floor(v->valuedouble) &&
		    fabs(v->valuedouble) < 0x1p53);
	case JOBSD_BOOLEAN:
		return (cJSON_IsBool(v));
	}
	return (false);
}

static int
jobsd_parse_args(struct jobsd_type *jt, const cJSON *args, char **cause)
{
	const cJSON		*spec, *item;
	struct jobsd_arg	*a;
	size_t			 k;

	if (args == NULL)
		return (0);
	if (!cJSON_IsObject(args))
		return (jobsd_err(cause, "'args' must be an object of "
		    "argument specifications"));
	if (cJSON_GetArraySize(args) > JOBSD_MAX_ARGS)
		return (jobsd_err(cause, "'args' has more than %d arguments",
		    JOBSD_MAX_ARGS));
	jt->args = xcalloc((size_t)cJSON_GetArraySize(args), sizeof *jt->args);
	cJSON_ArrayForEach(spec, args) {
		if (strlen(spec->string) == 0 || strlen(spec->string) > 64 ||
		    strspn(spec->string, "abcdefghijklmnopqrstuvwxyz0123456789"
		    "_") != strlen(spec->string))
			return (jobsd_err(cause, "args: '%.64s' is not a name "
			    "([a-z0-9_], at most 64)", spec->string));
		if (!cJSON_IsObject(spec))
			return (jobsd_err(cause, "args.%s must be an object",
			    spec->string));
		cJSON_ArrayForEach(item, spec) {
			if (!jobsd_known(jobsd_arg_keys, item->string))
				return (jobsd_err(cause, "args.%s: unknown key "
				    "'%.64s'", spec->string, item->string));
		}
		a = &jt->args[jt->nargs++];
		a->name = xstrdup(spec->string);
		item = cJSON_GetObjectItemCaseSensitive(spec, "type");
		if (item == NULL)
			a->kind = JOBSD_STRING;
		else {
			for (k = 0; k < nitems(jobsd_kinds); k++) {
				if (cJSON_IsString(item) &&
				    strcmp(item->valuestring,
				    jobsd_kinds[k]) == 0)
					break;
			}
			if (k == nitems(jobsd_kinds))
				return (jobsd_err(cause, "args.%s.type must be "
				    "string, number, integer or boolean",
				    spec->string));
			a->kind = k;
		}
		item = cJSON_GetObjectItemCaseSensitive(spec, "required");
		if (item != NULL && !cJSON_IsBool(item))
			return (jobsd_err(cause, "args.%s.required must be "
			    "true or false", spec->string));
		a->required = cJSON_IsTrue(item);
		item = cJSON_GetObjectItemCaseSensitive(spec, "default");
		if (item != NULL) {
			if (!jobsd_fits(a->kind, item))
				return (jobsd_err(cause, "args.%s.default "
				    "must be %s %s", spec->string,
				    jobsd_article(a->kind),
				    jobsd_kinds[a->kind]));
			if (a->required)
				return (jobsd_err(cause, "args.%s: a required "
				    "argument has no default", spec->string));
			a->dflt = cJSON_Duplicate(item, true);
		}
		item = cJSON_GetObjectItemCaseSensitive(spec, "description");
		if (item != NULL && !cJSON_IsString(item))
			return (jobsd_err(cause, "args.%s.description must be "
			    "a string", spec->string));
		if (item != NULL)
			a->description = xstrdup(item->valuestring);
	}
	return (0);
}

static int
jobsd_parse_argv(struct jobsd_type *jt, const cJSON *argv, char **cause)
{
	const cJSON	*item;
	char		 buf[80], *open, *close;
	size_t		 i = 0, n;

	n = cJSON_IsArray(argv) ? (size_t)cJSON_GetArraySize(argv) : 0;
	if (n < 1)
		return (jobsd_err(cause, "'argv' must be an array of strings, "
		    "the command first"));
	jt->argv = xcalloc(n + 1, sizeof *jt->argv);
	cJSON_ArrayForEach(item, argv) {
		if (!cJSON_IsString(item) || (i == 0 &&
		    item->valuestring[0] == '\0'))
			return (jobsd_err(cause, "argv[%zu] must be a%s string",
			    i, i == 0 ? " non-empty" : ""));
		if (jobsd_placeholder(item->valuestring, buf,
		    sizeof buf) != NULL) {
			if (i == 0)
				return (jobsd_err(cause, "argv[0] must be the "
				    "command, not a placeholder"));
			if (jobsd_find_arg(jt, buf) == NULL)
				return (jobsd_err(cause, "argv[%zu]: no "
				    "argument named '%s' in 'args'", i, buf));
		} else {
			/* "{src}/": a placeholder that would not be one. */
			for (open = strchr(item->valuestring, '{');
			    open != NULL; open = strchr(open + 1, '{')) {
				if ((close = strchr(open, '}')) == NULL ||
				    (size_t)(close - open - 1) >= sizeof buf)
					continue;
				memcpy(buf, open + 1, close - open - 1);
				buf[close - open - 1] = '\0';
				if (jobsd_find_arg(jt, buf) != NULL)
					return (jobsd_err(cause, "argv[%zu]: "
					    "'%.64s': a placeholder must be a "
					    "whole element", i,
					    item->valuestring));
			}
		}
		jt->argv[i++] = xstrdup(item->valuestring);
	}
	jt->argc = n;
	return (0);
}

static int
jobsd_parse(struct jobsd_type *jt, const cJSON *obj, char **cause)
{
	const cJSON	*item, *who;
	const char	**names;
	size_t		 n = 0;
	double		 d;
	int		 rv;

	if (!cJSON_IsObject(obj))
		return (jobsd_err(cause, "not a JSON object"));
	cJSON_ArrayForEach(item, obj) {
		if (!jobsd_known(jobsd_keys, item->string))
			return (jobsd_err(cause, "unknown key '%.64s'",
			    item->string));
	}
	item = cJSON_GetObjectItemCaseSensitive(obj, "description");
	if (item != NULL && !cJSON_IsString(item))
		return (jobsd_err(cause, "'description' must be a string"));
	jt->description = xstrdup(item != NULL ? item->valuestring :
	    "a configured command");
	if ((rv = jobsd_parse_args(jt, cJSON_GetObjectItemCaseSensitive(obj,
	    "args"), cause)) != 0)
		return (rv);
	if ((rv = jobsd_parse_argv(jt, cJSON_GetObjectItemCaseSensitive(obj,
	    "argv"), cause)) != 0)
		return (rv);
	/* env, cwd, output_cap, kill_grace: as the exec type checks them. */
	if ((rv = exec_check_common(obj, cause)) != 0)
		return (rv);
	jt->settings = cJSON_CreateObject();
	cJSON_ArrayForEach(item, obj) {
		if (strcmp(item->string, "env") == 0 ||
		    strcmp(item->string, "cwd") == 0 ||
		    strcmp(item->string, "output_cap") == 0 ||
		    strcmp(item->string, "kill_grace") == 0)
			cJSON_AddItemToObject(jt->settings, item->string,
			    cJSON_Duplicate(item, true));
	}
	item = cJSON_GetObjectItemCaseSensitive(obj, "timeout");
	if (item != NULL && (proto_get_seconds(item, &d) != 0))
		return (jobsd_err(cause, "'timeout' must be a number of "
		    "seconds"));
	jt->timeout = item != NULL ? d : 0;
	item = cJSON_GetObjectItemCaseSensitive(obj, "concurrency");
	if (item != NULL && (!cJSON_IsNumber(item) || item->valuedouble < 1 ||
	    item->valuedouble > 1e6 ||
	    item->valuedouble != floor(item->valuedouble)))
		return (jobsd_err(cause, "'concurrency' must be an integer "
		    "from 1"));
	jt->concurrency = item != NULL ? (size_t)item->valuedouble : 0;
	item = cJSON_GetObjectItemCaseSensitive(obj, "delivery");
	if (item != NULL && (!cJSON_IsString(item) ||
	    (strcmp(item->valuestring, "at_most_once") != 0 &&
	    strcmp(item->valuestring, "at_least_once") != 0)))
		return (jobsd_err(cause, "'delivery' must be at_most_once or "
		    "at_least_once"));
	jt->delivery = xstrdup(item != NULL ? item->valuestring :
	    "at_most_once");
	item = cJSON_GetObjectItemCaseSensitive(obj, "allow");
	if (item != NULL) {
		if (!cJSON_IsArray(item))
			return (jobsd_err(cause, "'allow' must be an array of "
			    "user names and @groups"));
		names = xcalloc((size_t)cJSON_GetArraySize(item) + 1,
		    sizeof *names);
		cJSON_ArrayForEach(who, item) {
			if (!cJSON_IsString(who)) {
				free(names);
				return (jobsd_err(cause, "'allow' must be an "
				    "array of user names and @groups"));
			}
			names[n++] = who->valuestring;
		}
		rv = acl_create(&jt->allow, names, n, cause);
		free(names);
		if (rv != 0) {
			char	*why = *cause;

			xasprintf(cause, "allow: %s", why);
			free(why);
			return (rv);
		}
	}
	return (0);
}

static void
jobsd_type_free(struct jobsd_type *jt)
{
	size_t	i;

	if (jt == NULL)
		return;
	for (i = 0; jt->argv != NULL && jt->argv[i] != NULL; i++)
		free(jt->argv[i]);
	free(jt->argv);
	for (i = 0; i < jt->nargs; i++) {
		free(jt->args[i].name);
		cJSON_Delete(jt->args[i].dflt);
		free(jt->args[i].description);
	}
	free(jt->args);
	cJSON_Delete(jt->settings);
	acl_free(jt->allow);
	free(jt->name);
	free(jt->description);
	free(jt->delivery);
	free(jt);
}

/* ---- the job type */

static struct jobsd_type *
jobsd_of(const struct ad_type *t)
{
	return (container_of(t, struct jobsd_type, t));
}

static int
jobsd_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	struct jobsd_type	*jt = jobsd_of(ad_check_type(chk));
	struct jobsd_arg	*a;
	const cJSON		*item;
	size_t			 i;

	if (!cJSON_IsObject(args) && !cJSON_IsNull(args)) {
		xasprintf(cause, "%s takes an object of arguments", jt->name);
		return (ASYNCD_EBADARGS);
	}
	cJSON_ArrayForEach(item, args) {
		if ((a = jobsd_find_arg(jt, item->string)) == NULL) {
			xasprintf(cause, "%s has no argument '%.64s'", jt->name,
			    item->string);
			return (ASYNCD_EBADARGS);
		}
		if (!jobsd_fits(a->kind, item)) {
			xasprintf(cause, "'%s' must be %s %s", a->name,
			    jobsd_article(a->kind), jobsd_kinds[a->kind]);
			return (ASYNCD_EBADARGS);
		}
	}
	for (i = 0; i < jt->nargs; i++) {
		if (jt->args[i].required &&
		    (cJSON_IsNull(args) || cJSON_GetObjectItemCaseSensitive(
		    args, jt->args[i].name) == NULL)) {
			xasprintf(cause, "%s needs the argument '%s'",
			    jt->name, jt->args[i].name);
			return (ASYNCD_EBADARGS);
		}
	}
	return (0);
}

/* An argument's value as one argv element. */
static char *
jobsd_text(const cJSON *v)
{
	char	*s;

	if (cJSON_IsString(v))
		return (xstrdup(v->valuestring));
	if (cJSON_IsBool(v))
		return (xstrdup(cJSON_IsTrue(v) ? "true" : "false"));
	if (v->valuedouble == floor(v->valuedouble) &&
	    fabs(v->valuedouble) < 0x1p53)
		xasprintf(&s, "%.0f", v->valuedouble);
	else
		xasprintf(&s, "%.17g", v->valuedouble);
	return (s);
}

static int
jobsd_run(struct ad_job *aj)
{
	struct jobsd_type	*jt = jobsd_of(aj->job->type);
	const cJSON		*args = ad_args(aj), *v;
	struct jobsd_arg	*a;
	struct exec_spec	 sp;
	char			 buf[80];
	size_t			 i, n = 0;
	int			 rv;

	memset(&sp, 0, sizeof sp);
	sp.argv = xcalloc(jt->argc + 1, sizeof *sp.argv);
	for (i = 0; i < jt->argc; i++) {
		if (jobsd_placeholder(jt->argv[i], buf, sizeof buf) == NULL ||
		    (a = jobsd_find_arg(jt, buf)) == NULL) {
			sp.argv[n++] = xstrdup(jt->argv[i]);
			continue;
		}
		v = cJSON_IsObject(args) ?
		    cJSON_GetObjectItemCaseSensitive(args, a->name) : NULL;
		if (v == NULL)
			v = a->dflt;
		if (v != NULL)		/* left out: the element goes */
			sp.argv[n++] = jobsd_text(v);
	}
	exec_spec_common(&sp, jt->settings);
	rv = exec_job(aj, &sp);
	exec_spec_free(&sp);
	return (rv);
}

/* ---- loading */

/* Reads and parses one file; on error *cause says why. */
static int
jobsd_read(const char *dir, const char *file, struct jobsd_type **out,
    char **cause)
{
	struct jobsd_type	*jt;
	struct stat		 st;
	cJSON			*obj;
	char			*path, *buf, *name;
	ssize_t			 n;
	size_t			 len = strlen(file) - 5;
	int			 fd, rv;

	*out = NULL;
	name = xstrdup(file);
	name[len] = '\0';
	if (len == 0 || len > PROTO_MAX_TYPE || strspn(name,
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-") != len) {
		free(name);
		return (jobsd_err(cause, "the name is not a job type name "
		    "([a-z0-9_.-], at most %d)", PROTO_MAX_TYPE));
	}
	xasprintf(&path, "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd == -1 || fstat(fd, &st) == -1) {
		rv = errno;
		if (fd != -1)
			close(fd);
		free(name);
		return (jobsd_err(cause, "%s", strerror(rv)));
	}
	if (!S_ISREG(st.st_mode) || st.st_size > JOBSD_MAX_FILE) {
		close(fd);
		free(name);
		return (jobsd_err(cause, "not a regular file of at most %d "
		    "bytes", JOBSD_MAX_FILE));
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		free(name);
		return (jobsd_err(cause, "short read"));
	}
	buf[n] = '\0';
	obj = cJSON_Parse(buf);
	free(buf);
	if (obj == NULL) {
		free(name);
		return (jobsd_err(cause, "not valid JSON"));
	}
	jt = xcalloc(1, sizeof *jt);
	jt->name = name;
	rv = jobsd_parse(jt, obj, cause);
	cJSON_Delete(obj);
	if (rv != 0) {
		jobsd_type_free(jt);
		return (rv);
	}
	jt->t.name = jt->name;
	jt->t.description = jt->description;
	jt->t.check = jobsd_check;
	jt->t.run = jobsd_run;
	*out = jt;
	return (0);
}

static int
jobsd_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

int
jobsd_load(struct jobsd **out, const char *dir, struct registry *reg,
    size_t *nbad)
{
	struct jobsd		*js;
	struct jobsd_type	*jt;
	struct type_info	*ti;
	struct dirent		*de;
	char			**files = NULL, *cause;
	size_t			 nfiles = 0, i, len;
	DIR			*d;

	*nbad = 0;
	js = xcalloc(1, sizeof *js);
	*out = js;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			log_debug("no jobs directory %s", dir);
		else {
			log_warn("jobs directory %s", dir);
			(*nbad)++;
		}
		return (0);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		files = xreallocarray(files, nfiles + 1, sizeof *files);
		files[nfiles++] = xstrdup(de->d_name);
	}
	closedir(d);
	/* In name order, so that logs and clashes read the same each time. */
	qsort(files, nfiles, sizeof *files, jobsd_cmp);
	for (i = 0; i < nfiles; i++) {
		if (jobsd_read(dir, files[i], &jt, &cause) != 0) {
			log_warnx("%s/%s: %s; skipped", dir, files[i], cause);
			free(cause);
			(*nbad)++;
			continue;
		}
		if (registry_find(reg, jt->name) != NULL) {
			log_warnx("%s/%s: there is already a job type named "
			    "'%s'; skipped", dir, files[i], jt->name);
			jobsd_type_free(jt);
			(*nbad)++;
			continue;
		}
		if (registry_add(reg, &jt->t) != 0)
			fatalx("%s: cannot register %s", __func__, jt->name);
		ti = registry_info(reg, jt->name);
		ti->concurrency = jt->concurrency;
		ti->default_timeout = jt->timeout;
		ti->delivery = jt->delivery;
		if (jt->allow != NULL) {
			ti->acl = jt->allow;
			ti->restricted = true;
		}
		js->types = xreallocarray(js->types, js->n + 1,
		    sizeof *js->types);
		js->types[js->n++] = jt;
		log_info("job type %s from %s/%s", jt->name, dir, files[i]);
	}
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	return (0);
}

void
jobsd_free(struct jobsd *js)
{
	size_t	i;

	if (js == NULL)
		return;
	for (i = 0; i < js->n; i++)
		jobsd_type_free(js->types[i]);
	free(js->types);
	free(js);
}

size_t
jobsd_count(const struct jobsd *js)
{
	return (js->n);
}
