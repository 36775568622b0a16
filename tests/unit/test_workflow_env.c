/* The in-process workflow test environment: workflows run on the real engine with activities
 * stood in for by C functions, timers skipped, signals, updates, queries and cancellation sent by
 * the test; the history it writes replays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_assert.h"

#include "protojson.h"
#include "workflow_env.h"
#include "workflow_run.h"
#include "temporal/api/history/v1/message.pb-c.h"

/* ---- Workflows under test --------------------------------------------------------------------- */

static const portico_workflow_activity_options step_options = {.start_to_close_ms = 30000};

/* Runs "reserve", "charge", "ship"; on a failure or a cancellation undoes what was done, newest
 * first; a query "progress" lists what happened. */
typedef struct saga_state {
	json_t *progress;
} saga_state;

static void saga_free(void *state)
{
	json_decref(((saga_state *)state)->progress);
	free(state);
}

static int progress(portico_workflow *wf, json_t *args, json_t **result, char **error, void *arg)
{
	(void)wf;
	(void)args;
	(void)error;
	*result = json_incref(((saga_state *)arg)->progress);
	return 0;
}

static int undo(portico_workflow *wf, saga_state *s, const char **steps, size_t done, json_t *order)
{
	while (done-- > 0) {
		char name[64];
		snprintf(name, sizeof name, "undo.%s", steps[done]);
		json_t *args = json_pack("[O]", order);
		int r = portico_workflow_activity(wf, name, args, &step_options, NULL, NULL);
		json_decref(args);
		if (r == PORTICO_WAIT_EVICTED)
			return r;
		json_array_append_new(s->progress, json_string(name));
	}
	return PORTICO_WAIT_DONE;
}

static int saga(portico_workflow *wf, void *arg)
{
	(void)arg;
	static const char *steps[] = {"reserve", "charge", "ship"};
	saga_state *s = calloc(1, sizeof *s);
	portico_workflow_on_free(wf, saga_free, s);
	s->progress = json_array();
	portico_workflow_on_query(wf, "progress", progress, s);
	json_t *order = portico_workflow_input_json(wf, 0);
	size_t done = 0;
	int r = PORTICO_WAIT_DONE;
	for (; done < 3 && r == PORTICO_WAIT_DONE; done++) {
		json_t *args = json_pack("[O]", order);
		r = portico_workflow_activity(wf, steps[done], args, &step_options, NULL, NULL);
		json_decref(args);
		if (r == PORTICO_WAIT_DONE)
			json_array_append_new(s->progress, json_string(steps[done]));
	}
	if (r == PORTICO_WAIT_EVICTED) {
		json_decref(order);
		return PORTICO_WORKFLOW_FAILED;
	}
	if (r != PORTICO_WAIT_DONE) {
		/* the step in flight may have done its work: undo it too */
		json_array_append_new(s->progress, json_string(r == PORTICO_WAIT_CANCELED ? "cancelled" : "failed"));
		undo(wf, s, steps, done, order);
		json_decref(order);
		return r == PORTICO_WAIT_CANCELED ? PORTICO_WORKFLOW_CANCELED
		                                  : portico_workflow_set_result(wf, json_incref(s->progress));
	}
	json_decref(order);
	return portico_workflow_set_result(wf, json_incref(s->progress));
}

typedef struct approval {
	const char *status;
	json_int_t amount;
} approval;

static void approve(portico_workflow *wf, json_t *args, void *arg)
{
	(void)wf;
	(void)args;
	approval *a = arg;
	if (!strcmp(a->status, "pending"))
		a->status = "approved";
}

static int decided(void *arg)
{
	return strcmp(((approval *)arg)->status, "pending") != 0;
}

static int state(portico_workflow *wf, json_t *args, json_t **result, char **error, void *arg)
{
	(void)wf;
	(void)args;
	(void)error;
	approval *a = arg;
	*result = json_pack("{s:s,s:I}", "status", a->status, "amount", a->amount);
	return 0;
}

static int validate(portico_workflow *wf, json_t *args, char **error, void *arg)
{
	(void)wf;
	(void)arg;
	if (json_integer_value(json_array_get(args, 0)) > 0)
		return 0;
	*error = strdup("amount must be above 0");
	return -1;
}

static int set_amount(portico_workflow *wf, json_t *args, json_t **result, portico_workflow_failure **failure,
                      void *arg)
{
	(void)failure;
	approval *a = arg;
	/* An update handler may wait: it asks an activity first. */
	json_t *checked = NULL;
	int r = portico_workflow_activity(wf, "check", args, &step_options, &checked, NULL);
	if (r != PORTICO_WAIT_DONE)
		return -1;
	a->amount = json_integer_value(checked);
	json_decref(checked);
	*result = json_integer(a->amount);
	return 0;
}

static int approval_workflow(portico_workflow *wf, void *arg)
{
	(void)arg;
	approval *a = calloc(1, sizeof *a);
	portico_workflow_on_free(wf, free, a);
	a->status = "pending";
	a->amount = 10;
	portico_workflow_on_signal(wf, "approve", approve, a);
	portico_workflow_on_query(wf, "state", state, a);
	portico_workflow_on_update(wf, "setAmount", set_amount, validate, a);
	int r = portico_workflow_wait_condition(wf, decided, a, 3600 * 1000);
	if (r == PORTICO_WAIT_TIMEOUT)
		a->status = "expired";
	return portico_workflow_set_result(wf, json_pack("{s:s,s:I}", "status", a->status, "amount", a->amount));
}

/* Signals before and after the handlers: a named handler takes its own, the catch-all the rest,
 * those kept from before the handlers included, in the order they came. */
static void seen_free(void *seen)
{
	json_decref(seen);
}

static void on_any(portico_workflow *wf, const char *name, json_t *args, void *arg)
{
	(void)wf;
	json_array_append_new(arg, json_pack("[s,O]", name, args));
}

static void on_named(portico_workflow *wf, json_t *args, void *arg)
{
	(void)wf;
	json_array_append_new(arg, json_pack("[s,O]", "named by its handler", args));
}

static int three_seen(void *arg)
{
	return json_array_size(arg) >= 3;
}

static int catch_all_workflow(portico_workflow *wf, void *arg)
{
	(void)arg;
	json_t *seen = json_array();
	portico_workflow_on_free(wf, seen_free, seen);
	if (portico_workflow_sleep(wf, 60 * 1000) != PORTICO_WAIT_DONE)
		return PORTICO_WORKFLOW_FAILED;
	portico_workflow_on_signal(wf, "named", on_named, seen);
	portico_workflow_on_any_signal(wf, on_any, seen);
	if (portico_workflow_wait_condition(wf, three_seen, seen, -1) != PORTICO_WAIT_DONE)
		return PORTICO_WORKFLOW_FAILED;
	return portico_workflow_set_result(wf, json_incref(seen));
}

/* A scope cancelled while its timer's coroutine waits, the canceller then waiting on a condition:
 * the timer is cancelled at once, not at the canceller's next await. */
typedef struct scoped_wait {
	portico_workflow_scope *scope;
	int outcome, done;
} scoped_wait;

static void wait_in_scope(portico_workflow *wf, void *arg)
{
	scoped_wait *w = arg;
	w->outcome = portico_workflow_await(wf, portico_workflow_timer_start(wf, 3600 * 1000, w->scope), NULL, NULL);
	w->done = 1;
}

static int scoped_done(void *arg)
{
	return ((scoped_wait *)arg)->done;
}

static int scope_cancel_workflow(portico_workflow *wf, void *arg)
{
	(void)arg;
	scoped_wait *w = calloc(1, sizeof *w);
	portico_workflow_on_free(wf, free, w);
	w->scope = portico_workflow_scope_new(wf);
	portico_workflow_go(wf, wait_in_scope, w);
	if (portico_workflow_sleep(wf, 60 * 1000) != PORTICO_WAIT_DONE)
		return PORTICO_WORKFLOW_FAILED;
	portico_workflow_scope_cancel(w->scope);
	if (portico_workflow_wait_condition(wf, scoped_done, w, -1) != PORTICO_WAIT_DONE)
		return PORTICO_WORKFLOW_FAILED;
	return portico_workflow_set_result(wf, json_integer(w->outcome));
}

/* ---- Stand-ins for activities ------------------------------------------------------------------ */

static int succeed(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)failure;
	(void)arg;
	*result = json_incref(json_array_get(args, 0));
	return 0;
}

static int refuse(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)args;
	(void)result;
	(void)arg;
	*failure = portico_workflow_failure_new("CardDeclined", 1, NULL, "card declined");
	return -1;
}

static portico_workflow_env *saga_env(int charge_fails)
{
	portico_workflow_env *env = portico_workflow_env_new();
	portico_workflow_env_register_workflow(env, "Saga", saga, NULL);
	const char *names[] = {"reserve", "charge", "ship", "undo.reserve", "undo.charge", "undo.ship"};
	for (size_t i = 0; i < 6; i++)
		portico_workflow_env_register_activity(env, names[i], i == 1 && charge_fails ? refuse : succeed, NULL);
	return env;
}

/* Replays the env's history on a fresh run: 0 when it replays. */
static const workflow_definition *replay_lookup(void *arg, const char *type)
{
	(void)type;
	return arg;
}

static int replays(portico_workflow_env *env, portico_workflow_fn fn)
{
	json_t *json = portico_workflow_env_history(env);
	portico_error err = PORTICO_ERROR_INIT;
	Temporal__Api__History__V1__History *h = (Temporal__Api__History__V1__History *)portico_protojson_decode(
	        &temporal__api__history__v1__history__descriptor, json, &err);
	json_decref(json);
	assert_non_null(h);
	workflow_definition definition = {fn, NULL};
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

static void test_a_saga_runs_every_step_and_its_history_replays(void **unused)
{
	(void)unused;
	portico_workflow_env *env = saga_env(0);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *args = parse("[{\"orderId\":\"1\"}]");
	assert_int_equal(portico_workflow_env_start(env, "Saga", args, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_COMPLETED);
	assert_json_equal(json_incref(portico_workflow_env_result(env)), "[\"reserve\",\"charge\",\"ship\"]");
	assert_int_equal(replays(env, saga), 0);
	json_decref(args);
	portico_workflow_env_free(env);
}

static void test_a_failed_charge_is_undone_with_the_reservation(void **unused)
{
	(void)unused;
	portico_workflow_env *env = saga_env(1);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_start(env, "Saga", NULL, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_json_equal(json_incref(portico_workflow_env_result(env)),
	                  "[\"reserve\",\"failed\",\"undo.charge\",\"undo.reserve\"]");
	assert_int_equal(replays(env, saga), 0);
	portico_workflow_env_free(env);
}

static void test_a_saga_cancelled_half_way_compensates_then_ends_cancelled(void **unused)
{
	(void)unused;
	portico_workflow_env *env = saga_env(0);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_start(env, "Saga", NULL, &err), 0);
	assert_int_equal(portico_workflow_env_step(env, &err), 1); /* reserved; charging */
	assert_int_equal(portico_workflow_env_cancel(env, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_CANCELED);
	json_t *p;
	char *error;
	assert_int_equal(portico_workflow_env_query(env, "progress", NULL, &p, &error), 0);
	assert_json_equal(p, "[\"reserve\",\"cancelled\",\"undo.charge\",\"undo.reserve\"]");

	assert_int_equal(replays(env, saga), 0);
	portico_workflow_env_free(env);
}

static portico_workflow_env *approval_env(void)
{
	portico_workflow_env *env = portico_workflow_env_new();
	portico_workflow_env_register_workflow(env, "Approval", approval_workflow, NULL);
	portico_workflow_env_register_activity(env, "check", succeed, NULL);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_start(env, "Approval", NULL, &err), 0);
	return env;
}

static void test_an_approval_takes_a_validated_update_then_a_signal(void **unused)
{
	(void)unused;
	portico_workflow_env *env = approval_env();
	portico_error err = PORTICO_ERROR_INIT;
	json_t *result;
	portico_workflow_failure *failure;
	json_t *bad = parse("[-5]"), *good = parse("[42]");
	assert_int_equal(portico_workflow_env_update(env, "setAmount", bad, &result, &failure, &err),
	                 PORTICO_WAIT_FAILED);
	assert_string_equal(failure->message, "amount must be above 0");
	portico_workflow_failure_free(failure);
	assert_int_equal(portico_workflow_env_update(env, "setAmount", good, &result, &failure, &err),
	                 PORTICO_WAIT_DONE);
	assert_json_equal(result, "42");

	assert_int_equal(portico_workflow_env_signal(env, "approve", NULL, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_COMPLETED);
	assert_json_equal(json_incref(portico_workflow_env_result(env)), "{\"status\":\"approved\",\"amount\":42}");
	assert_int_equal(replays(env, approval_workflow), 0);
	json_decref(bad);
	json_decref(good);
	portico_workflow_env_free(env);
}

static void test_an_approval_nobody_decides_expires_an_hour_later_in_no_time(void **unused)
{
	(void)unused;
	portico_workflow_env *env = approval_env();
	portico_error err = PORTICO_ERROR_INIT;
	int64_t start = portico_workflow_env_now_ms(env);
	assert_int_equal(portico_workflow_env_run(env, 60 * 1000, &err), 0); /* a minute: still pending */
	assert_int_equal(portico_workflow_env_status(env), 1);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_now_ms(env) - start, 3600 * 1000);
	assert_json_equal(json_incref(portico_workflow_env_result(env)), "{\"status\":\"expired\",\"amount\":10}");
	assert_int_equal(replays(env, approval_workflow), 0);
	portico_workflow_env_free(env);
}

static void test_a_catch_all_handler_takes_the_signals_no_named_handler_takes(void **unused)
{
	(void)unused;
	portico_workflow_env *env = portico_workflow_env_new();
	portico_workflow_env_register_workflow(env, "CatchAll", catch_all_workflow, NULL);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_start(env, "CatchAll", NULL, &err), 0);
	json_t *one = parse("[1]"), *two = parse("[2]"), *three = parse("[3]");
	assert_int_equal(portico_workflow_env_signal(env, "x", one, &err), 0);
	assert_int_equal(portico_workflow_env_signal(env, "named", two, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0); /* the handlers now, then waits */
	assert_int_equal(portico_workflow_env_signal(env, "y", three, &err), 0);
	assert_int_equal(portico_workflow_env_status(env), PORTICO_WORKFLOW_COMPLETED);
	assert_json_equal(json_incref(portico_workflow_env_result(env)),
	                  "[[\"x\",[1]],[\"named by its handler\",[2]],[\"y\",[3]]]");
	assert_int_equal(replays(env, catch_all_workflow), 0);
	json_decref(one);
	json_decref(two);
	json_decref(three);
	portico_workflow_env_free(env);
}

static void test_a_cancelled_scope_cancels_its_timer_at_once(void **unused)
{
	(void)unused;
	portico_workflow_env *env = portico_workflow_env_new();
	portico_workflow_env_register_workflow(env, "ScopeCancel", scope_cancel_workflow, NULL);
	portico_error err = PORTICO_ERROR_INIT;
	int64_t start = portico_workflow_env_now_ms(env);
	assert_int_equal(portico_workflow_env_start(env, "ScopeCancel", NULL, &err), 0);
	assert_int_equal(portico_workflow_env_run(env, -1, &err), 0);
	assert_int_equal(portico_workflow_env_now_ms(env) - start, 60 * 1000);
	assert_json_equal(json_incref(portico_workflow_env_result(env)), "-2"); /* PORTICO_WAIT_CANCELED */
	assert_int_equal(replays(env, scope_cancel_workflow), 0);
	portico_workflow_env_free(env);
}

/* A workflow that fails its task rather than itself: the task fails with the message and the run
 * does not close (Temporal would retry the task). */
static int fails_its_task(portico_workflow *wf, void *arg)
{
	(void)arg;
	portico_workflow_fail_task(wf, "the sandbox ran over its %d ms limit", 1000);
	return portico_workflow_fail(wf, "Ignored", 1, "recorded after the task failed: dropped");
}

static void test_a_workflow_that_fails_its_task_does_not_close(void **unused)
{
	(void)unused;
	portico_workflow_env *env = portico_workflow_env_new();
	portico_workflow_env_register_workflow(env, "FailsItsTask", fails_its_task, NULL);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_workflow_env_start(env, "FailsItsTask", NULL, &err), -1);
	assert_non_null(strstr(err.message, "the sandbox ran over its 1000 ms limit"));
	assert_int_equal(portico_workflow_env_status(env), 1);
	portico_error_clear(&err);
	portico_workflow_env_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_a_saga_runs_every_step_and_its_history_replays),
	        cmocka_unit_test(test_a_workflow_that_fails_its_task_does_not_close),
	        cmocka_unit_test(test_a_failed_charge_is_undone_with_the_reservation),
	        cmocka_unit_test(test_a_saga_cancelled_half_way_compensates_then_ends_cancelled),
	        cmocka_unit_test(test_an_approval_takes_a_validated_update_then_a_signal),
	        cmocka_unit_test(test_an_approval_nobody_decides_expires_an_hour_later_in_no_time),
	        cmocka_unit_test(test_a_catch_all_handler_takes_the_signals_no_named_handler_takes),
	        cmocka_unit_test(test_a_cancelled_scope_cancels_its_timer_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
