#include "pages.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "request.h"

static void on_system_info(void *arg, ProtobufCMessage *response, portico_error *err)
{
	gateway_exchange *exchange = arg;
	if (err) {
		exchange_respond_error(exchange, err);
		return;
	}
	protobuf_c_message_free_unpacked(response, NULL);
	exchange_respond_json(exchange, 200, json_pack("{s:s}", "status", "ready"));
}

/* /readyz: ready when Temporal answers GetSystemInfo. */
static void serve_readiness(gateway_exchange *exchange)
{
	portico_request request;
	portico_request_system_info(&request);
	request.options.timeout_ms = 2000;
	request.options.retry_transient = 0; /* a probe wants the answer of now */
	exchange_call(exchange, &request.options, &request.message.base, on_system_info, exchange);
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
	exchange_respond_json(exchange, 200, json_pack("{s:s}", "status", "ok"));
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

static const page pages[] = {
        {"/healthz", serve_health, 1},
        {"/readyz", serve_readiness, 1},
        {"/metrics", serve_metrics, 0},
        {"/openapi.json", serve_openapi_json, 0},
        {"/openapi.yaml", serve_openapi_yaml, 0},
        {"/docs", serve_docs, 0},
        {"/docs/redoc.standalone.js", serve_docs_renderer, 0},
};

const page *pages_find(const char *method, const char *path)
{
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return NULL;
	for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
		if (!strcmp(path, pages[i].path))
			return &pages[i];
	return NULL;
}
