/* The test environment runs an activity as the worker would, in the calling thread: its sink
 * records heartbeats, says cancelled when the test asks, and ends an event-loop attempt by
 * stopping the loop it runs. */
#include "activity_env.h"

#include <stdlib.h>
#include <string.h>

#include "activity_sink.h"
#include "alloc.h"

typedef struct env_activity {
	portico_activity base; /* first: the sink's calls cast back */
	portico_activity_env *env;
	int final_outcome; /* what portico_activity_finish said */
	int loop_running;  /* the loop runs until the activity finishes */
} env_activity;

/* Heartbeats are recorded, and cancellation may come with one. */
static void env_heartbeat(portico_activity *activity, json_t *details)
{
	portico_activity_env *env = ((env_activity *)activity)->env;
	json_array_append_new(env->heartbeats, details ? details : json_null());
	if (env->cancel_after_heartbeats && json_array_size(env->heartbeats) >= env->cancel_after_heartbeats)
		env->cancel = 1;
}

static int env_cancelled(const portico_activity *activity)
{
	return ((const env_activity *)activity)->env->cancel || activity_past_deadline(activity);
}

static void env_finish(portico_activity *activity, int outcome)
{
	env_activity *run = (env_activity *)activity;
	run->final_outcome = outcome;
	if (run->loop_running)
		portico_loop_stop(activity->loop);
}

static const activity_sink env_sink = {env_heartbeat, env_cancelled, env_finish};

void portico_activity_env_init(portico_activity_env *env)
{
	memset(env, 0, sizeof *env);
	env->heartbeats = json_array();
	portico_error ignored = PORTICO_ERROR_INIT;
	env->loop = portico_loop_new(&ignored); /* NULL fails the runs */
	portico_error_clear(&ignored);
}

void portico_activity_env_free(portico_activity_env *env)
{
	json_decref(env->heartbeats);
	json_decref(env->result);
	portico_loop_free(env->loop);
	env->loop = NULL;
	free(env->error_type);
	free(env->error_message);
	env->heartbeats = env->result = NULL;
	env->error_type = env->error_message = NULL;
}

/* A task as a poll would deliver it, from the env's info and input (a heap tree). */
static activity_task *env_task(const portico_activity_env *env)
{
	const portico_activity_info *info = &env->info;
	activity_task *task = portico_malloc(sizeof *task);
	temporal__api__workflowservice__v1__poll_activity_task_queue_response__init(task);
	task->task_token.data = (uint8_t *)portico_strdup("test-task-token");
	task->task_token.len = strlen("test-task-token");
	task->activity_id = portico_strdup(info->activity_id ? info->activity_id : "test-activity");
	task->workflow_namespace = portico_strdup(info->workflow_namespace ? info->workflow_namespace : "default");
	task->activity_type = portico_malloc(sizeof *task->activity_type);
	temporal__api__common__v1__activity_type__init(task->activity_type);
	task->activity_type->name = portico_strdup(info->activity_type ? info->activity_type : "test");
	task->workflow_type = portico_malloc(sizeof *task->workflow_type);
	temporal__api__common__v1__workflow_type__init(task->workflow_type);
	task->workflow_type->name = portico_strdup(info->workflow_type ? info->workflow_type : "TestWorkflow");
	task->workflow_execution = portico_malloc(sizeof *task->workflow_execution);
	temporal__api__common__v1__workflow_execution__init(task->workflow_execution);
	task->workflow_execution->workflow_id = portico_strdup(info->workflow_id ? info->workflow_id : "test-workflow");
	task->workflow_execution->run_id = portico_strdup(info->run_id ? info->run_id : "test-run");
	task->attempt = info->attempt ? info->attempt : 1;
	if (info->heartbeat_timeout_ms) {
		task->heartbeat_timeout = portico_malloc(sizeof *task->heartbeat_timeout);
		google__protobuf__duration__init(task->heartbeat_timeout);
		task->heartbeat_timeout->seconds = info->heartbeat_timeout_ms / 1000;
		task->heartbeat_timeout->nanos = (int32_t)(info->heartbeat_timeout_ms % 1000) * 1000000;
	}
	if (info->start_to_close_timeout_ms) {
		task->start_to_close_timeout = portico_malloc(sizeof *task->start_to_close_timeout);
		google__protobuf__duration__init(task->start_to_close_timeout);
		task->start_to_close_timeout->seconds = info->start_to_close_timeout_ms / 1000;
		task->start_to_close_timeout->nanos = (int32_t)(info->start_to_close_timeout_ms % 1000) * 1000000;
	}
	portico_error ignored = PORTICO_ERROR_INIT;
	task->input = env->input ? portico_payloads_from_json(env->input, "input", &ignored) : NULL;
	task->heartbeat_details = activity_json_payloads(env->heartbeat_details);
	portico_error_clear(&ignored);
	return task;
}

int portico_activity_env_run(portico_activity_env *env, portico_activity_fn fn, void *user_data)
{
	if (!env->loop) {
		free(env->error_message);
		env->error_message = portico_strdup("the test environment has no event loop");
		return env->outcome = PORTICO_ACTIVITY_FAILED;
	}
	env_activity run = {.env = env};
	portico_activity *activity = &run.base;
	activity_init(activity, &env_sink, env_task(env), NULL);
	activity->loop = env->loop;
	/* Every model runs the same way here: an event-loop activity that goes on gets the loop,
	 * run in this thread until it finishes. */
	run.final_outcome = PORTICO_ACTIVITY_PENDING;
	activity_begin_on_loop(activity, fn, user_data);
	if (run.final_outcome == PORTICO_ACTIVITY_PENDING) {
		run.loop_running = 1;
		portico_loop_run(env->loop);
	}
	env->outcome = activity_settled_outcome(activity, run.final_outcome);
	env->result = json_incref(activity->result);
	env->error_type = portico_strdup(activity->fail_type);
	env->error_message = portico_strdup(activity->fail_message);
	env->non_retryable = activity->non_retryable;
	env->next_retry_delay_ms = activity->next_retry_delay_ms;
	activity_release(activity);
	return env->outcome;
}
