/* How deep a JSON value nests, measured without recursion: data that enters a flow run (its input,
 * signals, updates, activity and child results) may nest as deep as jansson parses (2048 levels),
 * and jansson's own walks (dump, equal, copy) recurse, which a workflow coroutine's small stack
 * cannot afford. The interpreter and the expression sandbox check a value here first. */
#ifndef PORTICO_FLOW_JSON_DEPTH_H
#define PORTICO_FLOW_JSON_DEPTH_H

#include <stddef.h>

#include <jansson.h>

/* The bound on data in a flow: the expression module's (expr_jq.h's FLOW_JQ_MAX_DEPTH). */
#define FLOW_MAX_DATA_DEPTH 256

/* True when value (NULL: not) has containers nested more than max levels deep (a scalar is level
 * 0, [1] level 1). Iterative; its stack is max + 1 frames on the heap, at most. */
int flow_json_deeper_than(const json_t *value, size_t max);

#endif
