#include "events.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "config.h"
#include "history_event.h"
#include "json_text.h"
#include "log.h"
#include "request.h"
#include "sse.h"

/* One open stream; freed when it ends (stream_end, or stream_fail before it opened). */
#define STREAM_PAGE_EVENTS 100

typedef struct event_stream {
	gateway_exchange *exchange;
	gateway *gateway; /* the exchange's, kept: a stream that failed before opening is freed after
	                   * its answer, when the exchange may be gone */
	char *namespace_name;
	char *workflow_id;
	char *run_id;           /* the run being read; changes as runs hand over */
	int64_t after_event_id; /* the events of run_id up to this one are sent, or skipped on resuming */
	ProtobufCBinaryData page_token;
	unsigned kinds;        /* ?filter=, 0 for every event */
	int64_t last_write_ms; /* for the keep-alive */
	int open;              /* the 200 went out: a failure now ends the stream with an error event */
	int ending;            /* what is being written is the last: the stream ends once it is sent */
	char *out;             /* the events of one answer, written at once (stream_flush) */
	size_t out_length;
} event_stream;

static void stream_free(event_stream *s)
{
	atomic_fetch_sub(&s->gateway->streams, 1);
	free(s->namespace_name);
	free(s->workflow_id);
	free(s->run_id);
	free(s->page_token.data);
	free(s->out);
	free(s);
}

/* Ends an open stream; the request, its exchange and s are gone after. */
static void stream_end(event_stream *s)
{
	http_request *request = s->exchange->request;
	stream_free(s);
	http_stream_end(request);
}

/* Adds length bytes of text to what the stream writes next. */
static void stream_add_text(event_stream *s, const char *text, size_t length)
{
	s->out = portico_realloc(s->out, s->out_length + length);
	memcpy(s->out + s->out_length, text, length);
	s->out_length += length;
}

/* Adds one event whose data is data (taken: freed here). */
static void stream_add_data(event_stream *s, const char *name, const char *id, char *data, size_t data_length)
{
	size_t length;
	char *frame = sse_frame(name, id, data, data_length, &length);
	free(data);
	stream_add_text(s, frame, length);
	free(frame);
}

/* Adds one event whose data is body (a reference is taken). */
static void stream_add(event_stream *s, const char *name, const char *id, json_t *body)
{
	size_t data_length;
	char *data = portico_json_text(body, 0, &data_length);
	json_decref(body);
	stream_add_data(s, name, id, data, data_length);
}

static void poll_events(event_stream *s);

/* Writes what was added, in one write, then goes on: ends the stream when ending (or when the
 * client left), else polls again. A write that fills the buffer leaves that to on_drained, which
 * may run on a server thread before http_stream_write even returns: s is not touched after it. */
static void stream_flush(event_stream *s, int ending)
{
	s->ending = ending;
	int written = 0;
	if (s->out_length) {
		char *out = s->out;
		size_t length = s->out_length;
		s->out = NULL;
		s->out_length = 0;
		s->last_write_ms = portico_monotonic_ms();
		written = http_stream_write(s->exchange->request, out, length);
		free(out);
	}
	if (written == 1)
		return;
	if (written < 0 || ending)
		stream_end(s);
	else
		poll_events(s);
}

/* The stream failed. Before it opened, the answer is Temporal's error (404 for a workflow that does
 * not exist, say); after, an "error" event with the same body ends it. Frees s. */
static void stream_fail(event_stream *s, const portico_error *err)
{
	if (!s->open) {
		exchange_respond_error(s->exchange, err);
		stream_free(s);
		return;
	}
	stream_add(s, "error", NULL,
	           json_pack("{s:i,s:o}", "code", (int)err->code, "message",
	                     portico_log_text(exchange_error_text(s->exchange, err))));
	stream_flush(s, 1);
}

static void on_page(void *arg, ProtobufCMessage *message, portico_error *err);

/* Asks for the events after the page token, waiting for new ones for a heartbeat: Temporal answers
 * an empty page then, and the keep-alive follows. Always the whole heartbeat, never what is left of
 * it: Temporal keeps a second back, so a poll asking for less is answered at once, again and again. */
static void poll_events(event_stream *s)
{
	const portico_history_page_options page = {
	        .workflow_id = s->workflow_id,
	        .run_id = s->run_id,
	        .page_token = &s->page_token,
	        .wait_new_event = 1,
	        /* A reader that stops reading holds at most one page past the buffer's bound. */
	        .page_size = STREAM_PAGE_EVENTS,
	};
	const portico_request_target target = {s->namespace_name, NULL};
	portico_request request;
	portico_error err = PORTICO_ERROR_INIT;
	if (portico_request_history(&request, &target, &page, s->exchange->gateway->config.sse_heartbeat_ms, &err) ||
	    exchange_call_start(s->exchange, &request.options, &request.message.base, on_page, s, &err)) {
		stream_fail(s, &err);
		portico_error_clear(&err);
	}
}

/* The client read what filled the buffer, or left (the poll then fails at once, cancelled). */
static void on_drained(void *arg, http_request *request)
{
	(void)request;
	event_stream *s = arg;
	if (s->ending)
		stream_end(s);
	else
		poll_events(s);
}

/* The 200 and its headers, at the first page: until then a failure is an ordinary error answer. */
static void stream_open(event_stream *s)
{
	http_request *request = s->exchange->request;
	/* Neither caches nor buffering proxies (nginx's X-Accel-Buffering) may hold events back. */
	http_response_header(request, "Cache-Control", "no-cache");
	http_response_header(request, "X-Accel-Buffering", "no");
	http_respond_stream(request, 200, SSE_CONTENT_TYPE, on_drained, s);
	s->open = 1;
}

/* Adds the events of a page the stream has not sent; returns the run's close event when the page
 * ends with it, else NULL. */
static history_event *add_events(event_stream *s, Temporal__Api__History__V1__History *history)
{
	history_event *close = NULL;
	for (size_t i = 0; history && i < history->n_events; i++) {
		history_event *event = history->events[i];
		/* A client may resume after the close event itself: the end still comes. */
		if (history_event_close_status(event->event_type))
			close = event;
		if (event->event_id <= s->after_event_id)
			continue;
		s->after_event_id = event->event_id;
		if (s->kinds && !(s->kinds & history_event_kinds(event->event_type)))
			continue;
		char id[SSE_ID_SIZE];
		sse_event_id_format(id, s->run_id, event->event_id);
		size_t length;
		char *data = exchange_message_text(s->exchange, &event->base, &length);
		stream_add_data(s, history_event_type_name(event->event_type), id, data, length);
	}
	return close;
}

/* The run closed with event and hands over to none: "event: end" names how. */
static void add_end(event_stream *s, const history_event *event)
{
	char id[SSE_ID_SIZE];
	sse_event_id_format(id, s->run_id, event->event_id);
	stream_add(s, "end", id,
	           json_pack("{s:s,s:s,s:s}", "workflowId", s->workflow_id, "runId", s->run_id, "status",
	                     history_event_close_status(event->event_type)));
}

/* Moves on from a page: to the next run, or past the page's events. */
static void advance(event_stream *s, const char *next_run,
                    Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *response)
{
	if (next_run) {
		portico_config_set(&s->run_id, next_run);
		s->after_event_id = 0;
		free(s->page_token.data);
		s->page_token = (ProtobufCBinaryData){0, NULL};
	} else if (response && response->next_page_token.len) {
		/* Without a token (a deadline passed), the same one is asked again. */
		free(s->page_token.data);
		s->page_token = response->next_page_token;
		response->next_page_token = (ProtobufCBinaryData){0, NULL};
	}
}

static void on_page(void *arg, ProtobufCMessage *message, portico_error *err)
{
	event_stream *s = arg;
	if (err && !(err->code == PORTICO_DEADLINE_EXCEEDED && s->open)) {
		stream_fail(s, err);
		return;
	}
	Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *response = (void *)message;
	if (!s->open)
		stream_open(s);
	history_event *close = response ? add_events(s, response->history) : NULL;
	const char *next = close ? history_event_next_run(close) : NULL;
	int ending = close && !next;
	if (ending)
		add_end(s, close);
	else
		advance(s, next, response);
	/* Temporal's empty answer comes a heartbeat after the poll, give or take: a quarter of slack
	 * keeps it from missing and doubling the gap. */
	int64_t heartbeat_ms = s->exchange->gateway->config.sse_heartbeat_ms;
	if (!s->out_length && portico_monotonic_ms() - s->last_write_ms >= heartbeat_ms - heartbeat_ms / 4)
		stream_add_text(s, SSE_KEEP_ALIVE, strlen(SSE_KEEP_ALIVE));
	if (message)
		protobuf_c_message_free_unpacked(message, NULL);
	/* A gateway that stops ends its streams without "end": their clients reconnect elsewhere. */
	stream_flush(s, ending || atomic_load(&s->exchange->gateway->stopping));
}

static void on_latest_run(void *arg, const char *run_id, const portico_error *err)
{
	event_stream *s = arg;
	if (err) {
		stream_fail(s, err);
		return;
	}
	if (run_id)
		portico_config_set(&s->run_id, run_id);
	poll_events(s);
}

/* Reads the request's choices into s: 0, or -1 after answering 406 or 400 (nothing started). */
static int read_choices(gateway_exchange *exchange, event_stream *s)
{
	http_request *request = exchange->request;
	if (!sse_accepts(http_request_header(request, "Accept"))) {
		exchange_fail_status(exchange, 406, PORTICO_INVALID_ARGUMENT,
		                     "this route streams Server-Sent Events: Accept must allow " SSE_CONTENT_TYPE
		                     " (the history as JSON is GET …/workflows/{workflow_id}/history)");
		return -1;
	}
	portico_error err = PORTICO_ERROR_INIT;
	const char *filter = http_request_query(request, "filter");
	/* EventSource resends the URL it was given with the id it read last: the header is newer. */
	const char *last = http_request_header(request, "Last-Event-ID");
	const char *what = "Last-Event-ID";
	if (!last) {
		last = http_request_query(request, "lastEventId");
		what = "lastEventId";
	}
	char run_id[SSE_RUN_ID_MAX + 1];
	if ((filter && history_kinds_parse(filter, &s->kinds, &err)) ||
	    (last && sse_event_id_parse(last, what, run_id, &s->after_event_id, &err))) {
		exchange_respond_error(exchange, &err);
		portico_error_clear(&err);
		return -1;
	}
	const char *given_run = last ? run_id : http_request_query(request, "runId");
	s->run_id = portico_strdup(given_run ? given_run : "");
	return 0;
}

void events_serve(gateway_exchange *exchange, const gateway_route *route, route_params *params)
{
	(void)route;
	gateway *gw = exchange->gateway;
	event_stream *s = portico_calloc(1, sizeof *s);
	s->exchange = exchange;
	s->gateway = exchange->gateway;
	if (atomic_fetch_add(&gw->streams, 1) >= gw->config.max_streams) {
		exchange_fail(exchange, PORTICO_UNAVAILABLE,
		              "the gateway serves %u event streams already (PORTICO_MAX_STREAMS): try again later",
		              gw->config.max_streams);
		stream_free(s);
		return;
	}
	if (read_choices(exchange, s)) {
		stream_free(s);
		return;
	}
	s->namespace_name = portico_strdup(route_param(params, "namespace"));
	s->workflow_id = portico_strdup(route_param(params, "workflow_id"));
	s->last_write_ms = portico_monotonic_ms();
	exchange->workflow_id = portico_strdup(s->workflow_id);
	exchange_watch_client(exchange);
	if (*s->run_id)
		poll_events(s);
	else /* looked up first, so that every event's id can name its run */
		exchange_latest_run(exchange, s->namespace_name, s->workflow_id, on_latest_run, s);
}
