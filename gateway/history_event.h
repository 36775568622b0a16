/* What the gateway reads in a workflow's history events beyond their JSON: the run a close event
 * hands over to (continue-as-new, a retry, a cron run), the status a close event leaves its run
 * in, and the kinds of event people watch (?filter= of the event stream), as a table. Pure: it
 * knows Temporal's messages only, so tests and fuzzers call it without a server. */
#ifndef GATEWAY_HISTORY_EVENT_H
#define GATEWAY_HISTORY_EVENT_H

#include "error.h"
#include "temporal/api/history/v1/message.pb-c.h"

typedef Temporal__Api__History__V1__HistoryEvent history_event;

/* The run after event's when event is a close event that hands over to one, else NULL. Borrowed
 * from event. */
const char *history_event_next_run(const history_event *event);

/* The status a close event of type leaves its run in, in Temporal's words
 * ("WORKFLOW_EXECUTION_STATUS_COMPLETED"…); NULL when type closes no run. Static. */
const char *history_event_close_status(int type);

/* Temporal's name of an event type ("EVENT_TYPE_ACTIVITY_TASK_COMPLETED"), as its JSON gives it;
 * "EVENT_TYPE_UNSPECIFIED" for a number this API version does not know. Static. */
const char *history_event_type_name(int type);

/* The kinds a filter names, as bits of a mask: activity (scheduled, started, completed, failed,
 * timed out, cancel requested, canceled), signal (received, sent to another workflow), update
 * (admitted, accepted, rejected, completed), timer (started, fired, canceled), child (a child
 * workflow's start and close), close (the run's close event, continued-as-new included). */
#define HISTORY_KINDS "activity, signal, update, timer, child, close"

/* The kinds type belongs to (a mask of bits history_kinds_parse gives), 0 for none. */
unsigned history_event_kinds(int type);

/* Reads a comma-separated list of kinds ("activity,timer") into *mask. Returns 0, or -1 with err
 * (INVALID_ARGUMENT naming the bad item and the known kinds) for an empty list or item, or an
 * unknown kind; *mask is then 0. */
int history_kinds_parse(const char *text, unsigned *mask, portico_error *err);

#endif
