/* The libjq side of runtime expressions (expr_jq.h). */
#include "expr_jq.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>
#include <jv.h>

#include "alloc.h"
#include "json_text.h"

/* The spec's variables, bound whether or not the caller gives them (a missing one is null), so
 * that an expression that names one always compiles. */
static const char *const standard_names[] = {"context", "input", "output", "workflow", "task", "runtime", "__now"};
#define STANDARD_NAMES (sizeof(standard_names) / sizeof(standard_names[0]))

/* Binds the data and the variables from the one input (an array: data, then each name's value in
 * flow_jq_names' order), then replaces every builtin that reads the world outside the run, and
 * gives the program the data as `.`. Definitions shadow builtins for the code after them, and the
 * builtins' own jq code never calls these (input/inputs call the callback-less _input). The
 * program follows on its own line, so jq's line numbers are the program's plus one, and a module
 * directive (import, include), which jq accepts only at the top of a program, is a syntax error.
 * `{} as $ENV` binds $ENV, so jq does not make it from the environment. */
static const char prelude_defs[] =
        "{} as $ENV"
        " | def now: if $__now == null then error(\"now: the workflow time is not known here\") else $__now end;"
        " def input: $input; def inputs: $input; def env: $ENV; def input_filename: null;"
        " def localtime: gmtime;"
        " def strflocaltime($format): if type == \"number\" then gmtime else . end | strftime($format);"
        " def halt: error(\"halt is not available in a runtime expression\");"
        " def halt_error: error(\"halt_error is not available in a runtime expression\");"
        " def halt_error($code): halt_error;"
        " def debug: error(\"debug is not available in a runtime expression\");"
        " def stderr: error(\"stderr is not available in a runtime expression\");"
        " def input_line_number: error(\"input_line_number is not available in a runtime expression\");"
        " def get_search_list: error(\"get_search_list is not available in a runtime expression\");"
        " def get_prog_origin: error(\"get_prog_origin is not available in a runtime expression\");"
        " def get_jq_origin: error(\"get_jq_origin is not available in a runtime expression\");"
        " def modulemeta: error(\"modulemeta is not available in a runtime expression\");"
        " $__portico_data |\n";

static void (*nomem_handler)(void *);

void flow_jq_set_nomem_handler(void (*handler)(void *))
{
	nomem_handler = handler;
}

struct flow_jq_program {
	jq_state *jq;
	json_t *names; /* the bound names, in the order of the input array */
};

/* jq's keywords cannot follow a `$` (the lexer reads them as keywords). */
static int is_identifier(const char *name)
{
	static const char *const keywords[] = {"as",   "import", "include", "module", "def",     "if",     "then",
	                                       "else", "elif",   "and",     "or",     "end",     "reduce", "foreach",
	                                       "try",  "catch",  "label",   "break",  "__loc__", "ENV"};
	if (!(*name == '_' || (*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z')))
		return 0;
	for (const char *c = name; *c; c++)
		if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
			return 0;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (!strcmp(name, keywords[i]))
			return 0;
	return strncmp(name, "__portico", 9) != 0;
}

static int is_standard(const char *name)
{
	for (size_t i = 0; i < STANDARD_NAMES; i++)
		if (!strcmp(name, standard_names[i]))
			return 1;
	return 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *flow_jq_names(const json_t *vars, portico_error *err)
{
	if (vars && !json_is_object(vars)) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the variables of an expression must be an object");
		return NULL;
	}
	size_t count = vars ? json_object_size(vars) : 0;
	/* Freed below; the names point into vars. */
	const char **extra = portico_calloc(count, sizeof(*extra));
	size_t extras = 0;
	const char *key;
	const json_t *value;
	json_object_foreach((json_t *)vars, key, value)
	{
		if (!is_identifier(key)) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "variable \"%.64s\" cannot be bound in jq: a name is letters, digits and _, "
			                  "not a keyword nor ENV or __portico…",
			                  key);
			free(extra);
			return NULL;
		}
		if (!is_standard(key))
			extra[extras++] = key;
	}
	qsort(extra, extras, sizeof(*extra), compare_strings);
	json_t *names = json_array();
	for (size_t i = 0; i < STANDARD_NAMES; i++)
		json_array_append_new(names, json_string(standard_names[i]));
	for (size_t i = 0; i < extras; i++)
		json_array_append_new(names, json_string(extra[i]));
	free(extra);
	return names;
}

/* jq's compile messages, collected by the error callback. */
typedef struct messages {
	char *text; /* owned; "; "-joined, bounded by MAX_MESSAGE */
} messages;

#define MAX_MESSAGE 1024

/* How many of text's first bytes, at most max, end on a whole UTF-8 character: a message cut to
 * its bound stays valid UTF-8 (and so JSON). */
static size_t utf8_prefix(const char *text, size_t max)
{
	size_t length = strlen(text);
	if (length <= max)
		return length;
	while (max && ((unsigned char)text[max] & 0xC0) == 0x80)
		max--;
	return max;
}

static void append_message(messages *m, const char *text, size_t len)
{
	size_t have = m->text ? strlen(m->text) : 0;
	if (have >= MAX_MESSAGE)
		return;
	len = utf8_prefix(text, len < MAX_MESSAGE - have ? len : MAX_MESSAGE - have);
	m->text = portico_realloc(m->text, have + len + 3);
	if (have) {
		memcpy(m->text + have, "; ", 2);
		have += 2;
	}
	memcpy(m->text + have, text, len);
	m->text[have + len] = '\0';
}

/* Rewrites one of jq's compile messages, "jq: error: <what> at <top-level>, line <n>:\n<the line>",
 * as "<what> at line <n - 1>" (the prelude's line is not the user's), without the hint about shell
 * quoting, which has no place here. The count of errors jq adds at the end ("jq: 1 compile error")
 * is dropped. */
static void on_compile_error(void *data, jv message)
{
	static const char hint[] = " (Unix shell quoting issues?)";
	static const char at_line[] = " at <top-level>, line ";
	messages *m = data;
	const char *original = jv_get_kind(message) == JV_KIND_STRING ? jv_string_value(message) : "jq: ";
	if (strncmp(original, "jq: error: ", 11)) {
		jv_free(message);
		return;
	}
	char *text = portico_strdup(original + 11); /* freed below */
	jv_free(message);
	char *cut = strstr(text, hint);
	if (cut)
		memmove(cut, cut + strlen(hint), strlen(cut + strlen(hint)) + 1);
	long line = 0;
	if ((cut = strstr(text, at_line))) {
		line = strtol(cut + strlen(at_line), NULL, 10);
		*cut = '\0';
	} else if ((cut = strstr(text, "\n<unknown location>")))
		*cut = '\0';
	char *whole = line > 1 ? portico_sprintf("%s at line %ld", text, line - 1) : portico_strdup(text);
	append_message(m, whole, strlen(whole));
	free(whole);
	free(text);
}

static void drop_message(void *data, jv message)
{
	(void)data;
	jv_free(message);
}

flow_jq_program *flow_jq_compile(const char *program, const json_t *names, portico_error *err)
{
	/* ". as [$__portico_data, $context, …] | " then the prelude's definitions, then the program. */
	size_t size = 64 + sizeof(prelude_defs) + strlen(program);
	size_t index;
	const json_t *name;
	json_array_foreach(names, index, name) size += json_string_length(name) + 3;
	char *text = portico_malloc(size); /* freed below */
	size_t used = (size_t)snprintf(text, size, ". as [$__portico_data");
	json_array_foreach(names, index, name) used +=
	        (size_t)snprintf(text + used, size - used, ", $%s", json_string_value(name));
	snprintf(text + used, size - used, "] | %s%s", prelude_defs, program);

	jq_state *jq = jq_init();
	if (nomem_handler)
		jq_set_nomem_handler(jq, nomem_handler, NULL);
	messages m = {NULL};
	jq_set_error_cb(jq, on_compile_error, &m);
	jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
	int compiled = jq_compile_args(jq, text, jv_object());
	free(text);
	if (!compiled) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s",
		                  m.text ? m.text : "the expression does not compile");
		free(m.text);
		jq_teardown(&jq);
		return NULL;
	}
	free(m.text);
	/* m is gone when this returns; run-time errors come back from jq_next, not the callback. */
	jq_set_error_cb(jq, drop_message, NULL);
	flow_jq_program *p = portico_malloc(sizeof(*p));
	p->jq = jq;
	p->names = json_deep_copy(names);
	return p;
}

void flow_jq_free(flow_jq_program *p)
{
	if (!p)
		return;
	jq_teardown(&p->jq);
	json_decref(p->names);
	free(p);
}

/* 2^53: the integers a double holds exactly, and so jq does. */
#define EXACT_INTEGER      9007199254740992.0
#define EXACT_INTEGER_BITS ((json_int_t)1 << 53)

/* A jansson value as a jv, or an invalid jv with err set. */
static jv to_jv(const json_t *value, int depth, portico_error *err)
{
	if (depth > FLOW_JQ_MAX_DEPTH) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "a value nests deeper than %d levels",
		                  FLOW_JQ_MAX_DEPTH);
		return jv_invalid();
	}
	switch (json_typeof(value)) {
	case JSON_NULL:
		return jv_null();
	case JSON_TRUE:
		return jv_true();
	case JSON_FALSE:
		return jv_false();
	case JSON_INTEGER: {
		json_int_t n = json_integer_value(value);
		if (n > EXACT_INTEGER_BITS || n < -EXACT_INTEGER_BITS) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "the number %" JSON_INTEGER_FORMAT
			                  " is beyond ±2^53, where jq's numbers stop being exact; send it as a string",
			                  n);
			return jv_invalid();
		}
		return jv_number((double)n);
	}
	case JSON_REAL:
		return jv_number(json_real_value(value));
	case JSON_STRING:
		if (portico_json_raw_number(value)) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT, FLOW_JQ_RAW_NUMBER_MESSAGE);
			return jv_invalid();
		}
		if (json_string_length(value) > INT_MAX) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT, "a string is too long for jq");
			return jv_invalid();
		}
		return jv_string_sized(json_string_value(value), (int)json_string_length(value));
	case JSON_ARRAY: {
		jv array = jv_array_sized((int)json_array_size(value));
		size_t i;
		const json_t *item;
		json_array_foreach(value, i, item)
		{
			jv v = to_jv(item, depth + 1, err);
			if (!jv_is_valid(v)) {
				jv_free(array);
				return v;
			}
			array = jv_array_append(array, v);
		}
		return array;
	}
	case JSON_OBJECT: {
		jv object = jv_object();
		const char *key;
		size_t key_len;
		json_t *item;
		json_object_keylen_foreach((json_t *)value, key, key_len, item)
		{
			jv v = to_jv(item, depth + 1, err);
			if (!jv_is_valid(v)) {
				jv_free(object);
				return v;
			}
			object = jv_object_set(object, jv_string_sized(key, (int)key_len), v);
		}
		return object;
	}
	}
	portico_error_set(err, PORTICO_INTERNAL, "a JSON value of an unknown type");
	return jv_invalid();
}

/* A jv (consumed) as a new jansson value, or NULL with err set. Numbers: an integral value within
 * ±2^53 becomes an integer, others a real; NaN becomes null and ±infinity ±DBL_MAX, as jq prints
 * them. */
static json_t *from_jv(jv value, int depth, portico_error *err)
{
	if (depth > FLOW_JQ_MAX_DEPTH) {
		jv_free(value);
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the value nests deeper than %d levels",
		                  FLOW_JQ_MAX_DEPTH);
		return NULL;
	}
	switch (jv_get_kind(value)) {
	case JV_KIND_INVALID:
	case JV_KIND_NULL:
		jv_free(value);
		return json_null();
	case JV_KIND_FALSE:
		return json_false();
	case JV_KIND_TRUE:
		return json_true();
	case JV_KIND_NUMBER: {
		double d = jv_number_value(value);
		jv_free(value);
		if (isnan(d))
			return json_null();
		if (isinf(d))
			return json_real(d > 0 ? DBL_MAX : -DBL_MAX);
		if (d == floor(d) && fabs(d) <= EXACT_INTEGER)
			return json_integer((json_int_t)d);
		return json_real(d);
	}
	case JV_KIND_STRING: {
		json_t *s = json_stringn(jv_string_value(value), (size_t)jv_string_length_bytes(jv_copy(value)));
		jv_free(value);
		if (!s)
			portico_error_set(err, PORTICO_INTERNAL, "jq gave a string that is not UTF-8");
		return s;
	}
	case JV_KIND_ARRAY: {
		json_t *array = json_array();
		int length = jv_array_length(jv_copy(value));
		for (int i = 0; i < length; i++) {
			json_t *item = from_jv(jv_array_get(jv_copy(value), i), depth + 1, err);
			if (!item) {
				json_decref(array);
				jv_free(value);
				return NULL;
			}
			json_array_append_new(array, item);
		}
		jv_free(value);
		return array;
	}
	case JV_KIND_OBJECT: {
		json_t *object = json_object();
		for (int i = jv_object_iter(value); jv_object_iter_valid(value, i); i = jv_object_iter_next(value, i)) {
			jv key = jv_object_iter_key(value, i);
			json_t *item = from_jv(jv_object_iter_value(value, i), depth + 1, err);
			if (!item) {
				jv_free(key);
				json_decref(object);
				jv_free(value);
				return NULL;
			}
			json_object_setn_new(object, jv_string_value(key), (size_t)jv_string_length_bytes(jv_copy(key)),
			                     item);
			jv_free(key);
		}
		jv_free(value);
		return object;
	}
	}
	jv_free(value);
	portico_error_set(err, PORTICO_INTERNAL, "jq gave a value of an unknown kind");
	return NULL;
}

/* Sets err from the message of jq's error (consumed): a string as it is, another value as JSON. */
static void set_run_error(jv message, portico_error *err)
{
	if (jv_get_kind(message) == JV_KIND_STRING) {
		const char *text = jv_string_value(message);
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%.*s", (int)utf8_prefix(text, MAX_MESSAGE), text);
		jv_free(message);
		return;
	}
	jv text = jv_dump_string(message, 0);
	portico_error_set(err, PORTICO_INVALID_ARGUMENT, "error (not a string): %.*s",
	                  (int)utf8_prefix(jv_string_value(text), MAX_MESSAGE), jv_string_value(text));
	jv_free(text);
}

json_t *flow_jq_run(flow_jq_program *p, const json_t *data, const json_t *vars, portico_error *err)
{
	jv input = to_jv(data ? data : json_null(), 0, err);
	if (!jv_is_valid(input))
		return NULL;
	input = JV_ARRAY(input);
	size_t index;
	const json_t *name;
	json_array_foreach(p->names, index, name)
	{
		const json_t *value = vars ? json_object_get(vars, json_string_value(name)) : NULL;
		jv v = to_jv(value ? value : json_null(), 0, err);
		if (!jv_is_valid(v)) {
			jv_free(input);
			return NULL;
		}
		input = jv_array_append(input, v);
	}
	jq_start(p->jq, input, 0);
	jv first = jv_invalid();
	int count = 0;
	for (;;) {
		jv value = jq_next(p->jq);
		if (!jv_is_valid(value)) {
			jv message = jv_invalid_get_msg(value);
			if (jv_get_kind(message) == JV_KIND_NULL) {
				/* The end of the values (jq 1.6 also ends them for error(null)). */
				jv_free(message);
				break;
			}
			jv_free(first);
			set_run_error(message, err);
			return NULL;
		}
		if (++count == 1) {
			first = value;
			continue;
		}
		jv_free(value);
		if (count > FLOW_JQ_MAX_COUNTED)
			break;
	}
	if (count > 1) {
		jv_free(first);
		if (count > FLOW_JQ_MAX_COUNTED)
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "the expression gave more than %d values; wrap it in [ ] for an array",
			                  FLOW_JQ_MAX_COUNTED);
		else
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "the expression gave %d values; wrap it in [ ] for an array", count);
		return NULL;
	}
	return count ? from_jv(first, 0, err) : json_null();
}

typedef struct cache_entry {
	char *key; /* owned: the names, a newline, the program */
	flow_jq_program *program;
	unsigned long long used; /* the cache's clock when last returned */
} cache_entry;

struct flow_jq_cache {
	cache_entry *entries; /* owned; capacity of them, count in use */
	size_t capacity, count;
	unsigned long long clock;
};

flow_jq_cache *flow_jq_cache_new(size_t capacity)
{
	flow_jq_cache *cache = portico_calloc(1, sizeof(*cache));
	cache->capacity = capacity ? capacity : 1;
	cache->entries = portico_calloc(cache->capacity, sizeof(*cache->entries));
	return cache;
}

static char *cache_key(const char *program, const json_t *names)
{
	size_t size = strlen(program) + 2;
	size_t index;
	const json_t *name;
	json_array_foreach(names, index, name) size += json_string_length(name) + 1;
	char *key = portico_malloc(size);
	size_t used = 0;
	json_array_foreach(names, index, name) used +=
	        (size_t)snprintf(key + used, size - used, "%s,", json_string_value(name));
	snprintf(key + used, size - used, "\n%s", program);
	return key;
}

flow_jq_program *flow_jq_cache_get(flow_jq_cache *cache, const char *program, const json_t *names, portico_error *err)
{
	char *key = cache_key(program, names); /* kept by a new entry, else freed */
	cache_entry *slot = NULL;
	for (size_t i = 0; i < cache->count; i++)
		if (!strcmp(cache->entries[i].key, key)) {
			free(key);
			cache->entries[i].used = ++cache->clock;
			return cache->entries[i].program;
		}
	flow_jq_program *p = flow_jq_compile(program, names, err);
	if (!p) {
		free(key);
		return NULL;
	}
	if (cache->count < cache->capacity)
		slot = &cache->entries[cache->count++];
	else {
		slot = &cache->entries[0];
		for (size_t i = 1; i < cache->count; i++)
			if (cache->entries[i].used < slot->used)
				slot = &cache->entries[i];
		free(slot->key);
		flow_jq_free(slot->program);
	}
	*slot = (cache_entry){key, p, ++cache->clock};
	return p;
}

void flow_jq_cache_free(flow_jq_cache *cache)
{
	if (!cache)
		return;
	for (size_t i = 0; i < cache->count; i++) {
		free(cache->entries[i].key);
		flow_jq_free(cache->entries[i].program);
	}
	free(cache->entries);
	free(cache);
}
