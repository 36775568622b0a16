#include "flows.h"

#include <stdlib.h>

#include "flow_request.h"
#include "proxy.h"

/* An inline definition's permission, beyond start's. */
#define INLINE_REASON                                                                                                  \
	"an inline definition runs what no operator reviewed (HTTP calls from the worker's network, any activity on "  \
	"any task queue); start a flow of PORTICO_FLOWS_DIR by name with start alone"

void flows_list_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params)
{
	(void)route;
	(void)params;
	exchange_respond_json(exchange, 200, json_pack("{s:o}", "flows", flow_catalog_list(exchange->gateway->flows)));
}

/* Answers err (a 4xx the flow's request caused) and clears it. */
static void refuse(gateway_exchange *exchange, portico_error *err)
{
	exchange_respond_error(exchange, err);
	portico_error_clear(err);
}

/* Starts document with input (checked against its schema first) as the start route does; the
 * workflow id is ?workflowId=, or made from the flow's name, or (with an Idempotency-Key and no
 * id) made from the key, so that a retry finds the first start. */
static void start(gateway_exchange *exchange, const gateway_route *route, const route_params *params,
                  const json_t *document, const json_t *input)
{
	portico_error err = PORTICO_ERROR_INIT;
	if (flow_request_check_input(document, input, &err)) {
		refuse(exchange, &err);
		return;
	}
	const char *given = http_request_query(exchange->request, "workflowId");
	const char *key = http_request_header(exchange->request, "Idempotency-Key");
	const char *name = json_string_value(json_object_get(json_object_get(document, "document"), "name"));
	char *made = !given && !(key && *key) && name ? flow_request_workflow_id(name) : NULL;
	json_t *fields = flow_request_start(document, input, exchange->gateway->config.flows_task_queue,
	                                    given ? given : made, &err);
	free(made);
	if (!fields) {
		refuse(exchange, &err);
		return;
	}
	/* The flow's name is no field of the request: only the namespace goes on. */
	const route_params namespace_only = {1, {{(char *)"namespace", (char *)route_param(params, "namespace")}}};
	proxy_send(exchange, route, &namespace_only, fields);
	json_decref(fields);
}

void flows_start_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params)
{
	const flow_catalog *catalog = exchange->gateway->flows;
	const char *name = route_param(params, "name");
	const char *version = http_request_query(exchange->request, "version");
	const json_t *document = flow_catalog_find(catalog, NULL, name, version);
	if (!document) {
		char *message = flow_request_not_found(catalog, name, version);
		exchange_fail(exchange, PORTICO_NOT_FOUND, "%s", message);
		free(message);
		return;
	}
	size_t length;
	const char *body = http_request_body(exchange->request, &length);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *input = flow_request_input(body, length, &err);
	if (!input) {
		refuse(exchange, &err);
		return;
	}
	start(exchange, route, params, document, input);
	json_decref(input);
}

void flows_inline_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params)
{
	permission_need need = {0, {NULL}};
	permission_need_add(&need, PERMISSION_ADMIN, INLINE_REASON);
	if (exchange_authorize_effects(exchange, &need, route_param(params, "namespace")))
		return;
	size_t length;
	const char *body = http_request_body(exchange->request, &length);
	json_t *definition, *input;
	portico_error err = PORTICO_ERROR_INIT;
	if (flow_request_inline(body, length, exchange->gateway->flows, &definition, &input, &err)) {
		refuse(exchange, &err);
		return;
	}
	start(exchange, route, params, definition, input);
	json_decref(definition);
	json_decref(input);
}
