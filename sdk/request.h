/* Temporal's requests, each built in one place: the synchronous client (client.h) sends them and
 * waits, and a program that sends asynchronously (the gateway, through its own timed and
 * cancellable calls) builds them here and sends them with portico_transport_call_async. A builder
 * fills a portico_request: the message, what the message points into, and the call options that
 * go with it (method, namespace, whether a retry is safe, the long-poll deadline when the server
 * holds the call). Builders borrow the caller's strings and payloads: keep them, and the
 * portico_request, until the call has started (the transport copies the message then).
 * Every builder that can fail returns 0, or -1 with err set (a required field missing). */
#ifndef PORTICO_REQUEST_H
#define PORTICO_REQUEST_H

#include <stdint.h>

#include "error.h"
#include "payload.h"
#include "transport.h"
#include "uuid.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

typedef struct portico_workflow_start {
	const char *workflow_id;       /* required */
	const char *workflow_type;     /* required */
	const char *task_queue;        /* required */
	const portico_payloads *input; /* NULL for no arguments */
	const char *request_id;        /* idempotency key; NULL for a fresh one */
	int64_t execution_timeout_ms;  /* 0 for the server's default (unlimited) */
	int64_t run_timeout_ms;
	int64_t task_timeout_ms;
	Temporal__Api__Enums__V1__WorkflowIdReusePolicy id_reuse_policy;       /* 0: server default */
	Temporal__Api__Enums__V1__WorkflowIdConflictPolicy id_conflict_policy; /* 0: server default */
	const Temporal__Api__Common__V1__Memo *memo;                           /* NULL for none */
} portico_workflow_start;

typedef struct portico_history_page_options {
	const char *workflow_id;
	const char *run_id;                    /* NULL for the latest run */
	const ProtobufCBinaryData *page_token; /* NULL for the first page */
	int32_t page_size;                     /* 0 for the server's default */
	int wait_new_event;                    /* long-poll until an event past page_token exists */
	int close_event_only;                  /* only the closing event (with wait: until the close) */
} portico_history_page_options;

/* Where a request's call goes: the namespace (required) and the identity Temporal records (NULL
 * for none). Both borrowed. */
typedef struct portico_request_target {
	const char *namespace_name;
	const char *identity;
} portico_request_target;

typedef struct portico_request {
	union {
		ProtobufCMessage base;
		Temporal__Api__Workflowservice__V1__GetSystemInfoRequest system_info;
		Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest start;
		Temporal__Api__Workflowservice__V1__SignalWorkflowExecutionRequest signal;
		Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionRequest signal_with_start;
		Temporal__Api__Workflowservice__V1__QueryWorkflowRequest query;
		Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionRequest update;
		Temporal__Api__Workflowservice__V1__PollWorkflowExecutionUpdateRequest poll_update;
		Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionRequest describe;
		Temporal__Api__Workflowservice__V1__RequestCancelWorkflowExecutionRequest cancel;
		Temporal__Api__Workflowservice__V1__TerminateWorkflowExecutionRequest terminate;
		Temporal__Api__Workflowservice__V1__ListWorkflowExecutionsRequest list;
		Temporal__Api__Workflowservice__V1__CountWorkflowExecutionsRequest count;
		Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryRequest history;
		Temporal__Api__Workflowservice__V1__PollActivityTaskQueueRequest poll_activities;
		Temporal__Api__Workflowservice__V1__RespondActivityTaskCompletedRequest activity_completed;
		Temporal__Api__Workflowservice__V1__RespondActivityTaskFailedRequest activity_failed;
		Temporal__Api__Workflowservice__V1__RespondActivityTaskCanceledRequest activity_canceled;
		Temporal__Api__Workflowservice__V1__RecordActivityTaskHeartbeatRequest activity_heartbeat;
		Temporal__Api__Workflowservice__V1__ShutdownWorkerRequest shutdown_worker;
		Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueRequest poll_workflows;
		Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedRequest workflow_completed;
		Temporal__Api__Workflowservice__V1__RespondWorkflowTaskFailedRequest workflow_failed;
		Temporal__Api__Workflowservice__V1__RespondQueryTaskCompletedRequest query_completed;
		Temporal__Api__Workflowservice__V1__ResetStickyTaskQueueRequest reset_sticky;
	} message;
	portico_call_options options;
	/* What the message points into. */
	Temporal__Api__Common__V1__WorkflowExecution execution;
	Temporal__Api__Common__V1__WorkflowType type;
	Temporal__Api__Taskqueue__V1__TaskQueue queue;
	Google__Protobuf__Duration execution_timeout, run_timeout, task_timeout;
	Temporal__Api__Query__V1__WorkflowQuery query;
	Temporal__Api__Update__V1__Meta meta;
	Temporal__Api__Update__V1__Input input;
	Temporal__Api__Update__V1__Request update;
	Temporal__Api__Update__V1__WaitPolicy wait;
	Temporal__Api__Taskqueue__V1__StickyExecutionAttributes sticky;
	Google__Protobuf__Duration sticky_timeout;
	char fresh_id[PORTICO_UUID_LENGTH + 1]; /* a request or update id made when none was given */
} portico_request;

/* GetSystemInfo: the cheapest proof that Temporal answers. */
void portico_request_system_info(portico_request *r);

/* StartWorkflowExecution. */
int portico_request_start(portico_request *r, const portico_request_target *target, const portico_workflow_start *start,
                          portico_error *err);

/* SignalWorkflowExecution; request_id NULL for a fresh one. */
int portico_request_signal(portico_request *r, const portico_request_target *target, const char *workflow_id,
                           const char *run_id, const char *signal_name, const portico_payloads *args,
                           const char *request_id, portico_error *err);

/* SignalWithStartWorkflowExecution. */
int portico_request_signal_with_start(portico_request *r, const portico_request_target *target,
                                      const portico_workflow_start *start, const char *signal_name,
                                      const portico_payloads *signal_args, portico_error *err);

/* QueryWorkflow. */
int portico_request_query(portico_request *r, const portico_request_target *target, const char *workflow_id,
                          const char *run_id, const char *query_type, const portico_payloads *args, portico_error *err);

/* UpdateWorkflowExecution waiting for the update to complete, as long as one long poll allows and
 * no longer than timeout_ms; update_id NULL for a fresh one. */
int portico_request_update(portico_request *r, const portico_request_target *target, const char *workflow_id,
                           const char *run_id, const char *update_name, const portico_payloads *args,
                           const char *update_id, int64_t timeout_ms, portico_error *err);

/* PollWorkflowExecutionUpdate until the update completes, for one long poll and no longer than
 * timeout_ms (at least 1 ms). */
void portico_request_poll_update(portico_request *r, const portico_request_target *target,
                                 Temporal__Api__Update__V1__UpdateRef *ref, int64_t timeout_ms);

/* DescribeWorkflowExecution; run_id NULL for the latest run. */
int portico_request_describe(portico_request *r, const portico_request_target *target, const char *workflow_id,
                             const char *run_id, portico_error *err);

/* RequestCancelWorkflowExecution; request_id NULL for a fresh one. */
int portico_request_cancel(portico_request *r, const portico_request_target *target, const char *workflow_id,
                           const char *run_id, const char *reason, const char *request_id, portico_error *err);

/* TerminateWorkflowExecution: never retried, since it has no request id and a retry could land on a
 * successor run. */
int portico_request_terminate(portico_request *r, const portico_request_target *target, const char *workflow_id,
                              const char *run_id, const char *reason, portico_error *err);

/* ListWorkflowExecutions, one page; query NULL or "" for all. */
void portico_request_list(portico_request *r, const portico_request_target *target, const char *query,
                          int32_t page_size, const ProtobufCBinaryData *page_token);

/* CountWorkflowExecutions. */
void portico_request_count(portico_request *r, const portico_request_target *target, const char *query);

/* GetWorkflowExecutionHistory, one page; a long poll when options->wait_new_event, for one long
 * poll and no longer than timeout_ms (0 for a whole long poll). */
int portico_request_history(portico_request *r, const portico_request_target *target,
                            const portico_history_page_options *options, int64_t timeout_ms, portico_error *err);

/* A worker's requests. */

/* PollActivityTaskQueue: a long poll of task_queue for one task, with a long poll's deadline; not
 * retried (the poller polls again). */
void portico_request_poll_activities(portico_request *r, const portico_request_target *target, const char *task_queue);

/* The answers to the attempt of task_token, and its heartbeat: retried, since Temporal takes one
 * answer per attempt (a second one is NOT_FOUND). The payloads and failure are borrowed. */
void portico_request_activity_completed(portico_request *r, const portico_request_target *target,
                                        ProtobufCBinaryData task_token, portico_payloads *result);
void portico_request_activity_failed(portico_request *r, const portico_request_target *target,
                                     ProtobufCBinaryData task_token, Temporal__Api__Failure__V1__Failure *failure,
                                     portico_payloads *last_heartbeat_details);
void portico_request_activity_canceled(portico_request *r, const portico_request_target *target,
                                       ProtobufCBinaryData task_token);
void portico_request_activity_heartbeat(portico_request *r, const portico_request_target *target,
                                        ProtobufCBinaryData task_token, portico_payloads *details);

/* ShutdownWorker: tells Temporal the worker's polls are over (reason borrowed), and that its
 * sticky queue (NULL for none) is gone, so that the tasks of its cached runs go to the normal
 * queue at once rather than after the sticky schedule-to-start timeout. */
void portico_request_shutdown_worker(portico_request *r, const portico_request_target *target, const char *sticky_queue,
                                     const char *reason);

/* PollWorkflowTaskQueue: a long poll for one workflow task, with a long poll's deadline; not
 * retried (the poller polls again). normal_queue NULL polls task_queue itself; otherwise
 * task_queue is the worker's sticky queue for the runs it keeps, and normal_queue the queue it
 * stands in for. */
void portico_request_poll_workflows(portico_request *r, const portico_request_target *target, const char *task_queue,
                                    const char *normal_queue);

/* How long a task on the sticky queue waits for this worker before Temporal gives it to the
 * normal queue, as the official SDKs set it. */
#define PORTICO_STICKY_SCHEDULE_TO_START_MS 10000

typedef Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedRequest__QueryResultsEntry
        portico_query_result_entry;

/* What a workflow task is answered with: all borrowed. */
typedef struct portico_workflow_task_answer {
	Temporal__Api__Command__V1__Command **commands;
	size_t command_count;
	Temporal__Api__Protocol__V1__Message **messages; /* update acceptances, rejections, responses */
	size_t message_count;
	portico_query_result_entry **query_results; /* the answers to the task's queries */
	size_t query_result_count;
	const char *sticky_queue; /* the worker's sticky queue for the run's next tasks; NULL for none */
	const char *normal_queue; /* the queue sticky_queue stands in for */
} portico_workflow_task_answer;

/* The answers to the workflow task of task_token: retried, since Temporal takes one answer per
 * task (a second one is NOT_FOUND). RespondWorkflowTaskCompleted never asks for the next task in
 * the response (the poller polls for it). RespondWorkflowTaskFailed makes Temporal retry the task;
 * the workflow stays open. */
void portico_request_workflow_completed(portico_request *r, const portico_request_target *target,
                                        ProtobufCBinaryData task_token, const portico_workflow_task_answer *answer);
void portico_request_workflow_failed(portico_request *r, const portico_request_target *target,
                                     ProtobufCBinaryData task_token,
                                     Temporal__Api__Enums__V1__WorkflowTaskFailedCause cause,
                                     Temporal__Api__Failure__V1__Failure *failure);

/* RespondQueryTaskCompleted, the answer to a legacy query task: with result (ANSWERED), or with
 * failure (FAILED; its message becomes the error message) when result is NULL. Retried. */
void portico_request_query_completed(portico_request *r, const portico_request_target *target,
                                     ProtobufCBinaryData task_token, portico_payloads *result,
                                     Temporal__Api__Failure__V1__Failure *failure);

/* ResetStickyTaskQueue: the worker no longer keeps the run, so its next task goes to the normal
 * queue with the whole history. Retried (resetting twice is harmless). */
int portico_request_reset_sticky(portico_request *r, const portico_request_target *target, const char *workflow_id,
                                 const char *run_id, portico_error *err);

#endif
