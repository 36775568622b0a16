/* The access log's line writer (portico_log_writer) on any bytes a client can put in a method, a
 * path or a workflow id: its line must be the very bytes the jansson way writes (portico_log_text
 * values in an object, written by the JSON writer), and so always one line of valid JSON. */
#include <unistd.h>

#include "fuzz.h"
#include "json_text.h"
#include "log.h"

#define MAX_LINE_INPUT 4096 /* 6 bytes out per byte in at most: one line stays within a pipe's buffer */

static int line_pipe[2] = {-1, -1};

/* The writer's line for text, read back from the pipe (the caller frees). */
static char *writer_line(const char *text, size_t *length)
{
	portico_log_writer line;
	portico_log_writer_start(&line);
	portico_log_writer_text(&line, "level", "info");
	portico_log_writer_text(&line, "path", text);
	portico_log_writer_int(&line, "status", 404);
	portico_log_writer_send(&line, line_pipe[1]);
	char *out = malloc(65536);
	ssize_t got = read(line_pipe[0], out, 65536);
	*length = got > 0 ? (size_t)got : 0;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_LINE_INPUT)
		return 0;
	if (line_pipe[0] < 0 && pipe(line_pipe))
		abort();
	char *text = fuzz_text(data, size);
	size_t written_length, expected_length;
	char *written = writer_line(text, &written_length);
	json_t *object = json_pack("{s:s,s:o,s:i}", "level", "info", "path", portico_log_text(text), "status", 404);
	char *expected = portico_json_text(object, 0, &expected_length);
	json_decref(object);
	if (written_length != expected_length + 1 || memcmp(written, expected, expected_length) ||
	    written[expected_length] != '\n')
		fuzz_fail("the log writer's line differs from the jansson way's", text);
	free(expected);
	free(written);
	free(text);
	return 0;
}
