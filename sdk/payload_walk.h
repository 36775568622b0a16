/* Finds every payload inside any Temporal message, through the generated descriptors: the
 * singular, repeated, oneof and map fields of type Payload or Payloads at any depth, and inside
 * google.protobuf.Any fields holding a Temporal message (packed again after the visit). Search
 * attributes and headers are left out: Temporal must read them, so codecs never touch them. */
#ifndef PORTICO_PAYLOAD_WALK_H
#define PORTICO_PAYLOAD_WALK_H

#include <protobuf-c/protobuf-c.h>

#include "error.h"
#include "payload.h"

typedef struct portico_payload_visitor {
	/* Called for each payload; may replace *slot (freeing the old payload). path names the field
	 * in proto3 JSON terms ("input[0]", "request.input.args[1]", "memo.fields.owner"). */
	int (*payload)(void *arg, portico_payload **slot, const char *path, portico_error *err);
	/* Called for each Payloads field after its payloads (may be NULL). */
	int (*payloads)(void *arg, const portico_payloads *payloads, const char *path, portico_error *err);
	/* Called for each message, children first (may be NULL). */
	int (*message)(void *arg, ProtobufCMessage *message, const char *path, portico_error *err);
	void *arg;
} portico_payload_visitor;

/* Walks message; stops at the first callback that returns -1 and returns -1 (err set by it). */
int portico_payload_walk(ProtobufCMessage *message, const portico_payload_visitor *visitor, portico_error *err);

#endif
