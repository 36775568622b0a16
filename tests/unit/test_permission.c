/* What a request needs, as the gateway decides it before calling Temporal: the route's own
 * permissions (gateway/permissions.tsv, in the generated table) and what the decoded body's fields
 * add, each with the reason a 403 gives. Requests are written as a client sends them: a method, a
 * path and a JSON body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json_assert.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc.h"
#include "base64.h"
#include "permission.h"
#include "protojson.h"
#include "router.h"

/* The flows the operator loaded, for the tests that start one (NULL: none). */
static const flow_catalog *loaded_flows;

typedef struct needs {
	unsigned route;       /* the route's permissions */
	permission_need more; /* what the body adds */
} needs;

/* What method path with body_json needs, decoded as the route's request message. */
static needs needs_of(const char *method, const char *path, const char *body_json)
{
	const gateway_route *route;
	route_params params;
	char allow[64];
	if (router_match(gateway_routes, gateway_route_count, method, path, &route, &params, allow, sizeof allow) !=
	    ROUTE_FOUND)
		fail_msg("no route for %s %s", method, path);
	route_params_free(&params);
	const ProtobufCMethodDescriptor *rpc = traits_method(route->traits);
	json_t *json = parse(body_json);
	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *request = portico_protojson_decode(rpc->input, json, &err);
	json_decref(json);
	if (!request)
		fail_msg("%s: %s", body_json, err.message);
	needs result = {route->permissions, permission_effects(route->traits->effect, request, loaded_flows)};
	protobuf_c_message_free_unpacked(request, NULL);
	return result;
}

/* The 403's reason for permission (one auth_permission bit), or NULL when it is not needed. */
static const char *reason(const permission_need *need, unsigned permission)
{
	return need->reasons[__builtin_ctz(permission)];
}

#define START "/namespaces/default/workflows/order-1"

static void test_plain_start_needs_start_only(void **state)
{
	(void)state;
	needs n = needs_of("POST", START, "{\"workflowType\": {\"name\": \"Ship\"}, \"taskQueue\": {\"name\": \"q\"}}");
	assert_int_equal(n.route, PERMISSION_START);
	assert_int_equal(n.more.permissions, 0);
	n = needs_of("POST", START,
	             "{\"workflowIdConflictPolicy\": \"WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING\","
	             " \"workflowIdReusePolicy\": \"WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE\"}");
	assert_int_equal(n.more.permissions, 0);
}

/* A start that may terminate the workflow running under its id needs what a terminate needs. */
static void test_start_that_terminates_needs_cancel(void **state)
{
	(void)state;
	needs n = needs_of("POST", START,
	                   "{\"workflowIdConflictPolicy\": \"WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING\"}");
	assert_int_equal(n.more.permissions, PERMISSION_CANCEL);
	assert_string_equal(reason(&n.more, PERMISSION_CANCEL),
	                    "workflowIdConflictPolicy TERMINATE_EXISTING terminates the running workflow");

	n = needs_of("POST", START, "{\"workflowIdReusePolicy\": \"TerminateIfRunning\"}");
	assert_int_equal(n.more.permissions, PERMISSION_CANCEL);
	assert_string_equal(reason(&n.more, PERMISSION_CANCEL),
	                    "workflowIdReusePolicy TERMINATE_IF_RUNNING terminates the running workflow");

	/* Both: one permission, the first reason. */
	n = needs_of("POST", "/api/v1" START,
	             "{\"workflowIdReusePolicy\": 4, \"workflowIdConflictPolicy\": \"TerminateExisting\"}");
	assert_int_equal(n.more.permissions, PERMISSION_CANCEL);
	assert_non_null(strstr(reason(&n.more, PERMISSION_CANCEL), "workflowIdConflictPolicy"));
}

/* Completion callbacks make Temporal call out, and eager execution hands over a worker's task. */
static void test_start_with_callbacks_or_eager_execution_needs_admin(void **state)
{
	(void)state;
	needs n = needs_of("POST", START,
	                   "{\"completionCallbacks\": [{\"nexus\": {\"url\": \"http://internal.example/hook\"}}]}");
	assert_int_equal(n.more.permissions, PERMISSION_ADMIN);
	assert_string_equal(reason(&n.more, PERMISSION_ADMIN),
	                    "completionCallbacks make Temporal call any allowed address");
	n = needs_of("POST", START, "{\"requestEagerExecution\": true}");
	assert_int_equal(n.more.permissions, PERMISSION_ADMIN);
	assert_non_null(strstr(reason(&n.more, PERMISSION_ADMIN), "requestEagerExecution"));
}

static void test_signal_with_start_needs_start_signal_and_what_its_policies_do(void **state)
{
	(void)state;
	const char *path = "/namespaces/default/workflows/order-1/signal-with-start/paid";
	needs n = needs_of("POST", path, "{\"signalInput\": [1]}");
	assert_int_equal(n.route, PERMISSION_START | PERMISSION_SIGNAL);
	assert_int_equal(n.more.permissions, 0);
	n = needs_of("POST", path, "{\"workflowIdConflictPolicy\": \"TerminateExisting\"}");
	assert_int_equal(n.more.permissions, PERMISSION_CANCEL);
}

/* A multi-operation needs what each of its operations needs. */
static void test_multi_operation_needs_each_operation(void **state)
{
	(void)state;
	const char *path = "/namespaces/default/workflows/execute-multi-operation";
	needs n = needs_of("POST", path,
	                   "{\"operations\": [{\"startWorkflow\": {\"workflowId\": \"w\"}},"
	                   " {\"updateWorkflow\": {\"request\": {\"input\": {\"name\": \"approve\"}}}}]}");
	assert_int_equal(n.route, PERMISSION_START);
	assert_int_equal(n.more.permissions, PERMISSION_START | PERMISSION_UPDATE);
	assert_string_equal(reason(&n.more, PERMISSION_UPDATE), "operations[].updateWorkflow updates a workflow");

	n = needs_of("POST", path,
	             "{\"operations\": [{\"startWorkflow\": {\"workflowIdConflictPolicy\": \"TerminateExisting\","
	             " \"completionCallbacks\": [{\"nexus\": {\"url\": \"http://x\"}}]}}]}");
	assert_int_equal(n.more.permissions, PERMISSION_START | PERMISSION_CANCEL | PERMISSION_ADMIN);

	/* An operation of a kind Portico does not know (here: none set) is admin's. */
	n = needs_of("POST", path, "{\"operations\": [{}]}");
	assert_int_equal(n.more.permissions, PERMISSION_ADMIN);
	n = needs_of("POST", path, "{\"operations\": []}");
	assert_int_equal(n.more.permissions, 0);
}

/* A batch needs what its operation does to every workflow it reaches. */
static void test_batch_needs_what_its_operation_does(void **state)
{
	(void)state;
	const char *path = "/namespaces/default/batch-operations/job-1";
	static const struct {
		const char *body;
		unsigned needs;
	} cases[] = {
	        {"{\"terminationOperation\": {}}", PERMISSION_CANCEL},
	        {"{\"cancellationOperation\": {}}", PERMISSION_CANCEL},
	        {"{\"signalOperation\": {\"signal\": \"go\"}}", PERMISSION_SIGNAL},
	        {"{\"resetOperation\": {}}", PERMISSION_CANCEL},
	        {"{\"resetOperation\": {\"postResetOperations\": [{\"signalWorkflow\": {\"signalName\": \"go\"}}]}}",
	         PERMISSION_CANCEL | PERMISSION_SIGNAL},
	        {"{\"unpauseActivitiesOperation\": {}}", PERMISSION_ACTIVITIES},
	        {"{\"resetActivitiesOperation\": {}}", PERMISSION_ACTIVITIES},
	        {"{\"updateActivityOptionsOperation\": {}}", PERMISSION_ACTIVITIES},
	        {"{\"deletionOperation\": {}}", PERMISSION_ADMIN},
	        {"{\"updateWorkflowOptionsOperation\": {}}", PERMISSION_ADMIN},
	        {"{\"reason\": \"no operation\"}", PERMISSION_ADMIN},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		needs n = needs_of("POST", path, cases[i].body);
		assert_int_equal(n.route, PERMISSION_READ);
		if (n.more.permissions != cases[i].needs)
			fail_msg("%s needs %#x, expected %#x", cases[i].body, n.more.permissions, cases[i].needs);
	}
}

/* A schedule whose overlap policy cancels or terminates needs cancel; so does running it now
 * (trigger, backfill) without a policy, which takes the schedule's. */
static void test_schedules_need_cancel_when_their_overlap_policy_ends_runs(void **state)
{
	(void)state;
	const char *create = "/namespaces/default/schedules/nightly";
	needs n = needs_of(
	        "POST", create,
	        "{\"schedule\": {\"policies\": {\"overlapPolicy\": \"SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER\"}}}");
	assert_int_equal(n.route, PERMISSION_START);
	assert_int_equal(n.more.permissions, PERMISSION_CANCEL);
	assert_string_equal(reason(&n.more, PERMISSION_CANCEL), "overlapPolicy CANCEL_OTHER cancels running workflows");
	n = needs_of("POST", "/namespaces/default/schedules/nightly/update",
	             "{\"schedule\": {\"policies\": {\"overlapPolicy\": \"TerminateOther\"}}}");
	assert_int_equal(n.more.permissions, PERMISSION_CANCEL);
	n = needs_of("POST", create, "{\"schedule\": {\"policies\": {\"overlapPolicy\": \"BufferOne\"}}}");
	assert_int_equal(n.more.permissions, 0);
	n = needs_of("POST", create, "{\"schedule\": {}}");
	assert_int_equal(n.more.permissions, 0);

	const char *patch = "/namespaces/default/schedules/nightly/patch";
	n = needs_of("POST", patch, "{\"patch\": {\"triggerImmediately\": {}}}");
	assert_int_equal(n.more.permissions, PERMISSION_CANCEL);
	assert_non_null(strstr(reason(&n.more, PERMISSION_CANCEL), "an overlapPolicy left unset"));
	n = needs_of("POST", patch, "{\"patch\": {\"triggerImmediately\": {\"overlapPolicy\": \"AllowAll\"}}}");
	assert_int_equal(n.more.permissions, 0);
	n = needs_of("POST", patch,
	             "{\"patch\": {\"backfillRequest\": [{\"overlapPolicy\": \"Skip\"},"
	             " {\"overlapPolicy\": \"TerminateOther\"}]}}");
	assert_int_equal(n.more.permissions, PERMISSION_CANCEL);
	n = needs_of("POST", patch, "{\"patch\": {\"pause\": \"maintenance\"}}");
	assert_int_equal(n.more.permissions, 0);
}

/* What a reset does after it resets: signal the new run, or change its options. */
static void test_reset_needs_what_its_post_reset_operations_do(void **state)
{
	(void)state;
	const char *path = "/namespaces/default/workflows/order-1/reset";
	needs n = needs_of("POST", path, "{\"reason\": \"bad deploy\"}");
	assert_int_equal(n.route, PERMISSION_CANCEL);
	assert_int_equal(n.more.permissions, 0);
	n = needs_of("POST", path, "{\"postResetOperations\": [{\"signalWorkflow\": {\"signalName\": \"retry\"}}]}");
	assert_int_equal(n.more.permissions, PERMISSION_SIGNAL);
	n = needs_of("POST", path,
	             "{\"postResetOperations\": [{\"signalWorkflow\": {}}, {\"updateWorkflowOptions\": {}}, {}]}");
	assert_int_equal(n.more.permissions, PERMISSION_SIGNAL | PERMISSION_ADMIN);
	assert_string_equal(reason(&n.more, PERMISSION_ADMIN),
	                    "postResetOperations[].updateWorkflowOptions changes the workflow's options");
}

/* The table of permissions.tsv, as the routes carry it. */
static void test_routes_carry_their_methods_permissions(void **state)
{
	(void)state;
	static const struct {
		const char *method, *path, *rpc;
		unsigned permissions;
		permission_effect effect;
	} rows[] = {
	        {"GET", "/namespaces/default/workflows/w", "DescribeWorkflowExecution", PERMISSION_READ, EFFECT_NONE},
	        {"POST", "/namespaces/default/workflows/w/terminate", "TerminateWorkflowExecution", PERMISSION_CANCEL,
	         EFFECT_NONE},
	        {"POST", "/namespaces/default/workflows/w/signal/s", "SignalWorkflowExecution", PERMISSION_SIGNAL,
	         EFFECT_NONE},
	        {"POST", "/namespaces/default/workflows/w/update/u", "UpdateWorkflowExecution", PERMISSION_UPDATE,
	         EFFECT_NONE},
	        {"POST", "/namespaces/default/activities/complete", "RespondActivityTaskCompleted",
	         PERMISSION_ACTIVITIES, EFFECT_NONE},
	        {"GET", "/cluster/namespaces", "ListNamespaces", PERMISSION_READ, EFFECT_LIST_NAMESPACES},
	        {"POST", "/cluster/namespaces", "RegisterNamespace", PERMISSION_CLUSTER, EFFECT_NONE},
	        {"DELETE", "/namespaces/default/schedules/s", "DeleteSchedule", PERMISSION_START, EFFECT_NONE},
	        {"POST", "/namespaces/default/workflows/w/update-options", "UpdateWorkflowExecutionOptions",
	         PERMISSION_ADMIN, EFFECT_NONE},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const gateway_route *route;
		route_params params;
		char allow[64];
		assert_int_equal(router_match(gateway_routes, gateway_route_count, rows[i].method, rows[i].path, &route,
		                              &params, allow, sizeof allow),
		                 ROUTE_FOUND);
		route_params_free(&params);
		assert_string_equal(route->traits->rpc, rows[i].rpc);
		if (route->permissions != rows[i].permissions || route->traits->effect != rows[i].effect)
			fail_msg("%s: permissions %#x effect %d", route->traits->rpc, route->permissions,
			         route->traits->effect);
	}
}

static void test_added_permission_keeps_its_first_reason(void **state)
{
	(void)state;
	permission_need need = {0, {NULL}};
	permission_need_add(&need, PERMISSION_READ, "?wait= reads the workflow's result");
	permission_need_add(&need, PERMISSION_READ, "another reason");
	permission_need_add(&need, PERMISSION_SIGNAL, "signals");
	assert_int_equal(need.permissions, PERMISSION_READ | PERMISSION_SIGNAL);
	assert_string_equal(reason(&need, PERMISSION_READ), "?wait= reads the workflow's result");
	assert_string_equal(reason(&need, PERMISSION_SIGNAL), "signals");
	assert_null(reason(&need, PERMISSION_ADMIN));
}

/* A flow's definition as the worker runs it: the first argument's "definition". */
#define GREET                                                                                                          \
	"{\"document\": {\"dsl\": \"1.0.0\", \"namespace\": \"tests\", \"name\": \"greet\", \"version\": \"1.0.0\"},"  \
	" \"do\": [{\"hello\": {\"set\": {\"greeting\": \"hi\"}}}]}"
#define CHANGED                                                                                                        \
	"{\"document\": {\"dsl\": \"1.0.0\", \"namespace\": \"tests\", \"name\": \"greet\", \"version\": \"1.0.0\"},"  \
	" \"do\": [{\"fetch\": {\"call\": \"http\"}}]}"

/* The start request's JSON (proto3: base64 payloads) with one json/plain argument, argument_json;
 * format has one %s for the start's fields. The caller frees it. */
static char *with_argument(const char *format, const char *argument_json)
{
	char *data = portico_base64_encode((const uint8_t *)argument_json, strlen(argument_json));
	char *start = portico_sprintf("{\"workflowType\": {\"name\": \"greet\"}, \"input\": {\"payloads\":"
	                              " [{\"metadata\": {\"encoding\": \"anNvbi9wbGFpbg==\"}, \"data\": \"%s\"}]}}",
	                              data);
	char *body = portico_sprintf(format, start);
	free(data);
	free(start);
	return body;
}

static unsigned more_of(const char *path, const char *format, const char *argument_json)
{
	char *body = with_argument(format, argument_json);
	needs n = needs_of("POST", path, body);
	free(body);
	return n.more.permissions;
}

/* A flow runs what its definition says, whichever route starts it: a definition the operator did
 * not load needs admin (as POST …/flows does) on a plain start, a signal-with-start, a
 * multi-operation and a schedule; the loaded one, word for word, needs start alone. */
static void test_a_flow_the_operator_did_not_load_needs_admin(void **state)
{
	(void)state;
	char folder[] = "/tmp/test_permission_XXXXXX";
	assert_non_null(mkdtemp(folder));
	char *file = portico_sprintf("%s/greet.json", folder);
	FILE *out = fopen(file, "w");
	fputs(GREET, out);
	fclose(out);
	portico_error err = PORTICO_ERROR_INIT;
	flow_catalog *catalog = flow_catalog_load(folder, &err);
	assert_non_null(catalog);
	unlink(file);
	free(file);
	rmdir(folder);

	const char *loaded = "{\"definition\": " GREET ", \"input\": {}}";
	const char *changed = "{\"definition\": " CHANGED ", \"input\": {}}";
	char *body = with_argument("%s", loaded);
	needs n = needs_of("POST", START, body);
	free(body);
	assert_int_equal(n.more.permissions, PERMISSION_ADMIN); /* nothing loaded */
	assert_non_null(strstr(reason(&n.more, PERMISSION_ADMIN), "flow definition the operator did not load"));
	loaded_flows = catalog;
	assert_int_equal(more_of(START, "%s", loaded), 0);
	assert_int_equal(more_of(START, "%s", changed), PERMISSION_ADMIN);
	assert_int_equal(more_of("/namespaces/default/workflows/order-1/signal-with-start/paid", "%s", changed),
	                 PERMISSION_ADMIN);
	assert_int_equal(more_of("/namespaces/default/workflows/execute-multi-operation",
	                         "{\"operations\": [{\"startWorkflow\": %s}]}", changed),
	                 PERMISSION_START | PERMISSION_ADMIN);
	assert_int_equal(more_of("/namespaces/default/schedules/nightly",
	                         "{\"schedule\": {\"action\": {\"startWorkflow\": %s}}}", changed),
	                 PERMISSION_ADMIN);
	/* The key written with an escape is the same key to the worker's parser. */
	assert_int_equal(more_of(START, "%s", "{\"\\u0064efinition\": " CHANGED ", \"input\": {}}"), PERMISSION_ADMIN);
	/* The loaded definition with a "resume" of the caller's is not the named flow's start. */
	assert_int_equal(more_of(START, "%s", "{\"definition\": " GREET ", \"input\": {}, \"resume\": {}}"),
	                 PERMISSION_ADMIN);
	/* A first argument the caller compressed (or encrypted) could be a flow the gateway cannot see. */
	char *zlib = portico_sprintf("{\"input\": {\"payloads\": [{\"metadata\": {\"encoding\": \"%s\"},"
	                             " \"data\": \"eJwDAAAAAAE=\"}]}}",
	                             "YmluYXJ5L3psaWI="); /* binary/zlib */
	needs compressed = needs_of("POST", START, zlib);
	free(zlib);
	assert_int_equal(compressed.more.permissions, PERMISSION_ADMIN);
	/* An empty argument is no flow (and has no data to read). */
	assert_int_equal(needs_of("POST", START,
	                          "{\"input\": {\"payloads\": [{\"metadata\": {\"encoding\": \"anNvbi9wbGFpbg==\"}, "
	                          "\"data\": \"\"}]}}")
	                         .more.permissions,
	                 0);
	/* An argument that only mentions the word is no flow. */
	assert_int_equal(more_of(START, "%s", "{\"note\": \"\\\"definition\\\"\"}"), 0);
	loaded_flows = NULL;
	flow_catalog_free(catalog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_start_needs_start_only),
	        cmocka_unit_test(test_start_that_terminates_needs_cancel),
	        cmocka_unit_test(test_start_with_callbacks_or_eager_execution_needs_admin),
	        cmocka_unit_test(test_signal_with_start_needs_start_signal_and_what_its_policies_do),
	        cmocka_unit_test(test_multi_operation_needs_each_operation),
	        cmocka_unit_test(test_batch_needs_what_its_operation_does),
	        cmocka_unit_test(test_schedules_need_cancel_when_their_overlap_policy_ends_runs),
	        cmocka_unit_test(test_a_flow_the_operator_did_not_load_needs_admin),
	        cmocka_unit_test(test_reset_needs_what_its_post_reset_operations_do),
	        cmocka_unit_test(test_routes_carry_their_methods_permissions),
	        cmocka_unit_test(test_added_permission_keeps_its_first_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
