/* The env keeps the history as a growing array of events it builds the way Temporal's history
 * service does: a workflow task is WorkflowTaskScheduled and WorkflowTaskStarted, the engine
 * applies the events it has not seen, and the task's answer is written back as
 * WorkflowTaskCompleted followed by one event per command (and per accepted or completed
 * update). What the commands start (activities, children, timers) is queued and delivered by
 * portico_workflow_env_run. Unlike Temporal, which drops the workflow task of an update its
 * validator rejected, the env keeps it in the history it writes (the engine replays it the same). */
#include "workflow_env.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "protojson.h"
#include "workflow_failure.h"
#include "workflow_run.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "temporal/api/update/v1/message.pb-c.h"

#define START_MS    1767225600000LL /* 2026-01-01T00:00:00Z */
#define MAX_EVENTS  100000          /* a runaway workflow stops here, as Temporal's history limit would */
#define UPDATE_TASK 16              /* workflow tasks an update may take to get its outcome */

typedef Temporal__Api__History__V1__HistoryEvent event;

typedef struct registration {
	char *type;
	portico_workflow_fn workflow;
	workflow_definition definition;
	portico_workflow_env_fn fn;
	void *arg;
	struct registration *next;
} registration;

/* An activity or child the workflow started and the env has not run yet. */
typedef struct work {
	int child;
	int64_t scheduled_event_id;
	char *type;
	json_t *args;
	struct work *next;
} work;

typedef struct timer {
	char *id;
	int64_t started_event_id;
	int64_t fire_ms;
	struct timer *next;
} timer;

struct portico_workflow_env {
	registration *registrations;
	workflow_run *run;
	event **events;
	size_t count, capacity, applied;
	int64_t now_ms;
	int status;
	json_t *result, *continue_args;
	portico_workflow_failure *failure;
	work *work;
	timer *timers;
	int resolved; /* a command was answered at once (a signal delivered): the workflow needs a task */
	/* the update in flight */
	workflow_message *update_request;
	Temporal__Api__Update__V1__Request *update;
	int update_done;
	int update_outcome;
	json_t *update_result;
	portico_workflow_failure *update_failure;
	uint64_t update_seq;
};

static const char *text(const char *s)
{
	return s ? s : "";
}

/* ---- Registrations ----------------------------------------------------------------------------- */

static registration *add(portico_workflow_env *env, const char *type)
{
	registration *r = portico_calloc(1, sizeof *r);
	r->type = portico_strdup(type);
	r->next = env->registrations;
	env->registrations = r;
	return r;
}

void portico_workflow_env_register_workflow(portico_workflow_env *env, const char *workflow_type,
                                            portico_workflow_fn fn, void *user_data)
{
	registration *r = add(env, workflow_type);
	r->definition.fn = fn;
	r->definition.user_data = user_data;
}

void portico_workflow_env_register_activity(portico_workflow_env *env, const char *type, portico_workflow_env_fn fn,
                                            void *arg)
{
	registration *r = add(env, type);
	r->fn = fn;
	r->arg = arg;
}

static const registration *find(const portico_workflow_env *env, const char *type, int workflow)
{
	for (const registration *r = env->registrations; r; r = r->next)
		if (!strcmp(r->type, type) && (workflow ? r->definition.fn != NULL : r->fn != NULL))
			return r;
	return NULL;
}

static const workflow_definition *lookup(void *arg, const char *workflow_type)
{
	const registration *r = find(arg, workflow_type, 1);
	return r ? &r->definition : NULL;
}

/* ---- Writing history --------------------------------------------------------------------------- */

static Google__Protobuf__Timestamp *timestamp_new(int64_t ms)
{
	Google__Protobuf__Timestamp *t = portico_malloc(sizeof *t);
	google__protobuf__timestamp__init(t);
	t->seconds = ms / 1000;
	t->nanos = (int32_t)(ms % 1000) * 1000000;
	return t;
}

/* Appends an event of type with attributes (taken) in the union member for case. */
static event *append(portico_workflow_env *env, Temporal__Api__Enums__V1__EventType type,
                     Temporal__Api__History__V1__HistoryEvent__AttributesCase attributes_case, void *attributes)
{
	if (env->count == env->capacity) {
		env->capacity = env->capacity ? env->capacity * 2 : 64;
		env->events = portico_realloc(env->events, env->capacity * sizeof *env->events);
	}
	event *e = portico_malloc(sizeof *e);
	temporal__api__history__v1__history_event__init(e);
	e->event_id = (int64_t)env->count + 1;
	e->event_time = timestamp_new(env->now_ms);
	e->event_type = type;
	e->attributes_case = attributes_case;
	/* Every member of the union is a pointer to the attributes: set it through the first. */
	e->workflow_execution_started_event_attributes = attributes;
	env->events[env->count++] = e;
	return e;
}

/* Attributes of a message type, zeroed and initialised. */
static void *attributes(const ProtobufCMessageDescriptor *descriptor)
{
	ProtobufCMessage *m = portico_calloc(1, descriptor->sizeof_message);
	protobuf_c_message_init(descriptor, m);
	return m;
}

#define ATTRIBUTES(name) attributes(&temporal__api__history__v1__##name##__descriptor)
#define EVENT(name)      TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##name
#define CASE(name)       TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##name##_EVENT_ATTRIBUTES

static void *copy(const void *message)
{
	return workflow_proto_copy(message);
}

static void close_with(portico_workflow_env *env, int status)
{
	env->status = status;
}

static void queue_work(portico_workflow_env *env, int child, int64_t event_id, const char *type,
                       const Temporal__Api__Common__V1__Payloads *input)
{
	work *w = portico_calloc(1, sizeof *w);
	w->child = child;
	w->scheduled_event_id = event_id;
	w->type = portico_strdup(type);
	w->args = portico_payloads_values(input);
	work **tail = &env->work;
	while (*tail)
		tail = &(*tail)->next;
	*tail = w;
}

static void work_free(work *w)
{
	free(w->type);
	json_decref(w->args);
	free(w);
}

/* Takes the queued work scheduled as event_id (NULL when it ran already). */
static work *take_work(portico_workflow_env *env, int64_t event_id)
{
	for (work **w = &env->work; *w; w = &(*w)->next) {
		if ((*w)->scheduled_event_id == event_id) {
			work *found = *w;
			*w = found->next;
			return found;
		}
	}
	return NULL;
}

static const workflow_message *find_message(const workflow_run_output *out, const char *id)
{
	for (size_t i = 0; i < out->message_count; i++)
		if (out->messages[i]->id && !strcmp(out->messages[i]->id, id))
			return out->messages[i];
	return NULL;
}

static void *unpack_body(const workflow_message *m, const ProtobufCMessageDescriptor *descriptor)
{
	return m && m->body ? protobuf_c_message_unpack(descriptor, NULL, m->body->value.len, m->body->value.data)
	                    : NULL;
}

/* The update's outcome, from the answer's messages (rejections have no command). */
static void read_update_messages(portico_workflow_env *env, const workflow_run_output *out)
{
	for (size_t i = 0; i < out->message_count && env->update; i++) {
		const workflow_message *m = out->messages[i];
		if (!m->body || !m->body->type_url || !m->protocol_instance_id ||
		    strcmp(m->protocol_instance_id, env->update->meta->update_id))
			continue; /* another update's (one still running from an earlier call) */
		if (strstr(m->body->type_url, "update.v1.Rejection")) {
			Temporal__Api__Update__V1__Rejection *r =
			        unpack_body(m, &temporal__api__update__v1__rejection__descriptor);
			env->update_done = 1;
			env->update_outcome = PORTICO_WAIT_FAILED;
			env->update_failure = r ? workflow_failure_from_proto(r->failure) : NULL;
			if (r)
				protobuf_c_message_free_unpacked(&r->base, NULL);
		} else if (strstr(m->body->type_url, "update.v1.Response")) {
			Temporal__Api__Update__V1__Response *r =
			        unpack_body(m, &temporal__api__update__v1__response__descriptor);
			env->update_done = 1;
			if (r && r->outcome &&
			    r->outcome->value_case == TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_SUCCESS) {
				env->update_outcome = PORTICO_WAIT_DONE;
				env->update_result = portico_payloads_first_value(r->outcome->success);
			} else {
				env->update_outcome = PORTICO_WAIT_FAILED;
				env->update_failure =
				        r && r->outcome ? workflow_failure_from_proto(r->outcome->failure) : NULL;
			}
			if (r)
				protobuf_c_message_free_unpacked(&r->base, NULL);
		}
	}
}

/* Writes the event that records command (and what it starts). */
static void record(portico_workflow_env *env, const workflow_command *c, const workflow_run_output *out,
                   int64_t completed_id)
{
	switch (c->attributes_case) {
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_SCHEDULE_ACTIVITY_TASK_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__ScheduleActivityTaskCommandAttributes *a =
		        c->schedule_activity_task_command_attributes;
		Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes *e =
		        ATTRIBUTES(activity_task_scheduled_event_attributes);
		e->activity_id = portico_strdup(a->activity_id);
		e->activity_type = copy(a->activity_type);
		e->task_queue = copy(a->task_queue);
		e->input = copy(a->input);
		e->start_to_close_timeout = copy(a->start_to_close_timeout);
		e->schedule_to_close_timeout = copy(a->schedule_to_close_timeout);
		e->workflow_task_completed_event_id = completed_id;
		event *ev = append(env, EVENT(ACTIVITY_TASK_SCHEDULED), CASE(ACTIVITY_TASK_SCHEDULED), e);
		queue_work(env, 0, ev->event_id, a->activity_type->name, a->input);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_REQUEST_CANCEL_ACTIVITY_TASK_COMMAND_ATTRIBUTES: {
		int64_t scheduled = c->request_cancel_activity_task_command_attributes->scheduled_event_id;
		Temporal__Api__History__V1__ActivityTaskCancelRequestedEventAttributes *e =
		        ATTRIBUTES(activity_task_cancel_requested_event_attributes);
		e->scheduled_event_id = scheduled;
		e->workflow_task_completed_event_id = completed_id;
		event *requested =
		        append(env, EVENT(ACTIVITY_TASK_CANCEL_REQUESTED), CASE(ACTIVITY_TASK_CANCEL_REQUESTED), e);
		work *w = take_work(env, scheduled);
		if (w) { /* never started: Temporal cancels it at once */
			Temporal__Api__History__V1__ActivityTaskCanceledEventAttributes *done =
			        ATTRIBUTES(activity_task_canceled_event_attributes);
			done->scheduled_event_id = scheduled;
			done->latest_cancel_requested_event_id = requested->event_id;
			append(env, EVENT(ACTIVITY_TASK_CANCELED), CASE(ACTIVITY_TASK_CANCELED), done);
			work_free(w);
		}
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_START_TIMER_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__StartTimerCommandAttributes *a = c->start_timer_command_attributes;
		Temporal__Api__History__V1__TimerStartedEventAttributes *e = ATTRIBUTES(timer_started_event_attributes);
		e->timer_id = portico_strdup(a->timer_id);
		e->start_to_fire_timeout = copy(a->start_to_fire_timeout);
		e->workflow_task_completed_event_id = completed_id;
		event *ev = append(env, EVENT(TIMER_STARTED), CASE(TIMER_STARTED), e);
		timer *t = portico_calloc(1, sizeof *t);
		t->id = portico_strdup(a->timer_id);
		t->started_event_id = ev->event_id;
		const Google__Protobuf__Duration *d = a->start_to_fire_timeout;
		t->fire_ms = env->now_ms + (d ? d->seconds * 1000 + d->nanos / 1000000 : 0);
		t->next = env->timers;
		env->timers = t;
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_CANCEL_TIMER_COMMAND_ATTRIBUTES: {
		const char *id = c->cancel_timer_command_attributes->timer_id;
		Temporal__Api__History__V1__TimerCanceledEventAttributes *e =
		        ATTRIBUTES(timer_canceled_event_attributes);
		e->timer_id = portico_strdup(id);
		e->workflow_task_completed_event_id = completed_id;
		for (timer **t = &env->timers; *t; t = &(*t)->next) {
			if (!strcmp((*t)->id, id)) {
				timer *found = *t;
				*t = found->next;
				e->started_event_id = found->started_event_id;
				free(found->id);
				free(found);
				break;
			}
		}
		append(env, EVENT(TIMER_CANCELED), CASE(TIMER_CANCELED), e);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_RECORD_MARKER_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__RecordMarkerCommandAttributes *a =
		        c->record_marker_command_attributes;
		Temporal__Api__History__V1__MarkerRecordedEventAttributes *e =
		        ATTRIBUTES(marker_recorded_event_attributes);
		e->marker_name = portico_strdup(a->marker_name);
		e->n_details = a->n_details;
		e->details = portico_calloc(a->n_details + 1, sizeof *e->details);
		for (size_t i = 0; i < a->n_details; i++) {
			e->details[i] = ATTRIBUTES(marker_recorded_event_attributes__details_entry);
			e->details[i]->key = portico_strdup(a->details[i]->key);
			e->details[i]->value = copy(a->details[i]->value);
		}
		e->workflow_task_completed_event_id = completed_id;
		append(env, EVENT(MARKER_RECORDED), CASE(MARKER_RECORDED), e);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_START_CHILD_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__StartChildWorkflowExecutionCommandAttributes *a =
		        c->start_child_workflow_execution_command_attributes;
		Temporal__Api__History__V1__StartChildWorkflowExecutionInitiatedEventAttributes *e =
		        ATTRIBUTES(start_child_workflow_execution_initiated_event_attributes);
		e->namespace_ = portico_strdup(text(a->namespace_));
		e->workflow_id = portico_strdup(a->workflow_id);
		e->workflow_type = copy(a->workflow_type);
		e->task_queue = copy(a->task_queue);
		e->input = copy(a->input);
		e->parent_close_policy = a->parent_close_policy; /* as the server records it */
		e->workflow_task_completed_event_id = completed_id;
		event *ev = append(env, EVENT(START_CHILD_WORKFLOW_EXECUTION_INITIATED),
		                   CASE(START_CHILD_WORKFLOW_EXECUTION_INITIATED), e);
		queue_work(env, 1, ev->event_id, a->workflow_type->name, a->input);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__SignalExternalWorkflowExecutionCommandAttributes *a =
		        c->signal_external_workflow_execution_command_attributes;
		Temporal__Api__History__V1__SignalExternalWorkflowExecutionInitiatedEventAttributes *e =
		        ATTRIBUTES(signal_external_workflow_execution_initiated_event_attributes);
		e->namespace_ = portico_strdup(text(a->namespace_));
		e->workflow_execution = copy(a->execution);
		e->signal_name = portico_strdup(a->signal_name);
		e->input = copy(a->input);
		e->workflow_task_completed_event_id = completed_id;
		event *ev = append(env, EVENT(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED),
		                   CASE(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), e);
		Temporal__Api__History__V1__ExternalWorkflowExecutionSignaledEventAttributes *done =
		        ATTRIBUTES(external_workflow_execution_signaled_event_attributes);
		done->initiated_event_id = ev->event_id;
		done->workflow_execution = copy(a->execution);
		append(env, EVENT(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED), CASE(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED),
		       done);
		env->resolved = 1;
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__RequestCancelExternalWorkflowExecutionCommandAttributes *a =
		        c->request_cancel_external_workflow_execution_command_attributes;
		Temporal__Api__History__V1__RequestCancelExternalWorkflowExecutionInitiatedEventAttributes *e =
		        ATTRIBUTES(request_cancel_external_workflow_execution_initiated_event_attributes);
		e->namespace_ = portico_strdup(text(a->namespace_));
		e->workflow_execution = attributes(&temporal__api__common__v1__workflow_execution__descriptor);
		e->workflow_execution->workflow_id = portico_strdup(a->workflow_id);
		e->child_workflow_only = a->child_workflow_only;
		e->workflow_task_completed_event_id = completed_id;
		append(env, EVENT(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED),
		       CASE(REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), e);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES_COMMAND_ATTRIBUTES: {
		Temporal__Api__History__V1__UpsertWorkflowSearchAttributesEventAttributes *e =
		        ATTRIBUTES(upsert_workflow_search_attributes_event_attributes);
		e->search_attributes = copy(c->upsert_workflow_search_attributes_command_attributes->search_attributes);
		e->workflow_task_completed_event_id = completed_id;
		append(env, EVENT(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), CASE(UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), e);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_MODIFY_WORKFLOW_PROPERTIES_COMMAND_ATTRIBUTES: {
		Temporal__Api__History__V1__WorkflowPropertiesModifiedEventAttributes *e =
		        ATTRIBUTES(workflow_properties_modified_event_attributes);
		e->upserted_memo = copy(c->modify_workflow_properties_command_attributes->upserted_memo);
		e->workflow_task_completed_event_id = completed_id;
		append(env, EVENT(WORKFLOW_PROPERTIES_MODIFIED), CASE(WORKFLOW_PROPERTIES_MODIFIED), e);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_PROTOCOL_MESSAGE_COMMAND_ATTRIBUTES: {
		const workflow_message *m = find_message(out, c->protocol_message_command_attributes->message_id);
		if (m && m->body && strstr(text(m->body->type_url), "update.v1.Acceptance")) {
			Temporal__Api__History__V1__WorkflowExecutionUpdateAcceptedEventAttributes *e =
			        ATTRIBUTES(workflow_execution_update_accepted_event_attributes);
			e->protocol_instance_id = portico_strdup(text(m->protocol_instance_id));
			e->accepted_request_message_id = portico_strdup(text(env->update_request->id));
			e->accepted_request_sequencing_event_id = env->update_request->event_id;
			e->accepted_request = copy(env->update);
			append(env, EVENT(WORKFLOW_EXECUTION_UPDATE_ACCEPTED), CASE(WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
			       e);
		} else if (m && m->body) {
			Temporal__Api__Update__V1__Response *r =
			        unpack_body(m, &temporal__api__update__v1__response__descriptor);
			Temporal__Api__History__V1__WorkflowExecutionUpdateCompletedEventAttributes *e =
			        ATTRIBUTES(workflow_execution_update_completed_event_attributes);
			if (r) {
				e->meta = copy(r->meta);
				e->outcome = copy(r->outcome);
				protobuf_c_message_free_unpacked(&r->base, NULL);
			}
			append(env, EVENT(WORKFLOW_EXECUTION_UPDATE_COMPLETED),
			       CASE(WORKFLOW_EXECUTION_UPDATE_COMPLETED), e);
		}
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_COMPLETE_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		Temporal__Api__History__V1__WorkflowExecutionCompletedEventAttributes *e =
		        ATTRIBUTES(workflow_execution_completed_event_attributes);
		e->result = copy(c->complete_workflow_execution_command_attributes->result);
		e->workflow_task_completed_event_id = completed_id;
		append(env, EVENT(WORKFLOW_EXECUTION_COMPLETED), CASE(WORKFLOW_EXECUTION_COMPLETED), e);
		env->result = portico_payloads_first_value(e->result);
		close_with(env, PORTICO_WORKFLOW_COMPLETED);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_FAIL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		Temporal__Api__History__V1__WorkflowExecutionFailedEventAttributes *e =
		        ATTRIBUTES(workflow_execution_failed_event_attributes);
		e->failure = copy(c->fail_workflow_execution_command_attributes->failure);
		e->workflow_task_completed_event_id = completed_id;
		append(env, EVENT(WORKFLOW_EXECUTION_FAILED), CASE(WORKFLOW_EXECUTION_FAILED), e);
		env->failure = workflow_failure_from_proto(e->failure);
		close_with(env, PORTICO_WORKFLOW_FAILED);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_CANCEL_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		Temporal__Api__History__V1__WorkflowExecutionCanceledEventAttributes *e =
		        ATTRIBUTES(workflow_execution_canceled_event_attributes);
		e->workflow_task_completed_event_id = completed_id;
		append(env, EVENT(WORKFLOW_EXECUTION_CANCELED), CASE(WORKFLOW_EXECUTION_CANCELED), e);
		close_with(env, PORTICO_WORKFLOW_CANCELED);
		break;
	}
	case TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_CONTINUE_AS_NEW_WORKFLOW_EXECUTION_COMMAND_ATTRIBUTES: {
		const Temporal__Api__Command__V1__ContinueAsNewWorkflowExecutionCommandAttributes *a =
		        c->continue_as_new_workflow_execution_command_attributes;
		Temporal__Api__History__V1__WorkflowExecutionContinuedAsNewEventAttributes *e =
		        ATTRIBUTES(workflow_execution_continued_as_new_event_attributes);
		e->new_execution_run_id = portico_strdup("env-run-2");
		e->workflow_type = copy(a->workflow_type);
		e->task_queue = copy(a->task_queue);
		e->input = copy(a->input);
		e->workflow_task_completed_event_id = completed_id;
		append(env, EVENT(WORKFLOW_EXECUTION_CONTINUED_AS_NEW), CASE(WORKFLOW_EXECUTION_CONTINUED_AS_NEW), e);
		env->continue_args = portico_payloads_values(e->input);
		close_with(env, PORTICO_WORKFLOW_CONTINUE_AS_NEW);
		break;
	}
	default:
		break;
	}
}

/* One workflow task: scheduled, started, applied, answered. */
static int workflow_task(portico_workflow_env *env, portico_error *err)
{
	if (env->status != 1)
		return portico_error_set(err, PORTICO_FAILED_PRECONDITION, "the workflow has closed");
	if (env->count > MAX_EVENTS)
		return portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED, "the history has over %d events", MAX_EVENTS);
	event *scheduled = append(env, EVENT(WORKFLOW_TASK_SCHEDULED), CASE(WORKFLOW_TASK_SCHEDULED),
	                          ATTRIBUTES(workflow_task_scheduled_event_attributes));
	Temporal__Api__History__V1__WorkflowTaskStartedEventAttributes *s =
	        ATTRIBUTES(workflow_task_started_event_attributes);
	s->scheduled_event_id = scheduled->event_id;
	event *started = append(env, EVENT(WORKFLOW_TASK_STARTED), CASE(WORKFLOW_TASK_STARTED), s);
	workflow_message *messages[1] = {NULL};
	size_t message_count = 0;
	if (env->update_request && !env->update_done && env->update_request->event_id == 0) {
		env->update_request->event_id = started->event_id; /* delivered with this task */
		messages[message_count++] = env->update_request;
	}
	workflow_run_problem problem;
	if (workflow_run_apply(env->run, env->events + env->applied, env->count - env->applied, messages, message_count,
	                       &problem, err))
		return -1;
	env->applied = env->count;
	const workflow_run_output *out = workflow_run_output_get(env->run);
	Temporal__Api__History__V1__WorkflowTaskCompletedEventAttributes *c =
	        ATTRIBUTES(workflow_task_completed_event_attributes);
	c->scheduled_event_id = scheduled->event_id;
	c->started_event_id = started->event_id;
	event *completed = append(env, EVENT(WORKFLOW_TASK_COMPLETED), CASE(WORKFLOW_TASK_COMPLETED), c);
	read_update_messages(env, out);
	for (size_t i = 0; i < out->command_count; i++)
		record(env, out->commands[i], out, completed->event_id);
	return 0;
}

/* ---- The test's side ----------------------------------------------------------------------------- */

portico_workflow_env *portico_workflow_env_new(void)
{
	portico_workflow_env *env = portico_calloc(1, sizeof *env);
	env->now_ms = START_MS;
	return env;
}

int portico_workflow_env_start(portico_workflow_env *env, const char *workflow_type, json_t *args, portico_error *err)
{
	return portico_workflow_env_start_continued(env, workflow_type, args, NULL, err);
}

int portico_workflow_env_start_continued(portico_workflow_env *env, const char *workflow_type, json_t *args,
                                         const char *continued_from, portico_error *err)
{
	if (env->run)
		return portico_error_set(err, PORTICO_FAILED_PRECONDITION, "the env has started its workflow already");
	workflow_run_options options = {.namespace_name = "default",
	                                .lookup = lookup,
	                                .lookup_arg = env,
	                                .workflow_id = "env-workflow",
	                                .run_id = "env-run"};
	env->run = workflow_run_new(&options);
	env->status = 1;
	Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes *a =
	        ATTRIBUTES(workflow_execution_started_event_attributes);
	a->workflow_type = attributes(&temporal__api__common__v1__workflow_type__descriptor);
	a->workflow_type->name = portico_strdup(workflow_type);
	a->task_queue = attributes(&temporal__api__taskqueue__v1__task_queue__descriptor);
	a->task_queue->name = portico_strdup("env");
	json_t *none = json_array();
	a->input = portico_payloads_of_values(json_is_array(args) ? args : none);
	json_decref(none);
	a->workflow_id = portico_strdup("env-workflow");
	a->original_execution_run_id = portico_strdup("env-run");
	a->first_execution_run_id = portico_strdup("env-run");
	if (continued_from)
		a->continued_execution_run_id = portico_strdup(continued_from);
	a->attempt = 1;
	append(env, EVENT(WORKFLOW_EXECUTION_STARTED), CASE(WORKFLOW_EXECUTION_STARTED), a);
	return workflow_task(env, err);
}

/* Runs one queued activity or child and writes its outcome. */
static void run_work(portico_workflow_env *env, work *w)
{
	const registration *r = find(env, w->type, 0);
	json_t *result = NULL;
	portico_workflow_failure *failure = NULL;
	int rc = r ? r->fn(w->args, &result, &failure, r->arg) : -1;
	if (!r)
		failure = portico_workflow_failure_new("NotFoundError", 1, NULL,
		                                       "no function is registered for %s in the "
		                                       "env",
		                                       w->type);
	if (rc != 0 && !failure)
		failure = portico_workflow_failure_new("", 0, NULL, "%s failed", w->type);
	json_t *one = json_pack("[o]", result ? result : json_null());
	if (w->child) {
		Temporal__Api__History__V1__ChildWorkflowExecutionStartedEventAttributes *s =
		        ATTRIBUTES(child_workflow_execution_started_event_attributes);
		s->initiated_event_id = w->scheduled_event_id;
		event *started =
		        append(env, EVENT(CHILD_WORKFLOW_EXECUTION_STARTED), CASE(CHILD_WORKFLOW_EXECUTION_STARTED), s);
		if (rc == 0) {
			Temporal__Api__History__V1__ChildWorkflowExecutionCompletedEventAttributes *e =
			        ATTRIBUTES(child_workflow_execution_completed_event_attributes);
			e->initiated_event_id = w->scheduled_event_id;
			e->started_event_id = started->event_id;
			e->result = portico_payloads_of_values(one);
			append(env, EVENT(CHILD_WORKFLOW_EXECUTION_COMPLETED), CASE(CHILD_WORKFLOW_EXECUTION_COMPLETED),
			       e);
		} else {
			Temporal__Api__History__V1__ChildWorkflowExecutionFailedEventAttributes *e =
			        ATTRIBUTES(child_workflow_execution_failed_event_attributes);
			e->initiated_event_id = w->scheduled_event_id;
			e->started_event_id = started->event_id;
			e->failure = workflow_failure_to_proto(failure);
			append(env, EVENT(CHILD_WORKFLOW_EXECUTION_FAILED), CASE(CHILD_WORKFLOW_EXECUTION_FAILED), e);
		}
	} else {
		Temporal__Api__History__V1__ActivityTaskStartedEventAttributes *s =
		        ATTRIBUTES(activity_task_started_event_attributes);
		s->scheduled_event_id = w->scheduled_event_id;
		s->attempt = 1;
		event *started = append(env, EVENT(ACTIVITY_TASK_STARTED), CASE(ACTIVITY_TASK_STARTED), s);
		if (rc == 0) {
			Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes *e =
			        ATTRIBUTES(activity_task_completed_event_attributes);
			e->scheduled_event_id = w->scheduled_event_id;
			e->started_event_id = started->event_id;
			e->result = portico_payloads_of_values(one);
			append(env, EVENT(ACTIVITY_TASK_COMPLETED), CASE(ACTIVITY_TASK_COMPLETED), e);
		} else {
			Temporal__Api__History__V1__ActivityTaskFailedEventAttributes *e =
			        ATTRIBUTES(activity_task_failed_event_attributes);
			e->scheduled_event_id = w->scheduled_event_id;
			e->started_event_id = started->event_id;
			e->failure = workflow_failure_to_proto(failure);
			append(env, EVENT(ACTIVITY_TASK_FAILED), CASE(ACTIVITY_TASK_FAILED), e);
		}
	}
	json_decref(one);
	portico_workflow_failure_free(failure);
	work_free(w);
}

/* Fires the earliest timer due within limit_ms (workflow time); 1 when one fired. */
static int fire_timer(portico_workflow_env *env, int64_t limit_ms)
{
	timer **earliest = NULL;
	for (timer **t = &env->timers; *t; t = &(*t)->next)
		if (!earliest || (*t)->fire_ms < (*earliest)->fire_ms)
			earliest = t;
	if (!earliest || (limit_ms >= 0 && (*earliest)->fire_ms > limit_ms))
		return 0;
	timer *t = *earliest;
	*earliest = t->next;
	if (t->fire_ms > env->now_ms)
		env->now_ms = t->fire_ms;
	Temporal__Api__History__V1__TimerFiredEventAttributes *e = ATTRIBUTES(timer_fired_event_attributes);
	e->timer_id = t->id; /* taken */
	e->started_event_id = t->started_event_id;
	append(env, EVENT(TIMER_FIRED), CASE(TIMER_FIRED), e);
	free(t);
	return 1;
}

/* Delivers one activity or child, or fires one timer due by limit_ms (negative: any), then runs a
 * workflow task. 1 when it did, 0 when nothing was left, -1 with err. */
static int step(portico_workflow_env *env, int64_t limit_ms, portico_error *err)
{
	if (env->status != 1)
		return 0;
	if (env->resolved) {
		env->resolved = 0;
	} else if (env->work) {
		work *w = env->work;
		env->work = w->next;
		run_work(env, w);
	} else if (!fire_timer(env, limit_ms)) {
		return 0;
	}
	return workflow_task(env, err) ? -1 : 1;
}

int portico_workflow_env_step(portico_workflow_env *env, portico_error *err)
{
	return step(env, -1, err);
}

int portico_workflow_env_run(portico_workflow_env *env, int64_t max_ms, portico_error *err)
{
	int64_t limit = max_ms >= 0 ? env->now_ms + max_ms : -1;
	int r;
	while ((r = step(env, limit, err)) == 1)
		;
	return r;
}

int portico_workflow_env_signal(portico_workflow_env *env, const char *name, json_t *args, portico_error *err)
{
	if (env->status != 1)
		return portico_error_set(err, PORTICO_FAILED_PRECONDITION, "the workflow has closed");
	Temporal__Api__History__V1__WorkflowExecutionSignaledEventAttributes *e =
	        ATTRIBUTES(workflow_execution_signaled_event_attributes);
	e->signal_name = portico_strdup(name);
	json_t *none = json_array();
	e->input = portico_payloads_of_values(json_is_array(args) ? args : none);
	json_decref(none);
	append(env, EVENT(WORKFLOW_EXECUTION_SIGNALED), CASE(WORKFLOW_EXECUTION_SIGNALED), e);
	return workflow_task(env, err);
}

int portico_workflow_env_cancel(portico_workflow_env *env, portico_error *err)
{
	if (env->status != 1)
		return portico_error_set(err, PORTICO_FAILED_PRECONDITION, "the workflow has closed");
	append(env, EVENT(WORKFLOW_EXECUTION_CANCEL_REQUESTED), CASE(WORKFLOW_EXECUTION_CANCEL_REQUESTED),
	       ATTRIBUTES(workflow_execution_cancel_requested_event_attributes));
	return workflow_task(env, err);
}

static void update_clear(portico_workflow_env *env)
{
	if (env->update_request)
		protobuf_c_message_free_unpacked(&env->update_request->base, NULL);
	if (env->update)
		protobuf_c_message_free_unpacked(&env->update->base, NULL);
	json_decref(env->update_result);
	portico_workflow_failure_free(env->update_failure);
	env->update_request = NULL;
	env->update = NULL;
	env->update_result = NULL;
	env->update_failure = NULL;
	env->update_done = 0;
}

int portico_workflow_env_update(portico_workflow_env *env, const char *name, json_t *args, json_t **result,
                                portico_workflow_failure **failure, portico_error *err)
{
	*result = NULL;
	*failure = NULL;
	if (env->status != 1)
		return portico_error_set(err, PORTICO_FAILED_PRECONDITION, "the workflow has closed");
	update_clear(env);
	char id[32];
	snprintf(id, sizeof id, "env-update-%llu", (unsigned long long)++env->update_seq);
	Temporal__Api__Update__V1__Request *request = attributes(&temporal__api__update__v1__request__descriptor);
	request->meta = attributes(&temporal__api__update__v1__meta__descriptor);
	request->meta->update_id = portico_strdup(id);
	request->input = attributes(&temporal__api__update__v1__input__descriptor);
	request->input->name = portico_strdup(name);
	json_t *none = json_array();
	request->input->args = portico_payloads_of_values(json_is_array(args) ? args : none);
	json_decref(none);
	env->update = request;
	workflow_message *m = attributes(&temporal__api__protocol__v1__message__descriptor);
	m->id = portico_sprintf("%s/request", id);
	m->protocol_instance_id = portico_strdup(id);
	m->sequencing_id_case = TEMPORAL__API__PROTOCOL__V1__MESSAGE__SEQUENCING_ID_EVENT_ID;
	m->body = attributes(&google__protobuf__any__descriptor);
	m->body->type_url = portico_strdup("type.googleapis.com/temporal.api.update.v1.Request");
	m->body->value.len = protobuf_c_message_get_packed_size(&request->base);
	m->body->value.data = portico_malloc(m->body->value.len ? m->body->value.len : 1);
	protobuf_c_message_pack(&request->base, m->body->value.data);
	env->update_request = m;
	if (workflow_task(env, err))
		return -1;
	for (int tasks = 1; !env->update_done && tasks < UPDATE_TASK; tasks++) {
		int r = step(env, -1, err); /* the handler waits for an activity or a timer */
		if (r < 0)
			return -1;
		if (r == 0)
			break; /* it waits on the test */
	}
	if (!env->update_done)
		return portico_error_set(err, PORTICO_DEADLINE_EXCEEDED, "update %s has no outcome yet", name);
	int outcome = env->update_outcome;
	*result = env->update_result;
	*failure = env->update_failure;
	env->update_result = NULL;
	env->update_failure = NULL;
	return outcome;
}

int portico_workflow_env_query(portico_workflow_env *env, const char *name, json_t *args, json_t **result, char **error)
{
	*result = NULL;
	*error = NULL;
	if (!env->run) {
		*error = portico_strdup("the workflow has not started");
		return -1;
	}
	json_t *none = json_array();
	portico_payloads *payloads = portico_payloads_of_values(json_is_array(args) ? args : none);
	json_decref(none);
	portico_payloads *answer = NULL;
	int rc = workflow_run_query(env->run, name, payloads, &answer, error);
	portico_payloads_free(payloads);
	if (rc == 0) {
		*result = portico_payloads_first_value(answer);
		portico_payloads_free(answer);
	}
	return rc;
}

int portico_workflow_env_status(const portico_workflow_env *env)
{
	return env->status;
}

json_t *portico_workflow_env_result(const portico_workflow_env *env)
{
	return env->result;
}

const portico_workflow_failure *portico_workflow_env_failure(const portico_workflow_env *env)
{
	return env->failure;
}

json_t *portico_workflow_env_continue_args(const portico_workflow_env *env)
{
	return env->continue_args;
}

int64_t portico_workflow_env_now_ms(const portico_workflow_env *env)
{
	return env->now_ms;
}

json_t *portico_workflow_env_history(const portico_workflow_env *env)
{
	Temporal__Api__History__V1__History history = TEMPORAL__API__HISTORY__V1__HISTORY__INIT;
	history.n_events = env->count;
	history.events = env->events;
	portico_protojson_options options = {.payload_shorthand = 0};
	return portico_protojson_encode(&history.base, &options);
}

void portico_workflow_env_free(portico_workflow_env *env)
{
	if (!env)
		return;
	workflow_run_free(env->run);
	for (size_t i = 0; i < env->count; i++)
		protobuf_c_message_free_unpacked(&env->events[i]->base, NULL);
	free(env->events);
	for (registration *r = env->registrations, *next; r; r = next) {
		next = r->next;
		free(r->type);
		free(r);
	}
	for (work *w = env->work, *next; w; w = next) {
		next = w->next;
		work_free(w);
	}
	for (timer *t = env->timers, *next; t; t = next) {
		next = t->next;
		free(t->id);
		free(t);
	}
	update_clear(env);
	json_decref(env->result);
	json_decref(env->continue_args);
	portico_workflow_failure_free(env->failure);
	free(env);
}
