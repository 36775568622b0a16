#include "proto_path.h"

#include <stdio.h>
#include <string.h>

static size_t advance(portico_proto_path *path, int added, size_t mark)
{
	if (added > 0)
		path->length = mark + (size_t)added < sizeof path->text ? mark + (size_t)added : sizeof path->text - 1;
	return mark;
}

/* Called for every field a walk passes, so a copy rather than a formatted print. */
size_t portico_proto_path_push_name(portico_proto_path *path, const char *name)
{
	size_t mark = path->length, room = sizeof path->text - 1 - mark;
	char *end = path->text + mark;
	if (mark && room) {
		*end++ = '.';
		room--;
	}
	size_t length = strlen(name);
	if (length > room)
		length = room;
	memcpy(end, name, length);
	end[length] = '\0';
	path->length = (size_t)(end + length - path->text);
	return mark;
}

size_t portico_proto_path_push_index(portico_proto_path *path, size_t index)
{
	size_t mark = path->length;
	return advance(path, snprintf(path->text + mark, sizeof path->text - mark, "[%zu]", index), mark);
}

void portico_proto_path_pop(portico_proto_path *path, size_t mark)
{
	path->length = mark;
	path->text[mark] = '\0';
}

int portico_proto_is_map_entry(const ProtobufCMessageDescriptor *type)
{
	size_t length = strlen(type->short_name);
	return type->n_fields == 2 && length > 5 && !strcmp(type->short_name + length - 5, "Entry") &&
	       !strcmp(type->fields[0].name, "key") && !strcmp(type->fields[1].name, "value");
}
