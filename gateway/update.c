#include "update.h"

#include <stdlib.h>

#include "alloc.h"
#include "clock.h"
#include "protojson.h"
#include "request.h"

#define STAGE_COMPLETED                                                                                                \
	TEMPORAL__API__ENUMS__V1__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED

typedef struct update_poll {
	gateway_exchange *exchange;
	char *namespace_name;
	Temporal__Api__Update__V1__UpdateRef *ref; /* owned: taken from the first response */
	int64_t deadline_ms;
} update_poll;

static void poll_free(update_poll *poll)
{
	free(poll->namespace_name);
	if (poll->ref)
		protobuf_c_message_free_unpacked(&poll->ref->base, NULL);
	free(poll);
}

/* Both responses share the field names {updateRef, outcome, stage}: either answers the call. */
static void answer(gateway_exchange *exchange, ProtobufCMessage *response)
{
	exchange_respond_message(exchange, 200, response, NULL);
	protobuf_c_message_free_unpacked(response, NULL);
}

static void poll_again(update_poll *poll);

/* The deadline passed before the update completed: answer as the update call does, with the
 * reference and stage ACCEPTED. */
static void answer_accepted(update_poll *poll)
{
	Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionResponse *response =
	        portico_malloc(sizeof *response);
	temporal__api__workflowservice__v1__update_workflow_execution_response__init(response);
	response->update_ref = poll->ref;
	poll->ref = NULL;
	response->stage =
	        TEMPORAL__API__ENUMS__V1__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED;
	answer(poll->exchange, &response->base);
}

static void on_poll(void *arg, ProtobufCMessage *message, portico_error *err)
{
	update_poll *poll = arg;
	if (err && err->code == PORTICO_DEADLINE_EXCEEDED && portico_monotonic_ms() >= poll->deadline_ms) {
		answer_accepted(poll);
		poll_free(poll);
		return;
	}
	if (err) {
		exchange_respond_error(poll->exchange, err);
		poll_free(poll);
		return;
	}
	Temporal__Api__Workflowservice__V1__PollWorkflowExecutionUpdateResponse *response = (void *)message;
	if (response->outcome || portico_monotonic_ms() >= poll->deadline_ms) {
		answer(poll->exchange, message);
		poll_free(poll);
		return;
	}
	protobuf_c_message_free_unpacked(message, NULL);
	poll_again(poll);
}

static void poll_again(update_poll *poll)
{
	const portico_request_target target = {poll->namespace_name, NULL};
	portico_request request;
	portico_request_poll_update(&request, &target, poll->ref, poll->deadline_ms - portico_monotonic_ms());
	if (exchange_call(poll->exchange, &request.options, &request.message.base, on_poll, poll))
		poll_free(poll);
}

void update_wait(gateway_exchange *exchange, const char *namespace_name,
                 Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionResponse *response, int64_t deadline_ms)
{
	if (response->outcome || !response->update_ref || response->stage == STAGE_COMPLETED ||
	    portico_monotonic_ms() >= deadline_ms) {
		answer(exchange, &response->base);
		return;
	}
	update_poll *poll = portico_calloc(1, sizeof *poll);
	poll->exchange = exchange;
	poll->namespace_name = portico_strdup(namespace_name);
	poll->ref = response->update_ref;
	response->update_ref = NULL;
	poll->deadline_ms = deadline_ms;
	protobuf_c_message_free_unpacked(&response->base, NULL);
	poll_again(poll);
}
