/* The one rule on a worker's long polls (worker.h), which portico-worker applies to its settings
 * at start-up and portico_worker_start to what is registered. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker.h"

static void test_at_most_the_limit(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_worker_check_long_polls(64, 18, &err), 0); /* 64 + 2 x 18 = 100 */
	assert_int_equal(portico_worker_check_long_polls(0, 50, &err), 0);
	assert_null(err.message);
	assert_int_equal(portico_worker_check_long_polls(65, 18, &err), -1);
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	assert_string_equal(err.message,
	                    "65 activity long polls and 36 workflow ones (the task queue's and the sticky queue's) "
	                    "make 101 at once, over 100: they share one connection with the answers, whose "
	                    "streams proxies often limit to 128");
	portico_error_clear(&err);
}

/* Counts too large for an unsigned sum are refused, not wrapped around to a few. */
static void test_no_wrap_around(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_worker_check_long_polls(UINT_MAX, 1, &err), -1);
	portico_error_clear(&err);
	assert_int_equal(portico_worker_check_long_polls(2, UINT_MAX / 2 + 1, &err), -1);
	portico_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_at_most_the_limit),
	        cmocka_unit_test(test_no_wrap_around),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
