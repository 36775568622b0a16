#include "delivery.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "alloc.h"
#include "completion_webhook.h"

#define CONNECT_TIMEOUT_MS 3000

typedef struct transfer {
	struct transfer *next, *prev; /* in the pool's queue, then (on its thread) in its active list */
	CURL *easy;
	struct curl_slist *headers;
	char *body; /* curl reads it while the transfer runs */
	int any_address;
	int refused; /* the address it resolved to is not public */
	delivery_done_fn *done;
	void *arg;
	char error[CURL_ERROR_SIZE];
} transfer;

struct delivery_pool {
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t lock;
	transfer *queue;  /* posted, not yet added to multi (under lock) */
	transfer *active; /* added to multi (the thread's own) */
	int stopping;     /* under lock */
	unsigned max_in_flight;
	atomic_uint in_flight;
};

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	(void)purpose;
	transfer *t = arg;
	if (!t->any_address && !completion_address_public(&address->addr)) {
		t->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

/* The receiver's answer is not read: only its status counts. */
static size_t discard(char *data, size_t size, size_t count, void *arg)
{
	(void)data;
	(void)arg;
	return size * count;
}

/* Frees a transfer that is no longer in the multi handle nor in a list. */
static void transfer_free(delivery_pool *pool, transfer *t)
{
	curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t);
	atomic_fetch_sub(&pool->in_flight, 1);
}

static void finish(delivery_pool *pool, transfer *t, long status, const char *error)
{
	curl_multi_remove_handle(pool->multi, t->easy);
	if (t->prev)
		t->prev->next = t->next;
	else
		pool->active = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->done(t->arg, status, error);
	transfer_free(pool, t);
}

static void settle(delivery_pool *pool, CURLMsg *message)
{
	transfer *t;
	curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&t);
	long status = 0;
	if (message->data.result == CURLE_OK) {
		curl_easy_getinfo(message->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		finish(pool, t, status, NULL);
		return;
	}
	finish(pool, t, 0,
	       t->refused    ? "the target's address is loopback or private (list it in PORTICO_CALLBACK_ALLOWED_URLS)"
	       : t->error[0] ? t->error
	                     : curl_easy_strerror(message->data.result));
}

static void *run(void *arg)
{
	delivery_pool *pool = arg;
	for (;;) {
		pthread_mutex_lock(&pool->lock);
		transfer *queue = pool->queue;
		pool->queue = NULL;
		int stopping = pool->stopping;
		pthread_mutex_unlock(&pool->lock);
		while (queue) {
			transfer *t = queue;
			queue = t->next;
			t->prev = NULL;
			t->next = pool->active;
			if (pool->active)
				pool->active->prev = t;
			pool->active = t;
			curl_multi_add_handle(pool->multi, t->easy);
		}
		if (stopping)
			break;
		int running, left;
		curl_multi_perform(pool->multi, &running);
		CURLMsg *message;
		while ((message = curl_multi_info_read(pool->multi, &left)))
			if (message->msg == CURLMSG_DONE)
				settle(pool, message);
		curl_multi_poll(pool->multi, NULL, 0, 1000, NULL);
	}
	/* Stopping: what is under way ends here, said so to its caller. */
	while (pool->active)
		finish(pool, pool->active, 0, "stopped");
	return NULL;
}

delivery_pool *delivery_pool_start(unsigned max_in_flight, portico_error *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		portico_error_set(err, PORTICO_INTERNAL, "libcurl did not start");
		return NULL;
	}
	delivery_pool *pool = portico_calloc(1, sizeof *pool);
	pool->multi = curl_multi_init();
	pool->max_in_flight = max_in_flight;
	pthread_mutex_init(&pool->lock, NULL);
	if (pthread_create(&pool->thread, NULL, run, pool)) {
		curl_multi_cleanup(pool->multi);
		pthread_mutex_destroy(&pool->lock);
		free(pool);
		portico_error_set(err, PORTICO_INTERNAL, "no thread for webhook deliveries");
		return NULL;
	}
	return pool;
}

static CURL *make_easy(transfer *t, const delivery_request *request)
{
	CURL *easy = curl_easy_init();
	curl_easy_setopt(easy, CURLOPT_URL, request->url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->length);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)request->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(request->timeout_ms < CONNECT_TIMEOUT_MS ? request->timeout_ms : CONNECT_TIMEOUT_MS));
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, t);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "portico");
	return easy;
}

int delivery_post(delivery_pool *pool, const delivery_request *request, delivery_done_fn *done, void *arg)
{
	if (atomic_fetch_add(&pool->in_flight, 1) >= pool->max_in_flight) {
		atomic_fetch_sub(&pool->in_flight, 1);
		return -1;
	}
	transfer *t = portico_calloc(1, sizeof *t);
	t->done = done;
	t->arg = arg;
	t->any_address = request->any_address;
	t->body = portico_malloc(request->length + 1);
	memcpy(t->body, request->body, request->length);
	t->body[request->length] = '\0';
	for (size_t i = 0; i < request->header_count; i++)
		t->headers = curl_slist_append(t->headers, request->headers[i]);
	t->easy = make_easy(t, request);
	pthread_mutex_lock(&pool->lock);
	int stopping = pool->stopping; /* the thread takes nothing more: refused, as when full */
	if (!stopping) {
		t->next = pool->queue;
		pool->queue = t;
	}
	pthread_mutex_unlock(&pool->lock);
	if (stopping) {
		transfer_free(pool, t);
		return -1;
	}
	curl_multi_wakeup(pool->multi);
	return 0;
}

void delivery_pool_stop(delivery_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	int stopped = pool->stopping;
	pool->stopping = 1;
	pthread_mutex_unlock(&pool->lock);
	if (stopped)
		return;
	curl_multi_wakeup(pool->multi);
	pthread_join(pool->thread, NULL);
}

void delivery_pool_free(delivery_pool *pool)
{
	if (!pool)
		return;
	delivery_pool_stop(pool);
	curl_multi_cleanup(pool->multi);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}
