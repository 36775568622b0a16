/* The built-in activity "http.request": one HTTP call with libcurl's multi interface, on the
 * worker's event loop, so that a thousand calls in flight need no thread each.
 *   input:  {"method": "GET", "url": "…", "headers": {"k": "v"}, "body": <JSON or text>,
 *            "timeoutSeconds": 30, "followRedirects": true}
 *   result: {"status": 200, "headers": {"content-type": "…"}, "body": <JSON when the response
 *            says so, else text>}
 * Redirects are followed unless followRedirects is false; then a 3xx is the result like a 2xx
 * (its Location among the headers), for the caller to judge. Connection errors, timeouts, 5xx and
 * 429 are retryable, with Retry-After honoured as the next retry delay; any other 4xx fails for
 * good (HttpClientError). Only http and https URLs; the transfer stops when the activity is
 * cancelled. */
#ifndef WORKER_HTTP_REQUEST_H
#define WORKER_HTTP_REQUEST_H

#include "worker.h"

struct curl_slist;

#define HTTP_REQUEST_ACTIVITY "http.request"

/* The curl multi handle and connections the calls share, bound to the event loop of the first
 * activity that uses it: one client per loop, for the loop's life. Free it after its loop
 * stopped, before the loop itself is freed. */
typedef struct http_request_client http_request_client;

http_request_client *http_request_client_new(void);
void http_request_client_free(http_request_client *client);

/* An event-loop activity (portico_worker_register_loop) taking the client as user_data. */
int http_request_activity(portico_activity *activity, void *client);

/* An input read, before any transfer starts: what the call will send. */
typedef struct http_request_input {
	json_t *input;            /* the input (owned) */
	const char *url, *method; /* borrowed from input; method NULL when not given */
	char *body_text;          /* the body to send, text or compact JSON (owned); NULL for none */
	/* "Name: value" per string in headers (other values are skipped), and "Content-Type:
	 * application/json" for a JSON body when headers set none (owned) */
	struct curl_slist *headers;
	long timeout_ms;      /* timeoutSeconds, within 1 ms and an hour; 30 s when not a number */
	int follow_redirects; /* followRedirects; 1 when absent */
} http_request_input;

/* Reads input (takes its reference; NULL for none): 0 with *request filled, which
 * http_request_input_free frees, or -1 with err set (PORTICO_INVALID_ARGUMENT, a message naming
 * the field), nothing to free, when it is not an object with a "url" string or its
 * followRedirects is there but not a boolean. No I/O: the URL is left for curl to refuse when
 * the call starts. */
int http_request_input_read(json_t *input, http_request_input *request, portico_error *err);
void http_request_input_free(http_request_input *request);

#endif
