/* Errors carry Temporal's typed details decoded from google.rpc.Status bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"

#define ALREADY_STARTED Temporal__Api__Errordetails__V1__WorkflowExecutionAlreadyStartedFailure

/* Serializes a google.rpc.Status holding one Any of the given type and bytes. */
static uint8_t *status_bytes(const char *type_url, const uint8_t *value, size_t value_length, size_t *length)
{
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = (char *)type_url;
	any.value.data = (uint8_t *)value;
	any.value.len = value_length;
	Google__Protobuf__Any *details[] = {&any};
	Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
	status.code = PORTICO_ALREADY_EXISTS;
	status.message = "Workflow execution is already running.";
	status.n_details = 1;
	status.details = details;
	*length = google__rpc__status__get_packed_size(&status);
	uint8_t *bytes = malloc(*length);
	google__rpc__status__pack(&status, bytes);
	return bytes;
}

static void test_already_started_detail_is_decoded(void **state)
{
	(void)state;
	ALREADY_STARTED failure = TEMPORAL__API__ERRORDETAILS__V1__WORKFLOW_EXECUTION_ALREADY_STARTED_FAILURE__INIT;
	failure.start_request_id = "request-1";
	failure.run_id = "run-1";
	uint8_t packed[128];
	size_t packed_length = protobuf_c_message_pack(&failure.base, packed);
	size_t length;
	uint8_t *bytes =
	        status_bytes("type.googleapis.com/temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure",
	                     packed, packed_length, &length);

	portico_error err = PORTICO_ERROR_INIT;
	portico_error_set(&err, PORTICO_ALREADY_EXISTS, "already running");
	portico_error_take_status_details(&err, bytes, length);
	const ALREADY_STARTED *detail = (const ALREADY_STARTED *)portico_error_detail(
	        &err, &temporal__api__errordetails__v1__workflow_execution_already_started_failure__descriptor);
	assert_non_null(detail);
	assert_string_equal(detail->run_id, "run-1");
	assert_string_equal(detail->start_request_id, "request-1");
	assert_non_null(err.status);
	assert_int_equal(err.status->n_details, 1);
	assert_null(portico_error_detail(&err, &temporal__api__errordetails__v1__not_found_failure__descriptor));
	portico_error_clear(&err);
	assert_int_equal(err.code, PORTICO_OK);
	assert_null(err.message);
	free(bytes);
}

static void test_unknown_or_broken_details_are_ignored(void **state)
{
	(void)state;
	size_t length;
	uint8_t *bytes = status_bytes("type.googleapis.com/some.other.Thing", (const uint8_t *)"x", 1, &length);
	portico_error err = PORTICO_ERROR_INIT;
	portico_error_set(&err, PORTICO_INTERNAL, "boom");
	portico_error_take_status_details(&err, bytes, length);
	assert_non_null(err.status);
	assert_null(err.detail);
	portico_error_take_status_details(&err, (const uint8_t *)"\xff\xff\xff", 3);
	assert_string_equal(err.message, "boom");
	portico_error_clear(&err);
	free(bytes);
}

static void test_messages_and_code_names(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_error_set(&err, PORTICO_NOT_FOUND, "workflow %s not found", "w1"), -1);
	portico_error_prefix(&err, "describing %s", "w1");
	assert_string_equal(err.message, "describing w1: workflow w1 not found");
	portico_error_clear(&err);
	assert_string_equal(portico_code_name(PORTICO_UNAVAILABLE), "UNAVAILABLE");
	assert_string_equal(portico_code_name(PORTICO_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(portico_code_name((portico_code)99), "CODE_99");
	assert_true(portico_code_is_transient(PORTICO_RESOURCE_EXHAUSTED));
	assert_false(portico_code_is_transient(PORTICO_INVALID_ARGUMENT));
}

/* A message over gRPC's limit is refused the same way however often it is sent: not retried. */
static void test_a_size_refusal_is_not_transient(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	portico_error_set(&err, PORTICO_RESOURCE_EXHAUSTED,
	                  "grpc: received message larger than max (5243052 vs. 4194304)");
	assert_true(portico_error_is_size_refusal(&err));
	assert_false(portico_error_is_transient(&err));
	portico_error_clear(&err);
	portico_error_set(&err, PORTICO_RESOURCE_EXHAUSTED, "namespace rate limit exceeded");
	assert_false(portico_error_is_size_refusal(&err));
	assert_true(portico_error_is_transient(&err));
	portico_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_already_started_detail_is_decoded),
	        cmocka_unit_test(test_a_size_refusal_is_not_transient),
	        cmocka_unit_test(test_unknown_or_broken_details_are_ignored),
	        cmocka_unit_test(test_messages_and_code_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
