#include "clock.h"

#include <string.h>

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

/* The text of the last second a thread wrote: every access log line asks, many in one second,
 * and gmtime_r with strftime cost more than the rest of the line. */
static _Thread_local struct {
	time_t second;
	char text[PORTICO_WALL_TEXT_SIZE];
} last_wall_text = {-1, ""};

void portico_wall_text(char out[PORTICO_WALL_TEXT_SIZE])
{
	time_t now = (time_t)portico_wall_s();
	if (now != last_wall_text.second) {
		struct tm utc;
		gmtime_r(&now, &utc);
		strftime(last_wall_text.text, PORTICO_WALL_TEXT_SIZE, "%Y-%m-%dT%H:%M:%SZ", &utc);
		last_wall_text.second = now;
	}
	memcpy(out, last_wall_text.text, PORTICO_WALL_TEXT_SIZE);
}

void portico_sleep_unless(const atomic_int *stop, int64_t ms)
{
	for (int64_t slept = 0; slept < ms && !atomic_load(stop); slept += 50) {
		struct timespec pause = {0, 50 * 1000000L};
		nanosleep(&pause, NULL);
	}
}
