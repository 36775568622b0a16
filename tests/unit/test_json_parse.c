/* The plain JSON parser against jansson's, which it stands in front of: what it takes, it makes
 * into the very value jansson makes (types, key order, strings, numbers); what it is not sure of
 * (errors, numbers out of range, underflowing ones too, \u0000, deep nesting) it leaves to jansson; and it does take
 * the forms requests carry, or it would save nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_parse.h"
#include "json_text.h"

/* Parses text both ways; returns whether the plain parser took it (then with jansson's value). */
static int same_as_jansson(const char *text, size_t length, int any)
{
	json_t *plain = portico_json_parse_plain(text, length, any);
	json_t *reference = json_loadb(text, length, any ? JSON_DECODE_ANY : 0, NULL);
	if (!plain) {
		json_decref(reference);
		return 0;
	}
	assert_non_null(reference);
	char *mine = json_dumps(plain, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
	char *theirs = json_dumps(reference, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
	assert_string_equal(mine, theirs);
	assert_true(json_equal(plain, reference));
	free(mine);
	free(theirs);
	json_decref(plain);
	json_decref(reference);
	return 1;
}

static void test_takes_what_requests_carry(void **state)
{
	(void)state;
	static const char *const texts[] = {
	        "{}",
	        "[]",
	        " {\"args\" : [\"hello\", 1, -2.5e3, 0.1, true, false, null, {\"a\": [{}]}] } \n",
	        "{\"a\":\"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\r\\b\\f\\\"\\\\ \\/\"}",
	        "{\"\\u00e9\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
	        "[0,-0,1E+2,1e-2,9223372036854775807,-9223372036854775808]",
	        "{\"a\":1,\"a\":2,\"b\":3}",
	        "[\"1234567\",\"12345678\",\"123456789\",\"\"]",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		assert_true(same_as_jansson(texts[i], strlen(texts[i]), 0));
		assert_true(same_as_jansson(texts[i], strlen(texts[i]), 1));
	}
	static const char *const values[] = {"\"x\"", " 12 ", "1.5", "true", "null"};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		assert_true(same_as_jansson(values[i], strlen(values[i]), 1));
		assert_false(same_as_jansson(values[i], strlen(values[i]), 0)); /* an object or array only */
	}
}

static void test_leaves_the_rest_to_jansson(void **state)
{
	(void)state;
	static const char *const texts[] = {
	        "",
	        " ",
	        "{",
	        "{\"a\":1,}",
	        "[1,]",
	        "[01]",
	        "[1.]",
	        "[.5]",
	        "[+1]",
	        "[-]",
	        "[1e]",
	        "[tru]",
	        "[nul]",
	        "{\"a\"1}",
	        "{a:1}",
	        "[1] x",
	        "[\"\\u0000\"]",
	        "[\"\\ud800\"]",
	        "[\"\\udc00\"]",
	        "[\"\\ud800\\u0041\"]",
	        "[\"\\x\"]",
	        "[\"\\u12\"]",
	        "[\"a\tb\"]",
	        "[\"\xc0\xaf\"]",
	        "[\"\xed\xa0\x80\"]",
	        "[\"\xf4\x90\x80\x80\"]",
	        "[\"\xe0\x80\x80\"]",
	        "[\"\xc3\"]",
	        "[\"\x80\"]",
	        "[1e400]",
	        "[1e-400]",
	        "[-1e400]",
	        "[9223372036854775808]",
	        "[\"abc",
	        "[\"abc\\\"]",
	        "{\"\\u0000\":1}",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		assert_false(same_as_jansson(texts[i], strlen(texts[i]), 0));
		assert_false(same_as_jansson(texts[i], strlen(texts[i]), 1));
	}
	/* A NUL byte, inside a string or out. */
	assert_false(same_as_jansson("[\"a\0b\"]", 7, 1));
	assert_false(same_as_jansson("[1]\0", 4, 1));
}

static void test_deep_nesting_is_left_to_jansson(void **state)
{
	(void)state;
	char text[2 * (JSON_PARSE_MAX_DEPTH + 1) + 1];
	for (int depth = JSON_PARSE_MAX_DEPTH; depth <= JSON_PARSE_MAX_DEPTH + 1; depth++) {
		memset(text, '[', (size_t)depth);
		memset(text + depth, ']', (size_t)depth);
		assert_int_equal(same_as_jansson(text, 2 * (size_t)depth, 0), depth == JSON_PARSE_MAX_DEPTH);
	}
}

/* portico_json_parse gives the same answers through either parser, raw numbers included. */
static void test_portico_json_parse_is_unchanged(void **state)
{
	(void)state;
	const char *text = "{\"big\":123456789012345678901234567890,\"s\":\"x\"}";
	json_t *value = portico_json_parse(text, strlen(text), 0, NULL);
	assert_string_equal(portico_json_raw_number(json_object_get(value, "big")), "123456789012345678901234567890");
	json_decref(value);
	json_error_t error, expected;
	assert_null(portico_json_parse("{\"a\":}", 6, 0, &error));
	assert_null(json_loadb("{\"a\":}", 6, 0, &expected));
	assert_int_equal(error.position, expected.position);
	assert_string_equal(error.text, expected.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_takes_what_requests_carry),
	        cmocka_unit_test(test_leaves_the_rest_to_jansson),
	        cmocka_unit_test(test_deep_nesting_is_left_to_jansson),
	        cmocka_unit_test(test_portico_json_parse_is_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
