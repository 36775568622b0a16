/* The watched sockets are in an epoll set of the watcher's own, for EPOLLRDHUP (the peer's FIN) or
 * a reset (EPOLLHUP and EPOLLERR, which epoll always reports), one shot each. TCP cannot tell a
 * peer that closed from one that shut down only its sending side until something is written; a FIN
 * counts as leaving. Under TLS this is the TCP socket too: a client's close shows there the same way.
 *
 * A watch is numbered by its slot and the slot's generation: an event read just before its watch
 * was removed finds another generation there, and nothing happens. */
#include "hangup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

#define HANGUP_WAKE_ID    0 /* the eventfd's events; a watch's id is never 0 */
#define HANGUP_EVENTS_MAX 64

struct hangup_slot {
	hangup_fn hangup; /* NULL while the slot is free */
	void *arg;
	int fd;
	uint32_t generation; /* changes each time the slot is freed: an old event finds nothing */
	uint32_t next_free;  /* index + 1 of the next free slot, 0 for none */
};

static uint64_t hangup_id(uint32_t index, uint32_t generation)
{
	return (uint64_t)generation << 32 | (index + 1);
}

/* The slot of a live watch id, or NULL; called with the lock held. */
static hangup_slot *hangup_slot_of(hangup_watcher *watcher, uint64_t id)
{
	uint32_t index = (uint32_t)(id & 0xffffffff) - 1;
	if (id == HANGUP_WAKE_ID || index >= watcher->capacity)
		return NULL;
	hangup_slot *slot = &watcher->slots[index];
	return slot->hangup && slot->generation == (uint32_t)(id >> 32) ? slot : NULL;
}

static void hangup_slot_free(hangup_watcher *watcher, hangup_slot *slot)
{
	epoll_ctl(watcher->epoll_fd, EPOLL_CTL_DEL, slot->fd, NULL);
	slot->hangup = NULL;
	slot->arg = NULL;
	slot->generation++;
	slot->next_free = watcher->free_head;
	watcher->free_head = (uint32_t)(slot - watcher->slots) + 1;
}

uint64_t hangup_watch(hangup_watcher *watcher, int fd, hangup_fn hangup, void *arg)
{
	if (!watcher->started)
		return 0;
	uint64_t watched = 0;
	pthread_mutex_lock(&watcher->lock);
	if (!watcher->free_head) {
		uint32_t grown = watcher->capacity ? 2 * watcher->capacity : 64;
		watcher->slots = portico_realloc(watcher->slots, grown * sizeof *watcher->slots);
		for (uint32_t i = watcher->capacity; i < grown; i++)
			watcher->slots[i] = (hangup_slot){NULL, NULL, -1, 1, i + 1 < grown ? i + 2 : 0};
		watcher->free_head = watcher->capacity + 1;
		watcher->capacity = grown;
	}
	uint32_t index = watcher->free_head - 1;
	hangup_slot *slot = &watcher->slots[index];
	uint64_t id = hangup_id(index, slot->generation);
	struct epoll_event event = {.events = EPOLLRDHUP | EPOLLONESHOT, .data.u64 = id};
	if (epoll_ctl(watcher->epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0) {
		watcher->free_head = slot->next_free;
		slot->hangup = hangup;
		slot->arg = arg;
		slot->fd = fd;
		watched = id;
	}
	pthread_mutex_unlock(&watcher->lock);
	return watched;
}

void hangup_unwatch(hangup_watcher *watcher, uint64_t id)
{
	pthread_mutex_lock(&watcher->lock);
	hangup_slot *slot = hangup_slot_of(watcher, id);
	if (slot)
		hangup_slot_free(watcher, slot);
	pthread_mutex_unlock(&watcher->lock);
}

/* The watcher thread: calls each watch's callback when its peer leaves, once, under the lock. */
static void *hangup_loop(void *arg)
{
	hangup_watcher *watcher = arg;
	struct epoll_event events[HANGUP_EVENTS_MAX];
	for (;;) {
		int count = epoll_wait(watcher->epoll_fd, events, HANGUP_EVENTS_MAX, -1);
		if (count < 0 && errno != EINTR)
			return NULL;
		for (int i = 0; i < count; i++) {
			if (events[i].data.u64 == HANGUP_WAKE_ID)
				return NULL;
			pthread_mutex_lock(&watcher->lock);
			hangup_slot *slot = hangup_slot_of(watcher, events[i].data.u64);
			if (slot) {
				hangup_fn hangup = slot->hangup;
				void *hangup_arg = slot->arg;
				hangup_slot_free(watcher, slot);
				hangup(hangup_arg);
			}
			pthread_mutex_unlock(&watcher->lock);
		}
	}
}

void hangup_watcher_start(hangup_watcher *watcher)
{
	*watcher = (hangup_watcher){.epoll_fd = epoll_create1(EPOLL_CLOEXEC), .wake_fd = eventfd(0, EFD_CLOEXEC)};
	pthread_mutex_init(&watcher->lock, NULL);
	struct epoll_event wake = {.events = EPOLLIN, .data.u64 = HANGUP_WAKE_ID};
	watcher->started = watcher->epoll_fd >= 0 && watcher->wake_fd >= 0 &&
	                   epoll_ctl(watcher->epoll_fd, EPOLL_CTL_ADD, watcher->wake_fd, &wake) == 0 &&
	                   pthread_create(&watcher->thread, NULL, hangup_loop, watcher) == 0;
	if (!watcher->started)
		portico_logf("warn", NULL, "clients leaving a wait go unnoticed until it ends: %s", strerror(errno));
}

void hangup_watcher_stop(hangup_watcher *watcher)
{
	if (watcher->started) {
		uint64_t one = 1;
		if (write(watcher->wake_fd, &one, sizeof one) == sizeof one)
			pthread_join(watcher->thread, NULL);
		watcher->started = 0;
	}
}

void hangup_watcher_free(hangup_watcher *watcher)
{
	if (watcher->epoll_fd >= 0)
		close(watcher->epoll_fd);
	if (watcher->wake_fd >= 0)
		close(watcher->wake_fd);
	pthread_mutex_destroy(&watcher->lock);
	free(watcher->slots);
}
