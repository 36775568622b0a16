/* The replayer: a history's JSON → events (protojson), decoded payloads (codec), one workflow_run
 * fed the whole history in one task. */
#include "replayer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "json_parse.h"
#include "json_text.h"
#include "payload_walk.h"
#include "protojson.h"
#include "temporal/api/history/v1/message.pb-c.h"

/* The namespace a replayed workflow sees in its info: a history does not record it. */
#define REPLAY_NAMESPACE "default"
/* Read a file in pieces of this much, so that a file that grows while read is bounded too. */
#define READ_CHUNK_BYTES (64 * 1024)
#define CODEC_ERROR_KEY  "portico-codec-error"

typedef struct registered_workflow {
	char *type;
	workflow_definition definition;
	struct registered_workflow *next;
} registered_workflow;

struct portico_replayer {
	workflow_lookup_fn lookup;
	void *lookup_arg;
	registered_workflow *workflows; /* owned; only when lookup is the replayer's own */
};

static const workflow_definition *lookup_registered(void *arg, const char *workflow_type)
{
	portico_replayer *replayer = arg;
	for (registered_workflow *w = replayer->workflows; w; w = w->next)
		if (!strcmp(w->type, workflow_type))
			return &w->definition;
	return NULL;
}

portico_replayer *portico_replayer_new(void)
{
	portico_replayer *replayer = portico_calloc(1, sizeof *replayer);
	replayer->lookup = lookup_registered;
	replayer->lookup_arg = replayer;
	return replayer;
}

portico_replayer *portico_replayer_new_with_lookup(workflow_lookup_fn lookup, void *arg)
{
	portico_replayer *replayer = portico_calloc(1, sizeof *replayer);
	replayer->lookup = lookup;
	replayer->lookup_arg = arg;
	return replayer;
}

void portico_replayer_register(portico_replayer *replayer, const char *workflow_type, portico_workflow_fn fn,
                               void *user_data)
{
	workflow_definition *found = (workflow_definition *)lookup_registered(replayer, workflow_type);
	if (found) {
		*found = (workflow_definition){fn, user_data};
		return;
	}
	registered_workflow *w = portico_calloc(1, sizeof *w);
	w->type = portico_strdup(workflow_type);
	w->definition = (workflow_definition){fn, user_data};
	w->next = replayer->workflows;
	replayer->workflows = w;
}

void portico_replayer_free(portico_replayer *replayer)
{
	if (!replayer)
		return;
	for (registered_workflow *w = replayer->workflows, *next; w; w = next) {
		next = w->next;
		free(w->type);
		free(w);
	}
	free(replayer);
}

/* Marks result as a history that cannot be replayed; returns status. */
static int bad_history(portico_replay_result *result, int status)
{
	result->problem = PORTICO_REPLAY_BAD_HISTORY;
	return status;
}

/* The events array of any accepted form, or NULL. */
static const json_t *events_of(const json_t *history)
{
	if (json_is_array(history))
		return history;
	const json_t *inner = json_object_get(history, "history");
	if (json_is_object(inner))
		history = inner;
	const json_t *events = json_object_get(history, "events");
	return json_is_array(events) ? events : NULL;
}

static int same_text(const ProtobufCBinaryData *value, const char *text)
{
	return value && value->len == strlen(text) && !memcmp(value->data, text, value->len);
}

/* A payload the codec left encoded (no keys, an unknown key, tampered or over the budget): the
 * workflow would read nothing where the recorded run read a value, so the replay would prove
 * nothing. */
static int check_decoded(void *arg, portico_payload **slot, const char *path, portico_error *err)
{
	(void)arg;
	const portico_payload *payload = *slot;
	const ProtobufCBinaryData *encoding = portico_payload_metadata(payload, "encoding");
	if (!same_text(encoding, PORTICO_ENCODING_ENCRYPTED) && !same_text(encoding, PORTICO_ENCODING_ZLIB))
		return 0;
	const ProtobufCBinaryData *reason = portico_payload_metadata(payload, CODEC_ERROR_KEY);
	if (reason)
		return portico_error_set(err, PORTICO_FAILED_PRECONDITION, "%s: the payload cannot be decoded: %.*s",
		                         path, (int)reason->len, (const char *)reason->data);
	return portico_error_set(err, PORTICO_FAILED_PRECONDITION,
	                         "%s: the payload is encoded (%.*s) and no codec keys were given "
	                         "(PORTICO_CODEC_KEYS or PORTICO_CODEC_KEYS_FILE)",
	                         path, (int)encoding->len, (const char *)encoding->data);
}

static portico_replay_problem problem_of(workflow_run_problem problem)
{
	switch (problem) {
	case WORKFLOW_RUN_NONDETERMINISM:
		return PORTICO_REPLAY_NONDETERMINISM;
	case WORKFLOW_RUN_UNREGISTERED:
		return PORTICO_REPLAY_UNREGISTERED;
	default:
		return PORTICO_REPLAY_BAD_HISTORY;
	}
}

/* Replays history's events on a new run; err as workflow_run_apply sets it. */
static int replay_events(portico_replayer *replayer, Temporal__Api__History__V1__History *history,
                         portico_replay_result *result, portico_error *err)
{
	workflow_run_options options = {
	        .namespace_name = REPLAY_NAMESPACE,
	        .lookup = replayer->lookup,
	        .lookup_arg = replayer->lookup_arg,
	};
	workflow_run *run = workflow_run_new(&options);
	workflow_run_problem problem = WORKFLOW_RUN_OK;
	int status = workflow_run_apply(run, history->events, history->n_events, NULL, 0, &problem, err);
	workflow_run_free(run);
	if (status) {
		result->problem = problem_of(problem);
		if (!err->message)
			portico_error_set(err, PORTICO_INTERNAL, "the replay failed without saying why");
	}
	return status;
}

int portico_replayer_replay_json(portico_replayer *replayer, const json_t *history_json, const portico_codec *codec,
                                 portico_replay_result *result, portico_error *err)
{
	*result = (portico_replay_result){PORTICO_REPLAY_OK, 0};
	const json_t *events = events_of(history_json);
	if (!events)
		return bad_history(result,
		                   portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                                     "not a workflow history: expected {\"events\": [...]} (temporal "
		                                     "workflow show --output json) or an array of events"));
	if (!json_array_size(events))
		return bad_history(result,
		                   portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the history has no events"));
	result->event_count = json_array_size(events);

	/* Decoded as one History so that an error's path reads "events[3].…" as in the file. */
	json_t *wrapped = json_pack("{s:O}", "events", events);
	portico_protojson_decode_options lenient = {.ignore_unknown = 1};
	Temporal__Api__History__V1__History *history =
	        (Temporal__Api__History__V1__History *)portico_protojson_decode_with(
	                &temporal__api__history__v1__history__descriptor, wrapped, &lenient, err);
	json_decref(wrapped);
	if (!history) {
		portico_error_prefix(err, "not a workflow history");
		return bad_history(result, -1);
	}

	portico_decode_budget budget;
	portico_decode_budget_init(&budget, 0);
	budget.total_bytes = budget.remaining_bytes = PORTICO_REPLAYER_MAX_DECODED_BYTES;
	portico_codec_decode_message_within(codec, &history->base, &budget);
	portico_payload_visitor visitor = {.payload = check_decoded};
	int status = portico_payload_walk(&history->base, &visitor, err)
	                     ? bad_history(result, -1)
	                     : replay_events(replayer, history, result, err);
	protobuf_c_message_free_unpacked(&history->base, NULL);
	return status;
}

/* Reads at most max bytes of path into a new NUL-terminated buffer (the caller frees). */
static char *read_file(const char *path, size_t max, size_t *length, portico_error *err)
{
	FILE *file = fopen(path, "rb");
	if (!file) {
		portico_error_set(err, PORTICO_NOT_FOUND, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat status;
	if (!fstat(fileno(file), &status) && S_ISREG(status.st_mode) && (uint64_t)status.st_size > max) {
		fclose(file);
		portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED, "%s: larger than the %zu MiB a history file may be",
		                  path, max / (1024 * 1024));
		return NULL;
	}
	size_t size = 0, capacity = READ_CHUNK_BYTES;
	char *text = portico_malloc(capacity + 1);
	size_t got;
	while ((got = fread(text + size, 1, capacity - size, file)) > 0) {
		size += got;
		if (size > max)
			break;
		if (size == capacity) {
			capacity = capacity * 2 > max + 1 ? max + 1 : capacity * 2;
			text = portico_realloc(text, capacity + 1);
		}
	}
	int failed = ferror(file) ? errno : 0;
	fclose(file);
	if (failed || size > max) {
		free(text);
		if (failed)
			portico_error_set(err, PORTICO_DATA_LOSS, "%s: cannot read: %s", path, strerror(failed));
		else
			portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
			                  "%s: larger than the %zu MiB a history file may be", path,
			                  max / (1024 * 1024));
		return NULL;
	}
	text[size] = '\0';
	*length = size;
	return text;
}

int portico_replayer_replay_file(portico_replayer *replayer, const char *path, const portico_codec *codec,
                                 portico_replay_result *result, portico_error *err)
{
	*result = (portico_replay_result){PORTICO_REPLAY_OK, 0};
	size_t length;
	char *text = read_file(path, PORTICO_REPLAYER_MAX_FILE_BYTES, &length, err);
	if (!text)
		return bad_history(result, -1);
	json_error_t error;
	json_t *history = portico_json_parse(text, length, JSON_DECODE_ANY, &error);
	free(text);
	if (!history)
		return bad_history(result, portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s:%d:%d: not JSON: %s",
		                                             path, error.line, error.column, error.text));
	int status = portico_replayer_replay_json(replayer, history, codec, result, err);
	json_decref(history);
	return status;
}
