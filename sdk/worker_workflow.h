/* The worker's workflow side: pollers on the task queue and on the worker's own sticky queue, each
 * processing on its own thread the task it got (decode it, bring the run up to the task, apply it
 * with the engine, answer Temporal) before it polls again, and the cache of runs kept in memory
 * between their tasks (sticky execution), so that a task applies its new events only.
 *
 * A run whose task does not follow on from where its cached copy stands, a run evicted from the
 * cache, and a worker that restarted all rebuild the run from the whole history
 * (GetWorkflowExecutionHistory), as Temporal's SDKs do. Never two tasks on one run at once. The
 * worker (worker.c) owns this side: it registers, starts and stops it, and reports its counters. */
#ifndef PORTICO_WORKER_WORKFLOW_H
#define PORTICO_WORKER_WORKFLOW_H

#include <jansson.h>

#include "transport.h"
#include "worker.h"
#include "worker_activity.h"
#include "workflow_run.h"

typedef struct worker_workflow worker_workflow;

/* The workflow side of a worker polling task_queue (copied) through link (borrowed: the worker's,
 * whose identity must be set before worker_workflow_start), with options' workflow settings and
 * metrics. Free with worker_workflow_free. */
worker_workflow *worker_workflow_new(worker_link *link, const char *task_queue, const portico_worker_options *options);

/* Registers fn for workflow_type (copied), or, with workflow_type NULL, as the dynamic workflow
 * that runs every type registered under no name of its own; before worker_workflow_start. */
void worker_workflow_register(worker_workflow *side, const char *workflow_type, portico_workflow_fn fn,
                              void *user_data);

/* True when some workflow type is registered. */
int worker_workflow_any(const worker_workflow *side);

/* The pollers the workflow side keeps out on each of its two queues (the task queue and the sticky
 * one), 0 with no workflow registered. */
unsigned worker_workflow_pollers(const worker_workflow *side);

/* The workflow types registered, in registration order: a JSON array of strings (new reference). */
json_t *worker_workflow_types(const worker_workflow *side);

/* Names the sticky queue "<identity>-<uuid>" and starts the pollers, which poll through the
 * link's client. Aborts when a thread cannot start, as the worker does: without its pollers the
 * worker would be ready and never answer. */
void worker_workflow_start(worker_workflow *side);

/* The sticky queue's name once started, else NULL; for ShutdownWorker. */
const char *worker_workflow_sticky_queue(const worker_workflow *side);

/* Stopping takes two calls: worker_workflow_stop_polling cancels the polls (they end at once),
 * and worker_workflow_stop waits until every poller has answered the task in hand, then frees
 * every cached run. */
void worker_workflow_stop_polling(worker_workflow *side);
void worker_workflow_stop(worker_workflow *side);

/* Fills the workflow counters of stats. Any thread. */
void worker_workflow_get_stats(worker_workflow *side, portico_worker_stats *stats);

/* Declares the workflow side's metric families (portico_worker_workflow_*), and sets their
 * values from the counters for a scrape; the task latency histogram fills itself as tasks are
 * answered. */
void worker_workflow_metrics_define(portico_metrics *metrics);
void worker_workflow_metrics_update(worker_workflow *side, portico_metrics *metrics);

/* Stops (if started) and frees everything. NULL is fine. */
void worker_workflow_free(worker_workflow *side);

/* The definition registered for workflow_type, or NULL. Registrations do not change once the
 * pollers run, so no lock. */
const workflow_definition *worker_workflow_find(const worker_workflow *side, const char *workflow_type);

#endif
