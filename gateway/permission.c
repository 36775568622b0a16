#define _GNU_SOURCE /* memmem */
#include "permission.h"

#include <string.h>

#include "payload.h"

#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

#define ENUM(name) TEMPORAL__API__ENUMS__V1__##name
#define WS(name)   TEMPORAL__API__WORKFLOWSERVICE__V1__##name

typedef Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest start_request;
typedef Temporal__Api__Workflowservice__V1__SignalWithStartWorkflowExecutionRequest signal_with_start_request;

/* One permission (a single auth_permission bit) and why. */
static permission_need need(unsigned permission, const char *reason)
{
	permission_need one = {permission, {NULL}};
	for (unsigned bit = 0; bit < AUTH_PERMISSION_BITS; bit++)
		if (permission & (1u << bit))
			one.reasons[bit] = reason;
	return one;
}

/* Adds more to have; for each permission the reason seen first stays. */
static void add(permission_need *have, permission_need more)
{
	for (unsigned bit = 0; bit < AUTH_PERMISSION_BITS; bit++)
		if (!have->reasons[bit])
			have->reasons[bit] = more.reasons[bit];
	have->permissions |= more.permissions;
}

/* A start may end the workflow already running under its id, and may make Temporal call out. */
void permission_need_add(permission_need *have, unsigned permission, const char *reason)
{
	add(have, need(permission, reason));
}

static permission_need start_policies(Temporal__Api__Enums__V1__WorkflowIdReusePolicy reuse,
                                      Temporal__Api__Enums__V1__WorkflowIdConflictPolicy conflict,
                                      size_t n_completion_callbacks)
{
	permission_need have = {0, {NULL}};
	if (conflict == ENUM(WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING))
		add(&have, need(PERMISSION_CANCEL, "workflowIdConflictPolicy TERMINATE_EXISTING terminates the running "
		                                   "workflow"));
	if (reuse == ENUM(WORKFLOW_ID_REUSE_POLICY__WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING))
		add(&have, need(PERMISSION_CANCEL, "workflowIdReusePolicy TERMINATE_IF_RUNNING terminates the running "
		                                   "workflow"));
	if (n_completion_callbacks)
		add(&have, need(PERMISSION_ADMIN, "completionCallbacks make Temporal call any allowed address"));
	return have;
}

#define UNREVIEWED_FLOW_REASON                                                                                         \
	"the first argument is a flow definition the operator did not load (PORTICO_FLOWS_DIR): it runs code no "      \
	"one reviewed, as POST …/flows does"
#define UNREADABLE_ARGUMENT_REASON                                                                                     \
	"the first argument is compressed or encrypted by the caller: the gateway cannot see whether it is a flow "    \
	"definition the worker would run"

static int encoding_is(const portico_payload *payload, const char *encoding)
{
	const ProtobufCBinaryData *value = portico_payload_metadata(payload, "encoding");
	return value && value->len == strlen(encoding) && !memcmp(value->data, encoding, value->len);
}

/* The worker runs a workflow as a flow when its first argument reads (as the worker reads it, after
 * the codec this gateway also applies, which inflates what a caller compressed) as a JSON object
 * with "definition". Such a start is as good as a start of the named flow when it holds nothing
 * but the loaded document of that namespace, name and version and an input; anything else (another
 * definition, or "resume", which only continue-as-new may carry) is an inline flow. A first
 * argument the gateway cannot read (compressed or encrypted by the caller) could be one. Only
 * json/plain payloads with "definition" or an escape in them are parsed, so ordinary starts pay a
 * scan of their first payload. */
static permission_need flow_effects(const Temporal__Api__Common__V1__Payloads *input, const flow_catalog *flows)
{
	permission_need have = {0, {NULL}};
	if (!input || !input->n_payloads)
		return have;
	const portico_payload *first = input->payloads[0];
	if (encoding_is(first, "binary/zlib") || encoding_is(first, "binary/encrypted"))
		return need(PERMISSION_ADMIN, UNREADABLE_ARGUMENT_REASON);
	if (!encoding_is(first, "json/plain") || !first->data.len || /* no data: a NULL pointer */
	    (!memmem(first->data.data, first->data.len, "definition", strlen("definition")) &&
	     !memchr(first->data.data, '\\', first->data.len)))
		return have;
	json_t *argument = portico_payload_value(first);
	const json_t *definition = json_object_get(argument, "definition");
	if (definition) {
		const json_t *header = json_object_get(definition, "document");
		const char *ns = json_string_value(json_object_get(header, "namespace"));
		const char *name = json_string_value(json_object_get(header, "name"));
		const char *version = json_string_value(json_object_get(header, "version"));
		const json_t *loaded =
		        flows && ns && name && version ? flow_catalog_find(flows, ns, name, version) : NULL;
		size_t fields = json_object_size(argument) - (json_object_get(argument, "input") != NULL);
		if (!loaded || !json_equal(loaded, definition) || fields != 1)
			have = need(PERMISSION_ADMIN, UNREVIEWED_FLOW_REASON);
	}
	json_decref(argument);
	return have;
}

static permission_need start_effects(const ProtobufCMessage *message, const flow_catalog *flows)
{
	if (message->descriptor == &temporal__api__workflowservice__v1__start_workflow_execution_request__descriptor) {
		const start_request *start = (const start_request *)message;
		permission_need have =
		        start_policies(start->workflow_id_reuse_policy, start->workflow_id_conflict_policy,
		                       start->n_completion_callbacks);
		add(&have, flow_effects(start->input, flows));
		if (start->request_eager_execution)
			add(&have,
			    need(PERMISSION_ADMIN, "requestEagerExecution hands the caller the first workflow task, "
			                           "a worker's work"));
		return have;
	}
	const signal_with_start_request *start = (const signal_with_start_request *)message;
	permission_need have = start_policies(start->workflow_id_reuse_policy, start->workflow_id_conflict_policy, 0);
	add(&have, flow_effects(start->input, flows));
	return have;
}

static permission_need
multi_operation_effects(const Temporal__Api__Workflowservice__V1__ExecuteMultiOperationRequest *r,
                        const flow_catalog *flows)
{
	permission_need have = {0, {NULL}};
	for (size_t i = 0; i < r->n_operations; i++) {
		const Temporal__Api__Workflowservice__V1__ExecuteMultiOperationRequest__Operation *op =
		        r->operations[i];
		switch (op->operation_case) {
		case WS(EXECUTE_MULTI_OPERATION_REQUEST__OPERATION__OPERATION_START_WORKFLOW):
			add(&have, need(PERMISSION_START, "operations[].startWorkflow starts a workflow"));
			add(&have, start_effects(&op->start_workflow->base, flows));
			break;
		case WS(EXECUTE_MULTI_OPERATION_REQUEST__OPERATION__OPERATION_UPDATE_WORKFLOW):
			add(&have, need(PERMISSION_UPDATE, "operations[].updateWorkflow updates a workflow"));
			break;
		default:
			add(&have, need(PERMISSION_ADMIN, "operations[] holds an operation Portico does not know"));
			break;
		}
	}
	return have;
}

/* What a reset does after it resets: signal the new run, change its options. */
static permission_need post_reset_effects(size_t n, Temporal__Api__Workflow__V1__PostResetOperation *const *ops)
{
	permission_need have = {0, {NULL}};
	for (size_t i = 0; i < n; i++) {
		switch (ops[i]->variant_case) {
		case TEMPORAL__API__WORKFLOW__V1__POST_RESET_OPERATION__VARIANT_SIGNAL_WORKFLOW:
			add(&have,
			    need(PERMISSION_SIGNAL, "postResetOperations[].signalWorkflow signals the workflow"));
			break;
		case TEMPORAL__API__WORKFLOW__V1__POST_RESET_OPERATION__VARIANT_UPDATE_WORKFLOW_OPTIONS:
			add(&have, need(PERMISSION_ADMIN, "postResetOperations[].updateWorkflowOptions changes the "
			                                  "workflow's options"));
			break;
		default:
			add(&have,
			    need(PERMISSION_ADMIN, "postResetOperations[] holds an operation Portico does not know"));
			break;
		}
	}
	return have;
}

static permission_need batch_effects(const Temporal__Api__Workflowservice__V1__StartBatchOperationRequest *r)
{
	switch (r->operation_case) {
	case WS(START_BATCH_OPERATION_REQUEST__OPERATION_TERMINATION_OPERATION):
		return need(PERMISSION_CANCEL, "terminationOperation terminates workflows");
	case WS(START_BATCH_OPERATION_REQUEST__OPERATION_CANCELLATION_OPERATION):
		return need(PERMISSION_CANCEL, "cancellationOperation cancels workflows");
	case WS(START_BATCH_OPERATION_REQUEST__OPERATION_RESET_OPERATION): {
		permission_need have = need(PERMISSION_CANCEL, "resetOperation resets workflows");
		if (r->reset_operation)
			add(&have, post_reset_effects(r->reset_operation->n_post_reset_operations,
			                              r->reset_operation->post_reset_operations));
		return have;
	}
	case WS(START_BATCH_OPERATION_REQUEST__OPERATION_SIGNAL_OPERATION):
		return need(PERMISSION_SIGNAL, "signalOperation signals workflows");
	case WS(START_BATCH_OPERATION_REQUEST__OPERATION_UNPAUSE_ACTIVITIES_OPERATION):
	case WS(START_BATCH_OPERATION_REQUEST__OPERATION_RESET_ACTIVITIES_OPERATION):
	case WS(START_BATCH_OPERATION_REQUEST__OPERATION_UPDATE_ACTIVITY_OPTIONS_OPERATION):
		return need(PERMISSION_ACTIVITIES, "the batch operation changes activities");
	default:
		/* Deletion, workflow options, and any operation a newer API adds. */
		return need(PERMISSION_ADMIN, "the batch operation needs admin");
	}
}

static permission_need overlap_effects(Temporal__Api__Enums__V1__ScheduleOverlapPolicy overlap)
{
	if (overlap == ENUM(SCHEDULE_OVERLAP_POLICY__SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER))
		return need(PERMISSION_CANCEL, "overlapPolicy CANCEL_OTHER cancels running workflows");
	if (overlap == ENUM(SCHEDULE_OVERLAP_POLICY__SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER))
		return need(PERMISSION_CANCEL, "overlapPolicy TERMINATE_OTHER terminates running workflows");
	return (permission_need){0, {NULL}};
}

/* A trigger or backfill without a policy of its own takes the schedule's, which the caller may not
 * have chosen and which may cancel or terminate. */
static permission_need run_now_effects(Temporal__Api__Enums__V1__ScheduleOverlapPolicy overlap)
{
	if (overlap == ENUM(SCHEDULE_OVERLAP_POLICY__SCHEDULE_OVERLAP_POLICY_UNSPECIFIED))
		return need(PERMISSION_CANCEL, "an overlapPolicy left unset takes the schedule's, which may cancel or "
		                               "terminate running workflows: give one");
	return overlap_effects(overlap);
}

/* The schedule's policies, and the workflow each of its actions starts. */
static permission_need schedule_policies(const Temporal__Api__Schedule__V1__Schedule *schedule,
                                         const flow_catalog *flows)
{
	permission_need have = {0, {NULL}};
	if (schedule && schedule->policies)
		add(&have, overlap_effects(schedule->policies->overlap_policy));
	if (schedule && schedule->action && schedule->action->start_workflow)
		add(&have, flow_effects(schedule->action->start_workflow->input, flows));
	return have;
}

static permission_need schedule_effects(const ProtobufCMessage *message, const flow_catalog *flows)
{
	const ProtobufCMessageDescriptor *type = message->descriptor;
	if (type == &temporal__api__workflowservice__v1__create_schedule_request__descriptor)
		return schedule_policies(
		        ((const Temporal__Api__Workflowservice__V1__CreateScheduleRequest *)message)->schedule, flows);
	if (type == &temporal__api__workflowservice__v1__update_schedule_request__descriptor)
		return schedule_policies(
		        ((const Temporal__Api__Workflowservice__V1__UpdateScheduleRequest *)message)->schedule, flows);
	const Temporal__Api__Schedule__V1__SchedulePatch *patch =
	        ((const Temporal__Api__Workflowservice__V1__PatchScheduleRequest *)message)->patch;
	permission_need have = {0, {NULL}};
	if (patch && patch->trigger_immediately)
		add(&have, run_now_effects(patch->trigger_immediately->overlap_policy));
	for (size_t i = 0; patch && i < patch->n_backfill_request; i++)
		add(&have, run_now_effects(patch->backfill_request[i]->overlap_policy));
	return have;
}

permission_need permission_effects(permission_effect effect, const ProtobufCMessage *request, const flow_catalog *flows)
{
	switch (effect) {
	case EFFECT_START:
		return start_effects(request, flows);
	case EFFECT_MULTI_OPERATION:
		return multi_operation_effects((const void *)request, flows);
	case EFFECT_BATCH:
		return batch_effects((const void *)request);
	case EFFECT_SCHEDULE:
		return schedule_effects(request, flows);
	case EFFECT_RESET: {
		const Temporal__Api__Workflowservice__V1__ResetWorkflowExecutionRequest *reset = (const void *)request;
		return post_reset_effects(reset->n_post_reset_operations, reset->post_reset_operations);
	}
	case EFFECT_NONE:
	case EFFECT_LIST_NAMESPACES:
		break;
	}
	return (permission_need){0, {NULL}};
}
