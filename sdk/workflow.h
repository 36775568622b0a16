/* Inside a workflow: what a C workflow function is given and what it may call. A workflow is
 * deterministic code that Temporal replays: the worker runs the function again against the
 * workflow's recorded history, and every call below that does something (schedule an activity,
 * start a timer, a child workflow, a marker…) must happen in the same order on every run. The
 * function therefore reads time, randomness and the outside world only through this API.
 *
 * Style: a workflow is ordinary straight-line C that blocks. portico_workflow_activity() waits
 * for the activity's result and returns it, as `await workflow.execute_activity(…)` does in
 * Python. Underneath, each workflow runs on a coroutine of its own (a small stack, switched with
 * ucontext): a blocking call records a command and suspends the coroutine until the event that
 * resolves it is in the history. Only one coroutine of a workflow runs at a time and they switch
 * only inside calls of this API, in an order fixed by the history, so the code is deterministic
 * without locks. C has no async/await; a hand-written state machine would scatter a saga over
 * callbacks, and re-running the whole function from the top on every task (the other classic
 * design) would forbid the signal and update handlers that change state. See sdk/README.md for
 * the rules.
 *
 * What a blocking call returns (PORTICO_WAIT_*) must be checked: PORTICO_WAIT_EVICTED means the
 * worker is tearing this run down (its cache is full, or it shuts down) and will rebuild it later
 * by replay; the function must free what it holds and return at once: every later call returns
 * PORTICO_WAIT_EVICTED too, and a coroutine that goes on calling (64 calls) is abandoned where it
 * stands, its stack unmapped without unwinding.
 *
 * Query handlers and update validators may read the workflow's state, never change it: while
 * they run nothing is recorded (no command, marker or cancellation), portico_workflow_random
 * does not advance and portico_workflow_patched answers without deciding.
 *
 * JSON values passed in are borrowed unless a comment says the call takes the reference; JSON
 * values returned are new references the workflow frees; futures, scopes and failures given to
 * the workflow through a call's out-parameter are the workflow's to free, except futures, which
 * the run owns and frees when it ends.
 *
 * Public: the SDK's API for workflow libraries; portico-worker exports what this header declares. */
#ifndef PORTICO_WORKFLOW_H
#define PORTICO_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct portico_workflow portico_workflow;
typedef struct portico_workflow_future portico_workflow_future;
typedef struct portico_workflow_scope portico_workflow_scope;

/* What a workflow function returns. */
enum {
	PORTICO_WORKFLOW_COMPLETED = 0, /* with the result set by portico_workflow_set_result (null if none) */
	PORTICO_WORKFLOW_FAILED = -1,   /* with the failure set by portico_workflow_fail* (a generic one if none) */
	PORTICO_WORKFLOW_CANCELED = -2, /* ends the run as cancelled */
	PORTICO_WORKFLOW_CONTINUE_AS_NEW = -3, /* after portico_workflow_continue_as_new */
};

/* What a blocking call returns. */
enum {
	PORTICO_WAIT_DONE = 0,      /* it completed: its result is set */
	PORTICO_WAIT_FAILED = -1,   /* the activity, child or signal failed: its failure is set */
	PORTICO_WAIT_CANCELED = -2, /* it was cancelled (the workflow's cancellation, a scope, the future) */
	PORTICO_WAIT_TIMEOUT = -3,  /* a wait with a timeout ran out */
	PORTICO_WAIT_EVICTED = -4,  /* the run is being torn down: free what you hold and return */
};

/* A workflow: runs on the run's main coroutine. user_data is what was registered. */
typedef int (*portico_workflow_fn)(portico_workflow *wf, void *user_data);

/* ---- Information and input ------------------------------------------------------------------ */

typedef struct portico_workflow_info {
	const char *namespace_name;
	const char *workflow_id;
	const char *run_id;
	const char *workflow_type;
	const char *task_queue;
	const char *first_execution_run_id;
	const char *continued_from_run_id; /* NULL unless this run continues another */
	const char *parent_workflow_id;    /* NULL unless a child */
	const char *parent_run_id;
	int32_t attempt;       /* 1 for the first */
	int64_t start_time_ms; /* wall clock of the start event, in ms since the epoch */
} portico_workflow_info;

const portico_workflow_info *portico_workflow_get_info(const portico_workflow *wf);

/* How many arguments the workflow was started with. */
size_t portico_workflow_input_count(const portico_workflow *wf);

/* Argument index as JSON (new reference; a binary/null argument is JSON null), or NULL when it is
 * missing or not JSON (not json/plain, or encrypted with a key this worker lacks). */
json_t *portico_workflow_input_json(const portico_workflow *wf, size_t index);

/* The value of memo field key as JSON (new reference), or NULL. */
json_t *portico_workflow_memo_json(const portico_workflow *wf, const char *key);

/* ---- Deterministic replacements for time, randomness and side effects ------------------------ */

/* Workflow time: the time of the workflow task being processed, the same on every replay. */
int64_t portico_workflow_now_ms(const portico_workflow *wf);

/* A random number from a generator seeded by the run, the same sequence on every replay. */
uint64_t portico_workflow_random(portico_workflow *wf);

/* A version 4 UUID from portico_workflow_random, written into out (37 bytes with the NUL). */
void portico_workflow_uuid(portico_workflow *wf, char out[37]);

/* Runs fn once, records what it returns in the history (a "SideEffect" marker, as the Go SDK
 * writes it), and on replay returns the recorded value without running fn. fn returns a new
 * reference (NULL for null); so does this. */
json_t *portico_workflow_side_effect(portico_workflow *wf, json_t *(*fn)(void *arg), void *arg);

/* Patching (versioning), as Temporal's Python, TypeScript and .NET SDKs do it, with their marker
 * (name "core_patch", details "patch_data" {"id", "deprecated"}): true when the run should take
 * the new code path. A run started before the patch existed replays the old path (false); a new
 * run takes the new one and records a marker. */
int portico_workflow_patched(portico_workflow *wf, const char *patch_id);

/* Marks patch_id deprecated: every run still running takes the new path; a later version can
 * then drop the call and the old path. */
void portico_workflow_deprecate_patch(portico_workflow *wf, const char *patch_id);

/* True while the code re-runs history already recorded (for logging once, say). */
int portico_workflow_is_replaying(const portico_workflow *wf);

/* Logs a line (sdk/log.h) with the workflow's id and run, never while replaying. Takes fields
 * (an object, may be NULL). */
void portico_workflow_log(portico_workflow *wf, const char *level, const char *message, json_t *fields);

/* ---- Failures --------------------------------------------------------------------------------- */

/* A Temporal failure, as the workflow sees it: what an activity, a child, a signal or an update
 * handler failed with, or what the workflow fails with. kind names the failure info:
 * "application", "activity", "child_workflow", "timeout", "canceled", "terminated", "server". */
typedef struct portico_workflow_failure {
	char *kind;
	char *type; /* application failures: the error type ("" if none) */
	char *message;
	int non_retryable;
	json_t *details;    /* application failures: the details, a JSON array (NULL if none) */
	char *timeout_type; /* timeout failures: "START_TO_CLOSE", "HEARTBEAT", … (NULL otherwise) */
	struct portico_workflow_failure *cause; /* activity and child failures: what they failed with */
} portico_workflow_failure;

/* An application failure (details: an array or NULL, reference taken). Free with
 * portico_workflow_failure_free. */
portico_workflow_failure *portico_workflow_failure_new(const char *type, int non_retryable, json_t *details,
                                                       const char *format, ...) __attribute__((format(printf, 4, 5)));

/* The innermost cause: for an activity or child failure, what it failed with. */
const portico_workflow_failure *portico_workflow_failure_root(const portico_workflow_failure *failure);

void portico_workflow_failure_free(portico_workflow_failure *failure);

/* ---- Ending the run --------------------------------------------------------------------------- */

/* Sets the result (a reference is taken; NULL for null). Returns PORTICO_WORKFLOW_COMPLETED. */
int portico_workflow_set_result(portico_workflow *wf, json_t *result);

/* Sets an application failure for the run. Returns PORTICO_WORKFLOW_FAILED, so that
 * `return portico_workflow_fail(wf, "InvalidOrder", 1, "no order id");` ends the run. */
int portico_workflow_fail(portico_workflow *wf, const char *type, int non_retryable, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

/* Sets failure (which it takes) as the run's failure. Returns PORTICO_WORKFLOW_FAILED. */
int portico_workflow_fail_with(portico_workflow *wf, portico_workflow_failure *failure);

/* Prepares the next run of this workflow (args: an array, reference taken; workflow_type and
 * task_queue NULL for this run's). Returns PORTICO_WORKFLOW_CONTINUE_AS_NEW for the function to
 * return. */
int portico_workflow_continue_as_new(portico_workflow *wf, json_t *args, const char *workflow_type,
                                     const char *task_queue);

/* Fails the workflow task being processed rather than the workflow: Temporal retries the task
 * (the run is rebuilt by replay, maybe on another worker), as the Go SDK does when a workflow
 * deadlocks. For a failure that says nothing about the workflow and may not happen again (a time
 * or memory limit of this worker), so that a replay cannot take another path than the first run
 * for it. The function must then return at once, as for PORTICO_WAIT_EVICTED: what it records
 * afterwards is dropped. The first message wins. */
void portico_workflow_fail_task(portico_workflow *wf, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- Cancellation ------------------------------------------------------------------------------- */

/* True once someone asked to cancel the workflow. The request also cancels what the main
 * coroutine (and those it started) waits for at that moment: that call returns
 * PORTICO_WAIT_CANCELED. What the workflow starts afterwards runs normally, so that it can clean
 * up (compensate) before it returns PORTICO_WORKFLOW_CANCELED, as in Temporal's Python SDK. */
int portico_workflow_cancel_requested(const portico_workflow *wf);

/* A cancellation scope: activities, timers, children and waits given it in their options are
 * cancelled together by portico_workflow_scope_cancel; those started in a cancelled scope are
 * cancelled at once. Owned by the run, which frees it when the run ends. */
portico_workflow_scope *portico_workflow_scope_new(portico_workflow *wf);
void portico_workflow_scope_cancel(portico_workflow_scope *scope);
/* Frees scope before the run ends (NULL is ignored), for a workflow that makes one per task and
 * would otherwise keep them all: what is still open in it is no longer cancelled with it. */
void portico_workflow_scope_free(portico_workflow_scope *scope);

/* ---- Activities, timers, children: futures ---------------------------------------------------- */

typedef struct portico_retry_policy {
	int64_t initial_interval_ms;                  /* 0 for the server's default (1 s) */
	double backoff_coefficient;                   /* 0 for 2.0 */
	int64_t maximum_interval_ms;                  /* 0 for 100 × the initial interval */
	int32_t maximum_attempts;                     /* 0 for unlimited */
	const char *const *non_retryable_error_types; /* NULL-terminated, or NULL */
} portico_retry_policy;

/* What cancelling an activity or a child does, as in Temporal's SDKs. */
typedef enum {
	PORTICO_CANCEL_TRY = 0,     /* ask for cancellation and report it cancelled at once */
	PORTICO_CANCEL_WAIT = 1,    /* ask, and wait until it has acknowledged (activities) or closed (children) */
	PORTICO_CANCEL_ABANDON = 2, /* report it cancelled without asking */
} portico_cancellation_type;

typedef struct portico_workflow_activity_options {
	const char *task_queue; /* NULL for the workflow's */
	int64_t schedule_to_close_ms, schedule_to_start_ms, start_to_close_ms, heartbeat_ms;
	const portico_retry_policy *retry_policy; /* NULL for the server's default */
	portico_cancellation_type cancellation;
	portico_workflow_scope *scope; /* NULL for none */
	const char *activity_id;       /* NULL for a sequence number */
} portico_workflow_activity_options;

/* Schedules an activity of type with args (a JSON array of arguments, borrowed) and returns its
 * future at once. At least start_to_close_ms or schedule_to_close_ms must be set. */
portico_workflow_future *portico_workflow_activity_start(portico_workflow *wf, const char *type, json_t *args,
                                                         const portico_workflow_activity_options *options);

/* Waits for future. PORTICO_WAIT_DONE with *result (new reference, the first result payload as
 * JSON, json null when none; result may be NULL to ignore it); PORTICO_WAIT_FAILED with *failure
 * (the caller frees it; failure may be NULL to ignore it); PORTICO_WAIT_CANCELED;
 * PORTICO_WAIT_EVICTED. Waiting again on a resolved future returns the same outcome. */
int portico_workflow_await(portico_workflow *wf, portico_workflow_future *future, json_t **result,
                           portico_workflow_failure **failure);

/* Runs an activity and waits for it: portico_workflow_activity_start then portico_workflow_await. */
int portico_workflow_activity(portico_workflow *wf, const char *type, json_t *args,
                              const portico_workflow_activity_options *options, json_t **result,
                              portico_workflow_failure **failure);

/* True once future is resolved (await would not block). */
int portico_workflow_future_done(const portico_workflow_future *future);

/* Waits until one of futures[0..count) is resolved; *index (may be NULL) is the first resolved.
 * PORTICO_WAIT_DONE, or PORTICO_WAIT_CANCELED / PORTICO_WAIT_EVICTED for the wait itself. */
int portico_workflow_await_any(portico_workflow *wf, portico_workflow_future *const *futures, size_t count,
                               size_t *index);

/* Cancels what future stands for (activity, timer, child), as its cancellation type says. */
void portico_workflow_future_cancel(portico_workflow *wf, portico_workflow_future *future);

/* A durable timer of ms (> 0); resolves PORTICO_WAIT_DONE when it fires. scope may be NULL. */
portico_workflow_future *portico_workflow_timer_start(portico_workflow *wf, int64_t ms, portico_workflow_scope *scope);

/* Sleeps ms on a durable timer. */
int portico_workflow_sleep(portico_workflow *wf, int64_t ms);

typedef struct portico_workflow_child_options {
	const char *workflow_id; /* NULL for "<this workflow id>-child-<sequence number>" */
	const char *task_queue;  /* NULL for the workflow's */
	int64_t execution_timeout_ms, run_timeout_ms, task_timeout_ms;
	const portico_retry_policy *retry_policy;
	int parent_close_policy;                /* a PARENT_CLOSE_POLICY enum value; 0 for terminate */
	portico_cancellation_type cancellation; /* PORTICO_CANCEL_TRY asks and reports at once */
	portico_workflow_scope *scope;
} portico_workflow_child_options;

/* Starts a child workflow; its future resolves when the child closes (its result, or its failure
 * of kind "child_workflow"). A child that could not start fails the future too. */
portico_workflow_future *portico_workflow_child_start(portico_workflow *wf, const char *workflow_type, json_t *args,
                                                      const portico_workflow_child_options *options);

/* Waits until the child of future has started (PORTICO_WAIT_DONE, *run_id a string the caller
 * frees, may be NULL) or failed to start (PORTICO_WAIT_FAILED). */
int portico_workflow_child_started(portico_workflow *wf, portico_workflow_future *future, char **run_id);

/* Starts a child workflow and waits for its result. */
int portico_workflow_child(portico_workflow *wf, const char *workflow_type, json_t *args,
                           const portico_workflow_child_options *options, json_t **result,
                           portico_workflow_failure **failure);

/* Signals another workflow (run_id NULL for its latest run); the future resolves once Temporal
 * has delivered it, or fails. */
portico_workflow_future *portico_workflow_signal_external(portico_workflow *wf, const char *workflow_id,
                                                          const char *run_id, const char *signal_name, json_t *args);

/* ---- Coroutines and conditions ------------------------------------------------------------------ */

/* Runs fn(wf, arg) on a new coroutine of the run, after the current one blocks. It is cancelled
 * with the workflow when the caller is. A run torn down before the coroutine starts never runs it:
 * what arg owns must be freed elsewhere too (portico_workflow_on_free). A run has at most 256
 * coroutines; past that the workflow task fails. */
void portico_workflow_go(portico_workflow *wf, void (*fn)(portico_workflow *wf, void *arg), void *arg);

/* Blocks until condition(arg) is true (checked each time the workflow's state may have changed),
 * or timeout_ms passes on a durable timer (negative for no timeout). PORTICO_WAIT_DONE,
 * PORTICO_WAIT_TIMEOUT, PORTICO_WAIT_CANCELED, PORTICO_WAIT_EVICTED. condition must only read
 * the workflow's state. */
int portico_workflow_wait_condition(portico_workflow *wf, int (*condition)(void *arg), void *arg, int64_t timeout_ms);

/* ---- Signals, queries, updates ------------------------------------------------------------------ */

/* Called for each signal of name, in history order, outside any coroutine: it must not block (a
 * blocking call returns PORTICO_WAIT_EVICTED there). args is the signal's arguments, a JSON array
 * (borrowed). Signals that arrive before a handler is registered are kept, and delivered in the
 * order they came once the coroutine that registered the handler blocks. */
typedef void (*portico_workflow_signal_fn)(portico_workflow *wf, json_t *args, void *arg);
void portico_workflow_on_signal(portico_workflow *wf, const char *name, portico_workflow_signal_fn fn, void *arg);

/* Called for each signal of a name no handler registered by name takes, with that name: for a
 * workflow whose signal names are data (a flow listening to any event). Same rules as a signal
 * handler, signals that came before it included; a second call replaces the first. */
typedef void (*portico_workflow_any_signal_fn)(portico_workflow *wf, const char *name, json_t *args, void *arg);
void portico_workflow_on_any_signal(portico_workflow *wf, portico_workflow_any_signal_fn fn, void *arg);

/* Signal channel: takes the oldest signal of name that no handler took, waiting up to timeout_ms
 * (negative for ever). PORTICO_WAIT_DONE with *args (a JSON array, new reference), or
 * PORTICO_WAIT_TIMEOUT, PORTICO_WAIT_CANCELED, PORTICO_WAIT_EVICTED. */
int portico_workflow_signal_receive(portico_workflow *wf, const char *name, json_t **args, int64_t timeout_ms);

/* Answers a query: 0 with *result (new reference), or -1 with *error (a message the caller
 * frees with free()). Must not change the workflow's state or block. */
typedef int (*portico_workflow_query_fn)(portico_workflow *wf, json_t *args, json_t **result, char **error, void *arg);
void portico_workflow_on_query(portico_workflow *wf, const char *name, portico_workflow_query_fn fn, void *arg);

/* An update's validator: 0 accepts, -1 rejects with *error (freed with free()); nothing is
 * recorded for a rejected update. Must not change state or block. Not run on replay. */
typedef int (*portico_workflow_update_validator)(portico_workflow *wf, json_t *args, char **error, void *arg);

/* An update's handler: runs on a coroutine of its own and may block (call activities, wait).
 * 0 with *result (new reference, NULL for null), or -1 with *failure (taken by the runtime). */
typedef int (*portico_workflow_update_fn)(portico_workflow *wf, json_t *args, json_t **result,
                                          portico_workflow_failure **failure, void *arg);
void portico_workflow_on_update(portico_workflow *wf, const char *name, portico_workflow_update_fn fn,
                                portico_workflow_update_validator validator, void *arg);

/* Has the run call free_fn(data) when it is freed, after its last handler and query. Signal, query
 * and update handlers must keep the workflow's state in memory handed over this way, never in the
 * workflow function's locals: a closed workflow still answers queries (the worker replays its
 * history to the end, then asks the handlers), when the function's frame is gone. */
void portico_workflow_on_free(portico_workflow *wf, void (*free_fn)(void *data), void *data);

/* ---- Memo and search attributes ----------------------------------------------------------------- */

/* Adds or replaces memo fields (an object; a field set to null is removed). Borrowed. */
void portico_workflow_upsert_memo(portico_workflow *wf, json_t *fields);

/* Sets search attributes (an object of registered attribute names; null removes). Borrowed. */
void portico_workflow_upsert_search_attributes(portico_workflow *wf, json_t *fields);

#endif
