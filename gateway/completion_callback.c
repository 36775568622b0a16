#include "completion_callback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "completion_webhook.h"
#include "delivery.h"
#include "json_text.h"
#include "log.h"
#include "result.h"

/* Temporal gives a callback 10 s (component.callbacks.request.timeout): reading the outcome and
 * delivering it must fit, or a delivery that did arrive is made again. */
#define FETCH_TIMEOUT_MS    3000
#define DELIVERY_TIMEOUT_MS 5000
#define MAX_HEADER_LINES    (COMPLETION_MAX_HEADERS + 4)

/* One callback being served: freed when it answers. */
typedef struct callback {
	gateway_exchange *exchange;
	completion_binding binding;
	char message_id[40];
	char *run_id; /* from Temporal's link; NULL for the latest run */
} callback;

/* outcome: one of a closed set (the metric's help names them). */
static void count_outcome(const gateway_exchange *exchange, const char *outcome)
{
	char labels[64];
	snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
	portico_metrics_add(exchange->gateway->metrics, "portico_completion_webhooks_total", labels, 1);
}

static void callback_free(callback *c)
{
	completion_binding_clear(&c->binding);
	free(c->run_id);
	free(c);
}

/* The log line of a delivery that did not go through (never the target's headers: secrets). */
static void log_failed(const callback *c, long status, const char *reason)
{
	portico_log("warn", "completion webhook not delivered",
	            json_pack("{s:s,s:o,s:o,s:i,s:o}", "requestId", c->exchange->request_id, "workflowId",
	                      portico_log_text(c->binding.workflow_id), "target",
	                      portico_log_text(c->binding.target.url), "status", (int)status, "reason",
	                      portico_log_text(reason ? reason : "")));
}

static void on_delivered(void *arg, long status, const char *error)
{
	callback *c = arg;
	count_outcome(c->exchange, status >= 200 && status < 300 ? "delivered" : status == 410 ? "gone" : "failed");
	if (status >= 200 && status < 300) {
		exchange_respond_json(c->exchange, 200, json_pack("{s:b,s:i}", "delivered", 1, "status", (int)status));
	} else if (status == 410) {
		/* Standard Webhooks: Gone means the receiver wants no more. */
		log_failed(c, status, "the receiver answered 410 Gone: no more attempts");
		exchange_fail_status(c->exchange, 410, PORTICO_FAILED_PRECONDITION,
		                     "the receiver answered 410 Gone: no more attempts");
	} else {
		char reason[160];
		snprintf(reason, sizeof reason, "%s", error ? error : "the receiver did not answer 2xx");
		log_failed(c, status, reason);
		exchange_fail(c->exchange, PORTICO_UNAVAILABLE, "delivery failed (receiver status %ld): %s", status,
		              reason);
	}
	callback_free(c);
}

/* Adds "Name: value" of each of the target's headers to lines. */
static size_t target_header_lines(const completion_target *target, char **lines, size_t count)
{
	const char *name;
	json_t *value;
	json_object_foreach(target->headers, name, value)
	{
		if (count == MAX_HEADER_LINES)
			break;
		lines[count++] = portico_sprintf("%s: %s", name, json_string_value(value));
	}
	return count;
}

static void deliver(callback *c, json_t *outcome)
{
	gateway *gw = c->exchange->gateway;
	json_object_set_new(outcome, "namespace", json_string(c->binding.namespace_name));
	size_t length;
	char *body = portico_json_dumps(outcome, JSON_COMPACT, &length);
	long long now_s = (long long)portico_wall_s();
	char *signature = completion_signature(gw->completion, c->message_id, now_s, body, length);
	char *lines[MAX_HEADER_LINES];
	size_t count = 0;
	lines[count++] = portico_strdup("Content-Type: application/json");
	lines[count++] = portico_sprintf("webhook-id: %s", c->message_id);
	lines[count++] = portico_sprintf("webhook-timestamp: %lld", now_s);
	lines[count++] = portico_sprintf("webhook-signature: %s", signature);
	count = target_header_lines(&c->binding.target, lines, count);
	const delivery_request request = {
	        .url = c->binding.target.url,
	        .headers = (const char *const *)lines,
	        .header_count = count,
	        .body = body,
	        .length = length,
	        .timeout_ms = DELIVERY_TIMEOUT_MS,
	        .any_address = c->binding.target.listed,
	};
	int posted = delivery_post(gw->deliveries, &request, on_delivered, c);
	for (size_t i = 0; i < count; i++)
		free(lines[i]);
	free(signature);
	free(body);
	if (posted) {
		count_outcome(c->exchange, "busy");
		exchange_fail(c->exchange, PORTICO_RESOURCE_EXHAUSTED,
		              "too many webhook deliveries under way; Temporal retries this one");
		callback_free(c);
	}
}

static void on_outcome(void *arg, json_t *outcome, const portico_error *err)
{
	callback *c = arg;
	const char *status = outcome ? json_string_value(json_object_get(outcome, "status")) : NULL;
	if (err) {
		/* Any 4xx would end Temporal's retries: a failure to read the outcome is for later. */
		log_failed(c, 0, err->message);
		count_outcome(c->exchange, "failed");
		exchange_fail(c->exchange, PORTICO_UNAVAILABLE, "the run's outcome could not be read: %s",
		              exchange_error_text(c->exchange, err));
		callback_free(c);
	} else if (status && !strcmp(status, "WORKFLOW_EXECUTION_STATUS_RUNNING")) {
		exchange_fail(c->exchange, PORTICO_UNAVAILABLE, "the run has not closed yet");
		callback_free(c);
	} else {
		deliver(c, outcome);
	}
	json_decref(outcome);
}

/* The delivery's webhook-id: the same for every attempt at one run and target, and for every
 * callback that names them (a start retried with USE_EXISTING attaches another), so a receiver
 * can drop repeats. */
static void make_message_id(callback *c)
{
	const char *run = c->run_id ? c->run_id : "";
	const portico_bytes parts[] = {{c->binding.namespace_name, strlen(c->binding.namespace_name) + 1},
	                               {c->binding.workflow_id, strlen(c->binding.workflow_id) + 1},
	                               {run, strlen(run) + 1},
	                               {c->binding.target.url, strlen(c->binding.target.url)}};
	uint8_t digest[PORTICO_HMAC_MAX_BYTES]; /* under the empty key: a digest of the parts, unjoined */
	portico_hmac(PORTICO_HMAC_SHA256, NULL, 0, parts, sizeof parts / sizeof parts[0], digest);
	memcpy(c->message_id, "msg_", 4);
	portico_hex(digest, 16, c->message_id + 4);
}

int completion_callback_serve(gateway_exchange *exchange, const char *path)
{
	if (strcmp(path, COMPLETION_CALLBACK_PATH))
		return 0;
	exchange->route = COMPLETION_CALLBACK_PATH;
	const completion_config *config = exchange->gateway->completion;
	if (!config) {
		exchange_fail(exchange, PORTICO_NOT_FOUND, "completion webhooks are off (PORTICO_CALLBACK_SECRET)");
		return 1;
	}
	if (strcmp(http_request_method(exchange->request), "POST")) {
		http_response_header(exchange->request, "Allow", "POST");
		exchange_fail_status(exchange, 405, PORTICO_UNIMPLEMENTED, "Temporal calls this endpoint with POST");
		return 1;
	}
	const char *token = http_request_header(exchange->request, COMPLETION_TOKEN_HEADER);
	callback *c = portico_calloc(1, sizeof *c);
	c->exchange = exchange;
	if (!token || completion_token_open(config, token, &c->binding)) {
		count_outcome(exchange, "unauthenticated");
		exchange_fail(exchange, PORTICO_UNAUTHENTICATED, "not a completion callback of this gateway");
		callback_free(c);
		return 1;
	}
	/* The allowlist may have changed since the start: today's decides. */
	json_t *spec = json_pack("{s:s,s:O}", "url", c->binding.target.url, "headers", c->binding.target.headers);
	completion_target now;
	portico_error err = PORTICO_ERROR_INIT;
	if (completion_target_parse(config, spec, &now, &err)) {
		log_failed(c, 0, err.message);
		count_outcome(exchange, "not_allowed");
		exchange_fail(exchange, PORTICO_PERMISSION_DENIED, "the target is not allowed any more");
		portico_error_clear(&err);
		completion_target_clear(&now);
		json_decref(spec);
		callback_free(c);
		return 1;
	}
	json_decref(spec);
	completion_target_clear(&c->binding.target);
	c->binding.target = now;
	exchange->namespace_name = portico_strdup(c->binding.namespace_name);
	exchange->workflow_id = portico_strdup(c->binding.workflow_id);
	c->run_id = completion_link_run_id(http_request_header(exchange->request, "Nexus-Link"),
	                                   c->binding.namespace_name, c->binding.workflow_id);
	make_message_id(c);
	result_fetch(exchange, c->binding.namespace_name, c->binding.workflow_id, c->run_id, FETCH_TIMEOUT_MS,
	             on_outcome, c);
	return 1;
}
