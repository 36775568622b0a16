/* portico_protojson_write against the tree's way (portico_protojson_encode, then portico_json_text):
 * the same bytes for every message of the API filled with values, for recorded histories, and for
 * payload data of every shape; and portico_json_copy against portico_json_parse + portico_json_text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "alloc.h"
#include "json_copy.h"
#include "json_parse.h"
#include "json_text.h"
#include "payload.h"
#include "proto_path.h"
#include "proto_registry.h"
#include "protojson.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"

/* Deep enough to reach payloads inside failures inside events; past it messages stay unset. */
#define FILL_DEPTH 4

/* Payload data of every shape the shorthand meets: plain, escaped, non-ASCII, numbers of each
 * kind (the first COPIED_TEXTS copied in one pass), and the ones the tree must decide (repeated
 * keys, \u0000, big numbers, not JSON). */
#define COPIED_TEXTS 6
static const char *const json_texts[] = {
        "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}",
        " { \"b\" : 2 ,\n\t\"a\" : { } , \"e\" : [ ] }\r\n",
        "\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \\/ \\b\\f\\n\\r\\t \\\" \\\\ \\u001f \\u007f \xf0\x9f\x98\x80\"",
        "[0,-0,1,-1,123456789012345678,-123456789012345678]",
        "[0.1,1.0,1e2,1E-2,-0.0,2.5e-308,3.141592653589793,100000000000000000000.0,1e-320]",
        "[12.250,100.000,0.0001,0.00001,0.000123456789012345,123456789012345.0,1234567890123456.0,"
        "99999999999999.9,999999999999999.9,0.30000000000000004,-12.5,1.5e3,-0.0000,0.100000000000000000001]",
        "[1234567890123456789,99999999999999999999]",
        "[1e-400,1e400]",
        "[1.00000000000000000000000000000000000000000000000000000000000000001]",
        "{\"a\":1,\"a\":2}",
        "{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k1\":0}",
        "{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k10\":{\"k1\":1}}",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "\"\xed\xa0\x80\"",
        "\"\xc0\xaf\"",
        "\"\xff\"",
        "\"a\x01\"",
        "truex",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "-",
        "1.",
        "1e",
        "[1 2]",
        "",
        "   ",
        "null",
        "\"plain\"",
        "42",
        "{\"_protoMessageType\":\"x\"}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
};
#define JSON_TEXT_COUNT (sizeof json_texts / sizeof *json_texts)

/* Every allocation a filled message makes, freed together (the message is packed and unpacked
 * before it is written, so it need not free as protobuf-c's own). */
typedef struct arena {
	void **blocks;
	size_t count;
} arena;

static void *arena_alloc(arena *a, size_t size)
{
	a->blocks = portico_realloc(a->blocks, (a->count + 1) * sizeof *a->blocks);
	return a->blocks[a->count++] = portico_calloc(1, size ? size : 1);
}

static void arena_free(arena *a)
{
	for (size_t i = 0; i < a->count; i++)
		free(a->blocks[i]);
	free(a->blocks);
}

static char *arena_strdup(arena *a, const char *text)
{
	char *copy = arena_alloc(a, strlen(text) + 1);
	strcpy(copy, text);
	return copy;
}

static ProtobufCMessage *fill(arena *a, const ProtobufCMessageDescriptor *descriptor, unsigned seed, int depth);

/* Sets a payload from seed: its encoding, metadata, and json_texts[text] as its data. */
static void fill_payload(arena *a, Temporal__Api__Common__V1__Payload *payload, unsigned seed, size_t text)
{
	static const char *const encodings[] = {"json/plain", "json/plain", "binary/null", "json/protobuf",
	                                        "binary/plain"};
	const char *encoding = encodings[seed % 5];
	size_t entries = 1 + (seed % 5 == 3) + (seed % 7 == 6);
	payload->metadata = arena_alloc(a, entries * sizeof *payload->metadata);
	payload->n_metadata = entries;
	for (size_t i = 0; i < entries; i++) {
		Temporal__Api__Common__V1__Payload__MetadataEntry *entry = arena_alloc(a, sizeof *entry);
		temporal__api__common__v1__payload__metadata_entry__init(entry);
		const char *key = i == 0 ? "encoding" : i == 1 && seed % 5 == 3 ? "messageType" : "extra";
		const char *value = i == 0 ? encoding : "temporal.api.common.v1.WorkflowType";
		entry->key = arena_strdup(a, key);
		entry->value.data = (uint8_t *)arena_strdup(a, value);
		entry->value.len = strlen(value);
		payload->metadata[i] = entry;
	}
	if (seed % 5 != 2 || seed % 3 == 0) {
		payload->data.data = (uint8_t *)arena_strdup(a, json_texts[text]);
		payload->data.len = strlen(json_texts[text]);
	}
}

/* Sets the value at member (one element of a repeated field) from seed. */
static void fill_value(arena *a, const ProtobufCFieldDescriptor *field, void *member, unsigned seed, int depth)
{
	static const char *const strings[] = {
	        "text", "quote \" backslash \\ newline \n tab \t", "caf\xc3\xa9", "\x01\x1f", "not UTF-8 \xff", ""};
	switch (field->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *)member = seed % 2 ? -5 - (int32_t)seed : INT32_MAX;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)member = seed % 2 ? 7 + seed : UINT32_MAX;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)member = seed % 2 ? -1234567890123 : INT64_MIN;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)member = seed % 2 ? 42 : UINT64_MAX;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)member = seed % 3 == 0 ? 0.1f : seed % 3 == 1 ? 1e30f : -2.5f;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)member = seed % 3 == 0 ? 0.1 : seed % 3 == 1 ? 1e300 : 3.0;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)member = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *type = field->descriptor;
		*(int *)member = seed % 4 == 3 ? 999 : type->values[(seed + 1) % type->n_values].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		*(char **)member = arena_strdup(a, strings[seed % 6]);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *bytes = member;
		bytes->len = seed % 5;
		bytes->data = arena_alloc(a, bytes->len);
		for (size_t i = 0; i < bytes->len; i++)
			bytes->data[i] = (uint8_t)(0xfb + i);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)member = depth < FILL_DEPTH ? fill(a, field->descriptor, seed, depth + 1) : NULL;
		break;
	}
}

static size_t element_size(const ProtobufCFieldDescriptor *field)
{
	switch (field->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* A message of descriptor's type with every field set (one member of each oneof, chosen by seed),
 * the well-known types and payloads given values of their own. */
static ProtobufCMessage *fill(arena *a, const ProtobufCMessageDescriptor *descriptor, unsigned seed, int depth)
{
	ProtobufCMessage *message = arena_alloc(a, descriptor->sizeof_message);
	protobuf_c_message_init(descriptor, message);
	if (descriptor == &temporal__api__common__v1__payload__descriptor) {
		/* Mostly what one pass copies, so that the messages around go that way too. */
		fill_payload(a, (Temporal__Api__Common__V1__Payload *)message, seed,
		             seed % 8 ? seed % COPIED_TEXTS : seed % JSON_TEXT_COUNT);
		return message;
	}
	if (descriptor == &google__protobuf__any__descriptor) {
		Google__Protobuf__Any *any = (Google__Protobuf__Any *)message;
		const portico_proto_entry *inner = &portico_proto_messages[seed % portico_proto_message_count];
		char url[256];
		snprintf(url, sizeof url, "type.googleapis.com/%s", inner->full_name);
		any->type_url = arena_strdup(a, seed % 4 == 3 ? "type.googleapis.com/unknown.Type" : url);
		if (depth < FILL_DEPTH) {
			ProtobufCMessage *value = fill(a, inner->descriptor, seed + 1, depth + 1);
			any->value.len = protobuf_c_message_get_packed_size(value);
			any->value.data = arena_alloc(a, any->value.len);
			protobuf_c_message_pack(value, any->value.data);
		}
		return message;
	}
	for (unsigned i = 0; i < descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
		char *member = (char *)message + field->offset;
		if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *which = (uint32_t *)((char *)message + field->quantifier_offset);
			if (*which == 0 || seed % 2) {
				*which = field->id;
				fill_value(a, field, member, seed + i, depth);
			}
			continue;
		}
		if (field->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = 1 + (seed + i) % 3;
			if (field->type == PROTOBUF_C_TYPE_MESSAGE && depth >= FILL_DEPTH)
				continue;
			char *array = arena_alloc(a, count * element_size(field));
			for (size_t j = 0; j < count; j++)
				fill_value(a, field, array + j * element_size(field), seed + (unsigned)(i + 7 * j),
				           depth);
			/* Map keys must differ unless seed asks for a repeat (which the tree decides). */
			if (field->type == PROTOBUF_C_TYPE_MESSAGE && portico_proto_is_map_entry(field->descriptor) &&
			    seed % 5) {
				const ProtobufCMessageDescriptor *entry_type = field->descriptor;
				for (size_t j = 0; j < count; j++) {
					char *entry = *(char **)(array + j * sizeof(void *));
					const ProtobufCFieldDescriptor *key = &entry_type->fields[0];
					if (key->type == PROTOBUF_C_TYPE_STRING) {
						char text[32];
						snprintf(text, sizeof text, "key%zu%s", j, j == 2 ? " \xff" : "");
						*(char **)(entry + key->offset) = arena_strdup(a, text);
					} else if (element_size(key) == 8) {
						*(int64_t *)(entry + key->offset) = (int64_t)j;
					} else {
						*(int32_t *)(entry + key->offset) = (int32_t)j;
					}
				}
			}
			*(size_t *)((char *)message + field->quantifier_offset) = count;
			*(char **)member = array;
			continue;
		}
		if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset &&
		    field->type != PROTOBUF_C_TYPE_MESSAGE && field->type != PROTOBUF_C_TYPE_STRING)
			*(protobuf_c_boolean *)((char *)message + field->quantifier_offset) = 1;
		fill_value(a, field, member, seed + i, depth);
	}
	return message;
}

/* Asserts that both ways write message the same, with and without payload shorthand. */
static void assert_same_text(const ProtobufCMessage *message)
{
	for (int shorthand = 0; shorthand <= 1; shorthand++) {
		const portico_protojson_options options = {.payload_shorthand = shorthand};
		json_t *tree = portico_protojson_encode(message, &options);
		size_t tree_length, written_length;
		char *expected = portico_json_text(tree, 0, &tree_length);
		json_decref(tree);
		char *written = portico_protojson_write(message, &options, &written_length);
		if (tree_length != written_length || memcmp(expected, written, tree_length))
			fail_msg("%s (shorthand %d):\nwritten %s\ntree    %s", message->descriptor->name, shorthand,
			         written, expected);
		free(expected);
		free(written);
	}
}

static void test_every_message_filled(void **state)
{
	(void)state;
	for (size_t i = 0; i < portico_proto_message_count; i++) {
		for (unsigned seed = 0; seed < 6; seed++) {
			arena a = {NULL, 0};
			ProtobufCMessage *filled =
			        fill(&a, portico_proto_messages[i].descriptor, seed + (unsigned)i, 0);
			size_t length = protobuf_c_message_get_packed_size(filled);
			uint8_t *packed = portico_malloc(length ? length : 1);
			protobuf_c_message_pack(filled, packed);
			arena_free(&a);
			ProtobufCMessage *message =
			        protobuf_c_message_unpack(portico_proto_messages[i].descriptor, NULL, length, packed);
			free(packed);
			if (!message)
				fail_msg("%s does not unpack", portico_proto_messages[i].full_name);
			assert_same_text(message);
			protobuf_c_message_free_unpacked(message, NULL);
		}
	}
}

/* The messages as protobuf-c makes them: every field at its default. */
static void test_every_message_empty(void **state)
{
	(void)state;
	for (size_t i = 0; i < portico_proto_message_count; i++) {
		const ProtobufCMessageDescriptor *descriptor = portico_proto_messages[i].descriptor;
		ProtobufCMessage *message = portico_calloc(1, descriptor->sizeof_message);
		protobuf_c_message_init(descriptor, message);
		assert_same_text(message);
		free(message);
	}
}

static void test_recorded_histories(void **state)
{
	(void)state;
	static const char *const files[] = {
	        "tests/unit/histories/one_activity.json",
	        "tests/unit/histories/one_activity_shorthand.json",
	        "tests/unit/histories/one_activity_legacy.json",
	        "tests/unit/histories/one_activity_other_type.json",
	        "examples/workflows/histories/order-saga-completed.json",
	        "examples/workflows/histories/approval-approved.json",
	        "examples/workflows/histories/github-push.json",
	        "examples/workflows-c/histories/order-saga-child.json",
	        "examples/flows/histories/order-saga-compensated.json",
	};
	const portico_protojson_decode_options lenient = {.ignore_unknown = 1};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		json_error_t error;
		json_t *value = json_load_file(files[i], 0, &error);
		if (!value)
			fail_msg("%s: %s", files[i], error.text);
		portico_error err = PORTICO_ERROR_INIT;
		ProtobufCMessage *history = portico_protojson_decode_with(
		        &temporal__api__history__v1__history__descriptor, value, &lenient, &err);
		if (!history)
			fail_msg("%s: %s", files[i], err.message);
		assert_same_text(history);
		protobuf_c_message_free_unpacked(history, NULL);
		json_decref(value);
	}
}

/* Every text of json_texts as the data of each payload encoding. */
static void test_payload_data(void **state)
{
	(void)state;
	for (unsigned seed = 0; seed < 5 * 7 * JSON_TEXT_COUNT; seed++) {
		arena a = {NULL, 0};
		Temporal__Api__Common__V1__Payloads payloads = TEMPORAL__API__COMMON__V1__PAYLOADS__INIT;
		Temporal__Api__Common__V1__Payload *items[2];
		for (int i = 0; i < 2; i++) {
			items[i] = arena_alloc(&a, sizeof *items[i]);
			temporal__api__common__v1__payload__init(items[i]);
			fill_payload(&a, items[i], seed + (unsigned)i * 3, (seed / 35 + (unsigned)i) % JSON_TEXT_COUNT);
		}
		payloads.payloads = items;
		payloads.n_payloads = 2;
		assert_same_text(&payloads.base);
		assert_same_text(&items[0]->base);
		arena_free(&a);
	}
}

static void test_json_copy(void **state)
{
	(void)state;
	for (size_t i = 0; i < JSON_TEXT_COUNT; i++) {
		const char *text = json_texts[i];
		portico_json_buffer buffer = {NULL, 0, 0};
		portico_json_buffer_append(&buffer, "x", 1);
		int copied = portico_json_copy(&buffer, text, strlen(text));
		json_t *tree = portico_json_parse(text, strlen(text), JSON_DECODE_ANY, NULL);
		if (copied == 0) {
			if (!tree)
				fail_msg("copied what the tree refuses: %s", text);
			char *expected = portico_json_text(tree, 0, NULL);
			if (strcmp(buffer.data + 1, expected))
				fail_msg("%s:\ncopied %s\ntree   %s", text, buffer.data + 1, expected);
			free(expected);
		} else {
			assert_int_equal(buffer.length, 1);
		}
		json_decref(tree);
		free(buffer.data);
	}
}

/* Numbers of every length of integer part, fraction and exponent, each copied as the tree writes it
 * (the short reals are copied without strtod: this holds that to the tree's digits). */
static void test_json_copy_numbers(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (int round = 0; round < 100000; round++) {
		char text[96];
		size_t n = 0;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t bits = x;
		if (bits & 1)
			text[n++] = '-';
		size_t integer = (bits >> 1) % 19, fraction = (bits >> 6) % 22, zeros = (bits >> 11) % 6;
		if (integer == 0 || (bits >> 16) % 3 == 0) {
			text[n++] = '0';
		} else {
			for (size_t i = 0; i < integer; i++)
				text[n++] = (char)('0' + (i == 0 ? 1 + (x >> (i + 20)) % 9 : (x >> (i + 20)) % 10));
		}
		if (fraction || (bits >> 18) % 2) {
			text[n++] = '.';
			for (size_t i = 0; i < zeros; i++)
				text[n++] = '0';
			for (size_t i = 0; i <= fraction; i++)
				text[n++] = (char)('0' + (x >> (i + 30)) % 10);
			for (size_t i = 0; i < (bits >> 50) % 4; i++)
				text[n++] = '0';
		}
		if ((bits >> 20) % 5 == 0)
			n += (size_t)snprintf(text + n, sizeof text - n, "e%d", (int)((bits >> 24) % 40) - 20);
		text[n] = '\0';
		portico_json_buffer buffer = {NULL, 0, 0};
		json_t *tree = portico_json_parse(text, n, JSON_DECODE_ANY, NULL);
		if (portico_json_copy(&buffer, text, n) == 0) {
			char *expected = portico_json_text(tree, 0, NULL);
			if (strcmp(buffer.data, expected))
				fail_msg("%s:\ncopied %s\ntree   %s", text, buffer.data, expected);
			free(expected);
		}
		json_decref(tree);
		free(buffer.data);
	}
}

/* Timestamps over RFC 3339's years and past them, against gmtime_r (what the tree's way used alone
 * before): the written text of each is the date gmtime_r gives. */
static void test_timestamps(void **state)
{
	(void)state;
	static const int64_t edges[] = {0,
	                                -1,
	                                86399,
	                                86400,
	                                -86400,
	                                -86401,
	                                951782400 /* 2000-02-29 */,
	                                4107542400 /* 2100-03-01 */,
	                                -62135596800,
	                                -62135596801,
	                                253402300799,
	                                253402300800,
	                                INT64_MAX,
	                                INT64_MIN};
	uint64_t x = 0x2545f4914f6cdd1du;
	for (int round = 0; round < 200000; round++) {
		Google__Protobuf__Timestamp timestamp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t edge_count = sizeof edges / sizeof *edges;
		timestamp.seconds = round < (int)edge_count ? edges[round]
		                    : round % 2             ? (int64_t)(x % 316224000000u) - 62167219200
		                                            : (int64_t)(x % 4000000000u) - 100000000;
		timestamp.nanos = (int32_t)(x >> 40) % 1000000000;
		char *written = portico_protojson_write(&timestamp.base, NULL, NULL);
		time_t t = (time_t)timestamp.seconds;
		struct tm utc;
		char expected[96];
		if (gmtime_r(&t, &utc) && utc.tm_year + 1900 >= 1 && utc.tm_year + 1900 <= 9999) {
			snprintf(expected, sizeof expected, "\"%04d-%02d-%02dT%02d:%02d:%02d", utc.tm_year + 1900,
			         utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
			if (strncmp(written, expected, strlen(expected)))
				fail_msg("%lld: written %s, gmtime_r %s", (long long)timestamp.seconds, written,
				         expected);
		}
		json_t *tree = portico_protojson_encode(&timestamp.base, NULL);
		char *text = portico_json_text(tree, 0, NULL);
		assert_string_equal(written, text);
		free(text);
		json_decref(tree);
		free(written);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_message_filled),
	        cmocka_unit_test(test_every_message_empty),
	        cmocka_unit_test(test_recorded_histories),
	        cmocka_unit_test(test_payload_data),
	        cmocka_unit_test(test_json_copy),
	        cmocka_unit_test(test_json_copy_numbers),
	        cmocka_unit_test(test_timestamps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
