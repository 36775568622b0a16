/* What runs an activity, seen from the activity: the state every attempt has (its task, info,
 * result or failure, deadline, event-loop hooks) and the sink its calls report to. Three runners
 * implement the sink: the worker (answers and heartbeats go to Temporal, worker_activity.h), a
 * child process of the process model (they go up a pipe to the parent, activity_process.h), and
 * the test environment (they are recorded, activity_env.h). The activity API (activity.c) calls
 * a runner only through the sink, so it depends on none of them.
 *
 * A runner embeds struct portico_activity as the first member of its own struct and casts the
 * pointer the sink gets back to that. */
#ifndef PORTICO_ACTIVITY_SINK_H
#define PORTICO_ACTIVITY_SINK_H

#include <stdint.h>

#include <jansson.h>

#include "activity.h"
#include "codec.h"
#include "loop.h"
#include "payload.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

typedef Temporal__Api__Workflowservice__V1__PollActivityTaskQueueResponse activity_task;

typedef struct activity_sink {
	/* portico_activity_heartbeat: takes the reference to details (NULL for none). */
	void (*heartbeat)(portico_activity *activity, json_t *details);
	/* portico_activity_cancelled. */
	int (*cancelled)(const portico_activity *activity);
	/* The attempt ended with outcome, as returned (not yet settled): portico_activity_finish of an
	 * event-loop activity, or, in a child process, any attempt's end. */
	void (*finish)(portico_activity *activity, int outcome);
} activity_sink;

struct portico_activity {
	const activity_sink *sink;
	activity_task *task; /* owned: activity_release frees it */
	portico_activity_info info;
	portico_payloads empty;
	json_t *result;
	int result_invalid; /* the activity set a NULL result: the attempt fails */
	/* the failure to report */
	char *fail_type;
	char *fail_message;
	int non_retryable;
	int64_t next_retry_delay_ms;
	int64_t deadline_ms; /* monotonic; the attempt's timeouts are over past it (0 for none) */
	/* the event loop: NULL for activities not run on one */
	portico_loop *loop;
	portico_loop_timer *cancel_check; /* notices cancellation for on_cancel */
	portico_loop_fn on_cancel;
	void *on_cancel_arg;
};

/* Sets activity up for one attempt of task (which it takes), reporting to sink: decodes the
 * task's payloads with codec (NULL for none, which still marks encrypted ones as undecodable),
 * reads its info, and starts its deadline from now. */
void activity_init(portico_activity *activity, const activity_sink *sink, activity_task *task,
                   const portico_codec *codec);

/* Frees what activity_init and the attempt made, the task included (not activity itself). */
void activity_release(portico_activity *activity);

/* The outcome an attempt ends with: one that set a NULL result failed, whatever it returned. */
int activity_settled_outcome(const portico_activity *activity, int outcome);

/* True once the attempt's start-to-close or schedule-to-close deadline has passed. */
int activity_past_deadline(const portico_activity *activity);

/* The fields that say which activity a log line is about (a new object). */
json_t *activity_log_fields(const portico_activity *activity);

/* Runs fn on activity->loop, from the loop's thread (or any one thread while the loop is not
 * running), with on_cancel checked every 0.1 s; when fn does not go on (PENDING), the attempt is
 * finished at once. */
void activity_begin_on_loop(portico_activity *activity, portico_activity_fn fn, void *user_data);

/* One JSON value as Payloads of one json/plain payload (the caller frees them); NULL for NULL. */
portico_payloads *activity_json_payloads(json_t *value);

#endif
