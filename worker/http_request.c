#include "http_request.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "alloc.h"
#include "json_text.h"
#include "loop.h"

#define DEFAULT_TIMEOUT_MS 30000
#define MAX_REDIRECTS      20 /* what browsers follow */
#define MAX_TIMEOUT_MS     (60 * 60 * 1000)
#define MAX_RESPONSE_BYTES (10 * 1024 * 1024)

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
	/* A status line starts another response (after a redirect followed, or a 100 Continue): only
	 * the last one's headers are the answer's. */
	if (bytes >= 5 && !memcmp(data, "HTTP/", 5)) {
		json_object_clear(r->headers);
		r->retry_after_seconds = 0;
		return bytes;
	}
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
	else if (!strcasecmp(method, "POST")) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		/* A POST with no body of its own sends an empty one (Content-Length: 0): otherwise curl
		 * reads one from the worker's stdin, chunked, which a server keeping the connection
		 * alive may read as the start of the next request. */
		if (!has_body)
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
	} else
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

static long timeout_ms_of(const json_t *timeout)
{
	if (!json_is_number(timeout))
		return DEFAULT_TIMEOUT_MS;
	double ms = json_number_value(timeout) * 1000;
	return ms < 1 ? 1 : ms > MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : (long)ms;
}

int http_request_input_read(json_t *input, http_request_input *request, portico_error *err)
{
	memset(request, 0, sizeof *request);
	const char *url = json_string_value(json_object_get(input, "url"));
	const json_t *follow = json_object_get(input, "followRedirects");
	if (!json_is_object(input) || !url || (follow && !json_is_boolean(follow))) {
		json_decref(input);
		if (url)
			return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                         "http.request: followRedirects must be true or false");
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "http.request takes {\"url\": \"…\", \"method\", \"headers\", \"body\", "
		                         "\"timeoutSeconds\", \"followRedirects\"}");
	}
	request->input = input;
	request->follow_redirects = !json_is_false(follow);
	request->url = url;
	request->method = json_string_value(json_object_get(input, "method"));
	json_t *body = json_object_get(input, "body");
	if (json_is_string(body))
		request->body_text = portico_strdup(json_string_value(body));
	else if (body && !json_is_null(body))
		request->body_text = portico_json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY, NULL);
	request->headers = request_headers(json_object_get(input, "headers"),
	                                   body && !json_is_null(body) && !json_is_string(body));
	request->timeout_ms = timeout_ms_of(json_object_get(input, "timeoutSeconds"));
	return 0;
}

void http_request_input_free(http_request_input *request)
{
	curl_slist_free_all(request->headers);
	free(request->body_text);
	json_decref(request->input);
}

struct http_request_client {
	portico_loop *loop; /* the loop of the first activity; every later one must share it */
	CURLM *multi;
	portico_loop_timer *timer; /* when curl wants to be called back */
};

/* One request in flight; freed when it ends. */
typedef struct transfer {
	http_request_client *client;
	portico_activity *activity;
	http_request_input request;
	CURL *curl;
	response r;
	int cancelled; /* stopped by the activity's cancellation, not by curl */
} transfer;

http_request_client *http_request_client_new(void)
{
	return portico_calloc(1, sizeof(http_request_client));
}

void http_request_client_free(http_request_client *client)
{
	if (!client)
		return;
	if (client->multi)
		curl_multi_cleanup(client->multi); /* removes the watches of the connections it keeps */
	portico_loop_timer_free(client->timer);
	free(client);
}

/* ---- curl's multi interface on the loop --------------------------------------------------------- */

static void check_transfers(http_request_client *client);

static void on_ready(void *arg, int fd, unsigned events)
{
	http_request_client *client = arg;
	int flags = (events & PORTICO_LOOP_READABLE ? CURL_CSELECT_IN : 0) |
	            (events & PORTICO_LOOP_WRITABLE ? CURL_CSELECT_OUT : 0) |
	            (events & PORTICO_LOOP_ERROR ? CURL_CSELECT_ERR : 0);
	int running;
	curl_multi_socket_action(client->multi, fd, flags, &running);
	check_transfers(client);
}

static void on_timeout(void *arg)
{
	http_request_client *client = arg;
	int running;
	curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_transfers(client);
}

/* curl says which sockets to watch, for what. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *socket_arg)
{
	(void)easy;
	http_request_client *client = arg;
	portico_loop_watch *watch = socket_arg;
	if (what == CURL_POLL_REMOVE) {
		portico_loop_watch_remove(watch);
		curl_multi_assign(client->multi, fd, NULL);
		return 0;
	}
	unsigned events =
	        (what & CURL_POLL_IN ? PORTICO_LOOP_READABLE : 0) | (what & CURL_POLL_OUT ? PORTICO_LOOP_WRITABLE : 0);
	portico_error err = PORTICO_ERROR_INIT;
	int failed = 0;
	if (watch) {
		failed = portico_loop_watch_modify(watch, events, &err);
	} else if ((watch = portico_loop_watch_add(client->loop, fd, events, on_ready, client, &err))) {
		curl_multi_assign(client->multi, fd, watch);
	} else {
		failed = -1;
	}
	portico_error_clear(&err);
	return failed;
}

static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	(void)multi;
	http_request_client *client = arg;
	if (timeout_ms < 0)
		portico_loop_timer_stop(client->timer);
	else
		portico_loop_timer_start(client->timer, timeout_ms, 0);
	return 0;
}

static int bind_to_loop(http_request_client *client, portico_loop *loop)
{
	if (client->loop)
		return client->loop == loop ? 0 : -1;
	client->loop = loop;
	client->multi = curl_multi_init();
	client->timer = portico_loop_timer_new(loop, on_timeout, client);
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
	return 0;
}

/* ---- One request ---------------------------------------------------------------------------------- */

/* The outcome of a transfer that ended with result, its result or failure set on the activity. */
static int outcome_of(transfer *t, CURLcode result)
{
	portico_activity *activity = t->activity;
	const char *method = t->request.method ? t->request.method : "GET", *url = t->request.url;
	long status = 0;
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	int64_t retry_delay_ms = t->r.retry_after_seconds > 0 ? t->r.retry_after_seconds * 1000 : 0;
	if (t->cancelled)
		return PORTICO_ACTIVITY_CANCELED;
	if (t->r.too_large)
		return portico_activity_fail(activity, "HttpResponseTooLarge", 1, 0, "%s answered more than %d bytes",
		                             url, MAX_RESPONSE_BYTES);
	if (result == CURLE_UNSUPPORTED_PROTOCOL)
		return portico_activity_fail(activity, "InvalidInput", 1, 0, "%s: only http and https URLs", url);
	if (result == CURLE_TOO_MANY_REDIRECTS) /* a loop: another attempt would loop again */
		return portico_activity_fail(activity, "HttpTooManyRedirects", 1, 0, "%s %s: more than %d redirects",
		                             method, url, MAX_REDIRECTS);
	if (result != CURLE_OK)
		return portico_activity_fail(activity,
		                             result == CURLE_OPERATION_TIMEDOUT ? "HttpTimeout" : "HttpConnectionError",
		                             0, 0, "%s %s: %s", method, url, curl_easy_strerror(result));
	if (status >= 500 || status == 429)
		return portico_activity_fail(activity, status == 429 ? "HttpTooManyRequests" : "HttpServerError", 0,
		                             retry_delay_ms, "%s %s answered %ld", method, url, status);
	if (status >= 400)
		return portico_activity_fail(activity, "HttpClientError", 1, 0, "%s %s answered %ld", method, url,
		                             status);
	json_t *body = response_body(&t->r);
	if (!body)
		return portico_activity_fail(activity, "HttpResponseNotText", 1, 0,
		                             "%s answered a body that is neither JSON nor UTF-8 text", url);
	return portico_activity_set_result_json(
	        activity, json_pack("{s:i,s:O,s:o}", "status", (int)status, "headers", t->r.headers, "body", body));
}

/* Ends the transfer (already out of the multi handle) and its activity. */
static void end_transfer(transfer *t, CURLcode result)
{
	int outcome = outcome_of(t, result);
	portico_activity *activity = t->activity;
	curl_easy_cleanup(t->curl);
	http_request_input_free(&t->request);
	json_decref(t->r.headers);
	free(t->r.body);
	free(t);
	portico_activity_finish(activity, outcome);
}

static void check_transfers(http_request_client *client)
{
	CURLMsg *message;
	int left;
	while ((message = curl_multi_info_read(client->multi, &left))) {
		if (message->msg != CURLMSG_DONE)
			continue;
		transfer *t;
		CURLcode result = message->data.result;
		curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		curl_multi_remove_handle(client->multi, t->curl);
		end_transfer(t, result);
	}
}

/* Cancelled (workflow, timeout or worker shutdown): the transfer stops where it is. */
static void on_cancel(void *arg)
{
	transfer *t = arg;
	t->cancelled = 1;
	curl_multi_remove_handle(t->client->multi, t->curl);
	end_transfer(t, CURLE_ABORTED_BY_CALLBACK);
}

int http_request_activity(portico_activity *activity, void *client_arg)
{
	http_request_client *client = client_arg;
	if (bind_to_loop(client, portico_activity_loop(activity)))
		return portico_activity_fail(activity, "InternalError", 0, 0,
		                             "http.request: one client per event loop");
	if (portico_activity_cancelled(activity))
		return PORTICO_ACTIVITY_CANCELED;
	http_request_input request;
	portico_error err = PORTICO_ERROR_INIT;
	if (http_request_input_read(portico_activity_input_json(activity, 0), &request, &err)) {
		int outcome = portico_activity_fail(activity, "InvalidInput", 1, 0, "%s", err.message);
		portico_error_clear(&err);
		return outcome;
	}
	transfer *t = portico_calloc(1, sizeof *t);
	t->client = client;
	t->activity = activity;
	t->request = request;
	t->r.headers = json_object();

	CURL *curl = t->curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_PRIVATE, t);
	curl_easy_setopt(curl, CURLOPT_URL, request.url);
	/* Web requests only: no file://, gopher:// and the like, not even through a redirect. */
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	set_method(curl, request.method, request.body_text != NULL);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, request.headers);
	if (request.body_text)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body_text);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request.timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	/* Ending a transfer still resolving its host must not wait for the resolver thread: that
	 * would stall the whole loop. */
	curl_easy_setopt(curl, CURLOPT_QUICK_EXIT, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
	/* libcurl follows without end by default: a redirect loop ends here, not at the timeout */
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t->r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t->r);
	if (curl_multi_add_handle(client->multi, curl) != CURLM_OK) {
		end_transfer(t, CURLE_FAILED_INIT); /* finishes the activity */
		return PORTICO_ACTIVITY_PENDING;
	}
	portico_activity_on_cancel(activity, on_cancel, t);
	return PORTICO_ACTIVITY_PENDING;
}
