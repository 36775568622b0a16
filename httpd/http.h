/* The HTTP server: the one module that talks to libmicrohttpd (every MHD_* call is in http.c).
 * Requests arrive whole (body buffered up to a limit, 413 past it) on a pool of epoll threads;
 * a handler answers with http_respond, then or later from any thread: until it does, the
 * connection is suspended and holds no server thread. A handler may also answer with a stream
 * (http_respond_stream), whose body it writes piece by piece for as long as it likes.
 *
 * Requests whose framing is unclear are answered here, before any handler: two Content-Length
 * values, Content-Length with Transfer-Encoding, a transfer coding other than chunked, or a
 * malformed %-escape in the query. A HEAD request is served as GET, without the body. */
#ifndef HTTPD_HTTP_H
#define HTTPD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "url.h" /* http_unescape, the %-decoding the server uses, is part of this API */

typedef struct http_server http_server;
typedef struct http_request http_request;

/* Called once per complete request on a server thread; must lead to exactly one http_respond. */
typedef void (*http_handler_fn)(void *arg, http_request *request);
/* Called once per request when it is over (answered, or the connection dropped). */
typedef void (*http_completed_fn)(void *arg, http_request *request);
/* Called at most once when the client of a suspended request or of a stream leaves: on the
 * server's hang-up thread, under a lock that http_respond takes too, or on a server thread when
 * writing a stream fails. So it must not answer the request, set its headers, nor write to or end
 * its stream: it ends the work whose end answers it (cancels a call, say). */
typedef void (*http_hangup_fn)(void *arg, http_request *request);
/* Called once after http_stream_write said the stream's buffer is full, when it has all been sent
 * (or the client has left: writes then return -1). On a server thread, with no lock held: it may
 * write to the stream or end it. */
typedef void (*http_stream_drained_fn)(void *arg, http_request *request);

typedef struct http_server_options {
	const char *listen;                  /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080"; port 0 picks one */
	unsigned threads;                    /* size of the epoll thread pool */
	size_t max_body_bytes;               /* larger bodies get 413 without being stored */
	unsigned idle_timeout_s;             /* idle keep-alive connections are closed after this */
	unsigned max_connections;            /* more are refused at accept; 0 for libmicrohttpd's default */
	size_t max_header_bytes;             /* request line and headers; larger ones get 431 or 414; 0 for 8 KiB */
	unsigned max_connections_per_client; /* from one client address; more are refused; 0 for no limit */
	/* A request's line, headers and body must arrive within this, or the connection is closed
	 * (logged as 408); 0 for no limit. Between requests, idle_timeout_s applies. */
	unsigned request_timeout_ms;
	/* Bytes a stream may hold written and not yet sent before writes say it is full; 0 for 64 KiB.
	 * The handler stops producing until drained, so a slow reader costs no more than this plus one
	 * write. */
	size_t max_stream_buffer_bytes;
	const char *tls_cert_pem; /* with tls_key_pem: serve HTTPS (PEM text, read once at start) */
	const char *tls_key_pem;
	http_handler_fn handler;
	http_completed_fn completed; /* may be NULL */
	void *arg;                   /* passed to handler and completed */
} http_server_options;

/* Starts listening. Returns NULL with err set when the address is bad or taken. */
http_server *http_server_start(const http_server_options *options, portico_error *err);

/* Serves new connections with another certificate and key (PEM text), as for a renewed
 * certificate: a new set of threads takes over the listening socket, and the old one finishes
 * its connections. Returns -1 with err (and keeps the old certificate) when the new one cannot be
 * used or the server is not serving HTTPS. */
int http_server_reload_tls(http_server *server, const char *cert_pem, const char *key_pem, portico_error *err);

/* The port the server listens on (useful after asking for port 0). */
unsigned http_server_port(const http_server *server);

/* Stops accepting connections; requests in flight go on. */
void http_server_quiesce(http_server *server);

/* Requests received and not yet over. */
size_t http_server_in_flight(const http_server *server);

/* Stops the server; the caller has let in-flight requests finish (nothing may be suspended). */
void http_server_stop(http_server *server);

/* The method to serve the request by: "GET" for a HEAD request too. */
const char *http_request_method(const http_request *request);
/* The method as sent ("HEAD" where http_request_method says "GET"), for logs. */
const char *http_request_method_sent(const http_request *request);
/* The path as sent, percent-encoding kept, without the query. */
const char *http_request_path(const http_request *request);
/* A request header (case-insensitive name), or NULL. */
const char *http_request_header(const http_request *request, const char *name);
/* Calls visit for every request header. */
void http_request_foreach_header(const http_request *request,
                                 void (*visit)(void *arg, const char *name, const char *value), void *arg);
/* A decoded query parameter (the first of that name), or NULL. */
const char *http_request_query(const http_request *request, const char *name);
/* Calls visit for every decoded query parameter, in order. */
void http_request_foreach_query(const http_request *request,
                                void (*visit)(void *arg, const char *key, const char *value), void *arg);
/* The body (NUL-terminated for convenience) and its length. */
const char *http_request_body(const http_request *request, size_t *length);
/* When the request's headers arrived, in monotonic milliseconds. */
int64_t http_request_started_ms(const http_request *request);

/* Per-request state of the handler, freed with free_fn when the request is over. */
void http_request_set_context(http_request *request, void *context, void (*free_fn)(void *));
void *http_request_context(const http_request *request);

/* Sets a header of the coming response, replacing one of the same name (case-insensitive);
 * call before http_respond. */
void http_response_header(http_request *request, const char *name, const char *value);

/* Asks to hear (hangup(arg, request)) when the client leaves while the request waits for
 * http_respond: its FIN or a reset. A FIN also comes from a client that only shut down its sending
 * side after the request, which TCP cannot tell apart until the answer is written; so ask for it
 * for waits (long polls), and let short calls be answered. Any thread; the first call counts. */
void http_request_watch_hangup(http_request *request, http_hangup_fn hangup, void *arg);

/* Answers the request; takes body (malloc'd, may be NULL when length is 0). Any thread. */
void http_respond(http_request *request, unsigned status, const char *content_type, char *body, size_t length);

/* Answers with a stream: the status and headers now, the body from http_stream_write, its end
 * with http_stream_end (chunked in HTTP/1.1; HTTP/1.0 reads until the connection closes). Any
 * thread. While nothing is left to send the connection is suspended: it holds no server thread,
 * and the request timeout does not apply to it (that bounds a request's arrival); the idle timeout
 * applies only while sent bytes wait for a reader. The hang-up watch (http_request_watch_hangup)
 * covers the whole stream. drained(arg, request) follows a write that found the buffer full.
 *
 * From here the request lives until http_stream_end, whatever its client does, so the handler
 * may keep pointers to it and its context; once the client has left, its headers can no longer be
 * read (its query and path can). */
void http_respond_stream(http_request *request, unsigned status, const char *content_type,
                         http_stream_drained_fn drained, void *arg);

/* Adds length bytes (copied) to the stream's body. Returns 0; 1 when the bytes not yet sent now
 * reach max_stream_buffer_bytes: write no more until drained is called; -1, writing nothing, when
 * the client has left or the stream has ended. Any thread. */
int http_stream_write(http_request *request, const char *data, size_t length);

/* Ends the stream after what was written is sent (or at once, when the client has left); the
 * request is over then and may be freed at any moment: touch neither it nor its context after.
 * Called exactly once per stream. Any thread but the hang-up callback's. */
void http_stream_end(http_request *request);

/* The status answered (0 if none yet), for logs. */
unsigned http_request_status(const http_request *request);

#endif
