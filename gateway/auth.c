/* API keys and token buckets. Keys are few (tens): each request hashes the presented key once
 * and compares it with every configured hash, so timing says nothing about which matched. */
#include "auth.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "alloc.h"
#include "backoff.h"
#include "codec.h"

#define DIGEST_BYTES 32

typedef struct bucket {
	double per_second, burst; /* 0 per second: no limit */
	double tokens;
	int64_t refilled_ms;
	pthread_mutex_t lock;
} bucket;

typedef struct api_key {
	char *name;
	uint8_t digest[DIGEST_BYTES];
	char **namespaces; /* NULL-terminated; "*" for all */
	unsigned permissions;
	bucket limit;
} api_key;

struct auth_config {
	auth_mode mode;
	api_key *keys;
	size_t key_count;
	bucket global;
};

static const struct {
	const char *name;
	auth_permission permission;
} permission_names[] = {
        {"read", PERMISSION_READ},     {"start", PERMISSION_START},           {"signal", PERMISSION_SIGNAL},
        {"cancel", PERMISSION_CANCEL}, {"activities", PERMISSION_ACTIVITIES}, {"codec", PERMISSION_CODEC},
        {"admin", PERMISSION_ADMIN}};

/* ---- Token buckets --------------------------------------------------------------------------- */

static void bucket_init(bucket *b, double per_second, double burst)
{
	b->per_second = per_second;
	b->burst = burst > 0 ? burst : per_second;
	b->tokens = b->burst;
	b->refilled_ms = portico_monotonic_ms();
	pthread_mutex_init(&b->lock, NULL);
}

/* Takes a token; returns 0, or the seconds until one is there. */
static int64_t bucket_take(bucket *b)
{
	if (b->per_second <= 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	int64_t now = portico_monotonic_ms();
	b->tokens += (double)(now - b->refilled_ms) / 1000 * b->per_second;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->refilled_ms = now;
	int64_t wait_s = 0;
	if (b->tokens >= 1)
		b->tokens -= 1;
	else
		wait_s = (int64_t)ceil((1 - b->tokens) / b->per_second);
	pthread_mutex_unlock(&b->lock);
	return wait_s;
}

/* ---- Loading ----------------------------------------------------------------------------------- */

static int fail(portico_error *err, const char *path, const char *where, const char *what)
{
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: %s: %s", path, where, what);
}

static int load_limit(const json_t *limit, bucket *b, const char *path, const char *where, portico_error *err)
{
	if (!limit) {
		bucket_init(b, 0, 0);
		return 0;
	}
	json_t *rate = json_object_get(limit, "perSecond"), *burst = json_object_get(limit, "burst");
	if (!json_is_object(limit) || !json_is_number(rate) || json_number_value(rate) <= 0 ||
	    (burst && (!json_is_number(burst) || json_number_value(burst) < 1)))
		return fail(err, path, where, "expected {\"perSecond\": > 0, \"burst\": >= 1}");
	bucket_init(b, json_number_value(rate), burst ? json_number_value(burst) : 0);
	return 0;
}

static int parse_digest(const char *hex, uint8_t digest[DIGEST_BYTES])
{
	if (!hex || strlen(hex) != 2 * DIGEST_BYTES)
		return -1;
	for (size_t i = 0; i < DIGEST_BYTES; i++) {
		unsigned value;
		if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &value) != 1)
			return -1;
		digest[i] = (uint8_t)value;
	}
	return 0;
}

static int load_key(const json_t *entry, size_t index, api_key *key, const char *path, portico_error *err)
{
	char where[96];
	snprintf(where, sizeof where, "apiKeys[%zu]", index);
	const char *name = json_string_value(json_object_get(entry, "name"));
	if (!json_is_object(entry) || !name || !*name)
		return fail(err, path, where, "expected {\"name\", \"sha256\", \"namespaces\", \"permissions\"}");
	key->name = portico_strdup(name);
	snprintf(where, sizeof where, "apiKeys[%zu] (\"%.40s\")", index, name);
	static const char *const fields[] = {"name", "sha256", "namespaces", "permissions", "rateLimit", NULL};
	const char *field;
	json_t *value;
	json_object_foreach((json_t *)entry, field, value)
	{
		size_t i = 0;
		while (fields[i] && strcmp(fields[i], field))
			i++;
		if (!fields[i])
			return fail(err, path, where,
			            "unknown field (name, sha256, namespaces, permissions, rateLimit)");
	}
	if (parse_digest(json_string_value(json_object_get(entry, "sha256")), key->digest))
		return fail(err, path, where, "sha256: expected the key's SHA-256 as 64 hex digits (sha256sum)");
	json_t *namespaces = json_object_get(entry, "namespaces"), *permissions = json_object_get(entry, "permissions");
	if (!json_is_array(namespaces) || !json_array_size(namespaces))
		return fail(err, path, where, "namespaces: expected a non-empty array (\"*\" for all)");
	key->namespaces = portico_calloc(json_array_size(namespaces) + 1, sizeof *key->namespaces);
	size_t n;
	json_array_foreach(namespaces, n, value)
	{
		if (!json_is_string(value))
			return fail(err, path, where, "namespaces: expected strings");
		key->namespaces[n] = portico_strdup(json_string_value(value));
	}
	if (!json_is_array(permissions) || !json_array_size(permissions))
		return fail(err, path, where, "permissions: expected a non-empty array");
	json_array_foreach(permissions, n, value)
	{
		size_t p = 0;
		while (p < sizeof permission_names / sizeof permission_names[0] &&
		       (!json_is_string(value) || strcmp(json_string_value(value), permission_names[p].name)))
			p++;
		if (p == sizeof permission_names / sizeof permission_names[0])
			return fail(err, path, where,
			            "permissions: each one of read, start, signal, cancel, activities, codec, admin");
		key->permissions |= permission_names[p].permission;
	}
	return load_limit(json_object_get(entry, "rateLimit"), &key->limit, path, where, err);
}

static int load_file(auth_config *config, const char *path, portico_error *err)
{
	json_error_t error;
	json_t *root = json_load_file(path, 0, &error);
	if (!root)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: line %d: %s", path, error.line,
		                         error.text);
	json_t *keys = json_object_get(root, "apiKeys");
	int failed = 0;
	const char *field;
	json_t *value;
	json_object_foreach(root, field, value)
	{
		if (strcmp(field, "apiKeys") && strcmp(field, "rateLimit") && !failed)
			failed = fail(err, path, field, "unknown field (apiKeys, rateLimit)");
	}
	if (!failed && (!json_is_array(keys) || !json_array_size(keys)))
		failed = fail(err, path, "apiKeys", "expected a non-empty array");
	if (!failed) {
		config->keys = portico_calloc(json_array_size(keys), sizeof *config->keys);
		for (size_t i = 0; i < json_array_size(keys) && !failed; i++)
			failed = load_key(json_array_get(keys, i), i, &config->keys[config->key_count++], path, err);
	}
	if (!failed)
		failed = load_limit(json_object_get(root, "rateLimit"), &config->global, path, "rateLimit", err);
	json_decref(root);
	return failed;
}

auth_config *auth_config_from_env(portico_error *err)
{
	const char *mode = getenv("PORTICO_AUTH"), *file = getenv("PORTICO_AUTH_FILE");
	auth_config *config = portico_calloc(1, sizeof *config);
	bucket_init(&config->global, 0, 0);
	if (mode && !strcmp(mode, "off")) {
		config->mode = AUTH_OFF;
	} else if (mode && !strcmp(mode, "passthrough")) {
		config->mode = AUTH_PASSTHROUGH;
	} else if ((mode && *mode && strcmp(mode, "keys")) || !file || !*file) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  mode && *mode && strcmp(mode, "keys")
		                          ? "PORTICO_AUTH: expected keys, passthrough or off"
		                          : "no authentication configured: set PORTICO_AUTH_FILE (API keys), or "
		                            "PORTICO_AUTH=passthrough (Temporal authorizes) or PORTICO_AUTH=off "
		                            "(local development only)");
		auth_config_free(config);
		return NULL;
	} else {
		config->mode = AUTH_KEYS;
		if (load_file(config, file, err)) {
			auth_config_free(config);
			return NULL;
		}
	}
	return config;
}

void auth_config_free(auth_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < config->key_count; i++) {
		free(config->keys[i].name);
		for (char **n = config->keys[i].namespaces; n && *n; n++)
			free(*n);
		free(config->keys[i].namespaces);
	}
	free(config->keys);
	free(config);
}

auth_mode auth_config_mode(const auth_config *config)
{
	return config->mode;
}

/* ---- Checking --------------------------------------------------------------------------------- */

static const char *presented_key(http_request *request)
{
	const char *header = http_request_header(request, "Authorization");
	if (header && !strncasecmp(header, "Bearer ", 7))
		return header + 7;
	return http_request_header(request, "X-API-Key");
}

int auth_authenticate(const auth_config *config, http_request *request, auth_caller *caller, portico_error *err)
{
	caller->key_name = NULL;
	if (config->mode != AUTH_KEYS)
		return 0;
	const char *key = presented_key(request);
	if (!key || !*key)
		return portico_error_set(err, PORTICO_UNAUTHENTICATED,
		                         "credentials required: Authorization: Bearer <API key>, or X-API-Key");
	uint8_t digest[DIGEST_BYTES];
	portico_codec_sha256(key, strlen(key), digest);
	const api_key *found = NULL;
	for (size_t i = 0; i < config->key_count; i++)
		if (portico_codec_equal(digest, config->keys[i].digest, DIGEST_BYTES))
			found = &config->keys[i];
	if (!found)
		return portico_error_set(err, PORTICO_UNAUTHENTICATED, "unknown API key");
	caller->key_name = found->name;
	return 0;
}

static api_key *find_key(auth_config *config, const char *name)
{
	for (size_t i = 0; name && i < config->key_count; i++)
		if (!strcmp(config->keys[i].name, name))
			return &config->keys[i];
	return NULL;
}

static int allows_namespace(const api_key *key, const char *namespace_name)
{
	for (char **n = key->namespaces; *n; n++)
		if (!strcmp(*n, "*") || (namespace_name && !strcmp(*n, namespace_name)))
			return 1;
	return 0;
}

int auth_authorize(auth_config *config, const auth_caller *caller, auth_permission permission,
                   const char *namespace_name, int64_t *retry_after_s, portico_error *err)
{
	if (config->mode != AUTH_KEYS)
		return 0;
	api_key *key = find_key(config, caller->key_name);
	if (!key)
		return portico_error_set(err, PORTICO_UNAUTHENTICATED, "unknown API key");
	int admin = key->permissions & PERMISSION_ADMIN;
	if (!admin && !(key->permissions & permission))
		return portico_error_set(err, PORTICO_PERMISSION_DENIED, "this API key may not do that");
	if (namespace_name && !allows_namespace(key, namespace_name))
		return portico_error_set(err, PORTICO_PERMISSION_DENIED, "this API key may not use that namespace");
	if ((*retry_after_s = bucket_take(&key->limit)) || (*retry_after_s = bucket_take(&config->global)))
		return portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED, "rate limit reached; retry after %lld s",
		                         (long long)*retry_after_s);
	return 0;
}

auth_permission auth_permission_for(const char *rpc, int is_get)
{
	static const struct {
		const char *name; /* a method, or with '*' a prefix of methods */
		auth_permission permission;
	} table[] = {
	        {"result", PERMISSION_READ},
	        {"QueryWorkflow", PERMISSION_READ},
	        {"StartWorkflowExecution", PERMISSION_START},
	        {"SignalWithStartWorkflowExecution", PERMISSION_START},
	        {"ExecuteMultiOperation", PERMISSION_START},
	        {"SignalWorkflowExecution", PERMISSION_SIGNAL},
	        {"UpdateWorkflowExecution", PERMISSION_SIGNAL},
	        {"RequestCancelWorkflowExecution", PERMISSION_CANCEL},
	        {"TerminateWorkflowExecution", PERMISSION_CANCEL},
	        {"ResetWorkflowExecution", PERMISSION_CANCEL},
	        {"RespondActivityTask*", PERMISSION_ACTIVITIES},
	        {"RecordActivityTaskHeartbeat*", PERMISSION_ACTIVITIES},
	};
	if (is_get)
		return PERMISSION_READ;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		size_t length = strcspn(table[i].name, "*");
		if (!strncmp(rpc, table[i].name, length) && (table[i].name[length] == '*' || !rpc[length]))
			return table[i].permission;
	}
	return PERMISSION_ADMIN;
}
