/*
 * job.c: a job's record: its data, its done callbacks (watches), its pins,
 * and its wire view. How it moves between states is sched.c's business.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Creates a queued job; takes args (NULL means JSON null). */
struct job *
job_create(uint64_t id, const char *type, cJSON *args)
{
	struct job	*job;

	job = xcalloc(1, sizeof *job);
	job->ad.job = job;
	job->id = id;
	job->type_name = xstrdup(type);
	job->state = PROTO_QUEUED;
	job->progress = -1;
	if (args == NULL && (args = cJSON_CreateNull()) == NULL)
		fatalx("%s: out of memory", __func__);
	job->args = args;
	/* Arguments never change: sized once, here. */
	job->args_bytes = job_json_bytes(args);
	TAILQ_INIT(&job->children);
	LIST_INIT(&job->watches);
	LIST_INIT(&job->saves);
	job->attempts = 0;
	return (job);
}

void
job_free(struct job *job)
{
	if (job == NULL)
		return;
	if (!LIST_EMPTY(&job->watches) || job->coro != NULL ||
	    (job->output != NULL && !LIST_EMPTY(&job->output->waiters)))
		fatalx("%s: job %" PRIu64 " still in use", __func__, job->id);
	free(job->type_name);
	free(job->key);
	cJSON_Delete(job->args);
	cJSON_Delete(job->result);
	cJSON_Delete(job->attempt_errors);
	free(job->err_code);
	free(job->err_message);
	free(job->progress_msg);
	free(job->cancel_msg);
	free(job->output);
	free(job);
}

void
job_set_error(struct job *job, const char *code, const char *message)
{
	free(job->err_code);
	free(job->err_message);
	job->err_code = xstrdup(code != NULL ? code : "failed");
	job->err_message = xstrdup(message != NULL ? message : "");
}

void
job_watch(struct job *job, struct job_watch *w, job_watch_fn fn)
{
	if (job_finished(job))
		fatalx("%s: job %" PRIu64 " has finished", __func__, job->id);
	w->job = job;
	w->fn = fn;
	LIST_INSERT_HEAD(&job->watches, w, entry);
}

bool
job_finished(const struct job *job)
{
	return (proto_state_terminal(job->state) && !job->saving);
}

void
job_unwatch(struct job_watch *w)
{
	if (w->job == NULL)
		return;
	LIST_REMOVE(w, entry);
	w->job = NULL;
}

/*
 * Each watch is detached before its function runs, so the function may
 * free the watch's owner, and may add or remove other watches.
 */
void
job_notify(struct job *job)
{
	struct job_watch	*w;

	while ((w = LIST_FIRST(&job->watches)) != NULL) {
		LIST_REMOVE(w, entry);
		w->job = NULL;
		w->fn(w, job);
	}
}

void
job_pin(struct job *job)
{
	job->pins++;
}

void
job_unpin(struct job *job)
{
	if (job->pins == 0)
		fatalx("%s: job %" PRIu64 " not pinned", __func__, job->id);
	job->pins--;
}

void
job_view(const struct job *job, struct proto_job *v)
{
	memset(v, 0, sizeof *v);
	v->id = job->id;
	v->type = job->type_name;
	v->key = job->key;
	v->state = job->state;
	v->parent = job->parent_id;
	v->created = job->created;
	v->started = job->started;
	v->finished = job->finished;
	v->timeout = job->timeout;
	v->args = job->args;
	v->result = job->result;
	v->err_code = job->err_code;
	v->err_message = job->err_message;
	v->progress = job->progress;
	v->progress_msg = job->progress_msg;
	v->cancel_requested = job->cancel_reason != 0;
	v->attempts = job->attempts;
	v->delivery = (char *)sched_delivery(job->tinfo);
	v->priority = job->priority;
	v->not_before = job->not_before;
	v->retries = job->retries;
	v->attempt_errors = job->attempt_errors;
}

void
job_outcome(const struct job *job, struct ad_outcome *out)
{
	memset(out, 0, sizeof *out);
	out->id = job->id;
	switch (job->state) {
	case PROTO_SUCCEEDED:
		out->rc = 0;
		out->result = job->result;
		return;
	case PROTO_FAILED:
		out->rc = ASYNCD_EFAILED;
		break;
	case PROTO_CANCELLED:
		out->rc = ASYNCD_ECANCELED;
		break;
	case PROTO_TIMED_OUT:
		out->rc = ASYNCD_EJOBTIMEDOUT;
		break;
	case PROTO_INTERRUPTED:
		out->rc = ASYNCD_EINTERRUPTED;
		break;
	default:
		out->rc = ASYNCD_ETIMEDOUT;	/* not finished */
		return;
	}
	out->err_code = job->err_code;
	out->err_message = job->err_message;
}

/*
 * Walks a JSON tree without recursion (a job may run this on a coroutine's
 * small stack, and cJSON allows 1000 levels): follows child, else next,
 * else climbs back up through the stack of parents.
 */
size_t
job_json_bytes(const cJSON *item)
{
	const cJSON	**up = NULL, **grown;
	size_t		  n = 0, cap = 0, bytes = 0;

	while (item != NULL) {
		bytes += sizeof *item;
		if (item->string != NULL)
			bytes += strlen(item->string) + 1;
		if (item->valuestring != NULL)
			bytes += strlen(item->valuestring) + 1;
		if (item->child != NULL) {
			if (n == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				grown = reallocarray(up, cap, sizeof *up);
				if (grown == NULL)
					break;	/* an estimate is enough */
				up = grown;
			}
			up[n++] = item;
			item = item->child;
			continue;
		}
		while (item->next == NULL && n > 0)
			item = up[--n];
		item = item->next;
	}
	free(up);
	return (bytes);
}

size_t
job_footprint(const struct job *job)
{
	size_t	bytes = sizeof *job + strlen(job->type_name) + 1;

	if (job->key != NULL)
		bytes += strlen(job->key) + 1;
	if (job->err_message != NULL)
		bytes += strlen(job->err_message) + 1;
	if (job->progress_msg != NULL)
		bytes += strlen(job->progress_msg) + 1;
	return (bytes + job->args_bytes + job_json_bytes(job->result));
}
