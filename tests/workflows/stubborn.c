/* A C activity for the worker's shutdown test (test_worker.py), loaded with --activities:
 * test.stubborn {} ignores its cancellation on its first attempt: it sleeps 30 s (bounded, so
 * that a worker that does not exit still ends it) whatever the worker says, then succeeds; later
 * attempts return {"attempt": N} at once. It stands for user code that never looks at
 * portico_activity_cancelled, which the worker must answer for at shutdown. */
#include <time.h>

#include "worker.h"

#define STUBBORN_SECONDS 30

static int stubborn(portico_activity *activity, void *user_data)
{
	(void)user_data;
	int attempt = portico_activity_get_info(activity)->attempt;
	if (attempt == 1) {
		struct timespec pause = {STUBBORN_SECONDS, 0};
		while (nanosleep(&pause, &pause))
			; /* a signal cut it short: sleep the rest */
	}
	return portico_activity_set_result_json(activity, json_pack("{s:i}", "attempt", attempt));
}

void portico_register_activities(portico_worker *worker)
{
	portico_worker_register(worker, "test.stubborn", stubborn, NULL);
}
