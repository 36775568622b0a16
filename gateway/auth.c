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
#include "base64.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "json_config.h"

typedef struct bucket {
	double per_second, burst; /* 0 per second: no limit */
	double tokens;
	int64_t refilled_ms;
	pthread_mutex_t lock;
} bucket;

typedef struct api_key {
	char *name;
	uint8_t digest[PORTICO_SHA256_BYTES];
	char **namespaces; /* NULL-terminated; "*" for all */
	unsigned permissions;
	bucket limit;
} api_key;

typedef struct jwt_key {
	char *kid; /* NULL when the key has none */
	portico_public_key *key;
} jwt_key;

typedef struct jwt_config {
	jwt_key *keys;
	size_t key_count;
	char *issuer, *audience, *namespaces_claim, *permissions_claim;
	int64_t leeway_s;
} jwt_config;

struct auth_config {
	auth_mode mode;
	api_key *keys;
	size_t key_count;
	jwt_config *jwt; /* NULL when JWTs are not accepted */
	bucket global;
	char *allowed_hosts; /* PORTICO_ALLOWED_HOSTS: host names callers may use with auth off, or NULL */
};

static const struct {
	const char *name;
	auth_permission permission;
} permission_names[] = {
        {"read", PERMISSION_READ},     {"start", PERMISSION_START},   {"signal", PERMISSION_SIGNAL},
        {"update", PERMISSION_UPDATE}, {"cancel", PERMISSION_CANCEL}, {"activities", PERMISSION_ACTIVITIES},
        {"codec", PERMISSION_CODEC},   {"admin", PERMISSION_ADMIN},   {"cluster", PERMISSION_CLUSTER}};

#define PERMISSION_COUNT (sizeof permission_names / sizeof permission_names[0])

/* ---- Token buckets --------------------------------------------------------------------------- */

static void bucket_init(bucket *b, double per_second, double burst)
{
	b->per_second = per_second;
	/* Without a burst, a second's worth of tokens, and never less than one: a bucket that cannot
	 * hold a whole token (a rate under 1/s) would refuse every request for ever. */
	b->burst = burst > 0 ? burst : per_second > 1 ? per_second : 1;
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

/* A token bucket from {"perSecond", "burst"}; absent: no limit. */
static int load_limit(const json_config_node *limit, bucket *b)
{
	if (!limit->value) {
		bucket_init(b, 0, 0);
		return 0;
	}
	json_t *rate = json_object_get(limit->value, "perSecond"), *burst = json_object_get(limit->value, "burst");
	if (!json_is_object(limit->value) || !json_is_number(rate) || json_number_value(rate) <= 0 ||
	    (burst && (!json_is_number(burst) || json_number_value(burst) < 1)))
		return json_config_fail(limit, "expected {\"perSecond\": > 0, \"burst\": >= 1}");
	bucket_init(b, json_number_value(rate), burst ? json_number_value(burst) : 0);
	return 0;
}

static int parse_digest(const char *hex, uint8_t digest[PORTICO_SHA256_BYTES])
{
	if (!hex || strlen(hex) != 2 * PORTICO_SHA256_BYTES)
		return -1;
	for (size_t i = 0; i < PORTICO_SHA256_BYTES; i++) {
		unsigned value;
		if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &value) != 1)
			return -1;
		digest[i] = (uint8_t)value;
	}
	return 0;
}

static int load_key(const json_config_node *entry, api_key *key)
{
	static const char *const fields[] = {"name", "sha256", "namespaces", "permissions", "rateLimit", NULL};
	const char *name = json_string_value(json_object_get(entry->value, "name"));
	if (!json_is_object(entry->value) || !name || !*name)
		return json_config_fail(entry, "expected {\"name\", \"sha256\", \"namespaces\", \"permissions\"}");
	key->name = portico_strdup(name);
	json_config_node k = json_config_labelled(entry, NULL, "%s (\"%.40s\")", entry->name, name);
	if (json_config_object(&k, fields, "an object"))
		return -1;
	if (parse_digest(json_string_value(json_object_get(k.value, "sha256")), key->digest))
		return json_config_fail_at(&k, "sha256", "expected the key's SHA-256 as 64 hex digits (sha256sum)");
	json_config_node namespaces = json_config_member(&k, "namespaces");
	if (!json_is_array(namespaces.value) || !json_array_size(namespaces.value))
		return json_config_fail(&namespaces, "expected a non-empty array (\"*\" for all)");
	key->namespaces = portico_calloc(json_array_size(namespaces.value) + 1, sizeof *key->namespaces);
	for (size_t n = 0; n < json_array_size(namespaces.value); n++) {
		json_config_node element = json_config_element(&namespaces, n);
		const char *text;
		if (json_config_string(&element, 0, &text))
			return -1;
		key->namespaces[n] = portico_strdup(text);
	}
	json_config_node permissions = json_config_member(&k, "permissions");
	if (!json_is_array(permissions.value) || !json_array_size(permissions.value))
		return json_config_fail(&permissions, "expected a non-empty array");
	size_t n;
	json_t *value;
	json_array_foreach(permissions.value, n, value)
	{
		size_t p = 0;
		while (p < sizeof permission_names / sizeof permission_names[0] &&
		       (!json_is_string(value) || strcmp(json_string_value(value), permission_names[p].name)))
			p++;
		if (p == sizeof permission_names / sizeof permission_names[0])
			return json_config_fail(&permissions,
			                        "each one of read, start, signal, update, cancel, activities, codec, "
			                        "admin, cluster");
		key->permissions |= permission_names[p].permission;
	}
	json_config_node limit = json_config_member(&k, "rateLimit");
	return load_limit(&limit, &key->limit);
}

static int add_jwt_key(jwt_config *jwt, const char *kid, portico_public_key *key)
{
	jwt->keys = portico_realloc(jwt->keys, (jwt->key_count + 1) * sizeof *jwt->keys);
	jwt->keys[jwt->key_count++] = (jwt_key){kid ? portico_strdup(kid) : NULL, key};
	return 0;
}

/* The keys of the JWKS file that node names, strictly read like the auth file. */
static int load_jwks(jwt_config *jwt, const json_config_node *node, const char *file)
{
	portico_error load_err = PORTICO_ERROR_INIT;
	json_t *jwks = json_config_load(file, &load_err), *keys = json_object_get(jwks, "keys");
	int failed = !jwks ? json_config_fail(node, "%s", load_err.message)
	             : !json_is_array(keys) || !json_array_size(keys)
	                     ? json_config_fail(node, "expected a JWKS file: {\"keys\": [...]}")
	                     : 0;
	portico_error_clear(&load_err);
	for (size_t i = 0; !failed && i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		const char *kty = json_string_value(json_object_get(k, "kty"));
		int rsa = kty && !strcmp(kty, "RSA");
		portico_error key_err = PORTICO_ERROR_INIT;
		portico_public_key *key =
		        portico_public_key_from_jwk(kty, json_string_value(json_object_get(k, rsa ? "n" : "crv")),
		                                    json_string_value(json_object_get(k, rsa ? "e" : "x")),
		                                    json_string_value(json_object_get(k, "y")), &key_err);
		if (key)
			add_jwt_key(jwt, json_string_value(json_object_get(k, "kid")), key);
		else
			failed = json_config_fail(node, "%s", key_err.message);
		portico_error_clear(&key_err);
	}
	json_decref(jwks);
	return failed;
}

/* The jwt section. Its claim names are taken only when they are strings and pemFiles only when
 * it is an array, and unknown members pass, as they always have: files that loaded still load. */
static int load_jwt(auth_config *config, const json_config_node *section)
{
	jwt_config *jwt = config->jwt = portico_calloc(1, sizeof *jwt);
	const json_t *value = section->value;
	const char *issuer = json_string_value(json_object_get(value, "issuer"));
	const char *audience = json_string_value(json_object_get(value, "audience"));
	const char *namespaces = json_string_value(json_object_get(value, "namespacesClaim"));
	const char *permissions = json_string_value(json_object_get(value, "permissionsClaim"));
	json_t *pems = json_object_get(value, "pemFiles");
	const char *jwks = json_string_value(json_object_get(value, "jwksFile"));
	if (!json_is_object(value) || !issuer || !audience)
		return json_config_fail(section, "issuer and audience are required");
	json_config_node leeway = json_config_member(section, "leewaySeconds");
	jwt->leeway_s = 30;
	if (json_config_integer(&leeway, 0, 300, "0 to 300", &jwt->leeway_s))
		return -1;
	jwt->issuer = portico_strdup(issuer);
	jwt->audience = portico_strdup(audience);
	jwt->namespaces_claim = portico_strdup(namespaces ? namespaces : "namespaces");
	jwt->permissions_claim = portico_strdup(permissions ? permissions : "permissions");
	json_config_node jwks_node = json_config_member(section, "jwksFile");
	if (jwks && load_jwks(jwt, &jwks_node, jwks))
		return -1;
	json_config_node pem_files = json_config_member(section, "pemFiles");
	for (size_t i = 0; i < json_array_size(pems); i++) {
		char *pem = NULL;
		const char *file = json_string_value(json_array_get(pems, i));
		portico_error key_err = PORTICO_ERROR_INIT;
		portico_public_key *key = file && portico_config_read_pem("jwt.pemFiles", file, &pem, &key_err) == 0
		                                  ? portico_public_key_from_pem(pem, &key_err)
		                                  : NULL;
		free(pem);
		if (!key) {
			json_config_fail(&pem_files, "%s", key_err.message ? key_err.message : "expected file paths");
			portico_error_clear(&key_err);
			return -1;
		}
		add_jwt_key(jwt, NULL, key);
	}
	if (!jwt->key_count)
		return json_config_fail(section, "give the verification keys: jwksFile or pemFiles");
	return 0;
}

static int load_file(auth_config *config, const char *path, portico_error *err)
{
	static const char *const fields[] = {"apiKeys", "jwt", "rateLimit", NULL};
	json_t *root = json_config_load(path, err);
	if (!root)
		return -1;
	json_config_node top = json_config_top(path, root, err);
	json_config_node keys = json_config_member(&top, "apiKeys"), jwt = json_config_member(&top, "jwt");
	json_config_node limit = json_config_member(&top, "rateLimit");
	int failed = json_config_object(&top, fields, "{\"apiKeys\": [...], \"jwt\": {...}, \"rateLimit\": {...}}");
	if (!failed && !jwt.value && (!json_is_array(keys.value) || !json_array_size(keys.value)))
		failed = json_config_fail(&keys, "expected a non-empty array (or a jwt section)");
	if (!failed && keys.value && !json_is_array(keys.value))
		failed = json_config_fail(&keys, "expected an array");
	if (!failed && jwt.value)
		failed = load_jwt(config, &jwt);
	if (!failed && keys.value) {
		config->keys = portico_calloc(json_array_size(keys.value), sizeof *config->keys);
		for (size_t i = 0; i < json_array_size(keys.value) && !failed; i++) {
			json_config_node entry = json_config_element(&keys, i);
			failed = load_key(&entry, &config->keys[config->key_count++]);
		}
	}
	if (!failed)
		failed = load_limit(&limit, &config->global);
	json_decref(root);
	return failed;
}

auth_config *auth_config_from_env(portico_error *err)
{
	const char *mode = getenv("PORTICO_AUTH"), *file = getenv("PORTICO_AUTH_FILE");
	auth_config *config = portico_calloc(1, sizeof *config);
	bucket_init(&config->global, 0, 0);
	const char *hosts = getenv("PORTICO_ALLOWED_HOSTS");
	config->allowed_hosts = hosts && *hosts ? portico_strdup(hosts) : NULL;
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
	free(config->allowed_hosts);
	for (size_t i = 0; i < config->key_count; i++) {
		free(config->keys[i].name);
		for (char **n = config->keys[i].namespaces; n && *n; n++)
			free(*n);
		free(config->keys[i].namespaces);
	}
	free(config->keys);
	if (config->jwt) {
		for (size_t i = 0; i < config->jwt->key_count; i++) {
			free(config->jwt->keys[i].kid);
			portico_public_key_free(config->jwt->keys[i].key);
		}
		free(config->jwt->keys);
		free(config->jwt->issuer);
		free(config->jwt->audience);
		free(config->jwt->namespaces_claim);
		free(config->jwt->permissions_claim);
		free(config->jwt);
	}
	free(config);
}

void auth_caller_clear(auth_caller *caller)
{
	free(caller->subject);
	json_decref(caller->namespaces);
	memset(caller, 0, sizeof *caller);
}

auth_mode auth_config_mode(const auth_config *config)
{
	return config->mode;
}

/* ---- Checking --------------------------------------------------------------------------------- */

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer_token(request_headers headers)
{
	const char *header = request_headers_get(headers, "Authorization");
	return header && !strncasecmp(header, "Bearer ", 7) ? header + 7 : NULL;
}

static int looks_like_jwt(const char *token)
{
	const char *dot = strchr(token, '.');
	return dot && strchr(dot + 1, '.');
}

/* A JSON object from a base64url JWT part. */
static json_t *jwt_part(const char *text, size_t length)
{
	uint8_t *bytes;
	size_t decoded;
	if (portico_base64_decode(text, length, &bytes, &decoded))
		return NULL;
	json_t *value = json_loadb((const char *)bytes, decoded, 0, NULL);
	free(bytes);
	if (!json_is_object(value)) {
		json_decref(value);
		return NULL;
	}
	return value;
}

static int has_audience(const json_t *aud, const char *audience)
{
	if (json_is_string(aud))
		return !strcmp(json_string_value(aud), audience);
	size_t i;
	json_t *entry;
	json_array_foreach(aud, i, entry)
	{
		if (json_is_string(entry) && !strcmp(json_string_value(entry), audience))
			return 1;
	}
	return 0;
}

static int signed_by_a_key(const jwt_config *jwt, const json_t *header, const char *token, size_t signed_length,
                           const char *signature_text)
{
	const char *alg = json_string_value(json_object_get(header, "alg"));
	const char *kid = json_string_value(json_object_get(header, "kid"));
	portico_signature_algorithm algorithm;
	if (alg && !strcmp(alg, "RS256"))
		algorithm = PORTICO_RS256;
	else if (alg && !strcmp(alg, "ES256"))
		algorithm = PORTICO_ES256;
	else
		return 0; /* "none", HS256 and the rest: never */
	uint8_t *signature;
	size_t signature_length;
	if (portico_base64_decode(signature_text, strlen(signature_text), &signature, &signature_length))
		return 0;
	int ok = 0;
	for (size_t i = 0; i < jwt->key_count && !ok; i++)
		if (!kid || !jwt->keys[i].kid || !strcmp(kid, jwt->keys[i].kid))
			ok = portico_signature_verify(jwt->keys[i].key, algorithm, token, signed_length, signature,
			                              signature_length);
	free(signature);
	return ok;
}

/* Checks a JWT and takes its subject, namespaces and permissions. */
static int authenticate_jwt(const jwt_config *jwt, const char *token, auth_caller *caller, portico_error *err)
{
	const char *first = strchr(token, '.'), *second = first ? strchr(first + 1, '.') : NULL;
	json_t *header = second ? jwt_part(token, (size_t)(first - token)) : NULL;
	json_t *claims = header ? jwt_part(first + 1, (size_t)(second - first - 1)) : NULL;
	const char *problem = NULL;
	int64_t now = portico_wall_s();
	json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	if (!claims)
		problem = "malformed token";
	else if (!signed_by_a_key(jwt, header, token, (size_t)(second - token), second + 1))
		problem = "bad signature";
	else if (!json_is_number(exp) || json_number_value(exp) + (double)jwt->leeway_s < (double)now)
		problem = "expired";
	else if (nbf && (!json_is_number(nbf) || json_number_value(nbf) - (double)jwt->leeway_s > (double)now))
		problem = "not yet valid";
	else if (!iss || strcmp(iss, jwt->issuer) || !has_audience(json_object_get(claims, "aud"), jwt->audience))
		problem = "wrong issuer or audience";
	if (!problem) {
		const char *sub = json_string_value(json_object_get(claims, "sub"));
		caller->subject = portico_strdup(sub ? sub : "(no subject)");
		json_t *namespaces = json_object_get(claims, jwt->namespaces_claim);
		caller->namespaces = json_is_array(namespaces) ? json_incref(namespaces) : json_array();
		size_t i;
		json_t *name;
		json_array_foreach(json_object_get(claims, jwt->permissions_claim), i, name)
		{
			for (size_t p = 0; p < sizeof permission_names / sizeof permission_names[0]; p++)
				if (json_is_string(name) && !strcmp(json_string_value(name), permission_names[p].name))
					caller->permissions |= permission_names[p].permission;
		}
	}
	json_decref(header);
	json_decref(claims);
	/* Why a token failed is the operator's to know, not the caller's. */
	return problem ? portico_error_set(err, PORTICO_UNAUTHENTICATED, "invalid token") : 0;
}

int auth_authenticate(const auth_config *config, request_headers headers, auth_caller *caller, portico_error *err)
{
	if (config->mode != AUTH_KEYS)
		return 0;
	const char *bearer = bearer_token(headers);
	if (config->jwt && bearer && looks_like_jwt(bearer))
		return authenticate_jwt(config->jwt, bearer, caller, err);
	const char *key = bearer ? bearer : request_headers_get(headers, "X-API-Key");
	if (!key || !*key)
		return portico_error_set(
		        err, PORTICO_UNAUTHENTICATED,
		        "credentials required: Authorization: Bearer <API key or token>, or X-API-Key");
	uint8_t digest[PORTICO_SHA256_BYTES];
	portico_sha256(key, strlen(key), digest);
	const api_key *found = NULL;
	for (size_t i = 0; i < config->key_count; i++)
		if (portico_constant_time_equal(digest, config->keys[i].digest, PORTICO_SHA256_BYTES))
			found = &config->keys[i];
	if (!found)
		return portico_error_set(err, PORTICO_UNAUTHENTICATED, "unknown API key");
	caller->key = found;
	return 0;
}

static int allows_namespace(const api_key *key, const char *namespace_name)
{
	for (char **n = key->namespaces; *n; n++)
		if (!strcmp(*n, "*") || (namespace_name && !strcmp(*n, namespace_name)))
			return 1;
	return 0;
}

static int claims_namespace(const auth_caller *caller, const char *namespace_name)
{
	size_t i;
	json_t *name;
	json_array_foreach(caller->namespaces, i, name)
	{
		if (json_is_string(name) &&
		    (!strcmp(json_string_value(name), "*") || !strcmp(json_string_value(name), namespace_name)))
			return 1;
	}
	return 0;
}

int auth_list_has(const char *list, const char *name, size_t length)
{
	for (const char *item = list; item && *item;) {
		size_t item_length = strcspn(item, ",");
		if (item_length == length && !strncasecmp(item, name, length))
			return 1;
		item += item_length + (item[item_length] == ',');
	}
	return 0;
}

int auth_host_allowed(const auth_config *config, const char *host, const char *listen)
{
	if (config->mode != AUTH_OFF || !host)
		return 1;
	/* The name without its port: "[::1]:8080" -> "::1", "localhost:8080" -> "localhost". */
	const char *name = host;
	size_t length = strcspn(host, ":");
	if (host[0] == '[') {
		name = host + 1;
		length = strcspn(name, "]");
	}
	if (auth_list_has("localhost,127.0.0.1,::1", name, length) ||
	    auth_list_has(config->allowed_hosts, name, length))
		return 1;
	/* The address the gateway listens on, when it is a particular one. */
	size_t listen_length = listen[0] == '[' ? strcspn(listen + 1, "]") : strcspn(listen, ":");
	const char *listen_name = listen + (listen[0] == '[');
	return listen_length == length && !strncasecmp(listen_name, name, length) && strncmp(name, "0.0.0.0", length);
}

int auth_allows_namespace(const auth_config *config, const auth_caller *caller, const char *namespace_name)
{
	if (config->mode != AUTH_KEYS)
		return 1;
	return caller->key ? allows_namespace(caller->key, namespace_name) : claims_namespace(caller, namespace_name);
}

int auth_check(const auth_config *config, const auth_caller *caller, unsigned required, const char *namespace_name,
               const char *reason, portico_error *err)
{
	if (config->mode != AUTH_KEYS)
		return 0;
	const api_key *key = caller->key;
	unsigned held = key ? key->permissions : caller->permissions;
	if (held & PERMISSION_ADMIN)
		held |= ~(unsigned)PERMISSION_CLUSTER;
	unsigned missing = required & ~held;
	for (size_t p = 0; missing && p < PERMISSION_COUNT; p++)
		if (missing & permission_names[p].permission)
			return portico_error_set(err, PORTICO_PERMISSION_DENIED,
			                         "these credentials lack the \"%s\" permission%s%s",
			                         permission_names[p].name, reason ? ": " : "", reason ? reason : "");
	if (namespace_name && !auth_allows_namespace(config, caller, namespace_name))
		return portico_error_set(err, PORTICO_PERMISSION_DENIED,
		                         "these credentials may not use that namespace");
	return 0;
}

int auth_take_token(auth_config *config, const auth_caller *caller, int64_t *retry_after_s, portico_error *err)
{
	if (config->mode != AUTH_KEYS)
		return 0;
	api_key *key = (api_key *)caller->key;
	if ((key && (*retry_after_s = bucket_take(&key->limit))) || (*retry_after_s = bucket_take(&config->global)))
		return portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED, "rate limit reached; retry after %lld s",
		                         (long long)*retry_after_s);
	return 0;
}
