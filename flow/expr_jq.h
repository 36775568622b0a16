/* The libjq side of runtime expressions (expr.h): a program compiled with the deterministic
 * prelude, run on JSON values, and the conversions between jansson and libjq's jv. Internal to
 * flow/: expr.c runs it in-process, expr_sandbox.c inside a sandbox process. No other file calls
 * libjq.
 *
 * libjq's state is not thread-safe: one program is used by one thread at a time. */
#ifndef PORTICO_FLOW_EXPR_JQ_H
#define PORTICO_FLOW_EXPR_JQ_H

#include <jansson.h>

#include "error.h"
#include "json_depth.h"

/* Values nest at most this deep going into or out of jq: the conversions recurse, and so does
 * jansson reading a value on a workflow coroutine's small stack. jq itself prints no deeper. */
#define FLOW_JQ_MAX_DEPTH FLOW_MAX_DATA_DEPTH
/* An expression giving more values than this stops being counted ("gave more than 1000 values"). */
#define FLOW_JQ_MAX_COUNTED 1000
/* The error for a number portico_json_parse kept raw (json_text.h), beyond 64 bits or a double,
 * which jq cannot take. */
#define FLOW_JQ_RAW_NUMBER_MESSAGE "a number is beyond what jq's numbers (doubles) hold; send it as a string"

typedef struct flow_jq_program flow_jq_program;

/* The variable names an expression with vars sees, in the order flow_jq_compile and flow_jq_run
 * bind them: the spec's (context, input, output, workflow, task, runtime) and __now, then vars' other keys
 * in byte order. A new array of strings, or NULL with err (INVALID_ARGUMENT) when vars is not an
 * object or a key is not a jq identifier. vars may be NULL. */
json_t *flow_jq_names(const json_t *vars, portico_error *err);

/* Compiles program (the text inside ${ }, bounded by the caller) behind the prelude
 * that replaces the non-deterministic builtins and binds names (flow_jq_names' array) as $name.
 * Returns a program the caller frees with flow_jq_free, or NULL with err (INVALID_ARGUMENT and
 * jq's messages, line numbers counted in program). */
flow_jq_program *flow_jq_compile(const char *program, const json_t *names, portico_error *err);

/* Runs p on data with the values of vars bound to the program's names (a name vars lacks is
 * null). Returns the one value (null when the program gives none) as a new reference, or NULL with
 * err: INVALID_ARGUMENT for jq's error, more than one value, or a value jq cannot take or give
 * (an integer beyond ±2^53 or a raw number, deeper than FLOW_JQ_MAX_DEPTH). */
json_t *flow_jq_run(flow_jq_program *p, const json_t *data, const json_t *vars, portico_error *err);

void flow_jq_free(flow_jq_program *p);

/* What libjq calls when an allocation fails in a program compiled from now on (it aborts after,
 * should the handler return). A sandbox process exits with a status saying so. */
void flow_jq_set_nomem_handler(void (*handler)(void *));

/* Compiled programs by text and names, the least recently used dropped past capacity: jq 1.6
 * parses and binds its builtins on every compile (some 35 ms here), so a flow's expressions are
 * compiled once per process. */
typedef struct flow_jq_cache flow_jq_cache;

flow_jq_cache *flow_jq_cache_new(size_t capacity);
/* The program for program and names, compiled on a miss: borrowed from the cache, valid until the
 * next call. NULL with err as flow_jq_compile (failures are not cached). */
flow_jq_program *flow_jq_cache_get(flow_jq_cache *cache, const char *program, const json_t *names, portico_error *err);
void flow_jq_cache_free(flow_jq_cache *cache);

#endif
