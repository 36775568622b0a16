/* Settings read from the environment: numbers and durations within bounds, every bad value an
 * error naming the variable; and log lines that stay one valid JSON object whatever they carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "settings.h"
#include "json_assert.h"

#define NAME "PORTICO_TEST_SETTING"

static int64_t number(const char *text, int64_t minimum, int64_t maximum, portico_error *err)
{
	setenv(NAME, text, 1);
	int64_t value = -12345;
	int failed = portico_settings_number(NAME, 7, minimum, maximum, &value, err);
	unsetenv(NAME);
	return failed ? -12345 : value;
}

static int64_t duration(const char *text, portico_error *err)
{
	setenv(NAME, text, 1);
	int64_t value = -12345;
	int failed = portico_settings_duration_ms(NAME, 30000, 0, 3600000, &value, err);
	unsetenv(NAME);
	return failed ? -12345 : value;
}

static void test_numbers(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	int64_t value = 0;
	unsetenv(NAME);
	assert_int_equal(portico_settings_number(NAME, 7, 1, 10, &value, &err), 0);
	assert_int_equal(value, 7); /* unset: the default */
	setenv(NAME, "", 1);
	assert_int_equal(portico_settings_number(NAME, 7, 1, 10, &value, &err), 0);
	assert_int_equal(value, 7); /* empty: the default too */
	assert_int_equal(number("10", 1, 10, &err), 10);
	assert_int_equal(number("1", 1, 10, &err), 1);
	assert_int_equal(err.code, PORTICO_OK);

	static const char *const bad[] = {"abc", "0", "11", "-1", "5x", "5 ", " ", "1e3", "99999999999999999999", "5s"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(number(bad[i], 1, 10, &err), -12345);
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		assert_non_null(strstr(err.message, NAME ": expected a whole number from 1 to 10"));
		assert_non_null(strstr(err.message, bad[i]));
		portico_error_clear(&err);
	}
}

static void test_durations(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(duration("45", &err), 45000); /* a bare number is seconds */
	assert_int_equal(duration("45s", &err), 45000);
	assert_int_equal(duration("250ms", &err), 250);
	assert_int_equal(duration("2m", &err), 120000);
	assert_int_equal(duration("0", &err), 0);
	assert_int_equal(duration("60m", &err), 3600000);
	assert_int_equal(duration("1h", &err), 3600000);
	assert_int_equal(err.code, PORTICO_OK);

	/* The last overflows when scaled to milliseconds: refused, not wrapped. */
	static const char *const bad[] = {"abc", "30x",  "61m", "2h",  "-1s",
	                                  "s",   "1.5s", " 5s", "+5s", "9223372036854775807s"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(duration(bad[i], &err), -12345);
		assert_non_null(
		        strstr(err.message, NAME ": expected a duration from 0s to 1h, such as 30s, 500ms, 2m or 1h"));
		portico_error_clear(&err);
	}
}

/* The one duration parser, as the query parameters (?timeout=, ?wait=) use it. */
static void test_one_duration_parser(void **state)
{
	(void)state;
	int64_t ms = 0;
	assert_int_equal(portico_duration_parse("1h", &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(portico_duration_parse("90", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(portico_duration_parse("1h30m", &ms), -1);
	assert_int_equal(portico_duration_parse("", &ms), -1);
	portico_error err = PORTICO_ERROR_INIT;
	portico_duration_error(&err, "timeout", "2h", 0, 3600000);
	assert_string_equal(err.message, "timeout: expected a duration from 0s to 1h, such as 30s, 500ms, 2m or 1h (a "
	                                 "bare number is seconds), got \"2h\"");
	portico_error_clear(&err);
}

/* Units are whole words in lower case; a number that overflows in milliseconds is refused in every
 * unit; and the message writes its bounds in the unit a user would. */
static void test_duration_units_and_bounds_as_users_write_them(void **state)
{
	(void)state;
	int64_t ms = 0;
	assert_int_equal(portico_duration_parse("2562047788015h", &ms), 0);
	assert_int_equal(ms, INT64_C(2562047788015) * 3600000);
	static const char *const bad[] = {
	        "5S", "5 s", "5ss", "5msx", "5sec", "5d", "2562047788016h", "153722867280913m"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (portico_duration_parse(bad[i], &ms) != -1)
			fail_msg("\"%s\" parsed", bad[i]);
	portico_error err = PORTICO_ERROR_INIT;
	portico_duration_error(&err, "wait", "5d", 500, 90000);
	assert_non_null(strstr(err.message, "wait: expected a duration from 500ms to 90s,"));
	portico_error_clear(&err);
	portico_duration_error(&err, "wait", "5d", 60000, 120000);
	assert_non_null(strstr(err.message, "wait: expected a duration from 1m to 2m,"));
	portico_error_clear(&err);
}

/* Runs portico_log with stderr sent to a file; returns the text written. */
static char *logged(const char *level, const char *message, json_t *fields)
{
	char path[] = "/tmp/portico-test-log-XXXXXX";
	int file = mkstemp(path);
	assert_true(file >= 0);
	int saved = dup(STDERR_FILENO);
	dup2(file, STDERR_FILENO);
	portico_log(level, message, fields);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char *text = calloc(1, 4096);
	assert_true(pread(file, text, 4095, 0) > 0);
	close(file);
	unlink(path);
	return text;
}

static void test_log_lines_are_json_whatever_they_carry(void **state)
{
	(void)state;
	const char *workflow_id = "quote\" back\\slash\nnew line\x01";
	char *text = logged("warn", "attempt \"timed\" out",
	                    json_pack("{s:o,s:i,s:o,s:s}", "workflowId", portico_log_text(workflow_id), "attempt", 2,
	                              "bytes", portico_log_text("caf\xc3\xa9 \xff\xfe end"), "level", "ignored"));
	assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1); /* one line, ended */
	json_error_t error;
	json_t *line = json_loads(text, 0, &error);
	if (!line)
		fail_msg("not JSON (%s): %s", error.text, text);
	assert_json_equal(line, "{\"level\": \"warn\", \"message\": \"attempt \\\"timed\\\" out\", "
	                        "\"workflowId\": \"quote\\\" back\\\\slash\\nnew line\\u0001\", \"attempt\": 2, "
	                        "\"bytes\": \"caf\\u00e9 \\ufffd\\ufffd end\"}");
	/* level and message lead, as in every other log line. */
	assert_int_equal(strncmp(text, "{\"level\":\"warn\",\"message\":", 26), 0);
	free(text);

	text = logged("info", "no fields", NULL);
	assert_string_equal(text, "{\"level\":\"info\",\"message\":\"no fields\"}\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_numbers),
	        cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_one_duration_parser),
	        cmocka_unit_test(test_duration_units_and_bounds_as_users_write_them),
	        cmocka_unit_test(test_log_lines_are_json_whatever_they_carry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
