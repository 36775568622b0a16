/* client-probe: drives one SDK client call from the command line and prints the outcome as
 * one JSON object, so the integration tests (pytest, with workflows run by the official Python
 * SDK) can check the C client against a real Temporal server.
 *   client-probe start --id W --type T --queue Q [--input JSON] [--request-id R]
 *   client-probe signal --id W [--run R] --name S [--args JSON]
 *   client-probe signal-with-start --id W --type T --queue Q --name S [--input JSON] [--args JSON]
 *   client-probe query --id W --name Q [--args JSON]
 *   client-probe update --id W --name U [--args JSON] [--update-id U] [--timeout MS]
 *   client-probe describe|cancel|terminate --id W [--run R] [--reason TEXT]
 *   client-probe list|count [--query Q]
 *   client-probe history --id W [--wait] [--close]
 *   client-probe system-info
 * Exit status 0 with the result, or 1 with {"error": {code, codeName, message, detail}}.
 * Temporal is reached through the TEMPORAL_* environment, as every Portico program. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "temporal/api/errordetails/v1/message.pb-c.h"

typedef struct probe_args {
	const char *command, *id, *run, *type, *queue, *name, *input, *args, *request_id, *update_id, *reason, *query;
	int64_t timeout_ms;
	int wait, close_only;
} probe_args;

static void print_json(json_t *value)
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
	puts(text);
	free(text);
	json_decref(value);
}

static const char *enum_name(const ProtobufCEnumDescriptor *descriptor, int value)
{
	const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value(descriptor, value);
	return found ? found->name : "UNKNOWN";
}

static int report_error(portico_error *err)
{
	json_t *error = json_pack("{s:i,s:s,s:s}", "code", err->code, "codeName", portico_code_name(err->code),
	                          "message", err->message ? err->message : "");
	const Temporal__Api__Errordetails__V1__WorkflowExecutionAlreadyStartedFailure *started =
	        (const void *)portico_error_detail(
	                err, &temporal__api__errordetails__v1__workflow_execution_already_started_failure__descriptor);
	if (started)
		json_object_set_new(error, "detail",
		                    json_pack("{s:s,s:s,s:s}", "type", "WorkflowExecutionAlreadyStartedFailure",
		                              "runId", started->run_id, "startRequestId", started->start_request_id));
	else if (err->detail)
		json_object_set_new(error, "detail", json_pack("{s:s}", "type", err->detail->descriptor->short_name));
	print_json(json_pack("{s:o}", "error", error));
	portico_error_clear(err);
	return 1;
}

static int load_payloads(const char *text, const char *field, portico_payloads **out, portico_error *err)
{
	*out = NULL;
	if (!text)
		return 0;
	*out = portico_payloads_from_json_text(text, field, err);
	return *out ? 0 : -1;
}

static json_t *failure_to_json(const Temporal__Api__Failure__V1__Failure *failure)
{
	json_t *out = json_pack("{s:s}", "message", failure->message);
	if (failure->failure_info_case == TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO)
		json_object_set_new(out, "type", json_string(failure->application_failure_info->type));
	return out;
}

static json_t *describe_to_json(const portico_describe_response *response)
{
	const Temporal__Api__Workflow__V1__WorkflowExecutionInfo *info = response->workflow_execution_info;
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "workflowId", info->execution->workflow_id, "runId",
	                 info->execution->run_id, "workflowType", info->type->name, "status",
	                 enum_name(&temporal__api__enums__v1__workflow_execution_status__descriptor, info->status),
	                 "taskQueue", info->task_queue, "historyLength", (json_int_t)info->history_length);
}

static int run_start(portico_client *client, const probe_args *a, portico_error *err)
{
	portico_payloads *input, *signal_args = NULL;
	if (load_payloads(a->input, "input", &input, err))
		return -1;
	portico_workflow_start start = {.workflow_id = a->id,
	                                .workflow_type = a->type,
	                                .task_queue = a->queue,
	                                .input = input,
	                                .request_id = a->request_id};
	char *run_id = NULL;
	int result;
	if (!strcmp(a->command, "start")) {
		result = portico_client_start_workflow(client, &start, &run_id, err);
	} else {
		result = load_payloads(a->args, "signal args", &signal_args, err);
		if (!result)
			result = portico_client_signal_with_start(client, &start, a->name, signal_args, &run_id, err);
	}
	if (!result)
		print_json(json_pack("{s:s}", "runId", run_id));
	free(run_id);
	portico_payloads_free(input);
	portico_payloads_free(signal_args);
	return result;
}

static int run_signal_query_update(portico_client *client, const probe_args *a, portico_error *err)
{
	portico_payloads *args;
	if (load_payloads(a->args, "args", &args, err))
		return -1;
	int result;
	if (!strcmp(a->command, "signal")) {
		result = portico_client_signal_workflow(client, a->id, a->run, a->name, args, a->request_id, err);
		if (!result)
			print_json(json_object());
	} else if (!strcmp(a->command, "query")) {
		portico_payloads *answer;
		result = portico_client_query_workflow(client, a->id, a->run, a->name, args, &answer, err);
		if (!result)
			print_json(json_pack("{s:o}", "result", portico_payloads_to_json(answer, 1)));
		portico_payloads_free(answer);
	} else {
		portico_update_outcome *outcome;
		result = portico_client_update_workflow(client, a->id, a->run, a->name, args, a->update_id,
		                                        a->timeout_ms, &outcome, err);
		if (!result) {
			int ok = outcome->value_case == TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_SUCCESS;
			print_json(ok ? json_pack("{s:o}", "success", portico_payloads_to_json(outcome->success, 1))
			              : json_pack("{s:o}", "failure", failure_to_json(outcome->failure)));
			protobuf_c_message_free_unpacked(&outcome->base, NULL);
		}
	}
	portico_payloads_free(args);
	return result;
}

static int run_list(portico_client *client, const probe_args *a, portico_error *err)
{
	if (!strcmp(a->command, "count")) {
		int64_t count;
		if (portico_client_count_workflows(client, a->query, &count, err))
			return -1;
		print_json(json_pack("{s:I}", "count", (json_int_t)count));
		return 0;
	}
	portico_list_response *response;
	if (portico_client_list_workflows(client, a->query, 100, NULL, &response, err))
		return -1;
	json_t *executions = json_array();
	for (size_t i = 0; i < response->n_executions; i++) {
		const Temporal__Api__Workflow__V1__WorkflowExecutionInfo *info = response->executions[i];
		json_array_append_new(
		        executions,
		        json_pack("{s:s,s:s,s:s}", "workflowId", info->execution->workflow_id, "runId",
		                  info->execution->run_id, "status",
		                  enum_name(&temporal__api__enums__v1__workflow_execution_status__descriptor,
		                            info->status)));
	}
	protobuf_c_message_free_unpacked(&response->base, NULL);
	print_json(json_pack("{s:o}", "executions", executions));
	return 0;
}

static int run_history(portico_client *client, const probe_args *a, portico_error *err)
{
	json_t *events = json_array();
	ProtobufCBinaryData token = {0, NULL};
	portico_history_response *page = NULL;
	do {
		portico_history_page_options options = {.workflow_id = a->id,
		                                        .run_id = a->run,
		                                        .page_token = token.len ? &token : NULL,
		                                        .wait_new_event = a->wait,
		                                        .close_event_only = a->close_only};
		portico_history_response *next;
		int result = portico_client_get_history_page(client, &options, &next, err);
		if (page)
			protobuf_c_message_free_unpacked(&page->base, NULL);
		page = next;
		if (result) {
			json_decref(events);
			return -1;
		}
		for (size_t i = 0; page->history && i < page->history->n_events; i++)
			json_array_append_new(events,
			                      json_string(enum_name(&temporal__api__enums__v1__event_type__descriptor,
			                                            page->history->events[i]->event_type)));
		token = page->next_page_token;
	} while (token.len && !(a->wait && json_array_size(events)));
	protobuf_c_message_free_unpacked(&page->base, NULL);
	print_json(json_pack("{s:o}", "events", events));
	return 0;
}

static int run_command(portico_client *client, const probe_args *a, portico_error *err)
{
	const char *c = a->command;
	if (!strcmp(c, "start") || !strcmp(c, "signal-with-start"))
		return run_start(client, a, err);
	if (!strcmp(c, "signal") || !strcmp(c, "query") || !strcmp(c, "update"))
		return run_signal_query_update(client, a, err);
	if (!strcmp(c, "list") || !strcmp(c, "count"))
		return run_list(client, a, err);
	if (!strcmp(c, "history"))
		return run_history(client, a, err);
	if (!strcmp(c, "system-info")) {
		portico_system_info *info;
		if (portico_client_get_system_info(client, &info, err))
			return -1;
		print_json(json_pack("{s:s}", "serverVersion", info->server_version));
		protobuf_c_message_free_unpacked(&info->base, NULL);
		return 0;
	}
	if (!strcmp(c, "describe")) {
		portico_describe_response *response;
		if (portico_client_describe_workflow(client, a->id, a->run, &response, err))
			return -1;
		print_json(describe_to_json(response));
		protobuf_c_message_free_unpacked(&response->base, NULL);
		return 0;
	}
	int result;
	if (!strcmp(c, "cancel"))
		result = portico_client_cancel_workflow(client, a->id, a->run, a->reason, a->request_id, err);
	else if (!strcmp(c, "terminate"))
		result = portico_client_terminate_workflow(client, a->id, a->run, a->reason, err);
	else
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "unknown command %s", c);
	if (!result)
		print_json(json_object());
	return result;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	        {"id", required_argument, NULL, 'i'},
	        {"run", required_argument, NULL, 'r'},
	        {"type", required_argument, NULL, 't'},
	        {"queue", required_argument, NULL, 'q'},
	        {"name", required_argument, NULL, 'n'},
	        {"input", required_argument, NULL, 'I'},
	        {"args", required_argument, NULL, 'a'},
	        {"request-id", required_argument, NULL, 'R'},
	        {"update-id", required_argument, NULL, 'u'},
	        {"reason", required_argument, NULL, 'e'},
	        {"query", required_argument, NULL, 'Q'},
	        {"timeout", required_argument, NULL, 'T'},
	        {"wait", no_argument, NULL, 'w'},
	        {"close", no_argument, NULL, 'c'},
	        {NULL, 0, NULL, 0},
	};
	probe_args a = {0};
	int option;
	while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (option) {
		case 'i':
			a.id = optarg;
			break;
		case 'r':
			a.run = optarg;
			break;
		case 't':
			a.type = optarg;
			break;
		case 'q':
			a.queue = optarg;
			break;
		case 'n':
			a.name = optarg;
			break;
		case 'I':
			a.input = optarg;
			break;
		case 'a':
			a.args = optarg;
			break;
		case 'R':
			a.request_id = optarg;
			break;
		case 'u':
			a.update_id = optarg;
			break;
		case 'e':
			a.reason = optarg;
			break;
		case 'Q':
			a.query = optarg;
			break;
		case 'T':
			a.timeout_ms = atoll(optarg);
			break;
		case 'w':
			a.wait = 1;
			break;
		case 'c':
			a.close_only = 1;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: client-probe COMMAND [options] (see the source's header)\n");
		return 2;
	}
	a.command = argv[optind];

	portico_error err = PORTICO_ERROR_INIT;
	portico_config cfg;
	if (portico_config_from_env(&cfg, &err))
		return report_error(&err);
	portico_client *client = portico_client_open(&cfg, &err);
	portico_config_free(&cfg);
	if (!client)
		return report_error(&err);
	int result = run_command(client, &a, &err);
	portico_client_close(client);
	return result ? report_error(&err) : 0;
}
