/* The endpoint Temporal calls when a run with a completion webhook closes (completion_webhook.h):
 * POST /callbacks/completion with the sealed token in a header. It opens the token, reads the
 * run's outcome from its close event (result.h: decoded through the codec, continue-as-new
 * followed), and POSTs it to the target signed as Standard Webhooks say (webhook-id stable for the
 * run and target, so a receiver drops repeats). Temporal hears 200 once the target answered 2xx,
 * and 503 otherwise, so its durable retries carry the delivery: the gateway keeps nothing, and a
 * restart loses nothing. A token that does not open is 401, and a target the allowlist no longer
 * allows 403 (Temporal stops there); a receiver answering 410 Gone stops it too. */
#ifndef GATEWAY_COMPLETION_CALLBACK_H
#define GATEWAY_COMPLETION_CALLBACK_H

#include "exchange.h"

/* Serves COMPLETION_CALLBACK_PATH; returns 0 when path is another. */
int completion_callback_serve(gateway_exchange *exchange, const char *path);

#endif
