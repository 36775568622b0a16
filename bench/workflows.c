/* The C workflows of the workflow benchmark (bench/workflow_bench.py), built into
 * build/bench/libbenchworkflows.so and loaded with `portico-worker --workflows`. Their Python
 * twins, with the same names, arguments and results, are in bench/workflow_bench.py: the bench
 * runs each on its own worker and compares the workers' cost per workflow task.
 *
 *   bench.Loop(activity, task_queue, count): runs `count` activities of type `activity` on
 *     `task_queue` one after the other (each given its index), returns count.
 *   bench.Signals(count): waits until `count` signals "tick" have come, returns count. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "worker.h"

/* More than a benchmark asks for; keeps a mistyped count from making a history Temporal refuses. */
#define MAX_COUNT 100000
/* Generous: the shared activity worker may be busy with the other arm's activities. */
#define ACTIVITY_TIMEOUT_MS 60000

/* What the workflow function returns for a wait that did not complete. */
static int wait_outcome(portico_workflow *wf, int status)
{
	if (status == PORTICO_WAIT_CANCELED)
		return PORTICO_WORKFLOW_CANCELED;
	if (status == PORTICO_WAIT_EVICTED)
		return PORTICO_WORKFLOW_FAILED; /* ignored: the run is torn down and replayed later */
	return portico_workflow_fail(wf, "BenchWaitFailed", 1, "a wait ended with %d", status);
}

/* Argument index as a count in [1, MAX_COUNT], or -1. */
static json_int_t input_count(const portico_workflow *wf, size_t index)
{
	json_t *value = portico_workflow_input_json(wf, index);
	json_int_t count = json_is_integer(value) ? json_integer_value(value) : -1;
	json_decref(value);
	return count >= 1 && count <= MAX_COUNT ? count : -1;
}

static int loop(portico_workflow *wf, void *user_data)
{
	(void)user_data;
	json_t *activity = portico_workflow_input_json(wf, 0);
	json_t *queue = portico_workflow_input_json(wf, 1);
	json_int_t count = input_count(wf, 2);
	int status = PORTICO_WAIT_DONE;
	if (!json_is_string(activity) || !json_is_string(queue) || count < 0) {
		status = portico_workflow_fail(wf, "BadInput", 1, "expected (activity, task queue, count 1 to %d)",
		                               MAX_COUNT);
	} else {
		portico_workflow_activity_options options = {.task_queue = json_string_value(queue),
		                                             .start_to_close_ms = ACTIVITY_TIMEOUT_MS};
		for (json_int_t i = 0; i < count && status == PORTICO_WAIT_DONE; i++) {
			json_t *args = json_pack("[I]", i);
			status = portico_workflow_activity(wf, json_string_value(activity), args, &options, NULL, NULL);
			json_decref(args);
		}
		status = status == PORTICO_WAIT_DONE ? portico_workflow_set_result(wf, json_integer(count))
		                                     : wait_outcome(wf, status);
	}
	json_decref(activity);
	json_decref(queue);
	return status;
}

/* bench.Signals' state, freed with the run (portico_workflow_on_free), not with the function's
 * frame: the handler may run for a signal that comes in the task that ends the function. */
typedef struct signals_state {
	json_int_t expected, received;
} signals_state;

static void on_tick(portico_workflow *wf, json_t *args, void *arg)
{
	(void)wf;
	(void)args;
	signals_state *state = arg;
	state->received++;
}

static int all_received(void *arg)
{
	const signals_state *state = arg;
	return state->received >= state->expected;
}

static int signals(portico_workflow *wf, void *user_data)
{
	(void)user_data;
	json_int_t count = input_count(wf, 0);
	if (count < 0)
		return portico_workflow_fail(wf, "BadInput", 1, "expected (count 1 to %d)", MAX_COUNT);
	signals_state *state = calloc(1, sizeof *state);
	if (!state)
		return portico_workflow_fail(wf, "OutOfMemory", 0, "no memory for the signals' count");
	state->expected = count;
	portico_workflow_on_free(wf, free, state);
	portico_workflow_on_signal(wf, "tick", on_tick, state);
	int status = portico_workflow_wait_condition(wf, all_received, state, -1);
	if (status != PORTICO_WAIT_DONE)
		return wait_outcome(wf, status);
	return portico_workflow_set_result(wf, json_integer(count));
}

void portico_register_workflows(portico_worker *worker)
{
	portico_worker_register_workflow(worker, "bench.Loop", loop, NULL);
	portico_worker_register_workflow(worker, "bench.Signals", signals, NULL);
}
