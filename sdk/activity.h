/* Inside an activity: what an activity function is given and what it may call. It reads its info
 * and input, heartbeats (details carried to the next attempt, throttled), learns of its
 * cancellation, sets its result or a typed failure with retry hints, or hands its task token to
 * whoever completes it later. Which thread, loop or process it runs on is chosen when it is
 * registered (worker.h); the same calls work in each, and in the test environment
 * (activity_env.h).
 *
 * Public: the SDK's API for activity libraries; portico-worker exports what this header declares. */
#ifndef PORTICO_ACTIVITY_H
#define PORTICO_ACTIVITY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "loop.h"
#include "payload.h"

typedef struct portico_activity portico_activity;

/* What an activity function returns. */
enum {
	PORTICO_ACTIVITY_COMPLETED = 0, /* the result (if any) was set with portico_activity_set_result* */
	PORTICO_ACTIVITY_FAILED = -1,   /* the error was set with portico_activity_fail (or a generic one is sent) */
	PORTICO_ACTIVITY_CANCELED = -2, /* gave up because portico_activity_cancelled() said so */
	PORTICO_ACTIVITY_PENDING = -3,  /* event loop only: goes on, and calls portico_activity_finish later */
	PORTICO_ACTIVITY_COMPLETE_ASYNC = -4, /* someone else completes it with its task token */
};

/* Runs one attempt of an activity. user_data is what was registered. */
typedef int (*portico_activity_fn)(portico_activity *activity, void *user_data);

/* What an activity knows about itself (strings valid while the activity runs). */
typedef struct portico_activity_info {
	const char *activity_id;
	const char *activity_type;
	const char *workflow_id;
	const char *run_id;
	const char *workflow_type;
	const char *workflow_namespace;
	int32_t attempt;              /* 1 for the first */
	int64_t heartbeat_timeout_ms; /* 0 when none */
	int64_t start_to_close_timeout_ms;
} portico_activity_info;

const portico_activity_info *portico_activity_get_info(const portico_activity *activity);

/* The decoded input payloads (never NULL). */
const portico_payloads *portico_activity_input(const portico_activity *activity);

/* Argument index as JSON (a new reference; a binary/null argument is JSON null), or NULL when it is
 * missing or cannot be read as JSON: not json/plain, not valid JSON, or encrypted with a key this
 * worker does not have. The last three are logged with the activity type and the reason. */
json_t *portico_activity_input_json(const portico_activity *activity, size_t index);

/* The details of the last heartbeat of an earlier attempt, as JSON (new reference), or NULL
 * (logged as for the input when they are there but cannot be read). */
json_t *portico_activity_heartbeat_details_json(const portico_activity *activity);

/* Sets the result to one JSON value (json/plain; json_null() for null) and takes the reference.
 * Returns PORTICO_ACTIVITY_COMPLETED (0). value NULL, which is what json_pack returns for a bad
 * format or text that is not UTF-8, is an error: it returns PORTICO_ACTIVITY_FAILED and the
 * attempt fails with ActivityResultError even if the activity then returns COMPLETED, so
 * `return portico_activity_set_result_json(activity, json_pack(…));` ends an activity either way. */
int portico_activity_set_result_json(portico_activity *activity, json_t *value);

/* Records progress; details (a reference is taken, may be NULL) come back to the next attempt.
 * Sent at most every 0.8 × the heartbeat timeout (30 s when none); the latest details win. */
void portico_activity_heartbeat(portico_activity *activity, json_t *details);

/* True once the activity should stop: Temporal asked for cancellation (learnt through
 * heartbeats), the activity is gone, its start-to-close or schedule-to-close deadline has passed,
 * or the worker is shutting down. */
int portico_activity_cancelled(const portico_activity *activity);

/* Event-loop activities: the loop they run on (NULL for the other models, which must not touch
 * the loop: it is not thread-safe, nor shared with a child process), and a callback the loop calls once (within about
 * 0.1 s) when portico_activity_cancelled() turns true; it should stop the work and finish. */
portico_loop *portico_activity_loop(const portico_activity *activity);
void portico_activity_on_cancel(portico_activity *activity, portico_loop_fn fn, void *arg);

/* Ends an event-loop activity that returned PORTICO_ACTIVITY_PENDING, with the outcome it would
 * have returned (its result or failure set as usual). The activity must not be used afterwards. */
void portico_activity_finish(portico_activity *activity, int outcome);

/* The task token, base64 (as Temporal's HTTP API writes bytes); the caller frees it. An activity
 * hands it to whoever will complete it (with RespondActivityTaskCompleted, Failed or Canceled,
 * e.g. through the gateway's /activities/complete), then returns
 * PORTICO_ACTIVITY_COMPLETE_ASYNC: the worker frees its slot and answers nothing. */
char *portico_activity_task_token(const portico_activity *activity);

/* Sets the failure to report: type (NULL for "ActivityError"), whether retrying is pointless, a
 * retry delay overriding the policy's (0 for none), and a message. Returns PORTICO_ACTIVITY_FAILED
 * so an activity can `return portico_activity_fail(...)`. */
int portico_activity_fail(portico_activity *activity, const char *type, int non_retryable, int64_t next_retry_delay_ms,
                          const char *format, ...) __attribute__((format(printf, 5, 6)));

#endif
