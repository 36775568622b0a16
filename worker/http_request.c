#include "http_request.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "alloc.h"

#define DEFAULT_TIMEOUT_MS 30000
#define MAX_TIMEOUT_MS     (60 * 60 * 1000)
#define MAX_RESPONSE_BYTES (10 * 1024 * 1024)

/* Ends the transfer once the activity is cancelled (workflow, timeout or worker shutdown). */
static int on_progress(void *arg, curl_off_t download_total, curl_off_t downloaded, curl_off_t upload_total,
                       curl_off_t uploaded)
{
	(void)download_total;
	(void)downloaded;
	(void)upload_total;
	(void)uploaded;
	return portico_activity_cancelled(arg);
}

typedef struct response {
	char *body;
	size_t length;
	int too_large;
	json_t *headers;
	long retry_after_seconds;
} response;

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
	response *r = arg;
	size_t bytes = size * count;
	if (r->length + bytes > MAX_RESPONSE_BYTES) {
		r->too_large = 1;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	r->body = portico_realloc(r->body, r->length + bytes + 1);
	memcpy(r->body + r->length, data, bytes);
	r->length += bytes;
	r->body[r->length] = '\0';
	return bytes;
}

static size_t on_header(char *data, size_t size, size_t count, void *arg)
{
	response *r = arg;
	size_t bytes = size * count;
	const char *colon = memchr(data, ':', bytes);
	if (!colon)
		return bytes;
	char *name = portico_strndup(data, (size_t)(colon - data));
	for (char *c = name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	const char *value = colon + 1;
	size_t value_length = bytes - (size_t)(value - data);
	while (value_length && isspace((unsigned char)*value))
		value++, value_length--;
	while (value_length && isspace((unsigned char)value[value_length - 1]))
		value_length--;
	json_object_set_new(r->headers, name, json_stringn(value, value_length));
	if (!strcmp(name, "retry-after"))
		r->retry_after_seconds = strtol(value, NULL, 10);
	free(name);
	return bytes;
}

/* Header lines "K: v" from the input's headers object; the caller frees with curl_slist_free_all. */
static struct curl_slist *request_headers(const json_t *headers, int json_body)
{
	struct curl_slist *list = NULL;
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)headers, key, value)
	{
		if (!json_is_string(value))
			continue;
		char *line = portico_sprintf("%s: %s", key, json_string_value(value));
		list = curl_slist_append(list, line);
		free(line);
	}
	if (json_body && !json_object_get(headers, "Content-Type") && !json_object_get(headers, "content-type"))
		list = curl_slist_append(list, "Content-Type: application/json");
	return list;
}

static json_t *response_body(const response *r)
{
	const char *type = json_string_value(json_object_get(r->headers, "content-type"));
	if (type && strstr(type, "json") && r->length) {
		json_t *parsed = json_loadb(r->body, r->length, JSON_DECODE_ANY, NULL);
		if (parsed)
			return parsed;
	}
	return json_stringn(r->body ? r->body : "", r->length); /* NULL when not UTF-8 */
}

/* Applies the method the way curl expects each: HEAD reads no body, GET and POST are native,
 * anything else is a custom verb. */
static void set_method(CURL *curl, const char *method, int has_body)
{
	if (!method)
		method = has_body ? "POST" : "GET";
	if (!strcasecmp(method, "HEAD"))
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (!strcasecmp(method, "GET"))
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	else if (!strcasecmp(method, "POST"))
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
	else
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

static long timeout_ms_of(const json_t *timeout)
{
	if (!json_is_number(timeout))
		return DEFAULT_TIMEOUT_MS;
	double ms = json_number_value(timeout) * 1000;
	return ms < 1 ? 1 : ms > MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : (long)ms;
}

int http_request_activity(portico_activity *activity, void *user_data)
{
	(void)user_data;
	json_t *input = portico_activity_input_json(activity, 0);
	const char *url = json_string_value(json_object_get(input, "url"));
	if (!json_is_object(input) || !url) {
		json_decref(input);
		return portico_activity_fail(activity, "InvalidInput", 1, 0,
		                             "http.request takes {\"url\": \"…\", \"method\", \"headers\", \"body\", "
		                             "\"timeoutSeconds\"}");
	}
	const char *method = json_string_value(json_object_get(input, "method"));
	json_t *timeout = json_object_get(input, "timeoutSeconds");
	json_t *body = json_object_get(input, "body");
	char *body_text = NULL;
	if (json_is_string(body))
		body_text = portico_strdup(json_string_value(body));
	else if (body && !json_is_null(body))
		body_text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);

	response r = {.headers = json_object()};
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = request_headers(json_object_get(input, "headers"),
	                                             body && !json_is_null(body) && !json_is_string(body));
	curl_easy_setopt(curl, CURLOPT_URL, url);
	/* Web requests only: no file://, gopher:// and the like, not even through a redirect. */
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	set_method(curl, method, body_text != NULL);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (body_text)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_text);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms_of(timeout));
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, activity);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
	CURLcode result = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	free(body_text);

	int outcome;
	int64_t retry_delay_ms = r.retry_after_seconds > 0 ? r.retry_after_seconds * 1000 : 0;
	json_t *decoded_body = result == CURLE_OK && !r.too_large && status > 0 ? response_body(&r) : NULL;
	if (result == CURLE_ABORTED_BY_CALLBACK)
		outcome = PORTICO_ACTIVITY_CANCELED;
	else if (r.too_large)
		outcome = portico_activity_fail(activity, "HttpResponseTooLarge", 1, 0,
		                                "%s answered more than %d bytes", url, MAX_RESPONSE_BYTES);
	else if (result == CURLE_UNSUPPORTED_PROTOCOL)
		outcome = portico_activity_fail(activity, "InvalidInput", 1, 0, "%s: only http and https URLs", url);
	else if (result != CURLE_OK)
		outcome = portico_activity_fail(
		        activity, result == CURLE_OPERATION_TIMEDOUT ? "HttpTimeout" : "HttpConnectionError", 0, 0,
		        "%s %s: %s", method ? method : "GET", url, curl_easy_strerror(result));
	else if (status >= 500 || status == 429)
		outcome = portico_activity_fail(activity, status == 429 ? "HttpTooManyRequests" : "HttpServerError", 0,
		                                retry_delay_ms, "%s %s answered %ld", method ? method : "GET", url,
		                                status);
	else if (status >= 400)
		outcome = portico_activity_fail(activity, "HttpClientError", 1, 0, "%s %s answered %ld",
		                                method ? method : "GET", url, status);
	else if (!decoded_body)
		outcome = portico_activity_fail(activity, "HttpResponseNotText", 1, 0,
		                                "%s answered a body that is neither JSON nor UTF-8 text", url);
	else {
		portico_activity_set_result_json(activity, json_pack("{s:i,s:O,s:O}", "status", (int)status, "headers",
		                                                     r.headers, "body", decoded_body));
		outcome = PORTICO_ACTIVITY_COMPLETED;
	}
	json_decref(decoded_body);
	json_decref(r.headers);
	free(r.body);
	json_decref(input);
	return outcome;
}
