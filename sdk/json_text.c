#include "json_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

typedef struct text_buffer {
	char *data;
	size_t length, capacity;
} text_buffer;

static void append(text_buffer *buffer, const char *text, size_t length)
{
	if (buffer->length + length + 1 > buffer->capacity) {
		size_t capacity = buffer->capacity ? buffer->capacity : 256;
		while (buffer->length + length + 1 > capacity)
			capacity *= 2;
		buffer->data = portico_realloc(buffer->data, capacity);
		buffer->capacity = capacity;
	}
	memcpy(buffer->data + buffer->length, text, length);
	buffer->length += length;
	buffer->data[buffer->length] = '\0';
}

static void append_string(text_buffer *buffer, const char *text, size_t length)
{
	append(buffer, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
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

/* The shortest %g form that reads back as the same double. */
static void append_real(text_buffer *buffer, double value)
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

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void append_value(text_buffer *buffer, const json_t *value, int flags);

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
		append_string(buffer, keys[i], strlen(keys[i]));
		append(buffer, ":", 1);
		append_value(buffer, json_object_get(object, keys[i]), flags);
	}
	append(buffer, "}", 1);
	free(keys);
}

static void append_value(text_buffer *buffer, const json_t *value, int flags)
{
	char number[32];
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		append_object(buffer, value, flags);
		break;
	case JSON_ARRAY:
		append(buffer, "[", 1);
		for (size_t i = 0; i < json_array_size(value); i++) {
			if (i)
				append(buffer, ",", 1);
			append_value(buffer, json_array_get(value, i), flags);
		}
		append(buffer, "]", 1);
		break;
	case JSON_STRING:
		append_string(buffer, json_string_value(value), json_string_length(value));
		break;
	case JSON_INTEGER:
		snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		append(buffer, number, strlen(number));
		break;
	case JSON_REAL:
		append_real(buffer, json_real_value(value));
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
		append_value(&buffer, value, flags);
	else
		append(&buffer, "null", 4);
	if (length)
		*length = buffer.length;
	return buffer.data;
}
