/* A small event loop on epoll: file descriptors to watch, timers, and callbacks posted from other
 * threads. The worker runs one on a thread of its own for event-loop activities, which must never
 * block it: they start I/O, return, and finish from a callback.
 *
 * Everything here runs on the loop's thread and must be called from it (or from any one thread
 * while the loop is not running), except portico_loop_post and portico_loop_stop, which any
 * thread may call at any time.
 *
 * Public: the SDK's API for activity libraries; portico-worker exports what this header declares. */
#ifndef PORTICO_LOOP_H
#define PORTICO_LOOP_H

#include <stdint.h>

#include "error.h"

typedef struct portico_loop portico_loop;
typedef struct portico_loop_watch portico_loop_watch;
typedef struct portico_loop_timer portico_loop_timer;

enum {
	PORTICO_LOOP_READABLE = 1,
	PORTICO_LOOP_WRITABLE = 2,
	PORTICO_LOOP_ERROR = 4, /* reported, never asked for */
};

typedef void (*portico_loop_fn)(void *arg);
typedef void (*portico_loop_io_fn)(void *arg, int fd, unsigned events);

/* A loop with nothing to do; NULL with err set when the kernel refuses an epoll or eventfd. */
portico_loop *portico_loop_new(portico_error *err);

/* Runs callbacks until portico_loop_stop; the calling thread becomes the loop's thread. */
void portico_loop_run(portico_loop *loop);

/* Makes portico_loop_run return after the callback under way; the events and timers of that
 * round wait for the next run. Asked while the loop is not running, it ends the next run at
 * once. Thread-safe. */
void portico_loop_stop(portico_loop *loop);

/* Runs fn(arg) on the loop's thread soon, in the order posted. Thread-safe. */
void portico_loop_post(portico_loop *loop, portico_loop_fn fn, void *arg);

/* Frees a loop that no longer runs. Its watches must have been removed; timers still armed are
 * disarmed and stay their owners' to free. Callbacks posted and not run are dropped. */
void portico_loop_free(portico_loop *loop);

/* Calls fn(arg, fd, events) whenever fd is ready for events (PORTICO_LOOP_READABLE and/or
 * WRITABLE). Returns NULL with err set when epoll refuses the descriptor. The loop owns the watch
 * until portico_loop_watch_remove; the fd stays the caller's. */
portico_loop_watch *portico_loop_watch_add(portico_loop *loop, int fd, unsigned events, portico_loop_io_fn fn,
                                           void *arg, portico_error *err);
int portico_loop_watch_modify(portico_loop_watch *watch, unsigned events, portico_error *err);

/* Stops watching (before the fd is closed) and frees the watch; safe inside its own callback. */
void portico_loop_watch_remove(portico_loop_watch *watch);

/* A stopped timer calling fn(arg); the caller frees it with portico_loop_timer_free. */
portico_loop_timer *portico_loop_timer_new(portico_loop *loop, portico_loop_fn fn, void *arg);

/* (Re)arms the timer: first after delay_ms, then every repeat_ms (0 for once). */
void portico_loop_timer_start(portico_loop_timer *timer, int64_t delay_ms, int64_t repeat_ms);
void portico_loop_timer_stop(portico_loop_timer *timer);

/* Stops and frees the timer; safe inside its own callback. */
void portico_loop_timer_free(portico_loop_timer *timer);

#endif
