/* Runtime expressions (expr.h): what the text of an expression is, and where it runs: in a sandbox
 * process when the pool is started (expr_sandbox.c), otherwise in-process (expr_jq.c). */
#include "expr.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "definition.h"
#include "expr_jq.h"
#include "expr_sandbox.h"

/* In-process, libjq's globals (oniguruma's first initialisation among them) are not known to be
 * safe from several threads at once, and this path serves tests and fuzzing, not traffic: one
 * evaluation at a time, with one cache of compiled programs, kept for the process. */
#define IN_PROCESS_CACHE 64
static pthread_mutex_t in_process_lock = PTHREAD_MUTEX_INITIALIZER;
static flow_jq_cache *in_process_cache;

const portico_setting_help flow_expr_settings[] = {
        {"PORTICO_FLOW_EXPR_PROCESSES", "2", "sandbox processes running flows' jq expressions (1 to 64)"},
        {"PORTICO_FLOW_EXPR_TIMEOUT_MS", "1000", "time limit of one expression, in ms (100 to 60000)"},
        {"PORTICO_FLOW_EXPR_MEMORY_MB", "512", "address space of a sandbox process, in MiB (64 to 65536)"},
        {NULL, NULL, NULL},
};

int flow_expr_options_from_env(flow_expr_options *options, portico_error *err)
{
	int64_t processes, timeout_ms, memory_mb;
	if (portico_settings_number("PORTICO_FLOW_EXPR_PROCESSES", 2, 1, 64, &processes, err) ||
	    portico_settings_number("PORTICO_FLOW_EXPR_TIMEOUT_MS", 1000, 100, 60000, &timeout_ms, err) ||
	    portico_settings_number("PORTICO_FLOW_EXPR_MEMORY_MB", 512, 64, 65536, &memory_mb, err))
		return -1;
	*options = (flow_expr_options){"/proc/self/exe", (unsigned)processes, (unsigned)timeout_ms, (unsigned)memory_mb,
	                               0};
	return 0;
}

void flow_expr_stop(void)
{
	flow_sandbox_stop();
	pthread_mutex_lock(&in_process_lock);
	flow_jq_cache_free(in_process_cache);
	in_process_cache = NULL;
	pthread_mutex_unlock(&in_process_lock);
}

int flow_expr_is(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return n >= 3 && s[0] == '$' && s[1] == '{' && s[n - 1] == '}';
}

/* The program of s: the text inside ${ } when s is an expression, else s, blanks trimmed. A new
 * string (the caller frees), or NULL with err when it is empty or longer than FLOW_MAX_EXPRESSION. */
static char *program_of(const char *s, portico_error *err)
{
	size_t length = strlen(s);
	if (length > FLOW_MAX_EXPRESSION) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the expression is longer than %d bytes",
		                  FLOW_MAX_EXPRESSION);
		return NULL;
	}
	const char *start = s, *end = s + length;
	if (flow_expr_is(s)) {
		start = strstr(s, "${") + 2;
		end = strrchr(s, '}');
	}
	while (start < end && isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (start == end) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the expression is empty");
		return NULL;
	}
	return portico_strndup(start, (size_t)(end - start));
}

/* Compiles (data NULL) or evaluates program with names, in the sandbox or in-process. */
static int run(const char *program, const json_t *names, const json_t *data, const json_t *vars, json_t **value,
               portico_error *err)
{
	int rc = flow_sandbox_call(program, names, data, vars, value, err);
	if (rc != FLOW_SANDBOX_OFF)
		return rc;
	pthread_mutex_lock(&in_process_lock);
	if (!in_process_cache)
		in_process_cache = flow_jq_cache_new(IN_PROCESS_CACHE);
	flow_jq_program *p = flow_jq_cache_get(in_process_cache, program, names, err);
	if (p && data)
		*value = flow_jq_run(p, data, vars, err);
	rc = p && (!data || *value) ? 0 : -1;
	pthread_mutex_unlock(&in_process_lock);
	return rc;
}

int flow_expr_check_names(const char *s, const char *const *names, portico_error *err)
{
	json_t *vars = json_object(); /* the names, to list them as flow_expr_eval would */
	for (size_t i = 0; names && names[i]; i++)
		json_object_set_new(vars, names[i], json_null());
	json_t *bound = flow_jq_names(vars, err);
	json_decref(vars);
	char *program = bound ? program_of(s, err) : NULL;
	int rc = program ? run(program, bound, NULL, NULL, NULL, err) : -1;
	free(program);
	json_decref(bound);
	return rc;
}

/* Expressions compiled together: a bound on the program's size (64 × FLOW_MAX_EXPRESSION). */
#define CHECK_BATCH 64

/* True when program's brackets balance by themselves, outside strings (whose \( ) interpolations
 * are code) and comments, and it names nothing of Portico's (__portico…): inside ( ) it can
 * neither close them nor see another expression, so a batch of such programs compiles exactly
 * when each does. Unsure (too deep, unterminated) is false. */
static int self_contained(const char *program)
{
	char open[64]; /* what each unclosed bracket is: ( [ { or I, an interpolation in a string */
	size_t depth = 0;
	int in_string = 0;
	if (strstr(program, "__portico"))
		return 0;
	for (const char *c = program; *c; c++) {
		if (in_string) {
			if (*c == '"')
				in_string = 0;
			else if (*c == '\\' && c[1] == '(') {
				if (depth == sizeof(open))
					return 0;
				open[depth++] = 'I';
				in_string = 0;
				c++;
			} else if (*c == '\\' && !*++c)
				return 0;
			continue;
		}
		switch (*c) {
		case '#':
			while (c[1] && c[1] != '\n' && c[1] != '\r')
				c++;
			break;
		case '"':
			in_string = 1;
			break;
		case '(':
		case '[':
		case '{':
			if (depth == sizeof(open))
				return 0;
			open[depth++] = *c;
			break;
		case ')':
			if (!depth || (open[depth - 1] != '(' && open[depth - 1] != 'I'))
				return 0;
			in_string = open[--depth] == 'I';
			break;
		case ']':
		case '}':
			if (!depth || open[--depth] != (*c == ']' ? '[' : '{'))
				return 0;
			break;
		}
	}
	return depth == 0 && !in_string;
}

/* Compiles programs[0..count) (each self_contained) as one program: 0 when all compile. */
static int check_batch(char **programs, size_t count, const json_t *names)
{
	size_t size = 8;
	for (size_t i = 0; i < count; i++)
		size += strlen(programs[i]) + 64;
	char *text = portico_malloc(size); /* freed below */
	size_t used = 0;
	for (size_t i = 0; i < count; i++)
		used += (size_t)snprintf(text + used, size - used, "def __portico_%zu: (\n%s\n);\n", i, programs[i]);
	/* Each definition called, or jq would drop it unchecked. */
	for (size_t i = 0; i < count; i++)
		used += (size_t)snprintf(text + used, size - used, "%s__portico_%zu", i ? ", " : "[", i);
	snprintf(text + used, size - used, "]");
	portico_error err = PORTICO_ERROR_INIT;
	int rc = run(text, names, NULL, NULL, NULL, &err);
	portico_error_clear(&err);
	free(text);
	return rc;
}

int flow_expr_check_all(const char *const *expressions, size_t count, const char *const *names, size_t *failed,
                        portico_error *err)
{
	json_t *vars = json_object(); /* the names, to list them as flow_expr_eval would */
	for (size_t i = 0; names && names[i]; i++)
		json_object_set_new(vars, names[i], json_null());
	json_t *bound = flow_jq_names(vars, err);
	json_decref(vars);
	if (!bound)
		return -1;
	char **programs = portico_calloc(count ? count : 1, sizeof(*programs)); /* freed below */
	/* An expression that is empty or too long fails after those before it pass. */
	portico_error unusable = PORTICO_ERROR_INIT;
	size_t usable = 0, i;
	while (usable < count && (programs[usable] = program_of(expressions[usable], &unusable)))
		usable++;
	/* Batches of the self-contained programs; a program left NULL needs no more checking. */
	for (size_t start = 0; start < usable; start += CHECK_BATCH) {
		char *batch[CHECK_BATCH];
		size_t in_batch = 0, end = start + CHECK_BATCH < usable ? start + CHECK_BATCH : usable;
		for (size_t j = start; j < end; j++)
			if (self_contained(programs[j]))
				batch[in_batch++] = programs[j];
		if (in_batch && !check_batch(batch, in_batch, bound))
			for (size_t j = start; j < end; j++)
				if (self_contained(programs[j])) {
					free(programs[j]);
					programs[j] = NULL;
				}
	}
	int rc = 0;
	for (i = 0; !rc && i < usable; i++)
		if (programs[i] && run(programs[i], bound, NULL, NULL, NULL, err)) {
			rc = -1;
			if (failed)
				*failed = i;
		}
	if (!rc && usable < count) {
		rc = portico_error_set(err, unusable.code, "%s", unusable.message);
		if (failed)
			*failed = usable;
	}
	portico_error_clear(&unusable);
	for (i = 0; i < count; i++)
		free(programs[i]);
	free(programs);
	json_decref(bound);
	return rc;
}

int flow_expr_check(const char *s, portico_error *err)
{
	return flow_expr_check_names(s, NULL, err);
}

json_t *flow_expr_eval(const char *s, const json_t *data, const json_t *vars, portico_error *err)
{
	json_t *names = flow_jq_names(vars, err);
	char *program = names ? program_of(s, err) : NULL;
	json_t *value = NULL;
	if (program)
		run(program, names, data ? data : json_null(), vars, &value, err);
	free(program);
	json_decref(names);
	return value;
}

/* pointer + "/" + the key escaped as RFC 6901 says (~ as ~0, / as ~1): a new string. */
static char *pointer_append(const char *pointer, const char *key, size_t key_len)
{
	size_t length = strlen(pointer);
	char *out = portico_malloc(length + 2 * key_len + 2);
	memcpy(out, pointer, length);
	out[length++] = '/';
	for (size_t i = 0; i < key_len; i++) {
		if (key[i] == '~' || key[i] == '/') {
			out[length++] = '~';
			out[length++] = key[i] == '~' ? '0' : '1';
		} else
			out[length++] = key[i] ? key[i] : '?';
	}
	out[length] = '\0';
	return out;
}

/* eval_tree's walk; pointer is the JSON pointer of value in the tree (for errors). */
static json_t *eval_tree(const json_t *value, const json_t *data, const json_t *vars, const char *pointer, int depth,
                         portico_error *err)
{
	if (depth > FLOW_JQ_MAX_DEPTH) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: nests deeper than %d levels", pointer,
		                  FLOW_JQ_MAX_DEPTH);
		return NULL;
	}
	if (json_is_string(value) && flow_expr_is(json_string_value(value))) {
		json_t *result = flow_expr_eval(json_string_value(value), data, vars, err);
		if (!result && *pointer)
			portico_error_prefix(err, "%s", pointer);
		return result;
	}
	if (json_is_array(value)) {
		json_t *copy = json_array();
		size_t index;
		const json_t *item;
		json_array_foreach(value, index, item)
		{
			char *inner = portico_sprintf("%s/%zu", pointer, index); /* freed below */
			json_t *result = eval_tree(item, data, vars, inner, depth + 1, err);
			free(inner);
			if (!result) {
				json_decref(copy);
				return NULL;
			}
			json_array_append_new(copy, result);
		}
		return copy;
	}
	if (json_is_object(value)) {
		json_t *copy = json_object();
		const char *key;
		size_t key_len;
		json_t *item;
		json_object_keylen_foreach((json_t *)value, key, key_len, item)
		{
			char *inner = pointer_append(pointer, key, key_len); /* freed below */
			json_t *result = eval_tree(item, data, vars, inner, depth + 1, err);
			free(inner);
			if (!result) {
				json_decref(copy);
				return NULL;
			}
			json_object_setn_new(copy, key, key_len, result);
		}
		return copy;
	}
	return json_deep_copy(value);
}

json_t *flow_expr_eval_tree(const json_t *value, const json_t *data, const json_t *vars, portico_error *err)
{
	return eval_tree(value, data, vars, "", 0, err);
}
