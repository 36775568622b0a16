/* The pure parts of the event stream: SSE framing (a value of several lines becomes several data:
 * lines, whatever its line breaks), the Accept header, Last-Event-ID, and ?filter= kinds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "history_event.h"
#include "sse.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"

#define TYPE(name) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##name

static void assert_frame(const char *name, const char *id, const char *data, const char *expected)
{
	size_t length;
	char *text = sse_frame(name, id, data, strlen(data), &length);
	assert_string_equal(text, expected);
	assert_int_equal(length, strlen(expected));
	free(text);
}

static void test_a_value_of_several_lines_is_several_data_lines(void **state)
{
	(void)state;
	assert_frame("EVENT_TYPE_TIMER_FIRED", "run-1:7", "{\"a\":1}",
	             "event: EVENT_TYPE_TIMER_FIRED\nid: run-1:7\ndata: {\"a\":1}\n\n");
	assert_frame("note", NULL, "one\ntwo\r\nthree\rfour",
	             "event: note\ndata: one\ndata: two\ndata: three\ndata: four\n\n");
	assert_frame(NULL, NULL, "", "data: \n\n");
	assert_frame(NULL, "r:1", "ends with a break\n", "id: r:1\ndata: ends with a break\ndata: \n\n");
	assert_frame(NULL, NULL, "\r\n\r\n", "data: \ndata: \ndata: \n\n");
}

static void test_accept_takes_event_streams_and_wildcards(void **state)
{
	(void)state;
	assert_true(sse_accepts(NULL));
	assert_true(sse_accepts("text/event-stream"));
	assert_true(sse_accepts("*/*"));
	assert_true(sse_accepts("application/json, Text/*;q=0.5"));
	assert_true(sse_accepts("text/event-stream; q=1"));
	assert_false(sse_accepts("application/json"));
	assert_false(sse_accepts("text/event-stream;q=0"));
	assert_false(sse_accepts("text/event-stream;q=0.000, */*;q=0"));
	assert_false(sse_accepts("text/event-streams"));
	assert_false(sse_accepts(""));
}

static void test_last_event_id_names_a_run_and_an_event(void **state)
{
	(void)state;
	char run[SSE_RUN_ID_MAX + 1];
	int64_t event = 0;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(
	        sse_event_id_parse("01a22a36-6237-77cf-a17b-f796e67a9fa3:19", "Last-Event-ID", run, &event, &err), 0);
	assert_string_equal(run, "01a22a36-6237-77cf-a17b-f796e67a9fa3");
	assert_int_equal(event, 19);
	char id[SSE_ID_SIZE];
	sse_event_id_format(id, run, event);
	assert_string_equal(id, "01a22a36-6237-77cf-a17b-f796e67a9fa3:19");

	static const char *const bad[] = {"",       ":",      "run",    "run:",    ":5",     "run:0",
	                                  "run:-1", "run:+1", "run:1x", "run:1:2", "r un:1", "run:1234567890123456789",
	                                  "r/n:1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		event = 42;
		assert_int_equal(sse_event_id_parse(bad[i], "Last-Event-ID", run, &event, &err), -1);
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		assert_non_null(strstr(err.message, "Last-Event-ID"));
		portico_error_clear(&err);
	}
	char long_run[SSE_RUN_ID_MAX + 4];
	memset(long_run, 'a', SSE_RUN_ID_MAX + 1);
	strcpy(long_run + SSE_RUN_ID_MAX + 1, ":1");
	assert_int_equal(sse_event_id_parse(long_run, "lastEventId", run, &event, &err), -1);
	portico_error_clear(&err);
}

static void test_filter_kinds(void **state)
{
	(void)state;
	unsigned mask, activity, timer;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(history_kinds_parse("activity", &activity, &err), 0);
	assert_int_equal(history_kinds_parse("timer", &timer, &err), 0);
	assert_int_equal(history_kinds_parse("timer,activity", &mask, &err), 0);
	assert_int_equal(mask, activity | timer);
	assert_true(history_event_kinds(TYPE(ACTIVITY_TASK_COMPLETED)) & activity);
	assert_true(history_event_kinds(TYPE(TIMER_FIRED)) & timer);
	assert_int_equal(history_event_kinds(TYPE(WORKFLOW_TASK_STARTED)), 0);
	assert_int_equal(history_kinds_parse("close", &mask, &err), 0);
	assert_true(history_event_kinds(TYPE(WORKFLOW_EXECUTION_CONTINUED_AS_NEW)) & mask);
	assert_int_equal(history_kinds_parse("signal,update,child", &mask, &err), 0);
	assert_true(history_event_kinds(TYPE(WORKFLOW_EXECUTION_SIGNALED)) & mask);
	assert_true(history_event_kinds(TYPE(WORKFLOW_EXECUTION_UPDATE_COMPLETED)) & mask);
	assert_true(history_event_kinds(TYPE(CHILD_WORKFLOW_EXECUTION_FAILED)) & mask);

	static const struct {
		const char *text, *says;
	} bad[] = {{"", "an empty item"},        {"activity,", "an empty item"}, {",timer", "an empty item"},
	           {"Activity", "\"Activity\""}, {"timers", "\"timers\""},       {"a\"b", "an item"}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(history_kinds_parse(bad[i].text, &mask, &err), -1);
		assert_int_equal(mask, 0);
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		assert_non_null(strstr(err.message, bad[i].says));
		assert_non_null(strstr(err.message, HISTORY_KINDS));
		portico_error_clear(&err);
	}
}

static void test_close_events_and_type_names(void **state)
{
	(void)state;
	assert_string_equal(history_event_close_status(TYPE(WORKFLOW_EXECUTION_TERMINATED)),
	                    "WORKFLOW_EXECUTION_STATUS_TERMINATED");
	assert_null(history_event_close_status(TYPE(WORKFLOW_EXECUTION_SIGNALED)));
	assert_string_equal(history_event_type_name(TYPE(ACTIVITY_TASK_COMPLETED)),
	                    "EVENT_TYPE_ACTIVITY_TASK_COMPLETED");
	assert_string_equal(history_event_type_name(100000), "EVENT_TYPE_UNSPECIFIED");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_a_value_of_several_lines_is_several_data_lines),
	        cmocka_unit_test(test_accept_takes_event_streams_and_wildcards),
	        cmocka_unit_test(test_last_event_id_names_a_run_and_an_event),
	        cmocka_unit_test(test_filter_kinds),
	        cmocka_unit_test(test_close_events_and_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
