/* One request's exchange with the gateway: the shared types (the gateway's configuration and
 * state, the per-request state) and the toolkit every handler uses to answer: respond and fail in
 * Temporal's error format, authorize, call Temporal with a deadline and the client's hang-up
 * watched, encode a request's payloads (with the size guard) and decode a response's. It sits
 * below the handlers and above the SDK: it includes no handler. */
#ifndef GATEWAY_EXCHANGE_H
#define GATEWAY_EXCHANGE_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "codec.h"
#include "error.h"
#include "http.h"
#include "metrics.h"
#include "permission.h"
#include "request_headers.h"
#include "transport.h"

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
	unsigned max_streams;     /* PORTICO_MAX_STREAMS, 10000: open event streams (503 past it) */
	int64_t sse_heartbeat_ms; /* PORTICO_SSE_HEARTBEAT, 15 s: an idle event stream's keep-alive */
	char *flows_task_queue;   /* PORTICO_FLOWS_TASK_QUEUE, "portico": where flows run (the worker's queue) */
} gateway_config;

typedef struct gateway {
	gateway_config config;
	atomic_ulong large_payloads;          /* requests with a Payloads field over the warning size */
	atomic_uint streams;                  /* event streams open (events.h), against max_streams */
	atomic_int stopping;                  /* SIGTERM: event streams end at their next answer from Temporal */
	portico_codec *codec;                 /* NULL when no keys are configured: payloads pass through */
	struct webhook_set *webhooks;         /* PORTICO_WEBHOOKS_FILE's routes, or NULL */
	struct flow_catalog *flows;           /* PORTICO_FLOWS_DIR's flows (empty without it) */
	struct completion_config *completion; /* completion webhooks' settings, or NULL when they are off */
	struct delivery_pool *deliveries;     /* sends completion webhooks (with completion) */
	portico_metrics *metrics;             /* GET /metrics */
	auth_config *auth;                    /* who may call, and how often */
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

/* Makes the exchange of request (freed with the request), with its request id echoed or made. */
gateway_exchange *exchange_new(gateway *gw, http_request *request);

/* The request's headers as auth and the webhook checks read them: valid while the request is. */
request_headers exchange_headers(const gateway_exchange *exchange);

/* Answers with a JSON body (takes a reference to body). */
void exchange_respond_json(gateway_exchange *exchange, unsigned status, json_t *body);

/* The message of err a caller may read: for a failure on the way to Temporal (unavailable, timed
 * out, internal), a caller Portico has not authenticated reads a plain sentence, while the log gets
 * the message (it names Temporal's address and gRPC's words) under the request id. Static or
 * err's own text: valid while err is. */
const char *exchange_error_text(gateway_exchange *exchange, const portico_error *err);

/* Answers with Temporal's error body, {"code","message","details"}, and the matching status. */
void exchange_respond_error(gateway_exchange *exchange, const portico_error *err);
/* Same, for an error Portico found itself. */
void exchange_fail(gateway_exchange *exchange, portico_code code, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
/* Same, with an HTTP status of its own (405, 422: statuses no gRPC code maps to). */
void exchange_fail_status(gateway_exchange *exchange, unsigned status, portico_code code, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

/* The HTTP status Temporal's HTTP API gives a gRPC code. */
unsigned exchange_http_status(portico_code code);

/* Decodes the payloads of a message from Temporal (in place) and writes it as JSON in the
 * exchange's payload form. Returns a new reference. For a tree the caller adds to; an answer as
 * it is goes out with exchange_respond_message, which builds no tree. */
json_t *exchange_message_json(gateway_exchange *exchange, ProtobufCMessage *message);

/* Same, as text (portico_protojson_write: the bytes the tree would print); the caller frees it. */
char *exchange_message_text(gateway_exchange *exchange, ProtobufCMessage *message, size_t *length);

/* Answers with a message from Temporal as JSON (exchange_message_text), and with "workflowId":
 * workflow_id added after its members unless workflow_id is NULL. The message's payloads are
 * decoded in place; the caller still frees it. */
void exchange_respond_message(gateway_exchange *exchange, unsigned status, ProtobufCMessage *message,
                              const char *workflow_id);

/* Encodes the payloads of a request for Temporal (in place) and applies the size guard; answers
 * 413 and returns -1 when a field is over the limit. */
int exchange_encode_request(gateway_exchange *exchange, ProtobufCMessage *request);

/* Adds CORS headers when the request's Origin is in allowed (comma-separated origins; "*" for any
 * origin, without credentials, unless authentication is off); returns nonzero when the request was
 * a preflight, which it has answered. */
int exchange_cors(gateway_exchange *exchange, const char *allowed);

/* Lets the caller do what needs permissions (auth_permission bits, all of them) in namespace_name
 * (NULL for none) and takes a token of its rate limits: 0, or -1 after answering 403 or 429. */
int exchange_authorize(gateway_exchange *exchange, unsigned permissions, const char *namespace_name);

/* Checks what a decoded request's fields add to its route's permissions (no rate-limit token: the
 * request took one already): 0, or -1 after answering 403 with need's reason. */
int exchange_authorize_effects(gateway_exchange *exchange, const permission_need *need, const char *namespace_name);

/* Starts an asynchronous call to Temporal for exchange, timed for the metrics and cancelled when
 * the client leaves a watched exchange; done(arg, ...) runs when it is over. When the call cannot
 * start, answers exchange with the error and returns -1 (done never runs): the caller then frees
 * arg. */
int exchange_call(gateway_exchange *exchange, const portico_call_options *options, const ProtobufCMessage *request,
                  portico_call_done_fn done, void *arg);
/* Same, but a call that cannot start answers nothing: -1 with err set, for the caller to answer. */
int exchange_call_start(gateway_exchange *exchange, const portico_call_options *options,
                        const ProtobufCMessage *request, portico_call_done_fn done, void *arg, portico_error *err);

/* Looks up the latest run of workflow_id for exchange (a describe), then calls done(arg, run_id,
 * NULL) with its id (NULL when Temporal named none; valid during the call), or done(arg, NULL,
 * err) when the lookup failed. For waits and streams that must name the run they follow. */
typedef void exchange_run_fn(void *arg, const char *run_id, const portico_error *err);
void exchange_latest_run(gateway_exchange *exchange, const char *namespace_name, const char *workflow_id,
                         exchange_run_fn *done, void *arg);

/* Makes the exchange a wait that lasts only while its client is there: when the client leaves
 * (closes, or half-closes: see http_request_watch_hangup), its Temporal call is cancelled and no
 * other starts. For long polls and result waits; short calls are answered whatever the client did. */
void exchange_watch_client(gateway_exchange *exchange);

#endif
