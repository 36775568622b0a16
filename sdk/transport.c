/* All of Portico's gRPC C core calls. A unary call is one batch of six operations on a
 * registered method; synchronous calls pluck their own completion queue, asynchronous ones share
 * a queue drained by one completion thread, which also runs the delayed retries. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "transport.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "alloc.h"
#include "backoff.h"
#include "clock.h"
#include "temporal/api/operatorservice/v1/service.pb-c.h"
#include "temporal/api/workflowservice/v1/service.pb-c.h"

/* The services a transport calls; each method of each has a registered handle, in this order. */
static const ProtobufCServiceDescriptor *const services[] = {
        &temporal__api__workflowservice__v1__workflow_service__descriptor,
        &temporal__api__operatorservice__v1__operator_service__descriptor,
};
#define SERVICE_COUNT      (sizeof services / sizeof services[0])
#define STATUS_DETAILS_KEY "grpc-status-details-bin"
/* How often an idle completion thread looks at the closing flag. */
#define IDLE_WAKE_MS         200
#define KEEPALIVE_TIME_MS    30000
#define KEEPALIVE_TIMEOUT_MS 15000
/* After Temporal comes back, calls work again within this (gRPC's default backoff grows to 120 s). */
#define MAX_RECONNECT_BACKOFF_MS 3000
#define USER_AGENT               "portico/0.1"

/* absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle), as Debian's Abseil names it. */
#define ABSL_SET_DEADLOCK_DETECTION "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE"
#define ABSL_DEADLOCK_IGNORE        0 /* absl::OnDeadlockCycle::kIgnore */

typedef struct portico_call call;

struct portico_transport {
	char *address;
	char *namespace_name;
	char *authorization; /* "Bearer <api key>", or NULL */
	grpc_channel *channel;
	void **registered; /* one handle per method of services[], the first service's first */

	grpc_completion_queue *async_queue;
	pthread_t completion_thread;
	pthread_mutex_t lock; /* guards closing, in_flight, and the calls' cancel and in_flight fields */
	int closing;
	call *in_flight;     /* asynchronous calls with a live grpc_call */
	call *retries;       /* waiting for their next attempt, soonest first; completion thread only */
	int queue_shut_down; /* completion thread only */
};

/* One unary call across its attempts. */
struct portico_call {
	portico_transport *transport;
	const ProtobufCMethodDescriptor *method;
	unsigned method_index;
	grpc_slice request;
	grpc_metadata *metadata;
	size_t metadata_count;
	int64_t deadline_ms;
	int retry_transient;
	unsigned attempt;

	/* The attempt in progress. */
	grpc_call *grpc;
	grpc_byte_buffer *send_buffer;
	grpc_metadata_array initial_metadata;
	grpc_metadata_array trailing_metadata;
	grpc_byte_buffer *recv_buffer;
	grpc_status_code status;
	grpc_slice status_message;

	/* Asynchronous calls only. */
	portico_call_done_fn done;
	void *done_arg;
	portico_cancel *cancel; /* the caller's, or NULL */
	int in_flight;          /* an attempt is on the wire (in transport->in_flight) */
	int64_t retry_at_ms;
	call *prev, *next;
};

static gpr_timespec deadline_from_ms(int64_t deadline_ms)
{
	int64_t remaining = deadline_ms - portico_monotonic_ms();
	if (remaining < 0)
		remaining = 0;
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(remaining, GPR_TIMESPAN));
}

static grpc_channel_credentials *make_credentials(const portico_config *cfg)
{
	if (!cfg->tls)
		return grpc_insecure_credentials_create();
	grpc_ssl_pem_key_cert_pair pair = {cfg->tls_key_pem, cfg->tls_cert_pem};
	return grpc_ssl_credentials_create(cfg->tls_ca_pem, cfg->tls_cert_pem ? &pair : NULL, NULL, NULL);
}

static grpc_arg integer_arg(const char *key, int value)
{
	grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = (char *)key};
	arg.value.integer = value;
	return arg;
}

static grpc_arg string_arg(const char *key, const char *value)
{
	grpc_arg arg = {.type = GRPC_ARG_STRING, .key = (char *)key};
	arg.value.string = (char *)value;
	return arg;
}

static void *completion_loop(void *arg);

/* Debian builds Abseil without NDEBUG, so every absl::Mutex gRPC takes (a dozen a call) also ran
 * Abseil's lock-order check: a lookup in one graph under one global lock that every thread shares,
 * some 8,000 instructions of a call. Abseil's release builds leave the check off; so does Portico,
 * when the library it runs with has the switch (by its C++ name: this is C). The check only ever
 * aborted the process on a lock-order bug of gRPC's. */
static void absl_deadlock_detection_off(void)
{
	void (*set_mode)(int);
	*(void **)&set_mode = dlsym(RTLD_DEFAULT, ABSL_SET_DEADLOCK_DETECTION);
	if (set_mode)
		set_mode(ABSL_DEADLOCK_IGNORE);
}

portico_transport *portico_transport_open(const portico_config *cfg, portico_error *err)
{
	absl_deadlock_detection_off();
	grpc_init();
	grpc_channel_credentials *credentials = make_credentials(cfg);
	if (!credentials) {
		grpc_shutdown();
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "cannot set up TLS to Temporal at %s: check TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT and "
		                  "TEMPORAL_TLS_KEY",
		                  cfg->address);
		return NULL;
	}
	grpc_arg args[8];
	size_t n_args = 0;
	args[n_args++] = integer_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, PORTICO_MAX_RECEIVE_BYTES);
	args[n_args++] = integer_arg(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, PORTICO_MAX_RECEIVE_BYTES);
	args[n_args++] = integer_arg(GRPC_ARG_KEEPALIVE_TIME_MS, KEEPALIVE_TIME_MS);
	args[n_args++] = integer_arg(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS);
	args[n_args++] = integer_arg(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
	args[n_args++] = integer_arg(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, MAX_RECONNECT_BACKOFF_MS);
	args[n_args++] = string_arg(GRPC_ARG_PRIMARY_USER_AGENT_STRING, USER_AGENT);
	if (cfg->tls && cfg->tls_server_name)
		args[n_args++] = string_arg(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, cfg->tls_server_name);
	grpc_channel_args channel_args = {n_args, args};

	portico_transport *transport = portico_calloc(1, sizeof *transport);
	transport->address = portico_strdup(cfg->address);
	transport->namespace_name = portico_strdup(cfg->namespace_name);
	if (cfg->api_key)
		transport->authorization = portico_sprintf("Bearer %s", cfg->api_key);
	transport->channel = grpc_channel_create(cfg->address, credentials, &channel_args);
	grpc_channel_credentials_release(credentials);

	size_t total = 0;
	for (size_t s = 0; s < SERVICE_COUNT; s++)
		total += services[s]->n_methods;
	transport->registered = portico_calloc(total, sizeof *transport->registered);
	void **handle = transport->registered;
	for (size_t s = 0; s < SERVICE_COUNT; s++) {
		for (unsigned i = 0; i < services[s]->n_methods; i++) {
			char *path = portico_sprintf("/%s/%s", services[s]->name, services[s]->methods[i].name);
			*handle++ = grpc_channel_register_call(transport->channel, path, NULL, NULL);
			free(path);
		}
	}

	transport->async_queue = grpc_completion_queue_create_for_next(NULL);
	pthread_mutex_init(&transport->lock, NULL);
	pthread_create(&transport->completion_thread, NULL, completion_loop, transport);
	pthread_setname_np(transport->completion_thread, "grpc-completion");
	return transport;
}

void portico_transport_shutdown(portico_transport *transport)
{
	pthread_mutex_lock(&transport->lock);
	int already = transport->closing;
	transport->closing = 1;
	for (call *c = transport->in_flight; c; c = c->next)
		grpc_call_cancel(c->grpc, NULL);
	pthread_mutex_unlock(&transport->lock);
	if (!already)
		pthread_join(transport->completion_thread, NULL);
}

void portico_transport_close(portico_transport *transport)
{
	if (!transport)
		return;
	portico_transport_shutdown(transport);

	grpc_completion_queue_destroy(transport->async_queue);
	grpc_channel_destroy(transport->channel);
	pthread_mutex_destroy(&transport->lock);
	free(transport->registered);
	free(transport->address);
	free(transport->namespace_name);
	free(transport->authorization);
	free(transport);
	grpc_shutdown();
}

const char *portico_transport_address(const portico_transport *transport)
{
	return transport->address;
}

static void metadata_set(grpc_metadata *entry, const char *key, const char *value)
{
	memset(entry, 0, sizeof *entry);
	entry->key = grpc_slice_from_copied_string(key);
	entry->value = grpc_slice_from_copied_string(value);
}

/* Checks the method and request, serializes the request and the headers. Returns NULL with err
 * set on a caller mistake; the call is freed by call_free. */
static void call_free(call *c);

static call *call_prepare(portico_transport *transport, const portico_call_options *options,
                          const ProtobufCMessage *request, portico_error *err)
{
	const ProtobufCMethodDescriptor *given = options->descriptor;
	const ProtobufCServiceDescriptor *service = options->service ? options->service : services[0];
	unsigned first = 0; /* the index of the service's first handle */
	size_t s = 0;
	for (; s < SERVICE_COUNT; s++) {
		if (given ? given >= services[s]->methods && given < services[s]->methods + services[s]->n_methods
		          : services[s] == service)
			break;
		first += services[s]->n_methods;
	}
	if (given && s < SERVICE_COUNT)
		service = services[s];
	const ProtobufCMethodDescriptor *method =
	        given && s < SERVICE_COUNT ? given
	        : options->method && s < SERVICE_COUNT
	                ? protobuf_c_service_descriptor_get_method_by_name(service, options->method)
	                : NULL;
	if (!method) {
		portico_error_set(err, PORTICO_UNIMPLEMENTED, "%s is not a %s method",
		                  given             ? given->name
		                  : options->method ? options->method
		                                    : "(null)",
		                  service->short_name);
		return NULL;
	}
	if (request->descriptor != method->input) {
		portico_error_set(err, PORTICO_INTERNAL, "%s takes %s, not %s", method->name, method->input->name,
		                  request->descriptor->name);
		return NULL;
	}

	call *c = portico_calloc(1, sizeof *c);
	c->transport = transport;
	c->method = method;
	c->method_index = first + (unsigned)(method - service->methods);
	c->retry_transient = options->retry_transient;
	c->cancel = options->cancel;
	int64_t timeout_ms = options->timeout_ms > 0 ? options->timeout_ms : PORTICO_DEFAULT_TIMEOUT_MS;
	c->deadline_ms = portico_monotonic_ms() + timeout_ms;

	size_t size = protobuf_c_message_get_packed_size(request);
	c->request = grpc_slice_malloc(size);
	protobuf_c_message_pack(request, GRPC_SLICE_START_PTR(c->request));

	c->metadata = portico_calloc(2 + options->metadata_count, sizeof *c->metadata);
	const char *namespace_name = options->namespace_name ? options->namespace_name : transport->namespace_name;
	metadata_set(&c->metadata[c->metadata_count++], "temporal-namespace", namespace_name);
	if (transport->authorization)
		metadata_set(&c->metadata[c->metadata_count++], "authorization", transport->authorization);
	for (size_t i = 0; i < options->metadata_count; i++)
		metadata_set(&c->metadata[c->metadata_count++], options->metadata[i].key, options->metadata[i].value);
	/* gRPC refuses the whole call over one bad header; say which, as the caller's mistake. */
	for (size_t i = 0; i < c->metadata_count; i++) {
		const grpc_metadata *entry = &c->metadata[i];
		if (!grpc_header_key_is_legal(entry->key) || !grpc_header_nonbin_value_is_legal(entry->value)) {
			char *key = grpc_slice_to_c_string(entry->key);
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "%s: only printable ASCII can travel in the gRPC header \"%s\"",
			                  i == 0 ? "namespace" : "header", key);
			gpr_free(key);
			call_free(c);
			return NULL;
		}
	}
	return c;
}

static void call_free(call *c)
{
	grpc_slice_unref(c->request);
	for (size_t i = 0; i < c->metadata_count; i++) {
		grpc_slice_unref(c->metadata[i].key);
		grpc_slice_unref(c->metadata[i].value);
	}
	free(c->metadata);
	free(c);
}

/* Makes the next attempt's grpc_call, on queue, and what its batch will send and receive into;
 * attempt_send starts it. A call made and not yet sent can be cancelled (its batch then fails). */
static void attempt_make(call *c, grpc_completion_queue *queue)
{
	portico_transport *transport = c->transport;
	c->attempt++;
	c->grpc = grpc_channel_create_registered_call(transport->channel, NULL, GRPC_PROPAGATE_DEFAULTS, queue,
	                                              transport->registered[c->method_index],
	                                              deadline_from_ms(c->deadline_ms), NULL);
	c->send_buffer = grpc_raw_byte_buffer_create(&c->request, 1);
	c->recv_buffer = NULL;
	c->status_message = grpc_empty_slice();
	grpc_metadata_array_init(&c->initial_metadata);
	grpc_metadata_array_init(&c->trailing_metadata);
}

/* Starts the attempt attempt_make made; c comes back on its queue when it completes, and may be
 * freed by then: the caller does not touch c after a success. */
static int attempt_send(call *c, portico_error *err)
{
	grpc_op ops[6];
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = c->metadata_count;
	ops[0].data.send_initial_metadata.metadata = c->metadata;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->send_buffer;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial_metadata;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &c->recv_buffer;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing_metadata;
	ops[5].data.recv_status_on_client.status = &c->status;
	ops[5].data.recv_status_on_client.status_details = &c->status_message;

	grpc_call_error started = grpc_call_start_batch(c->grpc, ops, 6, c, NULL);
	if (started != GRPC_CALL_OK)
		return portico_error_set(err, PORTICO_INTERNAL, "gRPC refused to start %s (call error %d)",
		                         c->method->name, (int)started);
	return 0;
}

/* Lets go of an attempt attempt_send could not start. */
static void attempt_unmake(call *c)
{
	grpc_call_unref(c->grpc);
	grpc_byte_buffer_destroy(c->send_buffer);
	grpc_metadata_array_destroy(&c->initial_metadata);
	grpc_metadata_array_destroy(&c->trailing_metadata);
}

/* Starts the next attempt; tag comes back on queue when it completes. */
static int attempt_start(call *c, grpc_completion_queue *queue, portico_error *err)
{
	attempt_make(c, queue);
	if (attempt_send(c, err)) {
		attempt_unmake(c);
		return -1;
	}
	return 0;
}

static void take_status_details(call *c, portico_error *err)
{
	for (size_t i = 0; i < c->trailing_metadata.count; i++) {
		const grpc_metadata *entry = &c->trailing_metadata.metadata[i];
		if (grpc_slice_str_cmp(entry->key, STATUS_DETAILS_KEY) == 0) {
			portico_error_take_status_details(err, GRPC_SLICE_START_PTR(entry->value),
			                                  GRPC_SLICE_LENGTH(entry->value));
			return;
		}
	}
}

static void set_call_error(call *c, portico_error *err)
{
	portico_code code = (portico_code)c->status;
	int length = (int)GRPC_SLICE_LENGTH(c->status_message);
	const char *text = (const char *)GRPC_SLICE_START_PTR(c->status_message);
	/* A server's own refusal is passed on word for word; a failure to reach it says where. */
	if (code == PORTICO_UNAVAILABLE || code == PORTICO_DEADLINE_EXCEEDED || code == PORTICO_CANCELLED)
		portico_error_set(err, code, "Temporal at %s did not answer %s (%s, %u attempt%s): %.*s",
		                  c->transport->address, c->method->name, portico_code_name(code), c->attempt,
		                  c->attempt == 1 ? "" : "s", length, text);
	else
		portico_error_set(err, code, "%.*s", length, text);
	take_status_details(c, err);
}

static int decode_response(call *c, ProtobufCMessage **response, portico_error *err)
{
	if (!c->recv_buffer)
		return portico_error_set(err, PORTICO_INTERNAL, "Temporal sent no message for %s", c->method->name);
	grpc_byte_buffer_reader reader;
	if (!grpc_byte_buffer_reader_init(&reader, c->recv_buffer))
		return portico_error_set(err, PORTICO_INTERNAL, "cannot read the %s response", c->method->name);
	grpc_slice bytes = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	*response = protobuf_c_message_unpack(c->method->output, NULL, GRPC_SLICE_LENGTH(bytes),
	                                      GRPC_SLICE_START_PTR(bytes));
	grpc_slice_unref(bytes);
	if (!*response)
		return portico_error_set(err, PORTICO_INTERNAL, "cannot decode the %s response as %s", c->method->name,
		                         c->method->output->name);
	return 0;
}

/* Collects the result of the attempt that just completed and releases its resources. */
static int attempt_finish(call *c, ProtobufCMessage **response, portico_error *err)
{
	int result = c->status == GRPC_STATUS_OK ? decode_response(c, response, err) : (set_call_error(c, err), -1);
	grpc_call_unref(c->grpc);
	c->grpc = NULL;
	grpc_byte_buffer_destroy(c->send_buffer);
	if (c->recv_buffer)
		grpc_byte_buffer_destroy(c->recv_buffer);
	grpc_slice_unref(c->status_message);
	grpc_metadata_array_destroy(&c->initial_metadata);
	grpc_metadata_array_destroy(&c->trailing_metadata);
	return result;
}

/* A server cuts a call at the deadline it was sent (HTTP/2 RST_STREAM CANCEL) a moment before or
 * after the client's own timer fires: the call then ends CANCELLED though nobody cancelled it. Said
 * as what it is, the deadline passing, so that a caller waiting until then (a result wait) hears
 * DEADLINE_EXCEEDED whichever side noticed first. For a call its caller did not cancel. */
#define DEADLINE_SLACK_MS 100

static void name_the_deadline(const call *c, portico_error *err)
{
	if (err->code == PORTICO_CANCELLED && portico_monotonic_ms() + DEADLINE_SLACK_MS >= c->deadline_ms)
		portico_error_set(
		        err, PORTICO_DEADLINE_EXCEEDED,
		        "Temporal at %s did not answer %s in time (%u attempt%s; it ended the call at its deadline)",
		        c->transport->address, c->method->name, c->attempt, c->attempt == 1 ? "" : "s");
}

/* Returns the delay before another attempt, or -1 when the failure is final. */
static int64_t retry_delay_ms(const call *c, const portico_error *err)
{
	if (!c->retry_transient || !portico_error_is_transient(err))
		return -1;
	int64_t delay = portico_backoff_delay_ms(c->attempt);
	return portico_monotonic_ms() + delay < c->deadline_ms ? delay : -1;
}

static void sleep_ms(int64_t ms)
{
	struct timespec pause = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&pause, NULL);
}

int portico_transport_call(portico_transport *transport, const portico_call_options *options,
                           const ProtobufCMessage *request, ProtobufCMessage **response, portico_error *err)
{
	*response = NULL;
	call *c = call_prepare(transport, options, request, err);
	if (!c)
		return -1;
	grpc_completion_queue *queue = grpc_completion_queue_create_for_pluck(NULL);
	int result;
	for (;;) {
		result = attempt_start(c, queue, err);
		if (result)
			break;
		/* The call carries a deadline, so this returns by then. */
		grpc_completion_queue_pluck(queue, c, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		result = attempt_finish(c, response, err);
		if (result == 0)
			portico_error_clear(err); /* an earlier attempt's failure is history */
		else
			name_the_deadline(c, err);
		int64_t delay = result ? retry_delay_ms(c, err) : -1;
		if (delay < 0)
			break;
		sleep_ms(delay);
	}
	grpc_completion_queue_shutdown(queue);
	grpc_completion_queue_pluck(queue, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(queue);
	call_free(c);
	return result;
}

/* In-flight list; callers hold transport->lock. */
static void in_flight_add(portico_transport *transport, call *c)
{
	c->in_flight = 1;
	c->prev = NULL;
	c->next = transport->in_flight;
	if (c->next)
		c->next->prev = c;
	transport->in_flight = c;
}

static void in_flight_remove(portico_transport *transport, call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		transport->in_flight = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->in_flight = 0;
}

/* Starts an asynchronous attempt unless the transport is closing or the caller cancelled. The
 * call is made and put in flight under the lock (so shutdown and cancel see it), and sent after:
 * gRPC's start writes to the socket, and with the lock held the HTTP threads and the completion
 * thread queued behind each other's writes. Cancelled or shut down in between, the batch fails
 * with CANCELLED and comes back as any cancelled call does; the queue is not shut down while the
 * call is in flight. */
static int async_attempt_start(call *c, portico_error *err)
{
	portico_transport *transport = c->transport;
	pthread_mutex_lock(&transport->lock);
	int result = 0;
	if (transport->closing)
		result = portico_error_set(err, PORTICO_CANCELLED, "the connection to Temporal at %s is closing",
		                           transport->address);
	else if (c->cancel && c->cancel->requested)
		result = portico_error_set(err, PORTICO_CANCELLED, "%s was cancelled by its caller", c->method->name);
	if (result == 0) {
		attempt_make(c, transport->async_queue);
		in_flight_add(transport, c);
		if (c->cancel)
			c->cancel->call = c;
	}
	pthread_mutex_unlock(&transport->lock);
	if (result == 0 && attempt_send(c, err)) {
		pthread_mutex_lock(&transport->lock);
		in_flight_remove(transport, c);
		if (c->cancel && c->cancel->call == c)
			c->cancel->call = NULL;
		pthread_mutex_unlock(&transport->lock);
		attempt_unmake(c); /* out of reach of cancel and shutdown now */
		result = -1;
	}
	return result;
}

int portico_transport_call_async(portico_transport *transport, const portico_call_options *options,
                                 const ProtobufCMessage *request, portico_call_done_fn done, void *arg,
                                 portico_error *err)
{
	call *c = call_prepare(transport, options, request, err);
	if (!c)
		return -1;
	c->done = done;
	c->done_arg = arg;
	if (async_attempt_start(c, err)) {
		call_free(c);
		return -1;
	}
	return 0;
}

static void finish_async(call *c, ProtobufCMessage *response, portico_error *err)
{
	if (c->cancel) {
		/* From here on the caller may let its cancel go: the transport no longer touches it. */
		pthread_mutex_lock(&c->transport->lock);
		if (c->cancel->call == c)
			c->cancel->call = NULL;
		pthread_mutex_unlock(&c->transport->lock);
	}
	c->done(c->done_arg, response, err);
	call_free(c);
}

void portico_transport_cancel(portico_transport *transport, portico_cancel *cancel)
{
	pthread_mutex_lock(&transport->lock);
	cancel->requested = 1;
	/* A call waiting for its retry is failed by the completion thread (fail_cancelled_retries). */
	if (cancel->call && cancel->call->in_flight)
		grpc_call_cancel(cancel->call->grpc, NULL);
	pthread_mutex_unlock(&transport->lock);
}

int portico_transport_cancelled(portico_transport *transport, portico_cancel *cancel)
{
	pthread_mutex_lock(&transport->lock);
	int requested = cancel->requested;
	pthread_mutex_unlock(&transport->lock);
	return requested;
}

static void schedule_retry(portico_transport *transport, call *c, int64_t delay_ms)
{
	c->retry_at_ms = portico_monotonic_ms() + delay_ms;
	call **slot = &transport->retries;
	while (*slot && (*slot)->retry_at_ms <= c->retry_at_ms)
		slot = &(*slot)->next;
	c->next = *slot;
	*slot = c;
}

static void complete_async(portico_transport *transport, call *c)
{
	pthread_mutex_lock(&transport->lock);
	in_flight_remove(transport, c);
	int closing = transport->closing;
	int cancelled = c->cancel && c->cancel->requested;
	pthread_mutex_unlock(&transport->lock);

	ProtobufCMessage *response = NULL;
	portico_error err = PORTICO_ERROR_INIT;
	if (attempt_finish(c, &response, &err) == 0) {
		finish_async(c, response, NULL);
		return;
	}
	/* gRPC says only "Cancelled"; say who cancelled. */
	if (err.code == PORTICO_CANCELLED && cancelled)
		portico_error_set(&err, PORTICO_CANCELLED, "%s was cancelled by its caller", c->method->name);
	else if (err.code == PORTICO_CANCELLED && closing)
		portico_error_set(&err, PORTICO_CANCELLED,
		                  "the connection to Temporal at %s closed before %s was answered", transport->address,
		                  c->method->name);
	else
		name_the_deadline(c, &err);
	int64_t delay = closing || cancelled ? -1 : retry_delay_ms(c, &err);
	if (delay >= 0)
		schedule_retry(transport, c, delay);
	else
		finish_async(c, NULL, &err);
	portico_error_clear(&err);
}

static void run_due_retries(portico_transport *transport)
{
	int64_t now = portico_monotonic_ms();
	while (transport->retries && transport->retries->retry_at_ms <= now) {
		call *c = transport->retries;
		transport->retries = c->next;
		c->next = NULL;
		portico_error err = PORTICO_ERROR_INIT;
		if (async_attempt_start(c, &err)) {
			finish_async(c, NULL, &err);
			portico_error_clear(&err);
		}
	}
}

/* Fails at once the calls waiting for a retry whose caller cancelled them. */
static void fail_cancelled_retries(portico_transport *transport)
{
	if (!transport->retries)
		return;
	call *cancelled = NULL;
	pthread_mutex_lock(&transport->lock);
	for (call **slot = &transport->retries; *slot;) {
		call *c = *slot;
		if (c->cancel && c->cancel->requested) {
			*slot = c->next;
			c->next = cancelled;
			cancelled = c;
		} else {
			slot = &c->next;
		}
	}
	pthread_mutex_unlock(&transport->lock);
	for (call *c = cancelled, *next; c; c = next) {
		next = c->next;
		c->next = NULL;
		portico_error err = PORTICO_ERROR_INIT;
		portico_error_set(&err, PORTICO_CANCELLED, "%s was cancelled by its caller before it was retried",
		                  c->method->name);
		finish_async(c, NULL, &err);
		portico_error_clear(&err);
	}
}

/* Once closing, pending retries are failed at once and the queue is shut down when the last
 * call has come back. */
static void wind_down(portico_transport *transport)
{
	pthread_mutex_lock(&transport->lock);
	int closing = transport->closing;
	int idle = transport->in_flight == NULL;
	pthread_mutex_unlock(&transport->lock);
	if (!closing)
		return;
	for (call *c = transport->retries; c; c = transport->retries) {
		transport->retries = c->next;
		portico_error err = PORTICO_ERROR_INIT;
		portico_error_set(&err, PORTICO_CANCELLED,
		                  "the connection to Temporal at %s closed before %s was retried", transport->address,
		                  c->method->name);
		finish_async(c, NULL, &err);
		portico_error_clear(&err);
	}
	if (idle && !transport->queue_shut_down) {
		grpc_completion_queue_shutdown(transport->async_queue);
		transport->queue_shut_down = 1;
	}
}

static void *completion_loop(void *arg)
{
	portico_transport *transport = arg;
	for (;;) {
		int64_t wait_ms = IDLE_WAKE_MS;
		if (transport->retries) {
			int64_t until_retry = transport->retries->retry_at_ms - portico_monotonic_ms();
			wait_ms = until_retry < 0 ? 0 : until_retry < wait_ms ? until_retry : wait_ms;
		}
		grpc_event event = grpc_completion_queue_next(transport->async_queue,
		                                              deadline_from_ms(portico_monotonic_ms() + wait_ms), NULL);
		if (event.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (event.type == GRPC_OP_COMPLETE)
			complete_async(transport, event.tag);
		fail_cancelled_retries(transport);
		run_due_retries(transport);
		wind_down(transport);
	}
	return NULL;
}
