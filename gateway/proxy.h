/* The routes of Temporal's HTTP API: the body, the path variables and (for GET) the query make one
 * JSON object, completed as the route's traits say (shorthand fields, ids, trace context, the
 * Idempotency-Key), proto3 JSON turns it into the request message, and the answer or error comes
 * back as JSON. Update waits go on in update.h and ?wait= in result.h. */
#ifndef GATEWAY_PROXY_H
#define GATEWAY_PROXY_H

#include "exchange.h"
#include "router.h"

/* Serves a route with traits (route_serve_fn). */
void proxy_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params);

/* Serves a request of route->traits' RPC whose JSON a handler of Portico's own made (fields,
 * borrowed) instead of the HTTP body and query: a flow's start (flows.h). Everything else is as
 * for proxy_serve: ?wait=, Idempotency-Key, trace context, forwarded headers, the permissions its
 * fields add, the codec and the size guard, the answer. params are the path variables that name
 * request fields. */
void proxy_send(gateway_exchange *exchange, const gateway_route *route, const route_params *params,
                const json_t *fields);

#endif
