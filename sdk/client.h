/* The Temporal client: one small function per WorkflowService operation, over the transport, in
 * the client's namespace and with its identity; each sends a request built by request.h and
 * waits for the answer. Requests borrow the caller's strings and payloads; responses are the
 * caller's to free with protobuf_c_message_free_unpacked. Every function returns 0, or -1 with err
 * set. The asynchronous face: build with request.h (for portico_client_target) and send with
 * portico_client_call_async. */
#ifndef PORTICO_CLIENT_H
#define PORTICO_CLIENT_H

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "payload.h"
#include "request.h"
#include "transport.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

typedef struct portico_client portico_client;

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
/* The client's namespace and identity, for request.h's builders (valid while the client is). */
portico_request_target portico_client_target(const portico_client *client);

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

/* Sends a built request (request.h) and returns at once; done runs on the transport's completion
 * thread, as for portico_transport_call_async, whose rules it follows (request may go on return;
 * when the call cannot start, -1 with err set and done never runs). */
int portico_client_call_async(portico_client *client, const portico_request *request, portico_call_done_fn done,
                              void *arg, portico_error *err);

#endif
