/* Late requests: a deadline for each open connection, and a thread that shuts down the socket of
 * every connection past its deadline. Whoever reads from the socket then fails and closes it on its
 * own thread; this module never closes a descriptor. It knows descriptors and deadlines only: the
 * HTTP server (http.c) adds a watch as libmicrohttpd opens a connection, moves its deadline as
 * requests come and go, and removes it before libmicrohttpd closes the descriptor.
 *
 * Locking: adding, removing and sweeping take the sweeper's lock, so once sweeper_remove returns
 * the thread cannot reach that descriptor, which the system may then give to another connection.
 * A watch's deadline and timed_out are atomics, read and written without the lock. */
#ifndef HTTPD_SWEEPER_H
#define HTTPD_SWEEPER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* One open connection's deadline for receiving its current request. */
typedef struct sweeper_watch {
	int fd;
	atomic_int_fast64_t deadline_ms; /* monotonic; 0 for none (while a request is served); the owner's */
	atomic_int timed_out;            /* the sweeper shut the socket down */
	struct sweeper_watch *prev, *next;
} sweeper_watch;

/* Owned by the caller (embed it); its fields are the sweeper's. */
typedef struct sweeper {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	sweeper_watch *watches;
	int64_t period_ms;
	pthread_t thread;
	int started, stop;
} sweeper;

/* Makes the lock and the condition; no thread yet. */
void sweeper_init(sweeper *sweeper);

/* Watches fd from now, with a first deadline (monotonic ms). Returns the watch, which
 * sweeper_remove frees. Any thread. */
sweeper_watch *sweeper_add(sweeper *sweeper, int fd, int64_t deadline_ms);

/* Stops watching and frees watch; before the descriptor is closed. Any thread. */
void sweeper_remove(sweeper *sweeper, sweeper_watch *watch);

/* Starts the thread, which sweeps every quarter of timeout_ms (within 50 ms and a second). When it
 * cannot start, late connections are not closed. */
void sweeper_start(sweeper *sweeper, unsigned timeout_ms);

/* Stops and joins the thread, if it started. Watches may still be removed after. */
void sweeper_stop(sweeper *sweeper);

/* Destroys the lock and the condition; after sweeper_stop and the last sweeper_remove. */
void sweeper_destroy(sweeper *sweeper);

#endif
