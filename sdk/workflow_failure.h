/* Failures between Temporal's protobuf form (temporal.api.failure.v1.Failure) and the workflow
 * API's portico_workflow_failure, for the run engine and the test environment. Every function
 * returns a new tree the caller frees (portico_workflow_failure_free, or
 * protobuf_c_message_free_unpacked for the protobuf form). */
#ifndef PORTICO_WORKFLOW_FAILURE_H
#define PORTICO_WORKFLOW_FAILURE_H

#include <stdarg.h>

#include <jansson.h>

#include "workflow.h"
#include "temporal/api/failure/v1/message.pb-c.h"

/* What the workflow sees of a failure (NULL for NULL): kind from its failure info, causes kept to
 * a depth of 16. */
portico_workflow_failure *workflow_failure_from_proto(const Temporal__Api__Failure__V1__Failure *failure);

/* A failure to send (an application failure, or a cancellation for kind "canceled"); NULL makes a
 * generic "the workflow failed". */
Temporal__Api__Failure__V1__Failure *workflow_failure_to_proto(const portico_workflow_failure *failure);

/* A failure of kind with no type, and a printf-formatted message. */
portico_workflow_failure *workflow_failure_make(const char *kind, const char *format, ...)
        __attribute__((format(printf, 2, 3)));

/* As portico_workflow_failure_new, of any kind, with a va_list; takes details. */
portico_workflow_failure *workflow_failure_vnew(const char *kind, const char *type, int non_retryable, json_t *details,
                                                const char *format, va_list ap);

portico_workflow_failure *workflow_failure_copy(const portico_workflow_failure *failure);

#endif
