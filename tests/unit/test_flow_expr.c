/* Runtime expressions (flow/expr.h): values, the spec's variables, the deterministic builtins, the
 * one-value rule, errors as users read them, and eval_tree; then the same through the sandbox
 * processes, whose limits end runaway programs without taking the test down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "clock.h"
#include "expr.h"
#include "json_assert.h"
#include "json_parse.h"
#include "json_text.h"

/* The value of expression s on data (JSON text) with vars (JSON text or NULL); fails the test when
 * it fails. */
static json_t *eval(const char *s, const char *data, const char *vars)
{
	json_t *d = parse(data), *v = vars ? parse(vars) : NULL;
	portico_error err = PORTICO_ERROR_INIT;
	json_t *value = flow_expr_eval(s, d, v, &err);
	if (!value)
		fail_msg("%s: %s", s, err.message);
	json_decref(d);
	json_decref(v);
	return value;
}

/* The error of expression s on data; fails the test when it succeeds or the code differs. The
 * message is the caller's to free. */
static char *eval_error(const char *s, const char *data, const char *vars, portico_code code)
{
	json_t *d = parse(data), *v = vars ? parse(vars) : NULL;
	portico_error err = PORTICO_ERROR_INIT;
	json_t *value = flow_expr_eval(s, d, v, &err);
	if (value)
		fail_msg("%s gave a value", s);
	if (err.code != code)
		fail_msg("%s: %s (%s)", s, portico_code_name(err.code), err.message);
	json_decref(d);
	json_decref(v);
	return err.message;
}

static void assert_message(char *message, const char *expected)
{
	if (!strstr(message, expected))
		fail_msg("\"%s\" does not say \"%s\"", message, expected);
	free(message);
}

static void test_is_expression(void **state)
{
	(void)state;
	assert_true(flow_expr_is("${ .a }"));
	assert_true(flow_expr_is("  ${.}\n"));
	assert_false(flow_expr_is("$ {.a}"));
	assert_false(flow_expr_is(".a"));
	assert_false(flow_expr_is("${"));
	assert_false(flow_expr_is("hello ${ .a }!"));
}

static void test_values(void **state)
{
	(void)state;
	assert_json_equal(eval("${ .a + 1 }", "{\"a\": 41}", NULL), "42");
	assert_json_equal(eval(".a", "{\"a\": [1, \"x\", null, true]}", NULL), "[1, \"x\", null, true]");
	assert_json_equal(eval("${ {b: .a, c: (.a | length)} }", "{\"a\": \"héllo\"}", NULL),
	                  "{\"b\": \"héllo\", \"c\": 5}");
	/* Strings keep their NUL bytes both ways. */
	json_t *data = json_stringn("a\0b", 3);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *value = flow_expr_eval("${ . + \"\\u0000z\" }", data, NULL, &err);
	json_decref(data);
	assert_non_null(value);
	assert_int_equal(json_string_length(value), 5);
	assert_memory_equal(json_string_value(value), "a\0b\0z", 5);
	json_decref(value);
	/* Integers stay integers; reals stay reals; 2^53 is exact. */
	value = eval("${ [., . / 2, 9007199254740992] }", "3", NULL);
	assert_true(json_is_integer(json_array_get(value, 0)));
	assert_true(json_is_real(json_array_get(value, 1)));
	assert_int_equal(json_integer_value(json_array_get(value, 2)), 9007199254740992LL);
	json_decref(value);
	assert_json_equal(eval("${ [nan, infinite, -infinite] }", "null", NULL),
	                  "[null, 1.7976931348623157e308, -1.7976931348623157e308]");
	/* Beyond 2^53 a number would silently change: refused with what to do. */
	assert_message(eval_error("${ .id }", "{\"id\": 9007199254740993}", NULL, PORTICO_INVALID_ARGUMENT),
	               "send it as a string");
	/* So is a number beyond 64 bits, which portico_json_parse keeps raw (json_text.h). */
	const char *big = "{\"id\": 123456789012345678901234567890}";
	json_t *raw = portico_json_parse(big, strlen(big), 0, NULL);
	assert_null(flow_expr_eval("${ .id }", raw, NULL, &err));
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	assert_message(err.message, "send it as a string");
	json_decref(raw);
	/* A string jq makes of a NUL and digits is written as that string, not as a number. */
	value = eval("${ \"\\u0000123\" }", "null", NULL);
	char *written = portico_json_text(value, 0, NULL);
	assert_string_equal(written, "\"\\u0000123\"");
	free(written);
	json_decref(value);
	/* Objects keep their order. */
	value = eval("${ {z: 1, a: 2, m: 3} }", "null", NULL);
	char *text = json_dumps(value, JSON_COMPACT);
	assert_string_equal(text, "{\"z\":1,\"a\":2,\"m\":3}");
	free(text);
	json_decref(value);
	/* In jq's own order (jv_object_iter), not sorted: the data's keys as they came, a new key
	 * after them, an object built by the program as written, at any depth. */
	value = eval("${ {b: 1, a: 2, d: (.y + {a0: 3}), c: .} }", "{\"z\": 1, \"y\": {\"q\": 1, \"p\": 2}}", NULL);
	text = json_dumps(value, JSON_COMPACT);
	assert_string_equal(text, "{\"b\":1,\"a\":2,\"d\":{\"q\":1,\"p\":2,\"a0\":3},\"c\":{\"z\":1,\"y\":{"
	                          "\"q\":1,\"p\":2}}}");
	free(text);
	json_decref(value);
}

static void test_variables(void **state)
{
	(void)state;
	const char *vars =
	        "{\"context\": {\"n\": 1}, \"input\": {\"order\": 7}, \"workflow\": {\"id\": \"w\"},"
	        " \"task\": {\"name\": \"t\"}, \"runtime\": {\"name\": \"portico\"}, \"__now\": 1700000000.5,"
	        " \"item\": \"x\", \"index\": 3}";
	assert_json_equal(
	        eval("${ [$context.n, $input.order, $workflow.id, $task.name, $runtime.name, $item, $index] }", "null",
	             vars),
	        "[1, 7, \"w\", \"t\", \"portico\", \"x\", 3]");
	/* The spec's variables are bound even when the caller gives none. */
	assert_json_equal(eval("${ [$context, $input, $output, $workflow, $task, $runtime] }", "{}", NULL),
	                  "[null, null, null, null, null, null]");
	/* Portico provides no secrets: an expression that reads them does not compile. */
	assert_message(eval_error("${ $secrets.key }", "null", NULL, PORTICO_INVALID_ARGUMENT),
	               "$secrets is not defined");
	assert_message(eval_error("${ $nothing }", "null", NULL, PORTICO_INVALID_ARGUMENT), "$nothing is not defined");
	assert_message(eval_error(".", "null", "{\"not-a-name\": 1}", PORTICO_INVALID_ARGUMENT), "not-a-name");
	assert_message(eval_error(".", "null", "{\"if\": 1}", PORTICO_INVALID_ARGUMENT), "keyword");
	assert_message(eval_error(".", "null", "{\"ENV\": 1}", PORTICO_INVALID_ARGUMENT), "ENV");
	assert_message(eval_error(".", "null", "[1]", PORTICO_INVALID_ARGUMENT), "must be an object");
	portico_error err = PORTICO_ERROR_INIT;
	const char *names[] = {"item", "index", NULL};
	assert_int_equal(flow_expr_check_names("${ [$item, $index, $input] }", names, &err), 0);
	assert_int_equal(flow_expr_check("${ $item }", &err), -1);
	assert_non_null(strstr(err.message, "$item is not defined"));
	portico_error_clear(&err);
}

static void test_deterministic_builtins(void **state)
{
	(void)state;
	const char *vars = "{\"__now\": 1700000000, \"input\": {\"a\": 1}}";
	assert_json_equal(eval("${ now }", "null", vars), "1700000000");
	assert_json_equal(eval("${ now | todate }", "null", vars), "\"2023-11-14T22:13:20Z\"");
	assert_json_equal(eval("${ [input, inputs] }", "null", vars), "[{\"a\": 1}, {\"a\": 1}]");
	assert_json_equal(eval("${ [env, $ENV, input_filename] }", "null", vars), "[{}, {}, null]");
	/* Local time is UTC whatever TZ says. */
	setenv("TZ", "Asia/Tokyo", 1);
	assert_json_equal(eval("${ now | localtime | mktime }", "null", vars), "1700000000");
	assert_json_equal(eval("${ now | strflocaltime(\"%H:%M\") }", "null", vars), "\"22:13\"");
	assert_json_equal(eval("${ [2023,10,14,22,13,20,2,317] | mktime }", "null", vars), "1700000000");
	unsetenv("TZ");
	assert_message(eval_error("${ now }", "null", NULL, PORTICO_INVALID_ARGUMENT), "workflow time");
	const char *refused[] = {"halt",   "halt_error",        "halt_error(1)",   "debug",
	                         "stderr", "input_line_number", "get_search_list", "\"x\" | modulemeta"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_message(eval_error(refused[i], "null", NULL, PORTICO_INVALID_ARGUMENT), "not available");
}

static void test_modules_refused(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	const char *directives[] = {"import \"a\" as a; .", "include \"a\"; .", "${ import \"x\" as $x; $x }",
	                            "module {}; ."};
	for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++) {
		assert_int_equal(flow_expr_check(directives[i], &err), -1);
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		if (!strstr(err.message, "syntax error"))
			fail_msg("%s: %s", directives[i], err.message);
		portico_error_clear(&err);
	}
}

static void test_check_all(void **state)
{
	(void)state;
	const char *names[] = {"item", NULL};
	const char *valid[] = {"${ .a + 1 }",        "${ \"x\\(.a | tostring) y\\(\"(\") \" }",
	                       ". # a comment )",    "${ [$item, $input] }",
	                       "{a: (1, 2)} | [.a]", "${ def f: .; f }"};
	portico_error err = PORTICO_ERROR_INIT;
	size_t failed = 99;
	assert_int_equal(flow_expr_check_all(valid, 6, names, &failed, &err), 0);
	assert_int_equal(failed, 99);
	/* The first that fails is named, with the message it has alone. */
	const char *one_bad[] = {"${ .a }", "${ .b | foo }", "${ .c ? d }"};
	assert_int_equal(flow_expr_check_all(one_bad, 3, names, &failed, &err), -1);
	assert_int_equal(failed, 1);
	assert_string_equal(err.message, "foo/0 is not defined at line 1");
	portico_error_clear(&err);
	/* What would close its parentheses, or call another expression's, is checked alone. */
	const char *escaping[] = {"${ . }", "${ 1) ; def x: (1 }", "${ 2 }"};
	assert_int_equal(flow_expr_check_all(escaping, 3, NULL, &failed, &err), -1);
	assert_int_equal(failed, 1);
	portico_error_clear(&err);
	const char *reaching[] = {"${ . }", "${ __portico_0 }"};
	assert_int_equal(flow_expr_check_all(reaching, 2, NULL, &failed, &err), -1);
	assert_int_equal(failed, 1);
	assert_string_equal(err.message, "__portico_0/0 is not defined at line 1");
	portico_error_clear(&err);
	const char *unbound[] = {"${ $item }"};
	assert_int_equal(flow_expr_check_all(unbound, 1, NULL, &failed, &err), -1);
	assert_string_equal(err.message, "$item is not defined at line 1");
	portico_error_clear(&err);
	const char *empty[] = {"${ . }", "${ }"};
	assert_int_equal(flow_expr_check_all(empty, 2, NULL, &failed, &err), -1);
	assert_int_equal(failed, 1);
	portico_error_clear(&err);
	/* In order: a bad expression before an empty one is the first failure. */
	const char *in_order[] = {"${ . }", "${ 1) , (1 }", "${ }"};
	assert_int_equal(flow_expr_check_all(in_order, 3, NULL, &failed, &err), -1);
	assert_int_equal(failed, 1);
	portico_error_clear(&err);
}

static void test_errors(void **state)
{
	(void)state;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(flow_expr_check("${ .a ? b }", &err), -1);
	assert_string_equal(err.message, "syntax error, unexpected IDENT, expecting $end at line 1");
	portico_error_clear(&err);
	assert_int_equal(flow_expr_check("${ .a |\n\n  foo(1) }", &err), -1);
	assert_string_equal(err.message, "foo/1 is not defined at line 3");
	portico_error_clear(&err);
	assert_int_equal(flow_expr_check("${ . ^ 2 }", &err), -1);
	assert_message(portico_strdup(err.message), "syntax error, unexpected INVALID_CHARACTER at line 1");
	portico_error_clear(&err);
	assert_int_equal(flow_expr_check("${ }", &err), -1);
	assert_string_equal(err.message, "the expression is empty");
	portico_error_clear(&err);
	char *long_text = malloc(5000);
	memset(long_text, ' ', 4999);
	long_text[0] = '.';
	long_text[4999] = '\0';
	assert_int_equal(flow_expr_check(long_text, &err), -1);
	assert_string_equal(err.message, "the expression is longer than 4096 bytes");
	portico_error_clear(&err);
	free(long_text);
	assert_int_equal(flow_expr_check("${ .a | (1, 2) # a comment }", &err), 0);

	assert_message(eval_error("${ .a - 1 }", "{\"a\": null}", NULL, PORTICO_INVALID_ARGUMENT),
	               "null (null) and number (1) cannot be subtracted");
	char *message = eval_error("${ .a + 1 }", "{\"a\": \"x\"}", NULL, PORTICO_INVALID_ARGUMENT);
	assert_string_equal(message, "string (\"x\") and number (1) cannot be added");
	free(message);
	message = eval_error("${ error(\"card declined\") }", "null", NULL, PORTICO_INVALID_ARGUMENT);
	assert_string_equal(message, "card declined");
	free(message);
	message = eval_error("${ error({code: 7}) }", "null", NULL, PORTICO_INVALID_ARGUMENT);
	assert_string_equal(message, "error (not a string): {\"code\":7}");
	free(message);
	assert_json_equal(eval("${ try error(\"x\") catch . }", "null", NULL), "\"x\"");
	/* A long message is cut to its bound on a whole character. */
	message = eval_error("${ error(\"x\" + \"\u00e9\" * 600) }", "null", NULL, PORTICO_INVALID_ARGUMENT);
	assert_int_equal(strlen(message), 1023);
	json_t *utf8 = json_string(message);
	assert_non_null(utf8);
	json_decref(utf8);
	free(message);
	/* Values nest 256 levels at most, going in or out. */
	assert_message(eval_error("${ reduce range(300) as $i (0; [.]) }", "null", NULL, PORTICO_INVALID_ARGUMENT),
	               "the value nests deeper than 256 levels");
	json_t *deep = json_array();
	for (int i = 0; i < 300; i++) {
		json_t *outer = json_array();
		json_array_append_new(outer, deep);
		deep = outer;
	}
	assert_null(flow_expr_eval("${ length }", deep, NULL, &err));
	assert_string_equal(err.message, "a value nests deeper than 256 levels");
	portico_error_clear(&err);
	json_decref(deep);
}

static void test_one_value(void **state)
{
	(void)state;
	assert_json_equal(eval("${ empty }", "null", NULL), "null");
	assert_json_equal(eval("${ .[] | select(. > 5) }", "[1, 7]", NULL), "7");
	assert_json_equal(eval("${ [.[] | . * 2] }", "[1, 2, 3]", NULL), "[2, 4, 6]");
	char *message = eval_error("${ .[] }", "[1, 2, 3]", NULL, PORTICO_INVALID_ARGUMENT);
	assert_string_equal(message, "the expression gave 3 values; wrap it in [ ] for an array");
	free(message);
	message = eval_error("${ repeat(1) }", "null", NULL, PORTICO_INVALID_ARGUMENT);
	assert_string_equal(message, "the expression gave more than 1000 values; wrap it in [ ] for an array");
	free(message);
	assert_message(eval_error("${ 1, error(\"late\") }", "null", NULL, PORTICO_INVALID_ARGUMENT), "late");
}

static void test_eval_tree(void **state)
{
	(void)state;
	json_t *value = parse("{\"url\": \"${ \\\"https://x/\\\" + .id }\", \"n\": 3, \"list\": [\"${ .id }\", "
	                      "\"plain\", {\"${ .id }\": \"${ $input.k }\"}], \"t\": true}");
	json_t *data = parse("{\"id\": \"42\"}"), *vars = parse("{\"input\": {\"k\": [1]}}");
	portico_error err = PORTICO_ERROR_INIT;
	json_t *out = flow_expr_eval_tree(value, data, vars, &err);
	assert_non_null(out);
	assert_json_equal(out, "{\"url\": \"https://x/42\", \"n\": 3, \"list\": [\"42\", \"plain\", "
	                       "{\"${ .id }\": [1]}], \"t\": true}");
	json_decref(value);
	/* An error names where in the tree it is. */
	value = parse("{\"a\": [1, {\"b/c\": \"${ .id + 1 }\"}]}");
	assert_null(flow_expr_eval_tree(value, data, vars, &err));
	assert_string_equal(err.message, "/a/1/b~1c: string (\"42\") and number (1) cannot be added");
	portico_error_clear(&err);
	json_decref(value);
	json_decref(data);
	json_decref(vars);
}

/* --- The sandbox ------------------------------------------------------------------------------- */

#define SANDBOX_TIMEOUT_MS 1500

static int start_sandbox(void **state)
{
	(void)state;
	flow_expr_options options = {
	        .sandbox_exe = "/proc/self/exe", .processes = 2, .timeout_ms = SANDBOX_TIMEOUT_MS, .memory_mb = 384};
	portico_error err = PORTICO_ERROR_INIT;
	if (flow_expr_start(&options, &err))
		fail_msg("%s", err.message);
	return 0;
}

static int stop_sandbox(void **state)
{
	(void)state;
	flow_expr_stop();
	return 0;
}

/* The sandbox answers again after a failure. */
static void assert_sandbox_answers(void)
{
	assert_json_equal(eval("${ .a * 2 }", "{\"a\": 21}", NULL), "42");
}

static void test_sandbox_time_limit(void **state)
{
	(void)state;
	int64_t start = portico_monotonic_ms();
	char *message = eval_error("${ last(range(1e12)) }", "null", NULL, PORTICO_DEADLINE_EXCEEDED);
	assert_string_equal(message, "the expression ran over its 1500 ms limit");
	free(message);
	assert_in_range(portico_monotonic_ms() - start, SANDBOX_TIMEOUT_MS, SANDBOX_TIMEOUT_MS + 2000);
	assert_sandbox_answers();
}

static void test_sandbox_memory_limit(void **state)
{
	(void)state;
	json_t *data = json_null();
	portico_error err = PORTICO_ERROR_INIT;
	/* Doubling arrays reach the limit well before the time limit ends. */
	assert_null(flow_expr_eval("${ [range(1e9)] }", data, NULL, &err));
	if (err.code != PORTICO_RESOURCE_EXHAUSTED && err.code != PORTICO_DEADLINE_EXCEEDED)
		fail_msg("%s: %s", portico_code_name(err.code), err.message);
	portico_error_clear(&err);
	assert_null(flow_expr_eval("${ [1] | .[1e9] = 1 }", data, NULL, &err));
	assert_int_equal(err.code, PORTICO_RESOURCE_EXHAUSTED);
	assert_string_equal(err.message, "the expression ran out of memory (its limit is 384 MB)");
	portico_error_clear(&err);
	assert_sandbox_answers();
}

static void test_sandbox_crash(void **state)
{
	(void)state;
	/* libjq 1.6 asserts on a NaN slice index (Debian's patches fixed [-1] | implode). */
	char *message = eval_error("${ \"abc\" | .[nan:] }", "null", NULL, PORTICO_RESOURCE_EXHAUSTED);
	assert_string_equal(message,
	                    "the expression crashed the jq library (signal SIGABRT); its sandbox was replaced");
	free(message);
	assert_sandbox_answers();
	/* Compiling goes through the sandbox too. */
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(flow_expr_check("${ .a ? b }", &err), -1);
	assert_string_equal(err.message, "syntax error, unexpected IDENT, expecting $end at line 1");
	portico_error_clear(&err);
}

static void test_sandbox_bounds(void **state)
{
	(void)state;
	/* A value over 4 MiB, made without work jq would spend the time limit on under ASan and load
	 * ("x" * 5000000 appends five million times): the data itself, given back. */
	size_t four_and_a_half = 9u << 19;
	char *text = malloc(four_and_a_half + 3);
	memset(text, 'x', four_and_a_half + 2);
	text[0] = text[four_and_a_half + 1] = '"';
	text[four_and_a_half + 2] = '\0';
	char *message = eval_error("${ . }", text, NULL, PORTICO_RESOURCE_EXHAUSTED);
	free(text);
	assert_string_equal(message, "the expression's value is larger than 4 MiB");
	free(message);
	size_t size = 17 * 1024 * 1024;
	char *big = malloc(size);
	memset(big, 'x', size);
	json_t *data = json_stringn_nocheck(big, size);
	free(big);
	portico_error err = PORTICO_ERROR_INIT;
	assert_null(flow_expr_eval("${ length }", data, NULL, &err));
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT); /* the same on every replay: the flow's error */
	assert_string_equal(err.message, "the expression's data and variables are larger than 16 MiB");
	portico_error_clear(&err);
	json_decref(data);
	assert_sandbox_answers();
}

/* A lazy pool starts nothing until the first evaluation; one that cannot start fails that
 * evaluation (never falling back to running it in-process), and the evaluations of the next
 * seconds fail at once with the same error rather than trying again each. */
static void test_sandbox_lazy(void **state)
{
	(void)state;
	flow_expr_options options = {.sandbox_exe = "/bin/true", .processes = 1, .lazy = 1};
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(flow_expr_start(&options, &err), 0);
	json_t *data = json_null();
	for (int attempt = 0; attempt < 3; attempt++) {
		int64_t start = portico_monotonic_ms();
		assert_null(flow_expr_eval("${ 1 }", data, NULL, &err));
		assert_int_equal(err.code, PORTICO_UNAVAILABLE);
		assert_non_null(strstr(err.message, "/bin/true does not answer"));
		portico_error_clear(&err);
		if (attempt > 0) /* no process spawned and pinged again */
			assert_in_range(portico_monotonic_ms() - start, 0, 50);
	}
	flow_expr_stop();
	assert_json_equal(eval("${ 1 }", "null", NULL), "1"); /* stopped: in-process, as before any start */
	options.sandbox_exe = "/proc/self/exe";
	assert_int_equal(flow_expr_start(&options, &err), 0);
	assert_sandbox_answers();
	flow_expr_stop();
}

/* Kills this test's children (the sandbox processes) from outside, as the OOM killer would;
 * returns how many. */
static int kill_children(void)
{
	int killed = 0;
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	while (proc && (entry = readdir(proc))) {
		char path[300];
		snprintf(path, sizeof(path), "/proc/%s/stat", entry->d_name);
		FILE *stat = fopen(path, "r");
		int pid, ppid;
		/* pid (comm) state ppid: comm is "exe" or the program's name here, without blanks. */
		if (stat && fscanf(stat, "%d %*s %*c %d", &pid, &ppid) == 2 && ppid == getpid())
			killed += kill(pid, SIGKILL) == 0;
		if (stat)
			fclose(stat);
	}
	if (proc)
		closedir(proc);
	return killed;
}

static void test_sandbox_killed_while_idle(void **state)
{
	(void)state;
	assert_int_equal(kill_children(), 2);
	usleep(100 * 1000);
	for (int i = 0; i < 3; i++)
		assert_sandbox_answers();
}

/* Several threads, more than the processes: each gets its own answers. */
static void *evaluate_many(void *arg)
{
	intptr_t n = (intptr_t)arg;
	for (int i = 0; i < 40; i++) {
		json_t *data = json_pack("{s:i, s:i}", "n", (int)n, "i", i);
		portico_error err = PORTICO_ERROR_INIT;
		json_t *value = flow_expr_eval("${ .n * 1000 + .i }", data, NULL, &err);
		if (!value || json_integer_value(value) != n * 1000 + i)
			return (void *)1;
		json_decref(value);
		json_decref(data);
	}
	return NULL;
}

static void test_sandbox_concurrent_callers(void **state)
{
	(void)state;
	pthread_t threads[5];
	for (intptr_t i = 0; i < 5; i++)
		pthread_create(&threads[i], NULL, evaluate_many, (void *)i);
	for (int i = 0; i < 5; i++) {
		void *failed;
		pthread_join(threads[i], &failed);
		assert_null(failed);
	}
}

int main(int argc, char **argv)
{
	/* The sandbox tests start this program as the sandbox. */
	if (argc > 1 && !strcmp(argv[1], FLOW_EXPR_SANDBOX_ARG))
		return flow_expr_sandbox_main();
	/* The same behaviour in-process and in the sandbox, then what only the sandbox does. */
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_is_expression),   cmocka_unit_test(test_values),
	        cmocka_unit_test(test_variables),       cmocka_unit_test(test_deterministic_builtins),
	        cmocka_unit_test(test_modules_refused), cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_check_all),       cmocka_unit_test(test_one_value),
	        cmocka_unit_test(test_eval_tree),
	};
	const struct CMUnitTest sandbox_tests[] = {
	        cmocka_unit_test(test_values),
	        cmocka_unit_test(test_variables),
	        cmocka_unit_test(test_deterministic_builtins),
	        cmocka_unit_test(test_modules_refused),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_check_all),
	        cmocka_unit_test(test_one_value),
	        cmocka_unit_test(test_eval_tree),
	        cmocka_unit_test(test_sandbox_time_limit),
	        cmocka_unit_test(test_sandbox_memory_limit),
	        cmocka_unit_test(test_sandbox_crash),
	        cmocka_unit_test(test_sandbox_bounds),
	        cmocka_unit_test(test_sandbox_concurrent_callers),
	        cmocka_unit_test(test_sandbox_killed_while_idle),
	};
	int failed = cmocka_run_group_tests_name("in-process", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("sandbox", sandbox_tests, start_sandbox, stop_sandbox);
	const struct CMUnitTest lazy_tests[] = {cmocka_unit_test(test_sandbox_lazy)};
	failed += cmocka_run_group_tests_name("lazy sandbox", lazy_tests, NULL, NULL);
	flow_expr_stop();
	return failed;
}
