/* JSON text as Portico writes it: integers as "%lld" writes them (they are written by hand), at
 * the edges of 64 bits too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_text.h"

static void test_integers_as_printf_writes_them(void **state)
{
	(void)state;
	static const json_int_t values[] = {0,         1,         -1,        9,         10,        -10,
	                                    123456789, INT32_MIN, INT32_MAX, INT64_MAX, INT64_MIN, INT64_MIN + 1};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		char expected[32];
		snprintf(expected, sizeof expected, "[%" JSON_INTEGER_FORMAT "]", values[i]);
		json_t *array = json_pack("[I]", values[i]);
		size_t length;
		char *text = portico_json_text(array, 0, &length);
		assert_string_equal(text, expected);
		assert_int_equal(length, strlen(expected));
		free(text);
		json_decref(array);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_integers_as_printf_writes_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
