/* The generated traits and route table (build/gen/routes.c): each RPC's traits name the method of
 * the pinned API they describe, and what the overlay (gateway/traits.tsv) says reaches the RPCs it
 * names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"
#include "result.h"
#include "router.h"

static const gateway_route *route_of(const char *method, const char *path)
{
	const gateway_route *route;
	route_params params;
	char allow[128];
	assert_int_equal(
	        router_match(gateway_routes, gateway_route_count, method, path, &route, &params, allow, sizeof allow),
	        ROUTE_FOUND);
	route_params_free(&params);
	return route;
}

static void test_every_method_index_names_its_rpc(void **state)
{
	(void)state;
	for (size_t i = 0; i < gateway_route_count; i++) {
		const rpc_traits *traits = gateway_routes[i].traits;
		if (traits)
			assert_string_equal(traits_method(traits)->name, traits->rpc);
	}
}

static void test_start_routes_carry_the_start_traits(void **state)
{
	(void)state;
	const gateway_route *with_id = route_of("POST", "/api/v1/namespaces/default/workflows/order-1");
	const gateway_route *without_id = route_of("POST", "/namespaces/default/workflows");
	assert_ptr_equal(with_id->traits, without_id->traits);
	assert_int_equal(with_id->traits->role, ROLE_START);
	assert_true(with_id->traits->wait);
	assert_string_equal(with_id->traits->trace_header, "header");
	assert_string_equal(with_id->traits->idempotency_field, "request_id");
	assert_int_equal(with_id->traits->shorthand_count, 1);
	assert_ptr_equal(with_id->serve, proxy_serve);
}

static void test_update_is_a_long_poll_keyed_by_its_update_id(void **state)
{
	(void)state;
	const gateway_route *route = route_of("POST", "/namespaces/default/workflows/order-1/update/approve");
	assert_int_equal(route->traits->role, ROLE_UPDATE);
	assert_int_equal(route->traits->long_poll, LONG_POLL_ALWAYS);
	assert_string_equal(route->traits->idempotency_field, "request.meta.update_id");
}

static void test_history_long_polls_only_when_asked(void **state)
{
	(void)state;
	const gateway_route *route = route_of("GET", "/namespaces/default/workflows/order-1/history");
	assert_int_equal(route->traits->long_poll, LONG_POLL_WAIT_NEW_EVENT);
	assert_false(route->traits->wait);
}

static void test_result_waits_are_a_handler_of_their_own(void **state)
{
	(void)state;
	const gateway_route *route = route_of("GET", "/api/v1/namespaces/default/workflows/order-1/result");
	assert_null(route->traits);
	assert_ptr_equal(route->serve, result_serve);
	assert_int_equal(route->permissions, PERMISSION_READ);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_method_index_names_its_rpc),
	        cmocka_unit_test(test_start_routes_carry_the_start_traits),
	        cmocka_unit_test(test_update_is_a_long_poll_keyed_by_its_update_id),
	        cmocka_unit_test(test_history_long_polls_only_when_asked),
	        cmocka_unit_test(test_result_waits_are_a_handler_of_their_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
