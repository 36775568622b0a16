/* A request's payloads read straight from its text (portico_json_parse_body, json_copy's sorted
 * copy) against the tree's way they were read before (portico_json_parse, then the tree's text):
 * the same payloads byte for byte (packed), the same body around them, the same errors; and the
 * sorted copy of a value against portico_json_text(tree, PORTICO_JSON_SORT_KEYS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_copy.h"
#include "json_parse.h"
#include "json_text.h"
#include "payload.h"
#include "packed_payloads.h"

/* Body text both ways (body_difference). Returns how many payloads came as raw values. */
static size_t assert_same_body(const char *text, size_t length)
{
	size_t raw = 0;
	const char *difference = body_difference(text, length, &raw);
	if (difference)
		fail_msg("%s: %.200s", difference, text);
	return raw;
}

/* The sorted copy of text: the tree's sorted text, or nothing added. */
static int assert_same_sorted(const char *text, size_t length)
{
	portico_json_buffer buffer = {NULL, 0, 0};
	portico_json_buffer_append(&buffer, "x", 1);
	size_t used = portico_json_copy_value(&buffer, text, length, PORTICO_JSON_SORT_KEYS, NULL, NULL);
	int copied = used == length && used;
	json_t *tree = portico_json_parse(text, length, JSON_DECODE_ANY, NULL);
	if (copied) {
		if (!tree)
			fail_msg("copied what the tree refuses: %.200s", text);
		char *expected = portico_json_text(tree, PORTICO_JSON_SORT_KEYS, NULL);
		if (strcmp(buffer.data + 1, expected))
			fail_msg("%.200s:\ncopied %.200s\ntree   %.200s", text, buffer.data + 1, expected);
		free(expected);
	} else if (!used) {
		assert_int_equal(buffer.length, 1);
	}
	json_decref(tree);
	free(buffer.data);
	return copied;
}

static const char *const values[] = {
        "{\"b\":1,\"a\":{\"d\":[3,{\"z\":1,\"y\":2}],\"c\":\"x\"}}",
        " { \"b\" : 2 ,\n\t\"a\" : { } , \"e\" : [ ] }\r\n",
        "{\"ab!\":1,\"ab\":2,\"a\":3,\"ab \":4,\"\":5}",
        "{\"\xc3\xa9\":1,\"z\":2,\"\xf0\x9f\x98\x80\":3,\"\\u00e8\":4,\"\\u0061\":5}",
        "{\"a\\nb\":1,\"a\":2}",
        "{\"a\\\"\":1,\"a\":2}",
        "{\"a\\\\\":1}",
        "{\"\\/\":1,\"/\":2}",
        "{\"a\":1,\"a\":2}",
        "{\"b\":1,\"a\":2,\"b\":3}",
        "{\"k9\":9,\"k8\":8,\"k7\":7,\"k6\":6,\"k5\":5,\"k4\":4,\"k3\":3,\"k2\":2,\"k1\":1,\"k10\":10}",
        "{\"k9\":9,\"k8\":8,\"k7\":7,\"k6\":6,\"k5\":5,\"k4\":4,\"k3\":3,\"k2\":2,\"k1\":1,\"k9\":0}",
        "[{\"b\":[1.50,-0,1e2,0.1],\"a\":null},true,\"s\\u00e9\\ud83d\\ude00\\/\"]",
        "{\"metadata\":{\"encoding\":\"YmluYXJ5L3BsYWlu\"},\"data\":\"eA==\"}",
        "{\"metadata\":1,\"b\":2}",
        "{\"_protoMessageType\":\"x.Y\",\"b\":2,\"a\":1}",
        "{\"a\":{\"metadata\":1,\"_protoMessageType\":2}}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":12345678901234567890}",
        "{\"a\":1e400}",
        "{\"a\":[1,]}",
        "{\"a\":truex}",
        "{\"a\":1",
        "{\"z\":{\"y\":{\"x\":{\"w\":1,\"v\":2},\"u\":3},\"t\":4},\"s\":5}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{\"b\":1,\"a\":2}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "{}",
        "[]",
        "null",
        "\"x\"",
        "3",
};
#define VALUE_COUNT (sizeof values / sizeof *values)

static void test_sorted_copy_is_the_trees_text(void **state)
{
	(void)state;
	size_t copied = 0;
	for (size_t i = 0; i < VALUE_COUNT; i++)
		copied += (size_t)assert_same_sorted(values[i], strlen(values[i]));
	assert_true(copied >= 15); /* the plain ones are copied, or it would save nothing */
}

/* Each value as an argument, alone, among others, and in the other places a body holds it. */
static void test_body_payloads_are_the_trees(void **state)
{
	(void)state;
	static const char *const bodies[] = {
	        "{\"args\":[%s],\"identity\":\"x\"}",
	        "{\"identity\":\"x\",\"args\":[1,%s,{\"q\":%s},null,[%s]]}",
	        "{\"signalArgs\":[%s],\"args\":[%s]}",
	        "{\"args\":[%s],\"args\":[2]}",
	        "{\"args\":{\"payloads\":[%s]}}",
	        "{\"args\":%s}",
	        "{\"input\":[%s],\"memo\":{\"fields\":{\"m\":%s}}}",
	        "{\"x\":{\"args\":[%s]}}",
	        "[{\"args\":[%s]}]",
	        "{\"args\":[%s] , \"b\":1e999}",
	        "{\"args\":[ %s ]",
	};
	size_t raw = 0;
	for (size_t b = 0; b < sizeof bodies / sizeof *bodies; b++) {
		for (size_t i = 0; i < VALUE_COUNT; i++) {
			char text[4096];
			int length = snprintf(text, sizeof text, bodies[b], values[i], values[i], values[i]);
			assert_true(length > 0 && (size_t)length < sizeof text);
			raw += assert_same_body(text, (size_t)length);
		}
	}
	assert_true(raw >= 20);
}

/* Records as json_bench sends them, with keys in every order, against the tree's payload. */
static void test_records(void **state)
{
	(void)state;
	static const char *const keys[] = {"id", "name", "price", "tags", "active", "Id", "n", "na"};
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (int round = 0; round < 300; round++) {
		char text[8192];
		size_t n = (size_t)snprintf(text, sizeof text, "{\"args\":[{\"items\":[");
		for (int record = 0; record < 20; record++) {
			n += (size_t)snprintf(text + n, sizeof text - n, "%s{", record ? "," : "");
			int fields = 1 + (int)(x % 8);
			for (int f = 0; f < fields; f++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				n += (size_t)snprintf(text + n, sizeof text - n, "%s\"%s\":%s", f ? "," : "",
				                      keys[x % 8],
				                      (x >> 8) % 3 == 0   ? "12.50"
				                      : (x >> 8) % 3 == 1 ? "[\"red\",{\"b\":1,\"a\":2}]"
				                                          : "\"item-\\u00e9\"");
			}
			n += (size_t)snprintf(text + n, sizeof text - n, "}");
		}
		n += (size_t)snprintf(text + n, sizeof text - n, "]}],\"identity\":\"bench\"}");
		assert_true(n < sizeof text);
		assert_same_body(text, n);
	}
}

/* Payloads that each need their keys sorted at every level: copying them moves their text once a
 * level, more than the whole body's budget (PORTICO_JSON_COPY_MOVES_PER_BYTE times its length)
 * allows for all of them. The first ones come as raw values, the rest as trees once the budget is
 * spent, and all as the same bytes. */
static void test_one_sorting_budget_for_the_whole_body(void **state)
{
	(void)state;
	enum { PAYLOADS = 50, LEVELS = 20 };
	portico_json_buffer body = {NULL, 0, 0};
	portico_json_buffer_append(&body, "{\"args\":[", 9);
	for (int i = 0; i < PAYLOADS; i++) {
		if (i)
			portico_json_buffer_append(&body, ",", 1);
		for (int level = 0; level < LEVELS; level++)
			portico_json_buffer_append(&body, "{\"b\":", 5);
		portico_json_buffer_append(&body, "\"padding\"", 9);
		for (int level = 0; level < LEVELS; level++)
			portico_json_buffer_append(&body, ",\"a\":1}", 7);
	}
	portico_json_buffer_append(&body, "]}", 2);
	size_t raw = assert_same_body(body.data, body.length);
	assert_true(raw > 0);            /* the fast path while the budget lasts */
	assert_true(raw < PAYLOADS / 2); /* then the tree's: a budget per payload let nearly all through */
	free(body.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sorted_copy_is_the_trees_text),
	        cmocka_unit_test(test_body_payloads_are_the_trees),
	        cmocka_unit_test(test_records),
	        cmocka_unit_test(test_one_sorting_budget_for_the_whole_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
