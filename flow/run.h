/* Internal to the interpreter (interpreter.c, calls.c, events.c): the state of one running flow
 * and the helpers its task kinds share. Not a contract for other modules: interpreter.h is.
 *
 * Ownership: a flow_run belongs to the workflow run (freed by portico_workflow_on_free, after
 * every coroutine and query), because branches, timeouts and update handlers run on coroutines
 * that may still unwind after the main function returned (an eviction). Anything a coroutine
 * reads therefore lives in the flow_run or on the heap, never on another coroutine's stack. */
#ifndef PORTICO_FLOW_RUN_H
#define PORTICO_FLOW_RUN_H

#include <stdint.h>

#include <jansson.h>

#include "definition.h"
#include "workflow.h"

/* Bounds on what a definition controls at run time. */
#define FLOW_RUN_MAX_DEPTH         32     /* tasks nested in tasks (do in try in for …), functions included */
#define FLOW_RUN_MAX_BRANCHES      32     /* branches of one fork */
#define FLOW_RUN_MAX_COROUTINES    200    /* live branch and timeout coroutines (the runtime caps 256) */
#define FLOW_RUN_MAX_RETRIES       1000   /* attempts of one try/retry */
#define FLOW_RUN_MAX_COMPENSATIONS 1000   /* pushed and pending (each carried over continue-as-new) */
#define FLOW_RUN_MAX_EVENTS        1000   /* events buffered per type, waiting for a listen */
#define FLOW_RUN_MAX_JUMPS         100000 /* `then` jumps in one task list (they only go forward) */
#define FLOW_RUN_CAN_ITERATIONS    500    /* for iterations between continue-as-new */
#define FLOW_RUN_MAX_ITERATIONS    10000  /* for iterations in a run that cannot continue as new */
#define FLOW_RUN_CAN_CALLS         2000   /* blocking calls (≈ history events / 4) between continue-as-new */

#define FLOW_ERRORS "https://serverlessworkflow.io/spec/1.0.0/errors/"

/* What running a task (or a task list) ended with. */
typedef enum flow_status {
	FLOW_OK = 0,          /* done: its output is set */
	FLOW_RAISE,           /* an error: the ctx's problem is set */
	FLOW_CANCEL,          /* cancelled: the workflow's cancellation or the ctx's scope */
	FLOW_EVICT,           /* the run is torn down: return at once */
	FLOW_END,             /* `then: end`: the workflow ends gracefully with the output */
	FLOW_CONTINUE_AS_NEW, /* a for loop asks for a new run: run->resume is being built */
} flow_status;

/* A cancellation scope of the flow: a fork branch or a task with a timeout. Cancelling one
 * cancels the scopes made under it (the runtime's scopes are flat, so the tree is kept here). */
typedef struct flow_scope {
	portico_workflow_scope *scope;
	struct flow_scope *parent; /* NULL at the top */
	struct flow_scope *next;   /* in run->scopes */
	int cancelled;
} flow_scope;

struct flow_event;
struct flow_event_type;

typedef struct flow_run {
	portico_workflow *wf;
	const flow_catalog *catalog;         /* borrowed, may be NULL */
	json_t *definition;                  /* the document */
	json_t *workflow;                    /* $workflow */
	json_t *runtime;                     /* $runtime */
	json_t *input;                       /* $input of the workflow (transformed) */
	json_t *context;                     /* $context */
	char *task;                          /* what flow.state calls the running task (path) */
	json_t *data;                        /* flow.state's data: the running task's input */
	json_t *running;                     /* {"<strand>": path}: the task each strand runs (flow.state) */
	unsigned strands;                    /* strands made (fork branches), for their numbers */
	json_t *compensations;               /* [{"task": path, "input"}], pushed on task completion */
	json_t *resume;                      /* continue-as-new: the frames, innermost first, as they are built */
	flow_scope *scopes;                  /* the live scopes (freed when their task ends, or with the run) */
	unsigned coroutines;                 /* live branch and timeout coroutines */
	unsigned iterations;                 /* for iterations in this run */
	unsigned calls;                      /* blocking calls in this run */
	unsigned continued;                  /* runs before this one in the continue-as-new chain */
	unsigned children;                   /* child workflows started by this run (their ids) */
	int task_failed;                     /* portico_workflow_fail_task was called: unwind, catch nothing */
	struct flow_event *events;           /* received events, oldest first (events.c) */
	uint64_t event_seq;                  /* of the last event received */
	struct flow_event_type *event_types; /* types with handlers registered (events.c) */
} flow_run;

/* A strand of execution: the main one, a fork branch, a compensation. */
typedef struct flow_ctx {
	flow_run *run;
	flow_scope *scope; /* NULL: none (the workflow's own) */
	json_t *locals;    /* extra variables ($item, $index, $error…): an object, owned */
	json_t *problem;   /* set with FLOW_RAISE, owned */
	unsigned depth;
	int can_resume;  /* 1 while only do and for tasks enclose the running task (continue-as-new) */
	unsigned strand; /* 0 for the main one; a fork branch's own number (flow.state's "running") */
} flow_ctx;

/* The running task, as $task describes it. */
typedef struct flow_task {
	const char *name;
	char *path;        /* owned */
	const json_t *def; /* borrowed from the definition */
	json_t *raw_input, *input, *raw_output;
	int64_t started_ms;
	int compensated;             /* has x-portico-compensate: its activities wait for their cancellation, and one
	                              * that completes anyway leaves its output with FLOW_CANCEL (the push is due) */
	struct flow_event **updates; /* events from updates this task consumed (listen), owned array */
	size_t update_count;
} flow_task;

/* ---- interpreter.c: shared with the task kinds in other files ---------------------------------- */

/* Sets ctx's problem to an error of kind ("runtime", "timeout"…; FLOW_ERRORS is prefixed) with
 * status, instance (the task path), title and a formatted detail. Returns FLOW_RAISE. */
int flow_raise(flow_ctx *ctx, const char *kind, int status, const char *instance, const char *title, const char *format,
               ...) __attribute__((format(printf, 6, 7)));

/* Data that enters the run (an activity's or a child's result, an event) nests at most
 * FLOW_MAX_DATA_DEPTH levels (json_depth.h): FLOW_OK, or FLOW_RAISE with a validation error at
 * instance naming what the value is ("the activity's result"). */
int flow_check_depth(flow_ctx *ctx, const char *instance, const json_t *value, const char *what);

/* Evaluates an expression string (with or without ${ }) on data with the variables of t; NULL with
 * ctx's problem set (an expression error at t's path). New reference. */
json_t *flow_eval(flow_ctx *ctx, const flow_task *t, const char *expr, const json_t *data);

/* A copy of value with its runtime expressions evaluated (flow_expr_eval_tree), or value itself
 * (a new reference) when it holds none. NULL with ctx's problem set. */
json_t *flow_eval_tree(flow_ctx *ctx, const flow_task *t, const json_t *value, const json_t *data);

/* A duration (ISO 8601 string, {days, hours, minutes, seconds, milliseconds}, or an expression
 * giving one) in ms, as definition.h's flow_duration_ms reads it (at most FLOW_MAX_DURATION_MS). -1 with ctx's problem
 * set. */
int flow_duration(flow_ctx *ctx, const flow_task *t, const json_t *value, const char *what, int64_t *ms);

/* Maps a wait's outcome other than PORTICO_WAIT_DONE to a status (failures are the caller's). */
int flow_wait_status(int outcome);

/* True when ctx's scope or one above it was cancelled. */
int flow_scope_cancelled(const flow_scope *scope);

/* The portico scope for calls made in ctx (NULL for none). */
portico_workflow_scope *flow_ctx_scope(const flow_ctx *ctx);

/* Runs a task definition on t's input (as a function runs for `call` of a use.functions name):
 * the kind of def decides. Output and then as run_task. */
int flow_run_kind(flow_ctx *ctx, flow_task *t, const json_t *def, json_t **output, const char **then);

/* flow_raise for a definition's shape the interpreter did not expect: a configuration error at
 * path, format having one %s for what. Returns FLOW_RAISE. */
int flow_raise_config(flow_ctx *ctx, const char *path, const char *format, const char *what);

/* A condition (if, when, while…): an expression whose value counts as true unless false or null
 * (or a boolean). FLOW_OK with *truth, or FLOW_RAISE. */
int flow_condition(flow_ctx *ctx, const flow_task *t, const json_t *expr, const json_t *data, int *truth);

/* Sleeps ms on a durable timer in ctx's scope. FLOW_OK, FLOW_CANCEL or FLOW_EVICT. */
int flow_sleep(flow_ctx *ctx, int64_t ms);

/* "<t's path>/<member>": caller frees. */
char *flow_member_path(const flow_task *t, const char *member);

/* A scope under parent (NULL: the top), cancelled at once when parent is; owned by the run. */
flow_scope *flow_scope_new(flow_run *run, flow_scope *parent);
/* Cancels scope and every scope made under it: what they run stops with PORTICO_WAIT_CANCELED. */
void flow_scope_cancel(flow_run *run, flow_scope *scope);
/* A strand (a fork branch) has ended: flow.state no longer lists its task. */
void flow_strand_end(flow_run *run, unsigned strand);

/* Frees scope (and its runtime scope) once nothing runs in it, and no scope under it is left. */
void flow_scope_free(flow_run *run, flow_scope *scope);

/* Runs one task with the spec's data flow around it: *output its transformed output (a new
 * reference) with FLOW_OK or FLOW_END, *then its flow directive (NULL: continue). */
int flow_run_task(flow_ctx *ctx, const char *path, const char *name, const json_t *def, json_t *raw_input,
                  json_t **output, const char **then);

/* Runs a task list ([{name: task}, …]) at path from its first task (or where a new run resumes),
 * following `then`: *output the last task's output with FLOW_OK or FLOW_END. */
int flow_run_list(flow_ctx *ctx, const json_t *list, const char *path, json_t *input, json_t **output);

/* ---- control.c ---------------------------------------------------------------------------------- */

int flow_task_try(flow_ctx *ctx, flow_task *t, json_t **output, const char **then);
int flow_task_fork(flow_ctx *ctx, flow_task *t, json_t **output, const char **then);

/* ---- calls.c ------------------------------------------------------------------------------------ */

/* `call`: http, activity (Portico), or a use.functions name. */
int flow_task_call(flow_ctx *ctx, flow_task *t, json_t **output, const char **then);

/* ---- events.c ----------------------------------------------------------------------------------- */

int flow_task_listen(flow_ctx *ctx, flow_task *t, json_t **output, const char **then);
int flow_task_emit(flow_ctx *ctx, flow_task *t, json_t **output, const char **then);
/* Gives the updates t consumed its output (or, output NULL, a failure: the listen failed). */
void flow_events_task_done(flow_run *run, flow_task *t, const json_t *output);
/* Before the run ends: lets the update handlers give their answers (an update no listen took is
 * refused), so that no update is left without an outcome. FLOW_OK or FLOW_EVICT. */
int flow_events_settle(flow_run *run);
/* Registers the signal and update handlers of every event type the definition listens for, when
 * the run starts: the events sent before their listen runs are then kept by the run (and carried
 * over continue-as-new) rather than by the runtime. */
void flow_events_register(flow_run *run);
/* The events no listen has taken yet, for the next run after continue-as-new (a new array of
 * {"type", "envelope"}), and their restoring in that run (saved borrowed; what is not an event is
 * skipped). */
json_t *flow_events_save(const flow_run *run);
void flow_events_restore(flow_run *run, const json_t *saved);
/* Frees the run's events (with the run). */
void flow_events_free(flow_run *run);

#endif
