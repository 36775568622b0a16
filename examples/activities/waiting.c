/* Example C activities that wait without holding a thread, loaded with
 *   build/portico-worker --activities build/examples/libwaiting.so
 *
 * example.sleep {"ms": N}
 *   an event-loop activity: arms a timer on the worker's loop and returns. Every tick of 100 ms
 *   it heartbeats the time slept so far, so a retried attempt resumes from there and a
 *   cancellation from the workflow reaches it; the last tick finishes it with {"slept": N}.
 *   A thousand of these in flight use no thread each.
 *
 * example.handoff {"tokenFile": "/path"}
 *   hands its task token (base64) to another system (here: writes it to the file) and returns
 *   PORTICO_ACTIVITY_COMPLETE_ASYNC; the worker frees the slot and the other system completes
 *   the activity later, e.g. with
 *     curl -X POST localhost:8080/api/v1/namespaces/default/activities/complete \
 *          -d '{"taskToken": "<token>", "result": [{"approved": true}]}' */
#include <stdio.h>
#include <stdlib.h>

#include "worker.h"

#define TICK_MS 100

typedef struct sleeper {
	portico_activity *activity;
	portico_loop_timer *tick;
	json_int_t ms, slept;
} sleeper;

/* Ends the activity with outcome; the sleeper goes with it. */
static void wake_up(sleeper *s, int outcome)
{
	portico_activity *activity = s->activity;
	if (outcome == PORTICO_ACTIVITY_COMPLETED)
		outcome = portico_activity_set_result_json(activity, json_pack("{s:I}", "slept", s->ms));
	portico_loop_timer_free(s->tick);
	free(s);
	portico_activity_finish(activity, outcome);
}

static void on_tick(void *arg)
{
	sleeper *s = arg;
	s->slept += TICK_MS;
	if (s->slept >= s->ms)
		wake_up(s, PORTICO_ACTIVITY_COMPLETED);
	else
		portico_activity_heartbeat(s->activity, json_integer(s->slept));
}

static void on_cancel(void *arg)
{
	wake_up(arg, PORTICO_ACTIVITY_CANCELED);
}

static int sleep_on_loop(portico_activity *activity, void *user_data)
{
	(void)user_data;
	json_t *input = portico_activity_input_json(activity, 0);
	json_int_t ms = json_integer_value(json_object_get(input, "ms"));
	json_decref(input);
	if (ms <= 0)
		return portico_activity_fail(activity, "InvalidInput", 1, 0, "example.sleep takes {\"ms\": N > 0}");
	sleeper *s = calloc(1, sizeof *s);
	if (!s)
		return portico_activity_fail(activity, "OutOfMemory", 0, 0, "no memory for a timer");
	s->activity = activity;
	s->ms = ms;
	json_t *last = portico_activity_heartbeat_details_json(activity); /* resume an earlier attempt */
	s->slept = json_is_integer(last) ? json_integer_value(last) : 0;
	json_decref(last);
	s->tick = portico_loop_timer_new(portico_activity_loop(activity), on_tick, s);
	portico_loop_timer_start(s->tick, TICK_MS, TICK_MS);
	portico_activity_on_cancel(activity, on_cancel, s);
	return PORTICO_ACTIVITY_PENDING;
}

static int handoff(portico_activity *activity, void *user_data)
{
	(void)user_data;
	json_t *input = portico_activity_input_json(activity, 0);
	const char *path = json_string_value(json_object_get(input, "tokenFile"));
	FILE *file = path ? fopen(path, "w") : NULL;
	if (!file) {
		json_decref(input);
		return portico_activity_fail(activity, "InvalidInput", 1, 0,
		                             "example.handoff needs a writable tokenFile");
	}
	char *token = portico_activity_task_token(activity);
	fprintf(file, "%s\n", token);
	int failed = fclose(file);
	free(token);
	json_decref(input);
	if (failed)
		return portico_activity_fail(activity, "HandoffFailed", 0, 0, "could not write the token");
	return PORTICO_ACTIVITY_COMPLETE_ASYNC;
}

void portico_register_activities(portico_worker *worker)
{
	portico_worker_register_loop(worker, "example.sleep", sleep_on_loop, NULL);
	portico_worker_register(worker, "example.handoff", handoff, NULL);
}
