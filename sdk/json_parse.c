#include "json_parse.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json_copy.h"
#include "json_scan.h"

/* Numbers longer than this are left to jansson (they are legal, just rare). */
#define NUMBER_MAX_LENGTH 63

typedef struct parser {
	const unsigned char *at, *end;
	int depth;
	const char *const *payload_keys; /* see portico_json_parse_plain_payloads; NULL for none */
	int payload_array;               /* the value parse_value reads next is under a payload key */
	portico_json_buffer raw;         /* a raw value's text as it is made; freed by parse_plain */
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

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF, as jansson checks), or 0. */
static size_t utf8_length(const unsigned char *s, const unsigned char *end)
{
	size_t length;
	uint32_t point;
	if (s[0] < 0xc2)
		return 0;
	if (s[0] < 0xe0)
		length = 2, point = s[0] & 0x1f;
	else if (s[0] < 0xf0)
		length = 3, point = s[0] & 0x0f;
	else if (s[0] < 0xf5)
		length = 4, point = s[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - s) < length)
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		point = point << 6 | (s[i] & 0x3f);
	}
	if ((length == 3 && point < 0x800) || (length == 4 && point < 0x10000) || point > 0x10ffff ||
	    (point >= 0xd800 && point <= 0xdfff))
		return 0;
	return length;
}

/* The four hex digits at s as a number, or -1. */
static long hex4(const unsigned char *s)
{
	long value = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char c = s[i];
		int digit = c >= '0' && c <= '9'   ? c - '0'
		            : c >= 'a' && c <= 'f' ? c - 'a' + 10
		            : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                                   : -1;
		if (digit < 0)
			return -1;
		value = value << 4 | digit;
	}
	return value;
}

static size_t put_utf8(unsigned char *out, uint32_t point)
{
	if (point < 0x80) {
		out[0] = (unsigned char)point;
		return 1;
	}
	if (point < 0x800) {
		out[0] = (unsigned char)(0xc0 | point >> 6);
		out[1] = (unsigned char)(0x80 | (point & 0x3f));
		return 2;
	}
	if (point < 0x10000) {
		out[0] = (unsigned char)(0xe0 | point >> 12);
		out[1] = (unsigned char)(0x80 | ((point >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (point & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | point >> 18);
	out[1] = (unsigned char)(0x80 | ((point >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((point >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (point & 0x3f));
	return 4;
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
	if (*c != 'u' || end - c < 5)
		return 0;
	long point = hex4(c + 1);
	c += 5;
	if (point <= 0 || (point >= 0xdc00 && point <= 0xdfff))
		return 0;
	if (point >= 0xd800 && point <= 0xdbff) {
		long low = end - c >= 6 && c[0] == '\\' && c[1] == 'u' ? hex4(c + 2) : -1;
		if (low < 0xdc00 || low > 0xdfff)
			return 0;
		point = 0x10000 + ((point - 0xd800) << 10) + (low - 0xdc00);
		c += 6;
	}
	*s = c;
	return put_utf8(out, (uint32_t)point);
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
			size_t sequence = utf8_length(c, p->end);
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

/* A number's text as RFC 8259 writes it; returns its length, or 0. */
static size_t number_length(const unsigned char *s, const unsigned char *end, int *real)
{
	const unsigned char *c = s;
	*real = 0;
	if (c < end && *c == '-')
		c++;
	if (c < end && *c == '0')
		c++;
	else if (c < end && *c >= '1' && *c <= '9')
		while (c < end && *c >= '0' && *c <= '9')
			c++;
	else
		return 0;
	if (c < end && *c == '.') {
		const unsigned char *digits = ++c;
		while (c < end && *c >= '0' && *c <= '9')
			c++;
		if (c == digits)
			return 0;
		*real = 1;
	}
	if (c < end && (*c == 'e' || *c == 'E')) {
		c++;
		if (c < end && (*c == '+' || *c == '-'))
			c++;
		const unsigned char *digits = c;
		while (c < end && *c >= '0' && *c <= '9')
			c++;
		if (c == digits)
			return 0;
		*real = 1;
	}
	return (size_t)(c - s);
}

/* A number as jansson makes it: an integer without fraction or exponent, else a real; NULL for
 * one out of range (jansson refuses it, and portico_json_parse keeps it as a raw number). */
static json_t *parse_number(parser *p)
{
	int real;
	size_t length = number_length(p->at, p->end, &real);
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
	portico_json_buffer_append(&p->raw, "", 1);
	size_t used = portico_json_copy_value(&p->raw, (const char *)p->at, (size_t)(p->end - p->at),
	                                      PORTICO_JSON_SORT_KEYS, payload_tree_keys);
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
	            .payload_keys = payload_keys};
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
