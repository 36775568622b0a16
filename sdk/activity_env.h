/* Testing activities without a server: the C counterpart of the Python SDK's
 * ActivityEnvironment. It runs an activity function in the calling thread with a given info and
 * input, records its heartbeats, injects cancellation, and keeps its result or error.
 *
 * Public: the SDK's API for activity libraries; portico-worker exports what this header declares.
 * An activity library's tests link libportico.a to use it. */
#ifndef PORTICO_ACTIVITY_ENV_H
#define PORTICO_ACTIVITY_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "activity.h"
#include "loop.h"

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
