/* The gateway: HTTP requests in (http.h), WorkflowService calls out (sdk/transport.h).
 * gateway.c dispatches, answers health checks and errors, and logs; proxy.c turns a route of
 * Temporal's HTTP API into its gRPC call and the answer back into JSON. */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "codec.h"
#include "error.h"
#include "http.h"
#include "metrics.h"
#include "permission.h"
#include "router.h"
#include "transport.h"
#include "webhook.h"

typedef struct gateway_config {
	char *listen;              /* PORTICO_LISTEN, 127.0.0.1:8080 */
	unsigned threads;          /* PORTICO_HTTP_THREADS, 2 */
	size_t max_body_bytes;     /* PORTICO_MAX_BODY_BYTES, 4 MiB (Temporal's own HTTP cap) */
	unsigned max_connections;  /* PORTICO_MAX_CONNECTIONS, 20000 (more are refused) */
	size_t max_header_bytes;   /* PORTICO_MAX_HEADER_BYTES, 8 KiB (request line and headers) */
	int64_t call_timeout_ms;   /* PORTICO_CALL_TIMEOUT, 10 s (a Grpc-Timeout header overrides it) */
	int64_t grace_ms;          /* PORTICO_SHUTDOWN_GRACE, 30 s */
	char *cors_origins;        /* PORTICO_CORS_ORIGINS: comma-separated allowed origins, or NULL */
	size_t max_payload_bytes;  /* PORTICO_MAX_PAYLOAD_BYTES, 2 MiB (Temporal's limit.blobSize.error) */
	size_t warn_payload_bytes; /* PORTICO_WARN_PAYLOAD_BYTES, 512 KiB (limit.blobSize.warn) */
	char *codec_cors_origins;  /* PORTICO_CODEC_CORS_ORIGINS: Web UI origins allowed to call /codec */
	char *codec_auth_token;    /* PORTICO_CODEC_AUTH_TOKEN: bearer token /codec requires, or NULL */

	/* PORTICO_MAX_CONNECTIONS_PER_CLIENT, 256: more from one address are refused */
	unsigned max_connections_per_client;
	/* PORTICO_REQUEST_TIMEOUT, 30 s: a request's line, headers and body must arrive within it */
	int64_t request_timeout_ms;
} gateway_config;

typedef struct gateway {
	gateway_config config;
	atomic_ulong large_payloads; /* requests with a Payloads field over the warning size */
	portico_codec *codec;        /* NULL when no keys are configured: payloads pass through */
	webhook_set *webhooks;       /* PORTICO_WEBHOOKS_FILE's routes, or NULL */
	portico_metrics *metrics;    /* GET /metrics */
	auth_config *auth;           /* who may call, and how often */
	portico_transport *transport;
	http_server *http;
} gateway;

/* Per-request state, owned by the http_request (freed when it is over). */
typedef struct gateway_exchange {
	gateway *gateway;
	http_request *request;
	char request_id[64];
	const char *route;    /* the matched route's pattern, for metrics (static), or NULL */
	auth_caller caller;   /* who is asking */
	char *workflow_id;    /* for the access log and result waits, when the request names one */
	char *namespace_name; /* the route's namespace */
	int payload_shorthand;
	permission_effect effect;   /* the route's, for what the answer needs (a namespace list is cut) */
	int workflow_id_made;       /* a start without an id got one from Portico (the answer says which) */
	char idempotency_hash[33];  /* the Idempotency-Key's hash (hex), or "" without one */
	int64_t retry_after_s;      /* what a 429 of Portico's rate limits says to wait; 0 for the default */
	int64_t wait_ms;            /* ?wait= on a start: how long to wait for the result; 0 for not at all */
	int64_t update_deadline_ms; /* an update waiting for completion polls until then (monotonic) */
	portico_cancel cancel;      /* cancels the exchange's Temporal call when its client leaves a wait */
} gateway_exchange;

/* Declares the gateway's metric families in metrics. */
void gateway_metrics_define(portico_metrics *metrics);

/* The http handler: every request starts here. */
void gateway_handle(void *arg, http_request *request);
/* The http completion hook: one access-log line per request. */
void gateway_log_access(void *arg, http_request *request);

/* Answers with a JSON body (takes a reference to body). */
void gateway_respond_json(gateway_exchange *exchange, unsigned status, json_t *body);
/* The message of err a caller may read: for a failure on the way to Temporal (unavailable, timed
 * out, internal), a caller Portico has not authenticated reads a plain sentence, while the log gets
 * the message (it names Temporal's address and gRPC's words) under the request id. Static or
 * err's own text: valid while err is. */
const char *gateway_error_text(gateway_exchange *exchange, const portico_error *err);

/* Answers with Temporal's error body, {"code","message","details"}, and the matching status. */
void gateway_respond_error(gateway_exchange *exchange, const portico_error *err);
/* Same, for an error Portico found itself. */
void gateway_fail(gateway_exchange *exchange, portico_code code, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
/* Same, with an HTTP status of its own (405, 422: statuses no gRPC code maps to). */
void gateway_fail_status(gateway_exchange *exchange, unsigned status, portico_code code, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

/* Decodes the payloads of a message from Temporal (in place) and writes it as JSON in the
 * exchange's payload form. Returns a new reference. */
json_t *gateway_message_json(gateway_exchange *exchange, ProtobufCMessage *message);

/* Encodes the payloads of a request for Temporal (in place) and applies the size guard; answers
 * 413 and returns -1 when a field is over the limit. */
int gateway_encode_request(gateway_exchange *exchange, ProtobufCMessage *request);

/* Adds CORS headers when the request's Origin is in allowed (comma-separated origins); returns
 * nonzero when the request was a preflight, which it has answered. */
int gateway_cors(gateway_exchange *exchange, const char *allowed);

/* Serves POST /codec/encode and /codec/decode (any prefix), the remote codec protocol of the
 * Temporal Web UI and CLI; returns 0 when the path is not a codec path. */
int codec_server_serve(gateway_exchange *exchange, const char *path);
/* Whether the request carries PORTICO_CODEC_AUTH_TOKEN as its bearer token (0 when none is set). */
int codec_server_token_presented(gateway_exchange *exchange);

/* Lets the caller do what needs permissions (auth_permission bits, all of them) in namespace_name
 * (NULL for none) and takes a token of its rate limits: 0, or -1 after answering 403 or 429. */
int gateway_authorize(gateway_exchange *exchange, unsigned permissions, const char *namespace_name);

/* Checks what a decoded request's fields add to its route's permissions (no rate-limit token: the
 * request took one already): 0, or -1 after answering 403 with need's reason. */
int gateway_authorize_effects(gateway_exchange *exchange, const permission_need *need, const char *namespace_name);

/* Serves POST /webhooks/{name} (webhook.c); returns 0 when the path is not a webhook path. */
int webhook_serve(gateway_exchange *exchange, const char *path);

/* Starts an asynchronous call for exchange; done(arg, …) runs when it is over. When the call
 * cannot start, answers exchange with the error and returns -1 (done never runs): the caller
 * then frees arg. */
int gateway_call(gateway_exchange *exchange, const portico_call_options *options, const ProtobufCMessage *request,
                 portico_call_done_fn done, void *arg);
/* Same, but a call that cannot start answers nothing: -1 with err set, for the caller to answer. */
int gateway_call_start(gateway_exchange *exchange, const portico_call_options *options, const ProtobufCMessage *request,
                       portico_call_done_fn done, void *arg, portico_error *err);

/* Makes the exchange a wait that lasts only while its client is there: when the client leaves
 * (closes, or half-closes: see http_request_watch_hangup), its Temporal call is cancelled and no
 * other starts. For long polls and result waits; short calls are answered whatever the client did. */
void gateway_watch_client(gateway_exchange *exchange);

/* The HTTP status Temporal's HTTP API gives a gRPC code. */
unsigned gateway_http_status(portico_code code);

/* The routes Portico adds to Temporal's: result waiting, and starts without a workflow id. */
extern const gateway_route gateway_extra_routes[];
extern const size_t gateway_extra_route_count;

/* Serves a route of Temporal's HTTP API: decodes the request, calls Temporal, answers. */
void proxy_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params);

#endif
