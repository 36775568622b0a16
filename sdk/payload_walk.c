#include "payload_walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "proto_path.h"
#include "proto_registry.h"
#include "protojson.h"
#include "google/protobuf/any.pb-c.h"

/* Anys inside Anys walked at most (a protocol message holds an update request, which holds none):
 * deeper ones are left as they are, so a hostile nesting cannot exhaust the stack. */
#define MAX_ANY_DEPTH 4

typedef struct walk {
	const portico_payload_visitor *visitor;
	unsigned any_depth;
	portico_error *err;
	portico_proto_path path;
} walk;

static int skipped(const ProtobufCMessageDescriptor *descriptor)
{
	return descriptor == &temporal__api__common__v1__search_attributes__descriptor ||
	       descriptor == &temporal__api__common__v1__header__descriptor;
}

static int walk_message(walk *w, ProtobufCMessage *message);

/* A google.protobuf.Any holding a Temporal message (an update's request or response in a
 * workflow task's protocol messages): its payloads are walked inside, and the Any is packed again
 * with what the visitor changed. An Any of an unknown type, or that does not parse, is left as it
 * is: its bytes are not payloads this walk can find. */
static int walk_any(walk *w, Google__Protobuf__Any *any)
{
	const ProtobufCMessageDescriptor *type =
	        any->type_url ? portico_proto_message_by_type_url(any->type_url) : NULL;
	if (w->any_depth >= MAX_ANY_DEPTH)
		return 0;
	ProtobufCMessage *inner = type ? protobuf_c_message_unpack(type, NULL, any->value.len, any->value.data) : NULL;
	if (!inner)
		return 0;
	w->any_depth++;
	int failed = walk_message(w, inner);
	w->any_depth--;
	if (!failed) {
		size_t size = protobuf_c_message_get_packed_size(inner);
		uint8_t *packed = portico_malloc(size ? size : 1);
		protobuf_c_message_pack(inner, packed);
		free(any->value.data);
		any->value.data = packed;
		any->value.len = size;
	}
	protobuf_c_message_free_unpacked(inner, NULL);
	return failed;
}

/* Visits the message stored at *slot, a field of message type. */
static int walk_slot(walk *w, const ProtobufCFieldDescriptor *field, ProtobufCMessage **slot)
{
	if (!*slot)
		return 0;
	if (field->descriptor == &temporal__api__common__v1__payload__descriptor)
		return w->visitor->payload(w->visitor->arg, (portico_payload **)slot, w->path.text, w->err);
	if (field->descriptor == &temporal__api__common__v1__payloads__descriptor) {
		portico_payloads *payloads = (portico_payloads *)*slot;
		for (size_t i = 0; i < payloads->n_payloads; i++) {
			size_t mark = portico_proto_path_push_index(&w->path, i);
			int failed = w->visitor->payload(w->visitor->arg, &payloads->payloads[i], w->path.text, w->err);
			portico_proto_path_pop(&w->path, mark);
			if (failed)
				return -1;
		}
		return w->visitor->payloads ? w->visitor->payloads(w->visitor->arg, payloads, w->path.text, w->err) : 0;
	}
	if (field->descriptor == &google__protobuf__any__descriptor)
		return walk_any(w, (Google__Protobuf__Any *)*slot);
	return skipped(field->descriptor) ? 0 : walk_message(w, *slot);
}

/* A map entry is named by its key, as in JSON: "memo.fields.owner". */
static int walk_entry(walk *w, const ProtobufCFieldDescriptor *field, ProtobufCMessage *entry)
{
	const ProtobufCMessageDescriptor *entry_type = field->descriptor;
	const ProtobufCFieldDescriptor *key = &entry_type->fields[0], *value = &entry_type->fields[1];
	if (value->type != PROTOBUF_C_TYPE_MESSAGE)
		return 0;
	const char *name = key->type == PROTOBUF_C_TYPE_STRING ? *(char **)((char *)entry + key->offset) : "?";
	size_t mark = portico_proto_path_push_name(&w->path, name);
	int failed = walk_slot(w, value, (ProtobufCMessage **)((char *)entry + value->offset));
	portico_proto_path_pop(&w->path, mark);
	return failed;
}

/* Whether a message-typed field holds anything: most of a response's fields are empty, and
 * naming them in the path would cost more than the walk itself. */
static int field_present(const ProtobufCMessage *message, const ProtobufCFieldDescriptor *field)
{
	const char *base = (const char *)message;
	if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
	    *(const uint32_t *)(base + field->quantifier_offset) != field->id)
		return 0;
	if (field->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + field->quantifier_offset) != 0;
	return *(ProtobufCMessage *const *)(base + field->offset) != NULL;
}

static int walk_field(walk *w, ProtobufCMessage *message, const ProtobufCFieldDescriptor *field)
{
	char *base = (char *)message;
	if (field->label != PROTOBUF_C_LABEL_REPEATED)
		return walk_slot(w, field, (ProtobufCMessage **)(base + field->offset));
	size_t count = *(size_t *)(base + field->quantifier_offset);
	ProtobufCMessage **items = *(ProtobufCMessage ***)(base + field->offset);
	int map = portico_proto_is_map_entry(field->descriptor);
	for (size_t i = 0; i < count; i++) {
		size_t mark = map ? w->path.length : portico_proto_path_push_index(&w->path, i);
		int failed = map ? walk_entry(w, field, items[i]) : walk_slot(w, field, &items[i]);
		portico_proto_path_pop(&w->path, mark);
		if (failed)
			return -1;
	}
	return 0;
}

static int walk_message(walk *w, ProtobufCMessage *message)
{
	const ProtobufCMessageDescriptor *descriptor = message->descriptor;
	for (unsigned i = 0; i < descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
		if (field->type != PROTOBUF_C_TYPE_MESSAGE || !field_present(message, field) ||
		    skipped(field->descriptor))
			continue;
		char name[128];
		portico_protojson_field_json_name(field, name, sizeof name);
		size_t mark = portico_proto_path_push_name(&w->path, name);
		int failed = walk_field(w, message, field);
		portico_proto_path_pop(&w->path, mark);
		if (failed)
			return -1;
	}
	return w->visitor->message ? w->visitor->message(w->visitor->arg, message, w->path.text, w->err) : 0;
}

int portico_payload_walk(ProtobufCMessage *message, const portico_payload_visitor *visitor, portico_error *err)
{
	walk w = {.visitor = visitor, .err = err};
	return walk_message(&w, message);
}
