/* flow_parse (definition.h): YAML 1.2 text to a JSON tree through libyaml's event parser, the only
 * file that calls libyaml. Events rather than libyaml's document loader, because the loader builds
 * the whole node graph first (aliases expanded by reference) and only then could the bounds be
 * checked; here each event is counted as it arrives, so an oversized or over-deep document stops
 * at the first node past the bound. */
#include "definition.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "alloc.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

/* One open collection: the JSON node being filled, and for a mapping the key read last (NULL
 * while the next scalar is a key). */
typedef struct frame {
	json_t *node;
	char *key; /* owned */
} frame;

typedef struct builder {
	frame stack[FLOW_MAX_DEPTH];
	size_t depth;
	size_t nodes;
	json_t *root; /* owned until returned */
	portico_error *err;
} builder;

static int fail_at(builder *b, const yaml_mark_t *mark, const char *format, ...) __attribute__((format(printf, 3, 4)));

static int fail_at(builder *b, const yaml_mark_t *mark, const char *format, ...)
{
	char message[256];
	va_list args;
	va_start(args, format);
	vsnprintf(message, sizeof message, format, args);
	va_end(args);
	return portico_error_set(b->err, PORTICO_INVALID_ARGUMENT, "line %zu, column %zu: %s", mark->line + 1,
	                         mark->column + 1, message);
}

/* A string node, or NULL with err when the text is not UTF-8 (libyaml checks its input's encoding
 * but "\x" escapes can still produce bytes jansson refuses). */
static json_t *string_node(builder *b, const yaml_event_t *event, const char *s, size_t length)
{
	json_t *node = json_stringn(s, length);
	if (!node)
		fail_at(b, &event->start_mark, "a string that is not valid UTF-8");
	return node;
}

static int all_digits(const char *s, const char *digits)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!strchr(digits, *s))
			return 0;
	return 1;
}

static int is_null(const char *s)
{
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* 1 for true, 0 for false, -1 for neither (YAML 1.2 core: yes/no/on/off are strings). */
static int boolean_of(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return 1;
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return 0;
	return -1;
}

/* The core schema's integer forms: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+. Returns 1 with *value,
 * 0 when s is not an integer, -1 when it is one out of JSON's (jansson's) range. */
static int integer_of(const char *s, json_int_t *value)
{
	int base = 10;
	const char *digits = s;
	if (s[0] == '0' && s[1] == 'o') {
		base = 8;
		digits = s + 2;
		if (!all_digits(digits, "01234567"))
			return 0;
	} else if (s[0] == '0' && s[1] == 'x') {
		base = 16;
		digits = s + 2;
		if (!all_digits(digits, "0123456789abcdefABCDEF"))
			return 0;
	} else {
		if (*digits == '-' || *digits == '+')
			digits++;
		if (!all_digits(digits, "0123456789"))
			return 0;
		digits = s;
	}
	errno = 0;
	char *end;
	long long parsed = strtoll(digits, &end, base);
	if (errno == ERANGE)
		return -1;
	*value = parsed;
	return 1;
}

/* The core schema's float form [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, and its
 * .inf/.nan, which JSON cannot carry (returns -1 for those and for overflow). */
static int real_of(const char *s, double *value)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF") || !strcmp(s, ".nan") ||
	    !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
		return -1;
	size_t integral = strspn(p, "0123456789");
	p += integral;
	size_t fraction = 0;
	if (*p == '.') {
		p++;
		fraction = strspn(p, "0123456789");
		p += fraction;
	}
	if (!integral && !fraction)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		size_t exponent = strspn(p, "0123456789");
		if (!exponent)
			return 0;
		p += exponent;
	}
	if (*p)
		return 0;
	*value = strtod(s, NULL);
	return isfinite(*value) ? 1 : -1;
}

/* A plain (unquoted, untagged) scalar by the core schema: null, boolean, integer, float, else a
 * string. NULL with err for numbers JSON cannot hold. */
static json_t *resolve_plain(builder *b, const yaml_event_t *event, const char *s, size_t length)
{
	json_int_t integer;
	double real;
	int boolean = boolean_of(s);
	if (is_null(s))
		return json_null();
	if (boolean >= 0)
		return json_boolean(boolean);
	int kind = integer_of(s, &integer);
	if (kind > 0)
		return json_integer(integer);
	if (kind == 0)
		kind = real_of(s, &real);
	if (kind > 0)
		return json_real(real);
	if (kind < 0) {
		fail_at(b, &event->start_mark, "a number JSON cannot hold (out of range, infinite or NaN): quote it");
		return NULL;
	}
	return string_node(b, event, s, length);
}

/* A scalar with an explicit core tag (!!str, !!int, …): the text must be of that type. */
static json_t *resolve_tagged(builder *b, const yaml_event_t *event, const char *tag, const char *s, size_t length)
{
	json_int_t integer;
	double real;
	if (!strcmp(tag, "str"))
		return string_node(b, event, s, length);
	if (!strcmp(tag, "null") && is_null(s))
		return json_null();
	if (!strcmp(tag, "bool") && boolean_of(s) >= 0)
		return json_boolean(boolean_of(s));
	if (!strcmp(tag, "int") && integer_of(s, &integer) > 0)
		return json_integer(integer);
	if (!strcmp(tag, "float") && integer_of(s, &integer) > 0)
		return json_real((double)integer);
	if (!strcmp(tag, "float") && real_of(s, &real) > 0)
		return json_real(real);
	fail_at(b, &event->start_mark, "a scalar that is not of its tag's type");
	return NULL;
}

/* The suffix of a core-schema tag, or NULL with err for any other tag. Collections may carry only
 * their own tag. */
static const char *core_tag(builder *b, const yaml_event_t *event, const yaml_char_t *tag, const char *allowed)
{
	if (!tag)
		return "";
	const char *text = (const char *)tag;
	if (!strncmp(text, TAG_PREFIX, strlen(TAG_PREFIX))) {
		const char *suffix = text + strlen(TAG_PREFIX);
		size_t n = strlen(suffix);
		for (const char *p = allowed; (p = strstr(p, suffix)); p += n)
			if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
				return suffix;
	}
	fail_at(b, &event->start_mark,
	        "a tag other than the YAML core schema's (!!str, !!int, !!float, !!bool, "
	        "!!null, !!seq, !!map) is not supported");
	return NULL;
}

/* Adds node (owned) where the stack's top expects a value, or as the root. */
static int place(builder *b, const yaml_event_t *event, json_t *node)
{
	if (!b->depth) {
		b->root = node;
		return 0;
	}
	frame *top = &b->stack[b->depth - 1];
	if (json_is_array(top->node))
		return json_array_append_new(top->node, node);
	if (!top->key) {
		if (!json_is_string(node)) {
			json_decref(node);
			return fail_at(b, &event->start_mark, "a mapping key must be a string (quote it)");
		}
		const char *key = json_string_value(node);
		if (strlen(key) != json_string_length(node)) {
			json_decref(node);
			return fail_at(b, &event->start_mark, "a mapping key holds a NUL character");
		}
		if (json_object_get(top->node, key)) {
			json_decref(node);
			return fail_at(b, &event->start_mark, "duplicate mapping key");
		}
		top->key = portico_strdup(key);
		json_decref(node);
		return 0;
	}
	json_object_set_new(top->node, top->key, node);
	free(top->key);
	top->key = NULL;
	return 0;
}

static int count_node(builder *b, const yaml_event_t *event, yaml_char_t *anchor)
{
	if (anchor)
		return fail_at(b, &event->start_mark, "anchors and aliases are not supported");
	if (++b->nodes > FLOW_MAX_NODES)
		return fail_at(b, &event->start_mark, "more than %d nodes", FLOW_MAX_NODES);
	return 0;
}

static int on_scalar(builder *b, const yaml_event_t *event)
{
	const char *s = (const char *)event->data.scalar.value;
	size_t length = event->data.scalar.length;
	if (count_node(b, event, event->data.scalar.anchor))
		return -1;
	const char *tag = core_tag(b, event, event->data.scalar.tag, "str null bool int float");
	if (!tag)
		return -1;
	json_t *node;
	if (*tag)
		node = resolve_tagged(b, event, tag, s, length);
	else if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strlen(s) == length)
		node = resolve_plain(b, event, s, length);
	else
		node = string_node(b, event, s, length);
	if (!node)
		return -1;
	return place(b, event, node);
}

static int on_collection_start(builder *b, const yaml_event_t *event, int mapping)
{
	yaml_char_t *anchor = mapping ? event->data.mapping_start.anchor : event->data.sequence_start.anchor;
	yaml_char_t *tag = mapping ? event->data.mapping_start.tag : event->data.sequence_start.tag;
	if (count_node(b, event, anchor) || !core_tag(b, event, tag, mapping ? "map" : "seq"))
		return -1;
	if (b->depth == FLOW_MAX_DEPTH)
		return fail_at(b, &event->start_mark, "nested deeper than %d levels", FLOW_MAX_DEPTH);
	if (b->depth && json_is_object(b->stack[b->depth - 1].node) && !b->stack[b->depth - 1].key)
		return fail_at(b, &event->start_mark, "a mapping key must be a string, not a collection");
	json_t *node = mapping ? json_object() : json_array();
	if (place(b, event, json_incref(node))) {
		json_decref(node);
		return -1;
	}
	b->stack[b->depth++] = (frame){node, NULL};
	json_decref(node); /* the parent (or root) holds it */
	return 0;
}

/* Runs the parser to the end of the first document; refuses a second one. Returns 0 or -1. */
static int build(builder *b, yaml_parser_t *parser)
{
	int documents = 0;
	for (;;) {
		yaml_event_t event;
		if (!yaml_parser_parse(parser, &event))
			return portico_error_set(b->err, PORTICO_INVALID_ARGUMENT, "line %zu, column %zu: %s%s%s",
			                         parser->problem_mark.line + 1, parser->problem_mark.column + 1,
			                         parser->problem ? parser->problem : "not YAML",
			                         parser->context ? " " : "", parser->context ? parser->context : "");
		int rc = 0;
		switch (event.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&event);
			if (!documents)
				return portico_error_set(b->err, PORTICO_INVALID_ARGUMENT,
				                         "the text holds no document");
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			if (documents++)
				rc = fail_at(b, &event.start_mark, "more than one document");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail_at(b, &event.start_mark, "anchors and aliases are not supported");
			break;
		case YAML_SCALAR_EVENT:
			rc = on_scalar(b, &event);
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = on_collection_start(b, &event, 0);
			break;
		case YAML_MAPPING_START_EVENT:
			rc = on_collection_start(b, &event, 1);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			b->depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&event);
		if (rc)
			return -1;
	}
}

/* Counts value's nodes into *nodes; 0, or -1 past FLOW_MAX_DEPTH or FLOW_MAX_NODES. The recursion
 * is as deep as value, which jansson bounds (2048 levels) for a tree it parsed. */
static int within_bounds(const json_t *value, size_t depth, size_t *nodes)
{
	if (++*nodes > FLOW_MAX_NODES || depth > FLOW_MAX_DEPTH)
		return -1;
	const char *key;
	const json_t *member;
	size_t index;
	if (json_is_object(value)) {
		json_object_foreach((json_t *)value, key,
		                    member) if (within_bounds(member, depth + 1, nodes)) return -1;
	} else if (json_is_array(value)) {
		json_array_foreach(value, index, member) if (within_bounds(member, depth + 1, nodes)) return -1;
	}
	return 0;
}

int flow_check_bounds(const json_t *tree, portico_error *err)
{
	size_t nodes = 0;
	if (!within_bounds(tree, 1, &nodes))
		return 0;
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "nested deeper than %d levels or more than %d nodes",
	                         FLOW_MAX_DEPTH, FLOW_MAX_NODES);
}

/* JSON text read by jansson: libyaml is a YAML 1.1 parser and refuses some JSON (the surrogate
 * pairs of "\ud83d\ude00", for one). NULL when text is not JSON (the caller then reads it as
 * YAML, whose message is the one reported), or with err when it is JSON beyond the bounds. */
static json_t *parse_json(const char *text, size_t len, int *refused, portico_error *err)
{
	json_error_t jerr;
	json_t *tree = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (tree && flow_check_bounds(tree, err)) {
		json_decref(tree);
		*refused = 1;
		return NULL;
	}
	return tree;
}

json_t *flow_parse(const char *text, size_t len, portico_error *err)
{
	if (len > FLOW_MAX_BYTES) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "a definition of %zu bytes is over the limit of %d",
		                  len, FLOW_MAX_BYTES);
		return NULL;
	}
	size_t blank = 0;
	while (blank < len && strchr(" \t\r\n", text[blank]))
		blank++;
	if (blank < len && (text[blank] == '{' || text[blank] == '[')) {
		int refused = 0;
		json_t *tree = parse_json(text, len, &refused, err);
		if (tree || refused)
			return tree;
	}
	builder b = {.err = err};
	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc = build(&b, &parser);
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < b.depth; i++)
		free(b.stack[i].key);
	if (rc) {
		json_decref(b.root);
		return NULL;
	}
	return b.root;
}
