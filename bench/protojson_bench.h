/* The proto→JSON half of the per-byte bench: what writing a response of Temporal's as JSON costs per
 * payload byte, for a GetWorkflowExecutionHistoryResponse whose one event carries a 1 MiB payload
 * (json/plain records, one json/plain string, binary/plain bytes), written straight from the
 * message (portico_protojson_write, what the gateway does) and the tree's way (encode + json_text).
 * Header-only so that another bench (bench/json_bench.c) can call protojson_bench_run too;
 * bench/protojson_bench.c runs it alone. */
#ifndef BENCH_PROTOJSON_BENCH_H
#define BENCH_PROTOJSON_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_text.h"
#include "payload.h"
#include "protojson.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

#define PROTOJSON_BENCH_BYTES (1024 * 1024)

/* Payload data of the shape kind names, about PROTOJSON_BENCH_BYTES long; the caller frees it. */
static char *protojson_bench_data(const char *kind, size_t *length)
{
	char *data = malloc(PROTOJSON_BENCH_BYTES + 256);
	size_t n = 0;
	if (!strcmp(kind, "records")) {
		n += (size_t)sprintf(data, "[");
		for (unsigned i = 0; n < PROTOJSON_BENCH_BYTES - 200; i++)
			n += (size_t)sprintf(data + n,
			                     "%s{\"id\":%u,\"name\":\"item-%u\",\"price\":%u.25,\"inStock\":true,"
			                     "\"tags\":[\"red\",\"large\"],\"note\":\"caf\\u00e9 \\\"quoted\\\"\"}",
			                     i ? "," : "", i, i, i % 1000);
		data[n++] = ']';
	} else if (!strcmp(kind, "string")) {
		data[n++] = '"';
		while (n < PROTOJSON_BENCH_BYTES - 1)
			data[n] = (char)('a' + n % 26), n++;
		data[n++] = '"';
	} else {
		uint64_t x = 88172645463325252u;
		while (n < PROTOJSON_BENCH_BYTES) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			data[n++] = (char)x;
		}
	}
	*length = n;
	return data;
}

static double protojson_bench_cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Seconds of CPU one write takes, the least of rounds; tree picks the tree's way. */
static double protojson_bench_time(const ProtobufCMessage *message, int tree, int rounds, size_t *out_length)
{
	const portico_protojson_options options = {.payload_shorthand = 1};
	double best = 1e9;
	for (int r = 0; r < rounds; r++) {
		double start = protojson_bench_cpu_s();
		char *text;
		if (tree) {
			json_t *value = portico_protojson_encode(message, &options);
			text = portico_json_text(value, 0, out_length);
			json_decref(value);
		} else {
			text = portico_protojson_write(message, &options, out_length);
		}
		double elapsed = protojson_bench_cpu_s() - start;
		free(text);
		if (elapsed < best)
			best = elapsed;
	}
	return best;
}

/* Prints one JSON line per payload kind: payload bytes, JSON bytes out, and µs per payload byte of
 * each way. */
static void protojson_bench_run(FILE *out, int rounds)
{
	static const char *const kinds[] = {"records", "string", "binary"};
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		size_t length;
		char *data = protojson_bench_data(kinds[k], &length);
		portico_payload *payload =
		        portico_payload_new(strcmp(kinds[k], "binary") ? PORTICO_ENCODING_JSON : "binary/plain",
		                            (const uint8_t *)data, length);
		free(data);
		Temporal__Api__Common__V1__Payloads input = TEMPORAL__API__COMMON__V1__PAYLOADS__INIT;
		input.payloads = &payload;
		input.n_payloads = 1;
		Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes started =
		        TEMPORAL__API__HISTORY__V1__WORKFLOW_EXECUTION_STARTED_EVENT_ATTRIBUTES__INIT;
		started.input = &input;
		Temporal__Api__History__V1__HistoryEvent event = TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__INIT;
		event.event_id = 1;
		event.event_type = TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_STARTED;
		event.attributes_case =
		        TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_STARTED_EVENT_ATTRIBUTES;
		event.workflow_execution_started_event_attributes = &started;
		Temporal__Api__History__V1__HistoryEvent *events[] = {&event};
		Temporal__Api__History__V1__History history = TEMPORAL__API__HISTORY__V1__HISTORY__INIT;
		history.events = events;
		history.n_events = 1;
		Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse response =
		        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_WORKFLOW_EXECUTION_HISTORY_RESPONSE__INIT;
		response.history = &history;
		size_t written_length, tree_length;
		double written = protojson_bench_time(&response.base, 0, rounds, &written_length);
		double tree = protojson_bench_time(&response.base, 1, rounds, &tree_length);
		fprintf(out,
		        "{\"payload\": \"%s\", \"payloadBytes\": %zu, \"jsonBytes\": %zu, \"writeUsPerByte\": %.5f, "
		        "\"treeUsPerByte\": %.5f, \"sameLength\": %s}\n",
		        kinds[k], length, written_length, written * 1e6 / (double)length, tree * 1e6 / (double)length,
		        written_length == tree_length ? "true" : "false");
		portico_payload_free(payload);
	}
}

#endif
