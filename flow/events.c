/* Events: `listen` waits for Temporal signals (or updates) named by the event's type, `emit`
 * signals another workflow. An event is a CloudEvent envelope; a signal whose argument is not one
 * (an object with specversion) is wrapped in one, so that curl users can send bare data.
 *
 * Handlers are registered the first time a listen names a type. The runtime keeps signals that
 * arrive before that and delivers them once the listen blocks, and the run keeps the events no
 * listen has taken yet (FLOW_RUN_MAX_EVENTS per type), so an event that comes early is not lost.
 * An update of a type is accepted only while a listen waits for it; its answer is the output of
 * the listen task that took it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "expr.h"
#include "json_depth.h"
#include "run.h"

typedef struct flow_event {
	struct flow_event *next;
	uint64_t seq;
	char *type;
	json_t *envelope;
	int consumed;    /* taken by a listen */
	int too_deep;    /* its data nests deeper than FLOW_MAX_DATA_DEPTH: the listen that takes it fails */
	int from_update; /* an update handler waits for the answer below, then frees the event */
	int answered;
	json_t *answer; /* the listen task's output; NULL with answered: the listen failed */
} flow_event;

typedef struct flow_event_type {
	struct flow_event_type *next;
	flow_run *run;
	char *type;
	unsigned waiting; /* listens waiting for this type now */
} flow_event_type;

static void event_free(flow_event *e)
{
	free(e->type);
	json_decref(e->envelope);
	json_decref(e->answer);
	free(e);
}

static void event_unlink(flow_run *run, flow_event *e)
{
	for (flow_event **p = &run->events; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			return;
		}
}

void flow_events_free(flow_run *run)
{
	while (run->events) {
		flow_event *next = run->events->next;
		event_free(run->events);
		run->events = next;
	}
	while (run->event_types) {
		flow_event_type *next = run->event_types->next;
		free(run->event_types->type);
		free(run->event_types);
		run->event_types = next;
	}
}

/* The envelope of a signal's or update's argument (args[0]): a CloudEvent as it is, anything else
 * as the data of one of type. New reference. */
static json_t *envelope_of(flow_run *run, const char *type, json_t *args)
{
	json_t *arg = json_array_get(args, 0);
	if (json_is_object(arg) && json_object_get(arg, "specversion"))
		return json_incref(arg);
	/* the id is the run's and the event's place in it: unique, and the same on every replay */
	char place[32];
	snprintf(place, sizeof place, "/%llu", (unsigned long long)run->event_seq + 1);
	return json_pack("{s:s,s:s+,s:s,s:s,s:O}", "specversion", "1.0", "id",
	                 portico_workflow_get_info(run->wf)->run_id, place, "source", "portico", "type", type, "data",
	                 arg ? arg : json_null());
}

/* Keeps an event for the listens. Past FLOW_RUN_MAX_EVENTS waiting of its type, the oldest
 * signal's is dropped (and logged): a flood of events nobody listens for must not grow the run. */
static flow_event *event_add(flow_run *run, const char *type, json_t *envelope, int from_update)
{
	size_t waiting = 0;
	flow_event *oldest = NULL, **tail = &run->events;
	for (; *tail; tail = &(*tail)->next)
		if (!(*tail)->consumed && !strcmp((*tail)->type, type)) {
			waiting++;
			if (!oldest && !(*tail)->from_update)
				oldest = *tail;
		}
	flow_event *e = portico_calloc(1, sizeof *e);
	e->seq = ++run->event_seq;
	e->type = portico_strdup(type);
	e->envelope = envelope;
	e->too_deep = flow_json_deeper_than(envelope, FLOW_MAX_DATA_DEPTH + 1);
	e->from_update = from_update;
	*tail = e;
	if (waiting >= FLOW_RUN_MAX_EVENTS && oldest) {
		portico_workflow_log(run->wf, "warn", "too many events waiting for a listen: the oldest is dropped",
		                     json_pack("{s:s,s:i}", "type", type, "limit", FLOW_RUN_MAX_EVENTS));
		event_unlink(run, oldest);
		event_free(oldest);
	}
	return e;
}

static void on_signal(portico_workflow *wf, json_t *args, void *arg)
{
	(void)wf;
	flow_event_type *t = arg;
	event_add(t->run, t->type, envelope_of(t->run, t->type, args), 0);
}

/* A signal of a type no listen names, kept for a listen to any event (`any: []`). */
static void on_any_signal(portico_workflow *wf, const char *name, json_t *args, void *arg)
{
	(void)wf;
	flow_run *run = arg;
	event_add(run, name, envelope_of(run, name, args), 0);
}

static int validate_update(portico_workflow *wf, json_t *args, char **error, void *arg)
{
	(void)wf;
	(void)args;
	flow_event_type *t = arg;
	if (!t->waiting) {
		*error = portico_sprintf("no listen waits for %s now", t->type);
		return -1;
	}
	if (flow_json_deeper_than(json_array_get(args, 0), FLOW_MAX_DATA_DEPTH)) {
		*error = portico_sprintf("the update's argument nests deeper than %d levels", FLOW_MAX_DATA_DEPTH);
		return -1;
	}
	return 0;
}

static int answered(void *arg)
{
	return ((flow_event *)arg)->answered;
}

/* An update is an event whose sender waits for the answer: the output of the listen task that
 * takes it. */
static int on_update(portico_workflow *wf, json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	flow_event_type *t = arg;
	flow_event *e = event_add(t->run, t->type, envelope_of(t->run, t->type, args), 1);
	int r = portico_workflow_wait_condition(wf, answered, e, -1);
	if (r == PORTICO_WAIT_EVICTED)
		return -1; /* the event goes with the run */
	int ok = r == PORTICO_WAIT_DONE && e->answer;
	if (ok)
		*result = json_incref(e->answer);
	else
		*failure = portico_workflow_failure_new("portico.ListenFailed", 1, NULL,
		                                        "the listen that took the event did not complete");
	event_unlink(t->run, e);
	event_free(e);
	return ok ? 0 : -1;
}

void flow_events_task_done(flow_run *run, flow_task *t, const json_t *output)
{
	(void)run;
	for (size_t i = 0; i < t->update_count; i++) {
		t->updates[i]->answered = 1;
		t->updates[i]->answer = output ? json_incref((json_t *)output) : NULL;
	}
	free(t->updates);
	t->updates = NULL;
	t->update_count = 0;
}

static int updates_settled(void *arg)
{
	for (const flow_event *e = ((flow_run *)arg)->events; e; e = e->next)
		if (e->from_update)
			return 0;
	return 1;
}

int flow_events_settle(flow_run *run)
{
	/* an update no listen took is refused: the flow will not listen any more */
	for (flow_event *e = run->events; e; e = e->next)
		if (e->from_update && !e->answered)
			e->answered = 1;
	int r = portico_workflow_wait_condition(run->wf, updates_settled, run, -1);
	return r == PORTICO_WAIT_EVICTED ? FLOW_EVICT : FLOW_OK;
}

json_t *flow_events_save(const flow_run *run)
{
	json_t *saved = json_array();
	for (const flow_event *e = run->events; e; e = e->next)
		if (!e->consumed && !e->from_update && !e->too_deep) /* too deep to carry: no listen could take it */
			json_array_append_new(saved, json_pack("{s:s,s:O}", "type", e->type, "envelope", e->envelope));
	return saved;
}

void flow_events_restore(flow_run *run, const json_t *saved)
{
	size_t i;
	const json_t *e;
	json_array_foreach(saved, i, e)
	{
		const char *type = json_string_value(json_object_get(e, "type"));
		const json_t *envelope = json_object_get(e, "envelope");
		if (type && envelope)
			event_add(run, type, json_incref((json_t *)envelope), 0);
	}
}

/* The handlers of type, registered once per run. */
static flow_event_type *event_type(flow_run *run, const char *type)
{
	for (flow_event_type *t = run->event_types; t; t = t->next)
		if (!strcmp(t->type, type))
			return t;
	flow_event_type *t = portico_calloc(1, sizeof *t);
	t->run = run;
	t->type = portico_strdup(type);
	t->next = run->event_types;
	run->event_types = t;
	portico_workflow_on_signal(run->wf, type, on_signal, t);
	portico_workflow_on_update(run->wf, type, on_update, validate_update, t);
	return t;
}

/* Registers the handlers of every type in the filters of a listen task in value (a definition, or
 * part of one). */
static void register_listened(flow_run *run, const json_t *value)
{
	const char *key;
	json_t *member;
	size_t i;
	if (json_is_array(value)) {
		json_array_foreach(value, i, member) register_listened(run, member);
		return;
	}
	if (!json_is_object(value))
		return;
	const json_t *to = json_object_get(json_object_get(value, "listen"), "to");
	static const char *const strategies[] = {"all", "any"};
	if (json_is_array(json_object_get(to, "any")) && !json_array_size(json_object_get(to, "any")))
		portico_workflow_on_any_signal(run->wf, on_any_signal, run);
	if (json_is_object(to)) {
		const char *type =
		        json_string_value(json_object_get(json_object_get(json_object_get(to, "one"), "with"), "type"));
		if (type)
			event_type(run, type);
		for (size_t s = 0; s < 2; s++)
			json_array_foreach(json_object_get(to, strategies[s]), i, member)
			{
				type = json_string_value(json_object_get(json_object_get(member, "with"), "type"));
				if (type)
					event_type(run, type);
			}
	}
	json_object_foreach((json_t *)value, key, member) register_listened(run, member);
}

void flow_events_register(flow_run *run)
{
	register_listened(run, run->definition);
}

/* ---- listen -------------------------------------------------------------------------------------------- */

typedef struct listen_wait {
	flow_run *run;
	const flow_scope *scope;
	uint64_t seen; /* events up to this sequence number were looked at */
} listen_wait;

static int listen_wakes(void *arg)
{
	listen_wait *w = arg;
	return w->run->event_seq > w->seen || flow_scope_cancelled(w->scope);
}

/* Whether envelope has the attributes of filter.with: equal values, or expressions that hold on
 * the attribute's value. FLOW_OK with *match, or FLOW_RAISE. */
static int filter_matches(flow_ctx *ctx, flow_task *t, const json_t *with, const json_t *envelope, int *match)
{
	const char *key;
	json_t *want;
	*match = 1;
	json_object_foreach((json_t *)with, key, want)
	{
		json_t *have = json_object_get(envelope, key);
		if (json_is_string(want) && flow_expr_is(json_string_value(want))) {
			json_t *value = flow_eval(ctx, t, json_string_value(want), have ? have : json_null());
			if (!value)
				return FLOW_RAISE;
			*match = !json_is_false(value) && !json_is_null(value);
			json_decref(value);
		} else {
			*match = have && json_equal(have, want);
		}
		if (!*match)
			break;
	}
	return FLOW_OK;
}

/* What listen.read takes of an event. New reference. */
static json_t *read_event(const json_t *envelope, const char *read)
{
	if (read && !strcmp(read, "envelope"))
		return json_incref((json_t *)envelope);
	json_t *data = json_object_get(envelope, "data");
	return json_incref(data ? data : json_null());
}

typedef enum { LISTEN_ONE, LISTEN_ALL, LISTEN_ANY } listen_mode;

/* Takes the events that match, oldest first, until the strategy is satisfied (*done). */
/* The signals a listen has taken: kept in the run's list (consumed) until the listen completes,
 * and given back to later listens if it does not (a timeout, a cancellation, an error). */
typedef struct held_events {
	flow_event **events; /* owned array; the events are the run's */
	size_t count;
} held_events;

static void hold(held_events *held, flow_event *e)
{
	held->events = portico_realloc(held->events, (held->count + 1) * sizeof *held->events);
	held->events[held->count++] = e;
}

static int listen_take(flow_ctx *ctx, flow_task *t, const json_t *filters, listen_mode mode, char *satisfied,
                       const json_t *until, const char *read, uint64_t seen, json_t *taken, held_events *held,
                       int *done)
{
	flow_run *run = ctx->run;
	flow_event *e = run->events;
	while (e && !*done) {
		flow_event *next = e->next;
		if (e->consumed || e->seq <= seen) {
			e = next;
			continue;
		}
		int named = !json_array_size(filters);
		for (size_t i = 0; i < json_array_size(filters) && !named; i++)
			named = !strcmp(json_string_value(json_object_get(
			                        json_object_get(json_array_get(filters, i), "with"), "type")),
			                e->type);
		if (named && e->too_deep) {
			flow_raise(ctx, "validation", 400, t->path, "Validation Error",
			           "the %s event's data nests deeper than %d levels", e->type, FLOW_MAX_DATA_DEPTH);
			e->consumed = 1;
			if (e->from_update) { /* answered as the listen's failure */
				t->updates = portico_realloc(t->updates, (t->update_count + 1) * sizeof *t->updates);
				t->updates[t->update_count++] = e;
			} else {
				event_unlink(run, e);
				event_free(e);
			}
			return FLOW_RAISE;
		}
		if (!json_array_size(filters)) { /* any: [], any event */
			e->consumed = 1;
			json_array_append_new(taken, read_event(e->envelope, read));
			if (e->from_update) {
				t->updates = portico_realloc(t->updates, (t->update_count + 1) * sizeof *t->updates);
				t->updates[t->update_count++] = e;
			}
		}
		for (size_t i = 0; i < json_array_size(filters) && !e->consumed; i++) {
			const json_t *with = json_object_get(json_array_get(filters, i), "with");
			if (satisfied[i] || strcmp(json_string_value(json_object_get(with, "type")), e->type))
				continue;
			int match;
			if (filter_matches(ctx, t, with, e->envelope, &match))
				return FLOW_RAISE;
			if (!match)
				continue;
			e->consumed = 1;
			satisfied[i] = mode == LISTEN_ALL;
			json_array_append_new(taken, read_event(e->envelope, read));
			if (e->from_update) {
				t->updates = portico_realloc(t->updates, (t->update_count + 1) * sizeof *t->updates);
				t->updates[t->update_count++] = e;
			}
		}
		if (e->consumed && !e->from_update)
			hold(held, e);
		if (mode == LISTEN_ALL) {
			*done = 1;
			for (size_t i = 0; i < json_array_size(filters); i++)
				*done &= satisfied[i];
		} else if (json_array_size(taken) && !until) {
			*done = 1;
		} else if (json_array_size(taken) && until) {
			json_t *stop = flow_eval(ctx, t, json_string_value(until), taken);
			if (!stop)
				return FLOW_RAISE;
			*done = !json_is_false(stop) && !json_is_null(stop);
			json_decref(stop);
		}
		e = next;
	}
	return FLOW_OK;
}

int flow_task_listen(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	const json_t *listen = json_object_get(t->def, "listen");
	const json_t *to = json_object_get(listen, "to");
	const char *read = json_string_value(json_object_get(listen, "read"));
	const json_t *until = json_object_get(to, "until");
	listen_mode mode = json_object_get(to, "all")   ? LISTEN_ALL
	                   : json_object_get(to, "any") ? LISTEN_ANY
	                                                : LISTEN_ONE;
	json_t *filters = mode == LISTEN_ALL   ? json_incref(json_object_get(to, "all"))
	                  : mode == LISTEN_ANY ? json_incref(json_object_get(to, "any"))
	                                       : json_pack("[O*]", json_object_get(to, "one"));
	size_t count = json_array_size(filters);
	int ok = (count > 0 || mode == LISTEN_ANY) && count <= 64 &&
	         (!until || (mode == LISTEN_ANY && json_is_string(until)));
	for (size_t i = 0; ok && i < count; i++)
		ok = json_is_string(json_object_get(json_object_get(json_array_get(filters, i), "with"), "type"));
	if (!ok) {
		json_decref(filters);
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                  "listen.to: one, all or any (up to 64 filters; any may have none), each with.type a "
		                  "string (the signal's name); until only with any, as an expression");
	}
	for (size_t i = 0; i < count; i++)
		event_type(ctx->run, json_string_value(json_object_get(
		                             json_object_get(json_array_get(filters, i), "with"), "type")))
		        ->waiting++;
	char satisfied[64] = {0};
	json_t *taken = json_array();
	listen_wait w = {.run = ctx->run, .scope = ctx->scope};
	int done = 0, rc = FLOW_OK;
	uint64_t seen = 0;
	held_events held = {0};
	for (;;) {
		w.seen = ctx->run->event_seq;
		rc = listen_take(ctx, t, filters, mode, satisfied, until, read, seen, taken, &held, &done);
		seen = w.seen;
		if (rc != FLOW_OK || done)
			break;
		int r = portico_workflow_wait_condition(ctx->run->wf, listen_wakes, &w, -1);
		if (r != PORTICO_WAIT_DONE || flow_scope_cancelled(ctx->scope)) {
			rc = r == PORTICO_WAIT_DONE ? FLOW_CANCEL : flow_wait_status(r);
			break;
		}
	}
	/* taken for good, or given back for the next listen (after an eviction the run may be gone) */
	for (size_t i = 0; i < held.count && rc != FLOW_EVICT; i++) {
		if (rc == FLOW_OK) {
			event_unlink(ctx->run, held.events[i]);
			event_free(held.events[i]);
		} else {
			held.events[i]->consumed = 0;
		}
	}
	free(held.events);
	if (rc != FLOW_EVICT)
		for (size_t i = 0; i < count; i++)
			event_type(ctx->run, json_string_value(json_object_get(
			                             json_object_get(json_array_get(filters, i), "with"), "type")))
			        ->waiting--;
	json_decref(filters);
	if (rc == FLOW_OK)
		*output = taken;
	else
		json_decref(taken);
	return rc;
}

/* ---- emit ---------------------------------------------------------------------------------------------- */

/* Signals the workflow named by the event's workflowid attribute, the signal named by its type,
 * with the envelope (specversion, id and time filled in when the definition leaves them out). The
 * output is the input. */
int flow_task_emit(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	(void)then;
	const json_t *with = json_object_get(json_object_get(json_object_get(t->def, "emit"), "event"), "with");
	if (!json_is_object(with))
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                  "emit.event.with: expected the event's attributes");
	json_t *event = flow_eval_tree(ctx, t, with, t->input);
	if (!event)
		return FLOW_RAISE;
	json_t *envelope = json_deep_copy(event);
	json_decref(event);
	const char *type = json_string_value(json_object_get(envelope, "type"));
	const char *target = json_string_value(json_object_get(envelope, "workflowid"));
	if (!type || !target) {
		json_decref(envelope);
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                  "emit: the event needs a type (the signal's name) and a workflowid (the workflow to "
		                  "signal)");
	}
	if (!json_object_get(envelope, "specversion"))
		json_object_set_new(envelope, "specversion", json_string("1.0"));
	if (!json_object_get(envelope, "source"))
		json_object_set_new(envelope, "source", json_string("portico"));
	if (!json_object_get(envelope, "id")) {
		char id[37];
		portico_workflow_uuid(ctx->run->wf, id);
		json_object_set_new(envelope, "id", json_string(id));
	}
	json_t *args = json_pack("[O]", envelope);
	ctx->run->calls++;
	portico_workflow_future *f = portico_workflow_signal_external(ctx->run->wf, target, NULL, type, args);
	json_decref(args);
	portico_workflow_failure *failure = NULL;
	int r = portico_workflow_await(ctx->run->wf, f, NULL, &failure);
	int rc = FLOW_OK;
	if (r == PORTICO_WAIT_FAILED) {
		rc = flow_raise(ctx, "communication", 500, t->path, "Emit Failed", "signalling %s: %s", target,
		                failure && failure->message ? failure->message : "failed");
		portico_workflow_failure_free(failure);
	} else if (r != PORTICO_WAIT_DONE) {
		rc = flow_wait_status(r);
	}
	json_decref(envelope);
	if (rc == FLOW_OK)
		*output = json_incref(t->input);
	return rc;
}
