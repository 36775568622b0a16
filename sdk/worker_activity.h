/* An activity the worker took from Temporal, seen from Temporal: its heartbeats (throttled, the
 * latest details kept), the cancellation they bring back, and its one answer
 * (RespondActivityTask{Completed,Failed,Canceled}). Its heartbeat and cancelled are the worker's
 * sink; the worker (worker.c) adds finish, and owns the threads, queues and slots around it. */
#ifndef PORTICO_WORKER_ACTIVITY_H
#define PORTICO_WORKER_ACTIVITY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "activity_sink.h"
#include "request.h"
#include "worker.h"

/* What talking to Temporal for the worker's activities needs: set before the worker starts,
 * read-only afterwards but for the counters. Part of the worker, which frees the strings. */
typedef struct worker_link {
	portico_client *client;
	char *namespace_name;
	char *identity;
	const portico_codec *codec;
	size_t max_payload_bytes;
	atomic_uint_fast64_t completed, failed, canceled; /* attempts answered, by outcome */
	/* Answers whose call has started and not ended. Its decrement is an answer's last touch of the
	 * worker, so that the worker may go once it is 0 (and alive, worker.c, too). */
	atomic_size_t answers;
	/* Called when a heap activity's last reference goes, which is after its answer's call has
	 * ended: the worker frees its slot. Any thread (often the transport's completion thread):
	 * it must not block. */
	void (*activity_gone)(portico_worker *worker);
	/* Called when an activity's heartbeat is left waiting for its throttle (or for the flusher,
	 * on the event loop) where none was: the worker wakes its flusher. Any thread, no lock held. */
	void (*heartbeat_waiting)(portico_worker *worker);
} worker_link;

typedef struct worker_activity {
	portico_activity base;  /* first: the sink's calls cast back */
	portico_worker *worker; /* for the worker's own bookkeeping; opaque here */
	worker_link *link;
	/* heartbeats */
	pthread_mutex_t lock;
	json_t *last_details; /* the latest details given, sent or not */
	int64_t last_sent_ms;
	int64_t throttle_ms;
	atomic_int cancel_requested; /* by Temporal */
	atomic_int gone;             /* Temporal no longer knows the task: answer nothing */
	atomic_int shutting_down;    /* the worker's grace period is over */
	atomic_int answered;         /* Temporal has been answered for this task */
	atomic_int too_large;        /* a heartbeat was over the payload limit: the attempt fails */
	atomic_int refs;             /* the executor's, plus the heartbeat flusher's and shutdown's while they use it */
	int heartbeat_pending;       /* last_details were not sent yet (guarded by lock) */
	char *too_large_message;     /* why the heartbeat was refused (guarded by lock) */
	int64_t started_ms;
	int on_loop;                         /* runs on the event loop: heartbeats are left to the flusher */
	const char *answer_method;           /* the Respond* call in flight, for its error's log line */
	struct worker_activity *prev, *next; /* the worker's running list (guarded by the worker's lock) */
} worker_activity;

/* The namespace and identity the link's requests go with (request.h). */
portico_request_target worker_link_target(const worker_link *link);

/* Sends a built request (request.h) on the worker's client with timeout_ms, retried when
 * transient as the request says; the response is dropped. 0, or -1 with err set. */
int worker_link_call(const worker_link *link, portico_request *request, int64_t timeout_ms, portico_error *err);

/* Sends a built poll (request.h) on transport and waits for its task: the response (the caller
 * frees it with protobuf_c_message_free_unpacked; an empty task token means the long poll ended
 * without one), or NULL with err set (CANCELLED once the cancel in request's options is cancelled
 * or the transport is shut down). */
ProtobufCMessage *worker_link_poll(portico_transport *transport, portico_request *request, portico_error *err);

/* Waits until no answer's call is in flight, at most for an answer's timeout and a little more:
 * 0, or -1 when some still are (the transport failed to end them by their deadline). An answer's
 * call holds no thread, so a process that exits without this may lose the answers it started. */
int worker_link_wait_answers(worker_link *link);

/* Sets up activity for task (which it takes) with one reference, reporting to sink (whose
 * heartbeat and cancelled are worker_activity_heartbeat and worker_activity_cancelled). */
void worker_activity_init(worker_activity *activity, portico_worker *worker, worker_link *link,
                          const activity_sink *sink, activity_task *task);

/* Frees what worker_activity_init made, the task included (not activity itself). */
void worker_activity_release(worker_activity *activity);

/* Drops a reference to a heap activity; the last one releases and frees it, then tells the
 * worker (link->activity_gone). */
void worker_activity_unref(worker_activity *activity);

/* Answers Temporal for an attempt that ended with outcome, and drops the caller's reference. The
 * answer's call is asynchronous: it holds a reference of its own until Temporal has acknowledged
 * it (or it failed, which is logged), so that the thread that ran the activity is free at once
 * and the transport's completion thread, not this one, takes the acknowledgement. */
void worker_activity_answer(worker_activity *activity, int outcome);

/* Fails the attempt at Temporal (unless it was answered already), with the latest heartbeat
 * details; asynchronously as above, so activity must be on the heap. */
void worker_activity_respond_failed(worker_activity *activity, const char *type, int non_retryable,
                                    int64_t next_retry_delay_ms, const char *message);

/* The sink's heartbeat: sent now when the throttle allows (never from the event loop), else
 * kept for worker_activity_flush_heartbeat. */
void worker_activity_heartbeat(portico_activity *activity, json_t *details);

/* The sink's cancelled: Temporal asked, the task is gone, the worker's grace period is over, a
 * heartbeat was too large, or the attempt's deadline has passed. */
int worker_activity_cancelled(const portico_activity *activity);

/* True when a throttled heartbeat waits and its window is over at now (monotonic ms). */
int worker_activity_heartbeat_due(worker_activity *activity, int64_t now);

/* True when a throttled heartbeat waits, due or not. */
int worker_activity_heartbeat_waits(worker_activity *activity);

/* Sends the latest throttled heartbeat, if it is still due. Any thread. */
void worker_activity_flush_heartbeat(worker_activity *activity);

#endif
