/* A REST request of Temporal's HTTP API made into its request message: the body, the path
 * variables and (for routes without a body) the query make one JSON object, completed as the
 * RPC's traits say (shorthand fields, a made workflow or update id, the update's wait policy, the
 * caller's trace context, the ids an Idempotency-Key makes), then proto3 JSON decodes it; a start's
 * "completionWebhook" is set aside for the proxy (completion_webhook.h). Pure:
 * it reads what it is given, never the HTTP server, so tests and fuzzers call it as the proxy does. */
#ifndef GATEWAY_REST_REQUEST_H
#define GATEWAY_REST_REQUEST_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "router.h"

/* Calls add(add_arg, key, value) for each query parameter of source. */
typedef void rest_query_walk_fn(const void *source, void (*add)(void *add_arg, const char *key, const char *value),
                                void *add_arg);

typedef struct rest_input {
	const rpc_traits *traits;
	const route_params *params; /* the path variables */
	const char *body;           /* the raw body (routes with a body), or NULL */
	size_t body_length;
	const json_t *fields; /* instead of body: a request Portico made (a flow's start; borrowed), or NULL */
	rest_query_walk_fn *walk_query; /* routes without a body: their query's fields, or NULL */
	const void *query_source;
	const char *idempotency_key; /* the headers it reads, or NULL */
	const char *traceparent;
	const char *tracestate;
} rest_input;

typedef struct rest_request {
	ProtobufCMessage *message;  /* the request of traits' method (owned) */
	char *workflow_id;          /* the workflow it names, given or made (owned), or NULL */
	int workflow_id_made;       /* Portico made the workflow id (the answer says which) */
	char idempotency_hash[33];  /* the Idempotency-Key's hash (hex), or "" without one */
	int has_request_id;         /* it carries a request id: a retry is deduplicated */
	int long_poll;              /* the server holds the call (traits.h) */
	json_t *completion_webhook; /* a start's "completionWebhook", Portico's own (owned), or NULL */
} rest_request;

/* Builds out from in: 0, or -1 with err (INVALID_ARGUMENT, a message for the caller: the body is
 * not a JSON object, a query parameter or the key is not UTF-8, a field does not decode). Free
 * with rest_request_clear, also after a failure. */
int rest_request_build(const rest_input *in, rest_request *out, portico_error *err);
void rest_request_clear(rest_request *out);

#endif
