/* Base64 as proto3 JSON uses it: RFC 4648 vectors, URL-safe and unpadded input, bad input, and the
 * same answers as the decoder it replaced (OpenSSL's EVP_DecodeBlock over a normalized copy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

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

/* The decoder before this one: the text normalized into a padded copy of the standard alphabet,
 * then OpenSSL's EVP_DecodeBlock. */
static int reference_decode(const char *text, size_t text_length, uint8_t **out, size_t *out_length)
{
	while (text_length > 0 && text[text_length - 1] == '=')
		text_length--;
	if (text_length % 4 == 1)
		return -1;
	size_t padded_length = (text_length + 3) / 4 * 4;
	char *padded = malloc(padded_length + 1);
	for (size_t i = 0; i < text_length; i++) {
		char c = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
		      c == '/')) {
			free(padded);
			return -1;
		}
		padded[i] = c;
	}
	memset(padded + text_length, '=', padded_length - text_length);
	uint8_t *bytes = malloc(padded_length / 4 * 3 + 1);
	int decoded = EVP_DecodeBlock(bytes, (unsigned char *)padded, (int)padded_length);
	free(padded);
	if (decoded < 0) {
		free(bytes);
		return -1;
	}
	*out_length = (size_t)decoded - (padded_length - text_length);
	*out = bytes;
	return 0;
}

static void assert_same_as_reference(const char *text, size_t length)
{
	uint8_t *mine = NULL, *theirs = NULL;
	size_t mine_length = 0, theirs_length = 0;
	int result = portico_base64_decode(text, length, &mine, &mine_length);
	assert_int_equal(result, reference_decode(text, length, &theirs, &theirs_length));
	if (result == 0) {
		assert_int_equal(mine_length, theirs_length);
		assert_memory_equal(mine, theirs, mine_length);
	}
	free(mine);
	free(theirs);
}

static void test_same_answers_as_the_openssl_decoder(void **state)
{
	(void)state;
	static const char *const texts[] = {"",       "=",          "====",         "QQ",     "QR",
	                                    "QR==",   "QQ=====",    "QUI",          "QUJ",    "QUJD",
	                                    "QUJDRA", "A=BC",       "AB=C",         "Zm9v\n", "Zm9v\0",
	                                    "-_-_AA", "\303\251AA", "Zm9vYmFy====", "Zm9vY",  "Zm9vYm"};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		assert_same_as_reference(texts[i], strlen(texts[i]));
	/* Random texts over the characters that matter, of every length up to 40. */
	static const char alphabet[] = "ABCXYZabxyz0189+/-_=! \n";
	unsigned seed = 21;
	char text[40];
	for (int round = 0; round < 20000; round++) {
		size_t length = (size_t)(round % 40);
		for (size_t i = 0; i < length; i++) {
			seed = seed * 1103515245 + 12345;
			/* Mostly valid characters, so that most texts decode. */
			size_t pick = (seed >> 16) % (round % 3 ? 15 : sizeof alphabet - 1);
			text[i] = alphabet[pick];
		}
		assert_same_as_reference(text, length);
	}
	/* A long valid text, encoded from every byte value. */
	uint8_t bytes[3 * 1000 + 2];
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = (uint8_t)(i * 7);
	char *encoded = portico_base64_encode(bytes, sizeof bytes);
	assert_same_as_reference(encoded, strlen(encoded));
	assert_same_as_reference(encoded, strlen(encoded) - 1);
	free(encoded);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc4648_vectors),
	        cmocka_unit_test(test_url_safe_and_unpadded_input),
	        cmocka_unit_test(test_bad_input_is_refused),
	        cmocka_unit_test(test_same_answers_as_the_openssl_decoder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
