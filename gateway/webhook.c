/* POST /webhooks/{name}: verify, filter, map the delivery to a start or signal, call Temporal,
 * answer 202 as soon as Temporal accepted it. */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "completion_webhook.h"
#include "clock.h"
#include "flow_request.h"
#include "webhook_config.h"
#include "log.h"
#include "protojson.h"
#include "uuid.h"
#include "request.h"

#define WEBHOOK_PREFIX        "/webhooks/"
#define MAX_REQUEST_ID_LENGTH 128

static void log_rejected(gateway_exchange *exchange, const webhook_route *route, const char *reason)
{
	portico_log("warn", "webhook signature rejected",
	            json_pack("{s:o,s:o,s:s}", "webhook", portico_log_text(route->name), "reason",
	                      portico_log_text(reason ? reason : ""), "requestId", exchange->request_id));
}

/* Deliveries that do not pass every filter are acknowledged and dropped. */
static const char *filtered_out(const webhook_route *route, request_headers headers, const json_t *body,
                                const char *delivery)
{
	for (size_t i = 0; i < route->filter_count; i++) {
		const webhook_filter *filter = &route->filters[i];
		portico_error err = PORTICO_ERROR_INIT;
		char *value = webhook_render(filter->value, headers, body, delivery, &err);
		portico_error_clear(&err);
		size_t match = 0;
		while (value && match < filter->allowed_count && strcmp(value, filter->allowed[match]))
			match++;
		int passes = value && match < filter->allowed_count;
		free(value);
		if (!passes)
			return filter->value;
	}
	return NULL;
}

/* The workflow's arguments: the body (or the part a pointer selects), then the selected headers.
 * A flow takes one argument, {"definition", "input"}, whose input is the body (or its part), or
 * {"body", "headers"} when the route selects headers, checked against the flow's input schema. */
static json_t *arguments(const webhook_route *route, request_headers request, json_t *body, portico_error *err)
{
	json_t *event = route->input_pointer ? webhook_json_pointer(body, route->input_pointer) : body;
	if (!event) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the body has nothing at \"%s\"",
		                  route->input_pointer);
		return NULL;
	}
	json_t *headers = NULL;
	if (route->input_header_count) {
		headers = json_object();
		for (size_t i = 0; i < route->input_header_count; i++) {
			const char *value = request_headers_get(request, route->input_headers[i]);
			json_object_set_new(headers, route->input_headers[i], value ? json_string(value) : json_null());
		}
	}
	if (route->flow) {
		json_t *input =
		        headers ? json_pack("{s:O,s:o}", "body", event, "headers", headers) : json_incref(event);
		json_t *args = flow_request_check_input(route->flow, input, err)
		                       ? NULL
		                       : json_pack("[o]", flow_request_argument(route->flow, input));
		json_decref(input);
		return args;
	}
	json_t *args = json_pack("[O]", event);
	if (headers)
		json_array_append_new(args, headers);
	return args;
}

/* A flow's memo ({"flow": …}, flow_request.h) as the start request's, or NULL for other routes
 * (and when it cannot be, with err). Free with protobuf_c_message_free_unpacked. */
static Temporal__Api__Common__V1__Memo *flow_memo(const webhook_route *route, portico_error *err)
{
	if (!route->flow)
		return NULL;
	json_t *memo = json_pack("{s:{s:o}}", "fields", "flow", flow_request_memo(route->flow));
	ProtobufCMessage *message = portico_protojson_decode(&temporal__api__common__v1__memo__descriptor, memo, err);
	json_decref(memo);
	return (Temporal__Api__Common__V1__Memo *)message;
}

/* The delivery id as Temporal's request id: a redelivery is the same request, which Temporal
 * answers with the same run instead of acting twice. Long ids are digested. */
static char *request_id_for(const webhook_route *route, const char *delivery)
{
	if (!delivery) {
		char fresh[PORTICO_UUID_LENGTH + 1];
		portico_uuid_v4(fresh);
		return portico_strdup(fresh);
	}
	char *id = portico_sprintf("webhook/%s/%s", route->name, delivery);
	if (strlen(id) <= MAX_REQUEST_ID_LENGTH)
		return id;
	uint8_t digest[PORTICO_HMAC_MAX_BYTES];
	portico_bytes part = {id, strlen(id)};
	size_t length = portico_hmac(PORTICO_HMAC_SHA256, NULL, 0, &part, 1, digest);
	char *hashed = portico_malloc(2 * length + 1);
	portico_hex(digest, length, hashed);
	free(id);
	return hashed;
}

static void on_accepted(void *arg, ProtobufCMessage *response, portico_error *err)
{
	gateway_exchange *exchange = arg;
	if (err && err->code == PORTICO_ALREADY_EXISTS) {
		/* Another delivery started this workflow id (a business key shared by several events):
		 * this one is received, and a sender retrying on a 4xx would only retry in vain. */
		exchange_respond_json(exchange, 202,
		                      json_pack("{s:s,s:b}", "workflowId", exchange->workflow_id, "alreadyStarted", 1));
		return;
	}
	if (err) {
		exchange_respond_error(exchange, err);
		return;
	}
	const char *run_id = NULL;
	if (response->descriptor == &temporal__api__workflowservice__v1__start_workflow_execution_response__descriptor)
		run_id = ((Temporal__Api__Workflowservice__V1__StartWorkflowExecutionResponse *)response)->run_id;
	else if (response->descriptor ==
	         &temporal__api__workflowservice__v1__signal_with_start_workflow_execution_response__descriptor)
		run_id = ((Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionResponse *)response)
		                 ->run_id;
	json_t *body = json_pack("{s:s}", "workflowId", exchange->workflow_id);
	if (run_id && *run_id)
		json_object_set_new(body, "runId", json_string(run_id));
	protobuf_c_message_free_unpacked(response, NULL);
	exchange_respond_json(exchange, 202, body);
}

/* Builds the route's call and sends it; the payloads are encoded and size-checked first. */
static void call_temporal(gateway_exchange *exchange, const webhook_route *route, portico_payloads *input,
                          const char *request_id)
{
	char *identity = portico_sprintf("portico-webhook/%s", route->name);
	const portico_request_target target = {route->namespace_name, identity};
	int starts = route->action == WEBHOOK_START || route->action == WEBHOOK_START_FLOW;
	portico_error err = PORTICO_ERROR_INIT;
	Temporal__Api__Common__V1__Memo *memo = flow_memo(route, &err);
	/* A start takes the event as its input; a signal-with-start gives it to the signal only. */
	const portico_workflow_start start = {
	        .workflow_id = exchange->workflow_id,
	        .workflow_type = route->workflow_type,
	        .task_queue = route->flow ? exchange->gateway->config.flows_task_queue : route->task_queue,
	        .input = starts ? input : NULL,
	        .request_id = request_id,
	        .execution_timeout_ms = route->execution_timeout_s * 1000,
	        .run_timeout_ms = route->run_timeout_s * 1000,
	        .task_timeout_ms = route->task_timeout_s * 1000,
	        .memo = memo,
	};
	portico_request request;
	int built =
	        route->flow && !memo ? -1
	        : starts             ? portico_request_start(&request, &target, &start, &err)
	        : route->action == WEBHOOK_SIGNAL
	                ? portico_request_signal(&request, &target, exchange->workflow_id, NULL, route->signal_name,
	                                         input, request_id, &err)
	                : portico_request_signal_with_start(&request, &target, &start, route->signal_name, input, &err);
	exchange->namespace_name = portico_strdup(route->namespace_name);
	if (built) {
		exchange_respond_error(exchange, &err);
		portico_error_clear(&err);
	} else if (exchange_encode_request(exchange, &request.message.base) == 0) {
		/* The request is sent (packed) by exchange_call: the callback is freed after it. */
		Temporal__Api__Common__V1__Callback *callback = NULL;
		if (route->completion_webhook.url &&
		    !(callback =
		              completion_webhook_callback(exchange->gateway->completion, route->namespace_name,
		                                          exchange->workflow_id, &route->completion_webhook, &err))) {
			exchange_respond_error(exchange, &err);
			portico_error_clear(&err);
			goto done;
		}
		if (callback) { /* a start route's: the others have none */
			request.message.start.completion_callbacks = &callback;
			request.message.start.n_completion_callbacks = 1;
		}
		request.options.timeout_ms = exchange->gateway->config.call_timeout_ms;
		exchange_call(exchange, &request.options, &request.message.base, on_accepted, exchange);
		if (callback)
			protobuf_c_message_free_unpacked(&callback->base, NULL);
	}
done:
	if (memo)
		protobuf_c_message_free_unpacked(&memo->base, NULL);
	free(identity);
}

/* Slack checks a new events URL by sending a challenge to echo. */
static int answer_slack_challenge(gateway_exchange *exchange, const webhook_route *route, const json_t *body)
{
	const char *type = json_string_value(json_object_get(body, "type"));
	if (route->verifier.scheme != WEBHOOK_SLACK || !type || strcmp(type, "url_verification"))
		return 0;
	exchange_respond_json(exchange, 200, json_pack("{s:O?}", "challenge", json_object_get(body, "challenge")));
	return 1;
}

static void serve_route(gateway_exchange *exchange, const webhook_route *route)
{
	size_t length;
	const char *raw = http_request_body(exchange->request, &length);
	const char *reason = NULL;
	int rejected =
	        webhook_verify(&route->verifier, exchange_headers(exchange), raw, length, portico_wall_s(), &reason);
	char name[160], labels[200];
	portico_metrics_label(name, sizeof name, "webhook", route->name);
	snprintf(labels, sizeof labels, "%s,result=\"%s\"", name, rejected ? "rejected" : "verified");
	portico_metrics_add(exchange->gateway->metrics, "portico_webhook_verifications_total", labels, 1);
	if (rejected) {
		log_rejected(exchange, route, reason);
		/* No detail: a caller probing signatures learns nothing. */
		exchange_fail(exchange, PORTICO_UNAUTHENTICATED, "invalid or missing webhook signature");
		return;
	}
	json_t *body = length ? json_loadb(raw ? raw : "", length, JSON_DECODE_ANY, NULL) : json_null();
	json_t *event = body ? json_incref(body) : json_stringn(raw, length); /* non-JSON bodies go as text */
	if (!event) {
		exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "the body is neither JSON nor UTF-8 text");
		return;
	}
	portico_error err = PORTICO_ERROR_INIT;
	char *delivery = NULL, *request_id = NULL;
	json_t *args = NULL;
	const char *filter = NULL;
	if (answer_slack_challenge(exchange, route, body)) {
		goto done;
	}
	if (route->delivery_id &&
	    !(delivery = webhook_render(route->delivery_id, exchange_headers(exchange), body, NULL, &err))) {
		exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "delivery id: %s", err.message);
		goto done;
	}
	if ((filter = filtered_out(route, exchange_headers(exchange), body, delivery))) {
		exchange_respond_json(exchange, 202, json_pack("{s:b,s:s}", "ignored", 1, "filter", filter));
		goto done;
	}
	if (!(exchange->workflow_id =
	              webhook_render(route->workflow_id, exchange_headers(exchange), body, delivery, &err))) {
		exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "workflow id: %s", err.message);
		goto done;
	}
	if (!(args = arguments(route, exchange_headers(exchange), event, &err))) {
		exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "input: %s", err.message);
		goto done;
	}
	request_id = request_id_for(route, delivery);
	portico_payloads *input = portico_payloads_of_values(args);
	call_temporal(exchange, route, input, request_id);
	portico_payloads_free(input);
done:
	portico_error_clear(&err);
	free(delivery);
	free(request_id);
	json_decref(args);
	json_decref(event);
	json_decref(body);
}

int webhook_serve(gateway_exchange *exchange, const char *path)
{
	if (strncmp(path, WEBHOOK_PREFIX, strlen(WEBHOOK_PREFIX)))
		return 0;
	exchange->route = "/webhooks/{name}";
	const webhook_route *route = webhook_set_find(exchange->gateway->webhooks, path + strlen(WEBHOOK_PREFIX));
	if (!route) {
		exchange_fail(exchange, PORTICO_NOT_FOUND, "no webhook is configured at %s", path);
		return 1;
	}
	if (strcmp(http_request_method(exchange->request), "POST")) {
		http_response_header(exchange->request, "Allow", "POST");
		exchange_respond_json(exchange, 405,
		                      json_pack("{s:i,s:s}", "code", PORTICO_INVALID_ARGUMENT, "message",
		                                "a webhook takes POST only"));
		return 1;
	}
	serve_route(exchange, route);
	return 1;
}
