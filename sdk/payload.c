#include "payload.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base64.h"
#include "json_parse.h"
#include "json_text.h"

#define METADATA_ENTRY Temporal__Api__Common__V1__Payload__MetadataEntry

static void set_binary(ProtobufCBinaryData *field, const uint8_t *data, size_t length)
{
	field->len = length;
	field->data = portico_malloc(length ? length : 1);
	if (length)
		memcpy(field->data, data, length);
}

void portico_payload_set_metadata(portico_payload *payload, const char *key, const uint8_t *value, size_t length)
{
	for (size_t i = 0; i < payload->n_metadata; i++) {
		if (!strcmp(payload->metadata[i]->key, key)) {
			free(payload->metadata[i]->value.data);
			set_binary(&payload->metadata[i]->value, value, length);
			return;
		}
	}
	METADATA_ENTRY *entry = portico_malloc(sizeof *entry);
	temporal__api__common__v1__payload__metadata_entry__init(entry);
	entry->key = portico_strdup(key);
	set_binary(&entry->value, value, length);
	payload->metadata = portico_realloc(payload->metadata, (payload->n_metadata + 1) * sizeof *payload->metadata);
	payload->metadata[payload->n_metadata++] = entry;
}

static portico_payload *payload_empty(void)
{
	portico_payload *payload = portico_malloc(sizeof *payload);
	temporal__api__common__v1__payload__init(payload);
	return payload;
}

portico_payload *portico_payload_new(const char *encoding, const uint8_t *data, size_t length)
{
	portico_payload *payload = payload_empty();
	portico_payload_set_metadata(payload, "encoding", (const uint8_t *)encoding, strlen(encoding));
	if (length)
		set_binary(&payload->data, data, length);
	return payload;
}

/* A payload of encoding holding the JSON text of value, which it takes rather than copies: a
 * megabyte argument is not copied once more on its way to Temporal. */
static portico_payload *payload_of_json(const char *encoding, const json_t *value)
{
	portico_payload *payload = payload_empty();
	portico_payload_set_metadata(payload, "encoding", (const uint8_t *)encoding, strlen(encoding));
	size_t raw_length;
	const char *raw = portico_json_raw_text(value, &raw_length);
	if (raw) { /* its text already: a megabyte copied once, not written into a doubling buffer */
		set_binary(&payload->data, (const uint8_t *)raw, raw_length);
		return payload;
	}
	size_t length;
	char *text = portico_json_to_payload_text(value, &length);
	/* The text's buffer grew by doubling: give back what the payload does not hold. */
	payload->data.data = portico_realloc(text, length);
	payload->data.len = length;
	return payload;
}

const ProtobufCBinaryData *portico_payload_metadata(const portico_payload *payload, const char *key)
{
	for (size_t i = 0; i < payload->n_metadata; i++)
		if (!strcmp(payload->metadata[i]->key, key))
			return &payload->metadata[i]->value;
	return NULL;
}

static int metadata_is(const portico_payload *payload, const char *key, const char *expected)
{
	const ProtobufCBinaryData *value = portico_payload_metadata(payload, key);
	return value && value->len == strlen(expected) && !memcmp(value->data, expected, value->len);
}

void portico_payload_free(portico_payload *payload)
{
	if (payload)
		protobuf_c_message_free_unpacked(&payload->base, NULL);
}

void portico_payloads_free(portico_payloads *payloads)
{
	if (payloads)
		protobuf_c_message_free_unpacked(&payloads->base, NULL);
}

char *portico_json_to_payload_text(const json_t *value, size_t *length)
{
	return portico_json_text(value, PORTICO_JSON_SORT_KEYS, length);
}

static int decode_base64_string(const json_t *value, uint8_t **out, size_t *length)
{
	if (!json_is_string(value))
		return -1;
	return portico_base64_decode(json_string_value(value), json_string_length(value), out, length);
}

/* Reads {"metadata": {...base64...}, "data": "base64"} (or binary/null without data); returns
 * NULL when value is not exactly that shape. */
static portico_payload *payload_from_full_form(const json_t *value)
{
	const json_t *metadata = json_object_get(value, "metadata");
	const json_t *data = json_object_get(value, "data");
	if (!json_is_object(metadata) || !json_object_get(metadata, "encoding"))
		return NULL;
	size_t expected_keys = data ? 2 : 1;
	if (json_object_size(value) != expected_keys)
		return NULL;

	portico_payload *payload = payload_empty();
	const char *key;
	json_t *entry;
	json_object_foreach((json_t *)metadata, key, entry)
	{
		uint8_t *bytes;
		size_t length;
		if (decode_base64_string(entry, &bytes, &length)) {
			portico_payload_free(payload);
			return NULL;
		}
		portico_payload_set_metadata(payload, key, bytes, length);
		free(bytes);
	}
	if (!data) {
		/* Only binary/null may leave out its data. */
		if (metadata_is(payload, "encoding", PORTICO_ENCODING_NULL))
			return payload;
		portico_payload_free(payload);
		return NULL;
	}
	uint8_t *bytes;
	size_t length;
	if (decode_base64_string(data, &bytes, &length)) {
		portico_payload_free(payload);
		return NULL;
	}
	payload->data.data = bytes;
	payload->data.len = length;
	return payload;
}

portico_payload *portico_payload_from_json(const json_t *value)
{
	if (json_is_null(value))
		return portico_payload_new(PORTICO_ENCODING_NULL, NULL, 0);
	if (json_is_object(value)) {
		portico_payload *payload = payload_from_full_form(value);
		if (payload)
			return payload;
		const json_t *message_type = json_object_get(value, PORTICO_PROTO_MESSAGE_TYPE_KEY);
		if (json_is_string(message_type)) {
			json_t *message = json_deep_copy(value);
			json_object_del(message, PORTICO_PROTO_MESSAGE_TYPE_KEY);
			payload = payload_of_json(PORTICO_ENCODING_PROTO_JSON, message);
			portico_payload_set_metadata(payload, "messageType",
			                             (const uint8_t *)json_string_value(message_type),
			                             json_string_length(message_type));
			json_decref(message);
			return payload;
		}
	}
	return payload_of_json(PORTICO_ENCODING_JSON, value);
}

static portico_payloads *payloads_empty(size_t count)
{
	portico_payloads *payloads = portico_malloc(sizeof *payloads);
	temporal__api__common__v1__payloads__init(payloads);
	if (count)
		payloads->payloads = portico_calloc(count, sizeof *payloads->payloads);
	return payloads;
}

portico_payloads *portico_payloads_of_values(const json_t *values)
{
	portico_payloads *payloads = payloads_empty(json_array_size(values));
	size_t index;
	const json_t *value;
	json_array_foreach(values, index, value)
	{
		payloads->payloads[payloads->n_payloads++] = payload_of_json(PORTICO_ENCODING_JSON, value);
	}
	return payloads;
}

portico_payloads *portico_payloads_from_json(const json_t *value, const char *field, portico_error *err)
{
	if (json_is_null(value))
		return payloads_empty(0);
	const json_t *array = value;
	int full_form = 0;
	if (json_is_object(value)) {
		/* An empty Payloads message in proto3 JSON: what histories hold for an activity or a
		 * signal with no arguments. */
		if (!json_object_size(value))
			return payloads_empty(0);
		array = json_object_get(value, "payloads");
		full_form = 1;
		if (!array || json_object_size(value) != 1 || !json_is_array(array)) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "%s: expected an array of payloads or {\"payloads\": [...]}", field);
			return NULL;
		}
	}
	if (!json_is_array(array)) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: expected an array of payloads, got a JSON %s",
		                  field,
		                  json_is_number(array) || portico_json_raw_number(array) ? "number"
		                  : json_is_string(array)                                 ? "string"
		                                                                          : "boolean");
		return NULL;
	}
	portico_payloads *payloads = payloads_empty(json_array_size(array));
	size_t index;
	const json_t *element;
	json_array_foreach(array, index, element)
	{
		portico_payload *payload = full_form
		                                   ? (json_is_object(element) ? payload_from_full_form(element) : NULL)
		                                   : portico_payload_from_json(element);
		if (!payload) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "%s.payloads[%zu]: expected {\"metadata\": {\"encoding\": base64}, \"data\": "
			                  "base64}",
			                  field, index);
			portico_payloads_free(payloads);
			return NULL;
		}
		payloads->payloads[payloads->n_payloads++] = payload;
	}
	return payloads;
}

portico_payloads *portico_payloads_from_json_text(const char *text, const char *field, portico_error *err)
{
	json_error_t parse_error;
	json_t *value = portico_json_parse(text, strlen(text), JSON_DECODE_ANY, &parse_error);
	if (!value) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: invalid JSON at line %d column %d: %s", field,
		                  parse_error.line, parse_error.column, parse_error.text);
		return NULL;
	}
	portico_payloads *payloads = portico_payloads_from_json(value, field, err);
	json_decref(value);
	return payloads;
}

/* Base64 is ASCII: jansson need not check it is UTF-8, a megabyte at a time. */
static json_t *binary_to_json(const ProtobufCBinaryData *bytes)
{
	char *text = portico_base64_encode(bytes->data, bytes->len);
	json_t *value = json_stringn_nocheck(text, 4 * ((bytes->len + 2) / 3));
	free(text);
	return value;
}

static json_t *payload_full_form(const portico_payload *payload, int omit_data)
{
	json_t *metadata = json_object();
	for (size_t i = 0; i < payload->n_metadata; i++)
		json_object_set_new(metadata, payload->metadata[i]->key, binary_to_json(&payload->metadata[i]->value));
	json_t *object = json_object();
	json_object_set_new(object, "metadata", metadata);
	if (!omit_data)
		json_object_set_new(object, "data", binary_to_json(&payload->data));
	return object;
}

/* Returns the shorthand value of a payload, or NULL when it has none. */
static json_t *payload_shorthand(const portico_payload *payload)
{
	/* null went in as binary/null and comes out as null, where Temporal's own HTTP API writes
	 * {"metadata": {"encoding": "YmluYXJ5L251bGw="}}: the shorthand's promise is the round trip. */
	if (metadata_is(payload, "encoding", PORTICO_ENCODING_NULL))
		return payload->n_metadata == 1 && !payload->data.len ? json_null() : payload_full_form(payload, 1);
	int plain = metadata_is(payload, "encoding", PORTICO_ENCODING_JSON) && payload->n_metadata == 1;
	const ProtobufCBinaryData *message_type = portico_payload_metadata(payload, "messageType");
	int proto = metadata_is(payload, "encoding", PORTICO_ENCODING_PROTO_JSON) && payload->n_metadata == 2 &&
	            message_type && message_type->len;
	if (!plain && !proto)
		return NULL;
	json_t *value = portico_json_parse((const char *)payload->data.data, payload->data.len, JSON_DECODE_ANY, NULL);
	if (!value || !proto)
		return value;
	if (!json_is_object(value)) {
		json_decref(value);
		return NULL;
	}
	json_object_set_new(value, PORTICO_PROTO_MESSAGE_TYPE_KEY,
	                    json_stringn((const char *)message_type->data, message_type->len));
	return value;
}

json_t *portico_payload_to_json(const portico_payload *payload, int shorthand)
{
	json_t *value = shorthand ? payload_shorthand(payload) : NULL;
	return value ? value : payload_full_form(payload, 0);
}

json_t *portico_payloads_to_json(const portico_payloads *payloads, int shorthand)
{
	json_t *array = json_array();
	for (size_t i = 0; shorthand && i < payloads->n_payloads; i++) {
		json_t *value = payload_shorthand(payloads->payloads[i]);
		if (!value)
			break;
		json_array_append_new(array, value);
	}
	if (shorthand && json_array_size(array) == payloads->n_payloads)
		return array;
	json_array_clear(array);
	for (size_t i = 0; i < payloads->n_payloads; i++)
		json_array_append_new(array, payload_full_form(payloads->payloads[i], 0));
	json_t *object = json_object();
	json_object_set_new(object, "payloads", array);
	return object;
}

static int encoding_is(const ProtobufCBinaryData *value, const char *text)
{
	return value && value->len == strlen(text) && !memcmp(value->data, text, value->len);
}

/* Reads payload as JSON into *value (a new reference; binary/null is JSON null). Returns NULL
 * when it could, else why not, for the log (the caller frees it), with *value NULL. */
char *portico_payload_read_json(const portico_payload *payload, json_t **value)
{
	const ProtobufCBinaryData *encoding = portico_payload_metadata(payload, "encoding");
	const ProtobufCBinaryData *codec_error = portico_payload_metadata(payload, "portico-codec-error");
	*value = NULL;
	if (codec_error)
		return portico_sprintf("it cannot be decrypted: %.*s", (int)codec_error->len,
		                       (const char *)codec_error->data);
	if (encoding_is(encoding, PORTICO_ENCODING_NULL)) {
		*value = json_null();
		return NULL;
	}
	if (encoding_is(encoding, PORTICO_ENCODING_JSON)) {
		json_error_t error;
		*value = json_loadb((const char *)payload->data.data, payload->data.len, JSON_DECODE_ANY, &error);
		return *value ? NULL : portico_sprintf("it is not valid JSON: %s", error.text);
	}
	if (encoding_is(encoding, "binary/encrypted"))
		return portico_strdup("it is encrypted and this worker has no codec keys (PORTICO_CODEC_KEYS)");
	if (!encoding)
		return portico_strdup("it has no encoding");
	return portico_sprintf("its encoding is %.*s, not json/plain", (int)encoding->len,
	                       (const char *)encoding->data);
}

json_t *portico_payload_value(const portico_payload *payload)
{
	json_t *value = NULL;
	free(portico_payload_read_json(payload, &value));
	return value ? value : json_null();
}

json_t *portico_payloads_values(const portico_payloads *payloads)
{
	json_t *array = json_array();
	for (size_t i = 0; payloads && i < payloads->n_payloads; i++)
		json_array_append_new(array, portico_payload_value(payloads->payloads[i]));
	return array;
}

json_t *portico_payloads_first_value(const portico_payloads *payloads)
{
	return payloads && payloads->n_payloads ? portico_payload_value(payloads->payloads[0]) : json_null();
}
