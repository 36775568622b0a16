/* c.OrderSaga: the order saga of examples/saga (examples/workflows/order_saga.py) in C, with the
 * same input, results, query and failures. Reserve, charge, ship: each a C activity on Portico's
 * worker (task queue "portico", examples/activities/order.c). When a step fails, the steps done so
 * far are undone in reverse order (refund, then release) and the workflow returns what happened;
 * the query "progress" shows the steps as they go. A saga cancelled half-way undoes what it did,
 * then ends as cancelled.
 *
 * A step's compensation is noted before the step runs: a step that timed out may still have done
 * its work, so it is undone too. Only a step that refused outright (a non-retryable failure of
 * its own) is known to have done nothing. */
#include <string.h>

#include "workflows.h"

#define PORTICO_TASK_QUEUE "portico"

typedef struct saga_step {
	const char *name;         /* what "failAt" and the progress call it */
	const char *activity;     /* what does it */
	const char *compensation; /* what undoes it; NULL when nothing does */
} saga_step;

static const saga_step steps[] = {
        {"reserve", "order.reserve", "order.release"},
        {"charge", "order.charge", "order.refund"},
        {"ship", "order.ship", NULL},
};

#define STEP_COUNT (sizeof steps / sizeof steps[0])

/* What the progress says once an activity is done. */
static const struct {
	const char *activity, *done;
} done_words[] = {{"order.reserve", "reserved"},
                  {"order.charge", "charged"},
                  {"order.ship", "shipped"},
                  {"order.release", "released"},
                  {"order.refund", "refunded"}};

static const portico_retry_policy step_retries = {.initial_interval_ms = 1000, .maximum_attempts = 5};
/* Python's RetryPolicy(): every compensation is retried until it succeeds. */
static const portico_retry_policy compensation_retries = {.initial_interval_ms = 1000, .backoff_coefficient = 2.0};

/* One run's state. */
typedef struct saga {
	json_t *order;    /* the input */
	json_t *progress; /* an array of strings: what the query "progress" answers; the run frees it
	                   * when it ends, since a closed workflow still answers queries */
} saga;

static void note(saga *s, const char *what, const char *suffix)
{
	json_array_append_new(s->progress, json_sprintf("%s%s", what, suffix));
}

static const char *done_word(const char *activity)
{
	for (size_t i = 0; i < sizeof done_words / sizeof done_words[0]; i++)
		if (!strcmp(done_words[i].activity, activity))
			return done_words[i].done;
	return activity;
}

/* Runs activity on the order and notes it done, as the Python saga's call(). The outcome is
 * portico_workflow_activity's, with *result or *failure. */
static int call(portico_workflow *wf, saga *s, const char *activity, const portico_retry_policy *retry, json_t **result,
                portico_workflow_failure **failure)
{
	const portico_workflow_activity_options options = {.task_queue = PORTICO_TASK_QUEUE,
	                                                   .start_to_close_ms = 30000,
	                                                   .heartbeat_ms = 5000,
	                                                   .retry_policy = retry};
	json_t *args = json_pack("[O]", s->order);
	int outcome = portico_workflow_activity(wf, activity, args, &options, result, failure);
	json_decref(args);
	if (outcome == PORTICO_WAIT_DONE)
		note(s, done_word(activity), "");
	return outcome;
}

/* What failed: the activity failure's cause, as Python's `failure.cause or failure`. */
static const portico_workflow_failure *cause_of(const portico_workflow_failure *failure)
{
	return failure->cause ? failure->cause : failure;
}

/* The failure as Python's str() shows it: an application error's type before its message. */
static json_t *failure_message(const portico_workflow_failure *failure)
{
	const portico_workflow_failure *cause = cause_of(failure);
	if (!strcmp(cause->kind, "application") && cause->type && *cause->type)
		return json_sprintf("%s: %s", cause->type, cause->message);
	return json_string(cause->message);
}

/* The failure's "type", as Python's getattr(failure.cause, "type", None) gives it: an
 * application error's type, a timeout's TimeoutType (an IntEnum, so a number in JSON), else null. */
static json_t *failure_type(const portico_workflow_failure *failure)
{
	static const char *const timeout_types[] = {"START_TO_CLOSE", "SCHEDULE_TO_START", "SCHEDULE_TO_CLOSE",
	                                            "HEARTBEAT"};
	const portico_workflow_failure *cause = cause_of(failure);
	if (!strcmp(cause->kind, "application"))
		return cause->type && *cause->type ? json_string(cause->type) : json_null();
	for (size_t i = 0; cause->timeout_type && i < sizeof timeout_types / sizeof timeout_types[0]; i++)
		if (!strcmp(cause->timeout_type, timeout_types[i]))
			return json_integer((json_int_t)i + 1);
	return json_null();
}

/* The step itself said no, for good: it did nothing to undo. */
static int refused(const portico_workflow_failure *failure)
{
	return failure->cause && !strcmp(failure->cause->kind, "application") && failure->cause->non_retryable;
}

/* Python's is_cancelled_exception: the wait was cancelled, or the activity ended cancelled. */
static int cancelled(int outcome, const portico_workflow_failure *failure)
{
	return outcome == PORTICO_WAIT_CANCELED ||
	       (failure && failure->cause && !strcmp(failure->cause->kind, "canceled"));
}

/* Runs the compensations undo[0..count), newest first, each retried until it succeeds; one that
 * fails for good is reported and the others still run. Adds "compensations" (and
 * "failedCompensations" when some failed) to into. PORTICO_WAIT_DONE, or PORTICO_WAIT_EVICTED. */
static int compensate(portico_workflow *wf, saga *s, const char *const *undo, size_t count, json_t *into)
{
	json_t *done = json_array(), *failed = json_array();
	int outcome = PORTICO_WAIT_DONE;
	while (count > 0 && outcome != PORTICO_WAIT_EVICTED) {
		const char *activity = undo[--count];
		json_t *result = NULL;
		portico_workflow_failure *failure = NULL;
		outcome = call(wf, s, activity, &compensation_retries, &result, &failure);
		if (outcome == PORTICO_WAIT_DONE) {
			json_array_append_new(done, result);
		} else if (outcome != PORTICO_WAIT_EVICTED) {
			/* Failed, or cancelled by a cancellation that came during the compensations. */
			note(s, strchr(activity, '.') + 1, " failed");
			json_array_append_new(failed,
			                      json_pack("{s:s,s:o}", "activity", activity, "message",
			                                failure ? failure_message(failure) : json_string("cancelled")));
		}
		portico_workflow_failure_free(failure);
	}
	json_object_set_new(into, "compensations", done);
	if (json_array_size(failed))
		json_object_set(into, "failedCompensations", failed);
	json_decref(failed);
	return outcome == PORTICO_WAIT_EVICTED ? PORTICO_WAIT_EVICTED : PORTICO_WAIT_DONE;
}

/* The saga proper, once the order is known to be one. A workflow outcome. */
static int run_saga(portico_workflow *wf, saga *s)
{
	json_t *order_id = json_object_get(s->order, "orderId");
	const char *undo[STEP_COUNT]; /* compensations, undone last-in first-out */
	size_t undo_count = 0;
	json_t *answer = json_pack("{s:O,s:s}", "orderId", order_id, "status", "completed");
	for (size_t i = 0; i < STEP_COUNT; i++) {
		const saga_step *step = &steps[i];
		if (step->compensation)
			undo[undo_count++] = step->compensation;
		json_t *result = NULL;
		portico_workflow_failure *failure = NULL;
		int outcome = call(wf, s, step->activity, &step_retries, &result, &failure);
		if (outcome == PORTICO_WAIT_DONE) {
			json_object_update(answer, result);
			json_decref(result);
			continue;
		}
		json_decref(answer);
		if (outcome == PORTICO_WAIT_EVICTED)
			return PORTICO_WORKFLOW_CANCELED; /* ignored: the run is being torn down */
		if (cancelled(outcome, failure)) {
			/* Cancelled half-way: undo what was done (the step in flight too), then end as
			 * cancelled. Activities started after the cancellation still run. */
			portico_workflow_failure_free(failure);
			note(s, "cancelled during ", step->name);
			json_t *compensations = json_object();
			compensate(wf, s, undo, undo_count, compensations);
			json_decref(compensations);
			return PORTICO_WORKFLOW_CANCELED;
		}
		note(s, step->name, " failed");
		if (step->compensation && refused(failure))
			undo_count--;
		answer = json_pack("{s:O,s:s,s:s,s:{s:o,s:o}}", "orderId", order_id, "status", "compensated",
		                   "failedStep", step->name, "error", "type", failure_type(failure), "message",
		                   failure_message(failure));
		portico_workflow_failure_free(failure);
		if (compensate(wf, s, undo, undo_count, answer) == PORTICO_WAIT_EVICTED) {
			json_decref(answer);
			return PORTICO_WORKFLOW_CANCELED;
		}
		json_object_set(answer, "progress", s->progress);
		return portico_workflow_set_result(wf, answer);
	}
	json_object_set(answer, "progress", s->progress);
	return portico_workflow_set_result(wf, answer);
}

static int progress_query(portico_workflow *wf, json_t *args, json_t **result, char **error, void *arg)
{
	(void)wf, (void)args, (void)error;
	*result = json_deep_copy(arg);
	return 0;
}

static void release(void *json)
{
	json_decref(json);
}

/* Python's truth value of a JSON value: null, false, 0, "", [] and {} are false. */
static int truthy(const json_t *value)
{
	if (!value)
		return 0;
	switch (json_typeof(value)) {
	case JSON_STRING:
		return json_string_length(value) > 0;
	case JSON_INTEGER:
	case JSON_REAL:
		return json_number_value(value) != 0;
	case JSON_ARRAY:
		return json_array_size(value) > 0;
	case JSON_OBJECT:
		return json_object_size(value) > 0;
	case JSON_TRUE:
		return 1;
	default:
		return 0;
	}
}

int order_saga_workflow(portico_workflow *wf, void *user_data)
{
	(void)user_data;
	saga s = {.order = portico_workflow_input_json(wf, 0), .progress = json_array()};
	portico_workflow_on_free(wf, release, s.progress);
	portico_workflow_on_query(wf, "progress", progress_query, s.progress);
	int outcome;
	if (!json_is_object(s.order) || !truthy(json_object_get(s.order, "orderId")))
		outcome = portico_workflow_fail(wf, "InvalidOrder", 1,
		                                "expected an order such as {\"orderId\": \"o-1\", \"amount\": 42}");
	else
		outcome = run_saga(wf, &s);
	json_decref(s.order);
	return outcome;
}
