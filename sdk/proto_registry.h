/* Finds the protobuf-c descriptor of a Temporal API message by its full name. The table behind
 * it is generated at build time from the generated code (scripts/gen_registry.py), so every
 * message of the pinned API is there; it is what turns a google.protobuf.Any into a message. */
#ifndef PORTICO_PROTO_REGISTRY_H
#define PORTICO_PROTO_REGISTRY_H

#include <protobuf-c/protobuf-c.h>

typedef struct portico_proto_entry {
	const char *full_name; /* "temporal.api.common.v1.Payload" */
	const ProtobufCMessageDescriptor *descriptor;
} portico_proto_entry;

/* Generated: every message, sorted by full_name. */
extern const portico_proto_entry portico_proto_messages[];
extern const size_t portico_proto_message_count;

/* Returns the descriptor of "temporal.api.common.v1.Payload", or NULL when unknown. */
const ProtobufCMessageDescriptor *portico_proto_message_by_name(const char *full_name);

/* Same for an Any's type URL ("type.googleapis.com/temporal.api…"): the part after the last
 * '/' is the name. */
const ProtobufCMessageDescriptor *portico_proto_message_by_type_url(const char *type_url);

#endif
