/* The sandbox processes of runtime expressions (expr.h): the pool flow_expr_start makes, and the
 * call that sends one program to a process of it. Internal to flow/. flow_expr_start,
 * flow_expr_sandbox_main (declared in expr.h) live here too.
 *
 * A call checks a process out (waiting while every process is busy), sends it one message and
 * reads its reply within the time limit: a 4-byte big-endian length, then that many bytes of
 * JSON. Request {"program", "names", "data", "vars"} (no "data": compile only), reply
 * {"value"} or {"error", "code"}. A process that runs over, dies or answers garbage is killed,
 * reaped and replaced. */
#ifndef PORTICO_FLOW_EXPR_SANDBOX_H
#define PORTICO_FLOW_EXPR_SANDBOX_H

#include <jansson.h>

#include "error.h"

/* A request's size bound: the data and the variables, as JSON. A run's data is bounded upstream by
 * the payload limit (2 MB), and $workflow repeats the input beside the definition (1 MB), so
 * this leaves room for both. */
#define FLOW_SANDBOX_MAX_REQUEST (16 * 1024 * 1024)
/* A reply's size bound: a value larger than a payload can carry (2 MB) is of no use to a run. */
#define FLOW_SANDBOX_MAX_REPLY (4 * 1024 * 1024)

/* flow_expr_stop's part: stops the pool (waits for the calls in flight, then kills the processes). */
void flow_sandbox_stop(void);

/* flow_sandbox_call's answer when no pool runs: the caller evaluates in-process. */
#define FLOW_SANDBOX_OFF 1

/* Runs program (the text inside ${ }) with names (flow_jq_names) on data with vars in a sandbox
 * process; data NULL compiles only. Returns 0 with *value (a new reference; NULL when compiling
 * only), -1 with err (expr.h's codes), or FLOW_SANDBOX_OFF when the pool is not started. */
int flow_sandbox_call(const char *program, const json_t *names, const json_t *data, const json_t *vars, json_t **value,
                      portico_error *err);

#endif
