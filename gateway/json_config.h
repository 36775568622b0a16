/* The gateway's JSON configuration files (PORTICO_AUTH_FILE, the JWKS file it names, and
 * PORTICO_WEBHOOKS_FILE), read one strict way: at most JSON_CONFIG_MAX_BYTES, UTF-8, no key twice
 * in an object, an object at the top; then walked with nodes that know how messages name them, so
 * that every refusal names the file and the place ("auth.json: apiKeys[2] (\"ci\"): sha256:
 * expected …"). It lives in the gateway because only the gateway reads JSON files; the SDK takes
 * its settings from the environment. */
#ifndef GATEWAY_JSON_CONFIG_H
#define GATEWAY_JSON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

#define JSON_CONFIG_MAX_BYTES (1024 * 1024)

/* Reads file strictly as above. Returns the top-level object (the caller json_decrefs it), or
 * NULL with err ("file: line 3, column 7: duplicate object key"). */
json_t *json_config_load(const char *file, portico_error *err);

/* A place in a loaded file. Nodes point into the loaded JSON and hold no references: they live
 * no longer than it, and need no freeing. */
typedef struct json_config_node {
	const json_t *value; /* NULL when the member is absent */
	const char *file;    /* for messages */
	portico_error *err;  /* where failures go */
	char name[192];      /* how messages name it: "top level", "verify.secrets[0]" */
	char prefix[192];    /* how its members' names start: "", "verify.", "webhook \"bad\": " */
} json_config_node;

/* The top level of a file loaded by json_config_load; its members are named by their keys. */
json_config_node json_config_top(const char *file, const json_t *root, portico_error *err);

/* The member key of object (absent, or object not an object: value NULL), named prefix + key. */
json_config_node json_config_member(const json_config_node *object, const char *key);

/* Element index of array (value NULL past its end), named name[index]. */
json_config_node json_config_element(const json_config_node *array, size_t index);

/* node, named by a label of its own (printf-style, such as `webhook "name"`), with its members
 * named "label: key"; self, when not NULL, is appended for messages about the node itself
 * ("label: self"). */
json_config_node json_config_labelled(const json_config_node *node, const char *self, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Fails with "file: name: what" (INVALID_ARGUMENT); returns -1. */
int json_config_fail(const json_config_node *node, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* As json_config_fail, naming node's prefix + relative ("verify.toleranceSeconds") instead: for
 * rules about how members go together rather than about one of them. */
int json_config_fail_at(const json_config_node *node, const char *relative, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Fails when node is not an object ("expected <expected>"), or has a key not in allowed
 * (NULL-terminated): `unknown field "key" (expected a, b, c)`. 0 when it is fine. */
int json_config_object(const json_config_node *node, const char *const *allowed, const char *expected);

#define JSON_CONFIG_REQUIRED  1u /* absent: "is required" */
#define JSON_CONFIG_NON_EMPTY 2u /* "": "expected a non-empty string" */

/* *out is node's string (owned by the loaded JSON), or NULL when absent and not required. Fails
 * when it is not a string, or breaks flags. */
int json_config_string(const json_config_node *node, unsigned flags, const char **out);

/* *out is node's integer, left as it was when absent. Fails with "expected <expected>" when it is
 * not an integer from minimum to maximum. */
int json_config_integer(const json_config_node *node, int64_t minimum, int64_t maximum, const char *expected,
                        int64_t *out);

#endif
