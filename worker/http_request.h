/* The built-in activity "http.request": one HTTP call with libcurl.
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

int http_request_activity(portico_activity *activity, void *user_data);

#endif
