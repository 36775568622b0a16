/* JSON-pointer paths (path.h). */
#include "path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static void append(flow_path *path, const char *s, size_t n)
{
	if (path->length + n + 1 > path->capacity) {
		path->capacity = (path->length + n + 1) * 2;
		path->text = portico_realloc(path->text, path->capacity);
	}
	memcpy(path->text + path->length, s, n);
	path->length += n;
	path->text[path->length] = '\0';
}

size_t flow_path_push(flow_path *path, const char *key)
{
	size_t mark = path->length;
	append(path, "/", 1);
	for (const char *p = key; *p; p++) {
		size_t run = strcspn(p, "~/");
		append(path, p, run);
		p += run;
		if (!*p)
			break;
		append(path, *p == '~' ? "~0" : "~1", 2);
	}
	return mark;
}

size_t flow_path_push_index(flow_path *path, size_t index)
{
	char digits[32];
	snprintf(digits, sizeof digits, "%zu", index);
	return flow_path_push(path, digits);
}

void flow_path_pop(flow_path *path, size_t mark)
{
	path->length = mark;
	if (path->text)
		path->text[mark] = '\0';
}

const char *flow_path_text(const flow_path *path)
{
	return path->text ? path->text : "";
}

void flow_path_free(flow_path *path)
{
	free(path->text);
	*path = (flow_path){0};
}
