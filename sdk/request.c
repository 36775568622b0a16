#include "request.h"

#include <stdio.h>
#include <string.h>

#define LIFECYCLE_COMPLETED                                                                                            \
	TEMPORAL__API__ENUMS__V1__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED

/* Protobuf-c wants mutable strings in requests; a request only reads them. */
static char *borrow(const char *s)
{
	return (char *)(s ? s : protobuf_c_empty_string);
}

static int require(const char *value, const char *what, portico_error *err)
{
	if (value && *value)
		return 0;
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s is required", what);
}

/* The deadline of a long poll for a wait with ms left. Temporal answers a long poll (empty) about
 * a second before the call's deadline, and at once when less is left: a call asking for just what
 * was left came back at once in the wait's last second, and the wait polled again and again until
 * its end (hundreds of calls). Asking for that second more, the answer comes about when the wait
 * ends. Within one long poll of the server's, and at least a millisecond. */
static int64_t within_long_poll(int64_t ms)
{
	ms += PORTICO_LONG_POLL_TAIL_ROOM_MS;
	return ms < 1 ? 1 : ms < PORTICO_LONG_POLL_TIMEOUT_MS ? ms : PORTICO_LONG_POLL_TIMEOUT_MS;
}

/* Zeroes r and names the method; retry says whether the call is safe to repeat. */
static void begin(portico_request *r, const portico_request_target *target, const char *method, int retry)
{
	memset(r, 0, sizeof *r);
	r->options.method = method;
	r->options.namespace_name = target ? target->namespace_name : NULL;
	r->options.retry_transient = retry;
}

/* given, or a fresh UUID kept in r. */
static const char *id_or_fresh(portico_request *r, const char *given)
{
	if (given)
		return given;
	portico_uuid_v4(r->fresh_id);
	return r->fresh_id;
}

static Temporal__Api__Common__V1__WorkflowExecution *execution_of(portico_request *r, const char *workflow_id,
                                                                  const char *run_id)
{
	temporal__api__common__v1__workflow_execution__init(&r->execution);
	r->execution.workflow_id = borrow(workflow_id);
	r->execution.run_id = borrow(run_id);
	return &r->execution;
}

/* The duration ms as a message in storage, or NULL for 0 (the server's default). */
static Google__Protobuf__Duration *duration_of(Google__Protobuf__Duration *storage, int64_t ms)
{
	if (!ms)
		return NULL;
	google__protobuf__duration__init(storage);
	storage->seconds = ms / 1000;
	storage->nanos = (int32_t)(ms % 1000) * 1000000;
	return storage;
}

void portico_request_system_info(portico_request *r)
{
	begin(r, NULL, "GetSystemInfo", 1);
	temporal__api__workflowservice__v1__get_system_info_request__init(&r->message.system_info);
}

/* The parts of a start that StartWorkflowExecution and SignalWithStart share. */
static int start_parts(portico_request *r, const portico_workflow_start *start, portico_error *err)
{
	if (require(start->workflow_id, "workflow id", err) || require(start->workflow_type, "workflow type", err) ||
	    require(start->task_queue, "task queue", err))
		return -1;
	temporal__api__common__v1__workflow_type__init(&r->type);
	r->type.name = borrow(start->workflow_type);
	temporal__api__taskqueue__v1__task_queue__init(&r->queue);
	r->queue.name = borrow(start->task_queue);
	r->queue.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
	return 0;
}

/* StartWorkflowExecution and SignalWithStartWorkflowExecution requests name these fields alike. */
#define SET_START_FIELDS(request, r, target, start)                                                                    \
	do {                                                                                                           \
		(request).namespace_ = borrow((target)->namespace_name);                                               \
		(request).workflow_id = borrow((start)->workflow_id);                                                  \
		(request).workflow_type = &(r)->type;                                                                  \
		(request).task_queue = &(r)->queue;                                                                    \
		(request).input = (portico_payloads *)(start)->input;                                                  \
		(request).workflow_execution_timeout =                                                                 \
		        duration_of(&(r)->execution_timeout, (start)->execution_timeout_ms);                           \
		(request).workflow_run_timeout = duration_of(&(r)->run_timeout, (start)->run_timeout_ms);              \
		(request).workflow_task_timeout = duration_of(&(r)->task_timeout, (start)->task_timeout_ms);           \
		(request).identity = borrow((target)->identity);                                                       \
		(request).request_id = (char *)id_or_fresh((r), (start)->request_id);                                  \
		(request).workflow_id_reuse_policy = (start)->id_reuse_policy;                                         \
		(request).workflow_id_conflict_policy = (start)->id_conflict_policy;                                   \
		(request).memo = (Temporal__Api__Common__V1__Memo *)(start)->memo;                                     \
	} while (0)

int portico_request_start(portico_request *r, const portico_request_target *target, const portico_workflow_start *start,
                          portico_error *err)
{
	begin(r, target, "StartWorkflowExecution", 1); /* the request id makes a retry safe */
	if (start_parts(r, start, err))
		return -1;
	temporal__api__workflowservice__v1__start_workflow_execution_request__init(&r->message.start);
	SET_START_FIELDS(r->message.start, r, target, start);
	return 0;
}

int portico_request_signal(portico_request *r, const portico_request_target *target, const char *workflow_id,
                           const char *run_id, const char *signal_name, const portico_payloads *args,
                           const char *request_id, portico_error *err)
{
	begin(r, target, "SignalWorkflowExecution", 1);
	if (require(workflow_id, "workflow id", err) || require(signal_name, "signal name", err))
		return -1;
	Temporal__Api__Workflowservice__V1__SignalWorkflowExecutionRequest *request = &r->message.signal;
	temporal__api__workflowservice__v1__signal_workflow_execution_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->workflow_execution = execution_of(r, workflow_id, run_id);
	request->signal_name = borrow(signal_name);
	request->input = (portico_payloads *)args;
	request->identity = borrow(target->identity);
	request->request_id = (char *)id_or_fresh(r, request_id);
	return 0;
}

int portico_request_signal_with_start(portico_request *r, const portico_request_target *target,
                                      const portico_workflow_start *start, const char *signal_name,
                                      const portico_payloads *signal_args, portico_error *err)
{
	begin(r, target, "SignalWithStartWorkflowExecution", 1);
	if (require(signal_name, "signal name", err) || start_parts(r, start, err))
		return -1;
	Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionRequest *request =
	        &r->message.signal_with_start;
	temporal__api__workflowservice__v1__signal_with_start_workflow_execution_request__init(request);
	SET_START_FIELDS(*request, r, target, start);
	request->signal_name = borrow(signal_name);
	request->signal_input = (portico_payloads *)signal_args;
	return 0;
}

int portico_request_query(portico_request *r, const portico_request_target *target, const char *workflow_id,
                          const char *run_id, const char *query_type, const portico_payloads *args, portico_error *err)
{
	begin(r, target, "QueryWorkflow", 1);
	if (require(workflow_id, "workflow id", err) || require(query_type, "query type", err))
		return -1;
	temporal__api__query__v1__workflow_query__init(&r->query);
	r->query.query_type = borrow(query_type);
	r->query.query_args = (portico_payloads *)args;
	Temporal__Api__Workflowservice__V1__QueryWorkflowRequest *request = &r->message.query;
	temporal__api__workflowservice__v1__query_workflow_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->execution = execution_of(r, workflow_id, run_id);
	request->query = &r->query;
	return 0;
}

int portico_request_update(portico_request *r, const portico_request_target *target, const char *workflow_id,
                           const char *run_id, const char *update_name, const portico_payloads *args,
                           const char *update_id, int64_t timeout_ms, portico_error *err)
{
	begin(r, target, "UpdateWorkflowExecution", 1); /* the update id makes a retry safe */
	if (require(workflow_id, "workflow id", err) || require(update_name, "update name", err))
		return -1;
	r->options.timeout_ms = within_long_poll(timeout_ms);
	temporal__api__update__v1__meta__init(&r->meta);
	r->meta.update_id = (char *)id_or_fresh(r, update_id);
	r->meta.identity = borrow(target->identity);
	temporal__api__update__v1__input__init(&r->input);
	r->input.name = borrow(update_name);
	r->input.args = (portico_payloads *)args;
	temporal__api__update__v1__request__init(&r->update);
	r->update.meta = &r->meta;
	r->update.input = &r->input;
	temporal__api__update__v1__wait_policy__init(&r->wait);
	r->wait.lifecycle_stage = LIFECYCLE_COMPLETED;
	Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionRequest *request = &r->message.update;
	temporal__api__workflowservice__v1__update_workflow_execution_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->workflow_execution = execution_of(r, workflow_id, run_id);
	request->wait_policy = &r->wait;
	request->request = &r->update;
	return 0;
}

void portico_request_poll_update(portico_request *r, const portico_request_target *target,
                                 Temporal__Api__Update__V1__UpdateRef *ref, int64_t timeout_ms)
{
	begin(r, target, "PollWorkflowExecutionUpdate", 1);
	r->options.timeout_ms = within_long_poll(timeout_ms);
	temporal__api__update__v1__wait_policy__init(&r->wait);
	r->wait.lifecycle_stage = LIFECYCLE_COMPLETED;
	Temporal__Api__Workflowservice__V1__PollWorkflowExecutionUpdateRequest *request = &r->message.poll_update;
	temporal__api__workflowservice__v1__poll_workflow_execution_update_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->update_ref = ref;
	request->identity = borrow(target->identity);
	request->wait_policy = &r->wait;
}

int portico_request_describe(portico_request *r, const portico_request_target *target, const char *workflow_id,
                             const char *run_id, portico_error *err)
{
	begin(r, target, "DescribeWorkflowExecution", 1);
	if (require(workflow_id, "workflow id", err))
		return -1;
	Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionRequest *request = &r->message.describe;
	temporal__api__workflowservice__v1__describe_workflow_execution_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->execution = execution_of(r, workflow_id, run_id);
	return 0;
}

int portico_request_cancel(portico_request *r, const portico_request_target *target, const char *workflow_id,
                           const char *run_id, const char *reason, const char *request_id, portico_error *err)
{
	begin(r, target, "RequestCancelWorkflowExecution", 1);
	if (require(workflow_id, "workflow id", err))
		return -1;
	Temporal__Api__Workflowservice__V1__RequestCancelWorkflowExecutionRequest *request = &r->message.cancel;
	temporal__api__workflowservice__v1__request_cancel_workflow_execution_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->workflow_execution = execution_of(r, workflow_id, run_id);
	request->identity = borrow(target->identity);
	request->request_id = (char *)id_or_fresh(r, request_id);
	request->reason = borrow(reason);
	return 0;
}

int portico_request_terminate(portico_request *r, const portico_request_target *target, const char *workflow_id,
                              const char *run_id, const char *reason, portico_error *err)
{
	begin(r, target, "TerminateWorkflowExecution", 0);
	if (require(workflow_id, "workflow id", err))
		return -1;
	Temporal__Api__Workflowservice__V1__TerminateWorkflowExecutionRequest *request = &r->message.terminate;
	temporal__api__workflowservice__v1__terminate_workflow_execution_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->workflow_execution = execution_of(r, workflow_id, run_id);
	request->reason = borrow(reason);
	request->identity = borrow(target->identity);
	return 0;
}

void portico_request_list(portico_request *r, const portico_request_target *target, const char *query,
                          int32_t page_size, const ProtobufCBinaryData *page_token)
{
	begin(r, target, "ListWorkflowExecutions", 1);
	Temporal__Api__Workflowservice__V1__ListWorkflowExecutionsRequest *request = &r->message.list;
	temporal__api__workflowservice__v1__list_workflow_executions_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->page_size = page_size;
	request->query = borrow(query);
	if (page_token)
		request->next_page_token = *page_token;
}

void portico_request_count(portico_request *r, const portico_request_target *target, const char *query)
{
	begin(r, target, "CountWorkflowExecutions", 1);
	Temporal__Api__Workflowservice__V1__CountWorkflowExecutionsRequest *request = &r->message.count;
	temporal__api__workflowservice__v1__count_workflow_executions_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->query = borrow(query);
}

int portico_request_history(portico_request *r, const portico_request_target *target,
                            const portico_history_page_options *options, int64_t timeout_ms, portico_error *err)
{
	begin(r, target, "GetWorkflowExecutionHistory", 1);
	if (require(options->workflow_id, "workflow id", err))
		return -1;
	if (options->wait_new_event)
		r->options.timeout_ms = timeout_ms ? within_long_poll(timeout_ms) : PORTICO_LONG_POLL_TIMEOUT_MS;
	Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryRequest *request = &r->message.history;
	temporal__api__workflowservice__v1__get_workflow_execution_history_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->execution = execution_of(r, options->workflow_id, options->run_id);
	request->maximum_page_size = options->page_size;
	if (options->page_token)
		request->next_page_token = *options->page_token;
	request->wait_new_event = options->wait_new_event;
	if (options->close_event_only)
		request->history_event_filter_type =
		        TEMPORAL__API__ENUMS__V1__HISTORY_EVENT_FILTER_TYPE__HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT;
	return 0;
}

void portico_request_poll_activities(portico_request *r, const portico_request_target *target, const char *task_queue)
{
	begin(r, target, "PollActivityTaskQueue", 0);
	r->options.timeout_ms = PORTICO_LONG_POLL_TIMEOUT_MS;
	temporal__api__taskqueue__v1__task_queue__init(&r->queue);
	r->queue.name = borrow(task_queue);
	r->queue.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
	Temporal__Api__Workflowservice__V1__PollActivityTaskQueueRequest *request = &r->message.poll_activities;
	temporal__api__workflowservice__v1__poll_activity_task_queue_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->task_queue = &r->queue;
	request->identity = borrow(target->identity);
}

void portico_request_activity_completed(portico_request *r, const portico_request_target *target,
                                        ProtobufCBinaryData task_token, portico_payloads *result)
{
	begin(r, target, "RespondActivityTaskCompleted", 1);
	Temporal__Api__Workflowservice__V1__RespondActivityTaskCompletedRequest *request =
	        &r->message.activity_completed;
	temporal__api__workflowservice__v1__respond_activity_task_completed_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->identity = borrow(target->identity);
	request->task_token = task_token;
	request->result = result;
}

void portico_request_activity_failed(portico_request *r, const portico_request_target *target,
                                     ProtobufCBinaryData task_token, Temporal__Api__Failure__V1__Failure *failure,
                                     portico_payloads *last_heartbeat_details)
{
	begin(r, target, "RespondActivityTaskFailed", 1);
	Temporal__Api__Workflowservice__V1__RespondActivityTaskFailedRequest *request = &r->message.activity_failed;
	temporal__api__workflowservice__v1__respond_activity_task_failed_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->identity = borrow(target->identity);
	request->task_token = task_token;
	request->failure = failure;
	request->last_heartbeat_details = last_heartbeat_details;
}

void portico_request_activity_canceled(portico_request *r, const portico_request_target *target,
                                       ProtobufCBinaryData task_token)
{
	begin(r, target, "RespondActivityTaskCanceled", 1);
	Temporal__Api__Workflowservice__V1__RespondActivityTaskCanceledRequest *request = &r->message.activity_canceled;
	temporal__api__workflowservice__v1__respond_activity_task_canceled_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->identity = borrow(target->identity);
	request->task_token = task_token;
}

void portico_request_activity_heartbeat(portico_request *r, const portico_request_target *target,
                                        ProtobufCBinaryData task_token, portico_payloads *details)
{
	begin(r, target, "RecordActivityTaskHeartbeat", 1);
	Temporal__Api__Workflowservice__V1__RecordActivityTaskHeartbeatRequest *request =
	        &r->message.activity_heartbeat;
	temporal__api__workflowservice__v1__record_activity_task_heartbeat_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->identity = borrow(target->identity);
	request->task_token = task_token;
	request->details = details;
}

void portico_request_shutdown_worker(portico_request *r, const portico_request_target *target, const char *sticky_queue,
                                     const char *reason)
{
	begin(r, target, "ShutdownWorker", 1);
	Temporal__Api__Workflowservice__V1__ShutdownWorkerRequest *request = &r->message.shutdown_worker;
	temporal__api__workflowservice__v1__shutdown_worker_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->identity = borrow(target->identity);
	request->sticky_task_queue = borrow(sticky_queue);
	request->reason = borrow(reason);
}

void portico_request_poll_workflows(portico_request *r, const portico_request_target *target, const char *task_queue,
                                    const char *normal_queue)
{
	begin(r, target, "PollWorkflowTaskQueue", 0);
	r->options.timeout_ms = PORTICO_LONG_POLL_TIMEOUT_MS;
	temporal__api__taskqueue__v1__task_queue__init(&r->queue);
	r->queue.name = borrow(task_queue);
	if (normal_queue) {
		r->queue.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_STICKY;
		r->queue.normal_name = borrow(normal_queue);
	} else {
		r->queue.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
	}
	Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueRequest *request = &r->message.poll_workflows;
	temporal__api__workflowservice__v1__poll_workflow_task_queue_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->task_queue = &r->queue;
	request->identity = borrow(target->identity);
}

void portico_request_workflow_completed(portico_request *r, const portico_request_target *target,
                                        ProtobufCBinaryData task_token, const portico_workflow_task_answer *answer)
{
	begin(r, target, "RespondWorkflowTaskCompleted", 1);
	Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedRequest *request =
	        &r->message.workflow_completed;
	temporal__api__workflowservice__v1__respond_workflow_task_completed_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->identity = borrow(target->identity);
	request->task_token = task_token;
	request->n_commands = answer->command_count;
	request->commands = answer->commands;
	request->n_messages = answer->message_count;
	request->messages = answer->messages;
	request->n_query_results = answer->query_result_count;
	request->query_results = answer->query_results;
	if (answer->sticky_queue) {
		temporal__api__taskqueue__v1__task_queue__init(&r->queue);
		r->queue.name = borrow(answer->sticky_queue);
		r->queue.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_STICKY;
		r->queue.normal_name = borrow(answer->normal_queue);
		temporal__api__taskqueue__v1__sticky_execution_attributes__init(&r->sticky);
		r->sticky.worker_task_queue = &r->queue;
		r->sticky.schedule_to_start_timeout =
		        duration_of(&r->sticky_timeout, PORTICO_STICKY_SCHEDULE_TO_START_MS);
		request->sticky_attributes = &r->sticky;
	}
}

void portico_request_workflow_failed(portico_request *r, const portico_request_target *target,
                                     ProtobufCBinaryData task_token,
                                     Temporal__Api__Enums__V1__WorkflowTaskFailedCause cause,
                                     Temporal__Api__Failure__V1__Failure *failure)
{
	begin(r, target, "RespondWorkflowTaskFailed", 1);
	Temporal__Api__Workflowservice__V1__RespondWorkflowTaskFailedRequest *request = &r->message.workflow_failed;
	temporal__api__workflowservice__v1__respond_workflow_task_failed_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->identity = borrow(target->identity);
	request->task_token = task_token;
	request->cause = cause;
	request->failure = failure;
}

void portico_request_query_completed(portico_request *r, const portico_request_target *target,
                                     ProtobufCBinaryData task_token, portico_payloads *result,
                                     Temporal__Api__Failure__V1__Failure *failure)
{
	begin(r, target, "RespondQueryTaskCompleted", 1);
	Temporal__Api__Workflowservice__V1__RespondQueryTaskCompletedRequest *request = &r->message.query_completed;
	temporal__api__workflowservice__v1__respond_query_task_completed_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->task_token = task_token;
	if (result) {
		request->completed_type = TEMPORAL__API__ENUMS__V1__QUERY_RESULT_TYPE__QUERY_RESULT_TYPE_ANSWERED;
		request->query_result = result;
	} else {
		request->completed_type = TEMPORAL__API__ENUMS__V1__QUERY_RESULT_TYPE__QUERY_RESULT_TYPE_FAILED;
		request->error_message = borrow(failure ? failure->message : NULL);
		request->failure = failure;
	}
}

int portico_request_reset_sticky(portico_request *r, const portico_request_target *target, const char *workflow_id,
                                 const char *run_id, portico_error *err)
{
	begin(r, target, "ResetStickyTaskQueue", 1);
	if (require(workflow_id, "workflow id", err))
		return -1;
	Temporal__Api__Workflowservice__V1__ResetStickyTaskQueueRequest *request = &r->message.reset_sticky;
	temporal__api__workflowservice__v1__reset_sticky_task_queue_request__init(request);
	request->namespace_ = borrow(target->namespace_name);
	request->execution = execution_of(r, workflow_id, run_id);
	return 0;
}
