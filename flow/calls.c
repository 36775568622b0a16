/* `call` tasks: `http` on the worker's http.request activity, `activity` (Portico's extension:
 * any activity type on any task queue), and the name of a use.functions entry (a task definition
 * run with the call's `with` as its input).
 *
 * Activities are given one attempt unless the definition sets a retry policy: the spec's
 * try/retry is how a flow retries, and two retry layers would multiply each other. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base64.h"
#include "run.h"

#define HTTP_ACTIVITY   "http.request"
#define DEFAULT_TIMEOUT (5 * 60 * 1000) /* start-to-close of a call that sets none */
#define MAX_URL_BYTES   8192

static const portico_retry_policy one_attempt = {.maximum_attempts = 1};

/* Maps an activity's failure (taken) to the task's problem: its timeouts to the timeout error,
 * an HTTP status (http.request says "… answered 503") to a communication error with that status,
 * anything else to a runtime error titled with the activity's error type. */
static int call_failed(flow_ctx *ctx, const flow_task *t, portico_workflow_failure *failure, int http)
{
	const portico_workflow_failure *root = failure ? portico_workflow_failure_root(failure) : NULL;
	const char *message = root && root->message ? root->message : "failed";
	int rc;
	if (root && !strcmp(root->kind, "canceled")) {
		rc = FLOW_CANCEL;
	} else if (root && !strcmp(root->kind, "timeout")) {
		rc = flow_raise(ctx, "timeout", 408, t->path, "Timeout", "%s (%s)", message,
		                root->timeout_type ? root->timeout_type : "timeout");
	} else if (http) {
		const char *answered = strstr(message, " answered ");
		int status = answered ? atoi(answered + strlen(" answered ")) : 0;
		rc = flow_raise(ctx, "communication", status >= 400 && status <= 599 ? status : 500, t->path,
		                status ? "HTTP Error" : "Communication Error", "%s", message);
	} else {
		rc = flow_raise(ctx, "runtime", 500, t->path,
		                root && root->type && *root->type ? root->type : "Activity Failed", "%s", message);
	}
	portico_workflow_failure_free(failure);
	return rc;
}

/* The cancellation type of t's activities: a task with a compensation waits for the outcome, as
 * a call in flight (a charge) may still complete, and then its compensation is due. */
static portico_cancellation_type cancellation_of(const flow_task *t)
{
	return t->compensated ? PORTICO_CANCEL_WAIT : PORTICO_CANCEL_TRY;
}

/* Whether the workflow or ctx's scope was cancelled since the call began (given what was so
 * then): an activity that completed all the same ends the task cancelled, its output kept. */
static int cancelled_since(const flow_ctx *ctx, int workflow_before, int scope_before)
{
	return (!workflow_before && portico_workflow_cancel_requested(ctx->run->wf)) ||
	       (!scope_before && flow_scope_cancelled(ctx->scope));
}

/* ---- http -------------------------------------------------------------------------------------------- */

/* Appends s percent-encoded (RFC 3986 unreserved characters kept). */
static void append_encoded(char **url, const char *s)
{
	size_t n = strlen(*url);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		*url = portico_realloc(*url, n + 4);
		if (isalnum(c) || strchr("-._~", c))
			(*url)[n++] = (char)c;
		else
			n += (size_t)snprintf(*url + n, 4, "%%%02X", c);
		(*url)[n] = '\0';
	}
}

/* A value as URL text: strings as they are, other JSON compact. Caller frees. */
static char *value_text(const json_t *value)
{
	return json_is_string(value) ? portico_strdup(json_string_value(value))
	                             : json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The URL of the call: the endpoint's {name} placeholders filled from the task's input (URI
 * template level 1), then the query. Caller frees; NULL when it grows past MAX_URL_BYTES. */
static char *http_url(const char *uri, const json_t *input, const json_t *query)
{
	char *url = portico_strdup("");
	size_t n = 0;
	for (const char *p = uri; *p && n < MAX_URL_BYTES;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		if (close) {
			char *name = portico_sprintf("%.*s", (int)(close - p - 1), p + 1);
			char *text = value_text(json_object_get(input, name));
			append_encoded(&url, text ? text : "");
			free(text);
			free(name);
			p = close + 1;
		} else {
			url = portico_realloc(url, n + 2);
			url[n] = *p++;
			url[n + 1] = '\0';
		}
		n = strlen(url);
	}
	const char *key;
	json_t *value;
	char separator = strchr(url, '?') ? '&' : '?';
	json_object_foreach((json_t *)query, key, value)
	{
		n = strlen(url);
		url = portico_realloc(url, n + 2);
		url[n] = separator;
		url[n + 1] = '\0';
		separator = '&';
		append_encoded(&url, key);
		n = strlen(url);
		url = portico_realloc(url, n + 2);
		strcpy(url + n, "=");
		char *text = value_text(value);
		append_encoded(&url, text ? text : "");
		free(text);
	}
	if (strlen(url) > MAX_URL_BYTES) {
		free(url);
		return NULL;
	}
	return url;
}

/* The body as base64, for output: raw. New reference. */
static json_t *raw_body(const json_t *body)
{
	char *text = value_text(body ? body : json_null());
	if (!text)
		return json_string("");
	char *encoded = portico_base64_encode((const uint8_t *)text, strlen(text));
	free(text);
	json_t *result = json_string(encoded);
	free(encoded);
	return result;
}

static int call_http(flow_ctx *ctx, flow_task *t, const json_t *with, json_t **output)
{
	const char *method = json_string_value(json_object_get(with, "method"));
	const json_t *endpoint = json_object_get(with, "endpoint");
	const char *uri = json_is_object(endpoint) ? json_string_value(json_object_get(endpoint, "uri"))
	                                           : json_string_value(endpoint);
	const json_t *query = json_object_get(with, "query");
	const char *form = json_string_value(json_object_get(with, "output"));
	if (!method || !uri || (query && !json_is_object(query)) ||
	    (form && strcmp(form, "content") && strcmp(form, "response") && strcmp(form, "raw")))
		return flow_raise(
		        ctx, "configuration", 400, t->path, "Configuration Error",
		        "call http: needs with.method, with.endpoint (a URI or {uri}), query an object, output "
		        "content, response or raw");
	if (json_is_object(endpoint) && json_object_get(endpoint, "authentication"))
		return flow_raise(
		        ctx, "configuration", 400, t->path, "Configuration Error",
		        "call http: endpoint.authentication is not supported; set the header in with.headers");
	char *url = http_url(uri, t->input, query);
	if (!url)
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                  "call http: the URL is longer than %d bytes", MAX_URL_BYTES);
	char upper[16] = "";
	for (size_t i = 0; method[i] && i < sizeof upper - 1; i++)
		upper[i] = (char)toupper((unsigned char)method[i]), upper[i + 1] = '\0';
	/* redirect: false (the spec's default) must see the 3xx to raise it, so http.request must not
	 * follow it */
	int redirect = json_is_true(json_object_get(with, "redirect"));
	json_t *request = json_pack("{s:s,s:s,s:O*,s:O*,s:b}", "method", upper, "url", url, "headers",
	                            json_object_get(with, "headers"), "body", json_object_get(with, "body"),
	                            "followRedirects", redirect);
	json_t *args = json_pack("[O]", request);
	const portico_workflow_activity_options options = {.start_to_close_ms = DEFAULT_TIMEOUT,
	                                                   .retry_policy = &one_attempt,
	                                                   .cancellation = cancellation_of(t),
	                                                   .scope = flow_ctx_scope(ctx)};
	json_t *result = NULL;
	portico_workflow_failure *failure = NULL;
	ctx->run->calls++;
	int workflow_before = portico_workflow_cancel_requested(ctx->run->wf);
	int scope_before = flow_scope_cancelled(ctx->scope);
	int r = portico_workflow_activity(ctx->run->wf, HTTP_ACTIVITY, args, &options, &result, &failure);
	json_decref(args);
	int rc = FLOW_OK;
	if (r == PORTICO_WAIT_FAILED)
		rc = call_failed(ctx, t, failure, 1);
	else if (r != PORTICO_WAIT_DONE)
		rc = flow_wait_status(r);
	else
		rc = flow_check_depth(ctx, t->path, json_object_get(result, "body"), "the response's body");
	if (rc == FLOW_OK) {
		/* http.request fails 4xx and 5xx itself; what else it answers is checked here */
		json_int_t status = json_integer_value(json_object_get(result, "status"));
		json_int_t top = redirect ? 399 : 299;
		json_t *body = json_object_get(result, "body");
		if (status < 200 || status > top) {
			rc = flow_raise(ctx, "communication", (int)status, t->path, "HTTP Error", "%s %s answered %d",
			                upper, url, (int)status);
		} else if (!form || !strcmp(form, "content")) {
			*output = json_incref(body ? body : json_null());
		} else if (!strcmp(form, "raw")) {
			*output = raw_body(body);
		} else {
			/* the spec's HTTP response: headers are objects, empty when there are none */
			const json_t *sent = json_object_get(with, "headers");
			const json_t *received = json_object_get(result, "headers");
			*output = json_pack(
			        "{s:{s:s,s:s,s:o},s:I,s:o,s:O*}", "request", "method", upper, "uri", url, "headers",
			        sent ? json_incref((json_t *)sent) : json_object(), "statusCode", status, "headers",
			        received ? json_incref((json_t *)received) : json_object(), "content", body);
		}
	}
	if (rc == FLOW_OK && cancelled_since(ctx, workflow_before, scope_before))
		rc = FLOW_CANCEL; /* *output stays: the compensation is pushed */
	json_decref(request);
	json_decref(result);
	free(url);
	return rc;
}

/* ---- activity ---------------------------------------------------------------------------------------- */

/* A timeout field of with: -1 with the ctx's problem, else 0 with *ms (0 when absent). */
static int timeout_field(flow_ctx *ctx, flow_task *t, const json_t *with, const char *name, int64_t *ms)
{
	const json_t *value = json_object_get(with, name);
	*ms = 0;
	return value ? flow_duration(ctx, t, value, name, ms) : 0;
}

/* An activity's retry, the spec's retry policy (inline or a use.retries name) as Temporal applies
 * it: delay is the initial interval, backoff constant (coefficient 1) or exponential (2),
 * limit.attempt.count retries after the first attempt, limit.duration the schedule-to-close
 * timeout. What Temporal cannot apply (linear backoff, jitter, when, exceptWhen) is refused, not
 * ignored: a try/retry around the call does all of it. FLOW_OK or FLOW_RAISE. */
static int activity_retry(flow_ctx *ctx, flow_task *t, const json_t *retry, portico_retry_policy *policy,
                          portico_workflow_activity_options *options)
{
	if (json_is_string(retry))
		retry = json_object_get(json_object_get(json_object_get(ctx->run->definition, "use"), "retries"),
		                        json_string_value(retry));
	const json_t *backoff = json_object_get(retry, "backoff");
	if (!json_is_object(retry) || json_object_get(retry, "when") || json_object_get(retry, "exceptWhen") ||
	    json_object_get(retry, "jitter") || json_object_get(backoff, "linear"))
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                  "call activity: retry must be a retry policy (or a use.retries name) without when, "
		                  "exceptWhen, jitter or linear backoff, which Temporal's retries cannot apply (a "
		                  "try/retry around the call can)");
	*policy = (portico_retry_policy){.backoff_coefficient = json_object_get(backoff, "exponential") ? 2.0 : 1.0};
	const json_t *delay = json_object_get(retry, "delay");
	if (delay && flow_duration(ctx, t, delay, "retry.delay", &policy->initial_interval_ms))
		return FLOW_RAISE;
	if (policy->initial_interval_ms <= 0)
		policy->initial_interval_ms = 1; /* 0 would be the server's default of a second */
	const json_t *limit = json_object_get(retry, "limit");
	const json_t *count = json_object_get(json_object_get(limit, "attempt"), "count");
	if (json_is_integer(count))
		policy->maximum_attempts =
		        json_integer_value(count) >= INT32_MAX ? 0 : (int32_t)json_integer_value(count) + 1;
	const json_t *duration = json_object_get(limit, "duration");
	if (duration && !options->schedule_to_close_ms &&
	    flow_duration(ctx, t, duration, "retry.limit.duration", &options->schedule_to_close_ms))
		return FLOW_RAISE;
	const json_t *per_attempt = json_object_get(json_object_get(limit, "attempt"), "duration");
	if (per_attempt && !options->start_to_close_ms &&
	    flow_duration(ctx, t, per_attempt, "retry.limit.attempt.duration", &options->start_to_close_ms))
		return FLOW_RAISE;
	options->retry_policy = policy;
	return FLOW_OK;
}

/* with: {type, arguments?, taskQueue?, startToCloseTimeout?, scheduleToCloseTimeout?,
 * heartbeatTimeout?, retry?}. Without arguments, the task's input is the one argument. */
static int call_activity(flow_ctx *ctx, flow_task *t, const json_t *with, json_t **output)
{
	const char *type = json_string_value(json_object_get(with, "type"));
	const json_t *arguments = json_object_get(with, "arguments");
	const json_t *queue = json_object_get(with, "taskQueue");
	const json_t *retry = json_object_get(with, "retry");
	if (!type || !*type || (arguments && !json_is_array(arguments)) || (queue && !json_is_string(queue)))
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                  "call activity: needs with.type (the activity type); arguments an array, taskQueue a "
		                  "string");
	portico_workflow_activity_options options = {.task_queue = json_string_value(queue),
	                                             .scope = flow_ctx_scope(ctx),
	                                             .retry_policy = &one_attempt,
	                                             .cancellation = cancellation_of(t)};
	if (timeout_field(ctx, t, with, "startToCloseTimeout", &options.start_to_close_ms) ||
	    timeout_field(ctx, t, with, "scheduleToCloseTimeout", &options.schedule_to_close_ms) ||
	    timeout_field(ctx, t, with, "heartbeatTimeout", &options.heartbeat_ms))
		return FLOW_RAISE;
	portico_retry_policy policy;
	if (retry && activity_retry(ctx, t, retry, &policy, &options))
		return FLOW_RAISE;
	if (!options.start_to_close_ms && !options.schedule_to_close_ms)
		options.start_to_close_ms = DEFAULT_TIMEOUT;
	json_t *args = arguments ? json_incref((json_t *)arguments) : json_pack("[O]", t->input);
	json_t *result = NULL;
	portico_workflow_failure *failure = NULL;
	ctx->run->calls++;
	int workflow_before = portico_workflow_cancel_requested(ctx->run->wf);
	int scope_before = flow_scope_cancelled(ctx->scope);
	int r = portico_workflow_activity(ctx->run->wf, type, args, &options, &result, &failure);
	json_decref(args);
	if (r == PORTICO_WAIT_FAILED)
		return call_failed(ctx, t, failure, 0);
	if (r != PORTICO_WAIT_DONE)
		return flow_wait_status(r);
	if (flow_check_depth(ctx, t->path, result, "the activity's result")) {
		json_decref(result);
		return FLOW_RAISE;
	}
	*output = result;
	return cancelled_since(ctx, workflow_before, scope_before) ? FLOW_CANCEL : FLOW_OK;
}

/* ---- the call task --------------------------------------------------------------------------------------- */

int flow_task_call(flow_ctx *ctx, flow_task *t, json_t **output, const char **then)
{
	const char *function = json_string_value(json_object_get(t->def, "call"));
	if (!function)
		return flow_raise(ctx, "configuration", 400, t->path, "Configuration Error", "call: expected a name");
	const json_t *with = json_object_get(t->def, "with");
	const json_t *defined =
	        json_object_get(json_object_get(json_object_get(ctx->run->definition, "use"), "functions"), function);
	json_t *args = with ? flow_eval_tree(ctx, t, with, t->input) : json_object();
	if (!args)
		return FLOW_RAISE;
	int rc;
	if (defined) {
		/* a function is a task run on the call's arguments; nesting is bounded like tasks' */
		if (!json_is_object(defined) || ctx->depth >= FLOW_RUN_MAX_DEPTH) {
			rc = flow_raise(
			        ctx, "configuration", 400, t->path, "Configuration Error",
			        "call %s: use.functions.%s is not a task, or functions call each other too deep",
			        function, function);
		} else {
			json_t *input = t->input;
			t->input = with ? args : input;
			ctx->depth++;
			rc = flow_run_kind(ctx, t, defined, output, then);
			ctx->depth--;
			t->input = input;
		}
	} else if (!strcmp(function, "http")) {
		rc = call_http(ctx, t, args, output);
	} else if (!strcmp(function, "activity")) {
		rc = call_activity(ctx, t, args, output);
	} else {
		rc = flow_raise(ctx, "configuration", 400, t->path, "Configuration Error",
		                "call %s: Portico calls http, activity and use.functions names (not asyncapi, grpc, "
		                "openapi or a2a)",
		                function);
	}
	json_decref(args);
	return rc;
}
