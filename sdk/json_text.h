/* JSON text from jansson values, compact, with numbers written as the shortest text that reads
 * back to the same double (0.1, not jansson's 0.10000000000000001). Everything Portico sends as
 * JSON (payload data, HTTP bodies) goes through here. */
#ifndef PORTICO_JSON_TEXT_H
#define PORTICO_JSON_TEXT_H

#include <stddef.h>

#include <jansson.h>

#define PORTICO_JSON_SORT_KEYS 1

/* Returns the text of value (any JSON value) and its length; the caller frees it. Raw numbers
 * (below) are written as the numbers they hold. */
char *portico_json_text(const json_t *value, int flags, size_t *length);

/* Parses JSON text as json_loadb(text, length, flags, error) does (the plain parser of
 * json_parse.h first, jansson for what it leaves), except that the numbers
 * jansson refuses (integers beyond 64 bits, reals beyond a double) become raw numbers instead of
 * failing the whole text, so that they reach a payload digit for digit. flags must not hold
 * JSON_ALLOW_NUL. Returns a new reference, or NULL with error. */
json_t *portico_json_parse(const char *text, size_t length, size_t flags, json_error_t *error);

/* A raw number is a JSON string of a NUL and then a JSON number's text: no parsed string can
 * start so, since text with \u0000 is refused without JSON_ALLOW_NUL. Returns the number's text
 * (owned by value), or NULL when value is not a raw number. */
const char *portico_json_raw_number(const json_t *value);

#endif
