/* Base64 as proto3 JSON uses it: RFC 4648 vectors, URL-safe and unpadded input, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

static void assert_decodes(const char *text, const char *expected)
{
	uint8_t *bytes;
	size_t length;
	assert_int_equal(portico_base64_decode(text, strlen(text), &bytes, &length), 0);
	assert_int_equal(length, strlen(expected));
	assert_memory_equal(bytes, expected, length);
	free(bytes);
}

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	static const char *const vectors[][2] = {
	        {"", ""},
	        {"f", "Zg=="},
	        {"fo", "Zm8="},
	        {"foo", "Zm9v"},
	        {"foob", "Zm9vYg=="},
	        {"fooba", "Zm9vYmE="},
	        {"foobar", "Zm9vYmFy"},
	};
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		char *encoded = portico_base64_encode((const uint8_t *)vectors[i][0], strlen(vectors[i][0]));
		assert_string_equal(encoded, vectors[i][1]);
		free(encoded);
		assert_decodes(vectors[i][1], vectors[i][0]);
	}
}

static void test_url_safe_and_unpadded_input(void **state)
{
	(void)state;
	assert_decodes("Zm9vYg", "foob");
	assert_decodes("Zm8", "fo");
	assert_decodes("-_-_", "\xfb\xff\xbf");
	assert_decodes("+/+/", "\xfb\xff\xbf");
}

static void test_bad_input_is_refused(void **state)
{
	(void)state;
	uint8_t *bytes;
	size_t length;
	assert_int_equal(portico_base64_decode("Zm9v!", 5, &bytes, &length), -1);
	assert_int_equal(portico_base64_decode("Z", 1, &bytes, &length), -1);
	assert_int_equal(portico_base64_decode("Zm 9v", 5, &bytes, &length), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc4648_vectors),
	        cmocka_unit_test(test_url_safe_and_unpadded_input),
	        cmocka_unit_test(test_bad_input_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
