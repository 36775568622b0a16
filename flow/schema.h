/* JSON Schema for a flow's `input`, `output` and `export` schemas: a small validator for a clear
 * subset, checked when a definition loads and applied when a run starts (the gateway answers 400
 * before starting a run whose input does not match) and as a run moves data (the interpreter).
 *
 * The subset: type (a name or a list of names: null, boolean, object, array, number, integer,
 * string), properties, required, additionalProperties (a boolean or a schema), items (one schema
 * for every item), enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers),
 * minLength, maxLength (in characters), minItems, maxItems, pattern (a POSIX extended regular
 * expression, unanchored as JSON Schema's are; \d and back-references are refused, and so are
 * repetitions that expand it past FLOW_SCHEMA_MAX_PATTERN_SIZE parts), anyOf, oneOf,
 * allOf, not, and the boolean schemas true and false. The annotations title, description,
 * $schema, $comment, default, examples, deprecated, readOnly, writeOnly and format are accepted
 * and not asserted (JSON Schema 2020-12 does not assert format either). Any other keyword ($ref,
 * $defs, patternProperties, …) is refused when the schema is checked, never ignored. */
#ifndef PORTICO_FLOW_SCHEMA_H
#define PORTICO_FLOW_SCHEMA_H

#include <jansson.h>

#include "error.h"

#define FLOW_SCHEMA_MAX_PATTERN 512 /* bytes of one pattern */
/* Parts a pattern expands to (see compile_pattern in schema.c): glibc's regcomp copies what a
 * counted repetition repeats, and its time and memory grow faster than the copies:
 * ((a{1,200}){1,200}){1,200}, 27 bytes, took 17 s and gigabytes. */
#define FLOW_SCHEMA_MAX_PATTERN_SIZE 1000
#define FLOW_SCHEMA_MAX_STEPS        100000 /* schema-node visits in one validation (anyOf nests multiply) */

/* Checks that schema uses only the subset above, each keyword with a value of the right shape
 * (patterns compile). Returns 0, or -1 with err (INVALID_ARGUMENT) naming the keyword's path in
 * the schema, e.g. "/properties/id/minLength: expected a non-negative integer". */
int flow_schema_check(const json_t *schema, portico_error *err);

/* Validates value against schema (one that flow_schema_check accepted). Returns 0, or -1 with err
 * (INVALID_ARGUMENT) naming the failing instance path after what, e.g. "input/orderId: expected a
 * string" (what: "input", "output", "/do/0/fetch export", …). */
int flow_schema_validate(const json_t *schema, const json_t *value, const char *what, portico_error *err);

#endif
