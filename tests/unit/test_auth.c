/* Rate limits, credentials and permission checks of an auth configuration loaded as the gateway
 * loads it (PORTICO_AUTH_FILE): a burst passes, the next request gets 429 with a Retry-After,
 * tokens come back with time, and each API key has a bucket of its own; API keys and JWTs are
 * read from request headers as the server hands them over, and a JWT's claims give its caller's
 * permissions and namespaces; a caller lacking a permission or a namespace gets 403 saying which. */
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

#include "header_list.h"
#include "json_assert.h"

#include "auth.h"

/* The SHA-256 of "test-key": any well-formed key will do, none is presented here. */
#define KEYS                                                                                                           \
	"\"apiKeys\": [{\"name\": \"ci\", \"sha256\": "                                                                \
	"\"62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef\", \"namespaces\": [\"default\"], "        \
	"\"permissions\": [\"read\"]}]"

/* Writes text to a new temporary file named path (the caller unlinks it). */
static void write_temporary(const char *text, char path[static 30])
{
	strcpy(path, "/tmp/portico-test-auth-XXXXXX");
	int file = mkstemp(path);
	assert_true(file >= 0);
	assert_int_equal(write(file, text, strlen(text)), (ssize_t)strlen(text));
	close(file);
}

/* The configuration from a file holding json, or NULL with err. Free with auth_config_free. */
static auth_config *config_from(const char *json, portico_error *err)
{
	char path[30];
	write_temporary(json, path);
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

/* A rate under one a second without a burst still lets one request through, then says when the
 * next may come (its bucket once held less than a token, and refused everything for ever). */
static void test_a_slow_rate_without_a_burst_holds_one_token(void **state)
{
	(void)state;
	auth_config *config = limited("{\"perSecond\": 0.25}");
	int64_t retry_after_s;
	assert_int_equal(take(config, &retry_after_s), 0);
	assert_int_equal(take(config, &retry_after_s), -1);
	assert_int_equal(retry_after_s, 4);
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

/* A caller made by hand as a JWT makes one: its permissions and namespaces come from its claims. */
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

/* 0 and the caller of headers' credentials, or -1 with the 401's message in err. */
static int authenticate(const auth_config *config, request_headers headers, auth_caller *caller, portico_error *err)
{
	*caller = (auth_caller){0};
	int refused = auth_authenticate(config, headers, caller, err);
	if (refused)
		assert_int_equal(err->code, PORTICO_UNAUTHENTICATED);
	return refused;
}

/* "ci" is "test-key" (2 a second, 2 at once), "ops" is "ops-key" (one every 4 seconds). */
#define TWO_KEYS                                                                                                       \
	"{\"apiKeys\": [{\"name\": \"ci\", \"sha256\": "                                                               \
	"\"62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef\", \"namespaces\": [\"default\"], "        \
	"\"permissions\": [\"read\"], \"rateLimit\": {\"perSecond\": 0.5, \"burst\": 2}}, "                            \
	"{\"name\": \"ops\", \"sha256\": \"2c69bc9111c27110a9b9a7974ba3f8ac0c053c16b23a0738115ee829fbc4d57b\", "       \
	"\"namespaces\": [\"*\"], \"permissions\": [\"admin\"], \"rateLimit\": {\"perSecond\": 0.25, \"burst\": 1}}]}"

/* -1 when the caller is refused a token, with its Retry-After in the message; 0 when it may go on. */
static int take_as(auth_config *config, const auth_caller *caller, int64_t expected_retry_after_s)
{
	portico_error err = PORTICO_ERROR_INIT;
	int64_t retry_after_s = 0;
	int refused = auth_take_token(config, caller, &retry_after_s, &err);
	if (refused) {
		assert_int_equal(err.code, PORTICO_RESOURCE_EXHAUSTED);
		assert_int_equal(retry_after_s, expected_retry_after_s);
		char expected[64];
		snprintf(expected, sizeof expected, "rate limit reached; retry after %lld s",
		         (long long)expected_retry_after_s);
		assert_string_equal(err.message, expected);
	}
	portico_error_clear(&err);
	return refused;
}

static void test_each_api_key_has_its_own_rate_limit(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *config = config_from(TWO_KEYS, &err);
	assert_non_null(config);
	auth_caller ci, ops;
	assert_int_equal(authenticate(config, HEADERS({"Authorization", "Bearer test-key"}), &ci, &err), 0);
	assert_int_equal(authenticate(config, HEADERS({"X-API-Key", "ops-key"}), &ops, &err), 0);
	assert_non_null(ci.key);
	assert_ptr_not_equal(ci.key, ops.key);

	/* ci's burst is spent; ops's bucket is full all the same, and spending it leaves ci's alone. */
	assert_int_equal(take_as(config, &ci, 0), 0);
	assert_int_equal(take_as(config, &ci, 0), 0);
	assert_int_equal(take_as(config, &ci, 2), -1);
	assert_int_equal(take_as(config, &ops, 0), 0);
	assert_int_equal(take_as(config, &ops, 4), -1);
	assert_int_equal(take_as(config, &ci, 2), -1);

	/* Each holds its own permissions and namespaces. */
	assert_int_equal(auth_check(config, &ci, PERMISSION_READ, "default", NULL, &err), 0);
	assert_int_equal(auth_check(config, &ci, PERMISSION_READ, "billing", NULL, &err), -1);
	portico_error_clear(&err);
	assert_int_equal(auth_check(config, &ops, PERMISSION_CANCEL, "billing", NULL, &err), 0);
	auth_caller_clear(&ci);
	auth_caller_clear(&ops);
	auth_config_free(config);
}

static void test_credentials_are_read_from_the_headers(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *config = config_from(TWO_KEYS, &err);
	auth_caller caller, ops;
	assert_int_equal(authenticate(config, NO_HEADERS, &caller, &err), -1);
	assert_string_equal(err.message,
	                    "credentials required: Authorization: Bearer <API key or token>, or X-API-Key");
	portico_error_clear(&err);
	assert_int_equal(authenticate(config, HEADERS({"Authorization", "Bearer nope"}), &caller, &err), -1);
	assert_string_equal(err.message, "unknown API key");
	portico_error_clear(&err);
	/* A bearer token is the credential when there is one: X-API-Key does not stand in for it. */
	assert_int_equal(authenticate(config, HEADERS({"Authorization", "Bearer nope"}, {"X-API-Key", "ops-key"}),
	                              &caller, &err),
	                 -1);
	portico_error_clear(&err);
	assert_int_equal(authenticate(config, HEADERS({"authorization", "bearer ops-key"}), &caller, &err), 0);
	assert_int_equal(authenticate(config, HEADERS({"x-api-key", "ops-key"}), &ops, &err), 0);
	assert_ptr_equal(caller.key, ops.key);
	auth_config_free(config);
}

/* The ES256 key "ec-1" of fuzz/auth_corpus.py, and a token it signed (valid until 2100) for
 * subject "ada" with namespaces default and billing and permissions read, signal and an unknown
 * "root". */
#define JWKS                                                                                                           \
	"{\"keys\": [{\"kty\": \"EC\", \"kid\": \"ec-1\", \"crv\": \"P-256\", "                                        \
	"\"x\": \"EHoPRqaJWPMt089tOUpYjekJLGCwP91vN1-FSn_qY78\", \"y\": "                                              \
	"\"aVh5-YySu-P9tLee-dapJn0h-aCDnkqpi79Wty4pD_w\"}]}"
#define TOKEN_HEADER "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVjLTEifQ"
#define TOKEN_CLAIMS                                                                                                   \
	"eyJpc3MiOiJodHRwczovL2xvZ2luLnBvcnRpY28udGVzdCIsImF1ZCI6InBvcnRpY28iLCJzdWIiOiJhZGEiLCJleHAiOjQxMDI0NDQ4MDAs" \
	"Im5iZiI6MTcwMDAwMDAwMCwicG9ydGljby9uYW1lc3BhY2VzIjpbImRlZmF1bHQiLCJiaWxsaW5nIl0sInBvcnRpY28vcGVybWlzc2lvbnMi" \
	"OlsicmVhZCIsInNpZ25hbCIsInJvb3QiXX0"
#define TOKEN_SIGNATURE "7hauhAbvSZNSz3Iqx9RYvv-7YscpmQsnK35JTf5v9xpsMmjFdkx1tthHL4y1ngUWD9DuOg5BAM9_4Wo_d3zNRA"

static void test_a_jwt_caller_holds_its_claims(void **state)
{
	(void)state;
	char jwks_path[30], auth[512];
	write_temporary(JWKS, jwks_path);
	snprintf(auth, sizeof auth,
	         "{\"jwt\": {\"jwksFile\": \"%s\", \"issuer\": \"https://login.portico.test\", \"audience\": "
	         "\"portico\", \"namespacesClaim\": \"portico/namespaces\", \"permissionsClaim\": "
	         "\"portico/permissions\"}}",
	         jwks_path);
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *config = config_from(auth, &err);
	unlink(jwks_path);
	if (!config)
		fail_msg("%s", err.message);

	auth_caller caller;
	assert_int_equal(
	        authenticate(config,
	                     HEADERS({"Authorization", "Bearer " TOKEN_HEADER "." TOKEN_CLAIMS "." TOKEN_SIGNATURE}),
	                     &caller, &err),
	        0);
	assert_null(caller.key);
	assert_string_equal(caller.subject, "ada");
	assert_int_equal(caller.permissions, PERMISSION_READ | PERMISSION_SIGNAL);
	assert_json_equal(json_incref(caller.namespaces), "[\"default\", \"billing\"]");
	assert_int_equal(auth_check(config, &caller, PERMISSION_SIGNAL, "billing", NULL, &err), 0);
	assert_int_equal(auth_check(config, &caller, PERMISSION_START, "default", NULL, &err), -1);
	assert_string_equal(err.message, "these credentials lack the \"start\" permission");
	portico_error_clear(&err);
	assert_int_equal(auth_check(config, &caller, PERMISSION_READ, "other", NULL, &err), -1);
	portico_error_clear(&err);
	/* A JWT has no bucket of its own: without a global limit, it is never refused. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(take_as(config, &caller, 0), 0);
	auth_caller_clear(&caller);

	/* Claims that are not the ones signed (here: no signature at all). */
	assert_int_equal(authenticate(config, HEADERS({"Authorization", "Bearer " TOKEN_HEADER "." TOKEN_CLAIMS "."}),
	                              &caller, &err),
	                 -1);
	assert_string_equal(err.message, "invalid token");
	portico_error_clear(&err);
	assert_null(caller.subject);
	auth_config_free(config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_a_burst_passes_then_429_with_retry_after),
	        cmocka_unit_test(test_burst_defaults_to_one_seconds_worth),
	        cmocka_unit_test(test_a_slow_rate_without_a_burst_holds_one_token),
	        cmocka_unit_test(test_retry_after_is_the_wait_for_the_next_token),
	        cmocka_unit_test(test_tokens_come_back_with_time),
	        cmocka_unit_test(test_no_rate_limit_means_none),
	        cmocka_unit_test(test_bad_rate_limits_stop_start_up),
	        cmocka_unit_test(test_403_names_the_missing_permission_or_the_namespace),
	        cmocka_unit_test(test_each_api_key_has_its_own_rate_limit),
	        cmocka_unit_test(test_credentials_are_read_from_the_headers),
	        cmocka_unit_test(test_a_jwt_caller_holds_its_claims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
