/* A REST request on its way to Temporal: "<METHOD> <path>\n<body>" is routed with the gateway's
 * route table, the body parsed as the gateway parses it, decoded into the matched method's request
 * message, checked for what it can do (permission.c) and measured by the size guard; the message
 * then goes back to proto3 JSON and must decode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fuzz.h"
#include "json_text.h"
#include "permission.h"
#include "protojson.h"
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

static void serve(const gateway_route *route, const char *body, size_t length)
{
	if (!route->traits)
		return; /* Portico's own handlers (result waits) have no request message */
	const ProtobufCMethodDescriptor *method = traits_method(route->traits);
	json_t *json = length ? portico_json_parse(body, length, 0, NULL) : json_object();
	if (!json)
		return;
	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *request = portico_protojson_decode(method->input, json, &err);
	json_decref(json);
	portico_error_clear(&err);
	if (!request)
		return;
	permission_need need = permission_effects(route->traits->effect, request);
	for (unsigned bit = 0; bit < AUTH_PERMISSION_BITS; bit++)
		if ((need.permissions & (1u << bit)) && !need.reasons[bit])
			fuzz_fail("a permission is needed without a reason", method->name);
	portico_payload_size largest;
	if (portico_codec_encode_message(NULL, request, PORTICO_DEFAULT_MAX_PAYLOAD_BYTES, &largest, &err) == 0) {
		const portico_protojson_options options = {.payload_shorthand = 1};
		json_t *out = portico_protojson_encode(request, &options);
		check_round_trip(request, out);
		json_decref(out);
	}
	portico_error_clear(&err);
	protobuf_c_message_free_unpacked(request, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	char *newline = strchr(text, '\n');
	const char *body = newline ? newline + 1 : "";
	if (newline)
		*newline = '\0';
	char *space = strchr(text, ' ');
	if (space) {
		*space = '\0';
		const gateway_route *route;
		route_params params;
		char allow[128];
		if (router_match(gateway_routes, gateway_route_count, text, space + 1, &route, &params, allow,
		                 sizeof allow) == ROUTE_FOUND) {
			for (size_t i = 0; i < params.count; i++)
				if (!params.items[i].field || !params.items[i].value)
					fuzz_fail("a route parameter without a field or value", route->pattern);
			serve(route, body, size - (size_t)(body - text));
			route_params_free(&params);
		}
	}
	free(text);
	return 0;
}
