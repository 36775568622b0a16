#include "history_event.h"

#include <string.h>

#include "temporal/api/enums/v1/event_type.pb-c.h"

#define TYPE(name)       TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##name
#define ATTRIBUTES(name) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##name##_EVENT_ATTRIBUTES
#define MAX_KIND_TYPES   8

/* Each kind a filter may name and the event types it covers (0 ends a shorter list). */
static const struct kind {
	const char *name;
	int types[MAX_KIND_TYPES];
} kinds[] = {
        {"activity",
         {TYPE(ACTIVITY_TASK_SCHEDULED), TYPE(ACTIVITY_TASK_STARTED), TYPE(ACTIVITY_TASK_COMPLETED),
          TYPE(ACTIVITY_TASK_FAILED), TYPE(ACTIVITY_TASK_TIMED_OUT), TYPE(ACTIVITY_TASK_CANCEL_REQUESTED),
          TYPE(ACTIVITY_TASK_CANCELED)}},
        {"signal",
         {TYPE(WORKFLOW_EXECUTION_SIGNALED), TYPE(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED),
          TYPE(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED), TYPE(EXTERNAL_WORKFLOW_EXECUTION_SIGNALED)}},
        {"update",
         {TYPE(WORKFLOW_EXECUTION_UPDATE_ADMITTED), TYPE(WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
          TYPE(WORKFLOW_EXECUTION_UPDATE_REJECTED), TYPE(WORKFLOW_EXECUTION_UPDATE_COMPLETED)}},
        {"timer", {TYPE(TIMER_STARTED), TYPE(TIMER_FIRED), TYPE(TIMER_CANCELED)}},
        {"child",
         {TYPE(START_CHILD_WORKFLOW_EXECUTION_INITIATED), TYPE(START_CHILD_WORKFLOW_EXECUTION_FAILED),
          TYPE(CHILD_WORKFLOW_EXECUTION_STARTED), TYPE(CHILD_WORKFLOW_EXECUTION_COMPLETED),
          TYPE(CHILD_WORKFLOW_EXECUTION_FAILED), TYPE(CHILD_WORKFLOW_EXECUTION_CANCELED),
          TYPE(CHILD_WORKFLOW_EXECUTION_TIMED_OUT), TYPE(CHILD_WORKFLOW_EXECUTION_TERMINATED)}},
        {"close",
         {TYPE(WORKFLOW_EXECUTION_COMPLETED), TYPE(WORKFLOW_EXECUTION_FAILED), TYPE(WORKFLOW_EXECUTION_TIMED_OUT),
          TYPE(WORKFLOW_EXECUTION_CANCELED), TYPE(WORKFLOW_EXECUTION_TERMINATED),
          TYPE(WORKFLOW_EXECUTION_CONTINUED_AS_NEW)}},
};
#define KIND_COUNT (sizeof kinds / sizeof kinds[0])

const char *history_event_next_run(const history_event *event)
{
	const char *next = NULL;
	switch (event->attributes_case) {
	case ATTRIBUTES(WORKFLOW_EXECUTION_COMPLETED):
		next = event->workflow_execution_completed_event_attributes->new_execution_run_id;
		break;
	case ATTRIBUTES(WORKFLOW_EXECUTION_FAILED):
		next = event->workflow_execution_failed_event_attributes->new_execution_run_id;
		break;
	case ATTRIBUTES(WORKFLOW_EXECUTION_TIMED_OUT):
		next = event->workflow_execution_timed_out_event_attributes->new_execution_run_id;
		break;
	case ATTRIBUTES(WORKFLOW_EXECUTION_CONTINUED_AS_NEW):
		next = event->workflow_execution_continued_as_new_event_attributes->new_execution_run_id;
		break;
	default:
		break;
	}
	return next && *next ? next : NULL;
}

const char *history_event_close_status(int type)
{
	switch (type) {
	case TYPE(WORKFLOW_EXECUTION_COMPLETED):
		return "WORKFLOW_EXECUTION_STATUS_COMPLETED";
	case TYPE(WORKFLOW_EXECUTION_FAILED):
		return "WORKFLOW_EXECUTION_STATUS_FAILED";
	case TYPE(WORKFLOW_EXECUTION_TIMED_OUT):
		return "WORKFLOW_EXECUTION_STATUS_TIMED_OUT";
	case TYPE(WORKFLOW_EXECUTION_CANCELED):
		return "WORKFLOW_EXECUTION_STATUS_CANCELED";
	case TYPE(WORKFLOW_EXECUTION_TERMINATED):
		return "WORKFLOW_EXECUTION_STATUS_TERMINATED";
	case TYPE(WORKFLOW_EXECUTION_CONTINUED_AS_NEW):
		return "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW";
	default:
		return NULL;
	}
}

const char *history_event_type_name(int type)
{
	const ProtobufCEnumValue *value =
	        protobuf_c_enum_descriptor_get_value(&temporal__api__enums__v1__event_type__descriptor, type);
	return value ? value->name : "EVENT_TYPE_UNSPECIFIED";
}

unsigned history_event_kinds(int type)
{
	unsigned mask = 0;
	for (size_t k = 0; k < KIND_COUNT; k++)
		for (size_t i = 0; i < MAX_KIND_TYPES && kinds[k].types[i]; i++)
			if (kinds[k].types[i] == type)
				mask |= 1u << k;
	return mask;
}

int history_kinds_parse(const char *text, unsigned *mask, portico_error *err)
{
	*mask = 0;
	for (const char *item = text;; item++) {
		size_t length = strcspn(item, ",");
		size_t k = 0;
		while (k < KIND_COUNT && (strlen(kinds[k].name) != length || strncmp(kinds[k].name, item, length)))
			k++;
		if (k == KIND_COUNT) {
			*mask = 0;
			/* The item is the caller's bytes: quoted only when short and plain. */
			int plain = length > 0 && length <= 32;
			for (size_t i = 0; plain && i < length; i++)
				plain = item[i] > ' ' && item[i] < 0x7f && item[i] != '"' && item[i] != '\\';
			return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                         "filter: %s%.*s%s is not a kind of event (kinds: " HISTORY_KINDS ")",
			                         plain    ? "\""
			                         : length ? "an item"
			                                  : "an empty item",
			                         plain ? (int)length : 0, item, plain ? "\"" : "");
		}
		*mask |= 1u << k;
		item += length;
		if (!*item)
			return 0;
	}
}
