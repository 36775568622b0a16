/* Testing C workflows without a server. The env runs a workflow in the calling thread on the real
 * run engine (the one the worker uses) and plays Temporal's part: it writes the history Temporal
 * would write for each command the workflow makes, runs the activities (and child workflows) it
 * schedules with C functions the test registers, fires timers at once by moving workflow time
 * forward (time skipping), and lets the test send signals, updates, queries and cancellation. The
 * history it wrote can be read back as JSON, in the form the CLI downloads, and replayed.
 *
 * What it is not: a server. Each activity or child runs once, when the workflow waits; its
 * failure is final (the retry policy is not applied: register a function that fails the way the
 * retries would end); nothing is checked the way the server checks commands (task queues,
 * payload limits, id reuse). The dev server remains the proof; the env is for fast, deterministic
 * unit tests of a workflow's logic, including its timers and their interleaving with signals.
 *
 * Public: the SDK's API for workflow libraries; a workflow library's tests link libportico.a. */
#ifndef PORTICO_WORKFLOW_ENV_H
#define PORTICO_WORKFLOW_ENV_H

#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "workflow.h"

typedef struct portico_workflow_env portico_workflow_env;

/* Stands in for an activity (or a child workflow): 0 with *result (new reference, NULL for null),
 * or -1 with *failure (taken; NULL for a generic one). args is the call's arguments (borrowed). */
typedef int (*portico_workflow_env_fn)(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg);

/* An env whose workflow time starts at 2026-01-01T00:00:00Z. Free with portico_workflow_env_free. */
portico_workflow_env *portico_workflow_env_new(void);

void portico_workflow_env_register_workflow(portico_workflow_env *env, const char *workflow_type,
                                            portico_workflow_fn fn, void *user_data);

/* What runs activities of type (and child workflows of that type). An activity with no function
 * fails, not retryable, with type "NotFoundError". */
void portico_workflow_env_register_activity(portico_workflow_env *env, const char *type, portico_workflow_env_fn fn,
                                            void *arg);

/* Starts a workflow of workflow_type with args (a JSON array, borrowed; NULL for none) and runs
 * its first workflow task. 0, or -1 with err (an unregistered type, non-determinism). */
int portico_workflow_env_start(portico_workflow_env *env, const char *workflow_type, json_t *args, portico_error *err);

/* portico_workflow_env_start for the run a continue-as-new made (args: the previous env's
 * portico_workflow_env_continue_args): its start event names the run it continues, continued_from,
 * as the server's does. */
int portico_workflow_env_start_continued(portico_workflow_env *env, const char *workflow_type, json_t *args,
                                         const char *continued_from, portico_error *err);

/* Runs what the workflow waits for that the env can deliver: its activities and children, one at
 * a time in the order scheduled, then its earliest timer (workflow time jumps to it), each
 * followed by a workflow task, until the workflow closes or waits only on the test (a signal, an
 * update, a timer further than max_ms of workflow time from now; negative for no limit).
 * 0, or -1 with err. */
int portico_workflow_env_run(portico_workflow_env *env, int64_t max_ms, portico_error *err);

/* One step of portico_workflow_env_run: delivers the oldest activity or child not run yet, or else
 * fires the earliest timer, then runs a workflow task. 1 when it did, 0 when nothing was waiting,
 * -1 with err. For tests that act between steps (cancel a saga half-way, say). */
int portico_workflow_env_step(portico_workflow_env *env, portico_error *err);

/* Delivers a signal (args: a JSON array, borrowed) in a workflow task of its own. */
int portico_workflow_env_signal(portico_workflow_env *env, const char *name, json_t *args, portico_error *err);

/* Sends an update and runs workflow tasks until it has an outcome (its handler may wait for
 * activities and timers, which the env runs). PORTICO_WAIT_DONE with *result (new reference), or
 * PORTICO_WAIT_FAILED with *failure (rejected by the validator, or the handler failed; the caller
 * frees it), or -1 with err. */
int portico_workflow_env_update(portico_workflow_env *env, const char *name, json_t *args, json_t **result,
                                portico_workflow_failure **failure, portico_error *err);

/* Asks a query of the workflow's current state: 0 with *result (new reference), or -1 with
 * *error (free()). */
int portico_workflow_env_query(portico_workflow_env *env, const char *name, json_t *args, json_t **result,
                               char **error);

/* Requests the workflow's cancellation, in a workflow task of its own. */
int portico_workflow_env_cancel(portico_workflow_env *env, portico_error *err);

/* 1 while the workflow runs, else how it closed: PORTICO_WORKFLOW_COMPLETED, _FAILED, _CANCELED
 * or _CONTINUE_AS_NEW. */
int portico_workflow_env_status(const portico_workflow_env *env);

/* The result of a completed workflow (borrowed; NULL otherwise), its failure (borrowed), and for
 * continue-as-new the next run's arguments (borrowed). */
json_t *portico_workflow_env_result(const portico_workflow_env *env);
const portico_workflow_failure *portico_workflow_env_failure(const portico_workflow_env *env);
json_t *portico_workflow_env_continue_args(const portico_workflow_env *env);

int64_t portico_workflow_env_now_ms(const portico_workflow_env *env);

/* The history so far as proto3 JSON ({"events": […]}, payloads in full form), as
 * `temporal workflow show --output json` writes it: a new reference. */
json_t *portico_workflow_env_history(const portico_workflow_env *env);

void portico_workflow_env_free(portico_workflow_env *env);

#endif
