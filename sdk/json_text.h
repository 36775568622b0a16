/* JSON text from jansson values, compact, with numbers written as the shortest text that reads
 * back to the same double (0.1, not jansson's 0.10000000000000001). Everything Portico sends as
 * JSON (payload data, HTTP bodies) goes through here. */
#ifndef PORTICO_JSON_TEXT_H
#define PORTICO_JSON_TEXT_H

#include <stddef.h>

#include <jansson.h>

#define PORTICO_JSON_SORT_KEYS 1

/* Returns the text of value (any JSON value) and its length; the caller frees it. Raw values
 * (below) are written as the text they hold. */
char *portico_json_text(const json_t *value, int flags, size_t *length);

/* A growing text buffer, always NUL-terminated once anything is in it; the owner frees data. */
typedef struct portico_json_buffer {
	char *data;
	size_t length, capacity;
} portico_json_buffer;

/* Makes room for length more bytes (and the NUL after them) and returns where they go; the
 * caller writes them and then adds length to buffer->length and writes the NUL. */
char *portico_json_buffer_reserve(portico_json_buffer *buffer, size_t length);

/* Adds length bytes of text. */
void portico_json_buffer_append(portico_json_buffer *buffer, const char *text, size_t length);

/* Adds value's text as portico_json_text writes it. */
void portico_json_append_value(portico_json_buffer *buffer, const json_t *value, int flags);

/* Adds text (length bytes, taken as they are: not checked for UTF-8) as a JSON string, with '"',
 * '\\' and the control characters escaped. */
void portico_json_append_string(portico_json_buffer *buffer, const char *text, size_t length);

/* Adds the shortest %g form that reads back as the same double, with ".0" when it would read as
 * an integer; null for NaN and the infinities. */
void portico_json_append_real(portico_json_buffer *buffer, double value);

/* A raw value is a JSON string of PORTICO_JSON_RAW_MARK and then JSON text that portico_json_text
 * writes as it is, whatever its flags: a raw number (a number jansson refuses, kept digit for digit
 * by portico_json_parse) or a raw object or array (its text as portico_json_text writes it with
 * PORTICO_JSON_SORT_KEYS, made by portico_json_parse_body only); the text's first byte tells which.
 * The mark's 0xff is never in UTF-8, so no string jansson or jq made (from a request, a webhook's
 * raw body, an HTTP response, an expression) can pass for one, whatever NULs it holds. */
#define PORTICO_JSON_RAW_MARK        "\0\xff"
#define PORTICO_JSON_RAW_MARK_LENGTH 2

/* Returns a raw number's text (owned by value), or NULL when value is not a raw number. */
const char *portico_json_raw_number(const json_t *value);

/* Returns a raw value's text (owned by value) and its length in *length, or NULL when value is not
 * a raw value. */
const char *portico_json_raw_text(const json_t *value, size_t *length);

/* Returns value's text as json_dumps(value, flags) writes it or, when value holds a raw value
 * (whose mark jansson cannot write: it is not UTF-8), as portico_json_text writes it (raw values as
 * the text they hold, keys sorted when flags hold JSON_SORT_KEYS), with its length in *length when
 * length is not NULL; never NULL. For text whose form predates raw values (hashes, webhooks' bodies,
 * size checks) and that may hold numbers portico_json_parse kept. The caller frees it. */
char *portico_json_dumps(const json_t *value, size_t flags, size_t *length);

#endif
