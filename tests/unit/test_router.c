/* Which route a method and path reach: against a small table made here, where each rule shows
 * alone, and against the generated table of the pinned Temporal API, as the gateway serves it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"
#include "url.h"

static const gateway_route table[] = {
        {"POST", "/ns/{namespace}/workflows/{workflow_id}", 1, PERMISSION_START,
         &(const rpc_traits){.rpc = "Start", .effect = EFFECT_START}, NULL, 4},
        {"GET", "/ns/{namespace}/workflows/{execution.workflow_id}", 0, PERMISSION_READ,
         &(const rpc_traits){.rpc = "Describe", .effect = EFFECT_NONE}, NULL, 4},
        {"DELETE", "/ns/{namespace}/workflows/{execution.workflow_id}", 0, PERMISSION_ADMIN,
         &(const rpc_traits){.rpc = "Delete", .effect = EFFECT_NONE}, NULL, 4},
        {"POST", "/ns/{namespace}/workflows/execute-multi-operation", 1, PERMISSION_START,
         &(const rpc_traits){.rpc = "Multi", .effect = EFFECT_MULTI_OPERATION}, NULL, 4},
        {"POST", "/ns/{namespace}/workflows/{workflow_id}/signal/{signal_name}", 1, PERMISSION_SIGNAL,
         &(const rpc_traits){.rpc = "Signal", .effect = EFFECT_NONE}, NULL, 6},
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

/* ---- The router against a reference written another way ----------------------------------------
 * The reference splits pattern and path into segments and compares them as arrays; the router
 * walks both strings at once. They must agree on every path made from the generated table. */

#define MAX_SEGMENTS 16

/* Splits text (from its first '/') into segments, in place; -1 when there are too many. */
static int split_segments(char *text, char **segments)
{
	int count = 0;
	for (char *at = text; *at == '/';) {
		if (count == MAX_SEGMENTS)
			return -1;
		*at++ = '\0';
		segments[count++] = at;
		at += strcspn(at, "/");
	}
	return count;
}

static void free_values(char **values, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(values[i]);
}

/* Literal segments matched, or -1; with values, captured values go there (freed by the caller;
 * none are left on -1), and a variable that does not unescape matches nothing. */
static int reference_match(const char *pattern, const char *path, char **values, size_t *value_count)
{
	char pattern_copy[512], path_copy[512];
	char *pattern_segments[MAX_SEGMENTS], *path_segments[MAX_SEGMENTS];
	snprintf(pattern_copy, sizeof pattern_copy, "%s", pattern);
	snprintf(path_copy, sizeof path_copy, "%s", path);
	size_t path_length = strlen(path_copy);
	if (path_length > 1 && path_copy[path_length - 1] == '/')
		path_copy[path_length - 1] = '\0'; /* one trailing slash is the same path */
	int pattern_count = split_segments(pattern_copy, pattern_segments);
	int path_count = split_segments(path_copy, path_segments);
	*value_count = 0;
	if (pattern_count < 0 || pattern_count != path_count || path_copy[0] != '\0')
		return -1;
	int literals = 0;
	for (int i = 0; i < pattern_count; i++) {
		if (pattern_segments[i][0] != '{') {
			if (strcmp(pattern_segments[i], path_segments[i]))
				goto mismatch;
			literals++;
			continue;
		}
		if (!path_segments[i][0])
			goto mismatch;
		if (!values)
			continue;
		char *value = *value_count < ROUTER_MAX_PARAMS
		                      ? http_unescape(path_segments[i], strlen(path_segments[i]), 0)
		                      : NULL;
		if (!value)
			goto mismatch;
		values[(*value_count)++] = value;
	}
	return literals;
mismatch:
	if (values)
		free_values(values, *value_count);
	*value_count = 0;
	return -1;
}

/* Checks the router's answer for method and path against the reference's. */
static void assert_router_agrees(const char *method, const char *path)
{
	const gateway_route *best = NULL;
	char *best_values[ROUTER_MAX_PARAMS];
	size_t best_count = 0;
	int best_literals = -1, other_methods = 0;
	for (size_t i = 0; i < gateway_route_count; i++) {
		char *values[ROUTER_MAX_PARAMS];
		size_t count;
		if (strcmp(gateway_routes[i].method, method)) {
			if (reference_match(gateway_routes[i].pattern, path, NULL, &count) >= 0)
				other_methods = 1;
			continue;
		}
		int literals = reference_match(gateway_routes[i].pattern, path, values, &count);
		if (literals > best_literals) {
			free_values(best_values, best_count);
			memcpy(best_values, values, sizeof values);
			best_count = count;
			best_literals = literals;
			best = &gateway_routes[i];
		} else {
			free_values(values, count);
		}
	}
	const gateway_route *route;
	route_params params;
	char allow[256];
	route_result result =
	        router_match(gateway_routes, gateway_route_count, method, path, &route, &params, allow, sizeof allow);
	if (best) {
		if (result != ROUTE_FOUND || route != best)
			fail_msg("%s %s: the router took %s, the reference %s", method, path,
			         route ? route->pattern : "none", best->pattern);
		assert_int_equal(params.count, best_count);
		for (size_t i = 0; i < best_count; i++)
			assert_string_equal(params.items[i].value, best_values[i]);
	} else {
		assert_int_equal(result, other_methods ? ROUTE_METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND);
	}
	free_values(best_values, best_count);
	route_params_free(&params);
}

/* pattern with each variable replaced by value, then suffix. */
static void instantiate(const char *pattern, const char *value, const char *suffix, char *out, size_t size)
{
	size_t used = 0;
	for (const char *at = pattern; *at && used + 64 < size;) {
		if (*at == '{') {
			used += (size_t)snprintf(out + used, size - used, "%s", value);
			at = strchr(at, '}') + 1;
		} else {
			out[used++] = *at++;
		}
	}
	snprintf(out + used, size - used, "%s", suffix);
}

static void test_router_agrees_with_a_reference_on_every_route(void **state)
{
	(void)state;
	for (size_t r = 0; r < gateway_route_count; r++) {
		unsigned slashes = 0;
		for (const char *at = gateway_routes[r].pattern; *at; at++)
			slashes += *at == '/';
		assert_int_equal(gateway_routes[r].segments, slashes);
	}
	static const char *const values[] = {"default", "w%2F1", "execute-multi-operation", "%zz", ""};
	static const char *const suffixes[] = {"", "/", "//", "/x"};
	static const char *const methods[] = {"GET", "POST", "DELETE", "PUT"};
	char path[512];
	for (size_t r = 0; r < gateway_route_count; r++) {
		for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
			for (size_t x = 0; x < sizeof suffixes / sizeof suffixes[0]; x++) {
				instantiate(gateway_routes[r].pattern, values[v], suffixes[x], path, sizeof path);
				for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
					assert_router_agrees(methods[m], path);
				/* The path cut short by a byte: a literal that no longer matches. */
				path[strlen(path) - 1] = '\0';
				assert_router_agrees(gateway_routes[r].method, path);
			}
		}
	}
	assert_router_agrees("GET", "/");
	assert_router_agrees("GET", "");
	assert_router_agrees("GET", "//");
	assert_router_agrees("GET", "/namespaces");
	assert_router_agrees("GET", "/api/v1/namespaces/");
	assert_router_agrees("GET", "/api/v1/namespaces//");
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
	        cmocka_unit_test(test_router_agrees_with_a_reference_on_every_route),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
