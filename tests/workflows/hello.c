/* A C workflow for the workflow worker's integration test (test_c_workflow_worker.py):
 * c.Hello(name) greets name with the example.greet activity ({"name": name}) (examples/activities/greet.c), then
 * waits for the signal "proceed" and returns the greeting with what the signal brought. Its query
 * "state" says where it stands, so that the test can kill the worker while it waits.
 * With HELLO_SLEEP_FIRST set in the worker's environment, the code sleeps before the greeting: a
 * change that is not deterministic for the runs started without it, which the test shows failing
 * their workflow tasks (not the workflows). */
#include <stddef.h>
#include <stdlib.h>

#include <jansson.h>

#include "worker.h"

typedef struct hello {
	const char *stage; /* "greeting", then "waiting" */
	json_t *greeting;  /* the activity's result once it came */
} hello;

static int state(portico_workflow *wf, json_t *args, json_t **result, char **error, void *arg)
{
	(void)wf;
	(void)args;
	(void)error;
	const hello *h = arg;
	*result = h ? json_pack("{s:s,s:O?}", "stage", h->stage, "greeting", h->greeting)
	            : json_pack("{s:s}", "stage", "ended");
	return 0;
}

/* The state lives on the workflow's stack, and a query may come after the run has ended (a query
 * of a closed workflow replays it): the handler must not point there any more. */
static int end(portico_workflow *wf, int outcome)
{
	portico_workflow_on_query(wf, "state", state, NULL);
	return outcome;
}

static int run(portico_workflow *wf, void *user_data)
{
	const int *sleep_first = user_data;
	hello h = {"greeting", NULL};
	portico_workflow_on_query(wf, "state", state, &h);
	if (*sleep_first && portico_workflow_sleep(wf, 1) != PORTICO_WAIT_DONE)
		return end(wf, PORTICO_WORKFLOW_FAILED);
	json_t *name = portico_workflow_input_json(wf, 0);
	json_t *args = json_pack("[{s:o}]", "name", name ? name : json_null()); /* takes name */
	portico_workflow_activity_options options = {.start_to_close_ms = 10000};
	portico_workflow_failure *failure = NULL;
	int status = portico_workflow_activity(wf, "example.greet", args, &options, &h.greeting, &failure);
	json_decref(args);
	if (status == PORTICO_WAIT_FAILED) {
		portico_workflow_failure_free(failure);
		return end(wf, portico_workflow_fail(wf, "GreetFailed", 1, "the greeting failed"));
	}
	if (status != PORTICO_WAIT_DONE)
		return end(wf, status == PORTICO_WAIT_CANCELED ? PORTICO_WORKFLOW_CANCELED : PORTICO_WORKFLOW_FAILED);
	h.stage = "waiting";
	json_t *signal = NULL;
	status = portico_workflow_signal_receive(wf, "proceed", &signal, -1);
	if (status != PORTICO_WAIT_DONE) {
		json_decref(h.greeting);
		return end(wf, status == PORTICO_WAIT_CANCELED ? PORTICO_WORKFLOW_CANCELED : PORTICO_WORKFLOW_FAILED);
	}
	json_t *result = json_pack("{s:o,s:o}", "greeting", h.greeting, "signal", signal);
	return end(wf, portico_workflow_set_result(wf, result));
}

void portico_register_workflows(portico_worker *worker)
{
	static int sleep_first;
	sleep_first = getenv("HELLO_SLEEP_FIRST") != NULL;
	portico_worker_register_workflow(worker, "c.Hello", run, &sleep_first);
}
