#include "worker_activity.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "clock.h"
#include "client.h"
#include "codec.h"
#include "json_text.h"
#include "log.h"

#define RESPOND_TIMEOUT_MS            10000
#define DEFAULT_HEARTBEAT_THROTTLE_MS 30000
#define MAX_HEARTBEAT_THROTTLE_MS     60000
#define FAILURE_SOURCE                "PorticoCWorker"
/* Past an answer's own timeout, for its completion to be taken off the queue. */
#define ANSWERS_WAIT_MARGIN_MS 1000

portico_request_target worker_link_target(const worker_link *link)
{
	return (portico_request_target){link->namespace_name, link->identity};
}

int worker_link_call(const worker_link *link, portico_request *request, int64_t timeout_ms, portico_error *err)
{
	request->options.timeout_ms = timeout_ms;
	ProtobufCMessage *response;
	if (portico_transport_call(portico_client_transport(link->client), &request->options, &request->message.base,
	                           &response, err))
		return -1;
	protobuf_c_message_free_unpacked(response, NULL);
	return 0;
}

typedef struct poll_wait {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int done;
	ProtobufCMessage *response;
	portico_error err;
} poll_wait;

static void on_poll(void *arg, ProtobufCMessage *response, portico_error *err)
{
	poll_wait *wait = arg;
	pthread_mutex_lock(&wait->lock);
	wait->response = response;
	if (err)
		portico_error_set(&wait->err, err->code, "%s", err->message ? err->message : "");
	wait->done = 1;
	pthread_cond_signal(&wait->done_cond);
	pthread_mutex_unlock(&wait->lock);
}

/* Asynchronous underneath, so that portico_transport_cancel ends the poll at once. */
ProtobufCMessage *worker_link_poll(portico_transport *transport, portico_request *request, portico_error *err)
{
	poll_wait wait = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, PORTICO_ERROR_INIT};
	if (portico_transport_call_async(transport, &request->options, &request->message.base, on_poll, &wait, err))
		return NULL;
	pthread_mutex_lock(&wait.lock);
	while (!wait.done)
		pthread_cond_wait(&wait.done_cond, &wait.lock);
	pthread_mutex_unlock(&wait.lock);
	if (wait.err.code != PORTICO_OK) {
		*err = wait.err;
		return NULL;
	}
	return wait.response;
}

/* ---- The activity's life ---------------------------------------------------------------------- */

void worker_activity_init(worker_activity *activity, portico_worker *worker, worker_link *link,
                          const activity_sink *sink, activity_task *task)
{
	memset(activity, 0, sizeof *activity);
	activity_init(&activity->base, sink, task, link->codec);
	activity->worker = worker;
	activity->link = link;
	atomic_store(&activity->refs, 1);
	pthread_mutex_init(&activity->lock, NULL);
	int64_t heartbeat_timeout_ms = activity->base.info.heartbeat_timeout_ms;
	int64_t throttle = heartbeat_timeout_ms ? heartbeat_timeout_ms * 4 / 5 : DEFAULT_HEARTBEAT_THROTTLE_MS;
	activity->throttle_ms = throttle < MAX_HEARTBEAT_THROTTLE_MS ? throttle : MAX_HEARTBEAT_THROTTLE_MS;
}

void worker_activity_release(worker_activity *activity)
{
	json_decref(activity->last_details);
	free(activity->too_large_message);
	pthread_mutex_destroy(&activity->lock);
	activity_release(&activity->base);
}

void worker_activity_unref(worker_activity *activity)
{
	if (atomic_fetch_sub(&activity->refs, 1) == 1) {
		portico_worker *worker = activity->worker;
		void (*gone)(portico_worker *) = activity->link->activity_gone;
		worker_activity_release(activity);
		free(activity);
		if (gone)
			gone(worker);
	}
}

/* ---- Answers ---------------------------------------------------------------------------------- */

/* True for the first caller only: every task is answered exactly once. */
static int claim_answer(worker_activity *activity)
{
	return !atomic_exchange(&activity->answered, 1) && !atomic_load(&activity->gone);
}

static void log_answer_error(const worker_activity *activity, const char *what, const portico_error *err)
{
	char *message = portico_sprintf("%s failed", what);
	json_t *fields = activity_log_fields(&activity->base);
	json_object_set_new(fields, "code", json_string(portico_code_name(err->code)));
	json_object_set_new(fields, "detail", portico_log_text(err->message));
	portico_log("error", message, fields);
	free(message);
}

static void on_answered(void *arg, ProtobufCMessage *response, portico_error *err)
{
	worker_activity *activity = arg;
	worker_link *link = activity->link; /* the worker's: outlives the activity (see answers) */
	if (err)
		log_answer_error(activity, activity->answer_method, err);
	else
		protobuf_c_message_free_unpacked(response, NULL);
	worker_activity_unref(activity);
	atomic_fetch_sub_explicit(&link->answers, 1, memory_order_release);
}

int worker_link_wait_answers(worker_link *link)
{
	int64_t deadline = portico_monotonic_ms() + RESPOND_TIMEOUT_MS + ANSWERS_WAIT_MARGIN_MS;
	while (atomic_load_explicit(&link->answers, memory_order_acquire)) {
		if (portico_monotonic_ms() >= deadline)
			return -1;
		struct timespec pause = {0, 5 * 1000000L};
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Starts the answer's call (request.h's request, packed at once: the caller frees its parts on
 * return), retried when transient as the request says, with a reference of its own. */
static void send_answer(worker_activity *activity, portico_request *request, const char *method)
{
	request->options.timeout_ms = RESPOND_TIMEOUT_MS;
	activity->answer_method = method;
	atomic_fetch_add(&activity->refs, 1);
	worker_link *link = activity->link;
	atomic_fetch_add(&link->answers, 1);
	portico_error err = PORTICO_ERROR_INIT;
	if (portico_transport_call_async(portico_client_transport(link->client), &request->options,
	                                 &request->message.base, on_answered, activity, &err)) {
		log_answer_error(activity, method, &err);
		worker_activity_unref(activity);
		atomic_fetch_sub_explicit(&link->answers, 1, memory_order_release);
	}
	portico_error_clear(&err);
}

static portico_payloads *details_payloads(worker_activity *activity)
{
	pthread_mutex_lock(&activity->lock);
	portico_payloads *payloads = activity_json_payloads(activity->last_details);
	pthread_mutex_unlock(&activity->lock);
	return payloads;
}

void worker_activity_respond_failed(worker_activity *activity, const char *type, int non_retryable,
                                    int64_t next_retry_delay_ms, const char *message)
{
	if (!claim_answer(activity))
		return;
	worker_link *link = activity->link;
	atomic_fetch_add(&link->failed, 1);
	Google__Protobuf__Duration delay = GOOGLE__PROTOBUF__DURATION__INIT;
	delay.seconds = next_retry_delay_ms / 1000;
	delay.nanos = (int32_t)(next_retry_delay_ms % 1000) * 1000000;
	Temporal__Api__Failure__V1__ApplicationFailureInfo info =
	        TEMPORAL__API__FAILURE__V1__APPLICATION_FAILURE_INFO__INIT;
	info.type = (char *)type;
	info.non_retryable = non_retryable;
	info.next_retry_delay = next_retry_delay_ms > 0 ? &delay : NULL;
	Temporal__Api__Failure__V1__Failure failure = TEMPORAL__API__FAILURE__V1__FAILURE__INIT;
	failure.source = FAILURE_SOURCE;
	failure.failure_info_case = TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO;
	failure.application_failure_info = &info;
	/* With a codec, the message travels encrypted in the encoded attributes, as SDKs do. */
	json_t *attributes = json_pack("{s:s,s:s}", "message", message, "stack_trace", "");
	size_t length;
	char *text = portico_json_to_payload_text(attributes, &length);
	json_decref(attributes);
	failure.message = link->codec ? "Encoded failure" : (char *)message;
	failure.encoded_attributes =
	        link->codec ? portico_payload_new(PORTICO_ENCODING_JSON, (const uint8_t *)text, length) : NULL;
	free(text);

	portico_request request;
	const portico_request_target target = worker_link_target(link);
	/* The latest heartbeat details, sent or still throttled, reach the next attempt. */
	portico_request_activity_failed(&request, &target, activity->base.task->task_token, &failure,
	                                details_payloads(activity));
	Temporal__Api__Workflowservice__V1__RespondActivityTaskFailedRequest *failed = &request.message.activity_failed;
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload_size largest;
	if (portico_codec_encode_message(link->codec, &request.message.base, link->max_payload_bytes, &largest, &err)) {
		portico_payloads_free(failed->last_heartbeat_details);
		failed->last_heartbeat_details = NULL;
		portico_error_clear(&err);
	}
	send_answer(activity, &request, "RespondActivityTaskFailed");
	portico_payload_free(failure.encoded_attributes);
	portico_payloads_free(failed->last_heartbeat_details);
	portico_error_clear(&err);
}

static void respond_completed(worker_activity *activity)
{
	worker_link *link = activity->link;
	portico_payloads *result = activity_json_payloads(activity->base.result);
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload_size largest;
	portico_request request;
	const portico_request_target target = worker_link_target(link);
	portico_request_activity_completed(&request, &target, activity->base.task->task_token, result);
	if (portico_codec_encode_message(link->codec, &request.message.base, link->max_payload_bytes, &largest, &err)) {
		/* Temporal would refuse it and fail the activity later; say why now. */
		worker_activity_respond_failed(activity, "PayloadSizeLimitExceeded", 1, 0, err.message);
	} else if (claim_answer(activity)) {
		atomic_fetch_add(&link->completed, 1);
		send_answer(activity, &request, "RespondActivityTaskCompleted");
	}
	portico_payloads_free(result);
	portico_error_clear(&err);
}

static void respond_canceled(worker_activity *activity)
{
	if (!claim_answer(activity))
		return;
	worker_link *link = activity->link;
	atomic_fetch_add(&link->canceled, 1);
	portico_request request;
	const portico_request_target target = worker_link_target(link);
	portico_request_activity_canceled(&request, &target, activity->base.task->task_token);
	send_answer(activity, &request, "RespondActivityTaskCanceled");
}

/* Stopped by its own timeout: Temporal has timed the attempt out (its clock started first) and
 * would refuse any answer, so none is sent. */
static void let_temporal_time_out(worker_activity *activity)
{
	if (!claim_answer(activity))
		return;
	portico_log("info", "attempt timed out", activity_log_fields(&activity->base));
}

static void respond_too_large(worker_activity *activity)
{
	pthread_mutex_lock(&activity->lock);
	char *message = portico_strdup(activity->too_large_message);
	pthread_mutex_unlock(&activity->lock);
	worker_activity_respond_failed(activity, "PayloadSizeLimitExceeded", 1, 0,
	                               message ? message : "a payload is over the limit");
	free(message);
}

void worker_activity_answer(worker_activity *activity, int outcome)
{
	const portico_activity *base = &activity->base;
	outcome = activity_settled_outcome(base, outcome);
	if (outcome == PORTICO_ACTIVITY_COMPLETE_ASYNC)
		claim_answer(activity); /* whoever holds the task token answers */
	else if (atomic_load(&activity->too_large))
		respond_too_large(activity);
	else if (outcome == PORTICO_ACTIVITY_COMPLETED)
		respond_completed(activity);
	else if (outcome == PORTICO_ACTIVITY_CANCELED && atomic_load(&activity->cancel_requested))
		respond_canceled(activity);
	else if (atomic_load(&activity->shutting_down))
		worker_activity_respond_failed(activity, "WorkerShutdown", 0, 0,
		                               "the worker shut down before the activity finished");
	else if (outcome == PORTICO_ACTIVITY_CANCELED && activity_past_deadline(base))
		let_temporal_time_out(activity);
	else
		worker_activity_respond_failed(activity, base->fail_type ? base->fail_type : "ActivityError",
		                               base->non_retryable, base->next_retry_delay_ms,
		                               base->fail_message ? base->fail_message : "the activity failed");
	worker_activity_unref(activity);
}

int worker_activity_cancelled(const portico_activity *base)
{
	const worker_activity *activity = (const worker_activity *)base;
	return atomic_load(&activity->cancel_requested) || atomic_load(&activity->gone) ||
	       atomic_load(&activity->shutting_down) || atomic_load(&activity->too_large) ||
	       activity_past_deadline(base);
}

/* ---- Heartbeats ------------------------------------------------------------------------------- */

static void send_heartbeat(worker_activity *activity, json_t *details)
{
	worker_link *link = activity->link;
	portico_payloads *payloads = activity_json_payloads(details);
	portico_error err = PORTICO_ERROR_INIT;
	portico_request request;
	const portico_request_target target = worker_link_target(link);
	portico_request_activity_heartbeat(&request, &target, activity->base.task->task_token, payloads);
	portico_payload_size largest;
	if (portico_codec_encode_message(link->codec, &request.message.base, link->max_payload_bytes, &largest, &err)) {
		/* Over the limit, Temporal would fail the activity: stop it and say why. The activity's
		 * own failure fields are its thread's; this may be the flusher's. */
		pthread_mutex_lock(&activity->lock);
		if (!activity->too_large_message)
			activity->too_large_message = portico_sprintf("heartbeat %s", err.message);
		pthread_mutex_unlock(&activity->lock);
		atomic_store(&activity->too_large, 1);
	} else {
		request.options.timeout_ms = RESPOND_TIMEOUT_MS;
		ProtobufCMessage *response;
		if (portico_transport_call(portico_client_transport(link->client), &request.options,
		                           &request.message.base, &response, &err) == 0) {
			if (((Temporal__Api__Workflowservice__V1__RecordActivityTaskHeartbeatResponse *)response)
			            ->cancel_requested)
				atomic_store(&activity->cancel_requested, 1);
			protobuf_c_message_free_unpacked(response, NULL);
		} else if (err.code == PORTICO_NOT_FOUND) {
			/* Timed out, completed elsewhere, or the workflow is gone. */
			atomic_store(&activity->gone, 1);
		}
	}
	portico_payloads_free(payloads);
	portico_error_clear(&err);
}

void worker_activity_heartbeat(portico_activity *base, json_t *details)
{
	worker_activity *activity = (worker_activity *)base;
	pthread_mutex_lock(&activity->lock);
	json_decref(activity->last_details);
	activity->last_details = details;
	int64_t now = portico_monotonic_ms();
	/* On the event loop, the flusher thread sends it: the loop never waits on Temporal. */
	int due = !activity->on_loop &&
	          (activity->last_sent_ms == 0 || now - activity->last_sent_ms >= activity->throttle_ms);
	json_t *to_send = due ? json_incref(activity->last_details) : NULL;
	if (due)
		activity->last_sent_ms = now;
	int newly_waiting = !due && !activity->heartbeat_pending;
	activity->heartbeat_pending = !due;
	pthread_mutex_unlock(&activity->lock);
	if (due) {
		send_heartbeat(activity, to_send);
		json_decref(to_send);
	} else if (newly_waiting && activity->link->heartbeat_waiting) {
		activity->link->heartbeat_waiting(activity->worker);
	}
}

int worker_activity_heartbeat_due(worker_activity *activity, int64_t now)
{
	pthread_mutex_lock(&activity->lock);
	int due = activity->heartbeat_pending && now - activity->last_sent_ms >= activity->throttle_ms;
	pthread_mutex_unlock(&activity->lock);
	return due;
}

int worker_activity_heartbeat_waits(worker_activity *activity)
{
	pthread_mutex_lock(&activity->lock);
	int waits = activity->heartbeat_pending;
	pthread_mutex_unlock(&activity->lock);
	return waits;
}

void worker_activity_flush_heartbeat(worker_activity *activity)
{
	pthread_mutex_lock(&activity->lock);
	int64_t now = portico_monotonic_ms();
	int due = activity->heartbeat_pending && now - activity->last_sent_ms >= activity->throttle_ms;
	json_t *to_send = due ? json_incref(activity->last_details) : NULL;
	if (due) {
		activity->last_sent_ms = now;
		activity->heartbeat_pending = 0;
	}
	pthread_mutex_unlock(&activity->lock);
	if (due) {
		send_heartbeat(activity, to_send);
		json_decref(to_send);
	}
}
