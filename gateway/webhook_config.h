/* The webhook configuration (PORTICO_WEBHOOKS_FILE, JSON; see README.md and examples/webhooks.json):
 * names mapped to routes that start a workflow or a flow, signal or signal-with-start one, each with its
 * signature scheme and secrets (read from the environment or files), its filters and the
 * templates that make the workflow id, the delivery id and the input from the delivery. */
#ifndef GATEWAY_WEBHOOK_CONFIG_H
#define GATEWAY_WEBHOOK_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "completion_webhook.h"
#include "definition.h"
#include "error.h"
#include "webhook_verify.h"

typedef enum { WEBHOOK_START, WEBHOOK_START_FLOW, WEBHOOK_SIGNAL, WEBHOOK_SIGNAL_WITH_START } webhook_action;

/* Only deliveries whose value (a template) is one of the strings pass. */
typedef struct webhook_filter {
	char *value;
	char **allowed;
	size_t allowed_count;
} webhook_filter;

typedef struct webhook_route {
	char *name;
	webhook_action action;
	char *namespace_name;
	char *workflow_type, *task_queue, *signal_name; /* start-flow: the flow's name, no task queue */
	char *flow_name, *flow_version;                 /* start-flow: "flow", "version" (NULL: the highest) */
	const json_t *flow;                             /* start-flow: its document, borrowed from the catalog */
	char *workflow_id;                              /* template: {header.Name}, {body./json/pointer}, {delivery} */
	char *delivery_id;                              /* template, or NULL when deliveries carry no id */
	char *input_pointer;
	char **input_headers; /* when any, they go as a second argument {name: value} */
	size_t input_header_count;
	webhook_filter *filters;
	size_t filter_count;
	int64_t execution_timeout_s, run_timeout_s, task_timeout_s;
	webhook_verifier verifier;
	completion_target completion_webhook; /* where a started workflow's outcome goes (url NULL: nowhere) */
} webhook_route;

typedef struct webhook_set {
	webhook_route *routes;
	size_t count;
} webhook_set;

/* Loads and validates the file at path, reading its secrets from the environment or files; a start
 * route's completionWebhook is checked against completion's rules (NULL: completion webhooks are
 * off), a start-flow route's flow must be in flows (NULL: no flows; the set borrows the flows'
 * documents, so free it first). Returns NULL with err naming the route and field when anything is
 * wrong. Free with webhook_set_free. */
webhook_set *webhook_set_load(const char *path, const completion_config *completion, const flow_catalog *flows,
                              portico_error *err);
void webhook_set_free(webhook_set *set);
const char *webhook_scheme_name(webhook_scheme scheme);
const webhook_route *webhook_set_find(const webhook_set *set, const char *name);

/* Renders a template with the delivery's headers. Returns a new string (the caller frees), or NULL
 * with err saying what is missing. body may be NULL when the body is not JSON. */
char *webhook_render(const char *template_text, request_headers headers, const json_t *body, const char *delivery,
                     portico_error *err);

/* Checks a template's syntax; returns -1 with a message in err. */
int webhook_template_check(const char *template_text, portico_error *err);

/* RFC 6901: the value at pointer in value ("" is the whole), borrowed, or NULL. */
json_t *webhook_json_pointer(const json_t *value, const char *pointer);

#endif
