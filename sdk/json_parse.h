/* A JSON parser for what Portico reads most, ahead of jansson's: it makes the same jansson values
 * jansson's json_loadb would (same types, same key order, same strings and numbers), but reads
 * strings a word at a time, so a request carrying a megabyte payload costs a few instructions a
 * byte instead of jansson's hundred and more. It takes the plain case only: whatever it is not
 * sure of (an error anywhere, a number out of range, nesting deeper than JSON_PARSE_MAX_DEPTH,
 * \u0000) it leaves to jansson, which then gives the answer and its error message. */
#ifndef PORTICO_JSON_PARSE_H
#define PORTICO_JSON_PARSE_H

#include <stddef.h>

#include <jansson.h>

/* Nesting beyond this is left to jansson (whose own limit is JSON_PARSER_MAX_DEPTH, 2048). */
#define JSON_PARSE_MAX_DEPTH 512

/* The value of text (length bytes; any JSON value when any, else an object or an array, as
 * json_loadb with JSON_DECODE_ANY or without), a new reference, or NULL when it leaves the text to
 * jansson. */
json_t *portico_json_parse_plain(const char *text, size_t length, int any);

/* As portico_json_parse_plain(text, length, 0), except that where the text is an object, the
 * elements of an array under one of payload_keys (NULL-ended) at its top that are objects or arrays
 * may come as raw values (json_text.h) of their canonical text, the payload data
 * portico_payload_from_json would make of their trees, without the trees: each that json_copy
 * can write (portico_json_copy_value with PORTICO_JSON_SORT_KEYS, one sorting budget for the
 * whole text: once it is spent, payloads that need sorting come as trees) and that is not an object
 * holding "metadata" or "_protoMessageType" at its top (which payload.c reads in the tree). For a
 * body whose payloads are read only as payloads. */
json_t *portico_json_parse_plain_payloads(const char *text, size_t length, const char *const *payload_keys);

/* Parses JSON text as json_loadb(text, length, flags, error) does (the plain parser of
 * json_parse.h first, jansson for what it leaves), except that the numbers
 * jansson refuses (integers beyond 64 bits, reals beyond a double) become raw numbers instead of
 * failing the whole text, so that they reach a payload digit for digit. flags must not hold
 * JSON_ALLOW_NUL. Returns a new reference, or NULL with error. */
json_t *portico_json_parse(const char *text, size_t length, size_t flags, json_error_t *error);

/* As portico_json_parse(text, length, 0, error), except that the payloads in the arrays under
 * payload_keys (NULL-ended) at the top of the object may come as raw values of their data
 * (portico_json_parse_plain_payloads), when the plain parser reads the text. For a request body
 * whose payloads are read only by portico_payload_from_json, and written only as payload data. */
json_t *portico_json_parse_body(const char *text, size_t length, const char *const *payload_keys, json_error_t *error);

#endif
