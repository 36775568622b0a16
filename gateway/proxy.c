#include "proxy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "clock.h"
#include "completion_webhook.h"
#include "rest_request.h"
#include "result.h"
#include "update.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"

#define MAX_FORWARDED_HEADERS 16
#define GRPC_METADATA_PREFIX  "Grpc-Metadata-"

/* A start refused because its workflow runs already, started by this Idempotency-Key with another
 * request: the key was reused, which is the caller's mistake (422), not a conflict (409). */
static int idempotency_key_reused(const gateway_exchange *exchange, const portico_error *err)
{
	if (!exchange->idempotency_hash[0] || err->code != PORTICO_ALREADY_EXISTS)
		return 0;
	const Temporal__Api__Errordetails__V1__WorkflowExecutionAlreadyStartedFailure *started =
	        (const void *)portico_error_detail(
	                err, &temporal__api__errordetails__v1__workflow_execution_already_started_failure__descriptor);
	return started && started->start_request_id &&
	       !strncmp(started->start_request_id, exchange->idempotency_hash, strlen(exchange->idempotency_hash));
}

/* A Grpc-Timeout header ("10S", "500m") in milliseconds, or 0. */
static int64_t grpc_timeout_ms(const char *value)
{
	if (!value)
		return 0;
	/* gRPC's TimeoutValue is at most 8 digits, which keeps the products below in range. */
	size_t digits = strspn(value, "0123456789");
	if (digits == 0 || digits > 8)
		return 0;
	char *unit;
	long long amount = strtoll(value, &unit, 10);
	if (amount <= 0 || unit[0] == '\0' || unit[1] != '\0')
		return 0;
	switch (*unit) {
	case 'H':
		return amount * 3600000;
	case 'M':
		return amount * 60000;
	case 'S':
		return amount * 1000;
	case 'm':
		return amount;
	case 'u':
		return amount / 1000 ? amount / 1000 : 1;
	case 'n':
		return amount / 1000000 ? amount / 1000000 : 1;
	default:
		return 0;
	}
}

typedef struct forwarded_headers {
	int authorization; /* Authorization goes on unless it carried Portico's own API key */
	portico_metadata items[MAX_FORWARDED_HEADERS];
	char *owned[MAX_FORWARDED_HEADERS];
	size_t count;
	const char *refused; /* the first header that may not go on (a request header name), or NULL */
} forwarded_headers;

/* gRPC metadata a caller may not set through Grpc-Metadata-*: what Portico or gRPC sets itself
 * (the namespace header would let a route's namespace check be walked around), and, while
 * Portico checks credentials, the credentials Temporal sees. */
static int reserved_metadata(const char *key, int authorization_forwarded)
{
	static const char *const reserved[] = {"temporal-namespace", "content-type", "te", "user-agent", "host"};
	if (!strncmp(key, "grpc-", 5) || key[0] == ':')
		return 1;
	if (!authorization_forwarded && (!strcmp(key, "authorization") || !strcmp(key, "authorization-extras")))
		return 1;
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (!strcmp(key, reserved[i]))
			return 1;
	return 0;
}

/* Authorization and Grpc-Metadata-* headers go on to Temporal, as with Temporal's HTTP API. */
static void collect_forwarded(void *arg, const char *name, const char *value)
{
	forwarded_headers *headers = arg;
	const char *key = NULL;
	if (!strcasecmp(name, "Authorization") && headers->authorization)
		key = "authorization";
	else if (!strncasecmp(name, GRPC_METADATA_PREFIX, strlen(GRPC_METADATA_PREFIX)))
		key = name + strlen(GRPC_METADATA_PREFIX);
	if (!key || !*key || headers->refused)
		return;
	char *lower = portico_strdup(key);
	for (char *c = lower; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if ((key != name && reserved_metadata(lower, headers->authorization)) ||
	    headers->count == MAX_FORWARDED_HEADERS) {
		headers->refused = name;
		free(lower);
		return;
	}
	headers->owned[headers->count] = lower;
	headers->items[headers->count].key = lower;
	headers->items[headers->count++].value = value;
}

static void forwarded_headers_free(forwarded_headers *headers)
{
	for (size_t i = 0; i < headers->count; i++)
		free(headers->owned[i]);
}

/* Collects the headers that go on to Temporal; answers 400 and returns -1 for one that may not. */
static int forward_headers(gateway_exchange *exchange, forwarded_headers *headers)
{
	*headers = (forwarded_headers){.authorization = auth_config_mode(exchange->gateway->auth) != AUTH_KEYS};
	http_request_foreach_header(exchange->request, collect_forwarded, headers);
	if (!headers->refused)
		return 0;
	exchange_fail(exchange, PORTICO_INVALID_ARGUMENT,
	              headers->count == MAX_FORWARDED_HEADERS ? "%s: at most %d Grpc-Metadata headers go on to Temporal"
	                                                      : "%s: Portico sets this header itself; a caller may not",
	              headers->refused, MAX_FORWARDED_HEADERS);
	forwarded_headers_free(headers);
	return -1;
}

/* Cuts a list of namespaces to those the caller may use: a key scoped to some namespaces does not
 * learn the others or their configuration. */
static void keep_allowed_namespaces(gateway_exchange *exchange, ProtobufCMessage *message)
{
	Temporal__Api__Workflowservice__V1__ListNamespacesResponse *list = (void *)message;
	size_t kept = 0;
	for (size_t i = 0; i < list->n_namespaces; i++) {
		Temporal__Api__Workflowservice__V1__DescribeNamespaceResponse *item = list->namespaces[i];
		const char *name = item->namespace_info ? item->namespace_info->name : "";
		if (auth_allows_namespace(exchange->gateway->auth, &exchange->caller, name))
			list->namespaces[kept++] = item;
		else
			protobuf_c_message_free_unpacked(&item->base, NULL);
	}
	list->n_namespaces = kept;
}

static void on_response(void *arg, ProtobufCMessage *response, portico_error *err)
{
	gateway_exchange *exchange = arg;
	if (err && idempotency_key_reused(exchange, err)) {
		exchange_fail_status(exchange, 422, PORTICO_INVALID_ARGUMENT,
		                     "Idempotency-Key was used before with a different request; use a new key for a "
		                     "new request");
		return;
	}
	if (err) {
		exchange_respond_error(exchange, err);
		return;
	}
	if (exchange->effect == EFFECT_LIST_NAMESPACES)
		keep_allowed_namespaces(exchange, response);
	if (exchange->update_deadline_ms) {
		update_wait(exchange, exchange->namespace_name, (void *)response, exchange->update_deadline_ms);
		return;
	}
	/* The caller learns the id Portico gave the workflow. */
	const char *made_id = exchange->workflow_id_made ? exchange->workflow_id : NULL;
	if (!exchange->wait_ms) {
		exchange_respond_message(exchange, 200, response, made_id);
		protobuf_c_message_free_unpacked(response, NULL);
		return;
	}
	/* ?wait=: the start's answer as Temporal gave it, and the wait's outcome (result.h), which
	 * result.c adds to the tree. */
	json_t *body = exchange_message_json(exchange, response);
	if (made_id)
		json_object_set_new(body, "workflowId", json_string(made_id));
	protobuf_c_message_free_unpacked(response, NULL);
	json_t *run_id = json_object_get(body, "runId");
	result_wait(exchange, exchange->namespace_name, exchange->workflow_id, json_string_value(run_id),
	            exchange->wait_ms, body);
	json_decref(body);
}

/* ?wait=<duration> on a start or signal-with-start; returns -1 (after answering 400) when bad. */
static int read_wait(gateway_exchange *exchange, const gateway_route *route)
{
	const char *wait = http_request_query(exchange->request, "wait");
	if (!wait)
		return 0;
	if (!route->traits->wait) {
		exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "wait: only a start or signal-with-start can wait");
		return -1;
	}
	return result_query_duration(exchange, "wait", 0, 1, &exchange->wait_ms);
}

static int waits_for_completion(const ProtobufCMessage *message)
{
	const Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionRequest *request = (const void *)message;
	return request->wait_policy &&
	       request->wait_policy->lifecycle_stage ==
	               TEMPORAL__API__ENUMS__V1__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED;
}

static void walk_query(const void *request, void (*add)(void *add_arg, const char *key, const char *value),
                       void *add_arg)
{
	http_request_foreach_query((http_request *)request, add, add_arg);
}

/* The request message from the body (or the fields Portico made), the path variables and (for
 * GET) the query, with what the exchange keeps of it; -1 after answering 400 when they do not
 * make one. */
static int build_request(gateway_exchange *exchange, const gateway_route *route, const route_params *params,
                         const json_t *fields, rest_request *built)
{
	size_t length = 0;
	const char *body = route->has_body ? http_request_body(exchange->request, &length) : NULL;
	const rest_input in = {
	        .traits = route->traits,
	        .params = params,
	        .body = body,
	        .body_length = length,
	        .fields = fields,
	        .walk_query = route->has_body || fields ? NULL : walk_query,
	        .query_source = exchange->request,
	        .idempotency_key = http_request_header(exchange->request, "Idempotency-Key"),
	        .traceparent = http_request_header(exchange->request, "traceparent"),
	        .tracestate = http_request_header(exchange->request, "tracestate"),
	};
	portico_error err = PORTICO_ERROR_INIT;
	int result = rest_request_build(&in, built, &err);
	exchange->workflow_id = built->workflow_id; /* the exchange's now */
	built->workflow_id = NULL;
	/* Portico made the id, or the whole request (a flow's start, which the answer names). */
	exchange->workflow_id_made = built->workflow_id_made || fields;
	memcpy(exchange->idempotency_hash, built->idempotency_hash, sizeof exchange->idempotency_hash);
	if (result) {
		exchange_respond_error(exchange, &err);
		portico_error_clear(&err);
	}
	return result;
}

/* A start's completionWebhook becomes a completion callback of Portico's (completion_webhook.h),
 * added after the permission check so that only callbacks the caller wrote need admin; -1 after
 * answering 400 when the target is not one. */
static int attach_completion_webhook(gateway_exchange *exchange, const rest_request *built)
{
	if (!built->completion_webhook)
		return 0;
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	int failed = completion_target_parse(exchange->gateway->completion, built->completion_webhook, &target, &err) ||
	             completion_webhook_attach(exchange->gateway->completion, exchange->namespace_name, &target,
	                                       (void *)built->message, &err);
	if (failed)
		exchange_respond_error(exchange, &err);
	completion_target_clear(&target);
	portico_error_clear(&err);
	return failed ? -1 : 0;
}

/* proxy_serve and proxy_send: fields is the request Portico made, or NULL for the HTTP body's. */
static void serve(gateway_exchange *exchange, const gateway_route *route, const route_params *params,
                  const json_t *fields)
{
	const rpc_traits *traits = route->traits;
	const char *namespace_name = route_param(params, "namespace");
	forwarded_headers headers;
	if (read_wait(exchange, route) || forward_headers(exchange, &headers))
		return;
	exchange->namespace_name = portico_strdup(namespace_name);
	exchange->effect = traits->effect;
	rest_request built;
	int failed = build_request(exchange, route, params, fields, &built);
	ProtobufCMessage *request = built.message;
	permission_need need = failed ? (permission_need){0, {NULL}}
	                              : permission_effects(traits->effect, request, exchange->gateway->flows);
	if (exchange->wait_ms) /* it answers with the run's result, whichever run the start found */
		permission_need_add(&need, PERMISSION_READ, "?wait= reads the workflow's result");
	if (!failed && built.completion_webhook) /* checked after the caller's own completionCallbacks */
		permission_need_add(&need, PERMISSION_READ, "completionWebhook sends the workflow's result out");
	if (failed || exchange_authorize_effects(exchange, &need, namespace_name) ||
	    attach_completion_webhook(exchange, &built) || exchange_encode_request(exchange, request)) {
		rest_request_clear(&built);
		forwarded_headers_free(&headers);
		return;
	}

	int64_t timeout_ms = grpc_timeout_ms(http_request_header(exchange->request, "Grpc-Timeout"));
	if (traits->role == ROLE_UPDATE && waits_for_completion(request)) {
		/* The whole wait is bounded by the request's timeout; each server long poll by its own. */
		int64_t total_ms = timeout_ms ? timeout_ms : UPDATE_DEFAULT_TIMEOUT_MS;
		exchange->update_deadline_ms = portico_monotonic_ms() + total_ms;
		timeout_ms = total_ms < PORTICO_LONG_POLL_TIMEOUT_MS ? total_ms : PORTICO_LONG_POLL_TIMEOUT_MS;
	}
	if (!timeout_ms)
		timeout_ms = built.long_poll ? PORTICO_LONG_POLL_TIMEOUT_MS : exchange->gateway->config.call_timeout_ms;
	if (built.long_poll)
		exchange_watch_client(exchange); /* a long poll lasts only while its client is there */
	portico_call_options options = {
	        .descriptor = traits_method(traits),
	        .namespace_name = namespace_name,
	        .timeout_ms = timeout_ms,
	        /* Reads and calls with a request id are safe to repeat. */
	        .retry_transient = (!route->has_body && !fields) || built.has_request_id,
	        .metadata = headers.items,
	        .metadata_count = headers.count,
	};
	exchange_call(exchange, &options, request, on_response, exchange);
	rest_request_clear(&built);
	forwarded_headers_free(&headers);
}

void proxy_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params)
{
	serve(exchange, route, params, NULL);
}

void proxy_send(gateway_exchange *exchange, const gateway_route *route, const route_params *params,
                const json_t *fields)
{
	serve(exchange, route, params, fields);
}
