/* The run engine. A task's events are read in order:
 *   - events the workflow reacts to (its start, signals, activity and timer outcomes, child
 *     workflows, cancellation) are gathered into the next activation;
 *   - a WorkflowTaskStarted that was not followed by a failure or timeout of that task ends an
 *     activation: the gathered events are applied, the coroutines run until every one waits, and
 *     the commands they made are queued;
 *   - the events a WorkflowTaskCompleted is followed by are the recorded commands: each must
 *     match, in order, the oldest queued command (by kind and id), or the code is not the code
 *     that ran: a non-determinism error naming both.
 * The last activation of a task that ends with its WorkflowTaskStarted is the new one: its
 * commands are the task's answer. Values recorded in the commands themselves (patch and side
 * effect markers, accepted updates) are read ahead from the recorded commands before a replayed
 * activation runs, so that the code gets the same answers as when it first ran. */
#include "workflow_run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "coroutine.h"
#include "json_text.h"
#include "log.h"
#include "uuid.h"
#include "workflow_failure.h"
#include "temporal/api/enums/v1/command_type.pb-c.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "temporal/api/update/v1/message.pb-c.h"

#define NOT_READY 1 /* a wait check's answer while the coroutine must go on waiting */
/* Coroutines one run may have at once: each is a stack mapping and a guard page, and a process
 * has about 65,000 mappings for every run it caches. */
#define MAX_COROUTINES 256
/* Blocking calls a coroutine may make once its run is torn down (each returns
 * PORTICO_WAIT_EVICTED at once) before it is abandoned: code that ignores the eviction and loops
 * must not hold the worker's thread for ever. */
#define MAX_EVICTED_CALLS 64
#define PATCH_MARKER      "core_patch"
#define PATCH_DETAILS     "patch_data"
#define SIDE_EFFECT       "SideEffect"
#define SIDE_EFFECT_ID    "side-effect-id"
#define SIDE_EFFECT_DATA  "data"
#define STACK_TRACE       "__stack_trace"
#define UPDATE_REQUEST    "type.googleapis.com/temporal.api.update.v1.Request"
#define UPDATE_ACCEPT     "type.googleapis.com/temporal.api.update.v1.Acceptance"
#define UPDATE_REJECT     "type.googleapis.com/temporal.api.update.v1.Rejection"
#define UPDATE_RESPONSE   "type.googleapis.com/temporal.api.update.v1.Response"

typedef Temporal__Api__Update__V1__Request update_request;

enum op_kind { OP_ACTIVITY, OP_TIMER, OP_CHILD, OP_SIGNAL };

struct portico_workflow {
	workflow_run *run;
};

struct portico_workflow_scope {
	int cancelled;
	struct workflow_run *run;            /* the run that owns it */
	struct portico_workflow_scope *next; /* the run's list */
};

struct portico_workflow_future {
	enum op_kind kind;
	char *id;   /* activity id, timer id, child workflow id, signalled workflow id */
	char *type; /* activity type, child workflow type, signal name: for messages */
	portico_cancellation_type cancellation;
	portico_workflow_scope *scope;
	int64_t event_id;        /* the event that recorded its command (0 until matched) */
	struct pending *command; /* its command while it is not yet recorded */
	int resolved;
	int outcome; /* PORTICO_WAIT_* once resolved */
	json_t *result;
	portico_workflow_failure *failure;
	int cancel_sent;
	/* children */
	int child_started, child_start_failed;
	char *child_run_id;
	workflow_run *run;
	/* the run's lists: open futures (doubly linked, searched by every outcome event), then
	 * resolved ones (kept for awaits again and late outcomes of cancelled operations) */
	struct portico_workflow_future *prev, *next;
};

/* A command made and not yet matched with the event that records it. */
typedef struct pending {
	workflow_command *command;
	portico_workflow_future *future; /* what it starts, cancels (NULL for markers, closes, updates) */
	char *update_id;                 /* protocol messages: the update they accept or complete */
	int completes_update;
	uint64_t activation; /* which activation made it */
	struct pending *next;
} pending;

typedef struct wf_coro wf_coro;
typedef int (*wait_check)(wf_coro *c);

struct wf_coro {
	coroutine *co;
	workflow_run *run;
	void (*fn)(portico_workflow *wf, void *arg);
	void *arg;
	int started;   /* resumed at least once */
	int abandoned; /* kept calling after its run's teardown: never resumed again */
	unsigned evicted_calls;
	int cancellable;    /* cancelled with the workflow */
	int cancel_pending; /* the workflow was cancelled and this coroutine's waits have not seen it */
	/* what it waits for (check NULL: runnable, or not started) */
	wait_check check;
	portico_workflow_future *const *futures;
	size_t future_count;
	int any; /* await_any: the first resolved ends the wait, and cancelling it cancels none */
	size_t *index;
	int (*condition)(void *arg);
	void *condition_arg;
	const char *signal_name;
	json_t **signal_args;
	portico_workflow_future *timeout;
	int woke;          /* what the check answered */
	char *waiting_for; /* for __stack_trace */
	char *name;
	struct wf_coro *next;
};

typedef struct handler {
	char *name;
	portico_workflow_signal_fn signal;
	portico_workflow_query_fn query;
	portico_workflow_update_fn update;
	portico_workflow_update_validator validator;
	void *arg;
	struct handler *next;
} handler;

/* What the workflow gave portico_workflow_on_free: freed with the run. */
typedef struct keepsake {
	void (*free_fn)(void *data);
	void *data;
	struct keepsake *next;
} keepsake;

typedef struct buffered_signal {
	char *name;
	json_t *args;
	struct buffered_signal *next;
} buffered_signal;

typedef struct update_run {
	workflow_run *run;
	char *update_id;
	char *message_id;
	Temporal__Api__Update__V1__Meta *meta;
	const handler *h;
	json_t *args;
} update_run;

typedef struct patch {
	char *id;
	int taken;
	struct patch *next;
} patch;

/* What a replayed activation reads ahead in the commands recorded after it. */
typedef struct lookahead {
	char **patches;
	size_t patch_count;
	json_t *side_effects;      /* id (as text) → value */
	workflow_event **accepted; /* WorkflowExecutionUpdateAccepted events */
	size_t accepted_count;
} lookahead;

struct workflow_run {
	struct portico_workflow wf;
	workflow_run_options options;
	char *namespace_name, *workflow_id, *run_id;
	const workflow_definition *definition;
	portico_workflow_info info;
	char *info_strings[8];
	portico_payloads *input;
	json_t *memo;
	int started;
	int64_t last_event_id;
	int64_t rewind_to; /* see workflow_run_rewind: 0, or where the last task began */
	int64_t now_ms;
	int replaying;
	uint64_t activation;
	uint64_t random_state;
	int64_t activity_seq, timer_seq, child_seq, signal_seq, side_effect_seq;
	int cancel_requested;
	int evicting;
	int read_only;     /* a query or a validator runs: nothing may be recorded or advanced */
	int closed;        /* a closing command was made */
	int close_outcome; /* what the main function returned */
	json_t *result;
	portico_workflow_failure *failure;
	json_t *continue_args;
	char *continue_type, *continue_queue;
	wf_coro *coros, *current;
	handler *handlers;
	keepsake *keepsakes;
	buffered_signal *signals;
	portico_workflow_any_signal_fn any_signal; /* signals no named handler takes, if set */
	void *any_signal_arg;
	patch *patches;
	portico_workflow_scope *scopes;
	portico_workflow_future *open_futures, *done_futures;
	pending *pending_head, *pending_tail;
	lookahead ahead;
	update_request **admitted; /* requests of UpdateAdmitted events (copies) */
	size_t admitted_count;
	/* the live activation's output */
	workflow_run_output output;
	workflow_message **messages;
	size_t message_count;
	/* a problem found inside workflow code (a side effect missing on replay, say) */
	workflow_run_problem problem;
	char *problem_message;
};

/* ---- Small helpers ---------------------------------------------------------------------------- */

static workflow_run *run_of(portico_workflow *wf)
{
	return wf->run;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? portico_strdup(s) : NULL;
}

static const char *text(const char *s)
{
	return s ? s : "";
}

/* "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" → "ActivityTaskScheduled", into out. */
static const char *enum_camel(const ProtobufCEnumDescriptor *descriptor, int value, const char *prefix, char *out,
                              size_t size)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(descriptor, value);
	if (!v) {
		snprintf(out, size, "%d", value);
		return out;
	}
	const char *name = v->name;
	size_t skip = strlen(prefix);
	if (!strncmp(name, prefix, skip))
		name += skip;
	size_t o = 0;
	int upper = 1;
	for (; *name && o + 1 < size; name++) {
		if (*name == '_') {
			upper = 1;
			continue;
		}
		out[o++] = upper ? *name : (char)(*name >= 'A' && *name <= 'Z' ? *name + 32 : *name);
		upper = 0;
	}
	out[o] = 0;
	return out;
}

static const char *event_name(const workflow_event *e, char *out, size_t size)
{
	return enum_camel(&temporal__api__enums__v1__event_type__descriptor, e->event_type, "EVENT_TYPE_", out, size);
}

static const char *command_name(const workflow_command *c, char *out, size_t size)
{
	return enum_camel(&temporal__api__enums__v1__command_type__descriptor, c->command_type, "COMMAND_TYPE_", out,
	                  size);
}

static void set_problem(workflow_run *run, workflow_run_problem problem, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

static void set_problem(workflow_run *run, workflow_run_problem problem, const char *format, ...)
{
	if (run->problem)
		return;
	va_list ap;
	va_start(ap, format);
	char *message = portico_vsprintf(format, ap);
	va_end(ap);
	run->problem = problem;
	run->problem_message = message;
}

static Google__Protobuf__Duration *duration_new(int64_t ms)
{
	if (ms <= 0)
		return NULL;
	Google__Protobuf__Duration *d = portico_malloc(sizeof *d);
	google__protobuf__duration__init(d);
	d->seconds = ms / 1000;
	d->nanos = (int32_t)(ms % 1000) * 1000000;
	return d;
}

static int64_t timestamp_ms(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * 1000 + t->nanos / 1000000 : 0;
}

void *workflow_proto_copy(const ProtobufCMessage *message)
{
	if (!message)
		return NULL;
	size_t size = protobuf_c_message_get_packed_size(message);
	uint8_t *buffer = portico_malloc(size ? size : 1);
	protobuf_c_message_pack(message, buffer);
	ProtobufCMessage *copy = protobuf_c_message_unpack(message->descriptor, NULL, size, buffer);
	free(buffer);
	return copy; /* NULL only when out of memory: the wire form came from a valid message */
}

/* One JSON value as a payload (NULL for null). */
static portico_payloads *value_payloads(json_t *value)
{
	json_t *array = json_array();
	json_array_append(array, value ? value : json_null());
	portico_payloads *payloads = portico_payloads_of_values(array);
	json_decref(array);
	return payloads;
}

/* Each value of args (an array, or NULL for none) as a payload. */
static portico_payloads *args_payloads(json_t *args)
{
	if (!json_is_array(args)) {
		json_t *none = json_array();
		portico_payloads *payloads = portico_payloads_of_values(none);
		json_decref(none);
		return payloads;
	}
	return portico_payloads_of_values(args);
}

/* ---- Commands --------------------------------------------------------------------------------- */

static workflow_command *command_new(Temporal__Api__Enums__V1__CommandType type)
{
	workflow_command *c = portico_malloc(sizeof *c);
	temporal__api__command__v1__command__init(c);
	c->command_type = type;
	return c;
}

/* Queues a command made by the code (NULL while tearing down, or once the run has closed: then
 * nothing more is recorded). */
static pending *add_command(workflow_run *run, workflow_command *command, portico_workflow_future *future)
{
	if (run->evicting || run->closed || run->read_only) {
		protobuf_c_message_free_unpacked(&command->base, NULL);
		return NULL;
	}
	pending *p = portico_calloc(1, sizeof *p);
	p->command = command;
	p->future = future;
	p->activation = run->activation;
	if (run->pending_tail)
		run->pending_tail->next = p;
	else
		run->pending_head = p;
	run->pending_tail = p;
	return p;
}

static void pending_free(pending *p)
{
	protobuf_c_message_free_unpacked(&p->command->base, NULL);
	free(p->update_id);
	free(p);
}

/* Takes a command of this activation back (its operation was cancelled before it was sent). */
static void remove_command(workflow_run *run, pending *target)
{
	pending *prev = NULL;
	for (pending *p = run->pending_head; p; prev = p, p = p->next) {
		if (p != target)
			continue;
		if (prev)
			prev->next = p->next;
		else
			run->pending_head = p->next;
		if (run->pending_tail == p)
			run->pending_tail = prev;
		pending_free(p);
		return;
	}
}

static Temporal__Api__Taskqueue__V1__TaskQueue *task_queue_new(const char *name)
{
	Temporal__Api__Taskqueue__V1__TaskQueue *q = portico_malloc(sizeof *q);
	temporal__api__taskqueue__v1__task_queue__init(q);
	q->name = portico_strdup(name);
	q->kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
	return q;
}

static Temporal__Api__Common__V1__RetryPolicy *retry_policy_new(const portico_retry_policy *r)
{
	if (!r)
		return NULL;
	Temporal__Api__Common__V1__RetryPolicy *p = portico_malloc(sizeof *p);
	temporal__api__common__v1__retry_policy__init(p);
	p->initial_interval = duration_new(r->initial_interval_ms);
	p->backoff_coefficient = r->backoff_coefficient;
	p->maximum_interval = duration_new(r->maximum_interval_ms);
	p->maximum_attempts = r->maximum_attempts;
	size_t n = 0;
	while (r->non_retryable_error_types && r->non_retryable_error_types[n])
		n++;
	if (n) {
		p->non_retryable_error_types = portico_calloc(n, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			p->non_retryable_error_types[i] = portico_strdup(r->non_retryable_error_types[i]);
		p->n_non_retryable_error_types = n;
	}
	return p;
}

static workflow_command *marker_command(const char *name, const char *key1, portico_payloads *value1, const char *key2,
                                        portico_payloads *value2)
{
	workflow_command *c = command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_RECORD_MARKER);
	Temporal__Api__Command__V1__RecordMarkerCommandAttributes *a = portico_malloc(sizeof *a);
	temporal__api__command__v1__record_marker_command_attributes__init(a);
	a->marker_name = portico_strdup(name);
	a->n_details = key2 ? 2 : 1;
	a->details = portico_calloc(a->n_details, sizeof *a->details);
	const char *keys[2] = {key1, key2};
	portico_payloads *values[2] = {value1, value2};
	for (size_t i = 0; i < a->n_details; i++) {
		a->details[i] = portico_malloc(sizeof *a->details[i]);
		temporal__api__command__v1__record_marker_command_attributes__details_entry__init(a->details[i]);
		a->details[i]->key = portico_strdup(keys[i]);
		a->details[i]->value = values[i];
	}
	c->attributes_case = TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_RECORD_MARKER_COMMAND_ATTRIBUTES;
	c->record_marker_command_attributes = a;
	return c;
}

/* ---- Futures ---------------------------------------------------------------------------------- */

static portico_workflow_future *future_new(workflow_run *run, enum op_kind kind, const char *id, const char *type)
{
	portico_workflow_future *f = portico_calloc(1, sizeof *f);
	f->kind = kind;
	f->id = portico_strdup(id);
	f->type = portico_strdup(text(type));
	f->run = run;
	f->next = run->open_futures;
	if (f->next)
		f->next->prev = f;
	run->open_futures = f;
	return f;
}

/* Resolves f (once): outcome, and the result or failure it takes. */
static void resolve(portico_workflow_future *f, int outcome, json_t *result, portico_workflow_failure *failure)
{
	if (f->resolved) {
		json_decref(result);
		portico_workflow_failure_free(failure);
		return;
	}
	workflow_run *run = f->run;
	if (f->prev)
		f->prev->next = f->next;
	else
		run->open_futures = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = NULL;
	f->next = run->done_futures;
	run->done_futures = f;
	f->resolved = 1;
	f->outcome = outcome;
	f->result = result;
	f->failure = failure;
	if (f->kind == OP_CHILD && !f->child_started)
		f->child_start_failed = 1;
}

static portico_workflow_future *find_in(portico_workflow_future *f, enum op_kind kind, int64_t event_id, const char *id)
{
	for (; f; f = f->next)
		if (f->kind == kind && (event_id ? f->event_id == event_id : (id && !strcmp(f->id, id))))
			return f;
	return NULL;
}

/* The operation an outcome event is about: among the open ones first, which are few. */
static portico_workflow_future *find_future(workflow_run *run, enum op_kind kind, int64_t event_id, const char *id)
{
	portico_workflow_future *f = find_in(run->open_futures, kind, event_id, id);
	return f ? f : find_in(run->done_futures, kind, event_id, id);
}

static void cancel_future(workflow_run *run, portico_workflow_future *f)
{
	if (f->resolved || f->cancel_sent || run->read_only)
		return;
	if (f->command && f->command->activation == run->activation && !f->event_id) {
		/* Made in this activation and never sent: take the command back. */
		remove_command(run, f->command);
		f->command = NULL;
		resolve(f, PORTICO_WAIT_CANCELED, NULL, NULL);
		return;
	}
	f->cancel_sent = 1;
	workflow_command *c = NULL;
	switch (f->kind) {
	case OP_ACTIVITY:
		if (f->cancellation != PORTICO_CANCEL_ABANDON) {
			c = command_new(
			        TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK);
			c->attributes_case =
			        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_REQUEST_CANCEL_ACTIVITY_TASK_COMMAND_ATTRIBUTES;
			c->request_cancel_activity_task_command_attributes =
			        portico_malloc(sizeof *c->request_cancel_activity_task_command_attributes);
			temporal__api__command__v1__request_cancel_activity_task_command_attributes__init(
			        c->request_cancel_activity_task_command_attributes);
			c->request_cancel_activity_task_command_attributes->scheduled_event_id = f->event_id;
		}
		break;
	case OP_TIMER:
		c = command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CANCEL_TIMER);
		c->attributes_case = TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_CANCEL_TIMER_COMMAND_ATTRIBUTES;
		c->cancel_timer_command_attributes = portico_malloc(sizeof *c->cancel_timer_command_attributes);
		temporal__api__command__v1__cancel_timer_command_attributes__init(c->cancel_timer_command_attributes);
		c->cancel_timer_command_attributes->timer_id = portico_strdup(f->id);
		break;
	case OP_CHILD:
		if (f->cancellation != PORTICO_CANCEL_ABANDON) {
			c = command_new(
			        TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION);
			Temporal__Api__Command__V1__RequestCancelExternalWorkflowExecutionCommandAttributes *a =
			        portico_malloc(sizeof *a);
			temporal__api__command__v1__request_cancel_external_workflow_execution_command_attributes__init(
			        a);
			a->namespace_ = portico_strdup(run->namespace_name);
			a->workflow_id = portico_strdup(f->id);
			a->child_workflow_only = 1;
			c->attributes_case =
			        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
			c->request_cancel_external_workflow_execution_command_attributes = a;
		}
		break;
	case OP_SIGNAL:
		break; /* a signal cannot be called back; its future only stops being waited for */
	}
	if (c)
		add_command(run, c, f);
	/* Only activities and children cancelled with PORTICO_CANCEL_WAIT wait for their end. */
	if (f->kind == OP_TIMER || f->kind == OP_SIGNAL || f->cancellation != PORTICO_CANCEL_WAIT)
		resolve(f, PORTICO_WAIT_CANCELED, NULL, NULL);
}

/* ---- Coroutines ------------------------------------------------------------------------------- */

static void coro_main(void *arg)
{
	wf_coro *c = arg;
	c->fn(&c->run->wf, c->arg);
}

static void set_problem(workflow_run *run, workflow_run_problem problem, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* A new coroutine at the end of the run's list, or NULL with the run's problem set when the run
 * has too many or no stack can be mapped (the task fails; the worker lives on). */
static wf_coro *spawn(workflow_run *run, const char *name, void (*fn)(portico_workflow *, void *), void *arg,
                      int cancellable)
{
	size_t count = 0;
	wf_coro **tail = &run->coros;
	for (; *tail; tail = &(*tail)->next)
		count++;
	if (count >= MAX_COROUTINES) {
		set_problem(run, WORKFLOW_RUN_RESOURCES,
		            "the run has %zu coroutines, the most it may have: no room for %s", count, name);
		return NULL;
	}
	wf_coro *c = portico_calloc(1, sizeof *c);
	c->co = coroutine_new(run->options.stack_bytes, coro_main, c);
	if (!c->co) {
		free(c);
		set_problem(run, WORKFLOW_RUN_RESOURCES, "no memory for the stack of another coroutine (%s)", name);
		return NULL;
	}
	c->run = run;
	c->fn = fn;
	c->arg = arg;
	c->cancellable = cancellable;
	c->name = portico_strdup(name);
	*tail = c;
	return c;
}

static void coro_free(wf_coro *c)
{
	coroutine_free(c->co);
	free(c->waiting_for);
	free(c->name);
	free(c);
}

/* Blocks the calling coroutine until check answers something other than NOT_READY, or the run is
 * torn down. Outside a coroutine (a query or signal handler) nothing can wait. */
static int block(workflow_run *run, wait_check check, char *waiting_for)
{
	wf_coro *c = run->current;
	if (run->evicting && c && ++c->evicted_calls > MAX_EVICTED_CALLS) {
		free(waiting_for);
		c->abandoned = 1; /* it ignores the teardown: left suspended for good, its stack unmapped */
		coroutine_yield();
	}
	if (run->evicting || !c || run->read_only) {
		free(waiting_for);
		return PORTICO_WAIT_EVICTED;
	}
	int r = check(c);
	if (r != NOT_READY) {
		free(waiting_for);
		return r;
	}
	free(c->waiting_for);
	c->waiting_for = waiting_for;
	c->check = check;
	coroutine_yield();
	c->check = NULL;
	return c->woke;
}

static int future_state(portico_workflow_future *f)
{
	return f->resolved ? f->outcome : NOT_READY;
}

static int check_futures(wf_coro *c)
{
	if (c->cancel_pending) {
		c->cancel_pending = 0;
		if (c->any)
			return PORTICO_WAIT_CANCELED;
		cancel_future(c->run, (portico_workflow_future *)c->futures[0]); /* cancelling the wait cancels it */
	}
	for (size_t i = 0; i < c->future_count; i++) {
		if (c->futures[i]->resolved) {
			if (c->index)
				*c->index = i;
			return c->any ? PORTICO_WAIT_DONE : future_state(c->futures[i]);
		}
	}
	return NOT_READY;
}

static int check_child_started(wf_coro *c)
{
	portico_workflow_future *f = (portico_workflow_future *)c->futures[0];
	if (f->child_started)
		return PORTICO_WAIT_DONE;
	if (f->resolved)
		return f->outcome == PORTICO_WAIT_DONE ? PORTICO_WAIT_FAILED : f->outcome;
	return check_futures(c);
}

static int take_signal(wf_coro *c)
{
	workflow_run *run = c->run;
	for (buffered_signal **s = &run->signals; *s; s = &(*s)->next) {
		if (strcmp((*s)->name, c->signal_name))
			continue;
		buffered_signal *found = *s;
		*s = found->next;
		*c->signal_args = found->args;
		free(found->name);
		free(found);
		return PORTICO_WAIT_DONE;
	}
	return NOT_READY;
}

static int check_condition(wf_coro *c)
{
	int r = c->signal_name ? take_signal(c) : (c->condition(c->condition_arg) ? PORTICO_WAIT_DONE : NOT_READY);
	if (r == NOT_READY && c->cancel_pending) {
		c->cancel_pending = 0;
		r = PORTICO_WAIT_CANCELED;
	}
	if (r == NOT_READY && c->timeout && c->timeout->resolved)
		r = c->timeout->outcome == PORTICO_WAIT_DONE ? PORTICO_WAIT_TIMEOUT : c->timeout->outcome;
	if (r != NOT_READY && c->timeout && !c->timeout->resolved)
		cancel_future(c->run, c->timeout);
	return r;
}

static const handler *find_handler(const workflow_run *run, const char *name, int kind);

/* Delivers the signals kept because no handler was registered when they came, to the handlers
 * registered since, in the order they came: run when a coroutine has just yielded, so that a
 * workflow registering its handlers one after the other ("approve", then "reject") still sees a
 * "reject" sent before an "approve" first. */
static void drain_signals(workflow_run *run)
{
	for (buffered_signal **s = &run->signals; *s;) {
		const handler *h = find_handler(run, (*s)->name, 0);
		if (!h && !run->any_signal) {
			s = &(*s)->next;
			continue;
		}
		buffered_signal *found = *s;
		*s = found->next;
		if (h)
			h->signal(&run->wf, found->args, h->arg);
		else
			run->any_signal(&run->wf, found->name, found->args, run->any_signal_arg);
		json_decref(found->args);
		free(found->name);
		free(found);
	}
}

/* Runs every coroutine that can go on, in creation order, until all wait or have returned. */
static void run_until_blocked(workflow_run *run)
{
	for (int progressed = 1; progressed;) {
		progressed = 0;
		for (wf_coro *c = run->coros; c; c = c->next) {
			if (coroutine_finished(c->co) || c->abandoned || (run->evicting && !c->started))
				continue;
			if (c->check) {
				int r = run->evicting ? PORTICO_WAIT_EVICTED : c->check(c);
				if (r == NOT_READY)
					continue;
				c->woke = r;
			}
			run->current = c;
			c->started = 1;
			coroutine_resume(c->co);
			run->current = NULL;
			progressed = 1;
			if (!run->evicting)
				drain_signals(run);
		}
	}
	for (wf_coro **c = &run->coros; *c;) {
		if (coroutine_finished((*c)->co)) {
			wf_coro *done = *c;
			*c = done->next;
			coro_free(done);
		} else {
			c = &(*c)->next;
		}
	}
}

/* ---- The workflow's close ----------------------------------------------------------------------- */

static void close_run(workflow_run *run, int outcome)
{
	if (run->closed || run->evicting)
		return;
	workflow_command *c;
	switch (outcome) {
	case PORTICO_WORKFLOW_COMPLETED: {
		c = command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
		Temporal__Api__Command__V1__CompleteWorkflowExecutionCommandAttributes *a = portico_malloc(sizeof *a);
		temporal__api__command__v1__complete_workflow_execution_command_attributes__init(a);
		a->result = value_payloads(run->result);
		c->attributes_case =
		        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_COMPLETE_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
		c->complete_workflow_execution_command_attributes = a;
		break;
	}
	case PORTICO_WORKFLOW_CANCELED: {
		c = command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION);
		Temporal__Api__Command__V1__CancelWorkflowExecutionCommandAttributes *a = portico_malloc(sizeof *a);
		temporal__api__command__v1__cancel_workflow_execution_command_attributes__init(a);
		c->attributes_case =
		        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_CANCEL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
		c->cancel_workflow_execution_command_attributes = a;
		break;
	}
	case PORTICO_WORKFLOW_CONTINUE_AS_NEW: {
		c = command_new(
		        TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION);
		Temporal__Api__Command__V1__ContinueAsNewWorkflowExecutionCommandAttributes *a =
		        portico_malloc(sizeof *a);
		temporal__api__command__v1__continue_as_new_workflow_execution_command_attributes__init(a);
		a->workflow_type = portico_malloc(sizeof *a->workflow_type);
		temporal__api__common__v1__workflow_type__init(a->workflow_type);
		a->workflow_type->name =
		        portico_strdup(run->continue_type ? run->continue_type : run->info.workflow_type);
		a->task_queue = task_queue_new(run->continue_queue ? run->continue_queue : run->info.task_queue);
		a->input = args_payloads(run->continue_args);
		c->attributes_case =
		        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_CONTINUE_AS_NEW_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
		c->continue_as_new_workflow_execution_command_attributes = a;
		break;
	}
	default: {
		c = command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION);
		Temporal__Api__Command__V1__FailWorkflowExecutionCommandAttributes *a = portico_malloc(sizeof *a);
		temporal__api__command__v1__fail_workflow_execution_command_attributes__init(a);
		a->failure = workflow_failure_to_proto(run->failure);
		c->attributes_case =
		        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_FAIL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
		c->fail_workflow_execution_command_attributes = a;
		break;
	}
	}
	add_command(run, c, NULL);
	run->closed = 1;
}

static void workflow_main(portico_workflow *wf, void *arg)
{
	(void)arg;
	workflow_run *run = run_of(wf);
	int outcome = run->definition->fn(wf, run->definition->user_data);
	if (!run->evicting)
		close_run(run, outcome);
}

/* ---- Applying events -------------------------------------------------------------------------- */

static void deliver_signal(workflow_run *run, const char *name, json_t *args)
{
	for (const handler *h = run->handlers; h; h = h->next) {
		if (h->signal && !strcmp(h->name, name)) {
			h->signal(&run->wf, args, h->arg);
			json_decref(args);
			return;
		}
	}
	if (run->any_signal) {
		run->any_signal(&run->wf, name, args, run->any_signal_arg);
		json_decref(args);
		return;
	}
	buffered_signal *s = portico_calloc(1, sizeof *s);
	s->name = portico_strdup(name);
	s->args = args;
	buffered_signal **tail = &run->signals;
	while (*tail)
		tail = &(*tail)->next;
	*tail = s;
}

/* The workflow's cancellation reaches what each cancellable coroutine waits for, now or next. */
static void deliver_cancel(workflow_run *run)
{
	run->cancel_requested = 1;
	for (wf_coro *c = run->coros; c; c = c->next)
		if (c->cancellable)
			c->cancel_pending = 1;
}

static void start_run(workflow_run *run, const workflow_event *e)
{
	const Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes *a =
	        e->workflow_execution_started_event_attributes;
	const char *type = a->workflow_type ? a->workflow_type->name : NULL;
	if (run->started) {
		set_problem(run, WORKFLOW_RUN_BAD_HISTORY, "history event %lld starts the workflow a second time",
		            (long long)e->event_id);
		return;
	}
	run->definition = type ? run->options.lookup(run->options.lookup_arg, type) : NULL;
	if (!run->definition) {
		set_problem(run, WORKFLOW_RUN_UNREGISTERED,
		            "workflow type \"%s\" is not registered on this worker (registered types are listed in its "
		            "start log line)",
		            text(type));
		return;
	}
	if (!run->workflow_id)
		run->workflow_id = dup_or_null(a->workflow_id);
	if (!run->run_id)
		run->run_id = dup_or_null(a->original_execution_run_id);
	char **s = run->info_strings;
	run->info.namespace_name = run->namespace_name;
	run->info.workflow_id = text(run->workflow_id);
	run->info.run_id = text(run->run_id);
	run->info.workflow_type = s[0] = portico_strdup(type);
	run->info.task_queue = s[1] = portico_strdup(a->task_queue ? text(a->task_queue->name) : "");
	run->info.first_execution_run_id = s[2] = portico_strdup(text(a->first_execution_run_id));
	run->info.continued_from_run_id = s[3] = dup_or_null(a->continued_execution_run_id);
	if (a->parent_workflow_execution) {
		run->info.parent_workflow_id = s[4] = dup_or_null(a->parent_workflow_execution->workflow_id);
		run->info.parent_run_id = s[5] = dup_or_null(a->parent_workflow_execution->run_id);
	}
	run->info.attempt = a->attempt ? a->attempt : 1;
	run->info.start_time_ms = timestamp_ms(e->event_time);
	run->input = workflow_proto_copy(a->input ? &a->input->base : NULL);
	run->memo = json_object();
	for (size_t i = 0; a->memo && i < a->memo->n_fields; i++)
		json_object_set_new(run->memo, a->memo->fields[i]->key,
		                    portico_payload_value(a->memo->fields[i]->value));
	/* The run's random sequence: FNV-1a of its original run id. */
	uint64_t seed = 1469598103934665603ULL;
	for (const char *p = text(a->original_execution_run_id); *p; p++)
		seed = (seed ^ (uint8_t)*p) * 1099511628211ULL;
	run->random_state = seed;
	run->started = 1;
	spawn(run, "main", workflow_main, NULL, 1);
}

/* Resolves the activity scheduled as event scheduled: with result, or, when failure is not NULL,
 * failed with an activity failure ("… failed" or "… timed out", how) caused by failure. */
static void activity_outcome(workflow_run *run, int64_t scheduled, int outcome, json_t *result,
                             const Temporal__Api__Failure__V1__Failure *failure, const char *how)
{
	portico_workflow_future *f = find_future(run, OP_ACTIVITY, scheduled, NULL);
	if (!f) {
		set_problem(run, WORKFLOW_RUN_BAD_HISTORY,
		            "an activity outcome refers to scheduled event %lld, which this run did not schedule",
		            (long long)scheduled);
		json_decref(result);
		return;
	}
	portico_workflow_failure *wrap = NULL;
	if (failure) {
		wrap = workflow_failure_make("activity", "activity %s (id %s) %s", f->type, f->id, how);
		wrap->cause = workflow_failure_from_proto(failure);
	}
	resolve(f, outcome, result, wrap);
}

static void child_outcome(workflow_run *run, int64_t initiated, int outcome, json_t *result,
                          portico_workflow_failure *failure)
{
	portico_workflow_future *f = find_future(run, OP_CHILD, initiated, NULL);
	if (!f) {
		set_problem(run, WORKFLOW_RUN_BAD_HISTORY,
		            "a child workflow event refers to initiated event %lld, which "
		            "this run did not initiate",
		            (long long)initiated);
		json_decref(result);
		portico_workflow_failure_free(failure);
		return;
	}
	resolve(f, outcome, result, failure);
}

/* A child that closed without a failure of its own (cancelled, timed out, terminated). */
static portico_workflow_failure *child_failure(const char *kind, const char *message)
{
	portico_workflow_failure *f = workflow_failure_make("child_workflow", "child workflow %s", message);
	f->cause = workflow_failure_make(kind, "%s", message);
	return f;
}

/* Applies one event of an activation. */
static void apply_event(workflow_run *run, const workflow_event *e)
{
	switch (e->attributes_case) {
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_STARTED_EVENT_ATTRIBUTES:
		start_run(run, e);
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_SIGNALED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__WorkflowExecutionSignaledEventAttributes *a =
		        e->workflow_execution_signaled_event_attributes;
		deliver_signal(run, text(a->signal_name), portico_payloads_values(a->input));
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_CANCEL_REQUESTED_EVENT_ATTRIBUTES:
		deliver_cancel(run);
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_ACTIVITY_TASK_COMPLETED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *a =
		        e->activity_task_completed_event_attributes;
		activity_outcome(run, a->scheduled_event_id, PORTICO_WAIT_DONE, portico_payloads_first_value(a->result),
		                 NULL, NULL);
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_ACTIVITY_TASK_FAILED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__ActivityTaskFailedEventAttributes *a =
		        e->activity_task_failed_event_attributes;
		activity_outcome(run, a->scheduled_event_id, PORTICO_WAIT_FAILED, NULL, a->failure, "failed");
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_ACTIVITY_TASK_TIMED_OUT_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__ActivityTaskTimedOutEventAttributes *a =
		        e->activity_task_timed_out_event_attributes;
		activity_outcome(run, a->scheduled_event_id, PORTICO_WAIT_FAILED, NULL, a->failure, "timed out");
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_ACTIVITY_TASK_CANCELED_EVENT_ATTRIBUTES:
		activity_outcome(run, e->activity_task_canceled_event_attributes->scheduled_event_id,
		                 PORTICO_WAIT_CANCELED, NULL, NULL, NULL);
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_TIMER_FIRED_EVENT_ATTRIBUTES: {
		portico_workflow_future *f =
		        find_future(run, OP_TIMER, 0, text(e->timer_fired_event_attributes->timer_id));
		if (f)
			resolve(f, PORTICO_WAIT_DONE, NULL, NULL);
		else
			set_problem(run, WORKFLOW_RUN_BAD_HISTORY, "timer %s fired, but this run never started it",
			            text(e->timer_fired_event_attributes->timer_id));
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_CHILD_WORKFLOW_EXECUTION_STARTED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__ChildWorkflowExecutionStartedEventAttributes *a =
		        e->child_workflow_execution_started_event_attributes;
		portico_workflow_future *f = find_future(run, OP_CHILD, a->initiated_event_id, NULL);
		if (!f) {
			set_problem(run, WORKFLOW_RUN_BAD_HISTORY,
			            "child started from initiated event %lld, unknown to this run",
			            (long long)a->initiated_event_id);
			break;
		}
		if (f->child_started)
			break; /* told twice: the first is the one */
		f->child_started = 1;
		f->child_run_id = dup_or_null(a->workflow_execution ? a->workflow_execution->run_id : NULL);
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_START_CHILD_WORKFLOW_EXECUTION_FAILED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__StartChildWorkflowExecutionFailedEventAttributes *a =
		        e->start_child_workflow_execution_failed_event_attributes;
		child_outcome(run, a->initiated_event_id, PORTICO_WAIT_FAILED, NULL,
		              workflow_failure_make("child_workflow",
		                                    "child workflow %s could not start: a workflow with this id "
		                                    "exists",
		                                    text(a->workflow_id)));
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_CHILD_WORKFLOW_EXECUTION_COMPLETED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__ChildWorkflowExecutionCompletedEventAttributes *a =
		        e->child_workflow_execution_completed_event_attributes;
		child_outcome(run, a->initiated_event_id, PORTICO_WAIT_DONE, portico_payloads_first_value(a->result),
		              NULL);
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_CHILD_WORKFLOW_EXECUTION_FAILED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__ChildWorkflowExecutionFailedEventAttributes *a =
		        e->child_workflow_execution_failed_event_attributes;
		portico_workflow_failure *f = workflow_failure_make("child_workflow", "child workflow failed");
		f->cause = workflow_failure_from_proto(a->failure);
		child_outcome(run, a->initiated_event_id, PORTICO_WAIT_FAILED, NULL, f);
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_CHILD_WORKFLOW_EXECUTION_CANCELED_EVENT_ATTRIBUTES:
		child_outcome(run, e->child_workflow_execution_canceled_event_attributes->initiated_event_id,
		              PORTICO_WAIT_CANCELED, NULL, NULL);
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_CHILD_WORKFLOW_EXECUTION_TIMED_OUT_EVENT_ATTRIBUTES:
		child_outcome(run, e->child_workflow_execution_timed_out_event_attributes->initiated_event_id,
		              PORTICO_WAIT_FAILED, NULL, child_failure("timeout", "timed out"));
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_CHILD_WORKFLOW_EXECUTION_TERMINATED_EVENT_ATTRIBUTES:
		child_outcome(run, e->child_workflow_execution_terminated_event_attributes->initiated_event_id,
		              PORTICO_WAIT_FAILED, NULL, child_failure("terminated", "was terminated"));
		break;
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED_EVENT_ATTRIBUTES: {
		portico_workflow_future *f =
		        find_future(run, OP_SIGNAL,
		                    e->external_workflow_execution_signaled_event_attributes->initiated_event_id, NULL);
		if (f)
			resolve(f, PORTICO_WAIT_DONE, NULL, NULL);
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__SignalExternalWorkflowExecutionFailedEventAttributes *a =
		        e->signal_external_workflow_execution_failed_event_attributes;
		portico_workflow_future *f = find_future(run, OP_SIGNAL, a->initiated_event_id, NULL);
		if (f)
			resolve(f, PORTICO_WAIT_FAILED, NULL,
			        workflow_failure_make("application",
			                              "signal %s to workflow %s failed: the workflow was not found",
			                              f->type, f->id));
		break;
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_UPDATE_ADMITTED_EVENT_ATTRIBUTES: {
		const update_request *request = e->workflow_execution_update_admitted_event_attributes->request;
		if (request) {
			run->admitted =
			        portico_realloc(run->admitted, (run->admitted_count + 1) * sizeof *run->admitted);
			run->admitted[run->admitted_count++] = workflow_proto_copy(&request->base);
		}
		break;
	}
	default: /* started activities, cancellations of others acknowledged, properties changed elsewhere */
		break;
	}
}

/* ---- Matching commands with the events that record them --------------------------------------- */

/* Event kinds this runtime cannot follow: the run's history uses a feature it lacks. */
static int is_unsupported_event(const workflow_event *e)
{
	return e->attributes_case >=
	               TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_NEXUS_OPERATION_SCHEDULED_EVENT_ATTRIBUTES &&
	       e->attributes_case !=
	               TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_OPTIONS_UPDATED_EVENT_ATTRIBUTES;
}

static const Temporal__Api__Common__V1__Payloads *marker_detail(const workflow_event *e, const char *key)
{
	const Temporal__Api__History__V1__MarkerRecordedEventAttributes *a = e->marker_recorded_event_attributes;
	for (size_t i = 0; a && i < a->n_details; i++)
		if (a->details[i]->key && !strcmp(a->details[i]->key, key))
			return a->details[i]->value;
	return NULL;
}

static const Temporal__Api__Common__V1__Payloads *command_marker_detail(const workflow_command *c, const char *key)
{
	const Temporal__Api__Command__V1__RecordMarkerCommandAttributes *a = c->record_marker_command_attributes;
	for (size_t i = 0; a && i < a->n_details; i++)
		if (a->details[i]->key && !strcmp(a->details[i]->key, key))
			return a->details[i]->value;
	return NULL;
}

/* The patch id of a core_patch marker's details (a new string), and whether it is deprecated. */
static char *patch_of(const Temporal__Api__Common__V1__Payloads *details, int *deprecated)
{
	json_t *value = portico_payloads_first_value(details);
	const char *id = json_string_value(json_object_get(value, "id"));
	char *out = id ? portico_strdup(id) : NULL;
	if (deprecated)
		*deprecated = json_is_true(json_object_get(value, "deprecated"));
	json_decref(value);
	return out;
}

/* A marker's identity: its name, and the patch or side effect it records. */
static char *marker_identity(const char *name, const Temporal__Api__Common__V1__Payloads *patch_data,
                             const Temporal__Api__Common__V1__Payloads *side_effect_id)
{
	if (!strcmp(name, PATCH_MARKER)) {
		char *id = patch_of(patch_data, NULL);
		char *s = portico_sprintf("marker %s, patch %s", name, text(id));
		free(id);
		return s;
	}
	if (!strcmp(name, SIDE_EFFECT)) {
		json_t *id = portico_payloads_first_value(side_effect_id);
		char *s = portico_sprintf("marker %s, id %lld", name, (long long)json_integer_value(id));
		json_decref(id);
		return s;
	}
	return portico_sprintf("marker %s", name);
}

/* What identifies an event's command, for matching and messages ("activity 1 order.reserve"). */
static char *event_identity(const workflow_event *e)
{
	switch (e->attributes_case) {
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_ACTIVITY_TASK_SCHEDULED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *a =
		        e->activity_task_scheduled_event_attributes;
		return portico_sprintf("activity id %s, type %s", text(a->activity_id),
		                       a->activity_type ? text(a->activity_type->name) : "");
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_ACTIVITY_TASK_CANCEL_REQUESTED_EVENT_ATTRIBUTES:
		return portico_sprintf(
		        "scheduled event %lld",
		        (long long)e->activity_task_cancel_requested_event_attributes->scheduled_event_id);
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_TIMER_STARTED_EVENT_ATTRIBUTES:
		return portico_sprintf("timer id %s", text(e->timer_started_event_attributes->timer_id));
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_TIMER_CANCELED_EVENT_ATTRIBUTES:
		return portico_sprintf("timer id %s", text(e->timer_canceled_event_attributes->timer_id));
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_MARKER_RECORDED_EVENT_ATTRIBUTES:
		return marker_identity(text(e->marker_recorded_event_attributes->marker_name),
		                       marker_detail(e, PATCH_DETAILS), marker_detail(e, SIDE_EFFECT_ID));
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_START_CHILD_WORKFLOW_EXECUTION_INITIATED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__StartChildWorkflowExecutionInitiatedEventAttributes *a =
		        e->start_child_workflow_execution_initiated_event_attributes;
		return portico_sprintf("workflow id %s, type %s", text(a->workflow_id),
		                       a->workflow_type ? text(a->workflow_type->name) : "");
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__SignalExternalWorkflowExecutionInitiatedEventAttributes *a =
		        e->signal_external_workflow_execution_initiated_event_attributes;
		return portico_sprintf("workflow id %s, signal %s",
		                       a->workflow_execution ? text(a->workflow_execution->workflow_id) : "",
		                       text(a->signal_name));
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED_EVENT_ATTRIBUTES: {
		const Temporal__Api__History__V1__RequestCancelExternalWorkflowExecutionInitiatedEventAttributes *a =
		        e->request_cancel_external_workflow_execution_initiated_event_attributes;
		return portico_sprintf("workflow id %s",
		                       a->workflow_execution ? text(a->workflow_execution->workflow_id) : "");
	}
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_UPDATE_ACCEPTED_EVENT_ATTRIBUTES:
		return portico_sprintf(
		        "update id %s, accepted",
		        text(e->workflow_execution_update_accepted_event_attributes->protocol_instance_id));
	case TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_UPDATE_COMPLETED_EVENT_ATTRIBUTES: {
		const Temporal__Api__Update__V1__Meta *m =
		        e->workflow_execution_update_completed_event_attributes->meta;
		return portico_sprintf("update id %s, completed", m ? text(m->update_id) : "");
	}
	default:
		return portico_strdup("");
	}
}

static char *command_identity(const pending *p)
{
	const workflow_command *c = p->command;
	switch (c->attributes_case) {
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_SCHEDULE_ACTIVITY_TASK_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
		        c->schedule_activity_task_command_attributes;
		return portico_sprintf("activity id %s, type %s", a->activity_id, a->activity_type->name);
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_REQUEST_CANCEL_ACTIVITY_TASK_COMMAND_ATTRIBUTES:
		return portico_sprintf(
		        "scheduled event %lld",
		        (long long)c->request_cancel_activity_task_command_attributes->scheduled_event_id);
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_START_TIMER_COMMAND_ATTRIBUTES:
		return portico_sprintf("timer id %s", c->start_timer_command_attributes->timer_id);
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_CANCEL_TIMER_COMMAND_ATTRIBUTES:
		return portico_sprintf("timer id %s", c->cancel_timer_command_attributes->timer_id);
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_RECORD_MARKER_COMMAND_ATTRIBUTES:
		return marker_identity(c->record_marker_command_attributes->marker_name,
		                       command_marker_detail(c, PATCH_DETAILS),
		                       command_marker_detail(c, SIDE_EFFECT_ID));
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_START_CHILD_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__StartChildWorkflowExecutionCommandAttributes *a =
		        c->start_child_workflow_execution_command_attributes;
		return portico_sprintf("workflow id %s, type %s", a->workflow_id, a->workflow_type->name);
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__SignalExternalWorkflowExecutionCommandAttributes *a =
		        c->signal_external_workflow_execution_command_attributes;
		return portico_sprintf("workflow id %s, signal %s", a->execution->workflow_id, a->signal_name);
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES:
		return portico_sprintf("workflow id %s",
		                       c->request_cancel_external_workflow_execution_command_attributes->workflow_id);
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_PROTOCOL_MESSAGE_COMMAND_ATTRIBUTES:
		return portico_sprintf("update id %s, %s", text(p->update_id),
		                       p->completes_update ? "completed" : "accepted");
	default:
		return portico_strdup("");
	}
}

/* Which command type records as event type e (0 for none). */
static Temporal__Api__Enums__V1__CommandType command_for_event(const workflow_event *e)
{
	switch (e->event_type) {
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_TIMER_STARTED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_START_TIMER;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_TIMER_CANCELED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CANCEL_TIMER;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_MARKER_RECORDED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_RECORD_MARKER;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION;
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
	case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
		return TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_PROTOCOL_MESSAGE;
	default:
		return 0;
	}
}

static int deprecated_patch_event(const workflow_event *e)
{
	if (e->event_type != TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_MARKER_RECORDED ||
	    !e->marker_recorded_event_attributes ||
	    strcmp(text(e->marker_recorded_event_attributes->marker_name), PATCH_MARKER))
		return 0;
	int deprecated = 0;
	free(patch_of(marker_detail(e, PATCH_DETAILS), &deprecated));
	return deprecated;
}

/* Matches command event e with the oldest pending command. 0, or -1 with the run's problem set. */
static int match_event(workflow_run *run, const workflow_event *e)
{
	pending *p = run->pending_head;
	char event_text[96], command_text[96];
	char *eid = event_identity(e);
	char *cid = p ? command_identity(p) : NULL;
	int same = p && p->command->command_type == command_for_event(e) && !strcmp(eid, cid);
	if (!same && deprecated_patch_event(e)) { /* a deprecated patch the code no longer calls */
		free(eid);
		free(cid);
		return 0;
	}
	if (!same) {
		if (p)
			set_problem(run, WORKFLOW_RUN_NONDETERMINISM,
			            "nondeterminism: history event %lld %s (%s) does not match the workflow's command "
			            "%s (%s); "
			            "the code does not make the commands it made when this history was recorded",
			            (long long)e->event_id, event_name(e, event_text, sizeof event_text), eid,
			            command_name(p->command, command_text, sizeof command_text), cid);
		else
			set_problem(run, WORKFLOW_RUN_NONDETERMINISM,
			            "nondeterminism: history event %lld %s (%s) records a command the workflow did not "
			            "make",
			            (long long)e->event_id, event_name(e, event_text, sizeof event_text), eid);
		free(eid);
		free(cid);
		return -1;
	}
	free(eid);
	free(cid);
	if (p->future) {
		if (!p->future->event_id)
			p->future->event_id = e->event_id;
		if (p->future->command == p)
			p->future->command = NULL;
	}
	run->pending_head = p->next;
	if (!run->pending_head)
		run->pending_tail = NULL;
	pending_free(p);
	return 0;
}

/* ---- Reading ahead in a replayed activation's recorded commands ------------------------------- */

static void lookahead_clear(lookahead *a)
{
	for (size_t i = 0; i < a->patch_count; i++)
		free(a->patches[i]);
	free(a->patches);
	free(a->accepted);
	json_decref(a->side_effects);
	memset(a, 0, sizeof *a);
}

static void read_ahead(workflow_run *run, workflow_event *const *events, size_t from, size_t count)
{
	lookahead *a = &run->ahead;
	lookahead_clear(a);
	a->side_effects = json_object();
	for (size_t i = from; i < count; i++) {
		const workflow_event *e = events[i];
		if (e->event_type == TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_STARTED)
			break;
		if (e->event_type == TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_MARKER_RECORDED &&
		    e->marker_recorded_event_attributes) {
			const char *name = text(e->marker_recorded_event_attributes->marker_name);
			if (!strcmp(name, PATCH_MARKER)) {
				char *id = patch_of(marker_detail(e, PATCH_DETAILS), NULL);
				if (id) {
					a->patches =
					        portico_realloc(a->patches, (a->patch_count + 1) * sizeof *a->patches);
					a->patches[a->patch_count++] = id;
				}
			} else if (!strcmp(name, SIDE_EFFECT)) {
				json_t *id = portico_payloads_first_value(marker_detail(e, SIDE_EFFECT_ID));
				char key[32];
				snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
				json_object_set_new(a->side_effects, key,
				                    portico_payloads_first_value(marker_detail(e, SIDE_EFFECT_DATA)));
				json_decref(id);
			}
		} else if (
		        e->event_type ==
		                TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED &&
		        e->workflow_execution_update_accepted_event_attributes) {
			a->accepted = portico_realloc(a->accepted, (a->accepted_count + 1) * sizeof *a->accepted);
			a->accepted[a->accepted_count++] = (workflow_event *)e;
		}
	}
}

/* ---- Updates ---------------------------------------------------------------------------------- */

static const handler *find_handler(const workflow_run *run, const char *name, int kind)
{
	for (const handler *h = run->handlers; h; h = h->next)
		if (!strcmp(h->name, name) &&
		    ((kind == 0 && h->signal) || (kind == 1 && h->query) || (kind == 2 && h->update)))
			return h;
	return NULL;
}

/* A protocol message of the update, with body of type_url; kept for the task's answer. */
static workflow_message *update_message(workflow_run *run, const char *update_id, const char *id, const char *type_url,
                                        const ProtobufCMessage *body)
{
	workflow_message *m = portico_malloc(sizeof *m);
	temporal__api__protocol__v1__message__init(m);
	m->id = portico_strdup(id);
	m->protocol_instance_id = portico_strdup(update_id);
	m->body = portico_malloc(sizeof *m->body);
	google__protobuf__any__init(m->body);
	m->body->type_url = portico_strdup(type_url);
	m->body->value.len = protobuf_c_message_get_packed_size(body);
	m->body->value.data = portico_malloc(m->body->value.len ? m->body->value.len : 1);
	protobuf_c_message_pack(body, m->body->value.data);
	if (!run->replaying) {
		run->messages = portico_realloc(run->messages, (run->message_count + 1) * sizeof *run->messages);
		run->messages[run->message_count++] = m;
	} else {
		protobuf_c_message_free_unpacked(&m->base, NULL);
		m = NULL;
	}
	return m;
}

static void protocol_command(workflow_run *run, const char *message_id, const char *update_id, int completes)
{
	workflow_command *c = command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_PROTOCOL_MESSAGE);
	c->attributes_case = TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_PROTOCOL_MESSAGE_COMMAND_ATTRIBUTES;
	c->protocol_message_command_attributes = portico_malloc(sizeof *c->protocol_message_command_attributes);
	temporal__api__command__v1__protocol_message_command_attributes__init(c->protocol_message_command_attributes);
	c->protocol_message_command_attributes->message_id = portico_strdup(message_id);
	pending *p = add_command(run, c, NULL);
	if (p) {
		p->update_id = portico_strdup(update_id);
		p->completes_update = completes;
	}
}

static void update_main(portico_workflow *wf, void *arg)
{
	update_run *u = arg;
	workflow_run *run = run_of(wf);
	json_t *result = NULL;
	portico_workflow_failure *failure = NULL;
	int rc = u->h->update(wf, u->args, &result, &failure, u->h->arg);
	if (!run->evicting && !run->closed) {
		Temporal__Api__Update__V1__Outcome outcome = TEMPORAL__API__UPDATE__V1__OUTCOME__INIT;
		Temporal__Api__Failure__V1__Failure *f = NULL;
		if (rc == 0) {
			outcome.value_case = TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_SUCCESS;
			outcome.success = value_payloads(result);
		} else {
			if (!failure)
				failure = portico_workflow_failure_new("", 0, NULL, "update %s failed", u->h->name);
			f = workflow_failure_to_proto(failure);
			outcome.value_case = TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_FAILURE;
			outcome.failure = f;
		}
		Temporal__Api__Update__V1__Response response = TEMPORAL__API__UPDATE__V1__RESPONSE__INIT;
		response.meta = u->meta;
		response.outcome = &outcome;
		char *id = portico_sprintf("%s/complete", u->message_id);
		update_message(run, u->update_id, id, UPDATE_RESPONSE, &response.base);
		protocol_command(run, id, u->update_id, 1);
		free(id);
		if (rc == 0 && outcome.success) /* success and failure share a union: f is the failure's */
			portico_payloads_free(outcome.success);
		if (f)
			protobuf_c_message_free_unpacked(&f->base, NULL);
	}
	json_decref(result);
	portico_workflow_failure_free(failure);
	json_decref(u->args);
	free(u->update_id);
	free(u->message_id);
	if (u->meta)
		protobuf_c_message_free_unpacked(&u->meta->base, NULL);
	free(u);
}

/* Runs h's validator with nothing recordable. */
static int validate(workflow_run *run, const handler *h, json_t *args, char **rejection)
{
	run->read_only = 1;
	int rc = h->validator(&run->wf, args, rejection, h->arg);
	run->read_only = 0;
	return rc;
}

/* An update request: validated (when new), accepted or rejected, and its handler started. */
static void deliver_update(workflow_run *run, const char *message_id, int64_t sequencing_event_id,
                           const update_request *request)
{
	const char *update_id = request->meta ? text(request->meta->update_id) : "";
	const char *name = request->input ? text(request->input->name) : "";
	const handler *h = find_handler(run, name, 2);
	json_t *args = portico_payloads_values(request->input ? request->input->args : NULL);
	char *rejection = NULL;
	if (run->closed)
		rejection = portico_sprintf("the workflow has completed: update \"%s\" comes too late", name);
	else if (!h)
		rejection = portico_sprintf("update \"%s\" is not registered by this workflow", name);
	else if (h->validator && !run->replaying && validate(run, h, args, &rejection) != 0 && !rejection)
		rejection = portico_sprintf("update \"%s\" was rejected by its validator", name);
	if (rejection && run->replaying) {
		set_problem(run, WORKFLOW_RUN_NONDETERMINISM,
		            "nondeterminism: history accepted update %s (\"%s\"), which the workflow no longer handles",
		            update_id, name);
		free(rejection);
		json_decref(args);
		return;
	}
	if (rejection) {
		Temporal__Api__Update__V1__Rejection body = TEMPORAL__API__UPDATE__V1__REJECTION__INIT;
		body.rejected_request_message_id = (char *)message_id;
		body.rejected_request_sequencing_event_id = sequencing_event_id;
		body.rejected_request = (update_request *)request;
		portico_workflow_failure *f = portico_workflow_failure_new("", 1, NULL, "%s", rejection);
		body.failure = workflow_failure_to_proto(f);
		char *id = portico_sprintf("%s/reject", message_id);
		update_message(run, update_id, id, UPDATE_REJECT, &body.base);
		free(id);
		protobuf_c_message_free_unpacked(&body.failure->base, NULL);
		portico_workflow_failure_free(f);
		free(rejection);
		json_decref(args);
		return;
	}
	Temporal__Api__Update__V1__Acceptance body = TEMPORAL__API__UPDATE__V1__ACCEPTANCE__INIT;
	body.accepted_request_message_id = (char *)message_id;
	body.accepted_request_sequencing_event_id = sequencing_event_id;
	char *id = portico_sprintf("%s/accept", message_id);
	update_message(run, update_id, id, UPDATE_ACCEPT, &body.base);
	protocol_command(run, id, update_id, 0);
	free(id);
	update_run *u = portico_calloc(1, sizeof *u);
	u->run = run;
	u->update_id = portico_strdup(update_id);
	u->message_id = portico_strdup(message_id);
	u->meta = request->meta ? workflow_proto_copy(&request->meta->base) : NULL;
	u->h = h;
	u->args = args;
	char *label = portico_sprintf("update %s (%s)", name, update_id);
	if (!spawn(run, label, update_main, u, 0)) { /* the task fails: nothing of it is recorded */
		json_decref(u->args);
		free(u->update_id);
		free(u->message_id);
		if (u->meta)
			protobuf_c_message_free_unpacked(&u->meta->base, NULL);
		free(u);
	}
	free(label);
}

/* The request an UpdateAdmitted event recorded for update_id, or NULL. */
static const update_request *admitted_request(const workflow_run *run, const char *update_id)
{
	for (size_t i = 0; update_id && i < run->admitted_count; i++) {
		const update_request *r = run->admitted[i];
		if (r->meta && r->meta->update_id && !strcmp(r->meta->update_id, update_id))
			return r;
	}
	return NULL;
}

static void deliver_updates(workflow_run *run, workflow_message *const *messages, size_t count)
{
	if (run->replaying) {
		for (size_t i = 0; i < run->ahead.accepted_count; i++) {
			const Temporal__Api__History__V1__WorkflowExecutionUpdateAcceptedEventAttributes *a =
			        run->ahead.accepted[i]->workflow_execution_update_accepted_event_attributes;
			/* An update admitted before its workflow task (update-with-start) was recorded in
			 * full by its UpdateAdmitted event; its acceptance then leaves the request out. */
			const update_request *request = a->accepted_request
			                                        ? a->accepted_request
			                                        : admitted_request(run, a->protocol_instance_id);
			if (request)
				deliver_update(run, text(a->accepted_request_message_id),
				               a->accepted_request_sequencing_event_id, request);
			else
				set_problem(run, WORKFLOW_RUN_BAD_HISTORY,
				            "update %s was accepted, but history has no request "
				            "for it",
				            text(a->protocol_instance_id));
		}
		return;
	}
	for (size_t i = 0; i < count; i++) {
		const workflow_message *m = messages[i];
		if (!m->body || !m->body->type_url || strcmp(m->body->type_url, UPDATE_REQUEST))
			continue;
		update_request *request =
		        temporal__api__update__v1__request__unpack(NULL, m->body->value.len, m->body->value.data);
		if (!request) {
			set_problem(run, WORKFLOW_RUN_BAD_HISTORY, "update message %s does not parse", text(m->id));
			continue;
		}
		int64_t sequencing =
		        m->sequencing_id_case == TEMPORAL__API__PROTOCOL__V1__MESSAGE__SEQUENCING_ID_EVENT_ID
		                ? m->event_id
		                : 0;
		deliver_update(run, text(m->id), sequencing, request);
		temporal__api__update__v1__request__free_unpacked(request, NULL);
	}
}

/* ---- Activations ------------------------------------------------------------------------------ */

static void activate(workflow_run *run, workflow_event *const *batch, size_t batch_count, const workflow_event *started,
                     int replaying, workflow_message *const *messages, size_t message_count)
{
	run->activation++;
	run->replaying = replaying;
	run->now_ms = timestamp_ms(started->event_time);
	for (size_t i = 0; i < batch_count && !run->problem; i++)
		apply_event(run, batch[i]);
	if (run->problem || !run->started)
		return;
	run_until_blocked(run);
	deliver_updates(run, messages, message_count);
	run_until_blocked(run);
}

/* Whether events[i], a WorkflowTaskStarted, was followed by that task's failure or timeout. */
static int task_failed_after(workflow_event *const *events, size_t count, size_t i)
{
	if (i + 1 >= count)
		return 0;
	Temporal__Api__Enums__V1__EventType next = events[i + 1]->event_type;
	return next == TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_FAILED ||
	       next == TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT;
}

static void output_reset(workflow_run *run)
{
	for (size_t i = 0; i < run->message_count; i++)
		protobuf_c_message_free_unpacked(&run->messages[i]->base, NULL);
	free(run->messages);
	run->messages = NULL;
	run->message_count = 0;
	free(run->output.commands);
	memset(&run->output, 0, sizeof run->output);
}

static void output_collect(workflow_run *run)
{
	size_t n = 0;
	for (pending *p = run->pending_head; p; p = p->next)
		n += p->activation == run->activation;
	run->output.commands = portico_calloc(n ? n : 1, sizeof *run->output.commands);
	for (pending *p = run->pending_head; p; p = p->next)
		if (p->activation == run->activation)
			run->output.commands[run->output.command_count++] = p->command;
	run->output.messages = run->messages;
	run->output.message_count = run->message_count;
}

static int fail_apply(workflow_run *run, workflow_run_problem *problem, portico_error *err)
{
	*problem = run->problem;
	portico_error_set(err,
	                  run->problem == WORKFLOW_RUN_NONDETERMINISM ? PORTICO_FAILED_PRECONDITION
	                  : run->problem == WORKFLOW_RUN_UNREGISTERED ? PORTICO_NOT_FOUND
	                                                              : PORTICO_INVALID_ARGUMENT,
	                  "%s", run->problem_message);
	return -1;
}

/* The oldest pending command is not in history before event_id: non-determinism. */
static void unrecorded_command(workflow_run *run, int64_t event_id)
{
	char name[96];
	char *cid = command_identity(run->pending_head);
	set_problem(
	        run, WORKFLOW_RUN_NONDETERMINISM,
	        "nondeterminism: the workflow made command %s (%s), which history does not record before event %lld",
	        command_name(run->pending_head->command, name, sizeof name), cid, (long long)event_id);
	free(cid);
}

/* Whether a task's events end past the commands of the last completed workflow task (their block
 * of command events is followed by another event, or the run closed): then every command that
 * task's activation made must have been matched. A history cut right after a
 * WorkflowTaskCompleted may still have its command events to come. */
static int events_end_a_task_block(workflow_event *const *events, size_t count)
{
	if (!count)
		return 0;
	const workflow_event *last = events[count - 1];
	return last->event_type != TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_COMPLETED &&
	       !command_for_event(last);
}

/* Whether every event is a workflow task's scheduling or start: a task that brought nothing else. */
static int only_task_events(workflow_event *const *events, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (events[i]->event_type != TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_SCHEDULED &&
		    events[i]->event_type != TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_STARTED)
			return 0;
	return 1;
}

/* Whether e's attributes are those of its type ("marker_recorded_event_attributes" for
 * EVENT_TYPE_MARKER_RECORDED), so that everything keyed on the type reads the right member. */
static int attributes_fit_type(const workflow_event *e)
{
	const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field(
	        &temporal__api__history__v1__history_event__descriptor, (unsigned)e->attributes_case);
	const ProtobufCEnumValue *type =
	        protobuf_c_enum_descriptor_get_value(&temporal__api__enums__v1__event_type__descriptor, e->event_type);
	if (!field || !type || !e->workflow_execution_started_event_attributes) /* any member: all are pointers */
		return 0;
	const char *name = type->name + strlen("EVENT_TYPE_");
	size_t length = strlen(name);
	return !strncasecmp(field->name, name, length) && !strcmp(field->name + length, "_event_attributes");
}

/* Checks a task's events before any is applied (a replayed activation reads ahead): they follow
 * the run's last event one by one, and each has the attributes of its type, of a kind the runtime
 * supports. 0, or -1 with the run's problem set. */
static int check_events(workflow_run *run, workflow_event *const *events, size_t count)
{
	int64_t expected = run->last_event_id + 1;
	for (size_t i = 0; i < count; i++, expected++) {
		const workflow_event *e = events[i];
		char name[96];
		if (!e || e->event_id != expected)
			set_problem(run, WORKFLOW_RUN_BAD_HISTORY,
			            "history event %lld comes where event %lld should: events "
			            "are missing or out of order",
			            e ? (long long)e->event_id : -1LL, (long long)expected);
		else if (!attributes_fit_type(e))
			set_problem(run, WORKFLOW_RUN_BAD_HISTORY,
			            "history event %lld (%s) lacks the attributes of its type", (long long)e->event_id,
			            event_name(e, name, sizeof name));
		else if (is_unsupported_event(e))
			set_problem(run, WORKFLOW_RUN_BAD_HISTORY,
			            "history event %lld %s uses a feature Portico's workflow runtime does not support",
			            (long long)e->event_id, event_name(e, name, sizeof name));
		if (run->problem)
			return -1;
	}
	return 0;
}

int workflow_run_apply(workflow_run *run, workflow_event *const *events, size_t event_count,
                       workflow_message *const *messages, size_t message_count, workflow_run_problem *problem,
                       portico_error *err)
{
	*problem = WORKFLOW_RUN_OK;
	output_reset(run);
	int64_t began = run->last_event_id;
	run->rewind_to = 0;
	if (run->problem)
		return fail_apply(run, problem, err);
	workflow_event **batch = portico_calloc(event_count ? event_count : 1, sizeof *batch);
	size_t batch_count = 0;
	int live = 0;
	if (check_events(run, events, event_count)) {
		free(batch);
		return fail_apply(run, problem, err);
	}
	for (size_t i = 0; i < event_count && !run->problem; i++) {
		workflow_event *e = events[i];
		run->last_event_id = e->event_id;
		switch (e->event_type) {
		case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
		case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			continue;
		case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_FAILED:
		case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			/* A task of this run that Temporal did not take: its commands were never recorded.
			 * When they are this run's own, the run cannot go on from here. */
			if (run->pending_head)
				set_problem(run, WORKFLOW_RUN_BAD_HISTORY,
				            "workflow task %lld failed or timed out after this run answered it: the "
				            "run must be "
				            "replayed from its full history",
				            (long long)e->event_id);
			continue;
		case TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_WORKFLOW_TASK_STARTED: {
			if (task_failed_after(events, event_count, i))
				continue;
			if (run->pending_head) {
				unrecorded_command(run, e->event_id);
				break;
			}
			int replaying = i + 1 < event_count;
			if (replaying)
				read_ahead(run, events, i + 1, event_count);
			else
				lookahead_clear(&run->ahead);
			activate(run, batch, batch_count, e, replaying, replaying ? NULL : messages,
			         replaying ? 0 : message_count);
			batch_count = 0;
			live = !replaying;
			continue;
		}
		default:
			break;
		}
		if (command_for_event(e))
			match_event(run, e);
		else
			batch[batch_count++] = e;
	}
	free(batch);
	if (!run->problem && !live && run->pending_head && events_end_a_task_block(events, event_count))
		unrecorded_command(run, events[event_count - 1]->event_id + 1);
	if (run->problem)
		return fail_apply(run, problem, err);
	if (live) {
		output_collect(run);
		if (!run->output.command_count && only_task_events(events, event_count))
			run->rewind_to = began;
	}
	return 0;
}

const workflow_run_output *workflow_run_output_get(const workflow_run *run)
{
	return &run->output;
}

/* ---- Queries ---------------------------------------------------------------------------------- */

static char *stack_trace(const workflow_run *run)
{
	size_t size = 0;
	char *out = NULL;
	FILE *f = open_memstream(&out, &size);
	if (!f)
		return portico_strdup("");
	for (const wf_coro *c = run->coros; c; c = c->next)
		fprintf(f, "coroutine %s: %s\n", c->name, c->waiting_for ? c->waiting_for : "runnable");
	fclose(f);
	return out;
}

int workflow_run_query(workflow_run *run, const char *query_type, const portico_payloads *args,
                       portico_payloads **result, char **error)
{
	*result = NULL;
	*error = NULL;
	if (!strcmp(query_type, STACK_TRACE)) {
		char *trace = stack_trace(run);
		json_t *value = json_string(trace);
		*result = value_payloads(value);
		json_decref(value);
		free(trace);
		return 0;
	}
	const handler *h = find_handler(run, query_type, 1);
	if (!h) {
		*error = portico_sprintf("query \"%s\" is not registered by this workflow", query_type);
		return -1;
	}
	json_t *arguments = portico_payloads_values(args);
	json_t *value = NULL;
	run->read_only = 1;
	int rc = h->query(&run->wf, arguments, &value, error, h->arg);
	run->read_only = 0;
	json_decref(arguments);
	if (rc != 0) {
		json_decref(value);
		if (!*error)
			*error = portico_sprintf("query \"%s\" failed", query_type);
		return -1;
	}
	*result = value_payloads(value);
	json_decref(value);
	return 0;
}

/* ---- Life cycle ------------------------------------------------------------------------------- */

workflow_run *workflow_run_new(const workflow_run_options *options)
{
	workflow_run *run = portico_calloc(1, sizeof *run);
	run->wf.run = run;
	run->options = *options;
	if (!run->options.stack_bytes)
		run->options.stack_bytes = WORKFLOW_RUN_DEFAULT_STACK_BYTES;
	run->namespace_name = portico_strdup(text(options->namespace_name));
	run->workflow_id = dup_or_null(options->workflow_id);
	run->run_id = dup_or_null(options->run_id);
	return run;
}

int workflow_run_rewind(workflow_run *run, int64_t first_event_id)
{
	if (!run->rewind_to || first_event_id != run->rewind_to + 1)
		return 0;
	run->last_event_id = run->rewind_to;
	run->rewind_to = 0;
	return 1;
}

int64_t workflow_run_last_event_id(const workflow_run *run)
{
	return run->last_event_id;
}

int workflow_run_closed(const workflow_run *run)
{
	return run->closed;
}

const char *workflow_run_workflow_id(const workflow_run *run)
{
	return run->workflow_id;
}

const char *workflow_run_workflow_type(const workflow_run *run)
{
	return run->started ? run->info.workflow_type : NULL;
}

void workflow_run_free(workflow_run *run)
{
	if (!run)
		return;
	/* Waiting coroutines get PORTICO_WAIT_EVICTED and return, freeing what they hold. */
	run->evicting = 1;
	run_until_blocked(run);
	for (wf_coro *c = run->coros, *next; c; c = next) { /* never started, or abandoned */
		next = c->next;
		coro_free(c);
	}
	output_reset(run);
	lookahead_clear(&run->ahead);
	for (size_t i = 0; i < run->admitted_count; i++)
		protobuf_c_message_free_unpacked(&run->admitted[i]->base, NULL);
	free(run->admitted);
	for (pending *p = run->pending_head, *next; p; p = next) {
		next = p->next;
		pending_free(p);
	}
	portico_workflow_future *lists[] = {run->open_futures, run->done_futures};
	for (size_t i = 0; i < 2; i++) {
		for (portico_workflow_future *f = lists[i], *next; f; f = next) {
			next = f->next;
			free(f->id);
			free(f->type);
			free(f->child_run_id);
			json_decref(f->result);
			portico_workflow_failure_free(f->failure);
			free(f);
		}
	}
	for (portico_workflow_scope *s = run->scopes, *next; s; s = next) {
		next = s->next;
		free(s);
	}
	for (handler *h = run->handlers, *next; h; h = next) {
		next = h->next;
		free(h->name);
		free(h);
	}
	for (keepsake *k = run->keepsakes, *next; k; k = next) { /* after the last handler and coroutine */
		next = k->next;
		k->free_fn(k->data);
		free(k);
	}
	for (buffered_signal *s = run->signals, *next; s; s = next) {
		next = s->next;
		free(s->name);
		json_decref(s->args);
		free(s);
	}
	for (patch *p = run->patches, *next; p; p = next) {
		next = p->next;
		free(p->id);
		free(p);
	}
	for (size_t i = 0; i < sizeof run->info_strings / sizeof run->info_strings[0]; i++)
		free(run->info_strings[i]);
	if (run->input)
		portico_payloads_free(run->input);
	json_decref(run->memo);
	json_decref(run->result);
	portico_workflow_failure_free(run->failure);
	json_decref(run->continue_args);
	free(run->continue_type);
	free(run->continue_queue);
	free(run->problem_message);
	free(run->namespace_name);
	free(run->workflow_id);
	free(run->run_id);
	free(run);
}

/* ==== The workflow API (workflow.h) ============================================================ */

const portico_workflow_info *portico_workflow_get_info(const portico_workflow *wf)
{
	return &wf->run->info;
}

size_t portico_workflow_input_count(const portico_workflow *wf)
{
	return wf->run->input ? wf->run->input->n_payloads : 0;
}

json_t *portico_workflow_input_json(const portico_workflow *wf, size_t index)
{
	const portico_payloads *input = wf->run->input;
	if (!input || index >= input->n_payloads)
		return NULL;
	json_t *value = NULL;
	free(portico_payload_read_json(input->payloads[index], &value));
	return value;
}

json_t *portico_workflow_memo_json(const portico_workflow *wf, const char *key)
{
	json_t *value = json_object_get(wf->run->memo, key);
	return value ? json_incref(value) : NULL;
}

int64_t portico_workflow_now_ms(const portico_workflow *wf)
{
	return wf->run->now_ms;
}

uint64_t portico_workflow_random(portico_workflow *wf)
{
	/* splitmix64; a query or a validator gets the next number without taking it */
	uint64_t z = wf->run->read_only ? wf->run->random_state + 0x9e3779b97f4a7c15ULL
	                                : (wf->run->random_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void portico_workflow_uuid(portico_workflow *wf, char out[37])
{
	uint8_t b[16];
	uint64_t hi = portico_workflow_random(wf), lo = portico_workflow_random(wf);
	memcpy(b, &hi, 8);
	memcpy(b + 8, &lo, 8);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
	         b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

json_t *portico_workflow_side_effect(portico_workflow *wf, json_t *(*fn)(void *arg), void *arg)
{
	workflow_run *run = run_of(wf);
	if (run->read_only)
		return NULL;
	int64_t id = ++run->side_effect_seq;
	json_t *value;
	if (run->replaying) {
		char key[32];
		snprintf(key, sizeof key, "%lld", (long long)id);
		value = json_object_get(run->ahead.side_effects, key);
		if (!value) {
			set_problem(run, WORKFLOW_RUN_NONDETERMINISM,
			            "nondeterminism: the workflow made side effect %lld, which history does not record",
			            (long long)id);
			return NULL;
		}
		value = json_incref(value);
	} else {
		value = fn(arg);
	}
	json_t *id_value = json_integer(id);
	add_command(run,
	            marker_command(SIDE_EFFECT, SIDE_EFFECT_ID, value_payloads(id_value), SIDE_EFFECT_DATA,
	                           value_payloads(value)),
	            NULL);
	json_decref(id_value);
	return json_is_null(value) ? (json_decref(value), NULL) : value;
}

static int patch_marker(workflow_run *run, const char *patch_id, int deprecated)
{
	for (patch *p = run->patches; p; p = p->next)
		if (!strcmp(p->id, patch_id))
			return p->taken;
	if (run->read_only) /* a query or a validator: the new path, decided by nothing */
		return 1;
	int taken = !run->replaying;
	for (size_t i = 0; !taken && i < run->ahead.patch_count; i++)
		taken = !strcmp(run->ahead.patches[i], patch_id);
	if (taken) {
		json_t *data = json_pack("{s:s,s:b}", "id", patch_id, "deprecated", deprecated);
		add_command(run, marker_command(PATCH_MARKER, PATCH_DETAILS, value_payloads(data), NULL, NULL), NULL);
		json_decref(data);
	}
	patch *p = portico_calloc(1, sizeof *p);
	p->id = portico_strdup(patch_id);
	p->taken = taken;
	p->next = run->patches;
	run->patches = p;
	return taken;
}

int portico_workflow_patched(portico_workflow *wf, const char *patch_id)
{
	return patch_marker(run_of(wf), patch_id, 0);
}

void portico_workflow_deprecate_patch(portico_workflow *wf, const char *patch_id)
{
	patch_marker(run_of(wf), patch_id, 1);
}

int portico_workflow_is_replaying(const portico_workflow *wf)
{
	return wf->run->replaying;
}

void portico_workflow_log(portico_workflow *wf, const char *level, const char *message, json_t *fields)
{
	workflow_run *run = run_of(wf);
	if (run->replaying) {
		json_decref(fields);
		return;
	}
	if (!fields)
		fields = json_object();
	json_object_set_new(fields, "workflowId", portico_log_text(run->info.workflow_id));
	json_object_set_new(fields, "runId", portico_log_text(run->info.run_id));
	json_object_set_new(fields, "workflowType", portico_log_text(run->info.workflow_type));
	portico_log(level, message, fields);
}

int portico_workflow_set_result(portico_workflow *wf, json_t *result)
{
	workflow_run *run = run_of(wf);
	json_decref(run->result);
	run->result = result;
	return PORTICO_WORKFLOW_COMPLETED;
}

int portico_workflow_fail(portico_workflow *wf, const char *type, int non_retryable, const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	portico_workflow_failure *f = workflow_failure_vnew("application", type, non_retryable, NULL, format, ap);
	va_end(ap);
	return portico_workflow_fail_with(wf, f);
}

int portico_workflow_fail_with(portico_workflow *wf, portico_workflow_failure *failure)
{
	workflow_run *run = run_of(wf);
	portico_workflow_failure_free(run->failure);
	run->failure = failure;
	return PORTICO_WORKFLOW_FAILED;
}

int portico_workflow_continue_as_new(portico_workflow *wf, json_t *args, const char *workflow_type,
                                     const char *task_queue)
{
	workflow_run *run = run_of(wf);
	json_decref(run->continue_args);
	free(run->continue_type);
	free(run->continue_queue);
	run->continue_args = args;
	run->continue_type = dup_or_null(workflow_type);
	run->continue_queue = dup_or_null(task_queue);
	return PORTICO_WORKFLOW_CONTINUE_AS_NEW;
}

void portico_workflow_fail_task(portico_workflow *wf, const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	char *message = portico_vsprintf(format, ap);
	va_end(ap);
	set_problem(run_of(wf), WORKFLOW_RUN_TASK_FAILED, "%s", message);
	free(message);
}

int portico_workflow_cancel_requested(const portico_workflow *wf)
{
	return wf->run->cancel_requested != 0;
}

portico_workflow_scope *portico_workflow_scope_new(portico_workflow *wf)
{
	workflow_run *run = run_of(wf);
	portico_workflow_scope *s = portico_calloc(1, sizeof *s);
	s->run = run;
	s->next = run->scopes;
	run->scopes = s;
	return s;
}

void portico_workflow_scope_free(portico_workflow_scope *scope)
{
	if (!scope)
		return;
	workflow_run *run = scope->run;
	for (portico_workflow_scope **p = &run->scopes; *p; p = &(*p)->next)
		if (*p == scope) {
			*p = scope->next;
			break;
		}
	portico_workflow_future *lists[] = {run->open_futures, run->done_futures};
	for (size_t i = 0; i < 2; i++)
		for (portico_workflow_future *f = lists[i]; f; f = f->next)
			if (f->scope == scope)
				f->scope = NULL;
	free(scope);
}

/* Cancels the operations of cancelled scopes (done before each wait, and when one starts). */
static void cancel_scoped(workflow_run *run)
{
	for (portico_workflow_future *f = run->open_futures, *next; f; f = next) {
		next = f->next; /* cancelling may resolve f, which moves it to the resolved list */
		if (f->scope && f->scope->cancelled && !f->cancel_sent)
			cancel_future(run, f);
	}
}

void portico_workflow_scope_cancel(portico_workflow_scope *scope)
{
	scope->cancelled = 1;
	/* at once: the caller may next wait on something else (a condition, another coroutine) while
	 * the scope's operations are what that waits for */
	if (!scope->run->read_only && !scope->run->evicting)
		cancel_scoped(scope->run);
}

portico_workflow_future *portico_workflow_activity_start(portico_workflow *wf, const char *type, json_t *args,
                                                         const portico_workflow_activity_options *options)
{
	workflow_run *run = run_of(wf);
	static const portico_workflow_activity_options none;
	if (!options)
		options = &none;
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)++run->activity_seq);
	portico_workflow_future *f =
	        future_new(run, OP_ACTIVITY, options->activity_id ? options->activity_id : id, type);
	f->cancellation = options->cancellation;
	f->scope = options->scope;
	if (!options->start_to_close_ms && !options->schedule_to_close_ms) {
		resolve(f, PORTICO_WAIT_FAILED, NULL,
		        portico_workflow_failure_new("InvalidActivityOptions", 1, NULL,
		                                     "activity %s needs start_to_close_ms or schedule_to_close_ms",
		                                     type));
		return f;
	}
	if (f->scope && f->scope->cancelled) {
		resolve(f, PORTICO_WAIT_CANCELED, NULL, NULL);
		return f;
	}
	workflow_command *c = command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK);
	Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a = portico_malloc(sizeof *a);
	temporal__api__command__v1__schedule_activity_task_command_attributes__init(a);
	a->activity_id = portico_strdup(f->id);
	a->activity_type = portico_malloc(sizeof *a->activity_type);
	temporal__api__common__v1__activity_type__init(a->activity_type);
	a->activity_type->name = portico_strdup(type);
	a->task_queue = task_queue_new(options->task_queue ? options->task_queue : run->info.task_queue);
	a->input = args_payloads(args);
	a->schedule_to_close_timeout = duration_new(options->schedule_to_close_ms);
	a->schedule_to_start_timeout = duration_new(options->schedule_to_start_ms);
	a->start_to_close_timeout = duration_new(options->start_to_close_ms);
	a->heartbeat_timeout = duration_new(options->heartbeat_ms);
	a->retry_policy = retry_policy_new(options->retry_policy);
	c->attributes_case = TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_SCHEDULE_ACTIVITY_TASK_COMMAND_ATTRIBUTES;
	c->schedule_activity_task_command_attributes = a;
	f->command = add_command(run, c, f);
	return f;
}

static char *describe_future(const portico_workflow_future *f)
{
	static const char *const kinds[] = {"activity", "timer", "child workflow", "signal to"};
	return portico_sprintf("waiting for %s %s%s%s", kinds[f->kind], f->type, *f->type ? " " : "", f->id);
}

int portico_workflow_await(portico_workflow *wf, portico_workflow_future *future, json_t **result,
                           portico_workflow_failure **failure)
{
	workflow_run *run = run_of(wf);
	if (result)
		*result = NULL;
	if (failure)
		*failure = NULL;
	cancel_scoped(run);
	wf_coro *c = run->current;
	int r;
	if (c) {
		c->futures = (portico_workflow_future *const *)&future;
		c->future_count = 1;
		c->index = NULL;
		r = block(run, check_futures, describe_future(future));
		c->futures = NULL;
		c->future_count = 0;
	} else {
		r = future->resolved ? future->outcome : PORTICO_WAIT_EVICTED;
	}
	if (r == PORTICO_WAIT_DONE && result)
		*result = future->result ? json_incref(future->result) : json_null();
	if (r == PORTICO_WAIT_FAILED && failure)
		*failure = workflow_failure_copy(future->failure);
	return r;
}

int portico_workflow_activity(portico_workflow *wf, const char *type, json_t *args,
                              const portico_workflow_activity_options *options, json_t **result,
                              portico_workflow_failure **failure)
{
	return portico_workflow_await(wf, portico_workflow_activity_start(wf, type, args, options), result, failure);
}

int portico_workflow_future_done(const portico_workflow_future *future)
{
	return future->resolved;
}

int portico_workflow_await_any(portico_workflow *wf, portico_workflow_future *const *futures, size_t count,
                               size_t *index)
{
	workflow_run *run = run_of(wf);
	wf_coro *c = run->current;
	if (!c || !count)
		return PORTICO_WAIT_EVICTED;
	cancel_scoped(run);
	c->futures = futures;
	c->future_count = count;
	c->any = 1;
	c->index = index;
	int r = block(run, check_futures, portico_sprintf("waiting for the first of %zu operations", count));
	c->futures = NULL;
	c->future_count = 0;
	c->any = 0;
	c->index = NULL;
	return r;
}

void portico_workflow_future_cancel(portico_workflow *wf, portico_workflow_future *future)
{
	cancel_future(run_of(wf), future);
}

portico_workflow_future *portico_workflow_timer_start(portico_workflow *wf, int64_t ms, portico_workflow_scope *scope)
{
	workflow_run *run = run_of(wf);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)++run->timer_seq);
	portico_workflow_future *f = future_new(run, OP_TIMER, id, "");
	f->scope = scope;
	if (ms <= 0) {
		resolve(f, PORTICO_WAIT_DONE, NULL, NULL);
		return f;
	}
	if (scope && scope->cancelled) {
		resolve(f, PORTICO_WAIT_CANCELED, NULL, NULL);
		return f;
	}
	workflow_command *c = command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_START_TIMER);
	c->attributes_case = TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_START_TIMER_COMMAND_ATTRIBUTES;
	c->start_timer_command_attributes = portico_malloc(sizeof *c->start_timer_command_attributes);
	temporal__api__command__v1__start_timer_command_attributes__init(c->start_timer_command_attributes);
	c->start_timer_command_attributes->timer_id = portico_strdup(id);
	c->start_timer_command_attributes->start_to_fire_timeout = duration_new(ms);
	f->command = add_command(run, c, f);
	return f;
}

int portico_workflow_sleep(portico_workflow *wf, int64_t ms)
{
	return portico_workflow_await(wf, portico_workflow_timer_start(wf, ms, NULL), NULL, NULL);
}

portico_workflow_future *portico_workflow_child_start(portico_workflow *wf, const char *workflow_type, json_t *args,
                                                      const portico_workflow_child_options *options)
{
	workflow_run *run = run_of(wf);
	static const portico_workflow_child_options none;
	if (!options)
		options = &none;
	int64_t seq = ++run->child_seq;
	char *generated = portico_sprintf("%s-child-%lld", run->info.workflow_id, (long long)seq);
	portico_workflow_future *f =
	        future_new(run, OP_CHILD, options->workflow_id ? options->workflow_id : generated, workflow_type);
	free(generated);
	f->cancellation = options->cancellation;
	f->scope = options->scope;
	if (f->scope && f->scope->cancelled) {
		resolve(f, PORTICO_WAIT_CANCELED, NULL, NULL);
		return f;
	}
	workflow_command *c =
	        command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION);
	Temporal__Api__Command__V1__StartChildWorkflowExecutionCommandAttributes *a = portico_malloc(sizeof *a);
	temporal__api__command__v1__start_child_workflow_execution_command_attributes__init(a);
	a->namespace_ = portico_strdup(run->namespace_name);
	a->workflow_id = portico_strdup(f->id);
	a->workflow_type = portico_malloc(sizeof *a->workflow_type);
	temporal__api__common__v1__workflow_type__init(a->workflow_type);
	a->workflow_type->name = portico_strdup(workflow_type);
	a->task_queue = task_queue_new(options->task_queue ? options->task_queue : run->info.task_queue);
	a->input = args_payloads(args);
	a->workflow_execution_timeout = duration_new(options->execution_timeout_ms);
	a->workflow_run_timeout = duration_new(options->run_timeout_ms);
	a->workflow_task_timeout = duration_new(options->task_timeout_ms);
	a->parent_close_policy = options->parent_close_policy;
	a->retry_policy = retry_policy_new(options->retry_policy);
	c->attributes_case =
	        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_START_CHILD_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
	c->start_child_workflow_execution_command_attributes = a;
	f->command = add_command(run, c, f);
	return f;
}

int portico_workflow_child_started(portico_workflow *wf, portico_workflow_future *future, char **run_id)
{
	workflow_run *run = run_of(wf);
	if (run_id)
		*run_id = NULL;
	wf_coro *c = run->current;
	int r;
	if (c) {
		c->futures = (portico_workflow_future *const *)&future;
		c->future_count = 1;
		r = block(run, check_child_started,
		          portico_sprintf("waiting for child workflow %s to start", future->id));
		c->futures = NULL;
		c->future_count = 0;
	} else {
		r = future->child_started ? PORTICO_WAIT_DONE : PORTICO_WAIT_EVICTED;
	}
	if (r == PORTICO_WAIT_DONE && run_id)
		*run_id = portico_strdup(text(future->child_run_id));
	return r;
}

int portico_workflow_child(portico_workflow *wf, const char *workflow_type, json_t *args,
                           const portico_workflow_child_options *options, json_t **result,
                           portico_workflow_failure **failure)
{
	return portico_workflow_await(wf, portico_workflow_child_start(wf, workflow_type, args, options), result,
	                              failure);
}

portico_workflow_future *portico_workflow_signal_external(portico_workflow *wf, const char *workflow_id,
                                                          const char *run_id, const char *signal_name, json_t *args)
{
	workflow_run *run = run_of(wf);
	++run->signal_seq;
	portico_workflow_future *f = future_new(run, OP_SIGNAL, workflow_id, signal_name);
	workflow_command *c =
	        command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION);
	Temporal__Api__Command__V1__SignalExternalWorkflowExecutionCommandAttributes *a = portico_malloc(sizeof *a);
	temporal__api__command__v1__signal_external_workflow_execution_command_attributes__init(a);
	a->namespace_ = portico_strdup(run->namespace_name);
	a->execution = portico_malloc(sizeof *a->execution);
	temporal__api__common__v1__workflow_execution__init(a->execution);
	a->execution->workflow_id = portico_strdup(workflow_id);
	if (run_id)
		a->execution->run_id = portico_strdup(run_id);
	a->signal_name = portico_strdup(signal_name);
	a->input = args_payloads(args);
	c->attributes_case =
	        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES;
	c->signal_external_workflow_execution_command_attributes = a;
	f->command = add_command(run, c, f);
	return f;
}

void portico_workflow_go(portico_workflow *wf, void (*fn)(portico_workflow *wf, void *arg), void *arg)
{
	workflow_run *run = run_of(wf);
	if (run->evicting || run->read_only)
		return;
	spawn(run, "go", fn, arg, !run->current || run->current->cancellable);
}

int portico_workflow_wait_condition(portico_workflow *wf, int (*condition)(void *arg), void *arg, int64_t timeout_ms)
{
	workflow_run *run = run_of(wf);
	wf_coro *c = run->current;
	if (!c)
		return PORTICO_WAIT_EVICTED;
	if (condition(arg))
		return PORTICO_WAIT_DONE;
	if (timeout_ms == 0)
		return PORTICO_WAIT_TIMEOUT;
	c->condition = condition;
	c->condition_arg = arg;
	c->signal_name = NULL;
	c->timeout = timeout_ms > 0 ? portico_workflow_timer_start(wf, timeout_ms, NULL) : NULL;
	int r = block(run, check_condition,
	              timeout_ms >= 0
	                      ? portico_sprintf("waiting for a condition, for at most %lld ms", (long long)timeout_ms)
	                      : portico_strdup("waiting for a condition"));
	c->timeout = NULL;
	c->condition = NULL;
	return r;
}

int portico_workflow_signal_receive(portico_workflow *wf, const char *name, json_t **args, int64_t timeout_ms)
{
	workflow_run *run = run_of(wf);
	wf_coro *c = run->current;
	*args = NULL;
	if (!c)
		return PORTICO_WAIT_EVICTED;
	c->signal_name = name;
	c->signal_args = args;
	c->timeout = NULL;
	if (take_signal(c) == PORTICO_WAIT_DONE || timeout_ms == 0) {
		c->signal_name = NULL;
		return *args ? PORTICO_WAIT_DONE : PORTICO_WAIT_TIMEOUT;
	}
	c->timeout = timeout_ms > 0 ? portico_workflow_timer_start(wf, timeout_ms, NULL) : NULL;
	int r = block(run, check_condition, portico_sprintf("waiting for signal %s", name));
	c->timeout = NULL;
	c->signal_name = NULL;
	return r;
}

static void add_handler(workflow_run *run, const char *name, handler *h)
{
	h->name = portico_strdup(name);
	h->next = run->handlers;
	run->handlers = h;
}

void portico_workflow_on_signal(portico_workflow *wf, const char *name, portico_workflow_signal_fn fn, void *arg)
{
	handler *h = portico_calloc(1, sizeof *h);
	h->signal = fn;
	h->arg = arg;
	add_handler(run_of(wf), name, h); /* signals that came before it: see drain_signals */
}

void portico_workflow_on_any_signal(portico_workflow *wf, portico_workflow_any_signal_fn fn, void *arg)
{
	workflow_run *run = run_of(wf);
	run->any_signal = fn; /* signals that came before it: see drain_signals */
	run->any_signal_arg = arg;
}

void portico_workflow_on_free(portico_workflow *wf, void (*free_fn)(void *data), void *data)
{
	workflow_run *run = run_of(wf);
	keepsake *k = portico_malloc(sizeof *k);
	*k = (keepsake){.free_fn = free_fn, .data = data, .next = run->keepsakes};
	run->keepsakes = k;
}

void portico_workflow_on_query(portico_workflow *wf, const char *name, portico_workflow_query_fn fn, void *arg)
{
	handler *h = portico_calloc(1, sizeof *h);
	h->query = fn;
	h->arg = arg;
	add_handler(run_of(wf), name, h);
}

void portico_workflow_on_update(portico_workflow *wf, const char *name, portico_workflow_update_fn fn,
                                portico_workflow_update_validator validator, void *arg)
{
	handler *h = portico_calloc(1, sizeof *h);
	h->update = fn;
	h->validator = validator;
	h->arg = arg;
	add_handler(run_of(wf), name, h);
}

/* Fields as a map of payloads: memo fields, search attributes. */
static void fill_payload_map(json_t *fields, size_t *n, void ***entries, size_t entry_size,
                             const ProtobufCMessageDescriptor *descriptor)
{
	*n = 0;
	*entries = portico_calloc(json_object_size(fields) + 1, sizeof(void *));
	const char *key;
	json_t *value;
	json_object_foreach(fields, key, value)
	{
		Temporal__Api__Common__V1__Memo__FieldsEntry *entry = portico_calloc(1, entry_size);
		protobuf_c_message_init(descriptor, entry);
		entry->key = portico_strdup(key);
		portico_payloads *one = value_payloads(value);
		entry->value = one->payloads[0];
		one->n_payloads = 0;
		portico_payloads_free(one);
		(*entries)[(*n)++] = entry;
	}
}

void portico_workflow_upsert_memo(portico_workflow *wf, json_t *fields)
{
	workflow_run *run = run_of(wf);
	if (!json_is_object(fields) || run->read_only)
		return;
	json_object_update(run->memo, fields);
	workflow_command *c =
	        command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES);
	Temporal__Api__Command__V1__ModifyWorkflowPropertiesCommandAttributes *a = portico_malloc(sizeof *a);
	temporal__api__command__v1__modify_workflow_properties_command_attributes__init(a);
	a->upserted_memo = portico_malloc(sizeof *a->upserted_memo);
	temporal__api__common__v1__memo__init(a->upserted_memo);
	fill_payload_map(fields, &a->upserted_memo->n_fields, (void ***)&a->upserted_memo->fields,
	                 sizeof(Temporal__Api__Common__V1__Memo__FieldsEntry),
	                 &temporal__api__common__v1__memo__fields_entry__descriptor);
	c->attributes_case =
	        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_MODIFY_WORKFLOW_PROPERTIES_COMMAND_ATTRIBUTES;
	c->modify_workflow_properties_command_attributes = a;
	add_command(run, c, NULL);
}

void portico_workflow_upsert_search_attributes(portico_workflow *wf, json_t *fields)
{
	workflow_run *run = run_of(wf);
	if (!json_is_object(fields))
		return;
	workflow_command *c =
	        command_new(TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
	Temporal__Api__Command__V1__UpsertWorkflowSearchAttributesCommandAttributes *a = portico_malloc(sizeof *a);
	temporal__api__command__v1__upsert_workflow_search_attributes_command_attributes__init(a);
	a->search_attributes = portico_malloc(sizeof *a->search_attributes);
	temporal__api__common__v1__search_attributes__init(a->search_attributes);
	fill_payload_map(fields, &a->search_attributes->n_indexed_fields,
	                 (void ***)&a->search_attributes->indexed_fields,
	                 sizeof(Temporal__Api__Common__V1__SearchAttributes__IndexedFieldsEntry),
	                 &temporal__api__common__v1__search_attributes__indexed_fields_entry__descriptor);
	c->attributes_case =
	        TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES_COMMAND_ATTRIBUTES;
	c->upsert_workflow_search_attributes_command_attributes = a;
	add_command(run, c, NULL);
}
