/* Proto3 JSON for any protobuf-c message, the way Temporal's HTTP API writes and reads it:
 * lowerCamel names out (lowerCamel or proto names in), default values left out, 64-bit integers
 * as strings, enums by name, bytes as base64, the well-known types (Timestamp, Duration, Any,
 * FieldMask, Empty, wrappers) in their JSON forms, and Temporal's Payload/Payloads in payload
 * shorthand (payload.h). Driven by the generated descriptors, so every message of the API works. */
#ifndef PORTICO_PROTOJSON_H
#define PORTICO_PROTOJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "error.h"
#include "json_text.h"

typedef struct portico_protojson_options {
	int payload_shorthand; /* write payloads as their JSON values where they allow it */
} portico_protojson_options;

/* Writes message as JSON; returns a new reference. */
json_t *portico_protojson_encode(const ProtobufCMessage *message, const portico_protojson_options *options);

/* Writes message as JSON text: byte for byte what portico_json_text (no flags) makes of
 * portico_protojson_encode's tree, written straight from the message (payload data through
 * portico_json_copy), with the tree kept only for what a pass cannot write (json_copy.h, a map or
 * metadata key given twice). Returns the text and its length; the caller frees it. */
char *portico_protojson_write(const ProtobufCMessage *message, const portico_protojson_options *options,
                              size_t *length);

/* Same, added to buffer. */
void portico_protojson_append(portico_json_buffer *buffer, const ProtobufCMessage *message,
                              const portico_protojson_options *options);

/* Reads JSON into a new message of the given type, freed with protobuf_c_message_free_unpacked.
 * Enums take their full name, their short CamelCase name (as Temporal's API allows) or a number;
 * numbers may be strings. Returns NULL with err (INVALID_ARGUMENT) naming the field path on an
 * unknown field or a value of the wrong kind. */
ProtobufCMessage *portico_protojson_decode(const ProtobufCMessageDescriptor *descriptor, const json_t *value,
                                           portico_error *err);

typedef struct portico_protojson_decode_options {
	int ignore_unknown; /* skip fields and enum names this API version does not know (a newer server's
	                     * JSON, such as a downloaded history), as protobuf's ignore_unknown_fields does */
} portico_protojson_decode_options;

/* portico_protojson_decode with options (NULL for the strict defaults). */
ProtobufCMessage *portico_protojson_decode_with(const ProtobufCMessageDescriptor *descriptor, const json_t *value,
                                                const portico_protojson_decode_options *options, portico_error *err);

/* Writes the lowerCamel JSON name of a proto field name ("workflow_id" -> "workflowId") into out,
 * which holds size bytes. */
void portico_protojson_json_name(const char *proto_name, char *out, size_t size);

/* The same for a field, from the names cached per field for the process (what the writer's keys
 * use): a copy instead of working the name out again, for walks that name every field they pass. */
void portico_protojson_field_json_name(const ProtobufCFieldDescriptor *field, char *out, size_t size);

#endif
