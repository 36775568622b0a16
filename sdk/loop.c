/* Timers sit in a list sorted by deadline: a loop serves at most as many as it has activities in
 * flight, so a heap would not pay for itself. Watches removed while the loop may still hold their
 * events are freed after the round of events. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"

#define MAX_EVENTS 64

struct portico_loop_watch {
	portico_loop *loop;
	int fd;
	portico_loop_io_fn fn;
	void *arg;
	int removed;
	portico_loop_watch *next_removed;
};

struct portico_loop_timer {
	portico_loop *loop;
	portico_loop_fn fn;
	void *arg;
	int64_t deadline_ms, repeat_ms;
	int armed;
	portico_loop_timer *prev, *next;
};

typedef struct posted {
	portico_loop_fn fn;
	void *arg;
	struct posted *next;
} posted;

struct portico_loop {
	int epoll_fd;
	int wake_fd;             /* an eventfd: readable once a thread posted or asked to stop */
	portico_loop_watch wake; /* the watch of wake_fd, to tell it from the others */
	atomic_int stopping;
	pthread_mutex_t lock; /* guards the posted queue */
	posted *posted_head, *posted_tail;
	portico_loop_timer *timers;          /* armed ones, soonest first */
	portico_loop_watch *removed_watches; /* to free after this round of events */
};

static unsigned to_epoll(unsigned events)
{
	return (events & PORTICO_LOOP_READABLE ? EPOLLIN : 0) | (events & PORTICO_LOOP_WRITABLE ? EPOLLOUT : 0);
}

static unsigned from_epoll(unsigned events)
{
	return (events & EPOLLIN ? PORTICO_LOOP_READABLE : 0) | (events & EPOLLOUT ? PORTICO_LOOP_WRITABLE : 0) |
	       (events & (EPOLLERR | EPOLLHUP) ? PORTICO_LOOP_ERROR : 0);
}

portico_loop *portico_loop_new(portico_error *err)
{
	portico_loop *loop = portico_calloc(1, sizeof *loop);
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event event = {.events = EPOLLIN, .data.ptr = &loop->wake};
	if (loop->epoll_fd < 0 || loop->wake_fd < 0 ||
	    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &event)) {
		portico_error_set(err, PORTICO_INTERNAL, "event loop: %s", strerror(errno));
		if (loop->epoll_fd >= 0)
			close(loop->epoll_fd);
		if (loop->wake_fd >= 0)
			close(loop->wake_fd);
		free(loop);
		return NULL;
	}
	pthread_mutex_init(&loop->lock, NULL);
	return loop;
}

static void wake(portico_loop *loop)
{
	uint64_t one = 1;
	/* A full counter already means "wake up"; nothing to do about a failure. */
	if (write(loop->wake_fd, &one, sizeof one) < 0)
		return;
}

void portico_loop_stop(portico_loop *loop)
{
	atomic_store(&loop->stopping, 1);
	wake(loop);
}

void portico_loop_post(portico_loop *loop, portico_loop_fn fn, void *arg)
{
	posted *item = portico_malloc(sizeof *item);
	*item = (posted){fn, arg, NULL};
	pthread_mutex_lock(&loop->lock);
	if (loop->posted_tail)
		loop->posted_tail->next = item;
	else
		loop->posted_head = item;
	loop->posted_tail = item;
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
}

static void run_posted(portico_loop *loop)
{
	uint64_t count;
	if (read(loop->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&loop->lock);
	posted *item = loop->posted_head;
	loop->posted_head = loop->posted_tail = NULL;
	pthread_mutex_unlock(&loop->lock);
	for (posted *next; item; item = next) {
		next = item->next;
		item->fn(item->arg);
		free(item);
	}
}

/* ---- Timers ---------------------------------------------------------------------------------- */

static void timer_unlink(portico_loop_timer *timer)
{
	if (!timer->armed)
		return;
	if (timer->prev)
		timer->prev->next = timer->next;
	else
		timer->loop->timers = timer->next;
	if (timer->next)
		timer->next->prev = timer->prev;
	timer->prev = timer->next = NULL;
	timer->armed = 0;
}

static void timer_insert(portico_loop_timer *timer)
{
	portico_loop_timer **link = &timer->loop->timers, *before = NULL;
	while (*link && (*link)->deadline_ms <= timer->deadline_ms) {
		before = *link;
		link = &(*link)->next;
	}
	timer->prev = before;
	timer->next = *link;
	if (*link)
		(*link)->prev = timer;
	*link = timer;
	timer->armed = 1;
}

portico_loop_timer *portico_loop_timer_new(portico_loop *loop, portico_loop_fn fn, void *arg)
{
	portico_loop_timer *timer = portico_calloc(1, sizeof *timer);
	timer->loop = loop;
	timer->fn = fn;
	timer->arg = arg;
	return timer;
}

void portico_loop_timer_start(portico_loop_timer *timer, int64_t delay_ms, int64_t repeat_ms)
{
	timer_unlink(timer);
	timer->deadline_ms = portico_monotonic_ms() + (delay_ms > 0 ? delay_ms : 0);
	timer->repeat_ms = repeat_ms > 0 ? repeat_ms : 0;
	timer_insert(timer);
}

void portico_loop_timer_stop(portico_loop_timer *timer)
{
	timer_unlink(timer);
}

void portico_loop_timer_free(portico_loop_timer *timer)
{
	if (!timer)
		return;
	timer_unlink(timer);
	free(timer);
}

/* Fires the timers due by now. A timer is unlinked (or re-armed) before its callback runs, so the
 * callback may stop, restart or free it, or any other timer. */
static void run_timers(portico_loop *loop)
{
	int64_t now = portico_monotonic_ms();
	portico_loop_timer *timer;
	while ((timer = loop->timers) && timer->deadline_ms <= now && !atomic_load(&loop->stopping)) {
		timer_unlink(timer);
		if (timer->repeat_ms) {
			timer->deadline_ms = now + timer->repeat_ms;
			timer_insert(timer);
		}
		timer->fn(timer->arg);
	}
}

static int next_timeout_ms(const portico_loop *loop)
{
	if (!loop->timers)
		return -1;
	int64_t wait = loop->timers->deadline_ms - portico_monotonic_ms();
	return wait <= 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
}

/* ---- Watches --------------------------------------------------------------------------------- */

portico_loop_watch *portico_loop_watch_add(portico_loop *loop, int fd, unsigned events, portico_loop_io_fn fn,
                                           void *arg, portico_error *err)
{
	portico_loop_watch *watch = portico_calloc(1, sizeof *watch);
	*watch = (portico_loop_watch){.loop = loop, .fd = fd, .fn = fn, .arg = arg};
	struct epoll_event event = {.events = to_epoll(events), .data.ptr = watch};
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &event)) {
		portico_error_set(err, PORTICO_INTERNAL, "event loop: watching fd %d: %s", fd, strerror(errno));
		free(watch);
		return NULL;
	}
	return watch;
}

int portico_loop_watch_modify(portico_loop_watch *watch, unsigned events, portico_error *err)
{
	struct epoll_event event = {.events = to_epoll(events), .data.ptr = watch};
	if (epoll_ctl(watch->loop->epoll_fd, EPOLL_CTL_MOD, watch->fd, &event))
		return portico_error_set(err, PORTICO_INTERNAL, "event loop: fd %d: %s", watch->fd, strerror(errno));
	return 0;
}

void portico_loop_watch_remove(portico_loop_watch *watch)
{
	if (!watch || watch->removed)
		return;
	/* The fd may be closed already, in which case the kernel forgot it by itself. */
	epoll_ctl(watch->loop->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
	watch->removed = 1;
	watch->next_removed = watch->loop->removed_watches;
	watch->loop->removed_watches = watch;
}

static void free_removed_watches(portico_loop *loop)
{
	for (portico_loop_watch *next; loop->removed_watches; loop->removed_watches = next) {
		next = loop->removed_watches->next_removed;
		free(loop->removed_watches);
	}
}

/* ---- Running --------------------------------------------------------------------------------- */

void portico_loop_run(portico_loop *loop)
{
	struct epoll_event events[MAX_EVENTS];
	while (!atomic_exchange(&loop->stopping, 0)) {
		int count = epoll_wait(loop->epoll_fd, events, MAX_EVENTS, next_timeout_ms(loop));
		for (int i = 0; i < count && !atomic_load(&loop->stopping); i++) {
			portico_loop_watch *watch = events[i].data.ptr;
			if (watch == &loop->wake)
				run_posted(loop);
			else if (!watch->removed)
				watch->fn(watch->arg, watch->fd, from_epoll(events[i].events));
		}
		free_removed_watches(loop);
		run_timers(loop);
		free_removed_watches(loop);
	}
}

void portico_loop_free(portico_loop *loop)
{
	if (!loop)
		return;
	free_removed_watches(loop);
	while (loop->timers)
		timer_unlink(loop->timers); /* their owners free them */
	for (posted *item = loop->posted_head, *next; item; item = next) {
		next = item->next;
		free(item);
	}
	close(loop->epoll_fd);
	close(loop->wake_fd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}
