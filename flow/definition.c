/* Flow definitions (definition.h): the validator of a Serverless Workflow 1.0 document and the
 * catalog of PORTICO_FLOWS_DIR. flow_parse is in definition_parse.c (the one file with libyaml).
 *
 * The validator walks the document once, keeping the JSON-pointer path of the node it is at, and
 * refuses the first node that is not what Portico runs: an unknown field (naming the fields allowed
 * there), a value of the wrong shape, an expression jq does not compile, a reference that does not
 * resolve, a `then` that loops, or a feature of the spec Portico cannot honour ("not supported"),
 * so that a definition that loads runs without meeting a malformed node. */
#include "definition.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "alloc.h"
#include "expr.h"
#include "path.h"
#include "schema.h"

#define COUNT(array) (sizeof(array) / sizeof *(array))

typedef struct validator {
	const json_t *functions, *errors, *retries, *timeouts; /* the document's use.*, or NULL */
	const flow_catalog *catalog;                           /* resolves run: workflow; may be NULL */
	json_t *children;   /* when not NULL, collects each run: workflow as [ns, name, version, path] */
	int in_function;    /* inside use.functions, where a call of another function is refused */
	json_t *checked;    /* owned: the expressions met so far (text and bound names) */
	flow_path path;     /* of the node being validated */
	portico_error *err; /* may be NULL */
	/* The variables that for and catch bind around the node (borrowed from the document),
	 * NULL-terminated: an expression may name them and no others of its own. Each for binds two
	 * and each catch one, and their nesting is bounded by FLOW_MAX_DEPTH. */
	const char *names[FLOW_MAX_DEPTH + 1];
	size_t name_count;
	/* owned: the expressions to compile, by their bound names ("\n$a\n$b", "" for none): {"names":
	 * [name, …], "expressions": [[text, path, order], …]}, order counting them in the walk's order.
	 * Compiled together per set of names when the walk ends (check_expressions). */
	json_t *pending;
} validator;

static int fail(validator *v, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Sets err to "<path>: <message>" and returns -1. */
static int fail(validator *v, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	char *message = portico_vsprintf(format, args);
	va_end(args);
	const char *path = flow_path_text(&v->path);
	portico_error_set(v->err, PORTICO_INVALID_ARGUMENT, "%s: %s", *path ? path : "/", message);
	free(message);
	return -1;
}

static int among(const char *s, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}

#define MESSAGE_NAMES 10 /* names a message lists before "… (N more)": a document can hold thousands */

/* The object's keys, ", "-separated, for messages: the first MESSAGE_NAMES of them (the caller
 * frees). */
static char *names_of(const json_t *object)
{
	char *names = portico_strdup("");
	size_t count = 0;
	const char *key;
	const json_t *value;
	json_object_foreach((json_t *)object, key, value)
	{
		if (count++ == MESSAGE_NAMES)
			break;
		char *longer = portico_sprintf("%s%s%s", names, *names ? ", " : "", key);
		free(names);
		names = longer;
	}
	if (json_object_size(object) > MESSAGE_NAMES) {
		char *longer = portico_sprintf("%s, … (%zu more)", names, json_object_size(object) - MESSAGE_NAMES);
		free(names);
		names = longer;
	}
	return names;
}

/* Refuses a key of object that is in neither list (b may be NULL), naming those allowed. */
static int only_fields(validator *v, const json_t *object, const char *const *a, size_t a_count, const char *const *b,
                       size_t b_count)
{
	const char *key;
	const json_t *value;
	json_object_foreach((json_t *)object, key, value)
	{
		if (among(key, a, a_count) || (b && among(key, b, b_count)))
			continue;
		char *allowed = portico_strdup("");
		for (size_t i = 0; i < a_count + b_count; i++) {
			char *longer =
			        portico_sprintf("%s%s%s", allowed, i ? ", " : "", i < a_count ? a[i] : b[i - a_count]);
			free(allowed);
			allowed = longer;
		}
		fail(v, "unknown field \"%s\" (allowed here: %s)", key, allowed);
		free(allowed);
		return -1;
	}
	return 0;
}

/* An object whose fields are among allowed, or -1 (the path is the object's). */
static int object_of(validator *v, const json_t *value, const char *const *allowed, size_t count)
{
	if (!json_is_object(value))
		return fail(v, "expected an object");
	return only_fields(v, value, allowed, count, NULL, 0);
}

/* Runs check on object's member key (when present, or refuses its absence when required) with the
 * path extended by key. */
typedef int (*member_check)(validator *v, const json_t *value);

static int member(validator *v, const json_t *object, const char *key, int required, member_check check)
{
	const json_t *value = json_object_get(object, key);
	if (!value)
		return required ? fail(v, "missing field \"%s\"", key) : 0;
	size_t mark = flow_path_push(&v->path, key);
	if (check(v, value))
		return -1;
	flow_path_pop(&v->path, mark);
	return 0;
}

/* --- Scalars ---------------------------------------------------------------------------------- */

static int check_string(validator *v, const json_t *value)
{
	return json_is_string(value) ? 0 : fail(v, "expected a string");
}

static int check_nonempty_string(validator *v, const json_t *value)
{
	return json_is_string(value) && json_string_length(value) ? 0 : fail(v, "expected a non-empty string");
}

static int check_boolean(validator *v, const json_t *value)
{
	return json_is_boolean(value) ? 0 : fail(v, "expected true or false");
}

static int check_integer(validator *v, const json_t *value)
{
	return json_is_integer(value) ? 0 : fail(v, "expected an integer");
}

static int check_free_object(validator *v, const json_t *value)
{
	return json_is_object(value) ? 0 : fail(v, "expected an object");
}

static int not_supported(validator *v, const json_t *value)
{
	(void)value;
	return fail(v, "not supported by Portico");
}

/* A jq variable name (for.each, for.at, catch.as): what jq's $name accepts. */
static int check_identifier(validator *v, const json_t *value)
{
	const char *s = json_string_value(value);
	int ok = s && (isalpha((unsigned char)*s) || *s == '_');
	for (const char *p = s; ok && *p; p++)
		ok = isalnum((unsigned char)*p) || *p == '_';
	return ok ? 0 : fail(v, "expected a variable name (letters, digits and _, not starting with a digit)");
}

/* A semantic version (semver.org 2.0.0): MAJOR.MINOR.PATCH, each without leading zeros, then an
 * optional -pre.release and +build of alphanumerics and '-'. */
static int is_semver(const char *s)
{
	for (int part = 0; part < 3; part++) {
		size_t n = strspn(s, "0123456789");
		if (!n || (n > 1 && *s == '0'))
			return 0;
		s += n;
		if (part < 2 && *s++ != '.')
			return 0;
	}
	for (char mark = '-'; *s; mark = '+') {
		if (*s == '-' && mark == '+')
			return 0;
		if (*s != '-' && *s != '+')
			return 0;
		s++;
		do {
			size_t n = strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-");
			if (!n)
				return 0;
			s += n;
		} while (*s == '.' && s++);
	}
	return 1;
}

static int check_version(validator *v, const json_t *value)
{
	if (json_is_string(value) && is_semver(json_string_value(value)))
		return 0;
	return fail(v, "expected a semantic version (e.g. 1.0.0)");
}

/* The spec's pattern for namespaces and names: 1 to 63 letters, digits and '-', neither first
 * nor last a '-'. */
static int check_name(validator *v, const json_t *value)
{
	const char *s = json_string_value(value);
	size_t n = s ? strlen(s) : 0;
	int ok = n >= 1 && n <= 63 && s[0] != '-' && s[n - 1] != '-' &&
	         strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") == n;
	return ok ? 0 : fail(v, "expected a name of 1 to 63 letters, digits and '-', not starting or ending with '-'");
}

static int check_dsl(validator *v, const json_t *value)
{
	const char *s = json_string_value(value);
	if (s && is_semver(s) && !strncmp(s, "1.0.", 4))
		return 0;
	return fail(v, "expected a DSL version 1.0.x (Portico runs Serverless Workflow 1.0)");
}

/* "scheme://…": the spec's pattern for URIs and URI templates. */
static int is_uri(const char *s)
{
	if (!isalpha((unsigned char)*s))
		return 0;
	size_t n = strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+-.");
	return !strncmp(s + n, "://", 3);
}

/* --- Expressions ------------------------------------------------------------------------------- */

/* A field that is an expression whether or not it is written ${…} (if, when, while, in, from, as,
 * until, exceptWhen). */
static int check_expression(validator *v, const json_t *value)
{
	if (!json_is_string(value))
		return fail(v, "expected a runtime expression (a string)");
	if (json_string_length(value) > FLOW_MAX_EXPRESSION)
		return fail(v, "an expression longer than %d bytes", FLOW_MAX_EXPRESSION);
	/* Compiling is the costly part of loading (jq 1.6 takes tens of milliseconds a program), so a
	 * text is compiled once per set of bound names, with the others of that set (check_expressions),
	 * and a document has at most FLOW_MAX_EXPRESSIONS distinct ones. */
	char *names = portico_strdup("");
	for (size_t i = 0; i < v->name_count; i++) {
		char *longer = portico_sprintf("%s\n$%s", names, v->names[i]);
		free(names);
		names = longer;
	}
	char *key = portico_sprintf("%s%s", json_string_value(value), names);
	int seen = json_object_get(v->checked, key) != NULL;
	if (!seen)
		json_object_set_new(v->checked, key, json_true());
	free(key);
	if (seen || json_object_size(v->checked) > FLOW_MAX_EXPRESSIONS) {
		free(names);
		return seen ? 0
		            : fail(v, "more than %d distinct runtime expressions in one definition",
		                   FLOW_MAX_EXPRESSIONS);
	}
	json_t *set = json_object_get(v->pending, names);
	if (!set) {
		json_t *list = json_array();
		for (size_t i = 0; i < v->name_count; i++)
			json_array_append_new(list, json_string(v->names[i]));
		set = json_pack("{s:o, s:[]}", "names", list, "expressions");
		json_object_set_new(v->pending, names, set);
	}
	free(names);
	json_array_append_new(
	        json_object_get(set, "expressions"),
	        json_pack("[O, s, I]", value, flow_path_text(&v->path), (json_int_t)json_object_size(v->checked)));
	return 0;
}

/* Compiles the expressions the walk collected, each set of names with flow_expr_check_all. Returns
 * 0, or -1 with err naming the path of the first that fails in the walk's order (the same as
 * compiling each where the walk met it), whatever the walk found after it. */
static int check_expressions(validator *v)
{
	json_t *first = NULL; /* [path, message] of the first failure so far, owned */
	json_int_t first_order = 0;
	portico_code code = PORTICO_INVALID_ARGUMENT; /* of the refusal: another when the sandbox gave out */
	const char *key;
	json_t *set;
	json_object_foreach(v->pending, key, set)
	{
		const json_t *names = json_object_get(set, "names");
		const json_t *expressions = json_object_get(set, "expressions");
		size_t count = json_array_size(expressions), name_count = json_array_size(names), i;
		const char **texts = portico_calloc(count + 1, sizeof *texts);      /* freed below */
		const char **bound = portico_calloc(name_count + 1, sizeof *bound); /* freed below */
		for (i = 0; i < count; i++)
			texts[i] = json_string_value(json_array_get(json_array_get(expressions, i), 0));
		for (i = 0; i < name_count; i++)
			bound[i] = json_string_value(json_array_get(names, i));
		portico_error jq = PORTICO_ERROR_INIT;
		size_t failed = 0;
		if (flow_expr_check_all(texts, count, bound, &failed, &jq)) {
			const json_t *expression = json_array_get(expressions, failed);
			json_int_t order = json_integer_value(json_array_get(expression, 2));
			/* A limit of the sandbox (time, memory, a crash) says nothing of the document: that
			 * code goes to the caller, who may try again (a worker fails its task). */
			if (jq.code != PORTICO_INVALID_ARGUMENT)
				code = jq.code;
			if (!first || order < first_order) {
				json_decref(first);
				first = json_pack("[O, s]", json_array_get(expression, 1),
				                  jq.message ? jq.message : "not a valid expression");
				first_order = order;
			}
		}
		portico_error_clear(&jq);
		free(texts);
		free(bound);
	}
	if (!first)
		return 0;
	const char *path = json_string_value(json_array_get(first, 0));
	portico_error_set(v->err, code, "%s: %s", *path ? path : "/", json_string_value(json_array_get(first, 1)));
	json_decref(first);
	return -1;
}

/* A value whose strings that are ${…} are evaluated (with, body, set, …): each is checked where it
 * is; keys are not expressions. */
static int check_tree(validator *v, const json_t *value)
{
	if (json_is_string(value))
		return flow_expr_is(json_string_value(value)) ? check_expression(v, value) : 0;
	const char *key;
	const json_t *item;
	size_t index;
	if (json_is_object(value)) {
		json_object_foreach((json_t *)value, key, item)
		{
			size_t mark = flow_path_push(&v->path, key);
			if (check_tree(v, item))
				return -1;
			flow_path_pop(&v->path, mark);
		}
	} else if (json_is_array(value)) {
		json_array_foreach(value, index, item)
		{
			size_t mark = flow_path_push_index(&v->path, index);
			if (check_tree(v, item))
				return -1;
			flow_path_pop(&v->path, mark);
		}
	}
	return 0;
}

/* A string that may be an expression (an endpoint, a title): checked when it is one. */
static int check_string_or_expression(validator *v, const json_t *value)
{
	return check_string(v, value) || check_tree(v, value);
}

/* input.from, output.as, export.as: an expression, or an object whose ${…} strings are. */
static int check_transform(validator *v, const json_t *value)
{
	if (json_is_object(value))
		return check_tree(v, value);
	return check_expression(v, value);
}

/* --- Durations --------------------------------------------------------------------------------- */

/* Milliseconds of an ISO 8601 duration "P[nW][nD][T[nH][nM][nS]]" (decimals allowed), or -1.
 * Years and months are refused: they have no fixed length, and a timer needs one. */
static int64_t iso_duration_ms(const char *s)
{
	static const struct unit {
		char letter;
		int time;
		double ms;
	} units[] = {
	        {'W', 0, 604800000.0}, {'D', 0, 86400000.0}, {'H', 1, 3600000.0}, {'M', 1, 60000.0}, {'S', 1, 1000.0}};
	if (*s++ != 'P' || !*s)
		return -1;
	double total = 0;
	int time = 0, any = 0;
	size_t next = 0;
	while (*s) {
		if (*s == 'T') {
			if (time || !s[1])
				return -1;
			time = 1;
			s++;
			continue;
		}
		/* digits[.digits]: strtod alone would also take exponents and hexadecimals. */
		size_t digits = strspn(s, "0123456789");
		if (!digits)
			return -1;
		if (s[digits] == '.') {
			size_t fraction = strspn(s + digits + 1, "0123456789");
			if (!fraction)
				return -1;
			digits += 1 + fraction;
		}
		char *end;
		double number = strtod(s, &end);
		if (end != s + digits)
			return -1;
		while (next < COUNT(units) && (units[next].letter != *end || units[next].time != time))
			next++;
		if (next == COUNT(units))
			return -1;
		total += number * units[next++].ms;
		any = 1;
		s = end + 1;
	}
	if (!any || total > FLOW_MAX_DURATION_MS)
		return -1;
	return (int64_t)total;
}

int64_t flow_duration_ms(const json_t *duration)
{
	if (json_is_string(duration))
		return iso_duration_ms(json_string_value(duration));
	static const char *const fields[] = {"days", "hours", "minutes", "seconds", "milliseconds"};
	static const double ms[] = {86400000.0, 3600000.0, 60000.0, 1000.0, 1.0};
	if (!json_is_object(duration) || !json_object_size(duration))
		return -1;
	double total = 0;
	size_t seen = 0;
	for (size_t i = 0; i < COUNT(fields); i++) {
		const json_t *value = json_object_get(duration, fields[i]);
		if (!value)
			continue;
		if (!json_is_integer(value) || json_integer_value(value) < 0)
			return -1;
		total += (double)json_integer_value(value) * ms[i];
		seen++;
	}
	if (seen != json_object_size(duration) || total > FLOW_MAX_DURATION_MS)
		return -1;
	return (int64_t)total;
}

static int check_duration(validator *v, const json_t *value)
{
	if (flow_duration_ms(value) >= 0)
		return 0;
	/* The spec's DurationExpression: evaluated when the task runs, to an ISO 8601 string or a
	 * duration object (a wait of the flow's input's length, say); checked here as an expression. */
	if (json_is_string(value) && flow_expr_is(json_string_value(value)))
		return check_expression(v, value);
	return fail(v,
	            "expected a duration: an ISO 8601 string such as \"PT30S\" or \"P1DT2H\" (no years or months), "
	            "or an object of non-negative integers days, hours, minutes, seconds, milliseconds; at most "
	            "%lld ms",
	            (long long)FLOW_MAX_DURATION_MS);
}

/* {after: <duration>} */
static int check_timeout_definition(validator *v, const json_t *value)
{
	static const char *const fields[] = {"after"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "after", 1, check_duration);
}

/* A name of a use.* map (use names what), or a message listing the names there. */
static int check_reference(validator *v, const json_t *value, const json_t *map, const char *use, const char *kind)
{
	const char *name = json_string_value(value);
	if (json_object_get(map, name))
		return 0;
	char *names = names_of(map);
	if (*names)
		fail(v, "unknown %s \"%s\" (use.%s defines: %s)", kind, name, use, names);
	else
		fail(v, "unknown %s \"%s\" (use.%s defines none)", kind, name, use);
	free(names);
	return -1;
}

static int check_timeout(validator *v, const json_t *value)
{
	if (json_is_string(value))
		return check_reference(v, value, v->timeouts, "timeouts", "timeout");
	return check_timeout_definition(v, value);
}

/* --- Retry policies, errors, schemas ------------------------------------------------------------ */

static int check_backoff(validator *v, const json_t *value)
{
	static const char *const fields[] = {"constant", "linear", "exponential"};
	if (object_of(v, value, fields, COUNT(fields)))
		return -1;
	if (json_object_size(value) != 1)
		return fail(v, "expected exactly one of constant, linear, exponential");
	const char *key = json_object_iter_key(json_object_iter((json_t *)value));
	size_t mark = flow_path_push(&v->path, key);
	if (object_of(v, json_object_get(value, key), NULL, 0))
		return -1;
	flow_path_pop(&v->path, mark);
	return 0;
}

static int check_attempt_count(validator *v, const json_t *value)
{
	if (json_is_integer(value) && json_integer_value(value) >= 1)
		return 0;
	return fail(v, "expected a positive integer");
}

static int check_attempt(validator *v, const json_t *value)
{
	static const char *const fields[] = {"count", "duration"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "count", 0, check_attempt_count) ||
	       member(v, value, "duration", 0, check_duration);
}

static int check_limit(validator *v, const json_t *value)
{
	static const char *const fields[] = {"attempt", "duration"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "attempt", 0, check_attempt) ||
	       member(v, value, "duration", 0, check_duration);
}

static int check_jitter(validator *v, const json_t *value)
{
	static const char *const fields[] = {"from", "to"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "from", 1, check_duration) ||
	       member(v, value, "to", 1, check_duration);
}

static int check_retry_policy(validator *v, const json_t *value)
{
	static const char *const fields[] = {"when", "exceptWhen", "delay", "backoff", "limit", "jitter"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "when", 0, check_expression) ||
	       member(v, value, "exceptWhen", 0, check_expression) || member(v, value, "delay", 0, check_duration) ||
	       member(v, value, "backoff", 0, check_backoff) || member(v, value, "limit", 0, check_limit) ||
	       member(v, value, "jitter", 0, check_jitter);
}

static int check_retry(validator *v, const json_t *value)
{
	if (json_is_string(value))
		return check_reference(v, value, v->retries, "retries", "retry policy");
	return check_retry_policy(v, value);
}

/* An error's type: a URI ("https://…/errors/not-found") or an expression. */
static int check_error_type(validator *v, const json_t *value)
{
	const char *s = json_string_value(value);
	if (s && flow_expr_is(s))
		return check_expression(v, value);
	return s && is_uri(s) ? 0 : fail(v, "expected a URI (scheme://…) or a runtime expression");
}

static int check_error_definition(validator *v, const json_t *value)
{
	static const char *const fields[] = {"type", "status", "instance", "title", "detail"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "type", 1, check_error_type) ||
	       member(v, value, "status", 1, check_integer) ||
	       member(v, value, "instance", 0, check_string_or_expression) ||
	       member(v, value, "title", 0, check_string_or_expression) ||
	       member(v, value, "detail", 0, check_string_or_expression);
}

static int check_error_filter(validator *v, const json_t *value)
{
	static const char *const fields[] = {"type", "status", "instance", "title", "details"};
	if (object_of(v, value, fields, COUNT(fields)))
		return -1;
	if (!json_object_size(value))
		return fail(v, "expected at least one of type, status, instance, title, details");
	return member(v, value, "type", 0, check_string) || member(v, value, "status", 0, check_integer) ||
	       member(v, value, "instance", 0, check_string) || member(v, value, "title", 0, check_string) ||
	       member(v, value, "details", 0, check_string);
}

static int check_json_schema(validator *v, const json_t *value)
{
	portico_error schema = PORTICO_ERROR_INIT;
	if (!flow_schema_check(value, &schema))
		return 0;
	/* The schema's message begins with the path inside it ("/properties/id: …" or ": …"). */
	portico_error_set(v->err, PORTICO_INVALID_ARGUMENT, "%s%s", flow_path_text(&v->path), schema.message);
	portico_error_clear(&schema);
	return -1;
}

static int check_schema_format(validator *v, const json_t *value)
{
	if (json_is_string(value) && !strcmp(json_string_value(value), "json"))
		return 0;
	return fail(v, "expected \"json\" (the one schema format Portico validates)");
}

static int check_schema(validator *v, const json_t *value)
{
	static const char *const fields[] = {"format", "document", "resource"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "resource", 0, not_supported) ||
	       member(v, value, "format", 0, check_schema_format) || member(v, value, "document", 1, check_json_schema);
}

static int check_input(validator *v, const json_t *value)
{
	static const char *const fields[] = {"schema", "from"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "schema", 0, check_schema) ||
	       member(v, value, "from", 0, check_transform);
}

static int check_output(validator *v, const json_t *value)
{
	static const char *const fields[] = {"schema", "as"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "schema", 0, check_schema) ||
	       member(v, value, "as", 0, check_transform);
}

/* --- Tasks ------------------------------------------------------------------------------------ */

/* Where a task is: its list's names (name → index; NULL for a function of use.functions) and its
 * index there, for the `then` targets of the task and of a switch's cases. */
typedef struct place {
	const json_t *names;
	size_t index;
} place;

static int check_task(validator *v, const json_t *task, place at);

static const char *task_name(const json_t *item)
{
	return json_object_iter_key(json_object_iter((json_t *)item));
}

static int is_directive(const char *s)
{
	return !strcmp(s, "continue") || !strcmp(s, "exit") || !strcmp(s, "end");
}

/* The task names of list as an object name → index (a new reference), or NULL with err at the
 * first bad or repeated name. A map, not a scan, so that a list of thousands of tasks with a `then`
 * each stays linear. */
static json_t *task_names(validator *v, const json_t *list)
{
	json_t *names = json_object();
	size_t index;
	const json_t *item;
	json_array_foreach(list, index, item)
	{
		size_t mark = flow_path_push_index(&v->path, index);
		const char *name = json_is_object(item) && json_object_size(item) == 1 ? task_name(item) : NULL;
		const json_t *first = name ? json_object_get(names, name) : NULL;
		if (!name)
			fail(v, "expected a map of one name to its task");
		else if (!*name || is_directive(name))
			fail(v, "a task cannot be named \"%s\"", name);
		else if (first)
			fail(v, "a second task named \"%s\" in this list (task %lld has the name)", name,
			     (long long)json_integer_value(first));
		if (!name || !*name || is_directive(name) || first) {
			json_decref(names);
			return NULL;
		}
		json_object_set_new(names, name, json_integer((json_int_t)index));
		flow_path_pop(&v->path, mark);
	}
	return names;
}

static int check_task_list(validator *v, const json_t *value)
{
	if (!json_is_array(value) || !json_array_size(value))
		return fail(v, "expected a non-empty list of tasks, each a map of one name to its task");
	json_t *names = task_names(v, value);
	if (!names)
		return -1;
	size_t index;
	const json_t *item;
	json_array_foreach(value, index, item)
	{
		size_t mark = flow_path_push_index(&v->path, index);
		const char *name = task_name(item);
		flow_path_push(&v->path, name);
		if (check_task(v, json_object_get(item, name), (place){names, index})) {
			json_decref(names);
			return -1;
		}
		flow_path_pop(&v->path, mark);
	}
	json_decref(names);
	return 0;
}

/* continue, exit, end, or a task after at in its list (a jump back would loop: loops are for and
 * while). */
static int check_then_target(validator *v, const json_t *value, place at)
{
	const char *target = json_string_value(value);
	if (!target)
		return fail(v, "expected continue, exit, end or the name of a later task in the same list");
	if (is_directive(target))
		return 0;
	const json_t *index = json_object_get(at.names, target);
	if (index && (size_t)json_integer_value(index) <= at.index)
		return fail(v, "\"%s\" is at or before this task: a cycle (loop with for or while instead)", target);
	if (index)
		return 0;
	char *names = names_of(at.names);
	fail(v, "unknown task \"%s\" (tasks here: %s)", target, at.names ? names : "none: a function is one task");
	free(names);
	return -1;
}

/* The `then` of a task checked at its place. */
static int check_then_at(validator *v, const json_t *task, place at)
{
	const json_t *then = json_object_get(task, "then");
	if (!then)
		return 0;
	size_t mark = flow_path_push(&v->path, "then");
	if (check_then_target(v, then, at))
		return -1;
	flow_path_pop(&v->path, mark);
	return 0;
}

static int check_method(validator *v, const json_t *value)
{
	static const char *const methods[] = {"get", "post", "put", "patch", "delete", "head", "options"};
	const char *s = json_string_value(value);
	for (size_t i = 0; s && i < COUNT(methods); i++)
		if (!strcasecmp(s, methods[i]))
			return 0;
	return fail(v, "expected an HTTP method: get, post, put, patch, delete, head or options");
}

static int check_uri_or_expression(validator *v, const json_t *value)
{
	const char *s = json_string_value(value);
	if (s && flow_expr_is(s))
		return check_expression(v, value);
	return s && is_uri(s) ? 0 : fail(v, "expected a URI (scheme://…, may be a template) or a runtime expression");
}

static int check_endpoint(validator *v, const json_t *value)
{
	static const char *const fields[] = {"uri", "authentication"};
	if (json_is_string(value))
		return check_uri_or_expression(v, value);
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "authentication", 0, not_supported) ||
	       member(v, value, "uri", 1, check_uri_or_expression);
}

/* headers, query: an object of strings (each may be an expression), or one expression. */
static int check_string_map(validator *v, const json_t *value)
{
	if (json_is_string(value))
		return check_expression(v, value);
	if (!json_is_object(value))
		return fail(v, "expected an object of strings or a runtime expression");
	const char *key;
	const json_t *item;
	json_object_foreach((json_t *)value, key, item)
	{
		size_t mark = flow_path_push(&v->path, key);
		if (check_string_or_expression(v, item))
			return -1;
		flow_path_pop(&v->path, mark);
	}
	return 0;
}

static int check_http_output(validator *v, const json_t *value)
{
	const char *s = json_string_value(value);
	if (s && (!strcmp(s, "content") || !strcmp(s, "response") || !strcmp(s, "raw")))
		return 0;
	return fail(v, "expected content, response or raw");
}

static int check_http(validator *v, const json_t *with)
{
	static const char *const fields[] = {"method", "endpoint", "headers", "body", "query", "output", "redirect"};
	return object_of(v, with, fields, COUNT(fields)) || member(v, with, "method", 1, check_method) ||
	       member(v, with, "endpoint", 1, check_endpoint) || member(v, with, "headers", 0, check_string_map) ||
	       member(v, with, "body", 0, check_tree) || member(v, with, "query", 0, check_string_map) ||
	       member(v, with, "output", 0, check_http_output) || member(v, with, "redirect", 0, check_boolean);
}

static int check_arguments(validator *v, const json_t *value)
{
	return json_is_array(value) ? check_tree(v, value) : fail(v, "expected a list of arguments");
}

static int check_activity(validator *v, const json_t *with)
{
	static const char *const fields[] = {
	        "type", "taskQueue", "arguments", "startToCloseTimeout", "scheduleToCloseTimeout", "heartbeatTimeout",
	        "retry"};
	return object_of(v, with, fields, COUNT(fields)) || member(v, with, "type", 1, check_nonempty_string) ||
	       member(v, with, "taskQueue", 0, check_nonempty_string) ||
	       member(v, with, "arguments", 0, check_arguments) ||
	       member(v, with, "startToCloseTimeout", 0, check_duration) ||
	       member(v, with, "scheduleToCloseTimeout", 0, check_duration) ||
	       member(v, with, "heartbeatTimeout", 0, check_duration) || member(v, with, "retry", 0, check_retry);
}

static int check_call(validator *v, const json_t *task)
{
	static const char *const unsupported[] = {"grpc", "openapi", "asyncapi", "a2a", "mcp"};
	const json_t *call = json_object_get(task, "call");
	const json_t *with = json_object_get(task, "with");
	const char *name = json_string_value(call);
	size_t mark = flow_path_push(&v->path, "call");
	if (!name || !*name)
		return fail(v, "expected the name of what to call: http, activity or a function of use.functions");
	if (among(name, unsupported, COUNT(unsupported)))
		return fail(v, "call: %s is not supported by Portico (it calls http, activity and use.functions)",
		            name);
	int builtin = !strcmp(name, "http") || !strcmp(name, "activity");
	if (!builtin && (strchr(name, '@') || strstr(name, "://")))
		return fail(
		        v, "functions from catalogs or URLs are not supported by Portico (define it in use.functions)");
	if (!builtin && v->in_function)
		return fail(v, "a function calls http or activity, not another function");
	if (!builtin && check_reference(v, call, v->functions, "functions", "function"))
		return -1;
	flow_path_pop(&v->path, mark);
	if (builtin && !with)
		return fail(v, "missing field \"with\" (the arguments of call: %s)", name);
	if (!with)
		return 0;
	mark = flow_path_push(&v->path, "with");
	int rc = !strcmp(name, "http")       ? check_http(v, with)
	         : !strcmp(name, "activity") ? check_activity(v, with)
	         : json_is_object(with)      ? check_tree(v, with)
	                                     : fail(v, "expected an object (the function's arguments)");
	if (rc)
		return -1;
	flow_path_pop(&v->path, mark);
	return 0;
}

static int check_do(validator *v, const json_t *task)
{
	return member(v, task, "do", 1, check_task_list);
}

static int check_set(validator *v, const json_t *task)
{
	const json_t *set = json_object_get(task, "set");
	size_t mark = flow_path_push(&v->path, "set");
	int rc;
	if (json_is_object(set))
		rc = json_object_size(set) ? check_tree(v, set) : fail(v, "expected at least one field to set");
	else if (json_is_string(set) && flow_expr_is(json_string_value(set)))
		rc = check_expression(v, set);
	else
		rc = fail(v, "expected an object or a runtime expression");
	if (rc)
		return -1;
	flow_path_pop(&v->path, mark);
	return 0;
}

/* One case of a switch; seen holds the names of the cases before it. */
static int check_case(validator *v, const json_t *item, json_t *seen, place at)
{
	static const char *const fields[] = {"when", "then"};
	if (!json_is_object(item) || json_object_size(item) != 1)
		return fail(v, "expected a map of one name to its case {when, then}");
	const char *name = task_name(item);
	if (json_object_get(seen, name))
		return fail(v, "a second case named \"%s\"", name);
	json_object_set_new(seen, name, json_true());
	const json_t *one = json_object_get(item, name);
	flow_path_push(&v->path, name);
	if (object_of(v, one, fields, COUNT(fields)) || member(v, one, "when", 0, check_expression))
		return -1;
	if (!json_object_get(one, "then"))
		return fail(v, "missing field \"then\"");
	return check_then_at(v, one, at);
}

static int check_switch(validator *v, const json_t *task, place at)
{
	const json_t *cases = json_object_get(task, "switch");
	size_t mark = flow_path_push(&v->path, "switch");
	if (!json_is_array(cases) || !json_array_size(cases))
		return fail(v, "expected a non-empty list of cases, each a map of one name to {when, then}");
	json_t *seen = json_object();
	size_t index;
	const json_t *item;
	json_array_foreach(cases, index, item)
	{
		size_t case_mark = flow_path_push_index(&v->path, index);
		if (check_case(v, item, seen, at)) {
			json_decref(seen);
			return -1;
		}
		flow_path_pop(&v->path, case_mark);
	}
	json_decref(seen);
	flow_path_pop(&v->path, mark);
	return 0;
}

static int check_for_clause(validator *v, const json_t *value)
{
	static const char *const fields[] = {"each", "in", "at"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "each", 0, check_identifier) ||
	       member(v, value, "in", 1, check_expression) || member(v, value, "at", 0, check_identifier);
}

/* Binds name (or fallback when the field is absent) for what is checked until unbind. */
static int bind_name(validator *v, const json_t *field, const char *fallback)
{
	if (v->name_count + 1 >= COUNT(v->names))
		return fail(v, "variables nested deeper than %d", (int)COUNT(v->names) - 1);
	v->names[v->name_count++] = json_is_string(field) ? json_string_value(field) : fallback;
	v->names[v->name_count] = NULL;
	return 0;
}

static void unbind_names(validator *v, size_t count)
{
	v->name_count = count;
	v->names[count] = NULL;
}

static int check_for(validator *v, const json_t *task)
{
	if (member(v, task, "for", 1, check_for_clause))
		return -1;
	/* The spec's defaults: each item, at index; while and do see them. */
	const json_t *clause = json_object_get(task, "for");
	size_t count = v->name_count;
	int rc = bind_name(v, json_object_get(clause, "each"), "item") ||
	         bind_name(v, json_object_get(clause, "at"), "index") ||
	         member(v, task, "while", 0, check_expression) || member(v, task, "do", 1, check_task_list);
	unbind_names(v, count);
	return rc;
}

static int check_fork_clause(validator *v, const json_t *value)
{
	static const char *const fields[] = {"branches", "compete"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "branches", 1, check_task_list) ||
	       member(v, value, "compete", 0, check_boolean);
}

static int check_fork(validator *v, const json_t *task)
{
	return member(v, task, "fork", 1, check_fork_clause);
}

static int check_wait(validator *v, const json_t *task)
{
	return member(v, task, "wait", 1, check_duration);
}

static int check_event_properties(validator *v, const json_t *value)
{
	if (!json_is_object(value) || !json_object_size(value))
		return fail(v, "expected an object of event attributes (type, source, data, …)");
	return member(v, value, "type", 0, check_string_or_expression) ||
	       member(v, value, "source", 0, check_string_or_expression) || check_tree(v, value);
}

static int check_event_filter(validator *v, const json_t *value)
{
	static const char *const fields[] = {"with", "correlate"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "correlate", 0, not_supported) ||
	       member(v, value, "with", 1, check_event_properties);
}

static int check_event_filters(validator *v, const json_t *value)
{
	if (!json_is_array(value))
		return fail(v, "expected a list of event filters");
	size_t index;
	const json_t *item;
	json_array_foreach(value, index, item)
	{
		size_t mark = flow_path_push_index(&v->path, index);
		if (check_event_filter(v, item))
			return -1;
		flow_path_pop(&v->path, mark);
	}
	return 0;
}

static int check_until(validator *v, const json_t *value)
{
	if (json_is_object(value))
		return fail(v, "an until given as events to wait for is not supported by Portico (use an expression)");
	return check_expression(v, value);
}

static int check_listen_to(validator *v, const json_t *value)
{
	static const char *const fields[] = {"one", "all", "any", "until"};
	if (object_of(v, value, fields, COUNT(fields)))
		return -1;
	int one = !!json_object_get(value, "one"), all = !!json_object_get(value, "all");
	int any = !!json_object_get(value, "any");
	if (one + all + any != 1)
		return fail(v, "expected exactly one of one, all, any");
	if (json_object_get(value, "until") && !any)
		return fail(v, "until goes with any");
	return member(v, value, "one", 0, check_event_filter) || member(v, value, "all", 0, check_event_filters) ||
	       member(v, value, "any", 0, check_event_filters) || member(v, value, "until", 0, check_until);
}

static int check_read(validator *v, const json_t *value)
{
	const char *s = json_string_value(value);
	if (s && (!strcmp(s, "data") || !strcmp(s, "envelope") || !strcmp(s, "raw")))
		return 0;
	return fail(v, "expected data, envelope or raw");
}

static int check_listen_clause(validator *v, const json_t *value)
{
	static const char *const fields[] = {"to", "read"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "to", 1, check_listen_to) ||
	       member(v, value, "read", 0, check_read);
}

static int check_listen(validator *v, const json_t *task)
{
	return member(v, task, "foreach", 0, not_supported) || member(v, task, "listen", 1, check_listen_clause);
}

static int check_emitted(validator *v, const json_t *value)
{
	if (!json_is_object(value))
		return fail(v, "expected an object of event attributes");
	if (!json_object_get(value, "workflowid"))
		return fail(v, "missing field \"workflowid\" (the extension attribute naming the workflow to signal)");
	return member(v, value, "type", 1, check_nonempty_string) ||
	       member(v, value, "source", 0, check_uri_or_expression) ||
	       member(v, value, "workflowid", 1, check_string_or_expression) || check_tree(v, value);
}

static int check_event(validator *v, const json_t *value)
{
	static const char *const fields[] = {"with"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "with", 1, check_emitted);
}

static int check_emit_clause(validator *v, const json_t *value)
{
	static const char *const fields[] = {"event"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "event", 1, check_event);
}

static int check_emit(validator *v, const json_t *task)
{
	return member(v, task, "emit", 1, check_emit_clause);
}

static int check_raised(validator *v, const json_t *value)
{
	if (json_is_string(value))
		return check_reference(v, value, v->errors, "errors", "error");
	return check_error_definition(v, value);
}

static int check_raise_clause(validator *v, const json_t *value)
{
	static const char *const fields[] = {"error"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "error", 1, check_raised);
}

static int check_raise(validator *v, const json_t *task)
{
	return member(v, task, "raise", 1, check_raise_clause);
}

static int check_catch_errors(validator *v, const json_t *value)
{
	static const char *const fields[] = {"with"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "with", 0, check_error_filter);
}

static int check_catch(validator *v, const json_t *value)
{
	static const char *const fields[] = {"errors", "as", "when", "exceptWhen", "retry", "do"};
	if (object_of(v, value, fields, COUNT(fields)) || member(v, value, "errors", 0, check_catch_errors) ||
	    member(v, value, "as", 0, check_identifier))
		return -1;
	/* The caught error is $error (or the name of as) in when, exceptWhen and do. */
	size_t count = v->name_count;
	int rc = bind_name(v, json_object_get(value, "as"), "error") || member(v, value, "when", 0, check_expression) ||
	         member(v, value, "exceptWhen", 0, check_expression) || member(v, value, "retry", 0, check_retry) ||
	         member(v, value, "do", 0, check_task_list);
	unbind_names(v, count);
	return rc;
}

static int check_try(validator *v, const json_t *task)
{
	return member(v, task, "try", 1, check_task_list) || member(v, task, "catch", 1, check_catch);
}

static int check_subflow_input(validator *v, const json_t *value)
{
	return json_is_object(value) ? check_tree(v, value) : fail(v, "expected an object");
}

/* The child flow: in the catalog when there is one, and collected for the catalog's cycle check. */
static int check_subflow(validator *v, const json_t *value)
{
	static const char *const fields[] = {"namespace", "name", "version", "input"};
	if (object_of(v, value, fields, COUNT(fields)) || member(v, value, "namespace", 1, check_name) ||
	    member(v, value, "name", 1, check_name) || member(v, value, "version", 1, check_version) ||
	    member(v, value, "input", 0, check_subflow_input))
		return -1;
	const char *ns = json_string_value(json_object_get(value, "namespace"));
	const char *name = json_string_value(json_object_get(value, "name"));
	const char *version = json_string_value(json_object_get(value, "version"));
	if (v->catalog && !flow_catalog_find(v->catalog, ns, name, version))
		return fail(v, "no flow %s/%s version %s among the loaded flows", ns, name, version);
	if (v->children)
		json_array_append_new(v->children, json_pack("[ssss]", ns, name, version, flow_path_text(&v->path)));
	return 0;
}

static int check_run_clause(validator *v, const json_t *value)
{
	static const char *const fields[] = {"workflow", "await", "container", "script", "shell", "return"};
	if (object_of(v, value, fields, COUNT(fields)) || member(v, value, "container", 0, not_supported) ||
	    member(v, value, "script", 0, not_supported) || member(v, value, "shell", 0, not_supported) ||
	    member(v, value, "return", 0, not_supported) || member(v, value, "await", 0, check_boolean))
		return -1;
	return member(v, value, "workflow", 1, check_subflow);
}

static int check_run(validator *v, const json_t *task)
{
	return member(v, task, "run", 1, check_run_clause);
}

static int check_metadata(validator *v, const json_t *value)
{
	return check_free_object(v, value);
}

/* The fields every task may have, checked for each task. */
static const char *const common_fields[] = {"if",      "input", "output",   "export",
                                            "timeout", "then",  "metadata", "x-portico-compensate"};

static int check_common(validator *v, const json_t *task)
{
	return member(v, task, "if", 0, check_expression) || member(v, task, "input", 0, check_input) ||
	       member(v, task, "output", 0, check_output) || member(v, task, "export", 0, check_output) ||
	       member(v, task, "timeout", 0, check_timeout) || member(v, task, "metadata", 0, check_metadata) ||
	       member(v, task, "x-portico-compensate", 0, check_task_list);
}

typedef struct task_kind {
	const char *key; /* the field that makes a task this kind */
	const char *const *fields;
	size_t count;
	int (*check)(validator *v, const json_t *task);
} task_kind;

static const char *const call_fields[] = {"call", "with"};
static const char *const do_fields[] = {"do"};
static const char *const emit_fields[] = {"emit"};
static const char *const for_fields[] = {"for", "while", "do"};
static const char *const fork_fields[] = {"fork"};
static const char *const listen_fields[] = {"listen", "foreach"};
static const char *const raise_fields[] = {"raise"};
static const char *const run_fields[] = {"run"};
static const char *const set_fields[] = {"set"};
static const char *const switch_fields[] = {"switch"};
static const char *const try_fields[] = {"try", "catch"};
static const char *const wait_fields[] = {"wait"};

/* In the order a task's kind is decided: for and try before do (a for task has a do too). */
static const task_kind kinds[] = {
        {"for", for_fields, COUNT(for_fields), check_for},
        {"try", try_fields, COUNT(try_fields), check_try},
        {"call", call_fields, COUNT(call_fields), check_call},
        {"emit", emit_fields, COUNT(emit_fields), check_emit},
        {"fork", fork_fields, COUNT(fork_fields), check_fork},
        {"listen", listen_fields, COUNT(listen_fields), check_listen},
        {"raise", raise_fields, COUNT(raise_fields), check_raise},
        {"run", run_fields, COUNT(run_fields), check_run},
        {"set", set_fields, COUNT(set_fields), check_set},
        {"switch", switch_fields, COUNT(switch_fields), NULL},
        {"wait", wait_fields, COUNT(wait_fields), check_wait},
        {"do", do_fields, COUNT(do_fields), check_do},
};

static int check_task(validator *v, const json_t *task, place at)
{
	if (!json_is_object(task))
		return fail(v, "expected a task (an object)");
	const task_kind *kind = NULL;
	for (size_t i = 0; !kind && i < COUNT(kinds); i++)
		if (json_object_get(task, kinds[i].key))
			kind = &kinds[i];
	if (!kind)
		return fail(v, "expected a task: an object with one of call, do, emit, for, fork, listen, raise, run, "
		               "set, switch, try, wait");
	if (only_fields(v, task, kind->fields, kind->count, common_fields, COUNT(common_fields)) ||
	    check_common(v, task) || check_then_at(v, task, at))
		return -1;
	return kind->check ? kind->check(v, task) : check_switch(v, task, at);
}

/* --- The document -------------------------------------------------------------------------------- */

static int check_document_header(validator *v, const json_t *value)
{
	static const char *const fields[] = {"dsl",   "namespace", "name", "version",
	                                     "title", "summary",   "tags", "metadata"};
	return object_of(v, value, fields, COUNT(fields)) || member(v, value, "dsl", 1, check_dsl) ||
	       member(v, value, "namespace", 1, check_name) || member(v, value, "name", 1, check_name) ||
	       member(v, value, "version", 1, check_version) || member(v, value, "title", 0, check_string) ||
	       member(v, value, "summary", 0, check_string) || member(v, value, "tags", 0, check_free_object) ||
	       member(v, value, "metadata", 0, check_free_object);
}

/* Each member of a use.* map, checked by check at /use/<what>/<name>. */
static int check_each(validator *v, const json_t *map, int (*check)(validator *v, const json_t *value))
{
	if (!json_is_object(map))
		return fail(v, "expected an object of named definitions");
	const char *name;
	const json_t *value;
	json_object_foreach((json_t *)map, name, value)
	{
		size_t mark = flow_path_push(&v->path, name);
		if (check(v, value))
			return -1;
		flow_path_pop(&v->path, mark);
	}
	return 0;
}

static int check_function(validator *v, const json_t *value)
{
	v->in_function = 1;
	int rc = check_task(v, value, (place){NULL, 0});
	v->in_function = 0;
	return rc;
}

static int check_functions(validator *v, const json_t *value)
{
	static const char *const reserved[] = {"http", "activity", "grpc", "openapi", "asyncapi", "a2a", "mcp"};
	const char *name;
	const json_t *function;
	json_object_foreach((json_t *)value, name, function)
	{
		if (!among(name, reserved, COUNT(reserved)))
			continue;
		size_t mark = flow_path_push(&v->path, name);
		fail(v, "a function cannot be named \"%s\" (call: %s means the built-in call)", name, name);
		flow_path_pop(&v->path, mark);
		return -1;
	}
	return check_each(v, value, check_function);
}

static int check_errors(validator *v, const json_t *value)
{
	return check_each(v, value, check_error_definition);
}

static int check_retries(validator *v, const json_t *value)
{
	return check_each(v, value, check_retry_policy);
}

static int check_timeouts(validator *v, const json_t *value)
{
	return check_each(v, value, check_timeout_definition);
}

static int check_use(validator *v, const json_t *value)
{
	static const char *const fields[] = {"functions",       "errors",  "retries",  "timeouts",
	                                     "authentications", "secrets", "catalogs", "extensions"};
	if (object_of(v, value, fields, COUNT(fields)) || member(v, value, "authentications", 0, not_supported) ||
	    member(v, value, "secrets", 0, not_supported) || member(v, value, "catalogs", 0, not_supported) ||
	    member(v, value, "extensions", 0, not_supported))
		return -1;
	/* Functions last: their tasks may name errors, retries and timeouts. */
	return member(v, value, "errors", 0, check_errors) || member(v, value, "retries", 0, check_retries) ||
	       member(v, value, "timeouts", 0, check_timeouts) || member(v, value, "functions", 0, check_functions);
}

static int schedule_not_supported(validator *v, const json_t *value)
{
	(void)value;
	return fail(v, "not supported yet: start flows through the gateway (or a Temporal schedule of the flow)");
}

static int validate(const json_t *document, const flow_catalog *catalog, json_t *children, portico_error *err)
{
	static const char *const fields[] = {"document", "input", "use", "do", "timeout", "output", "schedule"};
	if (flow_check_bounds(document, err))
		return -1;
	validator v = {.catalog = catalog,
	               .children = children,
	               .checked = json_object(),
	               .pending = json_object(),
	               .err = err};
	const json_t *use = json_object_get(document, "use");
	v.functions = json_object_get(use, "functions");
	v.errors = json_object_get(use, "errors");
	v.retries = json_object_get(use, "retries");
	v.timeouts = json_object_get(use, "timeouts");
	int rc = object_of(&v, document, fields, COUNT(fields)) ||
	         member(&v, document, "document", 1, check_document_header) ||
	         member(&v, document, "schedule", 0, schedule_not_supported) ||
	         member(&v, document, "use", 0, check_use) || member(&v, document, "input", 0, check_input) ||
	         member(&v, document, "timeout", 0, check_timeout) || member(&v, document, "do", 1, check_task_list) ||
	         member(&v, document, "output", 0, check_output);
	/* The expressions met before a refusal come before it, and so do their own refusals. */
	if (check_expressions(&v))
		rc = -1;
	flow_path_free(&v.path);
	json_decref(v.checked);
	json_decref(v.pending);
	return rc ? -1 : 0;
}

int flow_validate(const json_t *document, const flow_catalog *catalog, portico_error *err)
{
	return validate(document, catalog, NULL, err);
}

/* --- The catalog ------------------------------------------------------------------------------ */

typedef struct flow_entry {
	json_t *document;                /* owned, validated */
	char *file;                      /* owned: the file's name in the directory */
	const char *ns, *name, *version; /* borrowed from document */
	json_t *children;                /* owned: its run: workflow children, [ns, name, version, path] */
} flow_entry;

struct flow_catalog {
	flow_entry *entries; /* owned, count of them, sorted by name, version, namespace */
	size_t count;
};

/* Semantic-version precedence (semver.org 2.0.0, item 11): <0, 0, >0. Build metadata is ignored. */
static int semver_compare(const char *a, const char *b)
{
	for (int part = 0; part < 3; part++) {
		unsigned long long x = strtoull(a, (char **)&a, 10), y = strtoull(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		if (part < 2)
			a++, b++;
	}
	int a_pre = *a == '-', b_pre = *b == '-';
	if (a_pre != b_pre)
		return a_pre ? -1 : 1;
	while (a_pre && *a == *b && *a && *a != '+')
		a++, b++;
	if (!a_pre || ((!*a || *a == '+') && (!*b || *b == '+')))
		return 0;
	/* Back to the start of the identifiers that differ. */
	while (a[-1] != '.' && a[-1] != '-')
		a--, b--;
	for (;;) {
		size_t la = strcspn(a, ".+"), lb = strcspn(b, ".+");
		int na = strspn(a, "0123456789") == la, nb = strspn(b, "0123456789") == lb;
		int order;
		if (na && nb)
			order = la != lb ? (la < lb ? -1 : 1) : strncmp(a, b, la);
		else if (na != nb)
			order = na ? -1 : 1;
		else {
			order = strncmp(a, b, la < lb ? la : lb);
			if (!order && la != lb)
				order = la < lb ? -1 : 1;
		}
		if (order)
			return order;
		a += la, b += lb;
		int a_more = *a == '.', b_more = *b == '.';
		if (!a_more || !b_more)
			return a_more - b_more;
		a++, b++;
	}
}

static int entry_order(const void *x, const void *y)
{
	const flow_entry *a = x, *b = y;
	int order = strcmp(a->name, b->name);
	if (!order)
		order = semver_compare(a->version, b->version);
	if (!order)
		order = strcmp(a->version, b->version);
	return order ? order : strcmp(a->ns, b->ns);
}

flow_catalog *flow_catalog_new(void)
{
	return portico_calloc(1, sizeof(flow_catalog));
}

void flow_catalog_free(flow_catalog *catalog)
{
	if (!catalog)
		return;
	for (size_t i = 0; i < catalog->count; i++) {
		json_decref(catalog->entries[i].document);
		json_decref(catalog->entries[i].children);
		free(catalog->entries[i].file);
	}
	free(catalog->entries);
	free(catalog);
}

static const flow_entry *find_entry(const flow_catalog *catalog, const char *ns, const char *name, const char *version)
{
	const flow_entry *found = NULL;
	for (size_t i = 0; catalog && i < catalog->count; i++) {
		const flow_entry *e = &catalog->entries[i];
		if (strcmp(e->name, name) || (ns && strcmp(e->ns, ns)) || (version && strcmp(e->version, version)))
			continue;
		if (found && strcmp(found->ns, e->ns))
			return NULL; /* the name is in two namespaces: ns must say which */
		if (!found || semver_compare(e->version, found->version) > 0)
			found = e;
	}
	return found;
}

const json_t *flow_catalog_find(const flow_catalog *catalog, const char *ns, const char *name, const char *version)
{
	const flow_entry *e = name ? find_entry(catalog, ns, name, version) : NULL;
	return e ? e->document : NULL;
}

json_t *flow_catalog_list(const flow_catalog *catalog)
{
	json_t *list = json_array();
	for (size_t i = 0; catalog && i < catalog->count; i++) {
		const flow_entry *e = &catalog->entries[i];
		const json_t *header = json_object_get(e->document, "document");
		json_t *item = json_pack("{s:s, s:s, s:s, s:O, s:s}", "namespace", e->ns, "name", e->name, "version",
		                         e->version, "dsl", json_object_get(header, "dsl"), "file", e->file);
		if (json_object_get(header, "title"))
			json_object_set(item, "title", json_object_get(header, "title"));
		if (json_object_get(header, "summary"))
			json_object_set(item, "summary", json_object_get(header, "summary"));
		json_array_append_new(list, item);
	}
	return list;
}

static int has_flow_suffix(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
	       (n > 5 && !strcmp(name + n - 5, ".json"));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The definition files of dir, sorted (the caller frees each and the array), or NULL with err. */
static char **list_files(const char *dir, size_t *count, portico_error *err)
{
	DIR *d = opendir(dir);
	if (!d) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "cannot read the flows directory %s: %s", dir,
		                  strerror(errno));
		return NULL;
	}
	char **names = portico_malloc(sizeof *names * (FLOW_CATALOG_MAX_FILES + 1));
	*count = 0;
	struct dirent *entry;
	while ((entry = readdir(d))) {
		if (entry->d_name[0] == '.' || !has_flow_suffix(entry->d_name))
			continue;
		if (*count == FLOW_CATALOG_MAX_FILES) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: more than %d flow definitions", dir,
			                  FLOW_CATALOG_MAX_FILES);
			break;
		}
		names[(*count)++] = portico_strdup(entry->d_name);
	}
	closedir(d);
	if (entry) {
		for (size_t i = 0; i < *count; i++)
			free(names[i]);
		free(names);
		return NULL;
	}
	qsort(names, *count, sizeof *names, by_name);
	return names;
}

/* The text of a regular file of at most FLOW_MAX_BYTES (the caller frees), or NULL with err. */
static char *read_definition(const char *path, size_t *length, portico_error *err)
{
	/* stat first: opening a FIFO someone left there would block. */
	struct stat st;
	int missing = stat(path, &st);
	if (missing || !S_ISREG(st.st_mode)) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "cannot read %s: %s", path,
		                  missing ? strerror(errno) : "not a regular file");
		return NULL;
	}
	FILE *file = fopen(path, "rb");
	if (!file) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	char *text = portico_malloc(FLOW_MAX_BYTES + 1);
	*length = fread(text, 1, FLOW_MAX_BYTES + 1, file);
	int failed = ferror(file);
	fclose(file);
	if (failed || *length > FLOW_MAX_BYTES) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: %s", path,
		                  failed ? "cannot be read" : "larger than the limit of a definition (1 MiB)");
		free(text);
		return NULL;
	}
	return text;
}

/* Adds the definition in dir/file to catalog (unresolved children collected), or -1 with err. */
static int load_file(flow_catalog *catalog, const char *dir, const char *file, portico_error *err)
{
	char *path = portico_sprintf("%s/%s", dir, file);
	size_t length;
	char *text = read_definition(path, &length, err);
	free(path);
	if (!text)
		return -1;
	json_t *document = flow_parse(text, length, err);
	free(text);
	json_t *children = json_array();
	if (!document || validate(document, NULL, children, err)) {
		json_decref(document);
		json_decref(children);
		portico_error_prefix(err, "%s", file);
		return -1;
	}
	const json_t *header = json_object_get(document, "document");
	flow_entry e = {document,
	                portico_strdup(file),
	                json_string_value(json_object_get(header, "namespace")),
	                json_string_value(json_object_get(header, "name")),
	                json_string_value(json_object_get(header, "version")),
	                children};
	for (size_t i = 0; i < catalog->count; i++) {
		const flow_entry *other = &catalog->entries[i];
		if (!strcmp(other->ns, e.ns) && !strcmp(other->name, e.name) && !strcmp(other->version, e.version)) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "%s: /document: %s/%s version %s is already defined by %s", file, e.ns,
			                  e.name, e.version, other->file);
			json_decref(document);
			json_decref(children);
			free(e.file);
			return -1;
		}
	}
	catalog->entries = portico_realloc(catalog->entries, sizeof *catalog->entries * (catalog->count + 1));
	catalog->entries[catalog->count++] = e;
	return 0;
}

/* The entry a child [ns, name, version, path] names, or NULL. */
static const flow_entry *child_entry(const flow_catalog *catalog, const json_t *child)
{
	return find_entry(catalog, json_string_value(json_array_get(child, 0)),
	                  json_string_value(json_array_get(child, 1)), json_string_value(json_array_get(child, 2)));
}

/* Depth-first search for a cycle of run: workflow from entry i. state: 0 unvisited, 1 on the
 * stack, 2 done; stack holds the entries on the way. -1 with err naming the cycle. */
static int find_cycle(const flow_catalog *catalog, size_t i, char *state, size_t *stack, size_t depth,
                      portico_error *err)
{
	state[i] = 1;
	stack[depth] = i;
	const flow_entry *e = &catalog->entries[i];
	size_t index;
	const json_t *child;
	json_array_foreach(e->children, index, child)
	{
		size_t j = (size_t)(child_entry(catalog, child) - catalog->entries);
		if (state[j] == 1) {
			char *cycle = portico_strdup("");
			size_t from = depth;
			while (stack[from] != j)
				from--;
			for (size_t k = from; k <= depth; k++) {
				const flow_entry *step = &catalog->entries[stack[k]];
				char *longer =
				        portico_sprintf("%s%s/%s %s -> ", cycle, step->ns, step->name, step->version);
				free(cycle);
				cycle = longer;
			}
			portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: %s: a cycle of run: workflow: %s%s/%s %s",
			                  e->file, json_string_value(json_array_get(child, 3)), cycle,
			                  catalog->entries[j].ns, catalog->entries[j].name,
			                  catalog->entries[j].version);
			free(cycle);
			return -1;
		}
		if (!state[j] && find_cycle(catalog, j, state, stack, depth + 1, err))
			return -1;
	}
	state[i] = 2;
	return 0;
}

/* Every child resolves to a loaded flow and no flow reaches itself. */
static int link_children(const flow_catalog *catalog, portico_error *err)
{
	for (size_t i = 0; i < catalog->count; i++) {
		const flow_entry *e = &catalog->entries[i];
		size_t index;
		const json_t *child;
		json_array_foreach(
		        e->children, index,
		        child) if (!child_entry(catalog,
		                                child)) return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                                                                 "%s: %s: no flow %s/%s version %s "
		                                                                 "among the loaded flows",
		                                                                 e->file,
		                                                                 json_string_value(
		                                                                         json_array_get(child, 3)),
		                                                                 json_string_value(
		                                                                         json_array_get(child, 0)),
		                                                                 json_string_value(
		                                                                         json_array_get(child, 1)),
		                                                                 json_string_value(
		                                                                         json_array_get(child, 2)));
	}
	char *state = portico_calloc(catalog->count + 1, 1);
	size_t *stack = portico_calloc(catalog->count + 1, sizeof *stack);
	int rc = 0;
	for (size_t i = 0; !rc && i < catalog->count; i++)
		if (!state[i])
			rc = find_cycle(catalog, i, state, stack, 0, err);
	free(state);
	free(stack);
	return rc;
}

flow_catalog *flow_catalog_load(const char *dir, portico_error *err)
{
	size_t count;
	char **files = list_files(dir, &count, err);
	if (!files)
		return NULL;
	flow_catalog *catalog = flow_catalog_new();
	int rc = 0;
	for (size_t i = 0; i < count; i++) {
		if (!rc)
			rc = load_file(catalog, dir, files[i], err);
		free(files[i]);
	}
	free(files);
	if (!rc)
		rc = link_children(catalog, err);
	if (rc) {
		flow_catalog_free(catalog);
		return NULL;
	}
	if (catalog->count)
		qsort(catalog->entries, catalog->count, sizeof *catalog->entries, entry_order);
	return catalog;
}
