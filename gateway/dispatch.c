#include "dispatch.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "codec_server.h"
#include "completion_callback.h"
#include "completion_webhook.h"
#include "log.h"
#include "pages.h"
#include "router.h"
#include "webhook.h"

#define ALLOW_MAX 128

static int is_codec_path(const char *path)
{
	return !strncmp(path, "/codec/", 7);
}

/* Webhooks and Temporal's completion callbacks prove themselves with what they carry (signatures,
 * a sealed token), not with a caller's credentials, and come from no web page. */
static int is_self_proving(const char *path)
{
	return !strncmp(path, "/webhooks/", strlen("/webhooks/")) || !strcmp(path, COMPLETION_CALLBACK_PATH);
}

/* Temporal's ids and names are UTF-8 text: a path parameter that is not is the caller's 400, never
 * dropped (a start would run under a made-up id). Returns -1 after answering. */
static int check_path_params(gateway_exchange *exchange, const route_params *params)
{
	for (size_t i = 0; i < params->count; i++) {
		json_t *text = json_string(params->items[i].value);
		json_decref(text);
		if (!text) {
			exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "path parameter %s: not valid UTF-8",
			              params->items[i].field);
			return -1;
		}
	}
	return 0;
}

/* Health probes (public pages): they present no credentials and name no particular host. */
static int is_probe(const page *found)
{
	return found && found->public;
}

/* Webhooks prove themselves with signatures, probes and CORS preflights carry no credentials:
 * everything else must. Answers 401 and returns -1 when the credentials are missing or wrong. */
static int authenticate(gateway_exchange *exchange, const char *method, const char *path, const page *found)
{
	if (is_probe(found) || !strcmp(method, "OPTIONS") || is_self_proving(path))
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
			exchange_fail(exchange, PORTICO_UNAUTHENTICATED, "the codec endpoint needs its bearer token");
			return -1;
		}
	}
	portico_error err = PORTICO_ERROR_INIT;
	if (auth_authenticate(exchange->gateway->auth, exchange_headers(exchange), &exchange->caller, &err) == 0)
		return 0;
	http_response_header(exchange->request, "WWW-Authenticate", "Bearer");
	exchange_respond_error(exchange, &err);
	portico_error_clear(&err);
	return -1;
}

/* With authentication off, anything that can reach the port may drive the gateway, web pages the
 * user visits included: refuses (403) a Host that does not name this machine (DNS rebinding), and
 * a request that changes something sent by a page of another origin (a browser says so with
 * Origin or Sec-Fetch-Site; curl and SDKs send neither) unless that origin is allowed by name.
 * Webhooks carry signatures of their own. Returns -1 after answering. */
static int refuse_web_pages(gateway_exchange *exchange, const char *method, const char *path, const page *found)
{
	const gateway *gw = exchange->gateway;
	if (auth_config_mode(gw->auth) != AUTH_OFF || is_self_proving(path) || is_probe(found))
		return 0;
	if (!auth_host_allowed(gw->auth, http_request_header(exchange->request, "Host"), gw->config.listen)) {
		exchange_fail(exchange, PORTICO_PERMISSION_DENIED,
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
	exchange_fail(exchange, PORTICO_PERMISSION_DENIED,
	              "a web page of another origin may not change anything while authentication is off (allow "
	              "its origin by name in PORTICO_CORS_ORIGINS, or turn authentication on)");
	return -1;
}

void dispatch_handle(void *arg, http_request *request)
{
	gateway_exchange *exchange = exchange_new(arg, request);
	const char *method = http_request_method(request);
	const char *path = http_request_path(request);
	const page *found = pages_find(method, path); /* looked up once: probes are let through first */
	if (refuse_web_pages(exchange, method, path, found))
		return;
	if (!is_codec_path(path) && exchange_cors(exchange, exchange->gateway->config.cors_origins))
		return;
	if (authenticate(exchange, method, path, found))
		return;
	if (found) {
		exchange->route = found->path;
		if (found->public || !exchange_authorize(exchange, PERMISSION_READ, NULL))
			found->serve(exchange);
		return;
	}
	if (codec_server_serve(exchange, path) || webhook_serve(exchange, path) ||
	    completion_callback_serve(exchange, path))
		return;

	const gateway_route *route;
	route_params params;
	char allow[ALLOW_MAX];
	switch (router_match(gateway_routes, gateway_route_count, method, path, &route, &params, allow, sizeof allow)) {
	case ROUTE_FOUND:
		exchange->route = route->pattern;
		if (check_path_params(exchange, &params) == 0 &&
		    exchange_authorize(exchange, route->permissions, route_param(&params, "namespace")) == 0)
			route->serve(exchange, route, &params);
		route_params_free(&params);
		return;
	case ROUTE_METHOD_NOT_ALLOWED:
		http_response_header(request, "Allow", allow);
		exchange_fail_status(exchange, 405, PORTICO_UNIMPLEMENTED, "%s is not allowed on %s (allowed: %s)",
		                     method, path, allow);
		return;
	case ROUTE_NOT_FOUND:
		exchange_fail(exchange, PORTICO_NOT_FOUND, "no route for %s %s", method, path);
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

/* Every label from a closed set: the route's pattern or "unmatched", method_label, the status. The
 * labels are put together with memcpy: snprintf cost more than the counting. */
static void count_request(gateway *gw, const gateway_exchange *exchange, http_request *request, int64_t duration_ms)
{
	char route[256], method[32], labels[384];
	portico_metrics_label(route, sizeof route, "route",
	                      exchange && exchange->route ? exchange->route : "unmatched");
	portico_metrics_label(method, sizeof method, "method", method_label(http_request_method_sent(request)));
	size_t route_length = strlen(route), method_length = strlen(method), used = 0;
	memcpy(labels, route, route_length);
	used += route_length;
	labels[used++] = ',';
	memcpy(labels + used, method, method_length);
	used += method_length;
	memcpy(labels + used, ",status=\"", 9);
	used += 9;
	/* The status in decimal (0 when nothing was answered: the client left). */
	char digits[12];
	size_t at = sizeof digits;
	unsigned status = http_request_status(request);
	do {
		digits[--at] = (char)('0' + status % 10);
		status /= 10;
	} while (status);
	memcpy(labels + used, digits + at, sizeof digits - at);
	used += sizeof digits - at;
	labels[used++] = '"';
	labels[used] = '\0';
	portico_metrics_add(gw->metrics, "portico_http_requests_total", labels, 1);
	portico_metrics_observe(gw->metrics, "portico_http_request_duration_seconds", route,
	                        (double)duration_ms / 1000);
}

void dispatch_log_access(void *arg, http_request *request)
{
	gateway_exchange *exchange = http_request_context(request);
	int64_t duration_ms = portico_monotonic_ms() - http_request_started_ms(request);
	count_request(arg, exchange, request, duration_ms);
	char timestamp[PORTICO_WALL_TEXT_SIZE];
	portico_wall_text(timestamp);
	/* The method, path and workflow id are the client's bytes, which need not be UTF-8: the
	 * writer makes them so, as portico_log_text does. */
	portico_log_writer line;
	portico_log_writer_start(&line);
	portico_log_writer_text(&line, "time", timestamp);
	portico_log_writer_text(&line, "level", "info");
	portico_log_writer_text(&line, "method", http_request_method_sent(request));
	portico_log_writer_text(&line, "path", http_request_path(request));
	portico_log_writer_int(&line, "status", (int)http_request_status(request));
	portico_log_writer_int(&line, "durationMs", duration_ms);
	if (exchange) {
		portico_log_writer_text(&line, "requestId", exchange->request_id);
		if (exchange->workflow_id)
			portico_log_writer_text(&line, "workflowId", exchange->workflow_id);
	}
	portico_log_writer_send(&line, STDOUT_FILENO);
}

void dispatch_metrics_define(portico_metrics *metrics)
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
	portico_metrics_define(metrics, "portico_completion_webhooks_total", PORTICO_COUNTER,
	                       "Completion callbacks from Temporal, by outcome (delivered, failed: Temporal retries, "
	                       "gone, not_allowed, busy, unauthenticated).",
	                       NULL, 0);
	portico_metrics_define(metrics, "portico_webhook_verifications_total", PORTICO_COUNTER,
	                       "Webhook signature checks, by webhook and result.", NULL, 0);
}
