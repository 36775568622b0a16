/* A route of Temporal's HTTP API becomes its WorkflowService call: the body, the path variables
 * and (for GET) the query parameters make one JSON object, proto3 JSON turns it into the request
 * message, and the response or error comes back as JSON. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "clock.h"
#include "crypto.h"
#include "gateway.h"
#include "json_text.h"
#include "protojson.h"
#include "result.h"
#include "update.h"
#include "uuid.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"
#include "temporal/api/workflowservice/v1/service.pb-c.h"

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

typedef struct query_fields {
	json_t *object;
	char *bad_key; /* the first parameter that is not UTF-8 (owned), or NULL */
} query_fields;

static void add_query(void *arg, const char *key, const char *value)
{
	query_fields *fields = arg;
	for (const char *const *reserved = reserved_query; *reserved; reserved++)
		if (!strcmp(key, *reserved))
			return;
	json_t *text = json_string(value), *name = json_string(key);
	json_decref(name);
	if (!text || !name) {
		json_decref(text);
		if (!fields->bad_key)
			fields->bad_key = portico_strdup(name ? key : "(a name)");
		return;
	}
	json_t *existing = get_path(fields->object, key);
	if (json_is_string(existing)) {
		json_t *values = json_pack("[O,o]", existing, text);
		set_path(fields->object, key, values);
	} else if (json_is_array(existing)) {
		json_array_append_new(existing, text);
	} else {
		set_path(fields->object, key, text);
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

/* The first 16 bytes of text's SHA-256 in hex: 32 characters and a NUL. */
static void hash_hex(const char *text, size_t length, char hex[33])
{
	uint8_t digest[32];
	portico_sha256(text, length, digest);
	for (size_t i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/* The Idempotency-Key header makes a request safe to repeat. Its request id (or an update's id) is
 * the key's hash followed by the hash of the request as sent, so a retry is deduplicated by
 * Temporal while the same key with another request is not taken for a retry: a start answers 422
 * (on_response), and a start without a workflow id gets one made from the key, once (reuse policy
 * REJECT_DUPLICATE unless the caller chose one), so a retry never starts a second workflow.
 * Returns -1 after answering 400 when the key is not UTF-8. */
static int apply_idempotency_key(gateway_exchange *exchange, json_t *body, const ProtobufCMethodDescriptor *method)
{
	const char *key = http_request_header(exchange->request, "Idempotency-Key");
	if (!key || !*key)
		return 0;
	json_t *valid = json_string(key);
	json_decref(valid);
	if (!valid) {
		gateway_fail(exchange, PORTICO_INVALID_ARGUMENT, "Idempotency-Key: not valid UTF-8");
		return -1;
	}
	char request_hash[33], id[2 * 32 + 2];
	char *sent = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	hash_hex(sent, strlen(sent), request_hash);
	free(sent);
	hash_hex(key, strlen(key), exchange->idempotency_hash);
	snprintf(id, sizeof id, "%s-%s", exchange->idempotency_hash, request_hash);

	if (!strcmp(method->name, "StartWorkflowExecution") && !json_is_string(get_path(body, "workflow_id"))) {
		char workflow_id[64];
		snprintf(workflow_id, sizeof workflow_id, "idempotency-%s", exchange->idempotency_hash);
		set_path(body, "workflow_id", json_string(workflow_id));
		exchange->workflow_id_made = 1;
		if (!get_path(body, "workflow_id_reuse_policy"))
			set_path(body, "workflow_id_reuse_policy",
			         json_string("WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE"));
	}
	const char *path = NULL;
	if (protobuf_c_message_descriptor_get_field_by_name(method->input, "request_id"))
		path = "request_id";
	else if (!strcmp(method->name, "UpdateWorkflowExecution"))
		path = "request.meta.update_id";
	if (path && !json_is_string(get_path(body, path)))
		set_path(body, path, json_string(id));
	/* An update-with-start carries its ids in its operations. */
	size_t i;
	json_t *operation, *operations = get_path(body, "operations");
	json_array_foreach(operations, i, operation)
	{
		json_t *start = get_path(operation, "start_workflow"), *update = get_path(operation, "update_workflow");
		if (json_is_object(start) && !json_is_string(get_path(start, "request_id")))
			set_path(start, "request_id", json_string(id));
		if (json_is_object(update) && !json_is_string(get_path(update, "request.meta.update_id")))
			set_path(update, "request.meta.update_id", json_string(id));
	}
	return 0;
}

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
		json_t *state = tracestate && *tracestate ? json_string(tracestate) : NULL;
		if (state) /* W3C: a malformed tracestate is dropped, the traceparent still counts */
			json_object_set_new(carrier, "tracestate", state);
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
	exchange->workflow_id_made = 1;
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
	json_t *body = portico_json_parse(text, length, 0, &error);
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
	gateway_fail(exchange, PORTICO_INVALID_ARGUMENT,
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
		gateway_fail_status(exchange, 422, PORTICO_INVALID_ARGUMENT,
		                    "Idempotency-Key was used before with a different request; use a new key for a "
		                    "new request");
		return;
	}
	if (err) {
		gateway_respond_error(exchange, err);
		return;
	}
	if (exchange->effect == EFFECT_LIST_NAMESPACES)
		keep_allowed_namespaces(exchange, response);
	if (exchange->update_deadline_ms) {
		update_wait(exchange, exchange->namespace_name, (void *)response, exchange->update_deadline_ms);
		return;
	}
	json_t *body = gateway_message_json(exchange, response);
	if (exchange->workflow_id_made) /* the caller learns the id Portico gave the workflow */
		json_object_set_new(body, "workflowId", json_string(exchange->workflow_id));
	protobuf_c_message_free_unpacked(response, NULL);
	if (exchange->wait_ms) {
		/* ?wait=: the start's answer as Temporal gave it, and the wait's outcome (result.h). */
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
	return result_query_duration(exchange, "wait", 0, 1, &exchange->wait_ms);
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

/* Builds the request message from the body, the path variables and (for GET) the query; answers
 * 400 and returns NULL when they do not make one. The caller frees the message. */
static ProtobufCMessage *decode_request(gateway_exchange *exchange, const gateway_route *route,
                                        const ProtobufCMethodDescriptor *method, const route_params *params,
                                        int *has_request_id, int *long_poll)
{
	json_t *body = read_body(exchange, route);
	if (!body)
		return NULL;
	if (!json_is_object(body)) {
		json_decref(body);
		gateway_fail(exchange, PORTICO_INVALID_ARGUMENT, "request body must be a JSON object");
		return NULL;
	}
	apply_shorthand(body, route->rpc);
	for (size_t i = 0; i < params->count; i++)
		set_path(body, params->items[i].field, json_string(params->items[i].value));
	query_fields query = {body, NULL};
	if (!route->has_body)
		http_request_foreach_query(exchange->request, add_query, &query);
	if (query.bad_key) {
		gateway_fail(exchange, PORTICO_INVALID_ARGUMENT, "query parameter %s: not valid UTF-8", query.bad_key);
		free(query.bad_key);
		json_decref(body);
		return NULL;
	}
	if (apply_idempotency_key(exchange, body, method)) {
		json_decref(body);
		return NULL;
	}
	apply_start_defaults(exchange, body, route->rpc);
	apply_trace_context(exchange, body, route->rpc);
	apply_update_defaults(body, route->rpc);

	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *request = portico_protojson_decode(method->input, body, &err);
	*has_request_id = json_is_string(get_path(body, "request_id"));
	*long_poll = is_long_poll(route->rpc, body);
	json_decref(body);
	if (!request) {
		gateway_respond_error(exchange, &err);
		portico_error_clear(&err);
	}
	return request;
}

void proxy_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params)
{
	const ProtobufCMethodDescriptor *method =
	        protobuf_c_service_descriptor_get_method_by_name(route->service, route->rpc);
	const char *namespace_name = route_param(params, "namespace");
	forwarded_headers headers;
	if (read_wait(exchange, route) || forward_headers(exchange, &headers))
		return;
	note_workflow_id(exchange, params);
	exchange->namespace_name = portico_strdup(namespace_name);
	exchange->effect = route->effect;
	int has_request_id, long_poll;
	ProtobufCMessage *request = decode_request(exchange, route, method, params, &has_request_id, &long_poll);
	permission_need need = request ? permission_effects(route->effect, request) : (permission_need){0, {NULL}};
	if (exchange->wait_ms) /* it answers with the run's result, whichever run the start found */
		permission_need_add(&need, PERMISSION_READ, "?wait= reads the workflow's result");
	if (!request || gateway_authorize_effects(exchange, &need, namespace_name) ||
	    gateway_encode_request(exchange, request)) {
		if (request)
			protobuf_c_message_free_unpacked(request, NULL);
		forwarded_headers_free(&headers);
		return;
	}

	int64_t timeout_ms = grpc_timeout_ms(http_request_header(exchange->request, "Grpc-Timeout"));
	if (!strcmp(route->rpc, "UpdateWorkflowExecution") && waits_for_completion(request)) {
		/* The whole wait is bounded by the request's timeout; each server long poll by its own. */
		int64_t total_ms = timeout_ms ? timeout_ms : UPDATE_DEFAULT_TIMEOUT_MS;
		exchange->update_deadline_ms = portico_monotonic_ms() + total_ms;
		timeout_ms = total_ms < LONG_POLL_TIMEOUT_MS ? total_ms : LONG_POLL_TIMEOUT_MS;
	}
	if (!timeout_ms)
		timeout_ms = long_poll ? LONG_POLL_TIMEOUT_MS : exchange->gateway->config.call_timeout_ms;
	if (long_poll)
		gateway_watch_client(exchange); /* a long poll lasts only while its client is there */
	portico_call_options options = {
	        .method = route->rpc,
	        .service = route->service,
	        .namespace_name = namespace_name,
	        .timeout_ms = timeout_ms,
	        /* Reads and calls with a request id are safe to repeat. */
	        .retry_transient = !route->has_body || has_request_id,
	        .metadata = headers.items,
	        .metadata_count = headers.count,
	};
	gateway_call(exchange, &options, request, on_response, exchange);
	protobuf_c_message_free_unpacked(request, NULL);
	forwarded_headers_free(&headers);
}
