/* The encryption codec: the samples' test vector, round trips, rotation and clean failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "codec.h"

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
	const uint8_t nonce[PORTICO_CODEC_NONCE_BYTES] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
	portico_codec_seal((const uint8_t *)"test-key-test-key-test-key-test!", nonce, plain, length, sealed);
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
		assert_memory_not_equal(again->data.data, encoded->data.data, PORTICO_CODEC_NONCE_BYTES);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_the_samples_vector),
	        cmocka_unit_test(test_round_trip_with_and_without_compression),
	        cmocka_unit_test(test_rotation_keeps_old_data_readable),
	        cmocka_unit_test(test_failures_are_clean),
	        cmocka_unit_test(test_bad_key_rings_name_the_entry_not_the_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
