#include "result.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "history_event.h"
#include "log.h"
#include "protojson.h"
#include "settings.h"
#include "request.h"

/* Temporal's names (WorkflowExecutionStatus), as describe and a start's own answer give them. */
#define STATUS(name) "WORKFLOW_EXECUTION_STATUS_" #name

typedef struct waiter {
	gateway_exchange *exchange;
	char *namespace_name;
	char *workflow_id;
	char *run_id; /* the run being waited on; changes as runs continue */
	ProtobufCBinaryData page_token;
	int64_t deadline_ms;
	json_t *started;               /* the answer of the start ?wait= follows, or NULL */
	result_outcome_fn *outcome_fn; /* result_fetch's: takes the outcome instead of the exchange */
	void *outcome_arg;
} waiter;

static void waiter_free(waiter *w)
{
	free(w->namespace_name);
	free(w->workflow_id);
	free(w->run_id);
	free(w->page_token.data);
	json_decref(w->started);
	free(w);
}

int result_query_duration(gateway_exchange *exchange, const char *name, int64_t fallback_ms, int64_t minimum_ms,
                          int64_t *out_ms)
{
	const char *text = http_request_query(exchange->request, name);
	*out_ms = fallback_ms;
	if (!text ||
	    (portico_duration_parse(text, out_ms) == 0 && *out_ms >= minimum_ms && *out_ms <= RESULT_MAX_TIMEOUT_MS))
		return 0;
	portico_error err = PORTICO_ERROR_INIT;
	portico_duration_error(&err, name, text, minimum_ms, RESULT_MAX_TIMEOUT_MS);
	exchange_respond_error(exchange, &err);
	portico_error_clear(&err);
	return -1;
}

/* The start ?wait= follows, with the workflow id it may have made and one more field (stolen). */
static json_t *start_answer(const waiter *w, const char *key, json_t *value)
{
	json_t *body = json_deep_copy(w->started);
	json_object_set_new(body, "workflowId", json_string(w->workflow_id));
	json_object_set_new(body, key, value);
	return body;
}

/* Answers with the run's status and, under key, what it closed with (value is stolen; NULL for
 * null); then frees the waiter. */
static void answer(waiter *w, unsigned status, const char *workflow_status, const char *key, json_t *value)
{
	json_t *outcome = json_object();
	json_object_set_new(outcome, "workflowId", json_string(w->workflow_id));
	json_object_set_new(outcome, "runId", json_string(w->run_id));
	json_object_set_new(outcome, "status", json_string(workflow_status));
	if (key)
		json_object_set_new(outcome, key, value ? value : json_null());
	if (w->outcome_fn)
		w->outcome_fn(w->outcome_arg, outcome, NULL);
	else
		exchange_respond_json(w->exchange, status, w->started ? start_answer(w, "outcome", outcome) : outcome);
	waiter_free(w);
}

/* The wait failed. A ?wait= start did start: its answer goes out all the same (202, the outcome
 * unknown), so that the caller learns its run id and does not start it again, even when it seemed
 * to leave (a client that half-closed still reads). Frees the waiter. */
static void fail(waiter *w, const portico_error *err)
{
	if (w->outcome_fn)
		w->outcome_fn(w->outcome_arg, NULL, err);
	else if (w->started)
		exchange_respond_json(w->exchange, 202,
		                      start_answer(w, "waitError",
		                                   json_pack("{s:i,s:o}", "code", (int)err->code, "message",
		                                             portico_log_text(exchange_error_text(w->exchange, err)))));
	else
		exchange_respond_error(w->exchange, err);
	waiter_free(w);
}

static json_t *to_json(const waiter *w, ProtobufCMessage *message)
{
	return message ? exchange_message_json(w->exchange, message) : NULL;
}

static void poll_close_event(waiter *w);

/* Moves on to the next run of a continued, retried or cron workflow. */
static void follow(waiter *w, const char *next_run_id)
{
	portico_config_set(&w->run_id, next_run_id);
	free(w->page_token.data);
	w->page_token = (ProtobufCBinaryData){0, NULL};
	poll_close_event(w);
}

/* Answers with the outcome the close event records. */
static void settle(waiter *w, history_event *event)
{
	switch (event->attributes_case) {
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_COMPLETED_EVENT_ATTRIBUTES: {
		Temporal__Api__Common__V1__Payloads *result =
		        event->workflow_execution_completed_event_attributes->result;
		answer(w, 200, STATUS(COMPLETED), "result", result ? to_json(w, &result->base) : json_array());
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_FAILED_EVENT_ATTRIBUTES:
		answer(w, 200, STATUS(FAILED), "failure",
		       to_json(w, (ProtobufCMessage *)event->workflow_execution_failed_event_attributes->failure));
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_TIMED_OUT_EVENT_ATTRIBUTES:
		answer(w, 200, STATUS(TIMED_OUT), NULL, NULL);
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_CANCELED_EVENT_ATTRIBUTES:
		answer(w, 200, STATUS(CANCELED), "details",
		       to_json(w, (ProtobufCMessage *)event->workflow_execution_canceled_event_attributes->details));
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_TERMINATED_EVENT_ATTRIBUTES:
		answer(w, 200, STATUS(TERMINATED), "reason",
		       json_string(event->workflow_execution_terminated_event_attributes->reason));
		break;
	default: {
		portico_error err = PORTICO_ERROR_INIT;
		portico_error_set(&err, PORTICO_INTERNAL, "the last event of run %s is not a close event (type %d)",
		                  w->run_id, (int)event->event_type);
		fail(w, &err);
		portico_error_clear(&err);
	}
	}
}

static void on_history(void *arg, ProtobufCMessage *message, portico_error *err)
{
	waiter *w = arg;
	int timed_out = portico_monotonic_ms() >= w->deadline_ms;
	if (err && err->code == PORTICO_DEADLINE_EXCEEDED && timed_out) {
		answer(w, 202, STATUS(RUNNING), NULL, NULL);
		return;
	}
	if (err) {
		fail(w, err);
		return;
	}
	Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *response = (void *)message;
	const Temporal__Api__History__V1__History *history = response->history;
	history_event *close = history && history->n_events ? history->events[history->n_events - 1] : NULL;
	const char *next = close ? history_event_next_run(close) : NULL;
	if (next) {
		follow(w, next);
	} else if (close) {
		settle(w, close);
	} else if (timed_out) {
		answer(w, 202, STATUS(RUNNING), NULL, NULL);
	} else {
		/* The server's long poll ended without the close event: ask again from where it was. */
		free(w->page_token.data);
		w->page_token = response->next_page_token;
		response->next_page_token = (ProtobufCBinaryData){0, NULL};
		poll_close_event(w);
	}
	protobuf_c_message_free_unpacked(message, NULL);
}

static void poll_close_event(waiter *w)
{
	const portico_history_page_options page = {
	        .workflow_id = w->workflow_id,
	        .run_id = w->run_id,
	        .page_token = &w->page_token,
	        .wait_new_event = 1,
	        .close_event_only = 1,
	};
	const portico_request_target target = {w->namespace_name, NULL};
	portico_request request;
	portico_error err = PORTICO_ERROR_INIT;
	int64_t remaining = w->deadline_ms - portico_monotonic_ms();
	if (portico_request_history(&request, &target, &page, remaining > 1 ? remaining : 1, &err) ||
	    exchange_call_start(w->exchange, &request.options, &request.message.base, on_history, w, &err)) {
		fail(w, &err);
		portico_error_clear(&err);
	}
}

static void on_latest_run(void *arg, const char *run_id, const portico_error *err)
{
	waiter *w = arg;
	if (err) {
		fail(w, err);
		return;
	}
	if (run_id)
		portico_config_set(&w->run_id, run_id);
	poll_close_event(w);
}

static waiter *waiter_new(gateway_exchange *exchange, const char *namespace_name, const char *workflow_id,
                          const char *run_id, int64_t timeout_ms)
{
	waiter *w = portico_calloc(1, sizeof *w);
	w->exchange = exchange;
	w->namespace_name = portico_strdup(namespace_name);
	w->workflow_id = portico_strdup(workflow_id);
	w->run_id = portico_strdup(run_id ? run_id : "");
	w->deadline_ms = portico_monotonic_ms() + timeout_ms;
	return w;
}

static void waiter_start(waiter *w)
{
	if (*w->run_id)
		poll_close_event(w);
	else /* looked up first, so that every answer can name its run */
		exchange_latest_run(w->exchange, w->namespace_name, w->workflow_id, on_latest_run, w);
}

void result_wait(gateway_exchange *exchange, const char *namespace_name, const char *workflow_id, const char *run_id,
                 int64_t timeout_ms, json_t *started)
{
	exchange_watch_client(exchange);
	waiter *w = waiter_new(exchange, namespace_name, workflow_id, run_id, timeout_ms);
	w->started = started ? json_incref(started) : NULL;
	waiter_start(w);
}

void result_fetch(gateway_exchange *exchange, const char *namespace_name, const char *workflow_id, const char *run_id,
                  int64_t timeout_ms, result_outcome_fn *done, void *arg)
{
	waiter *w = waiter_new(exchange, namespace_name, workflow_id, run_id, timeout_ms);
	w->outcome_fn = done;
	w->outcome_arg = arg;
	waiter_start(w);
}

void result_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params)
{
	(void)route;
	const char *namespace_name = route_param(params, "namespace"),
	           *workflow_id = route_param(params, "workflow_id");
	int64_t timeout_ms;
	if (result_query_duration(exchange, "timeout", RESULT_DEFAULT_TIMEOUT_MS, 0, &timeout_ms))
		return;
	const char *run_id = http_request_query(exchange->request, "runId");
	if (!run_id)
		run_id = http_request_query(exchange->request, "execution.runId");
	exchange->workflow_id = portico_strdup(workflow_id);
	result_wait(exchange, namespace_name, workflow_id, run_id, timeout_ms, NULL);
}
