#include "gateway.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "clock.h"
#include "json_text.h"
#include "log.h"
#include "protojson.h"
#include "result.h"
#include "uuid.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "temporal/api/workflowservice/v1/service.pb-c.h"

#define ALLOW_MAX           64
#define RETRY_AFTER_SECONDS 1 /* when nothing tells how long: Temporal unavailable, say */

unsigned gateway_http_status(portico_code code)
{
	switch (code) {
	case PORTICO_OK:
		return 200;
	case PORTICO_CANCELLED:
		return 499;
	case PORTICO_INVALID_ARGUMENT:
	case PORTICO_FAILED_PRECONDITION:
	case PORTICO_OUT_OF_RANGE:
		return 400;
	case PORTICO_DEADLINE_EXCEEDED:
		return 504;
	case PORTICO_NOT_FOUND:
		return 404;
	case PORTICO_ALREADY_EXISTS:
	case PORTICO_ABORTED:
		return 409;
	case PORTICO_PERMISSION_DENIED:
		return 403;
	case PORTICO_UNAUTHENTICATED:
		return 401;
	case PORTICO_RESOURCE_EXHAUSTED:
		return 429;
	case PORTICO_UNIMPLEMENTED:
		return 501;
	case PORTICO_UNAVAILABLE:
		return 503;
	default:
		return 500;
	}
}

void gateway_respond_json(gateway_exchange *exchange, unsigned status, json_t *body)
{
	size_t length;
	char *text = portico_json_text(body, 0, &length);
	json_decref(body);
	http_respond(exchange->request, status, "application/json", text, length);
}

/* Temporal's error body with an explicit HTTP status; a size refusal is 413, not 429, so that
 * clients do not retry what can never succeed. */
static void respond_error_status(gateway_exchange *exchange, unsigned status, const portico_error *err)
{
	if (status == 429 && portico_error_is_size_refusal(err))
		status = 413;
	json_t *details = json_array();
	const portico_protojson_options options = {.payload_shorthand = 1};
	for (size_t i = 0; err->status && i < err->status->n_details; i++)
		json_array_append_new(details, portico_protojson_encode(&err->status->details[i]->base, &options));
	/* A message may quote the caller's bytes (a path that is not UTF-8): never lose the body. */
	json_t *body = json_pack("{s:i,s:o}", "code", (int)err->code, "message",
	                         portico_log_text(err->message ? err->message : ""));
	/* Temporal's HTTP API leaves out an empty details list; so does Portico. */
	if (json_array_size(details))
		json_object_set(body, "details", details);
	json_decref(details);
	if (status == 503 || status == 429) {
		char seconds[24];
		snprintf(seconds, sizeof seconds, "%lld",
		         (long long)(exchange->retry_after_s ? exchange->retry_after_s : RETRY_AFTER_SECONDS));
		http_response_header(exchange->request, "Retry-After", seconds);
	}
	gateway_respond_json(exchange, status, body);
}

/* What a caller Portico has not authenticated reads instead of an error of the path to Temporal,
 * whose text names Temporal's address and gRPC's own words; NULL for errors about the request,
 * which Temporal words for the caller. */
static const char *plain_server_error(portico_code code)
{
	switch (code) {
	case PORTICO_UNAVAILABLE:
		return "Temporal is unavailable, or the gateway is shutting down; retry later";
	case PORTICO_DEADLINE_EXCEEDED:
		return "Temporal did not answer in time";
	case PORTICO_UNKNOWN:
	case PORTICO_INTERNAL:
	case PORTICO_DATA_LOSS:
		return "internal error; the gateway's log has the details under this request's X-Request-Id";
	default:
		return NULL;
	}
}

const char *gateway_error_text(gateway_exchange *exchange, const portico_error *err)
{
	const auth_caller *caller = &exchange->caller;
	const char *plain = plain_server_error(err->code);
	if (!plain || caller->key || caller->subject)
		return err->message ? err->message : "";
	portico_log("warn", "Temporal call failed",
	            json_pack("{s:s,s:o,s:s}", "code", portico_code_name(err->code), "error",
	                      portico_log_text(err->message), "requestId", exchange->request_id));
	return plain;
}

void gateway_respond_error(gateway_exchange *exchange, const portico_error *err)
{
	portico_error shown = *err; /* a shallow copy: only the message may differ */
	shown.message = (char *)gateway_error_text(exchange, err);
	respond_error_status(exchange, gateway_http_status(err->code), &shown);
}

static void fail_with_status(gateway_exchange *exchange, unsigned status, portico_code code, const char *format,
                             va_list args)
{
	portico_error err = PORTICO_ERROR_INIT;
	err.code = code;
	err.message = portico_vsprintf(format, args);
	respond_error_status(exchange, status ? status : gateway_http_status(code), &err);
	portico_error_clear(&err);
}

void gateway_fail(gateway_exchange *exchange, portico_code code, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	fail_with_status(exchange, 0, code, format, args);
	va_end(args);
}

void gateway_fail_status(gateway_exchange *exchange, unsigned status, portico_code code, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	fail_with_status(exchange, status, code, format, args);
	va_end(args);
}

const gateway_route gateway_extra_routes[] = {
        {"GET", "/namespaces/{namespace}/workflows/{workflow_id}/result", "result", 0, PERMISSION_READ, 0, EFFECT_NONE,
         &temporal__api__workflowservice__v1__workflow_service__descriptor},
        {"GET", "/api/v1/namespaces/{namespace}/workflows/{workflow_id}/result", "result", 0, PERMISSION_READ, 0,
         EFFECT_NONE, &temporal__api__workflowservice__v1__workflow_service__descriptor},
        {"POST", "/namespaces/{namespace}/workflows", "StartWorkflowExecution", 1, PERMISSION_START, 0, EFFECT_START,
         &temporal__api__workflowservice__v1__workflow_service__descriptor},
        {"POST", "/api/v1/namespaces/{namespace}/workflows", "StartWorkflowExecution", 1, PERMISSION_START, 0,
         EFFECT_START, &temporal__api__workflowservice__v1__workflow_service__descriptor},
};
const size_t gateway_extra_route_count = sizeof gateway_extra_routes / sizeof gateway_extra_routes[0];

/* Says which payloads a response shows as stored (the field path holds memo keys: the caller's). */
static void warn_left_encoded(const gateway_exchange *exchange, const portico_decode_budget *budget)
{
	portico_log("warn", "payloads left encoded: they inflate past the decode budget",
	            json_pack("{s:I,s:o,s:I,s:I,s:s}", "count", (json_int_t)budget->left_encoded, "field",
	                      portico_log_text(budget->left_encoded_field), "payloadLimitBytes",
	                      (json_int_t)budget->payload_bytes, "budgetBytes", (json_int_t)budget->total_bytes,
	                      "requestId", exchange->request_id));
}

json_t *gateway_message_json(gateway_exchange *exchange, ProtobufCMessage *message)
{
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, exchange->gateway->config.max_payload_bytes);
	portico_codec_decode_message_within(exchange->gateway->codec, message, &budget);
	if (budget.left_encoded)
		warn_left_encoded(exchange, &budget);
	const portico_protojson_options options = {.payload_shorthand = exchange->payload_shorthand};
	return portico_protojson_encode(message, &options);
}

int gateway_encode_request(gateway_exchange *exchange, ProtobufCMessage *request)
{
	const gateway_config *config = &exchange->gateway->config;
	portico_payload_size largest;
	portico_error err = PORTICO_ERROR_INIT;
	if (portico_codec_encode_message(exchange->gateway->codec, request, config->max_payload_bytes, &largest,
	                                 &err)) {
		json_t *body = json_pack("{s:i,s:s,s:s,s:I,s:I}", "code", (int)PORTICO_INVALID_ARGUMENT, "message",
		                         err.message, "field", largest.field, "sizeBytes", (json_int_t)largest.bytes,
		                         "limitBytes", (json_int_t)largest.limit_bytes);
		portico_error_clear(&err);
		portico_metrics_add(exchange->gateway->metrics, "portico_payloads_over_limit_total", "", 1);
		gateway_respond_json(exchange, 413, body);
		return -1;
	}
	if (largest.bytes)
		portico_metrics_observe(exchange->gateway->metrics, "portico_payload_bytes", "", (double)largest.bytes);
	if (largest.bytes > config->warn_payload_bytes) {
		unsigned long count = atomic_fetch_add(&exchange->gateway->large_payloads, 1) + 1;
		/* The field path may hold a memo key, which is the caller's text. */
		portico_log("warn", "large payload",
		            json_pack("{s:o,s:I,s:I,s:s,s:I}", "field", portico_log_text(largest.field), "sizeBytes",
		                      (json_int_t)largest.bytes, "warnBytes", (json_int_t)config->warn_payload_bytes,
		                      "requestId", exchange->request_id, "largePayloads", (json_int_t)count));
	}
	return 0;
}

/* A call on its way, timed for the metrics. */
typedef struct timed_call {
	gateway_exchange *exchange;
	const char *method; /* static: the callers name methods with literals and route tables */
	int64_t started_ms;
	portico_call_done_fn done;
	void *arg;
} timed_call;

/* A call ends CANCELLED when its client left (the exchange's cancel: 499, heard by nobody) or when
 * it was cut off: the gateway shutting down after its grace period, or Temporal giving up on it.
 * The client of a call cut off did nothing wrong and may try again: 503 with Retry-After. */
static void blame_the_server(gateway_exchange *exchange, portico_error *err)
{
	if (err->code == PORTICO_CANCELLED &&
	    !portico_transport_cancelled(exchange->gateway->transport, &exchange->cancel))
		err->code = PORTICO_UNAVAILABLE;
}

static void on_timed_call(void *arg, ProtobufCMessage *response, portico_error *err)
{
	timed_call *call = arg;
	portico_metrics *metrics = call->exchange->gateway->metrics;
	char method[96], labels[160];
	portico_metrics_label(method, sizeof method, "method", call->method);
	snprintf(labels, sizeof labels, "%s,code=\"%s\"", method, portico_code_name(err ? err->code : PORTICO_OK));
	portico_metrics_add(metrics, "portico_temporal_calls_total", labels, 1);
	portico_metrics_observe(metrics, "portico_temporal_call_duration_seconds", method,
	                        (double)(portico_monotonic_ms() - call->started_ms) / 1000);
	if (err)
		blame_the_server(call->exchange, err);
	portico_call_done_fn done = call->done;
	void *done_arg = call->arg;
	free(call);
	done(done_arg, response, err);
}

int gateway_call_start(gateway_exchange *exchange, const portico_call_options *options, const ProtobufCMessage *request,
                       portico_call_done_fn done, void *arg, portico_error *err)
{
	timed_call *call = portico_malloc(sizeof *call);
	*call = (timed_call){exchange, options->method, portico_monotonic_ms(), done, arg};
	/* Every call of an exchange can be cancelled by its client leaving (gateway_watch_client). */
	portico_call_options cancellable = *options;
	cancellable.cancel = &exchange->cancel;
	if (portico_transport_call_async(exchange->gateway->transport, &cancellable, request, on_timed_call, call,
	                                 err) == 0)
		return 0;
	free(call);
	blame_the_server(exchange, err);
	return -1;
}

int gateway_call(gateway_exchange *exchange, const portico_call_options *options, const ProtobufCMessage *request,
                 portico_call_done_fn done, void *arg)
{
	portico_error err = PORTICO_ERROR_INIT;
	if (gateway_call_start(exchange, options, request, done, arg, &err) == 0)
		return 0;
	gateway_respond_error(exchange, &err);
	portico_error_clear(&err);
	return -1;
}

/* The client left a wait: its call is cancelled, and its callback answers 499 to nobody, unless
 * it is done already; either way the wait starts no other call. On the HTTP hang-up thread. */
static void on_client_left(void *arg, http_request *request)
{
	(void)request;
	gateway_exchange *exchange = arg;
	portico_transport_cancel(exchange->gateway->transport, &exchange->cancel);
}

void gateway_watch_client(gateway_exchange *exchange)
{
	http_request_watch_hangup(exchange->request, on_client_left, exchange);
}

static void exchange_free(void *context)
{
	gateway_exchange *exchange = context;
	free(exchange->workflow_id);
	free(exchange->namespace_name);
	auth_caller_clear(&exchange->caller);
	free(exchange);
}

/* Echoes the caller's X-Request-Id (when it is reasonable) or makes one. */
static void set_request_id(gateway_exchange *exchange)
{
	const char *given = http_request_header(exchange->request, "X-Request-Id");
	size_t length = given ? strlen(given) : 0;
	int printable = length > 0 && length < sizeof exchange->request_id;
	for (size_t i = 0; printable && i < length; i++)
		printable = given[i] > ' ' && given[i] < 0x7f && given[i] != '"' && given[i] != '\\';
	if (printable)
		memcpy(exchange->request_id, given, length + 1);
	else
		portico_uuid_v4(exchange->request_id);
	http_response_header(exchange->request, "X-Request-Id", exchange->request_id);
}

/* Adds CORS headers when the Origin is in allowed (comma-separated; "*" for any origin, without
 * credentials); returns nonzero when this was a preflight, which it answers. */
int gateway_cors(gateway_exchange *exchange, const char *allowed)
{
	const char *origin = http_request_header(exchange->request, "Origin");
	if (!origin || !allowed)
		return 0;
	/* With authentication off "*" would let any page read everything: only named origins count. */
	int listed = auth_list_has(allowed, origin, strlen(origin));
	int any = auth_config_mode(exchange->gateway->auth) != AUTH_OFF && auth_list_has(allowed, "*", 1);
	if (!listed && !any)
		return 0;
	/* "*" lets any page call with the token it holds, but never with the browser's own
	 * credentials (cookies, HTTP authentication): browsers refuse "*" with credentials, and
	 * echoing the origin instead would let any site use a visitor's. Listed origins may. */
	http_response_header(exchange->request, "Access-Control-Allow-Origin", listed ? origin : "*");
	if (listed)
		http_response_header(exchange->request, "Vary", "Origin");
	http_response_header(exchange->request, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
	if (strcmp(http_request_method(exchange->request), "OPTIONS"))
		return 0;
	if (listed)
		http_response_header(exchange->request, "Access-Control-Allow-Credentials", "true");
	http_response_header(exchange->request, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
	http_response_header(exchange->request, "Access-Control-Allow-Headers",
	                     "Content-Type, Authorization, Authorization-Extras, X-Namespace, Idempotency-Key, "
	                     "X-Request-Id, Grpc-Timeout");
	http_response_header(exchange->request, "Access-Control-Max-Age", "600");
	http_respond(exchange->request, 204, NULL, NULL, 0);
	return 1;
}

static void on_system_info(void *arg, ProtobufCMessage *response, portico_error *err)
{
	gateway_exchange *exchange = arg;
	if (err) {
		gateway_respond_error(exchange, err);
		return;
	}
	protobuf_c_message_free_unpacked(response, NULL);
	gateway_respond_json(exchange, 200, json_pack("{s:s}", "status", "ready"));
}

/* /readyz: ready when Temporal answers GetSystemInfo. */
static void serve_readiness(gateway_exchange *exchange)
{
	Temporal__Api__Workflowservice__V1__GetSystemInfoRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
	portico_call_options options = {.method = "GetSystemInfo", .timeout_ms = 2000};
	gateway_call(exchange, &options, &request.base, on_system_info, exchange);
}

/* GET …/workflows/{workflow_id}/result?timeout=30s&runId=… */
static void serve_result(gateway_exchange *exchange, const route_params *params)
{
	const char *namespace_name = params->items[0].value, *workflow_id = params->items[1].value;
	int64_t timeout_ms;
	if (result_query_duration(exchange, "timeout", RESULT_DEFAULT_TIMEOUT_MS, 0, &timeout_ms))
		return;
	const char *run_id = http_request_query(exchange->request, "runId");
	if (!run_id)
		run_id = http_request_query(exchange->request, "execution.runId");
	exchange->workflow_id = portico_strdup(workflow_id);
	result_wait(exchange, namespace_name, workflow_id, run_id, timeout_ms, NULL);
}

static int is_codec_path(const char *path)
{
	return !strncmp(path, "/codec/", 7);
}

/* The OpenAPI document (scripts/gen_openapi.py) and the docs page with its renderer (Redoc),
 * embedded at build time (scripts/embed.py). */
extern const unsigned char portico_openapi_json[], portico_openapi_yaml[], portico_docs_html[], portico_redoc_js[];
extern const size_t portico_openapi_json_length, portico_openapi_yaml_length, portico_docs_html_length,
        portico_redoc_js_length;

static void serve_document(gateway_exchange *exchange, const char *content_type, const unsigned char *document,
                           size_t length)
{
	char *body = portico_malloc(length);
	memcpy(body, document, length);
	http_respond(exchange->request, 200, content_type, body, length);
}

static void serve_health(gateway_exchange *exchange)
{
	gateway_respond_json(exchange, 200, json_pack("{s:s}", "status", "ok"));
}

static void serve_openapi_json(gateway_exchange *exchange)
{
	serve_document(exchange, "application/json", portico_openapi_json, portico_openapi_json_length);
}

static void serve_openapi_yaml(gateway_exchange *exchange)
{
	serve_document(exchange, "application/yaml", portico_openapi_yaml, portico_openapi_yaml_length);
}

static void serve_docs(gateway_exchange *exchange)
{
	serve_document(exchange, "text/html; charset=utf-8", portico_docs_html, portico_docs_html_length);
}

static void serve_docs_renderer(gateway_exchange *exchange)
{
	serve_document(exchange, "application/javascript", portico_redoc_js, portico_redoc_js_length);
}

static void serve_metrics(gateway_exchange *exchange)
{
	gateway *gw = exchange->gateway;
	portico_metrics_set(gw->metrics, "portico_http_requests_in_flight", "",
	                    (double)http_server_in_flight(gw->http));
	portico_metrics_set(gw->metrics, "portico_large_payloads_total", "", (double)atomic_load(&gw->large_payloads));
	size_t length;
	char *text = portico_metrics_render(gw->metrics, &length);
	http_respond(exchange->request, 200, "text/plain; version=0.0.4; charset=utf-8", text, length);
}

/* GET routes of Portico's own, served before the route tables; the public ones need no
 * credentials (probes cannot present any). */
static const struct {
	const char *path;
	void (*serve)(gateway_exchange *exchange);
	int public;
} fixed_routes[] = {
        {"/healthz", serve_health, 1},
        {"/readyz", serve_readiness, 1},
        {"/metrics", serve_metrics, 0},
        {"/openapi.json", serve_openapi_json, 0},
        {"/openapi.yaml", serve_openapi_yaml, 0},
        {"/docs", serve_docs, 0},
        {"/docs/redoc.standalone.js", serve_docs_renderer, 0},
};

/* Answers err (403 or 429, with Retry-After for the latter) and returns -1. */
static int refuse(gateway_exchange *exchange, portico_error *err, int64_t retry_after_s)
{
	exchange->retry_after_s = retry_after_s;
	gateway_respond_error(exchange, err);
	portico_error_clear(err);
	return -1;
}

int gateway_authorize(gateway_exchange *exchange, unsigned permissions, const char *namespace_name)
{
	int64_t retry_after_s = 0;
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *auth = exchange->gateway->auth;
	if (auth_check(auth, &exchange->caller, permissions, namespace_name, NULL, &err) ||
	    auth_take_token(auth, &exchange->caller, &retry_after_s, &err))
		return refuse(exchange, &err, retry_after_s);
	return 0;
}

int gateway_authorize_effects(gateway_exchange *exchange, const permission_need *need, const char *namespace_name)
{
	portico_error err = PORTICO_ERROR_INIT;
	for (unsigned bit = 0; bit < AUTH_PERMISSION_BITS; bit++)
		if ((need->permissions & (1u << bit)) &&
		    auth_check(exchange->gateway->auth, &exchange->caller, 1u << bit, namespace_name,
		               need->reasons[bit], &err))
			return refuse(exchange, &err, 0);
	return 0;
}

/* Temporal's ids and names are UTF-8 text: a path parameter that is not is the caller's 400, never
 * dropped (a start would run under a made-up id). Returns -1 after answering. */
static int check_path_params(gateway_exchange *exchange, const route_params *params)
{
	for (size_t i = 0; i < params->count; i++) {
		json_t *text = json_string(params->items[i].value);
		json_decref(text);
		if (!text) {
			gateway_fail(exchange, PORTICO_INVALID_ARGUMENT, "path parameter %s: not valid UTF-8",
			             params->items[i].field);
			return -1;
		}
	}
	return 0;
}

/* Health probes: public, since probes present no credentials and name no particular host. */
static int is_probe(const char *method, const char *path)
{
	int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	for (size_t i = 0; is_get && i < sizeof fixed_routes / sizeof fixed_routes[0]; i++)
		if (fixed_routes[i].public && !strcmp(path, fixed_routes[i].path))
			return 1;
	return 0;
}

/* Webhooks prove themselves with signatures, probes and CORS preflights carry no credentials:
 * everything else must. Answers 401 and returns -1 when the credentials are missing or wrong. */
static int authenticate(gateway_exchange *exchange, const char *method, const char *path)
{
	if (is_probe(method, path) || !strcmp(method, "OPTIONS") || !strncmp(path, "/webhooks/", strlen("/webhooks/")))
		return 0;
	if (is_codec_path(path) && exchange->gateway->config.codec_auth_token) {
		/* The codec's own token lets a caller use the codec and nothing else; without it, an
		 * API key with the codec permission does, and with auth off the token is required. */
		if (codec_server_token_presented(exchange)) {
			exchange->caller.permissions = PERMISSION_CODEC;
			exchange->caller.subject = portico_strdup("PORTICO_CODEC_AUTH_TOKEN");
			return 0;
		}
		if (auth_config_mode(exchange->gateway->auth) != AUTH_KEYS) {
			http_response_header(exchange->request, "WWW-Authenticate", "Bearer");
			gateway_fail(exchange, PORTICO_UNAUTHENTICATED, "the codec endpoint needs its bearer token");
			return -1;
		}
	}
	portico_error err = PORTICO_ERROR_INIT;
	if (auth_authenticate(exchange->gateway->auth, exchange->request, &exchange->caller, &err) == 0)
		return 0;
	http_response_header(exchange->request, "WWW-Authenticate", "Bearer");
	gateway_respond_error(exchange, &err);
	portico_error_clear(&err);
	return -1;
}

void gateway_metrics_define(portico_metrics *metrics)
{
	portico_metrics_define(metrics, "portico_http_requests_total", PORTICO_COUNTER,
	                       "HTTP requests answered, by route, method and status.", NULL, 0);
	portico_metrics_define(metrics, "portico_http_request_duration_seconds", PORTICO_HISTOGRAM,
	                       "Time from a request's headers to its answer, by route.", portico_metrics_seconds,
	                       portico_metrics_seconds_count);
	portico_metrics_define(metrics, "portico_http_requests_in_flight", PORTICO_GAUGE, "Requests being served now.",
	                       NULL, 0);
	portico_metrics_define(metrics, "portico_temporal_calls_total", PORTICO_COUNTER,
	                       "WorkflowService calls, by method and gRPC code.", NULL, 0);
	portico_metrics_define(metrics, "portico_temporal_call_duration_seconds", PORTICO_HISTOGRAM,
	                       "WorkflowService call latency (retries included), by method.", portico_metrics_seconds,
	                       portico_metrics_seconds_count);
	portico_metrics_define(metrics, "portico_payload_bytes", PORTICO_HISTOGRAM,
	                       "The largest Payloads field of each request sent to Temporal, after encoding.",
	                       portico_metrics_bytes, portico_metrics_bytes_count);
	portico_metrics_define(metrics, "portico_payloads_over_limit_total", PORTICO_COUNTER,
	                       "Requests refused with 413 by the payload size guard.", NULL, 0);
	portico_metrics_define(metrics, "portico_large_payloads_total", PORTICO_COUNTER,
	                       "Requests with a payload over the warning size.", NULL, 0);
	portico_metrics_define(metrics, "portico_codec_failures_total", PORTICO_COUNTER,
	                       "Payloads the codec endpoint could not encode or decode, by direction.", NULL, 0);
	portico_metrics_define(metrics, "portico_webhook_verifications_total", PORTICO_COUNTER,
	                       "Webhook signature checks, by webhook and result.", NULL, 0);
}

/* With authentication off, anything that can reach the port may drive the gateway, web pages the
 * user visits included: refuses (403) a Host that does not name this machine (DNS rebinding), and
 * a request that changes something sent by a page of another origin (a browser says so with
 * Origin or Sec-Fetch-Site; curl and SDKs send neither) unless that origin is allowed by name.
 * Webhooks carry signatures of their own. Returns -1 after answering. */
static int refuse_web_pages(gateway_exchange *exchange, const char *method, const char *path)
{
	const gateway *gw = exchange->gateway;
	if (auth_config_mode(gw->auth) != AUTH_OFF || !strncmp(path, "/webhooks/", strlen("/webhooks/")) ||
	    is_probe(method, path))
		return 0;
	if (!auth_host_allowed(gw->auth, http_request_header(exchange->request, "Host"), gw->config.listen)) {
		gateway_fail(exchange, PORTICO_PERMISSION_DENIED,
		             "Host: this gateway runs without authentication and answers only to the names of this "
		             "machine (add others to PORTICO_ALLOWED_HOSTS)");
		return -1;
	}
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD") || !strcmp(method, "OPTIONS"))
		return 0;
	const char *origin = http_request_header(exchange->request, "Origin");
	const char *site = http_request_header(exchange->request, "Sec-Fetch-Site");
	/* Sec-Fetch-Site cannot be set by a page; browsers without it still send Origin. */
	int from_page = site ? strcmp(site, "none") && strcmp(site, "same-origin") : origin != NULL;
	const char *allowed = is_codec_path(path) ? gw->config.codec_cors_origins : gw->config.cors_origins;
	if (!from_page || (origin && auth_list_has(allowed, origin, strlen(origin))))
		return 0;
	gateway_fail(exchange, PORTICO_PERMISSION_DENIED,
	             "a web page of another origin may not change anything while authentication is off (allow "
	             "its origin by name in PORTICO_CORS_ORIGINS, or turn authentication on)");
	return -1;
}

void gateway_handle(void *arg, http_request *request)
{
	gateway_exchange *exchange = portico_calloc(1, sizeof *exchange);
	exchange->gateway = arg;
	exchange->request = request;
	exchange->payload_shorthand = http_request_query(request, "noPayloadShorthand") == NULL;
	http_request_set_context(request, exchange, exchange_free);
	set_request_id(exchange);
	if (refuse_web_pages(exchange, http_request_method(request), http_request_path(request)))
		return;
	if (!is_codec_path(http_request_path(request)) &&
	    gateway_cors(exchange, exchange->gateway->config.cors_origins))
		return;

	const char *method = http_request_method(request);
	const char *path = http_request_path(request);
	int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (authenticate(exchange, method, path))
		return;
	for (size_t i = 0; is_get && i < sizeof fixed_routes / sizeof fixed_routes[0]; i++) {
		if (!strcmp(path, fixed_routes[i].path)) {
			exchange->route = fixed_routes[i].path;
			if (fixed_routes[i].public || !gateway_authorize(exchange, PERMISSION_READ, NULL))
				fixed_routes[i].serve(exchange);
			return;
		}
	}
	if (codec_server_serve(exchange, path) || webhook_serve(exchange, path))
		return;

	const gateway_route *route;
	route_params params;
	char allow[2 * ALLOW_MAX], extra_allow[ALLOW_MAX];
	route_result found = router_match(gateway_extra_routes, gateway_extra_route_count, method, path, &route,
	                                  &params, extra_allow, sizeof extra_allow);
	if (found != ROUTE_FOUND)
		found = router_match(gateway_routes, gateway_route_count, method, path, &route, &params, allow,
		                     sizeof allow);
	if (found != ROUTE_FOUND && extra_allow[0]) {
		size_t used = strlen(allow);
		snprintf(allow + used, sizeof allow - used, "%s%s", used ? ", " : "", extra_allow);
		found = ROUTE_METHOD_NOT_ALLOWED;
	}
	switch (found) {
	case ROUTE_FOUND:
		exchange->route = route->pattern;
		if (check_path_params(exchange, &params) ||
		    gateway_authorize(exchange, route->permissions, route_param(&params, "namespace"))) {
			route_params_free(&params);
			return;
		}
		if (!strcmp(route->rpc, "result"))
			serve_result(exchange, &params);
		else
			proxy_serve(exchange, route, &params);
		route_params_free(&params);
		return;
	case ROUTE_METHOD_NOT_ALLOWED:
		http_response_header(request, "Allow", allow);
		gateway_fail_status(exchange, 405, PORTICO_UNIMPLEMENTED, "%s is not allowed on %s (allowed: %s)",
		                    method, path, allow);
		return;
	case ROUTE_NOT_FOUND:
		gateway_fail(exchange, PORTICO_NOT_FOUND, "no route for %s %s", method, path);
		return;
	}
}

/* The method as a metrics label: one of HTTP's, or OTHER, so that made-up methods (anyone may
 * send them, before authentication) cannot add series without end. */
static const char *method_label(const char *method)
{
	static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcmp(method, known[i]))
			return known[i];
	return "OTHER";
}

/* Every label from a closed set: the route's pattern or "unmatched", method_label, the status. */
static void count_request(gateway *gw, const gateway_exchange *exchange, http_request *request, int64_t duration_ms)
{
	char route[256], method[32], status[32], labels[384];
	portico_metrics_label(route, sizeof route, "route",
	                      exchange && exchange->route ? exchange->route : "unmatched");
	portico_metrics_label(method, sizeof method, "method", method_label(http_request_method_sent(request)));
	snprintf(status, sizeof status, "status=\"%u\"", http_request_status(request));
	snprintf(labels, sizeof labels, "%s,%s,%s", route, method, status);
	portico_metrics_add(gw->metrics, "portico_http_requests_total", labels, 1);
	portico_metrics_observe(gw->metrics, "portico_http_request_duration_seconds", route,
	                        (double)duration_ms / 1000);
}

void gateway_log_access(void *arg, http_request *request)
{
	gateway_exchange *exchange = http_request_context(request);
	int64_t duration_ms = portico_monotonic_ms() - http_request_started_ms(request);
	count_request(arg, exchange, request, duration_ms);
	char timestamp[32];
	time_t now = (time_t)portico_wall_s();
	struct tm utc;
	gmtime_r(&now, &utc);
	strftime(timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
	/* The method, path and workflow id are the client's bytes, which need not be UTF-8. */
	json_t *line = json_pack("{s:s,s:s,s:o,s:o,s:i,s:I}", "time", timestamp, "level", "info", "method",
	                         portico_log_text(http_request_method_sent(request)), "path",
	                         portico_log_text(http_request_path(request)), "status",
	                         (int)http_request_status(request), "durationMs", (json_int_t)duration_ms);
	if (exchange) {
		json_object_set_new(line, "requestId", json_string(exchange->request_id));
		if (exchange->workflow_id)
			json_object_set_new(line, "workflowId", portico_log_text(exchange->workflow_id));
	}
	size_t length;
	char *text = portico_json_text(line, 0, &length);
	json_decref(line);
	text[length] = '\n'; /* over the terminating NUL: one write for the line */
	fwrite(text, 1, length + 1, stdout);
	fflush(stdout);
	free(text);
}
