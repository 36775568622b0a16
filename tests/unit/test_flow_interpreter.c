/* The flow interpreter driven through the in-process workflow env: flows (JSON documents) run with
 * C stand-ins for http.request and named activities; results, failures (as problems), timers,
 * signals, updates, queries and cancellation are checked, and every history the env wrote replays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_assert.h"

#include "alloc.h"
#include "expr.h"
#include "interpreter.h"
#include "protojson.h"
#include "workflow_env.h"
#include "workflow_run.h"
#include "temporal/api/history/v1/message.pb-c.h"

/* Every activity call the stand-ins saw, as ["type", arg0]: what a test checks ran. */
static json_t *calls;

static void record(const char *type, json_t *args)
{
	json_array_append_new(calls, json_pack("[s,O*]", type, json_array_get(args, 0)));
}

/* ---- Stand-ins ---------------------------------------------------------------------------------- */

static int echo(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)failure;
	record(arg, args);
	*result = json_incref(json_array_get(args, 0));
	return 0;
}

static int declined(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)result;
	record(arg, args);
	*failure = portico_workflow_failure_new("CardDeclined", 1, NULL, "card declined");
	return -1;
}

/* An array nested 300 deep: more than a flow takes. New reference. */
static json_t *too_deep(void)
{
	json_t *value = json_array();
	for (int i = 1; i < 300; i++)
		value = json_pack("[o]", value);
	return value;
}

static int deep(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)failure;
	record(arg, args);
	*result = too_deep();
	return 0;
}

static int flaky_left; /* how many more times "flaky" fails */

/* http.request as the worker's: {method, url, headers, body, followRedirects} → {status, headers,
 * body}; 4xx and 5xx fail with "… answered N"; /moved answers 302 unless redirects are followed
 * (by default), when it answers as its target does. */
static int http(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)arg;
	record("http.request", args);
	const json_t *request = json_array_get(args, 0);
	const char *url = json_string_value(json_object_get(request, "url"));
	const char *method = json_string_value(json_object_get(request, "method"));
	int follow = !json_is_false(json_object_get(request, "followRedirects"));
	int status = strstr(url, "/missing") ? 404 : strstr(url, "/moved") && !follow ? 302 : 200;
	if (strstr(url, "/flaky") && flaky_left > 0) {
		flaky_left--;
		status = 503;
	}
	if (status >= 400) {
		*failure = portico_workflow_failure_new(status >= 500 ? "HttpServerError" : "HttpClientError",
		                                        status < 500, NULL, "%s %s answered %d", method, url, status);
		return -1;
	}
	*result = json_pack("{s:i,s:{s:s},s:{s:s,s:O?}}", "status", status, "headers", "content-type",
	                    "application/json", "body", "url", url, "sent", json_object_get(request, "body"));
	return 0;
}

/* ---- Running a flow --------------------------------------------------------------------------------- */

static portico_workflow_env *flow_env(const char *name)
{
	portico_workflow_env *env = portico_workflow_env_new();
	portico_workflow_env_register_workflow(env, name, flow_workflow, NULL);
	portico_workflow_env_register_activity(env, "http.request", http, NULL);
	static const char *echoes[] = {"order.reserve", "order.charge", "order.ship", "order.release", "order.refund"};
	for (size_t i = 0; i < sizeof echoes / sizeof echoes[0]; i++)
		portico_workflow_env_register_activity(env, echoes[i], echo, (void *)echoes[i]);
	portico_workflow_env_register_activity(env, "order.decline", declined, "order.decline");
	portico_workflow_env_register_activity(env, "order.deep", deep, "order.deep");
	json_decref(calls);
	calls = json_array();
	return env;
}

/* Starts the flow of definition (JSON text, its document.name "t") with input and runs it until
 * it waits on the test or on a timer further than max_ms (negative: until it ends). */
static portico_workflow_env *start_until(const char *definition, const char *input, int64_t max_ms)
{
	portico_workflow_env *env = flow_env("t");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args =
	        json_pack("[{s:o,s:o}]", "definition", parse(definition), "input", parse(input ? input : "null"));
	assert_int_equal(portico_workflow_env_start(env, "t", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, max_ms, &err), 0);
	return env;
}

static portico_workflow_env *start(const char *definition, const char *input)
{
	return start_until(definition, input, -1);
}

static const workflow_definition *replay_lookup(void *arg, const char *type)
{
	(void)type;
	return arg;
}

/* Replays the env's history on a fresh run of the interpreter: 0 when it replays. */
static int replays(portico_workflow_env *env)
{
	json_t *json = portico_workflow_env_history(env);
	portico_error err = PORTICO_ERROR_INIT;
	Temporal__Api__History__V1__History *h = (Temporal__Api__History__V1__History *)portico_protojson_decode(
	        &temporal__api__history__v1__history__descriptor, json, &err);
	json_decref(json);
	assert_non_null(h);
	workflow_definition definition = {flow_workflow, NULL};
	workflow_run_options options = {
	        .namespace_name = "default", .lookup = replay_lookup, .lookup_arg = &definition};
	workflow_run *run = workflow_run_new(&options);
	workflow_run_problem problem;
	int rc = workflow_run_apply(run, h->events, h->n_events, NULL, 0, &problem, &err);
	if (rc)
		print_error("replay: %s\n", err.message);
	portico_error_clear(&err);
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
	return rc;
}

/* The run completed with result (JSON text) and replays; frees env. */
static void assert_completed(portico_workflow_env *env, const char *result)
{
	const portico_workflow_failure *f = portico_workflow_env_failure(env);
	if (portico_workflow_env_status(env) != PORTICO_WORKFLOW_COMPLETED)
		fail_msg("status %d: %s", portico_workflow_env_status(env), f && f->message ? f->message : "");
	assert_json_equal(json_incref(portico_workflow_env_result(env)), result);
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

/* The run failed with the problem (JSON text) as its one detail, typed as the problem, and
 * replays; frees env. */
static void assert_failed(portico_workflow_env *env, const char *problem)
{
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	const portico_workflow_failure *f = portico_workflow_env_failure(env);
	assert_non_null(f);
	assert_true(f->non_retryable);
	json_t *detail = json_array_get(f->details, 0);
	assert_string_equal(f->type, json_string_value(json_object_get(detail, "type")));
	assert_json_equal(json_incref(detail), problem);
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

#define ENV_START_MS 1767225600000LL /* the env's clock at start: 2026-01-01T00:00:00Z */

#define DOC "\"document\":{\"dsl\":\"1.0.0\",\"namespace\":\"test\",\"name\":\"t\",\"version\":\"1.0.0\"}"

/* ---- 1. The run ------------------------------------------------------------------------------------ */

static void test_tasks_run_in_order_and_the_last_output_is_the_result(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"a\":{\"set\":{\"x\":1}}},{\"b\":{\"set\":{\"y\":2}}}]}", NULL);
	assert_completed(env, "{\"y\":2}");
}

/* A workflow of a type the worker does not have, whose input is no flow, waits for a worker that
 * has it: its task fails, not the workflow. */
static void test_an_input_that_is_not_a_flow_fails_the_task(void **unused)
{
	(void)unused;
	portico_workflow_env *env = flow_env("t");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args = parse("[{\"orderId\":1}]");
	assert_int_equal(portico_workflow_env_start(env, "t", args, &err), -1);
	json_decref(args);
	assert_non_null(strstr(err.message, "workflow type \"t\" is not registered on this worker"));
	portico_error_clear(&err);
	assert_int_not_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	portico_workflow_env_free(env);
}

static void test_then_jumps_forward_exits_and_ends(void **unused)
{
	(void)unused;
	/* a jumps over b to c; the nested do exits after its first task; end stops before e */
	portico_workflow_env *env = start("{" DOC ",\"do\":["
	                                  "{\"a\":{\"set\":{\"at\":\"a\"},\"then\":\"c\"}},"
	                                  "{\"b\":{\"set\":{\"at\":\"b\"}}},"
	                                  "{\"c\":{\"do\":[{\"c1\":{\"set\":{\"at\":\"c1\"},\"then\":\"exit\"}},"
	                                  "{\"c2\":{\"set\":{\"at\":\"c2\"}}}]}},"
	                                  "{\"d\":{\"set\":{\"at\":\"d\"},\"then\":\"end\"}},"
	                                  "{\"e\":{\"set\":{\"at\":\"e\"}}}]}",
	                                  NULL);
	assert_completed(env, "{\"at\":\"d\"}");
}

static void test_a_definition_that_does_not_validate_fails_with_its_path(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start("{" DOC ",\"do\":[{\"a\":{\"set\":{},\"then\":\"nowhere\"}}]}", NULL);
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/configuration\","
	                   "\"status\":400,\"instance\":\"/do/0/a/then\",\"title\":\"Invalid Definition\","
	                   "\"detail\":\"/do/0/a/then: unknown task \\\"nowhere\\\" (tasks here: a)\"}");
}

/* "resume" is continue-as-new's: a start that brings its own would skip the input schema and set
 * $context, compensations and loop state the definition never made. */
static void test_a_start_that_brings_a_resume_fails(void **unused)
{
	(void)unused;
	portico_workflow_env *env = flow_env("t");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args = parse("[{\"definition\":{" DOC ",\"do\":[{\"a\":{\"set\":{}}}]},\"input\":{},"
	                     "\"resume\":{\"context\":{\"approved\":true}}}]");
	assert_int_equal(portico_workflow_env_start(env, "t", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	json_t *problem = json_array_get(portico_workflow_env_failure(env)->details, 0);
	assert_string_equal(json_string_value(json_object_get(problem, "instance")), "/resume");
	portico_workflow_env_free(env);
}

static void test_an_unknown_task_kind_fails_with_its_path(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start("{" DOC ",\"do\":[{\"a\":{\"do\":[{\"b\":{\"dance\":{}}}]}}]}", NULL);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	json_t *problem = json_array_get(portico_workflow_env_failure(env)->details, 0);
	assert_string_equal(json_string_value(json_object_get(problem, "instance")), "/do/0/a/do/0/b");
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

static void test_then_end_deep_inside_ends_the_flow_with_that_output(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"outer\":{\"do\":[{\"loop\":{\"for\":{\"in\":\"${ [1,2,3] }\"},\"do\":["
	              "{\"stop\":{\"set\":{\"at\":\"${ $item }\"},\"then\":\"end\",\"if\":\"${ $index == 1 }\"}}]}}],"
	              "\"output\":{\"as\":{\"not\":\"this\"}}}},{\"after\":{\"set\":{\"not\":\"this either\"}}}],"
	              "\"output\":{\"as\":\"${ . + {flow: true} }\"}}",
	              NULL);
	assert_completed(env, "{\"at\":2,\"flow\":true}");
}

/* ---- 2. set, switch, raise, wait, call ------------------------------------------------------------------ */

static void test_switch_takes_the_default_case_without_a_match(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start("{" DOC ",\"do\":["
	                                  "{\"s\":{\"switch\":[{\"no\":{\"when\":\"${ .x == 1 }\",\"then\":\"b\"}},"
	                                  "{\"other\":{\"then\":\"c\"}}]}},"
	                                  "{\"b\":{\"set\":{\"at\":\"b\"},\"then\":\"end\"}},"
	                                  "{\"c\":{\"set\":{\"at\":\"c\"}}}]}",
	                                  NULL);
	assert_completed(env, "{\"at\":\"c\"}");
}

static void test_raise_fails_the_run_with_the_error_as_a_problem(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"use\":{\"errors\":{\"nope\":{\"type\":\"https://example.com/nope\",\"status\":422,"
	              "\"title\":\"Nope\",\"detail\":\"not today\"}}},"
	              "\"do\":[{\"check\":{\"raise\":{\"error\":\"nope\"}}}]}",
	              NULL);
	const portico_workflow_failure *f = portico_workflow_env_failure(env);
	assert_string_equal(f->message, "Nope: not today");
	assert_failed(env, "{\"type\":\"https://example.com/nope\",\"status\":422,\"title\":\"Nope\","
	                   "\"detail\":\"not today\",\"instance\":\"/do/0/check\"}");
}

static void test_wait_sleeps_on_a_durable_timer(void **unused)
{
	(void)unused;
	portico_workflow_env *env = flow_env("t");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args = json_pack("[{s:o,s:o}]", "definition",
	                         parse("{" DOC ",\"do\":[{\"w\":{\"wait\":\"PT1H30M\"}},{\"v\":{\"wait\":{\"seconds\":"
	                               "30}}}]}"),
	                         "input", parse("{\"a\":1}"));
	int64_t start_ms = portico_workflow_env_now_ms(env);
	assert_int_equal(portico_workflow_env_start(env, "t", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_now_ms(env) - start_ms, (90 * 60 + 30) * 1000);
	assert_completed(env, "{\"a\":1}");
}

static void test_call_activity_runs_any_type_with_arguments(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start(
	        "{" DOC ",\"do\":[{\"charge\":{\"call\":\"activity\",\"with\":{\"type\":\"order.charge\","
	        "\"taskQueue\":\"payments\",\"arguments\":[{\"amount\":5}],\"startToCloseTimeout\":\"PT10S\"}}}]}",
	        NULL);
	assert_json_equal(json_incref(calls), "[[\"order.charge\",{\"amount\":5}]]");
	assert_completed(env, "{\"amount\":5}");
}

static void test_a_failed_activity_is_a_runtime_problem_titled_with_its_type(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"charge\":{\"call\":\"activity\",\"with\":{\"type\":\"order.decline\"}}}]}",
	              "{\"a\":1}");
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/runtime\",\"status\":500,"
	                   "\"instance\":\"/do/0/charge\",\"title\":\"CardDeclined\",\"detail\":\"card declined\"}");
}

static void test_a_function_of_use_runs_with_the_calls_arguments(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"use\":{\"functions\":{\"ship\":{\"call\":\"activity\",\"with\":{\"type\":"
	              "\"order.ship\"}}}},\"do\":[{\"s\":{\"call\":\"ship\",\"with\":{\"to\":\"Lisbon\"}}}]}",
	              "{\"ignored\":true}");
	assert_json_equal(json_incref(calls), "[[\"order.ship\",{\"to\":\"Lisbon\"}]]");
	assert_completed(env, "{\"to\":\"Lisbon\"}");
}

static void test_call_http_sends_the_request_and_outputs_the_content(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"get\":{\"call\":\"http\",\"with\":{\"method\":\"post\",\"endpoint\":"
	              "\"https://pets.example/pets/{id}\",\"query\":{\"q\":\"a b\"},\"headers\":{\"X-A\":\"1\"},"
	              "\"body\":{\"n\":1}}}}]}",
	              "{\"id\":7}");
	assert_json_equal(json_incref(calls), "[[\"http.request\",{\"method\":\"POST\",\"url\":\"https://pets.example/"
	                                      "pets/7?q=a%20b\",\"headers\":{\"X-A\":\"1\"},\"body\":{\"n\":1},"
	                                      "\"followRedirects\":false}]]");
	assert_completed(env, "{\"url\":\"https://pets.example/pets/7?q=a%20b\",\"sent\":{\"n\":1}}");
}

static void test_call_http_outputs_the_response_when_asked(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start("{" DOC ",\"do\":[{\"get\":{\"call\":\"http\",\"with\":{\"method\":\"get\","
	                                  "\"endpoint\":{\"uri\":\"https://x.example/a\"},\"output\":\"response\"}}}]}",
	                                  NULL);
	assert_completed(
	        env,
	        "{\"request\":{\"method\":\"GET\",\"uri\":\"https://x.example/a\",\"headers\":{}},\"statusCode\":200,"
	        "\"headers\":{\"content-type\":\"application/json\"},"
	        "\"content\":{\"url\":\"https://x.example/a\",\"sent\":null}}");
}

static void test_a_404_is_a_communication_problem_with_its_status(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start("{" DOC ",\"do\":[{\"get\":{\"call\":\"http\",\"with\":{\"method\":\"get\","
	                                  "\"endpoint\":\"https://x.example/missing\"}}}]}",
	                                  NULL);
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/communication\",\"status\":404,"
	                   "\"instance\":\"/do/0/get\",\"title\":\"HTTP Error\","
	                   "\"detail\":\"GET https://x.example/missing answered 404\"}");
}

/* redirect: false (the default) asks http.request not to follow, and the 3xx it sees is a
 * communication error; redirect: true has it followed. */
static void test_a_redirect_fails_unless_redirect_is_allowed(void **unused)
{
	(void)unused;
	const char *refused[] = {"", ",\"redirect\":false"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char *definition = portico_sprintf("{" DOC ",\"do\":[{\"get\":{\"call\":\"http\",\"with\":{"
		                                   "\"method\":\"get\",\"endpoint\":\"https://x.example/moved\"%s}}}]}",
		                                   refused[i]);
		portico_workflow_env *env = start(definition, NULL);
		free(definition);
		assert_true(
		        json_is_false(json_object_get(json_array_get(json_array_get(calls, 0), 1), "followRedirects")));
		assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/communication\","
		                   "\"status\":302,\"instance\":\"/do/0/get\",\"title\":\"HTTP Error\","
		                   "\"detail\":\"GET https://x.example/moved answered 302\"}");
	}
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"get\":{\"call\":\"http\",\"with\":{\"method\":\"get\","
	              "\"endpoint\":\"https://x.example/moved\",\"redirect\":true,\"output\":\"raw\"}}}]}",
	              NULL);
	assert_true(json_is_true(json_object_get(json_array_get(json_array_get(calls, 0), 1), "followRedirects")));
	/* base64 of {"url":"https://x.example/moved","sent":null} */
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_COMPLETED);
	assert_true(json_is_string(portico_workflow_env_result(env)));
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

/* ---- 3. try, retry, timeouts ------------------------------------------------------------------------- */

static void test_try_catches_a_matching_error_and_runs_catch_do(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start(
	        "{" DOC ",\"do\":[{\"t\":{\"try\":[{\"get\":{\"call\":\"http\",\"with\":{\"method\":\"get\","
	        "\"endpoint\":\"https://x.example/missing\"}}}],\"catch\":{\"errors\":{\"with\":{\"status\":404}},"
	        "\"do\":[{\"fallback\":{\"set\":{\"found\":false}}}]}}}]}",
	        NULL);
	assert_completed(env, "{\"found\":false}");
}

static void test_try_lets_an_error_that_does_not_match_through(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start(
	        "{" DOC ",\"do\":[{\"t\":{\"try\":[{\"get\":{\"call\":\"http\",\"with\":{\"method\":\"get\","
	        "\"endpoint\":\"https://x.example/missing\"}}}],\"catch\":{\"errors\":{\"with\":{\"status\":503}}}"
	        "}}]}",
	        NULL);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	json_t *problem = json_array_get(portico_workflow_env_failure(env)->details, 0);
	assert_string_equal(json_string_value(json_object_get(problem, "instance")), "/do/0/t/try/0/get");
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

static void test_retry_backs_off_exponentially_until_the_call_succeeds(void **unused)
{
	(void)unused;
	flaky_left = 3;
	portico_workflow_env *env = flow_env("t");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args = json_pack(
	        "[{s:o}]", "definition",
	        parse("{" DOC ",\"do\":[{\"t\":{\"try\":[{\"get\":{\"call\":\"http\",\"with\":{\"method\":\"get\","
	              "\"endpoint\":\"https://x.example/flaky\"}}}],\"catch\":{\"errors\":{\"with\":{\"status\":503}},"
	              "\"retry\":{\"delay\":{\"seconds\":2},\"backoff\":{\"exponential\":{}},\"limit\":{\"attempt\":"
	              "{\"count\":5}}}}}}]}"));
	int64_t start_ms = portico_workflow_env_now_ms(env);
	assert_int_equal(portico_workflow_env_start(env, "t", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(json_array_size(calls), 4);
	assert_int_equal(portico_workflow_env_now_ms(env) - start_ms, (2 + 4 + 8) * 1000);
	assert_completed(env, "{\"url\":\"https://x.example/flaky\",\"sent\":null}");
}

static void test_retries_exhausted_fail_with_the_last_error(void **unused)
{
	(void)unused;
	flaky_left = 10;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"t\":{\"try\":[{\"get\":{\"call\":\"http\",\"with\":{\"method\":\"get\","
	              "\"endpoint\":\"https://x.example/flaky\"}}}],\"catch\":{\"retry\":{\"delay\":\"PT1S\","
	              "\"jitter\":{\"from\":\"PT0S\",\"to\":\"PT1S\"},\"limit\":{\"attempt\":{\"count\":2}}}}}}]}",
	              NULL);
	assert_int_equal(json_array_size(calls), 3);
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/communication\",\"status\":503,"
	                   "\"instance\":\"/do/0/t/try/0/get\",\"title\":\"HTTP Error\","
	                   "\"detail\":\"GET https://x.example/flaky answered 503\"}");
}

static void test_a_task_past_its_timeout_raises_the_timeout_error(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start("{" DOC ",\"do\":[{\"slow\":{\"wait\":\"PT1H\",\"timeout\":{\"after\":"
	                                  "{\"minutes\":5}}}}]}",
	                                  NULL);
	assert_int_equal(portico_workflow_env_now_ms(env) - ENV_START_MS, 5 * 60 * 1000); /* not the hour */
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/timeout\",\"status\":408,"
	                   "\"instance\":\"/do/0/slow\",\"title\":\"Timeout\","
	                   "\"detail\":\"the task did not finish within 300000 ms\"}");
}

static void test_a_timeout_is_caught_like_any_error(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"use\":{\"timeouts\":{\"short\":{\"after\":\"PT1M\"}}},"
	              "\"do\":[{\"t\":{\"try\":[{\"slow\":{\"wait\":\"PT1H\",\"timeout\":\"short\"}}],"
	              "\"catch\":{\"errors\":{\"with\":{\"status\":408}},\"do\":[{\"late\":{\"set\":"
	              "{\"late\":true}}}]}}},{\"fast\":{\"wait\":\"PT1S\",\"timeout\":\"short\"}}]}",
	              NULL);
	assert_completed(env, "{\"late\":true}");
}

/* ---- 4. Compensation ------------------------------------------------------------------------------------- */

#define SAGA                                                                                                           \
	"{" DOC ",\"do\":["                                                                                            \
	"{\"reserve\":{\"call\":\"activity\",\"with\":{\"type\":\"order.reserve\",\"arguments\":[\"r\"]},"             \
	"\"x-portico-compensate\":[{\"release\":{\"call\":\"activity\",\"with\":{\"type\":\"order.release\"}}}]}},"    \
	"{\"charge\":{\"call\":\"activity\",\"with\":{\"type\":\"order.charge\",\"arguments\":[\"c\"]},"               \
	"\"x-portico-compensate\":[{\"refund\":{\"call\":\"activity\",\"with\":{\"type\":\"order.refund\"}}}]}},"      \
	"{\"pause\":{\"wait\":\"PT1H\"}},"                                                                             \
	"{\"ship\":{\"call\":\"activity\",\"with\":{\"type\":\"%s\"}}}]}"

static void test_a_failure_runs_the_compensations_newest_first_then_fails(void **unused)
{
	(void)unused;
	char definition[2048];
	snprintf(definition, sizeof definition, SAGA, "order.decline");
	portico_workflow_env *env = start(definition, "{\"id\":1}");
	/* each compensation gets its task's output as input */
	assert_json_equal(json_incref(calls), "[[\"order.reserve\",\"r\"],[\"order.charge\",\"c\"],"
	                                      "[\"order.decline\",\"c\"],[\"order.refund\",\"c\"],"
	                                      "[\"order.release\",\"r\"]]");
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/runtime\",\"status\":500,"
	                   "\"instance\":\"/do/3/ship\",\"title\":\"CardDeclined\",\"detail\":\"card declined\"}");
}

static void test_a_cancelled_flow_compensates_then_ends_cancelled(void **unused)
{
	(void)unused;
	char definition[2048];
	snprintf(definition, sizeof definition, SAGA, "order.ship");
	portico_workflow_env *env = start_until(definition, NULL, 60 * 1000);
	assert_int_equal(portico_workflow_env_status(env), 1); /* waiting an hour */
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_cancel(env, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_CANCELED);
	assert_json_equal(json_incref(calls), "[[\"order.reserve\",\"r\"],[\"order.charge\",\"c\"],"
	                                      "[\"order.refund\",\"c\"],[\"order.release\",\"r\"]]");
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

/* ---- 5, 6. Events and the state query --------------------------------------------------------------------- */

#define APPROVAL                                                                                                       \
	"{" DOC ",\"do\":[{\"ask\":{\"set\":{\"asked\":true}}},"                                                       \
	"{\"decide\":{\"listen\":{\"to\":{\"one\":{\"with\":{\"type\":\"approval.decided\"}}}},"                       \
	"\"timeout\":{\"after\":\"PT1H\"}}}]}"

static void test_listen_takes_a_signal_with_bare_data(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start_until(APPROVAL, NULL, 60 * 1000);
	assert_int_equal(portico_workflow_env_status(env), 1);
	json_t *state = NULL;
	char *error = NULL;
	assert_int_equal(portico_workflow_env_query(env, "flow.state", NULL, &state, &error), 0);
	assert_json_equal(state, "{\"task\":\"/do/1/decide\",\"data\":{\"asked\":true},\"context\":{}}");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args = parse("[{\"approved\":true}]");
	assert_int_equal(portico_workflow_env_signal(env, "approval.decided", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_completed(env, "[{\"approved\":true}]");
}

static void test_listen_answers_an_update_with_its_output(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start_until(APPROVAL, NULL, 60 * 1000);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *result = NULL;
	portico_workflow_failure *failure = NULL;
	json_t *args = parse("[{\"specversion\":\"1.0\",\"type\":\"approval.decided\",\"source\":\"me\",\"id\":\"1\","
	                     "\"data\":{\"approved\":false}}]");
	int ur = portico_workflow_env_update(env, "approval.decided", args, &result, &failure, &err);
	if (ur != PORTICO_WAIT_DONE)
		print_error("update: %s %s\n", err.message ? err.message : "", failure ? failure->message : "");
	assert_int_equal(ur, PORTICO_WAIT_DONE);
	assert_json_equal(result, "[{\"approved\":false}]");
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_completed(env, "[{\"approved\":false}]");
}

static void test_an_update_nobody_listens_for_is_rejected(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"first\":{\"listen\":{\"to\":{\"one\":{\"with\":{\"type\":\"a\"}}}}}},"
	              "{\"second\":{\"listen\":{\"to\":{\"one\":{\"with\":{\"type\":\"b\"}}}}}}]}",
	              NULL);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_signal(env, "a", NULL, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	json_t *result = NULL;
	portico_workflow_failure *failure = NULL;
	assert_int_equal(portico_workflow_env_update(env, "a", NULL, &result, &failure, &err), PORTICO_WAIT_FAILED);
	portico_workflow_failure_free(failure);
	json_t *args = parse("[7]");
	assert_int_equal(portico_workflow_env_signal(env, "b", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_completed(env, "[7]");
}

static void test_listen_all_waits_for_every_event_and_early_ones_are_kept(void **unused)
{
	(void)unused;
	portico_workflow_env *env = flow_env("t");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *start_args = json_pack(
	        "[{s:o}]", "definition",
	        parse("{" DOC ",\"do\":[{\"pause\":{\"wait\":\"PT1M\"}},{\"both\":{\"listen\":{\"to\":{\"all\":["
	              "{\"with\":{\"type\":\"a\"}},{\"with\":{\"type\":\"b\",\"source\":\"s\"}}]},\"read\":"
	              "\"envelope\"}}}]}"));
	assert_int_equal(portico_workflow_env_start(env, "t", start_args, &err), 0);
	json_decref(start_args);
	/* b from another source does not match; a arrives before the listen */
	json_t *b_other = parse("[{\"specversion\":\"1.0\",\"type\":\"b\",\"source\":\"elsewhere\",\"id\":\"1\"}]");
	json_t *b = parse("[{\"specversion\":\"1.0\",\"type\":\"b\",\"source\":\"s\",\"id\":\"2\"}]");
	assert_int_equal(portico_workflow_env_signal(env, "a", NULL, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_signal(env, "b", b_other, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), 1);
	assert_int_equal(portico_workflow_env_signal(env, "b", b, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	json_decref(b_other);
	json_decref(b);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_COMPLETED);
	json_t *result = portico_workflow_env_result(env);
	assert_int_equal(json_array_size(result), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(result, 1), "id")), "2");
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

static void test_a_listen_past_its_timeout_fails(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start_until(APPROVAL, NULL, 60 * 1000);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	assert_string_equal(portico_workflow_env_failure(env)->type,
	                    "https://serverlessworkflow.io/spec/1.0.0/errors/timeout");
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

/* ---- Expressions and data flow ------------------------------------------------------------------------ */

static void test_data_flows_through_from_as_export_and_if(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"input\":{\"from\":\"${ {order: .order} }\"},\"do\":["
	              "{\"a\":{\"set\":{\"total\":\"${ .order.amount * 2 }\",\"at\":\"${ $task.reference }\"},"
	              "\"export\":{\"as\":\"${ $context + {total: .total} }\"}}},"
	              "{\"skip\":{\"if\":\"${ .total > 100 }\",\"set\":{\"big\":true}}},"
	              "{\"b\":{\"input\":{\"from\":\"${ $context }\"},\"set\":{\"ctx\":\"${ . }\",\"wf\":\"${ "
	              "$workflow.input.junk }\","
	              "\"now\":\"${ now > 0 }\",\"order\":\"${ $input }\"},\"output\":{\"as\":\"${ .ctx + {wf, now, "
	              "order} }\"}}}],"
	              "\"output\":{\"as\":\"${ . + {done: true} }\"}}",
	              "{\"order\":{\"amount\":10},\"junk\":1}");
	assert_completed(env, "{\"total\":20,\"wf\":1,\"now\":true,\"order\":{\"total\":20},\"done\":true}");
}

static void test_an_expression_that_fails_is_an_expression_problem_at_its_task(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"a\":{\"set\":{\"x\":\"${ .a + 1 }\"}}}]}", "{\"a\":\"s\"}");
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	json_t *problem = json_array_get(portico_workflow_env_failure(env)->details, 0);
	assert_string_equal(json_string_value(json_object_get(problem, "type")),
	                    "https://serverlessworkflow.io/spec/1.0.0/errors/expression");
	assert_string_equal(json_string_value(json_object_get(problem, "instance")), "/do/0/a");
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

static void test_an_input_that_does_not_match_the_schema_is_a_validation_problem(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"input\":{\"schema\":{\"format\":\"json\",\"document\":{\"type\":"
	              "\"object\",\"required\":[\"id\"]}}},\"do\":[{\"a\":{\"set\":{\"ok\":true}}}]}",
	              "{}");
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	json_t *problem = json_array_get(portico_workflow_env_failure(env)->details, 0);
	assert_string_equal(json_string_value(json_object_get(problem, "type")),
	                    "https://serverlessworkflow.io/spec/1.0.0/errors/validation");
	assert_string_equal(json_string_value(json_object_get(problem, "instance")), "/input");
	portico_workflow_env_free(env);
}

static void test_catch_binds_the_error_for_when_and_do(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start(
	        "{" DOC ",\"do\":[{\"t\":{\"try\":[{\"r\":{\"raise\":{\"error\":{\"type\":\"https://example.com/busy\","
	        "\"status\":409,\"title\":\"Busy\"}}}}],\"catch\":{\"as\":\"e\",\"when\":\"${ $e.status == 409 }\","
	        "\"do\":[{\"h\":{\"set\":{\"caught\":\"${ $e.title }\",\"at\":\"${ $e.instance }\"}}}]}}}]}",
	        NULL);
	assert_completed(env, "{\"caught\":\"Busy\",\"at\":\"/do/0/t/try/0/r\"}");
}

static void test_for_iterates_with_each_at_and_while(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"loop\":{\"for\":{\"each\":\"pet\",\"in\":\"${ .pets }\",\"at\":\"i\"},"
	              "\"while\":\"${ .count < 3 }\",\"do\":[{\"add\":{\"set\":{\"count\":\"${ .count + 1 }\","
	              "\"names\":\"${ .names + [$pet + ($i | tostring)] }\",\"pets\":\"${ .pets }\"}}}]}}]}",
	              "{\"pets\":[\"a\",\"b\",\"c\",\"d\"],\"count\":0,\"names\":[]}");
	assert_completed(env, "{\"count\":3,\"names\":[\"a0\",\"b1\",\"c2\"],\"pets\":[\"a\",\"b\",\"c\",\"d\"]}");
}

/* A loop of 1200 iterations in a nested do continues as new twice, invisibly: each run's history
 * replays and the last run's result is the loop's. */
static void test_a_long_loop_continues_as_new_and_ends_with_the_result(void **unused)
{
	(void)unused;
	json_t *args = json_pack(
	        "[{s:o,s:o}]", "definition",
	        parse("{" DOC ",\"do\":[{\"first\":{\"set\":{\"n\":0}}},{\"outer\":{\"do\":[{\"loop\":{\"for\":{\"in\":"
	              "\"${ [range(1200)] }\"},\"do\":[{\"inc\":{\"set\":{\"n\":\"${ .n + 1 }\",\"last\":\"${ $item "
	              "}\"}}}]}}]}},"
	              "{\"last\":{\"set\":{\"total\":\"${ .n }\",\"item\":\"${ .last }\"},\"export\":{\"as\":\"${ "
	              "{seen: true} }\"}}}]}"),
	        "input", json_object());
	int runs = 0;
	for (;; runs++) {
		portico_workflow_env *env = flow_env("t");
		portico_error err = PORTICO_ERROR_INIT;
		assert_int_equal(portico_workflow_env_start_continued(env, "t", args, runs ? "env-run" : NULL, &err),
		                 0);
		assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
		json_decref(args);
		args = NULL;
		if (portico_workflow_env_status(env) == PORTICO_WORKFLOW_CONTINUE_AS_NEW) {
			args = json_incref(portico_workflow_env_continue_args(env));
			/* the loop's frame carries the items left, not the whole array */
			const json_t *frames =
			        json_object_get(json_object_get(json_array_get(args, 0), "resume"), "frames");
			const json_t *frame = json_array_get(frames, json_array_size(frames) - 1);
			assert_int_equal(json_array_size(json_object_get(frame, "items")) +
			                         (size_t)json_integer_value(json_object_get(frame, "next")),
			                 1200);
			assert_int_equal(replays(env), 0);
			portico_workflow_env_free(env);
			continue;
		}
		assert_completed(env, "{\"total\":1200,\"item\":1199}");
		break;
	}
	assert_int_equal(runs, 2);
}

static void test_listen_filters_events_with_expressions(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"hot\":{\"listen\":{\"to\":{\"any\":[{\"with\":{\"type\":\"reading\","
	              "\"data\":\"${ .temp > 38 }\"}}]}}}}]}",
	              NULL);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *cold = parse("[{\"temp\":30}]"), *hot = parse("[{\"temp\":40}]");
	assert_int_equal(portico_workflow_env_signal(env, "reading", cold, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), 1);
	assert_int_equal(portico_workflow_env_signal(env, "reading", hot, &err), 0);
	json_decref(cold);
	json_decref(hot);
	assert_completed(env, "[{\"temp\":40}]");
}

static void test_emit_signals_the_workflow_the_event_names(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"tell\":{\"emit\":{\"event\":{\"with\":{\"type\":\"order."
	              "paid\",\"source\":\"https://shop.example\",\"workflowid\":\"${ .target }\",\"data\":{\"id\":"
	              "\"${ .id }\"}}}}}}]}",
	              "{\"target\":\"order-7\",\"id\":7}");
	json_t *history = portico_workflow_env_history(env);
	char *text = json_dumps(history, JSON_COMPACT);
	assert_non_null(strstr(text, "\"signalName\":\"order.paid\""));
	assert_non_null(strstr(text, "\"workflowId\":\"order-7\""));
	free(text);
	json_decref(history);
	assert_completed(env, "{\"target\":\"order-7\",\"id\":7}");
}

/* The child flow is stood in for: it answers with what it was started with. */
static int child_flow(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)failure;
	(void)arg;
	const json_t *start = json_array_get(args, 0);
	*result = json_pack("{s:O,s:O}", "name",
	                    json_object_get(json_object_get(json_object_get(start, "definition"), "document"), "name"),
	                    "input", json_object_get(start, "input"));
	return 0;
}

static void test_run_workflow_starts_the_child_flow_from_the_catalog(void **unused)
{
	(void)unused;
	char dir[] = "/tmp/test_flow_interpreter_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[sizeof dir + 16];
	snprintf(path, sizeof path, "%s/child.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"document\":{\"dsl\":\"1.0.0\",\"namespace\":\"test\",\"name\":\"child\",\"version\":\"2.0.0\"},"
	      "\"do\":[{\"a\":{\"set\":{\"ok\":true}}}]}",
	      f);
	fclose(f);
	portico_error err = PORTICO_ERROR_INIT;
	flow_catalog *catalog = flow_catalog_load(dir, &err);
	assert_non_null(catalog);
	unlink(path);
	rmdir(dir);
	portico_workflow_env *env = portico_workflow_env_new();
	portico_workflow_env_register_workflow(env, "t", flow_workflow, catalog);
	portico_workflow_env_register_activity(env, "child", child_flow, NULL);
	json_t *args = json_pack("[{s:o,s:o}]", "definition",
	                         parse("{" DOC ",\"do\":[{\"sub\":{\"run\":{\"workflow\":{\"namespace\":\"test\","
	                               "\"name\":\"child\",\"version\":\"2.0.0\",\"input\":{\"n\":\"${ .n }\"}}}}},"
	                               "{\"later\":{\"run\":{\"workflow\":{\"namespace\":\"test\",\"name\":\"child\","
	                               "\"version\":\"2.0.0\"},\"await\":false}}}]}"),
	                         "input", parse("{\"n\":5}"));
	assert_int_equal(portico_workflow_env_start(env, "t", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	/* a child not awaited is abandoned when the parent closes, not terminated */
	json_t *history = portico_workflow_env_history(env);
	char *text = json_dumps(history, JSON_COMPACT);
	assert_non_null(strstr(text, "-child-1\""));
	assert_non_null(strstr(text, "-child-2\""));
	assert_non_null(strstr(text, "PARENT_CLOSE_POLICY_ABANDON"));
	free(text);
	json_decref(history);
	assert_completed(env, "{\"name\":\"child\",\"input\":{\"n\":5}}");
	flow_catalog_free(catalog);
}

/* An event sent before its listen is kept by the run, across continue-as-new too. */
static void test_an_early_event_waits_for_its_listen_across_continue_as_new(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start_until("{" DOC ",\"do\":[{\"w\":{\"wait\":\"PT1M\"}},{\"loop\":{\"for\":{\"in\":"
	                    "\"${ [range(600)] }\"},\"do\":[{\"s\":{\"set\":{\"i\":\"${ $item }\"}}}]}},"
	                    "{\"l\":{\"listen\":{\"to\":{\"one\":{\"with\":{\"type\":\"early\"}}}}}}]}",
	                    NULL, 0);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *event = parse("[\"hello\"]");
	assert_int_equal(portico_workflow_env_signal(env, "early", event, &err), 0);
	json_decref(event);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_CONTINUE_AS_NEW);
	assert_int_equal(replays(env), 0);
	json_t *args = json_incref(portico_workflow_env_continue_args(env));
	portico_workflow_env_free(env);
	env = flow_env("t");
	assert_int_equal(portico_workflow_env_start_continued(env, "t", args, "env-run", &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_completed(env, "[\"hello\"]");
}

static void test_listen_to_any_event_takes_a_signal_of_any_name(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start("{" DOC ",\"do\":[{\"l\":{\"listen\":{\"to\":{\"any\":[]}}}},"
	                                  "{\"m\":{\"listen\":{\"to\":{\"one\":{\"with\":{\"type\":\"named\"}}}}}}]}",
	                                  NULL);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *first = parse("[1]"), *second = parse("[2]");
	assert_int_equal(portico_workflow_env_signal(env, "whatever.it.is", first, &err), 0);
	assert_int_equal(portico_workflow_env_signal(env, "named", second, &err), 0);
	json_decref(first);
	json_decref(second);
	assert_completed(env, "[2]");
}

/* ---- 7. fork ----------------------------------------------------------------------------------------------- */

static void test_fork_outputs_every_branch_in_order(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"f\":{\"fork\":{\"branches\":["
	              "{\"slow\":{\"do\":[{\"w\":{\"wait\":\"PT2M\"}},{\"s\":{\"set\":{\"b\":\"slow\"}}}]}},"
	              "{\"fast\":{\"do\":[{\"w\":{\"wait\":\"PT1M\"}},{\"s\":{\"set\":{\"b\":\"fast\"}}}]}}]}}}]}",
	              NULL);
	assert_completed(env, "[{\"b\":\"slow\"},{\"b\":\"fast\"}]");
}

static void test_a_fork_that_competes_takes_the_first_to_finish(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"f\":{\"fork\":{\"compete\":true,\"branches\":["
	              "{\"slow\":{\"do\":[{\"w\":{\"wait\":\"PT2M\"}},{\"s\":{\"set\":{\"b\":\"slow\"}}}]}},"
	              "{\"fast\":{\"do\":[{\"w\":{\"wait\":\"PT1M\"}},{\"s\":{\"set\":{\"b\":\"fast\"}}}]}}]}}}]}",
	              NULL);
	/* the loser's timer was cancelled, not waited for: a minute went by, not two */
	assert_int_equal(portico_workflow_env_now_ms(env) - ENV_START_MS, 60 * 1000);
	assert_completed(env, "{\"b\":\"fast\"}");
}

static void test_a_failed_branch_fails_the_fork(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start("{" DOC ",\"do\":[{\"f\":{\"fork\":{\"branches\":["
	              "{\"slow\":{\"wait\":\"PT1H\"}},"
	              "{\"bad\":{\"call\":\"activity\",\"with\":{\"type\":\"order.decline\"}}}]}}}]}",
	              NULL);
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/runtime\",\"status\":500,"
	                   "\"instance\":\"/do/0/f/fork/branches/1/bad\",\"title\":\"CardDeclined\","
	                   "\"detail\":\"card declined\"}");
}

/* The winner is in, the loser waits for its emit (which a scope cannot call back) when the
 * workflow is cancelled: the fork waits for the loser to finish before it frees the branches, and
 * ends cancelled. */
static void test_a_fork_cancelled_while_a_loser_unwinds_waits_for_it(void **unused)
{
	(void)unused;
	portico_workflow_env *env = flow_env("t");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args =
	        json_pack("[{s:o,s:n}]", "definition",
	                  parse("{" DOC ",\"do\":[{\"f\":{\"fork\":{\"compete\":true,\"branches\":["
	                        "{\"a\":{\"set\":{\"b\":\"a\"}}},"
	                        "{\"b\":{\"emit\":{\"event\":{\"with\":{\"type\":\"x\",\"workflowid\":\"w\"}}}}}]}}},"
	                        "{\"after\":{\"call\":\"activity\",\"with\":{\"type\":\"order.ship\"}}}]}"),
	                  "input");
	assert_int_equal(portico_workflow_env_start(env, "t", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_cancel(env, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_CANCELED);
	assert_json_equal(json_incref(calls), "[]"); /* the task after the fork did not run */
	assert_int_equal(replays(env), 0);
	portico_workflow_env_free(env);
}

/* Data nested deeper than expressions take fails where it enters the run, before anything walks
 * it on the run's small stack: the input, an activity's result, an event. */
static void test_data_nested_too_deep_is_refused_where_it_enters(void **unused)
{
	(void)unused;
	portico_workflow_env *env = flow_env("t");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args = json_pack("[{s:o,s:o}]", "definition", parse("{" DOC ",\"do\":[{\"a\":{\"set\":\"${ 1 }\"}}]}"),
	                         "input", too_deep());
	assert_int_equal(portico_workflow_env_start(env, "t", args, &err), 0);
	json_decref(args);
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/validation\",\"status\":400,"
	                   "\"instance\":\"/input\",\"title\":\"Validation Error\","
	                   "\"detail\":\"input nests deeper than 256 levels\"}");

	env = start("{" DOC ",\"do\":[{\"a\":{\"call\":\"activity\",\"with\":{\"type\":\"order.deep\"}}}]}", NULL);
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/validation\",\"status\":400,"
	                   "\"instance\":\"/do/0/a\",\"title\":\"Validation Error\","
	                   "\"detail\":\"the activity's result nests deeper than 256 levels\"}");

	env = start_until("{" DOC ",\"do\":[{\"l\":{\"listen\":{\"to\":{\"one\":{\"with\":{\"type\":\"e\"}}}}}}]}",
	                  NULL, 0);
	json_t *signal = json_pack("[o]", too_deep());
	assert_int_equal(portico_workflow_env_signal(env, "e", signal, &err), 0);
	json_decref(signal);
	assert_failed(env, "{\"type\":\"https://serverlessworkflow.io/spec/1.0.0/errors/validation\",\"status\":400,"
	                   "\"instance\":\"/do/0/l\",\"title\":\"Validation Error\","
	                   "\"detail\":\"the e event's data nests deeper than 256 levels\"}");
}

/* A detail cut at its 1024-byte bound is cut between characters, not inside one. */
static void test_a_long_detail_is_cut_between_characters(void **unused)
{
	(void)unused;
	char definition[4096];
	int n = snprintf(definition, sizeof definition, "{" DOC ",\"do\":[{\"a\":{\"set\":\"${ error(\\\"");
	for (int i = 0; i < 600; i++)
		n += snprintf(definition + n, sizeof definition - (size_t)n, "\u00e9");
	snprintf(definition + n, sizeof definition - (size_t)n, "\\\") }\"}}]}");
	portico_workflow_env *env = start(definition, NULL);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
	const json_t *problem = json_array_get(portico_workflow_env_failure(env)->details, 0);
	assert_string_equal(json_string_value(json_object_get(problem, "type")),
	                    "https://serverlessworkflow.io/spec/1.0.0/errors/expression");
	const char *detail = json_string_value(json_object_get(problem, "detail"));
	assert_non_null(detail);
	assert_true(strlen(detail) > 1000 && strlen(detail) < 1024);
	portico_workflow_env_free(env);
}

/* The interpreter reads a duration as the validator does: weeks included. */
static void test_a_wait_of_a_week_sleeps_a_week(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start("{" DOC ",\"do\":[{\"w\":{\"wait\":\"P1W\"}}]}", "1");
	assert_int_equal(portico_workflow_env_now_ms(env) - ENV_START_MS, 7LL * 24 * 3600 * 1000);
	assert_completed(env, "1");
}

/* Compensations are bounded (a loop pushing one per iteration fails clearly rather than growing
 * the state continue-as-new carries), carried over continue-as-new by their task's path, and run
 * when the flow fails. */
static void test_pending_compensations_are_bounded_and_carried_by_path(void **unused)
{
	(void)unused;
	json_t *args = json_pack(
	        "[{s:o,s:o}]", "definition",
	        parse("{" DOC ",\"do\":[{\"loop\":{\"for\":{\"in\":\"${ [range(1200)] }\"},\"do\":[{\"step\":{"
	              "\"set\":\"${ $index }\",\"x-portico-compensate\":[{\"undo\":{\"call\":\"activity\","
	              "\"with\":{\"type\":\"order.refund\"}}}]}}]}}]}"),
	        "input", json_object());
	for (int runs = 0;; runs++) {
		assert_true(runs < 3);
		portico_workflow_env *env = flow_env("t");
		portico_error err = PORTICO_ERROR_INIT;
		assert_int_equal(portico_workflow_env_start_continued(env, "t", args, runs ? "env-run" : NULL, &err),
		                 0);
		assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
		json_decref(args);
		if (portico_workflow_env_status(env) == PORTICO_WORKFLOW_CONTINUE_AS_NEW) {
			args = json_incref(portico_workflow_env_continue_args(env));
			const json_t *pushed =
			        json_object_get(json_object_get(json_array_get(args, 0), "resume"), "compensations");
			assert_json_equal(json_incref(json_array_get(pushed, 0)),
			                  "{\"task\":\"/do/0/loop/do/0/step\",\"input\":0}");
			portico_workflow_env_free(env);
			continue;
		}
		assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_FAILED);
		const json_t *problem = json_array_get(portico_workflow_env_failure(env)->details, 0);
		assert_string_equal(json_string_value(json_object_get(problem, "instance")), "/do/0/loop/do/0/step");
		assert_non_null(strstr(json_string_value(json_object_get(problem, "detail")), "more than 1000"));
		/* every pushed one ran, newest first */
		assert_int_equal(json_array_size(calls), 1000);
		assert_json_equal(json_incref(json_array_get(calls, 0)), "[\"order.refund\",999]");
		portico_workflow_env_free(env);
		break;
	}
}

/* A listen for two events that times out (caught) after taking one: a signal it took goes back
 * to the next listen, an update it took is answered at once with a failure. */
#define LISTEN_BOTH                                                                                                    \
	"{" DOC ",\"do\":[{\"t\":{\"try\":[{\"both\":{\"listen\":{\"to\":{\"all\":[{\"with\":{\"type\":\"a\"}},"       \
	"{\"with\":{\"type\":\"b\"}}]}},\"timeout\":{\"after\":\"PT1M\"}}}],\"catch\":{}}},"                           \
	"{\"again\":{\"listen\":{\"to\":{\"one\":{\"with\":{\"type\":\"a\"}}}}}}]}"

static void test_a_listen_that_times_out_gives_back_what_it_took(void **unused)
{
	(void)unused;
	portico_workflow_env *env = start_until(LISTEN_BOTH, NULL, 0);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args = parse("[{\"n\":1}]");
	assert_int_equal(portico_workflow_env_signal(env, "a", args, &err), 0);
	json_decref(args);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_completed(env, "[{\"n\":1}]");

	env = start_until(LISTEN_BOTH, NULL, 0);
	json_t *result = NULL;
	portico_workflow_failure *failure = NULL;
	args = parse("[{\"n\":2}]");
	assert_int_equal(portico_workflow_env_update(env, "a", args, &result, &failure, &err), PORTICO_WAIT_FAILED);
	json_decref(args);
	assert_non_null(strstr(failure->message, "did not complete"));
	portico_workflow_failure_free(failure);
	/* answered when the listen timed out, not when the run ended */
	assert_int_equal(portico_workflow_env_now_ms(env) - ENV_START_MS, 60 * 1000);
	assert_int_equal(portico_workflow_env_status(env), 1);
	portico_workflow_env_free(env);
}

/* Inside a fork, flow.state's task is the fork (the innermost task every branch is in), and
 * running lists where every branch is. */
static void test_the_state_of_a_fork_lists_every_running_branch(void **unused)
{
	(void)unused;
	portico_workflow_env *env =
	        start_until("{" DOC ",\"do\":[{\"f\":{\"fork\":{\"branches\":["
	                    "{\"a\":{\"wait\":\"PT1H\"}},{\"b\":{\"do\":[{\"w\":{\"wait\":\"PT2H\"}}]}}]}}}]}",
	                    NULL, 0);
	json_t *state = NULL;
	char *error = NULL;
	assert_int_equal(portico_workflow_env_query(env, "flow.state", NULL, &state, &error), 0);
	assert_string_equal(json_string_value(json_object_get(state, "task")), "/do/0/f");
	assert_json_equal(json_incref(json_object_get(state, "running")),
	                  "[\"/do/0/f/fork/branches/0/a\",\"/do/0/f/fork/branches/1/b/do/0/w\"]");
	json_decref(state);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_completed(env, "[null,null]");
}

static void teardown_calls(void)
{
	json_decref(calls);
	calls = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tasks_run_in_order_and_the_last_output_is_the_result),
	        cmocka_unit_test(test_an_input_that_is_not_a_flow_fails_the_task),
	        cmocka_unit_test(test_then_jumps_forward_exits_and_ends),
	        cmocka_unit_test(test_a_definition_that_does_not_validate_fails_with_its_path),
	        cmocka_unit_test(test_a_start_that_brings_a_resume_fails),
	        cmocka_unit_test(test_an_unknown_task_kind_fails_with_its_path),
	        cmocka_unit_test(test_then_end_deep_inside_ends_the_flow_with_that_output),
	        cmocka_unit_test(test_switch_takes_the_default_case_without_a_match),
	        cmocka_unit_test(test_raise_fails_the_run_with_the_error_as_a_problem),
	        cmocka_unit_test(test_wait_sleeps_on_a_durable_timer),
	        cmocka_unit_test(test_call_activity_runs_any_type_with_arguments),
	        cmocka_unit_test(test_a_failed_activity_is_a_runtime_problem_titled_with_its_type),
	        cmocka_unit_test(test_a_function_of_use_runs_with_the_calls_arguments),
	        cmocka_unit_test(test_call_http_sends_the_request_and_outputs_the_content),
	        cmocka_unit_test(test_call_http_outputs_the_response_when_asked),
	        cmocka_unit_test(test_a_404_is_a_communication_problem_with_its_status),
	        cmocka_unit_test(test_a_redirect_fails_unless_redirect_is_allowed),
	        cmocka_unit_test(test_try_catches_a_matching_error_and_runs_catch_do),
	        cmocka_unit_test(test_try_lets_an_error_that_does_not_match_through),
	        cmocka_unit_test(test_retry_backs_off_exponentially_until_the_call_succeeds),
	        cmocka_unit_test(test_retries_exhausted_fail_with_the_last_error),
	        cmocka_unit_test(test_a_task_past_its_timeout_raises_the_timeout_error),
	        cmocka_unit_test(test_a_timeout_is_caught_like_any_error),
	        cmocka_unit_test(test_a_failure_runs_the_compensations_newest_first_then_fails),
	        cmocka_unit_test(test_a_cancelled_flow_compensates_then_ends_cancelled),
	        cmocka_unit_test(test_listen_takes_a_signal_with_bare_data),
	        cmocka_unit_test(test_listen_answers_an_update_with_its_output),
	        cmocka_unit_test(test_an_update_nobody_listens_for_is_rejected),
	        cmocka_unit_test(test_listen_all_waits_for_every_event_and_early_ones_are_kept),
	        cmocka_unit_test(test_a_listen_past_its_timeout_fails),
	        cmocka_unit_test(test_fork_outputs_every_branch_in_order),
	        cmocka_unit_test(test_a_fork_that_competes_takes_the_first_to_finish),
	        cmocka_unit_test(test_a_failed_branch_fails_the_fork),
	        cmocka_unit_test(test_a_fork_cancelled_while_a_loser_unwinds_waits_for_it),
	        cmocka_unit_test(test_data_nested_too_deep_is_refused_where_it_enters),
	        cmocka_unit_test(test_a_long_detail_is_cut_between_characters),
	        cmocka_unit_test(test_a_wait_of_a_week_sleeps_a_week),
	        cmocka_unit_test(test_pending_compensations_are_bounded_and_carried_by_path),
	        cmocka_unit_test(test_a_listen_that_times_out_gives_back_what_it_took),
	        cmocka_unit_test(test_the_state_of_a_fork_lists_every_running_branch),
	        cmocka_unit_test(test_data_flows_through_from_as_export_and_if),
	        cmocka_unit_test(test_an_expression_that_fails_is_an_expression_problem_at_its_task),
	        cmocka_unit_test(test_an_input_that_does_not_match_the_schema_is_a_validation_problem),
	        cmocka_unit_test(test_catch_binds_the_error_for_when_and_do),
	        cmocka_unit_test(test_for_iterates_with_each_at_and_while),
	        cmocka_unit_test(test_a_long_loop_continues_as_new_and_ends_with_the_result),
	        cmocka_unit_test(test_listen_filters_events_with_expressions),
	        cmocka_unit_test(test_emit_signals_the_workflow_the_event_names),
	        cmocka_unit_test(test_run_workflow_starts_the_child_flow_from_the_catalog),
	        cmocka_unit_test(test_an_early_event_waits_for_its_listen_across_continue_as_new),
	        cmocka_unit_test(test_listen_to_any_event_takes_a_signal_of_any_name),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	teardown_calls();
	flow_expr_stop(); /* frees the programs compiled in-process */
	return failed;
}
