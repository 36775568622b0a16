/* Pollers reserve a slot, long-poll the task queue and queue what they get; executor threads run
 * the activities and start their answers to Temporal (worker_activity.c); the slot is free once
 * the answer is acknowledged. Event-loop activities start on the loop's thread and, when they
 * finish, go back through the queue so that an executor answers for them: the loop never waits
 * on Temporal. Process activities run in a child while their executor waits
 * (activity_process.c). Polls and answers, the workflow side's too, share the client's connection
 * and so its one completion thread: each thread waiting on gRPC is woken for the others' traffic
 * too. Each poll has a cancel, so that shutdown ends it at once. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "worker.h"

#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activity_process.h"
#include "activity_sink.h"
#include "alloc.h"
#include "backoff.h"
#include "clock.h"
#include "client.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "transport.h"
#include "worker_activity.h"
#include "worker_workflow.h"

#define DEFAULT_POLLERS         2
#define SHUTDOWN_RPC_TIMEOUT_MS 5000
#define CANCEL_WAIT_MS          5000
#define SLOT_WAIT_MS            200
#define FLUSH_INTERVAL_MS       100
#define FLUSH_BATCH             64
#define LOOP_HELPERS            2 /* threads that start event-loop tasks and answer for them */
#define READY_TIMEOUT_MS        2000
/* A failing poller retries at least this often (its backoff is at most 10 s), so a failure older
 * than this, with a poll out since, means polling works again even before a long poll answers. */
#define POLL_RECOVERY_MS (PORTICO_BACKOFF_MAX_MS + 5000)

enum execution_model { ON_THREAD, IN_PROCESS, ON_LOOP };

typedef struct registration {
	char *type;
	portico_activity_fn fn;
	void *user_data;
	enum execution_model model;
	struct registration *next;
} registration;

/* One of the worker's concurrent long polls for activity tasks. Polls go on the client's own
 * connection, as the answers do, so that one completion thread sees both (a connection of their
 * own doubled the threads woken per task); cancel ends the poll at shutdown. A poll that ends
 * starts the next from the completion thread when it still holds a slot or can take one at once;
 * otherwise, and after a failure, it hands over to the poller's thread, which waits for a slot or
 * backs off. Whoever holds the turn (the thread, or the poll in flight) owns failures and err. */
typedef struct activity_poller {
	struct portico_worker *worker;
	pthread_t thread;
	portico_cancel cancel;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int thread_turn;   /* the thread is to start the next poll (guarded by lock) */
	portico_error err; /* why the last poll failed, for the thread to log */
	unsigned failures; /* polls failed in a row, for the backoff */
} activity_poller;

/* Work for threads: a task to run, or an event-loop activity that finished, to answer. */
typedef struct queued_task {
	activity_task *task;
	worker_activity *finished;
	int outcome;
	struct queued_task *next;
} queued_task;

typedef struct work_queue {
	struct portico_worker *worker;
	queued_task *head, *tail;
	pthread_cond_t ready;
} work_queue;

struct portico_worker {
	worker_link link; /* the client, namespace, identity, codec and answer counters */
	char *task_queue;
	unsigned max_concurrent, pollers, threads;
	int64_t grace_ms;
	portico_metrics *metrics;
	registration *registrations;
	worker_workflow *workflows; /* the workflow side: its pollers, runs and cache */

	sem_t slots;
	activity_poller *pollers_state; /* pollers of them */
	pthread_t *executor_threads, loop_helpers[LOOP_HELPERS];
	atomic_int stopping;

	pthread_mutex_t lock; /* guards the queues, the running list and executors_stop */
	/* Two queues, so that blocking activities never hold up the event loop's work. */
	work_queue blocking;  /* thread-pool and process tasks, for the executors */
	work_queue loop_work; /* event-loop tasks to start and answers to send, for the loop helpers */
	worker_activity *running;
	size_t running_count;
	size_t starting;     /* taken off the queue, not yet running or answered */
	atomic_size_t alive; /* activities made and not yet freed: running, or their answer in flight */
	int grace_over;      /* activities starting from now on are cancelled at once */
	int executors_stop;
	int started;
	pthread_t flusher_thread;
	pthread_cond_t flush_wake; /* with lock: a heartbeat waits, or the worker stops */
	int heartbeats_wait;       /* some running activity's heartbeat may wait (guarded by lock) */
	portico_loop *loop;
	pthread_t loop_thread;
	atomic_uint_fast64_t polls, tasks, run_ms_total;
	/* For readiness: when a poll last answered and last failed (monotonic ms, 0 for never), and
	 * why it failed (guarded by lock). */
	atomic_int_fast64_t poll_ok_ms, poll_failed_ms;
	char *poll_error;
};

/* The link's activity_gone: an activity's answer has been acknowledged (or has failed), so its
 * slot takes another task. Lowering alive is the last touch of the worker: shutdown may free it
 * as soon as alive is 0. */
static void activity_gone(portico_worker *worker)
{
	sem_post(&worker->slots);
	atomic_fetch_sub_explicit(&worker->alive, 1, memory_order_release);
}

/* The link's heartbeat_waiting: the flusher has work again. */
static void heartbeat_waiting(portico_worker *worker)
{
	pthread_mutex_lock(&worker->lock);
	worker->heartbeats_wait = 1;
	pthread_cond_signal(&worker->flush_wake);
	pthread_mutex_unlock(&worker->lock);
}

portico_worker *portico_worker_new(portico_client *client, const portico_worker_options *options)
{
	portico_worker *worker = portico_calloc(1, sizeof *worker);
	worker->link.client = client;
	worker->task_queue = portico_strdup(options->task_queue);
	worker->max_concurrent =
	        options->max_concurrent ? options->max_concurrent : PORTICO_WORKER_DEFAULT_MAX_CONCURRENT;
	worker->pollers = options->pollers ? options->pollers : DEFAULT_POLLERS;
	worker->threads = options->threads ? options->threads : worker->max_concurrent;
	worker->grace_ms = options->grace_ms >= 0 ? options->grace_ms : PORTICO_WORKER_DEFAULT_GRACE_MS;
	worker->link.max_payload_bytes =
	        options->max_payload_bytes ? options->max_payload_bytes : PORTICO_DEFAULT_MAX_PAYLOAD_BYTES;
	worker->link.codec = options->codec;
	worker->metrics = options->metrics;
	worker->link.namespace_name = portico_strdup(portico_client_namespace(client));
	pthread_mutex_init(&worker->lock, NULL);
	worker->blocking.worker = worker->loop_work.worker = worker;
	pthread_cond_init(&worker->blocking.ready, NULL);
	pthread_cond_init(&worker->loop_work.ready, NULL);
	worker->workflows = worker_workflow_new(&worker->link, options->task_queue, options);
	worker->link.activity_gone = activity_gone;
	worker->link.heartbeat_waiting = heartbeat_waiting;
	pthread_cond_init(&worker->flush_wake, NULL);
	return worker;
}

static void add_registration(portico_worker *worker, const char *activity_type, portico_activity_fn fn, void *user_data,
                             enum execution_model model)
{
	registration *r = portico_calloc(1, sizeof *r);
	r->type = portico_strdup(activity_type);
	r->fn = fn;
	r->user_data = user_data;
	r->model = model;
	r->next = worker->registrations;
	worker->registrations = r;
}

void portico_worker_register(portico_worker *worker, const char *activity_type, portico_activity_fn fn, void *user_data)
{
	add_registration(worker, activity_type, fn, user_data, ON_THREAD);
}

void portico_worker_register_process(portico_worker *worker, const char *activity_type, portico_activity_fn fn,
                                     void *user_data)
{
	add_registration(worker, activity_type, fn, user_data, IN_PROCESS);
}

void portico_worker_register_loop(portico_worker *worker, const char *activity_type, portico_activity_fn fn,
                                  void *user_data)
{
	add_registration(worker, activity_type, fn, user_data, ON_LOOP);
}

void portico_worker_register_workflow(portico_worker *worker, const char *workflow_type, portico_workflow_fn fn,
                                      void *user_data)
{
	if (worker->started) { /* the pollers look registrations up without a lock */
		portico_log("error", "workflow registered after the worker started: ignored",
		            json_pack("{s:o}", "workflowType", portico_log_text(workflow_type)));
		return;
	}
	worker_workflow_register(worker->workflows, workflow_type, fn, user_data);
}

void portico_worker_register_dynamic_workflow(portico_worker *worker, portico_workflow_fn fn, void *user_data)
{
	if (worker->started) {
		portico_log("error", "dynamic workflow registered after the worker started: ignored", NULL);
		return;
	}
	worker_workflow_register(worker->workflows, NULL, fn, user_data);
}

static const registration *find_registration(const portico_worker *worker, const char *type)
{
	for (const registration *r = worker->registrations; r; r = r->next)
		if (!strcmp(r->type, type))
			return r;
	return NULL;
}

/* ---- Running an activity ---------------------------------------------------------------------- */

/* With the lock held. */
static void running_link(portico_worker *worker, worker_activity *activity)
{
	activity->next = worker->running;
	if (activity->next)
		activity->next->prev = activity;
	worker->running = activity;
	worker->running_count++;
}

/* With the lock held. */
static void running_unlink(portico_worker *worker, worker_activity *activity)
{
	if (activity->prev)
		activity->prev->next = activity->next;
	else
		worker->running = activity->next;
	if (activity->next)
		activity->next->prev = activity->prev;
	worker->running_count--;
}

static void running_remove(portico_worker *worker, worker_activity *activity)
{
	pthread_mutex_lock(&worker->lock);
	running_unlink(worker, activity);
	pthread_mutex_unlock(&worker->lock);
}

static void count_run_time(worker_activity *activity)
{
	portico_worker *worker = activity->worker;
	int64_t ran_ms = portico_monotonic_ms() - activity->started_ms;
	atomic_fetch_add(&worker->run_ms_total, (uint64_t)ran_ms);
	if (worker->metrics) {
		char labels[256];
		portico_metrics_label(labels, sizeof labels, "activity_type", activity->base.info.activity_type);
		portico_metrics_observe(worker->metrics, "portico_worker_activity_duration_seconds", labels,
		                        (double)ran_ms / 1000);
	}
}

/* With the lock held; the caller signals queue->ready once it has let the lock go, so that the
 * thread it wakes does not wake only to wait for that lock. */
static void push_locked(work_queue *queue, queued_task *item)
{
	if (queue->tail)
		queue->tail->next = item;
	else
		queue->head = item;
	queue->tail = item;
}

/* The sink's finish, for event-loop activities: an executor answers for them. */
static void finish_on_loop(portico_activity *base, int outcome)
{
	worker_activity *activity = (worker_activity *)base;
	portico_worker *worker = activity->worker;
	count_run_time(activity);
	queued_task *item = portico_calloc(1, sizeof *item);
	item->finished = activity;
	item->outcome = outcome;
	/* Off the running list and onto the queue at once, so that the worker never looks idle. */
	pthread_mutex_lock(&worker->lock);
	running_unlink(worker, activity);
	push_locked(&worker->loop_work, item);
	pthread_mutex_unlock(&worker->lock);
	pthread_cond_signal(&worker->loop_work.ready);
}

/* Where the worker's activities report: Temporal, but for the end of an event-loop activity,
 * which goes through the queue. */
static const activity_sink temporal_sink = {worker_activity_heartbeat, worker_activity_cancelled, finish_on_loop};

static void start_on_loop(void *arg)
{
	worker_activity *activity = arg;
	const registration *r = find_registration(activity->worker, activity->base.info.activity_type);
	activity->on_loop = 1;
	activity_begin_on_loop(&activity->base, r->fn, r->user_data);
}

/* Runs a task from the queue (an event-loop one only starts); the activity keeps the task's slot
 * until it is freed, after its answer. */
static void run_task(portico_worker *worker, activity_task *task)
{
	worker_activity *activity = portico_malloc(sizeof *activity); /* freed by its last unref */
	atomic_fetch_add(&worker->alive, 1);
	worker_activity_init(activity, worker, &worker->link, &temporal_sink, task);
	portico_activity *base = &activity->base;
	pthread_mutex_lock(&worker->lock);
	worker->starting--;
	if (worker->grace_over)
		atomic_store(&activity->shutting_down, 1);
	running_link(worker, activity);
	pthread_mutex_unlock(&worker->lock);
	activity->started_ms = portico_monotonic_ms();
	const registration *r = find_registration(worker, base->info.activity_type);
	if (r && r->model == ON_LOOP) {
		base->loop = worker->loop;
		portico_loop_post(worker->loop, start_on_loop, activity);
		return;
	}
	int outcome = !r                       ? portico_activity_fail(base, "NotFoundError", 0, 0,
	                                                               "activity type \"%s\" is not registered on this worker",
	                                                               base->info.activity_type)
	              : r->model == IN_PROCESS ? activity_process_run(base, r->fn, r->user_data)
	                                       : r->fn(base, r->user_data);
	running_remove(worker, activity);
	count_run_time(activity);
	worker_activity_answer(activity, outcome);
}

/* ---- Threads ---------------------------------------------------------------------------------- */

static int reserve_slot(portico_worker *worker)
{
	while (!atomic_load(&worker->stopping)) {
		struct timespec until = portico_wall_deadline(SLOT_WAIT_MS);
		if (sem_timedwait(&worker->slots, &until) == 0)
			return 0;
	}
	return -1;
}

static void enqueue(portico_worker *worker, activity_task *task)
{
	queued_task *item = portico_calloc(1, sizeof *item);
	item->task = task;
	const registration *r = find_registration(worker, task->activity_type ? task->activity_type->name : "");
	work_queue *queue = r && r->model == ON_LOOP ? &worker->loop_work : &worker->blocking;
	pthread_mutex_lock(&worker->lock);
	push_locked(queue, item);
	pthread_mutex_unlock(&worker->lock);
	pthread_cond_signal(&queue->ready);
}

static void note_poll_failure(portico_worker *worker, const portico_error *err)
{
	pthread_mutex_lock(&worker->lock);
	free(worker->poll_error);
	worker->poll_error =
	        portico_sprintf("%s: %s", portico_code_name(err->code), err->message ? err->message : "no detail");
	pthread_mutex_unlock(&worker->lock);
	atomic_store(&worker->poll_failed_ms, portico_monotonic_ms());
}

static void on_poll(void *arg, ProtobufCMessage *response, portico_error *err);

/* Starts poller's next long poll, for which a slot is reserved. -1 with poller->err set (and the
 * slot given back) when it cannot start: the transport is closing, or the poller was cancelled. */
static int start_poll(activity_poller *poller)
{
	portico_worker *worker = poller->worker;
	portico_request request;
	const portico_request_target target = worker_link_target(&worker->link);
	portico_request_poll_activities(&request, &target, worker->task_queue);
	request.options.cancel = &poller->cancel;
	if (portico_transport_call_async(portico_client_transport(worker->link.client), &request.options,
	                                 &request.message.base, on_poll, poller, &poller->err)) {
		sem_post(&worker->slots);
		return -1;
	}
	return 0;
}

static void give_thread_the_turn(activity_poller *poller)
{
	pthread_mutex_lock(&poller->lock);
	poller->thread_turn = 1;
	pthread_cond_signal(&poller->wake);
	pthread_mutex_unlock(&poller->lock);
}

/* A poll ended, on the completion thread: queue its task and poll again at once if a slot is
 * free, or leave that to the poller's thread. */
static void on_poll(void *arg, ProtobufCMessage *response, portico_error *err)
{
	activity_poller *poller = arg;
	portico_worker *worker = poller->worker;
	activity_task *task = (activity_task *)response;
	int slot_held = 0;
	if (task) {
		atomic_fetch_add(&worker->polls, 1);
		atomic_store(&worker->poll_ok_ms, portico_monotonic_ms());
		poller->failures = 0;
		if (task->task_token.len) {
			atomic_fetch_add(&worker->tasks, 1);
			enqueue(worker, task); /* the task takes the slot */
		} else {
			protobuf_c_message_free_unpacked(&task->base, NULL); /* the long poll ended empty */
			slot_held = 1;
		}
	} else {
		sem_post(&worker->slots);
		portico_error_set(&poller->err, err->code, "%s", err->message ? err->message : "");
	}
	if (task && !atomic_load(&worker->stopping) && (slot_held || sem_trywait(&worker->slots) == 0)) {
		if (start_poll(poller) == 0)
			return;
	} else if (slot_held) {
		sem_post(&worker->slots);
	}
	give_thread_the_turn(poller);
}

/* Takes the turn whenever the completion thread could not go on polling: logs a failure and backs
 * off, waits for a slot, starts the poll. Ends once the worker stops. */
static void *poller_main(void *arg)
{
	activity_poller *poller = arg;
	portico_worker *worker = poller->worker;
	for (;;) {
		pthread_mutex_lock(&poller->lock);
		while (!poller->thread_turn)
			pthread_cond_wait(&poller->wake, &poller->lock);
		poller->thread_turn = 0;
		pthread_mutex_unlock(&poller->lock);
		if (poller->err.code != PORTICO_OK && !atomic_load(&worker->stopping)) {
			note_poll_failure(worker, &poller->err);
			portico_log("warn", "poll failed",
			            json_pack("{s:s,s:o}", "code", portico_code_name(poller->err.code), "detail",
			                      portico_log_text(poller->err.message)));
			portico_sleep_unless(&worker->stopping, portico_backoff_delay_ms(++poller->failures));
		}
		portico_error_clear(&poller->err);
		if (reserve_slot(worker))
			return NULL;
		if (start_poll(poller))
			poller->thread_turn = 1; /* its own turn again: log, back off and retry */
	}
}

/* Serves one queue: executors the blocking one, loop helpers the event loop's. */
static void *executor_main(void *arg)
{
	work_queue *queue = arg;
	portico_worker *worker = queue->worker;
	for (;;) {
		pthread_mutex_lock(&worker->lock);
		while (!queue->head && !worker->executors_stop)
			pthread_cond_wait(&queue->ready, &worker->lock);
		queued_task *item = queue->head;
		if (!item) {
			pthread_mutex_unlock(&worker->lock);
			return NULL;
		}
		queue->head = item->next;
		if (!queue->head)
			queue->tail = NULL;
		worker->starting++;
		pthread_mutex_unlock(&worker->lock);
		if (item->finished) {
			worker_activity_answer(item->finished, item->outcome);
			pthread_mutex_lock(&worker->lock);
			worker->starting--;
			pthread_mutex_unlock(&worker->lock);
		} else {
			run_task(worker, item->task);
		}
		free(item);
	}
}

static size_t busy(portico_worker *worker);

/* Without its threads the worker would take tasks it cannot run; better to stop loudly. */
static _Noreturn void thread_failed(void)
{
	portico_log("error", "cannot start the worker's threads", NULL);
	abort();
}

/* Sends the heartbeats that were throttled once their window is over, as the SDKs do, so that
 * an activity heartbeating a little less often than the throttle still keeps its lease. While no
 * heartbeat waits, it sleeps until one does (heartbeat_waiting) rather than look every 100 ms. */
static void *flusher_main(void *arg)
{
	portico_worker *worker = arg;
	while (!atomic_load(&worker->stopping) || busy(worker)) {
		worker_activity *due[FLUSH_BATCH];
		size_t count = 0;
		int waiting = 0;
		pthread_mutex_lock(&worker->lock);
		while (!worker->heartbeats_wait && !atomic_load(&worker->stopping))
			pthread_cond_wait(&worker->flush_wake, &worker->lock);
		int64_t now = portico_monotonic_ms();
		for (worker_activity *a = worker->running; a && count < FLUSH_BATCH; a = a->next) {
			waiting = waiting || worker_activity_heartbeat_waits(a);
			if (worker_activity_heartbeat_due(a, now)) {
				atomic_fetch_add(&a->refs, 1);
				due[count++] = a;
			}
		}
		/* An activity whose heartbeat waits from now on calls heartbeat_waiting, which takes the
		 * lock: none is missed. */
		if (!waiting)
			worker->heartbeats_wait = 0;
		pthread_mutex_unlock(&worker->lock);
		for (size_t i = 0; i < count; i++) {
			worker_activity_flush_heartbeat(due[i]);
			worker_activity_unref(due[i]);
		}
		struct timespec pause = {0, FLUSH_INTERVAL_MS * 1000000L};
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void *loop_main(void *arg)
{
	portico_loop_run(arg);
	return NULL;
}

/* Starts a thread named name (at most 15 characters), so that top -H and profiles tell the
 * worker's threads apart. */
static void start_thread(pthread_t *thread, void *(*fn)(void *), void *arg, const char *name)
{
	if (pthread_create(thread, NULL, fn, arg))
		thread_failed();
	pthread_setname_np(*thread, name);
}

int portico_worker_check_long_polls(unsigned activity_pollers, unsigned workflow_pollers, portico_error *err)
{
	uint64_t workflow_polls = 2 * (uint64_t)workflow_pollers, polls = activity_pollers + workflow_polls;
	if (polls <= PORTICO_WORKER_MAX_LONG_POLLS)
		return 0;
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
	                         "%u activity long polls and %" PRIu64
	                         " workflow ones (the task queue's and the sticky "
	                         "queue's) make %" PRIu64 " at once, over %d: they share one connection with the "
	                         "answers, whose streams proxies often limit to 128",
	                         activity_pollers, workflow_polls, polls, PORTICO_WORKER_MAX_LONG_POLLS);
}

int portico_worker_start(portico_worker *worker, portico_error *err)
{
	if (!worker->task_queue || !*worker->task_queue)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the worker needs a task queue");
	if (!worker->registrations && !worker_workflow_any(worker->workflows))
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "the worker has no activities or workflows registered");
	if (!worker->registrations)
		worker->pollers = worker->threads = 0; /* nothing to poll activities for */
	if (portico_worker_check_long_polls(worker->pollers, worker_workflow_pollers(worker->workflows), err))
		return -1;
	portico_config cfg;
	if (portico_config_from_env(&cfg, err))
		return -1;
	worker->link.identity = portico_strdup(cfg.identity);
	portico_config_free(&cfg);
	if (!(worker->loop = portico_loop_new(err)))
		return -1;
	sem_init(&worker->slots, 0, worker->max_concurrent);
	worker->executor_threads = portico_calloc(worker->threads, sizeof(pthread_t));
	worker->pollers_state = portico_calloc(worker->pollers, sizeof *worker->pollers_state);
	start_thread(&worker->loop_thread, loop_main, worker->loop, "act-loop");
	for (unsigned i = 0; i < worker->threads; i++)
		start_thread(&worker->executor_threads[i], executor_main, &worker->blocking, "act-executor");
	for (unsigned i = 0; i < LOOP_HELPERS; i++)
		start_thread(&worker->loop_helpers[i], executor_main, &worker->loop_work, "act-loop-helper");
	for (unsigned i = 0; i < worker->pollers; i++) {
		activity_poller *poller = &worker->pollers_state[i];
		poller->worker = worker;
		poller->thread_turn = 1;
		pthread_mutex_init(&poller->lock, NULL);
		pthread_cond_init(&poller->wake, NULL);
		start_thread(&poller->thread, poller_main, poller, "act-poller");
	}
	start_thread(&worker->flusher_thread, flusher_main, worker, "act-heartbeats");
	if (worker_workflow_any(worker->workflows))
		worker_workflow_start(worker->workflows);
	worker->started = 1;
	return 0;
}

static size_t busy(portico_worker *worker)
{
	pthread_mutex_lock(&worker->lock);
	size_t count = worker->running_count + worker->starting + (worker->blocking.head != NULL) +
	               (worker->loop_work.head != NULL) + atomic_load(&worker->alive);
	pthread_mutex_unlock(&worker->lock);
	return count;
}

static void wait_until_idle(portico_worker *worker, int64_t limit_ms)
{
	int64_t deadline = portico_monotonic_ms() + limit_ms;
	while (busy(worker) && portico_monotonic_ms() < deadline) {
		struct timespec pause = {0, 20 * 1000000L};
		nanosleep(&pause, NULL);
	}
}

static void tell_temporal_we_stop(portico_worker *worker)
{
	portico_request request;
	const portico_request_target target = worker_link_target(&worker->link);
	portico_request_shutdown_worker(&request, &target, worker_workflow_sticky_queue(worker->workflows),
	                                "graceful shutdown");
	portico_error err = PORTICO_ERROR_INIT;
	/* Older servers answer Unimplemented; nothing depends on this call. */
	worker_link_call(&worker->link, &request, SHUTDOWN_RPC_TIMEOUT_MS, &err);
	portico_error_clear(&err);
}

int portico_worker_shutdown(portico_worker *worker)
{
	if (!worker->started)
		return 0;
	atomic_store(&worker->stopping, 1);
	pthread_mutex_lock(&worker->lock);
	pthread_cond_signal(&worker->flush_wake);
	pthread_mutex_unlock(&worker->lock);
	worker_workflow_stop_polling(worker->workflows);
	for (unsigned i = 0; i < worker->pollers; i++)
		portico_transport_cancel(portico_client_transport(worker->link.client),
		                         &worker->pollers_state[i].cancel);
	/* A cancelled poll gives its thread the turn, which then sees the worker stopping. */
	for (unsigned i = 0; i < worker->pollers; i++)
		pthread_join(worker->pollers_state[i].thread, NULL);
	worker_workflow_stop(worker->workflows);
	tell_temporal_we_stop(worker);

	wait_until_idle(worker, worker->grace_ms);
	pthread_mutex_lock(&worker->lock);
	worker->grace_over = 1;
	for (worker_activity *a = worker->running; a; a = a->next)
		atomic_store(&a->shutting_down, 1);
	pthread_mutex_unlock(&worker->lock);
	wait_until_idle(worker, CANCEL_WAIT_MS);

	/* What still runs ignored its cancellation: answer for it, so Temporal retries elsewhere now
	 * rather than after a timeout. Tasks still queued get the same answer. The answers go out
	 * without the lock held, so that activities finishing meanwhile are not held up. */
	pthread_mutex_lock(&worker->lock);
	worker->executors_stop = 1;
	size_t still_running = worker->running_count + worker->starting, stuck_count = 0;
	worker_activity **stuck = portico_calloc(worker->running_count + 1, sizeof *stuck);
	for (worker_activity *a = worker->running; a; a = a->next) {
		atomic_fetch_add(&a->refs, 1);
		stuck[stuck_count++] = a;
	}
	/* Answers waiting to go out first, then tasks that never started. */
	if (worker->loop_work.tail)
		worker->loop_work.tail->next = worker->blocking.head;
	queued_task *queued = worker->loop_work.head ? worker->loop_work.head : worker->blocking.head;
	worker->blocking.head = worker->blocking.tail = worker->loop_work.head = worker->loop_work.tail = NULL;
	pthread_cond_broadcast(&worker->blocking.ready);
	pthread_cond_broadcast(&worker->loop_work.ready);
	pthread_mutex_unlock(&worker->lock);
	for (size_t i = 0; i < stuck_count; i++) {
		worker_activity_respond_failed(stuck[i], "WorkerShutdown", 0, 0,
		                               "the worker shut down before the activity finished");
		worker_activity_unref(stuck[i]);
	}
	free(stuck);
	for (queued_task *next; queued; queued = next) {
		next = queued->next;
		if (queued->finished) {
			worker_activity_answer(queued->finished, queued->outcome);
			free(queued);
			continue;
		}
		worker_activity *activity = portico_malloc(sizeof *activity); /* freed by its last unref */
		atomic_fetch_add(&worker->alive, 1);
		worker_activity_init(activity, worker, &worker->link, &temporal_sink, queued->task);
		worker_activity_respond_failed(activity, "WorkerShutdown", 0, 0,
		                               "the worker shut down before the activity started");
		worker_activity_unref(activity);
		free(queued);
	}
	/* The answers just started, and any still in flight, must leave the process before the
	 * caller exits it (with -1 below it does so at once): wait for them, up to their deadline. */
	worker_link_wait_answers(&worker->link);
	if (still_running)
		return -1;
	/* The client must outlive the answers, and the worker what touches it last: the decrements
	 * of alive (activity_gone) and of the link's answers. */
	while (atomic_load_explicit(&worker->alive, memory_order_acquire) ||
	       atomic_load_explicit(&worker->link.answers, memory_order_acquire)) {
		struct timespec pause = {0, 5 * 1000000L};
		nanosleep(&pause, NULL);
	}
	for (unsigned i = 0; i < worker->threads; i++)
		pthread_join(worker->executor_threads[i], NULL);
	for (unsigned i = 0; i < LOOP_HELPERS; i++)
		pthread_join(worker->loop_helpers[i], NULL);
	pthread_join(worker->flusher_thread, NULL);
	portico_loop_stop(worker->loop);
	pthread_join(worker->loop_thread, NULL);
	worker->started = 0;
	return 0;
}

/* Polling works unless the last poll to end failed, and failed recently (see POLL_RECOVERY_MS). */
static int polls_failing(portico_worker *worker, portico_error *err)
{
	int64_t failed = atomic_load(&worker->poll_failed_ms), ok = atomic_load(&worker->poll_ok_ms);
	if (!failed || ok > failed || portico_monotonic_ms() - failed >= POLL_RECOVERY_MS)
		return 0;
	pthread_mutex_lock(&worker->lock);
	portico_error_set(err, PORTICO_UNAVAILABLE, "polling task queue \"%s\" fails: %s", worker->task_queue,
	                  worker->poll_error ? worker->poll_error : "no detail");
	pthread_mutex_unlock(&worker->lock);
	return -1;
}

int portico_worker_ready(portico_worker *worker, portico_error *err)
{
	if (!worker->started || atomic_load(&worker->stopping))
		return portico_error_set(err, PORTICO_UNAVAILABLE, "the worker is %s",
		                         worker->started ? "shutting down" : "not started");
	if (polls_failing(worker, err))
		return -1;
	portico_request request;
	portico_request_system_info(&request);
	request.options.timeout_ms = READY_TIMEOUT_MS;
	request.options.retry_transient = 0; /* a probe wants the answer of now */
	ProtobufCMessage *response;
	if (portico_transport_call(portico_client_transport(worker->link.client), &request.options,
	                           &request.message.base, &response, err)) {
		portico_error_prefix(err, "Temporal does not answer");
		return -1;
	}
	protobuf_c_message_free_unpacked(response, NULL);
	return 0;
}

json_t *portico_worker_activity_types(const portico_worker *worker)
{
	json_t *types = json_array();
	for (const registration *r = worker->registrations; r; r = r->next)
		json_array_insert_new(types, 0, portico_log_text(r->type)); /* the list is newest first */
	return types;
}

const struct workflow_definition *portico_worker_workflow_lookup(void *worker, const char *workflow_type)
{
	return worker_workflow_find(((portico_worker *)worker)->workflows, workflow_type);
}

json_t *portico_worker_workflow_types(const portico_worker *worker)
{
	return worker_workflow_types(worker->workflows);
}

void portico_worker_get_stats(portico_worker *worker, portico_worker_stats *stats)
{
	stats->polls = atomic_load(&worker->polls);
	stats->tasks = atomic_load(&worker->tasks);
	stats->completed = atomic_load(&worker->link.completed);
	stats->failed = atomic_load(&worker->link.failed);
	stats->canceled = atomic_load(&worker->link.canceled);
	stats->run_ms_total = atomic_load(&worker->run_ms_total);
	stats->slots_in_use = busy(worker);
	worker_workflow_get_stats(worker->workflows, stats);
}

void portico_worker_metrics_define(portico_metrics *metrics)
{
	static const struct {
		const char *name, *help;
		portico_metric_type type;
	} families[] = {
	        {"portico_worker_polls_total", "Long polls answered, with a task or empty.", PORTICO_COUNTER},
	        {"portico_worker_tasks_total", "Activity tasks received.", PORTICO_COUNTER},
	        {"portico_worker_activities_total", "Attempts answered, by outcome.", PORTICO_COUNTER},
	        {"portico_worker_activity_seconds_total", "Time spent running activities.", PORTICO_COUNTER},
	        {"portico_worker_slots_in_use", "Activities taken and not yet answered.", PORTICO_GAUGE},
	};
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		portico_metrics_define(metrics, families[i].name, families[i].type, families[i].help, NULL, 0);
	portico_metrics_define(metrics, "portico_worker_activity_duration_seconds", PORTICO_HISTOGRAM,
	                       "Attempt run time, by activity type.", portico_metrics_seconds,
	                       portico_metrics_seconds_count);
	worker_workflow_metrics_define(metrics);
}

void portico_worker_metrics_update(portico_worker *worker, portico_metrics *metrics)
{
	portico_worker_stats stats;
	portico_worker_get_stats(worker, &stats);
	portico_metrics_set(metrics, "portico_worker_polls_total", "", (double)stats.polls);
	portico_metrics_set(metrics, "portico_worker_tasks_total", "", (double)stats.tasks);
	portico_metrics_set(metrics, "portico_worker_activities_total", "outcome=\"completed\"",
	                    (double)stats.completed);
	portico_metrics_set(metrics, "portico_worker_activities_total", "outcome=\"failed\"", (double)stats.failed);
	portico_metrics_set(metrics, "portico_worker_activities_total", "outcome=\"canceled\"", (double)stats.canceled);
	portico_metrics_set(metrics, "portico_worker_activity_seconds_total", "", (double)stats.run_ms_total / 1000);
	portico_metrics_set(metrics, "portico_worker_slots_in_use", "", (double)stats.slots_in_use);
	worker_workflow_metrics_update(worker->workflows, metrics);
}

void portico_worker_free(portico_worker *worker)
{
	if (!worker || worker->started) /* threads still inside an activity keep the worker alive */
		return;
	worker_workflow_free(worker->workflows);
	portico_loop_free(worker->loop);
	for (registration *r = worker->registrations, *next; r; r = next) {
		next = r->next;
		free(r->type);
		free(r);
	}
	if (worker->executor_threads)
		sem_destroy(&worker->slots);
	for (unsigned i = 0; worker->pollers_state && i < worker->pollers; i++) {
		pthread_mutex_destroy(&worker->pollers_state[i].lock);
		pthread_cond_destroy(&worker->pollers_state[i].wake);
	}
	free(worker->pollers_state);
	free(worker->executor_threads);
	pthread_cond_destroy(&worker->blocking.ready);
	pthread_cond_destroy(&worker->loop_work.ready);
	pthread_cond_destroy(&worker->flush_wake);
	pthread_mutex_destroy(&worker->lock);
	free(worker->task_queue);
	free(worker->link.namespace_name);
	free(worker->link.identity);
	free(worker->poll_error);
	free(worker);
}
