/* The Temporal client: one small function per WorkflowService operation, over the transport.
 * Requests borrow the caller's strings and payloads; responses are the caller's to free with
 * protobuf_c_message_free_unpacked. Every function returns 0, or -1 with err set. */
#ifndef PORTICO_CLIENT_H
#define PORTICO_CLIENT_H

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "payload.h"
#include "transport.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

typedef struct portico_client portico_client;

/* Long polls (history with wait, update) are held by the server for about 20 s; this leaves
 * room for that plus the network. */
#define PORTICO_LONG_POLL_TIMEOUT_MS 70000

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
} portico_workflow_start;

typedef struct portico_history_page_options {
	const char *workflow_id;
	const char *run_id;                    /* NULL for the latest run */
	const ProtobufCBinaryData *page_token; /* NULL for the first page */
	int32_t page_size;                     /* 0 for the server's default */
	int wait_new_event;                    /* long-poll until an event past page_token exists */
	int close_event_only;                  /* only the closing event (with wait: until the close) */
} portico_history_page_options;

typedef Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionResponse portico_describe_response;
typedef Temporal__Api__Workflowservice__V1__ListWorkflowExecutionsResponse portico_list_response;
typedef Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse portico_history_response;
typedef Temporal__Api__Update__V1__Outcome portico_update_outcome;
typedef Temporal__Api__Workflowservice__V1__GetSystemInfoResponse portico_system_info;

/* Opens a client on a new transport to cfg's Temporal; cfg may be freed afterwards.
 * Free with portico_client_close. */
portico_client *portico_client_open(const portico_config *cfg, portico_error *err);
void portico_client_close(portico_client *client);

portico_transport *portico_client_transport(portico_client *client);
const char *portico_client_namespace(const portico_client *client);

/* Asks the server for its version and capabilities: the cheapest proof that Temporal answers. */
int portico_client_get_system_info(portico_client *client, portico_system_info **response, portico_error *err);

/* Starts a workflow; *run_id (caller frees) is its run id. A workflow id already running gives
 * ALREADY_EXISTS with a WorkflowExecutionAlreadyStartedFailure detail carrying its run id. */
int portico_client_start_workflow(portico_client *client, const portico_workflow_start *start, char **run_id,
                                  portico_error *err);

/* Sends a signal; request_id NULL for a fresh one. */
int portico_client_signal_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                   const char *signal_name, const portico_payloads *args, const char *request_id,
                                   portico_error *err);

/* Signals the workflow, starting it first when it is not running; *run_id as for start. */
int portico_client_signal_with_start(portico_client *client, const portico_workflow_start *start,
                                     const char *signal_name, const portico_payloads *signal_args, char **run_id,
                                     portico_error *err);

/* Runs a query; *result (caller frees) is its answer. A query the workflow rejects (it is
 * closed and the condition says so) gives FAILED_PRECONDITION. */
int portico_client_query_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                  const char *query_type, const portico_payloads *args, portico_payloads **result,
                                  portico_error *err);

/* Runs an update and waits until it completes, polling past the server's long-poll limit up to
 * timeout_ms (0 for PORTICO_LONG_POLL_TIMEOUT_MS). *outcome (caller frees) holds the success
 * payloads or the failure the handler or validator returned. update_id NULL for a fresh one. */
int portico_client_update_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                   const char *update_name, const portico_payloads *args, const char *update_id,
                                   int64_t timeout_ms, portico_update_outcome **outcome, portico_error *err);

int portico_client_describe_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                     portico_describe_response **response, portico_error *err);

/* Asks the workflow to cancel; request_id NULL for a fresh one. */
int portico_client_cancel_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                   const char *reason, const char *request_id, portico_error *err);

int portico_client_terminate_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                      const char *reason, portico_error *err);

/* Lists workflows matching a visibility query (NULL or "" for all), one page at a time. */
int portico_client_list_workflows(portico_client *client, const char *query, int32_t page_size,
                                  const ProtobufCBinaryData *page_token, portico_list_response **response,
                                  portico_error *err);

int portico_client_count_workflows(portico_client *client, const char *query, int64_t *count, portico_error *err);

/* Reads one page of a workflow's history. */
int portico_client_get_history_page(portico_client *client, const portico_history_page_options *options,
                                    portico_history_response **response, portico_error *err);

#endif
