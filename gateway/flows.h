/* Flows through the gateway (flow/README.md): GET …/flows lists the catalog loaded from
 * PORTICO_FLOWS_DIR, POST …/flows/{name} starts one of its flows with the body as its input, and
 * POST …/flows starts an inline definition ({"definition", "input"}). A flow is refused (400 with
 * the path, 404 naming what is loaded) before anything starts; a start goes on as every start does
 * (proxy_send: ?wait=, Idempotency-Key, the codec and the size guard). */
#ifndef GATEWAY_FLOWS_H
#define GATEWAY_FLOWS_H

#include "exchange.h"
#include "router.h"

/* GET …/flows: {"flows": flow_catalog_list(…)} (route_serve_fn). */
void flows_list_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params);

/* POST …/flows/{name}?version=&workflowId=&wait= (route_serve_fn). */
void flows_start_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params);

/* POST …/flows?workflowId=&wait=: needs admin besides start, since the definition runs what no
 * operator reviewed (route_serve_fn). */
void flows_inline_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params);

#endif
