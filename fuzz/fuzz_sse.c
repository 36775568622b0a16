/* What a client of the event stream sends (Last-Event-ID, ?lastEventId=, ?filter=, Accept) and
 * the framing of what it reads. A filter that parses names at least one kind, and a refusal says
 * which kinds there are; a frame of any bytes is data: lines only, ends with a blank line, and
 * reads back as the bytes with their line breaks made LF; an id that parses writes back
 * ("<runId>:<eventId>", leading zeros gone) to one that parses the same. */
#include <stdint.h>

#include "alloc.h"
#include "fuzz.h"
#include "history_event.h"
#include "sse.h"

static void check_event_id(const char *text)
{
	char run[SSE_RUN_ID_MAX + 1], id[SSE_ID_SIZE];
	int64_t event;
	portico_error err = PORTICO_ERROR_INIT;
	if (sse_event_id_parse(text, "Last-Event-ID", run, &event, &err)) {
		if (err.code != PORTICO_INVALID_ARGUMENT || !err.message)
			fuzz_fail("a refused Last-Event-ID without a reason", text);
		portico_error_clear(&err);
		return;
	}
	sse_event_id_format(id, run, event);
	char again[SSE_RUN_ID_MAX + 1];
	int64_t event_again;
	if (sse_event_id_parse(id, "Last-Event-ID", again, &event_again, &err) || strcmp(again, run) ||
	    event_again != event)
		fuzz_fail("a Last-Event-ID that does not write back", text);
}

static void check_filter(const char *text)
{
	unsigned mask;
	portico_error err = PORTICO_ERROR_INIT;
	if (history_kinds_parse(text, &mask, &err)) {
		if (mask || !err.message || !strstr(err.message, HISTORY_KINDS))
			fuzz_fail("a refused filter without the known kinds, or with a mask", text);
		portico_error_clear(&err);
	} else if (!mask) {
		fuzz_fail("a filter that parses to no kind", text);
	}
}

/* The data a reader of frame gets back: its data: lines joined with LF. */
static void check_frame(const char *data, size_t size, const char *text)
{
	size_t length;
	char *frame = sse_frame(NULL, NULL, data, size, &length);
	if (length < 8 || memcmp(frame + length - 2, "\n\n", 2) || memchr(frame, '\r', length))
		fuzz_fail("a frame that does not end with a blank line, or has a CR", text);
	char *read = portico_malloc(length), *expected = portico_malloc(size + 1);
	size_t n = 0, m = 0;
	for (size_t at = 0; at < length - 1;) {
		if (memcmp(frame + at, "data: ", 6))
			fuzz_fail("a frame line that is not data:", text);
		const char *end = memchr(frame + at, '\n', length - at);
		if (at)
			read[n++] = '\n';
		memcpy(read + n, frame + at + 6, (size_t)(end - frame - at - 6));
		n += (size_t)(end - frame - at - 6);
		at = (size_t)(end - frame) + 1;
	}
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
			i++;
		expected[m++] = data[i] == '\r' ? '\n' : data[i];
	}
	if (n != m || memcmp(read, expected, n))
		fuzz_fail("a frame that does not read back as its data", text);
	free(expected);
	free(read);
	free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	check_event_id(text);
	check_filter(text);
	sse_accepts(text);
	check_frame((const char *)data, size, text);
	free(text);
	return 0;
}
