/* The workflow worker's requests: what each builder fills, checked through a protobuf round trip
 * (what the server would read), not through the structs the builder points at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

#define ENUM(type, name) TEMPORAL__API__ENUMS__V1__##type##__##type##_##name

static const portico_request_target target = {"ns", "me@host"};

/* The request as the server would decode it; the caller frees it. */
static ProtobufCMessage *round_trip(const portico_request *r)
{
	size_t size = protobuf_c_message_get_packed_size(&r->message.base);
	uint8_t *packed = malloc(size ? size : 1);
	protobuf_c_message_pack(&r->message.base, packed);
	ProtobufCMessage *copy = protobuf_c_message_unpack(r->message.base.descriptor, NULL, size, packed);
	free(packed);
	assert_non_null(copy);
	return copy;
}

static void test_polls_name_the_normal_or_the_sticky_queue(void **state)
{
	(void)state;
	portico_request r;
	portico_request_poll_workflows(&r, &target, "orders", NULL);
	assert_string_equal(r.options.method, "PollWorkflowTaskQueue");
	assert_int_equal(r.options.timeout_ms, PORTICO_LONG_POLL_TIMEOUT_MS);
	assert_false(r.options.retry_transient);
	Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueRequest *poll = (void *)round_trip(&r);
	assert_string_equal(poll->namespace_, "ns");
	assert_string_equal(poll->identity, "me@host");
	assert_string_equal(poll->task_queue->name, "orders");
	assert_int_equal(poll->task_queue->kind, ENUM(TASK_QUEUE_KIND, NORMAL));
	assert_string_equal(poll->task_queue->normal_name, "");
	protobuf_c_message_free_unpacked(&poll->base, NULL);

	portico_request_poll_workflows(&r, &target, "me@host-1234", "orders");
	poll = (void *)round_trip(&r);
	assert_string_equal(poll->task_queue->name, "me@host-1234");
	assert_int_equal(poll->task_queue->kind, ENUM(TASK_QUEUE_KIND, STICKY));
	assert_string_equal(poll->task_queue->normal_name, "orders");
	protobuf_c_message_free_unpacked(&poll->base, NULL);
}

static void test_a_completed_task_asks_for_the_sticky_queue(void **state)
{
	(void)state;
	Temporal__Api__Command__V1__Command command = TEMPORAL__API__COMMAND__V1__COMMAND__INIT;
	command.command_type = ENUM(COMMAND_TYPE, START_TIMER);
	Temporal__Api__Command__V1__Command *commands[] = {&command};
	Temporal__Api__Query__V1__WorkflowQueryResult result = TEMPORAL__API__QUERY__V1__WORKFLOW_QUERY_RESULT__INIT;
	result.result_type = ENUM(QUERY_RESULT_TYPE, FAILED);
	result.error_message = "no such query";
	portico_query_result_entry entry =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__RESPOND_WORKFLOW_TASK_COMPLETED_REQUEST__QUERY_RESULTS_ENTRY__INIT;
	entry.key = "q1";
	entry.value = &result;
	portico_query_result_entry *results[] = {&entry};
	portico_workflow_task_answer answer = {.commands = commands,
	                                       .command_count = 1,
	                                       .query_results = results,
	                                       .query_result_count = 1,
	                                       .sticky_queue = "me@host-1234",
	                                       .normal_queue = "orders"};
	uint8_t token_bytes[] = {1, 2, 3};
	ProtobufCBinaryData token = {sizeof token_bytes, token_bytes};
	portico_request r;
	portico_request_workflow_completed(&r, &target, token, &answer);
	assert_string_equal(r.options.method, "RespondWorkflowTaskCompleted");
	assert_true(r.options.retry_transient);
	Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedRequest *done = (void *)round_trip(&r);
	assert_int_equal(done->task_token.len, 3);
	assert_memory_equal(done->task_token.data, token_bytes, 3);
	assert_string_equal(done->namespace_, "ns");
	assert_string_equal(done->identity, "me@host");
	assert_int_equal(done->n_commands, 1);
	assert_int_equal(done->commands[0]->command_type, ENUM(COMMAND_TYPE, START_TIMER));
	assert_int_equal(done->n_query_results, 1);
	assert_string_equal(done->query_results[0]->key, "q1");
	assert_string_equal(done->query_results[0]->value->error_message, "no such query");
	const Temporal__Api__Taskqueue__V1__StickyExecutionAttributes *sticky = done->sticky_attributes;
	assert_non_null(sticky);
	assert_string_equal(sticky->worker_task_queue->name, "me@host-1234");
	assert_int_equal(sticky->worker_task_queue->kind, ENUM(TASK_QUEUE_KIND, STICKY));
	assert_string_equal(sticky->worker_task_queue->normal_name, "orders");
	assert_int_equal(sticky->schedule_to_start_timeout->seconds, 10);
	assert_false(done->return_new_workflow_task);
	assert_false(done->force_create_new_workflow_task);
	protobuf_c_message_free_unpacked(&done->base, NULL);

	answer.sticky_queue = NULL;
	portico_request_workflow_completed(&r, &target, token, &answer);
	done = (void *)round_trip(&r);
	assert_null(done->sticky_attributes);
	protobuf_c_message_free_unpacked(&done->base, NULL);
}

static void test_a_failed_task_carries_its_cause_and_message(void **state)
{
	(void)state;
	Temporal__Api__Failure__V1__Failure failure = TEMPORAL__API__FAILURE__V1__FAILURE__INIT;
	failure.message = "event 5: the code scheduled a timer, the history an activity";
	portico_request r;
	portico_request_workflow_failed(&r, &target, (ProtobufCBinaryData){0, NULL},
	                                ENUM(WORKFLOW_TASK_FAILED_CAUSE, NON_DETERMINISTIC_ERROR), &failure);
	assert_string_equal(r.options.method, "RespondWorkflowTaskFailed");
	assert_true(r.options.retry_transient);
	Temporal__Api__Workflowservice__V1__RespondWorkflowTaskFailedRequest *failed = (void *)round_trip(&r);
	assert_int_equal(failed->cause, ENUM(WORKFLOW_TASK_FAILED_CAUSE, NON_DETERMINISTIC_ERROR));
	assert_string_equal(failed->failure->message, failure.message);
	assert_string_equal(failed->identity, "me@host");
	protobuf_c_message_free_unpacked(&failed->base, NULL);
}

static void test_a_legacy_query_is_answered_or_failed(void **state)
{
	(void)state;
	portico_payload payload = TEMPORAL__API__COMMON__V1__PAYLOAD__INIT;
	payload.data = (ProtobufCBinaryData){2, (uint8_t *)"42"};
	portico_payload *list[] = {&payload};
	portico_payloads result = TEMPORAL__API__COMMON__V1__PAYLOADS__INIT;
	result.n_payloads = 1;
	result.payloads = list;
	portico_request r;
	portico_request_query_completed(&r, &target, (ProtobufCBinaryData){0, NULL}, &result, NULL);
	assert_string_equal(r.options.method, "RespondQueryTaskCompleted");
	Temporal__Api__Workflowservice__V1__RespondQueryTaskCompletedRequest *answered = (void *)round_trip(&r);
	assert_int_equal(answered->completed_type, ENUM(QUERY_RESULT_TYPE, ANSWERED));
	assert_int_equal(answered->query_result->n_payloads, 1);
	assert_null(answered->failure);
	protobuf_c_message_free_unpacked(&answered->base, NULL);

	Temporal__Api__Failure__V1__Failure failure = TEMPORAL__API__FAILURE__V1__FAILURE__INIT;
	failure.message = "unknown query type \"nope\"";
	portico_request_query_completed(&r, &target, (ProtobufCBinaryData){0, NULL}, NULL, &failure);
	Temporal__Api__Workflowservice__V1__RespondQueryTaskCompletedRequest *failed = (void *)round_trip(&r);
	assert_int_equal(failed->completed_type, ENUM(QUERY_RESULT_TYPE, FAILED));
	assert_string_equal(failed->error_message, failure.message);
	assert_string_equal(failed->failure->message, failure.message);
	assert_null(failed->query_result);
	protobuf_c_message_free_unpacked(&failed->base, NULL);
}

static void test_reset_sticky_needs_a_workflow_id(void **state)
{
	(void)state;
	portico_request r;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_request_reset_sticky(&r, &target, NULL, "run", &err), -1);
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	portico_error_clear(&err);
	assert_int_equal(portico_request_reset_sticky(&r, &target, "wf", "run", &err), 0);
	assert_string_equal(r.options.method, "ResetStickyTaskQueue");
	Temporal__Api__Workflowservice__V1__ResetStickyTaskQueueRequest *reset = (void *)round_trip(&r);
	assert_string_equal(reset->namespace_, "ns");
	assert_string_equal(reset->execution->workflow_id, "wf");
	assert_string_equal(reset->execution->run_id, "run");
	protobuf_c_message_free_unpacked(&reset->base, NULL);
}

static void test_shutdown_names_the_sticky_queue(void **state)
{
	(void)state;
	portico_request r;
	portico_request_shutdown_worker(&r, &target, "me@host-1234", "graceful shutdown");
	Temporal__Api__Workflowservice__V1__ShutdownWorkerRequest *shutdown = (void *)round_trip(&r);
	assert_string_equal(shutdown->sticky_task_queue, "me@host-1234");
	assert_string_equal(shutdown->reason, "graceful shutdown");
	protobuf_c_message_free_unpacked(&shutdown->base, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_polls_name_the_normal_or_the_sticky_queue),
	        cmocka_unit_test(test_a_completed_task_asks_for_the_sticky_queue),
	        cmocka_unit_test(test_a_failed_task_carries_its_cause_and_message),
	        cmocka_unit_test(test_a_legacy_query_is_answered_or_failed),
	        cmocka_unit_test(test_reset_sticky_needs_a_workflow_id),
	        cmocka_unit_test(test_shutdown_names_the_sticky_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
