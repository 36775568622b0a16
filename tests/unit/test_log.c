/* The log line writer against the jansson way it replaces (portico_log_text values in an object,
 * written by the JSON writer): the same bytes for every kind of text, valid UTF-8 or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_text.h"
#include "log.h"

/* What the writer sends for one line of {"name": text, "n": number}, read back from a pipe. */
static char *written_line(const char *text, long long number, size_t *length)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	portico_log_writer line;
	portico_log_writer_start(&line);
	portico_log_writer_text(&line, "level", "info");
	portico_log_writer_text(&line, "name", text);
	portico_log_writer_int(&line, "n", number);
	portico_log_writer_text(&line, "same", text);
	portico_log_writer_send(&line, fds[1]);
	close(fds[1]);
	size_t capacity = 65536, used = 0;
	char *out = malloc(capacity);
	ssize_t got;
	while ((got = read(fds[0], out + used, capacity - used)) > 0)
		used += (size_t)got;
	close(fds[0]);
	*length = used;
	return out;
}

/* The same line as the access log built it before the writer. */
static char *jansson_line(const char *text, long long number, size_t *length)
{
	json_t *object = json_pack("{s:s,s:o,s:I,s:o}", "level", "info", "name", portico_log_text(text), "n",
	                           (json_int_t)number, "same", portico_log_text(text));
	char *out = portico_json_text(object, 0, length);
	json_decref(object);
	out[(*length)++] = '\n';
	return out;
}

static void assert_same_line(const char *text, long long number)
{
	size_t written_length, expected_length;
	char *written = written_line(text, number, &written_length);
	char *expected = jansson_line(text, number, &expected_length);
	assert_int_equal(written_length, expected_length);
	assert_memory_equal(written, expected, expected_length);
	free(written);
	free(expected);
}

static void test_plain_and_escaped_text(void **state)
{
	(void)state;
	static const char *const texts[] = {
	        "",
	        "/api/v1/namespaces/default/workflows/order-1",
	        "quote \" backslash \\ slash /",
	        "\n\r\t\b\f\x01\x1f\x7f",
	        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		assert_same_line(texts[i], (long long)i);
	assert_same_line(NULL, 0);
}

static void test_bytes_that_are_not_utf8(void **state)
{
	(void)state;
	static const char *const texts[] = {
	        "\xff",
	        "a\x80z",
	        "\xc0\xaf",         /* overlong */
	        "\xed\xa0\x80",     /* a surrogate */
	        "\xf4\x90\x80\x80", /* past U+10FFFF */
	        "\xe2\x82",         /* cut short */
	        "\xc3\xa9\xc3",
	        "%ff\xfe\"\\\n",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		assert_same_line(texts[i], 0);
}

static void test_numbers_and_long_lines(void **state)
{
	(void)state;
	static const long long numbers[] = {0, 7, -1, 200, 1234567890123LL, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
		assert_same_line("x", numbers[i]);
	/* Past the writer's own buffer: it grows on the heap. */
	char *text = malloc(9000);
	for (size_t i = 0; i < 8999; i++)
		text[i] = "a\"\x01\xc3\xa9\xff"[i % 6];
	text[8999] = '\0';
	assert_same_line(text, 1);
	free(text);
}

/* Every byte value, alone and after a lead byte, so that each branch of the UTF-8 check is met. */
static void test_every_byte(void **state)
{
	(void)state;
	for (unsigned lead = 1; lead < 256; lead++) {
		char text[4] = {(char)lead, 0, 0, 0};
		assert_same_line(text, 0);
		for (unsigned next = 1; next < 256; next += 7) {
			text[1] = (char)next;
			text[2] = (char)0x80;
			assert_same_line(text, 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_and_escaped_text),
	        cmocka_unit_test(test_bytes_that_are_not_utf8),
	        cmocka_unit_test(test_numbers_and_long_lines),
	        cmocka_unit_test(test_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
