#include "json_text.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json_parse.h"
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
		if (portico_json_raw_text(value))
			append(buffer, json_string_value(value) + 1, json_string_length(value) - 1);
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

/* The length of the JSON number at the start of text (RFC 8259's grammar), or 0 when there is
 * none. */
static size_t number_length(const char *text, size_t length)
{
	size_t i = text[0] == '-';
	if (i < length && text[i] == '0')
		i++;
	else if (i < length && text[i] >= '1' && text[i] <= '9')
		while (i < length && isdigit((unsigned char)text[i]))
			i++;
	else
		return 0;
	if (i < length && text[i] == '.') {
		size_t digits = ++i;
		while (i < length && isdigit((unsigned char)text[i]))
			i++;
		if (i == digits)
			return 0;
	}
	if (i < length && (text[i] == 'e' || text[i] == 'E')) {
		i++;
		if (i < length && (text[i] == '+' || text[i] == '-'))
			i++;
		size_t digits = i;
		while (i < length && isdigit((unsigned char)text[i]))
			i++;
		if (i == digits)
			return 0;
	}
	return i;
}

const char *portico_json_raw_number(const json_t *value)
{
	const char *text = json_string_value(value);
	size_t length = json_string_length(value);
	if (!text || length < 2 || text[0] != '\0' || number_length(text + 1, length - 1) != length - 1)
		return NULL;
	return text + 1;
}

const char *portico_json_raw_text(const json_t *value)
{
	const char *text = json_string_value(value);
	if (!text || json_string_length(value) < 2 || text[0] != '\0')
		return NULL;
	return text[1] == '{' || text[1] == '[' ? text + 1 : portico_json_raw_number(value);
}

/* Whether jansson refuses the number text holds: an integer out of 64 bits, or a real out of a
 * double's range (its own tests). */
static int number_refused(const char *text, size_t length)
{
	char *copy = portico_malloc(length + 1);
	memcpy(copy, text, length);
	copy[length] = '\0';
	errno = 0;
	int refused;
	if (strpbrk(copy, ".eE")) {
		double real = strtod(copy, NULL);
		refused = errno == ERANGE && real != 0;
	} else {
		strtoll(copy, NULL, 10);
		refused = errno == ERANGE;
	}
	free(copy);
	return refused;
}

/* A copy of text in which each number jansson refuses is a string holding a NUL and the number,
 * or NULL when there is none, or when a string of text already holds \u0000 (it is refused either
 * way, and could pass for a raw number). */
static char *quote_refused_numbers(const char *text, size_t length, size_t *out_length)
{
	text_buffer out = {NULL, 0, 0};
	size_t copied = 0, i = 0;
	while (i < length) {
		if (text[i] == '"') {
			for (i++; i < length && text[i] != '"'; i++) {
				if (text[i] != '\\')
					continue;
				if (length - i >= 6 && !memcmp(text + i, "\\u0000", 6)) {
					free(out.data);
					return NULL;
				}
				i++;
			}
			i++;
			continue;
		}
		size_t number =
		        text[i] == '-' || isdigit((unsigned char)text[i]) ? number_length(text + i, length - i) : 0;
		if (number && number_refused(text + i, number)) {
			append(&out, text + copied, i - copied);
			append(&out, "\"\\u0000", 7);
			append(&out, text + i, number);
			append(&out, "\"", 1);
			copied = i + number;
		}
		i += number ? number : 1;
	}
	if (!out.data)
		return NULL;
	append(&out, text + copied, length - copied);
	*out_length = out.length;
	return out.data;
}

/* portico_json_parse and portico_json_parse_body: value when the plain parser read the text, else
 * jansson's. */
static json_t *parse_or_load(json_t *value, const char *text, size_t length, size_t flags, json_error_t *error)
{
	json_error_t unwanted;
	if (!error)
		error = &unwanted;
	if (value)
		return value;
	value = json_loadb(text, length, flags, error);
	if (value || json_error_code(error) != json_error_numeric_overflow)
		return value;
	size_t quoted_length;
	char *quoted = quote_refused_numbers(text, length, &quoted_length);
	if (!quoted)
		return NULL;
	value = json_loadb(quoted, quoted_length, flags | JSON_ALLOW_NUL, error);
	free(quoted);
	return value;
}

json_t *portico_json_parse(const char *text, size_t length, size_t flags, json_error_t *error)
{
	json_t *value = flags & ~(size_t)JSON_DECODE_ANY
	                        ? NULL
	                        : portico_json_parse_plain(text, length, flags & JSON_DECODE_ANY);
	return parse_or_load(value, text, length, flags, error);
}

json_t *portico_json_parse_body(const char *text, size_t length, const char *const *payload_keys, json_error_t *error)
{
	return parse_or_load(portico_json_parse_plain_payloads(text, length, payload_keys), text, length, 0, error);
}
