/* A workflow's history as a live stream of Server-Sent Events (sse.h), which Temporal's HTTP API
 * has no call for: long-polls the history (GetWorkflowExecutionHistory, waitNewEvent) and writes
 * one event per history event, as it happens, following continue-as-new (and retry and cron)
 * runs to the last one, then "event: end". A client resumes after an event with Last-Event-ID
 * (or ?lastEventId=), and picks kinds of event with ?filter= (history_event.h). Idle streams get
 * a keep-alive comment every PORTICO_SSE_HEARTBEAT; at most PORTICO_MAX_STREAMS are open at once
 * (503 past it). The stream lasts only while its client is connected (exchange_watch_client),
 * and while its client reads: with a full buffer, the history is not polled until it drains. A
 * gateway that stops (SIGTERM) ends its streams at their next answer from Temporal, within a
 * heartbeat, without "end": their clients reconnect, to another gateway, with Last-Event-ID. */
#ifndef GATEWAY_EVENTS_H
#define GATEWAY_EVENTS_H

#include "exchange.h"
#include "router.h"

/* Serves GET …/workflows/{workflow_id}/events?filter=…&runId=…&lastEventId=… (route_serve_fn). */
void events_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params);

#endif
