#include "sweeper.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "alloc.h"
#include "clock.h"

void sweeper_init(sweeper *sweeper)
{
	pthread_condattr_t monotonic;
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&sweeper->wake, &monotonic);
	pthread_condattr_destroy(&monotonic);
	pthread_mutex_init(&sweeper->lock, NULL);
}

sweeper_watch *sweeper_add(sweeper *sweeper, int fd, int64_t deadline_ms)
{
	sweeper_watch *watch = portico_calloc(1, sizeof *watch);
	watch->fd = fd;
	atomic_init(&watch->deadline_ms, deadline_ms);
	pthread_mutex_lock(&sweeper->lock);
	watch->next = sweeper->watches;
	if (watch->next)
		watch->next->prev = watch;
	sweeper->watches = watch;
	pthread_mutex_unlock(&sweeper->lock);
	return watch;
}

void sweeper_remove(sweeper *sweeper, sweeper_watch *watch)
{
	pthread_mutex_lock(&sweeper->lock);
	if (watch->prev)
		watch->prev->next = watch->next;
	else
		sweeper->watches = watch->next;
	if (watch->next)
		watch->next->prev = watch->prev;
	pthread_mutex_unlock(&sweeper->lock);
	free(watch);
}

/* The thread: shuts down the socket of each connection past its deadline, once. Its owner's next
 * read then fails; an idle timeout could not do this, since each byte resets it. */
static void *sweep_late(void *arg)
{
	sweeper *sweeper = arg;
	pthread_mutex_lock(&sweeper->lock);
	while (!sweeper->stop) {
		struct timespec until = portico_monotonic_deadline(sweeper->period_ms);
		pthread_cond_timedwait(&sweeper->wake, &sweeper->lock, &until);
		int64_t now = portico_monotonic_ms();
		for (sweeper_watch *watch = sweeper->watches; watch; watch = watch->next) {
			int64_t deadline = atomic_load(&watch->deadline_ms);
			if (deadline && now >= deadline && !atomic_exchange(&watch->timed_out, 1))
				shutdown(watch->fd, SHUT_RDWR);
		}
	}
	pthread_mutex_unlock(&sweeper->lock);
	return NULL;
}

void sweeper_start(sweeper *sweeper, unsigned timeout_ms)
{
	int64_t period_ms = timeout_ms / 4;
	sweeper->period_ms = period_ms < 50 ? 50 : period_ms > 1000 ? 1000 : period_ms;
	sweeper->started = pthread_create(&sweeper->thread, NULL, sweep_late, sweeper) == 0;
}

void sweeper_stop(sweeper *sweeper)
{
	if (!sweeper->started)
		return;
	pthread_mutex_lock(&sweeper->lock);
	sweeper->stop = 1;
	pthread_cond_signal(&sweeper->wake);
	pthread_mutex_unlock(&sweeper->lock);
	pthread_join(sweeper->thread, NULL);
	sweeper->started = 0;
}

void sweeper_destroy(sweeper *sweeper)
{
	pthread_cond_destroy(&sweeper->wake);
	pthread_mutex_destroy(&sweeper->lock);
}
