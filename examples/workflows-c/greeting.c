/* c.Greeting: a C workflow calling an activity that another SDK's worker runs. Given a name and a
 * task queue, ["Ada", "portico-tests"], it asks the activity "shout" on that queue (a Python one,
 * tests/integration/workflows.py: "Ada" -> "ADA!") and returns "Hello, ADA!". sdk/README.md
 * shows it as the first example of a workflow in C. */
#include "workflows.h"

int greeting_workflow(portico_workflow *wf, void *user_data)
{
	(void)user_data;
	json_t *name = portico_workflow_input_json(wf, 0), *queue = portico_workflow_input_json(wf, 1);
	if (!json_is_string(name) || !json_is_string(queue)) {
		json_decref(name);
		json_decref(queue);
		return portico_workflow_fail(wf, "InvalidInput", 1, "expected a name and the task queue of \"shout\"");
	}
	const portico_workflow_activity_options options = {.task_queue = json_string_value(queue),
	                                                   .start_to_close_ms = 10000};
	json_t *args = json_pack("[O]", name), *shouted = NULL;
	portico_workflow_failure *failure = NULL;
	int outcome = portico_workflow_activity(wf, "shout", args, &options, &shouted, &failure);
	json_decref(args);
	json_decref(name);
	json_decref(queue);
	switch (outcome) {
	case PORTICO_WAIT_DONE:
		outcome = portico_workflow_set_result(wf, json_sprintf("Hello, %s", json_string_value(shouted) ?: ""));
		json_decref(shouted);
		return outcome;
	case PORTICO_WAIT_FAILED:
		return portico_workflow_fail_with(wf, failure);
	default: /* cancelled; or evicted, when what it returns is not read */
		return PORTICO_WORKFLOW_CANCELED;
	}
}
