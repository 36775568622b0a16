#include "client.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "uuid.h"

#define Temporal__Api__Workflowservice__V1__name Temporal__Api__Workflowservice__V1__##name
#define LIFECYCLE_COMPLETED                                                                                            \
	TEMPORAL__API__ENUMS__V1__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED

typedef Temporal__Api__Common__V1__WorkflowExecution workflow_execution;

struct portico_client {
	portico_transport *transport;
	char *namespace_name;
	char *identity;
};

portico_client *portico_client_open(const portico_config *cfg, portico_error *err)
{
	portico_transport *transport = portico_transport_open(cfg, err);
	if (!transport)
		return NULL;
	portico_client *client = portico_calloc(1, sizeof *client);
	client->transport = transport;
	client->namespace_name = portico_strdup(cfg->namespace_name);
	client->identity = portico_strdup(cfg->identity);
	return client;
}

void portico_client_close(portico_client *client)
{
	if (!client)
		return;
	portico_transport_close(client->transport);
	free(client->namespace_name);
	free(client->identity);
	free(client);
}

portico_transport *portico_client_transport(portico_client *client)
{
	return client->transport;
}

const char *portico_client_namespace(const portico_client *client)
{
	return client->namespace_name;
}

/* Protobuf-c wants mutable strings in requests; the client only reads them. */
static char *borrow(const char *s)
{
	return (char *)(s ? s : protobuf_c_empty_string);
}

static int call(portico_client *client, const char *method, int retry, int64_t timeout_ms,
                const ProtobufCMessage *request, ProtobufCMessage **response, portico_error *err)
{
	portico_call_options options = {
	        .method = method,
	        .namespace_name = client->namespace_name,
	        .timeout_ms = timeout_ms,
	        .retry_transient = retry,
	};
	return portico_transport_call(client->transport, &options, request, response, err);
}

/* A call whose response only says it was accepted. */
static int call_discard(portico_client *client, const char *method, int retry, const ProtobufCMessage *request,
                        portico_error *err)
{
	ProtobufCMessage *response;
	if (call(client, method, retry, 0, request, &response, err))
		return -1;
	protobuf_c_message_free_unpacked(response, NULL);
	return 0;
}

static int require(const char *value, const char *what, portico_error *err)
{
	if (value && *value)
		return 0;
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s is required", what);
}

/* Returns given, or a new UUID written into fresh when given is NULL. */
static const char *id_or_fresh(const char *given, char fresh[PORTICO_UUID_LENGTH + 1])
{
	if (given)
		return given;
	portico_uuid_v4(fresh);
	return fresh;
}

static workflow_execution execution_of(const char *workflow_id, const char *run_id)
{
	workflow_execution execution = TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
	execution.workflow_id = borrow(workflow_id);
	execution.run_id = borrow(run_id);
	return execution;
}

static Google__Protobuf__Duration duration_of(int64_t ms)
{
	Google__Protobuf__Duration duration = GOOGLE__PROTOBUF__DURATION__INIT;
	duration.seconds = ms / 1000;
	duration.nanos = (int32_t)(ms % 1000) * 1000000;
	return duration;
}

int portico_client_get_system_info(portico_client *client, portico_system_info **response, portico_error *err)
{
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	return call(client, "GetSystemInfo", 1, 0, &request.base, (ProtobufCMessage **)response, err);
}

/* The parts of a start that StartWorkflowExecution and SignalWithStart share, pointing into
 * storage that lives as long as the request. */
typedef struct start_parts {
	Temporal__Api__Common__V1__WorkflowType type;
	Temporal__Api__Taskqueue__V1__TaskQueue queue;
	Google__Protobuf__Duration execution_timeout, run_timeout, task_timeout;
	char request_id[PORTICO_UUID_LENGTH + 1];
} start_parts;

static int start_parts_init(start_parts *parts, const portico_workflow_start *start, portico_error *err)
{
	if (require(start->workflow_id, "workflow id", err) || require(start->workflow_type, "workflow type", err) ||
	    require(start->task_queue, "task queue", err))
		return -1;
	parts->type = (Temporal__Api__Common__V1__WorkflowType)TEMPORAL__API__COMMON__V1__WORKFLOW_TYPE__INIT;
	parts->type.name = borrow(start->workflow_type);
	parts->queue = (Temporal__Api__Taskqueue__V1__TaskQueue)TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
	parts->queue.name = borrow(start->task_queue);
	parts->queue.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
	parts->execution_timeout = duration_of(start->execution_timeout_ms);
	parts->run_timeout = duration_of(start->run_timeout_ms);
	parts->task_timeout = duration_of(start->task_timeout_ms);
	if (start->request_id)
		snprintf(parts->request_id, sizeof parts->request_id, "%s", start->request_id);
	else
		portico_uuid_v4(parts->request_id);
	return 0;
}

static Google__Protobuf__Duration *optional_duration(Google__Protobuf__Duration *duration)
{
	return duration->seconds || duration->nanos ? duration : NULL;
}

/* StartWorkflowExecution and SignalWithStartWorkflowExecution requests name these fields alike. */
#define SET_START_FIELDS(request, client, start, parts)                                                                \
	do {                                                                                                           \
		(request).namespace_ = (client)->namespace_name;                                                       \
		(request).workflow_id = borrow((start)->workflow_id);                                                  \
		(request).workflow_type = &(parts).type;                                                               \
		(request).task_queue = &(parts).queue;                                                                 \
		(request).input = (portico_payloads *)(start)->input;                                                  \
		(request).workflow_execution_timeout = optional_duration(&(parts).execution_timeout);                  \
		(request).workflow_run_timeout = optional_duration(&(parts).run_timeout);                              \
		(request).workflow_task_timeout = optional_duration(&(parts).task_timeout);                            \
		(request).identity = (client)->identity;                                                               \
		(request).request_id = (parts).request_id;                                                             \
		(request).workflow_id_reuse_policy = (start)->id_reuse_policy;                                         \
		(request).workflow_id_conflict_policy = (start)->id_conflict_policy;                                   \
	} while (0)

int portico_client_start_workflow(portico_client *client, const portico_workflow_start *start, char **run_id,
                                  portico_error *err)
{
	*run_id = NULL;
	start_parts parts;
	if (start_parts_init(&parts, start, err))
		return -1;
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__START_WORKFLOW_EXECUTION_REQUEST__INIT;
	SET_START_FIELDS(request, client, start, parts);

	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionResponse *response;
	if (call(client, "StartWorkflowExecution", 1, 0, &request.base, (ProtobufCMessage **)&response, err))
		return -1;
	*run_id = portico_strdup(response->run_id);
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return 0;
}

int portico_client_signal_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                   const char *signal_name, const portico_payloads *args, const char *request_id,
                                   portico_error *err)
{
	if (require(workflow_id, "workflow id", err) || require(signal_name, "signal name", err))
		return -1;
	char fresh_id[PORTICO_UUID_LENGTH + 1];
	request_id = id_or_fresh(request_id, fresh_id);
	workflow_execution execution = execution_of(workflow_id, run_id);
	Temporal__Api__Workflowservice__V1__SignalWorkflowExecutionRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__SIGNAL_WORKFLOW_EXECUTION_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.workflow_execution = &execution;
	request.signal_name = borrow(signal_name);
	request.input = (portico_payloads *)args;
	request.identity = client->identity;
	request.request_id = borrow(request_id);
	return call_discard(client, "SignalWorkflowExecution", 1, &request.base, err);
}

int portico_client_signal_with_start(portico_client *client, const portico_workflow_start *start,
                                     const char *signal_name, const portico_payloads *signal_args, char **run_id,
                                     portico_error *err)
{
	*run_id = NULL;
	start_parts parts;
	if (require(signal_name, "signal name", err) || start_parts_init(&parts, start, err))
		return -1;
	Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__SIGNAL_WITH_START_WORKFLOW_EXECUTION_REQUEST__INIT;
	SET_START_FIELDS(request, client, start, parts);
	request.signal_name = borrow(signal_name);
	request.signal_input = (portico_payloads *)signal_args;

	Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionResponse *response;
	if (call(client, "SignalWithStartWorkflowExecution", 1, 0, &request.base, (ProtobufCMessage **)&response, err))
		return -1;
	*run_id = portico_strdup(response->run_id);
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return 0;
}

int portico_client_query_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                  const char *query_type, const portico_payloads *args, portico_payloads **result,
                                  portico_error *err)
{
	*result = NULL;
	if (require(workflow_id, "workflow id", err) || require(query_type, "query type", err))
		return -1;
	workflow_execution execution = execution_of(workflow_id, run_id);
	Temporal__Api__Query__V1__WorkflowQuery query = TEMPORAL__API__QUERY__V1__WORKFLOW_QUERY__INIT;
	query.query_type = borrow(query_type);
	query.query_args = (portico_payloads *)args;
	Temporal__Api__Workflowservice__V1__QueryWorkflowRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__QUERY_WORKFLOW_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.execution = &execution;
	request.query = &query;

	Temporal__Api__Workflowservice__V1__QueryWorkflowResponse *response;
	if (call(client, "QueryWorkflow", 1, 0, &request.base, (ProtobufCMessage **)&response, err))
		return -1;
	int rejected = response->query_rejected != NULL;
	if (rejected)
		portico_error_set(err, PORTICO_FAILED_PRECONDITION, "query %s rejected: the workflow is closed",
		                  query_type);
	*result = response->query_result;
	response->query_result = NULL;
	protobuf_c_message_free_unpacked(&response->base, NULL);
	if (!*result && !rejected) {
		*result = portico_malloc(sizeof **result);
		temporal__api__common__v1__payloads__init(*result);
	}
	return rejected ? -1 : 0;
}

/* Waits on an accepted update until it completes or the deadline passes. */
static int poll_update(portico_client *client, Temporal__Api__Update__V1__UpdateRef *ref, int64_t deadline_ms,
                       portico_update_outcome **outcome, portico_error *err)
{
	Temporal__Api__Update__V1__WaitPolicy wait = TEMPORAL__API__UPDATE__V1__WAIT_POLICY__INIT;
	wait.lifecycle_stage = LIFECYCLE_COMPLETED;
	Temporal__Api__Workflowservice__V1__PollWorkflowExecutionUpdateRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__POLL_WORKFLOW_EXECUTION_UPDATE_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.update_ref = ref;
	request.identity = client->identity;
	request.wait_policy = &wait;
	while (!*outcome) {
		int64_t remaining = deadline_ms - portico_monotonic_ms();
		if (remaining <= 0)
			return portico_error_set(err, PORTICO_DEADLINE_EXCEEDED,
			                         "update %s was accepted but did not complete in time", ref->update_id);
		Temporal__Api__Workflowservice__V1__PollWorkflowExecutionUpdateResponse *response;
		if (call(client, "PollWorkflowExecutionUpdate", 1,
		         remaining < PORTICO_LONG_POLL_TIMEOUT_MS ? remaining : PORTICO_LONG_POLL_TIMEOUT_MS,
		         &request.base, (ProtobufCMessage **)&response, err))
			return -1;
		*outcome = response->outcome;
		response->outcome = NULL;
		protobuf_c_message_free_unpacked(&response->base, NULL);
	}
	return 0;
}

int portico_client_update_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                   const char *update_name, const portico_payloads *args, const char *update_id,
                                   int64_t timeout_ms, portico_update_outcome **outcome, portico_error *err)
{
	*outcome = NULL;
	if (require(workflow_id, "workflow id", err) || require(update_name, "update name", err))
		return -1;
	char fresh_id[PORTICO_UUID_LENGTH + 1];
	update_id = id_or_fresh(update_id, fresh_id);
	if (timeout_ms <= 0)
		timeout_ms = PORTICO_LONG_POLL_TIMEOUT_MS;
	int64_t deadline_ms = portico_monotonic_ms() + timeout_ms;

	workflow_execution execution = execution_of(workflow_id, run_id);
	Temporal__Api__Update__V1__Meta meta = TEMPORAL__API__UPDATE__V1__META__INIT;
	meta.update_id = borrow(update_id);
	meta.identity = client->identity;
	Temporal__Api__Update__V1__Input input = TEMPORAL__API__UPDATE__V1__INPUT__INIT;
	input.name = borrow(update_name);
	input.args = (portico_payloads *)args;
	Temporal__Api__Update__V1__Request update = TEMPORAL__API__UPDATE__V1__REQUEST__INIT;
	update.meta = &meta;
	update.input = &input;
	Temporal__Api__Update__V1__WaitPolicy wait = TEMPORAL__API__UPDATE__V1__WAIT_POLICY__INIT;
	wait.lifecycle_stage = LIFECYCLE_COMPLETED;
	Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__UPDATE_WORKFLOW_EXECUTION_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.workflow_execution = &execution;
	request.wait_policy = &wait;
	request.request = &update;

	Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionResponse *response;
	if (call(client, "UpdateWorkflowExecution", 1,
	         timeout_ms < PORTICO_LONG_POLL_TIMEOUT_MS ? timeout_ms : PORTICO_LONG_POLL_TIMEOUT_MS, &request.base,
	         (ProtobufCMessage **)&response, err))
		return -1;
	*outcome = response->outcome;
	response->outcome = NULL;
	int result = 0;
	if (!*outcome) {
		if (response->update_ref)
			result = poll_update(client, response->update_ref, deadline_ms, outcome, err);
		else
			result = portico_error_set(err, PORTICO_INTERNAL, "update %s: Temporal returned no reference",
			                           update_id);
	}
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return result;
}

int portico_client_describe_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                     portico_describe_response **response, portico_error *err)
{
	*response = NULL;
	if (require(workflow_id, "workflow id", err))
		return -1;
	workflow_execution execution = execution_of(workflow_id, run_id);
	Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__DESCRIBE_WORKFLOW_EXECUTION_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.execution = &execution;
	return call(client, "DescribeWorkflowExecution", 1, 0, &request.base, (ProtobufCMessage **)response, err);
}

int portico_client_cancel_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                   const char *reason, const char *request_id, portico_error *err)
{
	if (require(workflow_id, "workflow id", err))
		return -1;
	char fresh_id[PORTICO_UUID_LENGTH + 1];
	request_id = id_or_fresh(request_id, fresh_id);
	workflow_execution execution = execution_of(workflow_id, run_id);
	Temporal__Api__Workflowservice__V1__RequestCancelWorkflowExecutionRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__REQUEST_CANCEL_WORKFLOW_EXECUTION_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.workflow_execution = &execution;
	request.identity = client->identity;
	request.request_id = borrow(request_id);
	request.reason = borrow(reason);
	return call_discard(client, "RequestCancelWorkflowExecution", 1, &request.base, err);
}

int portico_client_terminate_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                      const char *reason, portico_error *err)
{
	if (require(workflow_id, "workflow id", err))
		return -1;
	workflow_execution execution = execution_of(workflow_id, run_id);
	Temporal__Api__Workflowservice__V1__TerminateWorkflowExecutionRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__TERMINATE_WORKFLOW_EXECUTION_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.workflow_execution = &execution;
	request.reason = borrow(reason);
	request.identity = client->identity;
	/* No request id exists for terminate: a retry could land on a successor run. */
	return call_discard(client, "TerminateWorkflowExecution", 0, &request.base, err);
}

int portico_client_list_workflows(portico_client *client, const char *query, int32_t page_size,
                                  const ProtobufCBinaryData *page_token, portico_list_response **response,
                                  portico_error *err)
{
	Temporal__Api__Workflowservice__V1__ListWorkflowExecutionsRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__LIST_WORKFLOW_EXECUTIONS_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.page_size = page_size;
	request.query = borrow(query);
	if (page_token)
		request.next_page_token = *page_token;
	return call(client, "ListWorkflowExecutions", 1, 0, &request.base, (ProtobufCMessage **)response, err);
}

int portico_client_count_workflows(portico_client *client, const char *query, int64_t *count, portico_error *err)
{
	Temporal__Api__Workflowservice__V1__CountWorkflowExecutionsRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__COUNT_WORKFLOW_EXECUTIONS_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.query = borrow(query);
	Temporal__Api__Workflowservice__V1__CountWorkflowExecutionsResponse *response;
	if (call(client, "CountWorkflowExecutions", 1, 0, &request.base, (ProtobufCMessage **)&response, err))
		return -1;
	*count = response->count;
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return 0;
}

int portico_client_get_history_page(portico_client *client, const portico_history_page_options *options,
                                    portico_history_response **response, portico_error *err)
{
	*response = NULL;
	if (require(options->workflow_id, "workflow id", err))
		return -1;
	workflow_execution execution = execution_of(options->workflow_id, options->run_id);
	Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_WORKFLOW_EXECUTION_HISTORY_REQUEST__INIT;
	request.namespace_ = client->namespace_name;
	request.execution = &execution;
	request.maximum_page_size = options->page_size;
	if (options->page_token)
		request.next_page_token = *options->page_token;
	request.wait_new_event = options->wait_new_event;
	if (options->close_event_only)
		request.history_event_filter_type =
		        TEMPORAL__API__ENUMS__V1__HISTORY_EVENT_FILTER_TYPE__HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT;
	int64_t timeout_ms = options->wait_new_event ? PORTICO_LONG_POLL_TIMEOUT_MS : 0;
	return call(client, "GetWorkflowExecutionHistory", 1, timeout_ms, &request.base, (ProtobufCMessage **)response,
	            err);
}
