/* Example C activities that run in a child process per attempt (the process model), loaded with
 *   build/portico-worker --activities build/examples/libcompute.so
 *
 * example.fibonacci {"n": 35}: CPU-bound work, heartbeating its progress; result {"fibonacci": F}.
 * example.crash_once {}: dies of SIGSEGV-like abort on its first attempt, succeeds on the next:
 *   the attempt fails (retryably) and the worker lives on. */
#include <stdlib.h>

#include "worker.h"

static long long fibonacci_of(int n)
{
	long long previous = 0, current = 1;
	for (int i = 0; i < n; i++) {
		long long next = previous + current;
		previous = current;
		current = next;
	}
	return previous;
}

static int fibonacci(portico_activity *activity, void *user_data)
{
	(void)user_data;
	json_t *input = portico_activity_input_json(activity, 0);
	int n = (int)json_integer_value(json_object_get(input, "n"));
	json_decref(input);
	if (n < 0 || n > 90)
		return portico_activity_fail(activity, "InvalidInput", 1, 0, "n must be within 0..90, not %d", n);
	portico_activity_heartbeat(activity, json_pack("{s:i}", "computing", n));
	if (portico_activity_cancelled(activity))
		return PORTICO_ACTIVITY_CANCELED;
	return portico_activity_set_result_json(activity, json_pack("{s:I}", "fibonacci", (json_int_t)fibonacci_of(n)));
}

static int crash_once(portico_activity *activity, void *user_data)
{
	(void)user_data;
	if (portico_activity_get_info(activity)->attempt == 1)
		abort();
	return portico_activity_set_result_json(
	        activity, json_pack("{s:i}", "survivedAttempt", portico_activity_get_info(activity)->attempt));
}

void portico_register_activities(portico_worker *worker)
{
	portico_worker_register_process(worker, "example.fibonacci", fibonacci, NULL);
	portico_worker_register_process(worker, "example.crash_once", crash_once, NULL);
}
