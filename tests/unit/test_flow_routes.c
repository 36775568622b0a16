/* The gateway's flow routes without a server: the bodies read (an inline definition as an object
 * or as YAML text, its input, the bounds, the paths of refusals), the start request they make as
 * the proxy decodes it (type, queue, the one payload, the memo), the 404's message, the routes and
 * their permissions, and webhook routes that start a flow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_assert.h"

#include "flow_request.h"
#include "payload.h"
#include "rest_request.h"
#include "router.h"
#include "webhook_config.h"

#define FLOW                                                                                                           \
	"{\"document\": {\"dsl\": \"1.0.0\", \"namespace\": \"shop\", \"name\": \"greet\", \"version\": \"1.2.0\"}, "  \
	"\"do\": [{\"hello\": {\"set\": {\"greeting\": \"hi\"}}}]}"

/* flow_request_inline on text; the error's message (owned by err) when it fails, else NULL. */
static const char *inline_error(const char *body, portico_error *err)
{
	json_t *definition, *input;
	if (flow_request_inline(body, strlen(body), NULL, &definition, &input, err))
		return err->message;
	json_decref(definition);
	json_decref(input);
	return NULL;
}

static void test_an_inline_body_gives_its_definition_and_input(void **state)
{
	(void)state;
	json_t *definition, *input;
	portico_error err = PORTICO_ERROR_INIT;
	const char *body = "{\"definition\": " FLOW ", \"input\": {\"who\": \"Ada\"}}";
	assert_int_equal(flow_request_inline(body, strlen(body), NULL, &definition, &input, &err), 0);
	assert_json_equal(definition, FLOW);
	assert_json_equal(input, "{\"who\": \"Ada\"}");

	/* No input is {}: a flow always gets an object to start from. */
	body = "{\"definition\": " FLOW "}";
	assert_int_equal(flow_request_inline(body, strlen(body), NULL, &definition, &input, &err), 0);
	json_decref(definition);
	assert_json_equal(input, "{}");
}

static void test_an_inline_definition_may_be_text(void **state)
{
	(void)state;
	json_t *request = json_pack("{s:s,s:[i]}", "definition", FLOW, "input", 1);
	char *body = json_dumps(request, 0);
	json_t *definition, *input;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(flow_request_inline(body, strlen(body), NULL, &definition, &input, &err), 0);
	assert_json_equal(definition, FLOW);
	assert_json_equal(input, "[1]");
	free(body);
	json_decref(request);
}

static void test_a_bad_inline_body_is_refused_with_its_path(void **state)
{
	(void)state;
	static const struct {
		const char *body, *message_starts;
	} cases[] = {
	        {"", "the request body is required"},
	        {"[]", "the request body must be an object"},
	        {"{\"definition\": ", "the request body is not valid JSON"},
	        {"{\"input\": {}}", "/definition: required"},
	        {"{\"definition\": 42}", "/definition: expected the flow as an object"},
	        {"{\"definition\": " FLOW ", \"inputs\": {}}", "/inputs: unknown field"},
	        /* What flow_validate refuses comes back under /definition. */
	        {"{\"definition\": {\"do\": []}}", "/definition/"},
	        {"{\"definition\": \"{\\\"document\\\": \"}", "/definition: "},
	        /* Numbers beyond what a flow holds (kept raw by the parser), wherever they are. */
	        {"{\"definition\": " FLOW ", \"input\": {\"n\": [1, 123456789012345678901234567890]}}",
	         "the request body: /input/n/1 is a number beyond what a flow holds"},
	        {"{\"definition\": 1e400}", "the request body: /definition is a number beyond"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		portico_error err = PORTICO_ERROR_INIT;
		const char *message = inline_error(cases[i].body, &err);
		if (!message || strncmp(message, cases[i].message_starts, strlen(cases[i].message_starts)))
			fail_msg("%s: got %s, expected %s…", cases[i].body, message ? message : "success",
			         cases[i].message_starts);
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		portico_error_clear(&err);
	}
}

static void test_an_inline_definition_is_bounded(void **state)
{
	(void)state;
	/* Over FLOW_MAX_BYTES as text, and as an object: refused before it is parsed or validated. */
	size_t size = FLOW_MAX_BYTES + 2;
	char *big = malloc(size);
	memset(big, ' ', size - 1);
	big[size - 1] = '\0';
	json_t *as_text = json_pack("{s:s}", "definition", big);
	json_t *as_object = json_pack("{s:{s:s}}", "definition", "padding", big);
	json_t *bodies[] = {as_text, as_object};
	for (size_t i = 0; i < 2; i++) {
		char *body = json_dumps(bodies[i], 0);
		portico_error err = PORTICO_ERROR_INIT;
		const char *message = inline_error(body, &err);
		assert_non_null(message);
		assert_non_null(strstr(message, "/definition: over"));
		portico_error_clear(&err);
		free(body);
		json_decref(bodies[i]);
	}
	free(big);
}

static void test_a_named_flow_takes_any_json_as_input(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	assert_json_equal(flow_request_input(NULL, 0, &err), "{}");
	assert_json_equal(flow_request_input("", 0, &err), "{}");
	assert_json_equal(flow_request_input("[1, \"a\"]", 8, &err), "[1, \"a\"]");
	assert_json_equal(flow_request_input("7", 1, &err), "7");
	assert_null(flow_request_input("{\"a\":", 5, &err));
	assert_non_null(strstr(err.message, "not valid JSON"));
	portico_error_clear(&err);
}

/* StartWorkflowExecution's traits, as the flow routes carry them. */
static const gateway_route *flow_route(const char *method, const char *path)
{
	const gateway_route *route;
	route_params params;
	char allow[64];
	assert_int_equal(
	        router_match(gateway_routes, gateway_route_count, method, path, &route, &params, allow, sizeof allow),
	        ROUTE_FOUND);
	route_params_free(&params);
	return route;
}

static void test_the_routes_and_their_permissions(void **state)
{
	(void)state;
	const gateway_route *route = flow_route("POST", "/api/v1/namespaces/default/flows/greet");
	assert_int_equal(route->permissions, PERMISSION_START);
	assert_string_equal(route->traits->rpc, "StartWorkflowExecution");
	route = flow_route("POST", "/namespaces/default/flows");
	assert_int_equal(route->permissions, PERMISSION_START); /* admin is checked by the handler, with why */
	assert_string_equal(route->traits->rpc, "StartWorkflowExecution");
	route = flow_route("GET", "/api/v1/namespaces/default/flows");
	assert_int_equal(route->permissions, PERMISSION_READ);
	assert_null(route->traits);
}

/* The start request as the proxy builds it from flow_request_start's JSON. */
static Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *
decoded(const json_t *fields, const char *idempotency_key, rest_request *built)
{
	const gateway_route *route = flow_route("POST", "/namespaces/default/flows/greet");
	route_params params = {1, {{(char *)"namespace", (char *)"default"}}};
	const rest_input in = {
	        .traits = route->traits, .params = &params, .fields = fields, .idempotency_key = idempotency_key};
	portico_error err = PORTICO_ERROR_INIT;
	if (rest_request_build(&in, built, &err))
		fail_msg("%s", err.message);
	return (void *)built->message;
}

/* The one payload's JSON value. */
static json_t *payload_json(const Temporal__Api__Common__V1__Payload *payload)
{
	json_error_t error;
	json_t *value = json_loadb((const char *)payload->data.data, payload->data.len, JSON_DECODE_ANY, &error);
	assert_non_null(value);
	return value;
}

static void test_a_flow_starts_as_its_contract_says(void **state)
{
	(void)state;
	json_t *document = parse(FLOW), *input = parse("{\"who\": \"Ada\"}");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *fields = flow_request_start(document, input, "flows", "greet-1", &err);
	assert_non_null(fields);
	rest_request built;
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start = decoded(fields, NULL, &built);
	assert_string_equal(start->namespace_, "default");
	assert_string_equal(start->workflow_id, "greet-1");
	assert_string_equal(start->workflow_type->name, "greet");
	assert_string_equal(start->task_queue->name, "flows");
	assert_int_equal(start->input->n_payloads, 1);
	json_t *argument = payload_json(start->input->payloads[0]);
	assert_json_equal(argument, "{\"definition\": " FLOW ", \"input\": {\"who\": \"Ada\"}}");
	assert_int_equal(start->memo->n_fields, 1);
	assert_string_equal(start->memo->fields[0]->key, "flow");
	assert_json_equal(payload_json(start->memo->fields[0]->value),
	                  "{\"namespace\": \"shop\", \"name\": \"greet\", \"version\": \"1.2.0\", \"dsl\": \"1.0.0\"}");
	assert_string_equal(built.workflow_id, "greet-1");
	rest_request_clear(&built);
	json_decref(fields);
	json_decref(document);
	json_decref(input);
}

static void test_an_idempotency_key_makes_the_id_of_a_flow_without_one(void **state)
{
	(void)state;
	json_t *document = parse(FLOW), *input = parse("{}");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *fields = flow_request_start(document, input, "portico", NULL, &err);
	rest_request first, again;
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *one = decoded(fields, "order-7", &first);
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *two = decoded(fields, "order-7", &again);
	/* A retry is the same start: the same id, the same request id (Temporal answers the first run). */
	assert_int_equal(strncmp(one->workflow_id, "idempotency-", 12), 0);
	assert_string_equal(one->workflow_id, two->workflow_id);
	assert_string_equal(one->request_id, two->request_id);
	rest_request_clear(&first);
	rest_request_clear(&again);
	json_decref(fields);
	json_decref(document);
	json_decref(input);
}

static void test_a_made_workflow_id_is_the_flows_name_and_a_uuid(void **state)
{
	(void)state;
	char *id = flow_request_workflow_id("greet"), *other = flow_request_workflow_id("greet");
	assert_int_equal(strlen(id), strlen("greet-") + 36);
	assert_int_equal(strncmp(id, "greet-", 6), 0);
	assert_string_not_equal(id, other);
	free(id);
	free(other);
}

static void test_a_start_refuses_what_it_cannot_name(void **state)
{
	(void)state;
	json_t *nameless = parse("{\"document\": {\"dsl\": \"1.0.0\"}}"), *document = parse(FLOW), *input = parse("{}");
	portico_error err = PORTICO_ERROR_INIT;
	assert_null(flow_request_start(nameless, input, "portico", "x", &err));
	assert_string_equal(err.message, "/document/name: expected the flow's name");
	portico_error_clear(&err);
	assert_null(flow_request_start(document, input, "portico", "bad-\xff", &err));
	assert_string_equal(err.message, "workflowId: not valid UTF-8");
	portico_error_clear(&err);
	json_decref(nameless);
	json_decref(document);
	json_decref(input);
}

static void test_an_empty_catalog_says_so(void **state)
{
	(void)state;
	flow_catalog *catalog = flow_catalog_new();
	char *message = flow_request_not_found(catalog, "greet", NULL);
	assert_string_equal(message, "no flow \"greet\": no flows are loaded (PORTICO_FLOWS_DIR names their folder)");
	free(message);
	flow_catalog_free(catalog);
}

/* A catalog of the flows given as YAML texts (a NULL-terminated list), loaded from a folder made
 * for it; free with flow_catalog_free. */
static flow_catalog *catalog_of(const char *const *texts)
{
	char dir[] = "/tmp/portico-test-flows-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char paths[8][sizeof dir + 16];
	size_t count = 0;
	for (; texts[count]; count++) {
		snprintf(paths[count], sizeof paths[count], "%s/f%zu.yaml", dir, count);
		FILE *file = fopen(paths[count], "w");
		assert_non_null(file);
		fputs(texts[count], file);
		fclose(file);
	}
	portico_error err = PORTICO_ERROR_INIT;
	flow_catalog *catalog = flow_catalog_load(dir, &err);
	if (!catalog)
		fail_msg("%s", err.message);
	while (count)
		unlink(paths[--count]);
	rmdir(dir);
	return catalog;
}

#define GREET(version)                                                                                                 \
	"document: {dsl: '1.0.0', namespace: tests, name: greet, version: '" version "'}\n"                            \
	"do:\n  - hello:\n      set:\n        greeting: hi\n"

static void test_a_404_says_what_is_loaded(void **state)
{
	(void)state;
	static const char *const texts[] = {
	        GREET("1.0.0"), GREET("2.0.0"),
	        "document: {dsl: '1.0.0', namespace: tests, name: other, version: '1.0.0'}\n"
	        "do:\n  - x:\n      set:\n        a: 1\n",
	        NULL};
	flow_catalog *catalog = catalog_of(texts);
	char *message = flow_request_not_found(catalog, "nope", NULL);
	assert_string_equal(message, "no flow \"nope\" is loaded (loaded: greet, other; GET …/flows lists them)");
	free(message);
	message = flow_request_not_found(catalog, "greet", "3.0.0");
	assert_string_equal(message, "flow \"greet\" has no version \"3.0.0\" (loaded: 1.0.0, 2.0.0)");
	free(message);
	flow_catalog_free(catalog);
}

static void test_an_input_is_checked_against_the_flows_schema(void **state)
{
	(void)state;
	json_t *document = parse("{\"document\": {\"dsl\": \"1.0.0\", \"namespace\": \"t\", \"name\": \"greet\", "
	                         "\"version\": \"1\"}, \"input\": {\"schema\": {\"format\": \"json\", \"document\": "
	                         "{\"type\": \"object\", \"required\": [\"who\"], \"properties\": {\"who\": "
	                         "{\"type\": \"string\"}}}}}, \"do\": [{\"hello\": {\"set\": {\"a\": 1}}}]}");
	json_t *good = parse("{\"who\": \"Ada\"}"), *bad = parse("{\"who\": 7}");
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(flow_request_check_input(document, good, &err), 0);
	assert_int_equal(flow_request_check_input(document, bad, &err), -1);
	assert_int_equal(strncmp(err.message, "input/who: ", 11), 0);
	portico_error_clear(&err);
	/* Without a schema, anything goes. */
	json_t *plain = parse(FLOW);
	assert_int_equal(flow_request_check_input(plain, bad, &err), 0);
	json_decref(plain);
	json_decref(document);
	json_decref(good);
	json_decref(bad);
}

/* webhook_set_load on text; the error's message (owned by err) when it fails, else NULL. */
static const char *webhooks_error(const char *text, const flow_catalog *flows, portico_error *err)
{
	char path[] = "/tmp/portico-test-webhooks-XXXXXX";
	int file = mkstemp(path);
	assert_true(file >= 0);
	assert_int_equal(write(file, text, strlen(text)), (ssize_t)strlen(text));
	close(file);
	webhook_set *set = webhook_set_load(path, NULL, flows, err);
	unlink(path);
	webhook_set_free(set);
	return set ? NULL : err->message;
}

#define HOOK(fields)                                                                                                   \
	"{\"webhooks\": {\"orders\": {\"action\": \"start-flow\", \"workflowId\": \"{body./id}\", "                    \
	"\"verify\": {\"scheme\": \"bearer\", \"secrets\": [\"env:TEST_HOOK_TOKEN\"]}" fields "}}}"

static void test_a_start_flow_webhook_names_a_loaded_flow(void **state)
{
	(void)state;
	setenv("TEST_HOOK_TOKEN", "token", 1);
	flow_catalog *empty = flow_catalog_new();
	static const struct {
		const char *text, *message_has;
	} cases[] = {
	        {HOOK(""), "webhook \"orders\": flow: is required"},
	        {HOOK(", \"flow\": \"greet\""), "webhook \"orders\": flow: no flow \"greet\": no flows are loaded"},
	        {HOOK(", \"flow\": \"greet\", \"taskQueue\": \"q\""),
	         "webhook \"orders\": taskQueue: a start-flow route"},
	        {HOOK(", \"flow\": \"greet\", \"workflowType\": \"T\""),
	         "webhook \"orders\": workflowType: a start-flow"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		portico_error err = PORTICO_ERROR_INIT;
		const char *message = webhooks_error(cases[i].text, empty, &err);
		if (!message || !strstr(message, cases[i].message_has))
			fail_msg("%s: got %s, expected …%s…", cases[i].text, message ? message : "success",
			         cases[i].message_has);
		portico_error_clear(&err);
	}
	/* Without a catalog at all, the same refusal. */
	portico_error err = PORTICO_ERROR_INIT;
	assert_non_null(strstr(webhooks_error(HOOK(", \"flow\": \"greet\""), NULL, &err), "no flows are loaded"));
	portico_error_clear(&err);
	/* Another action names no flow. */
	const char *start =
	        "{\"webhooks\": {\"orders\": {\"action\": \"start\", \"workflowType\": \"T\", \"taskQueue\": "
	        "\"q\", \"flow\": \"greet\", \"workflowId\": \"{body./id}\", \"verify\": {\"scheme\": "
	        "\"bearer\", \"secrets\": [\"env:TEST_HOOK_TOKEN\"]}}}}";
	assert_non_null(strstr(webhooks_error(start, empty, &err), "flow: only a start-flow route names a flow"));
	portico_error_clear(&err);
	flow_catalog_free(empty);

	/* A flow that is loaded: its name is the route's workflow type. */
	static const char *const texts[] = {GREET("1.0.0"), NULL};
	flow_catalog *greet = catalog_of(texts);
	char path[] = "/tmp/portico-test-webhooks-XXXXXX";
	int file = mkstemp(path);
	const char *text = HOOK(", \"flow\": \"greet\", \"version\": \"1.0.0\"");
	assert_int_equal(write(file, text, strlen(text)), (ssize_t)strlen(text));
	close(file);
	webhook_set *set = webhook_set_load(path, NULL, greet, &err);
	unlink(path);
	assert_non_null(set);
	const webhook_route *route = webhook_set_find(set, "orders");
	assert_int_equal(route->action, WEBHOOK_START_FLOW);
	assert_ptr_equal(route->flow, flow_catalog_find(greet, NULL, "greet", "1.0.0"));
	assert_string_equal(route->workflow_type, "greet");
	assert_null(route->task_queue);
	webhook_set_free(set);
	assert_non_null(strstr(webhooks_error(HOOK(", \"flow\": \"greet\", \"version\": \"2\""), greet, &err),
	                       "flow: flow \"greet\" has no version \"2\" (loaded: 1.0.0)"));
	portico_error_clear(&err);
	flow_catalog_free(greet);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_an_inline_body_gives_its_definition_and_input),
	        cmocka_unit_test(test_an_inline_definition_may_be_text),
	        cmocka_unit_test(test_a_bad_inline_body_is_refused_with_its_path),
	        cmocka_unit_test(test_an_inline_definition_is_bounded),
	        cmocka_unit_test(test_a_named_flow_takes_any_json_as_input),
	        cmocka_unit_test(test_the_routes_and_their_permissions),
	        cmocka_unit_test(test_a_flow_starts_as_its_contract_says),
	        cmocka_unit_test(test_an_idempotency_key_makes_the_id_of_a_flow_without_one),
	        cmocka_unit_test(test_a_made_workflow_id_is_the_flows_name_and_a_uuid),
	        cmocka_unit_test(test_a_start_refuses_what_it_cannot_name),
	        cmocka_unit_test(test_an_empty_catalog_says_so),
	        cmocka_unit_test(test_a_404_says_what_is_loaded),
	        cmocka_unit_test(test_an_input_is_checked_against_the_flows_schema),
	        cmocka_unit_test(test_a_start_flow_webhook_names_a_loaded_flow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
