/* The worker's handling of an activity task before and around user code: the input is a packed
 * PollActivityTaskQueueResponse, set up as one attempt (activity_init: its payloads decoded with
 * a fixed key ring, its info read, its deadline started), then run through an activity that reads
 * every getter, heartbeats and sets a result, and released. Each getter returns what the task
 * holds; nothing crashes or leaks. The sink is the harness's own, as each runner has one
 * (activity_sink.h): the test environment's builds its task from an info, not from bytes. */
#include <stdint.h>

#include "activity_sink.h"
#include "base64.h"
#include "codec.h"
#include "fuzz.h"

static void fuzz_heartbeat(portico_activity *activity, json_t *details)
{
	(void)activity;
	json_decref(details);
}

static int fuzz_cancelled(const portico_activity *activity)
{
	return activity_past_deadline(activity);
}

/* Only portico_activity_finish calls it, which an activity not on a loop never does. */
static void fuzz_finish(portico_activity *activity, int outcome)
{
	(void)activity;
	(void)outcome;
	fuzz_fail("an activity not on a loop was finished", NULL);
}

static const activity_sink fuzz_sink = {fuzz_heartbeat, fuzz_cancelled, fuzz_finish};

static int same_text(const char *got, const char *want)
{
	return !strcmp(got ? got : "", want ? want : "");
}

/* What a task's duration reads as: its milliseconds, with seconds past protobuf's bound (10,000
 * years, more than Temporal ever sends) taken as the bound. */
static int64_t duration_ms(const Google__Protobuf__Duration *duration)
{
	const int64_t bound = 315576000000LL;
	if (!duration)
		return 0;
	int64_t seconds = duration->seconds;
	return (seconds > bound ? bound : seconds < -bound ? -bound : seconds) * 1000 + duration->nanos / 1000000;
}

/* What getting payload as JSON must give (a new reference, or NULL): its JSON for json/plain that
 * parses, JSON null for binary/null, nothing for the rest (and for what the codec could not
 * decode). */
static json_t *expected_json(const portico_payload *payload)
{
	if (portico_payload_metadata(payload, "portico-codec-error"))
		return NULL;
	const ProtobufCBinaryData *encoding = portico_payload_metadata(payload, "encoding");
	if (!encoding)
		return NULL;
	if (encoding->len == strlen(PORTICO_ENCODING_NULL) &&
	    !memcmp(encoding->data, PORTICO_ENCODING_NULL, encoding->len))
		return json_null();
	if (encoding->len == strlen(PORTICO_ENCODING_JSON) &&
	    !memcmp(encoding->data, PORTICO_ENCODING_JSON, encoding->len))
		return json_loadb((const char *)payload->data.data, payload->data.len, JSON_DECODE_ANY, NULL);
	return NULL;
}

static void check_json(const char *what, json_t *got, const portico_payload *payload)
{
	json_t *want = payload ? expected_json(payload) : NULL;
	if (!want != !got || (want && !json_equal(want, got)))
		fuzz_fail("a payload getter does not return what the task holds", what);
	json_decref(want);
}

static void check_info(const portico_activity *activity, const activity_task *task)
{
	const portico_activity_info *info = portico_activity_get_info(activity);
	const Temporal__Api__Common__V1__WorkflowExecution *execution = task->workflow_execution;
	if (!same_text(info->activity_id, task->activity_id) ||
	    !same_text(info->activity_type, task->activity_type ? task->activity_type->name : NULL) ||
	    !same_text(info->workflow_id, execution ? execution->workflow_id : NULL) ||
	    !same_text(info->run_id, execution ? execution->run_id : NULL) ||
	    !same_text(info->workflow_type, task->workflow_type ? task->workflow_type->name : NULL) ||
	    !same_text(info->workflow_namespace, task->workflow_namespace))
		fuzz_fail("the info's names are not the task's", NULL);
	if (info->attempt != task->attempt || info->heartbeat_timeout_ms != duration_ms(task->heartbeat_timeout) ||
	    info->start_to_close_timeout_ms != duration_ms(task->start_to_close_timeout))
		fuzz_fail("the info's numbers are not the task's", NULL);
}

/* The activity: every getter, compared with the task it was given. */
static int read_everything(portico_activity *activity, void *arg)
{
	const activity_task *task = arg;
	check_info(activity, task);
	const portico_payloads *input = portico_activity_input(activity);
	if (!input || (task->input ? input != task->input : input->n_payloads != 0))
		fuzz_fail("the input is not the task's", NULL);
	for (size_t i = 0; i <= input->n_payloads; i++) {
		json_t *value = portico_activity_input_json(activity, i);
		check_json("input", value, i < input->n_payloads ? input->payloads[i] : NULL);
		json_decref(value);
	}
	json_t *details = portico_activity_heartbeat_details_json(activity);
	const Temporal__Api__Common__V1__Payloads *last = task->heartbeat_details;
	check_json("heartbeat details", details, last && last->n_payloads ? last->payloads[0] : NULL);

	char *token = portico_activity_task_token(activity);
	uint8_t *bytes = NULL;
	size_t length = 0;
	if (portico_base64_decode(token, strlen(token), &bytes, &length) || length != task->task_token.len ||
	    (length && memcmp(bytes, task->task_token.data, length)))
		fuzz_fail("the task token does not decode to the task's", token);
	free(bytes);
	free(token);

	json_decref(activity_log_fields(activity));
	if (portico_activity_loop(activity))
		fuzz_fail("an activity not on a loop has one", NULL);
	portico_activity_cancelled(activity);
	portico_activity_heartbeat(activity, json_incref(details));
	if (!details)
		return portico_activity_fail(activity, NULL, 0, 0, "no details in attempt %d", task->attempt);
	return portico_activity_set_result_json(activity, details);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	portico_codec *codec = fuzz_key_ring();
	activity_task *task = (activity_task *)protobuf_c_message_unpack(
	        &temporal__api__workflowservice__v1__poll_activity_task_queue_response__descriptor, NULL, size, data);
	if (!task)
		return 0;
	portico_activity activity;
	activity_init(&activity, &fuzz_sink, task, codec);
	int outcome = activity_settled_outcome(&activity, read_everything(&activity, task));
	if (outcome == PORTICO_ACTIVITY_COMPLETED ? !activity.result : !activity.fail_message)
		fuzz_fail("the attempt ended without its result or failure", NULL);
	activity_release(&activity);
	return 0;
}
