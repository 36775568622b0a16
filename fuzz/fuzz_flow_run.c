/* A flow run by the interpreter from arbitrary definitions: the input is a document (YAML or
 * JSON) that, when it validates, runs in the workflow env with stand-ins for http.request and for
 * every activity type, a bounded number of steps, then takes a signal, an update, the flow.state
 * query and a cancellation. Whatever the definition, the run ends or waits with a problem, never
 * crashes or leaks, and its history replays: the interpreter must be deterministic.
 *
 * jq's own loops (range, recurse, repeat, while, until, def) are left out of the strings: in
 * process, an expression has no time limit (the sandbox gives it one in the worker), and a jq
 * program that never ends is not the interpreter's finding. */
#include <stdint.h>

#include "definition.h"
#include "expr.h"
#include "fuzz.h"
#include "interpreter.h"
#include "protojson.h"
#include "workflow_env.h"
#include "workflow_run.h"
#include "temporal/api/history/v1/message.pb-c.h"

#define MAX_STEPS 64

static int stand_in(json_t *args, json_t **result, portico_workflow_failure **failure, void *arg)
{
	(void)arg;
	const json_t *first = json_array_get(args, 0);
	if (json_is_string(first) && !strcmp(json_string_value(first), "fail")) {
		*failure = portico_workflow_failure_new("Refused", 1, NULL, "refused");
		return -1;
	}
	*result = json_pack("{s:i,s:{},s:O?}", "status", 200, "headers", "body", first);
	return 0;
}

static const workflow_definition *lookup(void *arg, const char *type)
{
	(void)type;
	return arg;
}

static void check_replays(portico_workflow_env *env)
{
	json_t *json = portico_workflow_env_history(env);
	portico_error err = PORTICO_ERROR_INIT;
	Temporal__Api__History__V1__History *h = (Temporal__Api__History__V1__History *)portico_protojson_decode(
	        &temporal__api__history__v1__history__descriptor, json, &err);
	json_decref(json);
	if (!h)
		abort();
	workflow_definition definition = {flow_workflow, NULL};
	workflow_run_options options = {.namespace_name = "default", .lookup = lookup, .lookup_arg = &definition};
	workflow_run *run = workflow_run_new(&options);
	workflow_run_problem problem;
	if (workflow_run_apply(run, h->events, h->n_events, NULL, 0, &problem, &err)) {
		fprintf(stderr, "the history does not replay: %s\n", err.message);
		abort();
	}
	workflow_run_free(run);
	protobuf_c_message_free_unpacked(&h->base, NULL);
}

/* Whether a string of value (at any depth) names one of jq's loops. */
static int loops(const json_t *value)
{
	static const char *const words[] = {"range", "recurse", "repeat", "while", "until", "def"};
	const char *key;
	json_t *member;
	size_t i;
	if (json_is_string(value)) {
		for (i = 0; i < sizeof words / sizeof words[0]; i++)
			if (strstr(json_string_value(value), words[i]))
				return 1;
	} else if (json_is_object(value)) {
		json_object_foreach((json_t *)value, key, member) if (loops(member)) return 1;
	} else if (json_is_array(value)) {
		json_array_foreach(value, i, member) if (loops(member)) return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	portico_error err = PORTICO_ERROR_INIT;
	json_t *document = flow_parse(text, size, &err);
	free(text);
	portico_error_clear(&err);
	const char *name = json_string_value(json_object_get(json_object_get(document, "document"), "name"));
	if (!name || loops(document) || flow_validate(document, NULL, &err)) {
		portico_error_clear(&err);
		json_decref(document);
		return 0;
	}
	portico_workflow_env *env = portico_workflow_env_new();
	portico_workflow_env_register_workflow(env, name, flow_workflow, NULL);
	/* every type the definition may call: the env fails the others as not found */
	static const char *const types[] = {"http.request", "a", "b", "order.charge", "child"};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		portico_workflow_env_register_activity(env, types[i], stand_in, NULL);
	json_t *args = json_pack("[{s:O,s:{s:i,s:s}}]", "definition", document, "input", "n", 1, "s", "x");
	json_decref(document);
	if (portico_workflow_env_start(env, name, args, &err) == 0) {
		for (int i = 0; i < MAX_STEPS && portico_workflow_env_step(env, &err) == 1; i++)
			;
		json_t *state = NULL;
		char *error = NULL;
		if (portico_workflow_env_query(env, "flow.state", NULL, &state, &error) == 0)
			json_decref(state);
		free(error);
		json_t *event = json_pack("[{s:i}]", "n", 2);
		if (portico_workflow_env_status(env) == 1)
			portico_workflow_env_signal(env, "a", event, &err);
		portico_error_clear(&err);
		json_t *result = NULL;
		portico_workflow_failure *failure = NULL;
		if (portico_workflow_env_status(env) == 1 &&
		    portico_workflow_env_update(env, "b", event, &result, &failure, &err) >= 0) {
			json_decref(result);
			portico_workflow_failure_free(failure);
		}
		portico_error_clear(&err);
		json_decref(event);
		if (portico_workflow_env_status(env) == 1)
			portico_workflow_env_cancel(env, &err);
		portico_error_clear(&err);
		for (int i = 0; i < MAX_STEPS && portico_workflow_env_step(env, &err) == 1; i++)
			;
		check_replays(env);
	}
	portico_error_clear(&err);
	json_decref(args);
	portico_workflow_env_free(env);
	flow_expr_stop();
	return 0;
}
