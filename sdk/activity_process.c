/* The child writes lines to the parent: "H <json>" per heartbeat, then one of "R <json>" (result),
 * "F <json>" (failure), "C" (canceled) or "A" (completed later by task token). The parent writes
 * a byte to the cancel pipe when the activity should stop. */
#define _GNU_SOURCE /* pipe2 */
#include "activity_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activity_sink.h"
#include "alloc.h"
#include "fdio.h"
#include "json_text.h"

#define CHILD_POLL_MS 200

/* ---- The child's side: a sink that writes to the parent --------------------------------------- */

typedef struct child_activity {
	portico_activity base; /* first: the sink's calls cast back */
	int to_parent;         /* where heartbeats and the outcome go */
	int cancel;            /* readable once the parent says cancel */
} child_activity;

/* One line to the parent; without a value (no result, no details) the line is the kind alone. */
static void child_send(child_activity *child, char kind, const json_t *value)
{
	size_t length;
	char *text = value ? portico_json_text(value, 0, &length) : portico_strdup("");
	char *line = portico_sprintf(value ? "%c %s\n" : "%c%s\n", kind, text);
	(void)portico_write_full(child->to_parent, line,
	                         strlen(line)); /* with the parent gone, no one is left to tell */
	free(line);
	free(text);
}

static void child_heartbeat(portico_activity *activity, json_t *details)
{
	child_send((child_activity *)activity, 'H', details);
	json_decref(details);
}

static int child_cancelled(const portico_activity *activity)
{
	char byte;
	return read(((const child_activity *)activity)->cancel, &byte, 1) == 1;
}

/* The attempt is over: its outcome goes to the parent, and the child ends. */
static _Noreturn void child_finish(portico_activity *activity, int outcome)
{
	child_activity *child = (child_activity *)activity;
	outcome = activity_settled_outcome(activity, outcome);
	if (outcome == PORTICO_ACTIVITY_COMPLETED) {
		child_send(child, 'R', activity->result);
	} else if (outcome == PORTICO_ACTIVITY_CANCELED) {
		child_send(child, 'C', NULL);
	} else if (outcome == PORTICO_ACTIVITY_COMPLETE_ASYNC) {
		child_send(child, 'A', NULL);
	} else {
		json_t *failure = json_pack("{s:s?,s:s?,s:b,s:I}", "type", activity->fail_type, "message",
		                            activity->fail_message, "nonRetryable", activity->non_retryable,
		                            "nextRetryDelayMs", (json_int_t)activity->next_retry_delay_ms);
		child_send(child, 'F', failure);
		json_decref(failure);
	}
	_exit(0);
}

static const activity_sink child_sink = {child_heartbeat, child_cancelled, child_finish};

/* Runs the attempt on a copy of the parent's activity whose calls go to the parent. */
static _Noreturn void child_main(const portico_activity *activity, portico_activity_fn fn, void *user_data,
                                 int to_parent, int cancel)
{
	child_activity child = {.base = *activity, .to_parent = to_parent, .cancel = cancel};
	child.base.sink = &child_sink;
	child_finish(&child.base, fn(&child.base, user_data));
}

/* ---- The parent's side ------------------------------------------------------------------------ */

int activity_process_apply_line(portico_activity *activity, const char *line)
{
	json_t *value = strlen(line) > 2 ? json_loads(line + 2, JSON_DECODE_ANY, NULL) : NULL;
	int outcome = 1;
	switch (line[0]) {
	case 'H':
		portico_activity_heartbeat(activity, json_is_null(value) ? NULL : json_incref(value));
		break;
	case 'R': /* a JSON null is a result; a line without a value is none */
		json_decref(activity->result);
		activity->result = json_incref(value);
		outcome = PORTICO_ACTIVITY_COMPLETED;
		break;
	case 'C':
		outcome = PORTICO_ACTIVITY_CANCELED;
		break;
	case 'A':
		outcome = PORTICO_ACTIVITY_COMPLETE_ASYNC;
		break;
	case 'F': {
		const char *message = json_string_value(json_object_get(value, "message"));
		outcome = portico_activity_fail(activity, json_string_value(json_object_get(value, "type")),
		                                json_is_true(json_object_get(value, "nonRetryable")),
		                                json_integer_value(json_object_get(value, "nextRetryDelayMs")), "%s",
		                                message ? message : "the activity failed");
		break;
	}
	}
	json_decref(value);
	return outcome;
}

int activity_process_run(portico_activity *activity, portico_activity_fn fn, void *user_data)
{
	int to_parent[2], to_child[2];
	if (pipe2(to_parent, O_CLOEXEC) || pipe2(to_child, O_CLOEXEC | O_NONBLOCK))
		return portico_activity_fail(activity, "ActivityProcessFailed", 0, 0, "pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child == 0) {
		close(to_parent[0]);
		close(to_child[1]);
		child_main(activity, fn, user_data, to_parent[1], to_child[0]);
	}
	close(to_parent[1]);
	close(to_child[0]);
	if (child < 0) {
		close(to_parent[0]);
		close(to_child[1]);
		return portico_activity_fail(activity, "ActivityProcessFailed", 0, 0, "fork: %s", strerror(errno));
	}
	FILE *from_child = fdopen(to_parent[0], "r");
	int outcome = 1, told_to_cancel = 0;
	char *line = NULL;
	size_t capacity = 0;
	struct pollfd readable = {to_parent[0], POLLIN, 0};
	while (outcome == 1) {
		if (!told_to_cancel && portico_activity_cancelled(activity)) {
			(void)portico_write_full(to_child[1], "c", 1);
			told_to_cancel = 1;
		}
		if (poll(&readable, 1, CHILD_POLL_MS) == 0)
			continue;
		ssize_t length = getline(&line, &capacity, from_child);
		if (length <= 0)
			break;
		line[length - 1] = '\0';
		outcome = activity_process_apply_line(activity, line);
	}
	free(line);
	fclose(from_child);
	close(to_child[1]);
	int status = 0;
	waitpid(child, &status, 0);
	if (outcome != 1)
		return outcome;
	return portico_activity_fail(activity, "ActivityProcessCrashed", 0, 0,
	                             WIFSIGNALED(status)
	                                     ? "the activity's process died of signal %d"
	                                     : "the activity's process exited with status %d before answering",
	                             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}
