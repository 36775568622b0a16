#include "client.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"

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

portico_request_target portico_client_target(const portico_client *client)
{
	return (portico_request_target){client->namespace_name, client->identity};
}

/* Sends a built request and waits for its answer. */
static int send(portico_client *client, portico_request *r, ProtobufCMessage **response, portico_error *err)
{
	return portico_transport_call(client->transport, &r->options, &r->message.base, response, err);
}

/* Sends a request whose response only says it was accepted. */
static int send_discard(portico_client *client, portico_request *r, portico_error *err)
{
	ProtobufCMessage *response;
	if (send(client, r, &response, err))
		return -1;
	protobuf_c_message_free_unpacked(response, NULL);
	return 0;
}

int portico_client_get_system_info(portico_client *client, portico_system_info **response, portico_error *err)
{
	portico_request r;
	portico_request_system_info(&r);
	return send(client, &r, (ProtobufCMessage **)response, err);
}

/* The run id of a start's or signal-with-start's response (freed), copied into *run_id. */
static void take_run_id(ProtobufCMessage *response, const char *run_id_of_response, char **run_id)
{
	*run_id = portico_strdup(run_id_of_response);
	protobuf_c_message_free_unpacked(response, NULL);
}

int portico_client_start_workflow(portico_client *client, const portico_workflow_start *start, char **run_id,
                                  portico_error *err)
{
	*run_id = NULL;
	portico_request r;
	portico_request_target target = portico_client_target(client);
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionResponse *response;
	if (portico_request_start(&r, &target, start, err) || send(client, &r, (ProtobufCMessage **)&response, err))
		return -1;
	take_run_id(&response->base, response->run_id, run_id);
	return 0;
}

int portico_client_signal_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                   const char *signal_name, const portico_payloads *args, const char *request_id,
                                   portico_error *err)
{
	portico_request r;
	portico_request_target target = portico_client_target(client);
	if (portico_request_signal(&r, &target, workflow_id, run_id, signal_name, args, request_id, err))
		return -1;
	return send_discard(client, &r, err);
}

int portico_client_signal_with_start(portico_client *client, const portico_workflow_start *start,
                                     const char *signal_name, const portico_payloads *signal_args, char **run_id,
                                     portico_error *err)
{
	*run_id = NULL;
	portico_request r;
	portico_request_target target = portico_client_target(client);
	Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionResponse *response;
	if (portico_request_signal_with_start(&r, &target, start, signal_name, signal_args, err) ||
	    send(client, &r, (ProtobufCMessage **)&response, err))
		return -1;
	take_run_id(&response->base, response->run_id, run_id);
	return 0;
}

int portico_client_query_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                  const char *query_type, const portico_payloads *args, portico_payloads **result,
                                  portico_error *err)
{
	*result = NULL;
	portico_request r;
	portico_request_target target = portico_client_target(client);
	Temporal__Api__Workflowservice__V1__QueryWorkflowResponse *response;
	if (portico_request_query(&r, &target, workflow_id, run_id, query_type, args, err) ||
	    send(client, &r, (ProtobufCMessage **)&response, err))
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
	portico_request_target target = portico_client_target(client);
	while (!*outcome) {
		int64_t remaining = deadline_ms - portico_monotonic_ms();
		if (remaining <= 0)
			return portico_error_set(err, PORTICO_DEADLINE_EXCEEDED,
			                         "update %s was accepted but did not complete in time", ref->update_id);
		portico_request r;
		portico_request_poll_update(&r, &target, ref, remaining);
		Temporal__Api__Workflowservice__V1__PollWorkflowExecutionUpdateResponse *response;
		if (send(client, &r, (ProtobufCMessage **)&response, err))
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
	if (timeout_ms <= 0)
		timeout_ms = PORTICO_LONG_POLL_TIMEOUT_MS;
	int64_t deadline_ms = portico_monotonic_ms() + timeout_ms;
	portico_request r;
	portico_request_target target = portico_client_target(client);
	Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionResponse *response;
	if (portico_request_update(&r, &target, workflow_id, run_id, update_name, args, update_id, timeout_ms, err) ||
	    send(client, &r, (ProtobufCMessage **)&response, err))
		return -1;
	*outcome = response->outcome;
	response->outcome = NULL;
	int result = 0;
	if (!*outcome) {
		if (response->update_ref)
			result = poll_update(client, response->update_ref, deadline_ms, outcome, err);
		else
			result = portico_error_set(err, PORTICO_INTERNAL, "update %s: Temporal returned no reference",
			                           r.meta.update_id);
	}
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return result;
}

int portico_client_describe_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                     portico_describe_response **response, portico_error *err)
{
	*response = NULL;
	portico_request r;
	portico_request_target target = portico_client_target(client);
	if (portico_request_describe(&r, &target, workflow_id, run_id, err))
		return -1;
	return send(client, &r, (ProtobufCMessage **)response, err);
}

int portico_client_cancel_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                   const char *reason, const char *request_id, portico_error *err)
{
	portico_request r;
	portico_request_target target = portico_client_target(client);
	if (portico_request_cancel(&r, &target, workflow_id, run_id, reason, request_id, err))
		return -1;
	return send_discard(client, &r, err);
}

int portico_client_terminate_workflow(portico_client *client, const char *workflow_id, const char *run_id,
                                      const char *reason, portico_error *err)
{
	portico_request r;
	portico_request_target target = portico_client_target(client);
	if (portico_request_terminate(&r, &target, workflow_id, run_id, reason, err))
		return -1;
	return send_discard(client, &r, err);
}

int portico_client_list_workflows(portico_client *client, const char *query, int32_t page_size,
                                  const ProtobufCBinaryData *page_token, portico_list_response **response,
                                  portico_error *err)
{
	portico_request r;
	portico_request_target target = portico_client_target(client);
	portico_request_list(&r, &target, query, page_size, page_token);
	return send(client, &r, (ProtobufCMessage **)response, err);
}

int portico_client_count_workflows(portico_client *client, const char *query, int64_t *count, portico_error *err)
{
	portico_request r;
	portico_request_target target = portico_client_target(client);
	portico_request_count(&r, &target, query);
	Temporal__Api__Workflowservice__V1__CountWorkflowExecutionsResponse *response;
	if (send(client, &r, (ProtobufCMessage **)&response, err))
		return -1;
	*count = response->count;
	protobuf_c_message_free_unpacked(&response->base, NULL);
	return 0;
}

int portico_client_get_history_page(portico_client *client, const portico_history_page_options *options,
                                    portico_history_response **response, portico_error *err)
{
	*response = NULL;
	portico_request r;
	portico_request_target target = portico_client_target(client);
	if (portico_request_history(&r, &target, options, 0, err))
		return -1;
	return send(client, &r, (ProtobufCMessage **)response, err);
}

int portico_client_call_async(portico_client *client, const portico_request *request, portico_call_done_fn done,
                              void *arg, portico_error *err)
{
	return portico_transport_call_async(client->transport, &request->options, &request->message.base, done, arg,
	                                    err);
}
