/* Clients that leave: a watcher of connected sockets, on one thread of its own, that calls back
 * once when the peer goes away (its FIN or a reset). It knows descriptors and callbacks only; the
 * HTTP server (http.c) watches the sockets of suspended requests with it.
 *
 * Locking: the callback runs on the watcher's thread under the watcher's lock, and
 * hangup_unwatch takes that lock. So once hangup_unwatch returns, the callback of that watch is
 * neither running nor to come, and whatever its arg points at stays alive while it runs as long as
 * its owner calls hangup_unwatch before freeing it. The callback must not call hangup_watch or
 * hangup_unwatch itself. */
#ifndef HTTPD_HANGUP_H
#define HTTPD_HANGUP_H

#include <pthread.h>
#include <stdint.h>

/* Called at most once per watch, on the watcher's thread, with the watcher's lock held. */
typedef void (*hangup_fn)(void *arg);

typedef struct hangup_slot hangup_slot;

/* Owned by the caller (embed it); its fields are the watcher's. */
typedef struct hangup_watcher {
	int epoll_fd;
	int wake_fd; /* an eventfd in the set: written to stop the thread */
	pthread_t thread;
	int started;
	pthread_mutex_t lock; /* guards the slots */
	hangup_slot *slots;
	uint32_t capacity;
	uint32_t free_head; /* index + 1 of the first free slot, 0 for none */
} hangup_watcher;

/* Starts the thread. When it cannot (no epoll set, eventfd or thread), logs a warning and every
 * hangup_watch does nothing: sockets then go unwatched. */
void hangup_watcher_start(hangup_watcher *watcher);

/* Watches fd until its peer leaves, then calls hangup(arg), once. Returns the watch's id, which is
 * never 0, or 0 when fd goes unwatched (no thread, or epoll refused it). Any thread. */
uint64_t hangup_watch(hangup_watcher *watcher, int fd, hangup_fn hangup, void *arg);

/* Stops a watch (0, or one whose callback ran, is ignored): take it off before the descriptor is
 * closed or arg freed. Any thread but the watcher's. */
void hangup_unwatch(hangup_watcher *watcher, uint64_t id);

/* Stops and joins the thread; callbacks are over when it returns. */
void hangup_watcher_stop(hangup_watcher *watcher);

/* Frees what hangup_watcher_start made; after hangup_watcher_stop. */
void hangup_watcher_free(hangup_watcher *watcher);

#endif
