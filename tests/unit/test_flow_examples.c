/* The flows of examples/flows (what `make run` loads) load as a catalog, named and versioned as
 * examples/flows/README.md says; and a duration given by a runtime expression (the spec's
 * DurationExpression, which the approval's timer uses) validates when it compiles and is refused
 * at its path when it does not. Run from the tree's root, as make check-unit does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "definition.h"
#include "expr.h"

static void test_the_example_flows_load(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	flow_catalog *catalog = flow_catalog_load("examples/flows", &err);
	if (!catalog)
		fail_msg("examples/flows: %s", err.message);
	static const char *const names[] = {"approval", "github-push", "order-saga"};
	json_t *list = flow_catalog_list(catalog);
	assert_int_equal(json_array_size(list), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *entry = json_array_get(list, i);
		assert_string_equal(json_string_value(json_object_get(entry, "name")), names[i]);
		assert_string_equal(json_string_value(json_object_get(entry, "namespace")), "default");
		assert_string_equal(json_string_value(json_object_get(entry, "version")), "1.0.0");
		assert_non_null(flow_catalog_find(catalog, "default", names[i], NULL));
	}
	json_decref(list);
	flow_catalog_free(catalog);
}

/* A one-task flow that waits for wait (a JSON value), validated: 0 or -1 with err. */
static int validate_wait(const char *wait, portico_error *err)
{
	char text[512];
	snprintf(text, sizeof text,
	         "{\"document\": {\"dsl\": \"1.0.0\", \"namespace\": \"test\", \"name\": \"pause\", \"version\": "
	         "\"1.0.0\"},"
	         " \"do\": [{\"pause\": {\"wait\": %s}}]}",
	         wait);
	json_t *document = flow_parse(text, strlen(text), err);
	assert_non_null(document);
	int status = flow_validate(document, NULL, err);
	json_decref(document);
	return status;
}

static void test_a_duration_may_be_an_expression(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(validate_wait("\"${ \\\"PT\\\\(.seconds)S\\\" }\"", &err), 0);
	assert_int_equal(validate_wait("\"${ {seconds: .seconds} }\"", &err), 0);
	assert_int_equal(validate_wait("\"PT2S\"", &err), 0);

	assert_int_equal(validate_wait("\"${ .seconds + }\"", &err), -1);
	assert_non_null(strstr(err.message, "/do/0/pause/wait"));
	portico_error_clear(&err);
	assert_int_equal(validate_wait("\"two seconds\"", &err), -1);
	assert_non_null(strstr(err.message, "/do/0/pause/wait: expected a duration"));
	portico_error_clear(&err);
}

static int teardown(void **state)
{
	(void)state;
	flow_expr_stop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_the_example_flows_load),
	        cmocka_unit_test(test_a_duration_may_be_an_expression),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
