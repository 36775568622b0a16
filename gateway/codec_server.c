/* The remote codec endpoint of the Temporal Web UI and CLI: POST /codec/encode and
 * /codec/decode (also /codec/{namespace}/encode…), bodies {"payloads": [full-form payloads]},
 * the same count out as in. The UI calls it from the browser: CORS for the configured origins,
 * with credentials, and an optional bearer token. */
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "codec_server.h"
#include "crypto.h"

#define CODEC_PREFIX "/codec/"

static int ends_with(const char *text, const char *suffix)
{
	size_t length = strlen(text), suffix_length = strlen(suffix);
	return length >= suffix_length && !strcmp(text + length - suffix_length, suffix);
}

/* The token check takes the same time whatever the guess. */
int codec_server_token_presented(gateway_exchange *exchange)
{
	const char *token = exchange->gateway->config.codec_auth_token;
	if (!token)
		return 0;
	const char *given = http_request_header(exchange->request, "Authorization");
	if (!given || strncasecmp(given, "Bearer ", 7))
		return 0;
	given += 7;
	size_t length = strlen(token);
	return strlen(given) == length && portico_constant_time_equal(given, token, length);
}

/* Applies the codec to each payload; answers 400 on the first that fails. What the payloads of
 * one call inflate to is bounded together, as for a response. */
static int transform(gateway_exchange *exchange, portico_payloads *payloads, int encode)
{
	const portico_codec *codec = exchange->gateway->codec;
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, exchange->gateway->config.max_payload_bytes);
	for (size_t i = 0; codec && i < payloads->n_payloads; i++) {
		portico_error err = PORTICO_ERROR_INIT;
		portico_payload *out =
		        encode ? portico_codec_encode(codec, payloads->payloads[i])
		               : portico_codec_decode_within(codec, payloads->payloads[i], &budget, &err);
		if (!out) {
			portico_metrics_add(exchange->gateway->metrics, "portico_codec_failures_total",
			                    encode ? "direction=\"encode\"" : "direction=\"decode\"", 1);
			exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "payloads[%zu]: %s", i, err.message);
			portico_error_clear(&err);
			return -1;
		}
		portico_payload_free(payloads->payloads[i]);
		payloads->payloads[i] = out;
	}
	return 0;
}

/* The payloads of a body {"payloads": [...]}. The Temporal CLI sends {} when there are none,
 * and proto3 JSON writes an empty list as null: both are no payloads. */
static portico_payloads *payloads_of_body(json_t *body, portico_error *err)
{
	json_t *list = json_object_get(body, "payloads");
	int nothing_else = json_object_size(body) == (list ? 1u : 0u);
	if (nothing_else && (!list || json_is_null(list)))
		return portico_payloads_from_json(json_null(), "payloads", err);
	return portico_payloads_from_json(body, "payloads", err);
}

int codec_server_serve(gateway_exchange *exchange, const char *path)
{
	if (strncmp(path, CODEC_PREFIX, strlen(CODEC_PREFIX)))
		return 0;
	exchange->route = "/codec";
	if (exchange_cors(exchange, exchange->gateway->config.codec_cors_origins) ||
	    exchange_authorize(exchange, PERMISSION_CODEC, NULL))
		return 1;
	int encode = ends_with(path, "/encode");
	if (!encode && !ends_with(path, "/decode")) {
		exchange_fail(exchange, PORTICO_NOT_FOUND, "codec paths end in /encode or /decode, not %s", path);
		return 1;
	}
	if (strcmp(http_request_method(exchange->request), "POST")) {
		http_response_header(exchange->request, "Allow", "POST, OPTIONS");
		exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "%s takes POST", path);
		return 1;
	}
	size_t length;
	const char *text = http_request_body(exchange->request, &length);
	json_error_t parse_error;
	json_t *body = json_loadb(text, length, 0, &parse_error);
	if (!body) {
		exchange_fail(exchange, PORTICO_INVALID_ARGUMENT,
		              "request body is not valid JSON: %s at line %d, column %d", parse_error.text,
		              parse_error.line, parse_error.column);
		return 1;
	}
	portico_error err = PORTICO_ERROR_INIT;
	portico_payloads *payloads = json_is_object(body) ? payloads_of_body(body, &err) : NULL;
	json_decref(body);
	if (!payloads) {
		exchange_fail(exchange, PORTICO_INVALID_ARGUMENT, "%s",
		              err.message ? err.message : "expected {\"payloads\": [...]}");
		portico_error_clear(&err);
		return 1;
	}
	if (transform(exchange, payloads, encode) == 0)
		exchange_respond_json(exchange, 200, portico_payloads_to_json(payloads, 0));
	portico_payloads_free(payloads);
	return 1;
}
