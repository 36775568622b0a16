#include "sse.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

char *sse_frame(const char *name, const char *id, const char *data, size_t data_length, size_t *length)
{
	/* Each line break of data may become "\ndata: " (7 bytes for 1); "data: ", "\n\n" and a NUL. */
	size_t capacity = (name ? strlen(name) + 8 : 0) + (id ? strlen(id) + 5 : 0) + data_length * 7 + 9;
	char *text = portico_malloc(capacity);
	size_t n = 0;
	if (name)
		n += (size_t)sprintf(text + n, "event: %s\n", name);
	if (id)
		n += (size_t)sprintf(text + n, "id: %s\n", id);
	memcpy(text + n, "data: ", 6);
	n += 6;
	for (size_t i = 0; i < data_length; i++) {
		if (data[i] != '\r' && data[i] != '\n') {
			text[n++] = data[i];
			continue;
		}
		if (data[i] == '\r' && i + 1 < data_length && data[i + 1] == '\n')
			i++;
		memcpy(text + n, "\ndata: ", 7);
		n += 7;
	}
	memcpy(text + n, "\n\n", 3);
	*length = n + 2;
	return text;
}

/* Whether the media range of one Accept item (up to its end) takes text/event-stream. */
static int range_accepts(const char *item, size_t length)
{
	while (length && (*item == ' ' || *item == '\t'))
		item++, length--;
	size_t type = 0;
	while (type < length && item[type] != ';' && item[type] != ' ' && item[type] != '\t')
		type++;
	static const char *const ranges[] = {SSE_CONTENT_TYPE, "text/*", "*/*"};
	int matches = 0;
	for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
		matches |= strlen(ranges[r]) == type && !strncasecmp(item, ranges[r], type);
	if (!matches)
		return 0;
	/* q=0 says "not this one" (RFC 9110, 12.4.2). */
	for (size_t i = type; i + 2 < length; i++)
		if (item[i] == ';') {
			size_t j = i + 1;
			while (j < length && (item[j] == ' ' || item[j] == '\t'))
				j++;
			if (j + 2 <= length && (item[j] == 'q' || item[j] == 'Q') && item[j + 1] == '=') {
				j += 2;
				int zero = j < length && item[j] == '0';
				for (j++; zero && j < length && item[j] != ';' && item[j] != ' '; j++)
					zero = item[j] == '.' || item[j] == '0';
				return !zero;
			}
		}
	return 1;
}

int sse_accepts(const char *accept)
{
	if (!accept)
		return 1;
	for (const char *item = accept;; item++) {
		size_t length = strcspn(item, ",");
		if (range_accepts(item, length))
			return 1;
		item += length;
		if (!*item)
			return 0;
	}
}

void sse_event_id_format(char id[SSE_ID_SIZE], const char *run_id, int64_t event_id)
{
	snprintf(id, SSE_ID_SIZE, "%.*s:%" PRId64, SSE_RUN_ID_MAX, run_id, event_id);
}

int sse_event_id_parse(const char *text, const char *what, char run_id[SSE_RUN_ID_MAX + 1], int64_t *event_id,
                       portico_error *err)
{
	const char *colon = strrchr(text, ':');
	size_t run_length = colon ? (size_t)(colon - text) : 0;
	int run_ok = run_length > 0 && run_length <= SSE_RUN_ID_MAX;
	for (size_t i = 0; run_ok && i < run_length; i++)
		run_ok = isalnum((unsigned char)text[i]) || text[i] == '-';
	if (!run_ok)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "%s: expected <runId>:<eventId>, the id of an event this stream sent", what);
	const char *digits = colon + 1;
	size_t count = strspn(digits, "0123456789");
	/* 18 digits always fit an int64_t; Temporal's event ids are far below. */
	if (count == 0 || count > 18 || digits[count] || (*event_id = strtoll(digits, NULL, 10)) < 1)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "%s: the event id after the run id must be a "
		                         "number from 1 up",
		                         what);
	memcpy(run_id, text, run_length);
	run_id[run_length] = '\0';
	return 0;
}
