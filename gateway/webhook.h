/* Webhook routes: POST /webhooks/{name} verifies the sender's signature over the raw body, then
 * starts, signals or signals-with-start a workflow as the route's configuration says, exactly
 * once per delivery (the delivery id is Temporal's request id, so a redelivery answers the same
 * run and starts nothing new).
 *
 * The configuration (PORTICO_WEBHOOKS_FILE, JSON) maps names to routes; see
 * docs in README.md and examples/webhooks.json. webhook_config.c loads and validates it,
 * webhook_verify.c checks signatures, webhook.c serves. */
#ifndef GATEWAY_WEBHOOK_H
#define GATEWAY_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto.h"
#include "error.h"
#include "http.h"

typedef enum { WEBHOOK_START, WEBHOOK_SIGNAL, WEBHOOK_SIGNAL_WITH_START } webhook_action;

typedef enum {
	WEBHOOK_GITHUB,   /* X-Hub-Signature-256: sha256=<hex> over the body */
	WEBHOOK_STRIPE,   /* Stripe-Signature: t=<unix>,v1=<hex>… over "<t>.<body>" */
	WEBHOOK_SLACK,    /* X-Slack-Signature: v0=<hex> over "v0:<X-Slack-Request-Timestamp>:<body>" */
	WEBHOOK_STANDARD, /* Standard Webhooks: webhook-signature: v1,<base64>… over "<id>.<ts>.<body>" */
	WEBHOOK_HMAC,     /* a configured header, prefix, digest and encoding over the body */
	WEBHOOK_BEARER,   /* Authorization: Bearer <secret> */
} webhook_scheme;

typedef struct webhook_secret {
	uint8_t *bytes;
	size_t length;
} webhook_secret;

typedef struct webhook_verifier {
	webhook_scheme scheme;
	webhook_secret *secrets; /* any of them may sign: rotation */
	size_t secret_count;
	int64_t tolerance_s; /* for timestamped schemes */
	/* WEBHOOK_HMAC: */
	char *header;
	char *prefix; /* "" for none */
	portico_hmac_algorithm algorithm;
	int base64; /* else hex */
} webhook_verifier;

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
	char *workflow_type, *task_queue, *signal_name;
	char *workflow_id; /* template: {header.Name}, {body./json/pointer}, {delivery} */
	char *delivery_id; /* template, or NULL when deliveries carry no id */
	char *input_pointer;
	char **input_headers; /* when any, they go as a second argument {name: value} */
	size_t input_header_count;
	webhook_filter *filters;
	size_t filter_count;
	int64_t execution_timeout_s, run_timeout_s, task_timeout_s;
	webhook_verifier verifier;
} webhook_route;

typedef struct webhook_set {
	webhook_route *routes;
	size_t count;
} webhook_set;

/* Loads and validates the file at path, reading its secrets from the environment or files.
 * Returns NULL with err naming the route and field when anything is wrong. Free with
 * webhook_set_free. */
webhook_set *webhook_set_load(const char *path, portico_error *err);
void webhook_set_free(webhook_set *set);
const char *webhook_scheme_name(webhook_scheme scheme);
const webhook_route *webhook_set_find(const webhook_set *set, const char *name);

/* 0 when the request is signed by one of the route's secrets (and, when timestamped, within the
 * tolerance of now_s); -1 otherwise, with *reason for the log (never a secret). */
int webhook_verify(const webhook_verifier *verifier, http_request *request, const char *body, size_t length,
                   int64_t now_s, const char **reason);

/* Renders a template. Returns a new string, or NULL with err saying what is missing. body may be
 * NULL when the body is not JSON. */
char *webhook_render(const char *template_text, http_request *request, const json_t *body, const char *delivery,
                     portico_error *err);

/* Checks a template's syntax; returns -1 with a message in err. */
int webhook_template_check(const char *template_text, portico_error *err);

/* RFC 6901: the value at pointer in value ("" is the whole), borrowed, or NULL. */
json_t *webhook_json_pointer(const json_t *value, const char *pointer);

#endif
