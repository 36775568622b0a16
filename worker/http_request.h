/* The built-in activity "http.request": one HTTP call with libcurl's multi interface, on the
 * worker's event loop, so that a thousand calls in flight need no thread each.
 *   input:  {"method": "GET", "url": "…", "headers": {"k": "v"}, "body": <JSON or text>,
 *            "timeoutSeconds": 30}
 *   result: {"status": 200, "headers": {"content-type": "…"}, "body": <JSON when the response
 *            says so, else text>}
 * Connection errors, timeouts, 5xx and 429 are retryable, with Retry-After honoured as the next
 * retry delay; any other 4xx fails for good (HttpClientError). Only http and https URLs; the
 * transfer stops when the activity is cancelled. */
#ifndef WORKER_HTTP_REQUEST_H
#define WORKER_HTTP_REQUEST_H

#include "worker.h"

#define HTTP_REQUEST_ACTIVITY "http.request"

/* The curl multi handle and connections the calls share, bound to the event loop of the first
 * activity that uses it: one client per loop, for the loop's life. Free it after its loop
 * stopped, before the loop itself is freed. */
typedef struct http_request_client http_request_client;

http_request_client *http_request_client_new(void);
void http_request_client_free(http_request_client *client);

/* An event-loop activity (portico_worker_register_loop) taking the client as user_data. */
int http_request_activity(portico_activity *activity, void *client);

#endif
