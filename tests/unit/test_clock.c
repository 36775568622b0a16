/* The wall clock's text: the second it is, in RFC 3339 UTC, whether or not it was asked before in
 * the same second (the text is kept per thread for the second). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"

/* The text portico_wall_text should give at second. */
static void expected_text(int64_t second, char out[PORTICO_WALL_TEXT_SIZE])
{
	time_t now = (time_t)second;
	struct tm utc;
	gmtime_r(&now, &utc);
	strftime(out, PORTICO_WALL_TEXT_SIZE, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

static void test_wall_text_is_the_current_second(void **state)
{
	(void)state;
	int checked = 0;
	/* Across a few seconds' turns: the kept text must follow the clock. Bounded by time, not by
	 * rounds: a fast machine spins through any count of rounds within one second. */
	int64_t give_up = portico_monotonic_ms() + 10000;
	while (checked < 3 && portico_monotonic_ms() < give_up) {
		int64_t before = portico_wall_s();
		char text[PORTICO_WALL_TEXT_SIZE], expected[PORTICO_WALL_TEXT_SIZE];
		portico_wall_text(text);
		if (portico_wall_s() != before)
			continue; /* the second turned meanwhile: either text may be right */
		expected_text(before, expected);
		assert_string_equal(text, expected);
		assert_int_equal(strlen(text), 20);
		static int64_t last_second = -1;
		if (before != last_second) {
			last_second = before;
			checked++;
			struct timespec pause = {0, 400 * 1000000L};
			nanosleep(&pause, NULL);
		}
	}
	assert_int_equal(checked, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_wall_text_is_the_current_second),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
