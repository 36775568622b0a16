#include "proto_registry.h"

#include <stdlib.h>
#include <string.h>

static int compare_entry(const void *key, const void *element)
{
	return strcmp(key, ((const portico_proto_entry *)element)->full_name);
}

const ProtobufCMessageDescriptor *portico_proto_message_by_name(const char *full_name)
{
	if (!full_name)
		return NULL;
	const portico_proto_entry *entry = bsearch(full_name, portico_proto_messages, portico_proto_message_count,
	                                           sizeof portico_proto_messages[0], compare_entry);
	return entry ? entry->descriptor : NULL;
}

const ProtobufCMessageDescriptor *portico_proto_message_by_type_url(const char *type_url)
{
	if (!type_url)
		return NULL;
	const char *slash = strrchr(type_url, '/');
	return portico_proto_message_by_name(slash ? slash + 1 : type_url);
}
