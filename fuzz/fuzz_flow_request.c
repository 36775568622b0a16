/* The flow routes' bodies as the gateway reads them (flow_request.h); the input's first byte
 * picks the route. 'i': POST …/flows's body, an inline definition (an object, or YAML or JSON
 * text) with its input, validated; otherwise POST …/flows/{name}'s body, the input of a fixed
 * flow. What is accepted is made into the start request and built as the proxy builds it
 * (rest_request.h, with an Idempotency-Key), which must decode. Refusals must carry a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow_request.h"
#include "fuzz.h"
#include "rest_request.h"
#include "router.h"

#define GREET                                                                                                          \
	"{\"document\": {\"dsl\": \"1.0.0\", \"namespace\": \"fuzz\", \"name\": \"greet\", \"version\": \"1.0.0\"}, "  \
	"\"do\": [{\"hello\": {\"set\": {\"greeting\": \"hi\"}}}]}"

/* Builds the start of document with input as POST …/flows/greet does; it must decode. */
static void build_start(const json_t *document, const json_t *input)
{
	static const gateway_route *route;
	if (!route) {
		route_params params;
		char allow[64];
		if (router_match(gateway_routes, gateway_route_count, "POST", "/namespaces/default/flows/greet", &route,
		                 &params, allow, sizeof allow) != ROUTE_FOUND)
			fuzz_fail("no flow route", NULL);
		route_params_free(&params);
	}
	portico_error err = PORTICO_ERROR_INIT;
	json_t *fields = flow_request_start(document, input, FLOW_REQUEST_TASK_QUEUE, NULL, &err);
	if (!fields) {
		if (!err.message)
			fuzz_fail("a start refused without a message", NULL);
		portico_error_clear(&err);
		return;
	}
	const route_params params = {1, {{(char *)"namespace", (char *)"default"}}};
	const rest_input in = {.traits = route->traits, .params = &params, .fields = fields, .idempotency_key = "k"};
	rest_request built;
	if (rest_request_build(&in, &built, &err))
		fuzz_fail("a flow's start does not decode", err.message);
	rest_request_clear(&built);
	json_decref(fields);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *greet;
	if (!greet)
		greet = json_loads(GREET, 0, NULL);
	if (!size)
		return 0;
	const char *body = (const char *)data + 1;
	portico_error err = PORTICO_ERROR_INIT;
	json_t *definition = NULL, *input = NULL;
	int refused = data[0] == 'i' ? flow_request_inline(body, size - 1, NULL, &definition, &input, &err)
	                             : !(input = flow_request_input(body, size - 1, &err));
	if (refused) {
		if (!err.message)
			fuzz_fail("a flow's body refused without a message", NULL);
		portico_error_clear(&err);
		return 0;
	}
	build_start(definition ? definition : greet, input);
	json_decref(definition);
	json_decref(input);
	return 0;
}
