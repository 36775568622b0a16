/* Where every request starts: the request id, the refusals of web pages while authentication is
 * off, CORS, authentication, then the one handler that serves it: Portico's own pages (pages.h),
 * the codec (codec_server.h), webhooks (webhook.h), or a route of the table (router.h: Temporal's
 * HTTP API through proxy.h, result waits through result.h). One access-log line per request. */
#ifndef GATEWAY_DISPATCH_H
#define GATEWAY_DISPATCH_H

#include "exchange.h"
#include "http.h"
#include "metrics.h"

/* Declares the gateway's metric families in metrics. */
void dispatch_metrics_define(portico_metrics *metrics);

/* The http handler (http_server_options.handler; arg is the gateway). */
void dispatch_handle(void *arg, http_request *request);

/* The http completion hook: one access-log line and the request metrics (arg is the gateway). */
void dispatch_log_access(void *arg, http_request *request);

#endif
