/* The activity API, on the state every attempt has; what only its runner knows (heartbeats,
 * cancellation, the end of an event-loop attempt) goes through the sink. */
#include "activity.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activity_sink.h"
#include "alloc.h"
#include "clock.h"
#include "base64.h"
#include "log.h"

#define CANCEL_CHECK_MS 100

/* Protobuf's bound on the seconds of a Duration or Timestamp (10,000 years): Temporal sends no
 * more, and seconds clamped to it cannot overflow in the millisecond arithmetic below. */
#define PROTO_MAX_SECONDS 315576000000LL

static int64_t seconds_ms(int64_t seconds, int32_t nanos)
{
	seconds = seconds > PROTO_MAX_SECONDS    ? PROTO_MAX_SECONDS
	          : seconds < -PROTO_MAX_SECONDS ? -PROTO_MAX_SECONDS
	                                         : seconds;
	return seconds * 1000 + nanos / 1000000;
}

static int64_t duration_ms(const Google__Protobuf__Duration *duration)
{
	return duration ? seconds_ms(duration->seconds, duration->nanos) : 0;
}

/* When this attempt's timeouts are over, on the monotonic clock, counting from now (a little
 * after Temporal started the clock): start-to-close from now on, schedule-to-close from when the
 * activity was scheduled. 0 for no deadline. */
static int64_t attempt_deadline_ms(const activity_task *task)
{
	int64_t now = portico_monotonic_ms(), deadline = 0;
	int64_t start_to_close = duration_ms(task->start_to_close_timeout);
	if (start_to_close > 0)
		deadline = now + start_to_close;
	int64_t schedule_to_close = duration_ms(task->schedule_to_close_timeout);
	if (schedule_to_close > 0 && task->scheduled_time && task->scheduled_time->seconds > 0) {
		int64_t since_scheduled =
		        portico_wall_ms() - seconds_ms(task->scheduled_time->seconds, task->scheduled_time->nanos);
		int64_t until = now + schedule_to_close - (since_scheduled > 0 ? since_scheduled : 0);
		if (!deadline || until < deadline)
			deadline = until;
	}
	return deadline;
}

void activity_init(portico_activity *activity, const activity_sink *sink, activity_task *task,
                   const portico_codec *codec)
{
	memset(activity, 0, sizeof *activity);
	activity->sink = sink;
	activity->task = task;
	activity->deadline_ms = attempt_deadline_ms(task);
	temporal__api__common__v1__payloads__init(&activity->empty);
	portico_codec_decode_message(codec, &task->base);
	portico_activity_info *info = &activity->info;
	info->activity_id = task->activity_id;
	info->activity_type = task->activity_type ? task->activity_type->name : "";
	info->workflow_id = task->workflow_execution ? task->workflow_execution->workflow_id : "";
	info->run_id = task->workflow_execution ? task->workflow_execution->run_id : "";
	info->workflow_type = task->workflow_type ? task->workflow_type->name : "";
	info->workflow_namespace = task->workflow_namespace;
	info->attempt = task->attempt;
	info->heartbeat_timeout_ms = duration_ms(task->heartbeat_timeout);
	info->start_to_close_timeout_ms = duration_ms(task->start_to_close_timeout);
}

void activity_release(portico_activity *activity)
{
	json_decref(activity->result);
	free(activity->fail_type);
	free(activity->fail_message);
	protobuf_c_message_free_unpacked(&activity->task->base, NULL);
}

int activity_settled_outcome(const portico_activity *activity, int outcome)
{
	return outcome == PORTICO_ACTIVITY_COMPLETED && activity->result_invalid ? PORTICO_ACTIVITY_FAILED : outcome;
}

int activity_past_deadline(const portico_activity *activity)
{
	return activity->deadline_ms && portico_monotonic_ms() >= activity->deadline_ms;
}

json_t *activity_log_fields(const portico_activity *activity)
{
	json_t *fields = json_object();
	json_object_set_new(fields, "activityType", portico_log_text(activity->info.activity_type));
	json_object_set_new(fields, "activityId", portico_log_text(activity->info.activity_id));
	json_object_set_new(fields, "workflowId", portico_log_text(activity->info.workflow_id));
	json_object_set_new(fields, "attempt", json_integer(activity->info.attempt));
	return fields;
}

portico_payloads *activity_json_payloads(json_t *value)
{
	if (!value)
		return NULL;
	json_t *array = json_pack("[O]", value);
	portico_payloads *payloads = portico_payloads_of_values(array);
	json_decref(array);
	return payloads;
}

/* ---- Event-loop activities -------------------------------------------------------------------- */

/* Tells on_cancel, once, that the activity should stop. */
static void check_cancel(void *arg)
{
	portico_activity *activity = arg;
	if (!activity->on_cancel || !portico_activity_cancelled(activity))
		return;
	portico_loop_fn on_cancel = activity->on_cancel;
	activity->on_cancel = NULL;
	on_cancel(activity->on_cancel_arg); /* may finish, and so free, the activity */
}

void activity_begin_on_loop(portico_activity *activity, portico_activity_fn fn, void *user_data)
{
	activity->cancel_check = portico_loop_timer_new(activity->loop, check_cancel, activity);
	portico_loop_timer_start(activity->cancel_check, CANCEL_CHECK_MS, CANCEL_CHECK_MS);
	int outcome = fn(activity, user_data);
	if (outcome != PORTICO_ACTIVITY_PENDING)
		portico_activity_finish(activity, outcome);
}

portico_loop *portico_activity_loop(const portico_activity *activity)
{
	return activity->loop;
}

void portico_activity_on_cancel(portico_activity *activity, portico_loop_fn fn, void *arg)
{
	activity->on_cancel = fn;
	activity->on_cancel_arg = arg;
}

void portico_activity_finish(portico_activity *activity, int outcome)
{
	portico_loop_timer_free(activity->cancel_check);
	activity->cancel_check = NULL;
	activity->on_cancel = NULL;
	activity->sink->finish(activity, outcome);
}

/* ---- The activity's view ---------------------------------------------------------------------- */

const portico_activity_info *portico_activity_get_info(const portico_activity *activity)
{
	return &activity->info;
}

const portico_payloads *portico_activity_input(const portico_activity *activity)
{
	return activity->task->input ? activity->task->input : &activity->empty;
}

/* Payload index as JSON (a new reference), or NULL when there is none. One that is there but
 * cannot be read as JSON is logged with the reason (most often a codec key this worker lacks):
 * the activity itself only sees NULL. */
static json_t *payload_json(const portico_activity *activity, const char *what, const portico_payloads *payloads,
                            size_t index)
{
	if (!payloads || index >= payloads->n_payloads)
		return NULL;
	json_t *value;
	char *reason = portico_payload_read_json(payloads->payloads[index], &value);
	if (reason) {
		json_t *fields = activity_log_fields(activity);
		json_object_set_new(fields, "payload", json_string(what));
		json_object_set_new(fields, "index", json_integer((json_int_t)index));
		json_object_set_new(fields, "reason", portico_log_text(reason));
		portico_log("error", "activity input cannot be decoded", fields);
		free(reason);
	}
	return value;
}

json_t *portico_activity_input_json(const portico_activity *activity, size_t index)
{
	return payload_json(activity, "input", portico_activity_input(activity), index);
}

json_t *portico_activity_heartbeat_details_json(const portico_activity *activity)
{
	return payload_json(activity, "heartbeatDetails", activity->task->heartbeat_details, 0);
}

int portico_activity_set_result_json(portico_activity *activity, json_t *value)
{
	json_decref(activity->result);
	activity->result = value;
	activity->result_invalid = !value;
	if (value)
		return PORTICO_ACTIVITY_COMPLETED;
	return portico_activity_fail(activity, "ActivityResultError", 0, 0,
	                             "the activity's result is NULL (portico_activity_set_result_json was given no "
	                             "value: a JSON value that could not be built, such as json_pack with a bad "
	                             "format or text that is not UTF-8)");
}

int portico_activity_cancelled(const portico_activity *activity)
{
	return activity->sink->cancelled(activity);
}

char *portico_activity_task_token(const portico_activity *activity)
{
	return portico_base64_encode(activity->task->task_token.data, activity->task->task_token.len);
}

int portico_activity_fail(portico_activity *activity, const char *type, int non_retryable, int64_t next_retry_delay_ms,
                          const char *format, ...)
{
	free(activity->fail_type);
	free(activity->fail_message);
	activity->fail_type = portico_strdup(type ? type : "ActivityError");
	va_list args;
	va_start(args, format);
	activity->fail_message = portico_vsprintf(format, args);
	va_end(args);
	activity->non_retryable = non_retryable;
	activity->next_retry_delay_ms = next_retry_delay_ms;
	return PORTICO_ACTIVITY_FAILED;
}

void portico_activity_heartbeat(portico_activity *activity, json_t *details)
{
	activity->sink->heartbeat(activity, details);
}
