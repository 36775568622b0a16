/* Waiting for a workflow's result, which Temporal's HTTP API has no call for: long-polls the
 * history for the close event, follows continue-as-new (and retry and cron) runs to the last
 * one, and answers {workflowId, runId, status, result | failure | details | reason} with the
 * status in Temporal's words (WORKFLOW_EXECUTION_STATUS_COMPLETED…); 202 with status
 * WORKFLOW_EXECUTION_STATUS_RUNNING when the caller's timeout passes first. The wait lasts only
 * while its client is connected (exchange_watch_client). */
#ifndef GATEWAY_RESULT_H
#define GATEWAY_RESULT_H

#include <stdint.h>

#include <jansson.h>

#include "exchange.h"
#include "router.h"

#define RESULT_DEFAULT_TIMEOUT_MS 30000
#define RESULT_MAX_TIMEOUT_MS     (60 * 60 * 1000)

/* Serves GET …/workflows/{workflow_id}/result?timeout=30s&runId=… (route_serve_fn). */
void result_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params);

/* Waits for the result of workflow_id (run_id NULL or "" for the latest run) for up to
 * timeout_ms and answers exchange. started (a reference is taken; NULL for GET …/result) is the
 * answer of the start that ?wait= follows: its fields stay as Temporal gave them (runId is the run
 * it started, status its status then), with workflowId, and the wait's answer goes in "outcome"
 * (the run it ended in, continue-as-new followed). When the wait fails after the start, the start
 * is answered all the same, 202 with "waitError" ({code, message}) instead of an outcome. */
void result_wait(gateway_exchange *exchange, const char *namespace_name, const char *workflow_id, const char *run_id,
                 int64_t timeout_ms, json_t *started);

/* Like result_wait, but hands the outcome to done(arg, outcome, NULL) instead of answering:
 * outcome is the object result_wait answers with (a reference handed over; status
 * WORKFLOW_EXECUTION_STATUS_RUNNING when timeout_ms passed first); or done(arg, NULL, err) when
 * the wait failed. done runs once, on any thread, and answers exchange itself. The wait does not
 * depend on the client staying (a caller that hangs up cannot stop what done starts). */
typedef void result_outcome_fn(void *arg, json_t *outcome, const portico_error *err);
void result_fetch(gateway_exchange *exchange, const char *namespace_name, const char *workflow_id, const char *run_id,
                  int64_t timeout_ms, result_outcome_fn *done, void *arg);

/* Reads the query parameter name ("timeout", "wait") as a duration (settings.h): 0 with *out_ms
 * (fallback_ms when it is absent), or -1 after answering 400 when it is not one from minimum_ms
 * to RESULT_MAX_TIMEOUT_MS. */
int result_query_duration(gateway_exchange *exchange, const char *name, int64_t fallback_ms, int64_t minimum_ms,
                          int64_t *out_ms);

#endif
