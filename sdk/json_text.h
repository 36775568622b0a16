/* JSON text from jansson values, compact, with numbers written as the shortest text that reads
 * back to the same double (0.1, not jansson's 0.10000000000000001). Everything Portico sends as
 * JSON (payload data, HTTP bodies) goes through here. */
#ifndef PORTICO_JSON_TEXT_H
#define PORTICO_JSON_TEXT_H

#include <stddef.h>

#include <jansson.h>

#define PORTICO_JSON_SORT_KEYS 1

/* Returns the text of value (any JSON value) and its length; the caller frees it. */
char *portico_json_text(const json_t *value, int flags, size_t *length);

#endif
