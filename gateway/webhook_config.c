#define _GNU_SOURCE /* strcasestr */
/* Loading PORTICO_WEBHOOKS_FILE: every field is checked, unknown fields included, so that a typo
 * stops start-up with a message naming the route and the field rather than surfacing as a
 * webhook that silently does the wrong thing. */
#include "webhook_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "base64.h"
#include "flow_request.h"
#include "json_config.h"

#define DEFAULT_TOLERANCE_S 300
#define MAX_TOLERANCE_S     86400
#define MAX_SECRET_BYTES    4096

/* Messages name the route and the field ("webhook \"name\": verify.secrets[0]"): each loader
 * below takes the node of the route (or of the top level), and names fields relative to it. */
typedef json_config_node loader;

/* A string member copied into *out (NULL when absent); required ones must be there, and none may
 * be empty. */
static int string_field(const loader *l, const char *key, int required, char **out)
{
	json_config_node node = json_config_member(l, key);
	const char *value;
	*out = NULL;
	if (json_config_string(&node, JSON_CONFIG_NON_EMPTY | (required ? JSON_CONFIG_REQUIRED : 0), &value))
		return -1;
	*out = value ? portico_strdup(value) : NULL;
	return 0;
}

#define PROTOBUF_DURATION_MAX_SECONDS 315576000000LL

static int seconds_field(const loader *l, const char *key, int64_t *out)
{
	json_config_node node = json_config_member(l, key);
	return json_config_integer(&node, 1, INT64_MAX, "a positive number of seconds", out);
}

/* A workflow timeout: a protobuf Duration holds at most 10,000 years (in milliseconds, far
 * within int64). */
static int timeout_field(const loader *l, const char *key, int64_t *out)
{
	json_config_node node = json_config_member(l, key);
	return json_config_integer(&node, 1, PROTOBUF_DURATION_MAX_SECONDS,
	                           "a positive number of seconds, at most 315576000000 (10,000 years)", out);
}

static int template_field(const loader *l, const char *key, int required, char **out)
{
	if (string_field(l, key, required, out))
		return -1;
	portico_error template_err = PORTICO_ERROR_INIT;
	if (*out && webhook_template_check(*out, &template_err)) {
		json_config_fail_at(l, key, "%s", template_err.message);
		portico_error_clear(&template_err);
		return -1;
	}
	return 0;
}

/* ---- Secrets: "env:NAME" or "file:/path", never literal, never logged ------------------------ */

/* The secret in the file, without trailing white space; NULL when unreadable or too long. */
static char *read_secret_file(const char *path)
{
	FILE *file = fopen(path, "rb");
	if (!file)
		return NULL;
	char *text = portico_malloc(MAX_SECRET_BYTES + 2);
	size_t length = fread(text, 1, MAX_SECRET_BYTES + 1, file);
	fclose(file);
	if (length > MAX_SECRET_BYTES) {
		memset(text, 0, length);
		free(text);
		return NULL;
	}
	text[length] = '\0';
	while (length && isspace((unsigned char)text[length - 1]))
		text[--length] = '\0';
	return text;
}

static int load_secret(const json_config_node *node, const char *source, webhook_scheme scheme, webhook_secret *secret)
{
	char *text = NULL;
	if (!strncmp(source, "env:", 4)) {
		const char *value = getenv(source + 4);
		if (!value || !*value)
			return json_config_fail(node, "environment variable %s is not set", source + 4);
		text = portico_strdup(value);
	} else if (!strncmp(source, "file:", 5)) {
		if (!(text = read_secret_file(source + 5)))
			return json_config_fail(node, "cannot read %s (or it is over %d bytes)", source + 5,
			                        MAX_SECRET_BYTES);
	} else {
		return json_config_fail(node,
		                        "expected \"env:NAME\" or \"file:/path\" (secrets never sit in this file)");
	}
	if (!*text) {
		free(text);
		return json_config_fail(node, "the secret from %s is empty", source);
	}
	if (scheme == WEBHOOK_STANDARD) {
		/* Standard Webhooks secrets are "whsec_" + base64 of the key bytes. */
		const char *encoded = strncmp(text, "whsec_", 6) ? NULL : text + 6;
		int bad = !encoded || !*encoded ||
		          portico_base64_decode(encoded, strlen(encoded), &secret->bytes, &secret->length) ||
		          !secret->length;
		memset(text, 0, strlen(text));
		free(text);
		if (bad) {
			free(secret->bytes);
			secret->bytes = NULL;
			return json_config_fail(node, "the secret from %s is not \"whsec_\" + base64", source);
		}
		return 0;
	}
	secret->bytes = (uint8_t *)text;
	secret->length = strlen(text);
	return 0;
}

/* ---- Routes ----------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	webhook_scheme scheme;
} schemes[] = {{"github", WEBHOOK_GITHUB},     {"stripe", WEBHOOK_STRIPE}, {"slack", WEBHOOK_SLACK},
               {"standard", WEBHOOK_STANDARD}, {"hmac", WEBHOOK_HMAC},     {"bearer", WEBHOOK_BEARER}};

const char *webhook_scheme_name(webhook_scheme scheme)
{
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
		if (schemes[i].scheme == scheme)
			return schemes[i].name;
	return "unknown";
}

/* Where each scheme's senders put the delivery id, when the route does not say. */
static const char *default_delivery_id(webhook_scheme scheme)
{
	switch (scheme) {
	case WEBHOOK_GITHUB:
		return "{header.X-GitHub-Delivery}";
	case WEBHOOK_STRIPE:
		return "{body./id}";
	case WEBHOOK_SLACK:
		return "{body./event_id}";
	case WEBHOOK_STANDARD:
		return "{header.webhook-id}";
	default:
		return NULL;
	}
}

static int load_verifier(const loader *l, webhook_verifier *v)
{
	static const char *const fields[] = {"scheme", "secrets",   "toleranceSeconds", "header",
	                                     "prefix", "algorithm", "encoding",         NULL};
	json_config_node verify = json_config_member(l, "verify");
	if (!verify.value)
		return json_config_fail(&verify, "is required: {\"scheme\": …, \"secrets\": [\"env:NAME\"]}");
	if (json_config_object(&verify, fields, "{\"scheme\": …, \"secrets\": [\"env:NAME\"]}"))
		return -1;
	const char *scheme = json_string_value(json_object_get(verify.value, "scheme"));
	size_t i = 0;
	while (i < sizeof schemes / sizeof schemes[0] && (!scheme || strcmp(scheme, schemes[i].name)))
		i++;
	if (i == sizeof schemes / sizeof schemes[0])
		return json_config_fail_at(&verify, "scheme",
		                           "expected one of github, stripe, slack, standard, hmac, bearer");
	v->scheme = schemes[i].scheme;
	v->tolerance_s = DEFAULT_TOLERANCE_S;
	if (seconds_field(&verify, "toleranceSeconds", &v->tolerance_s))
		return -1;
	int timestamped = v->scheme == WEBHOOK_STRIPE || v->scheme == WEBHOOK_SLACK || v->scheme == WEBHOOK_STANDARD;
	if (json_object_get(verify.value, "toleranceSeconds") && !timestamped)
		return json_config_fail_at(&verify, "toleranceSeconds",
		                           "only stripe, slack and standard signatures carry a timestamp");
	if (v->tolerance_s > MAX_TOLERANCE_S)
		return json_config_fail_at(&verify, "toleranceSeconds", "at most %d (a day)", MAX_TOLERANCE_S);

	json_config_node secrets = json_config_member(&verify, "secrets");
	if (!json_is_array(secrets.value) || !json_array_size(secrets.value))
		return json_config_fail(&secrets, "expected a non-empty array of \"env:NAME\" or \"file:/path\"");
	v->secrets = portico_calloc(json_array_size(secrets.value), sizeof *v->secrets);
	for (size_t index = 0; index < json_array_size(secrets.value); index++) {
		json_config_node source = json_config_element(&secrets, index);
		const char *text;
		if (json_config_string(&source, 0, &text) ||
		    load_secret(&source, text, v->scheme, &v->secrets[v->secret_count]))
			return -1;
		v->secret_count++;
	}

	if (v->scheme != WEBHOOK_HMAC) {
		if (json_object_get(verify.value, "header") || json_object_get(verify.value, "prefix") ||
		    json_object_get(verify.value, "algorithm") || json_object_get(verify.value, "encoding"))
			return json_config_fail(&verify,
			                        "header, prefix, algorithm and encoding are for the hmac scheme");
		return 0;
	}
	if (string_field(&verify, "header", 1, &v->header))
		return -1;
	json_config_node prefix_node = json_config_member(&verify, "prefix");
	const char *prefix;
	if (json_config_string(&prefix_node, 0, &prefix))
		return -1;
	v->prefix = portico_strdup(prefix ? prefix : "");
	const char *algorithm = json_string_value(json_object_get(verify.value, "algorithm"));
	if (json_object_get(verify.value, "algorithm") &&
	    (!algorithm || (strcmp(algorithm, "sha256") && strcmp(algorithm, "sha1"))))
		return json_config_fail_at(&verify, "algorithm", "expected \"sha256\" or \"sha1\"");
	v->algorithm = algorithm && !strcmp(algorithm, "sha1") ? PORTICO_HMAC_SHA1 : PORTICO_HMAC_SHA256;
	const char *encoding = json_string_value(json_object_get(verify.value, "encoding"));
	if (json_object_get(verify.value, "encoding") &&
	    (!encoding || (strcmp(encoding, "hex") && strcmp(encoding, "base64"))))
		return json_config_fail_at(&verify, "encoding", "expected \"hex\" or \"base64\"");
	v->base64 = encoding && !strcmp(encoding, "base64");
	return 0;
}

/* The strings of array into *out (NULL-terminated) and *count; refusals name owner, the node
 * the array belongs to. */
static int load_strings(const json_config_node *owner, const json_t *array, char ***out, size_t *count)
{
	if (!json_is_array(array))
		return json_config_fail(owner, "expected an array of strings");
	*out = portico_calloc(json_array_size(array) + 1, sizeof **out);
	size_t index;
	json_t *value;
	json_array_foreach(array, index, value)
	{
		if (!json_is_string(value))
			return json_config_fail(owner, "expected an array of strings");
		(*out)[(*count)++] = portico_strdup(json_string_value(value));
	}
	return 0;
}

static int load_filters(const loader *l, webhook_route *route)
{
	json_config_node filters = json_config_member(l, "filters");
	if (!filters.value)
		return 0;
	if (!json_is_array(filters.value))
		return json_config_fail(&filters, "expected an array of {\"value\": template, \"in\": [strings]}");
	route->filters = portico_calloc(json_array_size(filters.value), sizeof *route->filters);
	for (size_t index = 0; index < json_array_size(filters.value); index++) {
		static const char *const fields[] = {"value", "in", NULL};
		json_config_node filter = json_config_element(&filters, index);
		webhook_filter *f = &route->filters[route->filter_count++];
		if (json_config_object(&filter, fields, "{\"value\": template, \"in\": [strings]}") ||
		    template_field(&filter, "value", 1, &f->value) ||
		    load_strings(&filter, json_object_get(filter.value, "in"), &f->allowed, &f->allowed_count))
			return -1;
	}
	return 0;
}

static int load_input(const loader *l, webhook_route *route)
{
	static const char *const fields[] = {"pointer", "headers", NULL};
	json_config_node input = json_config_member(l, "input");
	if (!input.value)
		return 0;
	if (json_config_object(&input, fields, "{\"pointer\": …, \"headers\": […]}"))
		return -1;
	json_t *pointer = json_object_get(input.value, "pointer");
	if (pointer &&
	    (!json_is_string(pointer) || (json_string_length(pointer) && json_string_value(pointer)[0] != '/')))
		return json_config_fail_at(
		        &input, "pointer",
		        "expected a JSON pointer such as \"/data/object\" (\"\" for the whole body)");
	route->input_pointer =
	        pointer && json_string_length(pointer) ? portico_strdup(json_string_value(pointer)) : NULL;
	json_config_node headers = json_config_member(&input, "headers");
	return headers.value ? load_strings(&headers, headers.value, &route->input_headers, &route->input_header_count)
	                     : 0;
}

static int uses(const char *template_text, const char *placeholder)
{
	return template_text && strcasestr(template_text, placeholder);
}

/* What would load and then fail every delivery, or leak a secret into histories and logs. */
static int check_placeholders(const loader *l, const webhook_route *route)
{
	if (uses(route->delivery_id, "{delivery}"))
		return json_config_fail_at(l, "deliveryId", "cannot use {delivery}, which it defines");
	const char *needs_delivery = uses(route->workflow_id, "{delivery}") ? "workflowId" : NULL;
	for (size_t i = 0; i < route->filter_count && !needs_delivery; i++)
		if (uses(route->filters[i].value, "{delivery}"))
			needs_delivery = "filters";
	if (needs_delivery && !route->delivery_id)
		return json_config_fail_at(l, needs_delivery,
		                           "uses {delivery}, but this scheme has no delivery id: set deliveryId");
	int leaks = uses(route->workflow_id, "{header.authorization}") ||
	            uses(route->delivery_id, "{header.authorization}");
	for (size_t i = 0; i < route->input_header_count; i++)
		leaks |= !strcasecmp(route->input_headers[i], "Authorization");
	for (size_t i = 0; i < route->filter_count; i++)
		leaks |= uses(route->filters[i].value, "{header.authorization}");
	if (leaks)
		return json_config_fail_at(l, "route",
		                           "the Authorization header carries a secret: it cannot go into ids or input");
	return 0;
}

static int valid_name(const char *name)
{
	if (!*name)
		return 0;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
			return 0;
	return 1;
}

/* A start route's "completionWebhook": where each started workflow's outcome goes. */
static int load_completion_webhook(const loader *l, const completion_config *completion, webhook_route *route)
{
	json_config_node member = json_config_member(l, "completionWebhook");
	if (!member.value)
		return 0;
	if (route->action != WEBHOOK_START && route->action != WEBHOOK_START_FLOW)
		return json_config_fail(&member, "only a start route can have one (Temporal's signal-with-start has no "
		                                 "completion callbacks)");
	portico_error err = PORTICO_ERROR_INIT;
	int failed = completion_target_parse(completion, member.value, &route->completion_webhook, &err);
	if (failed)
		json_config_fail(&member, "%s", err.message);
	portico_error_clear(&err);
	return failed;
}

/* A start-flow route's flow, found in flows now: a route naming a flow that is not loaded would
 * only fail its deliveries. Its workflow type is the flow's name. */
static int load_flow(const loader *l, const flow_catalog *flows, webhook_route *route)
{
	if (route->action != WEBHOOK_START_FLOW) {
		if (route->flow_name || route->flow_version)
			return json_config_fail_at(l, route->flow_name ? "flow" : "version",
			                           "only a start-flow route names a flow");
		return 0;
	}
	if (route->workflow_type || route->task_queue)
		return json_config_fail_at(l, route->workflow_type ? "workflowType" : "taskQueue",
		                           "a start-flow route runs its flow (workflow type: the flow's name) on "
		                           "PORTICO_FLOWS_TASK_QUEUE");
	route->flow = flows ? flow_catalog_find(flows, NULL, route->flow_name, route->flow_version) : NULL;
	if (!route->flow) {
		char *message = flows ? flow_request_not_found(flows, route->flow_name, route->flow_version)
		                      : portico_strdup("no flows are loaded (PORTICO_FLOWS_DIR names their folder)");
		json_config_fail_at(l, "flow", "%s", message);
		free(message);
		return -1;
	}
	route->workflow_type = portico_strdup(route->flow_name);
	return 0;
}

static int load_route(const json_config_node *routes, const char *name, webhook_route *route,
                      const completion_config *completion, const flow_catalog *flows)
{
	static const char *const fields[] = {"action",  "namespace", "workflowType", "taskQueue",         "flow",
	                                     "version", "signal",    "workflowId",   "deliveryId",        "input",
	                                     "filters", "timeouts",  "verify",       "completionWebhook", NULL};
	json_config_node member = json_config_member(routes, name);
	loader l = json_config_labelled(&member, "route", "webhook \"%s\"", name);
	route->name = portico_strdup(name);
	if (!valid_name(name))
		return json_config_fail_at(&l, "name",
		                           "use letters, digits, '-', '_' and '.' (it becomes /webhooks/%s)", name);
	if (json_config_object(&l, fields, "an object"))
		return -1;
	const char *action = json_string_value(json_object_get(l.value, "action"));
	if (!action || (strcmp(action, "start") && strcmp(action, "start-flow") && strcmp(action, "signal") &&
	                strcmp(action, "signal-with-start")))
		return json_config_fail_at(&l, "action",
		                           "expected \"start\", \"start-flow\", \"signal\" or \"signal-with-start\"");
	route->action = !strcmp(action, "start")        ? WEBHOOK_START
	                : !strcmp(action, "start-flow") ? WEBHOOK_START_FLOW
	                : !strcmp(action, "signal")     ? WEBHOOK_SIGNAL
	                                                : WEBHOOK_SIGNAL_WITH_START;
	int starts = route->action != WEBHOOK_SIGNAL, flow = route->action == WEBHOOK_START_FLOW;
	int signals = route->action == WEBHOOK_SIGNAL || route->action == WEBHOOK_SIGNAL_WITH_START;
	if (string_field(&l, "namespace", 0, &route->namespace_name) ||
	    string_field(&l, "workflowType", starts && !flow, &route->workflow_type) ||
	    string_field(&l, "taskQueue", starts && !flow, &route->task_queue) ||
	    string_field(&l, "flow", flow, &route->flow_name) || string_field(&l, "version", 0, &route->flow_version) ||
	    load_flow(&l, flows, route) || string_field(&l, "signal", signals, &route->signal_name) ||
	    template_field(&l, "workflowId", 1, &route->workflow_id) || load_verifier(&l, &route->verifier) ||
	    template_field(&l, "deliveryId", 0, &route->delivery_id) || load_input(&l, route) ||
	    load_filters(&l, route) || load_completion_webhook(&l, completion, route))
		return -1;
	if (!starts && (route->workflow_type || route->task_queue))
		return json_config_fail_at(&l, "action", "a signal route names no workflowType or taskQueue");
	if (!signals && route->signal_name)
		return json_config_fail_at(&l, "signal", "only signal and signal-with-start routes send a signal");
	if (!route->namespace_name)
		route->namespace_name = portico_strdup("default");
	if (!route->delivery_id && default_delivery_id(route->verifier.scheme))
		route->delivery_id = portico_strdup(default_delivery_id(route->verifier.scheme));
	if (check_placeholders(&l, route))
		return -1;
	json_config_node timeouts = json_config_member(&l, "timeouts");
	static const char *const timeout_fields[] = {"executionSeconds", "runSeconds", "taskSeconds", NULL};
	if (!timeouts.value)
		return 0;
	if (json_config_object(&timeouts, timeout_fields, "an object"))
		return -1;
	if (!starts)
		return json_config_fail(&timeouts, "a signal route starts nothing");
	if (timeout_field(&timeouts, "executionSeconds", &route->execution_timeout_s) ||
	    timeout_field(&timeouts, "runSeconds", &route->run_timeout_s) ||
	    timeout_field(&timeouts, "taskSeconds", &route->task_timeout_s))
		return -1;
	return 0;
}

webhook_set *webhook_set_load(const char *path, const completion_config *completion, const flow_catalog *flows,
                              portico_error *err)
{
	json_t *root = json_config_load(path, err);
	if (!root)
		return NULL;
	json_config_node top = json_config_top(path, root, err);
	json_config_node routes = json_config_member(&top, "webhooks");
	webhook_set *set = portico_calloc(1, sizeof *set);
	static const char *const fields[] = {"webhooks", NULL};
	static const char *const expected = "{\"webhooks\": {\"name\": {route}, …}}";
	if (json_config_object(&top, fields, expected) ||
	    (!json_is_object(routes.value) && json_config_fail(&top, "expected %s", expected))) {
		json_decref(root);
		webhook_set_free(set);
		return NULL;
	}
	set->routes = portico_calloc(json_object_size(routes.value), sizeof *set->routes);
	const char *name;
	json_t *config;
	json_object_foreach((json_t *)routes.value, name, config)
	{
		if (load_route(&routes, name, &set->routes[set->count++], completion, flows)) {
			json_decref(root);
			webhook_set_free(set);
			return NULL;
		}
	}
	json_decref(root);
	return set;
}

static void free_strings(char **strings, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(strings[i]);
	free(strings);
}

void webhook_set_free(webhook_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->count; i++) {
		webhook_route *r = &set->routes[i];
		free(r->name);
		free(r->namespace_name);
		free(r->workflow_type);
		free(r->task_queue);
		free(r->signal_name);
		free(r->flow_name);
		free(r->flow_version);
		free(r->workflow_id);
		free(r->delivery_id);
		free(r->input_pointer);
		free_strings(r->input_headers, r->input_header_count);
		completion_target_clear(&r->completion_webhook);
		for (size_t f = 0; f < r->filter_count; f++) {
			free(r->filters[f].value);
			free_strings(r->filters[f].allowed, r->filters[f].allowed_count);
		}
		free(r->filters);
		for (size_t s = 0; s < r->verifier.secret_count; s++) {
			/* Secrets leave no copy behind in freed memory. */
			memset(r->verifier.secrets[s].bytes, 0, r->verifier.secrets[s].length);
			free(r->verifier.secrets[s].bytes);
		}
		free(r->verifier.secrets);
		free(r->verifier.header);
		free(r->verifier.prefix);
	}
	free(set->routes);
	free(set);
}

const webhook_route *webhook_set_find(const webhook_set *set, const char *name)
{
	for (size_t i = 0; set && i < set->count; i++)
		if (!strcmp(set->routes[i].name, name))
			return &set->routes[i];
	return NULL;
}

/* ---- Templates and JSON pointers ---------------------------------------------------------------- */

json_t *webhook_json_pointer(const json_t *value, const char *pointer)
{
	const json_t *at = value;
	while (at && *pointer == '/') {
		pointer++;
		size_t length = strcspn(pointer, "/");
		char *token = portico_strndup(pointer, length);
		/* ~1 is '/', ~0 is '~', in that order. */
		char *out = token;
		for (const char *in = token; *in; in++)
			*out++ = in[0] == '~' && in[1] == '1'   ? (in++, '/')
			         : in[0] == '~' && in[1] == '0' ? (in++, '~')
			                                        : *in;
		*out = '\0';
		if (json_is_object(at)) {
			at = json_object_get(at, token);
		} else if (json_is_array(at)) {
			char *end;
			unsigned long index = strtoul(token, &end, 10);
			at = *token && !*end && isdigit((unsigned char)*token) ? json_array_get(at, index) : NULL;
		} else {
			at = NULL;
		}
		free(token);
		pointer += length;
	}
	return *pointer ? NULL : (json_t *)at;
}

/* Calls part(arg, literal, length, NULL) for text and part(arg, NULL, 0, placeholder) for each
 * {placeholder}; returns -1 with err on unbalanced braces. */
static int template_walk(const char *text, portico_error *err,
                         int (*part)(void *arg, const char *literal, size_t length, const char *placeholder), void *arg)
{
	while (*text) {
		const char *open = strchr(text, '{');
		size_t literal = open ? (size_t)(open - text) : strlen(text);
		const char *close_early = memchr(text, '}', literal);
		if (close_early)
			return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "unbalanced '}' in \"%s\"", text);
		if (literal && part(arg, text, literal, NULL))
			return -1;
		if (!open)
			return 0;
		const char *close = strchr(open, '}');
		if (!close)
			return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "unclosed '{' in \"%s\"", open);
		char *placeholder = portico_strndup(open + 1, (size_t)(close - open - 1));
		int failed = part(arg, NULL, 0, placeholder);
		free(placeholder);
		if (failed)
			return -1;
		text = close + 1;
	}
	return 0;
}

static int check_part(void *arg, const char *literal, size_t length, const char *placeholder)
{
	portico_error *err = arg;
	(void)literal;
	(void)length;
	if (!placeholder || !strcmp(placeholder, "delivery"))
		return 0;
	if (!strncmp(placeholder, "header.", 7) && placeholder[7])
		return 0;
	if (!strncmp(placeholder, "body.", 5) && (placeholder[5] == '/' || !placeholder[5]))
		return 0;
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
	                         "unknown placeholder {%s}: use {header.Name}, {body./json/pointer} or {delivery}",
	                         placeholder);
}

int webhook_template_check(const char *template_text, portico_error *err)
{
	return template_walk(template_text, err, check_part, err);
}

typedef struct render {
	request_headers headers;
	const json_t *body;
	const char *delivery;
	char *out;
	size_t length;
	portico_error *err;
} render;

static void append(render *r, const char *text, size_t length)
{
	r->out = portico_realloc(r->out, r->length + length + 1);
	memcpy(r->out + r->length, text, length);
	r->length += length;
	r->out[r->length] = '\0';
}

static int render_part(void *arg, const char *literal, size_t length, const char *placeholder)
{
	render *r = arg;
	if (!placeholder) {
		append(r, literal, length);
		return 0;
	}
	if (!strcmp(placeholder, "delivery")) {
		if (!r->delivery)
			return portico_error_set(r->err, PORTICO_INVALID_ARGUMENT, "this delivery has no id");
		append(r, r->delivery, strlen(r->delivery));
		return 0;
	}
	if (!strncmp(placeholder, "header.", 7)) {
		const char *value = request_headers_get(r->headers, placeholder + 7);
		if (!value || !*value)
			return portico_error_set(r->err, PORTICO_INVALID_ARGUMENT, "header %s is missing",
			                         placeholder + 7);
		json_t *utf8 = json_string(value); /* NULL unless valid UTF-8, which Temporal requires */
		json_decref(utf8);
		if (!utf8)
			return portico_error_set(r->err, PORTICO_INVALID_ARGUMENT, "header %s is not UTF-8",
			                         placeholder + 7);
		append(r, value, strlen(value));
		return 0;
	}
	const char *pointer = placeholder + 5;
	const json_t *value = r->body ? webhook_json_pointer(r->body, pointer) : NULL;
	if (json_is_string(value)) {
		append(r, json_string_value(value), json_string_length(value));
	} else if (json_is_number(value) || json_is_boolean(value)) {
		char *text = json_dumps(value, JSON_ENCODE_ANY);
		append(r, text, strlen(text));
		free(text);
	} else {
		return portico_error_set(r->err, PORTICO_INVALID_ARGUMENT, "the body has no %s at \"%s\"",
		                         value ? "text or number" : "value", pointer);
	}
	return 0;
}

char *webhook_render(const char *template_text, request_headers headers, const json_t *body, const char *delivery,
                     portico_error *err)
{
	render r = {.headers = headers, .body = body, .delivery = delivery, .out = portico_strdup(""), .err = err};
	if (template_walk(template_text, err, render_part, &r)) {
		free(r.out);
		return NULL;
	}
	return r.out;
}
