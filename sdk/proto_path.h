/* Where a walk through a message is, written the way a user wrote the JSON:
 * "request.input.args[2]", "memo.fields.owner". Shared by every walker over descriptors. */
#ifndef PORTICO_PROTO_PATH_H
#define PORTICO_PROTO_PATH_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define PORTICO_PROTO_PATH_MAX 512

/* A bounded path: what does not fit is cut, never overrun. Zero-initialize before use. */
typedef struct portico_proto_path {
	char text[PORTICO_PROTO_PATH_MAX];
	size_t length;
} portico_proto_path;

/* Appends ".name" (or "name" at the start); returns a mark for portico_proto_path_pop. */
size_t portico_proto_path_push_name(portico_proto_path *path, const char *name);

/* Appends "[index]"; returns a mark. */
size_t portico_proto_path_push_index(portico_proto_path *path, size_t index);

/* Goes back to a mark. */
void portico_proto_path_pop(portico_proto_path *path, size_t mark);

/* True for the generated entry messages of map fields (key = 1, value = 2, "…Entry"). */
int portico_proto_is_map_entry(const ProtobufCMessageDescriptor *type);

#endif
