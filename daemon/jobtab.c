/*
 * jobtab.c: the job table.
 *
 * Two intrusive chained hash tables (by id, and by key for the jobs that
 * hold theirs) plus lists: every job in id order, for "list", and the
 * finished jobs for retention, split by whether anyone has read their
 * outcome: the unread ones in the order they finished, the read ones in
 * the order they were read. Retention evicts read results first, so that a
 * fan-out's results wait for their reader (sched_evict). The table also
 * keeps the count of jobs in each state, for "stats".
 *
 * Ids only grow, so the id list stays sorted by appending; a finished job
 * read back from the store (sched_cache) is put in its place.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#define JOBTAB_MIN_BUCKETS	64

/* Fibonacci hashing: consecutive ids spread over the buckets. */
static size_t
jobtab_hash_id(uint64_t id, size_t mask)
{
	return ((size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & mask);
}

/* FNV-1a. */
static size_t
jobtab_hash_key(const char *key, size_t mask)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325);

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= UINT64_C(0x100000001b3);
	}
	return ((size_t)(h ^ (h >> 32)) & mask);
}

void
jobtab_init(struct jobtab *tab)
{
	memset(tab, 0, sizeof *tab);
	tab->ids = xcalloc(JOBTAB_MIN_BUCKETS, sizeof *tab->ids);
	tab->idmask = JOBTAB_MIN_BUCKETS - 1;
	tab->keys = xcalloc(JOBTAB_MIN_BUCKETS, sizeof *tab->keys);
	tab->keymask = JOBTAB_MIN_BUCKETS - 1;
	TAILQ_INIT(&tab->all);
	TAILQ_INIT(&tab->unread);
	TAILQ_INIT(&tab->read);
}

void
jobtab_fini(struct jobtab *tab)
{
	struct job	*job;

	while ((job = TAILQ_FIRST(&tab->all)) != NULL) {
		jobtab_remove(tab, job);
		job_free(job);
	}
	free(tab->ids);
	free(tab->keys);
	memset(tab, 0, sizeof *tab);
}

static void
jobtab_grow_ids(struct jobtab *tab)
{
	struct job	**old = tab->ids, *job, *next;
	size_t		  i, oldn = tab->idmask + 1, n = oldn * 2;

	tab->ids = xcalloc(n, sizeof *tab->ids);
	tab->idmask = n - 1;
	for (i = 0; i < oldn; i++) {
		for (job = old[i]; job != NULL; job = next) {
			size_t	b = jobtab_hash_id(job->id, tab->idmask);

			next = job->id_next;
			job->id_next = tab->ids[b];
			tab->ids[b] = job;
		}
	}
	free(old);
}

static void
jobtab_grow_keys(struct jobtab *tab)
{
	struct job	**old = tab->keys, *job, *next;
	size_t		  i, oldn = tab->keymask + 1, n = oldn * 2;

	tab->keys = xcalloc(n, sizeof *tab->keys);
	tab->keymask = n - 1;
	for (i = 0; i < oldn; i++) {
		for (job = old[i]; job != NULL; job = next) {
			size_t	b = jobtab_hash_key(job->key, tab->keymask);

			next = job->key_next;
			job->key_next = tab->keys[b];
			tab->keys[b] = job;
		}
	}
	free(old);
}

/* Puts a job that has just finished on its retention list. */
static void
jobtab_finished_add(struct jobtab *tab, struct job *job)
{
	if (job->delivered) {
		TAILQ_INSERT_TAIL(&tab->read, job, fin_entry);
		tab->nread++;
	} else
		TAILQ_INSERT_TAIL(&tab->unread, job, fin_entry);
	tab->nfinished++;
}

void
jobtab_delivered(struct jobtab *tab, struct job *job)
{
	if (job->delivered || !proto_state_terminal(job->state))
		return;
	job->delivered = true;
	TAILQ_REMOVE(&tab->unread, job, fin_entry);
	TAILQ_INSERT_TAIL(&tab->read, job, fin_entry);
	tab->nread++;
}

void
jobtab_add(struct jobtab *tab, struct job *job)
{
	struct job	*last;
	size_t		 b;

	if (tab->njobs >= tab->idmask + 1)
		jobtab_grow_ids(tab);
	b = jobtab_hash_id(job->id, tab->idmask);
	job->id_next = tab->ids[b];
	tab->ids[b] = job;
	tab->njobs++;
	/* An old job read back from the store goes in its place. */
	last = TAILQ_LAST(&tab->all, jobtab_all);
	while (last != NULL && last->id > job->id)
		last = TAILQ_PREV(last, jobtab_all, all_entry);
	if (last == NULL)
		TAILQ_INSERT_HEAD(&tab->all, job, all_entry);
	else
		TAILQ_INSERT_AFTER(&tab->all, last, job, all_entry);
	tab->counts[job->state]++;
	job->bytes = job_footprint(job);
	if (proto_state_terminal(job->state)) {
		jobtab_finished_add(tab, job);
		tab->finished_bytes += job->bytes;
	} else
		tab->live_bytes += job->bytes;

	if (job->key != NULL)
		jobtab_bind_key(tab, job);
}

void
jobtab_bind_key(struct jobtab *tab, struct job *job)
{
	size_t	b;

	if (job->key_bound || job->key == NULL)
		return;
	if (tab->nkeys >= tab->keymask + 1)
		jobtab_grow_keys(tab);
	b = jobtab_hash_key(job->key, tab->keymask);
	job->key_next = tab->keys[b];
	tab->keys[b] = job;
	job->key_bound = true;
	tab->nkeys++;
}

void
jobtab_remove(struct jobtab *tab, struct job *job)
{
	struct job	**pp;

	pp = &tab->ids[jobtab_hash_id(job->id, tab->idmask)];
	while (*pp != job) {
		if (*pp == NULL)
			fatalx("%s: job %" PRIu64 " not in table", __func__,
			    job->id);
		pp = &(*pp)->id_next;
	}
	*pp = job->id_next;
	tab->njobs--;
	TAILQ_REMOVE(&tab->all, job, all_entry);
	tab->counts[job->state]--;
	if (proto_state_terminal(job->state)) {
		if (job->delivered) {
			TAILQ_REMOVE(&tab->read, job, fin_entry);
			tab->nread--;
		} else
			TAILQ_REMOVE(&tab->unread, job, fin_entry);
		tab->nfinished--;
		tab->finished_bytes -= job->bytes;
	} else
		tab->live_bytes -= job->bytes;
	jobtab_unbind_key(tab, job);
}

struct job *
jobtab_find(struct jobtab *tab, uint64_t id)
{
	struct job	*job;

	job = tab->ids[jobtab_hash_id(id, tab->idmask)];
	for (; job != NULL; job = job->id_next) {
		if (job->id == id)
			return (job);
	}
	return (NULL);
}

struct job *
jobtab_find_key(struct jobtab *tab, const char *key)
{
	struct job	*job;

	job = tab->keys[jobtab_hash_key(key, tab->keymask)];
	for (; job != NULL; job = job->key_next) {
		if (strcmp(job->key, key) == 0)
			return (job);
	}
	return (NULL);
}

void
jobtab_unbind_key(struct jobtab *tab, struct job *job)
{
	struct job	**pp;

	if (!job->key_bound)
		return;
	pp = &tab->keys[jobtab_hash_key(job->key, tab->keymask)];
	while (*pp != job)
		pp = &(*pp)->key_next;
	*pp = job->key_next;
	job->key_next = NULL;
	job->key_bound = false;
	tab->nkeys--;
}

/* Moves job's count to state. */
static void
jobtab_recount(struct jobtab *tab, struct job *job, enum proto_state state)
{
	tab->counts[job->state]--;
	tab->counts[state]++;
	job->state = state;
}

/* A finished job's footprint, now with its result, into finished_bytes. */
static void
jobtab_measure(struct jobtab *tab, struct job *job)
{
	job->bytes = job_footprint(job);
	tab->finished_bytes += job->bytes;
}

void
jobtab_set_state(struct jobtab *tab, struct job *job, enum proto_state state)
{
	if (proto_state_terminal(job->state))
		fatalx("%s: job %" PRIu64 " is already %s", __func__, job->id,
		    proto_state_name(job->state));
	jobtab_recount(tab, job, state);
	if (proto_state_terminal(state)) {
		jobtab_finished_add(tab, job);
		tab->live_bytes -= job->bytes;
		jobtab_measure(tab, job);
	}
}

void
jobtab_refinish(struct jobtab *tab, struct job *job, enum proto_state state)
{
	if (!proto_state_terminal(job->state) || !proto_state_terminal(state))
		fatalx("%s: job %" PRIu64 " is %s", __func__, job->id,
		    proto_state_name(job->state));
	jobtab_recount(tab, job, state);
	tab->finished_bytes -= job->bytes;
	jobtab_measure(tab, job);
}
