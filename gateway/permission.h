/* What a request can do decides what it needs: a start whose conflict policy terminates the
 * running workflow needs what a terminate needs, a multi-operation needs what each of its
 * operations needs, a batch what its operation does, a schedule what its overlap policy does,
 * and a start of a flow whose definition the operator did not load what POST …/flows needs.
 * Each route carries its method's own permissions (gateway/permissions.tsv, generated into the
 * route table); this module adds the ones that depend on the decoded request's fields. */
#ifndef GATEWAY_PERMISSION_H
#define GATEWAY_PERMISSION_H

#include <protobuf-c/protobuf-c.h>

#include "auth.h"
#include "definition.h"

/* Which fields of a request can widen what it does (the effect column of permissions.tsv). */
typedef enum permission_effect {
	EFFECT_NONE,
	EFFECT_START,           /* conflict and reuse policies that terminate; completion callbacks; flows */
	EFFECT_MULTI_OPERATION, /* each operation: a start as above, an update */
	EFFECT_BATCH,           /* the batch's operation */
	EFFECT_SCHEDULE,        /* overlap policies that cancel or terminate; the flow it starts */
	EFFECT_RESET,           /* what a reset does after it resets (signal, change options) */
	EFFECT_LIST_NAMESPACES, /* the answer is cut to the caller's namespaces (proxy.c) */
} permission_effect;

/* What a request needs beyond its route's permissions. */
typedef struct permission_need {
	unsigned permissions; /* auth_permission bits; 0 for nothing more */
	/* For each bit, the field that asks for it (static text for the 403 message; the first seen). */
	const char *reasons[AUTH_PERMISSION_BITS];
} permission_need;

/* Adds permission (a single auth_permission bit) to need, with why, unless need has it already. */
void permission_need_add(permission_need *need, unsigned permission, const char *reason);

/* The permissions request (decoded, of the route's method, its payloads not yet encoded) needs
 * because of its fields. flows (may be NULL: none) are the definitions the operator loaded: a start
 * whose first argument is a flow ({"definition": …}, which Portico's worker runs as one: HTTP calls
 * from the worker's network, any activity on any task queue, signals to any workflow) needs admin
 * unless its definition is one of them, whichever route carries it. */
permission_need permission_effects(permission_effect effect, const ProtobufCMessage *request,
                                   const flow_catalog *flows);

#endif
