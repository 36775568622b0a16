#include "flow_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json_parse.h"
#include "json_text.h"
#include "schema.h"
#include "uuid.h"

/* Whether value holds a number portico_json_parse kept raw (json_text.h); *path is then where
 * (a JSON pointer, cut at its size). */
static int find_raw_number(const json_t *value, char *path, size_t size)
{
	if (portico_json_raw_number(value))
		return 1;
	size_t used = strlen(path), index;
	const char *key;
	json_t *item;
	if (json_is_object(value)) {
		json_object_foreach((json_t *)value, key, item)
		{
			snprintf(path + used, size - used, "/%s", key);
			if (find_raw_number(item, path, size))
				return 1;
		}
	} else if (json_is_array(value)) {
		json_array_foreach(value, index, item)
		{
			snprintf(path + used, size - used, "/%zu", index);
			if (find_raw_number(item, path, size))
				return 1;
		}
	}
	path[used] = '\0';
	return 0;
}

/* text as JSON, any value; NULL with err naming where it breaks. A flow computes with jq, whose
 * numbers are doubles, and its worker reads payloads with jansson: a number beyond 64 bits or a
 * double's range is refused here, where the caller hears of it, not lost on the way. */
static json_t *parse_json(const char *text, size_t length, const char *what, portico_error *err)
{
	json_error_t error;
	json_t *value = portico_json_parse(text, length, JSON_DECODE_ANY, &error);
	char path[256] = "";
	if (!value)
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s is not valid JSON: %s at line %d, column %d", what,
		                  error.text, error.line, error.column);
	else if (find_raw_number(value, path, sizeof path)) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "%s: %s is a number beyond what a flow holds (64-bit integers and doubles); send "
		                  "it as a string",
		                  what, *path ? path : "the value");
		json_decref(value);
		value = NULL;
	}
	return value;
}

json_t *flow_request_input(const char *body, size_t length, portico_error *err)
{
	if (!body || length == 0)
		return json_object();
	return parse_json(body, length, "the flow's input (the request body)", err);
}

/* err's message, about the definition, as a path in the request body: "/do/0/x: …" becomes
 * "/definition/do/0/x: …", a message without a path "/definition: …". */
static void under_definition(portico_error *err)
{
	char *message = portico_sprintf("/definition%s%s", err->message[0] == '/' ? "" : ": ", err->message);
	free(err->message);
	err->message = message;
}

/* The definition a body gives: an object as it is, a string parsed as YAML or JSON; bounded by
 * FLOW_MAX_BYTES either way. A new reference, or NULL with err. */
static json_t *read_definition(const json_t *given, portico_error *err)
{
	if (json_is_string(given)) {
		if (json_string_length(given) > FLOW_MAX_BYTES)
			goto too_large;
		json_t *parsed = flow_parse(json_string_value(given), json_string_length(given), err);
		if (!parsed)
			under_definition(err);
		return parsed;
	}
	if (!json_is_object(given)) {
		portico_error_set(
		        err, PORTICO_INVALID_ARGUMENT,
		        "/definition: expected the flow as an object, or its text (YAML or JSON) as a string");
		return NULL;
	}
	size_t length;
	free(portico_json_dumps(given, JSON_COMPACT, &length));
	if (length > FLOW_MAX_BYTES)
		goto too_large;
	return json_incref((json_t *)given);
too_large:
	portico_error_set(err, PORTICO_INVALID_ARGUMENT, "/definition: over %d bytes", FLOW_MAX_BYTES);
	return NULL;
}

int flow_request_inline(const char *body, size_t length, const flow_catalog *catalog, json_t **definition,
                        json_t **input, portico_error *err)
{
	*definition = *input = NULL;
	json_t *request = body && length ? parse_json(body, length, "the request body", err) : NULL;
	if (!request) {
		if (!err->message)
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "the request body is required: {\"definition\": {…}, \"input\": …}");
		return -1;
	}
	const char *key;
	json_t *value;
	if (!json_is_object(request)) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "the request body must be an object: {\"definition\": {…}, \"input\": …}");
		goto fail;
	}
	json_object_foreach(request, key, value)
	{
		if (strcmp(key, "definition") && strcmp(key, "input")) {
			/* A typo ("inputs") would otherwise start the flow with {} as its input. */
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "/%s: unknown field (expected definition and input)", key);
			goto fail;
		}
	}
	json_t *given = json_object_get(request, "definition");
	if (!given) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "/definition: required");
		goto fail;
	}
	if (!(*definition = read_definition(given, err)))
		goto fail;
	if (flow_validate(*definition, catalog, err)) {
		under_definition(err);
		goto fail;
	}
	value = json_object_get(request, "input");
	*input = value ? json_incref(value) : json_object();
	json_decref(request);
	return 0;
fail:
	json_decref(*definition);
	*definition = NULL;
	json_decref(request);
	return -1;
}

int flow_request_check_input(const json_t *document, const json_t *input, portico_error *err)
{
	const json_t *schema =
	        json_object_get(json_object_get(json_object_get(document, "input"), "schema"), "document");
	return schema ? flow_schema_validate(schema, input, "input", err) : 0;
}

json_t *flow_request_argument(const json_t *document, const json_t *input)
{
	return json_pack("{s:O,s:O}", "definition", document, "input", input);
}

json_t *flow_request_memo(const json_t *document)
{
	static const char *const fields[] = {"namespace", "name", "version", "dsl"};
	const json_t *about = json_object_get(document, "document");
	json_t *memo = json_object();
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		json_t *value = json_object_get(about, fields[i]);
		if (json_is_string(value))
			json_object_set(memo, fields[i], value);
	}
	return memo;
}

char *flow_request_workflow_id(const char *name)
{
	char uuid[PORTICO_UUID_LENGTH + 1];
	portico_uuid_v4(uuid);
	return portico_sprintf("%s-%s", name, uuid);
}

json_t *flow_request_start(const json_t *document, const json_t *input, const char *task_queue, const char *workflow_id,
                           portico_error *err)
{
	const char *name = json_string_value(json_object_get(json_object_get(document, "document"), "name"));
	if (!name || !*name) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "/document/name: expected the flow's name");
		return NULL;
	}
	json_t *start = json_pack("{s:{s:s},s:{s:s},s:[o],s:{s:{s:o}}}", "workflowType", "name", name, "taskQueue",
	                          "name", task_queue, "input", flow_request_argument(document, input), "memo", "fields",
	                          "flow", flow_request_memo(document));
	if (!workflow_id)
		return start;
	json_t *id = json_string(workflow_id);
	if (!id) {
		json_decref(start);
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "workflowId: not valid UTF-8");
		return NULL;
	}
	json_object_set_new(start, "workflowId", id);
	return start;
}

/* Appends text to *out (both owned by the caller; *out grows). */
static void append(char **out, const char *text)
{
	char *longer = portico_sprintf("%s%s", *out, text);
	free(*out);
	*out = longer;
}

/* The values of field in the catalog's entries named name (or of every entry, name NULL), each
 * once, comma-separated, at most FLOW_REQUEST_LISTED_MAX; NULL when there are none. */
static char *listed(const json_t *list, const char *name, const char *field)
{
	char *out = portico_strdup("");
	size_t count = 0, index;
	const char *last = NULL;
	json_t *entry;
	json_array_foreach(list, index, entry)
	{
		const char *value = json_string_value(json_object_get(entry, field));
		const char *entry_name = json_string_value(json_object_get(entry, "name"));
		if (!value || (name && (!entry_name || strcmp(entry_name, name))) || (last && !strcmp(last, value)))
			continue;
		last = value;
		if (++count <= FLOW_REQUEST_LISTED_MAX) {
			append(&out, count > 1 ? ", " : "");
			append(&out, value);
		}
	}
	if (count > FLOW_REQUEST_LISTED_MAX) {
		char more[48];
		snprintf(more, sizeof more, " and %zu more", count - FLOW_REQUEST_LISTED_MAX);
		append(&out, more);
	}
	if (!count) {
		free(out);
		return NULL;
	}
	return out;
}

char *flow_request_not_found(const flow_catalog *catalog, const char *name, const char *version)
{
	json_t *list = flow_catalog_list(catalog);
	char *versions = listed(list, name, "version"), *namespaces = listed(list, name, "namespace");
	char *names = listed(list, NULL, "name"), *message;
	if (versions && version)
		message = portico_sprintf("flow \"%s\" has no version \"%s\" (loaded: %s)", name, version, versions);
	else if (versions) /* found by name, yet not found: several document namespaces define it */
		message = portico_sprintf("flow \"%s\" is defined in several document namespaces (%s): Portico starts "
		                          "flows by name, which must be unique",
		                          name, namespaces);
	else if (names)
		message = portico_sprintf("no flow \"%s\" is loaded (loaded: %s; GET …/flows lists them)", name, names);
	else
		message = portico_sprintf("no flow \"%s\": no flows are loaded (PORTICO_FLOWS_DIR names their folder)",
		                          name);
	free(versions);
	free(namespaces);
	free(names);
	json_decref(list);
	return message;
}
