/* A REST request on its way to Temporal: "<METHOD> <path>[?query]\n[headers\n]<body>" is routed
 * with the gateway's route table and built into the matched method's request message as the proxy
 * builds it (rest_request.h: body, path variables, query, shorthand, ids, trace context,
 * Idempotency-Key), checked for what it can do (permission.c) and measured by the size guard; the
 * message then goes back to proto3 JSON and must decode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "completion_webhook.h"
#include "fuzz.h"
#include "permission.h"
#include "protojson.h"
#include "rest_request.h"
#include "router.h"

/* Decodes json as type and compares its packed bytes with message's. */
static void check_round_trip(const ProtobufCMessage *message, const json_t *json)
{
	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *again = portico_protojson_decode(message->descriptor, json, &err);
	if (!again)
		fuzz_fail("proto3 JSON written by protojson_encode does not decode", err.message);
	size_t size = protobuf_c_message_get_packed_size(message);
	uint8_t *first = malloc(size + 1), *second = malloc(size + 1);
	if (protobuf_c_message_get_packed_size(again) != size || protobuf_c_message_pack(message, first) != size ||
	    protobuf_c_message_pack(again, second) != size || memcmp(first, second, size))
		fuzz_fail("protojson round trip changed the message", message->descriptor->name);
	free(first);
	free(second);
	protobuf_c_message_free_unpacked(again, NULL);
}

/* Header lines the builder reads, between the request line and the body. */
typedef struct headers {
	const char *idempotency_key, *traceparent, *tracestate;
} headers;

/* Takes "Name: value" lines of the headers the builder reads off the front of *text. */
static void take_headers(char **text, headers *found)
{
	static const char *const names[] = {"Idempotency-Key: ", "traceparent: ", "tracestate: "};
	for (;;) {
		size_t which = 0;
		while (which < 3 && strncmp(*text, names[which], strlen(names[which])))
			which++;
		char *newline = strchr(*text, '\n');
		if (which == 3 || !newline)
			return;
		*newline = '\0';
		const char *value = *text + strlen(names[which]);
		if (which == 0)
			found->idempotency_key = value;
		else if (which == 1)
			found->traceparent = value;
		else
			found->tracestate = value;
		*text = newline + 1;
	}
}

/* "k=v&k2=v2" (no unescaping: the router's and the HTTP server's job) as the query's fields. */
static void walk_query(const void *source, void (*add)(void *add_arg, const char *key, const char *value),
                       void *add_arg)
{
	char *query = strdup(source);
	for (char *pair = strtok(query, "&"); pair; pair = strtok(NULL, "&")) {
		char *equals = strchr(pair, '=');
		if (equals)
			*equals = '\0';
		add(add_arg, pair, equals ? equals + 1 : "");
	}
	free(query);
}

/* A start's completionWebhook, under a fixed configuration: a target that parses is attached, and
 * the request must still encode and round-trip below. */
static void attach_completion_webhook(rest_request *built)
{
	static completion_config *config;
	if (!built->completion_webhook)
		return;
	portico_error err = PORTICO_ERROR_INIT;
	if (!config && completion_config_load("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "http://127.0.0.1:8080",
	                                      "http://127.0.0.1:9000/", &config, &err))
		fuzz_fail("the fuzzer's completion configuration loads", err.message);
	completion_target target;
	if (completion_target_parse(config, built->completion_webhook, &target, &err) == 0)
		completion_webhook_attach(config, "default", &target, (void *)built->message, &err);
	if (err.code && (err.code != PORTICO_INVALID_ARGUMENT || !err.message))
		fuzz_fail("a refused completionWebhook is the caller's 400, with a message", "completionWebhook");
	completion_target_clear(&target);
	portico_error_clear(&err);
}

static void serve(const gateway_route *route, const route_params *params, const char *query, const headers *given,
                  const char *body, size_t length)
{
	if (!route->traits)
		return; /* Portico's own handlers (result waits) build no request message */
	const rest_input in = {
	        .traits = route->traits,
	        .params = params,
	        .body = route->has_body ? body : NULL,
	        .body_length = length,
	        .walk_query = route->has_body || !query ? NULL : walk_query,
	        .query_source = query,
	        .idempotency_key = given->idempotency_key,
	        .traceparent = given->traceparent,
	        .tracestate = given->tracestate,
	};
	rest_request built;
	portico_error err = PORTICO_ERROR_INIT;
	int failed = rest_request_build(&in, &built, &err) != 0;
	if (failed != (built.message == NULL) || failed != (err.code != PORTICO_OK))
		fuzz_fail("a build that fails says why, and one that succeeds has a message", route->traits->rpc);
	portico_error_clear(&err);
	ProtobufCMessage *request = built.message;
	if (!request) {
		rest_request_clear(&built);
		return;
	}
	if (request->descriptor != traits_method(route->traits)->input)
		fuzz_fail("the request message is not of the route's method", route->traits->rpc);
	attach_completion_webhook(&built);
	permission_need need = permission_effects(route->traits->effect, request, NULL);
	for (unsigned bit = 0; bit < AUTH_PERMISSION_BITS; bit++)
		if ((need.permissions & (1u << bit)) && !need.reasons[bit])
			fuzz_fail("a permission is needed without a reason", route->traits->rpc);
	portico_payload_size largest;
	if (portico_codec_encode_message(NULL, request, PORTICO_DEFAULT_MAX_PAYLOAD_BYTES, &largest, &err) == 0) {
		const portico_protojson_options options = {.payload_shorthand = 1};
		json_t *out = portico_protojson_encode(request, &options);
		check_round_trip(request, out);
		json_decref(out);
	}
	portico_error_clear(&err);
	rest_request_clear(&built);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	char *newline = strchr(text, '\n');
	char *rest = newline ? newline + 1 : text + strlen(text);
	if (newline)
		*newline = '\0';
	headers given = {0};
	take_headers(&rest, &given);
	char *space = strchr(text, ' ');
	if (space) {
		*space = '\0';
		char *query = strchr(space + 1, '?');
		if (query)
			*query++ = '\0';
		const gateway_route *route;
		route_params params;
		char allow[128];
		if (router_match(gateway_routes, gateway_route_count, text, space + 1, &route, &params, allow,
		                 sizeof allow) == ROUTE_FOUND) {
			for (size_t i = 0; i < params.count; i++)
				if (!params.items[i].field || !params.items[i].value)
					fuzz_fail("a route parameter without a field or value", route->pattern);
			serve(route, &params, query, &given, rest, size - (size_t)(rest - text));
			route_params_free(&params);
		}
	}
	free(text);
	return 0;
}
