/* JSON text to JSON text without a tree: what portico_json_parse and then portico_json_text (no
 * flags) give, byte for byte, for the texts that are plain enough to copy in one pass. Payload
 * data (json/plain) goes out in responses this way, the tree kept for the rest. */
#ifndef PORTICO_JSON_COPY_H
#define PORTICO_JSON_COPY_H

#include <stddef.h>

#include "json_text.h"

/* Adds to buffer the text of the one JSON value text holds (length bytes), compact, exactly as
 * portico_json_text(portico_json_parse(text, length, JSON_DECODE_ANY, NULL), 0, NULL) writes it.
 * Returns 0, or -1 with buffer as it was when the text is not one this pass copies: not JSON as
 * jansson reads it, or JSON whose tree differs from its text in ways a pass cannot follow
 * (repeated keys, \u0000, integers beyond 18 digits, reals beyond a double or written in more
 * than 64 characters, nesting deeper than PORTICO_JSON_COPY_MAX_DEPTH). The caller then takes
 * the tree's way, which decides. */
int portico_json_copy(portico_json_buffer *buffer, const char *text, size_t length);

/* Sorting an object moves its members' text once more; past this many bytes moved for each byte
 * of a text (deep objects each sorted in turn) the tree's way is the cheaper one. */
#define PORTICO_JSON_COPY_MOVES_PER_BYTE 4

/* Adds to buffer the text of the JSON value at the start of text (length bytes; blanks before
 * and after it skipped), compact, as portico_json_text(tree, flags, NULL) writes the value
 * portico_json_parse makes of it; flags is 0 or PORTICO_JSON_SORT_KEYS (a payload's canonical
 * text, payload.c's). Returns the bytes read, or 0 with buffer as it was for what
 * portico_json_copy refuses, and, sorted, for an object with a key holding '"', '\\' or a control
 * character (its escaped text does not sort as its bytes) or one sorted at a cost beyond the
 * tree's; and for an object holding at its top one of absent_keys (NULL-ended, plain ASCII keys; or
 * NULL), which the caller reads otherwise. What follows the value is not looked at: the caller
 * reads on from there.
 * The cost: sorting moves at most *moves_left bytes, and *moves_left goes down by what it moved,
 * copied or not. A caller copying several values out of one text gives them all one budget, set
 * once to PORTICO_JSON_COPY_MOVES_PER_BYTE times the whole text's length, so that the whole text
 * costs at most that much more than its bytes; moves_left NULL is that budget for length alone. */
size_t portico_json_copy_value(portico_json_buffer *buffer, const char *text, size_t length, int flags,
                               const char *const *absent_keys, size_t *moves_left);

/* Arrays and objects nested deeper are left to the tree (jansson's own limit is 2048). */
#define PORTICO_JSON_COPY_MAX_DEPTH 256

/* Whether text (length bytes) is UTF-8 as jansson takes it: no overlong forms, no surrogates,
 * nothing past U+10FFFF. */
int portico_json_utf8_valid(const char *text, size_t length);

#endif
