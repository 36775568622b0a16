/* Runtime expressions: the jq programs of a flow, written `${ … }` (the spec's strict mode), run by
 * libjq. This module is the only one that calls libjq.
 *
 * Deterministic: an expression runs inside a workflow that Temporal replays, so it must give the
 * same value on every replay. The builtins that read the outside world are replaced before any
 * program compiles: `now` is the workflow's time (vars' "$__now", seconds since the epoch),
 * `input`/`inputs` the run's input, `env` and `$ENV` an empty object, `input_filename` null,
 * `localtime`/`strflocaltime`/`mktime` work in UTC, `halt`, `halt_error`, `debug`, `stderr`,
 * `input_line_number`, `get_search_list` and the module directives (`import`, `include`) are
 * refused. Module search paths are empty.
 *
 * Bounded and isolated: a jq program is code a caller wrote (an inline definition comes from an
 * HTTP body), and libjq has neither a step limit nor a memory limit, and asserts on some inputs. So
 * programs run in sandbox processes (a pool started by flow_expr_start): each evaluation has a time
 * limit and each process an address-space limit; a process that runs over, crashes or asserts is
 * killed and replaced, and the evaluation fails with a message, never the caller. Compiled
 * programs are cached in the sandbox (by text). Without flow_expr_start (unit tests, fuzzing),
 * evaluation runs in-process with the same builtins and no time limit. */
#ifndef PORTICO_FLOW_EXPR_H
#define PORTICO_FLOW_EXPR_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "settings.h"

typedef struct flow_expr_options {
	const char *sandbox_exe; /* a program that calls flow_expr_sandbox_main (e.g. "/proc/self/exe") */
	unsigned processes;      /* 0: 2 */
	unsigned timeout_ms;     /* per evaluation; 0: 1000 */
	unsigned memory_mb;      /* address space of a sandbox process; 0: 512 (not set under ASan) */
	int lazy;                /* 1: the processes start at the first evaluation (flow_expr_start only
	                          * records the options), and a failure to start is that call's error */
} flow_expr_options;

/* The argument a sandbox process is started with: flow_expr_sandbox_main runs when argv[1] is it. */
#define FLOW_EXPR_SANDBOX_ARG "__flow-expr-sandbox"

/* The options of the gateway's and the worker's pool, from the environment: sandbox_exe
 * "/proc/self/exe", PORTICO_FLOW_EXPR_PROCESSES (2, 1 to 64), PORTICO_FLOW_EXPR_TIMEOUT_MS (1000,
 * 100 to 60000: a first evaluation includes compiling, some 35 ms) and PORTICO_FLOW_EXPR_MEMORY_MB (512, 64 to 65536).
 * -1 with err naming a bad one. */
int flow_expr_options_from_env(flow_expr_options *options, portico_error *err);
/* Their --help lines (settings.h). */
extern const portico_setting_help flow_expr_settings[];

/* Starts the sandbox pool (once per process; later calls return 0). -1 with err if it cannot. */
int flow_expr_start(const flow_expr_options *options, portico_error *err);
/* Stops the pool (kills the processes); evaluation falls back to in-process. Also frees the
 * programs compiled in-process so far: a test calls it at its end, as LSan cannot see that libjq
 * still holds a cached program's stack (by a pointer one past its end). */
void flow_expr_stop(void);

/* The main of a sandbox process (stdin/stdout carry the requests): the gateway's and the
 * worker's main() call it when argv[1] is FLOW_EXPR_SANDBOX_ARG. Returns the exit status. */
int flow_expr_sandbox_main(void);

/* True when s is a runtime expression: a string that begins "${" and ends "}" (after trimming
 * blanks). */
int flow_expr_is(const char *s);

/* Compiles the expression s (with or without its ${ }) with the deterministic builtins and the
 * variable names of flow_expr_eval. Returns 0, or -1 with err (INVALID_ARGUMENT) saying what jq
 * said, e.g. "syntax error, unexpected INVALID_CHARACTER at line 1". */
int flow_expr_check(const char *s, portico_error *err);

/* flow_expr_check for an expression that also sees the variables names (a NULL-terminated list,
 * may be NULL), e.g. a `for` task's "item" and "index", a `catch`'s "error": jq refuses a $name
 * that nothing binds. */
int flow_expr_check_names(const char *s, const char *const *names, portico_error *err);

/* flow_expr_check_names for count expressions that all see names, as one compile where it can:
 * jq 1.6 spends some 35 ms binding its builtins for every program it compiles, so a definition's
 * expressions are compiled together (those whose brackets balance by themselves, and so cannot
 * reach one another), and one by one only when that fails. Returns 0, or -1 with err for the
 * first expression that fails, and its index in *failed (may be NULL). */
int flow_expr_check_all(const char *const *expressions, size_t count, const char *const *names, size_t *failed,
                        portico_error *err);

/* Evaluates the expression s (with or without its ${ }) on data (the `.`), with vars (an object,
 * may be NULL) bound as jq variables: {"context": …, "input": …, "workflow": …, "task": …,
 * "runtime": …, "__now": <seconds>} become $context, $input, … as the spec names them. The
 * expression must give one value: none gives null, more than one is an error. Returns a new
 * reference, or NULL with err: INVALID_ARGUMENT when the program fails (jq's error message, e.g.
 * "null (null) and number (1) cannot be added"), DEADLINE_EXCEEDED past the time limit,
 * RESOURCE_EXHAUSTED past the memory limit or when the sandbox died. */
json_t *flow_expr_eval(const char *s, const json_t *data, const json_t *vars, portico_error *err);

/* A copy of value with every string that is a runtime expression (flow_expr_is) replaced by its
 * value, in objects and arrays at any depth (keys are not evaluated): the spec's rule for `with`,
 * `set`, `output.as` objects and the like. New reference, or NULL with err as flow_expr_eval. */
json_t *flow_expr_eval_tree(const json_t *value, const json_t *data, const json_t *vars, portico_error *err);

#endif
