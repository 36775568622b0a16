/* A workflow task as the worker gets it from Temporal (PollWorkflowTaskQueueResponse as proto3
 * JSON: history events and protocol messages, update requests included), applied by the run
 * engine to a workflow that uses most of the API (signals, a query, a validated update, an
 * activity, a timer, a patch, a side effect), first whole, then split in two applies as a sticky
 * worker would see it. Whatever the task, the engine answers or fails with a message and a
 * problem kind; it never crashes or leaks, and a query after a good apply answers. */
#include <stdint.h>

#include "fuzz.h"
#include "json_parse.h"
#include "json_text.h"
#include "protojson.h"
#include "workflow_run.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

typedef struct state {
	int approved;
	json_int_t amount;
} state;

static void approve(portico_workflow *wf, json_t *args, void *arg)
{
	(void)wf;
	(void)args;
	((state *)arg)->approved = 1;
}

static int approved(void *arg)
{
	return ((state *)arg)->approved;
}

static int query(portico_workflow *wf, json_t *args, json_t **result, char **error, void *arg)
{
	(void)wf;
	(void)args;
	(void)error;
	*result = json_integer(((state *)arg)->amount);
	return 0;
}

static int validate(portico_workflow *wf, json_t *args, char **error, void *arg)
{
	(void)wf;
	(void)arg;
	if (json_is_integer(json_array_get(args, 0)))
		return 0;
	*error = strdup("an integer, please");
	return -1;
}

static int update(portico_workflow *wf, json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)failure;
	portico_workflow_activity_options options = {.start_to_close_ms = 1000};
	if (portico_workflow_activity(wf, "check", args, &options, result, NULL) != PORTICO_WAIT_DONE)
		return -1;
	((state *)arg)->amount = json_integer_value(json_array_get(args, 0));
	return 0;
}

static json_t *side_effect(void *arg)
{
	(void)arg;
	return json_integer(7);
}

static int workflow(portico_workflow *wf, void *user_data)
{
	(void)user_data;
	state *s = calloc(1, sizeof *s);
	portico_workflow_on_free(wf, free, s);
	portico_workflow_on_signal(wf, "approve", approve, s);
	portico_workflow_on_query(wf, "amount", query, s);
	portico_workflow_on_update(wf, "setAmount", update, validate, s);
	json_decref(portico_workflow_side_effect(wf, side_effect, NULL));
	if (portico_workflow_patched(wf, "v2") && portico_workflow_sleep(wf, 1000) == PORTICO_WAIT_EVICTED)
		return PORTICO_WORKFLOW_FAILED;
	json_t *args = json_pack("[i]", 1), *result = NULL;
	portico_workflow_activity_options options = {.start_to_close_ms = 1000};
	int r = portico_workflow_activity(wf, "work", args, &options, &result, NULL);
	json_decref(args);
	if (r == PORTICO_WAIT_EVICTED)
		return PORTICO_WORKFLOW_FAILED;
	json_decref(result);
	r = portico_workflow_wait_condition(wf, approved, s, 60000);
	if (r == PORTICO_WAIT_CANCELED)
		return PORTICO_WORKFLOW_CANCELED;
	return portico_workflow_set_result(wf, json_integer(s->amount));
}

static const workflow_definition definition = {workflow, NULL};

static const workflow_definition *lookup(void *arg, const char *type)
{
	(void)arg;
	return strcmp(type, "Fuzzed") ? NULL : &definition;
}

/* Applies events [0, split) then [split, count); checks the contract of each answer. */
static void apply(Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse *task, size_t split)
{
	workflow_run_options options = {.namespace_name = "default", .lookup = lookup};
	workflow_run *run = workflow_run_new(&options);
	size_t count = task->history ? task->history->n_events : 0;
	workflow_event **events = task->history ? task->history->events : NULL;
	size_t parts[2][2] = {{0, split}, {split, count}};
	for (size_t p = 0; p < 2; p++) {
		workflow_run_problem problem;
		portico_error err = PORTICO_ERROR_INIT;
		int last = p == 1;
		int rc = workflow_run_apply(run, events ? events + parts[p][0] : NULL, parts[p][1] - parts[p][0],
		                            last ? task->messages : NULL, last ? task->n_messages : 0, &problem, &err);
		if (rc && (!err.message || problem == WORKFLOW_RUN_OK))
			fuzz_fail("an apply failed without a message or a problem", err.message);
		if (!rc && problem != WORKFLOW_RUN_OK)
			fuzz_fail("an apply succeeded with a problem", NULL);
		portico_error_clear(&err);
		if (rc)
			break;
		portico_payloads *result = NULL;
		char *error = NULL;
		workflow_run_query(run, "amount", NULL, &result, &error);
		portico_payloads_free(result);
		free(error);
	}
	workflow_run_free(run);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *value = portico_json_parse((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!value)
		return 0;
	portico_protojson_decode_options decode = {.ignore_unknown = 1};
	portico_error err = PORTICO_ERROR_INIT;
	Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse *task =
	        (Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse *)portico_protojson_decode_with(
	                &temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor, value,
	                &decode, &err);
	json_decref(value);
	portico_error_clear(&err);
	if (!task)
		return 0;
	size_t count = task->history ? task->history->n_events : 0;
	apply(task, 0);
	if (count > 1)
		apply(task, count / 2);
	protobuf_c_message_free_unpacked(&task->base, NULL);
	return 0;
}
