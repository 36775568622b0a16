/* The transport without a server: caller mistakes, an unreachable address within the deadline,
 * retries, and asynchronous calls cancelled by close or by their caller. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "backoff.h"
#include "clock.h"
#include "transport.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

/* Nothing listens on port 1 of loopback: connections are refused at once. */
#define UNREACHABLE "127.0.0.1:1"

static portico_transport *open_unreachable(void)
{
	portico_config cfg;
	portico_config_init(&cfg);
	portico_config_set(&cfg.address, UNREACHABLE);
	portico_error err = PORTICO_ERROR_INIT;
	portico_transport *transport = portico_transport_open(&cfg, &err);
	portico_config_free(&cfg);
	assert_non_null(transport);
	return transport;
}

static void test_unknown_method_and_wrong_request_type(void **state)
{
	(void)state;
	portico_transport *transport = open_unreachable();
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	ProtobufCMessage *response;
	portico_error err = PORTICO_ERROR_INIT;

	portico_call_options options = {.method = "NoSuchMethod"};
	assert_int_equal(portico_transport_call(transport, &options, &request.base, &response, &err), -1);
	assert_int_equal(err.code, PORTICO_UNIMPLEMENTED);
	assert_string_equal(err.message, "NoSuchMethod is not a WorkflowService method");

	options.method = "DescribeWorkflowExecution";
	assert_int_equal(portico_transport_call(transport, &options, &request.base, &response, &err), -1);
	assert_int_equal(err.code, PORTICO_INTERNAL);
	assert_null(response);
	portico_error_clear(&err);
	portico_transport_close(transport);
}

static void test_unreachable_server_fails_within_the_deadline(void **state)
{
	(void)state;
	portico_transport *transport = open_unreachable();
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	portico_call_options options = {.method = "GetSystemInfo", .timeout_ms = 1500, .retry_transient = 1};
	ProtobufCMessage *response;
	portico_error err = PORTICO_ERROR_INIT;

	int64_t started = portico_monotonic_ms();
	assert_int_equal(portico_transport_call(transport, &options, &request.base, &response, &err), -1);
	int64_t elapsed = portico_monotonic_ms() - started;
	assert_int_equal(err.code, PORTICO_UNAVAILABLE);
	assert_non_null(strstr(err.message, "Temporal at " UNREACHABLE " did not answer GetSystemInfo (UNAVAILABLE"));
	/* Retried with backoff (200, 400, 800 ms) but never past the deadline. */
	assert_non_null(strstr(err.message, "attempts"));
	assert_true(elapsed <= 1500 + 500);
	portico_error_clear(&err);

	options.retry_transient = 0;
	assert_int_equal(portico_transport_call(transport, &options, &request.base, &response, &err), -1);
	assert_non_null(strstr(err.message, "(UNAVAILABLE, 1 attempt)"));
	portico_error_clear(&err);
	portico_transport_close(transport);
}

typedef struct outcome {
	pthread_mutex_t lock;
	pthread_cond_t done;
	int calls;
	portico_code code;
	char message[256];
} outcome;

static void record(void *arg, ProtobufCMessage *response, portico_error *err)
{
	outcome *out = arg;
	assert_null(response);
	pthread_mutex_lock(&out->lock);
	out->calls++;
	out->code = err->code;
	snprintf(out->message, sizeof out->message, "%s", err->message);
	pthread_cond_signal(&out->done);
	pthread_mutex_unlock(&out->lock);
}

static void test_async_call_reports_on_the_completion_thread(void **state)
{
	(void)state;
	portico_transport *transport = open_unreachable();
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	portico_call_options options = {.method = "GetSystemInfo", .timeout_ms = 1000, .retry_transient = 1};
	outcome out = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, PORTICO_OK, ""};
	portico_error err = PORTICO_ERROR_INIT;

	assert_int_equal(portico_transport_call_async(transport, &options, &request.base, record, &out, &err), 0);
	pthread_mutex_lock(&out.lock);
	while (!out.calls)
		pthread_cond_wait(&out.done, &out.lock);
	pthread_mutex_unlock(&out.lock);
	assert_int_equal(out.code, PORTICO_UNAVAILABLE);
	assert_non_null(strstr(out.message, UNREACHABLE));
	portico_transport_close(transport);
	assert_int_equal(out.calls, 1);
}

static void test_close_cancels_waiting_retries(void **state)
{
	(void)state;
	portico_transport *transport = open_unreachable();
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	portico_call_options options = {.method = "GetSystemInfo", .timeout_ms = 60000, .retry_transient = 1};
	outcome out = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, PORTICO_OK, ""};
	portico_error err = PORTICO_ERROR_INIT;

	assert_int_equal(portico_transport_call_async(transport, &options, &request.base, record, &out, &err), 0);
	int64_t started = portico_monotonic_ms();
	portico_transport_close(transport);
	assert_int_equal(out.calls, 1);
	assert_int_equal(out.code, PORTICO_CANCELLED);
	assert_true(portico_monotonic_ms() - started < 5000);
}

/* Waits (up to 10 s) for out's callback; returns how long it took in milliseconds. */
static int64_t wait_for_callback(outcome *out)
{
	int64_t started = portico_monotonic_ms();
	pthread_mutex_lock(&out->lock);
	while (!out->calls && portico_monotonic_ms() - started < 10000) {
		pthread_mutex_unlock(&out->lock);
		struct timespec pause = {0, 10 * 1000000};
		nanosleep(&pause, NULL);
		pthread_mutex_lock(&out->lock);
	}
	pthread_mutex_unlock(&out->lock);
	return portico_monotonic_ms() - started;
}

/* A port that takes connections into its backlog and never speaks: a call there waits for the
 * server's HTTP/2 greeting until its deadline. Returns the listening socket. */
static int silent_listener(char *address, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in bound = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t length = sizeof bound;
	assert_int_equal(bind(fd, (struct sockaddr *)&bound, length), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&bound, &length), 0);
	snprintf(address, size, "127.0.0.1:%u", ntohs(bound.sin_port));
	return fd;
}

static void test_cancel_ends_a_call_on_the_wire_at_once(void **state)
{
	(void)state;
	char address[64];
	int listener = silent_listener(address, sizeof address);
	portico_config cfg;
	portico_config_init(&cfg);
	portico_config_set(&cfg.address, address);
	portico_error err = PORTICO_ERROR_INIT;
	portico_transport *transport = portico_transport_open(&cfg, &err);
	portico_config_free(&cfg);
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	portico_cancel cancel = {0};
	portico_call_options options = {.method = "GetSystemInfo", .timeout_ms = 60000, .cancel = &cancel};
	outcome out = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, PORTICO_OK, ""};

	assert_int_equal(portico_transport_call_async(transport, &options, &request.base, record, &out, &err), 0);
	struct timespec pause = {0, 300 * 1000000};
	nanosleep(&pause, NULL);
	assert_int_equal(out.calls, 0); /* still waiting for the silent server */
	assert_false(portico_transport_cancelled(transport, &cancel));
	portico_transport_cancel(transport, &cancel);
	assert_true(wait_for_callback(&out) < 5000);
	assert_int_equal(out.calls, 1);
	assert_int_equal(out.code, PORTICO_CANCELLED);
	assert_string_equal(out.message, "GetSystemInfo was cancelled by its caller");
	assert_true(portico_transport_cancelled(transport, &cancel));
	assert_null(cancel.call);

	/* Once cancelled, the next call of the same caller does not start. */
	assert_int_equal(portico_transport_call_async(transport, &options, &request.base, record, &out, &err), -1);
	assert_int_equal(err.code, PORTICO_CANCELLED);
	portico_error_clear(&err);
	portico_transport_close(transport);
	assert_int_equal(out.calls, 1);
	close(listener);
}

static void test_cancel_ends_a_call_waiting_to_retry(void **state)
{
	(void)state;
	portico_transport *transport = open_unreachable();
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	portico_cancel cancel = {0};
	portico_call_options options = {
	        .method = "GetSystemInfo", .timeout_ms = 60000, .retry_transient = 1, .cancel = &cancel};
	outcome out = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, PORTICO_OK, ""};
	portico_error err = PORTICO_ERROR_INIT;

	assert_int_equal(portico_transport_call_async(transport, &options, &request.base, record, &out, &err), 0);
	/* Refused connections are retried with backoff for a minute; cancel while it waits. */
	struct timespec pause = {1, 0};
	nanosleep(&pause, NULL);
	assert_int_equal(out.calls, 0);
	portico_transport_cancel(transport, &cancel);
	assert_true(wait_for_callback(&out) < 5000);
	assert_int_equal(out.code, PORTICO_CANCELLED);
	assert_non_null(strstr(out.message, "cancelled by its caller"));
	portico_transport_close(transport);
	assert_int_equal(out.calls, 1);
}

static void test_backoff_doubles_to_its_cap(void **state)
{
	(void)state;
	for (unsigned attempt = 1; attempt < 20; attempt++) {
		int64_t base = PORTICO_BACKOFF_INITIAL_MS << (attempt < 7 ? attempt - 1 : 6);
		if (base > PORTICO_BACKOFF_MAX_MS)
			base = PORTICO_BACKOFF_MAX_MS;
		int64_t delay = portico_backoff_delay_ms(attempt);
		assert_true(delay <= base);
		assert_true(delay >= base - base / 5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_unknown_method_and_wrong_request_type),
	        cmocka_unit_test(test_unreachable_server_fails_within_the_deadline),
	        cmocka_unit_test(test_async_call_reports_on_the_completion_thread),
	        cmocka_unit_test(test_close_cancels_waiting_retries),
	        cmocka_unit_test(test_cancel_ends_a_call_on_the_wire_at_once),
	        cmocka_unit_test(test_cancel_ends_a_call_waiting_to_retry),
	        cmocka_unit_test(test_backoff_doubles_to_its_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
