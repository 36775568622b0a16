/* Webhook routes: POST /webhooks/{name} verifies the sender's signature over the raw body
 * (webhook_verify.h), then starts, signals or signals-with-start a workflow as the route's
 * configuration says (webhook_config.h), exactly once per delivery (the delivery id is Temporal's
 * request id, so a redelivery answers the same run and starts nothing new). */
#ifndef GATEWAY_WEBHOOK_H
#define GATEWAY_WEBHOOK_H

#include "exchange.h"

/* Serves POST /webhooks/{name}; returns 0 when the path is not a webhook path. */
int webhook_serve(gateway_exchange *exchange, const char *path);

#endif
