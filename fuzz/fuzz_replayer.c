/* The replayer on any history JSON: the input is read as a file's text would be, its payloads
 * decoded with the harnesses' key ring, and replayed against a one-activity workflow. Whatever the
 * history, the replay returns 0, or -1 with a message and a problem kind; the engine never crashes
 * or leaks on a history it cannot follow. */
#include <stdint.h>

#include "fuzz.h"
#include "json_parse.h"
#include "json_text.h"
#include "replayer.h"

/* c.OneActivity, as in tests/unit/test_replayer.c: runs c.echo on its input, returns the result. */
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
		return PORTICO_WORKFLOW_FAILED;
	if (status != PORTICO_WAIT_DONE)
		return portico_workflow_fail(wf, "EchoFailed", 0, "c.echo did not complete");
	return portico_workflow_set_result(wf, result);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static portico_replayer *replayer;
	if (!replayer) {
		replayer = portico_replayer_new();
		portico_replayer_register(replayer, "c.OneActivity", one_activity, NULL);
	}
	json_t *history = portico_json_parse((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!history)
		return 0;
	portico_replay_result result;
	portico_error err = PORTICO_ERROR_INIT;
	if (portico_replayer_replay_json(replayer, history, fuzz_key_ring(), &result, &err)) {
		if (!err.message || result.problem == PORTICO_REPLAY_OK)
			fuzz_fail("a replay failed without a message or a problem", err.message);
	} else if (result.problem != PORTICO_REPLAY_OK || !result.event_count) {
		fuzz_fail("a replay succeeded with a problem or no events", NULL);
	}
	portico_error_clear(&err);
	json_decref(history);
	return 0;
}
