#include "json_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json_copy.h"
#include "json_scan.h"
#include "json_text.h"
#include "utf8.h"

/* Numbers longer than this are left to jansson (they are legal, just rare). */
#define NUMBER_MAX_LENGTH 63

typedef struct parser {
	const unsigned char *at, *end;
	int depth;
	const char *const *payload_keys; /* see portico_json_parse_plain_payloads; NULL for none */
	int payload_array;               /* the value parse_value reads next is under a payload key */
	portico_json_buffer raw;         /* a raw value's text as it is made; freed by parse_plain */
	size_t moves_left;               /* what sorting raw values may still move, for the whole text */
} parser;

/* The keys of a payload's full form and of its protobuf message type (payload.c's), which its
 * reader looks for in the tree. */
static const char *const payload_tree_keys[] = {"metadata", "_protoMessageType", NULL};

static json_t *parse_value(parser *p);

static void skip_blanks(parser *p)
{
	while (p->at < p->end && (*p->at == ' ' || *p->at == '\n' || *p->at == '\r' || *p->at == '\t'))
		p->at++;
}

/* The escape at s (past its backslash, before end) written to out: returns the bytes written and
 * moves *s past it, or 0 for an escape left to jansson (unknown, a lone surrogate, \u0000). */
static size_t unescape(const unsigned char **s, const unsigned char *end, unsigned char *out)
{
	static const char plain[] = "\"\\/bfnrt", meant[] = "\"\\/\b\f\n\r\t";
	const unsigned char *c = *s;
	if (c >= end)
		return 0;
	const char *simple = *c ? strchr(plain, *c) : NULL;
	if (simple) {
		*out = (unsigned char)meant[simple - plain];
		*s = c + 1;
		return 1;
	}
	size_t length;
	uint32_t point = portico_json_code_point(c - 1, end, &length);
	if (!point)
		return 0;
	*s = c - 1 + length;
	return portico_utf8_put(out, point);
}

/* The string whose opening quote p->at is past: *length bytes, either text inside the input or,
 * with escapes, a new buffer (*owned, the caller frees). NULL when it is left to jansson. */
static const char *parse_string(parser *p, size_t *length, char **owned)
{
	const unsigned char *start = p->at, *c = start;
	int escaped = 0;
	*owned = NULL;
	for (;;) {
		c += portico_json_plain_run((const char *)c, (size_t)(p->end - c), 1);
		if (c >= p->end)
			return NULL;
		if (*c == '"')
			break;
		if (*c == '\\') {
			escaped = 1;
			c += c + 1 < p->end ? 2 : 1; /* the escaped character is checked below */
		} else if (*c >= 0x80) {
			size_t sequence = portico_utf8_sequence(c, p->end);
			if (!sequence)
				return NULL;
			c += sequence;
		} else { /* a control character: the run stops at nothing else */
			return NULL;
		}
	}
	p->at = c + 1;
	if (!escaped) {
		*length = (size_t)(c - start);
		return (const char *)start;
	}
	/* An escape never writes more bytes than it takes. */
	unsigned char *out = portico_malloc((size_t)(c - start) + 1), *o = out;
	for (const unsigned char *s = start; s < c;) {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		size_t written = unescape(&s, c, o);
		if (!written) {
			free(out);
			return NULL;
		}
		o += written;
	}
	*owned = (char *)out;
	*length = (size_t)(o - out);
	return (const char *)out;
}

/* A number as jansson makes it: an integer without fraction or exponent, else a real; NULL for
 * one out of range (jansson refuses it, and portico_json_parse keeps it as a raw number). */
static json_t *parse_number(parser *p)
{
	int real;
	size_t length = portico_json_number_length((const char *)p->at, (const char *)p->end, &real);
	char text[NUMBER_MAX_LENGTH + 1];
	if (!length || length > NUMBER_MAX_LENGTH)
		return NULL;
	memcpy(text, p->at, length);
	text[length] = '\0';
	char *end;
	errno = 0;
	json_t *value;
	if (real) {
		double number = strtod(text, &end);
		value = errno || end != text + length ? NULL : json_real(number);
	} else {
		long long number = strtoll(text, &end, 10);
		value = errno || end != text + length ? NULL : json_integer(number);
	}
	p->at += length;
	return value;
}

static int is_payload_key(const parser *p, const char *key, size_t length)
{
	for (const char *const *name = p->payload_keys; name && *name; name++)
		if (strlen(*name) == length && !memcmp(*name, key, length))
			return 1;
	return 0;
}

static json_t *parse_object(parser *p)
{
	json_t *object = json_object();
	skip_blanks(p);
	if (p->at < p->end && *p->at == '}') {
		p->at++;
		return object;
	}
	for (;;) {
		if (p->at >= p->end || *p->at != '"')
			break;
		p->at++;
		size_t length;
		char *owned;
		const char *key = parse_string(p, &length, &owned);
		if (!key)
			break;
		skip_blanks(p);
		p->payload_array = p->depth == 1 && is_payload_key(p, key, length);
		json_t *value = p->at < p->end && *p->at++ == ':' ? parse_value(p) : NULL;
		if (value)
			json_object_setn_new_nocheck(object, key, length, value);
		free(owned);
		if (!value)
			break;
		skip_blanks(p);
		if (p->at < p->end && *p->at == '}') {
			p->at++;
			return object;
		}
		if (p->at >= p->end || *p->at++ != ',')
			break;
		skip_blanks(p);
	}
	json_decref(object);
	return NULL;
}

/* An object or array at p->at as a raw value of its canonical text (json_text.h), or NULL (p->at
 * where it was) for one json_copy leaves to the tree. */
static json_t *parse_raw(parser *p)
{
	p->raw.length = 0;
	portico_json_buffer_append(&p->raw, PORTICO_JSON_RAW_MARK, PORTICO_JSON_RAW_MARK_LENGTH);
	size_t used = portico_json_copy_value(&p->raw, (const char *)p->at, (size_t)(p->end - p->at),
	                                      PORTICO_JSON_SORT_KEYS, payload_tree_keys, &p->moves_left);
	if (!used)
		return NULL;
	p->at += used;
	return json_stringn_nocheck(p->raw.data, p->raw.length);
}

/* An array; payloads: its elements are payloads (see portico_json_parse_plain_payloads). */
static json_t *parse_array(parser *p, int payloads)
{
	json_t *array = json_array();
	skip_blanks(p);
	if (p->at < p->end && *p->at == ']') {
		p->at++;
		return array;
	}
	for (;;) {
		skip_blanks(p);
		json_t *value = payloads && p->at < p->end && (*p->at == '{' || *p->at == '[') ? parse_raw(p) : NULL;
		if (!value)
			value = parse_value(p);
		if (!value)
			break;
		json_array_append_new(array, value);
		skip_blanks(p);
		if (p->at < p->end && *p->at == ']') {
			p->at++;
			return array;
		}
		if (p->at >= p->end || *p->at++ != ',')
			break;
	}
	json_decref(array);
	return NULL;
}

static int take_word(parser *p, const char *word, size_t length)
{
	if ((size_t)(p->end - p->at) < length || memcmp(p->at, word, length))
		return 0;
	p->at += length;
	return 1;
}

/* The value at p->at (blanks before it skipped), or NULL. */
static json_t *parse_value(parser *p)
{
	int payloads = p->payload_array;
	p->payload_array = 0;
	skip_blanks(p);
	if (p->at >= p->end)
		return NULL;
	json_t *value = NULL;
	switch (*p->at) {
	case '{':
	case '[':
		if (++p->depth > JSON_PARSE_MAX_DEPTH)
			return NULL;
		value = *p->at++ == '{' ? parse_object(p) : parse_array(p, payloads);
		p->depth--;
		return value;
	case '"': {
		p->at++;
		size_t length;
		char *owned;
		const char *text = parse_string(p, &length, &owned);
		value = text ? json_stringn_nocheck(text, length) : NULL;
		free(owned);
		return value;
	}
	case 't':
		return take_word(p, "true", 4) ? json_true() : NULL;
	case 'f':
		return take_word(p, "false", 5) ? json_false() : NULL;
	case 'n':
		return take_word(p, "null", 4) ? json_null() : NULL;
	default:
		return parse_number(p);
	}
}

static json_t *parse_plain(const char *text, size_t length, int any, const char *const *payload_keys)
{
	if (!length) /* not JSON, for jansson to say so (and text may be NULL: no arithmetic on it) */
		return NULL;
	parser p = {.at = (const unsigned char *)text,
	            .end = (const unsigned char *)text + length,
	            .payload_keys = payload_keys,
	            .moves_left = PORTICO_JSON_COPY_MOVES_PER_BYTE * length};
	skip_blanks(&p);
	if (!any && (p.at >= p.end || (*p.at != '{' && *p.at != '[')))
		return NULL;
	json_t *value = parse_value(&p);
	skip_blanks(&p);
	free(p.raw.data);
	if (value && p.at != p.end) {
		json_decref(value);
		return NULL;
	}
	return value;
}

json_t *portico_json_parse_plain(const char *text, size_t length, int any)
{
	return parse_plain(text, length, any, NULL);
}

json_t *portico_json_parse_plain_payloads(const char *text, size_t length, const char *const *payload_keys)
{
	return parse_plain(text, length, 0, payload_keys);
}

/* --- Parsing with jansson behind the plain parser ---------------------------------------------- */

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

/* A copy of text in which each number jansson refuses is a string holding a NUL and the number
 * (which mark_raw_numbers makes a raw number once jansson has read it), or NULL when there is
 * none, or when a string of text already holds \u0000 (it is refused either way, and would pass
 * for one of those strings). */
static char *quote_refused_numbers(const char *text, size_t length, size_t *out_length)
{
	portico_json_buffer out = {NULL, 0, 0};
	size_t copied = 0, i = 0;
	int real;
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
		size_t number = text[i] == '-' || isdigit((unsigned char)text[i])
		                        ? portico_json_number_length(text + i, text + length, &real)
		                        : 0;
		if (number && number_refused(text + i, number)) {
			portico_json_buffer_append(&out, text + copied, i - copied);
			portico_json_buffer_append(&out, "\"\\u0000", 7);
			portico_json_buffer_append(&out, text + i, number);
			portico_json_buffer_append(&out, "\"", 1);
			copied = i + number;
		}
		i += number ? number : 1;
	}
	if (!out.data)
		return NULL;
	portico_json_buffer_append(&out, text + copied, length - copied);
	*out_length = out.length;
	return out.data;
}

/* Makes each string of value that starts with a NUL, which only quote_refused_numbers made, a raw
 * number (json_text.h): jansson cannot read the mark's 0xff from text, so it is put in here. */
static void mark_raw_numbers(json_t *value)
{
	size_t index;
	const char *key;
	json_t *item;
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		json_object_foreach(value, key, item) mark_raw_numbers(item);
		break;
	case JSON_ARRAY:
		json_array_foreach(value, index, item) mark_raw_numbers(item);
		break;
	case JSON_STRING:
		if (json_string_length(value) && !json_string_value(value)[0]) {
			portico_json_buffer marked = {NULL, 0, 0};
			portico_json_buffer_append(&marked, PORTICO_JSON_RAW_MARK, PORTICO_JSON_RAW_MARK_LENGTH);
			portico_json_buffer_append(&marked, json_string_value(value) + 1,
			                           json_string_length(value) - 1);
			json_string_setn_nocheck(value, marked.data, marked.length);
			free(marked.data);
		}
		break;
	default:
		break;
	}
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
	if (value)
		mark_raw_numbers(value);
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
