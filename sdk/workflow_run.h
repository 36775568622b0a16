/* One workflow run in memory, the deterministic core of the workflow runtime: the run's
 * coroutines and state, and where it stands in its history. Given a workflow task's events it
 * replays what is recorded (re-running the workflow code and matching each command it makes with
 * the event that recorded it, by kind and id), runs the activations that are new, and makes the
 * commands and protocol messages (update acceptances, rejections, responses) to answer the task
 * with. The worker keeps runs in its sticky cache (worker_workflow.c); the replayer makes one per
 * recorded history (replayer.c).
 *
 * Pure: no I/O, no clock, no locks. Payloads are plain: the caller decodes the task before and
 * encodes the answer after. One thread at a time per run. */
#ifndef PORTICO_WORKFLOW_RUN_H
#define PORTICO_WORKFLOW_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "payload.h"
#include "workflow.h"
#include "temporal/api/command/v1/message.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"
#include "temporal/api/protocol/v1/message.pb-c.h"

typedef Temporal__Api__History__V1__HistoryEvent workflow_event;
typedef Temporal__Api__Command__V1__Command workflow_command;
typedef Temporal__Api__Protocol__V1__Message workflow_message;

typedef struct workflow_run workflow_run;

/* A registered workflow type. */
typedef struct workflow_definition {
	portico_workflow_fn fn;
	void *user_data;
} workflow_definition;

/* Finds the definition of a workflow type, or NULL when it is not registered. */
typedef const workflow_definition *(*workflow_lookup_fn)(void *arg, const char *workflow_type);

typedef struct workflow_run_options {
	const char *namespace_name; /* borrowed, must outlive the run */
	workflow_lookup_fn lookup;
	void *lookup_arg;
	size_t stack_bytes; /* per coroutine; 0 for WORKFLOW_RUN_DEFAULT_STACK_BYTES */
	/* The run's ids, from the task (borrowed, copied); NULL to read them from the start event
	 * (whose original run id differs from the run's after a reset). */
	const char *workflow_id;
	const char *run_id;
} workflow_run_options;

#define WORKFLOW_RUN_DEFAULT_STACK_BYTES (256 * 1024)

/* What went wrong in workflow_run_apply, for the worker's answer and metrics. */
typedef enum workflow_run_problem {
	WORKFLOW_RUN_OK = 0,
	WORKFLOW_RUN_NONDETERMINISM, /* the code made other commands than the history recorded */
	WORKFLOW_RUN_BAD_HISTORY,    /* events the run cannot follow (a gap, an unknown reference) */
	WORKFLOW_RUN_UNREGISTERED,   /* the workflow type is not registered on this worker */
	WORKFLOW_RUN_RESOURCES,      /* the run wants more coroutines than it may have */
	WORKFLOW_RUN_TASK_FAILED,    /* the workflow failed its task itself (portico_workflow_fail_task) */
} workflow_run_problem;

/* A run with no history yet. Free with workflow_run_free. */
workflow_run *workflow_run_new(const workflow_run_options *options);

/* The id of the last event applied (0 before any): a task's events must begin right after it. */
int64_t workflow_run_last_event_id(const workflow_run *run);

/* A workflow task that brought only its own scheduling and start and was answered without a
 * command (an update the validator rejected: a speculative task) is dropped by Temporal, which
 * gives the next task the same event ids. When a task begins at first_event_id right where such a
 * task began, this forgets it (the run's state did not change) and returns 1: apply the task
 * then; else 0 (a task out of step needs a run rebuilt from the whole history). */
int workflow_run_rewind(workflow_run *run, int64_t first_event_id);

/* Applies a workflow task: its events (every page, in order, beginning right after
 * workflow_run_last_event_id) and the protocol messages that came with it (update requests).
 * Replays the recorded activations, runs the new one, and makes the task's commands and messages
 * (workflow_run_output). Events and messages are borrowed. Returns 0, or -1 with err set and
 * *problem saying why (the message names the event and the command for non-determinism); after
 * -1 the run is unusable and must be freed. */
int workflow_run_apply(workflow_run *run, workflow_event *const *events, size_t event_count,
                       workflow_message *const *messages, size_t message_count, workflow_run_problem *problem,
                       portico_error *err);

/* The new commands and messages of the last workflow_run_apply, owned by the run until the next
 * apply or free (the caller may point a request at them, not free them). */
typedef struct workflow_run_output {
	workflow_command **commands;
	size_t command_count;
	workflow_message **messages;
	size_t message_count;
} workflow_run_output;

const workflow_run_output *workflow_run_output_get(const workflow_run *run);

/* Answers a query against the run's state as of its last apply: the run's registered handlers,
 * and the built-in "__stack_trace" (what each coroutine waits for). 0 with *result (the caller
 * frees it), or -1 with *error (a message the caller frees with free()). */
int workflow_run_query(workflow_run *run, const char *query_type, const portico_payloads *args,
                       portico_payloads **result, char **error);

/* True once the run has made its closing command (complete, fail, cancel, continue-as-new). */
int workflow_run_closed(const workflow_run *run);

/* The run's workflow id and type (NULL before its first event), for log lines and metrics. */
const char *workflow_run_workflow_id(const workflow_run *run);
const char *workflow_run_workflow_type(const workflow_run *run);

/* A deep copy of message (NULL for NULL) through its wire form, freed with
 * protobuf_c_message_free_unpacked: for events and commands built from one another. */
void *workflow_proto_copy(const ProtobufCMessage *message);

/* Tears the run down: coroutines still waiting are resumed with PORTICO_WAIT_EVICTED and run to
 * their end, then everything is freed. NULL is fine. */
void workflow_run_free(workflow_run *run);

#endif
