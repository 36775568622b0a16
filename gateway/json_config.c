#include "json_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

json_t *json_config_load(const char *file, portico_error *err)
{
	FILE *stream = fopen(file, "rb");
	if (!stream) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: cannot open it", file);
		return NULL;
	}
	/* One byte more than allowed tells a file at the limit from one over it. */
	char *text = portico_malloc(JSON_CONFIG_MAX_BYTES + 1);
	size_t length = fread(text, 1, JSON_CONFIG_MAX_BYTES + 1, stream);
	int unread = ferror(stream);
	fclose(stream);
	json_error_t error;
	json_t *root = NULL;
	if (unread)
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: cannot read it", file);
	else if (length > JSON_CONFIG_MAX_BYTES)
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: over %d bytes", file, JSON_CONFIG_MAX_BYTES);
	else if (!(root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &error)))
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: line %d, column %d: %s", file, error.line,
		                  error.column, error.text);
	free(text);
	return root;
}

/* Names are for messages: one cut short at sizeof name still says where. */
static void set_name(char *out, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));

static void set_name(char *out, size_t size, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	vsnprintf(out, size, format, args);
	va_end(args);
}

json_config_node json_config_top(const char *file, const json_t *root, portico_error *err)
{
	json_config_node node = {.value = root, .file = file, .err = err};
	set_name(node.name, sizeof node.name, "top level");
	return node;
}

json_config_node json_config_member(const json_config_node *object, const char *key)
{
	json_config_node node = {
	        .value = json_object_get(object->value, key), .file = object->file, .err = object->err};
	set_name(node.name, sizeof node.name, "%s%s", object->prefix, key);
	set_name(node.prefix, sizeof node.prefix, "%s.", node.name);
	return node;
}

json_config_node json_config_element(const json_config_node *array, size_t index)
{
	json_config_node node = {.value = json_array_get(array->value, index), .file = array->file, .err = array->err};
	set_name(node.name, sizeof node.name, "%s[%zu]", array->name, index);
	set_name(node.prefix, sizeof node.prefix, "%s.", node.name);
	return node;
}

json_config_node json_config_labelled(const json_config_node *node, const char *self, const char *format, ...)
{
	json_config_node labelled = *node;
	char label[sizeof labelled.name];
	va_list args;
	va_start(args, format);
	vsnprintf(label, sizeof label, format, args);
	va_end(args);
	set_name(labelled.name, sizeof labelled.name, "%s%s%s", label, self ? ": " : "", self ? self : "");
	set_name(labelled.prefix, sizeof labelled.prefix, "%s: ", label);
	return labelled;
}

static int fail_named(const json_config_node *node, const char *name, const char *format, va_list args)
{
	char *what = portico_vsprintf(format, args);
	portico_error_set(node->err, PORTICO_INVALID_ARGUMENT, "%s: %s: %s", node->file, name, what);
	free(what);
	return -1;
}

int json_config_fail(const json_config_node *node, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	fail_named(node, node->name, format, args);
	va_end(args);
	return -1;
}

int json_config_fail_at(const json_config_node *node, const char *relative, const char *format, ...)
{
	char name[sizeof node->prefix + 64];
	snprintf(name, sizeof name, "%s%s", node->prefix, relative);
	va_list args;
	va_start(args, format);
	fail_named(node, name, format, args);
	va_end(args);
	return -1;
}

int json_config_object(const json_config_node *node, const char *const *allowed, const char *expected)
{
	if (!json_is_object(node->value))
		return json_config_fail(node, "expected %s", expected);
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)node->value, key, value)
	{
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], key))
			i++;
		if (allowed[i])
			continue;
		char *names = portico_strdup("");
		for (i = 0; allowed[i]; i++) {
			char *longer = portico_sprintf("%s%s%s", names, i ? ", " : "", allowed[i]);
			free(names);
			names = longer;
		}
		json_config_fail(node, "unknown field \"%s\" (expected %s)", key, names);
		free(names);
		return -1;
	}
	return 0;
}

int json_config_string(const json_config_node *node, unsigned flags, const char **out)
{
	*out = NULL;
	if (!node->value)
		return flags & JSON_CONFIG_REQUIRED ? json_config_fail(node, "is required") : 0;
	if (!json_is_string(node->value) || ((flags & JSON_CONFIG_NON_EMPTY) && !json_string_length(node->value)))
		return json_config_fail(node, (flags & JSON_CONFIG_NON_EMPTY) ? "expected a non-empty string"
		                                                              : "expected a string");
	*out = json_string_value(node->value);
	return 0;
}

int json_config_integer(const json_config_node *node, int64_t minimum, int64_t maximum, const char *expected,
                        int64_t *out)
{
	if (!node->value)
		return 0;
	if (!json_is_integer(node->value) || json_integer_value(node->value) < minimum ||
	    json_integer_value(node->value) > maximum)
		return json_config_fail(node, "expected %s", expected);
	*out = json_integer_value(node->value);
	return 0;
}
