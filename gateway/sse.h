/* Server-Sent Events (the WHATWG HTML "text/event-stream" format) as the event stream route
 * writes them: framing one event, the keep-alive comment, whether an Accept header takes the
 * format, and the Last-Event-ID a client resumes with. An event's id is "<runId>:<eventId>":
 * Temporal numbers events from 1 in every run, so the id names the run. Pure: tests and fuzzers
 * call it without a server. */
#ifndef GATEWAY_SSE_H
#define GATEWAY_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SSE_CONTENT_TYPE "text/event-stream"
/* A comment line: proxies see bytes on an idle stream and keep it open; clients ignore it. */
#define SSE_KEEP_ALIVE ": keep-alive\n\n"
/* Run ids are UUIDs (36 characters); an id longer than this is no run id Temporal made. */
#define SSE_RUN_ID_MAX 64
/* "<runId>:<eventId>" with its NUL. */
#define SSE_ID_SIZE (SSE_RUN_ID_MAX + 1 + 20 + 1)

/* One event: "event: NAME", "id: ID" (either NULL to leave it out), and one "data:" line for
 * every line of data (split at CR, LF or CRLF, as a reader joins them back with LF), then the
 * blank line that dispatches it. name and id must hold no line break. Returns the text (malloc'd,
 * the caller frees) and its length in *length. */
char *sse_frame(const char *name, const char *id, const char *data, size_t data_length, size_t *length);

/* Whether an Accept header lets the answer be text/event-stream: absent, or with a media range
 * that covers it (itself, or the text or the any-type wildcard) whose q is not 0. */
int sse_accepts(const char *accept);

/* Writes "<run_id>:<event_id>" into id (SSE_ID_SIZE bytes). */
void sse_event_id_format(char id[SSE_ID_SIZE], const char *run_id, int64_t event_id);

/* Reads a Last-Event-ID, "<runId>:<eventId>", into run_id (SSE_RUN_ID_MAX + 1 bytes) and
 * *event_id. Returns 0, or -1 with err (INVALID_ARGUMENT naming what) when the run id is empty,
 * longer than SSE_RUN_ID_MAX or not letters, digits and '-', or the event id is not a decimal
 * number from 1 up. what names the source in the message ("Last-Event-ID"). */
int sse_event_id_parse(const char *text, const char *what, char run_id[SSE_RUN_ID_MAX + 1], int64_t *event_id,
                       portico_error *err);

#endif
