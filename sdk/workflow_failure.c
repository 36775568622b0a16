/* Failures between Temporal's protobuf form and the workflow API's (workflow.h). */
#include "workflow_failure.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "payload.h"
#include "temporal/api/enums/v1/workflow.pb-c.h"

#define MAX_CAUSE_DEPTH 16 /* a failure's causes read or written; deeper ones are dropped */
#define FAILURE_SOURCE  "PorticoSDK"

static const char *text(const char *s)
{
	return s ? s : "";
}

static char *dup_or_null(const char *s)
{
	return s && *s ? portico_strdup(s) : NULL;
}

static portico_workflow_failure *from_proto(const Temporal__Api__Failure__V1__Failure *f, int depth)
{
	if (!f)
		return NULL;
	portico_workflow_failure *out = portico_calloc(1, sizeof *out);
	out->message = portico_strdup(text(f->message));
	const char *kind = "application";
	switch (f->failure_info_case) {
	case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO:
		out->type = portico_strdup(text(f->application_failure_info->type));
		out->non_retryable = f->application_failure_info->non_retryable;
		if (f->application_failure_info->details)
			out->details = portico_payloads_values(f->application_failure_info->details);
		break;
	case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_TIMEOUT_FAILURE_INFO: {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		        &temporal__api__enums__v1__timeout_type__descriptor, f->timeout_failure_info->timeout_type);
		const char *name = v ? v->name : "TIMEOUT_TYPE_UNSPECIFIED";
		kind = "timeout";
		out->timeout_type = portico_strdup(name + (strncmp(name, "TIMEOUT_TYPE_", 13) ? 0 : 13));
		break;
	}
	case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_CANCELED_FAILURE_INFO:
		kind = "canceled";
		break;
	case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_TERMINATED_FAILURE_INFO:
		kind = "terminated";
		break;
	case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_SERVER_FAILURE_INFO:
		kind = "server";
		out->non_retryable = f->server_failure_info->non_retryable;
		break;
	case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_ACTIVITY_FAILURE_INFO:
		kind = "activity";
		break;
	case TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_CHILD_WORKFLOW_EXECUTION_FAILURE_INFO:
		kind = "child_workflow";
		break;
	default:
		break;
	}
	out->kind = portico_strdup(kind);
	if (!out->type)
		out->type = portico_strdup("");
	if (f->cause && depth < MAX_CAUSE_DEPTH)
		out->cause = from_proto(f->cause, depth + 1);
	return out;
}

static Temporal__Api__Failure__V1__Failure *to_proto(const portico_workflow_failure *f, int depth)
{
	Temporal__Api__Failure__V1__Failure *out = portico_malloc(sizeof *out);
	temporal__api__failure__v1__failure__init(out);
	out->message = portico_strdup(f && f->message ? f->message : "the workflow failed");
	out->source = portico_strdup(FAILURE_SOURCE);
	if (f && f->kind && !strcmp(f->kind, "canceled")) {
		out->failure_info_case = TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_CANCELED_FAILURE_INFO;
		out->canceled_failure_info = portico_malloc(sizeof *out->canceled_failure_info);
		temporal__api__failure__v1__canceled_failure_info__init(out->canceled_failure_info);
	} else {
		Temporal__Api__Failure__V1__ApplicationFailureInfo *info = portico_malloc(sizeof *info);
		temporal__api__failure__v1__application_failure_info__init(info);
		info->type = portico_strdup(f && f->type ? f->type : "");
		info->non_retryable = f ? f->non_retryable : 0;
		if (f && json_is_array(f->details) && json_array_size(f->details))
			info->details = portico_payloads_of_values(f->details);
		out->failure_info_case = TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO;
		out->application_failure_info = info;
	}
	if (f && f->cause && depth < MAX_CAUSE_DEPTH)
		out->cause = to_proto(f->cause, depth + 1);
	return out;
}

portico_workflow_failure *workflow_failure_vnew(const char *kind, const char *type, int non_retryable, json_t *details,
                                                const char *format, va_list ap)
{
	portico_workflow_failure *f = portico_calloc(1, sizeof *f);
	f->kind = portico_strdup(kind);
	f->type = portico_strdup(text(type));
	f->non_retryable = non_retryable;
	f->details = details;
	f->message = portico_vsprintf(format, ap);
	return f;
}

portico_workflow_failure *portico_workflow_failure_new(const char *type, int non_retryable, json_t *details,
                                                       const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	portico_workflow_failure *f = workflow_failure_vnew("application", type, non_retryable, details, format, ap);
	va_end(ap);
	return f;
}

portico_workflow_failure *workflow_failure_make(const char *kind, const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	portico_workflow_failure *f = workflow_failure_vnew(kind, "", 0, NULL, format, ap);
	va_end(ap);
	return f;
}

const portico_workflow_failure *portico_workflow_failure_root(const portico_workflow_failure *failure)
{
	while (failure && failure->cause)
		failure = failure->cause;
	return failure;
}

void portico_workflow_failure_free(portico_workflow_failure *failure)
{
	while (failure) {
		portico_workflow_failure *cause = failure->cause;
		free(failure->kind);
		free(failure->type);
		free(failure->message);
		free(failure->timeout_type);
		json_decref(failure->details);
		free(failure);
		failure = cause;
	}
}

portico_workflow_failure *workflow_failure_copy(const portico_workflow_failure *f)
{
	if (!f)
		return NULL;
	portico_workflow_failure *out = portico_calloc(1, sizeof *out);
	out->kind = dup_or_null(f->kind);
	out->type = portico_strdup(text(f->type));
	out->message = portico_strdup(text(f->message));
	out->non_retryable = f->non_retryable;
	out->details = f->details ? json_deep_copy(f->details) : NULL;
	out->timeout_type = dup_or_null(f->timeout_type);
	out->cause = workflow_failure_copy(f->cause);
	return out;
}

portico_workflow_failure *workflow_failure_from_proto(const Temporal__Api__Failure__V1__Failure *failure)
{
	return from_proto(failure, 0);
}

Temporal__Api__Failure__V1__Failure *workflow_failure_to_proto(const portico_workflow_failure *failure)
{
	return to_proto(failure, 0);
}
