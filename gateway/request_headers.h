/* A request's headers as the parts below the HTTP server read them (credentials in auth, webhook
 * signatures and templates), whoever serves the request: the HTTP server (exchange_headers), a
 * unit test, a fuzzer. lookup(arg, name) is the value of the header called name, any case, or NULL
 * when there is none; the value stays valid while the call it was handed to runs. */
#ifndef GATEWAY_REQUEST_HEADERS_H
#define GATEWAY_REQUEST_HEADERS_H

typedef struct request_headers {
	const char *(*lookup)(const void *arg, const char *name);
	const void *arg;
} request_headers;

/* The value of the header called name, or NULL. */
static inline const char *request_headers_get(request_headers headers, const char *name)
{
	return headers.lookup(headers.arg, name);
}

#endif
