#include "rest_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "crypto.h"
#include "json_parse.h"
#include "json_text.h"
#include "protojson.h"
#include "uuid.h"

/* A route's shorthand keys whose payloads may be read without a tree (read_body): more than any
 * route has (two); past it the rest take the tree's way. */
#define PAYLOAD_KEYS 4

/* Query parameters that are Portico's own, not request fields. */
static const char *const reserved_query[] = {"noPayloadShorthand", NULL};

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
static void apply_shorthand(json_t *body, const rpc_traits *traits)
{
	static const char *const named[] = {"workflowType", "workflow_type", "taskQueue", "task_queue"};
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		json_t *value = json_object_get(body, named[i]);
		if (json_is_string(value))
			json_object_set_new(body, named[i], json_pack("{s:O}", "name", value));
	}
	for (size_t i = 0; i < traits->shorthand_count; i++) {
		const traits_shorthand *field = &traits->shorthand[i];
		json_t *value = json_object_get(body, field->key);
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
	uint8_t digest[PORTICO_SHA256_BYTES];
	portico_sha256(text, length, digest);
	portico_hex(digest, 16, hex);
}

/* The Idempotency-Key header makes a request safe to repeat. Its request id (or an update's id) is
 * the key's hash followed by the hash of the request as sent, so a retry is deduplicated by
 * Temporal while the same key with another request is not taken for a retry: a start answers 422
 * (proxy.c), and a start without a workflow id gets one made from the key, once (reuse policy
 * REJECT_DUPLICATE unless the caller chose one), so a retry never starts a second workflow.
 * Returns -1 with err when the key is not UTF-8. */
static int apply_idempotency_key(const rest_input *in, json_t *body, rest_request *out, portico_error *err)
{
	const rpc_traits *traits = in->traits;
	const char *key = in->idempotency_key;
	if (!key || !*key)
		return 0;
	json_t *valid = json_string(key);
	json_decref(valid);
	if (!valid)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "Idempotency-Key: not valid UTF-8");
	char request_hash[33], id[2 * 32 + 2];
	size_t sent_length;
	char *sent = portico_json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS, &sent_length);
	hash_hex(sent, sent_length, request_hash);
	free(sent);
	hash_hex(key, strlen(key), out->idempotency_hash);
	snprintf(id, sizeof id, "%s-%s", out->idempotency_hash, request_hash);

	if (traits->role == ROLE_START && !json_is_string(get_path(body, "workflow_id"))) {
		char workflow_id[64];
		snprintf(workflow_id, sizeof workflow_id, "idempotency-%s", out->idempotency_hash);
		set_path(body, "workflow_id", json_string(workflow_id));
		out->workflow_id_made = 1;
		if (!get_path(body, "workflow_id_reuse_policy"))
			set_path(body, "workflow_id_reuse_policy",
			         json_string("WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE"));
	}
	const char *path = traits->idempotency_field;
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
static void apply_trace_context(const rest_input *in, json_t *body)
{
	const rpc_traits *traits = in->traits;
	const char *traceparent = in->traceparent;
	if (!traits->trace_header || !valid_traceparent(traceparent))
		return;
	char path[64];
	snprintf(path, sizeof path, "%s.fields._tracer-data", traits->trace_header);
	if (get_path(body, path))
		return; /* the caller set it: theirs wins */
	json_t *carrier = json_pack("{s:s}", "traceparent", traceparent);
	const char *tracestate = in->tracestate;
	json_t *state = tracestate && *tracestate ? json_string(tracestate) : NULL;
	if (state) /* W3C: a malformed tracestate is dropped, the traceparent still counts */
		json_object_set_new(carrier, "tracestate", state);
	set_path(body, path, carrier);
}

/* A start posted to …/workflows without an id gets a fresh one; the id is noted for ?wait=. */
static void apply_start_defaults(const rpc_traits *traits, json_t *body, rest_request *out)
{
	if (traits->role != ROLE_START)
		return;
	json_t *given = get_path(body, "workflow_id");
	if (json_is_string(given)) {
		free(out->workflow_id);
		out->workflow_id = portico_strdup(json_string_value(given));
		return;
	}
	char workflow_id[PORTICO_UUID_LENGTH + 1];
	portico_uuid_v4(workflow_id);
	set_path(body, "workflow_id", json_string(workflow_id));
	free(out->workflow_id);
	out->workflow_id = portico_strdup(workflow_id);
	out->workflow_id_made = 1;
}

/* An update without an id gets one, and without a wait policy waits for its outcome: a curl user
 * asking for an update wants its result, not a receipt. */
static void apply_update_defaults(json_t *body, const rpc_traits *traits)
{
	if (traits->role != ROLE_UPDATE)
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

/* "completionWebhook" is Portico's, not a field of Temporal's request: a start sets it aside (after
 * the Idempotency-Key's hash, which it is part of). Temporal's signal-with-start has no completion
 * callbacks, so there it is refused rather than dropped. */
static int take_completion_webhook(const rpc_traits *traits, json_t *body, rest_request *out, portico_error *err)
{
	json_t *value = json_object_get(body, "completionWebhook");
	if (!value)
		return 0;
	if (traits->role != ROLE_START)
		return portico_error_set(
		        err, PORTICO_INVALID_ARGUMENT,
		        traits->wait ? "completionWebhook: Temporal's signal-with-start carries no completion "
		                       "callbacks; start the workflow with a completionWebhook (and "
		                       "workflowIdConflictPolicy USE_EXISTING), then signal it"
		                     : "completionWebhook: only a start can carry one");
	out->completion_webhook = json_incref(value);
	json_object_del(body, "completionWebhook");
	return 0;
}

/* The body as JSON ({} without one; a copy of the fields Portico made), or NULL with err. */
static json_t *read_body(const rest_input *in, portico_error *err)
{
	if (in->fields)
		return json_deep_copy(in->fields);
	if (!in->body || in->body_length == 0)
		return json_object();
	/* The shorthand keys' arrays are payloads (traits.tsv: each names a Payloads field), read by
	 * nothing but portico_payload_from_json: their objects and arrays may come as their data's text,
	 * without a tree. Not with an Idempotency-Key, whose hash is of the body's tree. */
	const char *payload_keys[PAYLOAD_KEYS + 1] = {NULL};
	const rpc_traits *traits = in->traits;
	int hashed = in->idempotency_key && *in->idempotency_key;
	for (size_t i = 0; !hashed && i < traits->shorthand_count && i < PAYLOAD_KEYS; i++)
		payload_keys[i] = traits->shorthand[i].key;
	json_error_t error;
	json_t *body = portico_json_parse_body(in->body, in->body_length, payload_keys, &error);
	if (!body)
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "request body is not valid JSON: %s at line %d, column %d (byte %d)", error.text,
		                  error.line, error.column, error.position);
	return body;
}

static int is_long_poll(const rpc_traits *traits, const json_t *body)
{
	if (traits->long_poll != LONG_POLL_WAIT_NEW_EVENT)
		return traits->long_poll == LONG_POLL_ALWAYS;
	json_t *wait = get_path((json_t *)body, "wait_new_event");
	return json_is_true(wait) || (json_is_string(wait) && !strcmp(json_string_value(wait), "true"));
}

/* The workflow a path names, for the access log and ?wait=. */
static void note_workflow_id(const route_params *params, rest_request *out)
{
	static const char *const fields[] = {"workflow_id", "execution.workflow_id", "workflow_execution.workflow_id"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !out->workflow_id; i++)
		out->workflow_id = portico_strdup(route_param(params, fields[i]));
}

int rest_request_build(const rest_input *in, rest_request *out, portico_error *err)
{
	*out = (rest_request){0};
	note_workflow_id(in->params, out);
	json_t *body = read_body(in, err);
	if (!body)
		return -1;
	if (!json_is_object(body)) {
		json_decref(body);
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "request body must be a JSON object");
	}
	const rpc_traits *traits = in->traits;
	apply_shorthand(body, traits);
	for (size_t i = 0; i < in->params->count; i++)
		set_path(body, in->params->items[i].field, json_string(in->params->items[i].value));
	query_fields query = {body, NULL};
	if (in->walk_query)
		in->walk_query(in->query_source, add_query, &query);
	if (query.bad_key) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "query parameter %s: not valid UTF-8", query.bad_key);
		free(query.bad_key);
		json_decref(body);
		return -1;
	}
	if (apply_idempotency_key(in, body, out, err) || take_completion_webhook(traits, body, out, err)) {
		json_decref(body);
		return -1;
	}
	apply_start_defaults(traits, body, out);
	apply_trace_context(in, body);
	apply_update_defaults(body, traits);

	out->message = portico_protojson_decode(traits_method(traits)->input, body, err);
	out->has_request_id = json_is_string(get_path(body, "request_id"));
	out->long_poll = is_long_poll(traits, body);
	json_decref(body);
	return out->message ? 0 : -1;
}

void rest_request_clear(rest_request *out)
{
	if (out->message)
		protobuf_c_message_free_unpacked(out->message, NULL);
	free(out->workflow_id);
	json_decref(out->completion_webhook);
	*out = (rest_request){0};
}
