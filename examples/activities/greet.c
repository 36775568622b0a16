/* A C activity added through the extension point (examples/c-activity/README.md): a .c file in
 * examples/activities/ becomes build/examples/lib<name>.so on `make`, and
 *   build/portico-worker --activities build/examples/libgreet.so
 * runs what its portico_register_activities registers.
 *
 * example.greet {"name": "Ada"} -> {"greeting": "Hello, Ada!"}; a missing or empty name fails
 * for good (InvalidName), since retrying cannot fix it. */
#include "worker.h"

static int greet(portico_activity *activity, void *user_data)
{
	(void)user_data;
	json_t *input = portico_activity_input_json(activity, 0);
	const char *name = json_string_value(json_object_get(input, "name"));
	if (!name || !*name) {
		json_decref(input);
		return portico_activity_fail(activity, "InvalidName", 1, 0, "expected {\"name\": \"…\"}");
	}
	int outcome =
	        portico_activity_set_result_json(activity, json_pack("{s:s++}", "greeting", "Hello, ", name, "!"));
	json_decref(input);
	return outcome;
}

void portico_register_activities(portico_worker *worker)
{
	portico_worker_register(worker, "example.greet", greet, NULL);
}
