/* JSON helpers shared by the unit tests; include after <cmocka.h>. */
#ifndef TESTS_JSON_ASSERT_H
#define TESTS_JSON_ASSERT_H

#include <jansson.h>

/* Parses test JSON (any value); fails the test on a typo. */
static inline json_t *parse(const char *text)
{
	json_error_t error;
	json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
	if (!value)
		fail_msg("bad test JSON: %s", error.text);
	return value;
}

/* Compares actual with the JSON text expected, order of keys aside; consumes actual. */
static inline void assert_json_equal(json_t *actual, const char *expected_text)
{
	json_t *expected = parse(expected_text);
	if (!json_equal(actual, expected)) {
		char *text = json_dumps(actual, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		fail_msg("got %s\nexpected %s", text, expected_text);
	}
	json_decref(expected);
	json_decref(actual);
}

#endif
