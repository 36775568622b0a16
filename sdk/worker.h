/* The activity worker: polls a task queue for activity tasks and runs registered C functions,
 * each in one of three execution models as in Temporal's Python SDK: on an event loop (non-blocking
 * I/O), on a pool of threads (blocking I/O), or in a child process (CPU-heavy or crash-prone
 * work). An activity gets what Temporal's SDKs give it: its info and input, throttled heartbeats
 * that carry details to the next attempt, cancellation, typed errors and retry hints, completion
 * later by task token, and a graceful shutdown that loses no accepted task.
 *
 * Life cycle: portico_worker_new, portico_worker_register (any number), portico_worker_start,
 * then portico_worker_shutdown (graceful) and portico_worker_free. */
#ifndef PORTICO_WORKER_H
#define PORTICO_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "client.h"
#include "codec.h"
#include "error.h"
#include "loop.h"
#include "metrics.h"
#include "payload.h"

typedef struct portico_worker portico_worker;
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

#define PORTICO_WORKER_DEFAULT_MAX_CONCURRENT 20
#define PORTICO_WORKER_DEFAULT_GRACE_MS       30000

typedef struct portico_worker_options {
	const char *task_queue;     /* required */
	unsigned max_concurrent;    /* activities running at once; 0 for PORTICO_WORKER_DEFAULT_MAX_CONCURRENT */
	unsigned threads;           /* threads running thread-pool activities and answering; 0 for max_concurrent */
	unsigned pollers;           /* concurrent long polls; 0 for 2 */
	int64_t grace_ms;           /* shutdown: how long running activities may finish; negative for the default */
	size_t max_payload_bytes;   /* results and heartbeats over this fail the attempt; 0 for 2 MiB */
	const portico_codec *codec; /* NULL for none; borrowed, must outlive the worker */
	portico_metrics *metrics;   /* NULL for none; borrowed: activity durations by type go here */
} portico_worker_options;

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

/* A worker polling options->task_queue with client's connection. client must outlive it. */
portico_worker *portico_worker_new(portico_client *client, const portico_worker_options *options);

/* Registers fn for activities of the given type; before portico_worker_start. It runs on the
 * worker's thread pool: right for blocking I/O. */
void portico_worker_register(portico_worker *worker, const char *activity_type, portico_activity_fn fn,
                             void *user_data);

/* Registers fn to run on the worker's event loop: right for activities that do non-blocking I/O
 * and must never block the loop. fn starts the work (watches and timers on
 * portico_activity_loop), returns PORTICO_ACTIVITY_PENDING, and later calls
 * portico_activity_finish from a loop callback; or it returns an outcome at once. Every call on
 * such an activity happens on the loop's thread; its heartbeats are sent by another thread, so
 * they never block the loop. */
void portico_worker_register_loop(portico_worker *worker, const char *activity_type, portico_activity_fn fn,
                                  void *user_data);

/* Registers fn to run in a child process of its own for each attempt: right for CPU-heavy or
 * crash-prone code. A child that crashes fails that attempt with a retryable
 * ActivityProcessCrashed error and the worker lives on. Inside, the activity API works as usual
 * (heartbeats and cancellation cross the process boundary); it must not use the SDK's client. */
void portico_worker_register_process(portico_worker *worker, const char *activity_type, portico_activity_fn fn,
                                     void *user_data);

/* Starts the pollers and the pool. Returns -1 with err set when options are incomplete. */
int portico_worker_start(portico_worker *worker, portico_error *err);

/* Counters since the worker started, for operators and (later) the metrics endpoint. */
typedef struct portico_worker_stats {
	uint64_t polls;        /* long polls answered (with a task or empty) */
	uint64_t tasks;        /* tasks received */
	uint64_t completed;    /* attempts answered as completed */
	uint64_t failed;       /* attempts answered as failed (WorkerShutdown included) */
	uint64_t canceled;     /* attempts answered as canceled */
	uint64_t run_ms_total; /* time spent running activities, summed */
	uint64_t slots_in_use; /* activities taken and not yet answered, now */
} portico_worker_stats;

void portico_worker_get_stats(portico_worker *worker, portico_worker_stats *stats);

/* For a readiness probe: 0 when the worker is started, not shutting down, its polls are not
 * failing, and Temporal answers GetSystemInfo within 2 s (this call waits for that answer);
 * -1 with err saying which is not so. Any thread. */
int portico_worker_ready(portico_worker *worker, portico_error *err);

/* The activity types registered, in registration order: a JSON array of strings (new reference). */
json_t *portico_worker_activity_types(const portico_worker *worker);

/* Declares the worker's metric families in metrics and sets their values from the counters, for
 * a scrape (the activity duration histogram fills itself as attempts end). */
void portico_worker_metrics_define(portico_metrics *metrics);
void portico_worker_metrics_update(portico_worker *worker, portico_metrics *metrics);

/* Stops polling, tells Temporal (ShutdownWorker), lets running activities finish for up to the
 * grace period, then cancels the rest and fails them as WorkerShutdown (retryable): every task
 * taken is answered. Returns 0 when every thread has stopped; -1 when an activity ignored its
 * cancellation and still runs: its task was answered, but the worker, its client and codec must
 * then stay alive, so the caller should exit the process rather than free them. */
int portico_worker_shutdown(portico_worker *worker);

void portico_worker_free(portico_worker *worker);

/* ---- Inside an activity ----------------------------------------------------------------- */

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

/* ---- Testing activities without a server ------------------------------------------------
 * The C counterpart of the Python SDK's ActivityEnvironment: runs an activity function in the
 * calling thread with a given info and input, records its heartbeats, injects cancellation, and
 * keeps its result or error. */

typedef struct portico_activity_env {
	/* In: strings left NULL get test values; attempt 0 means 1. */
	portico_activity_info info;
	json_t *input;                  /* the arguments, a JSON array (borrowed; NULL for none) */
	json_t *heartbeat_details;      /* the details an earlier attempt left (borrowed; NULL for none) */
	int cancel;                     /* set before running: the activity starts cancelled */
	size_t cancel_after_heartbeats; /* nonzero: cancellation arrives with that heartbeat */
	/* Out, owned by the env: */
	json_t *heartbeats; /* every heartbeat's details, in order */
	int outcome;        /* what the function returned */
	json_t *result;     /* the result set, or NULL */
	char *error_type;   /* the failure set, or NULLs */
	char *error_message;
	int non_retryable;
	int64_t next_retry_delay_ms;
	portico_loop *loop; /* where event-loop activities run, in the calling thread (owned) */
} portico_activity_env;

/* Prepares an env with empty outputs and an event loop. */
void portico_activity_env_init(portico_activity_env *env);

/* Runs fn once, whatever its execution model; an event-loop activity that returns
 * PORTICO_ACTIVITY_PENDING runs env->loop until it finishes (so it must: with cancellation
 * injected, its on_cancel has to finish it). Returns the outcome (also in
 * env->outcome). */
int portico_activity_env_run(portico_activity_env *env, portico_activity_fn fn, void *user_data);

/* Frees the outputs and the loop (free what uses the loop first); the env can be run again
 * after portico_activity_env_init. */
void portico_activity_env_free(portico_activity_env *env);

#endif
