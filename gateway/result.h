/* Waiting for a workflow's result, which Temporal's HTTP API has no call for: long-polls the
 * history for the close event, follows continue-as-new (and retry and cron) runs to the last
 * one, and answers {status, result} or {status, failure}; 202 with status RUNNING when the
 * caller's timeout passes first. */
#ifndef GATEWAY_RESULT_H
#define GATEWAY_RESULT_H

#include <stdint.h>

#include <jansson.h>

#include "gateway.h"

#define RESULT_DEFAULT_TIMEOUT_MS 30000
#define RESULT_MAX_TIMEOUT_MS     (60 * 60 * 1000)

/* Waits for the result of workflow_id (run_id NULL or "" for the latest run) for up to
 * timeout_ms and answers exchange. prefix (a reference is taken; may be NULL) holds fields
 * to put in front of the answer, such as a start's runId. */
void result_wait(gateway_exchange *exchange, const char *namespace_name, const char *workflow_id, const char *run_id,
                 int64_t timeout_ms, json_t *prefix);

/* Parses "30s", "1500ms", "2m" or plain seconds; returns -1 when text is none of these. */
int64_t result_parse_timeout(const char *text);

#endif
