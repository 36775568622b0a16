/* The tasks that handle errors and concurrency: try (catch, retry) and fork (branches on
 * coroutines, compete). Part of the interpreter (run.h). */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "run.h"

/* ---- try / catch / retry ------------------------------------------------------------------------- */

/* Whether problem passes catch.errors.with: each given field equals the problem's (the filter
 * says "details" for the problem's "detail"). */
static int error_matches(const json_t *problem, const json_t *with)
{
	const char *key;
	json_t *want;
	json_object_foreach((json_t *)with, key, want)
	{
		json_t *have = json_object_get(problem, strcmp(key, "details") ? key : "detail");
		if (!have || !json_equal(have, want))
			return 0;
	}
	return 1;
}

/* when / exceptWhen of a catch or a retry, with the error bound: 1 when they let it through. */
static int when_holds(flow_ctx *ctx, flow_task *t, const json_t *policy, int *holds)
{
	int truth;
	const json_t *when = json_object_get(policy, "when"), *except = json_object_get(policy, "exceptWhen");
	*holds = 1;
	if (when && (flow_condition(ctx, t, when, t->input, &truth) || !(*holds = truth)))
		return ctx->problem ? FLOW_RAISE : FLOW_OK;
	if (except && flow_condition(ctx, t, except, t->input, &truth))
		return FLOW_RAISE;
	if (except && truth)
		*holds = 0;
	return FLOW_OK;
}

/* The delay before retry number attempt (0 for the first retry): delay × backoff, plus jitter from
 * the run's deterministic random numbers. -1 with ctx's problem. */
static int retry_delay(flow_ctx *ctx, flow_task *t, const json_t *retry, unsigned attempt, int64_t *ms)
{
	int64_t delay = 0;
	const json_t *d = json_object_get(retry, "delay");
	if (d && flow_duration(ctx, t, d, "retry.delay", &delay))
		return -1;
	const json_t *backoff = json_object_get(retry, "backoff");
	double factor = 1;
	if (json_object_get(backoff, "linear"))
		factor = attempt + 1;
	else if (json_object_get(backoff, "exponential"))
		factor = pow(2, attempt < 60 ? attempt : 60);
	double total = (double)delay * factor;
	*ms = total > (double)FLOW_MAX_DURATION_MS ? FLOW_MAX_DURATION_MS : (int64_t)total;
	const json_t *jitter = json_object_get(retry, "jitter");
	if (jitter) {
		int64_t from, to;
		if (flow_duration(ctx, t, json_object_get(jitter, "from"), "retry.jitter.from", &from) ||
		    flow_duration(ctx, t, json_object_get(jitter, "to"), "retry.jitter.to", &to))
			return -1;
		if (to > from)
			*ms += from + (int64_t)(portico_workflow_random(ctx->run->wf) % (uint64_t)(to - from));
		else
			*ms += from;
	}
	return 0;
}

/* Whether another attempt is allowed after attempt retries, started at start_ms. */
static int retry_allowed(flow_ctx *ctx, flow_task *t, const json_t *retry, unsigned attempt, int64_t start_ms,
                         int64_t attempt_ms, int *allowed)
{
	const json_t *limit = json_object_get(retry, "limit");
	const json_t *count = json_object_get(json_object_get(limit, "attempt"), "count");
	int64_t now = portico_workflow_now_ms(ctx->run->wf), max;
	*allowed = attempt < FLOW_RUN_MAX_RETRIES && (!json_is_integer(count) || attempt < json_integer_value(count));
	const json_t *duration = json_object_get(limit, "duration");
	if (*allowed && duration) {
		if (flow_duration(ctx, t, duration, "retry.limit.duration", &max))
			return FLOW_RAISE;
		*allowed = now - start_ms < max;
	}
	const json_t *per_attempt = json_object_get(json_object_get(limit, "attempt"), "duration");
	if (*allowed && per_attempt) {
		if (flow_duration(ctx, t, per_attempt, "retry.limit.attempt.duration", &max))
			return FLOW_RAISE;
		*allowed = attempt_ms < max;
	}
	return FLOW_OK;
}

/* Runs the `try` list; an error that the catch takes is retried as its retry policy says, then
 * handled by catch.do (its output is the task's), or swallowed (the output is the input). */
int flow_task_try(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	const json_t *catch = json_object_get(t->def, "catch");
	const json_t *retry = json_object_get(catch, "retry");
	if (json_is_string(retry)) {
		const char *name = json_string_value(retry);
		retry = json_object_get(json_object_get(json_object_get(ctx->run->definition, "use"), "retries"), name);
		if (!retry)
			return flow_raise_config(ctx, t->path, "catch.retry: no retry policy \"%s\" in use.retries",
			                         name);
	}
	const char *as = json_string_value(json_object_get(catch, "as"));
	if (!as)
		as = "error";
	char *path = flow_member_path(t, "try");
	int64_t start = portico_workflow_now_ms(ctx->run->wf);
	int can_resume = ctx->can_resume;
	ctx->can_resume = 0; /* a new run could not come back inside a try */
	int rc;
	for (unsigned attempt = 0;; attempt++) {
		int64_t attempt_start = portico_workflow_now_ms(ctx->run->wf);
		rc = flow_run_list(ctx, json_object_get(t->def, "try"), path, t->input, output);
		if (rc != FLOW_RAISE || ctx->run->task_failed) /* a failed workflow task is not the flow's error */
			break;
		const json_t *with = json_object_get(json_object_get(catch, "errors"), "with");
		if (json_is_object(with) && !error_matches(ctx->problem, with))
			break;
		/* the error is visible to when/exceptWhen and catch.do as $<as> */
		json_t *saved_locals = ctx->locals;
		ctx->locals = saved_locals ? json_copy(saved_locals) : json_object();
		json_object_set(ctx->locals, as, ctx->problem);
		json_t *problem = ctx->problem;
		ctx->problem = NULL;
		int holds = 0, allowed = 0;
		rc = when_holds(ctx, t, catch, &holds);
		if (rc == FLOW_OK && holds && retry)
			rc = when_holds(ctx, t, retry, &allowed);
		if (rc == FLOW_OK && holds && retry && allowed)
			rc = retry_allowed(ctx, t, retry, attempt, start,
			                   portico_workflow_now_ms(ctx->run->wf) - attempt_start, &allowed);
		if (rc == FLOW_OK && holds && retry && allowed) {
			int64_t ms;
			rc = retry_delay(ctx, t, retry, attempt, &ms) ? FLOW_RAISE : flow_sleep(ctx, ms);
			json_decref(ctx->locals);
			ctx->locals = saved_locals;
			if (rc == FLOW_OK) {
				json_decref(problem);
				continue;
			}
		} else if (rc == FLOW_OK && holds && (!retry || json_object_get(catch, "do"))) {
			/* caught: catch.do runs on the task's input, or the error is swallowed */
			if (json_object_get(catch, "do")) {
				char *catch_path = flow_member_path(t, "catch/do");
				rc = flow_run_list(ctx, json_object_get(catch, "do"), catch_path, t->input, output);
				free(catch_path);
			} else {
				*output = json_incref(t->input);
			}
			json_decref(ctx->locals);
			ctx->locals = saved_locals;
			json_decref(problem);
			break;
		} else {
			json_decref(ctx->locals);
			ctx->locals = saved_locals;
		}
		if (rc == FLOW_OK) { /* not caught, or retries exhausted: the error goes on */
			ctx->problem = problem;
			rc = FLOW_RAISE;
		} else {
			json_decref(problem);
		}
		break;
	}
	ctx->can_resume = can_resume;
	free(path);
	return rc;
}

/* ---- fork ------------------------------------------------------------------------------------------ */

/* One branch, on a coroutine of its own: everything it reads is here or in the run. */
typedef struct branch {
	flow_ctx ctx;
	char *path, *name;
	const json_t *def;
	json_t *input, *output;
	int rc, done;
} branch;

typedef struct fork_wait {
	branch *branches;
	size_t count;
	int compete;
} fork_wait;

static void branch_main(portico_workflow *wf, void *arg)
{
	(void)wf;
	branch *b = arg;
	const char *then = NULL;
	b->rc = flow_run_task(&b->ctx, b->path, b->name, b->def, b->input, &b->output, &then);
	if (b->rc == FLOW_END) /* `then: end` in a branch ends the branch */
		b->rc = FLOW_OK;
	if (b->rc != FLOW_EVICT) /* after an eviction the run may be gone */
		flow_strand_end(b->ctx.run, b->ctx.strand);
	b->ctx.run->coroutines--;
	b->done = 1;
}

/* All branches done; or, competing, one done well; or, not competing, one done badly. */
static int fork_settled(void *arg)
{
	fork_wait *w = arg;
	size_t done = 0;
	for (size_t i = 0; i < w->count; i++) {
		const branch *b = &w->branches[i];
		if (b->done && (w->compete ? b->rc == FLOW_OK : b->rc != FLOW_OK))
			return 1;
		done += b->done;
	}
	return done == w->count;
}

static int all_done(void *arg)
{
	fork_wait *w = arg;
	for (size_t i = 0; i < w->count; i++)
		if (!w->branches[i].done)
			return 0;
	return 1;
}

static void branches_free(branch *branches, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(branches[i].path);
		free(branches[i].name);
		json_decref(branches[i].input);
		json_decref(branches[i].output);
		json_decref(branches[i].ctx.locals);
		json_decref(branches[i].ctx.problem);
	}
	free(branches);
}

static void branches_free_later(void *arg)
{
	fork_wait *w = arg;
	branches_free(w->branches, w->count);
	free(w);
}

/* Runs the branches concurrently, each in a scope of its own. Without compete the output is the
 * array of their outputs, and the first error (in declaration order) cancels the others and is
 * the fork's; with compete the first to finish wins and the others are cancelled. */
int flow_task_fork(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	const json_t *fork = json_object_get(t->def, "fork");
	const json_t *list = json_object_get(fork, "branches");
	size_t count = json_array_size(list);
	if (!json_is_array(list) || !count)
		return flow_raise_config(ctx, t->path, "%s: expected a list of tasks", "fork.branches");
	if (count > FLOW_RUN_MAX_BRANCHES || ctx->run->coroutines + count > FLOW_RUN_MAX_COROUTINES)
		return flow_raise(ctx, "runtime", 500, t->path, "Runtime Error",
		                  "fork: %zu branches, more than the run allows (%d per fork, %d running at once)",
		                  count, FLOW_RUN_MAX_BRANCHES, FLOW_RUN_MAX_COROUTINES);
	fork_wait *w = portico_calloc(1, sizeof *w);
	w->branches = portico_calloc(count, sizeof *w->branches);
	w->count = count;
	w->compete = json_is_true(json_object_get(fork, "compete"));
	for (size_t i = 0; i < count; i++) {
		const json_t *entry = json_array_get(list, i);
		const char *name = NULL;
		json_t *def = NULL;
		if (json_is_object(entry) && json_object_size(entry) == 1)
			json_object_foreach((json_t *)entry, name, def) break;
		branch *b = &w->branches[i];
		b->path = portico_sprintf("%s/fork/branches/%zu/%s", t->path, i, name ? name : "");
		b->name = portico_strdup(name ? name : "");
		b->def = def;
		b->input = json_incref(t->input);
		b->ctx = (flow_ctx){.run = ctx->run,
		                    .scope = flow_scope_new(ctx->run, ctx->scope),
		                    .locals = json_incref(ctx->locals),
		                    .depth = ctx->depth + 1,
		                    .strand = ++ctx->run->strands};
		if (!def) {
			b->done = 1;
			b->rc = flow_raise_config(&b->ctx, b->path, "%s: expected {name: task}", "fork branch");
			continue;
		}
		ctx->run->coroutines++;
		portico_workflow_go(ctx->run->wf, branch_main, b);
	}
	int r = portico_workflow_wait_condition(ctx->run->wf, fork_settled, w, -1);
	if (r == PORTICO_WAIT_EVICTED) {
		/* the branches may still unwind: they and what they read go with the run */
		portico_workflow_on_free(ctx->run->wf, branches_free_later, w);
		return FLOW_EVICT;
	}
	/* the losers (or the rest after an error) unwind before the fork goes on: every branch writes
	 * into w until it is done, so w is freed only then. The workflow's cancellation arriving
	 * meanwhile cancels this wait, not the branches' need of w: keep waiting (it reaches the
	 * branches too), and the fork ends cancelled. */
	int cancelled = r == PORTICO_WAIT_CANCELED;
	for (;;) {
		for (size_t i = 0; i < count; i++)
			if (!w->branches[i].done)
				flow_scope_cancel(ctx->run, w->branches[i].ctx.scope);
		int r2 = portico_workflow_wait_condition(ctx->run->wf, all_done, w, -1);
		if (r2 == PORTICO_WAIT_EVICTED) {
			portico_workflow_on_free(ctx->run->wf, branches_free_later, w);
			return FLOW_EVICT;
		}
		if (r2 == PORTICO_WAIT_DONE)
			break;
		cancelled = 1;
	}
	int rc = cancelled ? FLOW_CANCEL : FLOW_OK;
	branch *winner = NULL, *failed = NULL;
	for (size_t i = 0; i < count; i++) {
		branch *b = &w->branches[i];
		if (b->rc == FLOW_OK && !winner)
			winner = b;
		if (b->rc == FLOW_RAISE && !failed)
			failed = b;
		if (b->rc == FLOW_EVICT)
			rc = FLOW_EVICT;
	}
	if (rc == FLOW_OK && w->compete && winner) {
		*output = json_incref(winner->output);
	} else if (rc == FLOW_OK && failed) {
		ctx->problem = failed->ctx.problem;
		failed->ctx.problem = NULL;
		rc = FLOW_RAISE;
	} else if (rc == FLOW_OK) {
		*output = json_array();
		for (size_t i = 0; i < count; i++) {
			if (w->branches[i].rc != FLOW_OK)
				rc = w->branches[i].rc;
			json_array_append(*output, w->branches[i].output ? w->branches[i].output : json_null());
		}
		if (rc != FLOW_OK) {
			json_decref(*output);
			*output = NULL;
		}
	}
	for (size_t i = 0; i < count; i++) /* every branch is done: nothing runs in their scopes any more */
		flow_scope_free(ctx->run, w->branches[i].ctx.scope);
	branches_free(w->branches, w->count);
	free(w);
	return rc;
}
