/* The JSON Schema subset of flows (schema.h). */
#include "schema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "path.h"

static const char *const annotations[] = {"title",    "description", "$schema",  "$comment",  "default",
                                          "examples", "deprecated",  "readOnly", "writeOnly", "format"};
static const char *const type_names[] = {"null", "boolean", "object", "array", "number", "integer", "string"};

#define SUPPORTED                                                                                                      \
	"type, properties, required, additionalProperties, items, enum, const, minimum, maximum, "                     \
	"exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems, maxItems, pattern, anyOf, oneOf, "        \
	"allOf, not"

#define STRINGIFY(x) #x
#define TEXT(x)      STRINGIFY(x)

static int among(const char *s, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}

static int fail(portico_error *err, const char *what, const flow_path *path, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

static int fail(portico_error *err, const char *what, const flow_path *path, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	char *message = portico_vsprintf(format, args);
	va_end(args);
	portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s%s: %s", what, flow_path_text(path), message);
	free(message);
	return -1;
}

/* A loop (*, +, {m,}) weighs this many parts: glibc's time grows with the cube of the copies of
 * a loop that matches nothing, e.g. (()*){1,1000} took 9 s and (a*){1,1000} 7 s. */
#define LOOP_WEIGHT 10
/* Sizes stop growing here (past the limit, how far past does not matter), so products stay in
 * 64 bits: SIZE_CAP × RE_DUP_MAX. */
#define SIZE_CAP (FLOW_SCHEMA_MAX_PATTERN_SIZE + 1)

static uint64_t capped(uint64_t size)
{
	return size < SIZE_CAP ? size : SIZE_CAP;
}

/* The number after *p (at most 5 digits, as glibc's bound is 32767; more reads as 99999), p moved
 * past it; -1 when there is no digit. */
static long bound_at(const char **p)
{
	long n = -1;
	for (int digits = 0; **p >= '0' && **p <= '9'; (*p)++)
		n = ++digits > 5 ? 99999 : (n < 0 ? 0 : n) * 10 + (**p - '0');
	return n;
}

/* An open group of a pattern while pattern_size reads it: the size of its finished
 * alternatives, of the branch so far and of the branch's last piece (which a repetition applies
 * to), and whether each (and the branch before its last piece) can match nothing. */
typedef struct pattern_group {
	uint64_t done, branch, last;
	int done_empty, branch_empty, last_empty, before_empty;
} pattern_group;

static const pattern_group empty_group = {0, 0, 0, 0, 1, 0, 1};

/* Adds a piece of size and emptiness to g's branch. */
static void add_piece(pattern_group *g, uint64_t size, int empty)
{
	g->branch = capped(g->branch + size);
	g->last = size;
	g->before_empty = g->branch_empty;
	g->last_empty = empty;
	g->branch_empty = g->branch_empty && empty;
}

/* How many parts glibc's regcomp builds for pattern, from its text alone: an atom, an anchor, a
 * group and a | are one each; a repetition copies what it repeats as glibc does ({m,n} n times,
 * {m} m, {m,} m + 1, + twice) and adds a loop (LOOP_WEIGHT) for *, + and {m,}. Capped at SIZE_CAP;
 * SIZE_CAP too when a repetition repeats what can match nothing (a?+, (a|){2}, (^|a)*): glibc's
 * time on those grows exponentially with their nesting ((){1,5}{0,9}a?+ ran for minutes), and
 * each is a plainer pattern written another way. Iterative: a pattern is up to
 * FLOW_SCHEMA_MAX_PATTERN bytes of nested groups, and schemas are checked on a workflow's small
 * stack. What regcomp refuses anyway (an unclosed [ or {) needs no exact count. */
static uint64_t pattern_size(const char *pattern)
{
	pattern_group groups[FLOW_SCHEMA_MAX_PATTERN / 2 + 2];
	size_t depth = 0;
	groups[0] = empty_group;
	for (const char *p = pattern; *p; p++) {
		pattern_group *g = &groups[depth];
		uint64_t piece = 1;
		int empty = 0;
		switch (*p) {
		case '\\':
			if (p[1])
				p++;
			break;
		case '^':
		case '$':
			empty = 1;
			break;
		case '[':
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
					const char *end = strchr(p + 2, p[1]);
					p = end && end[1] == ']' ? end + 1 : p;
				}
				p++;
			}
			if (!*p)
				p--;
			break;
		case '(':
			if (depth + 1 < sizeof groups / sizeof *groups) {
				groups[++depth] = empty_group;
				continue;
			}
			break;
		case ')':
			if (depth) {
				piece = capped(g->done + g->branch + 1);
				empty = g->done_empty || g->branch_empty;
				g = &groups[--depth];
			}
			break;
		case '|':
			g->done = capped(g->done + g->branch + 1);
			g->done_empty = g->done_empty || g->branch_empty;
			g->branch = g->last = 0;
			g->branch_empty = g->before_empty = 1, g->last_empty = 0;
			continue;
		case '*':
		case '+':
		case '?':
		case '{': {
			const char *q = p + 1;
			long low = 0, high = 1, loop = *p != '?';
			if (*p == '+')
				low = 1, high = 2;
			else if (*p == '{') {
				low = bound_at(&q);
				high = *q == ',' ? (q++, bound_at(&q)) : low;
				if (*q != '}' || (low < 0 && high < 0))
					break; /* not a repetition: regcomp refuses it */
				loop = q[-1] == ',';
				low = low < 0 ? 0 : low;
				high = loop ? low + 1 : high;
				p = q;
			}
			if (g->last_empty)
				return SIZE_CAP;
			uint64_t copies = capped(g->last * (uint64_t)(high > 1 ? high : 1) + (loop ? LOOP_WEIGHT : 1));
			g->branch = capped(g->branch - g->last + copies);
			g->last = copies;
			g->last_empty = low == 0;
			g->branch_empty = g->before_empty && g->last_empty;
			continue;
		}
		}
		add_piece(g, piece, empty);
	}
	for (; depth; depth--)
		add_piece(&groups[depth - 1], capped(groups[depth].done + groups[depth].branch + 1), 0);
	return capped(groups[0].done + groups[0].branch);
}

#define PATTERN_SIZE TEXT(FLOW_SCHEMA_MAX_PATTERN_SIZE)

/* Compiles pattern as the validator will, refusing the ECMA-262 forms POSIX reads differently
 * (glibc takes "\d" for a plain "d", which would match silently wrong), back-references (whose
 * matching is exponential) and patterns whose repetitions expand them past
 * FLOW_SCHEMA_MAX_PATTERN_SIZE parts: refused by their text alone, the same every time. 0 with *re
 * compiled (the caller frees it), or -1 with *why. */
static int compile_pattern(const char *pattern, regex_t *re, const char **why)
{
	if (strlen(pattern) > FLOW_SCHEMA_MAX_PATTERN) {
		*why = "a pattern longer than " TEXT(FLOW_SCHEMA_MAX_PATTERN) " bytes";
		return -1;
	}
	for (const char *p = pattern; *p; p++) {
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'd' || *p == 'D') {
			*why = "\\d is not POSIX: write [0-9]";
			return -1;
		}
		if (*p >= '1' && *p <= '9') {
			*why = "back-references are not supported";
			return -1;
		}
		if (!*p)
			break;
	}
	if (pattern_size(pattern) > FLOW_SCHEMA_MAX_PATTERN_SIZE) {
		*why = "its repetitions expand it past " PATTERN_SIZE " parts (nested counts multiply), or "
		       "repeat what can match nothing (as a?+ or (a|){2})";
		return -1;
	}
	if (regcomp(re, pattern, REG_EXTENDED | REG_NOSUB)) {
		*why = "not a POSIX extended regular expression";
		return -1;
	}
	return 0;
}

/* The check's walk: patterns holds the texts compiled so far (each is compiled once per check). */
typedef struct checker {
	flow_path path;
	json_t *patterns;
	portico_error *err;
} checker;

static int check_at(const json_t *schema, checker *c);

static int check_schemas(const json_t *list, checker *c)
{
	if (!json_is_array(list) || !json_array_size(list))
		return fail(c->err, "", &c->path, "expected a non-empty list of schemas");
	size_t index;
	const json_t *item;
	json_array_foreach(list, index, item)
	{
		size_t mark = flow_path_push_index(&c->path, index);
		if (check_at(item, c))
			return -1;
		flow_path_pop(&c->path, mark);
	}
	return 0;
}

static int check_type(const json_t *type, checker *c)
{
	if (json_is_string(type) && among(json_string_value(type), type_names, 7))
		return 0;
	size_t index;
	const json_t *name;
	if (json_is_array(type) && json_array_size(type)) {
		json_array_foreach(type, index, name) if (!json_is_string(name) ||
		                                          !among(json_string_value(name), type_names, 7)) break;
		if (index == json_array_size(type))
			return 0;
	}
	return fail(c->err, "", &c->path,
	            "expected a type name or a non-empty list of them (null, boolean, object, array, number, integer, "
	            "string)");
}

static int check_keyword(const char *key, const json_t *value, checker *c)
{
	if (!strcmp(key, "type"))
		return check_type(value, c);
	if (!strcmp(key, "properties")) {
		if (!json_is_object(value))
			return fail(c->err, "", &c->path, "expected an object of schemas");
		const char *name;
		const json_t *member;
		json_object_foreach((json_t *)value, name, member)
		{
			size_t mark = flow_path_push(&c->path, name);
			if (check_at(member, c))
				return -1;
			flow_path_pop(&c->path, mark);
		}
		return 0;
	}
	if (!strcmp(key, "required")) {
		size_t index;
		const json_t *name;
		if (!json_is_array(value))
			return fail(c->err, "", &c->path, "expected a list of property names");
		json_array_foreach(value, index, name) if (!json_is_string(name)) return fail(
		        c->err, "", &c->path, "expected a list of property names");
		return 0;
	}
	if (!strcmp(key, "additionalProperties") || !strcmp(key, "items") || !strcmp(key, "not"))
		return check_at(value, c);
	if (!strcmp(key, "enum"))
		return json_is_array(value) && json_array_size(value)
		               ? 0
		               : fail(c->err, "", &c->path, "expected a non-empty list");
	if (!strcmp(key, "const"))
		return 0;
	if (!strcmp(key, "minimum") || !strcmp(key, "maximum") || !strcmp(key, "exclusiveMinimum") ||
	    !strcmp(key, "exclusiveMaximum"))
		return json_is_number(value) ? 0 : fail(c->err, "", &c->path, "expected a number");
	if (!strcmp(key, "minLength") || !strcmp(key, "maxLength") || !strcmp(key, "minItems") ||
	    !strcmp(key, "maxItems"))
		return json_is_integer(value) && json_integer_value(value) >= 0
		               ? 0
		               : fail(c->err, "", &c->path, "expected a non-negative integer");
	if (!strcmp(key, "pattern")) {
		regex_t re;
		const char *why = "expected a string";
		if (json_is_string(value) && json_object_get(c->patterns, json_string_value(value)))
			return 0;
		if (!json_is_string(value) || compile_pattern(json_string_value(value), &re, &why))
			return fail(c->err, "", &c->path, "%s", why);
		regfree(&re);
		json_object_set_new(c->patterns, json_string_value(value), json_true());
		return 0;
	}
	if (!strcmp(key, "anyOf") || !strcmp(key, "oneOf") || !strcmp(key, "allOf"))
		return check_schemas(value, c);
	return fail(c->err, "", &c->path, "unsupported keyword \"%s\" (supported: " SUPPORTED ")", key);
}

static int check_at(const json_t *schema, checker *c)
{
	if (json_is_boolean(schema))
		return 0;
	if (!json_is_object(schema))
		return fail(c->err, "", &c->path, "expected a schema (an object or a boolean)");
	const char *key;
	const json_t *value;
	json_object_foreach((json_t *)schema, key, value)
	{
		if (among(key, annotations, sizeof annotations / sizeof *annotations))
			continue;
		size_t mark = flow_path_push(&c->path, key);
		if (check_keyword(key, value, c))
			return -1;
		flow_path_pop(&c->path, mark);
	}
	return 0;
}

int flow_schema_check(const json_t *schema, portico_error *err)
{
	checker c = {.patterns = json_object(), .err = err};
	int rc = check_at(schema, &c);
	flow_path_free(&c.path);
	json_decref(c.patterns);
	return rc;
}

/* --- Validation ------------------------------------------------------------------------------ */

typedef struct validation {
	const char *what;
	flow_path path; /* of the instance */
	size_t steps;   /* schema nodes visited */
	portico_error *err;
	/* The patterns compiled so far, each once per validation however many values it meets:
	 * text → index in compiled (count of them, owned, freed with regfree). */
	json_t *patterns;
	regex_t *compiled;
	size_t count;
} validation;

static int validate_at(validation *v, const json_t *schema, const json_t *value);

/* JSON Schema's equality: numbers by value (1 equals 1.0), the rest structurally. */
static int same(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!same(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		const char *key;
		const json_t *member;
		json_object_foreach((json_t *)a, key, member)
		{
			const json_t *other = json_object_get(b, key);
			if (!other || !same(member, other))
				return 0;
		}
		return 1;
	}
	return json_equal(a, b);
}

static int is_type(const json_t *value, const char *name)
{
	if (!strcmp(name, "null"))
		return json_is_null(value);
	if (!strcmp(name, "boolean"))
		return json_is_boolean(value);
	if (!strcmp(name, "object"))
		return json_is_object(value);
	if (!strcmp(name, "array"))
		return json_is_array(value);
	if (!strcmp(name, "number"))
		return json_is_number(value);
	if (!strcmp(name, "integer"))
		return json_is_integer(value) ||
		       (json_is_real(value) && floor(json_real_value(value)) == json_real_value(value));
	return json_is_string(value);
}

static int validate_type(validation *v, const json_t *type, const json_t *value)
{
	if (json_is_string(type)) {
		const char *name = json_string_value(type);
		if (is_type(value, name))
			return 0;
		return fail(v->err, v->what, &v->path, "expected %s %s", strchr("aeiou", name[0]) ? "an" : "a", name);
	}
	size_t index;
	const json_t *name;
	json_array_foreach(type, index, name) if (is_type(value, json_string_value(name))) return 0;
	char *names = json_dumps(type, JSON_COMPACT);
	fail(v->err, v->what, &v->path, "expected one of the types %s", names);
	free(names);
	return -1;
}

/* Characters (code points) of a UTF-8 string (jansson's strings are valid UTF-8). */
static size_t characters(const json_t *string)
{
	const char *s = json_string_value(string);
	size_t count = 0;
	for (size_t i = 0; i < json_string_length(string); i++)
		count += ((unsigned char)s[i] & 0xC0) != 0x80;
	return count;
}

static int validate_number(validation *v, const char *key, const json_t *limit, const json_t *value)
{
	if (!json_is_number(value))
		return 0;
	double x = json_number_value(value), bound = json_number_value(limit);
	int ok = !strcmp(key, "minimum")            ? x >= bound
	         : !strcmp(key, "maximum")          ? x <= bound
	         : !strcmp(key, "exclusiveMinimum") ? x > bound
	                                            : x < bound;
	if (ok)
		return 0;
	return fail(v->err, v->what, &v->path, "%g is not %s %g", x,
	            !strcmp(key, "minimum")            ? "at least"
	            : !strcmp(key, "maximum")          ? "at most"
	            : !strcmp(key, "exclusiveMinimum") ? "more than"
	                                               : "less than",
	            bound);
}

static int validate_count(validation *v, const char *key, const json_t *limit, const json_t *value)
{
	int strings = !strcmp(key, "minLength") || !strcmp(key, "maxLength");
	if (strings ? !json_is_string(value) : !json_is_array(value))
		return 0;
	size_t count = strings ? characters(value) : json_array_size(value);
	size_t bound = (size_t)json_integer_value(limit);
	int minimum = !strcmp(key, "minLength") || !strcmp(key, "minItems");
	if (minimum ? count >= bound : count <= bound)
		return 0;
	return fail(v->err, v->what, &v->path, "expected %s %zu %s, not %zu", minimum ? "at least" : "at most", bound,
	            strings ? "characters" : "items", count);
}

/* The compiled pattern (owned by v), or NULL with *why. */
static const regex_t *pattern_of(validation *v, const char *pattern, const char **why)
{
	const json_t *index = json_object_get(v->patterns, pattern);
	if (index)
		return &v->compiled[json_integer_value(index)];
	regex_t re;
	if (compile_pattern(pattern, &re, why))
		return NULL;
	v->compiled = portico_realloc(v->compiled, sizeof *v->compiled * (v->count + 1));
	v->compiled[v->count] = re;
	json_object_set_new(v->patterns, pattern, json_integer((json_int_t)v->count));
	return &v->compiled[v->count++];
}

static int validate_pattern(validation *v, const json_t *pattern, const json_t *value)
{
	if (!json_is_string(value))
		return 0;
	const char *why;
	const regex_t *re = pattern_of(v, json_string_value(pattern), &why);
	if (!re)
		return fail(v->err, v->what, &v->path, "the schema's pattern: %s", why);
	if (!regexec(re, json_string_value(value), 0, NULL, 0))
		return 0;
	return fail(v->err, v->what, &v->path, "does not match the pattern %s", json_string_value(pattern));
}

static int validate_object(validation *v, const json_t *schema, const json_t *value)
{
	const json_t *required = json_object_get(schema, "required");
	const json_t *properties = json_object_get(schema, "properties");
	const json_t *additional = json_object_get(schema, "additionalProperties");
	size_t index;
	const json_t *name;
	json_array_foreach(required, index, name) if (!json_object_get(value, json_string_value(name))) return fail(
	        v->err, v->what, &v->path, "the required property \"%s\" is missing", json_string_value(name));
	const char *key;
	const json_t *member;
	json_object_foreach((json_t *)value, key, member)
	{
		const json_t *sub = json_object_get(properties, key);
		if (!sub)
			sub = additional;
		if (!sub)
			continue;
		size_t mark = flow_path_push(&v->path, key);
		if (json_is_false(sub) && sub == additional)
			return fail(v->err, v->what, &v->path, "an unexpected property");
		if (validate_at(v, sub, member))
			return -1;
		flow_path_pop(&v->path, mark);
	}
	return 0;
}

/* How many of list's schemas value matches (stops counting at stop); their errors are dropped. */
static size_t matches(validation *v, const json_t *list, const json_t *value, size_t stop)
{
	portico_error *err = v->err;
	portico_error scratch = PORTICO_ERROR_INIT;
	v->err = &scratch;
	size_t count = 0, index;
	const json_t *schema;
	json_array_foreach(list, index, schema)
	{
		size_t mark = v->path.length;
		if (!validate_at(v, schema, value) && ++count == stop)
			break;
		flow_path_pop(&v->path, mark);
	}
	portico_error_clear(&scratch);
	v->err = err;
	return count;
}

/* One keyword other than properties, required and additionalProperties (validate_object's). */
static int validate_keyword(validation *v, const char *key, const json_t *keyword, const json_t *value)
{
	if (!strcmp(key, "type"))
		return validate_type(v, keyword, value);
	if (!strcmp(key, "enum")) {
		size_t index;
		const json_t *option;
		json_array_foreach(keyword, index, option) if (same(option, value)) return 0;
		return fail(v->err, v->what, &v->path, "not one of the values the schema's enum lists");
	}
	if (!strcmp(key, "const"))
		return same(keyword, value) ? 0 : fail(v->err, v->what, &v->path, "not the schema's const value");
	if (!strcmp(key, "minimum") || !strcmp(key, "maximum") || !strcmp(key, "exclusiveMinimum") ||
	    !strcmp(key, "exclusiveMaximum"))
		return validate_number(v, key, keyword, value);
	if (!strcmp(key, "minLength") || !strcmp(key, "maxLength") || !strcmp(key, "minItems") ||
	    !strcmp(key, "maxItems"))
		return validate_count(v, key, keyword, value);
	if (!strcmp(key, "pattern"))
		return validate_pattern(v, keyword, value);
	if (!strcmp(key, "items") && json_is_array(value)) {
		size_t index;
		const json_t *item;
		json_array_foreach(value, index, item)
		{
			size_t mark = flow_path_push_index(&v->path, index);
			if (validate_at(v, keyword, item))
				return -1;
			flow_path_pop(&v->path, mark);
		}
		return 0;
	}
	if (!strcmp(key, "allOf")) {
		size_t index;
		const json_t *sub;
		json_array_foreach(keyword, index, sub) if (validate_at(v, sub, value)) return -1;
		return 0;
	}
	if (!strcmp(key, "anyOf"))
		return matches(v, keyword, value, 1)
		               ? 0
		               : fail(v->err, v->what, &v->path, "matches none of anyOf's schemas");
	if (!strcmp(key, "oneOf")) {
		size_t count = matches(v, keyword, value, 2);
		return count == 1 ? 0
		                  : fail(v->err, v->what, &v->path, "matches %s of oneOf's schemas, not exactly one",
		                         count ? "more than one" : "none");
	}
	if (!strcmp(key, "not")) {
		json_t *list = json_pack("[O]", keyword);
		size_t count = matches(v, list, value, 1);
		json_decref(list);
		return count ? fail(v->err, v->what, &v->path, "matches the schema of not") : 0;
	}
	return 0;
}

static int validate_at(validation *v, const json_t *schema, const json_t *value)
{
	if (++v->steps > FLOW_SCHEMA_MAX_STEPS)
		return fail(v->err, v->what, &v->path, "the schema takes too many steps (over %d) to check",
		            FLOW_SCHEMA_MAX_STEPS);
	if (json_is_true(schema))
		return 0;
	if (json_is_false(schema))
		return fail(v->err, v->what, &v->path, "not allowed (the schema is false)");
	/* properties, required and additionalProperties act together, so once, here. */
	if (json_is_object(value) && validate_object(v, schema, value))
		return -1;
	const char *key;
	const json_t *keyword;
	json_object_foreach((json_t *)schema, key, keyword) if (validate_keyword(v, key, keyword, value)) return -1;
	return 0;
}

int flow_schema_validate(const json_t *schema, const json_t *value, const char *what, portico_error *err)
{
	validation v = {.what = what, .err = err, .patterns = json_object()};
	int rc = validate_at(&v, schema, value);
	for (size_t i = 0; i < v.count; i++)
		regfree(&v.compiled[i]);
	free(v.compiled);
	json_decref(v.patterns);
	if (rc && v.steps > FLOW_SCHEMA_MAX_STEPS)
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "%s: the schema takes too many steps (over %d) to check", what,
		                  FLOW_SCHEMA_MAX_STEPS);
	flow_path_free(&v.path);
	return rc;
}
