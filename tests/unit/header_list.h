/* Request headers written out in a test, as request_headers (gateway/request_headers.h) hands them
 * to auth and the webhook checks. */
#ifndef TESTS_HEADER_LIST_H
#define TESTS_HEADER_LIST_H

#include <stddef.h>
#include <strings.h>

#include "request_headers.h"

typedef struct header {
	const char *name, *value;
} header;

/* request_headers' lookup over a header array ending with {NULL, NULL}. */
static inline const char *header_list_lookup(const void *arg, const char *name)
{
	for (const header *h = arg; h->name; h++)
		if (!strcasecmp(h->name, name))
			return h->value;
	return NULL;
}

/* A request's headers: HEADERS({"Name", "value"}, …), alive to the end of the enclosing block. */
#define HEADERS(...) ((request_headers){header_list_lookup, (const header[]){__VA_ARGS__, {NULL, NULL}}})
#define NO_HEADERS   ((request_headers){header_list_lookup, (const header[]){{NULL, NULL}}})

#endif
