/* One error convention for the whole SDK: a fallible function returns 0 on success and -1 on
 * failure, after filling the caller's portico_error with a gRPC status code, a message a user can
 * read, and the decoded google.rpc.Status details Temporal sent (for example the run id of an
 * already-started workflow). Portico's own failures (bad input, bad configuration) use the same
 * codes, so every layer above maps one table to HTTP.
 *
 * Public: the SDK's API for activity libraries; portico-worker exports what this header declares. */
#ifndef PORTICO_ERROR_H
#define PORTICO_ERROR_H

#include <protobuf-c/protobuf-c.h>

#include "google/rpc/status.pb-c.h"

typedef enum portico_code {
	PORTICO_OK = 0,
	PORTICO_CANCELLED = 1,
	PORTICO_UNKNOWN = 2,
	PORTICO_INVALID_ARGUMENT = 3,
	PORTICO_DEADLINE_EXCEEDED = 4,
	PORTICO_NOT_FOUND = 5,
	PORTICO_ALREADY_EXISTS = 6,
	PORTICO_PERMISSION_DENIED = 7,
	PORTICO_RESOURCE_EXHAUSTED = 8,
	PORTICO_FAILED_PRECONDITION = 9,
	PORTICO_ABORTED = 10,
	PORTICO_OUT_OF_RANGE = 11,
	PORTICO_UNIMPLEMENTED = 12,
	PORTICO_INTERNAL = 13,
	PORTICO_UNAVAILABLE = 14,
	PORTICO_DATA_LOSS = 15,
	PORTICO_UNAUTHENTICATED = 16,
} portico_code;

typedef struct portico_error {
	portico_code code;
	char *message;               /* owned; NULL while code is PORTICO_OK */
	Google__Rpc__Status *status; /* owned; the server's status details, when it sent any */
	ProtobufCMessage *detail;    /* owned; the first of status->details of a known type */
} portico_error;

#define PORTICO_ERROR_INIT                                                                                             \
	{                                                                                                              \
		PORTICO_OK, NULL, NULL, NULL                                                                           \
	}

/* Replaces whatever err held with code and a formatted message; returns -1 so that callers can
 * write `return portico_error_set(err, ...)`. err may be NULL. */
int portico_error_set(portico_error *err, portico_code code, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Prefixes err's message with a formatted context ("starting workflow w1: <message>"). */
void portico_error_prefix(portico_error *err, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Decodes serialized google.rpc.Status bytes (the grpc-status-details-bin trailer) into err:
 * status is kept and the first detail whose type Portico knows is unpacked. Undecodable bytes
 * are ignored: the code and message already tell the story. */
void portico_error_take_status_details(portico_error *err, const uint8_t *bytes, size_t length);

/* Returns err's unpacked detail when it is of the given type, else NULL. err keeps ownership. */
const ProtobufCMessage *portico_error_detail(const portico_error *err, const ProtobufCMessageDescriptor *type);

/* Frees what err holds and resets it to PORTICO_OK; err itself stays the caller's. */
void portico_error_clear(portico_error *err);

/* "UNAVAILABLE" for PORTICO_UNAVAILABLE; "CODE_<n>" for a code outside the table. */
const char *portico_code_name(portico_code code);

/* True for the codes worth retrying after a backoff (the server was unavailable or busy). */
int portico_code_is_transient(portico_code code);

/* RESOURCE_EXHAUSTED stands both for limits that lift (Temporal's rate limits and busy servers,
 * which say so with a ResourceExhaustedFailure detail) and for a message over gRPC's size limit,
 * which no retry gets through: true for the latter. */
int portico_error_is_size_refusal(const portico_error *err);

/* True for an error worth retrying after a backoff: a transient code, not a size refusal. */
int portico_error_is_transient(const portico_error *err);

#endif
