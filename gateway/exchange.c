#include "exchange.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "json_copy.h"
#include "json_text.h"
#include "log.h"
#include "protojson.h"
#include "request.h"
#include "uuid.h"

#define RETRY_AFTER_SECONDS 1 /* when nothing tells how long: Temporal unavailable, say */

unsigned exchange_http_status(portico_code code)
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

void exchange_respond_json(gateway_exchange *exchange, unsigned status, json_t *body)
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
	exchange_respond_json(exchange, status, body);
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

const char *exchange_error_text(gateway_exchange *exchange, const portico_error *err)
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

void exchange_respond_error(gateway_exchange *exchange, const portico_error *err)
{
	portico_error shown = *err; /* a shallow copy: only the message may differ */
	shown.message = (char *)exchange_error_text(exchange, err);
	respond_error_status(exchange, exchange_http_status(err->code), &shown);
}

static void fail_with_status(gateway_exchange *exchange, unsigned status, portico_code code, const char *format,
                             va_list args)
{
	portico_error err = PORTICO_ERROR_INIT;
	err.code = code;
	err.message = portico_vsprintf(format, args);
	respond_error_status(exchange, status ? status : exchange_http_status(code), &err);
	portico_error_clear(&err);
}

void exchange_fail(gateway_exchange *exchange, portico_code code, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	fail_with_status(exchange, 0, code, format, args);
	va_end(args);
}

void exchange_fail_status(gateway_exchange *exchange, unsigned status, portico_code code, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	fail_with_status(exchange, status, code, format, args);
	va_end(args);
}

/* Says which payloads a response shows as stored (the field path holds memo keys: the caller's). */
static void warn_left_encoded(const gateway_exchange *exchange, const portico_decode_budget *budget)
{
	portico_log("warn", "payloads left encoded: they inflate past the decode budget",
	            json_pack("{s:I,s:o,s:I,s:I,s:s}", "count", (json_int_t)budget->left_encoded, "field",
	                      portico_log_text(budget->left_encoded_field), "payloadLimitBytes",
	                      (json_int_t)budget->payload_bytes, "budgetBytes", (json_int_t)budget->total_bytes,
	                      "requestId", exchange->request_id));
}

/* Decodes the payloads of a message from Temporal in place, within the decode budget. */
static void decode_payloads(gateway_exchange *exchange, ProtobufCMessage *message)
{
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, exchange->gateway->config.max_payload_bytes);
	portico_codec_decode_message_within(exchange->gateway->codec, message, &budget);
	if (budget.left_encoded)
		warn_left_encoded(exchange, &budget);
}

json_t *exchange_message_json(gateway_exchange *exchange, ProtobufCMessage *message)
{
	decode_payloads(exchange, message);
	const portico_protojson_options options = {.payload_shorthand = exchange->payload_shorthand};
	return portico_protojson_encode(message, &options);
}

/* Adds "workflowId": workflow_id as the last member of the object text holds, as
 * json_object_set_new would on the tree: nothing when jansson would refuse the id. The message
 * written has no member of that name (exchange_respond_message sees to it). */
static void add_workflow_id(portico_json_buffer *text, const char *workflow_id)
{
	size_t length = strlen(workflow_id);
	if (!portico_json_utf8_valid(workflow_id, length) || !text->length || text->data[text->length - 1] != '}')
		return;
	text->length--; /* the object's closing brace */
	portico_json_buffer_append(
	        text, text->length > 1 ? ",\"workflowId\":" : "\"workflowId\":", text->length > 1 ? 14 : 13);
	portico_json_append_string(text, workflow_id, length);
	portico_json_buffer_append(text, "}", 1);
}

void exchange_respond_message(gateway_exchange *exchange, unsigned status, ProtobufCMessage *message,
                              const char *workflow_id)
{
	if (workflow_id && protobuf_c_message_descriptor_get_field_by_name(message->descriptor, "workflow_id")) {
		/* One the tree replaces in place: rare enough for the tree's way. */
		json_t *body = exchange_message_json(exchange, message);
		json_object_set_new(body, "workflowId", json_string(workflow_id));
		exchange_respond_json(exchange, status, body);
		return;
	}
	decode_payloads(exchange, message);
	const portico_protojson_options options = {.payload_shorthand = exchange->payload_shorthand};
	portico_json_buffer text = {NULL, 0, 0};
	portico_protojson_append(&text, message, &options);
	if (workflow_id)
		add_workflow_id(&text, workflow_id);
	http_respond(exchange->request, status, "application/json", text.data, text.length);
}

char *exchange_message_text(gateway_exchange *exchange, ProtobufCMessage *message, size_t *length)
{
	decode_payloads(exchange, message);
	const portico_protojson_options options = {.payload_shorthand = exchange->payload_shorthand};
	return portico_protojson_write(message, &options, length);
}

int exchange_encode_request(gateway_exchange *exchange, ProtobufCMessage *request)
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
		exchange_respond_json(exchange, 413, body);
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
	const char *method; /* static: a literal or a method descriptor's name */
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

int exchange_call_start(gateway_exchange *exchange, const portico_call_options *options,
                        const ProtobufCMessage *request, portico_call_done_fn done, void *arg, portico_error *err)
{
	timed_call *call = portico_malloc(sizeof *call);
	const char *method = options->descriptor ? options->descriptor->name : options->method;
	*call = (timed_call){exchange, method, portico_monotonic_ms(), done, arg};
	/* Every call of an exchange can be cancelled by its client leaving (exchange_watch_client). */
	portico_call_options cancellable = *options;
	cancellable.cancel = &exchange->cancel;
	if (portico_transport_call_async(exchange->gateway->transport, &cancellable, request, on_timed_call, call,
	                                 err) == 0)
		return 0;
	free(call);
	blame_the_server(exchange, err);
	return -1;
}

int exchange_call(gateway_exchange *exchange, const portico_call_options *options, const ProtobufCMessage *request,
                  portico_call_done_fn done, void *arg)
{
	portico_error err = PORTICO_ERROR_INIT;
	if (exchange_call_start(exchange, options, request, done, arg, &err) == 0)
		return 0;
	exchange_respond_error(exchange, &err);
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

void exchange_watch_client(gateway_exchange *exchange)
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

gateway_exchange *exchange_new(gateway *gw, http_request *request)
{
	gateway_exchange *exchange = portico_calloc(1, sizeof *exchange);
	exchange->gateway = gw;
	exchange->request = request;
	exchange->payload_shorthand = http_request_query(request, "noPayloadShorthand") == NULL;
	http_request_set_context(request, exchange, exchange_free);
	set_request_id(exchange);
	return exchange;
}

static const char *request_header(const void *request, const char *name)
{
	return http_request_header(request, name);
}

request_headers exchange_headers(const gateway_exchange *exchange)
{
	return (request_headers){request_header, exchange->request};
}

int exchange_cors(gateway_exchange *exchange, const char *allowed)
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
	                     "X-Request-Id, Grpc-Timeout, Last-Event-ID");
	http_response_header(exchange->request, "Access-Control-Max-Age", "600");
	http_respond(exchange->request, 204, NULL, NULL, 0);
	return 1;
}

/* Answers err (403 or 429, with Retry-After for the latter) and returns -1. */
static int refuse(gateway_exchange *exchange, portico_error *err, int64_t retry_after_s)
{
	exchange->retry_after_s = retry_after_s;
	exchange_respond_error(exchange, err);
	portico_error_clear(err);
	return -1;
}

int exchange_authorize(gateway_exchange *exchange, unsigned permissions, const char *namespace_name)
{
	int64_t retry_after_s = 0;
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *auth = exchange->gateway->auth;
	if (auth_check(auth, &exchange->caller, permissions, namespace_name, NULL, &err) ||
	    auth_take_token(auth, &exchange->caller, &retry_after_s, &err))
		return refuse(exchange, &err, retry_after_s);
	return 0;
}

int exchange_authorize_effects(gateway_exchange *exchange, const permission_need *need, const char *namespace_name)
{
	portico_error err = PORTICO_ERROR_INIT;
	for (unsigned bit = 0; bit < AUTH_PERMISSION_BITS; bit++)
		if ((need->permissions & (1u << bit)) &&
		    auth_check(exchange->gateway->auth, &exchange->caller, 1u << bit, namespace_name,
		               need->reasons[bit], &err))
			return refuse(exchange, &err, 0);
	return 0;
}

typedef struct latest_run {
	exchange_run_fn *done;
	void *arg;
} latest_run;

static void on_latest_run(void *arg, ProtobufCMessage *message, portico_error *err)
{
	latest_run lookup = *(latest_run *)arg;
	free(arg);
	if (err) {
		lookup.done(lookup.arg, NULL, err);
		return;
	}
	Temporal__Api__Workflowservice__V1__DescribeWorkflowExecutionResponse *response = (void *)message;
	const Temporal__Api__Workflow__V1__WorkflowExecutionInfo *info = response->workflow_execution_info;
	lookup.done(lookup.arg, info && info->execution ? info->execution->run_id : NULL, NULL);
	protobuf_c_message_free_unpacked(message, NULL);
}

void exchange_latest_run(gateway_exchange *exchange, const char *namespace_name, const char *workflow_id,
                         exchange_run_fn *done, void *arg)
{
	const portico_request_target target = {namespace_name, NULL};
	portico_request request;
	portico_error err = PORTICO_ERROR_INIT;
	latest_run *lookup = portico_malloc(sizeof *lookup); /* freed by on_latest_run */
	*lookup = (latest_run){done, arg};
	if (portico_request_describe(&request, &target, workflow_id, NULL, &err) == 0) {
		request.options.timeout_ms = exchange->gateway->config.call_timeout_ms;
		if (exchange_call_start(exchange, &request.options, &request.message.base, on_latest_run, lookup,
		                        &err) == 0)
			return;
	}
	free(lookup);
	done(arg, NULL, &err);
	portico_error_clear(&err);
}
