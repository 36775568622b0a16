#include "payload_walk.h"

#include <stdio.h>
#include <string.h>

#include "protojson.h"

#define PATH_MAX_LENGTH 512

typedef struct walk {
	const portico_payload_visitor *visitor;
	portico_error *err;
	char path[PATH_MAX_LENGTH];
	size_t length;
} walk;

static size_t push(walk *w, const char *format, const char *text, size_t index)
{
	size_t mark = w->length;
	int added = text ? snprintf(w->path + w->length, sizeof w->path - w->length, format, w->length ? "." : "", text)
	                 : snprintf(w->path + w->length, sizeof w->path - w->length, "[%zu]", index);
	if (added > 0)
		w->length = w->length + (size_t)added < sizeof w->path ? w->length + (size_t)added : sizeof w->path - 1;
	return mark;
}

static void pop(walk *w, size_t mark)
{
	w->length = mark;
	w->path[mark] = '\0';
}

static int skipped(const ProtobufCMessageDescriptor *descriptor)
{
	return descriptor == &temporal__api__common__v1__search_attributes__descriptor ||
	       descriptor == &temporal__api__common__v1__header__descriptor;
}

static int walk_message(walk *w, ProtobufCMessage *message);

/* Visits the message stored at *slot, a field of message type. */
static int walk_slot(walk *w, const ProtobufCFieldDescriptor *field, ProtobufCMessage **slot)
{
	if (!*slot)
		return 0;
	if (field->descriptor == &temporal__api__common__v1__payload__descriptor)
		return w->visitor->payload(w->visitor->arg, (portico_payload **)slot, w->path, w->err);
	if (field->descriptor == &temporal__api__common__v1__payloads__descriptor) {
		portico_payloads *payloads = (portico_payloads *)*slot;
		for (size_t i = 0; i < payloads->n_payloads; i++) {
			size_t mark = push(w, NULL, NULL, i);
			int failed = w->visitor->payload(w->visitor->arg, &payloads->payloads[i], w->path, w->err);
			pop(w, mark);
			if (failed)
				return -1;
		}
		return w->visitor->payloads ? w->visitor->payloads(w->visitor->arg, payloads, w->path, w->err) : 0;
	}
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
	size_t mark = push(w, "%s%s", name, 0);
	int failed = walk_slot(w, value, (ProtobufCMessage **)((char *)entry + value->offset));
	pop(w, mark);
	return failed;
}

static int is_map_entry(const ProtobufCMessageDescriptor *type)
{
	size_t length = strlen(type->short_name);
	return type->n_fields == 2 && length > 5 && !strcmp(type->short_name + length - 5, "Entry") &&
	       !strcmp(type->fields[0].name, "key") && !strcmp(type->fields[1].name, "value");
}

static int walk_field(walk *w, ProtobufCMessage *message, const ProtobufCFieldDescriptor *field)
{
	char *base = (char *)message;
	if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
	    *(const uint32_t *)(base + field->quantifier_offset) != field->id)
		return 0;
	if (field->label != PROTOBUF_C_LABEL_REPEATED)
		return walk_slot(w, field, (ProtobufCMessage **)(base + field->offset));
	size_t count = *(size_t *)(base + field->quantifier_offset);
	ProtobufCMessage **items = *(ProtobufCMessage ***)(base + field->offset);
	int map = is_map_entry(field->descriptor);
	for (size_t i = 0; i < count; i++) {
		size_t mark = map ? w->length : push(w, NULL, NULL, i);
		int failed = map ? walk_entry(w, field, items[i]) : walk_slot(w, field, &items[i]);
		pop(w, mark);
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
		if (field->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		char name[128];
		portico_protojson_json_name(field->name, name, sizeof name);
		size_t mark = push(w, "%s%s", name, 0);
		int failed = walk_field(w, message, field);
		pop(w, mark);
		if (failed)
			return -1;
	}
	return w->visitor->message ? w->visitor->message(w->visitor->arg, message, w->path, w->err) : 0;
}

int portico_payload_walk(ProtobufCMessage *message, const portico_payload_visitor *visitor, portico_error *err)
{
	walk w = {.visitor = visitor, .err = err, .length = 0};
	w.path[0] = '\0';
	return walk_message(&w, message);
}
