/* Which route a method and path reach: against a small table made here, where each rule shows
 * alone, and against the generated table of the pinned Temporal API, as the gateway serves it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

static const gateway_route table[] = {
        {"POST", "/ns/{namespace}/workflows/{workflow_id}", 1, PERMISSION_START,
         &(const rpc_traits){.rpc = "Start", .effect = EFFECT_START}, NULL},
        {"GET", "/ns/{namespace}/workflows/{execution.workflow_id}", 0, PERMISSION_READ,
         &(const rpc_traits){.rpc = "Describe", .effect = EFFECT_NONE}, NULL},
        {"DELETE", "/ns/{namespace}/workflows/{execution.workflow_id}", 0, PERMISSION_ADMIN,
         &(const rpc_traits){.rpc = "Delete", .effect = EFFECT_NONE}, NULL},
        {"POST", "/ns/{namespace}/workflows/execute-multi-operation", 1, PERMISSION_START,
         &(const rpc_traits){.rpc = "Multi", .effect = EFFECT_MULTI_OPERATION}, NULL},
        {"POST", "/ns/{namespace}/workflows/{workflow_id}/signal/{signal_name}", 1, PERMISSION_SIGNAL,
         &(const rpc_traits){.rpc = "Signal", .effect = EFFECT_NONE}, NULL},
};
#define TABLE_COUNT (sizeof table / sizeof table[0])

/* Matches in routes; the route's rpc goes to *rpc (NULL when none), the Allow list to allow. */
static route_result match_in(const gateway_route *routes, size_t count, const char *method, const char *path,
                             const char **rpc, route_params *params, char *allow, size_t allow_size)
{
	const gateway_route *route;
	route_result result = router_match(routes, count, method, path, &route, params, allow, allow_size);
	assert_true(result == ROUTE_FOUND ? route != NULL : route == NULL);
	*rpc = route ? route->traits->rpc : NULL;
	return result;
}

/* The rpc method and path reach in the hand-made table, or NULL; params are freed. */
static const char *rpc_of(const char *method, const char *path)
{
	const char *rpc;
	route_params params;
	char allow[64];
	match_in(table, TABLE_COUNT, method, path, &rpc, &params, allow, sizeof allow);
	route_params_free(&params);
	return rpc;
}

static void test_literal_segment_beats_a_variable_whatever_the_order(void **state)
{
	(void)state;
	assert_string_equal(rpc_of("POST", "/ns/default/workflows/execute-multi-operation"), "Multi");
	assert_string_equal(rpc_of("POST", "/ns/default/workflows/order-7"), "Start");

	gateway_route reversed[TABLE_COUNT];
	for (size_t i = 0; i < TABLE_COUNT; i++)
		reversed[i] = table[TABLE_COUNT - 1 - i];
	const char *rpc;
	route_params params;
	char allow[64];
	assert_int_equal(match_in(reversed, TABLE_COUNT, "POST", "/ns/default/workflows/execute-multi-operation", &rpc,
	                          &params, allow, sizeof allow),
	                 ROUTE_FOUND);
	assert_string_equal(rpc, "Multi");
	assert_int_equal(params.count, 1);
	route_params_free(&params);
}

static void test_path_variables_are_percent_decoded(void **state)
{
	(void)state;
	const char *rpc;
	route_params params;
	char allow[64];
	assert_int_equal(match_in(table, TABLE_COUNT, "POST", "/ns/my%20ns/workflows/order%2F42+x/signal/paid%21", &rpc,
	                          &params, allow, sizeof allow),
	                 ROUTE_FOUND);
	assert_string_equal(rpc, "Signal");
	assert_int_equal(params.count, 3);
	assert_string_equal(route_param(&params, "namespace"), "my ns");
	assert_string_equal(route_param(&params, "workflow_id"), "order/42+x"); /* '+' is a plus in a path */
	assert_string_equal(route_param(&params, "signal_name"), "paid!");
	assert_null(route_param(&params, "run_id"));
	route_params_free(&params);
	assert_int_equal(params.count, 0);
}

/* A variable never takes a malformed escape, an encoded NUL or nothing at all. */
static void test_unusable_path_variables_match_nothing(void **state)
{
	(void)state;
	static const char *const paths[] = {"/ns/default/workflows/bad%zz", "/ns/default/workflows/bad%4",
	                                    "/ns/default/workflows/nul%00here", "/ns//workflows/w1",
	                                    "/ns/default/workflows/"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		const char *rpc;
		route_params params;
		char allow[64];
		if (match_in(table, TABLE_COUNT, "POST", paths[i], &rpc, &params, allow, sizeof allow) == ROUTE_FOUND)
			fail_msg("%s reached %s", paths[i], rpc);
		assert_int_equal(params.count, 0);
	}
}

static void test_one_trailing_slash_is_the_same_path(void **state)
{
	(void)state;
	assert_string_equal(rpc_of("GET", "/ns/default/workflows/w1/"), "Describe");
	assert_null(rpc_of("GET", "/ns/default/workflows/w1//"));
	assert_null(rpc_of("GET", "/ns/default/workflows/w1/extra"));
	assert_null(rpc_of("GET", "ns/default/workflows/w1"));
}

static void test_known_path_with_another_method_is_405_with_the_allowed_methods(void **state)
{
	(void)state;
	const char *rpc;
	route_params params;
	char allow[64];
	/* Two POST routes match the path; POST is listed once. */
	assert_int_equal(match_in(table, TABLE_COUNT, "PUT", "/ns/default/workflows/execute-multi-operation", &rpc,
	                          &params, allow, sizeof allow),
	                 ROUTE_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "POST, GET, DELETE");
	assert_int_equal(params.count, 0);

	assert_int_equal(match_in(table, TABLE_COUNT, "GET", "/ns/default/workflows/w1/signal/go", &rpc, &params, allow,
	                          sizeof allow),
	                 ROUTE_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "POST");
}

static void test_unknown_path_is_404(void **state)
{
	(void)state;
	const char *rpc;
	route_params params;
	char allow[64];
	assert_int_equal(
	        match_in(table, TABLE_COUNT, "GET", "/ns/default/queues/q", &rpc, &params, allow, sizeof allow),
	        ROUTE_NOT_FOUND);
	assert_string_equal(allow, "");
	assert_int_equal(match_in(table, TABLE_COUNT, "GET", "/", &rpc, &params, allow, sizeof allow), ROUTE_NOT_FOUND);
}

/* ---- The generated table ------------------------------------------------------------------------ */

/* Matches in gateway_routes; returns the route (NULL when none) with params filled. */
static const gateway_route *temporal_route(const char *method, const char *path, route_params *params)
{
	const gateway_route *route;
	char allow[128];
	router_match(gateway_routes, gateway_route_count, method, path, &route, params, allow, sizeof allow);
	return route;
}

static void test_temporal_paths_reach_their_methods_with_dotted_fields(void **state)
{
	(void)state;
	route_params params;
	const gateway_route *route =
	        temporal_route("POST", "/namespaces/default/workflows/order%2042/update/approve", &params);
	assert_non_null(route);
	assert_string_equal(route->traits->rpc, "UpdateWorkflowExecution");
	assert_string_equal(route_param(&params, "namespace"), "default");
	assert_string_equal(route_param(&params, "workflow_execution.workflow_id"), "order 42");
	assert_string_equal(route_param(&params, "request.input.name"), "approve");
	route_params_free(&params);

	route = temporal_route("GET", "/namespaces/default/workflows/order-1/history", &params);
	assert_string_equal(route->traits->rpc, "GetWorkflowExecutionHistory");
	assert_string_equal(route_param(&params, "execution.workflow_id"), "order-1");
	route_params_free(&params);

	route = temporal_route("POST", "/namespaces/default/workflows/execute-multi-operation", &params);
	assert_string_equal(route->traits->rpc, "ExecuteMultiOperation");
	assert_int_equal(params.count, 1);
	route_params_free(&params);

	route = temporal_route("DELETE", "/namespaces/default/schedules/nightly", &params);
	assert_string_equal(route->traits->rpc, "DeleteSchedule");
	assert_string_equal(route_param(&params, "schedule_id"), "nightly");
	route_params_free(&params);
}

/* Every method the API serves under its own path is served under /api/v1 too, the same. */
static void test_every_temporal_method_is_also_under_api_v1(void **state)
{
	(void)state;
	size_t plain = 0;
	for (size_t i = 0; i < gateway_route_count; i++) {
		if (!strncmp(gateway_routes[i].pattern, "/api/v1/", 8))
			continue;
		plain++;
		size_t twin = 0;
		while (twin < gateway_route_count && (strncmp(gateway_routes[twin].pattern, "/api/v1/", 8) ||
		                                      strcmp(gateway_routes[twin].method, gateway_routes[i].method) ||
		                                      gateway_routes[twin].traits != gateway_routes[i].traits ||
		                                      gateway_routes[twin].serve != gateway_routes[i].serve))
			twin++;
		if (twin == gateway_route_count)
			fail_msg("%s %s has no /api/v1 route", gateway_routes[i].method, gateway_routes[i].pattern);
	}
	assert_true(plain > 50); /* the whole API, not a stub */

	route_params params;
	const gateway_route *route = temporal_route("POST", "/api/v1/namespaces/default/workflows/w%2F1", &params);
	assert_string_equal(route->traits->rpc, "StartWorkflowExecution");
	assert_string_equal(route_param(&params, "workflow_id"), "w/1");
	route_params_free(&params);
	route = temporal_route("GET", "/api/v1/namespaces", &params);
	assert_string_equal(route->traits->rpc, "ListNamespaces");
	route_params_free(&params);
	route = temporal_route("GET", "/cluster/namespaces", &params);
	assert_string_equal(route->traits->rpc, "ListNamespaces");
	route_params_free(&params);
	assert_null(temporal_route("GET", "/api/v2/namespaces", &params));
}

static void test_temporal_404_and_405(void **state)
{
	(void)state;
	const gateway_route *route;
	route_params params;
	char allow[128];
	assert_int_equal(router_match(gateway_routes, gateway_route_count, "PUT", "/namespaces/default/workflows/w1",
	                              &route, &params, allow, sizeof allow),
	                 ROUTE_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "POST, GET");
	assert_int_equal(router_match(gateway_routes, gateway_route_count, "GET", "/namespaces/default/nothing-here",
	                              &route, &params, allow, sizeof allow),
	                 ROUTE_NOT_FOUND);
	assert_int_equal(router_match(gateway_routes, gateway_route_count, "GET",
	                              "/namespaces/default/workflows/w1/x/y/z", &route, &params, allow, sizeof allow),
	                 ROUTE_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_literal_segment_beats_a_variable_whatever_the_order),
	        cmocka_unit_test(test_path_variables_are_percent_decoded),
	        cmocka_unit_test(test_unusable_path_variables_match_nothing),
	        cmocka_unit_test(test_one_trailing_slash_is_the_same_path),
	        cmocka_unit_test(test_known_path_with_another_method_is_405_with_the_allowed_methods),
	        cmocka_unit_test(test_unknown_path_is_404),
	        cmocka_unit_test(test_temporal_paths_reach_their_methods_with_dotted_fields),
	        cmocka_unit_test(test_every_temporal_method_is_also_under_api_v1),
	        cmocka_unit_test(test_temporal_404_and_405),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
