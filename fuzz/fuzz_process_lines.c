/* The process model's line protocol, parent side: the input is what a child process wrote, split
 * at newlines, and each line is applied to an activity run in the test environment
 * (activity_process_apply_line) until one ends the attempt. Whatever a child writes, nothing
 * crashes or leaks, every heartbeat reaches the sink, and the attempt ends as its last line says:
 * with that result, that failure, canceled or completed later. */
#include <stdint.h>

#include "activity_env.h"
#include "activity_process.h"
#include "activity_sink.h"
#include "fuzz.h"

typedef struct lines {
	const uint8_t *data; /* the input as the child wrote it */
	char *text;          /* a copy, each newline made a NUL: a line reads up to its first NUL */
	size_t size;
	portico_activity_env *env;
	size_t heartbeats; /* "H" lines applied */
	const char *last;  /* the line that ended the attempt, NULL for none */
} lines;

/* Where the line after the one at at starts (size when none): lines end at newlines only. */
static size_t next_line(const lines *in, size_t at)
{
	const uint8_t *newline = memchr(in->data + at, '\n', in->size - at);
	return newline ? (size_t)(newline - in->data) + 1 : in->size;
}

/* The value a line carries, as the protocol reads it (a new reference, or NULL). */
static json_t *line_value(const char *line)
{
	return strlen(line) > 2 ? json_loads(line + 2, JSON_DECODE_ANY, NULL) : NULL;
}

/* The parent's loop over the child's lines, inside an activity as the worker runs it. */
static int apply_lines(portico_activity *activity, void *arg)
{
	lines *in = arg;
	for (size_t at = 0; at < in->size; at = next_line(in, at)) {
		const char *line = in->text + at;
		int outcome = activity_process_apply_line(activity, line);
		if (line[0] == 'H') {
			json_t *details = line_value(line);
			json_t *got = json_array_get(in->env->heartbeats, in->heartbeats++);
			if (!got || !json_equal(got, details ? details : json_null()))
				fuzz_fail("a heartbeat's details are not the line's", line);
			json_decref(details);
		}
		if (outcome == 1 && line[0] && strchr("RFCA", line[0]))
			fuzz_fail("a line that ends the attempt did not", line);
		if (outcome != 1) {
			in->last = line;
			return outcome;
		}
	}
	return PORTICO_ACTIVITY_FAILED; /* the child died before answering */
}

static void check_outcome(const portico_activity_env *env, const lines *in)
{
	if (json_array_size(env->heartbeats) != in->heartbeats)
		fuzz_fail("a heartbeat was not a line's", NULL);
	if (!in->last)
		return;
	const char *line = in->last;
	int want = line[0] == 'R'   ? PORTICO_ACTIVITY_COMPLETED
	           : line[0] == 'F' ? PORTICO_ACTIVITY_FAILED
	           : line[0] == 'C' ? PORTICO_ACTIVITY_CANCELED
	                            : PORTICO_ACTIVITY_COMPLETE_ASYNC;
	if (env->outcome != want)
		fuzz_fail("the attempt did not end as its last line says", line);
	json_t *value = line_value(line);
	if (line[0] == 'R' && (!value != !env->result || (value && !json_equal(value, env->result))))
		fuzz_fail("the result is not the line's", line);
	if (line[0] == 'F') {
		const char *type = json_string_value(json_object_get(value, "type"));
		const char *message = json_string_value(json_object_get(value, "message"));
		if (!env->error_type || strcmp(env->error_type, type ? type : "ActivityError") || !env->error_message ||
		    strcmp(env->error_message, message ? message : "the activity failed") ||
		    env->non_retryable != json_is_true(json_object_get(value, "nonRetryable")) ||
		    env->next_retry_delay_ms != json_integer_value(json_object_get(value, "nextRetryDelayMs")))
			fuzz_fail("the failure is not the line's", line);
	}
	json_decref(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	portico_activity_env env;
	portico_activity_env_init(&env);
	lines in = {.data = data, .text = fuzz_text(data, size), .size = size, .env = &env};
	for (size_t i = 0; i < size; i++)
		if (in.text[i] == '\n')
			in.text[i] = '\0';
	portico_activity_env_run(&env, apply_lines, &in);
	check_outcome(&env, &in);
	portico_activity_env_free(&env);
	free(in.text);
	return 0;
}
