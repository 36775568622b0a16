/* Each poller processes the task it got on its own thread: a workflow task is short (the code
 * runs until every coroutine blocks) and its run must not be touched by two threads, so a queue
 * and executors would only add hand-overs. The cache is a hash table of runs by run id plus a
 * list of the idle ones, least recently used last; a run being processed is in the table but not
 * in the list, so that it is never evicted under its poller. */
#include "worker_workflow.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "backoff.h"
#include "client.h"
#include "clock.h"
#include "codec.h"
#include "log.h"
#include "metrics.h"
#include "uuid.h"
#include "workflow_run.h"

#define EVENT(name)        TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##name
#define DEFAULT_POLLERS    5
#define RESPOND_TIMEOUT_MS 10000
#define HISTORY_TIMEOUT_MS 30000
/* Temporal stops a history at 51,200 events (limit.historyCount.error), a few hundred pages; a
 * server that keeps handing out page tokens past this is not followed further. */
#define MAX_HISTORY_PAGES 10000
#define FAILURE_SOURCE    "PorticoCWorker"
#define CAUSE(name)       TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_##name

typedef Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse workflow_task;
typedef Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse history_page;
typedef Temporal__Api__Query__V1__WorkflowQueryResult query_result;

typedef struct workflow_registration {
	char *type;
	workflow_definition definition;
	struct workflow_registration *next;
} workflow_registration;

typedef struct cached_run {
	char *run_id;
	workflow_run *run;
	int in_use;                       /* a poller has it: not in the idle list */
	int detached;                     /* out of the table (another task of the run came): freed when given back */
	struct cached_run *newer, *older; /* the idle list */
	struct cached_run *bucket_next;
} cached_run;

typedef struct poller {
	worker_workflow *side;
	int sticky;
	pthread_t thread;
	portico_cancel cancel; /* ends its poll at shutdown */
} poller;

struct worker_workflow {
	worker_link *link;
	char *task_queue;
	char *sticky_queue;
	unsigned pollers_per_queue;
	size_t cache_capacity;
	size_t stack_bytes;
	portico_metrics *metrics;
	workflow_registration *registrations; /* newest first; fixed once started */
	poller *pollers;
	unsigned poller_count;
	atomic_int stopping;
	int started;

	pthread_mutex_t lock; /* guards the cache */
	cached_run **buckets;
	size_t bucket_count; /* a power of two */
	cached_run *newest, *oldest;
	size_t cached; /* runs in the table */

	atomic_uint_fast64_t polls, tasks, completed, failed, nondeterminism, queries, hits, misses, evictions;
};

worker_workflow *worker_workflow_new(worker_link *link, const char *task_queue, const portico_worker_options *options)
{
	worker_workflow *side = portico_calloc(1, sizeof *side);
	side->link = link;
	side->task_queue = portico_strdup(task_queue ? task_queue : "");
	side->pollers_per_queue = options->workflow_pollers ? options->workflow_pollers : DEFAULT_POLLERS;
	side->cache_capacity =
	        options->workflow_cache_size ? options->workflow_cache_size : PORTICO_WORKER_DEFAULT_WORKFLOW_CACHE;
	side->stack_bytes = options->workflow_stack_bytes;
	side->metrics = options->metrics;
	/* About one run per bucket when the cache is full. */
	side->bucket_count = 16;
	while (side->bucket_count < side->cache_capacity)
		side->bucket_count *= 2;
	side->buckets = portico_calloc(side->bucket_count, sizeof *side->buckets);
	pthread_mutex_init(&side->lock, NULL);
	return side;
}

void worker_workflow_register(worker_workflow *side, const char *workflow_type, portico_workflow_fn fn, void *user_data)
{
	workflow_registration *r = portico_calloc(1, sizeof *r);
	r->type = workflow_type ? portico_strdup(workflow_type) : NULL;
	r->definition.fn = fn;
	r->definition.user_data = user_data;
	r->next = side->registrations;
	side->registrations = r;
}

int worker_workflow_any(const worker_workflow *side)
{
	return side->registrations != NULL;
}

unsigned worker_workflow_pollers(const worker_workflow *side)
{
	return worker_workflow_any(side) ? side->pollers_per_queue : 0;
}

json_t *worker_workflow_types(const worker_workflow *side)
{
	json_t *types = json_array();
	for (const workflow_registration *r = side->registrations; r; r = r->next)
		if (r->type)
			json_array_insert_new(types, 0, portico_log_text(r->type)); /* the list is newest first */
	return types;
}

const workflow_definition *worker_workflow_find(const worker_workflow *side, const char *workflow_type)
{
	const workflow_definition *dynamic = NULL;
	for (const workflow_registration *r = side->registrations; r; r = r->next) {
		if (!r->type)
			dynamic = &r->definition;
		else if (!strcmp(r->type, workflow_type))
			return &r->definition;
	}
	return dynamic;
}

/* The engine's lookup: registrations do not change once the pollers run, so no lock. */
static const workflow_definition *engine_lookup(void *arg, const char *workflow_type)
{
	return worker_workflow_find(arg, workflow_type);
}

/* ---- The cache -------------------------------------------------------------------------------- */

static cached_run **bucket_of(worker_workflow *side, const char *run_id)
{
	uint64_t hash = 1469598103934665603u; /* FNV-1a */
	for (const unsigned char *c = (const unsigned char *)run_id; *c; c++)
		hash = (hash ^ *c) * 1099511628211u;
	return &side->buckets[hash & (side->bucket_count - 1)];
}

/* With the lock held. */
static cached_run *table_find(worker_workflow *side, const char *run_id)
{
	for (cached_run *e = *bucket_of(side, run_id); e; e = e->bucket_next)
		if (!strcmp(e->run_id, run_id))
			return e;
	return NULL;
}

static void table_remove(worker_workflow *side, cached_run *entry)
{
	for (cached_run **slot = bucket_of(side, entry->run_id); *slot; slot = &(*slot)->bucket_next) {
		if (*slot == entry) {
			*slot = entry->bucket_next;
			side->cached--;
			return;
		}
	}
}

static void idle_unlink(worker_workflow *side, cached_run *entry)
{
	if (entry->newer)
		entry->newer->older = entry->older;
	else
		side->newest = entry->older;
	if (entry->older)
		entry->older->newer = entry->newer;
	else
		side->oldest = entry->newer;
	entry->newer = entry->older = NULL;
}

static void idle_push(worker_workflow *side, cached_run *entry)
{
	entry->newer = NULL;
	entry->older = side->newest;
	if (side->newest)
		side->newest->newer = entry;
	else
		side->oldest = entry;
	side->newest = entry;
}

static void entry_free(cached_run *entry)
{
	workflow_run_free(entry->run);
	free(entry->run_id);
	free(entry);
}

/* The entry of run_id, taken for one task: its cached run (a hit) or none yet (a miss; the
 * caller builds the run). A run another poller still has (Temporal does not do that, but a
 * duplicate task could) is left to it and forgotten by the cache. Give it back with cache_put. */
static cached_run *cache_take(worker_workflow *side, const char *run_id)
{
	pthread_mutex_lock(&side->lock);
	cached_run *entry = table_find(side, run_id);
	if (entry && !entry->in_use) {
		idle_unlink(side, entry);
		entry->in_use = 1;
		pthread_mutex_unlock(&side->lock);
		atomic_fetch_add(&side->hits, 1);
		return entry;
	}
	if (entry) {
		table_remove(side, entry);
		entry->detached = 1;
	}
	entry = portico_calloc(1, sizeof *entry);
	entry->run_id = portico_strdup(run_id);
	entry->in_use = 1;
	cached_run **bucket = bucket_of(side, run_id);
	entry->bucket_next = *bucket;
	*bucket = entry;
	side->cached++;
	pthread_mutex_unlock(&side->lock);
	atomic_fetch_add(&side->misses, 1);
	return entry;
}

/* The idle cached entry of run_id, taken for a query, or NULL when there is none or a poller
 * has it. Give it back with cache_put. */
static cached_run *cache_take_idle(worker_workflow *side, const char *run_id)
{
	pthread_mutex_lock(&side->lock);
	cached_run *entry = table_find(side, run_id);
	if (entry && !entry->in_use) {
		idle_unlink(side, entry);
		entry->in_use = 1;
	} else {
		entry = NULL;
	}
	pthread_mutex_unlock(&side->lock);
	return entry;
}

/* Temporal would send the evicted run's next task to the sticky queue and wait for it there;
 * telling it sends that task to the normal queue at once, with the whole history. Best effort:
 * a task that still comes to the sticky queue is rebuilt from history all the same. */
static void reset_sticky(worker_workflow *side, const cached_run *entry)
{
	const char *workflow_id = workflow_run_workflow_id(entry->run);
	if (!workflow_id || atomic_load(&side->stopping))
		return;
	portico_request request;
	const portico_request_target target = worker_link_target(side->link);
	portico_error err = PORTICO_ERROR_INIT;
	if (portico_request_reset_sticky(&request, &target, workflow_id, entry->run_id, &err) == 0)
		worker_link_call(side->link, &request, RESPOND_TIMEOUT_MS, &err);
	portico_error_clear(&err);
}

/* Gives back an entry from cache_take or cache_take_idle: kept idle with its run when keep (and
 * the run is still the cache's), else freed. Keeping one may evict the least recently used idle
 * runs over the capacity; they are torn down here, outside the lock. */
static void cache_put(worker_workflow *side, cached_run *entry, int keep)
{
	cached_run *evicted = NULL;
	pthread_mutex_lock(&side->lock);
	entry->in_use = 0;
	keep = keep && entry->run && !entry->detached;
	if (keep) {
		idle_push(side, entry);
		while (side->cached > side->cache_capacity && side->oldest) {
			cached_run *victim = side->oldest;
			idle_unlink(side, victim);
			table_remove(side, victim);
			victim->older = evicted;
			evicted = victim;
		}
	} else if (!entry->detached) {
		table_remove(side, entry);
	}
	pthread_mutex_unlock(&side->lock);
	if (!keep)
		entry_free(entry);
	for (cached_run *next; evicted; evicted = next) {
		next = evicted->older;
		atomic_fetch_add(&side->evictions, 1);
		reset_sticky(side, evicted);
		entry_free(evicted);
	}
}

/* ---- History ------------------------------------------------------------------------------------ */

/* The events to apply, borrowed from the task and from the pages fetched for it (owned here). */
typedef struct task_events {
	workflow_event **events;
	size_t count, capacity;
	ProtobufCMessage **pages;
	size_t page_count, page_capacity;
	int64_t until; /* the task's WorkflowTaskStarted event: later events are the next task's */
} task_events;

static void events_free(task_events *events)
{
	for (size_t i = 0; i < events->page_count; i++)
		protobuf_c_message_free_unpacked(events->pages[i], NULL);
	free(events->pages);
	free(events->events);
}

/* Adds history's events that come after those gathered so far, up to the task's started event. */
static void events_add(task_events *events, const Temporal__Api__History__V1__History *history)
{
	for (size_t i = 0; history && i < history->n_events; i++) {
		workflow_event *event = history->events[i];
		if (!event || (events->until > 0 && event->event_id > events->until) ||
		    (events->count && event->event_id <= events->events[events->count - 1]->event_id))
			continue;
		if (events->count == events->capacity) {
			events->capacity = events->capacity ? 2 * events->capacity : 64;
			events->events = portico_realloc(events->events, events->capacity * sizeof *events->events);
		}
		events->events[events->count++] = event;
	}
}

static void decode_within_limits(worker_workflow *side, ProtobufCMessage *message)
{
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, side->link->max_payload_bytes);
	portico_codec_decode_message_within(side->link->codec, message, &budget);
}

/* Adds the pages of the run's history from page_token (NULL: from its first event), each decoded
 * like a task. 0, or -1 with err set. */
static int fetch_history(worker_workflow *side, const workflow_task *task, const ProtobufCBinaryData *page_token,
                         task_events *events, portico_error *err)
{
	ProtobufCBinaryData token = page_token ? *page_token : (ProtobufCBinaryData){0, NULL};
	for (size_t pages = 0;; pages++) {
		if (pages == MAX_HISTORY_PAGES)
			return portico_error_set(err, PORTICO_OUT_OF_RANGE, "the history goes on past %d pages",
			                         MAX_HISTORY_PAGES);
		portico_history_page_options options = {.workflow_id = task->workflow_execution->workflow_id,
		                                        .run_id = task->workflow_execution->run_id,
		                                        .page_token = token.len ? &token : NULL};
		portico_request request;
		const portico_request_target target = worker_link_target(side->link);
		if (portico_request_history(&request, &target, &options, 0, err))
			return -1;
		request.options.timeout_ms = HISTORY_TIMEOUT_MS;
		ProtobufCMessage *response;
		if (portico_transport_call(portico_client_transport(side->link->client), &request.options,
		                           &request.message.base, &response, err)) {
			portico_error_prefix(err, "GetWorkflowExecutionHistory");
			return -1;
		}
		decode_within_limits(side, response);
		if (events->page_count == events->page_capacity) {
			events->page_capacity = events->page_capacity ? 2 * events->page_capacity : 4;
			events->pages = portico_realloc(events->pages, events->page_capacity * sizeof *events->pages);
		}
		events->pages[events->page_count++] = response;
		const history_page *page = (const history_page *)response;
		events_add(events, page->history);
		token = page->next_page_token;
		if (!token.len)
			return 0;
	}
}

static int64_t first_event_id(const workflow_task *task)
{
	const Temporal__Api__History__V1__History *history = task->history;
	return history && history->n_events && history->events[0] ? history->events[0]->event_id : 0;
}

/* The events that bring a run standing at last_event_id (0 for a new run) up to the task: the
 * task's own, with the pages after them, when they follow on; else the whole history. */
static int gather_events(worker_workflow *side, const workflow_task *task, int64_t last_event_id, task_events *events,
                         portico_error *err)
{
	memset(events, 0, sizeof *events);
	events->until = task->started_event_id;
	if (first_event_id(task) != last_event_id + 1) {
		/* The stored history, then the task's own events past it: a speculative workflow task (an
		 * update's) is not stored until it completes, and one whose update was rejected is never
		 * stored, so the next task starts over at its event ids. */
		if (fetch_history(side, task, NULL, events, err))
			return -1;
		events_add(events, task->history);
		return 0;
	}
	events_add(events, task->history);
	return task->next_page_token.len ? fetch_history(side, task, &task->next_page_token, events, err) : 0;
}

/* ---- Answers ------------------------------------------------------------------------------------ */

static void log_task(const char *level, const char *message, const workflow_task *task, const portico_error *err)
{
	const Temporal__Api__Common__V1__WorkflowExecution *execution = task->workflow_execution;
	json_t *fields = json_pack("{s:o,s:o,s:o,s:i}", "workflowId",
	                           portico_log_text(execution ? execution->workflow_id : NULL), "runId",
	                           portico_log_text(execution ? execution->run_id : NULL), "workflowType",
	                           portico_log_text(task->workflow_type ? task->workflow_type->name : NULL), "attempt",
	                           (int)task->attempt);
	if (err) {
		json_object_set_new(fields, "code", json_string(portico_code_name(err->code)));
		json_object_set_new(fields, "detail", portico_log_text(err->message));
	}
	portico_log(level, message, fields);
}

/* Sends an answer on the worker's client, retried when transient: with a codec, a copy of the
 * request is encoded, since the commands belong to the run. 0, or -1 with err set (RESOURCE_EXHAUSTED
 * for a payload over the limit, naming the field and the sizes). */
static int send_answer(worker_workflow *side, portico_request *request, portico_error *err)
{
	const worker_link *link = side->link;
	ProtobufCMessage *message = &request->message.base;
	if (link->codec) {
		size_t size = protobuf_c_message_get_packed_size(message);
		uint8_t *packed = portico_malloc(size ? size : 1);
		protobuf_c_message_pack(message, packed);
		message = protobuf_c_message_unpack(message->descriptor, NULL, size, packed);
		free(packed);
		if (!message)
			return portico_error_set(err, PORTICO_INTERNAL, "cannot copy the answer to encode it");
	}
	portico_payload_size largest;
	int status = portico_codec_encode_message(link->codec, message, link->max_payload_bytes, &largest, err);
	ProtobufCMessage *response = NULL;
	request->options.timeout_ms = RESPOND_TIMEOUT_MS;
	if (status == 0)
		status = portico_transport_call(portico_client_transport(link->client), &request->options, message,
		                                &response, err);
	if (response)
		protobuf_c_message_free_unpacked(response, NULL);
	if (message != &request->message.base)
		protobuf_c_message_free_unpacked(message, NULL);
	return status;
}

/* An application failure of type with message (borrowed), in info's storage. */
static void failure_init(Temporal__Api__Failure__V1__Failure *failure,
                         Temporal__Api__Failure__V1__ApplicationFailureInfo *info, const char *type,
                         const char *message)
{
	temporal__api__failure__v1__application_failure_info__init(info);
	info->type = (char *)type;
	temporal__api__failure__v1__failure__init(failure);
	failure->message = (char *)(message ? message : "");
	failure->source = FAILURE_SOURCE;
	failure->failure_info_case = TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO;
	failure->application_failure_info = info;
}

/* Fails the workflow task: Temporal retries it (on the normal queue, with the whole history) and
 * the workflow stays open, as with the official SDKs. Like them, only the first attempt is
 * answered: Temporal retries a failed task at once, so a task that fails every time would spin
 * between worker and server; a later attempt is left to its task timeout instead. */
static void respond_failed(worker_workflow *side, const workflow_task *task,
                           Temporal__Api__Enums__V1__WorkflowTaskFailedCause cause, const char *type,
                           const char *message)
{
	atomic_fetch_add(&side->failed, 1);
	if (task->attempt > 1)
		return;
	Temporal__Api__Failure__V1__Failure failure;
	Temporal__Api__Failure__V1__ApplicationFailureInfo info;
	failure_init(&failure, &info, type, message);
	portico_request request;
	const portico_request_target target = worker_link_target(side->link);
	portico_request_workflow_failed(&request, &target, task->task_token, cause, &failure);
	portico_error err = PORTICO_ERROR_INIT;
	if (worker_link_call(side->link, &request, RESPOND_TIMEOUT_MS, &err))
		log_task("error", "RespondWorkflowTaskFailed failed", task, &err);
	portico_error_clear(&err);
}

/* The answers to the task's queries, asked of run after its task: entries the caller frees with
 * query_results_free. */
static portico_query_result_entry **answer_queries(workflow_run *run, const workflow_task *task)
{
	portico_query_result_entry **entries = portico_calloc(task->n_queries + 1, sizeof *entries);
	for (size_t i = 0; i < task->n_queries; i++) {
		const Temporal__Api__Query__V1__WorkflowQuery *query =
		        task->queries[i] ? task->queries[i]->value : NULL;
		portico_query_result_entry *entry = portico_calloc(1, sizeof *entry);
		temporal__api__workflowservice__v1__respond_workflow_task_completed_request__query_results_entry__init(
		        entry);
		entry->key = portico_strdup(task->queries[i] ? task->queries[i]->key : "");
		query_result *result = portico_calloc(1, sizeof *result);
		temporal__api__query__v1__workflow_query_result__init(result);
		char *error = NULL;
		if (query &&
		    workflow_run_query(run, query->query_type, query->query_args, &result->answer, &error) == 0) {
			result->result_type = TEMPORAL__API__ENUMS__V1__QUERY_RESULT_TYPE__QUERY_RESULT_TYPE_ANSWERED;
		} else {
			result->result_type = TEMPORAL__API__ENUMS__V1__QUERY_RESULT_TYPE__QUERY_RESULT_TYPE_FAILED;
			result->error_message = error ? error : portico_strdup("the query has no type");
		}
		entry->value = result;
		entries[i] = entry;
	}
	return entries;
}

static void query_results_free(portico_query_result_entry **entries, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		portico_payloads_free(entries[i]->value->answer);
		if (entries[i]->value->error_message != protobuf_c_empty_string)
			free(entries[i]->value->error_message);
		free(entries[i]->value);
		free(entries[i]->key);
		free(entries[i]);
	}
	free(entries);
}

/* Answers the task run has just applied. 0, or -1 when Temporal did not take the answer: the run
 * is then ahead of what Temporal recorded and must not be kept. */
static int respond_completed(worker_workflow *side, workflow_run *run, const workflow_task *task)
{
	const workflow_run_output *output = workflow_run_output_get(run);
	portico_query_result_entry **results = answer_queries(run, task);
	portico_workflow_task_answer answer = {
	        .commands = output->commands,
	        .command_count = output->command_count,
	        .messages = output->messages,
	        .message_count = output->message_count,
	        .query_results = results,
	        .query_result_count = task->n_queries,
	        .sticky_queue = side->sticky_queue,
	        .normal_queue = side->task_queue,
	};
	portico_request request;
	const portico_request_target target = worker_link_target(side->link);
	portico_request_workflow_completed(&request, &target, task->task_token, &answer);
	portico_error err = PORTICO_ERROR_INIT;
	int status = send_answer(side, &request, &err);
	query_results_free(results, task->n_queries);
	if (status == 0) {
		atomic_fetch_add(&side->completed, 1);
	} else if (err.code == PORTICO_RESOURCE_EXHAUSTED) {
		/* Temporal would refuse the command and terminate the workflow; failing the task instead
		 * keeps the workflow open for a fixed worker, as the newest official SDKs do (the pinned
		 * API has no PAYLOADS_TOO_LARGE cause yet). */
		log_task("warn", "workflow task answer over the payload limit", task, &err);
		respond_failed(side, task, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE), "PayloadsTooLarge", err.message);
	} else {
		log_task("error", "RespondWorkflowTaskCompleted failed", task, &err);
	}
	portico_error_clear(&err);
	return status;
}

/* ---- Tasks -------------------------------------------------------------------------------------- */

/* A run for task's workflow execution (whose ids task_problem has checked). */
static workflow_run *run_new(worker_workflow *side, const workflow_task *task)
{
	workflow_run_options options = {.namespace_name = side->link->namespace_name,
	                                .lookup = engine_lookup,
	                                .lookup_arg = side,
	                                .stack_bytes = side->stack_bytes,
	                                .workflow_id = task->workflow_execution->workflow_id,
	                                .run_id = task->workflow_execution->run_id};
	return workflow_run_new(&options);
}

/* Applies events to run. 0, or -1 with err and *problem set. */
static int apply(workflow_run *run, const workflow_task *task, const task_events *events, workflow_run_problem *problem,
                 portico_error *err)
{
	*problem = WORKFLOW_RUN_OK;
	return workflow_run_apply(run, events->events, events->count, task->messages, task->n_messages, problem, err);
}

static void fail_task(worker_workflow *side, const workflow_task *task, workflow_run_problem problem,
                      const portico_error *err)
{
	int nondeterminism = problem == WORKFLOW_RUN_NONDETERMINISM;
	if (nondeterminism)
		atomic_fetch_add(&side->nondeterminism, 1);
	log_task("warn", nondeterminism ? "workflow task failed: non-determinism" : "workflow task failed", task, err);
	respond_failed(side, task,
	               nondeterminism ? CAUSE(NON_DETERMINISTIC_ERROR) : CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE),
	               nondeterminism ? "NonDeterminismError" : "WorkflowTaskError",
	               err->message ? err->message : "the workflow task failed");
}

static void process_workflow_task(worker_workflow *side, const workflow_task *task)
{
	cached_run *entry = cache_take(side, task->workflow_execution->run_id);
	if (entry->run && workflow_run_last_event_id(entry->run) + 1 != first_event_id(task) &&
	    !workflow_run_rewind(entry->run, first_event_id(task))) {
		/* Out of step (a task was lost or answered elsewhere): rebuild from the whole history. */
		workflow_run_free(entry->run);
		entry->run = NULL;
		atomic_fetch_add(&side->evictions, 1);
	}
	portico_error err = PORTICO_ERROR_INIT;
	workflow_run_problem problem = WORKFLOW_RUN_OK;
	task_events events;
	int keep = 0;
	if (gather_events(side, task, entry->run ? workflow_run_last_event_id(entry->run) : 0, &events, &err)) {
		fail_task(side, task, WORKFLOW_RUN_BAD_HISTORY, &err);
	} else {
		if (!entry->run)
			entry->run = run_new(side, task);
		if (apply(entry->run, task, &events, &problem, &err))
			fail_task(side, task, problem, &err);
		else
			keep = respond_completed(side, entry->run, task) == 0 && !workflow_run_closed(entry->run);
	}
	events_free(&events);
	portico_error_clear(&err);
	cache_put(side, entry, keep);
}

/* Answers a legacy query task with result, or as failed with message when result is NULL. */
static void respond_query(worker_workflow *side, const workflow_task *task, portico_payloads *result,
                          const char *message)
{
	Temporal__Api__Failure__V1__Failure failure;
	Temporal__Api__Failure__V1__ApplicationFailureInfo info;
	failure_init(&failure, &info, "QueryFailed", message);
	portico_request request;
	const portico_request_target target = worker_link_target(side->link);
	portico_request_query_completed(&request, &target, task->task_token, result, result ? NULL : &failure);
	portico_error err = PORTICO_ERROR_INIT;
	if (send_answer(side, &request, &err))
		log_task("error", "RespondQueryTaskCompleted failed", task, &err);
	portico_error_clear(&err);
}

/* A legacy query task (QueryWorkflow on a server without a workflow task to carry it): answered
 * from the cached run as it stands, or from a run rebuilt for the query and dropped after. */
static void process_legacy_query(worker_workflow *side, const workflow_task *task)
{
	atomic_fetch_add(&side->queries, 1);
	cached_run *entry = cache_take_idle(side, task->workflow_execution->run_id);
	workflow_run *run = entry ? entry->run : NULL;
	portico_error err = PORTICO_ERROR_INIT;
	if (!run) {
		task_events events;
		workflow_run_problem problem;
		run = run_new(side, task);
		if (gather_events(side, task, 0, &events, &err) == 0) {
			/* A workflow task in flight elsewhere at the end: the query answers from the state
			 * of the last completed one, and must not run (and log, and side-effect) the new one. */
			while (events.count &&
			       (events.events[events.count - 1]->event_type == EVENT(WORKFLOW_TASK_STARTED) ||
			        events.events[events.count - 1]->event_type == EVENT(WORKFLOW_TASK_SCHEDULED)))
				events.count--;
			apply(run, task, &events, &problem, &err);
		}
		events_free(&events);
	}
	portico_payloads *result = NULL;
	char *error = NULL;
	if (err.code == PORTICO_OK)
		workflow_run_query(run, task->query->query_type, task->query->query_args, &result, &error);
	respond_query(side, task, result, error ? error : err.message ? err.message : "the query has no answer");
	portico_error_clear(&err);
	portico_payloads_free(result);
	free(error);
	if (entry)
		cache_put(side, entry, 1);
	else
		workflow_run_free(run);
}

/* Every pointer the engine and the answers follow, checked: a bad task is failed, never a crash. */
static const char *task_problem(const workflow_task *task)
{
	const Temporal__Api__Common__V1__WorkflowExecution *execution = task->workflow_execution;
	if (!execution || !execution->workflow_id || !*execution->workflow_id || !execution->run_id ||
	    !*execution->run_id)
		return "the task names no workflow execution";
	if (task->query && !task->query->query_type)
		return "the query task names no query type";
	return NULL;
}

static void process_task(worker_workflow *side, workflow_task *task, int64_t received_ms)
{
	decode_within_limits(side, &task->base);
	const char *problem = task_problem(task);
	if (problem) {
		portico_log("warn", "bad workflow task", json_pack("{s:s}", "detail", problem));
		if (task->query)
			respond_query(side, task, NULL, problem);
		else
			respond_failed(side, task, CAUSE(WORKFLOW_WORKER_UNHANDLED_FAILURE), "WorkflowTaskError",
			               problem);
	} else if (task->query) {
		process_legacy_query(side, task);
	} else {
		process_workflow_task(side, task);
	}
	if (side->metrics)
		portico_metrics_observe(side->metrics, "portico_worker_workflow_task_duration_seconds", "",
		                        (double)(portico_monotonic_ms() - received_ms) / 1000);
}

/* ---- Pollers ------------------------------------------------------------------------------------ */

static void *poller_main(void *arg)
{
	poller *self = arg;
	worker_workflow *side = self->side;
	unsigned failures = 0;
	while (!atomic_load(&side->stopping)) {
		portico_request request;
		const portico_request_target target = worker_link_target(side->link);
		portico_request_poll_workflows(&request, &target, self->sticky ? side->sticky_queue : side->task_queue,
		                               self->sticky ? side->task_queue : NULL);
		portico_error err = PORTICO_ERROR_INIT;
		request.options.cancel = &self->cancel;
		workflow_task *task =
		        (workflow_task *)worker_link_poll(portico_client_transport(side->link->client), &request, &err);
		if (task) {
			atomic_fetch_add(&side->polls, 1);
			failures = 0;
			if (task->task_token.len) {
				atomic_fetch_add(&side->tasks, 1);
				process_task(side, task, portico_monotonic_ms());
			}
			protobuf_c_message_free_unpacked(&task->base, NULL);
		} else if (!atomic_load(&side->stopping)) {
			portico_log("warn", "workflow poll failed",
			            json_pack("{s:s,s:s,s:o}", "queue", self->sticky ? "sticky" : "normal", "code",
			                      portico_code_name(err.code), "detail", portico_log_text(err.message)));
			portico_sleep_unless(&side->stopping, portico_backoff_delay_ms(++failures));
		}
		portico_error_clear(&err);
	}
	return NULL;
}

void worker_workflow_start(worker_workflow *side)
{
	char uuid[PORTICO_UUID_LENGTH + 1];
	portico_uuid_v4(uuid);
	side->sticky_queue = portico_sprintf("%s-%s", side->link->identity ? side->link->identity : "portico", uuid);
	side->poller_count = 2 * side->pollers_per_queue;
	side->pollers = portico_calloc(side->poller_count, sizeof *side->pollers);
	for (unsigned i = 0; i < side->poller_count; i++) {
		side->pollers[i].side = side;
		side->pollers[i].sticky = i % 2;
		if (pthread_create(&side->pollers[i].thread, NULL, poller_main, &side->pollers[i])) {
			portico_log("error", "cannot start the workflow pollers", NULL);
			abort();
		}
	}
	side->started = 1;
}

const char *worker_workflow_sticky_queue(const worker_workflow *side)
{
	return side->sticky_queue;
}

void worker_workflow_stop_polling(worker_workflow *side)
{
	atomic_store(&side->stopping, 1);
	for (unsigned i = 0; side->started && i < side->poller_count; i++)
		portico_transport_cancel(portico_client_transport(side->link->client), &side->pollers[i].cancel);
}

void worker_workflow_stop(worker_workflow *side)
{
	if (!side->started)
		return;
	atomic_store(&side->stopping, 1);
	for (unsigned i = 0; i < side->poller_count; i++)
		pthread_join(side->pollers[i].thread, NULL);
	side->started = 0;
	/* Every run is idle now; ShutdownWorker then sends their next tasks to the normal queue. */
	pthread_mutex_lock(&side->lock);
	cached_run *idle = side->newest;
	side->newest = side->oldest = NULL;
	memset(side->buckets, 0, side->bucket_count * sizeof *side->buckets);
	side->cached = 0;
	pthread_mutex_unlock(&side->lock);
	for (cached_run *next; idle; idle = next) {
		next = idle->older;
		entry_free(idle);
	}
}

/* ---- Counters and metrics ------------------------------------------------------------------------- */

void worker_workflow_get_stats(worker_workflow *side, portico_worker_stats *stats)
{
	stats->workflow_polls = atomic_load(&side->polls);
	stats->workflow_tasks = atomic_load(&side->tasks);
	stats->workflow_completed = atomic_load(&side->completed);
	stats->workflow_failed = atomic_load(&side->failed);
	stats->workflow_nondeterminism = atomic_load(&side->nondeterminism);
	stats->legacy_queries = atomic_load(&side->queries);
	stats->cache_hits = atomic_load(&side->hits);
	stats->cache_misses = atomic_load(&side->misses);
	stats->cache_evictions = atomic_load(&side->evictions);
	pthread_mutex_lock(&side->lock);
	stats->cache_size = side->cached;
	pthread_mutex_unlock(&side->lock);
}

void worker_workflow_metrics_define(portico_metrics *metrics)
{
	static const struct {
		const char *name, *help;
		portico_metric_type type;
	} families[] = {
	        {"portico_worker_workflow_polls_total", "Workflow task long polls answered, with a task or empty.",
	         PORTICO_COUNTER},
	        {"portico_worker_workflow_tasks_total", "Workflow tasks answered, by outcome.", PORTICO_COUNTER},
	        {"portico_worker_workflow_nondeterminism_total", "Workflow tasks failed for non-determinism.",
	         PORTICO_COUNTER},
	        {"portico_worker_workflow_legacy_queries_total", "Legacy query tasks answered.", PORTICO_COUNTER},
	        {"portico_worker_workflow_cache_size", "Workflow runs kept in memory between tasks.", PORTICO_GAUGE},
	        {"portico_worker_workflow_cache_hits_total", "Workflow tasks whose run was in the cache.",
	         PORTICO_COUNTER},
	        {"portico_worker_workflow_cache_misses_total", "Workflow tasks whose run was built from history.",
	         PORTICO_COUNTER},
	        {"portico_worker_workflow_cache_evictions_total",
	         "Workflow runs dropped from the cache: full, or out of step with a task.", PORTICO_COUNTER},
	};
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		portico_metrics_define(metrics, families[i].name, families[i].type, families[i].help, NULL, 0);
	portico_metrics_define(metrics, "portico_worker_workflow_task_duration_seconds", PORTICO_HISTOGRAM,
	                       "Workflow task latency, from the poll's answer to Temporal's.", portico_metrics_seconds,
	                       portico_metrics_seconds_count);
}

void worker_workflow_metrics_update(worker_workflow *side, portico_metrics *metrics)
{
	portico_worker_stats stats;
	worker_workflow_get_stats(side, &stats);
	portico_metrics_set(metrics, "portico_worker_workflow_polls_total", "", (double)stats.workflow_polls);
	portico_metrics_set(metrics, "portico_worker_workflow_tasks_total", "outcome=\"completed\"",
	                    (double)stats.workflow_completed);
	portico_metrics_set(metrics, "portico_worker_workflow_tasks_total", "outcome=\"failed\"",
	                    (double)stats.workflow_failed);
	portico_metrics_set(metrics, "portico_worker_workflow_nondeterminism_total", "",
	                    (double)stats.workflow_nondeterminism);
	portico_metrics_set(metrics, "portico_worker_workflow_legacy_queries_total", "", (double)stats.legacy_queries);
	portico_metrics_set(metrics, "portico_worker_workflow_cache_size", "", (double)stats.cache_size);
	portico_metrics_set(metrics, "portico_worker_workflow_cache_hits_total", "", (double)stats.cache_hits);
	portico_metrics_set(metrics, "portico_worker_workflow_cache_misses_total", "", (double)stats.cache_misses);
	portico_metrics_set(metrics, "portico_worker_workflow_cache_evictions_total", "",
	                    (double)stats.cache_evictions);
}

void worker_workflow_free(worker_workflow *side)
{
	if (!side)
		return;
	worker_workflow_stop(side);
	for (workflow_registration *r = side->registrations, *next; r; r = next) {
		next = r->next;
		free(r->type);
		free(r);
	}
	pthread_mutex_destroy(&side->lock);
	free(side->buckets);
	free(side->pollers);
	free(side->task_queue);
	free(side->sticky_queue);
	free(side);
}
