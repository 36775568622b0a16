/* Example C activities for Portico's worker, built as a shared object and loaded with
 *   build/portico-worker --activities build/examples/libcountdown.so
 *
 * example.countdown {"from": N, "stepMs": 100, "failAt": K}
 *   counts down from N, one heartbeat per step with the number reached, so a retried attempt
 *   resumes where the last one stopped; stops early, reporting cancellation, when the workflow
 *   cancels it. With "failAt", the first attempt fails (retryably) on reaching K.
 *   Result: {"reached": 0, "attempt": A, "resumedFrom": N'}. */
#include <time.h>

#include "worker.h"

static void sleep_ms(long ms)
{
	struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&pause, NULL);
}

static int countdown(portico_activity *activity, void *user_data)
{
	(void)user_data;
	json_t *input = portico_activity_input_json(activity, 0);
	json_int_t from = json_integer_value(json_object_get(input, "from"));
	json_int_t step_ms = json_integer_value(json_object_get(input, "stepMs"));
	json_int_t fail_at = json_integer_value(json_object_get(input, "failAt"));
	json_decref(input);
	const portico_activity_info *info = portico_activity_get_info(activity);

	/* Resume from the last heartbeat of an earlier attempt. */
	json_t *last = portico_activity_heartbeat_details_json(activity);
	json_int_t current = json_is_integer(last) ? json_integer_value(last) : from;
	json_decref(last);
	json_int_t resumed_from = current;

	while (current > 0) {
		if (portico_activity_cancelled(activity))
			return PORTICO_ACTIVITY_CANCELED;
		if (fail_at && current == fail_at && info->attempt == 1)
			return portico_activity_fail(activity, "CountdownInterrupted", 0, 0, "interrupted at %lld",
			                             (long long)current);
		sleep_ms(step_ms ? (long)step_ms : 100);
		current--;
		portico_activity_heartbeat(activity, json_integer(current));
	}
	return portico_activity_set_result_json(activity, json_pack("{s:I,s:i,s:I}", "reached", current, "attempt",
	                                                            info->attempt, "resumedFrom", resumed_from));
}

/* The one symbol portico-worker looks for in a --activities library. */
void portico_register_activities(portico_worker *worker)
{
	portico_worker_register(worker, "example.countdown", countdown, NULL);
}
