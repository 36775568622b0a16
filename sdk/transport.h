/* The gRPC transport: the one module that talks to gRPC's C core (every grpc_* call lives in
 * transport.c). It makes unary WorkflowService calls with protobuf-c messages, synchronously or
 * from a completion thread, with a deadline on every call, retries with backoff where the
 * caller says a retry is safe, and errors decoded into portico_error (code, message, details). */
#ifndef PORTICO_TRANSPORT_H
#define PORTICO_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "config.h"
#include "error.h"

#define PORTICO_DEFAULT_TIMEOUT_MS 10000
/* Long polls (task queue polls, history with wait_new_event, updates) are held by the server for
 * about 20 s (a minute for task polls); this leaves room for that plus the network. */
#define PORTICO_LONG_POLL_TIMEOUT_MS 70000
/* Temporal answers a long poll this long before the call's deadline (empty, for the caller to poll
 * again); a call that leaves it less is answered at once. */
#define PORTICO_LONG_POLL_TAIL_ROOM_MS 1000
/* Histories and list pages can be far larger than gRPC's 4 MiB default. */
#define PORTICO_MAX_RECEIVE_BYTES (128 * 1024 * 1024)

typedef struct portico_transport portico_transport;

/* Lets another thread cancel asynchronous calls (portico_transport_cancel), one call at a time.
 * The caller owns it: zero it, name it in the options of each call it may cancel, and keep it until
 * the last of those calls is done. Its fields are the transport's, used under its lock. */
typedef struct portico_cancel {
	struct portico_call *call; /* the call it cancels now, or NULL */
	int requested;             /* portico_transport_cancel was called */
} portico_cancel;

typedef struct portico_metadata {
	const char *key; /* lower case; keys ending in "-bin" carry raw bytes */
	const char *value;
} portico_metadata;

typedef struct portico_call_options {
	const char *method; /* a method of service, e.g. "StartWorkflowExecution" */
	/* WorkflowService (NULL) or OperatorService; no other service can be called. */
	const ProtobufCServiceDescriptor *service;
	/* Instead of method and service: the method's descriptor, which saves looking it up by name. */
	const ProtobufCMethodDescriptor *descriptor;
	const char *namespace_name; /* sent as temporal-namespace; NULL for the configured one */
	int64_t timeout_ms;         /* the whole call, retries included; 0 for the default */
	/* Retry UNAVAILABLE and RESOURCE_EXHAUSTED with backoff until the deadline. Set it only for
	 * calls that are idempotent or carry a request id: a retried call must not do work twice. */
	int retry_transient;
	const portico_metadata *metadata; /* extra headers (a forwarded authorization, say) */
	size_t metadata_count;
	portico_cancel *cancel; /* asynchronous calls: what can cancel this one, or NULL */
} portico_call_options;

/* Opens a channel to cfg->address; it connects on the first call. The transport copies what it
 * needs from cfg. Returns NULL with err set when the configuration cannot make a channel.
 * Free with portico_transport_close. */
portico_transport *portico_transport_open(const portico_config *cfg, portico_error *err);

/* Cancels the calls still in flight (their callbacks run, with CANCELLED) and waits for them;
 * calls started afterwards fail at once with UNAVAILABLE. The transport stays valid until
 * portico_transport_close, so a server can shut it down while requests may still arrive. */
void portico_transport_shutdown(portico_transport *transport);

/* Shuts the transport down (if not done yet) and frees it. */
void portico_transport_close(portico_transport *transport);

/* The address the transport talks to, for messages. */
const char *portico_transport_address(const portico_transport *transport);

/* Makes one call and waits for its answer. On success *response is the decoded response, which
 * the caller frees with protobuf_c_message_free_unpacked. On failure returns -1 with err set and
 * *response NULL. */
int portico_transport_call(portico_transport *transport, const portico_call_options *options,
                           const ProtobufCMessage *request, ProtobufCMessage **response, portico_error *err);

/* Called once per asynchronous call on the transport's completion thread, which it must not
 * block. response is the callee's to free (NULL on failure); err is NULL on success and is valid
 * only during the callback. */
typedef void (*portico_call_done_fn)(void *arg, ProtobufCMessage *response, portico_error *err);

/* Starts a call and returns at once; request may be freed on return. Returns -1 with err set
 * (and done never called) when the call cannot start: unknown method, transport closing, or its
 * options->cancel already cancelled (CANCELLED). */
int portico_transport_call_async(portico_transport *transport, const portico_call_options *options,
                                 const ProtobufCMessage *request, portico_call_done_fn done, void *arg,
                                 portico_error *err);

/* Cancels the asynchronous call started with cancel that is not done yet, if any: its callback
 * runs soon on the completion thread with CANCELLED (at once for a call on the wire; a call waiting
 * to retry within the completion thread's idle wake, 200 ms). Calls started with cancel from now on
 * fail to start. Any thread; it never waits and never runs a callback itself. */
void portico_transport_cancel(portico_transport *transport, portico_cancel *cancel);

/* Whether portico_transport_cancel was called on cancel. Any thread. */
int portico_transport_cancelled(portico_transport *transport, portico_cancel *cancel);

#endif
