/* Matches an HTTP method and path to a route. The table (build/gen/routes.c, scripts/gen_routes.py)
 * holds every binding of the google.api.http annotations of the pinned Temporal API, so the
 * gateway's paths are Temporal's own, each with its RPC's traits (traits.h), plus Portico's own
 * routes of gateway/traits.tsv; path variables name request fields ("{execution.workflow_id}"). */
#ifndef GATEWAY_ROUTER_H
#define GATEWAY_ROUTER_H

#include <stddef.h>

#include "traits.h"

struct gateway_exchange;
struct gateway_route;
struct route_params;

/* Serves a matched route (the dispatcher has authorized route->permissions). */
typedef void route_serve_fn(struct gateway_exchange *exchange, const struct gateway_route *route,
                            struct route_params *params);

typedef struct gateway_route {
	const char *method;       /* "GET", "POST", "DELETE" */
	const char *pattern;      /* "/namespaces/{namespace}/workflows/{workflow_id}" */
	int has_body;             /* the request body is the request message ("body: *") */
	unsigned permissions;     /* auth_permission bits the route needs, all of them */
	const rpc_traits *traits; /* the RPC it proxies or (a handler of Portico's own) makes, or NULL */
	route_serve_fn *serve;
	unsigned segments; /* the pattern's '/'s: the router tries only routes with the path's count */
} gateway_route;

extern const gateway_route gateway_routes[];
extern const size_t gateway_route_count;

#define ROUTER_MAX_PARAMS 8

/* The path variables of a match: the field path they name and their decoded value (owned). */
typedef struct route_params {
	size_t count;
	struct {
		char *field; /* "execution.workflow_id" */
		char *value;
	} items[ROUTER_MAX_PARAMS];
} route_params;

typedef enum route_result {
	ROUTE_FOUND,
	ROUTE_NOT_FOUND,
	ROUTE_METHOD_NOT_ALLOWED,
} route_result;

/* Finds the route for method and a raw (still percent-encoded) path. On ROUTE_FOUND, *route and
 * params (free with route_params_free) are set; on ROUTE_METHOD_NOT_ALLOWED, allow lists the
 * methods the path does take ("GET, POST"). The most literal pattern wins, so
 * ".../workflows/execute-multi-operation" is not taken as a workflow id. */
route_result router_match(const gateway_route *table, size_t count, const char *method, const char *path,
                          const gateway_route **route, route_params *params, char *allow, size_t allow_size);

void route_params_free(route_params *params);

/* The value of the parameter that fills field ("namespace"), or NULL. */
const char *route_param(const route_params *params, const char *field);

#endif
