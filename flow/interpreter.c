/* The flow interpreter (interpreter.h): a flow's tasks run one by one on the workflow API. This
 * file holds the run (input, data flow, output, failure as a problem, compensation, the flow.state
 * query) and the plainer task kinds (do, set, switch, raise, wait, for, run). try and fork are in
 * control.c, calls in calls.c, events (listen, emit) in events.c; run.h is what they share.
 *
 * Every task goes through run_task, which applies the spec's data flow around the kind's own
 * work: `if` on the raw input, input.from, the task (with its timeout), output.as, export.as into
 * $context, then the compensation push. A task list (run_list) follows `then`. */
#include "interpreter.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "codec.h"
#include "crypto.h"
#include "expr.h"
#include "temporal/api/enums/v1/workflow.pb-c.h"
#include "json_depth.h"
#include "json_text.h"
#include "run.h"
#include "schema.h"

/* How much deeper than its data the resume state nests ({"frames": [{"items": [data]}]}, events'
 * {"envelope": {"data": …}}) */
#define RESUME_LEVELS 4
/* The next run's input after continue-as-new, within Temporal's payload limit (with room for the
 * payload's metadata) */
#define FLOW_RUN_MAX_RESUME_BYTES (PORTICO_DEFAULT_MAX_PAYLOAD_BYTES - 64u * 1024)

/* ---- Problems ------------------------------------------------------------------------------------ */

int flow_raise(flow_ctx *ctx, const char *kind, int status, const char *instance, const char *title, const char *format,
               ...)
{
	char detail[1024]; /* a problem is read by people: longer details are cut */
	if (!*instance)    /* the document itself */
		instance = "/";
	va_list ap;
	va_start(ap, format);
	int length = vsnprintf(detail, sizeof detail, format, ap);
	va_end(ap);
	if (length >= (int)sizeof detail) {
		/* cut before a character the buffer split, or jansson would refuse the text */
		size_t end = sizeof detail - 1, lead = end;
		while (lead > 0 && ((unsigned char)detail[lead - 1] & 0xC0) == 0x80)
			lead--;
		if (lead > 0 && ((unsigned char)detail[lead - 1] & 0xC0) == 0xC0) {
			unsigned char c = (unsigned char)detail[lead - 1];
			size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			if (end - (lead - 1) < need)
				detail[lead - 1] = '\0';
		}
	}
	json_decref(ctx->problem);
	ctx->problem = json_pack("{s:s+,s:i,s:s,s:s,s:s}", "type", FLOW_ERRORS, kind, "status", status, "instance",
	                         instance, "title", title, "detail", detail);
	if (!ctx->problem) /* a title or instance that is not UTF-8 text: the problem still says what failed */
		ctx->problem = json_pack("{s:s+,s:i,s:s,s:s,s:s}", "type", FLOW_ERRORS, kind, "status", status,
		                         "instance", "/", "title", "Error", "detail", "the error's text is not UTF-8");
	return FLOW_RAISE;
}

int flow_raise_config(flow_ctx *ctx, const char *path, const char *format, const char *what)
{
	return flow_raise(ctx, "configuration", 400, path, "Configuration Error", format, what);
}

/* Ends the run with problem (borrowed) as an ApplicationFailure: type the problem's, message
 * "title: detail", not retryable, the problem its one detail. */
static int fail_with_problem(portico_workflow *wf, json_t *problem)
{
	const char *type = json_string_value(json_object_get(problem, "type"));
	const char *title = json_string_value(json_object_get(problem, "title"));
	const char *detail = json_string_value(json_object_get(problem, "detail"));
	return portico_workflow_fail_with(
	        wf, portico_workflow_failure_new(type ? type : FLOW_ERRORS "runtime", 1, json_pack("[O]", problem),
	                                         "%s: %s", title ? title : "Error", detail ? detail : ""));
}

int flow_check_depth(flow_ctx *ctx, const char *instance, const json_t *value, const char *what)
{
	if (!flow_json_deeper_than(value, FLOW_MAX_DATA_DEPTH))
		return FLOW_OK;
	return flow_raise(ctx, "validation", 400, instance, "Validation Error", "%s nests deeper than %d levels", what,
	                  FLOW_MAX_DATA_DEPTH);
}

int flow_wait_status(int outcome)
{
	return outcome == PORTICO_WAIT_EVICTED ? FLOW_EVICT : FLOW_CANCEL;
}

/* ---- Scopes --------------------------------------------------------------------------------------- */

int flow_scope_cancelled(const flow_scope *scope)
{
	for (; scope; scope = scope->parent)
		if (scope->cancelled)
			return 1;
	return 0;
}

portico_workflow_scope *flow_ctx_scope(const flow_ctx *ctx)
{
	return ctx->scope ? ctx->scope->scope : NULL;
}

flow_scope *flow_scope_new(flow_run *run, flow_scope *parent)
{
	flow_scope *s = portico_calloc(1, sizeof *s);
	s->scope = portico_workflow_scope_new(run->wf);
	s->parent = parent;
	s->next = run->scopes;
	run->scopes = s;
	if (flow_scope_cancelled(parent)) {
		s->cancelled = 1;
		portico_workflow_scope_cancel(s->scope);
	}
	return s;
}

void flow_scope_free(flow_run *run, flow_scope *scope)
{
	for (flow_scope **p = &run->scopes; *p; p = &(*p)->next)
		if (*p == scope) {
			*p = scope->next;
			break;
		}
	portico_workflow_scope_free(scope->scope);
	free(scope);
}

/* Cancels scope and every scope made under it: what they run stops with PORTICO_WAIT_CANCELED. */
void flow_scope_cancel(flow_run *run, flow_scope *scope)
{
	for (flow_scope *s = run->scopes; s; s = s->next) {
		const flow_scope *a = s;
		while (a && a != scope)
			a = a->parent;
		if (a && !s->cancelled) {
			s->cancelled = 1;
			portico_workflow_scope_cancel(s->scope);
		}
	}
}

/* ---- Expressions ------------------------------------------------------------------------------------ */

static json_t *date_time(int64_t ms)
{
	time_t seconds = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&seconds, &tm);
	char text[64];
	snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_pack("{s:s,s:{s:I,s:I}}", "iso8601", text, "epoch", "seconds", (json_int_t)(ms / 1000),
	                 "milliseconds", (json_int_t)ms);
}

/* $workflow and $task are large (they hold definitions) and every evaluation sends its variables
 * to a sandbox process: they are bound only for the expressions that name them (an unbound one is
 * null, never named). */
enum { USES_WORKFLOW = 1, USES_TASK = 2 };

static unsigned uses_of(const char *expr)
{
	return (strstr(expr, "$workflow") ? USES_WORKFLOW : 0) | (strstr(expr, "$task") ? USES_TASK : 0);
}

static unsigned tree_uses(const json_t *value)
{
	const char *key;
	json_t *member;
	size_t i;
	unsigned uses = 0;
	if (json_is_string(value))
		uses = uses_of(json_string_value(value));
	else if (json_is_object(value))
		json_object_foreach((json_t *)value, key, member) uses |= tree_uses(member);
	else if (json_is_array(value))
		json_array_foreach(value, i, member) uses |= tree_uses(member);
	return uses;
}

/* The variables of an expression evaluated for t (NULL: outside any task): the spec's arguments
 * (those of uses), the ctx's locals, and the workflow's time for `now`. New reference. */
static json_t *variables(const flow_ctx *ctx, const flow_task *t, unsigned uses)
{
	flow_run *run = ctx->run;
	json_t *vars = json_pack("{s:O*,s:O*,s:O,s:f}", "context", run->context, "input",
	                         t && t->input ? t->input : run->input, "runtime", run->runtime, "__now",
	                         (double)portico_workflow_now_ms(run->wf) / 1000.0);
	if (uses & USES_WORKFLOW)
		json_object_set(vars, "workflow", run->workflow);
	if (t && (uses & USES_TASK))
		json_object_set_new(vars, "task",
		                    json_pack("{s:s,s:s,s:O,s:O,s:O*,s:o}", "name", t->name, "reference", t->path,
		                              "definition", t->def, "input", t->raw_input ? t->raw_input : json_null(),
		                              "output", t->raw_output, "startedAt", date_time(t->started_ms)));
	if (ctx->locals)
		json_object_update(vars, ctx->locals);
	return vars;
}

static int expression_failed(flow_ctx *ctx, const flow_task *t, const char *expr, portico_error *err)
{
	if (err->code != PORTICO_INVALID_ARGUMENT) {
		/* A time or memory limit of this worker's sandbox (or a sandbox gone) says nothing about the
		 * flow and may not happen on a replay: were it a flow error, a try could take it and a
		 * replay another path. The workflow task fails instead and Temporal retries it. */
		portico_workflow_fail_task(ctx->run->wf, "%s: %s", expr, err->message ? err->message : "failed");
		ctx->run->task_failed = 1;
	}
	flow_raise(ctx, "expression", 400, t ? t->path : "/", "Expression Error", "%s: %s", expr,
	           err->message ? err->message : "failed");
	portico_error_clear(err);
	return FLOW_RAISE;
}

json_t *flow_eval(flow_ctx *ctx, const flow_task *t, const char *expr, const json_t *data)
{
	json_t *vars = variables(ctx, t, uses_of(expr));
	portico_error err = PORTICO_ERROR_INIT;
	json_t *value = flow_expr_eval(expr, data, vars, &err);
	json_decref(vars);
	if (!value)
		expression_failed(ctx, t, expr, &err);
	return value;
}

static int has_expression(const json_t *value)
{
	if (json_is_string(value))
		return flow_expr_is(json_string_value(value));
	const char *key;
	json_t *member;
	size_t i;
	if (json_is_object(value)) {
		json_object_foreach((json_t *)value, key, member) if (has_expression(member)) return 1;
	} else if (json_is_array(value)) {
		json_array_foreach(value, i, member) if (has_expression(member)) return 1;
	}
	return 0;
}

json_t *flow_eval_tree(flow_ctx *ctx, const flow_task *t, const json_t *value, const json_t *data)
{
	/* Most of a definition is literal: no evaluation (and no trip to a sandbox) for it. */
	if (!has_expression(value))
		return json_incref((json_t *)value);
	json_t *vars = variables(ctx, t, tree_uses(value));
	portico_error err = PORTICO_ERROR_INIT;
	json_t *result = flow_expr_eval_tree(value, data, vars, &err);
	json_decref(vars);
	if (!result)
		expression_failed(ctx, t, json_is_string(value) ? json_string_value(value) : "(object)", &err);
	return result;
}

/* A `from`/`as` transformation: a string is an expression, anything else a tree with expressions
 * in it; absent, data itself. New reference, or NULL with ctx's problem. */
static json_t *transform(flow_ctx *ctx, const flow_task *t, const json_t *how, json_t *data)
{
	if (!how)
		return json_incref(data);
	if (json_is_string(how))
		return flow_eval(ctx, t, json_string_value(how), data);
	return flow_eval_tree(ctx, t, how, data);
}

/* Validates value against holder's schema (holder: an input, output or export object; no schema,
 * nothing to check). FLOW_OK, or FLOW_RAISE with a validation error at instance. */
static int check_schema(flow_ctx *ctx, const json_t *holder, const json_t *value, const char *what,
                        const char *instance)
{
	const json_t *schema = json_object_get(json_object_get(holder, "schema"), "document");
	portico_error err = PORTICO_ERROR_INIT;
	if (!schema || !flow_schema_validate(schema, value, what, &err))
		return FLOW_OK;
	flow_raise(ctx, "validation", 400, instance, "Validation Error", "%s", err.message ? err.message : what);
	portico_error_clear(&err);
	return FLOW_RAISE;
}

/* A condition (if, when, while…): an expression whose value counts as true unless false or null. */
int flow_condition(flow_ctx *ctx, const flow_task *t, const json_t *expr, const json_t *data, int *truth)
{
	if (json_is_boolean(expr)) {
		*truth = json_is_true(expr);
		return FLOW_OK;
	}
	if (!json_is_string(expr))
		return flow_raise_config(ctx, t->path, "%s: a condition must be a runtime expression", "condition");
	json_t *value = flow_eval(ctx, t, json_string_value(expr), data);
	if (!value)
		return FLOW_RAISE;
	*truth = !json_is_false(value) && !json_is_null(value);
	json_decref(value);
	return FLOW_OK;
}

/* ---- Durations --------------------------------------------------------------------------------- */

int flow_duration(flow_ctx *ctx, const flow_task *t, const json_t *value, const char *what, int64_t *ms)
{
	json_t *owned = NULL;
	if (json_is_string(value) && flow_expr_is(json_string_value(value))) {
		owned = flow_eval(ctx, t, json_string_value(value), t->input);
		if (!owned)
			return -1;
		value = owned;
	}
	/* the validator's reading, so that what loads runs (weeks included) */
	int64_t parsed = flow_duration_ms(value);
	int ok = parsed >= 0;
	if (ok)
		*ms = parsed;
	json_decref(owned);
	if (!ok) {
		flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		           "%s: expected an ISO 8601 duration (PnWnDTnHnMnS) or {days, hours, minutes, seconds, "
		           "milliseconds} of at most a century",
		           what);
		return -1;
	}
	return 0;
}

/* ---- The flow.state query ------------------------------------------------------------------------- */

static void set_running(flow_run *run, const char *path, json_t *data)
{
	free(run->task);
	run->task = portico_strdup(path);
	json_decref(run->data);
	run->data = json_incref(data);
}

/* The task a strand (the main one, or a fork branch) runs now, for flow.state's "running". */
static void set_strand_task(flow_ctx *ctx, const char *path)
{
	char key[16];
	snprintf(key, sizeof key, "%u", ctx->strand);
	json_object_set_new(ctx->run->running, key, json_string(path));
}

void flow_strand_end(flow_run *run, unsigned strand)
{
	char key[16];
	snprintf(key, sizeof key, "%u", strand);
	json_object_del(run->running, key);
}

/* The longest path (whole segments) that begins every path of running. Caller frees. */
static char *common_path(const json_t *running)
{
	const char *key, *first = NULL;
	json_t *path;
	size_t length = 0;
	json_object_foreach((json_t *)running, key, path)
	{
		const char *p = json_string_value(path);
		if (!first) {
			first = p;
			length = strlen(p);
			continue;
		}
		size_t n = 0;
		while (n < length && p[n] == first[n])
			n++;
		if (n < length && !(p[n] == '\0' && first[n] == '/')) /* cut back to a segment's end */
			while (n > 0 && first[n] != '/')
				n--;
		length = n;
	}
	return portico_sprintf("%.*s", (int)length, first ? first : "");
}

static int query_state(portico_workflow *wf, json_t *args, json_t **result, char **error, void *arg)
{
	(void)wf;
	(void)args;
	(void)error;
	flow_run *run = arg;
	if (json_object_size(run->running) < 2) {
		*result = json_pack("{s:s?,s:O*,s:O*}", "task", run->task, "data", run->data, "context", run->context);
		return 0;
	}
	/* branches run at once: the task is the fork they have in common, running says where each is */
	char *task = common_path(run->running);
	json_t *running = json_array();
	const char *key;
	json_t *path;
	json_object_foreach(run->running, key, path)
	{
		/* a task waiting for its branches (the fork) is not listed: they are */
		const char *p = json_string_value(path), *other_key;
		json_t *other;
		size_t n = strlen(p);
		int waits = 0;
		json_object_foreach(run->running, other_key, other) waits |=
		        !strncmp(json_string_value(other), p, n) && json_string_value(other)[n] == '/';
		if (!waits)
			json_array_append(running, path);
	}
	*result = json_pack("{s:s,s:o,s:O*,s:O*}", "task", task, "running", running, "data", run->data, "context",
	                    run->context);
	free(task);
	return 0;
}

/* ---- Task kinds that arrange other tasks ----------------------------------------------------------- */

typedef int (*task_fn)(flow_ctx *ctx, flow_task *t, json_t **output, const char **then);

/* The path of a member of t's definition: "<t>/<member>". Caller frees. */
char *flow_member_path(const flow_task *t, const char *member)
{
	return portico_sprintf("%s/%s", t->path, member);
}

static int task_do(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	char *path = flow_member_path(t, "do");
	int rc = flow_run_list(ctx, json_object_get(t->def, "do"), path, t->input, output);
	free(path);
	return rc;
}

static int task_set(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	const json_t *set = json_object_get(t->def, "set");
	*output = json_is_string(set) ? flow_eval(ctx, t, json_string_value(set), t->input)
	                              : flow_eval_tree(ctx, t, set, t->input);
	return *output ? FLOW_OK : FLOW_RAISE;
}

/* The first case whose `when` holds (or the default case, without one) gives the flow directive;
 * the output is the input. */
static int task_switch(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	const json_t *cases = json_object_get(t->def, "switch");
	if (!json_is_array(cases))
		return flow_raise_config(ctx, t->path, "%s: expected a list of cases", "switch");
	const json_t *fallback = NULL, *chosen = NULL;
	for (size_t i = 0; i < json_array_size(cases) && !chosen; i++) {
		const json_t *entry = json_array_get(cases, i);
		const char *name;
		json_t *c = NULL;
		if (json_is_object(entry) && json_object_size(entry) == 1)
			json_object_foreach((json_t *)entry, name, c) break;
		if (!json_is_object(c))
			return flow_raise_config(ctx, t->path, "%s: expected {name: {when, then}}", "switch case");
		const json_t *when = json_object_get(c, "when");
		if (!when) {
			fallback = c;
			continue;
		}
		int truth;
		if (flow_condition(ctx, t, when, t->input, &truth))
			return FLOW_RAISE;
		if (truth)
			chosen = c;
	}
	if (!chosen)
		chosen = fallback;
	if (chosen)
		*then = json_string_value(json_object_get(chosen, "then"));
	*output = json_incref(t->input);
	return FLOW_OK;
}

/* The error of raise: inline, or a name in use.errors; its fields may be expressions; instance
 * defaults to the task's path. */
static int task_raise(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)output;
	(void)then;
	const json_t *error = json_object_get(json_object_get(t->def, "raise"), "error");
	if (json_is_string(error)) {
		const char *name = json_string_value(error);
		error = json_object_get(json_object_get(json_object_get(ctx->run->definition, "use"), "errors"), name);
		if (!error)
			return flow_raise_config(ctx, t->path, "raise: no error \"%s\" in use.errors", name);
	}
	if (!json_is_object(error))
		return flow_raise_config(ctx, t->path, "%s: expected an error {type, status, title, detail}",
		                         "raise.error");
	json_t *e = flow_eval_tree(ctx, t, error, t->input);
	if (!e)
		return FLOW_RAISE;
	json_t *problem = json_pack("{s:O*,s:O*,s:O*,s:O*,s:O*}", "type", json_object_get(e, "type"), "status",
	                            json_object_get(e, "status"), "title", json_object_get(e, "title"), "detail",
	                            json_object_get(e, "detail"), "instance", json_object_get(e, "instance"));
	json_decref(e);
	if (!json_is_string(json_object_get(problem, "type")) || !json_is_integer(json_object_get(problem, "status"))) {
		json_decref(problem);
		return flow_raise_config(ctx, t->path, "%s: an error needs a string type and an integer status",
		                         "raise");
	}
	if (!json_object_get(problem, "instance"))
		json_object_set_new(problem, "instance", json_string(t->path));
	json_decref(ctx->problem);
	ctx->problem = problem;
	return FLOW_RAISE;
}

/* Sleeps ms on a durable timer in ctx's scope. */
int flow_sleep(flow_ctx *ctx, int64_t ms)
{
	if (ms <= 0)
		return FLOW_OK;
	ctx->run->calls++;
	portico_workflow_future *timer = portico_workflow_timer_start(ctx->run->wf, ms, flow_ctx_scope(ctx));
	int r = portico_workflow_await(ctx->run->wf, timer, NULL, NULL);
	return r == PORTICO_WAIT_DONE ? FLOW_OK : flow_wait_status(r);
}

static int task_wait(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	int64_t ms;
	if (flow_duration(ctx, t, json_object_get(t->def, "wait"), "wait", &ms))
		return FLOW_RAISE;
	int rc = flow_sleep(ctx, ms);
	if (rc == FLOW_OK)
		*output = json_incref(t->input);
	return rc;
}

/* ---- for ------------------------------------------------------------------------------------------- */

/* Builds the continue-as-new frame of a for loop about to run items[i] (the index offset + i):
 * only the items still to run are carried, or every new run would carry the whole array. */
static json_t *for_frame(const char *path, const json_t *items, size_t offset, size_t i, json_t *data,
                         const flow_task *t)
{
	json_t *remaining = json_array();
	for (size_t k = i; k < json_array_size(items); k++)
		json_array_append(remaining, json_array_get(items, k));
	return json_pack("{s:s,s:o,s:I,s:O,s:O}", "for", path, "items", remaining, "next", (json_int_t)(offset + i),
	                 "data", data, "input", t->input);
}

/* Iterates over for.in (an array, or an object's values), the body's output threading through
 * the iterations (the first gets the task's input, the task's output is the last one's). A long
 * loop continues as new at an iteration boundary when nothing but do and for tasks enclose it,
 * carrying its position in "resume". */
static int task_for(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	const json_t *spec = json_object_get(t->def, "for");
	const char *each = json_string_value(json_object_get(spec, "each"));
	const char *at = json_string_value(json_object_get(spec, "at"));
	const json_t *in = json_object_get(spec, "in");
	const json_t *loop_while = json_object_get(t->def, "while");
	if (!json_is_string(in))
		return flow_raise_config(ctx, t->path, "%s: expected a runtime expression", "for.in");
	json_t *items;
	json_t *data;
	size_t offset = 0; /* the index of items[0]: a new run carries only the items left */
	json_t *resume = ctx->run->resume;
	const json_t *frame = json_array_get(json_object_get(resume, "frames"), 0);
	if (frame && !strcmp(json_string_value(json_object_get(frame, "for")) ?: "", t->path)) {
		/* coming back after continue-as-new: where the last run left off */
		items = json_incref(json_object_get(frame, "items"));
		data = json_incref(json_object_get(frame, "data"));
		offset = (size_t)json_integer_value(json_object_get(frame, "next"));
		json_array_remove(json_object_get(resume, "frames"), 0);
	} else {
		items = flow_eval(ctx, t, json_string_value(in), t->input);
		if (!items)
			return FLOW_RAISE;
		if (json_is_object(items)) {
			json_t *values = json_array();
			const char *key;
			json_t *value;
			json_object_foreach(items, key, value) json_array_append(values, value);
			json_decref(items);
			items = values;
		}
		if (!json_is_array(items) && !json_is_null(items)) {
			json_decref(items);
			return flow_raise(ctx, "expression", 400, t->path, "Expression Error",
			                  "for.in: expected an array or an object to iterate over");
		}
		data = json_incref(t->input);
	}
	char *path = flow_member_path(t, "do");
	json_t *saved_locals = ctx->locals;
	int rc = FLOW_OK;
	for (size_t i = 0; i < json_array_size(items); i++) {
		if (i > 0 && ctx->can_resume &&
		    (ctx->run->iterations >= FLOW_RUN_CAN_ITERATIONS || ctx->run->calls >= FLOW_RUN_CAN_CALLS)) {
			/* a new run goes on from here: the frames are built on the way up */
			json_array_insert_new(json_object_get(ctx->run->resume, "frames"), 0,
			                      for_frame(t->path, items, offset, i, data, t));
			rc = FLOW_CONTINUE_AS_NEW;
			break;
		}
		if (!ctx->can_resume && ctx->run->iterations >= FLOW_RUN_MAX_ITERATIONS) {
			/* inside a try, a fork or a timeout the run cannot start afresh: its history would grow
			 * until Temporal ends it, so the loop stops here with a clear error */
			rc = flow_raise(
			        ctx, "runtime", 500, t->path, "Runtime Error",
			        "for: more than %d iterations in one run inside a try, a fork or a timeout, where "
			        "it cannot continue as new",
			        FLOW_RUN_MAX_ITERATIONS);
			break;
		}
		ctx->locals = saved_locals ? json_copy(saved_locals) : json_object();
		json_object_set(ctx->locals, each ? each : "item", json_array_get(items, i));
		json_object_set_new(ctx->locals, at ? at : "index", json_integer((json_int_t)(offset + i)));
		int go_on = 1;
		if (loop_while) {
			rc = flow_condition(ctx, t, loop_while, data, &go_on);
			if (rc != FLOW_OK || !go_on) {
				json_decref(ctx->locals);
				ctx->locals = saved_locals;
				break;
			}
		}
		json_t *out = NULL;
		ctx->run->iterations++;
		rc = flow_run_list(ctx, json_object_get(t->def, "do"), path, data, &out);
		json_decref(ctx->locals);
		ctx->locals = saved_locals;
		if (rc == FLOW_CONTINUE_AS_NEW)
			json_array_insert_new(json_object_get(ctx->run->resume, "frames"), 0,
			                      for_frame(t->path, items, offset, i, data, t));
		if (rc == FLOW_OK || rc == FLOW_END) {
			json_decref(data);
			data = out;
		}
		if (rc != FLOW_OK)
			break;
	}
	free(path);
	json_decref(items);
	if (rc == FLOW_OK || rc == FLOW_END)
		*output = data;
	else
		json_decref(data);
	return rc;
}

/* ---- run: workflow ------------------------------------------------------------------------------------ */

typedef struct child_lookup {
	const flow_catalog *catalog;
	const char *ns, *name, *version;
} child_lookup;

static json_t *find_child(void *arg)
{
	child_lookup *l = arg;
	const json_t *document = l->catalog ? flow_catalog_find(l->catalog, l->ns, l->name, l->version) : NULL;
	return document ? json_deep_copy(document) : NULL;
}

/* Runs a flow of the catalog as a child workflow (type: its name) with the input, and waits for
 * its output. The lookup is a side effect, so a replay uses the definition the first run found. */
static int task_run(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	const json_t *run = json_object_get(t->def, "run");
	const json_t *spec = json_object_get(run, "workflow");
	if (!json_is_object(spec))
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                  "run: only run.workflow is supported (containers, scripts and shells are not)");
	child_lookup lookup = {ctx->run->catalog, json_string_value(json_object_get(spec, "namespace")),
	                       json_string_value(json_object_get(spec, "name")),
	                       json_string_value(json_object_get(spec, "version"))};
	if (!lookup.name)
		return flow_raise_config(ctx, t->path, "%s: expected a name", "run.workflow");
	ctx->run->calls++;
	json_t *definition = portico_workflow_side_effect(ctx->run->wf, find_child, &lookup);
	if (!json_is_object(definition)) {
		json_decref(definition);
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                  "run.workflow: no flow \"%s\" in the catalog", lookup.name);
	}
	json_t *input = json_object_get(spec, "input")
	                        ? flow_eval_tree(ctx, t, json_object_get(spec, "input"), t->input)
	                        : json_incref(t->input);
	if (!input) {
		json_decref(definition);
		return FLOW_RAISE;
	}
	json_t *args = json_pack("[{s:o,s:o}]", "definition", definition, "input", input);
	int detached = json_is_false(json_object_get(run, "await"));
	/* The runtime's "<id>-child-<n>" starts again at 1 in every run after continue-as-new, where a
	 * child still running would have the id: the run's place in the chain is in the id. */
	flow_run *self = ctx->run;
	char *child_id = self->continued
	                         ? portico_sprintf("%s-%u-child-%u", portico_workflow_get_info(self->wf)->workflow_id,
	                                           self->continued, ++self->children)
	                         : portico_sprintf("%s-child-%u", portico_workflow_get_info(self->wf)->workflow_id,
	                                           ++self->children);
	/* await: false: the child outlives this run (Temporal's default terminates it) */
	const portico_workflow_child_options options = {
	        .workflow_id = child_id,
	        .scope = flow_ctx_scope(ctx),
	        .parent_close_policy =
	                detached ? TEMPORAL__API__ENUMS__V1__PARENT_CLOSE_POLICY__PARENT_CLOSE_POLICY_ABANDON : 0};
	ctx->run->calls++;
	portico_workflow_failure *failure = NULL;
	int r;
	if (detached) { /* await: false: started is enough, the output is the input */
		portico_workflow_future *f = portico_workflow_child_start(ctx->run->wf, lookup.name, args, &options);
		r = portico_workflow_child_started(ctx->run->wf, f, NULL);
		if (r == PORTICO_WAIT_DONE)
			*output = json_incref(t->input);
	} else {
		r = portico_workflow_child(ctx->run->wf, lookup.name, args, &options, output, &failure);
	}
	json_decref(args);
	free(child_id);
	if (r == PORTICO_WAIT_DONE && !detached && flow_check_depth(ctx, t->path, *output, "the child's result")) {
		json_decref(*output);
		*output = NULL;
		return FLOW_RAISE;
	}
	if (r == PORTICO_WAIT_DONE)
		return FLOW_OK;
	if (r != PORTICO_WAIT_FAILED)
		return flow_wait_status(r);
	/* a child flow's failure carries its problem: it becomes this one's, else a runtime error */
	const portico_workflow_failure *root = failure ? portico_workflow_failure_root(failure) : NULL;
	json_t *problem = root && root->details ? json_array_get(root->details, 0) : NULL;
	int rc;
	if (json_is_object(problem) && json_is_string(json_object_get(problem, "type")) &&
	    !flow_json_deeper_than(problem, FLOW_MAX_DATA_DEPTH)) {
		json_decref(ctx->problem);
		ctx->problem = json_incref(problem);
		rc = FLOW_RAISE;
	} else {
		rc = flow_raise(ctx, "runtime", 500, t->path, "Child Flow Failed", "%s: %s", lookup.name,
		                root && root->message ? root->message : "failed");
	}
	portico_workflow_failure_free(failure);
	return rc;
}

/* ---- One task ------------------------------------------------------------------------------------------ */

static const struct {
	const char *key;
	task_fn fn;
} kinds[] = {
        /* for and try before do: a for task has a `do` too, so does a catch */
        {"call", flow_task_call},     {"fork", flow_task_fork}, {"emit", flow_task_emit}, {"for", task_for},
        {"listen", flow_task_listen}, {"raise", task_raise},    {"run", task_run},        {"set", task_set},
        {"switch", task_switch},      {"try", flow_task_try},   {"wait", task_wait},      {"do", task_do},
};

int flow_run_kind(flow_ctx *ctx, flow_task *t, const json_t *def, json_t **output, const char **then)
{
	const json_t *saved = t->def;
	t->def = def;
	int rc = -1;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && rc < 0; i++)
		if (json_object_get(def, kinds[i].key))
			rc = kinds[i].fn(ctx, t, output, then);
	t->def = saved;
	if (rc < 0)
		return flow_raise_config(ctx, t->path,
		                         "%s: not a task Portico runs (call, do, emit, for, fork, listen, raise, "
		                         "run, set, switch, try, wait)",
		                         "task");
	return rc;
}

/* A task with `timeout` runs on a coroutine in a scope of its own, while this one waits for it
 * with a durable timeout: when that runs out the scope is cancelled, the task unwinds, and the
 * timeout error is raised. The task's state is a heap copy, as the coroutine may outlive this
 * frame (an eviction). */
typedef struct timed {
	flow_ctx ctx;
	flow_task task;
	json_t *output;
	const char *then;
	int rc, done;
} timed;

static void timed_main(portico_workflow *wf, void *arg)
{
	(void)wf;
	timed *b = arg;
	b->rc = flow_run_kind(&b->ctx, &b->task, b->task.def, &b->output, &b->then);
	b->ctx.run->coroutines--;
	b->done = 1;
}

static int timed_done(void *arg)
{
	return ((timed *)arg)->done;
}

static void timed_free(void *arg)
{
	timed *b = arg;
	free(b->task.updates); /* the events themselves are the run's */
	free(b->task.path);
	json_decref(b->task.raw_input);
	json_decref(b->task.input);
	json_decref(b->output);
	json_decref(b->ctx.locals);
	json_decref(b->ctx.problem);
	free(b);
}

static int run_timed(flow_ctx *ctx, flow_task *t, int64_t ms, json_t **output, const char **then)
{
	if (ctx->run->coroutines >= FLOW_RUN_MAX_COROUTINES)
		return flow_raise(ctx, "runtime", 500, t->path, "Runtime Error",
		                  "timeout: more than %d tasks with timeouts or branches running at once",
		                  FLOW_RUN_MAX_COROUTINES);
	timed *b = portico_calloc(1, sizeof *b);
	b->ctx = (flow_ctx){.run = ctx->run,
	                    .scope = flow_scope_new(ctx->run, ctx->scope),
	                    .locals = json_incref(ctx->locals),
	                    .depth = ctx->depth,
	                    .strand = ctx->strand}; /* the waiting strand goes on in the body */
	b->task = *t;
	b->task.path = portico_strdup(t->path);
	b->task.raw_input = json_incref(t->raw_input);
	b->task.input = json_incref(t->input);
	b->task.updates = NULL;
	b->task.update_count = 0;
	ctx->run->coroutines++;
	portico_workflow_go(ctx->run->wf, timed_main, b);
	int r = portico_workflow_wait_condition(ctx->run->wf, timed_done, b, ms);
	/* The body writes into b until it is done, so b is freed only then. The workflow's
	 * cancellation arriving while the body unwinds cancels this wait, not the body's need of b:
	 * keep waiting (the cancellation reaches the body too), and the task ends cancelled. */
	while (r != PORTICO_WAIT_EVICTED && !b->done) {
		flow_scope_cancel(ctx->run, b->ctx.scope);
		int r2 = portico_workflow_wait_condition(ctx->run->wf, timed_done, b, -1);
		if (r2 == PORTICO_WAIT_EVICTED || r2 == PORTICO_WAIT_CANCELED)
			r = r2;
	}
	if (r == PORTICO_WAIT_EVICTED) {
		portico_workflow_on_free(ctx->run->wf, timed_free, b);
		return FLOW_EVICT;
	}
	int rc;
	if (r == PORTICO_WAIT_TIMEOUT && b->rc != FLOW_OK && !portico_workflow_cancel_requested(ctx->run->wf)) {
		rc = flow_raise(ctx, "timeout", 408, t->path, "Timeout", "the task did not finish within %lld ms",
		                (long long)ms);
	} else if (r == PORTICO_WAIT_CANCELED) {
		rc = FLOW_CANCEL;
	} else {
		rc = b->rc;
		*output = b->output;
		b->output = NULL;
		*then = b->then;
		if (rc == FLOW_RAISE) {
			json_decref(ctx->problem);
			ctx->problem = b->ctx.problem;
			b->ctx.problem = NULL;
		}
		/* the updates the task consumed are answered by run_task, with the transformed output */
		t->updates = b->task.updates;
		t->update_count = b->task.update_count;
		b->task.updates = NULL;
		b->task.update_count = 0;
	}
	/* updates a listen of the body took while it timed out or was cancelled: the listen ended */
	flow_events_task_done(ctx->run, &b->task, NULL);
	if (b->rc == FLOW_CANCEL && b->output) { /* a call that completed while cancelled: compensated */
		*output = b->output;
		b->output = NULL;
	}
	flow_scope_free(ctx->run, b->ctx.scope); /* the body is done: nothing runs in it any more */
	timed_free(b);
	return rc;
}

/* The task's own work, within its timeout if it has one. */
static int run_body(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	const json_t *timeout = json_object_get(t->def, "timeout");
	if (!timeout)
		return flow_run_kind(ctx, t, t->def, output, then);
	if (json_is_string(timeout)) {
		const char *name = json_string_value(timeout);
		timeout = json_object_get(json_object_get(json_object_get(ctx->run->definition, "use"), "timeouts"),
		                          name);
		if (!timeout)
			return flow_raise_config(ctx, t->path, "timeout: no timeout \"%s\" in use.timeouts", name);
	}
	int64_t ms;
	if (flow_duration(ctx, t, json_object_get(timeout, "after"), "timeout.after", &ms))
		return FLOW_RAISE;
	if (ms <= 0)
		return flow_raise(ctx, "timeout", 408, t->path, "Timeout", "the task's timeout is 0");
	/* the task runs on another coroutine: a new run could not come back inside it */
	int can_resume = ctx->can_resume;
	ctx->can_resume = 0;
	int rc = run_timed(ctx, t, ms, output, then);
	ctx->can_resume = can_resume;
	return rc;
}

/* Pushes the task's compensation (its x-portico-compensate list) with the task's output as its
 * input: run_compensations runs them newest first. The list is named by the task's path (a new
 * run after continue-as-new carries the path, not a copy of the list). FLOW_OK, or FLOW_RAISE past
 * FLOW_RUN_MAX_COMPENSATIONS pending. */
static int push_compensation(flow_ctx *ctx, const flow_task *t, json_t *output)
{
	if (!json_object_get(t->def, "x-portico-compensate"))
		return FLOW_OK;
	if (json_array_size(ctx->run->compensations) >= FLOW_RUN_MAX_COMPENSATIONS)
		return flow_raise(ctx, "runtime", 500, t->path, "Runtime Error",
		                  "more than %d compensations pending: a loop that pushes one per iteration cannot "
		                  "run this long",
		                  FLOW_RUN_MAX_COMPENSATIONS);
	json_array_append_new(ctx->run->compensations, json_pack("{s:s,s:O}", "task", t->path, "input", output));
	return FLOW_OK;
}

/* The definition at a task path ("/do/1/charge", "/do/0/f/fork/branches/1/b"…) under node, or
 * NULL. A task name may hold "/": every key that matches a prefix is tried. */
static const json_t *task_at(const json_t *node, const char *path)
{
	if (!*path)
		return node;
	if (*path++ != '/')
		return NULL;
	if (json_is_array(node)) {
		char *end;
		unsigned long i = strtoul(path, &end, 10);
		return end != path && (*end == '/' || !*end) ? task_at(json_array_get(node, i), end) : NULL;
	}
	const char *key;
	json_t *member;
	json_object_foreach((json_t *)node, key, member)
	{
		size_t n = strlen(key);
		const json_t *found =
		        !strncmp(path, key, n) && (path[n] == '/' || !path[n]) ? task_at(member, path + n) : NULL;
		if (found)
			return found;
	}
	return NULL;
}

static void task_clear(flow_task *t)
{
	free(t->path);
	json_decref(t->input);
	json_decref(t->raw_output);
	free(t->updates);
}

/* Runs one task with the spec's data flow around it. *then is the flow directive (NULL for
 * continue); *output the transformed output. */
int flow_run_task(flow_ctx *ctx, const char *path, const char *name, const json_t *def, json_t *raw_input,
                  json_t **output, const char **then)
{
	*then = NULL;
	*output = NULL;
	if (!json_is_object(def))
		return flow_raise_config(ctx, path, "%s: expected a task (an object)", "task");
	if (ctx->depth >= FLOW_RUN_MAX_DEPTH)
		return flow_raise(ctx, "runtime", 500, path, "Runtime Error", "tasks nested deeper than %d",
		                  FLOW_RUN_MAX_DEPTH);
	flow_task t = {.name = name,
	               .path = portico_strdup(path),
	               .def = def,
	               .raw_input = raw_input,
	               .started_ms = portico_workflow_now_ms(ctx->run->wf)};
	t.compensated = json_object_get(def, "x-portico-compensate") != NULL;
	set_running(ctx->run, path, raw_input);
	set_strand_task(ctx, path);
	const json_t *resume_frame = json_array_get(json_object_get(ctx->run->resume, "frames"), 0);
	int resuming = resume_frame && !strcmp(json_string_value(json_object_get(resume_frame, "task")) ?: "", path);
	int resuming_for = resume_frame && !strcmp(json_string_value(json_object_get(resume_frame, "for")) ?: "", path);
	int rc = FLOW_OK;
	if (resuming || resuming_for) {
		/* continue-as-new came back into this task: its input is what the last run had */
		t.input = json_incref(json_object_get(resume_frame, "input"));
		if (resuming)
			json_array_remove(json_object_get(ctx->run->resume, "frames"), 0);
	} else {
		const json_t *cond = json_object_get(def, "if");
		int run_it = 1;
		if (cond && (rc = flow_condition(ctx, &t, cond, raw_input, &run_it)) != FLOW_OK)
			goto done;
		if (!run_it) { /* skipped: the raw input is the output */
			*output = json_incref(raw_input);
			goto done;
		}
		if ((rc = check_schema(ctx, json_object_get(def, "input"), raw_input, "input", path)) != FLOW_OK)
			goto done;
		t.input = transform(ctx, &t, json_object_get(json_object_get(def, "input"), "from"), raw_input);
		if (!t.input) {
			rc = FLOW_RAISE;
			goto done;
		}
	}
	ctx->depth++;
	rc = run_body(ctx, &t, &t.raw_output, then);
	ctx->depth--;
	if (rc == FLOW_CONTINUE_AS_NEW && json_object_get(def, "do") && !json_object_get(def, "for"))
		json_array_insert_new(json_object_get(ctx->run->resume, "frames"), 0,
		                      json_pack("{s:s,s:O}", "task", path, "input", t.input));
	if (rc != FLOW_OK && rc != FLOW_END && rc != FLOW_EVICT && t.raw_output && t.compensated) {
		/* cancelled (or timed out) while its call was in flight, and the call completed all the
		 * same: what it did is compensated like a completed task's */
		if (json_array_size(ctx->run->compensations) < FLOW_RUN_MAX_COMPENSATIONS) /* else no room */
			push_compensation(ctx, &t, t.raw_output);
	}
	if (rc == FLOW_END) { /* `then: end` inside: what the inner task gave is the flow's output */
		*output = t.raw_output;
		t.raw_output = NULL;
	}
	if (rc != FLOW_OK)
		goto done;
	*output = transform(ctx, &t, json_object_get(json_object_get(def, "output"), "as"), t.raw_output);
	if (!*output) {
		rc = FLOW_RAISE;
		goto done;
	}
	if ((rc = check_schema(ctx, json_object_get(def, "output"), *output, "output", path)) != FLOW_OK)
		goto done;
	const json_t *export_as = json_object_get(json_object_get(def, "export"), "as");
	if (export_as) {
		/* $output is the transformed output, for export.as only */
		json_t *locals = ctx->locals;
		ctx->locals = locals ? json_copy(locals) : json_object();
		json_object_set(ctx->locals, "output", *output);
		json_t *context = transform(ctx, &t, export_as, *output);
		json_decref(ctx->locals);
		ctx->locals = locals;
		if (!context) {
			rc = FLOW_RAISE;
			goto done;
		}
		json_decref(ctx->run->context);
		ctx->run->context = context;
		if ((rc = check_schema(ctx, json_object_get(def, "export"), context, "context", path)) != FLOW_OK)
			goto done;
	}
	if ((rc = push_compensation(ctx, &t, *output)) != FLOW_OK)
		goto done;
	flow_events_task_done(ctx->run, &t, *output);
	if (!*then)
		*then = json_string_value(json_object_get(def, "then"));
done:
	if (rc != FLOW_OK && rc != FLOW_END) {
		flow_events_task_done(ctx->run, &t, NULL);
		json_decref(*output);
		*output = NULL;
	}
	task_clear(&t);
	return rc;
}

/* Runs a task list ([{name: task}, …]) from its first task (or where a new run resumes), each
 * task's output the next one's input, following `then`. */
int flow_run_list(flow_ctx *ctx, const json_t *list, const char *path, json_t *input, json_t **output)
{
	if (!json_is_array(list))
		return flow_raise_config(ctx, path, "%s: expected a list of tasks", "do");
	size_t i = 0, jumps = 0, count = json_array_size(list);
	json_t *data = json_incref(input);
	const json_t *frame = json_array_get(json_object_get(ctx->run->resume, "frames"), 0);
	if (frame && !strcmp(json_string_value(json_object_get(frame, "list")) ?: "", path)) {
		i = (size_t)json_integer_value(json_object_get(frame, "at"));
		json_array_remove(json_object_get(ctx->run->resume, "frames"), 0);
	}
	int rc = FLOW_OK;
	while (i < count) {
		const json_t *entry = json_array_get(list, i);
		const char *name = NULL;
		json_t *def = NULL;
		if (json_is_object(entry) && json_object_size(entry) == 1)
			json_object_foreach((json_t *)entry, name, def) break;
		char *task_path = portico_sprintf("%s/%zu/%s", path, i, name ? name : "");
		if (!def) {
			rc = flow_raise_config(ctx, task_path, "%s: expected {name: task}", "task list entry");
			free(task_path);
			break;
		}
		json_t *out = NULL;
		const char *then = NULL;
		rc = flow_run_task(ctx, task_path, name, def, data, &out, &then);
		free(task_path);
		if (rc == FLOW_CONTINUE_AS_NEW)
			json_array_insert_new(json_object_get(ctx->run->resume, "frames"), 0,
			                      json_pack("{s:s,s:I}", "list", path, "at", (json_int_t)i));
		if (rc != FLOW_OK) {
			if (rc == FLOW_END) { /* the output goes up to the run */
				json_decref(data);
				data = out;
			}
			break;
		}
		json_decref(data);
		data = out;
		if (!then || !strcmp(then, "continue")) {
			i++;
		} else if (!strcmp(then, "exit")) {
			break;
		} else if (!strcmp(then, "end")) {
			rc = FLOW_END;
			break;
		} else {
			size_t target = count;
			for (size_t j = 0; j < count && target == count; j++)
				if (json_object_get(json_array_get(list, j), then))
					target = j;
			if (target == count || ++jumps > FLOW_RUN_MAX_JUMPS) {
				char *at = portico_sprintf("%s/%zu", path, i);
				rc = flow_raise_config(ctx, at, "then: no task \"%s\" in this list (or too many jumps)",
				                       then);
				free(at);
				break;
			}
			i = target;
		}
	}
	if (rc == FLOW_OK || rc == FLOW_END)
		*output = data;
	else
		json_decref(data);
	return rc;
}

/* ---- The run ---------------------------------------------------------------------------------------------- */

static void run_free(void *arg)
{
	flow_run *run = arg;
	json_decref(run->definition);
	json_decref(run->workflow);
	json_decref(run->runtime);
	json_decref(run->input);
	json_decref(run->context);
	free(run->task);
	json_decref(run->data);
	json_decref(run->compensations);
	json_decref(run->running);
	json_decref(run->resume);
	flow_events_free(run);
	while (run->scopes) {
		flow_scope *next = run->scopes->next;
		free(run->scopes);
		run->scopes = next;
	}
	free(run);
}

/* Runs the compensations pushed so far, newest first, each in a fresh context that a
 * cancellation of the workflow does not reach. One that fails is logged and the others still
 * run: the flow ends with its original outcome either way. */
static int run_compensations(flow_run *run)
{
	size_t n;
	while ((n = json_array_size(run->compensations)) > 0) {
		json_t *c = json_incref(json_array_get(run->compensations, n - 1));
		json_array_remove(run->compensations, n - 1);
		flow_ctx ctx = {.run = run};
		json_t *out = NULL;
		const char *task = json_string_value(json_object_get(c, "task"));
		char *path = portico_sprintf("%s/x-portico-compensate", task ? task : "");
		const json_t *tasks =
		        json_object_get(task_at(run->definition, task ? task : "-"), "x-portico-compensate");
		int rc = tasks ? flow_run_list(&ctx, tasks, path, json_object_get(c, "input"), &out)
		               : flow_raise_config(&ctx, path, "%s: no compensation at this path",
		                                   "x-portico-compensate");
		free(path);
		json_decref(out);
		if (rc == FLOW_RAISE)
			portico_workflow_log(run->wf, "warn", "a compensation failed",
			                     json_pack("{s:O}", "problem", ctx.problem));
		json_decref(ctx.problem);
		json_decref(c);
		if (rc == FLOW_EVICT || run->task_failed)
			return FLOW_EVICT;
	}
	return FLOW_OK;
}

/* The workflow's output: output.as on the last task's output, checked against output.schema.
 * NULL with ctx's problem. */
static json_t *workflow_output(flow_ctx *ctx, json_t *data)
{
	const json_t *output = json_object_get(ctx->run->definition, "output");
	json_t *result = transform(ctx, NULL, json_object_get(output, "as"), data);
	if (result && check_schema(ctx, output, result, "output", "/output") != FLOW_OK) {
		json_decref(result);
		return NULL;
	}
	return result;
}

/* Continue-as-new: the same definition and input, and where to resume. 0 with *outcome, or -1
 * when the next run's input would pass Temporal's payload limit (the command could not be sent
 * and the run would be stuck). */
static int continue_as_new(flow_run *run, json_t *raw_input, int *outcome)
{
	json_t *resume = run->resume;
	json_object_set(resume, "context", run->context);
	json_object_set(resume, "input", run->input);
	json_object_set(resume, "compensations", run->compensations);
	json_object_set_new(resume, "continued", json_integer((json_int_t)run->continued + 1));
	json_object_set_new(resume, "events", flow_events_save(run));
	json_t *args =
	        json_pack("[{s:O,s:O,s:O}]", "definition", run->definition, "input", raw_input, "resume", resume);
	size_t length;
	free(portico_json_dumps(args, JSON_COMPACT, &length));
	if (length > FLOW_RUN_MAX_RESUME_BYTES) {
		json_decref(args);
		return -1;
	}
	*outcome = portico_workflow_continue_as_new(run->wf, args, NULL, NULL);
	return 0;
}

/* The definitions that validated in this process, by the SHA-256 of their canonical JSON: a
 * replay, each workflow task of a run the cache dropped, and each run after continue-as-new bring
 * the same definition again, and validating compiles every expression (some 35 ms each in jq
 * 1.6). A small ring: the oldest is forgotten first. */
#define VALIDATED_CACHE 64
static struct {
	pthread_mutex_t lock;
	uint8_t digests[VALIDATED_CACHE][PORTICO_SHA256_BYTES];
	size_t count, next;
} validated = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Validates d as flow_validate does (no catalog), or finds it validated before. */
static int validate_cached(const json_t *d, portico_error *err)
{
	if (flow_check_bounds(d, err)) /* before anything walks it (the dump below recurses) */
		return -1;
	size_t length;
	char *text = portico_json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS, &length);
	uint8_t digest[PORTICO_SHA256_BYTES];
	portico_sha256(text, length, digest);
	free(text);
	int found = 0;
	pthread_mutex_lock(&validated.lock);
	for (size_t i = 0; i < validated.count && !found; i++)
		found = !memcmp(validated.digests[i], digest, sizeof digest);
	pthread_mutex_unlock(&validated.lock);
	if (found)
		return 0;
	if (flow_validate(d, NULL, err))
		return -1;
	pthread_mutex_lock(&validated.lock);
	memcpy(validated.digests[validated.next], digest, sizeof digest);
	validated.next = (validated.next + 1) % VALIDATED_CACHE;
	if (validated.count < VALIDATED_CACHE)
		validated.count++;
	pthread_mutex_unlock(&validated.lock);
	return 0;
}

/* Reads and checks the input: {definition, input, resume?}. 0, or -1 with the run failed. */
static int read_input(portico_workflow *wf, json_t **definition, json_t **input, json_t **resume, int *outcome)
{
	json_t *arg = portico_workflow_input_json(wf, 0);
	json_t *d = json_object_get(arg, "definition");
	if (!json_is_object(d) || portico_workflow_input_count(wf) != 1) {
		json_decref(arg);
		/* No flow: a workflow type this worker does not have. As Temporal's SDKs do for a type they
		 * do not know, the task fails (and is tried again) rather than the workflow, so that a
		 * worker that has the type can run it: a deployment's mistake does not end a run. */
		portico_workflow_fail_task(
		        wf,
		        "workflow type \"%s\" is not registered on this worker, and its input is not a "
		        "flow's (one {\"definition\": {…}, \"input\": …} object)",
		        portico_workflow_get_info(wf)->workflow_type);
		*outcome = PORTICO_WORKFLOW_FAILED;
		return -1;
	}
	/* what enters the run nests no deeper than expressions take: jansson's walks recurse */
	const char *deep = flow_json_deeper_than(json_object_get(arg, "input"), FLOW_MAX_DATA_DEPTH) ? "/input"
	                   : flow_json_deeper_than(json_object_get(arg, "resume"), FLOW_MAX_DATA_DEPTH + RESUME_LEVELS)
	                           ? "/resume"
	                           : NULL;
	if (deep) {
		char detail[64];
		snprintf(detail, sizeof detail, "%s nests deeper than %d levels", deep + 1, FLOW_MAX_DATA_DEPTH);
		json_t *problem = json_pack("{s:s,s:i,s:s,s:s,s:s}", "type", FLOW_ERRORS "validation", "status", 400,
		                            "instance", deep, "title", "Validation Error", "detail", detail);
		*outcome = fail_with_problem(wf, problem);
		json_decref(problem);
		json_decref(arg);
		return -1;
	}
	/* "resume" is what continue-as-new carries; from anyone else it would skip the input's checks
	 * and set $context, compensations and loop state a definition never made. */
	const char *extra = NULL, *key;
	json_t *value;
	json_object_foreach(arg, key, value)
	{
		if (strcmp(key, "definition") && strcmp(key, "input") &&
		    (strcmp(key, "resume") || !portico_workflow_get_info(wf)->continued_from_run_id))
			extra = key;
	}
	if (extra) {
		char *instance = portico_sprintf("/%s", extra);
		json_t *problem = json_pack("{s:s,s:i,s:s,s:s,s:s}", "type", FLOW_ERRORS "validation", "status", 400,
		                            "instance", instance, "title", "Validation Error", "detail",
		                            "a flow starts with {\"definition\", \"input\"} only (\"resume\" is "
		                            "what continue-as-new carries)");
		*outcome = fail_with_problem(wf, problem);
		json_decref(problem);
		free(instance);
		json_decref(arg);
		return -1;
	}
	portico_error err = PORTICO_ERROR_INIT;
	/* Without the catalog: a replay must decide as the first run did, and the worker's folder may
	 * have changed since; a child that is not there fails its task (the lookup is recorded). */
	if (validate_cached(d, &err) && err.code != PORTICO_INVALID_ARGUMENT) {
		/* the sandbox gave out (time, memory): not the definition's fault, and may not recur */
		portico_workflow_fail_task(wf, "%s", err.message ? err.message : "the definition could not be checked");
		portico_error_clear(&err);
		*outcome = PORTICO_WORKFLOW_FAILED;
		json_decref(arg);
		return -1;
	}
	if (err.code) {
		const char *message = err.message ? err.message : "invalid";
		const char *colon = strstr(message, ": ");
		char *instance = message[0] == '/' && colon ? portico_sprintf("%.*s", (int)(colon - message), message)
		                                            : portico_strdup("/");
		json_t *problem = json_pack("{s:s,s:i,s:s,s:s,s:s}", "type", FLOW_ERRORS "configuration", "status", 400,
		                            "instance", instance, "title", "Invalid Definition", "detail", message);
		*outcome = fail_with_problem(wf, problem);
		json_decref(problem);
		free(instance);
		portico_error_clear(&err);
		json_decref(arg);
		return -1;
	}
	*definition = json_incref(d);
	*input = json_incref(json_object_get(arg, "input") ? json_object_get(arg, "input") : json_null());
	*resume = json_incref(json_object_get(arg, "resume"));
	json_decref(arg);
	return 0;
}

static flow_run *run_new(portico_workflow *wf, const flow_catalog *catalog, json_t *definition, json_t *raw_input)
{
	flow_run *run = portico_calloc(1, sizeof *run);
	portico_workflow_on_free(wf, run_free, run);
	run->wf = wf;
	run->catalog = catalog;
	run->definition = definition;
	const portico_workflow_info *info = portico_workflow_get_info(wf);
	run->workflow = json_pack("{s:s,s:O,s:O,s:o}", "id", info->workflow_id, "definition", definition, "input",
	                          raw_input, "startedAt", date_time(info->start_time_ms));
	run->runtime = json_pack("{s:s,s:s,s:{}}", "name", "portico", "version", "1", "metadata");
	run->context = json_object();
	run->compensations = json_array();
	run->running = json_object();
	portico_workflow_on_query(wf, "flow.state", query_state, run);
	flow_events_register(run);
	/* a child flow (run: workflow) is started without the memo a gateway start sets */
	json_t *memo = portico_workflow_memo_json(wf, "flow");
	if (!memo) {
		const json_t *document = json_object_get(definition, "document");
		json_t *fields = json_pack(
		        "{s:{s:O*,s:O*,s:O*,s:O*}}", "flow", "namespace", json_object_get(document, "namespace"),
		        "name", json_object_get(document, "name"), "version", json_object_get(document, "version"),
		        "dsl", json_object_get(document, "dsl"));
		portico_workflow_upsert_memo(wf, fields);
		json_decref(fields);
	}
	json_decref(memo);
	return run;
}

int flow_workflow(portico_workflow *wf, void *catalog)
{
	json_t *definition, *raw_input, *resume;
	int outcome = PORTICO_WORKFLOW_FAILED;
	if (read_input(wf, &definition, &raw_input, &resume, &outcome))
		return outcome;
	flow_run *run = run_new(wf, catalog, definition, raw_input);
	flow_ctx ctx = {.run = run, .can_resume = 1};
	json_t *data = NULL;
	int rc = FLOW_OK;
	if (resume) {
		/* a continued run: the state the last one handed over */
		run->input = json_incref(json_object_get(resume, "input"));
		json_decref(run->context);
		run->context = json_incref(json_object_get(resume, "context"));
		json_decref(run->compensations);
		run->compensations = json_incref(json_object_get(resume, "compensations"));
		run->resume = json_pack("{s:O}", "frames", json_object_get(resume, "frames"));
		run->continued = (unsigned)json_integer_value(json_object_get(resume, "continued"));
		flow_events_restore(run, json_object_get(resume, "events"));
		if (!json_is_object(run->context) || !json_is_array(run->compensations) || !run->input ||
		    !json_is_array(json_object_get(run->resume, "frames")))
			rc = flow_raise(&ctx, "runtime", 500, "/", "Runtime Error",
			                "the resume state of the run is damaged");
		json_decref(resume);
	} else {
		const json_t *input = json_object_get(definition, "input");
		rc = check_schema(&ctx, input, raw_input, "input", "/input");
		run->input = rc == FLOW_OK ? transform(&ctx, NULL, json_object_get(input, "from"), raw_input) : NULL;
		rc = run->input ? FLOW_OK : FLOW_RAISE;
		run->resume = json_pack("{s:[]}", "frames");
	}
	/* the document is the root task: its do, within its timeout if it has one */
	flow_task root = {.name = "",
	                  .path = portico_strdup(""),
	                  .def = definition,
	                  .raw_input = run->input,
	                  .input = json_incref(run->input),
	                  .started_ms = portico_workflow_now_ms(wf)};
	const char *then = NULL;
	if (rc == FLOW_OK)
		rc = run_body(&ctx, &root, &data, &then);
	task_clear(&root);
	if (rc == FLOW_OK || rc == FLOW_END) {
		json_t *output = workflow_output(&ctx, data);
		json_decref(data);
		data = NULL;
		rc = output ? FLOW_OK : FLOW_RAISE;
		if (output) {
			set_running(run, "", output);
			outcome = portico_workflow_set_result(wf, output);
		}
	}
	json_decref(data);
	if (run->task_failed) /* the task fails: nothing this run would record counts */
		rc = FLOW_EVICT;
	if (rc == FLOW_CONTINUE_AS_NEW && continue_as_new(run, raw_input, &outcome))
		rc = flow_raise(&ctx, "runtime", 500, "/", "Runtime Error",
		                "the state a new run would carry (the definition, input, $context, compensations, "
		                "events and loop data) is larger than %u bytes: continue-as-new cannot go on",
		                FLOW_RUN_MAX_RESUME_BYTES);
	if (rc == FLOW_RAISE || rc == FLOW_CANCEL) {
		if (run_compensations(run) == FLOW_EVICT)
			rc = FLOW_EVICT;
		else if (rc == FLOW_RAISE)
			outcome = fail_with_problem(wf, ctx.problem);
		else
			outcome = PORTICO_WORKFLOW_CANCELED;
	}
	if (rc != FLOW_EVICT && flow_events_settle(run) == FLOW_EVICT)
		rc = FLOW_EVICT;
	if (rc == FLOW_EVICT)
		outcome = PORTICO_WORKFLOW_FAILED;
	json_decref(ctx.problem);
	json_decref(ctx.locals);
	json_decref(raw_input);
	return outcome;
}

void flow_register(portico_worker *worker, const flow_catalog *catalog)
{
	portico_worker_register_dynamic_workflow(worker, flow_workflow, (void *)catalog);
}
