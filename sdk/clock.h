/* Every reading of the time goes through here. The monotonic clock, which never jumps, times
 * deadlines and durations; the wall clock is read only where a time is compared with one from
 * another machine: JWT exp and nbf, webhook timestamps, when Temporal scheduled an activity, the
 * access log's timestamp. */
#ifndef PORTICO_CLOCK_H
#define PORTICO_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t portico_monotonic_ms(void);

/* Nanoseconds on the monotonic clock, for timing what takes less than a millisecond. */
int64_t portico_monotonic_ns(void);

/* Seconds since the Unix epoch on the wall clock. */
int64_t portico_wall_s(void);

/* Milliseconds since the Unix epoch on the wall clock. */
int64_t portico_wall_ms(void);

/* The wall clock's time now in UTC as RFC 3339 text to the second ("2026-11-29T23:00:00Z"). */
#define PORTICO_WALL_TEXT_SIZE 32
void portico_wall_text(char out[PORTICO_WALL_TEXT_SIZE]);

/* The monotonic time after_ms from now, as the absolute time pthread_cond_timedwait takes on a
 * condition whose clock is CLOCK_MONOTONIC. */
struct timespec portico_monotonic_deadline(int64_t after_ms);

/* The wall-clock time after_ms from now, as the absolute time sem_timedwait takes. */
struct timespec portico_wall_deadline(int64_t after_ms);

/* Sleeps ms, in steps of 50 ms, or less once *stop is nonzero (a poller's backoff that must not
 * hold up a shutdown). */
void portico_sleep_unless(const atomic_int *stop, int64_t ms);

#endif
