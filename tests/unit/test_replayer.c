/* The replayer against a tiny C workflow and hand-made histories (tests/unit/histories/, written
 * from Temporal's history proto in the forms the CLI and UI download). Run from the tree's root,
 * as make check-unit does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_assert.h"

#include "protojson.h"
#include "replayer.h"
#include "temporal/api/history/v1/message.pb-c.h"

#define HISTORIES "tests/unit/histories/"

/* The test key of Temporal's samples (TEMPORAL-NOTES §3) and another one. */
#define SAMPLE_KEYS "test-key-id=dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE="
#define OTHER_KEYS  "other=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* c.OneActivity: runs c.echo on its input and completes with what it returns. */
static int one_activity(portico_workflow *wf, void *user_data)
{
	(void)user_data;
	json_t *input = portico_workflow_input_json(wf, 0);
	json_t *args = json_pack("[o]", input ? input : json_null());
	portico_workflow_activity_options options = {.start_to_close_ms = 10000};
	json_t *result = NULL;
	int status = portico_workflow_activity(wf, "c.echo", args, &options, &result, NULL);
	json_decref(args);
	if (status == PORTICO_WAIT_EVICTED)
		return PORTICO_WORKFLOW_FAILED; /* the run is torn down: what it returns is not used */
	if (status != PORTICO_WAIT_DONE)
		return portico_workflow_fail(wf, "EchoFailed", 0, "c.echo did not complete");
	return portico_workflow_set_result(wf, result);
}

static int setup(void **state)
{
	portico_replayer *replayer = portico_replayer_new();
	portico_replayer_register(replayer, "c.OneActivity", one_activity, NULL);
	*state = replayer;
	return 0;
}

static int teardown(void **state)
{
	portico_replayer_free(*state);
	return 0;
}

/* Replays a file and asserts it fails with problem and a message holding each of the words. */
static void assert_replay_fails(portico_replayer *replayer, const char *path, const portico_codec *codec,
                                portico_replay_problem problem, const char *const *words)
{
	portico_replay_result result;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_replayer_replay_file(replayer, path, codec, &result, &err), -1);
	assert_non_null(err.message);
	if (result.problem != problem)
		fail_msg("%s: problem %d, expected %d (%s)", path, result.problem, problem, err.message);
	for (; *words; words++)
		if (!strstr(err.message, *words))
			fail_msg("%s: \"%s\" does not say \"%s\"", path, err.message, *words);
	portico_error_clear(&err);
}

static void assert_replays(portico_replayer *replayer, const char *path)
{
	portico_replay_result result;
	portico_error err = PORTICO_ERROR_INIT;
	if (portico_replayer_replay_file(replayer, path, NULL, &result, &err))
		fail_msg("%s: %s", path, err.message);
	assert_int_equal(result.problem, PORTICO_REPLAY_OK);
	assert_int_equal(result.event_count, 11);
}

/* The CLI's form (enums by full name, 64-bit integers as strings), its payload shorthand, and the
 * older form of tctl and older UIs (short enum names, integers as numbers). */
static void test_recorded_history_replays(void **state)
{
	assert_replays(*state, HISTORIES "one_activity.json");
	assert_replays(*state, HISTORIES "one_activity_shorthand.json");
	assert_replays(*state, HISTORIES "one_activity_legacy.json");
}

/* The code schedules c.echo where the history recorded c.shout: the message names the event and
 * both types. */
static void test_other_activity_type_is_nondeterminism(void **state)
{
	const char *words[] = {"5", "c.echo", "c.shout", NULL};
	assert_replay_fails(*state, HISTORIES "one_activity_other_type.json", NULL, PORTICO_REPLAY_NONDETERMINISM,
	                    words);
}

static void test_unregistered_type(void **state)
{
	(void)state;
	portico_replayer *empty = portico_replayer_new();
	const char *words[] = {"c.OneActivity", NULL};
	assert_replay_fails(empty, HISTORIES "one_activity.json", NULL, PORTICO_REPLAY_UNREGISTERED, words);
	portico_replayer_free(empty);
}

static void test_malformed_files_are_clear_errors(void **state)
{
	const char *truncated[] = {HISTORIES "truncated.json:", "not JSON", NULL};
	assert_replay_fails(*state, HISTORIES "truncated.json", NULL, PORTICO_REPLAY_BAD_HISTORY, truncated);
	const char *missing[] = {HISTORIES "missing.json", "No such file", NULL};
	assert_replay_fails(*state, HISTORIES "missing.json", NULL, PORTICO_REPLAY_BAD_HISTORY, missing);

	struct {
		const char *json, *says;
	} cases[] = {
	        {"{\"workflowId\": \"w\"}", "expected {\"events\": [...]}"},
	        {"\"events\"", "expected {\"events\": [...]}"},
	        {"{\"events\": []}", "no events"},
	        {"[]", "no events"},
	        {"{\"events\": [{\"eventId\": \"one\"}]}", "events[0].eventId: expected an integer"},
	        {"{\"events\": [7]}", "events[0]: expected an object"},
	        {"{\"history\": {\"events\": [{\"eventTime\": \"yesterday\"}]}}", "events[0].eventTime"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *history = parse(cases[i].json);
		portico_replay_result result;
		portico_error err = PORTICO_ERROR_INIT;
		assert_int_equal(portico_replayer_replay_json(*state, history, NULL, &result, &err), -1);
		assert_int_equal(result.problem, PORTICO_REPLAY_BAD_HISTORY);
		if (!strstr(err.message, cases[i].says))
			fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].json, err.message, cases[i].says);
		portico_error_clear(&err);
		json_decref(history);
	}
}

static void test_file_over_the_limit_is_refused_unread(void **state)
{
	char path[] = "/tmp/portico-replayer-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, PORTICO_REPLAYER_MAX_FILE_BYTES + 1), 0);
	close(fd);
	const char *words[] = {"larger than the 64 MiB", NULL};
	assert_replay_fails(*state, path, NULL, PORTICO_REPLAY_BAD_HISTORY, words);
	unlink(path);
}

static portico_codec *codec_from(const char *keys)
{
	portico_codec *codec;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_codec_from_text(keys, "test", 0, &codec, &err), 0);
	return codec;
}

/* one_activity.json with every payload encrypted with the samples' key, as proto3 JSON. */
static json_t *encrypted_history(const portico_codec *codec)
{
	json_error_t error;
	json_t *plain = json_load_file(HISTORIES "one_activity.json", 0, &error);
	assert_non_null(plain);
	portico_error err = PORTICO_ERROR_INIT;
	ProtobufCMessage *history =
	        portico_protojson_decode(&temporal__api__history__v1__history__descriptor, plain, &err);
	assert_non_null(history);
	json_decref(plain);
	portico_payload_size largest;
	assert_int_equal(portico_codec_encode_message(codec, history, 0, &largest, &err), 0);
	json_t *encrypted = portico_protojson_encode(history, NULL);
	protobuf_c_message_free_unpacked(history, NULL);
	return encrypted;
}

static void test_encrypted_history_needs_its_keys(void **state)
{
	portico_codec *codec = codec_from(SAMPLE_KEYS), *other = codec_from(OTHER_KEYS);
	json_t *history = encrypted_history(codec);
	char *text = json_dumps(history, 0);
	assert_non_null(strstr(text, "YmluYXJ5L2VuY3J5cHRlZA==")); /* binary/encrypted */
	free(text);
	portico_replay_result result;
	portico_error err = PORTICO_ERROR_INIT;
	if (portico_replayer_replay_json(*state, history, codec, &result, &err))
		fail_msg("%s", err.message);

	assert_int_equal(portico_replayer_replay_json(*state, history, NULL, &result, &err), -1);
	assert_int_equal(result.problem, PORTICO_REPLAY_BAD_HISTORY);
	assert_non_null(strstr(err.message, "events[0].workflowExecutionStartedEventAttributes.input[0]"));
	assert_non_null(strstr(err.message, "no codec keys"));
	portico_error_clear(&err);

	assert_int_equal(portico_replayer_replay_json(*state, history, other, &result, &err), -1);
	assert_int_equal(result.problem, PORTICO_REPLAY_BAD_HISTORY);
	assert_non_null(strstr(err.message, "cannot be decoded"));
	portico_error_clear(&err);

	json_decref(history);
	portico_codec_free(codec);
	portico_codec_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_recorded_history_replays, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_other_activity_type_is_nondeterminism, setup, teardown),
	        cmocka_unit_test(test_unregistered_type),
	        cmocka_unit_test_setup_teardown(test_malformed_files_are_clear_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_file_over_the_limit_is_refused_unread, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_encrypted_history_needs_its_keys, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
