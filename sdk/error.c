#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "proto_registry.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"

static const char *const code_names[] = {
        "OK",        "CANCELLED",       "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED",   "OUT_OF_RANGE",    "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
        "DATA_LOSS", "UNAUTHENTICATED",
};

const char *portico_code_name(portico_code code)
{
	static __thread char other[24];
	if ((unsigned)code < sizeof code_names / sizeof code_names[0])
		return code_names[code];
	snprintf(other, sizeof other, "CODE_%d", (int)code);
	return other;
}

int portico_code_is_transient(portico_code code)
{
	return code == PORTICO_UNAVAILABLE || code == PORTICO_RESOURCE_EXHAUSTED;
}

int portico_error_is_size_refusal(const portico_error *err)
{
	return err->code == PORTICO_RESOURCE_EXHAUSTED && err->message &&
	       !portico_error_detail(err, &temporal__api__errordetails__v1__resource_exhausted_failure__descriptor) &&
	       strstr(err->message, "message larger than max");
}

int portico_error_is_transient(const portico_error *err)
{
	return portico_code_is_transient(err->code) && !portico_error_is_size_refusal(err);
}

void portico_error_clear(portico_error *err)
{
	if (!err)
		return;
	free(err->message);
	if (err->status)
		google__rpc__status__free_unpacked(err->status, NULL);
	if (err->detail)
		protobuf_c_message_free_unpacked(err->detail, NULL);
	*err = (portico_error)PORTICO_ERROR_INIT;
}

int portico_error_set(portico_error *err, portico_code code, const char *format, ...)
{
	if (!err)
		return -1;
	portico_error_clear(err);
	va_list args;
	va_start(args, format);
	err->message = portico_vsprintf(format, args);
	va_end(args);
	err->code = code;
	return -1;
}

void portico_error_prefix(portico_error *err, const char *format, ...)
{
	if (!err || !err->message)
		return;
	va_list args;
	va_start(args, format);
	char *prefix = portico_vsprintf(format, args);
	va_end(args);
	char *message = portico_sprintf("%s: %s", prefix, err->message);
	free(prefix);
	free(err->message);
	err->message = message;
}

void portico_error_take_status_details(portico_error *err, const uint8_t *bytes, size_t length)
{
	Google__Rpc__Status *status = google__rpc__status__unpack(NULL, length, bytes);
	if (!status)
		return;
	if (err->status)
		google__rpc__status__free_unpacked(err->status, NULL);
	err->status = status;
	for (size_t i = 0; i < status->n_details && !err->detail; i++) {
		const Google__Protobuf__Any *any = status->details[i];
		const ProtobufCMessageDescriptor *type = portico_proto_message_by_type_url(any->type_url);
		if (type)
			err->detail = protobuf_c_message_unpack(type, NULL, any->value.len, any->value.data);
	}
}

const ProtobufCMessage *portico_error_detail(const portico_error *err, const ProtobufCMessageDescriptor *type)
{
	if (!err || !err->detail || err->detail->descriptor != type)
		return NULL;
	return err->detail;
}
