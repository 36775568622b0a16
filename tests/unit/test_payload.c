/* Payload shorthand in and out, as Temporal's HTTP API reads and writes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_assert.h"

#include "json_parse.h"
#include "json_text.h"
#include "payload.h"

static portico_payload *payload_of(const char *text)
{
	json_t *value = parse(text);
	portico_payload *payload = portico_payload_from_json(value);
	json_decref(value);
	return payload;
}

static void assert_metadata(const portico_payload *payload, const char *key, const char *expected)
{
	const ProtobufCBinaryData *value = portico_payload_metadata(payload, key);
	assert_non_null(value);
	assert_int_equal(value->len, strlen(expected));
	assert_memory_equal(value->data, expected, value->len);
}

static void assert_data(const portico_payload *payload, const char *expected)
{
	assert_int_equal(payload->data.len, strlen(expected));
	assert_memory_equal(payload->data.data, expected, payload->data.len);
}

static void test_array_shorthand_makes_json_plain_payloads(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	json_t *value = parse("[\"hi\", {\"b\": 1, \"a\": [true, 2.5]}, null]");
	portico_payloads *payloads = portico_payloads_from_json(value, "input", &err);
	assert_non_null(payloads);
	assert_int_equal(payloads->n_payloads, 3);
	assert_metadata(payloads->payloads[0], "encoding", "json/plain");
	assert_data(payloads->payloads[0], "\"hi\"");
	assert_data(payloads->payloads[1], "{\"a\":[true,2.5],\"b\":1}");
	assert_metadata(payloads->payloads[2], "encoding", "binary/null");
	assert_int_equal(payloads->payloads[2]->data.len, 0);
	portico_payloads_free(payloads);
	json_decref(value);
}

static void test_full_form_payload_is_taken_as_is(void **state)
{
	(void)state;
	/* encoding "binary/encrypted", data bytes 00 01 02 */
	json_t *value = parse("[{\"metadata\": {\"encoding\": \"YmluYXJ5L2VuY3J5cHRlZA==\", \"k\": \"dg\"}, "
	                      "\"data\": \"AAEC\"}]");
	portico_error err = PORTICO_ERROR_INIT;
	portico_payloads *payloads = portico_payloads_from_json(value, "input", &err);
	assert_non_null(payloads);
	assert_metadata(payloads->payloads[0], "encoding", "binary/encrypted");
	assert_metadata(payloads->payloads[0], "k", "v");
	assert_int_equal(payloads->payloads[0]->data.len, 3);
	assert_memory_equal(payloads->payloads[0]->data.data, "\0\1\2", 3);

	/* Written back, an encrypted payload makes the field fall back to full form. */
	assert_json_equal(
	        portico_payloads_to_json(payloads, 1),
	        "{\"payloads\": [{\"metadata\": {\"encoding\": \"YmluYXJ5L2VuY3J5cHRlZA==\", \"k\": \"dg==\"}, "
	        "\"data\": \"AAEC\"}]}");
	portico_payloads_free(payloads);
	json_decref(value);
}

static void test_object_that_only_looks_like_a_payload_is_json(void **state)
{
	(void)state;
	/* Three keys, or data that is not base64: plain JSON values. */
	portico_payload *payload =
	        payload_of("{\"metadata\": {\"encoding\": \"YQ==\"}, \"data\": \"YQ==\", \"extra\": 1}");
	assert_metadata(payload, "encoding", "json/plain");
	portico_payload_free(payload);
	payload = payload_of("{\"metadata\": {\"encoding\": \"YQ==\"}, \"data\": \"not base64!\"}");
	assert_metadata(payload, "encoding", "json/plain");
	portico_payload_free(payload);
}

static void test_proto3_json_form_is_accepted(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	json_t *value =
	        parse("{\"payloads\": [{\"metadata\": {\"encoding\": \"anNvbi9wbGFpbg==\"}, \"data\": \"MQ==\"}]}");
	portico_payloads *payloads = portico_payloads_from_json(value, "input", &err);
	assert_non_null(payloads);
	assert_data(payloads->payloads[0], "1");
	assert_json_equal(portico_payloads_to_json(payloads, 1), "[1]");
	assert_json_equal(portico_payloads_to_json(payloads, 0),
	                  "{\"payloads\": [{\"metadata\": {\"encoding\": \"anNvbi9wbGFpbg==\"}, \"data\": \"MQ==\"}]}");
	portico_payloads_free(payloads);
	json_decref(value);

	/* An empty Payloads message is {} in proto3 JSON (an activity scheduled with no arguments). */
	value = parse("{}");
	payloads = portico_payloads_from_json(value, "input", &err);
	assert_non_null(payloads);
	assert_int_equal(payloads->n_payloads, 0);
	portico_payloads_free(payloads);
	json_decref(value);
}

static void test_bad_payloads_field_names_the_field(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	json_t *value = parse("\"just a string\"");
	assert_null(portico_payloads_from_json(value, "input", &err));
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	assert_string_equal(err.message, "input: expected an array of payloads, got a JSON string");
	json_decref(value);

	value = parse("{\"payloads\": [42]}");
	assert_null(portico_payloads_from_json(value, "input", &err));
	assert_non_null(strstr(err.message, "input.payloads[0]"));
	json_decref(value);

	assert_null(portico_payloads_from_json_text("[1,", "args", &err));
	assert_non_null(strstr(err.message, "args: invalid JSON"));
	portico_error_clear(&err);
}

static void test_binary_null_round_trips_as_null(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	portico_payloads *payloads = portico_payloads_from_json_text("[null]", "input", &err);
	json_t *out = portico_payloads_to_json(payloads, 1);
	assert_json_equal(json_incref(out), "[null]");
	portico_payloads *again = portico_payloads_from_json(out, "input", &err);
	assert_non_null(again);
	assert_metadata(again->payloads[0], "encoding", "binary/null");
	json_decref(out);
	portico_payloads_free(again);
	portico_payloads_free(payloads);
}

static void test_json_protobuf_keeps_its_message_type(void **state)
{
	(void)state;
	portico_payload *payload = payload_of("{\"_protoMessageType\": \"x.Y\", \"name\": \"n\"}");
	assert_metadata(payload, "encoding", "json/protobuf");
	assert_metadata(payload, "messageType", "x.Y");
	assert_data(payload, "{\"name\":\"n\"}");
	assert_json_equal(portico_payload_to_json(payload, 1), "{\"_protoMessageType\": \"x.Y\", \"name\": \"n\"}");
	portico_payload_free(payload);
}

static void test_empty_and_null_fields(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	portico_payloads *payloads = portico_payloads_from_json(json_null(), "input", &err);
	assert_non_null(payloads);
	assert_int_equal(payloads->n_payloads, 0);
	assert_json_equal(portico_payloads_to_json(payloads, 1), "[]");
	portico_payloads_free(payloads);
}

/* Writes value as Portico sends JSON; the caller frees the text. */
static char *text_of(const json_t *value)
{
	return portico_json_text(value, 0, NULL);
}

static void test_numbers_beyond_64_bits_keep_every_digit(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	const char *args = "[123456789012345678901234567890,{\"n\":-98765432109876543210987,\"r\":1e400},"
	                   "9223372036854775807,18446744073709551616,0.1]";
	portico_payloads *payloads = portico_payloads_from_json_text(args, "args", &err);
	assert_non_null(payloads);
	assert_int_equal(payloads->n_payloads, 5);
	assert_data(payloads->payloads[0], "123456789012345678901234567890");
	assert_data(payloads->payloads[1], "{\"n\":-98765432109876543210987,\"r\":1e400}");
	assert_data(payloads->payloads[2], "9223372036854775807");
	assert_data(payloads->payloads[3], "18446744073709551616");
	assert_data(payloads->payloads[4], "0.1");
	/* And back out in shorthand, not in full form. */
	json_t *out = portico_payloads_to_json(payloads, 1);
	char *text = text_of(out);
	assert_string_equal(text, args);
	free(text);
	json_decref(out);
	portico_payloads_free(payloads);
}

static void test_only_numbers_jansson_refuses_are_kept_raw(void **state)
{
	(void)state;
	json_error_t error;
	/* Text that is not JSON stays refused, big number or not. */
	const char *refused[] = {"[99999999999999999999-1]", "[99999999999999999999", "[99999999999999999999,]",
	                         "[\"\\u0000\", 99999999999999999999]", "[-099999999999999999999]"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (portico_json_parse(refused[i], strlen(refused[i]), JSON_DECODE_ANY, &error))
			fail_msg("accepted %s", refused[i]);
	/* Numbers in strings are strings; a string cannot pass for a raw number. */
	const char *text = "{\"a\":\"99999999999999999999\",\"b\":99999999999999999999,\"c\":1}";
	json_t *value = portico_json_parse(text, strlen(text), 0, &error);
	assert_non_null(value);
	assert_null(portico_json_raw_number(json_object_get(value, "a")));
	assert_string_equal(portico_json_raw_number(json_object_get(value, "b")), "99999999999999999999");
	assert_int_equal(json_integer_value(json_object_get(value, "c")), 1);
	json_decref(value);
	json_t *lookalike = json_stringn("\0001\"", 3);
	char *written = text_of(lookalike);
	assert_string_equal(written, "\"\\u00001\\\"\"");
	free(written);
	json_decref(lookalike);
}

/* A string that starts with a NUL and JSON text (a webhook's raw body, an HTTP response, a jq
 * string) stays a string: only portico_json_parse_body makes raw objects and arrays. */
static void test_a_string_cannot_pass_for_a_raw_object(void **state)
{
	(void)state;
	static const char forged[] = "\0{\"injected\":true}, \"x\": [";
	json_t *value = json_pack("{s:s%}", "event", forged, sizeof forged - 1);
	char *written = text_of(value);
	assert_string_equal(written, "{\"event\":\"\\u0000{\\\"injected\\\":true}, \\\"x\\\": [\"}");
	free(written);
	portico_payload *payload = portico_payload_from_json(json_object_get(value, "event"));
	assert_int_equal(payload->data.len, sizeof "\"\\u0000{\\\"injected\\\":true}, \\\"x\\\": [\"" - 1);
	assert_memory_equal(payload->data.data, "\"\\u0000{", 8);
	portico_payload_free(payload);
	json_decref(value);
	size_t length;
	json_t *mark_only = json_stringn_nocheck(PORTICO_JSON_RAW_MARK, PORTICO_JSON_RAW_MARK_LENGTH);
	assert_null(portico_json_raw_text(mark_only, &length)); /* the mark alone is no value */
	json_decref(mark_only);
}

/* Nor can a string of a NUL and a number's text pass for a raw number: it is written, and becomes a
 * payload's data, as the string it is. */
static void test_a_string_cannot_pass_for_a_raw_number(void **state)
{
	(void)state;
	json_t *forged = json_stringn("\0"
	                              "123",
	                              4);
	assert_null(portico_json_raw_number(forged));
	char *written = text_of(forged);
	assert_string_equal(written, "\"\\u0000123\"");
	free(written);
	portico_payload *payload = portico_payload_from_json(forged);
	assert_data(payload, "\"\\u0000123\"");
	portico_payload_free(payload);
	json_decref(forged);
	/* Through portico_json_parse as a body holding both: the string stays one, the number is kept
	 * digit for digit. */
	const char *text = "[\"\\u0000123\",123456789012345678901234567890]";
	json_t *value = portico_json_parse(text, strlen(text), 0, NULL);
	assert_null(value); /* \u0000 is refused, whatever numbers the text holds */
	text = "[\"123\",123456789012345678901234567890,1e400]";
	value = portico_json_parse(text, strlen(text), 0, NULL);
	written = text_of(value);
	assert_string_equal(written, text);
	free(written);
	json_decref(value);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_array_shorthand_makes_json_plain_payloads),
	        cmocka_unit_test(test_full_form_payload_is_taken_as_is),
	        cmocka_unit_test(test_object_that_only_looks_like_a_payload_is_json),
	        cmocka_unit_test(test_proto3_json_form_is_accepted),
	        cmocka_unit_test(test_bad_payloads_field_names_the_field),
	        cmocka_unit_test(test_binary_null_round_trips_as_null),
	        cmocka_unit_test(test_json_protobuf_keeps_its_message_type),
	        cmocka_unit_test(test_empty_and_null_fields),
	        cmocka_unit_test(test_numbers_beyond_64_bits_keep_every_digit),
	        cmocka_unit_test(test_only_numbers_jansson_refuses_are_kept_raw),
	        cmocka_unit_test(test_a_string_cannot_pass_for_a_raw_object),
	        cmocka_unit_test(test_a_string_cannot_pass_for_a_raw_number),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
