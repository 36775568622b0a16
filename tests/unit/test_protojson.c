/* Proto3 JSON both ways over the generated descriptors, with Temporal's conventions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_assert.h"

#include "json_parse.h"
#include "json_text.h"
#include "protojson.h"
#include "google/protobuf/any.pb-c.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

#define START_REQUEST    Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest
#define START_DESCRIPTOR temporal__api__workflowservice__v1__start_workflow_execution_request__descriptor

static const portico_protojson_options shorthand = {.payload_shorthand = 1};

static ProtobufCMessage *decode_text(const ProtobufCMessageDescriptor *descriptor, const char *text, portico_error *err)
{
	json_t *value = parse(text);
	ProtobufCMessage *message = portico_protojson_decode(descriptor, value, err);
	json_decref(value);
	return message;
}

/* Asserts that text is refused with message (or, when message is NULL, that it decodes or fails
 * without leaking: jansson keeps the last of duplicate keys, so some of these are accepted). */
static void assert_decode_error(const ProtobufCMessageDescriptor *descriptor, const char *text, const char *message)
{
	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *decoded = decode_text(descriptor, text, &err);
	if (!message) {
		if (decoded)
			protobuf_c_message_free_unpacked(decoded, NULL);
		portico_error_clear(&err);
		return;
	}
	assert_null(decoded);
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	if (strcmp(err.message, message))
		fail_msg("got error \"%s\"\nexpected \"%s\"", err.message, message);
	portico_error_clear(&err);
}

static void test_start_request_round_trip(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	START_REQUEST *request = (START_REQUEST *)decode_text(
	        &START_DESCRIPTOR,
	        "{\"workflowId\": \"w1\", \"workflow_type\": {\"name\": \"Echo\"}, \"taskQueue\": {\"name\": \"q\"},"
	        " \"input\": [\"hi\", 2], \"workflowExecutionTimeout\": \"90.5s\", \"requestId\": \"r1\","
	        " \"workflowIdReusePolicy\": \"AllowDuplicateFailedOnly\", \"workflowIdConflictPolicy\": 2,"
	        " \"memo\": {\"fields\": {\"owner\": \"ada\"}}, \"retryPolicy\": {\"maximumAttempts\": \"3\"}}",
	        &err);
	assert_non_null(request);
	assert_string_equal(request->workflow_id, "w1");
	assert_string_equal(request->workflow_type->name, "Echo");
	assert_int_equal(request->input->n_payloads, 2);
	assert_int_equal(request->workflow_execution_timeout->seconds, 90);
	assert_int_equal(request->workflow_execution_timeout->nanos, 500000000);
	assert_int_equal(
	        request->workflow_id_reuse_policy,
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_REUSE_POLICY__WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY);
	assert_int_equal(request->workflow_id_conflict_policy, 2);
	assert_int_equal(request->retry_policy->maximum_attempts, 3);

	assert_json_equal(portico_protojson_encode(&request->base, &shorthand),
	                  "{\"workflowId\": \"w1\", \"workflowType\": {\"name\": \"Echo\"}, "
	                  "\"taskQueue\": {\"name\": \"q\"}, \"input\": [\"hi\", 2], "
	                  "\"workflowExecutionTimeout\": \"90.500s\", \"requestId\": \"r1\", "
	                  "\"workflowIdReusePolicy\": \"WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY\", "
	                  "\"workflowIdConflictPolicy\": \"WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING\", "
	                  "\"memo\": {\"fields\": {\"owner\": \"ada\"}}, \"retryPolicy\": {\"maximumAttempts\": 3}}");
	protobuf_c_message_free_unpacked(&request->base, NULL);
}

static void test_int64_timestamps_and_bytes(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *event = decode_text(&temporal__api__history__v1__history_event__descriptor,
	                                      "{\"eventId\": 9007199254740993, \"eventTime\": "
	                                      "\"2024-05-01T12:00:00.250+02:00\", \"taskId\": \"42\"}",
	                                      &err);
	assert_non_null(event);
	assert_json_equal(portico_protojson_encode(event, &shorthand),
	                  "{\"eventId\": \"9007199254740993\", \"eventTime\": \"2024-05-01T10:00:00.250Z\", "
	                  "\"taskId\": \"42\"}");
	protobuf_c_message_free_unpacked(event, NULL);

	ProtobufCMessage *page =
	        decode_text(&temporal__api__workflowservice__v1__get_workflow_execution_history_request__descriptor,
	                    "{\"nextPageToken\": \"AAEC\", \"waitNewEvent\": \"true\", \"maximumPageSize\": \"10\", "
	                    "\"historyEventFilterType\": \"HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT\"}",
	                    &err);
	assert_non_null(page);
	assert_json_equal(portico_protojson_encode(page, &shorthand),
	                  "{\"nextPageToken\": \"AAEC\", \"waitNewEvent\": true, \"maximumPageSize\": 10, "
	                  "\"historyEventFilterType\": \"HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT\"}");
	protobuf_c_message_free_unpacked(page, NULL);
}

/* Timestamps and durations back in RFC 3339 and protobuf's JSON form: the fewest digit groups
 * that hold the fraction exactly, four-digit years at the ends of the range. */
static void test_timestamps_and_durations_keep_their_precision(void **state)
{
	(void)state;
	static const char *const times[][2] = {
	        {"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
	        {"2024-05-01T10:00:00.000001Z", "2024-05-01T10:00:00.000001Z"},
	        {"2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.123456789Z"},
	        {"9999-12-31T23:59:59.5Z", "9999-12-31T23:59:59.500Z"},
	};
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		char text[128];
		snprintf(text, sizeof text, "{\"eventTime\": \"%s\"}", times[i][0]);
		portico_error err = PORTICO_ERROR_INIT;
		ProtobufCMessage *event =
		        decode_text(&temporal__api__history__v1__history_event__descriptor, text, &err);
		assert_non_null(event);
		snprintf(text, sizeof text, "{\"eventTime\": \"%s\"}", times[i][1]);
		assert_json_equal(portico_protojson_encode(event, &shorthand), text);
		protobuf_c_message_free_unpacked(event, NULL);
	}
	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *start =
	        decode_text(&temporal__api__workflowservice__v1__start_workflow_execution_request__descriptor,
	                    "{\"workflowRunTimeout\": \"1.5s\", \"workflowTaskTimeout\": \"10s\"}", &err);
	assert_non_null(start);
	assert_json_equal(portico_protojson_encode(start, &shorthand),
	                  "{\"workflowRunTimeout\": \"1.500s\", \"workflowTaskTimeout\": \"10s\"}");
	protobuf_c_message_free_unpacked(start, NULL);
}

static void test_any_details_are_typed(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	const char *text = "{\"@type\": \"type.googleapis.com/"
	                   "temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure\", "
	                   "\"startRequestId\": \"r\", \"runId\": \"run\"}";
	ProtobufCMessage *any = decode_text(&google__protobuf__any__descriptor, text, &err);
	assert_non_null(any);
	assert_json_equal(portico_protojson_encode(any, &shorthand), text);
	protobuf_c_message_free_unpacked(any, NULL);
}

static void test_errors_name_the_field(void **state)
{
	(void)state;
	const char *type = "temporal.api.workflowservice.v1.StartWorkflowExecutionRequest";
	char expected[256];
	snprintf(expected, sizeof expected, "workflowTyp: unknown field of %s", type);
	assert_decode_error(&START_DESCRIPTOR, "{\"workflowTyp\": {}}", expected);
	assert_decode_error(&START_DESCRIPTOR, "{\"taskQueue\": 5}", "taskQueue: expected an object");
	assert_decode_error(&START_DESCRIPTOR, "{\"workflowType\": {\"name\": 1}}",
	                    "workflowType.name: expected a string");
	assert_decode_error(&START_DESCRIPTOR, "{\"workflowIdReusePolicy\": \"Sometimes\"}",
	                    "workflowIdReusePolicy: expected a value of temporal.api.enums.v1.WorkflowIdReusePolicy");
	assert_decode_error(&START_DESCRIPTOR, "{\"workflowRunTimeout\": \"10 minutes\"}",
	                    "workflowRunTimeout: expected a duration such as \"10s\" or \"1.5s\"");
	assert_decode_error(&START_DESCRIPTOR, "{\"input\": \"x\"}",
	                    "input: expected an array of payloads, got a JSON string");
	assert_decode_error(&START_DESCRIPTOR, "{\"retryPolicy\": {\"maximumAttempts\": 5000000000}}",
	                    "retryPolicy.maximumAttempts: expected a 32-bit integer");
	assert_decode_error(&START_DESCRIPTOR, "{\"links\": [{}, {\"workflowEvent\": {\"eventRef\": 1}}]}",
	                    "links[1].workflowEvent.eventRef: expected an object");
	assert_decode_error(&START_DESCRIPTOR, "{\"workflowId\": \"a\", \"workflow_id\": \"b\"}",
	                    "workflow_id: set twice (by two names)");
	assert_decode_error(&START_DESCRIPTOR, "[1]", "body: expected an object");
	/* An empty first value owns memory too: the second name must not overwrite it. */
	assert_decode_error(&START_DESCRIPTOR, "{\"workflow_id\": \"\", \"workflowId\": \"x\"}",
	                    "workflowId: set twice (by two names)");
	assert_decode_error(&START_DESCRIPTOR, "{\"links\": [], \"links\": [{}]}", NULL);
	assert_decode_error(&START_DESCRIPTOR, "{\"input\": [], \"input\": [1]}", NULL);
}

static void test_bad_numbers_and_times(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *event = &temporal__api__history__v1__history_event__descriptor;
	assert_decode_error(event, "{\"eventTime\": \"2024-05-01T12:00:00+5:3\"}",
	                    "eventTime: expected an RFC 3339 timestamp such as \"2024-05-01T12:00:00Z\"");
	assert_decode_error(event, "{\"eventTime\": \"2024-13-45T12:00:00Z\"}",
	                    "eventTime: expected an RFC 3339 timestamp such as \"2024-05-01T12:00:00Z\"");
	assert_decode_error(event, "{\"eventId\": 1e300}", "eventId: expected an integer");
	assert_decode_error(event, "{\"eventId\": \"99999999999999999999\"}", "eventId: expected an integer");
	assert_decode_error(event, "{\"eventId\": 1.5}", "eventId: expected an integer");
}

static void test_null_means_default(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *request = decode_text(&START_DESCRIPTOR, "{\"workflowType\": null, \"input\": null}", &err);
	assert_non_null(request);
	assert_json_equal(portico_protojson_encode(request, &shorthand), "{}");
	protobuf_c_message_free_unpacked(request, NULL);
}

/* Decodes text parsed as the gateway parses request bodies, numbers beyond 64 bits kept. */
static ProtobufCMessage *decode_wide(const char *text, portico_error *err)
{
	json_error_t error;
	json_t *value = portico_json_parse(text, strlen(text), 0, &error);
	assert_non_null(value);
	ProtobufCMessage *message = portico_protojson_decode(&START_DESCRIPTOR, value, err);
	json_decref(value);
	return message;
}

static void test_numbers_beyond_64_bits_only_in_payloads(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	const char *text =
	        "{\"input\":[123456789012345678901234567890],\"memo\":{\"fields\":{\"n\":-99999999999999999999}},"
	        "\"retryPolicy\":{\"backoffCoefficient\":100000000000000000000}}";
	ProtobufCMessage *message = decode_wide(text, &err);
	assert_non_null(message);
	START_REQUEST *start = (START_REQUEST *)message;
	assert_int_equal(start->input->payloads[0]->data.len, 30);
	assert_memory_equal(start->input->payloads[0]->data.data, "123456789012345678901234567890", 30);
	assert_true(start->retry_policy->backoff_coefficient == 1e20);
	json_t *out = portico_protojson_encode(message, &shorthand);
	char *written = portico_json_text(json_object_get(out, "input"), 0, NULL);
	assert_string_equal(written, "[123456789012345678901234567890]");
	free(written);
	written = portico_json_text(json_object_get(out, "memo"), 0, NULL);
	assert_string_equal(written, "{\"fields\":{\"n\":-99999999999999999999}}");
	free(written);
	json_decref(out);
	protobuf_c_message_free_unpacked(message, NULL);

	assert_null(decode_wide("{\"workflowType\": {\"name\": 123456789012345678901234567890}}", &err));
	assert_string_equal(err.message, "workflowType.name: 123456789012345678901234567890 is beyond 64 bits: only "
	                                 "payloads (args, memo and the like) hold numbers that large");
	assert_null(decode_wide("{\"retryPolicy\": {\"maximumAttempts\": 99999999999999999999}}", &err));
	assert_non_null(strstr(err.message, "retryPolicy.maximumAttempts: 99999999999999999999 is beyond 64 bits"));
	assert_null(decode_wide("{\"input\": 99999999999999999999}", &err));
	assert_string_equal(err.message, "input: expected an array of payloads, got a JSON number");
	portico_error_clear(&err);
}

/* What a newer server writes (a field, an enum value this API version lacks) is skipped when asked,
 * as in a downloaded history, and refused otherwise. */
static void test_unknown_fields_skipped_when_asked(void **state)
{
	(void)state;
	const char *text = "{\"eventId\": \"3\", \"eventType\": \"ActivityTaskScheduled\", \"futureField\": {\"x\": 1},"
	                   " \"activityTaskScheduledEventAttributes\": {\"activityType\": {\"name\": \"a\"},"
	                   " \"taskQueue\": {\"name\": \"q\", \"kind\": \"TASK_QUEUE_KIND_FROM_THE_FUTURE\"}}}";
	json_t *value = parse(text);
	portico_error err = PORTICO_ERROR_INIT;
	assert_null(portico_protojson_decode(&temporal__api__history__v1__history_event__descriptor, value, &err));
	assert_string_equal(err.message, "futureField: unknown field of temporal.api.history.v1.HistoryEvent");
	portico_error_clear(&err);
	portico_protojson_decode_options lenient = {.ignore_unknown = 1};
	Temporal__Api__History__V1__HistoryEvent *event =
	        (Temporal__Api__History__V1__HistoryEvent *)portico_protojson_decode_with(
	                &temporal__api__history__v1__history_event__descriptor, value, &lenient, &err);
	assert_non_null(event);
	assert_int_equal(event->event_id, 3);
	assert_int_equal(event->event_type, TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
	assert_string_equal(event->activity_task_scheduled_event_attributes->activity_type->name, "a");
	assert_int_equal(event->activity_task_scheduled_event_attributes->task_queue->kind, 0);
	protobuf_c_message_free_unpacked(&event->base, NULL);
	json_decref(value);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_start_request_round_trip),
	        cmocka_unit_test(test_int64_timestamps_and_bytes),
	        cmocka_unit_test(test_timestamps_and_durations_keep_their_precision),
	        cmocka_unit_test(test_any_details_are_typed),
	        cmocka_unit_test(test_errors_name_the_field),
	        cmocka_unit_test(test_bad_numbers_and_times),
	        cmocka_unit_test(test_null_means_default),
	        cmocka_unit_test(test_numbers_beyond_64_bits_only_in_payloads),
	        cmocka_unit_test(test_unknown_fields_skipped_when_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
