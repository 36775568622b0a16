/* Rate limits and permission checks of an auth configuration loaded as the gateway loads it
 * (PORTICO_AUTH_FILE): a burst passes, the next request gets 429 with a Retry-After, tokens come
 * back with time; a caller lacking a permission or a namespace gets 403 saying which. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_assert.h"

#include "auth.h"

/* The SHA-256 of "test-key": any well-formed key will do, none is presented here. */
#define KEYS                                                                                                           \
	"\"apiKeys\": [{\"name\": \"ci\", \"sha256\": "                                                                \
	"\"62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef\", \"namespaces\": [\"default\"], "        \
	"\"permissions\": [\"read\"]}]"

/* The configuration from a file holding json, or NULL with err. Free with auth_config_free. */
static auth_config *config_from(const char *json, portico_error *err)
{
	char path[] = "/tmp/portico-test-auth-XXXXXX";
	int file = mkstemp(path);
	assert_true(file >= 0);
	assert_int_equal(write(file, json, strlen(json)), (ssize_t)strlen(json));
	close(file);
	unsetenv("PORTICO_AUTH");
	setenv("PORTICO_AUTH_FILE", path, 1);
	auth_config *config = auth_config_from_env(err);
	unsetenv("PORTICO_AUTH_FILE");
	unlink(path);
	return config;
}

static auth_config *limited(const char *rate_limit)
{
	char json[512];
	snprintf(json, sizeof json, "{" KEYS ", \"rateLimit\": %s}", rate_limit);
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *config = config_from(json, &err);
	if (!config)
		fail_msg("%s: %s", rate_limit, err.message);
	return config;
}

/* -1 when the caller is refused a token, with *retry_after_s; 0 when it may go on. */
static int take(auth_config *config, int64_t *retry_after_s)
{
	auth_caller anyone = {0};
	portico_error err = PORTICO_ERROR_INIT;
	*retry_after_s = 0;
	int refused = auth_take_token(config, &anyone, retry_after_s, &err);
	if (refused) {
		assert_int_equal(err.code, PORTICO_RESOURCE_EXHAUSTED);
		char expected[64];
		snprintf(expected, sizeof expected, "rate limit reached; retry after %lld s",
		         (long long)*retry_after_s);
		assert_string_equal(err.message, expected);
	}
	portico_error_clear(&err);
	return refused;
}

static void test_a_burst_passes_then_429_with_retry_after(void **state)
{
	(void)state;
	auth_config *config = limited("{\"perSecond\": 1, \"burst\": 3}");
	int64_t retry_after_s;
	for (int i = 0; i < 3; i++)
		assert_int_equal(take(config, &retry_after_s), 0);
	assert_int_equal(take(config, &retry_after_s), -1);
	assert_int_equal(retry_after_s, 1);
	auth_config_free(config);
}

/* Without a burst, a second's worth passes at once. */
static void test_burst_defaults_to_one_seconds_worth(void **state)
{
	(void)state;
	auth_config *config = limited("{\"perSecond\": 2}");
	int64_t retry_after_s;
	assert_int_equal(take(config, &retry_after_s), 0);
	assert_int_equal(take(config, &retry_after_s), 0);
	assert_int_equal(take(config, &retry_after_s), -1);
	assert_int_equal(retry_after_s, 1);
	auth_config_free(config);
}

/* Retry-After is whole seconds, rounded up: a slow rate says to wait longer. */
static void test_retry_after_is_the_wait_for_the_next_token(void **state)
{
	(void)state;
	auth_config *config = limited("{\"perSecond\": 0.25, \"burst\": 1}");
	int64_t retry_after_s;
	assert_int_equal(take(config, &retry_after_s), 0);
	assert_int_equal(take(config, &retry_after_s), -1);
	assert_int_equal(retry_after_s, 4);
	auth_config_free(config);
}

static void test_tokens_come_back_with_time(void **state)
{
	(void)state;
	auth_config *config = limited("{\"perSecond\": 10, \"burst\": 1}");
	int64_t retry_after_s;
	int taken = 0;
	while (take(config, &retry_after_s) == 0)
		assert_true(++taken < 100); /* a token per 100 ms: drained at once however slow the machine */
	nanosleep(&(struct timespec){0, 120 * 1000000}, NULL);
	assert_int_equal(take(config, &retry_after_s), 0);
	auth_config_free(config);
}

static void test_no_rate_limit_means_none(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *config = config_from("{" KEYS "}", &err);
	assert_non_null(config);
	int64_t retry_after_s;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(take(config, &retry_after_s), 0);
	auth_config_free(config);
}

static void test_bad_rate_limits_stop_start_up(void **state)
{
	(void)state;
	static const char *const bad[] = {"{\"perSecond\": 0}",     "{\"perSecond\": -1}",
	                                  "{\"burst\": 5}",         "{\"perSecond\": 5, \"burst\": 0.5}",
	                                  "{\"perSecond\": \"5\"}", "5"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char json[512];
		snprintf(json, sizeof json, "{" KEYS ", \"rateLimit\": %s}", bad[i]);
		portico_error err = PORTICO_ERROR_INIT;
		auth_config *config = config_from(json, &err);
		if (config)
			fail_msg("rateLimit %s accepted", bad[i]);
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		assert_non_null(strstr(err.message, ": rateLimit: expected {\"perSecond\": > 0, \"burst\": >= 1}"));
		portico_error_clear(&err);
	}
}

/* The caller a JWT makes: its permissions and namespaces come from its claims (an API key is
 * looked up from a request, which needs the HTTP server). */
static void test_403_names_the_missing_permission_or_the_namespace(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *config = config_from("{" KEYS "}", &err);
	auth_caller caller = {.permissions = PERMISSION_START, .namespaces = parse("[\"default\"]")};
	assert_int_equal(auth_check(config, &caller, PERMISSION_START, "default", NULL, &err), 0);
	assert_int_equal(auth_check(config, &caller, PERMISSION_START | PERMISSION_CANCEL, "default",
	                            "workflowIdConflictPolicy TERMINATE_EXISTING terminates the running workflow",
	                            &err),
	                 -1);
	assert_int_equal(err.code, PORTICO_PERMISSION_DENIED);
	assert_string_equal(err.message, "these credentials lack the \"cancel\" permission: workflowIdConflictPolicy "
	                                 "TERMINATE_EXISTING terminates the running workflow");
	portico_error_clear(&err);
	assert_int_equal(auth_check(config, &caller, PERMISSION_START, "billing", NULL, &err), -1);
	assert_string_equal(err.message, "these credentials may not use that namespace");
	portico_error_clear(&err);

	/* Admin holds everything in its namespaces, but not what acts across them. */
	caller.permissions = PERMISSION_ADMIN;
	assert_int_equal(auth_check(config, &caller, PERMISSION_CANCEL | PERMISSION_ACTIVITIES | PERMISSION_CODEC,
	                            "default", NULL, &err),
	                 0);
	assert_int_equal(auth_check(config, &caller, PERMISSION_CLUSTER, NULL, NULL, &err), -1);
	assert_string_equal(err.message, "these credentials lack the \"cluster\" permission");
	portico_error_clear(&err);
	auth_caller_clear(&caller);
	auth_config_free(config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_a_burst_passes_then_429_with_retry_after),
	        cmocka_unit_test(test_burst_defaults_to_one_seconds_worth),
	        cmocka_unit_test(test_retry_after_is_the_wait_for_the_next_token),
	        cmocka_unit_test(test_tokens_come_back_with_time),
	        cmocka_unit_test(test_no_rate_limit_means_none),
	        cmocka_unit_test(test_bad_rate_limits_stop_start_up),
	        cmocka_unit_test(test_403_names_the_missing_permission_or_the_namespace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
