/* A route of Temporal's HTTP API becomes its WorkflowService call: the body, the path variables
 * and (for GET) the query parameters make one JSON object, proto3 JSON turns it into the request
 * message, and the response or error comes back as JSON. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "backoff.h"
#include "gateway.h"
#include "protojson.h"
#include "result.h"
#include "update.h"
#include "uuid.h"
#include "temporal/api/workflowservice/v1/service.pb-c.h"

#define SERVICE               temporal__api__workflowservice__v1__workflow_service__descriptor
#define LONG_POLL_TIMEOUT_MS  70000
#define MAX_FORWARDED_HEADERS 16
#define GRPC_METADATA_PREFIX  "Grpc-Metadata-"

/* Query parameters that are Portico's own, not request fields. */
static const char *const reserved_query[] = {"noPayloadShorthand", NULL};

/* Short forms a curl user may write, rewritten to the request's own fields. */
static const struct shorthand_field {
	const char *rpc;
	const char *key;
	const char *field_path;
} shorthand_fields[] = {
        {"StartWorkflowExecution", "args", "input"},
        {"SignalWithStartWorkflowExecution", "args", "input"},
        {"SignalWithStartWorkflowExecution", "signalArgs", "signal_input"},
        {"SignalWorkflowExecution", "args", "input"},
        {"QueryWorkflow", "args", "query.query_args"},
        {"UpdateWorkflowExecution", "args", "request.input.args"},
};

/* Sets object[dotted proto path] = value (stolen), making the objects along the way; any value
 * the field had under its lowerCamel name goes, so path variables win over the body. */
static void set_path(json_t *object, const char *path, json_t *value)
{
	char *copy = portico_strdup(path);
	char *segment = copy;
	for (;;) {
		char *dot = strchr(segment, '.');
		if (dot)
			*dot = '\0';
		char camel[128];
		portico_protojson_json_name(segment, camel, sizeof camel);
		if (!dot) {
			json_object_del(object, camel);
			json_object_set_new(object, segment, value);
			break;
		}
		json_t *child = json_object_get(object, segment);
		if (!child)
			child = json_object_get(object, camel);
		if (!json_is_object(child)) {
			child = json_object();
			json_object_del(object, camel);
			json_object_set_new(object, segment, child);
		}
		object = child;
		segment = dot + 1;
	}
	free(copy);
}

/* Reads object[dotted path] under proto or lowerCamel names, or NULL. */
static json_t *get_path(json_t *object, const char *path)
{
	char *copy = portico_strdup(path);
	char *segment = copy;
	json_t *found = object;
	while (found && segment) {
		char *dot = strchr(segment, '.');
		if (dot)
			*dot = '\0';
		char camel[128];
		portico_protojson_json_name(segment, camel, sizeof camel);
		json_t *child = json_is_object(found) ? json_object_get(found, segment) : NULL;
		found = child ? child : json_is_object(found) ? json_object_get(found, camel) : NULL;
		segment = dot ? dot + 1 : NULL;
	}
	free(copy);
	return found;
}

static void add_query(void *arg, const char *key, const char *value)
{
	json_t *object = arg;
	for (const char *const *reserved = reserved_query; *reserved; reserved++)
		if (!strcmp(key, *reserved))
			return;
	json_t *existing = get_path(object, key);
	if (json_is_string(existing)) {
		json_t *values = json_pack("[O,s]", existing, value);
		set_path(object, key, values);
	} else if (json_is_array(existing)) {
		json_array_append_new(existing, json_string(value));
	} else {
		set_path(object, key, json_string(value));
	}
}

/* Applies the friendlier forms: "workflowType": "Name", "taskQueue": "q", "args": [...]. */
static void apply_shorthand(json_t *body, const char *rpc)
{
	static const char *const named[] = {"workflowType", "workflow_type", "taskQueue", "task_queue"};
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		json_t *value = json_object_get(body, named[i]);
		if (json_is_string(value))
			json_object_set_new(body, named[i], json_pack("{s:O}", "name", value));
	}
	for (size_t i = 0; i < sizeof shorthand_fields / sizeof shorthand_fields[0]; i++) {
		const struct shorthand_field *field = &shorthand_fields[i];
		json_t *value = strcmp(field->rpc, rpc) ? NULL : json_object_get(body, field->key);
		if (value) {
			json_incref(value);
			json_object_del(body, field->key);
			set_path(body, field->field_path, value);
		}
	}
}

/* The Idempotency-Key header becomes the request id (or an update's id) unless the body has one. */
static void apply_idempotency_key(gateway_exchange *exchange, json_t *body, const ProtobufCMethodDescriptor *method)
{
	const char *key = http_request_header(exchange->request, "Idempotency-Key");
	if (!key || !*key)
		return;
	const char *path = NULL;
	if (protobuf_c_message_descriptor_get_field_by_name(method->input, "request_id"))
		path = "request_id";
	else if (!strcmp(method->name, "UpdateWorkflowExecution"))
		path = "request.meta.update_id";
	if (path && !json_is_string(get_path(body, path)))
		set_path(body, path, json_string(key));
}

/* W3C trace context: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>". */
static int valid_traceparent(const char *value)
{
	static const char shape[] = "xx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxx-xx";
	if (!value || strlen(value) != sizeof shape - 1)
		return 0;
	for (size_t i = 0; i < sizeof shape - 1; i++)
		if (shape[i] == '-' ? value[i] != '-' : !strchr("0123456789abcdef", value[i]) || !value[i])
			return 0;
	return strncmp(value, "ff", 2) != 0;
}

/* A caller's traceparent (and tracestate) goes into the workflow's header under "_tracer-data",
 * where the OpenTelemetry interceptors of Temporal's SDKs look for the parent span. */
static void apply_trace_context(gateway_exchange *exchange, json_t *body, const char *rpc)
{
	static const struct {
		const char *rpc, *header;
	} headers[] = {{"StartWorkflowExecution", "header"},
	               {"SignalWithStartWorkflowExecution", "header"},
	               {"SignalWorkflowExecution", "header"},
	               {"QueryWorkflow", "query.header"},
	               {"UpdateWorkflowExecution", "request.input.header"}};
	const char *traceparent = http_request_header(exchange->request, "traceparent");
	if (!valid_traceparent(traceparent))
		return;
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		if (strcmp(headers[i].rpc, rpc))
			continue;
		char path[64];
		snprintf(path, sizeof path, "%s.fields._tracer-data", headers[i].header);
		if (get_path(body, path))
			return; /* the caller set it: theirs wins */
		json_t *carrier = json_pack("{s:s}", "traceparent", traceparent);
		const char *tracestate = http_request_header(exchange->request, "tracestate");
		if (tracestate && *tracestate)
			json_object_set_new(carrier, "tracestate", json_string(tracestate));
		set_path(body, path, carrier);
	}
}

/* A start posted to …/workflows without an id gets a fresh one; the id is noted for ?wait=. */
static void apply_start_defaults(gateway_exchange *exchange, json_t *body, const char *rpc)
{
	if (strcmp(rpc, "StartWorkflowExecution"))
		return;
	json_t *given = get_path(body, "workflow_id");
	if (json_is_string(given)) {
		free(exchange->workflow_id);
		exchange->workflow_id = portico_strdup(json_string_value(given));
		return;
	}
	char workflow_id[PORTICO_UUID_LENGTH + 1];
	portico_uuid_v4(workflow_id);
	set_path(body, "workflow_id", json_string(workflow_id));
	free(exchange->workflow_id);
	exchange->workflow_id = portico_strdup(workflow_id);
}

/* An update without an id gets one, and without a wait policy waits for its outcome: a curl user
 * asking for an update wants its result, not a receipt. */
static void apply_update_defaults(json_t *body, const char *rpc)
{
	if (strcmp(rpc, "UpdateWorkflowExecution"))
		return;
	if (!json_is_string(get_path(body, "request.meta.update_id"))) {
		char update_id[PORTICO_UUID_LENGTH + 1];
		portico_uuid_v4(update_id);
		set_path(body, "request.meta.update_id", json_string(update_id));
	}
	if (!get_path(body, "wait_policy"))
		set_path(body, "wait_policy.lifecycle_stage",
		         json_string("UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED"));
}

/* Reads the body into a JSON object; answers 400 and returns NULL when it is not one. */
static json_t *read_body(gateway_exchange *exchange, const gateway_route *route)
{
	size_t length;
	const char *text = http_request_body(exchange->request, &length);
	if (!route->has_body || length == 0)
		return json_object();
	json_error_t error;
	json_t *body = json_loadb(text, length, 0, &error);
	if (!body) {
		gateway_fail(exchange, PORTICO_INVALID_ARGUMENT,
		             "request body is not valid JSON: %s at line %d, column %d (byte %d)", error.text,
		             error.line, error.column, error.position);
		return NULL;
	}
	return body;
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

static int is_long_poll(const char *rpc, const json_t *body)
{
	if (!strcmp(rpc, "UpdateWorkflowExecution") || !strcmp(rpc, "PollWorkflowExecutionUpdate"))
		return 1;
	json_t *wait = get_path((json_t *)body, "wait_new_event");
	return !strcmp(rpc, "GetWorkflowExecutionHistory") &&
	       (json_is_true(wait) || (json_is_string(wait) && !strcmp(json_string_value(wait), "true")));
}

typedef struct forwarded_headers {
	int authorization; /* Authorization goes on unless it carried Portico's own API key */
	portico_metadata items[MAX_FORWARDED_HEADERS];
	char *owned[MAX_FORWARDED_HEADERS];
	size_t count;
} forwarded_headers;

/* Authorization and Grpc-Metadata-* headers go on to Temporal, as with Temporal's HTTP API. */
static void collect_forwarded(void *arg, const char *name, const char *value)
{
	forwarded_headers *headers = arg;
	if (headers->count == MAX_FORWARDED_HEADERS)
		return;
	const char *key = NULL;
	if (!strcasecmp(name, "Authorization") && headers->authorization)
		key = "authorization";
	else if (!strncasecmp(name, GRPC_METADATA_PREFIX, strlen(GRPC_METADATA_PREFIX)))
		key = name + strlen(GRPC_METADATA_PREFIX);
	if (!key || !*key)
		return;
	char *lower = portico_strdup(key);
	for (char *c = lower; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	headers->owned[headers->count] = lower;
	headers->items[headers->count].key = lower;
	headers->items[headers->count++].value = value;
}

static void on_response(void *arg, ProtobufCMessage *response, portico_error *err)
{
	gateway_exchange *exchange = arg;
	if (err) {
		gateway_respond_error(exchange, err);
		return;
	}
	if (exchange->update_deadline_ms) {
		update_wait(exchange, exchange->namespace_name, (void *)response, exchange->update_deadline_ms);
		return;
	}
	json_t *body = gateway_message_json(exchange, response);
	protobuf_c_message_free_unpacked(response, NULL);
	if (exchange->wait_ms) {
		/* ?wait=: the start's answer, then the result, in one response. */
		json_t *run_id = json_object_get(body, "runId");
		result_wait(exchange, exchange->namespace_name, exchange->workflow_id, json_string_value(run_id),
		            exchange->wait_ms, body);
		json_decref(body);
		return;
	}
	gateway_respond_json(exchange, 200, body);
}

/* ?wait=<duration> on a start or signal-with-start; returns -1 (after answering 400) when bad. */
static int read_wait(gateway_exchange *exchange, const gateway_route *route)
{
	const char *wait = http_request_query(exchange->request, "wait");
	if (!wait)
		return 0;
	if (strcmp(route->rpc, "StartWorkflowExecution") && strcmp(route->rpc, "SignalWithStartWorkflowExecution")) {
		gateway_fail(exchange, PORTICO_INVALID_ARGUMENT, "wait: only a start or signal-with-start can wait");
		return -1;
	}
	exchange->wait_ms = result_parse_timeout(wait);
	if (exchange->wait_ms <= 0 || exchange->wait_ms > RESULT_MAX_TIMEOUT_MS) {
		gateway_fail(exchange, PORTICO_INVALID_ARGUMENT,
		             "wait: expected a duration up to 1 hour such as \"30s\" or \"30\", got \"%s\"", wait);
		return -1;
	}
	return 0;
}

static int waits_for_completion(const ProtobufCMessage *message)
{
	const Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionRequest *request = (const void *)message;
	return request->wait_policy &&
	       request->wait_policy->lifecycle_stage ==
	               TEMPORAL__API__ENUMS__V1__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE__UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED;
}

static void note_workflow_id(gateway_exchange *exchange, const route_params *params)
{
	static const char *const fields[] = {"workflow_id", "execution.workflow_id", "workflow_execution.workflow_id"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !exchange->workflow_id; i++)
		exchange->workflow_id = portico_strdup(route_param(params, fields[i]));
}

void proxy_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params)
{
	const ProtobufCMethodDescriptor *method =
	        protobuf_c_service_descriptor_get_method_by_name(&SERVICE, route->rpc);
	json_t *body = read_body(exchange, route);
	if (!body)
		return;
	if (!json_is_object(body)) {
		json_decref(body);
		gateway_fail(exchange, PORTICO_INVALID_ARGUMENT, "request body must be a JSON object");
		return;
	}
	if (read_wait(exchange, route)) {
		json_decref(body);
		return;
	}
	note_workflow_id(exchange, params);
	exchange->namespace_name = portico_strdup(route_param(params, "namespace"));
	apply_shorthand(body, route->rpc);
	for (size_t i = 0; i < params->count; i++)
		set_path(body, params->items[i].field, json_string(params->items[i].value));
	apply_start_defaults(exchange, body, route->rpc);
	if (!route->has_body)
		http_request_foreach_query(exchange->request, add_query, body);
	apply_idempotency_key(exchange, body, method);
	apply_trace_context(exchange, body, route->rpc);
	apply_update_defaults(body, route->rpc);

	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *request = portico_protojson_decode(method->input, body, &err);
	int has_request_id = json_is_string(get_path(body, "request_id"));
	int long_poll = is_long_poll(route->rpc, body);
	json_decref(body);
	if (!request) {
		gateway_respond_error(exchange, &err);
		portico_error_clear(&err);
		return;
	}
	if (gateway_encode_request(exchange, request)) {
		protobuf_c_message_free_unpacked(request, NULL);
		return;
	}

	forwarded_headers headers = {.authorization = auth_config_mode(exchange->gateway->auth) != AUTH_KEYS};
	http_request_foreach_header(exchange->request, collect_forwarded, &headers);
	int64_t timeout_ms = grpc_timeout_ms(http_request_header(exchange->request, "Grpc-Timeout"));
	if (!strcmp(route->rpc, "UpdateWorkflowExecution") && waits_for_completion(request)) {
		/* The whole wait is bounded by the request's timeout; each server long poll by its own. */
		int64_t total_ms = timeout_ms ? timeout_ms : UPDATE_DEFAULT_TIMEOUT_MS;
		exchange->update_deadline_ms = portico_monotonic_ms() + total_ms;
		timeout_ms = total_ms < LONG_POLL_TIMEOUT_MS ? total_ms : LONG_POLL_TIMEOUT_MS;
	}
	if (!timeout_ms)
		timeout_ms = long_poll ? LONG_POLL_TIMEOUT_MS : exchange->gateway->config.call_timeout_ms;
	portico_call_options options = {
	        .method = route->rpc,
	        .namespace_name = route_param(params, "namespace"),
	        .timeout_ms = timeout_ms,
	        /* Reads and calls with a request id are safe to repeat. */
	        .retry_transient = !route->has_body || has_request_id,
	        .metadata = headers.items,
	        .metadata_count = headers.count,
	};
	gateway_call(exchange, &options, request, on_response, exchange);
	protobuf_c_message_free_unpacked(request, NULL);
	for (size_t i = 0; i < headers.count; i++)
		free(headers.owned[i]);
}
