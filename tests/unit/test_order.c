/* The order saga's C activities (examples/activities/order.c) in the test environment: answers
 * made from the order id alone (so a retry or a repeat answers the same), injected failures that
 * are not retryable, and an order without an id refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "activity_env.h"
#include "worker.h"
#include "json_assert.h"

/* Its activity functions are static: the test takes the source in. */
#include "../../examples/activities/order.c"

/* Runs fn on the one argument given as JSON text; the env holds the outcome. */
static int run(portico_activity_env *env, portico_activity_fn fn, const step *s, const char *argument)
{
	portico_activity_env_init(env);
	json_t *input = json_pack("[o]", parse(argument));
	env->input = input;
	int outcome = portico_activity_env_run(env, fn, (void *)s);
	json_decref(input);
	return outcome;
}

static void test_each_step_answers_from_the_order_id(void **state)
{
	(void)state;
	static const char order[] = "{\"orderId\": \"o-7\", \"amount\": 42.5}";
	portico_activity_env env;
	assert_int_equal(run(&env, run_step, &reserve_step, order), PORTICO_ACTIVITY_COMPLETED);
	assert_json_equal(json_incref(env.result), "{\"reservationId\": \"rsv-o-7\"}");
	portico_activity_env_free(&env);
	for (int attempt = 0; attempt < 2; attempt++) { /* a repeat answers the same */
		assert_int_equal(run(&env, run_step, &charge_step, order), PORTICO_ACTIVITY_COMPLETED);
		assert_json_equal(json_incref(env.result), "{\"paymentId\": \"pay-o-7\", \"amount\": 42.5}");
		portico_activity_env_free(&env);
	}
	assert_int_equal(run(&env, run_step, &ship_step, order), PORTICO_ACTIVITY_COMPLETED);
	assert_json_equal(json_incref(env.result), "{\"trackingNumber\": \"trk-o-7\"}");
	portico_activity_env_free(&env);
}

static void test_an_injected_failure_is_not_retryable_and_only_at_its_step(void **state)
{
	(void)state;
	static const char order[] = "{\"orderId\": \"o-8\", \"failAt\": \"charge\"}";
	portico_activity_env env;
	assert_int_equal(run(&env, run_step, &reserve_step, order), PORTICO_ACTIVITY_COMPLETED);
	portico_activity_env_free(&env);
	assert_int_equal(run(&env, run_step, &charge_step, order), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "CardDeclined");
	assert_true(env.non_retryable);
	assert_non_null(strstr(env.error_message, "o-8"));
	portico_activity_env_free(&env);
}

static void test_an_order_without_an_id_is_refused(void **state)
{
	(void)state;
	portico_activity_env env;
	assert_int_equal(run(&env, run_step, &ship_step, "{\"amount\": 1}"), PORTICO_ACTIVITY_FAILED);
	assert_string_equal(env.error_type, "InvalidOrder");
	assert_true(env.non_retryable);
	portico_activity_env_free(&env);
}

static void test_compensations_answer_from_the_order_id_and_ignore_failat(void **state)
{
	(void)state;
	static const char order[] = "{\"orderId\": \"o-9\", \"amount\": 3, \"failAt\": \"charge\"}";
	portico_activity_env env;
	assert_int_equal(run(&env, run_step, &refund_step, order), PORTICO_ACTIVITY_COMPLETED);
	assert_json_equal(json_incref(env.result), "{\"refunded\": \"pay-o-9\", \"amount\": 3}");
	portico_activity_env_free(&env);
	assert_int_equal(run(&env, run_step, &release_step, order), PORTICO_ACTIVITY_COMPLETED);
	assert_json_equal(json_incref(env.result), "{\"released\": \"rsv-o-9\"}");
	portico_activity_env_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_each_step_answers_from_the_order_id),
	        cmocka_unit_test(test_an_injected_failure_is_not_retryable_and_only_at_its_step),
	        cmocka_unit_test(test_an_order_without_an_id_is_refused),
	        cmocka_unit_test(test_compensations_answer_from_the_order_id_and_ignore_failat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
