/*
 * inbox.c: the only way another thread hands work to the loop thread
 * (asyncio's call_soon_threadsafe).
 *
 * Design notes. Pushers (nng callbacks, pool threads) append an item under
 * the lock and call ev_async_send, the one libev call allowed off the loop
 * thread. libev coalesces the wake-ups: one callback may stand for many
 * pushes, and a push during the callback may be seen now or cause another
 * wake-up. So the callback takes the whole list at once and runs every
 * item, outside the lock: an item's function may push again (to this inbox
 * too) without deadlocking.
 */
#include "daemon.h"

static void
inbox_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct inbox	*ib = container_of(w, struct inbox, async);

	(void)loop;
	(void)revents;
	inbox_drain(ib);
}

void
inbox_init(struct inbox *ib, struct ev_loop *loop)
{
	pthread_mutex_init(&ib->lock, NULL);
	STAILQ_INIT(&ib->items);
	ib->loop = loop;
	ib->batches = 0;
	ib->handled = 0;
	ev_async_init(&ib->async, inbox_cb);
}

void
inbox_start(struct inbox *ib)
{
	ev_async_start(ib->loop, &ib->async);
}

void
inbox_stop(struct inbox *ib)
{
	ev_async_stop(ib->loop, &ib->async);
}

void
inbox_fini(struct inbox *ib)
{
	if (!STAILQ_EMPTY(&ib->items))
		fatalx("%s: items left in the inbox", __func__);
	pthread_mutex_destroy(&ib->lock);
}

void
inbox_push(struct inbox *ib, struct inbox_item *item)
{
	pthread_mutex_lock(&ib->lock);
	STAILQ_INSERT_TAIL(&ib->items, item, entry);
	pthread_mutex_unlock(&ib->lock);
	ev_async_send(ib->loop, &ib->async);
}

size_t
inbox_drain(struct inbox *ib)
{
	STAILQ_HEAD(, inbox_item)	 batch;
	struct inbox_item		*item;
	size_t				 n = 0;

	pthread_mutex_lock(&ib->lock);
	STAILQ_INIT(&batch);
	STAILQ_CONCAT(&batch, &ib->items);
	pthread_mutex_unlock(&ib->lock);

	while ((item = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, entry);
		item->fn(item);
		n++;
	}
	if (n > 0) {
		ib->batches++;
		ib->handled += n;
	}
	return (n);
}
