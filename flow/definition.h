/* Flow definitions: Serverless Workflow 1.0 documents read from YAML or JSON and validated once,
 * when loaded, so that a run never meets a malformed node. A definition that fails is refused with
 * the JSON-pointer path of the offending node and what was expected there, e.g.
 * "/do/2/charge/call: unknown function \"chrage\" (use.functions defines: charge, refund)".
 *
 * Everything a caller controls is bounded: the text's size, nesting depth, node count and
 * expression length (the FLOW_MAX_* below); YAML anchors and aliases are refused (a "billion
 * laughs" document would otherwise expand without bound); duplicate keys are refused. */
#ifndef PORTICO_FLOW_DEFINITION_H
#define PORTICO_FLOW_DEFINITION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

#define FLOW_MAX_BYTES         (1024 * 1024)                    /* of a definition's text */
#define FLOW_MAX_DEPTH         64                               /* nesting of YAML/JSON nodes */
#define FLOW_MAX_NODES         50000                            /* scalars, sequences and mappings in one document */
#define FLOW_MAX_EXPRESSION    4096                             /* bytes of one runtime expression */
#define FLOW_MAX_DURATION_MS   (100LL * 366 * 24 * 3600 * 1000) /* of a wait, timeout or retry delay */
#define FLOW_CATALOG_MAX_FILES 1000                             /* definitions in PORTICO_FLOWS_DIR */

/* Parses text (len bytes, not NUL-terminated necessarily) as YAML 1.2 (JSON is YAML) into a JSON
 * tree: plain scalars resolve by the YAML core schema (null, true/false, integers, floats), quoted
 * ones stay strings. Returns a new reference, or NULL with err set (INVALID_ARGUMENT; the message
 * gives line and column). */
json_t *flow_parse(const char *text, size_t len, portico_error *err);

/* 0 when tree is within FLOW_MAX_DEPTH and FLOW_MAX_NODES, else -1 with err (INVALID_ARGUMENT).
 * flow_parse's trees always are; flow_validate applies it to a tree that came another way (an
 * inline definition the gateway parsed as JSON). */
int flow_check_bounds(const json_t *tree, portico_error *err);

/* The milliseconds of a valid duration (an ISO 8601 string "P[nW][nD][T[nH][nM][nS]]", or an
 * object of non-negative integers days, hours, minutes, seconds, milliseconds), at most
 * FLOW_MAX_DURATION_MS; -1 for anything else (years and months, which have no fixed length,
 * included). What the interpreter turns a wait, timeout or retry delay into. */
int64_t flow_duration_ms(const json_t *duration);

typedef struct flow_catalog flow_catalog;

/* Validates document (a parsed tree) as a Serverless Workflow 1.0 document with the task set
 * Portico runs (flow/README.md). Every runtime expression is compiled (expr.h) and every reference
 * resolved: functions and errors in `use`, `then` targets (a `then` that jumps back to itself or
 * to an earlier task is refused as a cycle: loops are `for`/`while`), and `run: workflow` targets
 * in catalog when catalog is not NULL (a child that is not there is refused; cycles between flows
 * are refused by flow_catalog_load). Returns 0, or -1 with err (INVALID_ARGUMENT) naming the path. */
int flow_validate(const json_t *document, const flow_catalog *catalog, portico_error *err);

/* Loads and validates every *.yaml, *.yml and *.json file in dir (not recursive). One bad file
 * refuses the whole directory, the error naming the file and the path in it, so that an operator
 * finds out when the gateway or worker starts, not when a run reaches the task. Two files
 * defining the same namespace, name and version are refused. Free with flow_catalog_free. */
flow_catalog *flow_catalog_load(const char *dir, portico_error *err);

/* An empty catalog (no PORTICO_FLOWS_DIR). */
flow_catalog *flow_catalog_new(void);
void flow_catalog_free(flow_catalog *catalog);

/* The document named name (document.name) in document namespace ns (NULL: any, when exactly one
 * namespace has that name), at version (NULL: the highest by semantic versioning). Borrowed, valid
 * as long as the catalog. NULL when there is none. */
const json_t *flow_catalog_find(const flow_catalog *catalog, const char *ns, const char *name, const char *version);

/* The loaded definitions, for GET …/flows: a new array of {"namespace", "name", "version", "dsl",
 * "title", "summary", "file"} (title/summary when the document has them), sorted by name, then
 * version. */
json_t *flow_catalog_list(const flow_catalog *catalog);

#endif
