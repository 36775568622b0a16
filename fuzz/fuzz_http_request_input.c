/* The built-in http.request activity's input, read before any transfer (http_request_input_read):
 * the input is JSON text, as an activity's first argument. Any value is either refused (not an
 * object with a "url" string and a followRedirects, if any, that is a boolean; a message says
 * why) or read into the request the call would send: that URL and method, the body as given, one
 * header line per string header (and a JSON content type for a JSON body that sets none), a
 * timeout within its bounds, redirects followed unless followRedirects is false. Nothing touches
 * the network. */
#include <stdint.h>

#include <curl/curl.h>

#include "fuzz.h"
#include "http_request.h"

static void check_headers(const http_request_input *request, const json_t *input, int json_body)
{
	json_t *headers = json_object_get(input, "headers");
	const struct curl_slist *line = request->headers;
	const char *key;
	json_t *value;
	json_object_foreach(headers, key, value)
	{
		if (!json_is_string(value))
			continue;
		char *want = malloc(strlen(key) + json_string_length(value) + 3);
		sprintf(want, "%s: %s", key, json_string_value(value));
		if (!line || strcmp(line->data, want))
			fuzz_fail("a header line is not the input's", want);
		free(want);
		line = line->next;
	}
	if (json_body && !json_object_get(headers, "Content-Type") && !json_object_get(headers, "content-type")) {
		if (!line || strcmp(line->data, "Content-Type: application/json"))
			fuzz_fail("a JSON body goes without its content type", NULL);
		line = line->next;
	}
	if (line)
		fuzz_fail("a header line the input does not have", line->data);
}

static void check_request(const http_request_input *request, const json_t *input)
{
	if (request->input != input || !request->url ||
	    strcmp(request->url, json_string_value(json_object_get(input, "url"))))
		fuzz_fail("the request's URL is not the input's", NULL);
	const char *method = json_string_value(json_object_get(input, "method"));
	if (!method != !request->method || (method && strcmp(method, request->method)))
		fuzz_fail("the request's method is not the input's", NULL);
	json_t *body = json_object_get(input, "body");
	int has_body = body && !json_is_null(body);
	if (has_body != !!request->body_text ||
	    (json_is_string(body) && strcmp(request->body_text, json_string_value(body))))
		fuzz_fail("the request's body is not the input's", NULL);
	if (has_body && !json_is_string(body)) {
		json_t *again = json_loads(request->body_text, JSON_DECODE_ANY, NULL);
		if (!again || !json_equal(again, body))
			fuzz_fail("the JSON body does not read back", request->body_text);
		json_decref(again);
	}
	check_headers(request, input, has_body && !json_is_string(body));
	if (request->timeout_ms < 1 || request->timeout_ms > 60 * 60 * 1000 ||
	    (!json_is_number(json_object_get(input, "timeoutSeconds")) && request->timeout_ms != 30000))
		fuzz_fail("the timeout is out of its bounds", NULL);
	if (request->follow_redirects == json_is_false(json_object_get(input, "followRedirects")))
		fuzz_fail("followRedirects is not the input's", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *input = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	json_t *follow = json_object_get(input, "followRedirects");
	int readable = json_is_object(input) && json_is_string(json_object_get(input, "url")) &&
	               (!follow || json_is_boolean(follow));
	http_request_input request;
	portico_error err = PORTICO_ERROR_INIT;
	if (http_request_input_read(json_incref(input), &request, &err)) {
		if (readable)
			fuzz_fail("an input with a URL was refused", err.message);
		if (err.code != PORTICO_INVALID_ARGUMENT || !err.message)
			fuzz_fail("a refusal without its message", NULL);
		portico_error_clear(&err);
	} else {
		if (!readable)
			fuzz_fail("an input without a URL was read", NULL);
		check_request(&request, input);
		http_request_input_free(&request);
	}
	json_decref(input);
	return 0;
}
