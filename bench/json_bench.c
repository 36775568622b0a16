/* The gateway's cost per payload byte of JSON → protobuf (a request) and protobuf → JSON (a
 * response), on payloads of a given size, through the functions the gateway itself calls:
 *   request:  HTTP body bytes → rest_request_build (parse, proto3 JSON decode) → the codec pass
 *             and the size guard (portico_codec_encode_message, no codec keys) → packed bytes
 *             (a signal with one argument);
 *   response: packed bytes from Temporal → unpacked → exchange_message_text (codec decode, proto3
 *             JSON written straight from the message) → the body's text (a query's result
 *             holding one payload).
 * Each in three shapes: a JSON value in payload shorthand (a string of BYTES characters, or an
 * object of records of about BYTES), and the full form {"metadata", "data": base64} of BYTES binary
 * bytes. Prints one JSON object: for each
 * case the median, fastest and slowest µs per payload byte over ROUNDS rounds, and the body size.
 * CASE runs one case only (under callgrind, say: --toggle-collect=time_request).
 *
 * Usage: json_bench [BYTES] [ROUNDS] [CASE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "codec.h"
#include "exchange.h"
#include "json_text.h"
#include "rest_request.h"
#include "router.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

#define SIGNAL_PATH "/namespaces/default/workflows/bench/signal/go"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The case's figures: µs per payload byte of each round, sorted; nothing for a case not run. */
static void print_case(const char *name, double *us, size_t rounds, size_t payload_bytes, size_t body_bytes,
                       int *printed)
{
	if (!rounds)
		return;
	qsort(us, rounds, sizeof *us, compare_doubles);
	double per_byte = (double)payload_bytes;
	printf("%s  \"%s\": {\"payloadBytes\": %zu, \"bodyBytes\": %zu, \"microsPerByte\": {\"median\": %.6f, "
	       "\"min\": %.6f, \"max\": %.6f}}",
	       (*printed)++ ? ",\n" : "", name, payload_bytes, body_bytes, us[rounds / 2] / per_byte, us[0] / per_byte,
	       us[rounds - 1] / per_byte);
}

/* The payloads' shapes: a JSON string, a JSON object of records (many short keys, numbers and
 * strings), binary bytes (base64 in JSON). */
typedef enum shape { SHAPE_STRING, SHAPE_OBJECT, SHAPE_BINARY, SHAPES } shape;

/* The payload's data, about bytes long (*length exactly): a JSON string, JSON records or
 * letters (binary). The caller frees it. */
static char *payload_data(shape kind, size_t bytes, size_t *length)
{
	char *data = malloc(bytes + 256);
	size_t n = 0;
	if (kind == SHAPE_OBJECT) {
		n = (size_t)sprintf(data, "{\"items\":[");
		for (unsigned i = 0; n < bytes; i++)
			n += (size_t)sprintf(
			        data + n,
			        "%s{\"id\":%u,\"name\":\"item-%u\",\"price\":12.5,\"tags\":[\"red\",\"blue\"],"
			        "\"active\":true}",
			        i ? "," : "", i, i);
		n += (size_t)sprintf(data + n, "]}");
	} else {
		for (; n < bytes; n++)
			data[n] = (char)('a' + n % 26);
		if (kind == SHAPE_STRING)
			data[0] = data[n - 1] = '"';
	}
	data[n] = '\0';
	*length = n;
	return data;
}

/* A signal's HTTP body with one argument of that shape: a JSON value in shorthand, binary in the
 * full form. The caller frees it. */
static char *request_body(shape kind, const char *data, size_t bytes, size_t *length)
{
	char *value = kind == SHAPE_BINARY ? portico_base64_encode((const uint8_t *)data, bytes) : NULL;
	const char *format = value ? "{\"input\":{\"payloads\":[{\"metadata\":{\"encoding\":\"YmluYXJ5L3BsYWlu\"},"
	                             "\"data\":\"%s\"}]},\"identity\":\"bench\"}"
	                           : "{\"args\":[%s],\"identity\":\"bench\"}";
	size_t size = strlen(format) + (value ? strlen(value) : bytes) + 1;
	char *body = malloc(size);
	*length = (size_t)snprintf(body, size, format, value ? value : data);
	free(value);
	return body;
}

/* One request as the proxy makes it, timed: body → message → codec pass → packed bytes. */
static double time_request(const gateway_route *route, const route_params *params, const char *body, size_t length)
{
	double started = now_us();
	const rest_input in = {.traits = route->traits, .params = params, .body = body, .body_length = length};
	rest_request built;
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload_size largest;
	if (rest_request_build(&in, &built, &err) ||
	    portico_codec_encode_message(NULL, built.message, PORTICO_DEFAULT_MAX_PAYLOAD_BYTES, &largest, &err)) {
		fprintf(stderr, "json_bench: %s\n", err.message);
		exit(1);
	}
	size_t size = protobuf_c_message_get_packed_size(built.message);
	uint8_t *packed = malloc(size);
	protobuf_c_message_pack(built.message, packed);
	rest_request_clear(&built);
	free(packed);
	return now_us() - started;
}

/* A query's packed answer holding one payload: json/plain (a JSON value) or binary/plain. */
static uint8_t *response_bytes(shape kind, const char *data, size_t bytes, size_t *length)
{
	portico_payload *payload =
	        portico_payload_new(kind == SHAPE_BINARY ? "binary/plain" : "json/plain", (const uint8_t *)data, bytes);
	Temporal__Api__Common__V1__Payloads result = TEMPORAL__API__COMMON__V1__PAYLOADS__INIT;
	result.n_payloads = 1;
	result.payloads = &payload;
	Temporal__Api__Workflowservice__V1__QueryWorkflowResponse response =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__QUERY_WORKFLOW_RESPONSE__INIT;
	response.query_result = &result;
	*length = protobuf_c_message_get_packed_size(&response.base);
	uint8_t *packed = malloc(*length);
	protobuf_c_message_pack(&response.base, packed);
	portico_payload_free(payload);
	return packed;
}

/* One response as the proxy answers it, timed: packed bytes → message → JSON text. */
static double time_response(gateway_exchange *exchange, const uint8_t *packed, size_t length, size_t *text_length)
{
	double started = now_us();
	ProtobufCMessage *response = protobuf_c_message_unpack(
	        &temporal__api__workflowservice__v1__query_workflow_response__descriptor, NULL, length, packed);
	char *text = exchange_message_text(exchange, response, text_length);
	protobuf_c_message_free_unpacked(response, NULL);
	free(text);
	return now_us() - started;
}

int main(int argc, char **argv)
{
	size_t bytes = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024 * 1024;
	size_t rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 15;
	const char *only = argc > 3 ? argv[3] : NULL;
	static const char *const names[2][SHAPES] = {{"requestShorthand", "requestObject", "requestBase64"},
	                                             {"responseShorthand", "responseObject", "responseBase64"}};
	const gateway_route *route;
	route_params params;
	char allow[64];
	if (bytes == 0 || rounds == 0 ||
	    router_match(gateway_routes, gateway_route_count, "POST", SIGNAL_PATH, &route, &params, allow,
	                 sizeof allow) != ROUTE_FOUND) {
		fprintf(stderr, "usage: json_bench [BYTES] [ROUNDS] [CASE]\n");
		return 1;
	}
	double *us = malloc(rounds * sizeof *us);
	int printed = 0;
	printf("{\n");
	gateway gw = {.config.max_payload_bytes = PORTICO_DEFAULT_MAX_PAYLOAD_BYTES};
	for (shape kind = 0; kind < SHAPES; kind++) {
		size_t data_length, length;
		char *data = payload_data(kind, bytes, &data_length);
		size_t n = only && strcmp(only, names[0][kind]) ? 0 : rounds;
		char *body = request_body(kind, data, data_length, &length);
		if (n)
			time_request(route, &params, body, length); /* warm: the allocator's arenas */
		for (size_t i = 0; i < n; i++)
			us[i] = time_request(route, &params, body, length);
		print_case(names[0][kind], us, n, data_length, length, &printed);
		free(body);

		gateway_exchange exchange = {.gateway = &gw, .payload_shorthand = 1};
		size_t text_length = 0;
		n = only && strcmp(only, names[1][kind]) ? 0 : rounds;
		uint8_t *packed = response_bytes(kind, data, data_length, &length);
		if (n)
			time_response(&exchange, packed, length, &text_length);
		for (size_t i = 0; i < n; i++)
			us[i] = time_response(&exchange, packed, length, &text_length);
		print_case(names[1][kind], us, n, data_length, text_length, &printed);
		free(packed);
		free(data);
	}
	printf("\n}\n");
	free(us);
	route_params_free(&params);
	return 0;
}
