/* The replayer: replays a recorded workflow history (JSON, as Temporal's CLI and Web UI download
 * it) against C workflow functions and says whether the code still makes the commands the history
 * recorded. Run in CI over histories of real runs, it catches a change that would break running
 * workflows (non-determinism) before it is deployed, as the official SDKs' replayers do.
 *
 * Accepted JSON: proto3 JSON of temporal.api.history.v1.History, {"events": [...]}
 * (`temporal workflow show --output json`, the UI's Download); a bare array of events (the UI's
 * import also takes it); {"history": {"events": [...]}} (a GetWorkflowExecutionHistory answer, as
 * Temporal's HTTP API and Portico's gateway give it). The older forms that Temporal's Python SDK
 * reads are accepted too: enums by their short name ("WorkflowExecutionStarted",
 * "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED" or a number), 64-bit integers as strings or numbers,
 * snake_case names; fields and enum names that this API version does not know (a newer server's)
 * are skipped, as that SDK skips them. Payloads may be encrypted: a codec decodes them first.
 *
 * One replay at a time per replayer; the replay runs the workflow code on the calling thread. */
#ifndef PORTICO_REPLAYER_H
#define PORTICO_REPLAYER_H

#include <stddef.h>

#include <jansson.h>

#include "codec.h"
#include "error.h"
#include "workflow.h"
#include "workflow_run.h"

/* A history file larger than this is refused before it is read: Temporal's own limit is 50 MiB of
 * protobuf per history (limit.historySize.error), which its JSON may exceed somewhat. */
#define PORTICO_REPLAYER_MAX_FILE_BYTES (64u * 1024 * 1024)

/* What all the payloads of one history may inflate to when a codec decompresses them
 * (binary/zlib): a bound on what a small file can make the replayer allocate. */
#define PORTICO_REPLAYER_MAX_DECODED_BYTES (256u * 1024 * 1024)

typedef struct portico_replayer portico_replayer;

/* Why a replay did not succeed. */
typedef enum portico_replay_problem {
	PORTICO_REPLAY_OK = 0,
	PORTICO_REPLAY_NONDETERMINISM, /* the code made other commands than the history recorded */
	PORTICO_REPLAY_BAD_HISTORY,    /* the file cannot be read, is not a history, or its events cannot be
	                                * followed */
	PORTICO_REPLAY_UNREGISTERED,   /* the history's workflow type is not registered */
} portico_replay_problem;

/* What a replay found: set by every replay, success or not. */
typedef struct portico_replay_result {
	portico_replay_problem problem;
	size_t event_count; /* events in the history (0 when it could not be read) */
} portico_replay_result;

/* A replayer with no workflow types; add them with portico_replayer_register. Free with
 * portico_replayer_free. */
portico_replayer *portico_replayer_new(void);

/* A replayer that finds workflow types with lookup (arg is passed to it, borrowed, and must outlive
 * the replayer): for a program whose registrations live elsewhere, such as a worker's. */
portico_replayer *portico_replayer_new_with_lookup(workflow_lookup_fn lookup, void *arg);

/* Registers fn (with user_data, passed to it) for histories of workflow_type; a second
 * registration of a type replaces the first. Not for a replayer made with a lookup. */
void portico_replayer_register(portico_replayer *replayer, const char *workflow_type, portico_workflow_fn fn,
                               void *user_data);

/* Replays history (a JSON value in one of the forms above, borrowed). codec (NULL for none,
 * borrowed) decodes its payloads first. Returns 0 when the workflow code replays the whole history,
 * or -1 with err carrying the reason (for non-determinism, the engine's message naming the event
 * and both commands) and result->problem saying which kind it is. */
int portico_replayer_replay_json(portico_replayer *replayer, const json_t *history, const portico_codec *codec,
                                 portico_replay_result *result, portico_error *err);

/* portico_replayer_replay_json on the JSON in the file at path, at most
 * PORTICO_REPLAYER_MAX_FILE_BYTES. A file that cannot be read or parsed is PORTICO_REPLAY_BAD_HISTORY
 * with err saying why (and where, for JSON). */
int portico_replayer_replay_file(portico_replayer *replayer, const char *path, const portico_codec *codec,
                                 portico_replay_result *result, portico_error *err);

/* NULL is fine. */
void portico_replayer_free(portico_replayer *replayer);

#endif
