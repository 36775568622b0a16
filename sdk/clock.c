#include "clock.h"

#define NS_PER_MS 1000000L
#define NS_PER_S  1000000000L

static struct timespec now_on(clockid_t clock)
{
	struct timespec now;
	clock_gettime(clock, &now);
	return now;
}

int64_t portico_monotonic_ms(void)
{
	struct timespec now = now_on(CLOCK_MONOTONIC);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / NS_PER_MS;
}

int64_t portico_monotonic_ns(void)
{
	struct timespec now = now_on(CLOCK_MONOTONIC);
	return (int64_t)now.tv_sec * NS_PER_S + now.tv_nsec;
}

int64_t portico_wall_s(void)
{
	return (int64_t)now_on(CLOCK_REALTIME).tv_sec;
}

int64_t portico_wall_ms(void)
{
	struct timespec now = now_on(CLOCK_REALTIME);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / NS_PER_MS;
}

static struct timespec later(clockid_t clock, int64_t after_ms)
{
	struct timespec until = now_on(clock);
	until.tv_sec += (time_t)(after_ms / 1000);
	until.tv_nsec += (long)(after_ms % 1000) * NS_PER_MS;
	if (until.tv_nsec >= NS_PER_S) {
		until.tv_sec++;
		until.tv_nsec -= NS_PER_S;
	}
	return until;
}

struct timespec portico_monotonic_deadline(int64_t after_ms)
{
	return later(CLOCK_MONOTONIC, after_ms);
}

struct timespec portico_wall_deadline(int64_t after_ms)
{
	return later(CLOCK_REALTIME, after_ms);
}

void portico_wall_text(char out[PORTICO_WALL_TEXT_SIZE])
{
	time_t now = (time_t)portico_wall_s();
	struct tm utc;
	gmtime_r(&now, &utc);
	strftime(out, PORTICO_WALL_TEXT_SIZE, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

void portico_sleep_unless(const atomic_int *stop, int64_t ms)
{
	for (int64_t slept = 0; slept < ms && !atomic_load(stop); slept += 50) {
		struct timespec pause = {0, 50 * 1000000L};
		nanosleep(&pause, NULL);
	}
}
