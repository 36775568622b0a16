#include "http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

/* on_request_line rewrites the request line in libmicrohttpd's own buffer, as 0.9.75 parses it
 * (Debian bookworm's, the images' too): another version must be checked before it is used. */
#if MHD_VERSION != 0x00097500
#error "httpd/http.c relies on how libmicrohttpd 0.9.75 parses the request line"
#endif

#include "alloc.h"
#include "body_framing.h"
#include "clock.h"
#include "hangup.h"
#include "listener.h"
#include "sweeper.h"
#include "url.h"

/* Temporal's error body for what this module refuses itself; the message is JSON-safe text. */
#define ERROR_BODY "{\"code\":%d,\"message\":\"%s\"}"

#define MAX_RETIRED 32 /* daemons replaced by a certificate reload and still finishing */

#define DEFAULT_STREAM_BUFFER_BYTES (64 * 1024)
/* What libmicrohttpd reads from a stream at once when it cannot use chunked encoding (HTTP/1.0);
 * chunked, it reads into the connection's own buffer. */
#define STREAM_BLOCK_BYTES 1024

struct http_server {
	struct MHD_Daemon *daemon; /* the one accepting */
	struct MHD_Daemon *retired[MAX_RETIRED];
	int listen_fd;
	int ipv6;
	unsigned port;
	http_server_options options;
	atomic_size_t in_flight;
	struct owned_pem *pems; /* certificates and keys the daemons point at, kept until the stop */
	hangup_watcher hangups; /* clients leaving suspended requests */

	/* With a request timeout: every open connection's watch, and the thread that drops late ones. */
	sweeper late;
};

typedef struct owned_pem {
	char *text;
	struct owned_pem *next;
} owned_pem;

/* A copy of pem that lives as long as the server: libmicrohttpd keeps pointers to it. */
static const char *keep_pem(http_server *server, const char *pem)
{
	owned_pem *kept = portico_malloc(sizeof *kept);
	kept->text = portico_strdup(pem);
	kept->next = server->pems;
	server->pems = kept;
	return kept->text;
}

static void free_pems(http_server *server)
{
	for (owned_pem *next; server->pems; server->pems = next) {
		next = server->pems->next;
		memset(server->pems->text, 0, strlen(server->pems->text));
		free(server->pems->text);
		free(server->pems);
	}
}

typedef enum request_state {
	STATE_RECEIVING, /* headers and body arriving */
	STATE_HANDLING,  /* the handler runs on the server thread */
	STATE_HANDLED,   /* it returned without answering; the connection is suspended on the next pass */
	STATE_SUSPENDED, /* waiting for http_respond, or for a stream's next write, from another thread */
	STATE_RESUMED,   /* resumed for the answer or a stream's bytes; libmicrohttpd goes on at its next pass */
	STATE_QUEUED,    /* the response is with libmicrohttpd */
} request_state;

/* A streamed answer's body (http_respond_stream), under the request's lock. */
typedef struct stream_state {
	int on;
	char *data; /* written, from sent on not yet handed to libmicrohttpd; freed once all is */
	size_t length, sent;
	int full;     /* a write said so: drained is due once data is all sent */
	int ended;    /* http_stream_end was called */
	int gone;     /* libmicrohttpd is done with the connection before the end: writes fail */
	int detached; /* ... and the request is freed by http_stream_end */
	http_stream_drained_fn drained;
	void *drained_arg;
} stream_state;

typedef struct header {
	char *name, *value;
	struct header *next;
} header;

struct http_request {
	http_server *server;
	struct MHD_Connection *connection;
	char *method; /* NULL until the headers are in (the request line came first) */
	char *path;
	int head; /* sent as HEAD, served as GET */
	int64_t started_ms;

	char *body;
	size_t body_length;
	int body_too_large;

	url_query query;

	pthread_mutex_t lock; /* guards state and the response against http_respond */
	request_state state;
	int responded;
	unsigned status;
	char *content_type;
	char *response_body;
	size_t response_length;
	header *response_headers;

	void *context;
	void (*context_free)(void *);

	http_hangup_fn hangup; /* http_request_watch_hangup's, or NULL; set under lock */
	void *hangup_arg;
	uint64_t hangup_id; /* hangup_watch's id while suspended, 0 for none; under lock */
	/* hangup was called: set on the hang-up thread without the request's lock (which it must not
	 * take), read by a stream's writes and before it is watched again */
	atomic_int hangup_heard;

	stream_state stream;
};

/* The path is kept as sent, percent-encoding and all, for the router (the query never gets here:
 * on_request_line takes it). */
static size_t keep_escaped(void *cls, struct MHD_Connection *connection, char *text)
{
	(void)cls;
	(void)connection;
	return strlen(text);
}

static sweeper_watch *watch_of(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? info->socket_context : NULL;
}

/* libmicrohttpd's URI log callback, called once the request line is in: the request begins here.
 * Its query is parsed here rather than by libmicrohttpd, which stores each parameter in the
 * connection's small memory pool and, when that is full, neither answers nor reads on (a request
 * with a hundred parameters went unanswered). Returns the request, which on_request then gets. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *connection)
{
	http_server *server = cls;
	http_request *request = portico_calloc(1, sizeof *request);
	request->server = server;
	request->connection = connection;
	request->body = portico_strdup("");
	pthread_mutex_init(&request->lock, NULL);
	char *mark = uri ? strchr(uri, '?') : NULL;
	if (mark) {
		url_query_parse(&request->query, mark + 1);
		/* The line is libmicrohttpd's own buffer, rewritten in place as it parses; it looks for
		 * parameters after the '?' once this returns, and now finds none. */
		mark[1] = '\0';
	}
	sweeper_watch *watch = watch_of(connection);
	if (watch) {
		/* Between requests the deadline was the idle time plus a request's; a request started on
		 * a new connection keeps the deadline it got when the connection opened. */
		int64_t deadline = portico_monotonic_ms() + server->options.request_timeout_ms;
		if (atomic_load(&watch->deadline_ms) == 0 || deadline < atomic_load(&watch->deadline_ms))
			atomic_store(&watch->deadline_ms, deadline);
	}
	return request;
}

/* Fills in what the request line did not say, once the headers are in. */
static void request_start(http_request *request, const char *url, const char *method)
{
	request->head = !strcmp(method, "HEAD");
	request->method = portico_strdup(request->head ? "GET" : method);
	request->path = portico_strdup(url);
	request->started_ms = portico_monotonic_ms();
	atomic_fetch_add(&request->server->in_flight, 1);
}

static void request_free(http_request *request)
{
	if (request->context_free)
		request->context_free(request->context);
	url_query_free(&request->query);
	for (header *h = request->response_headers, *next; h; h = next) {
		next = h->next;
		free(h->name);
		free(h->value);
		free(h);
	}
	free(request->content_type);
	free(request->response_body);
	free(request->stream.data);
	free(request->body);
	free(request->method);
	free(request->path);
	pthread_mutex_destroy(&request->lock);
	free(request);
}

static ssize_t read_stream(void *cls, uint64_t position, char *buffer, size_t max);

/* The request is over: logged (the completed callback) and freed. */
static void request_finish(http_request *request)
{
	http_server *server = request->server;
	if (server->options.completed)
		server->options.completed(server->options.arg, request);
	request_free(request);
	atomic_fetch_sub(&server->in_flight, 1);
}

/* Hands the stored response to libmicrohttpd; called with request->lock held. */
static enum MHD_Result queue_response(http_request *request)
{
	struct MHD_Response *response =
	        request->stream.on
	                ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_BYTES, read_stream, request,
	                                                    NULL)
	                : MHD_create_response_from_buffer(
	                          request->response_length, request->response_body ? request->response_body : "",
	                          request->response_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!response) {
		free(request->response_body);
		request->response_body = NULL;
		request->state = STATE_QUEUED;
		return MHD_NO;
	}
	request->response_body = NULL; /* libmicrohttpd frees it now */
	if (request->content_type)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, request->content_type);
	for (header *h = request->response_headers; h; h = h->next)
		MHD_add_response_header(response, h->name, h->value);
	enum MHD_Result result = MHD_queue_response(request->connection, request->status, response);
	MHD_destroy_response(response);
	request->state = STATE_QUEUED;
	return result;
}

static void store_response(http_request *request, unsigned status, const char *content_type, char *body, size_t length)
{
	request->responded = 1;
	request->status = status;
	request->content_type = portico_strdup(content_type);
	request->response_body = body;
	request->response_length = length;
}

/* Stores Temporal's error body with message (JSON-safe text) as the answer. */
static void store_error(http_request *request, unsigned status, int code, const char *message)
{
	char *body = portico_sprintf(ERROR_BODY, code, message);
	store_response(request, status, "application/json", body, strlen(body));
}

static void store_too_large(http_request *request)
{
	char message[96];
	snprintf(message, sizeof message, "request body is larger than the limit of %zu bytes",
	         request->server->options.max_body_bytes);
	store_error(request, MHD_HTTP_CONTENT_TOO_LARGE, PORTICO_INVALID_ARGUMENT, message);
}

static enum MHD_Result visit_framing(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
	(void)kind;
	body_framing_add(cls, name, value);
	return MHD_YES;
}

/* Refuses a body whose length the headers leave unclear (see body_framing.h). Returns nonzero when
 * it stored an answer. */
static int refuse_unclear_framing(http_request *request)
{
	body_framing framing = {0};
	MHD_get_connection_values(request->connection, MHD_HEADER_KIND, visit_framing, &framing);
	char *message = NULL;
	body_framing_verdict verdict = body_framing_refusal(&framing, &message);
	if (verdict == BODY_FRAMING_UNSUPPORTED)
		store_error(request, MHD_HTTP_NOT_IMPLEMENTED, PORTICO_UNIMPLEMENTED, message);
	else if (verdict == BODY_FRAMING_AMBIGUOUS)
		store_error(request, MHD_HTTP_BAD_REQUEST, PORTICO_INVALID_ARGUMENT, message);
	free(message);
	body_framing_free(&framing);
	return verdict != BODY_FRAMING_CLEAR;
}

/* Answers, before the body is read, what can be refused from the request line and headers alone.
 * Returns nonzero when it stored an answer. */
static int refuse_early(http_request *request)
{
	if (request->query.error) {
		store_error(request, MHD_HTTP_BAD_REQUEST, PORTICO_INVALID_ARGUMENT, request->query.error);
		return 1;
	}
	if (refuse_unclear_framing(request))
		return 1;
	const char *declared =
	        MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (declared && strtoull(declared, NULL, 10) > request->server->options.max_body_bytes) {
		store_too_large(request);
		return 1;
	}
	return 0;
}

/* Sets the deadline of the connection's watch (there is one while a request timeout is set). */
static void watch_set_deadline(struct MHD_Connection *connection, int64_t deadline_ms)
{
	sweeper_watch *watch = watch_of(connection);
	if (watch)
		atomic_store(&watch->deadline_ms, deadline_ms);
}

static void append_body(http_request *request, const char *data, size_t size)
{
	size_t limit = request->server->options.max_body_bytes;
	if (request->body_too_large || request->body_length + size > limit) {
		/* Stop storing; the rest of the upload is read and dropped. */
		request->body_too_large = 1;
		free(request->body);
		request->body = portico_strdup("");
		request->body_length = 0;
		return;
	}
	request->body = portico_realloc(request->body, request->body_length + size + 1);
	memcpy(request->body + request->body_length, data, size);
	request->body_length += size;
	request->body[request->body_length] = '\0';
}

/* ---- Clients that leave -------------------------------------------------------------------------
 * libmicrohttpd stops polling a connection while its request is suspended, so a client that goes
 * away then would be noticed only when the answer is written, maybe an hour later, its Temporal
 * call running all along. The server watches the sockets of the suspended requests whose handler
 * asked (http_request_watch_hangup) with a hangup_watcher, and tells the handler once. Like nginx
 * (without proxy_ignore_client_abort) and Go's net/http, a FIN while the request waits counts as
 * leaving. Handlers ask only for their waits, so a short call is still answered to a half-closed
 * client. */

/* The watcher's callback, under its lock: http_respond takes that lock too (hangup_unwatch) before
 * it resumes the connection, and only that ends a suspended request, so the request is alive. */
static void on_hangup(void *arg)
{
	http_request *request = arg;
	atomic_store(&request->hangup_heard, 1);
	request->hangup(request->hangup_arg, request);
}

/* Starts watching a suspended request's client, unless it was heard leaving already (a stream is
 * suspended again and again); called with request->lock held. Without a descriptor or a slot the
 * request waits unwatched, as every request did before. */
static void watch_client(http_request *request)
{
	const union MHD_ConnectionInfo *info =
	        MHD_get_connection_info(request->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info && !atomic_load(&request->hangup_heard))
		request->hangup_id = hangup_watch(&request->server->hangups, info->connect_fd, on_hangup, request);
}

/* Stops watching before the request is resumed (libmicrohttpd may then close the descriptor);
 * called with request->lock held. Once it returns, hangup_heard says whether the watch fired. */
static void unwatch_client(http_request *request)
{
	if (!request->hangup)
		return;
	hangup_unwatch(&request->server->hangups, request->hangup_id);
	request->hangup_id = 0;
}

/* Lets libmicrohttpd go on with a suspended request (its answer, or a stream's bytes); called
 * with request->lock held. */
static void request_resume(http_request *request)
{
	if (request->state != STATE_SUSPENDED)
		return;
	unwatch_client(request);
	MHD_resume_connection(request->connection);
	request->state = STATE_RESUMED;
}

void http_request_watch_hangup(http_request *request, http_hangup_fn hangup, void *arg)
{
	pthread_mutex_lock(&request->lock);
	if (!request->hangup) {
		request->hangup = hangup;
		request->hangup_arg = arg;
		if (request->state == STATE_SUSPENDED)
			watch_client(request);
	}
	pthread_mutex_unlock(&request->lock);
}

/* Suspends the connection until http_respond; called with request->lock held. */
static void request_suspend(http_request *request)
{
	MHD_suspend_connection(request->connection);
	request->state = STATE_SUSPENDED;
	if (request->hangup)
		watch_client(request);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	(void)version;
	http_server *server = cls;
	http_request *request = *con_cls; /* made by on_request_line */
	if (!request->method) {
		request_start(request, url, method);
		/* Refused before any of the body is read. */
		pthread_mutex_lock(&request->lock);
		enum MHD_Result result = refuse_early(request) ? queue_response(request) : MHD_YES;
		pthread_mutex_unlock(&request->lock);
		return result;
	}
	if (*upload_data_size) {
		if (request->state == STATE_RECEIVING)
			append_body(request, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	pthread_mutex_lock(&request->lock);
	if (request->state == STATE_RECEIVING) {
		watch_set_deadline(connection, 0); /* all of it is in; serving takes what it takes */
		if (request->body_too_large) {
			store_too_large(request);
		} else {
			request->state = STATE_HANDLING;
			pthread_mutex_unlock(&request->lock);
			server->options.handler(server->options.arg, request);
			pthread_mutex_lock(&request->lock);
		}
	}
	enum MHD_Result result = MHD_YES;
	if (request->state != STATE_QUEUED) {
		if (request->responded) {
			result = queue_response(request);
		} else if (request->state == STATE_HANDLING) {
			/* Not suspended yet: libmicrohttpd 0.9.75 resumes a connection as it last polled it,
			 * which was for reading the request; it would read a half-closed client's FIN first
			 * and drop the answer. Left without an answer now, it marks the connection as not
			 * to be read and calls again at once; suspended then, the answer gets through. */
			request->state = STATE_HANDLED;
		} else if (request->state == STATE_HANDLED) {
			request_suspend(request);
		}
	}
	pthread_mutex_unlock(&request->lock);
	return result;
}

void http_respond(http_request *request, unsigned status, const char *content_type, char *body, size_t length)
{
	pthread_mutex_lock(&request->lock);
	if (request->responded) {
		pthread_mutex_unlock(&request->lock);
		free(body);
		return;
	}
	store_response(request, status, content_type, body, length);
	request_resume(request);
	pthread_mutex_unlock(&request->lock);
}

/* ---- Streams ------------------------------------------------------------------------------------
 * libmicrohttpd pulls a stream's body through read_stream. With nothing to send, read_stream
 * suspends the connection (libmicrohttpd allows it there) and a write resumes it: an idle stream
 * holds neither a thread nor a place in the event loop, and nothing polls. */

void http_respond_stream(http_request *request, unsigned status, const char *content_type,
                         http_stream_drained_fn drained, void *arg)
{
	pthread_mutex_lock(&request->lock);
	if (!request->responded) {
		store_response(request, status, content_type, NULL, 0);
		request->stream.on = 1;
		request->stream.drained = drained;
		request->stream.drained_arg = arg;
		request_resume(request);
	}
	pthread_mutex_unlock(&request->lock);
}

/* Whether writes fail: the client left, or the stream is over. Called with request->lock held. */
static int stream_closed(const http_request *request)
{
	return !request->stream.on || request->stream.ended || request->stream.gone ||
	       atomic_load(&request->hangup_heard);
}

int http_stream_write(http_request *request, const char *data, size_t length)
{
	pthread_mutex_lock(&request->lock);
	stream_state *stream = &request->stream;
	if (stream_closed(request)) {
		pthread_mutex_unlock(&request->lock);
		return -1;
	}
	if (stream->sent > stream->length / 2) {
		/* What was handed over goes before the buffer grows. */
		memmove(stream->data, stream->data + stream->sent, stream->length - stream->sent);
		stream->length -= stream->sent;
		stream->sent = 0;
	}
	stream->data = portico_realloc(stream->data, stream->length + length);
	memcpy(stream->data + stream->length, data, length);
	stream->length += length;
	size_t limit = request->server->options.max_stream_buffer_bytes;
	int full = stream->length - stream->sent >= (limit ? limit : DEFAULT_STREAM_BUFFER_BYTES);
	if (full)
		stream->full = 1;
	request_resume(request);
	pthread_mutex_unlock(&request->lock);
	return full;
}

void http_stream_end(http_request *request)
{
	pthread_mutex_lock(&request->lock);
	request->stream.ended = 1;
	int detached = request->stream.detached;
	if (!detached && !request->stream.gone)
		request_resume(request);
	pthread_mutex_unlock(&request->lock);
	if (detached)
		request_finish(request);
}

/* libmicrohttpd's content reader for a stream, on a server thread: hands over what was written,
 * ends the body after http_stream_end, or suspends the connection until the next write. */
static ssize_t read_stream(void *cls, uint64_t position, char *buffer, size_t max)
{
	(void)position;
	http_request *request = cls;
	stream_state *stream = &request->stream;
	http_stream_drained_fn drained = NULL;
	ssize_t result = 0;
	pthread_mutex_lock(&request->lock);
	request->state = STATE_QUEUED;
	if (stream->sent < stream->length) {
		size_t count = stream->length - stream->sent < max ? stream->length - stream->sent : max;
		memcpy(buffer, stream->data + stream->sent, count);
		stream->sent += count;
		result = (ssize_t)count;
		if (stream->sent == stream->length) {
			free(stream->data);
			stream->data = NULL;
			stream->length = stream->sent = 0;
			if (stream->full)
				drained = stream->drained;
			stream->full = 0;
		}
	} else if (stream->ended) {
		result = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		MHD_suspend_connection(request->connection);
		request->state = STATE_SUSPENDED;
		if (request->hangup)
			watch_client(request);
	}
	pthread_mutex_unlock(&request->lock);
	/* The request outlives this: only on_completed, on this thread, lets it be freed. */
	if (drained)
		drained(stream->drained_arg, request);
	return result;
}

/* libmicrohttpd is done with a stream's connection before http_stream_end: the client left, the
 * write failed or the idle timeout struck. Tells the handler (its hang-up watch, a drained it
 * waits for) and returns nonzero when the request must now wait for http_stream_end to be freed;
 * 0 when the handler ended the stream meanwhile. */
static int stream_detach(http_request *request)
{
	stream_state *stream = &request->stream;
	pthread_mutex_lock(&request->lock);
	if (!stream->on || stream->ended) {
		pthread_mutex_unlock(&request->lock);
		return 0;
	}
	stream->gone = 1;
	http_hangup_fn hangup = atomic_exchange(&request->hangup_heard, 1) ? NULL : request->hangup;
	http_stream_drained_fn drained = stream->full ? stream->drained : NULL;
	stream->full = 0;
	pthread_mutex_unlock(&request->lock);
	if (hangup)
		hangup(request->hangup_arg, request);
	if (drained)
		drained(stream->drained_arg, request);
	pthread_mutex_lock(&request->lock);
	int detached = stream->detached = !stream->ended;
	request->connection = NULL; /* libmicrohttpd frees it when this returns */
	pthread_mutex_unlock(&request->lock);
	return detached;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode reason)
{
	(void)reason;
	http_server *server = cls;
	http_request *request = *con_cls;
	sweeper_watch *watch = watch_of(connection);
	if (watch) {
		/* Idle until the next request, which must be in by a request timeout after that. */
		unsigned idle_ms = server->options.idle_timeout_s * 1000;
		atomic_store(&watch->deadline_ms,
		             idle_ms ? portico_monotonic_ms() + idle_ms + server->options.request_timeout_ms : 0);
	}
	if (!request)
		return;
	*con_cls = NULL;
	/* http_respond resumes the connection with the lock held: a connection that fails as it
	 * resumes (a reset) can end here before http_respond has let go. */
	pthread_mutex_lock(&request->lock);
	pthread_mutex_unlock(&request->lock);
	if (!request->method) {
		/* libmicrohttpd refused it (431 or 400, say) before its headers were in. */
		request_free(request);
		return;
	}
	if (!request->responded && watch && atomic_load(&watch->timed_out))
		request->status = MHD_HTTP_REQUEST_TIMEOUT;
	if (!stream_detach(request))
		request_finish(request);
}

/* libmicrohttpd's connection notifications, while a request timeout is set: each connection gets
 * a watch, its socket context, with the deadline for its first request. */
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	http_server *server = cls;
	sweeper_watch *watch = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		int fd = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD)->connect_fd;
		*socket_context =
		        sweeper_add(&server->late, fd, portico_monotonic_ms() + server->options.request_timeout_ms);
	} else if (watch) {
		/* Before libmicrohttpd closes the descriptor, which the system may then give to another
		 * connection: from here on the sweeper cannot reach it. */
		sweeper_remove(&server->late, watch);
		*socket_context = NULL;
	}
}

/* A daemon serving listen_fd (a duplicate it owns from then on) with the server's options. */
static struct MHD_Daemon *start_daemon(http_server *server, int listen_fd, const char *cert_pem, const char *key_pem)
{
	const http_server_options *options = &server->options;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	                 (server->ipv6 ? MHD_USE_IPv6 : 0) | (cert_pem ? MHD_USE_TLS : 0);
	if (cert_pem) {
		cert_pem = keep_pem(server, cert_pem);
		key_pem = keep_pem(server, key_pem);
	}
	struct MHD_OptionItem settings[16];
	size_t n = 0;
	settings[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
	/* A pool of one is no pool: libmicrohttpd then runs its single internal thread. */
	if (options->threads > 1)
		settings[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)options->threads, NULL};
	settings[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)options->idle_timeout_s, NULL};
	if (options->max_connections)
		settings[n++] =
		        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)options->max_connections, NULL};
	/* Over the limit, libmicrohttpd closes the new connection as it accepts it. */
	if (options->max_connections_per_client)
		settings[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		                                        (intptr_t)options->max_connections_per_client, NULL};
	if (options->request_timeout_ms)
		settings[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, server};
	settings[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_request_line, server};
	/* The per-connection memory pool holds the request line and headers. libmicrohttpd zeroes
	 * all of it after each request, so every open connection keeps it resident. */
	settings[n++] =
	        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                                (intptr_t)(options->max_header_bytes ? options->max_header_bytes : 8192), NULL};
	if (cert_pem) {
		settings[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert_pem};
		settings[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem};
	}
	settings[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, server};
	settings[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)keep_escaped, NULL};
	settings[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, server, MHD_OPTION_ARRAY, settings, MHD_OPTION_END);
}

http_server *http_server_start(const http_server_options *options, portico_error *err)
{
	if ((options->tls_cert_pem == NULL) != (options->tls_key_pem == NULL)) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "HTTPS needs both a certificate and its key");
		return NULL;
	}
	http_server *server = portico_calloc(1, sizeof *server);
	server->options = *options;
	server->listen_fd = listener_open(options->listen, &server->ipv6, &server->port, err);
	if (server->listen_fd < 0) {
		free(server);
		return NULL;
	}
	sweeper_init(&server->late);
	hangup_watcher_start(&server->hangups);
	/* Each daemon owns a duplicate of the socket; the server keeps the original for reloads. */
	int daemon_fd = dup(server->listen_fd);
	server->daemon =
	        daemon_fd >= 0 ? start_daemon(server, daemon_fd, options->tls_cert_pem, options->tls_key_pem) : NULL;
	if (!server->daemon) {
		if (daemon_fd >= 0)
			close(daemon_fd);
		close(server->listen_fd);
		free_pems(server);
		sweeper_destroy(&server->late);
		hangup_watcher_stop(&server->hangups);
		hangup_watcher_free(&server->hangups);
		free(server);
		portico_error_set(err, PORTICO_UNAVAILABLE, "cannot serve %s on %s%s",
		                  options->tls_cert_pem ? "HTTPS" : "HTTP", options->listen,
		                  options->tls_cert_pem ? " (is the certificate and key pair valid?)" : "");
		return NULL;
	}
	if (options->request_timeout_ms)
		sweeper_start(&server->late, options->request_timeout_ms);
	return server;
}

int http_server_reload_tls(http_server *server, const char *cert_pem, const char *key_pem, portico_error *err)
{
	if (!server->options.tls_cert_pem)
		return portico_error_set(err, PORTICO_FAILED_PRECONDITION, "the server does not serve HTTPS");
	size_t slot = 0;
	/* Old daemons whose connections are all over are let go first. */
	for (size_t i = 0; i < MAX_RETIRED; i++) {
		const union MHD_DaemonInfo *info =
		        server->retired[i]
		                ? MHD_get_daemon_info(server->retired[i], MHD_DAEMON_INFO_CURRENT_CONNECTIONS)
		                : NULL;
		if (info && info->num_connections == 0) {
			MHD_stop_daemon(server->retired[i]);
			server->retired[i] = NULL;
		}
	}
	while (slot < MAX_RETIRED && server->retired[slot])
		slot++;
	if (slot == MAX_RETIRED)
		return portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
		                         "too many reloads still finishing connections");
	int fd = dup(server->listen_fd);
	struct MHD_Daemon *fresh = fd >= 0 ? start_daemon(server, fd, cert_pem, key_pem) : NULL;
	if (!fresh) {
		if (fd >= 0)
			close(fd);
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the new certificate and key cannot be used");
	}
	/* Both accept for an instant; then the old one only finishes what it has. */
	MHD_socket old = MHD_quiesce_daemon(server->daemon);
	if (old != MHD_INVALID_SOCKET)
		close(old);
	server->retired[slot] = server->daemon;
	server->daemon = fresh;
	return 0;
}

unsigned http_server_port(const http_server *server)
{
	return server->port;
}

void http_server_quiesce(http_server *server)
{
	MHD_socket listener = MHD_quiesce_daemon(server->daemon);
	if (listener != MHD_INVALID_SOCKET)
		close(listener);
	if (server->listen_fd >= 0)
		close(server->listen_fd);
	server->listen_fd = -1;
}

size_t http_server_in_flight(const http_server *server)
{
	return atomic_load(&server->in_flight);
}

void http_server_stop(http_server *server)
{
	/* The threads stop before the daemons go: these may free requests that are still watched for
	 * hanging up. The daemons then close their connections, removing their sweeper watches, so the
	 * sweeper's lock outlives them. */
	sweeper_stop(&server->late);
	hangup_watcher_stop(&server->hangups);
	for (size_t i = 0; i < MAX_RETIRED; i++)
		if (server->retired[i])
			MHD_stop_daemon(server->retired[i]);
	MHD_stop_daemon(server->daemon);
	if (server->listen_fd >= 0)
		close(server->listen_fd);
	free_pems(server);
	sweeper_destroy(&server->late);
	hangup_watcher_free(&server->hangups);
	free(server);
}

const char *http_request_method(const http_request *request)
{
	return request->method;
}

const char *http_request_method_sent(const http_request *request)
{
	return request->head ? "HEAD" : request->method;
}

const char *http_request_path(const http_request *request)
{
	return request->path;
}

const char *http_request_header(const http_request *request, const char *name)
{
	return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, name);
}

typedef struct header_visit {
	void (*visit)(void *arg, const char *name, const char *value);
	void *arg;
} header_visit;

static enum MHD_Result visit_header(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
	(void)kind;
	header_visit *visit = cls;
	visit->visit(visit->arg, name, value ? value : "");
	return MHD_YES;
}

void http_request_foreach_header(const http_request *request,
                                 void (*visit)(void *arg, const char *name, const char *value), void *arg)
{
	header_visit context = {visit, arg};
	MHD_get_connection_values(request->connection, MHD_HEADER_KIND, visit_header, &context);
}

const char *http_request_query(const http_request *request, const char *name)
{
	return url_query_get(&request->query, name);
}

void http_request_foreach_query(const http_request *request,
                                void (*visit)(void *arg, const char *key, const char *value), void *arg)
{
	for (size_t i = 0; i < request->query.count; i++)
		visit(arg, request->query.keys[i], request->query.values[i]);
}

const char *http_request_body(const http_request *request, size_t *length)
{
	*length = request->body_length;
	return request->body;
}

int64_t http_request_started_ms(const http_request *request)
{
	return request->started_ms;
}

void http_request_set_context(http_request *request, void *context, void (*free_fn)(void *))
{
	request->context = context;
	request->context_free = free_fn;
}

void *http_request_context(const http_request *request)
{
	return request->context;
}

void http_response_header(http_request *request, const char *name, const char *value)
{
	char *copy = portico_strdup(value);
	pthread_mutex_lock(&request->lock);
	header *h = request->response_headers;
	while (h && strcasecmp(h->name, name))
		h = h->next;
	if (h) {
		free(h->value);
	} else {
		h = portico_malloc(sizeof *h);
		h->name = portico_strdup(name);
		h->next = request->response_headers;
		request->response_headers = h;
	}
	h->value = copy;
	pthread_mutex_unlock(&request->lock);
}

unsigned http_request_status(const http_request *request)
{
	return request->status;
}
