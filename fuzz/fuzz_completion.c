/* Completion webhooks' parsers of untrusted text, each given every input: a callback token as
 * Temporal hands it back (opened under a fixed secret), Temporal's Nexus-Link header, and a start's
 * completionWebhook (the input as JSON when it is JSON, else as a URL string), checked with and
 * without an allowlist. What is accepted must hold together: an opened token names a workflow and a
 * target; an accepted target attaches to a start as a callback whose token opens to it again. */
#include <stdint.h>

#include "completion_webhook.h"
#include "fuzz.h"
#include "json_parse.h"
#include "json_text.h"

/* The secret the seeds in fuzz/corpus/fuzz_completion were sealed under. */
#define FUZZ_SECRET  "whsec_cG9ydGljbyBjb21wbGV0aW9uIHRlc3Qgc2VjcmV0ISE="
#define FUZZ_BASE    "http://127.0.0.1:8080"
#define FUZZ_ALLOWED "http://127.0.0.1:9000, https://hooks.example/in/"

static void check_token(const completion_config *config, const char *text)
{
	completion_binding binding;
	if (completion_token_open(config, text, &binding))
		return;
	if (!binding.namespace_name || !binding.workflow_id || !binding.target.url ||
	    !json_is_object(binding.target.headers))
		fuzz_fail("a token opened to an incomplete binding", text);
	completion_binding_clear(&binding);
}

/* An accepted target is attached to a start as the proxy attaches it; what attach takes, the
 * callback must be able to open, else the outcome is lost. */
static void check_attach(const completion_config *config, const completion_target *target)
{
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start = malloc(sizeof *start);
	temporal__api__workflowservice__v1__start_workflow_execution_request__init(start);
	start->workflow_id = strdup("fuzz-workflow");
	start->workflow_id_conflict_policy =
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING;
	portico_error err = PORTICO_ERROR_INIT;
	if (completion_webhook_attach(config, "default", target, start, &err)) {
		if (!err.message || start->n_completion_callbacks)
			fuzz_fail("a refused attach without a message, or with a callback", target->url);
	} else {
		completion_binding binding;
		if (completion_token_open(config, start->completion_callbacks[0]->nexus->header[0]->value, &binding))
			fuzz_fail("an attached callback's token does not open", target->url);
		if (strcmp(binding.target.url, target->url) || !json_equal(binding.target.headers, target->headers))
			fuzz_fail("an attached callback's token opens to another target", target->url);
		completion_binding_clear(&binding);
	}
	protobuf_c_message_free_unpacked(&start->base, NULL);
	portico_error_clear(&err);
}

static void check_target(const completion_config *config, const json_t *value)
{
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	if (completion_target_parse(config, value, &target, &err)) {
		if (!err.message)
			fuzz_fail("a target refused without a message", NULL);
	} else {
		if (!target.url || !json_is_object(target.headers))
			fuzz_fail("an accepted target without a URL or headers", target.url);
		check_attach(config, &target);
	}
	completion_target_clear(&target);
	portico_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static completion_config *plain, *listed;
	if (!plain) {
		portico_error err = PORTICO_ERROR_INIT;
		if (completion_config_load(FUZZ_SECRET, FUZZ_BASE, NULL, &plain, &err) ||
		    completion_config_load(FUZZ_SECRET, FUZZ_BASE, FUZZ_ALLOWED, &listed, &err))
			fuzz_fail("the harness's configuration is refused", err.message);
	}
	char *text = fuzz_text(data, size);
	check_token(plain, text);
	char *run_id = completion_link_run_id(text, "default", "my wf");
	if (run_id && !*run_id)
		fuzz_fail("an empty run id", text);
	free(run_id);
	json_t *value = portico_json_parse((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!value)
		value = json_stringn(text, size); /* NULL when it is not UTF-8, as no JSON string is */
	if (value) {
		check_target(plain, value);
		check_target(listed, value);
	}
	json_decref(value);
	free(text);
	return 0;
}
