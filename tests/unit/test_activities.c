/* Activities run in the test environment, without a server: the built-in http.request against a
 * local HTTP server (Portico's own http module), the example countdown's heartbeats,
 * resumption and cancellation, and what a NULL result does to an attempt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "activity_env.h"
#include "http.h"
#include "http_request.h"
#include "worker.h"
#include "json_assert.h"

/* The example is a shared object's source; its activity function is static, so the test takes
 * the source in. */
#include "../../examples/activities/countdown.c"

static http_server *server;
static char base_url[64];

static void answer(void *arg, http_request *request)
{
	(void)arg;
	const char *path = http_request_path(request);
	unsigned status = 200;
	const char *body = "{\"hello\":\"world\"}";
	if (!strcmp(path, "/missing")) {
		status = 404;
		body = "{\"error\":\"none\"}";
	} else if (!strcmp(path, "/moved")) {
		status = 302;
		body = "{\"movedTo\":\"/ok\"}";
		http_response_header(request, "Location", "/ok");
	} else if (!strcmp(path, "/loop")) { /* a redirect to itself, for ever */
		status = 302;
		http_response_header(request, "Location", "/loop");
	} else if (!strcmp(path, "/busy")) {
		status = 503;
		http_response_header(request, "Retry-After", "2");
	} else if (!strcmp(path, "/framing")) {
		/* How the request's body was framed: a length, or chunks. */
		json_t *framing =
		        json_pack("{s:s?,s:s?}", "contentLength", http_request_header(request, "Content-Length"),
		                  "transferEncoding", http_request_header(request, "Transfer-Encoding"));
		char *text = json_dumps(framing, JSON_COMPACT);
		json_decref(framing);
		http_respond(request, 200, "application/json", text, strlen(text));
		return;
	} else if (!strcmp(path, "/text")) {
		http_respond(request, 200, "text/plain", strdup("plain words"), 11);
		return;
	}
	http_respond(request, status, "application/json", strdup(body), strlen(body));
}

static int start_server(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	http_server_options options = {.listen = "127.0.0.1:0",
	                               .threads = 1,
	                               .max_body_bytes = 1 << 20,
	                               .idle_timeout_s = 10,
	                               .handler = answer};
	portico_error err = PORTICO_ERROR_INIT;
	server = http_server_start(&options, &err);
	assert_non_null(server);
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", http_server_port(server));
	return 0;
}

static int stop_server(void **state)
{
	(void)state;
	http_server_stop(server);
	curl_global_cleanup();
	return 0;
}

/* Runs http.request on the env's loop, with a client freed before the env's loop is. */
static int run_http(portico_activity_env *env)
{
	http_request_client *client = http_request_client_new();
	int outcome = portico_activity_env_run(env, http_request_activity, client);
	http_request_client_free(client);
	return outcome;
}

/* Runs http.request with {"url": base_url + path}. */
static int fetch(portico_activity_env *env, const char *path)
{
	char url[128];
	snprintf(url, sizeof url, "%s%s", strstr(path, "://") ? "" : base_url, path);
	portico_activity_env_init(env);
	env->input = json_pack("[{s:s,s:i}]", "url", url, "timeoutSeconds", 5);
	int outcome = run_http(env);
	json_decref(env->input);
	return outcome;
}

static void test_http_request_success(void **state)
{
	(void)state;
	portico_activity_env env;
	assert_int_equal(fetch(&env, "/ok"), PORTICO_ACTIVITY_COMPLETED);
	assert_json_equal(json_incref(json_object_get(env.result, "body")), "{\"hello\": \"world\"}");
	assert_int_equal(json_integer_value(json_object_get(env.result, "status")), 200);
	portico_activity_env_free(&env);

	assert_int_equal(fetch(&env, "/text"), PORTICO_ACTIVITY_COMPLETED);
	assert_json_equal(json_incref(json_object_get(env.result, "body")), "\"plain words\"");
	portico_activity_env_free(&env);
}

/* A POST without a body sends an empty one, not whatever the worker's stdin holds. */
static void test_http_request_post_without_body(void **state)
{
	(void)state;
	char url[128];
	snprintf(url, sizeof url, "%s/framing", base_url);
	portico_activity_env env;
	portico_activity_env_init(&env);
	env.input = json_pack("[{s:s,s:s,s:i}]", "url", url, "method", "POST", "timeoutSeconds", 5);
	assert_int_equal(run_http(&env), PORTICO_ACTIVITY_COMPLETED);
	assert_json_equal(json_incref(json_object_get(env.result, "body")),
	                  "{\"contentLength\": \"0\", \"transferEncoding\": null}");
	json_decref(env.input);
	portico_activity_env_free(&env);
}

static void test_http_request_error_classes(void **state)
{
	(void)state;
	portico_activity_env env;
	assert_int_equal(fetch(&env, "/missing"), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "HttpClientError");
	assert_true(env.non_retryable);
	portico_activity_env_free(&env);

	assert_int_equal(fetch(&env, "/busy"), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "HttpServerError");
	assert_false(env.non_retryable);
	assert_int_equal(env.next_retry_delay_ms, 2000);
	portico_activity_env_free(&env);

	assert_int_equal(fetch(&env, "http://127.0.0.1:1/"), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "HttpConnectionError");
	assert_false(env.non_retryable);
	portico_activity_env_free(&env);

	assert_int_equal(fetch(&env, "file:///etc/passwd"), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "InvalidInput");
	assert_true(env.non_retryable);
	portico_activity_env_free(&env);

	portico_activity_env_init(&env);
	env.input = json_pack("[{s:i}]", "nourl", 1);
	assert_int_equal(run_http(&env), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "InvalidInput");
	json_decref(env.input);
	portico_activity_env_free(&env);
}

/* The input as read before a transfer: followRedirects is a boolean, true when absent. */
static void test_http_request_input_follow_redirects(void **state)
{
	(void)state;
	http_request_input request;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(http_request_input_read(json_pack("{s:s}", "url", "http://x/"), &request, &err), 0);
	assert_true(request.follow_redirects);
	http_request_input_free(&request);
	assert_int_equal(http_request_input_read(json_pack("{s:s,s:b}", "url", "http://x/", "followRedirects", 1),
	                                         &request, &err),
	                 0);
	assert_true(request.follow_redirects);
	http_request_input_free(&request);
	assert_int_equal(http_request_input_read(json_pack("{s:s,s:b}", "url", "http://x/", "followRedirects", 0),
	                                         &request, &err),
	                 0);
	assert_false(request.follow_redirects);
	http_request_input_free(&request);

	/* Anything else is refused by name, not taken as true or false. */
	const char *others[] = {"\"false\"", "0", "null", "{}"};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		json_t *input = json_pack("{s:s,s:o}", "url", "http://x/", "followRedirects",
		                          json_loads(others[i], JSON_DECODE_ANY, NULL));
		assert_int_equal(http_request_input_read(input, &request, &err), -1);
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		assert_string_equal(err.message, "http.request: followRedirects must be true or false");
		portico_error_clear(&err);
	}
	assert_int_equal(http_request_input_read(json_pack("{s:b}", "followRedirects", 0), &request, &err), -1);
	assert_non_null(strstr(err.message, "\"url\""));
	portico_error_clear(&err);
}

/* Redirects are followed by default; with followRedirects false the 3xx is the result, its
 * Location and body with it, and a followRedirects that is not a boolean fails the input. */
static void test_http_request_follow_redirects(void **state)
{
	(void)state;
	portico_activity_env env;
	assert_int_equal(fetch(&env, "/moved"), PORTICO_ACTIVITY_COMPLETED);
	assert_int_equal(json_integer_value(json_object_get(env.result, "status")), 200);
	assert_json_equal(json_incref(json_object_get(env.result, "body")), "{\"hello\": \"world\"}");
	/* the headers are the answer's, not the redirect's too */
	assert_null(json_object_get(json_object_get(env.result, "headers"), "location"));
	portico_activity_env_free(&env);

	char url[128];
	snprintf(url, sizeof url, "%s/moved", base_url);
	portico_activity_env_init(&env);
	env.input = json_pack("[{s:s,s:b,s:i}]", "url", url, "followRedirects", 0, "timeoutSeconds", 5);
	assert_int_equal(run_http(&env), PORTICO_ACTIVITY_COMPLETED);
	assert_int_equal(json_integer_value(json_object_get(env.result, "status")), 302);
	assert_string_equal(json_string_value(json_object_get(json_object_get(env.result, "headers"), "location")),
	                    "/ok");
	assert_json_equal(json_incref(json_object_get(env.result, "body")), "{\"movedTo\": \"/ok\"}");
	json_decref(env.input);
	portico_activity_env_free(&env);

	/* A redirect loop ends after MAX_REDIRECTS, and retrying it would loop again. */
	assert_int_equal(fetch(&env, "/loop"), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "HttpTooManyRedirects");
	assert_true(env.non_retryable);
	portico_activity_env_free(&env);

	portico_activity_env_init(&env);
	env.input = json_pack("[{s:s,s:s}]", "url", url, "followRedirects", "no");
	assert_int_equal(run_http(&env), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "InvalidInput");
	assert_true(env.non_retryable);
	assert_string_equal(env.error_message, "http.request: followRedirects must be true or false");
	json_decref(env.input);
	portico_activity_env_free(&env);
}

static void test_http_request_head_and_cancel(void **state)
{
	(void)state;
	char url[128];
	snprintf(url, sizeof url, "%s/ok", base_url);
	portico_activity_env env;
	portico_activity_env_init(&env);
	env.input = json_pack("[{s:s,s:s}]", "method", "HEAD", "url", url);
	assert_int_equal(run_http(&env), PORTICO_ACTIVITY_COMPLETED);
	assert_int_equal(json_integer_value(json_object_get(env.result, "status")), 200);
	json_decref(env.input);
	portico_activity_env_free(&env);

	/* A server that takes the connection and never answers: the attempt's start-to-close
	 * deadline cancels the transfer on the loop. */
	int silent = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t length = sizeof address;
	assert_int_equal(bind(silent, (struct sockaddr *)&address, length), 0);
	assert_int_equal(listen(silent, 4), 0);
	assert_int_equal(getsockname(silent, (struct sockaddr *)&address, &length), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/never", ntohs(address.sin_port));
	portico_activity_env_init(&env);
	env.input = json_pack("[{s:s}]", "url", url);
	env.info.start_to_close_timeout_ms = 300;
	assert_int_equal(run_http(&env), PORTICO_ACTIVITY_CANCELED);
	json_decref(env.input);
	portico_activity_env_free(&env);
	close(silent);
	snprintf(url, sizeof url, "%s/ok", base_url);

	/* Cancelled before it starts: the transfer is abandoned at once. */
	portico_activity_env_init(&env);
	env.input = json_pack("[{s:s}]", "url", url);
	env.cancel = 1;
	assert_int_equal(run_http(&env), PORTICO_ACTIVITY_CANCELED);
	json_decref(env.input);
	portico_activity_env_free(&env);
}

static void test_countdown_heartbeats_and_resumes(void **state)
{
	(void)state;
	portico_activity_env env;
	portico_activity_env_init(&env);
	env.input = json_pack("[{s:i,s:i,s:i}]", "from", 4, "stepMs", 1, "failAt", 2);
	assert_int_equal(portico_activity_env_run(&env, countdown, NULL), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "CountdownInterrupted");
	assert_json_equal(json_incref(env.heartbeats), "[3, 2]");
	json_t *input = env.input;
	portico_activity_env_free(&env);

	/* The second attempt starts from the last heartbeat. */
	portico_activity_env_init(&env);
	env.input = input;
	env.info.attempt = 2;
	env.heartbeat_details = json_integer(2);
	assert_int_equal(portico_activity_env_run(&env, countdown, NULL), PORTICO_ACTIVITY_COMPLETED);
	assert_json_equal(json_incref(env.result), "{\"reached\": 0, \"attempt\": 2, \"resumedFrom\": 2}");
	json_decref(env.heartbeat_details);
	json_decref(env.input);
	portico_activity_env_free(&env);
}

static void test_countdown_stops_when_cancelled(void **state)
{
	(void)state;
	portico_activity_env env;
	portico_activity_env_init(&env);
	env.input = json_pack("[{s:i,s:i}]", "from", 100, "stepMs", 1);
	env.cancel_after_heartbeats = 3;
	assert_int_equal(portico_activity_env_run(&env, countdown, NULL), PORTICO_ACTIVITY_CANCELED);
	assert_int_equal(json_array_size(env.heartbeats), 3);
	json_decref(env.input);
	portico_activity_env_free(&env);
}

/* Sets the result json_pack gives for text that is not UTF-8 (NULL), and says it completed. */
static int result_from_bad_text(portico_activity *activity, void *user_data)
{
	int *returned = user_data;
	*returned = portico_activity_set_result_json(activity, json_pack("{s:s}", "name", "\xff"));
	return PORTICO_ACTIVITY_COMPLETED;
}

static int null_result(portico_activity *activity, void *user_data)
{
	(void)user_data;
	return portico_activity_set_result_json(activity, json_null());
}

static void test_a_null_result_fails_the_attempt(void **state)
{
	(void)state;
	portico_activity_env env;
	portico_activity_env_init(&env);
	int returned = 0;
	/* However the activity ends, a NULL result is no result: the attempt fails and says why. */
	assert_int_equal(portico_activity_env_run(&env, result_from_bad_text, &returned), PORTICO_ACTIVITY_FAILED);
	assert_int_equal(returned, PORTICO_ACTIVITY_FAILED);
	assert_null(env.result);
	assert_string_equal(env.error_type, "ActivityResultError");
	assert_false(env.non_retryable);
	assert_non_null(strstr(env.error_message, "result is NULL"));
	portico_activity_env_free(&env);

	/* JSON null is a result like any other. */
	portico_activity_env_init(&env);
	assert_int_equal(portico_activity_env_run(&env, null_result, NULL), PORTICO_ACTIVITY_COMPLETED);
	assert_true(json_is_null(env.result));
	assert_null(env.error_type);
	portico_activity_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_http_request_success),
	        cmocka_unit_test(test_http_request_post_without_body),
	        cmocka_unit_test(test_http_request_error_classes),
	        cmocka_unit_test(test_http_request_input_follow_redirects),
	        cmocka_unit_test(test_http_request_follow_redirects),
	        cmocka_unit_test(test_http_request_head_and_cancel),
	        cmocka_unit_test(test_countdown_heartbeats_and_resumes),
	        cmocka_unit_test(test_countdown_stops_when_cancelled),
	        cmocka_unit_test(test_a_null_result_fails_the_attempt),
	};
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
