/* Pollers reserve a slot, long-poll the task queue and queue what they get; executor threads run
 * the activities and answer Temporal. Event-loop activities start on the loop's thread and, when
 * they finish, go back through the queue so that an executor answers for them: the loop never
 * waits on Temporal. Polls go through a connection of their own, so that shutting it down ends
 * them at once. */
#define _GNU_SOURCE /* pipe2 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "backoff.h"
#include "clock.h"
#include "base64.h"
#include "json_text.h"
#include "log.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

#define DEFAULT_POLLERS               2
#define DEFAULT_MAX_PAYLOAD_BYTES     (2u * 1024 * 1024)
#define POLL_TIMEOUT_MS               70000
#define RESPOND_TIMEOUT_MS            10000
#define SHUTDOWN_RPC_TIMEOUT_MS       5000
#define CANCEL_WAIT_MS                5000
#define DEFAULT_HEARTBEAT_THROTTLE_MS 30000
#define MAX_HEARTBEAT_THROTTLE_MS     60000
#define SLOT_WAIT_MS                  200
#define FLUSH_INTERVAL_MS             100
#define FLUSH_BATCH                   64
#define CANCEL_CHECK_MS               100
#define LOOP_HELPERS                  2 /* threads that start event-loop tasks and answer for them */
#define READY_TIMEOUT_MS              2000
/* A failing poller retries at least this often (its backoff is at most 10 s), so a failure older
 * than this, with a poll out since, means polling works again even before a long poll answers. */
#define POLL_RECOVERY_MS (PORTICO_BACKOFF_MAX_MS + 5000)
#define FAILURE_SOURCE   "PorticoCWorker"

typedef Temporal__Api__Workflowservice__V1__PollActivityTaskQueueResponse activity_task;

enum execution_model { ON_THREAD, IN_PROCESS, ON_LOOP };

typedef struct registration {
	char *type;
	portico_activity_fn fn;
	void *user_data;
	enum execution_model model;
	struct registration *next;
} registration;

/* Work for threads: a task to run, or an event-loop activity that finished, to answer. */
typedef struct queued_task {
	activity_task *task;
	portico_activity *finished;
	int outcome;
	struct queued_task *next;
} queued_task;

typedef struct work_queue {
	struct portico_worker *worker;
	queued_task *head, *tail;
	pthread_cond_t ready;
} work_queue;

struct portico_activity {
	portico_worker *worker;
	activity_task *task;
	portico_activity_info info;
	portico_payloads empty;
	json_t *result;
	int result_invalid; /* the activity set a NULL result: the attempt fails */
	/* the failure to report */
	char *fail_type;
	char *fail_message;
	int non_retryable;
	int64_t next_retry_delay_ms;
	/* heartbeats */
	pthread_mutex_t lock;
	json_t *last_details; /* the latest details given, sent or not */
	int64_t last_sent_ms;
	int64_t throttle_ms;
	atomic_int cancel_requested; /* by Temporal */
	atomic_int gone;             /* Temporal no longer knows the task: answer nothing */
	atomic_int shutting_down;    /* the worker's grace period is over */
	atomic_int answered;         /* Temporal has been answered for this task */
	atomic_int too_large;        /* a heartbeat was over the payload limit: the attempt fails */
	atomic_int refs;             /* the executor's, plus the heartbeat flusher's and shutdown's while they use it */
	int heartbeat_pending;       /* last_details were not sent yet (guarded by lock) */
	char *too_large_message;     /* why the heartbeat was refused (guarded by lock) */
	portico_activity_env *env;   /* set when run by portico_activity_env_run, without a worker */
	int child_out;               /* in a child process: where heartbeats and the outcome go, else -1 */
	int child_cancel;            /* in a child process: readable once the parent says cancel, else -1 */
	int64_t started_ms;
	int64_t deadline_ms; /* monotonic; the attempt's timeouts are over past it (0 for none) */
	/* the event loop */
	portico_loop *loop;
	int on_loop;                      /* runs on the loop: heartbeats are left to the flusher */
	portico_loop_timer *cancel_check; /* notices cancellation for on_cancel */
	portico_loop_fn on_cancel;
	void *on_cancel_arg;
	int final_outcome;    /* in a test env: what portico_activity_finish said */
	int env_loop_running; /* in a test env: the loop runs until the activity finishes */
	struct portico_activity *prev, *next;
};

struct portico_worker {
	portico_client *client;
	portico_transport *poll_transport;
	char *task_queue;
	char *namespace_name;
	char *identity;
	unsigned max_concurrent, pollers, threads;
	int64_t grace_ms;
	size_t max_payload_bytes;
	const portico_codec *codec;
	portico_metrics *metrics;
	registration *registrations;

	sem_t slots;
	pthread_t *poller_threads, *executor_threads, loop_helpers[LOOP_HELPERS];
	atomic_int stopping;

	pthread_mutex_t lock; /* guards the queues, the running list and executors_stop */
	/* Two queues, so that blocking activities never hold up the event loop's work. */
	work_queue blocking;  /* thread-pool and process tasks, for the executors */
	work_queue loop_work; /* event-loop tasks to start and answers to send, for the loop helpers */
	portico_activity *running;
	size_t running_count;
	size_t starting; /* taken off the queue, not yet running or answered */
	int grace_over;  /* activities starting from now on are cancelled at once */
	int executors_stop;
	int started;
	pthread_t flusher_thread;
	portico_loop *loop;
	pthread_t loop_thread;
	atomic_uint_fast64_t polls, tasks, completed, failed, canceled, run_ms_total;
	/* For readiness: when a poll last answered and last failed (monotonic ms, 0 for never), and
	 * why it failed (guarded by lock). */
	atomic_int_fast64_t poll_ok_ms, poll_failed_ms;
	char *poll_error;
};

static int64_t duration_ms(const Google__Protobuf__Duration *duration)
{
	return duration ? duration->seconds * 1000 + duration->nanos / 1000000 : 0;
}

portico_worker *portico_worker_new(portico_client *client, const portico_worker_options *options)
{
	portico_worker *worker = portico_calloc(1, sizeof *worker);
	worker->client = client;
	worker->task_queue = portico_strdup(options->task_queue);
	worker->max_concurrent =
	        options->max_concurrent ? options->max_concurrent : PORTICO_WORKER_DEFAULT_MAX_CONCURRENT;
	worker->pollers = options->pollers ? options->pollers : DEFAULT_POLLERS;
	worker->threads = options->threads ? options->threads : worker->max_concurrent;
	worker->grace_ms = options->grace_ms >= 0 ? options->grace_ms : PORTICO_WORKER_DEFAULT_GRACE_MS;
	worker->max_payload_bytes = options->max_payload_bytes ? options->max_payload_bytes : DEFAULT_MAX_PAYLOAD_BYTES;
	worker->codec = options->codec;
	worker->metrics = options->metrics;
	worker->namespace_name = portico_strdup(portico_client_namespace(client));
	pthread_mutex_init(&worker->lock, NULL);
	worker->blocking.worker = worker->loop_work.worker = worker;
	pthread_cond_init(&worker->blocking.ready, NULL);
	pthread_cond_init(&worker->loop_work.ready, NULL);
	return worker;
}

static void add_registration(portico_worker *worker, const char *activity_type, portico_activity_fn fn, void *user_data,
                             enum execution_model model)
{
	registration *r = portico_calloc(1, sizeof *r);
	r->type = portico_strdup(activity_type);
	r->fn = fn;
	r->user_data = user_data;
	r->model = model;
	r->next = worker->registrations;
	worker->registrations = r;
}

void portico_worker_register(portico_worker *worker, const char *activity_type, portico_activity_fn fn, void *user_data)
{
	add_registration(worker, activity_type, fn, user_data, ON_THREAD);
}

void portico_worker_register_process(portico_worker *worker, const char *activity_type, portico_activity_fn fn,
                                     void *user_data)
{
	add_registration(worker, activity_type, fn, user_data, IN_PROCESS);
}

void portico_worker_register_loop(portico_worker *worker, const char *activity_type, portico_activity_fn fn,
                                  void *user_data)
{
	add_registration(worker, activity_type, fn, user_data, ON_LOOP);
}

static const registration *find_registration(const portico_worker *worker, const char *type)
{
	for (const registration *r = worker->registrations; r; r = r->next)
		if (!strcmp(r->type, type))
			return r;
	return NULL;
}

/* ---- Talking to Temporal -------------------------------------------------------------------- */

static int call(portico_worker *worker, const char *method, const ProtobufCMessage *request, int64_t timeout_ms,
                portico_error *err)
{
	portico_call_options options = {.method = method,
	                                .namespace_name = worker->namespace_name,
	                                .timeout_ms = timeout_ms,
	                                .retry_transient = 1};
	ProtobufCMessage *response;
	if (portico_transport_call(portico_client_transport(worker->client), &options, request, &response, err))
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

/* One long poll on the worker's own connection, so that shutdown can cut it short. */
static activity_task *poll_task(portico_worker *worker, portico_error *err)
{
	Temporal__Api__Taskqueue__V1__TaskQueue queue = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
	queue.name = worker->task_queue;
	queue.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
	Temporal__Api__Workflowservice__V1__PollActivityTaskQueueRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__POLL_ACTIVITY_TASK_QUEUE_REQUEST__INIT;
	request.namespace_ = worker->namespace_name;
	request.task_queue = &queue;
	request.identity = worker->identity;
	portico_call_options options = {.method = "PollActivityTaskQueue",
	                                .namespace_name = worker->namespace_name,
	                                .timeout_ms = POLL_TIMEOUT_MS};
	poll_wait wait = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, PORTICO_ERROR_INIT};
	if (portico_transport_call_async(worker->poll_transport, &options, &request.base, on_poll, &wait, err))
		return NULL;
	pthread_mutex_lock(&wait.lock);
	while (!wait.done)
		pthread_cond_wait(&wait.done_cond, &wait.lock);
	pthread_mutex_unlock(&wait.lock);
	if (wait.err.code != PORTICO_OK) {
		*err = wait.err;
		return NULL;
	}
	return (activity_task *)wait.response;
}

/* ---- Answers ---------------------------------------------------------------------------------- */

/* True for the first caller only: every task is answered exactly once. */
static int claim_answer(portico_activity *activity)
{
	return !atomic_exchange(&activity->answered, 1) && !atomic_load(&activity->gone);
}

/* The fields that say which activity a log line is about. */
static json_t *activity_fields(const portico_activity *activity)
{
	json_t *fields = json_object();
	json_object_set_new(fields, "activityType", portico_log_text(activity->info.activity_type));
	json_object_set_new(fields, "activityId", portico_log_text(activity->info.activity_id));
	json_object_set_new(fields, "workflowId", portico_log_text(activity->info.workflow_id));
	json_object_set_new(fields, "attempt", json_integer(activity->info.attempt));
	return fields;
}

static void log_answer_error(const portico_activity *activity, const char *what, const portico_error *err)
{
	char *message = portico_sprintf("%s failed", what);
	json_t *fields = activity_fields(activity);
	json_object_set_new(fields, "code", json_string(portico_code_name(err->code)));
	json_object_set_new(fields, "detail", portico_log_text(err->message));
	portico_log("error", message, fields);
	free(message);
}

/* One JSON value as a Payloads of one json/plain payload; NULL for NULL. */
static portico_payloads *json_payloads(json_t *value)
{
	if (!value)
		return NULL;
	json_t *array = json_pack("[O]", value);
	portico_payloads *payloads = portico_payloads_of_values(array);
	json_decref(array);
	return payloads;
}

static portico_payloads *details_payloads(portico_activity *activity)
{
	pthread_mutex_lock(&activity->lock);
	portico_payloads *payloads = json_payloads(activity->last_details);
	pthread_mutex_unlock(&activity->lock);
	return payloads;
}

static void respond_failed(portico_activity *activity, const char *type, int non_retryable, int64_t next_retry_delay_ms,
                           const char *message)
{
	if (!claim_answer(activity))
		return;
	portico_worker *worker = activity->worker;
	atomic_fetch_add(&worker->failed, 1);
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
	failure.message = worker->codec ? "Encoded failure" : (char *)message;
	failure.encoded_attributes =
	        worker->codec ? portico_payload_new(PORTICO_ENCODING_JSON, (const uint8_t *)text, length) : NULL;
	free(text);

	Temporal__Api__Workflowservice__V1__RespondActivityTaskFailedRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__RESPOND_ACTIVITY_TASK_FAILED_REQUEST__INIT;
	request.task_token = activity->task->task_token;
	request.failure = &failure;
	request.identity = worker->identity;
	request.namespace_ = worker->namespace_name;
	/* The latest heartbeat details, sent or still throttled, reach the next attempt. */
	request.last_heartbeat_details = details_payloads(activity);
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload_size largest;
	if (portico_codec_encode_message(worker->codec, &request.base, worker->max_payload_bytes, &largest, &err)) {
		portico_payloads_free(request.last_heartbeat_details);
		request.last_heartbeat_details = NULL;
		portico_error_clear(&err);
	}
	if (call(worker, "RespondActivityTaskFailed", &request.base, RESPOND_TIMEOUT_MS, &err))
		log_answer_error(activity, "RespondActivityTaskFailed", &err);
	portico_payload_free(failure.encoded_attributes);
	portico_payloads_free(request.last_heartbeat_details);
	portico_error_clear(&err);
}

static void respond_completed(portico_activity *activity)
{
	portico_worker *worker = activity->worker;
	portico_payloads *result = json_payloads(activity->result);
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload_size largest;
	Temporal__Api__Workflowservice__V1__RespondActivityTaskCompletedRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__RESPOND_ACTIVITY_TASK_COMPLETED_REQUEST__INIT;
	request.task_token = activity->task->task_token;
	request.result = result;
	request.identity = worker->identity;
	request.namespace_ = worker->namespace_name;
	if (portico_codec_encode_message(worker->codec, &request.base, worker->max_payload_bytes, &largest, &err)) {
		/* Temporal would refuse it and fail the activity later; say why now. */
		respond_failed(activity, "PayloadSizeLimitExceeded", 1, 0, err.message);
	} else if (claim_answer(activity)) {
		atomic_fetch_add(&worker->completed, 1);
		if (call(worker, "RespondActivityTaskCompleted", &request.base, RESPOND_TIMEOUT_MS, &err))
			log_answer_error(activity, "RespondActivityTaskCompleted", &err);
	}
	portico_payloads_free(result);
	portico_error_clear(&err);
}

static void respond_canceled(portico_activity *activity)
{
	if (!claim_answer(activity))
		return;
	portico_worker *worker = activity->worker;
	atomic_fetch_add(&worker->canceled, 1);
	Temporal__Api__Workflowservice__V1__RespondActivityTaskCanceledRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__RESPOND_ACTIVITY_TASK_CANCELED_REQUEST__INIT;
	request.task_token = activity->task->task_token;
	request.identity = worker->identity;
	request.namespace_ = worker->namespace_name;
	portico_error err = PORTICO_ERROR_INIT;
	if (call(worker, "RespondActivityTaskCanceled", &request.base, RESPOND_TIMEOUT_MS, &err))
		log_answer_error(activity, "RespondActivityTaskCanceled", &err);
	portico_error_clear(&err);
}

/* ---- Running an activity ---------------------------------------------------------------------- */

static void running_add(portico_worker *worker, portico_activity *activity)
{
	pthread_mutex_lock(&worker->lock);
	activity->next = worker->running;
	if (activity->next)
		activity->next->prev = activity;
	worker->running = activity;
	worker->running_count++;
	pthread_mutex_unlock(&worker->lock);
}

/* With the lock held. */
static void running_unlink(portico_worker *worker, portico_activity *activity)
{
	if (activity->prev)
		activity->prev->next = activity->next;
	else
		worker->running = activity->next;
	if (activity->next)
		activity->next->prev = activity->prev;
	worker->running_count--;
}

static void running_remove(portico_worker *worker, portico_activity *activity)
{
	pthread_mutex_lock(&worker->lock);
	running_unlink(worker, activity);
	pthread_mutex_unlock(&worker->lock);
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
		int64_t since_scheduled = portico_wall_ms() - (task->scheduled_time->seconds * 1000 +
		                                               task->scheduled_time->nanos / 1000000);
		int64_t until = now + schedule_to_close - (since_scheduled > 0 ? since_scheduled : 0);
		if (!deadline || until < deadline)
			deadline = until;
	}
	return deadline;
}

static void activity_init(portico_activity *activity, portico_worker *worker, activity_task *task)
{
	memset(activity, 0, sizeof *activity);
	activity->child_out = activity->child_cancel = -1;
	activity->worker = worker;
	activity->task = task;
	activity->deadline_ms = attempt_deadline_ms(task);
	temporal__api__common__v1__payloads__init(&activity->empty);
	pthread_mutex_init(&activity->lock, NULL);
	portico_codec_decode_message(worker ? worker->codec : NULL, &task->base);
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
	int64_t throttle =
	        info->heartbeat_timeout_ms ? info->heartbeat_timeout_ms * 4 / 5 : DEFAULT_HEARTBEAT_THROTTLE_MS;
	activity->throttle_ms = throttle < MAX_HEARTBEAT_THROTTLE_MS ? throttle : MAX_HEARTBEAT_THROTTLE_MS;
}

static void activity_release(portico_activity *activity)
{
	json_decref(activity->result);
	json_decref(activity->last_details);
	free(activity->fail_type);
	free(activity->fail_message);
	free(activity->too_large_message);
	pthread_mutex_destroy(&activity->lock);
	protobuf_c_message_free_unpacked(&activity->task->base, NULL);
}

/* An attempt that set a NULL result failed, whatever it returned. */
static int settled_outcome(const portico_activity *activity, int outcome)
{
	return outcome == PORTICO_ACTIVITY_COMPLETED && activity->result_invalid ? PORTICO_ACTIVITY_FAILED : outcome;
}

/* ---- The process model ------------------------------------------------------------------------ *
 * The child writes lines to the parent: "H <json>" per heartbeat, then one of "R <json>" (result),
 * "F <json>" (failure) or "C" (canceled). The parent writes a byte to the cancel pipe when the
 * activity should stop. */

#define CHILD_POLL_MS 200

static void write_all(int fd, const char *data, size_t length)
{
	while (length) {
		ssize_t written = write(fd, data, length);
		if (written <= 0 && errno != EINTR)
			return;
		if (written > 0) {
			data += written;
			length -= (size_t)written;
		}
	}
}

/* One line to the parent; without a value (no result, no details) the line is the kind alone. */
static void child_send(portico_activity *activity, char kind, const json_t *value)
{
	size_t length;
	char *text = value ? portico_json_text(value, 0, &length) : portico_strdup("");
	char *line = portico_sprintf(value ? "%c %s\n" : "%c%s\n", kind, text);
	write_all(activity->child_out, line, strlen(line));
	free(line);
	free(text);
}

static _Noreturn void child_main(portico_activity *activity, const registration *r, int out, int cancel)
{
	activity->child_out = out;
	activity->child_cancel = cancel;
	int outcome = settled_outcome(activity, r->fn(activity, r->user_data));
	if (outcome == PORTICO_ACTIVITY_COMPLETED) {
		child_send(activity, 'R', activity->result);
	} else if (outcome == PORTICO_ACTIVITY_CANCELED) {
		child_send(activity, 'C', NULL);
	} else if (outcome == PORTICO_ACTIVITY_COMPLETE_ASYNC) {
		child_send(activity, 'A', NULL);
	} else {
		json_t *failure = json_pack("{s:s?,s:s?,s:b,s:I}", "type", activity->fail_type, "message",
		                            activity->fail_message, "nonRetryable", activity->non_retryable,
		                            "nextRetryDelayMs", (json_int_t)activity->next_retry_delay_ms);
		child_send(activity, 'F', failure);
		json_decref(failure);
	}
	_exit(0);
}

/* Applies one line from the child; returns the outcome it ends with, or 1 for "go on". */
static int take_child_line(portico_activity *activity, char *line)
{
	json_t *value = strlen(line) > 2 ? json_loads(line + 2, JSON_DECODE_ANY, NULL) : NULL;
	int outcome = 1;
	switch (line[0]) {
	case 'H':
		portico_activity_heartbeat(activity, json_is_null(value) ? NULL : json_incref(value));
		break;
	case 'R': /* a JSON null is a result; a line without a value is none */
		json_decref(activity->result);
		activity->result = json_incref(value);
		outcome = PORTICO_ACTIVITY_COMPLETED;
		break;
	case 'C':
		outcome = PORTICO_ACTIVITY_CANCELED;
		break;
	case 'A':
		outcome = PORTICO_ACTIVITY_COMPLETE_ASYNC;
		break;
	case 'F': {
		const char *message = json_string_value(json_object_get(value, "message"));
		outcome = portico_activity_fail(activity, json_string_value(json_object_get(value, "type")),
		                                json_is_true(json_object_get(value, "nonRetryable")),
		                                json_integer_value(json_object_get(value, "nextRetryDelayMs")), "%s",
		                                message ? message : "the activity failed");
		break;
	}
	}
	json_decref(value);
	return outcome;
}

static int run_in_child(portico_activity *activity, const registration *r)
{
	int to_parent[2], to_child[2];
	if (pipe2(to_parent, O_CLOEXEC) || pipe2(to_child, O_CLOEXEC | O_NONBLOCK))
		return portico_activity_fail(activity, "ActivityProcessFailed", 0, 0, "pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child == 0) {
		close(to_parent[0]);
		close(to_child[1]);
		child_main(activity, r, to_parent[1], to_child[0]);
	}
	close(to_parent[1]);
	close(to_child[0]);
	if (child < 0) {
		close(to_parent[0]);
		close(to_child[1]);
		return portico_activity_fail(activity, "ActivityProcessFailed", 0, 0, "fork: %s", strerror(errno));
	}
	FILE *from_child = fdopen(to_parent[0], "r");
	int outcome = 1, told_to_cancel = 0;
	char *line = NULL;
	size_t capacity = 0;
	struct pollfd readable = {to_parent[0], POLLIN, 0};
	while (outcome == 1) {
		if (!told_to_cancel && portico_activity_cancelled(activity)) {
			write_all(to_child[1], "c", 1);
			told_to_cancel = 1;
		}
		if (poll(&readable, 1, CHILD_POLL_MS) == 0)
			continue;
		ssize_t length = getline(&line, &capacity, from_child);
		if (length <= 0)
			break;
		line[length - 1] = '\0';
		outcome = take_child_line(activity, line);
	}
	free(line);
	fclose(from_child);
	close(to_child[1]);
	int status = 0;
	waitpid(child, &status, 0);
	if (outcome != 1)
		return outcome;
	return portico_activity_fail(activity, "ActivityProcessCrashed", 0, 0,
	                             WIFSIGNALED(status)
	                                     ? "the activity's process died of signal %d"
	                                     : "the activity's process exited with status %d before answering",
	                             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static void activity_unref(portico_activity *activity)
{
	if (atomic_fetch_sub(&activity->refs, 1) == 1) {
		activity_release(activity);
		free(activity);
	}
}

static int past_deadline(const portico_activity *activity)
{
	return activity->deadline_ms && portico_monotonic_ms() >= activity->deadline_ms;
}

/* Stopped by its own timeout: Temporal has timed the attempt out (its clock started first) and
 * would refuse any answer, so none is sent. */
static void let_temporal_time_out(portico_activity *activity)
{
	if (!claim_answer(activity))
		return;
	portico_log("info", "attempt timed out", activity_fields(activity));
}

static void respond_too_large(portico_activity *activity)
{
	pthread_mutex_lock(&activity->lock);
	char *message = portico_strdup(activity->too_large_message);
	pthread_mutex_unlock(&activity->lock);
	respond_failed(activity, "PayloadSizeLimitExceeded", 1, 0, message ? message : "a payload is over the limit");
	free(message);
}

/* Answers Temporal for an attempt that ended with outcome, and lets go of the activity. */
static void answer(portico_activity *activity, int outcome)
{
	outcome = settled_outcome(activity, outcome);
	if (outcome == PORTICO_ACTIVITY_COMPLETE_ASYNC)
		claim_answer(activity); /* whoever holds the task token answers */
	else if (atomic_load(&activity->too_large))
		respond_too_large(activity);
	else if (outcome == PORTICO_ACTIVITY_COMPLETED)
		respond_completed(activity);
	else if (outcome == PORTICO_ACTIVITY_CANCELED && atomic_load(&activity->cancel_requested))
		respond_canceled(activity);
	else if (atomic_load(&activity->shutting_down))
		respond_failed(activity, "WorkerShutdown", 0, 0, "the worker shut down before the activity finished");
	else if (outcome == PORTICO_ACTIVITY_CANCELED && past_deadline(activity))
		let_temporal_time_out(activity);
	else
		respond_failed(activity, activity->fail_type ? activity->fail_type : "ActivityError",
		               activity->non_retryable, activity->next_retry_delay_ms,
		               activity->fail_message ? activity->fail_message : "the activity failed");
	activity_unref(activity);
}

static void count_run_time(portico_activity *activity)
{
	int64_t ran_ms = portico_monotonic_ms() - activity->started_ms;
	atomic_fetch_add(&activity->worker->run_ms_total, (uint64_t)ran_ms);
	if (activity->worker->metrics) {
		char labels[256];
		portico_metrics_label(labels, sizeof labels, "activity_type", activity->info.activity_type);
		portico_metrics_observe(activity->worker->metrics, "portico_worker_activity_duration_seconds", labels,
		                        (double)ran_ms / 1000);
	}
}

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

/* Starts fn on the loop's thread; when it does not go on (PENDING), it is finished at once. */
static void begin_on_loop(portico_activity *activity, portico_activity_fn fn, void *user_data)
{
	activity->on_loop = 1;
	activity->cancel_check = portico_loop_timer_new(activity->loop, check_cancel, activity);
	portico_loop_timer_start(activity->cancel_check, CANCEL_CHECK_MS, CANCEL_CHECK_MS);
	int outcome = fn(activity, user_data);
	if (outcome != PORTICO_ACTIVITY_PENDING)
		portico_activity_finish(activity, outcome);
}

static void start_on_loop(void *arg)
{
	portico_activity *activity = arg;
	const registration *r = find_registration(activity->worker, activity->info.activity_type);
	begin_on_loop(activity, r->fn, r->user_data);
}

static void push_locked(work_queue *queue, queued_task *item)
{
	if (queue->tail)
		queue->tail->next = item;
	else
		queue->head = item;
	queue->tail = item;
	pthread_cond_signal(&queue->ready);
}

void portico_activity_finish(portico_activity *activity, int outcome)
{
	portico_loop_timer_free(activity->cancel_check);
	activity->cancel_check = NULL;
	activity->on_cancel = NULL;
	if (activity->env) {
		activity->final_outcome = outcome;
		if (activity->env_loop_running)
			portico_loop_stop(activity->loop);
		return;
	}
	portico_worker *worker = activity->worker;
	count_run_time(activity);
	queued_task *item = portico_calloc(1, sizeof *item);
	item->finished = activity;
	item->outcome = outcome;
	/* Off the running list and onto the queue at once, so that the worker never looks idle. */
	pthread_mutex_lock(&worker->lock);
	running_unlink(worker, activity);
	push_locked(&worker->loop_work, item);
	pthread_mutex_unlock(&worker->lock);
}

/* Runs a task from the queue. Returns 1 when it went on to the event loop, which keeps its slot
 * until it finishes; 0 once it ran and was answered. */
static int run_task(portico_worker *worker, activity_task *task)
{
	portico_activity *activity = portico_malloc(sizeof *activity);
	activity_init(activity, worker, task);
	atomic_store(&activity->refs, 1);
	pthread_mutex_lock(&worker->lock);
	worker->starting--;
	if (worker->grace_over)
		atomic_store(&activity->shutting_down, 1);
	pthread_mutex_unlock(&worker->lock);
	running_add(worker, activity);
	activity->started_ms = portico_monotonic_ms();
	const registration *r = find_registration(worker, activity->info.activity_type);
	if (r && r->model == ON_LOOP) {
		activity->loop = worker->loop;
		portico_loop_post(worker->loop, start_on_loop, activity);
		return 1;
	}
	int outcome = !r                       ? portico_activity_fail(activity, "NotFoundError", 0, 0,
	                                                               "activity type \"%s\" is not registered on this worker",
	                                                               activity->info.activity_type)
	              : r->model == IN_PROCESS ? run_in_child(activity, r)
	                                       : r->fn(activity, r->user_data);
	running_remove(worker, activity);
	count_run_time(activity);
	answer(activity, outcome);
	return 0;
}

/* ---- Threads ---------------------------------------------------------------------------------- */

static int reserve_slot(portico_worker *worker)
{
	while (!atomic_load(&worker->stopping)) {
		struct timespec until = portico_wall_deadline(SLOT_WAIT_MS);
		if (sem_timedwait(&worker->slots, &until) == 0)
			return 0;
	}
	return -1;
}

static void sleep_unless_stopping(portico_worker *worker, int64_t ms)
{
	for (int64_t slept = 0; slept < ms && !atomic_load(&worker->stopping); slept += 50) {
		struct timespec pause = {0, 50 * 1000000L};
		nanosleep(&pause, NULL);
	}
}

static void enqueue(portico_worker *worker, activity_task *task)
{
	queued_task *item = portico_calloc(1, sizeof *item);
	item->task = task;
	const registration *r = find_registration(worker, task->activity_type ? task->activity_type->name : "");
	pthread_mutex_lock(&worker->lock);
	push_locked(r && r->model == ON_LOOP ? &worker->loop_work : &worker->blocking, item);
	pthread_mutex_unlock(&worker->lock);
}

static void note_poll_failure(portico_worker *worker, const portico_error *err)
{
	pthread_mutex_lock(&worker->lock);
	free(worker->poll_error);
	worker->poll_error =
	        portico_sprintf("%s: %s", portico_code_name(err->code), err->message ? err->message : "no detail");
	pthread_mutex_unlock(&worker->lock);
	atomic_store(&worker->poll_failed_ms, portico_monotonic_ms());
}

static void *poller_main(void *arg)
{
	portico_worker *worker = arg;
	unsigned failures = 0;
	while (reserve_slot(worker) == 0) {
		portico_error err = PORTICO_ERROR_INIT;
		activity_task *task = poll_task(worker, &err);
		if (task)
			atomic_fetch_add(&worker->polls, 1);
		if (task && task->task_token.len) {
			atomic_store(&worker->poll_ok_ms, portico_monotonic_ms());
			atomic_fetch_add(&worker->tasks, 1);
			failures = 0;
			enqueue(worker, task);
			continue;
		}
		sem_post(&worker->slots);
		if (task) {
			atomic_store(&worker->poll_ok_ms, portico_monotonic_ms());
			protobuf_c_message_free_unpacked(&task->base, NULL); /* the long poll ended empty */
			continue;
		}
		if (!atomic_load(&worker->stopping)) {
			note_poll_failure(worker, &err);
			portico_log("warn", "poll failed",
			            json_pack("{s:s,s:o}", "code", portico_code_name(err.code), "detail",
			                      portico_log_text(err.message)));
			sleep_unless_stopping(worker, portico_backoff_delay_ms(++failures));
		}
		portico_error_clear(&err);
	}
	return NULL;
}

/* Serves one queue: executors the blocking one, loop helpers the event loop's. */
static void *executor_main(void *arg)
{
	work_queue *queue = arg;
	portico_worker *worker = queue->worker;
	for (;;) {
		pthread_mutex_lock(&worker->lock);
		while (!queue->head && !worker->executors_stop)
			pthread_cond_wait(&queue->ready, &worker->lock);
		queued_task *item = queue->head;
		if (!item) {
			pthread_mutex_unlock(&worker->lock);
			return NULL;
		}
		queue->head = item->next;
		if (!queue->head)
			queue->tail = NULL;
		worker->starting++;
		pthread_mutex_unlock(&worker->lock);
		int on_loop = 0;
		if (item->finished) {
			answer(item->finished, item->outcome);
			pthread_mutex_lock(&worker->lock);
			worker->starting--;
			pthread_mutex_unlock(&worker->lock);
		} else {
			on_loop = run_task(worker, item->task);
		}
		free(item);
		if (!on_loop)
			sem_post(&worker->slots);
	}
}

static void flush_heartbeat(portico_activity *activity);
static size_t busy(portico_worker *worker);

/* Without its threads the worker would take tasks it cannot run; better to stop loudly. */
static _Noreturn void thread_failed(void)
{
	portico_log("error", "cannot start the worker's threads", NULL);
	abort();
}

/* Sends the heartbeats that were throttled once their window is over, as the SDKs do, so that
 * an activity heartbeating a little less often than the throttle still keeps its lease. */
static void *flusher_main(void *arg)
{
	portico_worker *worker = arg;
	while (!atomic_load(&worker->stopping) || busy(worker)) {
		portico_activity *due[FLUSH_BATCH];
		size_t count = 0;
		int64_t now = portico_monotonic_ms();
		pthread_mutex_lock(&worker->lock);
		for (portico_activity *a = worker->running; a && count < FLUSH_BATCH; a = a->next) {
			pthread_mutex_lock(&a->lock);
			if (a->heartbeat_pending && now - a->last_sent_ms >= a->throttle_ms) {
				atomic_fetch_add(&a->refs, 1);
				due[count++] = a;
			}
			pthread_mutex_unlock(&a->lock);
		}
		pthread_mutex_unlock(&worker->lock);
		for (size_t i = 0; i < count; i++) {
			flush_heartbeat(due[i]);
			activity_unref(due[i]);
		}
		struct timespec pause = {0, FLUSH_INTERVAL_MS * 1000000L};
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void *loop_main(void *arg)
{
	portico_loop_run(arg);
	return NULL;
}

int portico_worker_start(portico_worker *worker, portico_error *err)
{
	if (!worker->task_queue || !*worker->task_queue)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the worker needs a task queue");
	if (!worker->registrations)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the worker has no activities registered");
	portico_config cfg;
	if (portico_config_from_env(&cfg, err))
		return -1;
	worker->identity = portico_strdup(cfg.identity);
	worker->poll_transport = portico_transport_open(&cfg, err);
	portico_config_free(&cfg);
	if (!worker->poll_transport || !(worker->loop = portico_loop_new(err)))
		return -1;
	sem_init(&worker->slots, 0, worker->max_concurrent);
	worker->executor_threads = portico_calloc(worker->threads, sizeof(pthread_t));
	worker->poller_threads = portico_calloc(worker->pollers, sizeof(pthread_t));
	if (pthread_create(&worker->loop_thread, NULL, loop_main, worker->loop))
		thread_failed();
	for (unsigned i = 0; i < worker->threads; i++)
		if (pthread_create(&worker->executor_threads[i], NULL, executor_main, &worker->blocking))
			thread_failed();
	for (unsigned i = 0; i < LOOP_HELPERS; i++)
		if (pthread_create(&worker->loop_helpers[i], NULL, executor_main, &worker->loop_work))
			thread_failed();
	for (unsigned i = 0; i < worker->pollers; i++)
		if (pthread_create(&worker->poller_threads[i], NULL, poller_main, worker))
			thread_failed();
	if (pthread_create(&worker->flusher_thread, NULL, flusher_main, worker))
		thread_failed();
	worker->started = 1;
	return 0;
}

static size_t busy(portico_worker *worker)
{
	pthread_mutex_lock(&worker->lock);
	size_t count = worker->running_count + worker->starting + (worker->blocking.head != NULL) +
	               (worker->loop_work.head != NULL);
	pthread_mutex_unlock(&worker->lock);
	return count;
}

static void wait_until_idle(portico_worker *worker, int64_t limit_ms)
{
	int64_t deadline = portico_monotonic_ms() + limit_ms;
	while (busy(worker) && portico_monotonic_ms() < deadline) {
		struct timespec pause = {0, 20 * 1000000L};
		nanosleep(&pause, NULL);
	}
}

static void tell_temporal_we_stop(portico_worker *worker)
{
	Temporal__Api__Workflowservice__V1__ShutdownWorkerRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__SHUTDOWN_WORKER_REQUEST__INIT;
	request.namespace_ = worker->namespace_name;
	request.identity = worker->identity;
	request.reason = "graceful shutdown";
	portico_error err = PORTICO_ERROR_INIT;
	/* Older servers answer Unimplemented; nothing depends on this call. */
	call(worker, "ShutdownWorker", &request.base, SHUTDOWN_RPC_TIMEOUT_MS, &err);
	portico_error_clear(&err);
}

int portico_worker_shutdown(portico_worker *worker)
{
	if (!worker->started)
		return 0;
	atomic_store(&worker->stopping, 1);
	portico_transport_shutdown(worker->poll_transport);
	for (unsigned i = 0; i < worker->pollers; i++)
		pthread_join(worker->poller_threads[i], NULL);
	tell_temporal_we_stop(worker);

	wait_until_idle(worker, worker->grace_ms);
	pthread_mutex_lock(&worker->lock);
	worker->grace_over = 1;
	for (portico_activity *a = worker->running; a; a = a->next)
		atomic_store(&a->shutting_down, 1);
	pthread_mutex_unlock(&worker->lock);
	wait_until_idle(worker, CANCEL_WAIT_MS);

	/* What still runs ignored its cancellation: answer for it, so Temporal retries elsewhere now
	 * rather than after a timeout. Tasks still queued get the same answer. The answers go out
	 * without the lock held, so that activities finishing meanwhile are not held up. */
	pthread_mutex_lock(&worker->lock);
	worker->executors_stop = 1;
	size_t still_running = worker->running_count + worker->starting, stuck_count = 0;
	portico_activity **stuck = portico_calloc(worker->running_count + 1, sizeof *stuck);
	for (portico_activity *a = worker->running; a; a = a->next) {
		atomic_fetch_add(&a->refs, 1);
		stuck[stuck_count++] = a;
	}
	/* Answers waiting to go out first, then tasks that never started. */
	if (worker->loop_work.tail)
		worker->loop_work.tail->next = worker->blocking.head;
	queued_task *queued = worker->loop_work.head ? worker->loop_work.head : worker->blocking.head;
	worker->blocking.head = worker->blocking.tail = worker->loop_work.head = worker->loop_work.tail = NULL;
	pthread_cond_broadcast(&worker->blocking.ready);
	pthread_cond_broadcast(&worker->loop_work.ready);
	pthread_mutex_unlock(&worker->lock);
	for (size_t i = 0; i < stuck_count; i++) {
		respond_failed(stuck[i], "WorkerShutdown", 0, 0, "the worker shut down before the activity finished");
		activity_unref(stuck[i]);
	}
	free(stuck);
	for (queued_task *next; queued; queued = next) {
		next = queued->next;
		if (queued->finished) {
			answer(queued->finished, queued->outcome);
			free(queued);
			continue;
		}
		portico_activity activity;
		activity_init(&activity, worker, queued->task);
		respond_failed(&activity, "WorkerShutdown", 0, 0, "the worker shut down before the activity started");
		activity_release(&activity);
		free(queued);
	}
	if (still_running)
		return -1;
	for (unsigned i = 0; i < worker->threads; i++)
		pthread_join(worker->executor_threads[i], NULL);
	for (unsigned i = 0; i < LOOP_HELPERS; i++)
		pthread_join(worker->loop_helpers[i], NULL);
	pthread_join(worker->flusher_thread, NULL);
	portico_loop_stop(worker->loop);
	pthread_join(worker->loop_thread, NULL);
	worker->started = 0;
	return 0;
}

/* Polling works unless the last poll to end failed, and failed recently (see POLL_RECOVERY_MS). */
static int polls_failing(portico_worker *worker, portico_error *err)
{
	int64_t failed = atomic_load(&worker->poll_failed_ms), ok = atomic_load(&worker->poll_ok_ms);
	if (!failed || ok > failed || portico_monotonic_ms() - failed >= POLL_RECOVERY_MS)
		return 0;
	pthread_mutex_lock(&worker->lock);
	portico_error_set(err, PORTICO_UNAVAILABLE, "polling task queue \"%s\" fails: %s", worker->task_queue,
	                  worker->poll_error ? worker->poll_error : "no detail");
	pthread_mutex_unlock(&worker->lock);
	return -1;
}

int portico_worker_ready(portico_worker *worker, portico_error *err)
{
	if (!worker->started || atomic_load(&worker->stopping))
		return portico_error_set(err, PORTICO_UNAVAILABLE, "the worker is %s",
		                         worker->started ? "shutting down" : "not started");
	if (polls_failing(worker, err))
		return -1;
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	portico_call_options options = {.method = "GetSystemInfo", .timeout_ms = READY_TIMEOUT_MS};
	ProtobufCMessage *response;
	if (portico_transport_call(portico_client_transport(worker->client), &options, &request.base, &response, err)) {
		portico_error_prefix(err, "Temporal does not answer");
		return -1;
	}
	protobuf_c_message_free_unpacked(response, NULL);
	return 0;
}

json_t *portico_worker_activity_types(const portico_worker *worker)
{
	json_t *types = json_array();
	for (const registration *r = worker->registrations; r; r = r->next)
		json_array_insert_new(types, 0, portico_log_text(r->type)); /* the list is newest first */
	return types;
}

void portico_worker_get_stats(portico_worker *worker, portico_worker_stats *stats)
{
	stats->polls = atomic_load(&worker->polls);
	stats->tasks = atomic_load(&worker->tasks);
	stats->completed = atomic_load(&worker->completed);
	stats->failed = atomic_load(&worker->failed);
	stats->canceled = atomic_load(&worker->canceled);
	stats->run_ms_total = atomic_load(&worker->run_ms_total);
	stats->slots_in_use = busy(worker);
}

void portico_worker_metrics_define(portico_metrics *metrics)
{
	static const struct {
		const char *name, *help;
		portico_metric_type type;
	} families[] = {
	        {"portico_worker_polls_total", "Long polls answered, with a task or empty.", PORTICO_COUNTER},
	        {"portico_worker_tasks_total", "Activity tasks received.", PORTICO_COUNTER},
	        {"portico_worker_activities_total", "Attempts answered, by outcome.", PORTICO_COUNTER},
	        {"portico_worker_activity_seconds_total", "Time spent running activities.", PORTICO_COUNTER},
	        {"portico_worker_slots_in_use", "Activities taken and not yet answered.", PORTICO_GAUGE},
	};
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		portico_metrics_define(metrics, families[i].name, families[i].type, families[i].help, NULL, 0);
	portico_metrics_define(metrics, "portico_worker_activity_duration_seconds", PORTICO_HISTOGRAM,
	                       "Attempt run time, by activity type.", portico_metrics_seconds,
	                       portico_metrics_seconds_count);
}

void portico_worker_metrics_update(portico_worker *worker, portico_metrics *metrics)
{
	portico_worker_stats stats;
	portico_worker_get_stats(worker, &stats);
	portico_metrics_set(metrics, "portico_worker_polls_total", "", (double)stats.polls);
	portico_metrics_set(metrics, "portico_worker_tasks_total", "", (double)stats.tasks);
	portico_metrics_set(metrics, "portico_worker_activities_total", "outcome=\"completed\"",
	                    (double)stats.completed);
	portico_metrics_set(metrics, "portico_worker_activities_total", "outcome=\"failed\"", (double)stats.failed);
	portico_metrics_set(metrics, "portico_worker_activities_total", "outcome=\"canceled\"", (double)stats.canceled);
	portico_metrics_set(metrics, "portico_worker_activity_seconds_total", "", (double)stats.run_ms_total / 1000);
	portico_metrics_set(metrics, "portico_worker_slots_in_use", "", (double)stats.slots_in_use);
}

void portico_worker_free(portico_worker *worker)
{
	if (!worker || worker->started) /* threads still inside an activity keep the worker alive */
		return;
	portico_transport_close(worker->poll_transport);
	portico_loop_free(worker->loop);
	for (registration *r = worker->registrations, *next; r; r = next) {
		next = r->next;
		free(r->type);
		free(r);
	}
	if (worker->executor_threads)
		sem_destroy(&worker->slots);
	free(worker->poller_threads);
	free(worker->executor_threads);
	pthread_cond_destroy(&worker->blocking.ready);
	pthread_cond_destroy(&worker->loop_work.ready);
	pthread_mutex_destroy(&worker->lock);
	free(worker->task_queue);
	free(worker->namespace_name);
	free(worker->identity);
	free(worker->poll_error);
	free(worker);
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

static int metadata_is(const ProtobufCBinaryData *value, const char *text)
{
	return value && value->len == strlen(text) && !memcmp(value->data, text, value->len);
}

/* Reads payload as JSON into *value (a new reference; binary/null is JSON null). Returns NULL
 * when it could, else why not, for the log (the caller frees it), with *value NULL. */
static char *payload_as_json(const portico_payload *payload, json_t **value)
{
	const ProtobufCBinaryData *encoding = portico_payload_metadata(payload, "encoding");
	const ProtobufCBinaryData *codec_error = portico_payload_metadata(payload, "portico-codec-error");
	*value = NULL;
	if (codec_error)
		return portico_sprintf("it cannot be decrypted: %.*s", (int)codec_error->len,
		                       (const char *)codec_error->data);
	if (metadata_is(encoding, PORTICO_ENCODING_NULL)) {
		*value = json_null();
		return NULL;
	}
	if (metadata_is(encoding, PORTICO_ENCODING_JSON)) {
		json_error_t error;
		*value = json_loadb((const char *)payload->data.data, payload->data.len, JSON_DECODE_ANY, &error);
		return *value ? NULL : portico_sprintf("it is not valid JSON: %s", error.text);
	}
	if (metadata_is(encoding, PORTICO_ENCODING_ENCRYPTED))
		return portico_strdup("it is encrypted and this worker has no codec keys (PORTICO_CODEC_KEYS)");
	if (!encoding)
		return portico_strdup("it has no encoding");
	return portico_sprintf("its encoding is %.*s, not json/plain", (int)encoding->len,
	                       (const char *)encoding->data);
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
	char *reason = payload_as_json(payloads->payloads[index], &value);
	if (reason) {
		json_t *fields = activity_fields(activity);
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
	if (activity->env && activity->env->cancel)
		return 1;
	if (activity->child_cancel >= 0) {
		char byte;
		return read(activity->child_cancel, &byte, 1) == 1 || atomic_load(&activity->cancel_requested);
	}
	return atomic_load(&activity->cancel_requested) || atomic_load(&activity->gone) ||
	       atomic_load(&activity->shutting_down) || atomic_load(&activity->too_large) || past_deadline(activity);
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

static void send_heartbeat(portico_activity *activity, json_t *details)
{
	portico_worker *worker = activity->worker;
	portico_payloads *payloads = json_payloads(details);
	portico_error err = PORTICO_ERROR_INIT;
	Temporal__Api__Workflowservice__V1__RecordActivityTaskHeartbeatRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__RECORD_ACTIVITY_TASK_HEARTBEAT_REQUEST__INIT;
	request.task_token = activity->task->task_token;
	request.details = payloads;
	request.identity = worker->identity;
	request.namespace_ = worker->namespace_name;
	portico_payload_size largest;
	if (portico_codec_encode_message(worker->codec, &request.base, worker->max_payload_bytes, &largest, &err)) {
		/* Over the limit, Temporal would fail the activity: stop it and say why. The activity's
		 * own failure fields are its thread's; this may be the flusher's. */
		pthread_mutex_lock(&activity->lock);
		if (!activity->too_large_message)
			activity->too_large_message = portico_sprintf("heartbeat %s", err.message);
		pthread_mutex_unlock(&activity->lock);
		atomic_store(&activity->too_large, 1);
	} else {
		portico_call_options options = {.method = "RecordActivityTaskHeartbeat",
		                                .namespace_name = worker->namespace_name,
		                                .timeout_ms = RESPOND_TIMEOUT_MS,
		                                .retry_transient = 1};
		ProtobufCMessage *response;
		if (portico_transport_call(portico_client_transport(worker->client), &options, &request.base, &response,
		                           &err) == 0) {
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

/* In a test env, heartbeats are recorded, and cancellation may come with one. */
static void record_heartbeat(portico_activity *activity, json_t *details)
{
	portico_activity_env *env = activity->env;
	json_array_append(env->heartbeats, details ? details : json_null());
	json_decref(activity->last_details);
	activity->last_details = details;
	if (env->cancel_after_heartbeats && json_array_size(env->heartbeats) >= env->cancel_after_heartbeats)
		env->cancel = 1;
}

void portico_activity_heartbeat(portico_activity *activity, json_t *details)
{
	if (activity->child_out >= 0) {
		child_send(activity, 'H', details);
		json_decref(details);
		return;
	}
	if (activity->env) {
		record_heartbeat(activity, details);
		return;
	}
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
	activity->heartbeat_pending = !due;
	pthread_mutex_unlock(&activity->lock);
	if (due) {
		send_heartbeat(activity, to_send);
		json_decref(to_send);
	}
}

/* ---- The test environment --------------------------------------------------------------------- */

void portico_activity_env_init(portico_activity_env *env)
{
	memset(env, 0, sizeof *env);
	env->heartbeats = json_array();
	portico_error ignored = PORTICO_ERROR_INIT;
	env->loop = portico_loop_new(&ignored); /* NULL fails the runs */
	portico_error_clear(&ignored);
}

void portico_activity_env_free(portico_activity_env *env)
{
	json_decref(env->heartbeats);
	json_decref(env->result);
	portico_loop_free(env->loop);
	env->loop = NULL;
	free(env->error_type);
	free(env->error_message);
	env->heartbeats = env->result = NULL;
	env->error_type = env->error_message = NULL;
}

/* A task as a poll would deliver it, from the env's info and input (a heap tree). */
static activity_task *env_task(const portico_activity_env *env)
{
	const portico_activity_info *info = &env->info;
	activity_task *task = portico_malloc(sizeof *task);
	temporal__api__workflowservice__v1__poll_activity_task_queue_response__init(task);
	task->task_token.data = (uint8_t *)portico_strdup("test-task-token");
	task->task_token.len = strlen("test-task-token");
	task->activity_id = portico_strdup(info->activity_id ? info->activity_id : "test-activity");
	task->workflow_namespace = portico_strdup(info->workflow_namespace ? info->workflow_namespace : "default");
	task->activity_type = portico_malloc(sizeof *task->activity_type);
	temporal__api__common__v1__activity_type__init(task->activity_type);
	task->activity_type->name = portico_strdup(info->activity_type ? info->activity_type : "test");
	task->workflow_type = portico_malloc(sizeof *task->workflow_type);
	temporal__api__common__v1__workflow_type__init(task->workflow_type);
	task->workflow_type->name = portico_strdup(info->workflow_type ? info->workflow_type : "TestWorkflow");
	task->workflow_execution = portico_malloc(sizeof *task->workflow_execution);
	temporal__api__common__v1__workflow_execution__init(task->workflow_execution);
	task->workflow_execution->workflow_id = portico_strdup(info->workflow_id ? info->workflow_id : "test-workflow");
	task->workflow_execution->run_id = portico_strdup(info->run_id ? info->run_id : "test-run");
	task->attempt = info->attempt ? info->attempt : 1;
	if (info->heartbeat_timeout_ms) {
		task->heartbeat_timeout = portico_malloc(sizeof *task->heartbeat_timeout);
		google__protobuf__duration__init(task->heartbeat_timeout);
		task->heartbeat_timeout->seconds = info->heartbeat_timeout_ms / 1000;
		task->heartbeat_timeout->nanos = (int32_t)(info->heartbeat_timeout_ms % 1000) * 1000000;
	}
	if (info->start_to_close_timeout_ms) {
		task->start_to_close_timeout = portico_malloc(sizeof *task->start_to_close_timeout);
		google__protobuf__duration__init(task->start_to_close_timeout);
		task->start_to_close_timeout->seconds = info->start_to_close_timeout_ms / 1000;
		task->start_to_close_timeout->nanos = (int32_t)(info->start_to_close_timeout_ms % 1000) * 1000000;
	}
	portico_error ignored = PORTICO_ERROR_INIT;
	task->input = env->input ? portico_payloads_from_json(env->input, "input", &ignored) : NULL;
	task->heartbeat_details = json_payloads(env->heartbeat_details);
	portico_error_clear(&ignored);
	return task;
}

int portico_activity_env_run(portico_activity_env *env, portico_activity_fn fn, void *user_data)
{
	if (!env->loop) {
		free(env->error_message);
		env->error_message = portico_strdup("the test environment has no event loop");
		return env->outcome = PORTICO_ACTIVITY_FAILED;
	}
	portico_activity activity;
	activity_init(&activity, NULL, env_task(env));
	activity.env = env;
	activity.loop = env->loop;
	/* Every model runs the same way here: an event-loop activity that goes on gets the loop,
	 * run in this thread until it finishes. */
	activity.final_outcome = PORTICO_ACTIVITY_PENDING;
	begin_on_loop(&activity, fn, user_data);
	if (activity.final_outcome == PORTICO_ACTIVITY_PENDING) {
		activity.env_loop_running = 1;
		portico_loop_run(env->loop);
	}
	env->outcome = settled_outcome(&activity, activity.final_outcome);
	env->result = json_incref(activity.result);
	env->error_type = portico_strdup(activity.fail_type);
	env->error_message = portico_strdup(activity.fail_message);
	env->non_retryable = activity.non_retryable;
	env->next_retry_delay_ms = activity.next_retry_delay_ms;
	activity_release(&activity);
	return env->outcome;
}

/* Sends the latest throttled heartbeat of a running activity, if it is still due. */
static void flush_heartbeat(portico_activity *activity)
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
