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

#include "json_parse.h"
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

/* portico_json_dumps writes what jansson writes, and the raw values jansson cannot write (their
 * mark is not UTF-8) as the text they hold. */
static void test_dumps_as_jansson_raw_values_as_their_text(void **state)
{
	(void)state;
	json_t *plain = json_pack("{s:f,s:s}", "b", 0.1, "a", "x");
	size_t length;
	char *text = portico_json_dumps(plain, JSON_COMPACT | JSON_SORT_KEYS, &length);
	assert_string_equal(text, "{\"a\":\"x\",\"b\":0.10000000000000001}");
	assert_int_equal(length, strlen(text));
	free(text);
	json_decref(plain);
	const char *big = "{\"b\":123456789012345678901234567890,\"a\":[1e400]}";
	json_t *raw = portico_json_parse(big, strlen(big), 0, NULL);
	text = portico_json_dumps(raw, JSON_COMPACT | JSON_SORT_KEYS, &length);
	assert_string_equal(text, "{\"a\":[1e400],\"b\":123456789012345678901234567890}");
	assert_int_equal(length, strlen(text));
	free(text);
	json_decref(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_integers_as_printf_writes_them),
	        cmocka_unit_test(test_dumps_as_jansson_raw_values_as_their_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
