/*
 * plugin.c: loading plugins, and what their registrations become.
 *
 * A plugin is a shared object in the plugin directory. It is opened with
 * dlopen (RTLD_NOW, so that a missing symbol refuses it here rather than
 * killing a job later) and must define ad_plugin_abi, checked before any
 * of its code runs, and ad_plugin_register (AD_PLUGIN in the SDK header).
 * Registrations are staged in the struct ad_plugin and reach the registry
 * only if the registration function succeeded and every name was free:
 * a plugin is taken whole or not at all, so a half-registered one never
 * runs jobs.
 *
 * Each thread or process function is also a job type of its own name: a
 * record here holds the type (whose run function calls the function on
 * the right executor) beside the function. Plugins stay loaded until
 * plugin_free, after the registry and every job are gone: nothing that
 * refers to their code outlives them. Replacing a plugin means restarting
 * the daemon.
 *
 * Threads: loading and the job types' run functions on the loop thread;
 * the calls' functions on a pool thread (thread functions) or in a worker
 * process (process functions), where ad_call_* is what they may use.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* Most plugins one directory may hold; past it the rest are ignored. */
#define PLUGIN_MAX		256

enum plugin_kind {
	PLUGIN_TYPE,
	PLUGIN_THREAD,
	PLUGIN_PROCESS
};

/* A registered function and the job type it makes. */
struct plugin_func {
	struct ad_type		 type;		/* first: see plugin_func_of */
	const struct ad_func	*func;
	enum plugin_kind	 kind;
};

/* One registration, staged until the plugin is accepted. */
struct plugin_reg {
	enum plugin_kind	 kind;
	const struct ad_type	*type;		/* PLUGIN_TYPE */
	struct plugin_func	*pf;		/* the others */
};

struct plugin {
	char			*name;
	void			*handle;
	struct plugin_reg	*regs;
	size_t			 nregs;
};

struct ad_plugin {
	struct plugin		*pl;
	struct registry		*reg;
	char			*why;		/* the first failure */
};

struct plugins {
	struct plugin		**v;
	size_t			  n;
};

static int	plugin_thread_run(struct ad_job *);
static int	plugin_process_run(struct ad_job *);

/* The daemon's inbox, for ad_call_soon_threadsafe; NULL when stopped. */
static struct {
	pthread_mutex_t	 lock;
	struct inbox	*inbox;
} plugin_loop = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct plugin_func *
plugin_func_of(const struct ad_type *type)
{
	return ((struct plugin_func *)(void *)type);
}

const char *
ad_plugin_name(struct ad_plugin *p)
{
	return (p->pl->name);
}

static int __attribute__((format(printf, 2, 3)))
plugin_refuse(struct ad_plugin *p, const char *fmt, ...)
{
	va_list	ap;

	if (p->why == NULL) {
		va_start(ap, fmt);
		xvasprintf(&p->why, fmt, ap);
		va_end(ap);
	}
	return (ASYNCD_EINVAL);
}

static void
plugin_stage(struct ad_plugin *p, const struct plugin_reg *r)
{
	struct plugin	*pl = p->pl;

	pl->regs = xreallocarray(pl->regs, pl->nregs + 1, sizeof *pl->regs);
	pl->regs[pl->nregs++] = *r;
}

/* True if name is registered already, or staged by this plugin. */
static bool
plugin_taken(struct ad_plugin *p, const char *name)
{
	size_t	i;

	if (p->reg != NULL && registry_find(p->reg, name) != NULL)
		return (true);
	for (i = 0; i < p->pl->nregs; i++) {
		const struct plugin_reg	*r = &p->pl->regs[i];
		const char		*n = r->type != NULL ? r->type->name :
					    r->pf->type.name;

		if (strcmp(n, name) == 0)
			return (true);
	}
	return (false);
}

static int
plugin_check_name(struct ad_plugin *p, const char *name)
{
	if (name == NULL || !registry_valid_name(name))
		return (plugin_refuse(p, "bad name '%s' (a-z, 0-9, _ . -; "
		    "at most %d bytes)", name == NULL ? "(null)" : name,
		    PROTO_MAX_TYPE));
	if (plugin_taken(p, name))
		return (plugin_refuse(p, "the name '%s' is taken", name));
	return (0);
}

int
ad_register_type(struct ad_plugin *p, const struct ad_type *type)
{
	struct plugin_reg	r = { .kind = PLUGIN_TYPE, .type = type };
	int			rv;

	if (type == NULL || type->run == NULL)
		return (plugin_refuse(p, "a job type without a run function"));
	if ((rv = plugin_check_name(p, type->name)) != 0)
		return (rv);
	plugin_stage(p, &r);
	return (0);
}

static int
plugin_register_func(struct ad_plugin *p, const struct ad_func *fn,
    enum plugin_kind kind)
{
	struct plugin_reg	 r = { .kind = kind };
	struct plugin_func	*pf;
	int			 rv;

	if (fn == NULL || fn->fn == NULL)
		return (plugin_refuse(p, "a function without code"));
	if ((rv = plugin_check_name(p, fn->name)) != 0)
		return (rv);
	pf = xcalloc(1, sizeof *pf);
	pf->func = fn;
	pf->kind = kind;
	pf->type.name = fn->name;
	pf->type.description = fn->description;
	pf->type.check = fn->check;
	pf->type.run = kind == PLUGIN_THREAD ? plugin_thread_run :
	    plugin_process_run;
	r.pf = pf;
	plugin_stage(p, &r);
	return (0);
}

int
ad_register_thread(struct ad_plugin *p, const struct ad_func *fn)
{
	return (plugin_register_func(p, fn, PLUGIN_THREAD));
}

int
ad_register_process(struct ad_plugin *p, const struct ad_func *fn)
{
	return (plugin_register_func(p, fn, PLUGIN_PROCESS));
}

static void
plugin_free_one(struct plugin *pl)
{
	size_t	i;

	for (i = 0; i < pl->nregs; i++)
		free(pl->regs[i].pf);
	free(pl->regs);
	if (pl->handle != NULL)
		dlclose(pl->handle);
	free(pl->name);
	free(pl);
}

/*
 * Loads dir/file. Returns the plugin, or NULL after logging why it was
 * refused: the daemon runs on without it.
 */
static struct plugin *
plugin_load(const char *dir, const char *file, struct registry *reg,
    bool quiet)
{
	void	(*say)(const char *, ...) = quiet ? log_debug : log_warnx;

	struct ad_plugin	 p;
	struct plugin		*pl;
	const unsigned		*abi;
	int			(*regfn)(struct ad_plugin *);
	char			*path;
	size_t			 i;
	int			 rv;

	pl = xcalloc(1, sizeof *pl);
	pl->name = xstrdup(file);
	pl->name[strlen(pl->name) - 3] = '\0';		/* ".so" */
	xasprintf(&path, "%s/%s", dir, file);
	if ((pl->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		say("plugin %s refused: %s", path, dlerror());
		goto fail;
	}
	if ((abi = dlsym(pl->handle, "ad_plugin_abi")) == NULL ||
	    (*(void **)&regfn = dlsym(pl->handle,
	    "ad_plugin_register")) == NULL) {
		say("plugin %s refused: it defines no ad_plugin_abi or "
		    "ad_plugin_register (build it with AD_PLUGIN)", path);
		goto fail;
	}
	if (*abi != AD_ABI_VERSION) {
		say("plugin %s refused: built for SDK ABI %u, this "
		    "asyncd has ABI %u (rebuild it against this asyncd's "
		    "asyncd/plugin.h)", path, *abi, AD_ABI_VERSION);
		goto fail;
	}
	memset(&p, 0, sizeof p);
	p.pl = pl;
	p.reg = reg;
	rv = regfn(&p);
	if (rv != 0 || p.why != NULL) {
		say("plugin %s skipped: registration failed: %s", path,
		    p.why != NULL ? p.why : "its function returned an error");
		free(p.why);
		goto fail;
	}
	for (i = 0; i < pl->nregs; i++) {
		const struct ad_type	*t = pl->regs[i].type != NULL ?
		    pl->regs[i].type : &pl->regs[i].pf->type;

		if (reg != NULL && registry_add(reg, t) != 0)
			fatalx("%s: %s: cannot add %s", __func__, path,
			    t->name);
	}
	(quiet ? log_debug : log_info)("plugin %s: %zu job type%s", path,
	    pl->nregs,
	    pl->nregs == 1 ? "" : "s");
	free(path);
	return (pl);
fail:
	free(path);
	plugin_free_one(pl);
	return (NULL);
}

static int
plugin_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

void
plugin_load_dir(struct plugins **out, const char *dir, struct registry *reg,
    bool quiet)
{
	struct plugins	*ps;
	struct plugin	*pl;
	struct dirent	*de;
	DIR		*d;
	char		**names = NULL;
	size_t		 n = 0, i, len;

	ps = xcalloc(1, sizeof *ps);
	*out = ps;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT || quiet)
			log_debug("no plugin directory %s", dir);
		else
			log_warn("plugin directory %s", dir);
		return;
	}
	/* In name order, so that a clash always goes the same way. */
	while ((de = readdir(d)) != NULL && n < PLUGIN_MAX) {
		len = strlen(de->d_name);
		if (len <= 3 || strcmp(de->d_name + len - 3, ".so") != 0 ||
		    de->d_name[0] == '.')
			continue;
		names = xreallocarray(names, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, plugin_cmp);
	for (i = 0; i < n; i++) {
		if ((pl = plugin_load(dir, names[i], reg, quiet)) != NULL) {
			ps->v = xreallocarray(ps->v, ps->n + 1, sizeof *ps->v);
			ps->v[ps->n++] = pl;
		}
		free(names[i]);
	}
	free(names);
}

size_t
plugin_count(const struct plugins *ps)
{
	return (ps == NULL ? 0 : ps->n);
}

const struct ad_func *
plugin_find_process(struct plugins *ps, const char *name)
{
	size_t	i, j;

	for (i = 0; ps != NULL && i < ps->n; i++) {
		for (j = 0; j < ps->v[i]->nregs; j++) {
			const struct plugin_reg	*r = &ps->v[i]->regs[j];

			if (r->kind == PLUGIN_PROCESS &&
			    strcmp(r->pf->func->name, name) == 0)
				return (r->pf->func);
		}
	}
	return (NULL);
}

bool
plugin_is_process(const struct ad_type *type)
{
	return (type != NULL && type->run == plugin_process_run);
}

void
plugin_free(struct plugins *ps)
{
	size_t	i;

	if (ps == NULL)
		return;
	for (i = 0; i < ps->n; i++)
		plugin_free_one(ps->v[i]);
	free(ps->v);
	free(ps);
}

/* ---- calls -------------------------------------------------------- */

void
plugin_call_init(struct ad_call *call, const struct ad_func *func,
    const cJSON *args)
{
	memset(call, 0, sizeof *call);
	call->func = func;
	call->args = args;
	call->wfd = -1;
	atomic_init(&call->cancelled, false);
	pthread_mutex_init(&call->lock, NULL);
}

void
plugin_call_fini(struct ad_call *call)
{
	cJSON_Delete(call->result);
	free(call->err_code);
	free(call->err_message);
	free(call->pmsg);
	pthread_mutex_destroy(&call->lock);
}

int
plugin_call_run(struct ad_call *call)
{
	cJSON	*result = NULL;
	int	 rv;

	rv = call->func->fn(call, call->args, &result);
	if (rv == 0) {
		call->result = result;
		return (0);
	}
	cJSON_Delete(result);
	if (call->err_code == NULL)
		call->err_code = xstrdup("failed");
	if (call->err_message == NULL)
		xasprintf(&call->err_message, "%s failed (%d)",
		    call->func->name, rv);
	return (ASYNCD_EFAILED);
}

int
ad_call_fail(struct ad_call *call, const char *code, const char *fmt, ...)
{
	va_list	ap;

	free(call->err_code);
	free(call->err_message);
	call->err_code = xstrdup(code != NULL ? code : "failed");
	va_start(ap, fmt);
	xvasprintf(&call->err_message, fmt, ap);
	va_end(ap);
	if (strlen(call->err_message) > PROTO_MAX_MESSAGE)
		call->err_message[PROTO_MAX_MESSAGE] = '\0';
	return (ASYNCD_EFAILED);
}

bool
ad_call_cancelled(struct ad_call *call)
{
	return (atomic_load(&call->cancelled));
}

/* Loop: publishes the latest progress of a thread function. */
static void
plugin_progress_cb(struct inbox_item *item)
{
	struct ad_call	*call = container_of(item, struct ad_call, pitem);
	double		 fraction;
	char		*msg;

	pthread_mutex_lock(&call->lock);
	fraction = call->pfrac;
	msg = call->pmsg;
	call->pmsg = NULL;
	call->ppending = false;
	pthread_mutex_unlock(&call->lock);
	if (msg != NULL)
		ad_progress(&call->job->ad, fraction, "%s", msg);
	else
		ad_progress(&call->job->ad, fraction, NULL);
	free(msg);
}

void
ad_call_progress(struct ad_call *call, double fraction, const char *fmt,
    ...)
{
	va_list	 ap;
	char	*msg = NULL;

	if (fmt != NULL) {
		va_start(ap, fmt);
		xvasprintf(&msg, fmt, ap);
		va_end(ap);
	}
	if (call->wfd >= 0) {		/* in a worker: a frame now */
		worker_progress(call->wfd, fraction, msg);
		free(msg);
		return;
	}
	if (call->job == NULL || call->inbox == NULL) {
		free(msg);
		return;
	}
	/*
	 * The item reaches the loop before the call's completion (the inbox
	 * is FIFO and the completion is pushed after fn returns), so the
	 * call is still there when it runs.
	 */
	pthread_mutex_lock(&call->lock);
	call->pfrac = fraction;
	free(call->pmsg);
	call->pmsg = msg;
	if (!call->ppending) {
		call->ppending = true;
		call->pitem.fn = plugin_progress_cb;
		inbox_push(call->inbox, &call->pitem);
	}
	pthread_mutex_unlock(&call->lock);
}

/* The pool thread's side of a thread function's job. */
static void
plugin_thread_fn(void *arg)
{
	plugin_call_run(arg);
}

static int
plugin_thread_run(struct ad_job *aj)
{
	struct plugin_func	*pf = plugin_func_of(aj->job->type);
	struct ad_call		 call;
	int			 rv;

	plugin_call_init(&call, pf->func, ad_args(aj));
	call.job = aj->job;
	call.inbox = aj->job->sched->inbox;
	rv = ad_run_in_thread_call(aj, plugin_thread_fn, &call,
	    &call.cancelled);
	if (rv == 0 && call.err_code == NULL) {
		ad_result(aj, call.result);
		call.result = NULL;
	} else if (rv == 0)
		rv = ad_fail(aj, call.err_code, "%s", call.err_message);
	plugin_call_fini(&call);
	return (rv);
}

static int
plugin_process_run(struct ad_job *aj)
{
	cJSON	*result = NULL;
	int	 rv;

	rv = ad_run_in_process(aj, aj->job->type->name, ad_args(aj), &result);
	if (rv == 0)
		ad_result(aj, result);
	return (rv);
}

/* ---- the loop's inbox, for plugins' own threads ---------------------- */

struct plugin_soon {
	struct inbox_item	 item;
	void			(*fn)(void *);
	void			*arg;
};

static void
plugin_soon_cb(struct inbox_item *item)
{
	struct plugin_soon	*s = container_of(item, struct plugin_soon,
				    item);

	s->fn(s->arg);
	free(s);
}

void
plugin_set_inbox(struct inbox *inbox)
{
	pthread_mutex_lock(&plugin_loop.lock);
	plugin_loop.inbox = inbox;
	pthread_mutex_unlock(&plugin_loop.lock);
}

int
ad_call_soon_threadsafe(void (*fn)(void *), void *arg)
{
	struct plugin_soon	*s;
	int			 rv = ASYNCD_ESHUTDOWN;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return (ASYNCD_ENOMEM);
	s->item.fn = plugin_soon_cb;
	s->fn = fn;
	s->arg = arg;
	/* Held across the push, so that the inbox cannot go meanwhile. */
	pthread_mutex_lock(&plugin_loop.lock);
	if (plugin_loop.inbox != NULL) {
		inbox_push(plugin_loop.inbox, &s->item);
		rv = 0;
	}
	pthread_mutex_unlock(&plugin_loop.lock);
	if (rv != 0)
		free(s);
	return (rv);
}
