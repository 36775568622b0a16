/* A JSON-pointer path (RFC 6901) built while a validator walks a tree: the place an error names,
 * e.g. "/do/2/charge/call". Used by definition.c and schema.c. */
#ifndef PORTICO_FLOW_PATH_H
#define PORTICO_FLOW_PATH_H

#include <stddef.h>

typedef struct flow_path {
	char *text; /* owned, NUL-terminated; "" at the root */
	size_t length, capacity;
} flow_path;

/* Appends "/" and key, escaped ("~" as "~0", "/" as "~1"); returns the length before, for
 * flow_path_pop. */
size_t flow_path_push(flow_path *path, const char *key);
size_t flow_path_push_index(flow_path *path, size_t index);
/* Cuts the path back to length mark. */
void flow_path_pop(flow_path *path, size_t mark);
/* The path, "" at the root (never NULL). */
const char *flow_path_text(const flow_path *path);
void flow_path_free(flow_path *path);

#endif
