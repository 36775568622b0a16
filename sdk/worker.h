/* The activity worker: polls a task queue for activity tasks and runs registered C functions,
 * each in one of three execution models as in Temporal's Python SDK: on an event loop (non-blocking
 * I/O), on a pool of threads (blocking I/O), or in a child process (CPU-heavy or crash-prone
 * work). An activity gets what Temporal's SDKs give it (activity.h): its info and input, throttled
 * heartbeats that carry details to the next attempt, cancellation, typed errors and retry hints,
 * completion later by task token; the worker adds a graceful shutdown that loses no accepted task.
 *
 * Life cycle: portico_worker_new, portico_worker_register (any number), portico_worker_start,
 * then portico_worker_shutdown (graceful) and portico_worker_free.
 *
 * Public: the SDK's API for activity libraries; portico-worker exports what this header declares.
 * The client, codec and metrics registry a worker is made with are opaque here: the program that
 * makes them includes client.h, codec.h and metrics.h. */
#ifndef PORTICO_WORKER_H
#define PORTICO_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "activity.h"
#include "error.h"
#include "workflow.h"

typedef struct portico_worker portico_worker;
typedef struct portico_client portico_client;
typedef struct portico_codec portico_codec;
typedef struct portico_metrics portico_metrics;

#define PORTICO_WORKER_DEFAULT_MAX_CONCURRENT 20
#define PORTICO_WORKER_DEFAULT_GRACE_MS       30000
/* Long polls at once, activity and workflow ones (2 per workflow poller: the task queue and the
 * sticky queue), at most: they hold their HTTP/2 streams up to a minute on the one connection
 * the answers and heartbeats share, and proxies commonly allow 128 streams a connection (nginx,
 * AWS ALB); this leaves the answers at least 28. */
#define PORTICO_WORKER_MAX_LONG_POLLS 100

typedef struct portico_worker_options {
	const char *task_queue;     /* required */
	unsigned max_concurrent;    /* activities running at once; 0 for PORTICO_WORKER_DEFAULT_MAX_CONCURRENT */
	unsigned threads;           /* threads running thread-pool activities and answering; 0 for max_concurrent */
	unsigned pollers;           /* concurrent long polls; 0 for 2 */
	int64_t grace_ms;           /* shutdown: how long running activities may finish; negative for the default */
	size_t max_payload_bytes;   /* results and heartbeats over this fail the attempt; 0 for 2 MiB */
	const portico_codec *codec; /* NULL for none; borrowed, must outlive the worker */
	portico_metrics *metrics;   /* NULL for none; borrowed: activity durations by type go here */
	/* Workflows (only when some are registered): */
	unsigned workflow_pollers;    /* threads polling and processing workflow tasks, per queue (the task
	                               * queue and the worker's sticky queue); 0 for 5 */
	unsigned workflow_cache_size; /* runs kept in memory between tasks (sticky execution); 0 for
	                               * PORTICO_WORKER_DEFAULT_WORKFLOW_CACHE */
	size_t workflow_stack_bytes;  /* per workflow coroutine; 0 for 256 KiB */
} portico_worker_options;

#define PORTICO_WORKER_DEFAULT_WORKFLOW_CACHE 1000

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

/* Registers fn for workflows of workflow_type (workflow.h), run by this worker from its task
 * queue; before portico_worker_start. */
void portico_worker_register_workflow(portico_worker *worker, const char *workflow_type, portico_workflow_fn fn,
                                      void *user_data);

/* Registers fn as the dynamic workflow: the one that runs workflows of every type not registered
 * by name (as a dynamic workflow does in Temporal's SDKs); portico_workflow_get_info gives the
 * type. Flows run this way: their type is the flow's name. Before portico_worker_start. */
void portico_worker_register_dynamic_workflow(portico_worker *worker, portico_workflow_fn fn, void *user_data);

/* For replaying histories against the workflows registered on worker, which need not be started:
 * the lookup to give portico_replayer_new_with_lookup (replayer.h), with worker as its argument. */
struct workflow_definition;
const struct workflow_definition *portico_worker_workflow_lookup(void *worker, const char *workflow_type);

/* The one rule on long polls: activity_pollers activity long polls and workflow_pollers on each
 * of the two workflow queues (the task queue and the sticky one) are at most
 * PORTICO_WORKER_MAX_LONG_POLLS. Returns 0, or -1 with err saying how many they make. For a
 * program to refuse its settings up front; portico_worker_start applies it too. */
int portico_worker_check_long_polls(unsigned activity_pollers, unsigned workflow_pollers, portico_error *err);

/* Starts the pollers and the pool. Returns -1 with err set when options are incomplete, or ask
 * for more long polls than portico_worker_check_long_polls allows (counting those of the kinds
 * registered: no activity polls without activities, no workflow polls without workflows). */
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
	/* Workflows */
	uint64_t workflow_polls;          /* workflow task long polls answered (with a task or empty) */
	uint64_t workflow_tasks;          /* workflow tasks received, legacy queries included */
	uint64_t workflow_completed;      /* workflow tasks answered as completed */
	uint64_t workflow_failed;         /* workflow tasks answered as failed */
	uint64_t workflow_nondeterminism; /* of those failed, for non-determinism */
	uint64_t legacy_queries;          /* legacy query tasks answered */
	uint64_t cache_size;              /* runs in the cache, now */
	uint64_t cache_hits;              /* tasks whose run was in the cache */
	uint64_t cache_misses;            /* tasks whose run had to be built from history */
	uint64_t cache_evictions;         /* runs dropped from the cache: full, or out of step with a task */
} portico_worker_stats;

void portico_worker_get_stats(portico_worker *worker, portico_worker_stats *stats);

/* For a readiness probe: 0 when the worker is started, not shutting down, its polls are not
 * failing, and Temporal answers GetSystemInfo within 2 s (this call waits for that answer);
 * -1 with err saying which is not so. Any thread. */
int portico_worker_ready(portico_worker *worker, portico_error *err);

/* The activity types registered, in registration order: a JSON array of strings (new reference). */
json_t *portico_worker_activity_types(const portico_worker *worker);

/* The workflow types registered, in registration order: a JSON array of strings (new reference). */
json_t *portico_worker_workflow_types(const portico_worker *worker);

/* Declares the worker's metric families in metrics and sets their values from the counters, for
 * a scrape (the activity duration histogram fills itself as attempts end). */
void portico_worker_metrics_define(portico_metrics *metrics);
void portico_worker_metrics_update(portico_worker *worker, portico_metrics *metrics);

/* Stops polling, tells Temporal (ShutdownWorker), lets running activities finish for up to the
 * grace period, then cancels the rest and fails them as WorkerShutdown (retryable): every task
 * taken is answered, and shutdown returns only once those answers have been acknowledged (or
 * their calls have ended by their 10 s deadline). Returns 0 when every thread has stopped; -1
 * when an activity ignored its cancellation and still runs: its task was answered as above, but
 * the worker, its client and codec must then stay alive, so the caller should exit the process
 * rather than free them. */
int portico_worker_shutdown(portico_worker *worker);

void portico_worker_free(portico_worker *worker);

#endif
