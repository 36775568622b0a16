/* The process model: one attempt of an activity in a child process of its own, so that a crash
 * or a CPU-heavy loop costs that attempt, not the worker. The child runs the activity with a sink
 * that sends its heartbeats and its outcome up a pipe as lines; the parent applies them to the
 * activity through the activity API, and tells the child to stop when the activity is
 * cancelled. */
#ifndef PORTICO_ACTIVITY_PROCESS_H
#define PORTICO_ACTIVITY_PROCESS_H

#include "activity.h"

/* Runs fn(activity, user_data) in a child process and returns the outcome it ended with, its
 * result or failure set on activity; heartbeats reach activity's own sink as they come. A child
 * that dies before answering fails the attempt (ActivityProcessCrashed, retryable). Blocks the
 * calling thread until the child is gone. */
int activity_process_run(portico_activity *activity, portico_activity_fn fn, void *user_data);

/* The parent's side of the protocol: one line from the child (without its newline) applied to
 * activity. "H <json>" heartbeats through activity's sink, "R <json>" sets the result (none when
 * the value is missing or not JSON), "F <json>" the failure ({type, message, nonRetryable,
 * nextRetryDelayMs}), "C" and "A" end the attempt as canceled and completed later. Returns the
 * outcome the line ends the attempt with, or 1 for "go on" (a heartbeat, or a line of no known
 * kind). */
int activity_process_apply_line(portico_activity *activity, const char *line);

#endif
