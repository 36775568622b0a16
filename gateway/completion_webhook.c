#include "completion_webhook.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "base64.h"
#include "json_parse.h"
#include "json_text.h"
#include "url.h"

#define MAX_HEADER_NAME_BYTES  64
#define MAX_HEADER_VALUE_BYTES 1024
#define TOKEN_KEY_LABEL        "portico completion token v1"

/* Headers a target may not set: the signature's, and those of HTTP's framing. */
static const char *const reserved_headers[] = {
        "webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length",
        "host",       "transfer-encoding", "connection",        "expect",       NULL};

/* The parts of an http(s) URL this module checks. */
typedef struct url_parts {
	int https;
	char host[256]; /* without the brackets of an IPv6 literal */
} url_parts;

/* 0 when url is an absolute http(s) URL with a host, an optional port, no user information, no
 * dot segments and no white space or control characters; parts filled. */
static int parse_url(const char *url, url_parts *parts)
{
	const char *rest;
	if (!strncasecmp(url, "https://", 8)) {
		parts->https = 1;
		rest = url + 8;
	} else if (!strncasecmp(url, "http://", 7)) {
		parts->https = 0;
		rest = url + 7;
	} else {
		return -1;
	}
	for (const unsigned char *c = (const unsigned char *)url; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			return -1;
	/* Dot segments ("/hooks/../admin") would walk out of an allowed prefix's path once resolved. */
	if (strchr(url, '\\') || strstr(url, "%2e") || strstr(url, "%2E"))
		return -1;
	for (const char *dot = strstr(rest, "/."); dot; dot = strstr(dot + 1, "/."))
		if (strchr("./?#", dot[2]))
			return -1;
	size_t authority = strcspn(rest, "/?#");
	if (memchr(rest, '@', authority))
		return -1;
	const char *host = rest, *port = NULL;
	size_t host_length;
	if (*host == '[') {
		const char *close = memchr(host, ']', authority);
		if (!close)
			return -1;
		host++;
		host_length = (size_t)(close - host);
		port = close + 1 < rest + authority ? close + 1 : NULL;
		if (port && *port != ':')
			return -1;
	} else {
		const char *colon = memchr(host, ':', authority);
		host_length = colon ? (size_t)(colon - host) : authority;
		port = colon;
	}
	if (host_length == 0 || host_length >= sizeof parts->host)
		return -1;
	if (port) {
		size_t digits = (size_t)(rest + authority - port - 1);
		if (digits == 0 || digits > 5 || strspn(port + 1, "0123456789") < digits || atoi(port + 1) > 65535)
			return -1;
	}
	memcpy(parts->host, host, host_length);
	parts->host[host_length] = '\0';
	return 0;
}

/* url starts with prefix at a boundary: "https://a.example" does not let "https://a.example.evil"
 * through, nor another port. */
static int under_prefix(const char *url, const char *prefix)
{
	size_t length = strlen(prefix);
	if (strncmp(url, prefix, length))
		return 0;
	return prefix[length - 1] == '/' || url[length] == '\0' || strchr("/?#", url[length]);
}

/* 0 when host (a URL's, at most 255 bytes) names a loopback or private address as the resolver,
 * and so curl, reads it. */
static int host_is_public(const char *given)
{
	/* A trailing dot only makes a name absolute: "localhost." and "127.0.0.1." are those. */
	char host[256];
	size_t length = strlen(given);
	memcpy(host, given, length + 1);
	if (length && host[length - 1] == '.')
		host[--length] = '\0';
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	/* inet_aton, not inet_pton: the resolver takes "127.1", "0x7f000001" and "2130706433" too. */
	if (inet_aton(host, &v4.sin_addr))
		return completion_address_public((struct sockaddr *)&v4);
	if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1)
		return completion_address_public((struct sockaddr *)&v6);
	/* Any other IPv6 literal ("fe80::1%25eth0", with a zone) is no name to resolve, and a zone
	 * only matters for a link-local address. */
	if (strchr(host, ':'))
		return 0;
	return strcasecmp(host, "localhost") && !(length >= 10 && !strcasecmp(host + length - 10, ".localhost"));
}

static int is_reserved_header(const char *name)
{
	for (const char *const *reserved = reserved_headers; *reserved; reserved++)
		if (!strcasecmp(name, *reserved))
			return 1;
	return 0;
}

static int is_token(const char *name)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";
	if (!*name)
		return 0;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		if (*c > 0x7f || (!isalnum(*c) && !strchr(extra, *c)))
			return 0;
	return 1;
}

/* Every byte, not up to the first NUL: a raw value (json_text.h), which starts with one, is no
 * header value either. */
static int is_header_value(const char *value, size_t length)
{
	for (const unsigned char *c = (const unsigned char *)value; c < (const unsigned char *)value + length; c++)
		if ((*c < ' ' && *c != '\t') || *c == 0x7f)
			return 0;
	return 1;
}

static int read_headers(const json_t *given, json_t *out, portico_error *err)
{
	if (!given)
		return 0;
	if (!json_is_object(given))
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "completionWebhook.headers: expected an object of header names to values");
	if (json_object_size(given) > COMPLETION_MAX_HEADERS)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "completionWebhook.headers: at most %d headers",
		                         COMPLETION_MAX_HEADERS);
	const char *name;
	json_t *value;
	json_object_foreach((json_t *)given, name, value)
	{
		if (!is_token(name) || strlen(name) > MAX_HEADER_NAME_BYTES)
			return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                         "completionWebhook.headers: a header name must be an HTTP token of at "
			                         "most %d bytes",
			                         MAX_HEADER_NAME_BYTES);
		if (is_reserved_header(name))
			return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                         "completionWebhook.headers.%s: Portico sets this header itself", name);
		if (!json_is_string(value) || !is_header_value(json_string_value(value), json_string_length(value)) ||
		    json_string_length(value) > MAX_HEADER_VALUE_BYTES)
			return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                         "completionWebhook.headers.%s: expected a string of at most %d bytes "
			                         "without control characters",
			                         name, MAX_HEADER_VALUE_BYTES);
		json_object_set(out, name, value);
	}
	return 0;
}

int completion_target_parse(const completion_config *config, const json_t *value, completion_target *out,
                            portico_error *err)
{
	*out = (completion_target){NULL, json_object(), 0};
	if (!config)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "completionWebhook: completion webhooks are off on this gateway (it needs "
		                         "PORTICO_CALLBACK_SECRET)");
	const json_t *url = value;
	if (json_is_object(value)) {
		const char *key;
		json_t *member;
		json_object_foreach((json_t *)value, key, member)
		{
			if (strcmp(key, "url") && strcmp(key, "headers"))
				return portico_error_set(
				        err, PORTICO_INVALID_ARGUMENT,
				        "completionWebhook.%s: unknown field (expected url and headers)", key);
		}
		url = json_object_get(value, "url");
		if (read_headers(json_object_get(value, "headers"), out->headers, err))
			return -1;
	}
	url_parts parts;
	if (!json_is_string(url) || json_string_length(url) > COMPLETION_MAX_URL_BYTES ||
	    parse_url(json_string_value(url), &parts))
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "completionWebhook: expected an http(s) URL of at most %d bytes, without user "
		                         "information or dot segments, or {\"url\": …, \"headers\": {…}}",
		                         COMPLETION_MAX_URL_BYTES);
	out->url = portico_strdup(json_string_value(url));
	for (size_t i = 0; i < config->allowed_count && !out->listed; i++)
		out->listed = under_prefix(out->url, config->allowed[i]);
	if (config->allowed_count && !out->listed)
		return portico_error_set(
		        err, PORTICO_INVALID_ARGUMENT,
		        "completionWebhook: %s is not under an allowed URL (PORTICO_CALLBACK_ALLOWED_URLS)", out->url);
	if (!out->listed && !parts.https)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "completionWebhook: must be https (an http URL must be listed in "
		                         "PORTICO_CALLBACK_ALLOWED_URLS)");
	if (!out->listed && !host_is_public(parts.host))
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "completionWebhook: %s is a loopback or private address (list it in "
		                         "PORTICO_CALLBACK_ALLOWED_URLS to allow it)",
		                         parts.host);
	return 0;
}

void completion_target_clear(completion_target *target)
{
	free(target->url);
	json_decref(target->headers);
	*target = (completion_target){0};
}

void completion_binding_clear(completion_binding *binding)
{
	free(binding->namespace_name);
	free(binding->workflow_id);
	completion_target_clear(&binding->target);
	*binding = (completion_binding){0};
}

/* ---- Configuration ----------------------------------------------------------------------------- */

static int load_allowed(completion_config *config, const char *allowed, portico_error *err)
{
	char *list = portico_strdup(allowed), *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*item))
			item++;
		for (size_t n = strlen(item); n && isspace((unsigned char)item[n - 1]); n--)
			item[n - 1] = '\0';
		url_parts parts;
		if (!*item)
			continue;
		if (parse_url(item, &parts)) {
			portico_error_set(err, PORTICO_INVALID_ARGUMENT,
			                  "PORTICO_CALLBACK_ALLOWED_URLS: %s is not an http(s) URL prefix with a host",
			                  item);
			free(list);
			return -1;
		}
		config->allowed =
		        portico_realloc(config->allowed, (config->allowed_count + 1) * sizeof *config->allowed);
		config->allowed[config->allowed_count++] = portico_strdup(item);
	}
	free(list);
	return 0;
}

int completion_config_load(const char *secret, const char *callback_base, const char *allowed, completion_config **out,
                           portico_error *err)
{
	*out = NULL;
	if (!secret || !*secret)
		return 0;
	completion_config *config = portico_calloc(1, sizeof *config);
	url_parts parts;
	if (strncmp(secret, "whsec_", 6) ||
	    portico_base64_decode(secret + 6, strlen(secret + 6), &config->secret, &config->secret_length) ||
	    config->secret_length < 16) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "PORTICO_CALLBACK_SECRET: expected \"whsec_\" + base64 of at least 16 random bytes");
	} else if (!callback_base || parse_url(callback_base, &parts) || strpbrk(callback_base, "?#")) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "PORTICO_CALLBACK_URL: expected the http(s) URL Temporal reaches this gateway by "
		                  "(e.g. http://portico:8080)");
	} else if (allowed == NULL || load_allowed(config, allowed, err) == 0) {
		size_t length = strlen(callback_base);
		while (length && callback_base[length - 1] == '/')
			length--;
		config->callback_url = portico_sprintf("%.*s%s", (int)length, callback_base, COMPLETION_CALLBACK_PATH);
		const portico_bytes label = {TOKEN_KEY_LABEL, strlen(TOKEN_KEY_LABEL)};
		portico_hmac(PORTICO_HMAC_SHA256, config->secret, config->secret_length, &label, 1, config->token_key);
		*out = config;
		return 0;
	}
	completion_config_free(config);
	return -1;
}

void completion_config_free(completion_config *config)
{
	if (!config)
		return;
	if (config->secret)
		portico_wipe(config->secret, config->secret_length);
	portico_wipe(config->token_key, sizeof config->token_key);
	free(config->secret);
	free(config->callback_url);
	for (size_t i = 0; i < config->allowed_count; i++)
		free(config->allowed[i]);
	free(config->allowed);
	free(config);
}

/* ---- Tokens ------------------------------------------------------------------------------------ */

char *completion_token_seal(const completion_config *config, const char *namespace_name, const char *workflow_id,
                            const completion_target *target)
{
	json_t *bound = json_pack("{s:s,s:s,s:{s:s,s:O}}", "n", namespace_name, "w", workflow_id, "t", "url",
	                          target->url, "headers", target->headers);
	size_t length;
	char *plain = portico_json_dumps(bound, JSON_COMPACT, &length);
	json_decref(bound);
	uint8_t nonce[PORTICO_AES_GCM_NONCE_BYTES];
	portico_random_bytes(nonce, sizeof nonce);
	uint8_t *sealed = portico_malloc(length + PORTICO_AES_GCM_OVERHEAD);
	portico_aes_gcm_seal(config->token_key, nonce, (const uint8_t *)plain, length, sealed);
	free(plain);
	char *token = portico_base64_encode(sealed, length + PORTICO_AES_GCM_OVERHEAD);
	free(sealed);
	/* base64url without padding: a header value, and a URL's if it ever needs to be */
	char *end = token;
	for (char *c = token; *c && *c != '='; c++, end++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	*end = '\0';
	return token;
}

int completion_token_open(const completion_config *config, const char *token, completion_binding *out)
{
	*out = (completion_binding){0};
	size_t length = strlen(token);
	uint8_t *sealed;
	size_t sealed_length;
	if (length > COMPLETION_MAX_TOKEN_BYTES ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                  "0123456789-_") != length ||
	    portico_base64_decode(token, length, &sealed, &sealed_length))
		return -1;
	if (sealed_length <= PORTICO_AES_GCM_OVERHEAD) {
		free(sealed);
		return -1;
	}
	uint8_t *plain = portico_malloc(sealed_length - PORTICO_AES_GCM_OVERHEAD + 1);
	int opened = portico_aes_gcm_open(config->token_key, sealed, sealed_length, plain);
	free(sealed);
	json_t *bound = NULL;
	if (opened == 0) {
		json_error_t error;
		bound = portico_json_parse((const char *)plain, sealed_length - PORTICO_AES_GCM_OVERHEAD, 0, &error);
	}
	free(plain);
	const char *namespace_name = NULL, *workflow_id = NULL;
	json_t *target = NULL;
	int failed =
	        !bound || json_unpack(bound, "{s:s,s:s,s:o}", "n", &namespace_name, "w", &workflow_id, "t", &target);
	if (!failed) {
		out->namespace_name = portico_strdup(namespace_name);
		out->workflow_id = portico_strdup(workflow_id);
		/* Only this gateway's secret seals a token, so what it holds was checked when it was made;
		 * the allowlist is read again by the caller (completion_target_parse), as it may have
		 * changed since. */
		out->target.url = portico_strdup(json_string_value(json_object_get(target, "url")));
		out->target.headers = json_incref(json_object_get(target, "headers"));
		failed = !out->target.url || !json_is_object(out->target.headers);
	}
	json_decref(bound);
	if (failed)
		completion_binding_clear(out);
	return failed ? -1 : 0;
}

Temporal__Api__Common__V1__Callback *completion_webhook_callback(const completion_config *config,
                                                                 const char *namespace_name, const char *workflow_id,
                                                                 const completion_target *target, portico_error *err)
{
	char *token = completion_token_seal(config, namespace_name, workflow_id, target);
	size_t length = strlen(token);
	if (length > COMPLETION_MAX_TOKEN_BYTES) {
		free(token);
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "completionWebhook: its URL and headers, with the workflow id, make a "
		                  "callback token of %zu bytes, more than the %d Temporal keeps; send fewer or "
		                  "shorter headers",
		                  length, COMPLETION_MAX_TOKEN_BYTES);
		return NULL;
	}
	Temporal__Api__Common__V1__Callback__Nexus__HeaderEntry *entry = portico_malloc(sizeof *entry);
	temporal__api__common__v1__callback__nexus__header_entry__init(entry);
	entry->key = portico_strdup(COMPLETION_TOKEN_HEADER);
	entry->value = token;
	Temporal__Api__Common__V1__Callback__Nexus *nexus = portico_malloc(sizeof *nexus);
	temporal__api__common__v1__callback__nexus__init(nexus);
	nexus->url = portico_strdup(config->callback_url);
	nexus->n_header = 1;
	nexus->header = portico_malloc(sizeof *nexus->header);
	nexus->header[0] = entry;
	Temporal__Api__Common__V1__Callback *callback = portico_malloc(sizeof *callback);
	temporal__api__common__v1__callback__init(callback);
	callback->variant_case = TEMPORAL__API__COMMON__V1__CALLBACK__VARIANT_NEXUS;
	callback->nexus = nexus;
	return callback;
}

int completion_webhook_attach(const completion_config *config, const char *namespace_name,
                              const completion_target *target,
                              Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start,
                              portico_error *err)
{
	Temporal__Api__Common__V1__Callback *callback =
	        completion_webhook_callback(config, namespace_name, start->workflow_id, target, err);
	if (!callback)
		return -1;
	start->completion_callbacks = portico_realloc(
	        start->completion_callbacks, (start->n_completion_callbacks + 1) * sizeof *start->completion_callbacks);
	start->completion_callbacks[start->n_completion_callbacks++] = callback;
	if (start->workflow_id_conflict_policy !=
	    TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING)
		return 0;
	if (!start->on_conflict_options) {
		start->on_conflict_options = portico_malloc(sizeof *start->on_conflict_options);
		temporal__api__workflow__v1__on_conflict_options__init(start->on_conflict_options);
	}
	start->on_conflict_options->attach_request_id = 1; /* Temporal requires it for callbacks */
	start->on_conflict_options->attach_completion_callbacks = 1;
	return 0;
}

/* ---- Signatures and links ---------------------------------------------------------------------- */

char *completion_signature(const completion_config *config, const char *message_id, int64_t timestamp_s,
                           const char *body, size_t length)
{
	char timestamp[24];
	snprintf(timestamp, sizeof timestamp, "%lld", (long long)timestamp_s);
	const portico_bytes parts[] = {
	        {message_id, strlen(message_id)}, {".", 1}, {timestamp, strlen(timestamp)}, {".", 1}, {body, length}};
	uint8_t mac[PORTICO_HMAC_MAX_BYTES];
	size_t mac_length = portico_hmac(PORTICO_HMAC_SHA256, config->secret, config->secret_length, parts,
	                                 sizeof parts / sizeof parts[0], mac);
	char *encoded = portico_base64_encode(mac, mac_length);
	char *signature = portico_sprintf("v1,%s", encoded);
	free(encoded);
	return signature;
}

/* Reads the %-escaped path segment at *cursor (up to '/', '?' or '>') and moves past it; NULL when
 * it is empty or malformed. */
static char *next_segment(const char **cursor)
{
	size_t length = strcspn(*cursor, "/?>");
	char *segment = length ? http_unescape(*cursor, length, 0) : NULL;
	*cursor += length;
	return segment;
}

static int expect(const char **cursor, const char *text)
{
	size_t length = strlen(text);
	if (strncmp(*cursor, text, length))
		return 0;
	*cursor += length;
	return 1;
}

char *completion_link_run_id(const char *link, const char *namespace_name, const char *workflow_id)
{
	const char *cursor = link ? strstr(link, "<temporal:///namespaces/") : NULL;
	if (!cursor)
		return NULL;
	cursor += strlen("<temporal:///namespaces/");
	char *linked_namespace = next_segment(&cursor), *linked_workflow = NULL, *run_id = NULL;
	if (linked_namespace && !strcmp(linked_namespace, namespace_name) && expect(&cursor, "/workflows/") &&
	    (linked_workflow = next_segment(&cursor)) && !strcmp(linked_workflow, workflow_id) && expect(&cursor, "/"))
		run_id = next_segment(&cursor);
	free(linked_namespace);
	free(linked_workflow);
	return run_id;
}

static int ipv4_public(const uint8_t a[4])
{
	return !(a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 || /* this, private, loop, multi */
	         (a[0] == 100 && (a[1] & 0xc0) == 64) || (a[0] == 169 && a[1] == 254) || /* shared, link-local */
	         (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) || /* private */
	         (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) ||               /* IETF, TEST-NET-1 */
	         (a[0] == 198 && (a[1] & 0xfe) == 18) || (a[0] == 198 && a[1] == 51 && a[2] == 100) || /* bench */
	         (a[0] == 203 && a[1] == 0 && a[2] == 113));                                           /* TEST-NET-3 */
}

int completion_address_public(const struct sockaddr *address)
{
	if (address->sa_family == AF_INET)
		return ipv4_public((const uint8_t *)&((const struct sockaddr_in *)address)->sin_addr);
	if (address->sa_family != AF_INET6)
		return 0;
	const uint8_t *a = ((const struct sockaddr_in6 *)address)->sin6_addr.s6_addr;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
	static const uint8_t zero[12] = {0};
	if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12) || !memcmp(a, zero, 12))
		return ipv4_public(a + 12); /* ::/96 holds :: and ::1 too, which come out as 0.0.0.x: refused */
	if (a[0] == 0x20 && a[1] == 0x02)   /* 6to4 carries an IPv4 address, which must be public too */
		return ipv4_public(a + 2);
	return !((a[0] & 0xfe) == 0xfc ||                                         /* unique local */
	         (a[0] == 0xfe && (a[1] & 0x80) == 0x80) ||                       /* link- and site-local */
	         a[0] == 0xff ||                                                  /* multicast */
	         (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)); /* documentation */
}
