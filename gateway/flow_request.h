/* Flow starts as the gateway shapes them (flow/README.md, "The contract of a run"): the bodies of
 * POST …/flows/{name} and POST …/flows read, an inline definition validated, and the JSON of the
 * StartWorkflowExecution request that starts a flow: workflow type document.name, the flows' task
 * queue, one payload {"definition", "input"}, memo "flow". Pure: it reads what it is given, never
 * the HTTP server, so tests and fuzzers call it as the handlers (flows.h) and webhooks do. */
#ifndef GATEWAY_FLOW_REQUEST_H
#define GATEWAY_FLOW_REQUEST_H

#include <stddef.h>

#include <jansson.h>

#include "definition.h"
#include "error.h"

#define FLOW_REQUEST_TASK_QUEUE "portico" /* PORTICO_FLOWS_TASK_QUEUE's default: the worker's own queue */
#define FLOW_REQUEST_LISTED_MAX 20        /* flow names a 404 lists; GET …/flows has them all */

/* The input of POST …/flows/{name}: the body as JSON, any value (an empty body is {}). Returns a
 * new reference, or NULL with err (INVALID_ARGUMENT, naming where the JSON breaks). */
json_t *flow_request_input(const char *body, size_t length, portico_error *err);

/* Reads the body of POST …/flows, {"definition": <an object, or the text of one in YAML or JSON>,
 * "input": <any; {} when absent>}, and validates the definition (flow_validate; catalog resolves
 * `run: workflow`, NULL for none). The definition is bounded by FLOW_MAX_BYTES (as text, or as
 * compact JSON), the body by the gateway's body limit. Returns 0 with *definition and *input (new
 * references), or -1 with err (INVALID_ARGUMENT: the field, or the path in the definition). */
int flow_request_inline(const char *body, size_t length, const flow_catalog *catalog, json_t **definition,
                        json_t **input, portico_error *err);

/* Validates input against the document's input schema (`input.schema.document`, schema.h), when it
 * has one, so that a run that would fail at once never starts. Returns 0, or -1 with err
 * (INVALID_ARGUMENT) naming the path in the input, e.g. "input/who: expected a string". */
int flow_request_check_input(const json_t *document, const json_t *input, portico_error *err);

/* The workflow's one argument: {"definition": document, "input": input}. New reference. */
json_t *flow_request_argument(const json_t *document, const json_t *input);

/* The run's memo field "flow": the namespace, name, version and dsl of the document's `document`
 * (those it has), so that describe shows which definition a run uses. New reference. */
json_t *flow_request_memo(const json_t *document);

/* A flow's default workflow id, "<name>-<UUID v4>" (the caller frees). */
char *flow_request_workflow_id(const char *name);

/* The JSON of the StartWorkflowExecution request (proto3 JSON, payload shorthand) that starts
 * document (validated) with input on task_queue: workflowType document.name, input its one
 * argument (flow_request_argument), memo {"flow": flow_request_memo}, workflowId workflow_id
 * (NULL for none: rest_request.h makes one from an Idempotency-Key). Returns a new reference, or
 * NULL with err (INVALID_ARGUMENT) when workflow_id is not UTF-8 or the document has no name. */
json_t *flow_request_start(const json_t *document, const json_t *input, const char *task_queue, const char *workflow_id,
                           portico_error *err);

/* The message of the 404 for a flow name (at version, NULL for the highest) that catalog does not
 * find: which versions or document namespaces it does have when it has that name, else the names
 * it has (at most FLOW_REQUEST_LISTED_MAX), or that it is empty. The caller frees it. */
char *flow_request_not_found(const flow_catalog *catalog, const char *name, const char *version);

#endif
