#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "alloc.h"
#include "backoff.h"

#define TOO_LARGE_BODY "{\"code\":3,\"message\":\"request body is larger than the limit of %zu bytes\"}"

#define MAX_RETIRED 32 /* daemons replaced by a certificate reload and still finishing */

struct http_server {
	struct MHD_Daemon *daemon; /* the one accepting */
	struct MHD_Daemon *retired[MAX_RETIRED];
	int listen_fd;
	int ipv6;
	unsigned port;
	http_server_options options;
	atomic_size_t in_flight;
	struct owned_pem *pems; /* certificates and keys the daemons point at, kept until the stop */
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
	STATE_SUSPENDED, /* waiting for http_respond from another thread */
	STATE_QUEUED,    /* the response is with libmicrohttpd */
} request_state;

typedef struct header {
	char *name, *value;
	struct header *next;
} header;

struct http_request {
	http_server *server;
	struct MHD_Connection *connection;
	char *method;
	char *path;
	int64_t started_ms;

	char *body;
	size_t body_length;
	int body_too_large;

	size_t query_count;
	char **query_keys, **query_values;

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
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *http_unescape(const char *text, size_t length, int plus_is_space)
{
	char *out = portico_malloc(length + 1);
	size_t n = 0;
	for (size_t i = 0; i < length; i++) {
		if (text[i] != '%') {
			out[n++] = plus_is_space && text[i] == '+' ? ' ' : text[i];
			continue;
		}
		int high = i + 1 < length ? hex_value(text[i + 1]) : -1;
		int low = i + 2 < length ? hex_value(text[i + 2]) : -1;
		if (high < 0 || low < 0 || (high == 0 && low == 0)) {
			free(out);
			return NULL;
		}
		out[n++] = (char)(high * 16 + low);
		i += 2;
	}
	out[n] = '\0';
	return out;
}

/* Query values are decoded by http_request's own parsing; the raw path is kept for the router. */
static size_t keep_escaped(void *cls, struct MHD_Connection *connection, char *text)
{
	(void)cls;
	(void)connection;
	return strlen(text);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	http_request *request = cls;
	char *decoded_key = http_unescape(key, strlen(key), 1);
	char *decoded_value = value ? http_unescape(value, strlen(value), 1) : portico_strdup("");
	if (!decoded_key || !decoded_value) {
		free(decoded_key);
		free(decoded_value);
		return MHD_YES;
	}
	size_t n = request->query_count++;
	request->query_keys = portico_realloc(request->query_keys, request->query_count * sizeof(char *));
	request->query_values = portico_realloc(request->query_values, request->query_count * sizeof(char *));
	request->query_keys[n] = decoded_key;
	request->query_values[n] = decoded_value;
	return MHD_YES;
}

static http_request *request_new(http_server *server, struct MHD_Connection *connection, const char *url,
                                 const char *method)
{
	http_request *request = portico_calloc(1, sizeof *request);
	request->server = server;
	request->connection = connection;
	request->method = portico_strdup(method);
	request->path = portico_strdup(url);
	request->started_ms = portico_monotonic_ms();
	request->body = portico_strdup("");
	pthread_mutex_init(&request->lock, NULL);
	MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, collect_query, request);
	atomic_fetch_add(&server->in_flight, 1);
	return request;
}

static void request_free(http_request *request)
{
	if (request->context_free)
		request->context_free(request->context);
	for (size_t i = 0; i < request->query_count; i++) {
		free(request->query_keys[i]);
		free(request->query_values[i]);
	}
	free(request->query_keys);
	free(request->query_values);
	for (header *h = request->response_headers, *next; h; h = next) {
		next = h->next;
		free(h->name);
		free(h->value);
		free(h);
	}
	free(request->content_type);
	free(request->response_body);
	free(request->body);
	free(request->method);
	free(request->path);
	pthread_mutex_destroy(&request->lock);
	free(request);
}

/* Hands the stored response to libmicrohttpd; called with request->lock held. */
static enum MHD_Result queue_response(http_request *request)
{
	struct MHD_Response *response = MHD_create_response_from_buffer(
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

static void store_too_large(http_request *request)
{
	char *body = portico_sprintf(TOO_LARGE_BODY, request->server->options.max_body_bytes);
	store_response(request, MHD_HTTP_CONTENT_TOO_LARGE, "application/json", body, strlen(body));
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	(void)version;
	http_server *server = cls;
	http_request *request = *con_cls;
	if (!request) {
		request = request_new(server, connection, url, method);
		*con_cls = request;
		const char *declared =
		        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (declared && strtoull(declared, NULL, 10) > server->options.max_body_bytes) {
			/* Refused before any of the body is read. */
			pthread_mutex_lock(&request->lock);
			store_too_large(request);
			enum MHD_Result result = queue_response(request);
			pthread_mutex_unlock(&request->lock);
			return result;
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (request->state == STATE_RECEIVING)
			append_body(request, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	pthread_mutex_lock(&request->lock);
	if (request->state == STATE_RECEIVING) {
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
		} else if (request->state != STATE_SUSPENDED) {
			MHD_suspend_connection(connection);
			request->state = STATE_SUSPENDED;
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
	if (request->state == STATE_SUSPENDED)
		MHD_resume_connection(request->connection);
	pthread_mutex_unlock(&request->lock);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode reason)
{
	(void)connection;
	(void)reason;
	http_server *server = cls;
	http_request *request = *con_cls;
	if (!request)
		return;
	if (server->options.completed)
		server->options.completed(server->options.arg, request);
	request_free(request);
	*con_cls = NULL;
	atomic_fetch_sub(&server->in_flight, 1);
}

/* Parses "host:port" or "[v6]:port" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *address, int *ipv6, portico_error *err)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || !colon[1])
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "PORTICO_LISTEN: expected host:port, got \"%s\"", listen);
	char host[256];
	size_t host_length = (size_t)(colon - listen);
	if (host_length >= sizeof host)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "PORTICO_LISTEN: host too long");
	memcpy(host, listen, host_length);
	host[host_length] = '\0';
	char *node = host;
	if (host_length >= 2 && host[0] == '[' && host[host_length - 1] == ']') {
		host[host_length - 1] = '\0';
		node = host + 1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *found;
	int failed = getaddrinfo(*node ? node : NULL, colon + 1, &hints, &found);
	if (failed)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "PORTICO_LISTEN: cannot use \"%s\": %s", listen,
		                         gai_strerror(failed));
	memcpy(address, found->ai_addr, found->ai_addrlen);
	*ipv6 = found->ai_family == AF_INET6;
	freeaddrinfo(found);
	return 0;
}

/* A listening socket of our own, so that a certificate reload can hand it to new threads. */
static int open_listener(const char *listen_text, int *ipv6, unsigned *port, portico_error *err)
{
	struct sockaddr_storage address;
	if (parse_listen(listen_text, &address, ipv6, err))
		return -1;
	int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int on = 1;
	socklen_t length = address.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) ||
	    bind(fd, (struct sockaddr *)&address, length) || listen(fd, SOMAXCONN) ||
	    getsockname(fd, (struct sockaddr *)&address, &length)) {
		portico_error_set(err, PORTICO_UNAVAILABLE, "cannot listen on %s: %s", listen_text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(address.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&address)->sin6_port
	                                            : ((struct sockaddr_in *)&address)->sin_port);
	return fd;
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
	struct MHD_OptionItem settings[12];
	size_t n = 0;
	settings[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
	/* A pool of one is no pool: libmicrohttpd then runs its single internal thread. */
	if (options->threads > 1)
		settings[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)options->threads, NULL};
	settings[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)options->idle_timeout_s, NULL};
	if (options->max_connections)
		settings[n++] =
		        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)options->max_connections, NULL};
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
	server->listen_fd = open_listener(options->listen, &server->ipv6, &server->port, err);
	if (server->listen_fd < 0) {
		free(server);
		return NULL;
	}
	/* Each daemon owns a duplicate of the socket; the server keeps the original for reloads. */
	int daemon_fd = dup(server->listen_fd);
	server->daemon =
	        daemon_fd >= 0 ? start_daemon(server, daemon_fd, options->tls_cert_pem, options->tls_key_pem) : NULL;
	if (!server->daemon) {
		if (daemon_fd >= 0)
			close(daemon_fd);
		close(server->listen_fd);
		free_pems(server);
		free(server);
		portico_error_set(err, PORTICO_UNAVAILABLE, "cannot serve %s on %s%s",
		                  options->tls_cert_pem ? "HTTPS" : "HTTP", options->listen,
		                  options->tls_cert_pem ? " (is the certificate and key pair valid?)" : "");
		return NULL;
	}
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
	for (size_t i = 0; i < MAX_RETIRED; i++)
		if (server->retired[i])
			MHD_stop_daemon(server->retired[i]);
	MHD_stop_daemon(server->daemon);
	if (server->listen_fd >= 0)
		close(server->listen_fd);
	free_pems(server);
	free(server);
}

const char *http_request_method(const http_request *request)
{
	return request->method;
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
	for (size_t i = 0; i < request->query_count; i++)
		if (!strcmp(request->query_keys[i], name))
			return request->query_values[i];
	return NULL;
}

void http_request_foreach_query(const http_request *request,
                                void (*visit)(void *arg, const char *key, const char *value), void *arg)
{
	for (size_t i = 0; i < request->query_count; i++)
		visit(arg, request->query_keys[i], request->query_values[i]);
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
	header *h = portico_malloc(sizeof *h);
	h->name = portico_strdup(name);
	h->value = portico_strdup(value);
	pthread_mutex_lock(&request->lock);
	h->next = request->response_headers;
	request->response_headers = h;
	pthread_mutex_unlock(&request->lock);
}

unsigned http_request_status(const http_request *request)
{
	return request->status;
}
