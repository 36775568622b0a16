/* The encryption codec: the samples' test vector, round trips, rotation and clean failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "json_assert.h"

#include "base64.h"
#include "codec.h"
#include "temporal/api/protocol/v1/message.pb-c.h"
#include "temporal/api/update/v1/message.pb-c.h"
#include "crypto.h"
#include "payload_walk.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

/* ASCII "test-key-test-key-test-key-test!" in base64. */
#define TEST_KEY    "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE="
#define OTHER_KEY   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define VECTOR_DATA "AAECAwQFBgcICQoL+SuJ2idoYdJlc5Wio/f30eikViKThZLQZ+6jNHLgVIJ9/nkN4q+R5hU7UzBXr5eQX5YJ3A=="

static portico_codec *codec_of(const char *text, int compress)
{
	portico_codec *codec;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_codec_from_text(text, "test", compress, &codec, &err), 0);
	assert_non_null(codec);
	return codec;
}

static portico_payload *temporal_payload(void)
{
	return portico_payload_new("json/plain", (const uint8_t *)"\"Temporal\"", 10);
}

static void assert_is_temporal(const portico_payload *payload)
{
	const ProtobufCBinaryData *encoding = portico_payload_metadata(payload, "encoding");
	assert_non_null(encoding);
	assert_memory_equal(encoding->data, "json/plain", 10);
	assert_int_equal(payload->data.len, 10);
	assert_memory_equal(payload->data.data, "\"Temporal\"", 10);
}

static void test_the_samples_vector(void **state)
{
	(void)state;
	/* Sealing the serialized inner payload with nonce 00..0b gives the samples' bytes. */
	portico_payload *inner = temporal_payload();
	size_t length = protobuf_c_message_get_packed_size(&inner->base);
	uint8_t plain[64], sealed[128];
	protobuf_c_message_pack(&inner->base, plain);
	const uint8_t nonce[PORTICO_AES_GCM_NONCE_BYTES] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
	portico_aes_gcm_seal((const uint8_t *)"test-key-test-key-test-key-test!", nonce, plain, length, sealed);
	char *text = portico_base64_encode(sealed, length + 28);
	assert_string_equal(text, VECTOR_DATA);
	free(text);
	portico_payload_free(inner);

	/* And the samples' payload decodes. */
	uint8_t *data;
	size_t data_length;
	assert_int_equal(portico_base64_decode(VECTOR_DATA, strlen(VECTOR_DATA), &data, &data_length), 0);
	portico_payload *outer = portico_payload_new(PORTICO_ENCODING_ENCRYPTED, data, data_length);
	portico_payload_set_metadata(outer, PORTICO_METADATA_KEY_ID, (const uint8_t *)"test-key-id", 11);
	free(data);
	portico_codec *codec = codec_of("test-key-id=" TEST_KEY, 0);
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload *decoded = portico_codec_decode(codec, outer, &err);
	assert_non_null(decoded);
	assert_is_temporal(decoded);
	portico_payload_free(decoded);
	portico_payload_free(outer);
	portico_codec_free(codec);
}

static void test_round_trip_with_and_without_compression(void **state)
{
	(void)state;
	for (int compress = 0; compress <= 1; compress++) {
		portico_codec *codec = codec_of("k1=" TEST_KEY, compress);
		portico_payload *plain = temporal_payload();
		portico_payload *encoded = portico_codec_encode(codec, plain);
		const ProtobufCBinaryData *id = portico_payload_metadata(encoded, PORTICO_METADATA_KEY_ID);
		assert_int_equal(id->len, 2);
		assert_memory_equal(id->data, "k1", 2);
		assert_int_equal(encoded->n_metadata, 2);
		portico_error err = PORTICO_ERROR_INIT;
		portico_payload *decoded = portico_codec_decode(codec, encoded, &err);
		assert_non_null(decoded);
		assert_is_temporal(decoded);
		/* A fresh nonce every time: the same payload never encrypts the same. */
		portico_payload *again = portico_codec_encode(codec, plain);
		assert_memory_not_equal(again->data.data, encoded->data.data, PORTICO_AES_GCM_NONCE_BYTES);
		portico_payload_free(again);
		portico_payload_free(decoded);
		portico_payload_free(encoded);
		portico_payload_free(plain);
		portico_codec_free(codec);
	}
}

static void test_rotation_keeps_old_data_readable(void **state)
{
	(void)state;
	portico_codec *old_ring = codec_of("old=" TEST_KEY, 0);
	portico_codec *new_ring = codec_of("new=" OTHER_KEY ",\n old=" TEST_KEY, 0);
	assert_string_equal(portico_codec_key_id(new_ring), "new");
	portico_payload *plain = temporal_payload();
	portico_payload *old_data = portico_codec_encode(old_ring, plain);
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload *decoded = portico_codec_decode(new_ring, old_data, &err);
	assert_non_null(decoded);
	assert_is_temporal(decoded);
	portico_payload_free(decoded);
	portico_payload_free(old_data);
	portico_payload_free(plain);
	portico_codec_free(old_ring);
	portico_codec_free(new_ring);
}

static void test_failures_are_clean(void **state)
{
	(void)state;
	portico_codec *codec = codec_of("k1=" TEST_KEY, 0);
	portico_codec *stranger = codec_of("k2=" TEST_KEY, 0);
	portico_payload *plain = temporal_payload();
	portico_payload *encoded = portico_codec_encode(codec, plain);
	portico_error err = PORTICO_ERROR_INIT;

	assert_null(portico_codec_decode(stranger, encoded, &err));
	assert_int_equal(err.code, PORTICO_NOT_FOUND);
	assert_string_equal(err.message, "payload encrypted with unknown key id \"k1\"");

	encoded->data.data[encoded->data.len - 1] ^= 1;
	assert_null(portico_codec_decode(codec, encoded, &err));
	assert_int_equal(err.code, PORTICO_DATA_LOSS);

	encoded->data.len = 20; /* shorter than nonce and tag */
	assert_null(portico_codec_decode(codec, encoded, &err));
	assert_int_equal(err.code, PORTICO_DATA_LOSS);
	portico_error_clear(&err);

	/* Not encrypted: passes through unchanged. */
	portico_payload *same = portico_codec_decode(codec, plain, &err);
	assert_is_temporal(same);
	portico_payload_free(same);
	portico_payload_free(encoded);
	portico_payload_free(plain);
	portico_codec_free(codec);
	portico_codec_free(stranger);
}

static void test_bad_key_rings_name_the_entry_not_the_key(void **state)
{
	(void)state;
	portico_codec *codec;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_codec_from_text("k1=c2hvcnQ=", "KEYS", 0, &codec, &err), -1);
	assert_non_null(strstr(err.message, "KEYS: key \"k1\" must be 32 bytes"));
	assert_null(strstr(err.message, "c2hvcnQ"));
	assert_int_equal(portico_codec_from_text("just-a-key", "KEYS", 0, &codec, &err), -1);
	assert_string_equal(err.message, "KEYS: entry 1 is not id=<base64 key>");
	assert_int_equal(portico_codec_from_text("a=" TEST_KEY ",a=" TEST_KEY, "KEYS", 0, &codec, &err), -1);
	assert_string_equal(err.message, "KEYS: key id \"a\" appears twice");
	assert_int_equal(portico_codec_from_text("# nothing\n\n", "KEYS", 0, &codec, &err), 0);
	assert_null(codec);
	portico_error_clear(&err);
}

/* A binary/zlib payload holding a json/plain payload of inflated_bytes zeros, compressed a chunk
 * at a time: the test never holds what it inflates to. */
static portico_payload *zlib_bomb(size_t inflated_bytes)
{
	static const uint8_t zeros[64 * 1024];
	portico_payload *inner = portico_payload_new("json/plain", NULL, 0);
	size_t header_length = protobuf_c_message_get_packed_size(&inner->base);
	uint8_t header[64];
	protobuf_c_message_pack(&inner->base, header);
	portico_payload_free(inner);
	/* field 2 (data), length-delimited, then the length as a varint */
	header[header_length++] = 0x12;
	for (size_t n = inflated_bytes; header_length < sizeof header; n >>= 7) {
		header[header_length++] = (uint8_t)((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
		if (n < 0x80)
			break;
	}
	z_stream stream;
	memset(&stream, 0, sizeof stream);
	assert_int_equal(deflateInit(&stream, Z_BEST_COMPRESSION), Z_OK);
	size_t capacity = inflated_bytes / 500 + 1024, used = 0;
	uint8_t *out = malloc(capacity);
	size_t left = inflated_bytes;
	int first = 1, status = Z_OK;
	while (status != Z_STREAM_END) {
		size_t take = left < sizeof zeros ? left : sizeof zeros;
		stream.next_in = first ? header : (uint8_t *)zeros;
		stream.avail_in = first ? (uInt)header_length : (uInt)take;
		int flush = !first && take == left ? Z_FINISH : Z_NO_FLUSH;
		do {
			if (capacity - used < 1024)
				out = realloc(out, capacity *= 2);
			stream.next_out = out + used;
			stream.avail_out = (uInt)(capacity - used);
			status = deflate(&stream, flush);
			used = capacity - stream.avail_out;
		} while (stream.avail_in || (flush == Z_FINISH && status != Z_STREAM_END));
		if (!first)
			left -= take;
		first = 0;
	}
	deflateEnd(&stream);
	portico_payload *bomb = portico_payload_new(PORTICO_ENCODING_ZLIB, out, used);
	free(out);
	return bomb;
}

static void test_a_zlib_bomb_stops_at_the_payload_limit(void **state)
{
	(void)state;
	portico_codec *codec = codec_of("k1=" TEST_KEY, 1);
	portico_payload *bomb = zlib_bomb(63u * 1024 * 1024);
	assert_true(bomb->data.len < 100 * 1024);
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, 2 * 1024 * 1024);
	portico_error err = PORTICO_ERROR_INIT;
	assert_null(portico_codec_decode_within(codec, bomb, &budget, &err));
	assert_int_equal(err.code, PORTICO_RESOURCE_EXHAUSTED);
	assert_string_equal(err.message, "a binary/zlib payload inflates past 2097152 bytes, the payload limit "
	                                 "(PORTICO_MAX_PAYLOAD_BYTES)");
	assert_int_equal(budget.remaining_bytes, budget.total_bytes);

	/* Inside an encrypted payload too, and with the default budget. */
	portico_codec_free(codec);
	codec = codec_of("k2=" TEST_KEY, 0);
	portico_payload *sealed = portico_codec_encode(codec, bomb);
	assert_null(portico_codec_decode(codec, sealed, &err));
	assert_int_equal(err.code, PORTICO_RESOURCE_EXHAUSTED);

	/* Just under the limit, it inflates. */
	portico_payload *fits = zlib_bomb(2 * 1024 * 1024 - 64);
	portico_payload *inflated = portico_codec_decode_within(codec, fits, &budget, &err);
	assert_non_null(inflated);
	assert_int_equal(inflated->data.len, 2 * 1024 * 1024 - 64);
	assert_true(budget.remaining_bytes < budget.total_bytes - 2 * 1024 * 1024 + 64);

	/* Truncated data is not a payload. */
	fits->data.len /= 2;
	assert_null(portico_codec_decode_within(codec, fits, &budget, &err));
	assert_int_equal(err.code, PORTICO_DATA_LOSS);
	portico_error_clear(&err);
	portico_payload_free(inflated);
	portico_payload_free(fits);
	portico_payload_free(sealed);
	portico_payload_free(bomb);
	portico_codec_free(codec);
}

static void test_a_message_decodes_within_one_budget(void **state)
{
	(void)state;
	portico_codec *codec = codec_of("k1=" TEST_KEY, 0);
	/* 1 MiB a payload makes an 8 MiB budget: eight payloads of 1000 KiB fit, the next two not. */
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, 1024 * 1024);
	assert_int_equal(budget.total_bytes, 8 * 1024 * 1024);
	portico_payloads payloads = TEMPORAL__API__COMMON__V1__PAYLOADS__INIT;
	portico_payload *items[10];
	for (size_t i = 0; i < 10; i++)
		items[i] = zlib_bomb(1000 * 1024);
	payloads.payloads = items;
	payloads.n_payloads = 10;
	portico_codec_decode_message_within(codec, &payloads.base, &budget);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(items[i]->data.len, 1000 * 1024);
	assert_int_equal(budget.left_encoded, 2);
	assert_string_equal(budget.left_encoded_field, "payloads[8]");
	for (size_t i = 8; i < 10; i++) {
		/* Left as it was, saying why. */
		const ProtobufCBinaryData *encoding = portico_payload_metadata(items[i], "encoding");
		assert_int_equal(encoding->len, strlen(PORTICO_ENCODING_ZLIB));
		assert_memory_equal(encoding->data, PORTICO_ENCODING_ZLIB, encoding->len);
		const ProtobufCBinaryData *why = portico_payload_metadata(items[i], "portico-codec-error");
		assert_non_null(why);
		char *text = strndup((const char *)why->data, why->len);
		assert_non_null(strstr(text, "that the payloads of one response or call may inflate to together"));
		free(text);
	}
	for (size_t i = 0; i < 10; i++)
		portico_payload_free(items[i]);
	portico_codec_free(codec);
}

static void test_compressed_payloads_must_fit_before_compression(void **state)
{
	(void)state;
	portico_codec *codec = codec_of("k1=" TEST_KEY, 1);
	size_t length = 3 * 1024 * 1024;
	uint8_t *zeros = calloc(1, length);
	portico_payload *big = portico_payload_new("json/plain", zeros, length);
	free(zeros);
	portico_payloads input = TEMPORAL__API__COMMON__V1__PAYLOADS__INIT;
	input.payloads = &big;
	input.n_payloads = 1;
	Temporal__Api__Workflowservice__V1__SignalWorkflowExecutionRequest request =
	        TEMPORAL__API__WORKFLOWSERVICE__V1__SIGNAL_WORKFLOW_EXECUTION_REQUEST__INIT;
	request.input = &input;
	portico_payload_size largest;
	portico_error err = PORTICO_ERROR_INIT;
	/* Compressed, it is a few kilobytes; read back, it would inflate past the limit. */
	assert_int_equal(portico_codec_encode_message(codec, &request.base, 2 * 1024 * 1024, &largest, &err), -1);
	assert_int_equal(err.code, PORTICO_RESOURCE_EXHAUSTED);
	assert_string_equal(largest.field, "input[0]");
	assert_int_equal(largest.limit_bytes, 2 * 1024 * 1024);
	assert_true(largest.bytes > length);
	assert_non_null(strstr(err.message, "before compression"));
	portico_error_clear(&err);
	portico_payload_free(big);
	portico_codec_free(codec);
}

/* A StartWorkflowExecutionRequest whose memo has count fields of value_bytes each. */
static Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start_with_memo(size_t count,
                                                                                          size_t value_bytes)
{
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *request = calloc(1, sizeof *request);
	temporal__api__workflowservice__v1__start_workflow_execution_request__init(request);
	request->memo = calloc(1, sizeof *request->memo);
	temporal__api__common__v1__memo__init(request->memo);
	request->memo->fields = calloc(count, sizeof *request->memo->fields);
	uint8_t *value = malloc(value_bytes);
	memset(value, '7', value_bytes);
	for (size_t i = 0; i < count; i++) {
		Temporal__Api__Common__V1__Memo__FieldsEntry *entry = calloc(1, sizeof *entry);
		temporal__api__common__v1__memo__fields_entry__init(entry);
		entry->key = malloc(24);
		snprintf(entry->key, 24, "k%zu", i);
		entry->value = portico_payload_new("json/plain", value, value_bytes);
		request->memo->fields[request->memo->n_fields++] = entry;
	}
	free(value);
	return request;
}

static void test_a_memo_is_limited_as_a_whole(void **state)
{
	(void)state;
	/* 100,000 tiny fields: each far under the payload limit, together over the memo limit. */
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *request = start_with_memo(100000, 1);
	portico_payload_size largest;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_codec_encode_message(NULL, &request->base, 2 * 1024 * 1024, &largest, &err), -1);
	assert_int_equal(err.code, PORTICO_RESOURCE_EXHAUSTED);
	assert_string_equal(largest.field, "memo");
	assert_int_equal(largest.limit_bytes, PORTICO_MAX_MEMO_BYTES);
	assert_true(largest.bytes > PORTICO_MAX_MEMO_BYTES);
	assert_non_null(strstr(err.message, "limit.memoSize.error"));
	portico_error_clear(&err);
	/* No limits asked for, none applied. */
	assert_int_equal(portico_codec_encode_message(NULL, &request->base, 0, &largest, &err), 0);
	protobuf_c_message_free_unpacked(&request->base, NULL);
}

static void test_the_whole_request_is_limited(void **state)
{
	(void)state;
	/* Each part under its own limit, the whole over Temporal's 4 MiB per message. */
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *request = start_with_memo(1, 1900 * 1024);
	size_t length = 1900 * 1024;
	uint8_t *bytes = malloc(length);
	memset(bytes, 'a', length);
	request->input = calloc(1, sizeof *request->input);
	temporal__api__common__v1__payloads__init(request->input);
	request->input->payloads = calloc(1, sizeof *request->input->payloads);
	request->input->payloads[request->input->n_payloads++] = portico_payload_new("json/plain", bytes, length);
	request->workflow_id = calloc(1, 600 * 1024);
	memset(request->workflow_id, 'w', 600 * 1024 - 1);
	free(bytes);
	portico_payload_size largest;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_codec_encode_message(NULL, &request->base, 2 * 1024 * 1024, &largest, &err), -1);
	assert_string_equal(largest.field, "body");
	assert_int_equal(largest.limit_bytes, PORTICO_MAX_REQUEST_BYTES);
	assert_true(largest.bytes > PORTICO_MAX_REQUEST_BYTES);
	assert_non_null(strstr(err.message, "gRPC message"));
	portico_error_clear(&err);
	protobuf_c_message_free_unpacked(&request->base, NULL);
}

/* An update's request inside a workflow task's protocol message: its arguments are encoded and
 * decoded like any other payload, and the Any is packed again. */
static void test_payloads_inside_an_any_are_encoded_and_decoded(void **state)
{
	(void)state;
	portico_codec *codec = codec_of("k1=" TEST_KEY, 0);
	Temporal__Api__Update__V1__Request request = TEMPORAL__API__UPDATE__V1__REQUEST__INIT;
	Temporal__Api__Update__V1__Input input = TEMPORAL__API__UPDATE__V1__INPUT__INIT;
	input.name = "setAmount";
	input.args = portico_payloads_from_json_text("[{\"amount\":42}]", "args", NULL);
	request.input = &input;
	Temporal__Api__Protocol__V1__Message message = TEMPORAL__API__PROTOCOL__V1__MESSAGE__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = "type.googleapis.com/temporal.api.update.v1.Request";
	any.value.len = protobuf_c_message_get_packed_size(&request.base);
	any.value.data = malloc(any.value.len);
	protobuf_c_message_pack(&request.base, any.value.data);
	message.body = &any;
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload_size largest;
	assert_int_equal(
	        portico_codec_encode_message(codec, &message.base, PORTICO_DEFAULT_MAX_PAYLOAD_BYTES, &largest, &err),
	        0);
	assert_string_equal(largest.field, "body.input.args"); /* the size guard sees inside the Any */
	Temporal__Api__Update__V1__Request *sealed =
	        temporal__api__update__v1__request__unpack(NULL, any.value.len, any.value.data);
	assert_non_null(sealed);
	const ProtobufCBinaryData *encoding = portico_payload_metadata(sealed->input->args->payloads[0], "encoding");
	assert_memory_equal(encoding->data, "binary/encrypted", encoding->len);
	temporal__api__update__v1__request__free_unpacked(sealed, NULL);
	portico_codec_decode_message(codec, &message.base);
	Temporal__Api__Update__V1__Request *opened =
	        temporal__api__update__v1__request__unpack(NULL, any.value.len, any.value.data);
	json_t *args = portico_payloads_values(opened->input->args);
	assert_json_equal(args, "[{\"amount\":42}]");
	temporal__api__update__v1__request__free_unpacked(opened, NULL);
	free(any.value.data);
	portico_payloads_free(input.args);
	portico_codec_free(codec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_the_samples_vector),
	        cmocka_unit_test(test_round_trip_with_and_without_compression),
	        cmocka_unit_test(test_rotation_keeps_old_data_readable),
	        cmocka_unit_test(test_failures_are_clean),
	        cmocka_unit_test(test_bad_key_rings_name_the_entry_not_the_key),
	        cmocka_unit_test(test_a_zlib_bomb_stops_at_the_payload_limit),
	        cmocka_unit_test(test_a_message_decodes_within_one_budget),
	        cmocka_unit_test(test_compressed_payloads_must_fit_before_compression),
	        cmocka_unit_test(test_a_memo_is_limited_as_a_whole),
	        cmocka_unit_test(test_the_whole_request_is_limited),
	        cmocka_unit_test(test_payloads_inside_an_any_are_encoded_and_decoded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
