#define _GNU_SOURCE /* memmem */
#include "protojson.h"

#include <ctype.h>
#include <stdatomic.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "base64.h"
#include "json_copy.h"
#include "json_scan.h"
#include "json_text.h"
#include "payload.h"
#include "proto_path.h"
#include "proto_registry.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

#define NAME_MAX_LENGTH        128
#define TYPE_URL_PREFIX        "type.googleapis.com/"
#define PROTO_MESSAGE_TYPE_KEY "_protoMessageType" /* payload.c's */

/* The JSON form of the message types that have one of their own. */
typedef enum special_kind {
	KIND_PLAIN,
	KIND_TIMESTAMP,
	KIND_DURATION,
	KIND_ANY,
	KIND_EMPTY,
	KIND_FIELD_MASK,
	KIND_WRAPPER,
	KIND_PAYLOAD,
	KIND_PAYLOADS,
} special_kind;

static special_kind kind_of(const ProtobufCMessageDescriptor *descriptor)
{
	if (descriptor == &google__protobuf__timestamp__descriptor)
		return KIND_TIMESTAMP;
	if (descriptor == &google__protobuf__duration__descriptor)
		return KIND_DURATION;
	if (descriptor == &google__protobuf__any__descriptor)
		return KIND_ANY;
	if (descriptor == &google__protobuf__empty__descriptor)
		return KIND_EMPTY;
	if (descriptor == &google__protobuf__field_mask__descriptor)
		return KIND_FIELD_MASK;
	if (descriptor == &temporal__api__common__v1__payload__descriptor)
		return KIND_PAYLOAD;
	if (descriptor == &temporal__api__common__v1__payloads__descriptor)
		return KIND_PAYLOADS;
	if (!strncmp(descriptor->name, "google.protobuf.", 16) && strstr(descriptor->name, "Value") &&
	    descriptor->n_fields == 1)
		return KIND_WRAPPER;
	return KIND_PLAIN;
}

void portico_protojson_json_name(const char *proto_name, char *out, size_t size)
{
	size_t n = 0;
	int upper_next = 0;
	for (const char *p = proto_name; *p && n + 1 < size; p++) {
		if (*p == '_') {
			upper_next = 1;
			continue;
		}
		out[n++] = upper_next ? (char)toupper((unsigned char)*p) : *p;
		upper_next = 0;
	}
	out[n] = '\0';
}

/* "workflowId" -> "workflow_id", for field masks. */
static void proto_name_of(const char *json_name, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = json_name; *p && n + 2 < size; p++) {
		if (isupper((unsigned char)*p)) {
			out[n++] = '_';
			out[n++] = (char)tolower((unsigned char)*p);
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

static int is_map_entry(const ProtobufCFieldDescriptor *field)
{
	return field->type == PROTOBUF_C_TYPE_MESSAGE && field->label == PROTOBUF_C_LABEL_REPEATED &&
	       portico_proto_is_map_entry(field->descriptor);
}

static size_t value_size(const ProtobufCFieldDescriptor *field)
{
	switch (field->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4;
	}
}

/* ---- Encoding ------------------------------------------------------------------------------- */

static json_t *encode_message(const ProtobufCMessage *message, const portico_protojson_options *options);

static json_t *encode_double(double value)
{
	if (isnan(value))
		return json_string("NaN");
	if (isinf(value))
		return json_string(value > 0 ? "Infinity" : "-Infinity");
	return json_real(value);
}

static json_t *encode_string(const char *text)
{
	json_t *value = json_string(text);
	return value ? value : json_string_nocheck(text);
}

/* Encodes the value stored at member, a field's storage (one element for repeated fields). */
static json_t *encode_value(const ProtobufCFieldDescriptor *field, const void *member,
                            const portico_protojson_options *options)
{
	char number[32];
	switch (field->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)member);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)member);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(number, sizeof number, "%" PRId64, *(const int64_t *)member);
		return json_string(number);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(number, sizeof number, "%" PRIu64, *(const uint64_t *)member);
		return json_string(number);
	case PROTOBUF_C_TYPE_FLOAT:
		return encode_double(*(const float *)member);
	case PROTOBUF_C_TYPE_DOUBLE:
		return encode_double(*(const double *)member);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)member);
	case PROTOBUF_C_TYPE_ENUM: {
		int value = *(const int *)member;
		const ProtobufCEnumValue *named = protobuf_c_enum_descriptor_get_value(field->descriptor, value);
		return named ? json_string(named->name) : json_integer(value);
	}
	case PROTOBUF_C_TYPE_STRING:
		return encode_string(*(char *const *)member);
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bytes = member;
		char *text = portico_base64_encode(bytes->data, bytes->len);
		json_t *value = json_string(text);
		free(text);
		return value;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return encode_message(*(ProtobufCMessage *const *)member, options);
	}
	return json_null();
}

static int is_default(const ProtobufCFieldDescriptor *field, const void *member)
{
	switch (field->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *text = *(char *const *)member;
		return !text || !*text;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)member)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)member == NULL;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)member == 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)member == 0;
	default:
		return value_size(field) == 8 ? *(const uint64_t *)member == 0 : *(const uint32_t *)member == 0;
	}
}

/* Writes value as exactly width decimal digits, zero-padded; returns the end. Every response
 * carries timestamps, so they are written by hand rather than with snprintf. */
static char *put_digits(char *out, uint32_t value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (char)('0' + value % 10);
		value /= 10;
	}
	return out + width;
}

/* ".123", ".123456" or ".123456789" (as few digit groups as exact), or nothing for 0; nanos
 * within 0..999,999,999. Returns the end; out needs 10 bytes. */
static char *put_fraction(char *out, uint32_t nanos)
{
	if (nanos == 0)
		return out;
	*out++ = '.';
	if (nanos % 1000000 == 0)
		return put_digits(out, nanos / 1000000, 3);
	if (nanos % 1000 == 0)
		return put_digits(out, nanos / 1000, 6);
	return put_digits(out, nanos, 9);
}

/* The first second of year 1 and the last of year 9999, RFC 3339's years. */
#define FIRST_RFC3339_SECOND (-62135596800)
#define LAST_RFC3339_SECOND  253402300799

/* The UTC date and time of seconds since 1970 (the fields timestamp_text reads), as gmtime_r gives
 * them, and all zero where gmtime_r fails. Within RFC 3339's years by arithmetic on the proleptic
 * Gregorian calendar (days to a date by 400-year eras), which every response's timestamps take,
 * rather than through gmtime_r. */
static void utc_of(int64_t seconds, struct tm *utc)
{
	if (seconds < FIRST_RFC3339_SECOND || seconds > LAST_RFC3339_SECOND) {
		time_t t = (time_t)seconds;
		if (!gmtime_r(&t, utc))
			memset(utc, 0, sizeof *utc);
		return;
	}
	int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
	int64_t second_of_day = seconds - days * 86400;
	/* Days since 0000-03-01, in eras of 146,097 days (400 years), so that leap days end years. */
	int64_t shifted = days + 719468;
	int64_t era = (shifted >= 0 ? shifted : shifted - 146096) / 146097;
	int64_t day_of_era = shifted - era * 146097;
	int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	int64_t month_from_march = (5 * day_of_year + 2) / 153;
	int64_t month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
	memset(utc, 0, sizeof *utc);
	utc->tm_year = (int)(year_of_era + era * 400 + (month <= 2) - 1900);
	utc->tm_mon = (int)month - 1;
	utc->tm_mday = (int)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
	utc->tm_hour = (int)(second_of_day / 3600);
	utc->tm_min = (int)(second_of_day / 60 % 60);
	utc->tm_sec = (int)(second_of_day % 60);
}

/* Writes timestamp's JSON text into text, which holds TIME_TEXT_SIZE bytes; returns its length. */
#define TIME_TEXT_SIZE 96
static size_t timestamp_text(const Google__Protobuf__Timestamp *timestamp, char *text)
{
	struct tm utc;
	utc_of(timestamp->seconds, &utc);
	uint32_t nanos = timestamp->nanos >= 0 && timestamp->nanos <= 999999999 ? (uint32_t)timestamp->nanos : 0;
	/* "YYYY-MM-DDTHH:MM:SS[.fraction]Z": four-digit years always (a year outside RFC 3339's
	 * range is printed as it comes). */
	int year = utc.tm_year + 1900;
	char *end = year >= 1 && year <= 9999 ? put_digits(text, (uint32_t)year, 4)
	                                      : text + snprintf(text, TIME_TEXT_SIZE, "%04d", year);
	*end++ = '-';
	end = put_digits(end, (uint32_t)utc.tm_mon + 1, 2);
	*end++ = '-';
	end = put_digits(end, (uint32_t)utc.tm_mday, 2);
	*end++ = 'T';
	end = put_digits(end, (uint32_t)utc.tm_hour, 2);
	*end++ = ':';
	end = put_digits(end, (uint32_t)utc.tm_min, 2);
	*end++ = ':';
	end = put_digits(end, (uint32_t)utc.tm_sec, 2);
	end = put_fraction(end, nanos);
	*end++ = 'Z';
	*end = '\0';
	return (size_t)(end - text);
}

static json_t *encode_timestamp(const Google__Protobuf__Timestamp *timestamp)
{
	char text[TIME_TEXT_SIZE];
	timestamp_text(timestamp, text);
	return json_string(text);
}

/* Writes duration's JSON text into text, which holds TIME_TEXT_SIZE bytes; returns its length. */
static size_t duration_text(const Google__Protobuf__Duration *duration, char *text)
{
	char fraction[16];
	int negative = duration->seconds < 0 || duration->nanos < 0;
	/* Unsigned, so that the least int64 has a magnitude too. */
	uint64_t seconds = duration->seconds < 0 ? 0 - (uint64_t)duration->seconds : (uint64_t)duration->seconds;
	int64_t nanos = duration->nanos < 0 ? -(int64_t)duration->nanos : duration->nanos;
	*put_fraction(fraction, nanos > 999999999 ? 0 : (uint32_t)nanos) = '\0';
	return (size_t)snprintf(text, TIME_TEXT_SIZE, "%s%" PRIu64 "%ss", negative ? "-" : "", seconds, fraction);
}

static json_t *encode_duration(const Google__Protobuf__Duration *duration)
{
	char text[TIME_TEXT_SIZE];
	duration_text(duration, text);
	return json_string(text);
}

static json_t *encode_any(const Google__Protobuf__Any *any, const portico_protojson_options *options)
{
	json_t *object = json_object();
	json_object_set_new(object, "@type", encode_string(any->type_url));
	const ProtobufCMessageDescriptor *type = portico_proto_message_by_type_url(any->type_url);
	ProtobufCMessage *inner = type ? protobuf_c_message_unpack(type, NULL, any->value.len, any->value.data) : NULL;
	if (!inner) {
		char *text = portico_base64_encode(any->value.data, any->value.len);
		json_object_set_new(object, "value", json_string(text));
		free(text);
		return object;
	}
	json_t *encoded = encode_message(inner, options);
	protobuf_c_message_free_unpacked(inner, NULL);
	if (json_is_object(encoded) && kind_of(type) == KIND_PLAIN)
		json_object_update(object, encoded);
	else
		json_object_set(object, "value", encoded);
	json_decref(encoded);
	return object;
}

/* The mask's paths in lowerCamel, joined by commas; the caller frees it. */
static char *field_mask_text(const Google__Protobuf__FieldMask *mask)
{
	size_t length = 0;
	char **names = portico_calloc(mask->n_paths, sizeof *names);
	for (size_t i = 0; i < mask->n_paths; i++) {
		names[i] = portico_malloc(strlen(mask->paths[i]) + 1);
		portico_protojson_json_name(mask->paths[i], names[i], strlen(mask->paths[i]) + 1);
		length += strlen(names[i]) + 1;
	}
	char *joined = portico_calloc(1, length + 1);
	for (size_t i = 0; i < mask->n_paths; i++) {
		if (i)
			strcat(joined, ",");
		strcat(joined, names[i]);
		free(names[i]);
	}
	free(names);
	return joined;
}

static json_t *encode_field_mask(const Google__Protobuf__FieldMask *mask)
{
	char *joined = field_mask_text(mask);
	json_t *value = json_string(joined);
	free(joined);
	return value;
}

static json_t *encode_map(const ProtobufCFieldDescriptor *field, ProtobufCMessage *const *entries, size_t count,
                          const portico_protojson_options *options)
{
	const ProtobufCMessageDescriptor *entry_type = field->descriptor;
	const ProtobufCFieldDescriptor *key_field = &entry_type->fields[0];
	const ProtobufCFieldDescriptor *value_field = &entry_type->fields[1];
	json_t *object = json_object();
	for (size_t i = 0; i < count; i++) {
		const char *entry = (const char *)entries[i];
		json_t *key = encode_value(key_field, entry + key_field->offset, options);
		char number[32];
		const char *key_text = json_is_string(key) ? json_string_value(key) : number;
		if (json_is_integer(key))
			snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value(key));
		else if (json_is_boolean(key))
			snprintf(number, sizeof number, "%s", json_is_true(key) ? "true" : "false");
		json_object_set_new(object, key_text, encode_value(value_field, entry + value_field->offset, options));
		json_decref(key);
	}
	return object;
}

static json_t *encode_special(special_kind kind, const ProtobufCMessage *message,
                              const portico_protojson_options *options)
{
	switch (kind) {
	case KIND_TIMESTAMP:
		return encode_timestamp((const Google__Protobuf__Timestamp *)message);
	case KIND_DURATION:
		return encode_duration((const Google__Protobuf__Duration *)message);
	case KIND_ANY:
		return encode_any((const Google__Protobuf__Any *)message, options);
	case KIND_FIELD_MASK:
		return encode_field_mask((const Google__Protobuf__FieldMask *)message);
	case KIND_WRAPPER: {
		const ProtobufCFieldDescriptor *field = &message->descriptor->fields[0];
		return encode_value(field, (const char *)message + field->offset, options);
	}
	case KIND_PAYLOAD:
		return portico_payload_to_json((const portico_payload *)message, options && options->payload_shorthand);
	case KIND_PAYLOADS:
		return portico_payloads_to_json((const portico_payloads *)message,
		                                options && options->payload_shorthand);
	default:
		return json_object();
	}
}

static json_t *encode_message(const ProtobufCMessage *message, const portico_protojson_options *options)
{
	if (!message)
		return json_null();
	special_kind kind = kind_of(message->descriptor);
	if (kind != KIND_PLAIN)
		return encode_special(kind, message, options);

	json_t *object = json_object();
	const ProtobufCMessageDescriptor *descriptor = message->descriptor;
	for (unsigned i = 0; i < descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
		const char *base = (const char *)message;
		const void *member = base + field->offset;
		json_t *value;
		if (field->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(const size_t *)(base + field->quantifier_offset);
			if (!count)
				continue;
			const char *array = *(char *const *)member;
			if (is_map_entry(field)) {
				value = encode_map(field, (ProtobufCMessage *const *)array, count, options);
			} else {
				value = json_array();
				for (size_t j = 0; j < count; j++)
					json_array_append_new(
					        value, encode_value(field, array + j * value_size(field), options));
			}
		} else if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)(base + field->quantifier_offset) != field->id)
				continue;
			value = encode_value(field, member, options);
		} else {
			if (is_default(field, member))
				continue;
			value = encode_value(field, member, options);
		}
		char name[NAME_MAX_LENGTH];
		portico_protojson_json_name(field->name, name, sizeof name);
		json_object_set_new(object, name, value);
	}
	return object;
}

json_t *portico_protojson_encode(const ProtobufCMessage *message, const portico_protojson_options *options)
{
	return encode_message(message, options);
}

/* ---- Writing text --------------------------------------------------------------------------- */

/* What writing a value came to. The tree's way leaves a value out where jansson refuses it
 * (json_string of a field mask that is not UTF-8, a map key that is not, a NULL string): the
 * writer leaves it out too. What the tree does and one pass cannot (a map or metadata key given
 * twice, payload data that is not plain JSON) makes the whole message go the tree's way. */
enum {
	WRITTEN = 0,
	LEFT_OUT = -1, /* the value is not there: the caller takes back its key */
	USE_TREE = -2,
};

/* Maps and metadata with more entries go the tree's way: their keys are checked for repeats pair
 * by pair. */
#define MAX_CHECKED_KEYS 64
/* Field keys cached (FIELD_KEY_SLOTS of them; the API has a few thousand fields, answers use a
 * few hundred). */
#define FIELD_KEY_BITS  12
#define FIELD_KEY_SLOTS (1u << FIELD_KEY_BITS)
/* What a describe's answer takes, about. */
#define INITIAL_TEXT_SIZE 2048

typedef struct writer {
	portico_json_buffer *out;
	int payload_shorthand;
} writer;

static int write_message(writer *w, const ProtobufCMessage *message);

static inline void put(writer *w, const char *text, size_t length)
{
	portico_json_buffer *out = w->out;
	if (out->length + length >= out->capacity) {
		portico_json_buffer_append(out, text, length);
		return;
	}
	memcpy(out->data + out->length, text, length);
	out->length += length;
	out->data[out->length] = '\0';
}

/* Takes back what was written after mark. */
static void put_back(writer *w, size_t mark)
{
	w->out->length = mark;
	if (w->out->data)
		w->out->data[mark] = '\0';
}

/* Adds value in decimal, in quotes when quoted (64-bit integers are strings in proto3 JSON). */
static void put_unsigned(writer *w, uint64_t value, int negative, int quoted)
{
	char text[24], *end = text + sizeof text, *start = end;
	if (quoted)
		*--start = '"';
	do {
		*--start = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	if (negative)
		*--start = '-';
	if (quoted)
		*--start = '"';
	put(w, start, (size_t)(end - start));
}

static void put_integer(writer *w, int64_t value, int quoted)
{
	put_unsigned(w, value < 0 ? 0 - (uint64_t)value : (uint64_t)value, value < 0, quoted);
}

/* Whether no byte of text needs escaping in a JSON string: none below 0x20, no '"', no '\\'. */
static int plain_text(const char *text, size_t length)
{
	return portico_json_plain_run(text, length, 0) == length;
}

/* A JSON string of text (length bytes): in one copy when nothing needs escaping, as field values
 * mostly do not, else as portico_json_append_string writes it. */
static void put_string(writer *w, const char *text, size_t length)
{
	if (!plain_text(text, length)) {
		portico_json_append_string(w->out, text, length);
		return;
	}
	char *at = portico_json_buffer_reserve(w->out, length + 2);
	at[0] = '"';
	memcpy(at + 1, text, length);
	at[length + 1] = '"';
	w->out->length += length + 2;
	w->out->data[w->out->length] = '\0';
}

static void put_double(writer *w, double value)
{
	if (isnan(value))
		put(w, "\"NaN\"", 5);
	else if (isinf(value))
		put(w, value > 0 ? "\"Infinity\"" : "\"-Infinity\"", value > 0 ? 10 : 11);
	else
		portico_json_append_real(w->out, value);
}

static void put_base64(writer *w, const ProtobufCBinaryData *bytes)
{
	char *at = portico_json_buffer_reserve(w->out, PORTICO_BASE64_SIZE(bytes->len) + 2);
	*at = '"';
	size_t length = portico_base64_encode_into(bytes->data, bytes->len, at + 1);
	at[length + 1] = '"';
	w->out->length += length + 2;
	w->out->data[w->out->length] = '\0';
}

/* A member's key (after a comma unless it is the first): "name": */
static void put_key(writer *w, const char *name, size_t length, size_t *members)
{
	if ((*members)++)
		put(w, ",", 1);
	put_string(w, name, length);
	put(w, ":", 1);
}

/* A field's key as written: "name": with its lowerCamel name as portico_protojson_json_name makes
 * it. Made once per field and kept for the process's life (never freed), shared by every thread:
 * a slot of the cache holds one field's key, published whole, or nothing. */
typedef struct field_key {
	const ProtobufCFieldDescriptor *field;
	size_t length;
	char text[];
} field_key;

static _Atomic(field_key *) field_keys[FIELD_KEY_SLOTS];

static field_key *field_key_make(const ProtobufCFieldDescriptor *field)
{
	size_t length = strlen(field->name);
	field_key *key = portico_malloc(sizeof *key + length + 3);
	char *at = key->text, *name = at + 1;
	*at++ = '"';
	int upper_next = 0;
	for (const char *p = field->name; *p && at - name + 1 < NAME_MAX_LENGTH; p++) {
		if (*p == '_') {
			upper_next = 1;
			continue;
		}
		*at++ = upper_next && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		upper_next = 0;
	}
	*at++ = '"';
	*at++ = ':';
	key->field = field;
	key->length = (size_t)(at - key->text);
	return key;
}

/* The field's key, from the cache or made; *own is set to a key made here and not cached (the
 * slot is another field's), which the caller frees once done with the key, else to NULL. */
static const field_key *field_key_of(const ProtobufCFieldDescriptor *field, field_key **own)
{
	_Atomic(field_key *) *slot = &field_keys[((uintptr_t)field * 0x9e3779b97f4a7c15u) >> (64 - FIELD_KEY_BITS)];
	field_key *key = atomic_load_explicit(slot, memory_order_acquire);
	*own = NULL;
	if (!key || key->field != field) {
		field_key *empty = NULL;
		key = *own = field_key_make(field);
		if (atomic_compare_exchange_strong_explicit(slot, &empty, key, memory_order_acq_rel,
		                                            memory_order_acquire))
			*own = NULL; /* the cache's now */
	}
	return key;
}

static void put_field_key(writer *w, const ProtobufCFieldDescriptor *field, size_t *members)
{
	field_key *own;
	const field_key *key = field_key_of(field, &own);
	if ((*members)++)
		put(w, ",", 1);
	put(w, key->text, key->length);
	free(own);
}

void portico_protojson_field_json_name(const ProtobufCFieldDescriptor *field, char *out, size_t size)
{
	field_key *own;
	const field_key *key = field_key_of(field, &own);
	size_t length = key->length - 3; /* the key less its quotes and colon */
	if (length >= size)
		length = size ? size - 1 : 0;
	if (size) {
		memcpy(out, key->text + 1, length);
		out[length] = '\0';
	}
	free(own);
}

/* Writes the value stored at member, as encode_value encodes it. */
static int write_value(writer *w, const ProtobufCFieldDescriptor *field, const void *member)
{
	switch (field->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		put_integer(w, *(const int32_t *)member, 0);
		return WRITTEN;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		put_unsigned(w, *(const uint32_t *)member, 0, 0);
		return WRITTEN;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		put_integer(w, *(const int64_t *)member, 1);
		return WRITTEN;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		put_unsigned(w, *(const uint64_t *)member, 0, 1);
		return WRITTEN;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double(w, *(const float *)member);
		return WRITTEN;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(w, *(const double *)member);
		return WRITTEN;
	case PROTOBUF_C_TYPE_BOOL:
		put(w, *(const protobuf_c_boolean *)member ? "true" : "false",
		    *(const protobuf_c_boolean *)member ? 4 : 5);
		return WRITTEN;
	case PROTOBUF_C_TYPE_ENUM: {
		int value = *(const int *)member;
		const ProtobufCEnumValue *named = protobuf_c_enum_descriptor_get_value(field->descriptor, value);
		if (named)
			put_string(w, named->name, strlen(named->name));
		else
			put_integer(w, value, 0);
		return WRITTEN;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *text = *(char *const *)member;
		if (!text)
			return LEFT_OUT;
		put_string(w, text, strlen(text));
		return WRITTEN;
	}
	case PROTOBUF_C_TYPE_BYTES:
		put_base64(w, member);
		return WRITTEN;
	case PROTOBUF_C_TYPE_MESSAGE:
		return write_message(w, *(ProtobufCMessage *const *)member);
	}
	put(w, "null", 4);
	return WRITTEN;
}

/* A map key's text as encode_map makes it; *length 0 and NULL when jansson would refuse it. */
static const char *map_key_text(const ProtobufCFieldDescriptor *key_field, const void *member, char *number,
                                size_t *length)
{
	switch (key_field->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *text = *(char *const *)member;
		*length = text ? strlen(text) : 0;
		return text && portico_json_utf8_valid(text, *length) ? text : NULL;
	}
	case PROTOBUF_C_TYPE_BOOL:
		*length = *(const protobuf_c_boolean *)member ? 4 : 5;
		return *(const protobuf_c_boolean *)member ? "true" : "false";
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*length = (size_t)snprintf(number, 32, "%" PRId64, *(const int64_t *)member);
		return number;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*length = (size_t)snprintf(number, 32, "%" PRIu64, *(const uint64_t *)member);
		return number;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*length = (size_t)snprintf(number, 32, "%" PRIu32, *(const uint32_t *)member);
		return number;
	default:
		*length = (size_t)snprintf(number, 32, "%" PRId32, *(const int32_t *)member);
		return number;
	}
}

/* Whether two string keys of a map are the same (json_object_set would keep one). Number and bool
 * keys repeat only when the wire repeats them, which the string check does not cost: compared
 * as text all the same. */
static int map_keys_repeat(const ProtobufCFieldDescriptor *key_field, ProtobufCMessage *const *entries, size_t count)
{
	char a[32], b[32];
	for (size_t i = 1; i < count; i++) {
		size_t length_i;
		const char *key_i = map_key_text(key_field, (const char *)entries[i] + key_field->offset, a, &length_i);
		for (size_t j = 0; key_i && j < i; j++) {
			size_t length_j;
			const char *key_j =
			        map_key_text(key_field, (const char *)entries[j] + key_field->offset, b, &length_j);
			if (key_j && length_i == length_j && !memcmp(key_i, key_j, length_i))
				return 1;
		}
	}
	return 0;
}

static int write_map(writer *w, const ProtobufCFieldDescriptor *field, ProtobufCMessage *const *entries, size_t count)
{
	const ProtobufCMessageDescriptor *entry_type = field->descriptor;
	const ProtobufCFieldDescriptor *key_field = &entry_type->fields[0];
	const ProtobufCFieldDescriptor *value_field = &entry_type->fields[1];
	if (count > MAX_CHECKED_KEYS || (count > 1 && map_keys_repeat(key_field, entries, count)))
		return USE_TREE;
	size_t members = 0;
	put(w, "{", 1);
	for (size_t i = 0; i < count; i++) {
		const char *entry = (const char *)entries[i];
		char number[32];
		size_t length;
		const char *key = map_key_text(key_field, entry + key_field->offset, number, &length);
		if (!key)
			continue;
		size_t mark = w->out->length, before = members;
		put_key(w, key, length, &members);
		int result = write_value(w, value_field, entry + value_field->offset);
		if (result == USE_TREE)
			return USE_TREE;
		if (result == LEFT_OUT) {
			put_back(w, mark);
			members = before;
		}
	}
	put(w, "}", 1);
	return WRITTEN;
}

/* Writes the members of a plain message (no braces), counting them in *members. */
static int write_members(writer *w, const ProtobufCMessage *message, size_t *members)
{
	const ProtobufCMessageDescriptor *descriptor = message->descriptor;
	const char *base = (const char *)message;
	for (unsigned i = 0; i < descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
		const void *member = base + field->offset;
		size_t count = 0;
		if (field->label == PROTOBUF_C_LABEL_REPEATED) {
			count = *(const size_t *)(base + field->quantifier_offset);
			if (!count)
				continue;
		} else if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)(base + field->quantifier_offset) != field->id)
				continue;
		} else if (is_default(field, member)) {
			continue;
		}
		size_t mark = w->out->length, before = *members;
		put_field_key(w, field, members);
		int result;
		if (field->label != PROTOBUF_C_LABEL_REPEATED) {
			result = write_value(w, field, member);
		} else if (is_map_entry(field)) {
			result = write_map(w, field, *(ProtobufCMessage *const *const *)member, count);
		} else {
			const char *array = *(char *const *)member;
			size_t size = value_size(field), elements = 0;
			result = WRITTEN;
			put(w, "[", 1);
			for (size_t j = 0; j < count && result != USE_TREE; j++) {
				size_t element_mark = w->out->length;
				if (elements)
					put(w, ",", 1);
				result = write_value(w, field, array + j * size);
				if (result == LEFT_OUT)
					put_back(w, element_mark);
				else
					elements++;
			}
			if (result != USE_TREE) {
				put(w, "]", 1);
				result = WRITTEN;
			}
		}
		if (result == USE_TREE)
			return USE_TREE;
		if (result == LEFT_OUT) {
			put_back(w, mark);
			*members = before;
		}
	}
	return WRITTEN;
}

static int write_any(writer *w, const Google__Protobuf__Any *any)
{
	if (!any->type_url)
		return USE_TREE;
	put(w, "{\"@type\":", 9);
	put_string(w, any->type_url, strlen(any->type_url));
	const ProtobufCMessageDescriptor *type = portico_proto_message_by_type_url(any->type_url);
	ProtobufCMessage *inner = type ? protobuf_c_message_unpack(type, NULL, any->value.len, any->value.data) : NULL;
	int result = WRITTEN;
	if (!inner) {
		put(w, ",\"value\":", 9);
		put_base64(w, &any->value);
	} else if (kind_of(type) == KIND_PLAIN) {
		size_t members = 1;
		result = write_members(w, inner, &members);
	} else {
		size_t mark = w->out->length;
		put(w, ",\"value\":", 9);
		result = write_message(w, inner);
		if (result == LEFT_OUT) {
			put_back(w, mark);
			result = WRITTEN;
		}
	}
	if (inner)
		protobuf_c_message_free_unpacked(inner, NULL);
	put(w, "}", 1);
	return result;
}

static int write_field_mask(writer *w, const Google__Protobuf__FieldMask *mask)
{
	char *joined = field_mask_text(mask);
	size_t length = strlen(joined);
	int valid = portico_json_utf8_valid(joined, length);
	if (valid)
		put_string(w, joined, length);
	free(joined);
	return valid ? WRITTEN : LEFT_OUT;
}

static int binary_is(const ProtobufCBinaryData *value, const char *text)
{
	return value && value->len == strlen(text) && !memcmp(value->data, text, value->len);
}

/* A payload in full form, as payload.c writes it: {"metadata": {key: base64…}, "data": base64}. */
static int write_payload_full(writer *w, const portico_payload *payload, int with_data)
{
	size_t members = 0;
	if (payload->n_metadata > MAX_CHECKED_KEYS)
		return USE_TREE;
	put(w, "{\"metadata\":{", 13);
	for (size_t i = 0; i < payload->n_metadata; i++) {
		const char *key = payload->metadata[i]->key;
		size_t length = strlen(key);
		if (!portico_json_utf8_valid(key, length))
			continue;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(payload->metadata[j]->key, key))
				return USE_TREE;
		put_key(w, key, length, &members);
		put_base64(w, &payload->metadata[i]->value);
	}
	put(w, "}", 1);
	if (with_data) {
		put(w, ",\"data\":", 8);
		put_base64(w, &payload->data);
	}
	put(w, "}", 1);
	return WRITTEN;
}

/* The payload's shorthand, as payload.c writes it; LEFT_OUT (with nothing written) when it has
 * none, for the full form. */
static int write_payload_shorthand(writer *w, const portico_payload *payload)
{
	const ProtobufCBinaryData *encoding = portico_payload_metadata(payload, "encoding");
	if (binary_is(encoding, PORTICO_ENCODING_NULL)) {
		if (payload->n_metadata == 1 && !payload->data.len) {
			put(w, "null", 4);
			return WRITTEN;
		}
		return write_payload_full(w, payload, 0);
	}
	const ProtobufCBinaryData *message_type = portico_payload_metadata(payload, "messageType");
	int plain = binary_is(encoding, PORTICO_ENCODING_JSON) && payload->n_metadata == 1;
	int proto = binary_is(encoding, PORTICO_ENCODING_PROTO_JSON) && payload->n_metadata == 2 && message_type &&
	            message_type->len;
	if (!plain && !proto)
		return LEFT_OUT;
	size_t mark = w->out->length;
	if (portico_json_copy(w->out, (const char *)payload->data.data, payload->data.len))
		return USE_TREE; /* not JSON, or not plain: the tree decides which */
	if (plain)
		return WRITTEN;
	/* json/protobuf: the message's object, which names its type in one more member. */
	char *object = w->out->data + mark;
	size_t length = w->out->length - mark;
	if (object[0] != '{') {
		put_back(w, mark);
		return LEFT_OUT;
	}
	if (memmem(object, length, "\"" PROTO_MESSAGE_TYPE_KEY "\"", sizeof PROTO_MESSAGE_TYPE_KEY + 1) ||
	    !portico_json_utf8_valid((const char *)message_type->data, message_type->len))
		return USE_TREE;
	put_back(w, w->out->length - 1);
	if (length > 2)
		put(w, ",", 1);
	put(w, "\"" PROTO_MESSAGE_TYPE_KEY "\":", sizeof PROTO_MESSAGE_TYPE_KEY + 2);
	put_string(w, (const char *)message_type->data, message_type->len);
	put(w, "}", 1);
	return WRITTEN;
}

static int write_payload(writer *w, const portico_payload *payload)
{
	int result = w->payload_shorthand ? write_payload_shorthand(w, payload) : LEFT_OUT;
	return result == LEFT_OUT ? write_payload_full(w, payload, 1) : result;
}

/* An array of shorthand values when every payload has one, else {"payloads": [full form…]}. */
static int write_payloads(writer *w, const portico_payloads *payloads)
{
	size_t mark = w->out->length;
	if (w->payload_shorthand) {
		int result = WRITTEN;
		put(w, "[", 1);
		for (size_t i = 0; i < payloads->n_payloads && result == WRITTEN; i++) {
			if (i)
				put(w, ",", 1);
			result = write_payload_shorthand(w, payloads->payloads[i]);
		}
		if (result == USE_TREE)
			return USE_TREE;
		if (result == WRITTEN) {
			put(w, "]", 1);
			return WRITTEN;
		}
		put_back(w, mark);
	}
	put(w, "{\"payloads\":[", 13);
	for (size_t i = 0; i < payloads->n_payloads; i++) {
		if (i)
			put(w, ",", 1);
		if (write_payload_full(w, payloads->payloads[i], 1) == USE_TREE)
			return USE_TREE;
	}
	put(w, "]}", 2);
	return WRITTEN;
}

static int write_message(writer *w, const ProtobufCMessage *message)
{
	char text[TIME_TEXT_SIZE];
	if (!message) {
		put(w, "null", 4);
		return WRITTEN;
	}
	switch (kind_of(message->descriptor)) {
	case KIND_TIMESTAMP:
		put_string(w, text, timestamp_text((const Google__Protobuf__Timestamp *)message, text));
		return WRITTEN;
	case KIND_DURATION:
		put_string(w, text, duration_text((const Google__Protobuf__Duration *)message, text));
		return WRITTEN;
	case KIND_ANY:
		return write_any(w, (const Google__Protobuf__Any *)message);
	case KIND_FIELD_MASK:
		return write_field_mask(w, (const Google__Protobuf__FieldMask *)message);
	case KIND_WRAPPER: {
		const ProtobufCFieldDescriptor *field = &message->descriptor->fields[0];
		return write_value(w, field, (const char *)message + field->offset);
	}
	case KIND_PAYLOAD:
		return write_payload(w, (const portico_payload *)message);
	case KIND_PAYLOADS:
		return write_payloads(w, (const portico_payloads *)message);
	case KIND_EMPTY:
		put(w, "{}", 2);
		return WRITTEN;
	default: {
		size_t members = 0;
		put(w, "{", 1);
		int result = write_members(w, message, &members);
		put(w, "}", 1);
		return result;
	}
	}
}

void portico_protojson_append(portico_json_buffer *buffer, const ProtobufCMessage *message,
                              const portico_protojson_options *options)
{
	writer w = {buffer, options && options->payload_shorthand};
	size_t mark = buffer->length;
	portico_json_buffer_reserve(buffer, INITIAL_TEXT_SIZE); /* most answers: one allocation */
	int result = write_message(&w, message);
	if (result == WRITTEN)
		return;
	put_back(&w, mark);
	if (result == LEFT_OUT) { /* the tree's NULL, which portico_json_text writes as null */
		put(&w, "null", 4);
		return;
	}
	json_t *tree = portico_protojson_encode(message, options);
	portico_json_append_value(buffer, tree, 0);
	json_decref(tree);
}

char *portico_protojson_write(const ProtobufCMessage *message, const portico_protojson_options *options, size_t *length)
{
	portico_json_buffer buffer = {NULL, 0, 0};
	portico_protojson_append(&buffer, message, options);
	if (length)
		*length = buffer.length;
	return buffer.data;
}

/* ---- Decoding ------------------------------------------------------------------------------- */

/* One decode: where it is, for the messages, and what it may skip. */
typedef struct decode_state {
	portico_proto_path path;
	int ignore_unknown;
} decode_state;

static int bad_value(decode_state *p, portico_error *err, const char *expected)
{
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: expected %s",
	                         p->path.length ? p->path.text : "body", expected);
}

static ProtobufCMessage *decode_message(const ProtobufCMessageDescriptor *descriptor, const json_t *value,
                                        decode_state *p, portico_error *err);

static ProtobufCMessage *message_new(const ProtobufCMessageDescriptor *descriptor)
{
	ProtobufCMessage *message = portico_malloc(descriptor->sizeof_message);
	protobuf_c_message_init(descriptor, message);
	return message;
}

/* Reads an integer from a JSON number or a string into *sign (signed) or *unsign (unsigned).
 * Returns -1 when value is not an integer in the 64-bit range of its kind. */
static int parse_integer(const json_t *value, int is_unsigned, int64_t *sign, uint64_t *unsign)
{
	if (json_is_integer(value)) {
		json_int_t number = json_integer_value(value);
		if (is_unsigned && number < 0)
			return -1;
		*sign = number;
		*unsign = (uint64_t)number;
		return 0;
	}
	if (json_is_real(value)) {
		double real = json_real_value(value);
		if (!isfinite(real) || real != floor(real))
			return -1;
		if (is_unsigned ? (real < 0 || real >= 18446744073709551616.0)
		                : (real < -9223372036854775808.0 || real >= 9223372036854775808.0))
			return -1;
		*sign = is_unsigned ? 0 : (int64_t)real;
		*unsign = is_unsigned ? (uint64_t)real : 0;
		return 0;
	}
	if (!json_is_string(value))
		return -1;
	const char *text = json_string_value(value);
	char *end;
	errno = 0;
	if (is_unsigned) {
		if (*text == '-')
			return -1;
		*unsign = strtoull(text, &end, 10);
	} else {
		*sign = strtoll(text, &end, 10);
	}
	return errno || end == text || *end ? -1 : 0;
}

static int decode_integer(const ProtobufCFieldDescriptor *field, const json_t *value, void *member, decode_state *p,
                          portico_error *err)
{
	int is_unsigned = field->type == PROTOBUF_C_TYPE_UINT32 || field->type == PROTOBUF_C_TYPE_FIXED32 ||
	                  field->type == PROTOBUF_C_TYPE_UINT64 || field->type == PROTOBUF_C_TYPE_FIXED64;
	int wide = value_size(field) == 8;
	int64_t sign = 0;
	uint64_t unsign = 0;
	if (parse_integer(value, is_unsigned, &sign, &unsign))
		return bad_value(p, err, is_unsigned ? "an unsigned integer" : "an integer");
	if (!wide && (is_unsigned ? unsign > UINT32_MAX : (sign < INT32_MIN || sign > INT32_MAX)))
		return bad_value(p, err, is_unsigned ? "an unsigned 32-bit integer" : "a 32-bit integer");
	if (wide && is_unsigned)
		*(uint64_t *)member = unsign;
	else if (wide)
		*(int64_t *)member = sign;
	else if (is_unsigned)
		*(uint32_t *)member = (uint32_t)unsign;
	else
		*(int32_t *)member = (int32_t)sign;
	return 0;
}

static int decode_double(const json_t *value, double *out)
{
	if (json_is_number(value)) {
		*out = json_number_value(value);
		return 0;
	}
	if (!json_is_string(value))
		return -1;
	const char *raw = portico_json_raw_number(value);
	if (raw) {
		/* An integer beyond 64 bits is a fine double; a real beyond a double is not. */
		*out = strtod(raw, NULL);
		return isfinite(*out) && *out != 0 ? 0 : -1;
	}
	const char *text = json_string_value(value);
	if (!strcmp(text, "NaN"))
		*out = NAN;
	else if (!strcmp(text, "Infinity"))
		*out = INFINITY;
	else if (!strcmp(text, "-Infinity"))
		*out = -INFINITY;
	else {
		char *end;
		*out = strtod(text, &end);
		if (end == text || *end)
			return -1;
	}
	return 0;
}

/* "WorkflowIdReusePolicy" -> "WORKFLOW_ID_REUSE_POLICY" */
static void upper_snake(const char *camel, char *out, size_t size)
{
	size_t n = 0;
	for (const char *c = camel; *c && n + 2 < size; c++) {
		if (isupper((unsigned char)*c) && c != camel &&
		    (islower((unsigned char)c[-1]) || isdigit((unsigned char)c[-1])))
			out[n++] = '_';
		out[n++] = (char)toupper((unsigned char)*c);
	}
	out[n] = '\0';
}

static const ProtobufCEnumValue *enum_by_name(const ProtobufCEnumDescriptor *descriptor, const char *name)
{
	const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value_by_name(descriptor, name);
	if (found)
		return found;
	/* Temporal's short form: "AllowDuplicate" for WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE. */
	char prefix[NAME_MAX_LENGTH], suffix[NAME_MAX_LENGTH], full[2 * NAME_MAX_LENGTH + 2];
	upper_snake(descriptor->short_name, prefix, sizeof prefix);
	upper_snake(name, suffix, sizeof suffix);
	snprintf(full, sizeof full, "%s_%s", prefix, suffix);
	return protobuf_c_enum_descriptor_get_value_by_name(descriptor, full);
}

static int decode_enum(const ProtobufCFieldDescriptor *field, const json_t *value, int *member, decode_state *p,
                       portico_error *err)
{
	const ProtobufCEnumDescriptor *descriptor = field->descriptor;
	if (json_is_integer(value)) {
		*member = (int)json_integer_value(value);
		return 0;
	}
	const ProtobufCEnumValue *found =
	        json_is_string(value) ? enum_by_name(descriptor, json_string_value(value)) : NULL;
	if (!found && json_is_string(value) && p->ignore_unknown)
		return 0; /* a value a newer API added reads as the default, as protobuf's own parsers do */
	if (!found) {
		char expected[NAME_MAX_LENGTH + 32];
		snprintf(expected, sizeof expected, "a value of %s", descriptor->name);
		return bad_value(p, err, expected);
	}
	*member = found->value;
	return 0;
}

static int decode_value(const ProtobufCFieldDescriptor *field, const json_t *value, void *member, decode_state *p,
                        portico_error *err)
{
	int floating = field->type == PROTOBUF_C_TYPE_FLOAT || field->type == PROTOBUF_C_TYPE_DOUBLE;
	const char *raw = portico_json_raw_number(value);
	if (raw && !floating && field->type != PROTOBUF_C_TYPE_MESSAGE)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "%s: %.40s%s is beyond 64 bits: only payloads (args, memo and the like) hold "
		                         "numbers that large",
		                         p->path.length ? p->path.text : "body", raw, strlen(raw) > 40 ? "…" : "");
	switch (field->type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		double number;
		if (decode_double(value, &number))
			return bad_value(p, err, "a number");
		if (field->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)member = (float)number;
		else
			*(double *)member = number;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (json_is_boolean(value))
			*(protobuf_c_boolean *)member = json_is_true(value);
		else if (json_is_string(value) && !strcmp(json_string_value(value), "true"))
			*(protobuf_c_boolean *)member = 1;
		else if (json_is_string(value) && !strcmp(json_string_value(value), "false"))
			*(protobuf_c_boolean *)member = 0;
		else
			return bad_value(p, err, "true or false");
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return decode_enum(field, value, member, p, err);
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(value))
			return bad_value(p, err, "a string");
		*(char **)member = portico_strndup(json_string_value(value), json_string_length(value));
		return 0;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *bytes = member;
		if (!json_is_string(value) || portico_base64_decode(json_string_value(value), json_string_length(value),
		                                                    &bytes->data, &bytes->len))
			return bad_value(p, err, "base64 bytes");
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *message = decode_message(field->descriptor, value, p, err);
		*(ProtobufCMessage **)member = message;
		return message ? 0 : -1;
	}
	default:
		return decode_integer(field, value, member, p, err);
	}
}

/* Whether key is the lowerCamel JSON name of proto_name (as portico_protojson_json_name writes
 * it), compared as it goes: every request's keys are looked up so, field after field. */
static int is_json_name(const char *proto_name, const char *key)
{
	int upper_next = 0;
	for (const char *p = proto_name; *p; p++) {
		if (*p == '_') {
			upper_next = 1;
			continue;
		}
		if (*key++ != (upper_next ? (char)toupper((unsigned char)*p) : *p))
			return 0;
		upper_next = 0;
	}
	return *key == '\0';
}

static const ProtobufCFieldDescriptor *field_by_json_name(const ProtobufCMessageDescriptor *descriptor, const char *key)
{
	const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field_by_name(descriptor, key);
	if (field)
		return field;
	for (unsigned i = 0; i < descriptor->n_fields; i++)
		if (is_json_name(descriptor->fields[i].name, key))
			return &descriptor->fields[i];
	return NULL;
}

static int decode_map(const ProtobufCFieldDescriptor *field, const json_t *value, char *base, decode_state *p,
                      portico_error *err)
{
	if (!json_is_object(value))
		return bad_value(p, err, "an object");
	const ProtobufCMessageDescriptor *entry_type = field->descriptor;
	ProtobufCMessage **entries = portico_calloc(json_object_size(value), sizeof *entries);
	*(ProtobufCMessage ***)(base + field->offset) = entries;
	size_t *count = (size_t *)(base + field->quantifier_offset);
	const char *key;
	json_t *element;
	json_object_foreach((json_t *)value, key, element)
	{
		ProtobufCMessage *entry = message_new(entry_type);
		entries[(*count)++] = entry;
		size_t mark = portico_proto_path_push_name(&p->path, key);
		json_t *key_value = json_string(key);
		int failed = decode_value(&entry_type->fields[0], key_value,
		                          (char *)entry + entry_type->fields[0].offset, p, err) ||
		             decode_value(&entry_type->fields[1], element, (char *)entry + entry_type->fields[1].offset,
		                          p, err);
		json_decref(key_value);
		portico_proto_path_pop(&p->path, mark);
		if (failed)
			return -1;
	}
	return 0;
}

static int decode_repeated(const ProtobufCFieldDescriptor *field, const json_t *value, char *base, decode_state *p,
                           portico_error *err)
{
	if (is_map_entry(field))
		return decode_map(field, value, base, p, err);
	if (!json_is_array(value))
		return bad_value(p, err, "an array");
	size_t size = value_size(field);
	char *array = portico_calloc(json_array_size(value), size);
	*(char **)(base + field->offset) = array;
	size_t *count = (size_t *)(base + field->quantifier_offset);
	size_t index;
	json_t *element;
	json_array_foreach(value, index, element)
	{
		size_t mark = portico_proto_path_push_index(&p->path, index);
		int failed = decode_value(field, element, array + index * size, p, err);
		portico_proto_path_pop(&p->path, mark);
		/* Count what was stored, so that freeing the message frees exactly that. */
		if (!failed || field->type != PROTOBUF_C_TYPE_MESSAGE)
			(*count)++;
		if (failed)
			return -1;
	}
	return 0;
}

/* True when an earlier key (the same field under its other name) already gave the field a value;
 * for fields that own memory, an empty value counts too, so that nothing is overwritten unfreed. */
static int already_set(const ProtobufCFieldDescriptor *field, const char *base)
{
	const void *member = base + field->offset;
	if (field->label == PROTOBUF_C_LABEL_REPEATED)
		return *(void *const *)member != NULL;
	if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + field->quantifier_offset) == field->id;
	switch (field->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *text = *(char *const *)member;
		return text && text != field->default_value && text != protobuf_c_empty_string;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)member)->data != NULL;
	default:
		return !is_default(field, member);
	}
}

/* Decodes the members of an object into message; inside_any skips the Any's "@type". */
static int decode_fields(ProtobufCMessage *message, const json_t *value, int inside_any, decode_state *p,
                         portico_error *err)
{
	const ProtobufCMessageDescriptor *descriptor = message->descriptor;
	char *base = (char *)message;
	const char *key;
	json_t *element;
	json_object_foreach((json_t *)value, key, element)
	{
		if (inside_any && !strcmp(key, "@type"))
			continue;
		const ProtobufCFieldDescriptor *field = field_by_json_name(descriptor, key);
		size_t mark = portico_proto_path_push_name(&p->path, key);
		int failed = 0;
		if (!field && p->ignore_unknown) {
			/* a field a newer API added */
		} else if (!field) {
			failed = portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: unknown field of %s",
			                           p->path.text, descriptor->name);
		} else if (json_is_null(element)) {
			/* null stands for the default value */
		} else if (already_set(field, base)) {
			failed = portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: set twice (by two names)",
			                           p->path.text);
		} else if (field->label == PROTOBUF_C_LABEL_REPEATED) {
			failed = decode_repeated(field, element, base, p, err);
		} else if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *oneof_case = (uint32_t *)(base + field->quantifier_offset);
			if (*oneof_case)
				failed = portico_error_set(err, PORTICO_INVALID_ARGUMENT,
				                           "%s: another field of the same oneof is already set",
				                           p->path.text);
			else if (!(failed = decode_value(field, element, base + field->offset, p, err)) ||
			         field->type != PROTOBUF_C_TYPE_MESSAGE)
				*oneof_case = field->id;
		} else {
			failed = decode_value(field, element, base + field->offset, p, err);
		}
		portico_proto_path_pop(&p->path, mark);
		if (failed)
			return -1;
	}
	return 0;
}

static int parse_fraction(const char **cursor, int32_t *nanos)
{
	const char *c = *cursor;
	*nanos = 0;
	if (*c != '.')
		return 0;
	int digits = 0;
	for (c++; isdigit((unsigned char)*c); c++, digits++)
		if (digits < 9)
			*nanos = *nanos * 10 + (*c - '0');
	if (digits == 0)
		return -1;
	for (; digits < 9; digits++)
		*nanos *= 10;
	*cursor = c;
	return 0;
}

/* RFC 3339: 2024-05-01T12:00:00[.123]Z or with a +hh:mm / -hh:mm offset. */
static int decode_timestamp(const json_t *value, Google__Protobuf__Timestamp *timestamp)
{
	if (!json_is_string(value))
		return -1;
	const char *text = json_string_value(value);
	struct tm utc = {0};
	int consumed = 0;
	if (sscanf(text, "%4d-%2d-%2d%*[Tt]%2d:%2d:%2d%n", &utc.tm_year, &utc.tm_mon, &utc.tm_mday, &utc.tm_hour,
	           &utc.tm_min, &utc.tm_sec, &consumed) != 6 ||
	    consumed < 19)
		return -1;
	const char *rest = text + consumed;
	if (parse_fraction(&rest, &timestamp->nanos))
		return -1;
	int offset_seconds = 0;
	if (*rest == 'Z' || *rest == 'z') {
		rest++;
	} else if ((*rest == '+' || *rest == '-') && strlen(rest) == 6 && isdigit((unsigned char)rest[1]) &&
	           isdigit((unsigned char)rest[2]) && rest[3] == ':' && isdigit((unsigned char)rest[4]) &&
	           isdigit((unsigned char)rest[5])) {
		int hours = (rest[1] - '0') * 10 + (rest[2] - '0'), minutes = (rest[4] - '0') * 10 + (rest[5] - '0');
		if (hours > 23 || minutes > 59)
			return -1;
		offset_seconds = (hours * 3600 + minutes * 60) * (*rest == '-' ? -1 : 1);
		rest += 6;
	} else {
		return -1;
	}
	if (*rest || utc.tm_mon < 1 || utc.tm_mon > 12 || utc.tm_mday < 1 || utc.tm_mday > 31 || utc.tm_hour > 23 ||
	    utc.tm_min > 59 || utc.tm_sec > 60)
		return -1;
	utc.tm_year -= 1900;
	utc.tm_mon -= 1;
	timestamp->seconds = (int64_t)timegm(&utc) - offset_seconds;
	return 0;
}

/* "1.5s", "-3s", "0.000001s" */
static int decode_duration(const json_t *value, Google__Protobuf__Duration *duration)
{
	if (!json_is_string(value))
		return -1;
	const char *text = json_string_value(value);
	int negative = *text == '-';
	const char *c = text + negative;
	if (!isdigit((unsigned char)*c))
		return -1;
	char *end;
	errno = 0;
	long long seconds = strtoll(c, &end, 10);
	c = end;
	if (errno || parse_fraction(&c, &duration->nanos) || strcmp(c, "s"))
		return -1;
	duration->seconds = negative ? -seconds : seconds;
	if (negative)
		duration->nanos = -duration->nanos;
	return 0;
}

static int decode_field_mask(const json_t *value, Google__Protobuf__FieldMask *mask)
{
	if (!json_is_string(value))
		return -1;
	const char *text = json_string_value(value);
	size_t count = *text ? 1 : 0;
	for (const char *c = text; *c; c++)
		count += *c == ',';
	mask->paths = portico_calloc(count, sizeof *mask->paths);
	for (const char *start = text; *start;) {
		size_t length = strcspn(start, ",");
		char *json_name = portico_strndup(start, length);
		char name[PORTICO_PROTO_PATH_MAX];
		proto_name_of(json_name, name, sizeof name);
		free(json_name);
		mask->paths[mask->n_paths++] = portico_strdup(name);
		start += length + (start[length] == ',');
	}
	return 0;
}

static int decode_any(const json_t *value, Google__Protobuf__Any *any, decode_state *p, portico_error *err)
{
	const json_t *type_url = json_object_get(value, "@type");
	const ProtobufCMessageDescriptor *type =
	        json_is_string(type_url) ? portico_proto_message_by_type_url(json_string_value(type_url)) : NULL;
	if (!type)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: \"@type\" names no known message",
		                         p->path.length ? p->path.text : "body");
	ProtobufCMessage *inner;
	if (kind_of(type) == KIND_PLAIN) {
		inner = message_new(type);
		if (decode_fields(inner, value, 1, p, err)) {
			protobuf_c_message_free_unpacked(inner, NULL);
			return -1;
		}
	} else {
		size_t mark = portico_proto_path_push_name(&p->path, "value");
		inner = decode_message(type, json_object_get(value, "value"), p, err);
		portico_proto_path_pop(&p->path, mark);
		if (!inner)
			return -1;
	}
	any->type_url = portico_strdup(json_string_value(type_url));
	any->value.len = protobuf_c_message_get_packed_size(inner);
	any->value.data = portico_malloc(any->value.len + 1);
	protobuf_c_message_pack(inner, any->value.data);
	protobuf_c_message_free_unpacked(inner, NULL);
	return 0;
}

static ProtobufCMessage *decode_message(const ProtobufCMessageDescriptor *descriptor, const json_t *value,
                                        decode_state *p, portico_error *err)
{
	special_kind kind = kind_of(descriptor);
	const char *where = p->path.length ? p->path.text : "body";
	if (kind == KIND_PAYLOADS)
		return (ProtobufCMessage *)portico_payloads_from_json(value, where, err);
	if (kind == KIND_PAYLOAD)
		return (ProtobufCMessage *)portico_payload_from_json(value);

	ProtobufCMessage *message = message_new(descriptor);
	int failed;
	switch (kind) {
	case KIND_TIMESTAMP:
		failed = decode_timestamp(value, (Google__Protobuf__Timestamp *)message) &&
		         bad_value(p, err, "an RFC 3339 timestamp such as \"2024-05-01T12:00:00Z\"");
		break;
	case KIND_DURATION:
		failed = decode_duration(value, (Google__Protobuf__Duration *)message) &&
		         bad_value(p, err, "a duration such as \"10s\" or \"1.5s\"");
		break;
	case KIND_FIELD_MASK:
		failed = decode_field_mask(value, (Google__Protobuf__FieldMask *)message) &&
		         bad_value(p, err, "a comma-separated list of field names");
		break;
	case KIND_WRAPPER:
		failed = decode_value(&descriptor->fields[0], value, (char *)message + descriptor->fields[0].offset, p,
		                      err);
		break;
	default:
		if (!json_is_object(value))
			failed = bad_value(p, err, "an object");
		else if (kind == KIND_ANY)
			failed = decode_any(value, (Google__Protobuf__Any *)message, p, err);
		else
			failed = decode_fields(message, value, 0, p, err);
	}
	if (failed) {
		protobuf_c_message_free_unpacked(message, NULL);
		return NULL;
	}
	return message;
}

ProtobufCMessage *portico_protojson_decode(const ProtobufCMessageDescriptor *descriptor, const json_t *value,
                                           portico_error *err)
{
	return portico_protojson_decode_with(descriptor, value, NULL, err);
}

ProtobufCMessage *portico_protojson_decode_with(const ProtobufCMessageDescriptor *descriptor, const json_t *value,
                                                const portico_protojson_decode_options *options, portico_error *err)
{
	decode_state p = {.path.length = 0, .ignore_unknown = options && options->ignore_unknown};
	return decode_message(descriptor, value, &p, err);
}
