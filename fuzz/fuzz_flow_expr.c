/* Runtime expressions (flow/expr.h), in-process: the input's first line is the data (JSON; null
 * when it does not parse), the rest a jq program of at most MAX_PROGRAM bytes, compiled and run
 * with the spec's variables, twice, with and without its ${ }. A failure must carry a message, a
 * value must be JSON, and both runs must agree (expressions are deterministic). Without a program,
 * fixed ones that take the data apart run instead: jq 1.6 takes tens of milliseconds to compile a
 * program, so these, compiled once, fuzz the conversions between JSON and jq quickly.
 *
 * What runs without bound is the sandbox's business (tests/unit/test_flow_expr.c ends it there):
 * here it would only be a libFuzzer timeout or out-of-memory, so programs that can loop or
 * allocate at will are skipped (see skipped). */
#include <stdint.h>

#include "alloc.h"
#include "expr.h"
#include "fuzz.h"

#define MAX_PROGRAM 128

/* Builtins and syntax that loop or grow without a bound a short program can reach: recursion
 * (def, recurse, ..), generators of any length (range, repeat, while, until, limit). */
static int skipped(const char *program)
{
	static const char *const words[] = {"def", "recurse", "..", "range", "repeat", "while", "until", "limit"};
	if (flow_expr_is(program))
		return 1; /* wrapped again, it would not be the same program */
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(program, words[i]))
			return 1;
	return 0;
}

/* The value or the error message of program, as text to compare (the caller frees). */
static char *outcome(const char *program, const json_t *data, const json_t *vars)
{
	portico_error err = PORTICO_ERROR_INIT;
	json_t *value = flow_expr_eval(program, data, vars, &err);
	char *text;
	if (value) {
		text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
		if (!text)
			fuzz_fail("a value that is not JSON", program);
		json_decref(value);
	} else {
		if (!err.message || !*err.message)
			fuzz_fail("an expression failed without a message", program);
		text = strdup(err.message);
	}
	portico_error_clear(&err);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *vars;
	if (!vars)
		vars = json_pack("{s:{s:i}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:f, s:i}", "context", "n", 1, "input",
		                 "order", "o-1", "workflow", "id", "w", "task", "name", "t", "runtime", "name",
		                 "portico", "__now", 1700000000.25, "item", 7);
	static const char *const fixed[] = {".",
	                                    "tojson | fromjson",
	                                    "[paths]",
	                                    "[.. | scalars]",
	                                    "walk(.)",
	                                    "[.. | strings | explode | implode]",
	                                    "[.. | numbers | . + 0]"};
	char *text = fuzz_text(data, size);
	char *program = strchr(text, '\n');
	if (program && (strlen(program + 1) > MAX_PROGRAM || skipped(program + 1))) {
		free(text);
		return 0;
	}
	if (program)
		*program++ = '\0';
	json_t *input = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!input)
		input = json_null();
	if (!program) {
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			free(outcome(fixed[i], input, vars));
		json_decref(input);
		free(text);
		return 0;
	}

	portico_error err = PORTICO_ERROR_INIT;
	if (flow_expr_check(program, &err) && !err.message)
		fuzz_fail("a program refused without a message", program);
	portico_error_clear(&err);
	char *first = outcome(program, input, vars);
	char *wrapped = portico_sprintf("${%s}", program);
	char *second = outcome(wrapped, input, vars);
	/* Blank programs are empty either way; otherwise the same program gives the same outcome. */
	if (strcmp(first, second))
		fuzz_fail("the same expression gave two outcomes", program);
	free(first);
	free(second);
	free(wrapped);
	json_decref(input);
	free(text);
	return 0;
}
