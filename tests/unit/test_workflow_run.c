/* The run engine against histories written by hand: new commands, replay, sticky continuation,
 * non-determinism, signals, updates, queries, timers, cancellation, patches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_assert.h"

#include "json_text.h"
#include "protojson.h"
#include "workflow_run.h"
#include "temporal/api/history/v1/message.pb-c.h"

typedef Temporal__Api__History__V1__History history;

/* ---- Workflows -------------------------------------------------------------------------------- */

static const char *activity_type = "greet";

static int greeting(portico_workflow *wf, void *arg)
{
	(void)arg;
	json_t *name = portico_workflow_input_json(wf, 0);
	json_t *args = json_pack("[o]", name ? name : json_null());
	portico_workflow_activity_options options = {.start_to_close_ms = 10000};
	json_t *result = NULL;
	portico_workflow_failure *failure = NULL;
	int r = portico_workflow_activity(wf, activity_type, args, &options, &result, &failure);
	json_decref(args);
	if (r == PORTICO_WAIT_FAILED) {
		const portico_workflow_failure *root = portico_workflow_failure_root(failure);
		int rc = portico_workflow_fail(wf, root->type, 1, "greeting failed: %s", root->message);
		portico_workflow_failure_free(failure);
		return rc;
	}
	if (r != PORTICO_WAIT_DONE)
		return PORTICO_WORKFLOW_CANCELED;
	return portico_workflow_set_result(wf, result);
}

typedef struct approval {
	const char *status;
	json_t *amount;
} approval;

static void on_approve(portico_workflow *wf, json_t *args, void *arg)
{
	(void)wf;
	(void)args;
	approval *a = arg;
	if (!strcmp(a->status, "pending"))
		a->status = "approved";
}

static int decided(void *arg)
{
	return strcmp(((approval *)arg)->status, "pending") != 0;
}

static int state(portico_workflow *wf, json_t *args, json_t **result, char **error, void *arg)
{
	(void)wf;
	(void)args;
	(void)error;
	approval *a = arg;
	*result = json_pack("{s:s,s:O}", "status", a->status, "amount", a->amount);
	return 0;
}

static int validate_amount(portico_workflow *wf, json_t *args, char **error, void *arg)
{
	(void)wf;
	(void)arg;
	json_t *amount = json_array_get(args, 0);
	if (json_is_number(amount) && json_number_value(amount) > 0)
		return 0;
	*error = strdup("amount must be above 0");
	return -1;
}

static int set_amount(portico_workflow *wf, json_t *args, json_t **result, portico_workflow_failure **failure,
                      void *arg)
{
	(void)wf;
	(void)failure;
	approval *a = arg;
	json_decref(a->amount);
	a->amount = json_incref(json_array_get(args, 0));
	*result = json_incref(a->amount);
	return 0;
}

static void approval_free(void *state)
{
	json_decref(((approval *)state)->amount);
	free(state);
}

static int approval_workflow(portico_workflow *wf, void *arg)
{
	(void)arg;
	approval *a = calloc(1, sizeof *a);
	portico_workflow_on_free(wf, approval_free, a);
	a->status = "pending";
	a->amount = json_integer(10);
	portico_workflow_on_signal(wf, "approve", on_approve, a);
	portico_workflow_on_query(wf, "state", state, a);
	portico_workflow_on_update(wf, "setAmount", set_amount, validate_amount, a);
	int r = portico_workflow_wait_condition(wf, decided, a, 60000);
	if (r == PORTICO_WAIT_EVICTED)
		return PORTICO_WORKFLOW_CANCELED;
	if (r == PORTICO_WAIT_TIMEOUT)
		a->status = "expired";
	return portico_workflow_set_result(wf, json_pack("{s:s,s:O}", "status", a->status, "amount", a->amount));
}

static int patched_workflow(portico_workflow *wf, void *arg)
{
	(void)arg;
	int patched = portico_workflow_patched(wf, "v2");
	return portico_workflow_set_result(wf, json_boolean(patched));
}

/* A saga: step "a", then "b"; cancelled during "b", it undoes "a" with "undo.a" and ends cancelled. */
static int saga(portico_workflow *wf, void *arg)
{
	(void)arg;
	portico_workflow_activity_options options = {.start_to_close_ms = 10000};
	json_t *none = json_array();
	int r = portico_workflow_activity(wf, "a", none, &options, NULL, NULL);
	if (r == PORTICO_WAIT_DONE)
		r = portico_workflow_activity(wf, "b", none, &options, NULL, NULL);
	if (r == PORTICO_WAIT_CANCELED) {
		assert_true(portico_workflow_cancel_requested(wf));
		r = portico_workflow_activity(wf, "undo.a", none, &options, NULL, NULL);
		json_decref(none);
		return r == PORTICO_WAIT_DONE ? PORTICO_WORKFLOW_CANCELED : PORTICO_WORKFLOW_FAILED;
	}
	json_decref(none);
	return r == PORTICO_WAIT_DONE ? PORTICO_WORKFLOW_COMPLETED : PORTICO_WORKFLOW_FAILED;
}

/* The first decision wins; the handlers are registered "approve" first. */
static void decide_approve(portico_workflow *wf, json_t *args, void *arg)
{
	(void)wf;
	(void)args;
	const char **decision = arg;
	if (!*decision)
		*decision = "approved";
}

static void decide_reject(portico_workflow *wf, json_t *args, void *arg)
{
	(void)wf;
	(void)args;
	const char **decision = arg;
	if (!*decision)
		*decision = "rejected";
}

static int decision_made(void *arg)
{
	return *(const char **)arg != NULL;
}

static int decide_workflow(portico_workflow *wf, void *arg)
{
	(void)arg;
	const char **decision = calloc(1, sizeof *decision);
	portico_workflow_on_free(wf, free, decision);
	portico_workflow_on_signal(wf, "approve", decide_approve, decision);
	portico_workflow_on_signal(wf, "reject", decide_reject, decision);
	if (portico_workflow_wait_condition(wf, decision_made, decision, -1) != PORTICO_WAIT_DONE)
		return PORTICO_WORKFLOW_CANCELED;
	return portico_workflow_set_result(wf, json_string(*decision));
}

/* Ignores its eviction: sleeps again whatever sleeping returns. */
static int stubborn(portico_workflow *wf, void *arg)
{
	(void)arg;
	while (portico_workflow_sleep(wf, 1000) != PORTICO_WAIT_DONE)
		;
	return PORTICO_WORKFLOW_COMPLETED;
}

static const workflow_definition definitions[] = {{greeting, NULL}, {approval_workflow, NULL}, {patched_workflow, NULL},
                                                  {saga, NULL},     {decide_workflow, NULL},   {stubborn, NULL}};

static const char *const names[] = {"Greeting", "Approval", "Patched", "Saga", "Decide", "Stubborn"};

static const workflow_definition *lookup(void *arg, const char *type)
{
	(void)arg;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(type, names[i]))
			return &definitions[i];
	return NULL;
}

/* ---- Histories -------------------------------------------------------------------------------- */

static history *history_of(const char *events_json)
{
	json_t *value = parse(events_json);
	portico_error err = PORTICO_ERROR_INIT;
	history *h = (history *)portico_protojson_decode(&temporal__api__history__v1__history__descriptor, value, &err);
	if (!h)
		fail_msg("history does not decode: %s", err.message);
	json_decref(value);
	return h;
}

static workflow_run *new_run(void)
{
	workflow_run_options options = {.namespace_name = "default", .lookup = lookup};
	return workflow_run_new(&options);
}

/* Applies events [from, to) of h (1-based event ids). */
static int apply_range(workflow_run *run, history *h, size_t from, size_t to, workflow_run_problem *problem,
                       char **message)
{
	portico_error err = PORTICO_ERROR_INIT;
	int rc = workflow_run_apply(run, h->events + from - 1, to - from, NULL, 0, problem, &err);
	if (message)
		*message = rc ? strdup(err.message) : NULL;
	portico_error_clear(&err);
	return rc;
}

#define STARTED(type, input)                                                                                           \
	"{\"eventId\":\"1\",\"eventTime\":\"2026-11-30T00:00:00Z\",\"eventType\":\"EVENT_TYPE_WORKFLOW_EXECUTION_"     \
	"STARTED\","                                                                                                   \
	"\"workflowExecutionStartedEventAttributes\":{\"workflowType\":{\"name\":\"" type "\"},"                       \
	"\"taskQueue\":{\"name\":\"q\"},\"input\":" input ",\"originalExecutionRunId\":\"run-1\","                     \
	"\"firstExecutionRunId\":\"run-1\",\"workflowId\":\"wf-1\",\"attempt\":1}}"
#define TASK(s, st, c)                                                                                                 \
	"{\"eventId\":\"" #s "\",\"eventType\":\"EVENT_TYPE_WORKFLOW_TASK_SCHEDULED\","                                \
	"\"workflowTaskScheduledEventAttributes\":{}},"                                                                \
	"{\"eventId\":\"" #st                                                                                          \
	"\",\"eventTime\":\"2026-11-30T00:00:01Z\",\"eventType\":\"EVENT_TYPE_WORKFLOW_TASK_STARTED\","                \
	"\"workflowTaskStartedEventAttributes\":{\"scheduledEventId\":\"" #s "\"}},"                                   \
	"{\"eventId\":\"" #c "\",\"eventType\":\"EVENT_TYPE_WORKFLOW_TASK_COMPLETED\","                                \
	"\"workflowTaskCompletedEventAttributes\":{\"scheduledEventId\":\"" #s "\"}}"

static const char *greeting_history(const char *scheduled_type)
{
	static char buffer[4096];
	snprintf(buffer, sizeof buffer,
	         "{\"events\":[" STARTED("Greeting", "[\"Ada\"]") "," TASK(
	                 2, 3,
	                 4) ","
	                    "{\"eventId\":\"5\",\"eventType\":\"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED\","
	                    "\"activityTaskScheduledEventAttributes\":{\"activityId\":\"1\",\"activityType\":{\"name\":"
	                    "\"%s\"},"
	                    "\"taskQueue\":{\"name\":\"q\"}}},"
	                    "{\"eventId\":\"6\",\"eventType\":\"EVENT_TYPE_ACTIVITY_TASK_STARTED\","
	                    "\"activityTaskStartedEventAttributes\":{\"scheduledEventId\":\"5\"}},"
	                    "{\"eventId\":\"7\",\"eventType\":\"EVENT_TYPE_ACTIVITY_TASK_COMPLETED\","
	                    "\"activityTaskCompletedEventAttributes\":{\"scheduledEventId\":\"5\",\"result\":[\"Hello, "
	                    "Ada!\"]}}," TASK(
	                            8, 9,
	                            10) ","
	                                "{\"eventId\":\"11\",\"eventType\":\"EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED\","
	                                "\"workflowExecutionCompletedEventAttributes\":{\"result\":[\"Hello, "
	                                "Ada!\"]}}]}",
	         scheduled_type);
	return buffer;
}

static void test_a_new_run_schedules_then_completes_as_the_task_goes(void **state)
{
	(void)state;
	history *h = history_of(greeting_history("greet"));
	workflow_run *run = new_run();
	workflow_run_problem problem;
	assert_int_equal(apply_range(run, h, 1, 4, &problem, NULL), 0); /* start, task scheduled, started */
	const workflow_run_output *out = workflow_run_output_get(run);
	assert_int_equal(out->command_count, 1);
	assert_int_equal(out->commands[0]->command_type,
	                 TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK);
	assert_string_equal(out->commands[0]->schedule_activity_task_command_attributes->activity_type->name, "greet");
	assert_int_equal(workflow_run_last_event_id(run), 3);
	/* The sticky task: our command recorded, the activity's outcome, the next task. */
	assert_int_equal(apply_range(run, h, 4, 10, &problem, NULL), 0);
	out = workflow_run_output_get(run);
	assert_int_equal(out->command_count, 1);
	assert_int_equal(out->commands[0]->command_type,
	                 TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
	assert_true(workflow_run_closed(run));
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_a_whole_history_replays(void **state)
{
	(void)state;
	history *h = history_of(greeting_history("greet"));
	workflow_run *run = new_run();
	workflow_run_problem problem;
	assert_int_equal(apply_range(run, h, 1, 12, &problem, NULL), 0);
	assert_int_equal(workflow_run_output_get(run)->command_count, 0);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_another_activity_type_is_nondeterminism_naming_the_event(void **state)
{
	(void)state;
	history *h = history_of(greeting_history("order.charge"));
	workflow_run *run = new_run();
	workflow_run_problem problem;
	char *message;
	assert_int_equal(apply_range(run, h, 1, 12, &problem, &message), -1);
	assert_int_equal(problem, WORKFLOW_RUN_NONDETERMINISM);
	assert_non_null(strstr(message, "event 5 ActivityTaskScheduled"));
	assert_non_null(strstr(message, "order.charge"));
	assert_non_null(strstr(message, "type greet"));
	free(message);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_an_unregistered_type_is_named(void **state)
{
	(void)state;
	history *h = history_of("{\"events\":[" STARTED("Nope", "[]") "," TASK(2, 3, 4) "]}");
	workflow_run *run = new_run();
	workflow_run_problem problem;
	char *message;
	assert_int_equal(apply_range(run, h, 1, 4, &problem, &message), -1);
	assert_int_equal(problem, WORKFLOW_RUN_UNREGISTERED);
	assert_non_null(strstr(message, "\"Nope\""));
	free(message);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_a_gap_in_events_is_bad_history(void **state)
{
	(void)state;
	history *h = history_of(greeting_history("greet"));
	workflow_run *run = new_run();
	workflow_run_problem problem;
	assert_int_equal(apply_range(run, h, 1, 4, &problem, NULL), 0);
	assert_int_equal(apply_range(run, h, 5, 10, &problem, NULL), -1);
	assert_int_equal(problem, WORKFLOW_RUN_BAD_HISTORY);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static json_t *query(workflow_run *run, const char *name)
{
	portico_payloads *result = NULL;
	char *error = NULL;
	assert_int_equal(workflow_run_query(run, name, NULL, &result, &error), 0);
	json_t *value = NULL;
	free(portico_payload_read_json(result->payloads[0], &value));
	portico_payloads_free(result);
	return value;
}

static void test_a_signal_ends_the_wait_and_queries_see_the_state(void **state)
{
	(void)state;
	history *h = history_of("{\"events\":[" STARTED("Approval", "[{}]") "," TASK(
	        2, 3, 4) ","
	                 "{\"eventId\":\"5\",\"eventType\":\"EVENT_TYPE_TIMER_STARTED\","
	                 "\"timerStartedEventAttributes\":{\"timerId\":\"1\",\"startToFireTimeout\":\"60s\"}},"
	                 "{\"eventId\":\"6\",\"eventType\":\"EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED\","
	                 "\"workflowExecutionSignaledEventAttributes\":{\"signalName\":\"approve\",\"input\":[{}]}},"
	                 "{\"eventId\":\"7\",\"eventType\":\"EVENT_TYPE_WORKFLOW_TASK_SCHEDULED\","
	                 "\"workflowTaskScheduledEventAttributes\":{}},"
	                 "{\"eventId\":\"8\",\"eventTime\":\"2026-11-30T00:00:05Z\",\"eventType\":"
	                 "\"EVENT_TYPE_WORKFLOW_TASK_STARTED\",\"workflowTaskStartedEventAttributes\":{}}]}");
	workflow_run *run = new_run();
	workflow_run_problem problem;
	assert_int_equal(apply_range(run, h, 1, 4, &problem, NULL), 0);
	const workflow_run_output *out = workflow_run_output_get(run);
	assert_int_equal(out->command_count, 1);
	assert_int_equal(out->commands[0]->command_type,
	                 TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_START_TIMER);
	json_t *s = query(run, "state");
	assert_string_equal(json_string_value(json_object_get(s, "status")), "pending");
	json_decref(s);
	assert_int_equal(apply_range(run, h, 4, 9, &problem, NULL), 0);
	out = workflow_run_output_get(run);
	/* The timer is cancelled, then the run completes. */
	assert_int_equal(out->command_count, 2);
	assert_int_equal(out->commands[0]->command_type,
	                 TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CANCEL_TIMER);
	assert_int_equal(out->commands[1]->command_type,
	                 TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
	s = query(run, "state");
	assert_string_equal(json_string_value(json_object_get(s, "status")), "approved");
	json_decref(s);
	json_t *trace = query(run, "__stack_trace");
	assert_true(json_is_string(trace));
	json_decref(trace);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static workflow_message *update_request_message(const char *id, const char *update_id, const char *args_json)
{
	Temporal__Api__Update__V1__Request request = TEMPORAL__API__UPDATE__V1__REQUEST__INIT;
	Temporal__Api__Update__V1__Meta meta = TEMPORAL__API__UPDATE__V1__META__INIT;
	Temporal__Api__Update__V1__Input input = TEMPORAL__API__UPDATE__V1__INPUT__INIT;
	meta.update_id = (char *)update_id;
	input.name = "setAmount";
	input.args = portico_payloads_from_json_text(args_json, "args", NULL);
	request.meta = &meta;
	request.input = &input;
	workflow_message *m = calloc(1, sizeof *m);
	temporal__api__protocol__v1__message__init(m);
	m->id = strdup(id);
	m->protocol_instance_id = strdup(update_id);
	m->sequencing_id_case = TEMPORAL__API__PROTOCOL__V1__MESSAGE__SEQUENCING_ID_EVENT_ID;
	m->event_id = 3;
	m->body = calloc(1, sizeof *m->body);
	google__protobuf__any__init(m->body);
	m->body->type_url = strdup("type.googleapis.com/temporal.api.update.v1.Request");
	m->body->value.len = protobuf_c_message_get_packed_size(&request.base);
	m->body->value.data = malloc(m->body->value.len);
	protobuf_c_message_pack(&request.base, m->body->value.data);
	portico_payloads_free(input.args);
	return m;
}

static void test_updates_are_validated_then_accepted_and_answered(void **state)
{
	(void)state;
	history *h = history_of("{\"events\":[" STARTED(
	        "Approval", "[{}]") ","
	                            "{\"eventId\":\"2\",\"eventType\":\"EVENT_TYPE_WORKFLOW_TASK_SCHEDULED\","
	                            "\"workflowTaskScheduledEventAttributes\":{}},"
	                            "{\"eventId\":\"3\",\"eventType\":\"EVENT_TYPE_WORKFLOW_TASK_STARTED\","
	                            "\"workflowTaskStartedEventAttributes\":{}}]}");
	workflow_run *run = new_run();
	workflow_run_problem problem;
	portico_error err = PORTICO_ERROR_INIT;
	workflow_message *messages[2] = {update_request_message("m1", "u-bad", "[-5]"),
	                                 update_request_message("m2", "u-good", "[42]")};
	assert_int_equal(workflow_run_apply(run, h->events, 3, messages, 2, &problem, &err), 0);
	const workflow_run_output *out = workflow_run_output_get(run);
	/* Rejection (no command), acceptance and response of the good one (two protocol commands), timer. */
	assert_int_equal(out->message_count, 3);
	assert_string_equal(out->messages[0]->id, "m1/reject");
	assert_string_equal(out->messages[1]->id, "m2/accept");
	assert_string_equal(out->messages[2]->id, "m2/complete");
	size_t protocol = 0;
	for (size_t i = 0; i < out->command_count; i++)
		protocol += out->commands[i]->command_type ==
		            TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_PROTOCOL_MESSAGE;
	assert_int_equal(protocol, 2);
	json_t *s = query(run, "state");
	assert_int_equal(json_integer_value(json_object_get(s, "amount")), 42);
	json_decref(s);
	for (size_t i = 0; i < 2; i++)
		protobuf_c_message_free_unpacked(&messages[i]->base, NULL);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_patches_are_taken_by_new_runs_and_not_by_old_histories(void **state)
{
	(void)state;
	const char *old = "{\"events\":[" STARTED("Patched", "[]") "," TASK(
	        2, 3, 4) ","
	                 "{\"eventId\":\"5\",\"eventType\":\"EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED\","
	                 "\"workflowExecutionCompletedEventAttributes\":{\"result\":[false]}}]}";
	history *h = history_of(old);
	workflow_run *run = new_run();
	workflow_run_problem problem;
	assert_int_equal(apply_range(run, h, 1, 6, &problem, NULL), 0); /* replays: no marker, old path */
	workflow_run_free(run);
	run = new_run();
	assert_int_equal(apply_range(run, h, 1, 4, &problem, NULL), 0); /* new: marker, then complete(true) */
	const workflow_run_output *out = workflow_run_output_get(run);
	assert_int_equal(out->command_count, 2);
	assert_int_equal(out->commands[0]->command_type,
	                 TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_RECORD_MARKER);
	assert_string_equal(out->commands[0]->record_marker_command_attributes->marker_name, "core_patch");
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

/* "{...event...}" with id, type and attributes (the attributes' JSON name and value). */
#define EVENT(id, type, attrs, value)                                                                                  \
	"{\"eventId\":\"" #id "\",\"eventType\":\"EVENT_TYPE_" type "\",\"" attrs "\":" value "}"
#define SCHEDULED(id, activity_id, type)                                                                               \
	EVENT(id, "ACTIVITY_TASK_SCHEDULED", "activityTaskScheduledEventAttributes",                                   \
	      "{\"activityId\":\"" activity_id "\",\"activityType\":{\"name\":\"" type "\"}}")
#define ACTIVITY_DONE(id, started, scheduled)                                                                          \
	EVENT(started, "ACTIVITY_TASK_STARTED", "activityTaskStartedEventAttributes",                                  \
	      "{\"scheduledEventId\":\"" #scheduled "\"}")                                                             \
	"," EVENT(id, "ACTIVITY_TASK_COMPLETED", "activityTaskCompletedEventAttributes",                               \
	          "{\"scheduledEventId\":\"" #scheduled "\"}")

static const char saga_history[] =
        "{\"events\":[" STARTED("Saga", "[]") "," TASK(2, 3, 4) "," SCHEDULED(5, "1", "a") "," ACTIVITY_DONE(7, 6, 5) "," TASK(8, 9, 10) "," SCHEDULED(11, "2", "b") "," EVENT(
                12, "ACTIVITY_TASK_STARTED", "activityTaskStartedEventAttributes",
                "{\"scheduledEventId\":\"11\"}") "," EVENT(13, "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
                                                           "workflowExecutionCancelRequestedEventAttributes",
                                                           "{}") "," TASK(14, 15,
                                                                          16) "," EVENT(17,
                                                                                        "ACTIVITY_TASK_CANCEL_"
                                                                                        "REQUESTED",
                                                                                        "activityTaskCancelRequeste"
                                                                                        "dEventAttributes",
                                                                                        "{\"scheduledEventId\":"
                                                                                        "\"11\"}") "," SCHEDULED(18,
                                                                                                                 "3",
                                                                                                                 "u"
                                                                                                                 "n"
                                                                                                                 "d"
                                                                                                                 "o"
                                                                                                                 "."
                                                                                                                 "a") "," ACTIVITY_DONE(20,
                                                                                                                                        19,
                                                                                                                                        18) "," TASK(21,
                                                                                                                                                     22,
                                                                                                                                                     23) "," EVENT(24,
                                                                                                                                                                   "WORKFLOW_EXECUTION_CANCELED",
                                                                                                                                                                   "workflowExecutionCanceledEventAttributes",
                                                                                                                                                                   "{}") "]}";

static void test_a_cancelled_saga_cancels_its_step_compensates_and_ends_cancelled(void **state)
{
	(void)state;
	history *h = history_of(saga_history);
	workflow_run *run = new_run();
	workflow_run_problem problem;
	assert_int_equal(apply_range(run, h, 1, 16, &problem, NULL), 0);
	const workflow_run_output *out = workflow_run_output_get(run);
	assert_int_equal(out->command_count, 2);
	assert_int_equal(out->commands[0]->command_type,
	                 TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK);
	assert_int_equal(out->commands[0]->request_cancel_activity_task_command_attributes->scheduled_event_id, 11);
	assert_string_equal(out->commands[1]->schedule_activity_task_command_attributes->activity_type->name, "undo.a");
	assert_int_equal(apply_range(run, h, 16, 23, &problem, NULL), 0);
	out = workflow_run_output_get(run);
	assert_int_equal(out->command_count, 1);
	assert_int_equal(out->commands[0]->command_type,
	                 TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION);
	workflow_run_free(run);
	run = new_run(); /* the whole history replays */
	assert_int_equal(apply_range(run, h, 1, 25, &problem, NULL), 0);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_signals_before_the_handlers_reach_them_in_the_order_they_came(void **state)
{
	(void)state;
	history *h = history_of("{\"events\":[" STARTED("Decide", "[]") "," EVENT(
	        2, "WORKFLOW_EXECUTION_SIGNALED", "workflowExecutionSignaledEventAttributes",
	        "{\"signalName\":\"reject\"}") "," EVENT(3, "WORKFLOW_EXECUTION_SIGNALED",
	                                                 "workflowExecutionSignaledEventAttributes",
	                                                 "{\"signalName\":\"approve\"}") "," TASK(4, 5, 6) "]}");
	workflow_run *run = new_run();
	workflow_run_problem problem;
	assert_int_equal(apply_range(run, h, 1, 6, &problem, NULL), 0);
	const workflow_run_output *out = workflow_run_output_get(run);
	assert_int_equal(out->command_count, 1);
	json_t *result =
	        portico_payloads_first_value(out->commands[0]->complete_workflow_execution_command_attributes->result);
	assert_json_equal(result, "\"rejected\"");
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_a_workflow_that_ignores_its_eviction_is_abandoned_not_waited_for(void **state)
{
	(void)state;
	history *h = history_of("{\"events\":[" STARTED("Stubborn", "[]") "," TASK(2, 3, 4) "]}");
	workflow_run *run = new_run();
	workflow_run_problem problem;
	assert_int_equal(apply_range(run, h, 1, 4, &problem, NULL), 0);
	workflow_run_free(run); /* returns: the coroutine is abandoned after its 64th sleep */
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void test_a_command_history_never_recorded_is_nondeterminism_at_the_end(void **state)
{
	(void)state;
	/* The greeting schedules its activity, but this history's first task recorded nothing and
	 * the run went on (a signal came). */
	history *h = history_of("{\"events\":[" STARTED("Greeting", "[\"Ada\"]") "," TASK(2, 3, 4) "," EVENT(
	        5, "WORKFLOW_EXECUTION_SIGNALED", "workflowExecutionSignaledEventAttributes",
	        "{\"signalName\":\"x\"}") "]}");
	workflow_run *run = new_run();
	workflow_run_problem problem;
	char *message;
	assert_int_equal(apply_range(run, h, 1, 6, &problem, &message), -1);
	assert_int_equal(problem, WORKFLOW_RUN_NONDETERMINISM);
	assert_non_null(strstr(message, "ScheduleActivityTask"));
	free(message);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_a_new_run_schedules_then_completes_as_the_task_goes),
	        cmocka_unit_test(test_a_whole_history_replays),
	        cmocka_unit_test(test_another_activity_type_is_nondeterminism_naming_the_event),
	        cmocka_unit_test(test_an_unregistered_type_is_named),
	        cmocka_unit_test(test_a_gap_in_events_is_bad_history),
	        cmocka_unit_test(test_a_signal_ends_the_wait_and_queries_see_the_state),
	        cmocka_unit_test(test_updates_are_validated_then_accepted_and_answered),
	        cmocka_unit_test(test_patches_are_taken_by_new_runs_and_not_by_old_histories),
	        cmocka_unit_test(test_a_cancelled_saga_cancels_its_step_compensates_and_ends_cancelled),
	        cmocka_unit_test(test_signals_before_the_handlers_reach_them_in_the_order_they_came),
	        cmocka_unit_test(test_a_workflow_that_ignores_its_eviction_is_abandoned_not_waited_for),
	        cmocka_unit_test(test_a_command_history_never_recorded_is_nondeterminism_at_the_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
