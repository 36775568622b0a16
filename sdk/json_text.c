#include "json_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json_scan.h"

typedef portico_json_buffer text_buffer;

/* Makes room for length more bytes and the NUL, growing by doubling. */
static void grow(text_buffer *buffer, size_t length)
{
	size_t capacity = buffer->capacity ? buffer->capacity : 256;
	while (buffer->length + length + 1 > capacity)
		capacity *= 2;
	buffer->data = portico_realloc(buffer->data, capacity);
	buffer->capacity = capacity;
}

char *portico_json_buffer_reserve(portico_json_buffer *buffer, size_t length)
{
	if (buffer->length + length + 1 > buffer->capacity)
		grow(buffer, length);
	return buffer->data + buffer->length;
}

/* Inline, so that the many one-byte appends of punctuation cost a store, not a call. */
static inline void append(text_buffer *buffer, const char *text, size_t length)
{
	if (buffer->length + length + 1 > buffer->capacity)
		grow(buffer, length);
	memcpy(buffer->data + buffer->length, text, length);
	buffer->length += length;
	buffer->data[buffer->length] = '\0';
}

void portico_json_buffer_append(portico_json_buffer *buffer, const char *text, size_t length)
{
	append(buffer, text, length);
}

void portico_json_append_string(portico_json_buffer *buffer, const char *text, size_t length)
{
	append(buffer, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < length; i++) {
		i += portico_json_plain_run(text + i, length - i, 0);
		if (i == length)
			break;
		unsigned char c = (unsigned char)text[i];
		append(buffer, text + run, i - run);
		run = i + 1;
		char escape[8];
		switch (c) {
		case '"':
			append(buffer, "\\\"", 2);
			break;
		case '\\':
			append(buffer, "\\\\", 2);
			break;
		case '\n':
			append(buffer, "\\n", 2);
			break;
		case '\r':
			append(buffer, "\\r", 2);
			break;
		case '\t':
			append(buffer, "\\t", 2);
			break;
		default:
			snprintf(escape, sizeof escape, "\\u%04x", c);
			append(buffer, escape, 6);
		}
	}
	append(buffer, text + run, length - run);
	append(buffer, "\"", 1);
}

void portico_json_append_real(portico_json_buffer *buffer, double value)
{
	char text[40];
	if (!isfinite(value)) {
		append(buffer, "null", 4);
		return;
	}
	for (int precision = 15; precision <= 17; precision++) {
		snprintf(text, sizeof text, "%.*g", precision, value);
		if (strtod(text, NULL) == value)
			break;
	}
	if (!strpbrk(text, ".eE"))
		strcat(text, ".0");
	append(buffer, text, strlen(text));
}

/* Decimal digits, as "%lld" writes them; records hold many integers. */
static void append_integer(text_buffer *buffer, json_int_t value)
{
	char digits[24], *start = digits + sizeof digits;
	unsigned long long magnitude = value < 0 ? 0 - (unsigned long long)value : (unsigned long long)value;
	do
		*--start = (char)('0' + magnitude % 10);
	while (magnitude /= 10);
	if (value < 0)
		*--start = '-';
	append(buffer, start, (size_t)(digits + sizeof digits - start));
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void append_object(text_buffer *buffer, const json_t *object, int flags)
{
	size_t count = json_object_size(object);
	const char **keys = portico_calloc(count, sizeof *keys);
	size_t n = 0;
	const char *key;
	json_t *member;
	json_object_foreach((json_t *)object, key, member)
	{
		keys[n++] = key;
	}
	if (flags & PORTICO_JSON_SORT_KEYS)
		qsort(keys, n, sizeof *keys, compare_keys);
	append(buffer, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			append(buffer, ",", 1);
		portico_json_append_string(buffer, keys[i], strlen(keys[i]));
		append(buffer, ":", 1);
		portico_json_append_value(buffer, json_object_get(object, keys[i]), flags);
	}
	append(buffer, "}", 1);
	free(keys);
}

void portico_json_append_value(portico_json_buffer *buffer, const json_t *value, int flags)
{
	const char *raw;
	size_t raw_length;
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		append_object(buffer, value, flags);
		break;
	case JSON_ARRAY:
		append(buffer, "[", 1);
		for (size_t i = 0; i < json_array_size(value); i++) {
			if (i)
				append(buffer, ",", 1);
			portico_json_append_value(buffer, json_array_get(value, i), flags);
		}
		append(buffer, "]", 1);
		break;
	case JSON_STRING:
		if ((raw = portico_json_raw_text(value, &raw_length)))
			append(buffer, raw, raw_length);
		else
			portico_json_append_string(buffer, json_string_value(value), json_string_length(value));
		break;
	case JSON_INTEGER:
		append_integer(buffer, json_integer_value(value));
		break;
	case JSON_REAL:
		portico_json_append_real(buffer, json_real_value(value));
		break;
	case JSON_TRUE:
		append(buffer, "true", 4);
		break;
	case JSON_FALSE:
		append(buffer, "false", 5);
		break;
	default:
		append(buffer, "null", 4);
	}
}

char *portico_json_text(const json_t *value, int flags, size_t *length)
{
	text_buffer buffer = {NULL, 0, 0};
	if (value)
		portico_json_append_value(&buffer, value, flags);
	else
		append(&buffer, "null", 4);
	if (length)
		*length = buffer.length;
	return buffer.data;
}

const char *portico_json_raw_text(const json_t *value, size_t *length)
{
	const char *text = json_string_value(value);
	size_t string_length = json_string_length(value);
	if (!text || string_length <= PORTICO_JSON_RAW_MARK_LENGTH ||
	    memcmp(text, PORTICO_JSON_RAW_MARK, PORTICO_JSON_RAW_MARK_LENGTH))
		return NULL;
	*length = string_length - PORTICO_JSON_RAW_MARK_LENGTH;
	return text + PORTICO_JSON_RAW_MARK_LENGTH;
}

const char *portico_json_raw_number(const json_t *value)
{
	size_t length;
	const char *text = portico_json_raw_text(value, &length);
	int real;
	if (!text || portico_json_number_length(text, text + length, &real) != length)
		return NULL;
	return text;
}

char *portico_json_dumps(const json_t *value, size_t flags, size_t *length)
{
	char *text = json_dumps(value, flags);
	if (!text)
		return portico_json_text(value, flags & JSON_SORT_KEYS ? PORTICO_JSON_SORT_KEYS : 0, length);
	if (length)
		*length = strlen(text);
	return text;
}
