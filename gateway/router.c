#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "url.h"

void route_params_free(route_params *params)
{
	for (size_t i = 0; i < params->count; i++) {
		free(params->items[i].field);
		free(params->items[i].value);
	}
	params->count = 0;
}

/* Matches pattern against path segment by segment; returns the number of literal segments
 * matched, or -1. With params, captured variables go there (unescaped); without, nothing is
 * allocated, so the whole table can be scanned cheaply and only a winner captures. Both strings
 * are walked once, byte by byte: most patterns differ from the path within a few bytes. */
static int match_pattern(const char *pattern, const char *path, route_params *params)
{
	int literals = 0;
	if (params)
		params->count = 0;
	while (*pattern == '/' && *path == '/') {
		pattern++;
		path++;
		if (*pattern == '{') {
			const char *field = pattern + 1, *segment = path;
			while (*pattern && *pattern != '/')
				pattern++;
			while (*path && *path != '/')
				path++;
			if (path == segment)
				goto mismatch;
			if (params) {
				char *value = params->count < ROUTER_MAX_PARAMS
				                      ? http_unescape(segment, (size_t)(path - segment), 0)
				                      : NULL;
				if (!value)
					goto mismatch;
				/* The field's name is between the braces. */
				params->items[params->count].field =
				        portico_strndup(field, (size_t)(pattern - field - 1));
				params->items[params->count++].value = value;
			}
		} else {
			while (*pattern && *pattern != '/' && *pattern == *path) {
				pattern++;
				path++;
			}
			if ((*pattern && *pattern != '/') || (*path && *path != '/'))
				goto mismatch;
			literals++;
		}
	}
	if (*pattern == '\0' && (*path == '\0' || !strcmp(path, "/")))
		return literals;
mismatch:
	if (params)
		route_params_free(params);
	return -1;
}

static void allow_add(char *allow, size_t size, const char *method)
{
	if (strstr(allow, method))
		return;
	size_t used = strlen(allow);
	snprintf(allow + used, size - used, "%s%s", used ? ", " : "", method);
}

/* The number of segments a pattern must have to match path: its '/'s, one trailing '/' aside. */
static unsigned path_segments(const char *path)
{
	unsigned slashes = 0;
	const char *at = path;
	for (; *at; at++)
		slashes += *at == '/';
	return at - path > 1 && at[-1] == '/' ? slashes - 1 : slashes;
}

route_result router_match(const gateway_route *table, size_t count, const char *method, const char *path,
                          const gateway_route **route, route_params *params, char *allow, size_t allow_size)
{
	int best = -1;
	route_params candidate = {0};
	params->count = 0;
	*route = NULL;
	if (allow_size)
		allow[0] = '\0';
	/* A pattern matches only paths of as many segments: the others are passed over unread. */
	unsigned segments = path_segments(path);
	/* Routes of the request's method first, without allocating; only a route better than the
	 * best so far captures its variables (and may still fail to unescape). */
	for (size_t i = 0; i < count; i++) {
		if (table[i].segments != segments || strcmp(table[i].method, method))
			continue;
		int literals = match_pattern(table[i].pattern, path, NULL);
		if (literals > best && match_pattern(table[i].pattern, path, &candidate) >= 0) {
			route_params_free(params);
			*params = candidate;
			*route = &table[i];
			best = literals;
		}
	}
	/* No route for this method: the others that match the path make the Allow header of a 405. */
	for (size_t i = 0; !*route && allow_size && i < count; i++)
		if (table[i].segments == segments && strcmp(table[i].method, method) &&
		    match_pattern(table[i].pattern, path, NULL) >= 0)
			allow_add(allow, allow_size, table[i].method);
	if (*route)
		return ROUTE_FOUND;
	return allow_size && allow[0] ? ROUTE_METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND;
}

const char *route_param(const route_params *params, const char *field)
{
	for (size_t i = 0; i < params->count; i++)
		if (!strcmp(params->items[i].field, field))
			return params->items[i].value;
	return NULL;
}
