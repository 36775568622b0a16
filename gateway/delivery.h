/* Outbound webhook deliveries: HTTP POSTs made by one thread driving a libcurl multi handle, at
 * most max_in_flight at a time (more are refused at once, so a slow receiver costs a bounded
 * number of transfers and never a server thread). Each goes to the address its URL names and no
 * other: no proxy, no redirect, http(s) only, a deadline; unless the caller says any address will
 * do, the address curl is about to connect to must be public (completion_address_public), checked
 * after name resolution so a name that resolves to this machine's neighbours is refused. The
 * gateway's only libcurl user. */
#ifndef GATEWAY_DELIVERY_H
#define GATEWAY_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct delivery_pool delivery_pool;

typedef struct delivery_request {
	const char *url;
	const char *const *headers; /* "Name: value" lines */
	size_t header_count;
	const char *body;
	size_t length;
	int64_t timeout_ms;
	int any_address; /* the URL was listed by the operator: loopback and private addresses are fine */
} delivery_request;

/* Called once per posted delivery, on the delivery thread: status is the receiver's HTTP status,
 * or 0 when there was none, with error saying why (static or valid only during the call). */
typedef void delivery_done_fn(void *arg, long status, const char *error);

delivery_pool *delivery_pool_start(unsigned max_in_flight, portico_error *err);
/* Starts a delivery; the pool copies what request points to. Returns -1 (done never runs) when
 * max_in_flight deliveries are under way already, or the pool has stopped. Any thread. */
int delivery_post(delivery_pool *pool, const delivery_request *request, delivery_done_fn *done, void *arg);
/* Ends the thread: deliveries under way end with status 0 ("stopped"), later posts are refused.
 * The pool stays valid for them until delivery_pool_free. */
void delivery_pool_stop(delivery_pool *pool);
/* Stops the pool if it runs, and frees it: once nothing can post any more (the server stopped). */
void delivery_pool_free(delivery_pool *pool);

#endif
